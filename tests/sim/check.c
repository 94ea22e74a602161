/* check.c - the safety and liveness checkers.  Only correct replicas are judged:
 * liars (--byz, twins) may do anything.
 *
 *   agreement   online: for every sequence number, every correct replica executed the
 *               same batch digest (effects.execs notes); at the end: no sequence
 *               number below the highest executed one is missing.
 *   validity    online: every REPLY a correct replica sends is for a (client,
 *               timestamp) that client issued; at the end: every request in the
 *               agreed sequence is one a client issued, byte for byte.
 *   consistency at the end: the agreed batches (collected by digest from the
 *               PRE-PREPARE and BATCH messages on the network) replayed in order on a
 *               reference exec_state (replica/core/exec.h) give exactly the result
 *               every client accepted, and every reply a correct replica sent.
 *               --read-only: a get that completed read-only (PBFT §5.1.3) is not in
 *               the agreed sequence and is left to the linearizability checker; a
 *               read-only reply of a correct replica must be a result that get had
 *               after some prefix of the agreed sequence (the state it was read from).
 *   no false accusation (issue 17)  online: every evidence a correct replica's core
 *               notes (struct evidence_note) names a liar, and a proof verifies with
 *               evidence_verify from the public keys alone (a suspicion: decodes).
 *               --expect-evidence I: at the end, some correct replica named I.
 *   proven primary (issue 17)  online: after every step, no correct replica stays
 *               in a view whose primary it holds a proof against (pbft_evidence.c
 *               votes it out at once).  --expect-replaced I: some correct replica
 *               voted I out so.
 *   linearizability  lincheck.c, per key.
 *   liveness    online: once the faults stop, every operation completes within
 *               w->liveness_us of simulated time.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/evidence.h"
#include "replica/kv.h"
#include "tests/sim/sim.h"

/* Results are compared through their digests, so that a digest reply (PBFT §5.1.1, the
 * REPLY's seq = REPLY_DIGEST) is checked as strictly as the full result it stands for. */
static uint64_t result_hash(const uint8_t *res, size_t len)
{
	uint8_t d[WIRE_DIGEST_LEN];
	crypto_digest(res, len, d);
	return hash64(d, sizeof(d));
}

uint64_t hash64(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void hex8(const uint8_t *d, char out[9])
{
	snprintf(out, 9, "%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
}

/* ---- agreement ---- */

void check_exec(struct world *w, uint32_t replica, const struct exec_note *x)
{
	if (x->seq == 0) {
		sim_fail(w, "agreement", "replica %u executed sequence number 0", replica);
		return;
	}
	if (x->seq >= w->cap_agree) {
		uint64_t cap = w->cap_agree ? w->cap_agree : 256;
		while (cap <= x->seq)
			cap *= 2;
		struct agreed *a = realloc(w->agree, cap * sizeof(*a));
		if (!a)
			abort();
		memset(a + w->cap_agree, 0, (cap - w->cap_agree) * sizeof(*a));
		w->agree = a;
		w->cap_agree = cap;
	}
	struct agreed *a = &w->agree[x->seq];
	if (x->seq > w->max_seq)
		w->max_seq = x->seq;
	if (!a->have) {
		*a = (struct agreed){.have = true, .view = x->view, .replica = replica};
		memcpy(a->digest, x->digest, WIRE_DIGEST_LEN);
		return;
	}
	if (memcmp(a->digest, x->digest, WIRE_DIGEST_LEN) != 0) {
		char d1[9], d2[9];
		hex8(a->digest, d1);
		hex8(x->digest, d2);
		if (!w->failed) /* the first violation's (a later one must not overwrite it) */
			w->agree_views_differ = a->view != x->view;
		sim_fail(w, "agreement",
			 "seq %" PRIu64 ": replica %u executed batch %s (view %" PRIu64
			 ") but replica %u executed batch %s (view %" PRIu64 ")",
			 x->seq, a->replica, d1, a->view, replica, d2, x->view);
	}
}

/* ---- batches seen on the network (content addressed) ---- */

static size_t batch_slot(const struct world *w, const uint8_t *digest)
{
	size_t mask = w->cap_batches - 1;
	size_t i = (size_t)get_u64(digest) & mask;
	while (w->batches[i].bytes && memcmp(w->batches[i].digest, digest, WIRE_DIGEST_LEN))
		i = (i + 1) & mask;
	return i;
}

static void batch_grow(struct world *w)
{
	struct batch_ent *old = w->batches;
	size_t old_cap = w->cap_batches;
	w->cap_batches = old_cap ? old_cap * 2 : 1024;
	w->batches = calloc(w->cap_batches, sizeof(*w->batches));
	if (!w->batches)
		abort();
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].bytes)
			w->batches[batch_slot(w, old[i].digest)] = old[i];
	free(old);
}

