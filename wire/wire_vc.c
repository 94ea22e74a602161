/* wire_vc.c - bodies of VIEW-CHANGE, NEW-VIEW, BATCH and STATE, and the compact
 * pre-prepare form that lets certificates travel without batches (see wire.h).
 * Same rules as wire.c: every length is checked against the bytes present and the
 * hard limits; nested messages are decoded and type-checked as if received alone. */
#include <string.h>

#include "wire/wire.h"

size_t wire_begin(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender, uint64_t view,
		  uint64_t seq)
{
	size_t off = b->len;
	buf_put_u32(b, WIRE_MAGIC);
	buf_put_u8(b, WIRE_VERSION);
	buf_put_u8(b, type);
	buf_put_u8(b, AUTH_NONE);
	buf_put_u8(b, 0);
	buf_put_u32(b, cluster_id);
	buf_put_u32(b, sender);
	buf_put_u64(b, view);
	buf_put_u64(b, seq);
	buf_put_u32(b, 0); /* body_len, patched by wire_finish */
	buf_put_u16(b, 0);
	buf_put_u16(b, 0);
	return off;
}

void wire_finish(struct buf *b, size_t off)
{
	if (b->err || b->len < off + WIRE_HDR_LEN)
		return;
	if (b->len - off > WIRE_MAX_MSG) {
		b->err = WIRE_E_NOMEM; /* a message no peer would accept */
		return;
	}
	set_u32(b->p + off + WIRE_OFF_BODY_LEN, (uint32_t)(b->len - off - WIRE_HDR_LEN));
}

void wire_cpp_signed_bytes(const uint8_t *hdr, const uint8_t digest[WIRE_DIGEST_LEN],
			   uint8_t out[WIRE_CPP_LEN_MIN])
{
	memcpy(out, hdr, WIRE_HDR_LEN);
	memcpy(out + WIRE_HDR_LEN, digest, WIRE_DIGEST_LEN);
}

void wire_put_cpp(struct buf *b, const uint8_t *pp_raw, size_t pp_len,
		  const uint8_t digest[WIRE_DIGEST_LEN])
{
	uint32_t body_len = get_u32(pp_raw + WIRE_OFF_BODY_LEN);
	buf_put(b, pp_raw, WIRE_HDR_LEN);
	buf_put(b, digest, WIRE_DIGEST_LEN);
	buf_put(b, pp_raw + WIRE_HDR_LEN + body_len, pp_len - WIRE_HDR_LEN - body_len);
}

int wire_decode_cpp(const uint8_t *p, size_t len, uint32_t cluster_id, struct compact_pp *out)
{
	if (len < WIRE_CPP_LEN_MIN)
		return WIRE_E_SHORT;
	if (len > WIRE_CPP_LEN_MIN + WIRE_MAX_REPLICAS * WIRE_MAC_LEN)
		return WIRE_E_TOOBIG;
	struct msg_hdr *h = &out->h;
	int rc = wire_read_header(p, cluster_id, h);
	if (rc != WIRE_OK)
		return rc;
	if (h->type != MSG_PREPREPARE)
		return WIRE_E_TYPE;
	if (h->body_len > WIRE_MAX_MSG)
		return WIRE_E_BODY;
	if (len != (size_t)WIRE_CPP_LEN_MIN + h->auth_len)
		return len < (size_t)WIRE_CPP_LEN_MIN + h->auth_len ? WIRE_E_SHORT
								    : WIRE_E_TRAILING;
	memcpy(out->digest, p + WIRE_HDR_LEN, WIRE_DIGEST_LEN);
	out->raw = p;
	out->len = (uint32_t)len;
	out->auth = p + WIRE_CPP_LEN_MIN;
	return WIRE_OK;
}

/* A length-prefixed nested message that must decode as `type`. */
static const uint8_t *nested(struct cursor *c, uint32_t cluster_id, int type, uint32_t *len)
{
	struct msg m;
	*len = cur_u32(c);
	const uint8_t *p = cur_bytes(c, *len);
	/* The type byte first: a hostile NEW-VIEW inside a VIEW-CHANGE inside ... is
	 * refused before any recursion. */
	if (!p || *len < WIRE_HDR_LEN || p[WIRE_OFF_TYPE] != type ||
	    wire_decode(p, *len, cluster_id, &m) != WIRE_OK) {
		c->ok = 0;
		return NULL;
	}
	return p;
}

int wire_vc_next(struct cursor *c, uint32_t cluster_id, struct vc_prepared *e)
{
	if (c->off == c->len && c->ok)
		return 0;
	uint32_t cpp_len = cur_u32(c);
	const uint8_t *cpp = cur_bytes(c, cpp_len);
	if (!cpp || wire_decode_cpp(cpp, cpp_len, cluster_id, &e->pp) != WIRE_OK)
		return WIRE_E_BODY;
	e->n_prep = cur_u16(c);
	if (!c->ok || e->n_prep > WIRE_MAX_REPLICAS)
		return WIRE_E_BODY;
	for (uint16_t i = 0; i < e->n_prep; i++) {
		e->prep[i] = nested(c, cluster_id, MSG_PREPARE, &e->prep_len[i]);
		if (!e->prep[i])
			return WIRE_E_BODY;
	}
	return 1;
}

void wire_vc_begin(const struct msg *vc, struct cursor *c)
{
	cur_init(c, vc->u.vc.pset, vc->u.vc.pset_len);
}

