#!/usr/bin/python3
"""scale.py - issue 19 item 3: what each protocol costs as n grows.

Two halves, written under --out DIR (default results/scale-<timestamp>):

  simulator (deterministic, byzlab-sim --counts): fault-free, one client, batch 1,
  PBFT and HotStuff (n = 3f+1) and VR (n = 2f+1) for f = 1 .. 10 as far as the build allows
  (WIRE_MAX_REPLICAS = 32: all of it, n <= 31), auth sig: messages and signature
  operations per request against the closed formulas below, and the cost of one view
  change (a silent primary: byzlab-sim --byz 0=silent) in messages and bytes.
    sim_counts.csv      one row per (protocol, f): measured, formula, deviation
    sim_viewchange.csv  one row per (protocol, f): view-change messages and bytes
    sim_msgs_vs_n.png, sim_sigs_vs_n.png, viewchange_vs_n.png

  real processes (unless --sim-only): PBFT, HotStuff and VR at f = 1, 2, 3 (n = 4,
  7, 10 and 3, 5, 7), auth mac and sig, 64 closed-loop clients, bench.py's cluster and load:
    scale.csv / scale.md  throughput, p50/p99, msgs/op, bytes/op, sig ops/op, CPU/op
    scale_<metric>.png    one plot per metric against n, the protocols on each

--check: run the simulator half only and exit 1 unless every count is within 5% of
its formula (the ctest sim_scale_formulas); --plant-bug formula-skip-commit drops
PBFT's commit phase from the formula, which that check must catch (--expect-mismatch:
exit 0 iff it does; the ctest sim_scale_planted_formula); formula-hs-one-block counts
one HotStuff block per request instead of four (sim_scale_planted_hs_formula).

--batch1: only the real-process batch-1 comparison (issue 19): PBFT and HotStuff at
f = 1, 2, 3, batch_max = 1, the same 16 closed-loop clients, auth mac, interleaved per
f, HotStuff twice (hotstuff_client = leaders and all); agreement messages per
request (replica-to-replica: the replicas' sends but the replies the clients
received) and all messages per request against real_formulas(), and the
PBFT/HotStuff(leaders) ratio at each n against the formulas' ratio.  --batch-max B
and --batch1-clients C change the batching and load (the formulas hold at batch 1
only).  --before BIN adds a HotStuff row per f from another build, in the same
interleaving.  batch1.csv, batch1.md.

--ratio ROUNDS: only HotStuff f=1 sig against PBFT f=1 sig (64 clients, batch_max 128),
in alternating rounds, and the ratio of the median throughputs (issue 19's 0.7x).

--quick: the same 18 runs, 3 s each after 1 s warm-up (8 s after 2 s without it),
about 4 minutes in all.  Clusters use ports 29000-29299 only (P, P+100, P+200 for P in 29000, 29010, ...,
29090); --base-port B moves that.  Stdlib only, plus matplotlib for the plots.

Protocols hook in through PROTOCOLS (n of f), VIEWCHANGE_TYPES (the pacemaker's
message names, wire_type_name), VIEWCHANGE_ARGS and a branch of formulas(); every
table and plot then gets their rows.  HotStuff (n = 3f+1) is in all of them; its
view change is measured with the stable leader (a silent replica 0 under the rotating
leader is a timeout every n views, and no progress at all at n = 4).
"""

import argparse
import copy
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
MAX_N = 31                      # f = 10 for PBFT; the build may stop earlier (Beyond)
# ---- the hook for new protocols (n from f: bzharness.protocol_n, the one place) ----
PROTOCOLS = ("pbft", "hotstuff", "vr")
VIEWCHANGE_TYPES = {"pbft": ("viewchange", "newview"),
                    "hotstuff": ("hs_newview",),
                    "vr": ("vr_start_view_change", "vr_do_view_change", "vr_start_view")}
