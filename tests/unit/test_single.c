/* test_single.c - the unreplicated core, stepped by hand (no sockets, no LMDB):
 * execution and sealed replies, exactly-once answers from the client table, persist
 * effects (request log, snapshots), and recovery from the persisted records. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/core/core.h"
#include "replica/core/exec.h"
#include "replica/kv.h"

#define CLUSTER 5
#define CLIENTS 4

static char keydir[512];

/* ---- fixtures ---- */

static int make_keys(void **state)
{
	(void)state;
	char err[256];
	const char *base = getenv("BYZLAB_TMP");
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(keydir, sizeof(keydir), "%s/single-XXXXXX", base);
	if (!mkdtemp(keydir) || crypto_setup() != 0)
		return -1;
	return key_generate_all(keydir, 1, CLIENTS, err, sizeof(err));
}

static int remove_keys(void **state)
{
	(void)state;
	char path[600];
	for (int i = 0; i < CLIENTS; i++) {
		snprintf(path, sizeof(path), "%s/client-%d.pub", keydir, i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/client-%d.key", keydir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/replica-0.pub", keydir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/replica-0.key", keydir);
	unlink(path);
	rmdir(keydir);
	return 0;
}

struct world {
	struct auth_ctx replica_auth;
	struct auth_ctx client_auth[CLIENTS];
	struct core_config cc;
	void *core;
	struct effects fx;
};

static void world_init(struct world *w, enum auth_mode mode, uint32_t interval)
{
	char err[256];
	memset(w, 0, sizeof(*w));
	assert_int_equal(auth_load(&w->replica_auth, mode, keydir, 1, CLIENTS, 0, 0, err,
				   sizeof(err)),
			 0);
	for (uint32_t c = 0; c < CLIENTS; c++)
		assert_int_equal(auth_load(&w->client_auth[c], mode, keydir, 1, CLIENTS, 1, c, err,
					   sizeof(err)),
				 0);
	w->cc = (struct core_config){.protocol = PROTO_SINGLE,
				     .n = 1,
				     .f = 0,
				     .id = 0,
				     .cluster_id = CLUSTER,
				     .batch_max = 1,
				     .window = 256,
				     .checkpoint_interval = interval,
				     .view_timeout_ms = 1000,
				     .max_clients = CLIENTS,
				     .kv_max_bytes = KV_DEFAULT_MAX_BYTES,
				     .auth = &w->replica_auth};
	w->core = single_core_ops.create(&w->cc);
	assert_non_null(w->core);
	effects_init(&w->fx);
}

static void world_free(struct world *w)
{
	single_core_ops.destroy(w->core);
	effects_free(&w->fx);
	auth_free(&w->replica_auth);
	for (int c = 0; c < CLIENTS; c++)
		auth_free(&w->client_auth[c]);
}

static void step(struct world *w, enum ev_kind kind, const struct msg *m)
{
	struct event ev = {.kind = kind, .now_ms = 1000, .m = m};
	effects_reset(&w->fx);
	assert_int_equal(single_core_ops.step(w->core, &ev, &w->fx), 0);
	assert_false(effects_failed(&w->fx));
}

/* A signed (or MACed) REQUEST of client c, as the replica would receive it. */
struct req {
	struct buf raw;
	struct msg m;
};

static void make_req(struct world *w, struct req *r, uint32_t c, uint64_t ts, const char *k,
		     const char *v)
{
	struct buf op;
	buf_init(&op);
	if (v)
		assert_int_equal(kv_op_put(&op, k, strlen(k), v, strlen(v)), 0);
	else
		assert_int_equal(kv_op_get(&op, k, strlen(k)), 0);
	buf_init(&r->raw);
	size_t off = wire_put_request(&r->raw, CLUSTER, c, ts, 0, op.p, (uint32_t)op.len);
	assert_int_equal(auth_seal(&w->client_auth[c], &r->raw, off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(wire_decode(r->raw.p, r->raw.len, CLUSTER, &r->m), WIRE_OK);
	assert_int_equal(auth_verify(&w->replica_auth, &r->m), 0);
	buf_free(&op);
}

/* Step one request through the core. */
static void submit(struct world *w, uint32_t c, uint64_t ts, const char *k, const char *v)
{
	struct req r;
	make_req(w, &r, c, ts, k, v);
	step(w, EV_MSG, &r.m);
	buf_free(&r.raw);
}

/* The step produced exactly one send: a REPLY to client c for ts, authentic for
 * that client.  Copies its result into res (status byte first). */
static void expect_reply(struct world *w, uint32_t c, uint64_t ts, uint8_t *res, size_t cap,
			 size_t *len)
{
	assert_int_equal(w->fx.n_sends, 1);
	const struct send *s = &w->fx.sends[0];
	assert_int_equal(s->to, TO_CLIENT);
	assert_int_equal(s->client, c);
	struct msg m;
	assert_int_equal(wire_decode(w->fx.arena.p + s->off, s->len, CLUSTER, &m), WIRE_OK);
	assert_int_equal(m.h.type, MSG_REPLY);
	assert_int_equal(m.h.sender, 0);
	assert_int_equal(m.u.rep.client, c);
	assert_int_equal(m.u.rep.timestamp, ts);
	assert_int_equal(auth_verify(&w->client_auth[c], &m), 0);
	assert_true(m.u.rep.result_len >= 1 && m.u.rep.result_len <= cap);
	memcpy(res, m.u.rep.result, m.u.rep.result_len);
	*len = m.u.rep.result_len;
}

static void status(struct world *w, struct core_status *st)
{
	single_core_ops.status(w->core, st);
	assert_string_equal(st->protocol, "single");
	assert_int_equal(st->view, 0);
	assert_int_equal(st->primary, 0);
}

/* ---- tests ---- */

static void request_executes(enum auth_mode mode)
{
	struct world w;
	uint8_t res[64];
	size_t len;
	world_init(&w, mode, 128);
	step(&w, EV_START, NULL);
	assert_int_equal(w.fx.n_sends + w.fx.n_persists, 0);

	struct req r;
	make_req(&w, &r, 1, 10, "k", "v");
	step(&w, EV_MSG, &r.m);
	/* the request is logged (durable before the reply leaves: driver's order) */
	assert_int_equal(w.fx.n_persists, 1);
	const struct persist *p = &w.fx.persists[0];
	assert_int_equal(p->op, P_PUT);
	assert_int_equal(p->kind, 1);
	assert_int_equal(p->key, 1);
	assert_int_equal(p->len, r.raw.len);
	assert_memory_equal(w.fx.arena.p + p->off, r.raw.p, r.raw.len);
	assert_int_equal(w.fx.n_execs, 1);
	assert_int_equal(w.fx.execs[0].seq, 1);
	expect_reply(&w, 1, 10, res, sizeof(res), &len);
	assert_int_equal(len, 1);
	assert_int_equal(res[0], KV_OK);
	buf_free(&r.raw);

	submit(&w, 2, 3, "k", NULL);
	expect_reply(&w, 2, 3, res, sizeof(res), &len);
	assert_int_equal(len, 2);
	assert_int_equal(res[0], KV_OK);
	assert_int_equal(res[1], 'v');
	assert_int_equal(w.fx.persists[0].key, 2);

	struct core_status st;
	status(&w, &st);
	assert_int_equal(st.last_executed, 2);
	assert_int_equal(st.requests_executed, 2);
	world_free(&w);
}

static void test_request_executes_sig(void **state)
{
	(void)state;
	request_executes(AUTH_MODE_SIG);
}

static void test_request_executes_mac(void **state)
{
	(void)state;
	request_executes(AUTH_MODE_MAC);
}

static void test_duplicate_answered_from_cache(void **state)
{
	(void)state;
	struct world w;
	uint8_t res[64];
	size_t len;
	struct core_status st;
	world_init(&w, AUTH_MODE_SIG, 128);
	step(&w, EV_START, NULL);
	submit(&w, 0, 5, "k", "v");
	expect_reply(&w, 0, 5, res, sizeof(res), &len);

	/* Same timestamp, even with another operation: the cached result, no execution,
	 * nothing persisted. */
	submit(&w, 0, 5, "k", "other");
	assert_int_equal(w.fx.n_persists, 0);
	assert_int_equal(w.fx.n_execs, 0);
	expect_reply(&w, 0, 5, res, sizeof(res), &len);
	assert_int_equal(len, 1);
	assert_int_equal(res[0], KV_OK);
	status(&w, &st);
	assert_int_equal(st.requests_executed, 1);
	assert_int_equal(st.last_executed, 1);

	submit(&w, 0, 6, "k", NULL);
	expect_reply(&w, 0, 6, res, sizeof(res), &len);
	assert_int_equal(len, 2);
	assert_int_equal(res[1], 'v'); /* "other" was never written */

	/* An older timestamp is stale: ignored entirely. */
	submit(&w, 0, 5, "k", "v");
	assert_int_equal(w.fx.n_sends + w.fx.n_persists + w.fx.n_execs, 0);
	status(&w, &st);
	assert_int_equal(st.requests_executed, 2);
	world_free(&w);
}

static void test_ignores_other_events(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, AUTH_MODE_SIG, 128);
	step(&w, EV_START, NULL);
	struct buf b;
	buf_init(&b);
	uint8_t d[WIRE_DIGEST_LEN] = {1};
	size_t off = wire_put_digest(&b, MSG_PREPARE, CLUSTER, 0, 0, 1, d);
	assert_int_equal(auth_seal(&w.replica_auth, &b, off), 0);
	struct msg m;
	assert_int_equal(wire_decode(b.p, b.len, CLUSTER, &m), WIRE_OK);
	step(&w, EV_MSG, &m);
	assert_int_equal(w.fx.n_sends + w.fx.n_persists + w.fx.n_execs, 0);
	step(&w, EV_TICK, NULL);
	assert_int_equal(w.fx.n_sends + w.fx.n_persists + w.fx.n_execs, 0);
	assert_int_equal(w.fx.timer_ms, 0);
	buf_free(&b);
	world_free(&w);
}

static void test_create_refuses_replicated_config(void **state)
{
	(void)state;
	struct core_config cc = {.protocol = PROTO_SINGLE,
				 .n = 4,
				 .f = 1,
				 .id = 0,
				 .max_clients = CLIENTS,
				 .kv_max_bytes = 1 << 20};
	assert_null(single_core_ops.create(&cc));
	cc.n = 1;
	cc.id = 1;
	assert_null(single_core_ops.create(&cc));
}

static void test_checkpoint(void **state)
{
	(void)state;
	struct world w;
	struct core_status st;
	world_init(&w, AUTH_MODE_SIG, 4);
	step(&w, EV_START, NULL);
	status(&w, &st);
	uint8_t empty[WIRE_DIGEST_LEN];
	memcpy(empty, st.state_digest, sizeof(empty));

	/* The same requests executed on a bare exec_state give the expected digest. */
	struct exec_state x;
	assert_int_equal(exec_init(&x, CLIENTS, KV_DEFAULT_MAX_BYTES), 0);
	for (uint64_t i = 1; i <= 4; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%llu", (unsigned long long)i);
		struct req r;
		const uint8_t *res;
		uint32_t rl;
		make_req(&w, &r, (uint32_t)(i % CLIENTS), i, k, "val");
		assert_int_equal(exec_request(&x, &r.m, &res, &rl), EXEC_NEW);
		step(&w, EV_MSG, &r.m);
		buf_free(&r.raw);
		if (i < 4)
			assert_int_equal(w.fx.n_persists, 1);
	}
	assert_int_equal(w.fx.n_persists, 4);
	const struct persist *p = w.fx.persists;
	assert_int_equal(p[0].op, P_PUT);
	assert_int_equal(p[0].kind, 1);
	assert_int_equal(p[0].key, 4);
	assert_int_equal(p[1].op, P_PUT);
	assert_int_equal(p[1].kind, 2);
	assert_int_equal(p[1].key, 4);
	assert_int_equal(p[2].op, P_DEL_BELOW);
	assert_int_equal(p[2].kind, 1);
	assert_int_equal(p[2].key, 5);
	assert_int_equal(p[3].op, P_DEL_BELOW);
	assert_int_equal(p[3].kind, 2);
	assert_int_equal(p[3].key, 4);
	assert_int_equal(w.fx.n_sends, 1); /* the reply still goes out */

	uint8_t want[WIRE_DIGEST_LEN];
	exec_digest(&x, want);
	status(&w, &st);
	assert_int_equal(st.stable_checkpoint, 4);
	assert_int_equal(st.last_executed, 4);
	assert_memory_equal(st.state_digest, want, WIRE_DIGEST_LEN);
	assert_memory_not_equal(st.state_digest, empty, WIRE_DIGEST_LEN);

	/* the snapshot record is exactly the exec snapshot */
	struct buf snap;
	buf_init(&snap);
	exec_snapshot(&x, &snap);
	assert_int_equal(p[1].len, snap.len);
	assert_memory_equal(w.fx.arena.p + p[1].off, snap.p, snap.len);
	buf_free(&snap);
	exec_free(&x);
	world_free(&w);
}

/* ---- a toy store: enough of store.h's semantics to recover from ---- */

struct rec {
	uint8_t kind;
	uint64_t key;
	uint8_t *val;
	size_t len;
};

struct toy_store {
	struct rec r[64];
	size_t n;
};

static void toy_del(struct toy_store *t, size_t i)
{
	free(t->r[i].val);
	t->r[i] = t->r[--t->n];
}

static void toy_apply(struct toy_store *t, const struct effects *fx)
{
	for (size_t i = 0; i < fx->n_persists; i++) {
		const struct persist *p = &fx->persists[i];
		for (size_t j = t->n; j-- > 0;) {
			int same = t->r[j].kind == p->kind;
			if (same &&
			    (p->op == P_DEL_BELOW ? t->r[j].key < p->key : t->r[j].key == p->key))
				toy_del(t, j);
		}
		if (p->op != P_PUT)
			continue;
		assert_true(t->n < 64);
		struct rec *r = &t->r[t->n++];
		r->kind = p->kind;
		r->key = p->key;
		r->len = p->len;
		r->val = malloc(p->len ? p->len : 1);
		memcpy(r->val, fx->arena.p + p->off, p->len);
	}
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Feed every record in (kind, key) order, as the driver does with store_iterate. */
static void toy_recover(struct toy_store *t, struct world *w)
{
	qsort(t->r, t->n, sizeof(t->r[0]), rec_cmp);
	for (size_t i = 0; i < t->n; i++)
		assert_int_equal(single_core_ops.recover(w->core, t->r[i].kind, t->r[i].key,
							 t->r[i].val, t->r[i].len),
				 0);
}

static void toy_free(struct toy_store *t)
{
	while (t->n)
		toy_del(t, 0);
}

static void test_recover(void **state)
{
	(void)state;
	struct world a, b;
	struct toy_store t = {.n = 0};
	struct core_status sa, sb;
	uint8_t res[64];
	size_t len;
	world_init(&a, AUTH_MODE_SIG, 4);
	step(&a, EV_START, NULL);
	toy_apply(&t, &a.fx);
	/* 6 requests: a snapshot at 4, then 5 and 6 in the log */
	for (uint64_t i = 1; i <= 6; i++) {
		char v[8];
		snprintf(v, sizeof(v), "v%llu", (unsigned long long)i);
		submit(&a, (uint32_t)(i % 2), 100 + i, i % 3 ? "k" : "j", v);
		toy_apply(&t, &a.fx);
	}
	assert_int_equal(t.n, 3); /* snapshot 4 + requests 5, 6 */
	status(&a, &sa);

	world_init(&b, AUTH_MODE_SIG, 4);
	toy_recover(&t, &b);
	step(&b, EV_START, NULL);
	assert_int_equal(b.fx.n_sends, 0); /* replay sends no replies */
	status(&b, &sb);
	assert_int_equal(sb.last_executed, 6);
	assert_int_equal(sb.stable_checkpoint, 4);
	assert_memory_equal(sb.state_digest, sa.state_digest, WIRE_DIGEST_LEN);

	/* request 6 (client 0, ts 106) is answered from the recovered client table */
	submit(&b, 0, 106, "k", "v6");
	assert_int_equal(b.fx.n_persists, 0);
	expect_reply(&b, 0, 106, res, sizeof(res), &len);
	assert_int_equal(res[0], KV_OK);
	/* ... and state continues: k = v5 (seq 5), new requests get seq 7 */
	submit(&b, 1, 200, "k", NULL);
	expect_reply(&b, 1, 200, res, sizeof(res), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(res + 1, "v5", 2);
	assert_int_equal(b.fx.persists[0].key, 7);

	/* a second crash right here: 7 is in the log, next to snapshot 4 */
	toy_apply(&t, &b.fx);
	struct world c;
	world_init(&c, AUTH_MODE_SIG, 4);
	toy_recover(&t, &c);
	step(&c, EV_START, NULL);
	status(&c, &sb);
	assert_int_equal(sb.last_executed, 7);
	assert_int_equal(sb.requests_executed, 3); /* 5, 6, 7 replayed */

	world_free(&c);
	world_free(&b);
	world_free(&a);
	toy_free(&t);
}

static void test_recover_refuses_garbage(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, AUTH_MODE_SIG, 4);
	uint8_t junk[16] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
	assert_int_not_equal(single_core_ops.recover(w.core, 2, 4, junk, sizeof(junk)), 0);
	assert_int_not_equal(single_core_ops.recover(w.core, 9, 1, junk, sizeof(junk)), 0);
	/* an undecodable logged request is skipped at replay, never a crash */
	assert_int_equal(single_core_ops.recover(w.core, 1, 1, junk, sizeof(junk)), 0);
	step(&w, EV_START, NULL);
	struct core_status st;
	status(&w, &st);
	assert_int_equal(st.requests_executed, 0);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_executes_sig),
		cmocka_unit_test(test_request_executes_mac),
		cmocka_unit_test(test_duplicate_answered_from_cache),
		cmocka_unit_test(test_ignores_other_events),
		cmocka_unit_test(test_create_refuses_replicated_config),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_recover),
		cmocka_unit_test(test_recover_refuses_garbage),
	};
	return cmocka_run_group_tests(tests, make_keys, remove_keys);
}
