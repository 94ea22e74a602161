#!/usr/bin/python3
"""PBFT f=1 on four local processes: concurrent clients, the CLI's operations with
their exact outputs and exit codes, replicas agreeing on what they executed (and on
the state digest at a checkpoint), and `down` leaving nothing behind."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 7000
BENCH_PROCS = 4         # concurrent client processes
BENCH_CLIENTS = 4       # clients per process
BENCH_OPS = 300         # operations per process: 4 x 300 = 1200 puts+gets


expect_out = bz.expect_out


def concurrent_clients(c):
    """4 processes x 4 closed-loop clients, disjoint client ids, put/get verified."""
    bz.finish_benches(bz.start_benches(c, BENCH_PROCS, BENCH_CLIENTS, BENCH_OPS, first_id=10),
                      BENCH_OPS)


def single_operations(c):
    expect_out(c, ["put", "alpha", "one"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 0, "one\n")
    expect_out(c, ["cas", "alpha", "one", "two"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 0, "two\n")
    expect_out(c, ["cas", "alpha", "one", "three"], 1, "", "CAS_FAILED current=two")
    expect_out(c, ["get", "alpha"], 0, "two\n")
    expect_out(c, ["del", "alpha"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 1, "", "NOT_FOUND")
    expect_out(c, ["del", "alpha"], 0, "OK\n")          # absent: still OK
    expect_out(c, ["cas", "gamma", "", "new"], 0, "OK\n")  # absent counts as empty
    expect_out(c, ["get", "gamma"], 0, "new\n")
    expect_out(c, ["put", "with space", "a b  c"], 0, "OK\n")
    expect_out(c, ["get", "with space"], 0, "a b  c\n")
    # Another client sees the same state.
    expect_out(c, ["get", "gamma"], 0, "new\n", client_id=3)


def same_client_twice(c):
    """Request timestamps keep increasing across invocations with one client id."""
    for v in ("1", "2", "3"):
        expect_out(c, ["put", "beta", v], 0, "OK\n", client_id=7)
    expect_out(c, ["get", "beta"], 0, "3\n", client_id=7)
    expect_out(c, ["get", "beta"], 0, "3\n", client_id=7)


def test_pbft_basic():
    with bz.Cluster("pbft-basic", protocol="pbft", f=1, base_port=BASE_PORT) as c:
        c.init()
        c.up()
        pids = {i: c.pid(i) for i in range(c.n)}
        st = c.status()
        for i, o in st.items():
            bz.check(not o.get("down"), "replica %d down right after up: %r" % (i, o))
            bz.check_eq(o["protocol"], "pbft", "replica %d protocol" % i)
            bz.check_eq(o["view"], 0, "replica %d view" % i)
            if "pid" in o:
                bz.check_eq(o["pid"], pids[i], "replica %d pid (status vs pid file)" % i)
        # `up` again is a no-op: nothing restarted.
        c.up()
        bz.check_eq({i: c.pid(i) for i in range(c.n)}, pids, "pids after a second up")

        bz.log("concurrent clients")
        concurrent_clients(c)
        bz.log("single operations")
        single_operations(c)
        same_client_twice(c)

        bz.log("agreement on last_executed")
        st = bz.wait_until(c.agreement, 30, "all replicas to report the same last_executed")
        bz.log("last_executed %d everywhere" % st[0]["last_executed"])
        bz.log("agreement on a checkpoint's state digest")
        st = c.drive_past_checkpoint(client_id=50)
        bz.check(st[0]["state_digest"] != "0" * 64, "state digest is all zeros: %r" % st[0])
        bz.log("stable checkpoint %d, digest %s everywhere"
               % (st[0]["stable_checkpoint"], st[0]["state_digest"][:16]))
        for i, o in st.items():
            bz.check_eq(o["view"], 0, "replica %d view (no view change expected)" % i)
            for k, v in o["rejected"].items():
                if k != "out_of_window" and v:
                    bz.log("note: replica %d rejected.%s = %d" % (i, k, v))
        # A client still gets the right answer after all that.
        expect_out(c, ["get", "gamma"], 0, "new\n", client_id=8)

        c.down()
        left = [p for p in pids.values() if bz.is_alive(p)]
        bz.check(not left, "after down these replica pids still run: %r" % left)
        bz.check(not any(f.endswith(".pid") for f in os.listdir(os.path.join(c.dir, "run"))),
                 "pid files left after down")
        bz.check_eq(c.replica_pids(), [], "replica processes of this cluster after down")
        # down twice is fine
        c.down()


if __name__ == "__main__":
    bz.run_tests([test_pbft_basic])
