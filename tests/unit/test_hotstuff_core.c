/* test_hotstuff_core.c - one HotStuff core (replica 2 of 4), messages passed by hand:
 * the rules that a single step decides.  Auth mode none (the core seals, the test
 * does not verify: that is the edge's job, tested with auth_verify_hs_qc below). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/auth.h"
#include "replica/core/core.h"
#include "replica/core/hotstuff.h"
#include "tests/unit/fixture.h"

#define CLUSTER 7

static struct auth_ctx A;

static struct core_config config(void)
{
	return fx_hotstuff_config(&A, CLUSTER);
}

/* A PROPOSAL of `view` at height 1 on the genesis QC, by the view's rotating leader:
 * an empty batch (salt 0), or one request of client `salt` (another block). */
static size_t proposal(struct buf *b, uint64_t view, uint32_t salt)
{
	static const uint8_t zero[WIRE_DIGEST_LEN];
	struct hs_qc genesis = {0};
	buf_reset(b);
	size_t off = wire_begin(b, MSG_HS_PROPOSAL, CLUSTER, (uint32_t)(view % 4), view, 1);
	buf_put(b, zero, WIRE_DIGEST_LEN);
	wire_put_hs_qc(b, &genesis);
	if (salt == 0) {
		buf_put_u16(b, 0);
	} else {
		struct buf r;
		buf_init(&r);
		uint8_t op[] = {'P', 1, 'k', 1, 'v'};
		wire_put_request(&r, CLUSTER, salt, 1, 0, op, sizeof(op));
		buf_put_u16(b, 1);
		buf_put_u32(b, (uint32_t)r.len);
		buf_put(b, r.p, r.len);
		buf_free(&r);
	}
	wire_finish(b, off);
	return off;
}

static int step_msg(void *core, const struct core_ops *ops, struct buf *b, struct effects *out)
{
	return fx_step_msg(core, ops, b, CLUSTER, out);
}

static int votes_sent(const struct effects *out)
{
	int n = 0;
	for (size_t i = 0; i < out->n_sends; i++)
		n += out->arena.p[out->sends[i].off + WIRE_OFF_TYPE] == MSG_HS_VOTE;
	return n;
}

/* Persist before you speak: the vote's view is persisted in the step that votes, and a
 * core restarted from those records does not vote again in that view for another
 * block (an equivocating leader's second proposal).  Fails if recover ignores
 * voted_view or vote() stops persisting it. */
static void test_no_second_vote_after_restart(void **state)
{
	(void)state;
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	struct effects out;
	struct buf b;
	effects_init(&out);
	buf_init(&b);
	void *core = ops->create(&cc);
	assert_non_null(core);
	struct event start = {.kind = EV_START, .now_ms = 1};
	ops->step(core, &start, &out);
	proposal(&b, 3, 0); /* leader 3; the vote goes to leader 0 */
	step_msg(core, ops, &b, &out);
	assert_int_equal(votes_sent(&out), 1);
	/* the META record of this step, as the driver would store it */
	uint8_t *meta = NULL;
	size_t meta_len = 0;
	for (size_t i = 0; i < out.n_persists; i++)
		if (out.persists[i].kind == HS_REC_META) {
			meta_len = out.persists[i].len;
			meta = malloc(meta_len);
			memcpy(meta, out.arena.p + out.persists[i].off, meta_len);
		}
	assert_non_null(meta);
	ops->destroy(core);

	core = ops->create(&cc);
	assert_int_equal(ops->recover(core, HS_REC_META, 0, meta, meta_len), 0);
	effects_reset(&out);
	ops->step(core, &start, &out);
	proposal(&b, 3, 3); /* another block, same view */
	step_msg(core, ops, &b, &out);
	assert_int_equal(votes_sent(&out), 0);
	/* a fresh core (no records) would have voted for it */
	void *fresh = ops->create(&cc);
	effects_reset(&out);
	ops->step(fresh, &start, &out);
	step_msg(fresh, ops, &b, &out);
	assert_int_equal(votes_sent(&out), 1);
	ops->destroy(fresh);
	ops->destroy(core);
	free(meta);
	buf_free(&b);
	effects_free(&out);
}

