/* bench.c - `byzlab-client bench` (see bench.h). */
#define _GNU_SOURCE /* open_memstream */
#include "client/bench.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/client.h"
#include "client/json.h"
#include "replica/kv.h"

#define BENCH_MAX_CLIENTS 1024
#define BENCH_MAX_OPS 100000000u
#define BENCH_MAX_SECONDS 86400.0
#define BENCH_VERIFY_KEYS 8
#define BENCH_MISMATCH_PRINT 20
#define BENCH_SERIES_MAX 1000000 /* intervals kept in the time series */
#define BENCH_STATUS_TIMEOUT_MS 2000

/* ================================================================ histogram */

void bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

size_t bench_hist_index(uint64_t v)
{
	if (v < BENCH_HIST_SUB)
		return (size_t)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (BENCH_HIST_SUB_BITS - 1); /* >= 1 */
	uint64_t top = v >> shift;                        /* HALF .. SUB-1 */
	return BENCH_HIST_SUB + (size_t)(shift - 1) * BENCH_HIST_HALF +
	       (size_t)(top - BENCH_HIST_HALF);
}

uint64_t bench_hist_low(size_t i)
{
	if (i < BENCH_HIST_SUB)
		return i;
	size_t k = i - BENCH_HIST_SUB;
	unsigned shift = (unsigned)(k / BENCH_HIST_HALF) + 1;
	uint64_t top = BENCH_HIST_HALF + k % BENCH_HIST_HALF;
	return top << shift;
}

uint64_t bench_hist_high(size_t i)
{
	if (i < BENCH_HIST_SUB)
		return i;
	if (i + 1 >= BENCH_HIST_BUCKETS)
		return UINT64_MAX;
	return bench_hist_low(i + 1) - 1;
}

void bench_hist_add(struct bench_hist *h, uint64_t v)
{
	h->count[bench_hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

uint64_t bench_hist_pct(const struct bench_hist *h, double p)
{
	if (h->n == 0)
		return 0;
	double r = ceil(p / 100.0 * (double)h->n);
	uint64_t rank = r < 1 ? 1 : r > (double)h->n ? h->n : (uint64_t)r, seen = 0;
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			uint64_t hi = bench_hist_high(i);
			return hi < h->max ? hi : h->max;
		}
	}
	return h->max;
}

/* ================================================================ status parsing */

/* One status line: hostile text (a replica writes it), read with the bounded JSON
 * reader (client/json.h): only top-level members count, whatever a nested object or a
 * string holds, and a line that is not one well-formed JSON object yields nothing. */
int bench_parse_status(const char *line, struct bench_rstat *out)
{
	const struct {
		const char *key;
		uint64_t *dst;
	} counters[] = {
		{"msgs_sent", &out->msgs_sent},
		{"bytes_sent", &out->bytes_sent},
		{"frames_sent", &out->frames_sent},
		{"sigs_made", &out->sigs_made},
		{"sigs_verified", &out->sigs_verified},
		{"macs_made", &out->macs_made},
		{"macs_verified", &out->macs_verified},
		{"requests_executed", &out->requests_executed},
		{"last_executed", &out->last_executed},
		{"stable_checkpoint", &out->stable_checkpoint},
		{"view", &out->view},
	};
	size_t len = strlen(line);
	struct json_val v;
	uint64_t x;
	bool down = false;

	memset(out, 0, sizeof(*out));
	if (json_get_u64(line, len, "id", &x) != 0 || x >= WIRE_MAX_REPLICAS)
		return -1;
	out->id = (uint32_t)x;
	if (json_get(line, len, "down", &v) == 0 && json_bool(&v, &down) == 0 && down)
		return 0;
	out->up = 1;
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (json_get_u64(line, len, counters[i].key, &x) == 0)
			*counters[i].dst = x;
	if (json_get_u64(line, len, "pid", &x) == 0 && x < (1u << 30))
		out->pid = (long)x;
	if (json_get(line, len, "state_digest", &v) == 0 &&
	    json_str(&v, out->digest, sizeof(out->digest)) == 0 &&
	    out->digest[strspn(out->digest, "0123456789abcdefABCDEF")] != '\0')
		out->digest[0] = '\0';
	return 0;
}

int bench_parse_proc_stat(const char *text, uint64_t *ticks)
{
	/* pid (comm) state ppid ... : comm may hold spaces and ')', so start after the
	 * last ')'; utime and stime are fields 14 and 15, i.e. the 12th and 13th after it. */
	const char *p = strrchr(text, ')');
	uint64_t ut = 0, st = 0;
	if (!p)
		return -1;
	p++;
	for (int field = 3; field <= 15; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		if (field == 14 || field == 15) {
			uint64_t v = 0;
			if (!isdigit((unsigned char)*p))
				return -1;
			for (int k = 0; isdigit((unsigned char)*p) && k < 20; p++, k++)
				v = v * 10 + (uint64_t)(*p - '0');
			if (field == 14)
				ut = v;
			else
				st = v;
		} else {
			while (*p && *p != ' ')
				p++;
		}
	}
	*ticks = ut + st;
	return 0;
}

/* ================================================================ options */

