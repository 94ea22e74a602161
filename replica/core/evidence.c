/* evidence.c - proofs of equivocation: parse, decide, encode, decode, verify, and the
 * bounded table a replica keeps (see evidence.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/evidence.h"

/* a proof travels whole in one MSG_EVIDENCE body (wire.h) */
_Static_assert(EVIDENCE_MAX == WIRE_EVIDENCE_MAX, "wire.h's WIRE_EVIDENCE_MAX");
_Static_assert(EVIDENCE_HDR_LEN + 2 * (2 + WIRE_CPP_LEN_MIN) == WIRE_EVIDENCE_MIN,
	       "wire.h's WIRE_EVIDENCE_MIN");

const char *evidence_kind_name(int kind)
{
	switch (kind) {
	case EVIDENCE_PROOF: return "proof";
	case EVIDENCE_SUSPICION: return "suspicion";
	default: return "none";
	}
}

static bool is_stmt_type(int type)
{
	return type == MSG_PREPREPARE || type == MSG_PREPARE || type == MSG_COMMIT;
}

int evidence_stmt_parse(const uint8_t *p, size_t len, uint32_t cluster_id,
			struct evidence_stmt *out)
{
	if (!p || len < WIRE_CPP_LEN_MIN || len > EVIDENCE_STMT_MAX)
		return -1;
	memset(out, 0, sizeof(*out));
	if (p[WIRE_OFF_TYPE] == MSG_PREPREPARE) {
		struct compact_pp c;
		if (wire_decode_cpp(p, len, cluster_id, &c) != WIRE_OK)
			return -1;
		out->h = c.h;
	} else {
		struct msg m;
		if (wire_decode(p, len, cluster_id, &m) != WIRE_OK || !is_stmt_type(m.h.type) ||
		    m.h.body_len != WIRE_DIGEST_LEN)
			return -1;
		out->h = m.h;
	}
	memcpy(out->digest, p + WIRE_HDR_LEN, WIRE_DIGEST_LEN);
	out->raw = p;
	out->len = (uint32_t)len;
	CORE_ASSERT(out->len == (uint32_t)WIRE_CPP_LEN_MIN + out->h.auth_len);
	return 0;
}

/* Vouched COMMITs (WIRE_F_VOUCHED: "this digest committed at seq", docs/PROTOCOL.md
 * §5.12) are never half of a proof.  What a correct replica vouches for is what 2f+1
 * COMMITs told it, and with more than f liars those can contradict what it prepared
 * itself in that view (it prepares d' in v, then sees 2f+1 COMMITs for d in v,
 * executes d on them and vouches for it) or what it vouched for before: forensics
 * (forensics.h) must stay sound with any number of liars. */
int evidence_conflict(const struct evidence_stmt *a, const struct evidence_stmt *b)
{
	if (a->h.type != b->h.type || !is_stmt_type(a->h.type) || a->h.sender != b->h.sender ||
	    a->h.view != b->h.view || a->h.seq != b->h.seq || a->h.flags || b->h.flags ||
	    memcmp(a->digest, b->digest, WIRE_DIGEST_LEN) == 0)
		return EVIDENCE_NONE;
	if (a->h.auth_kind == AUTH_SIG && b->h.auth_kind == AUTH_SIG)
		return EVIDENCE_PROOF;
	return EVIDENCE_SUSPICION;
}

void evidence_encode(struct buf *out, int kind, const struct evidence_stmt *a,
		     const struct evidence_stmt *b)
{
	buf_put_u32(out, EVIDENCE_MAGIC);
	buf_put_u8(out, EVIDENCE_VERSION);
	buf_put_u8(out, (uint8_t)kind);
	buf_put_u8(out, a->h.type);
	buf_put_u8(out, 0);
	buf_put_u32(out, a->h.cluster_id);
	buf_put_u32(out, a->h.sender);
	buf_put_u64(out, a->h.view);
	buf_put_u64(out, a->h.seq);
	buf_put_u16(out, (uint16_t)a->len);
	buf_put(out, a->raw, a->len);
	buf_put_u16(out, (uint16_t)b->len);
	buf_put(out, b->raw, b->len);
}

int evidence_make(struct buf *out, uint32_t cluster_id, const uint8_t *a, size_t a_len,
		  const uint8_t *b, size_t b_len)
{
	struct evidence_stmt sa, sb;
	if (evidence_stmt_parse(a, a_len, cluster_id, &sa) != 0 ||
	    evidence_stmt_parse(b, b_len, cluster_id, &sb) != 0)
		return EVIDENCE_NONE;
	int kind = evidence_conflict(&sa, &sb);
	if (kind == EVIDENCE_NONE)
		return EVIDENCE_NONE;
	evidence_encode(out, kind, &sa, &sb);
	return out->err ? EVIDENCE_NONE : kind;
}

