#!/usr/bin/env python3
"""bzdocker - byzlab clusters on docker compose (stdlib only).  ./byzlab docker runs it:

    ./byzlab docker image
    ./byzlab docker up [--variant pbft-f1|pbft-f2|vr-f1|hotstuff-f1] [--byz I=BEHAVIOUR[:ARG]]
                       [--faults 'KEY=V;KEY=V'] [--faults-replica I]
                       [--metrics [--metrics-port P]]
    ./byzlab docker status
    ./byzlab docker bench [--variant V] [--clients C] [--ops N] [--payload B] [--out DIR]
    ./byzlab docker scenario kill-primary|pause-primary|partition|liar
                       [--variant pbft-f1|pbft-f2] [--byz I=BEHAVIOUR] [--out DIR] [--keep]
    ./byzlab docker down

`image` copies build/bin/* (stripped), every shared library `ldd` lists for them, the
dynamic loader, dash (as /bin/sh) and sleep into docker/context/ and builds the image
byzlab:latest FROM scratch: nothing is pulled.  `up` starts the compose project byzlab
and reports how long it took until the first request committed; with --metrics it also
builds byzlab-prometheus (Debian's prometheus FROM scratch, docker/prometheus/) with a
prometheus.yml for the variant's replicas, starts it (docker/compose.metrics.yml),
waits until it scrapes every replica and prints its URL.  `down` removes every
container, network and volume of the project and checks that none is left.
A scenario starts a fresh cluster, runs a workload, injects one fault with docker's own
tools, prints ONE verdict line on stdout (safety held? service regained, after how
long?) and writes results/<timestamp>/ (runs.csv and scenario.json, see README).
Progress goes to stderr.

Every client command runs inside the client container (docker exec byzlab-client ...):
the replicas are reachable only on the compose network.

Exit codes: 0 ok; 1 failed (for a scenario: safety violated or service not regained);
2 usage error.
"""

import argparse
import csv
import datetime
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bzharness  # noqa: E402  (n, status, "replicas agree", runs.csv: shared)

PROJECT = bzharness.DOCKER_PROJECT
IMAGE = "byzlab:latest"
NETWORK = PROJECT + "_default"
CLIENT = bzharness.DOCKER_CLIENT
INI = bzharness.DOCKER_INI          # inside the containers (scripts/byzlab-init)
PROGRAMS = ("byzlab-replica", "byzlab-client", "byzlab-keygen")
UID = 10001                         # the image's user byzlab (Dockerfile: USER, --chown)

# variant -> (compose files under docker/, protocol, f, n)
VARIANTS = {name: (files, p, f, bzharness.protocol_n(p, f)) for name, (files, p, f) in {
    "pbft-f1": (["compose.yml"], "pbft", 1),
    "pbft-f2": (["compose.yml", "compose.f2.yml"], "pbft", 2),
    "vr-f1": (["compose.vr.yml"], "vr", 1),
    "hotstuff-f1": (["compose.yml", "compose.hotstuff.yml"], "hotstuff", 1),
}.items()}
# `down` names every service and volume any variant makes (same names throughout).
ALL_FILES = ["compose.yml", "compose.f2.yml", "compose.metrics.yml"]
# Prometheus (issue 20): its image, the compose file that adds it, where it scrapes
PROM_IMAGE = "byzlab-prometheus:latest"
PROM_FILE = "compose.metrics.yml"
PROM_DIR = os.path.join(HERE, "prometheus")
PROM_BINARY = "/usr/bin/prometheus"
METRICS_PORT = 7300                 # replicaI:7300 (scripts/byzlab-cluster: --metrics)
NOBODY = 65534

# runs.csv: the product's columns (product.md, "Results"), then the docker ones.
CSV_FIELDS = bzharness.DOCKER_COLUMNS

_T0 = time.monotonic()
VERB = "docker"                     # ./byzlab VERB, in messages (bzswarm: swarm)


class Failed(Exception):
    """The operation failed: message on stderr, exit 1."""


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - _T0, msg), file=sys.stderr, flush=True)


