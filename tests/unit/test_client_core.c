/* test_client_core.c - the client core (client/client_core.h) stepped by hand.
 *
 * No sockets, no clock: each test submits a request with a virtual `now`, hands the
 * core typed REPLY messages and ticks, and checks what it asks the driver to do (send
 * to the primary or to all, accept, retry read-write, give up) and what it sends (the
 * sealed request, decoded back).  Accept rules, duplicates, the retransmission
 * schedule, view adoption, signing after retransmissions, sign_always, the read-only
 * fallback, and the planted accept-after-f bug.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_core.h"
#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/kv.h"
#include "tests/unit/fixture.h"

#define CID 0xC0DEu
#define T0 1000000000ull /* an arbitrary virtual start time (us) */
#define RTO_US ((uint64_t)CLIENT_RTO_MS * 1000u)

static const uint8_t OK_RES[] = {KV_OK, 'a'};
static const uint8_t LIE_RES[] = {KV_OK, 'z'};

/* One core plus what it needs: an auth context (none, or mac with real keys). */
struct fix {
	struct auth_ctx auth;
	struct client_core c;
	struct client_core_config cfg;
	struct buf put, get;
};

static int group_setup(void **state)
{
	(void)state;
	return fx_setup("test_client_core", 7, 4); /* n = 7: HotStuff f = 2 */
}

/* Client 1's keys in a cluster of n (mode none too: the core then seals nothing). */
static void fix_auth(struct fix *x, enum auth_mode mode, uint32_t n)
{
	fx_auth_n(&x->auth, mode, n, 1, 1);
}

/* Client 1 of a protocol p cluster with f faults; cfg tweaks before the core starts. */
static void fix_setup(struct fix *x, enum protocol p, uint32_t f, enum auth_mode mode,
		      void (*tweak)(struct client_core_config *))
{
	memset(x, 0, sizeof(*x));
	x->cfg.proto = p;
	x->cfg.f = f;
	x->cfg.n = protocol_n(p, f);
	x->cfg.id = 1;
	x->cfg.cluster = CID;
	x->cfg.timeout_ms = 10000;
	x->cfg.auth = &x->auth;
	fix_auth(x, mode, x->cfg.n);
	if (tweak)
		tweak(&x->cfg);
	client_core_init(&x->c, &x->cfg);
	buf_init(&x->put);
	buf_init(&x->get);
	assert_int_equal(kv_op_put(&x->put, "k", 1, "v", 1), 0);
	assert_int_equal(kv_op_get(&x->get, "k", 1), 0);
}

static void fix_teardown(struct fix *x)
{
	client_core_free(&x->c);
	buf_free(&x->put);
	buf_free(&x->get);
	auth_free(&x->auth);
}

/* A typed reply as the driver's edge hands it over (decoded, authenticated). */
static void reply(struct fix *x, uint32_t sender, uint64_t view, uint64_t ts, int kind,
		  const uint8_t *res, size_t len, struct client_out *out)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.h.type = MSG_REPLY;
	m.h.sender = sender;
	m.h.view = view;
	m.h.seq = (uint64_t)kind;
	m.u.rep.client = x->cfg.id;
	m.u.rep.timestamp = ts;
	m.u.rep.result = res;
	m.u.rep.result_len = (uint32_t)len;
	client_core_on_reply(&x->c, &m, T0, out);
}

static void ok_reply(struct fix *x, uint32_t sender, uint64_t view, struct client_out *out)
{
	reply(x, sender, view, x->c.ts, REPLY_FULL, OK_RES, sizeof(OK_RES), out);
}

/* The sealed pending request, decoded. */
static struct msg sent(const struct fix *x)
{
	const struct buf *b = client_core_request(&x->c);
	struct msg m;

	assert_int_equal(wire_decode(b->p, b->len, CID, &m), WIRE_OK);
	assert_int_equal(m.h.type, MSG_REQUEST);
	return m;
}

