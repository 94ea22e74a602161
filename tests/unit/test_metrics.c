/* test_metrics.c - the Prometheus exposition renderer (replica/metrics.c, issue 20):
 * exact text for a known snapshot, label escaping, histogram buckets (cumulative,
 * a bound is inclusive), overflow refused, and the metrics key of cluster.ini. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cluster_write.h"
#include "replica/metrics.h"

static char page[METRICS_TEXT_MAX];

static void known(struct metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->id = 2;
	s->n = 4;
	s->f = 1;
	s->cs.protocol = "pbft";
	s->cs.view = 3;
	s->cs.primary = 3;
	s->cs.last_executed = 77;
	s->cs.requests_executed = 1234;
	s->cs.rejected_old_view = 5;
	s->cs.evidence[1] = 2;
	s->c.edge.bad_auth = 9;
	s->net.msgs_sent = 4000;
	s->auth.sigs_made = 17;
	s->uptime_ms = 61999;
	s->pending_requests = 4;
	s->view_changes = 2;
	metrics_observe(&s->hist[METRICS_COMMIT], METRICS_COMMIT, 200);      /* <= 0.00025 */
	metrics_observe(&s->hist[METRICS_COMMIT], METRICS_COMMIT, 1000);     /* = 0.001 */
	metrics_observe(&s->hist[METRICS_COMMIT], METRICS_COMMIT, 3000);     /* <= 0.005 */
	metrics_observe(&s->hist[METRICS_COMMIT], METRICS_COMMIT, 20000000); /* +Inf only */
}

static void render(const struct metrics_snapshot *s)
{
	int len = metrics_render(s, page, sizeof(page));
	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(page));
}

/* Exact blocks: a gauge, a counter, a labelled counter family, a whole histogram. */
static void test_exact_text(void **state)
{
	(void)state;
	struct metrics_snapshot s;
	known(&s);
	render(&s);
	const char *L = "{replica=\"2\",protocol=\"pbft\",byz=\"none\"";
	char want[4096];
	snprintf(want, sizeof(want),
		 "# HELP byzlab_view Current view number.\n"
		 "# TYPE byzlab_view gauge\n"
		 "byzlab_view%s} 3\n"
		 "# HELP byzlab_primary Replica id of the current view's primary.\n"
		 "# TYPE byzlab_primary gauge\n"
		 "byzlab_primary%s} 3\n",
		 L, L);
	assert_ptr_equal(strstr(page, want), page); /* the page starts with it */
	snprintf(want, sizeof(want),
		 "# HELP byzlab_requests_executed_total Client requests executed.\n"
		 "# TYPE byzlab_requests_executed_total counter\n"
		 "byzlab_requests_executed_total%s} 1234\n",
		 L);
	assert_non_null(strstr(page, want));
	snprintf(want, sizeof(want), "byzlab_uptime_seconds%s} 61\n", L);
	assert_non_null(strstr(page, want));
	snprintf(want, sizeof(want),
		 "byzlab_rejected_total%s,reason=\"bad_auth\"} 9\n"
		 "byzlab_rejected_total%s,reason=\"bad_format\"} 0\n"
		 "byzlab_rejected_total%s,reason=\"old_view\"} 5\n",
		 L, L, L);
	assert_non_null(strstr(page, want));
	snprintf(want, sizeof(want),
		 "# TYPE byzlab_evidence_total counter\n"
		 "byzlab_evidence_total%s,accused=\"1\"} 2\n",
		 L);
	assert_non_null(strstr(page, want));
	snprintf(want, sizeof(want),
		 "# HELP byzlab_commit_latency_seconds Request received from a client to its "
		 "reply sent, at this replica.\n"
		 "# TYPE byzlab_commit_latency_seconds histogram\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.00025\"} 1\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.0005\"} 1\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.001\"} 2\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.0025\"} 2\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.005\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.01\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.025\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.05\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.1\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.25\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"0.5\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"1\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"2.5\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"10\"} 3\n"
		 "byzlab_commit_latency_seconds_bucket%s,le=\"+Inf\"} 4\n"
		 "byzlab_commit_latency_seconds_sum%s} 20.004200\n"
		 "byzlab_commit_latency_seconds_count%s} 4\n",
		 L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L);
	assert_non_null(strstr(page, want));
	snprintf(want, sizeof(want),
		 "byzlab_view_change_duration_seconds_bucket%s,le=\"+Inf\"} 0\n"
		 "byzlab_view_change_duration_seconds_sum%s} 0.000000\n"
		 "byzlab_view_change_duration_seconds_count%s} 0\n",
		 L, L, L);
	assert_non_null(strstr(page, want));
	/* the page ends with the last histogram's count */
	snprintf(want, sizeof(want), "byzlab_view_change_duration_seconds_count%s} 0\n", L);
	assert_string_equal(page + strlen(page) - strlen(want), want);
}

