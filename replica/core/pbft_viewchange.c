/* pbft_viewchange.c - view changes (OSDI'99 §4.4, liveness rules §4.5.2) and
 * fetching batches by digest.
 *
 *   backup timer expires          -> VIEW-CHANGE(v+1, h, C, P) to all
 *   f+1 VIEW-CHANGEs for views > v -> join the smallest of those views
 *   primary of v+1 with 2f+1       -> NEW-VIEW(v+1, V, O) to all, enters v+1
 *   backups check O against V      -> enter v+1, PREPARE every entry of O
 *
 * O is computed deterministically from V: min-s = the highest stable checkpoint in V,
 * max-s = the highest prepared sequence number; every n in (min-s, max-s] gets the
 * digest of the highest-view prepared certificate for n, or the null request.  The
 * entries of O are compact pre-prepares (wire.h): a replica that lacks a batch
 * FETCHes it by digest from any replica.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/pbft.h"

struct o_entry {
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint32_t body_len;
	uint64_t cert_view; /* 0 and !have_cert: the null request */
	bool have_cert;
};

struct o_set {
	uint64_t min_s, max_s;
	const uint8_t *proof; /* C of the VIEW-CHANGE that claims min_s */
	uint32_t proof_len;
	uint8_t min_digest[WIRE_DIGEST_LEN];
	uint64_t min_size; /* of min_s's snapshot, as its proof certifies */
	struct o_entry *e; /* max_s - min_s entries */
};

/* Replicas whose latest VIEW-CHANGE asks for `view` or a later one (us included). */
static uint32_t vcs_for(const struct pbft *p, uint64_t view)
{
	uint32_t count = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++)
		count += p->vcs[i].raw && p->vcs[i].view >= view;
	return count;
}

void pbft_update_vc_timer(struct pbft *p)
{
	if (!p->view_active) {
		/* §4.5.2: the view change's timer starts once 2f+1 replicas (us included)
		 * asked for this view - or a later one: a replica that already gave up on
		 * this view is not coming back to it, and waiting for it would wait for
		 * ever.  Started at once, a replica cut off from the others would run
		 * through views alone, ever further ahead of them. */
		if (!p->vc_timer_ms && vcs_for(p, p->view) >= 2 * p->cfg.f + 1)
			p->vc_timer_ms = p->now_ms + pbft_timeout_ms(p);
		return;
	}
	/* A backup watches the primary while requests wait (§4.4); the primary watches
	 * its own numbers too: when the backups that could have timed out are gone to
	 * later views or have executed (the primary missed their votes), only the
	 * primary is left waiting - and with a timer, it gives the view up. */
	bool waiting = p->wq.live > 0 || (pbft_is_primary(p) && p->next_seq > p->last_executed);
	if (!waiting)
		p->vc_timer_ms = 0;
	else if (!p->vc_timer_ms)
		p->vc_timer_ms = p->now_ms + pbft_timeout_ms(p);
}

/* ---- VIEW-CHANGE ---- */

void pbft_send_viewchange(struct pbft *p, struct effects *out)
{
	struct buf *b = &out->arena;
	size_t off = wire_begin(b, MSG_VIEWCHANGE, p->cfg.cluster_id, p->cfg.id, p->view, p->low);
	if (p->low > 0 && p->ckpt_proof)
		buf_put(b, p->ckpt_proof, p->ckpt_proof_len); /* C: already n u16 | entries */
	else
		buf_put_u16(b, 0);
	size_t count_at = b->len;
	uint32_t count = 0;
	buf_put_u32(b, 0);
	for (uint64_t seq = p->low + 1; seq <= p->low + p->cfg.window; seq++) {
		struct slot *s = pbft_slot_peek(p, seq);
		if (!s || !s->cert.bytes)
			continue;
		buf_put(b, s->cert.bytes, s->cert.len);
		count++;
	}
	if (b->err)
		return;
	set_u32(b->p + count_at, count);
	wire_finish(b, off);
	pbft_send(p, out, TO_OTHERS, off);
	if (b->err)
		return;
	struct vc_msg *mine = &p->vcs[p->cfg.id];
	free(mine->raw);
	mine->raw = core_dup(b->p + off, b->len - off);
	mine->len = (uint32_t)(b->len - off);
	mine->view = p->view;
}

static void try_new_view(struct pbft *p, struct effects *out);

