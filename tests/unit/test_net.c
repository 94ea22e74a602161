/* test_net.c - the replica transport's framing: bundles (replica/net.h), a round
 * trip through real nng sockets (inproc) with coalescing and flush, and the driver's
 * rule that nothing leaves before net_flush() - not even a full bundle, nor the
 * replies to more client connections than a turn usually serves (issue 14). */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>

#include "replica/net.h"
#include "wire/wire.h"

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Build a bundle of the given elements into out; returns its length. */
static size_t bundle(uint8_t *out, uint32_t count, const char **elems)
{
	size_t off = NET_BUNDLE_HDR;
	le32(out, NET_BUNDLE_MAGIC);
	le32(out + 4, count);
	for (uint32_t i = 0; i < count; i++) {
		size_t l = strlen(elems[i]);
		le32(out + off, (uint32_t)l);
		memcpy(out + off + 4, elems[i], l);
		off += 4 + l;
	}
	return off;
}

/* Collect every element of a frame as strings (up to 8). */
static int walk(const uint8_t *p, size_t len, char out[8][64])
{
	struct net_frame fr;
	const uint8_t *e;
	size_t el;
	int k = 0;
	net_frame_begin(&fr, p, len);
	while (net_frame_next(&fr, &e, &el)) {
		assert_true(k < 8);
		assert_true(el < 64);
		memcpy(out[k], e, el);
		out[k][el] = '\0';
		k++;
	}
	return k;
}

static void test_plain(void **state)
{
	(void)state;
	char got[8][64];
	const uint8_t msg[] = "BZL1-a-plain-message";
	assert_int_equal(walk(msg, sizeof(msg) - 1, got), 1);
	assert_string_equal(got[0], "BZL1-a-plain-message");
	/* empty and tiny frames are one (bad) element: the receiver counts it */
	assert_int_equal(walk(msg, 0, got), 1);
	assert_string_equal(got[0], "");
	assert_int_equal(walk(msg, 3, got), 1);
}

static void test_bundle(void **state)
{
	(void)state;
	uint8_t buf[256];
	char got[8][64];
	const char *el[] = {"one", "", "three"};
	size_t len = bundle(buf, 3, el);
	assert_int_equal(walk(buf, len, got), 3);
	assert_string_equal(got[0], "one");
	assert_string_equal(got[1], "");
	assert_string_equal(got[2], "three");
}

static void test_bundle_malformed(void **state)
{
	(void)state;
	uint8_t buf[256];
	char got[8][64];
	const char *el[] = {"alpha", "beta"};
	size_t len = bundle(buf, 2, el);

	/* count 0 and count over the limit: the whole frame, once, as garbage */
	le32(buf + 4, 0);
	assert_int_equal(walk(buf, len, got), 1);
	le32(buf + 4, NET_BUNDLE_MAX + 1);
	assert_int_equal(walk(buf, len, got), 1);
	/* more elements claimed than present: the good ones, then the rest once */
	le32(buf + 4, 3);
	assert_int_equal(walk(buf, len, got), 3);
	assert_string_equal(got[0], "alpha");
	assert_string_equal(got[1], "beta");
	assert_string_equal(got[2], "");
	/* an element longer than the frame */
	le32(buf + 4, 2);
	le32(buf + NET_BUNDLE_HDR, 1000);
	assert_int_equal(walk(buf, len, got), 1);
	/* trailing bytes after the last element */
	static const uint8_t junk[4] = {'j', 'u', 'n', 'k'};
	size_t l2 = bundle(buf, 2, el);
	memcpy(buf + l2, junk, sizeof(junk));
	assert_int_equal(walk(buf, l2 + 4, got), 3);
	assert_string_equal(got[2], "junk");
	/* a header cut short */
	assert_int_equal(walk(buf, 6, got), 1);
}

/* ---- round trip through nng (inproc) ---- */

static int url_seq;

