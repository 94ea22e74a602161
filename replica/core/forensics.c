/* forensics.c - transcripts, the CCS'21 analysis for PBFT, and its proofs (see
 * forensics.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/forensics.h"

const char *forensic_kind_name(int kind)
{
	switch (kind) {
	case FORENSIC_EQUIVOCATION: return "equivocation";
	case FORENSIC_OMISSION: return "omission";
	default: return "none";
	}
}

/* ---- transcripts ---- */

void transcript_init(struct transcript *t, uint32_t cluster_id)
{
	memset(t, 0, sizeof(*t));
	t->cluster_id = cluster_id;
}

void transcript_free(struct transcript *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].raw);
	free(t->e);
	free(t->idx);
	memset(t, 0, sizeof(*t));
}

static bool same_entry(const struct tx_entry *e, uint8_t type, uint8_t flags, uint32_t sender,
		       uint64_t view, uint64_t seq, const uint8_t *digest)
{
	return e->type == type && e->flags == flags && e->sender == sender && e->view == view &&
	       e->seq == seq && memcmp(e->digest, digest, WIRE_DIGEST_LEN) == 0;
}

/* Dedup.  An index of the entries by what identifies one (a hash table, open
 * addressing): a lookup costs the same whatever the transcript holds.  Without its
 * memory, a backwards search over a bounded tail (newest entries are the likeliest
 * duplicates: retransmissions). */
#define DEDUP_TAIL 4096
#define IDX_MIN 1024

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static size_t entry_hash(uint8_t type, uint8_t flags, uint32_t sender, uint64_t view, uint64_t seq,
			 const uint8_t *digest)
{
	uint64_t d;
	memcpy(&d, digest, sizeof(d));
	uint64_t h = (uint64_t)type | (uint64_t)flags << 8 | (uint64_t)sender << 16;
	h = mix(h ^ mix(view + 0x9e3779b97f4a7c15ull));
	h = mix(h ^ mix(seq + 0xc2b2ae3d27d4eb4full));
	return (size_t)mix(h ^ d);
}

static void idx_insert(struct transcript *t, size_t i)
{
	const struct tx_entry *e = &t->e[i];
	size_t mask = t->idx_cap - 1;
	size_t k = entry_hash(e->type, e->flags, e->sender, e->view, e->seq, e->digest) & mask;
	while (t->idx[k])
		k = (k + 1) & mask;
	t->idx[k] = (uint32_t)(i + 1);
}

/* (Re)build the index for at least `n` entries; without memory, drop it. */
static void idx_rebuild(struct transcript *t, size_t n)
{
	size_t cap = IDX_MIN;
	while (cap < 2 * n)
		cap *= 2;
	if (cap != t->idx_cap || !t->idx) {
		free(t->idx);
		t->idx = calloc(cap, sizeof(*t->idx));
		t->idx_cap = t->idx ? cap : 0;
		if (!t->idx)
			return;
	} else {
		memset(t->idx, 0, cap * sizeof(*t->idx));
	}
	for (size_t i = 0; i < t->n; i++)
		idx_insert(t, i);
}

static bool have_entry(const struct transcript *t, uint8_t type, uint8_t flags, uint32_t sender,
		       uint64_t view, uint64_t seq, const uint8_t *digest)
{
	if (t->idx) {
		size_t mask = t->idx_cap - 1;
		size_t k = entry_hash(type, flags, sender, view, seq, digest) & mask;
		for (; t->idx[k]; k = (k + 1) & mask)
			if (same_entry(&t->e[t->idx[k] - 1], type, flags, sender, view, seq,
				       digest))
				return true;
		return false;
	}
	size_t stop = t->n > DEDUP_TAIL ? t->n - DEDUP_TAIL : 0;
	for (size_t i = t->n; i > stop; i--)
		if (same_entry(&t->e[i - 1], type, flags, sender, view, seq, digest))
			return true;
	return false;
}

