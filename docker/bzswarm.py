#!/usr/bin/env python3
"""bzswarm - byzlab on a Docker Swarm (issue 20; stdlib only).  ./byzlab swarm runs it:

    ./byzlab swarm up [--variant pbft-f1|pbft-f2|vr-f1|hotstuff-f1] [--byz I=BEHAVIOUR[:ARG]]
                      [--faults 'KEY=V;KEY=V'] [--faults-replica I] [--metrics [--metrics-port P]]
    ./byzlab swarm status
    ./byzlab swarm bench [--clients C] [--ops N] [--payload B] [--out DIR]
    ./byzlab swarm scenario kill-primary|liar [--variant V] [--byz I=BEHAVIOUR] [--out DIR] [--keep]
    ./byzlab swarm down

The stack is generated for the variant (the same variants as ./byzlab docker: protocol,
f, n) by stack_doc() into docker/swarm/run/stack.yml and deployed as the stack
byzlab-swarm with the image of ./byzlab docker image.  `up` runs `docker swarm init` if
this engine is in no swarm (and remembers it with the node label
byzlab.swarm.created=true), labels this node byzlab.replica.I=true for every replica I
no node carries yet (placement), writes the keys, cluster.ini and the stack file into
docker/swarm/run/ (the keys and cluster.ini become the stack's secrets and configs),
deploys, and waits until a request commits and every replica is healthy.  With
--metrics the stack also has a `prometheus` service (the image byzlab-prometheus of
./byzlab docker up --metrics, on a manager) scraping every replica over the overlay
network; up waits until it reports up == 1 for all of them and prints its URL.  `down` removes the stack, its
volumes, secrets, configs, network and the node labels, leaves the swarm only if `up`
created it, and checks that nothing named byzlab-swarm is left.

Everything else is ./byzlab docker's (docker/bzdocker.py): bench, the scenarios' checks
and verdicts, results/.  This module only replaces the compose-specific parts (up, down,
which container is the client or replica I).  Exit codes: 0 ok; 1 failed; 2 usage.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bzdocker as bz  # noqa: E402

STACK = "byzlab-swarm"
RUN_DIR = os.path.join(HERE, "swarm", "run")
STACK_FILE = os.path.join(RUN_DIR, "stack.yml")     # stack_doc(), written by up
CREATED_LABEL = "byzlab.swarm.created"
KIND = "protocol=%s f=%d auth=sig clients=128"      # scripts/byzlab-init's kind line
KEYS_IN_CONTAINER = "/tmp"         # swarm/byzlab-swarm-start unpacks them here
UID = str(bz.UID)                  # the image's user byzlab: owns configs and secrets
STACK_LABEL = "label=com.docker.stack.namespace=%s" % STACK

log, Failed, Usage = bz.log, bz.Failed, bz.Usage


def docker_out(*args, timeout=60):
    """stdout of docker ARGS (raises Failed on a non-zero exit)."""
    return bz.run(["docker"] + list(args), timeout=timeout, check=True)[1]


# ------------------------------------------------------------------ swarm and node

def swarm_state():
    return docker_out("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def node_id():
    return docker_out("info", "--format", "{{.Swarm.NodeID}}").strip()


def node_labels():
    out = docker_out("node", "inspect", "--format",
                     "{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}} {{end}}", "self")
    return dict(kv.split("=", 1) for kv in out.split())


def join_or_init():
    """A single-node swarm if this engine is in none; remember that we made it."""
    state = swarm_state()
    if state == "active":
        return False
    if state != "inactive":
        raise Failed("this engine's swarm is %r (neither active nor inactive)" % state)
    rc, out, err = bz.run(["docker", "swarm", "init"], timeout=120, quiet=False)
    if rc != 0:             # several addresses: swarm wants one; loopback is enough here
        bz.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=120,
               check=True, quiet=False)
    bz.docker("node", "update", "--label-add", CREATED_LABEL + "=true", node_id())
    return True


def placed():
    """The byzlab.replica.I labels some node of the swarm already carries."""
    keys = set()
    for node in docker_out("node", "ls", "-q").split():
        out = docker_out("node", "inspect", "--format",
                         "{{range $k, $v := .Spec.Labels}}{{$k}} {{end}}", node)
        keys |= {k for k in out.split() if k.startswith("byzlab.replica.")}
    return keys


def label_node(n):
    """byzlab.replica.I=true on this node for every replica I < n no node is labelled for yet
    (a multi-host swarm labels its nodes first: README "Running on several machines").
    A label key holds one value, so a key per replica lets one node carry them all."""
    have = placed()
    args = []
    for i in range(n):
        if "byzlab.replica.%d" % i not in have:
            args += ["--label-add", "byzlab.replica.%d=true" % i]
    if len(args) < 2 * n:
        log("placement: %s already on some node: left as it is" % ", ".join(sorted(have)))
    if args:
        bz.docker("node", "update", *args, node_id())


def unlabel_node():
    """Remove this node's byzlab.replica.* labels (other nodes' are the operator's)."""
    labels = [k for k in node_labels() if k.startswith("byzlab.replica.")]
    if labels:
        args = []
        for k in labels:
            args += ["--label-rm", k]
        bz.docker("node", "update", *args, node_id())