struct bench_opts {
	uint32_t clients, ops, payload, keys, read_pct, interval_ms;
	double seconds, warmup, rate;
	int ops_set, verify, mix, hist, cost, separate, quiet;
	uint32_t bad_mac; /* the first bad_mac clients are faulty (issue 14) */
	const char *history;
};

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "byzlab-client: bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see byzlab-client --help)\n");
	return CLIENT_EXIT_USAGE;
}

/* A non-negative decimal number (digits, optional fraction) <= max. */
static int parse_double(const char *s, double max, double *out)
{
	char *end;
	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -1;
	double v = strtod(s, &end);
	if (*end || !(v >= 0) || v > max)
		return -1;
	*out = v;
	return 0;
}

/* --mix R:W (ratio of gets to puts, e.g. 90:10) or --mix P (percent gets). */
static int parse_mix(const char *s, uint32_t *read_pct)
{
	char a[16], *colon;
	uint32_t r, w;
	if (strlen(s) >= sizeof(a))
		return -1;
	strcpy(a, s);
	colon = strchr(a, ':');
	if (!colon)
		return client_parse_u32(a, 0, 100, read_pct);
	*colon = '\0';
	if (client_parse_u32(a, 0, 1000000, &r) || client_parse_u32(colon + 1, 0, 1000000, &w) ||
	    r + w == 0)
		return -1;
	*read_pct = (uint32_t)((100ull * r + (r + w) / 2) / (r + w));
	return 0;
}

static int parse_opt(struct bench_opts *o, int argc, char **argv, int *i)
{
	const char *v, *a = argv[*i];

	if (!strcmp(a, "--verify"))
		o->verify = 1;
	else if (!strcmp(a, "--hist"))
		o->hist = 1;
	else if (!strcmp(a, "--cost"))
		o->cost = 1;
	else if (!strcmp(a, "--separate"))
		o->separate = 1;
	else if (!strcmp(a, "--quiet"))
		o->quiet = 1;
	else if ((v = client_opt_value(argc, argv, i, "--clients")) != NULL) {
		if (client_parse_u32(v, 1, BENCH_MAX_CLIENTS, &o->clients))
			return usage("--clients: '%s' is not 1..1024", v);
	} else if ((v = client_opt_value(argc, argv, i, "--bad-mac")) != NULL) {
		if (client_parse_u32(v, 0, BENCH_MAX_CLIENTS, &o->bad_mac))
			return usage("--bad-mac: '%s' is not 0..1024", v);
	} else if ((v = client_opt_value(argc, argv, i, "--ops")) != NULL) {
		if (client_parse_u32(v, 1, BENCH_MAX_OPS, &o->ops))
			return usage("--ops: '%s' is not 1..100000000", v);
		o->ops_set = 1;
	} else if ((v = client_opt_value(argc, argv, i, "--payload")) != NULL) {
		if (client_parse_u32(v, 0, WIRE_MAX_OP - 64, &o->payload))
			return usage("--payload: '%s' is not 0..8128 bytes", v);
	} else if ((v = client_opt_value(argc, argv, i, "--seconds")) != NULL) {
		if (parse_double(v, BENCH_MAX_SECONDS, &o->seconds) || o->seconds <= 0)
			return usage("--seconds: '%s' is not a duration in seconds", v);
	} else if ((v = client_opt_value(argc, argv, i, "--warmup")) != NULL) {
		if (parse_double(v, BENCH_MAX_SECONDS, &o->warmup))
			return usage("--warmup: '%s' is not a duration in seconds", v);
	} else if ((v = client_opt_value(argc, argv, i, "--rate")) != NULL) {
		if (parse_double(v, 10000000, &o->rate))
			return usage("--rate: '%s' is not 0..10000000 ops/s", v);
	} else if ((v = client_opt_value(argc, argv, i, "--mix")) != NULL) {
		if (parse_mix(v, &o->read_pct))
			return usage("--mix: '%s' is not READS:WRITES or a percentage of reads", v);
		o->mix = 1;
	} else if ((v = client_opt_value(argc, argv, i, "--keys")) != NULL) {
		if (client_parse_u32(v, 1, 100000000, &o->keys))
			return usage("--keys: '%s' is not 1..100000000", v);
	} else if ((v = client_opt_value(argc, argv, i, "--interval")) != NULL) {
		if (client_parse_u32(v, 10, 60000, &o->interval_ms))
			return usage("--interval: '%s' is not 10..60000 ms", v);
	} else if ((v = client_opt_value(argc, argv, i, "--history")) != NULL) {
		if (!*v)
			return usage("%s: missing file", "--history");
		o->history = v;
	} else {
		return usage("unknown argument '%s'", a);
	}
	return 0;
}

static int parse_opts(struct bench_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->clients = 1;
	o->ops = 1000;
	o->keys = 1000;
	o->interval_ms = 1000;
	for (int i = 1; i < argc; i++) {
		int rc = parse_opt(o, argc, argv, &i);
		if (rc)
			return rc;
	}
	if (o->verify && o->mix)
		return usage("%s", "--verify and --mix exclude each other");
	if (o->seconds > 0 && !o->ops_set)
		o->ops = 0; /* time only */
	return 0;
}

/* ================================================================ state */

