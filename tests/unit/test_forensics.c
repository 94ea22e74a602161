/* test_forensics.c - the CCS'21 analysis (replica/core/forensics.h) on hand-built
 * transcripts: n = 4, f = 1, liars r0 and r1 (f+1 of them), correct r2 and r3.  It must
 * name exactly the liars, with proofs that re-verify from public keys alone, and never a
 * correct replica; one message per replica names nobody; transcripts stay bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/core/forensics.h"
#include "wire/wire.h"

#define CLUSTER 0xc1u
#define N 4

static struct auth_ctx keys[N];
static uint8_t pk[N][CRYPTO_PK_LEN];

static int group_setup(void **state)
{
	(void)state;
	if (crypto_setup() != 0)
		return -1;
	for (uint32_t i = 0; i < N; i++) {
		crypto_sign_keypair(pk[i], keys[i].sk);
		keys[i].mode = AUTH_MODE_SIG;
		keys[i].n = N;
		keys[i].self = i;
	}
	for (uint32_t i = 0; i < N; i++)
		memcpy(keys[i].replica_pk, pk, sizeof(pk));
	return 0;
}

static void digest_of(uint8_t tag, uint8_t d[WIRE_DIGEST_LEN])
{
	memset(d, tag, WIRE_DIGEST_LEN);
}

/* A signed PREPARE or COMMIT of `sender` for (view, seq) and digest tag: appended to b,
 * returns its offset. */
static size_t vote(struct buf *b, uint8_t type, uint32_t sender, uint64_t view, uint64_t seq,
		   uint8_t tag)
{
	uint8_t d[WIRE_DIGEST_LEN];
	digest_of(tag, d);
	size_t off = b->len;
	wire_put_digest(b, type, CLUSTER, sender, view, seq, d);
	assert_int_equal(auth_seal(&keys[sender], b, off), 0);
	return off;
}

static void add_vote_flags(struct transcript *t, uint8_t type, uint8_t flags, uint32_t sender,
			   uint64_t view, uint64_t seq, uint8_t tag)
{
	struct buf b;
	uint8_t d[WIRE_DIGEST_LEN];
	digest_of(tag, d);
	buf_init(&b);
	size_t off = wire_put_digest(&b, type, CLUSTER, sender, view, seq, d);
	b.p[off + WIRE_OFF_FLAGS] = flags; /* signed with the rest */
	assert_int_equal(auth_seal(&keys[sender], &b, off), 0);
	assert_int_equal(transcript_add(t, b.p + off, b.len - off), 1);
	buf_free(&b);
}

static void add_vote(struct transcript *t, uint8_t type, uint32_t sender, uint64_t view,
		     uint64_t seq, uint8_t tag)
{
	add_vote_flags(t, type, 0, sender, view, seq, tag);
}

/* A compact PRE-PREPARE of view's primary for (view, seq) with digest tag. */
static void put_cpp(struct buf *b, uint64_t view, uint64_t seq, uint8_t tag)
{
	uint8_t d[WIRE_DIGEST_LEN];
	digest_of(tag, d);
	size_t off = b->len;
	uint32_t primary = (uint32_t)(view % N);
	wire_put_digest(b, MSG_PREPREPARE, CLUSTER, primary, view, seq, d);
	set_u32(b->p + off + WIRE_OFF_BODY_LEN, 0); /* compact: header | digest */
	assert_int_equal(auth_seal_cpp(&keys[primary], b, off), 0);
}

struct cert_spec {
	uint64_t seq, view;
	uint8_t tag;
};

/* A VIEW-CHANGE of `sender` for new_view, stable checkpoint h, with the prepared
 * certificates `certs` (each: the primary's compact PRE-PREPARE and two PREPAREs). */
