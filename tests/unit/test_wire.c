/* test_wire.c - codec round trips, hostile input, buffer and cursor limits.
 *
 * Every decode of hostile bytes is done on a heap copy of exactly the bytes under
 * test (copy_of()), so an out-of-bounds read is caught when run under ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/wire.h"

#define CID 0xC1057320u

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

/* Decode a private, exactly-sized copy of p[0..n). */
static int decode_copy(const uint8_t *p, size_t n, uint32_t cid, struct msg *m)
{
	uint8_t *q = copy_of(p, n);
	int rc = wire_decode(q, n, cid, m);
	free(q);
	return rc;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Set auth fields and append a trailer of `len` bytes of `pat` to the message that
 * starts at off and runs to b->len, as auth_seal() would (minus the crypto). */
static void append_auth(struct buf *b, size_t off, uint8_t kind, uint16_t len, uint8_t pat)
{
	b->p[off + WIRE_OFF_AUTH_KIND] = kind;
	set_u16(b->p + off + WIRE_OFF_AUTH_LEN, len);
	for (uint16_t i = 0; i < len; i++)
		buf_put_u8(b, (uint8_t)(pat ^ i));
}

/* The pointers of a successfully decoded message all lie inside [p, p+n). */
static void assert_inside(const struct msg *m, const uint8_t *p, size_t n)
{
	assert_ptr_equal(m->raw, p);
	assert_int_equal(m->raw_len, n);
	assert_ptr_equal(m->body, p + WIRE_HDR_LEN);
	assert_ptr_equal(m->auth, p + WIRE_HDR_LEN + m->h.body_len);
	assert_int_equal(WIRE_HDR_LEN + (uint64_t)m->h.body_len + m->h.auth_len, n);
	const uint8_t *end = p + n;
	switch (m->h.type) {
	case MSG_REQUEST:
		assert_true(m->u.req.op >= m->body);
		assert_true(m->u.req.op + m->u.req.op_len <= m->auth);
		break;
	case MSG_REPLY:
		assert_true(m->u.rep.result >= m->body);
		assert_true(m->u.rep.result + m->u.rep.result_len <= m->auth);
		break;
	case MSG_STATUS_RESP:
		assert_ptr_equal(m->u.text.text, m->body);
		assert_int_equal(m->u.text.len, m->h.body_len);
		break;
	case MSG_PREPREPARE:
		for (unsigned i = 0; i < m->u.pp.count; i++) {
			assert_true(m->u.pp.req[i] >= m->body);
			assert_true(m->u.pp.req[i] + m->u.pp.req_len[i] <= m->auth);
		}
		break;
	}
	assert_true(m->auth <= end);
}

static void check_hdr(const struct msg *m, uint8_t type, uint32_t sender, uint64_t view,
		      uint64_t seq)
{
	assert_int_equal(m->h.type, type);
	assert_int_equal(m->h.cluster_id, CID);
	assert_int_equal(m->h.sender, sender);
	assert_true(m->h.view == view);
	assert_true(m->h.seq == seq);
}

/* ---- little-endian helpers and header layout ---- */

static void test_le_helpers(void **state)
{
	(void)state;
	uint8_t p[8];
	set_u16(p, 0x1234);
	assert_int_equal(p[0], 0x34);
	assert_int_equal(p[1], 0x12);
	assert_int_equal(get_u16(p), 0x1234);
	set_u32(p, 0xA1B2C3D4u);
	assert_memory_equal(p, "\xD4\xC3\xB2\xA1", 4);
	assert_int_equal(get_u32(p), 0xA1B2C3D4u);
	set_u64(p, 0x0102030405060708ull);
	assert_memory_equal(p, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(get_u64(p) == 0x0102030405060708ull);
	set_u64(p, UINT64_MAX);
	assert_true(get_u64(p) == UINT64_MAX);
}

static void test_header_layout(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	uint8_t dg[WIRE_DIGEST_LEN];
	fill(dg, sizeof(dg), 9);
	size_t off = wire_put_digest(&b, MSG_COMMIT, CID, 3, 0x1122334455667788ull,
				     0x99AABBCCDDEEFF00ull, dg);
	assert_int_equal(off, 0);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, WIRE_HDR_LEN + WIRE_DIGEST_LEN);
	const uint8_t *p = b.p;
	assert_memory_equal(p, "BZL1", 4);
	assert_int_equal(p[4], WIRE_VERSION);
	assert_int_equal(p[5], MSG_COMMIT);
	assert_int_equal(p[6], AUTH_NONE);
	assert_int_equal(p[7], 0);
	assert_int_equal(get_u32(p + 8), CID);
	assert_int_equal(get_u32(p + 12), 3);
	assert_true(get_u64(p + 16) == 0x1122334455667788ull);
	assert_true(get_u64(p + 24) == 0x99AABBCCDDEEFF00ull);
	assert_int_equal(get_u32(p + 32), WIRE_DIGEST_LEN);
	assert_int_equal(get_u16(p + 36), 0);
	assert_int_equal(get_u16(p + 38), 0);
	assert_memory_equal(p + 40, dg, WIRE_DIGEST_LEN);
	buf_free(&b);
}

/* Header byte 7 (flags): WIRE_F_VOUCHED on a COMMIT decodes into h.flags; on any other
 * type, or any other value, the message is refused (docs/PROTOCOL.md §3). */
static void test_header_flags(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t dg[WIRE_DIGEST_LEN];
	fill(dg, sizeof(dg), 7);
	buf_init(&b);
	static const uint8_t types[] = {MSG_COMMIT, MSG_PREPARE};
	for (size_t t = 0; t < sizeof(types); t++) {
		for (unsigned flags = 0; flags < 256; flags++) {
			buf_reset(&b);
			wire_put_digest(&b, types[t], CID, 3, 4, 5, dg);
			b.p[WIRE_OFF_FLAGS] = (uint8_t)flags;
			int rc = wire_decode(b.p, b.len, CID, &m);
			int ok = flags == 0 || (types[t] == MSG_COMMIT && flags == WIRE_F_VOUCHED);
			assert_int_equal(rc, ok ? WIRE_OK : WIRE_E_BODY);
			if (ok)
				assert_int_equal(m.h.flags, flags);
		}
	}
	buf_free(&b);
}

/* ---- round trips ---- */

static void test_roundtrip_request(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t op[300];
	fill(op, sizeof(op), 1);
	buf_init(&b);
	size_t o1 = wire_put_request(&b, CID, 42, 7777, REQ_F_READONLY, op, sizeof(op));
	size_t o2 = wire_put_request(&b, CID, 4095, UINT64_MAX, 0, NULL, 0);
	assert_int_equal(b.err, 0);
	assert_int_equal(o1, 0);
	assert_int_equal(o2, WIRE_HDR_LEN + 13 + sizeof(op));

	assert_int_equal(wire_decode(b.p + o1, o2 - o1, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_REQUEST, 42, 0, 0);
	assert_int_equal(m.h.auth_kind, AUTH_NONE);
	assert_int_equal(m.h.auth_len, 0);
	assert_int_equal(m.h.body_len, 13 + sizeof(op));
	assert_true(m.u.req.timestamp == 7777);
	assert_int_equal(m.u.req.flags, REQ_F_READONLY);
	assert_int_equal(m.u.req.op_len, sizeof(op));
	assert_memory_equal(m.u.req.op, op, sizeof(op));
	assert_inside(&m, b.p + o1, o2 - o1);

	assert_int_equal(wire_decode(b.p + o2, b.len - o2, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_REQUEST, 4095, 0, 0);
	assert_true(m.u.req.timestamp == UINT64_MAX);
	assert_int_equal(m.u.req.flags, 0);
	assert_int_equal(m.u.req.op_len, 0);
	assert_non_null(m.u.req.op);
	buf_free(&b);
}

static void test_roundtrip_request_auth(void **state)
{
	(void)state;
	static const struct {
		uint8_t kind;
		uint16_t len;
	} cases[] = {
		{AUTH_SIG, WIRE_SIG_LEN},
		{AUTH_MAC, WIRE_MAC_LEN},
		{AUTH_MAC, 4 * WIRE_MAC_LEN},
		{AUTH_MAC, WIRE_MAX_REPLICAS * WIRE_MAC_LEN},
	};
	uint8_t op[17];
	fill(op, sizeof(op), 3);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		struct msg m;
		buf_init(&b);
		size_t off = wire_put_request(&b, CID, 5, 99, 0, op, sizeof(op));
		size_t body_end = b.len;
		append_auth(&b, off, cases[i].kind, cases[i].len, 0x5A);
		assert_int_equal(b.err, 0);
		assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
		/* decode in place to check the pointers */
		assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_OK);
		check_hdr(&m, MSG_REQUEST, 5, 0, 0);
		assert_int_equal(m.h.auth_kind, cases[i].kind);
		assert_int_equal(m.h.auth_len, cases[i].len);
		assert_ptr_equal(m.auth, b.p + body_end);
		assert_int_equal(m.auth[0], 0x5A);
		assert_int_equal(m.u.req.op_len, sizeof(op));
		assert_memory_equal(m.u.req.op, op, sizeof(op));
		assert_inside(&m, b.p, b.len);
		buf_free(&b);
	}
}

/* Build `n` requests (with assorted auth trailers) into reqs, pointers in p/len. */
static void build_requests(struct buf *reqs, unsigned n, const uint8_t **p, uint32_t *len)
{
	size_t offs[WIRE_MAX_BATCH + 2];
	uint8_t op[64];
	for (unsigned i = 0; i < n; i++) {
		fill(op, sizeof(op), (uint8_t)i);
		offs[i] = wire_put_request(reqs, CID, i % WIRE_MAX_CLIENTS, 1000 + i,
					   (uint8_t)(i & 1), op, i % sizeof(op));
		switch (i % 3) {
		case 1: append_auth(reqs, offs[i], AUTH_SIG, WIRE_SIG_LEN, (uint8_t)i); break;
		case 2: append_auth(reqs, offs[i], AUTH_MAC, 4 * WIRE_MAC_LEN, (uint8_t)i); break;
		}
	}
	assert_int_equal(reqs->err, 0);
	offs[n] = reqs->len;
	for (unsigned i = 0; i < n; i++) {
		p[i] = reqs->p + offs[i];
		len[i] = (uint32_t)(offs[i + 1] - offs[i]);
	}
}

static void roundtrip_pp(unsigned n)
{
	static const uint8_t *p[WIRE_MAX_BATCH];
	static uint32_t len[WIRE_MAX_BATCH];
	static struct msg m, r;
	struct buf reqs, b;
	buf_init(&reqs);
	buf_init(&b);
	build_requests(&reqs, n, p, len);
	size_t off = wire_put_preprepare(&b, CID, 2, 17, 123456789, (uint16_t)n, p, len);
	assert_int_equal(off, 0);
	assert_int_equal(b.err, 0);
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_PREPREPARE, 2, 17, 123456789);
	assert_int_equal(m.u.pp.count, n);
	assert_inside(&m, b.p, b.len);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(m.u.pp.req_len[i], len[i]);
		assert_memory_equal(m.u.pp.req[i], p[i], len[i]);
		assert_int_equal(wire_decode(m.u.pp.req[i], m.u.pp.req_len[i], CID, &r), WIRE_OK);
		assert_int_equal(r.h.type, MSG_REQUEST);
		assert_int_equal(r.h.sender, i % WIRE_MAX_CLIENTS);
		assert_true(r.u.req.timestamp == 1000 + i);
		assert_int_equal(r.u.req.flags, i & 1);
		assert_int_equal(r.u.req.op_len, i % 64);
	}
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
	buf_free(&reqs);
	buf_free(&b);
}

