/* hotstuff_chain.c - chained HotStuff's rules (PODC'19 Algorithm 3): the block tree,
 * proposing, voting (safeNode), QCs (the update procedure: genericQC, lock, commit),
 * executing committed blocks, and fetching blocks we miss.  See hotstuff.h. */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/hotstuff.h"

/* ---- the block tree ---- */

void hs_block_hash(uint64_t view, uint64_t height, const uint8_t *body, size_t len,
		   uint8_t out[WIRE_DIGEST_LEN])
{
	struct digest_ctx c;
	uint8_t hdr[16];
	set_u64(hdr, view);
	set_u64(hdr + 8, height);
	crypto_digest_init(&c);
	crypto_digest_update(&c, hdr, sizeof(hdr));
	crypto_digest_update(&c, body, len);
	crypto_digest_final(&c, out);
}

struct hs_block *hs_find(struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN])
{
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++)
		if (p->blocks[i].used && !memcmp(p->blocks[i].hash, hash, WIRE_DIGEST_LEN))
			return &p->blocks[i];
	return NULL;
}

static void block_clear(struct hs_block *b)
{
	free(b->raw);
	memset(b, 0, sizeof(*b));
}

void hs_blocks_free(struct hs *p)
{
	free(p->commit_proof);
	p->commit_proof = NULL;
	free(p->pending_proof);
	p->pending_proof = NULL;
	for (uint32_t i = 0; p->blocks && i < HS_MAX_BLOCKS; i++)
		block_clear(&p->blocks[i]);
	for (uint32_t i = 0; i < p->n_orphans; i++)
		free(p->orphans[i].raw);
	p->n_orphans = 0;
}

/* The oldest snapshot record we serve (hotstuff_state.c), 0 if none. */
static uint64_t oldest_snap(const struct hs *p)
{
	uint64_t h = 0;
	for (uint32_t i = 0; i < HS_SNAPS; i++)
		if (p->snaps[i].bytes && (h == 0 || p->snaps[i].height < h))
			h = p->snaps[i].height;
	return h;
}

/* Drop what can no longer matter: blocks at or below the executed height that are not
 * on the committed chain, committed blocks more than keep below it - but those above
 * the oldest snapshot we serve stay (up to HS_KEEP below), so that a replica that
 * installs it can fetch the rest from us. */
static void prune(struct hs *p)
{
	uint64_t snap = oldest_snap(p);
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++) {
		struct hs_block *b = &p->blocks[i];
		if (!b->used || b->height > p->exec_height)
			continue;
		bool old = b->height + p->keep < p->exec_height &&
			   (b->height <= snap || b->height + HS_KEEP < p->exec_height);
		if (old && memcmp(b->hash, p->exec_hash, WIRE_DIGEST_LEN) != 0)
			block_clear(b);
	}
	/* off-chain blocks at or below exec_height: their descendants can never commit */
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++) {
		struct hs_block *b = &p->blocks[i];
		if (b->used && b->height == p->exec_height &&
		    memcmp(b->hash, p->exec_hash, WIRE_DIGEST_LEN) != 0)
			block_clear(b);
	}
}

static struct hs_block *free_slot(struct hs *p)
{
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++)
		if (!p->blocks[i].used)
			return &p->blocks[i];
	return NULL;
}

/* Orphans at or below height can never join the tree any more. */
static void drop_orphans_upto(struct hs *p, uint64_t height)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < p->n_orphans; i++) {
		struct msg om;
		if (wire_decode(p->orphans[i].raw, p->orphans[i].len, p->cfg.cluster_id, &om) ==
			    WIRE_OK &&
		    om.h.seq > height)
			p->orphans[k++] = p->orphans[i];
		else
			free(p->orphans[i].raw);
	}
	p->n_orphans = k;
}

/* The tree becomes one block, committed and executed (at start, on recovery, or on
 * installing a snapshot): orphans above it stay, to join it. */
void hs_set_root(struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN], uint64_t view, uint64_t height)
{
	for (uint32_t i = 0; i < HS_MAX_BLOCKS; i++)
		block_clear(&p->blocks[i]);
	drop_orphans_upto(p, height);
	p->has_pending_qc = false;
	p->pending_commits = false;
	struct hs_block *b = &p->blocks[0];
	b->used = true;
	memcpy(b->hash, hash, WIRE_DIGEST_LEN);
	b->view = view;
	b->height = height;
	memcpy(p->exec_hash, hash, WIRE_DIGEST_LEN);
	p->exec_height = height;
	p->exec_view = view;
}

/* Add a proposal to the tree.  Returns the block (new or known), or NULL if its parent
 * is unknown (the caller keeps it as an orphan) or it cannot be part of the tree: its
 * parent must be its justify's block, one height below, in an earlier view. */
