/* test_edge.c - the edge sequence (replica/edge.h): decode -> edge rules -> verify.
 *
 * Replica 0 of 4 receives; replica 1 and client 2 send, with real signatures and MAC
 * authenticators (keys from the shared unit-test fixture, tests/unit/fixture.h).
 * Each refusal must come with its own verdict and be counted where the status document
 * reads it (rejected.bad_format, rejected.bad_auth).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/edge.h"
#include "tests/unit/fixture.h"
#include "wire/wire.h"

#define CLUSTER 0xc1u
#define N 4
#define NCLIENTS 4
#define SELF 0u
#define PEER 1u
#define CLIENT 2u

struct fixture {
	struct auth_ctx self;   /* replica 0: the receiver */
	struct auth_ctx peer;   /* replica 1 */
	struct auth_ctx client; /* client 2 */
	struct edge_counters c;
	struct edge e;
	struct buf b;
	struct msg m;
};

static int group_setup(void **state)
{
	(void)state;
	return fx_setup("test_edge", N, NCLIENTS);
}

static struct fixture *fixture_new(enum auth_mode mode)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx_auth(&fx->self, mode, 0, SELF);
	fx_auth(&fx->peer, mode, 0, PEER);
	fx_auth(&fx->client, mode, 1, CLIENT);
	fx->e = (struct edge){.cluster_id = CLUSTER,
			      .n = N,
			      .self = SELF,
			      .max_clients = NCLIENTS,
			      .auth = &fx->self,
			      .count = &fx->c};
	buf_init(&fx->b);
	return fx;
}

static int setup_sig(void **state)
{
	*state = fixture_new(AUTH_MODE_SIG);
	return 0;
}

static int setup_mac(void **state)
{
	*state = fixture_new(AUTH_MODE_MAC);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	auth_free(&fx->self);
	auth_free(&fx->peer);
	auth_free(&fx->client);
	buf_free(&fx->b);
	free(fx);
	return 0;
}

/* ---- sealed messages, in fx->b ----
 * COMMITs: signed in sig mode, MAC authenticators in mac mode (auth_kind_for). */

static void commit_from(struct fixture *fx, struct auth_ctx *a, uint32_t sender)
{
	uint8_t d[WIRE_DIGEST_LEN];
	memset(d, 0x42, sizeof(d));
	buf_reset(&fx->b);
	size_t off = wire_put_digest(&fx->b, MSG_COMMIT, CLUSTER, sender, 0, 1, d);
	assert_int_equal(auth_seal(a, &fx->b, off), 0);
	assert_int_equal(fx->b.err, 0);
}

static void request_from(struct fixture *fx, uint32_t client)
{
	buf_reset(&fx->b);
	size_t off = wire_put_request(&fx->b, CLUSTER, client, 7, 0, (const uint8_t *)"op", 2);
	assert_int_equal(auth_seal(&fx->client, &fx->b, off), 0);
	assert_int_equal(fx->b.err, 0);
}

static enum edge_verdict receive(struct fixture *fx, enum net_sock sock)
{
	return edge_receive(&fx->e, sock, 0, 0, fx->b.p, fx->b.len, &fx->m);
}

/* Flip the first byte of the trailer: the signature, or MAC slot 0 (the receiver's). */
static void flip_trailer(struct fixture *fx)
{
	struct msg m;
	assert_int_equal(wire_decode(fx->b.p, fx->b.len, CLUSTER, &m), WIRE_OK);
	assert_true(m.h.auth_len > 0);
	fx->b.p[fx->b.len - m.h.auth_len] ^= 0x01;
}

static void assert_counts(const struct fixture *fx, uint64_t bad_format, uint64_t not_allowed,
			  uint64_t bad_auth, uint64_t unheard)
{
	assert_int_equal(fx->c.bad_format, bad_format);
	assert_int_equal(fx->c.not_allowed, not_allowed);
	assert_int_equal(fx->c.bad_auth, bad_auth);
	assert_int_equal(fx->c.unheard, unheard);
}

