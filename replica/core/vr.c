/* vr.c - Viewstamped Replication core: lifecycle, event dispatch, timers, recovery
 * of persisted records, status.
 *
 * The protocol rules live in vr_normal.c (§4.1), vr_viewchange.c (§4.2) and
 * vr_state.c (state transfer §5.2, recovery §4.3).  Everything here is pure: no
 * clock, no I/O; the driver feeds events and carries out the effects (core.h).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/vr.h"

/* ---- small shared helpers ---- */

/* Seal the message at arena[off..] and send it. */
bool vr_from_primary(struct vr *p, const struct msg *m)
{
	if (m->h.sender != vr_primary(p, m->h.view)) {
		p->rejected_conflict++; /* only the view's primary assigns op-numbers */
		return false;
	}
	if (m->h.view < p->view) {
		p->rejected_old_view++; /* a zombie's: the view number fences it off */
		return false;
	}
	return true;
}

void vr_keep_snapshot(struct vr *p, uint64_t seq, uint8_t *snap, size_t len)
{
	free(p->ckpt_snap);
	p->ckpt_snap = snap;
	p->ckpt_snap_len = (uint32_t)len;
	crypto_digest(snap, len, p->ckpt_digest); /* = exec_digest() */
	p->ckpt = seq;
	p->exec_bytes = 0;
}

void vr_send(struct vr *p, struct effects *out, int32_t to, size_t off)
{
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, to, 0, off);
}

/* Is there room for `need` more bytes in this step's arena, keeping a reserve for
 * the small messages that must still leave (acks, GET-STATE)?  Used for what may be
 * skipped without harm: replies (the client retransmits), checkpoints (the next). */
bool vr_room(const struct effects *out, size_t need)
{
	size_t limit = out->arena.limit ? out->arena.limit : WIRE_MAX_MSG;
	return out->arena.len <= limit - VR_ARENA_RESERVE &&
	       need <= limit - VR_ARENA_RESERVE - out->arena.len;
}

void vr_persist_meta(struct vr *p, struct effects *out)
{
	uint8_t val[25];
	set_u64(val, p->view);
	set_u64(val + 8, p->last_normal);
	val[16] = p->status;
	set_u64(val + 17, p->lo);
	effects_persist(out, P_PUT, VR_REC_META, 0, val, sizeof(val));
}

/* Timeouts double with each view change since we were last normal (VRR §4.2, and the
 * liveness rule of PBFT §4.5.2): view_timeout_ms while normal and for the first view
 * change, then 2x, 4x...; back to view_timeout_ms once a view change completes. */
uint64_t vr_timeout_ms(const struct vr *p)
{
	uint32_t shift = p->vc_streak > 0 ? p->vc_streak - 1 : 0;
	if (shift > 10)
		shift = 10;
	return (uint64_t)p->cfg.view_timeout_ms << shift;
}

/* ---- the log: op-numbers lo+1 .. op in a ring of `window` slots ---- */

struct vr_slot *vr_slot(struct vr *p, uint64_t op)
{
	if (op <= p->lo || op > p->op)
		return NULL;
	CORE_ASSERT(p->op - p->lo <= p->cfg.window); /* the ring holds lo+1 .. op */
	struct vr_slot *s = &p->log[op % p->cfg.window];
	return s->op == op ? s : NULL;
}

static void slot_clear(struct vr_slot *s)
{
	free(s->batch);
	memset(s, 0, sizeof(*s));
}

/* Could entry `op` of len bytes join the log? */
bool vr_log_fits(const struct vr *p, uint64_t op, uint32_t len)
{
	return op > p->lo && op - p->lo <= p->cfg.window && p->log_bytes + len <= VR_LOG_MAX;
}

/* Append entry op+1 and persist it (before anything of this step is sent).
 * Returns 0, or -1 if it does not fit or memory ran out (nothing changed). */
int vr_log_append(struct vr *p, uint64_t view, const uint8_t *batch, uint32_t len,
		  struct effects *out)
{
	uint64_t op = p->op + 1;
	CORE_ASSERT(p->op >= p->lo && p->op >= p->commit);
	if (!vr_log_fits(p, op, len))
		return -1;
	uint8_t *copy = core_dup(batch, len);
	if (!copy)
		return -1;
	struct vr_slot *s = &p->log[op % p->cfg.window];
	/* the ring entry holds nothing or an op-number at or below lo */
	CORE_ASSERT(s->op == 0 || s->op <= p->lo);
	slot_clear(s);
	*s = (struct vr_slot){.op = op, .view = view, .batch = copy, .len = len};
	p->op = op;
	p->log_bytes += len;
	CORE_ASSERT(p->op - p->lo <= p->cfg.window && p->log_bytes <= VR_LOG_MAX);
	buf_reset(&p->scratch);
	buf_put_u64(&p->scratch, view);
	buf_put(&p->scratch, s->batch, len);
	if (p->scratch.err) {
		out->arena.err = WIRE_E_NOMEM; /* cannot persist: fail the step */
		return -1;
	}
	effects_persist(out, P_PUT, VR_REC_ENTRY, op, p->scratch.p, p->scratch.len);
	return 0;
}

