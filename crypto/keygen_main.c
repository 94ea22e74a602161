/* byzlab-keygen - generate the Ed25519 key pairs of a cluster.
 *
 *   byzlab-keygen --out DIR --replicas N --clients M
 *   byzlab-keygen --cluster DIR --protocol P --f F [--auth A] [--base-port P] [--host H]
 *                 [--clients M] [--set KEY=VALUE ...] [--fault KEY=VALUE ...]
 *                 [--metrics] [--no-keys] [--force]
 *
 * The second form is the one program that writes cluster.ini (issue 15 item 4):
 * ./byzlab cluster init, the docker init service, experiments/ and the tests call it
 * (config/cluster_write.c builds the text; n comes from protocol_n() alone).
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 * Existing key pairs in DIR are kept, so re-running with more clients only adds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cluster_write.h"
#include "crypto/crypto.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: byzlab-keygen --out DIR --replicas N --clients M\n"
		"       byzlab-keygen --cluster DIR --protocol pbft|vr|single|hotstuff --f F\n"
		"                     [--auth sig|mac|none] [--base-port P] [--host H]\n"
		"                     [--clients M] [--set KEY=VALUE ...] [--fault KEY=VALUE ...]\n"
		"                     [--wan PRESET] [--region KEY=VALUE ...] [--metrics]\n"
		"                     [--no-keys] [--force]\n"
		"\n"
		"--out: writes DIR/replica-I.{pub,key} for I in 0..N-1 and DIR/client-J.{pub,key}\n"
		"for J in 0..M-1 (Ed25519; .key files mode 0600, DIR created 0700).\n"
		"Existing pairs are kept.  1 <= N <= %d, 0 <= M <= %d.\n"
		"\n"
		"--cluster: writes DIR/cluster.ini for PROTOCOL and F (n = 3f+1, 2f+1 or 1) and,\n"
		"unless --no-keys, the keys it names (DIR/keys/: n replicas, M clients).  Replica "
		"I\n"
		"listens on tcp://H:P+I (peers), P+100+I (clients), P+200+I (admin); a host with\n"
		"{i} in it (replica{i}) gives each replica its own host, all on P, P+100, P+200.\n"
		"Defaults: auth sig, P %d, H 127.0.0.1, M %d (also the minimum).  --set adds or\n"
		"replaces a [cluster] key (batch_max=8, sync=none, keys=/abs/dir, ...); the file\n"
		"is parsed back before it replaces DIR/cluster.ini, so a key the replica would\n"
		"refuse is refused here (exit 2).  --fault adds a [faults] line (drop=0.1,\n"
		"delay.2=5, ...).  --wan PRESET (three-continents, one-datacenter) adds the WAN\n"
		"model's [regions] table and a region.I line per replica and region.client\n"
		"(a --fault region.I=NAME or region.client=NAME replaces the preset's); --region\n"
		"adds a [regions] line (local=0.2,0.05, us/eu=20,1: one-way ms, mean,jitter).\n"
		"--metrics: replica I also serves Prometheus metrics at http://H:P+300+I/metrics\n"
		"(its metrics key).  An existing cluster.ini is kept unless --force.\n",
		WIRE_MAX_REPLICAS, WIRE_MAX_CLIENTS, CLUSTER_DEFAULT_PORT, CLUSTER_MIN_CLIENTS);
}

/* Strict decimal in [lo, hi]: no sign tricks, no trailing junk. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("byzlab-keygen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return 2;
}

struct args {
	const char *out, *cluster;
	int replicas, clients, no_keys, force;
	int have_protocol, have_f;
	struct cluster_spec spec;
};

static int parse_protocol(const char *v, enum protocol *p)
{
	return protocol_parse(v, p);
}

/* One option of the --cluster form; 0, or an exit code. */
static int cluster_opt(struct args *a, int c, const char *v)
{
	int x;

	switch (c) {
	case 'C': a->cluster = v; return 0;
	case 'p':
		if (parse_protocol(v, &a->spec.protocol))
			return bad_usage("--protocol pbft|vr|single|hotstuff, not '%.40s'", v);
		a->have_protocol = 1;
		return 0;
	case 'f':
		if (parse_int(v, 0, WIRE_MAX_REPLICAS, &x))
			return bad_usage("--f must be an integer in 0..%d, not '%.40s'",
					 WIRE_MAX_REPLICAS, v);
		a->spec.f = (uint32_t)x;
		a->have_f = 1;
		return 0;
	case 'a':
		if (strcmp(v, "sig") && strcmp(v, "mac") && strcmp(v, "none"))
			return bad_usage("--auth sig|mac|none, not '%.40s'", v);
		a->spec.auth = v;
		return 0;
	case 'P':
		if (parse_int(v, 1024, 65535, &x))
			return bad_usage("--base-port must be an integer in 1024..65535");
		a->spec.base_port = (uint32_t)x;
		return 0;
	case 'H': a->spec.host = v; return 0;
	case 's':
		if (a->spec.n_set == CLUSTER_SET_MAX)
			return bad_usage("at most %d --set", CLUSTER_SET_MAX);
		a->spec.set[a->spec.n_set++] = v;
		return 0;
	case 'x':
		if (a->spec.n_fault == CLUSTER_SET_MAX)
			return bad_usage("at most %d --fault", CLUSTER_SET_MAX);
		a->spec.fault[a->spec.n_fault++] = v;
		return 0;
	case 'w':
		if (!wan_preset_find(v))
			return bad_usage("--wan: %s, not '%.40s'", wan_preset_names(), v);
		a->spec.wan = v;
		return 0;
	case 'R':
		if (a->spec.n_region == CLUSTER_SET_MAX)
			return bad_usage("at most %d --region", CLUSTER_SET_MAX);
		a->spec.region[a->spec.n_region++] = v;
		return 0;
	case 'n': a->no_keys = 1; return 0;
	case 'm': a->spec.metrics = 1; return 0;
	case 'F': a->force = 1; return 0;
	}
	return bad_usage("unknown option");
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"replicas", required_argument, NULL, 'r'},
		{"clients", required_argument, NULL, 'c'},
		{"cluster", required_argument, NULL, 'C'},
		{"protocol", required_argument, NULL, 'p'},
		{"f", required_argument, NULL, 'f'},
		{"auth", required_argument, NULL, 'a'},
		{"base-port", required_argument, NULL, 'P'},
		{"host", required_argument, NULL, 'H'},
		{"set", required_argument, NULL, 's'},
		{"fault", required_argument, NULL, 'x'},
		{"wan", required_argument, NULL, 'w'},
		{"region", required_argument, NULL, 'R'},
		{"no-keys", no_argument, NULL, 'n'},
		{"metrics", no_argument, NULL, 'm'},
		{"force", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': a->out = optarg; break;
		case 'r':
			if (parse_int(optarg, 1, WIRE_MAX_REPLICAS, &a->replicas) != 0)
				return bad_usage("--replicas must be an integer in 1..%d",
						 WIRE_MAX_REPLICAS);
			break;
		case 'c':
			if (parse_int(optarg, 0, WIRE_MAX_CLIENTS, &a->clients) != 0)
				return bad_usage("--clients must be an integer in 0..%d",
						 WIRE_MAX_CLIENTS);
			break;
		case 'h': usage(stdout); exit(0);
		case '?':
		case ':':
			return bad_usage("unknown option or missing argument: %s",
					 argv[optind - 1]);
		default:
			if ((r = cluster_opt(a, c, optarg)) != 0)
				return r;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument: %s", argv[optind]);
	return 0;
}

