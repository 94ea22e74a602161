/* test_hotstuff_leader.c - HotStuff leader reputation (replica/core/hotstuff_leader.c):
 * the pure election (deterministic, bounded window, hostile authors), and one core
 * (replica 2 of 4) that follows a chain in which replica 0 never authors a block. */
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
#include "replica/core/hotstuff_leader.h"

#define CLUSTER 7

/* Without an anchor, in the first n views, or with nobody active: v mod n. */
static void test_round_robin_fallbacks(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < 100; v++) {
		assert_int_equal(hs_rep_leader(4, v, 0, 0, 0x6), v % 4);
		assert_int_equal(hs_rep_leader(4, v, 1, 3, 0x6), v % 4); /* anchor view < n */
		assert_int_equal(hs_rep_leader(4, v, 1, 50, 0), v % 4);
	}
}

/* Everyone active: exactly round robin (a fault-free run leads as `rotating` does). */
static void test_all_active_is_round_robin(void **state)
{
	(void)state;
	for (uint32_t n = 4; n <= 31; n += 3)
		for (uint64_t v = n; v < 500; v++)
			assert_int_equal(hs_rep_leader(n, v, 1, v - 2, (uint32_t)((1ull << n) - 1)),
					 v % n);
}

/* Replica 0 inactive: never a leader, except on probation views (every 4n-th), and
 * the three others share the rest evenly. */
static void test_inactive_replica_leaves_rotation(void **state)
{
	(void)state;
	uint32_t turns[4] = {0};
	for (uint64_t v = 10; v < 10 + 48 * 16; v++) {
		uint32_t l = hs_rep_leader(4, v, 1, v - 2, 0xe);
		if (v % HS_REP_PROBATION(4) == 0)
			assert_int_equal(l, 0);
		turns[l]++;
	}
	assert_int_equal(turns[0], 48);
	assert_int_equal(turns[1], turns[2]);
	assert_int_equal(turns[2], turns[3]);
	/* two inactive (n = 7, 0 and 5): probation alternates between them */
	assert_int_equal(hs_rep_leader(7, 28, 1, 26, 0x5e), 5);
	assert_int_equal(hs_rep_leader(7, 56, 1, 54, 0x5e), 0);
	assert_int_equal(hs_rep_leader(7, 84, 1, 82, 0x5e), 5);
}

/* The active set: the authors of the first HS_REP_WINDOW(n) blocks only (newest first),
 * whatever the views say; authors >= n (hostile) are ignored, even 31 and 2^32-1. */
static void test_active_window_bounded_hostile(void **state)
{
	(void)state;
	struct hs_rep_block chain[200];
	for (uint32_t i = 0; i < 200; i++)
		chain[i] = (struct hs_rep_block){.view = 1000 - i, .author = i < 8 ? 1 + i % 2 : 3};
	assert_int_equal(hs_rep_active(4, chain, 200), 0x6); /* window 8: 1, 2 */
	assert_int_equal(hs_rep_active(4, chain, 9), 0x6);   /* not the 9th */
	chain[8].author = 0;
	assert_int_equal(hs_rep_active(5, chain, 200), 0xf); /* window 10: 0-3 */
	assert_int_equal(hs_rep_active(4, chain, 0), 0);
	chain[0] = (struct hs_rep_block){.view = UINT64_MAX, .author = 31};
	chain[1].author = UINT32_MAX;
	chain[2].author = 4;
	assert_int_equal(hs_rep_active(4, chain, 3), 0);
	assert_int_equal(hs_rep_active(32, chain, 1), 1u << 31);
	for (uint32_t i = 0; i < 200; i++)
		chain[i].author = i % 32;
	assert_int_equal(hs_rep_active(32, chain, 200), UINT32_MAX); /* window 64 */
	/* deterministic: the same inputs, the same answer */
	assert_int_equal(hs_rep_leader(32, 12345, 1, 12343, 0x80000001u),
			 hs_rep_leader(32, 12345, 1, 12343, 0x80000001u));
}

/* ---- one core following a chain ---- */

static struct auth_ctx A;

static struct core_config config(void)
{
	return fx_hotstuff_config(&A, CLUSTER);
}

