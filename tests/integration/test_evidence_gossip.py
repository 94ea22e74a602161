#!/usr/bin/python3
"""Proofs are shared, and proven liars are acted on (issue 17, second slice).

PBFT f=1, auth sig, on loopback ports 22000-22299 (peers 22000+i, clients 22100+i,
admin 22200+i).  Replica 0, the primary of view 0, equivocates.  Requests keep
completing, and then:
  - every correct replica (1, 2, 3) holds a proof against replica 0 ("evidence_kind":
    {"0": "proof"}), and EVIDENCE messages were sent and received (gossip:
    "accountability": proofs_sent, proofs_learnt, duplicates);
  - every correct replica is in a view whose primary is not 0 (the equivocating
    primary is replaced), and replica 0's messages are ignored there (ignored_proven);
  - each correct replica left replica 0's view because it was proven, not on a timeout:
    its "accountability.vc_proven_primary" is at least 1 and its "vc_timer" (view
    changes its view timer started) is 0.  The view timeout is 10 s, so that only the
    immediate replacement can explain the view change: a backup that holds the real
    PRE-PREPARE shows it to the backups that voted for the other one (note_mismatch,
    docs/PROTOCOL.md §12), which then hold two signed by replica 0, prove it and
    gossip the proof, all in view 0;
  - no correct replica is ever named;
  - after a restart of the whole cluster without the liar, the proofs come back from
    the stores and replica 0 stays ignored, while the three others go on completing
    requests (2f+1 = 3 correct replicas form every quorum).

Timing is printed, never a verdict: each wait has a generous deadline.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 22000  # helper range 22000-22499 (bzcluster.py: P+i, P+100+i, P+200+i)
CORRECT = (1, 2, 3)


def correct_status(c):
    st = c.answering()
    for i in CORRECT:
        if i in st:
            named = set(int(k) for k in st[i]["evidence"])
            bz.check(named <= {0}, "replica %d names %r: only 0 lies" % (i, sorted(named)))
    return st


def all_prove_and_replaced(c):
    """The statuses of 1, 2, 3 once each holds a proof against 0 and is active in a
    view whose primary is not 0; None before."""
    st = correct_status(c)
    for i in CORRECT:
        s = st.get(i)
        if (s is None or s["evidence_kind"].get("0") != "proof" or s["primary"] == 0
                or s["view_changing"]):
            return None
    return st


def total(st, key):
    return sum(st[i]["accountability"][key] for i in CORRECT)


VIEW_TIMEOUT_MS = 10000


def test_proofs_shared_and_primary_replaced():
    c = bz.Cluster("evidence_gossip", f=1, auth="sig", base_port=BASE_PORT,
                   settings={"view_timeout_ms": VIEW_TIMEOUT_MS})
    c.init()
    t0 = time.monotonic()
    c.up(byz={0: "equivocate"})
    bz.puts(c, 20, "lied")
    st = bz.wait_until(lambda: all_prove_and_replaced(c), 60,
                       "replicas 1-3 to hold a proof against 0 and leave its views")
    bz.log("all correct replicas hold the proof, primary replaced, in %.1f s" %
           (time.monotonic() - t0))
    for i in CORRECT:
        bz.log("replica %d: view %d primary %d evidence %r accountability %r bad %d vc_timer %d"
               % (i, st[i]["view"], st[i]["primary"], st[i]["evidence"],
                  st[i]["accountability"], st[i]["rejected"]["bad_evidence"],
                  st[i]["vc_timer"]))
    for i in CORRECT:   # replaced at once, not after a view timeout
        bz.check(st[i]["accountability"]["vc_proven_primary"] >= 1 and st[i]["vc_timer"] == 0,
                 "replica %d left replica 0's view by its timer (vc_timer %d), not by the "
                 "proof (vc_proven_primary %d)" % (i, st[i]["vc_timer"],
                                                   st[i]["accountability"]["vc_proven_primary"]))
    bz.check(total(st, "proofs_sent") > 0, "no EVIDENCE message sent")
    bz.check(total(st, "proofs_learnt") + total(st, "duplicates") > 0,
             "no EVIDENCE message received by a correct replica")
    bz.check(all(st[i]["rejected"]["bad_evidence"] == 0 for i in CORRECT),
             "a correct replica's proof was refused")
    bz.puts(c, 5, "after")   # progress without replica 0
    st = bz.wait_until(lambda: (lambda s: s if total(s, "ignored_proven") > 0 else None)(
        correct_status(c)), 30, "a message of replica 0 to be ignored")
    bz.log("ignored_proven: %r" % {i: st[i]["accountability"]["ignored_proven"]
                                   for i in CORRECT})
    c.down()

    # the proofs are persisted: after a restart (nobody lies now) they are back, and
    # the three correct replicas go on alone
    c.up()
    st = correct_status(c)
    for i in CORRECT:
        bz.check(st[i]["evidence_kind"].get("0") == "proof",
                 "replica %d lost its proof over a restart: %r" % (i, st[i]["evidence_kind"]))
    bz.puts(c, 5, "restarted")
    st = correct_status(c)
    bz.log("after the restart: views %r" % {i: st[i]["view"] for i in CORRECT})
    c.down()


if __name__ == "__main__":
    bz.run_tests([test_proofs_shared_and_primary_replaced])
