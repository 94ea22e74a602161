/* exec.h - executing client requests exactly once: the KV state machine plus the
 * per-client table of PBFT §4.1 (last timestamp executed, and its result, so a
 * retransmitted request is answered from the cache and never executed twice).
 * Shared by every core, so pbft, vr and single execute identically.  Pure: no I/O.
 */
#ifndef BYZLAB_EXEC_H
#define BYZLAB_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "replica/kv.h"
#include "wire/wire.h"

struct client_entry {
	uint64_t last_ts; /* 0: nothing executed yet */
	uint32_t result_len;
	uint8_t *result; /* result of last_ts, owned */
};

struct exec_state {
	struct kv *kv;
	uint32_t max_clients;
	struct client_entry *clients; /* max_clients entries */
	struct buf out;               /* scratch for one result */
};

int exec_init(struct exec_state *x, uint32_t max_clients, size_t kv_max_bytes);
void exec_free(struct exec_state *x);

enum exec_verdict {
	EXEC_NEW = 0,    /* timestamp above the last executed: execute it */
	EXEC_CACHED = 1, /* timestamp equals the last executed: resend cached result */
	EXEC_STALE = 2   /* older, or client id out of range: ignore */
};
/* Classify a request without executing it. */
int exec_classify(const struct exec_state *x, uint32_t client, uint64_t ts);

/* Execute a decoded REQUEST if it is new (EXEC_NEW); returns the verdict.  For NEW
 * and CACHED, *result / *result_len point at the cached result (valid until the
 * client's next execution). */
int exec_request(struct exec_state *x, const struct msg *req, const uint8_t **result,
		 uint32_t *result_len);

/* Execute a read-only operation (kv_op_is_readonly) against the current state without
 * touching the client table: PBFT §5.1.3.  The result is valid until the next call. */
void exec_read(struct exec_state *x, const uint8_t *op, uint32_t op_len, const uint8_t **result,
	       uint32_t *result_len);

/* Snapshot of the whole replicated state (KV + client table), and its digest. */
void exec_snapshot(const struct exec_state *x, struct buf *out);
int exec_restore(struct exec_state *x, const uint8_t *p, size_t len);
void exec_digest(const struct exec_state *x, uint8_t out[WIRE_DIGEST_LEN]);

#endif
