/* test_auth.c - sealing and verifying messages in each auth mode. */
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
#include "tests/unit/fixture.h"
#include "wire/wire.h"

#define CLUSTER 0xc1u
#define N 4
#define NCLIENTS 3

/* All principals, loaded in one mode. */
struct world {
	struct auth_ctx r[N];
	struct auth_ctx c[NCLIENTS];
};

static int group_setup(void **state)
{
	(void)state;
	return fx_setup("test_auth", N, NCLIENTS);
}

static void world_load(struct world *w, enum auth_mode mode)
{
	fx_replicas(w->r, mode);
	fx_clients(w->c, mode);
}

static void world_free(struct world *w)
{
	fx_free(w->r, N);
	fx_free(w->c, NCLIENTS);
}

static const enum auth_mode MODES[] = {AUTH_MODE_NONE, AUTH_MODE_SIG, AUTH_MODE_MAC};

/* ---- message builders: each returns a sealed message in b (reset first) ---- */

static void seal_request(struct auth_ctx *a, struct buf *b, uint32_t client, uint64_t ts,
			 const char *op)
{
	size_t off;

	buf_reset(b);
	off = wire_put_request(b, CLUSTER, client, ts, 0, (const uint8_t *)op,
			       (uint32_t)strlen(op));
	assert_int_equal(auth_seal(a, b, off), 0);
	assert_int_equal(b->err, 0);
}

static void seal_digest(struct auth_ctx *a, struct buf *b, uint8_t type, uint32_t sender)
{
	uint8_t d[WIRE_DIGEST_LEN];
	size_t off;

	memset(d, 0x42, sizeof(d));
	buf_reset(b);
	off = type == MSG_CHECKPOINT ? wire_put_checkpoint(b, CLUSTER, sender, 3, 17, d, 1000)
				     : wire_put_digest(b, type, CLUSTER, sender, 3, 17, d);
	assert_int_equal(auth_seal(a, b, off), 0);
}

static void seal_reply(struct auth_ctx *a, struct buf *b, uint32_t sender, uint32_t client)
{
	size_t off;

	buf_reset(b);
	off = wire_put_reply(b, CLUSTER, sender, 3, client, 99, (const uint8_t *)"ok", 2);
	assert_int_equal(auth_seal(a, b, off), 0);
}

/* Decode b and verify it as principal a. */
static int check(struct auth_ctx *a, const struct buf *b)
{
	struct msg m;

	if (wire_decode(b->p, b->len, CLUSTER, &m) != WIRE_OK)
		return -2;
	return auth_verify(a, &m);
}

static uint8_t hdr_kind(const struct buf *b)
{
	return b->p[WIRE_OFF_AUTH_KIND];
}

/* ---- tests ---- */

static void test_kind_table(void **state)
{
	static const int sig_types[] = {MSG_REQUEST,    MSG_PREPREPARE, MSG_PREPARE,
					MSG_COMMIT,     MSG_REPLY,      MSG_CHECKPOINT,
					MSG_VIEWCHANGE, MSG_NEWVIEW,    MSG_HELLO};
	static const int mac_types[] = {MSG_REQUEST, MSG_COMMIT, MSG_REPLY, MSG_HELLO};
	size_t i;

	(void)state;
	for (int t = MSG_REQUEST; t <= MSG_TYPE_MAX; t++)
		assert_int_equal(auth_kind_for(AUTH_MODE_NONE, t), AUTH_NONE);
	for (i = 0; i < sizeof(sig_types) / sizeof(sig_types[0]); i++)
		assert_int_equal(auth_kind_for(AUTH_MODE_SIG, sig_types[i]), AUTH_SIG);
	for (i = 0; i < sizeof(mac_types) / sizeof(mac_types[0]); i++)
		assert_int_equal(auth_kind_for(AUTH_MODE_MAC, mac_types[i]), AUTH_MAC);
	assert_int_equal(auth_kind_for(AUTH_MODE_MAC, MSG_CHECKPOINT), AUTH_SIG);
	assert_int_equal(auth_kind_for(AUTH_MODE_MAC, MSG_VIEWCHANGE), AUTH_SIG);
	assert_int_equal(auth_kind_for(AUTH_MODE_MAC, MSG_NEWVIEW), AUTH_SIG);
	/* issue 14: what travels as a prepared certificate is signed in mac mode too */
	assert_int_equal(auth_kind_for(AUTH_MODE_MAC, MSG_PREPREPARE), AUTH_SIG);
	assert_int_equal(auth_kind_for(AUTH_MODE_MAC, MSG_PREPARE), AUTH_SIG);
	for (i = 0; i < 3; i++) {
		assert_int_equal(auth_kind_for(MODES[i], MSG_STATUS_REQ), AUTH_NONE);
		assert_int_equal(auth_kind_for(MODES[i], MSG_STATUS_RESP), AUTH_NONE);
		assert_true(auth_kind_for(MODES[i], 0) < 0);
		assert_true(auth_kind_for(MODES[i], MSG_TYPE_MAX + 1) < 0);
	}
}

static void test_request_round_trip(void **state)
{
	struct world w;
	struct buf b;

	(void)state;
	buf_init(&b);
	for (size_t k = 0; k < 3; k++) {
		world_load(&w, MODES[k]);
		seal_request(&w.c[1], &b, 1, 1000, "put x 1");
		assert_int_equal(hdr_kind(&b), auth_kind_for(MODES[k], MSG_REQUEST));
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), 0);
		/* clients hold no client keys: they never accept a request */
		assert_int_equal(check(&w.c[0], &b), -1);
		if (MODES[k] != AUTH_MODE_NONE) {
			/* client 2 claiming to be client 1 */
			seal_request(&w.c[2], &b, 1, 1000, "put x 1");
			for (int i = 0; i < N; i++)
				assert_int_equal(check(&w.r[i], &b), -1);
		}
		/* a client id beyond the cluster's */
		seal_request(&w.c[2], &b, NCLIENTS, 1000, "put x 1");
		assert_int_equal(check(&w.r[0], &b), -1);
		world_free(&w);
	}
	buf_free(&b);
}

static void test_prepare_round_trip(void **state)
{
	struct world w;
	struct buf b;

	(void)state;
	buf_init(&b);
	for (size_t k = 0; k < 3; k++) {
		world_load(&w, MODES[k]);
		seal_digest(&w.r[1], &b, MSG_PREPARE, 1);
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), 0);
		/* a sender id nobody has */
		seal_digest(&w.r[1], &b, MSG_PREPARE, N);
		assert_int_equal(check(&w.r[0], &b), -1);
		if (MODES[k] != AUTH_MODE_NONE) {
			/* replica 1 claiming to be replica 2 */
			seal_digest(&w.r[1], &b, MSG_PREPARE, 2);
			for (int i = 0; i < N; i++)
				assert_int_equal(check(&w.r[i], &b), -1);
			/* rewriting the sender after sealing */
			seal_digest(&w.r[1], &b, MSG_PREPARE, 1);
			set_u32(b.p + WIRE_OFF_SENDER, 3);
			assert_int_equal(check(&w.r[0], &b), -1);
		}
		world_free(&w);
	}
	buf_free(&b);
}