static void add_viewchange(struct transcript *t, uint32_t sender, uint64_t new_view, uint64_t h,
			   const struct cert_spec *certs, size_t n_certs)
{
	struct buf b, cpp, prep;
	buf_init(&b);
	buf_init(&cpp);
	buf_init(&prep);
	size_t off = wire_begin(&b, MSG_VIEWCHANGE, CLUSTER, sender, new_view, h);
	buf_put_u16(&b, 0); /* no checkpoint proof (h = 0) */
	buf_put_u32(&b, (uint32_t)n_certs);
	for (size_t i = 0; i < n_certs; i++) {
		buf_reset(&cpp);
		put_cpp(&cpp, certs[i].view, certs[i].seq, certs[i].tag);
		buf_put_u32(&b, (uint32_t)cpp.len);
		buf_put(&b, cpp.p, cpp.len);
		uint32_t primary = (uint32_t)(certs[i].view % N);
		buf_put_u16(&b, 2);
		for (uint32_t k = 1; k <= 2; k++) {
			buf_reset(&prep);
			vote(&prep, MSG_PREPARE, (primary + k) % N, certs[i].view, certs[i].seq,
			     certs[i].tag);
			buf_put_u32(&b, (uint32_t)prep.len);
			buf_put(&b, prep.p, prep.len);
		}
	}
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&keys[sender], &b, off), 0);
	assert_true(transcript_add(t, b.p + off, b.len - off) >= 1);
	buf_free(&b);
	buf_free(&cpp);
	buf_free(&prep);
}

static void analyze(struct transcript *a, struct transcript *b, int plant,
		    struct forensic_report *r)
{
	const struct transcript *ts[2] = {a, b};
	assert_int_equal(forensics_analyze(ts, b ? 2 : 1, N, (const uint8_t(*)[CRYPTO_PK_LEN])pk,
					   plant, r),
			 0);
}

/* Every culprit's proof verifies from the public keys and names that culprit; the
 * culprits are exactly bit set `want`. */
