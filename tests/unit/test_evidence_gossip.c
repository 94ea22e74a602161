/* test_evidence_gossip.c - issue 17, second slice (replica/core/pbft_evidence.c):
 * proofs are sent to the other replicas in MSG_EVIDENCE, believed only once they
 * verify from the public keys, and acted upon - a proven primary is voted out at once,
 * a proven replica's messages are ignored, and the correct replicas alone still form
 * every quorum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/core/core.h"
#include "replica/core/evidence.h"
#include "replica/core/pbft.h"
#include "tests/unit/fixture.h"
#include "wire/wire.h"

#define CLUSTER 0xc1u
#define N 4
#define NCLIENTS 2

static int group_setup(void **state)
{
	(void)state;
	return fx_setup("test_evidence_gossip", N, NCLIENTS);
}

/* ---- fixture: replica `id`'s PBFT core, and every replica's keys ---- */

struct core1 {
	struct auth_ctx r[N];
	struct core_config cfg;
	void *core;
	struct effects fx;
};

static void core_open(struct core1 *c, enum auth_mode mode, uint32_t id, uint32_t bugs,
		      int evidence_off)
{
	fx_replicas(c->r, mode);
	c->cfg = (struct core_config){.protocol = PROTO_PBFT,
				      .n = N,
				      .f = 1,
				      .id = id,
				      .cluster_id = CLUSTER,
				      .batch_max = 8,
				      .window = 32,
				      .checkpoint_interval = 16,
				      .view_timeout_ms = 1000,
				      .max_clients = NCLIENTS,
				      .kv_max_bytes = 1 << 20,
				      .auth = &c->r[id],
				      .plant_bugs = bugs,
				      .evidence_off = evidence_off};
	c->core = pbft_core_ops.create(&c->cfg);
	assert_non_null(c->core);
	effects_init(&c->fx);
	struct event ev = {.kind = EV_START, .now_ms = 1000};
	assert_int_equal(pbft_core_ops.step(c->core, &ev, &c->fx), 0);
}

static void core_close(struct core1 *c)
{
	pbft_core_ops.destroy(c->core);
	effects_free(&c->fx);
	fx_free(c->r, N);
}

/* Deliver p[0..len) as the edge would (decode + verify), step at 1001 ms (no timer is
 * due: the view timeout is 1000 ms), return the effects. */
static struct effects *deliver(struct core1 *c, const uint8_t *p, size_t len)
{
	struct msg m;
	assert_int_equal(wire_decode(p, len, CLUSTER, &m), WIRE_OK);
	assert_int_equal(auth_verify(&c->r[c->cfg.id], &m), 0);
	struct event ev = {.kind = EV_MSG, .now_ms = 1001, .m = &m};
	effects_reset(&c->fx);
	assert_int_equal(pbft_core_ops.step(c->core, &ev, &c->fx), 0);
	return &c->fx;
}

static struct core_status status(struct core1 *c)
{
	struct core_status st;
	pbft_core_ops.status(c->core, &st);
	return st;
}

/* A sealed PREPARE or COMMIT with header sender `from`, signed with a's key. */
static size_t vote(struct auth_ctx *a, struct buf *b, uint8_t type, uint32_t from, uint64_t view,
		   uint64_t seq, uint8_t fill)
{
	uint8_t d[WIRE_DIGEST_LEN];
	memset(d, fill, sizeof(d));
	size_t off = wire_put_digest(b, type, CLUSTER, from, view, seq, d);
	assert_int_equal(auth_seal(a, b, off), 0);
	return off;
}

/* A proof (evidence.h) of two `type` votes of `from` for (view 0, seq), sealed by
 * signer; returns its kind (EVIDENCE_PROOF unless the keys are MACs). */