void pbft_start_view_change(struct pbft *p, uint64_t view, struct effects *out)
{
	if (view <= p->view && p->view_active)
		return;
	if (view < p->view)
		return;
	CORE_ASSERT(view >= p->view && view > 0); /* views never go back */
	p->view = view;
	p->view_active = false;
	p->vc_streak++;
	p->vc_timer_ms = 0;        /* until 2f+1 want this view (pbft_update_vc_timer) */
	pbft_persist_meta(p, out); /* never again act in an older view, even after a crash */
	pbft_send_viewchange(p, out);
	try_new_view(p, out);
	CORE_ASSERT(p->view >= view);
}

/* Is this a well-formed VIEW-CHANGE for its view?  (Signatures were checked at the
 * edge; here: the checkpoint proof and every prepared certificate hold together.)  A
 * certificate holds exactly 2f PREPAREs (pbft_normal.c make_cert): more would only
 * let a liar inflate the message (and the NEW-VIEW that carries it) towards WIRE_MAX_MSG. */
static int validate_vc(struct pbft *p, const struct msg *m)
{
	uint64_t h = m->h.seq;
	if (h % p->cfg.checkpoint_interval != 0)
		return -1;
	if (h > 0) {
		uint8_t d[WIRE_DIGEST_LEN];
		uint64_t size;
		size_t c_len = (size_t)(m->u.vc.pset - m->body) - 4;
		if (pbft_check_ckpt_proof(p, m->body, c_len, h, d, &size) != 0)
			return -1;
	}
	struct cursor c;
	struct vc_prepared e;
	struct msg prep;
	uint64_t last = h;
	int rc;
	wire_vc_begin(m, &c);
	while ((rc = wire_vc_next(&c, p->cfg.cluster_id, &e)) > 0) {
		const struct compact_pp *pp = &e.pp;
		uint32_t primary = pbft_primary(p, pp->h.view);
		if (pp->h.seq <= last || pp->h.seq > h + p->cfg.window || pp->h.view >= m->h.view ||
		    pp->h.sender != primary || e.n_prep != 2 * p->cfg.f)
			return -1;
		last = pp->h.seq;
		uint32_t seen = 0;
		for (uint16_t i = 0; i < e.n_prep; i++) {
			if (wire_decode(e.prep[i], e.prep_len[i], p->cfg.cluster_id, &prep) !=
				    WIRE_OK ||
			    prep.h.view != pp->h.view || prep.h.seq != pp->h.seq ||
			    prep.h.sender >= p->cfg.n || prep.h.sender == primary ||
			    (seen & (1u << prep.h.sender)) ||
			    memcmp(prep.u.dg.digest, pp->digest, WIRE_DIGEST_LEN) != 0)
				return -1;
			seen |= 1u << prep.h.sender;
		}
	}
	return rc;
}

/* §4.5.2: f+1 replicas want views above ours: join the smallest of them, so that a
 * single faulty replica cannot start view changes but correct ones are not left behind.
 * A replica "wants" a view it sent a VIEW-CHANGE for, or one it already speaks in
 * (seen_view: it entered that view without us). */
static void maybe_join(struct pbft *p, struct effects *out)
{
	uint32_t count = 0;
	uint64_t smallest = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		const struct vc_msg *v = &p->vcs[i];
		uint64_t want = v->raw ? v->view : 0;
		if (p->seen_view[i] > want)
			want = p->seen_view[i];
		if (i == p->cfg.id || want <= p->view)
			continue;
		count++;
		if (!smallest || want < smallest)
			smallest = want;
	}
	if (count >= p->cfg.f + 1)
		pbft_start_view_change(p, smallest, out);
}

/* Keep the NEW-VIEW of the view we enter (raw), to re-send it later - persisted too:
 * a primary that restarts in its view is otherwise the only replica in that view and
 * cannot let the others in (they ask with VIEW-CHANGEs it ignores, being active). */
static void keep_newview(struct pbft *p, const uint8_t *raw, size_t len, struct effects *out)
{
	uint8_t *copy = core_dup(raw, len);
	if (!copy)
		return;
	free(p->nv_raw);
	p->nv_raw = copy;
	p->nv_len = (uint32_t)len;
	p->nv_view = p->view;
	/* from the copy: raw may point into out's arena, which the persist may move */
	effects_persist(out, P_PUT, REC_NEWVIEW, 0, p->nv_raw, len);
}

/* A normal-case message of a view above ours: its sender entered that view without
 * us (we slept through the view change, or its messages were lost).  With f+1 such
 * replicas, at least one correct replica moved on: ask to join (maybe_join); the
 * replicas in that view answer our VIEW-CHANGE with their NEW-VIEW
 * (pbft_on_viewchange).  A zombie primary - no timer watches a primary - would
 * otherwise never come back. */