/* A proposal of `view` at `height` on `parent` (of view `pview`), with a QC for it
 * that has the right shape (3 replicas; signatures are the edge's business). */
static void proposal_req(struct buf *b, uint64_t view, uint64_t height,
			 const uint8_t parent[WIRE_DIGEST_LEN], uint64_t pview, uint32_t client);

static void proposal_on(struct buf *b, uint64_t view, uint64_t height,
			const uint8_t parent[WIRE_DIGEST_LEN], uint64_t pview)
{
	proposal_req(b, view, height, parent, pview, 0);
}

/* A PROPOSAL extending parent (its QC of view pview), with one request of client
 * (a put of k = height) unless client is 0. */
static void proposal_req(struct buf *b, uint64_t view, uint64_t height,
			 const uint8_t parent[WIRE_DIGEST_LEN], uint64_t pview, uint32_t client)
{
	struct hs_qc qc = {.view = pview, .count = pview ? 3 : 0};
	memcpy(qc.hash, parent, WIRE_DIGEST_LEN);
	for (uint16_t i = 0; i < qc.count; i++)
		qc.id[i] = i;
	buf_reset(b);
	size_t off = wire_begin(b, MSG_HS_PROPOSAL, CLUSTER, (uint32_t)(view % 4), view, height);
	buf_put(b, parent, WIRE_DIGEST_LEN);
	wire_put_hs_qc(b, &qc);
	if (client == 0) {
		buf_put_u16(b, 0);
	} else {
		struct buf r;
		buf_init(&r);
		uint8_t op[] = {'P', 1, 'k', 1, (uint8_t)('0' + height)};
		wire_put_request(&r, CLUSTER, client, height, 0, op, sizeof(op));
		buf_put_u16(b, 1);
		buf_put_u32(b, (uint32_t)r.len);
		buf_put(b, r.p, r.len);
		buf_free(&r);
	}
	wire_finish(b, off);
}

static void hash_of(const struct buf *b, uint8_t out[WIRE_DIGEST_LEN])
{
	struct msg m;
	assert_int_equal(wire_decode(b->p, b->len, CLUSTER, &m), WIRE_OK);
	hs_block_hash(m.h.view, m.h.seq, m.body, m.h.body_len, out);
}

/* safeNode (Algorithm 3): after b1 <- b2 <- b3 (views 1, 2, 3), replica 0 is locked on
 * b1 (b3 carries b2's QC: b2's parent is the two-chain head).  A proposal of view 5
 * forking off genesis (justify view 0, not above the lock, not extending b1) gets no
 * vote.  With the planted HS_BUG_IGNORE_LOCK it gets one: the bug changes exactly this
 * decision (the simulator has not caught it yet: docs/TESTING.md "HotStuff"). */
static void run_lock(uint32_t bugs, int want_votes)
{
	static const uint8_t genesis[WIRE_DIGEST_LEN];
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	cc.id = 0;
	cc.plant_bugs = bugs;
	struct effects out;
	struct buf b;
	uint8_t h1[WIRE_DIGEST_LEN], h2[WIRE_DIGEST_LEN];
	effects_init(&out);
	buf_init(&b);
	void *core = ops->create(&cc);
	proposal_on(&b, 1, 1, genesis, 0);
	hash_of(&b, h1);
	step_msg(core, ops, &b, &out);
	proposal_on(&b, 2, 2, h1, 1);
	hash_of(&b, h2);
	step_msg(core, ops, &b, &out);
	proposal_on(&b, 3, 3, h2, 2);
	step_msg(core, ops, &b, &out);
	proposal_on(&b, 5, 1, genesis, 0); /* the fork */
	step_msg(core, ops, &b, &out);
	assert_int_equal(votes_sent(&out), want_votes);
	ops->destroy(core);
	buf_free(&b);
	effects_free(&out);
}

static void test_lock_refuses_fork(void **state)
{
	(void)state;
	run_lock(0, 0);
	run_lock(HS_BUG_IGNORE_LOCK, 1);
}

