#!/usr/bin/python3
"""bench.py - byzlab's experiment matrix: the cost of BFT, measured.

Runs local clusters (./byzlab cluster init/up/down) of PBFT, VR and the unreplicated
baseline, drives each with `byzlab-client bench` (closed loop, warm-up excluded,
--cost: status counters and /proc CPU over the measured interval), checks safety,
and writes under results/<timestamp>/ (or --out DIR):

  runs.csv        one row per run, the columns of product.md ("Results")
  sync-full.csv   the same columns, rows run with sync = full (fsync per loop turn)
  runs.jsonl      every run in full: its spec, bench's JSON (histogram, time series),
                  the final status of every replica, the safety verdict's details
  notes.txt       runs that were skipped, and why
  meta.json       machine, command, git revision, settings
  *.png           plots (see plots())

Usage: experiments/bench.py [--quick] [--out DIR] [--only SUBSTRING] [--list] ...
Normally run through `./byzlab bench [--quick] [--out DIR]` (and `./byzlab demo`).

Safety: a run is `ok` when (1) a --verify bench (each client reads back its own
writes) after the measured load saw no mismatch, and (2) no two correct replicas
(not --byz) that report the same stable checkpoint report different state digests
(tools/bzharness.py diverged()); otherwise `violated`.

Clusters are written by byzlab-keygen --cluster (tools/bzharness.py init_cluster(),
with the run's [cluster] settings as --set), started and stopped by ./byzlab.

Stdlib only, plus matplotlib for the plots (Debian: python3-matplotlib).
"""

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bzharness  # noqa: E402  (the harness shared with the tests and docker/)

COLUMNS = bzharness.COLUMNS     # runs.csv (product.md, "Results")

VERIFY_CLIENT_ID = 100          # the safety check's clients: ids 100..103
VERIFY_CLIENTS, VERIFY_OPS = 4, 100


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the plan

n_of = bzharness.protocol_n     # the plan's n, before any cluster exists


def run_spec(protocol, f=1, auth="mac", batch=128, payload=0, clients=64, byz=None,
             fault=None, sync="none", seconds=None, warmup=None, interval=1000,
             bench_args=None, opt=None, setting=None, ini=None):
    """opt/setting: an optimization measured on and off (optimizations.csv);
    bench_args: extra `byzlab-client bench` arguments (--separate); ini: extra
    [cluster] keys of cluster.ini (read_only = on, coalesce = off, ...)."""
    if protocol == "single":
        f = 0
    return dict(protocol=protocol, f=f, n=n_of(protocol, f), auth=auth, batch_max=batch,
                payload=payload, clients=clients, byz=byz, fault=fault, sync=sync,
                seconds=seconds, warmup=warmup, interval=interval,
                bench_args=bench_args or [], opt=opt, setting=setting, ini=ini or {})


def plan_quick():
    """The demo: same workload on PBFT f=1, VR f=1 and single, both auth modes,
    HotStuff f=1 (mac), then PBFT with a lying replica, and a primary kill.  Under 2 minutes of runs."""
    runs = []
    for auth in ("mac", "sig"):
        for p in ("pbft", "vr", "single"):
            runs.append(run_spec(p, auth=auth, clients=64))
            if auth == "mac":   # same cluster: one client, latency
                runs.append(run_spec(p, auth="mac", clients=1))
    # batch 1 with one client: the message and crypto counts the formulas predict
    runs.append(run_spec("pbft", auth="sig", batch=1, clients=1, seconds=2))
    runs.append(run_spec("vr", auth="sig", batch=1, clients=1, seconds=2))
    runs.append(run_spec("hotstuff", auth="mac", clients=64))   # issue 19: one row
    runs.append(run_spec("pbft", auth="mac", clients=64, byz="3=silent"))
    runs.append(run_spec("pbft", auth="mac", clients=64, byz="0=equivocate"))
    runs.append(run_spec("pbft", auth="mac", clients=16, fault="kill-primary",
                         seconds=8, warmup=0, interval=250))
    return runs


BYZ_BEHAVIOURS = ["3=silent", "0=equivocate", "3=bad-digest", "3=forge", "3=replay",
                  "3=wrong-reply", "0=slow-primary:900", "3=fake-view-change",
                  "3=flood:2000", "3=selective:0,1"]


