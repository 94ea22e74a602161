#!/usr/bin/python3
"""tour.py - "the trouble with distributed systems", one live experiment per lesson.

`./byzlab tour [--quick] [--only NAME] [--out DIR]` (issue 18).  Each step states a claim
in our own words, runs an experiment on local processes (./byzlab cluster ..., the
clusters written by byzlab-keygen --cluster through tools/bzharness.py) or in the
deterministic simulator (byzlab-sim, fixed seeds), records the exact commands to repeat
it by hand, the measured numbers and a figure, and ends in a verdict computed from
checkers and counters, never from eyeballing a timing:

  HELD                  every claim of the step held
  BROKEN (as expected)  a property broke where the lesson says it must (VR and one liar)
  BROKEN (unexpected)   something did not behave as the lesson says: exit status 1
  SKIPPED               the step needs code that does not exist yet (said why)

A step's verdict is made of checks; each check has an expected outcome ("held" or
"broken") and an observed one.  Any mismatch makes the step BROKEN (unexpected).
`--plant-unexpected STEP` (or BYZLAB_TOUR_PLANT=STEP) flips the expectations of STEP's
checks, so the test can see that an unexpected verdict makes the command fail.

Writes DIR/index.html (one page, no scripts, no network: figures are PNG files beside
it), DIR/tour.json (every number) and DIR/<step>.png; DIR defaults to
results/tour-<timestamp>/.  Ports: clusters use base ports from --base-port (default
17800) in steps of 10, so every port stays within 17800-18199.

Stdlib only, plus matplotlib for the figures (Debian: python3-matplotlib).
"""

import argparse
import datetime
import html
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
import bzharness  # noqa: E402  (the shared harness)
import bench  # noqa: E402  (cluster helpers, formulas, bench JSON)

HELD, AS_EXPECTED, UNEXPECTED, SKIPPED = ("HELD", "BROKEN (as expected)",
                                          "BROKEN (unexpected)", "SKIPPED")
PORT_STEP, PORT_SLOTS = 10, 10
SCRATCH_PREFIX = os.path.join(tempfile.gettempdir(), "tour-trace.")      # base ports P, P+10, ... P+90 (n <= 7 each)


