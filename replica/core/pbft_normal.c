/* pbft_normal.c - PBFT normal-case operation (Castro & Liskov, OSDI'99 §4.2).
 *
 *   client --REQUEST--> primary --PRE-PREPARE--> backups --PREPARE--> all
 *   prepared  = pre-prepare + 2f matching prepares from distinct backups
 *   committed = prepared + 2f+1 matching commits from distinct replicas
 *   execute in sequence order, then REPLY to the client.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/pbft.h"

static unsigned commit_quorum(const struct pbft *p)
{
	if (p->cfg.plant_bugs & PBFT_BUG_COMMIT_QUORUM_2F)
		return 2 * p->cfg.f;
	return 2 * p->cfg.f + 1;
}

static void send_reply(struct pbft *p, uint32_t client, uint64_t ts, const uint8_t *result,
		       uint32_t len, struct effects *out)
{
	size_t off = wire_put_reply(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view, client, ts,
				    result, len);
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, TO_CLIENT, client, off);
}

/* PBFT §5.1.1, digest replies: the designated replier sends the result, the others its
 * digest, which the client matches against it.  The designated replier is the primary:
 * it executes first, so the client waits for nobody slower than with full replies.
 * (Replica (client + timestamp) mod n was measured first: 29% less throughput, as the
 * client then waited for one particular, often lagging, replica.)  If the primary's
 * full reply is missing or wrong, the client's retransmission gets full replies from
 * everyone (a cached result is always sent in full): a lying primary costs each
 * request a retransmission timeout without causing a view change. */
static void send_executed_reply(struct pbft *p, uint32_t client, uint64_t ts, const uint8_t *result,
				uint32_t len, struct effects *out)
{
	if (!p->cfg.digest_replies || pbft_is_primary(p)) {
		send_reply(p, client, ts, result, len, out);
		return;
	}
	uint8_t digest[WIRE_DIGEST_LEN];
	crypto_digest(result, len, digest);
	size_t off = wire_put_reply_digest(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view,
					   client, ts, digest);
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, TO_CLIENT, client, off);
}

static void send_raw(struct effects *out, int32_t to, const uint8_t *raw, size_t len)
{
	size_t off = out->arena.len;
	buf_put(&out->arena, raw, len);
	effects_send(out, to, 0, off);
}

/* Send our PREPARE or COMMIT for s and keep it as our own vote. */
void pbft_send_vote(struct pbft *p, uint8_t type, const struct slot *s, struct effects *out)
{
	size_t off = wire_put_digest(&out->arena, type, p->cfg.cluster_id, p->cfg.id, s->view,
				     s->seq, s->digest);
	pbft_send(p, out, TO_OTHERS, off);
	if (out->arena.err)
		return;
	CORE_ASSERT(s->have_pp && s->seq != 0);
	struct slot *ms = (struct slot *)s;
	struct vote *v = type == MSG_PREPARE ? &ms->prepare[p->cfg.id] : &ms->commit[p->cfg.id];
	pbft_vote_set(v, s->view, s->digest, out->arena.p + off, (uint32_t)(out->arena.len - off));
}

/* PBFT §5.1.3: a read-only request is executed at once against the current state (here
 * always a committed prefix: no tentative execution) and answered directly, without a
 * sequence number; the client needs 2f+1 matching replies, or retries it as a
 * read-write request.  A request flagged read-only whose operation is not goes through
 * agreement as any other (a careless client then just waits for 2f+1 replies). */
static int answer_readonly(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (!p->cfg.read_only || !(m->u.req.flags & REQ_F_READONLY) ||
	    !kv_op_is_readonly(m->u.req.op, m->u.req.op_len))
		return 0;
	/* After a restart our state may be older than one we answered from before the
	 * crash (committed marks are on disk, their batches may not be): a read from it
	 * could go back in time.  Stay silent until we executed that far again; the
	 * client retries through agreement.  Found by the simulator (--read-only). */
	if (p->last_executed < p->readonly_floor)
		return 1;
	const uint8_t *result;
	uint32_t len;
	exec_read(&p->exec, m->u.req.op, m->u.req.op_len, &result, &len);
	send_reply(p, m->h.sender, m->u.req.timestamp, result, len, out);
	p->readonly_answered++;
	return 1;
}

void pbft_on_request(struct pbft *p, const struct msg *m, struct effects *out)
{
	uint32_t c = m->h.sender;
	const uint8_t *result;
	uint32_t len;
	if (answer_readonly(p, m, out))
		return;
	int verdict = exec_classify(&p->exec, c, m->u.req.timestamp);
	if (verdict == EXEC_CACHED) {
		/* §4.1: a retransmission of the last executed request gets the cached reply */
		exec_request(&p->exec, m, &result, &len);
		send_reply(p, c, m->u.req.timestamp, result, len, out);
		return;
	}
	if (verdict != EXEC_NEW || m->u.req.timestamp <= p->proposed_ts[c])
		return; /* stale, or already in a pre-prepare in flight */
	const struct waiting *w = waitq_get(&p->wq, c);
	if (w && w->ts >= m->u.req.timestamp)
		return; /* already waiting */
	waitq_push(&p->wq, m);
	if (!pbft_is_primary(p)) {
		/* §4.4: a backup relays the request to the primary and watches it: the
		 * view-change timer runs while a request waits (pbft_update_vc_timer).
		 * Robust mode: clients send to every replica (Aardvark §4.2), so the relay
		 * waits until the request is half overdue (pbft_robust.c, check_order). */
		if (p->cfg.robust)
			pbft_robust_request(p, m);
		else if (p->view_active)
			send_raw(out, (int32_t)pbft_primary(p, p->view), m->raw, m->raw_len);
		return;
	}
	pbft_try_propose(p, out);
}

/* ---- batching and proposing (primary) ---- */

static uint32_t inflight(const struct pbft *p)
{
	CORE_ASSERT(p->next_seq >= p->last_executed);
	return (uint32_t)(p->next_seq - p->last_executed);
}

