/* client.h - the byzlab client library: requests, retransmission, reply quorums.
 *
 * Transport: one nng PAIR1 socket per replica, dialing the replica's `client` address
 * in the background (NNG_FLAG_NONBLOCK), so a client starts before its replicas and
 * reconnects after a replica restart.  Right after opening, a sealed HELLO goes to
 * every replica ("route my replies over this connection"); after a reconnect the
 * HELLO is sent again.  Sends never block: a full queue drops, retransmission covers.
 *
 * The protocol itself - request, retransmission, accept rule - is the client core
 * (client_core.h), which the simulator drives too; this is its nng driver.
 * One request at a time per client (PBFT §4.1):
 *   - timestamp = max(CLOCK_REALTIME in us, last used + 1); "last used" survives the
 *     process in a small state file (see struct client_ts), so timestamps strictly
 *     increase across invocations with the same client id;
 *   - the request goes to the presumed primary (view mod n, view learned from
 *     replies); with no result after CLIENT_RTO_MS (doubling up to CLIENT_RTO_MAX_MS), the same request (same
 *     timestamp) goes to every replica; after timeout_ms the request is given up
 *     (exit code 3);
 *   - accept rule: pbft: f+1 replies from distinct replicas with our id, this
 *     timestamp and byte-identical results (2f+1 for a REQ_F_READONLY request, which
 *     replicas may answer from tentative state); vr: one reply from the primary of
 *     the reply's view (sender == view mod n); single: one reply.
 *
 * Two ways to drive a client:
 *   synchronous : client_invoke() - submit and wait (the CLI);
 *   asynchronous: client_submit(), then poll client_fds() and call
 *                 client_on_readable() / client_on_tick() until client_state() is
 *                 CLIENT_DONE or CLIENT_TIMEOUT (bench: many clients, one poll loop).
 * A bz_client is used by one thread.
 */
#ifndef BYZLAB_CLIENT_H
#define BYZLAB_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/client_core.h"
#include "config/config.h"
#include "wire/wire.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 5000
#define CLIENT_STATUS_TIMEOUT_MS 1000 /* status default: down replicas answer nothing */
#define CLIENT_POLL_CAP_MS 50         /* wake at least this often (re-HELLO after reconnect) */

/* Exit codes of every program (product contract). */
enum client_exit {
	CLIENT_EXIT_OK = 0,
	CLIENT_EXIT_FAILED = 1,
	CLIENT_EXIT_USAGE = 2,
	CLIENT_EXIT_NO_QUORUM = 3
};

/* ---- pure pieces, unit-tested without replicas ---- */

/* Parse a decimal u32 in [min, max]; no sign, no trailing junk.  Returns 0 or -1. */
int client_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* The accept rule (struct client_quorum, client_quorum_*) lives in the client core,
 * client_core.h, with the rest of the client's protocol decisions. */

/* Timestamps that strictly increase across invocations.  State file DIR/client-J.ts
 * holds the highest timestamp this client id may have used, as decimal text; it is
 * replaced by write-to-temp + rename under an flock on DIR/client-J.ts.lock (so
 * concurrent processes with one id do not hand out the same timestamp).  No fsync:
 * after a machine crash the clock has moved past the lost value anyway.
 * lease_us > 0 persists "used up to t + lease_us" and then hands out timestamps up to
 * that without touching the file again (bench: no file I/O per operation). */
struct client_ts {
	char path[CONFIG_PATH_MAX + 64]; /* empty: clock only (directory unusable) */
	uint64_t last;                   /* last timestamp handed out */
	uint64_t reserved;               /* persisted bound: we may use up to this */
	uint64_t lease_us;
};
/* The state directory: $BYZLAB_CLIENT_STATE if set, else <config dir>/clientstate.
 * Returns 0, or -1 if it does not fit. */
int client_state_dir(const struct config *c, char *out, size_t outlen);
/* Creates dir (and parents, mode 0700) if needed; if it cannot, falls back to the
 * clock silently. */
void client_ts_open(struct client_ts *t, const char *dir, uint32_t client_id, uint64_t lease_us);
/* A timestamp > every one handed out before (here, or earlier with this id). */
uint64_t client_ts_next(struct client_ts *t, uint64_t now_realtime_us);
/* The client core picked ts itself (last + 1, a read-only retry): count it as handed
 * out, persisting it if it is beyond the reservation. */
void client_ts_cover(struct client_ts *t, uint64_t ts);

/* CLI result rendering.  Prints to out (success) or err (failure) and returns the exit
 * code: put/del "OK" (del of an absent key too); get the value, or "NOT_FOUND" on err
 * and 1; cas "OK", or "CAS_FAILED current=<value>" on err and 1; KV_BAD_OP / KV_FULL /
 * malformed results: a message on err and 1. */
enum client_cmd { CLIENT_CMD_PUT, CLIENT_CMD_GET, CLIENT_CMD_DEL, CLIENT_CMD_CAS };
int client_print_result(enum client_cmd cmd, const uint8_t *res, size_t len, FILE *out, FILE *err);

/* Nearest-rank percentile (p in 0..100) of sorted v[0..n); 0 if n == 0. */
uint64_t client_percentile(const uint32_t *sorted, size_t n, unsigned p);

uint64_t client_mono_us(void);     /* CLOCK_MONOTONIC */
uint64_t client_realtime_us(void); /* CLOCK_REALTIME */

/* ---- the client ---- */

enum client_state { CLIENT_IDLE = 0, CLIENT_PENDING = 1, CLIENT_DONE = 2, CLIENT_TIMEOUT = 3 };

