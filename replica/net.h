/* net.h - the replica's transport: three nng sockets and a route table.
 *
 * Why these socket types:
 *   peer   : PULL listening on our peer address, plus one PUSH per other replica dialing
 *            that replica's peer address.  A PUSH is one-way and never waits for an
 *            answer, which is exactly PBFT's messaging (every reply is a message of its
 *            own).  Dialing with NNG_FLAG_NONBLOCK makes the connect happen in the
 *            background and nng reconnects by itself after a peer restarts, so starting
 *            order does not matter.  Each PUSH has a bounded send queue
 *            (NET_SENDBUF_MSGS) and we send with NNG_FLAG_NONBLOCK: when a peer is slow
 *            or dead its queue fills and further messages to it are dropped and counted
 *            (send_drops).  The event loop never blocks on a peer; the protocol already
 *            tolerates loss (retransmission, checkpoints, view change).
 *   client : PAIR1 in polyamorous mode (NNG_OPT_PAIR1_POLY), listening.  Each client
 *            connection is a pipe; the pipe a client's authenticated REQUEST or HELLO
 *            arrived on is remembered (route table: client id -> pipe id) and its
 *            replies go back on that pipe (nng_msg_set_pipe).  A client that reconnects
 *            simply re-learns its route with its next message.  No route: the reply is
 *            dropped and counted (no_route); the client retransmits.
 *   admin  : REP, listening: one STATUS_REQ in, one STATUS_RESP out.
 *
 * NNG_OPT_RECVMAXSZ is set on every socket to WIRE_MAX_MSG + 4096 on purpose: nng's
 * default (1 MiB) would make nng silently drop (and disconnect on) a legal large
 * pre-prepare, a failure that is very hard to see.  With the limit just above our own
 * hard limit (the slack covers nng's protocol headers), every size decision is made by
 * wire_decode(), where it is counted, and nng still refuses absurd sizes before
 * allocating them.  The client and admin listeners take less (what their senders can
 * legitimately send), and every listener has a short receive queue and a cap on
 * connections, so the memory one replica's sockets can be made to hold is bounded
 * (net.c explains the numbers; tests/integration/test_flood.py measures it).
 *
 * All functions are called from the replica's single event-loop thread.
 */
#ifndef BYZLAB_NET_H
#define BYZLAB_NET_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "config/config.h"
#include "replica/edge.h"

#define NET_SENDBUF_MSGS 4096 /* per PUSH: messages queued for one peer */
#define NET_RECVMAXSZ (WIRE_MAX_MSG + 4096)

/* Coalescing ("bundles").  nng costs tens of microseconds of thread hand-offs per
 * message, whatever its size, so the messages one loop turn produces for one
 * destination (a peer, or a client connection) leave as ONE nng message:
 *
 *     magic u32 = NET_BUNDLE_MAGIC ("BZLB") | count u32 | count x (len u32 | message)
 *
 * little-endian, each message a complete wire message (wire.h) that is decoded and
 * authenticated on its own.  A turn with one message for a destination sends it
 * plain, so a bundle always holds >= 2 and a receiver accepts both forms on every
 * socket.  Bundles are transport framing only: counters (msgs_sent, msgs_recv) count
 * the messages inside.  A bundle is closed at NET_BUNDLE_BYTES or NET_BUNDLE_MAX
 * messages (a larger message travels plain) and the next one started; a closed bundle
 * still waits for net_flush() like the rest (net.c: nothing leaves before it). */
#define NET_BUNDLE_MAGIC 0x424c5a42u /* "BZLB" as little-endian bytes */
#define NET_BUNDLE_HDR 8
#define NET_BUNDLE_MAX 1024         /* messages in one bundle */
#define NET_BUNDLE_BYTES (1u << 20) /* bundle size at which it is closed */

/* Walk one received frame: a plain message (one element) or a bundle. */
struct net_frame {
	const uint8_t *p;
	size_t len, off;
	uint32_t left; /* elements still to return */
	int bad;       /* malformed bundle: the rest is returned as one element */
};
void net_frame_begin(struct net_frame *fr, const uint8_t *p, size_t len);
/* Next element: 1 (msg/len set), 0 (no more).  A malformed bundle yields its
 * unparsed remainder once as an element (it then fails wire_decode and is counted
 * as bad_format by the receiver), then ends. */
int net_frame_next(struct net_frame *fr, const uint8_t **msg, size_t *len);

/* Receiving without NNG_OPT_RECVFD (net.c explains why): NET_RX_AIOS receive aios
 * stay armed on `sock` and their callbacks (nng's threads) fill a ring of at most
 * `cap` messages (and NET_RX_RING_BYTES); net_rxq_fd() polls readable when the ring
 * became non-empty.  Used by the replica's peer and client sockets and by client
 * groups.  One consumer thread; net_rxq_stop() before nng_close(sock), then free. */