struct hs_block *hs_block_store(struct hs *p, const struct msg *m)
{
	uint8_t hash[WIRE_DIGEST_LEN];
	hs_block_hash(m->h.view, m->h.seq, m->body, m->h.body_len, hash);
	struct hs_block *b = hs_find(p, hash);
	if (b)
		return b;
	const struct body_hs *hb = &m->u.hs;
	struct hs_block *parent = hs_find(p, hb->parent);
	if (!parent)
		return NULL;
	if (memcmp(hb->qc.hash, hb->parent, WIRE_DIGEST_LEN) != 0 || hb->qc.view != parent->view ||
	    parent->height + 1 != m->h.seq || parent->view >= m->h.view ||
	    m->h.seq <= p->exec_height) {
		p->rejected_conflict++;
		return NULL;
	}
	b = free_slot(p);
	if (!b) {
		p->rejected_out_of_window++;
		return NULL;
	}
	uint8_t *raw = core_dup(m->raw, m->raw_len);
	if (!raw)
		return NULL;
	*b = (struct hs_block){.used = true,
			       .view = m->h.view,
			       .height = m->h.seq,
			       .raw = raw,
			       .raw_len = (uint32_t)m->raw_len,
			       .batch_off = (uint32_t)(hb->batch - m->raw),
			       .batch_len = hb->batch_len,
			       .count = get_u16(hb->batch)};
	memcpy(b->hash, hash, WIRE_DIGEST_LEN);
	memcpy(b->parent, hb->parent, WIRE_DIGEST_LEN);
	return b;
}

static struct hs_block *parent_of(struct hs *p, const struct hs_block *b)
{
	return b && b->height > 0 ? hs_find(p, b->parent) : NULL;
}

/* Is b a descendant of (or equal to) the block `hash` at `height`? */
static bool extends(struct hs *p, const struct hs_block *b, const uint8_t hash[WIRE_DIGEST_LEN],
		    uint64_t height)
{
	while (b && b->height > height)
		b = parent_of(p, b);
	return b && b->height == height && !memcmp(b->hash, hash, WIRE_DIGEST_LEN);
}

/* Requests waiting in uncommitted blocks from b down to the executed one? */
static bool chain_has_requests_from(struct hs *p, const struct hs_block *b)
{
	for (; b && b->height > p->exec_height; b = parent_of(p, b))
		if (b->count > 0)
			return true;
	return false;
}

bool hs_chain_has_requests(struct hs *p)
{
	return chain_has_requests_from(p, hs_find(p, p->high_qc.hash));
}

/* ---- fetching ---- */

void hs_fetch(struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN], int32_t to, struct effects *out)
{
	size_t off = wire_begin(&out->arena, MSG_HS_FETCH, p->cfg.cluster_id, p->cfg.id, 0, 0);
	buf_put(&out->arena, hash, WIRE_DIGEST_LEN);
	wire_finish(&out->arena, off);
	hs_send(p, out, to, off);
}

void hs_on_fetch(struct hs *p, const struct msg *m, struct effects *out)
{
	struct hs_block *b = hs_find(p, m->u.hs.hash);
	if (!b || !b->raw)
		return;
	size_t off = wire_begin(&out->arena, MSG_HS_BLOCK, p->cfg.cluster_id, p->cfg.id, b->view,
				b->height);
	buf_put(&out->arena, b->raw, b->raw_len); /* sealed by its leader: forwarded as is */
	wire_finish(&out->arena, off);
	hs_send(p, out, (int32_t)m->h.sender, off);
	p->blocks_served++;
}

void hs_on_block(struct hs *p, const struct msg *m, struct effects *out)
{
	struct msg in;
	if (wire_decode(m->u.hs.inner, m->u.hs.inner_len, p->cfg.cluster_id, &in) != WIRE_OK)
		return; /* cannot happen: the edge decoded it */
	p->blocks_fetched++;
	hs_take_proposal(p, &in, m->h.sender, out);
}

/* The newest orphan's parent, from every peer: the chain down to our tree comes back
 * one block at a time (unless it is too far: hs_check_gap). */
void hs_fetch_orphan_parent(struct hs *p, struct effects *out)
{
	struct msg om;
	if (p->n_orphans == 0)
		return;
	const struct hs_orphan *o = &p->orphans[p->n_orphans - 1];
	if (wire_decode(o->raw, o->len, p->cfg.cluster_id, &om) != WIRE_OK)
		return;
	hs_fetch(p, om.u.hs.parent, TO_OTHERS, out);
	for (uint32_t i = 0; i < p->n_orphans; i++)
		p->orphans[i].asked = 0; /* each sender once more per retry period */
	hs_check_gap(p, om.h.seq, out);
	p->fetch_ms = p->now_ms + p->cfg.view_timeout_ms / 4 + 1;
}

