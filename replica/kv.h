/* kv.h - the replicated state machine: a deterministic key-value map.
 *
 * Operations are byte strings built with kv_op_*() and executed with kv_execute().
 * Op encoding (little-endian):
 *   put : 'P' | key_len u16 | key | val_len u32 | val
 *   get : 'G' | key_len u16 | key
 *   del : 'D' | key_len u16 | key
 *   cas : 'C' | key_len u16 | key | old_len u32 | old | new_len u32 | new
 *   null: 'N'                      (no-op; used by benchmarks with payload padding
 *                                   after the tag, which is ignored)
 * Result encoding: status u8 (KV_OK, KV_NOT_FOUND, KV_CAS_FAILED, KV_BAD_OP, KV_FULL)
 *   followed, for a successful get, by the value bytes; for a failed cas, by the
 *   current value (empty if absent).
 * Execution is a pure function of (state, op): no clock, no randomness, and the
 * state digest and snapshot do not depend on insertion order.
 */
#ifndef BYZLAB_KV_H
#define BYZLAB_KV_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

#define KV_MAX_KEY 256
#define KV_MAX_VAL (WIRE_MAX_OP - 16)
#define KV_DEFAULT_MAX_BYTES (256u << 20) /* keys+values+overhead held, in bytes */
#define KV_ENTRY_OVERHEAD 64              /* charged per entry against max_bytes */

enum kv_status { KV_OK = 0, KV_NOT_FOUND = 1, KV_CAS_FAILED = 2, KV_BAD_OP = 3, KV_FULL = 4 };

struct kv;

struct kv *kv_new(size_t max_bytes);
void kv_free(struct kv *kv);
void kv_clear(struct kv *kv);

/* Execute op; append the result encoding to out.  Returns the enum kv_status.
 * A malformed op is KV_BAD_OP and changes nothing. */
int kv_execute(struct kv *kv, const uint8_t *op, size_t op_len, struct buf *out);
/* Is this op read-only (get, or malformed)?  Used for PBFT's read-only optimization. */
int kv_op_is_readonly(const uint8_t *op, size_t op_len);

/* BLAKE2b-256 over the sorted (key, value) pairs. */
void kv_digest(const struct kv *kv, uint8_t out[WIRE_DIGEST_LEN]);
size_t kv_count(const struct kv *kv);

/* Snapshot: count u32, then sorted (key_len u16, key, val_len u32, val).  Restore
 * validates every length and replaces the state; on error the state is unchanged. */
void kv_snapshot(const struct kv *kv, struct buf *out);
int kv_restore(struct kv *kv, const uint8_t *p, size_t len);

/* Op builders (client side).  Return 0, or -1 if a length exceeds a limit. */
int kv_op_put(struct buf *b, const void *key, size_t klen, const void *val, size_t vlen);
int kv_op_get(struct buf *b, const void *key, size_t klen);
int kv_op_del(struct buf *b, const void *key, size_t klen);
int kv_op_cas(struct buf *b, const void *key, size_t klen, const void *old, size_t olen,
	      const void *nw, size_t nlen);
int kv_op_null(struct buf *b, size_t pad);

#endif
