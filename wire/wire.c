/* wire.c - byzlab's wire codec, output buffer and bounds-checked cursor.
 *
 * docs/PROTOCOL.md is the byte-by-byte reference; this file is its implementation.
 * Everything read from the network goes through struct cursor or through explicit
 * length checks done in 64-bit arithmetic before any pointer is formed.
 */
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

/* The header field wire.h has no macro for: zero in version 1.  (Byte 7 was reserved
 * too; it is now WIRE_OFF_FLAGS, zero except WIRE_F_VOUCHED on a COMMIT.) */
#define WIRE_OFF_RESERVED16 38

_Static_assert(WIRE_OFF_RESERVED16 + 2 == WIRE_HDR_LEN, "header layout");
_Static_assert(WIRE_OFF_AUTH_LEN + 2 == WIRE_OFF_RESERVED16, "header layout");
/* A PRE-PREPARE carrying a full batch of maximal requests (each: length prefix, header,
 * fixed fields, operation, authenticator), with its own authenticator. */
#define WIRE_MAX_BATCHED_REQUEST \
	((uint64_t)4 + WIRE_HDR_LEN + 13 + WIRE_MAX_OP + (uint64_t)WIRE_MAX_REPLICAS * WIRE_MAC_LEN)
#define WIRE_MAX_FULL_BATCH                                                       \
	((uint64_t)WIRE_MAX_BATCH * WIRE_MAX_BATCHED_REQUEST + WIRE_HDR_LEN + 2 + \
	 (uint64_t)WIRE_MAX_REPLICAS * WIRE_MAC_LEN)
_Static_assert(WIRE_MAX_FULL_BATCH <= WIRE_MAX_MSG,
	       "a full batch of maximal requests must fit in one message");

/* ---- little-endian helpers ---- */

uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

void set_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void set_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void set_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- growable output buffer ---- */

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_init_limit(struct buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

static size_t buf_limit(const struct buf *b)
{
	return b->limit ? b->limit : WIRE_MAX_MSG;
}

void buf_free(struct buf *b)
{
	size_t limit = b->limit;
	free(b->p);
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

/* Keeps the allocation; clears the sticky error so the buffer can be reused. */
void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
}

/* Make room for `more` bytes.  Returns 0, or WIRE_E_NOMEM (sticky in b->err) when
 * len + more would exceed the buffer's limit or memory runs out. */
int buf_reserve(struct buf *b, size_t more)
{
	if (b->err)
		return b->err;
	size_t limit = buf_limit(b);
	if (more > limit || b->len > limit - more) {
		b->err = WIRE_E_NOMEM;
		return b->err;
	}
	size_t need = b->len + more;
	if (need <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit)
		ncap = limit;
	uint8_t *np = realloc(b->p, ncap);
	if (!np) {
		b->err = WIRE_E_NOMEM;
		return b->err;
	}
	b->p = np;
	b->cap = ncap;
	return 0;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) || n == 0)
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

void buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t t[2];
	set_u16(t, v);
	buf_put(b, t, sizeof(t));
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	set_u32(t, v);
	buf_put(b, t, sizeof(t));
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t t[8];
	set_u64(t, v);
	buf_put(b, t, sizeof(t));
}

/* ---- bounds-checked cursor ---- */

void cur_init(struct cursor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = p ? len : 0;
	c->off = 0;
	c->ok = 1;
}

/* Claim n bytes; NULL (and ok = 0, for good) if they are not all there. */
const uint8_t *cur_bytes(struct cursor *c, size_t n)
{
	static const uint8_t empty[1];

	if (!c->ok || c->off > c->len || n > c->len - c->off) {
		c->ok = 0;
		return NULL;
	}
	/* A zero-length claim on an empty cursor still succeeds: NULL means failure. */
	const uint8_t *at = c->p ? c->p + c->off : empty;
	c->off += n;
	return at;
}

uint8_t cur_u8(struct cursor *c)
{
	const uint8_t *p = cur_bytes(c, 1);
	return p ? p[0] : 0;
}

uint16_t cur_u16(struct cursor *c)
{
	const uint8_t *p = cur_bytes(c, 2);
	return p ? get_u16(p) : 0;
}

uint32_t cur_u32(struct cursor *c)
{
	const uint8_t *p = cur_bytes(c, 4);
	return p ? get_u32(p) : 0;
}

