/* test_vr_core.c - VR cores (n = 3, and 5 where quorums need it) wired by the test
 * itself; messages are passed by hand, so each rule can be probed one message at a
 * time.  Also the VR codec's bounds (wire_vr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replica/core/core.h"
#include "replica/core/vr.h"
#include "replica/kv.h"

#define MAXN 5
#define CLUSTER 9
#define MAXQ 20000
#define MAXREC 4096
#define TIMEOUT 1000

struct packet {
	int from, to; /* to: replica id, or -1 for a client reply */
	uint32_t client;
	uint8_t *bytes;
	size_t len;
};

struct record {
	uint8_t kind;
	uint64_t key;
	uint8_t *val;
	size_t len;
};

struct world {
	int n, f;
	const struct core_ops *ops;
	struct core_config cfg[MAXN];
	struct auth_ctx auth[MAXN];
	void *core[MAXN];
	struct effects eff;
	struct packet q[MAXQ];
	size_t nq;
	struct packet replies[MAXQ];
	size_t nreplies;
	struct record store[MAXN][MAXREC];
	size_t nstore[MAXN];
	uint8_t executed_digest[MAXN][128][WIRE_DIGEST_LEN]; /* digest executed at op < 128 */
	uint64_t timer[MAXN];
	bool dead[MAXN];
	uint64_t now;
	uint64_t sent[MSG_TYPE_MAX + 1]; /* messages sent by replicas, per destination */
};

static struct world *W;
static uint32_t setup_lease_ms; /* read_lease_ms of the next world (0: leases off) */
static uint32_t setup_bugs;     /* plant_bugs of the next world */

static void store_apply(int i, const struct persist *ps, const uint8_t *arena)
{
	size_t *n = &W->nstore[i];
	struct record *r = W->store[i];
	for (size_t k = 0; k < *n;) {
		bool hit = r[k].kind == ps->kind &&
			   (ps->op == P_DEL_BELOW ? r[k].key < ps->key : r[k].key == ps->key);
		if (hit) {
			free(r[k].val);
			r[k] = r[--*n];
		} else {
			k++;
		}
	}
	if (ps->op != P_PUT)
		return;
	assert_true(*n < MAXREC);
	r[*n] = (struct record){.kind = ps->kind,
				.key = ps->key,
				.len = ps->len,
				.val = malloc(ps->len ? ps->len : 1)};
	memcpy(r[*n].val, arena + ps->off, ps->len);
	(*n)++;
}

static void enqueue(int from, int to, uint32_t client, const uint8_t *p, size_t len)
{
	struct packet *q = to >= 0 ? &W->q[W->nq++] : &W->replies[W->nreplies++];
	assert_true(W->nq < MAXQ && W->nreplies < MAXQ);
	*q = (struct packet){
		.from = from, .to = to, .client = client, .len = len, .bytes = malloc(len)};
	memcpy(q->bytes, p, len);
	W->sent[p[WIRE_OFF_TYPE]]++;
}

static void apply_effects(int i)
{
	struct effects *e = &W->eff;
	assert_false(effects_failed(e));
	for (size_t k = 0; k < e->n_persists; k++)
		store_apply(i, &e->persists[k], e->arena.p);
	for (size_t k = 0; k < e->n_sends; k++) {
		const struct send *s = &e->sends[k];
		const uint8_t *p = e->arena.p + s->off;
		struct msg m;
		/* every message a core sends must decode */
		assert_int_equal(wire_decode(p, s->len, CLUSTER, &m), WIRE_OK);
		if (s->to == TO_CLIENT)
			enqueue(i, -1, s->client, p, s->len);
		else if (s->to == TO_OTHERS)
			for (int j = 0; j < W->n; j++) {
				if (j != i)
					enqueue(i, j, 0, p, s->len);
			}
		else
			enqueue(i, s->to, 0, p, s->len);
	}
	for (size_t k = 0; k < e->n_execs; k++)
		if (e->execs[k].seq < 128)
			memcpy(W->executed_digest[i][e->execs[k].seq], e->execs[k].digest,
			       WIRE_DIGEST_LEN);
	assert_true(e->timer_ms != 0); /* a VR replica always watches something */
	W->timer[i] = e->timer_ms;
}

static void step(int i, enum ev_kind kind, const struct msg *m)
{
	struct event ev = {.kind = kind, .now_ms = W->now, .m = m};
	effects_reset(&W->eff);
	assert_int_equal(W->ops->step(W->core[i], &ev, &W->eff), 0);
	apply_effects(i);
}

static void deliver_bytes(int to, const uint8_t *p, size_t len)
{
	struct msg m;
	assert_int_equal(wire_decode(p, len, CLUSTER, &m), WIRE_OK);
	step(to, EV_MSG, &m);
}

static void deliver(size_t k)
{
	struct packet pk = W->q[k];
	memmove(&W->q[k], &W->q[k + 1], (W->nq - k - 1) * sizeof(pk));
	W->nq--;
	if (!W->dead[pk.to] && !W->dead[pk.from])
		deliver_bytes(pk.to, pk.bytes, pk.len);
	free(pk.bytes);
}

static void deliver_all(void)
{
	while (W->nq > 0)
		deliver(0);
}

static void drop_all(void)
{
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0;
}

static int msg_type(const struct packet *pk)
{
	return pk->bytes[WIRE_OFF_TYPE];
}

static int deliver_one(int type, int from, int to)
{
	for (size_t k = 0; k < W->nq; k++) {
		struct packet *pk = &W->q[k];
		if (msg_type(pk) == type && pk->from == from && pk->to == to) {
			deliver(k);
			return 1;
		}
	}
	return 0;
}

static void deliver_type(int type)
{
	for (size_t k = 0; k < W->nq;) {
		if (msg_type(&W->q[k]) == type)
			deliver(k);
		else
			k++;
	}
}

static size_t queued(int type, int from, int to)
{
	size_t count = 0;
	for (size_t k = 0; k < W->nq; k++)
		count += msg_type(&W->q[k]) == type && (from < 0 || W->q[k].from == from) &&
			 (to < 0 || W->q[k].to == to);
	return count;
}