static int add_entry(struct transcript *t, uint8_t type, uint8_t flags, uint32_t sender,
		     uint64_t view, uint64_t seq, const uint8_t *digest, const uint8_t *raw,
		     size_t len)
{
	if (have_entry(t, type, flags, sender, view, seq, digest))
		return 0;
	if (t->n >= TRANSCRIPT_MAX || t->bytes + len > TRANSCRIPT_MAX_BYTES) {
		t->dropped++;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct tx_entry *e = realloc(t->e, cap * sizeof(*e));
		if (!e)
			return 0;
		t->e = e;
		t->cap = cap;
	}
	uint8_t *copy = malloc(len);
	if (!copy)
		return 0;
	memcpy(copy, raw, len);
	t->bytes += len;
	struct tx_entry *e = &t->e[t->n++];
	*e = (struct tx_entry){.type = type,
			       .flags = flags,
			       .sender = sender,
			       .view = view,
			       .seq = seq,
			       .raw = copy,
			       .len = (uint32_t)len};
	memcpy(e->digest, digest, WIRE_DIGEST_LEN);
	if (2 * t->n > t->idx_cap)
		idx_rebuild(t, t->n); /* first entry, or half full: twice the size */
	else if (t->idx)
		idx_insert(t, t->n - 1);
	return 1;
}

/* A signed statement: header | digest | signature (evidence.h). */
static int add_stmt(struct transcript *t, const uint8_t *p, size_t len)
{
	struct evidence_stmt st;
	if (evidence_stmt_parse(p, len, t->cluster_id, &st) != 0 || st.h.auth_kind != AUTH_SIG)
		return 0;
	return add_entry(t, st.h.type, st.h.flags, st.h.sender, st.h.view, st.h.seq, st.digest, p,
			 len);
}

static int add_preprepare(struct transcript *t, const struct msg *m)
{
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t cpp[WIRE_CPP_LEN_MIN + WIRE_SIG_LEN];
	if (m->h.auth_kind != AUTH_SIG || m->h.auth_len != WIRE_SIG_LEN)
		return 0;
	crypto_digest(m->body, m->h.body_len, digest);
	memcpy(cpp, m->raw, WIRE_HDR_LEN);
	memcpy(cpp + WIRE_HDR_LEN, digest, WIRE_DIGEST_LEN);
	memcpy(cpp + WIRE_CPP_LEN_MIN, m->auth, WIRE_SIG_LEN);
	return add_stmt(t, cpp, sizeof(cpp));
}

static int add_viewchange(struct transcript *t, const struct msg *m)
{
	uint8_t digest[WIRE_DIGEST_LEN];
	if (m->h.auth_kind != AUTH_SIG)
		return 0;
	crypto_digest(m->raw, m->raw_len, digest);
	int added = add_entry(t, MSG_VIEWCHANGE, 0, m->h.sender, m->h.view, m->h.seq, digest,
			      m->raw, m->raw_len);
	/* the certificates it carries are statements of their own authors */
	struct cursor c;
	struct vc_prepared e;
	wire_vc_begin(m, &c);
	while (wire_vc_next(&c, t->cluster_id, &e) > 0) {
		added += add_stmt(t, e.pp.raw, e.pp.len);
		for (uint16_t i = 0; i < e.n_prep; i++)
			added += add_stmt(t, e.prep[i], e.prep_len[i]);
	}
	return added;
}

static int add_newview(struct transcript *t, const struct msg *m)
{
	int added = 0;
	for (uint16_t i = 0; i < m->u.nv.n_vc; i++) {
		struct msg vc;
		if (wire_decode(m->u.nv.vc[i], m->u.nv.vc_len[i], t->cluster_id, &vc) == WIRE_OK &&
		    vc.h.type == MSG_VIEWCHANGE)
			added += add_viewchange(t, &vc);
	}
	struct cursor c;
	struct compact_pp o;
	wire_nv_begin(m, &c);
	while (wire_nv_next(&c, t->cluster_id, &o) > 0)
		added += add_stmt(t, o.raw, o.len);
	return added;
}

int transcript_add(struct transcript *t, const uint8_t *p, size_t len)
{
	struct msg m;
	if (!p || len < WIRE_HDR_LEN)
		return 0;
	switch (p[WIRE_OFF_TYPE]) {
	case MSG_PREPARE:
	case MSG_COMMIT: return add_stmt(t, p, len);
	case MSG_PREPREPARE:
	case MSG_VIEWCHANGE:
	case MSG_NEWVIEW: break;
	default: return 0;
	}
	if (wire_decode(p, len, t->cluster_id, &m) != WIRE_OK)
		return 0;
	if (m.h.type == MSG_PREPREPARE)
		return add_preprepare(t, &m);
	if (m.h.type == MSG_VIEWCHANGE)
		return add_viewchange(t, &m);
	return add_newview(t, &m);
}