static void test_roundtrip_preprepare(void **state)
{
	(void)state;
	roundtrip_pp(0);
	roundtrip_pp(1);
	roundtrip_pp(2);
	roundtrip_pp(7);
	roundtrip_pp(WIRE_MAX_BATCH);
}

static void test_roundtrip_preprepare_auth(void **state)
{
	(void)state;
	const uint8_t *p[3];
	uint32_t len[3];
	struct buf reqs, b;
	struct msg m;
	buf_init(&reqs);
	buf_init(&b);
	build_requests(&reqs, 3, p, len);
	size_t off = wire_put_preprepare(&b, CID, 0, 1, 2, 3, p, len);
	append_auth(&b, off, AUTH_SIG, WIRE_SIG_LEN, 1);
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_OK);
	assert_int_equal(m.h.auth_kind, AUTH_SIG);
	assert_int_equal(m.u.pp.count, 3);
	assert_inside(&m, b.p, b.len);
	buf_free(&reqs);
	buf_free(&b);
}

static void test_roundtrip_digest(void **state)
{
	(void)state;
	static const uint8_t types[] = {MSG_PREPARE, MSG_COMMIT, MSG_FETCH};
	for (size_t i = 0; i < sizeof(types); i++) {
		struct buf b;
		struct msg m;
		uint8_t dg[WIRE_DIGEST_LEN];
		fill(dg, sizeof(dg), (uint8_t)(40 + i));
		buf_init(&b);
		buf_put(&b, "xyz", 3); /* a message need not start at offset 0 */
		size_t off = wire_put_digest(&b, types[i], CID, 15, 1u << 20, 99 + i, dg);
		assert_int_equal(off, 3);
		assert_int_equal(wire_decode(b.p + off, b.len - off, CID, &m), WIRE_OK);
		check_hdr(&m, types[i], 15, 1u << 20, 99 + i);
		assert_int_equal(m.h.body_len, WIRE_DIGEST_LEN);
		assert_memory_equal(m.u.dg.digest, dg, WIRE_DIGEST_LEN);
		assert_inside(&m, b.p + off, b.len - off);
		buf_free(&b);
	}
}

/* A CHECKPOINT certifies the state digest and the snapshot's size: exactly 40 bytes. */
static void test_roundtrip_checkpoint(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t dg[WIRE_DIGEST_LEN];
	fill(dg, sizeof(dg), 77);
	buf_init(&b);
	size_t off = wire_put_checkpoint(&b, CID, 2, 5, 256, dg, 0x0102030405060708ull);
	assert_int_equal(wire_decode(b.p + off, b.len - off, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_CHECKPOINT, 2, 5, 256);
	assert_int_equal(m.h.body_len, WIRE_CKPT_BODY_LEN);
	assert_memory_equal(m.u.dg.digest, dg, WIRE_DIGEST_LEN);
	assert_int_equal(m.u.dg.size, 0x0102030405060708ull);
	assert_memory_equal(b.p + WIRE_HDR_LEN + WIRE_DIGEST_LEN,
			    "\x08\x07\x06\x05\x04\x03\x02\x01",
			    8); /* little-endian, after the digest */
	/* a digest alone (the body of a PREPARE) is not a CHECKPOINT, nor one byte more */
	buf_reset(&b);
	off = wire_put_digest(&b, MSG_CHECKPOINT, CID, 2, 5, 256, dg);
	assert_int_equal(wire_decode(b.p + off, b.len - off, CID, &m), WIRE_E_BODY);
	buf_reset(&b);
	off = wire_put_checkpoint(&b, CID, 2, 5, 256, dg, 1);
	buf_put_u8(&b, 0);
	set_u32(b.p + off + WIRE_OFF_BODY_LEN, WIRE_CKPT_BODY_LEN + 1);
	assert_int_equal(wire_decode(b.p + off, b.len - off, CID, &m), WIRE_E_BODY);
	buf_free(&b);
}

/* A digest reply (seq = REPLY_DIGEST) carries exactly a digest; other kinds are refused. */
static void test_reply_digest_kind(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t dg[WIRE_DIGEST_LEN];
	fill(dg, sizeof(dg), 5);
	buf_init(&b);
	wire_put_reply_digest(&b, CID, 2, 1, 7, 9, dg);
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_REPLY, 2, 1, REPLY_DIGEST);
	assert_int_equal(m.u.rep.result_len, WIRE_DIGEST_LEN);
	assert_memory_equal(m.u.rep.result, dg, WIRE_DIGEST_LEN);
	set_u64(b.p + WIRE_OFF_SEQ, 2); /* no such kind */
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_E_BODY);
	buf_reset(&b);
	wire_put_reply(&b, CID, 2, 1, 7, 9, dg, 31);
	set_u64(b.p + WIRE_OFF_SEQ, REPLY_DIGEST); /* a digest of the wrong length */
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_E_BODY);
	buf_free(&b);
}

