/* client_core.h - the byzlab client as a pure state machine (issue 15).
 *
 * One core, two drivers: client/client.c drives it over nng with CLOCK_MONOTONIC
 * (byzlab-client, bench), tests/sim/client.c drives the very same code with the
 * simulator's virtual network and clock.  So the simulator's client-consistency and
 * linearizability checkers judge what the real client accepts.
 *
 * The core owns everything a client decides (PBFT §4.1):
 *   - timestamps: strictly increasing per client (max(ts_min, last + 1));
 *   - the request: encoded and sealed through cfg.auth (pure computation, like the
 *     replica cores); MACs, or a signature once CLIENT_SIGN_AFTER retransmissions
 *     went unanswered in mac mode (issue 14), or always with cfg.sign_always;
 *   - where it goes: the presumed primary (view mod n, view learned from replies),
 *     for HotStuff every replica (any may lead next), or with hotstuff_client =
 *     leaders the leaders of the f+1 views from the learned one on (its leader
 *     rotates: at least one of them is correct and proposes it in its turn),
 *     every replica on retransmission, every replica at once for a read-only get,
 *     and with cfg.send_all (pbft robust = on, Aardvark §4.2) every replica always,
 *     so that the backups watch each request's ordering (pbft_monitor.h) - or, with
 *     cfg.escalate_max_ms as well, the primary first and every replica once the
 *     request is unanswered after an adaptive escalation deadline (client_core_escalate_us);
 *   - retransmission: CLIENT_RTO_MS, doubling, capped at CLIENT_RTO_MAX_MS; give up
 *     after cfg.timeout_ms (0: never, the simulator);
 *   - PBFT §5.1.3: a read-only request that cannot gather 2f+1 matching replies is
 *     retried read-write with a new timestamp;
 *   - the accept rule (client_quorum_*): pbft f+1 matching replies from distinct
 *     replicas (2f+1 for read-only, and for every request with read_only = on); vr
 *     the reply of the primary of the reply's view; single one reply.
 * It does no I/O, reads no clock, has no globals: inputs are client_core_submit(),
 * client_core_on_reply() (a decoded reply that already passed auth_verify at the
 * driver's edge) and client_core_tick(), each with the driver's `now`; the output
 * (struct client_out) says what to send where, and when to call tick next.
 */
#ifndef BYZLAB_CLIENT_CORE_H
#define BYZLAB_CLIENT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/auth.h"
#include "wire/wire.h"

#define CLIENT_RTO_MS 300         /* first retransmit interval, then doubling */
#define CLIENT_RTO_MAX_MS 2400    /* the doubling stops here (8 x CLIENT_RTO_MS) */
#define CLIENT_SIGN_AFTER 2       /* mac mode: retransmissions before a client signs (issue 14) */
#define CLIENT_HS_STABLE_SHIFT 16 /* = HS_STABLE_SHIFT (hotstuff.h; the simulator asserts it) */

/* ---- the accept rule: reply collection for one request ---- */

struct client_quorum {
	enum protocol proto;
	uint32_t n, f;
	uint32_t need; /* matching replies required (pbft) */
	uint32_t client;
	uint64_t timestamp;
	uint8_t have[WIRE_MAX_REPLICAS];
	uint8_t full[WIRE_MAX_REPLICAS]; /* res holds the result, not only its digest */
	uint64_t view[WIRE_MAX_REPLICAS];
	uint8_t digest[WIRE_MAX_REPLICAS][WIRE_DIGEST_LEN]; /* of each result: they match */
	struct buf res[WIRE_MAX_REPLICAS];
	int done;        /* 1 once a result is accepted */
	uint32_t winner; /* slot of the accepted result */
};
void client_quorum_init(struct client_quorum *q);
void client_quorum_free(struct client_quorum *q);
/* Start collecting for (client, timestamp).  readonly: pbft needs 2f+1. */
void client_quorum_reset(struct client_quorum *q, enum protocol p, uint32_t n, uint32_t f,
			 uint32_t client, uint64_t timestamp, int readonly);
/* 1 if no result can reach the quorum any more, even if every replica that has not
 * answered yet answers alike (pbft: the replies so far disagree too much). */
int client_quorum_hopeless(const struct client_quorum *q);
/* Add one (already authenticated) reply.  A replica's later reply replaces its earlier
 * one, so each replica counts once.  Returns 1 if a result is accepted (now or
 * before), 0 if still waiting, -1 if the reply is ignored (other client or timestamp,
 * sender out of range, result too long, or not from vr's primary of its view). */
