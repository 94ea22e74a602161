#!/usr/bin/python3
"""robust.py - the attack table of issue 16: plain PBFT against robust PBFT.

Every attack of the table (none, slow-primary:100, :500, :900, :adaptive, flood:2000 at
a backup, fake-view-change, equivocate) runs on PBFT f=1, auth mac, 64 closed-loop
clients, once with robust = off (classic PBFT) and once with robust = on (issue 16:
signed client requests, the ban table, fair peer input, the view-change budget, and
the monitor of the primary once it lands).  Each run gets a fresh cluster, so its
view changes are its final view.  Written under --out DIR (default
results/robust-<timestamp>):

  robust.csv    one row per run: attack, robust, ops/s, p99, view changes, safety,
                and the ratios to fault-free in this same invocation: to the same
                mode's fault-free run (ratio) and to plain PBFT's (ratio_vs_plain)
  robust.md     the same as a Markdown table
  robust.jsonl  every run in full (bench JSON with its time series, final status)
  robust_slow_primary_over_time.png  ops/s over time under slow-primary:900, robust
                off against on

Usage: experiments/robust.py [--quick] [--out DIR]  (or ./byzlab bench --robust ...)
--quick: shorter runs, under 4 minutes on a 2-core machine.  Clusters use ports
16000-16299 only (P, P+100, P+200 for P in 16000, 16010, ..., 16090); --base-port B
moves that to B..B+299 (to run beside another experiment).

Reuses experiments/bench.py's cluster helpers (Cluster, the bench load, the safety
verdict: a read-your-writes check and the correct replicas' digests agreeing).
Stdlib only, plus matplotlib for the plot.
"""

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (experiments/bench.py)

ROOT = bench.ROOT
ATTACKS = [("none", None), ("slow-primary:100", "0=slow-primary:100"),
           ("slow-primary:500", "0=slow-primary:500"),
           ("slow-primary:900", "0=slow-primary:900"),
           ("slow-primary:adaptive", "0=slow-primary:adaptive"),
           ("flood:2000", "3=flood:2000"), ("fake-view-change", "3=fake-view-change"),
           ("equivocate", "0=equivocate")]
COLUMNS = ["attack", "byz", "robust", "ops", "throughput", "p50_us", "p99_us",
           "view_changes", "safety", "ratio", "ratio_vs_plain", "sigs_verified_per_op",
           "sigs_made_per_op", "rejected"]
PORT_SLOTS = [16000 + 10 * k for k in range(10)]  # moved by --base-port


def log(msg):
    print("[robust %s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"), msg),
          file=sys.stderr, flush=True)


def spec(byz, robust, seconds, warmup, interval):
    ini = {"robust": "on"} if robust else {}
    return bench.run_spec("pbft", f=1, auth="mac", clients=64, byz=byz, seconds=seconds,
                          warmup=warmup, interval=interval, ini=ini)


def rejected(status, liars):
    """The robust edge's counters, summed over the correct replicas."""
    keys = ("unsigned_request", "blacklisted_client", "peer_budget", "bad_auth",
            "conflict", "rate_limited")
    tot = {k: 0 for k in keys}
    for s in status:
        if s.get("down") or s.get("id") in liars:
            continue
        for k in keys:
            tot[k] += int(s.get("rejected", {}).get(k, 0) or 0)
    return {k: v for k, v in tot.items() if v}


def sig_counts(status, liars):
    """Signature verifications per executed request, per correct replica (the mean
    over them of sigs_verified / requests_executed), and the correct replicas'
    signatures made per executed request (summed), from the final status counters
    (warm-up and the safety check's requests included on both sides of the ratio)."""
    good = [s for s in status if not s.get("down") and s.get("id") not in liars
            and int(s.get("requests_executed", 0) or 0) > 0]
    if not good:
        return "", ""
    ver = [int(s.get("sigs_verified", 0) or 0) / int(s["requests_executed"]) for s in good]
    made = sum(int(s.get("sigs_made", 0) or 0) / int(s["requests_executed"]) for s in good)
    return "%.3f" % (sum(ver) / len(ver)), "%.3f" % made


def one_run(env, attack, byz, robust, args):
    r = spec(byz, robust, args.seconds, args.warmup, args.interval)
    c = bench.Cluster(env, r)
    try:
        c.start()
        p, _ = bench.run_load(c, r, args.seconds, args.warmup)
        res = bench.parse_bench(p.stdout)
        if res is None:
            raise RuntimeError("bench printed no result (exit %d): %s"
                               % (p.returncode, bench.last_lines(p.stderr, 6)))
        verdict, details = bench.safety(c, r)
        liars = {int(byz.split("=")[0])} if byz else set()
        st = details.get("status", [])
        views = [s.get("view", 0) for s in st if not s.get("down") and s.get("id") not in liars]
        row = {"attack": attack, "byz": byz or "none", "robust": "on" if robust else "off",
               "ops": res.get("ops", 0), "throughput": round(res.get("throughput", 0.0), 1),
               "p50_us": res.get("p50_us", ""), "p99_us": res.get("p99_us", ""),
               "view_changes": max(views) if views else "", "safety": verdict,
               "sigs_verified_per_op": sig_counts(st, liars)[0],
               "sigs_made_per_op": sig_counts(st, liars)[1],
               "rejected": json.dumps(rejected(st, liars), separators=(",", ":"))}
        return row, {"spec": r, "bench": res, "safety": details, "row": row}
    finally:
        c.stop()
        c.keep_logs(os.path.join(args.out, "logs", "%s-robust-%s"
                                 % (attack.replace(":", "_"), "on" if robust else "off")))
        c.remove()


