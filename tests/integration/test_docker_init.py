#!/usr/bin/python3
"""The docker init service's script (docker/scripts/byzlab-init), run without docker:
a fresh volume gets keys, cluster.ini and its kind line; the same cluster again is left
alone; a volume made by an older byzlab-init (its kind line also held n=N) is migrated
- cluster.ini rewritten, the keys kept - instead of refused; a volume of another
cluster is refused with exit 2 and a message that says what to run.  No ports."""

import hashlib
import os
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

SCRIPTS = os.path.join(bz.ROOT, "docker", "scripts")
KIND = "protocol=pbft f=1 auth=sig clients=128"


def init(vol, f=1, expect=0):
    env = dict(os.environ, PATH="%s:%s:/usr/bin:/bin" % (SCRIPTS, bz.BIN),
               BYZ_CLUSTER_DIR=vol, BYZLAB_KEYS=os.path.join(vol, "keys"),
               BYZ_PROTOCOL="pbft", BYZ_F=str(f), BYZ_AUTH="sig", BYZ_CLIENTS="128")
    return bz.run(["/bin/sh", os.path.join(SCRIPTS, "byzlab-init")], env=env, expect=expect)


def keys_digest(vol):
    h = hashlib.sha256()
    keys = os.path.join(vol, "keys")
    for name in sorted(os.listdir(keys)):
        with open(os.path.join(keys, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def read(path):
    with open(path) as f:
        return f.read()


def test_init_migrate_refuse():
    os.makedirs(bz.TMP, exist_ok=True)
    vol = os.path.join(bz.TMP, "docker-init-%d" % os.getpid())
    shutil.rmtree(vol, ignore_errors=True)
    os.makedirs(vol)
    try:
        init(vol)
        bz.check_eq(read(os.path.join(vol, "kind")).strip(), KIND, "kind line")
        ini = os.path.join(vol, "cluster.ini")
        bz.check("[replica.3]" in read(ini), "cluster.ini has 4 replicas")
        keys = keys_digest(vol)
        r = init(vol)
        bz.check("already holds" in r.out, "same cluster again:\n" + r.describe())
        bz.check_eq(keys_digest(vol), keys, "keys after a second init")
        # a volume of an older byzlab-init: n in its kind line, an older cluster.ini
        with open(os.path.join(vol, "kind"), "w") as f:
            f.write("protocol=pbft f=1 n=4 auth=sig clients=128\n")
        with open(ini, "w") as f:
            f.write("# written by an older byzlab-init\n")
        r = init(vol)
        bz.check("old format" in r.out, "migrated:\n" + r.describe())
        bz.check_eq(read(os.path.join(vol, "kind")).strip(), KIND, "kind line migrated")
        bz.check("[replica.3]" in read(ini), "cluster.ini rewritten")
        bz.check_eq(keys_digest(vol), keys, "keys after the migration")
        bz.log("an old-format volume was migrated, its keys kept")
        # another cluster (and an old line of another cluster): refused, what to run
        for line in (KIND, "protocol=pbft f=2 n=7 auth=sig clients=128"):
            with open(os.path.join(vol, "kind"), "w") as f:
                f.write(line + "\n")
            r = init(vol, f=2 if line == KIND else 1, expect=2)
            bz.check("./byzlab docker down" in r.err, "the refusal says what to run:\n"
                     + r.describe())
        bz.check_eq(keys_digest(vol), keys, "keys after the refusals")
        bz.log("another cluster's volume was refused (exit 2) with what to run")
    finally:
        shutil.rmtree(vol, ignore_errors=True)


if __name__ == "__main__":
    bz.require_programs(bz.KEYGEN)
    bz.run_tests([test_init_migrate_refuse])