static void test_roundtrip_reply(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t res[WIRE_MAX_RESULT];
	fill(res, sizeof(res), 77);
	buf_init(&b);
	wire_put_reply(&b, CID, 3, 8, 4000, 123, res, sizeof(res));
	size_t off2 = wire_put_reply(&b, CID, 1, 0, 0, 1, NULL, 0);
	append_auth(&b, off2, AUTH_MAC, WIRE_MAC_LEN, 3);
	assert_int_equal(b.err, 0);

	assert_int_equal(wire_decode(b.p, off2, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_REPLY, 3, 8, 0);
	assert_int_equal(m.u.rep.client, 4000);
	assert_true(m.u.rep.timestamp == 123);
	assert_int_equal(m.u.rep.result_len, sizeof(res));
	assert_memory_equal(m.u.rep.result, res, sizeof(res));
	assert_inside(&m, b.p, off2);

	assert_int_equal(wire_decode(b.p + off2, b.len - off2, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_REPLY, 1, 0, 0);
	assert_int_equal(m.h.auth_kind, AUTH_MAC);
	assert_int_equal(m.h.auth_len, WIRE_MAC_LEN);
	assert_int_equal(m.u.rep.client, 0);
	assert_int_equal(m.u.rep.result_len, 0);
	buf_free(&b);
}

static void test_roundtrip_empty_and_text(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	buf_init(&b);
	size_t o1 = wire_put_empty(&b, MSG_STATUS_REQ, CID, 9, 0, 0);
	size_t o2 = wire_put_empty(&b, MSG_HELLO, CID, 4095, 5, 6);
	size_t o3 = wire_put_text(&b, MSG_STATUS_RESP, CID, 2, "{\"id\":2}", 8);
	size_t o4 = wire_put_text(&b, MSG_STATUS_RESP, CID, 2, NULL, 0);
	size_t end = b.len;
	assert_int_equal(b.err, 0);

	assert_int_equal(wire_decode(b.p + o1, o2 - o1, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_STATUS_REQ, 9, 0, 0);
	assert_int_equal(m.h.body_len, 0);
	assert_int_equal(wire_decode(b.p + o2, o3 - o2, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_HELLO, 4095, 5, 6);
	assert_int_equal(wire_decode(b.p + o3, o4 - o3, CID, &m), WIRE_OK);
	check_hdr(&m, MSG_STATUS_RESP, 2, 0, 0);
	assert_int_equal(m.u.text.len, 8);
	assert_memory_equal(m.u.text.text, "{\"id\":2}", 8);
	assert_inside(&m, b.p + o3, o4 - o3);
	assert_int_equal(wire_decode(b.p + o4, end - o4, CID, &m), WIRE_OK);
	assert_int_equal(m.u.text.len, 0);

	/* status text at exactly the limit */
	char *big = malloc(WIRE_MAX_STATUS);
	assert_non_null(big);
	memset(big, 'a', WIRE_MAX_STATUS);
	buf_reset(&b);
	wire_put_text(&b, MSG_STATUS_RESP, CID, 0, big, WIRE_MAX_STATUS);
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_OK);
	assert_int_equal(m.u.text.len, WIRE_MAX_STATUS);
	buf_reset(&b);
	wire_put_text(&b, MSG_STATUS_RESP, CID, 0, big, WIRE_MAX_STATUS);
	buf_put_u8(&b, 'a');
	set_u32(b.p + WIRE_OFF_BODY_LEN, WIRE_MAX_STATUS + 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);
	free(big);
	buf_free(&b);
}

/* ---- header rejection ---- */

/* A valid request with a MAC trailer, to be mangled by the tests below. */
static void sample(struct buf *b)
{
	uint8_t op[10] = "put k v";
	buf_init(b);
	size_t off = wire_put_request(b, CID, 1, 2, 0, op, sizeof(op));
	append_auth(b, off, AUTH_MAC, 4 * WIRE_MAC_LEN, 0);
	assert_int_equal(b->err, 0);
}

static int mangle_u8(size_t at, uint8_t v)
{
	struct buf b;
	struct msg m;
	sample(&b);
	b.p[at] = v;
	int rc = decode_copy(b.p, b.len, CID, &m);
	buf_free(&b);
	return rc;
}

static int set_auth(uint8_t kind, uint16_t len)
{
	struct buf b;
	struct msg m;
	uint8_t op[3] = "abc";
	buf_init(&b);
	size_t off = wire_put_request(&b, CID, 1, 2, 0, op, sizeof(op));
	append_auth(&b, off, kind, len, 0);
	int rc = decode_copy(b.p, b.len, CID, &m);
	buf_free(&b);
	return rc;
}

static void test_reject_header(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;

	assert_int_equal(mangle_u8(0, 'X'), WIRE_E_MAGIC);
	assert_int_equal(mangle_u8(3, 0), WIRE_E_MAGIC);
	assert_int_equal(mangle_u8(WIRE_OFF_VERSION, 0), WIRE_E_VERSION);
	assert_int_equal(mangle_u8(WIRE_OFF_VERSION, 2), WIRE_E_VERSION);
	assert_int_equal(mangle_u8(WIRE_OFF_CLUSTER, 0), WIRE_E_CLUSTER);
	assert_int_equal(mangle_u8(WIRE_OFF_CLUSTER + 3, 0xFF), WIRE_E_CLUSTER);
	static const uint8_t bad_types[] = {0, MSG_TYPE_MAX + 1, 100, 255};
	for (size_t i = 0; i < sizeof(bad_types); i++)
		assert_int_equal(mangle_u8(WIRE_OFF_TYPE, bad_types[i]), WIRE_E_TYPE);
	assert_int_equal(mangle_u8(7, 1), WIRE_E_BODY);
	assert_int_equal(mangle_u8(38, 1), WIRE_E_BODY);
	assert_int_equal(mangle_u8(39, 0x80), WIRE_E_BODY);
	assert_int_equal(mangle_u8(WIRE_OFF_AUTH_KIND, AUTH_HYBRID + 1), WIRE_E_AUTH);
	assert_int_equal(mangle_u8(WIRE_OFF_AUTH_KIND, 255), WIRE_E_AUTH);

	/* the whole message decoded against another cluster id */
	sample(&b);
	assert_int_equal(decode_copy(b.p, b.len, CID + 1, &m), WIRE_E_CLUSTER);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
	/* trailing bytes, one and many */
	buf_put_u8(&b, 0);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TRAILING);
	static const uint8_t zeros[100];
	buf_put(&b, zeros, sizeof(zeros));
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TRAILING);
	buf_free(&b);

	/* body_len / auth_len claiming more than present, up to the maxima */
	sample(&b);
	set_u32(b.p + WIRE_OFF_BODY_LEN, UINT32_MAX);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_SHORT);
	set_u32(b.p + WIRE_OFF_BODY_LEN, 0);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TRAILING);
	buf_free(&b);

	/* NULL and empty input */
	assert_int_equal(wire_decode(NULL, 0, CID, &m), WIRE_E_SHORT);
	assert_int_equal(decode_copy((const uint8_t *)"", 0, CID, &m), WIRE_E_SHORT);
}

