/* core.h - the interface every agreement core (pbft, vr, single) implements.
 *
 * A core is a pure state machine: it takes events (an authenticated message, a timer
 * tick carrying the current time, a start after recovery) and returns effects
 * (messages to send, records to persist, a timer deadline, notes of what it executed).
 * It never reads a clock, touches a socket or LMDB, or uses globals.  The real replica
 * (replica/main.c) and the deterministic simulator (tests/sim/) drive the same cores.
 *
 * The driver's contract, for every step:
 *   1. Only decoded, validated, authenticated messages reach step() (wire_decode +
 *      auth_verify at the edge).
 *   2. Persist effects are applied in order, in one durable transaction, BEFORE any
 *      send effect of the same step leaves ("persist before you speak").
 *   3. Sends are fully sealed messages (auth trailer included): the driver delivers the
 *      bytes as they are (unless the lying layer rewrites them).
 *   4. timer_ms, if non-zero, is the absolute time at which the driver must step the
 *      core with EV_TICK (a later step may move it).
 */
#ifndef BYZLAB_CORE_H
#define BYZLAB_CORE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/auth.h"
#include "wire/wire.h"

enum ev_kind {
	EV_START = 1, /* after every recover() record was fed; now_ms set */
	EV_MSG = 2,   /* m: an authenticated message (replica or client) */
	EV_TICK = 3   /* now_ms reached a timer deadline (or later) */
};

struct event {
	enum ev_kind kind;
	uint64_t now_ms; /* the driver's monotonic clock (virtual in the simulator) */
	const struct msg *m;
	/* robust PBFT: m is a client REQUEST the driver parked on arrival and relayed to
	 * the primary at this time, unverified (replica/park.h); 0: not relayed */
	uint64_t relayed_ms;
	/* robust PBFT (EV_TICK): the driver parked client parked_client's request
	 * parked_ts on arrival and relayed it to the primary at now_ms, unverified
	 * (replica/park.h): never judged, but its relay -> PRE-PREPARE is a sample of
	 * the relative ordering deadline (pbft_monitor.h); parked_ts 0: none */
	uint32_t parked_client;
	uint64_t parked_ts;
};

#define TO_OTHERS (-1) /* every replica but ourselves */
#define TO_CLIENT (-2) /* the client named in .client */

struct send {
	int32_t to; /* replica id >= 0, TO_OTHERS or TO_CLIENT */
	uint32_t client;
	size_t off, len; /* the sealed message: effects.arena.p[off .. off+len) */
	bool lease_read; /* vr: a read answered from the leader lease (the driver's
			  * pause_before_reply fault holds exactly these: faults.h) */
};

enum persist_op { P_PUT = 1, P_DEL = 2, P_DEL_BELOW = 3 };

struct persist {
	uint8_t op;      /* enum persist_op */
	uint8_t kind;    /* record kind, core-specific (see each core) */
	uint64_t key;    /* P_DEL_BELOW: delete kind's keys < key */
	size_t off, len; /* P_PUT: the value in effects.arena */
};

struct exec_note { /* one executed batch (for the simulator's checkers) */
	uint64_t seq;
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint32_t requests;
};

/* Evidence (issue 17, replica/core/evidence.h): the core found two conflicting
 * statements of `accused`; the proof's bytes are arena[off .. off+len).  Every
 * detection is noted (the simulator's "no false accusation" checker reads them); the
 * core also persists the first proof per accused replica (its own record kind). */
struct evidence_note {
	uint32_t accused;
	uint8_t kind; /* enum evidence_kind */
	size_t off, len;
};

struct effects {
	struct buf arena; /* bytes of sends and persists */
	struct send *sends;
	size_t n_sends, cap_sends;
	struct persist *persists;
	size_t n_persists, cap_persists;
	struct exec_note *execs;
	size_t n_execs, cap_execs;
	struct evidence_note *evidence;
	size_t n_evidence, cap_evidence;
	uint64_t timer_ms; /* absolute deadline; 0 = no timer wanted */
};

void effects_init(struct effects *e);
void effects_free(struct effects *e);
void effects_reset(struct effects *e); /* keeps capacity */
/* Record that arena[off..arena.len) is a sealed message for `to`. */
void effects_send(struct effects *e, int32_t to, uint32_t client, size_t off);
/* Copy val into the arena and record a persist. */
void effects_persist(struct effects *e, uint8_t op, uint8_t kind, uint64_t key, const void *val,
		     size_t len);
void effects_exec(struct effects *e, uint64_t seq, uint64_t view,
		  const uint8_t digest[WIRE_DIGEST_LEN], uint32_t requests);
/* Copy a proof into the arena and note it (see struct evidence_note). */
void effects_evidence(struct effects *e, uint32_t accused, uint8_t kind, const void *proof,
		      size_t len);
/* Non-zero if an allocation failed or the arena overflowed: the driver must not
 * apply a partial step (it aborts the process rather than speak inconsistently). */
int effects_failed(const struct effects *e);
/* The earlier of two timer deadlines, where 0 means "no deadline". */
uint64_t deadline_min(uint64_t a, uint64_t b);
/* A malloc'ed copy of len bytes (never NULL for len 0 unless out of memory). */
uint8_t *core_dup(const void *p, size_t len);

/* The primary's batching rule, shared by PBFT and VR (PBFT §5.1.4; Nagle's rule):
 * with nothing in flight, a batch starts at once, whatever it holds; with some in
 * flight, a batch starts only while fewer than `pipeline` are unexecuted and only
 * if it would hold min(batch_max, CORE_PIPELINED_BATCH_MIN) requests.  Requests
 * that arrive meanwhile gather into the next batch, so batches grow with load
 * instead of splitting it into small instances that each pay the per-instance
 * messages and signatures.  The minimum was measured (docs/EXPERIMENTS.md,
 * "Batching"): with 64 clients, 16 to 32 beat both 1 and 128. */