/* ---- tests ---- */

static void good_messages_pass(void **state)
{
	struct fixture *fx = *state;
	commit_from(fx, &fx->peer, PEER);
	assert_int_equal(receive(fx, NET_PEER), EDGE_OK);
	assert_int_equal(fx->m.h.type, MSG_COMMIT);
	assert_int_equal(fx->m.h.sender, PEER);
	assert_true(fx->self.sigs_verified + fx->self.macs_verified > 0); /* really checked */
	request_from(fx, CLIENT);
	assert_int_equal(receive(fx, NET_CLIENT), EDGE_OK);
	assert_int_equal(fx->m.h.type, MSG_REQUEST);
	/* a backup relays a client's REQUEST to the primary (PBFT §4.4) */
	assert_int_equal(receive(fx, NET_PEER), EDGE_OK);
	assert_counts(fx, 0, 0, 0, 0);
}

static void wrong_socket_refused_before_crypto(void **state)
{
	struct fixture *fx = *state;
	uint64_t checked = fx->self.sigs_verified + fx->self.macs_verified;
	commit_from(fx, &fx->peer, PEER);
	assert_int_equal(receive(fx, NET_CLIENT),
			 EDGE_NOT_ALLOWED); /* replica type, client plane */
	assert_int_equal(receive(fx, NET_ADMIN), EDGE_NOT_ALLOWED);
	request_from(fx, CLIENT);
	assert_int_equal(receive(fx, NET_ADMIN), EDGE_NOT_ALLOWED);
	buf_reset(&fx->b);
	(void)wire_put_empty(&fx->b, MSG_STATUS_REQ, CLUSTER, 0, 0, 0);
	assert_int_equal(receive(fx, NET_PEER), EDGE_NOT_ALLOWED);
	assert_int_equal(receive(fx, NET_CLIENT), EDGE_NOT_ALLOWED);
	assert_counts(fx, 5, 5, 0, 0);
	/* cheap before expensive: no signature or MAC was checked for any of them */
	assert_int_equal(fx->self.sigs_verified + fx->self.macs_verified, checked);
}

static void wrong_sender_refused(void **state)
{
	struct fixture *fx = *state;
	commit_from(fx, &fx->peer, SELF); /* speaking as the receiver itself */
	assert_int_equal(receive(fx, NET_PEER), EDGE_NOT_ALLOWED);
	commit_from(fx, &fx->peer, N); /* no such replica */
	assert_int_equal(receive(fx, NET_PEER), EDGE_NOT_ALLOWED);
	buf_reset(&fx->b);
	(void)wire_put_request(&fx->b, CLUSTER, NCLIENTS, 7, 0, (const uint8_t *)"op", 2);
	assert_int_equal(receive(fx, NET_CLIENT), EDGE_NOT_ALLOWED); /* client id out of range */
	assert_counts(fx, 3, 3, 0, 0);
}

static void bad_auth_refused(void **state)
{
	struct fixture *fx = *state;
	commit_from(fx, &fx->peer, PEER);
	flip_trailer(fx); /* the signature, or our (replica 0's) MAC slot */
	assert_int_equal(receive(fx, NET_PEER), EDGE_BAD_AUTH);
	commit_from(fx, &fx->peer, PEER);
	fx->b.p[WIRE_HDR_LEN] ^= 0x01; /* the body: the digest */
	assert_int_equal(receive(fx, NET_PEER), EDGE_BAD_AUTH);
	commit_from(fx, &fx->client, PEER); /* a client's key cannot make a COMMIT verify */
	assert_int_equal(receive(fx, NET_PEER), EDGE_BAD_AUTH);
	request_from(fx, CLIENT);
	fx->b.p[WIRE_HDR_LEN] ^= 0x80; /* the body: the operation no longer matches */
	assert_int_equal(receive(fx, NET_CLIENT), EDGE_BAD_AUTH);
	assert_counts(fx, 0, 0, 4, 0);
}