enum phase { PH_WARMUP, PH_MEASURE, PH_DONE };

struct bclient {
	struct bz_client *cl;
	uint32_t id;
	uint32_t next; /* operation counter of this client */
	int busy;
	uint64_t t_start;    /* intended start (open loop) or submit time, us */
	int prev_put_failed; /* verify: the put before this get timed out */
	uint8_t kind;        /* 'N', 'P', 'G' of the pending op */
	uint32_t key;
};

struct cost_snap {
	struct bench_rstat r[WIRE_MAX_REPLICAS];
	uint64_t cpu_ticks[WIRE_MAX_REPLICAS];
	int cpu_ok[WIRE_MAX_REPLICAS];
	uint64_t client_msgs, client_bytes, client_sig_ops, client_mac_ops;
	uint64_t client_replies; /* replies the clients received (counted or stale) */
	double client_cpu_s;
};

struct bench {
	struct bench_opts o;
	const struct config *cfg;
	struct client_group *grp;
	struct bclient *c;
	uint32_t *idle; /* open loop: stack of idle clients */
	uint32_t n_idle;
	struct bench_hist hist;
	enum phase phase;
	uint64_t t0, t_measure, t_end, t_progress;
	uint64_t issued; /* measured ops handed out (count mode) */
	uint64_t ops, errors, mismatches, bad_results, reads, writes;
	uint64_t done_all, done_progress; /* completions incl. warm-up (progress) */
	uint64_t arrivals;                /* open loop: arrivals handed out since t_measure... */
	uint64_t backlog_max;
	uint64_t *series; /* completions per interval since t0 */
	size_t n_series, cap_series;
	struct cost_snap cs0, cs1;
	int cost_ok;
	FILE *hist_f;
	struct buf op;
	char val[WIRE_MAX_OP];
};

/* ================================================================ workload */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void verify_key(char *key, size_t len, uint32_t id, uint32_t i)
{
	snprintf(key, len, "v-%u-%u", id, (i / 2) % BENCH_VERIFY_KEYS);
}

static void verify_val(char *val, size_t len, uint32_t id, uint32_t i)
{
	snprintf(val, len, "%u-%u", id, i / 2);
}

/* The value a mix-mode put writes: unique per (client, op), padded to --payload. */
static size_t mix_val(struct bench *b, const struct bclient *bc)
{
	int n = snprintf(b->val, sizeof(b->val), "%u-%u", bc->id, bc->next);
	size_t len = (size_t)n;
	if (b->o.payload > len) {
		memset(b->val + len, '.', b->o.payload - len);
		len = b->o.payload;
	}
	return len;
}

/* Operation number bc->next of this client into b->op. */
static int build_op(struct bench *b, struct bclient *bc)
{
	char key[32], val[32];
	uint64_t seed = ((uint64_t)bc->id << 32) ^ bc->next;

	buf_reset(&b->op);
	if (b->o.verify) {
		verify_key(key, sizeof(key), bc->id, bc->next);
		verify_val(val, sizeof(val), bc->id, bc->next);
		bc->kind = bc->next % 2 == 0 ? 'P' : 'G';
		if (bc->kind == 'P')
			return kv_op_put(&b->op, key, strlen(key), val, strlen(val));
		return kv_op_get(&b->op, key, strlen(key));
	}
	if (!b->o.mix) {
		bc->kind = 'N';
		return kv_op_null(&b->op, b->o.payload);
	}
	uint64_t r = rng_next(&seed);
	bc->key = (uint32_t)((r >> 8) % b->o.keys);
	snprintf(key, sizeof(key), "k%u", bc->key);
	bc->kind = (r & 0xff) * 100 < (uint64_t)b->o.read_pct * 256 ? 'G' : 'P';
	if (bc->kind == 'G')
		return kv_op_get(&b->op, key, strlen(key));
	size_t vlen = mix_val(b, bc);
	return kv_op_put(&b->op, key, strlen(key), b->val, vlen);
}

static void mismatch(struct bench *b, const struct bclient *bc, const char *what,
		     const uint8_t *res, size_t len)
{
	b->mismatches++;
	if (b->mismatches > BENCH_MISMATCH_PRINT)
		return;
	fprintf(stderr, "verify: client %u op %u: expected %s, got status %d value \"%.*s\"\n",
		bc->id, bc->next, what, len ? res[0] : -1, len > 1 ? (int)(len - 1) : 0,
		len > 1 ? (const char *)res + 1 : "");
}

static void check_verify(struct bench *b, const struct bclient *bc, const uint8_t *res, size_t len)
{
	char val[32], what[48];
	size_t vlen;

	if (bc->kind == 'P') {
		if (len != 1 || res[0] != KV_OK)
			mismatch(b, bc, "put OK", res, len);
		return;
	}
	if (bc->prev_put_failed)
		return; /* the put may or may not have happened: nothing to check */
	verify_val(val, sizeof(val), bc->id, bc->next);
	vlen = strlen(val);
	if (len != vlen + 1 || res[0] != KV_OK || memcmp(res + 1, val, vlen) != 0) {
		snprintf(what, sizeof(what), "\"%s\"", val);
		mismatch(b, bc, what, res, len);
	}
}