uint64_t cur_u64(struct cursor *c)
{
	const uint8_t *p = cur_bytes(c, 8);
	return p ? get_u64(p) : 0;
}

/* ---- strings ---- */

const char *wire_strerror(int err)
{
	switch (err) {
	case WIRE_OK: return "ok";
	case WIRE_E_SHORT: return "message shorter than its header claims";
	case WIRE_E_MAGIC: return "bad magic";
	case WIRE_E_VERSION: return "unsupported wire version";
	case WIRE_E_CLUSTER: return "message from another cluster";
	case WIRE_E_TYPE: return "unknown message type";
	case WIRE_E_TOOBIG: return "over a hard size limit";
	case WIRE_E_BODY: return "malformed body";
	case WIRE_E_TRAILING: return "trailing bytes after message";
	case WIRE_E_AUTH: return "auth kind and length inconsistent";
	case WIRE_E_NOMEM: return "message buffer full";
	default: return "unknown";
	}
}

const char *wire_type_name(int type)
{
	switch (type) {
	case MSG_REQUEST: return "request";
	case MSG_PREPREPARE: return "preprepare";
	case MSG_PREPARE: return "prepare";
	case MSG_COMMIT: return "commit";
	case MSG_REPLY: return "reply";
	case MSG_CHECKPOINT: return "checkpoint";
	case MSG_VIEWCHANGE: return "viewchange";
	case MSG_NEWVIEW: return "newview";
	case MSG_STATUS_REQ: return "status_req";
	case MSG_STATUS_RESP: return "status_resp";
	case MSG_ADMIN_FAULTS: return "admin_faults";
	case MSG_PEER_STATUS: return "peer_status";
	case MSG_HS_PROPOSAL: return "hs_proposal";
	case MSG_HS_VOTE: return "hs_vote";
	case MSG_HS_NEWVIEW: return "hs_newview";
	case MSG_HS_FETCH: return "hs_fetch";
	case MSG_HS_BLOCK: return "hs_block";
	case MSG_EVIDENCE: return "evidence";
	case MSG_HELLO: return "hello";
	case MSG_FETCH: return "fetch";
	case MSG_BATCH: return "batch";
	case MSG_FETCH_STATE: return "fetch_state";
	case MSG_STATE: return "state";
	case MSG_VR_PREPARE: return "vr_prepare";
	case MSG_VR_PREPARE_OK: return "vr_prepare_ok";
	case MSG_VR_COMMIT: return "vr_commit";
	case MSG_VR_START_VIEW_CHANGE: return "vr_start_view_change";
	case MSG_VR_DO_VIEW_CHANGE: return "vr_do_view_change";
	case MSG_VR_START_VIEW: return "vr_start_view";
	case MSG_VR_RECOVERY: return "vr_recovery";
	case MSG_VR_RECOVERY_RESPONSE: return "vr_recovery_response";
	case MSG_VR_GET_STATE: return "vr_get_state";
	case MSG_VR_NEW_STATE: return "vr_new_state";
	default: return "unknown";
	}
}

/* ---- decoding ---- */

/* Types this version can decode. */
static int type_known(uint8_t t)
{
	return t >= MSG_REQUEST && t <= MSG_TYPE_MAX;
}

static int auth_len_ok(uint8_t kind, uint16_t len)
{
	switch (kind) {
	case AUTH_NONE: return len == 0;
	case AUTH_SIG: return len == WIRE_SIG_LEN;
	case AUTH_MAC:
		return len > 0 && len % WIRE_MAC_LEN == 0 &&
		       len <= WIRE_MAX_REPLICAS * WIRE_MAC_LEN;
	case AUTH_HYBRID:
		return len > WIRE_SIG_LEN && (len - WIRE_SIG_LEN) % WIRE_MAC_LEN == 0 &&
		       len <= WIRE_SIG_LEN + WIRE_MAX_REPLICAS * WIRE_MAC_LEN;
	default: return 0;
	}
}

/* A cursor over the body that must end exactly at its end. */
static int body_done(const struct cursor *c)
{
	return c->ok && c->off == c->len ? WIRE_OK : WIRE_E_BODY;
}

