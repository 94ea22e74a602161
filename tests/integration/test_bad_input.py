#!/usr/bin/python3
"""Hostile and broken input: (a) a client signing with the wrong key is rejected and
nothing executes; (b) random bytes at every socket of a replica are counted as
bad_format and the cluster keeps serving; (c) a bad cluster.ini stops a replica with
exit 2 and a message naming the file, line and key (and `cluster up` fails fast)."""

import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 7600
JUNK = os.path.join(bz.TESTBIN, "junk")


def wrong_key(c):
    """Client 5 signs with client 6's secret key."""
    keys = os.path.join(c.dir, "keys")
    wrong = os.path.join(c.dir, "keys-wrong")
    shutil.rmtree(wrong, ignore_errors=True)
    shutil.copytree(keys, wrong)
    os.chmod(wrong, 0o700)
    dst = os.path.join(wrong, "client-5.key")
    shutil.copyfile(os.path.join(keys, "client-6.key"), dst)
    os.chmod(dst, 0o600)
    with open(c.ini) as f:
        text = f.read()
    text, n = re.subn(r"(?m)^keys\s*=.*$", "keys = keys-wrong", text)
    bz.check_eq(n, 1, "keys= lines in cluster.ini")
    ini2 = os.path.join(c.dir, "cluster-wrong-key.ini")
    with open(ini2, "w") as f:
        f.write(text)

    before = c.rejected("bad_auth")
    r = c.client("put", "stolen", "x", client_id=5, config=ini2, timeout_ms=2000)
    if r.rc != bz.EXIT_NO_QUORUM:
        raise bz.Failure("a request signed with the wrong key must get no quorum (exit 3)\n"
                         + r.describe())
    bz.wait_until(lambda: c.rejected("bad_auth") > before, 10,
                  "rejected.bad_auth to grow (was %d)" % before)
    bz.log("rejected.bad_auth %d -> %d" % (before, c.rejected("bad_auth")))
    # Not executed: a correct client (id 5 with its own key, too) finds no such key.
    for cid in (5, 9):
        r = c.client("get", "stolen", client_id=cid)
        if r.rc != 1 or "NOT_FOUND" not in r.err:
            raise bz.Failure("the forged put must not have executed\n" + r.describe())
    c.client("put", "after-forgery", "ok", client_id=5).expect(0)


def junk_everywhere(c, target=1):
    bz.require_programs(JUNK)
    st = c.status()[target]
    before = st["rejected"]["bad_format"]
    pid = c.pid(target)
    for role, addr in sorted(c.addresses(target).items()):
        bz.run([JUNK, role, addr, 200, 1000 + len(role)], expect=0, timeout=60)
    bz.wait_until(lambda: c.status()[target]["rejected"]["bad_format"] > before, 10,
                  "replica %d's rejected.bad_format to grow (was %d)" % (target, before))
    after = c.status()[target]
    bz.log("replica %d rejected.bad_format %d -> %d"
           % (target, before, after["rejected"]["bad_format"]))
    bz.check(bz.is_alive(pid), "replica %d (pid %d) died from junk" % (target, pid))
    bz.check_eq(c.pid(target), pid, "replica %d pid" % target)
    # Still serving, and every replica still answers.
    c.client("put", "after-junk", "still here", client_id=11).expect(0)
    r = c.client("get", "after-junk", client_id=12).expect(0)
    bz.check_eq(r.out, "still here\n", "get after junk")
    c.bench(4, 200, client_id=20, verify=True)
    st = c.status()
    bz.check(all(not o.get("down") for o in st.values()), "all replicas answer: %r" % st)


def bad_config(c):
    with open(c.ini) as f:
        lines = f.read().splitlines()
    at = lines.index("[cluster]") + 1
    lines.insert(at, "bogus = 1")
    bad = os.path.join(c.dir, "bad.ini")
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = bz.run([bz.REPLICA, "--config", bad, "--id", "0"], timeout=20)
    r.expect(bz.EXIT_USAGE, "replica with an unknown key in its config")
    for what in ("bad.ini", "bogus", str(at + 1)):
        bz.check(what in r.err, "the message should name %r:\n%s" % (what, r.describe()))

    # Through the driver: `cluster up` fails fast (well before its 20 s deadline) with
    # exit 2 and the replica's message, and nothing stays running.
    d = bz.Cluster("bad-input-config", protocol="pbft", f=1, base_port=BASE_PORT + 50)
    d.init()
    with open(d.ini) as f:
        text = f.read()
    with open(d.ini, "w") as f:
        f.write(text.replace("[cluster]\n", "[cluster]\nbogus = 1\n", 1))
    t = time.monotonic()
    r = d.up(expect=None)
    bz.check(r.rc == bz.EXIT_USAGE, "cluster up with a bad config: want exit 2\n" + r.describe())
    bz.check(time.monotonic() - t < 15, "cluster up took %.1fs to notice" % (time.monotonic() - t))
    bz.check("bogus" in r.err, "cluster up should show the replica's message:\n" + r.describe())
    d.down()


def test_bad_input():
    with bz.Cluster("bad-input", protocol="pbft", f=1, base_port=BASE_PORT) as c:
        c.init()
        c.up()
        c.client("put", "seed", "x").expect(0)
        bz.log("(a) a client signing with the wrong key")
        wrong_key(c)
        bz.log("(b) junk at replica 1's peer, client and admin sockets")
        junk_everywhere(c)
        bz.log("(c) a bad cluster.ini")
        bad_config(c)
        # The good cluster is unaffected by all of the above.
        r = c.client("get", "seed", client_id=30).expect(0)
        bz.check_eq(r.out, "x\n", "get seed")


if __name__ == "__main__":
    bz.run_tests([test_bad_input])