static void request_len(int to, uint32_t client, uint64_t ts, const char *key, const char *val,
			size_t val_len)
{
	struct buf op, b;
	buf_init(&op);
	buf_init(&b);
	assert_int_equal(kv_op_put(&op, key, strlen(key), val, val_len), 0);
	size_t off = wire_put_request(&b, CLUSTER, client, ts, 0, op.p, (uint32_t)op.len);
	struct auth_ctx client_auth = {.mode = AUTH_MODE_NONE,
				       .n = (uint32_t)W->n,
				       .self_is_client = 1,
				       .self = client};
	assert_int_equal(auth_seal(&client_auth, &b, off), 0);
	if (!W->dead[to])
		deliver_bytes(to, b.p, b.len);
	buf_free(&op);
	buf_free(&b);
}

static void request(int to, uint32_t client, uint64_t ts, const char *key, const char *val)
{
	request_len(to, client, ts, key, val, strlen(val));
}

/* A get flagged read-only (a VR client with leases sends its gets so). */
static void read_get(int to, uint32_t client, uint64_t ts, const char *key)
{
	struct buf op, b;
	buf_init(&op);
	buf_init(&b);
	assert_int_equal(kv_op_get(&op, key, strlen(key)), 0);
	size_t off = wire_put_request(&b, CLUSTER, client, ts, REQ_F_READONLY, op.p,
				      (uint32_t)op.len);
	struct auth_ctx client_auth = {.mode = AUTH_MODE_NONE,
				       .n = (uint32_t)W->n,
				       .self_is_client = 1,
				       .self = client};
	assert_int_equal(auth_seal(&client_auth, &b, off), 0);
	deliver_bytes(to, b.p, b.len);
	buf_free(&op);
	buf_free(&b);
}

/* A client that gave up on the primary: the request goes to every live replica. */
static void request_all(uint32_t client, uint64_t ts, const char *key, const char *val)
{
	for (int i = 0; i < W->n; i++)
		request(i, client, ts, key, val);
}

static struct core_status status_of(int i)
{
	struct core_status st;
	W->ops->status(W->core[i], &st);
	return st;
}

static struct vr *core_of(int i)
{
	return W->core[i];
}

/* Let simulated time pass: fire due timers, then deliver everything. */
static void advance(uint64_t ms)
{
	W->now += ms;
	for (int i = 0; i < W->n; i++)
		if (!W->dead[i] && W->timer[i] && W->timer[i] <= W->now)
			step(i, EV_TICK, NULL);
	deliver_all();
}

static void start_world_cfg(int n, uint32_t window, uint32_t interval, uint32_t batch_max,
			    uint32_t max_clients)
{
	W = calloc(1, sizeof(*W));
	assert_non_null(W);
	W->n = n;
	W->f = (n - 1) / 2;
	W->ops = core_ops_for(PROTO_VR);
	assert_ptr_equal(W->ops, &vr_core_ops);
	W->now = 1000;
	effects_init(&W->eff);
	for (int i = 0; i < n; i++) {
		W->auth[i] = (struct auth_ctx){.mode = AUTH_MODE_NONE,
					       .n = (uint32_t)n,
					       .self = (uint32_t)i};
		W->cfg[i] = (struct core_config){.protocol = PROTO_VR,
						 .n = (uint32_t)n,
						 .f = (uint32_t)W->f,
						 .id = (uint32_t)i,
						 .cluster_id = CLUSTER,
						 .batch_max = batch_max,
						 .window = window,
						 .checkpoint_interval = interval,
						 .view_timeout_ms = TIMEOUT,
						 .max_clients = max_clients,
						 .kv_max_bytes = 4 << 20,
						 .read_lease_ms = setup_lease_ms,
						 .plant_bugs = setup_bugs,
						 .auth = &W->auth[i]};
		W->core[i] = W->ops->create(&W->cfg[i]);
		assert_non_null(W->core[i]);
		step(i, EV_START, NULL);
	}
}

static void start_world(int n, uint32_t window, uint32_t interval)
{
	start_world_cfg(n, window, interval, 8, 16);
}

static int setup3(void **state)
{
	(void)state;
	start_world(3, 16, 4);
	return 0;
}

static int setup5(void **state)
{
	(void)state;
	start_world(5, 16, 4);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < W->n; i++) {
		W->ops->destroy(W->core[i]);
		for (size_t k = 0; k < W->nstore[i]; k++)
			free(W->store[i][k].val);
	}
	drop_all();
	for (size_t k = 0; k < W->nreplies; k++)
		free(W->replies[k].bytes);
	effects_free(&W->eff);
	free(W);
	return 0;
}

