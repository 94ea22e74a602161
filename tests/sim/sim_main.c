/* sim_main.c - byzlab-sim's command line: parse, run seeds, print verdicts.
 *
 * One line per seed; on a violation the seed, the property, a command that replays
 * it, and the last events.  Exit: 0 all seeds ok (with --expect-violation: some seed
 * found a violation), 1 otherwise, 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/sim.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: byzlab-sim [--protocol pbft|vr|single|hotstuff] [--f F] (--seed S | "
		"--seeds A-B)\n"
		"                  [--ops N] [--clients C] [--faults SPEC] [--byz I=BEHAVIOUR "
		"...]\n"
		"                  [--random-liars K]\n"
		"                  [--crash-restart] [--pauses] [--read-only] [--digest-replies]\n"
		"                  [--auth none|mac|sig] [--bad-mac-client] [--max-views V]\n"
		"                  [--trace FILE]\n"
		"                  [--robust] [--view-timeout MS] [--min-rate-vs-faultfree PCT]\n"
		"                  [--plant-bug NAME] [--expect-evidence I]\n"
		"                  [--expect-violation] [--keep-going] [-q] [-v]\n"
		"\n"
		"Runs the replica's own protocol cores on a simulated network, clock and disk, "
		"all\n"
		"driven by one seed: the same seed gives the same run, byte for byte.  After each "
		"run\n"
		"it checks agreement, validity, client consistency, linearizability and liveness.\n"
		"\n"
		"  --protocol P        pbft (default); vr and single use core_ops_for() as they "
		"land\n"
		"  --f F               faults tolerated (default 1): n = 3f+1 (pbft), 2f+1 (vr)\n"
		"  --seed S            one seed;  --seeds A-B  every seed from A to B\n"
		"  --ops N             client operations per run (default 150)\n"
		"  --clients C         simulated clients (default 3, at most 16)\n"
		"  --faults SPEC       network and clock faults, comma separated:\n"
		"                        drop=P      lose each message copy with probability P\n"
		"                        dup=P       duplicate each copy with probability P\n"
		"                        reorder=P   hold a copy back by up to 30 ms with "
		"probability P\n"
		"                        delay=pareto|uniform\n"
		"                                    pareto: base + Pareto(1 ms, 1.2) tail, up to "
		"5 s\n"
		"                                    (uniform, the default: base + 0..3 ms "
		"jitter)\n"
		"                        partition   random two-way splits, healed after 0.2-4 s\n"
		"                        oneway      random one-way link cuts, healed after 0.2-4 "
		"s\n"
		"                        drift       each replica's clock runs at 0.9x-1.1x\n"
		"                        crash       same as --crash-restart;  pause  same as "
		"--pauses\n"
		"                        all         "
		"drop=0.05,dup=0.02,reorder=0.05,delay=pareto,\n"
		"                                    partition,oneway,drift\n"
		"                        none        no faults (the default)\n"
		"  --byz I=B           replica I lies: %s, or twins (two cores with\n"
		"                      replica I's identity, each hearing its own copy of every "
		"message)\n"
		"  --random-liars K    K more liars, at replicas and with behaviours (twins too) "
		"and\n"
		"                      arguments drawn by each seed; printed with every verdict\n"
		"  --crash-restart     crash correct replicas and restart them from their virtual "
		"disk\n"
		"  --pauses            pause correct replicas (up to 4 s; they wake as zombies)\n"
		"  --stalls MS         a uniformly slow machine: every 0.1-0.6 s all replicas "
		"pause\n"
		"                      together for MS/4..MS ms (robust mode must not blame the\n"
		"                      primary)\n"
		"  --read-only         pbft: PBFT's read-only optimization (section 5.1.3): "
		"replicas\n"
		"                      answer read-only gets at once; clients send gets "
		"read-only\n"
		"                      to all replicas and need 2f+1 matching replies for every\n"
		"                      request; a failed read-only get is retried read-write\n"
		"  --digest-replies    pbft: PBFT's digest replies (section 5.1.1): one replica "
		"per\n"
		"                      request sends the result, the others its digest\n"
		"  --auth MODE         none (default: no authenticators, authorship emulated), "
		"mac or\n"
		"                      sig: the real MAC authenticators or Ed25519 signatures, "
		"fixed keys\n"
		"  --bad-mac-client    a faulty client: its requests' MACs are good in the "
		"primary's\n"
		"                      slot only (with --auth mac; with --robust also a bad\n"
		"                      signature); it is owed no answer\n"
		"  --max-views V       fail if a correct replica goes beyond view V\n"
		"  --trace FILE        write every event of the run to FILE (single seed only)\n"
		"  --wan PRESET        issue 20: every link's delay is the WAN model's "
		"(three-continents,\n"
		"                      one-datacenter; replica/wan.h), replica i in the preset's "
		"region\n"
		"  --wan-client REGION the clients' region (default: the preset's)\n"
		"  --wan-check PCT     fail a seed whose median request latency is more than "
		"PCT%% off\n"
		"                      the model's prediction (primary 0)\n"
		"  --wan-predict       print the model's prediction as JSON and run nothing\n"
		"  --robust            pbft: robust mode (cluster.ini robust = on): backups "
		"watch the\n"
		"                      primary's throughput and PRE-PREPARE heartbeat "
		"(Aardvark)\n"
		"  --read-lease MS     vr: read_lease_ms (leader leases, docs/VR.md); gets go\n"
		"                      flagged read-only to the primary\n"
		"  --clock-rate I=R    replica I's clock runs at R x simulated time (drift\n"
		"                      beyond or within the lease's bound of 12%%)\n"
		"  --pause-before-reply MS  a replica that answers a read from its lease stops\n"
		"                      MS between the lease check and the reply (a zombie)\n"
		"  --view-timeout MS   view_timeout_ms instead of the seed's draw (200, 500 or "
		"1000)\n"
		"  --window W|default  pbft window W (checkpoint_interval W/2) instead of the "
		"seed's\n"
		"                      draw (16, 32 or 64); default: cluster.ini's for this f "
		"and\n"
		"                      --auth (256, lower where the worst NEW-VIEW would not "
		"fit)\n"
		"  --full-window       pbft: checkpoint_interval = window, and the primary of "
		"view 0\n"
		"                      pauses 5 s once it executed window-1 numbers: the view\n"
		"                      change carries a full window of prepared certificates\n"
		"  --min-rate-vs-faultfree PCT\n"
		"                      run each seed fault-free first (no faults, liars, "
		"crashes or\n"
		"                      pauses), then as asked; fail if completed operations "
		"per\n"
		"                      simulated second fall below PCT%% of the fault-free "
		"run's\n"
		"  --hotstuff-leader L reputation (default: the leader changes every view, among\n"
		"                      the replicas that authored recent blocks), rotating\n"
		"                      (plain round robin, v mod n) or stable (it changes only\n"
		"                      when a view times out)\n"
		"  --hotstuff-client C all (default: a request goes to every replica) or "
		"leaders\n"
		"                      (to the leaders of f+1 views; hotstuff_client)\n"
		"  --hotstuff-keep K   committed blocks a replica keeps to serve (default 512):\n"
		"                      a replica further behind fetches a snapshot first\n"
		"  --plant-bug NAME    hotstuff: hs-two-chain-commit | hs-ignore-lock; pbft: "
		"commit-quorum-2f | skip-viewchange-certificates | "
		"skip-persist\n"
		"                      | no-peer-status (PEER_STATUS never answered: the "
		"convergence\n"
		"                      check must catch laggards left behind in the idle "
		"cluster)\n"
		"                      | readonly-writes-f1 (writes accepted with f+1 replies) |\n"
		"                      readonly-quorum-f1 (every request, read-only gets too, "
		"with\n"
		"                      f+1); the readonly-* bugs are in the client and imply "
		"--read-only\n"
		"                      | no-suspect-clients (with --auth mac: a replica never "
		"suspects\n"
		"                      a client whose MAC is garbled in its slot)\n"
		"                      | client-accept-f (the client core accepts a read-write "
		"result\n"
		"                      after f matching replies: pair it with a wrong-reply liar)\n"
		"                      | accuse-on-one-message (issue 17: a replica "
		"\"proves\" a lie\n"
		"                      from one PREPARE: the no-false-accusation checker "
		"must fail)\n"
		"                      | forensics-accuse-one (issue 17: with --forensics, the "
		"analysis\n"
		"                      names the sender of one lone COMMIT: it must fail)\n"
		"                      | forensics-vouched-omission (issue 17: the omission "
		"rule takes\n"
		"                      vouched COMMITs too: correct replicas get named, it must "
		"fail)\n"
		"  --forensics         (--auth sig) keep each correct replica's transcript and, at "
		"the end\n"
		"                      of a run, name who signed what no correct replica signs "
		"(CCS'21\n"
		"                      forensics, docs/PROTOCOL.md section 12); a correct "
		"replica named\n"
		"                      fails the run; the summary counts the runs that broke "
		"agreement\n"
		"                      and how many culprits each named\n"
		"  --twins-split       each twins replica's two cores serve two different halves "
		"of the\n"
		"                      correct replicas (the Twins scenario): more than f twins "
		"break\n"
		"                      agreement\n"
		"  --forensics-k K     transcripts keep the slots of the last K checkpoints "
		"(default 2)\n"
		"  --expect-culprits M exit 0 iff some run broke agreement and every such run "
		"named at\n"
		"                      least M culprits, all liars, every proof verifying\n"
		"  --violations N      stop after N runs that broke agreement (with --keep-going)\n"
		"                      | ignore-proofs (issue 17: proofs are kept and sent, "
		"never acted\n"
		"                      upon: the proven-primary checker must fail)\n"
		"  --expect-evidence I fail a run in which no correct replica holds evidence "
		"against\n"
		"                      replica I (issue 17: e.g. --auth sig --byz "
		"0=equivocate)\n"
		"  --expect-replaced I fail a run in which no correct replica voted replica I "
		"out of\n"
		"                      its view as a proven primary (issue 17)\n"
		"  --expect-violation  exit 0 iff some seed finds a violation (checkers can fail)\n"
		"  --keep-going        run every seed even after a violation\n"
		"  --counts            after each seed, one JSON line: message copies and bytes\n"
		"                      per wire type, signatures and MACs made and verified\n"
		"                      (replicas and clients), views (experiments/scale.py)\n"
		"  -q                  print only violations and the summary;  -v  more per seed\n"
		"\n"
		"At most f replicas are down (crashed or paused) at once.  Faults stop once 3/4 "
		"of\n"
		"the operations completed or after 20 simulated seconds; from then on every "
		"operation\n"
		"must complete within the liveness bound.  Liars stay.\n"
		"Exit: 0 ok, 1 violation (or none found with --expect-violation), 2 usage error.\n",
		byz_implemented_list());
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_prob(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= 0.0 && v <= 0.5))
		return -1;
	*out = v;
	return 0;
}

static int parse_faults(const char *spec, struct sim_opts *o, char *err, size_t errlen)
{
	char copy[256];
	if (strlen(spec) >= sizeof(copy)) {
		snprintf(err, errlen, "--faults: too long");
		return -1;
	}
	snprintf(o->faults_text, sizeof(o->faults_text), "%s", spec);
	strcpy(copy, spec);
	struct fault_spec *fs = &o->faults;
	for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = 0;
		int bad = 0;
		if (!strcmp(tok, "all") && !eq) {
			fs->drop = 0.05;
			fs->dup = 0.02;
			fs->reorder = 0.05;
			fs->pareto = fs->partition = fs->oneway = fs->drift = true;
		} else if (!strcmp(tok, "none") && !eq) {
			memset(fs, 0, sizeof(*fs));
		} else if (!strcmp(tok, "drop") && eq) {
			bad = parse_prob(eq, &fs->drop);
		} else if (!strcmp(tok, "dup") && eq) {
			bad = parse_prob(eq, &fs->dup);
		} else if (!strcmp(tok, "reorder") && eq) {
			bad = parse_prob(eq, &fs->reorder);
		} else if (!strcmp(tok, "delay") && eq) {
			if (!strcmp(eq, "pareto"))
				fs->pareto = true;
			else if (!strcmp(eq, "uniform"))
				fs->pareto = false;
			else
				bad = 1;
		} else if (!strcmp(tok, "partition") && !eq) {
			fs->partition = true;
		} else if (!strcmp(tok, "oneway") && !eq) {
			fs->oneway = true;
		} else if (!strcmp(tok, "drift") && !eq) {
			fs->drift = true;
		} else if (!strcmp(tok, "crash") && !eq) {
			o->crash_restart = true;
		} else if (!strcmp(tok, "pause") && !eq) {
			o->pauses = true;
		} else {
			bad = 1;
		}
		if (bad) {
			snprintf(err, errlen,
				 "--faults: bad item '%s%s%s' (probabilities are 0..0.5; see "
				 "--help)",
				 tok, eq ? "=" : "", eq ? eq : "");
			return -1;
		}
	}
	return 0;
}

static int parse_liar(const char *arg, struct sim_opts *o, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char idtext[16];
	uint64_t id;
	if (!eq || (size_t)(eq - arg) >= sizeof(idtext)) {
		snprintf(err, errlen, "--byz: expected I=BEHAVIOUR, got '%s'", arg);
		return -1;
	}
	memcpy(idtext, arg, (size_t)(eq - arg));
	idtext[eq - arg] = 0;
	if (parse_u64(idtext, &id) != 0 || id >= SIM_MAX_N) {
		snprintf(err, errlen, "--byz: bad replica id '%s'", idtext);
		return -1;
	}
	struct liar_spec *ls = &o->liar[id];
	if (ls->kind != LIAR_NONE) {
		snprintf(err, errlen, "--byz: replica %" PRIu64 " given twice", id);
		return -1;
	}
	snprintf(ls->text, sizeof(ls->text), "%s", eq + 1);
	if (!strcmp(eq + 1, "twins")) {
		ls->kind = LIAR_TWINS;
	} else {
		char why[160];
		if (byz_parse(eq + 1, &ls->byz, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "--byz %s: %s", arg, why);
			return -1;
		}
		ls->kind = LIAR_BYZ;
	}
	o->n_liars++;
	return 0;
}

static const struct {
	const char *name;
	enum plant_bug bug;
} bugs[] = {
	{"commit-quorum-2f", BUG_COMMIT_QUORUM_2F},
	{"skip-viewchange-certificates", BUG_SKIP_VC_CERTS},
	{"skip-persist", BUG_SKIP_PERSIST},
	{"no-peer-status", BUG_NO_PEER_STATUS},
	{"readonly-writes-f1", BUG_READONLY_WRITES_F1},
	{"readonly-quorum-f1", BUG_READONLY_QUORUM_F1},
	{"no-suspect-clients", BUG_NO_SUSPECT_CLIENTS},
	{"client-accept-f", BUG_CLIENT_ACCEPT_F},
	{"accuse-on-one-message", BUG_ACCUSE_ONE},
	{"forensics-accuse-one", BUG_FORENSICS_ACCUSE_ONE},
	{"forensics-vouched-omission", BUG_FORENSICS_VOUCHED_OMISSION},
	{"hs-two-chain-commit", BUG_HS_TWO_CHAIN_COMMIT},
	{"hs-ignore-lock", BUG_HS_IGNORE_LOCK},
	{"lease-no-wait", BUG_LEASE_NO_WAIT},
	{"ignore-proofs", BUG_IGNORE_PROOFS},
};

struct cli {
	struct sim_opts o;
	uint64_t first, last;
	bool have_seed;
	bool expect_violation, keep_going;
	int quiet;
	bool counts; /* --counts: a JSON line of message and crypto counts per seed */
	const char *trace_path;
	uint32_t min_rate_pct;    /* --min-rate-vs-faultfree PCT; 0 off */
	uint32_t expect_culprits; /* --expect-culprits M; 0 off */
	uint64_t violations;      /* --violations N: stop after N broke agreement; 0 off */
	char repro[1024];         /* the options that shape a run, for "reproduce:" */
};

