/* net.c - the event queue and the virtual network.
 *
 * Every message copy gets its own fate when it is sent: lost (probability drop),
 * cut (partition or one-way link, checked again on arrival), delayed (a base delay
 * plus uniform jitter, or a Pareto tail: "unbounded" delays) and maybe duplicated.
 * Links are FIFO like the real transport (nng over TCP), so a long delay holds back
 * the copies behind it; with probability reorder a copy (and every duplicate) leaves
 * the queue and takes a random extra delay of up to 30 ms instead, overtaking or
 * being overtaken.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

/* ---- the event queue: a binary min-heap on (t, order) ---- */

static bool before(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->order < b->order);
}

void heap_push(struct world *w, struct sim_ev *e)
{
	struct heap *h = &w->heap;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		struct sim_ev *p = realloc(h->e, cap * sizeof(*p));
		if (!p)
			abort();
		h->e = p;
		h->cap = cap;
	}
	e->order = w->order++;
	size_t i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(e, &h->e[parent]))
			break;
		h->e[i] = h->e[parent];
		i = parent;
	}
	h->e[i] = *e;
}

bool heap_pop(struct world *w, struct sim_ev *out)
{
	struct heap *h = &w->heap;
	if (h->n == 0)
		return false;
	*out = h->e[0];
	struct sim_ev last = h->e[--h->n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct sim_ev *best = &last;
		if (l < h->n && before(&h->e[l], best)) {
			m = l;
			best = &h->e[l];
		}
		if (r < h->n && before(&h->e[r], best))
			m = r;
		if (m == i)
			break;
		h->e[i] = h->e[m];
		i = m;
	}
	if (h->n)
		h->e[i] = last;
	return true;
}

void heap_free(struct world *w)
{
	for (size_t i = 0; i < w->heap.n; i++)
		if (w->heap.e[i].m)
			sbuf_put(w->heap.e[i].m);
	free(w->heap.e);
	memset(&w->heap, 0, sizeof(w->heap));
}

void sched(struct world *w, uint64_t at, uint8_t kind, int32_t to, uint8_t inst, uint64_t gen)
{
	struct sim_ev e = {.t = at, .kind = kind, .to = to, .inst = inst, .gen = gen};
	heap_push(w, &e);
}

/* ---- shared message buffers ---- */

struct sbuf *sbuf_new(const uint8_t *p, size_t len)
{
	struct sbuf *m = malloc(sizeof(*m) + (len ? len : 1));
	if (!m)
		abort();
	m->refs = 1;
	m->len = (uint32_t)len;
	memcpy(m->p, p, len);
	return m;
}

void sbuf_put(struct sbuf *m)
{
	if (m && --m->refs == 0)
		free(m);
}

/* ---- faults ---- */

bool net_link_ok(const struct world *w, int32_t from, uint32_t to)
{
	if (from < 0)
		return true; /* clients are never cut off (only lose messages) */
	if (w->partitioned && w->group[from] != w->group[to])
		return false;
	return !w->cut[from][to];
}

static uint64_t delay_us(struct world *w)
{
	uint64_t d = w->base_delay_us;
	if (w->pareto) {
		double x = rng_pareto(&w->rng, 1000.0, 1.2) - 1000.0;
		d += x > (double)w->tail_cap_us ? w->tail_cap_us : (uint64_t)x;
	} else {
		d += rng_below(&w->rng, w->jitter_us + 1);
	}
	return d;
}

/* Issue 20: the WAN model's delay of one copy (replica/wan.h): replicas sit in their
 * region, clients in region.client. */
static uint64_t wan_delay_us(struct world *w, uint8_t kind, int32_t from, int32_t to)
{
	uint32_t a = from >= 0 ? (uint32_t)from : WAN_CLIENT;
	uint32_t b = kind == SEV_REPLY ? WAN_CLIENT : (uint32_t)to;
	return wan_draw_us(wan_link_of(&w->o->wan, a, b), rng_next(&w->rng));
}