def plan_full():
    """About 20 minutes on a 2-core machine."""
    runs = []
    # throughput and latency against load: every protocol and auth mode
    for auth in ("mac", "sig"):
        for p in ("pbft", "vr", "single"):
            for c in (1, 16, 64):
                runs.append(run_spec(p, auth=auth, clients=c))
    # batching
    for auth in ("mac", "sig"):
        for p in ("pbft", "vr", "single"):
            for b in (1, 16):
                runs.append(run_spec(p, auth=auth, batch=b, clients=64))
    # message and crypto counts at batch 1 (against the formulas), f = 1 and 2
    for auth in ("mac", "sig"):
        for p, f in (("pbft", 1), ("pbft", 2), ("vr", 1), ("vr", 2), ("single", 0)):
            runs.append(run_spec(p, f=f, auth=auth, batch=1, clients=1, seconds=3))
    # f = 2 under load
    for auth in ("mac", "sig"):
        for p in ("pbft", "vr"):
            runs.append(run_spec(p, f=2, auth=auth, clients=64))
    # 1 KiB payloads
    for auth in ("mac", "sig"):
        for p in ("pbft", "vr", "single"):
            runs.append(run_spec(p, auth=auth, payload=1024, clients=64))
    # durable: fsync every loop turn (sync-full.csv)
    for p in ("pbft", "vr", "single"):
        for c in (1, 64):
            runs.append(run_spec(p, auth="mac", clients=c, sync="full"))
    # lying replicas, one per behaviour (skipped with a note while one is missing)
    for b in BYZ_BEHAVIOURS:
        runs.append(run_spec("pbft", auth="mac", clients=64, byz=b))
    runs.append(run_spec("vr", auth="mac", clients=64, byz="0=equivocate"))
    # throughput over time: a primary killed, a slow primary
    for p in ("pbft", "vr"):
        runs.append(run_spec(p, auth="mac", clients=16, fault="kill-primary", seconds=12,
                             warmup=0, interval=250))
    runs.append(run_spec("pbft", auth="mac", clients=16, byz="0=slow-primary:900",
                         fault="timeline", seconds=12, warmup=0, interval=250))
    runs += plan_optimizations()
    return runs


FORENSICS_ROUNDS = 3


def plan_optimizations():
    """Each optimization on and off, back to back (optimizations.csv)."""
    runs = []

    def pair(opt, on, off):
        runs.append(dict(on, opt=opt, setting="on"))
        runs.append(dict(off, opt=opt, setting="off"))
    base = run_spec("pbft", auth="mac", clients=64)
    pair("batching", base, run_spec("pbft", auth="mac", batch=1, clients=64))
    pair("mac-authenticators", base, run_spec("pbft", auth="sig", clients=64))
    # replica-to-replica bundles alone: clients on separate connections both times
    # (plain replies to one shared connection overflow nng's per-pipe queue)
    sep = ["--separate"]
    pair("peer-bundles", run_spec("pbft", auth="mac", clients=64, bench_args=sep),
         run_spec("pbft", auth="mac", clients=64, bench_args=sep,
                  ini={"coalesce": "off"}))
    pair("shared-client-connections", base,
         run_spec("pbft", auth="mac", clients=64, bench_args=sep))
    pair("aio-receive", base, run_spec("pbft", auth="mac", clients=64,
                                       ini={"rx_aio": "off"}))
    # everything in the transport at once, per protocol: what it does to the ratios
    old = {"coalesce": "off", "rx_aio": "off"}
    for p in ("pbft", "vr", "single"):
        pair("transport-" + p, run_spec(p, auth="mac", clients=64),
             run_spec(p, auth="mac", clients=64, ini=old, bench_args=sep))
    # PBFT §5.1.3: gets answered without agreement, on a 90% read mix; every request
    # then waits for 2f+1 replies (client/client.c says why)
    mix = ["--mix", "90"]
    pair("read-only", run_spec("pbft", auth="mac", clients=64, bench_args=mix,
                               ini={"read_only": "on"}),
         run_spec("pbft", auth="mac", clients=64, bench_args=mix))
    # PBFT §5.1.1: one full reply per request, digests from the others; 1 KiB values
    # read back (90% gets) so that the replies weigh something
    big = ["--mix", "90", "--payload", "1024"]
    pair("digest-replies", run_spec("pbft", auth="mac", clients=64, bench_args=big,
                                    ini={"digest_replies": "on"}),
         run_spec("pbft", auth="mac", clients=64, bench_args=big))
    # issue 17: proofs of equivocation kept, gossiped and acted upon, or not at all
    # (cluster.ini evidence = off); with signatures, where proofs exist.  No liar: what
    # correct replicas pay for being ready (COMMITs' bytes kept, the checks).
    pair("evidence", run_spec("pbft", auth="sig", clients=64),
         run_spec("pbft", auth="sig", clients=64, ini={"evidence": "off"}))
    # issue 17: the forensic transcript (cluster.ini forensics_k, default 2) against
    # none, with signatures and sync = full (the transcript is durable), 16 clients as in
    # experiments/forensics_cost.sh; target on/off >= 0.95 (docs/EXPERIMENTS.md §9.1).
    # A few percent is below one run's noise on a shared machine: interleaved rounds.
    for _ in range(FORENSICS_ROUNDS):
        pair("forensics", run_spec("pbft", auth="sig", clients=16, sync="full"),
             run_spec("pbft", auth="sig", clients=16, sync="full",
                      ini={"forensics_k": "0"}))
    full = run_spec("pbft", auth="mac", clients=64, sync="full")
    pair("group-commit", full, run_spec("pbft", auth="mac", clients=64, sync="full",
                                        ini={"group_commit": "off"}))
    return runs


