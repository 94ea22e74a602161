/* test_faults.c - network and clock faults of a replica (replica/faults.c): parsing,
 * and what each fault does to the messages handed to it, with a fake clock and a
 * recording send function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replica/faults.h"

#define N 4

struct sent {
	uint32_t to[64];
	uint8_t tag[64];
	size_t n;
	size_t total;
};

static void record(void *arg, uint32_t to, const uint8_t *p, size_t len)
{
	struct sent *s = arg;
	assert_int_equal(len, 1);
	if (s->n < 64) {
		s->to[s->n] = to;
		s->tag[s->n] = p[0];
		s->n++;
	}
	s->total++;
}

struct fx {
	struct faults f;
	struct sent s;
};

static int setup(void **state)
{
	static struct fx fx;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(faults_init(&fx.f, N, 0, 7, 1000), 0);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	faults_free(&fx->f);
	return 0;
}

static void set(struct fx *fx, const char *spec, uint64_t now)
{
	char err[512];
	if (faults_set(&fx->f, spec, now, err, sizeof(err)) != 0)
		fail_msg("faults_set(%s): %s", spec, err);
}

/* Held messages are due on the us clock (faults.h); these tests think in ms. */
static void send1(struct fx *fx, uint32_t to, uint8_t tag, uint64_t now_ms)
{
	faults_send(&fx->f, to, &tag, 1, now_ms * 1000, record, &fx->s);
}

static void release(struct fx *fx, uint64_t now_ms)
{
	faults_release(&fx->f, now_ms * 1000, record, &fx->s);
}

