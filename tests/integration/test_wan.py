#!/usr/bin/python3
"""The WAN latency model on real processes (issue 20; replica/wan.h, replica/faults.h).

PBFT f=1 on ports 27800.. with two regions 20 ms apart (one-way, jitter 1 ms):
replicas 0 and 1 and the clients in "us", replicas 2 and 3 in "eu".  Any PBFT quorum
of 2f+1 = 3 spans both regions, so a request cannot commit before one us<->eu round
trip: the model predicts 40.6 ms (replica/wan.c wan_predict_us), and no request can
take less than 2 x (20 - 1) = 38 ms.

1. `cluster init` refuses a broken [regions] table or placement (exit 2).
2. A verified closed-loop bench: every op done, no errors, no mismatches; its p50 is
   at least the model's lower bound (38 ms) and below 10 x the prediction (a bound a
   loaded machine never reaches); every replica's faults.wan_held counter moved; no
   view change; the replicas agree (last_executed and digests).
3. A run-time fault specification (byzlab-client faults) replaces the faults but keeps
   the WAN model: the next bench is still >= 38 ms at p50.
Without the model (faults layer not holding), p50 is ~1-7 ms and step 2 fails.
sync = none: with an fsync per loop turn a loaded machine adds 5-20 ms per phase, which
the model does not describe (it only makes latency larger: the bounds still hold).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 27800
REGIONS = ["local=0.2,0.05", "us/eu=20,1"]
PLACEMENT = [("region.0", "us"), ("region.1", "us"), ("region.2", "eu"), ("region.3", "eu"),
             ("region.client", "us")]
MODEL_US = 40600          # wan_predict_us for this placement (see the docstring)
LOWER_US = 2 * 19000      # one us<->eu round trip at the lowest jitter
OPS = 40


def region_args(regions):
    out = []
    for kv in regions:
        out += ["--region", kv]
    return out


def refused(name, extra, faults=()):
    c = bz.Cluster(name, protocol="pbft", f=1, base_port=BASE_PORT, faults=faults)
    argv = [bz.DRIVER, "cluster", "init", c.dir, "--protocol", "pbft", "--f", 1,
            "--base-port", BASE_PORT] + extra
    for k, v in faults:
        argv += ["--fault", "%s=%s" % (k, v)]
    r = bz.run(argv)
    bz.check(r.rc == bz.EXIT_USAGE, "cluster init should refuse %r with exit 2\n%s"
             % (extra, r.describe()))
    bz.log("refused as it should: %s" % r.err.strip().splitlines()[0])


def bench(c, first_id):
    r = c.client("bench", "--clients", 1, "--ops", OPS, "--verify", client_id=first_id,
                 timeout_ms=10000, timeout=120)
    res = bz.check_bench(r, OPS, verify=True)
    p50 = res["p50_us"]
    bz.check(p50 >= LOWER_US, "p50 %d us is below the model's lower bound %d us: the WAN "
             "latency is not applied" % (p50, LOWER_US))
    bz.check(p50 < 10 * MODEL_US, "p50 %d us is over 10 x the model's %d us" % (p50, MODEL_US))
    bz.log("p50 %.1f ms: model %.1f ms, lower bound %.1f ms"
           % (p50 / 1000, MODEL_US / 1000, LOWER_US / 1000))
    return res


def test_wan():
    refused("wan-bad-1", ["--wan", "mars"])
    refused("wan-bad-2", region_args(["us/eu=20"]), PLACEMENT)
    refused("wan-bad-3", region_args(REGIONS), [("region.0", "us")])
    refused("wan-bad-4", region_args(REGIONS),
            PLACEMENT[:3] + [("region.3", "ap"), ("region.client", "us")])
    with bz.Cluster("wan", protocol="pbft", f=1, base_port=BASE_PORT,
                    settings={"view_timeout_ms": 4000, "sync": "none"},
                    faults=PLACEMENT) as c:
        c.init(extra=region_args(REGIONS))
        c.up()
        bench(c, first_id=1)
        st = bz.wait_until(c.agreement, 30, "the replicas to agree")
        for i in range(c.n):
            bz.check_eq(st[i]["view"], 0, "replica %d view" % i)
            held = st[i]["faults"]["wan_held"]
            bz.check(held > 0, "replica %d: faults.wan_held is %r" % (i, held))
        bz.log("wan_held: %s" % json.dumps({i: st[i]["faults"]["wan_held"] for i in st}))
        # a run-time specification replaces the faults, not the WAN model
        c.client("faults", 2, "drop=0", expect=0)
        bench(c, first_id=2)
        bz.wait_until(c.agreement, 30, "the replicas to agree again")
        c.down()
        bz.check_eq(c.replica_pids(), [], "replica processes of this cluster after down")


if __name__ == "__main__":
    bz.run_tests([test_wan])
