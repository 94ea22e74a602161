/* pbft.c - PBFT core: lifecycle, event dispatch, timers, recovery and status.
 *
 * The protocol rules live in pbft_normal.c (§4.2), pbft_checkpoint.c (§4.3) and
 * pbft_viewchange.c (§4.4).  Everything here is pure: no clock, no I/O; the driver
 * feeds events and carries out the effects (replica/core/core.h).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/pbft.h"

/* ---- small shared helpers ---- */

void pbft_vote_clear(struct vote *v)
{
	free(v->raw);
	memset(v, 0, sizeof(*v));
}

void pbft_vote_set(struct vote *v, uint64_t view, const uint8_t *digest, const uint8_t *raw,
		   uint32_t raw_len)
{
	CORE_ASSERT(digest != NULL);
	pbft_vote_clear(v);
	v->have = true;
	v->view = view;
	memcpy(v->digest, digest, WIRE_DIGEST_LEN);
	if (raw) {
		v->raw = core_dup(raw, raw_len);
		v->raw_len = v->raw ? raw_len : 0;
	}
}

unsigned pbft_count_votes(const struct vote *v, uint32_t n, uint64_t view,
			  const uint8_t digest[WIRE_DIGEST_LEN])
{
	CORE_ASSERT(n <= WIRE_MAX_REPLICAS); /* one vote per replica, indexed by id */
	unsigned count = 0;
	for (uint32_t i = 0; i < n; i++)
		count += v[i].have && v[i].view == view &&
			 memcmp(v[i].digest, digest, WIRE_DIGEST_LEN) == 0;
	CORE_ASSERT(count <= n);
	return count;
}

struct slot *pbft_slot_peek(struct pbft *p, uint64_t seq)
{
	if (!pbft_in_window(p, seq))
		return NULL;
	struct slot *s = &p->slots[seq % p->cfg.window];
	return s->seq == seq ? s : NULL;
}

struct slot *pbft_slot(struct pbft *p, uint64_t seq)
{
	if (!pbft_in_window(p, seq))
		return NULL;
	/* Within the window each index holds one sequence number, so an entry for
	 * another number is below the low watermark: garbage. */
	struct slot *s = &p->slots[seq % p->cfg.window];
	/* the entry holds seq, nothing, or a number at or below low: never one above */
	CORE_ASSERT(s->seq == seq || s->seq <= p->low);
	if (s->seq != seq) {
		pbft_slot_clear(s);
		s->seq = seq;
	}
	CORE_ASSERT(s->seq == seq && (!s->have_pp || s->cpp));
	return s;
}

void pbft_slot_clear(struct slot *s)
{
	free(s->cpp);
	free(s->batch);
	free(s->cert.bytes);
	free(s->cert.batch);
	for (int i = 0; i < WIRE_MAX_REPLICAS; i++) {
		free(s->prepare[i].raw);
		free(s->commit[i].raw);
	}
	memset(s, 0, sizeof(*s));
}

static const uint8_t *seal_vote(struct pbft *p, uint8_t type, uint8_t flags, uint64_t view,
				uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len)
{
	buf_reset(&p->scratch);
	size_t off = wire_put_digest(&p->scratch, type, p->cfg.cluster_id, p->cfg.id, view, seq,
				     digest);
	if (!p->scratch.err)
		p->scratch.p[off + WIRE_OFF_FLAGS] = flags; /* signed with the rest */
	auth_seal(p->cfg.auth, &p->scratch, off);           /* a failure sets scratch.err */
	*len = p->scratch.err ? 0 : (uint32_t)(p->scratch.len - off);
	return p->scratch.err ? NULL : p->scratch.p + off;
}

const uint8_t *pbft_seal_vote(struct pbft *p, uint8_t type, uint64_t view, uint64_t seq,
			      const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len)
{
	return seal_vote(p, type, 0, view, seq, digest, len);
}

const uint8_t *pbft_seal_vouched(struct pbft *p, uint64_t view, uint64_t seq,
				 const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len)
{
	return seal_vote(p, MSG_COMMIT, WIRE_F_VOUCHED, view, seq, digest, len);
}