static int decode_request(struct cursor *c, struct body_request *r)
{
	r->timestamp = cur_u64(c);
	r->flags = cur_u8(c);
	r->op_len = cur_u32(c);
	if (!c->ok)
		return WIRE_E_BODY;
	if (r->op_len > WIRE_MAX_OP)
		return WIRE_E_TOOBIG;
	/* Unknown flag bits are refused so that one request has one encoding. */
	if (r->flags & ~REQ_F_READONLY)
		return WIRE_E_BODY;
	r->op = cur_bytes(c, r->op_len);
	return body_done(c);
}

static int decode_reply(struct cursor *c, uint64_t kind, struct body_reply *r)
{
	r->client = cur_u32(c);
	r->timestamp = cur_u64(c);
	r->result_len = cur_u32(c);
	if (!c->ok || kind > REPLY_DIGEST)
		return WIRE_E_BODY;
	if (r->result_len > WIRE_MAX_RESULT)
		return WIRE_E_TOOBIG;
	if (kind == REPLY_DIGEST && r->result_len != WIRE_DIGEST_LEN)
		return WIRE_E_BODY;
	r->result = cur_bytes(c, r->result_len);
	return body_done(c);
}

static int decode(const uint8_t *buf, size_t len, uint32_t cluster_id, struct msg *m, int nested);

/* Each entry is a whole REQUEST message, validated as if it had arrived alone.
 * Any fault in an entry makes the pre-prepare's body malformed. */
static int decode_preprepare(struct cursor *c, uint32_t cluster_id, struct body_preprepare *pp)
{
	struct msg inner;

	pp->count = cur_u16(c);
	if (!c->ok)
		return WIRE_E_BODY;
	if (pp->count > WIRE_MAX_BATCH)
		return WIRE_E_TOOBIG;
	for (uint16_t i = 0; i < pp->count; i++) {
		uint32_t n = cur_u32(c);
		const uint8_t *p = cur_bytes(c, n);
		if (!p)
			return WIRE_E_BODY;
		if (decode(p, n, cluster_id, &inner, 1) != WIRE_OK || inner.h.type != MSG_REQUEST)
			return WIRE_E_BODY;
		pp->req[i] = p;
		pp->req_len[i] = n;
	}
	return body_done(c);
}

static int decode_body(struct msg *m, uint32_t cluster_id, int nested)
{
	struct cursor c;
	uint32_t n = m->h.body_len;

	cur_init(&c, m->body, n);
	switch (m->h.type) {
	case MSG_REQUEST: return decode_request(&c, &m->u.req);
	case MSG_PREPREPARE:
		/* One level only: a batch inside a batch is not a request. */
		if (nested)
			return WIRE_E_BODY;
		return decode_preprepare(&c, cluster_id, &m->u.pp);
	case MSG_BATCH:
		if (nested)
			return WIRE_E_BODY;
		return decode_preprepare(&c, cluster_id, &m->u.pp);
	case MSG_VIEWCHANGE: return wire_body_viewchange(m);
	case MSG_NEWVIEW: return nested ? WIRE_E_BODY : wire_body_newview(m);
	case MSG_STATE: return wire_body_state(m);
	case MSG_FETCH_STATE: m->u.offset = cur_u64(&c); return body_done(&c);
	case MSG_PEER_STATUS: m->u.low = cur_u64(&c); return body_done(&c);
	case MSG_EVIDENCE: /* bounds only: the core decodes and verifies the proof */
		if (nested || n < WIRE_EVIDENCE_MIN || n > WIRE_EVIDENCE_MAX)
			return WIRE_E_BODY;
		return WIRE_OK;
	case MSG_PREPARE:
	case MSG_COMMIT:
	case MSG_FETCH:
		if (n != WIRE_DIGEST_LEN)
			return WIRE_E_BODY;
		memcpy(m->u.dg.digest, m->body, WIRE_DIGEST_LEN);
		m->u.dg.size = 0;
		return WIRE_OK;
	case MSG_CHECKPOINT:
		if (n != WIRE_CKPT_BODY_LEN)
			return WIRE_E_BODY;
		memcpy(m->u.dg.digest, m->body, WIRE_DIGEST_LEN);
		m->u.dg.size = get_u64(m->body + WIRE_DIGEST_LEN);
		return WIRE_OK;
	case MSG_REPLY: return decode_reply(&c, m->h.seq, &m->u.rep);
	case MSG_STATUS_REQ:
	case MSG_HELLO: return n == 0 ? WIRE_OK : WIRE_E_BODY;
	case MSG_STATUS_RESP:
	case MSG_ADMIN_FAULTS:
		if (n > (m->h.type == MSG_STATUS_RESP ? WIRE_MAX_STATUS : WIRE_MAX_ADMIN))
			return WIRE_E_TOOBIG;
		m->u.text.len = n;
		m->u.text.text = m->body;
		return WIRE_OK;
	default:
		if (m->h.type >= MSG_VR_PREPARE && m->h.type <= MSG_VR_NEW_STATE)
			return wire_body_vr(m);
		if (m->h.type >= MSG_HS_PROPOSAL && m->h.type <= MSG_HS_BLOCK)
			return wire_body_hs(m);
		return WIRE_E_TYPE;
	}
}