static void check_result(struct bench *b, const struct bclient *bc, const uint8_t *res, size_t len)
{
	if (b->o.verify) {
		check_verify(b, bc, res, len);
		return;
	}
	if (len < 1 || (res[0] != KV_OK && !(bc->kind == 'G' && res[0] == KV_NOT_FOUND)))
		b->bad_results++;
}

/* One line of history per finished operation (for linearizability checkers):
 * invocation and response times in us since the bench started. */
static void history(struct bench *b, const struct bclient *bc, int done, uint64_t t_done,
		    const uint8_t *res, size_t len)
{
	if (!b->hist_f)
		return;
	fprintf(b->hist_f, "{\"client\":%u,\"op\":\"%s\"", bc->id,
		bc->kind == 'P'   ? "put"
		: bc->kind == 'G' ? "get"
				  : "null");
	if (bc->kind != 'N' && !b->o.verify)
		fprintf(b->hist_f, ",\"key\":\"k%u\"", bc->key);
	if (bc->kind == 'P' && !b->o.verify) {
		size_t vlen = mix_val(b, bc);
		fprintf(b->hist_f, ",\"value\":\"%.*s\"", (int)vlen, b->val);
	}
	fprintf(b->hist_f, ",\"start_us\":%" PRIu64 ",\"end_us\":%" PRIu64 ",\"ok\":%s",
		bc->t_start - b->t0, t_done - b->t0, done ? "true" : "false");
	if (done && len >= 1) {
		fprintf(b->hist_f, ",\"status\":%u", res[0]);
		if (bc->kind == 'G' && res[0] == KV_OK) {
			fputs(",\"result\":\"", b->hist_f);
			for (size_t i = 1; i < len; i++) /* our own values: printable */
				fputc(isprint(res[i]) && res[i] != '"' && res[i] != '\\' ? res[i]
											 : '?',
				      b->hist_f);
			fputc('"', b->hist_f);
		}
	}
	fputs("}\n", b->hist_f);
}

/* ================================================================ cost */

static long replica_pid(const struct bench *b, uint32_t id, long status_pid)
{
	char path[CONFIG_PATH_MAX + 64], cmd[4096];
	long pid = 0;
	FILE *f;

	/* A local cluster's run/replica-I.pid (./byzlab cluster up), else the pid the
	 * replica reports; either must be a byzlab-replica of this machine (in a
	 * container the reported pid means nothing here). */
	snprintf(path, sizeof(path), "%s/run/replica-%u.pid", b->cfg->dir[0] ? b->cfg->dir : ".",
		 id);
	if ((f = fopen(path, "r")) != NULL) {
		char text[32], *end;
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		pid = strtol(text, &end, 10);
		if (end == text || (*end && *end != '\n'))
			pid = 0;
	}
	if (pid <= 0)
		pid = status_pid;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, "byzlab-replica") ? pid : 0;
}

static int proc_ticks(long pid, uint64_t *ticks)
{
	char path[64], text[2048];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return bench_parse_proc_stat(text, ticks);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void client_totals(struct bench *b, struct cost_snap *s)
{
	s->client_msgs = s->client_bytes = s->client_sig_ops = s->client_mac_ops = 0;
	s->client_replies = 0;
	for (uint32_t i = 0; i < b->o.clients; i++) {
		const struct client_stats *st = client_get_stats(b->c[i].cl);
		uint64_t sig, mac;
		s->client_msgs += st->sends;
		s->client_replies += st->replies + st->stale;
		s->client_bytes += st->bytes_sent;
		client_crypto_ops(b->c[i].cl, &sig, &mac);
		s->client_sig_ops += sig;
		s->client_mac_ops += mac;
	}
	s->client_cpu_s = self_cpu_s();
}

/* Status of every replica (blocks for up to BENCH_STATUS_TIMEOUT_MS), CPU times. */
static int snapshot(struct bench *b, struct cost_snap *s)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	int ok = 0;

	memset(s->r, 0, sizeof(s->r));
	memset(s->cpu_ok, 0, sizeof(s->cpu_ok));
	if (!mem)
		return -1;
	client_status(b->cfg, BENCH_STATUS_TIMEOUT_MS, mem);
	fclose(mem);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct bench_rstat r;
		if (bench_parse_status(line, &r) != 0 || r.id >= b->cfg->n)
			continue;
		s->r[r.id] = r;
		long pid = r.up ? replica_pid(b, r.id, r.pid) : 0;
		s->cpu_ok[r.id] = pid > 0 && proc_ticks(pid, &s->cpu_ticks[r.id]) == 0;
		s->r[r.id].pid = pid;
		ok += r.up;
	}
	free(text);
	client_totals(b, s);
	return ok > 0 ? 0 : -1;
}