static void assert_result(const struct fix *x, const uint8_t *want, size_t want_len)
{
	size_t len;
	const uint8_t *res = client_core_result(&x->c, &len);

	assert_int_equal(x->c.state, CC_DONE);
	assert_int_equal(len, want_len);
	assert_memory_equal(res, want, want_len);
}

/* ------------------------------------------------------------- accept rules */

static void test_pbft_f_plus_1(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0); /* the primary of view 0 */
	assert_int_equal(o.next_tick_us, T0 + RTO_US);
	assert_int_equal(sent(&x).u.req.timestamp, x.c.ts);
	/* busy */
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), -1);
	/* one reply, then the same replica again: still one replica */
	ok_reply(&x, 2, 0, &o);
	ok_reply(&x, 2, 0, &o);
	assert_false(o.done);
	assert_int_equal(x.c.state, CC_PENDING);
	/* a liar disagrees: still waiting */
	reply(&x, 3, 0, x.c.ts, REPLY_FULL, LIE_RES, sizeof(LIE_RES), &o);
	assert_false(o.done);
	/* another timestamp or client does not count */
	reply(&x, 0, 0, x.c.ts + 1, REPLY_FULL, OK_RES, sizeof(OK_RES), &o);
	assert_false(o.done);
	assert_int_equal(x.c.stats.stale, 1);
	/* the second distinct matching reply: f+1 */
	ok_reply(&x, 0, 0, &o);
	assert_true(o.done);
	assert_int_equal(o.send_to, CLIENT_SEND_NONE);
	assert_int_equal(o.next_tick_us, UINT64_MAX);
	assert_result(&x, OK_RES, sizeof(OK_RES));
	/* late replies are stale, the result stays */
	ok_reply(&x, 1, 0, &o);
	assert_false(o.done);
	assert_result(&x, OK_RES, sizeof(OK_RES));
	fix_teardown(&x);
}

static void ro_cluster(struct client_core_config *c)
{
	c->read_only = true;
}

/* PBFT §5.1.3: a get goes read-only to every replica and needs 2f+1; so does a write. */
static void test_pbft_readonly_2f_plus_1(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, ro_cluster);
	assert_int_equal(client_core_submit(&x.c, x.get.p, x.get.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL);
	assert_true(sent(&x).u.req.flags & REQ_F_READONLY);
	ok_reply(&x, 0, 0, &o);
	ok_reply(&x, 1, 0, &o);
	assert_false(o.done);
	ok_reply(&x, 2, 0, &o);
	assert_true(o.done);
	/* a write: to the primary, without the flag, and 2f+1 too */
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0);
	assert_false(sent(&x).u.req.flags & REQ_F_READONLY);
	ok_reply(&x, 0, 0, &o);
	ok_reply(&x, 1, 0, &o);
	assert_false(o.done);
	ok_reply(&x, 3, 0, &o);
	assert_true(o.done);
	fix_teardown(&x);
}

/* VR: only the primary of the reply's view speaks; its single reply is enough. */
static void test_vr_primary_reply(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_VR, 1, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0);
	/* replica 1 in view 0 is a backup: ignored */
	ok_reply(&x, 1, 0, &o);
	assert_false(o.done);
	assert_int_equal(x.c.stats.stale, 1);
	/* replica 1 as the primary of view 4 (4 mod 3): accepted, view adopted */
	ok_reply(&x, 1, 4, &o);
	assert_true(o.done);
	assert_int_equal(x.c.view, 4);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 1);
	fix_teardown(&x);
}

static void test_single_one_reply(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_SINGLE, 0, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0);
	ok_reply(&x, 0, 0, &o);
	assert_true(o.done);
	fix_teardown(&x);
}

/* PBFT: the view to adopt is the (f+1)-th highest reported, so f liars cannot steer the
 * client to a view no correct replica is in. */
static void test_view_from_replies(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	ok_reply(&x, 3, 99, &o); /* a liar claims view 99 */
	ok_reply(&x, 2, 6, &o);
	assert_true(o.done);
	assert_int_equal(x.c.view, 6);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 2); /* 6 mod 4 */
	assert_int_equal(sent(&x).h.sender, 1);
	fix_teardown(&x);
}

