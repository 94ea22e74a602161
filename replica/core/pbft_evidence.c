/* pbft_evidence.c - the PBFT core's side of issue 17 (accountability): where the core
 * refuses a second, different statement of one replica about one slot (a PRE-PREPARE,
 * PREPARE or COMMIT for a (view, seq) it already holds one of, with another digest:
 * rejected.conflict), it keeps the two as a proof (evidence.h), shares it, and acts.
 *
 * Keep: counts the detection per accused replica, keeps and persists the first proof
 * per accused (REC_EVIDENCE, key = accused; a proof replaces a suspicion), notes every
 * detection in the step's effects (effects_evidence) and shows both in status.
 * Memory is bounded: n proofs of at most EVIDENCE_MAX bytes, plus the raw COMMITs of
 * the window (kept only so that a COMMIT can be half of a proof).
 *
 * Share (gossip): a PROOF newly kept - found here or received - goes to every other
 * replica in one MSG_EVIDENCE (body: the proof as stored), in the step that persists
 * it, so after it on disk (core.h, rule 2).  A receiver believes it only if it
 * verifies from the public keys alone (evidence_verify); one against a replica we
 * already hold a proof against is dropped before any signature check.  So each
 * replica sends a given accused's proof once per kept proof: at most n - 1 messages
 * per replica and accused, plus one re-send each time it votes a proven primary out
 * (below).  Suspicions (MACed COMMITs, auth = mac; anything with auth = none) are
 * never sent: they convince nobody else (PBFT §2).
 *
 * Act (docs/PROTOCOL.md §12, "Acting on a proof"): only on PROOFs, and only on the
 * accused (a proof verifies only against the signer of both statements):
 *   - a proven primary of our view is voted out at once (VIEW-CHANGE for view + 1, no
 *     timeout), and so is the primary of a view we are changing to;
 *   - every message whose sender is proven, CHECKPOINTs aside, is dropped before the
 *     protocol sees it (ignored_proven).  Safe: a proven replica is faulty (a correct one never signs
 *     two digests for one slot), at most f are, and ignoring one is what it could do
 *     itself by going silent, which PBFT tolerates: the 2f+1 correct replicas still
 *     form every quorum.  Only direct messages are dropped: a proven replica's
 *     statements nested in a correct replica's VIEW-CHANGE or NEW-VIEW still count,
 *     as that replica's certificate (dropping them could lose a prepared request).
 *
 * Sources of the statements: the slot's compact PRE-PREPARE (s->cpp), the votes'
 * sealed bytes (struct vote.raw), and the prepared certificates inside VIEW-CHANGEs
 * (whose nested PRE-PREPAREs and PREPAREs the edge verified, auth.c).  An equivocating
 * primary sends each backup one version only: the other version reaches a backup in
 * the VIEW-CHANGEs of those that prepared it, or relayed in a PEER_STATUS answer.
 */
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/pbft.h"

static bool evidence_on(const struct pbft *p)
{
	return !p->cfg.evidence_off;
}

static bool proven(const struct pbft *p, uint32_t replica)
{
	return replica < p->cfg.n && p->evidence.kind[replica] == EVIDENCE_PROOF;
}

/* One MSG_EVIDENCE carrying proof to every other replica. */
static void gossip(struct pbft *p, const uint8_t *proof, size_t len, struct effects *out)
{
	struct buf *b = &out->arena;
	size_t off = wire_begin(b, MSG_EVIDENCE, p->cfg.cluster_id, p->cfg.id, p->view, 0);
	buf_put(b, proof, len);
	wire_finish(b, off);
	pbft_send(p, out, TO_OTHERS, off);
	p->ev_sent++;
}