/* Drop entries above keep (>= lo), persisting the deletions. */
void vr_log_truncate(struct vr *p, uint64_t keep, struct effects *out)
{
	if (keep < p->lo)
		keep = p->lo;
	for (uint64_t op = p->op; op > keep; op--) {
		struct vr_slot *s = vr_slot(p, op);
		if (s) {
			p->log_bytes -= s->len;
			slot_clear(s);
		}
		effects_persist(out, P_DEL, VR_REC_ENTRY, op, NULL, 0);
	}
	if (p->op > keep)
		p->op = keep;
	if (p->commit > p->op)
		p->commit = p->op;
	CORE_ASSERT(p->op >= p->lo && p->op <= keep && p->commit <= p->op);
}

/* Forget entries at or below upto (covered by a checkpoint or committed elsewhere)
 * and move lo there.  Memory only: the caller persists (P_DEL_BELOW, meta). */
void vr_log_forget_upto(struct vr *p, uint64_t upto)
{
	if (upto <= p->lo)
		return;
	uint64_t top = upto < p->op ? upto : p->op;
	for (uint64_t op = p->lo + 1; op <= top; op++) {
		struct vr_slot *s = vr_slot(p, op);
		if (s) {
			p->log_bytes -= s->len;
			slot_clear(s);
		}
	}
	p->lo = upto;
	if (p->op < upto)
		p->op = upto;
	if (p->commit < upto)
		p->commit = upto;
	CORE_ASSERT(p->lo <= p->commit && p->commit <= p->op);
}

/* ---- lifecycle ---- */

static void vr_destroy(void *core)
{
	struct vr *p = core;
	if (!p)
		return;
	if (p->log)
		for (uint32_t i = 0; i < p->cfg.window; i++)
			slot_clear(&p->log[i]);
	waitq_free(&p->wq);
	vr_dvc_clear(p);
	vr_xfer_reset(p);
	free(p->ckpt_snap);
	free(p->log);
	free(p->proposed_ts);
	exec_free(&p->exec);
	buf_free(&p->scratch);
	free(p);
}

static void *vr_create(const struct core_config *cfg)
{
	if (cfg->n < 3 || cfg->n > WIRE_MAX_REPLICAS || cfg->n < 2 * cfg->f + 1 || cfg->f == 0 ||
	    cfg->id >= cfg->n || cfg->window == 0 || cfg->window > WIRE_MAX_PREPARED ||
	    cfg->checkpoint_interval == 0 || cfg->batch_max == 0 ||
	    cfg->batch_max > WIRE_MAX_BATCH || cfg->max_clients == 0 ||
	    cfg->max_clients > WIRE_MAX_CLIENTS || cfg->view_timeout_ms < 2 || !cfg->auth)
		return NULL;
	struct vr *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->status = VR_NORMAL;
	p->log = calloc(cfg->window, sizeof(*p->log));
	p->proposed_ts = calloc(cfg->max_clients, sizeof(*p->proposed_ts));
	buf_init_limit(&p->scratch, BUF_LIMIT_STATE); /* snapshots */
	if (!p->log || !p->proposed_ts || waitq_init(&p->wq, cfg->max_clients) != 0 ||
	    exec_init(&p->exec, cfg->max_clients, cfg->kv_max_bytes) != 0) {
		vr_destroy(p);
		return NULL;
	}
	/* The initial state is checkpoint 0: it can be served like any other. */
	exec_snapshot(&p->exec, &p->scratch);
	crypto_digest(p->scratch.p, p->scratch.len, p->ckpt_digest);
	p->ckpt_snap = core_dup(p->scratch.p, p->scratch.len);
	p->ckpt_snap_len = (uint32_t)p->scratch.len;
	if (p->scratch.err || !p->ckpt_snap) {
		vr_destroy(p);
		return NULL;
	}
	return p;
}

/* ---- recovery: reload what we persisted (records come in (kind, key) order:
 * META, SNAPSHOTs, ENTRYs) ---- */