/* Take up to batch_max waiting requests, in arrival order. */
static uint16_t take_batch(struct pbft *p)
{
	uint16_t count = 0;
	int64_t c;
	while (count < p->cfg.batch_max && (c = waitq_head(&p->wq)) >= 0) {
		waitq_pop(&p->wq);
		const struct waiting *w = &p->wq.ent[c];
		p->batch_req[count] = w->raw;
		p->batch_len[count] = w->len;
		p->batch_client[count] = (uint32_t)c;
		p->proposed_ts[c] = w->ts;
		count++;
	}
	CORE_ASSERT(count <= p->cfg.batch_max && count <= WIRE_MAX_BATCH);
	return count;
}

static int install(struct pbft *p, struct slot *s, uint64_t view, const uint8_t *cpp,
		   uint32_t cpp_len, const uint8_t *batch, uint32_t batch_len);
static void catchup_on_commit(struct pbft *p, const struct msg *m);
static void catchup_on_preprepare(struct pbft *p, const struct msg *m, const uint8_t *known);

static void propose_one(struct pbft *p, struct effects *out)
{
	CORE_ASSERT(pbft_is_primary(p) && p->view_active);
	uint16_t count = take_batch(p);
	if (count == 0)
		return;
	uint64_t seq = ++p->next_seq;
	/* a number never given before in this view: above what is executed, in window */
	CORE_ASSERT(seq > p->last_executed && pbft_in_window(p, seq));
	CORE_ASSERT(!pbft_slot_peek(p, seq) || !pbft_slot_peek(p, seq)->have_pp ||
		    pbft_slot_peek(p, seq)->view < p->view);
	size_t off = wire_put_preprepare(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view, seq,
					 count, p->batch_req, p->batch_len);
	for (uint16_t i = 0; i < count; i++)
		waitq_withdraw(&p->wq, p->batch_client[i]); /* copied into the batch */
	pbft_send(p, out, TO_OTHERS, off);
	if (out->arena.err)
		return;
	const uint8_t *pp = out->arena.p + off;
	uint32_t body_len = get_u32(pp + WIRE_OFF_BODY_LEN);
	uint8_t digest[WIRE_DIGEST_LEN];
	crypto_digest(pp + WIRE_HDR_LEN, body_len, digest);
	buf_reset(&p->scratch);
	wire_put_cpp(&p->scratch, pp, out->arena.len - off, digest);
	struct slot *s = pbft_slot(p, seq);
	/* install(), not pbft_install(): cpp holds the digest just taken of this batch */
	if (p->scratch.err || install(p, s, p->view, p->scratch.p, (uint32_t)p->scratch.len,
				      pp + WIRE_HDR_LEN, body_len) != 0) {
		out->arena.err = WIRE_E_NOMEM; /* cannot keep our word: fail the step */
		return;
	}
	CORE_ASSERT(s->have_pp && s->view == p->view && s->seq == p->next_seq && s->batch);
	/* Persisted before the send leaves (driver order): a restarted primary must
	 * never assign this sequence number to another batch in this view. */
	pbft_persist_slot(p, s, out);
}

void pbft_try_propose(struct pbft *p, struct effects *out)
{
	if (!pbft_is_primary(p) || !p->view_active)
		return;
	while (core_may_start_batch(p->wq.live, inflight(p), p->cfg.batch_max, PBFT_PIPELINE) &&
	       pbft_in_window(p, p->next_seq + 1) && !out->arena.err) {
		uint64_t before = p->next_seq;
		propose_one(p, out);
		if (p->next_seq == before)
			break; /* nothing could be taken: do not spin */
	}
}

/* ---- pre-prepare, prepare, commit ---- */

/* Install in slot s; the caller vouches that the batch, if any, matches cpp's digest. */
static int install(struct pbft *p, struct slot *s, uint64_t view, const uint8_t *cpp,
		   uint32_t cpp_len, const uint8_t *batch, uint32_t batch_len)
{
	struct compact_pp c;
	CORE_ASSERT(s->seq != 0 && pbft_in_window(p, s->seq));
	if (wire_decode_cpp(cpp, cpp_len, p->cfg.cluster_id, &c) != WIRE_OK)
		return -1;
	const bool was_committed = s->committed;
	bool same = s->have_pp && memcmp(s->digest, c.digest, WIRE_DIGEST_LEN) == 0;
	/* A committed digest is final (§4.5.1: every later view keeps it).  Only a faulty
	 * primary offers another one - e.g. for a number at or below its NEW-VIEW's
	 * stable checkpoint, to a replica not there yet - and taking it would have us
	 * prepare it, and leave a log that no longer recovers (recover_committed). */
	if (s->committed && !same)
		return -1;
	uint8_t *cpp_copy = core_dup(cpp, cpp_len);
	if (!cpp_copy)
		return -1;
	if (batch || !same) {
		uint8_t *batch_copy = batch ? core_dup(batch, batch_len) : NULL;
		if (batch && !batch_copy) {
			free(cpp_copy);
			return -1;
		}
		if (!same && s->batch && s->cert.bytes &&
		    memcmp(s->cert.digest, s->digest, WIRE_DIGEST_LEN) == 0) {
			/* the batch our prepared certificate vouches for: keep it */
			free(s->cert.batch);
			s->cert.batch = s->batch;
			s->cert.batch_len = s->batch_len;
		} else {
			free(s->batch);
		}
		s->batch = batch_copy;
		s->batch_len = batch ? batch_len : 0;
	}
	free(s->cpp);
	s->cpp = cpp_copy;
	s->cpp_len = cpp_len;
	if (s->view != view)
		s->prepared = false; /* prepared is per view */
	s->committed = s->committed && same;
	s->view = view;
	s->have_pp = true;
	memcpy(s->digest, c.digest, WIRE_DIGEST_LEN);
	if (batch && !pbft_is_primary(p))
		pbft_robust_ordered_batch(p, batch, batch_len); /* robust: ordered */
	/* a committed slot's digest never changes, nor does it stop being committed */
	CORE_ASSERT(!was_committed || (s->committed && same));
	return 0;
}

