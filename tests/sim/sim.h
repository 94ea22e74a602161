/* sim.h - byzlab-sim: the deterministic simulator.
 *
 * The simulator drives the very same protocol cores as byzlab-replica
 * (replica/core/core.h: core_ops_for()) with a virtual network, virtual clocks and a
 * virtual disk.  Everything that varies - delays, losses, partitions, crashes,
 * pauses, clock rates, client operations - is drawn from ONE pseudo-random generator
 * seeded from the command line, and nothing else (no time(), no rand(), no pointer
 * values, no hash-table iteration order) influences a run: the same seed gives the
 * same run, byte for byte.
 *
 *   rng.c       splitmix64 seeding + xoshiro256** generator
 *   trace.c     the event log: a ring of recent events, optionally a file
 *   net.c       event queue, message delivery, network faults
 *   world.c     replicas: cores, disks, clocks, crash/restart, pauses, liars, twins
 *   client.c    simulated clients and their history
 *   check.c     agreement, validity, client consistency, liveness, no false
 *               accusation (issue 17)
 *   lincheck.c  linearizability of the history, per key
 *   sim_main.c  command line, seed loop, verdicts
 *
 * Time: the simulator's clock counts microseconds (uint64 `now`); each replica reads
 * its own clock in milliseconds, off_ms + now * rate_ppm / 1e9 (drift), and its timer
 * deadlines are converted back.
 */
#ifndef BYZLAB_SIM_H
#define BYZLAB_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/client.h"
#include "config/config.h"
#include "crypto/auth.h"
#include "replica/byz.h"
#include "replica/core/core.h"
#include "replica/core/exec.h"
#include "replica/core/forensics.h"
#include "replica/edge.h"
#include "wire/wire.h"

#define SIM_MAX_N WIRE_MAX_REPLICAS /* 32: PBFT up to f = 10 (issue 19) */
#define SIM_MAX_F 10                /* --f: n = 3f+1 <= SIM_MAX_N for PBFT */
#define SIM_MAX_CLIENTS 16
#define SIM_ATTACKER (SIM_MAX_CLIENTS - 1) /* --bad-mac-client's client id */
#define SIM_MAX_KEYS 8
#define SIM_MAX_OPS 100000         /* total client operations of one run */
#define SIM_TWINS 2                /* core instances of a twins replica */
#define SIM_INBOX_MAX 20000        /* messages queued for a paused replica */
#define SIM_MAX_EVENTS 50000000ull /* runaway guard for one run */
#define SIM_TRACE_TAIL 40
#define SIM_CLUSTER_ID 0x51u

/* ---- rng.c ---- */

struct rng {
	uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n);               /* [0, n), n > 0 */
uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi); /* [lo, hi] */
double rng_unit(struct rng *r);                              /* [0, 1) */
bool rng_chance(struct rng *r, double p);
/* Pareto(xm, alpha): heavy tail, minimum xm. */
double rng_pareto(struct rng *r, double xm, double alpha);

/* ---- options (sim_main.c parses them) ---- */

enum plant_bug {
	BUG_NONE = 0,
	BUG_COMMIT_QUORUM_2F,
	BUG_SKIP_VC_CERTS,
	BUG_SKIP_PERSIST,
	BUG_NO_PEER_STATUS, /* PEER_STATUS is never answered: idle laggards stay behind */
	/* client-side (the client core's planted bugs, client/client_core.h): */
	BUG_CLIENT_ACCEPT_F, /* read-write requests accepted with f matching replies */
	/* client-side, with --read-only (PBFT §5.1.3): */
	BUG_READONLY_WRITES_F1, /* writes accepted with f+1 matching replies (reads 2f+1) */
	BUG_READONLY_QUORUM_F1, /* every request, read-only gets too, with f+1 */
	/* edge-side, with --auth mac (issue 14): */
	BUG_NO_SUSPECT_CLIENTS, /* replicas never suspect a client that garbles their slot */
	/* issue 17: the core "proves" a lie from one PREPARE alone (the sender of the
	 * first PREPARE it takes from each replica) */
	BUG_ACCUSE_ONE,
	/* issue 17 item 3: the forensic analysis names the sender of one lone COMMIT */
	BUG_FORENSICS_ACCUSE_ONE,
	BUG_FORENSICS_VOUCHED_OMISSION,
	/* HotStuff (replica/core/hotstuff.h HS_BUG_*): commit on a two-chain; vote
	 * ignoring the locked QC */
	BUG_HS_TWO_CHAIN_COMMIT,
	BUG_HS_IGNORE_LOCK,
	/* issue 18, vr with --read-lease: a new primary does not wait the old lease out */
	BUG_LEASE_NO_WAIT,
	/* issue 17: proofs are kept and gossiped but never acted upon (a proven primary
	 * stays until its view times out) */
	BUG_IGNORE_PROOFS,
};

