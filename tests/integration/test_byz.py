#!/usr/bin/python3
"""Lying replicas and network/clock faults on real processes (issue 5).

PBFT f=1 (4 replicas), one liar per behaviour, placed where the lie hurts most:
every client operation completes with the right result (bench --verify), the correct
replicas agree on state_digest at a common stable checkpoint, and where the lie is
detectable the matching rejected.* counter of the correct replicas grows.  PBFT f=2
with two different liars at once.  VR with one liar: the violation is asserted and
printed.  slow-primary: throughput under attack against fault-free (printed, never a
verdict).  flood: the flooded replicas' peak RSS (printed, bounded) while clients
progress.  Network and clock faults set through the admin address: each one shows in
its counter (or the clock), and PBFT stays safe.

Timing is measured and printed, never a verdict: each wait has a generous deadline.
"""

import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 12600       # each cluster takes the next 300 (see bzcluster.py)
_next = [BASE_PORT]
CKPT = 32               # checkpoint_interval: agreement is checked at stable checkpoints


def new_cluster(name, protocol="pbft", f=1, faults=None):
    """A cluster with a short checkpoint interval (and a [faults] section)."""
    port = _next[0]
    _next[0] += 300
    c = bz.Cluster(name, protocol=protocol, f=f, base_port=port,
                   settings={"checkpoint_interval": CKPT}, faults=faults)
    c.init()
    return c


def correct_ids(c, liars):
    return [i for i in range(c.n) if i not in liars]


def same_state(c, ids, at_least):
    """Status if every replica in ids has the same stable checkpoint (>= at_least) and
    the same state_digest there, else None (for wait_until)."""
    st = c.status()
    if any(st[i].get("down") for i in ids):
        return None
    cps = {st[i]["stable_checkpoint"] for i in ids}
    digests = {st[i]["state_digest"] for i in ids}
    return st if len(cps) == 1 and min(cps) >= at_least and len(digests) == 1 else None


def agree(c, liars, client_id, deadline=120):
    """The correct replicas reach a new common stable checkpoint with one state digest
    (the state there: what safety is about).  Sequential operations (one per sequence
    number) carry everybody past the next checkpoint: a replica that fell behind
    without knowing it (a woken zombie that missed pre-prepares of the new view)
    learns it there and catches up by state transfer - an idle cluster would leave it
    behind."""
    ids = correct_ids(c, liars)
    end = time.monotonic() + deadline
    while True:
        st = c.status()
        target = max(st[i]["stable_checkpoint"] for i in ids) + CKPT
        c.bench(1, CKPT + 4, client_id, timeout_ms=30000)
        try:
            st = bz.wait_until(lambda: same_state(c, ids, target), 20,
                               "replicas %r to agree at checkpoint %d" % (ids, target))
            break
        except bz.Failure:
            if time.monotonic() > end:
                raise
    views = {i: (st[i]["view"], st[i]["view_changing"], st[i]["last_executed"]) for i in ids}
    bz.log("correct replicas %r agree: stable checkpoint %d, state_digest %s... "
           "(view, changing, last_executed): %r"
           % (ids, st[ids[0]]["stable_checkpoint"], st[ids[0]]["state_digest"][:16], views))
    return st


def rejected(c, key, ids):
    st = c.status()
    return sum(st[i]["rejected"][key] for i in ids if not st[i].get("down"))


def check_liar_status(c, liar, spec):
    st = c.status()[liar]
    bz.check_eq(st.get("byz"), spec, "status byz of replica %d" % liar)
    bz.check(st.get("lies", 0) > 0, "replica %d told no lie: %r" % (liar, st))
    return st["lies"]


def bench_json(r):
    lines = [l for l in r.out.splitlines() if l.strip().startswith("{")]
    if not lines:
        raise bz.Failure("bench printed no JSON\n" + r.describe())
    return json.loads(lines[-1])


def one_liar(name, liar, spec, counter=None, ops=300):
    """A 4-replica PBFT cluster with one liar: verified workload, agreement, counter."""
    with new_cluster("byz-" + name) as c:
        c.up(byz={liar: spec})
        ids = correct_ids(c, [liar])
        before = rejected(c, counter, ids) if counter else 0
        c.bench(4, ops, client_id=10, verify=True, timeout_ms=30000)
        st = agree(c, [liar], client_id=60)
        lies = check_liar_status(c, liar, spec)
        msg = "%s at replica %d: %d lies, view now %d" % (spec, liar, lies, st[ids[0]]["view"])
        if counter:
            after = rejected(c, counter, ids)
            bz.check(after > before, "rejected.%s of the correct replicas did not grow (%d)"
                     % (counter, after))
            msg += "; rejected.%s of the correct replicas %d -> %d" % (counter, before, after)
        bz.log("MEASURED: " + msg)


