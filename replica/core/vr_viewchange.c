/* vr_viewchange.c - VR view changes (VRR §4.2) and catching up with a newer view
 * (VRR §5.2).
 *
 *   a backup hears nothing from the primary for view_timeout_ms (or a view change
 *   does not complete in time)     -> view v+1, status view-change, START-VIEW-CHANGE
 *   START-VIEW-CHANGE for a view above ours -> join it
 *   f START-VIEW-CHANGEs for our view      -> DO-VIEW-CHANGE(v, log, last normal view,
 *                                             op-number, commit-number) to primary(v)
 *   primary(v) with f+1 DO-VIEW-CHANGEs    -> adopts the log with the largest
 *                                             (last normal view, op-number), the largest
 *                                             commit-number; START-VIEW(v, log, op, k)
 *   a backup takes START-VIEW's log, executes up to k, PREPARE-OKs the rest.
 * Logs travel as "log sections": the entries above the sender's checkpoint (lo);
 * everything at or below lo is committed and can be had by state transfer.
 * Persist before you speak: the view (meta) before START-VIEW-CHANGE and
 * DO-VIEW-CHANGE, the adopted log before START-VIEW and PREPARE-OK.
 */
#include <stdlib.h>
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/vr.h"

void vr_dvc_clear(struct vr *p)
{
	for (int i = 0; i < WIRE_MAX_REPLICAS; i++) {
		free(p->dvc[i].raw);
		memset(&p->dvc[i], 0, sizeof(p->dvc[i]));
	}
}

/* Append a log section with the entries from+1 .. op (from >= lo). */
void vr_put_section(struct vr *p, struct buf *b, uint64_t from)
{
	if (from < p->lo || from > p->op) {
		b->err = WIRE_E_BODY; /* a caller's bug: fail the step rather than lie */
		return;
	}
	buf_put_u64(b, from);
	buf_put_u32(b, (uint32_t)(p->op - from));
	for (uint64_t op = from + 1; op <= p->op && !b->err; op++) {
		const struct vr_slot *s = vr_slot(p, op);
		if (!s) {
			b->err = WIRE_E_BODY;
			return;
		}
		buf_put_u64(b, s->view);
		buf_put_u32(b, s->len);
		buf_put(b, s->batch, s->len);
	}
}

/* Entering a view as normal: the primary's acks and the view change are history. */
static void enter_normal(struct vr *p, uint64_t view, struct effects *out)
{
	CORE_ASSERT(view >= p->view && view >= p->last_normal); /* views never go back */
	p->view = view;
	p->status = VR_NORMAL;
	p->last_normal = view;
	p->vc_streak = 0;
	p->dvc_sent = 0;
	memset(p->acked, 0, sizeof(p->acked));
	memset(p->lease_from, 0, sizeof(p->lease_from));
	p->lease_echo = 0; /* stamps are the primary's clock: this view's only */
	p->view_started_ms = p->now_ms;
	p->view_start_op = p->op; /* a lease read waits until all of it commits */
	vr_dvc_clear(p);
	vr_xfer_reset(p);
	p->last_heard_ms = p->last_bcast_ms = p->last_stamp_ms = p->now_ms;
	vr_persist_meta(p, out);
}

/* ---- START-VIEW-CHANGE ---- */

void vr_send_svc(struct vr *p, struct effects *out)
{
	size_t off = wire_begin(&out->arena, MSG_VR_START_VIEW_CHANGE, p->cfg.cluster_id, p->cfg.id,
				p->view, 0);
	wire_finish(&out->arena, off);
	vr_send(p, out, TO_OTHERS, off);
}

/* DO-VIEW-CHANGE(v, seq = op): last_normal u64 | commit u64 | log section (lo). */
static void send_dvc(struct vr *p, struct effects *out)
{
	uint32_t primary = vr_primary(p, p->view);
	bool mine = primary == p->cfg.id;
	struct buf *b = mine ? &p->scratch : &out->arena;
	if (mine)
		buf_reset(b);
	size_t off = wire_begin(b, MSG_VR_DO_VIEW_CHANGE, p->cfg.cluster_id, p->cfg.id, p->view,
				p->op);
	buf_put_u64(b, p->last_normal);
	buf_put_u64(b, p->commit);
	vr_put_section(p, b, p->lo);
	wire_finish(b, off);
	p->dvc_sent = p->view;
	if (!mine) {
		vr_send(p, out, (int32_t)primary, off);
		return;
	}
	/* As the new primary, our own DO-VIEW-CHANGE counts like the others'. */
	auth_seal(p->cfg.auth, b, off);
	uint8_t *copy = b->err ? NULL : core_dup(b->p, b->len);
	if (!copy)
		return;
	free(p->dvc[p->cfg.id].raw);
	p->dvc[p->cfg.id] = (struct vr_dvc){.view = p->view, .raw = copy, .len = (uint32_t)b->len};
	vr_try_complete(p, out);
}

