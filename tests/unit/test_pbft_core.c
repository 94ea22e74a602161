/* test_pbft_core.c - four PBFT cores wired by the test itself; messages are passed
 * by hand, so each quorum rule can be probed one message at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replica/core/core.h"
#include "replica/core/pbft.h"
#include "replica/kv.h"

#define N 4
#define F 1
#define CLUSTER 7
#define MAXQ 100000

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
	const struct core_ops *ops;
	struct core_config cfg[N];
	struct auth_ctx auth[N];
	void *core[N];
	struct effects eff;
	struct packet q[MAXQ];
	size_t nq;
	struct packet replies[MAXQ];
	size_t nreplies;
	struct record store[N][4096];
	size_t nstore[N];
	uint64_t executed_seqs[N];
	uint8_t executed_digest[N][64][WIRE_DIGEST_LEN]; /* digest executed at seq < 64 */
	uint64_t timer[N];
	uint64_t sent;           /* messages sent by replicas, one per destination */
	uint64_t status_sent[N]; /* PEER_STATUS messages sent, per sender and destination */
	bool dead[N];            /* crashed/partitioned: hears nothing, says nothing */
	bool mute_view0[N];      /* its view-0 PREPAREs and COMMITs are lost */
	uint64_t now;
};

static struct world *W;
static int g_read_only; /* core_config.read_only of the next start_world() */

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
	assert_true(*n < 4096);
	r[*n] = (struct record){.kind = ps->kind,
				.key = ps->key,
				.len = ps->len,
				.val = malloc(ps->len ? ps->len : 1)};
	memcpy(r[*n].val, arena + ps->off, ps->len);
	(*n)++;
}

static void enqueue(int from, int to, uint32_t client, const uint8_t *p, size_t len)
{
	W->sent++;
	if (from >= 0 && from < N && len > WIRE_OFF_TYPE && p[WIRE_OFF_TYPE] == MSG_PEER_STATUS)
		W->status_sent[from]++;
	struct packet *q = to >= 0 ? &W->q[W->nq++] : &W->replies[W->nreplies++];
	assert_true(W->nq < MAXQ && W->nreplies < MAXQ);
	*q = (struct packet){
		.from = from, .to = to, .client = client, .len = len, .bytes = malloc(len)};
	memcpy(q->bytes, p, len);
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
		if (s->to == TO_CLIENT)
			enqueue(i, -1, s->client, p, s->len);
		else if (s->to == TO_OTHERS)
			for (int j = 0; j < N; j++) {
				if (j != i)
					enqueue(i, j, 0, p, s->len);
			}
		else
			enqueue(i, s->to, 0, p, s->len);
	}
	for (size_t k = 0; k < e->n_execs; k++) {
		W->executed_seqs[i] = e->execs[k].seq;
		if (e->execs[k].seq < 64)
			memcpy(W->executed_digest[i][e->execs[k].seq], e->execs[k].digest,
			       WIRE_DIGEST_LEN);
	}
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

/* Deliver queued packet k and remove it from the queue. */
static void deliver(size_t k)
{
	struct packet pk = W->q[k];
	memmove(&W->q[k], &W->q[k + 1], (W->nq - k - 1) * sizeof(pk));
	W->nq--;
	int type = pk.bytes[WIRE_OFF_TYPE];
	bool muted = W->mute_view0[pk.from] && get_u64(pk.bytes + WIRE_OFF_VIEW) == 0 &&
		     (type == MSG_PREPARE || type == MSG_COMMIT);
	if (!W->dead[pk.to] && !W->dead[pk.from] && !muted)
		deliver_bytes(pk.to, pk.bytes, pk.len);
	free(pk.bytes);
}

static void deliver_all(void)
{
	while (W->nq > 0)
		deliver(0);
}

static int msg_type(const struct packet *pk)
{
	return pk->bytes[WIRE_OFF_TYPE];
}

/* Deliver the first queued packet of `type` from `from` to `to`; 0 if none. */
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

static void request(int to, uint32_t client, uint64_t ts, const char *key, const char *val)
{
	struct buf op, b;
	buf_init(&op);
	buf_init(&b);
	assert_int_equal(kv_op_put(&op, key, strlen(key), val, strlen(val)), 0);
	size_t off = wire_put_request(&b, CLUSTER, client, ts, 0, op.p, (uint32_t)op.len);
	struct auth_ctx client_auth = {.mode = AUTH_MODE_NONE,
				       .n = N,
				       .self_is_client = 1,
				       .self = client};
	assert_int_equal(auth_seal(&client_auth, &b, off), 0);
	deliver_bytes(to, b.p, b.len);
	buf_free(&op);
	buf_free(&b);
}

/* A request with an arbitrary op and flags, delivered to replica `to`. */
static void request_op(int to, uint32_t client, uint64_t ts, uint8_t flags, const struct buf *op)
{
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_request(&b, CLUSTER, client, ts, flags, op->p, (uint32_t)op->len);
	struct auth_ctx client_auth = {.mode = AUTH_MODE_NONE,
				       .n = N,
				       .self_is_client = 1,
				       .self = client};
	assert_int_equal(auth_seal(&client_auth, &b, off), 0);
	deliver_bytes(to, b.p, b.len);
	buf_free(&b);
}

static struct core_status status_of(int i)
{
	struct core_status st;
	W->ops->status(W->core[i], &st);
	return st;
}

/* Deliver everything, except what hold() keeps queued and what drop() says is lost
 * (either may be NULL). */
static void deliver_all_holding(bool (*hold)(const struct packet *pk),
				bool (*drop)(const struct packet *pk))
{
	size_t k = 0;
	while (k < W->nq) {
		if (hold && hold(&W->q[k])) {
			k++;
		} else if (drop && drop(&W->q[k])) {
			free(W->q[k].bytes);
			memmove(&W->q[k], &W->q[k + 1], (W->nq - k - 1) * sizeof(W->q[0]));
			W->nq--;
		} else {
			deliver(k);
		}
	}
}

static void deliver_all_dropping(bool (*drop)(const struct packet *pk))
{
	deliver_all_holding(NULL, drop);
}

static bool normal_case_to_3(const struct packet *pk)
{
	int type = msg_type(pk);
	return pk->to == 3 && (type == MSG_PREPREPARE || type == MSG_PREPARE || type == MSG_COMMIT);
}

static bool state_transfer(const struct packet *pk)
{
	return msg_type(pk) == MSG_FETCH_STATE || msg_type(pk) == MSG_STATE;
}

static bool anything_to_3_and_state_transfer(const struct packet *pk)
{
	return pk->to == 3 || state_transfer(pk);
}

static bool state_reply(const struct packet *pk)
{
	return msg_type(pk) == MSG_STATE;
}

static bool anything_to_3(const struct packet *pk)
{
	return pk->to == 3;
}

static bool to_3_up_to_seq_4(const struct packet *pk)
{
	return pk->to == 3 && get_u64(pk->bytes + WIRE_OFF_SEQ) <= 4;
}

static bool to_3_above_seq_4(const struct packet *pk)
{
	return pk->to == 3 && get_u64(pk->bytes + WIRE_OFF_SEQ) > 4;
}

/* PUTs with timestamps first..last from client 2 to the primary, each delivered but
 * for what hold() leaves waiting in the network and drop() loses (NULL: none). */
static void puts_holding(uint64_t first, uint64_t last, bool (*hold)(const struct packet *),
			 bool (*drop)(const struct packet *))
{
	for (uint64_t t = first; t <= last; t++) {
		request(0, 2, t, "k", "v");
		if (hold || drop)
			deliver_all_holding(hold, drop);
		else
			deliver_all();
	}
}

static void puts_from_client_2(uint64_t first, uint64_t last, bool (*drop)(const struct packet *))
{
	puts_holding(first, last, NULL, drop);
}

/* Replica 3 is down for PUTs 1..last, then back. */
static void replica_3_misses_puts(uint64_t last)
{
	W->dead[3] = true;
	puts_from_client_2(1, last, NULL);
	W->dead[3] = false;
}

/* Replica i executed up to seq, which is its stable checkpoint, with replica 0's state. */
static void assert_caught_up(int i, uint64_t seq)
{
	struct core_status si = status_of(i), s0 = status_of(0);
	assert_int_equal(si.last_executed, seq);
	assert_int_equal(si.stable_checkpoint, seq);
	assert_memory_equal(si.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
}

static void *make_core(int i)
{
	return W->ops->create(&W->cfg[i]);
}

static void start_world(uint32_t window, uint32_t interval)
{
	W = calloc(1, sizeof(*W));
	W->ops = &pbft_core_ops;
	effects_init(&W->eff);
	for (int i = 0; i < N; i++) {
		W->auth[i] = (struct auth_ctx){.mode = AUTH_MODE_NONE, .n = N, .self = (uint32_t)i};
		W->cfg[i] = (struct core_config){.protocol = PROTO_PBFT,
						 .n = N,
						 .f = F,
						 .id = (uint32_t)i,
						 .cluster_id = CLUSTER,
						 .batch_max = 8,
						 .window = window,
						 .checkpoint_interval = interval,
						 .view_timeout_ms = 1000,
						 .max_clients = 16,
						 .kv_max_bytes = 1 << 20,
						 .read_only = g_read_only,
						 .auth = &W->auth[i]};
		W->core[i] = make_core(i);
		assert_non_null(W->core[i]);
		step(i, EV_START, NULL);
	}
}

static int setup(void **state)
{
	(void)state;
	start_world(16, 4);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++) {
		W->ops->destroy(W->core[i]);
		for (size_t k = 0; k < W->nstore[i]; k++)
			free(W->store[i][k].val);
	}
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	for (size_t k = 0; k < W->nreplies; k++)
		free(W->replies[k].bytes);
	effects_free(&W->eff);
	free(W);
	return 0;
}