def run_name(r):
    s = "%s-f%d-%s-b%d-p%d-c%d" % (r["protocol"], r["f"], r["auth"], r["batch_max"],
                                   r["payload"], r["clients"])
    if r["byz"]:
        s += "-byz" + r["byz"].replace("=", "_").replace(":", "_").replace(",", "_")
    if r["fault"]:
        s += "-" + r["fault"]
    if r["sync"] != "none":
        s += "-sync" + r["sync"]
    for a in r.get("bench_args", []):
        s += a.replace("--", "-")
    for k, v in sorted(r.get("ini", {}).items()):
        s += "-%s%s" % (k.replace("_", ""), v)
    if r.get("opt"):
        s = "opt-%s-%s:%s" % (r["opt"], r["setting"], s)
    return s


def cluster_key(r):
    """Runs with the same key can share one cluster (started once)."""
    if r["fault"]:
        return None     # a fault leaves the cluster changed: fresh cluster per run
    return (r["protocol"], r["f"], r["auth"], r["batch_max"], r["sync"], r["byz"],
            tuple(sorted(r.get("ini", {}).items())))


# ------------------------------------------------------------------ processes

class Env:
    def __init__(self, args):
        self.driver = args.driver
        self.bin = args.bin
        self.client = os.path.join(self.bin, "byzlab-client")
        self.base_port = args.base_port
        self.stride = args.port_stride
        self.slots = getattr(args, "port_slots", 40)  # experiments held to fewer ranges
        self.slot = 0
        self.tmp = tempfile.mkdtemp(prefix="byzlab-bench.")
        self.env = dict(os.environ, BYZLAB_BIN=self.bin)

    def next_port(self, n):
        """A base port P whose P..P+n-1, P+100.., P+200.. are free now (others may run
        tests or clusters on this machine), rotating so a cluster just stopped is
        not reused at once."""
        for k in range(self.slots):
            port = self.base_port + self.stride * ((self.slot + k) % self.slots)
            if all(port_free(port + off + i) for off in (0, 100, 200) for i in range(n)):
                self.slot += k + 1
                return port
        raise RuntimeError("no free port range in %d-%d" % (
            self.base_port, self.base_port + self.stride * (self.slots - 1) + 299))


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def sh(env, argv, timeout=120, check=True):
    p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout, env=env.env)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(map(str, argv)), p.returncode,
                                                   p.stdout[-2000:], p.stderr[-3000:]))
    return p


class Cluster(bzharness.LocalCluster):
    def __init__(self, env, r):
        super().__init__(os.path.join(env.tmp, "c%d" % env.slot), env.bin, env.driver)
        self.env = env
        self.r = r
        self.port = env.next_port(r["n"])
        self.up = False

    def start(self):
        r = self.r
        for attempt in range(3):
            # cluster.ini with this run's settings, written once by byzlab-keygen
            shutil.rmtree(self.dir, ignore_errors=True)
            try:
                self.init_cluster(r["protocol"], r["f"], auth=r["auth"], base_port=self.port,
                                  settings=dict({"batch_max": r["batch_max"],
                                                 "sync": r["sync"]}, **r.get("ini", {})),
                                  env=self.env.env)
            except bzharness.HarnessError as e:
                raise RuntimeError(str(e))
            p = subprocess.run(self.up_argv([r["byz"]] if r["byz"] else None),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60, env=self.env.env)
            self.up = True
            if p.returncode == 0:
                break
            self.stop()
            if "Address in use" not in p.stderr or attempt == 2:
                raise Skip("cluster up failed (exit %d): %s"
                           % (p.returncode, last_lines(p.stderr, 6)))
            log("ports %d.. taken meanwhile: trying others" % self.port)
            self.port = self.env.next_port(r["n"])
        if r["byz"]:
            i = r["byz"].split("=")[0]
            log_text = read(os.path.join(self.dir, "logs", "replica-%s.log" % i))
            if "not implemented" in log_text:
                raise Skip("--byz %s: accepted, but the lie is not implemented yet"
                           % r["byz"])

    def stop(self):
        if self.up:
            sh(self.env, self.down_argv(), timeout=60, check=False)
            self.up = False

    def keep_logs(self, dest):
        src = os.path.join(self.dir, "logs")
        if os.path.isdir(src):
            shutil.copytree(src, dest, dirs_exist_ok=True)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def client_argv(self, *args, client_id=0, timeout_ms=5000):
        return super().client_argv(*args, client_id=client_id, timeout_ms=timeout_ms)

    def status(self):
        p = sh(self.env, self.client_argv("status", timeout_ms=2000), check=False)
        return bzharness.parse_status(p.stdout, strict=False)