/* Seal the message at arena[off..] and send it. */
void pbft_send(struct pbft *p, struct effects *out, int32_t to, size_t off)
{
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, to, 0, off);
}

void pbft_persist_meta(struct pbft *p, struct effects *out)
{
	uint8_t val[17];
	set_u64(val, p->view);
	set_u64(val + 8, p->low);
	val[16] = p->view_active;
	effects_persist(out, P_PUT, REC_META, 0, val, sizeof(val));
}

/* §4.5.2: the timeout doubles with each view change that brings no progress. */
uint64_t pbft_timeout_ms(const struct pbft *p)
{
	uint32_t shift = p->vc_streak < 10 ? p->vc_streak : 10;
	return (uint64_t)p->cfg.view_timeout_ms << shift;
}

/* Digest of the null request: an empty batch (count 0). */
void pbft_null_digest(uint8_t out[WIRE_DIGEST_LEN])
{
	static const uint8_t empty[2] = {0, 0};
	crypto_digest(empty, sizeof(empty), out);
}

/* ---- lifecycle ---- */

static void pbft_destroy(void *core)
{
	struct pbft *p = core;
	if (!p)
		return;
	if (p->slots)
		for (uint32_t i = 0; i < p->cfg.window; i++)
			pbft_slot_clear(&p->slots[i]);
	if (p->ckpts)
		for (uint32_t i = 0; i < p->n_ckpts; i++)
			pbft_ckpt_clear(&p->ckpts[i]);
	waitq_free(&p->wq);
	ahead_free(&p->ahead);
	catchup_free(&p->catchup);
	for (int i = 0; i < PBFT_RETIRED; i++)
		free(p->retired[i].batch);
	for (int i = 0; i < WIRE_MAX_REPLICAS; i++) {
		free(p->vcs[i].raw);
		free(p->latest_ckpt[i].raw);
	}
	free(p->xfer.proof);
	snapxfer_reset(&p->xfer.s);
	free(p->nv_raw);
	free(p->stable_snap);
	free(p->ckpt_proof);
	free(p->slots);
	free(p->ckpts);
	free(p->proposed_ts);
	pbft_robust_free(p);
	exec_free(&p->exec);
	buf_free(&p->scratch);
	buf_free(&p->ev_buf);
	evidence_table_free(&p->evidence);
	free(p);
}

static void *pbft_create(const struct core_config *cfg)
{
	if (cfg->n < 4 || cfg->n > WIRE_MAX_REPLICAS || cfg->n < 3 * cfg->f + 1 ||
	    cfg->id >= cfg->n || cfg->window == 0 || cfg->window > WIRE_MAX_PREPARED ||
	    cfg->checkpoint_interval == 0 || cfg->batch_max == 0 ||
	    cfg->batch_max > WIRE_MAX_BATCH || cfg->max_clients == 0 || !cfg->auth)
		return NULL;
	/* its worst NEW-VIEW must be sendable (config.c bounds the window so) */
	if (cfg->window > wire_window_max(cfg->n, cfg->f, cfg->auth->mode != AUTH_MODE_NONE))
		return NULL;
	struct pbft *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->view_active = true;
	p->n_ckpts = cfg->window / cfg->checkpoint_interval + 2;
	p->slots = calloc(cfg->window, sizeof(*p->slots));
	p->ckpts = calloc(p->n_ckpts, sizeof(*p->ckpts));
	p->proposed_ts = calloc(cfg->max_clients, sizeof(*p->proposed_ts));
	buf_init_limit(&p->scratch, BUF_LIMIT_STATE);
	buf_init(&p->ev_buf);
	if (!p->slots || !p->ckpts || !p->proposed_ts ||
	    waitq_init(&p->wq, cfg->max_clients) != 0 ||
	    exec_init(&p->exec, cfg->max_clients, cfg->kv_max_bytes) != 0) {
		pbft_destroy(p);
		return NULL;
	}
	exec_snapshot(&p->exec, &p->scratch);
	crypto_digest(p->scratch.p, p->scratch.len, p->stable_digest);
	p->stable_snap = core_dup(p->scratch.p, p->scratch.len);
	p->stable_snap_len = (uint32_t)p->scratch.len;
	if (!p->stable_snap) {
		pbft_destroy(p);
		return NULL;
	}
	if (cfg->robust && pbft_robust_init(p) != 0) {
		pbft_destroy(p);
		return NULL;
	}
	return p;
}