static int proof_of(struct auth_ctx *signer, struct buf *proof, uint8_t type, uint32_t from,
		    uint64_t seq)
{
	struct buf a, b;
	buf_init(&a);
	buf_init(&b);
	vote(signer, &a, type, from, 0, seq, 0x11);
	vote(signer, &b, type, from, 0, seq, 0x22);
	buf_reset(proof);
	int kind = evidence_make(proof, CLUSTER, a.p, a.len, b.p, b.len);
	buf_free(&a);
	buf_free(&b);
	return kind;
}

/* An EVIDENCE message of `from` (sealed with its key) carrying body[0..len). */
static void evidence_msg(struct auth_ctx *from, struct buf *out, const uint8_t *body, size_t len)
{
	buf_reset(out);
	size_t off = wire_begin(out, MSG_EVIDENCE, CLUSTER, from->self, 0, 0);
	buf_put(out, body, len);
	wire_finish(out, off);
	assert_int_equal(auth_seal(from, out, off), 0);
}

/* The sends of `type` in fx; the first one's message in *first (if any). */
static size_t sends_of(const struct effects *fx, uint8_t type, const struct send **first)
{
	size_t k = 0;
	for (size_t i = 0; i < fx->n_sends; i++) {
		const uint8_t *p = fx->arena.p + fx->sends[i].off;
		if (fx->sends[i].len > WIRE_OFF_TYPE && p[WIRE_OFF_TYPE] == type) {
			if (k++ == 0 && first)
				*first = &fx->sends[i];
		}
	}
	return k;
}

static const struct persist *evidence_persist(const struct effects *fx)
{
	for (size_t i = 0; i < fx->n_persists; i++)
		if (fx->persists[i].kind == REC_EVIDENCE)
			return &fx->persists[i];
	return NULL;
}

/* ---- the wire ---- */

static size_t evidence_frame(struct buf *b, size_t body_len)
{
	buf_reset(b);
	size_t off = wire_begin(b, MSG_EVIDENCE, CLUSTER, 1, 0, 0);
	for (size_t i = 0; i < body_len; i++)
		buf_put_u8(b, 0);
	wire_finish(b, off);
	return off;
}

/* MSG_EVIDENCE's body is bounded before anything reads it: shorter than the smallest
 * proof or longer than the largest is refused by the decoder. */
static void test_wire_bounds(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	buf_init(&b);
	static const size_t ok[] = {WIRE_EVIDENCE_MIN, WIRE_EVIDENCE_MAX};
	static const size_t bad[] = {0, 1, WIRE_EVIDENCE_MIN - 1, WIRE_EVIDENCE_MAX + 1, 65536};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		evidence_frame(&b, ok[i]);
		assert_int_equal(wire_decode(b.p, b.len, CLUSTER, &m), WIRE_OK);
		assert_int_equal(m.h.type, MSG_EVIDENCE);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		evidence_frame(&b, bad[i]);
		assert_int_not_equal(wire_decode(b.p, b.len, CLUSTER, &m), WIRE_OK);
	}
	assert_string_equal(wire_type_name(MSG_EVIDENCE), "evidence");
	assert_int_equal(EVIDENCE_MAX, WIRE_EVIDENCE_MAX);
	buf_free(&b);
}

/* ---- gossip: sending ---- */

/* A replica that proves a lie persists the proof and, in the same step (so after it is
 * on disk: core.h rule 2), sends it to all others in one MSG_EVIDENCE whose body is
 * the proof as stored; another replica accepts the envelope at its edge. */
