/* world.c - the simulated replicas: cores, virtual disks, clocks, node faults, liars.
 *
 * The driver contract of replica/core/core.h, as the real replica (replica/replica.c)
 * carries it out:
 *   - a message reaches a core only through edge_receive (replica/edge.h: wire_decode,
 *     the edge rules, auth_verify), the very function the replica calls, and a refused
 *     one is counted as the replica counts it (inst.rejected);
 *   - the persists of a step are applied to the virtual disk at the end of the step,
 *     before its sends leave; a crash happens between steps, so it loses exactly what
 *     was not persisted (the core's memory); a restart feeds every record back in
 *     (kind, key) order and steps EV_START;
 *   - every step states the deadline, effects.timer_ms (0: none); when the replica's
 *     own clock reaches it, the deadline is cleared and the core ticks.
 * Liars: the honest core's effects go through the lying layer (replica/byz.h) before
 * they are applied; a twins replica runs two honest cores with the same identity.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/edge.h"
#include "tests/sim/sim.h"

void sim_fail(struct world *w, const char *prop, const char *fmt, ...)
{
	if (w->failed)
		return;
	w->failed = true;
	snprintf(w->prop, sizeof(w->prop), "%s", prop);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
	sim_trace(w, TR_NOTE, TR_NONE, 0, TR_NONE, 0, 0, 0, 0, 0, "VIOLATION");
}

void sim_trace(struct world *w, uint8_t kind, int a, int ia, int b, int ib, uint8_t type,
	       uint64_t x, uint64_t y, uint32_t len, const char *note)
{
	struct tr_ev e = {.t = w->now,
			  .kind = kind,
			  .type = type,
			  .a = (int16_t)a,
			  .b = (int16_t)b,
			  .ia = (uint8_t)ia,
			  .ib = (uint8_t)ib,
			  .x = x,
			  .y = y,
			  .len = len};
	if (note) {
		size_t nl = 0; /* strnlen, spelt out: gcc -O3 (Release) sees the bound pass
				* the shorter notes' arrays (-Wstringop-overread) */
		while (nl < sizeof(e.note) - 1 && note[nl])
			nl++;
		memcpy(e.note, note, nl);
		e.note[nl] = 0;
	}
	trace_add(&w->tr, &e);
}

bool node_correct(const struct world *w, uint32_t id)
{
	return w->node[id].liar == LIAR_NONE;
}

/* ---- clocks ---- */

uint64_t node_clock_ms(const struct world *w, const struct node *nd)
{
	return nd->off_ms + w->now * nd->rate_ppm / 1000000000ull;
}

/* The earliest simulated time at which the replica's clock reads deadline_ms. */
static uint64_t sim_time_for(const struct node *nd, uint64_t deadline_ms)
{
	if (deadline_ms <= nd->off_ms)
		return 0;
	uint64_t d = deadline_ms - nd->off_ms;
	uint64_t t = (d * 1000000000ull + nd->rate_ppm - 1) / nd->rate_ppm;
	while (nd->off_ms + t * nd->rate_ppm / 1000000000ull < deadline_ms)
		t++;
	return t;
}

/* ---- the virtual disk ---- */

static size_t disk_find(const struct disk *d, uint8_t kind, uint64_t key)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct record *r = &d->r[mid];
		if (r->kind < kind || (r->kind == kind && r->key < key))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void disk_remove(struct disk *d, size_t from, size_t to)
{
	if (from == to)
		return;
	for (size_t i = from; i < to; i++)
		free(d->r[i].val);
	if (d->n > to)
		memmove(&d->r[from], &d->r[to], (d->n - to) * sizeof(d->r[0]));
	d->n -= to - from;
}

static void disk_apply(struct disk *d, const struct persist *p, const uint8_t *arena)
{
	size_t i = disk_find(d, p->kind, p->op == P_DEL_BELOW ? 0 : p->key);
	if (p->op == P_DEL_BELOW) {
		size_t j = i;
		while (j < d->n && d->r[j].kind == p->kind && d->r[j].key < p->key)
			j++;
		disk_remove(d, i, j);
		return;
	}
	bool hit = i < d->n && d->r[i].kind == p->kind && d->r[i].key == p->key;
	if (p->op == P_DEL) {
		if (hit)
			disk_remove(d, i, i + 1);
		return;
	}
	uint8_t *val = malloc(p->len ? p->len : 1);
	if (!val)
		abort();
	memcpy(val, arena + p->off, p->len);
	if (hit) {
		free(d->r[i].val);
	} else {
		if (d->n == d->cap) {
			d->cap = d->cap ? d->cap * 2 : 64;
			d->r = realloc(d->r, d->cap * sizeof(d->r[0]));
			if (!d->r)
				abort();
		}
		if (d->n > i)
			memmove(&d->r[i + 1], &d->r[i], (d->n - i) * sizeof(d->r[0]));
		d->n++;
	}
	d->r[i] = (struct record){.kind = p->kind, .key = p->key, .val = val, .len = p->len};
}

static void disk_free(struct disk *d)
{
	disk_remove(d, 0, d->n);
	free(d->r);
	memset(d, 0, sizeof(*d));
}

/* ---- stepping a core ---- */

/* Cores state their deadline after every step, mostly the same one: queue a tick only
 * if none is queued for that time or earlier (an early tick finds the deadline still
 * ahead and queues the next one). */
static void set_timer(struct world *w, struct node *nd, uint8_t k, uint64_t deadline_ms)
{
	struct inst *in = &nd->inst[k];
	in->timer_ms = deadline_ms;
	uint64_t t = sim_time_for(nd, deadline_ms);
	if (t < w->now)
		t = w->now;
	if (in->queued_us <= t)
		return;
	in->queued_us = t;
	sched(w, t, SEV_TIMER, (int32_t)nd->id, k, in->timer_gen);
}

static void void_timer(struct inst *in)
{
	in->timer_ms = 0;
	in->timer_gen++;
	in->queued_us = UINT64_MAX;
}

/* "d=1a2b3c4d": the digest a message is about (its body's, for a batch), so a trace
 * can follow one batch through pre-prepares, votes and fetches. */