static void repro_add(struct cli *c, const char *a, const char *b)
{
	size_t len = strlen(c->repro);
	snprintf(c->repro + len, sizeof(c->repro) - len, " %s%s%s", a, b ? " " : "", b ? b : "");
}

#define NEED_ARG()                                                        \
	do {                                                              \
		if (i + 1 >= argc) {                                      \
			snprintf(err, errlen, "%s needs an argument", a); \
			return -1;                                        \
		}                                                         \
	} while (0)

/* --wan PRESET [--wan-client REGION]: the model for n replicas. */
static int load_wan(struct sim_opts *o, uint32_t n, char *err, size_t errlen)
{
	char why[256];
	const struct wan_preset *p;
	if (!o->wan_preset) {
		if (o->wan_client || o->wan_check_pct || o->wan_predict) {
			snprintf(err, errlen,
				 "--wan-client, --wan-check and --wan-predict need --wan");
			return -1;
		}
		return 0;
	}
	if (!(p = wan_preset_find(o->wan_preset))) {
		snprintf(err, errlen, "--wan: %s, not '%s'", wan_preset_names(), o->wan_preset);
		return -1;
	}
	if (wan_preset_load(p, n, o->wan_client, &o->wan, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--wan %s: %s", o->wan_preset, why);
		return -1;
	}
	o->wan_on = true;
	return 0;
}

/* Whose proposal carries the request on an idle cluster, as the model counts it: the
 * primary of view 0 (PBFT, VR), or for HotStuff the leader of view 1, the first block
 * (rotating: v mod n); at n = 4 one closed-loop client's blocks take four views each
 * (docs/EXPERIMENTS.md "Cost as n grows"), so every request's block is led by 1. */
static uint32_t wan_leader(const struct sim_opts *o, uint32_t n)
{
	return o->protocol == PROTO_HOTSTUFF ? 1 % n : 0;
}

/* The model's prediction as one JSON line (experiments/bench.py reads it). */
static void print_wan_prediction(const struct sim_opts *o)
{
	uint32_t n = protocol_n(o->protocol, o->f);
	printf("{\"preset\":\"%s\",\"protocol\":\"%s\",\"n\":%u,\"f\":%u,\"primary\":%u,"
	       "\"predicted_us\":%" PRIu64 ",\"client\":\"%s\",\"replicas\":[",
	       o->wan_preset, protocol_name(o->protocol), n, o->f, wan_leader(o, n),
	       wan_predict_us(&o->wan, (int)o->protocol, n, o->f, wan_leader(o, n)),
	       o->wan.name[o->wan.where[WAN_CLIENT]]);
	for (uint32_t i = 0; i < n; i++)
		printf("%s\"%s\"", i ? "," : "", o->wan.name[o->wan.where[i]]);
	printf("]}\n");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* --wan-check PCT: the median latency of the completed requests against the model's
 * prediction (primary 0: a run without faults stays in view 0). */
static void check_wan(const struct cli *c, struct world *w, uint64_t seed)
{
	uint64_t *lat = malloc((w->n_hist ? w->n_hist : 1) * sizeof(*lat));
	uint32_t k = 0;
	if (!lat)
		abort();
	for (uint32_t i = 0; i < w->n_hist; i++)
		if (w->hist[i].complete_us)
			lat[k++] = w->hist[i].complete_us - w->hist[i].invoke_us;
	qsort(lat, k, sizeof(*lat), cmp_u64);
	uint64_t median = k ? lat[k / 2] : 0;
	free(lat);
	uint64_t pred = wan_predict_us(&c->o.wan, (int)c->o.protocol, w->n, w->f,
				       wan_leader(&c->o, w->n));
	double off = pred ? 100.0 * ((double)median - (double)pred) / (double)pred : 100.0;
	if (!c->quiet)
		printf("seed %" PRIu64 " wan %s: median latency %.3f ms of %u requests, model %.3f "
		       "ms (%+.2f%%)\n",
		       seed, c->o.wan_preset, (double)median / 1000, k, (double)pred / 1000, off);
	if (!k || off > c->o.wan_check_pct || off < -(double)c->o.wan_check_pct)
		sim_fail(w, "wan-latency",
			 "median request latency %.3f ms is %+.2f%% off the WAN model's %.3f ms "
			 "(at most %u%% allowed)",
			 (double)median / 1000, off, (double)pred / 1000, c->o.wan_check_pct);
}

static int parse_args(int argc, char **argv, struct cli *c, char *err, size_t errlen)
{
	struct sim_opts *o = &c->o;
	o->protocol = PROTO_PBFT;
	o->f = 1;
	o->ops = 150;
	o->clients = 3;
	o->expect_evidence = -1;
	o->forensics_k = 2;
	o->clock_rate_id = -1;
	o->expect_replaced = -1;
	uint64_t v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--protocol")) {
			NEED_ARG();
			const char *p = argv[++i];
			if (protocol_parse(p, &o->protocol) != 0) {
				snprintf(err, errlen,
					 "--protocol: pbft, vr, single or hotstuff, not '%s'", p);
				return -1;
			}
			repro_add(c, a, p);
		} else if (!strcmp(a, "--f")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v > SIM_MAX_F) {
				snprintf(err, errlen, "--f: 0..%u, not '%s'", SIM_MAX_F, argv[i]);
				return -1;
			}
			o->f = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--seed")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0) {
				snprintf(err, errlen, "--seed: not a number: '%s'", argv[i]);
				return -1;
			}
			c->first = c->last = v;
			c->have_seed = true;
		} else if (!strcmp(a, "--seeds")) {
			NEED_ARG();
			char range[64];
			snprintf(range, sizeof(range), "%s", argv[++i]);
			char *dash = strchr(range, '-');
			uint64_t lo, hi;
			if (dash)
				*dash = 0;
			if (!dash || parse_u64(range, &lo) || parse_u64(dash + 1, &hi) || hi < lo) {
				snprintf(err, errlen, "--seeds: expected A-B with A <= B, not '%s'",
					 argv[i]);
				return -1;
			}
			c->first = lo;
			c->last = hi;
			c->have_seed = true;
		} else if (!strcmp(a, "--ops")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > SIM_MAX_OPS) {
				snprintf(err, errlen, "--ops: 1..%u, not '%s'", SIM_MAX_OPS,
					 argv[i]);
				return -1;
			}
			o->ops = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--clients")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > SIM_MAX_CLIENTS) {
				snprintf(err, errlen, "--clients: 1..%u, not '%s'", SIM_MAX_CLIENTS,
					 argv[i]);
				return -1;
			}
			o->clients = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--faults")) {
			NEED_ARG();
			if (parse_faults(argv[++i], o, err, errlen) != 0)
				return -1;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--byz")) {
			NEED_ARG();
			if (parse_liar(argv[++i], o, err, errlen) != 0)
				return -1;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--random-liars")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v > SIM_MAX_N) {
				snprintf(err, errlen, "--random-liars: 0..%u, not '%s'", SIM_MAX_N,
					 argv[i]);
				return -1;
			}
			o->random_liars = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--crash-restart")) {
			o->crash_restart = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--pauses")) {
			o->pauses = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--stalls")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > 10000) {
				snprintf(err, errlen, "--stalls: 1..10000 ms, not '%s'", argv[i]);
				return -1;
			}
			o->stalls_ms = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--read-only")) {
			o->read_only = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--auth")) {
			NEED_ARG();
			const char *m = argv[++i];
			if (!strcmp(m, "none"))
				o->auth = AUTH_MODE_NONE;
			else if (!strcmp(m, "mac"))
				o->auth = AUTH_MODE_MAC;
			else if (!strcmp(m, "sig"))
				o->auth = AUTH_MODE_SIG;
			else {
				snprintf(err, errlen, "--auth: none, mac or sig, not '%s'", m);
				return -1;
			}
			repro_add(c, a, m);
		} else if (!strcmp(a, "--bad-mac-client")) {
			o->bad_mac_client = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--max-views")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &o->max_views) != 0 || !o->max_views) {
				snprintf(err, errlen,
					 "--max-views: a positive view number, not '%s'", argv[i]);
				return -1;
			}
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--robust")) {
			o->robust = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--hotstuff-leader")) {
			NEED_ARG();
			const char *l = argv[++i];
			if (strcmp(l, "reputation") && strcmp(l, "rotating") &&
			    strcmp(l, "stable")) {
				snprintf(err, errlen,
					 "--hotstuff-leader: reputation, rotating or stable, not "
					 "'%s'",
					 l);
				return -1;
			}
			o->hotstuff_stable = !strcmp(l, "stable");
			o->hotstuff_round_robin = !strcmp(l, "rotating");
			repro_add(c, a, l);
		} else if (!strcmp(a, "--hotstuff-client")) {
			NEED_ARG();
			const char *l = argv[++i];
			if (strcmp(l, "all") && strcmp(l, "leaders")) {
				snprintf(err, errlen, "--hotstuff-client: all or leaders, not '%s'",
					 l);
				return -1;
			}
			o->hotstuff_leaders = !strcmp(l, "leaders");
			repro_add(c, a, l);
		} else if (!strcmp(a, "--hotstuff-keep")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > 512) {
				snprintf(err, errlen, "--hotstuff-keep: 1 to 512 (HS_KEEP)");
				return -1;
			}
			o->hotstuff_keep = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--read-lease")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > 600000) {
				snprintf(err, errlen, "--read-lease: 1..600000 ms, not '%s'",
					 argv[i]);
				return -1;
			}
			o->read_lease_ms = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--pause-before-reply")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > 600000) {
				snprintf(err, errlen,
					 "--pause-before-reply: 1..600000 ms, not '%s'", argv[i]);
				return -1;
			}
			o->pause_before_reply_ms = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--clock-rate")) {
			NEED_ARG();
			const char *spec = argv[++i];
			char *end = NULL;
			unsigned long id = strtoul(spec, &end, 10);
			double r = end && *end == '=' ? strtod(end + 1, &end) : 0;
			if (!end || *end || id >= SIM_MAX_N || !(r >= 0.01 && r <= 100)) {
				snprintf(err, errlen,
					 "--clock-rate: I=R with R in 0.01..100, not '%s'", spec);
				return -1;
			}
			o->clock_rate_id = (int32_t)id;
			o->clock_rate_ppm = (uint64_t)(r * 1e6 + 0.5);
			repro_add(c, a, spec);
		} else if (!strcmp(a, "--view-timeout")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 10 || v > 600000) {
				snprintf(err, errlen, "--view-timeout: 10..600000 ms, not '%s'",
					 argv[i]);
				return -1;
			}
			o->view_timeout_ms = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--window")) {
			NEED_ARG();
			o->window_default = !strcmp(argv[++i], "default");
			if (!o->window_default &&
			    (parse_u64(argv[i], &v) != 0 || v < 2 || v > WIRE_MAX_PREPARED)) {
				snprintf(err, errlen, "--window: default or 2..%u, not '%s'",
					 WIRE_MAX_PREPARED, argv[i]);
				return -1;
			}
			o->window = o->window_default ? 0 : (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--full-window")) {
			o->full_window = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--min-rate-vs-faultfree")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > 100) {
				snprintf(err, errlen, "--min-rate-vs-faultfree: 1..100, not '%s'",
					 argv[i]);
				return -1;
			}
			c->min_rate_pct = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--digest-replies")) {
			o->digest_replies = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--wan")) {
			NEED_ARG();
			o->wan_preset = argv[++i];
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--wan-client")) {
			NEED_ARG();
			o->wan_client = argv[++i];
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--wan-check")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v < 1 || v > 100) {
				snprintf(err, errlen, "--wan-check: 1..100 (%%), not '%s'",
					 argv[i]);
				return -1;
			}
			o->wan_check_pct = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--wan-predict")) {
			o->wan_predict = true;
		} else if (!strcmp(a, "--trace")) {
			NEED_ARG();
			c->trace_path = argv[++i];
		} else if (!strcmp(a, "--plant-bug")) {
			NEED_ARG();
			const char *name = argv[++i];
			o->bug = BUG_NONE;
			for (size_t b = 0; b < sizeof(bugs) / sizeof(bugs[0]); b++)
				if (!strcmp(name, bugs[b].name))
					o->bug = bugs[b].bug;
			if (o->bug == BUG_NONE) {
				snprintf(err, errlen,
					 "--plant-bug: commit-quorum-2f, "
					 "skip-viewchange-certificates, skip-persist, "
					 "no-peer-status, readonly-writes-f1, "
					 "readonly-quorum-f1, no-suspect-clients, "
					 "client-accept-f, accuse-on-one-message, "
					 "forensics-accuse-one, forensics-vouched-omission, "
					 "hs-two-chain-commit, hs-ignore-lock, lease-no-wait or "
					 "ignore-proofs, not '%s'",
					 name);
				return -1;
			}
			o->bug_name = name;
			repro_add(c, a, name);
		} else if (!strcmp(a, "--expect-evidence")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v >= SIM_MAX_N) {
				snprintf(err, errlen, "--expect-evidence: a replica id, not '%s'",
					 argv[i]);
				return -1;
			}
			o->expect_evidence = (int32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--twins-split")) {
			o->twins_split = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--forensics")) {
			o->forensics = true;
			repro_add(c, a, NULL);
		} else if (!strcmp(a, "--forensics-k")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v == 0 || v > 64) {
				snprintf(err, errlen, "--forensics-k: 1..64, not '%s'", argv[i]);
				return -1;
			}
			o->forensics_k = (uint32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--expect-culprits")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v == 0 || v > SIM_MAX_N) {
				snprintf(err, errlen, "--expect-culprits: 1..%u, not '%s'",
					 SIM_MAX_N, argv[i]);
				return -1;
			}
			c->expect_culprits = (uint32_t)v;
		} else if (!strcmp(a, "--violations")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v == 0) {
				snprintf(err, errlen, "--violations: a count, not '%s'", argv[i]);
				return -1;
			}
			c->violations = v;
		} else if (!strcmp(a, "--expect-replaced")) {
			NEED_ARG();
			if (parse_u64(argv[++i], &v) != 0 || v >= SIM_MAX_N) {
				snprintf(err, errlen, "--expect-replaced: a replica id, not '%s'",
					 argv[i]);
				return -1;
			}
			o->expect_replaced = (int32_t)v;
			repro_add(c, a, argv[i]);
		} else if (!strcmp(a, "--expect-violation")) {
			c->expect_violation = true;
		} else if (!strcmp(a, "--keep-going")) {
			c->keep_going = true;
		} else if (!strcmp(a, "--counts")) {
			c->counts = true;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			c->quiet = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose++;
		} else {
			snprintf(err, errlen, "unknown option '%s'", a);
			return -1;
		}
	}
	if (!c->have_seed && !o->wan_predict) {
		snprintf(err, errlen, "give --seed S or --seeds A-B");
		return -1;
	}
	if (c->trace_path && c->first != c->last) {
		snprintf(err, errlen, "--trace takes a single --seed");
		return -1;
	}
	uint32_t n = protocol_n(o->protocol, o->f);
	if (o->protocol != PROTO_SINGLE && o->f < 1) {
		snprintf(err, errlen, "--f: at least 1 for %s", protocol_name(o->protocol));
		return -1;
	}
	if (o->protocol == PROTO_SINGLE)
		o->f = 0;
	if (n == 0 || n > SIM_MAX_N) {
		snprintf(err, errlen, "--f %u: n = %u is more than %u replicas", o->f, n,
			 SIM_MAX_N);
		return -1;
	}
	for (uint32_t i = n; i < SIM_MAX_N; i++)
		if (o->liar[i].kind != LIAR_NONE) {
			snprintf(err, errlen, "--byz %u=...: there are only %u replicas", i, n);
			return -1;
		}
	if (o->n_liars + o->random_liars > n) {
		snprintf(err, errlen, "%u liars (--byz and --random-liars) but only %u replicas",
			 o->n_liars + o->random_liars, n);
		return -1;
	}
	if ((o->forensics || c->expect_culprits) &&
	    (o->auth != AUTH_MODE_SIG || o->protocol != PROTO_PBFT)) {
		snprintf(err, errlen, "--forensics: pbft with --auth sig (it needs signatures)");
		return -1;
	}
	if (c->expect_culprits)
		o->forensics = true;
	if (o->bug == BUG_LEASE_NO_WAIT && (o->protocol != PROTO_VR || !o->read_lease_ms)) {
		snprintf(err, errlen, "--plant-bug lease-no-wait: vr with --read-lease only");
		return -1;
	}
	bool hs_bug = o->bug == BUG_HS_TWO_CHAIN_COMMIT || o->bug == BUG_HS_IGNORE_LOCK;
	enum protocol bug_protocol = o->bug == BUG_LEASE_NO_WAIT ? PROTO_VR
				     : hs_bug                    ? PROTO_HOTSTUFF
								 : PROTO_PBFT;
	if (o->bug != BUG_NONE && o->bug != BUG_CLIENT_ACCEPT_F && o->protocol != bug_protocol) {
		snprintf(err, errlen,
			 "--plant-bug: hs-* for hotstuff, lease-no-wait for vr, the others for "
			 "pbft");
		return -1;
	}
	/* HotStuff's QCs are signed votes: without keys nothing is certified */
	if (o->protocol == PROTO_HOTSTUFF && o->auth == AUTH_MODE_NONE)
		o->auth = AUTH_MODE_MAC;
	if ((o->read_lease_ms || o->pause_before_reply_ms) && o->protocol != PROTO_VR) {
		snprintf(err, errlen, "--read-lease, --pause-before-reply: vr only (issue 18)");
		return -1;
	}
	if (o->clock_rate_id >= 0 && (uint32_t)o->clock_rate_id >= n) {
		snprintf(err, errlen, "--clock-rate %d=...: there are only %u replicas",
			 o->clock_rate_id, n);
		return -1;
	}
	if (o->bug == BUG_READONLY_WRITES_F1 || o->bug == BUG_READONLY_QUORUM_F1)
		o->read_only = true; /* they break the read-only quorum rule */
	if (o->read_only && o->protocol != PROTO_PBFT) {
		snprintf(err, errlen, "--read-only: pbft only (PBFT section 5.1.3)");
		return -1;
	}
	if (o->robust && o->protocol != PROTO_PBFT) {
		snprintf(err, errlen, "--robust: pbft only (issue 16)");
		return -1;
	}
	if (o->digest_replies && o->protocol != PROTO_PBFT) {
		snprintf(err, errlen, "--digest-replies: pbft only (PBFT section 5.1.1)");
		return -1;
	}
	if (o->bad_mac_client && (o->auth != AUTH_MODE_MAC || o->clients >= SIM_MAX_CLIENTS)) {
		snprintf(err, errlen, "--bad-mac-client: needs --auth mac and at most %u --clients",
			 SIM_MAX_CLIENTS - 1);
		return -1;
	}
	if (o->bug == BUG_SKIP_PERSIST)
		o->crash_restart = true; /* forgetting only shows after a restart */
	return load_wan(o, n, err, errlen);
}

