/* catchup.h - COMMIT votes and batches of views a replica is not working in, kept so
 * that it can execute what they prove committed.
 *
 * Why: a replica that timed out alone (cut off by a partition, paused) moves on to a
 * view change that the others, still working in their view, need not join: the f+1
 * rule (§4.5.2) keeps one replica from forcing a view change.  Until another replica
 * times out it lets in nothing of their view, so it executes nothing.  With f liars,
 * anything that needs 2f+1 matching replies - read-only mode (§5.1.3) - then waits
 * for good in a cluster that goes idle.  Yet 2f+1 COMMITs from distinct replicas for
 * (view w, seq, digest d) prove that d committed at seq: at least f+1 correct
 * replicas prepared it, so every later view keeps it (§4.5.1).  That holds whatever
 * view the receiver is in, and executing d without voting cannot contradict anything
 * the receiver said.  PEER_STATUS answers bring the votes and the pre-prepares.
 *
 * Pure and bounded: CATCHUP_SLOTS sequence numbers above the last executed one; per
 * slot one vote per replica (its latest view: a liar's votes count for its own
 * digests only) and one batch, kept only once 2f+1 votes certify its digest.
 */
#ifndef BYZLAB_CATCHUP_H
#define BYZLAB_CATCHUP_H

#include <stdbool.h>
#include <stdint.h>

#include "wire/wire.h"

#define CATCHUP_SLOTS 32

struct catchup_vote {
	bool have;
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
};

struct catchup_slot {
	uint64_t seq; /* 0: free */
	struct catchup_vote vote[WIRE_MAX_REPLICAS];
	uint8_t *batch; /* certified: hashes to batch_digest */
	uint32_t batch_len;
	uint8_t batch_digest[WIRE_DIGEST_LEN];
};

struct catchup {
	struct catchup_slot slot[CATCHUP_SLOTS];
};

/* The slot for seq, claimed if needed (what it held for another seq is dropped);
 * NULL unless done < seq <= done + CATCHUP_SLOTS (done: the last executed seq). */
struct catchup_slot *catchup_slot(struct catchup *c, uint64_t done, uint64_t seq);
/* The slot holding seq, or NULL. */
struct catchup_slot *catchup_peek(struct catchup *c, uint64_t seq);
/* sender's vote: kept unless it already voted in a later view. */
void catchup_vote(struct catchup_slot *s, uint32_t sender, uint64_t view,
		  const uint8_t digest[WIRE_DIGEST_LEN]);
/* Keep a copy of a batch that hashes to digest (replacing any).  -1: out of memory. */
int catchup_keep_batch(struct catchup_slot *s, const uint8_t digest[WIRE_DIGEST_LEN],
		       const uint8_t *batch, uint32_t len);
void catchup_clear(struct catchup_slot *s);
void catchup_free(struct catchup *c);

#endif