# ------------------------------------------------------------------ secrets and configs

def bundle(path, names, keys):
    """One "NAME HEX" line per key file (swarm/byzlab-swarm-start unpacks them)."""
    with open(path, "w") as f:
        for name in names:
            with open(os.path.join(keys, name)) as k:
                f.write("%s %s\n" % (name, k.read().strip()))
    os.chmod(path, 0o600)


def write_run_dir(bindir, protocol, f, n, metrics_port=None):
    """docker/swarm/run/: cluster.ini (keys in /tmp), kind, keys.pub and the
    private-key bundles, from byzlab-keygen --cluster (the one writer of cluster.ini,
    with the same hosts and ports as scripts/byzlab-cluster), and stack.yml for them."""
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    os.makedirs(RUN_DIR, mode=0o700)
    keygen = os.path.join(bindir, "byzlab-keygen")
    kind_line = KIND % (protocol, f)
    kind = dict(kv.split("=") for kv in kind_line.split())
    common = [keygen, "--protocol", kind["protocol"], "--f", kind["f"], "--auth", kind["auth"],
              "--clients", kind["clients"], "--host", "replica{i}", "--base-port", "7000",
              "--metrics", "--set", "data=/data"]
    gen = os.path.join(RUN_DIR, "gen")
    bz.run(common + ["--cluster", gen, "--set", "keys=" + os.path.join(gen, "keys")],
           check=True)
    bz.run(common + ["--cluster", RUN_DIR, "--no-keys", "--set", "keys=" + KEYS_IN_CONTAINER],
           check=True)
    keys = os.path.join(gen, "keys")
    files = sorted(os.listdir(keys))
    bundle(os.path.join(RUN_DIR, "keys.pub"), [x for x in files if x.endswith(".pub")], keys)
    bundle(os.path.join(RUN_DIR, "clients.key"),
           [x for x in files if x.startswith("client-") and x.endswith(".key")], keys)
    for i in range(n):
        bundle(os.path.join(RUN_DIR, "replica%d.key" % i), ["replica-%d.key" % i], keys)
    with open(os.path.join(RUN_DIR, "kind"), "w") as out:
        out.write(kind_line + "\n")
    shutil.rmtree(gen)
    with open(STACK_FILE, "w") as out:
        out.write(stack_text(protocol, f, n, metrics_port))


# ------------------------------------------------------------------ the stack file

class Octal(int):
    """A file mode: written 0444, as people read modes."""