static void test_proof_gossiped_after_persist(void **state)
{
	(void)state;
	struct core1 c;
	struct buf b;
	buf_init(&b);
	core_open(&c, AUTH_MODE_SIG, 1, 0, 0);
	size_t o1 = vote(&c.r[2], &b, MSG_PREPARE, 2, 0, 1, 0xaa);
	size_t o2 = vote(&c.r[2], &b, MSG_PREPARE, 2, 0, 1, 0xbb);
	size_t end = b.len;
	struct effects *fx = deliver(&c, b.p + o1, o2 - o1);
	assert_int_equal(sends_of(fx, MSG_EVIDENCE, NULL), 0);
	fx = deliver(&c, b.p + o2, end - o2);
	const struct persist *ps = evidence_persist(fx);
	const struct send *s = NULL;
	assert_non_null(ps);
	assert_int_equal(sends_of(fx, MSG_EVIDENCE, &s), 1);
	assert_int_equal(s->to, TO_OTHERS);
	const uint8_t *msg = fx->arena.p + s->off;
	struct msg m;
	assert_int_equal(wire_decode(msg, s->len, CLUSTER, &m), WIRE_OK);
	assert_int_equal(auth_verify(&c.r[3], &m), 0); /* replica 3's edge takes it */
	assert_int_equal(m.h.body_len, ps->len);
	assert_memory_equal(m.body, fx->arena.p + ps->off, ps->len);
	assert_int_equal(evidence_verify(m.body, m.h.body_len, N,
					 (const uint8_t(*)[CRYPTO_PK_LEN])c.r[3].replica_pk),
			 0);
	assert_int_equal(status(&c).evidence_sent, 1);
	buf_free(&b);
	core_close(&c);
}

/* auth = mac: two MACed COMMITs are a suspicion, kept but never sent (MACs convince
 * nobody else); two PREPAREs, signed in mac mode too, are a proof and are sent. */
static void test_mac_suspicion_not_gossiped(void **state)
{
	(void)state;
	struct core1 c;
	struct buf b;
	buf_init(&b);
	core_open(&c, AUTH_MODE_MAC, 1, 0, 0);
	size_t o1 = vote(&c.r[3], &b, MSG_COMMIT, 3, 0, 2, 0xaa);
	size_t o2 = vote(&c.r[3], &b, MSG_COMMIT, 3, 0, 2, 0xbb);
	size_t o3 = vote(&c.r[2], &b, MSG_PREPARE, 2, 0, 1, 0xaa);
	size_t o4 = vote(&c.r[2], &b, MSG_PREPARE, 2, 0, 1, 0xbb);
	size_t end = b.len;
	deliver(&c, b.p + o1, o2 - o1);
	struct effects *fx = deliver(&c, b.p + o2, o3 - o2);
	assert_int_equal(fx->n_evidence, 1);
	assert_int_equal(fx->evidence[0].kind, EVIDENCE_SUSPICION);
	assert_int_equal(sends_of(fx, MSG_EVIDENCE, NULL), 0);
	deliver(&c, b.p + o3, o4 - o3);
	fx = deliver(&c, b.p + o4, end - o4);
	assert_int_equal(fx->n_evidence, 1);
	assert_int_equal(fx->evidence[0].kind, EVIDENCE_PROOF);
	assert_int_equal(sends_of(fx, MSG_EVIDENCE, NULL), 1);
	/* a suspicion is not acted upon: replica 3's messages still count */
	assert_int_equal(status(&c).evidence_kind[3], EVIDENCE_SUSPICION);
	assert_int_equal(status(&c).ignored_proven, 0);
	buf_free(&b);
	core_close(&c);
}

/* ---- gossip: receiving ---- */

static void expect_refused(struct core1 *c, const uint8_t *body, size_t len, uint64_t *bad)
{
	struct buf m;
	buf_init(&m);
	evidence_msg(&c->r[3], &m, body, len);
	struct effects *fx = deliver(c, m.p, m.len);
	assert_int_equal(fx->n_evidence, 0);
	assert_null(evidence_persist(fx));
	assert_int_equal(fx->n_sends, 0);
	assert_int_equal(status(c).rejected_bad_evidence, ++*bad);
	buf_free(&m);
}

/* Verify before believing: a proof whose signature was changed, bytes that are no
 * proof, a suspicion, an accused out of range, and a liar's attempt to frame a correct
 * replica (statements in replica 3's name, signed with replica 2's key) are each
 * refused and counted; nobody is proven by them. */