/* Views and sequence numbers never get anywhere near this (2^62 at 10^9 per second
 * is over a century): a record claiming more is damage, and taking it would make
 * seq + window arithmetic wrap. */
#define PBFT_SEQ_SANE ((uint64_t)1 << 62)

/* ---- recovery: rebuild what we had promised from our own log ----
 * Records arrive in (kind, key) order: META, SNAPSHOTs, PRE-PREPAREs, PREPAREDs,
 * COMMITTEDs, CKPT_PROOF, NEWVIEW. */

static int recover_meta(struct pbft *p, const uint8_t *val, size_t len)
{
	if (len != 17)
		return -1;
	p->view = get_u64(val);
	p->low = get_u64(val + 8);
	p->view_active = val[16] != 0;
	if (p->low > PBFT_SEQ_SANE || p->view > PBFT_SEQ_SANE)
		return -1; /* a damaged log (the window arithmetic must not wrap) */
	return 0;
}

static int recover_snapshot(struct pbft *p, uint64_t seq, const uint8_t *val, size_t len)
{
	if (seq < p->low)
		return 0; /* superseded by the stable checkpoint */
	if (seq > p->low + p->cfg.window)
		return -1; /* we never execute beyond the window: a damaged log */
	if (exec_restore(&p->exec, val, len) != 0)
		return -1;
	p->last_executed = seq;
	CORE_ASSERT(p->last_executed >= p->low); /* superseded ones were skipped above */
	if (seq > p->low)
		pbft_recover_checkpoint(p, seq, val, len);
	if (seq == p->low) {
		free(p->stable_snap);
		p->stable_snap = core_dup(val, len);
		p->stable_snap_len = (uint32_t)len;
		crypto_digest(val, len, p->stable_digest);
	}
	return p->stable_snap ? 0 : -1;
}

/* Re-create our own PREPARE or COMMIT for s (we sent it before the crash: persist
 * before speak), so certificates built later can include it. */
static void own_vote(struct pbft *p, uint8_t type, struct slot *s)
{
	struct vote *v = type == MSG_PREPARE ? &s->prepare[p->cfg.id] : &s->commit[p->cfg.id];
	uint32_t len;
	const uint8_t *raw = pbft_seal_vote(p, type, s->view, s->seq, s->digest, &len);
	pbft_vote_set(v, s->view, s->digest, raw, len);
}

/* Our own pre-prepares raise next_seq only if they are of the view we recover (META
 * came first): a primary must never give a number it pre-prepared in this view to
 * another batch.  One of an older view in which we were primary too says nothing
 * about this view - the NEW-VIEW we entered it with decided what became of that
 * number (on_start numbers after its max-s) - and taking it would skip the numbers
 * between: never proposed, they stall execution until a view change (issue 14).
 * (Entering a view deletes the records of slots its NEW-VIEW did not choose -
 * drop_unchosen - but a log may predate that.) */
static int recover_preprepare(struct pbft *p, uint64_t seq, const uint8_t *val, size_t len)
{
	struct slot *s = pbft_slot(p, seq);
	if (!s)
		return 0; /* below the stable checkpoint: garbage not yet collected */
	struct cursor c;
	struct compact_pp cpp;
	cur_init(&c, val, len);
	uint32_t cpp_len = cur_u32(&c);
	const uint8_t *cpp_raw = cur_bytes(&c, cpp_len);
	if (!cpp_raw || wire_decode_cpp(cpp_raw, cpp_len, p->cfg.cluster_id, &cpp) != WIRE_OK ||
	    cpp.h.seq != seq)
		return -1;
	const uint8_t *batch = val + c.off;
	uint32_t batch_len = (uint32_t)(len - c.off);
	if (pbft_install(p, s, cpp.h.view, cpp_raw, cpp_len, batch_len ? batch : NULL, batch_len) !=
	    0)
		return -1;
	/* the record re-read sits in the window of the recovered low watermark */
	CORE_ASSERT(s->seq == seq && s->have_pp && pbft_in_window(p, seq));
	if (pbft_primary(p, cpp.h.view) != p->cfg.id)
		own_vote(p, MSG_PREPARE, s);
	else if (cpp.h.view == p->view && seq > p->next_seq)
		p->next_seq = seq;
	return 0;
}

