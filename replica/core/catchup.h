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
 * digests only) and one batch, CATCHUP_MAX_BYTES of batches in all.  Which batch a
 * slot keeps is the caller's rule (pbft_normal.c: the one with the most COMMITs).
 */
#ifndef BYZLAB_CATCHUP_H
#define BYZLAB_CATCHUP_H

#include <stdbool.h>
#include <stdint.h>

#include "wire/wire.h"

#define CATCHUP_SLOTS 32
#define CATCHUP_MAX_BYTES ((size_t)8 << 20)

struct catchup_vote {
	bool have;
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
};

struct catchup_slot {
	uint64_t seq; /* 0: free */
	struct catchup_vote vote[WIRE_MAX_REPLICAS];
	uint8_t *batch; /* hashes to batch_digest; from a PRE-PREPARE of batch_view */
	uint32_t batch_len;
	uint64_t batch_view;
	uint8_t batch_digest[WIRE_DIGEST_LEN];
};

/* Our COMMIT for a slot we executed on a certificate, sealed, for a PEER_STATUS answer:
 * a replica that caught up this way holds no votes of its own for the slot, and
 * another laggard may need exactly its COMMIT to reach 2f+1 (docs/PROTOCOL.md §5.12). */
struct catchup_vouch {
	uint64_t seq; /* 0: none */
	uint8_t *raw;
	uint32_t len;
	uint8_t digest[WIRE_DIGEST_LEN]; /* what we executed at seq: it committed there */
};

struct catchup {
	struct catchup_slot slot[CATCHUP_SLOTS];
	size_t bytes;         /* of the batches kept */
	uint64_t forgot_upto; /* catchup_forget_upto() has nothing to do below this */
	struct catchup_vouch vouch[CATCHUP_SLOTS];
};

/* The slot for seq, claimed if needed (what it held for another seq is dropped);
 * NULL unless done < seq <= done + CATCHUP_SLOTS (done: the last executed seq). */
struct catchup_slot *catchup_slot(struct catchup *c, uint64_t done, uint64_t seq);
/* The slot holding seq, or NULL. */
struct catchup_slot *catchup_peek(struct catchup *c, uint64_t seq);
/* sender's vote: kept unless it already voted in a later view. */
void catchup_vote(struct catchup_slot *s, uint32_t sender, uint64_t view,
		  const uint8_t digest[WIRE_DIGEST_LEN]);
/* Keep a copy of a batch of a PRE-PREPARE of `view` that hashes to digest, in place
 * of the slot's.  -1: over CATCHUP_MAX_BYTES or out of memory (nothing changed). */
int catchup_keep_batch(struct catchup *c, struct catchup_slot *s, uint64_t view,
		       const uint8_t digest[WIRE_DIGEST_LEN], const uint8_t *batch, uint32_t len);
/* Keep our sealed COMMIT for (seq, digest) (replacing what was kept for
 * seq - CATCHUP_SLOTS). */
void catchup_vouch_put(struct catchup *c, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		       const uint8_t *raw, uint32_t len);
/* Our COMMIT kept for seq, or NULL. */
const struct catchup_vouch *catchup_vouch_get(const struct catchup *c, uint64_t seq);
/* Empty the slots of sequence numbers up to done (executed, one way or another). */
void catchup_forget_upto(struct catchup *c, uint64_t done);
void catchup_free(struct catchup *c);

#endif