static const char *digest_note(const uint8_t *p, size_t len)
{
	static char note[16];
	uint8_t d[WIRE_DIGEST_LEN];
	uint8_t type = p[WIRE_OFF_TYPE];
	uint32_t body = get_u32(p + WIRE_OFF_BODY_LEN);
	note[0] = 0;
	if ((size_t)WIRE_HDR_LEN + body > len)
		return note;
	if (type == MSG_PREPREPARE || type == MSG_BATCH)
		crypto_digest(p + WIRE_HDR_LEN, body, d);
	else if ((type == MSG_PREPARE || type == MSG_COMMIT || type == MSG_FETCH ||
		  type == MSG_CHECKPOINT) &&
		 body >= WIRE_DIGEST_LEN)
		memcpy(d, p + WIRE_HDR_LEN, WIRE_DIGEST_LEN);
	else
		return note;
	static const char hex[] = "0123456789abcdef";
	note[0] = 'd';
	note[1] = '=';
	for (int i = 0; i < 4; i++) {
		note[2 + 2 * i] = hex[d[i] >> 4];
		note[3 + 2 * i] = hex[d[i] & 15];
	}
	note[10] = 0;
	return note;
}

/* ---- authorship: what a signature would prove ----
 * The cores run without signatures here (AUTH_MODE_NONE, for speed).  A signature (or
 * an authenticator's slot) proves who wrote a message, whoever forwards it: CHECKPOINT
 * proofs and PRE-PREPAREs are relayed by replicas other than their author.  So what
 * each such message's signature covers is recorded, under its author, as the author
 * sends it - a PRE-PREPARE's header | batch digest, also for the compact ones in a
 * NEW-VIEW's O set - and a relayed copy is let in only if its author did sign that
 * (--byz forge cannot). */
static bool relayable(uint8_t type)
{
	return type == MSG_CHECKPOINT || type == MSG_PREPREPARE;
}

static uint64_t key_of(uint32_t author, const uint8_t *p, size_t len)
{
	uint64_t k = hash64(p, len) ^ ((uint64_t)author + 1) * 0x9e3779b97f4a7c15ull;
	return k ? k : 1;
}

/* p[0..len) is a whole message (its header checked by the caller). */
static uint64_t authored_key(uint32_t author, const uint8_t *p, size_t len)
{
	uint32_t body = get_u32(p + WIRE_OFF_BODY_LEN);
	if (p[WIRE_OFF_TYPE] != MSG_PREPREPARE || (size_t)WIRE_HDR_LEN + body > len)
		return key_of(author, p, len);
	uint8_t d[WIRE_DIGEST_LEN], covered[WIRE_CPP_LEN_MIN];
	crypto_digest(p + WIRE_HDR_LEN, body, d);
	wire_cpp_signed_bytes(p, d, covered);
	return key_of(author, covered, sizeof(covered));
}

static bool authored_has(const struct world *w, uint64_t key)
{
	if (!w->cap_authored)
		return false;
	for (size_t i = key % w->cap_authored;; i = (i + 1) % w->cap_authored) {
		if (w->authored[i] == key)
			return true;
		if (!w->authored[i])
			return false;
	}
}

static void authored_put(struct world *w, uint64_t key)
{
	if ((w->n_authored + 1) * 2 > w->cap_authored) {
		size_t cap = w->cap_authored ? 2 * w->cap_authored : 1024;
		uint64_t *t = calloc(cap, sizeof(*t));
		if (!t)
			abort();
		for (size_t i = 0; i < w->cap_authored; i++) {
			uint64_t k = w->authored[i];
			if (!k)
				continue;
			size_t j = k % cap;
			while (t[j])
				j = (j + 1) % cap;
			t[j] = k;
		}
		free(w->authored);
		w->authored = t;
		w->cap_authored = cap;
	}
	size_t i = key % w->cap_authored;
	while (w->authored[i] && w->authored[i] != key)
		i = (i + 1) % w->cap_authored;
	if (!w->authored[i]) {
		w->authored[i] = key;
		w->n_authored++;
	}
}

static void note_authored(struct world *w, uint32_t author, const uint8_t *p, size_t len)
{
	if (relayable(p[WIRE_OFF_TYPE])) {
		authored_put(w, authored_key(author, p, len));
		return;
	}
	struct msg nv;
	if (p[WIRE_OFF_TYPE] != MSG_NEWVIEW || wire_decode(p, len, SIM_CLUSTER_ID, &nv) != WIRE_OK)
		return;
	struct cursor c;
	struct compact_pp e;
	wire_nv_begin(&nv, &c);
	while (wire_nv_next(&c, SIM_CLUSTER_ID, &e) > 0) {
		if (e.h.sender != author)
			continue; /* the author signs only in its own name */
		uint8_t covered[WIRE_CPP_LEN_MIN];
		wire_cpp_signed_bytes(e.raw, e.digest, covered);
		authored_put(w, key_of(author, covered, sizeof(covered)));
	}
}

static void route(struct world *w, struct node *nd, uint8_t k, const struct send *s,
		  const uint8_t *p)
{
	bool correct = nd->liar == LIAR_NONE;
	check_sent(w, nd->id, correct, p, s->len);
	if (correct)
		forensics_note(w, nd, p, s->len);
	if (s->len >= WIRE_HDR_LEN && get_u32(p + WIRE_OFF_SENDER) == nd->id)
		note_authored(w, nd->id, p, s->len);
	struct sbuf *m = sbuf_new(p, s->len);
	int to = s->to >= 0 ? s->to : s->to == TO_OTHERS ? TR_ALL : -1 - (int)s->client;
	sim_trace(w, TR_SEND, (int)nd->id, k, to, 0, p[WIRE_OFF_TYPE], get_u64(p + WIRE_OFF_VIEW),
		  get_u64(p + WIRE_OFF_SEQ), m->len, digest_note(p, s->len));
	if (s->to == TO_OTHERS) {
		for (uint32_t j = 0; j < w->n; j++)
			if (j != nd->id)
				net_to_replica(w, (int32_t)nd->id, k, j, m);
	} else if (s->to == TO_CLIENT) {
		if (s->client < w->n_clients)
			net_to_client(w, nd->id, k, s->client, m);
	} else if (s->to >= 0 && (uint32_t)s->to < w->n && (uint32_t)s->to != nd->id) {
		net_to_replica(w, (int32_t)nd->id, k, (uint32_t)s->to, m);
	}
	sbuf_put(m);
}