int transcript_add_entry(struct transcript *t, const uint8_t *raw, size_t len)
{
	if (!raw || len < WIRE_HDR_LEN)
		return 0;
	if (raw[WIRE_OFF_TYPE] == MSG_VIEWCHANGE) /* as received: add_viewchange again */
		return transcript_add(t, raw, len) > 0;
	return add_stmt(t, raw, len); /* a compact PRE-PREPARE, a PREPARE or a COMMIT */
}

uint64_t transcript_horizon(uint64_t low, uint32_t interval, uint32_t k)
{
	uint64_t keep = (uint64_t)k * interval;
	return low > keep ? low - keep : 0;
}

uint64_t transcript_bucket(uint64_t seq, uint32_t interval)
{
	if (seq > TRANSCRIPT_KEY_SEQ_MAX)
		return TRANSCRIPT_KEY_SEQ_MAX; /* the last bucket (transcript_key) */
	if (interval <= 1)
		return seq;
	return (seq + interval - 1) / interval * interval;
}

/* One entry alone: the record format before blocks. */
static bool lone_entry(const uint8_t *val, size_t len)
{
	return len >= WIRE_HDR_LEN && len <= WIRE_MAX_MSG && get_u32(val) == WIRE_MAGIC;
}

long transcript_record_count(const uint8_t *val, size_t len)
{
	if (!val)
		return -1;
	if (lone_entry(val, len))
		return 1;
	if (len < TRANSCRIPT_BLOCK_HDR || get_u32(val) != TRANSCRIPT_BLOCK_MAGIC)
		return -1;
	uint32_t count = get_u32(val + 4);
	size_t off = TRANSCRIPT_BLOCK_HDR;
	for (uint32_t i = 0; i < count; i++) {
		if (len - off < 4)
			return -1;
		uint32_t n = get_u32(val + off);
		off += 4;
		if (n < WIRE_HDR_LEN || n > WIRE_MAX_MSG || n > len - off)
			return -1;
		off += n;
	}
	return off == len ? (long)count : -1;
}

long transcript_add_record(struct transcript *t, const uint8_t *val, size_t len)
{
	long count = transcript_record_count(val, len);
	if (count < 0)
		return -1;
	if (lone_entry(val, len))
		return transcript_add_entry(t, val, len);
	long added = 0;
	size_t off = TRANSCRIPT_BLOCK_HDR;
	for (long i = 0; i < count; i++) { /* every length checked above */
		uint32_t n = get_u32(val + off);
		added += transcript_add_entry(t, val + off + 4, n);
		off += 4 + (size_t)n;
	}
	return added;
}

int transcript_record_cluster(const uint8_t *val, size_t len, uint32_t *cluster)
{
	long count = transcript_record_count(val, len);
	if (count <= 0)
		return -1;
	const uint8_t *first = lone_entry(val, len) ? val : val + TRANSCRIPT_BLOCK_HDR + 4;
	*cluster = get_u32(first + WIRE_OFF_CLUSTER);
	return 0;
}

uint64_t transcript_key(uint64_t seq, uint64_t counter)
{
	if (seq > TRANSCRIPT_KEY_SEQ_MAX)
		seq = TRANSCRIPT_KEY_SEQ_MAX;
	return seq << 24 | (counter & TRANSCRIPT_KEY_COUNTER_MASK);
}

void transcript_trim(struct transcript *t, uint64_t seq)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->e[i].seq <= seq) {
			t->bytes -= t->e[i].len;
			free(t->e[i].raw);
			continue;
		}
		t->e[k++] = t->e[i];
	}
	t->n = k;
	if (t->idx)
		idx_rebuild(t, t->n); /* entries moved */
}

/* ---- signatures ---- */