static void test_request_commits_everywhere(void **state)
{
	(void)state;
	request(0, 3, 100, "k", "v");
	deliver_all();
	for (int i = 0; i < N; i++)
		assert_int_equal(status_of(i).last_executed, 1);
	assert_int_equal(W->nreplies, N); /* every replica replies to the client */
	for (size_t k = 0; k < W->nreplies; k++) {
		struct msg m;
		assert_int_equal(wire_decode(W->replies[k].bytes, W->replies[k].len, CLUSTER, &m),
				 WIRE_OK);
		assert_int_equal(m.h.type, MSG_REPLY);
		assert_int_equal(m.u.rep.client, 3);
		assert_int_equal(m.u.rep.timestamp, 100);
		assert_int_equal(m.u.rep.result[0], KV_OK);
	}
}

/* §4.2: committed-local needs 2f+1 matching commits; 2f must not be enough. */
static void test_commit_needs_2f_plus_1(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_PREPREPARE);
	deliver_type(MSG_PREPARE);
	/* Every replica is prepared and has sent its COMMIT; replica 3 holds its own.
	 * Give it one more (2f = 2 in total): still not committed. */
	assert_int_equal(deliver_one(MSG_COMMIT, 1, 3), 1);
	assert_int_equal(status_of(3).last_executed, 0);
	/* The third matching commit (2f+1) commits and executes. */
	assert_int_equal(deliver_one(MSG_COMMIT, 2, 3), 1);
	assert_int_equal(status_of(3).last_executed, 1);
}

/* prepared needs 2f matching prepares: with fewer, no COMMIT is sent. */
static void test_prepare_quorum(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_PREPREPARE);
	/* Replica 3 has the pre-prepare and its own prepare: 1 of 2f. */
	size_t before = W->nq;
	assert_int_equal(deliver_one(MSG_PREPARE, 1, 3), 1); /* 2 of 2f: prepared */
	bool commit_sent = false;
	for (size_t k = 0; k < W->nq; k++)
		commit_sent |= msg_type(&W->q[k]) == MSG_COMMIT && W->q[k].from == 3;
	assert_true(commit_sent);
	(void)before;
}

static void test_preprepare_from_backup_rejected(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	uint8_t *reqs[1] = {0};
	uint32_t lens[1] = {0};
	size_t off = wire_put_preprepare(&b, CLUSTER, 2, 0, 1, 0, (const uint8_t *const *)reqs,
					 lens);
	assert_int_equal(auth_seal(&W->auth[2], &b, off), 0);
	deliver_bytes(1, b.p, b.len);
	assert_int_equal(status_of(1).rejected_conflict, 1);
	assert_int_equal(W->nq, 0); /* no PREPARE for it */
	buf_free(&b);
}

static void test_preprepare_out_of_window_rejected(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_preprepare(&b, CLUSTER, 0, 0, 17 /* window is 16 */, 0, NULL, NULL);
	assert_int_equal(auth_seal(&W->auth[0], &b, off), 0);
	deliver_bytes(1, b.p, b.len);
	assert_int_equal(status_of(1).rejected_out_of_window, 1);
	assert_int_equal(W->nq, 0);
	buf_free(&b);
}

/* A second, different pre-prepare for (view 0, seq 1) - an empty batch - sealed by
 * primary 0 as a lying primary would, delivered to replica `to`. */
static void deliver_other_preprepare(int to)
{
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_preprepare(&b, CLUSTER, 0, 0, 1, 0, NULL, NULL);
	assert_int_equal(auth_seal(&W->auth[0], &b, off), 0);
	deliver_bytes(to, b.p, b.len);
	buf_free(&b);
}

static void test_equivocation_detected(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_PREPREPARE);
	deliver_other_preprepare(2);
	assert_int_equal(status_of(2).rejected_conflict, 1);
	deliver_all();
	for (int i = 0; i < N; i++)
		assert_int_equal(status_of(i).last_executed, 1);
}

static void test_retransmission_executes_once(void **state)
{
	(void)state;
	request(0, 1, 5, "a", "1");
	deliver_all();
	size_t replies = W->nreplies;
	request(0, 1, 5, "a", "1"); /* same timestamp: answered from the cache */
	deliver_all();
	assert_int_equal(W->nreplies, replies + 1);
	for (int i = 0; i < N; i++) {
		assert_int_equal(status_of(i).last_executed, 1);
		assert_int_equal(status_of(i).requests_executed, 1);
	}
	request(0, 1, 4, "a", "2"); /* older timestamp: ignored */
	deliver_all();
	assert_int_equal(W->nreplies, replies + 1);
	assert_int_equal(status_of(0).last_executed, 1);
}

static void test_checkpoints_become_stable(void **state)
{
	(void)state;
	puts_from_client_2(1, 10, NULL);
	struct core_status s0 = status_of(0);
	assert_int_equal(s0.last_executed, 10);
	assert_int_equal(s0.stable_checkpoint, 8);
	for (int i = 1; i < N; i++) {
		struct core_status si = status_of(i);
		assert_int_equal(si.stable_checkpoint, 8);
		assert_memory_equal(si.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
	}
	/* Garbage collection: no log record at or below the stable checkpoint remains. */
	for (size_t k = 0; k < W->nstore[1]; k++) {
		struct record *r = &W->store[1][k];
		if (r->kind == REC_PREPREPARE || r->kind == REC_COMMITTED)
			assert_true(r->key > 8);
	}
}

/* The window bounds the primary: it cannot run past low + window. */
static void test_window_blocks_primary(void **state)
{
	(void)state;
	/* Backups never answer: the primary may assign at most PBFT_PIPELINE numbers. */
	for (uint64_t c = 0; c < 10; c++)
		request(0, (uint32_t)c, 1, "k", "v");
	size_t pps = 0;
	for (size_t k = 0; k < W->nq; k++)
		pps += msg_type(&W->q[k]) == MSG_PREPREPARE && W->q[k].to == 1;
	assert_true(pps <= PBFT_PIPELINE);
	deliver_all();
	for (int i = 0; i < N; i++)
		assert_int_equal(status_of(i).requests_executed, 10);
}

/* Batches grow with load (core_may_start_batch): with one batch in flight, the
 * primary starts another only when batch_max (8) requests wait, so 10 requests
 * arriving together go as 1, 8 and then 1, not as four small batches. */
static void test_batches_grow_with_load(void **state)
{
	(void)state;
	for (uint64_t c = 0; c < 10; c++)
		request(0, (uint32_t)c, 1, "k", "v");
	size_t pps = 0;
	for (size_t k = 0; k < W->nq; k++)
		pps += msg_type(&W->q[k]) == MSG_PREPREPARE && W->q[k].to == 1;
	assert_int_equal(pps, 2);
	deliver_all();
	for (int i = 0; i < N; i++) {
		assert_int_equal(status_of(i).requests_executed, 10);
		assert_int_equal(status_of(i).last_executed, 3);
	}
}

static void test_batch_rule(void **state)
{
	(void)state;
	assert_false(core_may_start_batch(0, 0, 8, 4)); /* nothing to send */
	assert_true(core_may_start_batch(1, 0, 8, 4));  /* idle: at once */
	assert_false(core_may_start_batch(7, 1, 8, 4)); /* busy: wait for a full batch */
	assert_true(core_may_start_batch(8, 3, 8, 4));
	assert_false(core_may_start_batch(99, 4, 8, 4)); /* the pipeline is full */
	assert_false(core_may_start_batch(CORE_PIPELINED_BATCH_MIN - 1, 1, 128, 4));
	assert_true(core_may_start_batch(CORE_PIPELINED_BATCH_MIN, 1, 128, 4));
	assert_true(core_may_start_batch(1, 2, 1, 4)); /* batch_max 1 still pipelines */
}

static int cmp_record(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Replica i restarts: a new core recovers from its records in the store. */
static void restart_from_log(int i)
{
	W->ops->destroy(W->core[i]);
	W->core[i] = make_core(i);
	qsort(W->store[i], W->nstore[i], sizeof(struct record), cmp_record);
	for (size_t k = 0; k < W->nstore[i]; k++) {
		struct record *r = &W->store[i][k];
		assert_int_equal(W->ops->recover(W->core[i], r->kind, r->key, r->val, r->len), 0);
	}
	step(i, EV_START, NULL);
}

static void test_recovery_from_log(void **state)
{
	(void)state;
	puts_from_client_2(1, 6, NULL);
	struct core_status before = status_of(2);
	restart_from_log(2);
	struct core_status after = status_of(2);
	assert_int_equal(after.last_executed, before.last_executed);
	assert_int_equal(after.stable_checkpoint, before.stable_checkpoint);
	assert_memory_equal(after.state_digest, before.state_digest, WIRE_DIGEST_LEN);
	/* It keeps serving, and the cached reply survived the restart. */
	size_t replies = W->nreplies;
	request(2, 2, 6, "k", "v");
	assert_int_equal(W->nreplies, replies + 1);
	request(0, 2, 7, "k", "w");
	deliver_all();
	assert_int_equal(status_of(2).last_executed, 7);
}

/* A restarted backup must not accept a different batch for a number it prepared. */
static void test_recovered_backup_keeps_its_word(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_PREPREPARE);
	restart_from_log(1);
	deliver_other_preprepare(1);
	assert_int_equal(status_of(1).rejected_conflict, 1);
}

/* A replica restarted in the middle of a view change says its VIEW-CHANGE again: it is
 * not in the log, and the others may need it for their 2f+1 (if the first copy was
 * lost, nothing else would ever send it, and a cluster whose correct replicas are
 * split across two views waited for it for good: byzlab-sim --f 2 --seed 417 ...). */
static void test_restart_mid_view_change_says_it_again(void **state)
{
	(void)state;
	request(3, 2, 1, "k", "v"); /* the client gave up on the primary */
	W->now += 10 * W->cfg[3].view_timeout_ms;
	step(3, EV_TICK, NULL); /* replica 3's timer: VIEW-CHANGE(1) */
	assert_true(status_of(3).view_changing);
	for (size_t k = 0; k < W->nq; k++) /* ... which is lost */
		free(W->q[k].bytes);
	W->nq = 0;
	restart_from_log(3);
	assert_true(status_of(3).view_changing);
	size_t vcs = 0;
	for (size_t k = 0; k < W->nq; k++)
		if (msg_type(&W->q[k]) == MSG_VIEWCHANGE && W->q[k].from == 3 &&
		    get_u64(W->q[k].bytes + WIRE_OFF_VIEW) == 1)
			vcs++;
	assert_int_equal(vcs, N - 1);
}

/* Let simulated time pass: fire due timers, then deliver everything. */
static void advance(uint64_t ms)
{
	W->now += ms;
	for (int i = 0; i < N; i++)
		if (!W->dead[i] && W->timer[i] && W->timer[i] <= W->now)
			step(i, EV_TICK, NULL);
	deliver_all();
}

static void run_until_quiet(int rounds)
{
	for (int r = 0; r < rounds; r++)
		advance(500);
}

/* §4.4: a silent primary is replaced; the request a backup relayed executes in view 1. */
static void test_view_change_replaces_dead_primary(void **state)
{
	(void)state;
	W->dead[0] = true;
	for (int i = 1; i < N; i++)
		request(i, 2, 1, "k", "v"); /* the client gave up on the primary: to all */
	deliver_all();
	assert_int_equal(status_of(1).last_executed, 0);
	run_until_quiet(10);
	for (int i = 1; i < N; i++) {
		struct core_status st = status_of(i);
		assert_int_equal(st.view, 1);
		assert_false(st.view_changing);
		assert_int_equal(st.requests_executed, 1);
	}
	/* the new primary keeps serving */
	request(1, 2, 2, "k", "w");
	deliver_all();
	for (int i = 1; i < N; i++)
		assert_int_equal(status_of(i).requests_executed, 2);
}

/* A request committed at one replica only must keep its sequence number across the
 * view change (the NEW-VIEW's O carries its prepared certificate). */
static void commit_at_three_then_kill_primary(void)
{
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_PREPREPARE);
	deliver_type(MSG_PREPARE);
	/* commits reach replica 3 only: it executes seq 1, nobody else does */
	assert_int_equal(deliver_one(MSG_COMMIT, 1, 3), 1);
	assert_int_equal(deliver_one(MSG_COMMIT, 2, 3), 1);
	assert_int_equal(status_of(3).last_executed, 1);
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0; /* the other commits are lost */
	/* and replica 3 cannot resend its view-0 votes to the others: only the view
	 * change can carry seq 1 to them */
	W->mute_view0[3] = true;
	W->dead[0] = true;
	for (int i = 1; i < N; i++)
		request(i, 2, 1, "b", "2");
	deliver_all();
	run_until_quiet(10);
}