# the view-change measurement silences replica 0 from the start: with HotStuff's
# rotating leader that is a timeout every n views (and no progress at all at n = 4,
# docs/TESTING.md), so HotStuff's one view change is measured with the stable leader
VIEWCHANGE_ARGS = {"hotstuff": ("--hotstuff-leader", "stable")}
# the counts: HotStuff's client sends to the leaders of f+1 views (hotstuff_client =
# leaders, issue 19), the rule whose formula is the linear one; the default sends to all
COUNT_ARGS = {"hotstuff": ("--hotstuff-client", "leaders")}
# chained HotStuff with one closed-loop client: the request's block and three empty
# blocks whose QCs make it the head of a three-chain (docs/EXPERIMENTS.md §17)
HS_BLOCKS_PER_REQUEST = 4
TOLERANCE = 0.05
SIM_OPS = 32                    # a multiple of every checkpoint interval the sim draws
SIM_SEED = 1
REAL_F = (1, 2, 3)
PLANTS = ("formula-skip-commit", "formula-hs-one-block")


def log(msg):
    print("[scale %s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"), msg),
          file=sys.stderr, flush=True)


# ------------------------------------------------------------------ formulas

def formulas(protocol, n, f, k, plant=None):
    """Per request, fault-free, one client, batch 1, what byzlab sends (derived in
    docs/EXPERIMENTS.md "Cost as n grows").  k: the checkpoint interval.  No replica
    sends to itself; the client sends its request to the primary only.  Returns
    {"msgs": .., "sig_ops": ..} or None for a protocol without formulas yet."""
    if protocol == "pbft":
        commit = 0 if plant == "formula-skip-commit" else n * (n - 1)
        msgs = 1 + (n - 1) + (n - 1) ** 2 + commit + n + n * (n - 1) / k
        # made: request 1, pre-prepare 1, prepares n-1, commits n, replies n,
        # checkpoints n/k; verified: the request at every replica n, the pre-prepare
        # n-1, prepares (n-1)^2, commits n(n-1), replies until f+1 match, checkpoints
        made = 1 + 1 + (n - 1) + n + n + n / k
        verified = n + (n - 1) + (n - 1) ** 2 + n * (n - 1) + (f + 1) + n * (n - 1) / k
        return {"msgs": msgs, "sig_ops": made + verified}
    if protocol == "vr":
        # request, PREPARE to n-1, PREPARE-OK from n-1, one reply (the primary's);
        # the commit number rides on the next PREPARE
        msgs = 1 + (n - 1) + (n - 1) + 1
        made = 1 + 1 + (n - 1) + 1
        verified = 1 + (n - 1) + (n - 1) + 1
        return {"msgs": msgs, "sig_ops": made + verified}
    if protocol == "hotstuff":
        # the plant forgets the three empty blocks that commit a lone request
        blocks = 1 if plant == "formula-hs-one-block" else HS_BLOCKS_PER_REQUEST
        return hotstuff_formula(n, f, blocks)
    return None


def hotstuff_formula(n, f, blocks):
    """Chained HotStuff (Yin et al. PODC'19 Alg. 3) as byzlab sends it: the client sends
    its request to the leaders of the f+1 views from the one its replies named
    (hotstuff_client = leaders, client_core.c; the default sends to all n, n - f - 1
    more) and every replica replies (f+1 matching accepted);
    per block the leader sends n-1 PROPOSALs and every replica but the next leader
    sends it a VOTE (n-1; the next leader's own vote stays local).  blocks: blocks per
    request -- 4 with one closed-loop client at batch 1 (nothing else to order, so the
    leader proposes three empty blocks until the request's block heads a three-chain
    and commits); in a full pipeline every block carries a batch and blocks -> 1/batch.
    No checkpoint messages (snapshots are local).  Signatures: made by the client 1,
    leaders 1 per block, voters n per block, replies n; verified: the request at n
    replicas, each PROPOSAL's signature and its justify QC's 2f+1 vote signatures at
    n-1 receivers (no threshold signatures: the QC is a list), n-1 VOTEs per block at
    the next leader, replies until f+1 match."""
    msgs = (f + 1) + n + blocks * 2 * (n - 1)
    made = 1 + blocks * (1 + n) + n
    qc = n - f  # a QC's 2f+1 vote signatures (n = 3f+1)
    verified = n + blocks * (n - 1) * (1 + qc) + blocks * (n - 1) + (f + 1)
    return {"msgs": msgs, "sig_ops": made + verified}


