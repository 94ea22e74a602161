/* client.c - simulated clients (PBFT §4.1) and the history they record.
 *
 * Each client runs one operation at a time: a random put, get or cas on one of a few
 * keys, every written value unique ("v<id>", id global to the run) so that the
 * linearizability checker can tell writes apart.  What a client does with an
 * operation is not simulated: it is the real client core (client/client_core.h),
 * the very code byzlab-client drives over nng.  The core picks the timestamp, seals
 * the request, sends it to the presumed primary (every replica for a read-only get),
 * retransmits to every replica with doubling intervals, signs after
 * CLIENT_SIGN_AFTER retransmissions in mac mode, retries a read-only get read-write
 * (PBFT §5.1.3) and decides when a result is accepted; this file feeds it the
 * simulator's clock and network and records what it accepted.  So the checkers judge
 * what a real client would have believed: a planted bug in the core's accept rule
 * (--plant-bug client-accept-f) turns the simulator red.
 *
 * --read-only (the core with read_only = on): a get goes with REQ_F_READONLY to every
 * replica at once, and every request - writes too - needs 2f+1 matching replies.  A
 * read-only get retried read-write takes a new timestamp (the history entry with it),
 * so no late read-only reply counts towards it.  The planted bugs readonly-writes-f1
 * and readonly-quorum-f1 break exactly this quorum rule, in the core.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core/hotstuff.h"

#include "replica/kv.h"
#include "tests/sim/sim.h"

static int32_t new_value(struct world *w)
{
	if (w->n_values == w->cap_values) {
		uint32_t cap = w->cap_values ? w->cap_values * 2 : 256;
		uint8_t **v = realloc(w->values, cap * sizeof(*v));
		uint32_t *l = realloc(w->value_len, cap * sizeof(*l));
		if (!v || !l)
			abort();
		w->values = v;
		w->value_len = l;
		w->cap_values = cap;
	}
	char text[24];
	int len = snprintf(text, sizeof(text), "v%u", w->n_values);
	w->values[w->n_values] = (uint8_t *)strdup(text);
	if (!w->values[w->n_values])
		abort();
	w->value_len[w->n_values] = (uint32_t)len;
	return (int32_t)w->n_values++;
}

/* The value id of bytes p (-1: empty; -2: no value any client wrote). */
int32_t value_id(const struct world *w, const uint8_t *p, size_t len)
{
	if (len == 0)
		return -1;
	if (len < 2 || len > 12 || p[0] != 'v')
		return -2;
	uint64_t id = 0;
	for (size_t i = 1; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -2;
		id = id * 10 + (uint64_t)(p[i] - '0');
	}
	if (id >= w->n_values || w->value_len[id] != len || memcmp(w->values[id], p, len))
		return -2;
	return (int32_t)id;
}

/* The planted bugs of the client core (--plant-bug). */
static enum client_bug core_bug(const struct world *w)
{
	switch (w->o->bug) {
	case BUG_CLIENT_ACCEPT_F: return CLIENT_BUG_ACCEPT_F;
	case BUG_READONLY_WRITES_F1: return CLIENT_BUG_READONLY_WRITES_F1;
	case BUG_READONLY_QUORUM_F1: return CLIENT_BUG_READONLY_QUORUM_F1;
	default: return CLIENT_BUG_NONE;
	}
}

/* A core configured as client/client.c configures it, but never gives up (timeout 0):
 * the liveness checker decides how long is too long. */
static void client_init_core(struct world *w, struct sim_client *cl)
{
	struct client_core_config cc = {
		.proto = w->o->protocol,
		.n = w->n,
		.f = w->f,
		.id = cl->id,
		.cluster = SIM_CLUSTER_ID,
		.read_only = w->o->read_only && w->o->protocol == PROTO_PBFT,
		.lease_reads = w->o->read_lease_ms > 0 && w->o->protocol == PROTO_VR,
		.timeout_ms = 0,
		.bug = core_bug(w),
		.auth = &cl->auth,
		/* robust mode: every request signed (hybrid with mac), as byzlab-client does */
		.sign_always = w->base.robust,
		/* and sent to every replica (Aardvark §4.2), as byzlab-client does */
		.send_all = w->base.robust && w->o->protocol == PROTO_PBFT,
		.hotstuff_stable = w->o->hotstuff_stable,
		.hotstuff_leaders = w->o->hotstuff_leaders,
		.escalate_max_ms = w->base.robust
					   ? config_robust_escalate_ms(w->base.robust_heartbeat_ms)
					   : 0,
	};
	client_core_init(&cl->core, &cc);
	cl->timer_at = UINT64_MAX;
}

