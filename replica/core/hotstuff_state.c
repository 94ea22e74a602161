/* hotstuff_state.c - HotStuff state transfer: a replica further behind than its peers
 * keep blocks (core_config.hotstuff_keep) fetches a snapshot of the executed state at a
 * committed block, installs it, and fetches the blocks above it as usual.
 *
 * The snapshot is the record every replica persists every checkpoint_interval blocks
 * (HS_REC_SNAP: block hash | view | exec_snapshot(), the KV and the client table with
 * its reply cache).  The protocol (docs/PROTOCOL.md, "HotStuff state transfer"):
 *   1. A replica that gets a proposal more than keep/2 blocks above the executed one,
 *      whose parent it lacks, asks every peer for offers: FETCH_STATE with seq 0.
 *   2. Each peer answers with a CHECKPOINT(seq = height, digest, size) per snapshot
 *      record it holds (its newest HS_SNAPS), digest = BLAKE2b of the record's bytes.
 *   3. A record that f+1 distinct peers claim with the same (height, digest, size) is
 *      certified: at least one of them is correct, and a correct replica holds only
 *      records of blocks it executed, that is committed ones.  Committed blocks are
 *      the same at every correct replica (PODC'19 Theorem 2, safety) and execution
 *      is deterministic, so every correct replica's record at that height has exactly
 *      these bytes.  One peer's word is not enough: it may be the liar.  Unlike
 *      PBFT's CHECKPOINT proofs nothing is relayed, so plain authenticated claims
 *      made to us suffice (no transferable signatures, no 2f+1).
 *   4. It fetches the newest certified record above its executed height from a peer
 *      that claimed it, chunk by chunk (snapxfer.h: the size is the certified one,
 *      the digest is checked; a liar's STATE is refused, counted in
 *      rejected.conflict, and the next claimant asked).
 *   5. It installs it: the KV and client table, the block as the root of its tree,
 *      persisted (HS_REC_SNAP, older records deleted) in the step's transaction, so
 *      before anything it says next.  Orphans above it then join the tree, and their
 *      missing parents are FETCHed from peers as for any lag below keep.
 * A peer serves only the records it holds, within per-asker budgets (budget.h).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/hotstuff.h"

#define HS_REC_HEAD (WIRE_DIGEST_LEN + 8) /* block hash | view, before exec_snapshot() */

/* ---- the records we hold ---- */

void hs_keep_snapshot(struct hs *p, uint64_t height, const uint8_t *rec, size_t len)
{
	if (p->snaps[0].height == height && p->snaps[0].bytes)
		return;
	uint8_t *copy = core_dup(rec, len);
	if (!copy)
		return; /* only what we serve: a liveness aid */
	free(p->snaps[HS_SNAPS - 1].bytes);
	memmove(&p->snaps[1], &p->snaps[0], (HS_SNAPS - 1) * sizeof(p->snaps[0]));
	struct hs_snap *s = &p->snaps[0];
	*s = (struct hs_snap){.height = height, .bytes = copy, .len = (uint32_t)len};
	crypto_digest(rec, len, s->digest);
}

void hs_snaps_free(struct hs *p)
{
	for (uint32_t i = 0; i < HS_SNAPS; i++)
		free(p->snaps[i].bytes);
	memset(p->snaps, 0, sizeof(p->snaps));
	snapxfer_reset(&p->xfer);
}

/* ---- serving ---- */

static void send_offers(struct hs *p, uint32_t to, struct effects *out)
{
	if (!budget_take(&p->offer_budget[to], p->now_ms, HS_OFFERS_PER_TIMEOUT,
			 p->cfg.view_timeout_ms, 1)) {
		p->rejected_rate_limited++;
		return;
	}
	for (uint32_t i = 0; i < HS_SNAPS; i++) {
		const struct hs_snap *s = &p->snaps[i];
		if (!s->bytes)
			continue;
		size_t off = wire_put_checkpoint(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view,
						 s->height, s->digest, s->len);
		hs_send(p, out, (int32_t)to, off);
	}
}