static bool stmt_signed(const uint8_t *raw, size_t len, const uint8_t pk[CRYPTO_PK_LEN])
{
	return len == WIRE_CPP_LEN_MIN + WIRE_SIG_LEN && raw[WIRE_OFF_AUTH_KIND] == AUTH_SIG &&
	       crypto_verify_bytes(pk, raw, WIRE_CPP_LEN_MIN, raw + WIRE_CPP_LEN_MIN) == 0;
}

/* A decoded VIEW-CHANGE signed by its sender: the signature covers header | body. */
static bool vc_signed(const struct msg *m, uint32_t n, const uint8_t pk[][CRYPTO_PK_LEN])
{
	size_t covered = (size_t)WIRE_HDR_LEN + m->h.body_len;
	return m->h.type == MSG_VIEWCHANGE && m->h.sender < n && m->h.auth_kind == AUTH_SIG &&
	       m->h.auth_len == WIRE_SIG_LEN && m->raw_len == covered + WIRE_SIG_LEN &&
	       crypto_verify_bytes(pk[m->h.sender], m->raw, covered, m->raw + covered) == 0;
}

/* Does VIEW-CHANGE m carry what a replica that committed (view, seq, digest) must
 * carry: a checkpoint at or above seq, or a certificate for seq of a later view, or of
 * that view for that digest (PBFT §4.5.1)? */
static bool vc_covers(const struct msg *m, uint64_t view, uint64_t seq, const uint8_t *digest)
{
	if (m->h.seq >= seq)
		return true;
	struct cursor c;
	struct vc_prepared e;
	wire_vc_begin(m, &c);
	while (wire_vc_next(&c, m->h.cluster_id, &e) > 0) {
		if (e.pp.h.seq != seq)
			continue;
		if (e.pp.h.view > view ||
		    (e.pp.h.view == view && !memcmp(e.pp.digest, digest, WIRE_DIGEST_LEN)))
			return true;
	}
	return false;
}

/* ---- proofs ---- */

static void put_proof(struct buf *b, int kind, uint32_t cluster, uint32_t accused, const uint8_t *a,
		      size_t a_len, const uint8_t *bb, size_t b_len)
{
	buf_put_u32(b, FORENSIC_MAGIC);
	buf_put_u8(b, FORENSIC_VERSION);
	buf_put_u8(b, (uint8_t)kind);
	buf_put_u16(b, 0);
	buf_put_u32(b, cluster);
	buf_put_u32(b, accused);
	buf_put_u32(b, (uint32_t)a_len);
	buf_put(b, a, a_len);
	buf_put_u32(b, (uint32_t)b_len);
	buf_put(b, bb, b_len);
}

static bool verify_omission(uint32_t accused, const uint8_t *a, size_t a_len, const uint8_t *b,
			    size_t b_len, uint32_t cluster, uint32_t n,
			    const uint8_t pk[][CRYPTO_PK_LEN])
{
	struct evidence_stmt c;
	struct msg vc;
	if (evidence_stmt_parse(a, a_len, cluster, &c) != 0 || c.h.type != MSG_COMMIT ||
	    c.h.flags != 0 || c.h.sender != accused || !stmt_signed(a, a_len, pk[accused]))
		return false; /* a vouched COMMIT says "it committed", not "I prepared it" */
	if (wire_decode(b, b_len, cluster, &vc) != WIRE_OK || vc.h.sender != accused ||
	    !vc_signed(&vc, n, pk))
		return false;
	return vc.h.view > c.h.view && !vc_covers(&vc, c.h.view, c.h.seq, c.digest);
}

int forensics_decode(const uint8_t *p, size_t len, struct forensic_proof *out)
{
	struct cursor c;
	if (!p || len < FORENSIC_HDR_LEN || len > FORENSIC_PROOF_MAX)
		return -1;
	cur_init(&c, p, len);
	uint32_t magic = cur_u32(&c);
	uint8_t version = cur_u8(&c);
	out->kind = cur_u8(&c);
	uint16_t pad = cur_u16(&c);
	out->cluster_id = cur_u32(&c);
	out->accused = cur_u32(&c);
	out->a_len = cur_u32(&c);
	out->a = cur_bytes(&c, out->a_len);
	out->b_len = cur_u32(&c);
	out->b = cur_bytes(&c, out->b_len);
	if (!c.ok || c.off != len || magic != FORENSIC_MAGIC || version != FORENSIC_VERSION ||
	    pad != 0)
		return -1;
	return 0;
}