/* A client's key must never pass for a replica's, whatever id it writes. */
static void test_client_key_cannot_act_as_replica(void **state)
{
	struct world w;
	struct buf b;

	(void)state;
	buf_init(&b);
	for (size_t k = 1; k < 3; k++) {
		world_load(&w, MODES[k]);
		seal_digest(&w.c[0], &b, MSG_PREPARE, 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), -1);
		seal_digest(&w.c[0], &b, MSG_COMMIT, 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), -1);
		/* nor a replica's for a client's request */
		seal_request(&w.r[0], &b, 0, 5, "get x");
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), -1);
		world_free(&w);
	}
	buf_free(&b);
}

static void test_reply_round_trip(void **state)
{
	struct world w;
	struct buf b;
	struct msg m;

	(void)state;
	buf_init(&b);
	for (size_t k = 0; k < 3; k++) {
		world_load(&w, MODES[k]);
		seal_reply(&w.r[2], &b, 2, 1);
		assert_int_equal(wire_decode(b.p, b.len, CLUSTER, &m), WIRE_OK);
		if (MODES[k] == AUTH_MODE_MAC)
			assert_int_equal(m.h.auth_len, WIRE_MAC_LEN);
		assert_int_equal(check(&w.c[1], &b), 0);
		if (MODES[k] == AUTH_MODE_MAC) {
			/* only the named client holds the key */
			assert_int_equal(check(&w.c[0], &b), -1);
			assert_int_equal(check(&w.r[0], &b), -1);
			/* replica 2 cannot make a reply that verifies as replica 3's */
			seal_reply(&w.r[2], &b, 3, 1);
			assert_int_equal(check(&w.c[1], &b), -1);
			/* and a reply for a client the cluster does not have cannot be sealed */
			buf_reset(&b);
			size_t off = wire_put_reply(&b, CLUSTER, 2, 3, NCLIENTS, 1, NULL, 0);
			assert_int_equal(auth_seal(&w.r[2], &b, off), -1);
			assert_int_not_equal(b.err, 0);
		}
		if (MODES[k] == AUTH_MODE_SIG) {
			seal_reply(&w.r[2], &b, 3, 1);
			assert_int_equal(check(&w.c[1], &b), -1);
		}
		world_free(&w);
	}
	buf_free(&b);
}

static void test_checkpoint_round_trip(void **state)
{
	struct world w;
	struct buf b;

	(void)state;
	buf_init(&b);
	for (size_t k = 0; k < 3; k++) {
		world_load(&w, MODES[k]);
		seal_digest(&w.r[3], &b, MSG_CHECKPOINT, 3);
		/* checkpoints stay signed in mac mode: they are forwarded as proofs */
		assert_int_equal(hdr_kind(&b), MODES[k] == AUTH_MODE_NONE ? AUTH_NONE : AUTH_SIG);
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), 0);
		/* and so any client can check them */
		if (MODES[k] != AUTH_MODE_NONE) {
			assert_int_equal(check(&w.c[0], &b), 0);
			seal_digest(&w.r[3], &b, MSG_CHECKPOINT, 0);
			assert_int_equal(check(&w.r[1], &b), -1);
		}
		world_free(&w);
	}
	buf_free(&b);
}

/* Requests from clients 0 and 1, the second possibly tampered, in one pre-prepare. */
static void build_preprepare(struct world *w, struct buf *out, uint32_t primary, int tamper_req,
			     size_t tamper_at)
{
	struct buf r0, r1;
	const uint8_t *req[2];
	uint32_t len[2];
	size_t off;

	buf_init(&r0);
	buf_init(&r1);
	seal_request(&w->c[0], &r0, 0, 10, "put a 1");
	seal_request(&w->c[1], &r1, 1, 20, "put b 2");
	if (tamper_req)
		r1.p[tamper_at] ^= 0x01;
	req[0] = r0.p;
	req[1] = r1.p;
	len[0] = (uint32_t)r0.len;
	len[1] = (uint32_t)r1.len;
	buf_reset(out);
	off = wire_put_preprepare(out, CLUSTER, primary, 3, 17, 2, req, len);
	assert_int_equal(auth_seal(&w->r[primary], out, off), 0);
	buf_free(&r0);
	buf_free(&r1);
}

static void test_preprepare(void **state)
{
	struct world w;
	struct buf b, one;
	size_t req_len;

	(void)state;
	buf_init(&b);
	buf_init(&one);
	for (size_t k = 0; k < 3; k++) {
		world_load(&w, MODES[k]);
		build_preprepare(&w, &b, 0, 0, 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), 0);
		if (MODES[k] == AUTH_MODE_NONE) {
			world_free(&w);
			continue;
		}
		/* flip the op: the client's signature/MAC no longer matches, and the
		 * primary's valid seal over the batch does not save it */
		seal_request(&w.c[1], &one, 1, 20, "put b 2");
		req_len = one.len;
		build_preprepare(&w, &b, 0, 1, WIRE_HDR_LEN + 13);
		for (int i = 0; i < N; i++)
			assert_int_equal(check(&w.r[i], &b), -1);
		if (MODES[k] == AUTH_MODE_SIG) {
			build_preprepare(&w, &b, 0, 1, req_len - 1); /* the signature */
			for (int i = 0; i < N; i++)
				assert_int_equal(check(&w.r[i], &b), -1);
		} else {
			/* a bad MAC in replica 2's slot only fools nobody but matters only
			 * to replica 2 (that is what authenticators are) */
			size_t slot2 = req_len - (N - 2) * WIRE_MAC_LEN;
			build_preprepare(&w, &b, 0, 1, slot2);
			assert_int_equal(check(&w.r[2], &b), -1);
			assert_int_equal(check(&w.r[1], &b), 0);
			assert_int_equal(check(&w.r[3], &b), 0);
		}
		/* a pre-prepare from a backup claiming to be the primary */
		build_preprepare(&w, &b, 1, 0, 0);
		set_u32(b.p + WIRE_OFF_SENDER, 0);
		assert_int_equal(check(&w.r[2], &b), -1);
		world_free(&w);
	}
	buf_free(&one);
	buf_free(&b);
}