def run(argv, timeout=120, env=None, check=False, quiet=True):
    """Run argv; returns (rc, stdout, stderr).  check: raise Failed unless rc is 0."""
    if not quiet:
        log("$ " + " ".join(argv))
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        raise Failed("%s: no answer within %ss" % (" ".join(argv), timeout)) from e
    except OSError as e:
        raise Failed("%s: %s" % (argv[0], e)) from e
    if check and p.returncode != 0:
        raise Failed("%s: exit code %d\n%s%s" % (" ".join(argv), p.returncode,
                                                 p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------------ engine and compose

def engine_version():
    """The Docker engine's version, or None if no engine answers."""
    if not shutil.which("docker"):
        return None
    try:
        rc, out, _ = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    except Failed:
        return None
    return out.strip() if rc == 0 and out.strip() else None


_COMPOSE = None


def compose_cmd():
    """`docker compose` (v2) if it exists, else `docker-compose` (v1); BYZLAB_COMPOSE
    (e.g. "docker-compose") overrides."""
    global _COMPOSE
    if _COMPOSE:
        return _COMPOSE
    forced = os.environ.get("BYZLAB_COMPOSE")
    candidates = [forced.split()] if forced else [["docker", "compose"], ["docker-compose"]]
    for c in candidates:
        if not shutil.which(c[0]):
            continue
        try:
            rc, _, _ = run(c + ["version"], timeout=30)
        except Failed:
            continue
        if rc == 0:
            _COMPOSE = c
            return c
    raise Failed("neither `docker compose` nor `docker-compose` works here")


def need_engine():
    if not engine_version():
        raise Failed("no Docker engine answers (is dockerd running, may you use it?)")


def compose(files, args, env=None, timeout=300, check=True):
    argv = list(compose_cmd()) + ["-p", PROJECT]
    for f in files:
        argv += ["-f", os.path.join(HERE, f)]
    full_env = dict(os.environ)
    full_env.update(env or {})
    return run(argv + list(args), timeout=timeout, env=full_env, check=check, quiet=False)


def replica_name(i):
    """Replica i's container (docker/bzswarm.py replaces this and client_container()
    with the stack's running tasks: every helper below goes through the two)."""
    return "%s-replica%d" % (PROJECT, i)


def client_container():
    return CLIENT


def container_state(name):
    """(status, health) of a container, or (None, None) if it does not exist."""
    rc, out, _ = run(["docker", "inspect", "--format",
                      "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}"
                      "{{else}}none{{end}}", name], timeout=30)
    if rc != 0:
        return None, None
    parts = out.split()
    return (parts + ["none"])[0], (parts + ["none", "none"])[1]


def docker(*args, timeout=60):
    return run(["docker"] + list(args), timeout=timeout, check=True, quiet=False)


# ------------------------------------------------------------------ image

def elf_libraries(path):
    """Paths of the shared libraries and loader `ldd PATH` lists."""
    rc, out, err = run(["ldd", path], timeout=30)
    if rc != 0:
        raise Failed("ldd %s failed: %s" % (path, (out + err).strip()))
    libs = []
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            raise Failed("ldd %s: %s" % (path, line))
        m = re.match(r"\S+\s+=>\s+(/\S+)\s+\(0x", line) or re.match(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def copy_file(src, dst, mode=None):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)           # follows symlinks: the real library's bytes
    os.chmod(dst, mode if mode is not None else (os.stat(src).st_mode & 0o777))


def prepare_context(bindir):
    """Fill docker/context/ (see the Dockerfile) from BINDIR and this machine."""
    ctx = os.path.join(HERE, "context")
    rootfs, owned = os.path.join(ctx, "rootfs"), os.path.join(ctx, "owned")
    missing = [p for p in PROGRAMS if not os.access(os.path.join(bindir, p), os.X_OK)]
    if missing:
        raise Failed("%s: missing %s (run ./byzlab build first)" % (bindir, ", ".join(missing)))
    shell = shutil.which("dash") or os.path.realpath("/bin/sh")
    sleep = shutil.which("sleep")
    if not sleep:
        raise Failed("no sleep program on this machine")
    shutil.rmtree(ctx, ignore_errors=True)
    strip = shutil.which("strip")
    elves = []
    for p in PROGRAMS:
        dst = os.path.join(rootfs, "usr/local/bin", p)
        copy_file(os.path.join(bindir, p), dst, 0o755)
        if strip:
            run([strip, "--strip-unneeded", dst], check=True)
        elves.append((os.path.join(bindir, p), dst))
    for src, name in ((shell, "sh"), (sleep, "sleep")):
        dst = os.path.join(rootfs, "bin", name)
        copy_file(src, dst, 0o755)
        elves.append((src, dst))
    libs = sorted({lib for src, _ in elves for lib in elf_libraries(src)})
    for lib in libs:
        copy_file(lib, rootfs + lib, 0o755)
    etc = os.path.join(rootfs, "etc")
    os.makedirs(etc)
    files = {
        "passwd": "root:x:0:0:root:/root:/sbin/nologin\n"
                  "byzlab:x:%d:%d:byzlab:/tmp:/sbin/nologin\n" % (UID, UID),
        "group": "root:x:0:\nbyzlab:x:%d:\n" % UID,
        # /etc/hosts (written by docker) first, then docker's DNS: service names
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }
    for name, text in files.items():
        with open(os.path.join(etc, name), "w") as f:
            f.write(text)
    tmp = os.path.join(rootfs, "tmp")
    os.makedirs(tmp)
    os.chmod(tmp, 0o1777)
    for d in ("cluster", "data"):
        os.makedirs(os.path.join(owned, d))
        os.chmod(os.path.join(owned, d), 0o755)
    with open(os.path.join(ctx, "MANIFEST"), "w") as f:
        f.write("programs from %s\nsh: %s\nsleep: %s\nlibraries:\n  %s\n"
                % (bindir, shell, sleep, "\n  ".join(libs)))
    return ctx


def image_size():
    rc, out, _ = run(["docker", "image", "inspect", "--format", "{{.Size}}", IMAGE])
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else None


def build_image(bindir):
    need_engine()
    log("preparing docker/context/ from %s" % bindir)
    prepare_context(bindir)
    log("docker build -t %s docker/" % IMAGE)
    t = time.monotonic()
    rc, out, err = run(["docker", "build", "-t", IMAGE, HERE], timeout=600)
    if rc != 0:
        raise Failed("docker build failed (exit %d)\n%s%s" % (rc, out, err))
    # The image this one replaced (if any) is left dangling: remove it.
    run(["docker", "image", "prune", "-f", "--filter", "label=org.byzlab.image=1"], timeout=60)
    size = image_size()
    log("image %s: %.1f MB, built in %.1fs" % (IMAGE, (size or 0) / 1e6, time.monotonic() - t))
    return size


# ------------------------------------------------------------------ prometheus

def prometheus_yml(n, interval_s=1):
    """The scrape configuration of a cluster of n replicas (replica0..replica{n-1})."""
    targets = ", ".join("'replica%d:%d'" % (i, METRICS_PORT) for i in range(n))
    return ("# generated by docker/bzdocker.py for %d replicas (issue 20)\n"
            "global:\n  scrape_interval: %ds\n  evaluation_interval: %ds\n"
            "scrape_configs:\n  - job_name: byzlab\n    static_configs:\n"
            "      - targets: [%s]\n" % (n, interval_s, interval_s, targets))


def prepare_prometheus_context(n):
    """Fill docker/prometheus/context/ (see its Dockerfile) for n replicas."""
    if not os.access(PROM_BINARY, os.X_OK):
        raise Failed("%s not found: install Debian's prometheus package" % PROM_BINARY)
    ctx = os.path.join(PROM_DIR, "context")
    rootfs, owned = os.path.join(ctx, "rootfs"), os.path.join(ctx, "owned")
    shutil.rmtree(ctx, ignore_errors=True)
    copy_file(PROM_BINARY, os.path.join(rootfs, "bin", "prometheus"), 0o755)
    for lib in elf_libraries(PROM_BINARY):
        copy_file(lib, rootfs + lib, 0o755)
    files = {
        "etc/passwd": "nobody:x:%d:%d:nobody:/prometheus:/sbin/nologin\n" % (NOBODY, NOBODY),
        "etc/group": "nogroup:x:%d:\n" % NOBODY,
        "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
        "etc/prometheus/prometheus.yml": prometheus_yml(n),
    }
    for name, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(rootfs, name)), exist_ok=True)
        with open(os.path.join(rootfs, name), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(rootfs, "tmp"))
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.makedirs(os.path.join(owned, "prometheus"))
    return ctx


