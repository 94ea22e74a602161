/* kv.c - the replicated key-value state machine.
 *
 * A chained hash table keyed by FNV-1a.  The hash is fixed (no per-process seed) so
 * that every replica and every simulator run lays the table out identically; nothing
 * observable depends on that layout anyway, because snapshots and digests sort the
 * entries first.  A client can craft colliding keys (any hash with a public key
 * allows that); the damage is longer chains, bounded by max_bytes, and it slows every
 * replica alike without changing any result.
 *
 * Semantics beyond kv.h:
 *   - del of an absent key returns KV_NOT_FOUND (and changes nothing);
 *   - cas treats an absent key as an empty value, so cas(k, "", v) creates k;
 *   - bytes held = sum over entries of key + value + KV_ENTRY_OVERHEAD (so many tiny
 *     keys cannot hide the table's real memory cost); a put/cas that would push it above
 *     max_bytes returns KV_FULL and changes nothing;
 *   - an op with bytes after its last field is KV_BAD_OP (except null, whose
 *     padding is ignored);
 *   - max_bytes == 0 in kv_new means KV_DEFAULT_MAX_BYTES.
 * Running out of memory aborts: a replica that skipped an op would diverge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/kv.h"

#define KV_MIN_BUCKETS 64
#define KV_MAX_BUCKETS ((size_t)1 << 26)

/* One allocation per entry: the key, then the value. */
struct kv_ent {
	struct kv_ent *next;
	uint64_t hash;
	uint32_t vlen;
	uint16_t klen;
	uint8_t key[];
};

static inline uint8_t *ent_val(const struct kv_ent *e)
{
	return (uint8_t *)e->key + e->klen;
}

/* What an entry costs against max_bytes: its bytes plus the table and allocator
 * overhead, so a flood of tiny keys is bounded in real memory too. */
#define KV_CHARGE(klen, vlen) ((size_t)(klen) + (vlen) + KV_ENTRY_OVERHEAD)

struct kv {
	struct kv_ent **bucket;
	size_t nbucket; /* power of two */
	size_t count;
	size_t bytes; /* sum of KV_CHARGE over the entries */
	size_t max_bytes;
};

/* A parsed op; pointers into the op bytes. */
struct kv_op {
	uint8_t tag;
	const uint8_t *key, *a, *b;
	uint16_t klen;
	uint32_t alen, blen;
};