static void print_config(const struct world *w, FILE *out)
{
	fprintf(out,
		"  config: %s n=%u f=%u window=%u checkpoint_interval=%u batch_max=%u "
		"view_timeout_ms=%u keys=%u liveness_bound_ms=%" PRIu64 "\n",
		w->ops->name, w->n, w->f, w->base.window, w->base.checkpoint_interval,
		w->base.batch_max, w->base.view_timeout_ms, w->n_keys, w->liveness_us / 1000);
}

static void print_failure(const struct cli *c, const struct world *w, FILE *out)
{
	char liars[256];
	fprintf(out, "seed %" PRIu64 " FAIL %s: %s\n", w->seed, w->prop, w->why);
	print_config(w, out);
	world_liars_text(w, liars, sizeof(liars));
	if (liars[0])
		fprintf(out, "  liars:%s\n", liars);
	fprintf(out, "  at sim_ms=%" PRIu64 ", %u/%u operations done, faults %s\n", w->now / 1000,
		w->ops_done, w->ops_total, w->phase == 0 ? "still on" : "stopped");
	for (uint32_t i = 0; i < w->n; i++) {
		const struct node *nd = &w->node[i];
		for (uint32_t k = 0; k < nd->n_inst; k++) {
			const struct core_status *st = &nd->inst[k].st;
			fprintf(out,
				"  r%u%s: %s%s view=%" PRIu64 "%s last_executed=%" PRIu64
				" stable=%" PRIu64 " timer=%s rejected old_view=%" PRIu64
				" window=%" PRIu64 " conflict=%" PRIu64 " rate_limited=%" PRIu64
				" bad_format=%" PRIu64 " bad_auth=%" PRIu64 "\n",
				i, k ? "'" : "",
				nd->state == NODE_UP       ? "up"
				: nd->state == NODE_PAUSED ? "paused"
							   : "crashed",
				nd->liar == LIAR_NONE    ? ""
				: nd->liar == LIAR_TWINS ? " twins"
							 : " liar",
				st->view, st->view_changing ? " (changing)" : "", st->last_executed,
				st->stable_checkpoint, nd->inst[k].timer_ms ? "set" : "none",
				st->rejected_old_view, st->rejected_out_of_window,
				st->rejected_conflict, st->rejected_rate_limited,
				nd->inst[k].rejected.bad_format, nd->inst[k].rejected.bad_auth);
		}
	}
	fprintf(out, "  reproduce: byzlab-sim%s --seed %" PRIu64 " --trace seed%" PRIu64 ".trace\n",
		c->repro, w->seed, w->seed);
	fprintf(out, "  last %d events:\n", SIM_TRACE_TAIL);
	trace_print_tail(&w->tr, out, SIM_TRACE_TAIL);
}