def build_prometheus_image(n):
    log("docker build -t %s docker/prometheus/ (%d scrape targets)" % (PROM_IMAGE, n))
    prepare_prometheus_context(n)
    rc, out, err = run(["docker", "build", "-t", PROM_IMAGE, PROM_DIR], timeout=600)
    if rc != 0:
        raise Failed("docker build of %s failed (exit %d)\n%s%s" % (PROM_IMAGE, rc, out, err))
    run(["docker", "image", "prune", "-f", "--filter", "label=org.byzlab.prometheus=1"],
        timeout=60)


def prometheus_query(port, query, timeout=5):
    """The result list of an instant query to the Prometheus on 127.0.0.1:port, or None
    if it does not answer (yet)."""
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode(
        {"query": query}))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            doc = json.loads(r.read().decode())
    except (OSError, ValueError):
        return None
    return doc["data"]["result"] if doc.get("status") == "success" else None


def prometheus_targets_up(port, n):
    """Seconds-free check: does `up` show all n replicas scraped and up?"""
    res = prometheus_query(port, 'up{job="byzlab"}')
    if not res or len(res) != n:
        return None
    return all(r["value"][1] == "1" for r in res) or None


def wait_prometheus(port, n, t0, deadline=60):
    """Wait until Prometheus on 127.0.0.1:port scrapes all n replicas; returns the
    seconds since t0 (time.monotonic())."""
    wait_until(lambda: prometheus_targets_up(port, n), deadline,
               "Prometheus to scrape all %d replicas (up == 1)" % n)
    return time.monotonic() - t0


def print_prometheus(port, n, seconds):
    """up --metrics' line (the tests look for its start); returns the URL."""
    url = "http://127.0.0.1:%d" % port
    print("metrics: Prometheus at %s scrapes all %d replicas (%.2fs after up); try "
          "rate(byzlab_requests_executed_total[10s])" % (url, n, seconds), flush=True)
    return url


# ------------------------------------------------------------------ cluster

def client_argv(*args, client_id=None, timeout_ms=None):
    return bzharness.docker_client_argv(*args, client_id=client_id, timeout_ms=timeout_ms,
                                        container=client_container())


def client(*args, client_id=None, timeout_ms=None, timeout=120):
    return run(client_argv(*args, client_id=client_id, timeout_ms=timeout_ms), timeout=timeout)


def is_up():
    return container_state(client_container())[0] == "running"


def status(timeout_ms=1000):
    """{id: status object}; down replicas are {"id": I, "down": True}."""
    rc, out, err = client("status", timeout_ms=timeout_ms, timeout=60)
    if rc != 0:
        raise Failed("status failed (exit %d): %s" % (rc, (out + err).strip()))
    return bzharness.by_id(bzharness.parse_status(out, strict=False))


answering = bzharness.answering


def current_view(st):
    """(view, primary) most answering replicas report (the highest on a tie)."""
    votes = {}
    for o in answering(st).values():
        k = (o.get("view", 0), o.get("primary", 0))
        votes[k] = votes.get(k, 0) + 1
    if not votes:
        return None, None
    return max(votes, key=lambda k: (votes[k], k))


def wait_until(pred, deadline, what, interval=0.2):
    end = time.monotonic() + deadline
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= end:
            raise Failed("timed out after %.0fs waiting for %s (last: %r)" % (deadline, what, last))
        time.sleep(interval)


def commit_probe(tag, deadline=60.0, timeout_ms=5000):
    """Put until one commits; returns the seconds it took (from the call)."""
    t = time.monotonic()
    end = t + deadline
    k = 0
    while True:
        k += 1
        rc, _, _ = client("put", "probe-%s" % tag, "%s-%d" % (tag, k), client_id=0,
                          timeout_ms=timeout_ms, timeout=timeout_ms / 1000 + 30)
        if rc == 0:
            return time.monotonic() - t
        if time.monotonic() >= end:
            return None
        time.sleep(0.05)


def healthy_replicas(n):
    return [i for i in range(n) if container_state(replica_name(i))[1] == "healthy"]


def lie_and_fault_env(args):
    """The BYZ_* variables (scripts/byzlab-start) for --byz, --faults, --faults-replica
    (compose and stack deploy read them from the environment)."""
    env = {}
    if args.byz:
        m = re.match(r"^([0-9,]+)=(.+)$", args.byz)
        if not m:
            raise Usage("--byz wants I=BEHAVIOUR[:ARG], not %r" % args.byz)
        env.update(BYZ_REPLICA=m.group(1), BYZ_BEHAVIOUR=m.group(2))
    if args.faults:
        env["BYZ_FAULTS"] = args.faults
    if args.faults_replica is not None:
        env["BYZ_FAULTS_REPLICA"] = args.faults_replica
    return env