struct fault_spec {
	double drop; /* per message copy */
	double dup;
	double reorder; /* extra random delay, 0..reorder_max_ms */
	bool pareto;    /* heavy-tailed delay */
	bool partition; /* partitions that form and heal */
	bool oneway;    /* one-way link cuts */
	bool drift;     /* per-replica clock rates */
};

enum liar_kind { LIAR_NONE = 0, LIAR_BYZ = 1, LIAR_TWINS = 2 };

struct liar_spec {
	enum liar_kind kind;
	struct byz_cfg byz; /* LIAR_BYZ */
	char text[64];      /* as given, for messages */
};

struct sim_opts {
	enum protocol protocol;
	uint32_t f;
	uint32_t ops; /* client operations in the whole run */
	uint32_t clients;
	struct fault_spec faults;
	char faults_text[256];
	struct liar_spec liar[SIM_MAX_N];
	uint32_t n_liars;
	uint32_t random_liars; /* --random-liars K: K more liars per seed, drawn by it */
	bool crash_restart;
	bool pauses;
	uint32_t stalls_ms;  /* --stalls MS: every replica pauses together (a loaded machine) */
	bool read_only;      /* --read-only: PBFT §5.1.3 read-only gets (core + clients) */
	bool digest_replies; /* --digest-replies: PBFT §5.1.1, one full reply per request */
	enum auth_mode auth; /* --auth: none (default), mac or sig, real authenticators */
	bool bad_mac_client; /* --bad-mac-client: a faulty client (client.c, attacker) */
	uint64_t max_views;  /* --max-views V: a correct replica's view above V fails; 0 off */

	/* issue 16: --robust (pbft robust mode, pbft_monitor.h); --view-timeout MS instead
	 * of the seed's draw (0: the draw) */
	bool robust;
	bool hotstuff_stable;      /* --hotstuff-leader stable (default reputation) */
	bool hotstuff_leaders;     /* --hotstuff-client leaders (default all) */
	uint32_t hotstuff_keep;    /* --hotstuff-keep K: committed blocks kept (0: HS_KEEP) */
	bool hotstuff_round_robin; /* --hotstuff-leader rotating: plain v mod n */
	uint32_t view_timeout_ms;
	/* --window W|default: pbft window W (checkpoint_interval W/2) instead of the seed's
	 * draw (0: the draw); default: cluster.ini's (config_window_default) */
	uint32_t window;
	bool window_default;
	/* --full-window: checkpoint_interval = window, and the primary of view 0 pauses
	 * once it executed window - 1 numbers: every VIEW-CHANGE of the view change that
	 * follows carries (nearly) a full window of prepared certificates (issue 19) */
	bool full_window;

	/* issue 18: --read-lease MS (vr leader leases, docs/VR.md); --clock-rate I=R: replica
	 * I's clock runs at R x (beyond the lease's drift bound, or within it);
	 * --pause-before-reply MS: a replica that answers a read from its lease stops for
	 * MS (simulated) between the lease check and that reply */
	uint32_t read_lease_ms;
	int32_t clock_rate_id; /* -1: none */
	uint64_t clock_rate_ppm;
	uint32_t pause_before_reply_ms;