/* A PRE-PREPARE (or, with as_batch, a BATCH) from replica 0 of two requests: client
 * 0's, and client 1's with the MAC slots in poison garbled, or signed. */
static void build_poisoned(struct world *w, struct buf *out, uint32_t poison, int sign_r1,
			   int as_batch)
{
	struct buf r0, r1;
	buf_init(&r0);
	buf_init(&r1);
	seal_request(&w->c[0], &r0, 0, 10, "put a 1");
	buf_reset(&r1);
	size_t roff = wire_put_request(&r1, CLUSTER, 1, 20, 0, (const uint8_t *)"put b 2", 7);
	if (sign_r1)
		assert_int_equal(auth_seal_signed(&w->c[1], &r1, roff), 0);
	else
		assert_int_equal(auth_seal(&w->c[1], &r1, roff), 0);
	assert_int_equal(auth_poison_slots(r1.p, r1.len, poison),
			 sign_r1 ? 0 : __builtin_popcount(poison));
	const uint8_t *req[2] = {r0.p, r1.p};
	uint32_t len[2] = {(uint32_t)r0.len, (uint32_t)r1.len};
	buf_reset(out);
	size_t off = wire_put_preprepare(out, CLUSTER, 0, 3, 17, 2, req, len);
	if (as_batch) {
		struct buf bt;
		buf_init(&bt);
		size_t boff = wire_begin(&bt, MSG_BATCH, CLUSTER, 0, 3, 17);
		buf_put(&bt, out->p + off + WIRE_HDR_LEN, out->len - off - WIRE_HDR_LEN);
		wire_finish(&bt, boff);
		buf_reset(out);
		buf_put(out, bt.p, bt.len);
		buf_free(&bt);
		off = 0;
	}
	assert_int_equal(auth_seal(&w->r[0], out, off), 0);
	buf_free(&r0);
	buf_free(&r1);
}

/* Issue 14, hole 2: a client (or a replica relaying its request) garbles replica 2's
 * MAC slot.  Replica 2 refuses the PRE-PREPARE, as it must (it cannot tell a faulty
 * primary from a faulty client), but from then on takes that client's requests only
 * signed, so a correct primary of a later view is never blamed for it again. */
static void test_suspect_client_must_sign(void **state)
{
	struct world w;
	struct buf b;
	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_MAC);

	build_poisoned(&w, &b, 1u << 2, 0, 0);
	assert_int_equal(check(&w.r[1], &b), 0); /* its slot is fine */
	assert_int_equal(w.r[1].suspects_marked, 0);
	assert_int_equal(check(&w.r[2], &b), -1);
	assert_int_equal(w.r[2].suspects_marked, 1);
	assert_true(w.r[2].client_suspect[1] && !w.r[2].client_suspect[0]);

	/* client 1's MACed request, sent to replica 2 directly: refused, counted */
	seal_request(&w.c[1], &b, 1, 21, "get b");
	assert_int_equal(check(&w.r[1], &b), 0);
	assert_int_equal(check(&w.r[2], &b), -1);
	assert_int_equal(w.r[2].suspect_refused, 1);
	/* the same request signed is taken, by every replica, in mac mode */
	size_t off;
	buf_reset(&b);
	off = wire_put_request(&b, CLUSTER, 1, 21, 0, (const uint8_t *)"get b", 5);
	assert_int_equal(auth_seal_signed(&w.c[1], &b, off), 0);
	assert_int_equal(hdr_kind(&b), AUTH_SIG);
	for (int i = 0; i < N; i++)
		assert_int_equal(check(&w.r[i], &b), 0);
	/* a batch with its signed request is taken by replica 2 */
	build_poisoned(&w, &b, 1u << 2, 1, 0);
	assert_int_equal(check(&w.r[2], &b), 0);
	/* and so is one where its MAC is good for replica 2: a correct primary that
	 * batched it is not to be blamed */
	build_poisoned(&w, &b, 1u << 3, 0, 0);
	assert_int_equal(check(&w.r[2], &b), 0);
	assert_int_equal(check(&w.r[3], &b), -1);
	/* nobody else suspects client 0 */
	for (int i = 0; i < N; i++)
		assert_false(w.r[i].client_suspect[0]);
	world_free(&w);
	buf_free(&b);
}

/* A BATCH (the answer to a FETCH) is content-addressed: its requests were authenticated
 * by the replicas whose certificate vouches for its digest, so a slot garbled in ours
 * does not make it refused (else a replica poisoned once could never fetch it). */
static void test_batch_requests_are_not_reverified(void **state)
{
	struct world w;
	struct buf b;
	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_MAC);
	build_poisoned(&w, &b, 1u << 2, 0, 1);
	assert_int_equal(check(&w.r[2], &b), 0);
	assert_int_equal(w.r[2].suspects_marked, 0);
	/* but the batch's own authenticator still counts */
	b.p[b.len - (size_t)N * WIRE_MAC_LEN + 2 * WIRE_MAC_LEN] ^= 1;
	assert_int_equal(check(&w.r[2], &b), -1);
	world_free(&w);
	buf_free(&b);
}

static void test_wrong_kind_for_mode(void **state)
{
	struct world none, sig, mac;
	struct buf b;

	(void)state;
	buf_init(&b);
	world_load(&none, AUTH_MODE_NONE);
	world_load(&sig, AUTH_MODE_SIG);
	world_load(&mac, AUTH_MODE_MAC);

	seal_digest(&sig.r[1], &b, MSG_COMMIT, 1);
	assert_int_equal(check(&sig.r[0], &b), 0);
	assert_int_equal(check(&mac.r[0], &b), -1);
	assert_int_equal(check(&none.r[0], &b), -1);

	seal_digest(&mac.r[1], &b, MSG_COMMIT, 1);
	assert_int_equal(check(&mac.r[0], &b), 0);
	assert_int_equal(check(&sig.r[0], &b), -1);
	assert_int_equal(check(&none.r[0], &b), -1);

	seal_digest(&none.r[1], &b, MSG_PREPARE, 1);
	assert_int_equal(check(&none.r[0], &b), 0);
	assert_int_equal(check(&sig.r[0], &b), -1);
	assert_int_equal(check(&mac.r[0], &b), -1);

	/* a signed checkpoint is right in mac mode, a MACed one is not */
	seal_digest(&mac.r[1], &b, MSG_CHECKPOINT, 1);
	assert_int_equal(hdr_kind(&b), AUTH_SIG);
	assert_int_equal(check(&mac.r[0], &b), 0);
	assert_int_equal(check(&sig.r[0], &b), 0);

	/* status messages are never authenticated, in any mode, from anyone */
	buf_reset(&b);
	size_t off = wire_put_empty(&b, MSG_STATUS_REQ, CLUSTER, 12345, 0, 0);
	assert_int_equal(auth_seal(&sig.c[0], &b, off), 0);
	assert_int_equal(b.len, off + WIRE_HDR_LEN);
	assert_int_equal(check(&sig.r[0], &b), 0);
	assert_int_equal(check(&mac.r[0], &b), 0);
	assert_int_equal(check(&none.r[0], &b), 0);

	world_free(&none);
	world_free(&sig);
	world_free(&mac);
	buf_free(&b);
}

