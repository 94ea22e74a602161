/* single.c - the unreplicated baseline core: one replica (id 0, view 0) executes
 * authenticated requests in arrival order.  It shares execution (exec.c), storage,
 * transport and client with PBFT and VR, so its cost is the floor they are measured
 * against.
 *
 * Records (persist effects):
 *   kind 1 = request log: key = sequence number, value = the REQUEST as received
 *            (auth trailer included); durable before its reply leaves.
 *   kind 2 = snapshot: key = sequence number, value = exec_snapshot() bytes, written
 *            every checkpoint_interval requests, with the log and older snapshots
 *            below it deleted in the same transaction.
 * Recovery restores the latest snapshot and replays the logged requests above it.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/core.h"
#include "replica/core/exec.h"

#define KIND_REQ 1
#define KIND_SNAP 2

struct logged { /* a request read back from the log, for replay */
	uint64_t seq;
	uint8_t *p;
	size_t len;
};

struct single {
	struct core_config cfg;
	struct exec_state x;
	uint64_t last_executed;
	uint64_t stable_checkpoint;
	uint8_t state_digest[WIRE_DIGEST_LEN]; /* of the state at stable_checkpoint */
	uint64_t requests_executed;
	struct logged *replay; /* recovered requests, in key order */
	size_t n_replay, cap_replay;
	struct buf snap; /* scratch for snapshots */
};

static void free_replay(struct single *s)
{
	for (size_t i = 0; i < s->n_replay; i++)
		free(s->replay[i].p);
	free(s->replay);
	s->replay = NULL;
	s->n_replay = s->cap_replay = 0;
}

static void single_destroy(void *core)
{
	struct single *s = core;
	if (!s)
		return;
	free_replay(s);
	exec_free(&s->x);
	buf_free(&s->snap);
	free(s);
}

static void *single_create(const struct core_config *cfg)
{
	if (cfg->n != 1 || cfg->id != 0)
		return NULL;
	struct single *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	buf_init_limit(&s->snap, BUF_LIMIT_STATE);
	if (exec_init(&s->x, cfg->max_clients, cfg->kv_max_bytes) != 0) {
		free(s);
		return NULL;
	}
	exec_digest(&s->x, s->state_digest);
	return s;
}

