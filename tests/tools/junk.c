/* junk.c - test helper: junk peer|client|admin ADDR COUNT SEED
 *
 * Sends COUNT nng messages of random bytes and random sizes (0..64 KiB) to a replica's
 * peer, client or admin address, with the socket type that address expects (push,
 * pair1, req), so the bytes reach the replica's decoder instead of being refused by
 * nng.  Some messages start with a valid magic and version (and cluster id 1) so the
 * decoder's deeper checks get exercised too.  Does not wait for replies.  Waits until
 * every message has been written to the connection, then exits 0 (1 on failure,
 * 2 on usage).  The same SEED sends the same bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>

#include "wire/wire.h"

#define JUNK_MAX_LEN 65536
#define FLUSH_TIMEOUT_MS 10000

static uint64_t rng_state;

static uint64_t rnd(void) /* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t pick_len(void)
{
	switch (rnd() % 4) {
	case 0: return rnd() % 65;                 /* tiny: shorter than a header */
	case 1: return WIRE_HDR_LEN + rnd() % 129; /* about a header */
	default: return rnd() % (JUNK_MAX_LEN + 1);
	}
}

static void fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
	if (len >= WIRE_HDR_LEN && rnd() % 2) {
		set_u32(p + WIRE_OFF_MAGIC, WIRE_MAGIC);
		p[WIRE_OFF_VERSION] = WIRE_VERSION;
		set_u32(p + WIRE_OFF_CLUSTER, 1);
		p[WIRE_OFF_TYPE] = (uint8_t)(rnd() % (MSG_TYPE_MAX + 2));
	}
}

static int open_kind(const char *kind, nng_socket *s)
{
	if (!strcmp(kind, "peer"))
		return nng_push0_open(s);
	if (!strcmp(kind, "client"))
		return nng_pair1_open(s);
	if (!strcmp(kind, "admin"))
		return nng_req0_open_raw(s); /* raw: no retry, no cancel of the previous */
	return NNG_EINVAL;
}

/* Messages written to the wire so far, over all pipes of socket s (nng statistics). */
static uint64_t written(nng_socket s)
{
	nng_stat *all;
	uint64_t total = 0;
	if (nng_stats_get(&all) != 0)
		return 0;
	for (nng_stat *st = nng_stat_child(all); st; st = nng_stat_next(st)) {
		if (strcmp(nng_stat_name(st), "pipe") != 0)
			continue;
		nng_stat *sock = nng_stat_find(st, "socket");
		nng_stat *tx = nng_stat_find(st, "tx_msgs");
		if (sock && tx && nng_stat_value(sock) == (uint64_t)nng_socket_id(s))
			total += nng_stat_value(tx);
	}
	nng_stats_free(all);
	return total;
}

static int wait_flushed(nng_socket s, uint64_t count)
{
	struct timespec tick = {0, 1000000};
	for (int waited = 0; waited < FLUSH_TIMEOUT_MS; waited++) {
		if (written(s) >= count)
			return 0;
		nanosleep(&tick, NULL);
	}
	return -1;
}

static int send_one(nng_socket s, int raw_req, uint32_t id, const uint8_t *p, size_t len)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, len);
	if (rv != 0)
		return rv;
	memcpy(nng_msg_body(m), p, len);
	/* A raw REQ message carries its request id (high bit set) in the header. */
	if (raw_req && (rv = nng_msg_header_append_u32(m, 0x80000000u | id)) != 0) {
		nng_msg_free(m);
		return rv;
	}
	if ((rv = nng_sendmsg(s, m, 0)) != 0)
		nng_msg_free(m);
	return rv;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: junk peer|client|admin ADDR COUNT SEED\n");
		return 2;
	}
	char *end;
	errno = 0;
	unsigned long count = strtoul(argv[3], &end, 10);
	if (errno || *end || count > 10000000) {
		fprintf(stderr, "junk: bad COUNT '%s'\n", argv[3]);
		return 2;
	}
	rng_state = strtoull(argv[4], &end, 10) * 2654435761u + 0x9E3779B97F4A7C15ULL;
	if (!rng_state)
		rng_state = 1;
	if (*end) {
		fprintf(stderr, "junk: bad SEED '%s'\n", argv[4]);
		return 2;
	}
	nng_socket s;
	int rv = open_kind(argv[1], &s);
	if (rv == NNG_EINVAL) {
		fprintf(stderr, "junk: kind must be peer, client or admin\n");
		return 2;
	}
	if (rv != 0 || (rv = nng_dial(s, argv[2], NULL, 0)) != 0) {
		fprintf(stderr, "junk: %s: %s\n", argv[2], nng_strerror(rv));
		return 1;
	}
	static uint8_t buf[JUNK_MAX_LEN];
	int raw_req = !strcmp(argv[1], "admin");
	for (unsigned long i = 0; i < count; i++) {
		size_t len = pick_len();
		fill(buf, len);
		if ((rv = send_one(s, raw_req, (uint32_t)i, buf, len)) != 0) {
			fprintf(stderr, "junk: send %lu: %s\n", i, nng_strerror(rv));
			return 1;
		}
	}
	if (wait_flushed(s, count) != 0) {
		fprintf(stderr, "junk: only %llu of %lu messages written\n",
			(unsigned long long)written(s), count);
		return 1;
	}
	nng_close(s);
	return 0;
}
