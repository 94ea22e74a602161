#!/usr/bin/python3
"""HotStuff f=1 with the default leader rule (hotstuff_leader = reputation) and one
silent replica, on real processes (issue 19; docs/PROTOCOL.md §13.4).

integration_hotstuff_byz runs silent and selective with the stable leader; this one
keeps the default.  Replica 1 is silent from the start: round robin would give it
every fourth view and never four correct leaders in a row (no three-chain at n = 4,
sim_hotstuff_rotating_f1_silent_stalls); leader reputation drops it from the rotation
once 2n blocks of the chain were authored without it, so commits continue.

Verdicts, by counters and agreement only: the verified bench passes (every operation
completed, every get saw its put), a second bench after the first completes too
(commits continue with the silent replica out of the rotation), the correct replicas
agree (same last_executed; same state digest at equal stable checkpoints), and the
silent replica's status shows its behaviour.  Timing is printed, never a verdict.
Ports 35000-35299.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 35000  # peers 35000.., clients +100, admin +200
SILENT = 1
OPS = 60


def test_hotstuff_reputation_silent():
    settings = {"checkpoint_interval": 32, "view_timeout_ms": 500}  # leader: the default
    t0 = time.monotonic()
    with bz.Cluster("hs-rep-silent", protocol="hotstuff", f=1, base_port=BASE_PORT,
                    auth="mac", settings=settings) as c:
        c.init()
        c.up(byz={SILENT: "silent"})
        ids = [i for i in range(c.n) if i != SILENT]
        c.bench(4, OPS, client_id=10, verify=True, timeout_ms=30000, timeout=120)
        mid = bz.wait_until(lambda: c.agreement(ids), 30,
                            "correct replicas %r to agree" % (ids,))
        h1 = mid[ids[0]]["last_executed"]
        c.bench(2, 20, client_id=20, verify=True, timeout_ms=30000, timeout=120)
        st = bz.wait_until(lambda: c.agreement(ids), 30,
                           "correct replicas %r to agree again" % (ids,))
        h2 = st[ids[0]]["last_executed"]
        bz.check(h2 > h1, "no commits after the first bench: %d then %d" % (h1, h2))
        bz.check_eq(st[SILENT].get("byz"), "silent", "status byz of replica %d" % SILENT)
        bz.log("MEASURED: reputation leader, replica %d silent: correct replicas %r agree "
               "at last_executed %d (after the first bench: %d), views %r, leader now %d; "
               "%.1f s" % (SILENT, ids, h2, h1, [st[i]["view"] for i in ids],
                           st[ids[0]]["primary"], time.monotonic() - t0))
        c.down()


if __name__ == "__main__":
    bz.run_tests([test_hotstuff_reputation_silent])