static int recover_meta(struct vr *p, uint64_t key, const uint8_t *val, size_t len)
{
	if (key != 0 || len != 25 || val[16] > VR_VIEW_CHANGE)
		return -1;
	p->view = get_u64(val);
	p->last_normal = get_u64(val + 8);
	p->status = val[16];
	p->lo = get_u64(val + 17);
	if (p->last_normal > p->view)
		return -1;
	p->op = p->commit = p->lo;
	return 0;
}

static int recover_snapshot(struct vr *p, uint64_t key, const uint8_t *val, size_t len)
{
	if (len > VR_SNAP_MAX || exec_restore(&p->exec, val, len) != 0)
		return -1;
	uint8_t *copy = core_dup(val, len);
	if (!copy)
		return -1;
	vr_keep_snapshot(p, key, copy, len);
	p->last_executed = key;
	if (p->lo < key)
		p->lo = key;
	if (p->op < p->lo)
		p->op = p->commit = p->lo;
	CORE_ASSERT(p->ckpt <= p->lo && p->lo <= p->op && p->last_executed == p->ckpt);
	return 0;
}

static int recover_entry(struct vr *p, uint64_t key, const uint8_t *val, size_t len)
{
	struct body_preprepare b;
	if (key <= p->lo)
		return 0; /* covered by the checkpoint: deleted in the same transaction */
	if (key != p->op + 1 || len < 8 || len - 8 > WIRE_MAX_MSG ||
	    !vr_log_fits(p, key, (uint32_t)(len - 8)) ||
	    wire_decode_batch(val + 8, len - 8, p->cfg.cluster_id, &b) != WIRE_OK)
		return -1; /* a gap or a torn entry: not a log this core wrote */
	uint8_t *copy = core_dup(val + 8, len - 8);
	if (!copy)
		return -1;
	struct vr_slot *s = &p->log[key % p->cfg.window];
	slot_clear(s);
	*s = (struct vr_slot){.op = key,
			      .view = get_u64(val),
			      .batch = copy,
			      .len = (uint32_t)(len - 8)};
	p->op = key;
	p->log_bytes += s->len;
	/* the entry re-read is in the window of the recovered lo */
	CORE_ASSERT(p->op > p->lo && p->op - p->lo <= p->cfg.window);
	return 0;
}

static int vr_recover(void *core, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct vr *p = core;
	p->recovered_any = true;
	switch (kind) {
	case VR_REC_META: return recover_meta(p, key, val, len);
	case VR_REC_SNAPSHOT: return recover_snapshot(p, key, val, len);
	case VR_REC_ENTRY: return recover_entry(p, key, val, len);
	default: return -1;
	}
}

/* ---- events ---- */

/* After recover(): everything at or below lo is committed; what lies above it is
 * learnt again from the others (commit-numbers are not persisted: VRR §4.3). */
static void on_start(struct vr *p, struct effects *out)
{
	p->commit = p->lo;
	p->last_heard_ms = p->now_ms;
	p->last_bcast_ms = p->last_stamp_ms = p->now_ms;
	/* leases: none held after a restart; the log we held may have been answered from */
	p->view_started_ms = p->now_ms;
	p->view_start_op = p->op;
	vr_rebuild_proposed(p);
	if (p->status == VR_VIEW_CHANGE) {
		/* we crashed mid view change: take it up again */
		p->vc_deadline_ms = p->now_ms + vr_timeout_ms(p);
		vr_send_svc(p, out);
	}
	if (p->recovered_any) {
		if (p->status == VR_NORMAL && vr_is_primary(p))
			vr_send_heartbeat(p, out); /* re-collect PREPARE-OKs for op > lo */
		vr_send_recovery(p, out);
	}
	vr_xfer_kick(p, out);
}

static void on_tick(struct vr *p, struct effects *out)
{
	uint64_t now = p->now_ms;
	if (p->status == VR_VIEW_CHANGE) {
		if (now >= p->vc_deadline_ms) /* the view change stalled: try the next */
			vr_start_view_change(p, p->view + 1, out);
		else
			vr_try_complete(p, out); /* a new primary's lease wait may be over */
	} else if (!vr_is_primary(p)) {
		if (now >= p->last_heard_ms + vr_timeout_ms(p)) /* primary silent (§4.2) */
			vr_start_view_change(p, p->view + 1, out);
	} else if (now >= p->last_bcast_ms + p->cfg.view_timeout_ms / 2 ||
		   (p->cfg.read_lease_ms && now >= p->last_stamp_ms + vr_lease_renew_ms(p))) {
		vr_send_heartbeat(p, out); /* also renews the lease */
	}
	vr_xfer_tick(p, out);
}