void pbft_note_view(struct pbft *p, uint32_t sender, uint64_t view, struct effects *out)
{
	if (sender >= p->cfg.n || sender == p->cfg.id)
		return;
	if (view > p->seen_view[sender])
		p->seen_view[sender] = view;
	maybe_join(p, out);
}

/* At most one NEW-VIEW answer per replica per half view timeout (a straggler re-sends
 * its VIEW-CHANGE once per view timeout): a liar replaying or flooding small
 * VIEW-CHANGEs cannot make us send a large NEW-VIEW for each. */
static bool nv_answer_due(struct pbft *p, uint32_t to)
{
	uint64_t every = p->cfg.view_timeout_ms / 2 ? p->cfg.view_timeout_ms / 2 : 1;
	if (p->nv_answered_ms[to] && p->now_ms < p->nv_answered_ms[to] + every)
		return false;
	p->nv_answered_ms[to] = p->now_ms ? p->now_ms : 1;
	return true;
}

void pbft_on_viewchange(struct pbft *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (v < p->view || (v == p->view && p->view_active)) {
		if (v < p->view)
			p->rejected_old_view++;
		/* It asks for the view we are in: it missed the NEW-VIEW.  Or for an older
		 * one: it missed the VIEW-CHANGEs of a later view too, and if the others are
		 * idle nothing else would tell it (its timer waits for 2f+1 of its view, the
		 * f+1 rule for normal-case messages of ours) - it would wait for ever, and
		 * with a liar among the others its reply may be the f+1st a client needs.
		 * Our NEW-VIEW lets it in (pbft_on_newview takes a later view). */
		if (p->view_active && p->nv_raw && p->nv_view == p->view &&
		    m->h.sender != p->cfg.id && m->h.sender < p->cfg.n &&
		    nv_answer_due(p, m->h.sender)) {
			size_t off = out->arena.len;
			buf_put(&out->arena, p->nv_raw, p->nv_len);
			effects_send(out, (int32_t)m->h.sender, 0, off);
		}
		return;
	}
	if (m->h.sender == p->cfg.id)
		return;
	if (validate_vc(p, m) != 0) {
		p->rejected_conflict++; /* e.g. fake prepared certificates */
		return;
	}
	pbft_evidence_vc(p, m, out); /* its certificates against ours (issue 17) */
	struct vc_msg *slot = &p->vcs[m->h.sender];
	if (slot->raw && slot->view >= v)
		return;
	uint8_t *copy = core_dup(m->raw, m->raw_len);
	if (!copy)
		return;
	free(slot->raw);
	*slot = (struct vc_msg){.view = v, .raw = copy, .len = (uint32_t)m->raw_len};
	maybe_join(p, out);
	try_new_view(p, out);
}

/* ---- computing O from V ---- */

static void o_free(struct o_set *o)
{
	free(o->e);
	memset(o, 0, sizeof(*o));
}

static void o_take_vc(struct pbft *p, const struct msg *vc, struct o_set *o)
{
	struct cursor c;
	struct vc_prepared e;
	wire_vc_begin(vc, &c);
	while (wire_vc_next(&c, p->cfg.cluster_id, &e) > 0) {
		if (e.pp.h.seq <= o->min_s || e.pp.h.seq > o->max_s)
			continue;
		struct o_entry *x = &o->e[e.pp.h.seq - o->min_s - 1];
		if (x->have_cert && x->cert_view >= e.pp.h.view)
			continue;
		x->have_cert = true;
		x->cert_view = e.pp.h.view;
		x->body_len = e.pp.h.body_len;
		memcpy(x->digest, e.pp.digest, WIRE_DIGEST_LEN);
	}
}

