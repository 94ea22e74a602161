/* main.c - byzlab-replica --config FILE --id I [--byz BEHAVIOUR[:ARG]]
 *
 * Checks everything that can be checked before anything starts (exit 2), then hands
 * over to the driver (replica.c) until SIGTERM or SIGINT, and closes cleanly (exit 0).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/byz.h"
#include "replica/faults.h"
#include "replica/replica.h"

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *to)
{
	fprintf(to, "usage: byzlab-replica --config FILE --id I [--byz BEHAVIOUR[:ARG]]\n"
		    "behaviours: silent equivocate bad-digest forge replay wrong-reply\n"
		    "            slow-primary:MS fake-view-change flood:RATE selective:IDS\n"
		    "            (replica/byz.h; README \"Lying replicas\")\n");
}

static int die(int code, const char *fmt, const char *what)
{
	fprintf(stderr, "byzlab-replica: ");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	return code;
}

/* A decimal number without sign, spaces or trailing junk, <= max. */
static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* --byz (product.md "Lying replicas"; replica/byz.h) and the [faults] section
 * (replica/faults.h): refused before anything starts. */
static int check_layers(const char *byz, const struct config *cfg, uint32_t id, char *err,
			size_t errlen)
{
	char why[512];
	if (byz) {
		struct byz_cfg bc;
		if (byz_parse(byz, &bc, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "--byz '%.64s': %s", byz, why);
			return -1;
		}
		if ((bc.kind == BYZ_SELECTIVE || bc.kind == BYZ_MAC_POISON ||
		     bc.kind == BYZ_SPLIT) &&
		    (bc.peers >> cfg->n) != 0) {
			snprintf(err, errlen, "--byz '%.64s': %.300s has only replicas 0..%u", byz,
				 cfg->path, cfg->n - 1);
			return -1;
		}
	}
	struct faults_cfg fc;
	if (faults_parse(cfg->faults, cfg->n, id, &fc, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%.300s: [faults]: %.400s", cfg->path, why);
		return -1;
	}
	return 0;
}

struct args {
	const char *config;
	const char *id;
	const char *byz;
};

/* Returns 0, or an exit code. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"id", required_argument, NULL, 'i'},
					     {"byz", required_argument, NULL, 'b'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int ch;
	memset(a, 0, sizeof(*a));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': a->config = optarg; break;
		case 'i': a->id = optarg; break;
		case 'b': a->byz = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !a->config || !a->id) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* SIGTERM/SIGINT only set a flag.  They stay blocked (in every thread nng starts
 * later, which inherit the mask) except while the loop waits in ppoll(), so the
 * wait is interrupted at once and no signal lands on a thread that ignores it. */
static void setup_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

static int run(const struct args *a)
{
	static struct config cfg;
	struct auth_ctx auth;
	char err[1024];
	unsigned long id;
	if (config_load(a->config, &cfg, err, sizeof(err)) != 0)
		return die(2, "%s", err);
	if (parse_num(a->id, WIRE_MAX_REPLICAS, &id) != 0 || id >= cfg.n) {
		fprintf(stderr, "byzlab-replica: --id '%.32s': must be a replica id 0..%u of %s\n",
			a->id, cfg.n - 1, cfg.path);
		return 2;
	}
	if (config_check_replica_keys(&cfg, (uint32_t)id, err, sizeof(err)) != 0)
		return die(2, "%s", err);
	if (crypto_setup() != 0)
		return die(1, "%s", "cannot initialise libsodium");
	memset(&auth, 0, sizeof(auth));
	if (auth_load(&auth, (enum auth_mode)cfg.auth, cfg.keys, cfg.n, cfg.clients, 0,
		      (uint32_t)id, err, sizeof(err)) != 0)
		return die(2, "%s", err);
	int code = 0;
	const struct core_ops *ops = core_ops_for(cfg.protocol);
	if (check_layers(a->byz, &cfg, (uint32_t)id, err, sizeof(err)) != 0) {
		code = die(2, "%s", err);
	} else if (!ops) {
		code = die(2, "protocol %s not implemented yet", protocol_name(cfg.protocol));
	} else {
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "replica %lu", id);
		rlog_set_prefix(prefix);
		sigset_t waitmask;
		setup_signals(&waitmask);
		struct replica *r;
		if (replica_open(&r, &cfg, (uint32_t)id, ops, &auth, a->byz, err, sizeof(err)) !=
		    0) {
			code = die(1, "%s", err);
		} else {
			code = replica_run(r, &stop_flag, &waitmask) == 0 ? 0 : 1;
			replica_close(r);
			rlog("stopped");
		}
	}
	auth_free(&auth);
	return code;
}

int main(int argc, char **argv)
{
	struct args a;
	int code = parse_args(argc, argv, &a);
	if (code)
		return code;
	return run(&a);
}