static void pause_node_for(struct world *w, struct node *nd, uint64_t us);

/* --full-window: pause the primary of view 0 for 5 s once it executed window - 1
 * numbers (no checkpoint inside the window): the backups change views with a full
 * window of prepared certificates each (docs/PROTOCOL.md §5.7, issue 19). */
static void full_window_pause(struct world *w, struct node *nd, const struct core_status *st)
{
	if (!w->o->full_window || w->full_window_paused || nd->id != 0 || st->view != 0 ||
	    nd->state != NODE_UP || st->last_executed + 1 < w->base.window)
		return;
	w->full_window_paused = true;
	pause_node_for(w, nd, 5000000);
}

static void note_status(struct world *w, struct node *nd, uint8_t k)
{
	struct inst *in = &nd->inst[k];
	struct core_status st;
	w->ops->status(in->core, &st);
	if (st.view != in->st.view || st.view_changing != in->st.view_changing)
		sim_trace(w, TR_VIEW, (int)nd->id, k, TR_NONE, 0, 0, st.view, st.last_executed, 0,
			  st.view_changing ? "changing" : "active");
	if (nd->liar == LIAR_NONE && st.view > w->max_view)
		w->max_view = st.view;
	if (nd->liar == LIAR_NONE && w->o->max_views && st.view > w->o->max_views)
		sim_fail(w, "views", "replica %u reached view %llu (--max-views %llu)", nd->id,
			 (unsigned long long)st.view, (unsigned long long)w->o->max_views);
	if (nd->liar == LIAR_NONE && w->o->protocol == PROTO_PBFT)
		check_proven_primary(w, nd->id, &in->st, &st); /* issue 17 */
	in->st = st;
	if (nd->liar == LIAR_NONE)
		forensics_trim(w, nd);
	full_window_pause(w, nd, &st);
}

/* --pause-before-reply MS (the real replica's pause_before_reply fault): the core
 * answered a read from its lease; the node stops here for exactly MS, so this reply
 * and everything after it in the step leave MS later, and nothing reaches the core
 * meanwhile (it queues, as for any pause). */
static void pause_before_reply(struct world *w, struct node *nd)
{
	w->hold_us = (uint64_t)w->o->pause_before_reply_ms * 1000u;
	w->lease_pauses++;
	pause_node_for(w, nd, w->hold_us);
}

static void step(struct world *w, struct node *nd, uint8_t k, enum ev_kind kind,
		 const struct msg *m)
{
	struct inst *in = &nd->inst[k];
	uint64_t now_ms = node_clock_ms(w, nd);
	struct event ev = {.kind = kind, .now_ms = now_ms, .m = m};
	effects_reset(&w->eff);
	if (w->ops->step(in->core, &ev, &w->eff) != 0) {
		sim_fail(w, "core-error", "replica %u: step returned an error", nd->id);
		return;
	}
	struct effects *fx = &w->eff;
	if (nd->byz) {
		byz_filter(nd->byz, &in->auth, &w->eff, now_ms, &w->lie);
		fx = &w->lie;
	}
	if (effects_failed(fx)) {
		/* the replica aborts here rather than apply half a step */
		sim_fail(w, "effects-overflow", "replica %u: effects overflowed", nd->id);
		return;
	}
	if (w->o->bug != BUG_SKIP_PERSIST)
		for (size_t i = 0; i < fx->n_persists; i++)
			disk_apply(&in->disk, &fx->persists[i], fx->arena.p);
	for (size_t i = 0; i < fx->n_sends; i++) {
		if (fx->sends[i].lease_read && w->o->pause_before_reply_ms && !w->hold_us)
			pause_before_reply(w, nd);
		route(w, nd, k, &fx->sends[i], fx->arena.p + fx->sends[i].off);
	}
	w->hold_us = 0;
	for (size_t i = 0; i < fx->n_execs; i++) {
		const struct exec_note *x = &fx->execs[i];
		char note[24];
		snprintf(note, sizeof(note), "d=%02x%02x%02x%02x", x->digest[0], x->digest[1],
			 x->digest[2], x->digest[3]);
		sim_trace(w, TR_EXEC, (int)nd->id, k, TR_NONE, 0, 0, x->view, x->seq, x->requests,
			  note);
		if (nd->liar == LIAR_NONE)
			check_exec(w, nd->id, x);
	}
	if (nd->liar == LIAR_NONE && fx->n_evidence)
		check_evidence(w, nd->id, fx); /* issue 17 */
	if (fx->timer_ms)
		set_timer(w, nd, k, fx->timer_ms);
	else
		in->timer_ms = 0; /* each step states its deadline; 0 = none */
	note_status(w, nd, k);
}

/* ---- receiving ---- */

/* Without --auth the cores run unauthenticated (AUTH_MODE_NONE, for speed); what a
 * signature guarantees - nobody speaks as another replica (--byz forge) - is checked
 * against who really sent it.  Relayed messages keep their author's signature:
 * REQUESTs (the client's), NEW-VIEWs (re-sent by the replicas of that view to one that
 * asks to join; one claiming another author than the view's primary is refused by the
 * core), and CHECKPOINTs and PRE-PREPAREs that their author did send (see "authorship"
 * above).  Returns 1 for a message a signature would have refused. */
static bool forged_unsigned(struct world *w, int32_t from, const struct msg *m,
			    const struct sbuf *sb)
{
	return w->o->auth == AUTH_MODE_NONE && from >= 0 && m->h.sender != (uint32_t)from &&
	       m->h.type != MSG_REQUEST && m->h.type != MSG_NEWVIEW &&
	       !(relayable(m->h.type) &&
		 authored_has(w, authored_key(m->h.sender, sb->p, sb->len)));
}