static void test_bad_proofs_refused(void **state)
{
	(void)state;
	struct core1 c;
	struct buf proof;
	uint64_t bad = 0;
	uint8_t junk[WIRE_EVIDENCE_MIN];
	buf_init(&proof);
	core_open(&c, AUTH_MODE_SIG, 1, 0, 0);
	assert_int_equal(proof_of(&c.r[2], &proof, MSG_PREPARE, 2, 1), EVIDENCE_PROOF);
	proof.p[proof.len - 1] ^= 1; /* the second statement's signature */
	expect_refused(&c, proof.p, proof.len, &bad);
	memset(junk, 0x5a, sizeof(junk));
	expect_refused(&c, junk, sizeof(junk), &bad);
	struct auth_ctx mac[N];
	fx_replicas(mac, AUTH_MODE_MAC);
	assert_int_equal(proof_of(&mac[2], &proof, MSG_COMMIT, 2, 1), EVIDENCE_SUSPICION);
	expect_refused(&c, proof.p, proof.len, &bad);
	fx_free(mac, N);
	assert_int_equal(proof_of(&c.r[2], &proof, MSG_PREPARE, 2, 1), EVIDENCE_PROOF);
	set_u32(proof.p + 12, 9); /* the header's accused: no such replica */
	expect_refused(&c, proof.p, proof.len, &bad);
	/* framing: it encodes as a "proof" against 3, but 3 signed neither statement */
	assert_int_equal(proof_of(&c.r[2], &proof, MSG_PREPARE, 3, 1), EVIDENCE_PROOF);
	expect_refused(&c, proof.p, proof.len, &bad);
	struct core_status st = status(&c);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(st.evidence[i], 0);
	assert_int_equal(st.evidence_learnt, 0);
	buf_free(&proof);
	core_close(&c);
}

/* A proof that verifies is believed: kept, persisted and passed on, once.  The same
 * accused again is a duplicate, dropped before any signature check: even a proof
 * whose signature is broken counts as a duplicate, not as bad. */
static void test_good_proof_learnt_once(void **state)
{
	(void)state;
	struct core1 c;
	struct buf proof, m;
	buf_init(&proof);
	buf_init(&m);
	core_open(&c, AUTH_MODE_SIG, 1, 0, 0);
	assert_int_equal(proof_of(&c.r[2], &proof, MSG_COMMIT, 2, 3), EVIDENCE_PROOF);
	evidence_msg(&c.r[3], &m, proof.p, proof.len);
	struct effects *fx = deliver(&c, m.p, m.len);
	assert_int_equal(fx->n_evidence, 1);
	assert_int_equal(fx->evidence[0].accused, 2);
	assert_non_null(evidence_persist(fx));
	assert_int_equal(sends_of(fx, MSG_EVIDENCE, NULL), 1); /* passed on */
	struct core_status st = status(&c);
	assert_int_equal(st.evidence_learnt, 1);
	assert_int_equal(st.evidence_kind[2], EVIDENCE_PROOF);
	fx = deliver(&c, m.p, m.len);
	assert_int_equal(fx->n_evidence + fx->n_sends + fx->n_persists, 0);
	proof.p[proof.len - 1] ^= 1;
	evidence_msg(&c.r[3], &m, proof.p, proof.len);
	deliver(&c, m.p, m.len);
	st = status(&c);
	assert_int_equal(st.evidence_duplicate, 2);
	assert_int_equal(st.rejected_bad_evidence, 0);
	assert_int_equal(st.evidence_learnt, 1);
	buf_free(&proof);
	buf_free(&m);
	core_close(&c);
}

/* ---- acting on a proof ---- */

/* Replica 1 in view 0 learns a proof against the primary (0): in that same step, at
 * 1001 ms with no timer due, it votes for view 1 (a VIEW-CHANGE to all).  With the
 * rule switched off (PBFT_BUG_IGNORE_PROOFS) it stays in view 0; with evidence = off
 * it does not even take the proof. */