static void test_reject_auth_len(void **state)
{
	(void)state;
	assert_int_equal(set_auth(AUTH_NONE, 0), WIRE_OK);
	assert_int_equal(set_auth(AUTH_NONE, 1), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_NONE, WIRE_SIG_LEN), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_SIG, WIRE_SIG_LEN), WIRE_OK);
	assert_int_equal(set_auth(AUTH_SIG, 0), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_SIG, WIRE_SIG_LEN - 1), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_SIG, WIRE_SIG_LEN + 1), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_SIG, 2 * WIRE_SIG_LEN), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_MAC, 0), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_MAC, WIRE_MAC_LEN - 1), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_MAC, WIRE_MAC_LEN + 1), WIRE_E_AUTH);
	assert_int_equal(set_auth(AUTH_MAC, 3 * WIRE_MAC_LEN), WIRE_OK);
	assert_int_equal(set_auth(AUTH_MAC, WIRE_MAX_REPLICAS * WIRE_MAC_LEN), WIRE_OK);
	assert_int_equal(set_auth(AUTH_MAC, (WIRE_MAX_REPLICAS + 1) * WIRE_MAC_LEN), WIRE_E_AUTH);
	assert_int_equal(set_auth(3, 0), WIRE_E_AUTH);
	assert_int_equal(set_auth(3, WIRE_SIG_LEN), WIRE_E_AUTH);

	/* a consistent auth_len whose trailer is missing or too long */
	struct buf b;
	struct msg m;
	sample(&b);
	assert_int_equal(decode_copy(b.p, b.len - 1, CID, &m), WIRE_E_SHORT);
	set_u16(b.p + WIRE_OFF_AUTH_LEN, 3 * WIRE_MAC_LEN);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TRAILING);
	set_u16(b.p + WIRE_OFF_AUTH_LEN, 5 * WIRE_MAC_LEN);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_SHORT);
	buf_free(&b);
}

static void test_reject_toobig_len(void **state)
{
	(void)state;
	struct msg m;
	size_t n = (size_t)WIRE_MAX_MSG + 1;
	uint8_t *p = calloc(1, n);
	assert_non_null(p);
	struct buf b;
	sample(&b);
	memcpy(p, b.p, b.len);
	assert_int_equal(wire_decode(p, n, CID, &m), WIRE_E_TOOBIG);
	/* exactly WIRE_MAX_MSG bytes is not too big: the header is checked further and
	 * the zero padding after the message is trailing */
	assert_int_equal(wire_decode(p, n - 1, CID, &m), WIRE_E_TRAILING);
	buf_free(&b);
	free(p);
}

/* ---- body rejection ---- */

static void test_reject_body_limits(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t *big = calloc(1, WIRE_MAX_OP + 1);
	assert_non_null(big);
	buf_init(&b);

	wire_put_request(&b, CID, 1, 1, 0, big, WIRE_MAX_OP);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
	buf_reset(&b);
	wire_put_request(&b, CID, 1, 1, 0, big, WIRE_MAX_OP + 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);

	/* op_len claims a huge op that is not there: the limit is checked first */
	buf_reset(&b);
	wire_put_request(&b, CID, 1, 1, 0, big, 4);
	set_u32(b.p + WIRE_HDR_LEN + 9, UINT32_MAX);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);
	set_u32(b.p + WIRE_HDR_LEN + 9, 5);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	set_u32(b.p + WIRE_HDR_LEN + 9, 3);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	buf_reset(&b);
	wire_put_reply(&b, CID, 0, 0, 1, 1, big, WIRE_MAX_RESULT + 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);
	buf_reset(&b);
	wire_put_reply(&b, CID, 0, 0, 1, 1, big, 4);
	set_u32(b.p + WIRE_HDR_LEN + 12, UINT32_MAX);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);
	set_u32(b.p + WIRE_HDR_LEN + 12, 5);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	/* unknown request flags */
	buf_reset(&b);
	wire_put_request(&b, CID, 1, 1, 0x02, big, 4);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	/* digests must be exactly WIRE_DIGEST_LEN */
	buf_reset(&b);
	wire_put_digest(&b, MSG_PREPARE, CID, 0, 0, 1, big);
	buf_put_u8(&b, 0);
	set_u32(b.p + WIRE_OFF_BODY_LEN, WIRE_DIGEST_LEN + 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	set_u32(b.p + WIRE_OFF_BODY_LEN, WIRE_DIGEST_LEN);
	assert_int_equal(decode_copy(b.p, b.len - 1, CID, &m), WIRE_OK);
	set_u32(b.p + WIRE_OFF_BODY_LEN, WIRE_DIGEST_LEN - 1);
	assert_int_equal(decode_copy(b.p, b.len - 2, CID, &m), WIRE_E_BODY);

	/* empty bodies must be empty */
	buf_reset(&b);
	wire_put_empty(&b, MSG_HELLO, CID, 0, 0, 0);
	buf_put_u8(&b, 0);
	set_u32(b.p + WIRE_OFF_BODY_LEN, 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	b.p[WIRE_OFF_TYPE] = MSG_STATUS_REQ;
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	/* body with a byte too many (inside body_len) */
	buf_reset(&b);
	wire_put_request(&b, CID, 1, 1, 0, big, 4);
	buf_put_u8(&b, 0);
	set_u32(b.p + WIRE_OFF_BODY_LEN, 13 + 5);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	free(big);
	buf_free(&b);
}

static void test_reject_batch(void **state)
{
	(void)state;
	static const uint8_t *p[WIRE_MAX_BATCH + 1];
	static uint32_t len[WIRE_MAX_BATCH + 1];
	struct buf reqs, b;
	struct msg m;
	buf_init(&reqs);
	buf_init(&b);
	build_requests(&reqs, WIRE_MAX_BATCH + 1, p, len);

	wire_put_preprepare(&b, CID, 0, 0, 1, WIRE_MAX_BATCH + 1, p, len);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);
	/* a count claiming the maximum u16 with nothing behind it */
	buf_reset(&b);
	wire_put_preprepare(&b, CID, 0, 0, 1, 0, p, len);
	set_u16(b.p + WIRE_HDR_LEN, UINT16_MAX);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_TOOBIG);
	/* count says 2, one entry present */
	buf_reset(&b);
	wire_put_preprepare(&b, CID, 0, 0, 1, 1, p, len);
	set_u16(b.p + WIRE_HDR_LEN, 2);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	/* count says 1, two entries present */
	buf_reset(&b);
	wire_put_preprepare(&b, CID, 0, 0, 1, 2, p, len);
	set_u16(b.p + WIRE_HDR_LEN, 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	/* entry length beyond the body, and huge */
	buf_reset(&b);
	wire_put_preprepare(&b, CID, 0, 0, 1, 1, p, len);
	set_u32(b.p + WIRE_HDR_LEN + 2, len[0] + 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	set_u32(b.p + WIRE_HDR_LEN + 2, UINT32_MAX);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	/* entry length one short: the embedded request is truncated */
	set_u32(b.p + WIRE_HDR_LEN + 2, len[0] - 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	/* truncated count */
	buf_reset(&b);
	wire_put_empty(&b, MSG_PREPREPARE, CID, 0, 0, 1);
	buf_put_u8(&b, 0);
	set_u32(b.p + WIRE_OFF_BODY_LEN, 1);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	/* PEER_STATUS: one u64 stable checkpoint, exactly */
	buf_reset(&b);
	size_t off = wire_begin(&b, MSG_PEER_STATUS, CID, 2, 5, 130);
	buf_put_u64(&b, 128);
	wire_finish(&b, off);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
	assert_true(m.u.low == 128 && m.h.seq == 130 && m.h.view == 5);
	buf_reset(&b);
	off = wire_begin(&b, MSG_PEER_STATUS, CID, 2, 5, 130);
	buf_put_u64(&b, 128);
	buf_put_u8(&b, 0);
	wire_finish(&b, off);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);
	buf_reset(&b);
	off = wire_begin(&b, MSG_PEER_STATUS, CID, 2, 5, 130);
	buf_put_u32(&b, 128); /* short */
	wire_finish(&b, off);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	buf_free(&reqs);
	buf_free(&b);
}

static int pp_with(const uint8_t *e, uint32_t elen)
{
	struct buf b;
	struct msg m;
	buf_init(&b);
	wire_put_preprepare(&b, CID, 0, 0, 1, 1, &e, &elen);
	assert_int_equal(b.err, 0);
	int rc = decode_copy(b.p, b.len, CID, &m);
	buf_free(&b);
	return rc;
}

static void test_reject_embedded(void **state)
{
	(void)state;
	struct buf e;
	uint8_t dg[WIRE_DIGEST_LEN] = {0};
	uint8_t op[4] = "Gabc";
	buf_init(&e);

	/* the control: a valid request is accepted */
	wire_put_request(&e, CID, 1, 1, 0, op, sizeof(op));
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_OK);
	/* a request from another cluster */
	buf_reset(&e);
	wire_put_request(&e, CID ^ 1, 1, 1, 0, op, sizeof(op));
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	/* non-requests */
	buf_reset(&e);
	wire_put_digest(&e, MSG_PREPARE, CID, 1, 0, 1, dg);
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	buf_reset(&e);
	wire_put_reply(&e, CID, 1, 0, 1, 1, op, sizeof(op));
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	buf_reset(&e);
	wire_put_empty(&e, MSG_HELLO, CID, 1, 0, 0);
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	/* a pre-prepare inside a pre-prepare, itself holding a valid request */
	struct buf r;
	buf_init(&r);
	wire_put_request(&r, CID, 1, 1, 0, op, sizeof(op));
	const uint8_t *rp = r.p;
	uint32_t rl = (uint32_t)r.len;
	buf_reset(&e);
	wire_put_preprepare(&e, CID, 0, 0, 1, 1, &rp, &rl);
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	/* an embedded request with a trailing byte, or a bad auth_len */
	buf_reset(&e);
	wire_put_request(&e, CID, 1, 1, 0, op, sizeof(op));
	buf_put_u8(&e, 0);
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	buf_reset(&e);
	wire_put_request(&e, CID, 1, 1, 0, op, sizeof(op));
	append_auth(&e, 0, AUTH_SIG, WIRE_SIG_LEN - 1, 0);
	assert_int_equal(pp_with(e.p, (uint32_t)e.len), WIRE_E_BODY);
	/* an empty entry */
	assert_int_equal(pp_with(e.p, 0), WIRE_E_BODY);
	buf_free(&r);
	buf_free(&e);
}