/* A PROPOSAL by `leader` of `view` at `height` on parent (certified in view pview). */
static void proposal(struct buf *b, uint32_t leader, uint64_t view, uint64_t height,
		     const uint8_t parent[WIRE_DIGEST_LEN], uint64_t pview)
{
	struct hs_qc qc = {.view = pview, .count = pview ? 3 : 0};
	memcpy(qc.hash, parent, WIRE_DIGEST_LEN);
	for (uint16_t i = 0; i < qc.count; i++)
		qc.id[i] = (uint16_t)(i + 1);
	buf_reset(b);
	size_t off = wire_begin(b, MSG_HS_PROPOSAL, CLUSTER, leader, view, height);
	buf_put(b, parent, WIRE_DIGEST_LEN);
	wire_put_hs_qc(b, &qc);
	buf_put_u16(b, 0);
	wire_finish(b, off);
}

static void step_msg(void *core, const struct core_ops *ops, struct buf *b, struct effects *out)
{
	assert_int_equal(fx_step_msg(core, ops, b, CLUSTER, out), 0);
}

static void hash_of(const struct buf *b, uint8_t out[WIRE_DIGEST_LEN])
{
	struct msg m;
	assert_int_equal(wire_decode(b->p, b->len, CLUSTER, &m), WIRE_OK);
	hs_block_hash(m.h.view, m.h.seq, m.body, m.h.body_len, out);
}

static uint64_t rejected(void *core, const struct core_ops *ops)
{
	struct core_status st;
	ops->status(core, &st);
	return st.rejected_conflict;
}

/* Views 1-3 by 1, 2, 3 (round robin), view 4 (replica 0's) fails; from then on each
 * view's block comes from the leader the core computes.  That leader is never 0 but
 * on probation views (with `rotating` it is 0 every fourth view: the test fails),
 * each block is taken (no rejection) and the chain commits. */
static void test_core_rotates_without_silent(void **state)
{
	(void)state;
	static const uint8_t genesis[WIRE_DIGEST_LEN];
	const struct core_ops *ops = core_ops_for(PROTO_HOTSTUFF);
	struct core_config cc = config();
	struct effects out;
	struct buf b;
	effects_init(&out);
	buf_init(&b);
	void *core = ops->create(&cc);
	struct hs *p = core;
	uint8_t parent[WIRE_DIGEST_LEN];
	memcpy(parent, genesis, WIRE_DIGEST_LEN);
	uint64_t pview = 0, height = 0;
	for (uint64_t v = 1; v <= 60; v++) {
		if (v == 4)
			continue; /* replica 0's view: silent */
		uint32_t l = hs_leader(p, v);
		if (v % HS_REP_PROBATION(4) == 0)
			continue; /* probation for 0: it fails again */
		assert_int_not_equal(l, 0);
		proposal(&b, l, v, ++height, parent, pview);
		step_msg(core, ops, &b, &out);
		hash_of(&b, parent);
		pview = v;
	}
	assert_int_equal(rejected(core, ops), 0);
	struct core_status st;
	ops->status(core, &st);
	assert_true(st.last_executed >= height - 3 - 1);
	/* a proposal from 0 where 1 leads: refused, and its QC (of a block we do not
	 * have) makes us FETCH that block: a replica behind catches up this way */
	uint64_t v = 61;
	while (hs_leader(p, v) == 0 || v % HS_REP_PROBATION(4) == 0)
		v++;
	uint8_t unknown[WIRE_DIGEST_LEN];
	memset(unknown, 0xab, sizeof(unknown));
	proposal(&b, 0, v, height + 2, unknown, v - 1);
	step_msg(core, ops, &b, &out);
	assert_int_equal(rejected(core, ops), 1);
	int fetches = 0;
	for (size_t i = 0; i < out.n_sends; i++)
		fetches += out.arena.p[out.sends[i].off + WIRE_OFF_TYPE] == MSG_HS_FETCH;
	assert_int_equal(fetches, 1);
	ops->destroy(core);
	buf_free(&b);
	effects_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_fallbacks),
		cmocka_unit_test(test_all_active_is_round_robin),
		cmocka_unit_test(test_inactive_replica_leaves_rotation),
		cmocka_unit_test(test_active_window_bounded_hostile),
		cmocka_unit_test(test_core_rotates_without_silent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
