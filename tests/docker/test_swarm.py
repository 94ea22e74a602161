#!/usr/bin/env python3
"""test_swarm - byzlab on a single-node Docker Swarm (ctest `docker_swarm`, label
docker, issue 20).

Through ./byzlab swarm (docker/bzswarm.py): `up --metrics` deploys the stack it
generates (docker/swarm/run/stack.yml) as byzlab-swarm (PBFT f=1 and Prometheus) and
runs `docker swarm init` first if this engine is in no swarm; the test checks the
placement labels, that the keys are swarm secrets (each replica sees only its own
private key) and that the image holds none, runs a verified bench, checks through
Prometheus' HTTP API that it scrapes every replica over the overlay network (up == 1)
and that their executed counters show the bench, kills the primary's task container
(docker kill), checks that the others change view and serve, that swarm starts a new
task for the killed replica and that all four agree again (last_executed, stable
checkpoint and its digest), that the README's PromQL for throughput and view changes
answer, then `down` and checks
that no service, secret, config, network, volume or container named byzlab* and no
byzlab node label is left, and that the swarm is left exactly when the test's `up`
created it.

Prints SKIPPED (exit 0) where no Docker engine answers or `docker swarm init` fails.
Holds the byzlab docker lock (as test_docker.py does): the two never overlap.

    /usr/bin/python3 tests/docker/test_swarm.py      (after ./byzlab build)
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dockertest import TMP, bz, check, log  # noqa: E402
import dockertest  # noqa: E402
import bzswarm as sw  # noqa: E402  (dockertest put docker/ on the path)

N = 4                           # --variant pbft-f1, the default
PROMETHEUS_PORT = 26991         # published on this node (issue 20's port range)


def skip_if_init_failed(p):
    if "docker swarm init" in p.stderr and "exit code" in p.stderr and \
            sw.swarm_state() != "active":
        raise dockertest.Skip("docker swarm init failed here:\n" + p.stderr.strip()[-800:])


def driver(*args, timeout=300, expect=0):
    """./byzlab swarm ARGS; returns stdout."""
    return dockertest.driver("swarm", *args, timeout=timeout, expect=expect,
                             on_error=skip_if_init_failed)


def in_container(container, script):
    rc, _, _ = bz.run(["docker", "exec", container, "sh", "-c", script], timeout=60)
    return rc


def check_secrets():
    """Keys are swarm secrets/configs: replica 0 holds its own private key and no other;
    the image holds no key and no cluster.ini."""
    names = set(sw.listed(["secret", "ls", "--format", "{{.Name}}"]))
    want = {"%s_replica%d_key" % (sw.STACK, i) for i in range(N)} | {sw.STACK + "_clients_key"}
    check(want <= names, "swarm secrets %r, want %r" % (sorted(names), sorted(want)))
    configs = set(sw.listed(["config", "ls", "--format", "{{.Name}}"]))
    check(sw.STACK + "_cluster_ini" in configs, "swarm configs: %r" % sorted(configs))
    c0 = sw.task_container("replica0")
    check(in_container(c0, "[ -s /run/secrets/replica0.key ] && [ -s /tmp/replica-0.key ]")
          == 0, "replica 0 has no private key from its secret")
    check(in_container(c0, "[ ! -e /run/secrets/replica1.key ] && [ ! -e /tmp/replica-1.key ]"
                       " && [ ! -e /run/secrets/clients.key ] && [ ! -e /tmp/client-0.key ]")
          == 0, "replica 0 can read another principal's private key")
    rc, _, _ = bz.run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", bz.IMAGE, "-c",
                       "[ ! -e /cluster/cluster.ini ] && [ ! -e /cluster/keys ]"], timeout=60)
    check(rc == 0, "the image holds a cluster.ini or keys")
    labels = sw.node_labels()
    check(all(labels.get("byzlab.replica.%d" % i) == "true" for i in range(N)),
          "node labels after up: %r" % labels)
    log("keys are secrets (replica 0 sees only its own), node labelled for all %d" % N)


def kill_primary():
    """docker kill the primary's task: service regained, swarm starts a new task, all
    agree.  Returns nothing; raises Failure."""
    view, p = bz.current_view(bz.status())
    killed = sw.task_container("replica%d" % p)
    log("primary %d in view %d: docker kill %s" % (p, view, killed[:12]))
    bz.docker("kill", killed)
    t = time.monotonic()
    check(bz.commit_probe("test-kill", deadline=60) is not None,
          "no request committed within 60 s of killing the primary")
    regained = time.monotonic() - t
    st = bz.status()
    others = [i for i in range(N) if i != p]
    views = {st[i].get("view") for i in others if not st[i].get("down")}
    check(len(views) == 1 and min(views) > view,
          "the others should agree on a view after %d: %r" % (view, views))
    log("service regained after %.2f s: view %d -> %d" % (regained, view, min(views)))
    r = bz.bench(4, 200, 20)
    check(r.get("exit") == 0 and r.get("ops") == 200 and r.get("mismatches") == 0,
          "bench after the kill: %r" % r)
    new = bz.wait_until(lambda: (lambda c: c if c and c != killed else None)(
        sw.running_container("replica%d" % p)), 60, "swarm to restart replica %d" % p)
    log("swarm restarted replica %d as container %s" % (p, new[:12]))
    dockertest.check_all_agree(N, "the restart")


def readme_queries():
    """README "Metrics"' PromQL for throughput and for view changes, against the
    stack's Prometheus: a series per replica, and the kill's view change counted."""
    def answer(query, ok):
        res = bz.prometheus_query(PROMETHEUS_PORT, query)
        return res if res and ok(res) else None
    rate = bz.wait_until(lambda: answer("rate(byzlab_requests_executed_total[10s])",
                                        lambda r: len(r) == N), 30, "the throughput query")
    vc = bz.wait_until(lambda: answer("increase(byzlab_view_changes_total[5m])", lambda r: sum(
        float(x["value"][1]) for x in r) > 0), 30, "the view-change query to count one")
    log("PromQL: throughput per replica %s; view changes in 5 min %s" % (
        {x["metric"]["replica"]: round(float(x["value"][1]), 1) for x in rate},
        {x["metric"]["replica"]: round(float(x["value"][1]), 1) for x in vc}))


def scenario():
    was = sw.swarm_state()
    log("swarm before the test: %s" % was)
    if was == "active":
        driver("down", timeout=120)
    out = driver("up", "--metrics", "--metrics-port", PROMETHEUS_PORT, timeout=600)
    check("first request committed" in out, "up did not report its first commit:\n" + out)
    check("metrics: Prometheus at http://127.0.0.1:%d" % PROMETHEUS_PORT in out,
          "up --metrics did not print Prometheus' URL:\n" + out)
    check(sw.swarm_state() == "active", "no active swarm after up")
    created = sw.node_labels().get(sw.CREATED_LABEL) == "true"
    check(created == (was != "active"), "up created the swarm: %s, but it was %s before"
          % (created, was))
    check_secrets()
    res_dir = os.path.join(TMP, "swarm-results")
    out = driver("bench", "--clients", 4, "--ops", 200, "--out", res_dir, timeout=300)
    check('"ops": 200' in out and '"mismatches": 0' in out and '"errors": 0' in out,
          "bench result: %s" % out)
    dockertest.prometheus_sees_the_workload(PROMETHEUS_PORT, N, 200)
    kill_primary()
    readme_queries()
    out = driver("down", timeout=180)
    left = sw.leftovers() + bz.leftovers()
    check(not left, "left after down: %r" % left)
    now = sw.swarm_state()
    check(now == was, "the swarm is %s after down, it was %s before the test" % (now, was))
    check(("left the swarm" in out) == created, "down's report: %s" % out)
    log("nothing named byzlab* is left; swarm %s as before the test" % now)


def main():
    if not bz.engine_version():
        print("SKIPPED: swarm test: no Docker engine answers (docker info failed)",
              flush=True)
        return 0
    state = sw.swarm_state()
    if state not in ("active", "inactive"):
        print("SKIPPED: swarm test: this engine's swarm is %r" % state, flush=True)
        return 0
    dockertest.hold_lock()
    sw.install()
    return dockertest.run("swarm", scenario, sw.task_logs, sw.down)


if __name__ == "__main__":
    sys.exit(main())