static void assert_named_exactly(const struct forensic_report *r, uint32_t want, int kind)
{
	uint32_t got = 0;
	for (uint32_t i = 0; i < N; i++) {
		if (!r->c[i].proof)
			continue;
		uint32_t who = 99;
		int k = 0;
		got |= 1u << i;
		assert_int_equal(forensics_verify(r->c[i].proof, r->c[i].len, N,
						  (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who, &k),
				 0);
		assert_int_equal(who, i);
		assert_int_equal(k, kind);
	}
	assert_int_equal(got, want);
	assert_int_equal(r->named, (uint32_t)__builtin_popcount(want));
}

/* Same view: r2 committed digest A at (0, 1) on COMMITs of {0, 1, 2}; r3 committed B
 * on {0, 1, 3}.  The intersection {0, 1} signed both. */
static void test_same_view_conflicting_quorums(void **state)
{
	(void)state;
	struct transcript t2, t3;
	struct forensic_report r;
	transcript_init(&t2, CLUSTER);
	transcript_init(&t3, CLUSTER);
	for (uint32_t i = 0; i < 3; i++)
		add_vote(&t2, MSG_COMMIT, i, 0, 1, 0xa1);
	for (uint32_t i = 0; i < 4; i++)
		if (i != 2)
			add_vote(&t3, MSG_COMMIT, i, 0, 1, 0xb2);
	analyze(&t2, &t3, 0, &r);
	assert_named_exactly(&r, 0x3, FORENSIC_EQUIVOCATION);
	/* one side alone proves nothing */
	forensic_report_free(&r);
	analyze(&t2, NULL, 0, &r);
	assert_int_equal(r.named, 0);
	forensic_report_free(&r);
	transcript_free(&t2);
	transcript_free(&t3);
}

/* Across views: digest A committed at (view 0, seq 1) on COMMITs of {0, 1, 2}; the
 * VIEW-CHANGEs for view 1 of r0 and r1 leave seq 1 out (r1's even reports an older
 * certificate... of view 0 for another digest), so a NEW-VIEW could re-assign it.  r2's
 * VIEW-CHANGE carries its certificate and r3 never committed: neither is named. */
static void test_cross_view_omission(void **state)
{
	(void)state;
	struct transcript t2, t3;
	struct forensic_report r;
	transcript_init(&t2, CLUSTER);
	transcript_init(&t3, CLUSTER);
	for (uint32_t i = 0; i < 3; i++)
		add_vote(&t2, MSG_COMMIT, i, 0, 1, 0xa1);
	const struct cert_spec good = {.seq = 1, .view = 0, .tag = 0xa1};
	const struct cert_spec other = {.seq = 1, .view = 0, .tag = 0xc3};
	const struct cert_spec elsewhere = {.seq = 2, .view = 0, .tag = 0xd4};
	add_viewchange(&t3, 0, 1, 0, NULL, 0);
	add_viewchange(&t3, 1, 1, 0, &elsewhere, 1);
	add_viewchange(&t3, 2, 1, 0, &good, 1);
	add_viewchange(&t3, 3, 1, 0, NULL, 0);
	analyze(&t2, &t3, 0, &r);
	assert_named_exactly(&r, 0x3, FORENSIC_OMISSION);
	assert_int_equal(r.c[0].by_kind[FORENSIC_OMISSION], 1);
	assert_int_equal(r.c[1].by_kind[FORENSIC_OMISSION], 1);
	forensic_report_free(&r);
	/* r1's VIEW-CHANGE with a certificate of view 0 for another digest: still hidden */
	transcript_free(&t3);
	transcript_init(&t3, CLUSTER);
	add_viewchange(&t3, 1, 1, 0, &other, 1);
	analyze(&t2, &t3, 0, &r);
	assert_named_exactly(&r, 0x2, FORENSIC_OMISSION);
	forensic_report_free(&r);
	/* a checkpoint at or above the slot excuses the omission */
	transcript_free(&t3);
	transcript_init(&t3, CLUSTER);
	add_viewchange(&t3, 0, 1, 1, NULL, 0);
	analyze(&t2, &t3, 0, &r);
	assert_int_equal(r.named, 0);
	forensic_report_free(&r);
	transcript_free(&t2);
	transcript_free(&t3);
}

/* A vouched COMMIT (WIRE_F_VOUCHED: "it committed", sent by a replica that executed the
 * slot on a certificate without preparing it, docs/PROTOCOL.md §5.12) does not bind
 * its sender's VIEW-CHANGE: r0 and r1 vouched for (0, 1, A) and their VIEW-CHANGEs for
 * view 1 carry nothing for seq 1 - nobody is named.  The planted bug that holds
 * vouched COMMITs to the rule names them, and its proofs do not verify. */
static void test_vouched_commit_binds_nothing(void **state)
{
	(void)state;
	struct transcript t2, t3;
	struct forensic_report r;
	transcript_init(&t2, CLUSTER);
	transcript_init(&t3, CLUSTER);
	for (uint32_t i = 0; i < 2; i++)
		add_vote_flags(&t2, MSG_COMMIT, WIRE_F_VOUCHED, i, 0, 1, 0xa1);
	add_vote(&t2, MSG_COMMIT, 2, 0, 1, 0xa1);
	const struct cert_spec good = {.seq = 1, .view = 0, .tag = 0xa1};
	add_viewchange(&t3, 0, 1, 0, NULL, 0);
	add_viewchange(&t3, 1, 1, 0, NULL, 0);
	add_viewchange(&t3, 2, 1, 0, &good, 1);
	analyze(&t2, &t3, 0, &r);
	assert_int_equal(r.named, 0);
	forensic_report_free(&r);
	analyze(&t2, &t3, FORENSIC_BUG_VOUCHED_OMISSION, &r);
	assert_int_equal(r.named, 2);
	for (uint32_t i = 0; i < 2; i++) {
		uint32_t who;
		int kind;
		assert_non_null(r.c[i].proof);
		assert_int_equal(forensics_verify(r.c[i].proof, r.c[i].len, N,
						  (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who, &kind),
				 -1);
	}
	forensic_report_free(&r);
	/* a vouched and a plain COMMIT of one replica for one (view, seq), different
	 * digests: not an equivocation (a correct replica may sign both with more than f
	 * liars around, evidence.c); a vouched one and a plain one for the same digest are
	 * two entries, the plain one still binding */
	transcript_free(&t3);
	transcript_init(&t3, CLUSTER);
	add_vote_flags(&t3, MSG_COMMIT, WIRE_F_VOUCHED, 2, 0, 1, 0xb2);
	add_vote_flags(&t3, MSG_COMMIT, WIRE_F_VOUCHED, 0, 0, 1, 0xa1);
	add_vote(&t3, MSG_COMMIT, 0, 0, 1, 0xa1);
	analyze(&t2, &t3, 0, &r);
	assert_int_equal(r.named, 0);
	forensic_report_free(&r);
	add_viewchange(&t3, 0, 1, 0, NULL, 0);
	analyze(&t2, &t3, 0, &r);
	assert_named_exactly(&r, 0x1, FORENSIC_OMISSION);
	forensic_report_free(&r);
	transcript_free(&t2);
	transcript_free(&t3);
}

/* One message per replica: nothing conflicts, nobody is named - unless the planted
 * bug accuses on a lone COMMIT (and its "proof" then does not verify). */
static void test_one_message_each_names_nobody(void **state)
{
	(void)state;
	struct transcript t;
	struct forensic_report r;
	transcript_init(&t, CLUSTER);
	for (uint32_t i = 0; i < N; i++)
		add_vote(&t, MSG_COMMIT, i, 0, 1 + i, 0x10 + (uint8_t)i);
	analyze(&t, NULL, 0, &r);
	assert_int_equal(r.named, 0);
	forensic_report_free(&r);
	analyze(&t, NULL, FORENSIC_BUG_ACCUSE_ONE, &r);
	assert_int_equal(r.named, N);
	uint32_t who;
	int kind;
	assert_int_equal(forensics_verify(r.c[0].proof, r.c[0].len, N,
					  (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who, &kind),
			 -1);
	forensic_report_free(&r);
	transcript_free(&t);
}

/* A proof with one byte changed, or checked against other keys, does not verify. */
static void test_tampered_proofs_fail(void **state)
{
	(void)state;
	struct transcript t;
	struct forensic_report r;
	uint32_t who;
	int kind;
	transcript_init(&t, CLUSTER);
	add_vote(&t, MSG_COMMIT, 1, 0, 1, 0xa1);
	add_viewchange(&t, 1, 1, 0, NULL, 0);
	analyze(&t, NULL, FORENSIC_OMISSIONS, &r);
	assert_named_exactly(&r, 0x2, FORENSIC_OMISSION);
	const struct forensic_culprit *c = &r.c[1];
	for (uint32_t at = 0; at < c->len; at += 7) {
		c->proof[at] ^= 0x20;
		assert_int_equal(forensics_verify(c->proof, c->len, N,
						  (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who, &kind),
				 -1);
		c->proof[at] ^= 0x20;
	}
	uint8_t other[N][CRYPTO_PK_LEN];
	memcpy(other, pk, sizeof(other));
	memcpy(other[1], pk[2], CRYPTO_PK_LEN);
	assert_int_equal(forensics_verify(c->proof, c->len, N,
					  (const uint8_t(*)[CRYPTO_PK_LEN])other, &who, &kind),
			 -1);
	assert_int_equal(forensics_verify(c->proof, c->len - 1, N,
					  (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who, &kind),
			 -1);
	forensic_report_free(&r);
	transcript_free(&t);
}

/* Unsigned statements are not kept; duplicates once; at most TRANSCRIPT_MAX entries
 * whatever a peer sends (the rest counted); trim forgets the old slots. */
static void test_transcript_bounded(void **state)
{
	(void)state;
	struct transcript t;
	struct buf b;
	transcript_init(&t, CLUSTER);
	buf_init(&b);
	uint8_t d[WIRE_DIGEST_LEN] = {0};
	wire_put_digest(&b, MSG_COMMIT, CLUSTER, 1, 0, 1, d); /* no auth */
	assert_int_equal(transcript_add(&t, b.p, b.len), 0);
	buf_reset(&b);
	vote(&b, MSG_COMMIT, 1, 0, 1, 0xa1);
	assert_int_equal(transcript_add(&t, b.p, b.len), 1);
	assert_int_equal(transcript_add(&t, b.p, b.len), 0);
	/* a flood of distinct digests (signatures are not checked on the way in) */
	for (uint32_t i = 0; i < TRANSCRIPT_MAX + 100; i++) {
		memcpy(b.p + WIRE_HDR_LEN, &i, sizeof(i));
		set_u64(b.p + WIRE_OFF_SEQ, 2 + i % 64);
		transcript_add(&t, b.p, b.len);
	}
	assert_int_equal(t.n, TRANSCRIPT_MAX);
	assert_true(t.dropped >= 100);
	assert_int_equal(t.bytes, (size_t)TRANSCRIPT_MAX * b.len);
	transcript_trim(&t, 33);
	size_t bytes = 0;
	for (size_t i = 0; i < t.n; i++) {
		assert_true(t.e[i].seq > 33);
		bytes += t.e[i].len;
	}
	assert_int_equal(t.bytes, bytes);
	assert_true(t.n < TRANSCRIPT_MAX);
	buf_free(&b);
	transcript_free(&t);
}

/* Dedup covers the whole transcript (an index, not a search of the newest 4,096), and
 * still does after a trim has moved the entries. */
static void test_transcript_dedup_indexed(void **state)
{
	(void)state;
	struct transcript t;
	struct buf b;
	transcript_init(&t, CLUSTER);
	buf_init(&b);
	vote(&b, MSG_COMMIT, 1, 0, 1, 0xa1);
	for (uint32_t i = 0; i < 6000; i++) {
		memcpy(b.p + WIRE_HDR_LEN, &i, sizeof(i));
		set_u64(b.p + WIRE_OFF_SEQ, 1 + i / 100);
		assert_int_equal(transcript_add(&t, b.p, b.len), 1);
	}
	assert_int_equal(t.n, 6000);
	for (uint32_t i = 0; i < 6000; i += 7) { /* the oldest too: all duplicates */
		memcpy(b.p + WIRE_HDR_LEN, &i, sizeof(i));
		set_u64(b.p + WIRE_OFF_SEQ, 1 + i / 100);
		assert_int_equal(transcript_add(&t, b.p, b.len), 0);
	}
	assert_int_equal(t.n, 6000);
	transcript_trim(&t, 30); /* seqs 1-30: entries 0-2999 go */
	assert_int_equal(t.n, 3000);
	for (uint32_t i = 0; i < 6000; i += 11) {
		memcpy(b.p + WIRE_HDR_LEN, &i, sizeof(i));
		set_u64(b.p + WIRE_OFF_SEQ, 1 + i / 100);
		assert_int_equal(transcript_add(&t, b.p, b.len), i < 3000 ? 1 : 0);
	}
	buf_free(&b);
	transcript_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_view_conflicting_quorums),
		cmocka_unit_test(test_cross_view_omission),
		cmocka_unit_test(test_vouched_commit_binds_nothing),
		cmocka_unit_test(test_one_message_each_names_nobody),
		cmocka_unit_test(test_tampered_proofs_fail),
		cmocka_unit_test(test_transcript_bounded),
		cmocka_unit_test(test_transcript_dedup_indexed),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