/* Flip each bit-0 of every byte a given verifier depends on: it must reject. */
static void flip_all(struct auth_ctx *verifier, struct buf *b, size_t skip_from, size_t skip_to)
{
	for (size_t i = 0; i < b->len; i++) {
		if (i >= skip_from && i < skip_to)
			continue;
		b->p[i] ^= 0x01;
		int rc = check(verifier, b);
		if (rc == 0)
			fail_msg("flipped byte %zu accepted", i);
		b->p[i] ^= 0x01;
	}
	assert_int_equal(check(verifier, b), 0);
}

static void test_flipped_bytes(void **state)
{
	struct world w;
	struct buf b;
	size_t auth_start;

	(void)state;
	buf_init(&b);
	for (size_t k = 1; k < 3; k++) {
		world_load(&w, MODES[k]);

		seal_digest(&w.r[1], &b, MSG_COMMIT, 1);
		auth_start = WIRE_HDR_LEN + WIRE_DIGEST_LEN;
		if (MODES[k] == AUTH_MODE_SIG) {
			flip_all(&w.r[0], &b, 0, 0);
		} else {
			/* replica 0 checks slot 0 only */
			flip_all(&w.r[0], &b, auth_start + WIRE_MAC_LEN, b.len);
			flip_all(&w.r[3], &b, auth_start, auth_start + 3 * WIRE_MAC_LEN);
		}
		seal_request(&w.c[2], &b, 2, 7, "put k v");
		flip_all(&w.r[0], &b, MODES[k] == AUTH_MODE_MAC ? b.len - 3 * WIRE_MAC_LEN : 0,
			 b.len);
		seal_reply(&w.r[0], &b, 0, 2);
		flip_all(&w.c[2], &b, 0, 0);
		build_preprepare(&w, &b, 0, 0, 0);
		if (MODES[k] == AUTH_MODE_SIG)
			flip_all(&w.r[1], &b, 0, 0);
		world_free(&w);
	}
	buf_free(&b);
}

static void test_counters(void **state)
{
	struct world w;
	struct buf b;

	(void)state;
	buf_init(&b);

	world_load(&w, AUTH_MODE_SIG);
	seal_digest(&w.r[1], &b, MSG_PREPARE, 1);
	assert_int_equal(w.r[1].sigs_made, 1);
	assert_int_equal(check(&w.r[0], &b), 0);
	assert_int_equal(w.r[0].sigs_verified, 1);
	build_preprepare(&w, &b, 0, 0, 0);
	assert_int_equal(w.r[0].sigs_made, 1);
	assert_int_equal(check(&w.r[2], &b), 0);
	assert_int_equal(w.r[2].sigs_verified, 3); /* the batch and its two requests */
	assert_int_equal(w.r[2].macs_verified + w.r[2].macs_made, 0);
	world_free(&w);

	world_load(&w, AUTH_MODE_MAC);
	seal_digest(&w.r[1], &b, MSG_COMMIT, 1);
	assert_int_equal(w.r[1].macs_made, N);
	assert_int_equal(check(&w.r[0], &b), 0);
	assert_int_equal(w.r[0].macs_verified, 1);
	seal_reply(&w.r[1], &b, 1, 0);
	assert_int_equal(w.r[1].macs_made, N + 1);
	assert_int_equal(check(&w.c[0], &b), 0);
	assert_int_equal(w.c[0].macs_verified, 1);
	seal_digest(&w.r[1], &b, MSG_CHECKPOINT, 1);
	assert_int_equal(w.r[1].sigs_made, 1);
	build_preprepare(&w, &b, 0, 0, 0);
	assert_int_equal(w.c[0].macs_made, N);
	assert_int_equal(check(&w.r[3], &b), 0);
	/* the batch is signed (issue 14), its two requests MACed */
	assert_int_equal(w.r[3].sigs_verified, 1);
	assert_int_equal(w.r[3].macs_verified, 2);
	world_free(&w);

	world_load(&w, AUTH_MODE_NONE);
	seal_digest(&w.r[1], &b, MSG_PREPARE, 1);
	assert_int_equal(check(&w.r[0], &b), 0);
	assert_int_equal(w.r[1].sigs_made + w.r[1].macs_made, 0);
	assert_int_equal(w.r[0].sigs_verified + w.r[0].macs_verified, 0);
	world_free(&w);
	buf_free(&b);
}

/* ---- shape before crypto (HOLE 5 of issue 14) ---- */

/* Append (len u32, compact PRE-PREPARE sealed by a for (view, seq, d)) to body. */
static void put_cpp(struct auth_ctx *a, struct buf *body, uint64_t view, uint64_t seq,
		    const uint8_t *d)
{
	struct buf t;
	buf_init(&t);
	size_t off = wire_begin(&t, MSG_PREPREPARE, CLUSTER, a->self, view, seq);
	set_u32(t.p + off + WIRE_OFF_BODY_LEN, 2);
	buf_put(&t, d, WIRE_DIGEST_LEN);
	assert_int_equal(auth_seal_cpp(a, &t, off), 0);
	buf_put_u32(body, (uint32_t)t.len);
	buf_put(body, t.p, t.len);
	buf_free(&t);
}

/* Append (len u32, a PREPARE or CHECKPOINT sealed by a) to body. */
static void put_vote(struct auth_ctx *a, struct buf *body, uint8_t type, uint64_t view,
		     uint64_t seq, const uint8_t *d)
{
	struct buf t;
	buf_init(&t);
	size_t off = type == MSG_CHECKPOINT
			     ? wire_put_checkpoint(&t, CLUSTER, a->self, view, seq, d, 1000)
			     : wire_put_digest(&t, type, CLUSTER, a->self, view, seq, d);
	assert_int_equal(auth_seal(a, &t, off), 0);
	buf_put_u32(body, (uint32_t)t.len);
	buf_put(body, t.p, t.len);
	buf_free(&t);
}

/* Signatures replica `at` verifies to accept or refuse b: 0 or -1 in *rc. */
static uint64_t sigs_for(struct world *w, uint32_t at, const struct buf *b, int *rc)
{
	uint64_t before = w->r[at].sigs_verified;
	*rc = check(&w->r[at], b);
	return w->r[at].sigs_verified - before;
}