def yaml_lines(x, ind=""):
    """The block YAML of dicts, lists and scalars (strings double-quoted: JSON's
    quoting is YAML's).  Enough for a stack file; stdlib only."""
    def scalar(v):
        if v == {} or v == []:
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, Octal):
            return "0%o" % v
        return str(v) if isinstance(v, int) else json.dumps(v)
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            if isinstance(v, list) and all(isinstance(e, str) for e in v):
                out.append("%s%s: %s" % (ind, k, json.dumps(v)))   # flow: ["a", "b"]
            elif isinstance(v, (dict, list)) and v:
                out += ["%s%s:" % (ind, k)] + yaml_lines(v, ind + "  ")
            else:
                out.append("%s%s: %s" % (ind, k, scalar(v)))
        return out
    for v in x:
        if isinstance(v, dict) and v:
            sub = yaml_lines(v, ind + "  ")
            out += [ind + "- " + sub[0][len(ind) + 2:]] + sub[1:]
        else:
            out.append("%s- %s" % (ind, scalar(v)))
    return out


def stack_doc(n, metrics_port=None):
    """The stack (compose v3.8) of n replicas replica0..replica{n-1} and the client,
    plus Prometheus if metrics_port: a dict, in the order it is written."""
    def owned(source, target, mode):
        return {"source": source, "target": target, "uid": UID, "gid": UID,
                "mode": Octal(mode)}
    # Every byzlab service: the entry script, cluster.ini, the kind line (byzlab-start's
    # faults) and the public keys, read-only, owned by the image's user byzlab.
    configs = [owned("start", "/cluster/start", 0o444),
               owned("cluster_ini", "/cluster/cluster.ini", 0o444),
               owned("kind", "/cluster/kind", 0o444),
               owned("keys_pub", "/cluster/keys.pub", 0o444)]

    def deploy(constraint, dnsrr=True):
        d = {"replicas": 1, "restart_policy": {"condition": "any", "delay": "1s"},
             "placement": {"constraints": [constraint]}}
        if dnsrr:
            d = dict({"endpoint_mode": "dnsrr"}, **d)
        return d
    services = {"client": {
        "image": bz.IMAGE,
        "command": ["/bin/sh", "/cluster/start", "/usr/local/bin/byzlab-client-service"],
        "init": True, "stop_grace_period": "5s", "networks": ["net"],
        "environment": {"BYZLAB_KEYS": KEYS_IN_CONTAINER, "BENCH_OPS": "0"},
        "configs": configs, "secrets": [owned("clients_key", "clients.key", 0o400)],
        "healthcheck": {"disable": True},
        # ./byzlab swarm runs client commands with docker exec on the manager
        "deploy": deploy("node.role == manager")}}
    for i in range(n):
        env = {"BYZLAB_KEYS": KEYS_IN_CONTAINER, "REPLICA_ID": str(i)}
        for var in ("BYZ_REPLICA", "BYZ_BEHAVIOUR", "BYZ_FAULTS", "BYZ_FAULTS_REPLICA"):
            env[var] = "${%s:-}" % var
        services["replica%d" % i] = {
            "image": bz.IMAGE,
            "command": ["/bin/sh", "/cluster/start", "/usr/local/bin/byzlab-start"],
            "hostname": "replica%d" % i, "stop_grace_period": "5s", "networks": ["net"],
            "environment": env, "volumes": ["data%d:/data" % i], "configs": configs,
            "secrets": [owned("replica%d_key" % i, "replica%d.key" % i, 0o400)],
            "deploy": deploy("node.labels.byzlab.replica.%d == true" % i)}
    if metrics_port:
        # Swarm publishes a port on every address of the node (no 127.0.0.1 as in
        # compose); mode host: only on the node that runs it, a manager.
        services["prometheus"] = {
            "image": bz.PROM_IMAGE, "stop_grace_period": "5s", "networks": ["net"],
            "ports": [{"target": 9090, "published": int(metrics_port), "protocol": "tcp",
                       "mode": "host"}],
            "deploy": deploy("node.role == manager", dnsrr=False)}
    return {
        "version": "3.8",
        "services": services,
        "networks": {"net": {"driver": "overlay"}},
        "volumes": {"data%d" % i: {} for i in range(n)},
        "configs": {"start": {"file": "../byzlab-swarm-start"},
                    "cluster_ini": {"file": "./cluster.ini"},
                    "kind": {"file": "./kind"},
                    "keys_pub": {"file": "./keys.pub"}},
        "secrets": dict({"clients_key": {"file": "./clients.key"}},
                        **{"replica%d_key" % i: {"file": "./replica%d.key" % i}
                           for i in range(n)}),
    }