static int recover_committed(struct pbft *p, uint64_t seq, const uint8_t *val, size_t len)
{
	if (seq > p->readonly_floor)
		p->readonly_floor = seq;
	struct slot *s = pbft_slot_peek(p, seq);
	if (!s)
		return 0;
	if (len != 8 + WIRE_DIGEST_LEN || !s->have_pp ||
	    memcmp(s->digest, val + 8, WIRE_DIGEST_LEN) != 0)
		return -1;
	s->committed = true;
	CORE_ASSERT(pbft_in_window(p, seq) && p->readonly_floor >= seq);
	return 0;
}

static int recover_proof(struct pbft *p, const uint8_t *val, size_t len)
{
	free(p->ckpt_proof);
	p->ckpt_proof = core_dup(val, len);
	p->ckpt_proof_len = (uint32_t)len;
	return p->ckpt_proof ? 0 : -1;
}

/* The NEW-VIEW of our view (META came first), to re-send to replicas that missed it;
 * one of an older view is of no use. */
static int recover_newview(struct pbft *p, const uint8_t *val, size_t len)
{
	if (len < WIRE_HDR_LEN || val[WIRE_OFF_TYPE] != MSG_NEWVIEW)
		return -1;
	if (get_u64(val + WIRE_OFF_VIEW) != p->view)
		return 0;
	free(p->nv_raw);
	p->nv_raw = core_dup(val, len);
	p->nv_len = p->nv_raw ? (uint32_t)len : 0;
	p->nv_view = p->view;
	return p->nv_raw ? 0 : -1;
}

static int pbft_recover(void *core, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct pbft *p = core;
	if (key > PBFT_SEQ_SANE)
		return -1; /* no sequence number gets there: a damaged log */
	switch (kind) {
	case REC_META: return recover_meta(p, val, len);
	case REC_SNAPSHOT: return recover_snapshot(p, key, val, len);
	case REC_PREPREPARE: return recover_preprepare(p, key, val, len);
	case REC_PREPARED: {
		/* a certificate whose pre-prepare a NEW-VIEW did not choose has no
		 * REC_PREPREPARE (drop_unchosen): its slot holds the certificate alone */
		if (!pbft_slot_peek(p, key))
			(void)pbft_slot(p, key);
		int rc = pbft_recover_cert(p, key, val, len);
		struct slot *s = pbft_slot_peek(p, key);
		if (rc == 0 && s && s->prepared)
			own_vote(p, MSG_COMMIT, s);
		return rc;
	}
	case REC_COMMITTED: return recover_committed(p, key, val, len);
	case REC_CKPT_PROOF: return recover_proof(p, val, len);
	case REC_NEWVIEW: return recover_newview(p, val, len);
	case REC_EVIDENCE: return pbft_evidence_recover(p, val, len);
	case REC_CAUGHT_UP:
		if (len != 8 || get_u64(val) > PBFT_SEQ_SANE)
			return -1;
		if (get_u64(val) > p->readonly_floor) /* as recover_committed() */
			p->readonly_floor = get_u64(val);
		return 0;
	default: return -1;
	}
}

/* ---- events ---- */

