#!/usr/bin/python3
"""Key hygiene (issue 9) with real processes: key files are written 0600 in a 0700
directory; a replica refuses to start on a secret key that group or others can read
(exit 2, naming the file, quoting no key); and no secret key appears in anything the
programs print - replica logs, client output, status documents.  The unit side (a
client key cannot act as a replica, auth_free wipes the context, key errors quote no
key material) is in tests/unit/test_auth.c."""

import os
import re
import stat
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 9750        # 9700 + 50: test_flood.py's cluster uses 9700..9703 (+100, +200)


def secrets(keys):
    """Every secret key (hex) in keys/, with its seed half, for scanning outputs."""
    out = []
    for name in sorted(os.listdir(keys)):
        if name.endswith(".key"):
            with open(os.path.join(keys, name)) as f:
                hexkey = f.read().strip().lower()
            bz.check(re.fullmatch(r"[0-9a-f]{128}", hexkey) is not None,
                     "%s is not 128 hex digits" % name)
            out.append((name, hexkey))
    return out


def check_modes(keys):
    st = os.stat(keys)
    bz.check_eq(stat.S_IMODE(st.st_mode), 0o700, "mode of %s" % keys)
    n = 0
    for name in sorted(os.listdir(keys)):
        mode = stat.S_IMODE(os.stat(os.path.join(keys, name)).st_mode)
        if name.endswith(".key"):
            bz.check_eq(mode, 0o600, "mode of %s" % name)
            n += 1
        else:
            bz.check(mode & 0o022 == 0, "%s is writable by others (%o)" % (name, mode))
    bz.check(n > 0, "no secret keys in %s" % keys)
    bz.log("%d secret key files, all 0600, in a 0700 directory" % n)


def refuses_readable_key(c, keys, texts):
    path = os.path.join(keys, "replica-2.key")
    for mode in (0o644, 0o640, 0o604):
        os.chmod(path, mode)
        r = bz.run([bz.REPLICA, "--config", c.ini, "--id", 2], timeout=30)
        texts.append(r.out + r.err)
        r.expect(bz.EXIT_USAGE, "replica 2 with its secret key at mode %o" % mode)
        for what in ("replica-2.key", "600"):
            bz.check(what in r.err, "the message should name %r:\n%s" % (what, r.describe()))
    os.chmod(path, 0o600)
    bz.log("replica 2 refused its secret key at modes 0644, 0640 and 0604 (exit 2)")


def test_keys():
    with bz.Cluster("keys", protocol="pbft", f=1, base_port=BASE_PORT) as c:
        c.init()
        keys = os.path.join(c.dir, "keys")
        check_modes(keys)
        texts = []
        refuses_readable_key(c, keys, texts)
        c.up()
        for i in range(5):
            texts.append(c.client("put", "k%d" % i, "v%d" % i, client_id=i).expect(0).out)
        texts.append(c.client("get", "k1", client_id=7).expect(0).out)
        texts.append(c.client("status").expect(0).out)
        c.bench(2, 50, client_id=10)
        c.down()
        for i in range(c.n):
            texts.append(c.logs(i))
        corpus = "\n".join(texts).lower()
        for name, hexkey in secrets(keys):
            # the whole key, its seed half, or any 16-digit run of the seed
            bz.check(hexkey not in corpus, "%s appears in the output" % name)
            for j in range(0, 64 - 16 + 1, 8):
                bz.check(hexkey[j:j + 16] not in corpus,
                         "part of %s's seed appears in the output" % name)
        bz.log("no secret key (nor any 16-digit run of a seed) in %d KiB of logs and output"
               % (len(corpus) // 1024))


if __name__ == "__main__":
    bz.run_tests([test_keys])