static void truncated_frames_refused(void **state)
{
	struct fixture *fx = *state;
	commit_from(fx, &fx->peer, PEER);
	for (size_t len = 0; len < fx->b.len; len++) {
		fx->e.last_wire_err = WIRE_OK;
		assert_int_equal(edge_receive(&fx->e, NET_PEER, 0, 0, fx->b.p, len, &fx->m),
				 EDGE_BAD_FORMAT);
		assert_int_not_equal(fx->e.last_wire_err, WIRE_OK);
	}
	assert_counts(fx, fx->b.len, 0, 0, 0);
	/* and a byte too many */
	assert_int_equal(buf_reserve(&fx->b, 1), 0);
	fx->b.p[fx->b.len] = 0;
	assert_int_equal(edge_receive(&fx->e, NET_PEER, 0, 0, fx->b.p, fx->b.len + 1, &fx->m),
			 EDGE_BAD_FORMAT);
	assert_int_equal(fx->e.last_wire_err, WIRE_E_TRAILING);
}

static void foreign_cluster_refused(void **state)
{
	struct fixture *fx = *state;
	commit_from(fx, &fx->peer, PEER);
	fx->e.cluster_id = CLUSTER + 1;
	assert_int_equal(receive(fx, NET_PEER), EDGE_BAD_FORMAT);
	assert_int_equal(fx->e.last_wire_err, WIRE_E_CLUSTER);
	assert_counts(fx, 1, 0, 0, 0);
}

static int deaf_to_peer(void *ctx, uint32_t sender)
{
	(*(int *)ctx)++;
	return sender != PEER;
}

static void unheard_peer_not_verified_nor_rejected(void **state)
{
	struct fixture *fx = *state;
	int asked = 0;
	fx->e.hears = deaf_to_peer;
	fx->e.hears_ctx = &asked;
	uint64_t checked = fx->self.sigs_verified + fx->self.macs_verified;
	commit_from(fx, &fx->peer, PEER);
	assert_int_equal(receive(fx, NET_PEER), EDGE_UNHEARD);
	assert_int_equal(fx->self.sigs_verified + fx->self.macs_verified, checked);
	/* a REQUEST relayed over the peer plane is the client's, not the cut peer's */
	request_from(fx, CLIENT);
	assert_int_equal(receive(fx, NET_PEER), EDGE_OK);
	assert_int_equal(receive(fx, NET_CLIENT), EDGE_OK);
	assert_int_equal(asked, 1);
	assert_counts(fx, 0, 0, 0, 1);
}

/* One of each, in a row: each lands in its own counter, nothing else moves. */
static void each_reason_counted(void **state)
{
	struct fixture *fx = *state;
	commit_from(fx, &fx->peer, PEER);
	assert_int_equal(edge_receive(&fx->e, NET_PEER, 0, 0, fx->b.p, 3, &fx->m), EDGE_BAD_FORMAT);
	assert_counts(fx, 1, 0, 0, 0);
	assert_int_equal(receive(fx, NET_CLIENT), EDGE_NOT_ALLOWED);
	assert_counts(fx, 2, 1, 0, 0);
	flip_trailer(fx);
	assert_int_equal(receive(fx, NET_PEER), EDGE_BAD_AUTH);
	assert_counts(fx, 2, 1, 1, 0);
	flip_trailer(fx);
	assert_int_equal(receive(fx, NET_PEER), EDGE_OK);
	assert_counts(fx, 2, 1, 1, 0);
}

/* Robust mode (issue 16, PROTOCOL §6.3): the edge runs auth_verify_client.  With MACs, an
 * unsigned request is refused before any MAC is checked; a request whose signature fails
 * bans its connection (not its id), so the next good request on that connection is
 * refused too, while the same client on another connection is served. */
