/* txlog.h - the forensic transcript of a real replica, in its store (issue 17 item 3).
 *
 * The same transcript the simulator keeps (replica/core/forensics.h: the signed
 * PRE-PREPAREs, PREPAREs, COMMITs and VIEW-CHANGEs a replica received through its edge
 * or sent, deduplicated, bounded), for the slots of its last K stable checkpoints
 * (cluster.ini forensics_k, default 2; 0: none kept).  Every entry the transcript adds
 * is also put in the store (TRANSCRIPT_REC records, forensics.h), riding on the write
 * transaction of a driver's turn that persists anything anyway (its commit, one fsync
 * with sync = full, precedes the turn's sends); entries no such turn took within
 * TXLOG_FLUSH_MS (or TXLOG_PENDING_MAX of them) get a commit of their own.  So a
 * replica's own statements reach the store with the core records of the step that
 * made them, and a crash loses at most the last TXLOG_FLUSH_MS of what it received:
 * a commit (an fsync) for every received vote cost 0.84x throughput.  At each new
 * stable checkpoint the entries of older slots go from memory and store alike.  After a
 * restart the records are read back (txlog_restore) before the core recovers;
 * `byzlab-audit` reads them too.
 */
#ifndef BYZLAB_TXLOG_H
#define BYZLAB_TXLOG_H

#include <stddef.h>
#include <stdint.h>

#include "replica/core/forensics.h"
#include "replica/store.h"

#define TXLOG_FLUSH_MS 100     /* entries wait at most this long for a commit ... */
#define TXLOG_PENDING_MAX 1024 /* ... and at most this many of them */

struct txlog {
	struct transcript t;
	size_t unsaved;         /* the last `unsaved` entries are not in the store yet */
	uint64_t unsaved_since; /* when the oldest of them came (ms) */
	uint32_t k, interval;   /* k = 0: off, nothing kept */
	uint64_t counter;       /* of the next record key (transcript_key) */
	uint64_t horizon;       /* slots at or below it are forgotten */
	uint64_t restored;      /* records read back at start */
	uint64_t put_bytes;     /* bytes written to the store since start */
};

void txlog_init(struct txlog *x, uint32_t cluster_id, uint32_t k, uint32_t interval);
void txlog_free(struct txlog *x);
static inline int txlog_on(const struct txlog *x)
{
	return x->k > 0;
}
/* One TRANSCRIPT_REC record of the store, at start.  Returns 0 (a record that adds
 * nothing - a duplicate, or the transcript full - is left alone). */
int txlog_restore(struct txlog *x, uint64_t key, const uint8_t *val, size_t len);
/* A message received (after the edge verified it) or sent: keep what forensics needs
 * of it; its new entries wait for txlog_flush. */
void txlog_note(struct txlog *x, const uint8_t *p, size_t len, uint64_t now_ms);
/* When the waiting entries must be flushed (ms; 0: none wait). */
uint64_t txlog_due(const struct txlog *x);
/* Put the waiting entries in the store (a write transaction must be open).  Returns 0,
 * or -1 if the store failed. */
int txlog_flush(struct txlog *x, struct store *s);
/* The stable checkpoint is now `low`: forget the slots before the last K checkpoints,
 * in memory and in the store (a write transaction must be open; waiting entries are
 * flushed first).  Returns 0 or -1. */
int txlog_checkpoint(struct txlog *x, struct store *s, uint64_t low);
/* ,"forensics":{"k":K,"entries":N,"bytes":B,"dropped":D,"restored":R,"unsaved":U}. */
int txlog_json(const struct txlog *x, char *out, size_t cap);

#endif
