/* net.c - nng sockets of one replica (see net.h for why these socket types). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>

#include "replica/net.h"

#define NET_RECONN_MIN_MS 50     /* a restarted peer is found again quickly ... */
#define NET_RECONN_MAX_MS 1000   /* ... and a dead one costs at most a dial a second */

struct net {
	nng_socket sock[NET_NSOCK];
	int open[NET_NSOCK];
	nng_socket push[WIRE_MAX_REPLICAS];
	int push_open[WIRE_MAX_REPLICAS];
	uint32_t n, self;
	uint32_t max_clients;
	uint32_t *route;                /* client id -> pipe id, 0 = none */
	struct net_stats st;
};

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

static int open_listener(struct net *n, enum net_sock k, const char *addr, char *err,
			 size_t errlen)
{
	int rv;
	switch (k) {
	case NET_PEER:
		rv = nng_pull0_open(&n->sock[k]);
		break;
	case NET_CLIENT:
		/* = a pair1 socket with NNG_OPT_PAIR1_POLY set (the option is read-only
		 * from nng 1.5 on, where this constructor replaces setting it). */
		rv = nng_pair1_open_poly(&n->sock[k]);
		break;
	default:
		rv = nng_rep0_open(&n->sock[k]);
		break;
	}
	if (rv != 0)
		return fail(err, errlen, "cannot open socket for", addr, rv);
	n->open[k] = 1;
	if ((rv = set_common(n->sock[k])) != 0)
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

int net_open(struct net **out, const struct config *cfg, uint32_t self, uint32_t max_clients,
	     char *err, size_t errlen)
{
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
	const struct replica_addr *me = &cfg->replica[self];
	if (open_listener(n, NET_PEER, me->peer, err, errlen) ||
	    open_listener(n, NET_CLIENT, me->client, err, errlen) ||
	    open_listener(n, NET_ADMIN, me->admin, err, errlen))
		goto bad;
	for (uint32_t i = 0; i < n->n; i++)
		if (i != self && open_push(n, i, cfg->replica[i].peer, err, errlen))
			goto bad;
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
		if (n->open[k])
			nng_close(n->sock[k]);
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (n->push_open[i])
			nng_close(n->push[i]);
	free(n->route);
	free(n);
}

int net_recv_fd(struct net *n, enum net_sock sock)
{
	int fd;
	if (nng_socket_get_int(n->sock[sock], NNG_OPT_RECVFD, &fd) != 0)
		return -1;
	return fd;
}

int net_recv(struct net *n, enum net_sock sock, struct net_rx *rx)
{
	nng_msg *m;
	int rv = nng_recvmsg(n->sock[sock], &m, NNG_FLAG_NONBLOCK);
	if (rv == NNG_EAGAIN)
		return 0;
	if (rv != 0)
		return -1;
	rx->msg = m;
	rx->data = nng_msg_body(m);
	rx->len = nng_msg_len(m);
	int pid = nng_pipe_id(nng_msg_get_pipe(m));
	rx->pipe = pid > 0 ? (uint32_t)pid : 0;
	return 1;
}

void net_rx_free(struct net_rx *rx)
{
	if (rx->msg)
		nng_msg_free(rx->msg);
	memset(rx, 0, sizeof(*rx));
}

/* Hand one copy to nng without blocking.  pipe: 0, or the pipe to send it on. */
static int send_copy(struct net *n, nng_socket s, uint32_t pipe, const uint8_t *p, size_t len)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0) {
		n->st.send_drops++;
		return -1;
	}
	if (len)
		memcpy(nng_msg_body(m), p, len);
	if (pipe) {
		nng_pipe np = NNG_PIPE_INITIALIZER;
		np.id = pipe;
		nng_msg_set_pipe(m, np);
	}
	if (nng_sendmsg(s, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);    /* on failure the message is still ours */
		n->st.send_drops++;
		return -1;
	}
	n->st.msgs_sent++;
	n->st.bytes_sent += len;
	return 0;
}

void net_send_replica(struct net *n, uint32_t to, const uint8_t *p, size_t len)
{
	if (to >= n->n || to == n->self || !n->push_open[to])
		return;
	send_copy(n, n->push[to], 0, p, len);
}

void net_send_client(struct net *n, uint32_t client, const uint8_t *p, size_t len)
{
	if (client >= n->max_clients || n->route[client] == 0) {
		n->st.no_route++;
		return;
	}
	/* A pipe that has closed since is dropped quietly inside nng; the client
	 * retransmits and its next message teaches us the new pipe. */
	send_copy(n, n->sock[NET_CLIENT], n->route[client], p, len);
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