static void on_msg(struct vr *p, const struct msg *m, struct effects *out)
{
	if (m->h.type == MSG_REQUEST) {
		vr_on_request(p, m, out);
		return;
	}
	if (m->h.sender >= p->cfg.n || m->h.sender == p->cfg.id)
		return; /* the edge lets neither through; be safe anyway */
	switch (m->h.type) {
	case MSG_VR_PREPARE: vr_on_prepare(p, m, out); break;
	case MSG_VR_PREPARE_OK: vr_on_prepare_ok(p, m, out); break;
	case MSG_VR_COMMIT: vr_on_commit(p, m, out); break;
	case MSG_VR_START_VIEW_CHANGE: vr_on_svc(p, m, out); break;
	case MSG_VR_DO_VIEW_CHANGE: vr_on_dvc(p, m, out); break;
	case MSG_VR_START_VIEW: vr_on_start_view(p, m, out); break;
	case MSG_VR_RECOVERY: vr_on_recovery(p, m, out); break;
	case MSG_VR_RECOVERY_RESPONSE: vr_on_recovery_response(p, m, out); break;
	case MSG_VR_GET_STATE: vr_on_get_state(p, m, out); break;
	case MSG_VR_NEW_STATE: vr_on_new_state(p, m, out); break;
	default: break; /* PBFT's types mean nothing here */
	}
}

static uint64_t next_deadline(const struct vr *p)
{
	uint64_t t;
	if (p->status == VR_VIEW_CHANGE) {
		t = p->vc_deadline_ms;
		if (p->lease_wait_view == p->view && p->lease_wait_until > p->now_ms)
			t = deadline_min(t, p->lease_wait_until);
	} else if (vr_is_primary(p)) {
		t = p->last_bcast_ms + p->cfg.view_timeout_ms / 2;
		if (p->cfg.read_lease_ms)
			t = deadline_min(t, p->last_stamp_ms + vr_lease_renew_ms(p));
	} else {
		t = p->last_heard_ms + vr_timeout_ms(p);
	}
	if (t == 0)
		t = 1; /* "now": 0 would mean no timer */
	return deadline_min(t, p->xfer.active ? p->xfer.retry_ms : 0);
}

/* What holds between steps (VRR §4, and the log bounds of vr.h). */
static void check_invariants(const struct vr *p)
{
	CORE_ASSERT(p->last_normal <= p->view);
	CORE_ASSERT(p->status == VR_NORMAL || p->status == VR_VIEW_CHANGE);
	CORE_ASSERT(p->ckpt <= p->lo && p->lo <= p->commit && p->commit <= p->op);
	CORE_ASSERT(p->op - p->lo <= p->cfg.window && p->log_bytes <= VR_LOG_MAX);
	/* executed up to the commit-number, or in a hole below lo */
	CORE_ASSERT(p->last_executed <= p->commit);
	CORE_ASSERT(vr_in_hole(p) || p->last_executed >= p->lo);
}

static int vr_step(void *core, const struct event *ev, struct effects *out)
{
	struct vr *p = core;
	CORE_ASSERT(ev->kind == EV_START || ev->kind == EV_MSG || ev->kind == EV_TICK);
	const uint64_t view0 = p->view, exec0 = p->last_executed;
	p->now_ms = ev->now_ms;
	if (ev->kind == EV_START)
		on_start(p, out);
	else if (ev->kind == EV_TICK)
		on_tick(p, out);
	else if (ev->kind == EV_MSG && ev->m)
		on_msg(p, ev->m, out);
	out->timer_ms = next_deadline(p);
	CORE_ASSERT(p->view >= view0 && p->last_executed >= exec0); /* never go back */
	check_invariants(p);
	return 0;
}

static void vr_status(void *core, struct core_status *st)
{
	struct vr *p = core;
	memset(st, 0, sizeof(*st));
	st->protocol = "vr";
	st->view = p->view;
	st->primary = vr_primary(p, p->view);
	st->view_changing = p->status == VR_VIEW_CHANGE;
	st->last_executed = p->last_executed;
	st->stable_checkpoint = p->ckpt;
	memcpy(st->state_digest, p->ckpt_digest, WIRE_DIGEST_LEN);
	st->requests_executed = p->requests_executed;
	st->requests_readonly = p->reads_leased;
	st->lease_until_ms = vr_lease_until_ms(p);
	st->rejected_old_view = p->rejected_old_view;
	st->rejected_out_of_window = p->rejected_out_of_window;
	st->rejected_conflict = p->rejected_conflict;
}

const struct core_ops vr_core_ops = {
	.name = "vr",
	.create = vr_create,
	.destroy = vr_destroy,
	.recover = vr_recover,
	.step = vr_step,
	.status = vr_status,
};