void hs_on_fetch_state(struct hs *p, const struct msg *m, struct effects *out)
{
	uint32_t from = m->h.sender;
	if (from == p->cfg.id)
		return;
	if (m->h.seq == 0) {
		send_offers(p, from, out);
		return;
	}
	for (uint32_t i = 0; i < HS_SNAPS; i++) {
		const struct hs_snap *s = &p->snaps[i];
		if (!s->bytes || s->height != m->h.seq || m->u.offset >= s->len)
			continue;
		/* ~100 bytes asked, up to a chunk answered: a few copies per view timeout */
		if (!budget_take(&p->state_budget[from], p->now_ms,
				 HS_STATE_COPIES * snapxfer_chunks(s->len), p->cfg.view_timeout_ms,
				 1)) {
			p->rejected_rate_limited++;
			return;
		}
		size_t off = snapxfer_put_chunk(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view,
						s->height, s->bytes, s->len, m->u.offset);
		hs_send(p, out, (int32_t)from, off);
		return;
	}
}

/* ---- fetching ---- */

static bool claims(const struct hs_claim *c, uint64_t height, const uint8_t *digest, uint64_t size)
{
	return c->height == height && c->size == size &&
	       !memcmp(c->digest, digest, WIRE_DIGEST_LEN);
}

static bool peer_claims(const struct hs *p, uint32_t r, uint64_t height, const uint8_t *digest,
			uint64_t size)
{
	for (uint32_t i = 0; i < HS_SNAPS; i++)
		if (claims(&p->claims[r][i], height, digest, size))
			return true;
	return false;
}

static uint32_t claimants(const struct hs *p, const struct hs_claim *c)
{
	uint32_t k = 0;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		k += r != p->cfg.id && peer_claims(p, r, c->height, c->digest, c->size);
	return k;
}

/* The next peer after `after` that claimed the record we fetch (`after` if none). */
static uint32_t next_claimant(const struct hs *p, uint32_t after)
{
	const struct snapxfer *x = &p->xfer;
	for (uint32_t i = 1; i <= p->cfg.n; i++) {
		uint32_t r = (after + i) % p->cfg.n;
		if (r != p->cfg.id && peer_claims(p, r, x->seq, x->digest, x->total))
			return r;
	}
	return after;
}

static void ask_chunk(struct hs *p, struct effects *out)
{
	size_t off = snapxfer_put_ask(&p->xfer, &out->arena, p->cfg.cluster_id, p->cfg.id, p->view);
	hs_send(p, out, (int32_t)p->xfer.peer, off);
	p->xfer.retry_ms = p->now_ms + p->cfg.view_timeout_ms;
}

/* The newest record above our executed block that f+1 peers claim: fetch it. */
static void try_start(struct hs *p, struct effects *out)
{
	if (p->xfer.seq)
		return;
	const struct hs_claim *best = NULL;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		for (uint32_t i = 0; i < HS_SNAPS; i++) {
			const struct hs_claim *c = &p->claims[r][i];
			if (r == p->cfg.id || c->height <= p->exec_height ||
			    (best && c->height <= best->height) || claimants(p, c) < p->cfg.f + 1)
				continue;
			best = c;
		}
	if (!best)
		return;
	snapxfer_start(&p->xfer, best->height, best->digest, best->size, p->cfg.id);
	p->xfer_silent = 0;
	p->xfer.peer = next_claimant(p, p->cfg.id);
	ask_chunk(p, out);
}

static void ask_offers(struct hs *p, struct effects *out)
{
	size_t off = wire_begin(&out->arena, MSG_FETCH_STATE, p->cfg.cluster_id, p->cfg.id, p->view,
				0);
	buf_put_u64(&out->arena, 0);
	wire_finish(&out->arena, off);
	hs_send(p, out, TO_OTHERS, off);
	p->offers_ms = p->now_ms ? p->now_ms : 1;
}

/* A proposal at `height` whose parent we lack: too far above our executed block for
 * the peers to still hold the blocks in between?  Half of keep, as a peer that
 * executed up to that height keeps `keep` blocks below it. */
void hs_check_gap(struct hs *p, uint64_t height, struct effects *out)
{
	if (height <= p->exec_height + p->keep / 2 || p->xfer.seq)
		return;
	if (p->offers_ms && p->now_ms < p->offers_ms + p->cfg.view_timeout_ms)
		return; /* asked lately */
	ask_offers(p, out);
	try_start(p, out);
}

void hs_on_checkpoint(struct hs *p, const struct msg *m, struct effects *out)
{
	if (!p->offers_ms || m->h.sender == p->cfg.id)
		return; /* we asked for none */
	if (m->h.seq == 0 || m->u.dg.size <= HS_REC_HEAD || m->u.dg.size > HS_MAX_SNAPSHOT) {
		p->rejected_out_of_window++;
		return;
	}
	struct hs_claim *c = p->claims[m->h.sender];
	struct hs_claim *slot = &c[0];
	for (uint32_t i = 0; i < HS_SNAPS; i++) { /* its claim for that height, or its oldest */
		if (c[i].height == m->h.seq) {
			slot = &c[i];
			break;
		}
		if (c[i].height < slot->height)
			slot = &c[i];
	}
	*slot = (struct hs_claim){.height = m->h.seq, .size = m->u.dg.size};
	memcpy(slot->digest, m->u.dg.digest, WIRE_DIGEST_LEN);
	try_start(p, out);
}

