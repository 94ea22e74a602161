/* main.c - byzlab-client: put/get/del/cas/status/bench against a cluster.
 *
 * Exit codes: 0 ok, 1 operation failed (message on stderr), 2 usage or configuration
 * error, 3 no quorum of matching replies before the timeout.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "client/client.h"
#include "config/config.h"
#include "replica/kv.h"

static const char usage_text[] =
	"usage: byzlab-client --config FILE [--client-id J] [--timeout MS] CMD [ARGS]\n"
	"\n"
	"Global options (before CMD):\n"
	"  --config FILE     cluster.ini (required)\n"
	"  --client-id J     client id, 0 <= J < [cluster] clients (default 0); needs\n"
	"                    keys/client-J.key\n"
	"  --timeout MS      give up on a request after MS ms (default 5000; status: 1000)\n"
	"  -h, --help        this text\n"
	"\n"
	"Commands:\n"
	"  put K V           store V under K; prints OK\n"
	"  get K             prints the value; NOT_FOUND on stderr and exit 1 if absent\n"
	"  del K             removes K; prints OK (also when K was absent)\n"
	"  cas K OLD NEW     set K to NEW if its value is OLD (absent counts as empty);\n"
	"                    prints OK, or CAS_FAILED current=<value> on stderr and exit 1\n"
	"  status            one JSON object per replica per line, in id order; a replica\n"
	"                    that does not answer in time prints {\"id\":I,\"down\":true}.\n"
	"                    Down replicas are reported, not errors: exit 0\n"
	"  bench [--clients C] [--ops N] [--payload BYTES] [--verify]\n"
	"                    C closed-loop clients (ids J..J+C-1, default 1) run N operations\n"
	"                    in total (default 1000): null operations carrying BYTES of padding\n"
	"                    (default 0); with --verify each client alternates put and get of\n"
	"                    its own keys and checks every get returns its last put (exit 1\n"
	"                    on a mismatch).  Progress on stderr every second; at the end one\n"
	"                    JSON object on stdout: ops (completed), seconds, throughput,\n"
	"                    p50_us, p99_us, max_us, errors (requests that timed out).\n"
	"                    Exit 3 if nothing completed.\n"
	"\n"
	"A request goes to the primary, then (after 300 ms, doubling) to every replica.\n"
	"pbft accepts f+1 matching replies; vr the reply of the view's primary; single one.\n"
	"Timestamps increase across runs with the same id: the last one is kept in\n"
	"$BYZLAB_CLIENT_STATE/client-J.ts (default: <config dir>/clientstate/).\n"
	"\n"
	"Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error,\n"
	"            3 no quorum of matching replies before the timeout.\n";

struct cli {
	const char *config;
	uint32_t client_id;
	uint32_t timeout_ms;
	int timeout_set;
	int argc;               /* CMD and its arguments */
	char **argv;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "byzlab-client: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see byzlab-client --help)\n");
	return CLIENT_EXIT_USAGE;
}

/* The value of option argv[*i] ("--opt VALUE" or "--opt=VALUE"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, len) != 0)
		return NULL;
	if (a[len] == '=')
		return a + len + 1;
	if (a[len] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}

static int parse_global(struct cli *c, int argc, char **argv, int *i)
{
	const char *v;

	if ((v = opt_value(argc, argv, i, "--config")) != NULL) {
		c->config = v;
		return *v ? 0 : usage_error("%s: missing file", "--config");
	}
	if ((v = opt_value(argc, argv, i, "--client-id")) != NULL)
		return client_parse_u32(v, 0, WIRE_MAX_CLIENTS - 1, &c->client_id) == 0
		       ? 0 : usage_error("--client-id: '%s' is not a client id", v);
	if ((v = opt_value(argc, argv, i, "--timeout")) != NULL) {
		c->timeout_set = 1;
		return client_parse_u32(v, 1, 3600000, &c->timeout_ms) == 0
		       ? 0 : usage_error("--timeout: '%s' is not 1..3600000 ms", v);
	}
	return usage_error("unknown option '%s'", argv[*i]);
}

/* Returns -1 to go on, or an exit code (help, usage error). */
static int parse_cli(struct cli *c, int argc, char **argv)
{
	int i, rc;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return CLIENT_EXIT_OK;
		}
		if ((rc = parse_global(c, argc, argv, &i)) != 0)
			return rc;
	}
	if (i >= argc)
		return usage_error("%s", "missing command");
	if (c->config == NULL)
		return usage_error("%s", "--config FILE is required");
	c->argc = argc - i;
	c->argv = argv + i;
	return -1;
}