int wire_body_viewchange(struct msg *m)
{
	struct body_viewchange *vc = &m->u.vc;
	struct cursor c;
	cur_init(&c, m->body, m->h.body_len);
	vc->n_ckpt = cur_u16(&c);
	if (!c.ok || vc->n_ckpt > WIRE_MAX_REPLICAS)
		return WIRE_E_BODY;
	for (uint16_t i = 0; i < vc->n_ckpt; i++) {
		vc->ckpt[i] = nested(&c, m->h.cluster_id, MSG_CHECKPOINT, &vc->ckpt_len[i]);
		if (!vc->ckpt[i])
			return WIRE_E_BODY;
	}
	vc->n_prepared = cur_u32(&c);
	if (!c.ok || vc->n_prepared > WIRE_MAX_PREPARED)
		return WIRE_E_BODY;
	vc->pset = m->body + c.off;
	vc->pset_len = m->h.body_len - c.off;
	/* Walk the P set once now, so later walks cannot fail. */
	struct cursor pc;
	struct vc_prepared e;
	uint32_t count = 0;
	int rc;
	cur_init(&pc, vc->pset, vc->pset_len);
	while ((rc = wire_vc_next(&pc, m->h.cluster_id, &e)) > 0)
		count++;
	return rc == 0 && count == vc->n_prepared ? WIRE_OK : WIRE_E_BODY;
}

void wire_nv_begin(const struct msg *nv, struct cursor *c)
{
	cur_init(c, nv->u.nv.oset, nv->u.nv.oset_len);
}

int wire_nv_next(struct cursor *c, uint32_t cluster_id, struct compact_pp *e)
{
	if (c->off == c->len && c->ok)
		return 0;
	uint32_t len = cur_u32(c);
	const uint8_t *p = cur_bytes(c, len);
	if (!p || wire_decode_cpp(p, len, cluster_id, e) != WIRE_OK)
		return WIRE_E_BODY;
	return 1;
}

/* Sizes of the nested messages: header | body | trailer (wire.c's encoders). */
uint64_t wire_newview_worst(uint32_t n, uint32_t f, uint32_t window, int sig)
{
	uint64_t trailer = sig ? WIRE_SIG_LEN : 0;
	uint64_t quorum = (uint64_t)n - f; /* the 2f+1 VIEW-CHANGEs of a NEW-VIEW */
	uint64_t cpp = WIRE_CPP_LEN_MIN + trailer;
	uint64_t prepare = WIRE_HDR_LEN + WIRE_DIGEST_LEN + trailer;
	uint64_t checkpoint = WIRE_HDR_LEN + WIRE_DIGEST_LEN + 8 + trailer;
	uint64_t p_entry = 4 + cpp + 2 + 2 * (uint64_t)f * (4 + prepare);
	uint64_t proof = 2 + (uint64_t)n * (4 + checkpoint);
	uint64_t vc = WIRE_HDR_LEN + trailer + proof + 4 + window * p_entry;
	return WIRE_HDR_LEN + trailer + 2 + quorum * (4 + vc) + 4 + window * (4 + cpp);
}

uint32_t wire_window_max(uint32_t n, uint32_t f, int sig)
{
	uint64_t fixed = wire_newview_worst(n, f, 0, sig);
	uint64_t per_slot = wire_newview_worst(n, f, 1, sig) - fixed;
	if (fixed > WIRE_MAX_MSG)
		return 0;
	uint64_t w = (WIRE_MAX_MSG - fixed) / per_slot;
	return w > WIRE_MAX_PREPARED ? WIRE_MAX_PREPARED : (uint32_t)w;
}

int wire_body_newview(struct msg *m)
{
	struct body_newview *nv = &m->u.nv;
	struct cursor c;
	cur_init(&c, m->body, m->h.body_len);
	nv->n_vc = cur_u16(&c);
	if (!c.ok || nv->n_vc > WIRE_MAX_REPLICAS)
		return WIRE_E_BODY;
	for (uint16_t i = 0; i < nv->n_vc; i++) {
		nv->vc[i] = nested(&c, m->h.cluster_id, MSG_VIEWCHANGE, &nv->vc_len[i]);
		if (!nv->vc[i])
			return WIRE_E_BODY;
	}
	nv->n_o = cur_u32(&c);
	if (!c.ok || nv->n_o > WIRE_MAX_PREPARED)
		return WIRE_E_BODY;
	nv->oset = m->body + c.off;
	nv->oset_len = m->h.body_len - c.off;
	struct cursor oc;
	struct compact_pp e;
	uint32_t count = 0;
	int rc;
	cur_init(&oc, nv->oset, nv->oset_len);
	while ((rc = wire_nv_next(&oc, m->h.cluster_id, &e)) > 0)
		count++;
	return rc == 0 && count == nv->n_o ? WIRE_OK : WIRE_E_BODY;
}

int wire_body_state(struct msg *m)
{
	struct body_state *st = &m->u.st;
	struct cursor c;
	cur_init(&c, m->body, m->h.body_len);
	st->total = cur_u64(&c);
	st->offset = cur_u64(&c);
	st->len = cur_u32(&c);
	if (!c.ok || st->len > WIRE_STATE_CHUNK || st->offset > st->total ||
	    st->len > st->total - st->offset)
		return WIRE_E_BODY;
	st->chunk = cur_bytes(&c, st->len);
	return c.ok && c.off == c.len ? WIRE_OK : WIRE_E_BODY;
}