def add_ratios(rows):
    base = {x["robust"]: float(x["throughput"]) for x in rows if x["attack"] == "none"}
    for x in rows:
        own, plain = base.get(x["robust"]), base.get("off")
        t = float(x["throughput"]) if x["throughput"] != "" else 0.0
        x["ratio"] = "%.3f" % (t / own) if own else ""
        x["ratio_vs_plain"] = "%.3f" % (t / plain) if plain else ""


def write_md(out, rows, quick):
    path = os.path.join(out, "robust.md")
    head = ["attack", "robust", "ops/s", "ratio", "vs plain", "p99 ms", "view changes",
            "safety", "sig verifies/op/replica", "rejected (correct replicas)"]
    with open(path, "w") as f:
        f.write("PBFT f=1, auth mac, 64 clients%s; ratio: to fault-free with the same "
                "robust setting, vs plain: to fault-free plain PBFT (robust off), both in "
                "this run.\n\n" % (" (--quick)" if quick else ""))
        f.write("| " + " | ".join(head) + " |\n|" + "---|" * 2 + "--:|" * 5 + "---|" + "--:|" + "---|" + "\n")
        for x in rows:
            p99 = "%.1f" % (float(x["p99_us"]) / 1000) if x["p99_us"] not in ("", None) else "-"
            f.write("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n"
                    % (x["attack"], x["robust"], float(x["throughput"] or 0), x["ratio"],
                       x["ratio_vs_plain"], p99, x["view_changes"], x["safety"],
                       x.get("sigs_verified_per_op", "") or "-", x["rejected"].replace("\"", "")))
    return path


def plot(out, full):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (apt-get install python3-matplotlib): no plot")
        return None
    runs = [x for x in full if x["row"]["attack"] == "slow-primary:900"]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for x in runs:
        b = x["bench"]
        dt = b.get("interval_ms", 1000) / 1000.0
        ys = [v / dt for v in b.get("series", [])][:-1]  # the last interval is partial
        ax.plot([i * dt for i in range(len(ys))], ys,
                label="robust %s (%s view changes)" % (x["row"]["robust"],
                                                      x["row"]["view_changes"]),
                color="tab:green" if x["row"]["robust"] == "on" else "tab:red")
    ax.set_xlabel("time (s, warm-up included)")
    ax.set_ylabel("completed ops/s")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_title("PBFT f=1 under slow-primary:900 (replica 0), 64 clients, mac")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = os.path.join(out, "robust_slow_primary_over_time.png")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main():
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (< 4 min)")
    ap.add_argument("--out", help="results directory (default results/robust-<timestamp>)")
    ap.add_argument("--bin", default=os.environ.get("BYZLAB_BIN",
                                                    os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--driver", default=os.path.join(ROOT, "byzlab"))
    ap.add_argument("--seconds", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--only", action="append", default=[],
                    help="only attacks whose name contains this (repeatable)")
    ap.add_argument("--attack", action="append", default=[], metavar="I=BEHAVIOUR",
                    help="run this --byz instead of the table's attacks (repeatable; "
                    "the fault-free pair is always run first)")
    ap.add_argument("--base-port", type=int, default=PORT_SLOTS[0],
                    help="clusters use ports BASE..BASE+299 (default 16000)")
    args = ap.parse_args()
    args.port_stride, args.port_slots = 10, 10  # bench.Env: ranges B, B+10, .. B+90
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 0.5 if args.quick else 2.0
    args.interval = 250 if args.quick else 500
    # the safety check's read-your-writes load: small, since under plain PBFT and a
    # slow primary each operation can take a second
    bench.VERIFY_CLIENTS, bench.VERIFY_OPS = (1, 4) if args.quick else (4, 20)
    if not args.out:
        args.out = os.path.join(ROOT, "results", "robust-"
                                + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(args.out, exist_ok=True)
    for prog in ("byzlab-client", "byzlab-replica", "byzlab-keygen"):
        if not os.access(os.path.join(args.bin, prog), os.X_OK):
            print("robust.py: %s/%s missing: build first (./byzlab build)"
                  % (args.bin, prog), file=sys.stderr)
            return 2
    attacks = [a for a in ATTACKS if not args.only or any(o in a[0] for o in args.only)]
    if args.attack:
        attacks = [ATTACKS[0]] + [(a.split("=", 1)[1], a) for a in args.attack]
    env = bench.Env(args)
    rows, full = [], []
    try:
        for attack, byz in attacks:
            for robust in (False, True):
                log("%s, robust %s" % (attack, "on" if robust else "off"))
                try:
                    row, f = one_run(env, attack, byz, robust, args)
                except (bench.Skip, RuntimeError) as e:
                    log("  failed: %s" % e)
                    row = {"attack": attack, "byz": byz or "none",
                           "robust": "on" if robust else "off", "ops": 0, "throughput": 0.0,
                           "p50_us": "", "p99_us": "", "view_changes": "",
                           "safety": "error", "rejected": json.dumps({"error": str(e)[:200]})}
                    f = {"row": row, "bench": {}, "error": str(e)}
                log("  %.0f ops/s, p99 %s us, view %s, %s, %s" % (
                    float(row["throughput"]), row["p99_us"], row["view_changes"],
                    row["safety"], row["rejected"]))
                rows.append(row)
                full.append(f)
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    add_ratios(rows)
    with open(os.path.join(args.out, "robust.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for x in rows:
            w.writerow(x)
    with open(os.path.join(args.out, "robust.jsonl"), "w") as f:
        for x in full:
            f.write(json.dumps(x) + "\n")
    md = write_md(args.out, rows, args.quick)
    print(open(md).read())
    png = plot(args.out, full)
    print("results: %s/robust.csv, %s" % (args.out, md))
    if png:
        print("plot:    %s" % png)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