static int keep_for_replay(struct single *s, uint64_t seq, const uint8_t *val, size_t len)
{
	if (len > WIRE_MAX_MSG)
		return -1;
	if (s->n_replay == s->cap_replay) {
		size_t ncap = s->cap_replay ? s->cap_replay * 2 : 64;
		struct logged *p = realloc(s->replay, ncap * sizeof(*p));
		if (!p)
			return -1;
		s->replay = p;
		s->cap_replay = ncap;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	memcpy(copy, val, len);
	s->replay[s->n_replay++] = (struct logged){.seq = seq, .p = copy, .len = len};
	return 0;
}

static int single_recover(void *core, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct single *s = core;
	switch (kind) {
	case KIND_REQ: return keep_for_replay(s, key, val, len);
	case KIND_SNAP:
		/* Records come in key order: the last snapshot restored wins. */
		if (exec_restore(&s->x, val, len) != 0)
			return -1;
		s->last_executed = s->stable_checkpoint = key;
		crypto_digest(val, len, s->state_digest); /* = exec_digest() */
		return 0;
	default: return -1; /* not a store this core wrote */
	}
}

/* Execute the logged requests above the snapshot, in order, without replies
 * (their replies left before the crash, or the clients will retransmit). */
static void replay_log(struct single *s)
{
	for (size_t i = 0; i < s->n_replay; i++) {
		const struct logged *l = &s->replay[i];
		/* recover() is fed in key order (core.h): one record per sequence number */
		CORE_ASSERT(i == 0 || l->seq > s->replay[i - 1].seq);
		struct msg m;
		const uint8_t *res;
		uint32_t rlen;
		if (l->seq <= s->last_executed)
			continue;
		if (wire_decode(l->p, l->len, s->cfg.cluster_id, &m) != WIRE_OK ||
		    m.h.type != MSG_REQUEST)
			continue;
		if (exec_request(&s->x, &m, &res, &rlen) == EXEC_NEW)
			s->requests_executed++;
		s->last_executed = l->seq;
	}
	CORE_ASSERT(s->last_executed >= s->stable_checkpoint);
	free_replay(s);
}

static void send_reply(struct single *s, const struct msg *req, const uint8_t *res, uint32_t rlen,
		       struct effects *out)
{
	size_t off = wire_put_reply(&out->arena, s->cfg.cluster_id, s->cfg.id, 0, req->h.sender,
				    req->u.req.timestamp, res, rlen);
	if (s->cfg.auth)
		auth_seal(s->cfg.auth, &out->arena, off);
	effects_send(out, TO_CLIENT, req->h.sender, off);
}

/* Snapshot at seq, and forget the log and snapshots it covers.  A state too large
 * for one record is not snapshotted: the log just keeps growing (still correct). */
static void checkpoint(struct single *s, uint64_t seq, struct effects *out)
{
	CORE_ASSERT(seq == s->last_executed && seq > s->stable_checkpoint);
	buf_reset(&s->snap);
	exec_snapshot(&s->x, &s->snap);
	if (s->snap.err || s->snap.len > WIRE_MAX_MSG - out->arena.len)
		return;
	effects_persist(out, P_PUT, KIND_SNAP, seq, s->snap.p, s->snap.len);
	effects_persist(out, P_DEL_BELOW, KIND_REQ, seq + 1, NULL, 0);
	effects_persist(out, P_DEL_BELOW, KIND_SNAP, seq, NULL, 0);
	s->stable_checkpoint = seq;
	crypto_digest(s->snap.p, s->snap.len, s->state_digest); /* = exec_digest() */
}

static void on_request(struct single *s, const struct msg *m, struct effects *out)
{
	const uint8_t *res;
	uint32_t rlen;
	int v = exec_classify(&s->x, m->h.sender, m->u.req.timestamp);
	if (v == EXEC_STALE)
		return;
	if (v == EXEC_CACHED) {
		exec_request(&s->x, m, &res, &rlen); /* does not execute again */
		send_reply(s, m, res, rlen, out);
		return;
	}
	CORE_ASSERT(v == EXEC_NEW);
	uint64_t seq = s->last_executed + 1;
	effects_persist(out, P_PUT, KIND_REQ, seq, m->raw, m->raw_len);
	int done = exec_request(&s->x, m, &res, &rlen);
	CORE_ASSERT(done == EXEC_NEW); /* classified just above: executed exactly once */
	s->last_executed = seq;
	s->requests_executed++;
	uint8_t d[WIRE_DIGEST_LEN];
	crypto_digest(m->raw, m->raw_len, d);
	effects_exec(out, seq, 0, d, 1);
	send_reply(s, m, res, rlen, out);
	uint32_t every = s->cfg.checkpoint_interval;
	if (every && seq % every == 0)
		checkpoint(s, seq, out);
	CORE_ASSERT(s->last_executed == seq && s->stable_checkpoint <= seq);
}

static int single_step(void *core, const struct event *ev, struct effects *out)
{
	struct single *s = core;
	switch (ev->kind) {
	case EV_START: replay_log(s); break;
	case EV_MSG:
		if (ev->m && ev->m->h.type == MSG_REQUEST)
			on_request(s, ev->m, out);
		break;
	default: break; /* no timers: nothing to time out without peers */
	}
	return 0;
}

static void single_status(void *core, struct core_status *st)
{
	const struct single *s = core;
	memset(st, 0, sizeof(*st));
	st->protocol = "single";
	st->last_executed = s->last_executed;
	st->stable_checkpoint = s->stable_checkpoint;
	memcpy(st->state_digest, s->state_digest, WIRE_DIGEST_LEN);
	st->requests_executed = s->requests_executed;
}

const struct core_ops single_core_ops = {
	.name = "single",
	.create = single_create,
	.destroy = single_destroy,
	.recover = single_recover,
	.step = single_step,
	.status = single_status,
};
