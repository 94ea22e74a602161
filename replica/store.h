/* store.h - the durable log: (kind, key) -> bytes records in LMDB.
 *
 * The protocol cores never touch LMDB; they emit persist effects (replica/core/core.h)
 * which the driver applies here in one write transaction per step, committed (and,
 * with sync = full, fsynced) before any message of that step leaves.  On restart
 * the driver iterates every record in (kind, key) order and hands it to the core.
 * Keys are 9 bytes: kind, then key big-endian, so LMDB's order is (kind, key).
 */
#ifndef BYZLAB_STORE_H
#define BYZLAB_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Open (creating dir 0700 if needed).  map_bytes: LMDB map size (0: 1 GiB).
 * Returns 0, or -1 with a message naming dir in err. */
int store_open(const char *dir, int sync_full, size_t map_bytes, struct store **out, char *err,
	       size_t errlen);
void store_close(struct store *s);

/* A write transaction.  Every call between begin and commit is atomic. */
int store_begin(struct store *s);
int store_put(struct store *s, uint8_t kind, uint64_t key, const void *val, size_t len);
int store_del(struct store *s, uint8_t kind, uint64_t key);         /* absent: ok */
int store_del_below(struct store *s, uint8_t kind, uint64_t below); /* keys < below */
int store_commit(struct store *s); /* durable on return when sync_full */
void store_abort(struct store *s);

/* Read one record (outside a write transaction).  Copies up to cap bytes into val,
 * sets *len to the full length.  Returns 0, 1 if absent, -1 on error. */
int store_get(struct store *s, uint8_t kind, uint64_t key, void *val, size_t cap, size_t *len);

/* Visit every record in (kind, key) order; stops early if cb returns non-zero and
 * returns that value.  Pointers are valid only during the callback. */
typedef int (*store_visit_fn)(void *arg, uint8_t kind, uint64_t key, const uint8_t *val,
			      size_t len);
int store_iterate(struct store *s, store_visit_fn cb, void *arg);

/* Bytes the LMDB data file occupies on disk (for the "LMDB stays bounded" tests). */
long long store_file_bytes(struct store *s);
const char *store_last_error(struct store *s);

#endif