/* ------------------------------------------------------------- destinations */

static void send_all(struct client_core_config *c)
{
	c->send_all = true;
}

/* Robust mode (Aardvark §4.2): every send of a request goes to all n replicas, the
 * first one too, so the backups time its ordering; plain PBFT sends it to the
 * primary (view mod n) and only a retransmission to everybody.  VR ignores it. */
static void test_send_all_destinations(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, send_all);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL);
	assert_false(o.retransmit);
	ok_reply(&x, 0, 5, &o);
	ok_reply(&x, 2, 5, &o);
	assert_true(o.done);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL); /* whatever view it learned */
	fix_teardown(&x);

	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0); /* plain: the primary of view 0 */
	fix_teardown(&x);

	fix_setup(&x, PROTO_VR, 1, AUTH_MODE_NONE, send_all);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0); /* pbft only */
	fix_teardown(&x);
}

static void hotstuff_leaders(struct client_core_config *c)
{
	c->hotstuff_leaders = true;
}

static void hotstuff_stable(struct client_core_config *c)
{
	c->hotstuff_leaders = true;
	c->hotstuff_stable = true;
}

/* HotStuff, hotstuff_client = leaders (issue 19): a request goes to the leaders of the
 * f+1 views from the one the replies named (the (f+1)-th highest, as for PBFT), not to
 * all n; a retransmission goes to all.  With the stable leader, and by default, the
 * first send goes to all. */
static void test_hotstuff_destinations(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_HOTSTUFF, 1, AUTH_MODE_NONE, NULL); /* the default */
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL);
	fix_teardown(&x);

	fix_setup(&x, PROTO_HOTSTUFF, 2, AUTH_MODE_NONE, hotstuff_leaders); /* n = 7 */
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_SET);
	assert_int_equal(o.send_set, 0x7u); /* views 0, 1, 2: replicas 0, 1, 2 */
	ok_reply(&x, 6, 99, &o);            /* a liar */
	ok_reply(&x, 0, 12, &o);
	ok_reply(&x, 1, 12, &o);
	assert_true(o.done);
	assert_int_equal(x.c.view, 12);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_SET);
	assert_int_equal(o.send_set, (1u << 5) | (1u << 6) | (1u << 0)); /* 12, 13, 14 mod 7 */
	client_core_tick(&x.c, o.next_tick_us, &o);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL); /* the leaders may be faulty */
	assert_true(o.retransmit);
	fix_teardown(&x);

	assert_int_equal(client_hotstuff_leaders(4, 1, false, 3), (1u << 3) | (1u << 0));
	assert_int_equal(client_hotstuff_leaders(4, 1, true, (uint64_t)5 << 16),
			 (1u << 1) | (1u << 2)); /* epochs 5 and 6 */
	fix_setup(&x, PROTO_HOTSTUFF, 1, AUTH_MODE_NONE, hotstuff_stable);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL);
	fix_teardown(&x);
}

static void send_all_escalate(struct client_core_config *c)
{
	c->send_all = true;
	c->escalate_max_ms = 30;
}

static void ok_reply_at(struct fix *x, uint32_t sender, uint64_t now, struct client_out *out)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.h.type = MSG_REPLY;
	m.h.sender = sender;
	m.h.seq = REPLY_FULL;
	m.u.rep.client = x->cfg.id;
	m.u.rep.timestamp = x->c.ts;
	m.u.rep.result = OK_RES;
	m.u.rep.result_len = sizeof(OK_RES);
	client_core_on_reply(&x->c, &m, now, out);
}

/* Robust mode with escalation (issue 16, third pass): a request goes to the primary
 * first and to the backups (all but the primary) once unanswered at its escalation
 * deadline - escalate_max_ms before any latency is known, then 3 x the client's
 * moving average latency, never below escalate_max_ms / 4 - so a fault-free request
 * is one message; the retransmission timer runs as before. */