static int cmp_record(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Crash replica i and bring it back from what it persisted. */
static void restart(int i)
{
	W->ops->destroy(W->core[i]);
	W->core[i] = W->ops->create(&W->cfg[i]);
	assert_non_null(W->core[i]);
	qsort(W->store[i], W->nstore[i], sizeof(struct record), cmp_record);
	for (size_t k = 0; k < W->nstore[i]; k++) {
		struct record *r = &W->store[i][k];
		assert_int_equal(W->ops->recover(W->core[i], r->kind, r->key, r->val, r->len), 0);
	}
	step(i, EV_START, NULL);
}

static struct msg reply_msg(size_t k)
{
	struct msg m;
	assert_int_equal(wire_decode(W->replies[k].bytes, W->replies[k].len, CLUSTER, &m), WIRE_OK);
	assert_int_equal(m.h.type, MSG_REPLY);
	return m;
}

/* ---- normal case ---- */

/* n = 3: the primary commits with f = 1 PREPARE-OK, not before. */
static void test_commit_needs_f_prepare_oks(void **state)
{
	(void)state;
	request(0, 3, 100, "k", "v");
	assert_int_equal(queued(MSG_VR_PREPARE, 0, -1), 2);
	deliver_type(MSG_VR_PREPARE);
	assert_int_equal(queued(MSG_VR_PREPARE_OK, -1, 0), 2);
	assert_int_equal(status_of(0).last_executed, 0);
	assert_int_equal(W->nreplies, 0);
	assert_int_equal(deliver_one(MSG_VR_PREPARE_OK, 2, 0), 1);
	assert_int_equal(status_of(0).last_executed, 1);
	assert_int_equal(W->nreplies, 1);
	struct msg m = reply_msg(0);
	assert_int_equal(W->replies[0].from, 0);
	assert_int_equal(m.u.rep.client, 3);
	assert_int_equal(m.u.rep.timestamp, 100);
	assert_int_equal(m.u.rep.result[0], KV_OK);
	/* the second ack changes nothing */
	deliver_all();
	assert_int_equal(W->nreplies, 1);
	assert_int_equal(status_of(0).requests_executed, 1);
}

/* n = 5: f = 2 PREPARE-OKs from distinct backups; a repeated ack does not count. */
static void test_commit_quorum_n5(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_VR_PREPARE);
	assert_int_equal(deliver_one(MSG_VR_PREPARE_OK, 1, 0), 1);
	assert_int_equal(status_of(0).last_executed, 0);
	/* backup 1 again (it re-acks a retransmitted PREPARE): still one backup */
	struct vr *b1 = core_of(1);
	assert_int_equal(b1->op, 1);
	for (int i = 0; i < 2; i++) {
		struct buf b;
		buf_init(&b);
		size_t off = wire_begin(&b, MSG_VR_PREPARE_OK, CLUSTER, 1, 0, 1);
		buf_put_u64(&b, 0); /* the lease stamp it echoes */
		wire_finish(&b, off);
		deliver_bytes(0, b.p, b.len);
		buf_free(&b);
	}
	assert_int_equal(status_of(0).last_executed, 0);
	assert_int_equal(deliver_one(MSG_VR_PREPARE_OK, 3, 0), 1);
	assert_int_equal(status_of(0).last_executed, 1);
	assert_int_equal(W->nreplies, 1);
}

/* Only the primary replies; backups execute once they learn the commit-number, by
 * the next PREPARE or by the idle primary's COMMIT. */
static void test_backups_execute_after_commit(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_all();
	assert_int_equal(W->nreplies, 1);
	assert_int_equal(W->replies[0].from, 0);
	for (int i = 1; i < 3; i++)
		assert_int_equal(status_of(i).last_executed, 0);
	/* piggybacked on the next PREPARE */
	request(0, 1, 2, "a", "2");
	deliver_type(MSG_VR_PREPARE);
	for (int i = 1; i < 3; i++)
		assert_int_equal(status_of(i).last_executed, 1);
	deliver_all();
	assert_int_equal(W->nreplies, 2);
	for (size_t k = 0; k < W->nreplies; k++)
		assert_int_equal(W->replies[k].from, 0);
	/* idle: the heartbeat COMMIT tells the rest */
	assert_int_equal(W->sent[MSG_VR_COMMIT], 0);
	advance(TIMEOUT / 2);
	assert_int_equal(W->sent[MSG_VR_COMMIT], 2);
	for (int i = 0; i < 3; i++) {
		struct core_status st = status_of(i);
		assert_int_equal(st.last_executed, 2);
		assert_int_equal(st.requests_executed, 2);
		assert_int_equal(st.view, 0);
		assert_false(st.view_changing);
	}
	assert_int_equal(W->nreplies, 2); /* backups never reply */
	assert_memory_equal(W->executed_digest[1][2], W->executed_digest[0][2], WIRE_DIGEST_LEN);
}

static void test_duplicate_request_executes_once(void **state)
{
	(void)state;
	request(0, 1, 5, "a", "1");
	deliver_all();
	assert_int_equal(W->nreplies, 1);
	request(0, 1, 5, "a", "1"); /* retransmission: answered from the cache */
	deliver_all();
	assert_int_equal(W->nreplies, 2);
	struct msg a = reply_msg(0), b = reply_msg(1);
	assert_int_equal(a.u.rep.result_len, b.u.rep.result_len);
	assert_memory_equal(a.u.rep.result, b.u.rep.result, a.u.rep.result_len);
	assert_int_equal(W->sent[MSG_VR_PREPARE], 2); /* no second op-number */
	request(1, 1, 5, "a", "1");                   /* to a backup: it does not reply */
	request(0, 1, 4, "a", "0");                   /* older: ignored */
	deliver_all();
	assert_int_equal(W->nreplies, 2);
	advance(TIMEOUT / 2);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(status_of(i).last_executed, 1);
		assert_int_equal(status_of(i).requests_executed, 1);
	}
}

/* Message counts per committed request at batch 1 (docs/VR.md): PREPARE n-1,
 * PREPARE-OK n-1, REPLY 1 while busy; the idle primary's COMMIT n-1 per
 * view_timeout_ms/2. */
static void check_counts(void)
{
	uint64_t n = (uint64_t)W->n, ops = 10;
	for (uint64_t t = 1; t <= ops; t++) {
		request(0, 2, t, "k", "v");
		deliver_all();
	}
	assert_int_equal(W->sent[MSG_VR_PREPARE], ops * (n - 1));
	assert_int_equal(W->sent[MSG_VR_PREPARE_OK], ops * (n - 1));
	assert_int_equal(W->sent[MSG_REPLY], ops);
	assert_int_equal(W->sent[MSG_VR_COMMIT], 0);
	uint64_t total = 0;
	for (int t = 0; t <= MSG_TYPE_MAX; t++)
		total += W->sent[t];
	assert_int_equal(total, ops * (2 * n - 1));
	advance(TIMEOUT / 2);
	assert_int_equal(W->sent[MSG_VR_COMMIT], n - 1);
	advance(TIMEOUT / 2);
	assert_int_equal(W->sent[MSG_VR_COMMIT], 2 * (n - 1));
	for (int i = 0; i < W->n; i++)
		assert_int_equal(status_of(i).last_executed, ops);
}

static void test_message_counts_n3(void **state)
{
	(void)state;
	check_counts();
}

static void test_message_counts_n5(void **state)
{
	(void)state;
	check_counts();
}

/* Batching (core_may_start_batch): the first request goes alone; while it is in
 * flight only a full batch (batch_max = 8) may start, so the next 8 go together and
 * the last 5 wait for those to execute, then form one batch. */