int clients_init(struct world *w)
{
	w->ops_total = w->o->ops;
	w->cap_hist = w->ops_total;
	w->hist = calloc(w->cap_hist ? w->cap_hist : 1, sizeof(*w->hist));
	if (!w->hist)
		return -1;
	for (uint32_t c = 0; c < w->n_clients; c++) {
		struct sim_client *cl = &w->client[c];
		cl->id = c;
		cl->todo = w->ops_total / w->n_clients + (c < w->ops_total % w->n_clients);
		cl->cur = -1;
		cl->cap_issued = cl->todo;
		cl->issued = calloc(cl->cap_issued ? cl->cap_issued : 1, sizeof(*cl->issued));
		cl->issued_ro = calloc(cl->cap_issued ? cl->cap_issued : 1, sizeof(*cl->issued_ro));
		if (!cl->issued || !cl->issued_ro)
			return -1;
		for (uint32_t k = 0; k < SIM_MAX_KEYS; k++)
			cl->seen[k] = -1;
		if (sim_auth_init(&cl->auth, w->o->auth, w->n, 0, true, c) != 0)
			return -1;
		cl->auth.robust = w->base.robust; /* hybrid requests (auth_seal_signed) */
		client_init_core(w, cl);
		sched(w, rng_below(&w->rng, 10000), SEV_CLIENT_NEXT, (int32_t)c, 0, 0);
	}
	if (w->o->bad_mac_client) {
		if (sim_auth_init(&w->attacker, w->o->auth, w->n, 0, true, SIM_ATTACKER) != 0)
			return -1;
		sched(w, rng_range(&w->rng, 1000, 20000), SEV_ATTACK, SIM_ATTACKER, 0, 0);
	}
	return 0;
}

/* ---- the faulty client (--bad-mac-client) ----
 * Issue 14: a client whose MAC authenticators are good only in the slot of the
 * primary (it knows the current view: the highest a correct replica is in).  A correct
 * primary authenticates the request and batches it; every backup finds its own slot
 * garbled.  It asks for a GET of a key no operation uses, every 5-25 ms while the
 * clients run; one in four goes to every replica, like a retransmission.  With
 * --robust its requests are hybrids with a bad signature (seal_bad_hybrid).  It is owed
 * nothing: its requests are not part of the history. */
/* Robust mode (--robust, issue 16): requests must be signed, so the faulty client
 * sends hybrids (signature, then authenticator) whose signature is garbage and whose
 * MAC is good in the primary's slot only.  A primary that took a request on its MAC
 * would batch it, and every backup - its own slot wrong, the signature bad - would
 * refuse the PRE-PREPARE and vote the correct primary out; the primary checks the
 * signature instead (docs/PROTOCOL.md §6.3), so this client costs no view change. */
static void seal_bad_hybrid(struct world *w, struct buf *req, size_t off, uint32_t primary)
{
	w->attacker.robust = 1;
	auth_seal_signed(&w->attacker, req, off);
	size_t sig = req->len - (WIRE_SIG_LEN + (size_t)w->n * WIRE_MAC_LEN);
	req->p[sig + 7] ^= 0x20;
	for (uint32_t r = 0; r < w->n; r++)
		if (r != primary)
			req->p[sig + WIRE_SIG_LEN + (size_t)r * WIRE_MAC_LEN] ^= 0x5a;
}

