/* net.c - nng sockets of one replica (see net.h for why these socket types). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>

#include "replica/core/budget.h"
#include "replica/net.h"
#include "replica/rr.h"
#include "wire/wire.h"

#define NET_RECONN_MIN_MS 50   /* a restarted peer is found again quickly ... */
#define NET_RECONN_MAX_MS 1000 /* ... and a dead one costs at most a dial a second */

#define NET_QUEUE_LIMIT (WIRE_MAX_MSG + 64)

/* ---- what waits for net_flush() (issue 14) ----
 * Nothing leaves before net_flush(): the driver calls it only once the turn's persists
 * are committed (persist before you speak), so a message handed to nng earlier could
 * be one a crash makes us contradict.  That holds for full bundles too: a bundle that
 * reaches NET_BUNDLE_MAX messages or NET_BUNDLE_BYTES is closed (its count written)
 * and kept in its queue's list of closed bundles, and the next message starts a new
 * one; net_flush() hands the closed bundles to nng in order, then the open one.  And
 * for client connections: a turn may queue replies for any number of them (the queue
 * array grows), and none leaves before the flush either.
 *
 * The bound.  What waits is one turn's output: the sends of at most 2 x DRAIN_MAX core
 * steps (replica.c; a timer tick, and the faults layer's release of delayed messages -
 * itself bounded by FAULTS_HELD_BYTES - are turns of their own), each step's sends
 * bounded by the core.  These are the messages nng's send queues (NET_SENDBUF_MSGS
 * frames per socket) took at once before.  Closed bundles of all destinations together
 * hold at most NET_HELD_BYTES; a message that would need more is dropped and counted
 * (send_drops), never sent early: a lost message costs a retransmission, an early one
 * can cost safety.  Client queues number at most max_clients (a route names one pipe
 * per client); the buffers of those beyond NET_CQ_INIT are freed at each flush, so
 * what stays allocated between turns is what the fixed array of NET_CQ_INIT kept. */
#define NET_CQ_INIT 64                       /* client queues kept allocated between turns */
#define NET_HELD_BYTES ((uint64_t)256 << 20) /* closed bundles waiting, all queues */

/* A closed bundle (count written into its header), waiting for net_flush(). */
struct closed {
	struct buf b;
	uint32_t count;
	uint64_t bytes; /* of the messages themselves */
};

/* Messages for one destination, waiting for net_flush(), already in bundle layout
 * (header, then len | message per element): closed bundles first, then the open one. */
struct outq {
	struct buf b; /* the open bundle */
	uint32_t count;
	uint64_t bytes; /* of the messages themselves */
	uint32_t pipe;  /* client queues: the pipe; 0 = slot free */
	struct closed *closed;
	uint32_t n_closed, cap_closed;
};

/* The frame being read from one socket (bundle elements are returned one by one). */
struct inframe {
	nng_msg *m;
	struct net_frame fr;
	uint32_t pipe;
};

/* Receiving on the peer and client sockets: NET_RX_AIOS receive aios stay armed, and
 * their callbacks (nng's threads) put what arrives into a small ring that the event
 * loop empties; an eventfd wakes the loop when the ring stops being empty.  Measured
 * here (nng 1.5.2, TCP loopback): ~2 us of CPU per message under load, against ~38 us
 * with NNG_OPT_RECVFD + nng_recvmsg(), which allocates, runs and frees an aio per call
 * and signals readiness through a pipe.  When the ring is full a callback parks its
 * message and its aio stays idle until the loop makes room (so nng's own queue, then
 * TCP, push back), which bounds what we hold: NET_RX_RING_BYTES (one message may
 * exceed it alone) plus one message per aio - at most 8 + 8 + 4 x 8 MiB more than
 * nng's own queue under a flood of the largest messages. */
#define NET_RX_AIOS 4
#define NET_RX_RING_BYTES ((size_t)8 << 20)

struct rxslot {
	struct net_rxq *r;
	nng_aio *aio;
	nng_msg *parked; /* received while the ring was full */
};

struct net_rxq {
	nng_socket sock;
	int efd;
	pthread_mutex_t mu;
	nng_msg **ring;
	uint32_t cap, head, count;
	size_t bytes; /* of the messages in the ring */
	uint32_t nparked;
	struct rxslot slot[NET_RX_AIOS];
};