static void trace_msg(struct world *w, uint8_t kind, int32_t from, uint8_t fi, int32_t to,
		      uint8_t ti, const struct sbuf *m, const char *note)
{
	uint64_t view = 0, seq = 0;
	uint8_t type = 0;
	if (m->len >= WIRE_HDR_LEN) {
		type = m->p[WIRE_OFF_TYPE];
		view = get_u64(m->p + WIRE_OFF_VIEW);
		seq = get_u64(m->p + WIRE_OFF_SEQ);
	}
	sim_trace(w, kind, from, fi, to, ti, type, view, seq, m->len, note);
}

/* Links are FIFO, as nng over TCP is: a copy is not delivered before the previous
 * copy on the same link (a long delay holds back what follows, like a TCP
 * retransmission).  Only the reorder fault and duplicates break the order. */
static uint64_t *fifo_slot(struct world *w, int32_t from, uint8_t fi, uint8_t kind, int32_t to,
			   uint8_t ti)
{
	uint32_t a = from >= 0 ? (uint32_t)from * SIM_TWINS + fi
			       : SIM_MAX_N * SIM_TWINS + (uint32_t)(-1 - from);
	uint32_t b = kind == SEV_REPLY ? SIM_MAX_N * SIM_TWINS + (uint32_t)to
				       : (uint32_t)to * SIM_TWINS + ti;
	return &w->fifo[a][b];
}

static void post(struct world *w, uint8_t kind, int32_t from, uint8_t fi, int32_t to, uint8_t ti,
		 struct sbuf *m, bool ordered)
{
	uint64_t t = w->now + (w->o->wan_on ? wan_delay_us(w, kind, from, to) : delay_us(w)) +
		     w->hold_us;
	if (ordered) {
		uint64_t *last = fifo_slot(w, from, fi, kind, to, ti);
		if (t < *last)
			t = *last;
		*last = t;
	} else {
		t += rng_below(&w->rng, 30000);
	}
	struct sim_ev e = {
		.t = t, .kind = kind, .to = to, .inst = ti, .from = from, .from_inst = fi, .m = m};
	m->refs++;
	heap_push(w, &e);
}

/* One copy's fate: lost, or delivered once or twice. */
static void copy(struct world *w, uint8_t kind, int32_t from, uint8_t fi, int32_t to, uint8_t ti,
		 struct sbuf *m)
{
	w->msgs++;
	uint8_t type = m->len >= WIRE_HDR_LEN ? m->p[WIRE_OFF_TYPE] : 0;
	w->type_msgs[type]++;
	w->type_bytes[type] += m->len;
	if (w->drop > 0 && rng_chance(&w->rng, w->drop)) {
		w->drops++;
		trace_msg(w, TR_DROP, from, fi, kind == SEV_REPLY ? -1 - to : to, ti, m, "loss");
		return;
	}
	bool reorder = w->reorder > 0 && rng_chance(&w->rng, w->reorder);
	post(w, kind, from, fi, to, ti, m, !reorder);
	if (w->dup > 0 && rng_chance(&w->rng, w->dup)) {
		w->dups++;
		trace_msg(w, TR_DUP, from, fi, kind == SEV_REPLY ? -1 - to : to, ti, m, "");
		post(w, kind, from, fi, to, ti, m, false);
	}
}

/* --twins-split: the side of replica r's instance k: a twins instance's own index, a
 * correct replica's side, -1 for other liars (they talk to both worlds). */
static int side_of(const struct world *w, uint32_t r, uint8_t k)
{
	if (w->node[r].liar == LIAR_TWINS)
		return k;
	return w->node[r].liar == LIAR_NONE ? w->side[r] : -1;
}

static bool twins_link_ok(const struct world *w, int32_t from, uint8_t fi, uint32_t to, uint8_t k)
{
	if (!w->o->twins_split || from < 0)
		return true;
	int a = side_of(w, (uint32_t)from, fi), b = side_of(w, to, k);
	return a < 0 || b < 0 || a == b;
}