static void test_send_all_escalation(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, send_all_escalate);
	assert_int_equal(client_core_escalate_us(&x.c), 30000);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(o.send_to, 0); /* the primary of view 0 */
	assert_int_equal(o.next_tick_us, T0 + 30000);
	client_core_tick(&x.c, T0 + 29999, &o);
	assert_int_equal(o.send_to, CLIENT_SEND_NONE);
	client_core_tick(&x.c, T0 + 30000, &o);
	assert_int_equal(o.send_to, CLIENT_SEND_ALL);
	assert_int_equal(o.skip, 0); /* the primary has it */
	assert_false(o.retransmit);
	assert_int_equal(x.c.stats.escalations, 1);
	assert_int_equal(o.next_tick_us, T0 + RTO_US); /* once */
	client_core_tick(&x.c, T0 + 30001, &o);
	assert_int_equal(o.send_to, CLIENT_SEND_NONE);
	ok_reply_at(&x, 1, T0 + 40000, &o);
	ok_reply_at(&x, 2, T0 + 40000, &o);
	assert_true(o.done);
	assert_int_equal(client_core_escalate_us(&x.c), 30000); /* 3 x 40 ms: capped */
	/* fast replies: the deadline follows them down to its floor */
	uint64_t t = T0 + 50000;
	for (int k = 0; k < 40; k++, t += 10000) {
		assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, t, &o), 0);
		assert_int_equal(o.send_to, 0);
		ok_reply_at(&x, 0, t + 2000, &o);
		ok_reply_at(&x, 3, t + 2000, &o);
		assert_true(o.done);
	}
	assert_int_equal(client_core_escalate_us(&x.c), 7500);
	assert_int_equal(x.c.stats.escalations, 1);
	/* answered before its deadline: never escalated */
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, t, &o), 0);
	assert_int_equal(o.next_tick_us, t + 7500);
	ok_reply_at(&x, 0, t + 7000, &o);
	ok_reply_at(&x, 1, t + 7000, &o);
	assert_true(o.done);
	client_core_tick(&x.c, t + 7500, &o);
	assert_int_equal(o.send_to, CLIENT_SEND_NONE);
	assert_int_equal(x.c.stats.escalations, 1);
	fix_teardown(&x);
}

/* ------------------------------------------------------------- timestamps */

static void test_timestamps(void **state)
{
	struct fix x;
	struct client_out o;
	uint64_t t1;

	(void)state;
	fix_setup(&x, PROTO_SINGLE, 0, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 500, T0, &o), 0);
	assert_int_equal(x.c.ts, 500); /* the driver's floor */
	ok_reply(&x, 0, 0, &o);
	/* a floor below the last one used: last + 1 */
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 7, T0, &o), 0);
	t1 = x.c.ts;
	assert_int_equal(t1, 501);
	assert_int_equal(sent(&x).u.req.timestamp, 501);
	fix_teardown(&x);
}

/* ------------------------------------------------------------- retransmission */

/* 300 ms, then to everybody with the interval doubling up to CLIENT_RTO_MAX_MS; the
 * same request (same timestamp) each time; given up at the timeout. */