static void print_cost(struct bench *b)
{
	const struct cost_snap *x = &b->cs0, *y = &b->cs1;
	uint64_t msgs = 0, bytes = 0, sigs = 0, macs = 0, ticks = 0, frames = 0;
	uint32_t up = 0, cpu = 0;
	double ops = b->ops ? (double)b->ops : 1.0, hz = (double)sysconf(_SC_CLK_TCK);

	for (uint32_t i = 0; i < b->cfg->n; i++) {
		if (!x->r[i].up || !y->r[i].up)
			continue;
		up++;
		msgs += y->r[i].msgs_sent - x->r[i].msgs_sent;
		bytes += y->r[i].bytes_sent - x->r[i].bytes_sent;
		frames += y->r[i].frames_sent - x->r[i].frames_sent;
		sigs += (y->r[i].sigs_made - x->r[i].sigs_made) +
			(y->r[i].sigs_verified - x->r[i].sigs_verified);
		macs += (y->r[i].macs_made - x->r[i].macs_made) +
			(y->r[i].macs_verified - x->r[i].macs_verified);
		if (x->cpu_ok[i] && y->cpu_ok[i] && x->r[i].pid == y->r[i].pid) {
			ticks += y->cpu_ticks[i] - x->cpu_ticks[i];
			cpu++;
		}
	}
	uint64_t cmsgs = y->client_msgs - x->client_msgs,
		 cbytes = y->client_bytes - x->client_bytes;
	printf(",\"replicas_measured\":%u", up);
	printf(",\"msgs_per_op\":%.3f,\"bytes_per_op\":%.1f", (double)(msgs + cmsgs) / ops,
	       (double)(bytes + cbytes) / ops);
	printf(",\"replica_msgs_per_op\":%.3f,\"client_msgs_per_op\":%.3f", (double)msgs / ops,
	       (double)cmsgs / ops);
	printf(",\"replica_frames_per_op\":%.3f", (double)frames / ops);
	/* issue 19: what the formulas call agreement - replica-to-replica messages, i.e.
	 * the replicas' sends but the replies the clients received */
	uint64_t creplies = y->client_replies - x->client_replies;
	printf(",\"client_replies_per_op\":%.3f,\"agreement_msgs_per_op\":%.3f",
	       (double)creplies / ops, (double)(msgs > creplies ? msgs - creplies : 0) / ops);
	printf(",\"sig_ops_per_op\":%.3f,\"mac_ops_per_op\":%.3f", (double)sigs / ops,
	       (double)macs / ops);
	printf(",\"client_sig_ops_per_op\":%.3f,\"client_mac_ops_per_op\":%.3f",
	       (double)(y->client_sig_ops - x->client_sig_ops) / ops,
	       (double)(y->client_mac_ops - x->client_mac_ops) / ops);
	if (cpu == up && up > 0)
		printf(",\"cpu_ms_per_op\":%.4f", (double)ticks / hz * 1000.0 / ops);
	else
		printf(",\"cpu_ms_per_op\":null");
	printf(",\"client_cpu_ms_per_op\":%.4f",
	       (y->client_cpu_s - x->client_cpu_s) * 1000.0 / ops);
	if (b->grp) {
		const struct client_group_stats *g = client_group_get_stats(b->grp);
		printf(",\"client_frames_sent\":%" PRIu64 ",\"client_frames_recv\":%" PRIu64,
		       g->frames_sent, g->frames_recv);
	}
}

/* ================================================================ the loop */

static void series_add(struct bench *b, uint64_t now)
{
	size_t k = (size_t)((now - b->t0) / ((uint64_t)b->o.interval_ms * 1000u));
	if (k >= BENCH_SERIES_MAX)
		return;
	if (k >= b->cap_series) {
		size_t cap = b->cap_series ? b->cap_series : 64;
		while (cap <= k)
			cap *= 2;
		uint64_t *p = realloc(b->series, cap * sizeof(*p));
		if (!p)
			return;
		memset(p + b->cap_series, 0, (cap - b->cap_series) * sizeof(*p));
		b->series = p;
		b->cap_series = cap;
	}
	b->series[k]++;
	if (k + 1 > b->n_series)
		b->n_series = k + 1;
}

static int open_loop(const struct bench *b)
{
	return b->o.rate > 0;
}

/* May another operation be started now? (count mode: not beyond --ops) */
static int may_issue(const struct bench *b)
{
	if (b->phase == PH_DONE)
		return 0;
	if (b->phase == PH_MEASURE && b->o.ops && b->issued >= b->o.ops)
		return 0;
	return 1;
}

static void issue(struct bench *b, struct bclient *bc, uint64_t t_intended, uint64_t now)
{
	while (may_issue(b)) {
		if (b->phase == PH_MEASURE)
			b->issued++;
		if (build_op(b, bc) == 0 &&
		    client_submit(bc->cl, b->op.p, b->op.len, 0, now) == 0) {
			bc->t_start = t_intended;
			bc->busy = 1;
			return;
		}
		if (b->phase == PH_MEASURE)
			b->errors++; /* cannot even encode it: count and skip */
		bc->next++;
	}
}

static void finish(struct bench *b, struct bclient *bc, int st, uint64_t now)
{
	const uint8_t *res = NULL;
	size_t len = 0;
	int done = st == CLIENT_DONE;

	bc->busy = 0;
	if (done)
		res = client_result(bc->cl, &len);
	history(b, bc, done, now, res, len);
	if (done && b->phase == PH_MEASURE) {
		bench_hist_add(&b->hist, now > bc->t_start ? now - bc->t_start : 0);
		b->ops++;
		if (bc->kind == 'G')
			b->reads++;
		else if (bc->kind == 'P')
			b->writes++;
	} else if (!done && b->phase == PH_MEASURE) {
		b->errors++;
	}
	if (done) {
		b->done_all++;
		series_add(b, now);
		check_result(b, bc, res, len);
	}
	if (b->o.verify && bc->kind == 'P')
		bc->prev_put_failed = !done;
	bc->next++;
}

