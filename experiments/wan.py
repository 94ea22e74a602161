#!/usr/bin/python3
"""wan.py - issue 20: PBFT and VR (HotStuff when it exists) under a WAN latency model.

Each protocol runs at f=1 on local processes whose messages the faults layer holds for
the one-way latency of their link (replica/wan.h; cluster.ini [regions] and
[faults] region.I, written by byzlab-keygen --cluster --wan PRESET).  Replica i sits in
the preset's i-th region (three-continents: 0 us-east, 1 eu-west, 2 ap-southeast,
3 eu-west; the primary of view 0 is replica 0).  Two placements of the clients: near
the primary (the preset's client region: us-east) and far from it (ap-southeast).
For each, one closed-loop client (latency: p50 against the model) and 64 (throughput).
Next to the measured p50 stands the model's prediction for one request on an idle
cluster: byzlab-sim --wan PRESET --wan-predict (replica/wan.c wan_predict_us: PBFT
client -> primary, PRE-PREPARE, 2f PREPAREs, 2f+1 COMMITs, f+1 REPLYs; VR client ->
primary, PREPARE, f PREPAREOKs, REPLY), and their ratio.  First, per protocol, one
client on the same cluster without the model (the "no WAN" row): the latency of the
processes, nng and the loaded machine themselves.  The single-client rows then also
give (p50 - no-WAN p50) / model, the latency the model added against what it
predicts: the check that matters where the links are as short as that floor
(one-datacenter: 0.25 ms links, a PBFT request about 1.25 ms).  Written under --out DIR
(default results/wan-<preset>-<timestamp>):

  wan.csv     one row per run
  wan.md      the same as a Markdown table (README "Results")
  wan.jsonl   every run in full (bench JSON, final status, safety details)

Usage: experiments/wan.py --wan PRESET [--quick] [--out DIR]
       (or ./byzlab bench --wan PRESET [--quick] [--out DIR])
Clusters use ports 27100-27599 only (P, P+100, P+200 for P in 27100, 27110, ...).
Safety as in bench.py: a read-your-writes check and the replicas' digests agreeing.
"""

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (experiments/bench.py)

ROOT = bench.ROOT
PRESETS = ("three-continents", "one-datacenter")
# (protocol, f).  HotStuff's model (wan_predict_us): request, three rounds of
# PROPOSAL + VOTE, the fourth block's PROPOSAL, reply: 9 one-way hops, the leader
# rotating over the regions; runs of a protocol the keygen refuses are reported as
# skipped, not failed.
PROTOCOLS = [("pbft", 1), ("hotstuff", 1), ("vr", 1)]
FAR_CLIENTS = {"three-continents": "ap-southeast"}
COLUMNS = ["protocol", "n", "placement", "clients_region", "clients", "ops", "throughput",
           "p50_us", "p99_us", "model_us", "p50_vs_model", "base_p50_us", "added_vs_model",
           "late_us_per_hold", "retransmits", "safety"]
PORT_SLOTS = [27100 + 10 * k for k in range(30)]


def log(msg):
    print("[wan %s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"), msg),
          file=sys.stderr, flush=True)


class WanCluster(bench.Cluster):
    """bench.Cluster whose cluster.ini carries the WAN preset (and the clients' region)."""

    def init_cluster(self, protocol, f, keygen=None, **kw):
        kw["wan"] = self.r["wan"]
        if self.r.get("clients_region"):
            kw["faults"] = [("region.client", self.r["clients_region"])]
        return super().init_cluster(protocol, f, keygen=keygen, **kw)


def predict(args, protocol, f, clients_region):
    """The model's prediction for one request (byzlab-sim --wan-predict), a dict."""
    argv = [os.path.join(args.bin, "byzlab-sim"), "--protocol", protocol, "--f", str(f),
            "--wan", args.wan, "--wan-predict"]
    if clients_region:
        argv += ["--wan-client", clients_region]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d %s" % (" ".join(argv), p.returncode, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