void attacker_tick(struct world *w)
{
	if (w->phase >= 2)
		return;
	struct buf op, *req = &w->scratch;
	buf_init(&op);
	kv_op_get(&op, "zz", 2);
	buf_reset(req);
	size_t off = wire_put_request(req, SIM_CLUSTER_ID, SIM_ATTACKER, ++w->attacker_ts, 0, op.p,
				      (uint32_t)op.len);
	buf_free(&op);
	uint32_t primary = (uint32_t)(w->max_view % w->n);
	if (w->base.robust)
		seal_bad_hybrid(w, req, off, primary);
	else {
		auth_seal(&w->attacker, req, off);
		auth_poison_slots(req->p + off, req->len - off, ~(1u << primary));
	}
	struct sbuf *m = sbuf_new(req->p + off, req->len - off);
	int32_t from = -1 - SIM_ATTACKER;
	if (++w->attacks % 4 == 0) {
		for (uint32_t r = 0; r < w->n; r++)
			net_to_replica(w, from, 0, r, m);
	} else {
		net_to_replica(w, from, 0, primary, m);
	}
	sbuf_put(m);
	sched(w, w->now + rng_range(&w->rng, 5000, 25000), SEV_ATTACK, SIM_ATTACKER, 0, 0);
}

void clients_free(struct world *w)
{
	for (uint32_t c = 0; c < w->n_clients; c++) {
		struct sim_client *cl = &w->client[c];
		client_core_free(&cl->core);
		auth_free(&cl->auth);
		free(cl->issued);
		free(cl->issued_ro);
	}
	auth_free(&w->attacker);
	for (uint32_t i = 0; i < w->n_hist; i++)
		free(w->hist[i].result);
	free(w->hist);
	for (uint32_t i = 0; i < w->n_values; i++)
		free(w->values[i]);
	free(w->values);
	free(w->value_len);
}

/* Record timestamp n_issued+1 as issued for the operation with hash op_hash (ro: 0, or
 * 1+key for a read-only get). */
static void issue(struct sim_client *cl, uint64_t op_hash, uint8_t ro)
{
	if (cl->n_issued == cl->cap_issued) {
		uint32_t cap = cl->cap_issued ? cl->cap_issued * 2 : 16;
		uint64_t *is = realloc(cl->issued, cap * sizeof(*is));
		if (!is)
			abort();
		cl->issued = is;
		uint8_t *ro_ = realloc(cl->issued_ro, cap * sizeof(*ro_));
		if (!ro_)
			abort();
		cl->issued_ro = ro_;
		cl->cap_issued = cap;
	}
	cl->issued[cl->n_issued] = op_hash;
	cl->issued_ro[cl->n_issued] = ro;
	cl->n_issued++;
}

_Static_assert(CLIENT_HS_STABLE_SHIFT == HS_STABLE_SHIFT,
	       "the client's HotStuff leader function must be the replicas'");

/* to: a replica, CLIENT_SEND_ALL (but skip) or CLIENT_SEND_SET (the replicas in set) */
static void send_request(struct world *w, struct sim_client *cl, uint32_t to, uint32_t set,
			 uint32_t skip)
{
	const struct buf *req = client_core_request(&cl->core);
	struct sbuf *m = sbuf_new(req->p, req->len);
	int32_t from = -1 - (int32_t)cl->id;
	if (to == CLIENT_SEND_ALL || to == CLIENT_SEND_SET) {
		for (uint32_t r = 0; r < w->n; r++)
			if (to == CLIENT_SEND_ALL ? r != skip : (set >> r & 1u) != 0)
				net_to_replica(w, from, 0, r, m);
	} else {
		net_to_replica(w, from, 0, to, m);
	}
	sbuf_put(m);
}

/* Queue a timer event for the core's next deadline (a new one voids the old). */
static void rearm(struct world *w, struct sim_client *cl, uint64_t at)
{
	if (at == cl->timer_at)
		return;
	cl->timer_gen++;
	cl->timer_at = at;
	if (at != UINT64_MAX)
		sched(w, at, SEV_CLIENT_TIMER, (int32_t)cl->id, 0, cl->timer_gen);
}

static const char *key_name(uint32_t k)
{
	static const char *const names[SIM_MAX_KEYS] = {"k0", "k1", "k2", "k3",
							"k4", "k5", "k6", "k7"};
	return names[k];
}

