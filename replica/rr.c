/* rr.c - round-robin scheduling over per-source queues (see rr.h). */
#include "replica/rr.h"

#include <string.h>

void rr_init(struct rr *s)
{
	memset(s, 0, sizeof(*s));
	s->cursor = RR_MAX_QUEUES - 1; /* the first pop starts at queue 0 */
}

/* The queue of key, or a free (empty) one for it; NULL if none. */
static struct rr_queue *queue_for(struct rr *s, uint64_t key)
{
	struct rr_queue *free_q = NULL;
	for (uint32_t i = 0; i < RR_MAX_QUEUES; i++) {
		struct rr_queue *q = &s->q[i];
		if (q->count > 0 && q->key == key)
			return q;
		if (q->count == 0 && !free_q)
			free_q = q;
	}
	if (free_q)
		free_q->key = key;
	return free_q;
}

int rr_push(struct rr *s, uint64_t key, void *item, size_t size)
{
	struct rr_queue *q = queue_for(s, key);
	if (!q || q->count == RR_QUEUE_ITEMS ||
	    (q->count > 0 && q->bytes + size > RR_QUEUE_BYTES)) {
		s->refused++;
		return -1;
	}
	uint32_t at = (q->head + q->count) % RR_QUEUE_ITEMS;
	q->item[at] = item;
	q->size[at] = size;
	q->count++;
	q->bytes += size;
	return 0;
}

int rr_next(struct rr *s)
{
	for (uint32_t k = 1; k <= RR_MAX_QUEUES; k++) {
		uint32_t i = (s->cursor + k) % RR_MAX_QUEUES;
		if (s->q[i].count > 0) {
			s->cursor = i;
			return (int)i;
		}
	}
	return -1;
}

void *rr_head(const struct rr *s, uint32_t qi)
{
	const struct rr_queue *q = &s->q[qi % RR_MAX_QUEUES];
	return q->count ? q->item[q->head] : NULL;
}

void rr_drop_head(struct rr *s, uint32_t qi)
{
	struct rr_queue *q = &s->q[qi % RR_MAX_QUEUES];
	if (q->count == 0)
		return;
	q->bytes -= q->size[q->head];
	q->item[q->head] = NULL;
	q->head = (q->head + 1) % RR_QUEUE_ITEMS;
	q->count--;
}

void *rr_pop(struct rr *s, uint64_t *key)
{
	int qi = rr_next(s);
	if (qi < 0)
		return NULL;
	void *item = rr_head(s, (uint32_t)qi);
	if (key)
		*key = s->q[qi].key;
	rr_drop_head(s, (uint32_t)qi);
	return item;
}

uint32_t rr_waiting(const struct rr *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < RR_MAX_QUEUES; i++)
		n += s->q[i].count;
	return n;
}

uint32_t rr_waiting_from(const struct rr *s, uint64_t key)
{
	for (uint32_t i = 0; i < RR_MAX_QUEUES; i++)
		if (s->q[i].count > 0 && s->q[i].key == key)
			return s->q[i].count;
	return 0;
}
