/* hotstuff_leader.c - the leader of a HotStuff view (hotstuff_leader.h).
 *
 * Leader reputation, after DiemBFT v4 (Baudet et al., "State Machine Replication in
 * the Diem Blockchain", 2021, §"Leader election": LeaderReputation, elect from the
 * committed history the QC points at) and Aptos' ProposerElection: chained HotStuff
 * commits only on three blocks of consecutive views plus a fourth leader to carry the
 * last QC (PODC'19 Algorithm 3), and plain round robin at n = 4 with one silent or
 * selective leader never has four correct leaders in a row (docs/PROTOCOL.md §13.4).
 * So the leader of view v is chosen among the replicas that authored one of the last
 * HS_REP_WINDOW(n) blocks of the chain ending at the block of view v-2 (the anchor):
 * a replica whose views fail authors nothing and leaves the rotation.
 *
 * Determinism: the anchor's hash fixes its ancestry (each block hashes its parent),
 * so replicas that hold the anchor compute the same set; those that do not hold it
 * (its view failed, or they missed it) use round robin, as DiemBFT v4 falls back to
 * round robin when the QC it would elect from is missing.  Safety does not depend on
 * the choice (DiemBFT v4: "leaders elected differently at different validators
 * only hurt liveness"): a replica accepts a proposal only from the leader it computes
 * and votes at most once per view (voted_view, persisted), and a QC is 2f+1 such
 * votes whoever proposed, so two replicas that disagree on a leader are no worse than
 * one leader that equivocates, which the lock rule already survives.
 *
 * Re-entry: every HS_REP_PROBATION(n)-th view goes to a replica outside the rotation
 * (in turn), so a correct replica that was down comes back; a liar's probation view
 * fails and costs one timeout.  Views whose anchor is missing (after a failed view)
 * are round robin too. */
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/hotstuff.h"
#include "replica/core/hotstuff_leader.h"

uint32_t hs_rep_active(uint32_t n, const struct hs_rep_block *chain, uint32_t len)
{
	uint32_t w = HS_REP_WINDOW(n);
	uint32_t active = 0;
	for (uint32_t i = 0; i < len && i < w; i++)
		if (chain[i].author < n && chain[i].author < 32)
			active |= 1u << chain[i].author;
	return active;
}

/* The index-th replica (from 0) whose bit in `set` is `want`; n if none. */
static uint32_t nth(uint32_t n, uint32_t set, int want, uint32_t index)
{
	for (uint32_t r = 0; r < n; r++)
		if (((set >> r) & 1u) == (uint32_t)want && index-- == 0)
			return r;
	return n;
}

static uint32_t count(uint32_t n, uint32_t set)
{
	uint32_t k = 0;
	for (uint32_t r = 0; r < n; r++)
		k += (set >> r) & 1u;
	return k;
}

uint32_t hs_rep_leader(uint32_t n, uint64_t view, int has_anchor, uint64_t anchor_view,
		       uint32_t active)
{
	uint32_t rr = (uint32_t)(view % n); // NOLINT(clang-analyzer-core.DivideZero): n >= 4
	uint32_t k = count(n, active);
	/* the first n views are round robin: every replica has had its turn */
	if (!has_anchor || anchor_view < n || k == 0)
		return rr;
	uint32_t leader;
	if (k < n && view % HS_REP_PROBATION(n) == 0)
		leader = nth(n, active, 0, (uint32_t)((view / HS_REP_PROBATION(n)) % (n - k)));
	else
		leader = nth(n, active, 1, (uint32_t)(view % k));
	/* the index is below the count of replicas with that bit (k, or n - k): one exists */
	CORE_ASSERT(leader < n);
	return leader;
}

/* ---- the core's side: the anchor and its chain, from the block store ---- */

/* Do we hold a QC for b: our high QC or pending QC, or the justify of a block we hold? */
static bool certified(const struct hs *p, const struct hs_block *b)
{
	if (!memcmp(b->hash, p->high_qc.hash, WIRE_DIGEST_LEN) ||
	    (p->has_pending_qc && !memcmp(b->hash, p->pending_qc.hash, WIRE_DIGEST_LEN)))
		return true;
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++)
		if (p->blocks[i].used && p->blocks[i].height == b->height + 1 &&
		    !memcmp(p->blocks[i].parent, b->hash, WIRE_DIGEST_LEN))
			return true;
	return false;
}