# ------------------------------------------------------------------ simulator

class Beyond(Exception):
    """byzlab-sim refused the size (exit 2): past WIRE_MAX_REPLICAS or its --f bound."""


def sim_counts(sim, protocol, f, ops, extra=()):
    argv = [sim, "--protocol", protocol, "--f", str(f), "--seed", str(SIM_SEED),
            "--ops", str(ops), "--clients", "1", "--auth", "sig", "--counts", "-q"]
    argv += list(extra)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=300)
    if p.returncode == 2:
        raise Beyond(p.stderr.strip().splitlines()[0] if p.stderr.strip() else "usage")
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            if p.returncode != 0:
                raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv), p.returncode,
                                                        p.stdout[-2000:]))
            return d
    raise RuntimeError("%s printed no counts (exit %d): %s"
                       % (" ".join(argv), p.returncode, p.stderr[-500:]))


def sim_half(sim, out, plant=None, viewchange=True, max_n=MAX_N):
    """f = 1 .. 10 for each protocol, up to n = max_n, or until byzlab-sim refuses the
    size (a build whose WIRE_MAX_REPLICAS is 16 stops at PBFT f=5, VR f=7; 32 runs all)."""
    rows, vcs = [], []
    for protocol in PROTOCOLS:
        for f in range(1, 11):
            if bench.bzharness.protocol_n(protocol, f) > max_n:
                break
            try:
                d = sim_counts(sim, protocol, f, SIM_OPS, COUNT_ARGS.get(protocol, ()))
            except Beyond as e:
                log("sim %s f=%d: not run: %s" % (protocol, f, e))
                break
            n, ops = d["n"], d["ops"]
            fm = formulas(protocol, n, f, d["checkpoint_interval"], plant)
            if fm is None:
                continue
            msgs = d["msgs"] / ops
            sig = (d["sigs_made"] + d["sigs_verified"]) / ops
            by = sum(b for _, b in d["types"].values()) / ops
            rows.append({"protocol": protocol, "f": f, "n": n, "ops": ops,
                         "checkpoint_interval": d["checkpoint_interval"],
                         "msgs_per_op": "%.2f" % msgs, "msgs_formula": "%.2f" % fm["msgs"],
                         "msgs_dev": "%.4f" % (msgs / fm["msgs"] - 1),
                         "sig_ops_per_op": "%.2f" % sig,
                         "sig_formula": "%.2f" % fm["sig_ops"],
                         "sig_dev": "%.4f" % (sig / fm["sig_ops"] - 1),
                         "bytes_per_op": "%.0f" % by,
                         "types": json.dumps(d["types"], separators=(",", ":"))})
            log("sim %s f=%d n=%d: %.2f msgs/op (formula %.2f), %.2f sig ops/op (%.2f)"
                % (protocol, f, n, msgs, fm["msgs"], sig, fm["sig_ops"]))
            if viewchange:
                vcs.append(sim_viewchange(sim, protocol, f))
    write_csv(os.path.join(out, "sim_counts.csv"), rows)
    if viewchange:
        write_csv(os.path.join(out, "sim_viewchange.csv"), vcs)
    return rows, vcs


def sim_viewchange(sim, protocol, f):
    """One view change: the primary (replica 0) is silent from the start, so the
    correct replicas time out once and move to view 1."""
    d = sim_counts(sim, protocol, f, 4,
                   ["--byz", "0=silent"] + list(VIEWCHANGE_ARGS.get(protocol, ())))
    kinds = VIEWCHANGE_TYPES[protocol]
    msgs = sum(d["types"].get(t, [0, 0])[0] for t in kinds)
    by = sum(d["types"].get(t, [0, 0])[1] for t in kinds)
    return {"protocol": protocol, "f": f, "n": d["n"], "views": d["views"],
            "vc_msgs": msgs, "vc_bytes": by,
            "types": json.dumps({t: d["types"].get(t, [0, 0]) for t in kinds},
                                separators=(",", ":"))}