static void deliver_now(struct world *w, struct node *nd, uint8_t k, int32_t from, uint8_t fi,
			struct sbuf *sb)
{
	struct inst *in = &nd->inst[k];
	struct msg m;
	const char *bad = NULL;
	w->delivered++;
	/* The replica's edge sequence (replica/edge.h), counted as the replica counts. */
	struct edge edge = {.cluster_id = SIM_CLUSTER_ID,
			    .n = w->n,
			    .self = nd->id,
			    .max_clients = w->max_clients,
			    .auth = &in->auth,
			    .count = &in->rejected};
	enum net_sock sock = from < 0 ? NET_CLIENT : NET_PEER;
	/* a client's "connection" (robust mode's ban key) is its id + 1; peers are 0 */
	uint32_t source = from < 0 ? (uint32_t)(-from) : 0;
	enum edge_verdict v = edge_receive(&edge, sock, source, w->now / 1000, sb->p, sb->len, &m);
	if (v != EDGE_OK) {
		bad = edge_verdict_name(v);
	} else if (forged_unsigned(w, from, &m, sb)) {
		bad = edge_verdict_name(EDGE_BAD_AUTH);
		in->rejected.bad_auth++;
	}
	uint64_t view = sb->len >= WIRE_HDR_LEN ? get_u64(sb->p + WIRE_OFF_VIEW) : 0;
	uint64_t seq = sb->len >= WIRE_HDR_LEN ? get_u64(sb->p + WIRE_OFF_SEQ) : 0;
	sim_trace(w, TR_DELIVER, from, fi, (int)nd->id, k, sb->len ? sb->p[WIRE_OFF_TYPE] : 0, view,
		  seq, sb->len, bad ? bad : "");
	if (bad)
		return;
	if (nd->liar == LIAR_NONE)
		forensics_note(w, nd, sb->p, sb->len);
	if (nd->byz)
		byz_observe(nd->byz, &m); /* hs-fork collects the votes it is sent */
	step(w, nd, k, EV_MSG, &m);
}

void node_deliver(struct world *w, uint32_t to, uint8_t k, int32_t from, uint8_t fi, struct sbuf *m)
{
	struct node *nd = &w->node[to];
	const char *why = NULL;
	if (nd->state == NODE_CRASHED)
		why = "crashed";
	else if (!net_link_ok(w, from, to))
		why = "cut";
	else if (nd->state == NODE_PAUSED && nd->n_inbox >= SIM_INBOX_MAX)
		why = "inbox-full";
	if (why || nd->state == NODE_PAUSED) {
		uint64_t view = m->len >= WIRE_HDR_LEN ? get_u64(m->p + WIRE_OFF_VIEW) : 0;
		uint64_t seq = m->len >= WIRE_HDR_LEN ? get_u64(m->p + WIRE_OFF_SEQ) : 0;
		sim_trace(w, why ? TR_DROP : TR_QUEUE, from, fi, (int)to, k,
			  m->len ? m->p[WIRE_OFF_TYPE] : 0, view, seq, m->len, why ? why : "");
	}
	if (why) {
		w->drops++;
		return;
	}
	if (nd->state == NODE_PAUSED) {
		if (nd->n_inbox == nd->cap_inbox) {
			nd->cap_inbox = nd->cap_inbox ? nd->cap_inbox * 2 : 64;
			nd->inbox = realloc(nd->inbox, nd->cap_inbox * sizeof(*nd->inbox));
			if (!nd->inbox)
				abort();
		}
		m->refs++;
		nd->inbox[nd->n_inbox++] =
			(struct qmsg){.m = m, .from = from, .from_inst = fi, .inst = k};
		return;
	}
	deliver_now(w, nd, k, from, fi, m);
}

void node_timer(struct world *w, uint32_t id, uint8_t k, uint64_t gen)
{
	struct node *nd = &w->node[id];
	struct inst *in = &nd->inst[k];
	if (gen != in->timer_gen)
		return; /* voided by a crash or restart */
	if (w->now >= in->queued_us)
		in->queued_us = UINT64_MAX; /* this was the earliest queued tick */
	if (nd->state != NODE_UP || !in->timer_ms)
		return; /* no deadline now, or paused (re-armed on wake) */
	uint64_t local = node_clock_ms(w, nd);
	if (local < in->timer_ms) {
		set_timer(w, nd, k, in->timer_ms);
		return;
	}
	/* A core that keeps asking for a deadline already passed would spin the real
	 * replica's event loop: flag it. */
	if (local == in->spin_ms) {
		if (++in->spin > 10000) {
			sim_fail(w, "timer-spin",
				 "replica %u asks for ticks in the past without end", id);
			return;
		}
	} else {
		in->spin_ms = local;
		in->spin = 0;
	}
	in->timer_ms = 0;
	w->ticks++;
	sim_trace(w, TR_TICK, (int)id, k, TR_NONE, 0, 0, local, 0, 0, "");
	step(w, nd, k, EV_TICK, NULL);
}

/* ---- node faults ---- */

static void start_core(struct world *w, struct node *nd, uint8_t k)
{
	struct inst *in = &nd->inst[k];
	in->core = w->ops->create(&in->cfg);
	if (!in->core) {
		sim_fail(w, "core-error", "replica %u: create failed", nd->id);
		return;
	}
	for (size_t i = 0; i < in->disk.n; i++) {
		const struct record *r = &in->disk.r[i];
		if (w->ops->recover(in->core, r->kind, r->key, r->val, r->len) != 0) {
			sim_fail(w, "recovery",
				 "replica %u cannot recover its own record kind %u key %" PRIu64
				 " (%zu bytes)",
				 nd->id, r->kind, r->key, r->len);
			return;
		}
	}
	memset(&in->st, 0, sizeof(in->st));
	void_timer(in);
	step(w, nd, k, EV_START, NULL);
}

static void crash(struct world *w, struct node *nd)
{
	for (uint8_t k = 0; k < nd->n_inst; k++) {
		struct inst *in = &nd->inst[k];
		w->ops->destroy(in->core);
		in->core = NULL;
		void_timer(in);
	}
	nd->state = NODE_CRASHED;
	nd->state_gen++;
	nd->crashes++;
	w->crashes++;
	sim_trace(w, TR_CRASH, (int)nd->id, 0, TR_NONE, 0, 0, nd->inst[0].disk.n, 0, 0, "records");
	uint64_t down = rng_chance(&w->rng, 0.2) ? 0 : rng_range(&w->rng, 1000, 3000000);
	sched(w, w->now + down, SEV_RESTART, (int32_t)nd->id, 0, nd->state_gen);
}