def log(msg):
    print("[tour %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the environment


class Step:
    """One lesson: claim, commands, numbers, tables, figure, checks -> verdict."""

    def __init__(self, name, title, claim):
        self.name, self.title, self.claim = name, title, claim
        self.commands, self.numbers, self.tables, self.checks = [], {}, [], []
        self.figure, self.note, self.error = None, "", None
        self.skipped = None
        self.seconds = 0.0

    def cmd(self, text):
        self.commands.append(text)

    def check(self, what, expected, ok_observed):
        """expected: "held" or "broken"; ok_observed: did the property hold?"""
        self.checks.append({"what": what, "expected": expected,
                            "observed": "held" if ok_observed else "broken"})

    def verdict(self):
        if self.skipped:
            return SKIPPED
        if self.error or not self.checks:
            return UNEXPECTED
        if any(c["expected"] != c["observed"] for c in self.checks):
            return UNEXPECTED
        if any(c["observed"] == "broken" for c in self.checks):
            return AS_EXPECTED
        return HELD


class Ctx:
    def __init__(self, args, env, out):
        self.args, self.env, self.out, self.quick = args, env, out, args.quick
        self.sim = os.path.join(args.bin, "byzlab-sim")
        self.clusters = []
        self.downs = []         # (cluster down process, cluster) still stopping

    def cluster(self, step, protocol, f, auth="mac", batch=128, ini=None, byz=None):
        """A started cluster; its init and up commands go into the step's commands."""
        r = bench.run_spec(protocol, f=f, auth=auth, batch=batch, byz=byz, ini=ini)
        c = bench.Cluster(self.env, r)
        self.clusters.append(c)
        c.start()
        d = "/tmp/tour-%s" % step.name
        sets = "".join(" --set %s=%s" % kv for kv in sorted(
            dict({"batch_max": batch, "sync": "none"}, **(ini or {})).items()))
        step.cmd("./byzlab cluster init %s --protocol %s --f %d --auth %s --base-port %d%s"
                 " --force" % (d, protocol, f, auth, c.port, sets))
        step.cmd("./byzlab cluster up %s%s" % (d, " --byz " + byz if byz else ""))
        c.hand_dir = d
        return c

    def done(self, c, step):
        """Stop c in the background (`cluster down` takes seconds on a loaded machine);
        the next cluster gets other ports meanwhile.  stop_all() waits for it."""
        step.cmd("./byzlab cluster down %s" % c.hand_dir)
        self.clusters.remove(c)
        if not c.up:
            c.remove()
            return
        proc = subprocess.Popen(c.down_argv(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=self.env.env)
        c.up = False
        self.downs.append((proc, c))

    def client(self, step, c, *args, client_id=0, timeout_ms=5000, record=True,
               timeout=120):
        argv = c.client_argv(*args, client_id=client_id, timeout_ms=timeout_ms)
        if record:
            step.cmd(hand_client(c, argv))
        return bench.sh(self.env, argv, timeout=timeout, check=False)

    def status(self, c):
        return bzharness.by_id(c.status())

    def sim_run(self, step, args, record=True):
        argv = [self.sim] + [str(a) for a in args]
        if record:     # a trace in our scratch directory: named as a person would
            shown = ["seed.trace" if str(a).startswith(SCRATCH_PREFIX) else str(a)
                     for a in args]
            step.cmd("build/bin/byzlab-sim " + " ".join(shlex.quote(a) for a in shown))
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=300)

    def stop_all(self):
        for c in list(self.clusters):
            c.stop()
            c.remove()
        self.clusters = []
        for proc, c in self.downs:
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            c.remove()
        self.downs = []


def hand_client(c, argv):
    """argv of byzlab-client as a person would type it: build/bin, the step's DIR."""
    args = [a.replace(c.dir, c.hand_dir) for a in argv[1:]]
    return "build/bin/byzlab-client " + " ".join(shlex.quote(a) for a in args)


def poll(pred, deadline_s, interval=0.1):
    """pred() until it returns something true, or None after deadline_s."""
    end = time.monotonic() + deadline_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


def counter(st, ids, key):
    return [st[i].get(key) if i in st and not st[i].get("down") else None for i in ids]


def bench_json(p):
    return bench.parse_bench(p.stdout) or {}


def plt_module():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(ctx, step, fig):
    path = os.path.join(ctx.out, step.name + ".png")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt_module().close(fig)
    step.figure = os.path.basename(path)


# ------------------------------------------------------------------ 1. partial failure

DELAY_MS = 250      # every replica-to-replica message: agreement takes ~3 x this


def step_partial_failure(ctx, s):
    c = ctx.cluster(s, "pbft", 1)
    ids = list(range(4))
    n = 4
    s.cmd("# every replica's messages to its peers are held %d ms:" % DELAY_MS)
    for i in ids:
        ctx.client(s, c, "faults", i, "delay=%d" % DELAY_MS)
    p = ctx.client(s, c, "put", "acct", "v0", client_id=1, timeout_ms=20000)
    if p.returncode != 0:
        raise RuntimeError("put acct v0 failed: %s" % p.stderr.strip())
    st0 = ctx.status(c)
    ex0 = counter(st0, ids, "requests_executed")
    # 1. the impatient client: gives up after 100 ms, long before the reply can come
    t0 = time.monotonic()
    p1 = ctx.client(s, c, "cas", "acct", "v0", "v1", client_id=2, timeout_ms=100)

    def executed():
        st = ctx.status(c)
        ex = counter(st, ids, "requests_executed")
        return ex if all(a is not None and b is not None and a >= b + 1
                         for a, b in zip(ex, ex0)) else None
    ex1 = poll(executed, 20)
    seen_ms = (time.monotonic() - t0) * 1000
    # 2. the naive retry: a new request (new timestamp) for the same intent
    p2 = ctx.client(s, c, "cas", "acct", "v0", "v1", client_id=3, timeout_ms=20000)
    st2 = ctx.status(c)
    ex2 = counter(st2, ids, "requests_executed")
    # 3. the client library's own retry: same timestamp, the replicas' client table
    ops = 12 if ctx.quick else 40
    stb = ctx.status(c)
    exb = counter(stb, ids, "requests_executed")
    leb = counter(stb, ids, "last_executed")
    pb = ctx.client(s, c, "bench", "--clients", 4, "--ops", ops, "--verify", "--quiet",
                    client_id=10, timeout_ms=30000, timeout=180)
    res = bench_json(pb)
    sta = ctx.status(c)
    exa = counter(sta, ids, "requests_executed")
    lea = counter(sta, ids, "last_executed")
    split = bzharness.diverged(sta, ids)
    ctx.done(c, s)
    sim = sim_lost_replies(ctx, s)

    delta = [a - b if a is not None and b is not None else None for a, b in zip(exa, exb)]
    seqs = [a - b if a is not None and b is not None else None for a, b in zip(lea, leb)]
    s.numbers = {
        "delay_ms": DELAY_MS, "n": n,
        "impatient_exit": p1.returncode, "impatient_stderr": p1.stderr.strip()[-200:],
        "executed_after_timeout": ex1 is not None,
        "executed_seen_after_ms": round(seen_ms),
        "naive_retry_exit": p2.returncode, "naive_retry_stderr": p2.stderr.strip()[-200:],
        "requests_executed_before_retry": ex1, "requests_executed_after_retry": ex2,
        "bench_ops": res.get("ops"), "bench_retransmits": res.get("retransmits"),
        "bench_errors": res.get("errors"), "bench_mismatches": res.get("mismatches"),
        "bench_p50_us": res.get("p50_us"),
        "requests_executed_delta": delta, "sequence_numbers_used": seqs,
        "divergence": {str(k): v for k, v in split.items()},
        "simulator": sim,
    }
    s.tables.append((["what", "replica 0", "replica 1", "replica 2", "replica 3"], [
        ["requests_executed before the bench"] + exb,
        ["requests_executed after"] + exa,
        ["executed by the bench (delta)"] + delta,
        ["sequence numbers used"] + seqs]))
    s.note = ("The impatient client (100 ms) exited %d: %r.  The replicas executed its "
              "cas anyway (seen %d ms later).  The naive retry, a new request, got: %r. "
              "The bench's clients retransmitted %s times for %s operations."
              % (p1.returncode, s.numbers["impatient_stderr"], seen_ms,
                 (p2.stdout + p2.stderr).strip()[-120:], res.get("retransmits"),
                 res.get("ops")))
    s.check("the client that gave up cannot tell: it timed out (exit != 0), yet the "
            "operation was executed", "held", p1.returncode != 0 and ex1 is not None)
    s.check("a naive retry (new request) is a second operation: cas fails with "
            "current=v1, the first attempt's effect", "held",
            p2.returncode != 0 and "current=v1" in p2.stderr)
    s.check("retransmissions of the same request (timestamp) happened", "held",
            (res.get("retransmits") or 0) > 0)
    s.check("each of the bench's %d requests executed exactly once at every replica "
            "(requests_executed delta == ops), no errors, no mismatches, no divergence"
            % ops, "held",
            res.get("ops") == ops and all(d == ops for d in delta) and
            res.get("errors") == 0 and res.get("mismatches") == 0 and not split)
    s.tables.append((["simulator, drop=0.2 (every copy, replies too)", "seeds", "replies lost",
                      "operations completed after a retry", "checkers"],
                     [["byzlab-sim --f 1 --faults drop=0.2", sim["seeds"],
                       sim["replies_lost"], sim["retried_ops"],
                       "ok" if sim["all_ok"] else "VIOLATION"]]))
    s.check("simulator: %d replies really lost, %d operations completed only after a retry, "
            "and the checkers (agreement, client consistency, linearizability) found "
            "nothing in %d seeds" % (sim["replies_lost"], sim["retried_ops"], sim["seeds"]),
            "held", sim["all_ok"] and sim["replies_lost"] > 0 and sim["retried_ops"] > 0)

    plt = plt_module()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sent = (res.get("ops") or 0) + (res.get("retransmits") or 0)
    labels = ["client: sends\n(with retransmissions)"] + ["replica %d:\nexecuted" % i
                                                            for i in ids]
    vals = [sent] + [d or 0 for d in delta]
    bars = ax.bar(range(len(vals)), vals, color=["tab:orange"] + ["tab:blue"] * len(ids))
    for rect, v in zip(bars, vals):
        ax.annotate(str(v), (rect.get_x() + rect.get_width() / 2, v), ha="center",
                    va="bottom", fontsize=8)
    ax.axhline(ops, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(vals)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_title("%d requests, %s retransmissions: each executed once"
                 % (ops, res.get("retransmits")))
    save(ctx, s, fig)


def sim_lost_replies(ctx, s):
    """The real replicas cannot drop a reply (their faults act on peer links only); the
    simulator can: every message copy, replies included, is lost with probability 0.2."""
    seeds = 5 if ctx.quick else 20
    tmp = tempfile.mkdtemp(prefix="tour-trace.")
    lost = retried = 0
    ok = True
    try:
        for seed in range(1, seeds + 1):
            trace = os.path.join(tmp, "s%d" % seed)
            p = ctx.sim_run(s, ["--f", 1, "--faults", "drop=0.2", "--seed", seed, "--trace",
                                trace], record=(seed == 1))
            ok = ok and p.returncode == 0
            with open(trace) as f:
                for line in f:
                    w = line.split()
                    if len(w) >= 6 and w[1] == "drop" and w[4].startswith("c") and \
                            w[5] == "reply":
                        lost += 1
                    elif len(w) >= 2 and w[1] == "complete" and "tries=0" not in w:
                        retried += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"seeds": seeds, "replies_lost": lost, "retried_ops": retried, "all_ok": ok}


# ------------------------------------------------------------------ 2. timeouts

TIMEOUTS_MS = [25, 50, 100, 200, 500, 1000, 2000]


def sim_seed_lines(text):
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "seed" and parts[1].isdigit():
            kv = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            out[int(parts[1])] = dict(kv, ok=parts[2] == "ok", line=line)
    return out


def first_completion_ms(trace):
    try:
        with open(trace) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[1] == "complete":
                    return float(parts[0])
    except OSError:
        pass
    return None


def step_timeouts(ctx, s):
    seeds = 4 if ctx.quick else 20
    rows = []
    tmp = tempfile.mkdtemp(prefix="tour-trace.")
    all_safe = True
    try:
        for k, t in enumerate(TIMEOUTS_MS):
            p = ctx.sim_run(s, ["--f", 1, "--faults", "delay=pareto", "--view-timeout", t,
                                "--seeds", "1-%d" % seeds, "--keep-going", "-v"],
                            record=(k in (0, len(TIMEOUTS_MS) - 1)))
            seed_info = sim_seed_lines(p.stdout)
            all_safe = all_safe and p.returncode == 0 and len(seed_info) == seeds
            views = sum(int(x.get("views", 0)) for x in seed_info.values())
            sim_ms = sum(int(x.get("sim_ms", 0)) for x in seed_info.values()) or 1
            ops = sum(int(x.get("ops", 0)) for x in seed_info.values())
            fo = []
            for seed in range(1, seeds + 1):
                trace = os.path.join(tmp, "t%d-%d" % (t, seed))
                q = ctx.sim_run(s, ["--f", 1, "--faults", "delay=pareto", "--view-timeout",
                                    t, "--byz", "0=silent", "--seed", seed, "--trace",
                                    trace], record=(seed == 1 and k == len(TIMEOUTS_MS) - 1))
                all_safe = all_safe and q.returncode == 0
                v = first_completion_ms(trace)
                if v is not None:
                    fo.append(v)
            rows.append({"view_timeout_ms": t,
                         "view_changes_per_min": round(views * 60000.0 / sim_ms, 1),
                         "ops_per_s": round(ops * 1000.0 / sim_ms, 1),
                         "failover_ms": round(sum(fo) / len(fo), 1) if fo else None})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s.cmd("# ... and the same for every view_timeout_ms in %s" % TIMEOUTS_MS)
    s.numbers = {"seeds": seeds, "sweep": rows}
    s.tables.append((["view_timeout_ms", "view changes / sim minute (no failure)",
                      "ops / sim s", "first reply with a dead primary (ms)"],
                     [[r["view_timeout_ms"], r["view_changes_per_min"], r["ops_per_s"],
                       r["failover_ms"]] for r in rows]))
    lo, hi = rows[0], rows[-1]
    top = max(r["ops_per_s"] for r in rows)
    knee = next(r for r in rows if r["ops_per_s"] >= 0.9 * top)
    s.numbers["knee_view_timeout_ms"] = knee["view_timeout_ms"]
    s.note = ("The knee: %d ms is the shortest timeout whose throughput without failures is "
              "within 10%% of the best (%.1f of %.1f ops per simulated s); a dead primary "
              "then costs %s ms. Shorter timeouts depose live primaries under the Pareto "
              "tail; longer ones only wait longer for dead ones."
              % (knee["view_timeout_ms"], knee["ops_per_s"], top, knee["failover_ms"]))
    s.check("every run safe and live (the simulator's checkers, all seeds)", "held",
            all_safe)
    s.check("short timeouts suspect live primaries: view changes/min at %d ms (%.0f) > at "
            "%d ms (%.0f)" % (lo["view_timeout_ms"], lo["view_changes_per_min"],
                              hi["view_timeout_ms"], hi["view_changes_per_min"]), "held",
            lo["view_changes_per_min"] > hi["view_changes_per_min"])
    best = min(r["failover_ms"] or 1e9 for r in rows)
    s.check("long timeouts wait for dead primaries: fail-over at %d ms (%.0f ms) > 2x the "
            "fastest fail-over of the sweep (%.0f ms)" % (hi["view_timeout_ms"],
                                                          hi["failover_ms"] or 0, best),
            "held", (hi["failover_ms"] or 0) > 2 * best)

    plt = plt_module()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6))
    xs = [r["view_timeout_ms"] for r in rows]
    ax.plot(xs, [r["view_changes_per_min"] for r in rows], "o-", color="tab:red",
            label="spurious view changes / min")
    ax.set_xscale("log")
    ax.set_xlabel("view_timeout_ms")
    ax.set_ylabel("view changes / min", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["failover_ms"] or 0 for r in rows], "s--", color="tab:blue",
             label="fail-over (ms)")
    ax2.set_ylabel("fail-over after a dead primary (ms)", color="tab:blue")
    ax.set_title("Pareto delays: the timeout dilemma (%d seeds each)" % seeds, fontsize=10)
    ax.grid(alpha=0.3)
    # the trade-off itself: throughput without failures against fail-over time
    bx.plot([r["failover_ms"] or 0 for r in rows], [r["ops_per_s"] for r in rows], "o-",
            color="tab:purple")
    for r in rows:
        bx.annotate("%d ms" % r["view_timeout_ms"], (r["failover_ms"] or 0, r["ops_per_s"]),
                    fontsize=7, xytext=(3, -9), textcoords="offset points")
    bx.set_xlabel("fail-over after a dead primary (ms)")
    bx.set_ylabel("ops per simulated s (no failure)")
    bx.set_title("throughput against fail-over", fontsize=10)
    bx.grid(alpha=0.3)
    save(ctx, s, fig)


