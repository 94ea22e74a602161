/* test_exec.c - exactly-once execution and the client table (PBFT §4.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "replica/core/exec.h"

/* CORE_ASSERT must survive NDEBUG: include it as a release build would. */
#ifndef NDEBUG
#define NDEBUG
#define UNDEF_NDEBUG
#endif
#include "replica/core/assert.h"
#ifdef UNDEF_NDEBUG
#undef NDEBUG
#endif

#define CLUSTER 7
#define MAXCL 8

/* A decoded REQUEST; m points into raw, so keep them together. */
struct req {
	struct buf raw;
	struct msg m;
};

static void make_req(struct req *r, uint32_t client, uint64_t ts, const struct buf *op)
{
	buf_init(&r->raw);
	size_t at = wire_put_request(&r->raw, CLUSTER, client, ts, 0, op->p, (uint32_t)op->len);
	assert_int_equal(r->raw.err, 0);
	assert_int_equal(wire_decode(r->raw.p + at, r->raw.len - at, CLUSTER, &r->m), WIRE_OK);
	assert_int_equal(r->m.h.type, MSG_REQUEST);
}

static void free_req(struct req *r)
{
	buf_free(&r->raw);
}

/* Run op for (client, ts); returns the verdict, the result in res (if any). */
static int submit(struct exec_state *x, uint32_t client, uint64_t ts, const struct buf *op,
		  struct buf *res)
{
	struct req r;
	const uint8_t *p = NULL;
	uint32_t n = 0;

	make_req(&r, client, ts, op);
	int v = exec_request(x, &r.m, &p, &n);
	buf_reset(res);
	if (v != EXEC_STALE) {
		assert_non_null(p);
		buf_put(res, p, n);
	}
	free_req(&r);
	return v;
}

static void op_put(struct buf *op, const char *k, const char *v)
{
	buf_reset(op);
	assert_int_equal(kv_op_put(op, k, strlen(k), v, strlen(v)), 0);
}

static void op_get(struct buf *op, const char *k)
{
	buf_reset(op);
	assert_int_equal(kv_op_get(op, k, strlen(k)), 0);
}

static void op_cas(struct buf *op, const char *k, const char *old, const char *nw)
{
	buf_reset(op);
	assert_int_equal(kv_op_cas(op, k, strlen(k), old, strlen(old), nw, strlen(nw)), 0);
}

/* The value of k read straight from the KV (not through the client table). */
static int kv_value(struct exec_state *x, const char *k, char *out, size_t cap)
{
	struct buf op, res;
	buf_init(&op);
	buf_init(&res);
	op_get(&op, k);
	int st = kv_execute(x->kv, op.p, op.len, &res);
	assert_true(res.len - 1 < cap);
	memcpy(out, res.p + 1, res.len - 1);
	out[res.len - 1] = '\0';
	buf_free(&op);
	buf_free(&res);
	return st;
}

static void test_classify(void **state)
{
	(void)state;
	struct exec_state x;
	struct buf op, res;

	assert_int_equal(exec_init(&x, MAXCL, 0), 0);
	buf_init(&op);
	buf_init(&res);
	assert_int_equal(exec_classify(&x, 0, 1), EXEC_NEW);
	assert_int_equal(exec_classify(&x, MAXCL - 1, 1), EXEC_NEW);
	assert_int_equal(exec_classify(&x, 0, 0), EXEC_STALE);     /* 0 means "nothing" */
	assert_int_equal(exec_classify(&x, MAXCL, 1), EXEC_STALE); /* id out of range */
	assert_int_equal(exec_classify(&x, UINT32_MAX, 5), EXEC_STALE);

	op_put(&op, "k", "v");
	assert_int_equal(submit(&x, 3, 5, &op, &res), EXEC_NEW);
	assert_int_equal(exec_classify(&x, 3, 5), EXEC_CACHED);
	assert_int_equal(exec_classify(&x, 3, 4), EXEC_STALE);
	assert_int_equal(exec_classify(&x, 3, 1), EXEC_STALE);
	assert_int_equal(exec_classify(&x, 3, 6), EXEC_NEW);
	assert_int_equal(exec_classify(&x, 3, UINT64_MAX), EXEC_NEW);
	/* other clients are independent */
	assert_int_equal(exec_classify(&x, 2, 1), EXEC_NEW);
	assert_int_equal(exec_classify(&x, 4, 5), EXEC_NEW);

	buf_free(&op);
	buf_free(&res);
	exec_free(&x);
}