/* Only the view's leader proposes. */
static void test_proposal_from_non_leader_refused(void **state)
{
	(void)state;
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	struct effects out;
	struct buf b;
	effects_init(&out);
	buf_init(&b);
	void *core = ops->create(&cc);
	size_t off = proposal(&b, 1, 0);
	set_u32(b.p + off + WIRE_OFF_SENDER, 3); /* the leader of view 1 is 1 */
	step_msg(core, ops, &b, &out);
	assert_int_equal(votes_sent(&out), 0);
	struct core_status st;
	ops->status(core, &st);
	assert_int_equal(st.rejected_conflict, 1);
	ops->destroy(core);
	buf_free(&b);
	effects_free(&out);
}

/* The edge's QC rule: the genesis QC only with view 0 and the zero hash; otherwise at
 * least 2f+1 distinct replicas < n (checked before any signature). */
static void test_qc_shape(void **state)
{
	(void)state;
	struct auth_ctx a = {.mode = AUTH_MODE_NONE, .n = 4};
	struct hs_qc qc = {0};
	assert_int_equal(auth_verify_hs_qc(&a, CLUSTER, &qc), 0);
	qc.hash[0] = 1;
	assert_int_equal(auth_verify_hs_qc(&a, CLUSTER, &qc), -1);
	qc.view = 5;
	qc.count = 3;
	qc.id[0] = 0, qc.id[1] = 1, qc.id[2] = 1; /* a replica twice */
	assert_int_equal(auth_verify_hs_qc(&a, CLUSTER, &qc), -1);
	qc.id[2] = 4; /* out of range */
	assert_int_equal(auth_verify_hs_qc(&a, CLUSTER, &qc), -1);
	qc.count = 2; /* below 2f+1 */
	assert_int_equal(auth_verify_hs_qc(&a, CLUSTER, &qc), -1);
	qc.count = 3;
	qc.id[2] = 3;
	assert_int_equal(auth_verify_hs_qc(&a, CLUSTER, &qc), 0); /* mode none: shape only */
}

/* status() reports the digest of the state at its stable checkpoint, as PBFT and VR
 * do (tools/bzharness.py diverged() compares digests at equal checkpoints): a replica
 * one block past its snapshot must not look diverged from one at the snapshot.
 * checkpoint_interval 2, blocks b1..b6 each with a put: b6 commits b3 (exec 3), the
 * snapshot stays at 2, and the digest must still be the one seen at height 2. */
static void test_status_digest_at_checkpoint(void **state)
{
	(void)state;
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	cc.checkpoint_interval = 2;
	struct effects out;
	struct buf b;
	struct core_status st;
	uint8_t parent[WIRE_DIGEST_LEN] = {0}, at2[WIRE_DIGEST_LEN];
	effects_init(&out);
	buf_init(&b);
	void *core = ops->create(&cc);
	for (uint64_t h = 1; h <= 6; h++) {
		proposal_req(&b, h, h, parent, h - 1, (uint32_t)(h % 3) + 1);
		step_msg(core, ops, &b, &out);
		hash_of(&b, parent);
		ops->status(core, &st);
		if (h == 5) { /* b5 commits b2: the snapshot at 2 */
			assert_int_equal(st.last_executed, 2);
			assert_int_equal(st.stable_checkpoint, 2);
			memcpy(at2, st.state_digest, WIRE_DIGEST_LEN);
		}
	}
	assert_int_equal(st.last_executed, 3);
	assert_int_equal(st.stable_checkpoint, 2);
	assert_memory_equal(st.state_digest, at2, WIRE_DIGEST_LEN);
	ops->destroy(core);
	buf_free(&b);
	effects_free(&out);
}

/* ---- state transfer (hotstuff_state.c) ---- */

/* The first message of type `type` in out (and, if seq_nonzero, with header seq != 0)
 * copied into b; returns its destination, or -100 if there is none. */
static int32_t take_sent(const struct effects *out, uint8_t type, int seq_nonzero, struct buf *b)
{
	for (size_t i = 0; i < out->n_sends; i++) {
		const uint8_t *p = out->arena.p + out->sends[i].off;
		if (p[WIRE_OFF_TYPE] != type || (seq_nonzero && get_u64(p + WIRE_OFF_SEQ) == 0))
			continue;
		buf_reset(b);
		buf_put(b, p, out->sends[i].len);
		return out->sends[i].to;
	}
	return -100;
}

