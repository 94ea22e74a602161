#!/usr/bin/python3
"""A faulty client in mac mode on real processes (issue 14, docs/PROTOCOL.md §6.2).

PBFT f=1, auth = mac.  One client (byzlab-client bench --bad-mac 1) sends requests
whose MAC authenticators are good in one replica's slot only, the one it guesses is
the primary (the next one at each retransmission), and it never signs.  Before issue
14 every backup refused a correct primary's PRE-PREPARE with such a request in it, and
the cluster changed views for ever: honest clients got nothing done.  Now the backups
mark the client suspect and no later primary takes its unsigned requests.

Verdict by counters and completions, never by timing: the honest bench must complete
every operation while the faulty client keeps sending, the backups must have marked
it, and the correct replicas must stay within a few views.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 13800  # a cluster takes BASE_PORT + 0..3, +100, +200 (bzcluster.py)
BAD_CLIENT = 60


def attacked(c):
    """Status once the faulty client cost a view change (a correct primary refused)."""
    st = c.status()
    return st if max(st[i]["view"] for i in range(c.n)) >= 1 else None


def test_faulty_client_cannot_stop_the_cluster():
    with bz.Cluster("bad-client", f=1, base_port=BASE_PORT, auth="mac") as c:
        c.init()
        c.set_cluster_keys(sync="none")
        c.up()
        argv, attacker = c.client_popen("bench", "--clients", 1, "--bad-mac", 1,
                                        "--seconds", 120, "--quiet",
                                        client_id=BAD_CLIENT, timeout_ms=2000)
        try:
            # the attack is on: backups refused a correct primary's PRE-PREPARE
            bz.wait_until(lambda: attacked(c), 60, "the faulty client to cost a view change")
            # honest clients get everything done while it keeps trying
            for round_ in range(3):
                r = c.bench(4, 300, client_id=10 + 10 * round_)
                bz.log("round %d: %s ops/s" % (round_, r.get("throughput")))
            st = c.status()
            views = [st[i]["view"] for i in range(c.n)]
            refused = [st[i]["rejected"].get("unsigned_suspect", 0) for i in range(c.n)]
            suspects = [st[i].get("suspect_clients", 0) for i in range(c.n)]
            bz.log("views %s, suspect_clients %s, rejected.unsigned_suspect %s"
                   % (views, suspects, refused))
            bz.check(sum(suspects) >= 1, "backups suspect the faulty client: %s" % suspects)
            # one view change per replica it fooled as primary, not one per request
            bz.check(max(views) <= 3, "views stayed low with a faulty client: %s" % views)
            bz.check(sum(refused) > 0, "its unsigned requests were refused: %s" % refused)
            bz.check(attacker.poll() is None, "the faulty client was still running")
        finally:
            attacker.kill()
            attacker.communicate()


if __name__ == "__main__":
    bz.run_tests([test_faulty_client_cannot_stop_the_cluster])