static void test_committed_request_survives_view_change(void **state)
{
	(void)state;
	commit_at_three_then_kill_primary();
	for (int i = 1; i < N; i++) {
		assert_int_equal(status_of(i).view, 1);
		assert_int_equal(status_of(i).last_executed, 2);
		assert_memory_equal(W->executed_digest[i][1], W->executed_digest[3][1],
				    WIRE_DIGEST_LEN);
	}
}

/* The same run with the planted bug: the new primaries forget certificates and offer a
 * null request for seq 1.  Replica 3 committed the put there and refuses that (a
 * committed digest is final), so replicas 1 and 2 cannot commit it and stay behind:
 * the bug shows.  (Before that refusal they executed the null request and diverged
 * from replica 3; the simulator's planted_skip_vc_certs still finds divergence.) */
static void test_planted_skip_certs_diverges(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		W->ops->destroy(W->core[i]);
	for (int i = 0; i < N; i++) {
		W->cfg[i].plant_bugs = PBFT_BUG_SKIP_VC_CERTS;
		W->core[i] = make_core(i);
		step(i, EV_START, NULL);
	}
	commit_at_three_then_kill_primary();
	assert_int_equal(status_of(3).last_executed, 1);
	for (int i = 1; i < 3; i++) {
		assert_true(status_of(i).view >= 1);
		assert_int_equal(status_of(i).last_executed, 0);
	}
}

static bool to_2_up_to_seq_4_or_state(const struct packet *pk)
{
	int type = msg_type(pk);
	return state_transfer(pk) || (pk->to == 2 && get_u64(pk->bytes + WIRE_OFF_SEQ) <= 4 &&
				      (type == MSG_PREPREPARE || type == MSG_PREPARE ||
				       type == MSG_COMMIT || type == MSG_CHECKPOINT));
}

/* A committed digest is final.  Replica 2 executed seqs 1-3 but missed seq 4 and the
 * checkpoint there, so after a view change its window still reaches below the
 * NEW-VIEW's stable checkpoint.  A faulty new primary offers it another batch for
 * seq 2: it must not prepare that, and its log must still recover. */
static void test_committed_slot_keeps_its_digest(void **state)
{
	(void)state;
	puts_from_client_2(1, 3, NULL);
	puts_from_client_2(4, 4, to_2_up_to_seq_4_or_state);
	assert_int_equal(status_of(0).stable_checkpoint, 4);
	assert_int_equal(status_of(2).stable_checkpoint, 0);
	W->dead[0] = true; /* view 1, primary 1 */
	for (int i = 1; i < N; i++)
		request(i, 2, 5, "k", "v");
	for (int round = 0; round < 20 && (status_of(2).view < 1 || status_of(2).view_changing);
	     round++) {
		W->now += 250;
		for (int i = 1; i < N; i++)
			if (W->timer[i] && W->timer[i] <= W->now)
				step(i, EV_TICK, NULL);
		deliver_all_dropping(to_2_up_to_seq_4_or_state);
	}
	struct core_status s2 = status_of(2);
	assert_int_equal(s2.view, 1);
	assert_false(s2.view_changing);
	assert_int_equal(s2.last_executed, 3);
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_preprepare(&b, CLUSTER, 1, 1, 2, 0, NULL, NULL);
	assert_int_equal(auth_seal(&W->auth[1], &b, off), 0);
	deliver_bytes(2, b.p, b.len);
	buf_free(&b);
	for (size_t k = 0; k < W->nq; k++)
		assert_false(W->q[k].from == 2 && msg_type(&W->q[k]) == MSG_PREPARE &&
			     get_u64(W->q[k].bytes + WIRE_OFF_SEQ) == 2);
	restart_from_log(2);
	assert_int_equal(status_of(2).last_executed, 3);
}

/* ---- a restarted primary numbers right after its NEW-VIEW (issue 14, hole 4) ---- */

static bool preprepare(const struct packet *pk)
{
	return msg_type(pk) == MSG_PREPREPARE;
}

/* Views 1..3 never start: their NEW-VIEWs and every message that would order something
 * in them are lost, so the replicas time out through them to view 4 - whose primary,
 * replica 0, is again the primary of view 0.  (Its NEW-VIEW is lost too: the backups
 * never enter view 4 and relay it nothing to propose.) */
static bool views_1_to_4_never_start(const struct packet *pk)
{
	int type = msg_type(pk);
	return type == MSG_NEWVIEW || type == MSG_PREPREPARE ||
	       ((type == MSG_PREPARE || type == MSG_COMMIT) &&
		get_u64(pk->bytes + WIRE_OFF_VIEW) >= 1);
}

/* Let time pass in steps of 250 ms - due timers fire, then everything not dropped is
 * delivered - until replica i is active in `view` or later, or `rounds` steps went. */
static void ticks_until_in_view(int i, uint64_t view, int rounds,
				bool (*drop)(const struct packet *pk))
{
	for (int round = 0;
	     round < rounds && (status_of(i).view < view || status_of(i).view_changing); round++) {
		W->now += 250;
		for (int j = 0; j < N; j++)
			if (W->timer[j] && W->timer[j] <= W->now)
				step(j, EV_TICK, NULL);
		deliver_all_dropping(drop);
	}
}

static uint64_t next_seq_of(int i)
{
	return ((struct pbft *)W->core[i])->next_seq;
}

/* Replica 0, primary of view 0, executes seq 1 with everybody, then pre-prepares seqs
 * 2 and 3 (persisting them), but nobody else hears of them.  The others time out;
 * views 1..3 never start, and replica 0 enters view 4 as its primary with a NEW-VIEW
 * whose max-s is 1: seqs 2 and 3 of view 0 were chosen by nobody.  Copies of replica
 * 0's records for seqs 2 and 3 go to stale[] (the caller frees them). */
static void primary_returns_in_view_4(struct record stale[2])
{
	request(0, 2, 1, "k", "v");
	deliver_all();
	for (int i = 0; i < N; i++)
		assert_int_equal(status_of(i).last_executed, 1);
	request(0, 2, 2, "k", "w"); /* seq 2, at once: nothing in flight */
	for (uint32_t c = 3; c < 3 + 8; c++)
		request(0, c, 1, "k", "x"); /* seq 3: a full batch while 2 is in flight */
	deliver_all_dropping(preprepare);
	assert_int_equal(next_seq_of(0), 3);
	int kept = 0;
	for (size_t k = 0; k < W->nstore[0]; k++) {
		const struct record *r = &W->store[0][k];
		if (r->kind == REC_PREPREPARE && (r->key == 2 || r->key == 3)) {
			assert_true(kept < 2);
			stale[kept] = *r;
			stale[kept].val = malloc(r->len);
			memcpy(stale[kept].val, r->val, r->len);
			kept++;
		}
	}
	assert_int_equal(kept, 2);
	/* the client retransmits to every replica: the backups relay and watch */
	for (int i = 1; i < N; i++)
		request(i, 2, 2, "k", "w");
	deliver_all_dropping(views_1_to_4_never_start);
	ticks_until_in_view(0, 4, 400, views_1_to_4_never_start);
	struct core_status s0 = status_of(0);
	assert_int_equal(s0.view, 4);
	assert_false(s0.view_changing);
	assert_int_equal(s0.primary, 0);
	assert_int_equal(next_seq_of(0), 1); /* after the NEW-VIEW's max-s */
}

