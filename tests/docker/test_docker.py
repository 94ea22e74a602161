#!/usr/bin/env python3
"""test_docker - byzlab on docker compose (ctest label `docker`, issue 8).

Builds the image, brings up PBFT f=1 (4 replica containers and a client) with
Prometheus (issue 20: up --metrics), runs a workload, checks through Prometheus' query
API that every replica is scraped (up == 1) and that its executed counters show the
workload, pauses the primary (docker pause) and checks that the others change view and
serve again, unpauses it and checks that its old-view messages are rejected
(rejected.old_view grows on the others) and that it rejoins, then brings the cluster
down and checks that no container, network or volume named byzlab* is left.

Everything goes through ./byzlab docker (docker/bzdocker.py) plus docker's own pause;
client commands run in the client container.  Where no Docker engine (or no compose)
answers it prints a SKIPPED line and exits 0.  Holds the byzlab docker lock for its
whole run, so two test runs on one engine take turns.

    /usr/bin/python3 tests/docker/test_docker.py      (after ./byzlab build)
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dockertest import TMP, bz, check, log  # noqa: E402
import dockertest  # noqa: E402

MAX_IMAGE_BYTES = 30 * 1000 * 1000
PROMETHEUS_PORT = 26990     # 127.0.0.1 only; issue 20's port range


def driver(*args, timeout=300, expect=0):
    """./byzlab docker ARGS; returns stdout."""
    return dockertest.driver("docker", *args, timeout=timeout, expect=expect)


def skip_reason():
    if not bz.engine_version():
        return "no Docker engine answers (docker info failed)"
    try:
        bz.compose_cmd()
    except bz.Failed as e:
        return str(e)
    return None


def others_old_view(p):
    st = bz.status()
    return sum(o["rejected"]["old_view"] for i, o in bz.answering(st).items() if i != p)


def scenario():
    n = 4
    driver("down", timeout=120)
    out = driver("up", "--metrics", "--metrics-port", PROMETHEUS_PORT, timeout=600)
    check("first request committed" in out, "up did not report its first commit:\n" + out)
    check("metrics: Prometheus at http://127.0.0.1:%d" % PROMETHEUS_PORT in out,
          "up --metrics did not print Prometheus' URL:\n" + out)
    size = bz.image_size()
    log("image %s: %.1f MB" % (bz.IMAGE, size / 1e6))
    check(size <= MAX_IMAGE_BYTES, "image is %d bytes, more than %d" % (size, MAX_IMAGE_BYTES))
    _, user, _ = bz.run(["docker", "image", "inspect", "--format", "{{.Config.User}}", bz.IMAGE])
    check(user.strip() and not user.strip().startswith(("0", "root")),
          "image runs as %r, want a non-root user" % user.strip())
    rc, _, _ = bz.run(["docker", "run", "--rm", bz.IMAGE, "sh", "-c",
                       "[ ! -e /cluster/cluster.ini ] && [ ! -e /cluster/keys ]"])
    check(rc == 0, "the image holds a cluster.ini or keys")
    health = {i: bz.container_state(bz.replica_name(i))[1] for i in range(n)}
    check(all(h == "healthy" for h in health.values()), "not all healthy: %r" % health)

    # A workload, through the driver: results with a runs.csv row.
    res_dir = os.path.join(TMP, "docker-results")
    out = driver("bench", "--clients", 4, "--ops", 200, "--out", res_dir, timeout=300)
    check('"ops": 200' in out and '"mismatches": 0' in out and '"errors": 0' in out,
          "bench result: %s" % out)
    with open(os.path.join(res_dir, "runs.csv")) as f:
        rows = f.read().splitlines()
    check(len(rows) >= 2 and rows[0].startswith("protocol,f,n,"), "runs.csv: %r" % rows[:2])
    dockertest.prometheus_sees_the_workload(PROMETHEUS_PORT, n, 200)
    # Issue 17: the audit reads the replicas' stores out of the containers; an honest
    # cluster proves nobody a liar, and every replica kept a transcript.
    out = driver("audit", timeout=120)
    check("no evidence (%d replica stores read)" % n in out, "audit:\n" + out)
    check(re.search(r"forensics: %d transcripts .*, 0 culprits named" % n, out) is not None,
          "audit forensics:\n" + out)

    st = bz.status()
    view, p = bz.current_view(st)
    others = [i for i in range(n) if i != p]
    old0 = others_old_view(p)
    log("primary %d in view %d; rejected.old_view on the others: %d" % (p, view, old0))

    # Pause the primary: the others must change view and serve again.
    bz.docker("pause", bz.replica_name(p))
    t = time.monotonic()
    regained = bz.commit_probe("test-pause", deadline=60)
    check(regained is not None, "no request committed within 60 s of pausing the primary")
    regained = time.monotonic() - t
    st = bz.status()
    views = {st[i].get("view") for i in others if not st[i].get("down")}
    check(st[p].get("down"), "the paused replica answered status: %r" % st[p])
    check(len(views) == 1 and min(views) > view,
          "the others should agree on a view after %d: %r" % (view, views))
    new_view = views.pop()
    new_primary = st[others[0]]["primary"]
    check(new_primary != p, "the paused replica %d is still primary" % p)
    log("service regained after %.2f s: view %d -> %d, primary %d" % (regained, view, new_view,
                                                                     new_primary))
    r = bz.bench(4, 100, 20)
    check(r.get("exit") == 0 and r.get("ops") == 100 and r.get("mismatches") == 0,
          "bench while the old primary is paused: %r" % r)

    # Unpause: a zombie.  Its view-%d messages must be rejected by the others.
    bz.docker("unpause", bz.replica_name(p))
    tu = time.monotonic()
    grown = bz.wait_until(lambda: (lambda g: g if g > 0 else None)(others_old_view(p) - old0),
                          30, "rejected.old_view to grow on the others")
    log("rejected.old_view on the others grew by %d after unpause" % grown)

    def zombie_view():
        z = bz.status().get(p, {})
        return None if z.get("down") or z.get("view", -1) < new_view else z["view"]
    zv = bz.wait_until(zombie_view, 30, "the unpaused replica to reach view %d" % new_view)
    log("the unpaused replica is in view %d after %.2f s" % (zv, time.monotonic() - tu))
    dockertest.check_all_agree(n, "unpause")

    driver("down", timeout=120)
    left = bz.leftovers()
    check(not left, "left after down: %r" % left)
    log("no container, network or volume named byzlab* is left")


def main():
    reason = skip_reason()
    if reason:
        print("SKIPPED: docker test: %s" % reason, flush=True)
        return 0
    dockertest.hold_lock()
    return dockertest.run("docker", scenario, lambda: bz.replica_logs(4), bz.down)


if __name__ == "__main__":
    sys.exit(main())