/* Keep m until its parent comes: the orphan (new or the copy we had), NULL if no memory. */
static struct hs_orphan *keep_orphan(struct hs *p, const struct msg *m, uint32_t from)
{
	for (uint32_t i = 0; i < p->n_orphans; i++)
		if (p->orphans[i].len == m->raw_len &&
		    !memcmp(p->orphans[i].raw, m->raw, m->raw_len))
			return &p->orphans[i];
	if (p->n_orphans == HS_MAX_ORPHANS) { /* the oldest goes */
		free(p->orphans[0].raw);
		memmove(&p->orphans[0], &p->orphans[1],
			(HS_MAX_ORPHANS - 1) * sizeof(p->orphans[0]));
		p->n_orphans--;
	}
	uint8_t *raw = core_dup(m->raw, m->raw_len);
	if (!raw)
		return NULL;
	p->orphans[p->n_orphans] = (struct hs_orphan){.raw = raw,
						      .len = (uint32_t)m->raw_len,
						      .from = from};
	return &p->orphans[p->n_orphans++];
}

static void lock_and_commit(struct hs *p, struct hs_block *b2, struct effects *out);
static void keep_commit_proof(struct hs *p, const uint8_t *raw, size_t len, uint64_t qc_view);

/* A block joined the tree: orphans waiting for it may join too, and a pending QC.  A
 * pending QC that came in a proposal's justify finishes that proposal's update(b*):
 * the lock and the commit rule (Algorithm 3) run on it now that its block is here.
 * Without it a replica that refused the last proposals (it computed other leaders)
 * and fetched the block their QC certifies never committed the tail the others
 * committed with them. */
void hs_adopt_orphans(struct hs *p, struct effects *out)
{
	bool again = true;
	while (again) {
		again = false;
		for (uint32_t i = 0; i < p->n_orphans; i++) {
			struct msg om;
			if (wire_decode(p->orphans[i].raw, p->orphans[i].len, p->cfg.cluster_id,
					&om) != WIRE_OK ||
			    !hs_find(p, om.u.hs.parent))
				continue;
			struct hs_orphan o = p->orphans[i];
			memmove(&p->orphans[i], &p->orphans[i + 1],
				(p->n_orphans - i - 1) * sizeof(p->orphans[0]));
			p->n_orphans--;
			if (wire_decode(o.raw, o.len, p->cfg.cluster_id, &om) == WIRE_OK)
				hs_take_proposal(p, &om, o.from, out);
			free(o.raw);
			again = true;
			break;
		}
	}
	if (p->has_pending_qc && hs_find(p, p->pending_qc.hash)) {
		struct hs_qc qc = p->pending_qc;
		bool commits = p->pending_commits;
		p->has_pending_qc = false;
		p->pending_commits = false;
		hs_update_qc(p, &qc, out);
		struct hs_block *b2 = hs_find(p, qc.hash);
		uint64_t exec0 = p->exec_height;
		if (commits && b2)
			lock_and_commit(p, b2, out); /* update(b*) of the proposal it came in */
		if (p->exec_height != exec0 && p->pending_proof)
			keep_commit_proof(p, p->pending_proof, p->pending_proof_len, qc.view);
	}
}

/* ---- execution ---- */

/* A reply carries our current view, not the executed block's: the client sends its
 * next request to the leaders of the f+1 views from there on (client_core.c
 * first_destination), and the block's view is already a few leaders behind. */
static void send_reply(struct hs *p, uint32_t client, uint64_t ts, const uint8_t *result,
		       uint32_t len, struct effects *out)
{
	uint64_t view = p->view;
	size_t off = wire_put_reply(&out->arena, p->cfg.cluster_id, p->cfg.id, view, client, ts,
				    result, len);
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, TO_CLIENT, client, off);
}

/* Execute one block's batch (replying if out is not NULL). */
static uint32_t execute_batch(struct hs *p, const uint8_t *batch, uint32_t len, struct effects *out)
{
	struct body_preprepare pp;
	uint32_t done = 0;
	if (wire_decode_batch(batch, len, p->cfg.cluster_id, &pp) != WIRE_OK)
		return 0;
	for (uint16_t i = 0; i < pp.count; i++) {
		struct msg req;
		const uint8_t *res;
		uint32_t rlen;
		if (wire_decode(pp.req[i], pp.req_len[i], p->cfg.cluster_id, &req) != WIRE_OK)
			continue;
		int v = exec_request(&p->exec, &req, &res, &rlen);
		if (v == EXEC_STALE)
			continue;
		if (v == EXEC_NEW) {
			done++;
			p->requests_executed++;
		}
		waitq_done(&p->wq, req.h.sender, req.u.req.timestamp);
		if (out)
			send_reply(p, req.h.sender, req.u.req.timestamp, res, rlen, out);
	}
	return done;
}