void node_restart(struct world *w, uint32_t id, uint64_t gen)
{
	struct node *nd = &w->node[id];
	if (nd->state != NODE_CRASHED || gen != nd->state_gen)
		return;
	nd->state = NODE_UP;
	w->restarts++;
	sim_trace(w, TR_RESTART, (int)id, 0, TR_NONE, 0, 0, nd->inst[0].disk.n, 0, 0, "records");
	for (uint8_t k = 0; k < nd->n_inst && !w->failed; k++)
		start_core(w, nd, k);
}

static void pause_node_for(struct world *w, struct node *nd, uint64_t us)
{
	nd->state = NODE_PAUSED;
	nd->state_gen++;
	nd->pauses++;
	w->pauses++;
	sim_trace(w, TR_PAUSE, (int)nd->id, 0, TR_NONE, 0, 0, 0, 0, 0, "");
	sched(w, w->now + us, SEV_RESUME, (int32_t)nd->id, 0, nd->state_gen);
}

static void pause_node(struct world *w, struct node *nd)
{
	pause_node_for(w, nd, rng_range(&w->rng, 50000, 4000000));
}

/* Wake up with stale state: first everything that queued, then the timers. */
void node_resume(struct world *w, uint32_t id, uint64_t gen)
{
	struct node *nd = &w->node[id];
	if (nd->state != NODE_PAUSED || gen != nd->state_gen)
		return;
	nd->state = NODE_UP;
	sim_trace(w, TR_RESUME, (int)id, 0, TR_NONE, 0, 0, nd->n_inbox, 0, 0, "queued");
	for (size_t i = 0; i < nd->n_inbox; i++) {
		struct qmsg *q = &nd->inbox[i];
		if (!w->failed && nd->state == NODE_UP)
			deliver_now(w, nd, q->inst, q->from, q->from_inst, q->m);
		sbuf_put(q->m);
	}
	nd->n_inbox = 0;
	for (uint8_t k = 0; k < nd->n_inst; k++)
		if (nd->inst[k].timer_ms)
			set_timer(w, nd, k, nd->inst[k].timer_ms);
}

static uint32_t down_count(const struct world *w)
{
	uint32_t down = 0;
	for (uint32_t i = 0; i < w->n; i++)
		down += w->node[i].state != NODE_UP;
	return down;
}

/* A correct replica that is up, at random; -1 if none or the budget is used. */
static int pick_victim(struct world *w)
{
	if (down_count(w) >= w->down_max)
		return -1;
	uint32_t cand[SIM_MAX_N], k = 0;
	for (uint32_t i = 0; i < w->n; i++)
		if (node_correct(w, i) && w->node[i].state == NODE_UP)
			cand[k++] = i;
	return k ? (int)cand[rng_below(&w->rng, k)] : -1;
}

/* --stalls MS (issue 16, robust-tune): a uniformly slow machine.  Every 0.1-0.6 s
 * every replica that is up pauses at once for MS/4..MS ms (the same for all: no
 * primary is slower than the cluster), and wakes up with stale state, as --pauses. */
static void stall_tick(struct world *w)
{
	const uint64_t ms = w->o->stalls_ms;
	const uint64_t us = rng_range(&w->rng, ms * 250u, ms * 1000u);
	for (uint32_t i = 0; i < w->n; i++)
		if (w->node[i].state == NODE_UP)
			pause_node_for(w, &w->node[i], us);
	sched(w, w->now + us + rng_range(&w->rng, 100000, 600000), SEV_STALL, 0, 0, 0);
}

static void fault_tick(struct world *w)
{
	if (w->phase != 0)
		return;
	const struct sim_opts *o = w->o;
	if (o->faults.partition && !w->partitioned && rng_chance(&w->rng, 0.15))
		net_partition(w);
	if (o->faults.oneway && rng_chance(&w->rng, 0.15))
		net_oneway(w);
	double crash_p = o->bug == BUG_SKIP_PERSIST ? 0.5 : 0.2;
	if (o->crash_restart && rng_chance(&w->rng, crash_p)) {
		int v = pick_victim(w);
		if (v >= 0)
			crash(w, &w->node[v]);
	}
	if (o->pauses && rng_chance(&w->rng, 0.15)) {
		int v = pick_victim(w);
		if (v >= 0)
			pause_node(w, &w->node[v]);
	}
	sched(w, w->now + rng_range(&w->rng, 100000, 600000), SEV_FAULT, 0, 0, 0);
}

/* The fault phase ends: heal the network, restart and wake every replica. */
static void end_faults(struct world *w)
{
	w->phase = 1;
	w->fault_end_us = w->now;
	sim_trace(w, TR_PHASE, TR_NONE, 0, TR_NONE, 0, 0, 0, 0, 0, "faults stop");
	net_calm(w);
	for (uint32_t i = 0; i < w->n && !w->failed; i++) {
		struct node *nd = &w->node[i];
		if (nd->state == NODE_CRASHED)
			node_restart(w, i, nd->state_gen);
		else if (nd->state == NODE_PAUSED)
			node_resume(w, i, nd->state_gen);
	}
}

/* ---- setup ---- */

static int init_node(struct world *w, uint32_t id, char *err, size_t errlen)
{
	struct node *nd = &w->node[id];
	const struct liar_spec *ls = &w->liar[id];
	nd->id = id;
	nd->liar = ls->kind;
	nd->n_inst = ls->kind == LIAR_TWINS ? 2 : 1;
	nd->off_ms = rng_range(&w->rng, 1000, 1000000000);
	nd->rate_ppm = w->o->faults.drift ? rng_range(&w->rng, 900000, 1100000) : 1000000;
	if (w->o->clock_rate_id == (int32_t)id) /* --clock-rate: drawn all the same */
		nd->rate_ppm = w->o->clock_rate_ppm;
	if (ls->kind == LIAR_BYZ) {
		nd->byz = calloc(1, sizeof(*nd->byz));
		if (!nd->byz ||
		    byz_init(nd->byz, &ls->byz, w->n, id, SIM_CLUSTER_ID, rng_next(&w->rng)) != 0) {
			snprintf(err, errlen, "--byz %u=%s does not fit this cluster", id,
				 ls->text);
			return -1;
		}
	}
	for (uint8_t k = 0; k < nd->n_inst; k++) {
		struct inst *in = &nd->inst[k];
		if (sim_auth_init(&in->auth, w->o->auth, w->n, w->max_clients, false, id) != 0) {
			snprintf(err, errlen, "--auth %s: no keys for replica %u",
				 sim_auth_name(w->o->auth), id);
			return -1;
		}
		if (w->o->bug == BUG_NO_SUSPECT_CLIENTS) {
			free(in->auth.client_suspect); /* auth.c then marks nobody */
			in->auth.client_suspect = NULL;
		}
		in->auth.window = w->base.window;
		in->auth.batch_max = w->base.batch_max;
		/* robust mode: the edge's client rules, as in replica_open */
		in->auth.robust = w->base.robust;
		in->cfg = w->base;
		in->cfg.id = id;
		in->cfg.auth = &in->auth;
		in->queued_us = UINT64_MAX;
		in->core = w->ops->create(&in->cfg);
		if (!in->core) {
			snprintf(err, errlen, "the %s core refused the configuration (n=%u f=%u)",
				 w->ops->name, w->n, w->f);
			return -1;
		}
	}
	return 0;
}

