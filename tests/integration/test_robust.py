#!/usr/bin/python3
"""Robust mode on real processes (issue 16 items 1-2: Aardvark's throughput monitor and
PRE-PREPARE heartbeat, and the per-request ordering deadline with clients sending to
every replica, replica/core/pbft_monitor.h).

PBFT f=1, auth = mac, robust = on, replica 0 (the primary of view 0) started with
--byz slow-primary:900 (each PRE-PREPARE held just under the 1 s view timeout).  The
verdict is by counters: the correct backups voted the primary out (status
robust.vc_heartbeat + robust.vc_monitor), a view with a correct primary took over, and
afterwards clients complete several times more operations in a few seconds than any
run under a primary that holds each PRE-PREPARE 900 ms could (each request then takes
900 ms at least, so `clients x seconds / 0.9` is an upper bound).  The same cluster
with robust = off is measured too and printed (the collapse), with its counters.

A primary slowed to 100 ms (test_robust_replaces_100ms_primary) holds each
PRE-PREPARE less than the clients' 300 ms retransmission timeout: before clients sent to
every replica, the backups never saw a pending request and it kept 91% of the
throughput away.  The verdict is again by counters: the backups' ordering deadline
voted (robust.vc_request), a correct primary took over, and afterwards the clients
complete more than any run under a 100 ms primary could (a closed-loop client
waits 100 ms per request at least: CLIENTS x seconds x 10), or - on a machine too
loaded for that - they make progress while the slow replica holds no PRE-PREPARE
(status "lies" unchanged: it orders none of their requests).

Ports: clusters at 15800 and 15850, so replica I listens on P+I, P+100+I and
P+200+I (bzcluster.py): 15800-15803, 15900-15903, 16000-16003 and the same +50; the
100 ms cluster at 21400 (21400-21403, 21500-21503, 21600-21603).
"""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

DELAY_MS = 900
CLIENTS = 16
SECONDS = 5


def new_cluster(name, base, robust):
    c = bz.Cluster(name, f=1, base_port=base, auth="mac",
                   settings={"robust": robust, "view_timeout_ms": 1000})
    c.init()
    return c


def bench(c, client_id, seconds):
    r = c.client("bench", "--clients", CLIENTS, "--seconds", seconds, "--verify", "--quiet",
                 client_id=client_id, timeout_ms=60000, timeout=seconds + 120)
    bz.check(r.rc == 0, "bench failed\n" + r.describe())
    lines = [ln for ln in r.out.splitlines() if ln.startswith("{")]
    bz.check(lines, "bench printed no JSON\n" + r.describe())
    res = json.loads(lines[-1])
    bz.check(res["errors"] == 0 and res["mismatches"] == 0, "bench errors\n" + r.describe())
    return res


def robust_votes(st, ids):
    return sum(st[i]["robust"]["vc_heartbeat"] + st[i]["robust"]["vc_monitor"]
               + st[i]["robust"]["vc_request"] for i in ids)


def slow_bound(seconds, delay_ms=DELAY_MS):
    """Most operations CLIENTS closed-loop clients can complete in `seconds` while every
    request waits for a PRE-PREPARE held delay_ms."""
    return int(CLIENTS * seconds * 1000 / delay_ms) + CLIENTS


def test_robust_replaces_slow_primary():
    with new_cluster("robust-on", 15800, "on") as c:
        c.up(byz={0: "slow-primary:%d" % DELAY_MS})
        first = bench(c, 10, SECONDS)  # the attack, then the view change
        correct = [1, 2, 3]

        def replaced():
            st = c.status()
            if any(st[i].get("down") for i in correct):
                return None
            ok = all(st[i]["view"] >= 1 and st[i]["primary"] != 0 for i in correct)
            return st if ok and robust_votes(st, correct) >= 2 else None

        st = bz.wait_until(replaced, 30, "a view change that replaces the slow primary")
        for i in correct:
            bz.check(st[i]["robust"]["enabled"] is True, "robust.enabled at %d" % i)
        before = max(st[i]["requests_executed"] for i in correct)
        after_res = bench(c, 40, SECONDS)
        st2 = c.status()
        after = max(st2[i]["requests_executed"] for i in correct)
        bound = slow_bound(SECONDS)
        bz.log("MEASURED: robust=on, slow-primary:%d: first %d s %.0f ops/s, then %.0f ops/s "
               "(%d requests executed in %d s; a slow primary allows at most %d); views %s; "
               "votes heartbeat/monitor %s"
               % (DELAY_MS, SECONDS, first["throughput"], after_res["throughput"],
                  after - before, SECONDS, bound,
                  [st2[i]["view"] for i in correct],
                  ["%d/%d" % (st2[i]["robust"]["vc_heartbeat"], st2[i]["robust"]["vc_monitor"])
                   for i in correct]))
        bz.check(after - before >= 4 * bound,
                 "after the view change: %d requests in %d s, want >= %d"
                 % (after - before, SECONDS, 4 * bound))
        bz.check(st2[1]["primary"] != 0, "the slow replica is primary again: %r" % st2[1])