static void on_start(struct pbft *p, struct effects *out)
{
	if (p->next_seq < p->last_executed)
		p->next_seq = p->last_executed;
	if (p->next_seq < p->low)
		p->next_seq = p->low;
	/* The primary of a later view numbers after its NEW-VIEW's max-s, which its own
	 * pre-prepares alone do not tell when O ended below its execution (it was
	 * behind, fetching state): take it from the kept NEW-VIEW, or give the view up
	 * rather than assign numbers that may already be taken. */
	if (p->view_active && p->view > 0 && pbft_is_primary(p)) {
		uint64_t max_s;
		if (pbft_newview_max_s(p, &max_s) == 0) {
			if (p->next_seq < max_s)
				p->next_seq = max_s;
		} else {
			pbft_start_view_change(p, p->view + 1, out);
		}
	}
	/* Re-execute what committed after our latest snapshot; the clients already
	 * have (or will ask again for) the replies, so none are sent. */
	pbft_try_execute(p, out, false);
	/* A slot of our log may hold its pre-prepare without its batch: one a NEW-VIEW
	 * issued again after we had executed it on a commit certificate (catchup.h) is
	 * installed and persisted without (nothing to fetch then), and a restart from an
	 * older snapshot needs it.  Fetch it now, as on entering a view (§4.4: the
	 * replica must get the request it lacks); nothing else would until a peer
	 * answered our PEER_STATUS.  Found by the simulator (seed 5680). */
	pbft_fetch_missing(p, out);
	/* We crashed mid view change: our VIEW-CHANGE is not in the log, and without it
	 * nothing would re-send it (pbft_resend) nor count it for the view's timer
	 * (pbft_update_vc_timer); the others may need it for their 2f+1.  Say it again
	 * (from the log: what it promises was persisted before it first left), and keep
	 * asking. */
	if (!p->view_active) {
		const struct vc_msg *mine = &p->vcs[p->cfg.id];
		if (!mine->raw || mine->view != p->view) /* not just sent above */
			pbft_send_viewchange(p, out);
		p->vc_timer_ms = p->now_ms + pbft_timeout_ms(p);
	}
	CORE_ASSERT(p->next_seq >= p->last_executed && p->next_seq >= p->low);
}

static void on_tick(struct pbft *p, struct effects *out)
{
	if (p->vc_timer_ms && p->now_ms >= p->vc_timer_ms) {
		/* §4.4: the primary did not make progress in time (or the view change
		 * itself stalled): move on to the next view. */
		p->vc_timer++;
		pbft_start_view_change(p, p->view + 1, out);
	}
	if (p->fetch_ms && p->now_ms >= p->fetch_ms)
		pbft_fetch_missing(p, out);
	if (p->resend_ms && p->now_ms >= p->resend_ms)
		pbft_resend(p, out);
	pbft_xfer_tick(p, out);
	pbft_stall_tick(p, out);
	pbft_status_tick(p, out);
}

static void on_msg(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (pbft_evidence_ignores(p, m))
		return; /* a proven liar's (issue 17, pbft_evidence.c) */
	switch (m->h.type) {
	case MSG_REQUEST: pbft_on_request(p, m, out); break;
	case MSG_PREPREPARE: pbft_on_preprepare(p, m, out); break;
	case MSG_PREPARE: pbft_on_prepare(p, m, out); break;
	case MSG_COMMIT: pbft_on_commit(p, m, out); break;
	case MSG_CHECKPOINT: pbft_on_checkpoint(p, m, out); break;
	case MSG_VIEWCHANGE: pbft_on_viewchange(p, m, out); break;
	case MSG_NEWVIEW: pbft_on_newview(p, m, out); break;
	case MSG_FETCH: pbft_on_fetch(p, m, out); break;
	case MSG_BATCH: pbft_on_batch(p, m, out); break;
	case MSG_FETCH_STATE: pbft_on_fetch_state(p, m, out); break;
	case MSG_STATE: pbft_on_state(p, m, out); break;
	case MSG_PEER_STATUS: pbft_on_peer_status(p, m, out); break;
	case MSG_EVIDENCE: pbft_on_evidence(p, m, out); break;
	default: break;
	}
}

/* The window moved since the messages refused beyond it were last fed: feed them
 * again, once each (those still beyond it are kept again).  Why: ahead.h. */