int wire_read_header(const uint8_t *buf, uint32_t cluster_id, struct msg_hdr *h)
{
	if (get_u32(buf + WIRE_OFF_MAGIC) != WIRE_MAGIC)
		return WIRE_E_MAGIC;
	if (buf[WIRE_OFF_VERSION] != WIRE_VERSION)
		return WIRE_E_VERSION;
	h->type = buf[WIRE_OFF_TYPE];
	h->auth_kind = buf[WIRE_OFF_AUTH_KIND];
	h->cluster_id = get_u32(buf + WIRE_OFF_CLUSTER);
	h->sender = get_u32(buf + WIRE_OFF_SENDER);
	h->view = get_u64(buf + WIRE_OFF_VIEW);
	h->seq = get_u64(buf + WIRE_OFF_SEQ);
	h->body_len = get_u32(buf + WIRE_OFF_BODY_LEN);
	h->auth_len = get_u16(buf + WIRE_OFF_AUTH_LEN);
	if (h->cluster_id != cluster_id)
		return WIRE_E_CLUSTER;
	if (!type_known(h->type))
		return WIRE_E_TYPE;
	h->flags = buf[WIRE_OFF_FLAGS];
	if ((h->flags != 0 && !(h->type == MSG_COMMIT && h->flags == WIRE_F_VOUCHED)) ||
	    get_u16(buf + WIRE_OFF_RESERVED16) != 0)
		return WIRE_E_BODY;
	if (!auth_len_ok(h->auth_kind, h->auth_len))
		return WIRE_E_AUTH;
	return WIRE_OK;
}

/* Header checks in the documented order, then the lengths; fills m->h. */
static int decode_header(const uint8_t *buf, size_t len, uint32_t cluster_id, struct msg_hdr *h)
{
	if (len < WIRE_HDR_LEN)
		return WIRE_E_SHORT;
	if (len > WIRE_MAX_MSG)
		return WIRE_E_TOOBIG;
	int rc = wire_read_header(buf, cluster_id, h);
	if (rc != WIRE_OK)
		return rc;
	/* 40 + u32 + u16 cannot overflow 64 bits, whatever the header says. */
	uint64_t claimed = (uint64_t)WIRE_HDR_LEN + h->body_len + h->auth_len;
	if (claimed > len)
		return WIRE_E_SHORT;
	if (claimed < len)
		return WIRE_E_TRAILING;
	return WIRE_OK;
}

/* Messages nest (NEW-VIEW > VIEW-CHANGE > CHECKPOINT/PREPARE, PRE-PREPARE > REQUEST).
 * Every nesting site checks the nested message's type byte before decoding it, so
 * the depth is bounded by the type structure (3), whatever a hostile peer sends. */
static int decode(const uint8_t *buf, size_t len, uint32_t cluster_id, struct msg *m, int nested)
{
	int rc;

	m->raw = NULL;
	m->raw_len = 0;
	m->body = m->auth = NULL;
	if (!buf)
		return WIRE_E_SHORT;
	rc = decode_header(buf, len, cluster_id, &m->h);
	if (rc != WIRE_OK)
		return rc;
	m->body = buf + WIRE_HDR_LEN;
	m->auth = m->body + m->h.body_len;
	rc = decode_body(m, cluster_id, nested);
	if (rc != WIRE_OK) {
		m->body = m->auth = NULL;
		return rc;
	}
	m->raw = buf;
	m->raw_len = len;
	return WIRE_OK;
}

/* On failure *m is unspecified except that m->raw is NULL. */
int wire_decode(const uint8_t *buf, size_t len, uint32_t cluster_id, struct msg *m)
{
	return decode(buf, len, cluster_id, m, 0);
}

/* ---- encoding ---- */