static void mkcfg(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->n = 2;
	c->f = 0;
	c->clients = 4;
	url_seq++;
	for (int i = 0; i < 2; i++) {
		snprintf(c->replica[i].peer, CONFIG_ADDR_MAX, "inproc://tnet-%d-peer-%d", url_seq,
			 i);
		snprintf(c->replica[i].client, CONFIG_ADDR_MAX, "inproc://tnet-%d-client-%d",
			 url_seq, i);
		snprintf(c->replica[i].admin, CONFIG_ADDR_MAX, "inproc://tnet-%d-admin-%d", url_seq,
			 i);
	}
}

/* Wait (poll, no sleep) for the next message on `to`'s peer socket. */
static int recv_one(struct net *to, char *out, size_t cap)
{
	struct net_rx rx;
	struct pollfd pfd = {.fd = net_recv_fd(to, NET_PEER), .events = POLLIN};
	for (int tries = 0; tries < 100; tries++) {
		int rc = net_recv(to, NET_PEER, &rx);
		assert_true(rc >= 0);
		if (rc == 1) {
			assert_true(rx.len < cap);
			memcpy(out, rx.data, rx.len);
			out[rx.len] = '\0';
			net_rx_free(&rx);
			return 1;
		}
		poll(&pfd, 1, 100);
	}
	return 0;
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct config c;
	struct net *a, *b;
	char err[256], got[64];
	mkcfg(&c);
	assert_int_equal(net_open(&b, &c, 1, 4, NULL, err, sizeof(err)), 0);
	assert_int_equal(net_open(&a, &c, 0, 4, NULL, err, sizeof(err)), 0);

	/* nothing leaves before the flush; one message leaves plain */
	net_send_replica(a, 1, (const uint8_t *)"solo", 4);
	assert_int_equal(net_stats(a)->msgs_sent, 0);
	net_flush(a);
	assert_int_equal(net_stats(a)->msgs_sent, 1);
	assert_int_equal(net_stats(a)->frames_sent, 1);
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "solo");
	assert_false(net_pending(b, NET_PEER));

	/* three messages in one turn: one frame, three messages, in order */
	net_send_replica(a, 1, (const uint8_t *)"m1", 2);
	net_send_replica(a, 1, (const uint8_t *)"m2", 2);
	net_send_replica(a, 1, (const uint8_t *)"m3", 2);
	net_send_replica(a, 0, (const uint8_t *)"self", 4); /* ignored */
	net_flush(a);
	assert_int_equal(net_stats(a)->msgs_sent, 4);
	assert_int_equal(net_stats(a)->bytes_sent, 10);
	assert_int_equal(net_stats(a)->frames_sent, 2);
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "m1");
	assert_true(net_pending(b, NET_PEER)); /* the rest is held, not signalled */
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "m2");
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "m3");

	/* a client without a route: dropped and counted, nothing queued */
	net_send_client(a, 2, (const uint8_t *)"r", 1);
	assert_int_equal(net_stats(a)->no_route, 1);
	net_flush(a);
	assert_int_equal(net_stats(a)->frames_sent, 2);
	net_close(a);
	net_close(b);
}

/* cluster.ini's coalesce = off and rx_aio = off (struct net_opts): every message is
 * its own nng message, and the receiver takes them through NNG_OPT_RECVFD, in order. */
static void test_opts_off(void **state)
{
	(void)state;
	struct config c;
	struct net *a, *b;
	char err[256], got[64];
	const struct net_opts off = {.coalesce = 0, .rx_aio = 0};
	mkcfg(&c);
	assert_int_equal(net_open(&b, &c, 1, 4, &off, err, sizeof(err)), 0);
	assert_int_equal(net_open(&a, &c, 0, 4, &off, err, sizeof(err)), 0);

	net_send_replica(a, 1, (const uint8_t *)"m1", 2);
	net_send_replica(a, 1, (const uint8_t *)"m2", 2);
	net_send_replica(a, 1, (const uint8_t *)"m3", 2);
	assert_int_equal(net_stats(a)->msgs_sent, 0); /* still only at the flush */
	net_flush(a);
	assert_int_equal(net_stats(a)->msgs_sent, 3);
	assert_int_equal(net_stats(a)->frames_sent, 3); /* no bundle */
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "m1");
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "m2");
	assert_int_equal(recv_one(b, got, sizeof(got)), 1);
	assert_string_equal(got, "m3");
	assert_false(net_pending(b, NET_PEER));
	net_close(a);
	net_close(b);
}

