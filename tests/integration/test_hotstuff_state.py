#!/usr/bin/python3
"""HotStuff state transfer on four local processes (docs/PROTOCOL.md §13.3).

Replica 3 is killed (kill -9) while the stable leader commits more than HS_KEEP (512)
blocks: the others no longer hold the blocks it misses.  Restarted, it recovers from
its own records, then, as new requests arrive, must fetch a snapshot that f+1 replicas
claim (its log says "fetching the state of checkpoint"), install it, fetch the blocks
above, and execute the new requests: its last_executed reaches the others'.  Without
the transfer it stays where it crashed.
Ports 30000-30049.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 30000
VICTIM = 3
GAP = 600  # heights committed while the victim is down: more than HS_KEEP (512)


def executed(c, ids):
    st = c.status(timeout_ms=500)
    return min(st[i]["last_executed"] for i in ids)


def test_hotstuff_state():
    with bz.Cluster("hotstuff-state", protocol="hotstuff", f=1, base_port=BASE_PORT,
                    auth="mac", settings={"hotstuff_leader": "stable",
                                          "view_timeout_ms": 500}) as c:
        c.init()
        c.up()
        c.bench(2, 20, client_id=10)
        before = c.status()[VICTIM]["last_executed"]
        c.kill(VICTIM)
        live = [i for i in range(c.n) if i != VICTIM]
        k = 0
        while executed(c, live) < before + GAP:
            c.bench(4, 200, client_id=20 + 10 * (k % 4))
            k += 1
        st = bz.wait_until(lambda: c.agreement(live), 30, "replicas %r to agree" % live)
        bz.log("replica %d down at %d; the others executed %d"
               % (VICTIM, before, st[live[0]]["last_executed"]))

        c.up()
        c.bench(2, 20, client_id=70)  # new requests: proposals far above the victim

        def caught_up():
            c.client("put", "probe", "p", client_id=91, timeout_ms=2000, quiet=True)
            s = c.status(timeout_ms=500)
            top = max(s[i]["last_executed"] for i in live)
            return s if s[VICTIM]["last_executed"] >= top - 3 else None
        st = bz.wait_until(caught_up, 20, "replica %d to execute as far as the others"
                           % VICTIM)
        bz.log("replica %d executed %d (others %s)"
               % (VICTIM, st[VICTIM]["last_executed"],
                  [st[i]["last_executed"] for i in live]))
        bz.check("fetching the state of checkpoint" in c.logs(VICTIM),
                 "replica %d caught up without a state transfer?\n%s"
                 % (VICTIM, c.logs(VICTIM)[-3000:]))
        bz.wait_until(c.agreement, 20, "all four replicas to agree")


if __name__ == "__main__":
    bz.run_tests([test_hotstuff_state])
