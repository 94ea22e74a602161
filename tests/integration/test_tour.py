#!/usr/bin/python3
"""`./byzlab tour --quick` end to end (issue 18): the report is complete and honest.

* every step is present with one of the four verdicts; clocks and pauses (leader leases)
  are BROKEN (as expected), each with the checks that make it so: a stale read named by
  the linearizability checker beyond the drift bound, HELD within it and for PBFT's
  read-only path; the zombie's late reply caught, its writes fenced;
* every figure named by a step exists and is a PNG (magic bytes), and every step that ran
  has one;
* index.html references only files that exist beside it, and nothing on the network;
* the exit code matches the verdicts (0 iff none is BROKEN (unexpected)); an unexpected
  verdict planted with the hidden --plant-unexpected STEP makes the command exit 1;
* if chromium is installed, it renders index.html headless to a PNG, which must not be
  blank (decoded here, stdlib only).  Without chromium that part prints SKIPPED.

Ports: the tour's clusters use 17800-18199 (tour.py --base-port 17800).
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

STEPS = ["partial-failure", "timeouts", "clocks", "pauses", "quorums", "byzantine",
         "safety-liveness"]
# issue 18's two steps: the verdict, and each check's (expected, observed)
EXPECTED = {"clocks": "BROKEN (as expected)", "pauses": "BROKEN (as expected)"}
# (--quick: one deposed VR primary on processes, the within-bound and PBFT cases in the
# simulator only)
CHECKS = {"clocks": [("held", "held"), ("broken", "broken"), ("broken", "broken"),
                     ("held", "held"), ("held", "held")],
          "pauses": [("held", "held"), ("broken", "broken"), ("held", "held"),
                     ("held", "held")]}
VERDICTS = {"HELD", "BROKEN (as expected)", "BROKEN (unexpected)", "SKIPPED"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tour(out, *extra, timeout=280):
    env = dict(os.environ, BYZLAB_BIN=bz.BIN)
    return bz.run([bz.DRIVER, "tour", "--out", out, "--base-port", 17800] + list(extra),
                  timeout=timeout, env=env)


def load(out):
    with open(os.path.join(out, "tour.json")) as f:
        return json.load(f)


def check_report(out, rc):
    d = load(out)
    names = [s["name"] for s in d["steps"]]
    bz.check_eq(names, STEPS, "steps in tour.json")
    for s in d["steps"]:
        bz.check(s["verdict"] in VERDICTS, "%s: verdict %r" % (s["name"], s["verdict"]))
        if s["name"] in EXPECTED:
            bz.check_eq(s["verdict"], EXPECTED[s["name"]], s["name"])
            observed = [(c["expected"], c["observed"]) for c in s["checks"]]
            bz.check_eq(observed, CHECKS[s["name"]], "%s: its checks" % s["name"])
            if s["name"] == "clocks":   # the two operations that prove it, named
                bz.check("NOT linearizable: put x=new" in s["checks"][1]["what"] and
                         "then get x" in s["checks"][1]["what"], s["checks"][1]["what"])
        bz.check(s["figure"], "%s has no figure" % s["name"])
        bz.check(s["commands"], "%s has no commands to repeat it" % s["name"])
        fig = os.path.join(out, s["figure"])
        bz.check(os.path.isfile(fig), "%s: figure %s missing" % (s["name"], s["figure"]))
        with open(fig, "rb") as f:
            bz.check(f.read(8) == PNG_MAGIC, "%s is not a PNG" % s["figure"])
    unexpected = [s["name"] for s in d["steps"] if s["verdict"] == "BROKEN (unexpected)"]
    bz.check_eq(rc, 1 if unexpected else 0, "exit code for unexpected=%s" % unexpected)
    check_html(out, d)
    bz.log("verdicts: %s" % ", ".join("%s=%s" % (s["name"], s["verdict"])
                                      for s in d["steps"]))
    return d


def check_html(out, d):
    with open(os.path.join(out, "index.html")) as f:
        text = f.read()
    refs = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", text)
    bz.check(refs, "index.html references nothing")
    for ref in refs:
        bz.check(not re.match(r"[a-z]+:", ref) and not ref.startswith("/"),
                 "index.html references %r (not a file beside it)" % ref)
        bz.check(os.path.isfile(os.path.join(out, ref)), "index.html: %s missing" % ref)
    for s in d["steps"]:
        bz.check(s["verdict"] in text and "id='%s'" % s["name"] in text,
                 "index.html lacks step %s or its verdict" % s["name"])


# ---- a minimal PNG decoder (8-bit greyscale/RGB/RGBA, not interlaced) for the screenshot

def png_pixels(path):
    with open(path, "rb") as f:
        data = f.read()
    bz.check(data[:8] == PNG_MAGIC, "%s: not a PNG" % path)
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = hdr
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    bz.check(depth == 8 and bpp and not interlace, "PNG format %r not handled" % (hdr,))
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:
                                                        (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc
                                      else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def check_rendered(out, scratch):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("SKIPPED (chromium not installed): the headless rendering check")
        return
    shot = os.path.join(scratch, "page.png")
    prof = tempfile.mkdtemp(prefix="tour-chromium.", dir=scratch)
    bz.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=" + prof, "--window-size=1000,1400",
            "--screenshot=" + shot, "file://" + os.path.join(out, "index.html")],
           timeout=120)
    bz.check(os.path.isfile(shot), "chromium wrote no screenshot")
    w, h, bpp, rows = png_pixels(shot)
    dark = sum(1 for r in rows for i in range(0, len(r), bpp) if r[i] < 128)
    bz.log("screenshot %dx%d: %d dark pixels" % (w, h, dark))
    bz.check(dark > w * h // 500, "the rendered page looks blank (%d dark pixels)" % dark)


def test_tour_quick():
    scratch = tempfile.mkdtemp(prefix="tour.", dir=bz.TMP if os.path.isdir(bz.TMP) else None)
    try:
        out = os.path.join(scratch, "report")
        r = tour(out, "--quick")
        bz.check(r.rc in (0, 1), "tour failed to run\n" + r.describe())
        check_report(out, r.rc)     # first: the exit code must match the verdicts
        bz.check_eq(r.rc, 0, "the tour is green on this machine (every verdict expected)")
        for name in STEPS:
            bz.check(re.search(r"\[tour \d+/7\] %s " % re.escape(name), r.out),
                     "no progress line for %s\n%s" % (name, r.describe()))
        check_rendered(out, scratch)

        planted = os.path.join(scratch, "planted")
        r2 = tour(planted, "--only", "byzantine", "--plant-unexpected", "byzantine",
                  timeout=120)
        d = load(planted)
        bz.check_eq([s["verdict"] for s in d["steps"]], ["BROKEN (unexpected)"],
                    "planted verdict")
        bz.check_eq(r2.rc, 1, "exit code with an unexpected verdict")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    bz.run_tests([test_tour_quick])