STACK_HEADER = """\
# byzlab on Docker Swarm (issue 20): %(protocol)s f=%(f)d, %(n)d replicas (services
# replica0..replica%(last)d) and a client on an overlay network.%(prom)s
# Generated by docker/bzswarm.py (stack_doc) for ./byzlab swarm up --variant %(variant)s
# into docker/swarm/run/ with the keys and cluster.ini it names (paths are relative
# to this file); deploy it by hand with
#   docker stack deploy -c docker/swarm/run/stack.yml byzlab-swarm
#
# Placement: replica I runs only on a node labelled byzlab.replica.I=true (one key per
# replica, so one node can carry several).  Nothing secret is in the image: replica
# I's private key is the secret replicaI_key, given only to its service; cluster.ini,
# the public keys and the entry script (docker/swarm/byzlab-swarm-start, which puts
# the key files back together in /tmp) are configs.  Each replica has hostname
# replicaI (its own address in its /etc/hosts at once) and endpoint_mode dnsrr (the
# name resolves to the task itself, an address it can bind).  BYZ_REPLICA,
# BYZ_BEHAVIOUR, BYZ_FAULTS and BYZ_FAULTS_REPLICA are read from the environment of
# docker stack deploy, as compose reads them (README "Docker").
"""


def stack_text(protocol, f, n, metrics_port=None, variant=None):
    head = STACK_HEADER % {
        "protocol": protocol, "f": f, "n": n, "last": n - 1,
        "variant": variant or "%s-f%d" % (protocol, f),
        "prom": "" if not metrics_port else
        "\n# Prometheus scrapes them all (port %d of its node)." % metrics_port}
    return head + "\n".join(yaml_lines(stack_doc(n, metrics_port))) + "\n"


# ------------------------------------------------------------------ tasks

def running_container(service):
    """The id of the running container of the stack's SERVICE, or None."""
    out = docker_out("ps", "-q", "--filter", "status=running", "--filter",
                     "label=com.docker.swarm.service.name=%s_%s" % (STACK, service))
    ids = out.split()
    return ids[0] if ids else None


def task_container(service, deadline=60.0):
    """The running container of SERVICE, waiting (a killed task is being replaced)."""
    return bz.wait_until(lambda: running_container(service), deadline,
                         "a running task of %s_%s" % (STACK, service))


def client_container():
    return running_container("client") or "%s_client-not-running" % STACK


def replica_container(i):
    """Replica i's running container on this node, or a name no container has (on
    several hosts it may run elsewhere: its cgroup CPU is then not counted)."""
    return running_container("replica%d" % i) or "%s_replica%d-not-here" % (STACK, i)


def replica_services():
    """{I: "1/1", ...}: the stack's replica services and their running/wanted tasks."""
    out = docker_out("service", "ls", "--filter", "name=%s_replica" % STACK, "--format",
                     "{{.Name}} {{.Replicas}}")
    got = {}
    for line in out.splitlines():
        m = re.match(r"^%s_replica(\d+) (\S+)" % re.escape(STACK), line)
        if m:
            got[int(m.group(1))] = m.group(2)
    return got


def tasks_running(n):
    """The replicas (< n) whose service runs its task (1/1).  A task with a health
    check counts as running only once healthy, on whichever node it is."""
    return [i for i, reps in sorted(replica_services().items()) if i < n and reps == "1/1"]


def install():
    """Point bzdocker's helpers at the stack (they look these up at call time)."""
    bz.VERB = "swarm"
    bz.client_container = client_container
    bz.replica_name = replica_container
    bz.up = up
    bz.down = down
    bz.leftovers = leftovers


# ------------------------------------------------------------------ up and down