	/* issue 17: --expect-evidence I: fail a run in which no correct replica holds
	 * evidence against replica I; -1 off */
	int32_t expect_evidence;
	/* issue 17 item 3: --forensics: keep each correct replica's transcript (the last
	 * --forensics-k checkpoints) and, at the end of a run, analyse them (forensics.c);
	 * a correct replica named fails the run */
	bool forensics;
	uint32_t forensics_k;
	/* --twins-split: the Twins scenario (Bano et al., "Twins: BFT Systems Made
	 * Robust", OPODIS 2021) - each twins replica's instance k talks only with the
	 * correct replicas of side k (correct replicas alternate sides) and with instance
	 * k of other twins: two worlds that share the liars' identities */
	bool twins_split;
	/* --expect-replaced I: fail a run in which no correct replica voted replica I out
	 * as a proven primary (check.c, "proven primary"); -1 off */
	int32_t expect_replaced;

	/* issue 20: --wan PRESET [--wan-client REGION]: every link's delay is the WAN
	 * model's (replica/wan.h, the one byzlab-replica's faults layer applies);
	 * --wan-check PCT: fail a seed whose median request latency is more than PCT%
	 * off the model's prediction; --wan-predict: print the prediction, run nothing */
	struct wan wan;
	const char *wan_preset, *wan_client;
	bool wan_on, wan_predict;
	uint32_t wan_check_pct;

	enum plant_bug bug;
	const char *bug_name;
	FILE *trace; /* --trace FILE, or NULL */
	int verbose;
};

/* ---- trace.c ---- */

enum tr_kind {
	TR_SEND,
	TR_DELIVER,
	TR_DROP,
	TR_DUP,
	TR_CUT,
	TR_QUEUE,
	TR_CRASH,
	TR_RESTART,
	TR_PAUSE,
	TR_RESUME,
	TR_PARTITION,
	TR_HEAL,
	TR_ONEWAY,
	TR_ONEWAY_HEAL,
	TR_TICK,
	TR_EXEC,
	TR_VIEW,
	TR_INVOKE,
	TR_RETRY,
	TR_COMPLETE,
	TR_PHASE,
	TR_NOTE,
	TR_KIND_MAX
};

#define TR_ALL (-999)   /* endpoint: every other replica */
#define TR_NONE (-1000) /* endpoint: none */

struct tr_ev {
	uint64_t t;     /* simulated us */
	uint8_t kind;   /* enum tr_kind */
	uint8_t type;   /* message type, if any */
	int16_t a, b;   /* endpoints: replica id, or -1-client */
	uint8_t ia, ib; /* twin instance of a / b */
	uint64_t x, y;  /* view / seq, or other numbers */
	uint32_t len;
	char note[40];
};

struct trace {
	struct tr_ev ring[64];
	uint64_t count;
	uint64_t hash; /* FNV-1a over every event: a run's fingerprint */
	FILE *out;
};
void trace_init(struct trace *t, FILE *out);
void trace_add(struct trace *t, const struct tr_ev *e);
void trace_format(const struct tr_ev *e, char *out, size_t cap);
void trace_print_tail(const struct trace *t, FILE *out, unsigned n);

/* ---- the virtual disk (world.c) ---- */

struct record {
	uint8_t kind;
	uint64_t key;
	uint8_t *val;
	size_t len;
};

struct disk {
	struct record *r; /* sorted by (kind, key) */
	size_t n, cap;
};

/* ---- replicas (world.c) ---- */

struct sbuf { /* a message in flight, shared by its copies */
	uint32_t refs;
	uint32_t len;
	uint8_t p[];
};

struct inst {                 /* one core instance (a twins replica has two) */
	void *core;           /* NULL while crashed */
	struct auth_ctx auth; /* seals for the core, verifies at the edge */
	struct core_config cfg;
	struct disk disk;
	uint64_t timer_ms;  /* local deadline, 0: none */
	uint64_t timer_gen; /* bumped to void every queued tick (crash, restart) */
	uint64_t queued_us; /* earliest tick event queued for timer_gen; UINT64_MAX: none */
	uint64_t spin_ms;   /* timer spin detection */
	uint32_t spin;
	struct core_status st; /* after the last step */
	/* rejects at the edge (replica/edge.h), counted as the replica counts them */
	struct edge_counters rejected;
};

enum node_state { NODE_UP = 0, NODE_CRASHED = 1, NODE_PAUSED = 2 };

struct qmsg { /* a message waiting for a paused replica */
	struct sbuf *m;
	int32_t from; /* replica id, or -1-client */
	uint8_t from_inst;
	uint8_t inst;
};