static void test_pipeline_batches(void **state)
{
	(void)state;
	for (uint32_t c = 0; c < 14; c++)
		request(0, c, 1, "k", "v");
	assert_int_equal(queued(MSG_VR_PREPARE, 0, 1), 2);
	deliver_all();
	for (int r = 0; r < 3 && W->nq == 0; r++)
		advance(TIMEOUT / 2);
	deliver_all();
	assert_int_equal(status_of(0).requests_executed, 14);
	assert_int_equal(status_of(0).last_executed, 3); /* 1, 8, 5 */
	assert_int_equal(W->nreplies, 14);
}

/* Checkpoints truncate the log: no entry at or below the checkpoint, one snapshot. */
static void test_checkpoint_truncates_log(void **state)
{
	(void)state;
	for (uint64_t t = 1; t <= 10; t++) {
		request(0, 2, t, "k", "v");
		deliver_all();
	}
	advance(TIMEOUT / 2);
	struct core_status s0 = status_of(0);
	assert_int_equal(s0.last_executed, 10);
	assert_int_equal(s0.stable_checkpoint, 8);
	for (int i = 0; i < 3; i++) {
		struct core_status st = status_of(i);
		assert_int_equal(st.stable_checkpoint, 8);
		assert_memory_equal(st.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
		size_t snaps = 0, entries = 0;
		for (size_t k = 0; k < W->nstore[i]; k++) {
			struct record *r = &W->store[i][k];
			if (r->kind == VR_REC_ENTRY) {
				assert_true(r->key > 8);
				entries++;
			}
			if (r->kind == VR_REC_SNAPSHOT) {
				assert_int_equal(r->key, 8);
				snaps++;
			}
		}
		assert_int_equal(snaps, 1);
		assert_int_equal(entries, 2);
	}
}

/* ---- view change ---- */

/* Op 1 is committed with replica 1's ack only; replica 2 never saw it.  The primary
 * dies; the new view (primary 1) must keep op 1, and serve within 2 x the timeout. */
static void test_view_change_keeps_committed(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	assert_int_equal(deliver_one(MSG_VR_PREPARE, 0, 1), 1);
	assert_int_equal(deliver_one(MSG_VR_PREPARE_OK, 1, 0), 1);
	assert_int_equal(W->nreplies, 1); /* acknowledged to the client */
	drop_all();
	W->dead[0] = true;
	uint64_t killed = W->now;
	request_all(2, 1, "b", "2"); /* a client that gave up on replica 0 */
	uint64_t served = 0;
	for (int r = 0; r < 20 && !served; r++) {
		advance(100);
		for (size_t k = 0; k < W->nreplies; k++)
			if (W->replies[k].from == 1 && W->replies[k].client == 2)
				served = W->now;
	}
	assert_true(served > 0);
	assert_true(served - killed <= 2 * TIMEOUT);
	struct core_status s1 = status_of(1);
	assert_int_equal(s1.view, 1);
	assert_int_equal(s1.primary, 1);
	assert_false(s1.view_changing);
	struct msg m = reply_msg(W->nreplies - 1);
	assert_int_equal(m.h.view, 1); /* the client accepts it: sender == view mod n */
	advance(TIMEOUT / 2);
	for (int i = 1; i < 3; i++) {
		struct core_status st = status_of(i);
		assert_int_equal(st.last_executed, 2);
		assert_int_equal(st.requests_executed, 2);
		assert_memory_equal(W->executed_digest[i][1], W->executed_digest[0][1],
				    WIRE_DIGEST_LEN);
	}
	/* the new primary keeps serving */
	request(1, 3, 1, "c", "3");
	deliver_all();
	assert_int_equal(status_of(1).requests_executed, 3);
}

/* An uncommitted op that reached one backup may survive too (it is in the log with
 * the largest op-number); one that reached nobody is lost, and its client retries. */
static void test_view_change_picks_longest_log(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	assert_int_equal(deliver_one(MSG_VR_PREPARE, 0, 2), 1); /* to 2 only, no ack */
	drop_all();
	W->dead[0] = true;
	for (int r = 0; r < 30; r++)
		advance(100);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(status_of(i).view, 1);
		assert_int_equal(status_of(i).last_executed, 1);
	}
	assert_memory_equal(W->executed_digest[1][1], W->executed_digest[2][1], WIRE_DIGEST_LEN);
	/* the new primary replied for it (VRR: it executes and replies) */
	bool replied = false;
	for (size_t k = 0; k < W->nreplies; k++)
		replied |= W->replies[k].from == 1 && W->replies[k].client == 1;
	assert_true(replied);
}

/* Run an internal core function on replica i as if it were a step. */
#define POKE(i, call)                          \
	do {                                   \
		effects_reset(&W->eff);        \
		core_of(i)->now_ms = W->now;   \
		call;                          \
		W->eff.timer_ms = W->timer[i]; \
		apply_effects(i);              \
	} while (0)

/* Found by the simulator: op 1 is committed in view 0 (replica 0 + replica 2's ack).
 * View 3 (primary 0 again) starts with replica 2 missing its START-VIEW; replica 2
 * then hears view 3's heartbeat.  It must not drop op 1 and claim view 3's log: in the
 * next view change (replica 0 dead; 1 never had op 1) its log is the only copy. */