/* Compute O from the VIEW-CHANGE messages vcs[0..k).  Returns 0, or -1. */
static int compute_o(struct pbft *p, const struct msg *vcs, uint32_t k, struct o_set *o)
{
	CORE_ASSERT(k >= 2 * p->cfg.f + 1 && k <= p->cfg.n); /* try_new_view() counted */
	memset(o, 0, sizeof(*o));
	for (uint32_t i = 0; i < k; i++) {
		if (vcs[i].h.seq >= o->min_s) {
			o->min_s = vcs[i].h.seq;
			o->proof = vcs[i].body;
			o->proof_len = (uint32_t)(vcs[i].u.vc.pset - vcs[i].body) - 4;
		}
	}
	if (o->min_s > 0 && pbft_check_ckpt_proof(p, o->proof, o->proof_len, o->min_s,
						  o->min_digest, &o->min_size) != 0)
		return -1;
	o->max_s = o->min_s;
	for (uint32_t i = 0; i < k; i++) {
		struct cursor c;
		struct vc_prepared e;
		wire_vc_begin(&vcs[i], &c);
		while (wire_vc_next(&c, p->cfg.cluster_id, &e) > 0)
			if (e.pp.h.seq > o->max_s)
				o->max_s = e.pp.h.seq;
	}
	if (o->max_s - o->min_s > p->cfg.window)
		return -1;
	o->e = calloc(o->max_s - o->min_s + 1, sizeof(*o->e));
	if (!o->e)
		return -1;
	uint8_t null_digest[WIRE_DIGEST_LEN];
	pbft_null_digest(null_digest);
	for (uint64_t n = o->min_s + 1; n <= o->max_s; n++) {
		struct o_entry *x = &o->e[n - o->min_s - 1];
		x->seq = n;
		x->body_len = 2;
		memcpy(x->digest, null_digest, WIRE_DIGEST_LEN);
	}
	/* Planted bug (simulator only): forget every prepared certificate. */
	if (!(p->cfg.plant_bugs & PBFT_BUG_SKIP_VC_CERTS))
		for (uint32_t i = 0; i < k; i++)
			o_take_vc(p, &vcs[i], o);
	/* O numbers every slot from min-s + 1 to max-s, within one window */
	CORE_ASSERT(o->max_s >= o->min_s && o->max_s - o->min_s <= p->cfg.window);
	CORE_ASSERT(o->max_s == o->min_s || o->e[o->max_s - o->min_s - 1].seq == o->max_s);
	return 0;
}

/* ---- entering the new view ---- */

static const uint8_t null_batch[2] = {0, 0};

/* Install O's entry (seq, cpp) for the new view, keeping a batch we already hold. */
static void install_o_entry(struct pbft *p, const struct compact_pp *cpp, struct effects *out)
{
	CORE_ASSERT(p->view_active && cpp->h.view == p->view);
	struct slot *s = pbft_slot(p, cpp->h.seq);
	if (!s)
		return; /* beyond our window: we are behind and will catch up by state */
	uint8_t null_digest[WIRE_DIGEST_LEN];
	pbft_null_digest(null_digest);
	const uint8_t *batch = NULL;
	uint32_t batch_len = 0;
	if (memcmp(cpp->digest, null_digest, WIRE_DIGEST_LEN) == 0) {
		batch = null_batch;
		batch_len = sizeof(null_batch);
	} else {
		batch = pbft_slot_batch(s, cpp->digest, &batch_len);
		if (!batch)
			batch = pbft_retired_batch(p, cpp->h.seq, cpp->digest, &batch_len);
	}
	uint8_t *keep = batch && batch != null_batch ? core_dup(batch, batch_len) : NULL;
	if (pbft_install(p, s, cpp->h.view, cpp->raw, cpp->len, keep ? keep : batch, batch_len) !=
	    0) {
		free(keep);
		return;
	}
	free(keep);
	CORE_ASSERT(s->have_pp && s->view == p->view && s->seq == cpp->h.seq);
	pbft_persist_slot(p, s, out);
	if (!pbft_is_primary(p))
		pbft_send_vote(p, MSG_PREPARE, s, out);
	pbft_check_prepared(p, s, out);
}

/* Keep a batch leaving with its slot (pbft.h: struct retired_batch); takes it. */
static void retire(struct pbft *p, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		   uint8_t **batch, uint32_t len)
{
	if (!*batch)
		return;
	CORE_ASSERT(seq > p->low);
	struct retired_batch *r = &p->retired[p->retired_next++ % PBFT_RETIRED];
	free(r->batch);
	*r = (struct retired_batch){.seq = seq, .batch = *batch, .len = len};
	memcpy(r->digest, digest, WIRE_DIGEST_LEN);
	*batch = NULL;
}

const uint8_t *pbft_retired_batch(const struct pbft *p, uint64_t seq,
				  const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len)
{
	for (int i = 0; i < PBFT_RETIRED; i++) {
		const struct retired_batch *r = &p->retired[i];
		if (r->batch && r->seq == seq && seq > p->low &&
		    memcmp(r->digest, digest, WIRE_DIGEST_LEN) == 0) {
			*len = r->len;
			return r->batch;
		}
	}
	return NULL;
}

