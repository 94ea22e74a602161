/* hotstuff.c - chained HotStuff core: lifecycle, event dispatch, the pacemaker
 * (view timeouts, NEW-VIEW), recovery of persisted records, status.  The protocol's
 * rules live in hotstuff_chain.c.  Pure: no clock, no I/O (core.h). */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/hotstuff.h"

void hs_send(struct hs *p, struct effects *out, int32_t to, size_t off)
{
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, to, 0, off);
}

void hs_persist_meta(struct hs *p, struct effects *out)
{
	struct buf *b = &p->scratch;
	buf_reset(b);
	buf_put_u64(b, p->view);
	buf_put_u64(b, p->voted_view);
	buf_put_u64(b, p->locked_view);
	buf_put(b, p->locked_hash, WIRE_DIGEST_LEN);
	wire_put_hs_qc(b, &p->high_qc);
	if (b->err) {
		out->arena.err = WIRE_E_NOMEM;
		return;
	}
	effects_persist(out, P_PUT, HS_REC_META, 0, b->p, b->len);
}

/* Requests to order: waiting here, or in uncommitted blocks of the chain. */
bool hs_work_pending(struct hs *p)
{
	return p->wq.live > 0 || hs_chain_has_requests(p) || p->n_orphans > 0;
}

/* Timeouts double with each view that ended without a commit (PODC'19 §4.4/§6:
 * exponential back-off until the views overlap for long enough). */
static uint64_t timeout_ms(const struct hs *p)
{
	uint32_t shift = p->streak > 10 ? 10 : p->streak;
	return (uint64_t)p->cfg.view_timeout_ms << shift;
}

/* The view after a timeout in v: the next one (rotating), or the first view of the
 * next leader's epoch (stable). */
static uint64_t next_view(const struct hs *p, uint64_t v)
{
	if (!p->cfg.hotstuff_stable)
		return v + 1;
	return ((v >> HS_STABLE_SHIFT) + 1) << HS_STABLE_SHIFT;
}

/* ---- lifecycle ---- */

static void hs_destroy(void *core)
{
	struct hs *p = core;
	if (!p)
		return;
	hs_blocks_free(p);
	hs_snaps_free(p);
	free(p->blocks);
	waitq_free(&p->wq);
	free(p->chain_ts);
	exec_free(&p->exec);
	buf_free(&p->scratch);
	free(p);
}

static void *hs_create(const struct core_config *cfg)
{
	if (cfg->n < 4 || cfg->n > WIRE_MAX_REPLICAS || cfg->n != 3 * cfg->f + 1 ||
	    cfg->id >= cfg->n || cfg->checkpoint_interval == 0 || cfg->batch_max == 0 ||
	    cfg->batch_max > WIRE_MAX_BATCH || cfg->max_clients == 0 ||
	    cfg->max_clients > WIRE_MAX_CLIENTS || cfg->view_timeout_ms < 4 || !cfg->auth ||
	    cfg->hotstuff_keep > HS_KEEP)
		return NULL;
	struct hs *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->keep = cfg->hotstuff_keep ? cfg->hotstuff_keep : HS_KEEP;
	p->blocks = calloc(HS_MAX_BLOCKS, sizeof(*p->blocks));
	p->chain_ts = calloc(cfg->max_clients, sizeof(*p->chain_ts));
	buf_init_limit(&p->scratch, BUF_LIMIT_STATE);
	if (!p->blocks || !p->chain_ts || waitq_init(&p->wq, cfg->max_clients) != 0 ||
	    exec_init(&p->exec, cfg->max_clients, cfg->kv_max_bytes) != 0) {
		hs_destroy(p);
		return NULL;
	}
	static const uint8_t genesis[WIRE_DIGEST_LEN];
	hs_set_root(p, genesis, 0, 0);
	exec_digest(&p->exec, p->snap_digest); /* the empty state: checkpoint 0 */
	p->view = 1;
	return p;
}

/* ---- recovery: META, then the latest SNAP, then the committed BLOCKs above it ---- */

static int recover_meta(struct hs *p, uint64_t key, const uint8_t *val, size_t len)
{
	struct cursor c;
	cur_init(&c, val, len);
	p->view = cur_u64(&c);
	p->voted_view = cur_u64(&c);
	p->locked_view = cur_u64(&c);
	const uint8_t *lh = cur_bytes(&c, WIRE_DIGEST_LEN);
	struct hs_qc *qc = &p->high_qc;
	qc->view = cur_u64(&c);
	const uint8_t *qh = cur_bytes(&c, WIRE_DIGEST_LEN);
	qc->count = cur_u16(&c);
	if (key != 0 || !lh || !qh || !c.ok || qc->count > WIRE_MAX_REPLICAS || p->view == 0 ||
	    qc->view >= p->view)
		return -1;
	memcpy(p->locked_hash, lh, WIRE_DIGEST_LEN);
	memcpy(qc->hash, qh, WIRE_DIGEST_LEN);
	for (uint16_t i = 0; i < qc->count; i++) {
		qc->id[i] = cur_u16(&c);
		const uint8_t *s = cur_bytes(&c, WIRE_SIG_LEN);
		if (!s)
			return -1;
		memcpy(qc->sig[i], s, WIRE_SIG_LEN);
	}
	if (c.off != c.len)
		return -1;
	p->proposed_view = p->voted_view; /* a leader votes for what it proposes */
	return 0;
}

