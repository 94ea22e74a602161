/* bench.h - `byzlab-client bench`: load generator and cost accounting.
 *
 * Many clients (each its own client id, key and request timestamps) in one process,
 * one poll loop, sharing one connection per replica by default (client_group; the
 * replicas then coalesce their replies, see replica/net.h).
 *   closed loop : each client submits its next operation when the last completes;
 *   open loop   : --rate R operations per second in total, at fixed intervals, each
 *                 handed to an idle client; latency counts from the *intended* start,
 *                 so a backlog shows up in the latency (no coordinated omission).
 * Warm-up (--warmup S) runs the same load but is excluded from every statistic; the
 * measured part is --seconds S, or --ops N operations.
 * Latencies go into a log-linear histogram (exact below 128 us, then 64 linear
 * sub-buckets per power of two: <= 1.6% error), from which p50/p90/p99/p99.9 come.
 * With --cost, replica status counters and /proc CPU times are read at the start and
 * the end of the measured interval, and divided by the operations completed in it.
 */
#ifndef BYZLAB_BENCH_H
#define BYZLAB_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* ---- the latency histogram (pure) ---- */

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS) /* exact values below this */
#define BENCH_HIST_HALF (BENCH_HIST_SUB / 2)       /* sub-buckets per octave */
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB + (64 - BENCH_HIST_SUB_BITS) * BENCH_HIST_HALF)

struct bench_hist {
	uint64_t n, sum, max;
	uint64_t count[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t v);
size_t bench_hist_index(uint64_t v);
uint64_t bench_hist_low(size_t i);  /* smallest value of bucket i */
uint64_t bench_hist_high(size_t i); /* largest value of bucket i */
/* Nearest-rank percentile p (0 < p <= 100): the largest value of the bucket holding
 * that rank, but never more than the maximum seen.  0 if empty. */
uint64_t bench_hist_pct(const struct bench_hist *h, double p);

/* ---- replica status counters and CPU (pure parsing; /proc reading) ---- */

struct bench_rstat {
	uint32_t id;
	int up;
	uint64_t msgs_sent, bytes_sent, sigs_made, sigs_verified, macs_made, macs_verified;
	uint64_t frames_sent; /* nng messages (bundles count once) */
	uint64_t requests_executed, last_executed, stable_checkpoint, view;
	long pid; /* from the status document (0: none) */
	char digest[2 * 32 + 1];
};

/* Parse one status line ({"id":I,...} or {"id":I,"down":true}) with client/json.h:
 * top-level members only.  Returns 0, or -1 if it is not a JSON object with an id
 * below WIRE_MAX_REPLICAS.  Missing or malformed counters read as 0, a state_digest
 * that is not hex as "". */
int bench_parse_status(const char *line, struct bench_rstat *out);
/* utime + stime of a process, in clock ticks, from /proc/PID/stat text. */
int bench_parse_proc_stat(const char *text, uint64_t *ticks);

/* ---- the command ---- */

/* argv[0] is "bench"; first_id: the first client id (--client-id).  Prints the JSON
 * result on stdout, progress on stderr.  Returns the exit code. */
int bench_main(const struct config *cfg, uint32_t first_id, uint32_t timeout_ms, int argc,
	       char **argv);

#endif
