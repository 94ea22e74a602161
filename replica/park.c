/* park.c - parked requests of robust mode (see park.h). */
#include "replica/park.h"

#include <stdlib.h>
#include <string.h>

/* The longest REQUEST worth parking: an operation of WIRE_MAX_OP bytes with its body
 * fields, a signature and a full authenticator (longer ones are verified at once). */
#define PARK_MAX_REQ \
	(WIRE_HDR_LEN + 64u + WIRE_MAX_OP + WIRE_SIG_LEN + WIRE_MAX_REPLICAS * WIRE_MAC_LEN)

int park_init(struct park *p, uint32_t n_clients, uint32_t delay_ms)
{
	memset(p, 0, sizeof(*p));
	p->e = calloc(n_clients ? n_clients : 1, sizeof(*p->e));
	if (!p->e)
		return -1;
	p->n_clients = n_clients;
	p->delay_ms = delay_ms;
	return 0;
}

void park_free(struct park *p)
{
	for (uint32_t c = 0; p->e && c < p->n_clients; c++)
		free(p->e[c].bytes);
	free(p->e);
	memset(p, 0, sizeof(*p));
}

static void drop(struct park *p, struct parked *e)
{
	e->ts = 0;
	e->len = 0;
	p->in_use--;
}

int park_put(struct park *p, const struct msg *m, uint32_t source, uint64_t now_ms)
{
	uint32_t c = m->h.sender;
	uint64_t ts = m->u.req.timestamp;
	if (m->h.type != MSG_REQUEST || (m->u.req.flags & REQ_F_READONLY) || c >= p->n_clients ||
	    ts == 0 || m->raw == NULL || m->raw_len > PARK_MAX_REQ)
		return -1;
	struct parked *e = &p->e[c];
	if (e->ts && ts <= e->ts)
		return 0; /* held already (a retransmission), or older than what we hold */
	if (e->ts && e->puts >= PARK_RELAY_MAX) {
		drop(p, e); /* relayed enough unverified: this one is checked now */
		e->puts = 0;
		return -1;
	}
	if (e->cap < m->raw_len) {
		uint8_t *grown = realloc(e->bytes, m->raw_len);
		if (!grown)
			return -1;
		e->bytes = grown;
		e->cap = m->raw_len;
	}
	if (e->ts)
		p->replaced++;
	else
		p->in_use++;
	memcpy(e->bytes, m->raw, m->raw_len);
	e->len = m->raw_len;
	e->ts = ts;
	e->source = source;
	e->due_ms = now_ms + p->delay_ms;
	e->put_ms = now_ms;
	e->puts++;
	p->parked++;
	return 1;
}

void park_answered(struct park *p, uint32_t client, uint64_t ts)
{
	if (!p->in_use || client >= p->n_clients)
		return;
	struct parked *e = &p->e[client];
	if (e->ts && e->ts <= ts) {
		drop(p, e);
		e->puts = 0;
		p->answered++;
	}
}

uint64_t park_deadline(const struct park *p)
{
	uint64_t first = 0;
	for (uint32_t c = 0; p->in_use && c < p->n_clients; c++)
		if (p->e[c].ts && (!first || p->e[c].due_ms < first))
			first = p->e[c].due_ms;
	return first;
}

int park_pop_due(struct park *p, uint64_t now_ms, struct buf *out, uint32_t *source,
		 uint64_t *put_ms)
{
	for (uint32_t c = 0; p->in_use && c < p->n_clients; c++) {
		struct parked *e = &p->e[c];
		if (!e->ts || e->due_ms > now_ms)
			continue;
		buf_reset(out);
		buf_put(out, e->bytes, e->len);
		*source = e->source;
		*put_ms = e->put_ms;
		drop(p, e);
		e->puts = 0;
		p->released++;
		return out->err ? 0 : 1;
	}
	return 0;
}