static void draw_config(struct world *w)
{
	static const uint32_t windows[] = {16, 32, 64};
	static const uint32_t batches[] = {1, 2, 4, 8};
	static const uint32_t timeouts[] = {200, 500, 1000};
	struct core_config *c = &w->base;
	c->protocol = w->o->protocol;
	c->n = w->n;
	c->f = w->f;
	c->cluster_id = SIM_CLUSTER_ID;
	c->window = windows[rng_below(&w->rng, 3)];
	c->checkpoint_interval = c->window / (rng_chance(&w->rng, 0.5) ? 2 : 4);
	if (w->o->window || w->o->window_default) { /* drawn all the same (--view-timeout) */
		c->window = w->o->window ? w->o->window
					 : config_window_default(c->protocol, c->n, c->f,
								 w->o->auth != AUTH_MODE_NONE);
		c->checkpoint_interval = c->window / 2;
	}
	if (w->o->full_window)
		c->checkpoint_interval = c->window;
	c->batch_max = batches[rng_below(&w->rng, 4)];
	c->view_timeout_ms = timeouts[rng_below(&w->rng, 3)];
	if (w->o->view_timeout_ms) /* --view-timeout: drawn all the same, so the rest of
				    * the seed's draws stay what they were */
		c->view_timeout_ms = w->o->view_timeout_ms;
	c->max_clients = w->max_clients;
	c->kv_max_bytes = 1u << 20;
	c->read_only = w->o->read_only && w->o->protocol == PROTO_PBFT; /* §5.1.3 */
	c->digest_replies = w->o->digest_replies;                       /* §5.1.1 */
	if (w->o->robust && w->o->protocol == PROTO_PBFT) { /* issue 16; config.c's defaults */
		c->robust = 1;
		c->robust_ratio_permille = 900;
		c->robust_heartbeat_ms = config_robust_heartbeat_default(c->view_timeout_ms);
	}
	c->hotstuff_stable = w->o->hotstuff_stable;
	c->hotstuff_keep = w->o->hotstuff_keep;
	c->hotstuff_round_robin = w->o->hotstuff_round_robin;
	if (w->o->bug == BUG_COMMIT_QUORUM_2F)
		c->plant_bugs = 0x1u; /* PBFT_BUG_COMMIT_QUORUM_2F (replica/core/pbft.h) */
	else if (w->o->bug == BUG_SKIP_VC_CERTS)
		c->plant_bugs = 0x2u; /* PBFT_BUG_SKIP_VC_CERTS */
	else if (w->o->bug == BUG_NO_PEER_STATUS)
		c->plant_bugs = 0x4u; /* PBFT_BUG_NO_PEER_STATUS */
	else if (w->o->bug == BUG_ACCUSE_ONE)
		c->plant_bugs = 0x8u; /* PBFT_BUG_ACCUSE_ONE */
	else if (w->o->bug == BUG_HS_TWO_CHAIN_COMMIT)
		c->plant_bugs = 0x100u; /* HS_BUG_TWO_CHAIN_COMMIT (replica/core/hotstuff.h) */
	else if (w->o->bug == BUG_HS_IGNORE_LOCK)
		c->plant_bugs = 0x200u; /* HS_BUG_IGNORE_LOCK */
	else if (w->o->bug == BUG_LEASE_NO_WAIT)
		c->plant_bugs = 0x1u; /* VR_BUG_LEASE_NO_WAIT (replica/core/vr.h) */
	else if (w->o->bug == BUG_IGNORE_PROOFS)
		c->plant_bugs = 0x10u; /* PBFT_BUG_IGNORE_PROOFS */
	if (w->o->protocol == PROTO_VR)
		c->read_lease_ms = w->o->read_lease_ms; /* issue 18 */
}

static void draw_network(struct world *w)
{
	const struct fault_spec *fs = &w->o->faults;
	w->base_delay_us = (uint32_t)rng_range(&w->rng, 200, 2000);
	w->jitter_us = (uint32_t)rng_range(&w->rng, 0, 3000);
	w->drop = fs->drop;
	w->dup = fs->dup;
	w->reorder = fs->reorder;
	w->pareto = fs->pareto;
	w->tail_cap_us = 5000000;
}

/* --random-liars K: K replicas that are not liars already, each with a behaviour of
 * the lying layer (arguments drawn too) or twins. */
