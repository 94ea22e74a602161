/* park.h - robust mode: a backup's lazy signature check of the requests clients send it.
 *
 * Robust mode (issue 16) has clients sign every request and, with PBFT, send it to every
 * replica (Aardvark §4.2), so that the backups hold it pending and vote the primary out
 * if it is not ordered in time.  Before a backup may blame the primary for a request, it
 * must know the request is good for everybody: its signature must verify (a client could
 * make its MAC good for one backup only, and the correct primary would rightly refuse
 * the request).  Aardvark checks it at once, at every replica: n signature checks per
 * request.  byzlab parks it instead (docs/PROTOCOL.md §6.3): a backup that finds its own
 * MAC slot good puts the request aside, unverified and unseen by its core; if it
 * executes within delay_ms (the core replies to the client for it, or for a later
 * request of the same client), the parked copy is dropped - the primary ordered it,
 * nobody is blamed, and no signature was checked.  Only a request still parked after
 * delay_ms is released: its signature is checked then (edge_release), and the core
 * gets it as if it had just arrived.  So a fault-free request costs a backup one MAC,
 * and a request the primary does not get executed costs it one signature, delay_ms
 * later.  (Executed, not pre-prepared: a faulty primary could pre-prepare a request at
 * f+1 correct backups only and never let it commit; had they forgotten it, it would
 * stall with only f correct replicas left to blame the primary.)  Read-only requests
 * (REQ_F_READONLY) are never parked: every replica answers them directly.
 *
 * One entry per client (a client has one request outstanding, PBFT §4.1: a newer one
 * replaces the older), each a copy of one request (at most PARK_MAX_REQ bytes, park.c);
 * so the table is bounded by max_clients such copies.  Pure: no clock (now_ms is passed in), no IO.
 */
#ifndef BYZLAB_PARK_H
#define BYZLAB_PARK_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct parked {
	uint64_t ts;     /* the request's timestamp; 0: empty */
	uint64_t due_ms; /* released (verified) at this time unless ordered first */
	uint64_t put_ms; /* when it arrived, and was relayed to the primary unverified */
	uint32_t puts;   /* requests parked here since the client's last was answered */
	uint32_t source; /* the client connection it came on (the ban table's key) */
	uint32_t len, cap;
	uint8_t *bytes;
};

struct park {
	uint32_t n_clients;
	uint32_t delay_ms;
	uint32_t in_use;  /* entries with ts != 0 */
	struct parked *e; /* n_clients entries */
	/* counters (status "park"): parked, dropped because they were answered (executed),
	 * released for a signature check, replaced by a newer request of the client */
	uint64_t parked, answered, released, replaced;
};

/* 0, or -1 if out of memory. */
int park_init(struct park *p, uint32_t n_clients, uint32_t delay_ms);
void park_free(struct park *p);

/* Requests of one client parked (and relayed unverified) in a row without one being
 * answered or released: the next one is verified at once instead, so a client with
 * bad signatures and good MACs makes a backup relay at most this many to the primary
 * before its signature is checked (and its connection banned). */
#define PARK_RELAY_MAX 4

/* Park the decoded REQUEST m (its raw bytes are copied) from source at now_ms.  An
 * older request of the same client is replaced; a request not newer than the one
 * parked is dropped (a retransmission).  Returns 1 if parked (the caller relays its
 * bytes to the primary now: the ordering deadline counts from that relay), 0 if
 * already held (nothing to do), -1 if it could not be (client id out of range, out of
 * memory, PARK_RELAY_MAX reached: the caller verifies it now). */
int park_put(struct park *p, const struct msg *m, uint32_t source, uint64_t now_ms);

/* The core replied to client for timestamp ts (the request executed): drop the
 * client's parked request if its timestamp is not above ts. */
void park_answered(struct park *p, uint32_t client, uint64_t ts);

/* The earliest due time of a parked request, 0 if none. */
uint64_t park_deadline(const struct park *p);

/* Pop one request due at now_ms into out (its bytes, reset first), *source and
 * *put_ms (when it was parked and relayed).  Returns 1 if one was popped, 0 if none is
 * due. */
int park_pop_due(struct park *p, uint64_t now_ms, struct buf *out, uint32_t *source,
		 uint64_t *put_ms);

#endif