static void test_parse(void **state)
{
	(void)state;
	struct faults_cfg c;
	char err[512];
	assert_int_equal(faults_parse("drop=0.1;drop.2=1;delay=50,tail=pareto;dup=0.5;"
				      "reorder=0.25;partition=0,1/2,3;oneway=3;clock_rate=1.5",
				      N, 0, &c, err, sizeof(err)),
			 0);
	assert_true(c.drop == 0.1 && c.drop_to[2] == 1 && c.drop_to[1] < 0);
	assert_int_equal(c.delay_ms, 50);
	assert_true(c.pareto);
	assert_true(c.dup == 0.5 && c.reorder == 0.25 && c.clock_rate == 1.5);
	assert_true(c.partitioned);
	assert_int_equal(c.group[0], 1);
	assert_int_equal(c.group[1], 1);
	assert_int_equal(c.group[2], 2);
	assert_int_equal(c.group[3], 2);
	assert_int_equal(c.deaf_to, 1u << 3);
	assert_int_equal(faults_parse("none", N, 0, &c, err, sizeof(err)), 0);
	assert_true(c.drop == 0 && c.clock_rate == 1.0 && !c.partitioned);
	assert_int_equal(faults_parse("", N, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(faults_parse("oneway=0,2", N, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(c.deaf_to, 1u << 2); /* never deaf to itself */
	assert_int_equal(faults_parse("delay=7", N, 0, &c, err, sizeof(err)), 0);
	assert_false(c.pareto);
	static const char *const bad[] = {"drop=1.5",
					  "drop=-0.1",
					  "drop=",
					  "drop=x",
					  "drop=0.1;drop=0.2",
					  "drop.4=0.5",
					  "drop.2=0.1;drop.2=0.1",
					  "bogus=1",
					  "drop",
					  "delay=50,tail=normal",
					  "delay=60001",
					  "delay=1.5",
					  "partition=0,1/1,2",
					  "partition=0,9",
					  "partition=0,",
					  "oneway=7",
					  "oneway=",
					  "clock_rate=0",
					  "clock_rate=101",
					  "dup=2",
					  "reorder=nan",
					  "drop= 0.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (faults_parse(bad[i], N, 0, &c, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(faults_parse("bogus=1", N, 0, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
}

static void test_no_faults_sends_at_once(void **state)
{
	struct fx *fx = *state;
	send1(fx, 1, 'a', 1000);
	send1(fx, 0, 'x', 1000); /* ourselves: nothing */
	send1(fx, 9, 'x', 1000); /* no such replica */
	assert_int_equal(fx->s.n, 1);
	assert_int_equal(fx->s.to[0], 1);
	assert_int_equal(faults_next_due_us(&fx->f), 0);
}

static void test_drop(void **state)
{
	struct fx *fx = *state;
	set(fx, "drop=0;drop.2=1", 1000);
	for (int i = 0; i < 10; i++) {
		send1(fx, 1, 'a', 1000);
		send1(fx, 2, 'b', 1000);
	}
	assert_int_equal(fx->s.total, 10);
	assert_int_equal(fx->f.st.dropped, 10);
	set(fx, "drop=0.5", 1000);
	fx->s.total = 0;
	for (int i = 0; i < 1000; i++)
		send1(fx, 3, 'c', 1000);
	assert_in_range(fx->s.total, 400, 600);
}

static void test_delay_fifo(void **state)
{
	struct fx *fx = *state;
	set(fx, "delay=50", 1000);
	send1(fx, 1, 'a', 1000);
	send1(fx, 1, 'b', 1010);
	send1(fx, 2, 'c', 1010);
	assert_int_equal(fx->s.n, 0);
	assert_int_equal(faults_next_due_us(&fx->f), 1050000);
	assert_int_equal(fx->f.st.delayed, 3);
	release(fx, 1049);
	assert_int_equal(fx->s.n, 0);
	release(fx, 1050);
	assert_int_equal(fx->s.n, 1);
	release(fx, 1060);
	assert_int_equal(fx->s.n, 3);
	assert_memory_equal(fx->s.tag, "abc", 3);
	assert_int_equal(faults_next_due_us(&fx->f), 0);
	/* back to no delay: what is still held on a link keeps its place */
	set(fx, "delay=100", 2000);
	send1(fx, 1, 'd', 2000);
	set(fx, "none", 2000);
	send1(fx, 1, 'e', 2001);
	send1(fx, 2, 'f', 2001); /* another link: at once */
	assert_int_equal(fx->s.n, 4);
	assert_int_equal(fx->s.tag[3], 'f');
	release(fx, 2100);
	assert_int_equal(fx->s.n, 6);
	assert_memory_equal(fx->s.tag + 4, "de", 2);
}

static void test_pareto_tail(void **state)
{
	struct fx *fx = *state;
	set(fx, "delay=10,tail=pareto", 1000);
	uint32_t above5 = 0, max = 0;
	for (int i = 0; i < 10000; i++) {
		send1(fx, 1, 't', 1000);
		uint64_t due = faults_next_due_us(&fx->f) / 1000;
		assert_true(due >= 1010); /* at least MS */
		uint32_t d = (uint32_t)(due - 1000);
		above5 += d > 50;
		if (d > max)
			max = d;
		faults_release(&fx->f, UINT64_MAX, record, &fx->s);
		fx->f.last_due[1] = 0; /* each sample on its own */
	}
	/* P(X > 5) = 5^-1.5 = 8.9 % */
	assert_in_range(above5, 600, 1200);
	assert_true(max > 200);                  /* a heavy tail ... */
	assert_true(max <= FAULTS_DELAY_CAP_MS); /* ... with an end */
}

static void test_dup_and_reorder(void **state)
{
	struct fx *fx = *state;
	set(fx, "dup=1", 1000);
	send1(fx, 1, 'a', 1000);
	assert_int_equal(fx->s.n, 2);
	assert_int_equal(fx->f.st.duplicated, 1);
	set(fx, "reorder=1", 1000);
	send1(fx, 1, 'b', 1000);
	assert_int_equal(fx->s.n, 2); /* held back */
	set(fx, "none", 1000);
	send1(fx, 1, 'c', 1000); /* overtakes it */
	assert_int_equal(fx->s.n, 3);
	assert_int_equal(fx->s.tag[2], 'c');
	uint64_t due = faults_next_due_us(&fx->f);
	assert_in_range(due, 1001000, (1000 + FAULTS_REORDER_MS) * 1000);
	faults_release(&fx->f, due, record, &fx->s);
	assert_int_equal(fx->s.tag[3], 'b');
	assert_int_equal(fx->f.st.reordered, 1);
}

static void test_partition_and_oneway(void **state)
{
	struct fx *fx = *state;
	set(fx, "partition=0,1/2", 1000);
	send1(fx, 1, 'a', 1000);
	send1(fx, 2, 'b', 1000);
	send1(fx, 3, 'c', 1000); /* in no group */
	assert_int_equal(fx->s.n, 1);
	assert_int_equal(fx->s.to[0], 1);
	assert_true(faults_hears(&fx->f, 1));
	assert_false(faults_hears(&fx->f, 2));
	assert_false(faults_hears(&fx->f, 3));
	assert_int_equal(fx->f.st.partitioned, 4);
	set(fx, "oneway=2", 1000);
	send1(fx, 2, 'd', 1000); /* we still speak to it ... */
	assert_int_equal(fx->s.n, 2);
	assert_false(faults_hears(&fx->f, 2)); /* ... but do not hear it */
	assert_true(faults_hears(&fx->f, 3));
	assert_int_equal(fx->f.st.deaf, 1);
	assert_true(faults_hears(&fx->f, 77)); /* not a replica: for the edge to judge */
}

static void test_clock_rate(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(faults_core_ms(&fx->f, 1500), 1500);
	set(fx, "clock_rate=2", 2000);
	assert_int_equal(faults_core_ms(&fx->f, 2000), 2000); /* continuous */
	assert_int_equal(faults_core_ms(&fx->f, 2100), 2200);
	assert_int_equal(faults_real_wait_ms(&fx->f, 100), 50);
	set(fx, "clock_rate=0.5", 3000); /* core is at 4000 */
	assert_int_equal(faults_core_ms(&fx->f, 3000), 4000);
	assert_int_equal(faults_core_ms(&fx->f, 3100), 4050);
	assert_int_equal(faults_real_wait_ms(&fx->f, 100), 200);
	set(fx, "none", 3200);
	assert_int_equal(faults_core_ms(&fx->f, 3300), 4200);
}

static void test_bounded_queue(void **state)
{
	struct fx *fx = *state;
	set(fx, "delay=1000", 1000);
	for (int i = 0; i < FAULTS_HELD_MAX + 5; i++)
		send1(fx, 1 + (uint32_t)i % 3, 'q', 1000);
	assert_int_equal(fx->f.n_held, FAULTS_HELD_MAX);
	assert_int_equal(fx->f.st.queue_full, 5);
	release(fx, 2000);
	assert_int_equal(fx->s.total, FAULTS_HELD_MAX);
	assert_int_equal(fx->f.held_bytes, 0);
}

static void test_json(void **state)
{
	struct fx *fx = *state;
	set(fx, "drop=1;delay=5", 1000);
	send1(fx, 1, 'a', 1000);
	char out[1024];
	int len = faults_json(&fx->f, out, sizeof(out));
	assert_true(len > 0);
	assert_non_null(strstr(out, "\"faults\":{\"spec\":\"drop=1;delay=5\",\"dropped\":1,"));
	assert_non_null(strstr(out, "\"clock_rate\":1,\"paused\":0,\"late_replies\":0}"));
	assert_int_equal(faults_json(&fx->f, out, 20), -1);
	char err[256];
	assert_int_equal(faults_set(&fx->f, "drop=7", 1000, err, sizeof(err)), -1);
	assert_string_equal(fx->f.spec, "drop=1;delay=5"); /* a refused one changes nothing */
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		T(test_no_faults_sends_at_once),
		T(test_drop),
		T(test_delay_fifo),
		T(test_pareto_tail),
		T(test_dup_and_reorder),
		T(test_partition_and_oneway),
		T(test_clock_rate),
		T(test_bounded_queue),
		T(test_json),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
