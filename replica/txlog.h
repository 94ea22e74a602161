/* txlog.h - the forensic transcript of a real replica, in its store (issue 17 item 3).
 *
 * The same transcript the simulator keeps (replica/core/forensics.h: the signed
 * PRE-PREPAREs, PREPAREs, COMMITs and VIEW-CHANGEs a replica received through its edge
 * or sent, deduplicated, bounded), for the slots of its last K stable checkpoints
 * (cluster.ini forensics_k, default 2; 0: none kept).  Every entry the transcript adds
 * is also put in the store (TRANSCRIPT_REC records, forensics.h) in the write
 * transaction of the driver's turn, which commits before anything of the turn leaves
 * (replica.c, "persist before you speak"); at each new stable checkpoint the entries of
 * older slots go from memory and store alike.  After a restart the records are read
 * back (txlog_restore) before the core recovers; `byzlab-audit` reads them too.
 */
#ifndef BYZLAB_TXLOG_H
#define BYZLAB_TXLOG_H

#include <stddef.h>
#include <stdint.h>

#include "replica/core/forensics.h"
#include "replica/store.h"

struct txlog {
	struct transcript t;
	uint32_t k, interval; /* k = 0: off, nothing kept */
	uint64_t counter;     /* of the next record key (transcript_key) */
	uint64_t horizon;     /* slots at or below it are forgotten */
	uint64_t restored;    /* records read back at start */
	uint64_t put_bytes;   /* bytes written to the store since start */
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
 * of it, and put each new entry in the store (a write transaction must be open).
 * Returns 0, or -1 if the store failed. */
int txlog_note(struct txlog *x, struct store *s, const uint8_t *p, size_t len);
/* The stable checkpoint is now `low`: forget the slots before the last K checkpoints,
 * in memory and in the store (a write transaction must be open).  Returns 0 or -1. */
int txlog_checkpoint(struct txlog *x, struct store *s, uint64_t low);
/* ,"forensics":{"k":K,"entries":N,"bytes":B,"dropped":D,"restored":R} into out. */
int txlog_json(const struct txlog *x, char *out, size_t cap);

#endif