/* A slot we committed (2f+1 COMMITs of its view) that the NEW-VIEW left above max-s.
 * With at most f liars it cannot happen: 2f+1 replicas, f+1 of them correct, prepared
 * what committed, so any 2f+1 VIEW-CHANGEs hold a correct one's certificate for it and
 * O keeps it (OSDI'99 §4.4 and §4.5.1, TOCS'02 likewise: quorums intersect in a
 * correct replica).
 * More than f liars break that premise - twins prepare and commit with one voice and
 * send VIEW-CHANGEs without the slot with the other (sim_pbft_f1_two_liars_beyond_f) -
 * so it is theirs to cause, not an impossibility, and an honest core must not abort on
 * it (it did, on an assertion, once vouched COMMITs came with more than f liars).
 * Counted as a conflict (the NEW-VIEW contradicts our commit certificate); the view's
 * choice stands, as it does at every other replica entering it: we executed nothing
 * there yet.  Its mark goes with the pre-prepare (a restart would find REC_COMMITTED
 * without a pre-prepare to match).  The certificate stays (drop_unchosen): our plain
 * COMMIT still binds our VIEW-CHANGEs (forensics' omission rule).  Beyond f, safety
 * may break; the checkers show it (--expect-violation). */
static void forget_unchosen_commit(struct pbft *p, uint64_t seq, struct effects *out)
{
	p->rejected_conflict++;
	effects_persist(out, P_DEL, REC_COMMITTED, seq, NULL, 0);
}

/* Forget the pre-prepares above max-s that an older view left: the NEW-VIEW did not
 * choose them.  Their records go too, in the same turn's transaction: left in the
 * store, a restart would bring them back - and the pre-prepare of an older view in
 * which we were primary used to raise next_seq past numbers this view still has to
 * assign (issue 14).  In memory and on disk the replica then forgets alike.
 *
 * A prepared certificate stays (slot and REC_PREPARED, with its batch), as in PBFT,
 * whose P set holds every certificate above h whatever later NEW-VIEWs chose (OSDI'99
 * §4.4): our VIEW-CHANGEs keep reporting it until a certificate of a later view
 * replaces it or the checkpoint passes it.  Safety does not need that (at most f
 * liars: an unchosen slot committed nowhere), forensics does: with it, a replica
 * whose plain COMMIT says it prepared d at (v, seq) and whose later VIEW-CHANGE
 * carries nothing for seq of view >= v lied (forensics.h, the omission rule; the
 * simulator found correct replicas named on such pairs when this dropped them). */
static void drop_unchosen(struct pbft *p, uint64_t max_s, struct effects *out)
{
	for (uint64_t seq = max_s + 1; seq <= p->low + p->cfg.window; seq++) {
		struct slot *s = pbft_slot_peek(p, seq);
		if (!s || seq <= p->last_executed || s->view >= p->view ||
		    (!s->have_pp && s->cert.bytes))
			continue; /* (a certificate alone: kept by an earlier view change) */
		/* proposed in an old view, committed nowhere (it would be at or below
		 * max-s); but a later NEW-VIEW may choose its certificate again */
		struct cert keep = s->cert;
		s->cert = (struct cert){0};
		if (keep.bytes && !keep.batch && s->batch &&
		    memcmp(keep.digest, s->digest, WIRE_DIGEST_LEN) == 0) {
			keep.batch = s->batch; /* the certificate's batch: it stays with it */
			keep.batch_len = s->batch_len;
			s->batch = NULL;
		}
		retire(p, seq, s->digest, &s->batch, s->batch_len);
		effects_persist(out, P_DEL, REC_PREPREPARE, seq, NULL, 0); /* none: no-op */
		if (s->committed)
			forget_unchosen_commit(p, seq, out);
		pbft_slot_clear(s);
		if (!keep.bytes)
			continue;
		s->seq = seq;
		s->cert = keep;
		pbft_persist_cert(p, s, out); /* with its batch, now that no pre-prepare has it */
		CORE_ASSERT(!s->have_pp && s->cert.bytes && pbft_slot_peek(p, seq) == s);
	}
}

static void relay_waiting(struct pbft *p, struct effects *out)
{
	for (uint32_t c = 0; c < p->cfg.max_clients; c++) {
		const struct waiting *w = waitq_get(&p->wq, c);
		if (!w || pbft_is_primary(p))
			continue;
		size_t off = out->arena.len;
		buf_put(&out->arena, w->raw, w->len);
		effects_send(out, (int32_t)pbft_primary(p, p->view), 0, off);
	}
}

