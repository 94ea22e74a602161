/* ahead.c - see ahead.h. */
#include "replica/core/ahead.h"

#include <stdlib.h>
#include <string.h>

static void drop(struct ahead *q, uint32_t i)
{
	free(q->msg[i]);
	q->bytes -= q->len[i];
	q->count--;
	q->msg[i] = q->msg[q->count];
	q->len[i] = q->len[q->count];
	q->seq[i] = q->seq[q->count];
}

static uint32_t lowest(const struct ahead *q)
{
	uint32_t low = 0;
	for (uint32_t i = 1; i < q->count; i++)
		if (q->seq[i] < q->seq[low])
			low = i;
	return low;
}

void ahead_keep(struct ahead *q, uint64_t seq, const uint8_t *p, size_t len)
{
	if (len > AHEAD_MAX_BYTES)
		return;
	while (q->count > 0 && (q->count == AHEAD_MAX_MSGS || q->bytes + len > AHEAD_MAX_BYTES)) {
		uint32_t low = lowest(q);
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
	q->count++;
	q->bytes += len;
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
}
