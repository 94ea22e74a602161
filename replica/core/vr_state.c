/* vr_state.c - checkpoints, state transfer (VRR §5.2 with snapshots) and recovery
 * (VRR §4.3, adapted to a log on disk).
 *
 * Checkpoints: a replica snapshots its state every checkpoint_interval executed
 * op-numbers (or once VR_CKPT_BYTES of batches executed since the last one), persists
 * the snapshot and drops the log at or below it, so the store stops growing.  There is
 * no agreement on checkpoints: they are local, as in VRR §5.1.
 *
 * State transfer: GET-STATE(v, n = what we have) goes to one replica (the primary
 * first, then the others in turn, one every view_timeout_ms/2).  It answers
 * NEW-STATE with either
 *   - the log entries n+1 .. its op-number, if it is normal in view v and n >= its lo
 *     (a log is only vouched for within its view), or
 *   - a chunk of the snapshot at its checkpoint, if n is below it (any view, any
 *     status: a checkpoint holds committed state only), WIRE_STATE_CHUNK at a time.
 * The requester installs the snapshot, then asks again for the entries above it.
 *
 * Recovery: records are reloaded by recover() (vr.c).  The log on disk is what the
 * replica promised (persist before you speak), so it rejoins at once; it broadcasts
 * RECOVERY, and every replica answers RECOVERY-RESPONSE(view, op, commit, status):
 * a newer view is caught up with (vr_saw_normal_view), the primary's answer counts as
 * a heartbeat.  Nothing else waits for the answers.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/vr.h"

/* ---- checkpoints ---- */

void vr_take_checkpoint(struct vr *p, struct effects *out)
{
	uint64_t seq = p->last_executed;
	CORE_ASSERT(seq >= p->ckpt); /* checkpoints only move forward */
	buf_reset(&p->scratch);
	exec_snapshot(&p->exec, &p->scratch);
	/* A state too large for one step is not checkpointed now (the log goes on
	 * growing up to its window); the byte counter restarts so we do not retry at
	 * every op. */
	if (p->scratch.err || p->scratch.len > VR_SNAP_MAX || !vr_room(out, p->scratch.len)) {
		p->exec_bytes = 0;
		return;
	}
	uint8_t *copy = core_dup(p->scratch.p, p->scratch.len);
	if (!copy)
		return;
	vr_keep_snapshot(p, seq, copy, p->scratch.len);
	effects_persist(out, P_PUT, VR_REC_SNAPSHOT, seq, copy, p->ckpt_snap_len);
	effects_persist(out, P_DEL_BELOW, VR_REC_SNAPSHOT, seq, NULL, 0);
	effects_persist(out, P_DEL_BELOW, VR_REC_ENTRY, seq + 1, NULL, 0);
	if (seq > p->lo)
		vr_log_forget_upto(p, seq); /* recovery: lo = max(meta lo, snapshot) */
	CORE_ASSERT(p->ckpt == seq && p->ckpt <= p->lo);
}

/* ---- state transfer: the requester ---- */

void vr_xfer_reset(struct vr *p)
{
	free(p->xfer.buf);
	memset(&p->xfer, 0, sizeof(p->xfer));
}

void vr_xfer_hint(struct vr *p, uint32_t peer)
{
	if (peer < p->cfg.n && peer != p->cfg.id) {
		p->xfer.has_hint = true;
		p->xfer.hint = peer;
	}
}

static bool xfer_needed(const struct vr *p)
{
	return p->status == VR_NORMAL &&
	       (vr_in_hole(p) || vr_syncing(p) || (!vr_is_primary(p) && p->seen_op > p->op));
}

static uint32_t next_peer(const struct vr *p, uint32_t peer)
{
	peer = (peer + 1) % p->cfg.n;
	return peer == p->cfg.id ? (peer + 1) % p->cfg.n : peer;
}

static void send_get_state(struct vr *p, struct effects *out)
{
	struct vr_xfer *x = &p->xfer;
	uint64_t from = vr_in_hole(p) ? p->last_executed : vr_syncing(p) ? p->commit : p->op;
	size_t off = wire_begin(&out->arena, MSG_VR_GET_STATE, p->cfg.cluster_id, p->cfg.id,
				p->view, from);
	buf_put_u64(&out->arena, x->ckpt);
	buf_put_u64(&out->arena, x->have);
	wire_finish(&out->arena, off);
	vr_send(p, out, (int32_t)x->peer, off);
	x->retry_ms = p->now_ms + p->cfg.view_timeout_ms / 2;
}

static void drop_snapshot(struct vr_xfer *x)
{
	free(x->buf);
	x->buf = NULL;
	x->ckpt = x->total = x->have = 0;
}

