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
 * allocating them.
 *
 * All functions are called from the replica's single event-loop thread.
 */
#ifndef BYZLAB_NET_H
#define BYZLAB_NET_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define NET_SENDBUF_MSGS 4096          /* per PUSH: messages queued for one peer */
#define NET_RECVMAXSZ (WIRE_MAX_MSG + 4096)

enum net_sock { NET_PEER = 0, NET_CLIENT = 1, NET_ADMIN = 2, NET_NSOCK = 3 };

struct net_stats {
	uint64_t msgs_sent, bytes_sent;  /* per destination copy handed to nng */
	uint64_t send_drops;             /* a peer's queue was full (or send failed) */
	uint64_t no_route;               /* a reply for a client with no known pipe */
};

/* One received message; data/len point into nng's buffer until net_rx_free(). */
struct net_rx {
	const uint8_t *data;
	size_t len;
	uint32_t pipe;                  /* nng pipe id it came on (client routes) */
	void *msg;                      /* the nng_msg */
};

struct net;

/* Listen on replica `self`'s three addresses and start dialing every other replica.
 * max_clients bounds the route table.  Returns 0, or -1 with a message (naming the
 * address) in err. */
int net_open(struct net **out, const struct config *cfg, uint32_t self, uint32_t max_clients,
	     char *err, size_t errlen);
void net_close(struct net *n);

/* A file descriptor that polls readable when `sock` has a message waiting. */
int net_recv_fd(struct net *n, enum net_sock sock);

/* Take one message without blocking.  Returns 1 (rx filled), 0 (nothing waiting) or
 * -1 (socket closed / failed). */
int net_recv(struct net *n, enum net_sock sock, struct net_rx *rx);
void net_rx_free(struct net_rx *rx);

/* Queue a copy for replica `to` (never blocks: a full queue drops and counts). */
void net_send_replica(struct net *n, uint32_t to, const uint8_t *p, size_t len);
/* Send a copy to client `client` over its learned pipe (no route: dropped, counted). */
void net_send_client(struct net *n, uint32_t client, const uint8_t *p, size_t len);
/* Remember that client `client` is reachable over pipe `pipe`. */
void net_set_route(struct net *n, uint32_t client, uint32_t pipe);
/* Answer the admin request just received (REP: one answer per request). */
int net_admin_reply(struct net *n, const uint8_t *p, size_t len);

const struct net_stats *net_stats(const struct net *n);

#endif