struct net {
	nng_socket sock[NET_NSOCK];
	int open[NET_NSOCK];
	nng_socket push[WIRE_MAX_REPLICAS];
	int push_open[WIRE_MAX_REPLICAS];
	uint32_t n, self;
	uint32_t max_clients;
	uint32_t *route; /* client id -> pipe id, 0 = none */
	struct outq peerq[WIRE_MAX_REPLICAS];
	struct outq *clientq; /* cap_clientq entries (grows; at most max_clients) */
	uint32_t n_clientq;   /* slots in use: clientq[0..n_clientq) */
	uint32_t cap_clientq;
	uint64_t held; /* bytes of closed bundles waiting for net_flush() */
	struct inframe in[NET_NSOCK];
	struct net_rxq *rx[NET_NSOCK]; /* peer and client (admin: NNG_OPT_RECVFD) */
	int coalesce;                  /* 0: every message its own nng message */
	struct net_stats st;
	struct pipe_cap *cap[NET_NSOCK]; /* connection caps of the listeners */
	struct rr *peer_rr;              /* peer frames per connection (rr.h, net.h) */
	struct peer_frame *peer_done;    /* used up; rx points into it until the next call */
	int vc_budget;
	struct vc_budget {
		uint32_t pipe; /* 0: free */
		uint64_t used_ms;
		struct budget b;
	} vcb[RR_MAX_QUEUES];
};

static void free_peer_frames(struct net *n);

/* Frames moved from the socket into the per-connection queues per net_recv() call. */
#define NET_FILL_MAX 64

/* A frame from the peer socket, waiting in its connection's round-robin queue. */
struct peer_frame {
	nng_msg *m;
	struct net_frame fr;
	uint32_t pipe;
};

/* ---- bundles (pure) ---- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void net_frame_begin(struct net_frame *fr, const uint8_t *p, size_t len)
{
	memset(fr, 0, sizeof(*fr));
	fr->p = p;
	fr->len = len;
	if (len < 4 || get_le32(p) != NET_BUNDLE_MAGIC) {
		fr->left = 1; /* a plain message (or garbage: wire_decode judges) */
		return;
	}
	uint32_t count = len >= NET_BUNDLE_HDR ? get_le32(p + 4) : 0;
	if (count < 1 || count > NET_BUNDLE_MAX) {
		fr->bad = 1; /* the whole frame, once, as garbage */
		fr->left = 1;
		return;
	}
	fr->off = NET_BUNDLE_HDR;
	fr->left = count;
}

int net_frame_next(struct net_frame *fr, const uint8_t **msg, size_t *len)
{
	if (fr->left == 0) {
		if (fr->off >= fr->len || fr->bad)
			return 0;
		fr->bad = 1; /* bytes after the last element: garbage, once */
		fr->left = 1;
	}
	if (fr->bad || fr->off == 0) { /* plain frame, or the unparsable rest */
		*msg = fr->p + fr->off;
		*len = fr->len - fr->off;
		fr->off = fr->len;
		fr->left = 0;
		fr->bad = 1;
		return 1;
	}
	size_t rest = fr->len - fr->off;
	uint32_t l = rest >= 4 ? get_le32(fr->p + fr->off) : 0;
	if (rest < 4 || l > rest - 4) {
		fr->bad = 1;
		fr->left = 1;
		return net_frame_next(fr, msg, len);
	}
	*msg = fr->p + fr->off + 4;
	*len = l;
	fr->off += 4 + (size_t)l;
	fr->left--;
	return 1;
}

static int fail(char *err, size_t errlen, const char *what, const char *addr, int rv)
{
	snprintf(err, errlen, "%s %s: %s", what, addr, nng_strerror(rv));
	return -1;
}

/* Options every socket gets, before any listen or dial. */
/* Every socket: the receive size limit (nng would silently drop larger messages, and
 * a peer could make us buffer more), and deep queues both ways, so that bursts (a
 * batch's replies, a window of votes) are queued rather than dropped: nng's default
 * buffers hold a handful of messages, and every drop costs a retransmission timeout. */
static int set_common(nng_socket s)
{
	int rv;
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, NET_RECVMAXSZ)) != 0 ||
	    (rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, NET_SENDBUF_MSGS)) != 0)
		return rv;
	return nng_socket_set_int(s, NNG_OPT_SENDBUF, NET_SENDBUF_MSGS);
}

/* ---- what one listening socket can make us hold (issue 9) ----
 * nng reads a message whole (allocating its full length as its header arrives) before
 * handing it over; each connection has at most one message in flight, and the socket
 * a queue of NNG_OPT_RECVBUF more - when that queue is full, pull0 and pair1 make the
 * sending pipe wait (backpressure; nothing is dropped).  nng has no limit on
 * connections, so a listener can pin about
 *     (RECVBUF + connections) x RECVMAXSZ
 * bytes, with the number of connections chosen by whoever connects: with 4096-deep
 * queues and 8 MiB messages, anyone who can reach the port could take 32 GiB plus
 * 8 MiB per connection (measured: 2.4 GB RSS from 256 connections in 20 s).  So each
 * listener gets a size limit fitted to what its senders legitimately send, a short
 * queue, and a cap on connections (a pipe beyond it is closed as it arrives):
 *   peer  : (8 + n+2) x 8 MiB     legit: n-1 replicas, one connection each, and
 *                                 room for reconnects (n = 4: 112 MiB)
 *   client: (16 + 64) x 1 MiB     a client group's bundle of requests (80 MiB)
 *   admin : (16 + 16) x 68 KiB    STATUS_REQ is a bare header; room for admin
 *                                 commands to come (2 MiB)
 * (a pipe may hold a second message while handing one to the queue: up to twice the
 * per-connection term).  tests/integration/test_flood.py measures the result.
 * A liar that takes the free peer slots can cut this replica off - as if it had
 * crashed, which the protocol tolerates - but can no longer exhaust its memory. */
