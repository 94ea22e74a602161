/* pbft_checkpoint.c - checkpoints, garbage collection (OSDI'99 §4.3) and state
 * transfer (TOCS'02 §6.2, simplified to whole snapshots sent in bounded chunks).
 *
 * Every checkpoint_interval executed sequence numbers a replica snapshots its state
 * and multicasts CHECKPOINT(seq, digest).  With 2f+1 matching CHECKPOINTs (its own
 * among them) the checkpoint is stable: the low watermark moves to seq and every log
 * record at or below it, and older snapshots, are discarded.  The 2f+1 signed
 * CHECKPOINTs are kept as the proof (C) that view changes and lagging replicas use.
 * A replica that learns of a proven checkpoint far ahead of its own execution fetches
 * that snapshot from a peer, checks it against the proven digest, and installs it.
 * A CHECKPOINT certifies the snapshot's size with its digest (docs/PROTOCOL.md §5.3):
 * votes match on both, and a transfer takes no other size from the peer serving it.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/pbft.h"

void pbft_ckpt_clear(struct ckpt_votes *c)
{
	for (int i = 0; i < WIRE_MAX_REPLICAS; i++)
		pbft_vote_clear(&c->from[i]);
	free(c->snap);
	memset(c, 0, sizeof(*c));
}

static struct ckpt_votes *ckpt_entry(struct pbft *p, uint64_t seq)
{
	if (seq % p->cfg.checkpoint_interval != 0 || !pbft_in_window(p, seq))
		return NULL;
	struct ckpt_votes *c = &p->ckpts[(seq / p->cfg.checkpoint_interval) % p->n_ckpts];
	/* n_ckpts covers the window: an entry for another number is at or below low */
	CORE_ASSERT(c->seq == seq || c->seq <= p->low);
	if (c->seq != seq) {
		pbft_ckpt_clear(c);
		c->seq = seq;
	}
	return c;
}

/* Does CHECKPOINT vote v certify (digest, size)? */
static bool ckpt_vote_is(const struct vote *v, const uint8_t *digest, uint64_t size)
{
	return v->have && v->size == size && memcmp(v->digest, digest, WIRE_DIGEST_LEN) == 0;
}

/* CHECKPOINT votes (v->view == key) that certify (digest, size). */
static unsigned count_ckpt_votes(const struct vote *v, uint32_t n, uint64_t key,
				 const uint8_t *digest, uint64_t size)
{
	CORE_ASSERT(n <= WIRE_MAX_REPLICAS);
	unsigned count = 0;
	for (uint32_t i = 0; i < n; i++)
		count += v[i].view == key && ckpt_vote_is(&v[i], digest, size);
	CORE_ASSERT(count <= n);
	return count;
}

/* Encode the proof C: n u16, n x (len u32, sealed CHECKPOINT) for the votes that
 * certify (digest, size).  Returns 0, or -1 if fewer than 2f+1 carry their message. */
static int build_proof(struct pbft *p, const struct vote *votes, const uint8_t *digest,
		       uint64_t size, struct buf *b)
{
	buf_reset(b);
	buf_put_u16(b, 0);
	uint16_t count = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		const struct vote *v = &votes[i];
		if (!v->raw || !ckpt_vote_is(v, digest, size))
			continue;
		buf_put_u32(b, v->raw_len);
		buf_put(b, v->raw, v->raw_len);
		count++;
	}
	if (b->err || count < 2 * p->cfg.f + 1)
		return -1;
	set_u16(b->p, count);
	return 0;
}

int pbft_check_ckpt_proof(struct pbft *p, const uint8_t *proof, size_t len, uint64_t seq,
			  uint8_t digest[WIRE_DIGEST_LEN], uint64_t *size)
{
	struct cursor c;
	cur_init(&c, proof, len);
	uint16_t n = cur_u16(&c);
	uint32_t seen = 0;
	if (!c.ok || n < 2 * p->cfg.f + 1 || n > p->cfg.n)
		return -1;
	for (uint16_t i = 0; i < n; i++) {
		uint32_t l = cur_u32(&c);
		const uint8_t *raw = cur_bytes(&c, l);
		struct msg m;
		if (!raw || wire_decode(raw, l, p->cfg.cluster_id, &m) != WIRE_OK ||
		    m.h.type != MSG_CHECKPOINT || m.h.seq != seq || m.h.sender >= p->cfg.n ||
		    (seen & (1u << m.h.sender)))
			return -1;
		if (i == 0) {
			memcpy(digest, m.u.dg.digest, WIRE_DIGEST_LEN);
			*size = m.u.dg.size;
		} else if (memcmp(digest, m.u.dg.digest, WIRE_DIGEST_LEN) != 0 ||
			   *size != m.u.dg.size) {
			return -1;
		}
		seen |= 1u << m.h.sender;
	}
	return c.ok && c.off == len ? 0 : -1;
}