/* Pre-prepares nested thousands deep: decoding must stop at the first level
 * rather than recurse (which would exhaust the stack). */
static void test_reject_deep_nesting(void **state)
{
	(void)state;
	struct buf a, b;
	struct msg m;
	uint8_t op[1] = {'N'};
	buf_init(&a);
	buf_init(&b);
	wire_put_request(&a, CID, 1, 1, 0, op, sizeof(op));
	for (int depth = 0; depth < 20000; depth++) {
		const uint8_t *p = a.p;
		uint32_t len = (uint32_t)a.len;
		buf_reset(&b);
		wire_put_preprepare(&b, CID, 0, 0, 1, 1, &p, &len);
		assert_int_equal(b.err, 0);
		struct buf t = a;
		a = b;
		b = t;
	}
	assert_int_equal(decode_copy(a.p, a.len, CID, &m), WIRE_E_BODY);
	buf_free(&a);
	buf_free(&b);
}

/* NEW-VIEW holding a VIEW-CHANGE whose checkpoint slot holds a NEW-VIEW, and so on:
 * nested messages are decoded before their type is checked, so only a depth limit
 * in wire_decode stops hostile nesting from exhausting the stack. */
static void test_reject_deep_vc_nesting(void **state)
{
	(void)state;
	struct buf x, y;
	struct msg m;
	uint8_t dg[WIRE_DIGEST_LEN] = {0};
	buf_init(&x);
	buf_init(&y);
	wire_put_checkpoint(&x, CID, 1, 0, 128, dg, 4096);
	for (int depth = 0; depth < 4000; depth++) {
		int type = depth % 2 ? MSG_NEWVIEW : MSG_VIEWCHANGE;
		buf_reset(&y);
		size_t off = wire_begin(&y, (uint8_t)type, CID, 0, 1, 0);
		buf_put_u16(&y, 1);
		buf_put_u32(&y, (uint32_t)x.len);
		buf_put(&y, x.p, x.len);
		if (type == MSG_VIEWCHANGE)
			buf_put_u32(&y, 0); /* n_prepared */
		else
			buf_put_u32(&y, 0); /* n_o */
		wire_finish(&y, off);
		assert_int_equal(y.err, 0);
		struct buf t = x;
		x = y;
		y = t;
	}
	assert_int_equal(decode_copy(x.p, x.len, CID, &m), WIRE_E_BODY);
	buf_free(&x);
	buf_free(&y);
}

/* The legitimate nesting depth still decodes: NEW-VIEW > VIEW-CHANGE > CHECKPOINT. */
static void test_vc_nesting_allowed(void **state)
{
	(void)state;
	struct buf ck, vc, nv;
	struct msg m;
	uint8_t dg[WIRE_DIGEST_LEN];
	fill(dg, sizeof(dg), 5);
	buf_init(&ck);
	buf_init(&vc);
	buf_init(&nv);
	wire_put_checkpoint(&ck, CID, 1, 0, 128, dg, 4096);
	size_t off = wire_begin(&vc, MSG_VIEWCHANGE, CID, 1, 1, 128);
	buf_put_u16(&vc, 1);
	buf_put_u32(&vc, (uint32_t)ck.len);
	buf_put(&vc, ck.p, ck.len);
	buf_put_u32(&vc, 0);
	wire_finish(&vc, off);
	off = wire_begin(&nv, MSG_NEWVIEW, CID, 1, 1, 0);
	buf_put_u16(&nv, 1);
	buf_put_u32(&nv, (uint32_t)vc.len);
	buf_put(&nv, vc.p, vc.len);
	buf_put_u32(&nv, 0);
	wire_finish(&nv, off);
	assert_int_equal(wire_decode(vc.p, vc.len, CID, &m), WIRE_OK);
	assert_int_equal(m.u.vc.n_ckpt, 1);
	assert_int_equal(wire_decode(nv.p, nv.len, CID, &m), WIRE_OK);
	assert_int_equal(m.u.nv.n_vc, 1);
	assert_ptr_equal(m.u.nv.vc[0], nv.p + WIRE_HDR_LEN + 6);
	buf_free(&ck);
	buf_free(&vc);
	buf_free(&nv);
}

/* ---- the worst NEW-VIEW (docs/PROTOCOL.md §5.7, issue 19) ---- */

/* Seal the message at off with a stand-in trailer of an Ed25519 signature's size. */
static void fake_sig(struct buf *b, size_t off, int sig)
{
	if (!sig)
		return;
	b->p[off + WIRE_OFF_AUTH_KIND] = AUTH_SIG;
	set_u16(b->p + off + WIRE_OFF_AUTH_LEN, WIRE_SIG_LEN);
	for (int i = 0; i < WIRE_SIG_LEN; i++)
		buf_put_u8(b, (uint8_t)i);
}