def up(args, bindir, quiet_summary=False):
    """./byzlab docker up: image (unless --no-build), compose up, wait until every
    replica is healthy; returns a dict with the timings."""
    need_engine()
    files, protocol, f, n = VARIANTS[args.variant]
    env = {"BENCH_OPS": "0"}      # the client service stays idle: we measure
    env.update(lie_and_fault_env(args))
    size = None
    if not args.no_build:
        size = build_image(bindir)
    elif image_size() is None:
        raise Failed("no image %s: run ./byzlab docker image first" % IMAGE)
    metrics = getattr(args, "metrics", False)
    if metrics:
        build_prometheus_image(n)
        files = files + [PROM_FILE]
        env["BYZ_PROMETHEUS_PORT"] = str(args.metrics_port)
    log("compose up: %s f=%d (%d replicas)" % (protocol, f, n))
    t0 = time.monotonic()
    rc, out, err = compose(files, ["up", "-d", "--no-build", "--remove-orphans"], env=env,
                           check=False)
    if rc != 0:
        _, logs, logs_err = run(["docker", "logs", PROJECT + "-init"], timeout=30)
        raise Failed("compose up failed (exit %d)\n%s%s\n--- init's log ---\n%s%s"
                     % (rc, out, err, logs, logs_err))
    t_compose = time.monotonic() - t0
    first = commit_probe("up", deadline=90, timeout_ms=2000)
    if first is None:
        raise Failed("no request committed within 90s of compose up\n" + replica_logs(n))
    t_first = time.monotonic() - t0
    wait_until(lambda: len(healthy_replicas(n)) == n, 60, "every replica to be healthy")
    t_healthy = time.monotonic() - t0
    t_metrics = wait_prometheus(args.metrics_port, n, t0) if metrics else None
    st = status()
    view, primary = current_view(st)
    res = {"variant": args.variant, "protocol": protocol, "f": f, "n": n,
           "image_bytes": size, "compose_up_s": round(t_compose, 2),
           "first_commit_s": round(t_first, 2), "healthy_s": round(t_healthy, 2),
           "view": view, "primary": primary, "byz": args.byz or "none",
           "faults": args.faults or "none"}
    if not quiet_summary:
        print("docker up: %s f=%d, %d replicas; first request committed %.2fs after up "
              "(compose up took %.2fs), all healthy after %.2fs (view %s, primary %s)"
              % (protocol, f, n, t_first, t_compose, t_healthy, view, primary), flush=True)
    if metrics:
        res["prometheus_url"] = print_prometheus(args.metrics_port, n, t_metrics)
    return res


def replica_logs(n, lines=30):
    text = []
    for i in range(n):
        _, out, err = run(["docker", "logs", "--tail", str(lines), replica_name(i)], timeout=30)
        text.append("--- %s ---\n%s%s" % (replica_name(i), out, err))
    return "\n".join(text)


def leftovers():
    """Containers, networks and volumes whose name starts with byzlab."""
    left = []
    for kind, argv in (("container", ["docker", "ps", "-a", "--format", "{{.Names}}"]),
                       ("network", ["docker", "network", "ls", "--format", "{{.Name}}"]),
                       ("volume", ["docker", "volume", "ls", "--format", "{{.Name}}"])):
        rc, out, err = run(argv, timeout=60)
        if rc != 0:
            raise Failed("%s: %s" % (" ".join(argv), err.strip()))
        left += ["%s %s" % (kind, x) for x in out.split() if x.startswith(PROJECT)]
    return left