static void feed_ahead(struct pbft *p, struct effects *out)
{
	/* a feed may move the window again (it can complete a checkpoint): a few rounds */
	for (int round = 0; round < 4 && p->ahead_fed_low != p->low; round++) {
		struct ahead *t;
		if (p->ahead.count == 0) {
			p->ahead_fed_low = p->low;
			return;
		}
		if (ahead_take(&p->ahead, &t) != 0)
			return; /* out of memory: try again at the next step */
		p->ahead_fed_low = p->low;
		for (uint32_t i = 0; i < t->count; i++) {
			struct msg m;
			if (wire_decode(t->msg[i], t->len[i], p->cfg.cluster_id, &m) == WIRE_OK)
				on_msg(p, &m, out);
		}
		ahead_free(t);
		free(t);
	}
}

static int pbft_step(void *core, const struct event *ev, struct effects *out)
{
	struct pbft *p = core;
	CORE_ASSERT(ev->kind == EV_START || ev->kind == EV_MSG || ev->kind == EV_TICK);
	const uint64_t view0 = p->view, low0 = p->low, exec0 = p->last_executed;
	p->now_ms = ev->now_ms;
	p->robust.relayed_ms = ev->relayed_ms <= ev->now_ms ? ev->relayed_ms : 0;
	if (ev->kind == EV_START)
		on_start(p, out);
	else if (ev->kind == EV_TICK)
		on_tick(p, out);
	else if (ev->kind == EV_MSG && ev->m)
		on_msg(p, ev->m, out);
	if (ev->kind == EV_TICK && ev->parked_ts) /* robust: a sample, nothing to act on */
		pbft_robust_parked(p, ev->parked_client, ev->parked_ts);
	feed_ahead(p, out);
	pbft_robust_step(p, out);   /* robust mode only: may vote the primary out */
	pbft_evidence_step(p, out); /* a proven primary is voted out at once */
	pbft_update_vc_timer(p);
	pbft_resend_arm(p);
	if (!p->status_ms)
		p->status_ms = p->now_ms + (p->cfg.view_timeout_ms ? p->cfg.view_timeout_ms : 1);
	out->timer_ms = deadline_min(deadline_min(deadline_min(p->vc_timer_ms, p->fetch_ms),
						  deadline_min(p->xfer.s.retry_ms, p->status_ms)),
				     deadline_min(p->resend_ms, p->stall_ms));
	out->timer_ms = deadline_min(out->timer_ms, pbft_robust_deadline(p)); /* 0 when off */
	p->robust.wake_ms = out->timer_ms; /* pbft_robust_step: woken later = stalled */
	/* Views, the low watermark and execution only move forward; execution stays
	 * within the window; a primary numbers above everything executed. */
	CORE_ASSERT(p->view >= view0 && p->low >= low0 && p->last_executed >= exec0);
	CORE_ASSERT(p->last_executed <= p->low + p->cfg.window);
	CORE_ASSERT(p->next_seq >= p->last_executed);
	return 0;
}

static void pbft_status(void *core, struct core_status *st)
{
	struct pbft *p = core;
	memset(st, 0, sizeof(*st));
	st->protocol = "pbft";
	st->view = p->view;
	st->primary = pbft_primary(p, p->view);
	st->view_changing = !p->view_active;
	st->last_executed = p->last_executed;
	st->stable_checkpoint = p->low;
	memcpy(st->state_digest, p->stable_digest, WIRE_DIGEST_LEN);
	st->requests_executed = p->requests_executed;
	st->requests_readonly = p->readonly_answered;
	st->slots_caught_up = p->caught_up;
	st->fetching = p->xfer.s.seq;
	st->rejected_old_view = p->rejected_old_view;
	st->rejected_out_of_window = p->rejected_out_of_window;
	st->rejected_conflict = p->rejected_conflict;
	st->rejected_rate_limited = p->rejected_rate_limited;
	st->vc_timer = p->vc_timer;
	pbft_robust_status(p, st);
	pbft_evidence_status(p, st);
}

const struct core_ops pbft_core_ops = {
	.name = "pbft",
	.create = pbft_create,
	.destroy = pbft_destroy,
	.recover = pbft_recover,
	.step = pbft_step,
	.status = pbft_status,
};
