/* test_rr.c - the round-robin scheduler of peer input (replica/rr.h, issue 16 item 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replica/rr.h"

static struct rr s; /* large: not on the stack */

/* A flooding source with its queue full and two quiet ones with one item each: the
 * quiet ones are served within the first three pops, not after the flood. */
static void test_flooder_does_not_starve_others(void **state)
{
	(void)state;
	static int flood[RR_QUEUE_ITEMS], a, b;
	rr_init(&s);
	for (int i = 0; i < RR_QUEUE_ITEMS; i++)
		assert_int_equal(rr_push(&s, 7, &flood[i], 100), 0);
	assert_int_equal(rr_push(&s, 1, &a, 100), 0);
	assert_int_equal(rr_push(&s, 2, &b, 100), 0);
	int seen_a = -1, seen_b = -1;
	for (int k = 0; k < 3; k++) {
		void *it = rr_pop(&s, NULL);
		if (it == &a)
			seen_a = k;
		if (it == &b)
			seen_b = k;
	}
	assert_true(seen_a >= 0 && seen_b >= 0);
	assert_int_equal(rr_waiting(&s), RR_QUEUE_ITEMS - 1);
}

/* Strict alternation between busy sources, FIFO within one. */
static void test_alternates_and_keeps_order(void **state)
{
	(void)state;
	static int x[4], y[4];
	rr_init(&s);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rr_push(&s, 10, &x[i], 1), 0);
		assert_int_equal(rr_push(&s, 20, &y[i], 1), 0);
	}
	for (int i = 0; i < 4; i++) {
		uint64_t k1, k2;
		assert_ptr_equal(rr_pop(&s, &k1), &x[i]);
		assert_ptr_equal(rr_pop(&s, &k2), &y[i]);
		assert_true(k1 == 10 && k2 == 20);
	}
	assert_null(rr_pop(&s, NULL));
	assert_int_equal(rr_next(&s), -1);
}

/* A source's queue is bounded in items and bytes (one item always fits an empty
 * queue); refusals are counted; other sources are unaffected. */
static void test_bounds(void **state)
{
	(void)state;
	static int it[RR_QUEUE_ITEMS + 1], big, other;
	rr_init(&s);
	for (int i = 0; i < RR_QUEUE_ITEMS; i++)
		assert_int_equal(rr_push(&s, 3, &it[i], 10), 0);
	assert_int_equal(rr_push(&s, 3, &it[RR_QUEUE_ITEMS], 10), -1);
	assert_int_equal(s.refused, 1);
	assert_int_equal(rr_push(&s, 4, &other, 10), 0);
	assert_int_equal(rr_waiting_from(&s, 3), RR_QUEUE_ITEMS);
	assert_int_equal(rr_waiting_from(&s, 4), 1);
	/* bytes: an empty queue takes one item of any size, then nothing over the cap */
	assert_int_equal(rr_push(&s, 5, &big, RR_QUEUE_BYTES * 2), 0);
	assert_int_equal(rr_push(&s, 5, &other, 1), -1);
	assert_int_equal(s.refused, 2);
}

/* No more sources than queues: a new source is refused while all are busy, and gets
 * a queue once one empties. */
static void test_queues_are_reused(void **state)
{
	(void)state;
	static int item[RR_MAX_QUEUES + 1];
	rr_init(&s);
	for (uint64_t k = 0; k < RR_MAX_QUEUES; k++)
		assert_int_equal(rr_push(&s, 100 + k, &item[k], 1), 0);
	assert_int_equal(rr_push(&s, 999, &item[RR_MAX_QUEUES], 1), -1);
	uint64_t key;
	assert_ptr_equal(rr_pop(&s, &key), &item[0]);
	assert_int_equal(key, 100);
	assert_int_equal(rr_push(&s, 999, &item[RR_MAX_QUEUES], 1), 0);
	assert_int_equal(rr_waiting_from(&s, 999), 1);
}

/* An item consumed in parts: rr_next rotates between the sources while each head
 * stays until dropped. */
static void test_partial_items(void **state)
{
	(void)state;
	static int big, small;
	rr_init(&s);
	assert_int_equal(rr_push(&s, 1, &big, 1000), 0);
	assert_int_equal(rr_push(&s, 2, &small, 10), 0);
	int q1 = rr_next(&s), q2 = rr_next(&s), q3 = rr_next(&s);
	assert_ptr_equal(rr_head(&s, (uint32_t)q1), &big);
	assert_ptr_equal(rr_head(&s, (uint32_t)q2), &small);
	assert_int_equal(q3, q1); /* back to the first: its head is still there */
	rr_drop_head(&s, (uint32_t)q2);
	assert_int_equal(rr_next(&s), q1);
	assert_int_equal(rr_next(&s), q1);
	rr_drop_head(&s, (uint32_t)q1);
	assert_int_equal(rr_next(&s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flooder_does_not_starve_others),
		cmocka_unit_test(test_alternates_and_keeps_order),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_queues_are_reused),
		cmocka_unit_test(test_partial_items),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
