#!/usr/bin/python3
"""Prometheus metrics of real replicas (issue 20 item 2).

A PBFT f=1 cluster initialised with --metrics (replica I serves
http://127.0.0.1:P+300+I/metrics).  For every replica: `./byzlab cluster metrics DIR`
names its URL, the page answers with the exposition content type, passes
`promtool check metrics` (skipped with a message where promtool is absent) and
carries the replica, protocol and byz labels.  Under a verified byzlab-client bench
the executed counters move by the bench's operations and the commit-latency
histogram grows by them (the bench uses the last client ids, where the replica's
per-client slots end); after the primary is killed a backup's view-change counter
and view-change histogram grow.

Every wait is a condition with a deadline (a replica publishes its snapshot at most
100 ms after a change); timing is never a verdict.  Ports: 26400.. (issue 20's range
26000-26999: peers 26400+I, clients 26500+I, admin 26600+I, metrics 26700+I).
"""

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 26400
OPS = 400
SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """(status, content type, text) of one GET; status 0 if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""
    except OSError:
        return 0, "", ""


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        bz.check(m is not None, "malformed sample line %r" % line)
        labels = frozenset(LABEL.findall(m.group(2)))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(page, name, **extra):
    """The one sample of `name` whose labels include extra."""
    want = set(extra.items())
    got = [v for (n, labels), v in page.items() if n == name and want <= set(labels)]
    bz.check(len(got) == 1, "%s %r: %d samples" % (name, extra, len(got)))
    return got[0]


def urls_of(c):
    r = bz.run([bz.DRIVER, "cluster", "metrics", c.dir], expect=0)
    urls = {}
    for line in r.out.splitlines():
        _, i, url = line.split()
        urls[int(i)] = url
    bz.check_eq(sorted(urls), list(range(c.n)), "replicas with a metrics URL")
    for i, url in urls.items():
        bz.check_eq(url, "http://127.0.0.1:%d/metrics" % (BASE_PORT + 300 + i), "URL of %d" % i)
    return urls


def page_when(url, pred, what, deadline=20):
    """Scrape url until pred(samples) holds; returns those samples."""
    box = {}

    def ok():
        status, _, text = scrape(url)
        if status != 200:
            return False
        box["page"] = samples(text)
        return pred(box["page"])
    bz.wait_until(ok, deadline, what)
    return box["page"]


def promtool_check(text, who):
    promtool = shutil.which("promtool")
    if not promtool:
        bz.log("SKIP promtool check metrics: promtool not installed (Debian package "
               "prometheus; .ci/run installs it)")
        return
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    bz.check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
             "promtool check metrics on %s: rc %d\n%s%s" % (who, p.returncode, p.stdout,
                                                           p.stderr))


def test_cluster_metrics_verb():
    """./byzlab cluster metrics: a usage error without DIR, exit 1 on a cluster whose
    cluster.ini has no metrics address."""
    r = bz.run([bz.DRIVER, "cluster", "metrics"], expect=2)
    bz.check(r.err.strip() != "", "no message for a usage error")
    c = bz.Cluster("metrics-off", base_port=BASE_PORT + 10)
    c.init()
    r = bz.run([bz.DRIVER, "cluster", "metrics", c.dir], expect=1)
    bz.check("no metrics addresses" in r.err, "message: %r" % r.err)
    bz.check("metrics" not in open(c.ini).read(), "a metrics key without --metrics")


def test_metrics_pbft():
    with bz.Cluster("metrics", base_port=BASE_PORT, settings={"sync": "none"}) as c:
        c.init(extra=["--metrics"])
        c.up()
        urls = urls_of(c)
        before = {}
        for i, url in urls.items():
            page_when(url, lambda p: True, "replica %d's first snapshot" % i)
            status, ctype, text = scrape(url)
            bz.check_eq(status, 200, "status of %s" % url)
            bz.check_eq(ctype, "text/plain; version=0.0.4; charset=utf-8", "content type")
            promtool_check(text, "replica %d" % i)
            before[i] = samples(text)
            bz.check_eq(value(before[i], "byzlab_view", replica=str(i), protocol="pbft",
                              byz="none"), 0.0, "view of %d" % i)
        # the last client ids (124..127 of 128): the driver's per-client slots end
        # there, and the ASan build of this test catches an index past them
        clients = int(c.config()["cluster"]["clients"])
        c.bench(4, OPS, client_id=clients - 4, verify=True)

        def executed(i):
            return value(before[i], "byzlab_requests_executed_total") + OPS

        after = {}
        for i, url in urls.items():
            after[i] = page_when(
                url, lambda p, i=i: value(p, "byzlab_requests_executed_total") >= executed(i),
                "replica %d's executed counter to move by %d" % (i, OPS))
            for name in ("byzlab_last_executed_seq", "byzlab_sent_messages_total",
                         "byzlab_received_messages_total"):
                bz.check(value(after[i], name) > value(before[i], name),
                         "%s of replica %d did not move" % (name, i))
        # the replica a request reached observes it once its reply leaves: every
        # request reached the primary (0), retransmissions the others too
        grown = sum(value(after[i], "byzlab_commit_latency_seconds_count") -
                    value(before[i], "byzlab_commit_latency_seconds_count") for i in urls)
        bz.log("commit latency observations: %d for %d operations" % (grown, OPS))
        bz.check(grown >= OPS, "commit histogram grew by %d < %d" % (grown, OPS))
        p0 = after[0]
        bz.check_eq(value(p0, "byzlab_commit_latency_seconds_bucket", le="+Inf"),
                    value(p0, "byzlab_commit_latency_seconds_count"), "+Inf bucket = count")
        bz.check(value(p0, "byzlab_commit_latency_seconds_sum") > 0, "latency sum > 0")
        status, _, text = scrape(urls[0])
        promtool_check(text, "replica 0 after the bench")

        # a view change: kill the primary, one write, a backup's counters move
        c.kill(0)
        c.client("put", "after", "vc", client_id=30, timeout_ms=20000).expect(0)
        # the backups that executed the write are in a new view; one slow to get
        # there may still be changing view (under load), so any backup will do
        box = {}

        def some_backup_counted():
            for i in (1, 2, 3):
                status, _, text = scrape(urls[i])
                if status != 200:
                    continue
                p = samples(text)
                if value(p, "byzlab_view_changes_total") >= 1 and \
                        value(p, "byzlab_view_change_duration_seconds_count") >= 1:
                    box["i"], box["page"] = i, p
                    return True
            return False
        bz.wait_until(some_backup_counted, 30, "a backup's view-change counter and histogram")
        i, vc = box["i"], box["page"]
        bz.check(value(vc, "byzlab_view") >= 1, "replica %d is in a new view" % i)
        bz.check_eq(value(vc, "byzlab_view_changing"), 0.0, "view change over at %d" % i)
        bz.log("view change at replica %d: %.3f s" %
               (i, value(vc, "byzlab_view_change_duration_seconds_sum")))
        bz.check_eq(scrape(urls[0])[0], 0, "the killed replica's page is gone")


if __name__ == "__main__":
    bz.run_tests([test_cluster_metrics_verb, test_metrics_pbft])
