/* metrics.c - a replica's counters in Prometheus' text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).  See metrics.h.
 *
 * Every sample carries the labels replica, protocol and byz (the --byz behaviour, or
 * "none").  Names follow Prometheus' conventions: byzlab_ prefix, snake_case, _total
 * on counters, base units (_seconds, _bytes).  Pure: the text depends on the snapshot
 * alone. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "replica/metrics.h"
#include "replica/textbuf.h"

/* ---- histograms: fixed buckets ---- */

struct buckets {
	size_t n;
	uint64_t le_us[METRICS_BUCKETS_MAX]; /* upper bounds, microseconds */
	const char *le[METRICS_BUCKETS_MAX]; /* the same, as the page writes them */
};

/* Commit latency at one replica: 0.25 ms (a local run without fsync) .. 10 s. */
static const struct buckets commit_buckets = {
	14,
	{250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	 10000000},
	{"0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	 "0.5", "1", "2.5", "10"},
};

/* View-change duration: 10 ms .. 60 s (the timeout doubles at every failed view). */
static const struct buckets vc_buckets = {
	11,
	{10000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
	 60000000},
	{"0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60"},
};

static const struct buckets *buckets_of(enum metrics_hist_kind kind)
{
	return kind == METRICS_COMMIT ? &commit_buckets : &vc_buckets;
}

void metrics_observe(struct metrics_hist *h, enum metrics_hist_kind kind, uint64_t us)
{
	const struct buckets *b = buckets_of(kind);
	for (size_t i = 0; i < b->n; i++)
		if (us <= b->le_us[i]) {
			h->bucket[i]++;
			break;
		}
	h->count++;
	h->sum_us += us;
}

/* ---- the writer ---- */

struct page {
	struct textbuf t;
	char labels[3 * METRICS_LABEL_MAX + 64]; /* replica="0",protocol="pbft",byz="none" */
};

static void put(struct page *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct page *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	textbuf_vput(&w->t, fmt, ap);
	va_end(ap);
}

/* A label value as the format wants it: \ -> \\, " -> \", newline -> \n.  Other bytes
 * pass (the format is UTF-8; a --byz value is the operator's own text). */
static void escape_label(const char *in, char *out, size_t cap)
{
	size_t k = 0;
	for (; *in && k + 3 < cap; in++) {
		if (*in == '\\' || *in == '"') {
			out[k++] = '\\';
			out[k++] = *in;
		} else if (*in == '\n') {
			out[k++] = '\\';
			out[k++] = 'n';
		} else {
			out[k++] = *in;
		}
	}
	out[k] = '\0';
}

static void set_labels(struct page *w, const struct metrics_snapshot *s)
{
	char proto[64], byz[2 * METRICS_LABEL_MAX + 4];
	escape_label(s->cs.protocol ? s->cs.protocol : "unknown", proto, sizeof(proto));
	escape_label(s->byz[0] ? s->byz : "none", byz, sizeof(byz));
	snprintf(w->labels, sizeof(w->labels), "replica=\"%u\",protocol=\"%s\",byz=\"%s\"", s->id,
		 proto, byz);
}

static void header(struct page *w, const char *name, const char *type, const char *help)
{
	put(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; extra: more labels ("reason=\"bad_auth\"") or NULL. */
static void sample(struct page *w, const char *name, const char *extra, uint64_t v)
{
	put(w, "%s{%s%s%s} %llu\n", name, w->labels, extra ? "," : "", extra ? extra : "",
	    (unsigned long long)v);
}

static void counter(struct page *w, const char *name, const char *help, uint64_t v)
{
	header(w, name, "counter", help);
	sample(w, name, NULL, v);
}

static void gauge(struct page *w, const char *name, const char *help, uint64_t v)
{
	header(w, name, "gauge", help);
	sample(w, name, NULL, v);
}

static void histogram(struct page *w, const char *name, const char *help,
		      const struct metrics_hist *h, enum metrics_hist_kind kind)
{
	const struct buckets *b = buckets_of(kind);
	char le[32];
	uint64_t cum = 0;
	header(w, name, "histogram", help);
	for (size_t i = 0; i < b->n; i++) {
		cum += h->bucket[i];
		snprintf(le, sizeof(le), "le=\"%s\"", b->le[i]);
		put(w, "%s_bucket{%s,%s} %llu\n", name, w->labels, le, (unsigned long long)cum);
	}
	put(w, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, w->labels, (unsigned long long)h->count);
	put(w, "%s_sum{%s} %llu.%06llu\n", name, w->labels,
	    (unsigned long long)(h->sum_us / 1000000), (unsigned long long)(h->sum_us % 1000000));
	put(w, "%s_count{%s} %llu\n", name, w->labels, (unsigned long long)h->count);
}

/* ---- the page ---- */

static void render_state(struct page *w, const struct metrics_snapshot *s)
{
	const struct core_status *cs = &s->cs;
	gauge(w, "byzlab_view", "Current view number.", cs->view);
	gauge(w, "byzlab_primary", "Replica id of the current view's primary.", cs->primary);
	gauge(w, "byzlab_view_changing", "1 while a view change is in progress here.",
	      cs->view_changing ? 1 : 0);
	gauge(w, "byzlab_last_executed_seq", "Sequence number of the last executed batch.",
	      cs->last_executed);
	gauge(w, "byzlab_stable_checkpoint_seq", "Sequence number of the stable checkpoint.",
	      cs->stable_checkpoint);
	gauge(w, "byzlab_fetching_checkpoint_seq",
	      "Checkpoint whose state is being fetched (0: none).", cs->fetching);
	gauge(w, "byzlab_pending_requests",
	      "Requests received from clients here and not yet answered.", s->pending_requests);
	gauge(w, "byzlab_replicas", "Replicas in the cluster (n).", s->n);
	gauge(w, "byzlab_faults_tolerated", "Faulty replicas tolerated (f).", s->f);
	gauge(w, "byzlab_uptime_seconds", "Seconds since this replica started.",
	      s->uptime_ms / 1000);
	gauge(w, "byzlab_blacklisted_clients", "Client connections banned now (robust mode).",
	      s->auth.banned);
}

static void render_work(struct page *w, const struct metrics_snapshot *s)
{
	const struct core_status *cs = &s->cs;
	counter(w, "byzlab_requests_executed_total", "Client requests executed.",
		cs->requests_executed);
	counter(w, "byzlab_requests_readonly_total",
		"Read-only requests answered without agreement (PBFT 5.1.3).",
		cs->requests_readonly);
	counter(w, "byzlab_slots_caught_up_total",
		"Slots executed on another view's commit certificate.", cs->slots_caught_up);
	counter(w, "byzlab_view_changes_total", "Times a new view became active here.",
		s->view_changes);
	header(w, "byzlab_robust_view_changes_started_total", "counter",
	       "View changes this replica voted for in robust mode, by cause.");
	sample(w, "byzlab_robust_view_changes_started_total", "cause=\"monitor\"",
	       cs->robust_vc_monitor);
	sample(w, "byzlab_robust_view_changes_started_total", "cause=\"heartbeat\"",
	       cs->robust_vc_heartbeat);
	gauge(w, "byzlab_robust_required_requests_per_second",
	      "Throughput robust mode requires of the primary now (0: none).",
	      cs->robust_required_rps);
	gauge(w, "byzlab_robust_measured_requests_per_second",
	      "Throughput robust mode measured in its last period.", cs->robust_measured_rps);
}

static void render_traffic(struct page *w, const struct metrics_snapshot *s)
{
	counter(w, "byzlab_sent_messages_total", "Messages sent, one per destination.",
		s->net.msgs_sent);
	counter(w, "byzlab_sent_bytes_total", "Bytes sent.", s->net.bytes_sent);
	counter(w, "byzlab_sent_frames_total", "nng messages sent (a bundle counts once).",
		s->net.frames_sent);
	counter(w, "byzlab_received_messages_total", "Messages received from peers and clients.",
		s->c.msgs_recv);
	counter(w, "byzlab_received_bytes_total", "Bytes received from peers and clients.",
		s->c.bytes_recv);
	counter(w, "byzlab_send_drops_total", "Messages dropped: a peer's send queue was full.",
		s->net.send_drops);
	counter(w, "byzlab_no_route_total", "Replies for a client with no known connection.",
		s->net.no_route);
	counter(w, "byzlab_rx_drops_total", "Peer frames dropped: the receive queue was full.",
		s->net.rx_drops);
	counter(w, "byzlab_signatures_made_total", "Signatures made.", s->auth.sigs_made);
	counter(w, "byzlab_signatures_verified_total", "Signatures verified.",
		s->auth.sigs_verified);
	counter(w, "byzlab_macs_made_total", "MAC authenticators made.", s->auth.macs_made);
	counter(w, "byzlab_macs_verified_total", "MAC authenticators verified.",
		s->auth.macs_verified);
	counter(w, "byzlab_suspect_clients_total", "Clients marked suspect (robust mode).",
		s->auth.suspects_marked);
}

static void render_rejected(struct page *w, const struct metrics_snapshot *s)
{
	const struct {
		const char *reason;
		uint64_t v;
	} r[] = {
		{"bad_auth", s->c.edge.bad_auth},
		{"bad_format", s->c.edge.bad_format},
		{"old_view", s->cs.rejected_old_view},
		{"out_of_window", s->cs.rejected_out_of_window},
		{"conflict", s->cs.rejected_conflict},
		{"rate_limited", s->cs.rejected_rate_limited},
		{"unsigned_suspect", s->auth.suspect_refused},
		{"unsigned_request", s->auth.unsigned_requests},
		{"blacklisted_client", s->auth.blacklisted_drops},
		{"peer_budget", s->net.peer_budget},
	};
	char reason[48];
	header(w, "byzlab_rejected_total", "counter",
	       "Messages rejected, by reason (the status document's rejected object).");
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		snprintf(reason, sizeof(reason), "reason=\"%s\"", r[i].reason);
		sample(w, "byzlab_rejected_total", reason, r[i].v);
	}
}

/* issue 17: conflicting statements seen, per accused replica (only those with some) */
static void render_evidence(struct page *w, const struct metrics_snapshot *s)
{
	char accused[32];
	header(w, "byzlab_evidence_total", "counter",
	       "Conflicting statements seen, by accused replica.");
	for (uint32_t i = 0; i < s->n && i < WIRE_MAX_REPLICAS; i++)
		if (s->cs.evidence[i]) {
			snprintf(accused, sizeof(accused), "accused=\"%u\"", i);
			sample(w, "byzlab_evidence_total", accused, s->cs.evidence[i]);
		}
}

int metrics_render(const struct metrics_snapshot *s, char *out, size_t cap)
{
	static struct page zero;
	struct page w = zero;
	if (cap == 0)
		return -1;
	w.t.p = out;
	w.t.cap = cap;
	set_labels(&w, s);
	render_state(&w, s);
	render_work(&w, s);
	render_traffic(&w, s);
	render_rejected(&w, s);
	render_evidence(&w, s);
	histogram(&w, "byzlab_commit_latency_seconds",
		  "Request received from a client to its reply sent, at this replica.",
		  &s->hist[METRICS_COMMIT], METRICS_COMMIT);
	histogram(&w, "byzlab_view_change_duration_seconds",
		  "View change started to the new view active, at this replica.",
		  &s->hist[METRICS_VIEW_CHANGE], METRICS_VIEW_CHANGE);
	if (w.t.over) {
		out[0] = '\0';
		return -1;
	}
	return (int)w.t.len;
}

void metrics_fill(struct metrics_snapshot *s, const struct status_input *in)
{
	s->id = in->id;
	s->n = in->n;
	s->f = in->f;
	snprintf(s->byz, sizeof(s->byz), "%s", in->byz ? in->byz : "");
	s->cs = *in->cs;
	s->c = *in->c;
	if (in->net)
		s->net = *in->net;
	if (in->auth) {
		const struct auth_ctx *a = in->auth;
		s->auth = (struct metrics_auth){.sigs_made = a->sigs_made,
						.sigs_verified = a->sigs_verified,
						.macs_made = a->macs_made,
						.macs_verified = a->macs_verified,
						.suspect_refused = a->suspect_refused,
						.unsigned_requests = a->unsigned_requests,
						.blacklisted_drops = a->blacklisted_drops,
						.banned = a->banned,
						.suspects_marked = a->suspects_marked};
	}
	s->uptime_ms = in->uptime_ms;
}
