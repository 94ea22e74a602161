/* snapxfer.c - see snapxfer.h. */
#include "replica/core/snapxfer.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"

void snapxfer_reset(struct snapxfer *x)
{
	free(x->buf);
	memset(x, 0, sizeof(*x));
}

void snapxfer_start(struct snapxfer *x, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		    uint64_t total, uint32_t peer)
{
	snapxfer_reset(x);
	x->seq = seq;
	x->total = total;
	x->peer = peer;
	memcpy(x->digest, digest, WIRE_DIGEST_LEN);
}

void snapxfer_restart(struct snapxfer *x, uint32_t peer)
{
	free(x->buf);
	x->buf = NULL;
	x->have = 0;
	x->peer = peer;
}

size_t snapxfer_put_ask(const struct snapxfer *x, struct buf *arena, uint32_t cluster_id,
			uint32_t sender, uint64_t view)
{
	size_t off = wire_begin(arena, MSG_FETCH_STATE, cluster_id, sender, view, x->seq);
	buf_put_u64(arena, x->have);
	wire_finish(arena, off);
	return off;
}

int snapxfer_take(struct snapxfer *x, const struct msg *m)
{
	const struct body_state *st = &m->u.st;
	if (!x->seq || m->h.type != MSG_STATE || m->h.seq != x->seq || m->h.sender != x->peer ||
	    st->offset != x->have)
		return SNAPXFER_IGNORED;
	if (st->total != x->total) { /* the certificate fixes the size */
		snapxfer_restart(x, x->peer);
		return SNAPXFER_BAD;
	}
	if (!x->buf)
		x->buf = malloc(x->total + 1);
	if (!x->buf)
		return SNAPXFER_IGNORED;
	/* wire_decode refused a chunk beyond its total, and total == x->total */
	CORE_ASSERT(st->len <= x->total - x->have);
	memcpy(x->buf + x->have, st->chunk, st->len);
	x->have += st->len;
	CORE_ASSERT(x->have <= x->total);
	if (x->have < x->total)
		return SNAPXFER_MORE;
	uint8_t d[WIRE_DIGEST_LEN];
	crypto_digest(x->buf, x->total, d);
	if (memcmp(d, x->digest, WIRE_DIGEST_LEN) == 0)
		return SNAPXFER_DONE;
	snapxfer_restart(x, x->peer); /* not the snapshot the quorum vouched for */
	return SNAPXFER_BAD;
}

uint64_t snapxfer_chunks(uint64_t len)
{
	return (len + WIRE_STATE_CHUNK - 1) / WIRE_STATE_CHUNK;
}

size_t snapxfer_put_chunk(struct buf *arena, uint32_t cluster_id, uint32_t sender, uint64_t view,
			  uint64_t seq, const uint8_t *snap, uint64_t len, uint64_t offset)
{
	CORE_ASSERT(offset < len);
	uint64_t left = len - offset;
	uint32_t n = left < WIRE_STATE_CHUNK ? (uint32_t)left : WIRE_STATE_CHUNK;
	size_t off = wire_begin(arena, MSG_STATE, cluster_id, sender, view, seq);
	buf_put_u64(arena, len);
	buf_put_u64(arena, offset);
	buf_put_u32(arena, n);
	buf_put(arena, snap + offset, n);
	wire_finish(arena, off);
	return off;
}