static void collect_garbage(struct pbft *p, struct effects *out)
{
	CORE_ASSERT(p->ckpt_proof != NULL && p->stable_snap != NULL);
	for (uint32_t i = 0; i < p->cfg.window; i++)
		if (p->slots[i].seq && p->slots[i].seq <= p->low)
			pbft_slot_clear(&p->slots[i]);
	for (uint32_t i = 0; i < p->n_ckpts; i++)
		if (p->ckpts[i].seq && p->ckpts[i].seq <= p->low)
			pbft_ckpt_clear(&p->ckpts[i]);
	pbft_persist_meta(p, out);
	effects_persist(out, P_PUT, REC_CKPT_PROOF, 0, p->ckpt_proof, p->ckpt_proof_len);
	effects_persist(out, P_DEL_BELOW, REC_SNAPSHOT, p->low, NULL, 0);
	effects_persist(out, P_DEL_BELOW, REC_PREPREPARE, p->low + 1, NULL, 0);
	effects_persist(out, P_DEL_BELOW, REC_PREPARED, p->low + 1, NULL, 0);
	effects_persist(out, P_DEL_BELOW, REC_COMMITTED, p->low + 1, NULL, 0);
}

/* Move the low watermark to seq, whose snapshot (owned, handed over) and proof we have. */
static void make_stable(struct pbft *p, uint64_t seq, const uint8_t *digest, uint8_t *snap,
			uint32_t snap_len, const uint8_t *proof, uint32_t proof_len,
			struct effects *out)
{
	/* the low watermark only moves up, to a checkpoint we executed to */
	CORE_ASSERT(seq > p->low && seq <= p->last_executed && snap != NULL);
	CORE_ASSERT(seq % p->cfg.checkpoint_interval == 0 || seq == p->last_executed);
	uint8_t *proof_copy = core_dup(proof, proof_len);
	if (!proof_copy) {
		free(snap);
		return;
	}
	free(p->ckpt_proof);
	p->ckpt_proof = proof_copy;
	p->ckpt_proof_len = proof_len;
	free(p->stable_snap);
	p->stable_snap = snap;
	p->stable_snap_len = snap_len;
	p->low = seq;
	memcpy(p->stable_digest, digest, WIRE_DIGEST_LEN);
	collect_garbage(p, out);
	CORE_ASSERT(p->low == seq && p->last_executed <= p->low + p->cfg.window);
	pbft_try_propose(p, out); /* the window moved */
}

static void check_stable(struct pbft *p, struct ckpt_votes *c, struct effects *out)
{
	if (!c->mine || c->seq <= p->low)
		return;
	if (count_ckpt_votes(c->from, p->cfg.n, 0, c->own, c->own_size) < 2 * p->cfg.f + 1)
		return;
	if (build_proof(p, c->from, c->own, c->own_size, &p->scratch) != 0)
		return;
	CORE_ASSERT(c->seq <= p->last_executed && c->snap != NULL);
	uint8_t *snap = c->snap; /* handed over to the stable state */
	c->snap = NULL;
	make_stable(p, c->seq, c->own, snap, c->snap_len, p->scratch.p, (uint32_t)p->scratch.len,
		    out);
}

/* Our CHECKPOINT for seq (raw, sealed) as our vote in c and our latest. */
static void set_own_vote(struct pbft *p, struct ckpt_votes *c, uint64_t seq, const uint8_t *raw,
			 uint32_t len)
{
	pbft_vote_set(&c->from[p->cfg.id], 0, c->own, raw, len);
	c->from[p->cfg.id].size = c->own_size;
	pbft_vote_set(&p->latest_ckpt[p->cfg.id], seq, c->own, raw, len);
	p->latest_ckpt[p->cfg.id].size = c->own_size;
}