# ---- one liar per behaviour ----

def test_silent_primary():
    one_liar("silent", 0, "silent")


def test_equivocating_primary():
    one_liar("equivocate", 0, "equivocate", counter="conflict")


def test_bad_digest():
    one_liar("bad-digest", 1, "bad-digest", counter="conflict")


def test_forge():
    one_liar("forge", 2, "forge", counter="bad_auth")


def test_wrong_reply():
    one_liar("wrong-reply", 1, "wrong-reply")


def test_selective_primary():
    # the primary talks to replica 1 only: 2 and 3 never see its pre-prepares
    one_liar("selective", 0, "selective:1")


def pause_primary_for_view_change(c, ids):
    """SIGSTOP replica 0 (the primary) until the others entered a later view."""
    c.kill(0, sig=signal.SIGSTOP)
    try:
        c.client("put", "during-pause", "1", client_id=90, timeout_ms=30000).expect(0)
        st = bz.wait_until(lambda: (lambda s: s if all(s[i]["view"] >= 1 for i in ids)
                                    else None)(c.answering()), 30, "a view change")
    finally:
        os.kill(c.pid(0), signal.SIGCONT)
    return st


def test_replay():
    liar = 3
    with new_cluster("byz-replay") as c:
        c.up(byz={liar: "replay"})
        c.bench(4, 150, client_id=10, verify=True, timeout_ms=30000)
        # a view change, so that the replayed messages of view 0 are old
        pause_primary_for_view_change(c, [1, 2])

        def zombie_follows():
            st = c.status()
            return st if st[0]["view"] >= 1 and not st[0]["view_changing"] else None
        c.client("put", "after-pause", "1", client_id=91, timeout_ms=30000).expect(0)
        bz.wait_until(zombie_follows, 60, "replica 0 to follow the new view")
        time.sleep(0.5)         # its last old-view messages arrive
        before = rejected(c, "old_view", [0, 1, 2])
        c.bench(4, 200, client_id=20, verify=True, timeout_ms=30000)
        after = rejected(c, "old_view", [0, 1, 2])
        bz.check(after > before, "replayed old-view messages were not rejected (%d)" % after)
        agree(c, [liar], client_id=60)
        lies = check_liar_status(c, liar, "replay")
        bz.log("MEASURED: replay at replica 3: %d old messages replayed; rejected.old_view of "
               "the correct replicas %d -> %d after the zombie had followed" % (lies, before, after))


def test_fake_view_change():
    liar = 1    # the next primary; its VIEW-CHANGE is judged by 2 and 3 (and 0)
    with new_cluster("byz-fake-vc") as c:
        c.up(byz={liar: "fake-view-change"})
        argv, bench = c.client_popen("bench", "--clients", 4, "--ops", 400, "--verify",
                                     "--quiet", client_id=10, timeout_ms=30000)
        bz.wait_until(lambda: c.status()[2]["last_executed"] > 20, 30, "the workload to run")
        # refused at the edge, before any nested signature (bad_auth; docs/PROTOCOL.md
        # §6 "Shape before crypto"), or by the core (conflict)
        before = rejected(c, "conflict", [2, 3]) + rejected(c, "bad_auth", [2, 3])
        pause_primary_for_view_change(c, [1, 2, 3])
        out, err = bench.communicate(timeout=300)
        bz.check_bench(bz.Result(argv, bench.returncode, out, err, 0), 400, True)
        after = rejected(c, "conflict", [2, 3]) + rejected(c, "bad_auth", [2, 3])
        bz.check(after > before, "the invented certificate was not refused (%d)" % after)
        st = agree(c, [liar], client_id=60)
        lies = check_liar_status(c, liar, "fake-view-change")
        bz.log("MEASURED: fake-view-change at replica 1: %d VIEW-CHANGEs with invented "
               "certificates; rejected.conflict + bad_auth at 2 and 3: %d -> %d; view now %d"
               % (lies, before, after, st[2]["view"]))


def run_bench(c, client_id, seconds, clients=16):
    r = c.client("bench", "--clients", clients, "--seconds", seconds, "--verify", "--quiet",
                 client_id=client_id, timeout_ms=60000, timeout=seconds + 120)
    res = bench_json(r)
    bz.check(r.rc == 0 and res["errors"] == 0 and res["mismatches"] == 0,
             "bench failed\n" + r.describe())
    return res


