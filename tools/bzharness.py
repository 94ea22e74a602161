#!/usr/bin/python3
"""bzharness - the harness byzlab's scripts share (stdlib only; issue 15 item 4).

One home for each fact the scripts need, so that experiments/bench.py,
experiments/issue14_signed_certs.py, tests/integration/bzcluster.py and
docker/bzdocker.py cannot drift apart:

  protocol_n()       n from (protocol, f): the one Python function that computes it
                     (config/config.c protocol_n() is the one C function)
  init_cluster()     cluster.ini and keys through `byzlab-keygen --cluster`, the one
                     program that writes cluster.ini (never edit the file: pass settings)
  parse_status()     byzlab-client status output -> objects (json, one per line)
  diverged(), agree()   "correct replicas agree", one meaning (see agree())
  COLUMNS            runs.csv's columns (product.md, "Results"); DOCKER_COLUMNS
  LocalCluster       argv and paths of a local cluster driven through ./byzlab
  docker_client_argv()  byzlab-client inside the compose project's client container

Scripts import it with sys.path.insert(0, <repo>/tools).  As a program it serves the
bash driver, which must not parse JSON itself:

  bzharness.py down-ids ID... < STATUS   the ids among ID... not answering in STATUS
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "byzlab")


def default_bin():
    return os.environ.get("BYZLAB_BIN") or os.path.join(ROOT, "build", "bin")


# ------------------------------------------------------------------ runs.csv

# One row per run (product.md, "Results"); docker runs add theirs after these.
COLUMNS = ["protocol", "f", "n", "auth", "batch_max", "payload", "clients", "byz",
           "faults", "ops", "throughput", "p50_us", "p99_us", "msgs_per_op",
           "bytes_per_op", "sig_ops_per_op", "cpu_ms_per_op", "safety"]
DOCKER_COLUMNS = COLUMNS + ["env", "scenario", "first_commit_s", "regained_s", "verdict"]


# ------------------------------------------------------------------ the cluster's shape

def protocol_n(protocol, f):
    """Replicas for protocol and f: PBFT 3f+1 (Castro-Liskov §2), VR 2f+1, single 1.
    For plans made before a cluster exists; once it does, cluster_n() reads the file.
    Must agree with config/config.c protocol_n() (tests/integration/test_cli.py)."""
    if protocol in ("pbft", "hotstuff"):
        return 3 * f + 1
    if protocol == "vr":
        return 2 * f + 1
    if protocol == "single":
        return 1
    raise ValueError("unknown protocol %r" % (protocol,))


def cluster_n(ini):
    """n of an existing cluster: its [replica.I] sections."""
    with open(ini) as f:
        return len(re.findall(r"^\s*\[replica\.\d+\]", f.read(), re.M))


class HarnessError(RuntimeError):
    """A program the harness ran failed; rc is its exit code."""

    def __init__(self, msg, rc=None):
        super().__init__(msg)
        self.rc = rc


def init_argv(directory, protocol, f, auth=None, base_port=None, settings=None,
              clients=None, host=None, keys=True, force=False, keygen=None, faults=None,
              wan=None, regions=None):
    """`byzlab-keygen --cluster` for these arguments.  settings: {key: value} of
    [cluster] (batch_max, sync, read_only, ...), each passed as --set key=value;
    faults: [(key, value)] lines of a [faults] section (--fault key=value); wan: a WAN
    preset (--wan three-continents: [regions] and region.I lines, issue 20); regions:
    ["us/eu=20,1", ...] [regions] lines (--region)."""
    argv = [keygen or os.path.join(default_bin(), "byzlab-keygen"), "--cluster", directory,
            "--protocol", protocol, "--f", f]
    for opt, v in (("--auth", auth), ("--base-port", base_port), ("--clients", clients),
                   ("--host", host)):
        if v is not None:
            argv += [opt, v]
    for k, v in sorted((settings or {}).items()):
        argv += ["--set", "%s=%s" % (k, v)]
    for k, v in faults or []:
        argv += ["--fault", "%s=%s" % (k, v)]
    if wan:
        argv += ["--wan", wan]
    for kv in regions or []:
        argv += ["--region", kv]
    if not keys:
        argv.append("--no-keys")
    if force:
        argv.append("--force")
    return [str(a) for a in argv]


def init_cluster(directory, protocol, f, auth=None, base_port=None, settings=None,
                 clients=None, host=None, keys=True, force=False, keygen=None, env=None,
                 faults=None, wan=None, regions=None):
    """Write DIR/cluster.ini (and DIR/keys/) with byzlab-keygen --cluster.  Returns n,
    as the program reports it.  HarnessError (rc 2: a refused argument or setting)."""
    argv = init_argv(directory, protocol, f, auth, base_port, settings, clients, host,
                     keys, force, keygen, faults, wan, regions)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        raise HarnessError("%s: exit %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                                   p.stderr), p.returncode)
    m = re.search(r"\bn=(\d+)", p.stdout)
    return int(m.group(1)) if m else cluster_n(os.path.join(directory, "cluster.ini"))


# ------------------------------------------------------------------ status

def parse_status(text, strict=True):
    """byzlab-client status output -> list of objects, one per line.  strict: a line
    that is not a JSON object with an "id" raises ValueError; else it is skipped."""
    objs = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            o = json.loads(line)
        except ValueError as e:
            if strict:
                raise ValueError("status line is not JSON (%s): %r" % (e, line))
            continue
        if not isinstance(o, dict) or "id" not in o:
            if strict:
                raise ValueError("status line is not an object with an id: %r" % line)
            continue
        objs.append(o)
    return objs


def by_id(objs):
    return {o["id"]: o for o in objs}


def answering(st):
    """{id: status} of the replicas that answered (not {"down": true})."""
    return {i: o for i, o in st.items() if not o.get("down")}


def down_ids(st, ids):
    """The ids that did not answer (a "down" line, or no line at all)."""
    return [i for i in ids if i not in st or st[i].get("down")]


# ------------------------------------------------------------------ "replicas agree"

def diverged(st, ids):
    """Safety: the disagreements among the correct replicas ids that answered.  Each
    status reports the digest of its state at its stable checkpoint, so two replicas
    at the same stable checkpoint must report the same digest; {checkpoint: {digest:
    [ids]}} for every checkpoint where they do not (empty: safety held)."""
    by_cp = {}
    for i in ids:
        o = st.get(i)
        if not o or o.get("down"):
            continue
        by_cp.setdefault(o.get("stable_checkpoint"), {}).setdefault(
            o.get("state_digest"), []).append(i)
    return {cp: ds for cp, ds in by_cp.items() if len(ds) > 1}


def describe_divergence(split):
    return "; ".join("checkpoint %s: %s" % (cp, ", ".join(
        "replicas %s digest %s" % (ids, str(d)[:16]) for d, ids in sorted(ds.items())))
        for cp, ds in sorted(split.items(), key=lambda kv: str(kv[0])))


def agree(st, ids, checkpoint_at_least=None):
    """"Correct replicas agree" (the one meaning, for tests, bench and docker): every
    replica in ids answers, all executed the same sequence numbers (equal last_executed
    > 0), and none diverged (equal digests at equal stable checkpoints).  With
    checkpoint_at_least, they also share one stable checkpoint >= it, and so one state
    digest.  The three older checks each left a part out: equal last_executed alone,
    digests alone, or needed a checkpoint."""
    ids = list(ids)
    if down_ids(st, ids):
        return False
    le = {st[i].get("last_executed") for i in ids}
    if len(le) != 1 or not le.pop():
        return False
    if diverged(st, ids):
        return False
    if checkpoint_at_least is not None:
        cps = {st[i].get("stable_checkpoint") for i in ids}
        if len(cps) != 1 or (cps.pop() or 0) < checkpoint_at_least:
            return False
    return True


# ------------------------------------------------------------------ local processes

class LocalCluster:
    """A cluster directory on this machine: made by init_cluster(), started and stopped
    by `./byzlab cluster up|down` (pid files under run/, logs under logs/), asked with
    byzlab-client.  Builds argv and paths; running them (with whatever logging and
    timeouts) is the caller's."""

    def __init__(self, directory, bin_dir=None, driver=None):
        self.dir = directory
        self.ini = os.path.join(directory, "cluster.ini")
        self.bin = bin_dir or default_bin()
        self.driver = driver or DRIVER
        self.client_bin = os.path.join(self.bin, "byzlab-client")

    def init_cluster(self, protocol, f, keygen=None, **kw):
        return init_cluster(self.dir, protocol, f,
                            keygen=keygen or os.path.join(self.bin, "byzlab-keygen"), **kw)

    def up_argv(self, byz=None):
        """byz: {id: "behaviour[:arg]"} or a list of "I=behaviour" strings."""
        argv = [self.driver, "cluster", "up", self.dir]
        items = (["%d=%s" % kv for kv in sorted(byz.items())] if isinstance(byz, dict)
                 else list(byz or []))
        for b in items:
            argv += ["--byz", b]
        return [str(a) for a in argv]

    def down_argv(self):
        return [self.driver, "cluster", "down", self.dir]

    def client_argv(self, *args, client_id=None, timeout_ms=None, config=None):
        argv = [self.client_bin, "--config", config or self.ini]
        if client_id is not None:
            argv += ["--client-id", client_id]
        if timeout_ms is not None:
            argv += ["--timeout", timeout_ms]
        return [str(a) for a in argv + list(args)]

    def pidfile(self, i):
        return os.path.join(self.dir, "run", "replica-%d.pid" % i)

    def pid(self, i):
        """The pid `cluster up` recorded for replica i, or None."""
        try:
            with open(self.pidfile(i)) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log_path(self, i):
        return os.path.join(self.dir, "logs", "replica-%d.log" % i)