/* The restarted primary proposes the next request at seq 2, right after its NEW-VIEW's
 * max-s, in view 4: with a gap (seq 4), seqs 2 and 3 would never be proposed and
 * execution would stall until the next view change. */
static void assert_restarted_primary_proposes_seq_2(void)
{
	restart_from_log(0);
	assert_int_equal(next_seq_of(0), 1);
	size_t before = W->nq;
	request(0, 11, 1, "z", "1");
	int found = 0;
	for (size_t k = before; k < W->nq; k++) {
		const struct packet *pk = &W->q[k];
		if (pk->from != 0 || msg_type(pk) != MSG_PREPREPARE)
			continue;
		assert_int_equal(get_u64(pk->bytes + WIRE_OFF_VIEW), 4);
		assert_int_equal(get_u64(pk->bytes + WIRE_OFF_SEQ), 2);
		found++;
	}
	assert_int_equal(found, N - 1);
}

/* drop_unchosen's drop is persisted: no record of a dropped slot is left to raise
 * next_seq at a restart. */
static void test_restarted_primary_numbers_after_newview(void **state)
{
	(void)state;
	struct record stale[2];
	primary_returns_in_view_4(stale);
	assert_restarted_primary_proposes_seq_2();
	for (size_t k = 0; k < W->nstore[0]; k++) {
		const struct record *r = &W->store[0][k];
		if (r->key != 2 && r->key != 3)
			continue;
		assert_int_not_equal(r->kind, REC_PREPARED);
		if (r->kind == REC_PREPREPARE) /* only the one just proposed, in view 4 */
			assert_int_equal(get_u64(r->val + 4 + WIRE_OFF_VIEW), 4);
	}
	free(stale[0].val);
	free(stale[1].val);
}

/* A log that still holds them (written before the drop was persisted): recovery
 * raises next_seq only from pre-prepares of the view it recovers. */
static void test_stale_preprepares_do_not_raise_next_seq(void **state)
{
	(void)state;
	struct record stale[2];
	primary_returns_in_view_4(stale);
	for (int k = 0; k < 2; k++) {
		struct record *r = W->store[0];
		size_t *n = &W->nstore[0];
		for (size_t j = 0; j < *n; j++) {
			if (r[j].kind == stale[k].kind && r[j].key == stale[k].key) {
				free(r[j].val);
				r[j] = r[--*n];
				break;
			}
		}
		assert_true(*n < 4096);
		r[(*n)++] = stale[k]; /* the store takes it */
	}
	assert_restarted_primary_proposes_seq_2();
}

/* ---- an unchosen prepared certificate stays (forensics: the omission rule) ---- */

/* Pre-prepares are lost (nothing is ordered again), and so are the re-sent view-0 votes
 * and every VIEW-CHANGE of replica 3: the NEW-VIEW of view 1 is built without it. */
static bool unchosen_drop(const struct packet *pk)
{
	int type = msg_type(pk);
	return type == MSG_PREPREPARE || (pk->from == 3 && type == MSG_VIEWCHANGE) ||
	       ((type == MSG_PREPARE || type == MSG_COMMIT) &&
		get_u64(pk->bytes + WIRE_OFF_VIEW) == 0);
}

/* Does replica i hold a certificate of view `view` for seq, alone in its slot? */
static bool holds_cert_alone(int i, uint64_t seq, uint64_t view)
{
	struct slot *s = pbft_slot_peek(W->core[i], seq);
	return s && !s->have_pp && s->cert.bytes && s->cert.view == view;
}

/* The P set of the last VIEW-CHANGE replica i sent for `view`: a certificate of view
 * cert_view for seq?  (-1 if it sent none for that view.) */
static int vc_carries(int i, uint64_t view, uint64_t seq, uint64_t cert_view)
{
	int found = -1;
	for (size_t k = 0; k < W->nq; k++) {
		const struct packet *pk = &W->q[k];
		struct msg m;
		struct cursor c;
		struct vc_prepared e;
		if (pk->from != i || msg_type(pk) != MSG_VIEWCHANGE ||
		    get_u64(pk->bytes + WIRE_OFF_VIEW) != view)
			continue;
		assert_int_equal(wire_decode(pk->bytes, pk->len, CLUSTER, &m), WIRE_OK);
		found = 0;
		wire_vc_begin(&m, &c);
		while (wire_vc_next(&c, CLUSTER, &e) > 0)
			if (e.pp.h.seq == seq && e.pp.h.view == cert_view)
				found = 1;
	}
	return found;
}

/* Replica 3 alone prepares seq 1 in view 0 (its plain COMMIT leaves: it holds the
 * certificate), and the NEW-VIEW of view 1, built from the VIEW-CHANGEs of 0, 1 and 2,
 * does not choose it (max-s 0).  Replica 3 enters view 1 and drops the pre-prepare
 * (drop_unchosen) but keeps the certificate - in memory, in its log across a restart,
 * and in its VIEW-CHANGE for view 2, as PBFT's P set does.  Dropping it, as byzlab did,
 * let a correct replica's plain COMMIT and later VIEW-CHANGE read as a lie to the
 * forensic omission rule (forensics.h). */
static void test_unchosen_certificate_stays(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_type(MSG_PREPREPARE);
	assert_int_equal(deliver_one(MSG_PREPARE, 1, 3), 1);
	assert_int_equal(deliver_one(MSG_PREPARE, 2, 3), 1);
	struct slot *s = pbft_slot_peek(W->core[3], 1);
	assert_non_null(s);
	assert_true(s->prepared && s->cert.bytes && s->cert.view == 0);
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0; /* every other PREPARE and COMMIT of seq 1 is lost */
	for (int i = 1; i < N; i++)
		request(i, 2, 1, "b", "2"); /* the client gave up on the primary: to all */
	deliver_all_dropping(unchosen_drop);
	ticks_until_in_view(3, 1, 80, unchosen_drop);
	assert_int_equal(status_of(3).view, 1);
	assert_false(status_of(3).view_changing);
	assert_int_equal(status_of(3).last_executed, 0);
	assert_true(holds_cert_alone(3, 1, 0));
	bool logged = false;
	for (size_t k = 0; k < W->nstore[3]; k++)
		logged |= W->store[3][k].kind == REC_PREPARED && W->store[3][k].key == 1;
	assert_true(logged);
	restart_from_log(3);
	assert_true(holds_cert_alone(3, 1, 0));
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0;
	effects_reset(&W->eff);
	pbft_start_view_change(W->core[3], 2, &W->eff);
	apply_effects(3);
	assert_int_equal(vc_carries(3, 2, 1, 0), 1);
}

/* A vote for (view 0, seq, digest) sealed by replica r and delivered to replica `to`
 * only: what a liar beyond f tells one replica and not the others. */
static void deliver_vote_as(int type, uint32_t r, uint64_t seq, const uint8_t *digest, int to)
{
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_digest(&b, (uint8_t)type, CLUSTER, r, 0, seq, digest);
	assert_int_equal(auth_seal(&W->auth[r], &b, off), 0);
	deliver_bytes(to, b.p, b.len);
	buf_free(&b);
}

static bool has_record(int i, uint8_t kind, uint64_t key)
{
	for (size_t k = 0; k < W->nstore[i]; k++)
		if (W->store[i][k].kind == kind && W->store[i][k].key == key)
			return true;
	return false;
}

/* More than f liars: replicas 1 and 2 prepare and commit seq 2 towards replica 3 (as
 * twins do with one voice) and their VIEW-CHANGEs carry nothing of it (the other
 * voice), so the NEW-VIEW of view 1 leaves seq 2, which replica 3 committed but could
 * not execute (seq 1 is open there), above max-s.  With at most f liars that cannot happen (OSDI'99
 * §4.5.1), and drop_unchosen asserted it - so liars beyond f crashed an honest core
 * (sim_pbft_f1_two_liars_beyond_f, seed 6).  Now replica 3 counts a conflict, follows
 * the view, forgets the committed mark with the pre-prepare (REC_COMMITTED left alone
 * made its restart fail) and keeps the certificate (forensics). */
static void test_unchosen_commit_beyond_f_is_counted(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_all_holding(anything_to_3, NULL); /* seq 1 commits at 0, 1 and 2 */
	request(0, 2, 1, "b", "2");
	assert_int_equal(deliver_one(MSG_PREPREPARE, 0, 3), 1);
	assert_int_equal(deliver_one(MSG_PREPREPARE, 0, 3), 1);
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0;
	struct slot *s = pbft_slot_peek(W->core[3], 2);
	assert_true(s && s->have_pp && s->view == 0);
	uint8_t d[WIRE_DIGEST_LEN];
	memcpy(d, s->digest, WIRE_DIGEST_LEN);
	for (uint32_t r = 1; r <= 2; r++)
		deliver_vote_as(MSG_PREPARE, r, 2, d, 3);
	for (uint32_t r = 1; r <= 2; r++)
		deliver_vote_as(MSG_COMMIT, r, 2, d, 3);
	assert_true(s->committed);
	assert_int_equal(status_of(3).last_executed, 0); /* seq 1 is open here */
	assert_true(has_record(3, REC_COMMITTED, 2));
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0; /* nobody else heard of seq 2 */
	uint64_t conflicts = status_of(3).rejected_conflict;
	for (int i = 1; i < N; i++)
		request(i, 3, 1, "c", "3"); /* the client gave up on the primary: to all */
	deliver_all_dropping(unchosen_drop);
	ticks_until_in_view(3, 1, 80, unchosen_drop);
	assert_int_equal(status_of(3).view, 1);
	assert_false(status_of(3).view_changing);
	assert_true(status_of(3).last_executed <= 1); /* seq 1 was chosen, seq 2 not */
	assert_true(status_of(3).rejected_conflict > conflicts);
	assert_false(has_record(3, REC_COMMITTED, 2));
	assert_true(holds_cert_alone(3, 2, 0));
	restart_from_log(3);
	assert_true(holds_cert_alone(3, 2, 0));
	assert_int_equal(status_of(3).view, 1);
}