static void robust_client_rules(void **state)
{
	struct fixture *fx = *state;
	enum { SRC = 5, OTHER_SRC = 6 };
	fx->self.robust = 1;
	fx->client.robust = 1;
	request_from(fx, CLIENT); /* sealed with MACs */
	assert_int_equal(edge_receive(&fx->e, NET_CLIENT, SRC, 1000, fx->b.p, fx->b.len, &fx->m),
			 EDGE_REFUSED_CLIENT);
	assert_int_equal(fx->self.unsigned_requests, 1);
	assert_counts(fx, 0, 0, 0, 0); /* counted by auth, not as bad_auth */
	buf_reset(&fx->b);
	size_t off = wire_put_request(&fx->b, CLUSTER, CLIENT, 8, 0, (const uint8_t *)"op", 2);
	assert_int_equal(auth_seal_signed(&fx->client, &fx->b, off), 0);
	assert_int_equal(edge_receive(&fx->e, NET_CLIENT, SRC, 1000, fx->b.p, fx->b.len, &fx->m),
			 EDGE_OK);
	size_t sig = fx->b.len - fx->m.h.auth_len; /* the hybrid trailer: signature first */
	fx->b.p[sig] ^= 0x01;
	assert_int_equal(edge_receive(&fx->e, NET_CLIENT, SRC, 1001, fx->b.p, fx->b.len, &fx->m),
			 EDGE_BAD_AUTH);
	fx->b.p[sig] ^= 0x01;
	assert_int_equal(edge_receive(&fx->e, NET_CLIENT, SRC, 1002, fx->b.p, fx->b.len, &fx->m),
			 EDGE_REFUSED_CLIENT); /* banned */
	assert_int_equal(edge_receive(&fx->e, NET_CLIENT, OTHER_SRC, 1002, fx->b.p, fx->b.len,
				      &fx->m),
			 EDGE_OK);
}

/* ---- robust mode at a backup: parking (replica/park.h, PROTOCOL §6.3) ---- */

enum { PARK_SRC = 5, PARK_DELAY = 50 };

/* A hybrid request of CLIENT (timestamp ts) in fx->b; bad_mac garbles our slot (0),
 * bad_sig the signature.  flags: REQ_F_*. */
static void hybrid_from(struct fixture *fx, uint64_t ts, uint8_t flags, int bad_mac, int bad_sig)
{
	buf_reset(&fx->b);
	size_t off = wire_put_request(&fx->b, CLUSTER, CLIENT, ts, flags, (const uint8_t *)"op", 2);
	assert_int_equal(auth_seal_signed(&fx->client, &fx->b, off), 0);
	size_t trailer = fx->b.len - (WIRE_SIG_LEN + (size_t)N * WIRE_MAC_LEN);
	if (bad_sig)
		fx->b.p[trailer + 3] ^= 0x10;
	if (bad_mac)
		fx->b.p[trailer + WIRE_SIG_LEN + SELF * WIRE_MAC_LEN] ^= 0x5a;
}

static enum edge_verdict from_client(struct fixture *fx, uint64_t now)
{
	return edge_receive(&fx->e, NET_CLIENT, PARK_SRC, now, fx->b.p, fx->b.len, &fx->m);
}

static uint64_t released_relayed_ms; /* the last release's relay time */

static enum edge_verdict release(struct fixture *fx, uint64_t now, struct buf *scratch)
{
	return edge_release(&fx->e, now, scratch, &fx->m, &released_relayed_ms);
}

/* We are a backup that parks (the driver says so) in a robust mac cluster. */
static struct park *backup_parking(struct fixture *fx)
{
	struct park *pk = calloc(1, sizeof(*pk));
	assert_non_null(pk);
	assert_int_equal(park_init(pk, NCLIENTS, PARK_DELAY), 0);
	fx->self.robust = 1;
	fx->client.robust = 1;
	fx->e.park = pk;
	fx->e.park_now = 1;
	return pk;
}