def up(args, bindir, quiet_summary=False):
    bz.need_engine()
    _, protocol, f, n = bz.VARIANTS[args.variant]
    metrics = getattr(args, "metrics", False)
    port = args.metrics_port if metrics else None
    env = dict(os.environ)
    env.update(bz.lie_and_fault_env(args))
    size = None
    if not args.no_build:
        size = bz.build_image(bindir)
    elif bz.image_size() is None:
        raise Failed("no image %s: run ./byzlab docker image first" % bz.IMAGE)
    if metrics:
        bz.build_prometheus_image(n)
    created = join_or_init()
    label_node(n)
    write_run_dir(bindir, protocol, f, n, port)
    log("stack deploy: %s f=%d (%d replicas%s) as %s%s" % (
        protocol, f, n, ", Prometheus" if metrics else "", STACK,
        " (on the swarm just created)" if created else ""))
    t0 = time.monotonic()
    bz.run(["docker", "stack", "deploy", "-c", STACK_FILE, STACK], timeout=300, env=env,
           check=True, quiet=False)
    t_deploy = time.monotonic() - t0
    task_container("client", 90)
    first = bz.commit_probe("up", deadline=90, timeout_ms=2000)
    if first is None:
        raise Failed("no request committed within 90s of stack deploy\n" + task_logs())
    t_first = time.monotonic() - t0
    bz.wait_until(lambda: len(tasks_running(n)) == n, 90, "every replica to be healthy")
    t_healthy = time.monotonic() - t0
    t_metrics = bz.wait_prometheus(port, n, t0) if metrics else None
    view, primary = bz.current_view(bz.status())
    if not quiet_summary:
        print("swarm up: %s f=%d, %d replicas (stack %s); first request committed %.2fs "
              "after deploy (deploy took %.2fs), all healthy after %.2fs (view %s, primary %s)"
              % (protocol, f, n, STACK, t_first, t_deploy, t_healthy, view, primary),
              flush=True)
    res = {"variant": args.variant, "protocol": protocol, "f": f, "n": n,
           "image_bytes": size, "compose_up_s": round(t_deploy, 2),
           "first_commit_s": round(t_first, 2), "healthy_s": round(t_healthy, 2),
           "view": view, "primary": primary, "byz": args.byz or "none",
           "faults": args.faults or "none", "swarm_created": created}
    if metrics:
        res["prometheus_url"] = bz.print_prometheus(port, n, t_metrics)
    return res


def task_logs(lines=30):
    services = ["%s_%s" % (STACK, s) for s in
                ["replica%d" % i for i in sorted(replica_services())] + ["prometheus"]]
    _, out, err = bz.run(["docker", "service", "ps", "--no-trunc", "--format",
                          "{{.Name}} {{.CurrentState}} {{.Error}}", "--filter",
                          "desired-state=running"] + services, timeout=30)
    text = [out + err]
    for name in services:
        _, o, e = bz.run(["docker", "service", "logs", "--tail", str(lines), name], timeout=30)
        text.append("--- %s ---\n%s%s" % (name, o, e))
    return "\n".join(text)


def listed(kind_args, prefix=STACK):
    rc, out, err = bz.run(["docker"] + kind_args, timeout=60)
    if rc != 0:
        raise Failed("docker %s: %s" % (" ".join(kind_args), err.strip()))
    return [x for x in out.split() if x.startswith(prefix)]


def leftovers():
    """Everything named byzlab-swarm* (services, secrets, configs, networks, volumes,
    containers) and byzlab.replica.* labels on this node."""
    left = []
    kinds = [("container", ["ps", "-a", "--format", "{{.Names}}"]),
             ("network", ["network", "ls", "--format", "{{.Name}}"]),
             ("volume", ["volume", "ls", "--format", "{{.Name}}"])]
    if swarm_state() == "active":
        kinds += [("service", ["service", "ls", "--format", "{{.Name}}"]),
                  ("secret", ["secret", "ls", "--format", "{{.Name}}"]),
                  ("config", ["config", "ls", "--format", "{{.Name}}"])]
        left += ["node label %s" % k for k in node_labels() if k.startswith("byzlab.replica.")]
    for kind, argv in kinds:
        left += ["%s %s" % (kind, x) for x in listed(argv)]
    return left