/* A VIEW-CHANGE of liar replica 1 for view 5 with `entries` invented certificates, one
 * per sequence number from first_seq: its own pre-prepare of view 1 (it is that view's
 * primary) and `preps` PREPAREs, all its own.  Every signature is valid. */
static void stuffed_viewchange(struct world *w, struct buf *b, uint32_t entries, uint64_t first_seq,
			       uint16_t preps)
{
	uint8_t d[WIRE_DIGEST_LEN];
	memset(d, 0x5a, sizeof(d));
	buf_reset(b);
	size_t off = wire_begin(b, MSG_VIEWCHANGE, CLUSTER, 1, 5, 0);
	buf_put_u16(b, 0);
	buf_put_u32(b, entries);
	for (uint32_t i = 0; i < entries; i++) {
		put_cpp(&w->r[1], b, 1, first_seq + i, d);
		buf_put_u16(b, preps);
		for (uint16_t k = 0; k < preps; k++)
			put_vote(&w->r[1], b, MSG_PREPARE, 1, first_seq + i, d);
	}
	wire_finish(b, off);
	assert_int_equal(auth_seal(&w->r[1], b, off), 0);
}

/* A VIEW-CHANGE, NEW-VIEW or batch stuffed with nested messages its sender signed itself
 * is refused before any nested signature is checked: the work a message costs is bounded
 * by n and the window, not by how much a liar can pack into 8 MiB. */
static void test_stuffed_messages_refused_before_crypto(void **state)
{
	struct world w;
	struct buf b;
	int rc;
	uint8_t d[WIRE_DIGEST_LEN];
	memset(d, 0x33, sizeof(d));

	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_SIG);

	/* A well-formed VIEW-CHANGE passes: replica 2's, with one certificate of view 0
	 * (replica 0's pre-prepare, PREPAREs of 1 and 2).  4 signatures. */
	size_t off = wire_begin(&b, MSG_VIEWCHANGE, CLUSTER, 2, 1, 0);
	buf_put_u16(&b, 0);
	buf_put_u32(&b, 1);
	put_cpp(&w.r[0], &b, 0, 1, d);
	buf_put_u16(&b, 2);
	put_vote(&w.r[1], &b, MSG_PREPARE, 0, 1, d);
	put_vote(&w.r[2], &b, MSG_PREPARE, 0, 1, d);
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&w.r[2], &b, off), 0);
	assert_int_equal(sigs_for(&w, 3, &b, &rc), 4);
	assert_int_equal(rc, 0);
	struct buf good;
	buf_init(&good);
	buf_put(&good, b.p, b.len);

	/* 1000 certificates whose PREPAREs are one replica's, three times over, and the
	 * primary's: it was 4001 signatures to accept it (and the core then refused it). */
	stuffed_viewchange(&w, &b, 1000, 1, 3);
	assert_true(sigs_for(&w, 3, &b, &rc) <= 1);
	assert_int_equal(rc, -1);

	/* The checkpoint proof: N+1 CHECKPOINTs, one replica's again and again. */
	buf_reset(&b);
	off = wire_begin(&b, MSG_VIEWCHANGE, CLUSTER, 1, 5, 8);
	buf_put_u16(&b, N + 1);
	for (int i = 0; i < N + 1; i++)
		put_vote(&w.r[1], &b, MSG_CHECKPOINT, 0, 8, d);
	buf_put_u32(&b, 0);
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&w.r[1], &b, off), 0);
	assert_true(sigs_for(&w, 3, &b, &rc) <= 1);
	assert_int_equal(rc, -1);

	/* More certificates than a window holds (each well-formed on its own). */
	w.r[3].window = 16;
	assert_int_equal(sigs_for(&w, 3, &good, &rc), 4); /* seq 1: in the window */
	assert_int_equal(rc, 0);
	stuffed_viewchange(&w, &b, 17, 1, 0);
	assert_true(sigs_for(&w, 3, &b, &rc) <= 1);
	assert_int_equal(rc, -1);
	stuffed_viewchange(&w, &b, 1, 17, 0); /* one, beyond h + window */
	assert_true(sigs_for(&w, 3, &b, &rc) <= 1);
	assert_int_equal(rc, -1);

	/* A NEW-VIEW carrying the same VIEW-CHANGE N times. */
	buf_reset(&b);
	off = wire_begin(&b, MSG_NEWVIEW, CLUSTER, 1, 1, 0);
	buf_put_u16(&b, N);
	for (int i = 0; i < N; i++) {
		buf_put_u32(&b, (uint32_t)good.len);
		buf_put(&b, good.p, good.len);
	}
	buf_put_u32(&b, 0);
	wire_finish(&b, off);
	assert_int_equal(auth_seal(&w.r[1], &b, off), 0);
	assert_true(sigs_for(&w, 3, &b, &rc) <= 1);
	assert_int_equal(rc, -1);

	/* A batch of more requests than batch_max. */
	build_preprepare(&w, &b, 0, 0, 0); /* two requests */
	assert_int_equal(sigs_for(&w, 2, &b, &rc), 3);
	assert_int_equal(rc, 0);
	w.r[2].batch_max = 1;
	assert_true(sigs_for(&w, 2, &b, &rc) <= 1);
	assert_int_equal(rc, -1);

	buf_free(&good);
	world_free(&w);
	buf_free(&b);
}

static void test_seal_misuse(void **state)
{
	struct world w;
	struct buf b;
	size_t off;

	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_SIG);
	/* not a whole message at off */
	buf_put_u32(&b, 7);
	assert_int_equal(auth_seal(&w.r[0], &b, 0), -1);
	/* sealing twice */
	buf_reset(&b);
	seal_digest(&w.r[0], &b, MSG_COMMIT, 0);
	assert_int_equal(auth_seal(&w.r[0], &b, 0), -1);
	/* a message after another one in the same buffer */
	buf_reset(&b);
	seal_digest(&w.r[0], &b, MSG_COMMIT, 0);
	uint8_t d[WIRE_DIGEST_LEN] = {0};
	off = wire_put_digest(&b, MSG_PREPARE, CLUSTER, 0, 1, 2, d);
	assert_int_equal(auth_seal(&w.r[0], &b, off), 0);
	struct msg m;
	assert_int_equal(wire_decode(b.p + off, b.len - off, CLUSTER, &m), WIRE_OK);
	assert_int_equal(auth_verify(&w.r[2], &m), 0);
	world_free(&w);
	buf_free(&b);
}