# ------------------------------------------------------------------ 5. quorums

def msgs_per_op(ctx, s, protocol, f, ops):
    c = ctx.cluster(s, protocol, f, batch=1)
    p = ctx.client(s, c, "bench", "--clients", 1, "--ops", ops, "--warmup", 0.5, "--cost",
                   "--quiet", client_id=0, timeout_ms=10000)
    res = bench_json(p)
    ctx.done(c, s)
    n = bzharness.protocol_n(protocol, f)
    return {"protocol": protocol, "f": f, "n": n, "measured": res.get("msgs_per_op"),
            "formula": bench.formulas(protocol, n, "mac")[0]}


def old_view_rejected(st, ids):
    return sum(st[i]["rejected"]["old_view"] for i in ids if not st[i].get("down"))


def oneway_primary(ctx, s):
    """VR f=1: replica 0 (primary of view 0) cut off both ways; the others elect a new
    primary; then they hear it again while it still hears nobody (one-way).  VR, since
    a VR primary never suspects itself: it goes on heartbeating in view 0 (a PBFT
    primary with requests pending starts a view change of its own and falls silent)."""
    c = ctx.cluster(s, "vr", 1, ini={"view_timeout_ms": 500})
    ids = [0, 1, 2]
    ctx.client(s, c, "put", "k", "before", client_id=1, timeout_ms=10000)
    s.cmd("# replica 0 hears nobody; nobody hears replica 0:")
    ctx.client(s, c, "faults", 0, "oneway=1,2")
    for i in (1, 2):
        ctx.client(s, c, "faults", i, "oneway=0")

    def moved():
        st = ctx.status(c)
        return st if all(not st[i].get("down") and st[i]["view"] >= 1 and
                         not st[i].get("view_changing") for i in (1, 2)) else None
    t0 = time.monotonic()
    moved_st = poll(moved, 20)
    vc_ms = (time.monotonic() - t0) * 1000
    p = ctx.client(s, c, "put", "k", "during", client_id=2, timeout_ms=30000)
    before = old_view_rejected(ctx.status(c), (1, 2))
    s.cmd("# the others hear replica 0 again; it still hears nobody (one-way):")
    for i in (1, 2):
        ctx.client(s, c, "faults", i, "none")
    # a client that never heard of the new view talks to replica 0 first
    p2 = ctx.client(s, c, "put", "k", "to-zombie", client_id=3, timeout_ms=30000)

    def fenced():
        st2 = ctx.status(c)
        r = old_view_rejected(st2, (1, 2))
        return (st2, r) if r > before + 2 else None
    got = poll(fenced, 10)
    st2, after = got if got else (ctx.status(c), old_view_rejected(ctx.status(c), (1, 2)))
    p3 = ctx.client(s, c, "get", "k", client_id=4, timeout_ms=30000)
    views = counter(st2, ids, "view")
    split = bzharness.diverged(st2, [1, 2])
    ctx.client(s, c, "faults", 0, "none")
    ctx.done(c, s)
    return {"view_change_seen": moved_st is not None, "view_change_ms": round(vc_ms),
            "put_during_exit": p.returncode, "put_to_zombie_exit": p2.returncode,
            "get_after": p3.stdout.strip(), "views": views,
            "old_view_rejected_before": before, "old_view_rejected_after": after,
            "divergence": {str(k): v for k, v in split.items()}}