static void draw_liars(struct world *w)
{
	static const enum byz_behaviour kinds[] = {BYZ_SILENT,       BYZ_EQUIVOCATE,
						   BYZ_BAD_DIGEST,   BYZ_FORGE,
						   BYZ_REPLAY,       BYZ_WRONG_REPLY,
						   BYZ_SLOW_PRIMARY, BYZ_FAKE_VIEW_CHANGE,
						   BYZ_FLOOD,        BYZ_SELECTIVE,
						   BYZ_MAC_POISON};
	/* mac-poison only lies where there are MACs; without --auth mac it is left out,
	 * so that the draws of older runs stay what they were */
	const uint32_t nk = sizeof(kinds) / sizeof(kinds[0]) - (w->o->auth != AUTH_MODE_MAC);
	for (uint32_t k = 0; k < w->o->random_liars; k++) {
		uint32_t id = (uint32_t)rng_below(&w->rng, w->n);
		while (w->liar[id].kind != LIAR_NONE)
			id = (id + 1) % w->n; /* sim_main checks there is room */
		struct liar_spec *ls = &w->liar[id];
		uint64_t pick = rng_below(&w->rng, nk + 1);
		if (pick == nk) {
			ls->kind = LIAR_TWINS;
			snprintf(ls->text, sizeof(ls->text), "twins");
			continue;
		}
		ls->kind = LIAR_BYZ;
		ls->byz = (struct byz_cfg){.kind = kinds[pick]};
		if (kinds[pick] == BYZ_SLOW_PRIMARY)
			ls->byz.arg = (uint32_t)rng_range(&w->rng, 10, w->base.view_timeout_ms);
		else if (kinds[pick] == BYZ_FLOOD)
			ls->byz.arg = (uint32_t)rng_range(&w->rng, 10, 200);
		bool ids = kinds[pick] == BYZ_SELECTIVE || kinds[pick] == BYZ_MAC_POISON;
		if (ids)
			ls->byz.peers = (uint32_t)rng_range(&w->rng, 1, (1ull << w->n) - 1) &
					~(1u << id);
		if (ids && !ls->byz.peers)
			ls->byz.peers = 1u << ((id + 1) % w->n);
		int len = snprintf(ls->text, sizeof(ls->text), "%s", byz_name(kinds[pick]));
		if (kinds[pick] == BYZ_SLOW_PRIMARY || kinds[pick] == BYZ_FLOOD)
			snprintf(ls->text + len, sizeof(ls->text) - (size_t)len, ":%u",
				 ls->byz.arg);
		for (uint32_t j = 0; ids && j < w->n; j++)
			if (ls->byz.peers & (1u << j)) {
				len += snprintf(ls->text + len, sizeof(ls->text) - (size_t)len,
						"%c%u", strchr(ls->text, ':') ? ',' : ':', j);
				if ((size_t)len >= sizeof(ls->text))
					break;
			}
	}
}

void world_liars_text(const struct world *w, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = 0;
	for (uint32_t i = 0; i < w->n && len < cap; i++)
		if (w->liar[i].kind != LIAR_NONE) {
			int k = snprintf(out + len, cap - len, " r%u=%s", i, w->liar[i].text);
			if (k < 0)
				break;
			len += (size_t)k;
		}
}

