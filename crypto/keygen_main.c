/* byzlab-keygen - generate the Ed25519 key pairs of a cluster.
 *
 *   byzlab-keygen --out DIR --replicas N --clients M
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 * Existing key pairs in DIR are kept, so re-running with more clients only adds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "crypto/crypto.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: byzlab-keygen --out DIR --replicas N --clients M\n"
		"\n"
		"Writes DIR/replica-I.{pub,key} for I in 0..N-1 and DIR/client-J.{pub,key}\n"
		"for J in 0..M-1 (Ed25519; .key files mode 0600, DIR created 0700).\n"
		"Existing pairs are kept.  1 <= N <= %d, 0 <= M <= %d.\n",
		WIRE_MAX_REPLICAS, WIRE_MAX_CLIENTS);
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"replicas", required_argument, NULL, 'r'},
		{"clients", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	int replicas = -1, clients = -1, c;
	char err[512];

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'r':
			if (parse_int(optarg, 1, WIRE_MAX_REPLICAS, &replicas) != 0)
				return bad_usage("--replicas must be an integer in 1..%d",
						 WIRE_MAX_REPLICAS);
			break;
		case 'c':
			if (parse_int(optarg, 0, WIRE_MAX_CLIENTS, &clients) != 0)
				return bad_usage("--clients must be an integer in 0..%d",
						 WIRE_MAX_CLIENTS);
			break;
		case 'h': usage(stdout); return 0;
		default:
			return bad_usage("unknown option or missing argument: %s",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument: %s", argv[optind]);
	if (out == NULL || *out == '\0' || replicas < 0 || clients < 0)
		return bad_usage("--out, --replicas and --clients are required");

	if (crypto_setup() != 0) {
		fprintf(stderr, "byzlab-keygen: libsodium initialisation failed\n");
		return 1;
	}
	if (key_generate_all(out, replicas, clients, err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-keygen: %s\n", err);
		return 1;
	}
	printf("keys for %d replicas and %d clients in %s\n", replicas, clients, out);
	return 0;
}