/* VRR: with f START-VIEW-CHANGEs for our view from others, send DO-VIEW-CHANGE. */
static void check_svc(struct vr *p, struct effects *out)
{
	if (p->status != VR_VIEW_CHANGE || p->dvc_sent == p->view)
		return;
	uint32_t count = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++)
		count += i != p->cfg.id && p->svc_view[i] == p->view;
	if (count >= p->cfg.f)
		send_dvc(p, out);
}

void vr_start_view_change(struct vr *p, uint64_t view, struct effects *out)
{
	if (view <= p->view)
		return;
	CORE_ASSERT(view > p->last_normal);
	p->view = view;
	p->status = VR_VIEW_CHANGE;
	p->vc_streak++;
	/* with leases the new primary first waits the old lease out: allow for it */
	p->vc_deadline_ms = p->now_ms + vr_timeout_ms(p) + vr_lease_wait_ms(p);
	p->dvc_sent = 0;
	memset(p->acked, 0, sizeof(p->acked));
	memset(p->lease_from, 0, sizeof(p->lease_from));
	p->lease_echo = 0;
	vr_dvc_clear(p);
	vr_xfer_reset(p);
	/* never again accept a PREPARE of an older view, even after a crash */
	vr_persist_meta(p, out);
	vr_send_svc(p, out);
	check_svc(p, out);
}

void vr_on_svc(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (v < p->view) {
		p->rejected_old_view++;
		return;
	}
	if (v > p->svc_view[m->h.sender])
		p->svc_view[m->h.sender] = v;
	if (v > p->view)
		vr_start_view_change(p, v, out);
	else
		check_svc(p, out);
}

/* ---- adopting a log (new primary from the chosen DO-VIEW-CHANGE; backups from
 * START-VIEW) ---- */

/* Replace our log above what we know is committed with the section in m (whose log
 * ends at m->h.seq).  Everything we executed, and everything at or below lo, stays:
 * it is committed, so the section agrees with it.  If the section starts above what
 * we executed, lo moves up to it: a hole that state transfer fills.
 * Returns 0, or -1 (nothing changed) if the section cannot be ours. */
static int adopt_log(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t lo_x = m->u.vr.lo, op_x = m->h.seq;
	uint64_t keep = p->last_executed > p->lo ? p->last_executed : p->lo;
	uint64_t new_lo = p->lo;
	if (lo_x > keep || op_x > p->lo + p->cfg.window)
		new_lo = lo_x > p->lo ? lo_x : p->lo;
	if (new_lo > keep)
		keep = new_lo;
	if (op_x < keep || op_x - new_lo > p->cfg.window)
		return -1; /* it lacks what we executed: only a liar's log looks like that */
	/* bytes: ours kept (new_lo, keep] plus theirs above keep */
	uint64_t bytes = 0;
	for (uint64_t op = new_lo + 1; op <= keep && op <= p->op; op++) {
		const struct vr_slot *s = vr_slot(p, op);
		bytes += s ? s->len : 0;
	}
	struct cursor c;
	struct vr_log_entry e;
	uint64_t op = lo_x;
	wire_vr_entries_begin(m, &c);
	while (wire_vr_next_entry(&c, &e) > 0)
		if (++op > keep)
			bytes += e.len;
	if (bytes > VR_LOG_MAX)
		return -1;
	if (new_lo > p->lo) {
		vr_log_forget_upto(p, new_lo);
		effects_persist(out, P_DEL_BELOW, VR_REC_ENTRY, new_lo + 1, NULL, 0);
	}
	vr_log_truncate(p, keep, out);
	op = lo_x;
	wire_vr_entries_begin(m, &c);
	while (wire_vr_next_entry(&c, &e) > 0) {
		if (++op <= p->op)
			continue;
		if (vr_log_append(p, e.view, e.batch, e.len, out) != 0) {
			out->arena.err = WIRE_E_NOMEM; /* checked above: out of memory */
			return -1;
		}
	}
	return 0;
}

/* ---- DO-VIEW-CHANGE and the new primary ---- */

static int dvc_ok(const struct vr *p, const struct msg *m)
{
	const struct body_vr *b = &m->u.vr;
	return b->last_normal < m->h.view && b->commit <= m->h.seq && b->lo <= b->commit &&
	       b->n_entries <= p->cfg.window;
}

static void complete_view_change(struct vr *p, struct effects *out)
{
	struct msg m;
	int best = -1;
	uint64_t best_ln = 0, best_op = 0, k = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		const struct vr_dvc *d = &p->dvc[i];
		if (!d->raw || d->view != p->view ||
		    wire_decode(d->raw, d->len, p->cfg.cluster_id, &m) != WIRE_OK)
			continue;
		uint64_t ln = m.u.vr.last_normal, op = m.h.seq;
		if (best < 0 || ln > best_ln || (ln == best_ln && op > best_op)) {
			best = (int)i;
			best_ln = ln;
			best_op = op;
		}
		if (m.u.vr.commit > k)
			k = m.u.vr.commit;
	}
	if (best < 0 ||
	    wire_decode(p->dvc[best].raw, p->dvc[best].len, p->cfg.cluster_id, &m) != WIRE_OK)
		return;
	if (adopt_log(p, &m, out) != 0) {
		p->rejected_conflict++; /* the view change times out and moves on */
		return;
	}
	enter_normal(p, p->view, out);
	if (k > p->op)
		k = p->op;
	if (k > p->commit)
		p->commit = k;
	CORE_ASSERT(vr_is_primary(p) && p->last_normal == p->view && p->commit <= p->op);
	/* START-VIEW(v, seq = op): commit u64 | log section (lo) */
	size_t off = wire_begin(&out->arena, MSG_VR_START_VIEW, p->cfg.cluster_id, p->cfg.id,
				p->view, p->op);
	buf_put_u64(&out->arena, p->commit);
	vr_put_section(p, &out->arena, p->lo);
	wire_finish(&out->arena, off);
	vr_send(p, out, TO_OTHERS, off);
	if ((uint32_t)best != p->cfg.id)
		vr_xfer_hint(p, (uint32_t)best); /* it has the snapshot a hole needs */
	vr_rebuild_proposed(p);
	vr_execute(p, out); /* committed ops, with replies; then waiting requests */
	vr_xfer_kick(p, out);
}

