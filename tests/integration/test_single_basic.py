#!/usr/bin/python3
"""The unreplicated baseline (protocol = single) on the same stack: concurrent verified
clients, the CLI operations with exact outputs, SIGKILL and restart with its state
reloaded from LMDB, and random bytes at its sockets."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402
import test_pbft_basic as pb  # noqa: E402  (the same client checks as PBFT's)

BASE_PORT = 9100
JUNK = os.path.join(bz.TESTBIN, "junk")


def test_single_basic():
    with bz.Cluster("single-basic", protocol="single", f=0, base_port=BASE_PORT) as c:
        c.init()
        c.up()
        st = c.status()
        bz.check_eq(st[0]["protocol"], "single", "protocol")
        procs = [c.client_popen("bench", "--clients", 2, "--ops", 300, "--verify",
                                client_id=10 + 2 * k) for k in range(4)]
        for argv, p in procs:
            out, err = p.communicate(timeout=120)
            bz.check_bench(bz.Result(argv, p.returncode, out, err, 0), 300, True)
        pb.single_operations(c)
        pb.same_client_twice(c)
        before = c.status()[0]
        c.kill(0)
        c.up()
        after = c.status()[0]
        bz.log("restart: last_executed %d -> %d" % (before["last_executed"],
                                                    after["last_executed"]))
        bz.check_eq(after["last_executed"], before["last_executed"], "last_executed")
        bz.check_eq(after["state_digest"], before["state_digest"], "state_digest")
        r = c.client("get", "gamma", expect=0)
        bz.check_eq(r.out, "new\n", "get gamma after the restart")
        bad = st[0]["rejected"]["bad_format"]
        addrs = c.addresses(0)
        for role in ("peer", "client", "admin"):
            bz.run([JUNK, role, addrs[role], 50, 7], expect=0, timeout=60)
        bz.wait_until(lambda: c.status()[0]["rejected"]["bad_format"] > bad, 30,
                      "junk to be counted in rejected.bad_format")
        c.client("put", "after-junk", "1", expect=0)


if __name__ == "__main__":
    bz.run_tests([test_single_basic])