int forensics_verify(const uint8_t *p, size_t len, uint32_t n, const uint8_t pk[][CRYPTO_PK_LEN],
		     uint32_t *accused, int *kind)
{
	struct forensic_proof f;
	if (forensics_decode(p, len, &f) != 0 || n > WIRE_MAX_REPLICAS || f.accused >= n)
		return -1;
	bool ok = false;
	if (f.kind == FORENSIC_EQUIVOCATION) {
		struct evidence e;
		ok = f.b_len == 0 && evidence_verify(f.a, f.a_len, n, pk) == 0 &&
		     evidence_decode(f.a, f.a_len, &e) == 0 && e.accused == f.accused &&
		     e.cluster_id == f.cluster_id;
	} else if (f.kind == FORENSIC_OMISSION) {
		ok = verify_omission(f.accused, f.a, f.a_len, f.b, f.b_len, f.cluster_id, n, pk);
	}
	if (!ok)
		return -1;
	*accused = f.accused;
	*kind = f.kind;
	return 0;
}

/* ---- the analysis ---- */

struct fx_ctx {
	uint32_t n;
	int flags;
	const uint8_t (*pk)[CRYPTO_PK_LEN];
	struct forensic_report *r;
	struct buf out;
};

static void accuse(struct fx_ctx *x, uint32_t accused, int kind)
{
	struct forensic_culprit *c = &x->r->c[accused];
	if (x->out.err)
		return;
	c->by_kind[kind < 3 ? kind : 0]++;
	c->proofs++;
	if (c->proof)
		return;
	c->proof = malloc(x->out.len);
	if (!c->proof)
		return;
	memcpy(c->proof, x->out.p, x->out.len);
	c->len = (uint32_t)x->out.len;
	c->kind = (uint8_t)kind;
	x->r->named++;
}

static int cmp_stmt(const void *pa, const void *pb)
{
	const struct tx_entry *a = *(const struct tx_entry *const *)pa;
	const struct tx_entry *b = *(const struct tx_entry *const *)pb;
	if (a->sender != b->sender)
		return a->sender < b->sender ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->view != b->view)
		return a->view < b->view ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	if (a->flags != b->flags)
		return a->flags < b->flags ? -1 : 1;
	return memcmp(a->digest, b->digest, WIRE_DIGEST_LEN);
}

/* Every statement of every transcript, once, whose signature verifies; sorted so that
 * one replica's statements about one (type, view, seq) are adjacent. */
static struct tx_entry **gather(const struct transcript *const *ts, size_t count,
				const struct fx_ctx *x, size_t *out_n)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < count; i++)
		total += ts[i]->n;
	struct tx_entry **all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return NULL;
	for (size_t i = 0; i < count; i++)
		for (size_t j = 0; j < ts[i]->n; j++)
			if (ts[i]->e[j].type != MSG_VIEWCHANGE && ts[i]->e[j].sender < x->n)
				all[k++] = &ts[i]->e[j];
	qsort(all, k, sizeof(*all), cmp_stmt);
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		if (u && cmp_stmt(&all[u - 1], &all[i]) == 0)
			continue; /* the same statement, from another transcript */
		if (stmt_signed(all[i]->raw, all[i]->len, x->pk[all[i]->sender]))
			all[u++] = all[i];
	}
	*out_n = u;
	return all;
}

/* Same view: two statements of one replica for one (type, view, seq) (vouched COMMITs
 * never: evidence_conflict). */
static void equivocations(struct fx_ctx *x, struct tx_entry **s, size_t n_s, uint32_t cluster)
{
	for (size_t i = 1; i < n_s; i++) {
		const struct tx_entry *a = s[i - 1], *b = s[i];
		if (a->sender != b->sender || a->type != b->type || a->view != b->view ||
		    a->seq != b->seq || a->flags || b->flags)
			continue;
		struct buf tmp;
		buf_init(&tmp);
		if (evidence_make(&tmp, cluster, a->raw, a->len, b->raw, b->len) ==
		    EVIDENCE_PROOF) {
			buf_reset(&x->out);
			put_proof(&x->out, FORENSIC_EQUIVOCATION, cluster, a->sender, tmp.p,
				  tmp.len, NULL, 0);
			accuse(x, a->sender, FORENSIC_EQUIVOCATION);
		}
		buf_free(&tmp);
	}
}

