/* test_byz.c - the lying layer: parsing, and what each behaviour makes of an honest
 * core's effects.  Messages are sealed with real Ed25519 keys (the unit fixture,
 * tests/unit/fixture.h), so a test can tell a lie the liar signed (verifies as the
 * liar's) from a forgery (does not verify); fake view changes are judged by a real
 * PBFT core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "replica/byz.h"
#include "replica/core/core.h"
#include "replica/kv.h"
#include "tests/unit/fixture.h"

#define N 4
#define NC 4
#define CLUSTER 9

/* A sig-mode auth context for replica `self` (or client `self`). */
static void make_auth(struct auth_ctx *a, uint32_t self, int is_client)
{
	fx_auth(a, AUTH_MODE_SIG, is_client, self);
}

static int group_setup(void **state)
{
	(void)state;
	return fx_setup("test_byz", N, NC);
}

struct fixture {
	struct auth_ctx auth[N]; /* replica i's keys; auth[0] is the liar's */
	struct auth_ctx client;  /* client 1 */
	struct effects honest, out;
	struct byz b;
	struct buf reqs; /* sealed REQUESTs for batches */
	size_t req_off[2];
	uint32_t req_len[2];
};

static int setup(void **state)
{
	static struct fixture fx;
	memset(&fx, 0, sizeof(fx));
	for (uint32_t i = 0; i < N; i++)
		make_auth(&fx.auth[i], i, 0);
	make_auth(&fx.client, 1, 1);
	effects_init(&fx.honest);
	effects_init(&fx.out);
	buf_init(&fx.reqs);
	/* two sealed requests, of clients 0 and 1 */
	struct buf op;
	buf_init(&op);
	for (uint32_t c = 0; c < 2; c++) {
		struct auth_ctx ca;
		make_auth(&ca, c, 1);
		buf_reset(&op);
		assert_int_equal(kv_op_put(&op, "k", 1, c ? "b" : "a", 1), 0);
		fx.req_off[c] = wire_put_request(&fx.reqs, CLUSTER, c, 7, 0, op.p,
						 (uint32_t)op.len);
		assert_int_equal(auth_seal(&ca, &fx.reqs, fx.req_off[c]), 0);
		fx.req_len[c] = (uint32_t)(fx.reqs.len - fx.req_off[c]);
		auth_free(&ca);
	}
	buf_free(&op);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	effects_free(&fx->honest);
	effects_free(&fx->out);
	byz_free(&fx->b);
	buf_free(&fx->reqs);
	for (int i = 0; i < N; i++)
		auth_free(&fx->auth[i]);
	auth_free(&fx->client);
	return 0;
}

static void start_n(struct fixture *fx, const char *spec, uint32_t n)
{
	struct byz_cfg c;
	char err[256];
	assert_int_equal(byz_parse(spec, &c, err, sizeof(err)), 0);
	assert_int_equal(byz_init(&fx->b, &c, n, 0, CLUSTER, 42), 0);
}

static void start(struct fixture *fx, const char *spec)
{
	start_n(fx, spec, N);
}

static void filter(struct fixture *fx, uint64_t now)
{
	assert_int_equal(byz_filter(&fx->b, &fx->auth[0], &fx->honest, now, &fx->out), 0);
}

/* ---- honest effects to feed the layer ---- */

static void batch_of(struct fixture *fx, uint16_t nreq, const uint8_t **r, uint32_t *rl)
{
	for (uint16_t i = 0; i < nreq; i++) {
		r[i] = fx->reqs.p + fx->req_off[i];
		rl[i] = fx->req_len[i];
	}
}

/* A primary's step: a persist, a PRE-PREPARE of nreq requests to all, a REPLY, an
 * exec note and a timer. */
static void honest_step(struct fixture *fx, uint16_t nreq)
{
	const uint8_t *r[2];
	uint32_t rl[2];
	struct effects *e = &fx->honest;
	batch_of(fx, nreq, r, rl);
	effects_persist(e, P_PUT, 3, 5, "log", 3);
	size_t off = wire_put_preprepare(&e->arena, CLUSTER, 0, 2, 5, nreq, r, rl);
	assert_int_equal(auth_seal(&fx->auth[0], &e->arena, off), 0);
	effects_send(e, TO_OTHERS, 0, off);
	off = wire_put_reply(&e->arena, CLUSTER, 0, 2, 1, 7, (const uint8_t *)"\0", 1);
	assert_int_equal(auth_seal(&fx->auth[0], &e->arena, off), 0);
	effects_send(e, TO_CLIENT, 1, off);
	uint8_t d[WIRE_DIGEST_LEN] = {1};
	effects_exec(e, 4, 2, d, 1);
	e->timer_ms = 1234;
}

