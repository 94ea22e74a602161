/* edge.h - the edge sequence: where hostile bytes become a typed, authenticated message.
 *
 *     bytes -> wire_decode (bounded) -> edge rules (socket, type, sender) -> auth_verify
 *
 * One function, edge_receive(), runs the whole sequence, and both drivers call it: the
 * real replica (replica/replica.c, bytes from nng) and the simulator (tests/sim/world.c,
 * bytes from its virtual network); the decode fuzz target (tests/fuzz/fuzz_decode.c)
 * runs it too.  So the checks a message passes before a core sees it, and the way a
 * refused one is counted in `rejected.*`, cannot drift apart between the two.
 *
 * Pure: no IO, no clock, no globals; it belongs in byzlab_core (docs/ARCHITECTURE.md).
 */
#ifndef BYZLAB_EDGE_H
#define BYZLAB_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/auth.h"
#include "replica/park.h"
#include "wire/wire.h"

/* The replica's three listening planes (replica/net.h opens them): the edge rules
 * depend on which one a message came in on. */
enum net_sock { NET_PEER = 0, NET_CLIENT = 1, NET_ADMIN = 2, NET_NSOCK = 3 };

enum edge_verdict {
	EDGE_OK = 0,      /* m is decoded and authenticated: step the core with it */
	EDGE_BAD_FORMAT,  /* wire_decode refused the bytes (e->last_wire_err says why) */
	EDGE_NOT_ALLOWED, /* this type, or this sender, may not arrive on this socket */
	EDGE_UNHEARD,     /* the driver's hears() filter dropped it: not a reject */
	EDGE_BAD_AUTH,    /* auth_verify refused it (signature, MAC, shape, sender range) */
	/* robust mode: an unsigned request, or one from a banned client (auth_verify_client);
	 * counted by the auth context (rejected.unsigned_request, blacklisted_client) */
	EDGE_REFUSED_CLIENT,
	/* robust mode, at a backup: a hybrid request whose MAC for us is good was parked
	 * unverified (replica/park.h); it reaches the core only through edge_release.  If
	 * edge.relay is set, the driver relays its bytes to the primary now (park_put) */
	EDGE_PARKED,
	EDGE_NVERDICTS
};

/* What edge_receive counted.  bad_format and bad_auth are the status document's
 * rejected.bad_format and rejected.bad_auth (product.md); not_allowed is the part of
 * bad_format the edge rules refused (decoded fine, wrong plane or sender). */
struct edge_counters {
	uint64_t bad_format; /* EDGE_BAD_FORMAT + EDGE_NOT_ALLOWED */
	uint64_t not_allowed;
	uint64_t bad_auth;
	uint64_t unheard; /* EDGE_UNHEARD: never heard, so not a reject */
};

struct edge {
	uint32_t cluster_id;
	uint32_t n;           /* replicas: a replica type's sender is < n */
	uint32_t self;        /* our replica id: never a sender on the peer socket */
	uint32_t max_clients; /* client ids are < max_clients */
	struct auth_ctx *auth;
	/* Optional (NULL: hear everyone).  Asked after the edge rules, before any
	 * signature, for peer messages other than relayed REQUESTs: 0 drops the message
	 * unverified and uncounted as a reject.  The replica's fault layer uses it for
	 * partitions and one-way cuts (replica/faults.h); the simulator cuts links in its
	 * network instead. */
	int (*hears)(void *ctx, uint32_t sender);
	void *hears_ctx;
	struct edge_counters *count; /* where rejects are counted; never NULL */
	/* Optional (NULL: never park): robust mode's parked requests (replica/park.h).
	 * park_now is the driver's say, refreshed after each step: 1 while we are a
	 * backup of a robust PBFT cluster with auth = mac, in a view (not changing). */
	struct park *park;
	int park_now;
	int relay;         /* the last EDGE_PARKED: newly parked, relay it to the primary now */
	int last_wire_err; /* wire_decode's error of the last EDGE_BAD_FORMAT */
};

/* The edge rules, after wire_decode and before auth_verify: may a message of this
 * type and sender arrive on this socket?  Peer: replica-to-replica types (all but
 * REQUEST, REPLY, HELLO, STATUS_*, ADMIN_FAULTS) from sender < n, sender != self, and
 * REQUESTs relayed by a backup (PBFT §4.4) from a client id < max_clients.  Client:
 * REQUEST and HELLO from a client id < max_clients.  Admin: STATUS_REQ and
 * ADMIN_FAULTS.  Returns 1 if acceptable. */
int edge_allowed(enum net_sock sock, const struct msg *m, uint32_t n, uint32_t self,
		 uint32_t max_clients);

/* Run the edge sequence on p[0..len) received on sock from source (the client
 * connection a REQUEST came on, for robust mode's ban table; 0 for relayed messages,
 * which are never banned) at the driver's now_ms.  On EDGE_OK *m holds the
 * decoded message (pointing into p, which must outlive it); otherwise the reject is
 * counted in *e->count and *m must not be used beyond m->h (set only once decoded:
 * EDGE_NOT_ALLOWED, EDGE_UNHEARD, EDGE_BAD_AUTH). */
enum edge_verdict edge_receive(struct edge *e, enum net_sock sock, uint32_t source, uint64_t now_ms,
			       const uint8_t *p, size_t len, struct msg *m);

/* Robust mode: verify (auth_verify_client, the signature) the next parked request due
 * at now_ms, copied into scratch; *m is decoded from scratch, *relayed_ms is when it
 * was parked and relayed to the primary.  Returns EDGE_OK (step the core with *m),
 * EDGE_BAD_AUTH or EDGE_REFUSED_CLIENT (counted as edge_receive would), or
 * EDGE_NVERDICTS when nothing is due. */
enum edge_verdict edge_release(struct edge *e, uint64_t now_ms, struct buf *scratch, struct msg *m,
			       uint64_t *relayed_ms);

/* "ok", "bad-format", "not-allowed", "unheard", "bad-auth": for logs and traces. */
const char *edge_verdict_name(enum edge_verdict v);

#endif