static void test_retransmission_schedule(void **state)
{
	static const uint64_t gaps_ms[] = {300, 600, 1200, 2400, 2400, 2400};
	struct fix x;
	struct client_out o;
	uint64_t now = T0, ts;
	size_t i;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, now, &o), 0);
	ts = x.c.ts;
	for (i = 0; i < sizeof(gaps_ms) / sizeof(gaps_ms[0]); i++) {
		assert_int_equal(o.next_tick_us, now + gaps_ms[i] * 1000u);
		/* early: nothing */
		client_core_tick(&x.c, o.next_tick_us - 1, &o);
		assert_int_equal(o.send_to, CLIENT_SEND_NONE);
		now = o.next_tick_us + 1;
		client_core_tick(&x.c, now, &o);
		assert_int_equal(o.send_to, CLIENT_SEND_ALL);
		assert_true(o.retransmit);
		assert_int_equal(sent(&x).u.req.timestamp, ts);
		assert_int_equal(x.c.stats.retransmits, i + 1);
	}
	/* 1 + 300+600+1200+2400*3 ms = 9.3 s in; the 10 s timeout comes first */
	assert_int_equal(o.next_tick_us, T0 + 10000u * 1000u);
	client_core_tick(&x.c, T0 + 10000u * 1000u, &o);
	assert_true(o.timed_out);
	assert_int_equal(x.c.state, CC_TIMEOUT);
	assert_int_equal(o.next_tick_us, UINT64_MAX);
	assert_int_equal(x.c.stats.timeouts, 1);
	/* a reply after giving up is stale; a new request may start */
	ok_reply(&x, 0, 0, &o);
	assert_false(o.done);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, now, &o), 0);
	assert_true(x.c.ts > ts);
	fix_teardown(&x);
}

static void no_timeout(struct client_core_config *c)
{
	c->timeout_ms = 0;
}

/* timeout 0 (the simulator): retransmit forever, never give up. */
static void test_no_timeout(void **state)
{
	struct fix x;
	struct client_out o;
	int i;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, no_timeout);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	for (i = 0; i < 100; i++)
		client_core_tick(&x.c, o.next_tick_us, &o);
	assert_int_equal(x.c.state, CC_PENDING);
	assert_int_equal(x.c.stats.retransmits, 100);
	fix_teardown(&x);
}

/* ------------------------------------------------------------- signing */

/* Issue 14: mac mode signs from the (CLIENT_SIGN_AFTER+1)-th retransmission on, and
 * every later request too (a replica may suspect us for good). */
static void test_sign_after_retransmissions(void **state)
{
	struct fix x;
	struct client_out o;
	uint32_t i;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_MAC, no_timeout);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(sent(&x).h.auth_kind, AUTH_MAC);
	for (i = 0; i < CLIENT_SIGN_AFTER; i++) {
		client_core_tick(&x.c, o.next_tick_us, &o);
		assert_true(o.retransmit);
		assert_false(o.started_signing);
		assert_int_equal(sent(&x).h.auth_kind, AUTH_MAC);
	}
	client_core_tick(&x.c, o.next_tick_us, &o);
	assert_true(o.retransmit);
	assert_true(o.started_signing);
	assert_int_equal(sent(&x).h.auth_kind, AUTH_SIG);
	assert_int_equal(x.c.stats.signed_requests, 1);
	ok_reply(&x, 0, 0, &o);
	ok_reply(&x, 1, 0, &o);
	assert_true(o.done);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(sent(&x).h.auth_kind, AUTH_SIG);
	fix_teardown(&x);
}

static void sign_always(struct client_core_config *c)
{
	c->sign_always = true;
}

/* sign_always (the robust mode's switch): signed from the first send, in mac mode. */
static void test_sign_always(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_MAC, sign_always);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(sent(&x).h.auth_kind, AUTH_SIG);
	fix_teardown(&x);
	/* byzlab-client loads its keys after client_core_init (client.c): the switch must
	 * take effect at the first send all the same */
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_MAC, sign_always);
	client_core_free(&x.c);
	x.auth.mode = AUTH_MODE_NONE;
	client_core_init(&x.c, &x.cfg);
	x.auth.mode = AUTH_MODE_MAC;
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(sent(&x).h.auth_kind, AUTH_SIG);
	fix_teardown(&x);
	/* without it: MACs */
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_MAC, NULL);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	assert_int_equal(sent(&x).h.auth_kind, AUTH_MAC);
	fix_teardown(&x);
}

/* ------------------------------------------------------------- read-only fallback */

/* PBFT §5.1.3: no 2f+1 by the first timer: the get goes read-write, to the primary,
 * with a new timestamp; late read-only replies do not count towards it. */