static int recover_snap(struct hs *p, uint64_t key, const uint8_t *val, size_t len)
{
	if (len < WIRE_DIGEST_LEN + 8 ||
	    exec_restore(&p->exec, val + WIRE_DIGEST_LEN + 8, len - WIRE_DIGEST_LEN - 8) != 0)
		return -1;
	hs_set_root(p, val, get_u64(val + WIRE_DIGEST_LEN), key);
	hs_keep_snapshot(p, key, val, len); /* served to replicas further behind */
	p->snap_height = key;
	exec_digest(&p->exec, p->snap_digest);
	return 0;
}

static int hs_recover(void *core, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct hs *p = core;
	switch (kind) {
	case HS_REC_META: return recover_meta(p, key, val, len);
	case HS_REC_SNAP: return recover_snap(p, key, val, len);
	case HS_REC_BLOCK:
		if (key <= p->exec_height)
			return 0; /* below the snapshot: deleted in the same transaction */
		return key == p->exec_height + 1 ? hs_replay_block(p, val, len) : -1;
	case HS_REC_VOTED: return hs_recover_voted(p, val, len);
	default: return -1;
	}
}

/* ---- events ---- */

/* NEW-VIEW(view, highQC) to every replica: the leader of `view` proposes on 2f+1 of
 * them, the others use them to synchronise views (hs_on_newview).  Broadcast rather
 * than sent to the leader alone (PODC'19 §6 leaves the pacemaker open): n^2 messages,
 * but only when a view times out, never on the happy path. */
void hs_send_newview(struct hs *p, struct effects *out)
{
	p->nv_sent_view = p->view;
	p->nv_sent_ms = p->now_ms;
	size_t off = wire_begin(&out->arena, MSG_HS_NEWVIEW, p->cfg.cluster_id, p->cfg.id, p->view,
				0);
	wire_put_hs_qc(&out->arena, &p->high_qc);
	wire_finish(&out->arena, off);
	hs_send(p, out, TO_OTHERS, off);
	hs_try_propose(p, out);
}

/* The same rule for hotstuff_leader = stable, by epochs (a leader's 2^16 views): we
 * hold a QC of our epoch (its 2f+1 voters reached it), or 2f+1 replicas (we
 * included) sent NEW-VIEWs for our epoch or later.  Without it a replica whose
 * timeouts were shorter (restarted: streak 0) ran epochs ahead of the other two
 * correct ones, which need f+1 NEW-VIEWs above them to jump; with the fourth
 * replica silent they never met (`--hotstuff-leader stable --hotstuff-keep 4
 * --view-timeout 200 --random-liars 1`, seed 145). */
static bool quorum_near_epoch(const struct hs *p)
{
	uint64_t e = p->view >> HS_STABLE_SHIFT;
	if (p->high_qc.view >> HS_STABLE_SHIFT == e)
		return true;
	uint32_t count = 1;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		count += r != p->cfg.id && p->nv_of[r] >> HS_STABLE_SHIFT >= e;
	return count >= hs_quorum(p);
}

/* May we time out of view v?  We hold the QC of v-2 (its 2f+1 voters reached v-1: a
 * leader failed on the happy path), or 2f+1 replicas (we included) sent NEW-VIEWs for
 * v or above.  Counting NEW-VIEWs for v-1 let one replica stay two views ahead of the
 * other two for ever, pushed by a selective liar's NEW-VIEWs that only it received
 * (--random-liars 1 seed 100: r3 = selective:0). */
static bool quorum_near(const struct hs *p)
{
	uint64_t v = p->view;
	if (p->cfg.hotstuff_stable)
		return quorum_near_epoch(p);
	if (p->high_qc.view + 2 >= v)
		return true;
	uint32_t count = 1;
	for (uint32_t r = 0; r < p->cfg.n; r++)
		count += r != p->cfg.id && p->nv_of[r] >= v;
	return count >= hs_quorum(p);
}

