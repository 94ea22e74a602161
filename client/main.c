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

#include "client/admin.h"
#include "client/bench.h"
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
	"  faults I SPEC     set replica I's network and clock faults (\"k=v;k=v\": drop=P,\n"
	"                    drop.J=P, delay=MS[,tail=pareto], dup=P, reorder=P,\n"
	"                    partition=A,B/C,D, oneway=J, clock_rate=R,\n"
	"                    pause_before_reply=MS; or none) through its\n"
	"                    admin address; prints its status line.  Replaces its faults\n"
	"  bench [OPTIONS]   closed-loop (or open-loop) load from C clients (ids J..J+C-1)\n"
	"                    in one process; progress on stderr every second; at the end\n"
	"                    one JSON object on stdout (below).  Exit 3 if nothing completed.\n"
	"    --clients C     clients (default 1), each with one request outstanding\n"
	"    --ops N         measured operations in total (default 1000)\n"
	"    --seconds S     measure for S seconds instead (with --ops: whichever first)\n"
	"    --warmup S      run S seconds first, excluded from every statistic\n"
	"    --rate R        open loop: R operations/s in total at fixed intervals, each\n"
	"                    given to an idle client; latency from the intended start\n"
	"    --payload B     null operations padded to B bytes (default 0); with --mix, the\n"
	"                    size of the values put\n"
	"    --mix R:W       gets and puts in the ratio R:W (or a percentage of gets) on\n"
	"                    keys k0..k<K-1> (--keys K, default 1000)\n"
	"    --verify        each client alternates put and get of its own keys and checks\n"
	"                    every get returns its last put (exit 1 on a mismatch)\n"
	"    --cost          read replica status counters and /proc CPU times at the start\n"
	"                    and end of the measured interval: msgs_per_op, bytes_per_op,\n"
	"                    sig_ops_per_op, mac_ops_per_op, cpu_ms_per_op, and\n"
	"                    agreement_msgs_per_op (replica sends but the replies)\n"
	"    --hist          add the latency histogram buckets [low_us,high_us,count]\n"
	"    --history FILE  one JSON line per operation (invocation/response times)\n"
	"    --interval MS   time-series resolution (default 1000)\n"
	"    --separate      one connection per client and replica (default: the clients\n"
	"                    share one per replica, and replies come coalesced)\n"
	"    --bad-mac K     the first K clients are faulty (auth = mac): their MACs are\n"
	"                    garbled in every slot but the primary's and they never sign;\n"
	"                    their requests time out and count as errors (issue 14)\n"
	"    --quiet         no progress lines\n"
	"                    JSON: ops, seconds, throughput, p50_us, p90_us, p99_us, p999_us,\n"
	"                    max_us, mean_us, errors (timed out), retransmits,\n"
	"                    readonly_retries (read_only = on: gets that went through\n"
	"                    agreement after all), mismatches (--verify), series\n"
	"                    (completions per interval), cost fields\n"
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
	int argc; /* CMD and its arguments */
	char **argv;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "byzlab-client: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see byzlab-client --help)\n");
	return CLIENT_EXIT_USAGE;
}

static int parse_global(struct cli *c, int argc, char **argv, int *i)
{
	const char *v;

	if ((v = client_opt_value(argc, argv, i, "--config")) != NULL) {
		c->config = v;
		return *v ? 0 : usage_error("%s: missing file", "--config");
	}
	if ((v = client_opt_value(argc, argv, i, "--client-id")) != NULL)
		return client_parse_u32(v, 0, WIRE_MAX_CLIENTS - 1, &c->client_id) == 0
			       ? 0
			       : usage_error("--client-id: '%s' is not a client id", v);
	if ((v = client_opt_value(argc, argv, i, "--timeout")) != NULL) {
		c->timeout_set = 1;
		return client_parse_u32(v, 1, 3600000, &c->timeout_ms) == 0
			       ? 0
			       : usage_error("--timeout: '%s' is not 1..3600000 ms", v);
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

/* faults I SPEC (client/admin.h) */
static int run_faults(const struct cli *c, const struct config *cfg)
{
	uint32_t id;
	int rc = check_args(c, 2);
	if (rc != 0)
		return rc;
	if (client_parse_u32(c->argv[1], 0, WIRE_MAX_REPLICAS - 1, &id) != 0)
		return usage_error("faults: '%s' is not a replica id", c->argv[1]);
	return client_admin_faults(cfg, id, c->argv[2],
				   c->timeout_set ? c->timeout_ms : CLIENT_STATUS_TIMEOUT_MS,
				   stdout, stderr);
}

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
	if (strcmp(c.argv[0], "faults") == 0)
		return run_faults(&c, &cfg);
	if (strcmp(c.argv[0], "bench") == 0)
		return bench_main(&cfg, c.client_id, c.timeout_ms, c.argc, c.argv);
	return run_op(&c, &cfg);
}