def test_slow_primary():
    ms = 900    # just under view_timeout_ms = 1000: Aardvark's attack
    with new_cluster("byz-slow") as c:
        c.up()
        base = run_bench(c, 10, 4, clients=4)
        c.kill(0)
        c.up(byz={0: "slow-primary:%d" % ms})
        st0 = c.status()
        slow = run_bench(c, 40, 8, clients=4)
        st1 = c.status()
        ratio = slow["throughput"] / base["throughput"] if base["throughput"] else 0
        bz.log("MEASURED: slow-primary:%d at the primary: %.1f ops/s (p50 %.0f ms) against "
               "%.1f ops/s fault-free (p50 %.1f ms): ratio %.4f; views %d -> %d while it "
               "lasted (a view change deposes the liar); completions per second %r"
               % (ms, slow["throughput"], slow["p50_us"] / 1000, base["throughput"],
                  base["p50_us"] / 1000, ratio, st0[1]["view"], st1[1]["view"],
                  slow.get("series")))
        check_liar_status(c, 0, "slow-primary:%d" % ms)
        # honest again (its log is an honest one): everybody agrees, at normal speed
        c.kill(0)
        c.up()
        agree(c, [], client_id=80)


def rss_kb(pid, key="VmHWM"):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def test_flood():
    liar, rate = 3, 2000
    with new_cluster("byz-flood") as c:
        c.up()
        calm_res = c.bench(4, 400, client_id=10, verify=True)
        calm = {i: rss_kb(c.pid(i)) for i in range(3)}
        c.kill(liar)
        c.up(byz={liar: "flood:%d" % rate})
        t = time.monotonic()
        res = c.bench(4, 400, client_id=20, verify=True, timeout_ms=30000)
        time.sleep(max(0, 8 - (time.monotonic() - t)))  # let the flood run 8 s at least
        peak = {i: rss_kb(c.pid(i)) for i in range(3)}
        st = c.status()
        got = [st[i]["msgs_recv"] for i in range(3)]
        for i in range(3):
            bz.check(peak[i] < 512 * 1024, "replica %d peak RSS %d kB" % (i, peak[i]))
        bz.log("MEASURED: flood:%d at replica 3 for %.0f s: flooded replicas' peak RSS "
               "%s MB (before the flood %s MB); they received %s messages; clients went on "
               "at %.0f ops/s (%.0f ops/s before the flood)"
               % (rate, time.monotonic() - t,
                  "/".join("%.1f" % (peak[i] / 1024) for i in range(3)),
                  "/".join("%.1f" % (calm[i] / 1024) for i in range(3)),
                  "/".join(str(g) for g in got), res["throughput"], calm_res["throughput"]))
        agree(c, [liar], client_id=60)
        check_liar_status(c, liar, "flood:%d" % rate)


# ---- f = 2: two different liars at once ----

def test_f2_two_liars():
    liars = {0: "equivocate", 4: "fake-view-change"}
    with new_cluster("byz-f2", f=2) as c:
        c.up(byz=liars)
        ids = correct_ids(c, liars)
        c.bench(4, 300, client_id=10, verify=True, timeout_ms=30000)
        st = agree(c, liars, client_id=60)
        conflicts = rejected(c, "conflict", ids)
        bz.check(conflicts > 0, "neither lie was noticed")
        bz.log("MEASURED: f=2, equivocating primary 0 and fake-view-change 4: view %d, "
               "rejected.conflict of the correct replicas %d"
               % (st[ids[0]]["view"], conflicts))


# ---- VR: one liar breaks it ----

def test_vr_equivocating_primary():
    with new_cluster("byz-vr-equivocate", protocol="vr") as c:
        c.up(byz={0: "equivocate"})
        # one client: one request per op-number, so every other one is altered
        res = c.bench(1, 2 * CKPT + 10, client_id=10, verify=True, timeout_ms=30000)

        def same_checkpoint():
            st = c.status()
            cp = {st[i]["stable_checkpoint"] for i in (1, 2)}
            return st if len(cp) == 1 and min(cp) >= CKPT else None
        st = bz.wait_until(same_checkpoint, 30, "the backups to take a checkpoint")
        d1, d2 = st[1]["state_digest"], st[2]["state_digest"]
        bz.log("VR VIOLATION (expected): the equivocating primary 0 gave backups 1 and 2 "
               "different batches for the same op-numbers; at checkpoint %d replica 1 has "
               "state %s... and replica 2 has %s... (the client saw %d correct results, "
               "from the liar)" % (st[1]["stable_checkpoint"], d1[:16], d2[:16], res["ops"]))
        bz.check(d1 != d2, "VR backups did not diverge under an equivocating primary")


def test_vr_wrong_reply():
    with new_cluster("byz-vr-wrong-reply", protocol="vr") as c:
        c.up(byz={0: "wrong-reply"})
        r = c.client("bench", "--clients", 2, "--ops", 40, "--verify", "--quiet",
                     client_id=10, timeout_ms=30000, timeout=120)
        res = bench_json(r)
        wrong = [l for l in r.err.splitlines() if l.startswith("verify:")]
        bz.log("VR VIOLATION (expected): the client accepted %d wrong results from the lying "
               "primary, e.g.\n    %s" % (res["mismatches"], "\n    ".join(wrong[:3])))
        bz.check(res["mismatches"] > 0 and r.rc != 0,
                 "VR clients accepted no wrong result\n" + r.describe())