void net_to_replica(struct world *w, int32_t from, uint8_t fi, uint32_t to, struct sbuf *m)
{
	const struct node *nd = &w->node[to];
	for (uint8_t k = 0; k < nd->n_inst; k++) {
		if (!net_link_ok(w, from, to) || !twins_link_ok(w, from, fi, to, k)) {
			w->msgs++;
			w->drops++;
			trace_msg(w, TR_CUT, from, fi, (int32_t)to, k, m, "");
			continue;
		}
		copy(w, SEV_DELIVER, from, fi, (int32_t)to, k, m);
	}
}

void net_to_client(struct world *w, uint32_t from, uint8_t fi, uint32_t client, struct sbuf *m)
{
	copy(w, SEV_REPLY, (int32_t)from, fi, (int32_t)client, 0, m);
}

/* A random split of the replicas into two non-empty groups, healed later.  One
 * replica (--protocol single) cannot be split: nothing happens (the draw below would
 * never end). */
void net_partition(struct world *w)
{
	if (w->n < 2)
		return;
	uint32_t mask;
	uint32_t all = (uint32_t)((UINT64_C(1) << w->n) - 1); /* n <= 32 */
	do
		mask = (uint32_t)rng_below(&w->rng, (uint64_t)all + 1);
	while (mask == 0 || mask == all);
	char note[40], *p = note;
	size_t left = sizeof(note);
	for (int g = 0; g < 2; g++) {
		int n = snprintf(p, left, "{");
		p += n, left -= (size_t)n;
		for (uint32_t i = 0; i < w->n && left > 4; i++) {
			if (((mask >> i) & 1u) != (uint32_t)g)
				continue;
			w->group[i] = (uint8_t)g;
			n = snprintf(p, left, "%s%u", p[-1] == '{' ? "" : ",", i);
			p += n, left -= (size_t)n;
		}
		n = snprintf(p, left, "}");
		p += n, left -= (size_t)n;
	}
	w->partitioned = true;
	w->partitions++;
	uint64_t gen = ++w->part_gen;
	sim_trace(w, TR_PARTITION, TR_NONE, 0, TR_NONE, 0, 0, 0, 0, 0, note);
	sched(w, w->now + rng_range(&w->rng, 200000, 4000000), SEV_HEAL, 0, 0, gen);
}

void net_heal(struct world *w, uint64_t gen)
{
	if (gen != w->part_gen || !w->partitioned)
		return;
	w->partitioned = false;
	sim_trace(w, TR_HEAL, TR_NONE, 0, TR_NONE, 0, 0, 0, 0, 0, "");
}

/* One direction of one link cut, healed later; it needs two replicas. */
void net_oneway(struct world *w)
{
	if (w->n < 2)
		return;
	uint32_t a = (uint32_t)rng_below(&w->rng, w->n);
	uint32_t b = (uint32_t)rng_below(&w->rng, w->n - 1);
	if (b >= a)
		b++;
	w->cut[a][b] = true;
	w->oneways++;
	uint64_t gen = ++w->cut_gen[a][b];
	sim_trace(w, TR_ONEWAY, (int)a, 0, (int)b, 0, 0, 0, 0, 0, "");
	sched(w, w->now + rng_range(&w->rng, 200000, 4000000), SEV_ONEWAY_HEAL,
	      (int32_t)(a * SIM_MAX_N + b), 0, gen);
}

void net_oneway_heal(struct world *w, uint32_t a, uint32_t b, uint64_t gen)
{
	if (gen != w->cut_gen[a][b] || !w->cut[a][b])
		return;
	w->cut[a][b] = false;
	sim_trace(w, TR_ONEWAY_HEAL, (int)a, 0, (int)b, 0, 0, 0, 0, 0, "");
}

/* The fault phase is over: the network becomes reliable with bounded delays (messages
 * already in flight keep their fate). */
void net_calm(struct world *w)
{
	w->partitioned = false;
	w->part_gen++;
	for (uint32_t a = 0; a < w->n; a++)
		for (uint32_t b = 0; b < w->n; b++) {
			w->cut[a][b] = false;
			w->cut_gen[a][b]++;
		}
	w->drop = w->dup = w->reorder = 0;
	w->tail_cap_us = 100000;
}