/* Leader leases: f+1 DO-VIEW-CHANGEs are here, so every backup that could have
 * renewed the old primary's lease has left the old view (or is the old primary).  Its
 * last promise is older than now: wait read_lease_ms of our clock, so the old lease
 * has run out (clocks drifting within VR_LEASE_DRIFT_PCT) before this view commits
 * anything or answers a read.  Returns true while waiting. */
static bool lease_wait(struct vr *p)
{
	uint64_t wait = vr_lease_wait_ms(p);
	if (!wait)
		return false;
	if (p->lease_wait_view != p->view) {
		p->lease_wait_view = p->view;
		p->lease_wait_until = p->now_ms + wait;
		if (p->vc_deadline_ms < p->lease_wait_until + vr_timeout_ms(p))
			p->vc_deadline_ms = p->lease_wait_until + vr_timeout_ms(p);
	}
	return p->now_ms < p->lease_wait_until;
}

void vr_try_complete(struct vr *p, struct effects *out)
{
	if (p->status != VR_VIEW_CHANGE || vr_primary(p, p->view) != p->cfg.id)
		return;
	uint32_t count = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++)
		count += p->dvc[i].raw && p->dvc[i].view == p->view;
	if (count >= p->cfg.f + 1 && !lease_wait(p))
		complete_view_change(p, out);
}

void vr_on_dvc(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (v < p->view) {
		p->rejected_old_view++;
		return;
	}
	if (vr_primary(p, v) != p->cfg.id || !dvc_ok(p, m)) {
		p->rejected_conflict++;
		return;
	}
	if (v > p->svc_view[m->h.sender])
		p->svc_view[m->h.sender] = v; /* it is in view change for v */
	if (v > p->view)
		vr_start_view_change(p, v, out);
	if (v != p->view || p->status != VR_VIEW_CHANGE)
		return; /* done already: it will hear from us */
	uint8_t *copy = core_dup(m->raw, m->raw_len);
	if (!copy)
		return;
	struct vr_dvc *d = &p->dvc[m->h.sender];
	free(d->raw);
	*d = (struct vr_dvc){.view = v, .raw = copy, .len = (uint32_t)m->raw_len};
	check_svc(p, out);
	vr_try_complete(p, out);
}

/* ---- START-VIEW ---- */

void vr_on_start_view(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (!vr_from_primary(p, m))
		return;
	if (v == p->view && p->status == VR_NORMAL && !vr_syncing(p))
		return; /* a duplicate */
	if (m->u.vr.commit > m->h.seq || m->u.vr.lo > m->u.vr.commit ||
	    m->u.vr.n_entries > p->cfg.window || adopt_log(p, m, out) != 0) {
		p->rejected_conflict++;
		return;
	}
	enter_normal(p, v, out);
	p->seen_op = m->h.seq;
	vr_learn_commit(p, m->u.vr.commit, out);
	if (p->op > p->commit)
		vr_send_prepare_ok(p, out); /* VRR: ack the uncommitted suffix */
	vr_rebuild_proposed(p);
	vr_xfer_hint(p, m->h.sender);
	vr_xfer_kick(p, out);
}

/* ---- a newer view we missed (VRR §5.2) ---- */

/* A normal replica of view v spoke (a PREPARE, COMMIT, ...): if v is newer than ours,
 * or we are still changing to v, v has started without us.  We become a backup of v
 * that is syncing (vr_syncing): last_normal stays the view whose log we hold, until
 * v's log above our commit-number arrives by state transfer (vr_state.c). */
void vr_saw_normal_view(struct vr *p, uint64_t view, struct effects *out)
{
	if (view < p->view || (view == p->view && p->status == VR_NORMAL))
		return;
	if (vr_primary(p, view) == p->cfg.id)
		return; /* v cannot have started without its primary's START-VIEW */
	uint64_t last_normal = p->last_normal;
	enter_normal(p, view, out);
	p->last_normal = last_normal;
	CORE_ASSERT(p->view == view && p->last_normal <= p->view);
	vr_persist_meta(p, out);
	p->seen_op = 0;
	vr_xfer_hint(p, vr_primary(p, view));
	vr_xfer_kick(p, out);
}