class Skip(Exception):
    pass


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def last_lines(text, n):
    return " | ".join(text.strip().splitlines()[-n:])


def parse_bench(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


# ------------------------------------------------------------------ one run

def bench_argv(c, r, seconds, warmup):
    return c.client_argv("bench", "--clients", r["clients"], "--seconds", seconds,
                         "--warmup", warmup, "--payload", r["payload"], "--cost", "--hist",
                         "--interval", r["interval"], "--quiet", *r.get("bench_args", []))


def run_load(c, r, seconds, warmup):
    """The measured bench, with the run's fault injected on its schedule."""
    argv = bench_argv(c, r, seconds, warmup)
    limit = seconds + warmup + 90
    if r["fault"] != "kill-primary":
        p = sh(c.env, argv, timeout=limit, check=False)
        return p, []
    events = []
    st = c.status()
    primary = next((s.get("primary", 0) for s in st if not s.get("down")), 0)
    t0 = time.monotonic()
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=c.env.env)
    kill_at, restart_at = seconds * 0.3, seconds * 0.6
    time.sleep(max(0, kill_at - (time.monotonic() - t0)))
    pid = c.pid(primary)
    if pid:
        os.kill(pid, signal.SIGKILL)
        events.append({"t": round(time.monotonic() - t0, 3), "event": "kill -9 primary %d"
                       % primary})
    time.sleep(max(0, restart_at - (time.monotonic() - t0)))
    sh(c.env, [c.env.driver, "cluster", "up", c.dir], timeout=60, check=False)
    events.append({"t": round(time.monotonic() - t0, 3), "event": "restart %d" % primary})
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), events


def safety(c, r):
    """(verdict, details): a read-your-writes check, then the replicas' digests."""
    p = sh(c.env, c.client_argv("bench", "--clients", VERIFY_CLIENTS, "--ops", VERIFY_OPS,
                                "--verify", "--quiet", client_id=VERIFY_CLIENT_ID,
                                timeout_ms=10000), timeout=120, check=False)
    res = parse_bench(p.stdout) or {}
    mismatches = res.get("mismatches")
    liars = set()
    if r["byz"]:
        liars.add(int(r["byz"].split("=")[0]))
    st = c.status()
    correct = [s["id"] for s in st if s["id"] not in liars]
    split = {str(k): sorted(v) for k, v in
             bzharness.diverged(bzharness.by_id(st), correct).items()}
    ok = mismatches == 0 and not split
    details = {"verify_exit": p.returncode, "verify_mismatches": mismatches,
               "verify_ops": res.get("ops"), "digest_disagreements": split,
               "status": st}
    if mismatches is None:
        details["verify_error"] = last_lines(p.stderr, 5)
    return ("ok" if ok else "violated"), details


def fmt(v, digits):
    if v is None:
        return ""
    return ("%." + str(digits) + "f") % v


def do_run(c, r, args):
    seconds = r["seconds"] if r["seconds"] is not None else args.seconds
    warmup = r["warmup"] if r["warmup"] is not None else args.warmup
    p, events = run_load(c, r, seconds, warmup)
    res = parse_bench(p.stdout)
    if res is None:
        raise RuntimeError("bench printed no result (exit %d): %s"
                           % (p.returncode, last_lines(p.stderr, 8)))
    verdict, details = safety(c, r)
    faults = "none"
    if r["fault"] == "kill-primary":
        faults = "kill-primary@%.0fs,restart@%.0fs" % (seconds * 0.3, seconds * 0.6)
    row = {
        "protocol": r["protocol"], "f": r["f"], "n": r["n"], "auth": r["auth"],
        "batch_max": r["batch_max"], "payload": r["payload"], "clients": r["clients"],
        "byz": r["byz"] or "none", "faults": faults, "ops": res.get("ops", 0),
        "throughput": fmt(res.get("throughput"), 1), "p50_us": res.get("p50_us", ""),
        "p99_us": res.get("p99_us", ""), "msgs_per_op": fmt(res.get("msgs_per_op"), 2),
        "bytes_per_op": fmt(res.get("bytes_per_op"), 0),
        "sig_ops_per_op": fmt(res.get("sig_ops_per_op"), 2),
        "cpu_ms_per_op": fmt(res.get("cpu_ms_per_op"), 4), "safety": verdict,
    }
    full = {"name": run_name(r), "spec": r, "seconds": seconds, "warmup": warmup,
            "bench": res, "bench_exit": p.returncode, "events": events, "safety": details,
            "row": row}
    return row, full