/* Install an accepted pre-prepare (compact form; batch if we have it) in slot s. */
int pbft_install(struct pbft *p, struct slot *s, uint64_t view, const uint8_t *cpp,
		 uint32_t cpp_len, const uint8_t *batch, uint32_t batch_len)
{
	struct compact_pp c;
	if (batch) {
		uint8_t d[WIRE_DIGEST_LEN];
		if (wire_decode_cpp(cpp, cpp_len, p->cfg.cluster_id, &c) != WIRE_OK)
			return -1;
		crypto_digest(batch, batch_len, d);
		if (memcmp(d, c.digest, WIRE_DIGEST_LEN) != 0)
			return -1;
	}
	return install(p, s, view, cpp, cpp_len, batch, batch_len);
}

/* The batch with this digest, if the slot holds it: its pre-prepare's, or that of its
 * prepared certificate from an earlier view.  NULL if neither. */
const uint8_t *pbft_slot_batch(const struct slot *s, const uint8_t digest[WIRE_DIGEST_LEN],
			       uint32_t *len)
{
	if (s->batch && s->have_pp && memcmp(s->digest, digest, WIRE_DIGEST_LEN) == 0) {
		*len = s->batch_len;
		return s->batch;
	}
	if (s->cert.batch && memcmp(s->cert.digest, digest, WIRE_DIGEST_LEN) == 0) {
		*len = s->cert.batch_len;
		return s->cert.batch;
	}
	return NULL;
}

/* REC_PREPARED: the certificate, then its batch if we hold it - a later view's
 * pre-prepare may take the slot (and REC_PREPREPARE) while a NEW-VIEW can still
 * choose this certificate, and then someone must have the batch. */
void pbft_persist_cert(struct pbft *p, const struct slot *s, struct effects *out)
{
	uint32_t len = 0;
	const uint8_t *batch = pbft_slot_batch(s, s->cert.digest, &len);
	buf_reset(&p->scratch);
	buf_put(&p->scratch, s->cert.bytes, s->cert.len);
	if (batch)
		buf_put(&p->scratch, batch, len);
	if (p->scratch.err) {
		out->arena.err = WIRE_E_NOMEM;
		return;
	}
	effects_persist(out, P_PUT, REC_PREPARED, s->seq, p->scratch.p, p->scratch.len);
}

void pbft_persist_slot(struct pbft *p, const struct slot *s, struct effects *out)
{
	buf_reset(&p->scratch);
	buf_put_u32(&p->scratch, s->cpp_len);
	buf_put(&p->scratch, s->cpp, s->cpp_len);
	if (s->batch)
		buf_put(&p->scratch, s->batch, s->batch_len);
	if (p->scratch.err) {
		out->arena.err = WIRE_E_NOMEM;
		return;
	}
	effects_persist(out, P_PUT, REC_PREPREPARE, s->seq, p->scratch.p, p->scratch.len);
	if (s->cert.batch)
		pbft_persist_cert(p, s, out); /* its batch just left REC_PREPREPARE */
}

static void persist_committed(struct pbft *p, const struct slot *s, struct effects *out)
{
	CORE_ASSERT(s->committed && s->have_pp && pbft_in_window(p, s->seq));
	uint8_t val[8 + WIRE_DIGEST_LEN];
	set_u64(val, s->view);
	memcpy(val + 8, s->digest, WIRE_DIGEST_LEN);
	effects_persist(out, P_PUT, REC_COMMITTED, s->seq, val, sizeof(val));
	(void)p;
}

static void check_committed(struct pbft *p, struct slot *s, struct effects *out)
{
	if (!s->prepared || s->committed)
		return;
	if (pbft_count_votes(s->commit, p->cfg.n, s->view, s->digest) < commit_quorum(p))
		return;
	CORE_ASSERT(s->have_pp && s->cert.bytes && s->cert.view == s->view);
	s->committed = true;
	persist_committed(p, s, out);
	pbft_try_execute(p, out, true);
}

/* Keep the certificate (compact pre-prepare + the matching PREPAREs) as a ready
 * VIEW-CHANGE P-entry, and persist it before our COMMIT leaves.  Exactly 2f PREPAREs,
 * all PBFT §4.4 asks for: a VIEW-CHANGE carries one certificate per prepared slot of
 * the window (and a NEW-VIEW 2f+1 VIEW-CHANGEs), so certificates of every backup's
 * PREPARE (they can all arrive before the pre-prepare) made them half as large again
 * at n = 31 (docs/PROTOCOL.md §5.6 has the sizes). */
static int make_cert(struct pbft *p, struct slot *s, struct effects *out)
{
	struct buf *b = &p->scratch;
	buf_reset(b);
	buf_put_u32(b, s->cpp_len);
	buf_put(b, s->cpp, s->cpp_len);
	size_t count_at = b->len;
	uint16_t count = 0;
	buf_put_u16(b, 0);
	for (uint32_t i = 0; i < p->cfg.n && count < 2 * p->cfg.f; i++) {
		const struct vote *v = &s->prepare[i];
		if (!v->have || !v->raw || v->view != s->view ||
		    memcmp(v->digest, s->digest, WIRE_DIGEST_LEN) != 0)
			continue;
		buf_put_u32(b, v->raw_len);
		buf_put(b, v->raw, v->raw_len);
		count++;
	}
	if (b->err || count < 2 * p->cfg.f)
		return -1;
	CORE_ASSERT(count == 2 * p->cfg.f); /* distinct backups: the primary sends none */
	set_u16(b->p + count_at, count);
	uint8_t *bytes = core_dup(b->p, b->len);
	if (!bytes)
		return -1;
	free(s->cert.bytes);
	free(s->cert.batch); /* superseded: this certificate is of a later view */
	s->cert = (struct cert){.view = s->view, .bytes = bytes, .len = (uint32_t)b->len};
	memcpy(s->cert.digest, s->digest, WIRE_DIGEST_LEN);
	pbft_persist_cert(p, s, out);
	return 0;
}

