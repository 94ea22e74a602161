#!/usr/bin/python3
"""Exit codes and usage errors of the programs and of ./byzlab (product contract:
0 ok, 1 failed, 2 usage/config, 3 no quorum in time)."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 7900


def test_client_usage():
    bz.require_programs(bz.CLIENT, bz.KEYGEN)
    r = bz.run([bz.CLIENT], expect=bz.EXIT_USAGE)
    bz.check(r.err.strip(), "byzlab-client without arguments should explain usage on stderr")
    bz.run([bz.CLIENT, "--config", os.path.join(bz.TMP, "no-such-dir", "cluster.ini"),
            "status"], expect=bz.EXIT_USAGE)
    r = bz.run([bz.CLIENT, "--config", os.path.join(bz.TMP, "no-such-dir", "cluster.ini"),
                "put", "k", "v"], expect=bz.EXIT_USAGE)
    bz.check("cluster.ini" in r.err, "the message should name the missing file:\n" + r.describe())


def test_keygen_usage():
    bz.run([bz.KEYGEN], expect=bz.EXIT_USAGE)
    bz.run([bz.KEYGEN, "--out", os.path.join(bz.TMP, "kg"), "--replicas", "0",
            "--clients", "1"], expect=bz.EXIT_USAGE)
    bz.run([bz.KEYGEN, "--out", os.path.join(bz.TMP, "kg"), "--replicas", "4",
            "--clients", "banana"], expect=bz.EXIT_USAGE)


def test_cluster_down_means_no_quorum():
    with bz.Cluster("cli-down", base_port=BASE_PORT) as c:
        c.init()
        # Known command, cluster not running: exit 3 within (about) the timeout.
        c.client("put", "k", "v", client_id=1, timeout_ms=2000, expect=bz.EXIT_NO_QUORUM)
        r = c.client("get", "k", client_id=1, timeout_ms=1000, expect=bz.EXIT_NO_QUORUM)
        bz.check(r.elapsed < 1.0 + 5.0, "client took %.1fs for a 1 s timeout" % r.elapsed)
        bz.check(r.elapsed >= 0.9, "client gave up after %.2fs, before its 1 s timeout"
                 % r.elapsed)
        # Status of a cluster that is down: every replica reported as down.
        r = c.client("status", timeout_ms=300)
        objs = bz.parse_status(r.out)
        bz.check_eq(sorted(o["id"] for o in objs), list(range(c.n)), "status ids")
        bz.check(all(o.get("down") is True for o in objs), "all down: " + r.out)
        # Usage errors still win over connection problems.
        c.client("frobnicate", expect=bz.EXIT_USAGE)
        c.client("put", "only-a-key", expect=bz.EXIT_USAGE)
        c.client("--client-id", "-1", "status", expect=bz.EXIT_USAGE)


def test_driver():
    r = bz.run([bz.DRIVER, "help"], expect=0)
    for verb in ("help", "build", "test", "demo", "cluster init", "cluster up",
                 "cluster status", "cluster down", "bench", "sim-sweep", "fuzz", "docker"):
        bz.check(verb in r.out, "help should list %r:\n%s" % (verb, r.out))
    bz.run([bz.DRIVER, "no-such-verb"], expect=2)
    # Bad arguments are usage errors (exit 2, a message on stderr), never a run.
    for argv in (["sim-sweep"], ["sim-sweep", "x"], ["fuzz"], ["docker"],
                 ["docker", "no-such-subverb"], ["bench", "--no-such-flag"],
                 ["cluster"], ["cluster", "init"]):
        r = bz.run([bz.DRIVER] + argv, expect=2)
        bz.check(r.err.strip() != "", "no message for a usage error:\n" + r.describe())
    d = os.path.join(bz.TMP, "cli-init")
    c = bz.Cluster("cli-init", base_port=BASE_PORT + 50)
    c.init()
    ini = open(c.ini).read()
    # Refuses to overwrite an existing cluster; --force re-creates it.
    r = bz.run([bz.DRIVER, "cluster", "init", d, "--protocol", "pbft", "--f", "1",
                "--base-port", BASE_PORT + 50])
    bz.check(r.rc != 0, "init over an existing cluster should fail:\n" + r.describe())
    bz.check_eq(open(c.ini).read(), ini, "cluster.ini after a refused init")
    bz.run([bz.DRIVER, "cluster", "init", d, "--protocol", "vr", "--f", "1",
            "--base-port", BASE_PORT + 50, "--force"], expect=0)
    bz.check("protocol = vr" in open(c.ini).read(), "--force should rewrite cluster.ini")
    # Usage errors.
    for bad in (["--protocol", "raft", "--f", "1"], ["--protocol", "pbft"],
                ["--protocol", "pbft", "--f", "x"], ["--protocol", "pbft", "--f", "9"],
                ["--protocol", "pbft", "--f", "1", "--auth", "rsa"],
                ["--protocol", "single", "--f", "1"], ["--protocol", "vr", "--f", "0"]):
        bz.run([bz.DRIVER, "cluster", "init", os.path.join(bz.TMP, "cli-bad")] + bad,
               expect=2)
    bz.check(not os.path.exists(os.path.join(bz.TMP, "cli-bad", "cluster.ini")),
             "a refused init must not write cluster.ini")
    bz.run([bz.DRIVER, "cluster", "up", os.path.join(bz.TMP, "cli-nothing")], expect=2)
    bz.run([bz.DRIVER, "cluster"], expect=2)


if __name__ == "__main__":
    bz.run_tests([test_client_usage, test_keygen_usage, test_cluster_down_means_no_quorum,
                  test_driver])