# ------------------------------------------------------------------ the matrix

class Writer:
    def __init__(self, out):
        self.out = out
        self.files = {}
        self.rows = {"runs": [], "sync-full": [], "optimizations": []}
        self.jsonl = open(os.path.join(out, "runs.jsonl"), "a")
        self.notes = open(os.path.join(out, "notes.txt"), "a")
        for name in self.rows:
            path = os.path.join(out, name + ".csv")
            fh = open(path, "w", newline="")
            cols = COLUMNS + (["optimization", "setting"] if name == "optimizations" else [])
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            fh.flush()
            self.files[name] = (fh, w)

    def row(self, r, row, full):
        name = "sync-full" if r["sync"] == "full" else "runs"
        if r.get("opt"):
            name = "optimizations"
            row = dict(row, optimization=r["opt"], setting=r["setting"])
        fh, w = self.files[name]
        w.writerow(row)
        fh.flush()
        self.rows[name].append(row)
        self.jsonl.write(json.dumps(full) + "\n")
        self.jsonl.flush()

    def note(self, r, why):
        self.notes.write("%s: skipped: %s\n" % (run_name(r), why))
        self.notes.flush()

    def close(self):
        for fh, _ in self.files.values():
            fh.close()
        self.jsonl.close()
        self.notes.close()
        # empty files (quick runs) are noise
        for name in ("sync-full", "optimizations"):
            if not self.rows[name]:
                os.unlink(os.path.join(self.out, name + ".csv"))


def run_matrix(runs, args, env, w):
    c = None
    key = None
    t_start = time.monotonic()
    skipped_keys = {}
    try:
        for i, r in enumerate(runs):
            name = run_name(r)
            k = cluster_key(r)
            if k is not None and k in skipped_keys:
                w.note(r, skipped_keys[k])
                log("%d/%d %s: skipped (%s)" % (i + 1, len(runs), name, skipped_keys[k]))
                continue
            try:
                if c is None or k is None or k != key:
                    if c is not None:
                        c.stop()
                        c.remove()
                    c = Cluster(env, r)
                    key = k
                    c.start()
                row, full = do_run(c, r, args)
                w.row(r, row, full)
                log("%d/%d %s: %s ops/s, p50 %s us, p99 %s us, %s msgs/op, %s cpu-ms/op, %s"
                    % (i + 1, len(runs), name, row["throughput"], row["p50_us"],
                       row["p99_us"], row["msgs_per_op"], row["cpu_ms_per_op"],
                       row["safety"]))
                if row["safety"] != "ok" and c is not None:
                    c.keep_logs(os.path.join(args.out, "logs", name))
            except Skip as e:
                w.note(r, str(e))
                log("%d/%d %s: skipped: %s" % (i + 1, len(runs), name, e))
                if k is not None:
                    skipped_keys[k] = str(e)
                if c is not None:
                    c.keep_logs(os.path.join(args.out, "logs", name))
                    c.stop()
                    c.remove()
                c, key = None, None
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                w.note(r, "failed: %s" % e)
                log("%d/%d %s: FAILED: %s" % (i + 1, len(runs), name, e))
                if c is not None:
                    c.keep_logs(os.path.join(args.out, "logs", name))
                    c.stop()
                    c.remove()
                c, key = None, None
    finally:
        if c is not None:
            c.stop()
            c.remove()
    log("matrix done in %.0f s" % (time.monotonic() - t_start))


# ------------------------------------------------------------------ plots

def load_runs(out):
    runs = []
    with open(os.path.join(out, "runs.jsonl")) as f:
        for line in f:
            try:
                runs.append(json.loads(line))
            except ValueError:
                pass
    return runs


def formulas(protocol, n, auth):
    """Per request at batch 1, one client, idle system (docs/EXPERIMENTS.md).
    msgs: including the client's request.  sig: replica-side signatures made plus
    verified (auth = sig)."""
    if protocol == "pbft":
        msgs = 1 + (n - 1) + (n - 1) * (n - 1) + n * (n - 1) + n
        sig = n + 1 + (n - 1) + (n - 1) + (n - 1) * (n - 1) + n + n * (n - 1) + n
    elif protocol == "vr":
        # request, prepare, prepare-ok, reply; under a closed loop the commit-number
        # rides on the next PREPARE (an idle primary adds a COMMIT: n-1 more)
        msgs = 1 + (n - 1) + (n - 1) + 1
        sig = 1 + 1 + (n - 1) + (n - 1) + (n - 1) + 1
    else:
        msgs, sig = 2, 2
    return msgs, (sig if auth == "sig" else 0)