static size_t count_sent(const struct effects *out, uint8_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < out->n_sends; i++)
		n += out->arena.p[out->sends[i].off + WIRE_OFF_TYPE] == type;
	return n;
}

/* b, re-stamped as sent by `sender` (auth none: nothing else says who sent it). */
static void as_sender(struct buf *b, uint32_t sender)
{
	set_u32(b->p + WIRE_OFF_SENDER, sender);
}

/* A replica (id 2, keep 2) that gets a proposal 10 blocks ahead fetches the snapshot at
 * height 6 that replica 0 holds, once f+1 = 2 peers claim the same record; a liar
 * (replica 3) that claims it too but serves other bytes of the same size is refused
 * and counted, and the next claimant serves it.  Fails if the STATE's digest is not
 * checked (the liar's bytes are installed), if one claim is trusted (a fetch starts on
 * replica 0's claims alone), or if the install is not persisted. */
static void test_state_transfer_refuses_liar(void **state)
{
	(void)state;
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	cc.checkpoint_interval = 2;
	cc.hotstuff_keep = 2;
	struct effects out, sout;
	struct buf b, fetch, c6, st;
	struct core_status ss, ls;
	uint8_t parent[WIRE_DIGEST_LEN] = {0};
	effects_init(&out);
	effects_init(&sout);
	buf_init(&b);
	buf_init(&fetch);
	buf_init(&c6);
	buf_init(&st);
	cc.id = 0;
	void *server = ops->create(&cc);
	for (uint64_t h = 1; h <= 10; h++) {
		proposal_req(&b, h, h, parent, h - 1, (uint32_t)(h % 3) + 1);
		step_msg(server, ops, &b, &sout);
		hash_of(&b, parent);
	}
	ops->status(server, &ss);
	assert_int_equal(ss.last_executed, 7);
	assert_int_equal(ss.stable_checkpoint, 6);

	cc.id = 2;
	void *lag = ops->create(&cc);
	step_msg(lag, ops, &b, &out); /* b10: its parent is unknown, 10 blocks ahead */
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 0, &fetch), TO_OTHERS);
	as_sender(&fetch, 2);
	step_msg(server, ops, &fetch, &sout); /* offers: CHECKPOINTs of heights 6 and 4 */
	assert_int_equal(count_sent(&sout, MSG_CHECKPOINT), 2);
	for (size_t i = 0; i < sout.n_sends; i++) {
		buf_reset(&b);
		buf_put(&b, sout.arena.p + sout.sends[i].off, sout.sends[i].len);
		if (get_u64(b.p + WIRE_OFF_SEQ) == 6) {
			buf_reset(&c6);
			buf_put(&c6, b.p, b.len);
		}
		step_msg(lag, ops, &b, &out);
		assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), -100); /* 1 claim */
	}
	/* the liar claims height 6 with another digest: still one claim per record */
	buf_reset(&b);
	buf_put(&b, c6.p, c6.len);
	as_sender(&b, 3);
	b.p[WIRE_HDR_LEN] ^= 1;
	step_msg(lag, ops, &b, &out);
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), -100);
	/* now it claims the record replica 0 claims: f+1 = 2, asked first (after us) */
	as_sender(&c6, 3);
	step_msg(lag, ops, &c6, &out);
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), 3);
	ops->status(lag, &ls);
	assert_int_equal(ls.fetching, 6);
	/* the liar serves the record's size, but other bytes */
	as_sender(&fetch, 2);
	step_msg(server, ops, &fetch, &sout);
	assert_int_equal(take_sent(&sout, MSG_STATE, 0, &st), 2);
	as_sender(&st, 3);
	st.p[st.len - 1] ^= 1;
	step_msg(lag, ops, &st, &out);
	ops->status(lag, &ls);
	assert_int_equal(ls.rejected_conflict, 1);
	assert_int_equal(ls.last_executed, 0);
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), 0); /* the next one */
	/* replica 0 serves the record: installed, and persisted in the same step */
	as_sender(&fetch, 2);
	step_msg(server, ops, &fetch, &sout);
	assert_int_equal(take_sent(&sout, MSG_STATE, 0, &st), 2);
	step_msg(lag, ops, &st, &out);
	ops->status(lag, &ls);
	assert_int_equal(ls.last_executed, 6);
	assert_int_equal(ls.stable_checkpoint, 6);
	assert_int_equal(ls.fetching, 0);
	assert_memory_equal(ls.state_digest, ss.state_digest, WIRE_DIGEST_LEN);
	int snap_persisted = 0;
	for (size_t i = 0; i < out.n_persists; i++)
		snap_persisted |= out.persists[i].op == P_PUT &&
				  out.persists[i].kind == HS_REC_SNAP && out.persists[i].key == 6;
	assert_true(snap_persisted);
	ops->destroy(lag);
	ops->destroy(server);
	buf_free(&b);
	buf_free(&fetch);
	buf_free(&c6);
	buf_free(&st);
	effects_free(&out);
	effects_free(&sout);
}