int client_quorum_add(struct client_quorum *q, uint32_t sender, uint64_t view, uint32_t client,
		      uint64_t timestamp, const uint8_t *res, size_t len);
/* The same for a reply of either kind (wire.h, the REPLY header's seq): with
 * REPLY_DIGEST, res is the result's digest; pbft then needs need matching digests, at
 * least one of them from a full result (which becomes the winner). */
int client_quorum_add_kind(struct client_quorum *q, uint32_t sender, uint64_t view, uint32_t client,
			   uint64_t timestamp, int kind, const uint8_t *res, size_t len);
/* After acceptance: the view to adopt.  pbft: the (f+1)-th highest view reported for
 * this request, so at least one correct replica is in that view or later (f liars
 * cannot steer us to a view nobody correct is in); vr: the accepted reply's view. */
uint64_t client_quorum_view(const struct client_quorum *q);

/* HotStuff: the replicas that lead the f+1 views from `view` on (bit r = replica r),
 * the same leader function as hotstuff.h hs_leader(). */
uint32_t client_hotstuff_leaders(uint32_t n, uint32_t f, bool stable, uint64_t view);

/* ---- the core ---- */

/* Planted client bugs: only the simulator sets them (docs/TESTING.md), to show that
 * its checkers judge this very core. */
enum client_bug {
	CLIENT_BUG_NONE = 0,
	CLIENT_BUG_ACCEPT_F,           /* pbft read-write: accept after f matching replies */
	CLIENT_BUG_READONLY_WRITES_F1, /* read_only = on: writes with f+1 (reads 2f+1) */
	CLIENT_BUG_READONLY_QUORUM_F1, /* read_only = on: every request with f+1 */
};

struct client_core_config {
	enum protocol proto;
	uint32_t n, f;    /* n <= WIRE_MAX_REPLICAS */
	uint32_t id;      /* our client id */
	uint32_t cluster; /* cluster id for the wire header */
	bool read_only;   /* pbft read_only = on: gets go read-only (PBFT §5.1.3) */
	bool lease_reads; /* vr read_lease_ms > 0: gets go flagged read-only to the
			      * primary, which answers alone while its lease holds */
	bool sign_always; /* mac mode: sign every request from the first send */
	bool send_all;    /* pbft robust = on: every send goes to all replicas (Aardvark §4.2) */
	bool hotstuff_stable;  /* hotstuff_leader = stable: a leader holds 2^16 views */
	bool hotstuff_leaders; /* hotstuff_client = leaders: first sends to f+1 leaders */
	/* with send_all: 0, every request goes to all replicas at once; > 0, to the primary
	 * first and to all once unanswered after 3 x the client's recent latency, within
	 * [escalate_max_ms / 4, escalate_max_ms] (robust = on: robust_heartbeat_ms / 2) */
	uint32_t escalate_max_ms;
	bool bad_mac;        /* lab (issue 14): MACs garbled but the primary's; never signs */
	uint32_t timeout_ms; /* give a request up after this; 0: never */
	enum client_bug bug;
	struct auth_ctx *auth; /* seals our requests (pure computation); not owned */
};

/* States (client.h's enum client_state has the same values). */
enum { CC_IDLE = 0, CC_PENDING = 1, CC_DONE = 2, CC_TIMEOUT = 3 };

#define CLIENT_SEND_NONE UINT32_MAX
#define CLIENT_SEND_ALL (UINT32_MAX - 1)
#define CLIENT_SEND_SET (UINT32_MAX - 2) /* the replicas in client_out.send_set */

/* What one call asks of the driver.  Carry out `send_to` with client_core_request()
 * (the sealed request bytes), then wait until `next_tick_us` or a reply. */
struct client_out {
	uint32_t send_to;      /* CLIENT_SEND_NONE, CLIENT_SEND_ALL, CLIENT_SEND_SET, or a
				* replica id */
	uint32_t send_set;     /* CLIENT_SEND_SET: bit r set = send to replica r */
	uint32_t skip;         /* with CLIENT_SEND_ALL: not to this replica (an escalation
				* skips the primary, which has it), CLIENT_SEND_NONE: none */
	bool retransmit;       /* the send is a retransmission (to every replica) */
	bool readonly_retry;   /* a read-only request went read-write (new timestamp) */
	bool started_signing;  /* mac mode: from this send on, requests are signed */
	bool done;             /* a result was accepted: client_core_result() */
	bool timed_out;        /* the request was given up */
	uint64_t next_tick_us; /* UINT64_MAX: nothing pending */
};