static void park_done(struct fixture *fx, struct park *pk, struct buf *scratch)
{
	park_free(pk);
	free(pk);
	fx->e.park = NULL;
	buf_free(scratch);
}

/* A good MAC parks the request with no signature check, even behind a garbage
 * signature; once the core answers it (it executed), the copy is dropped unverified:
 * the fault-free case costs a backup one MAC. */
static void park_good_mac_no_signature(void **state)
{
	struct fixture *fx = *state;
	struct park *pk = backup_parking(fx);
	struct buf scratch;
	buf_init(&scratch);
	hybrid_from(fx, 10, 0, 0, 1);
	uint64_t sigs = fx->self.sigs_verified, macs = fx->self.macs_verified;
	assert_int_equal(from_client(fx, 1000), EDGE_PARKED);
	assert_int_equal(fx->self.sigs_verified, sigs);
	assert_int_equal(fx->self.macs_verified, macs + 1);
	assert_int_equal(from_client(fx, 1001), EDGE_PARKED); /* a retransmission: held */
	assert_int_equal(pk->in_use, 1);
	assert_int_equal(park_deadline(pk), 1000 + PARK_DELAY);
	park_answered(pk, CLIENT, 10);
	assert_int_equal(pk->in_use, 0);
	assert_int_equal(release(fx, 1000 + PARK_DELAY, &scratch), EDGE_NVERDICTS);
	assert_int_equal(fx->self.sigs_verified, sigs);
	assert_counts(fx, 0, 0, 0, 0);
	park_done(fx, pk, &scratch);
}

/* A parked request nobody answered is released delay_ms later and only then has its
 * signature checked: good - the core gets it; bad - refused and its connection banned,
 * as if checked on arrival (the ban table of §6.3 holds for parked requests too). */
static void park_release_checks_signature(void **state)
{
	struct fixture *fx = *state;
	struct park *pk = backup_parking(fx);
	struct buf scratch;
	buf_init(&scratch);
	hybrid_from(fx, 20, 0, 0, 0);
	assert_int_equal(from_client(fx, 1000), EDGE_PARKED);
	uint64_t sigs = fx->self.sigs_verified;
	assert_int_equal(release(fx, 1000 + PARK_DELAY - 1, &scratch), EDGE_NVERDICTS);
	assert_int_equal(release(fx, 1000 + PARK_DELAY, &scratch), EDGE_OK);
	assert_int_equal(fx->self.sigs_verified, sigs + 1);
	assert_int_equal(fx->m.h.sender, CLIENT);
	assert_int_equal(fx->m.u.req.timestamp, 20);
	hybrid_from(fx, 21, 0, 0, 1); /* good MAC, bad signature */
	assert_int_equal(from_client(fx, 2000), EDGE_PARKED);
	assert_int_equal(release(fx, 2000 + PARK_DELAY, &scratch), EDGE_BAD_AUTH);
	assert_int_equal(fx->self.sigs_verified, sigs + 2);
	assert_int_equal(fx->self.bans_made, 1);
	assert_counts(fx, 0, 0, 1, 0);
	hybrid_from(fx, 22, 0, 0, 0);
	assert_int_equal(from_client(fx, 2100), EDGE_REFUSED_CLIENT); /* banned: not parked */
	assert_int_equal(pk->in_use, 0);
	assert_int_equal(pk->released, 2);
	park_done(fx, pk, &scratch);
}

/* A bad MAC for us is not parked: the signature decides at once - good: taken, one
 * signature check, and the client's bad MAC counted; bad: refused and banned. */
