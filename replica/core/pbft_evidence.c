/* pbft_evidence.c - the PBFT core's side of issue 17 (accountability), first slice:
 * where the core refuses a second, different statement of one replica about one slot
 * (a PRE-PREPARE, PREPARE or COMMIT for a (view, seq) it already holds one of, with
 * another digest: rejected.conflict), it keeps the two as a proof (evidence.h).
 *
 * What it does: counts the detection per accused replica, keeps and persists the first
 * proof per accused (REC_EVIDENCE, key = accused; a proof replaces a suspicion),
 * notes every detection in the step's effects (effects_evidence) and shows both in
 * status.  Memory is bounded: n proofs of at most EVIDENCE_MAX bytes, plus the raw
 * COMMITs of the window (kept only so that a COMMIT can be half of a proof).
 * What it does NOT do yet (later slices of issue 17): send proofs to the others, or
 * ignore a proven liar, or replace a proven primary at once.  Nothing here changes
 * what the core sends.
 *
 * Sources of the statements: the slot's compact PRE-PREPARE (s->cpp), the votes'
 * sealed bytes (struct vote.raw), and the prepared certificates inside VIEW-CHANGEs
 * (whose nested PRE-PREPAREs and PREPAREs the edge verified, auth.c).  An equivocating
 * primary sends each backup one version only; the other version reaches a backup in
 * the VIEW-CHANGEs of those that prepared it, or relayed in a PEER_STATUS answer.
 */
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/pbft.h"

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
}

void pbft_evidence(struct pbft *p, const uint8_t *first, size_t first_len, const uint8_t *second,
		   size_t second_len, struct effects *out)
{
	if (!first || !second)
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
	if (m->raw_len < WIRE_HDR_LEN + (size_t)m->h.body_len)
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
	if (p->cfg.auth->mode == AUTH_MODE_NONE)
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
}