/* Every sample line is NAME{LABELS} VALUE, every family has one HELP and one TYPE. */
static void test_every_line_well_formed(void **state)
{
	(void)state;
	struct metrics_snapshot s;
	known(&s);
	render(&s);
	int samples = 0, types = 0;
	for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "# TYPE ", 7)) {
			types++;
			continue;
		}
		if (line[0] == '#') {
			assert_int_equal(strncmp(line, "# HELP byzlab_", 14), 0);
			continue;
		}
		samples++;
		assert_int_equal(strncmp(line, "byzlab_", 7), 0);
		char *brace = strchr(line, '{'), *close = strrchr(line, '}');
		assert_non_null(brace);
		assert_non_null(close);
		assert_true(close[1] == ' ' && close[2] >= '0' && close[2] <= '9');
	}
	assert_true(types >= 30);
	assert_true(samples > types);
}

/* Label values: backslash, double quote and newline escaped (exposition format). */
static void test_label_escaping(void **state)
{
	(void)state;
	struct metrics_snapshot s;
	known(&s);
	snprintf(s.byz, sizeof(s.byz), "a\"b\\c\nd");
	render(&s);
	assert_non_null(
		strstr(page,
		       "byzlab_view{replica=\"2\",protocol=\"pbft\",byz=\"a\\\"b\\\\c\\nd\"} 3\n"));
	snprintf(s.byz, sizeof(s.byz), "slow-primary:900");
	render(&s);
	assert_non_null(strstr(page, "byz=\"slow-primary:900\"} 3\n"));
}

/* A bound is inclusive (le: less or equal); above the last bound only +Inf counts. */
static void test_buckets(void **state)
{
	(void)state;
	struct metrics_hist h;
	memset(&h, 0, sizeof(h));
	metrics_observe(&h, METRICS_VIEW_CHANGE, 10000);    /* = 0.01 s: first bucket */
	metrics_observe(&h, METRICS_VIEW_CHANGE, 10001);    /* second */
	metrics_observe(&h, METRICS_VIEW_CHANGE, 61000000); /* > 60 s */
	assert_int_equal(h.bucket[0], 1);
	assert_int_equal(h.bucket[1], 1);
	uint64_t finite = 0;
	for (int i = 0; i < METRICS_BUCKETS_MAX; i++)
		finite += h.bucket[i];
	assert_int_equal(finite, 2);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.sum_us, 10000 + 10001 + 61000000);
}

static void test_overflow_refused(void **state)
{
	(void)state;
	struct metrics_snapshot s;
	known(&s);
	char small[512];
	assert_int_equal(metrics_render(&s, small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(metrics_render(&s, small, 0), -1);
}

/* byzlab-keygen --cluster --metrics: metrics = tcp://H:P+300+I, parsed back. */
static void test_cluster_ini_metrics(void **state)
{
	(void)state;
	static char text[CLUSTER_INI_MAX];
	char err[512];
	struct cluster_spec spec = {.protocol = PROTO_PBFT, .f = 1, .base_port = 26000};
	assert_int_equal(cluster_ini_build(&spec, text, sizeof(text), err, sizeof(err)), 0);
	assert_null(strstr(text, "metrics"));
	spec.metrics = 1;
	assert_int_equal(cluster_ini_build(&spec, text, sizeof(text), err, sizeof(err)), 0);
	assert_non_null(strstr(text, "admin = tcp://127.0.0.1:26203\n"
				     "metrics = tcp://127.0.0.1:26303\n"));
	spec.host = "replica{i}";
	assert_int_equal(cluster_ini_build(&spec, text, sizeof(text), err, sizeof(err)), 0);
	assert_non_null(strstr(text, "metrics = tcp://replica3:26300\n"));
	spec.host = NULL;
	spec.base_port = 65300; /* P+300+3 beyond 65535 only with metrics */
	assert_int_equal(cluster_ini_build(&spec, text, sizeof(text), err, sizeof(err)),
			 CLUSTER_USAGE);
	spec.metrics = 0;
	assert_int_equal(cluster_ini_build(&spec, text, sizeof(text), err, sizeof(err)), 0);
}

/* The parser: metrics is optional, tcp://HOST:PORT only. */
static int load_with(const char *metrics_line, char *err, size_t errlen)
{
	static char text[CLUSTER_INI_MAX];
	static struct config c;
	char path[] = "/tmp/byzlab-metrics-XXXXXX";
	struct cluster_spec spec = {.protocol = PROTO_SINGLE, .f = 0, .base_port = 26000};
	assert_int_equal(cluster_ini_build(&spec, text, sizeof(text), err, errlen), 0);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "%s%s\n", text, metrics_line);
	fclose(f);
	int rc = config_load_nokeys(path, &c, err, errlen);
	unlink(path);
	if (rc == 0 && metrics_line[0])
		assert_string_equal(c.replica[0].metrics, metrics_line + strlen("metrics = "));
	return rc;
}

static void test_config_metrics_key(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_with("", err, sizeof(err)), 0);
	assert_int_equal(load_with("metrics = tcp://127.0.0.1:26300", err, sizeof(err)), 0);
	assert_int_equal(load_with("metrics = ipc:///tmp/m", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "must be tcp://HOST:PORT"));
	assert_int_equal(load_with("metrics = tcp://127.0.0.1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs a port"));
	assert_int_equal(load_with("metrics = tcp://127.0.0.1:26200", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already used by [replica.0] admin"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_text),
		cmocka_unit_test(test_every_line_well_formed),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_overflow_refused),
		cmocka_unit_test(test_cluster_ini_metrics),
		cmocka_unit_test(test_config_metrics_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