static void honest_digest(struct fixture *fx, uint8_t type, uint64_t view, uint64_t seq, int32_t to)
{
	uint8_t d[WIRE_DIGEST_LEN];
	memset(d, 0x5a, sizeof(d));
	size_t off = type == MSG_CHECKPOINT
			     ? wire_put_checkpoint(&fx->honest.arena, CLUSTER, 0, view, seq, d, 100)
			     : wire_put_digest(&fx->honest.arena, type, CLUSTER, 0, view, seq, d);
	assert_int_equal(auth_seal(&fx->auth[0], &fx->honest.arena, off), 0);
	effects_send(&fx->honest, to, 0, off);
}

/* persists, exec notes and the timer pass untouched */
static void assert_unchanged(const struct effects *h, const struct effects *o)
{
	assert_int_equal(o->n_persists, h->n_persists);
	assert_int_equal(o->persists[0].key, h->persists[0].key);
	assert_memory_equal(o->arena.p + o->persists[0].off, h->arena.p + h->persists[0].off,
			    h->persists[0].len);
	assert_int_equal(o->n_execs, 1);
	assert_int_equal(o->execs[0].seq, 4);
}

static void decode_send(const struct effects *e, size_t i, struct msg *m)
{
	assert_true(i < e->n_sends);
	assert_int_equal(wire_decode(e->arena.p + e->sends[i].off, e->sends[i].len, CLUSTER, m),
			 WIRE_OK);
}

/* Does send i verify for replica `as` (or, for a REPLY, for the client)? */
static int verifies(struct fixture *fx, const struct effects *e, size_t i, uint32_t as)
{
	struct msg m;
	decode_send(e, i, &m);
	return auth_verify(m.h.type == MSG_REPLY ? &fx->client : &fx->auth[as], &m) == 0;
}

/* ---- parsing ---- */

