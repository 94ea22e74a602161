/* waitq.c - requests waiting at a replica, one per client, FIFO (see waitq.h). */
#include <stdlib.h>
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/waitq.h"

int waitq_init(struct waitq *q, uint32_t max_clients)
{
	memset(q, 0, sizeof(*q));
	q->cap = max_clients;
	q->ent = calloc(max_clients ? max_clients : 1, sizeof(*q->ent));
	q->fifo = calloc(max_clients ? max_clients : 1, sizeof(*q->fifo));
	if (!q->ent || !q->fifo) {
		waitq_free(q);
		return -1;
	}
	return 0;
}

void waitq_free(struct waitq *q)
{
	if (q->ent)
		for (uint32_t c = 0; c < q->cap; c++)
			free(q->ent[c].raw);
	free(q->ent);
	free(q->fifo);
	memset(q, 0, sizeof(*q));
}

void waitq_push(struct waitq *q, const struct msg *m)
{
	uint32_t c = m->h.sender;
	if (c >= q->cap)
		return;
	struct waiting *w = &q->ent[c];
	uint8_t *copy = malloc(m->raw_len ? m->raw_len : 1);
	if (!copy)
		return;
	memcpy(copy, m->raw, m->raw_len);
	if (!w->queued) {
		CORE_ASSERT(q->count < q->cap); /* one FIFO place per client */
		q->fifo[(q->head + q->count) % q->cap] = c;
		q->count++;
		w->queued = true;
	}
	if (!w->raw)
		q->live++;
	free(w->raw);
	w->raw = copy;
	w->len = (uint32_t)m->raw_len;
	w->ts = m->u.req.timestamp;
	CORE_ASSERT(w->queued && q->live <= q->cap && q->count <= q->cap);
}

const struct waiting *waitq_get(const struct waitq *q, uint32_t client)
{
	return client < q->cap && q->ent[client].raw ? &q->ent[client] : NULL;
}

void waitq_withdraw(struct waitq *q, uint32_t client)
{
	if (client >= q->cap || !q->ent[client].raw)
		return;
	CORE_ASSERT(q->live > 0);
	free(q->ent[client].raw);
	q->ent[client].raw = NULL;
	q->live--;
}

void waitq_done(struct waitq *q, uint32_t client, uint64_t ts)
{
	const struct waiting *w = waitq_get(q, client);
	if (w && w->ts <= ts)
		waitq_withdraw(q, client);
}

void waitq_prune(struct waitq *q, const struct exec_state *x)
{
	for (uint32_t c = 0; c < q->cap; c++)
		if (q->ent[c].raw && exec_classify(x, c, q->ent[c].ts) != EXEC_NEW)
			waitq_withdraw(q, c);
}

int64_t waitq_head(struct waitq *q)
{
	while (q->count > 0) {
		uint32_t c = q->fifo[q->head];
		CORE_ASSERT(c < q->cap && q->ent[c].queued);
		if (q->ent[c].raw)
			return c;
		waitq_pop(q); /* withdrawn meanwhile */
	}
	return -1;
}

void waitq_pop(struct waitq *q)
{
	if (q->count == 0)
		return;
	CORE_ASSERT(q->head < q->cap && q->fifo[q->head] < q->cap);
	q->ent[q->fifo[q->head]].queued = false;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}