def check(rows):
    bad = []
    for r in rows:
        for key in ("msgs_dev", "sig_dev"):
            if abs(float(r[key])) > TOLERANCE:
                bad.append("%s f=%s n=%s: %s %s (measured %s, formula %s)"
                           % (r["protocol"], r["f"], r["n"], key, r[key],
                              r["msgs_per_op" if key == "msgs_dev" else "sig_ops_per_op"],
                              r["msgs_formula" if key == "msgs_dev" else "sig_formula"]))
    return bad


# ------------------------------------------------------------------ real processes


REAL_COLUMNS = ["protocol", "f", "n", "auth", "clients", "ops", "throughput", "p50_us",
                "p99_us", "msgs_per_op", "bytes_per_op", "sig_ops_per_op", "cpu_ms_per_op",
                "safety"]


def plan(quick):
    runs = []
    for auth in ("mac", "sig"):
        for protocol in PROTOCOLS:
            for f in REAL_F:
                runs.append(bench.run_spec(protocol, f=f, auth=auth, clients=64))
    return runs


def real_half(args):
    env = bench.Env(args)
    rows = []
    try:
        for r in plan(args.quick):
            c = bench.Cluster(env, r)
            try:
                c.start()
                row, full = bench.do_run(c, r, args)
                row = {k: row.get(k, "") for k in REAL_COLUMNS}
                rows.append(row)
                log("%s f=%d %s: %s ops/s, p50 %s us, %s msgs/op, %s sig ops/op, "
                    "%s cpu-ms/op, %s" % (r["protocol"], r["f"], r["auth"],
                                          row["throughput"], row["p50_us"],
                                          row["msgs_per_op"], row["sig_ops_per_op"],
                                          row["cpu_ms_per_op"], row["safety"]))
                with open(os.path.join(args.out, "scale.jsonl"), "a") as fh:
                    fh.write(json.dumps(full) + "\n")
            except (bench.Skip, RuntimeError) as e:
                log("%s f=%d %s: skipped: %s" % (r["protocol"], r["f"], r["auth"], e))
            finally:
                c.stop()
                c.keep_logs(os.path.join(args.out, "logs", "%s-f%d-%s"
                                         % (r["protocol"], r["f"], r["auth"])))
                c.remove()
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    write_csv(os.path.join(args.out, "scale.csv"), rows)
    write_md(args.out, rows, args)
    return rows


