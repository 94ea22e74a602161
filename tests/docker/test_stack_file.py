#!/usr/bin/env python3
"""test_stack_file - the swarm stack file generated per variant (ctest
`docker_stack_file`, issue 20).  No Docker engine needed: it checks what
docker/bzswarm.py's stack_doc() and stack_text() write for every variant of
./byzlab docker (pbft-f1, pbft-f2, vr-f1, hotstuff-f1), with and without Prometheus,
so that the variants CI does not deploy (only pbft-f1 runs in docker_swarm) keep a
stack that matches their n:

- a service replicaI for each I < n and no other, each with hostname replicaI,
  endpoint_mode dnsrr, its volume dataI, the placement label byzlab.replica.I and
  only its own private-key secret replicaI_key;
- the client on a manager with the clients' key; a prometheus service exactly with
  --metrics, on the stack's network and on a manager, publishing the port asked for;
  the Prometheus image's scrape targets (bzdocker.prometheus_yml) are the n replicas;
- every config and secret a service names is declared, with a file relative to
  docker/swarm/run/ (the entry script exists in docker/swarm/);
- the YAML text says the same as the dict (checked with PyYAML where it is installed).

    /usr/bin/python3 tests/docker/test_stack_file.py
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("BYZLAB_ROOT") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "docker"))
import bzdocker as bz  # noqa: E402
import bzswarm as sw  # noqa: E402

PORT = 26994
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def one(variant, metrics):
    _, protocol, f, n = bz.VARIANTS[variant]
    what = "%s%s" % (variant, " --metrics" if metrics else "")
    doc = sw.stack_doc(n, PORT if metrics else None)
    services = doc["services"]
    replicas = sorted(int(m.group(1)) for m in
                      (re.match(r"^replica(\d+)$", s) for s in services) if m)
    check(replicas == list(range(n)), "%s: replica services %r, want 0..%d"
          % (what, replicas, n - 1))
    want = {"client"} | {"replica%d" % i for i in range(n)} | ({"prometheus"} if metrics
                                                                else set())
    check(set(services) == want, "%s: services %r" % (what, sorted(services)))
    for i in range(n):
        s = services.get("replica%d" % i, {})
        check(s.get("hostname") == "replica%d" % i, "%s: replica%d hostname" % (what, i))
        check(s.get("deploy", {}).get("endpoint_mode") == "dnsrr",
              "%s: replica%d not dnsrr" % (what, i))
        check(s.get("volumes") == ["data%d:/data" % i], "%s: replica%d volumes %r"
              % (what, i, s.get("volumes")))
        check(s.get("deploy", {}).get("placement", {}).get("constraints") ==
              ["node.labels.byzlab.replica.%d == true" % i],
              "%s: replica%d placement" % (what, i))
        check([x["source"] for x in s.get("secrets", [])] == ["replica%d_key" % i],
              "%s: replica%d secrets %r" % (what, i, s.get("secrets")))
        check(s.get("environment", {}).get("REPLICA_ID") == str(i),
              "%s: replica%d REPLICA_ID" % (what, i))
    c = services["client"]
    check(c["deploy"]["placement"]["constraints"] == ["node.role == manager"],
          "%s: client placement" % what)
    check([x["source"] for x in c["secrets"]] == ["clients_key"], "%s: client secrets" % what)
    if metrics:
        p = services["prometheus"]
        check(p.get("image") == bz.PROM_IMAGE, "%s: prometheus image" % what)
        check(p.get("networks") == ["net"], "%s: prometheus networks %r"
              % (what, p.get("networks")))
        check([x.get("published") for x in p.get("ports", [])] == [PORT],
              "%s: prometheus ports %r" % (what, p.get("ports")))
        check(p["deploy"]["placement"]["constraints"] == ["node.role == manager"],
              "%s: prometheus placement" % what)
    targets = re.findall(r"'(replica\d+):%d'" % bz.METRICS_PORT, bz.prometheus_yml(n))
    check(targets == ["replica%d" % i for i in range(n)], "%s: scrape targets %r"
          % (what, targets))
    check(set(doc["volumes"]) == {"data%d" % i for i in range(n)}, "%s: volumes" % what)
    used_cfg = {x["source"] for s in services.values() for x in s.get("configs", [])}
    used_sec = {x["source"] for s in services.values() for x in s.get("secrets", [])}
    check(used_cfg == set(doc["configs"]), "%s: configs %r declared %r"
          % (what, sorted(used_cfg), sorted(doc["configs"])))
    check(used_sec == set(doc["secrets"]), "%s: secrets %r declared %r"
          % (what, sorted(used_sec), sorted(doc["secrets"])))
    start = os.path.normpath(os.path.join(sw.RUN_DIR, doc["configs"]["start"]["file"]))
    check(os.path.isfile(start), "%s: entry script %s missing" % (what, start))
    text = sw.stack_text(protocol, f, n, PORT if metrics else None, variant)
    check(text.startswith("# byzlab on Docker Swarm") and "--variant %s" % variant in text,
          "%s: header" % what)
    try:
        import yaml
    except ImportError:
        return "dict"
    back = yaml.safe_load(text)
    check(back == plain(doc), "%s: the YAML text does not parse back to stack_doc()" % what)
    return "dict and YAML"


def plain(x):
    """stack_doc() with its Octal modes as the ints YAML reads back."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return int(x) if isinstance(x, sw.Octal) else x


def main():
    how = set()
    for variant in sorted(bz.VARIANTS):
        for metrics in (False, True):
            how.add(one(variant, metrics))
    for msg in failures:
        print("FAIL: " + msg)
    if failures:
        return 1
    print("PASS stack file: %d variants x (with, without Prometheus), checked as %s"
          % (len(bz.VARIANTS), " / ".join(sorted(how))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
