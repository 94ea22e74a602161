#!/usr/bin/python3
"""issue14_signed_certs.py - what signing PRE-PREPAREs and PREPAREs costs in mac mode.

Issue 14's fix (fb5a24d, crypto/auth.c auth_kind_for) signs PRE-PREPAREs (compact form,
one signature per batch) and PREPAREs with Ed25519 in `auth = mac` mode.  This runs the
binaries from before the fix (--old) and after it (--new) side by side, in alternating
order (old, new, old, new, ...; --arm LABEL=BIN adds more, run in the order given
after them), each run on a freshly initialised local cluster:
PBFT f=1, auth mac, batch_max 128, sync none (the README's headline settings), with
64 clients and with 1 client.  On a shared, noisy machine only the ratios of runs made
next to each other mean much: the summary gives each round's new/old ratio and their
median.

Per run it records the bench JSON (throughput, p50, p99, cpu_ms_per_op, sig_ops_per_op,
mac_ops_per_op) and, from the replicas' status counters before and after the bench
(warm-up included), sigs_made and sigs_verified per executed request (summed over the 4
replicas, divided by the requests replica 0 executed) and the average batch size
(requests executed / sequence numbers executed at replica 0).

    /usr/bin/python3 experiments/issue14_signed_certs.py --old /tmp/old-bin \\
        --new build/bin [--arm prefix=/path/bin --ratio new/prefix] --rounds 5 \\
        --out /tmp/issue14

Stdlib only.  docs/EXPERIMENTS.md, "Issue 14", has a run of it.
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "byzlab")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bzharness  # noqa: E402  (cluster.ini, status: shared with bench.py and the tests)
SUMS = ("sigs_made", "sigs_verified", "macs_made", "macs_verified", "msgs_sent")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(argv, env, timeout=120):
    argv = [str(a) for a in argv]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                                   p.stderr))
    return p.stdout


def status(binary, ini, env):
    out = sh([os.path.join(binary, "byzlab-client"), "--config", ini, "status"], env)
    st = bzharness.by_id(bzharness.parse_status(out))
    down = bzharness.down_ids(st, sorted(st))
    if down:
        raise RuntimeError("replica(s) %s down: %s" % (down, out))
    return st


def one_run(label, binary, clients, port, a, tmp):
    env = dict(os.environ, BYZLAB_BIN=binary)
    d = os.path.join(tmp, "c-%s-%d" % (label, clients))
    shutil.rmtree(d, ignore_errors=True)
    # Written by the --new keygen (binaries from before issue 15 have no --cluster);
    # the file format is the same for every arm.
    bzharness.init_cluster(d, "pbft", 1, auth="mac", base_port=port,
                           settings={"batch_max": a.batch_max, "sync": "none"},
                           keygen=os.path.join(a.new, "byzlab-keygen"))
    ini = os.path.join(d, "cluster.ini")
    try:
        sh([DRIVER, "cluster", "up", d], env)
        before = status(binary, ini, env)
        out = sh([os.path.join(binary, "byzlab-client"), "--config", ini, "bench",
                  "--clients", clients, "--seconds", a.seconds, "--warmup", a.warmup,
                  "--cost", "--quiet"], env, timeout=a.seconds + a.warmup + 120)
        after = status(binary, ini, env)
    finally:
        sh([DRIVER, "cluster", "down", d], env)
    res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    reqs = after[0]["requests_executed"] - before[0]["requests_executed"]
    seqs = after[0]["last_executed"] - before[0]["last_executed"]
    row = {"label": label, "clients": clients, "port": port,
           "throughput": res["throughput"], "p50_us": res["p50_us"], "p99_us": res["p99_us"],
           "errors": res["errors"], "cpu_ms_per_op": res.get("cpu_ms_per_op"),
           "client_cpu_ms_per_op": res.get("client_cpu_ms_per_op"),
           "sig_ops_per_op": res.get("sig_ops_per_op"),
           "mac_ops_per_op": res.get("mac_ops_per_op"),
           "msgs_per_op": res.get("msgs_per_op"), "requests": reqs, "seqnos": seqs,
           "batch_avg": reqs / seqs if seqs else 0.0}
    for k in SUMS:
        delta = sum(after[i][k] - before[i][k] for i in after)
        row[k + "_per_op"] = delta / reqs if reqs else 0.0
    shutil.rmtree(d, ignore_errors=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="binaries from before the fix")
    ap.add_argument("--new", required=True, help="binaries with the fix")
    ap.add_argument("--arm", action="append", default=[], metavar="LABEL=BIN",
                    help="more binaries, run after old and new in each round")
    ap.add_argument("--ratio", action="append", default=[], metavar="A/B",
                    help="ratios to summarise (default and always: new/old)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--clients", default="64,1")
    ap.add_argument("--batch-max", type=int, default=128)
    ap.add_argument("--base-port", type=int, default=9020,
                    help="runs rotate over P, P+10, ..., P+70 (each uses +0..3, +100.., +200..)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    bins = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    for arm in a.arm:
        label, _, path = arm.partition("=")
        bins[label] = os.path.abspath(path)
    ratios = ["new/old"] + [r for r in a.ratio if r != "new/old"]
    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, "clusters")
    rows, k = [], 0
    for rnd in range(1, a.rounds + 1):
        for clients in [int(c) for c in a.clients.split(",")]:
            for label in bins:
                port = a.base_port + 10 * (k % 8)
                k += 1
                r = one_run(label, bins[label], clients, port, a, tmp)
                r["round"] = rnd
                r["time"] = time.strftime("%H:%M:%S")
                r["loadavg"] = os.getloadavg()[0]
                rows.append(r)
                log("round %d %s c=%d: %.0f ops/s p50 %d us, batch %.1f, sigs made/verified "
                    "per op %.3f/%.3f, cpu %.4f ms/op (load %.1f)"
                    % (rnd, label, clients, r["throughput"], r["p50_us"], r["batch_avg"],
                       r["sigs_made_per_op"], r["sigs_verified_per_op"],
                       r["cpu_ms_per_op"] or 0, r["loadavg"]))
    with open(os.path.join(a.out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    summary = {}
    for clients in sorted({r["clients"] for r in rows}, reverse=True):
        summary[clients] = {}
        for ratio in ratios:
            num, den = ratio.split("/")
            per = {}
            for rnd in range(1, a.rounds + 1):
                o = {r["label"]: r for r in rows if r["round"] == rnd and r["clients"] == clients}
                n, d = o[num], o[den]
                per[rnd] = {"tput": n["throughput"] / d["throughput"],
                            "p50": n["p50_us"] / d["p50_us"],
                            "cpu": (n["cpu_ms_per_op"] or 0) / (d["cpu_ms_per_op"] or 1)}
            summary[clients][ratio] = {
                "rounds": per,
                "median_tput_ratio": statistics.median(p["tput"] for p in per.values()),
                "median_p50_ratio": statistics.median(p["p50"] for p in per.values()),
                "median_cpu_ratio": statistics.median(p["cpu"] for p in per.values())}
        for label in bins:
            rs = [r for r in rows if r["clients"] == clients and r["label"] == label]
            summary[clients][label] = {
                k: statistics.median(r[k] for r in rs)
                for k in ("throughput", "p50_us", "p99_us", "cpu_ms_per_op",
                          "client_cpu_ms_per_op", "batch_avg", "sig_ops_per_op",
                          "sigs_made_per_op", "sigs_verified_per_op", "macs_made_per_op",
                          "macs_verified_per_op", "msgs_sent_per_op")}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