/* A VIEW-CHANGE whose prepared certificate is made up is rejected. */
/* A VIEW-CHANGE(1) from replica 2 to replica 1 whose one P entry is a compact
 * pre-prepare of view 0, seq 1 (digest pp_d) and PREPAREs (digest prep_d) from
 * replicas first..last. */
static void deliver_vc_with_cert(const uint8_t *pp_d, const uint8_t *prep_d, uint32_t first,
				 uint32_t last)
{
	struct buf b;
	buf_init(&b);
	size_t off = wire_begin(&b, MSG_VIEWCHANGE, CLUSTER, 2, 1, 0);
	buf_put_u16(&b, 0);
	buf_put_u32(&b, 1);
	struct buf cpp;
	buf_init(&cpp);
	size_t co = wire_begin(&cpp, MSG_PREPREPARE, CLUSTER, 0, 0, 1);
	set_u32(cpp.p + co + WIRE_OFF_BODY_LEN, 2);
	buf_put(&cpp, pp_d, WIRE_DIGEST_LEN);
	assert_int_equal(auth_seal_cpp(&W->auth[0], &cpp, co), 0);
	buf_put_u32(&b, (uint32_t)cpp.len);
	buf_put(&b, cpp.p, cpp.len);
	buf_put_u16(&b, (uint16_t)(last - first + 1));
	for (uint32_t r = first; r <= last; r++) {
		struct buf pr;
		buf_init(&pr);
		size_t po = wire_put_digest(&pr, MSG_PREPARE, CLUSTER, r, 0, 1, prep_d);
		assert_int_equal(auth_seal(&W->auth[r], &pr, po), 0);
		buf_put_u32(&b, (uint32_t)pr.len);
		buf_put(&b, pr.p, pr.len);
		buf_free(&pr);
	}
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&W->auth[2], &b, off), 0);
	deliver_bytes(1, b.p, b.len);
	buf_free(&cpp);
	buf_free(&b);
}

static void test_fake_certificate_rejected(void **state)
{
	(void)state;
	/* 2f PREPAREs whose digest does not match the pre-prepare's */
	uint8_t d1[WIRE_DIGEST_LEN] = {1}, d2[WIRE_DIGEST_LEN] = {2};
	deliver_vc_with_cert(d1, d2, 2, 3);
	assert_int_equal(status_of(1).rejected_conflict, 1);
}

/* Decode bounds stay strict: a certificate of more than 2f PREPAREs (here all n-1,
 * matching) is refused, so a liar cannot inflate a VIEW-CHANGE towards WIRE_MAX_MSG. */
static void test_oversized_certificate_rejected(void **state)
{
	(void)state;
	uint8_t d[WIRE_DIGEST_LEN] = {1};
	deliver_vc_with_cert(d, d, 1, 3);
	assert_int_equal(status_of(1).rejected_conflict, 1);
}

/* PBFT §4.4: a prepared certificate is the pre-prepare and 2f PREPAREs, no more.
 * Replica 3 hears both other backups' PREPAREs before the pre-prepare, so when it
 * prepares it holds all n-1 = 3; its VIEW-CHANGE must still carry exactly 2f = 2 per
 * certificate (with auth = mac at n = 31, n-1 PREPAREs of a 1 KB authenticator each
 * in every slot of a full window is over WIRE_MAX_MSG, docs/PROTOCOL.md §6). */
static void test_certificate_holds_exactly_2f_prepares(void **state)
{
	(void)state;
	request(0, 2, 1, "k", "v");
	assert_int_equal(deliver_one(MSG_PREPREPARE, 0, 1), 1);
	assert_int_equal(deliver_one(MSG_PREPREPARE, 0, 2), 1);
	assert_int_equal(deliver_one(MSG_PREPARE, 1, 3), 1);
	assert_int_equal(deliver_one(MSG_PREPARE, 2, 3), 1);
	assert_int_equal(deliver_one(MSG_PREPREPARE, 0, 3), 1); /* prepared, with 3 */
	for (size_t k = 0; k < W->nq; k++) /* nothing else arrives: no commit anywhere */
		free(W->q[k].bytes);
	W->nq = 0;
	request(3, 2, 1, "k", "v"); /* the client retransmits: replica 3's timer runs */
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0;
	W->now += 10 * W->cfg[3].view_timeout_ms;
	step(3, EV_TICK, NULL); /* replica 3's timer: VIEW-CHANGE(1) */
	size_t vcs = 0;
	for (size_t k = 0; k < W->nq; k++) {
		const struct packet *pk = &W->q[k];
		if (msg_type(pk) != MSG_VIEWCHANGE || pk->from != 3)
			continue;
		struct msg m;
		struct cursor c;
		struct vc_prepared e;
		assert_int_equal(wire_decode(pk->bytes, pk->len, CLUSTER, &m), WIRE_OK);
		assert_int_equal(m.u.vc.n_prepared, 1);
		wire_vc_begin(&m, &c);
		assert_int_equal(wire_vc_next(&c, CLUSTER, &e), 1);
		assert_int_equal(e.pp.h.seq, 1);
		assert_int_equal(e.n_prep, 2 * F);
		vcs++;
	}
	assert_true(vcs >= N - 1); /* to every other replica (the tick may say it twice) */
	/* and the others take it: a certificate of 2f is a valid one */
	deliver_all();
	assert_int_equal(status_of(1).rejected_conflict, 0);
}

/* A replica cut off for several checkpoints catches up by state transfer. */
static void test_state_transfer_catches_up(void **state)
{
	(void)state;
	W->dead[3] = true;
	puts_from_client_2(1, 40, NULL);
	assert_int_equal(status_of(0).stable_checkpoint, 40);
	assert_int_equal(status_of(3).last_executed, 0);
	W->dead[3] = false;
	/* the next checkpoints tell replica 3 how far behind it is */
	puts_from_client_2(41, 48, NULL);
	run_until_quiet(3);
	struct core_status s3 = status_of(3), s0 = status_of(0);
	assert_true(s3.last_executed >= 44);
	assert_int_equal(s3.stable_checkpoint, s0.stable_checkpoint);
	assert_memory_equal(s3.state_digest, s0.state_digest, WIRE_DIGEST_LEN);
}

/* Behind a proven checkpoint by less than an interval, in a cluster that then goes
 * idle: nothing will bring the missing slots, so after a view timeout without progress
 * the replica fetches the checkpoint's state (it used to wait for the next checkpoint,
 * for ever if none came). */
static void test_idle_laggard_fetches_state(void **state)
{
	(void)state;
	request(0, 2, 1, "k", "v1");
	deliver_all();
	assert_int_equal(status_of(3).last_executed, 1);
	puts_from_client_2(2, 4, normal_case_to_3); /* checkpoint_interval is 4 */
	assert_int_equal(status_of(0).stable_checkpoint, 4);
	assert_int_equal(status_of(3).last_executed, 1); /* heard only the CHECKPOINTs */
	run_until_quiet(6);
	assert_caught_up(3, 4);
}

/* A transfer whose peers moved on to a newer checkpoint, which the fetcher never heard
 * of, in a cluster that then goes idle: a peer asked for a checkpoint older than its
 * own answers with the proof of its own, and the fetcher fetches that instead. */
static void test_fetch_of_a_superseded_checkpoint(void **state)
{
	(void)state;
	replica_3_misses_puts(8);
	/* replica 3 learns of checkpoint 12, but its fetch gets no answer */
	puts_from_client_2(9, 12, state_transfer);
	assert_int_equal(status_of(3).fetching, 12);
	/* the others move on, unheard */
	puts_from_client_2(13, 16, anything_to_3_and_state_transfer);
	assert_int_equal(status_of(0).stable_checkpoint, 16);
	assert_int_equal(status_of(3).last_executed, 0);
	run_until_quiet(10);
	assert_caught_up(3, 16);
}

/* A laggard that never heard the CHECKPOINTs of the others' stable checkpoint (lost on
 * the way), in a cluster that then goes idle: its own, older CHECKPOINT reaches the
 * others, who answer with the proof of theirs, and it fetches that state. */
static void test_laggard_told_of_a_newer_checkpoint(void **state)
{
	(void)state;
	puts_holding(1, 4, to_3_up_to_seq_4, NULL); /* replica 3's share waits in the network */
	puts_holding(5, 8, to_3_up_to_seq_4, to_3_above_seq_4); /* and later ones are lost */
	assert_int_equal(status_of(0).stable_checkpoint, 8);
	deliver_all(); /* replica 3 executes 1..4 and says so with CHECKPOINT(4) */
	run_until_quiet(6);
	assert_caught_up(3, 8);
}

/* A state transfer that completes after its peers moved on to a newer checkpoint, never
 * heard of, in a cluster that then goes idle: the fetcher announces the checkpoint it
 * installed, and the others answer with the proof of theirs. */
