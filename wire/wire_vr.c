/* wire_vr.c - bodies of the Viewstamped Replication messages (MSG_VR_*), see wire.h
 * and docs/VR.md.  Same rules as wire.c: every length is checked against the bytes
 * present and the hard limits before a pointer is formed; every batch, alone or in a
 * log section, is decoded request by request (wire_decode_batch) as if received alone.
 * Semantic checks (views, op-numbers against our own) are the core's. */
#include <string.h>

#include "wire/wire.h"

/* A cursor over the body that must end exactly at its end. */
static int done(const struct cursor *c)
{
	return c->ok && c->off == c->len ? WIRE_OK : WIRE_E_BODY;
}

static int batch_ok(const uint8_t *p, size_t len, uint32_t cluster_id)
{
	struct body_preprepare tmp;
	return wire_decode_batch(p, len, cluster_id, &tmp) == WIRE_OK;
}

int wire_vr_next_entry(struct cursor *c, struct vr_log_entry *e)
{
	if (c->ok && c->off == c->len)
		return 0;
	e->view = cur_u64(c);
	e->len = cur_u32(c);
	e->batch = cur_bytes(c, e->len);
	return e->batch ? 1 : WIRE_E_BODY;
}

void wire_vr_entries_begin(const struct msg *m, struct cursor *c)
{
	cur_init(c, m->u.vr.entries, m->u.vr.entries_len);
}

/* lo u64 | n u32 | n x (view u64 | len u32 | batch); runs to the end of the body. */
static int log_section(struct cursor *c, struct msg *m)
{
	struct body_vr *b = &m->u.vr;
	b->lo = cur_u64(c);
	b->n_entries = cur_u32(c);
	if (!c->ok)
		return WIRE_E_BODY;
	if (b->n_entries > WIRE_MAX_PREPARED)
		return WIRE_E_TOOBIG;
	if (b->lo > UINT64_MAX - b->n_entries)
		return WIRE_E_BODY;
	b->entries = c->p + c->off;
	b->entries_len = c->len - c->off;
	struct cursor ec;
	struct vr_log_entry e;
	uint32_t count = 0;
	int rc;
	cur_init(&ec, b->entries, b->entries_len);
	while ((rc = wire_vr_next_entry(&ec, &e)) > 0) {
		if (++count > b->n_entries || !batch_ok(e.batch, e.len, m->h.cluster_id))
			return WIRE_E_BODY;
	}
	if (rc != 0 || count != b->n_entries)
		return WIRE_E_BODY;
	c->off = c->len;
	return WIRE_OK;
}

/* PREPARE: commit u64 | batch (the rest of the body). */
static int decode_prepare(struct cursor *c, struct msg *m)
{
	struct body_vr *b = &m->u.vr;
	b->commit = cur_u64(c);
	if (!c->ok)
		return WIRE_E_BODY;
	b->batch = c->p + c->off;
	b->batch_len = (uint32_t)(c->len - c->off);
	if (!batch_ok(b->batch, b->batch_len, m->h.cluster_id))
		return WIRE_E_BODY;
	return WIRE_OK;
}

/* NEW-STATE: commit u64 | ckpt u64 | total u64 | offset u64 | len u32 | chunk | section.
 * ckpt 0: no snapshot (total, offset, len all 0). */
static int decode_new_state(struct cursor *c, struct msg *m)
{
	struct body_vr *b = &m->u.vr;
	b->commit = cur_u64(c);
	b->ckpt = cur_u64(c);
	b->total = cur_u64(c);
	b->offset = cur_u64(c);
	b->chunk_len = cur_u32(c);
	if (!c->ok)
		return WIRE_E_BODY;
	if (b->chunk_len > WIRE_STATE_CHUNK)
		return WIRE_E_TOOBIG;
	if (b->offset > b->total || b->chunk_len > b->total - b->offset)
		return WIRE_E_BODY;
	if (b->ckpt == 0 && (b->total || b->offset || b->chunk_len))
		return WIRE_E_BODY;
	b->chunk = cur_bytes(c, b->chunk_len);
	if (!b->chunk)
		return WIRE_E_BODY;
	return log_section(c, m);
}

int wire_body_vr(struct msg *m)
{
	struct body_vr *b = &m->u.vr;
	struct cursor c;
	int rc;

	memset(b, 0, sizeof(*b));
	cur_init(&c, m->body, m->h.body_len);
	switch (m->h.type) {
	case MSG_VR_PREPARE: return decode_prepare(&c, m);
	case MSG_VR_PREPARE_OK: b->stamp = cur_u64(&c); return done(&c);
	case MSG_VR_START_VIEW_CHANGE: return done(&c);
	case MSG_VR_COMMIT:
		b->op = cur_u64(&c);
		b->stamp = cur_u64(&c);
		return done(&c);
	case MSG_VR_DO_VIEW_CHANGE:
		b->last_normal = cur_u64(&c);
		b->commit = cur_u64(&c);
		if (!c.ok)
			return WIRE_E_BODY;
		rc = log_section(&c, m);
		/* the section is the sender's whole log above lo: it ends at its op-number */
		if (rc == WIRE_OK && b->lo + b->n_entries != m->h.seq)
			return WIRE_E_BODY;
		return rc;
	case MSG_VR_START_VIEW:
		b->commit = cur_u64(&c);
		if (!c.ok)
			return WIRE_E_BODY;
		rc = log_section(&c, m);
		if (rc == WIRE_OK && b->lo + b->n_entries != m->h.seq)
			return WIRE_E_BODY;
		return rc;
	case MSG_VR_RECOVERY: b->nonce = cur_u64(&c); return done(&c);
	case MSG_VR_RECOVERY_RESPONSE:
		b->nonce = cur_u64(&c);
		b->commit = cur_u64(&c);
		b->status = cur_u8(&c);
		if (c.ok && b->status > 1)
			return WIRE_E_BODY;
		return done(&c);
	case MSG_VR_GET_STATE:
		b->ckpt = cur_u64(&c);
		b->offset = cur_u64(&c);
		return done(&c);
	case MSG_VR_NEW_STATE:
		rc = decode_new_state(&c, m);
		if (rc == WIRE_OK && b->lo + b->n_entries > m->h.seq)
			return WIRE_E_BODY;
		return rc;
	default: return WIRE_E_TYPE;
	}
}