/* Enter view p->view with O (the compact pre-prepares of the NEW-VIEW). */
static void enter_view(struct pbft *p, const struct o_set *o, const struct msg *nv,
		       struct effects *out)
{
	CORE_ASSERT(o->max_s >= o->min_s); /* (a NEW-VIEW of a later view may find us active) */
	p->view_active = true;
	p->view_changes++;
	p->vc_timer_ms = 0;
	memset(p->proposed_ts, 0, p->cfg.max_clients * sizeof(*p->proposed_ts));
	pbft_persist_meta(p, out);
	/* before the window may move (moving it lets the primary propose) */
	if (pbft_is_primary(p))
		p->next_seq = o->max_s > p->last_executed ? o->max_s : p->last_executed;
	if (o->min_s > 0)
		pbft_learn_stable(p, o->min_s, o->min_digest, o->min_size, o->proof, o->proof_len,
				  out);
	struct cursor c;
	struct compact_pp cpp;
	wire_nv_begin(nv, &c);
	while (wire_nv_next(&c, p->cfg.cluster_id, &cpp) > 0)
		install_o_entry(p, &cpp, out);
	drop_unchosen(p, o->max_s, out);
	relay_waiting(p, out);
	pbft_fetch_missing(p, out);
	pbft_try_execute(p, out, true);
	CORE_ASSERT(!pbft_is_primary(p) || p->next_seq >= o->max_s);
}

/* The O entries of our view's NEW-VIEW that our window did not reach when we entered
 * the view, installed now that it does.  OSDI'99 §4.4: a replica entering view v+1
 * inserts O's pre-prepares in its log, and if min-s is above its stable checkpoint it
 * takes min-s's proof and "obtains the missing state".  Our low watermark moves only
 * with the state (make_stable), so a replica that entered far behind, as the others'
 * min-s could not be adopted before the transfer, dropped every O entry above its old
 * window (install_o_entry).  A backup gets them back from the primary's re-sends; the
 * primary gets its own pre-prepares from nobody (pbft_on_peer_status: "it has its
 * own"), could not order them, gave its view up on its timer and sat alone in the next
 * view (simulator seed 167, docs/TESTING.md).  Called when a state transfer moved the
 * window. */
void pbft_install_newview_rest(struct pbft *p, struct effects *out)
{
	struct msg nv;
	if (!p->view_active || !p->nv_raw || p->nv_view != p->view ||
	    wire_decode(p->nv_raw, p->nv_len, p->cfg.cluster_id, &nv) != WIRE_OK ||
	    nv.h.type != MSG_NEWVIEW || nv.h.view != p->view)
		return;
	struct cursor c;
	struct compact_pp cpp;
	bool any = false;
	wire_nv_begin(&nv, &c);
	while (wire_nv_next(&c, p->cfg.cluster_id, &cpp) > 0) {
		const struct slot *s = pbft_slot_peek(p, cpp.h.seq);
		if (cpp.h.seq <= p->last_executed || !pbft_in_window(p, cpp.h.seq) ||
		    (s && s->have_pp && s->view == p->view))
			continue; /* executed, still beyond the window, or installed already */
		install_o_entry(p, &cpp, out);
		any = true;
	}
	if (any)
		pbft_fetch_missing(p, out);
}

/* Decode the stored VIEW-CHANGEs for p->view; returns how many (own included). */
static uint32_t gather_vcs(struct pbft *p, struct msg *vcs)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < p->cfg.n && k < 2 * p->cfg.f + 1; i++) {
		const struct vc_msg *v = &p->vcs[i];
		if (v->raw && v->view == p->view &&
		    wire_decode(v->raw, v->len, p->cfg.cluster_id, &vcs[k]) == WIRE_OK)
			k++;
	}
	CORE_ASSERT(k <= 2 * p->cfg.f + 1 && k <= p->cfg.n); /* one per replica */
	return k;
}

static void put_o(struct pbft *p, const struct o_set *o, struct buf *b)
{
	buf_put_u32(b, (uint32_t)(o->max_s - o->min_s));
	for (uint64_t n = o->min_s + 1; n <= o->max_s; n++) {
		const struct o_entry *x = &o->e[n - o->min_s - 1];
		size_t len_at = b->len;
		buf_put_u32(b, 0);
		size_t off = wire_begin(b, MSG_PREPREPARE, p->cfg.cluster_id, p->cfg.id, p->view,
					n);
		if (b->err)
			return;
		set_u32(b->p + off + WIRE_OFF_BODY_LEN, x->body_len);
		buf_put(b, x->digest, WIRE_DIGEST_LEN);
		auth_seal_cpp(p->cfg.auth, b, off);
		if (!b->err)
			set_u32(b->p + len_at, (uint32_t)(b->len - off));
	}
}