def step_quorums(ctx, s):
    ow = oneway_primary(ctx, s)
    # --quick: f = 1 only (the tour's test must stay short); full: f = 1 and 2
    ops = 60 if ctx.quick else 300
    fs = (1,) if ctx.quick else (1, 2)
    mp = [msgs_per_op(ctx, s, p, f, ops) for p in ("pbft", "vr") for f in fs]
    s.numbers = {"oneway": ow, "msgs_per_op": mp}
    v = ow["views"]
    s.tables.append((["protocol", "f", "n", "quorum", "messages/request measured",
                      "formula (docs/EXPERIMENTS.md §5)"],
                     [[m["protocol"], m["f"], m["n"],
                       2 * m["f"] + 1 if m["protocol"] == "pbft" else m["f"] + 1,
                       m["measured"], m["formula"]] for m in mp]))
    s.note = ("One-way primary (VR f=1): views of replicas 0-2 %s; new view after %d ms; "
              "old-view messages rejected by 1-2: %d -> %d; get after: %r."
              % (v, ow["view_change_ms"], ow["old_view_rejected_before"],
                                                 ow["old_view_rejected_after"],
                                                 ow["get_after"]))
    s.check("the majority declared replica 0 dead: replicas 1-2 moved to a view >= 1 "
            "while 0, hearing nobody, stayed primary of view 0; writes went on",
            "held", ow["view_change_seen"] and ow["put_during_exit"] == 0 and
            all((x or 0) >= 1 for x in v[1:]) and v[0] == 0)
    s.check("its old-view messages are rejected: rejected.old_view at 1-2 grew "
            "(%d -> %d)" % (ow["old_view_rejected_before"], ow["old_view_rejected_after"]),
            "held", ow["old_view_rejected_after"] > ow["old_view_rejected_before"])
    s.check("the quorum's truth: the zombie's client still completes, reads see the last "
            "write, replicas 1-2 agree", "held",
            ow["put_to_zombie_exit"] == 0 and ow["get_after"] == "to-zombie" and
            not ow["divergence"])
    for m in mp:
        ok = m["measured"] is not None and abs(m["measured"] - m["formula"]) <= \
            0.25 * m["formula"]
        s.check("%s f=%d (n=%d): %s messages/request, formula %d (within 25%%)"
                % (m["protocol"], m["f"], m["n"], m["measured"], m["formula"]), "held", ok)

    plt = plt_module()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = ["%s f=%d n=%d" % (m["protocol"], m["f"], m["n"]) for m in mp]
    xs = range(len(mp))
    ax.bar([x - 0.2 for x in xs], [m["measured"] or 0 for m in mp], 0.4, label="measured")
    ax.bar([x + 0.2 for x in xs], [m["formula"] for m in mp], 0.4, label="formula")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("messages per request")
    ax.set_title("the price of a Byzantine quorum (batch 1, one client)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save(ctx, s, fig)


# ------------------------------------------------------------------ 6. byzantine

PBFT_LIARS = ["0=silent", "0=equivocate", "3=bad-digest", "3=forge", "3=replay",
              "3=wrong-reply", "0=slow-primary:300", "3=fake-view-change", "3=flood:2000",
              "0=selective:1,2", "0=twins"]


def first_violation(text):
    for line in text.splitlines():
        if line.startswith("seed ") and " FAIL " in line:
            return line
    return ""


def step_byzantine(ctx, s):
    seeds = "1-%d" % (5 if ctx.quick else 50)
    rows = []

    def run(label, protocol, f, liars, expected):
        args = ["--protocol", protocol, "--f", f]
        for b in liars:
            args += ["--byz", b]
        args += ["--seeds", seeds, "--keep-going", "-q"]
        p = ctx.sim_run(s, args)
        failed = sum(1 for ln in p.stdout.splitlines()
                     if ln.startswith("seed ") and " FAIL " in ln)
        total = int(seeds.split("-")[1])
        rows.append({"what": label, "protocol": protocol, "f": f, "liars": liars,
                     "seeds": seeds, "violations": failed, "total": total,
                     "first": first_violation(p.stdout), "exit": p.returncode})
        s.check("%s: %s" % (label, "no violation in %d seeds" % total if failed == 0
                            else "%d/%d seeds violated" % (failed, total)),
                expected, failed == 0 and p.returncode == 0)

    for b in PBFT_LIARS:
        run("PBFT f=1, one liar %s" % b, "pbft", 1, [b], "held")
    run("VR f=1, its primary equivocates", "vr", 1, ["0=equivocate"], "broken")
    run("VR f=1, its primary lies in replies", "vr", 1, ["0=wrong-reply"], "broken")
    run("PBFT f=1, f+1 = 2 liars with the same wrong replies", "pbft", 1,
        ["1=wrong-reply", "2=wrong-reply"], "broken")
    s.numbers = {"runs": rows}
    s.tables.append((["experiment", "seeds", "violations", "first violation"],
                     [[r["what"], r["seeds"], "%d/%d" % (r["violations"], r["total"]),
                       r["first"][:160]] for r in rows]))

    plt = plt_module()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    fr = [r["violations"] / float(r["total"]) for r in rows]
    colors = ["tab:green" if v == 0 else "tab:red" for v in fr]
    ax.barh(range(len(rows)), fr, color=colors)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["what"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of seeds with a safety violation (simulator checkers)")
    ax.set_title("one liar: PBFT holds, VR breaks; f+1 liars break PBFT")
    save(ctx, s, fig)


# ------------------------------------------------------------------ 7. safety-liveness

SLOW_MS, SLOW_CLIENTS = 500, 16  # half the view timeout: a margin for a loaded machine


def bench_series(ctx, s, c, seconds, client_id, record=True):
    p = ctx.client(s, c, "bench", "--clients", SLOW_CLIENTS, "--seconds", seconds,
                   "--verify", "--interval", 500, "--quiet", client_id=client_id,
                   timeout_ms=60000, timeout=seconds + 120, record=record)
    return bench_json(p)


def votes(st, ids):
    return sum(st[i]["robust"]["vc_heartbeat"] + st[i]["robust"]["vc_monitor"]
               for i in ids if not st[i].get("down"))


def slow_primary(ctx, s, robust, seconds):
    c = ctx.cluster(s, "pbft", 1, ini={"robust": robust, "view_timeout_ms": 1000},
                    byz="0=slow-primary:%d" % SLOW_MS)
    first = bench_series(ctx, s, c, seconds, 10)
    after, st = None, ctx.status(c)
    if robust == "on":
        def replaced():
            st2 = ctx.status(c)
            ok = all(not st2[i].get("down") and st2[i]["view"] >= 1 and
                     st2[i]["primary"] != 0 for i in (1, 2, 3))
            return st2 if ok else None
        st = poll(replaced, 30) or ctx.status(c)
        after = bench_series(ctx, s, c, seconds, 40)
        st = ctx.status(c)
    split = bzharness.diverged(st, [1, 2, 3])
    ctx.done(c, s)
    return {"robust": robust, "first": first, "after": after,
            "views": counter(st, [0, 1, 2, 3], "view"), "votes": votes(st, [1, 2, 3]),
            "divergence": {str(k): v for k, v in split.items()}}


def partition(ctx, s, seconds):
    c = ctx.cluster(s, "pbft", 1)
    ids = [0, 1, 2, 3]
    argv = c.client_argv("bench", "--clients", 4, "--seconds", seconds, "--interval", 250,
                         "--quiet", client_id=10, timeout_ms=60000)
    s.cmd(hand_client(c, argv) + " &")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ctx.env.env)
    cut_at, heal_at = seconds * 0.3, seconds * 0.6
    time.sleep(max(0.0, cut_at - (time.monotonic() - t0)))
    s.cmd("# after %.1f s: two halves of two replicas (no side has a quorum of 3)" % cut_at)
    for i in ids:
        ctx.client(s, c, "faults", i, "partition=0,1/2,3")
    t_cut = time.monotonic() - t0
    time.sleep(0.5)         # what was already prepared may still commit: a grace
    le_cut = max(x or 0 for x in counter(ctx.status(c), ids, "last_executed"))
    time.sleep(max(0.0, heal_at - (time.monotonic() - t0)))
    le_heal = max(x or 0 for x in counter(ctx.status(c), ids, "last_executed"))
    s.cmd("# after %.1f s: healed" % heal_at)
    for i in ids:
        ctx.client(s, c, "faults", i, "none")
    t_heal = time.monotonic() - t0
    try:
        out, _ = proc.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    res = bench.parse_bench(out) or {}
    p = ctx.client(s, c, "put", "after-heal", "1", client_id=20, timeout_ms=60000,
                   timeout=90)
    st = ctx.status(c)
    ctx.done(c, s)
    return {"cut_s": round(t_cut, 2), "heal_s": round(t_heal, 2),
            "last_executed_at_cut": le_cut, "last_executed_at_heal": le_heal,
            "bench": res, "put_after_heal_exit": p.returncode,
            "views": counter(st, ids, "view"),
            "divergence": {str(k): v for k, v in bzharness.diverged(st, ids).items()}}


def step_safety_liveness(ctx, s):
    seconds = 2 if ctx.quick else 5
    off = slow_primary(ctx, s, "off", seconds)
    on = slow_primary(ctx, s, "on", seconds)
    part = partition(ctx, s, 5 if ctx.quick else 10)
    s.numbers = {"slow_primary_ms": SLOW_MS, "clients": SLOW_CLIENTS, "seconds": seconds,
                 "robust_off": off, "robust_on": on, "partition": part}
    bound = SLOW_CLIENTS * seconds * 1000.0 / SLOW_MS + SLOW_CLIENTS
    tp_off = off["first"].get("ops", 0)
    tp_on = (on["after"] or {}).get("ops", 0)
    s.tables.append((["run", "ops in %d s" % seconds, "ops/s", "views (0-3)",
                      "robust votes", "mismatches"], [
        ["slow primary, robust = off", tp_off, off["first"].get("throughput"),
         off["views"], off["votes"], off["first"].get("mismatches")],
        ["slow primary, robust = on: first %d s" % seconds, on["first"].get("ops"),
         on["first"].get("throughput"), "", "", on["first"].get("mismatches")],
        ["slow primary, robust = on: after the view change", tp_on,
         (on["after"] or {}).get("throughput"), on["views"], on["votes"],
         (on["after"] or {}).get("mismatches")],
        ["partition 2/2, then healed", part["bench"].get("ops"),
         part["bench"].get("throughput"), part["views"], "",
         "errors %s" % part["bench"].get("errors")]]))
    safe_off = off["first"].get("mismatches") == 0 and not off["divergence"]
    s.check("slow primary, robust = off: safe (no mismatch, no divergence)", "held", safe_off)
    s.check("slow primary, robust = off: no view change (views %s) and nearly stopped (%d "
            "ops in %d s, at most %.0f possible at %d ms per request)"
            % (off["views"], tp_off, seconds, bound, SLOW_MS), "held",
            0 < tp_off <= bound and all(v == 0 for v in off["views"]))
    s.check("robust = on: the backups voted the slow primary out (view >= 1, %d votes) "
            "and service came back (%d ops in %d s >= 4x the slow bound)"
            % (on["votes"], tp_on, seconds), "held",
            on["votes"] >= 2 and all((v or 0) >= 1 for v in on["views"][1:]) and
            tp_on >= 4 * bound and (on["after"] or {}).get("mismatches") == 0 and
            not on["divergence"])
    s.check("partition 2/2: nothing committed while no side had a quorum "
            "(last_executed %d -> %d)" % (part["last_executed_at_cut"],
                                          part["last_executed_at_heal"]), "held",
            part["last_executed_at_heal"] == part["last_executed_at_cut"])
    s.check("after the heal service returned (bench finished without errors, a put "
            "succeeded) and nothing unsafe happened (no divergence)", "held",
            part["bench"].get("errors") == 0 and part["put_after_heal_exit"] == 0 and
            not part["divergence"])

    plt = plt_module()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))

    def series(res, dt):
        return [v / dt for v in (res or {}).get("series", [])][:-1]
    ax = axes[0]
    a = series(off["first"], 0.5)
    ax.plot([i * 0.5 for i in range(len(a))], a, label="robust = off")
    b = series(on["first"], 0.5) + series(on["after"], 0.5)
    ax.plot([i * 0.5 for i in range(len(b))], b, label="robust = on (two benches)")
    ax.set_yscale("symlog")
    ax.set_xlabel("s")
    ax.set_ylabel("ops/s")
    ax.set_title("slow primary (%d ms per PRE-PREPARE)" % SLOW_MS)
    ax.legend(fontsize=8)
    ax = axes[1]
    c = series(part["bench"], 0.25)
    ax.plot([i * 0.25 for i in range(len(c))], c, color="tab:purple")
    for t, lab in ((part["cut_s"], "cut"), (part["heal_s"], "heal")):
        ax.axvline(t, linestyle=":", color="black")
        ax.annotate(lab, (t, 0), rotation=90, fontsize=8, va="bottom")
    ax.set_xlabel("s")
    ax.set_ylabel("ops/s")
    ax.set_title("partition 0,1 | 2,3 then heal")
    save(ctx, s, fig)