/* Start fetching if we are behind (and not fetching already). */
void vr_xfer_kick(struct vr *p, struct effects *out)
{
	struct vr_xfer *x = &p->xfer;
	if (!xfer_needed(p)) {
		if (x->active)
			vr_xfer_reset(p);
		return;
	}
	if (x->active)
		return;
	x->active = true;
	if (x->has_hint)
		x->peer = x->hint;
	else if (!vr_is_primary(p))
		x->peer = vr_primary(p, p->view);
	else
		x->peer = next_peer(p, p->cfg.id);
	send_get_state(p, out);
}

void vr_xfer_tick(struct vr *p, struct effects *out)
{
	struct vr_xfer *x = &p->xfer;
	if (!x->active)
		return;
	if (!xfer_needed(p)) {
		vr_xfer_reset(p);
		return;
	}
	if (p->now_ms < x->retry_ms)
		return;
	x->peer = next_peer(p, x->peer); /* silent, slow or unable: ask another */
	drop_snapshot(x);
	send_get_state(p, out);
}

/* Adopt a complete snapshot taken at op-number seq (buf is handed over). */
static bool install_snapshot(struct vr *p, uint64_t seq, uint8_t *buf, uint64_t len,
			     struct effects *out)
{
	bool primary = p->status == VR_NORMAL && vr_is_primary(p);
	if (seq <= p->last_executed || (primary && seq > p->op) || !vr_room(out, len) ||
	    exec_restore(&p->exec, buf, len) != 0) {
		free(buf);
		return false;
	}
	vr_keep_snapshot(p, seq, buf, len);
	p->last_executed = seq;
	effects_persist(out, P_PUT, VR_REC_SNAPSHOT, seq, buf, len);
	effects_persist(out, P_DEL_BELOW, VR_REC_SNAPSHOT, seq, NULL, 0);
	effects_persist(out, P_DEL_BELOW, VR_REC_ENTRY, seq + 1, NULL, 0);
	vr_log_forget_upto(p, seq);
	waitq_prune(&p->wq, &p->exec);
	CORE_ASSERT(p->ckpt == seq && p->last_executed == seq && p->lo >= seq);
	CORE_ASSERT(p->commit <= p->op);
	return true;
}

static void on_chunk(struct vr *p, const struct msg *m, struct effects *out)
{
	struct vr_xfer *x = &p->xfer;
	const struct body_vr *b = &m->u.vr;
	if (b->ckpt <= p->last_executed || b->total > VR_SNAP_MAX)
		return; /* no use to us: the retry asks someone else */
	if (x->ckpt != b->ckpt) {
		if (b->offset != 0)
			return;
		drop_snapshot(x);
		x->ckpt = b->ckpt;
		x->total = b->total;
	}
	if (b->offset != x->have || b->total != x->total)
		return;
	uint8_t *grown = realloc(x->buf, x->have + b->chunk_len + 1);
	if (!grown)
		return;
	x->buf = grown;
	memcpy(x->buf + x->have, b->chunk, b->chunk_len);
	x->have += b->chunk_len;
	CORE_ASSERT(x->have <= x->total || x->total == 0);
	if (x->have < x->total) {
		send_get_state(p, out);
		return;
	}
	uint8_t *snap = x->buf;
	uint64_t seq = x->ckpt, len = x->total;
	x->buf = NULL;
	drop_snapshot(x);
	if (!install_snapshot(p, seq, snap, len, out)) {
		p->rejected_conflict++; /* it does not restore: a bad peer */
		return;
	}
	vr_execute(p, out);
	if (xfer_needed(p))
		send_get_state(p, out); /* now the entries above the snapshot */
	else
		vr_xfer_reset(p);
}

/* Take the entries of a same-view NEW-STATE: below lo they fill a hole (committed:
 * executed at once, not logged); above op they extend the log (backups only: the
 * primary's log is the view's).  A syncing replica first drops its log above the
 * commit-number: the sender's, normal in this view, replaces it, and we are in sync.
 * Returns true if anything changed. */
static bool take_entries(struct vr *p, const struct msg *m, struct effects *out, bool *appended)
{
	struct cursor c;
	struct vr_log_entry e;
	uint64_t op = m->u.vr.lo;
	bool progress = false, backup = !vr_is_primary(p);
	if (vr_syncing(p)) {
		if (m->u.vr.lo > p->commit)
			return false; /* not contiguous with what we know is committed */
		vr_log_truncate(p, p->commit, out);
		p->last_normal = p->view;
		vr_persist_meta(p, out);
		progress = *appended = true;
	}
	wire_vr_entries_begin(m, &c);
	while (wire_vr_next_entry(&c, &e) > 0) {
		op++;
		if (op <= p->last_executed)
			continue;
		if (op <= p->lo) {
			if (op != p->last_executed + 1)
				break;
			vr_execute_batch(p, op, e.view, e.batch, e.len, out, false);
			progress = true;
		} else if (op <= p->op) {
			continue;
		} else if (backup && op == p->op + 1 && vr_log_fits(p, op, e.len) &&
			   vr_log_append(p, e.view, e.batch, e.len, out) == 0) {
			progress = *appended = true;
		} else {
			break;
		}
	}
	return progress;
}