static void try_new_view(struct pbft *p, struct effects *out)
{
	if (p->view_active || pbft_primary(p, p->view) != p->cfg.id || p->nv_sent == p->view ||
	    !p->vcs[p->cfg.id].raw || p->vcs[p->cfg.id].view != p->view)
		return;
	struct msg vcs[WIRE_MAX_REPLICAS];
	uint32_t k = gather_vcs(p, vcs);
	if (k < 2 * p->cfg.f + 1)
		return;
	struct o_set o;
	if (compute_o(p, vcs, k, &o) != 0) {
		o_free(&o);
		return;
	}
	struct buf *b = &out->arena;
	size_t off = wire_begin(b, MSG_NEWVIEW, p->cfg.cluster_id, p->cfg.id, p->view, 0);
	buf_put_u16(b, (uint16_t)k);
	for (uint32_t i = 0; i < k; i++) {
		buf_put_u32(b, (uint32_t)vcs[i].raw_len);
		buf_put(b, vcs[i].raw, vcs[i].raw_len);
	}
	put_o(p, &o, b);
	wire_finish(b, off);
	pbft_send(p, out, TO_OTHERS, off);
	struct msg nv;
	if (!b->err) {
		/* decode our kept copy: entering the view appends to (and may move) the
		 * arena the NEW-VIEW was built in */
		keep_newview(p, b->p + off, b->len - off, out);
		if (p->nv_raw && p->nv_view == p->view &&
		    wire_decode(p->nv_raw, p->nv_len, p->cfg.cluster_id, &nv) == WIRE_OK) {
			p->nv_sent = p->view;
			enter_view(p, &o, &nv, out);
		}
	}
	o_free(&o);
}

/* ---- NEW-VIEW ---- */

/* Does the O of this NEW-VIEW equal what V yields?  Fills o. */
static int check_newview(struct pbft *p, const struct msg *m, struct o_set *o)
{
	const struct body_newview *nv = &m->u.nv;
	struct msg vcs[WIRE_MAX_REPLICAS];
	uint32_t seen = 0;
	memset(o, 0, sizeof(*o));
	if (nv->n_vc < 2 * p->cfg.f + 1 || nv->n_vc > p->cfg.n)
		return -1;
	for (uint16_t i = 0; i < nv->n_vc; i++) {
		if (wire_decode(nv->vc[i], nv->vc_len[i], p->cfg.cluster_id, &vcs[i]) != WIRE_OK ||
		    vcs[i].h.view != m->h.view || vcs[i].h.sender >= p->cfg.n ||
		    (seen & (1u << vcs[i].h.sender)) || validate_vc(p, &vcs[i]) != 0)
			return -1;
		seen |= 1u << vcs[i].h.sender;
	}
	if (compute_o(p, vcs, nv->n_vc, o) != 0 || nv->n_o != o->max_s - o->min_s)
		return -1;
	struct cursor c;
	struct compact_pp cpp;
	uint64_t n = o->min_s;
	wire_nv_begin(m, &c);
	while (wire_nv_next(&c, p->cfg.cluster_id, &cpp) > 0) {
		const struct o_entry *x = &o->e[n - o->min_s];
		n++;
		if (cpp.h.seq != n || cpp.h.view != m->h.view || cpp.h.sender != m->h.sender ||
		    cpp.h.body_len != x->body_len ||
		    memcmp(cpp.digest, x->digest, WIRE_DIGEST_LEN) != 0)
			return -1;
	}
	return n == o->max_s ? 0 : -1;
}

void pbft_on_newview(struct pbft *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (v < p->view) {
		p->rejected_old_view++;
		return;
	}
	if ((v == p->view && p->view_active) || m->h.sender == p->cfg.id)
		return;
	struct o_set o = {0}; /* freed below even when check_newview is not reached */
	if (m->h.sender != pbft_primary(p, v) || check_newview(p, m, &o) != 0) {
		p->rejected_conflict++; /* a new primary that lies about O */
		o_free(&o);
		return;
	}
	CORE_ASSERT(v >= p->view); /* views never go back */
	p->view = v;
	keep_newview(p, m->raw, m->raw_len, out);
	enter_view(p, &o, m, out);
	o_free(&o);
}

/* max-s of the kept NEW-VIEW of our view: its highest O entry, or with an empty O the
 * highest checkpoint in V (min-s).  Returns 0, or -1 if we do not hold it. */
int pbft_newview_max_s(struct pbft *p, uint64_t *max_s)
{
	struct msg nv;
	if (!p->nv_raw || p->nv_view != p->view ||
	    wire_decode(p->nv_raw, p->nv_len, p->cfg.cluster_id, &nv) != WIRE_OK ||
	    nv.h.type != MSG_NEWVIEW)
		return -1;
	uint64_t top = 0;
	for (uint16_t i = 0; i < nv.u.nv.n_vc; i++)
		if (nv.u.nv.vc_len[i] >= WIRE_HDR_LEN &&
		    get_u64(nv.u.nv.vc[i] + WIRE_OFF_SEQ) > top)
			top = get_u64(nv.u.nv.vc[i] + WIRE_OFF_SEQ);
	struct cursor c;
	struct compact_pp cpp;
	wire_nv_begin(&nv, &c);
	while (wire_nv_next(&c, p->cfg.cluster_id, &cpp) > 0)
		if (cpp.h.seq > top)
			top = cpp.h.seq;
	*max_s = top;
	return 0;
}