static void test_catch_up_keeps_acked_ops(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	assert_int_equal(deliver_one(MSG_VR_PREPARE, 0, 2), 1);
	assert_int_equal(deliver_one(MSG_VR_PREPARE_OK, 2, 0), 1);
	assert_int_equal(W->nreplies, 1); /* acknowledged */
	drop_all();
	POKE(2, vr_start_view_change(core_of(2), 3, &W->eff));
	POKE(0, vr_start_view_change(core_of(0), 3, &W->eff));
	assert_int_equal(deliver_one(MSG_VR_START_VIEW_CHANGE, 0, 2), 1); /* 2 -> DVC */
	assert_int_equal(deliver_one(MSG_VR_START_VIEW_CHANGE, 2, 0), 1);
	assert_int_equal(deliver_one(MSG_VR_DO_VIEW_CHANGE, 2, 0), 1);
	assert_int_equal(status_of(0).view, 3);
	assert_false(status_of(0).view_changing);
	drop_all(); /* START-VIEW lost: 2 is still changing, 1 still in view 0 */
	assert_true(status_of(2).view_changing);
	W->now += TIMEOUT / 2;
	step(0, EV_TICK, NULL); /* view 3's heartbeat */
	assert_int_equal(deliver_one(MSG_VR_COMMIT, 0, 2), 1);
	assert_int_equal(status_of(2).view, 3);
	assert_true(vr_syncing(core_of(2)));
	assert_int_equal(core_of(2)->op, 1); /* kept */
	assert_int_equal(core_of(2)->last_normal, 0);
	drop_all(); /* its GET-STATE is lost too */
	W->dead[0] = true;
	for (int r = 0; r < 40; r++)
		advance(100);
	for (int i = 1; i < 3; i++) {
		assert_false(status_of(i).view_changing);
		assert_true(status_of(i).view > 3);
		assert_true(status_of(i).last_executed >= 1);
		assert_memory_equal(W->executed_digest[i][1], W->executed_digest[0][1],
				    WIRE_DIGEST_LEN);
	}
}

/* A zombie primary (paused through the view change) is fenced off by the view
 * number, counted in rejected_old_view, and then catches up. */
static void test_zombie_primary(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_all();
	W->dead[0] = true;
	for (int r = 0; r < 30; r++)
		advance(100);
	assert_int_equal(status_of(1).view, 1);
	request(1, 1, 2, "a", "2");
	deliver_all();
	W->dead[0] = false; /* wakes up, still leading view 0 in its mind */
	uint64_t before = status_of(1).rejected_old_view + status_of(2).rejected_old_view;
	step(0, EV_TICK, NULL); /* its heartbeat of view 0 */
	assert_int_equal(queued(MSG_VR_COMMIT, 0, -1), 2);
	deliver_all();
	assert_int_equal(status_of(1).rejected_old_view + status_of(2).rejected_old_view,
			 before + 2);
	/* the heartbeat of view 1 tells it about the new view; it fetches the log */
	for (int r = 0; r < 10; r++)
		advance(100);
	struct core_status s0 = status_of(0);
	assert_int_equal(s0.view, 1);
	assert_false(s0.view_changing);
	assert_int_equal(s0.last_executed, 2);
	assert_memory_equal(W->executed_digest[0][2], W->executed_digest[1][2], WIRE_DIGEST_LEN);
}

/* n = 5 with the primaries of views 0 and 1 dead: the view change to 1 stalls and
 * the next one waits twice as long; once view 2 works the timeout is back to one. */
static void test_timeouts_double_and_reset(void **state)
{
	(void)state;
	W->dead[0] = W->dead[1] = true;
	uint64_t start = W->now;
	while (status_of(2).view < 1)
		advance(10);
	assert_true(status_of(2).view_changing);
	assert_int_equal(W->timer[2], W->now + TIMEOUT);
	uint64_t vc1 = W->now;
	assert_true(vc1 - start <= TIMEOUT + 10);
	while (status_of(2).view < 2)
		advance(10);
	assert_true(W->now - vc1 >= TIMEOUT);
	if (status_of(2).view_changing) {
		assert_true(W->timer[2] >= W->now + 2 * TIMEOUT - 10);
		while (status_of(2).view_changing)
			advance(10);
	}
	for (int i = 2; i < 5; i++) {
		struct core_status st = status_of(i);
		assert_int_equal(st.view, 2);
		assert_false(st.view_changing);
	}
	assert_int_equal(core_of(3)->vc_streak, 0);
	assert_true(W->timer[3] <= W->now + TIMEOUT);
	request(2, 1, 1, "a", "1");
	deliver_all();
	assert_int_equal(status_of(2).requests_executed, 1);
}

/* ---- recovery ---- */

/* A backup restarts from its records: it keeps its log (no state transfer needed)
 * and rejoins. */
static void test_recovered_backup_keeps_log(void **state)
{
	(void)state;
	for (uint64_t t = 1; t <= 6; t++) {
		request(0, 2, t, "k", "v");
		deliver_all();
	}
	/* replica 1 has ops 5 and 6 in its log; it knows commit 5 */
	assert_int_equal(core_of(1)->op, 6);
	struct core_status before = status_of(1);
	restart(1);
	struct vr *r1 = core_of(1);
	assert_int_equal(r1->op, 6);
	assert_int_equal(r1->lo, 4);
	struct core_status after = status_of(1);
	assert_int_equal(after.stable_checkpoint, before.stable_checkpoint);
	assert_memory_equal(after.state_digest, before.state_digest, WIRE_DIGEST_LEN);
	assert_int_equal(after.last_executed, 4); /* commit-number is learnt again */
	assert_int_equal(queued(MSG_VR_RECOVERY, 1, -1), 2);
	deliver_all(); /* RECOVERY-RESPONSE from the primary: commit 6 */
	assert_int_equal(status_of(1).last_executed, 6);
	assert_int_equal(W->sent[MSG_VR_GET_STATE], 0);
	request(0, 2, 7, "k", "w");
	deliver_all();
	advance(TIMEOUT / 2);
	assert_int_equal(status_of(1).last_executed, 7);
	assert_memory_equal(W->executed_digest[1][7], W->executed_digest[0][7], WIRE_DIGEST_LEN);
}

/* The primary crashes after persisting and sending op 1 but before any ack arrived.
 * Restarted, it re-collects the acks (its log is its word) and commits op 1. */
static void test_recovered_primary_commits_its_log(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_VR_PREPARE);
	drop_all(); /* the PREPARE-OKs are lost with the crash */
	restart(0);
	assert_int_equal(core_of(0)->op, 1);
	assert_int_equal(status_of(0).last_executed, 0);
	deliver_all(); /* heartbeat COMMIT(0, op 1) -> backups re-ack */
	assert_int_equal(status_of(0).last_executed, 1);
	assert_int_equal(W->nreplies, 1); /* the client gets its reply */
	assert_int_equal(status_of(0).view, 0);
}