static void test_readonly_retry_on_timeout(void **state)
{
	struct fix x;
	struct client_out o;
	uint64_t ro_ts;
	struct msg m;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, ro_cluster);
	assert_int_equal(client_core_submit(&x.c, x.get.p, x.get.len, 0, 0, T0, &o), 0);
	ro_ts = x.c.ts;
	ok_reply(&x, 0, 0, &o);
	client_core_tick(&x.c, o.next_tick_us, &o);
	assert_true(o.readonly_retry);
	assert_false(o.retransmit);
	assert_int_equal(o.send_to, 0);
	m = sent(&x);
	assert_int_equal(m.u.req.timestamp, ro_ts + 1);
	assert_false(m.u.req.flags & REQ_F_READONLY);
	assert_int_equal(x.c.stats.readonly_retries, 1);
	/* late read-only replies: stale */
	reply(&x, 1, 0, ro_ts, REPLY_FULL, OK_RES, sizeof(OK_RES), &o);
	reply(&x, 2, 0, ro_ts, REPLY_FULL, OK_RES, sizeof(OK_RES), &o);
	assert_false(o.done);
	/* the read-write request (read_only = on: 2f+1 as well) */
	ok_reply(&x, 0, 0, &o);
	ok_reply(&x, 1, 0, &o);
	assert_false(o.done);
	ok_reply(&x, 2, 0, &o);
	assert_true(o.done);
	fix_teardown(&x);
}

/* Replies that disagree so much that 2f+1 cannot match: retried at once. */
static void test_readonly_retry_when_hopeless(void **state)
{
	static const uint8_t OTHER[] = {KV_NOT_FOUND};
	struct fix x;
	struct client_out o;
	uint64_t ro_ts;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, ro_cluster);
	assert_int_equal(client_core_submit(&x.c, x.get.p, x.get.len, 0, 0, T0, &o), 0);
	ro_ts = x.c.ts;
	ok_reply(&x, 0, 0, &o);
	reply(&x, 1, 0, ro_ts, REPLY_FULL, LIE_RES, sizeof(LIE_RES), &o);
	assert_false(o.readonly_retry); /* 1 + 2 unanswered can still make 3 */
	reply(&x, 2, 0, ro_ts, REPLY_FULL, OTHER, sizeof(OTHER), &o);
	assert_true(o.readonly_retry);
	assert_int_equal(o.send_to, 0);
	assert_int_equal(x.c.ts, ro_ts + 1);
	fix_teardown(&x);
}

/* ------------------------------------------------------------- planted bug */

static void bug_accept_f(struct client_core_config *c)
{
	c->bug = CLIENT_BUG_ACCEPT_F;
}

/* The planted bug the simulator must catch: one liar's reply is accepted alone. */
static void test_planted_accept_f(void **state)
{
	struct fix x;
	struct client_out o;

	(void)state;
	fix_setup(&x, PROTO_PBFT, 1, AUTH_MODE_NONE, bug_accept_f);
	assert_int_equal(client_core_submit(&x.c, x.put.p, x.put.len, 0, 0, T0, &o), 0);
	reply(&x, 3, 0, x.c.ts, REPLY_FULL, LIE_RES, sizeof(LIE_RES), &o);
	assert_true(o.done);
	assert_result(&x, LIE_RES, sizeof(LIE_RES));
	fix_teardown(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pbft_f_plus_1),
		cmocka_unit_test(test_pbft_readonly_2f_plus_1),
		cmocka_unit_test(test_vr_primary_reply),
		cmocka_unit_test(test_single_one_reply),
		cmocka_unit_test(test_view_from_replies),
		cmocka_unit_test(test_send_all_destinations),
		cmocka_unit_test(test_hotstuff_destinations),
		cmocka_unit_test(test_send_all_escalation),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_retransmission_schedule),
		cmocka_unit_test(test_no_timeout),
		cmocka_unit_test(test_sign_after_retransmissions),
		cmocka_unit_test(test_sign_always),
		cmocka_unit_test(test_readonly_retry_on_timeout),
		cmocka_unit_test(test_readonly_retry_when_hopeless),
		cmocka_unit_test(test_planted_accept_f),
	};
	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