void pbft_check_prepared(struct pbft *p, struct slot *s, struct effects *out)
{
	if (!s->have_pp || s->prepared || !p->view_active || s->view != p->view)
		return;
	/* The primary sends no PREPARE: its pre-prepare stands for it, so 2f prepares
	 * from distinct backups are needed (the primary's vote slot stays empty). */
	if (pbft_count_votes(s->prepare, p->cfg.n, s->view, s->digest) < 2 * p->cfg.f)
		return;
	if (make_cert(p, s, out) != 0)
		return;
	CORE_ASSERT(s->cert.view == s->view && !memcmp(s->cert.digest, s->digest, WIRE_DIGEST_LEN));
	s->prepared = true;
	pbft_send_vote(p, MSG_COMMIT, s, out);
	check_committed(p, s, out);
}

static void help_laggard(struct pbft *p, struct slot *s, uint32_t to, struct effects *out);
static void vouch_slot(struct pbft *p, struct slot *s);
static void send_preprepare(const struct slot *s, int32_t to, struct effects *out);
static void show_early_dissenters(struct pbft *p, struct slot *s, struct effects *out);
static void show_preprepare(struct pbft *p, struct slot *s, uint32_t to, struct effects *out);

/* Common admission for messages of the normal case: current, active view; in window. */
static struct slot *admit(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (m->h.view < p->view) {
		p->rejected_old_view++; /* a zombie's or a slow replica's: the view fences it */
		return NULL;
	}
	if (m->h.view > p->view) {
		pbft_note_view(p, m->h.sender, m->h.view, out); /* are we the zombie? */
		return NULL;
	}
	if (!p->view_active)
		return NULL; /* a view we have not entered yet; the view change will tell */
	struct slot *s = pbft_slot(p, m->h.seq);
	if (!s) {
		p->rejected_out_of_window++;
		if (m->h.seq > p->low) /* above it: useful once the window moves */
			ahead_keep(&p->ahead, m->h.seq, m->h.sender, AHEAD_MAX_MSGS / p->cfg.n,
				   m->raw, m->raw_len);
	}
	return s;
}

void pbft_on_preprepare(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (m->h.sender != pbft_primary(p, m->h.view) || m->h.sender == p->cfg.id) {
		p->rejected_conflict++; /* only the view's primary may assign numbers */
		return;
	}
	pbft_robust_saw_preprepare(p, m); /* robust mode's heartbeat (pbft_robust.c) */
	if (m->h.view != p->view || !p->view_active) {
		catchup_on_preprepare(p, m, NULL); /* as in pbft_on_commit() */
		pbft_try_execute(p, out, true);
	}
	struct slot *s = admit(p, m, out);
	if (!s)
		return;
	uint8_t digest[WIRE_DIGEST_LEN];
	crypto_digest(m->body, m->h.body_len, digest);
	if (s->have_pp && s->view == m->h.view) {
		if (memcmp(digest, s->digest, WIRE_DIGEST_LEN) != 0) {
			p->rejected_conflict++; /* equivocation: the first one stands */
			/* and two signed ones prove it (issue 17) */
			pbft_evidence_pp(p, s, m, digest, out);
			catchup_on_preprepare(p, m, digest); /* unless the others committed it */
			pbft_try_execute(p, out, true);
		} else if (!s->batch) { /* the batch hashes to s->digest, which s->cpp holds */
			/* As a BATCH answering our FETCH (pbft_on_batch): keep it, and execute
			 * what it completes.  §4.2: a slot executes once committed-local with
			 * all below executed - and once we hold its request: the commit may
			 * have come before the batch (a slot restored from our log without
			 * it, or one a NEW-VIEW issued again after we executed it on a
			 * certificate), and the votes that follow are repeats, which
			 * re-check nothing.  Found by the simulator (seed 5680). */
			if (install(p, s, s->view, s->cpp, s->cpp_len, m->body, m->h.body_len) != 0)
				return;
			pbft_persist_slot(p, s, out);
			pbft_try_execute(p, out, true);
		} else
			help_laggard(p, s, m->h.sender, out);
		return;
	}
	buf_reset(&p->scratch);
	wire_put_cpp(&p->scratch, m->raw, m->raw_len, digest);
	if (p->scratch.err || install(p, s, m->h.view, p->scratch.p, (uint32_t)p->scratch.len,
				      m->body, m->h.body_len) != 0)
		return;
	pbft_persist_slot(p, s, out);
	pbft_send_vote(p, MSG_PREPARE, s, out);
	show_early_dissenters(p, s, out); /* after our PREPARE: it goes first */
	pbft_check_prepared(p, s, out);
}

/* Record a PREPARE or COMMIT vote; a second, different vote of the same sender for
 * the same slot and view is a conflict and is ignored (the first one stands), and the
 * two are evidence against the sender (issue 17, pbft_evidence.c: both are kept as
 * received, so COMMITs keep their bytes too).
 * Returns 1 if the vote is new, 0 for a repeat of the same vote, -1 for a conflict. */
static int take_vote(struct pbft *p, struct vote *v, const struct msg *m, struct effects *out)
{
	/* votes are kept one per replica, indexed by sender: auth_verify() let in only
	 * senders < n (core.h, contract 1), so counts can never exceed n */
	CORE_ASSERT(m->h.sender < p->cfg.n && m->h.sender != p->cfg.id);
	if (v->have && v->view == m->h.view) {
		if (memcmp(v->digest, m->u.dg.digest, WIRE_DIGEST_LEN) != 0) {
			p->rejected_conflict++;
			pbft_evidence(p, v->raw, v->raw_len, m->raw, m->raw_len, out);
			return -1;
		}
		return 0;
	}
	/* a COMMIT's bytes serve only as half of a proof (evidence off: not kept) */
	bool keep = m->h.type == MSG_PREPARE || !p->cfg.evidence_off;
	pbft_vote_set(v, m->h.view, m->u.dg.digest, keep ? m->raw : NULL, (uint32_t)m->raw_len);
	return 1;
}

/* A replica re-sent its vote (or pre-prepare) on a slot we already executed: it is
 * still waiting for it (see "retransmission" below), maybe for votes of ours that were
 * lost.  Send them to it again.  Only replicas that executed the slot answer, only to
 * repeats, and at most once per half view timeout per peer and slot: two replicas that
 * both executed it would otherwise answer each other's answers for ever. */