void pbft_take_checkpoint(struct pbft *p, struct effects *out)
{
	uint64_t seq = p->last_executed;
	CORE_ASSERT(seq % p->cfg.checkpoint_interval == 0 && seq > 0);
	struct ckpt_votes *c = ckpt_entry(p, seq);
	if (!c)
		return;
	buf_reset(&p->scratch);
	exec_snapshot(&p->exec, &p->scratch);
	if (p->scratch.err)
		return;
	c->mine = true;
	crypto_digest(p->scratch.p, p->scratch.len, c->own);
	c->own_size = p->scratch.len;
	free(c->snap);
	c->snap = core_dup(p->scratch.p, p->scratch.len);
	c->snap_len = c->snap ? (uint32_t)p->scratch.len : 0;
	effects_persist(out, P_PUT, REC_SNAPSHOT, seq, p->scratch.p, p->scratch.len);
	size_t off = wire_put_checkpoint(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view, seq,
					 c->own, c->own_size);
	pbft_send(p, out, TO_OTHERS, off);
	if (out->arena.err)
		return;
	set_own_vote(p, c, seq, out->arena.p + off, (uint32_t)(out->arena.len - off));
	check_stable(p, c, out);
}

/* A checkpoint that 2f+1 replicas proved: seq, its digest, and the votes holding the
 * CHECKPOINTs that make its proof. */
struct proven {
	uint64_t seq;
	const uint8_t *digest;
	uint64_t size;
	const struct vote *votes; /* n of them */
};

/* The newest checkpoint above `above` that 2f+1 replicas proved, from two sources:
 * each replica's newest CHECKPOINT (latest_ckpt; its view field holds seq), and the
 * CHECKPOINTs kept for the checkpoints in our window (ckpts).  The second holds a
 * relayed proof (pbft_send_stable_proof) whose senders have since sent newer,
 * unproven CHECKPOINTs.  Returns false if there is none. */
static bool proven_above(const struct pbft *p, uint64_t above, struct proven *best)
{
	uint32_t quorum = 2 * p->cfg.f + 1;
	best->seq = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		const struct vote *v = &p->latest_ckpt[i];
		if (v->have && v->view > above && v->view > best->seq &&
		    count_ckpt_votes(p->latest_ckpt, p->cfg.n, v->view, v->digest, v->size) >=
			    quorum)
			*best = (struct proven){v->view, v->digest, v->size, p->latest_ckpt};
	}
	for (uint32_t k = 0; k < p->n_ckpts; k++) {
		const struct ckpt_votes *c = &p->ckpts[k];
		if (c->seq <= above || c->seq <= best->seq)
			continue;
		for (uint32_t i = 0; i < p->cfg.n; i++) {
			const struct vote *v = &c->from[i];
			if (v->have &&
			    count_ckpt_votes(c->from, p->cfg.n, 0, v->digest, v->size) >= quorum) {
				*best = (struct proven){c->seq, v->digest, v->size, c->from};
				break;
			}
		}
	}
	return best->seq != 0;
}

static void fetch_proven(struct pbft *p, const struct proven *pr, struct effects *out)
{
	struct buf proof;
	buf_init(&proof);
	if (build_proof(p, pr->votes, pr->digest, pr->size, &proof) == 0)
		pbft_want_state(p, pr->seq, pr->digest, pr->size, proof.p, (uint32_t)proof.len,
				out);
	buf_free(&proof);
}

/* Behind a proven checkpoint?  By a checkpoint interval or more: fetch its state now.
 * By less, the slots in between usually still come (or are being re-sent).  Either
 * way a watchdog runs while we are behind (pbft_stall_tick): after a view timeout in
 * which we executed nothing and received no state, fetch the newest proven checkpoint
 * again, from the next peer.  An idle cluster sends a laggard nothing by itself, and a
 * transfer can stall for good: its peers may have moved to a newer checkpoint and
 * serve only that one. */
uint64_t pbft_progress_mark(const struct pbft *p)
{
	return p->last_executed + p->xfer.s.seq + p->xfer.s.have;
}

static void check_behind(struct pbft *p, struct effects *out)
{
	struct proven pr;
	if (!proven_above(p, p->last_executed, &pr)) {
		p->stall_ms = 0;
		return;
	}
	if (pr.seq >= p->last_executed + p->cfg.checkpoint_interval && pr.seq > p->xfer.s.seq)
		fetch_proven(p, &pr, out);
	if (!p->stall_ms) {
		p->stall_ms = p->now_ms + p->cfg.view_timeout_ms;
		p->stall_at = pbft_progress_mark(p);
	}
}