/* A nested message: u32 length, then the message from tmp. */
static void put_nested(struct buf *b, const struct buf *tmp)
{
	buf_put_u32(b, (uint32_t)tmp->len);
	buf_put(b, tmp->p, tmp->len);
}

/* The largest VIEW-CHANGE a correct replica can send at f with this window: a proof of
 * n CHECKPOINTs, a certificate of 2f PREPAREs for every slot of the window. */
static void build_full_vc(struct buf *vc, uint32_t n, uint32_t f, uint32_t window, int sig,
			  uint32_t id)
{
	uint8_t dg[WIRE_DIGEST_LEN];
	struct buf t;
	fill(dg, sizeof(dg), 7);
	buf_init(&t);
	size_t off = wire_begin(vc, MSG_VIEWCHANGE, CID, id, 1, 128);
	buf_put_u16(vc, (uint16_t)n);
	for (uint32_t i = 0; i < n; i++) {
		buf_reset(&t);
		wire_put_checkpoint(&t, CID, i, 0, 128, dg, 4096);
		fake_sig(&t, 0, sig);
		put_nested(vc, &t);
	}
	buf_put_u32(vc, window);
	for (uint32_t s = 129; s <= 128 + window; s++) {
		buf_reset(&t);
		size_t pp = wire_begin(&t, MSG_PREPREPARE, CID, 0, 0, s);
		set_u32(t.p + pp + WIRE_OFF_BODY_LEN, 100);
		buf_put(&t, dg, WIRE_DIGEST_LEN);
		fake_sig(&t, pp, sig);
		put_nested(vc, &t);
		buf_put_u16(vc, (uint16_t)(2 * f));
		for (uint32_t k = 1; k <= 2 * f; k++) {
			buf_reset(&t);
			wire_put_digest(&t, MSG_PREPARE, CID, k, 0, s, dg);
			fake_sig(&t, 0, sig);
			put_nested(vc, &t);
		}
	}
	wire_finish(vc, off);
	fake_sig(vc, off, sig);
	buf_free(&t);
}

/* The NEW-VIEW of 2f+1 such VIEW-CHANGEs and a full O set; returns its length, or 0 if
 * the encoder refused it (over WIRE_MAX_MSG, trailer included). */
static size_t build_full_nv(struct buf *nv, uint32_t n, uint32_t f, uint32_t window, int sig)
{
	uint32_t quorum = n - f; /* 2f+1 VIEW-CHANGEs */
	uint8_t dg[WIRE_DIGEST_LEN];
	struct buf vc;
	fill(dg, sizeof(dg), 7);
	buf_init(&vc);
	size_t off = wire_begin(nv, MSG_NEWVIEW, CID, 1, 1, 0);
	buf_put_u16(nv, (uint16_t)quorum);
	for (uint32_t i = 0; i < quorum; i++) {
		buf_reset(&vc);
		build_full_vc(&vc, n, f, window, sig, i);
		put_nested(nv, &vc);
	}
	buf_put_u32(nv, window);
	for (uint32_t s = 129; s <= 128 + window; s++) {
		size_t len_at = nv->len;
		buf_put_u32(nv, 0);
		size_t pp = wire_begin(nv, MSG_PREPREPARE, CID, 1, 1, s);
		set_u32(nv->p + pp + WIRE_OFF_BODY_LEN, 100);
		buf_put(nv, dg, WIRE_DIGEST_LEN);
		fake_sig(nv, pp, sig);
		set_u32(nv->p + len_at, (uint32_t)(nv->len - pp));
	}
	wire_finish(nv, off);
	fake_sig(nv, off, sig);
	buf_free(&vc);
	return nv->err || nv->len - off > WIRE_MAX_MSG ? 0 : nv->len - off;
}

/* wire_newview_worst() is the size of the real thing, and wire_window_max() the largest
 * window whose worst NEW-VIEW the encoder still sends: at f = 10 the default window
 * (256) is not (it was allowed before the bound: a view change with a full window of
 * prepared certificates could not be announced). */
static void test_newview_worst_case_fits(void **state)
{
	(void)state;
	struct buf nv;
	struct msg m;
	buf_init(&nv);
	for (int sig = 0; sig <= 1; sig++) {
		buf_reset(&nv);
		assert_int_equal(build_full_nv(&nv, 4, 1, 3, sig),
				 wire_newview_worst(4, 1, 3, sig));
		assert_int_equal(wire_decode(nv.p, nv.len, CID, &m), WIRE_OK);
		assert_int_equal(m.u.nv.n_vc, 3);
		assert_int_equal(m.u.nv.n_o, 3);
		uint32_t most = wire_window_max(31, 10, sig);
		assert_true(most >= 2 && most < 256);
		buf_reset(&nv);
		assert_int_equal(build_full_nv(&nv, 31, 10, most, sig),
				 wire_newview_worst(31, 10, most, sig));
		assert_true(wire_newview_worst(31, 10, most + 1, sig) > WIRE_MAX_MSG);
		buf_reset(&nv);
		assert_int_equal(build_full_nv(&nv, 31, 10, 256, sig), 0);
	}
	assert_int_equal(wire_window_max(31, 10, 1), 133); /* docs/PROTOCOL.md §5.7 */
	assert_int_equal(wire_window_max(31, 10, 0), 247);
	assert_int_equal(wire_window_max(22, 7, 1), 263); /* f <= 7: the default 256 fits */
	buf_free(&nv);
}

/* The batch-fetch and state-transfer bodies decoded in wire.c. */
static void test_fetch_batch_state(void **state)
{
	(void)state;
	const uint8_t *p[2];
	uint32_t len[2];
	struct buf reqs, b;
	struct msg m;
	struct body_preprepare bp;
	uint8_t dg[WIRE_DIGEST_LEN];
	fill(dg, sizeof(dg), 11);
	buf_init(&reqs);
	buf_init(&b);
	build_requests(&reqs, 2, p, len);

	wire_put_digest(&b, MSG_FETCH, CID, 2, 0, 77, dg);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
	assert_int_equal(m.h.type, MSG_FETCH);
	assert_true(m.h.seq == 77);
	assert_memory_equal(m.u.dg.digest, dg, WIRE_DIGEST_LEN);

	/* BATCH: a pre-prepare body under another type */
	buf_reset(&b);
	wire_put_preprepare(&b, CID, 1, 0, 77, 2, p, len);
	b.p[WIRE_OFF_TYPE] = MSG_BATCH;
	assert_int_equal(wire_decode(b.p, b.len, CID, &m), WIRE_OK);
	assert_int_equal(m.u.pp.count, 2);
	assert_int_equal(m.u.pp.req_len[1], len[1]);
	assert_inside(&m, b.p, b.len);
	assert_int_equal(wire_decode_batch(b.p + WIRE_HDR_LEN, b.len - WIRE_HDR_LEN, CID, &bp),
			 WIRE_OK);
	assert_int_equal(bp.count, 2);
	assert_int_equal(wire_decode_batch(b.p + WIRE_HDR_LEN, b.len - WIRE_HDR_LEN - 1, CID, &bp),
			 WIRE_E_BODY);
	/* a batch inside a batch is not a request */
	const uint8_t *inner = b.p;
	uint32_t inner_len = (uint32_t)b.len;
	struct buf o;
	buf_init(&o);
	wire_put_preprepare(&o, CID, 1, 0, 78, 1, &inner, &inner_len);
	o.p[WIRE_OFF_TYPE] = MSG_BATCH;
	assert_int_equal(decode_copy(o.p, o.len, CID, &m), WIRE_E_BODY);
	buf_free(&o);

	/* FETCH_STATE: one u64 offset, exactly */
	buf_reset(&b);
	size_t off = wire_begin(&b, MSG_FETCH_STATE, CID, 3, 0, 256);
	buf_put_u64(&b, 1u << 20);
	wire_finish(&b, off);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_OK);
	assert_true(m.u.offset == 1u << 20);
	buf_reset(&b);
	off = wire_begin(&b, MSG_FETCH_STATE, CID, 3, 0, 256);
	buf_put_u32(&b, 1);
	wire_finish(&b, off);
	assert_int_equal(decode_copy(b.p, b.len, CID, &m), WIRE_E_BODY);

	buf_free(&reqs);
	buf_free(&b);
}