/* The certified block of `view` (one per view: 2f+1 votes intersect in a correct
 * replica), with its proposal.  Uncertified ones do not count: a selective leader's
 * block reached one replica only, which alone would compute other leaders (seed 3 of
 * --byz 0=selective:1 with every fault: two leaders in one view, over and over). */
static const struct hs_block *anchor_of(const struct hs *p, uint64_t view)
{
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++) {
		const struct hs_block *b = &p->blocks[i];
		if (b->used && b->raw && b->view == view && certified(p, b))
			return b;
	}
	return NULL;
}

static const struct hs_block *find(const struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN])
{
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++)
		if (p->blocks[i].used && !memcmp(p->blocks[i].hash, hash, WIRE_DIGEST_LEN))
			return &p->blocks[i];
	return NULL;
}

/* The anchor and its ancestors, newest first, while we hold their proposals. */
static uint32_t active_from(const struct hs *p, const struct hs_block *a)
{
	struct hs_rep_block chain[HS_REP_MAX_WINDOW];
	uint32_t len = 0, w = HS_REP_WINDOW(p->cfg.n);
	for (const struct hs_block *b = a;
	     b && b->raw && len<w; b = b->height> 0 ? find(p, b->parent) : NULL)
		chain[len++] = (struct hs_rep_block){.view = b->view,
						     .author = get_u32(b->raw + WIRE_OFF_SENDER)};
	return hs_rep_active(p->cfg.n, chain, len);
}

/* The active set of an anchor does not change (its ancestry is fixed by its hash and
 * stays in the store, HS_REP_MAX_WINDOW < HS_KEEP): remembered for a few anchors. */
static uint32_t active_of(struct hs *p, const struct hs_block *a)
{
	for (uint32_t i = 0; i < HS_REP_MEMO; i++)
		if (p->rep_memo[i].used && !memcmp(p->rep_memo[i].anchor, a->hash, WIRE_DIGEST_LEN))
			return p->rep_memo[i].active;
	struct hs_rep_memo *m = &p->rep_memo[p->rep_memo_next++ % HS_REP_MEMO];
	m->used = true;
	memcpy(m->anchor, a->hash, WIRE_DIGEST_LEN);
	m->active = active_from(p, a);
	return m->active;
}

uint32_t hs_leader(struct hs *p, uint64_t view)
{
	uint32_t n = p->cfg.n;
	if (p->cfg.hotstuff_stable)
		return (uint32_t)((view >> HS_STABLE_SHIFT) % n);
	if (p->cfg.hotstuff_round_robin || view < 2)
		return (uint32_t)(view % n);
	const struct hs_block *a = anchor_of(p, view - 2);
	if (!a)
		return hs_rep_leader(n, view, 0, 0, 0);
	return hs_rep_leader(n, view, 1, a->view, active_of(p, a));
}

/* A proposal we may take: from the leader we compute for its view, or a block a QC we
 * hold certifies (the pending QC's, our high QC's, an orphan's parent: what we
 * FETCH).  A replica that is behind, or restarted with less history, may compute
 * other leaders than the rest for a while; it still follows the chain through the
 * QCs and the blocks they certify (2f+1 votes made them, whoever proposed). */
bool hs_from_leader(struct hs *p, const struct msg *m)
{
	if (m->h.sender == hs_leader(p, m->h.view))
		return true;
	uint8_t hash[WIRE_DIGEST_LEN];
	hs_block_hash(m->h.view, m->h.seq, m->body, m->h.body_len, hash);
	if ((p->has_pending_qc && !memcmp(hash, p->pending_qc.hash, WIRE_DIGEST_LEN)) ||
	    !memcmp(hash, p->high_qc.hash, WIRE_DIGEST_LEN))
		return true;
	for (uint32_t i = 0; i < p->n_orphans; i++) {
		struct msg om;
		if (wire_decode(p->orphans[i].raw, p->orphans[i].len, p->cfg.cluster_id, &om) ==
			    WIRE_OK &&
		    !memcmp(hash, om.u.hs.parent, WIRE_DIGEST_LEN))
			return true;
	}
	return false;
}
