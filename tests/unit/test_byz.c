/* test_byz.c - the lying layer: parsing, and what silent and equivocate make of an
 * honest core's effects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "replica/byz.h"
#include "replica/core/core.h"
#include "replica/kv.h"

#define N 4
#define CLUSTER 9

static void test_parse(void **state)
{
	(void)state;
	struct byz_cfg c;
	char err[160];
	assert_int_equal(byz_parse("silent", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, BYZ_SILENT);
	assert_int_equal(byz_parse("equivocate", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, BYZ_EQUIVOCATE);
	assert_int_equal(byz_parse("honest", &c, err, sizeof(err)), 0);
	/* unknown, stray or missing arguments */
	assert_int_equal(byz_parse("lie", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown"));
	assert_int_equal(byz_parse("silent:3", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("slow-primary", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("slow-primary:0", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("selective:1,", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("selective:99", &c, err, sizeof(err)), -1);
	assert_int_equal(byz_parse("", &c, err, sizeof(err)), -1);
	/* well-formed but not written yet: refused with a clear message */
	assert_int_equal(byz_parse("slow-primary:900", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not implemented"));
	assert_int_equal(byz_parse("selective:0,2", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not implemented"));
	assert_string_equal(byz_name(BYZ_FAKE_VIEW_CHANGE), "fake-view-change");
}

/* Honest effects of a primary's step: a persist, a PRE-PREPARE of two requests to
 * all, a REPLY, an exec note and a timer. */
static void honest_step(struct auth_ctx *auth, struct effects *e, uint16_t nreq)
{
	struct buf op, req;
	buf_init(&op);
	buf_init(&req);
	const uint8_t *r[2];
	uint32_t rl[2];
	size_t offs[2];
	for (uint16_t i = 0; i < nreq; i++) {
		buf_reset(&op);
		assert_int_equal(kv_op_put(&op, "k", 1, i ? "b" : "a", 1), 0);
		struct auth_ctx ca = {.mode = AUTH_MODE_NONE, .n = N, .self_is_client = 1, .self = i};
		offs[i] = wire_put_request(&req, CLUSTER, i, 7, 0, op.p, (uint32_t)op.len);
		assert_int_equal(auth_seal(&ca, &req, offs[i]), 0);
	}
	for (uint16_t i = 0; i < nreq; i++) {
		r[i] = req.p + offs[i];
		rl[i] = (uint32_t)((i + 1 < nreq ? offs[i + 1] : req.len) - offs[i]);
	}
	effects_persist(e, P_PUT, 3, 5, "log", 3);
	size_t off = wire_put_preprepare(&e->arena, CLUSTER, 0, 2, 5, nreq, r, rl);
	assert_int_equal(auth_seal(auth, &e->arena, off), 0);
	effects_send(e, TO_OTHERS, 0, off);
	off = wire_put_reply(&e->arena, CLUSTER, 0, 2, 1, 7, (const uint8_t *)"\0", 1);
	assert_int_equal(auth_seal(auth, &e->arena, off), 0);
	effects_send(e, TO_CLIENT, 1, off);
	uint8_t d[WIRE_DIGEST_LEN] = {1};
	effects_exec(e, 4, 2, d, 1);
	e->timer_ms = 1234;
	buf_free(&op);
	buf_free(&req);
}

struct fixture {
	struct auth_ctx auth;
	struct effects honest, out;
	struct byz b;
};

static int setup(void **state)
{
	static struct fixture fx;
	memset(&fx, 0, sizeof(fx));
	fx.auth = (struct auth_ctx){.mode = AUTH_MODE_NONE, .n = N, .n_clients = 16, .self = 0};
	effects_init(&fx.honest);
	effects_init(&fx.out);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	effects_free(&fx->honest);
	effects_free(&fx->out);
	byz_free(&fx->b);
	return 0;
}

static void start(struct fixture *fx, const char *spec)
{
	struct byz_cfg c;
	char err[160];
	assert_int_equal(byz_parse(spec, &c, err, sizeof(err)), 0);
	assert_int_equal(byz_init(&fx->b, &c, N, 0, CLUSTER, 42), 0);
}

/* persists, exec notes and the timer pass untouched */
static void assert_unchanged(const struct effects *h, const struct effects *o)
{
	assert_int_equal(o->n_persists, h->n_persists);
	assert_int_equal(o->persists[0].key, h->persists[0].key);
	assert_memory_equal(o->arena.p + o->persists[0].off, h->arena.p + h->persists[0].off,
			    h->persists[0].len);
	assert_int_equal(o->n_execs, 1);
	assert_int_equal(o->execs[0].seq, 4);
	assert_int_equal(o->timer_ms, 1234);
}

static void test_silent(void **state)
{
	struct fixture *fx = *state;
	start(fx, "silent");
	honest_step(&fx->auth, &fx->honest, 2);
	assert_int_equal(byz_filter(&fx->b, &fx->auth, &fx->honest, 10, &fx->out), 0);
	assert_int_equal(fx->out.n_sends, 0);
	assert_unchanged(&fx->honest, &fx->out);
}

static void test_honest_passes_through(void **state)
{
	struct fixture *fx = *state;
	start(fx, "honest");
	honest_step(&fx->auth, &fx->honest, 2);
	assert_int_equal(byz_filter(&fx->b, &fx->auth, &fx->honest, 10, &fx->out), 0);
	assert_int_equal(fx->out.n_sends, 2);
	assert_int_equal(fx->out.sends[0].to, TO_OTHERS);
	assert_memory_equal(fx->out.arena.p + fx->out.sends[0].off,
			    fx->honest.arena.p + fx->honest.sends[0].off, fx->honest.sends[0].len);
}

/* Decode the PRE-PREPARE sent to replica `to`; returns its body digest. */
static void pp_to(const struct effects *e, int32_t to, struct msg *m, uint8_t d[WIRE_DIGEST_LEN])
{
	for (size_t i = 0; i < e->n_sends; i++) {
		const struct send *s = &e->sends[i];
		if (s->to != to)
			continue;
		assert_int_equal(wire_decode(e->arena.p + s->off, s->len, CLUSTER, m), WIRE_OK);
		assert_int_equal(m->h.type, MSG_PREPREPARE);
		crypto_digest(m->body, m->h.body_len, d);
		return;
	}
	fail_msg("no pre-prepare to %d", to);
}

static void check_equivocation(struct fixture *fx, uint16_t nreq)
{
	start(fx, "equivocate");
	honest_step(&fx->auth, &fx->honest, nreq);
	assert_int_equal(byz_filter(&fx->b, &fx->auth, &fx->honest, 10, &fx->out), 0);
	/* one copy per backup, plus the untouched reply */
	assert_int_equal(fx->out.n_sends, N - 1 + 1);
	struct msg m[N];
	uint8_t d[N][WIRE_DIGEST_LEN];
	for (int32_t j = 1; j < N; j++) {
		pp_to(&fx->out, j, &m[j], d[j]);
		assert_int_equal(m[j].h.view, 2); /* same view and sequence number */
		assert_int_equal(m[j].h.seq, 5);
		assert_int_equal(m[j].h.sender, 0);
		assert_int_equal(auth_verify(&fx->auth, &m[j]), 0); /* validly sealed */
	}
	/* seq 5 is odd: backups of rank 0 and 2 (replicas 1 and 3) get the other batch */
	assert_memory_not_equal(d[1], d[2], WIRE_DIGEST_LEN);
	assert_memory_equal(d[1], d[3], WIRE_DIGEST_LEN);
	assert_int_equal(m[2].u.pp.count, nreq);
	if (nreq == 2) {
		assert_int_equal(m[1].u.pp.count, 2); /* reversed */
		assert_int_equal(m[1].u.pp.req_len[0], m[2].u.pp.req_len[1]);
		assert_memory_equal(m[1].u.pp.req[0], m[2].u.pp.req[1], m[2].u.pp.req_len[1]);
	} else {
		assert_int_equal(m[1].u.pp.count, 0); /* emptied: the null request */
	}
	assert_int_equal(fx->out.sends[N - 1].to, TO_CLIENT);
	assert_unchanged(&fx->honest, &fx->out);
	assert_int_equal(fx->b.lies, 2);
}

static void test_equivocate_reorders(void **state)
{
	check_equivocation(*state, 2);
}

static void test_equivocate_empties(void **state)
{
	check_equivocation(*state, 1);
}

static void test_init_rejects_misfit(void **state)
{
	struct fixture *fx = *state;
	struct byz_cfg c = {.kind = BYZ_SILENT};
	assert_int_equal(byz_init(&fx->b, &c, N, N, CLUSTER, 1), -1); /* id >= n */
	c = (struct byz_cfg){.kind = BYZ_SELECTIVE, .peers = 1u << 5};
	assert_int_equal(byz_init(&fx->b, &c, N, 0, CLUSTER, 1), -1); /* peer >= n */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_honest_passes_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equivocate_reorders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equivocate_empties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_rejects_misfit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
