#!/usr/bin/python3
"""HotStuff f=1 on four local processes (./byzlab cluster init --protocol hotstuff).

1. Normal case, rotating leader (auth = mac; votes signed): concurrent clients put/get
   correctly, the CLI's operations give their exact outputs, replicas agree on
   last_executed and the state digest.
2. Leader crash, hotstuff_leader = stable: kill -9 the leader under a writer; a later
   view's leader serves a put, no acknowledged write is lost, the survivors agree.
Ports 24000-24099 (issue 19's range).
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 24000


expect_out = bz.expect_out


def normal_case(c):
    st = c.status()
    for i, o in st.items():
        bz.check(not o.get("down"), "replica %d down right after up: %r" % (i, o))
        bz.check_eq(o["protocol"], "hotstuff", "replica %d protocol" % i)
    expect_out(c, ["put", "alpha", "one"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 0, "one\n")
    expect_out(c, ["cas", "alpha", "one", "two"], 0, "OK\n")
    expect_out(c, ["cas", "alpha", "one", "three"], 1, "", "CAS_FAILED current=two")
    expect_out(c, ["del", "alpha"], 0, "OK\n")
    expect_out(c, ["get", "alpha"], 1, "", "NOT_FOUND")
    for v in ("1", "2", "3"):
        expect_out(c, ["put", "beta", v], 0, "OK\n", client_id=7)
    expect_out(c, ["get", "beta"], 0, "3\n", client_id=7)
    r = c.client("bench", "--clients", 4, "--ops", 200, "--verify", client_id=20,
                 timeout_ms=20000)
    bz.check_bench(r, 200, verify=True)
    st = bz.wait_until(c.agreement, 30, "all replicas to report the same last_executed")
    bz.log("last_executed %d everywhere, views %s"
           % (st[0]["last_executed"], [o["view"] for o in st.values()]))


class Writer(threading.Thread):
    def __init__(self, c, client_id):
        super().__init__(daemon=True)
        self.c, self.client_id = c, client_id
        self.acked, self.failed, self.stop = [], 0, False

    def run(self):
        k = 0
        while not self.stop:
            key, val = "w%d" % k, "v%d" % k
            r = self.c.client("put", key, val, client_id=self.client_id, timeout_ms=10000,
                              quiet=True)
            if r.rc == 0:
                self.acked.append((key, val))
            else:
                self.failed += 1
            k += 1


def leader_crash(c):
    leader = c.status()[0]["primary"]
    writer = Writer(c, 50)
    writer.start()
    bz.wait_until(lambda: len(writer.acked) >= 10, 30, "the writer's first puts")
    bz.log("kill -9 the leader, replica %d" % leader)
    c.kill(leader)
    killed = time.monotonic()
    live = [i for i in range(c.n) if i != leader]

    def served():
        r = c.client("put", "probe", "p", client_id=91, timeout_ms=10000, quiet=True)
        return r if r.rc == 0 else None
    bz.wait_until(served, 60, "a put served after the leader's crash")
    bz.log("a put served %.0f ms after the kill" % ((time.monotonic() - killed) * 1000))
    writer.stop = True
    writer.join(60)
    bz.log("writer: %d puts acknowledged, %d not" % (len(writer.acked), writer.failed))
    for key, val in writer.acked:
        r = c.client("get", key, client_id=92, quiet=True)
        if r.rc != 0 or r.out != val + "\n":
            raise bz.Failure("acknowledged put %s=%s lost\n%s" % (key, val, r.describe()))
    st = bz.wait_until(lambda: c.agreement(live), 30, "survivors %r to agree" % live)
    bz.check(st[live[0]]["primary"] != leader, "the dead leader still leads: %r" % st[live[0]])


def test_hotstuff_basic():
    with bz.Cluster("hotstuff-basic", protocol="hotstuff", f=1, base_port=BASE_PORT,
                    auth="mac") as c:
        c.init()
        c.up()
        normal_case(c)
        c.down()
    with bz.Cluster("hotstuff-stable", protocol="hotstuff", f=1, base_port=BASE_PORT + 50,
                    auth="mac", settings={"hotstuff_leader": "stable",
                                          "view_timeout_ms": 500}) as c:
        c.init()
        c.up()
        leader_crash(c)
        c.down()
        bz.check_eq(c.replica_pids(), [], "replica processes of this cluster after down")


if __name__ == "__main__":
    bz.run_tests([test_hotstuff_basic])