static int check_args(const struct cli *c, int want)
{
	if (c->argc - 1 == want)
		return 0;
	fprintf(stderr, "byzlab-client: %s takes %d argument%s\n(see byzlab-client --help)\n",
		c->argv[0], want, want == 1 ? "" : "s");
	return CLIENT_EXIT_USAGE;
}

/* Build the op for put/get/del/cas.  Returns 0, or an exit code. */
static int build_op(const struct cli *c, enum client_cmd *cmd, struct buf *op)
{
	char **a = c->argv;
	int rc;

	if (strcmp(a[0], "put") == 0) {
		*cmd = CLIENT_CMD_PUT;
		if ((rc = check_args(c, 2)) != 0)
			return rc;
		rc = kv_op_put(op, a[1], strlen(a[1]), a[2], strlen(a[2]));
	} else if (strcmp(a[0], "get") == 0 || strcmp(a[0], "del") == 0) {
		*cmd = a[0][0] == 'g' ? CLIENT_CMD_GET : CLIENT_CMD_DEL;
		if ((rc = check_args(c, 1)) != 0)
			return rc;
		rc = *cmd == CLIENT_CMD_GET ? kv_op_get(op, a[1], strlen(a[1]))
					    : kv_op_del(op, a[1], strlen(a[1]));
	} else if (strcmp(a[0], "cas") == 0) {
		*cmd = CLIENT_CMD_CAS;
		if ((rc = check_args(c, 3)) != 0)
			return rc;
		rc = kv_op_cas(op, a[1], strlen(a[1]), a[2], strlen(a[2]), a[3], strlen(a[3]));
	} else {
		return usage_error("unknown command '%s'", a[0]);
	}
	if (rc != 0) {
		fprintf(stderr, "byzlab-client: key longer than %d bytes or value too long\n",
			KV_MAX_KEY);
		return CLIENT_EXIT_USAGE;
	}
	return 0;
}