/* --min-rate-vs-faultfree: completed operations per simulated second, up to the last
 * completion (the settling that follows is not the clients' time). */
static double ops_rate(const struct world *w)
{
	uint64_t us = w->ops_end_us ? w->ops_end_us : w->now;
	return us ? (double)w->ops_done * 1e6 / (double)us : 0.0;
}

/* The same seed with the same options but no faults, liars, crashes or pauses (the
 * seed draws the configuration and network first, so both runs share them).
 * Returns its rate, or -1 if even that run failed. */
static double faultfree_rate(const struct cli *c, uint64_t seed, char *err, size_t errlen)
{
	struct sim_opts ff = c->o;
	memset(&ff.faults, 0, sizeof(ff.faults));
	ff.faults_text[0] = 0;
	memset(ff.liar, 0, sizeof(ff.liar));
	ff.n_liars = ff.random_liars = 0;
	ff.crash_restart = ff.pauses = ff.bad_mac_client = false;
	ff.expect_evidence = -1; /* no liars there */
	ff.expect_replaced = -1;
	ff.trace = NULL;
	struct world *w = malloc(sizeof(*w));
	double rate = -1;
	if (w && world_init(w, &ff, seed, err, errlen) == 0) {
		world_run(w);
		rate = w->failed ? -1 : ops_rate(w);
	}
	if (w)
		world_free(w);
	free(w);
	return rate;
}