/* A replica restarted in the middle of a view change takes it up again. */
static void test_recovered_mid_view_change(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_all();
	W->dead[0] = true;
	step(2, EV_TICK, NULL); /* 2 starts the view change alone ... */
	W->now += TIMEOUT;
	step(2, EV_TICK, NULL);
	assert_true(status_of(2).view_changing);
	drop_all(); /* ... its START-VIEW-CHANGEs are lost, and it crashes */
	uint64_t v = status_of(2).view;
	restart(2);
	assert_int_equal(status_of(2).view, v);
	assert_true(status_of(2).view_changing);
	for (int r = 0; r < 40; r++)
		advance(100);
	for (int i = 1; i < 3; i++) {
		assert_false(status_of(i).view_changing);
		assert_int_equal(status_of(i).view, status_of(1).view);
		assert_int_equal(status_of(i).last_executed, 1);
	}
}

/* ---- state transfer ---- */

/* A replica cut off for many checkpoints catches up: snapshot, then the log. */
static void test_state_transfer_catches_up(void **state)
{
	(void)state;
	W->dead[2] = true;
	for (uint64_t t = 1; t <= 40; t++) {
		request(0, 2, t, "k", t % 2 ? "odd" : "even");
		deliver_all();
	}
	assert_int_equal(status_of(0).stable_checkpoint, 40);
	assert_int_equal(status_of(2).last_executed, 0);
	W->dead[2] = false;
	request(0, 2, 41, "k", "v");
	deliver_all();
	assert_true(W->sent[MSG_VR_NEW_STATE] >= 2); /* a snapshot chunk, then entries */
	assert_int_equal(core_of(2)->op, 41);
	advance(TIMEOUT / 2);
	struct core_status s0 = status_of(0), s2 = status_of(2);
	assert_int_equal(s2.last_executed, 41);
	assert_int_equal(s2.stable_checkpoint, s0.stable_checkpoint);
	assert_memory_equal(s2.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
	for (uint64_t t = 42; t <= 45; t++) {
		request(0, 2, t, "k", "w");
		deliver_all();
	}
	advance(TIMEOUT / 2);
	s0 = status_of(0);
	s2 = status_of(2);
	assert_int_equal(s2.last_executed, 45);
	assert_int_equal(s2.stable_checkpoint, 44);
	assert_memory_equal(s2.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
	/* and it would be a fine backup: the primary can commit with it alone */
	W->dead[1] = true;
	request(0, 2, 46, "k", "x");
	deliver_all();
	assert_int_equal(status_of(0).last_executed, 46);
}

/* PREPAREs out of order: the backup accepts them in op-number order only, and fetches
 * what it misses instead of leaving a gap. */
static void test_backup_fills_gap(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	for (uint32_t c = 2; c < 10; c++) /* a full batch: it may start while op 1 is open */
		request(0, c, 1, "b", "1");
	assert_int_equal(queued(MSG_VR_PREPARE, 0, 1), 2);
	/* op 2 first */
	size_t k;
	for (k = 0; k < W->nq; k++)
		if (W->q[k].to == 1 && msg_type(&W->q[k]) == MSG_VR_PREPARE &&
		    get_u64(W->q[k].bytes + WIRE_OFF_SEQ) == 2)
			break;
	assert_true(k < W->nq);
	deliver(k);
	assert_int_equal(core_of(1)->op, 0);
	assert_int_equal(queued(MSG_VR_PREPARE_OK, 1, 0), 0);
	assert_int_equal(queued(MSG_VR_GET_STATE, 1, 0), 1);
	deliver_all();
	assert_int_equal(core_of(1)->op, 2);
	assert_int_equal(status_of(0).last_executed, 2);
}

/* Large requests: batches stay within VR_BATCH_BYTES, the primary's log within
 * VR_LOG_BUDGET, and a checkpoint comes after VR_CKPT_BYTES of executed batches, long
 * before checkpoint_interval (so a view change's log section stays small). */
static int setup_big(void **state)
{
	(void)state;
	start_world_cfg(3, 256, 128, 64, 200);
	return 0;
}

static void test_byte_bounds(void **state)
{
	(void)state;
	static char val[7900];
	memset(val, 'x', sizeof(val));
	uint64_t ts = 1;
	for (int round = 0; round < 4; round++, ts++) {
		for (uint32_t c = 0; c < 200; c++)
			request_len(0, c, ts, "big", val, sizeof(val));
		while (W->nq > 0) {
			for (size_t k = 0; k < W->nq; k++)
				if (msg_type(&W->q[k]) == MSG_VR_PREPARE)
					assert_true(W->q[k].len <=
						    WIRE_HDR_LEN + 8 + VR_BATCH_BYTES);
			assert_true(core_of(0)->log_bytes <= VR_LOG_BUDGET);
			deliver(0);
		}
	}
	advance(TIMEOUT / 2);
	struct core_status s0 = status_of(0);
	assert_int_equal(s0.requests_executed, 800);
	assert_true(s0.last_executed < 128);
	assert_true(s0.stable_checkpoint > 0); /* by bytes */
	for (int i = 0; i < 3; i++) {
		struct core_status st = status_of(i);
		assert_int_equal(st.last_executed, s0.last_executed);
		assert_int_equal(st.stable_checkpoint, s0.stable_checkpoint);
		assert_memory_equal(st.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
		assert_true(core_of(i)->log_bytes < VR_CKPT_BYTES + VR_BATCH_BYTES);
	}
	/* and a view change with such a log goes through */
	W->dead[0] = true;
	for (int r = 0; r < 30; r++)
		advance(100);
	assert_int_equal(status_of(1).view, 1);
	assert_false(status_of(1).view_changing);
	request_len(1, 7, ts, "big", val, sizeof(val));
	deliver_all();
	assert_int_equal(status_of(1).requests_executed, 801);
}

/* ---- codec ---- */

static int decode_body(uint8_t type, uint64_t seq, const uint8_t *body, size_t len)
{
	struct buf b;
	struct msg m;
	buf_init(&b);
	size_t off = wire_begin(&b, type, CLUSTER, 1, 3, seq);
	buf_put(&b, body, len);
	wire_finish(&b, off);
	int rc = wire_decode(b.p, b.len, CLUSTER, &m);
	buf_free(&b);
	return rc;
}

static size_t put_batch(uint8_t *out)
{
	struct buf b, op;
	buf_init(&b);
	buf_init(&op);
	assert_int_equal(kv_op_put(&op, "k", 1, "v", 1), 0);
	wire_put_request(&b, CLUSTER, 1, 1, 0, op.p, (uint32_t)op.len);
	set_u16(out, 1);
	set_u32(out + 2, (uint32_t)b.len);
	memcpy(out + 6, b.p, b.len);
	size_t len = 6 + b.len;
	buf_free(&b);
	buf_free(&op);
	return len;
}

static void test_codec_bounds(void **state)
{
	(void)state;
	uint8_t body[512], batch[256];
	size_t blen = put_batch(batch);
	/* PREPARE: commit | batch */
	set_u64(body, 0);
	memcpy(body + 8, batch, blen);
	assert_int_equal(decode_body(MSG_VR_PREPARE, 1, body, 8 + blen), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_PREPARE, 1, body, 8 + blen - 1), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_PREPARE, 1, body, 7), WIRE_OK);
	/* START-VIEW-CHANGE is empty; PREPARE-OK carries the lease stamp it echoes,
	 * COMMIT the op-number and the primary's stamp */
	assert_int_equal(decode_body(MSG_VR_START_VIEW_CHANGE, 1, body, 0), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_START_VIEW_CHANGE, 1, body, 1), WIRE_OK);
	assert_int_equal(decode_body(MSG_VR_PREPARE_OK, 1, body, 8), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_PREPARE_OK, 1, body, 0), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_PREPARE_OK, 1, body, 9), WIRE_OK);
	assert_int_equal(decode_body(MSG_VR_COMMIT, 1, body, 16), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_COMMIT, 1, body, 8), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_COMMIT, 1, body, 17), WIRE_OK);
	/* START-VIEW: commit | lo | n | (view | len | batch); lo + n must be seq */
	size_t at = 0;
	set_u64(body, 1);
	set_u64(body + 8, 4);
	set_u32(body + 16, 1);
	at = 20;
	set_u64(body + at, 0);
	set_u32(body + at + 8, (uint32_t)blen);
	memcpy(body + at + 12, batch, blen);
	at += 12 + blen;
	assert_int_equal(decode_body(MSG_VR_START_VIEW, 5, body, at), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_START_VIEW, 6, body, at), WIRE_OK);
	assert_int_not_equal(decode_body(MSG_VR_START_VIEW, 5, body, at - 1), WIRE_OK);
	set_u32(body + 16, 2); /* claims two entries, has one */
	assert_int_not_equal(decode_body(MSG_VR_START_VIEW, 6, body, at), WIRE_OK);
	set_u32(body + 16, 0xffffffffu); /* absurd count */
	assert_int_not_equal(decode_body(MSG_VR_START_VIEW, 5, body, at), WIRE_OK);
	set_u32(body + 16, 1);
	set_u32(body + 20 + 8, (uint32_t)blen + 100); /* entry longer than the body */
	assert_int_not_equal(decode_body(MSG_VR_START_VIEW, 5, body, at), WIRE_OK);
	/* NEW-STATE: chunk bounds */
	memset(body, 0, 64);
	set_u64(body + 8, 4);   /* ckpt */
	set_u64(body + 16, 10); /* total */
	set_u64(body + 24, 8);  /* offset */
	set_u32(body + 32, 2);  /* len */
	set_u64(body + 38, 4);  /* section lo */
	set_u32(body + 46, 0);
	assert_int_equal(decode_body(MSG_VR_NEW_STATE, 4, body, 50), WIRE_OK);
	set_u32(body + 32, 3); /* past total */
	assert_int_not_equal(decode_body(MSG_VR_NEW_STATE, 4, body, 51), WIRE_OK);
	/* RECOVERY-RESPONSE: status 0 or 1 only */
	memset(body, 0, 17);
	assert_int_equal(decode_body(MSG_VR_RECOVERY_RESPONSE, 0, body, 17), WIRE_OK);
	body[16] = 2;
	assert_int_not_equal(decode_body(MSG_VR_RECOVERY_RESPONSE, 0, body, 17), WIRE_OK);
	/* every length prefix of a valid DO-VIEW-CHANGE but the whole is refused */
	set_u64(body, 0);
	set_u64(body + 8, 0);
	set_u64(body + 16, 0);
	set_u32(body + 24, 1);
	set_u64(body + 28, 0);
	set_u32(body + 36, (uint32_t)blen);
	memcpy(body + 40, batch, blen);
	size_t dlen = 40 + blen;
	assert_int_equal(decode_body(MSG_VR_DO_VIEW_CHANGE, 1, body, dlen), WIRE_OK);
	for (size_t l = 0; l < dlen; l++)
		assert_int_not_equal(decode_body(MSG_VR_DO_VIEW_CHANGE, 1, body, l), WIRE_OK);
}