static int run_op(const struct cli *c, const struct config *cfg)
{
	struct bz_client *cl;
	struct buf op, res;
	enum client_cmd cmd = CLIENT_CMD_PUT;
	char err[512];
	int rc;

	buf_init(&op);
	buf_init(&res);
	if ((rc = build_op(c, &cmd, &op)) != 0)
		goto out;
	if (client_open(cfg, c->client_id, c->timeout_ms, &cl, err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-client: %s\n", err);
		rc = CLIENT_EXIT_USAGE;
		goto out;
	}
	rc = client_invoke(cl, op.p, op.len, 0, &res);
	if (rc == CLIENT_EXIT_OK)
		rc = client_print_result(cmd, res.p, res.len, stdout, stderr);
	else if (rc == CLIENT_EXIT_NO_QUORUM)
		fprintf(stderr, "byzlab-client: no quorum of matching replies within %u ms\n",
			c->timeout_ms);
	else
		fprintf(stderr, "byzlab-client: %s\n", client_error(cl));
	/* No client_close(): see exit_now(). */
out:
	buf_free(&op);
	buf_free(&res);
	return rc;
}

/* ----------------------------------------------------------------- bench */

#define BENCH_MAX_CLIENTS 1024
#define BENCH_MAX_OPS 10000000u         /* latencies kept: 4 bytes each */
#define BENCH_VERIFY_KEYS 8
#define BENCH_MISMATCH_PRINT 20

struct bench_opts {
	uint32_t clients, ops, payload;
	int verify;
};

struct bench_client {
	struct bz_client *cl;
	uint32_t id;
	uint32_t todo;          /* operations this client runs */
	uint32_t next;          /* index of the next operation */
	uint64_t t_submit;
	int prev_put_failed;    /* verify: the put before this get timed out */
};

struct bench {
	struct bench_opts o;
	struct bench_client *c;
	uint32_t *lat;          /* completed operations' latencies, us */
	uint64_t ops, errors, mismatches;
	uint64_t t_start, t_progress, ops_at_progress;
	struct buf op;
};

static int parse_bench(const struct cli *c, struct bench_opts *o)
{
	char **a = c->argv;
	const char *v;
	int i;

	o->clients = 1;
	o->ops = 1000;
	o->payload = 0;
	o->verify = 0;
	for (i = 1; i < c->argc; i++) {
		if (strcmp(a[i], "--verify") == 0)
			o->verify = 1;
		else if ((v = opt_value(c->argc, a, &i, "--clients")) != NULL) {
			if (client_parse_u32(v, 1, BENCH_MAX_CLIENTS, &o->clients) != 0)
				return usage_error("--clients: '%s' is not 1..1024", v);
		} else if ((v = opt_value(c->argc, a, &i, "--ops")) != NULL) {
			if (client_parse_u32(v, 1, BENCH_MAX_OPS, &o->ops) != 0)
				return usage_error("--ops: '%s' is not 1..10000000", v);
		} else if ((v = opt_value(c->argc, a, &i, "--payload")) != NULL) {
			if (client_parse_u32(v, 0, WIRE_MAX_OP - 1, &o->payload) != 0)
				return usage_error("--payload: '%s' is not 0..8191 bytes", v);
		} else {
			return usage_error("bench: unknown argument '%s'", a[i]);
		}
	}
	return 0;
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

static void verify_key(char *key, size_t len, uint32_t id, uint32_t i)
{
	snprintf(key, len, "v-%u-%u", id, (i / 2) % BENCH_VERIFY_KEYS);
}

static void verify_val(char *val, size_t len, uint32_t id, uint32_t i)
{
	snprintf(val, len, "%u-%u", id, i / 2);
}

/* Operation number bc->next of this client into b->op. */
static int bench_build(struct bench *b, const struct bench_client *bc)
{
	char key[32], val[32];

	buf_reset(&b->op);
	if (!b->o.verify)
		return kv_op_null(&b->op, b->o.payload);
	verify_key(key, sizeof(key), bc->id, bc->next);
	verify_val(val, sizeof(val), bc->id, bc->next);
	if (bc->next % 2 == 0)
		return kv_op_put(&b->op, key, strlen(key), val, strlen(val));
	return kv_op_get(&b->op, key, strlen(key));
}

static void bench_mismatch(struct bench *b, const struct bench_client *bc, const char *what,
			   const uint8_t *res, size_t len)
{
	b->mismatches++;
	if (b->mismatches > BENCH_MISMATCH_PRINT)
		return;
	fprintf(stderr, "verify: client %u op %u: expected %s, got status %d value \"%.*s\"\n",
		bc->id, bc->next, what, len ? res[0] : -1, len > 1 ? (int)(len - 1) : 0,
		len > 1 ? (const char *)res + 1 : "");
}

/* Check the result of operation bc->next (verify mode). */
static void bench_check(struct bench *b, const struct bench_client *bc, const uint8_t *res,
			size_t len)
{
	char val[32], what[48];
	size_t vlen;

	if (bc->next % 2 == 0) {
		if (len != 1 || res[0] != KV_OK)
			bench_mismatch(b, bc, "put OK", res, len);
		return;
	}
	if (bc->prev_put_failed)
		return; /* the put may or may not have happened: nothing to check */
	verify_val(val, sizeof(val), bc->id, bc->next);
	vlen = strlen(val);
	if (len != vlen + 1 || res[0] != KV_OK || memcmp(res + 1, val, vlen) != 0) {
		snprintf(what, sizeof(what), "\"%s\"", val);
		bench_mismatch(b, bc, what, res, len);
	}
}

static void bench_submit(struct bench *b, struct bench_client *bc, uint64_t now)
{
	while (bc->next < bc->todo) {
		if (bench_build(b, bc) == 0 &&
		    client_submit(bc->cl, b->op.p, b->op.len, 0, now) == 0) {
			bc->t_submit = now;
			return;
		}
		b->errors++; /* cannot even encode it: count and skip */
		bc->next++;
	}
}

static void bench_finish_op(struct bench *b, struct bench_client *bc, int st, uint64_t now)
{
	const uint8_t *res;
	size_t len;

	if (st == CLIENT_DONE) {
		uint64_t us = now - bc->t_submit;

		b->lat[b->ops++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
		res = client_result(bc->cl, &len);
		if (b->o.verify)
			bench_check(b, bc, res, len);
	} else {
		b->errors++;
	}
	if (b->o.verify && bc->next % 2 == 0)
		bc->prev_put_failed = st != CLIENT_DONE;
	bc->next++;
	bench_submit(b, bc, now);
}

static int bench_open(struct bench *b, const struct cli *c, const struct config *cfg)
{
	char err[512];
	uint32_t i;

	if ((uint64_t)c->client_id + b->o.clients > cfg->clients) {
		fprintf(stderr, "byzlab-client: bench: client ids %u..%u exceed clients = %u in %s\n",
			c->client_id, c->client_id + b->o.clients - 1, cfg->clients, cfg->path);
		return CLIENT_EXIT_USAGE;
	}
	b->c = calloc(b->o.clients, sizeof(*b->c));
	b->lat = calloc(b->o.ops, sizeof(*b->lat));
	if (b->c == NULL || b->lat == NULL) {
		fprintf(stderr, "byzlab-client: out of memory\n");
		return CLIENT_EXIT_FAILED;
	}
	for (i = 0; i < b->o.clients; i++) {
		struct bench_client *bc = &b->c[i];

		bc->id = c->client_id + i;
		bc->todo = b->o.ops / b->o.clients + (i < b->o.ops % b->o.clients);
		if (client_open(cfg, bc->id, c->timeout_ms, &bc->cl, err, sizeof(err)) != 0) {
			fprintf(stderr, "byzlab-client: %s\n", err);
			return CLIENT_EXIT_USAGE;
		}
		/* One state-file write per second per client, not one per operation. */
		client_set_ts_lease(bc->cl, 1000000);
	}
	return 0;
}

static void bench_close(struct bench *b)
{
	/* the clients' sockets are left to exit_now(), see there */
	free(b->c);
	free(b->lat);
	buf_free(&b->op);
}

static void bench_progress(struct bench *b, uint64_t now)
{
	double dt = (double)(now - b->t_progress) / 1e6;

	fprintf(stderr, "bench: %" PRIu64 "/%u ops, %.0f ops/s, %" PRIu64 " errors\n",
		b->ops + b->errors, b->o.ops, dt > 0 ? (double)(b->ops - b->ops_at_progress) / dt : 0,
		b->errors);
	b->t_progress = now;
	b->ops_at_progress = b->ops;
}

/* Fill pfd with every socket of every client still running; owner maps back. */
static size_t bench_pollset(struct bench *b, struct pollfd *pfd, uint32_t *owner,
			    uint64_t *due)
{
	size_t k = 0, m, j;
	uint32_t i;
	int fds[WIRE_MAX_REPLICAS];

	for (i = 0; i < b->o.clients; i++) {
		if (client_state(b->c[i].cl) != CLIENT_PENDING)
			continue;
		m = client_fds(b->c[i].cl, fds, WIRE_MAX_REPLICAS);
		for (j = 0; j < m; j++) {
			pfd[k].fd = fds[j];
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
			owner[k++] = i;
		}
		if (client_next_deadline(b->c[i].cl) < *due)
			*due = client_next_deadline(b->c[i].cl);
	}
	return k;
}

/* One round: poll, then let every client read, tick, and start its next op. */
static int bench_round(struct bench *b, struct pollfd *pfd, uint32_t *owner, uint8_t *ready)
{
	uint64_t now = client_mono_us(), due = b->t_progress + 1000000;
	size_t k = bench_pollset(b, pfd, owner, &due), j;
	uint64_t wait_ms = due > now ? (due - now + 999) / 1000 : 0;
	uint32_t i;
	int st, running = 0;

	if (k == 0)
		return 0;
	poll(pfd, k, (int)(wait_ms > CLIENT_POLL_CAP_MS ? CLIENT_POLL_CAP_MS : wait_ms));
	memset(ready, 0, b->o.clients);
	for (j = 0; j < k; j++)
		if (pfd[j].revents)
			ready[owner[j]] = 1;
	now = client_mono_us();
	for (i = 0; i < b->o.clients; i++) {
		struct bench_client *bc = &b->c[i];

		if (ready[i])
			client_on_readable(bc->cl, now);
		st = client_on_tick(bc->cl, now);
		if (st == CLIENT_DONE || st == CLIENT_TIMEOUT)
			if (bc->next < bc->todo)
				bench_finish_op(b, bc, st, now);
		running |= client_state(bc->cl) == CLIENT_PENDING;
	}
	if (now >= b->t_progress + 1000000)
		bench_progress(b, now);
	return running;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t bench_retransmits(const struct bench *b)
{
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < b->o.clients; i++)
		sum += client_get_stats(b->c[i].cl)->retransmits;
	return sum;
}

static int bench_report(struct bench *b, uint64_t t_end)
{
	double secs = (double)(t_end - b->t_start) / 1e6;

	qsort(b->lat, b->ops, sizeof(b->lat[0]), cmp_u32);
	printf("{\"ops\":%" PRIu64 ",\"seconds\":%.3f,\"throughput\":%.1f,\"p50_us\":%" PRIu64
	       ",\"p99_us\":%" PRIu64 ",\"max_us\":%" PRIu64 ",\"errors\":%" PRIu64,
	       b->ops, secs, secs > 0 ? (double)b->ops / secs : 0.0,
	       client_percentile(b->lat, b->ops, 50), client_percentile(b->lat, b->ops, 99),
	       client_percentile(b->lat, b->ops, 100), b->errors);
	printf(",\"retransmits\":%" PRIu64, bench_retransmits(b));
	if (b->o.verify)
		printf(",\"mismatches\":%" PRIu64, b->mismatches);
	printf("}\n");
	fflush(stdout);
	if (b->mismatches)
		return CLIENT_EXIT_FAILED;
	return b->ops == 0 ? CLIENT_EXIT_NO_QUORUM : CLIENT_EXIT_OK;
}

static int bench_loop(struct bench *b)
{
	size_t nfd = (size_t)b->o.clients * WIRE_MAX_REPLICAS;
	struct pollfd *pfd = calloc(nfd, sizeof(*pfd));
	uint32_t *owner = calloc(nfd, sizeof(*owner));
	uint8_t *ready = calloc(b->o.clients, 1);
	uint32_t i;
	int rc = CLIENT_EXIT_FAILED;

	if (pfd && owner && ready) {
		b->t_start = b->t_progress = client_mono_us();
		for (i = 0; i < b->o.clients; i++)
			bench_submit(b, &b->c[i], b->t_start);
		while (bench_round(b, pfd, owner, ready))
			;
		rc = bench_report(b, client_mono_us());
	} else {
		fprintf(stderr, "byzlab-client: out of memory\n");
	}
	free(pfd);
	free(owner);
	free(ready);
	return rc;
}

static int run_bench(const struct cli *c, const struct config *cfg)
{
	struct bench b;
	int rc;

	memset(&b, 0, sizeof(b));
	buf_init(&b.op);
	if ((rc = parse_bench(c, &b.o)) == 0) {
		raise_nofile();
		rc = bench_open(&b, c, cfg);
	}
	if (rc == 0)
		rc = bench_loop(&b);
	bench_close(&b);
	return rc;
}

/* End the process without closing nng sockets: nng 1.5.2 (Debian 12) can deadlock in
 * nng_close() while a pipe callback runs (about one run in a hundred hung here, its
 * output unflushed).  The kernel closes the connections; nothing is lost, since the
 * result is already printed and the timestamp file is written before each send. */
static void exit_now(int rc)
{
	fflush(stdout);
	fflush(stderr);
	_exit(rc);
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
	exit_now(run(argc, argv));
}

static int run(int argc, char **argv)
{
	static struct config cfg;
	struct cli c;
	char err[1024];
	int rc = parse_cli(&c, argc, argv);

	if (rc >= 0)
		return rc;
	if (config_load(c.config, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-client: %s\n", err);
		return CLIENT_EXIT_USAGE;
	}
	if (strcmp(c.argv[0], "status") == 0) {
		if ((rc = check_args(&c, 0)) != 0)
			return rc;
		return client_status(&cfg, c.timeout_set ? c.timeout_ms : CLIENT_STATUS_TIMEOUT_MS,
				     stdout);
	}
	if (strcmp(c.argv[0], "bench") == 0)
		return run_bench(&c, &cfg);
	return run_op(&c, &cfg);
}