# ------------------------------------------------------------------ docker

DOCKER_PROJECT = "byzlab"
DOCKER_CLIENT = DOCKER_PROJECT + "-client"   # the compose service "client"'s container
DOCKER_INI = "/cluster/cluster.ini"          # inside the containers (byzlab-init)


def docker_client_argv(*args, client_id=None, timeout_ms=None, container=DOCKER_CLIENT,
                       ini=DOCKER_INI):
    """byzlab-client run inside the client container: the replicas are reachable only on
    the compose network."""
    argv = ["docker", "exec", container, "byzlab-client", "--config", ini]
    if client_id is not None:
        argv += ["--client-id", client_id]
    if timeout_ms is not None:
        argv += ["--timeout", timeout_ms]
    return [str(a) for a in argv + list(args)]


# ------------------------------------------------------------------ command line

def main(argv):
    if len(argv) >= 1 and argv[0] == "down-ids":
        try:
            ids = [int(a) for a in argv[1:]]
        except ValueError:
            print("bzharness down-ids: ids are numbers", file=sys.stderr)
            return 2
        st = by_id(parse_status(sys.stdin.read(), strict=False))
        print(" ".join(str(i) for i in down_ids(st, ids)))
        return 0
    print("usage: bzharness.py down-ids ID... < STATUS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