static void oom(size_t n)
{
	fprintf(stderr, "kv: out of memory (%zu bytes)\n", n);
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

static uint64_t kv_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

struct kv *kv_new(size_t max_bytes)
{
	struct kv *kv = calloc(1, sizeof(*kv));
	if (!kv)
		return NULL;
	kv->bucket = calloc(KV_MIN_BUCKETS, sizeof(*kv->bucket));
	if (!kv->bucket) {
		free(kv);
		return NULL;
	}
	kv->nbucket = KV_MIN_BUCKETS;
	kv->max_bytes = max_bytes ? max_bytes : KV_DEFAULT_MAX_BYTES;
	return kv;
}

static void free_chains(struct kv_ent **bucket, size_t nbucket)
{
	for (size_t i = 0; i < nbucket; i++) {
		struct kv_ent *e = bucket[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		bucket[i] = NULL;
	}
}

void kv_clear(struct kv *kv)
{
	free_chains(kv->bucket, kv->nbucket);
	kv->count = 0;
	kv->bytes = 0;
}

void kv_free(struct kv *kv)
{
	if (!kv)
		return;
	kv_clear(kv);
	free(kv->bucket);
	free(kv);
}

size_t kv_count(const struct kv *kv)
{
	return kv->count;
}

static struct kv_ent **find_slot(const struct kv *kv, const uint8_t *key, size_t klen, uint64_t h)
{
	struct kv_ent **pp = &kv->bucket[h & (kv->nbucket - 1)];
	for (; *pp; pp = &(*pp)->next) {
		struct kv_ent *e = *pp;
		if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
			break;
	}
	return pp; /* *pp is the entry, or NULL (then pp is where to link a new one) */
}

/* Double the bucket array when the load factor passes 1.  Failing to grow only
 * costs speed, so an allocation failure here is ignored. */
static void maybe_grow(struct kv *kv)
{
	if (kv->count <= kv->nbucket || kv->nbucket >= KV_MAX_BUCKETS)
		return;
	size_t n = kv->nbucket * 2;
	struct kv_ent **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < kv->nbucket; i++) {
		struct kv_ent *e = kv->bucket[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(kv->bucket);
	kv->bucket = nb;
	kv->nbucket = n;
}

/* Set key to val.  Returns KV_OK or KV_FULL (nothing changed). */
static int kv_set(struct kv *kv, const uint8_t *key, uint16_t klen, const uint8_t *val,
		  uint32_t vlen)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_ent **pp = find_slot(kv, key, klen, h);
	struct kv_ent *e = *pp;
	size_t old = e ? KV_CHARGE(klen, e->vlen) : 0;
	size_t need = (size_t)klen + vlen;
	if (kv->bytes - old + KV_CHARGE(klen, vlen) > kv->max_bytes)
		return KV_FULL;
	if (!e) {
		e = xmalloc(sizeof(*e) + need);
		e->hash = h;
		e->klen = klen;
		if (klen)
			memcpy(e->key, key, klen);
		e->next = NULL;
		*pp = e;
		kv->count++;
	} else if (e->vlen != vlen) {
		e = realloc(e, sizeof(*e) + need);
		if (!e)
			oom(sizeof(*e) + need);
		*pp = e;
	}
	e->vlen = vlen;
	if (vlen)
		memcpy(ent_val(e), val, vlen);
	kv->bytes = kv->bytes - old + KV_CHARGE(klen, vlen);
	maybe_grow(kv);
	return KV_OK;
}

static const struct kv_ent *kv_lookup(const struct kv *kv, const uint8_t *key, size_t klen)
{
	return *find_slot(kv, key, klen, kv_hash(key, klen));
}

static int kv_remove(struct kv *kv, const uint8_t *key, size_t klen)
{
	struct kv_ent **pp = find_slot(kv, key, klen, kv_hash(key, klen));
	struct kv_ent *e = *pp;
	if (!e)
		return KV_NOT_FOUND;
	*pp = e->next;
	kv->bytes -= KV_CHARGE(e->klen, e->vlen);
	kv->count--;
	free(e);
	return KV_OK;
}

/* ---- op parsing ---- */

static int parse_key(struct cursor *c, struct kv_op *op)
{
	op->klen = cur_u16(c);
	if (!c->ok || op->klen > KV_MAX_KEY)
		return -1;
	op->key = cur_bytes(c, op->klen);
	return c->ok ? 0 : -1;
}

static int parse_val(struct cursor *c, const uint8_t **v, uint32_t *vlen)
{
	*vlen = cur_u32(c);
	if (!c->ok || *vlen > KV_MAX_VAL)
		return -1;
	*v = cur_bytes(c, *vlen);
	return c->ok ? 0 : -1;
}

/* Returns 0 and fills *op for a well-formed op, -1 otherwise. */
static int parse_op(const uint8_t *p, size_t len, struct kv_op *op)
{
	struct cursor c;
	memset(op, 0, sizeof(*op));
	if (!p || len == 0)
		return -1;
	cur_init(&c, p, len);
	op->tag = cur_u8(&c);
	switch (op->tag) {
	case 'N': return 0;
	case 'G':
	case 'D':
		if (parse_key(&c, op))
			return -1;
		break;
	case 'P':
		if (parse_key(&c, op) || parse_val(&c, &op->a, &op->alen))
			return -1;
		break;
	case 'C':
		if (parse_key(&c, op) || parse_val(&c, &op->a, &op->alen) ||
		    parse_val(&c, &op->b, &op->blen))
			return -1;
		break;
	default: return -1;
	}
	return c.off == len ? 0 : -1;
}

int kv_op_is_readonly(const uint8_t *op, size_t op_len)
{
	struct kv_op o;
	if (parse_op(op, op_len, &o))
		return 1;
	return o.tag == 'G';
}

static int exec_cas(struct kv *kv, const struct kv_op *op, struct buf *out)
{
	const struct kv_ent *e = kv_lookup(kv, op->key, op->klen);
	const uint8_t *cur = e ? ent_val(e) : NULL;
	uint32_t clen = e ? e->vlen : 0;
	if (clen != op->alen || (clen && memcmp(cur, op->a, clen))) {
		buf_put_u8(out, KV_CAS_FAILED);
		if (clen)
			buf_put(out, cur, clen);
		return KV_CAS_FAILED;
	}
	int st = kv_set(kv, op->key, op->klen, op->b, op->blen);
	buf_put_u8(out, (uint8_t)st);
	return st;
}

int kv_execute(struct kv *kv, const uint8_t *op, size_t op_len, struct buf *out)
{
	struct kv_op o;
	const struct kv_ent *e;
	int st;

	if (parse_op(op, op_len, &o)) {
		buf_put_u8(out, KV_BAD_OP);
		return KV_BAD_OP;
	}
	switch (o.tag) {
	case 'G':
		e = kv_lookup(kv, o.key, o.klen);
		buf_put_u8(out, e ? KV_OK : KV_NOT_FOUND);
		if (e)
			buf_put(out, ent_val(e), e->vlen);
		return e ? KV_OK : KV_NOT_FOUND;
	case 'P': st = kv_set(kv, o.key, o.klen, o.a, o.alen); break;
	case 'D': st = kv_remove(kv, o.key, o.klen); break;
	case 'C': return exec_cas(kv, &o, out);
	default: /* 'N' */ st = KV_OK; break;
	}
	buf_put_u8(out, (uint8_t)st);
	return st;
}

/* ---- sorted views: snapshot and digest ---- */

static int ent_cmp(const void *a, const void *b)
{
	const struct kv_ent *x = *(const struct kv_ent *const *)a;
	const struct kv_ent *y = *(const struct kv_ent *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int r = n ? memcmp(x->key, y->key, n) : 0;
	if (r)
		return r;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* All entries sorted by key; caller frees. */
static struct kv_ent **sorted_entries(const struct kv *kv)
{
	struct kv_ent **v = xmalloc(kv->count * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < kv->nbucket; i++)
		for (struct kv_ent *e = kv->bucket[i]; e; e = e->next)
			v[n++] = e;
	if (n > 1)
		qsort(v, n, sizeof(*v), ent_cmp);
	return v;
}

void kv_snapshot(const struct kv *kv, struct buf *out)
{
	struct kv_ent **v = sorted_entries(kv);
	buf_put_u32(out, (uint32_t)kv->count);
	for (size_t i = 0; i < kv->count && !out->err; i++) {
		buf_put_u16(out, v[i]->klen);
		buf_put(out, v[i]->key, v[i]->klen);
		buf_put_u32(out, v[i]->vlen);
		buf_put(out, ent_val(v[i]), v[i]->vlen);
	}
	free(v);
}

/* Streams exactly the snapshot bytes into the hash, so the digest is defined for
 * states larger than a struct buf may hold. */
void kv_digest(const struct kv *kv, uint8_t out[WIRE_DIGEST_LEN])
{
	struct kv_ent **v = sorted_entries(kv);
	struct digest_ctx ctx;
	uint8_t hdr[6];

	crypto_digest_init(&ctx);
	set_u32(hdr, (uint32_t)kv->count);
	crypto_digest_update(&ctx, hdr, 4);
	for (size_t i = 0; i < kv->count; i++) {
		/* sorted_entries filled all kv->count entries (the analyzer cannot tell) */
		set_u16(hdr, v[i]->klen); // NOLINT(clang-analyzer-core.NullDereference)
		crypto_digest_update(&ctx, hdr, 2);
		crypto_digest_update(&ctx, v[i]->key, v[i]->klen);
		set_u32(hdr, v[i]->vlen);
		crypto_digest_update(&ctx, hdr, 4);
		crypto_digest_update(&ctx, ent_val(v[i]), v[i]->vlen);
	}
	crypto_digest_final(&ctx, out);
	free(v);
}

/* Is key a strictly greater than key b (snapshot order)? */
static int key_after(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;
	return r > 0 || (r == 0 && alen > blen);
}

/* Pass 1 of restore: check everything without allocating per entry. */
static int restore_validate(const struct kv *kv, const uint8_t *p, size_t len, uint32_t *count)
{
	struct cursor c;
	const uint8_t *prev = NULL, *val;
	uint16_t prev_len = 0;
	uint32_t vlen;
	size_t bytes = 0;

	cur_init(&c, p, len);
	*count = cur_u32(&c);
	/* each entry takes at least 6 bytes: a count beyond that is a lie */
	if (!c.ok || *count > (len - 4) / 6)
		return -1;
	for (uint32_t i = 0; i < *count; i++) {
		struct kv_op o;
		if (parse_key(&c, &o) || parse_val(&c, &val, &vlen))
			return -1;
		if (i > 0 && !key_after(o.key, o.klen, prev, prev_len))
			return -1; /* duplicate or out of order */
		bytes += KV_CHARGE(o.klen, vlen);
		if (bytes > kv->max_bytes)
			return -1;
		prev = o.key;
		prev_len = o.klen;
	}
	return c.off == len ? 0 : -1;
}

int kv_restore(struct kv *kv, const uint8_t *p, size_t len)
{
	uint32_t count;
	if (!p || restore_validate(kv, p, len, &count))
		return -1;

	/* Pass 2: build the new state beside the old one, then swap. */
	struct kv *nkv = kv_new(kv->max_bytes);
	if (!nkv)
		return -1;
	struct cursor c;
	cur_init(&c, p, len);
	cur_u32(&c);
	for (uint32_t i = 0; i < count; i++) {
		struct kv_op o = {0};
		/* validated above, so neither parse can fail here */
		if (parse_key(&c, &o) || parse_val(&c, &o.a, &o.alen))
			break;
		kv_set(nkv, o.key, o.klen, o.a, o.alen);
	}
	kv_clear(kv);
	free(kv->bucket);
	*kv = *nkv;
	free(nkv);
	return 0;
}

/* ---- op builders ---- */

static int put_key(struct buf *b, uint8_t tag, const void *key, size_t klen)
{
	if (klen > KV_MAX_KEY || (klen && !key))
		return -1;
	buf_put_u8(b, tag);
	buf_put_u16(b, (uint16_t)klen);
	if (klen)
		buf_put(b, key, klen);
	return 0;
}

static void put_val(struct buf *b, const void *v, size_t n)
{
	buf_put_u32(b, (uint32_t)n);
	if (n)
		buf_put(b, v, n);
}

/* A value must fit the limit (callers also check that the whole op fits in one
 * REQUEST, WIRE_MAX_OP bytes). */
static int val_ok(const void *v, size_t n)
{
	return n <= KV_MAX_VAL && (n == 0 || v);
}

int kv_op_put(struct buf *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	if (!val_ok(val, vlen) || 1 + 2 + klen + 4 + vlen > WIRE_MAX_OP)
		return -1;
	if (put_key(b, 'P', key, klen))
		return -1;
	put_val(b, val, vlen);
	return b->err ? -1 : 0;
}

int kv_op_get(struct buf *b, const void *key, size_t klen)
{
	if (put_key(b, 'G', key, klen))
		return -1;
	return b->err ? -1 : 0;
}

int kv_op_del(struct buf *b, const void *key, size_t klen)
{
	if (put_key(b, 'D', key, klen))
		return -1;
	return b->err ? -1 : 0;
}

int kv_op_cas(struct buf *b, const void *key, size_t klen, const void *old, size_t olen,
	      const void *nw, size_t nlen)
{
	if (!val_ok(old, olen) || !val_ok(nw, nlen) ||
	    1 + 2 + klen + 4 + olen + 4 + nlen > WIRE_MAX_OP)
		return -1;
	if (put_key(b, 'C', key, klen))
		return -1;
	put_val(b, old, olen);
	put_val(b, nw, nlen);
	return b->err ? -1 : 0;
}

int kv_op_null(struct buf *b, size_t pad)
{
	static const uint8_t zeros[WIRE_MAX_OP];
	if (pad > WIRE_MAX_OP - 1)
		return -1;
	buf_put_u8(b, 'N');
	buf_put(b, zeros, pad);
	return b->err ? -1 : 0;
}