static void test_installed_state_is_announced(void **state)
{
	(void)state;
	replica_3_misses_puts(8);
	puts_holding(9, 12, state_reply, normal_case_to_3); /* it fetches 12; the answer is slow */
	assert_int_equal(status_of(3).fetching, 12);
	puts_holding(13, 16, state_reply, anything_to_3); /* the others move on, unheard */
	assert_int_equal(status_of(0).stable_checkpoint, 16);
	deliver_all(); /* the state of 12 arrives and is installed */
	run_until_quiet(6);
	assert_caught_up(3, 16);
}

/* The PRE-PREPAREs and votes a laggard refused as beyond its window, while its state
 * transfer was under way, are fed again once the state is installed: nobody would send
 * them a second time, and the idle cluster would leave it behind (ahead.h). */
static void test_refused_ahead_fed_after_install(void **state)
{
	(void)state;
	replica_3_misses_puts(40);
	puts_holding(41, 46, state_reply, NULL); /* 44 becomes stable; the state is slow */
	assert_int_equal(status_of(3).fetching, 44);
	assert_true(status_of(3).rejected_out_of_window > 0); /* 45 and 46 among them */
	deliver_all(); /* the state of 44 arrives: no time passes, nothing is re-sent */
	assert_int_equal(status_of(3).stable_checkpoint, 44);
	assert_int_equal(status_of(3).last_executed, 46);
}

/* A replica that lost everything about a slot below the next checkpoint, in a cluster
 * that then goes idle: no re-send covers a slot it holds no PRE-PREPARE for, and no
 * checkpoint comes.  After a view timeout without progress it sends a PEER_STATUS,
 * and the others answer with the slot's PRE-PREPARE and their votes. */
static void test_idle_laggard_asks_with_peer_status(void **state)
{
	(void)state;
	request(0, 2, 1, "k", "v1");
	deliver_all();
	request(0, 2, 2, "k", "v2");
	deliver_all_dropping(anything_to_3); /* checkpoint_interval is 4: none at 2 */
	assert_int_equal(status_of(0).last_executed, 2);
	assert_int_equal(status_of(3).last_executed, 1);
	run_until_quiet(4);                 /* two view timeouts */
	assert_true(W->status_sent[3] > 0); /* it asked */
	assert_int_equal(status_of(3).last_executed, 2);
	struct core_status s3 = status_of(3);
	assert_int_equal(s3.requests_executed, 2);
}

static bool from_3(const struct packet *pk)
{
	return pk->from == 3;
}

/* Packets of `type` from `replica` still queued. */
static size_t queued_from(int replica, int type)
{
	size_t count = 0;
	for (size_t k = 0; k < W->nq; k++)
		count += W->q[k].from == replica && msg_type(&W->q[k]) == type;
	return count;
}

static size_t replies_from(int replica, uint32_t client)
{
	size_t count = 0;
	for (size_t k = 0; k < W->nreplies; k++)
		count += W->replies[k].from == replica && W->replies[k].client == client;
	return count;
}

/* Replica 3 alone hears a request and its relay to the primary is lost: it alone
 * times out, and its VIEW-CHANGE is lost too - stranded in a view change. */
static void strand_3_in_view_change(void)
{
	request(3, 2, 1, "x", "1");
	for (int round = 0; round < 4; round++) {
		W->now += 500;
		if (W->timer[3] && W->timer[3] <= W->now)
			step(3, EV_TICK, NULL);
		deliver_all_dropping(from_3);
	}
	assert_true(status_of(3).view_changing);
}

/* Replica `from`, in `view`, tells `to` it has executed nothing (PEER_STATUS 0): what
 * a replica that is behind says. */
static void peer_status_behind(int from, uint64_t view, int to)
{
	struct buf b;
	buf_init(&b);
	size_t off = wire_begin(&b, MSG_PEER_STATUS, CLUSTER, (uint32_t)from, view, 0);
	buf_put_u64(&b, 0);
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&W->auth[from], &b, off), 0);
	deliver_bytes(to, b.p, b.len);
	buf_free(&b);
}

/* catchup.h: a replica alone in a view change that the others never join executes
 * what 2f+1 COMMITs of their view prove committed - and nothing on 2f. */
static void test_stranded_replica_executes_on_commit_certificate(void **state)
{
	(void)state;
	strand_3_in_view_change();
	/* The others order a put in view 0; what they send replica 3 waits. */
	request(0, 1, 1, "k", "v");
	deliver_all_holding(normal_case_to_3, from_3);
	assert_int_equal(status_of(0).last_executed, 1);
	assert_int_equal(deliver_one(MSG_PREPREPARE, 0, 3), 1);
	assert_int_equal(deliver_one(MSG_COMMIT, 0, 3), 1);
	assert_int_equal(deliver_one(MSG_COMMIT, 1, 3), 1);
	assert_int_equal(status_of(3).last_executed, 0); /* 2f COMMITs prove nothing */
	assert_int_equal(replies_from(3, 1), 0);
	assert_int_equal(deliver_one(MSG_COMMIT, 2, 3), 1);
	struct core_status s3 = status_of(3);
	assert_int_equal(s3.last_executed, 1);
	assert_true(s3.view_changing); /* it voted for nothing: still in its view change */
	assert_int_equal(s3.slots_caught_up, 1);
	assert_memory_equal(W->executed_digest[3][1], W->executed_digest[0][1], WIRE_DIGEST_LEN);
	assert_int_equal(replies_from(3, 1), 1);
	assert_int_equal(queued_from(3, MSG_PREPARE) + queued_from(3, MSG_COMMIT), 0);
	/* Asked by a replica that is behind, it vouches for the slot with a COMMIT. */
	peer_status_behind(1, 0, 3);
	assert_int_equal(queued_from(3, MSG_COMMIT), 1);
	/* A restart does not restore that execution, but remembers how far it went:
	 * no read-only answers from before it (REC_CAUGHT_UP). */
	restart_from_log(3);
	assert_int_equal(status_of(3).last_executed, 0);
	assert_int_equal(((struct pbft *)W->core[3])->readonly_floor, 1);
}

/* View-1 PREPAREs and COMMITs of seq 1 are lost, and replica 0 (view 0's primary)
 * is down. */
static bool seq_1_votes_of_view_1(const struct packet *pk)
{
	int type = msg_type(pk);
	return pk->from == 0 || pk->to == 0 ||
	       ((type == MSG_PREPARE || type == MSG_COMMIT) &&
		get_u64(pk->bytes + WIRE_OFF_VIEW) >= 1 && get_u64(pk->bytes + WIRE_OFF_SEQ) == 1);
}

/* A COMMIT of replica `from` for (view, seq) still queued: its header flags, or -1. */
static int queued_commit_flags(int from, uint64_t view, uint64_t seq)
{
	for (size_t k = 0; k < W->nq; k++) {
		const struct packet *pk = &W->q[k];
		if (pk->from == from && msg_type(pk) == MSG_COMMIT &&
		    get_u64(pk->bytes + WIRE_OFF_VIEW) == view &&
		    get_u64(pk->bytes + WIRE_OFF_SEQ) == seq)
			return pk->bytes[WIRE_OFF_FLAGS];
	}
	return -1;
}

/* Simulator seed 1205 (docs/TESTING.md): replica 3 executed seq 1 on view 0's commit
 * certificate while stranded in a view change; then the NEW-VIEW of view 1 issued seq 1
 * again and its PREPAREs were lost, so nobody prepares it there.  A laggard in view 1
 * needs 2f+1 COMMITs of view 1: replica 3, which knows the digest committed, vouches
 * with one (WIRE_F_VOUCHED, docs/PROTOCOL.md §5.12) when asked.  Before, it sent only
 * its COMMIT of view 0, and view 1 got none. */
static void test_caught_up_slot_vouched_in_new_view(void **state)
{
	(void)state;
	strand_3_in_view_change();
	request(0, 1, 1, "k", "v");
	deliver_all_holding(normal_case_to_3, from_3);
	deliver_all();
	assert_int_equal(status_of(3).last_executed, 1);
	assert_int_equal(status_of(3).slots_caught_up, 1);
	W->dead[0] = true; /* the others give view 0 up too */
	for (int i = 1; i < N; i++)
		request(i, 2, 2, "y", "2");
	deliver_all_dropping(seq_1_votes_of_view_1);
	for (int i = 1; i < N; i++)
		ticks_until_in_view(i, 1, 80, seq_1_votes_of_view_1);
	struct slot *s = pbft_slot_peek(W->core[3], 1);
	assert_int_equal(status_of(3).view, 1);
	assert_false(status_of(3).view_changing);
	assert_true(s && s->have_pp && s->view == 1 && !s->committed);
	for (size_t k = 0; k < W->nq; k++)
		free(W->q[k].bytes);
	W->nq = 0;
	/* Replica 0 comes back behind, in view 1, and says so. */
	peer_status_behind(0, 1, 3);
	assert_int_equal(queued_commit_flags(3, 1, 1), WIRE_F_VOUCHED);
}

/* Replica 3's log after seq 1 committed, as a restart finds it when the slot's
 * pre-prepare was kept without its batch (a NEW-VIEW issued it again after replica 3
 * had executed it on a commit certificate: byzlab-sim --auth sig --random-liars 1
 * --seed 5680 ...): REC_PREPREPARE without the batch, REC_COMMITTED, no certificate.
 * Replica 3 restarts from it.  *pp: the primary's
 * PRE-PREPARE of seq 1, as first sent to replica 3 (to free). */