/* ---- nothing leaves before net_flush(), not even a full bundle (issue 14) ----
 * The driver commits a turn's persists and only then calls net_flush(): a message
 * that left earlier could be one a crash makes us contradict.  Each test queues more
 * than one bundle holds, or more client connections than NET_CQ_INIT, checks that
 * nothing was handed to nng and nothing arrives (bounded polls, no sleeps), then
 * flushes and checks that every message arrives, in order. */

#define QUIET_POLLS 10   /* "nothing arrives": this many polls ... */
#define QUIET_POLL_MS 30 /* ... of this long each */
#define ARRIVE_POLLS 200 /* a message that should arrive: at most this many polls */
#define ARRIVE_POLL_MS 50

/* Replica 1's side of the peer link, as a plain PULL socket listening on its peer
 * address: one receiver, so frames come out in the order the PUSH sent them (a
 * replica's own receive path, net_rxq, keeps NET_RX_AIOS receives armed, whose
 * callbacks may append two frames to its ring in either order). */
struct peer_rx {
	nng_socket s;
	nng_msg *m; /* the frame being read */
	struct net_frame fr;
	uint64_t frames;
};

static void peer_rx_open(struct peer_rx *r, const char *addr)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(nng_pull0_open(&r->s), 0);
	assert_int_equal(nng_socket_set_size(r->s, NNG_OPT_RECVMAXSZ, NET_RECVMAXSZ), 0);
	assert_int_equal(nng_listen(r->s, addr, NULL, 0), 0);
}

static void peer_rx_close(struct peer_rx *r)
{
	if (r->m)
		nng_msg_free(r->m);
	nng_close(r->s);
}

/* Nothing arrives within QUIET_POLLS receives of QUIET_POLL_MS each. */
static void assert_nothing_arrives(nng_socket s)
{
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, QUIET_POLL_MS), 0);
	for (int tries = 0; tries < QUIET_POLLS; tries++) {
		nng_msg *m = NULL;
		int rv = nng_recvmsg(s, &m, 0);
		if (rv == 0)
			nng_msg_free(m);
		assert_int_equal(rv, NNG_ETIMEDOUT); /* something left before net_flush() */
	}
}

/* The next message (the next element of the frame being read, or of the next frame,
 * waited for at most ARRIVE_POLLS x ARRIVE_POLL_MS): its length, and its bytes in
 * out[0..cap); -1 if none came. */
static long recv_peer(struct peer_rx *r, uint8_t *out, size_t cap)
{
	const uint8_t *e;
	size_t el;
	for (;;) {
		if (r->m && net_frame_next(&r->fr, &e, &el)) {
			memcpy(out, e, el < cap ? el : cap);
			return (long)el;
		}
		if (r->m)
			nng_msg_free(r->m);
		r->m = NULL;
		assert_int_equal(nng_socket_set_ms(r->s, NNG_OPT_RECVTIMEO, ARRIVE_POLL_MS), 0);
		int rv = NNG_ETIMEDOUT;
		for (int tries = 0; tries < ARRIVE_POLLS && rv == NNG_ETIMEDOUT; tries++)
			rv = nng_recvmsg(r->s, &r->m, 0);
		if (rv != 0)
			return -1;
		r->frames++;
		net_frame_begin(&r->fr, nng_msg_body(r->m), nng_msg_len(r->m));
	}
}

/* Message number i of a test: its number (u32), then `len - 4` bytes of i's low byte. */
static void fill_msg(uint8_t *p, size_t len, uint32_t i)
{
	le32(p, i);
	memset(p + 4, (int)(i & 0xff), len - 4);
}

static void assert_msg(const uint8_t *p, long len, size_t want_len, uint32_t i)
{
	assert_int_equal(len, (long)want_len);
	uint32_t got = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 24;
	assert_int_equal(got, i); /* in order */
	for (size_t k = 4; k < want_len; k++)
		assert_int_equal(p[k], i & 0xff);
}

/* Queue `count` messages of `len` bytes from replica 0 to replica 1, check that none
 * leaves before the flush, then that all arrive, in order, in `frames` nng messages. */