def ratio_half(args):
    """Issue 19's throughput target: HotStuff f=1 sig against PBFT f=1 sig, same
    batching (batch_max 128), 64 clients, in alternating rounds of one run so the
    machine's load hits both alike.  Prints each round and the ratio of the medians."""
    env = bench.Env(args)
    rows = []
    try:
        for rnd in range(args.ratio):
            order = ("hotstuff", "pbft") if rnd % 2 == 0 else ("pbft", "hotstuff")
            for protocol in order:
                r = bench.run_spec(protocol, f=1, auth="sig", clients=64)
                c = bench.Cluster(env, r)
                try:
                    c.start()
                    row, full = bench.do_run(c, r, args)
                    row = {k: row.get(k, "") for k in REAL_COLUMNS}
                    row["round"] = rnd + 1
                    with open(os.path.join(args.out, "ratio.jsonl"), "a") as fh:
                        fh.write(json.dumps(full) + "\n")
                    rows.append(row)
                    log("round %d %s f=1 sig: %s ops/s, p50 %s us, %s msgs/op, %s sig "
                        "ops/op, %s cpu-ms/op, %s" % (rnd + 1, protocol, row["throughput"],
                                                      row["p50_us"], row["msgs_per_op"],
                                                      row["sig_ops_per_op"],
                                                      row["cpu_ms_per_op"], row["safety"]))
                finally:
                    c.stop()
                    c.remove()
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    write_csv(os.path.join(args.out, "ratio.csv"), rows)

    def median(protocol):
        xs = sorted(float(r["throughput"]) for r in rows
                    if r["protocol"] == protocol and r["throughput"] != "")
        return xs[len(xs) // 2] if xs else 0.0
    hs, pb = median("hotstuff"), median("pbft")
    print("hotstuff/pbft f=1 sig, 64 clients, batch_max 128, %d rounds: median %.1f / "
          "%.1f ops/s = %.2fx" % (args.ratio, hs, pb, hs / pb if pb else 0.0))
    return rows


def real_formulas(protocol, n, f, k, hs_send="leaders"):
    """Per request on real processes at batch_max = 1 with enough closed-loop clients
    to keep the pipeline full (so, unlike the simulator's lone client, HotStuff needs
    one block per request: each block carries one, and its three-chain is made of the
    next requests' blocks).  k: checkpoint interval.  Returns {"agreement": replica-to-
    replica messages, "msgs": all messages, the request copies and replies included}.
    PBFT: request to the primary, (n-1) pre-prepare + (n-1)^2 prepare + n(n-1) commit
    + n(n-1)/k checkpoint, n replies.  HotStuff: (n-1) PROPOSAL + (n-1) VOTE per block,
    n replies, and the request to the leaders of f+1 views (hs_send = "leaders",
    client_core.c) or to all n (hs_send = "all", the client before issue 19's change)."""
    if protocol == "pbft":
        agreement = (n - 1) + (n - 1) ** 2 + n * (n - 1) + n * (n - 1) / k
        return {"agreement": agreement, "msgs": 1 + agreement + n}
    if protocol == "hotstuff":
        agreement = 2 * (n - 1)
        copies = n if hs_send == "all" else f + 1
        return {"agreement": agreement, "msgs": copies + agreement + n}
    return None


BATCH1_COLUMNS = ["protocol", "variant", "f", "n", "clients", "ops", "throughput", "p50_us",
                  "msgs_per_op", "msgs_formula", "agreement_msgs_per_op",
                  "agreement_formula", "client_msgs_per_op", "client_replies_per_op",
                  "replica_msgs_per_op", "safety"]


def checkpoint_interval(c):
    try:
        with open(os.path.join(c.dir, "cluster.ini")) as fh:
            for line in fh:
                k, _, v = line.partition("=")
                if k.strip() == "checkpoint_interval":
                    return int(v.split(";")[0])
    except (OSError, ValueError):
        pass
    return 128


def batch1_half(args):
    """PBFT and HotStuff at batch_max = 1, same clients, interleaved per f."""
    env = bench.Env(args)
    envs = {"": env}
    if args.before:
        old = copy.copy(env)
        old.bin = os.path.abspath(args.before)
        old.client = os.path.join(old.bin, "byzlab-client")
        old.env = dict(env.env, BYZLAB_BIN=old.bin)
        envs["before"] = old
    rows = []
    try:
        for f in REAL_F:
            runs = [("pbft", "", ""), ("hotstuff", "", "leaders"), ("hotstuff", "", "all")]
            if args.before:
                runs.append(("hotstuff", "before", "all"))
            for protocol, which, send in runs:
                ini = {"hotstuff_client": send} if send else {}
                r = bench.run_spec(protocol, f=f, auth="mac", batch=args.batch_max,
                                   clients=args.batch1_clients, ini=ini if not which else {})
                e = envs[which]
                e.slot = env.slot = max(e.slot, env.slot)
                c = bench.Cluster(e, r)
                variant = ("all n (%s)" % args.before_label if which
                           else "f+1 leaders" if send == "leaders"
                           else "all n" if send else "primary")
                try:
                    c.start()
                    row, full = bench.do_run(c, r, args)
                    res = full["bench"]
                    k = checkpoint_interval(c)
                    fm = real_formulas(protocol, r["n"], f, k, send or "all")
                    if args.batch_max != 1:  # the formulas are batch 1's
                        fm = {"msgs": float("nan"), "agreement": float("nan")}
                    out = {"protocol": protocol, "variant": variant, "f": f, "n": r["n"],
                           "clients": r["clients"], "ops": row["ops"],
                           "throughput": row["throughput"], "p50_us": row["p50_us"],
                           "msgs_per_op": row["msgs_per_op"],
                           "msgs_formula": "%.2f" % fm["msgs"],
                           "agreement_msgs_per_op": bench.fmt(
                               res.get("agreement_msgs_per_op"), 2),
                           "agreement_formula": "%.2f" % fm["agreement"],
                           "client_msgs_per_op": bench.fmt(res.get("client_msgs_per_op"), 2),
                           "client_replies_per_op": bench.fmt(
                               res.get("client_replies_per_op"), 2),
                           "replica_msgs_per_op": bench.fmt(res.get("replica_msgs_per_op"), 2),
                           "safety": row["safety"]}
                    rows.append(out)
                    log("batch %d %s %s f=%d: %s ops/s, %s msgs/op (formula %s), agreement "
                        "%s (formula %s), client %s, %s" % (
                            args.batch_max, protocol, variant, f, out["throughput"],
                            out["msgs_per_op"],
                            out["msgs_formula"], out["agreement_msgs_per_op"] or "-",
                            out["agreement_formula"], out["client_msgs_per_op"],
                            out["safety"]))
                    with open(os.path.join(args.out, "batch1.jsonl"), "a") as fh:
                        fh.write(json.dumps(full) + "\n")
                except (bench.Skip, RuntimeError) as err:
                    log("batch %d %s %s f=%d: skipped: %s" % (args.batch_max, protocol,
                                                              variant, f, err))
                finally:
                    c.stop()
                    c.remove()
                    env.slot = max(e.slot, env.slot)
    finally:
        for e in envs.values():
            shutil.rmtree(e.tmp, ignore_errors=True)
    write_csv(os.path.join(args.out, "batch1.csv"), rows)
    write_batch1_md(args.out, rows, args)
    return rows


def batch1_ratios(rows):
    """(n, measured msgs ratio, formula ratio, measured agreement ratio, formula
    agreement ratio) of PBFT over HotStuff (this build's client) at each n."""
    out = []
    for n in sorted({int(r["n"]) for r in rows}):
        pb = [r for r in rows if int(r["n"]) == n and r["protocol"] == "pbft"]
        hs = [r for r in rows if int(r["n"]) == n and r["protocol"] == "hotstuff"
              and r["variant"] == "f+1 leaders"]
        if not pb or not hs:
            continue
        pb, hs = pb[0], hs[0]

        def q(a, b):
            try:
                return float(a) / float(b)
            except (ValueError, ZeroDivisionError):
                return None
        out.append((n, q(pb["msgs_per_op"], hs["msgs_per_op"]),
                    q(pb["msgs_formula"], hs["msgs_formula"]),
                    q(pb["agreement_msgs_per_op"], hs["agreement_msgs_per_op"]),
                    q(pb["agreement_formula"], hs["agreement_formula"])))
    return out


def write_batch1_md(out, rows, args):
    def x(v):
        return "-" if v is None else "%.2f" % v
    with open(os.path.join(out, "batch1.md"), "w") as fh:
        fh.write("Real processes, batch_max %d, %d closed-loop clients, auth mac, %s s after "
                 "%s s warm-up; PBFT and HotStuff interleaved per f.\n\n"
                 % (args.batch_max, args.batch1_clients, args.seconds, args.warmup))
        fh.write("| protocol | client sends to | n | ops/s | msgs/op | formula | agreement "
                 "msgs/op | formula | client msgs/op | replies/op | safety |\n")
        fh.write("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
        for r in rows:
            fh.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
                r["protocol"], r["variant"], r["n"], r["throughput"], r["msgs_per_op"],
                r["msgs_formula"], r["agreement_msgs_per_op"] or "-",
                r["agreement_formula"], r["client_msgs_per_op"],
                r["client_replies_per_op"] or "-", r["safety"]))
        fh.write("\n| n | PBFT/HotStuff msgs | formula | PBFT/HotStuff agreement | formula |\n")
        fh.write("|--:|--:|--:|--:|--:|\n")
        for n, m, mf, a, af in batch1_ratios(rows):
            fh.write("| %d | %s | %s | %s | %s |\n" % (n, x(m), x(mf), x(a), x(af)))