static void test_load_errors(void **state)
{
	struct auth_ctx a;
	char err[256], path[1024];

	(void)state;
	/* more clients than have keys */
	err[0] = '\0';
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N, NCLIENTS + 1, 0, 0, err,
				   sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "client-3.pub"));
	/* more replicas than have keys */
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N + 1, NCLIENTS, 0, 0, err,
				   sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "replica-4.pub"));
	/* but a client needs no client keys but its own secret */
	assert_int_equal(auth_load(&a, AUTH_MODE_MAC, fx_keys(), N, NCLIENTS + 100, 1, 2, err,
				   sizeof(err)),
			 0);
	auth_free(&a);
	/* a client without a key */
	assert_int_equal(auth_load(&a, AUTH_MODE_MAC, fx_keys(), N, NCLIENTS, 1, NCLIENTS, err,
				   sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "client-3.key"));
	/* ids out of range */
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N, NCLIENTS, 0, N, err,
				   sizeof(err)),
			 -1);
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), 0, NCLIENTS, 0, 0, err,
				   sizeof(err)),
			 -1);
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), WIRE_MAX_REPLICAS + 1, 0, 0, 0,
				   err, sizeof(err)),
			 -1);
	/* a secret key readable by others */
	snprintf(path, sizeof(path), "%s/replica-1.key", fx_keys());
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N, NCLIENTS, 0, 1, err,
				   sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "replica-1.key"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N, NCLIENTS, 0, 1, err,
				   sizeof(err)),
			 0);
	auth_free(&a);
}

/* ---- key hygiene (issue 9) ---- */

/* A client's key cannot produce any replica message - not the signed proofs either
 * (CHECKPOINT, VIEW-CHANGE), nor a REPLY that another client would accept - and a
 * replica's key cannot speak for another replica. */
static void test_no_impersonation(void **state)
{
	struct world w;
	struct buf b;
	size_t off;

	(void)state;
	buf_init(&b);
	for (size_t k = 1; k < 3; k++) {
		world_load(&w, MODES[k]);
		for (uint32_t claimed = 0; claimed < N; claimed++) {
			seal_digest(&w.c[0], &b, MSG_CHECKPOINT, claimed);
			for (int i = 0; i < N; i++)
				assert_int_equal(check(&w.r[i], &b), -1);
			/* an (empty) VIEW-CHANGE: no proof, no prepared certificates */
			buf_reset(&b);
			off = wire_begin(&b, MSG_VIEWCHANGE, CLUSTER, claimed, 4, 0);
			buf_put_u16(&b, 0);
			buf_put_u32(&b, 0);
			wire_finish(&b, off);
			assert_int_equal(auth_seal(&w.c[1], &b, off), 0);
			for (int i = 0; i < N; i++)
				assert_int_equal(check(&w.r[i], &b), -1);
			/* a REPLY "from replica claimed" for client 2, made with client 1's key
			 * (in mac mode a client holds no key to even seal one) */
			buf_reset(&b);
			off = wire_put_reply(&b, CLUSTER, claimed, 3, 2, 99, (const uint8_t *)"ok",
					     2);
			if (auth_seal(&w.c[1], &b, off) == 0)
				assert_int_equal(check(&w.c[2], &b), -1);
			else
				assert_int_equal(MODES[k], AUTH_MODE_MAC);
			/* replica 1 speaking as another replica */
			if (claimed != 1) {
				seal_digest(&w.r[1], &b, MSG_PREPARE, claimed);
				for (int i = 0; i < N; i++)
					if ((uint32_t)i != 1)
						assert_int_equal(check(&w.r[i], &b), -1);
			}
		}
		world_free(&w);
	}
	buf_free(&b);
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *q = p;
	for (size_t i = 0; i < n; i++)
		if (q[i])
			return 0;
	return 1;
}

/* auth_free leaves no secret behind in the context: the secret key, the derived
 * pairwise MAC keys, everything (crypto_wipe = sodium_memzero). */
static void test_auth_free_wipes(void **state)
{
	struct auth_ctx a;
	struct buf b;

	(void)state;
	buf_init(&b);
	for (int as_client = 0; as_client < 2; as_client++) {
		fx_auth(&a, AUTH_MODE_MAC, as_client, 1);
		assert_false(all_zero(a.sk, sizeof(a.sk)));
		/* derive MAC keys, with every replica and (as a replica) with a client */
		if (as_client)
			seal_request(&a, &b, 1, 7, "get k");
		else
			seal_digest(&a, &b, MSG_COMMIT, 1);
		assert_false(all_zero(a.replica_mac, sizeof(a.replica_mac)));
		if (!as_client) {
			struct msg m;
			struct auth_ctx *cl = calloc(1, sizeof(*cl));
			assert_non_null(cl);
			fx_auth(cl, AUTH_MODE_MAC, 1, 0);
			seal_request(cl, &b, 0, 9, "get k");
			assert_int_equal(wire_decode(b.p, b.len, CLUSTER, &m), WIRE_OK);
			assert_int_equal(auth_verify(&a, &m), 0);
			assert_int_equal(a.client_mac_ready[0], 1);
			assert_false(all_zero(a.client_mac, CRYPTO_MACKEY_LEN));
			auth_free(cl);
			assert_true(all_zero(cl, sizeof(*cl)));
			free(cl);
		}
		auth_free(&a);
		assert_true(all_zero(&a, sizeof(a)));
	}
	buf_free(&b);
}

/* Messages about a bad secret key name the file, never its contents. */
static void test_key_errors_keep_secrets(void **state)
{
	char path[1024], err[512], good[200], bad[200];
	struct auth_ctx a;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/replica-3.key", fx_keys());
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(good, sizeof(good), f));
	fclose(f);
	assert_int_equal(strlen(good), 129);
	/* corrupt public half, bad hex, a stray byte: each refused, none quoted */
	for (int v = 0; v < 3; v++) {
		strcpy(bad, good);
		if (v == 0)
			bad[100] = bad[100] == 'a' ? 'b' : 'a';
		else if (v == 1)
			bad[10] = 'x';
		else
			strcpy(bad + 128, "!\n");
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(bad, f);
		fclose(f);
		err[0] = '\0';
		assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N, NCLIENTS, 0, 3, err,
					   sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "replica-3.key"));
		/* no 8-character run of the key (or of the damaged copy) in the message */
		for (size_t i = 0; i + 8 <= 128; i++) {
			char run[9];
			memcpy(run, good + i, 8);
			run[8] = '\0';
			assert_null(strstr(err, run));
			memcpy(run, bad + i, 8);
			assert_null(strstr(err, run));
		}
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(good, f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(auth_load(&a, AUTH_MODE_SIG, fx_keys(), N, NCLIENTS, 0, 3, err,
				   sizeof(err)),
			 0);
	auth_free(&a);
}

/* ---- robust mode (issue 16 item 3): signed requests and the ban table ---- */