/* Our PREPARE and COMMIT of slot s in its view, as we sealed them, to `to`. */
static void send_own_votes(const struct pbft *p, const struct slot *s, int32_t to,
			   struct effects *out)
{
	const struct vote *prep = &s->prepare[p->cfg.id];
	const struct vote *com = &s->commit[p->cfg.id];
	if (prep->have && prep->raw && prep->view == s->view)
		send_raw(out, to, prep->raw, prep->raw_len);
	if (com->have && com->raw && com->view == s->view)
		send_raw(out, to, com->raw, com->raw_len);
}

static void help_laggard(struct pbft *p, struct slot *s, uint32_t to, struct effects *out)
{
	if (s->seq > p->last_executed || s->view != p->view || to >= p->cfg.n)
		return;
	uint64_t every = p->cfg.view_timeout_ms / 2 ? p->cfg.view_timeout_ms / 2 : 1;
	if (s->helped_ms[to] && p->now_ms < s->helped_ms[to] + every)
		return;
	s->helped_ms[to] = p->now_ms ? p->now_ms : 1;
	vouch_slot(p, s); /* it may lack exactly our COMMIT of this view */
	send_own_votes(p, s, (int32_t)to, out);
}

/* A new vote for another digest than the pre-prepare we accepted for its slot and
 * view: the primary equivocated, or the voter lies (issue 5: equivocate, bad-digest).
 * Counted, as a conflict: the vote is kept as any other (it is the sender's, and
 * counts towards nothing but its own digest).
 * With evidence on (issue 17), we also show the voter (not the primary) the
 * PRE-PREPARE we hold, once per slot, view and voter (show_preprepare).  A correct
 * voter votes only for a PRE-PREPARE the primary signed, so if the primary equivocated
 * the voter now holds two, a proof it keeps and gossips at once (pbft_on_preprepare):
 * a proven primary is then replaced in that step, before any view timer
 * (pbft_evidence_step), instead of being found out only in the VIEW-CHANGEs after the
 * timer.  A lying voter gets one PRE-PREPARE per slot from us, no more. */
static void note_mismatch(struct pbft *p, struct slot *s, const struct msg *m, struct effects *out)
{
	if (!s->have_pp || s->view != m->h.view ||
	    memcmp(s->digest, m->u.dg.digest, WIRE_DIGEST_LEN) == 0)
		return;
	p->rejected_conflict++;
	show_preprepare(p, s, m->h.sender, out);
}

static void show_preprepare(struct pbft *p, struct slot *s, uint32_t to, struct effects *out)
{
	if (p->cfg.evidence_off || to >= p->cfg.n || to == p->cfg.id ||
	    to == pbft_primary(p, s->view))
		return;
	if (s->shown_view != s->view) {
		s->shown_view = s->view;
		s->shown_pp = 0;
	}
	if (s->shown_pp & (1u << to))
		return;
	s->shown_pp |= 1u << to;
	send_preprepare(s, (int32_t)to, out);
}

/* Our pre-prepare just arrived: the votes for another digest that came before it get
 * it too (note_mismatch). */
static void show_early_dissenters(struct pbft *p, struct slot *s, struct effects *out)
{
	for (uint32_t j = 0; j < p->cfg.n && !p->cfg.evidence_off; j++) {
		const struct vote *v[2] = {&s->prepare[j], &s->commit[j]};
		for (int k = 0; k < 2; k++)
			if (v[k]->have && v[k]->view == s->view &&
			    memcmp(v[k]->digest, s->digest, WIRE_DIGEST_LEN) != 0)
				show_preprepare(p, s, j, out);
	}
}

void pbft_on_prepare(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (m->h.sender == pbft_primary(p, m->h.view) || m->h.sender == p->cfg.id) {
		p->rejected_conflict++; /* the primary does not prepare (§4.2) */
		return;
	}
	struct slot *s = admit(p, m, out);
	if (!s)
		return;
	int rc = take_vote(p, &s->prepare[m->h.sender], m, out);
	if (rc > 0) {
		pbft_evidence_planted(p, m, out); /* PBFT_BUG_ACCUSE_ONE only */
		note_mismatch(p, s, m, out);
		pbft_check_prepared(p, s, out);
	} else if (rc == 0) {
		help_laggard(p, s, m->h.sender, out);
	}
}

void pbft_on_commit(struct pbft *p, const struct msg *m, struct effects *out)
{
	if (m->h.sender == p->cfg.id)
		return;
	if (m->h.view != p->view || !p->view_active) {
		catchup_on_commit(p, m); /* admit() refuses it; it may still prove a commit */
		pbft_try_execute(p, out, true);
	}
	struct slot *s = admit(p, m, out);
	if (!s)
		return;
	int rc = take_vote(p, &s->commit[m->h.sender], m, out);
	if (rc > 0) {
		note_mismatch(p, s, m, out);
		check_committed(p, s, out);
		/* A certificate may stand without our prepare, or for another digest than
		 * our pre-prepare's (§5.12); otherwise check_committed() decided. */
		if (!s->committed &&
		    (!s->prepared || memcmp(m->u.dg.digest, s->digest, WIRE_DIGEST_LEN) != 0))
			pbft_try_execute(p, out, true);
	} else if (rc == 0) {
		help_laggard(p, s, m->h.sender, out);
	}
}

/* ---- retransmission ----
 * Nothing below the core retransmits, so a PRE-PREPARE, PREPARE or COMMIT that was
 * lost - or that reached a replica before the NEW-VIEW that lets it in, which travels
 * on another link - would leave its slot stuck until a view change, and the next view
 * can lose the same race.  So while a slot of the current view waits to execute, we
 * re-send what we said about it (the same sealed bytes: receivers ignore duplicates)
 * every half view timeout, before the backups' view-change timers run out; during a
 * view change, our VIEW-CHANGE every view timeout. */

static bool waiting(const struct pbft *p, const struct slot *s)
{
	return s && s->have_pp && s->view == p->view && s->seq > p->last_executed;
}

/* Send the primary's PRE-PREPARE of slot s again, as the primary sealed it: the
 * compact form's header and trailer around the batch (the trailer covers header |
 * digest in both), so any replica holding the batch can relay it. */