static void full_bundles_wait_for_flush(uint32_t count, size_t len, uint64_t frames)
{
	struct config c;
	struct net *a;
	struct peer_rx b;
	char err[256];
	uint8_t *msg = malloc(len);
	assert_non_null(msg);
	mkcfg(&c);
	peer_rx_open(&b, c.replica[1].peer);
	assert_int_equal(net_open(&a, &c, 0, 4, NULL, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < count; i++) {
		fill_msg(msg, len, i);
		net_send_replica(a, 1, msg, len);
	}
	assert_int_equal(net_stats(a)->frames_sent, 0);
	assert_int_equal(net_stats(a)->msgs_sent, 0);
	assert_nothing_arrives(b.s);

	net_flush(a);
	assert_int_equal(net_stats(a)->send_drops, 0);
	assert_int_equal(net_stats(a)->msgs_sent, count);
	assert_int_equal(net_stats(a)->bytes_sent, (uint64_t)count * len);
	assert_int_equal(net_stats(a)->frames_sent, frames);
	for (uint32_t i = 0; i < count; i++) {
		long got = recv_peer(&b, msg, len);
		assert_msg(msg, got, len, i);
	}
	assert_int_equal(b.frames, frames);
	assert_nothing_arrives(b.s);
	free(msg);
	net_close(a);
	peer_rx_close(&b);
}

/* More than NET_BUNDLE_MAX messages for one peer: 1024 + 1024 + 452 at the flush. */
static void test_full_bundle_by_count_waits_for_flush(void **state)
{
	(void)state;
	full_bundles_wait_for_flush(2 * NET_BUNDLE_MAX + 452, 16, 3);
}

/* More than NET_BUNDLE_BYTES for one peer: 40 messages of 64 KiB, 15 to a bundle. */
static void test_full_bundle_by_bytes_waits_for_flush(void **state)
{
	(void)state;
	full_bundles_wait_for_flush(40, (size_t)64 * 1024, 3);
}

/* A single message larger than a bundle travels plain, between two bundles. */
static void test_oversized_message_waits_for_flush(void **state)
{
	(void)state;
	full_bundles_wait_for_flush(3, NET_BUNDLE_BYTES + 1000, 3);
}

#define MANY_CLIENTS 80 /* client connections with replies in one turn */

/* Replies to more client connections than NET_CQ_INIT in one turn: none leaves before
 * the flush.  One connection is real (a pair1 socket dialed to the replica's client
 * address); the other routes name pipes that no longer exist, as the routes of
 * clients that reconnected do (nng drops what is sent on them). */
static void test_many_client_connections_wait_for_flush(void **state)
{
	(void)state;
	struct config c;
	struct net *a;
	char err[256];
	mkcfg(&c);
	assert_int_equal(net_open(&a, &c, 0, 128, NULL, err, sizeof(err)), 0);
	nng_socket cs;
	assert_int_equal(nng_pair1_open(&cs), 0);
	assert_int_equal(nng_dial(cs, c.replica[0].client, NULL, 0), 0);

	/* the client says hello: the replica learns its pipe */
	assert_int_equal(nng_send(cs, "hello", 5, 0), 0);
	struct net_rx rx;
	struct pollfd pfd = {.fd = net_recv_fd(a, NET_CLIENT), .events = POLLIN};
	int rc = 0;
	for (int tries = 0; tries < ARRIVE_POLLS && rc == 0; tries++) {
		rc = net_recv(a, NET_CLIENT, &rx);
		if (rc == 0)
			poll(&pfd, 1, ARRIVE_POLL_MS);
	}
	assert_int_equal(rc, 1);
	uint32_t pipe = rx.pipe;
	net_rx_free(&rx);
	assert_true(pipe != 0);
	net_set_route(a, 0, pipe);
	uint32_t stale = pipe >= 0x40000000u ? 0x100u : 0x40000000u; /* never `pipe` */
	for (uint32_t k = 1; k < MANY_CLIENTS; k++)
		net_set_route(a, k, stale + k);

	net_send_client(a, 0, (const uint8_t *)"first", 5);
	for (uint32_t k = 1; k < MANY_CLIENTS; k++)
		net_send_client(a, k, (const uint8_t *)"other", 5);
	net_send_client(a, 0, (const uint8_t *)"second", 6);
	assert_int_equal(net_stats(a)->frames_sent, 0);
	assert_int_equal(net_stats(a)->msgs_sent, 0);
	assert_nothing_arrives(cs);

	net_flush(a);
	assert_int_equal(net_stats(a)->msgs_sent + net_stats(a)->send_drops, MANY_CLIENTS + 1);
	/* the real client's two replies, in order (one bundle) */
	assert_int_equal(nng_socket_set_ms(cs, NNG_OPT_RECVTIMEO, ARRIVE_POLLS * ARRIVE_POLL_MS),
			 0);
	char got[8][64];
	int k = 0;
	while (k < 2) {
		nng_msg *m = NULL;
		assert_int_equal(nng_recvmsg(cs, &m, 0), 0);
		char part[8][64];
		int parts = walk(nng_msg_body(m), nng_msg_len(m), part);
		nng_msg_free(m);
		for (int i = 0; i < parts && k < 8; i++)
			memcpy(got[k++], part[i], sizeof(part[i]));
	}
	assert_int_equal(k, 2);
	assert_string_equal(got[0], "first");
	assert_string_equal(got[1], "second");
	nng_close(cs);
	net_close(a);
}

/* ---- robust mode: a connection's VIEW-CHANGE / NEW-VIEW budget (issue 16 item 4) ----
 * 20 VIEW-CHANGEs and a PREPARE in one turn: with vc_budget, NET_VC_BUDGET of them
 * are delivered and the rest dropped before decoding (peer_budget); the PREPARE
 * passes.  Without it, all are delivered. */
static int count_vc(int budget, uint64_t *dropped)
{
	struct config c;
	struct net *a, *b;
	char err[256];
	mkcfg(&c);
	const struct net_opts opts = {.coalesce = 1, .rx_aio = 1, .vc_budget = budget};
	assert_int_equal(net_open(&b, &c, 1, 4, &opts, err, sizeof(err)), 0);
	assert_int_equal(net_open(&a, &c, 0, 4, NULL, err, sizeof(err)), 0);
	uint8_t m[WIRE_HDR_LEN];
	memset(m, 0, sizeof(m));
	m[WIRE_OFF_TYPE] = MSG_VIEWCHANGE;
	for (int i = 0; i < 20; i++)
		net_send_replica(a, 1, m, sizeof(m));
	m[WIRE_OFF_TYPE] = MSG_PREPARE;
	net_send_replica(a, 1, m, sizeof(m));
	net_flush(a);
	int vcs = 0, prepares = 0;
	struct pollfd pfd = {.fd = net_recv_fd(b, NET_PEER), .events = POLLIN};
	for (int tries = 0; tries < 200 && vcs + prepares + (int)net_stats(b)->peer_budget < 21;
	     tries++) {
		struct net_rx rx;
		int rc = net_recv(b, NET_PEER, &rx);
		assert_true(rc >= 0);
		if (rc == 1) {
			vcs += rx.data[WIRE_OFF_TYPE] == MSG_VIEWCHANGE;
			prepares += rx.data[WIRE_OFF_TYPE] == MSG_PREPARE;
			net_rx_free(&rx);
		} else {
			poll(&pfd, 1, 50);
		}
	}
	assert_int_equal(prepares, 1);
	*dropped = net_stats(b)->peer_budget;
	net_close(a);
	net_close(b);
	return vcs;
}

static void test_vc_budget(void **state)
{
	(void)state;
	uint64_t dropped;
	assert_int_equal(count_vc(1, &dropped), NET_VC_BUDGET);
	assert_int_equal(dropped, 20 - NET_VC_BUDGET);
	assert_int_equal(count_vc(0, &dropped), 20);
	assert_int_equal(dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_bundle_malformed),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_vc_budget),
		cmocka_unit_test(test_opts_off),
		cmocka_unit_test(test_full_bundle_by_count_waits_for_flush),
		cmocka_unit_test(test_full_bundle_by_bytes_waits_for_flush),
		cmocka_unit_test(test_oversized_message_waits_for_flush),
		cmocka_unit_test(test_many_client_connections_wait_for_flush),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