static void seal_request_signed(struct auth_ctx *a, struct buf *b, uint32_t client, uint64_t ts)
{
	buf_reset(b);
	size_t off = wire_put_request(b, CLUSTER, client, ts, 0, (const uint8_t *)"put k v", 7);
	assert_int_equal(auth_seal_signed(a, b, off), 0);
}

static int check_client(struct auth_ctx *a, const struct buf *b, uint32_t source, uint64_t now)
{
	struct msg m;
	if (wire_decode(b->p, b->len, CLUSTER, &m) != WIRE_OK)
		return 99;
	return auth_verify_client(a, &m, source, now);
}

/* With robust on and auth = mac, a MACed request is refused before any MAC is
 * checked, counted as unsigned; a signed one is taken.  Robust off: both taken. */
static void test_robust_requires_signed_requests(void **state)
{
	struct world w;
	struct buf b;
	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_MAC);
	struct auth_ctx *r = &w.r[0];
	seal_request(&w.c[1], &b, 1, 5, "get a");
	assert_int_equal(check_client(r, &b, 7, 1000), AUTH_CLIENT_OK); /* robust off */
	r->robust = 1;
	uint64_t macs = r->macs_verified;
	assert_int_equal(check_client(r, &b, 7, 1000), AUTH_CLIENT_UNSIGNED);
	assert_int_equal(r->unsigned_requests, 1);
	assert_int_equal(r->macs_verified, macs); /* refused without a MAC check */
	assert_int_equal(r->bans_made, 0);        /* unsigned is no proof of a fault */
	seal_request_signed(&w.c[1], &b, 1, 6);
	assert_int_equal(check_client(r, &b, 7, 1000), AUTH_CLIENT_OK);
	/* a PRE-PREPARE may carry only signed requests either (client 1's is MACed) */
	build_poisoned(&w, &b, 0, 0, 0);
	w.r[1].robust = 1;
	assert_int_equal(check(&w.r[1], &b), -1);
	build_poisoned(&w, &b, 0, 1, 0); /* client 1 signed; client 0's is still MACed */
	assert_int_equal(check(&w.r[1], &b), -1);
	w.r[1].robust = 0;
	assert_int_equal(check(&w.r[1], &b), 0);
	world_free(&w);
	buf_free(&b);
}

/* A request that fails verification bans its client on that connection for
 * AUTH_BAN_MS: its requests there are dropped unverified (even good ones), counted;
 * the same client on another connection, or relayed by a replica (source 0), is not
 * affected; the ban expires with the clock the caller passes. */
static void test_robust_bans_bad_clients(void **state)
{
	struct world w;
	struct buf b;
	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_MAC);
	struct auth_ctx *r = &w.r[2];
	r->robust = 1;
	seal_request_signed(&w.c[1], &b, 1, 9);
	b.p[b.len - 1] ^= 0x01; /* a bad signature */
	assert_int_equal(check_client(r, &b, 7, 1000), AUTH_CLIENT_BAD);
	assert_int_equal(r->bans_made, 1);
	assert_int_equal(auth_bans_active(r, 1000), 1);
	b.p[b.len - 1] ^= 0x01; /* good again */
	uint64_t sigs = r->sigs_verified;
	assert_int_equal(check_client(r, &b, 7, 2000), AUTH_CLIENT_BANNED);
	assert_int_equal(r->blacklisted_drops, 1);
	assert_int_equal(r->sigs_verified, sigs); /* dropped without a check */
	assert_int_equal(check_client(r, &b, 8, 2000), AUTH_CLIENT_OK);
	assert_int_equal(check_client(r, &b, 0, 2000), AUTH_CLIENT_OK);
	seal_request_signed(&w.c[0], &b, 0, 9); /* another client, same connection */
	assert_int_equal(check_client(r, &b, 7, 2000), AUTH_CLIENT_OK);
	seal_request_signed(&w.c[1], &b, 1, 10);
	assert_int_equal(check_client(r, &b, 7, 1000 + AUTH_BAN_MS - 1), AUTH_CLIENT_BANNED);
	assert_int_equal(check_client(r, &b, 7, 1000 + AUTH_BAN_MS), AUTH_CLIENT_OK);
	assert_int_equal(auth_bans_active(r, 1000 + AUTH_BAN_MS), 0);
	/* relayed and bad: refused, but nobody banned (the relay may be the liar) */
	b.p[b.len - 1] ^= 0x01;
	assert_int_equal(check_client(r, &b, 0, 20000), AUTH_CLIENT_BAD);
	assert_int_equal(r->bans_made, 1);
	/* robust off: a bad request is refused, nobody banned */
	r->robust = 0;
	assert_int_equal(check_client(r, &b, 7, 20000), AUTH_CLIENT_BAD);
	assert_int_equal(r->bans_made, 1);
	world_free(&w);
	buf_free(&b);
}

/* The table has AUTH_BAN_SLOTS entries: more bans evict the one that expires first,
 * never grow it. */
static void test_robust_ban_table_is_bounded(void **state)
{
	struct world w;
	struct buf b;
	(void)state;
	buf_init(&b);
	world_load(&w, AUTH_MODE_MAC);
	struct auth_ctx *r = &w.r[1];
	r->robust = 1;
	seal_request_signed(&w.c[2], &b, 2, 3);
	b.p[b.len - 1] ^= 0x01;
	for (uint32_t src = 1; src <= AUTH_BAN_SLOTS + 10; src++)
		assert_int_equal(check_client(r, &b, src, 5000 + src), AUTH_CLIENT_BAD);
	assert_int_equal(r->banned, AUTH_BAN_SLOTS);
	assert_int_equal(r->bans_made, AUTH_BAN_SLOTS + 10);
	b.p[b.len - 1] ^= 0x01;
	assert_int_equal(check_client(r, &b, 1, 6000), AUTH_CLIENT_OK); /* evicted first */
	assert_int_equal(check_client(r, &b, AUTH_BAN_SLOTS + 10, 6000), AUTH_CLIENT_BANNED);
	world_free(&w);
	buf_free(&b);
}

/* A PRE-PREPARE by replica 0 (view 3, seq 17) carrying the one request in req. */
static void pp_with(struct world *w, struct buf *out, const struct buf *req)
{
	const uint8_t *r[1] = {req->p};
	uint32_t l[1] = {(uint32_t)req->len};
	buf_reset(out);
	size_t off = wire_put_preprepare(out, CLUSTER, 0, 3, 17, 1, r, l);
	assert_int_equal(auth_seal(&w->r[0], out, off), 0);
}