# ---- network and clock faults through the admin address ----

def set_faults(c, i, spec):
    r = c.client("faults", i, spec, timeout_ms=5000, quiet=True).expect(0)
    st = json.loads(r.out)
    bz.check_eq(st["faults"]["spec"], spec, "faults of replica %d" % i)


def faults_of(c, i):
    return c.status()[i]["faults"]


def test_network_and_clock_faults():
    with new_cluster("byz-faults", faults=[("delay", "1")]) as c:
        c.up()
        bz.check_eq(faults_of(c, 1)["spec"], "delay=1", "faults from cluster.ini")
        for i in range(4):
            set_faults(c, i, "none")
        base = c.bench(4, 100, client_id=10, verify=True)
        # a bad specification is refused and changes nothing
        r = c.client("faults", 1, "drop=2", timeout_ms=5000).expect(1)
        bz.check("drop" in r.err, "refusal names the key: %r" % r.err)
        bz.check_eq(faults_of(c, 1)["spec"], "none", "faults after a refusal")

        def one(i, spec, counter, ops=100, cid=20):
            set_faults(c, i, spec)
            res = c.bench(4, ops, client_id=cid, verify=True, timeout_ms=30000)
            n = faults_of(c, i)[counter]
            set_faults(c, i, "none")
            bz.check(n > 0, "%s at replica %d: %s stayed 0" % (spec, i, counter))
            bz.log("MEASURED: %s at replica %d: %s %d; p50 %.1f ms (%.1f fault-free)"
                   % (spec, i, counter, n, res["p50_us"] / 1000, base["p50_us"] / 1000))
        one(1, "drop=0.3", "dropped", cid=20)
        one(0, "drop.2=1", "dropped", cid=30)
        one(2, "dup=0.5", "duplicated", cid=40)
        one(3, "reorder=0.5", "reordered", cid=50)
        one(3, "oneway=0", "deaf", cid=60)
        # delay with a heavy tail on every replica: latency shows it
        for i in range(4):
            set_faults(c, i, "delay=5,tail=pareto")
        slow = c.bench(4, 100, client_id=70, verify=True, timeout_ms=30000)
        delayed = sum(faults_of(c, i)["delayed"] for i in range(4))
        for i in range(4):
            set_faults(c, i, "none")
        bz.check(delayed > 0, "nothing was delayed")
        bz.log("MEASURED: delay=5,tail=pareto everywhere: %d messages delayed; p50 %.1f ms, "
               "p99 %.1f ms (fault-free p50 %.1f ms, p99 %.1f ms)"
               % (delayed, slow["p50_us"] / 1000, slow["p99_us"] / 1000,
                  base["p50_us"] / 1000, base["p99_us"] / 1000))
        # replica 3 cut off from the others, on every replica: the rest go on
        for i in range(4):
            set_faults(c, i, "partition=0,1,2/3")
        c.bench(4, 100, client_id=80, verify=True, timeout_ms=30000)
        cut = sum(faults_of(c, i)["partitioned"] for i in range(4))
        behind = c.status()
        for i in range(4):
            set_faults(c, i, "none")
        bz.check(cut > 0, "the partition cut nothing")
        bz.log("MEASURED: partition=0,1,2/3: %d messages cut; replica 3 stayed at %d while "
               "the others executed %d" % (cut, behind[3]["last_executed"],
                                            behind[0]["last_executed"]))
        # clock_rate: replica 2's core clock runs 4x
        set_faults(c, 2, "clock_rate=4")
        a, t0 = c.status()[2]["clock_ms"], time.monotonic()
        time.sleep(1.0)
        b, t1 = c.status()[2]["clock_ms"], time.monotonic()
        rate = (b - a) / ((t1 - t0) * 1000)
        c.bench(4, 100, client_id=90, verify=True, timeout_ms=30000)
        set_faults(c, 2, "none")
        bz.check(2.5 < rate < 6, "clock_rate=4: the core clock ran at %.2fx" % rate)
        bz.log("MEASURED: clock_rate=4 at replica 2: its core clock ran at %.2fx real time"
               % rate)
        # and through all of it PBFT stayed safe: every replica agrees (3 caught up)
        agree(c, [], client_id=100)


if __name__ == "__main__":
    bz.run_tests([
        test_silent_primary,
        test_equivocating_primary,
        test_bad_digest,
        test_forge,
        test_replay,
        test_wrong_reply,
        test_slow_primary,
        test_fake_view_change,
        test_flood,
        test_selective_primary,
        test_f2_two_liars,
        test_vr_equivocating_primary,
        test_vr_wrong_reply,
        test_network_and_clock_faults,
    ])