/* Build the next operation into op and fill h. */
static void make_op(struct world *w, struct sim_client *cl, struct hop *h, struct buf *op)
{
	uint64_t r = rng_below(&w->rng, 100);
	const char *key = key_name(h->key);
	h->a = h->b = -1;
	if (r < 40) {
		h->kind = OP_PUT;
		h->a = new_value(w);
		kv_op_put(op, key, 2, w->values[h->a], w->value_len[h->a]);
	} else if (r < 70) {
		h->kind = OP_GET;
		kv_op_get(op, key, 2);
	} else {
		h->kind = OP_CAS;
		/* usually the value we saw last (a cas that may well succeed), else any */
		if (rng_chance(&w->rng, 0.7))
			h->a = cl->seen[h->key];
		else if (w->n_values && rng_chance(&w->rng, 0.8))
			h->a = (int32_t)rng_below(&w->rng, w->n_values);
		h->b = new_value(w);
		const uint8_t *old = h->a >= 0 ? w->values[h->a] : (const uint8_t *)"";
		uint32_t old_len = h->a >= 0 ? w->value_len[h->a] : 0;
		kv_op_cas(op, key, 2, old, old_len, w->values[h->b], w->value_len[h->b]);
	}
}

static void carry_out(struct world *w, struct sim_client *cl, const struct client_out *out,
		      const char *why);
static void complete(struct world *w, struct sim_client *cl, const uint8_t *res, size_t len);

void client_next(struct world *w, uint32_t c)
{
	struct sim_client *cl = &w->client[c];
	if (cl->todo == 0 || cl->cur >= 0 || w->n_hist >= w->cap_hist)
		return;
	cl->todo--;
	uint64_t ts;
	struct hop *h = &w->hist[w->n_hist];
	*h = (struct hop){.client = c,
			  .invoke_us = w->now,
			  .rval = -1,
			  .key = (uint8_t)rng_below(&w->rng, w->n_keys)};
	struct buf op;
	buf_init(&op);
	make_op(w, cl, h, &op);
	h->op_hash = hash64(op.p, op.len);
	/* PBFT §5.1.3: a get goes read-only, to every replica at once */
	bool ro = ((w->o->read_only && w->o->protocol == PROTO_PBFT) ||
		   (w->o->read_lease_ms && w->o->protocol == PROTO_VR)) &&
		  h->kind == OP_GET;
	struct client_out out;
	if (client_core_submit(&cl->core, op.p, op.len, 0, 0, w->now, &out) != 0)
		abort(); /* idle core, op within bounds: cannot fail */
	buf_free(&op);
	if (ro != ((cl->core.flags & REQ_F_READONLY) != 0))
		abort(); /* the core and the history disagree on what a get is */
	h->ts = ts = cl->core.ts;
	issue(cl, h->op_hash, ro ? (uint8_t)(1 + h->key) : 0);
	if (ts != cl->n_issued)
		abort(); /* check.c indexes issued[] by timestamp */
	cl->cur = (int32_t)w->n_hist++;
	cl->ro = ro;
	if (ro)
		h->ro_ts = ts;
	w->ops_issued++;
	static const char *const kinds[] = {"put", "get", "cas"};
	char note[40];
	snprintf(note, sizeof(note), "%s %s %d %d%s", kinds[h->kind], key_name(h->key), h->a, h->b,
		 ro ? " ro" : "");
	sim_trace(w, TR_INVOKE, -1 - (int)c, 0, TR_NONE, 0, 0, ts, 0, 0, note);
	carry_out(w, cl, &out, "");
}