static void record(struct pbft *p, int kind, bool planted, struct effects *out)
{
	const uint8_t *proof = p->ev_buf.p;
	size_t len = p->ev_buf.len;
	if (p->ev_buf.err || len < EVIDENCE_HDR_LEN)
		return;
	uint32_t accused = get_u32(proof + 12); /* evidence.h: after magic..cluster */
	if (accused >= p->cfg.n)
		return;
	int rc;
	if (planted) { /* evidence_note would refuse it: it proves nothing */
		rc = p->evidence.count[accused]++ == 0;
		p->evidence.kind[accused] = (uint8_t)kind;
	} else {
		rc = evidence_note(&p->evidence, proof, len);
	}
	if (rc < 0)
		return;
	/* persisted with the step, so before anything the step sends (core.h, rule 2) */
	if (rc == 1)
		effects_persist(out, P_PUT, REC_EVIDENCE, accused, proof, len);
	effects_evidence(out, accused, (uint8_t)kind, proof, len);
	if (rc == 1 && kind == EVIDENCE_PROOF) /* after the persist above: rule 2 */
		gossip(p, proof, len, out);
}

void pbft_evidence(struct pbft *p, const uint8_t *first, size_t first_len, const uint8_t *second,
		   size_t second_len, struct effects *out)
{
	if (!first || !second || !evidence_on(p))
		return; /* a vote whose bytes we did not keep: counted as a conflict only */
	buf_reset(&p->ev_buf);
	int kind = evidence_make(&p->ev_buf, p->cfg.cluster_id, first, first_len, second,
				 second_len);
	if (kind != EVIDENCE_NONE)
		record(p, kind, false, out);
}

void pbft_evidence_pp(struct pbft *p, const struct slot *s, const struct msg *m,
		      const uint8_t digest[WIRE_DIGEST_LEN], struct effects *out)
{
	/* the compact form of m: header | digest | trailer (what its trailer covers) */
	uint8_t cpp[EVIDENCE_STMT_MAX];
	if (!evidence_on(p) || m->raw_len < WIRE_HDR_LEN + (size_t)m->h.body_len)
		return;
	size_t trailer = m->raw_len - WIRE_HDR_LEN - m->h.body_len;
	if (trailer > EVIDENCE_STMT_MAX - WIRE_CPP_LEN_MIN)
		return;
	memcpy(cpp, m->raw, WIRE_HDR_LEN);
	memcpy(cpp + WIRE_HDR_LEN, digest, WIRE_DIGEST_LEN);
	memcpy(cpp + WIRE_CPP_LEN_MIN, m->auth, trailer);
	pbft_evidence(p, s->cpp, s->cpp_len, cpp, WIRE_CPP_LEN_MIN + trailer, out);
}

/* One prepared certificate of a VIEW-CHANGE against slot s. */
static void check_cert(struct pbft *p, const struct slot *s, const struct vc_prepared *e,
		       struct effects *out)
{
	uint64_t view = e->pp.h.view;
	if (s->have_pp && s->view == view)
		pbft_evidence(p, s->cpp, s->cpp_len, e->pp.raw, e->pp.len, out);
	if (s->cert.bytes && s->cert.view == view && s->cert.len >= 4 &&
	    get_u32(s->cert.bytes) <= s->cert.len - 4)
		pbft_evidence(p, s->cert.bytes + 4, get_u32(s->cert.bytes), e->pp.raw, e->pp.len,
			      out);
	for (uint16_t i = 0; i < e->n_prep; i++) {
		uint32_t j = get_u32(e->prep[i] + WIRE_OFF_SENDER);
		const struct vote *v = j < p->cfg.n ? &s->prepare[j] : NULL;
		if (v && v->have && v->raw && v->view == view)
			pbft_evidence(p, v->raw, v->raw_len, e->prep[i], e->prep_len[i], out);
	}
}

void pbft_evidence_vc(struct pbft *p, const struct msg *vc, struct effects *out)
{
	/* Without auth the nested statements are the VIEW-CHANGE sender's word only:
	 * a liar could put anything in any replica's name. */
	if (p->cfg.auth->mode == AUTH_MODE_NONE || !evidence_on(p))
		return;
	struct cursor c;
	struct vc_prepared e;
	wire_vc_begin(vc, &c);
	while (wire_vc_next(&c, p->cfg.cluster_id, &e) > 0) {
		const struct slot *s = pbft_slot_peek(p, e.pp.h.seq);
		if (s)
			check_cert(p, s, &e, out);
	}
}

