#!/usr/bin/python3
"""Forensics on real processes (issue 17 item 3): when f+1 liars break agreement, the
transcripts the replicas kept in their stores name the culprits, with proofs.

PBFT f=1, auth sig, loopback ports 22500-22799 (peers 22500+i, clients 22600+i, admin
22700+i).

1. Replicas 0 and 3 lie together (--byz 0=split:2 --byz 3=split:2, replica/byz.h):
   replica 2 is shown another batch at every sequence number, and the two liars vote
   for it there, for the real one elsewhere.  Each side has a quorum (the two liars and
   one correct replica), so replicas 1 and 2 execute different batches at the same
   numbers: agreement is broken (status: same last_executed, different
   requests_executed).  Run-time evidence is off here (evidence = off): with it on,
   replicas 1 and 2 show each other the PRE-PREPARE they hold when their votes differ
   (docs/PROTOCOL.md §12), which proves both liars within a round trip, usually before
   anything executes - agreement then holds and nothing is left for forensics, whose
   case is the run that did break.  Then `./byzlab audit DIR` - the forensic analysis of every
   replica's transcript (TRANSCRIPT_REC records, cluster.ini forensics_k) - names
   exactly replicas 0 and 3, never 1 or 2, each proof verifying from DIR/keys alone;
   `--trust 1,2` (the correct replicas' transcripts only) names the same two; the
   printed `byzlab-audit --verify` line holds, and fails on a changed byte.  A
   replica killed and restarted reads its transcript back from its store ("restored").
2. The same directory again, without liars, checkpoint_interval = 8 and forensics_k =
   1: the transcript stays bounded by the checkpoints (garbage-collected at each
   stable checkpoint) in memory and in the store alike (the audit's count of stored
   entries equals the replicas' own).  Restarted with forensics_k = 0, the replicas
   drop what they kept and keep nothing.

The verdicts are the audit's output and status counters; timing is printed only.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 22500  # helper range 22000-23999 (bzcluster.py: P+i, P+100+i, P+200+i)
AUDIT = os.path.join(bz.BIN, "byzlab-audit")
CULPRIT = re.compile(r"^  replica (\d+): CULPRIT", re.M)


def puts(c, n, tag):
    bz.puts(c, n, tag, deadline=60, timeout_ms=5000)


def audit(argv):
    r = bz.run(argv, expect=0)
    bz.log("\n".join(l[:160] for l in r.out.splitlines()[:12]))
    m = re.search(r"^forensics: (\d+) transcripts .*?, (\d+) entries", r.out, re.M)
    bz.check(m is not None, "no forensics line:\n%s" % r.describe())
    return r, set(int(x) for x in CULPRIT.findall(r.out)), int(m.group(2))


def diverged(c):
    """The statuses once replicas 1 and 2 executed the same numbers with different
    batches (replica 2 was shown the batches without their request), and every
    transcript is in its store (nothing "unsaved": txlog.h)."""
    st = c.answering()
    a, b = st.get(1), st.get(2)
    if not a or not b or a["last_executed"] < 3 or a["last_executed"] != b["last_executed"]:
        return None
    if len(st) < 4 or any(s["forensics"]["unsaved"] for s in st.values()):
        return None
    return st if a["requests_executed"] != b["requests_executed"] else None


# one cluster directory for both tests: each `cluster down` scans for processes, which
# takes seconds on a loaded machine
CLUSTER = bz.Cluster("forensics", f=1, auth="sig", base_port=BASE_PORT,
                     settings={"evidence": "off"})


def test_two_liars_named():
    bz.require_programs(AUDIT)
    c = CLUSTER
    c.init()
    t0 = time.monotonic()
    c.up(byz={0: "split:2", 3: "split:2"})
    puts(c, 3, "split")
    st = bz.wait_until(lambda: diverged(c), 30, "replicas 1 and 2 to execute different batches")
    bz.log("agreement broken in %.1f s: %r" % (time.monotonic() - t0, {
        i: (s["last_executed"], s["requests_executed"], s["forensics"]) for i, s in st.items()}))
    for i, s in st.items():
        bz.check(s["forensics"]["k"] == 2 and s["forensics"]["entries"] > 0,
                 "replica %d keeps no transcript: %r" % (i, s["forensics"]))

    r, named, _ = audit([bz.DRIVER, "audit", c.dir])
    bz.check(named == {0, 3}, "the audit named %r, not {0, 3}:\n%s" % (sorted(named), r.out))
    bz.check(r.out.count("verifies from") == 2, "a proof does not verify:\n%s" % r.out)
    r2, named2, _ = audit([AUDIT, c.dir, "--trust", "1,2"])
    bz.check(named2 == {0, 3}, "the correct replicas' transcripts named %r" % sorted(named2))
    bz.check("forensics: 2 transcripts (replicas 1 2)" in r2.out, r2.describe())

    # the forensic proof re-verifies from the public keys alone; a changed byte does not
    m = re.search(r"^    re-verify: byzlab-audit --keys (\S+) --verify (425a4650[0-9a-f]+)$",
                  r.out, re.M)
    bz.check(m is not None, "no re-verify line for a forensic proof:\n%s" % r.out)
    keys, proof = m.group(1), m.group(2)
    v = bz.run([AUDIT, "--keys", keys, "--verify", proof], expect=0)
    bz.check(re.search(r"holds: replica [03] lied \(equivocation\)", v.out), v.describe())
    k = len(proof) - 40    # inside the second statement's signature
    bad = proof[:k] + ("0" if proof[k] != "0" else "1") + proof[k + 1:]
    bz.run([AUDIT, "--keys", keys, "--verify", bad], expect=1)

    # the transcript is in the store: back after a crash and restart (once nothing
    # waits for a commit: txlog.h, TXLOG_FORCE_MS)
    f1 = bz.wait_until(lambda: (lambda f: f if f["unsaved"] == 0 else None)(
        c.answering()[1]["forensics"]), 10, "replica 1's transcript to be in its store")
    kept = f1["entries"]
    c.kill(1)
    c.up(byz={0: "split:2", 3: "split:2"})  # starts replica 1 only
    f1 = c.answering()[1]["forensics"]
    bz.log("replica 1 kept %d entries, restored %r" % (kept, f1))
    bz.check(f1["restored"] >= kept and f1["entries"] >= kept,
             "replica 1 restored %r of its %d entries" % (f1, kept))
    c.down()


def test_transcript_bounded():
    c = CLUSTER
    c.settings.pop("evidence")
    c.set_cluster_keys(checkpoint_interval=8, forensics_k=1)   # a fresh directory
    c.up()
    ops = 160
    c.bench(1, ops, client_id=2)
    st = bz.wait_until(lambda: (lambda s: s if all(
        x["stable_checkpoint"] >= ops - 16 and x["forensics"]["unsaved"] == 0
        for x in s.values()) else None)(c.answering()),
        30, "a stable checkpoint near the end, the transcripts in the stores")
    kept = {i: s["forensics"]["entries"] for i, s in st.items()}
    bz.log("after %d operations, checkpoint_interval 8, forensics_k 1: entries %r" % (ops, kept))
    # one operation per slot leaves at most 1 + 3 + 4 = 8 entries in a replica's
    # transcript; the slots of 1 + 1 checkpoints (and the few above) stay: far below
    # the 8 * 160 of an unbounded one
    for i, n in kept.items():
        bz.check(0 < n <= 8 * 8 * 4, "replica %d keeps %d entries: not bounded" % (i, n))
    # idle now: the stores hold what the replicas hold (a running cluster's stores can
    # be read: LMDB readers do not block the writer)
    _, named, stored = audit([bz.DRIVER, "audit", c.dir])
    bz.check(not named, "an honest cluster's audit named %r" % sorted(named))
    bz.check(stored == sum(kept.values()),
             "the stores hold %d entries, the replicas said %d" % (stored, sum(kept.values())))
    c.down()

    # forensics_k = 0 in the same directory (init would start a fresh one): what was
    # kept goes at start
    with open(c.ini) as f:
        ini = f.read()
    bz.check("forensics_k = 1\n" in ini, "cluster.ini:\n" + ini)
    with open(c.ini, "w") as f:
        f.write(ini.replace("forensics_k = 1\n", "forensics_k = 0\n"))
    c.up()
    c.bench(1, 20, client_id=2)
    st = c.answering()
    bz.check(all(s["forensics"]["entries"] == 0 for s in st.values()), "forensics_k = 0 kept %r"
             % {i: s["forensics"] for i, s in st.items()})
    r = bz.run([bz.DRIVER, "audit", c.dir], expect=0)
    bz.check("forensics: no transcripts" in r.out, r.describe())


if __name__ == "__main__":
    bz.run_tests([test_two_liars_named, test_transcript_bounded])