struct node {
	uint32_t id;
	enum liar_kind liar;
	struct byz *byz; /* LIAR_BYZ */
	uint32_t n_inst;
	struct inst inst[SIM_TWINS];
	enum node_state state;
	uint64_t state_gen; /* bumps on every crash/pause, fences stale wake events */
	uint64_t off_ms;    /* clock offset */
	uint64_t rate_ppm;  /* clock rate, 1e6 = exact */
	struct qmsg *inbox;
	size_t n_inbox, cap_inbox;
	uint64_t crashes, pauses;
};

/* ---- clients (client.c) ---- */

enum op_kind { OP_PUT = 0, OP_GET = 1, OP_CAS = 2 };

struct hop { /* one operation of the history */
	uint32_t client;
	uint64_t ts;
	uint8_t kind; /* enum op_kind */
	uint8_t key;
	int32_t a, b;                    /* value ids: put a; cas old a (-1: empty), new b */
	uint64_t invoke_us, complete_us; /* complete 0: pending */
	uint8_t status;                  /* result status (enum kv_status) */
	int32_t rval;                    /* value id in the result (-1: none/empty, -2: unknown) */
	uint64_t op_hash;                /* of the encoded operation (validity) */
	uint8_t *result;                 /* accepted result bytes */
	uint32_t result_len;
	/* --read-only: a get first goes as a read-only request with timestamp ro_ts; if
	 * that fails it is retried read-write with a new timestamp (then ts != ro_ts). */
	uint64_t ro_ts; /* 0: never sent read-only */
	bool ro_done;   /* completed through the read-only path (not in the agreed order) */
};

struct sim_client {
	uint32_t id;
	uint32_t todo; /* operations left to issue */
	int32_t cur;   /* index in history of the pending op, -1 none */
	/* the real client's core (client/client_core.h): timestamps, the sealed request,
	 * retransmission, the read-only retry and the accept rule are all its */
	struct client_core core;
	uint64_t timer_gen;         /* bumped to void the queued timer event */
	uint64_t timer_at;          /* when the queued timer event fires; UINT64_MAX none */
	int32_t seen[SIM_MAX_KEYS]; /* last value id seen per key, for cas */
	uint64_t *issued;           /* op hash per timestamp (index ts-1) */
	uint8_t *issued_ro;         /* per timestamp: 0 read-write, 1+key a read-only get */
	uint32_t n_issued, cap_issued;
	bool ro;              /* the pending request is read-only (REQ_F_READONLY) */
	struct auth_ctx auth; /* seals requests, verifies replies (keys.c) */
	uint64_t ro_retries;  /* read-only requests retried as read-write */
};

/* ---- event queue (net.c) ---- */

enum sim_ev_kind {
	SEV_DELIVER = 1, /* message to a replica instance */
	SEV_REPLY,       /* message to a client */
	SEV_TIMER,       /* replica instance timer */
	SEV_CLIENT_TIMER,
	SEV_CLIENT_NEXT, /* client issues its next operation */
	SEV_FAULT,       /* fault scheduler */
	SEV_RESTART,
	SEV_RESUME,
	SEV_HEAL,
	SEV_ONEWAY_HEAL,
	SEV_ATTACK, /* --bad-mac-client: the faulty client's next request */
	SEV_STALL,  /* --stalls: the whole cluster pauses */
};

struct sim_ev {
	uint64_t t;
	uint64_t order; /* insertion order: ties break deterministically */
	uint8_t kind;
	uint8_t inst, from_inst;
	int32_t to, from;
	uint64_t gen;
	struct sbuf *m;
};

struct heap {
	struct sim_ev *e;
	size_t n, cap;
};

/* ---- checker state (check.c) ---- */

struct agreed { /* what correct replicas executed at one seq */
	bool have;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t view;
	uint32_t replica;
};

struct batch_ent {
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t *bytes;
	uint32_t len;
	bool used;
};

struct reply_rec { /* a REPLY sent by a correct replica */
	uint32_t client;
	uint32_t replica;
	uint64_t ts;
	uint64_t hash; /* of the result */
};

/* ---- the world ---- */