def labelled():
    """Ids of the project's containers, networks and volumes (compose's label)."""
    label = "label=com.docker.compose.project=%s" % PROJECT
    ids = []
    for argv in (["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]):
        ids += run(["docker"] + argv + ["--filter", label], timeout=60)[1].split()
    return ids


def down():
    """Remove every container, network and volume of the project (any variant)."""
    need_engine()
    if not labelled() and not leftovers():
        # Nothing to remove: compose down (v1 is a slow Python program) would take
        # 10-25 s here to find that out; the docker test starts with a down.
        print("docker down: no container, network or volume named %s* is left (none was "
              "there)" % PROJECT, flush=True)
        return
    # A paused container cannot be stopped: unpause first.
    rc, out, _ = run(["docker", "ps", "-q", "--filter", "status=paused",
                      "--filter", "label=com.docker.compose.project=%s" % PROJECT])
    for cid in out.split():
        run(["docker", "unpause", cid])
    compose(ALL_FILES, ["down", "-v", "--remove-orphans", "-t", "5"], check=False)
    # Whatever compose did not know about (renamed files, an interrupted up).
    label = "label=com.docker.compose.project=%s" % PROJECT
    _, out, _ = run(["docker", "ps", "-aq", "--filter", label])
    if out.split():
        run(["docker", "rm", "-f"] + out.split(), timeout=120)
    for kind in ("network", "volume"):
        _, out, _ = run(["docker", kind, "ls", "-q", "--filter", label])
        if out.split():
            run(["docker", kind, "rm"] + out.split(), timeout=120)
    left = leftovers()
    if left:
        raise Failed("still there after down: " + ", ".join(left))
    print("docker down: no container, network or volume named %s* is left" % PROJECT,
          flush=True)


# ------------------------------------------------------------------ measurements

def bench(clients, ops, client_id, payload=None, verify=True, timeout_ms=10000):
    args = ["bench", "--clients", clients, "--ops", ops]
    if payload:
        args += ["--payload", payload]
    if verify:
        args.append("--verify")
    log("bench: %d clients, %d ops (client ids %d..)" % (clients, ops, client_id))
    rc, out, err = client(*args, client_id=client_id, timeout_ms=timeout_ms, timeout=600)
    lines = [l for l in out.splitlines() if l.strip().startswith("{")]
    res = json.loads(lines[-1]) if lines else {}
    res.update(exit=rc, clients=clients, payload=payload or "")
    if rc != 0:
        log("bench exit code %d: %s" % (rc, err.strip()[-500:]))
    else:
        log("bench: %s ops, %.0f ops/s, p50 %s us, p99 %s us, errors %s, mismatches %s"
            % (res.get("ops"), res.get("throughput", 0), res.get("p50_us"), res.get("p99_us"),
               res.get("errors"), res.get("mismatches")))
    return res


def cgroup_cpu_ns(name):
    """CPU time a container used so far (ns), from its cgroup; None if not found."""
    rc, out, _ = run(["docker", "inspect", "--format", "{{.Id}}", name], timeout=30)
    cid = out.strip()
    if rc != 0 or not cid:
        return None
    for path in ("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage",
                 "/sys/fs/cgroup/cpuacct/system.slice/docker-%s.scope/cpuacct.usage",
                 "/sys/fs/cgroup/cpu,cpuacct/docker/%s/cpuacct.usage",
                 "/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat",
                 "/sys/fs/cgroup/docker/%s/cpu.stat"):
        try:
            with open(path % cid) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith("cpu.stat"):
            m = re.search(r"^usage_usec (\d+)", text, re.M)
            return int(m.group(1)) * 1000 if m else None
        return int(text.strip())
    return None


def counters(n):
    """Totals over the replicas: status counters and container CPU."""
    st = status()
    tot = {"msgs": 0, "bytes": 0, "sig_ops": 0, "per_replica": {}}
    for i, o in answering(st).items():
        tot["msgs"] += o.get("msgs_sent", 0)
        tot["bytes"] += o.get("bytes_sent", 0)
        tot["sig_ops"] += o.get("sigs_made", 0) + o.get("sigs_verified", 0)
    cpu = [cgroup_cpu_ns(replica_name(i)) for i in range(n)]
    tot["cpu_ns"] = None if None in cpu else sum(cpu)
    return tot


def per_op(before, after, key, ops, scale=1.0):
    if not ops or before.get(key) is None or after.get(key) is None:
        return ""
    d = after[key] - before[key]
    if d < 0:               # a restarted replica started its counters again
        return ""
    return round(d * scale / ops, 3)


def digests_agree(st, ids):
    """(ok, detail): no two of ids report different state digests for the same stable
    checkpoint (bzharness.diverged)."""
    split = bzharness.diverged(st, ids)
    return not split, bzharness.describe_divergence(split)


def converge(ids, client_id, deadline=60.0, ci=128, driven=None):
    """Wait until every replica in ids answers and all agree on last_executed, a stable
    checkpoint > 0 and its state digest.  PBFT brings a replica that fell behind (it
    was down, paused or cut off) up to date at checkpoints: when nothing has moved for
    3 s (an idle cluster, or no checkpoint yet), this drives sequential operations (one
    client) past the next checkpoint.  driven: a list, gets the operations it drove.
    Returns (status, seconds), or (status, None) if they did not within deadline."""
    t = time.monotonic()
    end = t + deadline
    last_sig, still_since = None, time.monotonic()
    driven = [] if driven is None else driven
    while True:
        st = status()
        live = [st[i] for i in ids if not st.get(i, {"down": True}).get("down")]
        if bzharness.agree(st, ids, checkpoint_at_least=1):
            return st, time.monotonic() - t
        if time.monotonic() >= end:
            return st, None
        sig = tuple((o["id"], o["last_executed"], o["stable_checkpoint"]) for o in live)
        if sig != last_sig:
            last_sig, still_since = sig, time.monotonic()
        elif len(live) == len(ids) and time.monotonic() - still_since > 3 and \
                (driven is None or len(driven) < 3):
            high = max(o["last_executed"] for o in live)
            ops = ci - high % ci + 4
            bench(1, ops, client_id, verify=False)
            if driven is not None:
                driven.append(ops)
            last_sig = None
            continue
        time.sleep(0.3)


def fmt_s(x):
    return "%.2f s" % x if x is not None else "never"


class Usage(Exception):
    pass


# ------------------------------------------------------------------ results

def results_dir(out):
    if out:
        d = os.path.abspath(out)
    else:
        d = os.path.join(ROOT, "results",
                         datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-docker")
    os.makedirs(d, exist_ok=True)
    return d


def write_results(d, row, summary):
    path = os.path.join(d, "runs.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    name = "%s.json" % (summary.get("scenario") or "bench")
    with open(os.path.join(d, name), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    log("results: %s (runs.csv, %s)" % (d, name))


def base_row(info, res, before, after, ops):
    return {"protocol": info["protocol"], "f": info["f"], "n": info["n"], "auth": "sig",
            "batch_max": 64, "payload": res.get("payload", ""),
            "clients": res.get("clients", ""), "byz": info.get("byz", "none"),
            "faults": info.get("faults", "none"), "ops": res.get("ops", ""),
            "throughput": res.get("throughput", ""), "p50_us": res.get("p50_us", ""),
            "p99_us": res.get("p99_us", ""),
            "msgs_per_op": per_op(before, after, "msgs", ops),
            "bytes_per_op": per_op(before, after, "bytes", ops),
            "sig_ops_per_op": per_op(before, after, "sig_ops", ops),
            "cpu_ms_per_op": per_op(before, after, "cpu_ns", ops, 1e-6),
            "env": "docker", "first_commit_s": info.get("first_commit_s")}


def cmd_bench(args, bindir):
    if not is_up():
        log("no byzlab cluster is up: starting %s" % args.variant)
        info = up(args, bindir)
    else:
        st = status()
        o = next(iter(answering(st).values()), {})
        info = {"protocol": o.get("protocol"), "f": o.get("f"), "n": o.get("n", len(st)),
                "byz": ",".join("%d=%s" % (i, x["byz"]) for i, x in sorted(answering(st).items())
                                if x.get("byz")) or "none", "faults": "none"}
    n = info["n"]
    before = counters(n)
    res = bench(args.clients, args.ops, 0, payload=args.payload, verify=True)
    after = counters(n)
    ok = res.get("exit") == 0 and res.get("mismatches", 0) == 0
    row = base_row(info, res, before, after, res.get("ops") or 0)
    row.update(safety="ok" if res.get("mismatches", 0) == 0 else "violated", scenario="bench")
    d = results_dir(args.out)
    write_results(d, row, {"scenario": None, "info": info, "bench": res, "row": row})
    print(json.dumps({k: res.get(k) for k in ("ops", "seconds", "throughput", "p50_us",
                                              "p99_us", "errors", "mismatches")}), flush=True)
    return 0 if ok else 1


# ------------------------------------------------------------------ scenarios

class Scenario:
    """One run: fresh cluster, workload, one fault, checks, verdict, results."""

    def __init__(self, name, args, bindir):
        self.name, self.args, self.bindir = name, args, bindir
        self.events = []
        self.t0 = time.monotonic()
        self.info = None
        self.benches = []

    def event(self, what, **kw):
        e = dict(kw, t=round(time.monotonic() - self.t0, 2), what=what)
        self.events.append(e)
        log(what + ("" if not kw else " " + json.dumps(kw, sort_keys=True)))

    def start(self):
        if leftovers():
            log("removing the byzlab cluster that is up")
            down()
        self.info = up(self.args, self.bindir, quiet_summary=True)
        self.n = self.info["n"]
        self.event("up", first_commit_s=self.info["first_commit_s"],
                   healthy_s=self.info["healthy_s"])
        self.before = counters(self.n)

    def workload(self, ops, client_id, clients=4, main=False):
        """A bench with --verify; main: its numbers go to runs.csv."""
        r = bench(clients, ops, client_id)
        self.benches.append(r)
        if main:
            self.main = r
        return r

    def finish(self, regained, honest, extra, faults, svc=None, converged=None):
        """Converge (unless the scenario did: converged = (status, seconds)), judge
        safety, print the verdict, write results."""
        st, conv = converged or converge(honest, 60)
        after = counters(self.n)
        ok_digest, detail = digests_agree(st, honest)
        mismatches = sum(b.get("mismatches", 0) or 0 for b in self.benches)
        errors = [b for b in self.benches if b.get("exit") != 0]
        safety = ok_digest and mismatches == 0
        live = [st[i] for i in honest if not st[i].get("down")]
        view, primary = current_view(st)
        if safety and conv is not None:
            s = "SAFETY HELD (all %d correct replicas agree: executed %d, checkpoint %d, " \
                "digest %s; %d wrong results accepted)" % (
                    len(live), live[0]["last_executed"], live[0]["stable_checkpoint"],
                    live[0]["state_digest"][:12], mismatches)
        elif safety:
            cps = sorted({o["stable_checkpoint"] for o in live})
            s = "SAFETY HELD (no two of %d/%d correct replicas differ at a common checkpoint " \
                "(checkpoints %s); %d wrong results accepted)" % (
                    len(live), len(honest), ",".join(map(str, cps)), mismatches)
        else:
            s = "SAFETY VIOLATED (%s; %d wrong results accepted)" % (detail or "digests differ",
                                                                    mismatches)
        if svc is None and regained is None:
            svc = "service NOT regained"
        elif svc is None:
            svc = "service regained after %s" % fmt_s(regained)
        verdict = "%s: %s; %s; %s" % (self.name, s, svc, extra)
        if errors:
            verdict += "; %d workload(s) failed" % len(errors)
        total_ops = sum(b.get("ops", 0) or 0 for b in self.benches)
        res = getattr(self, "main", None) or (self.benches[-1] if self.benches else {})
        row = base_row(self.info, res, self.before, after, total_ops)
        row.update(ops=total_ops, safety="ok" if safety else "violated", scenario=self.name,
                   faults=faults, regained_s=None if regained is None else round(regained, 2),
                   verdict=verdict)
        d = results_dir(self.args.out)
        write_results(d, row, {"scenario": self.name, "verdict": verdict, "info": self.info,
                               "events": self.events, "benches": self.benches,
                               "status_end": st, "converged_s": conv, "row": row})
        print(verdict, flush=True)
        # A replica that does not rejoin is reported in the verdict (a finding about
        # the protocol's liveness), not a failed run.
        return 0 if safety and regained is not None else 1


def primary_now():
    st = status()
    return current_view(st)


def scenario_kill_primary(sc):
    sc.start()
    sc.workload(300, 10)
    view, p = primary_now()
    sc.event("docker kill", replica=p, view=view)
    t = time.monotonic()
    docker("kill", replica_name(p))
    regained = commit_probe("kill")
    regained = None if regained is None else time.monotonic() - t
    sc.event("service regained", seconds=regained)
    sc.workload(300, 20, main=True)
    v2, p2 = primary_now()
    sc.event("docker start", replica=p)
    t = time.monotonic()
    docker("start", replica_name(p))
    driven = []
    st, conv = converge(list(range(sc.n)), 60, driven=driven)
    caught = None if conv is None else time.monotonic() - t
    sc.event("restarted replica caught up", seconds=caught, driven_ops=sum(driven))
    converged = (st, conv)
    extra = "view %s -> %s (primary %s); replica %d restarted from its volume and %s" % (
        view, v2, p2, p, caught_up(caught, driven, st, p))
    return sc.finish(regained, list(range(sc.n)), extra, "docker-kill:replica%d" % p,
                     converged=converged)


def scenario_pause_primary(sc):
    sc.start()
    sc.workload(300, 10)
    view, p = primary_now()
    others = [i for i in range(sc.n) if i != p]
    old_view0 = sum(o["rejected"]["old_view"] for i, o in answering(status()).items()
                    if i in others)
    sc.event("docker pause", replica=p, view=view)
    t = time.monotonic()
    docker("pause", replica_name(p))
    regained = commit_probe("pause")
    regained = None if regained is None else time.monotonic() - t
    sc.event("service regained", seconds=regained)
    sc.workload(300, 20, main=True)
    v2, p2 = primary_now()
    time.sleep(1.0)
    sc.event("docker unpause", replica=p, paused_s=round(time.monotonic() - t, 2))
    tu = time.monotonic()
    docker("unpause", replica_name(p))

    def zombie_state():
        st = status()
        z = st.get(p, {})
        if z.get("down"):
            return None
        grown = sum(o["rejected"]["old_view"] for i, o in answering(st).items()
                    if i in others) - old_view0
        return {"zombie_view": z.get("view"), "old_view_rejected": grown}

    first = wait_until(zombie_state, 30, "the paused replica to answer status")
    first_s = time.monotonic() - tu
    sc.event("zombie answers", seconds=first_s, **first)
    try:
        wait_until(lambda: (zombie_state() or {}).get("old_view_rejected", 0) > 0, 15,
                   "rejected.old_view to grow")
    except Failed:
        pass
    try:
        rejoined = wait_until(lambda: (lambda z: z if z and z["zombie_view"] >= v2 else None)(
            zombie_state()), 30, "the zombie to reach view %s" % v2)
        rejoin_s = time.monotonic() - tu
    except Failed:
        rejoined, rejoin_s = zombie_state() or {}, None
    sc.event("zombie in the new view", seconds=rejoin_s, **rejoined)
    if rejoin_s is None:
        how = "is still in view %s after 30 s" % rejoined.get("zombie_view")
    elif first["zombie_view"] >= v2:
        how = "was already in view %s when it first answered status, %s after unpause" % (
            first["zombie_view"], fmt_s(first_s))
    else:
        how = "answered in view %s and reached view %s %s after unpause" % (
            first["zombie_view"], rejoined["zombie_view"], fmt_s(rejoin_s))
    extra = "view %s -> %s (primary %s); zombie replica %d %s; rejected.old_view on the " \
        "others +%d" % (view, v2, p2, p, how,
                        rejoined.get("old_view_rejected", first["old_view_rejected"]))
    return sc.finish(regained, list(range(sc.n)), extra, "docker-pause:replica%d" % p)


def caught_up(seconds, driven, st, p):
    """How replica p came back, for the verdict."""
    if seconds is None:
        me = st.get(p, {})
        if me.get("down"):
            return "did NOT come back within 60 s (it does not answer status)"
        view, _ = current_view({i: o for i, o in st.items() if i != p})
        return ("did NOT rejoin within 60 s: it is in view %s%s, executed %s, stable "
                "checkpoint %s; the others are in view %s and executed %s" % (
                    me.get("view"), " (changing view)" if me.get("view_changing") else "",
                    me.get("last_executed"), me.get("stable_checkpoint"), view,
                    max(o.get("last_executed", 0) for i, o in answering(st).items() if i != p)))
    s = "caught up in %s" % fmt_s(seconds)
    if driven:
        s += " (at checkpoint %s, after %d more requests)" % (
            st[0].get("stable_checkpoint"), sum(driven))
    return s


def network_ip(name):
    rc, out, _ = run(["docker", "inspect", "--format",
                      "{{with index .NetworkSettings.Networks \"%s\"}}{{.IPAddress}}{{end}}"
                      % NETWORK, name])
    return out.strip() if rc == 0 else ""


def scenario_partition(sc):
    sc.start()
    sc.workload(300, 10)
    view, p = primary_now()
    name = replica_name(p)
    ip = network_ip(name)
    sc.event("docker network disconnect", replica=p, view=view, ip=ip)
    t = time.monotonic()
    docker("network", "disconnect", NETWORK, name)
    regained = commit_probe("partition")
    regained = None if regained is None else time.monotonic() - t
    sc.event("service regained", seconds=regained)
    sc.workload(300, 20, main=True)
    v2, p2 = primary_now()
    while time.monotonic() - t < 8:       # keep it cut off a while: it times out alone
        time.sleep(0.2)
    cut = time.monotonic() - t
    sc.event("docker network connect", replica=p, cut_s=round(cut, 2))
    th = time.monotonic()
    # The service name is an alias on the compose network: give it back.
    docker("network", "connect", "--alias", "replica%d" % p, NETWORK, name)
    ip2 = network_ip(name)
    driven = []
    try:
        back = wait_until(lambda: (lambda o: o if not o.get("down") else None)(
            status().get(p, {"down": True})), 20, "replica %d to answer status" % p)
        sc.event("reconnected replica answers", view=back.get("view"),
                 view_changing=back.get("view_changing"))
        back_view = back.get("view")
    except Failed:
        back_view = None
    if ip2 != ip:
        # It listens on the address replicaI had at its start, and its peers' TCP
        # connections go there too: report it, it explains a replica that never catches up.
        sc.event("reconnected with another address", old=ip, new=ip2)
    st, conv = converge(list(range(sc.n)), 60, driven=driven)
    caught = None if conv is None else time.monotonic() - th
    sc.event("reconnected replica caught up", seconds=caught, driven_ops=sum(driven))
    converged = (st, conv)
    extra = ("view %s -> %s (primary %s) while replica %d was cut off for %.1f s; "
             "it came back in view %s and %s" % (view, v2, p2, p, cut, back_view,
                                                  caught_up(caught, driven, st, p)))
    if ip2 != ip:
        extra += " (its address changed from %s to %s)" % (ip, ip2)
    return sc.finish(regained, list(range(sc.n)), extra,
                     "docker-network-disconnect:replica%d" % p, converged=converged)


def scenario_liar(sc):
    if not sc.args.byz:
        sc.args.byz = "0=equivocate"
    m = re.match(r"^(\d+)=(.+)$", sc.args.byz)
    if not m:
        raise Usage("liar: --byz I=BEHAVIOUR (one replica), not %r" % sc.args.byz)
    liar, behaviour = int(m.group(1)), m.group(2)
    if liar >= VARIANTS[sc.args.variant][3]:
        raise Usage("--byz %s: no replica %d" % (sc.args.byz, liar))
    sc.start()
    honest = [i for i in range(sc.n) if i != liar]
    sc.workload(400, 10, main=True)
    sc.workload(200, 20, clients=1)
    v2, p2 = primary_now()
    st = status()
    reported = st.get(liar, {}).get("byz")
    ok_ops = all(b.get("exit") == 0 and b.get("errors") == 0 for b in sc.benches)
    done = sum(b.get("ops", 0) or 0 for b in sc.benches)
    want = 600
    svc = "service %s: first request committed %s after up, %d/%d operations completed" % (
        "held" if ok_ops else "NOT held", fmt_s(sc.info["first_commit_s"]), done, want)
    extra = "ended in view %s (primary %s); replica %d runs --byz %s (its status: byz=%s)" % (
        v2, p2, liar, behaviour, reported)
    regained = sc.info["first_commit_s"] if ok_ops else None
    return sc.finish(regained, honest, extra, "none", svc=svc)


SCENARIOS = {
    "kill-primary": scenario_kill_primary,
    "pause-primary": scenario_pause_primary,
    "partition": scenario_partition,
    "liar": scenario_liar,
}


def cmd_scenario(args, bindir):
    if args.name not in SCENARIOS:
        raise Usage("scenario: one of %s, not %r" % (", ".join(SCENARIOS), args.name))
    if args.variant == "vr-f1" and args.name == "liar":
        log("note: VR tolerates crashes only; a liar may break it (that is the point)")
    sc = Scenario(args.name, args, bindir)
    try:
        return SCENARIOS[args.name](sc)
    finally:
        if not args.keep:
            try:
                down()
            except Failed as e:
                log("down after the scenario failed: %s" % e)


# ------------------------------------------------------------------ main

def cmd_audit(args, bindir):
    """Issue 17 on a docker cluster: copy each replica container's store (/data/I) and
    the keys out of the containers (running or stopped) into a scratch directory
    laid out as byzlab-audit --stores wants it (D/I/), and audit them there."""
    audit = os.path.join(bindir, "byzlab-audit")
    if not os.access(audit, os.X_OK):
        raise Failed("%s not found: run ./byzlab build first" % audit)
    ids = []
    while container_state(replica_name(len(ids)))[0] is not None:
        ids.append(len(ids))
    if not ids:
        raise Failed("no byzlab replica containers (./byzlab docker up)")
    if args.out:
        if os.path.exists(args.out):
            raise Usage("--out %s exists: name a new directory" % args.out)
        os.makedirs(args.out, mode=0o700)
    tmp = args.out or tempfile.mkdtemp(prefix="byzlab-audit-")
    try:
        keys, stores = os.path.join(tmp, "keys"), os.path.join(tmp, "stores")
        os.makedirs(stores)
        # the keys directory as it is (the image has no shell tools to pick the public
        # ones); the copy sits in a 0700 scratch directory removed below
        docker("cp", "%s:/cluster/keys" % replica_name(0), keys)
        for i in ids:
            docker("cp", "%s:/data/%d" % (replica_name(i), i), os.path.join(stores, str(i)))
        argv = [audit, "--keys", keys, "--stores", stores]
        if args.trust:
            argv += ["--trust", args.trust]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if args.out:
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
        else:  # the copy goes: say how to keep it for the re-verify lines
            sys.stdout.write(r.stdout.replace(tmp, "<copy>"))
            sys.stderr.write(r.stderr.replace(tmp, "<copy>"))
            print("(<copy>: removed; ./byzlab docker audit --out DIR keeps the keys and "
                  "stores there, for the re-verify lines)")
        return r.returncode
    finally:
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)


def parser():
    p = argparse.ArgumentParser(prog="./byzlab %s" % VERB, description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                   help="where byzlab-replica, byzlab-client, byzlab-keygen are")
    sub = p.add_subparsers(dest="cmd")

    def cluster_opts(q):
        q.add_argument("--variant", choices=sorted(VARIANTS), default="pbft-f1")
        q.add_argument("--byz", help="I=BEHAVIOUR[:ARG]: replica I (or I,J) lies")
        q.add_argument("--faults", help="[faults] keys, ';'-separated, e.g. 'drop=0.01'")
        q.add_argument("--faults-replica", help="only this replica (or I,J) gets --faults")
        q.add_argument("--no-build", action="store_true", help="use the existing image")

    sub.add_parser("image", help="fill docker/context/ and build %s" % IMAGE)
    q = sub.add_parser("up", help="start a cluster, report time to first commit")
    cluster_opts(q)
    q.add_argument("--metrics", action="store_true",
                   help="also start Prometheus (byzlab-prometheus) scraping every replica")
    q.add_argument("--metrics-port", type=int, default=9090,
                   help="host port of Prometheus (default 9090; docker: on 127.0.0.1, "
                   "swarm: on every address of the node that runs it)")
    sub.add_parser("down", help="remove every byzlab container, network and volume")
    sub.add_parser("status", help="status of every replica (JSON lines)")
    q = sub.add_parser("audit", help="who lied: byzlab-audit over copies of the replicas' "
                       "stores and public keys (issue 17)")
    q.add_argument("--trust", help="IDS: only those replicas' transcripts (e.g. 1,2)")
    q.add_argument("--out", help="copy the keys and stores into this new directory and keep "
                   "them (default: a scratch copy, removed)")
    q = sub.add_parser("bench", help="closed-loop bench on the cluster (started if not up)")
    cluster_opts(q)
    q.add_argument("--clients", type=int, default=16)
    q.add_argument("--ops", type=int, default=2000)
    q.add_argument("--payload", type=int)
    q.add_argument("--out", help="results directory (default results/<timestamp>-docker)")
    q = sub.add_parser("scenario", help="one fault scenario, one verdict line")
    q.add_argument("name", help=" | ".join(SCENARIOS))
    cluster_opts(q)
    q.add_argument("--out", help="results directory (default results/<timestamp>-docker)")
    q.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    return p


_LOCK = None


def take_lock():
    """One byzlab docker run at a time on this engine (the names are fixed): an flock
    on $TMPDIR/byzlab-docker.lock.  Whoever holds it for several runs (the docker
    test) sets BYZLAB_DOCKER_LOCKED=1 for them."""
    global _LOCK
    if os.environ.get("BYZLAB_DOCKER_LOCKED") == "1" or _LOCK:
        return
    path = os.path.join(tempfile.gettempdir(), "byzlab-docker.lock")
    _LOCK = open(path, "a")
    try:
        fcntl.flock(_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("waiting for another byzlab docker run (lock %s)" % path)
        fcntl.flock(_LOCK, fcntl.LOCK_EX)


def main(argv):
    p = parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    bindir = os.path.abspath(args.bin)
    try:
        if args.cmd in ("image", "up", "down", "bench", "scenario"):
            take_lock()
        if args.cmd == "image":
            size = build_image(bindir)
            print("image %s: %.1f MB" % (IMAGE, (size or 0) / 1e6), flush=True)
            return 0
        if args.cmd == "up":
            up(args, bindir)
            return 0
        if args.cmd == "down":
            down()
            return 0
        if args.cmd == "status":
            need_engine()
            if not is_up():
                raise Failed("no byzlab cluster is up (./byzlab docker up)")
            rc, out, err = client("status", timeout=60)
            sys.stdout.write(out)
            sys.stderr.write(err)
            return rc
        if args.cmd == "audit":
            need_engine()
            return cmd_audit(args, bindir)
        if args.cmd == "bench":
            need_engine()
            return cmd_bench(args, bindir)
        if args.cmd == "scenario":
            need_engine()
            return cmd_scenario(args, bindir)
        p.print_usage(sys.stderr)
        return 2
    except Usage as e:
        print("byzlab %s: %s" % (VERB, e), file=sys.stderr)
        return 2
    except Failed as e:
        print("byzlab %s: %s" % (VERB, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