static void restart_3_without_batch_of_seq_1(uint8_t **pp, size_t *pp_len)
{
	request(0, 1, 1, "a", "1");
	*pp = NULL;
	for (size_t k = 0; k < W->nq && !*pp; k++)
		if (msg_type(&W->q[k]) == MSG_PREPREPARE && W->q[k].to == 3) {
			*pp_len = W->q[k].len;
			*pp = malloc(*pp_len);
			assert_non_null(*pp);
			memcpy(*pp, W->q[k].bytes, *pp_len);
		}
	assert_non_null(*pp);
	deliver_all();
	assert_int_equal(status_of(3).last_executed, 1);
	struct record *r = W->store[3];
	for (size_t k = 0; k < W->nstore[3];) {
		if (r[k].key == 1 && r[k].kind == REC_PREPARED) {
			free(r[k].val);
			r[k] = r[--W->nstore[3]];
			continue;
		}
		if (r[k].key == 1 && r[k].kind == REC_PREPREPARE)
			r[k].len = 4 + get_u32(r[k].val); /* cpp_len | cpp, no batch */
		k++;
	}
	restart_from_log(3);
	assert_int_equal(status_of(3).last_executed, 0);
}

/* §4.2: a slot executes once committed-local with its request in hand, whichever
 * comes last.  The primary's re-sent PRE-PREPARE brings the batch of a committed slot:
 * it executes then (the votes that follow are repeats and re-check nothing). */
static void test_preprepare_completing_a_committed_slot_executes_it(void **state)
{
	(void)state;
	uint8_t *pp = NULL;
	size_t pp_len = 0;
	restart_3_without_batch_of_seq_1(&pp, &pp_len);
	for (size_t k = 0; k < W->nq; k++) /* its FETCHes are lost */
		free(W->q[k].bytes);
	W->nq = 0;
	deliver_bytes(3, pp, pp_len);
	free(pp);
	assert_int_equal(status_of(3).last_executed, 1);
	assert_memory_equal(W->executed_digest[3][1], W->executed_digest[0][1], WIRE_DIGEST_LEN);
}

/* A restarted replica fetches the batches its log lacks, at once. */
static void test_restart_fetches_missing_batches(void **state)
{
	(void)state;
	uint8_t *pp = NULL;
	size_t pp_len = 0;
	restart_3_without_batch_of_seq_1(&pp, &pp_len);
	free(pp);
	assert_int_equal(queued_from(3, MSG_FETCH), N - 1);
	deliver_all();
	assert_int_equal(status_of(3).last_executed, 1);
	assert_memory_equal(W->executed_digest[3][1], W->executed_digest[0][1], WIRE_DIGEST_LEN);
}

/* The same rule in the view a replica works in: it accepted an equivocating primary's
 * other PRE-PREPARE for a slot, so it can never prepare the batch the others commit
 * there; their 2f+1 COMMITs and that batch let it execute it all the same. */
static void test_equivocated_backup_executes_on_commit_certificate(void **state)
{
	(void)state;
	request(0, 1, 1, "a", "1");
	deliver_other_preprepare(3); /* first at replica 3: the empty batch stands there */
	deliver_all();
	assert_true(status_of(3).rejected_conflict >= 1); /* the real one, and votes for it */
	for (int i = 0; i < N; i++)
		assert_int_equal(status_of(i).last_executed, 1);
	assert_memory_equal(W->executed_digest[3][1], W->executed_digest[0][1], WIRE_DIGEST_LEN);
	assert_int_equal(status_of(3).slots_caught_up, 1);
}

/* The store of refused messages (ahead.h) is bounded per sender, keeps one copy of a
 * re-sent message, and under pressure drops the lowest sequence numbers first. */
static void test_ahead_bounds(void **state)
{
	(void)state;
	struct ahead *q = calloc(1, sizeof(*q));
	assert_non_null(q);
	uint8_t msg[8] = {1};
	ahead_keep(q, 10, 1, 2, msg, sizeof(msg));
	ahead_keep(q, 10, 1, 2, msg, sizeof(msg)); /* a copy */
	assert_int_equal(q->count, 1);
	ahead_keep(q, 11, 1, 2, msg, sizeof(msg));
	ahead_keep(q, 9, 1, 2, msg, sizeof(msg)); /* over the quota, and lower: dropped */
	assert_int_equal(q->count, 2);
	ahead_keep(q, 12, 1, 2, msg, sizeof(msg)); /* over the quota: 10 goes */
	assert_int_equal(q->count, 2);
	for (uint32_t i = 0; i < q->count; i++)
		assert_true(q->seq[i] == 11 || q->seq[i] == 12);
	ahead_keep(q, 5, 2, 2, msg, sizeof(msg)); /* another sender has its own quota */
	assert_int_equal(q->count, 3);
	for (uint64_t s = 100; s < 100 + AHEAD_MAX_MSGS; s++)
		ahead_keep(q, s, 3, AHEAD_MAX_MSGS, msg, sizeof(msg));
	assert_int_equal(q->count, AHEAD_MAX_MSGS); /* full: the lowest went */
	for (uint32_t i = 0; i < q->count; i++)
		assert_true(q->seq[i] >= 11);
	ahead_free(q);
	assert_int_equal(q->count, 0);
	free(q);
}

/* A zombie primary's old-view messages are fenced off by the view number. */
static void test_zombie_primary_rejected(void **state)
{
	(void)state;
	W->dead[0] = true;
	for (int i = 1; i < N; i++)
		request(i, 2, 1, "k", "v");
	deliver_all();
	run_until_quiet(10);
	assert_int_equal(status_of(1).view, 1);
	W->dead[0] = false; /* wakes up, still believing it leads view 0 */
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_preprepare(&b, CLUSTER, 0, 0, 5, 0, NULL, NULL);
	assert_int_equal(auth_seal(&W->auth[0], &b, off), 0);
	deliver_bytes(2, b.p, b.len);
	assert_int_equal(status_of(2).rejected_old_view, 1);
	buf_free(&b);
}

/* The message pattern of docs/VR.md §7: per request at batch 1, PRE-PREPARE n-1,
 * PREPARE (n-1)(n-1), COMMIT n(n-1), REPLY n: 2n^2 - n = 28 for n = 4. */
/* ---- PBFT §5.1.3: read-only requests ---- */

static int setup_read_only(void **state)
{
	g_read_only = 1;
	start_world(16, 4);
	g_read_only = 0;
	(void)state;
	return 0;
}

static void get_op(struct buf *op, const char *key)
{
	buf_init(op);
	assert_int_equal(kv_op_get(op, key, strlen(key)), 0);
}

/* Every reply so far is for (client, ts) and carries KV_OK and `val`. */
static void assert_replies(uint32_t client, uint64_t ts, const char *val)
{
	for (size_t k = 0; k < W->nreplies; k++) {
		struct msg m;
		assert_int_equal(wire_decode(W->replies[k].bytes, W->replies[k].len, CLUSTER, &m),
				 WIRE_OK);
		assert_int_equal(m.u.rep.client, client);
		assert_int_equal(m.u.rep.timestamp, ts);
		assert_int_equal(m.u.rep.result_len, 1 + strlen(val));
		assert_int_equal(m.u.rep.result[0], KV_OK);
		assert_memory_equal(m.u.rep.result + 1, val, strlen(val));
	}
}

static void clear_replies(void)
{
	for (size_t k = 0; k < W->nreplies; k++)
		free(W->replies[k].bytes);
	W->nreplies = 0;
}

/* Answered by each replica at once from its state: no message between replicas, no
 * sequence number, and the client table untouched (the same timestamp still executes
 * as a read-write request afterwards). */
static void test_readonly_get_answered_without_agreement(void **state)
{
	(void)state;
	request(0, 3, 100, "k", "v");
	deliver_all();
	clear_replies();
	uint64_t sent = W->sent;
	struct buf op;
	get_op(&op, "k");
	for (int i = 0; i < N; i++)
		request_op(i, 4, 50, REQ_F_READONLY, &op);
	assert_int_equal(W->nq, 0);
	assert_int_equal(W->sent - sent, N); /* the N replies, nothing else */
	assert_int_equal(W->nreplies, N);
	assert_replies(4, 50, "v");
	for (int i = 0; i < N; i++) {
		assert_int_equal(status_of(i).last_executed, 1);
		assert_int_equal(status_of(i).requests_readonly, 1);
	}
	clear_replies();
	request_op(0, 4, 50, 0, &op); /* the fallback path: through agreement */
	deliver_all();
	for (int i = 0; i < N; i++)
		assert_int_equal(status_of(i).last_executed, 2);
	assert_replies(4, 50, "v");
	buf_free(&op);
}

/* A flagged request sent to the primary is ordered and executed at every replica. */
static void assert_flagged_op_is_ordered(const struct buf *op)
{
	request_op(0, 4, 60, REQ_F_READONLY, op);
	deliver_all();
	for (int i = 0; i < N; i++) {
		assert_int_equal(status_of(i).last_executed, 1);
		assert_int_equal(status_of(i).requests_readonly, 0);
	}
}

/* A read-only flag on a write does not skip agreement. */
static void test_readonly_flag_on_write_is_ordered(void **state)
{
	(void)state;
	struct buf op;
	buf_init(&op);
	assert_int_equal(kv_op_put(&op, "k", 1, "w", 1), 0);
	assert_flagged_op_is_ordered(&op);
	buf_free(&op);
}

/* With read_only = off (the default) a flagged get is ordered like any request. */
static void test_readonly_off_orders_gets(void **state)
{
	(void)state;
	struct buf op;
	get_op(&op, "k");
	assert_flagged_op_is_ordered(&op);
	buf_free(&op);
}

/* budget.h: full at first, refilled with time without rounding small steps away; an
 * answer dearer than the cap waits for a full budget, and still goes. */