#define NET_PEER_RECVBUF 8
#define NET_CLIENT_RECVBUF 16
#define NET_CLIENT_PIPES 64
#define NET_CLIENT_RECVMAXSZ (NET_BUNDLE_BYTES + 4096)
#define NET_ADMIN_RECVBUF 16
#define NET_ADMIN_PIPES 16
#define NET_ADMIN_RECVMAXSZ (64 * 1024 + 4096)

struct pipe_cap {
	pthread_mutex_t mu;
	uint32_t max, count;
	uint32_t id[]; /* the admitted pipes */
};

/* Runs on nng's threads: admit a new pipe if there is room, forget a removed one. */
static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct pipe_cap *c = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	int refuse = 0;
	pthread_mutex_lock(&c->mu);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		if (c->count < c->max)
			c->id[c->count++] = id;
		else
			refuse = 1;
	} else {
		for (uint32_t i = 0; i < c->count; i++) {
			if (c->id[i] == id) {
				c->id[i] = c->id[--c->count];
				break;
			}
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (refuse)
		nng_pipe_close(p);
}

static int limit_listener(struct net *n, enum net_sock k)
{
	size_t maxsz = NET_RECVMAXSZ;
	int recvbuf = NET_PEER_RECVBUF;
	uint32_t pipes = n->n + 2;
	if (k == NET_CLIENT) {
		maxsz = NET_CLIENT_RECVMAXSZ;
		recvbuf = NET_CLIENT_RECVBUF;
		pipes = NET_CLIENT_PIPES;
	} else if (k == NET_ADMIN) {
		maxsz = NET_ADMIN_RECVMAXSZ;
		recvbuf = NET_ADMIN_RECVBUF;
		pipes = NET_ADMIN_PIPES;
	}
	struct pipe_cap *c = calloc(1, sizeof(*c) + pipes * sizeof(c->id[0]));
	if (!c)
		return NNG_ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	c->max = pipes;
	n->cap[k] = c;
	int rv;
	if ((rv = nng_socket_set_size(n->sock[k], NNG_OPT_RECVMAXSZ, maxsz)) != 0 ||
	    (rv = nng_socket_set_int(n->sock[k], NNG_OPT_RECVBUF, recvbuf)) != 0 ||
	    (rv = nng_pipe_notify(n->sock[k], NNG_PIPE_EV_ADD_PRE, on_pipe, c)) != 0)
		return rv;
	return nng_pipe_notify(n->sock[k], NNG_PIPE_EV_REM_POST, on_pipe, c);
}

/* nng_close returns after every pipe's REM_POST callback ran: then the cap can go. */
static void close_listener(struct net *n, enum net_sock k)
{
	nng_close(n->sock[k]);
	if (n->cap[k]) {
		pthread_mutex_destroy(&n->cap[k]->mu);
		free(n->cap[k]);
		n->cap[k] = NULL;
	}
}

static int open_listener(struct net *n, enum net_sock k, const char *addr, char *err, size_t errlen)
{
	int rv;
	switch (k) {
	case NET_PEER: rv = nng_pull0_open(&n->sock[k]); break;
	case NET_CLIENT:
		/* = a pair1 socket with NNG_OPT_PAIR1_POLY set (the option is read-only
		 * from nng 1.5 on, where this constructor replaces setting it). */
		rv = nng_pair1_open_poly(&n->sock[k]);
		break;
	default: rv = nng_rep0_open(&n->sock[k]); break;
	}
	if (rv != 0)
		return fail(err, errlen, "cannot open socket for", addr, rv);
	n->open[k] = 1;
	if ((rv = set_common(n->sock[k])) != 0 || (rv = limit_listener(n, k)) != 0)
		return fail(err, errlen, "cannot set options for", addr, rv);
	if ((rv = nng_listen(n->sock[k], addr, NULL, 0)) != 0)
		return fail(err, errlen, "cannot listen on", addr, rv);
	return 0;
}

static int open_push(struct net *n, uint32_t i, const char *addr, char *err, size_t errlen)
{
	int rv;
	if ((rv = nng_push0_open(&n->push[i])) != 0)
		return fail(err, errlen, "cannot open push socket for", addr, rv);
	n->push_open[i] = 1;
	if ((rv = set_common(n->push[i])) != 0 ||
	    (rv = nng_socket_set_ms(n->push[i], NNG_OPT_RECONNMINT, NET_RECONN_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(n->push[i], NNG_OPT_RECONNMAXT, NET_RECONN_MAX_MS)) != 0)
		return fail(err, errlen, "cannot set options for", addr, rv);
	if ((rv = nng_dial(n->push[i], addr, NULL, NNG_FLAG_NONBLOCK)) != 0)
		return fail(err, errlen, "cannot dial", addr, rv);
	return 0;
}

/* ---- receiving: aios -> ring -> event loop ---- */

static void rx_arm(struct rxslot *sl)
{
	nng_recv_aio(sl->r->sock, sl->aio);
}

/* nng's threads: one message arrived on this slot's aio. */
static void rx_cb(void *arg)
{
	struct rxslot *sl = arg;
	struct net_rxq *r = sl->r;
	int rv = nng_aio_result(sl->aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return; /* shutting down: do not re-arm */
	if (rv != 0) {
		rx_arm(sl); /* a transient failure: keep listening */
		return;
	}
	nng_msg *m = nng_aio_get_msg(sl->aio);
	int wake = 0, rearm = 1;
	size_t len = nng_msg_len(m);
	pthread_mutex_lock(&r->mu);
	if (r->count == 0 || (r->count < r->cap && r->bytes + len <= NET_RX_RING_BYTES)) {
		r->ring[(r->head + r->count) % r->cap] = m;
		r->bytes += len;
		wake = r->count++ == 0;
	} else {
		sl->parked = m;
		r->nparked++;
		rearm = 0;
	}
	pthread_mutex_unlock(&r->mu);
	if (wake) {
		uint64_t one = 1;
		/* It cannot fail but with EAGAIN (counter saturated): still readable. */
		ssize_t w = write(r->efd, &one, sizeof(one));
		(void)w;
	}
	if (rearm)
		rx_arm(sl);
}

struct net_rxq *net_rxq_open(nng_socket sock, uint32_t cap)
{
	struct net_rxq *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->sock = sock;
	r->efd = -1;
	r->cap = cap ? cap : 1;
	pthread_mutex_init(&r->mu, NULL);
	int ok = (r->ring = calloc(r->cap, sizeof(*r->ring))) != NULL &&
		 (r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) >= 0;
	for (int i = 0; ok && i < NET_RX_AIOS; i++) {
		r->slot[i].r = r;
		ok = nng_aio_alloc(&r->slot[i].aio, rx_cb, &r->slot[i]) == 0;
	}
	if (!ok) {
		net_rxq_free(r);
		return NULL;
	}
	for (int i = 0; i < NET_RX_AIOS; i++)
		rx_arm(&r->slot[i]);
	return r;
}

void net_rxq_stop(struct net_rxq *r)
{
	if (!r)
		return;
	for (int i = 0; i < NET_RX_AIOS; i++)
		if (r->slot[i].aio)
			nng_aio_stop(r->slot[i].aio);
}

void net_rxq_free(struct net_rxq *r)
{
	if (!r)
		return;
	net_rxq_stop(r);
	for (int i = 0; i < NET_RX_AIOS; i++) {
		if (r->slot[i].aio)
			nng_aio_free(r->slot[i].aio);
		if (r->slot[i].parked)
			nng_msg_free(r->slot[i].parked);
	}
	for (uint32_t k = 0; k < r->count; k++)
		nng_msg_free(r->ring[(r->head + k) % r->cap]);
	free(r->ring);
	if (r->efd >= 0)
		close(r->efd);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int net_rxq_fd(const struct net_rxq *r)
{
	return r->efd;
}

/* The event loop: the next message, or NULL.  Clears the eventfd before it reports
 * the ring empty, so a message that arrives after that wakes the loop again. */
nng_msg *net_rxq_pop(struct net_rxq *r)
{
	struct rxslot *resume[NET_RX_AIOS];
	int n_resume = 0;
	nng_msg *m = NULL;
	for (int pass = 0; pass < 2 && !m; pass++) {
		if (pass == 1) {
			uint64_t v;
			ssize_t rd = read(r->efd, &v, sizeof(v)); /* EAGAIN: already clear */
			(void)rd;
		}
		pthread_mutex_lock(&r->mu);
		if (r->count > 0) {
			m = r->ring[r->head];
			r->head = (r->head + 1) % r->cap;
			r->count--;
			r->bytes -= nng_msg_len(m);
			/* room again: take the parked messages in, their aios go back to work */
			for (int i = 0; i < NET_RX_AIOS && r->nparked && r->count < r->cap; i++) {
				struct rxslot *sl = &r->slot[i];
				size_t pl = sl->parked ? nng_msg_len(sl->parked) : 0;
				if (!sl->parked ||
				    (r->count > 0 && r->bytes + pl > NET_RX_RING_BYTES))
					continue;
				r->ring[(r->head + r->count++) % r->cap] = sl->parked;
				r->bytes += pl;
				sl->parked = NULL;
				r->nparked--;
				resume[n_resume++] = sl;
			}
		}
		pthread_mutex_unlock(&r->mu);
	}
	for (int i = 0; i < n_resume; i++)
		rx_arm(resume[i]);
	return m;
}

int net_rxq_nonempty(struct net_rxq *r)
{
	pthread_mutex_lock(&r->mu);
	int ne = r->count > 0;
	pthread_mutex_unlock(&r->mu);
	return ne;
}

/* Make room for `cap` client queues (they start empty and free). */
static int grow_clientq(struct net *n, uint32_t cap)
{
	if (cap <= n->cap_clientq)
		return 0;
	struct outq *q = realloc(n->clientq, cap * sizeof(*q));
	if (!q)
		return -1;
	for (uint32_t i = n->cap_clientq; i < cap; i++) {
		memset(&q[i], 0, sizeof(q[i]));
		buf_init_limit(&q[i].b, NET_QUEUE_LIMIT);
	}
	n->clientq = q;
	n->cap_clientq = cap;
	return 0;
}

/* Forget every closed bundle of q (sent or not) and free them. */
static void drop_closed(struct net *n, struct outq *q)
{
	for (uint32_t k = 0; k < q->n_closed; k++) {
		n->held -= q->closed[k].b.len;
		buf_free(&q->closed[k].b);
	}
	q->n_closed = 0;
}

static void outq_free(struct net *n, struct outq *q)
{
	drop_closed(n, q);
	free(q->closed);
	q->closed = NULL;
	q->cap_closed = 0;
	buf_free(&q->b);
}

int net_open(struct net **out, const struct config *cfg, uint32_t self, uint32_t max_clients,
	     const struct net_opts *opts, char *err, size_t errlen)
{
	static const struct net_opts defaults = {.coalesce = 1, .rx_aio = 1};
	if (!opts)
		opts = &defaults;
	*out = NULL;
	if (self >= cfg->n || cfg->n > WIRE_MAX_REPLICAS || max_clients > WIRE_MAX_CLIENTS) {
		snprintf(err, errlen, "net: replica id %u out of range", self);
		return -1;
	}
	struct net *n = calloc(1, sizeof(*n));
	if (!n || !(n->route = calloc(max_clients ? max_clients : 1, sizeof(*n->route)))) {
		free(n);
		snprintf(err, errlen, "net: out of memory");
		return -1;
	}
	n->n = cfg->n;
	n->self = self;
	n->max_clients = max_clients;
	/* coalesce = off turns bundles off, to measure what they save
	 * (docs/EXPERIMENTS.md); messages still leave only at net_flush(). */
	n->coalesce = opts->coalesce;
	n->vc_budget = opts->vc_budget;
	if (!(n->peer_rr = malloc(sizeof(*n->peer_rr)))) {
		snprintf(err, errlen, "net: out of memory");
		goto bad;
	}
	rr_init(n->peer_rr);
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		buf_init_limit(&n->peerq[i].b, NET_QUEUE_LIMIT);
	if (grow_clientq(n, NET_CQ_INIT) != 0) {
		snprintf(err, errlen, "net: out of memory");
		goto bad;
	}
	const struct replica_addr *me = &cfg->replica[self];
	if (open_listener(n, NET_PEER, me->peer, err, errlen) ||
	    open_listener(n, NET_CLIENT, me->client, err, errlen) ||
	    open_listener(n, NET_ADMIN, me->admin, err, errlen))
		goto bad;
	for (uint32_t i = 0; i < n->n; i++)
		if (i != self && open_push(n, i, cfg->replica[i].peer, err, errlen))
			goto bad;
	if (!opts->rx_aio) /* rx_aio = off: NNG_OPT_RECVFD (to measure) */
		;
	else if (!(n->rx[NET_PEER] = net_rxq_open(n->sock[NET_PEER], NET_PEER_RECVBUF)) ||
		 !(n->rx[NET_CLIENT] = net_rxq_open(n->sock[NET_CLIENT], NET_CLIENT_RECVBUF))) {
		snprintf(err, errlen, "net: cannot start receiving: out of memory");
		goto bad;
	}
	*out = n;
	return 0;
bad:
	net_close(n);
	return -1;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	for (int k = 0; k < NET_NSOCK; k++)
		net_rxq_stop(n->rx[k]);
	for (int k = 0; k < NET_NSOCK; k++)
		if (n->open[k])
			close_listener(n, (enum net_sock)k);
	for (int k = 0; k < NET_NSOCK; k++)
		net_rxq_free(n->rx[k]);
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (n->push_open[i])
			nng_close(n->push[i]);
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		outq_free(n, &n->peerq[i]);
	for (uint32_t i = 0; i < n->cap_clientq; i++)
		outq_free(n, &n->clientq[i]);
	free(n->clientq);
	for (int k = 0; k < NET_NSOCK; k++)
		if (n->in[k].m)
			nng_msg_free(n->in[k].m);
	free_peer_frames(n);
	free(n->route);
	free(n);
}

/* ---- fair peer input (issue 16 item 4: net.h, rr.h) ---- */

static void free_frame(struct peer_frame *f)
{
	if (f) {
		nng_msg_free(f->m);
		free(f);
	}
}

static void free_peer_frames(struct net *n)
{
	free_frame(n->peer_done);
	n->peer_done = NULL;
	struct peer_frame *f;
	while (n->peer_rr && (f = rr_pop(n->peer_rr, NULL)) != NULL)
		free_frame(f);
	free(n->peer_rr);
	n->peer_rr = NULL;
}

/* The next frame the peer socket holds: 1 (*out set), 0 (none), -1 (failed). */
static int take_peer_frame(struct net *n, nng_msg **out)
{
	/* Called for every message: skip net_rxq_pop's eventfd read while the ring is
	 * empty and queued frames remain (the loop does not sleep on them anyway); once
	 * the queues are empty, pop clears the eventfd so the loop can sleep. */
	if (n->rx[NET_PEER] && rr_waiting(n->peer_rr) && !net_rxq_nonempty(n->rx[NET_PEER]))
		return 0;
	if (n->rx[NET_PEER])
		return (*out = net_rxq_pop(n->rx[NET_PEER])) != NULL;
	int rv = nng_recvmsg(n->sock[NET_PEER], out, NNG_FLAG_NONBLOCK);
	return rv == 0 ? 1 : rv == NNG_EAGAIN ? 0 : -1;
}

/* Move what the socket holds into the per-connection queues (at most a queue's worth
 * per call, so a flood cannot keep us here).  A frame its connection has no room for
 * is dropped before anything in it is decoded or verified. */
static int fill_peer_queues(struct net *n)
{
	nng_msg *m;
	int rc = 0;
	for (int k = 0; k < NET_FILL_MAX && (rc = take_peer_frame(n, &m)) > 0; k++) {
		struct peer_frame *f = malloc(sizeof(*f));
		int pid = nng_pipe_id(nng_msg_get_pipe(m));
		if (f) {
			f->m = m;
			f->pipe = pid > 0 ? (uint32_t)pid : 0;
			net_frame_begin(&f->fr, nng_msg_body(m), nng_msg_len(m));
		}
		if (!f || rr_push(n->peer_rr, f->pipe, f, nng_msg_len(m)) != 0) {
			n->st.rx_drops++;
			nng_msg_free(m);
			free(f);
		}
	}
	return rc < 0 ? -1 : 0;
}

static uint64_t net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Robust mode: may this connection deliver one more VIEW-CHANGE or NEW-VIEW now?
 * Budgets are kept per pipe in a small table; a new pipe takes the least recently
 * used entry (a connection that closed). */
static int vc_allowed(struct net *n, uint32_t pipe, const uint8_t *p, size_t len)
{
	if (!n->vc_budget || len < WIRE_HDR_LEN ||
	    (p[WIRE_OFF_TYPE] != MSG_VIEWCHANGE && p[WIRE_OFF_TYPE] != MSG_NEWVIEW))
		return 1;
	uint64_t now = net_now_ms();
	struct vc_budget *e = &n->vcb[0];
	for (uint32_t i = 0; i < RR_MAX_QUEUES; i++) {
		if (n->vcb[i].pipe == pipe) {
			e = &n->vcb[i];
			break;
		}
		if (n->vcb[i].used_ms < e->used_ms)
			e = &n->vcb[i];
	}
	if (e->pipe != pipe)
		*e = (struct vc_budget){.pipe = pipe};
	e->used_ms = now ? now : 1;
	if (budget_take(&e->b, now, NET_VC_BUDGET, NET_VC_PERIOD_MS, 1))
		return 1;
	n->st.peer_budget++;
	return 0;
}

/* One message of the peer socket: from the connections with something waiting, in
 * turn (rr.h).  A frame is freed once its queue is served again and it has nothing
 * left, so rx stays valid until the next call. */
static int peer_recv(struct net *n, struct net_rx *rx)
{
	free_frame(n->peer_done);
	n->peer_done = NULL;
	if (fill_peer_queues(n) != 0 && !rr_waiting(n->peer_rr))
		return -1;
	int q;
	while ((q = rr_next(n->peer_rr)) >= 0) {
		struct peer_frame *f = rr_head(n->peer_rr, (uint32_t)q);
		const uint8_t *p;
		size_t len;
		if (!net_frame_next(&f->fr, &p, &len)) {
			rr_drop_head(n->peer_rr, (uint32_t)q);
			free_frame(f);
			continue;
		}
		if (!vc_allowed(n, f->pipe, p, len))
			continue;
		rx->msg = NULL; /* the frame stays ours */
		rx->data = p;
		rx->len = len;
		rx->pipe = f->pipe;
		if (f->fr.left == 0 && (f->fr.off >= f->fr.len || f->fr.bad)) {
			rr_drop_head(n->peer_rr, (uint32_t)q); /* nothing left: freed next call */
			n->peer_done = f;
		}
		return 1;
	}
	return 0;
}

int net_recv_fd(struct net *n, enum net_sock sock)
{
	if (n->rx[sock])
		return net_rxq_fd(n->rx[sock]);
	int fd;
	if (nng_socket_get_int(n->sock[sock], NNG_OPT_RECVFD, &fd) != 0)
		return -1;
	return fd;
}

int net_recv(struct net *n, enum net_sock sock, struct net_rx *rx)
{
	if (sock == NET_PEER)
		return peer_recv(n, rx);
	struct inframe *in = &n->in[sock];
	const uint8_t *p;
	size_t len;
	for (;;) {
		if (in->m && net_frame_next(&in->fr, &p, &len)) {
			rx->msg = NULL; /* the frame stays ours (freed below) */
			rx->data = p;
			rx->len = len;
			rx->pipe = in->pipe;
			return 1;
		}
		if (in->m) {
			nng_msg_free(in->m);
			in->m = NULL;
		}
		nng_msg *m;
		if (n->rx[sock]) {
			if (!(m = net_rxq_pop(n->rx[sock])))
				return 0;
		} else {
			int rv = nng_recvmsg(n->sock[sock], &m, NNG_FLAG_NONBLOCK);
			if (rv == NNG_EAGAIN)
				return 0;
			if (rv != 0)
				return -1;
		}
		int pid = nng_pipe_id(nng_msg_get_pipe(m));
		in->m = m;
		in->pipe = pid > 0 ? (uint32_t)pid : 0;
		net_frame_begin(&in->fr, nng_msg_body(m), nng_msg_len(m));
	}
}

int net_pending(struct net *n, enum net_sock sock)
{
	if (sock == NET_PEER && rr_waiting(n->peer_rr))
		return 1;
	const struct inframe *in = &n->in[sock];
	if (in->m != NULL && (in->fr.left > 0 || (in->fr.off < in->fr.len && !in->fr.bad)))
		return 1;
	return n->rx[sock] && net_rxq_nonempty(n->rx[sock]);
}

void net_rx_free(struct net_rx *rx)
{
	if (rx->msg)
		nng_msg_free(rx->msg);
	memset(rx, 0, sizeof(*rx));
}

/* Hand one frame to nng without blocking.  pipe: 0, or the pipe to send it on.
 * Returns 0, or -1 (dropped: the caller counts). */
static int send_frame(nng_socket s, uint32_t pipe, const uint8_t *p, size_t len)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0)
		return -1;
	if (len)
		memcpy(nng_msg_body(m), p, len);
	if (pipe) {
		nng_pipe np = NNG_PIPE_INITIALIZER;
		np.id = pipe;
		nng_msg_set_pipe(m, np);
	}
	if (nng_sendmsg(s, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m); /* on failure the message is still ours */
		return -1;
	}
	return 0;
}

/* Without coalescing: each element of the bundle b (count written) as its own nng
 * message. */
static void send_singly(struct net *n, nng_socket s, uint32_t pipe, const struct buf *b)
{
	struct net_frame fr;
	const uint8_t *e;
	size_t el;
	net_frame_begin(&fr, b->p, b->len);
	while (net_frame_next(&fr, &e, &el)) {
		if (send_frame(s, pipe, e, el) == 0) {
			n->st.msgs_sent++;
			n->st.bytes_sent += el;
			n->st.frames_sent++;
		} else {
			n->st.send_drops++;
		}
	}
}

/* Hand one bundle (count written into its header) to nng: plain if it holds one
 * message, else as it is. */
static void send_bundle(struct net *n, nng_socket s, uint32_t pipe, const struct buf *b,
			uint32_t count, uint64_t bytes)
{
	if (count == 0)
		return;
	if (!n->coalesce && count > 1) {
		send_singly(n, s, pipe, b);
		return;
	}
	const uint8_t *p = b->p;
	size_t len = b->len;
	if (count == 1) {
		p += NET_BUNDLE_HDR + 4;
		len -= NET_BUNDLE_HDR + 4;
	}
	if (send_frame(s, pipe, p, len) == 0) {
		n->st.msgs_sent += count;
		n->st.bytes_sent += bytes;
		n->st.frames_sent++;
	} else {
		n->st.send_drops += count;
	}
}

/* net_flush() only: send what q holds - its closed bundles in order, then the open
 * one - and empty it. */
static void flush_q(struct net *n, struct outq *q, nng_socket s)
{
	for (uint32_t k = 0; k < q->n_closed; k++)
		send_bundle(n, s, q->pipe, &q->closed[k].b, q->closed[k].count, q->closed[k].bytes);
	drop_closed(n, q);
	if (q->count > 0) {
		set_le32(q->b.p + 4, q->count);
		send_bundle(n, s, q->pipe, &q->b, q->count, q->bytes);
	}
	buf_reset(&q->b);
	q->count = 0;
	q->bytes = 0;
}

/* The open bundle of q is full: close it (write its count) and keep it for
 * net_flush(); the next message starts a new one.  Returns 0, or -1 if no more may
 * wait (NET_HELD_BYTES) or memory ran out: then the caller drops the new message. */
static int close_bundle(struct net *n, struct outq *q)
{
	if (n->held + q->b.len > NET_HELD_BYTES)
		return -1;
	if (q->n_closed == q->cap_closed) {
		uint32_t cap = q->cap_closed ? 2 * q->cap_closed : 4;
		struct closed *c = realloc(q->closed, cap * sizeof(*c));
		if (!c)
			return -1;
		q->closed = c;
		q->cap_closed = cap;
	}
	set_le32(q->b.p + 4, q->count);
	q->closed[q->n_closed++] = (struct closed){.b = q->b, .count = q->count, .bytes = q->bytes};
	n->held += q->b.len;
	buf_init_limit(&q->b, NET_QUEUE_LIMIT);
	q->count = 0;
	q->bytes = 0;
	return 0;
}

/* Append one message to q: it leaves at the next net_flush(), never before (when the
 * open bundle is full it is closed and kept, not sent). */
static void enqueue(struct net *n, struct outq *q, const uint8_t *p, size_t len)
{
	if (q->count > 0 && (q->count >= NET_BUNDLE_MAX || q->b.len + 4 + len > NET_BUNDLE_BYTES) &&
	    close_bundle(n, q) != 0) {
		n->st.send_drops++; /* dropped, never sent before its turn is durable */
		return;
	}
	if (q->count == 0) {
		buf_put_u32(&q->b, NET_BUNDLE_MAGIC);
		buf_put_u32(&q->b, 0); /* count, written when the bundle is closed or sent */
	}
	buf_put_u32(&q->b, (uint32_t)len);
	buf_put(&q->b, p, len);
	if (q->b.err) { /* larger than any legal message: drop it */
		n->st.send_drops++;
		buf_reset(&q->b);
		q->count = 0;
		q->bytes = 0;
		return;
	}
	q->count++;
	q->bytes += len;
}

void net_send_replica(struct net *n, uint32_t to, const uint8_t *p, size_t len)
{
	if (to >= n->n || to == n->self || !n->push_open[to])
		return;
	enqueue(n, &n->peerq[to], p, len);
}

static void flush_clients(struct net *n)
{
	for (uint32_t i = 0; i < n->n_clientq; i++) {
		flush_q(n, &n->clientq[i], n->sock[NET_CLIENT]);
		n->clientq[i].pipe = 0;
		if (i >= NET_CQ_INIT) /* a burst's buffers do not stay with us */
			outq_free(n, &n->clientq[i]);
	}
	n->n_clientq = 0;
}

void net_send_client(struct net *n, uint32_t client, const uint8_t *p, size_t len)
{
	if (client >= n->max_clients || n->route[client] == 0) {
		n->st.no_route++;
		return;
	}
	/* A pipe that has closed since is dropped quietly inside nng; the client
	 * retransmits and its next message teaches us the new pipe.  Replies to
	 * clients that share a connection (byzlab-client bench) share a bundle. */
	uint32_t pipe = n->route[client], i;
	for (i = 0; i < n->n_clientq && n->clientq[i].pipe != pipe; i++)
		;
	if (i == n->n_clientq) {
		/* a new connection this turn: at most max_clients of them (one pipe per
		 * route), so the array stays bounded */
		if (i == n->cap_clientq && grow_clientq(n, 2 * n->cap_clientq) != 0) {
			n->st.send_drops++; /* out of memory: drop, never send early */
			return;
		}
		n->n_clientq++;
		n->clientq[i].pipe = pipe;
	}
	enqueue(n, &n->clientq[i], p, len);
}

void net_flush(struct net *n)
{
	for (uint32_t i = 0; i < n->n; i++)
		if (n->peerq[i].count || n->peerq[i].n_closed)
			flush_q(n, &n->peerq[i], n->push[i]);
	flush_clients(n);
}

void net_set_route(struct net *n, uint32_t client, uint32_t pipe)
{
	if (client < n->max_clients && pipe != 0)
		n->route[client] = pipe;
}

int net_admin_reply(struct net *n, const uint8_t *p, size_t len)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0)
		return -1;
	memcpy(nng_msg_body(m), p, len);
	if (nng_sendmsg(n->sock[NET_ADMIN], m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		return -1;
	}
	return 0;
}

const struct net_stats *net_stats(const struct net *n)
{
	return &n->st;
}