/* ---- fetching batches by digest ---- */

void pbft_fetch_missing(struct pbft *p, struct effects *out)
{
	bool missing = false;
	for (uint64_t seq = pbft_first_open(p); seq <= p->low + p->cfg.window; seq++) {
		struct slot *s = pbft_slot_peek(p, seq);
		if (!s || !s->have_pp || s->batch)
			continue;
		size_t off = wire_put_digest(&out->arena, MSG_FETCH, p->cfg.cluster_id, p->cfg.id,
					     p->view, seq, s->digest);
		pbft_send(p, out, TO_OTHERS, off);
		missing = true;
	}
	uint64_t every = p->cfg.view_timeout_ms / 4 ? p->cfg.view_timeout_ms / 4 : 1;
	p->fetch_ms = missing ? p->now_ms + every : 0;
}

void pbft_on_fetch(struct pbft *p, const struct msg *m, struct effects *out)
{
	struct slot *s = pbft_slot_peek(p, m->h.seq);
	uint32_t len = 0;
	const uint8_t *batch = s ? pbft_slot_batch(s, m->u.dg.digest, &len) : NULL;
	if (!batch)
		batch = pbft_retired_batch(p, m->h.seq, m->u.dg.digest, &len);
	if (!batch || m->h.sender >= p->cfg.n)
		return;
	/* ~100 bytes asked, up to a whole batch answered: the asker's budget pays */
	uint64_t cost = (uint64_t)WIRE_HDR_LEN + len;
	uint64_t least = PBFT_FETCH_BYTES / p->cfg.window;
	if (!budget_take(&p->fetch_budget[m->h.sender], p->now_ms, PBFT_FETCH_BYTES,
			 p->cfg.view_timeout_ms, cost > least ? cost : least)) {
		p->rejected_rate_limited++;
		return;
	}
	size_t off = wire_begin(&out->arena, MSG_BATCH, p->cfg.cluster_id, p->cfg.id, p->view,
				m->h.seq);
	buf_put(&out->arena, batch, len);
	wire_finish(&out->arena, off);
	pbft_send(p, out, (int32_t)m->h.sender, off);
}

void pbft_on_batch(struct pbft *p, const struct msg *m, struct effects *out)
{
	struct slot *s = pbft_slot_peek(p, m->h.seq);
	if (!s || !s->have_pp || s->batch)
		return;
	/* Content addressed: the digest proves the bytes, whoever sent them. */
	if (pbft_install(p, s, s->view, s->cpp, s->cpp_len, m->body, m->h.body_len) != 0)
		return;
	pbft_persist_slot(p, s, out);
	pbft_try_execute(p, out, true);
}

/* ---- recovery of a prepared certificate ---- */

int pbft_recover_cert(struct pbft *p, uint64_t seq, const uint8_t *val, size_t len)
{
	struct slot *s = pbft_slot_peek(p, seq);
	if (!s)
		return 0;
	struct cursor c;
	struct vc_prepared e;
	cur_init(&c, val, len);
	if (wire_vc_next(&c, p->cfg.cluster_id, &e) != 1 || e.pp.h.seq != seq)
		return -1;
	size_t cert_len = c.off; /* then the batch, if it was kept (pbft_persist_cert) */
	uint8_t d[WIRE_DIGEST_LEN];
	if (len > cert_len) {
		crypto_digest(val + cert_len, len - cert_len, d);
		if (memcmp(d, e.pp.digest, WIRE_DIGEST_LEN) != 0)
			return -1;
	}
	uint8_t *bytes = core_dup(val, cert_len);
	uint8_t *batch = len > cert_len ? core_dup(val + cert_len, len - cert_len) : NULL;
	if (!bytes || (len > cert_len && !batch)) {
		free(bytes);
		free(batch);
		return -1;
	}
	free(s->cert.bytes);
	free(s->cert.batch);
	s->cert = (struct cert){.view = e.pp.h.view,
				.bytes = bytes,
				.len = (uint32_t)cert_len,
				.batch = batch,
				.batch_len = (uint32_t)(len - cert_len)};
	memcpy(s->cert.digest, e.pp.digest, WIRE_DIGEST_LEN);
	if (s->have_pp && s->view == e.pp.h.view &&
	    memcmp(s->digest, e.pp.digest, WIRE_DIGEST_LEN) == 0)
		s->prepared = true;
	return 0;
}
