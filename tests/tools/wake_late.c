/* wake_late.c - measurement helper: wake_late [US [COUNT]]
 *
 * How late this machine wakes a thread that sleeps US microseconds (default 250, the
 * one-datacenter WAN link) in ppoll, as the replica's loop does for a held message:
 * COUNT sleeps (default 4000) with the default timer slack (50 us) and COUNT with the
 * slack the replica sets when the WAN model is on (1 ns, prctl PR_SET_TIMERSLACK),
 * alternating one by one.
 * Prints one JSON line per slack: the lateness p50, p90, p99 and mean in us.  The
 * floor of sub-millisecond WAN latency on real processes (docs/EXPERIMENTS.md 14).
 * Exit 0, or 2 on usage.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define MAX_COUNT 1000000

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static long arg(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*s && !*end && v >= lo && v <= hi) ? v : -1;
}

/* One sleep of sleep_us: how many us late it woke. */
static int64_t one(int64_t sleep_us)
{
	struct timespec ts = {.tv_sec = (time_t)(sleep_us / 1000000),
			      .tv_nsec = (long)(sleep_us % 1000000) * 1000};
	int64_t t = now_us();
	ppoll(NULL, 0, &ts, NULL);
	return now_us() - t - sleep_us;
}

static void report(const char *slack, int64_t sleep_us, long count, int64_t *late)
{
	int64_t sum = 0;
	for (long i = 0; i < count; i++)
		sum += late[i];
	qsort(late, (size_t)count, sizeof(*late), cmp);
	printf("{\"slack\":\"%s\",\"sleep_us\":%lld,\"count\":%ld,\"late_p50_us\":%lld,"
	       "\"late_p90_us\":%lld,\"late_p99_us\":%lld,\"late_mean_us\":%.1f}\n",
	       slack, (long long)sleep_us, count, (long long)late[count / 2],
	       (long long)late[count * 9 / 10], (long long)late[count * 99 / 100],
	       (double)sum / (double)count);
}

int main(int argc, char **argv)
{
	long sleep_us = argc > 1 ? arg(argv[1], 1, 1000000) : 250;
	long count = argc > 2 ? arg(argv[2], 1, MAX_COUNT) : 4000;
	if (argc > 3 || sleep_us < 0 || count < 0) {
		fprintf(stderr, "usage: wake_late [US (1..1000000)] [COUNT (1..%d)]\n", MAX_COUNT);
		return 2;
	}
	int64_t *late = calloc(2 * (size_t)count, sizeof(*late));
	if (!late) {
		fprintf(stderr, "wake_late: out of memory\n");
		return 1;
	}
	/* interleaved, sample by sample: the machine's load changes under both alike
	 * (slack 0 restores the thread's default) */
	for (long i = 0; i < count; i++) {
		for (int k = 0; k < 2; k++) {
			if (prctl(PR_SET_TIMERSLACK, k ? 1UL : 0UL, 0UL, 0UL, 0UL) != 0) {
				perror("wake_late: prctl(PR_SET_TIMERSLACK)");
				free(late);
				return 1;
			}
			late[k * count + i] = one(sleep_us);
		}
	}
	report("default", sleep_us, count, late);
	report("1ns", sleep_us, count, late + count);
	free(late);
	return 0;
}