static void take_snapshot(struct hs *p, struct effects *out)
{
	buf_reset(&p->scratch);
	buf_put(&p->scratch, p->exec_hash, WIRE_DIGEST_LEN);
	buf_put_u64(&p->scratch, p->exec_view);
	exec_snapshot(&p->exec, &p->scratch);
	if (p->scratch.err) {
		out->arena.err = WIRE_E_NOMEM;
		return;
	}
	hs_keep_snapshot(p, p->exec_height, p->scratch.p, p->scratch.len); /* to serve */
	effects_persist(out, P_PUT, HS_REC_SNAP, p->exec_height, p->scratch.p, p->scratch.len);
	effects_persist(out, P_DEL_BELOW, HS_REC_SNAP, p->exec_height, NULL, 0);
	effects_persist(out, P_DEL_BELOW, HS_REC_BLOCK, p->exec_height + 1, NULL, 0);
	effects_persist(out, P_DEL_BELOW, HS_REC_VOTED, p->exec_view + 1, NULL, 0);
	p->snap_height = p->exec_height;
	exec_digest(&p->exec, p->snap_digest);
}

static void execute_block(struct hs *p, const struct hs_block *b, struct effects *out)
{
	CORE_ASSERT(b->height == p->exec_height + 1 && b->raw);
	CORE_ASSERT(!memcmp(b->parent, p->exec_hash, WIRE_DIGEST_LEN)); /* on our chain */
	execute_batch(p, b->raw + b->batch_off, b->batch_len, out);
	effects_persist(out, P_PUT, HS_REC_BLOCK, b->height, b->raw, b->raw_len);
	p->exec_height = b->height;
	p->exec_view = b->view;
	memcpy(p->exec_hash, b->hash, WIRE_DIGEST_LEN);
	effects_exec(out, b->height, b->view, b->hash, b->count);
	if (p->exec_height % p->cfg.checkpoint_interval == 0)
		take_snapshot(p, out);
}

/* Recovery: re-execute a committed block read back from the store, silently (the
 * clients got their replies before the crash, or retransmit). */
/* Recovery: a block we voted for goes back in the tree (or waits for its parent). */
int hs_recover_voted(struct hs *p, const uint8_t *raw, size_t len)
{
	struct msg m;
	if (wire_decode(raw, len, p->cfg.cluster_id, &m) != WIRE_OK || m.h.type != MSG_HS_PROPOSAL)
		return -1;
	if (m.h.seq <= p->exec_height || hs_block_store(p, &m))
		return 0;
	if (!hs_find(p, m.u.hs.parent))
		keep_orphan(p, &m, p->cfg.id);
	return 0;
}

int hs_replay_block(struct hs *p, const uint8_t *raw, size_t len)
{
	struct msg m;
	if (wire_decode(raw, len, p->cfg.cluster_id, &m) != WIRE_OK ||
	    m.h.type != MSG_HS_PROPOSAL || m.h.seq != p->exec_height + 1 ||
	    memcmp(m.u.hs.parent, p->exec_hash, WIRE_DIGEST_LEN) != 0)
		return -1;
	struct hs_block *b = hs_block_store(p, &m);
	if (!b)
		return -1;
	execute_batch(p, b->raw + b->batch_off, b->batch_len, NULL);
	p->exec_height = b->height;
	p->exec_view = b->view;
	memcpy(p->exec_hash, b->hash, WIRE_DIGEST_LEN);
	prune(p);
	return 0;
}

/* Commit b and its uncommitted ancestors, oldest first (Algorithm 3 onCommit). */
static void commit(struct hs *p, struct hs_block *b, struct effects *out)
{
	if (b->height <= p->exec_height)
		return;
	if (!extends(p, b, p->exec_hash, p->exec_height)) {
		p->rejected_conflict++; /* cannot happen while 2f+1 replicas are correct */
		return;
	}
	const struct hs_block *chain[HS_MAX_BLOCKS];
	uint32_t k = 0;
	for (const struct hs_block *c = b; c->height > p->exec_height; c = parent_of(p, c))
		chain[k++] = c;
	while (k > 0)
		execute_block(p, chain[--k], out);
	p->streak = 0;
	p->progress_ms = p->now_ms;
	prune(p);
}

/* ---- QCs: Algorithm 3's updateQCHigh, and update(b*) on b*.justify ---- */

static bool direct(const struct hs_block *child, const struct hs_block *parent)
{
	return child && parent && !memcmp(child->parent, parent->hash, WIRE_DIGEST_LEN) &&
	       child->view == parent->view + 1;
}

static void lock_and_commit(struct hs *p, struct hs_block *b2, struct effects *out)
{
	struct hs_block *b1 = parent_of(p, b2); /* b' = b''.justify.node */
	if (!b1)
		return;
	if (b1->view > p->locked_view) { /* the two-chain: lock b' */
		p->locked_view = b1->view;
		memcpy(p->locked_hash, b1->hash, WIRE_DIGEST_LEN);
	}
	if (p->cfg.plant_bugs & HS_BUG_TWO_CHAIN_COMMIT) {
		if (direct(b2, b1))
			commit(p, b1, out); /* the planted bug: commit on a two-chain */
		return;
	}
	struct hs_block *b0 = parent_of(p, b1);
	if (direct(b2, b1) && direct(b1, b0)) /* the three-chain: commit b */
		commit(p, b0, out);
}