/* --out DIR --replicas N --clients M */
static int make_keys(const struct args *a)
{
	char err[512];

	if (a->out == NULL || *a->out == '\0' || a->replicas < 0 || a->clients < 0)
		return bad_usage("--out, --replicas and --clients are required");
	if (key_generate_all(a->out, a->replicas, a->clients, err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-keygen: %s\n", err);
		return 1;
	}
	printf("keys for %d replicas and %d clients in %s\n", a->replicas, a->clients, a->out);
	return 0;
}

/* --cluster DIR ...: stage cluster.ini (parsed back), make the keys it names, commit. */
static int make_cluster(struct args *a)
{
	struct config *c;
	char err[1024];
	int r;

	if (a->out || a->replicas >= 0)
		return bad_usage("--cluster writes the keys it needs: no --out or --replicas");
	if (!*a->cluster || !a->have_protocol || !a->have_f)
		return bad_usage("--cluster DIR needs --protocol and --f");
	a->spec.clients = a->clients > 0 ? (uint32_t)a->clients : CLUSTER_MIN_CLIENTS;
	c = malloc(sizeof *c);
	if (!c)
		return 1;
	r = cluster_stage(a->cluster, &a->spec, a->force, c, err, sizeof err);
	if (r == CLUSTER_OK && !a->no_keys &&
	    key_generate_all(c->keys, (int)c->n, (int)c->clients, err, sizeof err) != 0) {
		cluster_abort(a->cluster);
		r = CLUSTER_FAILED;
	}
	if (r == CLUSTER_OK)
		r = cluster_commit(a->cluster, !a->no_keys, err, sizeof err);
	if (r == CLUSTER_OK)
		printf("cluster: %s f=%u n=%u auth=%s ports %u.. in %s\n",
		       protocol_name(c->protocol), (unsigned)c->f, (unsigned)c->n,
		       a->spec.auth ? a->spec.auth : "sig",
		       (unsigned)(a->spec.base_port ? a->spec.base_port : CLUSTER_DEFAULT_PORT),
		       a->cluster);
	else
		fprintf(stderr, "byzlab-keygen: %s\n", err);
	free(c);
	return r;
}

int main(int argc, char **argv)
{
	struct args a = {.replicas = -1, .clients = -1};
	int r = parse_args(argc, argv, &a);

	if (r != 0)
		return r;
	if (!a.cluster && (a.spec.n_set || a.spec.n_fault || a.have_protocol || a.have_f ||
			   a.spec.auth || a.spec.wan || a.spec.n_region || a.spec.base_port ||
			   a.spec.host || a.no_keys || a.force || a.spec.metrics))
		return bad_usage("--protocol, --f, --set, ... belong to --cluster DIR");
	if (crypto_setup() != 0) {
		fprintf(stderr, "byzlab-keygen: libsodium initialisation failed\n");
		return 1;
	}
	return a.cluster ? make_cluster(&a) : make_keys(&a);
}