static void on_tick(struct hs *p, struct effects *out)
{
	hs_state_tick(p, out);
	if (p->n_orphans > 0 && p->now_ms >= p->fetch_ms)
		hs_fetch_orphan_parent(p, out);
	if (!hs_find(p, p->high_qc.hash)) /* recovered a QC whose block we lost */
		hs_fetch(p, p->high_qc.hash, TO_OTHERS, out);
	if (!hs_work_pending(p) || p->now_ms < p->progress_ms + timeout_ms(p))
		return;
	if (!quorum_near(p)) {
		/* Alone ahead (PBFT §4.5.2: the timer for v+1 starts only with 2f+1 in v):
		 * running on would leave the others, which need f+1 NEW-VIEWs above them to
		 * jump, behind for ever with one replica silent.  Repeat ours and wait. */
		p->progress_ms = p->now_ms;
		hs_send_newview(p, out);
		return;
	}
	/* the view ended without progress: the next one (pacemaker, Algorithm 4/5) */
	p->view = next_view(p, p->view);
	p->streak++;
	p->view_timeouts++;
	p->progress_ms = p->now_ms;
	hs_persist_meta(p, out);
	hs_send_newview(p, out);
}

static void on_msg(struct hs *p, const struct msg *m, struct effects *out)
{
	if (m->h.type == MSG_REQUEST) {
		hs_on_request(p, m, out);
		return;
	}
	if (m->h.sender >= p->cfg.n)
		return;
	switch (m->h.type) {
	case MSG_HS_PROPOSAL: hs_on_proposal(p, m, out); break;
	case MSG_HS_VOTE: hs_on_vote(p, m, out); break;
	case MSG_HS_NEWVIEW: hs_on_newview(p, m, out); break;
	case MSG_HS_FETCH: hs_on_fetch(p, m, out); break;
	case MSG_HS_BLOCK: hs_on_block(p, m, out); break;
	case MSG_FETCH_STATE: hs_on_fetch_state(p, m, out); break; /* hotstuff_state.c */
	case MSG_CHECKPOINT: hs_on_checkpoint(p, m, out); break;
	case MSG_STATE: hs_on_state(p, m, out); break;
	default: break; /* other protocols' types mean nothing here */
	}
}

static uint64_t next_deadline(struct hs *p)
{
	uint64_t t = 0;
	if (hs_work_pending(p))
		t = p->progress_ms + timeout_ms(p);
	if (p->n_orphans > 0)
		t = deadline_min(t, p->fetch_ms);
	t = deadline_min(t, hs_state_deadline(p));
	return t == 0 && hs_work_pending(p) ? 1 : t;
}

static void check_invariants(const struct hs *p)
{
	CORE_ASSERT(p->view >= 1 && p->high_qc.view < p->view);
	CORE_ASSERT(p->voted_view <= p->view);
	CORE_ASSERT(p->n_orphans <= HS_MAX_ORPHANS);
}

static int hs_step(void *core, const struct event *ev, struct effects *out)
{
	struct hs *p = core;
	CORE_ASSERT(ev->kind == EV_START || ev->kind == EV_MSG || ev->kind == EV_TICK);
	const uint64_t view0 = p->view, exec0 = p->exec_height, voted0 = p->voted_view;
	const uint64_t lock0 = p->locked_view;
	p->now_ms = ev->now_ms;
	if (ev->kind == EV_START) {
		p->progress_ms = p->now_ms;
		hs_try_propose(p, out);
	} else if (ev->kind == EV_TICK) {
		on_tick(p, out);
	} else if (ev->m) {
		on_msg(p, ev->m, out);
	}
	if (!hs_work_pending(p))
		p->progress_ms = p->now_ms; /* idle: the view timer starts with the work */
	if (p->locked_view != lock0 && p->voted_view == voted0)
		hs_persist_meta(p, out);
	out->timer_ms = next_deadline(p);
	CORE_ASSERT(p->view >= view0 && p->exec_height >= exec0); /* never go back */
	check_invariants(p);
	return 0;
}

static void hs_status(void *core, struct core_status *st)
{
	struct hs *p = core;
	memset(st, 0, sizeof(*st));
	st->protocol = "hotstuff";
	st->view = p->view;
	st->primary = hs_leader(p, p->view);
	st->view_changing = p->streak > 0;
	st->last_executed = p->exec_height;
	st->stable_checkpoint = p->snap_height;
	/* the state at that checkpoint, as PBFT and VR report it: replicas a block apart
	 * must not look diverged (tools/bzharness.py diverged()) */
	memcpy(st->state_digest, p->snap_digest, WIRE_DIGEST_LEN);
	st->requests_executed = p->requests_executed;
	st->rejected_old_view = p->rejected_old_view;
	st->rejected_out_of_window = p->rejected_out_of_window;
	st->rejected_conflict = p->rejected_conflict;
	st->rejected_rate_limited = p->rejected_rate_limited;
	st->fetching = p->xfer.seq; /* a snapshot record's height (hotstuff_state.c) */
}

const struct core_ops hotstuff_core_ops = {
	.name = "hotstuff",
	.create = hs_create,
	.destroy = hs_destroy,
	.recover = hs_recover,
	.step = hs_step,
	.status = hs_status,
};