/* ---- truncation, corruption, garbage ---- */

/* A little corpus: one message of every type, some with trailers. */
static size_t corpus(struct buf *b, size_t *offs)
{
	static const uint8_t *p[4];
	static uint32_t len[4];
	struct buf reqs;
	uint8_t dg[WIRE_DIGEST_LEN];
	uint8_t res[5] = {0, 'v', 'a', 'l', '!'};
	size_t n = 0;
	fill(dg, sizeof(dg), 1);
	buf_init(&reqs);
	build_requests(&reqs, 4, p, len);
	offs[n++] = wire_put_request(b, CID, 3, 4, 1, (const uint8_t *)"Gkey", 4);
	append_auth(b, offs[n - 1], AUTH_SIG, WIRE_SIG_LEN, 9);
	offs[n++] = wire_put_preprepare(b, CID, 0, 1, 2, 4, p, len);
	append_auth(b, offs[n - 1], AUTH_MAC, 4 * WIRE_MAC_LEN, 8);
	offs[n++] = wire_put_preprepare(b, CID, 0, 1, 2, 0, NULL, NULL);
	offs[n++] = wire_put_digest(b, MSG_PREPARE, CID, 1, 1, 2, dg);
	offs[n++] = wire_put_digest(b, MSG_COMMIT, CID, 2, 1, 2, dg);
	offs[n++] = wire_put_checkpoint(b, CID, 3, 1, 128, dg, 4096);
	append_auth(b, offs[n - 1], AUTH_SIG, WIRE_SIG_LEN, 7);
	offs[n++] = wire_put_reply(b, CID, 1, 1, 3, 4, res, sizeof(res));
	append_auth(b, offs[n - 1], AUTH_MAC, WIRE_MAC_LEN, 6);
	offs[n++] = wire_put_empty(b, MSG_STATUS_REQ, CID, 0, 0, 0);
	offs[n++] = wire_put_empty(b, MSG_HELLO, CID, 7, 0, 0);
	offs[n++] = wire_put_text(b, MSG_STATUS_RESP, CID, 1, "{\"id\":1}", 8);
	offs[n] = b->len;
	assert_int_equal(b->err, 0);
	buf_free(&reqs);
	return n;
}

static void test_truncated(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	size_t offs[16];
	buf_init(&b);
	size_t n = corpus(&b, offs);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = b.p + offs[i];
		size_t len = offs[i + 1] - offs[i];
		assert_int_equal(decode_copy(p, len, CID, &m), WIRE_OK);
		for (size_t l = 0; l < len; l++)
			assert_int_equal(decode_copy(p, l, CID, &m), WIRE_E_SHORT);
	}
	/* every prefix of the whole stream: several messages back to back never
	 * decode as one, and nothing crashes */
	for (size_t l = offs[1] + 1; l <= b.len; l++)
		assert_int_not_equal(decode_copy(b.p, l, CID, &m), WIRE_OK);
	buf_free(&b);
}

static void test_corrupted(void **state)
{
	(void)state;
	struct buf b;
	static struct msg m;
	size_t offs[16];
	buf_init(&b);
	size_t n = corpus(&b, offs);
	for (size_t i = 0; i < n; i++) {
		size_t len = offs[i + 1] - offs[i];
		uint8_t *q = copy_of(b.p + offs[i], len);
		for (size_t at = 0; at < len; at++) {
			for (int bit = -1; bit < 8; bit++) {
				uint8_t x = bit < 0 ? 0xFF : (uint8_t)(1u << bit);
				q[at] ^= x;
				int rc = wire_decode(q, len, CID, &m);
				if (rc == WIRE_OK)
					assert_inside(&m, q, len);
				else
					assert_true(rc >= WIRE_E_AUTH && rc <= WIRE_E_SHORT);
				/* header fields map to their own error */
				if (at < 4)
					assert_int_equal(rc, WIRE_E_MAGIC);
				else if (at == WIRE_OFF_VERSION)
					assert_int_equal(rc, WIRE_E_VERSION);
				else if (at >= WIRE_OFF_CLUSTER && at < WIRE_OFF_SENDER)
					assert_int_equal(rc, WIRE_E_CLUSTER);
				q[at] ^= x;
			}
		}
		assert_int_equal(wire_decode(q, len, CID, &m), WIRE_OK);
		free(q);
	}
	buf_free(&b);
}

static void test_garbage(void **state)
{
	(void)state;
	static struct msg m;
	uint8_t raw[1024] = {0}; /* copy_of(raw, 0) reads nothing, but say so */
	int ok = 0;
	rng_state = 0x9E3779B97F4A7C15ull;
	for (int iter = 0; iter < 100000; iter++) {
		size_t len = rng() % sizeof(raw);
		for (size_t i = 0; i < len; i++)
			raw[i] = (uint8_t)rng();
		/* mostly plausible headers, so the body parsers see garbage too */
		if (len >= WIRE_HDR_LEN && (iter & 3)) {
			set_u32(raw, WIRE_MAGIC);
			raw[WIRE_OFF_VERSION] = WIRE_VERSION;
			raw[WIRE_OFF_TYPE] = (uint8_t)(1 + rng() % (MSG_TYPE_MAX + 1));
			raw[WIRE_OFF_AUTH_KIND] = (uint8_t)(rng() % 3);
			raw[7] = 0;
			set_u32(raw + WIRE_OFF_CLUSTER, CID);
			uint16_t al = 0;
			if (raw[WIRE_OFF_AUTH_KIND] == AUTH_SIG)
				al = WIRE_SIG_LEN;
			else if (raw[WIRE_OFF_AUTH_KIND] == AUTH_MAC)
				al = (uint16_t)((1 + rng() % 4) * WIRE_MAC_LEN);
			if (al > len - WIRE_HDR_LEN) {
				al = 0;
				raw[WIRE_OFF_AUTH_KIND] = AUTH_NONE;
			}
			set_u16(raw + WIRE_OFF_AUTH_LEN, al);
			set_u16(raw + 38, 0);
			set_u32(raw + WIRE_OFF_BODY_LEN, (uint32_t)(len - WIRE_HDR_LEN - al));
			/* a few short bodies: count 0..2 pre-prepares, small op lengths */
			if (raw[WIRE_OFF_TYPE] == MSG_PREPREPARE && len >= WIRE_HDR_LEN + 2)
				set_u16(raw + WIRE_HDR_LEN, (uint16_t)(rng() % 3));
		}
		uint8_t *q = copy_of(raw, len);
		int rc = wire_decode(q, len, CID, &m);
		if (rc == WIRE_OK) {
			assert_inside(&m, q, len);
			ok++;
		} else {
			assert_true(rc >= WIRE_E_AUTH && rc <= WIRE_E_SHORT);
		}
		free(q);
	}
	/* the generator does reach valid messages (empty bodies, status text) */
	assert_true(ok > 0);
}

/* ---- buf and cursor limits ---- */