static void complete(struct world *w, struct sim_client *cl, const uint8_t *res, size_t len)
{
	struct hop *h = &w->hist[cl->cur];
	h->complete_us = w->now;
	h->result = malloc(len ? len : 1);
	if (!h->result)
		abort();
	memcpy(h->result, res, len);
	h->result_len = (uint32_t)len;
	h->ro_done = cl->ro;
	if (cl->ro)
		w->ro_reads++;
	h->status = len ? res[0] : 0xff;
	h->rval = -1;
	if (len > 1 && ((h->kind == OP_GET && h->status == KV_OK) ||
			(h->kind == OP_CAS && h->status == KV_CAS_FAILED)))
		h->rval = value_id(w, res + 1, len - 1);
	else if (len == 0)
		h->rval = -2;
	/* what we now believe the key holds (for our next cas) */
	if (h->kind == OP_PUT && h->status == KV_OK)
		cl->seen[h->key] = h->a;
	else if (h->kind == OP_CAS && h->status == KV_OK)
		cl->seen[h->key] = h->b;
	else if (h->rval >= -1)
		cl->seen[h->key] = h->rval;
	uint64_t start = h->invoke_us > w->fault_end_us ? h->invoke_us : w->fault_end_us;
	if (w->phase >= 1 && w->now - start > w->longest_op_us)
		w->longest_op_us = w->now - start;
	char note[40];
	snprintf(note, sizeof(note), "status=%u val=%d tries=%u%s", h->status, h->rval,
		 cl->core.tries, cl->ro ? " ro" : "");
	sim_trace(w, TR_COMPLETE, -1 - (int)cl->id, 0, TR_NONE, 0, 0, cl->core.ts, 0, 0, note);
	cl->cur = -1;
	cl->ro = false;
	w->ops_done++;
	if (cl->todo)
		sched(w, w->now + rng_below(&w->rng, 50000), SEV_CLIENT_NEXT, (int32_t)cl->id, 0,
		      0);
}

/* PBFT §5.1.3: the core retried the read-only get as an ordinary request with a new
 * timestamp; the history entry takes it. */
static void note_readonly_retry(struct world *w, struct sim_client *cl, const char *why)
{
	struct hop *h = &w->hist[cl->cur];
	uint64_t ts = cl->core.ts;
	issue(cl, h->op_hash, 0);
	if (ts != cl->n_issued)
		abort(); /* check.c indexes issued[] by timestamp */
	h->ts = ts;
	cl->ro = false;
	cl->ro_retries++;
	w->ro_retries++;
	char note[40];
	snprintf(note, sizeof(note), "ro -> rw ts=%" PRIu64 " (%s)", ts, why);
	sim_trace(w, TR_RETRY, -1 - (int)cl->id, 0, TR_NONE, 0, 0, h->ro_ts, 0, 0, note);
}

/* Carry out what the core asked for (client/client.c's carry_out, on the simulated
 * network). */
static void carry_out(struct world *w, struct sim_client *cl, const struct client_out *out,
		      const char *why)
{
	if (out->readonly_retry)
		note_readonly_retry(w, cl, why);
	if (out->retransmit)
		sim_trace(w, TR_RETRY, -1 - (int)cl->id, 0, TR_NONE, 0, 0, cl->core.ts, 0, 0,
			  cl->core.signing ? "to all, signed" : "to all");
	if (out->send_to != CLIENT_SEND_NONE)
		send_request(w, cl, out->send_to, out->send_set, out->skip);
	rearm(w, cl, out->next_tick_us);
	if (out->done) {
		size_t len;
		const uint8_t *res = client_core_result(&cl->core, &len);
		complete(w, cl, res, len);
	}
}

void client_timer(struct world *w, uint32_t c, uint64_t gen)
{
	struct sim_client *cl = &w->client[c];
	if (gen != cl->timer_gen || cl->cur < 0)
		return;
	cl->timer_at = UINT64_MAX;
	struct client_out out;
	client_core_tick(&cl->core, w->now, &out);
	carry_out(w, cl, &out, "timeout");
}

void client_on_reply(struct world *w, uint32_t c, uint32_t from, const uint8_t *p, size_t len)
{
	(void)from; /* the reply says who sent it; with --auth its MAC proves it */
	if (c >= w->n_clients)
		return;
	struct sim_client *cl = &w->client[c];
	struct client_out out;
	/* the client's edge, as client/client.c: decode, verify what it wants, accept */
	if (client_core_receive(&cl->core, p, len, w->now, &out) != CLIENT_RX_OK)
		return;
	carry_out(w, cl, &out, "hopeless");
}
