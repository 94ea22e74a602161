/* test_net.c - the replica transport's framing: bundles (replica/net.h), and a
 * round trip through real nng sockets (inproc) with coalescing and flush. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
	assert_int_equal(net_open(&b, &c, 1, 4, err, sizeof(err)), 0);
	assert_int_equal(net_open(&a, &c, 0, 4, err, sizeof(err)), 0);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_bundle_malformed),
		cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
