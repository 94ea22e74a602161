/* test_kv.c - the KV state machine: op semantics, limits, digests, snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "replica/kv.h"

/* ---- helpers ---- */

/* Execute a built op; the result replaces res. */
static int run(struct kv *kv, const struct buf *op, struct buf *res)
{
	buf_reset(res);
	return kv_execute(kv, op->p, op->len, res);
}

static int do_put(struct kv *kv, const char *k, const char *v)
{
	struct buf op, res;
	buf_init(&op);
	buf_init(&res);
	assert_int_equal(kv_op_put(&op, k, strlen(k), v, strlen(v)), 0);
	int st = run(kv, &op, &res);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], st);
	buf_free(&op);
	buf_free(&res);
	return st;
}

/* get k; returns status, copies the value (NUL-terminated) into val. */
static int do_get(struct kv *kv, const char *k, char *val, size_t cap)
{
	struct buf op, res;
	buf_init(&op);
	buf_init(&res);
	assert_int_equal(kv_op_get(&op, k, strlen(k)), 0);
	int st = run(kv, &op, &res);
	assert_true(res.len >= 1);
	assert_int_equal(res.p[0], st);
	assert_true(res.len - 1 < cap);
	memcpy(val, res.p + 1, res.len - 1);
	val[res.len - 1] = '\0';
	if (st != KV_OK)
		assert_int_equal(res.len, 1);
	buf_free(&op);
	buf_free(&res);
	return st;
}

static int do_del(struct kv *kv, const char *k)
{
	struct buf op, res;
	buf_init(&op);
	buf_init(&res);
	assert_int_equal(kv_op_del(&op, k, strlen(k)), 0);
	int st = run(kv, &op, &res);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], st);
	buf_free(&op);
	buf_free(&res);
	return st;
}

/* cas; on failure the current value lands in cur. */
static int do_cas(struct kv *kv, const char *k, const char *old, const char *nw, char *cur,
		  size_t cap)
{
	struct buf op, res;
	buf_init(&op);
	buf_init(&res);
	assert_int_equal(kv_op_cas(&op, k, strlen(k), old, strlen(old), nw, strlen(nw)), 0);
	int st = run(kv, &op, &res);
	assert_int_equal(res.p[0], st);
	assert_true(res.len - 1 < cap);
	memcpy(cur, res.p + 1, res.len - 1);
	cur[res.len - 1] = '\0';
	if (st != KV_CAS_FAILED)
		assert_int_equal(res.len, 1);
	buf_free(&op);
	buf_free(&res);
	return st;
}

static void snap(const struct kv *kv, struct buf *b)
{
	buf_init(b);
	kv_snapshot(kv, b);
	assert_int_equal(b->err, 0);
}

/* ---- tests ---- */