void hs_update_qc(struct hs *p, const struct hs_qc *qc, struct effects *out)
{
	if (qc->view < p->high_qc.view ||
	    (qc->view == p->high_qc.view && qc->view > 0 && p->high_qc.count >= hs_quorum(p)))
		return; /* nothing new (a QC of a view certifies one block: 2f+1 overlap) */
	struct hs_block *b2 = hs_find(p, qc->hash);
	if (!b2) {
		if (!p->has_pending_qc || qc->view > p->pending_qc.view) {
			p->pending_qc = *qc;
			p->has_pending_qc = true;
			p->pending_commits = false; /* update() says if it came in a proposal */
			hs_fetch(p, qc->hash, TO_OTHERS, out);
		}
		return;
	}
	p->high_qc = *qc;
	if (qc->view + 1 > p->view)
		p->view = qc->view + 1; /* a QC of v ends view v (pacemaker) */
}

/* update(b*): the lock and the commit rule run on proposals only (ours too), as in
 * Algorithm 3: a QC formed from votes or carried by a NEW-VIEW only raises
 * genericQC.  So a block commits everywhere with the proposal that certifies its
 * three-chain, and the leader that formed the last QC is not ahead of the others. */
static void update(struct hs *p, const struct hs_qc *justify, struct effects *out)
{
	hs_update_qc(p, justify, out);
	struct hs_block *b2 = hs_find(p, justify->hash);
	if (b2) {
		lock_and_commit(p, b2, out);
		return;
	}
	/* Its block is missing: fetch it (even if the QC is not above our high QC) and
	 * finish update(b*) when it arrives (hs_adopt_orphans). */
	if (!p->has_pending_qc || justify->view > p->pending_qc.view) {
		p->pending_qc = *justify;
		p->has_pending_qc = true;
		hs_fetch(p, justify->hash, TO_OTHERS, out);
	}
	if (p->has_pending_qc && !memcmp(p->pending_qc.hash, justify->hash, WIRE_DIGEST_LEN))
		p->pending_commits = true;
}

/* Remember a sealed proposal: *slot takes a copy of raw (the old one goes). */
static void keep_raw(uint8_t **slot, uint32_t *slot_len, const uint8_t *raw, size_t len)
{
	uint8_t *copy = core_dup(raw, len);
	if (!copy)
		return;
	free(*slot);
	*slot = copy;
	*slot_len = (uint32_t)len;
}

static void keep_commit_proof(struct hs *p, const uint8_t *raw, size_t len, uint64_t qc_view)
{
	keep_raw(&p->commit_proof, &p->commit_proof_len, raw, len);
	p->commit_proof_qc_view = qc_view;
}

/* update(b*) for proposal m; if it committed, m is the proof the others need (if its
 * QC's block is missing, once it arrives: hs_adopt_orphans). */
static void update_from(struct hs *p, const struct msg *m, struct effects *out)
{
	uint64_t exec0 = p->exec_height;
	update(p, &m->u.hs.qc, out);
	if (p->exec_height != exec0)
		keep_commit_proof(p, m->raw, m->raw_len, m->u.hs.qc.view);
	else if (p->pending_commits &&
		 !memcmp(p->pending_qc.hash, m->u.hs.qc.hash, WIRE_DIGEST_LEN))
		keep_raw(&p->pending_proof, &p->pending_proof_len, m->raw, m->raw_len);
}

/* A NEW-VIEW whose QC is older than the justify that committed our executed block:
 * its sender is behind on commits (it missed or refused that proposal; with no more
 * client work no later proposal would come).  Send it that proposal in a BLOCK: it
 * runs update(b*) on it as on any fetched proposal (a refused one's QC too, §13.4),
 * so it commits exactly what we did, by Algorithm 3's own rule on a QC 2f+1 signed.
 * Nothing new is trusted: the leader's seal and the QC are checked at the edge.  At
 * most one per asker and view timeout. */
static void send_commit_proof(struct hs *p, const struct msg *m, struct effects *out)
{
	uint32_t from = m->h.sender;
	struct msg pm;
	if (!p->commit_proof || from == p->cfg.id || m->u.hs.qc.view >= p->commit_proof_qc_view ||
	    (p->proof_ms[from] && p->now_ms < p->proof_ms[from] + p->cfg.view_timeout_ms) ||
	    wire_decode(p->commit_proof, p->commit_proof_len, p->cfg.cluster_id, &pm) != WIRE_OK)
		return;
	p->proof_ms[from] = p->now_ms;
	size_t off = wire_begin(&out->arena, MSG_HS_BLOCK, p->cfg.cluster_id, p->cfg.id, pm.h.view,
				pm.h.seq);
	buf_put(&out->arena, p->commit_proof, p->commit_proof_len);
	wire_finish(&out->arena, off);
	hs_send(p, out, (int32_t)from, off);
}

