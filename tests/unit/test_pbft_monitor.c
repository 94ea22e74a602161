/* test_pbft_monitor.c - robust mode's watch on the primary (issue 16; Aardvark §4.3):
 * the throughput monitor's grace period, ratio, ×1.01 raise and "no pending request,
 * nothing required", the history of the last n views, and the PRE-PREPARE heartbeat
 * (replica/core/pbft_monitor.h).  Each test breaks if its rule is taken out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "replica/core/pbft_monitor.h"

#define PERIOD 100

/* One period of the monitor: `done` requests executed, requests pending or not;
 * returns the verdict at its end. */
static bool period(struct pbft_monitor *m, uint64_t *now, uint64_t done, bool pending)
{
	pbft_monitor_done(m, done);
	if (pending)
		pbft_monitor_pending(m);
	assert_false(pbft_monitor_tick(m, *now + PERIOD - 1)); /* not before its end */
	*now += PERIOD;
	return pbft_monitor_tick(m, *now);
}

/* A monitor whose history holds one view measured at `best` per period. */
static void with_history(struct pbft_monitor *m, uint64_t *now, uint64_t best)
{
	pbft_monitor_init(m, PERIOD, PBFT_MONITOR_GRACE, 900, 4);
	pbft_monitor_new_view(m, *now);
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(m, now, best, true));
	pbft_monitor_new_view(m, *now);
}

/* Grace: the first loaded periods of a view are measured, not judged. */
static void test_grace(void **state)
{
	(void)state;
	struct pbft_monitor m;
	uint64_t now = 0;
	with_history(&m, &now, 100);
	assert_int_equal(pbft_monitor_required_milli(&m), 0);
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(&m, &now, 10, true)); /* slow, but in grace */
	assert_int_equal(pbft_monitor_required_milli(&m), 90 * 1000);
	assert_true(period(&m, &now, 10, true)); /* judged: 10 < 0.9 x 100 */
}

/* Ratio: at least robust_ratio of the best rate of the recent views. */
static void test_ratio(void **state)
{
	(void)state;
	struct pbft_monitor m;
	uint64_t now = 0;
	with_history(&m, &now, 100);
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(&m, &now, 50, true));
	assert_false(period(&m, &now, 90, true)); /* exactly 0.9 x 100 passes */
	/* now raised once: 0.9 x 1.01 x 100 = 90.9 */
	assert_int_equal(pbft_monitor_required_milli(&m), 100 * 900 * 1010 / 1000);
	assert_true(period(&m, &now, 90, true));

	/* robust_ratio 0.5: half the best is enough */
	uint64_t t = 0;
	pbft_monitor_init(&m, PERIOD, PBFT_MONITOR_GRACE, 500, 4);
	pbft_monitor_new_view(&m, t);
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(&m, &t, 100, true));
	pbft_monitor_new_view(&m, t);
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(&m, &t, 60, true));
	assert_false(period(&m, &t, 60, true));
	assert_true(period(&m, &t, 49, true));
}

/* Raise: ×1.01 per judged period, so that even a steady primary is replaced. */
static void test_raise(void **state)
{
	(void)state;
	struct pbft_monitor m;
	uint64_t now = 0;
	pbft_monitor_init(&m, PERIOD, PBFT_MONITOR_GRACE, 900, 4);
	pbft_monitor_new_view(&m, now);
	int judged = 0;
	while (!period(&m, &now, 100, true) && judged < 1000)
		judged++;
	/* 0.9 x 1.01^k > 1 from k = 11 on; the first two periods are grace */
	assert_in_range(judged, PBFT_MONITOR_GRACE + 9, PBFT_MONITOR_GRACE + 13);
	/* a new view starts from 1.0 again */
	pbft_monitor_new_view(&m, now);
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(&m, &now, 100, true));
	assert_int_equal(pbft_monitor_required_milli(&m), 90 * 1000);
}

/* No pending request: nothing required, and idle periods use up no grace. */
static void test_no_pending_nothing_required(void **state)
{
	(void)state;
	struct pbft_monitor m;
	uint64_t now = 0;
	with_history(&m, &now, 100);
	for (int i = 0; i < 50; i++)
		assert_false(period(&m, &now, 0, false));
	assert_int_equal(pbft_monitor_required_milli(&m), 0); /* still in grace */
	for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
		assert_false(period(&m, &now, 100, true));
	for (int i = 0; i < 50; i++)
		assert_false(period(&m, &now, 1, false)); /* low, but nothing was waiting */
	assert_true(period(&m, &now, 1, true));
}

/* History: the best of the last n views (views_kept), not of all time. */
static void test_history_last_n_views(void **state)
{
	(void)state;
	struct pbft_monitor m;
	uint64_t now = 0;
	pbft_monitor_init(&m, PERIOD, PBFT_MONITOR_GRACE, 900, 2);
	uint64_t rates[] = {1000, 10, 10, 10}; /* two past views kept, and this one */
	for (int v = 0; v < 4; v++) {
		pbft_monitor_new_view(&m, now);
		for (int i = 0; i < PBFT_MONITOR_GRACE; i++)
			assert_false(period(&m, &now, rates[v], true));
	}
	assert_int_equal(pbft_monitor_required_milli(&m), 10 * 900); /* 1000 forgotten */
	assert_false(period(&m, &now, 10, true));
}

/* Heartbeat: only while requests wait, a full timeout from when they started. */
static void test_heartbeat(void **state)
{
	(void)state;
	struct pbft_heartbeat h;
	pbft_heartbeat_init(&h, 50, 0);
	assert_false(pbft_heartbeat_expired(&h, 1000, false)); /* idle: nothing expected */
	assert_int_equal(pbft_heartbeat_deadline(&h), 0);
	assert_false(pbft_heartbeat_expired(&h, 1000, true)); /* waiting from now on */
	assert_int_equal(pbft_heartbeat_deadline(&h), 1050);
	assert_false(pbft_heartbeat_expired(&h, 1049, true));
	pbft_heartbeat_beat(&h, 1040); /* a PRE-PREPARE */
	assert_false(pbft_heartbeat_expired(&h, 1089, true));
	assert_true(pbft_heartbeat_expired(&h, 1090, true));
	/* nothing waits any more: no deadline, however long */
	assert_false(pbft_heartbeat_expired(&h, 5000, false));
	assert_int_equal(pbft_heartbeat_deadline(&h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grace),
		cmocka_unit_test(test_ratio),
		cmocka_unit_test(test_raise),
		cmocka_unit_test(test_no_pending_nothing_required),
		cmocka_unit_test(test_history_last_n_views),
		cmocka_unit_test(test_heartbeat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