struct world {
	const struct sim_opts *o;
	uint64_t seed;
	struct rng rng;
	const struct core_ops *ops;
	uint32_t n, f, n_clients, max_clients, n_keys;
	struct core_config base;
	struct liar_spec liar[SIM_MAX_N]; /* this run's: --byz, and --random-liars draws */
	uint64_t now;                     /* simulated us */
	uint64_t order;
	struct heap heap;
	struct node node[SIM_MAX_N];
	struct sim_client client[SIM_MAX_CLIENTS];
	struct effects eff, lie;

	/* network */
	uint32_t base_delay_us, jitter_us;
	double drop, dup, reorder;
	bool pareto;
	uint64_t tail_cap_us;
	uint8_t group[SIM_MAX_N];
	uint8_t side[SIM_MAX_N]; /* --twins-split: a correct replica's side */
	bool partitioned;
	uint64_t part_gen;
	uint64_t hold_us; /* --pause-before-reply: added to the next posts' delay */
	uint64_t lease_pauses;
	bool full_window_paused;        /* --full-window: the primary of view 0 was paused */
	bool cut[SIM_MAX_N][SIM_MAX_N]; /* one-way: a -> b lost */
	uint64_t cut_gen[SIM_MAX_N][SIM_MAX_N];
	/* last delivery time per directed link between endpoints (replica instances,
	 * then clients) */
	uint64_t fifo[SIM_MAX_N * SIM_TWINS + SIM_MAX_CLIENTS]
		     [SIM_MAX_N * SIM_TWINS + SIM_MAX_CLIENTS];

	/* phases */
	int phase;             /* 0: faults, 1: healed (liveness), 2: done */
	uint64_t fault_max_us; /* the fault phase ends by then at the latest */
	uint64_t fault_end_us;
	uint64_t liveness_us; /* bound on completing an op once faults stopped */
	uint32_t down_max;    /* correct replicas crashed or paused at once */

	/* history */
	struct hop *hist;
	uint32_t n_hist, cap_hist;
	uint32_t ops_total, ops_issued, ops_done;

	uint64_t ops_end_us; /* when the last operation completed (--min-rate-vs-faultfree) */

	uint8_t **values; /* value id -> text */
	uint32_t *value_len;
	uint32_t n_values, cap_values;

	/* checkers */
	struct agreed *agree;
	uint64_t cap_agree, max_seq;
	struct batch_ent *batches; /* open addressing on the digest */
	size_t n_batches, cap_batches;
	uint64_t *authored; /* keys of relayable messages as their authors sent them
			     * (open addressing, 0 = empty; world.c) */
	size_t n_authored, cap_authored;
	struct reply_rec *replies;
	size_t n_replies, cap_replies;

	/* stats */
	uint64_t msgs, delivered, drops, dups, events, crashes, pauses, restarts;
	/* --counts (issue 19): copies sent and their bytes, per wire message type */
	uint64_t type_msgs[256], type_bytes[256];
	uint64_t partitions, oneways, ticks;
	uint64_t ro_reads, ro_retries; /* --read-only: gets done read-only / retried */
	uint64_t max_view;
	uint64_t longest_op_us; /* after the faults stopped */
	/* issue 17: detections by correct replicas, per accused replica (check.c) */
	uint64_t named[SIM_MAX_N];
	uint64_t named_proofs[SIM_MAX_N]; /* of them, transferable proofs */
	uint64_t replaced[SIM_MAX_N]; /* view changes correct replicas started: proven primary */

	/* --bad-mac-client: client SIM_ATTACKER's requests carry MACs good for the
	 * primary's slot only (client.c) */
	struct auth_ctx attacker;
	uint64_t attacker_ts, attacks;

	/* --forensics: per correct replica, what it received and sent (forensics.h) */
	struct transcript tx[SIM_MAX_N];
	struct forensic_report fx;
	bool fx_done;
	uint32_t fx_transcripts, fx_verified; /* bit i: the proof against i verifies */
	uint32_t fx_false, fx_unverified;     /* correct replicas named, proofs refused */
	uint64_t fx_entries, fx_dropped;

	struct trace tr;
	bool failed;
	bool agree_views_differ; /* the agreement violation: commits of two views */
	char prop[32];
	char why[512];
	struct buf scratch;
};