int world_init(struct world *w, const struct sim_opts *o, uint64_t seed, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->o = o;
	w->seed = seed;
	rng_seed(&w->rng, seed);
	trace_init(&w->tr, o->trace);
	effects_init(&w->eff);
	effects_init(&w->lie);
	buf_init(&w->scratch);
	w->ops = core_ops_for(o->protocol);
	if (!w->ops) {
		snprintf(err, errlen, "no %s core in this build yet (core_ops_for returned NULL)",
			 protocol_name(o->protocol));
		return -1;
	}
	w->f = o->f;
	w->n = protocol_n(o->protocol, o->f);
	w->n_clients = o->clients;
	w->max_clients = SIM_MAX_CLIENTS;
	w->n_keys = (uint32_t)rng_range(&w->rng, 3, 4);
	w->down_max = w->f;
	draw_config(w);
	draw_network(w);
	memcpy(w->liar, o->liar, sizeof(w->liar));
	draw_liars(w);
	for (uint32_t i = 0, c = 0; i < w->n; i++)
		if (w->liar[i].kind == LIAR_NONE)
			w->side[i] = (uint8_t)(c++ % 2);
	w->fault_max_us = 20000000;
	/* Once faults stop, an operation must complete within this much simulated time.
	 * Each view change that fails doubles the view-change timeout, up to 1024 times
	 * view_timeout_ms in the PBFT core (§4.5.2; only executing a request resets it),
	 * and the faults can leave it at the cap.  With f liars, up to f+1 views in a row
	 * may have a faulty primary: allow f+2 of the longest timeouts, plus 30 s. */
	w->liveness_us = 30000000ull + (uint64_t)(w->f + 2) * 1024 * w->base.view_timeout_ms * 1000;
	for (uint32_t i = 0; i < w->n; i++)
		transcript_init(&w->tx[i], SIM_CLUSTER_ID);
	for (uint32_t i = 0; i < w->n; i++)
		if (init_node(w, i, err, errlen) != 0)
			return -1;
	for (uint32_t i = 0; i < w->n && !w->failed; i++)
		for (uint8_t k = 0; k < w->node[i].n_inst; k++)
			step(w, &w->node[i], k, EV_START, NULL);
	if (clients_init(w) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const struct fault_spec *fs = &o->faults;
	if (o->crash_restart || o->pauses || fs->partition || fs->oneway)
		sched(w, rng_range(&w->rng, 100000, 500000), SEV_FAULT, 0, 0, 0);
	if (o->stalls_ms)
		sched(w, rng_range(&w->rng, 100000, 600000), SEV_STALL, 0, 0, 0);
	return 0;
}

void world_free(struct world *w)
{
	free(w->authored);
	w->authored = NULL;
	w->n_authored = w->cap_authored = 0;
	for (uint32_t i = 0; i < SIM_MAX_N; i++)
		transcript_free(&w->tx[i]);
	forensic_report_free(&w->fx);
	for (uint32_t i = 0; i < w->n; i++) {
		struct node *nd = &w->node[i];
		for (uint8_t k = 0; k < nd->n_inst; k++) {
			if (nd->inst[k].core)
				w->ops->destroy(nd->inst[k].core);
			disk_free(&nd->inst[k].disk);
			auth_free(&nd->inst[k].auth);
		}
		for (size_t q = 0; q < nd->n_inbox; q++)
			sbuf_put(nd->inbox[q].m);
		free(nd->inbox);
		if (nd->byz) {
			byz_free(nd->byz);
			free(nd->byz);
		}
	}
	heap_free(w);
	clients_free(w);
	check_free(w);
	effects_free(&w->eff);
	effects_free(&w->lie);
	buf_free(&w->scratch);
}

/* ---- the run ---- */

static void dispatch(struct world *w, struct sim_ev *e)
{
	switch (e->kind) {
	case SEV_DELIVER:
		node_deliver(w, (uint32_t)e->to, e->inst, e->from, e->from_inst, e->m);
		break;
	case SEV_REPLY:
		client_on_reply(w, (uint32_t)e->to, (uint32_t)e->from, e->m->p, e->m->len);
		break;
	case SEV_TIMER: node_timer(w, (uint32_t)e->to, e->inst, e->gen); break;
	case SEV_CLIENT_TIMER: client_timer(w, (uint32_t)e->to, e->gen); break;
	case SEV_CLIENT_NEXT: client_next(w, (uint32_t)e->to); break;
	case SEV_FAULT: fault_tick(w); break;
	case SEV_ATTACK: attacker_tick(w); break;
	case SEV_STALL: stall_tick(w); break;
	case SEV_RESTART: node_restart(w, (uint32_t)e->to, e->gen); break;
	case SEV_RESUME: node_resume(w, (uint32_t)e->to, e->gen); break;
	case SEV_HEAL: net_heal(w, e->gen); break;
	case SEV_ONEWAY_HEAL:
		net_oneway_heal(w, (uint32_t)e->to / SIM_MAX_N, (uint32_t)e->to % SIM_MAX_N,
				e->gen);
		break;
	default: break;
	}
	if (e->m)
		sbuf_put(e->m);
}

/* Take the next event and move the clock to it: 1, or 0 if there is none, or -1 if
 * the run ran away (it then failed). */
static int next_event(struct world *w, struct sim_ev *e)
{
	if (!heap_pop(w, e))
		return 0;
	w->now = e->t;
	if (++w->events > SIM_MAX_EVENTS) {
		sim_fail(w, "runaway", "more than %llu events", (unsigned long long)SIM_MAX_EVENTS);
		if (e->m)
			sbuf_put(e->m);
		return -1;
	}
	return 1;
}

/* ---- convergence (after the last operation) ----
 * The cluster then goes idle, and a correct replica that is behind gets no new traffic
 * to learn from.  It must still catch up with the others, by the checkpoint,
 * state-transfer and replay rules alone, within the liveness bound.  Each catch-up bug
 * that the integration tests found (docs/EXPERIMENTS.md) fails this property.
 *
 * One exception, PBFT's own (docs/TESTING.md), where a replica must still reach the
 * newest stable checkpoint (by state transfer, which needs no view) but not the slots
 * above it.  One alone in a view change to a higher view than the others work in
 * cannot return to their view, and an idle cluster never follows it.  It executes the
 * slots above on the others' commit certificates (replica/core/catchup.h), but a liar
 * can withhold a COMMIT it needs, so it is excused in runs with a liar only.  (A
 * replica that accepted an equivocating primary's other PRE-PREPARE was excused too,
 * until it could execute on a commit certificate in its own view.) */
static bool any_liar(const struct world *w)
{
	for (uint32_t j = 0; j < w->n; j++)
		if (!node_correct(w, j))
			return true;
	return false;
}

static bool stranded(const struct world *w, uint32_t i)
{
	const struct core_status *st = &w->node[i].inst[0].st;
	if (!st->view_changing || !any_liar(w))
		return false;
	for (uint32_t j = 0; j < w->n; j++) {
		const struct core_status *o = &w->node[j].inst[0].st;
		if (node_correct(w, j) && !o->view_changing && o->view < st->view)
			return true;
	}
	return false;
}

static bool converged(const struct world *w, uint32_t *laggard, uint64_t *at, uint64_t *top)
{
	uint64_t max = 0, ck = 0;
	for (uint32_t i = 0; i < w->n; i++) {
		const struct core_status *st = &w->node[i].inst[0].st;
		if (!node_correct(w, i))
			continue;
		if (st->last_executed > max)
			max = st->last_executed;
		if (st->stable_checkpoint > ck)
			ck = st->stable_checkpoint;
	}
	*top = max;
	for (uint32_t i = 0; i < w->n; i++) {
		const struct node *nd = &w->node[i];
		if (!node_correct(w, i))
			continue;
		uint64_t need = stranded(w, i) ? ck : max;
		if (nd->state != NODE_UP || nd->inst[0].st.last_executed < need) {
			*laggard = i;
			*at = nd->inst[0].st.last_executed;
			return false;
		}
	}
	return true;
}

static void settle(struct world *w)
{
	uint64_t done_us = w->now, deadline = w->now + w->liveness_us;
	uint32_t laggard = 0;
	uint64_t at = 0, top = 0;
	struct sim_ev e;
	while (!w->failed && !converged(w, &laggard, &at, &top)) {
		int got = next_event(w, &e);
		if (got < 0)
			return; /* ran away */
		if (got == 0 || e.t > deadline) {
			if (got && e.m)
				sbuf_put(e.m);
			char views[200];
			size_t k = 0;
			for (uint32_t i = 0; i < w->n && k < sizeof(views) - 40; i++) {
				const struct core_status *st = &w->node[i].inst[0].st;
				k += (size_t)snprintf(views + k, sizeof(views) - k,
						      " r%u:v%" PRIu64 "%s/ck%" PRIu64
						      "/ex%" PRIu64,
						      i, st->view, st->view_changing ? "*" : "",
						      st->stable_checkpoint, st->last_executed);
			}
			sim_fail(w, "convergence",
				 "correct replica %u executed up to %" PRIu64 ", others %" PRIu64
				 ", %" PRIu64 " ms after the last operation (bound %" PRIu64
				 " ms); view/stable/executed:%s",
				 laggard, at, top, (w->now - done_us) / 1000, w->liveness_us / 1000,
				 views);
			return;
		}
		dispatch(w, &e);
	}
}

int world_run(struct world *w)
{
	struct sim_ev e;
	while (!w->failed && w->phase < 2) {
		int got = next_event(w, &e);
		if (got < 0)
			break; /* ran away */
		if (got == 0) {
			sim_fail(w, "liveness", "nothing left to happen with %u operations pending",
				 w->ops_total - w->ops_done);
			break;
		}
		dispatch(w, &e);
		if (w->phase == 0 &&
		    (w->ops_done * 4 >= w->ops_total * 3 || w->now >= w->fault_max_us))
			end_faults(w);
		check_liveness(w);
		if (w->ops_done == w->ops_total) {
			w->phase = 2;
			w->ops_end_us = w->now;
		}
	}
	if (!w->failed)
		settle(w);
	if (!w->failed)
		check_final(w);
	return 0;
}