static void send_preprepare(const struct slot *s, int32_t to, struct effects *out)
{
	if (!s->batch || s->cpp_len < WIRE_CPP_LEN_MIN)
		return;
	size_t off = out->arena.len;
	buf_put(&out->arena, s->cpp, WIRE_HDR_LEN);
	buf_put(&out->arena, s->batch, s->batch_len);
	buf_put(&out->arena, s->cpp + WIRE_CPP_LEN_MIN, s->cpp_len - WIRE_CPP_LEN_MIN);
	effects_send(out, to, 0, off);
}

static void resend_slot(struct pbft *p, const struct slot *s, struct effects *out)
{
	const struct vote *prep = &s->prepare[p->cfg.id];
	const struct vote *com = &s->commit[p->cfg.id];
	if (pbft_primary(p, s->view) == p->cfg.id) {
		send_preprepare(s, TO_OTHERS, out);
	} else if (prep->have && prep->raw && prep->view == s->view) {
		send_raw(out, TO_OTHERS, prep->raw, prep->raw_len);
	}
	if (s->prepared && com->have && com->raw && com->view == s->view)
		send_raw(out, TO_OTHERS, com->raw, com->raw_len);
}

/* While a view change waits, our VIEW-CHANGE is what gets re-sent: the others' f+1
 * rule and the NEW-VIEW re-send (pbft_on_viewchange) depend on it arriving. */
static const struct vc_msg *own_vc(const struct pbft *p)
{
	const struct vc_msg *v = &p->vcs[p->cfg.id];
	return !p->view_active && v->raw && v->view == p->view ? v : NULL;
}

void pbft_resend_arm(struct pbft *p)
{
	if (p->resend_ms)
		return;
	uint64_t full = p->cfg.view_timeout_ms ? p->cfg.view_timeout_ms : 1;
	uint64_t every = 0;
	if (!p->view_active) {
		if (own_vc(p))
			every = full;
	} else {
		for (uint64_t seq = pbft_first_open(p); seq <= p->low + p->cfg.window; seq++)
			if (waiting(p, pbft_slot_peek(p, seq))) {
				every = full / 2 ? full / 2 : 1;
				break;
			}
	}
	if (!every && pbft_own_ckpt_pending(p))
		every = full;
	if (every)
		p->resend_ms = p->now_ms + every;
}

void pbft_resend(struct pbft *p, struct effects *out)
{
	p->resend_ms = 0;
	pbft_resend_checkpoints(p, out);
	if (!p->view_active) {
		const struct vc_msg *v = own_vc(p);
		if (v)
			send_raw(out, TO_OTHERS, v->raw, v->len);
		return;
	}
	for (uint64_t seq = pbft_first_open(p); seq <= p->low + p->cfg.window; seq++) {
		struct slot *s = pbft_slot_peek(p, seq);
		if (waiting(p, s))
			resend_slot(p, s, out);
	}
}

/* ---- peer status (as in Castro's BFT library) ----
 * Everything above helps a replica that is behind only while it hears new traffic:
 * re-sends cover slots it holds a PRE-PREPARE for, and CHECKPOINTs arrive only as
 * the others take them.  In a cluster that went idle, a replica that lost the
 * PRE-PREPARE of a slot, or every CHECKPOINT of a proven checkpoint, would stay behind
 * for good (the simulator's convergence check found both).  So a replica that executed
 * nothing during a view timeout says where it stands, in a PEER_STATUS, and each peer
 * that is ahead answers with what it lacks: the proof of the peer's stable checkpoint
 * if it is behind that (it can then fetch the state), and the PRE-PREPAREs and the
 * peer's own votes of the next slots executed in the current view.  Under load no
 * replica is idle and none is sent. */

/* Do we know that s's digest committed at s->seq?  Committed-local in the slot, or
 * executed on a commit certificate (catchup_next) for that same digest: a NEW-VIEW
 * re-issues what committed with its digest (§4.4), so the slot of the later view
 * holds what we executed. */
static bool knows_committed(const struct pbft *p, const struct slot *s)
{
	if (s->committed)
		return true;
	const struct catchup_vouch *vc = catchup_vouch_get(&p->catchup, s->seq);
	return s->seq <= p->last_executed && vc &&
	       memcmp(vc->digest, s->digest, WIRE_DIGEST_LEN) == 0;
}

/* Our COMMIT for a slot whose digest we know committed (knows_committed) and that has
 * none of ours in the slot's view - typically one a NEW-VIEW issued again (same
 * digest: it keeps what committed) after we executed it, before we prepared it there.
 * We vouch for it as vouch() does (docs/PROTOCOL.md §5.12).  Without it, a slot the
 * up-to-date replicas had executed on a certificate got no COMMIT in the new view
 * from them, and with the third replica a proven liar a restarted laggard never
 * gathered 2f+1 in one view (simulator seed 1205, docs/TESTING.md). */
static void vouch_slot(struct pbft *p, struct slot *s)
{
	struct vote *com = &s->commit[p->cfg.id];
	if (!s->have_pp || !knows_committed(p, s) ||
	    (com->have && com->raw && com->view == s->view))
		return;
	uint32_t len;
	const uint8_t *raw = pbft_seal_vouched(p, s->view, s->seq, s->digest, &len);
	if (raw)
		pbft_vote_set(com, s->view, s->digest, raw, len);
}

void pbft_status_tick(struct pbft *p, struct effects *out)
{
	if (!p->status_ms || p->now_ms < p->status_ms)
		return;
	uint64_t mark = pbft_progress_mark(p);
	if (mark == p->status_mark) {
		size_t off = wire_begin(&out->arena, MSG_PEER_STATUS, p->cfg.cluster_id, p->cfg.id,
					p->view, p->last_executed);
		buf_put_u64(&out->arena, p->low);
		wire_finish(&out->arena, off);
		pbft_send(p, out, TO_OTHERS, off);
	}
	p->status_mark = mark;
	p->status_ms = p->now_ms + (p->cfg.view_timeout_ms ? p->cfg.view_timeout_ms : 1);
}