static void test_parse(void **state)
{
	(void)state;
	struct byz_cfg c;
	char err[256];
	static const char *const ok[] = {"silent", "equivocate",  "bad-digest",       "forge",
					 "replay", "wrong-reply", "fake-view-change", "honest"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(byz_parse(ok[i], &c, err, sizeof(err)), 0);
		assert_string_equal(byz_name(c.kind), ok[i]);
	}
	assert_int_equal(byz_parse("slow-primary:900", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, BYZ_SLOW_PRIMARY);
	assert_int_equal(c.arg, 900);
	assert_int_equal(byz_parse("flood:250", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, BYZ_FLOOD);
	assert_int_equal(c.arg, 250);
	assert_int_equal(byz_parse("selective:0,2", &c, err, sizeof(err)), 0);
	assert_int_equal(c.peers, 0x5);
	assert_int_equal(byz_parse("selective:3+1", &c, err, sizeof(err)), 0);
	assert_int_equal(c.peers, 0xa);
	/* unknown, stray or missing arguments */
	assert_int_equal(byz_parse("lie", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown"));
	assert_non_null(strstr(err, "flood:RATE"));
	assert_int_equal(byz_parse("silent:3", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("slow-primary", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("slow-primary:0", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("slow-primary:600001", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("flood:0", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("flood:x", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("selective:1,", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("selective:99", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("selective:", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse(NULL, &c, err, sizeof(err)), -1);
	assert_string_equal(byz_name(BYZ_FAKE_VIEW_CHANGE), "fake-view-change");
	assert_string_equal(byz_name(BYZ_COUNT), "?");
}

static void test_init_rejects_misfit(void **state)
{
	struct fixture *fx = *state;
	struct byz_cfg c = {.kind = BYZ_SILENT};
	assert_int_equal(byz_init(&fx->b, &c, N, N, CLUSTER, 1), -1); /* id >= n */
	assert_int_equal(byz_init(&fx->b, &c, 0, 0, CLUSTER, 1), -1);
	c = (struct byz_cfg){.kind = BYZ_SELECTIVE, .peers = 1u << 5};
	assert_int_equal(byz_init(&fx->b, &c, N, 0, CLUSTER, 1), -1); /* peer >= n */
}

/* ---- silent, honest ---- */

static void test_silent(void **state)
{
	struct fixture *fx = *state;
	start(fx, "silent");
	honest_step(fx, 2);
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 0);
	assert_unchanged(&fx->honest, &fx->out);
	assert_int_equal(fx->out.timer_ms, 1234);
	assert_int_equal(fx->b.lies, 2);
}

static void test_honest_passes_through(void **state)
{
	struct fixture *fx = *state;
	start(fx, "honest");
	honest_step(fx, 2);
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 2);
	assert_int_equal(fx->out.sends[0].to, TO_OTHERS);
	assert_memory_equal(fx->out.arena.p + fx->out.sends[0].off,
			    fx->honest.arena.p + fx->honest.sends[0].off, fx->honest.sends[0].len);
	assert_int_equal(fx->out.timer_ms, 1234);
	assert_int_equal(fx->b.lies, 0);
}

/* ---- equivocate ---- */

/* The PRE-PREPARE (or VR PREPARE) sent to replica `to` and its body digest. */
static void proposal_to(const struct effects *e, int32_t to, struct msg *m,
			uint8_t d[WIRE_DIGEST_LEN])
{
	for (size_t i = 0; i < e->n_sends; i++) {
		if (e->sends[i].to != to)
			continue;
		decode_send(e, i, m);
		crypto_digest(m->body, m->h.body_len, d);
		return;
	}
	fail_msg("nothing sent to %d", to);
}

static void check_equivocation(struct fixture *fx, uint16_t nreq)
{
	start(fx, "equivocate");
	honest_step(fx, nreq);
	filter(fx, 10);
	/* one copy per backup, plus the untouched reply */
	assert_int_equal(fx->out.n_sends, N - 1 + 1);
	struct msg m[N];
	uint8_t d[N][WIRE_DIGEST_LEN];
	for (int32_t j = 1; j < N; j++) {
		proposal_to(&fx->out, j, &m[j], d[j]);
		assert_int_equal(m[j].h.type, MSG_PREPREPARE);
		assert_int_equal(m[j].h.view, 2); /* same view and sequence number */
		assert_int_equal(m[j].h.seq, 5);
		assert_int_equal(m[j].h.sender, 0);
		assert_int_equal(auth_verify(&fx->auth[j], &m[j]), 0); /* validly sealed */
	}
	/* seq 5 is odd: backups of rank 0 and 2 (replicas 1 and 3) get the other batch */
	assert_memory_not_equal(d[1], d[2], WIRE_DIGEST_LEN);
	assert_memory_equal(d[1], d[3], WIRE_DIGEST_LEN);
	assert_int_equal(m[2].u.pp.count, nreq);
	assert_int_equal(m[1].u.pp.count, nreq - 1); /* the last request left out */
	if (nreq == 2)
		assert_memory_equal(m[1].u.pp.req[0], m[2].u.pp.req[0], m[2].u.pp.req_len[0]);
	assert_int_equal(fx->out.sends[N - 1].to, TO_CLIENT);
	assert_unchanged(&fx->honest, &fx->out);
	assert_int_equal(fx->b.lies, 2);
}

static void test_equivocate_drops_last(void **state)
{
	check_equivocation(*state, 2);
}

static void test_equivocate_empties(void **state)
{
	check_equivocation(*state, 1);
}

/* VR's PREPARE (docs/VR.md §2: commit u64 | batch), primary 0 of three replicas. */
static void test_equivocate_vr(void **state)
{
	struct fixture *fx = *state;
	start_n(fx, "equivocate", 3);
	const uint8_t *r[2];
	uint32_t rl[2];
	batch_of(fx, 2, r, rl);
	struct buf *a = &fx->honest.arena;
	size_t off = wire_begin(a, MSG_VR_PREPARE, CLUSTER, 0, 3, 8);
	buf_put_u64(a, 6);
	buf_put_u16(a, 2);
	for (int i = 0; i < 2; i++) {
		buf_put_u32(a, rl[i]);
		buf_put(a, r[i], rl[i]);
	}
	wire_finish(a, off);
	assert_int_equal(auth_seal(&fx->auth[0], a, off), 0);
	effects_send(&fx->honest, TO_OTHERS, 0, off);
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 2);
	struct msg m1, m2;
	uint8_t d1[WIRE_DIGEST_LEN], d2[WIRE_DIGEST_LEN];
	proposal_to(&fx->out, 1, &m1, d1);
	proposal_to(&fx->out, 2, &m2, d2);
	assert_memory_not_equal(d1, d2, WIRE_DIGEST_LEN);
	for (int k = 0; k < 2; k++) {
		const struct msg *m = k ? &m2 : &m1;
		assert_int_equal(m->h.type, MSG_VR_PREPARE);
		assert_int_equal(m->h.view, 3);
		assert_int_equal(m->h.seq, 8);
		assert_int_equal(m->u.vr.commit, 6);
		assert_int_equal(auth_verify(&fx->auth[1 + k], m), 0);
	}
	/* seq 8 is even: rank 1 (replica 2) gets the fake, one request short */
	struct body_preprepare b1, b2;
	assert_int_equal(wire_decode_batch(m1.u.vr.batch, m1.u.vr.batch_len, CLUSTER, &b1), 0);
	assert_int_equal(wire_decode_batch(m2.u.vr.batch, m2.u.vr.batch_len, CLUSTER, &b2), 0);
	assert_int_equal(b1.count, 2);
	assert_int_equal(b2.count, 1);
}

/* ---- bad-digest ---- */

static void test_bad_digest(void **state)
{
	struct fixture *fx = *state;
	start(fx, "bad-digest");
	honest_digest(fx, MSG_PREPARE, 1, 5, TO_OTHERS);
	honest_digest(fx, MSG_COMMIT, 1, 5, TO_OTHERS);
	honest_digest(fx, MSG_CHECKPOINT, 0, 8, TO_OTHERS);
	uint8_t first[2][WIRE_DIGEST_LEN];
	for (int round = 0; round < 2; round++) {
		filter(fx, 10 + (uint64_t)round);
		assert_int_equal(fx->out.n_sends, 3);
		for (size_t i = 0; i < 3; i++) {
			struct msg m;
			decode_send(&fx->out, i, &m);
			assert_int_equal(m.h.sender, 0);
			assert_int_equal(m.h.view, i < 2 ? 1 : 0);
			assert_true(verifies(fx, &fx->out, i, 2)); /* the liar's own signature */
			uint8_t honest[WIRE_DIGEST_LEN];
			memset(honest, 0x5a, sizeof(honest));
			if (i == 2) { /* a checkpoint is not a vote on a pre-prepare: untouched */
				assert_memory_equal(m.u.dg.digest, honest, WIRE_DIGEST_LEN);
				continue;
			}
			assert_memory_not_equal(m.u.dg.digest, honest, WIRE_DIGEST_LEN);
			if (round == 0)
				memcpy(first[i], m.u.dg.digest, WIRE_DIGEST_LEN);
			else /* a retransmission lies differently: receivers see the conflict */
				assert_memory_not_equal(first[i], m.u.dg.digest, WIRE_DIGEST_LEN);
		}
	}
	assert_int_equal(fx->b.lies, 4);
}

/* ---- forge ---- */

static void test_forge(void **state)
{
	struct fixture *fx = *state;
	start(fx, "forge");
	honest_digest(fx, MSG_COMMIT, 1, 5, TO_OTHERS);
	honest_digest(fx, MSG_PREPARE, 1, 5, 2);
	filter(fx, 10);
	/* the honest COMMIT, forged copies to the 2 replicas that are neither the liar nor
	 * the victim, the honest PREPARE, and 2 more forged copies */
	assert_int_equal(fx->out.n_sends, 6);
	uint32_t victims = 0;
	for (size_t i = 0; i < fx->out.n_sends; i++) {
		struct msg m;
		decode_send(&fx->out, i, &m);
		int32_t to = fx->out.sends[i].to;
		uint32_t check = to >= 0 ? (uint32_t)to : 1;
		if (m.h.sender == 0) {
			assert_true(verifies(fx, &fx->out, i, check));
			continue;
		}
		victims |= 1u << m.h.sender;
		assert_true(to >= 1 && (uint32_t)to != m.h.sender);
		assert_false(verifies(fx, &fx->out, i, (uint32_t)to)); /* bad signature */
	}
	assert_int_equal(victims, (1u << 1) | (1u << 2)); /* the victims rotate */
	assert_int_equal(fx->b.lies, 4);
}

/* ---- replay ---- */

static void test_replay(void **state)
{
	struct fixture *fx = *state;
	start(fx, "replay");
	int replayed = 0;
	for (uint64_t k = 1; k <= 2000; k++) {
		effects_reset(&fx->honest);
		honest_digest(fx, MSG_PREPARE, k / 100, k, TO_OTHERS);
		filter(fx, k);
		struct msg m;
		decode_send(&fx->out, 0, &m);
		assert_int_equal(m.h.seq, k); /* the honest message first, untouched */
		if (k == 1) {
			assert_int_equal(fx->out.n_sends, 1); /* nothing to replay yet */
			continue;
		}
		assert_int_equal(fx->out.n_sends, 2);
		decode_send(&fx->out, 1, &m);
		assert_int_equal(m.h.type, MSG_PREPARE);
		assert_true(m.h.seq < k);                  /* an old one ... */
		assert_true(verifies(fx, &fx->out, 1, 3)); /* ... validly signed */
		replayed += m.h.view + 2 <= k / 100;       /* from a view long gone */
	}
	/* the reservoir keeps the whole history in view, not just the latest sends */
	assert_true(replayed > 100);
	uint32_t kept = 0;
	for (int i = 0; i < BYZ_REPLAY_RECENT; i++)
		kept += fx->b.recent[i].p != NULL;
	for (int i = 0; i < BYZ_REPLAY_SAMPLE; i++)
		kept += fx->b.sample[i].p != NULL;
	assert_int_equal(kept, BYZ_REPLAY_RECENT + BYZ_REPLAY_SAMPLE); /* bounded */
}

/* ---- wrong-reply ---- */

static void reply_with(struct fixture *fx, const char *res, uint32_t len)
{
	size_t off = wire_put_reply(&fx->honest.arena, CLUSTER, 0, 2, 1, 7, (const uint8_t *)res,
				    len);
	assert_int_equal(auth_seal(&fx->auth[0], &fx->honest.arena, off), 0);
	effects_send(&fx->honest, TO_CLIENT, 1, off);
}

static void test_wrong_reply(void **state)
{
	struct fixture *fx = *state;
	start(fx, "wrong-reply");
	reply_with(fx, "\0v-17", 5); /* get: a value */
	reply_with(fx, "\0", 1);     /* put: OK */
	reply_with(fx, "\1", 1);     /* get: NOT_FOUND */
	honest_digest(fx, MSG_COMMIT, 1, 5, TO_OTHERS);
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 4);
	static const char *const want[] = {"\0v-1X", "\1", "\0"};
	for (size_t i = 0; i < 3; i++) {
		struct msg m;
		decode_send(&fx->out, i, &m);
		assert_int_equal(fx->out.sends[i].to, TO_CLIENT);
		assert_int_equal(m.u.rep.client, 1);
		assert_int_equal(m.u.rep.timestamp, 7);
		assert_int_equal(m.u.rep.result_len, i == 0 ? 5 : 1);
		assert_memory_equal(m.u.rep.result, want[i], m.u.rep.result_len);
		assert_true(verifies(fx, &fx->out, i, 0)); /* the client accepts its signature */
	}
	assert_memory_equal(fx->out.arena.p + fx->out.sends[3].off,
			    fx->honest.arena.p + fx->honest.sends[3].off, fx->honest.sends[3].len);
	assert_int_equal(fx->b.lies, 3);
}

/* ---- slow-primary ---- */

static void test_slow_primary(void **state)
{
	struct fixture *fx = *state;
	start(fx, "slow-primary:500");
	honest_step(fx, 2);
	honest_digest(fx, MSG_CHECKPOINT, 2, 8, TO_OTHERS);
	filter(fx, 10);
	/* the PRE-PREPARE is held; the reply and the checkpoint leave */
	assert_int_equal(fx->out.n_sends, 2);
	assert_int_equal(fx->out.sends[0].to, TO_CLIENT);
	assert_unchanged(&fx->honest, &fx->out);
	assert_int_equal(fx->out.timer_ms, 510); /* earlier than the core's 1234 */
	/* a tick (empty honest effects) before it is due: nothing */
	effects_reset(&fx->honest);
	fx->honest.timer_ms = 1234;
	filter(fx, 509);
	assert_int_equal(fx->out.n_sends, 0);
	assert_int_equal(fx->out.timer_ms, 510);
	/* due: it leaves, byte for byte as the core made it */
	filter(fx, 510);
	assert_int_equal(fx->out.n_sends, 1);
	struct msg m;
	decode_send(&fx->out, 0, &m);
	assert_int_equal(m.h.type, MSG_PREPREPARE);
	assert_int_equal(m.h.seq, 5);
	assert_true(verifies(fx, &fx->out, 0, 1));
	assert_int_equal(fx->out.timer_ms, 1234);
	assert_int_equal(fx->b.held_count, 0);
}

static void test_slow_primary_bounded(void **state)
{
	struct fixture *fx = *state;
	start(fx, "slow-primary:1000");
	honest_step(fx, 1);
	for (uint64_t t = 0; t < BYZ_HOLD_MAX + 10; t++)
		filter(fx, 100);
	assert_int_equal(fx->b.held_count, BYZ_HOLD_MAX);
	assert_int_equal(fx->b.dropped, 10);
	effects_reset(&fx->honest);
	filter(fx, 1100);
	assert_int_equal(fx->out.n_sends, BYZ_HOLD_MAX);
	assert_int_equal(fx->b.held_count, 0);
	assert_int_equal(fx->b.held_bytes, 0);
}

/* ---- slow-primary:adaptive (issue 16) ---- */

/* A PRE-PREPARE of ours in view `view` (we lead it), filtered at now; returns the
 * delay it was held for. */
static uint64_t adaptive_pp(struct fixture *fx, uint64_t view, uint64_t now)
{
	const uint8_t *r[1];
	uint32_t rl[1];
	effects_reset(&fx->honest);
	batch_of(fx, 1, r, rl);
	size_t off = wire_put_preprepare(&fx->honest.arena, CLUSTER, 0, view, 5, 1, r, rl);
	assert_int_equal(auth_seal(&fx->auth[0], &fx->honest.arena, off), 0);
	effects_send(&fx->honest, TO_OTHERS, 0, off);
	filter(fx, now);
	assert_true(fx->b.held_count > 0);
	uint32_t last = fx->b.held_head + fx->b.held_count - 1;
	const struct byz_held *h = &fx->b.held[last % BYZ_HOLD_MAX];
	return h->due_ms - now;
}

/* It raises its delay while it leads a view, takes the delay that got it replaced (a
 * message of its own in a later view) as its ceiling and the last one it held a whole
 * period as its floor, and in its next view starts at the floor and stays below the
 * ceiling, closing in on it. */
static void test_slow_primary_adaptive(void **state)
{
	struct fixture *fx = *state;
	struct byz_cfg c;
	char err[128];
	assert_int_equal(byz_parse("slow-primary:adaptive", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, BYZ_SLOW_PRIMARY);
	assert_int_equal(c.arg, BYZ_ADAPTIVE);
	assert_int_equal(byz_parse("slow-primary:adaptiv", &c, err, sizeof(err)), -1);
	start(fx, "slow-primary:adaptive");
	uint64_t t = 1000, first = adaptive_pp(fx, 4, t), last = first;
	assert_int_equal(first, BYZ_ADAPT_START_MS);
	for (int k = 0; k < 40; k++) { /* 10 s as primary, unchallenged: it climbs */
		t += BYZ_ADAPT_PERIOD_MS;
		uint64_t d = adaptive_pp(fx, 4, t);
		assert_true(d >= last);
		last = d;
	}
	assert_true(last > 10 * first);
	/* replaced: its core sends a VIEW-CHANGE for view 5 */
	effects_reset(&fx->honest);
	honest_digest(fx, MSG_PREPARE, 5, 9, TO_OTHERS);
	filter(fx, t + 1);
	assert_int_equal(fx->b.replaced, 1);
	assert_int_equal(fx->b.ceiling_ms, last);
	/* primary again in view 8: from the floor (the delay before the last raise),
	 * below the ceiling, and it stays below it */
	t += 5000;
	uint64_t d = adaptive_pp(fx, 8, t);
	assert_true(d < last);
	assert_int_equal(d, fx->b.floor_ms);
	assert_true(d >= last / 2);
	for (int k = 0; k < 100; k++) {
		t += BYZ_ADAPT_PERIOD_MS;
		d = adaptive_pp(fx, 8, t);
		assert_true(d < last + last / 32);
	}
	assert_true(d >= last - last / 16); /* but it keeps close to it */
	/* a fixed delay is not adapted */
	byz_free(&fx->b);
	start(fx, "slow-primary:300");
	assert_int_equal(adaptive_pp(fx, 4, 100), 300);
	assert_int_equal(adaptive_pp(fx, 4, 100000), 300);
}

/* ---- fake-view-change ---- */

/* A PBFT core for replica 2 with our keys, to judge VIEW-CHANGEs. */
static void *judge_core(struct fixture *fx, struct core_config *cfg, struct effects *e)
{
	*cfg = (struct core_config){.protocol = PROTO_PBFT,
				    .n = N,
				    .f = 1,
				    .id = 2,
				    .cluster_id = CLUSTER,
				    .batch_max = 8,
				    .window = 16,
				    .checkpoint_interval = 4,
				    .view_timeout_ms = 1000,
				    .max_clients = NC,
				    .kv_max_bytes = 1 << 20,
				    .auth = &fx->auth[2]};
	void *core = pbft_core_ops.create(cfg);
	assert_non_null(core);
	struct event ev = {.kind = EV_START, .now_ms = 1};
	effects_reset(e);
	pbft_core_ops.step(core, &ev, e);
	return core;
}

/* Deliver send i of e to the core, whatever the edge would say of it; returns the
 * core's rejected.conflict afterwards. */
static uint64_t judge(struct fixture *fx, void *core, const struct effects *e, size_t i,
		      struct effects *scratch)
{
	(void)fx;
	struct msg m;
	decode_send(e, i, &m);
	struct event ev = {.kind = EV_MSG, .now_ms = 2, .m = &m};
	effects_reset(scratch);
	pbft_core_ops.step(core, &ev, scratch);
	struct core_status st;
	pbft_core_ops.status(core, &st);
	return st.rejected_conflict;
}

static void test_fake_view_change_pbft(void **state)
{
	struct fixture *fx = *state;
	start(fx, "fake-view-change");
	/* replica 0's honest VIEW-CHANGE for view 1: no checkpoint, no certificates */
	struct buf *a = &fx->honest.arena;
	size_t off = wire_begin(a, MSG_VIEWCHANGE, CLUSTER, 0, 1, 0);
	buf_put_u16(a, 0);
	buf_put_u32(a, 0);
	wire_finish(a, off);
	assert_int_equal(auth_seal(&fx->auth[0], a, off), 0);
	effects_send(&fx->honest, TO_OTHERS, 0, off);
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 1);
	struct msg m;
	decode_send(&fx->out, 0, &m);
	assert_int_equal(m.h.type, MSG_VIEWCHANGE);
	assert_int_equal(m.h.view, 1);
	assert_int_equal(m.u.vc.n_prepared, 1); /* a certificate it does not have */
	struct cursor c;
	struct vc_prepared e;
	wire_vc_begin(&m, &c);
	assert_int_equal(wire_vc_next(&c, CLUSTER, &e), 1);
	assert_int_equal(e.pp.h.seq, 1);
	assert_int_equal(e.pp.h.view, 0);
	assert_int_equal(e.n_prep, 2);
	assert_int_equal(fx->b.lies, 1);
	/* A correct replica's edge refuses it before checking a nested signature: its
	 * PREPAREs are one replica's, the primary's (auth.c, "shape before crypto"). */
	uint64_t sigs = fx->auth[2].sigs_verified;
	assert_int_equal(auth_verify(&fx->auth[2], &m), -1);
	assert_true(fx->auth[2].sigs_verified - sigs <= 1);
	/* Its core would refuse it too: authentic, but no certificate. */
	struct core_config cfg;
	struct effects scratch;
	effects_init(&scratch);
	void *core = judge_core(fx, &cfg, &scratch);
	assert_int_equal(judge(fx, core, &fx->out, 0, &scratch), 1);
	/* the honest one passes both */
	decode_send(&fx->honest, 0, &m);
	assert_int_equal(auth_verify(&fx->auth[2], &m), 0);
	assert_int_equal(judge(fx, core, &fx->honest, 0, &scratch), 1);
	pbft_core_ops.destroy(core);
	effects_free(&scratch);
}

/* VR DO-VIEW-CHANGE: claims the newest normal view and one more op; every batch altered. */
static void test_fake_view_change_vr(void **state)
{
	struct fixture *fx = *state;
	start_n(fx, "fake-view-change", 3);
	const uint8_t *r[2];
	uint32_t rl[2];
	batch_of(fx, 2, r, rl);
	struct buf *a = &fx->honest.arena;
	/* view 5, op 12: last_normal 2, commit 11, log lo 10: ops 11 and 12 */
	size_t off = wire_begin(a, MSG_VR_DO_VIEW_CHANGE, CLUSTER, 0, 5, 12);
	buf_put_u64(a, 2);
	buf_put_u64(a, 11);
	buf_put_u64(a, 10);
	buf_put_u32(a, 2);
	for (uint16_t k = 1; k <= 2; k++) {
		uint32_t blen = 2;
		for (uint16_t i = 0; i < k; i++)
			blen += 4 + rl[i];
		buf_put_u64(a, 2);
		buf_put_u32(a, blen);
		buf_put_u16(a, k);
		for (uint16_t i = 0; i < k; i++) {
			buf_put_u32(a, rl[i]);
			buf_put(a, r[i], rl[i]);
		}
	}
	wire_finish(a, off);
	assert_int_equal(auth_seal(&fx->auth[0], a, off), 0);
	effects_send(&fx->honest, 1, 0, off); /* to the new primary */
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 1);
	assert_int_equal(fx->out.sends[0].to, 1);
	struct msg m;
	decode_send(&fx->out, 0, &m); /* decodes: lo + n = op still holds */
	assert_true(verifies(fx, &fx->out, 0, 1));
	assert_int_equal(m.h.seq, 13);
	assert_int_equal(m.u.vr.last_normal, 4);
	assert_int_equal(m.u.vr.commit, 11);
	assert_int_equal(m.u.vr.lo, 10);
	assert_int_equal(m.u.vr.n_entries, 3);
	struct cursor c;
	struct vr_log_entry e;
	struct body_preprepare b;
	wire_vr_entries_begin(&m, &c);
	for (uint16_t k = 0; k < 3; k++) { /* 1 -> 0 requests, 2 -> 1, then a null entry */
		assert_int_equal(wire_vr_next_entry(&c, &e), 1);
		assert_int_equal(wire_decode_batch(e.batch, e.len, CLUSTER, &b), 0);
		assert_int_equal(b.count, k < 2 ? k : 0);
	}
	assert_int_equal(wire_vr_next_entry(&c, &e), 0);
}

/* ---- flood ---- */

static void test_flood(void **state)
{
	struct fixture *fx = *state;
	start(fx, "flood:1000");
	honest_digest(fx, MSG_PREPARE, 3, 40, TO_OTHERS);
	filter(fx, 1000);
	assert_int_equal(fx->out.n_sends, 1); /* the clock starts now */
	assert_int_equal(fx->out.timer_ms, 1000 + BYZ_FLOOD_TICK_MS);
	effects_reset(&fx->honest);
	filter(fx, 1100);
	assert_int_equal(fx->out.n_sends, 100); /* 1000/s for 100 ms, to every peer */
	for (size_t i = 0; i < fx->out.n_sends; i++) {
		struct msg m;
		decode_send(&fx->out, i, &m);
		assert_int_equal(fx->out.sends[i].to, TO_OTHERS);
		assert_true(m.h.type == MSG_FETCH || m.h.type == MSG_PREPARE);
		assert_int_equal(m.h.view, 3);
		assert_true(m.h.seq >= 24 && m.h.seq < 56);
		if (i < 4)
			assert_true(verifies(fx, &fx->out, i, 1)); /* valid-looking */
	}
	assert_int_equal(fx->out.timer_ms, 1100 + BYZ_FLOOD_TICK_MS);
	/* a long pause is not made up for: at most a burst per step */
	filter(fx, 100000);
	assert_int_equal(fx->out.n_sends, BYZ_FLOOD_BURST);
	filter(fx, 100001);
	assert_int_equal(fx->out.n_sends, 1);
}

/* ---- selective ---- */

static void test_selective(void **state)
{
	struct fixture *fx = *state;
	start(fx, "selective:1,3");
	honest_digest(fx, MSG_COMMIT, 1, 5, TO_OTHERS);
	honest_digest(fx, MSG_PREPARE, 1, 5, 2); /* to an unlisted replica */
	honest_digest(fx, MSG_PREPARE, 1, 6, 3);
	reply_with(fx, "\0", 1);
	filter(fx, 10);
	assert_int_equal(fx->out.n_sends, 4);
	assert_int_equal(fx->out.sends[0].to, 1);
	assert_int_equal(fx->out.sends[1].to, 3);
	assert_int_equal(fx->out.sends[2].to, 3);
	assert_int_equal(fx->out.sends[3].to, TO_CLIENT);
	struct msg m;
	decode_send(&fx->out, 2, &m);
	assert_int_equal(m.h.seq, 6);
	assert_int_equal(fx->b.lies, 2); /* the COMMIT to 2, the PREPARE to 2 */
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		T(test_init_rejects_misfit),
		T(test_silent),
		T(test_honest_passes_through),
		T(test_equivocate_drops_last),
		T(test_equivocate_empties),
		T(test_equivocate_vr),
		T(test_bad_digest),
		T(test_forge),
		T(test_replay),
		T(test_wrong_reply),
		T(test_slow_primary),
		T(test_slow_primary_bounded),
		T(test_slow_primary_adaptive),
		T(test_fake_view_change_pbft),
		T(test_fake_view_change_vr),
		T(test_flood),
		T(test_selective),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