/* Append a header with body_len 0 and no auth; returns where it starts. */
static size_t put_hdr(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		      uint64_t view, uint64_t seq)
{
	size_t start = b->len;

	buf_put_u32(b, WIRE_MAGIC);
	buf_put_u8(b, WIRE_VERSION);
	buf_put_u8(b, type);
	buf_put_u8(b, AUTH_NONE);
	buf_put_u8(b, 0); /* flags */
	buf_put_u32(b, cluster_id);
	buf_put_u32(b, sender);
	buf_put_u64(b, view);
	buf_put_u64(b, seq);
	buf_put_u32(b, 0); /* body_len, patched by finish() */
	buf_put_u16(b, 0); /* auth_len */
	buf_put_u16(b, 0); /* reserved */
	return start;
}

/* Patch body_len, or drop the half-written message if the buffer overflowed, so
 * a buffer never holds a truncated message. */
static size_t finish(struct buf *b, size_t start)
{
	if (b->err) {
		if (b->len > start)
			b->len = start;
		return start;
	}
	set_u32(b->p + start + WIRE_OFF_BODY_LEN, (uint32_t)(b->len - start - WIRE_HDR_LEN));
	return start;
}

size_t wire_put_request(struct buf *b, uint32_t cluster_id, uint32_t client, uint64_t timestamp,
			uint8_t flags, const uint8_t *op, uint32_t op_len)
{
	size_t start = put_hdr(b, MSG_REQUEST, cluster_id, client, 0, 0);

	buf_put_u64(b, timestamp);
	buf_put_u8(b, flags);
	buf_put_u32(b, op_len);
	buf_put(b, op, op_len);
	return finish(b, start);
}

size_t wire_put_preprepare(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
			   uint64_t seq, uint16_t count, const uint8_t *const *req,
			   const uint32_t *req_len)
{
	size_t start = put_hdr(b, MSG_PREPREPARE, cluster_id, sender, view, seq);

	buf_put_u16(b, count);
	for (uint16_t i = 0; i < count && !b->err; i++) {
		buf_put_u32(b, req_len[i]);
		buf_put(b, req[i], req_len[i]);
	}
	return finish(b, start);
}

size_t wire_put_digest(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		       uint64_t view, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN])
{
	size_t start = put_hdr(b, type, cluster_id, sender, view, seq);

	buf_put(b, digest, WIRE_DIGEST_LEN);
	return finish(b, start);
}

size_t wire_put_checkpoint(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
			   uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN], uint64_t size)
{
	size_t start = put_hdr(b, MSG_CHECKPOINT, cluster_id, sender, view, seq);

	buf_put(b, digest, WIRE_DIGEST_LEN);
	buf_put_u64(b, size);
	return finish(b, start);
}

size_t wire_put_reply(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
		      uint32_t client, uint64_t timestamp, const uint8_t *result,
		      uint32_t result_len)
{
	size_t start = put_hdr(b, MSG_REPLY, cluster_id, sender, view, 0);

	buf_put_u32(b, client);
	buf_put_u64(b, timestamp);
	buf_put_u32(b, result_len);
	buf_put(b, result, result_len);
	return finish(b, start);
}

size_t wire_put_reply_digest(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
			     uint32_t client, uint64_t timestamp,
			     const uint8_t digest[WIRE_DIGEST_LEN])
{
	size_t start = put_hdr(b, MSG_REPLY, cluster_id, sender, view, REPLY_DIGEST);

	buf_put_u32(b, client);
	buf_put_u64(b, timestamp);
	buf_put_u32(b, WIRE_DIGEST_LEN);
	buf_put(b, digest, WIRE_DIGEST_LEN);
	return finish(b, start);
}

size_t wire_put_empty(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		      uint64_t view, uint64_t seq)
{
	return finish(b, put_hdr(b, type, cluster_id, sender, view, seq));
}

size_t wire_put_text(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		     const char *text, uint32_t len)
{
	size_t start = put_hdr(b, type, cluster_id, sender, 0, 0);

	buf_put(b, text, len);
	return finish(b, start);
}

int wire_decode_batch(const uint8_t *p, size_t len, uint32_t cluster_id,
		      struct body_preprepare *out)
{
	struct cursor c;
	if (len > WIRE_MAX_MSG)
		return WIRE_E_TOOBIG;
	cur_init(&c, p, len);
	return decode_preprepare(&c, cluster_id, out);
}