void pbft_on_peer_status(struct pbft *p, const struct msg *m, struct effects *out)
{
	uint32_t from = m->h.sender;
	bool behind_slots = m->h.seq < p->last_executed, behind_proof = m->u.low < p->low;
	if (from == p->cfg.id || from >= p->cfg.n || (!behind_slots && !behind_proof) ||
	    (p->cfg.plant_bugs & PBFT_BUG_NO_PEER_STATUS))
		return;
	/* at most once per half view timeout per peer: a liar cannot make us a flood */
	uint64_t every = p->cfg.view_timeout_ms / 2 ? p->cfg.view_timeout_ms / 2 : 1;
	if (p->status_answered_ms[from] && p->now_ms < p->status_answered_ms[from] + every)
		return;
	p->status_answered_ms[from] = p->now_ms ? p->now_ms : 1;
	if (behind_proof) /* it may have executed there and still lack the proof */
		pbft_send_stable_proof(p, from, out);
	if (!behind_slots)
		return;
	/* Whatever view it or we are in: what the normal case would not let in, the
	 * catch-up path can use (catchup.h).  Votes first: it keeps a batch only once
	 * the votes certify it. */
	uint64_t first = (m->h.seq > p->low ? m->h.seq : p->low) + 1;
	uint64_t slots = m->h.view == p->view && p->view_active ? PBFT_STATUS_SLOTS : CATCHUP_SLOTS;
	size_t start = out->arena.len;
	for (uint64_t seq = first; seq <= p->last_executed && seq < first + slots &&
				   out->arena.len - start < PBFT_STATUS_BYTES;
	     seq++) {
		const struct catchup_vouch *vc = catchup_vouch_get(&p->catchup, seq);
		if (vc)
			send_raw(out, (int32_t)from, vc->raw, vc->len);
		struct slot *s = pbft_slot_peek(p, seq);
		if (!s || !s->have_pp)
			continue;
		vouch_slot(p, s);
		send_own_votes(p, s, (int32_t)from, out);
		if (from != pbft_primary(p, s->view)) /* it has its own */
			send_preprepare(s, (int32_t)from, out);
		/* what it echoes back (help_laggard) need not be answered again at once */
		s->helped_ms[from] = p->now_ms ? p->now_ms : 1;
	}
}

/* ---- execution ---- */

/* What a slot executes: its sequence number, the view and digest that committed it,
 * and its batch. */
struct committed_batch {
	uint64_t seq, view;
	const uint8_t *digest;
	const uint8_t *batch;
	uint32_t batch_len;
};

static void execute_batch(struct pbft *p, const struct committed_batch *s, struct effects *out,
			  bool replying)
{
	struct body_preprepare b;
	struct msg req;
	CORE_ASSERT(s->seq == p->last_executed + 1);
	if (wire_decode_batch(s->batch, s->batch_len, p->cfg.cluster_id, &b) != WIRE_OK)
		abort(); /* its digest matched what we checked on arrival: memory corruption */
	for (uint16_t i = 0; i < b.count; i++) {
		const uint8_t *result;
		uint32_t len;
		if (wire_decode(b.req[i], b.req_len[i], p->cfg.cluster_id, &req) != WIRE_OK)
			abort();
		int verdict = exec_request(&p->exec, &req, &result, &len);
		waitq_done(&p->wq, req.h.sender, req.u.req.timestamp);
		pbft_robust_ordered(p, req.h.sender, req.u.req.timestamp);
		if (verdict == EXEC_STALE)
			continue; /* §4.1: older than the client's last: never re-executed */
		if (verdict == EXEC_NEW) {
			p->requests_executed++;
			p->vc_streak = 0;   /* progress: the view-change timeout resets */
			p->vc_timer_ms = 0; /* and the timer restarts (pbft_update_vc_timer) */
		}
		if (replying)
			send_executed_reply(p, req.h.sender, req.u.req.timestamp, result, len, out);
	}
	CORE_ASSERT(p->last_executed + 1 == s->seq); /* the caller advances it */
	effects_exec(out, s->seq, s->view, s->digest, b.count);
}

/* ---- executing on a commit certificate alone (catchup.h) ----
 * 2f+1 COMMITs for (view, seq, digest) prove the digest committed at seq whatever
 * view we are in.  The normal case needs our own pre-prepare and prepare for it too;
 * without them - stranded in a view change, a pre-prepare of an equivocating primary
 * accepted, PREPAREs lost - the certificate and the batch are enough. */

/* Replicas whose COMMIT for (view, digest) at the slot's seq we know of: kept for
 * catch-up (cs), in the slot (s), or our own - a prepared certificate of ours means we
 * sent that COMMIT.  Either of cs and s may be NULL. */
static uint32_t commit_votes(const struct pbft *p, const struct catchup_slot *cs,
			     const struct slot *s, uint64_t view, const uint8_t *digest)
{
	uint32_t count = 0;
	CORE_ASSERT(digest != NULL && p->cfg.n <= WIRE_MAX_REPLICAS);
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		const struct catchup_vote *v = cs ? &cs->vote[i] : NULL;
		const struct vote *c = s ? &s->commit[i] : NULL;
		bool own = i == p->cfg.id && s && s->cert.bytes && s->cert.view == view &&
			   memcmp(s->cert.digest, digest, WIRE_DIGEST_LEN) == 0;
		if ((v && v->have && v->view == view &&
		     !memcmp(v->digest, digest, WIRE_DIGEST_LEN)) ||
		    (c && c->have && c->view == view &&
		     !memcmp(c->digest, digest, WIRE_DIGEST_LEN)) ||
		    own)
			count++;
	}
	CORE_ASSERT(count <= p->cfg.n); /* one per replica: distinct voters */
	return count;
}

/* A (view, digest) that 2f+1 replicas committed at seq: true, and *view, *digest.
 * The candidates are the votes kept for catch-up and those in the slot. */