static void start_measure(struct bench *b, uint64_t now)
{
	if (b->o.cost)
		b->cost_ok = snapshot(b, &b->cs0) == 0;
	now = client_mono_us(); /* the snapshot took a moment */
	b->phase = PH_MEASURE;
	b->t_measure = now;
	b->arrivals = 0;
	bench_hist_reset(&b->hist);
	b->ops = b->errors = b->reads = b->writes = b->bad_results = 0;
}

static void stop_measure(struct bench *b, uint64_t now)
{
	b->t_end = now;
	b->phase = PH_DONE;
	if (b->o.cost && b->cost_ok)
		b->cost_ok = snapshot(b, &b->cs1) == 0;
}

static void progress(struct bench *b, uint64_t now)
{
	double dt = (double)(now - b->t_progress) / 1e6, t = (double)(now - b->t0) / 1e6;
	uint64_t done = b->done_all - b->done_progress;

	if (!b->o.quiet) {
		fprintf(stderr,
			"bench: %5.1fs %s: %" PRIu64 " ops, %.0f ops/s, p50 %" PRIu64
			" us, p99 %" PRIu64 " us, %" PRIu64 " errors\n",
			t, b->phase == PH_WARMUP ? "warm-up" : "measure", b->ops,
			dt > 0 ? (double)done / dt : 0, bench_hist_pct(&b->hist, 50),
			bench_hist_pct(&b->hist, 99), b->errors);
	}
	b->t_progress = now;
	b->done_progress = b->done_all;
}

/* Hand out the arrivals that are due to idle clients (open loop). */
static void open_loop_arrivals(struct bench *b, uint64_t now)
{
	uint64_t base = b->phase == PH_WARMUP ? b->t0 : b->t_measure;
	double gap_us = 1e6 / b->o.rate;

	for (;;) {
		uint64_t due = base + (uint64_t)((double)b->arrivals * gap_us);
		if (due > now || !may_issue(b))
			break;
		if (b->n_idle == 0) {
			uint64_t backlog = (uint64_t)((double)(now - due) / gap_us) + 1;
			if (backlog > b->backlog_max)
				b->backlog_max = backlog;
			break;
		}
		struct bclient *bc = &b->c[b->idle[--b->n_idle]];
		b->arrivals++;
		issue(b, bc, due, now);
		if (!bc->busy)
			b->idle[b->n_idle++] = (uint32_t)(bc - b->c);
	}
}

static uint64_t next_open_arrival(const struct bench *b)
{
	uint64_t base = b->phase == PH_WARMUP ? b->t0 : b->t_measure;
	return base + (uint64_t)((double)b->arrivals * 1e6 / b->o.rate);
}

/* Phase changes at their times; returns 1 while the run goes on. */
static int phases(struct bench *b, uint64_t now)
{
	if (b->phase == PH_WARMUP && now >= b->t0 + (uint64_t)(b->o.warmup * 1e6)) {
		start_measure(b, now);
		now = b->t_measure;
	}
	if (b->phase == PH_MEASURE) {
		int time_up = b->o.seconds > 0 &&
			      now >= b->t_measure + (uint64_t)(b->o.seconds * 1e6);
		int count_done = b->o.ops && b->ops + b->errors >= b->o.ops;
		if (time_up || count_done)
			stop_measure(b, now);
	}
	return b->phase != PH_DONE;
}

static size_t pollset(struct bench *b, struct pollfd *pfd, uint32_t *owner)
{
	int fds[WIRE_MAX_REPLICAS];
	size_t k = 0, m, j;

	if (b->grp) {
		m = client_group_fds(b->grp, fds, WIRE_MAX_REPLICAS);
		for (j = 0; j < m; j++) {
			pfd[k].fd = fds[j];
			pfd[k].events = POLLIN;
			pfd[k++].revents = 0;
		}
		return k;
	}
	for (uint32_t i = 0; i < b->o.clients; i++) {
		if (!b->c[i].busy)
			continue;
		m = client_fds(b->c[i].cl, fds, WIRE_MAX_REPLICAS);
		for (j = 0; j < m; j++) {
			pfd[k].fd = fds[j];
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
			owner[k++] = i;
		}
	}
	return k;
}

static uint64_t next_due(struct bench *b, uint64_t now)
{
	uint64_t due = b->t_progress + 1000000;

	for (uint32_t i = 0; i < b->o.clients; i++) {
		uint64_t d = client_next_deadline(b->c[i].cl);
		if (d < due)
			due = d;
	}
	if (open_loop(b) && may_issue(b) && b->n_idle > 0 && next_open_arrival(b) < due)
		due = next_open_arrival(b);
	if (b->phase == PH_WARMUP && b->t0 + (uint64_t)(b->o.warmup * 1e6) < due)
		due = b->t0 + (uint64_t)(b->o.warmup * 1e6);
	if (b->phase == PH_MEASURE && b->o.seconds > 0 &&
	    b->t_measure + (uint64_t)(b->o.seconds * 1e6) < due)
		due = b->t_measure + (uint64_t)(b->o.seconds * 1e6);
	return due > now ? due : now;
}