/* The record is complete and certified: adopt it, and persist it before we speak. */
static void install(struct hs *p, struct effects *out)
{
	struct snapxfer *x = &p->xfer;
	CORE_ASSERT(x->seq > p->exec_height && x->buf && x->have == x->total);
	const uint8_t *rec = x->buf;
	uint64_t height = x->seq, total = x->total;
	if (exec_restore(&p->exec, rec + HS_REC_HEAD, total - HS_REC_HEAD) != 0) {
		p->rejected_conflict++; /* cannot happen: f+1 claimed it, one correct */
		snapxfer_reset(x);
		return;
	}
	uint64_t view = get_u64(rec + WIRE_DIGEST_LEN);
	hs_set_root(p, rec, view, height);
	effects_persist(out, P_PUT, HS_REC_SNAP, height, rec, total);
	effects_persist(out, P_DEL_BELOW, HS_REC_SNAP, height, NULL, 0);
	effects_persist(out, P_DEL_BELOW, HS_REC_BLOCK, height + 1, NULL, 0);
	effects_persist(out, P_DEL_BELOW, HS_REC_VOTED, view + 1, NULL, 0);
	hs_keep_snapshot(p, height, rec, total);
	p->snap_height = height;
	exec_digest(&p->exec, p->snap_digest);
	p->states_installed++;
	waitq_prune(&p->wq, &p->exec);
	snapxfer_reset(x);
	p->offers_ms = 0;
	p->progress_ms = p->now_ms;
	hs_adopt_orphans(p, out); /* then the normal block fetch, from the new root */
	hs_fetch_orphan_parent(p, out);
}

void hs_on_state(struct hs *p, const struct msg *m, struct effects *out)
{
	struct snapxfer *x = &p->xfer;
	if (x->seq && p->exec_height >= x->seq) {
		snapxfer_reset(x); /* caught up by ourselves meanwhile */
		return;
	}
	switch (snapxfer_take(x, m)) {
	case SNAPXFER_MORE:
		p->xfer_silent = 0;
		ask_chunk(p, out);
		break;
	case SNAPXFER_DONE: install(p, out); break;
	case SNAPXFER_BAD: /* not the record f+1 peers claimed: ask the next claimant */
		p->rejected_conflict++;
		snapxfer_restart(x, next_claimant(p, x->peer));
		ask_chunk(p, out);
		break;
	default: break;
	}
}

void hs_state_tick(struct hs *p, struct effects *out)
{
	struct snapxfer *x = &p->xfer;
	if (x->seq && p->now_ms >= x->retry_ms) {
		if (p->exec_height >= x->seq) {
			snapxfer_reset(x);
			return;
		}
		if (++p->xfer_silent >= p->cfg.n) {
			/* every claimant silent for a timeout each: the record is gone (its
			 * holders took two newer snapshots since they claimed it).  Drop it
			 * and the old claims; the orphans ask for offers again.  Without it a
			 * replica cycled for ever over a record nobody held (stable, keep 4,
			 * --random-liars 1 seed 72: r2 fetching height 40, the others at 344). */
			snapxfer_reset(x);
			memset(p->claims, 0, sizeof(p->claims));
			p->offers_ms = 0;
			return;
		}
		snapxfer_restart(x, next_claimant(p, x->peer)); /* silent or slow */
		ask_chunk(p, out);
		return;
	}
	if (!x->seq && p->offers_ms && p->now_ms >= p->offers_ms + p->cfg.view_timeout_ms) {
		p->offers_ms = 0; /* behind still?  the orphans say (hs_check_gap) */
		for (uint32_t i = 0; i < p->n_orphans; i++) {
			struct msg om;
			if (wire_decode(p->orphans[i].raw, p->orphans[i].len, p->cfg.cluster_id,
					&om) == WIRE_OK)
				hs_check_gap(p, om.h.seq, out);
		}
	}
}

uint64_t hs_state_deadline(const struct hs *p)
{
	if (p->xfer.seq)
		return p->xfer.retry_ms;
	return p->offers_ms ? p->offers_ms + p->cfg.view_timeout_ms : 0;
}