void vr_on_new_state(struct vr *p, const struct msg *m, struct effects *out)
{
	struct vr_xfer *x = &p->xfer;
	if (!x->active || m->h.sender != x->peer)
		return; /* late, or unasked */
	if (m->u.vr.ckpt) {
		on_chunk(p, m, out);
		return;
	}
	if (m->h.view != p->view || p->status != VR_NORMAL) {
		if (m->h.view < p->view)
			p->rejected_old_view++;
		return;
	}
	bool appended = false;
	bool progress = take_entries(p, m, out, &appended);
	if (m->h.sender == vr_primary(p, p->view))
		p->seen_op = m->h.seq; /* the view's log ends there (for now) */
	else if (m->h.seq > p->seen_op)
		p->seen_op = m->h.seq;
	vr_learn_commit(p, m->u.vr.commit, out);
	vr_execute(p, out);
	if (appended)
		vr_send_prepare_ok(p, out);
	if (!xfer_needed(p))
		vr_xfer_reset(p);
	else if (progress)
		send_get_state(p, out);
}

/* ---- state transfer: the responder ---- */

static void serve_chunk(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t offset = m->u.vr.ckpt == p->ckpt ? m->u.vr.offset : 0;
	if (!p->ckpt_snap || offset > p->ckpt_snap_len)
		return;
	uint64_t left = p->ckpt_snap_len - offset;
	uint32_t len = left < WIRE_STATE_CHUNK ? (uint32_t)left : WIRE_STATE_CHUNK;
	struct buf *b = &out->arena;
	size_t off = wire_begin(b, MSG_VR_NEW_STATE, p->cfg.cluster_id, p->cfg.id, p->view, p->op);
	buf_put_u64(b, p->commit);
	buf_put_u64(b, p->ckpt);
	buf_put_u64(b, p->ckpt_snap_len);
	buf_put_u64(b, offset);
	buf_put_u32(b, len);
	buf_put(b, p->ckpt_snap + offset, len);
	buf_put_u64(b, p->ckpt); /* an empty log section */
	buf_put_u32(b, 0);
	wire_finish(b, off);
	vr_send(p, out, (int32_t)m->h.sender, off);
}

void vr_on_get_state(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t from = m->h.seq;
	if (from < p->ckpt) {
		serve_chunk(p, m, out);
		return;
	}
	if (p->status != VR_NORMAL || vr_syncing(p) || m->h.view != p->view || from < p->lo ||
	    from > p->op)
		return; /* we cannot vouch for a log of that view from there */
	struct buf *b = &out->arena;
	size_t off = wire_begin(b, MSG_VR_NEW_STATE, p->cfg.cluster_id, p->cfg.id, p->view, p->op);
	buf_put_u64(b, p->commit);
	buf_put_u64(b, 0); /* no snapshot: ckpt, total, offset, len */
	buf_put_u64(b, 0);
	buf_put_u64(b, 0);
	buf_put_u32(b, 0);
	vr_put_section(p, b, from);
	wire_finish(b, off);
	vr_send(p, out, (int32_t)m->h.sender, off);
}

/* ---- recovery ---- */

void vr_send_recovery(struct vr *p, struct effects *out)
{
	p->nonce = p->now_ms ? p->now_ms : 1;
	size_t off = wire_begin(&out->arena, MSG_VR_RECOVERY, p->cfg.cluster_id, p->cfg.id, p->view,
				p->op);
	buf_put_u64(&out->arena, p->nonce);
	wire_finish(&out->arena, off);
	vr_send(p, out, TO_OTHERS, off);
}

void vr_on_recovery(struct vr *p, const struct msg *m, struct effects *out)
{
	size_t off = wire_begin(&out->arena, MSG_VR_RECOVERY_RESPONSE, p->cfg.cluster_id, p->cfg.id,
				p->view, p->op);
	buf_put_u64(&out->arena, m->u.vr.nonce);
	buf_put_u64(&out->arena, p->commit);
	buf_put_u8(&out->arena, p->status);
	wire_finish(&out->arena, off);
	vr_send(p, out, (int32_t)m->h.sender, off);
}

void vr_on_recovery_response(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (!p->nonce || m->u.vr.nonce != p->nonce)
		return;
	if (m->u.vr.status == VR_VIEW_CHANGE) {
		vr_start_view_change(p, v, out); /* join it (no-op unless newer) */
		return;
	}
	vr_saw_normal_view(p, v, out);
	if (v != p->view || p->status != VR_NORMAL || vr_is_primary(p) ||
	    m->h.sender != vr_primary(p, v))
		return;
	/* The primary's answer tells what a heartbeat would. */
	p->last_heard_ms = p->now_ms;
	if (m->h.seq > p->seen_op)
		p->seen_op = m->h.seq;
	vr_learn_commit(p, m->u.vr.commit, out);
	if (m->u.vr.commit < p->op)
		vr_send_prepare_ok(p, out);
	vr_xfer_kick(p, out);
}