static void test_put_get_del(void **state)
{
	(void)state;
	struct kv *kv = kv_new(0);
	char v[64];

	assert_non_null(kv);
	assert_int_equal(do_get(kv, "a", v, sizeof(v)), KV_NOT_FOUND);
	assert_int_equal(do_put(kv, "a", "1"), KV_OK);
	assert_int_equal(do_put(kv, "b", ""), KV_OK);
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(do_get(kv, "a", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "1");
	assert_int_equal(do_get(kv, "b", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "");

	assert_int_equal(do_put(kv, "a", "two"), KV_OK); /* overwrite */
	assert_int_equal(kv_count(kv), 2);
	assert_int_equal(do_get(kv, "a", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "two");

	assert_int_equal(do_del(kv, "a"), KV_OK);
	assert_int_equal(do_get(kv, "a", v, sizeof(v)), KV_NOT_FOUND);
	assert_int_equal(do_del(kv, "a"), KV_NOT_FOUND);
	assert_int_equal(kv_count(kv), 1);

	/* the empty key is a key like any other */
	assert_int_equal(do_put(kv, "", "e"), KV_OK);
	assert_int_equal(do_get(kv, "", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "e");

	kv_clear(kv);
	assert_int_equal(kv_count(kv), 0);
	assert_int_equal(do_get(kv, "b", v, sizeof(v)), KV_NOT_FOUND);
	kv_free(kv);
}

static void test_cas(void **state)
{
	(void)state;
	struct kv *kv = kv_new(0);
	char v[64];

	assert_int_equal(do_put(kv, "k", "a"), KV_OK);
	assert_int_equal(do_cas(kv, "k", "a", "b", v, sizeof(v)), KV_OK);
	assert_int_equal(do_get(kv, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "b");

	/* failure: returns the current value, changes nothing */
	assert_int_equal(do_cas(kv, "k", "a", "c", v, sizeof(v)), KV_CAS_FAILED);
	assert_string_equal(v, "b");
	assert_int_equal(do_cas(kv, "k", "", "c", v, sizeof(v)), KV_CAS_FAILED);
	assert_string_equal(v, "b");
	assert_int_equal(do_cas(kv, "k", "bb", "c", v, sizeof(v)), KV_CAS_FAILED);
	assert_int_equal(do_get(kv, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "b");

	/* absent key: equal to the empty value */
	assert_int_equal(do_cas(kv, "new", "x", "y", v, sizeof(v)), KV_CAS_FAILED);
	assert_string_equal(v, "");
	assert_int_equal(do_get(kv, "new", v, sizeof(v)), KV_NOT_FOUND);
	assert_int_equal(do_cas(kv, "new", "", "y", v, sizeof(v)), KV_OK);
	assert_int_equal(do_get(kv, "new", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "y");
	assert_int_equal(kv_count(kv), 2);
	kv_free(kv);
}

static void test_null_op(void **state)
{
	(void)state;
	struct kv *kv = kv_new(0);
	struct buf op, res;
	uint8_t d0[WIRE_DIGEST_LEN], d1[WIRE_DIGEST_LEN];

	buf_init(&op);
	buf_init(&res);
	do_put(kv, "x", "y");
	kv_digest(kv, d0);
	assert_int_equal(kv_op_null(&op, 100), 0);
	assert_int_equal(op.len, 101);
	assert_int_equal(op.p[0], 'N');
	assert_int_equal(run(kv, &op, &res), KV_OK);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], KV_OK);
	kv_digest(kv, d1);
	assert_memory_equal(d0, d1, sizeof(d0));
	assert_false(kv_op_is_readonly(op.p, op.len));
	buf_reset(&op);
	assert_int_equal(kv_op_null(&op, WIRE_MAX_OP), -1);
	buf_free(&op);
	buf_free(&res);
	kv_free(kv);
}

/* Exact byte layout from kv.h. */
static void test_encoding(void **state)
{
	(void)state;
	struct buf b;
	static const uint8_t put[] = {'P', 3, 0, 'a', 'b', 'c', 2, 0, 0, 0, 'x', 'y'};
	static const uint8_t get[] = {'G', 1, 0, 'k'};
	static const uint8_t del[] = {'D', 1, 0, 'k'};
	static const uint8_t cas[] = {'C', 1, 0, 'k', 1, 0, 0, 0, 'o', 2, 0, 0, 0, 'n', 'w'};

	buf_init(&b);
	assert_int_equal(kv_op_put(&b, "abc", 3, "xy", 2), 0);
	assert_int_equal(b.len, sizeof(put));
	assert_memory_equal(b.p, put, sizeof(put));
	buf_reset(&b);
	assert_int_equal(kv_op_get(&b, "k", 1), 0);
	assert_int_equal(b.len, sizeof(get));
	assert_memory_equal(b.p, get, sizeof(get));
	buf_reset(&b);
	assert_int_equal(kv_op_del(&b, "k", 1), 0);
	assert_int_equal(b.len, sizeof(del));
	assert_memory_equal(b.p, del, sizeof(del));
	buf_reset(&b);
	assert_int_equal(kv_op_cas(&b, "k", 1, "o", 1, "nw", 2), 0);
	assert_int_equal(b.len, sizeof(cas));
	assert_memory_equal(b.p, cas, sizeof(cas));

	/* hand-made bytes execute as documented */
	struct kv *kv = kv_new(0);
	struct buf res;
	buf_init(&res);
	assert_int_equal(kv_execute(kv, put, sizeof(put), &res), KV_OK);
	buf_reset(&res);
	static const uint8_t get_abc[] = {'G', 3, 0, 'a', 'b', 'c'};
	assert_int_equal(kv_execute(kv, get_abc, sizeof(get_abc), &res), KV_OK);
	assert_int_equal(res.len, 3);
	assert_memory_equal(res.p, "\0xy", 3);

	assert_true(kv_op_is_readonly(get, sizeof(get)));
	assert_false(kv_op_is_readonly(put, sizeof(put)));
	assert_false(kv_op_is_readonly(del, sizeof(del)));
	assert_false(kv_op_is_readonly(cas, sizeof(cas)));
	buf_free(&res);
	buf_free(&b);
	kv_free(kv);
}

static void test_builder_limits(void **state)
{
	(void)state;
	static uint8_t big[2 * WIRE_MAX_OP];
	struct buf b;

	buf_init(&b);
	assert_int_equal(kv_op_get(&b, big, KV_MAX_KEY), 0);
	assert_int_equal(kv_op_get(&b, big, KV_MAX_KEY + 1), -1);
	assert_int_equal(kv_op_del(&b, big, KV_MAX_KEY + 1), -1);
	assert_int_equal(kv_op_put(&b, big, KV_MAX_KEY + 1, "v", 1), -1);
	assert_int_equal(kv_op_put(&b, "k", 1, big, KV_MAX_VAL), 0);
	assert_int_equal(kv_op_put(&b, "k", 1, big, KV_MAX_VAL + 1), -1);
	/* each field within limits, but the op would not fit in one request */
	assert_int_equal(kv_op_put(&b, big, KV_MAX_KEY, big, KV_MAX_VAL), -1);
	assert_int_equal(kv_op_cas(&b, "k", 1, big, KV_MAX_VAL + 1, "n", 1), -1);
	assert_int_equal(kv_op_cas(&b, "k", 1, "o", 1, big, KV_MAX_VAL + 1), -1);
	assert_int_equal(kv_op_cas(&b, "k", 1, big, 5000, big, 5000), -1);
	assert_int_equal(kv_op_cas(&b, big, KV_MAX_KEY + 1, "o", 1, "n", 1), -1);
	buf_free(&b);
}

/* Every malformed op is KV_BAD_OP (result: that one byte) and changes nothing. */
static void expect_bad(struct kv *kv, const uint8_t *op, size_t len)
{
	uint8_t d0[WIRE_DIGEST_LEN], d1[WIRE_DIGEST_LEN];
	struct buf res;
	size_t n0 = kv_count(kv);

	buf_init(&res);
	kv_digest(kv, d0);
	assert_int_equal(kv_execute(kv, op, len, &res), KV_BAD_OP);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], KV_BAD_OP);
	kv_digest(kv, d1);
	assert_memory_equal(d0, d1, sizeof(d0));
	assert_int_equal(kv_count(kv), n0);
	assert_true(kv_op_is_readonly(op, len));
	buf_free(&res);
}

static void test_bad_ops(void **state)
{
	(void)state;
	struct kv *kv = kv_new(0);
	struct buf op;
	static uint8_t big[KV_MAX_VAL + 64];

	do_put(kv, "k", "v");
	buf_init(&op);

	expect_bad(kv, NULL, 0);
	expect_bad(kv, (const uint8_t *)"", 0);
	expect_bad(kv, (const uint8_t *)"X", 1);
	expect_bad(kv, (const uint8_t *)"p\1\0kv", 5);

	/* every strict prefix of each well-formed op is malformed */
	assert_int_equal(kv_op_put(&op, "k", 1, "zz", 2), 0);
	for (size_t n = 0; n < op.len; n++)
		expect_bad(kv, op.p, n);
	buf_reset(&op);
	assert_int_equal(kv_op_cas(&op, "k", 1, "v", 1, "w", 1), 0);
	for (size_t n = 0; n < op.len; n++)
		expect_bad(kv, op.p, n);
	buf_reset(&op);
	assert_int_equal(kv_op_del(&op, "k", 1), 0);
	for (size_t n = 0; n < op.len; n++)
		expect_bad(kv, op.p, n);
	/* trailing garbage */
	buf_put_u8(&op, 0);
	expect_bad(kv, op.p, op.len);

	/* oversized key: length field and bytes both present */
	buf_reset(&op);
	buf_put_u8(&op, 'D');
	buf_put_u16(&op, KV_MAX_KEY + 1);
	buf_put(&op, big, KV_MAX_KEY + 1);
	expect_bad(kv, op.p, op.len);
	/* oversized value */
	buf_reset(&op);
	buf_put_u8(&op, 'P');
	buf_put_u16(&op, 1);
	buf_put_u8(&op, 'k');
	buf_put_u32(&op, KV_MAX_VAL + 1);
	buf_put(&op, big, KV_MAX_VAL + 1);
	expect_bad(kv, op.p, op.len);
	/* a length that claims more than is there */
	buf_reset(&op);
	buf_put_u8(&op, 'P');
	buf_put_u16(&op, 1);
	buf_put_u8(&op, 'k');
	buf_put_u32(&op, 0xffffffffu);
	buf_put_u8(&op, 'v');
	expect_bad(kv, op.p, op.len);

	char v[8];
	assert_int_equal(do_get(kv, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "v");
	buf_free(&op);
	kv_free(kv);
}

static void test_full(void **state)
{
	(void)state;
	struct kv *kv = kv_new(100 + KV_ENTRY_OVERHEAD); /* one entry of 100 bytes */
	char v[128], val[128];
	uint8_t d0[WIRE_DIGEST_LEN], d1[WIRE_DIGEST_LEN];

	memset(val, 'v', sizeof(val));
	val[80] = '\0';
	assert_int_equal(do_put(kv, "0123456789", val), KV_OK); /* 90 bytes */
	kv_digest(kv, d0);
	assert_int_equal(do_put(kv, "k", "0123456789"),
			 KV_FULL); /* 90 + 11, plus the overhead of a second entry */
	assert_int_equal(do_get(kv, "k", v, sizeof(v)), KV_NOT_FOUND);
	assert_int_equal(do_cas(kv, "k", "", "0123456789", v, sizeof(v)), KV_FULL);
	assert_int_equal(do_get(kv, "k", v, sizeof(v)), KV_NOT_FOUND);
	kv_digest(kv, d1);
	assert_memory_equal(d0, d1, sizeof(d0));
	assert_int_equal(kv_count(kv), 1);

	/* overwriting counts the old value as freed: exactly at the limit is fine */
	val[80] = 'v';
	val[90] = '\0';
	assert_int_equal(do_put(kv, "0123456789", val), KV_OK); /* 100 bytes */
	val[90] = 'v';
	val[91] = '\0';
	assert_int_equal(do_put(kv, "0123456789", val), KV_FULL);
	assert_int_equal(do_get(kv, "0123456789", v, sizeof(v)), KV_OK);
	assert_int_equal(strlen(v), 90);

	/* deleting frees room */
	assert_int_equal(do_del(kv, "0123456789"), KV_OK);
	assert_int_equal(do_put(kv, "k", "0123456789"), KV_OK);
	kv_free(kv);
}

static void fill(struct kv *kv, int n, int reverse)
{
	char k[32], v[32];
	for (int i = 0; i < n; i++) {
		int j = reverse ? n - 1 - i : i;
		snprintf(k, sizeof(k), "key-%d", j);
		snprintf(v, sizeof(v), "val-%d", j * 7);
		assert_int_equal(do_put(kv, k, v), KV_OK);
	}
}

static void test_digest_order_independent(void **state)
{
	(void)state;
	struct kv *a = kv_new(0), *b = kv_new(0);
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN], de[WIRE_DIGEST_LEN];
	struct buf sa, sb;

	kv_digest(a, de); /* empty */
	fill(a, 500, 0);
	/* b gets there by a different path: reverse order, junk added and removed,
	 * values overwritten */
	do_put(b, "junk", "x");
	do_put(b, "key-3", "old");
	fill(b, 500, 1);
	do_del(b, "junk");
	kv_digest(a, da);
	kv_digest(b, db);
	assert_memory_equal(da, db, sizeof(da));
	assert_memory_not_equal(da, de, sizeof(da));
	snap(a, &sa);
	snap(b, &sb);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);

	/* the digest is BLAKE2b-256 of the snapshot bytes */
	uint8_t ds[WIRE_DIGEST_LEN];
	crypto_digest(sa.p, sa.len, ds);
	assert_memory_equal(ds, da, sizeof(ds));

	/* any difference shows */
	do_put(b, "key-499", "val-3492");
	kv_digest(b, db);
	assert_memory_not_equal(da, db, sizeof(da));
	do_put(b, "key-499", "val-3493");
	kv_digest(b, db);
	assert_memory_equal(da, db, sizeof(da));
	do_put(b, "extra", "");
	kv_digest(b, db);
	assert_memory_not_equal(da, db, sizeof(da));

	buf_free(&sa);
	buf_free(&sb);
	kv_free(a);
	kv_free(b);
}

/* Framing: {a: bc} and {ab: c} hold the same bytes but are different states. */
static void test_digest_framing(void **state)
{
	(void)state;
	struct kv *a = kv_new(0), *b = kv_new(0);
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];

	do_put(a, "a", "bc");
	do_put(b, "ab", "c");
	kv_digest(a, da);
	kv_digest(b, db);
	assert_memory_not_equal(da, db, sizeof(da));
	kv_free(a);
	kv_free(b);
}

static void test_snapshot_sorted(void **state)
{
	(void)state;
	struct kv *kv = kv_new(0);
	struct buf s;
	do_put(kv, "b", "2");
	do_put(kv, "ab", "1");
	do_put(kv, "a", "0");
	snap(kv, &s);
	static const uint8_t want[] = {
		3,   0, 0, 0, 1, 0,   'a', 1, 0,   0, 0, '0', 2, 0,   'a',
		'b', 1, 0, 0, 0, '1', 1,   0, 'b', 1, 0, 0,   0, '2',
	};
	assert_int_equal(s.len, sizeof(want));
	assert_memory_equal(s.p, want, sizeof(want));
	buf_free(&s);
	kv_free(kv);
}

static void test_snapshot_restore(void **state)
{
	(void)state;
	struct kv *a = kv_new(0), *b = kv_new(0);
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];
	struct buf s;
	char v[64];

	fill(a, 3000, 0);
	do_put(a, "", "empty key");
	do_put(a, "empty value", "");
	do_put(b, "stale", "gone after restore");
	snap(a, &s);
	assert_int_equal(kv_restore(b, s.p, s.len), 0);
	kv_digest(a, da);
	kv_digest(b, db);
	assert_memory_equal(da, db, sizeof(da));
	assert_int_equal(kv_count(b), kv_count(a));
	assert_int_equal(do_get(b, "stale", v, sizeof(v)), KV_NOT_FOUND);
	assert_int_equal(do_get(b, "key-1234", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "val-8638");
	assert_int_equal(do_get(b, "", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "empty key");
	/* the restored state is a working state */
	assert_int_equal(do_del(b, "key-0"), KV_OK);
	assert_int_equal(kv_count(b), kv_count(a) - 1);

	/* an empty snapshot restores an empty state */
	struct kv *e = kv_new(0);
	struct buf se;
	snap(e, &se);
	assert_int_equal(se.len, 4);
	assert_int_equal(kv_restore(b, se.p, se.len), 0);
	assert_int_equal(kv_count(b), 0);

	buf_free(&se);
	buf_free(&s);
	kv_free(e);
	kv_free(a);
	kv_free(b);
}

static void expect_restore_fails(struct kv *kv, const uint8_t *p, size_t len)
{
	uint8_t d0[WIRE_DIGEST_LEN], d1[WIRE_DIGEST_LEN];
	size_t n0 = kv_count(kv);
	kv_digest(kv, d0);
	assert_int_equal(kv_restore(kv, p, len), -1);
	kv_digest(kv, d1);
	assert_memory_equal(d0, d1, sizeof(d0));
	assert_int_equal(kv_count(kv), n0);
}

/* Append one snapshot entry. */
static void ent(struct buf *b, const char *k, const char *v)
{
	buf_put_u16(b, (uint16_t)strlen(k));
	buf_put(b, k, strlen(k));
	buf_put_u32(b, (uint32_t)strlen(v));
	buf_put(b, v, strlen(v));
}

static void test_restore_rejects(void **state)
{
	(void)state;
	struct kv *src = kv_new(0), *kv = kv_new(0);
	struct buf s, b;
	static uint8_t big[KV_MAX_VAL + 2];

	do_put(src, "a", "1");
	do_put(src, "bb", "22");
	do_put(src, "ccc", "333");
	snap(src, &s);
	do_put(kv, "mine", "keep me");

	expect_restore_fails(kv, NULL, 0);
	for (size_t n = 0; n < s.len; n++)
		expect_restore_fails(kv, s.p, n);
	/* trailing byte */
	buf_put_u8(&s, 0);
	expect_restore_fails(kv, s.p, s.len);
	s.len--;
	/* count too high / too low */
	set_u32(s.p, 4);
	expect_restore_fails(kv, s.p, s.len);
	set_u32(s.p, 2);
	expect_restore_fails(kv, s.p, s.len);
	set_u32(s.p, 0xffffffffu);
	expect_restore_fails(kv, s.p, s.len);
	set_u32(s.p, 3);
	assert_int_equal(kv_restore(kv, s.p, s.len), 0); /* intact copy still fine */
	assert_int_equal(kv_count(kv), 3);
	do_put(kv, "mine", "keep me");

	/* duplicate key */
	buf_init(&b);
	buf_put_u32(&b, 2);
	ent(&b, "a", "1");
	ent(&b, "a", "2");
	expect_restore_fails(kv, b.p, b.len);
	/* unsorted keys (also prefix order: "ab" must come after "a") */
	buf_reset(&b);
	buf_put_u32(&b, 2);
	ent(&b, "b", "1");
	ent(&b, "a", "2");
	expect_restore_fails(kv, b.p, b.len);
	buf_reset(&b);
	buf_put_u32(&b, 2);
	ent(&b, "ab", "1");
	ent(&b, "a", "2");
	expect_restore_fails(kv, b.p, b.len);
	/* oversized key and value */
	buf_reset(&b);
	buf_put_u32(&b, 1);
	buf_put_u16(&b, KV_MAX_KEY + 1);
	buf_put(&b, big, KV_MAX_KEY + 1);
	buf_put_u32(&b, 0);
	expect_restore_fails(kv, b.p, b.len);
	buf_reset(&b);
	buf_put_u32(&b, 1);
	ent(&b, "k", "");
	b.len -= 4;
	buf_put_u32(&b, KV_MAX_VAL + 1);
	buf_put(&b, big, KV_MAX_VAL + 1);
	expect_restore_fails(kv, b.p, b.len);
	/* more than this store may hold */
	struct kv *small = kv_new(5);
	do_put(small, "s", "1");
	expect_restore_fails(small, s.p, s.len); /* 12 bytes > 5 */

	char v[16];
	assert_int_equal(do_get(kv, "mine", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "keep me");
	buf_free(&b);
	buf_free(&s);
	kv_free(small);
	kv_free(src);
	kv_free(kv);
}

/* Many keys: growth of the table keeps every key reachable. */
static void test_many_keys(void **state)
{
	(void)state;
	struct kv *kv = kv_new(0);
	char k[32], v[32];

	fill(kv, 20000, 0);
	assert_int_equal(kv_count(kv), 20000);
	for (int i = 0; i < 20000; i += 2) {
		snprintf(k, sizeof(k), "key-%d", i);
		assert_int_equal(do_del(kv, k), KV_OK);
	}
	assert_int_equal(kv_count(kv), 10000);
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		int st = do_get(kv, k, v, sizeof(v));
		assert_int_equal(st, i % 2 ? KV_OK : KV_NOT_FOUND);
	}
	kv_free(kv);
}

int main(void)
{
	if (crypto_setup())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_null_op),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_builder_limits),
		cmocka_unit_test(test_bad_ops),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_digest_order_independent),
		cmocka_unit_test(test_digest_framing),
		cmocka_unit_test(test_snapshot_sorted),
		cmocka_unit_test(test_snapshot_restore),
		cmocka_unit_test(test_restore_rejects),
		cmocka_unit_test(test_many_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