#define CORE_PIPELINED_BATCH_MIN 32u
bool core_may_start_batch(uint32_t waiting, uint32_t inflight, uint32_t batch_max,
			  uint32_t pipeline);

struct core_config {
	enum protocol protocol;
	uint32_t n, f, id;
	uint32_t cluster_id;
	uint32_t batch_max;
	uint32_t window;
	uint32_t checkpoint_interval;
	uint32_t view_timeout_ms;
	uint32_t max_clients; /* client ids 0..max_clients-1 */
	size_t kv_max_bytes;
	struct auth_ctx *auth;  /* seals our own messages (pure computation) */
	int read_only;          /* pbft: answer REQ_F_READONLY gets directly (§5.1.3) */
	uint32_t read_lease_ms; /* vr: leader leases (docs/VR.md); 0 = off */
	int digest_replies;     /* pbft: only the designated replier sends the full result */
	uint32_t plant_bugs;    /* simulator only: see tests/sim; 0 in replicas */
	/* pbft, robust = on (issue 16): backups watch the primary (pbft_monitor.h) */
	int robust;
	uint32_t robust_ratio_permille; /* share of the best recent throughput required */
	uint32_t robust_heartbeat_ms;   /* longest wait for a PRE-PREPARE while requests wait */
	int hotstuff_stable; /* hotstuff: leader stable until a timeout (else rotating) */
	/* hotstuff: committed blocks kept below the executed one, to serve (0: HS_KEEP;
	 * the simulator sets it low to test state transfer cheaply) */
	uint32_t hotstuff_keep;
	int hotstuff_round_robin; /* hotstuff_leader = rotating: v mod n (else reputation) */
	/* pbft, cluster.ini evidence = off (issue 17): no proofs kept, gossiped or acted
	 * upon (only to measure their cost).  0, the default, is on. */
	int evidence_off;
};

struct core_status {
	const char *protocol;
	uint64_t view;
	uint32_t primary;
	int view_changing;
	uint64_t last_executed;
	uint64_t stable_checkpoint;
	uint8_t state_digest[WIRE_DIGEST_LEN]; /* KV state at stable_checkpoint */
	uint64_t requests_executed;
	uint64_t requests_readonly; /* answered without agreement (PBFT §5.1.3; vr: from
				     * the leader lease) */
	uint64_t lease_until_ms;    /* vr: our lease ends then, on our clock (0: none) */
	uint64_t slots_caught_up;   /* executed on another view's commit certificate */
	uint64_t fetching;          /* checkpoint whose state is being fetched, 0: none */
	uint64_t rejected_old_view;
	uint64_t rejected_out_of_window;
	uint64_t rejected_conflict;
	uint64_t rejected_rate_limited; /* requests left unanswered: the peer's budget is spent */
	uint64_t vc_timer; /* pbft: view changes started because the view timer expired */
	/* pbft robust mode (pbft_monitor.h); all 0 with robust off */
	int robust;
	uint64_t robust_required_rps; /* requests/s the primary must sustain now (0: none) */
	uint64_t robust_measured_rps; /* requests/s of the last period with requests waiting */
	uint64_t robust_vc_monitor;   /* view changes we started: throughput too low */
	uint64_t robust_vc_heartbeat; /* view changes we started: no PRE-PREPARE in time */
	uint64_t robust_vc_request;   /* view changes we started: a request not ordered in time */
	uint64_t robust_stall_ms;     /* own stalls (timer fired late) credited to the primary */
	uint64_t robust_forwarded;    /* requests relayed to the primary when half overdue */
	uint64_t robust_order_p50_ms; /* a client's request reaching us -> its PRE-PREPARE: */
	uint64_t robust_order_p99_ms; /* upper bounds of power-of-two buckets (0: none) */
	uint64_t robust_order_deadline_ms; /* the relative ordering deadline in force */
	/* issue 17: conflicting statements seen per accused replica, and the kind of
	 * the proof kept (enum evidence_kind; 0: none) */
	uint64_t evidence[WIRE_MAX_REPLICAS];
	uint8_t evidence_kind[WIRE_MAX_REPLICAS];
	/* issue 17, acting on proofs (pbft_evidence.c); all 0 with evidence off */
	int evidence_on;
	uint64_t evidence_sent;   /* EVIDENCE messages sent (to all others: one each) */
	uint64_t evidence_learnt; /* proofs received that verified and were new to us */
	/* received against a replica already proven: dropped before any signature check */
	uint64_t evidence_duplicate;
	/* received and refused: not a proof, or it does not verify from the public keys */
	uint64_t rejected_bad_evidence;
	uint64_t ignored_proven;    /* messages of a proven replica ignored */
	uint64_t vc_proven_primary; /* view changes started: the primary is proven */
};

struct core_ops {
	const char *name;
	void *(*create)(const struct core_config *cfg);
	void (*destroy)(void *core);
	/* Before EV_START: one call per persisted record, in (kind, key) order. */
	int (*recover)(void *core, uint8_t kind, uint64_t key, const uint8_t *val, size_t len);
	/* Returns 0; effects appended to out (the driver resets it between steps). */
	int (*step)(void *core, const struct event *ev, struct effects *out);
	void (*status)(void *core, struct core_status *st);
};

extern const struct core_ops pbft_core_ops;
extern const struct core_ops single_core_ops;
extern const struct core_ops vr_core_ops;
extern const struct core_ops hotstuff_core_ops;
const struct core_ops *core_ops_for(enum protocol p);

#endif
