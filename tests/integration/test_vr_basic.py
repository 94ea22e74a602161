#!/usr/bin/python3
"""VR f=1 on three local processes (./byzlab cluster init --protocol vr).

1. Normal case: concurrent clients put/get correctly, the CLI's operations give their
   exact outputs, replicas agree on last_executed and on the state digest at a
   checkpoint, no view change happens.
2. Crash of the primary under load (kill -9): a new view serves a client within
   2 x view_timeout_ms of the kill, no acknowledged write is lost (the load's own
   --verify, and every put a client saw acknowledged is read back), and the killed
   replica, restarted with `cluster up`, recovers from its LMDB log and its peers:
   it joins the new view and catches up with the others' last_executed and digest.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 9400
BENCH_PROCS = 3         # concurrent client processes
BENCH_CLIENTS = 4       # clients per process
BENCH_OPS = 300         # operations per process


expect_out = bz.expect_out


def start_benches(c, ops, first_id, timeout_ms=10000):
    return bz.start_benches(c, BENCH_PROCS, BENCH_CLIENTS, ops, first_id, timeout_ms)


finish_benches = bz.finish_benches


def single_operations(c):
    expect_out(c, ["put", "alpha", "one"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 0, "one\n")
    expect_out(c, ["cas", "alpha", "one", "two"], 0, "OK\n")
    expect_out(c, ["cas", "alpha", "one", "three"], 1, "", "CAS_FAILED current=two")
    expect_out(c, ["del", "alpha"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 1, "", "NOT_FOUND")
    expect_out(c, ["cas", "gamma", "", "new"], 0, "OK\n")
    expect_out(c, ["get", "gamma"], 0, "new\n", client_id=3)
    for v in ("1", "2", "3"):   # one client id, several invocations
        expect_out(c, ["put", "beta", v], 0, "OK\n", client_id=7)
    expect_out(c, ["get", "beta"], 0, "3\n", client_id=7)


def normal_case(c):
    st = c.status()
    for i, o in st.items():
        bz.check(not o.get("down"), "replica %d down right after up: %r" % (i, o))
        bz.check_eq(o["protocol"], "vr", "replica %d protocol" % i)
        bz.check_eq(o["view"], 0, "replica %d view" % i)
        bz.check_eq(o["primary"], 0, "replica %d primary" % i)
    bz.log("concurrent clients")
    finish_benches(start_benches(c, BENCH_OPS, first_id=10), BENCH_OPS)
    bz.log("single operations")
    single_operations(c)
    # Backups learn the last commit-number from the primary's idle COMMIT.
    st = bz.wait_until(c.agreement, 30, "all replicas to report the same last_executed")
    bz.log("last_executed %d everywhere" % st[0]["last_executed"])
    st = c.drive_past_checkpoint(client_id=50)
    bz.check(st[0]["state_digest"] != "0" * 64, "state digest is all zeros: %r" % st[0])
    bz.log("stable checkpoint %d, digest %s everywhere"
           % (st[0]["stable_checkpoint"], st[0]["state_digest"][:16]))
    for i, o in st.items():
        bz.check_eq(o["view"], 0, "replica %d view (no view change expected)" % i)
        bz.check_eq(o["rejected"]["old_view"], 0, "replica %d rejected.old_view" % i)


class Writer(threading.Thread):
    """Sequential puts of fresh keys; remembers the ones acknowledged (exit 0)."""

    def __init__(self, c, client_id):
        threading.Thread.__init__(self, daemon=True)
        self.c, self.client_id = c, client_id
        self.acked, self.failed = [], 0
        self.stop = threading.Event()

    def run(self):
        k = 0
        while not self.stop.is_set():
            key, val = "ack-%d" % k, "val-%d" % k
            r = self.c.client("put", key, val, client_id=self.client_id, timeout_ms=10000,
                              quiet=True)
            if r.rc == 0 and r.out == "OK\n":
                self.acked.append((key, val))
            else:
                self.failed += 1
            k += 1


def crash_primary(c):
    timeout_ms = int(c.config()["cluster"].get("view_timeout_ms", "1000").split(";")[0])
    st = c.status()
    primary = st[0]["primary"]
    old_view = st[0]["view"]
    pids = {i: c.pid(i) for i in range(c.n)}

    bz.log("load: %d bench processes and a writer; then kill -9 the primary (replica %d)"
           % (BENCH_PROCS, primary))
    benches = start_benches(c, 2 * BENCH_OPS, first_id=100, timeout_ms=20000)
    writer = Writer(c, client_id=90)
    writer.start()
    bz.wait_until(lambda: len(writer.acked) >= 10, 30, "the writer's first puts")
    t_kill = time.monotonic()
    c.kill(primary)

    # A client served by the new view: its first send goes to the dead primary, the
    # retransmission to everyone reaches the new primary.
    probe_ok = None
    for k in range(20):
        r = c.client("put", "probe-%d" % k, "p", client_id=91, timeout_ms=10000)
        if r.rc == 0:
            probe_ok = time.monotonic()
            break
    bz.check(probe_ok is not None, "no put succeeded after the primary's crash")
    served_ms = (probe_ok - t_kill) * 1000
    bz.log("a new view served a client %.0f ms after the kill (view_timeout_ms %d)"
           % (served_ms, timeout_ms))
    bz.check(served_ms <= 2 * timeout_ms,
             "the new view served only after %.0f ms > 2 x view_timeout_ms" % served_ms)
    live = [i for i in range(c.n) if i != primary]
    st = c.status()
    for i in live:
        bz.check(st[i]["view"] > old_view and not st[i]["view_changing"],
                 "replica %d should be in a new view: %r" % (i, st[i]))
    new_view = st[live[0]]["view"]
    bz.check_eq(st[live[1]]["view"], new_view, "both survivors' view")

    time.sleep(1.0)     # some load in the new view
    writer.stop.set()
    writer.join(60)
    bz.check(not writer.is_alive(), "the writer did not stop")
    finish_benches(benches, 2 * BENCH_OPS)
    bz.log("writer: %d puts acknowledged, %d not" % (len(writer.acked), writer.failed))

    bz.log("no acknowledged write lost")
    for key, val in writer.acked:
        r = c.client("get", key, client_id=92, quiet=True)
        if r.rc != 0 or r.out != val + "\n":
            raise bz.Failure("acknowledged put %s=%s lost\n%s" % (key, val, r.describe()))
    st = bz.wait_until(lambda: c.agreement(live), 30, "survivors %r to agree" % live)

    bz.log("restart replica %d: it recovers from its log and its peers" % primary)
    r = c.up()
    bz.check("%d" % primary in r.out, "up should start replica %d:\n%s" % (primary, r.describe()))
    bz.check(c.pid(primary) != pids[primary], "replica %d was not restarted" % primary)
    for i in live:
        bz.check_eq(c.pid(i), pids[i], "replica %d must not be restarted" % i)

    def recovered():
        s = c.agreement()
        if s is None or s[primary]["view"] != new_view or s[primary]["view_changing"]:
            return None
        return s
    st = bz.wait_until(recovered, 30, "replica %d to join view %d and catch up"
                       % (primary, new_view))
    bz.log("replica %d: view %d, last_executed %d like the others"
           % (primary, st[primary]["view"], st[primary]["last_executed"]))
    fenced = sum(st[i]["rejected"]["old_view"] for i in live)
    bz.log("messages of view %d rejected by the survivors: %d" % (old_view, fenced))

    # It serves as a backup of the new view: the state digests agree at a checkpoint
    # reached after the restart.
    before = st[primary]["stable_checkpoint"]
    ci = c.checkpoint_interval()
    st = c.drive_past_checkpoint(client_id=60)
    bz.check(st[primary]["stable_checkpoint"] > before or before >= ci,
             "replica %d took no checkpoint after recovering: %r" % (primary, st[primary]))
    bz.log("stable checkpoint %d, digest %s everywhere"
           % (st[0]["stable_checkpoint"], st[0]["state_digest"][:16]))
    expect_out(c, ["get", "gamma"], 0, "new\n", client_id=8)
    finish_benches(start_benches(c, 100, first_id=64), 100)
    st = bz.wait_until(c.agreement, 30, "all three to agree after more load")
    for i in range(c.n):
        bz.check_eq(st[i]["view"], new_view, "replica %d view" % i)


def test_vr_basic():
    with bz.Cluster("vr-basic", protocol="vr", f=1, base_port=BASE_PORT) as c:
        c.init()
        c.up()
        normal_case(c)
        crash_primary(c)
        c.down()
        bz.check_eq(c.replica_pids(), [], "replica processes of this cluster after down")


if __name__ == "__main__":
    bz.run_tests([test_vr_basic])