static void test_buf_limits(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	buf_put_u8(&b, 0xAB);
	buf_put_u16(&b, 0x0102);
	buf_put_u32(&b, 0x03040506);
	buf_put_u64(&b, 0x0708090A0B0C0D0Eull);
	buf_put(&b, NULL, 0);
	assert_int_equal(b.len, 15);
	assert_memory_equal(b.p, "\xAB\x02\x01\x06\x05\x04\x03\x0E\x0D\x0C\x0B\x0A\x09\x08\x07",
			    15);
	assert_int_equal(b.err, 0);

	/* growth up to exactly the cap is fine, one byte more is not */
	assert_int_equal(buf_reserve(&b, WIRE_MAX_MSG - b.len), 0);
	assert_int_equal(b.cap, WIRE_MAX_MSG);
	assert_int_equal(buf_reserve(&b, (size_t)WIRE_MAX_MSG + 1 - b.len), WIRE_E_NOMEM);
	assert_int_equal(b.err, WIRE_E_NOMEM);
	/* sticky: even a small put does nothing now */
	buf_put_u8(&b, 1);
	assert_int_equal(b.len, 15);
	assert_int_equal(buf_reserve(&b, 1), WIRE_E_NOMEM);
	/* reset clears the error and keeps the allocation */
	buf_reset(&b);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.p);
	/* SIZE_MAX does not wrap around */
	assert_int_equal(buf_reserve(&b, SIZE_MAX), WIRE_E_NOMEM);
	buf_reset(&b);

	/* fill to the cap with puts: the last byte fits, the next fails */
	size_t chunk_len = WIRE_MAX_MSG / 4;
	uint8_t *chunk = calloc(1, chunk_len);
	assert_non_null(chunk);
	for (int i = 0; i < 4; i++)
		buf_put(&b, chunk, chunk_len);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, WIRE_MAX_MSG);
	buf_put_u8(&b, 0);
	assert_int_equal(b.err, WIRE_E_NOMEM);
	assert_int_equal(b.len, WIRE_MAX_MSG);
	free(chunk);
	buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.cap, 0);
}

static void test_encoder_overflow(void **state)
{
	(void)state;
	struct buf b;
	struct msg m;
	uint8_t *op = calloc(1, WIRE_MAX_OP);
	assert_non_null(op);
	buf_init(&b);
	/* leave room for a header but not a body */
	assert_int_equal(buf_reserve(&b, WIRE_MAX_MSG), 0);
	b.len = WIRE_MAX_MSG - WIRE_HDR_LEN - 20;
	size_t off = wire_put_request(&b, CID, 1, 1, 0, op, WIRE_MAX_OP);
	assert_int_equal(b.err, WIRE_E_NOMEM);
	assert_int_equal(off, WIRE_MAX_MSG - WIRE_HDR_LEN - 20);
	/* the half-written message was dropped */
	assert_int_equal(b.len, off);
	/* later encoders do nothing */
	wire_put_empty(&b, MSG_HELLO, CID, 1, 0, 0);
	assert_int_equal(b.len, off);

	/* after a reset the buffer works again */
	buf_reset(&b);
	off = wire_put_request(&b, CID, 1, 1, 0, op, 1);
	assert_int_equal(b.err, 0);
	assert_int_equal(wire_decode(b.p + off, b.len - off, CID, &m), WIRE_OK);
	free(op);
	buf_free(&b);
}

static void test_cursor(void **state)
{
	(void)state;
	const uint8_t data[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	struct cursor c;
	cur_init(&c, data, sizeof(data));
	assert_int_equal(c.ok, 1);
	assert_int_equal(cur_u8(&c), 1);
	assert_int_equal(cur_u16(&c), 0x0302);
	assert_int_equal(cur_u32(&c), 0x07060504);
	assert_true(cur_u64(&c) == 0x0F0E0D0C0B0A0908ull);
	assert_int_equal(c.off, 15);
	assert_int_equal(c.ok, 1);
	/* zero bytes at the end is fine and not NULL */
	assert_non_null(cur_bytes(&c, 0));
	assert_int_equal(c.ok, 1);
	/* one past the end */
	assert_int_equal(cur_u8(&c), 0);
	assert_int_equal(c.ok, 0);
	assert_int_equal(c.off, 15);

	/* partial reads fail whole, and stay failed even for reads that would fit */
	cur_init(&c, data, 3);
	assert_int_equal(cur_u32(&c), 0);
	assert_int_equal(c.ok, 0);
	assert_int_equal(c.off, 0);
	assert_int_equal(cur_u8(&c), 0);
	assert_null(cur_bytes(&c, 0));

	cur_init(&c, data, sizeof(data));
	assert_int_equal(cur_u16(&c), 0x0201);
	assert_null(cur_bytes(&c, SIZE_MAX));
	assert_int_equal(c.ok, 0);
	cur_init(&c, data, sizeof(data));
	assert_true(cur_u64(&c) == 0x0807060504030201ull);
	assert_null(cur_bytes(&c, SIZE_MAX - 4));
	cur_init(&c, data, sizeof(data));
	const uint8_t *p = cur_bytes(&c, 15);
	assert_ptr_equal(p, data);
	assert_int_equal(c.ok, 1);
	assert_int_equal(cur_u16(&c), 0);
	assert_int_equal(c.ok, 0);

	/* an empty cursor */
	cur_init(&c, NULL, 0);
	assert_non_null(cur_bytes(&c, 0));
	assert_int_equal(cur_u64(&c), 0);
	assert_int_equal(c.ok, 0);
	/* an offset past the end (set by hand) is not trusted */
	cur_init(&c, data, 4);
	c.off = 10;
	assert_null(cur_bytes(&c, 0));
	assert_int_equal(c.ok, 0);
}

static void test_strings(void **state)
{
	(void)state;
	for (int e = WIRE_E_NOMEM; e <= WIRE_OK; e++) {
		assert_non_null(wire_strerror(e));
		assert_string_not_equal(wire_strerror(e), "unknown");
	}
	assert_string_equal(wire_strerror(1), "unknown");
	assert_string_equal(wire_strerror(-11), "unknown");
	assert_string_equal(wire_type_name(MSG_REQUEST), "request");
	assert_string_equal(wire_type_name(MSG_PREPREPARE), "preprepare");
	assert_string_equal(wire_type_name(MSG_HELLO), "hello");
	for (int t = 1; t <= MSG_TYPE_MAX; t++)
		assert_string_not_equal(wire_type_name(t), "unknown");
	assert_string_equal(wire_type_name(0), "unknown");
	assert_string_equal(wire_type_name(MSG_TYPE_MAX + 1), "unknown");
	assert_string_equal(wire_type_name(-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_le_helpers),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_header_flags),
		cmocka_unit_test(test_roundtrip_request),
		cmocka_unit_test(test_roundtrip_request_auth),
		cmocka_unit_test(test_roundtrip_preprepare),
		cmocka_unit_test(test_roundtrip_preprepare_auth),
		cmocka_unit_test(test_roundtrip_digest),
		cmocka_unit_test(test_roundtrip_checkpoint),
		cmocka_unit_test(test_roundtrip_reply),
		cmocka_unit_test(test_reply_digest_kind),
		cmocka_unit_test(test_roundtrip_empty_and_text),
		cmocka_unit_test(test_reject_header),
		cmocka_unit_test(test_reject_auth_len),
		cmocka_unit_test(test_reject_toobig_len),
		cmocka_unit_test(test_reject_body_limits),
		cmocka_unit_test(test_reject_batch),
		cmocka_unit_test(test_reject_embedded),
		cmocka_unit_test(test_reject_deep_nesting),
		cmocka_unit_test(test_reject_deep_vc_nesting),
		cmocka_unit_test(test_vc_nesting_allowed),
		cmocka_unit_test(test_newview_worst_case_fits),
		cmocka_unit_test(test_fetch_batch_state),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_buf_limits),
		cmocka_unit_test(test_encoder_overflow),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