# ------------------------------------------------------------------ 3. clocks, 4. pauses

LEASE_MS, LEASE_VT_MS = 1000, 500   # read_lease_ms and view_timeout_ms of both steps
SLOW_RATE, WITHIN_RATE = 0.05, 0.92  # beyond the lease's 12% drift bound, and within it
PAUSE_MS = 6000                      # pause_before_reply: longer than a view change
PAUSE_QUICK_MS = 4500


def lincheck(history, initial=None):
    """A single-register linearizability checker (Herlihy & Wing): history is a list of
    {"op": "put"|"get", "value", "inv", "resp"} with the harness's clock around each
    client process (wider than the real intervals: a violation found is real).
    Returns None if some order respects real time and register semantics, else the two
    operations that prove there is none: a get that returned a value already
    overwritten by a put that completed before the get was invoked."""
    ops = list(range(len(history)))

    def search(done, value):
        if len(done) == len(ops):
            return True
        pending = [i for i in ops if i not in done]
        first_resp = min(history[i]["resp"] for i in pending)
        for i in pending:
            h = history[i]
            if h["inv"] > first_resp:
                continue            # some pending op completed before this one began
            if h["op"] == "get" and h["value"] != value:
                continue
            nv = h["value"] if h["op"] == "put" else value
            if search(done | {i}, nv):
                return True
        return False

    if search(frozenset(), initial):
        return None
    for g in history:
        if g["op"] != "get":
            continue
        for w in history:
            if (w["op"] == "put" and w["value"] != g["value"] and w["resp"] < g["inv"]
                    and any(w2["op"] == "put" and w2["value"] == g["value"] and
                            w2["resp"] < w["inv"] for w2 in history)):
                return (w, g)
    return ("no linearization", None)


def timed_op(ctx, s, c, hist, t0, label, *args, client_id, timeout_ms=20000):
    """One client operation, its interval on the harness's clock, into hist."""
    inv = time.monotonic() - t0
    p = ctx.client(s, c, *args, client_id=client_id, timeout_ms=timeout_ms)
    resp = time.monotonic() - t0
    out = p.stdout.strip()
    h = {"label": label, "op": args[0], "client": client_id, "inv": round(inv, 6),
         "resp": round(resp, 6), "exit": p.returncode,
         "value": args[2] if args[0] == "put" else (out if p.returncode == 0 else None)}
    hist.append(h)
    return h


def describe(pair):
    if pair is None:
        return "linearizable"
    if pair[1] is None:
        return "no linearization"
    w, g = pair
    return ("NOT linearizable: %s (client %d) completed at %.4f s, then %s (client %d), "
            "invoked at %.4f s, returned %r - a value already overwritten"
            % (w["label"], w["client"], w["resp"], g["label"], g["client"], g["inv"],
               g["value"]))


def lease_ready(ctx, s, c, t0, hist, client_id):
    """Gets until one is answered from replica 0's lease (its requests_readonly moves):
    the lease needs a stamped COMMIT echoed first.  Returns that, or False."""
    def leased():
        before = (ctx.status(c).get(0) or {}).get("requests_readonly") or 0
        timed_op(ctx, s, c, hist, t0, "get x (lease)", "get", "x", client_id=client_id)
        return ((ctx.status(c).get(0) or {}).get("requests_readonly") or 0) > before
    return bool(poll(leased, 15, interval=0.2))