void pbft_evidence_planted(struct pbft *p, const struct msg *m, struct effects *out)
{
	struct evidence_stmt st;
	if (!(p->cfg.plant_bugs & PBFT_BUG_ACCUSE_ONE) || m->h.sender >= p->cfg.n ||
	    p->evidence.count[m->h.sender] != 0 ||
	    evidence_stmt_parse(m->raw, m->raw_len, p->cfg.cluster_id, &st) != 0)
		return;
	buf_reset(&p->ev_buf);
	evidence_encode(&p->ev_buf, EVIDENCE_PROOF, &st, &st);
	record(p, EVIDENCE_PROOF, true, out);
}

/* ---- gossip: receiving ---- */

void pbft_on_evidence(struct pbft *p, const struct msg *m, struct effects *out)
{
	uint32_t accused;
	uint8_t kind;
	if (!evidence_on(p))
		return;
	/* cheap checks first: the header says a proof against a replica we know */
	if (evidence_peek(m->body, m->h.body_len, &accused, &kind) != 0 || kind != EVIDENCE_PROOF ||
	    accused >= p->cfg.n) {
		p->rejected_bad_evidence++;
		return;
	}
	if (proven(p, accused)) {
		p->ev_duplicate++; /* nothing new: no signature checked */
		return;
	}
	/* verify before believing: both statements signed by the accused, conflicting */
	if (evidence_verify(m->body, m->h.body_len, p->cfg.n, p->cfg.auth->replica_pk) != 0) {
		p->rejected_bad_evidence++;
		return;
	}
	p->ev_learnt++;
	buf_reset(&p->ev_buf);
	buf_put(&p->ev_buf, m->body, m->h.body_len);
	record(p, EVIDENCE_PROOF, false, out); /* keep, persist, pass on */
}

/* ---- acting on proofs ---- */

bool pbft_evidence_ignores(struct pbft *p, const struct msg *m)
{
	/* a REQUEST's sender is a client; our own messages never come back here.  A
	 * CHECKPOINT is kept: it also arrives relayed, as part of a stable proof
	 * (pbft_send_stable_proof), and a certificate of 2f+1 signed CHECKPOINTs holds
	 * with up to f liars among them (PBFT §4.3).  Dropping a proven liar's share left
	 * a correct laggard without any proof once the up-to-date replicas had pruned
	 * their logs (sim seed 435: --auth sig --random-liars 1 --ops 30). */
	if (!evidence_on(p) || m->h.type == MSG_REQUEST || m->h.type == MSG_CHECKPOINT ||
	    m->h.sender == p->cfg.id || !proven(p, m->h.sender))
		return false;
	p->ev_ignored++;
	return true;
}

void pbft_evidence_step(struct pbft *p, struct effects *out)
{
	if (!evidence_on(p) || (p->cfg.plant_bugs & PBFT_BUG_IGNORE_PROOFS))
		return;
	/* at most f replicas are ever proven (only liars can be), so this skips at most f
	 * views in a row; n bounds it whatever the table holds */
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		uint32_t primary = pbft_primary(p, p->view);
		if (primary == p->cfg.id || !proven(p, primary))
			return;
		p->ev_vc++;
		pbft_start_view_change(p, p->view + 1, out);
		/* say why: a replica that missed the proof joins us sooner */
		if (p->evidence.proof[primary]) /* (none behind a planted accusation) */
			gossip(p, p->evidence.proof[primary], p->evidence.len[primary], out);
	}
}

int pbft_evidence_recover(struct pbft *p, const uint8_t *val, size_t len)
{
	return evidence_restore(&p->evidence, val, len);
}

void pbft_evidence_status(const struct pbft *p, struct core_status *st)
{
	CORE_ASSERT(p->cfg.n <= WIRE_MAX_REPLICAS);
	for (uint32_t i = 0; i < p->cfg.n; i++) {
		st->evidence[i] = p->evidence.count[i];
		st->evidence_kind[i] = p->evidence.kind[i];
	}
	st->evidence_on = evidence_on(p);
	st->evidence_sent = p->ev_sent;
	st->evidence_learnt = p->ev_learnt;
	st->evidence_duplicate = p->ev_duplicate;
	st->rejected_bad_evidence = p->rejected_bad_evidence;
	st->ignored_proven = p->ev_ignored;
	st->vc_proven_primary = p->ev_vc;
}