static void test_exactly_once(void **state)
{
	(void)state;
	struct exec_state x;
	struct buf op, res;
	char v[64];

	assert_int_equal(exec_init(&x, MAXCL, 0), 0);
	buf_init(&op);
	buf_init(&res);

	/* cas "" -> "a" succeeds once; a second execution would fail, so the
	 * cached success proves the request ran exactly once */
	op_cas(&op, "k", "", "a");
	assert_int_equal(submit(&x, 1, 10, &op, &res), EXEC_NEW);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], KV_OK);
	assert_int_equal(submit(&x, 1, 10, &op, &res), EXEC_CACHED);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], KV_OK);
	assert_int_equal(kv_value(&x, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "a");

	/* a retransmission carrying a different op is still answered from the cache
	 * (the op is not looked at) */
	op_put(&op, "k", "overwritten?");
	assert_int_equal(submit(&x, 1, 10, &op, &res), EXEC_CACHED);
	assert_int_equal(res.p[0], KV_OK);
	assert_int_equal(kv_value(&x, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "a");

	/* stale: not executed, no result */
	assert_int_equal(submit(&x, 1, 9, &op, &res), EXEC_STALE);
	assert_int_equal(res.len, 0);
	assert_int_equal(kv_value(&x, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "a");
	/* out-of-range client: not executed */
	assert_int_equal(submit(&x, MAXCL, 1, &op, &res), EXEC_STALE);
	assert_int_equal(kv_value(&x, "k", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "a");

	/* the same cas at a newer timestamp executes, and fails, and that is cached */
	op_cas(&op, "k", "", "a");
	assert_int_equal(submit(&x, 1, 11, &op, &res), EXEC_NEW);
	assert_int_equal(res.len, 2);
	assert_int_equal(res.p[0], KV_CAS_FAILED);
	assert_int_equal(res.p[1], 'a');
	assert_int_equal(submit(&x, 1, 11, &op, &res), EXEC_CACHED);
	assert_int_equal(res.len, 2);
	assert_int_equal(res.p[0], KV_CAS_FAILED);

	/* a get's value is cached too, and survives later changes to the key */
	op_get(&op, "k");
	assert_int_equal(submit(&x, 2, 1, &op, &res), EXEC_NEW);
	op_put(&op, "k", "b");
	assert_int_equal(submit(&x, 1, 12, &op, &res), EXEC_NEW);
	assert_int_equal(submit(&x, 2, 1, &op, &res), EXEC_CACHED);
	assert_int_equal(res.len, 2);
	assert_memory_equal(res.p, "\0a", 2);

	/* a malformed op is executed (as KV_BAD_OP) and cached like any other */
	buf_reset(&op);
	buf_put_u8(&op, 'X');
	assert_int_equal(submit(&x, 3, 1, &op, &res), EXEC_NEW);
	assert_int_equal(res.len, 1);
	assert_int_equal(res.p[0], KV_BAD_OP);

	buf_free(&op);
	buf_free(&res);
	exec_free(&x);
}

/* Fill a state with a few clients' history. */
static void populate(struct exec_state *x)
{
	struct buf op, res;
	char k[16];
	buf_init(&op);
	buf_init(&res);
	for (uint32_t c = 0; c < MAXCL; c += 2) {
		for (uint64_t ts = 1; ts <= 3; ts++) {
			snprintf(k, sizeof(k), "c%u-%u", c, (unsigned)ts);
			op_put(&op, k, "value");
			assert_int_equal(submit(x, c, ts * 100 + c, &op, &res), EXEC_NEW);
		}
	}
	op_get(&op, "c0-1");
	assert_int_equal(submit(x, 1, 42, &op, &res), EXEC_NEW); /* result: "\0value" */
	buf_free(&op);
	buf_free(&res);
}

static void test_snapshot_restore(void **state)
{
	(void)state;
	struct exec_state a, b;
	struct buf s, op, res;
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];

	assert_int_equal(exec_init(&a, MAXCL, 0), 0);
	assert_int_equal(exec_init(&b, MAXCL, 0), 0);
	buf_init(&s);
	buf_init(&op);
	buf_init(&res);
	populate(&a);
	/* b has unrelated history that the restore must wipe */
	op_put(&op, "junk", "x");
	assert_int_equal(submit(&b, 7, 1000, &op, &res), EXEC_NEW);

	exec_snapshot(&a, &s);
	assert_int_equal(s.err, 0);
	assert_int_equal(exec_restore(&b, s.p, s.len), 0);
	exec_digest(&a, da);
	exec_digest(&b, db);
	assert_memory_equal(da, db, sizeof(da));

	/* the client table came across: cached answers, stale and new verdicts */
	assert_int_equal(exec_classify(&b, 7, 1000), EXEC_NEW);
	assert_int_equal(exec_classify(&b, 7, 1), EXEC_NEW);
	assert_int_equal(exec_classify(&b, 2, 302), EXEC_CACHED);
	assert_int_equal(exec_classify(&b, 2, 202), EXEC_STALE);
	assert_int_equal(submit(&b, 1, 42, &op, &res), EXEC_CACHED);
	assert_int_equal(res.len, 6);
	assert_memory_equal(res.p, "\0value", 6);
	char v[16];
	assert_int_equal(kv_value(&b, "junk", v, sizeof(v)), KV_NOT_FOUND);
	assert_int_equal(kv_value(&b, "c6-3", v, sizeof(v)), KV_OK);

	/* both evolve identically afterwards */
	op_put(&op, "after", "1");
	assert_int_equal(submit(&a, 5, 1, &op, &res), EXEC_NEW);
	assert_int_equal(submit(&b, 5, 1, &op, &res), EXEC_NEW);
	exec_digest(&a, da);
	exec_digest(&b, db);
	assert_memory_equal(da, db, sizeof(da));

	buf_free(&s);
	buf_free(&op);
	buf_free(&res);
	exec_free(&a);
	exec_free(&b);
}

/* The digest covers the client table, not only the KV. */
static void test_digest_covers_table(void **state)
{
	(void)state;
	struct exec_state a, b;
	struct buf op, res;
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];

	assert_int_equal(exec_init(&a, MAXCL, 0), 0);
	assert_int_equal(exec_init(&b, MAXCL, 0), 0);
	buf_init(&op);
	buf_init(&res);
	op_get(&op, "nothing");
	assert_int_equal(submit(&a, 1, 1, &op, &res), EXEC_NEW); /* KV unchanged */
	exec_digest(&a, da);
	exec_digest(&b, db);
	assert_memory_not_equal(da, db, sizeof(da));
	assert_int_equal(submit(&b, 1, 2, &op, &res), EXEC_NEW); /* other timestamp */
	exec_digest(&b, db);
	assert_memory_not_equal(da, db, sizeof(da));
	buf_free(&op);
	buf_free(&res);
	exec_free(&a);
	exec_free(&b);
}

static void expect_restore_fails(struct exec_state *x, const uint8_t *p, size_t len)
{
	uint8_t d0[WIRE_DIGEST_LEN], d1[WIRE_DIGEST_LEN];
	exec_digest(x, d0);
	assert_int_equal(exec_restore(x, p, len), -1);
	exec_digest(x, d1);
	assert_memory_equal(d0, d1, sizeof(d0));
}

/* A snapshot with an empty KV and the given table entries. */
static void table_snapshot(struct buf *b, int n, const uint32_t *ids, const uint64_t *ts)
{
	buf_reset(b);
	buf_put_u32(b, 4);
	buf_put_u32(b, 0); /* empty KV snapshot: count 0 */
	buf_put_u32(b, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		buf_put_u32(b, ids[i]);
		buf_put_u64(b, ts[i]);
		buf_put_u32(b, 1);
		buf_put_u8(b, KV_OK);
	}
}

static void test_restore_rejects(void **state)
{
	(void)state;
	struct exec_state src, x;
	struct buf s, b;

	assert_int_equal(exec_init(&src, MAXCL, 0), 0);
	assert_int_equal(exec_init(&x, MAXCL, 0), 0);
	buf_init(&s);
	buf_init(&b);
	populate(&src);
	exec_snapshot(&src, &s);
	assert_int_equal(s.err, 0);
	{
		struct buf op, res;
		buf_init(&op);
		buf_init(&res);
		op_put(&op, "mine", "keep");
		assert_int_equal(submit(&x, 3, 3, &op, &res), EXEC_NEW);
		buf_free(&op);
		buf_free(&res);
	}

	expect_restore_fails(&x, NULL, 0);
	for (size_t n = 0; n < s.len; n++)
		expect_restore_fails(&x, s.p, n);
	buf_put_u8(&s, 0);
	expect_restore_fails(&x, s.p, s.len); /* trailing byte */
	s.len--;

	/* a well-formed table is accepted (checks the helper) */
	uint32_t ids[3] = {1, 4, 6};
	uint64_t ts[3] = {5, 6, 7};
	table_snapshot(&b, 3, ids, ts);
	struct exec_state y;
	assert_int_equal(exec_init(&y, MAXCL, 0), 0);
	assert_int_equal(exec_restore(&y, b.p, b.len), 0);
	assert_int_equal(exec_classify(&y, 4, 6), EXEC_CACHED);
	exec_free(&y);

	/* duplicate id */
	ids[1] = 1;
	table_snapshot(&b, 3, ids, ts);
	expect_restore_fails(&x, b.p, b.len);
	/* ids out of order */
	ids[0] = 4;
	ids[1] = 1;
	table_snapshot(&b, 3, ids, ts);
	expect_restore_fails(&x, b.p, b.len);
	/* id out of range */
	ids[0] = 1;
	ids[1] = 4;
	ids[2] = MAXCL;
	table_snapshot(&b, 3, ids, ts);
	expect_restore_fails(&x, b.p, b.len);
	/* timestamp 0 */
	ids[2] = 6;
	ts[1] = 0;
	table_snapshot(&b, 3, ids, ts);
	expect_restore_fails(&x, b.p, b.len);
	/* more entries than clients */
	table_snapshot(&b, 0, ids, ts);
	set_u32(b.p + 8, MAXCL + 1);
	expect_restore_fails(&x, b.p, b.len);
	/* corrupt KV part: count says 1, no entry */
	table_snapshot(&b, 0, ids, ts);
	set_u32(b.p + 4, 1);
	expect_restore_fails(&x, b.p, b.len);
	/* a result longer than any reply may carry */
	buf_reset(&b);
	buf_put_u32(&b, 4);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, 1);
	buf_put_u32(&b, 0);
	buf_put_u64(&b, 1);
	buf_put_u32(&b, WIRE_MAX_RESULT + 1);
	static uint8_t big[WIRE_MAX_RESULT + 1];
	buf_put(&b, big, sizeof(big));
	expect_restore_fails(&x, b.p, b.len);

	/* x still holds its own state */
	char v[16];
	assert_int_equal(kv_value(&x, "mine", v, sizeof(v)), KV_OK);
	assert_string_equal(v, "keep");
	assert_int_equal(exec_classify(&x, 3, 3), EXEC_CACHED);

	buf_free(&s);
	buf_free(&b);
	exec_free(&src);
	exec_free(&x);
}

/* A false CORE_ASSERT prints file:line and the condition, then aborts (SIGABRT), even
 * under NDEBUG; a true one does nothing.  Run in a child: cmocka 1.1 does not catch
 * SIGABRT, so an assertion failing inside a unit test kills the test binary. */
static void test_core_assert_aborts(void **state)
{
	(void)state;
	CORE_ASSERT(1 + 1 == 2);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		signal(SIGABRT, SIG_DFL);
		int two = 2;
		CORE_ASSERT(two == 3);
		_exit(0); /* not reached */
	}
	close(fds[1]);
	char msg[512] = {0};
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(msg) - 1 && (r = read(fds[0], msg + got, sizeof(msg) - 1 - got)) > 0)
		got += (size_t)r;
	close(fds[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(msg, "test_exec.c:"));
	assert_non_null(strstr(msg, "core assertion failed: two == 3"));
}

int main(void)
{
	if (crypto_setup())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),         cmocka_unit_test(test_exactly_once),
		cmocka_unit_test(test_snapshot_restore), cmocka_unit_test(test_digest_covers_table),
		cmocka_unit_test(test_restore_rejects),  cmocka_unit_test(test_core_assert_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
