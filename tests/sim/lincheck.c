/* lincheck.c - is the client history linearizable?  (Wing & Gong's search with
 * Lowe's memoization, as in Porcupine/Knossos, one key at a time: a KV map is
 * linearizable iff each key is.)
 *
 * Each client runs one operation at a time, so the operations of one client on one
 * key are totally ordered in real time, and a search state is just "how many of each
 * client's operations are linearized" plus the key's value: small and hashable.  From
 * a state, the next operation of client c may be linearized next iff it was invoked
 * before every not-yet-linearized completed operation returned (otherwise that one
 * really precedes it), and the sequential model gives the result the client saw.
 * Pending operations (never completed) may take effect or not.  States already
 * explored without success are memoized; the search gives up (undecided) after
 * LIN_MAX_STATES states.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "replica/kv.h"
#include "tests/sim/sim.h"

#define LIN_MAX_STATES 2000000u

struct state {
	uint32_t cnt[SIM_MAX_CLIENTS];
	int32_t cur;
};

struct search {
	uint32_t nc;
	const struct hop **ops[SIM_MAX_CLIENTS];
	uint32_t n[SIM_MAX_CLIENTS];    /* this key's operations of client c */
	uint32_t need[SIM_MAX_CLIENTS]; /* ... of which completed */
	struct state s;
	struct state *memo; /* open addressing; cur == INT32_MIN: empty */
	size_t memo_cap, memo_n;
	uint64_t visits;
	bool undecided;
	uint32_t best_depth;
	struct state best;
};

static uint64_t state_hash(const struct search *x, const struct state *s)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uint32_t)s->cur;
	for (uint32_t c = 0; c < x->nc; c++)
		h = (h ^ s->cnt[c]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static bool state_eq(const struct search *x, const struct state *a, const struct state *b)
{
	return a->cur == b->cur && memcmp(a->cnt, b->cnt, x->nc * sizeof(a->cnt[0])) == 0;
}

static bool memo_has(const struct search *x, const struct state *s)
{
	if (!x->memo_cap)
		return false;
	size_t mask = x->memo_cap - 1;
	for (size_t i = state_hash(x, s) & mask; x->memo[i].cur != INT32_MIN; i = (i + 1) & mask)
		if (state_eq(x, &x->memo[i], s))
			return true;
	return false;
}

static void memo_add(struct search *x, const struct state *s)
{
	if ((x->memo_n + 1) * 2 > x->memo_cap) {
		struct state *old = x->memo;
		size_t old_cap = x->memo_cap;
		x->memo_cap = old_cap ? old_cap * 2 : 4096;
		x->memo = malloc(x->memo_cap * sizeof(*x->memo));
		if (!x->memo)
			abort();
		for (size_t i = 0; i < x->memo_cap; i++)
			x->memo[i].cur = INT32_MIN;
		x->memo_n = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].cur != INT32_MIN)
				memo_add(x, &old[i]);
		free(old);
	}
	size_t mask = x->memo_cap - 1;
	size_t i = state_hash(x, s) & mask;
	while (x->memo[i].cur != INT32_MIN)
		i = (i + 1) & mask;
	x->memo[i] = *s;
	x->memo_n++;
}

/* The sequential model of one key: apply o to value cur (-1: absent).  Returns false
 * if o's recorded result is impossible from cur; *next is the value after o. */
static bool apply(const struct hop *o, int32_t cur, int32_t *next)
{
	bool pending = o->complete_us == 0;
	*next = cur;
	switch (o->kind) {
	case OP_PUT: *next = o->a; return pending || o->status == KV_OK;
	case OP_GET:
		if (pending)
			return true;
		if (cur < 0)
			return o->status == KV_NOT_FOUND;
		return o->status == KV_OK && o->rval == cur;
	case OP_CAS:
		if (cur == o->a) {
			*next = o->b;
			return pending || o->status == KV_OK;
		}
		return pending || (o->status == KV_CAS_FAILED && o->rval == cur);
	default: return false;
	}
}

static bool done(const struct search *x)
{
	for (uint32_t c = 0; c < x->nc; c++)
		if (x->s.cnt[c] < x->need[c])
			return false;
	return true;
}

static bool dfs(struct search *x, uint32_t depth)
{
	if (done(x))
		return true;
	if (depth > x->best_depth) {
		x->best_depth = depth;
		x->best = x->s;
	}
	if (memo_has(x, &x->s))
		return false;
	if (++x->visits > LIN_MAX_STATES) {
		x->undecided = true;
		return false;
	}
	uint64_t minret = UINT64_MAX;
	for (uint32_t c = 0; c < x->nc; c++) {
		if (x->s.cnt[c] >= x->n[c])
			continue;
		const struct hop *o = x->ops[c][x->s.cnt[c]];
		if (o->complete_us && o->complete_us < minret)
			minret = o->complete_us;
	}
	for (uint32_t c = 0; c < x->nc && !x->undecided; c++) {
		if (x->s.cnt[c] >= x->n[c])
			continue;
		const struct hop *o = x->ops[c][x->s.cnt[c]];
		int32_t next, cur = x->s.cur;
		if (o->invoke_us > minret || !apply(o, cur, &next))
			continue;
		x->s.cnt[c]++;
		x->s.cur = next;
		if (dfs(x, depth + 1))
			return true;
		x->s.cnt[c]--;
		x->s.cur = cur;
	}
	memo_add(x, &x->s);
	return false;
}

static void describe(const struct world *w, const struct search *x, uint32_t key, char *why,
		     size_t len)
{
	static const char *const kinds[] = {"put", "get", "cas"};
	int n = snprintf(why, len,
			 "key k%u: no linearization; after %u operations (value %d) none of:", key,
			 x->best_depth, x->best.cur);
	for (uint32_t c = 0; c < x->nc && n > 0 && (size_t)n < len; c++) {
		if (x->best.cnt[c] >= x->n[c])
			continue;
		const struct hop *o = x->ops[c][x->best.cnt[c]];
		n += snprintf(why + n, len - (size_t)n,
			      " [c%u ts=%" PRIu64 " %s a=%d b=%d -> status %u val %d]", o->client,
			      o->ts, kinds[o->kind], o->a, o->b, o->status, o->rval);
	}
	(void)w;
}

static int check_key(const struct world *w, uint32_t key, char *why, size_t whylen)
{
	struct search x;
	memset(&x, 0, sizeof(x));
	x.nc = w->n_clients;
	x.s.cur = -1;
	for (uint32_t c = 0; c < x.nc; c++) {
		x.ops[c] = calloc(w->client[c].n_issued + 1, sizeof(*x.ops[c]));
		if (!x.ops[c])
			abort();
	}
	for (uint32_t i = 0; i < w->n_hist; i++) {
		const struct hop *h = &w->hist[i];
		if (h->key != key)
			continue;
		x.ops[h->client][x.n[h->client]++] = h;
		if (h->complete_us)
			x.need[h->client] = x.n[h->client];
	}
	int rc = dfs(&x, 0) ? 0 : x.undecided ? 2 : 1;
	if (rc == 1)
		describe(w, &x, key, why, whylen);
	for (uint32_t c = 0; c < x.nc; c++)
		free(x.ops[c]);
	free(x.memo);
	return rc;
}

int lincheck(const struct world *w, char *why, size_t whylen)
{
	int verdict = 0;
	for (uint32_t k = 0; k < w->n_keys; k++) {
		int rc = check_key(w, k, why, whylen);
		if (rc == 1)
			return 1;
		if (rc == 2)
			verdict = 2;
	}
	return verdict;
}