/* Fail the run w if its rate is below PCT% of the fault-free run of its seed. */
static void check_rate(const struct cli *c, struct world *w, uint64_t seed)
{
	char err[256] = "";
	double ff = faultfree_rate(c, seed, err, sizeof(err));
	double rate = ops_rate(w);
	if (ff < 0) {
		sim_fail(w, "liveness-rate", "the fault-free run of this seed failed %s", err);
		return;
	}
	if (c->o.verbose)
		printf("seed %" PRIu64 " rate %.1f ops/s, fault-free %.1f ops/s: %.1f%%\n", seed,
		       rate, ff, ff > 0 ? 100.0 * rate / ff : 0.0);
	if (rate * 100.0 < (double)c->min_rate_pct * ff)
		sim_fail(w, "liveness-rate",
			 "%.1f completed operations per simulated second, %.1f%% of the "
			 "fault-free run's %.1f (at least %u%% wanted)",
			 rate, ff > 0 ? 100.0 * rate / ff : 0.0, ff, c->min_rate_pct);
}

/* --forensics: the runs that broke agreement, and what the analysis named in them */
struct forensic_stats {
	uint64_t broke;               /* runs that broke agreement */
	uint64_t named_one;           /* ... in which at least one culprit was named */
	uint64_t named_f1;            /* ... at least f+1 */
	uint64_t short_of_m;          /* ... fewer than --expect-culprits */
	uint64_t false_named;         /* ... a correct replica named */
	uint64_t unverified;          /* ... a proof that did not verify */
	uint64_t culprits;            /* culprits named, summed */
	uint64_t omission;            /* runs with a cross-view (omission) proof */
	uint64_t omission_correct;    /* correct replicas with an omission proof, summed */
	uint64_t cross_view;          /* runs whose two commits were in different views */
	uint64_t cross_one, cross_f1; /* ... in which >= 1, >= f+1 culprits were named */
	uint64_t hist[SIM_MAX_N + 1];
};