/* Robust mode with MACs: a client's signed request is a hybrid (a signature, then an
 * authenticator).  Received directly its signature is checked (a good MAC behind a
 * bad signature still bans); inside a PRE-PREPARE a backup checks its MAC slot only,
 * and the signature only when its slot is garbled - so a garbled slot cannot make a
 * correct primary look faulty, and the common case costs one MAC. */
static void test_robust_hybrid_requests(void **state)
{
	struct world w;
	struct buf req, pp;
	(void)state;
	buf_init(&req);
	buf_init(&pp);
	world_load(&w, AUTH_MODE_MAC);
	for (int i = 0; i < N; i++)
		w.r[i].robust = 1;
	w.c[1].robust = 1;
	seal_request_signed(&w.c[1], &req, 1, 30);
	assert_int_equal(hdr_kind(&req), AUTH_HYBRID);
	assert_int_equal(req.len, WIRE_HDR_LEN + get_u32(req.p + WIRE_OFF_BODY_LEN) + WIRE_SIG_LEN +
					  N * WIRE_MAC_LEN);
	/* directly, at the primary: the signature */
	uint64_t sigs = w.r[0].sigs_verified, macs = w.r[0].macs_verified;
	assert_int_equal(check_client(&w.r[0], &req, 5, 100), AUTH_CLIENT_OK);
	assert_int_equal(w.r[0].sigs_verified, sigs + 1);
	assert_int_equal(w.r[0].macs_verified, macs);
	/* in a PRE-PREPARE, at a backup: the pre-prepare's signature and one MAC */
	pp_with(&w, &pp, &req);
	sigs = w.r[2].sigs_verified;
	macs = w.r[2].macs_verified;
	assert_int_equal(check(&w.r[2], &pp), 0);
	assert_int_equal(w.r[2].sigs_verified, sigs + 1);
	assert_int_equal(w.r[2].macs_verified, macs + 1);
	/* replica 2's slot garbled: the signature decides, and it is good */
	size_t slot2 = req.len - (size_t)(N - 2) * WIRE_MAC_LEN;
	req.p[slot2] ^= 0x5a;
	pp_with(&w, &pp, &req);
	sigs = w.r[2].sigs_verified;
	assert_int_equal(check(&w.r[2], &pp), 0);
	assert_int_equal(w.r[2].sigs_verified, sigs + 2);
	assert_int_equal(w.r[2].suspects_marked, 0);
	assert_int_equal(check(&w.r[3], &pp), 0); /* its slot is fine */
	/* garbled slot and a bad signature: refused */
	req.p[req.len - (size_t)N * WIRE_MAC_LEN - 1] ^= 0x01;
	pp_with(&w, &pp, &req);
	assert_int_equal(check(&w.r[2], &pp), -1);
	/* directly, a good MAC behind a bad signature: refused and banned */
	req.p[slot2] ^= 0x5a;
	assert_int_equal(check_client(&w.r[0], &req, 5, 200), AUTH_CLIENT_BAD);
	assert_int_equal(w.r[0].bans_made, 1);
	/* not robust: a hybrid request is a signed one, good in mac mode */
	w.r[1].robust = 0;
	seal_request_signed(&w.c[1], &req, 1, 31);
	assert_int_equal(check(&w.r[1], &req), 0);
	world_free(&w);
	buf_free(&req);
	buf_free(&pp);
}

/* Each client signature is verified at most once per replica (auth.h sig_cache): the
 * same request again - directly on another connection, relayed, inside a PRE-PREPARE
 * with our slot garbled - costs no second check; other bytes, or the same bytes with
 * another (bad) signature, are not hits. */
static void test_signature_verified_once(void **state)
{
	struct world w;
	struct buf req, pp;
	(void)state;
	buf_init(&req);
	buf_init(&pp);
	world_load(&w, AUTH_MODE_MAC);
	for (int i = 0; i < N; i++)
		w.r[i].robust = 1;
	w.c[1].robust = 1;
	struct auth_ctx *r = &w.r[2];
	seal_request_signed(&w.c[1], &req, 1, 40);
	uint64_t sigs = r->sigs_verified;
	assert_int_equal(check_client(r, &req, 5, 100), AUTH_CLIENT_OK);
	assert_int_equal(r->sigs_verified, sigs + 1);
	assert_int_equal(check_client(r, &req, 6, 100), AUTH_CLIENT_OK); /* another connection */
	assert_int_equal(check_client(r, &req, 0, 100), AUTH_CLIENT_OK); /* relayed */
	assert_int_equal(r->sigs_verified, sigs + 1);
	assert_int_equal(r->sig_cache_hits, 2);
	/* in a PRE-PREPARE with our slot garbled: the pre-prepare's signature only */
	req.p[req.len - (size_t)(N - 2) * WIRE_MAC_LEN] ^= 0x5a;
	pp_with(&w, &pp, &req);
	assert_int_equal(check(r, &pp), 0);
	assert_int_equal(r->sigs_verified, sigs + 2);
	assert_int_equal(r->hybrid_bad_mac, 1);
	/* the same bytes with a bad signature: checked, refused, never cached */
	req.p[req.len - (size_t)N * WIRE_MAC_LEN - 1] ^= 0x01;
	assert_int_equal(check_client(r, &req, 7, 100), AUTH_CLIENT_BAD);
	assert_int_equal(check_client(r, &req, 8, 100), AUTH_CLIENT_BAD);
	assert_int_equal(r->sigs_verified, sigs + 4);
	/* another request of the same client: checked */
	seal_request_signed(&w.c[1], &req, 1, 41);
	assert_int_equal(check_client(r, &req, 5, 100), AUTH_CLIENT_OK);
	assert_int_equal(r->sigs_verified, sigs + 5);
	world_free(&w);
	buf_free(&req);
	buf_free(&pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_table),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_prepare_round_trip),
		cmocka_unit_test(test_client_key_cannot_act_as_replica),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_checkpoint_round_trip),
		cmocka_unit_test(test_preprepare),
		cmocka_unit_test(test_wrong_kind_for_mode),
		cmocka_unit_test(test_flipped_bytes),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_stuffed_messages_refused_before_crypto),
		cmocka_unit_test(test_seal_misuse),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_no_impersonation),
		cmocka_unit_test(test_auth_free_wipes),
		cmocka_unit_test(test_key_errors_keep_secrets),
		cmocka_unit_test(test_suspect_client_must_sign),
		cmocka_unit_test(test_batch_requests_are_not_reverified),
		cmocka_unit_test(test_robust_requires_signed_requests),
		cmocka_unit_test(test_robust_bans_bad_clients),
		cmocka_unit_test(test_robust_ban_table_is_bounded),
		cmocka_unit_test(test_robust_hybrid_requests),
		cmocka_unit_test(test_signature_verified_once),
	};

	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
