/* rr.h - a round-robin scheduler over per-source queues (issue 16 item 4).
 *
 * Why: a replica's peer input is one nng PULL socket, so what every peer sends lands
 * in one FIFO.  A peer that floods (byz flood:RATE) puts thousands of messages ahead
 * of the others', and the replica then spends its turns on them while the correct
 * replicas' PREPAREs and COMMITs wait: one liar takes whatever share it likes.
 * Aardvark (§4.4) gives each replica its own NIC and reads them round-robin; RBFT
 * does the same per node.  We key a queue by the source the driver can trust - the
 * connection (nng pipe) a frame came on, which a liar cannot share with a correct
 * replica - and serve the non-empty queues in turn, one item each, so a flooder gets
 * at most one item in (number of busy sources), whatever it sends.
 *
 * Pure data structure: no IO, no clock, no allocation after rr_init.  Items are
 * opaque pointers with a size; a queue holds at most RR_QUEUE_ITEMS items and
 * RR_QUEUE_BYTES bytes (one item always fits an empty queue), so what one source can
 * make us hold is bounded.  A push over the bound is refused: the caller drops the
 * item (and counts it) - a lost message costs a retransmission, never safety.
 */
#ifndef BYZLAB_RR_H
#define BYZLAB_RR_H

#include <stddef.h>
#include <stdint.h>

#define RR_MAX_QUEUES 32                 /* sources at once (peer connections are capped lower) */
#define RR_QUEUE_ITEMS 1024              /* frames per source (bursts of a slow replica's input) */
#define RR_QUEUE_BYTES ((size_t)8 << 20) /* bytes per source (one largest message) */

struct rr_queue {
	uint64_t key; /* the source (pipe id); meaningful while count > 0 or held */
	void *item[RR_QUEUE_ITEMS];
	size_t size[RR_QUEUE_ITEMS];
	uint32_t head, count;
	size_t bytes;
};

struct rr {
	struct rr_queue q[RR_MAX_QUEUES];
	uint32_t cursor;  /* the queue served last */
	uint64_t refused; /* pushes refused (queue full, or no queue free) */
};

void rr_init(struct rr *s);
/* Queue item (of `size` bytes) for source key.  Returns 0, or -1 (refused: the
 * source's queue is full, or every queue belongs to another source; counted). */
int rr_push(struct rr *s, uint64_t key, void *item, size_t size);
/* The queue to serve next: the first non-empty one after the one served last (it
 * becomes the one served last).  Returns its index, or -1 if every queue is empty.
 * An item may be consumed in parts (a bundle of messages, one per turn of the
 * rotation): rr_head() shows it, rr_drop_head() removes it once it is used up. */
int rr_next(struct rr *s);
void *rr_head(const struct rr *s, uint32_t q);
void rr_drop_head(struct rr *s, uint32_t q);
/* rr_next + rr_head + rr_drop_head: the next whole item (its key in *key), or NULL. */
void *rr_pop(struct rr *s, uint64_t *key);
/* Items waiting in all queues. */
uint32_t rr_waiting(const struct rr *s);
/* Items waiting from source key. */
uint32_t rr_waiting_from(const struct rr *s, uint64_t key);

#endif
