/* flood.c - test helper: flood peer|client ADDR CONNS SECONDS heavy|junk [SENDER]
 *
 * Opens CONNS connections to a replica's peer (PUSH) or client (PAIR1) address and,
 * for SECONDS, keeps every connection's send queue full of maximum-size messages
 * (just under WIRE_MAX_MSG, so nng delivers them and the replica has to look):
 *   heavy: a NEW-VIEW from replica SENDER (default 2) holding two VIEW-CHANGEs with
 *          3240 prepared certificates each: it passes wire_decode (about 220,000
 *          nested messages decoded) and the edge checks, and then fails signature
 *          verification over 8 MiB - the most work a keyless liar can buy per message;
 *   junk:  a valid header and a body that fails to decode at once (8 MiB to a peer
 *          port; 1 MiB to a client port, which refuses more - a client's largest
 *          message is a bundle of requests).
 * Prints what it sent and exits 0 (1 if it cannot connect, 2 on usage).  Used by
 * tests/integration/test_flood.py to check that a replica's memory stays bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <poll.h>
#include <unistd.h>

#include "wire/wire.h"

/* <sys/socket.h> has a MSG_BATCH flag too (an enumerator, like wire.h's message
 * type): rename glibc's while its headers are read. */
#define MSG_BATCH FLOOD_GLIBC_MSG_BATCH
#include <netdb.h>
#include <sys/socket.h>
#undef MSG_BATCH

#define FLOOD_MAX_CONNS 1024
#define FLOOD_CLUSTER 1 /* ./byzlab cluster init's cluster id */
#define VC_ENTRIES 3240 /* two VIEW-CHANGEs of these fill 8 MiB */
#define VC_PREPARES 16
#define CLIENT_JUNK_LEN ((1u << 20) - 64) /* the most a replica's client port takes */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put_digest_msg(struct buf *b, uint8_t type, uint32_t sender, uint64_t seq)
{
	uint8_t digest[WIRE_DIGEST_LEN];
	memset(digest, (int)(seq & 0xff), sizeof(digest));
	size_t off = wire_begin(b, type, FLOOD_CLUSTER, sender, 7, seq);
	buf_put(b, digest, sizeof(digest));
	wire_finish(b, off);
}

/* A VIEW-CHANGE with `entries` prepared certificates of VC_PREPARES prepares each. */
static void put_viewchange(struct buf *b, uint32_t sender, uint32_t entries)
{
	size_t off = wire_begin(b, MSG_VIEWCHANGE, FLOOD_CLUSTER, sender, 1000, 0);
	buf_put_u16(b, 0); /* no checkpoint proof */
	buf_put_u32(b, entries);
	for (uint32_t e = 0; e < entries; e++) {
		/* compact pre-prepare: header (body_len = the batch's) | digest */
		buf_put_u32(b, WIRE_CPP_LEN_MIN);
		size_t cpp = wire_begin(b, MSG_PREPREPARE, FLOOD_CLUSTER, 0, 7, e + 1);
		uint8_t digest[WIRE_DIGEST_LEN] = {0};
		buf_put(b, digest, sizeof(digest));
		if (!b->err)
			set_u32(b->p + cpp + WIRE_OFF_BODY_LEN, 2);
		buf_put_u16(b, VC_PREPARES);
		for (uint32_t i = 0; i < VC_PREPARES; i++) {
			buf_put_u32(b, WIRE_HDR_LEN + WIRE_DIGEST_LEN);
			put_digest_msg(b, MSG_PREPARE, i, e + 1);
		}
	}
	wire_finish(b, off);
}

static int build_heavy(struct buf *b, uint32_t sender)
{
	struct buf vc;
	buf_init(&vc);
	put_viewchange(&vc, sender, VC_ENTRIES);
	size_t off = wire_begin(b, MSG_NEWVIEW, FLOOD_CLUSTER, sender, 1000, 0);
	buf_put_u16(b, 2);
	for (int i = 0; i < 2; i++) {
		buf_put_u32(b, (uint32_t)vc.len);
		buf_put(b, vc.p, vc.len);
	}
	buf_put_u32(b, 0); /* empty O */
	wire_finish(b, off);
	/* a signature that does not verify, so the replica pays for the check */
	if (!b->err) {
		b->p[off + WIRE_OFF_AUTH_KIND] = AUTH_SIG;
		set_u16(b->p + off + WIRE_OFF_AUTH_LEN, WIRE_SIG_LEN);
	}
	uint8_t sig[WIRE_SIG_LEN];
	memset(sig, 0x5a, sizeof(sig));
	buf_put(b, sig, sizeof(sig));
	buf_free(&vc);
	return b->err ? -1 : 0;
}

static int build_junk(struct buf *b, int peer)
{
	size_t len = peer ? WIRE_MAX_MSG - 4096 : CLIENT_JUNK_LEN;
	size_t off = wire_begin(b, peer ? MSG_PREPREPARE : MSG_REQUEST, FLOOD_CLUSTER, 1, 0, 1);
	if (buf_reserve(b, len - WIRE_HDR_LEN) != 0)
		return -1;
	memset(b->p + b->len, 0xee, len - WIRE_HDR_LEN);
	b->len = off + len;
	set_u32(b->p + off + WIRE_OFF_BODY_LEN, (uint32_t)(len - WIRE_HDR_LEN));
	return 0;
}

