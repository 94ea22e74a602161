/* snapxfer.h - fetching a snapshot whose digest and size a quorum certified, in
 * WIRE_STATE_CHUNK pieces, and serving one: the FETCH_STATE / STATE exchange
 * (docs/PROTOCOL.md §5.3) shared by the cores that transfer state (pbft, hotstuff).
 *
 * What certifies the snapshot is the caller's rule (pbft: 2f+1 signed CHECKPOINTs;
 * hotstuff: f+1 matching claims).  Here a peer's STATE is taken only at the offset we
 * asked, only if it states the certified size (nothing else is allocated), and the
 * whole is checked against the certified digest: a liar can make us ask someone
 * else, never install what it likes.  Pure: no clock, no I/O.
 */
#ifndef BYZLAB_SNAPXFER_H
#define BYZLAB_SNAPXFER_H

#include <stdint.h>

#include "wire/wire.h"

struct snapxfer {
	uint64_t seq; /* the snapshot's sequence number (or height); 0: idle */
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t total; /* the certified size: no STATE may say other */
	uint64_t have;
	uint8_t *buf;  /* total bytes, allocated with the first chunk */
	uint32_t peer; /* asked now; moves on after a timeout or a bad snapshot */
	uint64_t retry_ms;
};

enum snapxfer_took {
	SNAPXFER_IGNORED = 0, /* not an answer to what we asked (late, duplicate, other) */
	SNAPXFER_MORE = 1,    /* a chunk taken: ask for the next one */
	SNAPXFER_DONE = 2,    /* complete and matching the digest: x->buf holds it */
	SNAPXFER_BAD = 3      /* wrong size or digest: the peer lied (buffer dropped) */
};

/* Start fetching (seq, digest, total) from peer (what was in progress is dropped). */
void snapxfer_start(struct snapxfer *x, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		    uint64_t total, uint32_t peer);
/* FETCH_STATE(seq, offset = what we have) into arena: returns its offset (unsealed). */
size_t snapxfer_put_ask(const struct snapxfer *x, struct buf *arena, uint32_t cluster_id,
			uint32_t sender, uint64_t view);
/* A STATE message: see enum snapxfer_took. */
int snapxfer_take(struct snapxfer *x, const struct msg *m);
/* Drop what was received (to ask another peer from the start). */
void snapxfer_restart(struct snapxfer *x, uint32_t peer);
void snapxfer_reset(struct snapxfer *x);

/* The chunks a snapshot of len bytes takes. */
uint64_t snapxfer_chunks(uint64_t len);
/* STATE(seq) with the chunk of snap at offset (< len) into arena: returns its offset
 * (unsealed). */
size_t snapxfer_put_chunk(struct buf *arena, uint32_t cluster_id, uint32_t sender, uint64_t view,
			  uint64_t seq, const uint8_t *snap, uint64_t len, uint64_t offset);

#endif