/* Claims nobody asked for are dropped, and a STATE of a size other than the claimed
 * one is refused and counted before anything is allocated for it. */
static void test_state_transfer_hostile_inputs(void **state)
{
	(void)state;
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	cc.hotstuff_keep = 2;
	struct effects out;
	struct buf b, fetch;
	struct core_status ls;
	uint8_t d[WIRE_DIGEST_LEN] = {7};
	uint8_t rec[64] = {1};
	effects_init(&out);
	buf_init(&b);
	buf_init(&fetch);
	void *lag = ops->create(&cc);
	/* unsolicited: two matching claims, yet no fetch */
	for (uint32_t r = 0; r < 2; r++) {
		buf_reset(&b);
		wire_put_checkpoint(&b, CLUSTER, r, 1, 6, d, sizeof(rec));
		step_msg(lag, ops, &b, &out);
		assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), -100);
	}
	/* behind (a proposal at height 10 on an unknown parent): now they count */
	uint8_t unknown[WIRE_DIGEST_LEN] = {9};
	proposal_on(&b, 10, 10, unknown, 9);
	step_msg(lag, ops, &b, &out);
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 0, &fetch), TO_OTHERS);
	for (uint32_t r = 0; r < 2; r++) {
		buf_reset(&b);
		wire_put_checkpoint(&b, CLUSTER, r, 1, 6, d, sizeof(rec));
		step_msg(lag, ops, &b, &out);
	}
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), 0);
	/* a claim of an absurd size is refused */
	buf_reset(&b);
	wire_put_checkpoint(&b, CLUSTER, 3, 1, 8, d, HS_MAX_SNAPSHOT + 1);
	step_msg(lag, ops, &b, &out);
	ops->status(lag, &ls);
	assert_int_equal(ls.rejected_out_of_window, 1);
	/* replica 0 answers with a total other than the claimed size */
	buf_reset(&b);
	snapxfer_put_chunk(&b, CLUSTER, 0, 1, 6, rec, sizeof(rec) - 1, 0);
	step_msg(lag, ops, &b, &out);
	ops->status(lag, &ls);
	assert_int_equal(ls.rejected_conflict, 1);
	assert_int_equal(ls.last_executed, 0);
	assert_int_equal(take_sent(&out, MSG_FETCH_STATE, 1, &fetch), 1); /* the next claimant */
	/* a STATE from someone not asked is ignored */
	buf_reset(&b);
	snapxfer_put_chunk(&b, CLUSTER, 3, 1, 6, rec, sizeof(rec), 0);
	step_msg(lag, ops, &b, &out);
	ops->status(lag, &ls);
	assert_int_equal(ls.rejected_conflict, 1);
	assert_int_equal(ls.fetching, 6);
	ops->destroy(lag);
	buf_free(&b);
	buf_free(&fetch);
	effects_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_second_vote_after_restart),
		cmocka_unit_test(test_proposal_from_non_leader_refused),
		cmocka_unit_test(test_qc_shape),
		cmocka_unit_test(test_lock_refuses_fork),
		cmocka_unit_test(test_status_digest_at_checkpoint),
		cmocka_unit_test(test_state_transfer_refuses_liar),
		cmocka_unit_test(test_state_transfer_hostile_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