def placement_text(model):
    return " ".join("%d:%s%s" % (i, r, "*" if i == model["primary"] else "")
                    for i, r in enumerate(model["replicas"]))


def one_run(env, args, protocol, f, clients, clients_region, base=None, wan=True):
    """One run; base: the no-WAN p50 (us) to set the model against; wan False: the
    no-WAN run itself."""
    model = predict(args, protocol, f, clients_region)
    r = bench.run_spec(protocol, f=f, auth="mac", clients=clients, seconds=args.seconds,
                       warmup=args.warmup, interval=500)
    # a WAN round trip is 80-240 ms: the view change must not fire on a slow request
    r["ini"] = {"view_timeout_ms": 4000}
    r["wan"] = args.wan if wan else None
    r["clients_region"] = clients_region if wan else None
    c = WanCluster(env, r)
    try:
        c.start()
        p, _ = bench.run_load(c, r, args.seconds, args.warmup)
        res = bench.parse_bench(p.stdout)
        if res is None:
            raise RuntimeError("bench printed no result (exit %d): %s"
                               % (p.returncode, bench.last_lines(p.stderr, 6)))
        verdict, details = bench.safety(c, r)
        p50 = res.get("p50_us", 0)
        # how late the replicas' loops let held messages go, on average (status
        # faults.late_us / faults.released: timer wake-up under this machine's load)
        fs = [x.get("faults", {}) for x in details.get("status", []) if not x.get("down")]
        released = sum(x.get("released", 0) for x in fs)
        late = round(sum(x.get("late_us", 0) for x in fs) / released, 1) if released else ""
        pred = model["predicted_us"]
        added = "%.3f" % ((p50 - base) / pred) if wan and base and pred and clients == 1 \
            else ""
        row = {"protocol": protocol, "n": r["n"],
               "placement": placement_text(model) if wan else "no WAN (same processes)",
               "clients_region": model["client"] if wan else "-", "clients": clients,
               "ops": res.get("ops", 0), "throughput": round(res.get("throughput", 0.0), 1),
               "p50_us": p50, "p99_us": res.get("p99_us", ""),
               "model_us": model["predicted_us"],
               "p50_vs_model": "%.3f" % (p50 / pred) if pred and wan else "",
               "base_p50_us": base or "", "added_vs_model": added,
               "late_us_per_hold": late,
               "retransmits": res.get("retransmits", 0), "safety": verdict}
        return row, {"spec": r, "model": model, "bench": res, "safety": details, "row": row}
    finally:
        c.stop()
        c.keep_logs(os.path.join(args.out, "logs", "%s-%s-%d"
                                 % (protocol, model["client"] if wan else "nowan", clients)))
        c.remove()