static int any_busy(const struct bench *b)
{
	for (uint32_t i = 0; i < b->o.clients; i++)
		if (b->c[i].busy)
			return 1;
	return 0;
}

/* One round: wait, read, complete, start new operations, send. */
static int round_once(struct bench *b, struct pollfd *pfd, uint32_t *owner, uint8_t *ready)
{
	uint64_t now = client_mono_us(), due = next_due(b, now);
	size_t k = pollset(b, pfd, owner), j;
	uint64_t wait_us = due - now;
	int wait_ms = (int)((wait_us + 999) / 1000);

	if (wait_ms > CLIENT_POLL_CAP_MS)
		wait_ms = CLIENT_POLL_CAP_MS;
	if (k > 0 || wait_ms > 0)
		poll(pfd, k, wait_ms); /* EINTR: just go round again */
	now = client_mono_us();
	if (b->grp) {
		client_group_on_readable(b->grp, now);
	} else {
		memset(ready, 0, b->o.clients);
		for (j = 0; j < k; j++)
			if (pfd[j].revents)
				ready[owner[j]] = 1;
	}
	for (uint32_t i = 0; i < b->o.clients; i++) {
		struct bclient *bc = &b->c[i];
		if (!bc->busy)
			continue;
		if (!b->grp && ready[i])
			client_on_readable(bc->cl, now);
		int st = client_on_tick(bc->cl, now);
		if (st != CLIENT_DONE && st != CLIENT_TIMEOUT)
			continue;
		finish(b, bc, st, now);
		int running = phases(b, now);
		if (!open_loop(b) && running)
			issue(b, bc, now, now);
		else
			b->idle[b->n_idle++] = i;
	}
	int running = phases(b, now);
	if (open_loop(b) && running)
		open_loop_arrivals(b, now);
	if (b->grp)
		client_group_flush(b->grp);
	if (now >= b->t_progress + 1000000)
		progress(b, now);
	/* Done: in count mode, once everything measured came back; in time mode at
	 * once (operations still in flight are not counted). */
	return running || (b->o.seconds <= 0 && any_busy(b));
}

/* ================================================================ setup, report */

static int bench_open(struct bench *b, uint32_t first_id, uint32_t timeout_ms)
{
	char err[512];

	if ((uint64_t)first_id + b->o.clients > b->cfg->clients) {
		fprintf(stderr,
			"byzlab-client: bench: client ids %u..%u exceed clients = %u in %s\n",
			first_id, first_id + b->o.clients - 1, b->cfg->clients, b->cfg->path);
		return CLIENT_EXIT_USAGE;
	}
	b->c = calloc(b->o.clients, sizeof(*b->c));
	b->idle = calloc(b->o.clients, sizeof(*b->idle));
	if (!b->c || !b->idle) {
		fprintf(stderr, "byzlab-client: out of memory\n");
		return CLIENT_EXIT_FAILED;
	}
	if (!b->o.separate && client_group_open(b->cfg, first_id, b->o.clients, timeout_ms, &b->grp,
						err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-client: %s\n", err);
		return CLIENT_EXIT_USAGE;
	}
	for (uint32_t i = 0; i < b->o.clients; i++) {
		struct bclient *bc = &b->c[i];
		bc->id = first_id + i;
		if (b->grp) {
			bc->cl = client_group_member(b->grp, i);
		} else if (client_open(b->cfg, bc->id, timeout_ms, &bc->cl, err, sizeof(err))) {
			fprintf(stderr, "byzlab-client: %s\n", err);
			return CLIENT_EXIT_USAGE;
		}
		/* One state-file write per second per client, not one per operation. */
		client_set_ts_lease(bc->cl, 1000000);
		client_set_bad_mac(bc->cl, i < b->o.bad_mac);
		b->idle[b->n_idle++] = b->o.clients - 1 - i;
	}
	if (b->o.history && !(b->hist_f = fopen(b->o.history, "w"))) {
		fprintf(stderr, "byzlab-client: bench: cannot write %s\n", b->o.history);
		return CLIENT_EXIT_FAILED;
	}
	return 0;
}

/* Retransmission rounds, robust escalations and read-only gets retried through
 * agreement, all clients. */
static void retry_totals(const struct bench *b, uint64_t *retransmits, uint64_t *escalations,
			 uint64_t *readonly)
{
	*retransmits = *escalations = *readonly = 0;
	for (uint32_t i = 0; i < b->o.clients; i++) {
		const struct client_stats *st = client_get_stats(b->c[i].cl);
		*retransmits += st->retransmits;
		*escalations += st->escalations;
		*readonly += st->readonly_retries;
	}
}

static void print_hist(const struct bench *b)
{
	int first = 1;
	printf(",\"hist\":[");
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		if (!b->hist.count[i])
			continue;
		printf("%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", first ? "" : ",",
		       bench_hist_low(i), bench_hist_high(i), b->hist.count[i]);
		first = 0;
	}
	printf("]");
}