static void proven_primary(uint32_t bugs, int evidence_off, bool expect_vote)
{
	struct core1 c;
	struct buf proof, m;
	buf_init(&proof);
	buf_init(&m);
	core_open(&c, AUTH_MODE_SIG, 1, bugs, evidence_off);
	assert_int_equal(proof_of(&c.r[0], &proof, MSG_COMMIT, 0, 1), EVIDENCE_PROOF);
	evidence_msg(&c.r[2], &m, proof.p, proof.len);
	struct effects *fx = deliver(&c, m.p, m.len);
	const struct send *vc = NULL;
	struct core_status st = status(&c);
	if (expect_vote) {
		assert_int_equal(sends_of(fx, MSG_VIEWCHANGE, &vc), 1);
		assert_int_equal(get_u64(fx->arena.p + vc->off + WIRE_OFF_VIEW), 1);
		assert_int_equal(st.view, 1);
		assert_true(st.view_changing);
		assert_int_equal(st.vc_proven_primary, 1);
	} else {
		assert_int_equal(sends_of(fx, MSG_VIEWCHANGE, NULL), 0);
		assert_int_equal(st.view, 0);
		assert_false(st.view_changing);
		assert_int_equal(st.vc_proven_primary, 0);
	}
	assert_int_equal(st.evidence_kind[0], evidence_off ? EVIDENCE_NONE : EVIDENCE_PROOF);
	buf_free(&proof);
	buf_free(&m);
	core_close(&c);
}

static void test_proven_primary_voted_out(void **state)
{
	(void)state;
	proven_primary(0, 0, true);
}

static void test_proven_primary_stays_without_rule(void **state)
{
	(void)state;
	proven_primary(PBFT_BUG_IGNORE_PROOFS, 0, false);
	proven_primary(0, 1, false);
}

/* A proof against the primary of the view we are changing to: we vote past it too.
 * Replica 3 holds a proof against 1 (not the primary of view 0: nothing to do), then
 * learns one against 0: it votes for view 1, whose primary (1) is proven, and so at
 * once for view 2. */
static void test_skips_proven_new_primary(void **state)
{
	(void)state;
	struct core1 c;
	struct buf proof, m;
	buf_init(&proof);
	buf_init(&m);
	core_open(&c, AUTH_MODE_SIG, 3, 0, 0);
	assert_int_equal(proof_of(&c.r[1], &proof, MSG_COMMIT, 1, 1), EVIDENCE_PROOF);
	evidence_msg(&c.r[2], &m, proof.p, proof.len);
	deliver(&c, m.p, m.len);
	assert_int_equal(status(&c).view, 0);
	assert_false(status(&c).view_changing);
	assert_int_equal(proof_of(&c.r[0], &proof, MSG_COMMIT, 0, 1), EVIDENCE_PROOF);
	evidence_msg(&c.r[2], &m, proof.p, proof.len);
	struct effects *fx = deliver(&c, m.p, m.len);
	assert_int_equal(sends_of(fx, MSG_VIEWCHANGE, NULL), 2);
	assert_int_equal(status(&c).view, 2);
	assert_int_equal(status(&c).vc_proven_primary, 2);
	buf_free(&proof);
	buf_free(&m);
	core_close(&c);
}

/* Messages of a proven replica are ignored, and the three correct replicas alone
 * still agree: replica 1 (backup in view 0) holds a proof against 2; a request
 * pre-prepared by 0 is prepared with 3's PREPARE (2f = 2 with ours) and committed
 * with 0's and 3's COMMITs (2f+1 = 3 with ours), while 2's PREPARE and COMMIT count
 * for nothing. */