static void test_budget_refills_with_time(void **state)
{
	(void)state;
	struct budget b = {0};
	assert_true(budget_take(&b, 100, 2, 1000, 1));
	assert_true(budget_take(&b, 100, 2, 1000, 1));
	assert_false(budget_take(&b, 100, 2, 1000, 1)); /* spent */
	for (uint64_t t = 101; t < 600; t++)            /* 1 ms at a time */
		assert_false(budget_take(&b, t, 2, 1000, 1));
	assert_true(budget_take(&b, 600, 2, 1000, 1)); /* half a period: one unit back */
	assert_false(budget_take(&b, 600, 2, 1000, 1));
	assert_false(budget_take(&b, 1500, 2, 1000, 5)); /* dearer than the cap: not full */
	assert_true(budget_take(&b, 1600, 2, 1000, 5));  /* full: it goes */
	assert_false(budget_take(&b, 3599, 2, 1000, 1)); /* 2 - 5 + 3.998 < 1 */
	assert_true(budget_take(&b, 3600, 2, 1000, 1));
}

/* Queued packets of `type` from `from` to `to`; their bytes in *bytes. */
static size_t queued(int type, int from, int to, size_t *bytes)
{
	size_t count = 0;
	*bytes = 0;
	for (size_t k = 0; k < W->nq; k++)
		if (msg_type(&W->q[k]) == type && W->q[k].from == from && W->q[k].to == to) {
			count++;
			*bytes += W->q[k].len;
		}
	return count;
}

/* Deliver the message in b to replica `to` `times` times, at one instant. */
static void deliver_repeatedly(int to, const struct buf *b, int times)
{
	for (int k = 0; k < times; k++)
		deliver_bytes(to, b->p, b->len);
}

/* A replica asking for the same batch in a loop (~100 bytes in, the batch out, each
 * time) gets a bounded number of answers per view timeout; the budget comes back with
 * time (HOLE 5 of issue 14). */
static void test_fetch_answers_are_rate_limited(void **state)
{
	(void)state;
	request(0, 2, 1, "k", "v");
	deliver_all();
	assert_int_equal(status_of(0).last_executed, 1);
	struct buf b;
	buf_init(&b);
	size_t off = wire_put_digest(&b, MSG_FETCH, CLUSTER, 3, 0, 1, W->executed_digest[0][1]);
	assert_int_equal(auth_seal(&W->auth[3], &b, off), 0);
	size_t bytes;
	deliver_repeatedly(0, &b, 1000);
	size_t answers = queued(MSG_BATCH, 0, 3, &bytes);
	assert_true(answers >= 1);
	assert_true(answers <= W->cfg[0].window + 1); /* a window of batches per timeout */
	assert_int_equal(status_of(0).rejected_rate_limited, 1000 - answers);
	/* a view timeout later, the budget is back */
	W->now += W->cfg[0].view_timeout_ms;
	deliver_repeatedly(0, &b, 1000);
	size_t later = queued(MSG_BATCH, 0, 3, &bytes) - answers;
	assert_true(later >= 1);
	assert_true(later <= W->cfg[0].window + 1);
	buf_free(&b);
}

/* The same for FETCH_STATE (~100 bytes in, up to a 1 MiB chunk out): a bounded number
 * of chunks per view timeout, and a laggard's whole transfer still fits. */
static void test_fetch_state_answers_are_rate_limited(void **state)
{
	(void)state;
	puts_from_client_2(1, 4, NULL);
	assert_int_equal(status_of(0).stable_checkpoint, 4);
	struct buf b;
	buf_init(&b);
	size_t off = wire_begin(&b, MSG_FETCH_STATE, CLUSTER, 3, 0, 4);
	buf_put_u64(&b, 0);
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&W->auth[3], &b, off), 0);
	size_t bytes;
	deliver_repeatedly(0, &b, 1000);
	size_t answers = queued(MSG_STATE, 0, 3, &bytes);
	assert_true(answers >= 1);
	assert_true(answers <= 3); /* the snapshot is one chunk: twice that, plus one */
	assert_int_equal(status_of(0).rejected_rate_limited, 1000 - answers);
	W->now += W->cfg[0].view_timeout_ms;
	deliver_repeatedly(0, &b, 1000);
	size_t later = queued(MSG_STATE, 0, 3, &bytes) - answers;
	assert_true(later >= 1);
	assert_true(later <= 3);
	buf_free(&b);
}

/* A STATE answer whose declared total is not the size the checkpoint proof certifies
 * (here 512 MiB, for a snapshot of about a hundred bytes) is refused before anything is
 * kept of it: the total used to be taken as told, up to 1 GiB, and the transfer went
 * on fetching chunk after chunk of it before the digest could be checked. */
static void test_state_answer_with_a_false_total_refused(void **state)
{
	(void)state;
	replica_3_misses_puts(8);
	puts_holding(9, 12, state_transfer, NULL); /* its FETCH_STATE waits in the network */
	assert_int_equal(status_of(3).fetching, 12);
	int peer = 0; /* whom it asked */
	bool asked = false;
	for (size_t k = 0; k < W->nq; k++)
		if (msg_type(&W->q[k]) == MSG_FETCH_STATE && W->q[k].from == 3) {
			peer = W->q[k].to;
			asked = true;
		}
	assert_true(asked && peer >= 0 && peer < 3);
	const struct pbft *p3 = W->core[3];
	uint8_t chunk[16] = {0};
	struct buf b;
	buf_init(&b);
	size_t off = wire_begin(&b, MSG_STATE, CLUSTER, (uint32_t)peer, 0, 12);
	buf_put_u64(&b, (uint64_t)512 << 20);
	buf_put_u64(&b, 0);
	buf_put_u32(&b, sizeof(chunk));
	buf_put(&b, chunk, sizeof(chunk));
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&W->auth[peer], &b, off), 0);
	deliver_bytes(3, b.p, b.len);
	assert_int_equal(p3->xfer.s.have, 0);
	assert_null(p3->xfer.s.buf);
	for (size_t k = 0; k < W->nq; k++) /* and it asks nobody for the rest of it */
		if (msg_type(&W->q[k]) == MSG_FETCH_STATE && W->q[k].from == 3)
			assert_int_equal(get_u64(W->q[k].bytes + WIRE_HDR_LEN), 0);
	/* the honest answers still bring it up to date */
	deliver_all();
	run_until_quiet(6);
	assert_caught_up(3, 12);
	buf_free(&b);
}

static void test_message_count_formula(void **state)
{
	(void)state;
	for (uint64_t t = 1; t <= 3; t++) { /* checkpoint_interval is 4: none taken */
		uint64_t before = W->sent;
		request(0, 1, t, "k", "v");
		deliver_all();
		assert_int_equal(W->sent - before, 2 * N * N - N);
	}
}

/* The primary of the next view enters it far behind the others' stable checkpoint:
 * the NEW-VIEW's O lies beyond its window, and its low watermark moves only with the
 * fetched state.  Once the state is installed it must still hold O's pre-prepares
 * (OSDI'99 §4.4), or nobody ever sends a primary its own: it could not order them, gave
 * its view up on its timer and sat alone in the next view (simulator seed 167). */
static void test_behind_primary_keeps_newview_after_state(void **state)
{
	(void)state;
	W->dead[1] = true; /* the primary of view 1 misses puts 1..22 */
	puts_from_client_2(1, 22, NULL);
	assert_int_equal(status_of(0).stable_checkpoint, 20); /* 21, 22 above it */
	assert_int_equal(status_of(1).last_executed, 0);
	W->dead[1] = false;
	W->dead[0] = true;
	for (int i = 1; i < N; i++)
		request(i, 1, 1, "a", "1"); /* the client gave up on the primary: to all */
	deliver_all();
	run_until_quiet(10);
	struct core_status s1 = status_of(1), s2 = status_of(2);
	assert_int_equal(s1.view, 1);
	assert_false(s1.view_changing);
	assert_int_equal(s1.stable_checkpoint, 20);
	assert_int_equal(s1.last_executed, s2.last_executed);
	assert_int_equal(s2.last_executed, 23); /* 21, 22 again in view 1, then the new put */
	assert_memory_equal(s1.state_digest, s2.state_digest, WIRE_DIGEST_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_commits_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_count_formula, setup, teardown),
		cmocka_unit_test(test_budget_refills_with_time),
		cmocka_unit_test_setup_teardown(test_state_answer_with_a_false_total_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fetch_answers_are_rate_limited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fetch_state_answers_are_rate_limited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit_needs_2f_plus_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_quorum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preprepare_from_backup_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_preprepare_out_of_window_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_equivocation_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmission_executes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_become_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_grow_with_load, setup, teardown),
		cmocka_unit_test(test_batch_rule),
		cmocka_unit_test_setup_teardown(test_window_blocks_primary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_from_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_mid_view_change_says_it_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recovered_backup_keeps_its_word, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_preprepare_completing_a_committed_slot_executes_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_fetches_missing_batches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_change_replaces_dead_primary, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_committed_request_survives_view_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_planted_skip_certs_diverges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchosen_certificate_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchosen_commit_beyond_f_is_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_caught_up_slot_vouched_in_new_view, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fake_certificate_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_holds_exactly_2f_prepares, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oversized_certificate_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restarted_primary_numbers_after_newview, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stale_preprepares_do_not_raise_next_seq, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_committed_slot_keeps_its_digest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_state_transfer_catches_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_ahead_fed_after_install, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_laggard_asks_with_peer_status, setup,
						teardown),
		cmocka_unit_test(test_ahead_bounds),
		cmocka_unit_test_setup_teardown(
			test_stranded_replica_executes_on_commit_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_equivocated_backup_executes_on_commit_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zombie_primary_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_laggard_fetches_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_of_a_superseded_checkpoint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_laggard_told_of_a_newer_checkpoint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_installed_state_is_announced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_behind_primary_keeps_newview_after_state,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_get_answered_without_agreement,
						setup_read_only, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_flag_on_write_is_ordered,
						setup_read_only, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_off_orders_gets, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