/* Views v < v': a replica's plain COMMIT at v (it prepared the digest in v) and its
 * VIEW-CHANGE for v' that hides it.  Sound with any number of liars: a correct
 * replica sends a plain COMMIT only once it holds (and persisted) the prepared
 * certificate, keeps it until a certificate of a later view replaces it or its stable
 * checkpoint passes seq (drop_unchosen keeps certificates too), and puts every
 * certificate above its checkpoint in its VIEW-CHANGEs.  Vouched COMMITs are left
 * out (FORENSIC_BUG_VOUCHED_OMISSION plants them back in). */
static void omissions(struct fx_ctx *x, struct tx_entry **s, size_t n_s,
		      const struct transcript *const *ts, size_t count, uint32_t cluster)
{
	for (size_t t = 0; t < count; t++) {
		for (size_t j = 0; j < ts[t]->n; j++) {
			const struct tx_entry *v = &ts[t]->e[j];
			struct msg vc;
			if (v->type != MSG_VIEWCHANGE || v->sender >= x->n ||
			    wire_decode(v->raw, v->len, cluster, &vc) != WIRE_OK ||
			    !vc_signed(&vc, x->n, x->pk))
				continue;
			for (size_t i = 0; i < n_s; i++) {
				const struct tx_entry *c = s[i];
				bool vouched_ok = x->flags & FORENSIC_BUG_VOUCHED_OMISSION;
				if (c->type != MSG_COMMIT || (c->flags && !vouched_ok) ||
				    c->sender != v->sender || c->view >= vc.h.view ||
				    c->seq <= vc.h.seq ||
				    vc_covers(&vc, c->view, c->seq, c->digest))
					continue;
				buf_reset(&x->out);
				put_proof(&x->out, FORENSIC_OMISSION, cluster, c->sender, c->raw,
					  c->len, v->raw, v->len);
				accuse(x, c->sender, FORENSIC_OMISSION);
			}
		}
	}
}

/* Planted: every sender of a COMMIT "proven" a liar by its first COMMIT alone. */
static void planted_accuse_one(struct fx_ctx *x, struct tx_entry **s, size_t n_s, uint32_t cluster)
{
	for (size_t i = 0; i < n_s; i++) {
		if (s[i]->type != MSG_COMMIT || x->r->c[s[i]->sender].proof)
			continue;
		buf_reset(&x->out);
		put_proof(&x->out, FORENSIC_EQUIVOCATION, cluster, s[i]->sender, s[i]->raw,
			  s[i]->len, NULL, 0);
		accuse(x, s[i]->sender, FORENSIC_EQUIVOCATION);
	}
}

int forensics_analyze(const struct transcript *const *ts, size_t count, uint32_t n,
		      const uint8_t pk[][CRYPTO_PK_LEN], int flags, struct forensic_report *r)
{
	memset(r, 0, sizeof(*r));
	r->n = n;
	if (n > WIRE_MAX_REPLICAS || count == 0)
		return 0;
	struct fx_ctx x = {.n = n, .flags = flags, .pk = pk, .r = r};
	buf_init_limit(&x.out, FORENSIC_PROOF_MAX);
	uint32_t cluster = ts[0]->cluster_id;
	size_t n_s = 0;
	struct tx_entry **s = gather(ts, count, &x, &n_s);
	if (!s)
		return -1;
	if (flags & FORENSIC_BUG_ACCUSE_ONE)
		planted_accuse_one(&x, s, n_s, cluster);
	equivocations(&x, s, n_s, cluster);
	omissions(&x, s, n_s, ts, count, cluster);
	free(s);
	int rc = x.out.err ? -1 : 0;
	buf_free(&x.out);
	return rc;
}

void forensic_report_free(struct forensic_report *r)
{
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		free(r->c[i].proof);
	memset(r, 0, sizeof(*r));
}