static void batch_add(struct world *w, const uint8_t *body, size_t len)
{
	uint8_t d[WIRE_DIGEST_LEN];
	crypto_digest(body, len, d);
	if ((w->n_batches + 1) * 2 > w->cap_batches)
		batch_grow(w);
	size_t i = batch_slot(w, d);
	if (w->batches[i].bytes)
		return;
	struct batch_ent *b = &w->batches[i];
	memcpy(b->digest, d, WIRE_DIGEST_LEN);
	b->bytes = malloc(len ? len : 1);
	if (!b->bytes)
		abort();
	memcpy(b->bytes, body, len);
	b->len = (uint32_t)len;
	w->n_batches++;
}

static const struct batch_ent *batch_find(struct world *w, const uint8_t *digest)
{
	if (!w->cap_batches)
		return NULL;
	size_t i = batch_slot(w, digest);
	return w->batches[i].bytes ? &w->batches[i] : NULL;
}

/* ---- validity of what correct replicas send ---- */

void check_sent(struct world *w, uint32_t replica, bool correct, const uint8_t *p, size_t len)
{
	uint8_t type = len > WIRE_OFF_TYPE ? p[WIRE_OFF_TYPE] : 0;
	if (type != MSG_PREPREPARE && type != MSG_BATCH && (type != MSG_REPLY || !correct))
		return;
	struct msg m;
	if (wire_decode(p, len, SIM_CLUSTER_ID, &m) != WIRE_OK) {
		if (correct)
			sim_fail(w, "validity", "replica %u sent an undecodable %s", replica,
				 wire_type_name(type));
		return;
	}
	if (type != MSG_REPLY) {
		batch_add(w, m.body, m.h.body_len);
		return;
	}
	uint32_t c = m.u.rep.client;
	uint64_t ts = m.u.rep.timestamp;
	if (c >= w->n_clients || ts == 0 || ts > w->client[c].n_issued) {
		sim_fail(w, "validity",
			 "replica %u replied to client %u timestamp %" PRIu64 ", never issued",
			 replica, c, ts);
		return;
	}
	if (w->n_replies == w->cap_replies) {
		w->cap_replies = w->cap_replies ? w->cap_replies * 2 : 1024;
		w->replies = realloc(w->replies, w->cap_replies * sizeof(*w->replies));
		if (!w->replies)
			abort();
	}
	w->replies[w->n_replies++] = (struct reply_rec){
		.client = c,
		.replica = replica,
		.ts = ts,
		.hash = m.h.seq == REPLY_DIGEST ? hash64(m.u.rep.result, m.u.rep.result_len)
						: result_hash(m.u.rep.result, m.u.rep.result_len)};
}

/* ---- liveness ---- */