def plots(out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (apt-get install python3-matplotlib): no plots")
        return []
    runs = [x for x in load_runs(out) if x["row"]["safety"] in ("ok", "violated")]
    made = []
    colors = {"pbft": "tab:red", "vr": "tab:blue", "single": "tab:green"}

    def plain(x, **kw):
        s = x["spec"]
        # ("env": how results written before issue 15 turned optimizations off)
        if s.get("opt") or s.get("env") or s.get("ini") or s.get("bench_args"):
            return False
        want = dict(f=None, batch_max=128, payload=0, byz=None, fault=None, sync="none")
        want.update(kw)
        for k, v in want.items():
            if k == "f":
                if v is None:
                    if s["protocol"] != "single" and s["f"] != 1:
                        return False
                elif s["f"] != v:
                    return False
            elif s[k] != v:
                return False
        return True

    def save(fig, name):
        path = os.path.join(out, name)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        made.append(path)

    # 1. throughput vs clients
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False)
    for ax, auth in zip(axes, ("mac", "sig")):
        for p in ("single", "vr", "pbft"):
            pts = sorted((x["spec"]["clients"], x["bench"]["throughput"]) for x in runs
                         if x["spec"]["protocol"] == p and x["spec"]["auth"] == auth
                         and plain(x))
            if pts:
                ax.plot([a for a, _ in pts], [b for _, b in pts], "o-", color=colors[p],
                        label=p)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("closed-loop clients")
        ax.set_ylabel("ops/s")
        ax.set_title("auth = %s, batch_max 128, f = 1" % auth)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    save(fig, "throughput_vs_clients.png")

    # 2. latency CDFs (from the histograms)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, clients in zip(axes, (1, 64)):
        for x in runs:
            s = x["spec"]
            if s["clients"] != clients or not plain(x) or "hist" not in x["bench"]:
                continue
            h = x["bench"]["hist"]
            total = float(sum(b[2] for b in h)) or 1.0
            xs, ys, acc = [], [], 0
            for lo, hi, cnt in h:
                acc += cnt
                xs.append(max(hi, 1) / 1000.0)
                ys.append(acc / total)
            ax.plot(xs, ys, color=colors[s["protocol"]],
                    linestyle="-" if s["auth"] == "mac" else "--",
                    label="%s %s" % (s["protocol"], s["auth"]))
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("fraction of requests")
        ax.set_title("latency CDF, %d client%s" % (clients, "" if clients == 1 else "s"))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    save(fig, "latency_cdf.png")

    # 3. cost ratios PBFT/VR and PBFT/single, per auth mode, at 64 clients
    metrics = [("throughput", "throughput"), ("p50_us", "p50 latency"),
               ("msgs_per_op", "msgs/op"), ("bytes_per_op", "bytes/op"),
               ("cpu_ms_per_op", "CPU/op")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, auth in zip(axes, ("mac", "sig")):
        base = {}
        for x in runs:
            s = x["spec"]
            if s["auth"] == auth and s["clients"] == 64 and plain(x):
                base[s["protocol"]] = x["bench"]
        width = 0.38
        for j, other in enumerate(("vr", "single")):
            if "pbft" not in base or other not in base:
                continue
            vals = []
            for m, _ in metrics:
                a, b = base["pbft"].get(m), base[other].get(m)
                vals.append(a / b if a and b else 0)
            xs = [i + (j - 0.5) * width for i in range(len(metrics))]
            bars = ax.bar(xs, vals, width, label="PBFT / %s" % other.upper()
                          if other == "vr" else "PBFT / single",
                          color="tab:blue" if other == "vr" else "tab:green")
            for rect, v in zip(bars, vals):
                ax.annotate("%.2f" % v, (rect.get_x() + rect.get_width() / 2, v),
                            ha="center", va="bottom", fontsize=7)
        ax.axhline(1, color="black", linewidth=0.8)
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels([t for _, t in metrics], fontsize=8)
        ax.set_yscale("log")
        ax.set_title("cost ratios, auth = %s, 64 clients" % auth)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    save(fig, "cost_ratios.png")

    # 4. messages and crypto per op at batch 1 against the formulas
    pts = []
    for x in runs:
        s = x["spec"]
        if s["batch_max"] == 1 and s["clients"] == 1 and plain(x, batch_max=1, f=s["f"]):
            fm, fs = formulas(s["protocol"], s["n"], s["auth"])
            pts.append(("%s n=%d %s" % (s["protocol"], s["n"], s["auth"]),
                        x["bench"].get("msgs_per_op") or 0, fm,
                        x["bench"].get("sig_ops_per_op") or 0, fs, s["auth"]))
    if pts:
        pts.sort()
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        labels = [p[0] for p in pts]
        xs = range(len(pts))
        axes[0].bar([i - 0.2 for i in xs], [p[1] for p in pts], 0.4, label="measured")
        axes[0].bar([i + 0.2 for i in xs], [p[2] for p in pts], 0.4, label="formula")
        axes[0].set_title("messages per request (batch 1, 1 client)")
        sig = [p for p in pts if p[5] == "sig"]
        axes[1].bar([i - 0.2 for i in range(len(sig))], [p[3] for p in sig], 0.4,
                    label="measured")
        axes[1].bar([i + 0.2 for i in range(len(sig))], [p[4] for p in sig], 0.4,
                    label="formula")
        axes[1].set_title("signatures made+verified per request (replicas)")
        for ax, lab in ((axes[0], labels), (axes[1], [p[0] for p in sig])):
            ax.set_xticks(range(len(lab)))
            ax.set_xticklabels(lab, rotation=30, ha="right", fontsize=7)
            ax.legend(fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        save(fig, "msgs_crypto_vs_formula.png")

    # 5. optimizations on and off
    opts = {}
    for x in runs:
        s = x["spec"]
        if s.get("opt"):
            opts.setdefault(s["opt"], {})[s["setting"]] = x["bench"]
    opts = {k: v for k, v in opts.items() if "on" in v and "off" in v}
    if opts:
        names = sorted(opts)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, (m, title) in zip(axes, (("throughput", "throughput, on / off"),
                                         ("cpu_ms_per_op", "replica CPU per op, on / off"))):
            vals = []
            for k in names:
                a, b = opts[k]["on"].get(m), opts[k]["off"].get(m)
                vals.append(a / b if a and b else 0)
            bars = ax.bar(range(len(names)), vals, color="tab:purple")
            for rect, v in zip(bars, vals):
                ax.annotate("%.2f" % v, (rect.get_x() + rect.get_width() / 2, v),
                            ha="center", va="bottom", fontsize=7)
            ax.axhline(1, color="black", linewidth=0.8)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
            ax.set_title(title)
        save(fig, "optimizations.png")

    # 6. throughput over time across faults
    tl = [x for x in runs if x["spec"]["fault"] in ("kill-primary", "timeline")]
    if tl:
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for x in tl:
            s, b = x["spec"], x["bench"]
            dt = b.get("interval_ms", 1000) / 1000.0
            ys = [v / dt for v in b.get("series", [])][:-1]  # the last interval is partial
            label = "%s f=%d %s" % (s["protocol"], s["f"],
                                    "primary killed" if s["fault"] == "kill-primary"
                                    else "byz " + (s["byz"] or ""))
            line, = ax.plot([i * dt for i in range(len(ys))], ys, label=label)
            for e in x.get("events", []):
                ax.axvline(e["t"], color=line.get_color(), linestyle=":", linewidth=1)
                ax.annotate(e["event"], (e["t"], 0), rotation=90, fontsize=7,
                            va="bottom", color=line.get_color())
        ax.set_xlabel("time (s)")
        ax.set_ylabel("completed ops/s")
        ax.set_title("throughput over time (16 clients)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, "throughput_over_time.png")
    return made


# ------------------------------------------------------------------ table

def print_table(out, file=sys.stdout, markdown=False):
    path = os.path.join(out, "runs.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    head = ["protocol", "n", "auth", "batch", "payload", "clients", "byz", "faults", "ops/s",
            "p50 ms", "p99 ms", "msgs/op", "bytes/op", "sig ops/op", "CPU-ms/op",
            "safety"]
    table = [head]
    for r in rows:
        def ms(v):
            return "%.2f" % (float(v) / 1000.0) if v not in ("", None) else "-"
        table.append([r["protocol"], r["n"], r["auth"], r["batch_max"], r["payload"], r["clients"],
                      r["byz"], r["faults"].split(",")[0], "%.0f" % float(r["throughput"]),
                      ms(r["p50_us"]), ms(r["p99_us"]), r["msgs_per_op"],
                      r["bytes_per_op"], r["sig_ops_per_op"], r["cpu_ms_per_op"] or "-",
                      r["safety"]])
    if markdown:
        for k, row in enumerate(table):
            print("| " + " | ".join(str(v) for v in row) + " |", file=file)
            if k == 0:
                print("|" + "|".join("---" if i < 8 else "--:" for i in range(len(row))) + "|",
                      file=file)
        return
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for k, row in enumerate(table):
        print("  ".join(str(v).rjust(widths[i]) if i >= 8 or i in (1, 3, 4, 5) else
                        str(v).ljust(widths[i]) for i, v in enumerate(row)), file=file)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=file)


def print_ratios(out, file=sys.stdout):
    """Each optimization's throughput on and off, and on / off (optimizations.csv); a
    pair run in several rounds: the means, their ratio and the ratio of the medians."""
    path = os.path.join(out, "optimizations.csv")
    if not os.path.exists(path):
        return
    pairs = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            pairs.setdefault(r["optimization"], {}).setdefault(r["setting"], []).append(
                float(r["throughput"]))
    print("\noptimizations (throughput on / off):", file=file)
    for opt, x in pairs.items():
        on, off = x.get("on", []), x.get("off", [])
        if not on or not off or min(off) <= 0:
            continue
        line = "  %-28s on %9.1f  off %9.1f ops/s  on/off %.3f" % (
            opt, statistics.mean(on), statistics.mean(off),
            statistics.mean(on) / statistics.mean(off))
        if len(on) > 1:
            line += " (means of %d rounds; medians %.3f)" % (
                len(on), statistics.median(on) / statistics.median(off))
        print(line, file=file)


# ------------------------------------------------------------------ main

def meta(args, runs):
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True).stdout.strip() != ""
    except OSError:
        rev, dirty = "", False
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = []
    return {"command": " ".join(sys.argv), "quick": args.quick,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "git": rev + ("-dirty" if dirty else ""), "cpus": os.cpu_count(),
            "machine": platform.platform(), "loadavg_at_start": load,
            "seconds": args.seconds, "warmup": args.warmup, "runs": len(runs),
            "sync_note": "runs.csv: sync = none (no fsync); sync-full.csv: sync = full"}


def main():
    # SIGTERM unwinds like ^C: every cluster is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the demo's matrix (< 3 min)")
    ap.add_argument("--out", help="results directory (default results/<timestamp>)")
    ap.add_argument("--bin", default=os.environ.get("BYZLAB_BIN",
                                                    os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--driver", default=os.path.join(ROOT, "byzlab"))
    ap.add_argument("--base-port", type=int, default=18000,
                    help="clusters use free ranges P+300k.. (default 18000)")
    ap.add_argument("--port-stride", type=int, default=300,
                    help="distance between those ranges (default 300, at least 203 at f=1)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--only", action="append", default=[],
                    help="only runs whose name contains this, or equals NAME given as NAME$"
                    " (repeatable: any)")
    ap.add_argument("--list", action="store_true", help="print the plan and exit")
    ap.add_argument("--table", action="store_true", help="print the results table")
    ap.add_argument("--markdown", metavar="DIR", help="print DIR's runs.csv as a Markdown "
                    "table (for the README) and exit")
    ap.add_argument("--plots-only", metavar="DIR", help="redo the plots of DIR")
    args = ap.parse_args()

    if args.plots_only:
        for p in plots(args.plots_only):
            print(p)
        return 0
    if args.markdown:
        print_table(args.markdown, markdown=True)
        return 0
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 8.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    runs = plan_quick() if args.quick else plan_full()
    if args.only:
        # NAME$ matches a whole run name; anything else, a part of it
        runs = [r for r in runs
                if any(run_name(r) == o[:-1] if o.endswith("$") else o in run_name(r)
                       for o in args.only)]
    if args.list:
        for r in runs:
            print(run_name(r))
        return 0
    if not args.out:
        args.out = os.path.join(ROOT, "results",
                                datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(args.out, exist_ok=True)
    for prog in ("byzlab-client", "byzlab-replica", "byzlab-keygen"):
        if not os.access(os.path.join(args.bin, prog), os.X_OK):
            print("bench.py: %s/%s missing: build first (./byzlab build)"
                  % (args.bin, prog), file=sys.stderr)
            return 2
    env = Env(args)
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta(args, runs), f, indent=1)
    w = Writer(args.out)
    log("%d runs -> %s" % (len(runs), args.out))
    try:
        run_matrix(runs, args, env, w)
    finally:
        w.close()
        shutil.rmtree(env.tmp, ignore_errors=True)
    made = plots(args.out)
    if args.table:
        print_table(args.out)
    print_ratios(args.out)
    notes = read(os.path.join(args.out, "notes.txt")).strip()
    if notes:
        print("\nnotes:\n" + notes)
    print("\nresults: %s/runs.csv (all runs: runs.jsonl)" % args.out)
    for p in made:
        print("plot:    %s" % p)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
