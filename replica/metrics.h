/* metrics.h - Prometheus metrics of a replica (issue 20 item 2).
 *
 * Two halves:
 *   - the renderer (metrics.c): a snapshot of the replica's counters -> Prometheus'
 *     text exposition format 0.0.4.  Pure: no clock, no IO, unit-tested for its exact
 *     text (tests/unit/test_metrics.c);
 *   - the HTTP server (metrics_http.c): nng's HTTP server answers GET /metrics on its
 *     own threads.  It never touches the replica: the driver (replica.c) publishes a
 *     copy of its counters (metrics_publish(), under a mutex, at most every
 *     METRICS_PUBLISH_MS), and the handler renders the last copy it was given.
 *
 * The histograms (commit latency, view-change duration) are kept by the driver with
 * metrics_observe(); their buckets are fixed (metrics.c) so every replica and every
 * run can be compared and summed.
 */
#ifndef BYZLAB_METRICS_H
#define BYZLAB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/auth.h"
#include "replica/core/core.h"
#include "replica/net.h"
#include "replica/replica.h"

#define METRICS_BUCKETS_MAX 16 /* finite buckets of a histogram (+Inf is implicit) */
#define METRICS_TEXT_MAX 65536 /* the rendered page; far more than 32 replicas need */
#define METRICS_PUBLISH_MS 100 /* the driver's snapshot is at most this old */
#define METRICS_LABEL_MAX 256  /* bytes of a label value as given (byz) */

enum metrics_hist_kind { METRICS_COMMIT = 0, METRICS_VIEW_CHANGE = 1, METRICS_NHIST };

/* Observations of one histogram: per-bucket (not cumulative) counts. */
struct metrics_hist {
	uint64_t bucket[METRICS_BUCKETS_MAX]; /* bucket[i]: bound[i-1] < v <= bound[i] */
	uint64_t count;                       /* every observation, +Inf included */
	uint64_t sum_us;                      /* their sum in microseconds */
};

/* The authentication counters the page shows (copied: auth_ctx is the driver's). */
struct metrics_auth {
	uint64_t sigs_made, sigs_verified, macs_made, macs_verified;
	uint64_t suspect_refused, unsigned_requests, blacklisted_drops, banned;
	uint64_t suspects_marked;
};

/* Everything one scrape shows; the driver fills it, the renderer reads it. */
struct metrics_snapshot {
	uint32_t id, n, f;
	char byz[METRICS_LABEL_MAX]; /* "" = honest (label byz="none") */
	struct core_status cs;       /* cs.protocol: a static string of the core */
	struct replica_counters c;
	struct net_stats net;
	struct metrics_auth auth;
	uint64_t uptime_ms;
	uint64_t pending_requests; /* received from clients, not yet answered here */
	uint64_t view_changes;     /* times a new view became active here */
	struct metrics_hist hist[METRICS_NHIST];
};

/* Count one observation of `us` microseconds into h (buckets of kind). */
void metrics_observe(struct metrics_hist *h, enum metrics_hist_kind kind, uint64_t us);

/* Render s into out (NUL-terminated).  Returns the length, or -1 if cap is too small. */
int metrics_render(const struct metrics_snapshot *s, char *out, size_t cap);

/* Copy the counters of the status document into s (histograms and the driver's own
 * counts are left alone). */
void metrics_fill(struct metrics_snapshot *s, const struct status_input *in);

/* ---- the HTTP server (metrics_http.c) ---- */

struct metrics_server;

/* Serve GET /metrics at addr ("tcp://HOST:PORT", cluster.ini's metrics key).  Until
 * the first metrics_publish() the page answers 503.  Returns 0, or -1 with err. */
int metrics_start(struct metrics_server **out, const char *addr, char *err, size_t errlen);
/* Replace the snapshot the handler renders (a copy, taken under the server's mutex). */
void metrics_publish(struct metrics_server *m, const struct metrics_snapshot *s);
/* Stop serving and free; NULL is fine. */
void metrics_stop(struct metrics_server *m);

#endif
