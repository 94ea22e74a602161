/* test_bench.c - bench's pure parts: the log-linear latency histogram, status and
 * /proc parsing (client/bench.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/bench.h"

static struct bench_hist h;

static void test_hist_buckets(void **state)
{
	(void)state;
	/* exact below BENCH_HIST_SUB, then contiguous, monotone buckets */
	for (uint64_t v = 0; v < BENCH_HIST_SUB; v++) {
		assert_int_equal(bench_hist_index(v), v);
		assert_int_equal(bench_hist_low(v), v);
		assert_int_equal(bench_hist_high(v), v);
	}
	for (size_t i = 1; i + 1 < BENCH_HIST_BUCKETS; i++) {
		assert_int_equal(bench_hist_low(i), bench_hist_high(i - 1) + 1);
		assert_int_equal(bench_hist_index(bench_hist_low(i)), i);
		assert_int_equal(bench_hist_index(bench_hist_high(i)), i);
		/* relative width <= 1/64 beyond the exact range */
		if (i >= BENCH_HIST_SUB)
			assert_true((bench_hist_high(i) - bench_hist_low(i) + 1) * 64 <=
				    bench_hist_low(i));
	}
	assert_int_equal(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
	assert_int_equal(bench_hist_high(BENCH_HIST_BUCKETS - 1), UINT64_MAX);
}

static void test_hist_percentiles(void **state)
{
	(void)state;
	bench_hist_reset(&h);
	assert_int_equal(bench_hist_pct(&h, 50), 0);
	for (uint64_t v = 1; v <= 100; v++)
		bench_hist_add(&h, v);
	assert_int_equal(h.n, 100);
	assert_int_equal(h.max, 100);
	assert_int_equal(h.sum, 5050);
	assert_int_equal(bench_hist_pct(&h, 50), 50);
	assert_int_equal(bench_hist_pct(&h, 99), 99);
	assert_int_equal(bench_hist_pct(&h, 100), 100);
	assert_int_equal(bench_hist_pct(&h, 0.001), 1);

	/* large values: within the bucket error, never above the maximum */
	bench_hist_reset(&h);
	for (uint64_t v = 1000; v < 1000000; v += 1000)
		bench_hist_add(&h, v);
	uint64_t p50 = bench_hist_pct(&h, 50), p999 = bench_hist_pct(&h, 99.9);
	assert_true(p50 >= 500000 && p50 <= 500000 + 500000 / 64);
	assert_true(p999 >= 998000 && p999 <= 999000);
	assert_int_equal(bench_hist_pct(&h, 100), 999000);
	/* one outlier moves the max and p100 only */
	bench_hist_add(&h, 5000000000ull);
	assert_int_equal(bench_hist_pct(&h, 100), 5000000000ull);
	assert_true(bench_hist_pct(&h, 50) <= 500000 + 500000 / 64);
}

static void test_status_parse(void **state)
{
	(void)state;
	struct bench_rstat r;
	const char *line =
		"{\"id\":2,\"protocol\":\"pbft\",\"view\":3,\"primary\":3,\"last_executed\":1280,"
		"\"stable_checkpoint\":1152,\"state_digest\":\"00ff10ab\",\"msgs_sent\":12345,"
		"\"bytes_sent\":999,\"msgs_recv\":1,\"bytes_recv\":2,\"sigs_made\":7,"
		"\"sigs_verified\":8,\"macs_made\":9,\"macs_verified\":10,\"rejected\":"
		"{\"bad_auth\":0},\"byz\":null,\"requests_executed\":5000,\"frames_sent\":77,"
		"\"pid\":4242}";
	assert_int_equal(bench_parse_status(line, &r), 0);
	assert_int_equal(r.id, 2);
	assert_true(r.up);
	assert_int_equal(r.view, 3);
	assert_int_equal(r.msgs_sent, 12345);
	assert_int_equal(r.bytes_sent, 999);
	assert_int_equal(r.sigs_made, 7);
	assert_int_equal(r.sigs_verified, 8);
	assert_int_equal(r.macs_made, 9);
	assert_int_equal(r.macs_verified, 10);
	assert_int_equal(r.frames_sent, 77);
	assert_int_equal(r.requests_executed, 5000);
	assert_int_equal(r.last_executed, 1280);
	assert_int_equal(r.stable_checkpoint, 1152);
	assert_int_equal(r.pid, 4242);
	assert_string_equal(r.digest, "00ff10ab");

	assert_int_equal(bench_parse_status("{\"id\":1,\"down\":true}", &r), 0);
	assert_int_equal(r.id, 1);
	assert_false(r.up);
	/* no id, an id out of range, junk numbers */
	assert_int_equal(bench_parse_status("{\"down\":true}", &r), -1);
	assert_int_equal(bench_parse_status("{\"id\":99}", &r), -1);
	assert_int_equal(bench_parse_status("{\"id\":-1}", &r), -1);
	assert_int_equal(bench_parse_status("{\"id\":0,\"msgs_sent\":\"x\"}", &r), 0);
	assert_int_equal(r.msgs_sent, 0);
}

/* A replica writes its status line: only its top-level members count.  With strstr,
 * a key inside a string or a nested object came first and was believed. */
static void test_status_parse_hostile(void **state)
{
	(void)state;
	struct bench_rstat r;
	const char *line = "{\"byz\":\"\\\"view\\\":9 \\\"id\\\":7\",\"robust\":{\"view\":8,"
			   "\"msgs_sent\":5},\"id\":1,\"view\":3,\"msgs_sent\":10}";
	assert_int_equal(bench_parse_status(line, &r), 0);
	assert_int_equal(r.id, 1);
	assert_int_equal(r.view, 3);
	assert_int_equal(r.msgs_sent, 10);
	/* a nested "down" is not ours; a member named twice is not believed */
	assert_int_equal(bench_parse_status("{\"id\":2,\"peer\":{\"down\":true}}", &r), 0);
	assert_true(r.up);
	assert_int_equal(bench_parse_status("{\"id\":2,\"id\":0}", &r), -1);
	/* a truncated line, trailing junk, a number too large, a non-hex digest */
	assert_int_equal(bench_parse_status("{\"id\":2,\"view\":3", &r), -1);
	assert_int_equal(bench_parse_status("{\"id\":2} x", &r), -1);
	assert_int_equal(bench_parse_status("{\"id\":0,\"view\":99999999999999999999}", &r), 0);
	assert_int_equal(r.view, 0);
	assert_int_equal(bench_parse_status("{\"id\":0,\"state_digest\":\"00zz\"}", &r), 0);
	assert_string_equal(r.digest, "");
}

static void test_proc_stat(void **state)
{
	(void)state;
	uint64_t t = 0;
	const char *s = "1234 (byzlab-replica) S 1 1234 1234 0 -1 4194560 500 0 0 0 "
			"250 75 0 0 20 0 5 0 100 1000 200";
	assert_int_equal(bench_parse_proc_stat(s, &t), 0);
	assert_int_equal(t, 325);
	/* a command name with spaces and parentheses */
	const char *s2 = "99 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0";
	assert_int_equal(bench_parse_proc_stat(s2, &t), 0);
	assert_int_equal(t, 10);
	assert_int_equal(bench_parse_proc_stat("12 (x) S 1 2", &t), -1);
	assert_int_equal(bench_parse_proc_stat("garbage", &t), -1);
	assert_int_equal(bench_parse_proc_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 x y", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets), cmocka_unit_test(test_hist_percentiles),
		cmocka_unit_test(test_status_parse), cmocka_unit_test(test_status_parse_hostile),
		cmocka_unit_test(test_proc_stat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
