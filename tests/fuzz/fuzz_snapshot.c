/* fuzz_snapshot.c - state-transfer snapshots and recovered records.
 *
 * A snapshot arrives from another replica in state transfer (only its digest is
 * proven, by 2f+1 CHECKPOINTs, and a liar can send any bytes until then) and is read
 * back from our own LMDB log after a crash.  The first input byte selects:
 *   0: exec_restore (KV + client table), then exec_digest; if restore accepted the
 *      bytes, exec_snapshot must give them back unchanged (one state, one encoding,
 *      else correct replicas could disagree on a checkpoint digest);
 *   1: kv_restore alone, then kv_digest / kv_snapshot round trip, same rule;
 *   2, 3: the rest is a list of persisted records (kind u8 | key u64 | len u32 | val),
 *      sorted into (kind, key) order as store_iterate() delivers them, fed to
 *      pbft_core_ops.recover (2) or single_core_ops.recover (3) until one fails (a
 *      replica stops there), then EV_START and a few EV_TICKs, then status.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/core/core.h"
#include "replica/core/exec.h"
#include "replica/kv.h"
#include "tests/fuzz/fuzz_common.h"

#define FZ_MAX_CLIENTS 16
#define FZ_KV_BYTES (1u << 20)
#define FZ_MAX_RECORDS 64
#define REC_HDR 13

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_dir();
	return 0;
}

static void same_bytes(const struct buf *b, const uint8_t *p, size_t len)
{
	FZ_ASSERT(b->err == 0);
	FZ_ASSERT(b->len == len);
	FZ_ASSERT(len == 0 || memcmp(b->p, p, len) == 0);
}

static void fuzz_exec(const uint8_t *p, size_t len)
{
	struct exec_state x;
	uint8_t before[WIRE_DIGEST_LEN], after[WIRE_DIGEST_LEN];

	if (exec_init(&x, FZ_MAX_CLIENTS, FZ_KV_BYTES) != 0)
		abort();
	exec_digest(&x, before);
	if (exec_restore(&x, p, len) == 0) {
		struct buf b;
		buf_init_limit(&b, BUF_LIMIT_STATE);
		exec_snapshot(&x, &b);
		same_bytes(&b, p, len);
		buf_free(&b);
		exec_digest(&x, after);
		uint8_t d[WIRE_DIGEST_LEN];
		crypto_digest(p, len, d);
		FZ_ASSERT(memcmp(d, after, sizeof(d)) == 0);
	} else {
		/* "on error the state is unchanged" */
		exec_digest(&x, after);
		FZ_ASSERT(memcmp(before, after, sizeof(before)) == 0);
	}
	exec_free(&x);
}

static void fuzz_kv(const uint8_t *p, size_t len)
{
	struct kv *kv = kv_new(FZ_KV_BYTES);
	uint8_t before[WIRE_DIGEST_LEN], after[WIRE_DIGEST_LEN];
	struct buf b;

	if (!kv)
		abort();
	/* a non-empty state first, so "unchanged on error" means something */
	buf_init_limit(&b, BUF_LIMIT_STATE);
	kv_op_put(&b, "k", 1, "v", 1);
	struct buf res;
	buf_init(&res);
	kv_execute(kv, b.p, b.len, &res);
	buf_free(&res);
	buf_reset(&b);
	kv_digest(kv, before);
	size_t count = kv_count(kv);
	if (kv_restore(kv, p, len) == 0) {
		kv_snapshot(kv, &b);
		same_bytes(&b, p, len);
		FZ_ASSERT(kv_count(kv) == get_u32(p));
	} else {
		kv_digest(kv, after);
		FZ_ASSERT(memcmp(before, after, sizeof(before)) == 0);
		FZ_ASSERT(kv_count(kv) == count);
	}
	buf_free(&b);
	kv_free(kv);
}

struct rec {
	uint8_t kind;
	uint64_t key;
	const uint8_t *val;
	uint32_t len;
	uint32_t order; /* position in the input: the later of two equal keys wins */
};

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Parse, sort, and drop all but the last of equal (kind, key): LMDB keeps one value. */
static size_t parse_records(const uint8_t *p, size_t len, struct rec *r)
{
	size_t n = 0, off = 0;
	while (n < FZ_MAX_RECORDS && len - off >= REC_HDR) {
		r[n].kind = p[off];
		r[n].key = get_u64(p + off + 1);
		uint32_t l = get_u32(p + off + 9);
		off += REC_HDR;
		if (l > len - off)
			l = (uint32_t)(len - off);
		r[n].val = p + off;
		r[n].len = l;
		r[n].order = (uint32_t)n;
		off += l;
		n++;
	}
	qsort(r, n, sizeof(*r), rec_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && r[k - 1].kind == r[i].kind && r[k - 1].key == r[i].key)
			k--;
		r[k++] = r[i];
	}
	return k;
}

static void fuzz_recover(const struct core_ops *ops, enum protocol proto, const uint8_t *p,
			 size_t len, uint8_t sel)
{
	struct rec r[FZ_MAX_RECORDS];
	uint32_t n = proto == PROTO_PBFT ? 4 : 1;
	enum auth_mode mode = (sel >> 2) % 3 == 2 ? AUTH_MODE_MAC : AUTH_MODE_SIG;
	struct core_config cc = {.protocol = proto,
				 .n = n,
				 .f = proto == PROTO_PBFT ? 1 : 0,
				 .id = (sel >> 4) % n,
				 .cluster_id = FZ_CLUSTER,
				 .batch_max = 8,
				 .window = 16,
				 .checkpoint_interval = 4,
				 .view_timeout_ms = 100,
				 .max_clients = FZ_MAX_CLIENTS,
				 .kv_max_bytes = FZ_KV_BYTES,
				 .auth = NULL,
				 .plant_bugs = 0};
	cc.auth = fz_auth(mode, n, 0, cc.id);

	void *core = ops->create(&cc);
	if (!core)
		abort();
	size_t nr = parse_records(p, len, r);
	int ok = 1;
	for (size_t i = 0; i < nr && ok; i++)
		ok = ops->recover(core, r[i].kind, r[i].key, r[i].val, r[i].len) == 0;
	if (ok) {
		struct effects fx;
		struct core_status st;
		effects_init(&fx);
		struct event ev = {.kind = EV_START, .now_ms = 1000, .m = NULL};
		ops->step(core, &ev, &fx);
		for (int t = 0; t < 4; t++) {
			ev.kind = EV_TICK;
			ev.now_ms = fx.timer_ms > ev.now_ms ? fx.timer_ms : ev.now_ms + 50;
			effects_reset(&fx);
			ops->step(core, &ev, &fx);
		}
		ops->status(core, &st);
		effects_free(&fx);
	}
	ops->destroy(core);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* a copy of exactly the right size: ASan sees any read past the end */
	uint8_t *p = malloc(size - 1 ? size - 1 : 1);
	if (!p)
		abort();
	memcpy(p, data + 1, size - 1);
	switch (data[0] & 3) {
	case 0: fuzz_exec(p, size - 1); break;
	case 1: fuzz_kv(p, size - 1); break;
	case 2: fuzz_recover(&pbft_core_ops, PROTO_PBFT, p, size - 1, data[0]); break;
	default: fuzz_recover(&single_core_ops, PROTO_SINGLE, p, size - 1, data[0]); break;
	}
	free(p);
	return 0;
}