static void forensic_tally(struct forensic_stats *fs, const struct world *w, uint32_t m)
{
	uint32_t named = w->fx.named;
	fs->broke++;
	fs->named_one += named >= 1;
	fs->named_f1 += named >= w->f + 1;
	fs->short_of_m += m && named < m;
	fs->false_named += w->fx_false > 0;
	fs->unverified += w->fx_unverified > 0;
	fs->culprits += named;
	bool omission = false;
	for (uint32_t i = 0; i < w->n; i++) {
		omission |= w->fx.c[i].by_kind[FORENSIC_OMISSION] > 0;
		fs->omission_correct += node_correct(w, i) && w->fx.c[i].by_kind[FORENSIC_OMISSION];
	}
	fs->omission += omission;
	fs->cross_view += w->agree_views_differ;
	fs->cross_one += w->agree_views_differ && named >= 1;
	fs->cross_f1 += w->agree_views_differ && named >= w->f + 1;
	fs->hist[named <= SIM_MAX_N ? named : SIM_MAX_N]++;
}

static void forensic_summary(const struct forensic_stats *fs, uint32_t f)
{
	double b = fs->broke ? (double)fs->broke : 1.0;
	printf("forensics: %" PRIu64 " runs broke agreement; culprits named: >= 1 in %" PRIu64
	       " (%.1f%%), >= f+1 = %u in %" PRIu64 " (%.1f%%); a correct replica named in %" PRIu64
	       " runs; proofs that did not verify in %" PRIu64 " runs; culprits per run:",
	       fs->broke, fs->named_one, 100.0 * (double)fs->named_one / b, f + 1, fs->named_f1,
	       100.0 * (double)fs->named_f1 / b, fs->false_named, fs->unverified);
	for (uint32_t i = 0; i <= SIM_MAX_N; i++)
		if (fs->hist[i])
			printf(" %u:%" PRIu64, i, fs->hist[i]);
	uint64_t same = fs->broke - fs->cross_view;
	printf("; both commits in one view: %" PRIu64 " runs, >= 1 named in %" PRIu64
	       ", >= f+1 in %" PRIu64 "; in different views: %" PRIu64
	       " runs, >= 1 named in %" PRIu64 ", >= f+1 in %" PRIu64
	       "; runs with an omission (cross-view) proof: %" PRIu64
	       " (against a correct replica: %" PRIu64 ")\n",
	       same, fs->named_one - fs->cross_one, fs->named_f1 - fs->cross_f1, fs->cross_view,
	       fs->cross_one, fs->cross_f1, fs->omission, fs->omission_correct);
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --counts (issue 19, experiments/scale.py): one JSON line per seed with the copies
 * sent and their bytes per wire message type, and the signatures and MACs made and
 * verified by every replica instance and client, so the scale experiment can set
 * messages and signature operations per request against the closed formulas. */
static void print_counts(const struct world *w, uint64_t seed)
{
	uint64_t sm = 0, sv = 0, mm = 0, mv = 0;
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t k = 0; k < w->node[i].n_inst; k++) {
			const struct auth_ctx *a = &w->node[i].inst[k].auth;
			sm += a->sigs_made, sv += a->sigs_verified;
			mm += a->macs_made, mv += a->macs_verified;
		}
	for (uint32_t c = 0; c < w->n_clients; c++) {
		const struct auth_ctx *a = &w->client[c].auth;
		sm += a->sigs_made, sv += a->sigs_verified;
		mm += a->macs_made, mv += a->macs_verified;
	}
	printf("{\"seed\":%" PRIu64 ",\"n\":%u,\"f\":%u,\"ops\":%u,\"msgs\":%" PRIu64
	       ",\"views\":%" PRIu64 ",\"sigs_made\":%" PRIu64 ",\"sigs_verified\":%" PRIu64
	       ",\"macs_made\":%" PRIu64 ",\"macs_verified\":%" PRIu64
	       ",\"checkpoint_interval\":%u,\"batch_max\":%u,\"view_timeout_ms\":%u,\"types\":{",
	       seed, w->n, w->f, w->ops_done, w->msgs, w->max_view, sm, sv, mm, mv,
	       w->base.checkpoint_interval, w->base.batch_max, w->base.view_timeout_ms);
	const char *sep = "";
	for (int t = 0; t < 256; t++) {
		if (!w->type_msgs[t])
			continue;
		const char *name = wire_type_name(t);
		printf("%s\"%s\":[%" PRIu64 ",%" PRIu64 "]", sep, name ? name : "?",
		       w->type_msgs[t], w->type_bytes[t]);
		sep = ",";
	}
	printf("}}\n");
}

