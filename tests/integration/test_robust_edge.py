#!/usr/bin/python3
"""Robust mode's client rules on real processes (issue 16 item 3, docs/PROTOCOL.md
"Robust mode: signed requests and the ban table").

PBFT f=1, auth = mac, robust = on.  Three clients talk to the cluster:
  - an honest one (byzlab-client with the cluster's config: robust = on, so it signs
    every request);
  - one that does not sign (the same cluster with robust = off in its copy of
    cluster.ini: MAC authenticators only) - refused, counted rejected.unsigned_request;
  - one whose signatures are bad (its copy of the keys holds another client's secret
    key under its own id) - refused, and banned on its connection: its retransmissions
    are dropped unverified, counted rejected.blacklisted_client, and status shows
    blacklisted_clients > 0.
The honest client's operations all complete while the others keep trying, and the
same client id as the garbling one, on a connection of its own with the right key,
is served: a ban is per connection, so a liar cannot get an honest client banned.

Verdict by counters and completions, never by timing.  Ports 16300-16323 only
(peer 16300+i, client 16310+i, admin 16320+i).
"""

import os
import re
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 16300
BAD_SIG_CLIENT = 41
UNSIGNED_CLIENT = 42


def squeeze_ports(path):
    """`cluster init` lays ports out as P+i, P+100+i, P+200+i; keep them in
    16300-16399: P+i, P+10+i, P+20+i."""
    def fix(m):
        port = int(m.group(2))
        return "%s%d" % (m.group(1), BASE_PORT + (port - BASE_PORT) // 100 * 10
                         + (port - BASE_PORT) % 100)
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(tcp://127\.0\.0\.1:)(\d+)", fix, text)
    with open(path, "w") as f:
        f.write(text)


def variant(c, name, robust, keys_dir=None):
    """A copy of the cluster's ini (robust on/off, another keys directory)."""
    path = os.path.join(c.dir, name)
    with open(c.ini) as f:
        text = f.read()
    text, k = re.subn(r"(?m)^robust\s*=\s*on\b.*$", "robust = %s" % robust, text)
    bz.check(k == 1, "%s: robust = on found once in cluster.ini" % name)
    if keys_dir:
        text, k = re.subn(r"(?m)^keys\s*=.*$", "keys = %s" % keys_dir, text)
        bz.check(k == 1, "%s: keys = found once in cluster.ini" % name)
    with open(path, "w") as f:
        f.write(text)
    return path


def bad_keys(c):
    """keys-bad/: the cluster's keys, but client BAD_SIG_CLIENT's secret key is another
    client's (so its signatures verify against nobody's public key under its id)."""
    src, dst = os.path.join(c.dir, "keys"), os.path.join(c.dir, "keys-bad")
    shutil.copytree(src, dst)
    shutil.copyfile(os.path.join(src, "client-%d.key" % (BAD_SIG_CLIENT + 1)),
                    os.path.join(dst, "client-%d.key" % BAD_SIG_CLIENT))
    os.chmod(os.path.join(dst, "client-%d.key" % BAD_SIG_CLIENT), 0o600)
    return dst


def counters(c):
    st = c.status()
    pick = lambda k: [st[i]["rejected"].get(k, 0) for i in range(c.n)]  # noqa: E731
    return {"unsigned": pick("unsigned_request"), "blacklisted": pick("blacklisted_client"),
            "banned_now": [st[i].get("blacklisted_clients", 0) for i in range(c.n)],
            "views": [st[i]["view"] for i in range(c.n)],
            # which robust rule voted, if a view change happens (a failure names it)
            "votes": [{k: st[i]["robust"].get(k, 0) for k in
                       ("vc_request", "vc_heartbeat", "vc_monitor")} for i in range(c.n)]}


def test_unsigned_and_garbled_clients_are_refused():
    with bz.Cluster("robust-edge", f=1, base_port=BASE_PORT, auth="mac",
                    settings={"sync": "none", "robust": "on"}) as c:
        c.init()
        squeeze_ports(c.ini)
        c.up()
        unsigned_ini = variant(c, "unsigned.ini", "off")
        bad_ini = variant(c, "bad.ini", "on", bad_keys(c))
        # each keeps retransmitting for its whole timeout
        _, unsigned = c.client_popen("--config", unsigned_ini, "put", "u", "1",
                                     client_id=UNSIGNED_CLIENT, timeout_ms=20000)
        _, garbled = c.client_popen("--config", bad_ini, "put", "g", "1",
                                    client_id=BAD_SIG_CLIENT, timeout_ms=20000)
        try:
            bz.wait_until(lambda: sum(counters(c)["unsigned"]) > 0, 30,
                          "an unsigned request to be refused")
            bz.wait_until(lambda: sum(counters(c)["blacklisted"]) > 0, 30,
                          "a banned client's retransmission to be dropped")
            got = counters(c)
            bz.log("while attacked: %s" % got)
            bz.check(max(got["banned_now"]) >= 1, "status shows a banned client: %s" % got)
            # the honest clients get everything done meanwhile
            r = c.bench(4, 200, client_id=10)
            bz.log("honest bench: %s ops/s" % r.get("throughput"))
            # the garbling client's id, with its right key on a connection of its own
            c.client("put", "g", "2", client_id=BAD_SIG_CLIENT, timeout_ms=10000, expect=0)
            got = counters(c)
            bz.log("after: %s" % got)
            bz.check(max(got["views"]) == 0, "no view change: %s" % got["views"])
        finally:
            for p in (unsigned, garbled):
                p.kill()
                p.communicate()
        # neither attacker ever got an answer
        bz.check(unsigned.returncode != 0 and garbled.returncode != 0,
                 "the attackers got no quorum of replies")


if __name__ == "__main__":
    bz.run_tests([test_unsigned_and_garbled_clients_are_refused])
