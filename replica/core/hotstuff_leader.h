/* hotstuff_leader.h - who leads a HotStuff view (docs/PROTOCOL.md §13.2):
 * round robin (`hotstuff_leader = rotating`), stable, or leader reputation
 * (`reputation`, the default): rotation among the replicas that authored a block in
 * the last HS_REP_WINDOW(n) blocks of the chain ending at the block of view v-2.
 * Pure functions of their arguments, so every replica that holds the same blocks
 * computes the same leader; unit-tested in tests/unit/test_hotstuff_leader.c. */
#ifndef BYZLAB_HOTSTUFF_LEADER_H
#define BYZLAB_HOTSTUFF_LEADER_H

#include <stdint.h>

#define HS_REP_MAX_WINDOW 64u
/* blocks of history: two turns of every replica (at most HS_REP_MAX_WINDOW) */
#define HS_REP_WINDOW(n) ((2u * (n)) < HS_REP_MAX_WINDOW ? 2u * (n) : HS_REP_MAX_WINDOW)
/* every HS_REP_PROBATION(n)-th view goes to a replica outside the rotation */
#define HS_REP_PROBATION(n) (4ull * (n))

struct hs_rep_block { /* one block of the chain, as the reputation sees it */
	uint64_t view;
	uint32_t author; /* the proposal's sender: the leader that made it */
};

/* The replicas (bit i = replica i) that authored one of chain[0..len), newest first,
 * looking at no more than HS_REP_WINDOW(n) blocks; authors >= n are ignored. */
uint32_t hs_rep_active(uint32_t n, const struct hs_rep_block *chain, uint32_t len);

/* The leader of `view` given the anchor (the block of view-2 and its `active` set):
 * `view mod n` when there is no anchor (has_anchor 0), in the first n views, or when
 * `active` is empty; else the (view mod k)-th of the k active replicas, except every
 * HS_REP_PROBATION(n)-th view, which goes to an inactive one in turn. */
uint32_t hs_rep_leader(uint32_t n, uint64_t view, int has_anchor, uint64_t anchor_view,
		       uint32_t active);

#endif