def quick_status(ctx, c):
    """Status with a short wait: a paused replica costs 0.4 s, not 2."""
    p = ctx.client(None, c, "status", timeout_ms=400, record=False, timeout=30)
    return bzharness.by_id(bzharness.parse_status(p.stdout, strict=False))


def views_moved(ctx, c, ids):
    def moved():
        st = quick_status(ctx, c)
        return st if all(not st[i].get("down") and st[i]["view"] >= 1 and
                         not st[i].get("view_changing") for i in ids) else None
    return poll(moved, 30)


def deposed_primary(ctx, s, protocol, rate):
    """Replica 0, the primary, is cut off from the other replicas (clients still reach
    it) and from then on its clock runs at rate x real time.  The others elect a new
    primary and a put commits there; then a fresh client, which sends to replica 0
    first, reads."""
    ids = list(range(bzharness.protocol_n(protocol, 1)))
    ini = {"view_timeout_ms": LEASE_VT_MS}
    ini.update({"read_lease_ms": LEASE_MS} if protocol == "vr" else {"read_only": "on"})
    c = ctx.cluster(s, protocol, 1, batch=1, ini=ini)
    hist, t0 = [], time.monotonic()
    timed_op(ctx, s, c, hist, t0, "put x=old", "put", "x", "old", client_id=1)
    leased = lease_ready(ctx, s, c, t0, hist, 2) if protocol == "vr" else None
    others = ",".join(str(i) for i in ids[1:])
    s.cmd("# replica 0 is cut off from the other replicas; its clock runs at %gx:" % rate)
    ctx.client(s, c, "faults", 0, "partition=0/%s;clock_rate=%g" % (others, rate))
    for i in ids[1:]:
        ctx.client(s, c, "faults", i, "partition=0/%s" % others)
    if protocol == "vr":
        views_moved(ctx, c, ids[1:])
    put = timed_op(ctx, s, c, hist, t0, "put x=new", "put", "x", "new", client_id=3,
                   timeout_ms=30000)
    get = timed_op(ctx, s, c, hist, t0, "get x", "get", "x", client_id=4, timeout_ms=30000)
    st = ctx.status(c)
    for i in ids:
        ctx.client(s, c, "faults", i, "none")
    ctx.done(c, s)
    pair = lincheck([h for h in hist if h["exit"] == 0])
    return {"protocol": protocol, "clock_rate": rate, "history": hist,
            "lease_read_before_cut": leased, "put_exit": put["exit"], "get_value": get["value"],
            "readonly_at_0": counter(st, [0], "requests_readonly")[0],
            "views": counter(st, ids, "view"), "lincheck": describe(pair),
            "linearizable": pair is None}


