#!/usr/bin/python3
"""robust_cost.py - where robust mode's fault-free CPU goes (issue 16).

PBFT f=1, auth mac, 64 closed-loop clients (one byzlab-client bench process), robust
off and on, interleaved for --rounds rounds, each run on a fresh cluster.  Inside one
bench run of --seconds (no warm-up), the replicas' status (requests_executed) and the
/proc CPU ticks of each replica and of the bench process are read at --t0 and --t1;
the differences give CPU microseconds per executed request, per replica (r0 is the
primary) and for the client process, so the cost of the clients can be told from
the replicas' (docs/EXPERIMENTS.md §12.2).

  experiments/robust_cost.py [--rounds 3] [--modes off,on] [--bins LABEL=BINDIR ...]
                             [--base-port 16000] [-v]

--bins main=DIR adds a mode "main" run with robust = on from other binaries (an A/B
against another build).  Ports: BASE..BASE+299, as experiments/robust.py.
Clock ticks are 10 ms: use runs of a few seconds at least."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
HZ = os.sysconf("SC_CLK_TCK")

def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        t = f.read().rsplit(")", 1)[1].split()
    return int(t[11]) + int(t[12])

def snap(c, n, bpid):
    st = c.status()
    ex = {s["id"]: int(s.get("requests_executed", 0)) for s in st if not s.get("down")}
    return {"ex": ex, "t": [ticks(c.pid(i)) for i in range(n)], "cl": ticks(bpid),
            "wall": time.monotonic(), "st": st}

def one(env, robust, args):
    ini = {"robust": "on"} if robust else {}
    ini.update(dict(kv.split("=", 1) for kv in args.ini))
    r = bench.run_spec("pbft", f=1, auth="mac", clients=args.clients, seconds=args.seconds,
                       warmup=0, interval=500, ini=ini)
    c = bench.Cluster(env, r)
    try:
        c.start()
        argv = [str(a) for a in bench.bench_argv(c, r, args.seconds, 0)]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env.env)
        time.sleep(args.t0)
        a = snap(c, 4, p.pid)
        time.sleep(args.t1 - args.t0)
        b = snap(c, 4, p.pid)
        out, err = p.communicate(timeout=120)
        ops = b["ex"][1] - a["ex"][1]
        wall = b["wall"] - a["wall"]
        rep = [(b["t"][i] - a["t"][i]) * 1e6 / HZ / max(ops, 1) for i in range(4)]
        cl = (b["cl"] - a["cl"]) * 1e6 / HZ / max(ops, 1)
        views = [s.get("view") for s in b["st"]]
        det = []
        for i in range(4):
            sa = next(s for s in a["st"] if s["id"] == i); sb = next(s for s in b["st"] if s["id"] == i)
            d = lambda k: (int(sb.get(k, 0) or 0) - int(sa.get(k, 0) or 0)) / max(ops, 1)
            det.append("r%d sigv %.2f msgs %.1f fwd %.2f" % (i, d("sigs_verified"), d("msgs_recv") if "msgs_recv" in sb else -1,
                       (sb["robust"]["forwarded"] - sa["robust"]["forwarded"]) / max(ops, 1)))
        if args.verbose: print("   ", "; ".join(det), "| client:", out[out.find('"retransmits"'):][:60])
        return {"robust": robust, "ops_s": ops / wall, "rep_us": rep, "client_us": cl,
                "views": views}
    finally:
        c.stop(); c.remove()

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--seconds", type=float, default=5)
ap.add_argument("--t0", type=float, default=1.2)
ap.add_argument("--t1", type=float, default=4.2)
ap.add_argument("--clients", type=int, default=64)
ap.add_argument("--base-port", type=int, default=16000)
ap.add_argument("--bin", default=os.path.join(bench.ROOT, "build", "bin"))
ap.add_argument("--bins", nargs="*", default=[], help="label=BINDIR extra builds (robust on)")
ap.add_argument("--ini", action="append", default=[])
ap.add_argument("-v", "--verbose", action="store_true")
ap.add_argument("--modes", default="off,on")
args = ap.parse_args()
args.driver = os.path.join(bench.ROOT, "byzlab"); args.port_stride = 10; args.port_slots = 10
res = []
for k in range(args.rounds):
    for m in args.modes.split(","):
        label, robust, binp = m, m != "off", args.bin
        for b in args.bins:
            l, d = b.split("=", 1)
            if l == m: binp, robust = d, True
        args2 = argparse.Namespace(**vars(args)); args2.bin = binp
        env = bench.Env(args2)
        x = one(env, robust, args)
        x["label"] = label
        print("round %d %-6s %7.0f ops/s  replicas us/op %s sum %.0f  client %.0f  total %.0f  views %s  load %s" % (
            k, label, x["ops_s"], ["%.0f" % v for v in x["rep_us"]], sum(x["rep_us"]), x["client_us"],
            sum(x["rep_us"]) + x["client_us"], x["views"], open("/proc/loadavg").read().split()[0]), flush=True)
        res.append(x)
for label in args.modes.split(","):
    xs = [x for x in res if x["label"] == label]
    n = len(xs)
    print("MEAN %-6s %7.0f ops/s  rep %s sum %.0f client %.0f" % (label, sum(x["ops_s"] for x in xs)/n,
          ["%.0f" % (sum(x["rep_us"][i] for x in xs)/n) for i in range(4)],
          sum(sum(x["rep_us"]) for x in xs)/n, sum(x["client_us"] for x in xs)/n))