static void park_bad_mac_falls_back_to_signature(void **state)
{
	struct fixture *fx = *state;
	struct park *pk = backup_parking(fx);
	struct buf scratch;
	buf_init(&scratch);
	hybrid_from(fx, 30, 0, 1, 0);
	uint64_t sigs = fx->self.sigs_verified;
	assert_int_equal(from_client(fx, 1000), EDGE_OK);
	assert_int_equal(fx->self.sigs_verified, sigs + 1);
	assert_int_equal(fx->self.hybrid_bad_mac, 1);
	assert_int_equal(pk->in_use, 0);
	hybrid_from(fx, 31, 0, 1, 1);
	assert_int_equal(from_client(fx, 1000), EDGE_BAD_AUTH);
	assert_int_equal(fx->self.sigs_verified, sigs + 2);
	assert_int_equal(fx->self.bans_made, 1);
	assert_int_equal(fx->self.hybrid_bad_mac, 1);
	park_done(fx, pk, &scratch);
}

/* Where parking is off - the primary (it checks the signature of every request it
 * orders), a view change, robust off - or for a read-only request, a good MAC behind
 * a bad signature is refused at once. */
static void primary_checks_every_signature(void **state)
{
	struct fixture *fx = *state;
	struct park *pk = backup_parking(fx);
	struct buf scratch;
	buf_init(&scratch);
	fx->e.park_now = 0; /* the driver: we are the primary */
	hybrid_from(fx, 40, 0, 0, 1);
	uint64_t sigs = fx->self.sigs_verified;
	assert_int_equal(from_client(fx, 1000), EDGE_BAD_AUTH);
	assert_int_equal(fx->self.sigs_verified, sigs + 1);
	fx->e.park_now = 1;
	hybrid_from(fx, 41, REQ_F_READONLY, 0, 1);
	assert_int_equal(edge_receive(&fx->e, NET_CLIENT, PARK_SRC + 1, 1000, fx->b.p, fx->b.len,
				      &fx->m),
			 EDGE_BAD_AUTH);
	assert_int_equal(pk->parked, 0);
	park_done(fx, pk, &scratch);
}

/* Issue 16, third pass: a newly parked request is relayed to the primary at once,
 * unverified (edge.relay), a retransmission of it is not; the release reports when it
 * was relayed (the core's deadline counts from there).  A client whose requests keep
 * replacing each other unanswered gets PARK_RELAY_MAX relays, then its next request is
 * checked at once: a bad signature with good MACs is relayed at most that often before
 * it bans the connection. */
static void park_relays_once_and_caps(void **state)
{
	struct fixture *fx = *state;
	struct park *pk = backup_parking(fx);
	struct buf scratch;
	buf_init(&scratch);
	hybrid_from(fx, 60, 0, 0, 0);
	assert_int_equal(from_client(fx, 1000), EDGE_PARKED);
	assert_int_equal(fx->e.relay, 1);
	assert_int_equal(from_client(fx, 1005), EDGE_PARKED); /* the same again: held */
	assert_int_equal(fx->e.relay, 0);
	assert_int_equal(release(fx, 1000 + PARK_DELAY, &scratch), EDGE_OK);
	assert_int_equal(released_relayed_ms, 1000);
	uint64_t sigs = fx->self.sigs_verified;
	for (uint64_t k = 0; k < PARK_RELAY_MAX; k++) {
		hybrid_from(fx, 70 + k, 0, 0, 1); /* good MAC, bad signature */
		assert_int_equal(from_client(fx, 2000 + k), EDGE_PARKED);
		assert_int_equal(fx->e.relay, 1);
	}
	assert_int_equal(fx->self.sigs_verified, sigs);
	hybrid_from(fx, 70 + PARK_RELAY_MAX, 0, 0, 1);
	assert_int_equal(from_client(fx, 2010), EDGE_BAD_AUTH); /* checked now */
	assert_int_equal(fx->e.relay, 0);
	assert_int_equal(fx->self.sigs_verified, sigs + 1);
	assert_int_equal(fx->self.bans_made, 1);
	assert_int_equal(pk->in_use, 0);
	hybrid_from(fx, 90, 0, 0, 0);
	assert_int_equal(from_client(fx, 2020), EDGE_REFUSED_CLIENT); /* banned */
	park_done(fx, pk, &scratch);
}