static bool certified(struct pbft *p, uint64_t seq, uint64_t *view, const uint8_t **digest)
{
	const struct catchup_slot *cs = catchup_peek(&p->catchup, seq);
	const struct slot *s = pbft_slot_peek(p, seq);
	const uint32_t n = p->cfg.n;
	if (!cs) { /* the hot path: a slot of our view, still collecting votes */
		uint32_t votes = 0;
		for (uint32_t i = 0; s && i < n; i++)
			votes += s->commit[i].have || (i == p->cfg.id && s->cert.bytes);
		if (votes < commit_quorum(p))
			return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct catchup_vote *v = cs ? &cs->vote[i] : NULL;
		const struct vote *c = s ? &s->commit[i] : NULL;
		if (v && v->have &&
		    commit_votes(p, cs, s, v->view, v->digest) >= commit_quorum(p)) {
			*view = v->view;
			*digest = v->digest;
			return true;
		}
		if (c && c->have &&
		    commit_votes(p, cs, s, c->view, c->digest) >= commit_quorum(p)) {
			*view = c->view;
			*digest = c->digest;
			return true;
		}
	}
	CORE_ASSERT(n <= WIRE_MAX_REPLICAS);
	return false;
}

/* The next slot, if a commit certificate and a batch with its digest say what it is. */
static bool catchup_next(struct pbft *p, struct committed_batch *e)
{
	uint64_t seq = p->last_executed + 1, view;
	const uint8_t *digest;
	if (!pbft_in_window(p, seq) || !certified(p, seq, &view, &digest))
		return false;
	*e = (struct committed_batch){.seq = seq, .view = view, .digest = digest};
	const struct catchup_slot *cs = catchup_peek(&p->catchup, seq);
	const struct slot *s = pbft_slot_peek(p, seq);
	if (cs && cs->batch && !memcmp(cs->batch_digest, digest, WIRE_DIGEST_LEN)) {
		e->batch = cs->batch;
		e->batch_len = cs->batch_len;
	} else if (s) {
		e->batch = pbft_slot_batch(s, digest, &e->batch_len);
	}
	return e->batch != NULL;
}

/* The catch-up slot for seq: just above what we executed, and inside the window. */
static struct catchup_slot *catchup_claim(struct pbft *p, uint64_t seq)
{
	return pbft_in_window(p, seq) ? catchup_slot(&p->catchup, p->last_executed, seq) : NULL;
}

/* A COMMIT of a view other than our active one: remember it for catch-up. */
static void catchup_on_commit(struct pbft *p, const struct msg *m)
{
	struct catchup_slot *cs = catchup_claim(p, m->h.seq);
	if (cs && m->h.sender < p->cfg.n)
		catchup_vote(cs, m->h.sender, m->h.view, m->u.dg.digest);
}

/* A PRE-PREPARE the normal case refuses (another view, or a second one of our view):
 * keep its batch unless the one kept has as many COMMITs or more.  A liar's junk
 * batch, first to arrive, is so replaced as the correct replicas' votes come in.
 * digest: of its batch if the caller took it already, else NULL. */
static void catchup_on_preprepare(struct pbft *p, const struct msg *m, const uint8_t *known)
{
	struct catchup_slot *cs = catchup_claim(p, m->h.seq);
	if (!cs)
		return;
	uint8_t digest[WIRE_DIGEST_LEN];
	if (known)
		memcpy(digest, known, WIRE_DIGEST_LEN);
	else
		crypto_digest(m->body, m->h.body_len, digest);
	const struct slot *s = pbft_slot_peek(p, m->h.seq);
	if (cs->batch && (!memcmp(cs->batch_digest, digest, WIRE_DIGEST_LEN) ||
			  commit_votes(p, cs, s, cs->batch_view, cs->batch_digest) >=
				  commit_votes(p, cs, s, m->h.view, digest)))
		return;
	catchup_keep_batch(&p->catchup, cs, m->h.view, digest, m->body, m->h.body_len);
}

/* Seal and keep our COMMIT for a slot executed on a certificate.  Safe to send though
 * we never prepared it: every COMMIT of a correct replica is then either from one that
 * prepared the digest in that view or from one that knows it committed, so any 2f+1
 * COMMITs still certify the one digest that committed there (docs/PROTOCOL.md §5.12).
 * It appears in no VIEW-CHANGE, which carries prepared certificates only. */
static void vouch(struct pbft *p, const struct committed_batch *e)
{
	uint32_t len;
	const uint8_t *raw = pbft_seal_vouched(p, e->view, e->seq, e->digest, &len);
	if (raw)
		catchup_vouch_put(&p->catchup, e->seq, e->digest, raw, len);
}

void pbft_try_execute(struct pbft *p, struct effects *out, bool replying)
{
	for (;;) {
		catchup_forget_upto(&p->catchup, p->last_executed);
		struct slot *s = pbft_slot_peek(p, p->last_executed + 1);
		struct committed_batch e;
		if (s && s->committed && s->batch) {
			e = (struct committed_batch){.seq = s->seq,
						     .view = s->view,
						     .digest = s->digest,
						     .batch = s->batch,
						     .batch_len = s->batch_len};
		} else if (catchup_next(p, &e)) {
			/* Not persisted as committed (the slot is not ours to change), but
			 * read-only answers must not go back to before it after a restart:
			 * the floor only rises (a restart may have set it above e.seq). */
			uint8_t val[8];
			if (e.seq > p->readonly_floor)
				p->readonly_floor = e.seq;
			set_u64(val, p->readonly_floor);
			effects_persist(out, P_PUT, REC_CAUGHT_UP, 0, val, sizeof(val));
			vouch(p, &e);
			p->caught_up++;
		} else {
			break; /* not committed yet, or its batch is still being fetched */
		}
		/* in order, one at a time, within the window */
		CORE_ASSERT(e.seq == p->last_executed + 1 && pbft_in_window(p, e.seq));
		CORE_ASSERT(e.batch != NULL && e.digest != NULL);
		execute_batch(p, &e, out, replying);
		p->last_executed = e.seq;
		if (p->next_seq < e.seq)
			p->next_seq = e.seq; /* a primary numbers after what others executed */
		if (e.seq % p->cfg.checkpoint_interval == 0)
			pbft_take_checkpoint(p, out);
		CORE_ASSERT(p->last_executed >= e.seq && p->next_seq >= p->last_executed);
	}
	pbft_try_propose(p, out);
}