struct client_stats {
	uint64_t requests;    /* submitted */
	uint64_t sends;       /* messages handed to nng (requests, retransmits, HELLOs) */
	uint64_t bytes_sent;  /* their bytes */
	uint64_t send_drops;  /* nng refused (queue full) */
	uint64_t retransmits; /* rounds of "send to all" */
	uint64_t escalations; /* robust: requests sent to all at the escalation deadline */
	uint64_t replies;     /* authentic replies counted for a pending request */
	uint64_t stale;       /* replies for another timestamp or when idle */
	uint64_t bad;         /* garbage: undecodable, wrong type, bad auth */
	uint64_t timeouts;
	uint64_t readonly_retries; /* read-only requests retried as read-write (PBFT §5.1.3) */
	uint64_t signed_requests;  /* mac mode: went signed after CLIENT_SIGN_AFTER retries */
};

struct bz_client;

/* Open a client with id client_id (< c->clients) for the validated config c: load
 * keys (our client-J.key and every replica's .pub), open and dial one socket per
 * replica, send HELLO to each.  Returns 0, or -1 with a message in err (a key or
 * id problem: exit code 2). */
int client_open(const struct config *c, uint32_t client_id, uint32_t timeout_ms,
		struct bz_client **out, char *err, size_t errlen);
void client_close(struct bz_client *cl);
/* Persist timestamps in leases of lease_us (see struct client_ts); default 0. */
void client_set_ts_lease(struct bz_client *cl, uint64_t lease_us);
/* Lab only (issue 14): a faulty client whose MAC authenticators are garbled in every
 * slot but the primary's, and which never signs. */
void client_set_bad_mac(struct bz_client *cl, int on);

/* Synchronous: returns 0 (result holds the raw result bytes), 1 (local failure,
 * client_error() says why) or 3 (no accepted result before the timeout). */
int client_invoke(struct bz_client *cl, const uint8_t *op, size_t op_len, uint8_t flags,
		  struct buf *result);

/* Asynchronous.  now_us is CLOCK_MONOTONIC (client_mono_us()); tests may pass their
 * own.  client_submit returns 0, or -1 (busy, op too long, encoding failed). */
int client_submit(struct bz_client *cl, const uint8_t *op, size_t op_len, uint8_t flags,
		  uint64_t now_us);
/* File descriptors to poll for POLLIN (one per replica).  Returns how many (<= max). */
size_t client_fds(const struct bz_client *cl, int *fds, size_t max);
/* Drain every socket without blocking; returns client_state(). */
int client_on_readable(struct bz_client *cl, uint64_t now_us);
/* Retransmit / give up when due, re-HELLO reconnected replicas; returns client_state(). */
int client_on_tick(struct bz_client *cl, uint64_t now_us);
/* When client_on_tick() next has something to do (UINT64_MAX if idle). */
uint64_t client_next_deadline(const struct bz_client *cl);
int client_state(const struct bz_client *cl);
/* The accepted result of the last request (valid in CLIENT_DONE until the next submit). */
const uint8_t *client_result(const struct bz_client *cl, size_t *len);
uint64_t client_timestamp(const struct bz_client *cl); /* of the current/last request */
uint64_t client_view(const struct bz_client *cl);
uint32_t client_id(const struct bz_client *cl);
const struct client_stats *client_get_stats(const struct bz_client *cl);
/* Signatures made+verified and MACs made+verified by this client so far. */
void client_crypto_ops(const struct bz_client *cl, uint64_t *sig_ops, uint64_t *mac_ops);
const char *client_error(const struct bz_client *cl);

/* ---- groups: many clients, one connection per replica (bench) ----
 *
 * count clients with ids first_id.. share one PAIR1 socket per replica instead of one
 * each; every member sends HELLO over it, so each replica routes all of their replies
 * to that connection, and coalesces the replies of one loop turn into one nng
 * message (a bundle, replica/net.h).  Members' sends are queued and leave, one nng
 * message per replica, at client_group_flush().  Drive it: poll client_group_fds(),
 * call client_group_on_readable() (hands each reply to the member it names), then
 * client_on_tick()/client_submit() per member, then client_group_flush(). */
struct client_group;
struct client_group_stats {
	uint64_t frames_sent, frames_recv; /* nng messages */
	uint64_t msgs_recv;                /* wire messages inside them */
	uint64_t send_drops, bad;
};
int client_group_open(const struct config *c, uint32_t first_id, uint32_t count,
		      uint32_t timeout_ms, struct client_group **out, char *err, size_t errlen);
void client_group_close(struct client_group *g);
struct bz_client *client_group_member(struct client_group *g, uint32_t i);
size_t client_group_fds(const struct client_group *g, int *fds, size_t max);
void client_group_on_readable(struct client_group *g, uint64_t now_us);
void client_group_flush(struct client_group *g);
const struct client_group_stats *client_group_get_stats(const struct client_group *g);

/* Status: ask every replica's admin address in parallel, print one JSON object per
 * replica per line in id order; a replica that does not answer within timeout_ms is
 * printed as {"id":I,"down":true}.  Down replicas are reported, not errors: returns 0,
 * or 1 only if nng itself fails. */
int client_status(const struct config *c, uint32_t timeout_ms, FILE *out);

/* A command-line option's value, shared by the CLI and bench: "--opt V" or
 * "--opt=V"; NULL if argv[*i] is another option, "" if the value is missing. */
const char *client_opt_value(int argc, char **argv, int *i, const char *name);

#endif
