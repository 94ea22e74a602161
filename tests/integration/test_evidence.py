#!/usr/bin/python3
"""Who lied? Proofs of equivocation on real processes (issue 17, first slice).

PBFT f=1, auth sig, on loopback ports 17600-17799 (the admin addresses moved from
P+200+i into the range by rewriting cluster.ini).  First without a liar: requests
complete, every status shows "evidence": {} and `./byzlab audit DIR` says "no
evidence".  Then replica 0 (the primary of view 0) equivocates: its backups' view
change brings the other PRE-PREPARE to light, a correct replica's status names replica
0 with a "proof", and `./byzlab audit DIR` prints the proof, which verifies from the
public keys alone, and a `byzlab-audit --verify` line that holds (and fails on a
flipped bit).  No correct replica is ever named.

Timing is printed, never a verdict: each wait has a generous deadline.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 17600  # peers 17600+i, clients 17700+i, admin 17800+i (bzcluster.py)
AUDIT = os.path.join(bz.BIN, "byzlab-audit")


def named(c):
    """{replica: {accused: (count, kind)}} from status (only replicas that answer)."""
    out = {}
    for i, st in c.answering().items():
        ev, kind = st["evidence"], st["evidence_kind"]
        out[i] = {int(k): (v, kind[k]) for k, v in ev.items()}
    return out


def test_evidence_equivocating_primary():
    bz.require_programs(AUDIT)
    c = bz.Cluster("evidence", f=1, auth="sig", base_port=BASE_PORT)
    c.init()

    c.up()
    bz.puts(c, 10, "honest")
    ev = named(c)
    bz.log("without a liar: %r" % ev)
    bz.check(all(not e for e in ev.values()), "evidence without a liar: %r" % ev)
    r = bz.run([bz.DRIVER, "audit", c.dir], expect=0)
    bz.check("no evidence" in r.out, "audit without a liar:\n%s" % r.describe())
    c.down()

    t0 = time.monotonic()
    c.up(byz={0: "equivocate"})
    bz.puts(c, 20, "lied")

    def proven():
        ev = named(c)
        for i, e in ev.items():
            bz.check(i == 0 or set(e) <= {0}, "replica %d names %r: only 0 lies" % (i, sorted(e)))
        return ev if any(e.get(0, (0, ""))[1] == "proof" for i, e in ev.items() if i) else None

    ev = bz.wait_until(proven, 60, "a correct replica to prove replica 0 lied")
    bz.log("equivocating primary proven in %.1f s: %r" % (time.monotonic() - t0, ev))

    r = bz.run([bz.DRIVER, "audit", c.dir], expect=0)
    bz.log(r.out[:2000])
    bz.check("replica 0: PROOF of equivocation: two PRE-PREPAREs" in r.out, r.describe())
    bz.check("alone: yes" in r.out, r.describe())
    bz.check(not re.search(r"^replica [123]:", r.out, re.M), "a correct replica accused")
    m = re.search(r"re-verify: byzlab-audit --keys (\S+) --verify ([0-9a-f]+)", r.out)
    bz.check(m is not None, "no re-verify line:\n%s" % r.describe())
    keys, hexproof = m.group(1), m.group(2)
    r = bz.run([AUDIT, "--keys", keys, "--verify", hexproof], expect=0)
    bz.check("holds: replica 0 signed two PRE-PREPAREs" in r.out, r.describe())
    flipped = hexproof[:-1] + ("0" if hexproof[-1] != "0" else "1")
    bz.run([AUDIT, "--keys", keys, "--verify", flipped], expect=1)
    c.down()


if __name__ == "__main__":
    bz.run_tests([test_evidence_equivocating_primary])