static const uint8_t *stmt_at(struct cursor *c, uint32_t cluster_id, struct evidence_stmt *s)
{
	uint16_t len = cur_u16(c);
	const uint8_t *p = cur_bytes(c, len);
	if (!p || evidence_stmt_parse(p, len, cluster_id, s) != 0)
		return NULL;
	return p;
}

int evidence_decode(const uint8_t *p, size_t len, struct evidence *e)
{
	struct cursor c;
	if (!p || len < EVIDENCE_HDR_LEN || len > EVIDENCE_MAX)
		return -1;
	memset(e, 0, sizeof(*e));
	cur_init(&c, p, len);
	uint32_t magic = cur_u32(&c);
	uint8_t version = cur_u8(&c);
	e->kind = cur_u8(&c);
	e->type = cur_u8(&c);
	uint8_t pad = cur_u8(&c);
	e->cluster_id = cur_u32(&c);
	e->accused = cur_u32(&c);
	e->view = cur_u64(&c);
	e->seq = cur_u64(&c);
	if (!c.ok || magic != EVIDENCE_MAGIC || version != EVIDENCE_VERSION || pad != 0 ||
	    !stmt_at(&c, e->cluster_id, &e->a) || !stmt_at(&c, e->cluster_id, &e->b) ||
	    c.off != len)
		return -1;
	/* the header says what the statements say, and they conflict as it claims */
	if (e->a.h.type != e->type || e->a.h.sender != e->accused || e->a.h.view != e->view ||
	    e->a.h.seq != e->seq || evidence_conflict(&e->a, &e->b) != e->kind ||
	    e->kind == EVIDENCE_NONE)
		return -1;
	return 0;
}

int evidence_peek(const uint8_t *p, size_t len, uint32_t *accused, uint8_t *kind)
{
	if (!p || len < EVIDENCE_HDR_LEN || len > EVIDENCE_MAX || get_u32(p) != EVIDENCE_MAGIC ||
	    p[4] != EVIDENCE_VERSION)
		return -1;
	*kind = p[5];
	*accused = get_u32(p + 12);
	return 0;
}

/* The accused's signature over the 72 bytes a statement's trailer covers. */
static int stmt_signed_by(const struct evidence_stmt *s, const uint8_t pk[CRYPTO_PK_LEN])
{
	if (s->h.auth_kind != AUTH_SIG || s->h.auth_len != WIRE_SIG_LEN ||
	    s->len != WIRE_CPP_LEN_MIN + WIRE_SIG_LEN)
		return -1;
	return crypto_verify_bytes(pk, s->raw, WIRE_CPP_LEN_MIN, s->raw + WIRE_CPP_LEN_MIN);
}

int evidence_verify(const uint8_t *p, size_t len, uint32_t n, const uint8_t pk[][CRYPTO_PK_LEN])
{
	struct evidence e;
	if (evidence_decode(p, len, &e) != 0 || e.kind != EVIDENCE_PROOF || e.accused >= n ||
	    n > WIRE_MAX_REPLICAS)
		return -1;
	if (stmt_signed_by(&e.a, pk[e.accused]) != 0 || stmt_signed_by(&e.b, pk[e.accused]) != 0)
		return -1;
	return 0;
}

/* ---- the table ---- */

static int keep(struct evidence_table *t, const struct evidence *e, const uint8_t *proof,
		size_t len)
{
	uint8_t *copy = malloc(len);
	if (!copy)
		return -1;
	memcpy(copy, proof, len);
	free(t->proof[e->accused]);
	t->proof[e->accused] = copy;
	t->len[e->accused] = (uint32_t)len;
	t->kind[e->accused] = e->kind;
	return 0;
}

int evidence_note(struct evidence_table *t, const uint8_t *proof, size_t len)
{
	struct evidence e;
	if (evidence_decode(proof, len, &e) != 0 || e.accused >= WIRE_MAX_REPLICAS)
		return -1;
	t->count[e.accused]++;
	/* the first one, or a proof where we held only a suspicion */
	if (t->proof[e.accused] &&
	    !(e.kind == EVIDENCE_PROOF && t->kind[e.accused] != EVIDENCE_PROOF))
		return 0;
	return keep(t, &e, proof, len) == 0 ? 1 : -1;
}

int evidence_restore(struct evidence_table *t, const uint8_t *proof, size_t len)
{
	struct evidence e;
	if (evidence_decode(proof, len, &e) != 0 || e.accused >= WIRE_MAX_REPLICAS)
		return -1;
	if (t->count[e.accused] == 0)
		t->count[e.accused] = 1;
	return keep(t, &e, proof, len);
}

void evidence_table_free(struct evidence_table *t)
{
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		free(t->proof[i]);
	memset(t, 0, sizeof(*t));
}