def timeline(ax, hist, title):
    colors = {"put": "tab:blue", "get": "tab:green"}
    for k, h in enumerate(hist):
        ax.barh(k, h["resp"] - h["inv"], left=h["inv"], color=colors[h["op"]], height=0.5)
        ax.annotate("%s -> %s" % (h["label"], h["value"]) if h["op"] == "get" else h["label"],
                    (h["resp"], k), xytext=(3, -3), textcoords="offset points", fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("seconds (harness clock)")
    ax.set_title(title, fontsize=9)


SIM_LEASE_FAULTS = "drop=0.05,partition,oneway,drift"


def sim_drift(ctx, s, protocol, rate, seeds):
    """byzlab-sim: replica 0's clock at rate x, with loss, partitions, one-way links and
    every other clock drifting +-10%; VR with leases, PBFT with its read-only path."""
    args = ["--protocol", protocol, "--f", 1, "--faults", SIM_LEASE_FAULTS,
            "--clock-rate", "0=%g" % rate, "--seeds", "1-%d" % seeds, "--keep-going", "-q"]
    args += (["--read-lease", 500, "--view-timeout", 200] if protocol == "vr"
             else ["--read-only"])
    p = ctx.sim_run(s, args)
    failed = sum(1 for ln in p.stdout.splitlines() if ln.startswith("seed ") and " FAIL " in ln)
    return {"protocol": protocol, "clock_rate": rate, "seeds": seeds, "violations": failed,
            "first": first_violation(p.stdout), "exit": p.returncode}


def step_clocks(ctx, s):
    beyond = deposed_primary(ctx, s, "vr", SLOW_RATE)
    # --quick: the processes show the stale read; the rest by the simulator alone
    within = None if ctx.quick else deposed_primary(ctx, s, "vr", WITHIN_RATE)
    pbft = None if ctx.quick else deposed_primary(ctx, s, "pbft", SLOW_RATE)
    seeds = 200 if ctx.quick else 500
    sims = [sim_drift(ctx, s, "vr", 0.25, seeds), sim_drift(ctx, s, "vr", WITHIN_RATE, seeds),
            sim_drift(ctx, s, "pbft", 0.25, seeds // 2)]
    s.numbers = {"read_lease_ms": LEASE_MS, "view_timeout_ms": LEASE_VT_MS,
                 "drift_bound_pct": 12, "beyond": beyond, "within": within, "pbft": pbft,
                 "simulator": sims}
    rows = []
    for name, r in (("VR, lease, clock %gx (beyond the bound)" % SLOW_RATE, beyond),
                    ("VR, lease, clock %gx (within)" % WITHIN_RATE, within),
                    ("PBFT read-only (2f+1), clock %gx" % SLOW_RATE, pbft)):
        if r:
            rows.append([name, r["get_value"], r["readonly_at_0"], r["lincheck"]])
    s.tables.append((["experiment", "get x after put x=new", "reads answered alone by replica 0",
                      "linearizability checker"], rows))
    s.note = ("read_lease_ms = %d, view_timeout_ms = %d. The lease assumes clocks within "
              "12%% of real time: the primary trusts %d ms of its own clock, a new primary "
              "waits %d ms of its own. Replica 0's clock is set when it is cut off."
              % (LEASE_MS, LEASE_VT_MS, LEASE_MS * 88 // 112, LEASE_MS))
    s.check("VR, clock at %gx (beyond the bound): a lease read was served alone before the "
            "cut" % SLOW_RATE, "held", bool(beyond["lease_read_before_cut"]))
    s.check("VR, clock at %gx (beyond the bound): %s" % (SLOW_RATE, beyond["lincheck"]),
            "broken", beyond["linearizable"] and beyond["put_exit"] == 0)
    if within:
        s.check("VR, clock at %gx (within the bound): %s" % (WITHIN_RATE, within["lincheck"]),
                "held", within["linearizable"] and within["get_value"] == "new")
    if pbft:
        s.check("PBFT read-only path, clock at %gx: %s" % (SLOW_RATE, pbft["lincheck"]),
                "held", pbft["linearizable"] and pbft["get_value"] == "new")
    vb, vw, pb = sims
    s.tables.append((["simulator (" + SIM_LEASE_FAULTS + ")", "seeds", "violations",
                      "first violation"],
                     [["%s, replica 0's clock %gx" % (r["protocol"], r["clock_rate"]),
                       r["seeds"], r["violations"], r["first"][:160]] for r in sims]))
    s.check("simulator, VR lease, clock 0.25x: %d/%d seeds not linearizable"
            % (vb["violations"], vb["seeds"]), "broken", vb["violations"] == 0)
    s.check("simulator, VR lease, clock %gx: %d/%d seeds violated"
            % (WITHIN_RATE, vw["violations"], vw["seeds"]), "held",
            vw["violations"] == 0 and vw["exit"] == 0)
    s.check("simulator, PBFT read-only, clock 0.25x: %d/%d seeds violated"
            % (pb["violations"], pb["seeds"]), "held", pb["violations"] == 0 and pb["exit"] == 0)
    plt = plt_module()
    runs = [(beyond, "VR lease, clock %gx: stale read" % SLOW_RATE),
            (within, "VR lease, clock %gx" % WITHIN_RATE),
            (pbft, "PBFT read-only, clock %gx" % SLOW_RATE)]
    runs = [r for r in runs if r[0]]
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs) + 1, 2.8), squeeze=False)
    for ax, (r, title) in zip(axes[0], runs):
        timeline(ax, r["history"], title)
    save(ctx, s, fig)


def step_pauses(ctx, s):
    ids = [0, 1, 2]
    pause_ms = PAUSE_QUICK_MS if ctx.quick else PAUSE_MS
    c = ctx.cluster(s, "vr", 1, batch=1,
                    ini={"view_timeout_ms": LEASE_VT_MS, "read_lease_ms": LEASE_MS})
    hist, t0 = [], time.monotonic()
    timed_op(ctx, s, c, hist, t0, "put x=old", "put", "x", "old", client_id=1)
    leased = lease_ready(ctx, s, c, t0, hist, 2)
    rej0 = old_view_rejected(ctx.status(c), (1, 2))
    s.cmd("# replica 0 (the primary) will stop %d ms between its lease check and the "
          "reply:" % pause_ms)
    ctx.client(s, c, "faults", 0, "pause_before_reply=%d" % pause_ms)
    argv = c.client_argv("get", "x", client_id=5, timeout_ms=30000)
    s.cmd(hand_client(c, argv) + " &")
    g_inv = time.monotonic() - t0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ctx.env.env)
    moved = views_moved(ctx, c, (1, 2))
    put = timed_op(ctx, s, c, hist, t0, "put x=new", "put", "x", "new", client_id=6,
                   timeout_ms=30000)
    # the order of events, not a timing: replica 0 still paused once the put committed
    still_paused = bool((quick_status(ctx, c).get(0) or {}).get("down"))
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    g_resp = time.monotonic() - t0
    hist.append({"label": "get x (sent to replica 0)", "op": "get", "client": 5, "inv": round(g_inv, 6),
                 "resp": round(g_resp, 6), "exit": proc.returncode,
                 "value": out.strip() if proc.returncode == 0 else None})
    got = poll(lambda: (lambda st: (st, old_view_rejected(st, (1, 2)))
                        if old_view_rejected(st, (1, 2)) > rej0 else None)(ctx.status(c)), 15)
    st, rej1 = got if got else (ctx.status(c), old_view_rejected(ctx.status(c), (1, 2)))
    final = timed_op(ctx, s, c, hist, t0, "get x (after)", "get", "x", client_id=7,
                     timeout_ms=30000)
    st = ctx.status(c)
    fz = (st.get(0) or {}).get("faults") or {}
    paused, late = fz.get("paused"), fz.get("late_replies")
    ctx.client(s, c, "faults", 0, "none")
    ctx.done(c, s)
    zombie = hist[-2]
    pair = lincheck([h for h in hist if h["exit"] == 0])
    stale = bool(late) and put["exit"] == 0 and still_paused
    s.numbers = {"pause_ms": pause_ms, "read_lease_ms": LEASE_MS,
                 "view_timeout_ms": LEASE_VT_MS, "history": hist,
                 "lease_read_before_pause": leased, "new_view_during_pause": moved is not None,
                 "zombie_paused_when_put_completed": still_paused, "pauses_taken": paused,
                 "late_replies": late,
                 "old_view_rejected_before": rej0, "old_view_rejected_after": rej1,
                 "final_value": final["value"], "views": counter(st, ids, "view"),
                 "lincheck": describe(pair)}
    s.tables.append((["operation", "client", "invoked (s)", "completed (s)", "result"],
                     [[h["label"], h["client"], "%.3f" % h["inv"], "%.3f" % h["resp"],
                       h["value"] if h["op"] == "get" else ("OK" if h["exit"] == 0 else
                                                            "exit %d" % h["exit"])]
                      for h in hist]))
    s.note = ("Replica 0 checked its lease, stopped %d ms (pauses taken: %s), then sent its "
              "answer x=old anyway: by its own clock, once awake, %s reply left after the "
              "lease it came from had ended (late_replies). Meanwhile the others had moved "
              "to view %s and committed put x=new (replica 0 was still paused when the put "
              "completed). The client's get got %r: it had resent the get to every replica "
              "and the new primary answered first, so the clients' history stays "
              "linearizable (%s) - the protocol's retransmission outran the zombie, not "
              "its lease. A get invoked before the put may return x=old anyway: a late "
              "stale answer is indistinguishable from an early one. Writes are another "
              "matter: every old-view message of the zombie was refused "
              "(rejected.old_view at replicas 1 and 2: %s -> %s): the view number is a "
              "fencing token."
              % (pause_ms, paused, late, counter(st, [1], "view")[0], zombie["value"],
                 describe(pair), rej0, rej1))
    s.check("a lease read was served alone before the pause", "held", bool(leased))
    s.check("the zombie's reply is stale: it left after the lease it was answered from had "
            "ended (late_replies = %s) and after put x=new committed in the new view"
            % late, "broken", not stale)
    s.check("the history is still linearizable (the get overlapped the put): %s"
            % describe(pair), "held", pair is None)
    s.check("fencing: the zombie's old-view messages were refused (rejected.old_view %s -> "
            "%s) and the put executed once: get x after = %r" % (rej0, rej1, final["value"]),
            "held", rej1 > rej0 and final["value"] == "new")
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(8, 2.8))
    timeline(ax, hist, "the zombie leader: pause_before_reply=%d ms" % pause_ms)
    save(ctx, s, fig)


# ------------------------------------------------------------------ the steps


STEPS = [
    ("partial-failure", "Partial failure: a reply that does not come",
     "In a distributed system some parts fail while others work, and a client cannot "
     "tell which. A request whose reply never arrives may or may not have been executed. "
     "Retrying is the only way on, so retries must be safe: PBFT's replicas keep a client "
     "table (the last timestamp and reply of each client, Castro-Liskov §4.1) and execute "
     "a retransmitted request once, however often it arrives. A retry that is a new "
     "request, though, is a second operation. Here peer links are delayed %d ms so that "
     "a reply takes longer than a client's patience: to that client the reply is lost. "
     "The simulator then loses replies for real." % DELAY_MS, step_partial_failure),
    ("timeouts", "Timeouts and unbounded delays",
     "An asynchronous network gives no bound on delay, so a timeout is a guess. Under "
     "heavy-tailed (Pareto) delays, a short view_timeout_ms makes backups depose a primary "
     "that is only slow: view changes with no failure. A long one leaves a dead primary "
     "in place for that long. No value is right for both; the sweep shows the trade.",
     step_timeouts),
    ("clocks", "Unreliable clocks",
     "Clocks drift. A leader lease (the VR primary answers reads alone while its lease "
     "holds) is safe only while clocks drift less than the lease assumes; past the bound "
     "a deposed primary serves stale reads. PBFT's read-only path (2f+1 replies) does not "
     "rely on clocks for safety: a stale replica is outvoted.", step_clocks),
    ("pauses", "Process pauses and fencing",
     "A process can stop for any time at any point - between checking its lease and "
     "answering - and go on as if nothing happened. Its writes must be fenced by a number "
     "that only grows (the view number); its lease-based reads cannot be.", step_pauses),
    ("quorums", "Knowledge, truth and quorums",
     "A node cannot trust its own view of the world: if a quorum declares it dead, it is "
     "dead, even while it still talks. Here a VR primary is cut off, the others elect a new "
     "primary, and when the primary can talk again (but still hears nothing, a one-way "
     "fault) its messages carry an old view number and are refused: the view number is a "
     "fencing token. Tolerating liars costs more than tolerating crashes: PBFT needs "
     "n = 3f+1 and quorums of 2f+1 with all-to-all rounds; VR needs n = 2f+1.",
     step_quorums),
    ("byzantine", "Byzantine faults",
     "Most systems assume nodes are unreliable but honest. One lying replica is within "
     "PBFT's model (f = 1 of n = 4): whatever the lie, the simulator's checkers find no "
     "violation. VR assumes honesty: one lying primary breaks agreement or hands clients "
     "wrong answers. And PBFT's bound is real: f+1 liars that agree on a lie are f+1 "
     "matching replies, which a PBFT client accepts.", step_byzantine),
    ("safety-liveness", "Safety, liveness and partial synchrony",
     "Safety (nothing bad happens) must hold always; liveness (something good eventually "
     "happens) only when the network behaves for long enough. A slow primary keeps PBFT "
     "safe but nearly stopped, since it is not slow enough for a timeout; robust mode "
     "(Aardvark: backups watch the primary's throughput) restores service. A partition "
     "with no quorum on either side stops commits, breaks nothing, and service returns "
     "after the heal.", step_safety_liveness),
]


