#!/usr/bin/python3
"""A MAC-poisoning primary cannot stall PBFT's view change (issue 14), on real processes.

PBFT f=1, auth = mac, replica 0 (the primary of view 0) started with
`--byz 0=mac-poison:1`: every MAC-authenticated message it sends to replicas 2 and 3
has replica 1's authenticator slot garbled, while replica 1 gets clean copies.  2 and 3
check only their own slots, so they accept and keep those messages.  Before the fix
(fb5a24d) PRE-PREPAREs and PREPAREs carried MACs in mac mode, so 2 and 3 kept the
garbled PRE-PREPAREs in their prepared certificates.  Their VIEW-CHANGEs carried those
certificates, replica 1 (the victim and the primary of view 1) refused every one of
them, and the cluster stalled for ever.  Since the fix the certificates' parts are
signed, so there is nothing in them to garble.

The test commits requests under the poison (fewer than a checkpoint interval, so every
one of them is still a prepared certificate that a VIEW-CHANGE must carry), pauses the
liar (SIGSTOP) and sends a request, so that the others change view.  mac-poison falls
silent by itself once the view has moved past the one it poisoned.  Verdicts come from
the status counters, never from timing:
  * replicas 1, 2 and 3 end up in one view > 0, not changing view, whose primary is not
    0, with replica 1 (the victim) in it;
  * requests sent after that complete, and replica 1 executes them along with 2 and 3.
Every wait has a generous deadline.  With the binaries from before the fix the first
condition is never met: the test fails there.
"""

import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bzcluster as bz  # noqa: E402

BASE_PORT = 11800       # 11800.., 11900.., 12000.. (see bzcluster.py)
LIAR, VICTIM = 0, 1
CORRECT = [1, 2, 3]


def summary(st):
    """(view, view_changing, last_executed, rejected) of each correct replica."""
    return {i: (st[i]["view"], st[i]["view_changing"], st[i]["last_executed"],
                st[i]["rejected"]) for i in CORRECT if not st[i].get("down")}


def test_mac_poison_view_change():
    with bz.Cluster("mac-poison", f=1, base_port=BASE_PORT, auth="mac") as c:
        c.init()
        c.up(byz={LIAR: "mac-poison:%d" % VICTIM})

        # Requests commit under the poison.  100 operations take at most 100 sequence
        # numbers: below the first checkpoint (128), so they all stay prepared
        # certificates that the VIEW-CHANGEs below carry.
        c.bench(4, 100, client_id=10, timeout_ms=30000)
        st = bz.wait_until(lambda: c.agreement(), 30, "all 4 replicas to execute the load")
        bz.check_eq(st[LIAR].get("byz"), "mac-poison:%d" % VICTIM, "status byz of the liar")
        lies = st[LIAR].get("lies", 0)
        bz.check(lies > 0, "the liar poisoned nothing: %r" % st[LIAR])
        executed = st[VICTIM]["last_executed"]
        bz.check(st[2]["stable_checkpoint"] < executed,
                 "a checkpoint covers every slot: no certificate left for the view change "
                 "to carry: %r" % summary(st))
        bz.log("under the poison: executed %d sequence numbers (%d requests), liar's lies %d"
               % (executed, st[VICTIM]["requests_executed"], lies))

        # Pause the liar and send a request: the backups time out and change view.
        c.kill(LIAR, sig=signal.SIGSTOP)
        put, changed, last = None, False, {}
        try:
            argv, put = c.client_popen("put", "after-poison", "1", client_id=20,
                                       timeout_ms=60000)

            def new_view_with_victim():
                st = c.answering()
                last["st"] = summary(st)
                if any(i not in st for i in CORRECT):
                    return None
                views = {st[i]["view"] for i in CORRECT}
                if len(views) != 1 or any(st[i]["view_changing"] for i in CORRECT):
                    return None
                view = views.pop()
                return st if view > 0 and view % c.n != LIAR else None
            try:
                st = bz.wait_until(new_view_with_victim, 90,
                                   "a completed view change with the victim (replica %d) "
                                   "in the new view" % VICTIM, interval=0.2)
            except bz.Failure as e:
                raise bz.Failure("%s\n(view, view_changing, last_executed, rejected) of "
                                 "replicas 1-3: %r" % (e, last.get("st")))
            changed = True
        finally:
            os.kill(c.pid(LIAR), signal.SIGCONT)
            if put is not None and not changed and put.poll() is None:
                put.kill()
                put.communicate()
        view = st[VICTIM]["view"]
        bz.log("view change done: replicas %r in view %d (primary %d), victim's rejected %r"
               % (CORRECT, view, view % c.n, st[VICTIM]["rejected"]))
        out, err = put.communicate(timeout=120)
        bz.check(put.returncode == 0, "the put sent while the liar was paused failed (%s)\n"
                 "%s\n%s" % (put.returncode, out, err))

        # Progress in the new view, with the victim executing too.
        before = c.status()[VICTIM]
        c.bench(2, 50, client_id=30, timeout_ms=30000)
        st = bz.wait_until(lambda: c.agreement(CORRECT), 30,
                           "replicas %r to execute the new requests" % CORRECT)
        bz.check(st[VICTIM]["requests_executed"] >= before["requests_executed"] + 50,
                 "the victim did not execute the new requests: %r -> %r"
                 % (before["requests_executed"], st[VICTIM]["requests_executed"]))
        bz.check_eq(st[VICTIM]["view"], view, "the victim's view after the new requests")
        r = c.client("get", "after-poison", client_id=21, timeout_ms=30000).expect(0)
        bz.check_eq(r.out, "1\n", "get after-poison")
        bz.log("MEASURED: mac-poison:%d at the primary: %d lies; view 0 -> %d with the "
               "victim; then 50 requests executed by replicas %r (last_executed %d -> %d)"
               % (VICTIM, lies, view, CORRECT, before["last_executed"],
                  st[VICTIM]["last_executed"]))


if __name__ == "__main__":
    bz.run_tests([test_mac_poison_view_change])