void pbft_stall_tick(struct pbft *p, struct effects *out)
{
	if (!p->stall_ms || p->now_ms < p->stall_ms)
		return;
	p->stall_ms = 0;
	struct proven pr;
	if (proven_above(p, p->last_executed, &pr) && pbft_progress_mark(p) == p->stall_at) {
		if (p->xfer.s.seq >= pr.seq)
			pbft_xfer_restart(p, out); /* stuck on its way there */
		else
			fetch_proven(p, &pr, out);
	}
	check_behind(p, out); /* still behind: watch again */
}

/* Relay the 2f+1 signed CHECKPOINTs that prove our stable checkpoint to replica `to`:
 * each verifies on its own, whoever forwards it. */
void pbft_send_stable_proof(struct pbft *p, uint32_t to, struct effects *out)
{
	if (!p->ckpt_proof ||
	    (p->proof_sent_ms[to] && p->now_ms < p->proof_sent_ms[to] + p->cfg.view_timeout_ms))
		return; /* rate-limited: once per view timeout and peer */
	p->proof_sent_ms[to] = p->now_ms ? p->now_ms : 1;
	struct cursor c;
	cur_init(&c, p->ckpt_proof, p->ckpt_proof_len);
	uint16_t n = cur_u16(&c);
	for (uint16_t i = 0; c.ok && i < n; i++) {
		uint32_t len = cur_u32(&c);
		const uint8_t *raw = cur_bytes(&c, len);
		if (!raw)
			return;
		size_t off = out->arena.len;
		buf_put(&out->arena, raw, len);
		effects_send(out, (int32_t)to, 0, off);
	}
}

void pbft_on_checkpoint(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (m->h.sender == p->cfg.id)
		return;
	struct vote *latest = &p->latest_ckpt[m->h.sender];
	if (!latest->have || m->h.seq > latest->view) {
		pbft_vote_set(latest, m->h.seq, m->u.dg.digest, m->raw, (uint32_t)m->raw_len);
		latest->size = m->u.dg.size;
	}
	if (m->h.seq < p->low) {
		/* The sender is a checkpoint or more behind and may not know it: the
		 * CHECKPOINTs of ours may have been lost on the way (send queues drop), and
		 * an idle cluster sends nothing else.  Tell it. */
		pbft_send_stable_proof(p, m->h.sender, out);
		return;
	}
	if (m->h.seq == p->low)
		return; /* already stable here: nothing to learn */
	struct ckpt_votes *c = ckpt_entry(p, m->h.seq);
	if (c) {
		struct vote *v = &c->from[m->h.sender];
		if (v->have && !ckpt_vote_is(v, m->u.dg.digest, m->u.dg.size)) {
			p->rejected_conflict++;
			return;
		}
		if (!v->have) {
			pbft_vote_set(v, 0, m->u.dg.digest, m->raw, (uint32_t)m->raw_len);
			v->size = m->u.dg.size;
			check_stable(p, c, out);
		}
	} else if (m->h.seq % p->cfg.checkpoint_interval != 0) {
		p->rejected_out_of_window++;
	}
	check_behind(p, out);
}

/* A proof of 2f+1 CHECKPOINTs for seq (from a NEW-VIEW) says seq is stable.  Nothing
 * retransmits CHECKPOINT messages, so a replica that lost some of them would keep its
 * low watermark - and its window - stuck for good: if we executed seq ourselves and our
 * own checkpoint there matches, adopt the proof; if we are behind, fetch the state. */
void pbft_learn_stable(struct pbft *p, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		       uint64_t size, const uint8_t *proof, uint32_t proof_len, struct effects *out)
{
	if (seq <= p->low)
		return;
	if (seq > p->last_executed) {
		pbft_want_state(p, seq, digest, size, proof, proof_len, out);
		return;
	}
	if (seq % p->cfg.checkpoint_interval != 0 || !pbft_in_window(p, seq))
		return;
	struct ckpt_votes *c = &p->ckpts[(seq / p->cfg.checkpoint_interval) % p->n_ckpts];
	if (c->seq != seq || !c->mine || !c->snap || c->own_size != size ||
	    memcmp(c->own, digest, WIRE_DIGEST_LEN) != 0)
		return;
	uint8_t *snap = c->snap; /* handed over to the stable state */
	c->snap = NULL;
	make_stable(p, seq, digest, snap, c->snap_len, proof, proof_len, out);
}

