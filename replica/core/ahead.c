/* ahead.c - see ahead.h. */
#include "replica/core/ahead.h"

#include "replica/core/assert.h"

#include <stdlib.h>
#include <string.h>

static void drop(struct ahead *q, uint32_t i)
{
	CORE_ASSERT(i < q->count && q->bytes >= q->len[i]);
	free(q->msg[i]);
	q->bytes -= q->len[i];
	q->count--;
	q->msg[i] = q->msg[q->count];
	q->len[i] = q->len[q->count];
	q->seq[i] = q->seq[q->count];
	q->sender[i] = q->sender[q->count];
}

/* Index of the lowest sequence number kept (from `sender` only, unless UINT32_MAX). */
static uint32_t lowest(const struct ahead *q, uint32_t sender)
{
	uint32_t low = UINT32_MAX;
	for (uint32_t i = 0; i < q->count; i++)
		if ((sender == UINT32_MAX || q->sender[i] == sender) &&
		    (low == UINT32_MAX || q->seq[i] < q->seq[low]))
			low = i;
	return low;
}

void ahead_keep(struct ahead *q, uint64_t seq, uint32_t sender, uint32_t quota, const uint8_t *p,
		size_t len)
{
	if (len > AHEAD_MAX_BYTES || quota == 0)
		return;
	uint32_t mine = 0;
	for (uint32_t i = 0; i < q->count; i++) {
		if (q->sender[i] != sender)
			continue;
		if (q->seq[i] == seq && q->len[i] == len && memcmp(q->msg[i], p, len) == 0)
			return; /* a copy (a re-send): kept already */
		mine++;
	}
	if (mine >= quota) {
		uint32_t low = lowest(q, sender);
		if (q->seq[low] > seq)
			return; /* the sender's others are more useful */
		drop(q, low);
	}
	CORE_ASSERT(q->count <= AHEAD_MAX_MSGS && q->bytes <= AHEAD_MAX_BYTES);
	while (q->count > 0 && (q->count == AHEAD_MAX_MSGS || q->bytes + len > AHEAD_MAX_BYTES)) {
		uint32_t low = lowest(q, UINT32_MAX);
		if (q->seq[low] > seq)
			return; /* everything kept is more useful */
		drop(q, low);
	}
	uint8_t *c = malloc(len ? len : 1);
	if (!c)
		return;
	memcpy(c, p, len);
	q->msg[q->count] = c;
	q->len[q->count] = (uint32_t)len;
	q->seq[q->count] = seq;
	q->sender[q->count] = sender;
	q->count++;
	q->bytes += len;
	CORE_ASSERT(q->count <= AHEAD_MAX_MSGS && q->bytes <= AHEAD_MAX_BYTES);
}

int ahead_take(struct ahead *q, struct ahead **taken)
{
	struct ahead *t = malloc(sizeof(*t));
	if (!t)
		return -1;
	*t = *q;
	memset(q, 0, sizeof(*q));
	*taken = t;
	return 0;
}

void ahead_free(struct ahead *q)
{
	while (q->count > 0)
		drop(q, q->count - 1);
	CORE_ASSERT(q->bytes == 0);
}