void check_liveness(struct world *w)
{
	if (w->phase != 1)
		return;
	for (uint32_t c = 0; c < w->n_clients; c++) {
		const struct sim_client *cl = &w->client[c];
		if (cl->cur < 0)
			continue;
		const struct hop *h = &w->hist[cl->cur];
		uint64_t start = h->invoke_us > w->fault_end_us ? h->invoke_us : w->fault_end_us;
		if (w->now > start + w->liveness_us) {
			sim_fail(w, "liveness",
				 "client %u timestamp %" PRIu64 " not done %" PRIu64
				 " ms after the faults stopped (bound %" PRIu64 " ms, %u retries)",
				 c, h->ts, (w->now - start) / 1000, w->liveness_us / 1000,
				 cl->core.tries);
			return;
		}
	}
}

/* ---- the replay ---- */

struct replay {
	uint64_t *res[SIM_MAX_CLIENTS]; /* result hash | 1 per (client, ts-1); 0 none */
	/* --read-only: per key, the hashes of a get's result after each agreed batch */
	uint64_t *ro_vals[SIM_MAX_KEYS];
	size_t n_ro_vals[SIM_MAX_KEYS], cap_ro_vals[SIM_MAX_KEYS];
	struct buf get[SIM_MAX_KEYS]; /* the get operation of each key */
};