static int report(struct bench *b)
{
	double secs = (double)(b->t_end - b->t_measure) / 1e6;
	const struct bench_hist *h = &b->hist;

	printf("{\"ops\":%" PRIu64 ",\"seconds\":%.3f,\"throughput\":%.1f", b->ops, secs,
	       secs > 0 ? (double)b->ops / secs : 0.0);
	printf(",\"p50_us\":%" PRIu64 ",\"p90_us\":%" PRIu64 ",\"p99_us\":%" PRIu64
	       ",\"p999_us\":%" PRIu64 ",\"max_us\":%" PRIu64 ",\"mean_us\":%.1f",
	       bench_hist_pct(h, 50), bench_hist_pct(h, 90), bench_hist_pct(h, 99),
	       bench_hist_pct(h, 99.9), h->max, h->n ? (double)h->sum / (double)h->n : 0.0);
	uint64_t retransmits, escalations, readonly_retries;
	retry_totals(b, &retransmits, &escalations, &readonly_retries);
	printf(",\"errors\":%" PRIu64 ",\"retransmits\":%" PRIu64, b->errors, retransmits);
	printf(",\"escalations\":%" PRIu64, escalations);
	printf(",\"readonly_retries\":%" PRIu64, readonly_retries);
	if (b->o.verify)
		printf(",\"mismatches\":%" PRIu64, b->mismatches);
	printf(",\"bad_results\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64,
	       b->bad_results, b->reads, b->writes);
	printf(",\"clients\":%u,\"payload\":%u,\"mode\":\"%s\",\"rate\":%.1f,\"warmup_s\":%.3f",
	       b->o.clients, b->o.payload, open_loop(b) ? "open" : "closed", b->o.rate,
	       b->o.warmup);
	if (open_loop(b))
		printf(",\"backlog_max\":%" PRIu64, b->backlog_max);
	printf(",\"workload\":\"%s\",\"shared_connections\":%s",
	       b->o.verify ? "verify"
	       : b->o.mix  ? "mix"
			   : "null",
	       b->grp ? "true" : "false");
	if (b->o.mix)
		printf(",\"read_pct\":%u,\"keys\":%u", b->o.read_pct, b->o.keys);
	if (b->o.cost && b->cost_ok)
		print_cost(b);
	else if (b->o.cost)
		printf(",\"cost_error\":\"no replica answered status\"");
	printf(",\"interval_ms\":%u,\"series\":[", b->o.interval_ms);
	for (size_t i = 0; i < b->n_series; i++)
		printf("%s%" PRIu64, i ? "," : "", b->series[i]);
	printf("]");
	if (b->o.hist)
		print_hist(b);
	printf("}\n");
	fflush(stdout);
	if (b->mismatches)
		return CLIENT_EXIT_FAILED;
	return b->ops == 0 ? CLIENT_EXIT_NO_QUORUM : CLIENT_EXIT_OK;
}

static int loop(struct bench *b)
{
	size_t nc = b->o.clients ? b->o.clients : 1, nfd = nc * WIRE_MAX_REPLICAS;
	struct pollfd *pfd = calloc(nfd, sizeof(*pfd));
	uint32_t *owner = calloc(nfd, sizeof(*owner));
	uint8_t *ready = calloc(nc, 1);
	int rc = CLIENT_EXIT_FAILED;

	if (pfd && owner && ready) {
		b->t0 = b->t_progress = client_mono_us();
		b->phase = PH_WARMUP;
		phases(b, b->t0);
		if (!open_loop(b)) {
			b->n_idle = 0;
			for (uint32_t i = 0; i < b->o.clients; i++) {
				issue(b, &b->c[i], b->t0, b->t0);
				if (!b->c[i].busy)
					b->idle[b->n_idle++] = i;
			}
		}
		if (b->grp)
			client_group_flush(b->grp);
		while (round_once(b, pfd, owner, ready))
			;
		if (b->phase != PH_DONE)
			stop_measure(b, client_mono_us());
		rc = report(b);
	} else {
		fprintf(stderr, "byzlab-client: out of memory\n");
	}
	free(pfd);
	free(owner);
	free(ready);
	return rc;
}

/* Many sockets per process: lift the soft descriptor limit to the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int bench_main(const struct config *cfg, uint32_t first_id, uint32_t timeout_ms, int argc,
	       char **argv)
{
	static struct bench b; /* big (histogram, snapshots): not on the stack */
	int rc;

	memset(&b, 0, sizeof(b));
	b.cfg = cfg;
	buf_init(&b.op);
	if ((rc = parse_opts(&b.o, argc, argv)) != 0)
		return rc;
	raise_nofile();
	if ((rc = bench_open(&b, first_id, timeout_ms)) == 0)
		rc = loop(&b);
	if (b.hist_f && fclose(b.hist_f) != 0) {
		fprintf(stderr, "byzlab-client: bench: error writing %s\n", b.o.history);
		rc = rc ? rc : CLIENT_EXIT_FAILED;
	}
	/* The clients' sockets are left to the process exit (see main.c, exit_now). */
	free(b.c);
	free(b.idle);
	free(b.series);
	buf_free(&b.op);
	return rc;
}