def test_robust_replaces_100ms_primary():
    """slow-primary:100, under the clients' retransmission timeout: only the backups'
    per-request ordering deadline (clients send to all) can see it."""
    with new_cluster("robust-100", 21400, "on") as c:
        c.up(byz={0: "slow-primary:100"})
        correct = [1, 2, 3]
        first = bench(c, 10, 3)

        def replaced():
            st = c.status()
            if any(st[i].get("down") for i in correct):
                return None
            ok = all(st[i]["view"] >= 1 and st[i]["primary"] != 0 for i in correct)
            return st if ok else None

        st = bz.wait_until(replaced, 30, "a view change that replaces the 100 ms primary")
        votes = sum(st[i]["robust"]["vc_request"] for i in correct)
        bz.check(votes >= 2, "ordering-deadline votes %d, want >= 2 (f+1): %r"
                 % (votes, [st[i]["robust"] for i in correct]))
        before = max(st[i]["requests_executed"] for i in correct)
        held0 = st[0].get("lies", 0)
        after_res = bench(c, 40, SECONDS)
        st2 = c.status()
        after = max(st2[i]["requests_executed"] for i in correct)
        held = st2[0].get("lies", 0) - held0  # PRE-PREPAREs the slow replica held since
        bound = slow_bound(SECONDS, 100)
        bz.log("MEASURED: robust=on, slow-primary:100: first 3 s %.0f ops/s, then %.0f ops/s "
               "(%d requests executed in %d s; a 100 ms primary allows at most %d); views %s; "
               "votes request/heartbeat/monitor %s; forwarded %s; order p50/p99 ms %s"
               % (first["throughput"], after_res["throughput"], after - before, SECONDS, bound,
                  [st2[i]["view"] for i in correct],
                  ["%d/%d/%d" % (st2[i]["robust"]["vc_request"], st2[i]["robust"]["vc_heartbeat"],
                                 st2[i]["robust"]["vc_monitor"]) for i in correct],
                  [st2[i]["robust"]["forwarded"] for i in correct],
                  ["%d/%d" % (st2[i]["robust"]["order_p50_ms"], st2[i]["robust"]["order_p99_ms"])
                   for i in correct]))
        # Recovered, by counters: either more requests than a 100 ms primary allows,
        # or (a machine too loaded for that) progress while the slow replica held no
        # PRE-PREPARE at all: it ordered none of them.
        bz.log("MEASURED: PRE-PREPAREs held by the slow replica in the last %d s: %d"
               % (SECONDS, held))
        bz.check(after - before > bound or (held == 0 and after - before >= CLIENTS),
                 "after the view change: %d requests in %d s (want > %d, or >= %d with "
                 "none held by the slow replica: %d held)"
                 % (after - before, SECONDS, bound, CLIENTS, held))


def test_plain_collapses():
    """robust = off: the same attack, measured (printed) and checked by counters only:
    nobody votes by monitor or heartbeat, and the cluster stays under the slow bound."""
    with new_cluster("robust-off", 15850, "off") as c:
        c.up(byz={0: "slow-primary:%d" % DELAY_MS})
        st0 = c.status()
        res = bench(c, 10, SECONDS)
        st = c.status()
        done = max(st[i]["requests_executed"] for i in (1, 2, 3)) - \
            max(st0[i]["requests_executed"] for i in (1, 2, 3))
        bz.log("MEASURED: robust=off, slow-primary:%d: %.1f ops/s, %d requests in %d s, "
               "views %s" % (DELAY_MS, res["throughput"], done, SECONDS,
                             [st[i]["view"] for i in (1, 2, 3)]))
        for i in (1, 2, 3):
            bz.check(st[i]["robust"]["enabled"] is False, "robust.enabled at %d" % i)
        bz.check(robust_votes(st, (1, 2, 3)) == 0, "votes with robust off")
        if all(st[i]["view"] == 0 for i in (1, 2, 3)):
            bz.check(done <= slow_bound(SECONDS) + CLIENTS,
                     "%d requests in %d s under a 900 ms primary?" % (done, SECONDS))


if __name__ == "__main__":
    bz.run_tests([test_robust_replaces_slow_primary, test_robust_replaces_100ms_primary,
                  test_plain_collapses])