def run_step(ctx, s, fn):
    t0 = time.monotonic()
    try:
        fn(ctx, s)
    except Exception as e:      # the step failed to run: an unexpected verdict
        s.error = "%s: %s" % (type(e).__name__, e)
        log("%s: %s" % (s.name, s.error))
    finally:
        ctx.stop_all()
    s.seconds = time.monotonic() - t0


def plant(s):
    """--plant-unexpected: every check expects the opposite."""
    for c in s.checks:
        c["expected"] = "broken" if c["expected"] == "held" else "held"
        c["what"] += " [planted: expectation flipped]"


# ------------------------------------------------------------------ the report

CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;
color:#222}h2{border-top:1px solid #ccc;padding-top:1em}pre{background:#f4f4f4;
padding:.6em;overflow-x:auto;font-size:85%}table{border-collapse:collapse;margin:.5em 0;
font-size:85%}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
.v{font-weight:bold;padding:.2em .6em;border-radius:.3em}.HELD{background:#c8f0c8}
.AS{background:#ffe5a0}.UN{background:#ffb0b0}.SK{background:#ddd}img{max-width:100%}"""


def vclass(v):
    return {HELD: "HELD", AS_EXPECTED: "AS", UNEXPECTED: "UN", SKIPPED: "SK"}[v]


def table_html(head, rows):
    e = html.escape
    out = ["<table><tr>" + "".join("<th>%s</th>" % e(str(h)) for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join("<td>%s</td>" % e("" if v is None else str(v))
                                    for v in r) + "</tr>")
    return "\n".join(out + ["</table>"])


def write_html(out, steps, meta):
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             "<title>byzlab tour</title><style>%s</style></head><body>" % CSS,
             "<h1>The trouble with distributed systems: the byzlab tour</h1>",
             "<p>%s, git %s, %s mode, %d s. Each verdict comes from checkers and counters."
             "</p>" % (e(meta["started"]), e(meta["git"]),
                       "quick" if meta["quick"] else "full", meta["seconds"])]
    parts.append(table_html(["step", "verdict", "seconds"],
                            [[s.name, s.verdict(), "%.1f" % s.seconds] for s in steps]))
    for s in steps:
        v = s.verdict()
        parts.append("<h2 id='%s'>%s <small>(%s)</small></h2>" % (e(s.name), e(s.title),
                                                                 e(s.name)))
        parts.append("<p>Verdict: <span class='v %s'>%s</span></p>" % (vclass(v), e(v)))
        parts.append("<p><b>Claim.</b> %s</p>" % e(s.claim))
        if s.skipped:
            parts.append("<p><b>%s</b></p>" % e(s.skipped))
            continue
        if s.error:
            parts.append("<p><b>The experiment failed to run:</b> %s</p>" % e(s.error))
        if s.checks:
            parts.append(table_html(["check", "expected", "observed"],
                                    [[c["what"], c["expected"], c["observed"]]
                                     for c in s.checks]))
        for head, rows in s.tables:
            parts.append(table_html(head, rows))
        if s.note:
            parts.append("<p>%s</p>" % e(s.note))
        if s.figure:
            parts.append("<p><img src='%s' alt='%s'></p>" % (e(s.figure), e(s.name)))
        if s.commands:
            parts.append("<p><b>Repeat it by hand</b> (from the repository, after "
                         "<code>./byzlab build</code>):</p><pre>%s</pre>"
                         % e("\n".join(s.commands)))
    parts.append("<p>Every number: <a href='tour.json'>tour.json</a>.</p></body></html>")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("\n".join(parts))


def step_json(s):
    return {"name": s.name, "title": s.title, "claim": s.claim, "verdict": s.verdict(),
            "skipped": s.skipped, "error": s.error, "seconds": round(s.seconds, 2),
            "checks": s.checks, "numbers": s.numbers, "figure": s.figure,
            "commands": s.commands, "tables": [{"head": h, "rows": r} for h, r in s.tables]}


def git_rev():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
    except OSError:
        return ""


def main():
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(143))
    names = [n for n, _, _, _ in STEPS]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (< 2 min)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this step (repeatable): " + ", ".join(names))
    ap.add_argument("--out", help="report directory (default results/tour-<timestamp>)")
    ap.add_argument("--bin", default=bzharness.default_bin())
    ap.add_argument("--driver", default=bzharness.DRIVER)
    ap.add_argument("--base-port", type=int, default=17800,
                    help="clusters use P, P+10, ... P+90 (and +100, +200): default 17800")
    ap.add_argument("--list", action="store_true", help="print the step names and exit")
    ap.add_argument("--plant-unexpected", action="append", default=[],
                    help=argparse.SUPPRESS)
    ap.set_defaults(port_stride=PORT_STEP, port_slots=PORT_SLOTS)  # bench.Env's ranges
    args = ap.parse_args()
    if args.list:
        print("\n".join(names))
        return 0
    for o in args.only:
        if o not in names:
            print("tour: unknown step %r (steps: %s)" % (o, ", ".join(names)),
                  file=sys.stderr)
            return 2
    planted = set(args.plant_unexpected)
    if os.environ.get("BYZLAB_TOUR_PLANT"):
        planted.add(os.environ["BYZLAB_TOUR_PLANT"])
    for prog in ("byzlab-client", "byzlab-replica", "byzlab-keygen", "byzlab-sim"):
        if not os.access(os.path.join(args.bin, prog), os.X_OK):
            print("tour: %s/%s missing: build first (./byzlab build)" % (args.bin, prog),
                  file=sys.stderr)
            return 2
    out = args.out or os.path.join(ROOT, "results", "tour-" +
                                   datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    env = bench.Env(args)
    ctx = Ctx(args, env, out)
    todo = [st for st in STEPS if not args.only or st[0] in args.only]
    steps, t0 = [], time.monotonic()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    try:
        for k, (name, title, claim, fn) in enumerate(todo):
            s = Step(name, title, claim)
            log("step %d/%d %s: %s" % (k + 1, len(todo), name, title))
            run_step(ctx, s, fn)
            if name in planted:
                plant(s)
            steps.append(s)
            print("[tour %d/%d] %-16s %-22s %5.1f s" % (k + 1, len(todo), name,
                                                       s.verdict(), s.seconds), flush=True)
    finally:
        ctx.stop_all()
        shutil.rmtree(env.tmp, ignore_errors=True)
    meta = {"started": started, "quick": args.quick, "git": git_rev(),
            "command": " ".join(sys.argv), "cpus": os.cpu_count(),
            "seconds": round(time.monotonic() - t0)}
    write_html(out, steps, meta)
    with open(os.path.join(out, "tour.json"), "w") as f:
        json.dump({"meta": meta, "steps": [step_json(s) for s in steps]}, f, indent=1)
    bad = [s.name for s in steps if s.verdict() == UNEXPECTED]
    print("tour: %d steps in %d s; report %s/index.html%s"
          % (len(steps), meta["seconds"], out,
             "; UNEXPECTED: " + ", ".join(bad) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