static unsigned long parse_ul(const char *s, const char *what, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v > max) {
		fprintf(stderr, "flood: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

/* ---- SP over TCP, spoken directly ----
 * nng itself is not used to send: when the replica refuses connections over its cap,
 * nng 1.5.2's push0 crashes now and then in nng_sendmsg.  The wire protocol is small:
 * an 8-byte greeting (0, 'S', 'P', 0, protocol u16 BE, 0, 0) each way, then messages
 * as length u64 BE | bytes; a pair1 message starts with a 32-bit hop count. */
#define SP_PUSH0 0x50
#define SP_PAIR1 0x11

struct conn {
	int fd;
	const uint8_t *frame; /* greeting, then the message frame, over and over */
	size_t off, len;
	int greeted;
};

static struct sockaddr_storage target;
static socklen_t target_len;
static uint8_t greeting[8];
static uint8_t *frame;
static size_t frame_len;
static uint64_t sent, refused;

static int parse_addr(const char *url)
{
	char host[256], *colon;
	if (strncmp(url, "tcp://", 6) != 0 || strlen(url + 6) >= sizeof(host))
		return -1;
	strcpy(host, url + 6);
	colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	memcpy(&target, ai->ai_addr, ai->ai_addrlen);
	target_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void conn_open(struct conn *c)
{
	c->fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->frame = greeting;
	c->off = 0;
	c->len = sizeof(greeting);
	c->greeted = 0;
	if (c->fd >= 0 && connect(c->fd, (struct sockaddr *)&target, target_len) != 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
	}
}

/* The connection failed or was refused: count it and dial again. */
static void conn_again(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	refused++;
	conn_open(c);
}

static void conn_write(struct conn *c)
{
	for (;;) {
		ssize_t w = send(c->fd, c->frame + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				conn_again(c);
			return;
		}
		c->off += (size_t)w;
		if (c->off < c->len)
			continue;
		if (c->greeted)
			sent++;
		c->greeted = 1;
		c->frame = frame;
		c->off = 0;
		c->len = frame_len;
	}
}

/* Read and drop what the replica sends (its greeting); notice when it hangs up. */
static void conn_read(struct conn *c)
{
	uint8_t junk[256];
	ssize_t r = recv(c->fd, junk, sizeof(junk), 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		conn_again(c);
}

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr,
			"usage: flood peer|client ADDR CONNS SECONDS heavy|junk [SENDER]\n");
		return 2;
	}
	int peer = !strcmp(argv[1], "peer");
	if (!peer && strcmp(argv[1], "client")) {
		fprintf(stderr, "flood: kind must be peer or client\n");
		return 2;
	}
	unsigned long conns = parse_ul(argv[3], "CONNS", FLOOD_MAX_CONNS);
	unsigned long secs = parse_ul(argv[4], "SECONDS", 3600);
	uint32_t sender = argc == 7 ? (uint32_t)parse_ul(argv[6], "SENDER", WIRE_MAX_REPLICAS) : 2;
	if (parse_addr(argv[2]) != 0) {
		fprintf(stderr, "flood: ADDR must be tcp://HOST:PORT, not '%s'\n", argv[2]);
		return 2;
	}
	struct buf msg;
	buf_init(&msg);
	int rc;
	if (!strcmp(argv[5], "heavy"))
		rc = build_heavy(&msg, sender);
	else if (!strcmp(argv[5], "junk"))
		rc = build_junk(&msg, peer);
	else {
		fprintf(stderr, "flood: message must be heavy or junk\n");
		return 2;
	}
	if (rc != 0 || conns == 0) {
		fprintf(stderr, "flood: cannot build the message\n");
		return 2;
	}
	/* the frame: length u64 BE | [pair1 hop count u32 BE = 1] | message */
	size_t hdr = peer ? 0 : 4;
	frame_len = 8 + hdr + msg.len;
	frame = malloc(frame_len);
	if (!frame)
		return 1;
	for (int i = 0; i < 8; i++)
		frame[i] = (uint8_t)((uint64_t)(hdr + msg.len) >> (56 - 8 * i));
	if (!peer) {
		frame[8] = frame[9] = frame[10] = 0;
		frame[11] = 1;
	}
	memcpy(frame + 8 + hdr, msg.p, msg.len);
	uint8_t sp[8] = {0, 'S', 'P', 0, 0, peer ? SP_PUSH0 : SP_PAIR1, 0, 0};
	memcpy(greeting, sp, sizeof(sp));

	static struct conn c[FLOOD_MAX_CONNS];
	static struct pollfd pfd[FLOOD_MAX_CONNS];
	for (unsigned long i = 0; i < conns; i++)
		conn_open(&c[i]);
	uint64_t end = now_ms() + secs * 1000;
	while (now_ms() < end) {
		for (unsigned long i = 0; i < conns; i++) {
			if (c[i].fd < 0)
				conn_open(&c[i]);
			pfd[i].fd = c[i].fd;
			pfd[i].events = POLLIN | POLLOUT;
			pfd[i].revents = 0;
		}
		if (poll(pfd, conns, 100) < 0 && errno != EINTR)
			break;
		for (unsigned long i = 0; i < conns; i++) {
			if (c[i].fd < 0 || !pfd[i].revents)
				continue;
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL))
				conn_again(&c[i]);
			else if (pfd[i].revents & POLLIN)
				conn_read(&c[i]);
			if (c[i].fd >= 0 && (pfd[i].revents & POLLOUT))
				conn_write(&c[i]);
		}
	}
	unsigned long open_now = 0;
	for (unsigned long i = 0; i < conns; i++) {
		if (c[i].fd >= 0) {
			open_now += c[i].greeted;
			close(c[i].fd);
		}
	}
	printf("flood: %llu messages of %zu bytes (%.1f MiB) over %lu %s connections in %lu s; "
	       "%llu connections dropped or refused, %lu open at the end\n",
	       (unsigned long long)sent, msg.len, (double)sent * (double)msg.len / (1 << 20), conns,
	       argv[1], secs, (unsigned long long)refused, open_now);
	free(frame);
	buf_free(&msg);
	return 0;
}