/* The table holds one request per client: a newer one replaces it, an older one is
 * not parked over it, and a reply for a later timestamp drops it. */
static void park_one_per_client(void **state)
{
	struct fixture *fx = *state;
	struct park *pk = backup_parking(fx);
	struct buf scratch;
	buf_init(&scratch);
	hybrid_from(fx, 50, 0, 0, 0);
	assert_int_equal(from_client(fx, 1000), EDGE_PARKED);
	hybrid_from(fx, 52, 0, 0, 0);
	assert_int_equal(from_client(fx, 1010), EDGE_PARKED);
	hybrid_from(fx, 51, 0, 0, 0);
	assert_int_equal(from_client(fx, 1020), EDGE_PARKED); /* older: dropped */
	assert_int_equal(pk->in_use, 1);
	assert_int_equal(pk->replaced, 1);
	park_answered(pk, CLIENT, 49);
	assert_int_equal(pk->in_use, 1);
	assert_int_equal(release(fx, 1010 + PARK_DELAY, &scratch), EDGE_OK);
	assert_int_equal(fx->m.u.req.timestamp, 52);
	hybrid_from(fx, 53, 0, 0, 0);
	assert_int_equal(from_client(fx, 2000), EDGE_PARKED);
	park_answered(pk, CLIENT, 60);
	assert_int_equal(pk->in_use, 0);
	park_done(fx, pk, &scratch);
}

static void verdict_names(void **state)
{
	(void)state;
	assert_string_equal(edge_verdict_name(EDGE_OK), "ok");
	assert_string_equal(edge_verdict_name(EDGE_BAD_FORMAT), "bad-format");
	assert_string_equal(edge_verdict_name(EDGE_NOT_ALLOWED), "not-allowed");
	assert_string_equal(edge_verdict_name(EDGE_UNHEARD), "unheard");
	assert_string_equal(edge_verdict_name(EDGE_BAD_AUTH), "bad-auth");
	assert_string_equal(edge_verdict_name(EDGE_REFUSED_CLIENT), "refused-client");
	assert_string_equal(edge_verdict_name(EDGE_PARKED), "parked");
	assert_string_equal(edge_verdict_name(EDGE_NVERDICTS), "unknown");
}

#define BOTH_MODES(fn)                                      \
	{#fn " (sig)", fn, setup_sig, teardown, NULL},      \
	{                                                   \
#fn " (mac)", fn, setup_mac, teardown, NULL \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_MODES(good_messages_pass),
		BOTH_MODES(wrong_socket_refused_before_crypto),
		BOTH_MODES(wrong_sender_refused),
		BOTH_MODES(bad_auth_refused),
		BOTH_MODES(truncated_frames_refused),
		BOTH_MODES(foreign_cluster_refused),
		BOTH_MODES(unheard_peer_not_verified_nor_rejected),
		BOTH_MODES(each_reason_counted),
		cmocka_unit_test_setup_teardown(robust_client_rules, setup_mac, teardown),
		cmocka_unit_test_setup_teardown(park_good_mac_no_signature, setup_mac, teardown),
		cmocka_unit_test_setup_teardown(park_release_checks_signature, setup_mac, teardown),
		cmocka_unit_test_setup_teardown(park_bad_mac_falls_back_to_signature, setup_mac,
						teardown),
		cmocka_unit_test_setup_teardown(primary_checks_every_signature, setup_mac,
						teardown),
		cmocka_unit_test_setup_teardown(park_relays_once_and_caps, setup_mac, teardown),
		cmocka_unit_test_setup_teardown(park_one_per_client, setup_mac, teardown),
		cmocka_unit_test(verdict_names),
	};
	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