/* world.c */
/* " r0=equivocate r3=twins": this run's liars, for verdict lines */
void world_liars_text(const struct world *w, char *out, size_t cap);
int world_init(struct world *w, const struct sim_opts *o, uint64_t seed, char *err, size_t errlen);
void world_free(struct world *w);
int world_run(struct world *w); /* 0: ran to the end (see w->failed) */
uint64_t node_clock_ms(const struct world *w, const struct node *nd);
void node_deliver(struct world *w, uint32_t to, uint8_t inst, int32_t from, uint8_t from_inst,
		  struct sbuf *m);
void node_timer(struct world *w, uint32_t id, uint8_t inst, uint64_t gen);
void node_restart(struct world *w, uint32_t id, uint64_t gen);
void node_resume(struct world *w, uint32_t id, uint64_t gen);
bool node_correct(const struct world *w, uint32_t id);
void sim_fail(struct world *w, const char *prop, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sim_trace(struct world *w, uint8_t kind, int a, int ia, int b, int ib, uint8_t type,
	       uint64_t x, uint64_t y, uint32_t len, const char *note);

/* net.c */
void heap_push(struct world *w, struct sim_ev *e);
bool heap_pop(struct world *w, struct sim_ev *e);
void heap_free(struct world *w);
struct sbuf *sbuf_new(const uint8_t *p, size_t len);
void sbuf_put(struct sbuf *m);
void sched(struct world *w, uint64_t at, uint8_t kind, int32_t to, uint8_t inst, uint64_t gen);
/* Send m from replica `from` (instance fi) or from client (from = -1-c) to replica
 * `to` (every instance of a twins replica) through the faulty network. */
void net_to_replica(struct world *w, int32_t from, uint8_t fi, uint32_t to, struct sbuf *m);
void net_to_client(struct world *w, uint32_t from, uint8_t fi, uint32_t client, struct sbuf *m);
bool net_link_ok(const struct world *w, int32_t from, uint32_t to);
void net_partition(struct world *w);
void net_oneway(struct world *w);
void net_heal(struct world *w, uint64_t gen);
void net_oneway_heal(struct world *w, uint32_t a, uint32_t b, uint64_t gen);
void net_calm(struct world *w); /* the fault phase is over */

/* client.c */
/* keys.c: a principal's auth context with the simulator's fixed keys (mode none:
 * no keys).  Free it with auth_free(). */
int sim_auth_init(struct auth_ctx *a, enum auth_mode mode, uint32_t n, uint32_t n_clients,
		  bool is_client, uint32_t id);
const char *sim_auth_name(enum auth_mode mode);

int clients_init(struct world *w);
void clients_free(struct world *w);
void client_next(struct world *w, uint32_t c);
void client_timer(struct world *w, uint32_t c, uint64_t gen);
void attacker_tick(struct world *w);
void client_on_reply(struct world *w, uint32_t c, uint32_t from, const uint8_t *p, size_t len);
int32_t value_id(const struct world *w, const uint8_t *p, size_t len);

/* check.c */
void check_exec(struct world *w, uint32_t replica, const struct exec_note *x);
void check_sent(struct world *w, uint32_t replica, bool correct, const uint8_t *p, size_t len);
void check_liveness(struct world *w);
void check_final(struct world *w);
/* issue 17, "no false accusation": the evidence a correct replica's step noted names
 * only liars, and each proof verifies from the public keys alone. */
void check_evidence(struct world *w, uint32_t replica, const struct effects *fx);
void check_proven_primary(struct world *w, uint32_t replica, const struct core_status *before,
			  const struct core_status *st);
void check_free(struct world *w);

/* forensics.c (issue 17 item 3) */
void forensics_note(struct world *w, const struct node *nd, const uint8_t *p, size_t len);
void forensics_trim(struct world *w, const struct node *nd);
/* Analyse the correct replicas' transcripts (w->fx); fails the run if a correct replica
 * is named or a proof does not verify (counted in fx_false / fx_unverified either way). */
void forensics_run(struct world *w);
void forensics_print(const struct world *w, FILE *out);
uint64_t hash64(const void *p, size_t len);

/* lincheck.c: 0 linearizable, 1 not (why filled), 2 undecided (search bound hit) */
int lincheck(const struct world *w, char *why, size_t whylen);

#endif