def write_md(out, rows, args):
    with open(os.path.join(out, "scale.md"), "w") as fh:
        fh.write("Real processes on one machine (2 cores, shared and loaded: compare rows "
                 "of this one run, not absolute numbers); 64 clients, %s s measured "
                 "after %s s warm-up, batch_max 128.\n\n" % (args.seconds, args.warmup))
        fh.write("| protocol | f | n | auth | ops/s | p50 ms | p99 ms | msgs/op | bytes/op "
                 "| sig ops/op | CPU ms/op | safety |\n")
        fh.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            ms = [("%.2f" % (float(r[k]) / 1000)) if r[k] != "" else "-"
                  for k in ("p50_us", "p99_us")]
            fh.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n"
                     % (r["protocol"], r["f"], r["n"], r["auth"], r["throughput"], ms[0],
                        ms[1], r["msgs_per_op"], r["bytes_per_op"], r["sig_ops_per_op"],
                        r["cpu_ms_per_op"] or "-", r["safety"]))


def write_csv(path, rows):
    if not rows:
        return
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


# ------------------------------------------------------------------ plots

def plots(out, sim_rows, vc_rows, real_rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: no plots")
        return []
    made = []

    def save(fig, name):
        fig.tight_layout()
        path = os.path.join(out, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)

    for key, fkey, label, name in (("msgs_per_op", "msgs_formula", "messages per request",
                                    "sim_msgs_vs_n.png"),
                                   ("sig_ops_per_op", "sig_formula",
                                    "signature operations per request", "sim_sigs_vs_n.png")):
        if not sim_rows:
            break
        fig, ax = plt.subplots(figsize=(6, 4))
        for protocol in PROTOCOLS:
            rs = [r for r in sim_rows if r["protocol"] == protocol]
            if not rs:
                continue
            ns = [int(r["n"]) for r in rs]
            line, = ax.plot(ns, [float(r[fkey]) for r in rs], "-", label="%s formula"
                            % protocol)
            ax.plot(ns, [float(r[key]) for r in rs], "o", color=line.get_color(),
                    label="%s simulator" % protocol)
        ax.set_xlabel("n (replicas)")
        ax.set_ylabel(label)
        ax.set_title("simulator, batch 1, one client, auth sig")
        ax.legend()
        ax.grid(alpha=0.3)
        save(fig, name)

    if vc_rows:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        for protocol in PROTOCOLS:
            rs = [r for r in vc_rows if r["protocol"] == protocol]
            if not rs:
                continue
            ns = [int(r["n"]) for r in rs]
            axes[0].plot(ns, [int(r["vc_msgs"]) for r in rs], "o-", label=protocol)
            axes[1].plot(ns, [int(r["vc_bytes"]) / 1024 for r in rs], "o-", label=protocol)
        axes[0].set_ylabel("view-change messages")
        axes[1].set_ylabel("view-change KiB")
        for ax in axes:
            ax.set_xlabel("n (replicas)")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle("one view change (silent primary), simulator")
        save(fig, "viewchange_vs_n.png")

    for key, label in (("throughput", "ops/s"), ("p50_us", "p50 latency (us)"),
                       ("p99_us", "p99 latency (us)"), ("msgs_per_op", "messages/op"),
                       ("bytes_per_op", "bytes/op"), ("sig_ops_per_op", "sig ops/op"),
                       ("cpu_ms_per_op", "replica CPU ms/op")):
        if not real_rows:
            break
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for protocol in PROTOCOLS:
            for auth, style in (("mac", "o-"), ("sig", "s--")):
                rs = [r for r in real_rows if r["protocol"] == protocol
                      and r["auth"] == auth and r[key] not in ("", None)]
                if rs:
                    ax.plot([int(r["n"]) for r in rs], [float(r[key]) for r in rs], style,
                            label="%s %s" % (protocol, auth))
        ax.set_xlabel("n (replicas)")
        ax.set_ylabel(label)
        ax.set_title("real processes, 64 clients (one loaded machine)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, "scale_%s.png" % key)
    return made


def read_csv(path):
    try:
        with open(path) as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


# ------------------------------------------------------------------ main

def main():
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (< 4 min)")
    ap.add_argument("--out", help="results directory (default results/scale-<timestamp>)")
    ap.add_argument("--bin", default=os.environ.get("BYZLAB_BIN",
                                                    os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--driver", default=os.path.join(ROOT, "byzlab"))
    ap.add_argument("--base-port", type=int, default=29000,
                    help="clusters use ports B..B+299 (default 29000)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--sim-only", action="store_true", help="the simulator half only")
    ap.add_argument("--check", action="store_true",
                    help="simulator counts only; exit 1 unless within 5%% of the formulas")
    ap.add_argument("--plant-bug", choices=PLANTS,
                    help="a wrong formula the --check must catch")
    ap.add_argument("--max-n", type=int, default=MAX_N,
                    help="simulator: only n up to this (default 31; the ctest: 32, under "
                    "ASan 10)")
    ap.add_argument("--expect-mismatch", action="store_true",
                    help="with --check: exit 0 iff some count is off (a planted bug seen)")
    ap.add_argument("--plots-only", metavar="DIR", help="redo the plots of DIR")
    ap.add_argument("--ratio", type=int, metavar="ROUNDS",
                    help="only HotStuff f=1 sig against PBFT f=1 sig, ROUNDS alternating "
                    "rounds (the issue's 0.7x throughput target)")
    ap.add_argument("--batch1", action="store_true",
                    help="only PBFT against HotStuff at batch_max 1 on real processes, "
                    "agreement messages per request against the formulas")
    ap.add_argument("--batch1-clients", type=int, default=16,
                    help="--batch1: closed-loop clients for both (default 16)")
    ap.add_argument("--batch-max", type=int, default=1,
                    help="--batch1: batch_max of both (default 1; the formulas hold at 1)")
    ap.add_argument("--before", metavar="BIN",
                    help="--batch1: also HotStuff from this build's bin directory")
    ap.add_argument("--before-label", default="before",
                    help="--batch1: what --before's rows are called")
    ap.set_defaults(port_stride=10, port_slots=10)  # bench.Env: ranges B, B+10, .. B+90
    args = ap.parse_args()
    if args.plots_only:
        d = args.plots_only
        for p in plots(d, read_csv(os.path.join(d, "sim_counts.csv")),
                       read_csv(os.path.join(d, "sim_viewchange.csv")),
                       read_csv(os.path.join(d, "scale.csv"))):
            print(p)
        return 0
    sim = os.path.join(args.bin, "byzlab-sim")
    if args.check:
        import tempfile
        tmp = tempfile.mkdtemp(prefix="byzlab-scale.")
        try:
            rows, _ = sim_half(sim, tmp, args.plant_bug, viewchange=False,
                               max_n=args.max_n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        bad = check(rows)
        for b in bad:
            print("FAIL %s" % b)
        print("%d of %d counts (msgs/op and sig ops/op for %d protocol-f pairs) within "
              "%.0f%% of the formulas" % (2 * len(rows) - len(bad), 2 * len(rows), len(rows),
                                          100 * TOLERANCE))
        if args.expect_mismatch:
            return 0 if bad else 1
        return 1 if bad else 0
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 8.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    if not args.out:
        args.out = os.path.join(ROOT, "results", "scale-"
                                + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(args.out, exist_ok=True)
    if args.ratio:
        ratio_half(args)
        return 0
    if args.batch1:
        rows = batch1_half(args)
        for n, m, mf, a, af in batch1_ratios(rows):
            print("n=%d: PBFT/HotStuff msgs/op %s (formula %.2f), agreement %s (formula "
                  "%.2f)" % (n, "%.2f" % m if m else "-", mf, "%.2f" % a if a else "-", af))
        print("results: %s" % args.out)
        return 0
    sim_rows, vc_rows = sim_half(sim, args.out, args.plant_bug)
    bad = check(sim_rows)
    for b in bad:
        log("formula mismatch: %s" % b)
    real_rows = [] if args.sim_only else real_half(args)
    for p in plots(args.out, sim_rows, vc_rows, real_rows):
        print("plot:    %s" % p)
    print("results: %s" % args.out)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