static void ro_note_state(struct world *w, struct exec_state *x, struct replay *rp)
{
	for (uint32_t k = 0; k < w->n_keys; k++) {
		const uint8_t *res;
		uint32_t len;
		exec_read(x, rp->get[k].p, (uint32_t)rp->get[k].len, &res, &len);
		uint64_t h = result_hash(res, len);
		if (rp->n_ro_vals[k] && rp->ro_vals[k][rp->n_ro_vals[k] - 1] == h)
			continue;
		if (rp->n_ro_vals[k] == rp->cap_ro_vals[k]) {
			size_t cap = rp->cap_ro_vals[k] ? rp->cap_ro_vals[k] * 2 : 64;
			uint64_t *v = realloc(rp->ro_vals[k], cap * sizeof(*v));
			if (!v)
				abort();
			rp->ro_vals[k] = v;
			rp->cap_ro_vals[k] = cap;
		}
		rp->ro_vals[k][rp->n_ro_vals[k]++] = h;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int replay_batch(struct world *w, struct exec_state *x, struct replay *rp, uint64_t seq,
			const struct batch_ent *b)
{
	struct body_preprepare pp;
	if (wire_decode_batch(b->bytes, b->len, SIM_CLUSTER_ID, &pp) != WIRE_OK) {
		sim_fail(w, "validity", "seq %" PRIu64 ": the agreed batch does not decode", seq);
		return -1;
	}
	for (uint16_t i = 0; i < pp.count; i++) {
		struct msg req;
		if (wire_decode(pp.req[i], pp.req_len[i], SIM_CLUSTER_ID, &req) != WIRE_OK ||
		    req.h.type != MSG_REQUEST) {
			sim_fail(w, "validity", "seq %" PRIu64 ": request %u does not decode", seq,
				 i);
			return -1;
		}
		uint32_t c = req.h.sender;
		uint64_t ts = req.u.req.timestamp;
		if (c >= w->n_clients || ts == 0 || ts > w->client[c].n_issued ||
		    w->client[c].issued[ts - 1] != hash64(req.u.req.op, req.u.req.op_len)) {
			sim_fail(w, "validity",
				 "seq %" PRIu64 ": request (client %u, timestamp %" PRIu64
				 ") was never issued",
				 seq, c, ts);
			return -1;
		}
		const uint8_t *res;
		uint32_t len;
		if (exec_request(x, &req, &res, &len) == EXEC_NEW)
			rp->res[c][ts - 1] = result_hash(res, len) | 1;
	}
	return 0;
}

static void check_results(struct world *w, struct replay *rp)
{
	for (uint32_t i = 0; i < w->n_hist && !w->failed; i++) {
		const struct hop *h = &w->hist[i];
		if (!h->complete_us || h->ro_done)
			continue; /* read-only: not in the agreed sequence (lincheck judges it) */
		uint64_t want = rp->res[h->client][h->ts - 1];
		if (!want)
			sim_fail(w, "consistency",
				 "client %u accepted a result for timestamp %" PRIu64
				 " that no correct replica executed in the agreed sequence",
				 h->client, h->ts);
		else if (want != (result_hash(h->result, h->result_len) | 1))
			sim_fail(w, "consistency",
				 "client %u timestamp %" PRIu64
				 ": accepted result differs from the replayed agreed sequence",
				 h->client, h->ts);
	}
	for (size_t i = 0; i < w->n_replies && !w->failed; i++) {
		const struct reply_rec *r = &w->replies[i];
		uint8_t ro = w->client[r->client].issued_ro[r->ts - 1];
		if (ro) {
			/* answered from the replica's state, a prefix of the agreed sequence
			 * (or, if a faulty primary ordered it, executed there: same) */
			uint32_t k = ro - 1u;
			if (!bsearch(&r->hash, rp->ro_vals[k], rp->n_ro_vals[k], sizeof(uint64_t),
				     cmp_u64))
				sim_fail(w, "consistency",
					 "replica %u answered the read-only get of client %u "
					 "timestamp %" PRIu64
					 " with a value key k%u never had in the agreed sequence",
					 r->replica, r->client, r->ts, k);
			continue;
		}
		uint64_t want = rp->res[r->client][r->ts - 1];
		if (want != (r->hash | 1))
			sim_fail(w, "consistency",
				 "replica %u replied to client %u timestamp %" PRIu64
				 " with a result the agreed sequence %s",
				 r->replica, r->client, r->ts,
				 want ? "does not give" : "never executed");
	}
}

static void replay_all(struct world *w)
{
	struct exec_state x;
	struct replay rp;
	memset(&rp, 0, sizeof(rp));
	if (exec_init(&x, w->max_clients, w->base.kv_max_bytes) != 0)
		abort();
	for (uint32_t c = 0; c < w->n_clients; c++) {
		rp.res[c] = calloc(w->client[c].n_issued + 1, sizeof(uint64_t));
		if (!rp.res[c])
			abort();
	}
	static const uint8_t null_batch[2] = {0, 0}; /* a view change's null request */
	batch_add(w, null_batch, sizeof(null_batch));
	bool ro = w->o->read_only;
	if (ro) {
		for (uint32_t k = 0; k < w->n_keys; k++) {
			char key[2] = {'k', (char)('0' + k)}; /* client.c key_name() */
			buf_init(&rp.get[k]);
			kv_op_get(&rp.get[k], key, 2);
		}
		ro_note_state(w, &x, &rp);
	}
	bool complete = true;
	for (uint64_t seq = 1; seq <= w->max_seq && !w->failed; seq++) {
		const struct agreed *a = &w->agree[seq];
		if (!a->have) {
			sim_fail(w, "agreement",
				 "seq %" PRIu64 " was executed by no correct replica, seq %" PRIu64
				 " was",
				 seq, w->max_seq);
			break;
		}
		const struct batch_ent *b = batch_find(w, a->digest);
		if (!b) {
			/* PBFT batches travel in PRE-PREPAREs and BATCHes; a protocol that
			 * carries them otherwise is not replayed (yet). */
			if (w->o->protocol == PROTO_PBFT)
				sim_fail(w, "consistency",
					 "seq %" PRIu64 ": agreed batch never seen on the network",
					 seq);
			complete = false;
			break;
		}
		if (replay_batch(w, &x, &rp, seq, b) != 0)
			break;
		if (ro)
			ro_note_state(w, &x, &rp);
	}
	for (uint32_t k = 0; ro && k < w->n_keys; k++)
		qsort(rp.ro_vals[k], rp.n_ro_vals[k], sizeof(uint64_t), cmp_u64);
	if (!w->failed && complete)
		check_results(w, &rp);
	for (uint32_t c = 0; c < w->n_clients; c++)
		free(rp.res[c]);
	for (uint32_t k = 0; ro && k < w->n_keys; k++) {
		free(rp.ro_vals[k]);
		buf_free(&rp.get[k]);
	}
	exec_free(&x);
}

/* ---- no false accusation (issue 17) ---- */

void check_evidence(struct world *w, uint32_t replica, const struct effects *fx)
{
	const struct auth_ctx *keys = &w->node[replica].inst[0].auth;
	for (size_t i = 0; i < fx->n_evidence && !w->failed; i++) {
		const struct evidence_note *ev = &fx->evidence[i];
		const uint8_t *proof = fx->arena.p + ev->off;
		struct evidence e;
		if (ev->accused >= w->n || node_correct(w, ev->accused)) {
			sim_fail(w, "accusation",
				 "correct replica %u holds a %s against correct replica %u",
				 replica, evidence_kind_name(ev->kind), ev->accused);
			return;
		}
		w->named[ev->accused]++;
		if (evidence_decode(proof, ev->len, &e) != 0 || e.accused != ev->accused ||
		    e.kind != ev->kind) {
			sim_fail(w, "evidence", "replica %u noted evidence that does not decode",
				 replica);
			return;
		}
		if (e.kind != EVIDENCE_PROOF)
			continue;
		w->named_proofs[ev->accused]++;
		if (evidence_verify(proof, ev->len, w->n,
				    (const uint8_t(*)[CRYPTO_PK_LEN])keys->replica_pk) != 0)
			sim_fail(w, "evidence",
				 "replica %u holds a proof against replica %u that does not "
				 "verify from the public keys",
				 replica, ev->accused);
	}
}

/* Proven primary (issue 17, pbft_evidence.c): after every step, a correct replica that
 * holds a proof against the primary of its view (active, or the one it is changing
 * to) has already voted for the next view: it never waits for a timeout to leave a
 * proven liar.  Also counts who was so voted out (--expect-replaced). */
void check_proven_primary(struct world *w, uint32_t replica, const struct core_status *before,
			  const struct core_status *st)
{
	if (!st->evidence_on || w->failed)
		return;
	/* the views this step left whose primary it holds a proof against (at most n:
	 * a step skips at most that many) */
	if (st->vc_proven_primary > before->vc_proven_primary)
		for (uint64_t v = before->view; v < st->view && v < before->view + w->n; v++)
			if (st->evidence_kind[v % w->n] == EVIDENCE_PROOF)
				w->replaced[v % w->n]++;
	if (st->primary < w->n && st->primary != replica &&
	    st->evidence_kind[st->primary] == EVIDENCE_PROOF)
		sim_fail(w, "proven-primary",
			 "replica %u holds a proof against replica %u and stays in its view %llu",
			 replica, st->primary, (unsigned long long)st->view);
}

static void check_expected_evidence(struct world *w)
{
	int32_t i = w->o->expect_evidence;
	if (i >= 0 && (uint32_t)i < w->n && !w->named[i])
		sim_fail(w, "evidence", "no correct replica holds evidence against replica %d", i);
	i = w->o->expect_replaced;
	if (i >= 0 && (uint32_t)i < w->n && !w->replaced[i] && !w->failed)
		sim_fail(w, "evidence",
			 "no correct replica voted replica %d out as a proven primary", i);
}

void check_final(struct world *w)
{
	replay_all(w);
	if (w->failed)
		return;
	check_expected_evidence(w);
	if (w->failed)
		return;
	char why[400];
	int r = lincheck(w, why, sizeof(why));
	if (r == 1)
		sim_fail(w, "linearizability", "%s", why);
	else if (r == 2)
		sim_trace(w, TR_NOTE, TR_NONE, 0, TR_NONE, 0, 0, 0, 0, 0, "lincheck undecided");
}

void check_free(struct world *w)
{
	for (size_t i = 0; i < w->cap_batches; i++)
		free(w->batches[i].bytes);
	free(w->batches);
	free(w->agree);
	free(w->replies);
}
