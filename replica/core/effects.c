/* effects.c - the list of things a core asks its driver to do after one step. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/core.h"

/* Bound on entries per step: a step touches at most a window of slots, each with a
 * batch of replies and a broadcast, so this is never reached by an honest core. */
#define EFFECTS_MAX_ENTRIES (1u << 20)

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > EFFECTS_MAX_ENTRIES)
		return -1;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

void effects_init(struct effects *e)
{
	memset(e, 0, sizeof(*e));
	buf_init_limit(&e->arena, BUF_LIMIT_STATE); /* persists may carry snapshots */
}

void effects_free(struct effects *e)
{
	buf_free(&e->arena);
	free(e->sends);
	free(e->persists);
	free(e->execs);
	free(e->evidence);
	memset(e, 0, sizeof(*e));
}

void effects_reset(struct effects *e)
{
	buf_reset(&e->arena);
	e->n_sends = e->n_persists = e->n_execs = e->n_evidence = 0;
	e->timer_ms = 0;
}

void effects_send(struct effects *e, int32_t to, uint32_t client, size_t off)
{
	if (e->arena.err)
		return;
	/* off is where the caller began its message in this arena: never past its end */
	CORE_ASSERT(off <= e->arena.len);
	if (grow((void **)&e->sends, &e->cap_sends, e->n_sends + 1, sizeof(*e->sends))) {
		e->arena.err = WIRE_E_NOMEM;
		return;
	}
	e->sends[e->n_sends++] =
		(struct send){.to = to, .client = client, .off = off, .len = e->arena.len - off};
	CORE_ASSERT(to >= 0 || to == TO_OTHERS || to == TO_CLIENT);
}

void effects_persist(struct effects *e, uint8_t op, uint8_t kind, uint64_t key, const void *val,
		     size_t len)
{
	if (grow((void **)&e->persists, &e->cap_persists, e->n_persists + 1,
		 sizeof(*e->persists))) {
		e->arena.err = WIRE_E_NOMEM;
		return;
	}
	size_t off = e->arena.len;
	if (len)
		buf_put(&e->arena, val, len);
	if (e->arena.err)
		return;
	e->persists[e->n_persists++] =
		(struct persist){.op = op, .kind = kind, .key = key, .off = off, .len = len};
	CORE_ASSERT(off + len <= e->arena.len && off + len >= off);
	CORE_ASSERT(op == P_PUT || op == P_DEL || op == P_DEL_BELOW);
	CORE_ASSERT(op == P_PUT || len == 0); /* deletions carry no value */
}

void effects_exec(struct effects *e, uint64_t seq, uint64_t view,
		  const uint8_t digest[WIRE_DIGEST_LEN], uint32_t requests)
{
	if (grow((void **)&e->execs, &e->cap_execs, e->n_execs + 1, sizeof(*e->execs))) {
		e->arena.err = WIRE_E_NOMEM;
		return;
	}
	/* within a step, executions go up (one at a time, or a jump by state transfer) */
	CORE_ASSERT(e->n_execs == 0 || seq > e->execs[e->n_execs - 1].seq);
	struct exec_note *x = &e->execs[e->n_execs++];
	x->seq = seq;
	x->view = view;
	memcpy(x->digest, digest, WIRE_DIGEST_LEN);
	x->requests = requests;
}

void effects_evidence(struct effects *e, uint32_t accused, uint8_t kind, const void *proof,
		      size_t len)
{
	if (grow((void **)&e->evidence, &e->cap_evidence, e->n_evidence + 1,
		 sizeof(*e->evidence))) {
		e->arena.err = WIRE_E_NOMEM;
		return;
	}
	size_t off = e->arena.len;
	buf_put(&e->arena, proof, len);
	if (e->arena.err)
		return;
	CORE_ASSERT(accused < WIRE_MAX_REPLICAS && len > 0);
	e->evidence[e->n_evidence++] =
		(struct evidence_note){.accused = accused, .kind = kind, .off = off, .len = len};
}

int effects_failed(const struct effects *e)
{
	return e->arena.err != 0;
}

const struct core_ops *core_ops_for(enum protocol p)
{
	switch (p) {
	case PROTO_PBFT: return &pbft_core_ops;
	case PROTO_VR: return &vr_core_ops;
	case PROTO_SINGLE: return &single_core_ops;
	case PROTO_HOTSTUFF: return &hotstuff_core_ops;
	default: return NULL;
	}
}

uint8_t *core_dup(const void *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (copy && len)
		memcpy(copy, p, len);
	return copy;
}

bool core_may_start_batch(uint32_t waiting, uint32_t inflight, uint32_t batch_max,
			  uint32_t pipeline)
{
	if (waiting == 0)
		return false;
	if (inflight == 0)
		return true;
	uint32_t need = batch_max < CORE_PIPELINED_BATCH_MIN ? batch_max : CORE_PIPELINED_BATCH_MIN;
	return inflight < pipeline && waiting >= need;
}

uint64_t deadline_min(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}