/* Random bytes after a valid header never crash the decoder (ASan watches). */
static void test_codec_garbage(void **state)
{
	(void)state;
	uint8_t body[300];
	uint64_t x = 88172645463325252ull;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(round % 300);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			body[i] = (uint8_t)(round % 3 ? x : x % 4);
		}
		uint8_t type = (uint8_t)(MSG_VR_PREPARE + round % 10);
		(void)decode_body(type, x % 8, body, len);
	}
}

/* ---- leader leases (docs/VR.md "Leader leases") ---- */

#define LEASE 400 /* read_lease_ms; the primary trusts LEASE * 88 / 112 of its clock */

static int setup3_lease(void **state)
{
	(void)state;
	setup_lease_ms = LEASE;
	start_world(3, 16, 4);
	setup_lease_ms = 0;
	return 0;
}

static int setup3_lease_no_wait(void **state)
{
	(void)state;
	setup_lease_ms = LEASE;
	setup_bugs = VR_BUG_LEASE_NO_WAIT;
	start_world(3, 16, 4);
	setup_lease_ms = setup_bugs = 0;
	return 0;
}

/* When the old primary's lease ends on its clock: the oldest of the f newest stamps
 * its backups echoed, plus the length it trusts (0: it holds no lease). */
static uint64_t lease_end(int i)
{
	const struct vr *p = core_of(i);
	uint64_t best[2] = {0, 0}; /* n = 3, f = 1: the newest echo */
	for (int j = 0; j < W->n; j++)
		if (p->lease_from[j] > best[0])
			best[0] = p->lease_from[j];
	(void)best[1];
	return best[0] ? best[0] - 1 + (uint64_t)LEASE * 88 / 112 : 0;
}