int main(int argc, char **argv)
{
	struct cli c;
	char err[512];
	memset(&c, 0, sizeof(c));
	if (crypto_setup() != 0) {
		fprintf(stderr, "byzlab-sim: libsodium failed to initialise\n");
		return 1;
	}
	if (parse_args(argc, argv, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-sim: %s\nTry 'byzlab-sim --help'.\n", err);
		return 2;
	}
	if (c.trace_path) {
		c.o.trace = fopen(c.trace_path, "w");
		if (!c.o.trace) {
			fprintf(stderr, "byzlab-sim: --trace %s: %s\n", c.trace_path,
				strerror(errno));
			return 2;
		}
	}
	uint32_t liars = c.o.n_liars + c.o.random_liars;
	if (liars > c.o.f && !c.quiet)
		printf("note: %u liars but f=%u: nothing is promised; violations are expected "
		       "(docs/TESTING.md)\n",
		       liars, c.o.f);
	if (c.o.wan_predict) {
		print_wan_prediction(&c.o);
		return 0;
	}
	struct world *w = malloc(sizeof(*w));
	if (!w)
		return 1;
	uint64_t runs = 0, failures = 0, ops = 0, msgs = 0, sim_us = 0;
	uint64_t first_failed = 0;
	struct forensic_stats fs = {0};
	double t0 = wall_s();
	int rc = 0;
	for (uint64_t seed = c.first;; seed++) {
		if (world_init(w, &c.o, seed, err, sizeof(err)) != 0) {
			fprintf(stderr, "byzlab-sim: %s\n", err);
			world_free(w);
			rc = 2;
			break;
		}
		world_run(w);
		if (!w->failed && c.min_rate_pct)
			check_rate(&c, w, seed);
		if (!w->failed && c.o.wan_check_pct)
			check_wan(&c, w, seed);
		if (c.counts)
			print_counts(w, seed);
		bool broke = w->failed && !strcmp(w->prop, "agreement");
		forensics_run(w);
		if (broke)
			forensic_tally(&fs, w, c.expect_culprits);
		runs++;
		ops += w->ops_done;
		msgs += w->msgs;
		sim_us += w->now;
		if (w->failed) {
			if (!failures)
				first_failed = seed;
			failures++;
			print_failure(&c, w, stdout);
			forensics_print(w, stdout);
		} else if (!c.quiet) {
			printf("seed %" PRIu64 " ok ops=%u msgs=%" PRIu64 " sim_ms=%" PRIu64
			       " views=%" PRIu64,
			       seed, w->ops_done, w->msgs, w->now / 1000, w->max_view);
			if (c.o.random_liars) {
				char text[256];
				world_liars_text(w, text, sizeof(text));
				printf(" liars:%s", text);
			}
			if (c.o.verbose)
				printf(" drops=%" PRIu64 " dups=%" PRIu64 " crashes=%" PRIu64
				       " pauses=%" PRIu64 " partitions=%" PRIu64 " oneways=%" PRIu64
				       " recovery_ms=%" PRIu64 " events=%" PRIu64
				       " trace=%016" PRIx64,
				       w->drops, w->dups, w->crashes, w->pauses, w->partitions,
				       w->oneways, w->longest_op_us / 1000, w->tr.count,
				       w->tr.hash);
			for (uint32_t i = 0; c.o.verbose && i < w->n; i++)
				if (w->named[i])
					printf(" evidence:r%u=%" PRIu64 "(%" PRIu64 " proofs)", i,
					       w->named[i], w->named_proofs[i]);
			if (c.o.verbose && c.o.forensics)
				printf(" forensics: %u named, %" PRIu64 " transcript entries",
				       w->fx.named, w->fx_entries);
			for (uint32_t i = 0; c.o.verbose && i < w->n; i++)
				if (w->replaced[i])
					printf(" replaced:r%u=%" PRIu64, i, w->replaced[i]);
			if (c.o.verbose && c.o.read_only)
				printf(" ro_reads=%" PRIu64 " ro_retries=%" PRIu64, w->ro_reads,
				       w->ro_retries);
			printf("\n");
		}
		fflush(stdout);
		world_free(w);
		bool stop = failures && (c.expect_violation || !c.keep_going);
		if (c.violations && fs.broke >= c.violations)
			stop = true;
		if (stop || seed == c.last)
			break;
	}
	free(w);
	if (c.o.trace)
		fclose(c.o.trace);
	if (rc)
		return rc;
	double wall = wall_s() - t0;
	if (runs > 1 || c.quiet)
		printf("summary: %" PRIu64 " seeds, %" PRIu64 " ok, %" PRIu64 " failed%s; %" PRIu64
		       " ops, %" PRIu64 " msgs, %.1f sim s; %.2f s wall: %.1f seeds/s, %.0f "
		       "simulated requests/s\n",
		       runs, runs - failures, failures, failures ? " (see above)" : "", ops, msgs,
		       (double)sim_us / 1e6, wall, (double)runs / (wall > 0 ? wall : 1),
		       (double)ops / (wall > 0 ? wall : 1));
	if (c.o.forensics)
		forensic_summary(&fs, c.o.f);
	if (c.expect_culprits)
		return fs.broke && fs.short_of_m == 0 && fs.false_named == 0 && fs.unverified == 0
			       ? 0
			       : 1;
	if (c.expect_violation) {
		if (failures) {
			printf("expected violation found at seed %" PRIu64 " (seed %" PRIu64
			       " of the range)\n",
			       first_failed, runs);
			return 0;
		}
		printf("no violation found in seeds %" PRIu64 "-%" PRIu64 " (one was expected)\n",
		       c.first, c.last);
		return 1;
	}
	return failures ? 1 : 0;
}