/* ---- voting ---- */

/* Algorithm 3 safeNode: b extends the locked block, or its justify is newer. */
static bool safe_node(struct hs *p, const struct hs_block *b)
{
	if (p->cfg.plant_bugs & HS_BUG_IGNORE_LOCK)
		return true;
	if (p->locked_view == 0)
		return true;
	const struct hs_block *parent = hs_find(p, b->parent); /* = b.justify.node */
	if (parent && parent->view > p->locked_view)
		return true; /* liveness rule */
	const struct hs_block *lock = hs_find(p, p->locked_hash);
	return lock && extends(p, b, lock->hash, lock->height); /* safety rule */
}

static void add_vote(struct hs *p, uint32_t from, uint64_t view, const uint8_t *hash,
		     const uint8_t *sig, struct effects *out);

static void vote(struct hs *p, const struct hs_block *b, struct effects *out)
{
	if (b->view <= p->voted_view || b->view < p->view || !safe_node(p, b))
		return;
	p->voted_view = b->view;
	if (b->view + 1 > p->view)
		p->view = b->view + 1;
	p->progress_ms = p->now_ms;
	hs_persist_meta(p, out); /* never two votes in one view, even across a crash */
	/* and the block: a QC's block is held by the 2f+1 that voted, crash or not */
	effects_persist(out, P_PUT, HS_REC_VOTED, b->view, b->raw, b->raw_len);
	uint32_t next = hs_leader(p, b->view + 1);
	size_t off = wire_begin(&out->arena, MSG_HS_VOTE, p->cfg.cluster_id, p->cfg.id, b->view, 0);
	buf_put(&out->arena, b->hash, WIRE_DIGEST_LEN);
	wire_finish(&out->arena, off);
	auth_seal(p->cfg.auth, &out->arena, off);
	if (out->arena.err)
		return;
	if (next != p->cfg.id) {
		effects_send(out, (int32_t)next, 0, off);
		return;
	}
	uint8_t sig[WIRE_SIG_LEN] = {0};
	if (out->arena.len - off == WIRE_HS_VOTE_LEN + WIRE_SIG_LEN)
		memcpy(sig, out->arena.p + off + WIRE_HS_VOTE_LEN, WIRE_SIG_LEN);
	out->arena.len = off; /* our own vote stays here */
	add_vote(p, p->cfg.id, b->view, b->hash, sig, out);
}

static struct hs_votes *vote_slot(struct hs *p, uint64_t view, const uint8_t *hash)
{
	struct hs_votes *low = &p->votes[0];
	for (uint32_t i = 0; i < HS_VOTE_SLOTS; i++) {
		struct hs_votes *s = &p->votes[i];
		if (s->used && s->qc.view == view && !memcmp(s->qc.hash, hash, WIRE_DIGEST_LEN))
			return s;
		if (!s->used || (low->used && s->qc.view < low->qc.view))
			low = s;
	}
	if (low->used && low->qc.view >= view)
		return NULL; /* full of newer views */
	memset(low, 0, sizeof(*low));
	low->used = true;
	low->qc.view = view;
	memcpy(low->qc.hash, hash, WIRE_DIGEST_LEN);
	return low;
}

static void add_vote(struct hs *p, uint32_t from, uint64_t view, const uint8_t *hash,
		     const uint8_t *sig, struct effects *out)
{
	struct hs_votes *s = vote_slot(p, view, hash);
	if (!s || s->done)
		return;
	for (uint16_t i = 0; i < s->qc.count; i++)
		if (s->qc.id[i] == from)
			return;
	CORE_ASSERT(s->qc.count < p->cfg.n);
	s->qc.id[s->qc.count] = (uint16_t)from;
	memcpy(s->qc.sig[s->qc.count], sig, WIRE_SIG_LEN);
	s->qc.count++;
	if (s->qc.count < hs_quorum(p))
		return;
	s->done = true;
	struct hs_qc qc = s->qc;
	hs_update_qc(p, &qc, out);
	hs_try_propose(p, out);
}

void hs_on_vote(struct hs *p, const struct msg *m, struct effects *out)
{
	if (hs_leader(p, m->h.view + 1) != p->cfg.id || m->h.auth_len != WIRE_SIG_LEN) {
		p->rejected_conflict++; /* votes go to the next leader only */
		return;
	}
	if (m->h.view + 1 < p->view && m->h.view < p->high_qc.view) {
		p->rejected_old_view++;
		return;
	}
	add_vote(p, m->h.sender, m->h.view, m->u.hs.hash, m->auth, out);
}