struct net_rxq;
struct net_rxq *net_rxq_open(nng_socket sock, uint32_t cap); /* NULL: no memory */
int net_rxq_fd(const struct net_rxq *q);
/* The next message (the caller frees it), or NULL when the ring is empty. */
nng_msg *net_rxq_pop(struct net_rxq *q);
int net_rxq_nonempty(struct net_rxq *q);
void net_rxq_stop(struct net_rxq *q); /* no callback runs after this returns */
void net_rxq_free(struct net_rxq *q); /* stops it too; frees what it holds */

/* enum net_sock (NET_PEER, NET_CLIENT, NET_ADMIN): replica/edge.h, whose rules use it. */

struct net_stats {
	uint64_t msgs_sent, bytes_sent; /* per destination copy handed to nng */
	uint64_t send_drops;            /* a peer's queue was full (or send failed) */
	uint64_t no_route;              /* a reply for a client with no known pipe */
	uint64_t frames_sent;           /* nng messages (a bundle counts once) */
	uint64_t peer_budget; /* robust: VIEW-CHANGE/NEW-VIEW over a connection's budget */
	uint64_t rx_drops;    /* peer frames dropped: that connection's queue was full (rr.h) */
};

/* One received message; data/len point into nng's buffer until net_rx_free(). */
struct net_rx {
	const uint8_t *data;
	size_t len;
	uint32_t pipe; /* nng pipe id it came on (client routes) */
	void *msg;     /* the nng_msg */
};

struct net;

/* Transport optimizations, on by default; cluster.ini's coalesce and rx_aio keys
 * turn them off to measure what each is worth (docs/EXPERIMENTS.md). */
struct net_opts {
	int coalesce;  /* 1: bundle a turn's messages per destination; 0: one nng msg each */
	int rx_aio;    /* 1: receive with armed aios (net_rxq); 0: NNG_OPT_RECVFD */
	int vc_budget; /* robust = on: per-connection budget on VIEW-CHANGE / NEW-VIEW */
};

/* Fair peer input (issue 16 item 4, replica/rr.h): frames from the peer socket are
 * queued per connection (nng pipe) and net_recv(NET_PEER) returns their messages
 * round-robin, one per busy connection in turn, so a flooding peer cannot starve the
 * others; a connection's queue beyond RR_QUEUE_ITEMS / RR_QUEUE_BYTES drops (rx_drops).
 * With vc_budget, each connection may deliver at most NET_VC_BUDGET VIEW-CHANGEs and
 * NEW-VIEWs per NET_VC_PERIOD_MS (a token bucket, replica/core/budget.h); more are
 * dropped before any signature is checked (peer_budget).  A correct replica sends one
 * VIEW-CHANGE per view it moves to, re-sent once per view timeout, and a NEW-VIEW per
 * view it leads or a straggler asks for (rate-limited by the core to one per half
 * timeout per asker): far below the budget. */
#define NET_VC_BUDGET 8
#define NET_VC_PERIOD_MS 1000

/* Listen on replica `self`'s three addresses and start dialing every other replica.
 * max_clients bounds the route table; opts NULL means both on.  Returns 0,
 * or -1 with a message (naming the address) in err. */
int net_open(struct net **out, const struct config *cfg, uint32_t self, uint32_t max_clients,
	     const struct net_opts *opts, char *err, size_t errlen);
void net_close(struct net *n);

/* A file descriptor that polls readable when `sock` has a message waiting. */
int net_recv_fd(struct net *n, enum net_sock sock);

/* Take one message without blocking (the next element of a bundle, if one is being
 * read).  Returns 1 (rx filled), 0 (nothing waiting) or -1 (socket closed / failed).
 * rx stays valid until net_rx_free() and the next net_recv() on that socket. */
int net_recv(struct net *n, enum net_sock sock, struct net_rx *rx);
void net_rx_free(struct net_rx *rx);
/* Is something from `sock` waiting that the descriptor may not signal (the rest of a
 * bundle, or messages left when the caller stopped draining)?  Then the caller must
 * call net_recv() again without waiting. */
int net_pending(struct net *n, enum net_sock sock);

/* Queue a copy for replica `to`; it leaves at the next net_flush() and never before,
 * however much is queued (never blocks: a full nng queue drops and counts). */
void net_send_replica(struct net *n, uint32_t to, const uint8_t *p, size_t len);
/* Queue a copy for client `client` over its learned pipe (no route: dropped,
 * counted); it leaves at the next net_flush(). */
void net_send_client(struct net *n, uint32_t client, const uint8_t *p, size_t len);
/* Remember that client `client` is reachable over pipe `pipe`. */
void net_set_route(struct net *n, uint32_t client, uint32_t pipe);
/* Hand every message queued since the last flush to nng: one nng message per
 * destination (plain if it is alone, else a bundle).  The event loop calls it once
 * per turn, after the turn's persists are durable. */
void net_flush(struct net *n);
/* Answer the admin request just received (REP: one answer per request). */
int net_admin_reply(struct net *n, const uint8_t *p, size_t len);

const struct net_stats *net_stats(const struct net *n);

#endif
