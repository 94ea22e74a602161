#!/usr/bin/python3
"""Resource bounds under flood (issue 9): one replica is flooded with maximum-size
messages over many connections - on its peer port, 8 MiB NEW-VIEWs that decode (about
220,000 nested messages each) and then fail signature verification, the most work a
keyless liar can buy per byte; on its client port, the largest junk it accepts - while
a correct client keeps working.  The replica's resident memory (VmRSS, sampled, and its
peak VmHWM from /proc/PID/status) must stay under RSS_BOUND_MIB.

The bound comes from replica/net.c: a listener pins at most (queue + connections) x
message limit (a connection may briefly hold two): peer (8 + n+2) x 8 MiB, 112-160 MiB
for n = 4; client (16 + 64) x 1 MiB, 80-144 MiB; admin 2 MiB; about 300 MiB of
live messages at worst.  glibc keeps freed blocks in nng's per-thread arenas, so RSS
runs above the live bytes: measured peak 312 MiB (2 cores, 128 + 128 connections,
20 s).  RSS_BOUND_MIB = 512 leaves room for that.  Before the listener limits, 256
connections took a replica to 2.4 GB in 20 s, and it grows with every connection
(8 MiB each), so this test fails on the old code."""

import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 9700
FLOOD = os.path.join(bz.TESTBIN, "flood")
TARGET = 0              # the primary of view 0: the replica whose slowness hurts most
CONNS = 128             # per port
FLOOD_S = 20
RSS_BOUND_MIB = 512     # net.c's ~300 MiB of live messages, plus malloc's retention
MIN_OPS = 10            # completed by the correct client while the flood lasts


def proc_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise bz.Failure("no %s in /proc/%d/status" % (key, pid))


class Sampler(threading.Thread):
    """Samples a process's VmRSS every 100 ms until stopped; keeps the peak."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.samples = pid, 0, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak_kib = max(self.peak_kib, proc_kib(self.pid, "VmRSS"))
                self.samples += 1
            except (OSError, bz.Failure):
                return
            self.stop.wait(0.1)


def start_flood(kind, addr, what):
    argv = [FLOOD, kind, addr, CONNS, FLOOD_S, what]
    bz.log("$ %s &" % bz.cmdstr(argv))
    return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def client_loop(c, deadline, results):
    """Sequential puts and gets by a correct client until deadline; counts them."""
    i = 0
    while time.monotonic() < deadline:
        r = c.client("put", "flood-%d" % i, "v%d" % i, client_id=3, timeout_ms=10000,
                     timeout=60, quiet=True)
        if r.rc != 0:
            results["errors"].append(r.describe())
            return
        i += 1
    results["ops"] = i


def test_flood():
    bz.require_programs(FLOOD)
    with bz.Cluster("flood", protocol="pbft", f=1, base_port=BASE_PORT) as c:
        c.init()
        c.up()
        c.client("put", "before", "x").expect(0)
        pid = c.pid(TARGET)
        addrs = c.addresses(TARGET)
        base_kib = proc_kib(pid, "VmRSS")
        before = c.status()[TARGET]["rejected"]
        bz.log("replica %d (pid %d): VmRSS %d MiB before the flood"
               % (TARGET, pid, base_kib // 1024))

        sampler = Sampler(pid)
        sampler.start()
        floods = [start_flood("peer", addrs["peer"], "heavy"),
                  start_flood("client", addrs["client"], "junk")]
        results = {"ops": 0, "errors": []}
        worker = threading.Thread(target=client_loop,
                                  args=(c, time.monotonic() + FLOOD_S - 2, results))
        worker.start()
        worker.join(FLOOD_S + 90)
        for p in floods:
            out, err = p.communicate(timeout=60)
            bz.log(out.strip() or err.strip())
            bz.check(p.returncode == 0, "flood exited %s: %s" % (p.returncode, err))
        sampler.stop.set()
        sampler.join()

        bz.check(bz.is_alive(pid), "replica %d (pid %d) died under the flood" % (TARGET, pid))
        hwm_kib = proc_kib(pid, "VmHWM")
        peak_mib = max(sampler.peak_kib, hwm_kib) / 1024.0
        bz.log("replica %d: peak RSS %.0f MiB (VmHWM %.0f MiB, %d samples), bound %d MiB"
               % (TARGET, peak_mib, hwm_kib / 1024.0, sampler.samples, RSS_BOUND_MIB))
        bz.check(peak_mib < RSS_BOUND_MIB, "replica %d's RSS reached %.0f MiB (bound %d MiB)"
                 % (TARGET, peak_mib, RSS_BOUND_MIB))

        bz.check(not worker.is_alive(), "the correct client hung under the flood")
        bz.check(not results["errors"], "the correct client failed under the flood:\n%s"
                 % "\n".join(results["errors"]))
        bz.log("correct client: %d puts completed during the %d s flood"
               % (results["ops"], FLOOD_S))
        bz.check(results["ops"] >= MIN_OPS, "only %d puts completed during the flood (want %d)"
                 % (results["ops"], MIN_OPS))

        # The flood reached the replica's checks (it was not all refused by nng), and
        # the replica still serves.
        after = c.status()[TARGET]["rejected"]
        bz.log("replica %d rejected: bad_auth %d -> %d, bad_format %d -> %d"
               % (TARGET, before["bad_auth"], after["bad_auth"], before["bad_format"],
                  after["bad_format"]))
        bz.check(after["bad_auth"] > before["bad_auth"],
                 "no flood message reached signature verification")
        r = c.client("get", "flood-0", client_id=4).expect(0)
        bz.check_eq(r.out, "v0\n", "get after the flood")


if __name__ == "__main__":
    bz.run_tests([test_flood])