static void test_correct_quorums_without_the_proven(void **state)
{
	(void)state;
	struct core1 c;
	struct buf proof, m, req, pp, v;
	buf_init(&proof);
	buf_init(&m);
	buf_init(&req);
	buf_init(&pp);
	buf_init(&v);
	core_open(&c, AUTH_MODE_SIG, 1, 0, 0);
	assert_int_equal(proof_of(&c.r[2], &proof, MSG_PREPARE, 2, 9), EVIDENCE_PROOF);
	evidence_msg(&c.r[3], &m, proof.p, proof.len);
	deliver(&c, m.p, m.len);
	struct auth_ctx client;
	fx_auth(&client, AUTH_MODE_SIG, 1, 0);
	size_t roff = wire_put_request(&req, CLUSTER, 0, 1, 0, (const uint8_t *)"put k v", 7);
	assert_int_equal(auth_seal(&client, &req, roff), 0);
	auth_free(&client);
	const uint8_t *r = req.p + roff;
	uint32_t r_len = (uint32_t)(req.len - roff);
	size_t po = wire_put_preprepare(&pp, CLUSTER, 0, 0, 1, 1, &r, &r_len);
	assert_int_equal(auth_seal(&c.r[0], &pp, po), 0);
	uint8_t d[WIRE_DIGEST_LEN];
	crypto_digest(pp.p + po + WIRE_HDR_LEN, get_u32(pp.p + po + WIRE_OFF_BODY_LEN), d);
	deliver(&c, pp.p + po, pp.len - po);
	size_t p2 = wire_put_digest(&v, MSG_PREPARE, CLUSTER, 2, 0, 1, d);
	assert_int_equal(auth_seal(&c.r[2], &v, p2), 0);
	size_t p3 = wire_put_digest(&v, MSG_PREPARE, CLUSTER, 3, 0, 1, d);
	assert_int_equal(auth_seal(&c.r[3], &v, p3), 0);
	size_t c2 = wire_put_digest(&v, MSG_COMMIT, CLUSTER, 2, 0, 1, d);
	assert_int_equal(auth_seal(&c.r[2], &v, c2), 0);
	size_t c0 = wire_put_digest(&v, MSG_COMMIT, CLUSTER, 0, 0, 1, d);
	assert_int_equal(auth_seal(&c.r[0], &v, c0), 0);
	size_t c3 = wire_put_digest(&v, MSG_COMMIT, CLUSTER, 3, 0, 1, d);
	assert_int_equal(auth_seal(&c.r[3], &v, c3), 0);
	size_t end = v.len;
	struct effects *fx = deliver(&c, v.p + p2, p3 - p2); /* ignored */
	assert_int_equal(fx->n_sends, 0);
	fx = deliver(&c, v.p + p3, c2 - p3); /* prepared: our COMMIT leaves */
	assert_int_equal(sends_of(fx, MSG_COMMIT, NULL), 1);
	deliver(&c, v.p + c2, c0 - c2); /* ignored */
	fx = deliver(&c, v.p + c0, c3 - c0);
	assert_int_equal(fx->n_execs, 0); /* 2 of 2f+1 */
	fx = deliver(&c, v.p + c3, end - c3);
	assert_int_equal(fx->n_execs, 1);
	struct core_status st = status(&c);
	assert_int_equal(st.ignored_proven, 2);
	assert_int_equal(st.last_executed, 1);
	assert_int_equal(st.view, 0); /* the primary is not the proven one: no view change */
	buf_free(&proof);
	buf_free(&m);
	buf_free(&req);
	buf_free(&pp);
	buf_free(&v);
	core_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_bounds),
		cmocka_unit_test(test_proof_gossiped_after_persist),
		cmocka_unit_test(test_mac_suspicion_not_gossiped),
		cmocka_unit_test(test_bad_proofs_refused),
		cmocka_unit_test(test_good_proof_learnt_once),
		cmocka_unit_test(test_proven_primary_voted_out),
		cmocka_unit_test(test_proven_primary_stays_without_rule),
		cmocka_unit_test(test_skips_proven_new_primary),
		cmocka_unit_test(test_correct_quorums_without_the_proven),
	};
	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