/* ---- proposals ---- */

void hs_on_proposal(struct hs *p, const struct msg *m, struct effects *out)
{
	hs_take_proposal(p, m, m->h.sender, out);
}

/* A proposal, received from `from` (its leader, or a replica that answered a FETCH). */
void hs_take_proposal(struct hs *p, const struct msg *m, uint32_t from, struct effects *out)
{
	if (!hs_from_leader(p, m)) {
		p->rejected_conflict++; /* only the view's leader proposes */
		update_from(p, m, out); /* its QC stands alone: catch up, commit */
		return;
	}
	struct hs_block *b = hs_block_store(p, m);
	if (!b) {
		if (!hs_find(p, m->u.hs.parent) && m->h.seq > p->exec_height) {
			/* its parent from each sender once (the orphan timer asks again):
			 * asking per copy made a fetch storm, each answer one more copy (twins
			 * answering for one id; a replica on another branch, planted bug) */
			struct hs_orphan *o = keep_orphan(p, m, from);
			if (o && from != p->cfg.id && from < 32 && !(o->asked & (1u << from))) {
				o->asked |= 1u << from;
				hs_fetch(p, m->u.hs.parent, (int32_t)from, out);
			}
			p->fetch_ms = p->now_ms + p->cfg.view_timeout_ms / 4 + 1;
			hs_check_gap(p, m->h.seq, out); /* beyond what peers keep? */
		}
		return;
	}
	update_from(p, m, out);
	b = hs_find(p, b->hash); /* a commit may have pruned it */
	if (b)
		vote(p, b, out);
	hs_adopt_orphans(p, out);
	hs_try_propose(p, out);
}

/* Replicas (not us) whose latest NEW-VIEW is for view v exactly. */
static uint32_t count_at(const struct hs *p, uint64_t v)
{
	uint32_t k = 0;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		k += r != p->cfg.id && p->nv_of[r] == v;
	return k;
}

void hs_on_newview(struct hs *p, const struct msg *m, struct effects *out)
{
	hs_update_qc(p, &m->u.hs.qc, out);
	send_commit_proof(p, m, out);
	uint64_t v = m->h.view;
	if (v > p->nv_of[m->h.sender])
		p->nv_of[m->h.sender] = v;
	/* View synchronisation (as PBFT §4.5.2's f+1 rule): f+1 replicas timed out into
	 * views above ours, so at least one correct one did: join the lowest of them. */
	uint64_t above[WIRE_MAX_REPLICAS];
	uint32_t k = 0;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		if (r != p->cfg.id && p->nv_of[r] > p->view)
			above[k++] = p->nv_of[r];
	if (k >= p->cfg.f + 1) {
		uint64_t join = UINT64_MAX;
		for (uint32_t i = 0; i < k; i++) { /* the (f+1)-th highest */
			uint32_t higher = 0;
			for (uint32_t j = 0; j < k; j++)
				higher += above[j] > above[i];
			if (higher <= p->cfg.f && above[i] < join)
				join = above[i];
		}
		p->view = join;
		p->progress_ms = p->now_ms;
		hs_send_newview(p, out);
	} else if (k + count_at(p, p->view) >= p->cfg.f + 1 && !hs_work_pending(p) &&
		   (p->nv_sent_view < p->view ||
		    p->now_ms >= p->nv_sent_ms + p->cfg.view_timeout_ms)) {
		/* Timeout amplification (DiemBFT v4's pacemaker: f+1 timeouts for a round
		 * make a replica time out too).  f+1 replicas, so a correct one, are in our
		 * view or above and still have work; we have none, so our timer is off and
		 * without us their leader never sees 2f+1 NEW-VIEWs.  Join them; at most
		 * once per view timeout.  Views and NEW-VIEWs decide nothing (safety rests on
		 * votes, the lock and QCs). */
		hs_send_newview(p, out);
	}
	hs_try_propose(p, out);
}

void hs_on_request(struct hs *p, const struct msg *m, struct effects *out)
{
	uint32_t c = m->h.sender;
	uint64_t ts = m->u.req.timestamp;
	int verdict = exec_classify(&p->exec, c, ts);
	if (verdict == EXEC_CACHED) { /* a retransmission: every replica answers */
		const uint8_t *res;
		uint32_t len;
		exec_request(&p->exec, m, &res, &len);
		send_reply(p, c, ts, res, len, out);
		return;
	}
	if (verdict != EXEC_NEW)
		return;
	const struct waiting *w = waitq_get(&p->wq, c);
	if (w && w->ts >= ts && w->raw)
		return;
	waitq_push(&p->wq, m);
	hs_try_propose(p, out);
}

