#!/usr/bin/env python3
"""PBFT's optimizations on real processes (issue 7): read-only requests (OSDI'99 §5.1.3)
and digest replies (§5.1.1).

With read_only = on a get goes to every replica, is answered at once without
agreement (status field requests_readonly), and needs 2f+1 matching replies, so a
wrong-reply liar cannot make a client accept its value.  The retry of a read-only get
as an ordinary request is covered by tests/unit/test_client.c (test_quorum_hopeless)
and by the simulator.

With digest_replies = on only the primary sends full results; a lying primary's
results match no digest, so clients retransmit and take the full replies every
replica then sends from its client table.

group_commit, coalesce and rx_aio = off (kept only to measure what each is worth,
docs/EXPERIMENTS.md) must still give a correct cluster: a verified workload with all
three off, every message its own nng message (frames_sent == msgs_sent).
"""
import bzcluster as bz

BASE_PORT = 6100  # clusters at 6100, 6400, 6700, and 6150 (+50)


def readonly_counts(c):
    st = c.status()
    return [st[i].get("requests_readonly", 0) for i in range(c.n)]


def test_gets_skip_agreement():
    with bz.Cluster("readonly", f=1, base_port=BASE_PORT + 300, auth="mac") as c:
        c.init()
        c.set_cluster_keys(read_only="on", sync="none")
        c.up()
        c.client("put", "k", "v1", client_id=1).expect(0)
        before = c.status()[0]["last_executed"]
        r = c.client("get", "k", client_id=2)
        r.expect(0)
        bz.check(r.out.strip() == "v1", "read-only get returned %r" % r.out)
        # 2f+1 replicas answered it directly, none twice.  Not necessarily all n: the
        # CLI sends to every replica at once, a connection that is still being dialed
        # drops its copy, and the client leaves after 2f+1 matching replies.
        counts = readonly_counts(c)
        bz.check(sum(counts) >= 2 * c.f + 1 and max(counts) == 1,
                 "2f+1 replicas answered it directly, once each: %s" % counts)
        bz.check(c.status()[0]["last_executed"] == before,
                 "a read-only get took no sequence number")
        # a verified workload (each get must see the client's own last put)
        c.bench(4, 400, client_id=10, verify=True)
        bz.check(min(readonly_counts(c)) >= 150, "bench gets went read-only: %s"
                 % readonly_counts(c))


def test_liar_cannot_forge_a_read():
    with bz.Cluster("readonly-liar", f=1, base_port=BASE_PORT + 600, auth="mac") as c:
        c.init()
        c.set_cluster_keys(read_only="on", sync="none")
        c.up(byz={3: "wrong-reply"})
        c.client("put", "k", "v2", client_id=1).expect(0)
        r = c.client("get", "k", client_id=2)
        r.expect(0)
        bz.check(r.out.strip() == "v2", "get returned %r" % r.out)
        # every get of the verified workload must see the client's own last put
        c.bench(4, 400, client_id=10, verify=True)
        ro = readonly_counts(c)
        bz.check(min(ro[:3]) >= 150, "bench gets went read-only: %s" % ro)


def test_digest_replies_with_a_lying_primary():
    with bz.Cluster("digest-replies", f=1, base_port=BASE_PORT, auth="mac") as c:
        c.init()
        c.set_cluster_keys(digest_replies="on", sync="none")
        c.up()
        c.bench(4, 400, client_id=10, verify=True)
        c.kill(0)
        c.up(byz={0: "wrong-reply"})
        r = c.client("put", "k", "v3", client_id=1, timeout_ms=20000)
        r.expect(0)
        r = c.client("get", "k", client_id=2, timeout_ms=20000)
        r.expect(0)
        bz.check(r.out.strip() == "v3", "get returned %r" % r.out)


def test_measurement_switches_off():
    with bz.Cluster("switches-off", f=1, base_port=BASE_PORT + 50, auth="mac") as c:
        c.init()
        c.set_cluster_keys(group_commit="off", coalesce="off", rx_aio="off", sync="none")
        c.up()
        for i in range(c.n):
            bz.check("group_commit off, coalesce off, rx_aio off" in c.logs(i),
                     "replica %d logs that the optimizations are off" % i)
        c.bench(4, 400, client_id=10, verify=True)
        st = c.status()
        for i in range(c.n):
            bz.check(st[i]["msgs_sent"] > 0 and st[i]["frames_sent"] == st[i]["msgs_sent"],
                     "replica %d sent no bundle: msgs_sent %d, frames_sent %d"
                     % (i, st[i]["msgs_sent"], st[i]["frames_sent"]))


if __name__ == "__main__":
    bz.run_tests([test_gets_skip_agreement, test_liar_cannot_forge_a_read,
                  test_digest_replies_with_a_lying_primary, test_measurement_switches_off])
