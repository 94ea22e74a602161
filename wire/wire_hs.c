/* wire_hs.c - bodies of the chained HotStuff messages (MSG_HS_*), see wire.h and
 * docs/PROTOCOL.md "HotStuff".  Same rules as wire.c: every length is checked against
 * the bytes present and the hard limits before a pointer is formed; a proposal's batch
 * is decoded request by request (wire_decode_batch).  Signatures inside a QC are
 * checked by auth_verify (crypto/auth.c), views and hashes by the core. */
#include <string.h>

#include "wire/wire.h"

static int done(const struct cursor *c)
{
	return c->ok && c->off == c->len ? WIRE_OK : WIRE_E_BODY;
}

/* view u64 | hash[32] | count u16 | count x (replica u16 | sig[64]) */
static int decode_qc(struct cursor *c, struct hs_qc *qc)
{
	qc->view = cur_u64(c);
	const uint8_t *h = cur_bytes(c, WIRE_DIGEST_LEN);
	qc->count = cur_u16(c);
	if (!c->ok || !h)
		return WIRE_E_BODY;
	if (qc->count > WIRE_MAX_REPLICAS)
		return WIRE_E_TOOBIG;
	memcpy(qc->hash, h, WIRE_DIGEST_LEN);
	for (uint16_t i = 0; i < qc->count; i++) {
		qc->id[i] = cur_u16(c);
		const uint8_t *s = cur_bytes(c, WIRE_SIG_LEN);
		if (!s)
			return WIRE_E_BODY;
		memcpy(qc->sig[i], s, WIRE_SIG_LEN);
	}
	return c->ok ? WIRE_OK : WIRE_E_BODY;
}

static int decode_proposal(struct cursor *c, struct msg *m)
{
	struct body_hs *b = &m->u.hs;
	struct body_preprepare tmp;
	b->parent = cur_bytes(c, WIRE_DIGEST_LEN);
	if (!b->parent)
		return WIRE_E_BODY;
	int rc = decode_qc(c, &b->qc);
	if (rc != WIRE_OK)
		return rc;
	b->batch = c->p + c->off;
	b->batch_len = (uint32_t)(c->len - c->off);
	if (m->h.seq == 0 || wire_decode_batch(b->batch, b->batch_len, m->h.cluster_id, &tmp))
		return WIRE_E_BODY;
	return WIRE_OK;
}

int wire_body_hs(struct msg *m)
{
	struct body_hs *b = &m->u.hs;
	struct cursor c;
	int rc;

	memset(b, 0, sizeof(*b));
	cur_init(&c, m->body, m->h.body_len);
	switch (m->h.type) {
	case MSG_HS_PROPOSAL: return decode_proposal(&c, m);
	case MSG_HS_VOTE:
	case MSG_HS_FETCH: b->hash = cur_bytes(&c, WIRE_DIGEST_LEN); return done(&c);
	case MSG_HS_BLOCK: {
		struct msg in;
		b->inner = m->body;
		b->inner_len = m->h.body_len;
		if (wire_decode(b->inner, b->inner_len, m->h.cluster_id, &in) != WIRE_OK ||
		    in.h.type != MSG_HS_PROPOSAL || in.h.view != m->h.view || in.h.seq != m->h.seq)
			return WIRE_E_BODY;
		return WIRE_OK;
	}
	case MSG_HS_NEWVIEW: rc = decode_qc(&c, &b->qc); return rc == WIRE_OK ? done(&c) : rc;
	default: return WIRE_E_TYPE;
	}
}

void wire_put_hs_qc(struct buf *b, const struct hs_qc *qc)
{
	buf_put_u64(b, qc->view);
	buf_put(b, qc->hash, WIRE_DIGEST_LEN);
	buf_put_u16(b, qc->count);
	for (uint16_t i = 0; i < qc->count && i < WIRE_MAX_REPLICAS; i++) {
		buf_put_u16(b, qc->id[i]);
		buf_put(b, qc->sig[i], WIRE_SIG_LEN);
	}
}

void wire_hs_vote_bytes(uint32_t cluster_id, uint32_t replica, uint64_t view,
			const uint8_t hash[WIRE_DIGEST_LEN], uint8_t out[WIRE_HS_VOTE_LEN])
{
	memset(out, 0, WIRE_HDR_LEN);
	set_u32(out + WIRE_OFF_MAGIC, WIRE_MAGIC);
	out[WIRE_OFF_VERSION] = WIRE_VERSION;
	out[WIRE_OFF_TYPE] = MSG_HS_VOTE;
	out[WIRE_OFF_AUTH_KIND] = AUTH_SIG;
	set_u32(out + WIRE_OFF_CLUSTER, cluster_id);
	set_u32(out + WIRE_OFF_SENDER, replica);
	set_u64(out + WIRE_OFF_VIEW, view);
	set_u64(out + WIRE_OFF_SEQ, 0);
	set_u32(out + WIRE_OFF_BODY_LEN, WIRE_DIGEST_LEN);
	set_u16(out + WIRE_OFF_AUTH_LEN, WIRE_SIG_LEN);
	memcpy(out + WIRE_HDR_LEN, hash, WIRE_DIGEST_LEN);
}