/* Our CHECKPOINTs above the low watermark are re-sent while they are not stable (see
 * "retransmission" in pbft_normal.c): with one lost, and a silent liar, 2f+1 matching
 * ones may never meet anywhere, no proof exists, and every window fills up for good. */
bool pbft_own_ckpt_pending(const struct pbft *p)
{
	for (uint32_t i = 0; i < p->n_ckpts; i++) {
		const struct ckpt_votes *c = &p->ckpts[i];
		if (c->seq > p->low && c->mine && c->from[p->cfg.id].raw)
			return true;
	}
	return false;
}

void pbft_resend_checkpoints(struct pbft *p, struct effects *out)
{
	for (uint32_t i = 0; i < p->n_ckpts; i++) {
		const struct vote *v = &p->ckpts[i].from[p->cfg.id];
		if (p->ckpts[i].seq > p->low && p->ckpts[i].mine && v->raw) {
			size_t off = out->arena.len;
			buf_put(&out->arena, v->raw, v->raw_len);
			effects_send(out, TO_OTHERS, 0, off);
		}
	}
}

/* Recovery: a snapshot above the stable checkpoint is a checkpoint we took - and whose
 * CHECKPOINT we sent - before the crash.  Take it back, with our vote, so that it can
 * still become stable here (by the others' CHECKPOINTs or a NEW-VIEW's proof);
 * otherwise our low watermark, and so our window, would stay where it was for good. */
void pbft_recover_checkpoint(struct pbft *p, uint64_t seq, const uint8_t *snap, size_t len)
{
	struct ckpt_votes *c = ckpt_entry(p, seq);
	if (!c)
		return;
	free(c->snap);
	c->snap = core_dup(snap, len);
	if (!c->snap)
		return;
	c->snap_len = (uint32_t)len;
	c->mine = true;
	crypto_digest(snap, len, c->own);
	c->own_size = len;
	buf_reset(&p->scratch);
	size_t off = wire_put_checkpoint(&p->scratch, p->cfg.cluster_id, p->cfg.id, p->view, seq,
					 c->own, c->own_size);
	auth_seal(p->cfg.auth, &p->scratch, off);
	if (p->scratch.err)
		return;
	set_own_vote(p, c, seq, p->scratch.p, (uint32_t)p->scratch.len);
}

/* ---- state transfer ---- */

static uint32_t next_peer(const struct pbft *p, uint32_t peer)
{
	peer = (peer + 1) % p->cfg.n;
	return peer == p->cfg.id ? (peer + 1) % p->cfg.n : peer;
}

static void ask_state(struct pbft *p, struct effects *out)
{
	size_t off = snapxfer_put_ask(&p->xfer.s, &out->arena, p->cfg.cluster_id, p->cfg.id,
				      p->view);
	pbft_send(p, out, (int32_t)p->xfer.s.peer, off);
	p->xfer.s.retry_ms = p->now_ms + p->cfg.view_timeout_ms;
}

void pbft_want_state(struct pbft *p, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		     uint64_t size, const uint8_t *proof, uint32_t proof_len, struct effects *out)
{
	if (seq <= p->xfer.s.seq || seq <= p->last_executed || size > PBFT_MAX_SNAPSHOT)
		return;
	uint8_t *copy = core_dup(proof, proof_len);
	if (!copy)
		return;
	free(p->xfer.proof);
	uint32_t peer = p->xfer.s.seq ? p->xfer.s.peer : p->cfg.id;
	CORE_ASSERT(seq > p->last_executed && seq > p->low);
	snapxfer_start(&p->xfer.s, seq, digest, size, next_peer(p, peer));
	p->xfer.proof = copy;
	p->xfer.proof_len = proof_len;
	ask_state(p, out);
}

void pbft_on_fetch_state(struct pbft *p, const struct msg *m, struct effects *out)
{
	/* Asked for an older checkpoint than ours: we no longer have its state, but the
	 * asker can fetch ours once it knows it is proven. */
	if (m->h.seq < p->low) {
		pbft_send_stable_proof(p, m->h.sender, out);
		return;
	}
	if (m->h.seq != p->low || !p->stable_snap_len || m->u.offset >= p->stable_snap_len ||
	    m->h.sender >= p->cfg.n)
		return; /* we only serve our stable checkpoint */
	/* ~100 bytes asked, up to a chunk answered: a few copies of the snapshot per
	 * view timeout and asker (PBFT_STATE_COPIES), one chunk per answer */
	if (!budget_take(&p->state_budget[m->h.sender], p->now_ms,
			 PBFT_STATE_COPIES * snapxfer_chunks(p->stable_snap_len),
			 p->cfg.view_timeout_ms, 1)) {
		p->rejected_rate_limited++;
		return;
	}
	size_t off = snapxfer_put_chunk(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view, p->low,
					p->stable_snap, p->stable_snap_len, m->u.offset);
	pbft_send(p, out, (int32_t)m->h.sender, off);
}

