/* replica.h - the real replica's driver: an event loop that feeds a protocol core
 * (replica/core/core.h) with authenticated messages and timer ticks, and carries out
 * its effects: persist (LMDB, replica/store.h) first, then send (replica/net.h).
 *
 * Kept apart from main() (argument parsing, signals) so tests and tools can reuse the
 * pieces: the status document, the logger (the edge check is replica/edge.h).
 *
 * Timer contract with the core (core.h): after every step, effects.timer_ms is the
 * deadline (absolute, monotonic ms; 0 = none wanted), replacing the previous one.
 * When it passes the driver steps EV_TICK.  A tick that finds nothing due must be a
 * harmless no-op for the core.
 */
#ifndef BYZLAB_REPLICA_H
#define BYZLAB_REPLICA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/auth.h"
#include "replica/core/core.h"
#include "replica/edge.h"
#include "replica/net.h"
#include "wire/wire.h"

#define REPLICA_BYZ_MAX 256 /* bytes of a --byz specification */

/* Counters kept by the driver (the rest come from net, auth and the core). */
struct replica_counters {
	uint64_t msgs_recv, bytes_recv; /* peer and client sockets, every message */
	struct edge_counters edge;      /* rejects at the edge (replica/edge.h) */
};

struct replica;

/* Open the store at <cfg->data>/<id>/, create the core, feed it every stored record,
 * open the sockets and step EV_START.  auth must outlive the replica (the core seals
 * with it); its window and batch_max are set from cfg (auth_verify's shape checks).  byz: the --byz string or NULL: the step's effects then pass the lying
 * layer (replica/byz.h).  cfg->faults is applied (replica/faults.h).
 * Returns 0, or -1 with a message in err. */
int replica_open(struct replica **out, const struct config *cfg, uint32_t id,
		 const struct core_ops *ops, struct auth_ctx *auth, const char *byz, char *err,
		 size_t errlen);
/* Serve until *stop becomes non-zero.  waitmask: the signal mask to wait with in
 * ppoll() (signals that set *stop are blocked elsewhere, so they can only arrive
 * while we wait), or NULL.  Returns 0 when stopped, -1 on a fatal socket error. */
int replica_run(struct replica *r, volatile sig_atomic_t *stop, const sigset_t *waitmask);
void replica_close(struct replica *r);

/* Everything the status document reports. */
struct status_input {
	uint32_t id, n, f;
	const struct core_status *cs;
	const struct replica_counters *c;
	const struct net_stats *net;
	const struct auth_ctx *auth; /* sigs_made, sigs_verified, macs_made, macs_verified */
	const char *byz;             /* NULL: "byz":null */
	const char *extra;           /* more members ("k":v,...), or NULL (faults, lies) */
	long pid;
	uint64_t uptime_ms;
};

/* Write the one-line status JSON (keys of product.md plus extras) into out.
 * Returns its length (< WIRE_MAX_STATUS), or -1 if it does not fit in cap. */
int status_json(const struct status_input *in, char *out, size_t cap);

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t mono_ms(void);
/* One line to stderr: "<UTC timestamp> <prefix>: <message>". */
void rlog_set_prefix(const char *prefix);
void rlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