/* Which requests the chain from b down to the executed block already holds. */
static void mark_chain(struct hs *p, const struct hs_block *b)
{
	memset(p->chain_ts, 0, p->cfg.max_clients * sizeof(*p->chain_ts));
	for (; b && b->height > p->exec_height; b = parent_of(p, b)) {
		struct body_preprepare pp;
		if (wire_decode_batch(b->raw + b->batch_off, b->batch_len, p->cfg.cluster_id,
				      &pp) != WIRE_OK)
			continue;
		for (uint16_t i = 0; i < pp.count; i++) {
			struct msg req;
			if (wire_decode(pp.req[i], pp.req_len[i], p->cfg.cluster_id, &req) ==
				    WIRE_OK &&
			    req.h.sender < p->cfg.max_clients &&
			    req.u.req.timestamp > p->chain_ts[req.h.sender])
				p->chain_ts[req.h.sender] = req.u.req.timestamp;
		}
	}
}

static uint16_t take_batch(struct hs *p)
{
	uint16_t count = 0;
	uint64_t bytes = 2;
	int64_t c;
	while (count < p->cfg.batch_max && (c = waitq_head(&p->wq)) >= 0) {
		const struct waiting *w = &p->wq.ent[c];
		if (exec_classify(&p->exec, (uint32_t)c, w->ts) == EXEC_NEW &&
		    w->ts > p->chain_ts[c]) {
			if (count > 0 && bytes + 4 + w->len > ((uint64_t)256 << 10))
				break;
			p->batch_req[count] = w->raw;
			p->batch_len[count] = w->len;
			p->batch_client[count] = (uint32_t)c;
			bytes += 4 + w->len;
			count++;
		}
		waitq_pop(&p->wq);
	}
	return count;
}

/* Does a block from b down to the executed one, or one of b's last three, hold
 * requests?  The others commit block h only when a proposal carries the QC of h+2: a
 * leader that holds that QC proposes (an empty block if need be) so they do. */
static bool tail_has_requests(struct hs *p, const struct hs_block *b)
{
	if (chain_has_requests_from(p, b))
		return true;
	for (int i = 0; i < 3 && b; i++, b = parent_of(p, b))
		if (b->count > 0)
			return true;
	return false;
}

/* 2f+1 NEW-VIEWs for our view (ours included): the others want a proposal, work or
 * not. */
static bool summoned(const struct hs *p)
{
	uint32_t count = 1;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		count += r != p->cfg.id && p->nv_of[r] == p->view;
	return count >= hs_quorum(p);
}

static bool ready_to_propose(struct hs *p)
{
	uint64_t v = p->view;
	if (hs_leader(p, v) != p->cfg.id || v <= p->proposed_view || v <= p->voted_view)
		return false;
	return p->high_qc.view + 1 == v || summoned(p); /* QC of v-1: the happy path */
}

void hs_try_propose(struct hs *p, struct effects *out)
{
	if (!ready_to_propose(p))
		return;
	struct hs_block *parent = hs_find(p, p->high_qc.hash);
	if (!parent || parent->height < p->exec_height)
		return;
	if (p->wq.live == 0 && !tail_has_requests(p, parent) && !summoned(p))
		return; /* nothing to order: wait (the pacemaker is idle too) */
	mark_chain(p, parent);
	uint16_t count = take_batch(p);
	struct buf *a = &out->arena;
	size_t off = wire_begin(a, MSG_HS_PROPOSAL, p->cfg.cluster_id, p->cfg.id, p->view,
				parent->height + 1);
	buf_put(a, parent->hash, WIRE_DIGEST_LEN);
	wire_put_hs_qc(a, &p->high_qc);
	buf_put_u16(a, count);
	for (uint16_t i = 0; i < count; i++) {
		buf_put_u32(a, p->batch_len[i]);
		buf_put(a, p->batch_req[i], p->batch_len[i]);
	}
	wire_finish(a, off);
	for (uint16_t i = 0; i < count; i++)
		waitq_withdraw(&p->wq, p->batch_client[i]); /* copied into the block */
	auth_seal(p->cfg.auth, a, off);
	struct msg m;
	if (a->err || wire_decode(a->p + off, a->len - off, p->cfg.cluster_id, &m) != WIRE_OK)
		return;
	p->proposed_view = p->view;
	struct hs_block *b = hs_block_store(p, &m);
	CORE_ASSERT(b == NULL || b->height == parent->height + 1);
	if (!b)
		return;
	effects_send(out, TO_OTHERS, 0, off);
	uint64_t exec0 = p->exec_height;
	uint8_t hash[WIRE_DIGEST_LEN];
	memcpy(hash, b->hash, WIRE_DIGEST_LEN);
	lock_and_commit(p, parent, out); /* update(b*) on our own proposal */
	b = hs_find(p, hash);
	if (b && p->exec_height != exec0) /* the replies went to the arena: b's copy */
		keep_commit_proof(p, b->raw, b->raw_len, p->high_qc.view);
	if (b)
		vote(p, b, out); /* the leader votes for its own block */
}