/* The primary answers a read alone (no PREPARE) while f backups' echoes keep its lease;
 * once they fall silent and the lease runs out, a read goes through the log.
 * Without the lease's time check the second read is answered alone: this fails. */
static void test_lease_read_alone_while_it_holds(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_all();
	assert_int_equal(W->nreplies, 1);
	advance(LEASE / 4); /* the first stamped COMMIT, echoed by both backups */
	assert_true(lease_end(0) > W->now);
	size_t prepares = W->sent[MSG_VR_PREPARE];
	read_get(0, 2, 1, "a");
	assert_int_equal(W->nreplies, 2);                    /* at once, */
	assert_int_equal(W->sent[MSG_VR_PREPARE], prepares); /* alone */
	struct msg m = reply_msg(1);
	assert_int_equal(m.u.rep.result[0], KV_OK);
	assert_int_equal(status_of(0).requests_readonly, 1);
	/* the backups fall silent: heartbeats go on, echoes stop, the lease runs out */
	W->dead[1] = W->dead[2] = true;
	while (W->now <= lease_end(0))
		advance(50);
	read_get(0, 3, 1, "a");
	assert_int_equal(W->nreplies, 2);                   /* not answered alone ... */
	assert_int_equal(queued(MSG_VR_PREPARE, 0, -1), 2); /* ... but ordered */
	assert_int_equal(status_of(0).requests_readonly, 1);
}

/* read_lease_ms = 0: a get flagged read-only goes through the log like any request. */
static void test_no_lease_reads_are_ordered(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_all();
	advance(TIMEOUT / 2);
	read_get(0, 2, 1, "a");
	assert_int_equal(W->nreplies, 1);
	assert_int_equal(queued(MSG_VR_PREPARE, 0, -1), 2);
	deliver_all();
	assert_int_equal(W->nreplies, 2);
	assert_int_equal(status_of(0).requests_readonly, 0);
}

/* Kill the leasing primary and run the view change; returns when START-VIEW left
 * (its time in *start_view) and the time view 1 began at the new primary in *began. */
static void depose_primary(uint64_t *began, uint64_t *start_view)
{
	request(0, 1, 1, "a", "1");
	deliver_all();
	advance(LEASE / 4);
	assert_true(lease_end(0) > W->now);
	W->dead[0] = true;
	*began = 0;
	while (W->sent[MSG_VR_START_VIEW] == 0) {
		advance(5);
		if (!*began && status_of(1).view == 1)
			*began = W->now;
		if (W->sent[MSG_VR_START_VIEW] == 0 && status_of(1).view == 1) {
			read_get(1, 2, 10 + W->now, "a"); /* nothing before the view starts */
			assert_int_equal(status_of(1).requests_readonly, 0);
		}
		assert_true(W->now < 100000);
	}
	*start_view = W->now;
}

/* A new primary starts its view (START-VIEW: no write commits, no read is answered
 * before) only read_lease_ms after the view change began at it, so after the deposed
 * primary's lease ended.  With the wait removed (the planted bug below) it fails. */
static void test_new_primary_waits_the_lease_out(void **state)
{
	(void)state;
	uint64_t began, start_view;
	depose_primary(&began, &start_view);
	assert_true(start_view >= began + LEASE);
	assert_true(start_view > lease_end(0));
	assert_int_equal(status_of(1).view, 1);
	assert_false(status_of(1).view_changing);
	/* the new primary's own lease: reads alone again once backups echo its stamps */
	for (int r = 0; r < 4; r++)
		advance(LEASE / 4);
	size_t before = W->nreplies;
	read_get(1, 3, 1, "a");
	assert_int_equal(W->nreplies, before + 1);
	assert_int_equal(status_of(1).requests_readonly, 1);
}

/* The planted bug lease-no-wait (simulator: --plant-bug lease-no-wait) starts view 1
 * while the deposed primary's lease still holds: the test above would fail on it. */
static void test_planted_no_wait_starts_inside_the_lease(void **state)
{
	(void)state;
	uint64_t began, start_view;
	depose_primary(&began, &start_view);
	assert_true(start_view < began + LEASE);
	assert_true(start_view <= lease_end(0) + TIMEOUT); /* within a timeout, not a lease */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_needs_f_prepare_oks, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_commit_quorum_n5, setup5, teardown),
		cmocka_unit_test_setup_teardown(test_backups_execute_after_commit, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_request_executes_once, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_message_counts_n3, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_message_counts_n5, setup5, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_batches, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_truncates_log, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_view_change_keeps_committed, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_view_change_picks_longest_log, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_keeps_acked_ops, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_zombie_primary, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts_double_and_reset, setup5, teardown),
		cmocka_unit_test_setup_teardown(test_recovered_backup_keeps_log, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_recovered_primary_commits_its_log, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_recovered_mid_view_change, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_state_transfer_catches_up, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_backup_fills_gap, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_byte_bounds, setup_big, teardown),
		cmocka_unit_test_setup_teardown(test_lease_read_alone_while_it_holds, setup3_lease,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_lease_reads_are_ordered, setup3, teardown),
		cmocka_unit_test_setup_teardown(test_new_primary_waits_the_lease_out, setup3_lease,
						teardown),
		cmocka_unit_test_setup_teardown(test_planted_no_wait_starts_inside_the_lease,
						setup3_lease_no_wait, teardown),
		cmocka_unit_test(test_codec_bounds),
		cmocka_unit_test(test_codec_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