static void xfer_reset(struct pbft *p)
{
	free(p->xfer.proof);
	snapxfer_reset(&p->xfer.s);
	memset(&p->xfer, 0, sizeof(p->xfer));
}

/* The snapshot is complete and matches the proven digest: adopt it. */
static void install_state(struct pbft *p, struct effects *out)
{
	struct state_xfer *x = &p->xfer;
	struct snapxfer *s = &x->s;
	/* only a snapshot ahead of our execution, complete, is installed */
	CORE_ASSERT(s->seq > p->last_executed && s->buf && s->have == s->total);
	if (exec_restore(&p->exec, s->buf, s->total) != 0) {
		p->rejected_conflict++;
		xfer_reset(p);
		return;
	}
	p->last_executed = s->seq;
	if (p->next_seq < s->seq)
		p->next_seq = s->seq;
	CORE_ASSERT(p->next_seq >= p->last_executed);
	effects_persist(out, P_PUT, REC_SNAPSHOT, s->seq, s->buf, s->total);
	waitq_prune(&p->wq, &p->exec);
	pbft_robust_prune(p); /* what the state executed is not the primary's debt */
	uint8_t *snap = s->buf;
	s->buf = NULL;
	if (s->seq > p->low) {
		make_stable(p, s->seq, s->digest, snap, (uint32_t)s->total, x->proof, x->proof_len,
			    out);
		/* Say where we now stand (the snapshot is persisted above, before this
		 * leaves): peers that moved on meanwhile answer with their newer proof
		 * (pbft_on_checkpoint), where an idle cluster would otherwise tell us
		 * nothing more. */
		size_t off = wire_put_checkpoint(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view,
						 s->seq, s->digest, s->total);
		pbft_send(p, out, TO_OTHERS, off);
		/* the window moved: O entries of our view it left out (§4.4) */
		pbft_install_newview_rest(p, out);
	} else {
		free(snap);
	}
	xfer_reset(p);
	pbft_try_execute(p, out, false);
}

/* The peer we asked lied (its snapshot is not the one 2f+1 replicas vouched for, or
 * not of the size they certified): ask the next one, from the start. */
static void xfer_next_peer(struct pbft *p, struct effects *out)
{
	p->rejected_conflict++;
	snapxfer_restart(&p->xfer.s, next_peer(p, p->xfer.s.peer));
	ask_state(p, out);
}

void pbft_on_state(struct pbft *p, const struct msg *m, struct effects *out)
{
	const struct snapxfer *s = &p->xfer.s;
	if (!s->seq || m->h.seq != s->seq || m->h.sender != s->peer || m->u.st.offset != s->have)
		return;
	if (p->last_executed >= s->seq) {
		xfer_reset(p); /* caught up by ourselves meanwhile */
		return;
	}
	/* The proof certifies the size and the digest: snapxfer_take() takes nothing
	 * else, nor allocates it. */
	switch (snapxfer_take(&p->xfer.s, m)) {
	case SNAPXFER_MORE: ask_state(p, out); break;
	case SNAPXFER_DONE: install_state(p, out); break;
	case SNAPXFER_BAD: xfer_next_peer(p, out); break;
	default: break;
	}
}

void pbft_xfer_tick(struct pbft *p, struct effects *out)
{
	struct snapxfer *s = &p->xfer.s;
	if (!s->seq || p->now_ms < s->retry_ms)
		return;
	if (p->last_executed >= s->seq) {
		xfer_reset(p);
		return;
	}
	pbft_xfer_restart(p, out); /* silent or slow: ask another */
}

/* Start the transfer in progress again, from the next peer. */
void pbft_xfer_restart(struct pbft *p, struct effects *out)
{
	snapxfer_restart(&p->xfer.s, next_peer(p, p->xfer.s.peer));
	ask_state(p, out);
}
