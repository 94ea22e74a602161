#!/usr/bin/python3
"""PBFT f=1 with one backup killed (-9) and restarted: the other three keep serving,
the restarted replica answers status again with its log restored from LMDB (its
last_executed is not reset), and the cluster keeps serving."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 7300
VICTIM = 3              # a backup: the primary of view 0 is replica 0


def put_get(c, tag, count=10, client_id=20):
    for k in range(count):
        c.client("put", "%s-%d" % (tag, k), "v%d" % k, client_id=client_id).expect(0)
    for k in range(count):
        r = c.client("get", "%s-%d" % (tag, k), client_id=client_id + 1).expect(0)
        bz.check_eq(r.out, "v%d\n" % k, "get %s-%d" % (tag, k))


def test_pbft_crash():
    with bz.Cluster("pbft-crash", protocol="pbft", f=1, base_port=BASE_PORT) as c:
        c.init()
        c.up()
        pids = {i: c.pid(i) for i in range(c.n)}
        c.bench(2, 400, client_id=10, verify=True)
        put_get(c, "before")
        # Past a checkpoint, so the victim has a stable checkpoint as well as a log.
        st = c.drive_past_checkpoint(client_id=12)
        before = st[VICTIM]
        bz.log("before the crash: replica %d last_executed %d, stable_checkpoint %d"
               % (VICTIM, before["last_executed"], before["stable_checkpoint"]))
        bz.check(before["last_executed"] > 0, "nothing executed before the crash")

        c.kill(VICTIM)

        def victim_down():
            s = c.status(timeout_ms=500)
            return s if s[VICTIM].get("down") else None
        st = bz.wait_until(victim_down, 10, "status to report replica %d down" % VICTIM)
        for i in range(c.n):
            if i != VICTIM:
                bz.check(not st[i].get("down"), "replica %d should still answer: %r" % (i, st[i]))

        bz.log("three replicas keep serving")
        put_get(c, "during")
        c.bench(4, 200, client_id=30, verify=True)
        live = [i for i in range(c.n) if i != VICTIM]
        st = bz.wait_until(lambda: c.agreement(live), 30, "replicas %r to agree" % live)
        bz.check(st[0]["last_executed"] > before["last_executed"],
                 "live replicas did not advance: %r" % st)

        bz.log("restart replica %d with cluster up" % VICTIM)
        r = c.up()
        bz.check("%d" % VICTIM in r.out, "up should say it started replica %d:\n%s"
                 % (VICTIM, r.describe()))
        new_pid = c.pid(VICTIM)
        bz.check(new_pid != pids[VICTIM], "replica %d was not restarted" % VICTIM)
        for i in live:
            bz.check_eq(c.pid(i), pids[i], "replica %d must not be restarted" % i)
        after = c.status()[VICTIM]
        bz.check(not after.get("down"), "restarted replica does not answer: %r" % after)
        bz.log("after restart: replica %d last_executed %d, stable_checkpoint %d"
               % (VICTIM, after["last_executed"], after["stable_checkpoint"]))
        bz.check(after["last_executed"] > 0,
                 "restarted replica's last_executed was reset to 0 (not restored from LMDB)")
        bz.check(after["last_executed"] >= before["stable_checkpoint"],
                 "restarted replica went back before its stable checkpoint: before %r, after %r"
                 % (before, after))
        if after["last_executed"] < before["last_executed"]:
            bz.log("note: restored last_executed %d < %d before the crash"
                   % (after["last_executed"], before["last_executed"]))

        bz.log("the cluster keeps serving after the restart")
        put_get(c, "after")
        c.bench(4, 200, client_id=40, verify=True)
        r = c.client("get", "before-3", client_id=60).expect(0)
        bz.check_eq(r.out, "v3\n", "a key written before the crash")
        st = c.status()
        bz.check(all(not o.get("down") for o in st.values()), "all four answer: %r" % st)


if __name__ == "__main__":
    bz.run_tests([test_pbft_crash])