/* Counters the core keeps (the driver adds its own I/O counters). */
struct client_core_stats {
	uint64_t requests;    /* submitted */
	uint64_t retransmits; /* rounds of "send to all" */
	uint64_t escalations; /* send_all with escalate_max_ms: requests sent to all early */
	uint64_t replies;     /* replies counted for a pending request */
	uint64_t stale;       /* replies for another timestamp, or when idle */
	uint64_t timeouts;
	uint64_t readonly_retries; /* read-only requests retried as read-write */
	uint64_t signed_requests;  /* mac mode: went signed after CLIENT_SIGN_AFTER retries */
};

struct client_core {
	struct client_core_config cfg;
	struct client_quorum q;
	struct buf op;  /* the pending operation */
	struct buf req; /* the pending request, sealed */
	int state;      /* CC_* */
	uint8_t flags;  /* REQ_F_* of the pending request */
	uint64_t ts;    /* timestamp of the pending (or last) request */
	uint64_t view;  /* learned from replies: the primary is view mod n */
	uint64_t deadline_us, next_rt_us, rto_us;
	uint64_t sent_us;        /* the pending request's first send */
	uint64_t escalate_at_us; /* escalation due (0: none pending, or done) */
	uint64_t lat_avg_us;     /* moving average of completed requests' latency (0: none yet) */
	uint32_t tries;          /* retransmissions of the pending request */
	bool signing;            /* requests go signed (sticky: a replica may suspect us) */
	struct client_core_stats stats;
};

/* Requires: cfg->n in 1..WIRE_MAX_REPLICAS, cfg->auth set up for client cfg->id. */
void client_core_init(struct client_core *c, const struct client_core_config *cfg);
void client_core_free(struct client_core *c);

/* Start a request for op.  ts_min: a floor for its timestamp (the real client's
 * persisted clock, 0 for none); the timestamp is max(ts_min, last + 1).  Returns 0,
 * or -1 (a request is pending, op too long, out of memory): then out says nothing. */
int client_core_submit(struct client_core *c, const uint8_t *op, size_t op_len, uint8_t flags,
		       uint64_t ts_min, uint64_t now_us, struct client_out *out);

/* Would a reply for (client, ts) count?  The driver asks before paying for
 * auth_verify: only a reply that could complete the pending request is worth it. */
bool client_core_wants(const struct client_core *c, uint32_t client, uint64_t ts);

/* A decoded, authenticated REPLY.  Requires m->h.type == MSG_REPLY. */
void client_core_on_reply(struct client_core *c, const struct msg *m, uint64_t now_us,
			  struct client_out *out);

/* The client's edge, as every driver (client/client.c, tests/sim/client.c, the reply
 * fuzzer) receives a reply: cheap, unauthenticated filters first - only a reply that
 * could complete the pending request (client_core_wants) is worth auth_verify with
 * cfg.auth; the others the core counts as stale and looks no further - then
 * client_core_on_reply.  client_core_receive() decodes the bytes first (wire_decode
 * with cfg.cluster; REPLY only).  Both fill *out and return CLIENT_RX_OK, or, with
 * nothing for the driver to do (out says so), CLIENT_RX_BAD_FORMAT (not a REPLY) or
 * CLIENT_RX_BAD_AUTH (a wanted reply that failed auth_verify). */
enum { CLIENT_RX_OK = 0, CLIENT_RX_BAD_FORMAT = -1, CLIENT_RX_BAD_AUTH = -2 };
int client_core_take_reply(struct client_core *c, const struct msg *m, uint64_t now_us,
			   struct client_out *out);
int client_core_receive(struct client_core *c, const uint8_t *p, size_t len, uint64_t now_us,
			struct client_out *out);

/* Time passed: retransmit, retry read-write, or give up, when due. */
void client_core_tick(struct client_core *c, uint64_t now_us, struct client_out *out);

/* The escalation deadline (µs after the first send) for the next request: 3 x the
 * moving average of this client's latency, within [escalate_max_ms / 4,
 * escalate_max_ms]; escalate_max_ms before any request completed.  0: no escalation. */
uint64_t client_core_escalate_us(const struct client_core *c);

/* When tick next has something to do (UINT64_MAX if nothing is pending). */
uint64_t client_core_next_tick(const struct client_core *c);
/* The sealed pending request. */
const struct buf *client_core_request(const struct client_core *c);
/* The accepted result (valid in CC_DONE until the next submit; len 0 otherwise). */
const uint8_t *client_core_result(const struct client_core *c, size_t *len);

#endif
