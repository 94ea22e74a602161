/* txlog.h - the forensic transcript of a real replica, in its store (issue 17 item 3).
 *
 * The same transcript the simulator keeps (replica/core/forensics.h: the signed
 * PRE-PREPAREs, PREPAREs, COMMITs and VIEW-CHANGEs a replica received through its edge
 * or sent, deduplicated, bounded), for the slots of its last K stable checkpoints
 * (cluster.ini forensics_k, default 2; 0: none kept).  New entries wait in memory and
 * go to the store together: on the write transaction of the first driver's turn that
 * has one once the oldest of them waited TXLOG_FLUSH_MS (or TXLOG_PENDING_MAX wait),
 * in one of their own once it waited TXLOG_FORCE_MS, at each new stable checkpoint
 * and at a clean stop; one TRANSCRIPT_REC record (a block, forensics.h) per checkpoint
 * interval they fall in.  So a crash loses at most the last TXLOG_FORCE_MS of the
 * transcript
 * (its own statements as well: they never prove anything against another replica),
 * never a core record.  Why not a record per entry on every turn's commit: the
 * records made LMDB's tree one level deeper, and every commit of the core's records
 * wrote one more page; with sync = full that cost 0.93x throughput (a commit for every
 * received vote, the first version, 0.84x; docs/EXPERIMENTS.md §9.1).  At each new
 * stable checkpoint the entries of older slots go from memory and store alike (whole
 * blocks: a block holds one interval).  After a restart the records are read back
 * (txlog_restore) before the core recovers; `byzlab-audit` reads them too.
 */
#ifndef BYZLAB_TXLOG_H
#define BYZLAB_TXLOG_H

#include <stddef.h>
#include <stdint.h>

#include "replica/core/forensics.h"
#include "replica/store.h"

#define TXLOG_FLUSH_MS 100     /* entries ride on a turn's commit after this long ... */
#define TXLOG_PENDING_MAX 1024 /* ... or once this many wait; */
#define TXLOG_FORCE_MS 500     /* a commit of their own after this long */

struct txlog {
	struct transcript t;
	size_t unsaved;         /* the last `unsaved` entries are not in the store yet */
	uint64_t unsaved_since; /* when the oldest of them came (ms) */
	uint32_t k, interval;   /* k = 0: off, nothing kept */
	uint64_t counter;       /* of the next record key (transcript_key) */
	uint64_t horizon;       /* slots at or below it are forgotten */
	uint64_t restored;      /* entries read back at start */
	uint64_t refused;       /* records read back that are not blocks (corrupt) */
	int on_disk;            /* records were read back (forensics_k = 0: they go) */
	uint64_t put_bytes;     /* bytes written to the store since start */
	struct buf block;       /* where a record is put together */
};

void txlog_init(struct txlog *x, uint32_t cluster_id, uint32_t k, uint32_t interval);
void txlog_free(struct txlog *x);
static inline int txlog_on(const struct txlog *x)
{
	return x->k > 0;
}
/* One TRANSCRIPT_REC record of the store, at start.  Returns 0 (a record that adds
 * nothing - a duplicate, or the transcript full - is left alone; a corrupt one is
 * counted in `refused`, and goes at the next checkpoint like any other). */
int txlog_restore(struct txlog *x, uint64_t key, const uint8_t *val, size_t len);
/* A message received (after the edge verified it) or sent: keep what forensics needs
 * of it; its new entries wait for txlog_flush. */
void txlog_note(struct txlog *x, const uint8_t *p, size_t len, uint64_t now_ms);
/* Should the waiting entries ride on the write transaction the turn has anyway
 * (TXLOG_FLUSH_MS, TXLOG_PENDING_MAX)? */
int txlog_ready(const struct txlog *x, uint64_t now_ms);
/* When they must be flushed, in a transaction of their own if need be (ms;
 * 0: none wait; TXLOG_FORCE_MS, or 1: at once when 4 x TXLOG_PENDING_MAX wait). */
uint64_t txlog_due(const struct txlog *x);
/* Put the waiting entries in the store, a block per checkpoint interval (a write
 * transaction must be open).  Returns 0, or -1 if the store failed. */
int txlog_flush(struct txlog *x, struct store *s);
/* The stable checkpoint is now `low`: forget the slots before the last K checkpoints,
 * in memory and in the store (a write transaction must be open; waiting entries are
 * flushed first).  Returns 0 or -1. */
int txlog_checkpoint(struct txlog *x, struct store *s, uint64_t low);
/* ,"forensics":{"k":K,"entries":N,"bytes":B,"dropped":D,"restored":R,"unsaved":U,
 * "refused":F}. */
int txlog_json(const struct txlog *x, char *out, size_t cap);

#endif
