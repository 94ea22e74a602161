"""dockertest - what the docker tests (test_docker.py, test_swarm.py) share: progress
lines, checks, the ./byzlab driver, and the byzlab docker lock."""

import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("BYZLAB_ROOT") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("BYZLAB_BIN") or os.path.join(ROOT, "build", "bin")
TMP = os.environ.get("BYZLAB_TMP") or os.path.join(ROOT, "build", "tmp")
DRIVER = os.path.join(ROOT, "byzlab")
sys.path.insert(0, os.path.join(ROOT, "docker"))
import bzdocker as bz  # noqa: E402

_T0 = time.monotonic()


class Failure(AssertionError):
    pass


class Skip(Exception):
    """This machine cannot run the test (raised before anything was started)."""


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - _T0, msg), flush=True)


def elapsed():
    return time.monotonic() - _T0


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def driver(verb, *args, timeout=300, expect=0, on_error=None):
    """./byzlab VERB ARGS (verb: docker or swarm); returns stdout.  The driver uses
    BYZLAB_BIN (no build) and the lock this test holds.  on_error(process) may raise
    something else than Failure (e.g. a skip) before Failure is raised."""
    argv = [DRIVER, verb] + [str(a) for a in args]
    log("$ " + " ".join(argv))
    env = dict(os.environ, BYZLAB_BIN=BIN, BYZLAB_DOCKER_LOCKED="1")
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       errors="replace", timeout=timeout, env=env)
    if p.returncode != expect:
        if on_error:
            on_error(p)
        raise Failure("%s: exit code %d, want %d\n--- stdout ---\n%s\n--- stderr ---\n%s"
                      % (" ".join(argv), p.returncode, expect, p.stdout, p.stderr))
    for line in p.stdout.splitlines():
        log("  " + line)
    return p.stdout


def hold_lock():
    """Take the byzlab docker lock for the whole test (./byzlab docker and swarm runs
    and the other docker test take turns) and let the driver runs inherit it."""
    bz.take_lock()
    os.environ["BYZLAB_DOCKER_LOCKED"] = "1"


def check_all_agree(n, after):
    """All n replicas converge (bz.converge) and agree on a stable checkpoint's digest;
    after: what happened before, for the failure message."""
    st, conv = bz.converge(list(range(n)), 60, deadline=60)
    check(conv is not None, "replicas did not converge after %s: %r" % (after, {
        i: (o.get("last_executed"), o.get("stable_checkpoint"), o.get("state_digest", "")[:12])
        for i, o in st.items()}))
    ok, detail = bz.digests_agree(st, list(range(n)))
    check(ok, "state digests differ: " + detail)
    log("all %d replicas agree: last_executed %d, checkpoint %d" % (
        n, st[0]["last_executed"], st[0]["stable_checkpoint"]))


def prometheus_sees_the_workload(port, n, ops, protocol="pbft"):
    """The Prometheus on 127.0.0.1:port (compose.metrics.yml, or the swarm stack's
    service) scrapes all n replicas, and its latest sample of each replica's executed
    counter shows at least the bench's operations."""
    up = bz.prometheus_query(port, 'up{job="byzlab"}')
    check(up is not None and len(up) == n and all(r["value"][1] == "1" for r in up),
          "Prometheus' up{job=\"byzlab\"}: %r" % up)

    def executed():
        res = bz.prometheus_query(port, "byzlab_requests_executed_total")
        if not res or len(res) != n:
            return None
        got = {r["metric"]["replica"]: float(r["value"][1]) for r in res}
        return got if min(got.values()) >= ops else None
    got = bz.wait_until(executed, 30, "Prometheus to show %d executed requests at every "
                        "replica" % ops)
    labels = bz.prometheus_query(port, "byzlab_view")[0]["metric"]
    check(labels.get("protocol") == protocol and labels.get("byz") == "none",
          "labels of byzlab_view: %r" % labels)
    log("Prometheus: all %d replicas up; executed per replica %r" % (n, got))


def run(name, scenario, logs, down):
    """Run scenario(); on a failure print the traceback and logs() and clean up with
    down().  Returns the exit code: 0 pass (or skipped), 1 fail."""
    try:
        scenario()
    except Skip as e:
        print("SKIPPED: %s test: %s" % (name, e), flush=True)
        return 0
    except Exception:  # any failure: report it, then leave nothing behind
        traceback.print_exc(file=sys.stdout)
        for what in (lambda: print(logs(), flush=True), down):
            try:
                what()
            except Exception:
                traceback.print_exc(file=sys.stdout)
        log("FAIL %s test" % name)
        return 1
    log("PASS %s test (%.1f s)" % (name, elapsed()))
    return 0