def write_md(out, rows, args):
    path = os.path.join(out, "wan.md")
    with open(path, "w") as f:
        f.write("`./byzlab bench --wan %s%s`: f=1, auth mac, closed loop, one region per "
                "replica as listed (`*`: the primary); model: one request on an idle "
                "cluster, from mean one-way latencies (replica/wan.c).\n\n"
                % (args.wan, " --quick" if args.quick else ""))
        f.write("| protocol | replicas | clients in | clients | ops/s | p50 ms | p99 ms "
                "| model ms | p50/model | (p50 - no WAN)/model | late µs/hold | safety |\n"
                "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
        # sub-ms presets need the second decimal
        digits = 3 if all(float(x["model_us"] or 0) < 10000 for x in rows) else 1
        for x in rows:
            def ms(v):
                return "%.*f" % (digits, float(v) / 1000) if v not in ("", None) else "-"
            f.write("| %s | %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s |\n"
                    % (x["protocol"], x["placement"], x["clients_region"], x["clients"],
                       float(x["throughput"] or 0), ms(x["p50_us"]), ms(x["p99_us"]),
                       ms(x["model_us"]) if x["clients_region"] != "-" else "-",
                       x["p50_vs_model"] if x["clients"] == 1 and x["p50_vs_model"] else "-",
                       x["added_vs_model"] or "-", x["late_us_per_hold"] or "-",
                       x["safety"]))
    return path


def main():
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wan", required=True, choices=PRESETS, help="the WAN preset")
    ap.add_argument("--quick", action="store_true", help="shorter runs (< 4 min)")
    ap.add_argument("--out", help="results directory (default results/wan-PRESET-<time>)")
    ap.add_argument("--bin", default=os.environ.get("BYZLAB_BIN",
                                                    os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--driver", default=os.path.join(ROOT, "byzlab"))
    ap.add_argument("--seconds", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--only", action="append", default=[],
                    help="only protocols whose name contains this (repeatable)")
    ap.add_argument("--base-port", type=int, default=PORT_SLOTS[0],
                    help="clusters use ports B..B+499 (default 27100)")
    ap.set_defaults(port_stride=10, port_slots=len(PORT_SLOTS))  # bench.Env: B .. B+299+290
    args = ap.parse_args()
    if args.seconds is None:
        args.seconds = 4.0 if args.quick else 15.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    # the read-your-writes check: each operation is a WAN commit (80-300 ms)
    bench.VERIFY_CLIENTS, bench.VERIFY_OPS = (2, 5) if args.quick else (4, 20)
    if not args.out:
        args.out = os.path.join(ROOT, "results", "wan-%s-%s" % (
            args.wan, datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(args.out, exist_ok=True)
    for prog in ("byzlab-client", "byzlab-replica", "byzlab-keygen", "byzlab-sim"):
        if not os.access(os.path.join(args.bin, prog), os.X_OK):
            print("wan.py: %s/%s missing: build first (./byzlab build)" % (args.bin, prog),
                  file=sys.stderr)
            return 2
    protocols = [p for p in PROTOCOLS if not args.only or any(o in p[0] for o in args.only)]
    far = FAR_CLIENTS.get(args.wan)
    env = bench.Env(args)
    rows, full = [], []
    try:
        for protocol, f in protocols:
            log("%s f=%d without the WAN model, 1 client" % (protocol, f))
            base = None
            try:
                row, x = one_run(env, args, protocol, f, 1, None, wan=False)
                base = row["p50_us"] or None
                log("  no WAN: %.1f ops/s, p50 %.3f ms, %s" % (
                    row["throughput"], row["p50_us"] / 1000, row["safety"]))
                rows.append(row)
                full.append(x)
            except (bench.Skip, RuntimeError) as e:
                log("  skipped: %s" % e)
                full.append({"protocol": protocol, "error": str(e)})
                continue
            for clients_region in [None] + ([far] if far else []):
                for clients in (1, 64):
                    log("%s f=%d, clients %s, %d client(s)"
                        % (protocol, f, clients_region or "near the primary", clients))
                    try:
                        row, x = one_run(env, args, protocol, f, clients, clients_region,
                                         base=base)
                    except (bench.Skip, RuntimeError) as e:
                        log("  skipped: %s" % e)
                        full.append({"protocol": protocol, "error": str(e)})
                        continue
                    log("  %.1f ops/s, p50 %.3f ms (model %.3f ms, x%s; added/model %s; "
                        "late %s us/hold), p99 %.3f ms, %s"
                        % (row["throughput"], row["p50_us"] / 1000, row["model_us"] / 1000,
                           row["p50_vs_model"], row["added_vs_model"] or "-",
                           row["late_us_per_hold"], float(row["p99_us"] or 0) / 1000,
                           row["safety"]))
                    rows.append(row)
                    full.append(x)
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    with open(os.path.join(args.out, "wan.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for x in rows:
            w.writerow(x)
    with open(os.path.join(args.out, "wan.jsonl"), "w") as f:
        for x in full:
            f.write(json.dumps(x) + "\n")
    md = write_md(args.out, rows, args)
    print(open(md).read())
    print("results: %s/wan.csv, %s" % (args.out, md))
    bad = [x for x in rows if x["safety"] != "ok"]
    return 1 if bad or not rows else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