def gone(kind_args):
    return not listed(kind_args)


def down():
    """Remove the stack and all it made; leave the swarm only if up created it."""
    bz.need_engine()
    if swarm_state() == "active":
        bz.run(["docker", "stack", "rm", STACK], timeout=120, quiet=False)
        # stack rm returns before the tasks' containers and the network are gone.
        bz.wait_until(lambda: gone(["ps", "-a", "--format", "{{.Names}}"]), 60,
                      "the stack's containers to go")
        bz.wait_until(lambda: gone(["network", "ls", "--format", "{{.Name}}"]), 60,
                      "the stack's network to go")
        for kind in ("secret", "config"):
            left = listed([kind, "ls", "--format", "{{.Name}}"])
            if left:
                bz.run(["docker", kind, "rm"] + left, timeout=60)
        unlabel_node()
    vols = listed(["volume", "ls", "--format", "{{.Name}}"])
    if vols:
        bz.run(["docker", "volume", "rm"] + vols, timeout=120, check=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    left = leftovers()
    if left:
        raise Failed("still there after down: " + ", ".join(left))
    active = swarm_state() == "active"
    how = "the swarm stays (byzlab did not create it)" if active else "no swarm is active"
    if active and node_labels().get(CREATED_LABEL) == "true":
        bz.run(["docker", "swarm", "leave", "--force"], timeout=120, check=True, quiet=False)
        how = "left the swarm ./byzlab swarm up had created"
    print("swarm down: no service, secret, config, network, volume or container named "
          "%s* is left; %s" % (STACK, how), flush=True)


# ------------------------------------------------------------------ scenarios

def scenario_kill_primary(sc):
    """docker kill the primary's task container; the others must change view and
    serve; swarm must start a new task (a new container on the same volume) that
    catches up; the replicas must agree."""
    sc.start()
    sc.workload(300, 10)
    view, p = bz.primary_now()
    killed = task_container("replica%d" % p, 5)     # on this node (README: several hosts)
    sc.event("docker kill", replica=p, view=view, container=killed[:12])
    t = time.monotonic()
    bz.docker("kill", killed)
    regained = bz.commit_probe("kill")
    regained = None if regained is None else time.monotonic() - t
    sc.event("service regained", seconds=regained)
    sc.workload(300, 20, main=True)
    v2, p2 = bz.primary_now()
    new = bz.wait_until(lambda: (lambda c: c if c and c != killed else None)(
        running_container("replica%d" % p)), 60, "swarm to restart replica %d" % p)
    sc.event("swarm restarted the task", replica=p, container=new[:12],
             seconds=round(time.monotonic() - t, 2))
    driven = []
    st, conv = bz.converge(list(range(sc.n)), 60, driven=driven)
    caught = None if conv is None else time.monotonic() - t
    sc.event("restarted replica caught up", seconds=caught, driven_ops=sum(driven))
    extra = ("view %s -> %s (primary %s); swarm replaced replica %d's task (container %s "
             "-> %s) and it %s (timed from the kill)" % (
                 view, v2, p2, p, killed[:12], new[:12], bz.caught_up(caught, driven, st, p)))
    return sc.finish(regained, list(range(sc.n)), extra, "docker-kill:replica%d" % p,
                     converged=(st, conv))


SCENARIOS = {"kill-primary": scenario_kill_primary, "liar": bz.scenario_liar}


def main(argv):
    install()
    bz.SCENARIOS.clear()
    bz.SCENARIOS.update(SCENARIOS)
    p = bz.parser()
    p.description = __doc__.split("\n\n")[0]
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.cmd == "image":
        print("byzlab swarm: the image is ./byzlab docker image's", file=sys.stderr)
        return 2
    if args.cmd == "status":
        bz.need_engine()
        if not bz.is_up():
            print("byzlab swarm: no byzlab swarm stack is up (./byzlab swarm up)",
                  file=sys.stderr)
            return 1
    try:
        return bz.main(argv)
    except subprocess.SubprocessError as e:
        print("byzlab swarm: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
