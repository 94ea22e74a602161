/* client.c - the byzlab client library (see client.h for the protocol).
 *
 * Layout: small pure helpers (parsing, timestamps, result rendering) first, then the
 * nng driver of the client core (client_core.h: every protocol decision - the
 * request, the accept rule, retransmission - is the core's; this file owns sockets,
 * the clock and waiting), then groups, then status.
 */
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/req.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/kv.h"
#include "replica/net.h"     /* bundle framing */
#include "replica/textbuf.h" /* seterr */

#define CLIENT_RECVMAXSZ (WIRE_MAX_MSG + 4096)
#define CLIENT_SENDBUF_MSGS 64
#define CLIENT_DRAIN_MAX 256  /* messages taken from one socket per call */
#define CLIENT_GROUP_RING 256 /* frames a group holds per replica, unread */
#define CLIENT_RECONN_MIN_MS 20
#define CLIENT_RECONN_MAX_MS 500
/* Timestamps at or above this in a state file are treated as corrupt: t + 1 and
 * t + lease must never wrap. */
#define CLIENT_TS_SANE_MAX (UINT64_C(1) << 62)

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t client_mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

uint64_t client_realtime_us(void)
{
	return clock_us(CLOCK_REALTIME);
}

int client_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* ------------------------------------------------------------ timestamps */

int client_state_dir(const struct config *c, char *out, size_t outlen)
{
	const char *env = getenv("BYZLAB_CLIENT_STATE");
	int n;

	if (env && *env)
		n = snprintf(out, outlen, "%s", env);
	else
		n = snprintf(out, outlen, "%s/clientstate", c->dir[0] ? c->dir : ".");
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* mkdir -p with mode 0700 for what we create. */
static int mkdir_p(const char *dir)
{
	char tmp[CONFIG_PATH_MAX];
	size_t i, len = strlen(dir);
	struct stat st;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		tmp[i] = i == len ? '\0' : '/';
	}
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

void client_ts_open(struct client_ts *t, const char *dir, uint32_t client_id, uint64_t lease_us)
{
	int n;

	memset(t, 0, sizeof(*t));
	t->lease_us = lease_us;
	if (dir == NULL || mkdir_p(dir) != 0)
		return;
	n = snprintf(t->path, sizeof(t->path), "%s/client-%u.ts", dir, client_id);
	if (n < 0 || (size_t)n >= sizeof(t->path) - 16) /* room for ".lock" / ".tmp" */
		t->path[0] = '\0';
}

/* The value in the state file, or 0 if missing, unreadable or corrupt. */
static uint64_t ts_read(const char *path)
{
	char text[32];
	uint64_t v = 0;
	ssize_t r, i;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	r = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	for (i = 0; i < r && text[i] != '\n'; i++) {
		if (text[i] < '0' || text[i] > '9' || i >= 19)
			return 0;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	return v >= CLIENT_TS_SANE_MAX ? 0 : v;
}

static int ts_write(const char *path, uint64_t v)
{
	char tmp[sizeof(((struct client_ts *)0)->path) + 8];
	char text[32];
	int fd, len, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, text, (size_t)len) == len;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Under the lock: t = max(t, file + 1); file = t + lease.  Returns t, or 0 if the
 * state directory stopped working (then the caller uses the clock). */
static uint64_t ts_persist(struct client_ts *t, uint64_t want)
{
	char lock[sizeof(t->path) + 8];
	uint64_t v;
	int fd, ok;

	snprintf(lock, sizeof(lock), "%s.lock", t->path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
		;
	v = ts_read(t->path);
	if (v >= want)
		want = v + 1;
	ok = ts_write(t->path, want + t->lease_us) == 0;
	close(fd); /* releases the lock */
	if (!ok)
		return 0;
	t->reserved = want + t->lease_us;
	return want;
}

void client_ts_cover(struct client_ts *t, uint64_t ts)
{
	if (ts <= t->last)
		return;
	t->last = ts;
	if (t->path[0] && ts > t->reserved && ts_persist(t, ts) == 0)
		t->path[0] = '\0'; /* unusable: clock only from now on, silently */
}

uint64_t client_ts_next(struct client_ts *t, uint64_t now_realtime_us)
{
	uint64_t want = now_realtime_us > t->last ? now_realtime_us : t->last + 1;
	uint64_t got;

	if (t->path[0] && want > t->reserved) {
		got = ts_persist(t, want);
		if (got == 0)
			t->path[0] = '\0'; /* unusable: clock only from now on, silently */
		else
			want = got;
	}
	t->last = want;
	return want;
}

/* ------------------------------------------------------- result printing */

static void put_value(FILE *f, const uint8_t *p, size_t len)
{
	if (len)
		fwrite(p, 1, len, f);
	fputc('\n', f);
}

static int print_failure(const uint8_t *res, size_t len, FILE *err)
{
	if (len == 0) {
		fprintf(err, "error: empty result\n");
		return CLIENT_EXIT_FAILED;
	}
	switch (res[0]) {
	case KV_NOT_FOUND: fprintf(err, "NOT_FOUND\n"); break;
	case KV_BAD_OP: fprintf(err, "error: replicas rejected the operation (BAD_OP)\n"); break;
	case KV_FULL: fprintf(err, "error: the store is full (FULL)\n"); break;
	case KV_OK: fprintf(err, "error: malformed result (%zu bytes)\n", len); break;
	default: fprintf(err, "error: unexpected result status %u\n", res[0]); break;
	}
	return CLIENT_EXIT_FAILED;
}

int client_print_result(enum client_cmd cmd, const uint8_t *res, size_t len, FILE *out, FILE *err)
{
	int st = len ? res[0] : -1;

	if (cmd == CLIENT_CMD_CAS && st == KV_CAS_FAILED) {
		fprintf(err, "CAS_FAILED current=");
		put_value(err, res + 1, len - 1);
		return CLIENT_EXIT_FAILED;
	}
	/* del is idempotent: deleting an absent key is still OK. */
	if (cmd == CLIENT_CMD_DEL && st == KV_NOT_FOUND && len == 1)
		st = KV_OK;
	if (st != KV_OK || (cmd != CLIENT_CMD_GET && len != 1))
		return print_failure(res, len, err);
	if (cmd == CLIENT_CMD_GET)
		put_value(out, res + 1, len - 1);
	else
		fprintf(out, "OK\n");
	return CLIENT_EXIT_OK;
}

uint64_t client_percentile(const uint32_t *sorted, size_t n, unsigned p)
{
	size_t rank;

	if (n == 0)
		return 0;
	if (p > 100)
		p = 100;
	rank = (n * p + 99) / 100; /* ceil(n * p / 100), nearest-rank */
	return sorted[rank == 0 ? 0 : rank - 1];
}

/* ---------------------------------------------------------------- client */

struct client_conn {
	nng_socket sock;
	int fd;
	int open;
	atomic_uint pipes;  /* pipes seen so far (set from nng's threads) */
	atomic_int rehello; /* a reconnect happened: send HELLO again */
};

struct bz_client {
	struct client_group *grp; /* shared connections, or NULL: our own */
	uint32_t id, n, cluster;
	struct auth_ctx auth;
	struct client_conn conn[WIRE_MAX_REPLICAS];
	struct client_ts ts;
	struct client_core core;   /* every protocol decision (client_core.h) */
	struct buf hello;          /* the sealed HELLO */
	struct client_stats stats; /* I/O counters here, the core's copied in (sync_stats) */
	char err[256];
};

static void on_pipe_add(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct client_conn *c = arg;

	(void)p;
	(void)ev;
	/* The first connection gets the HELLO queued at open; later ones are reconnects
	 * (e.g. the replica restarted and forgot our route). */
	if (atomic_fetch_add(&c->pipes, 1) > 0)
		atomic_store(&c->rehello, 1);
}

/* Clients that share connections (bench): one queue per replica, flushed as one
 * nng message (a bundle, replica/net.h) by client_group_flush(). */
struct client_group {
	uint32_t n, cluster, first, count;
	struct client_conn conn[WIRE_MAX_REPLICAS];
	struct buf q[WIRE_MAX_REPLICAS];
	uint32_t qn[WIRE_MAX_REPLICAS];
	struct net_rxq *rq[WIRE_MAX_REPLICAS]; /* receiving (replica/net.h) */
	struct bz_client **m;
	struct client_group_stats st;
};

static void group_queue(struct client_group *g, uint32_t i, const uint8_t *p, size_t len);

static void conn_send(struct bz_client *cl, uint32_t i, const struct buf *b)
{
	nng_msg *m;

	if (cl->grp) {
		group_queue(cl->grp, i, b->p, b->len);
		cl->stats.sends++;
		cl->stats.bytes_sent += b->len;
		return;
	}
	if (!cl->conn[i].open || nng_msg_alloc(&m, b->len) != 0) {
		cl->stats.send_drops++;
		return;
	}
	memcpy(nng_msg_body(m), b->p, b->len);
	if (nng_sendmsg(cl->conn[i].sock, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		cl->stats.send_drops++;
		return;
	}
	cl->stats.sends++;
	cl->stats.bytes_sent += b->len;
}

static void send_all_but(struct bz_client *cl, const struct buf *b, uint32_t skip)
{
	uint32_t i;

	for (i = 0; i < cl->n; i++)
		if (i != skip)
			conn_send(cl, i, b);
}

static void send_all(struct bz_client *cl, const struct buf *b)
{
	send_all_but(cl, b, CLIENT_SEND_NONE);
}

static void send_rehellos(struct bz_client *cl)
{
	uint32_t i;

	if (cl->grp)
		return; /* the group re-HELLOs for all its members */
	for (i = 0; i < cl->n; i++)
		if (atomic_exchange(&cl->conn[i].rehello, 0))
			conn_send(cl, i, &cl->hello);
}

/* recvfd: fetch NNG_OPT_RECVFD (a group receives through a net_rxq instead). */
static int conn_open(struct client_conn *c, uint32_t i, const char *addr, int recvfd, char *err,
		     size_t errlen)
{
	int rv;

	atomic_init(&c->pipes, 0);
	atomic_init(&c->rehello, 0);
	if ((rv = nng_pair1_open(&c->sock)) != 0)
		goto fail;
	c->open = 1;
	if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, CLIENT_RECVMAXSZ)) != 0 ||
	    (rv = nng_socket_set_int(c->sock, NNG_OPT_SENDBUF, CLIENT_SENDBUF_MSGS)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, CLIENT_RECONN_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, CLIENT_RECONN_MAX_MS)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, on_pipe_add, c)) != 0 ||
	    (recvfd && (rv = nng_socket_get_int(c->sock, NNG_OPT_RECVFD, &c->fd)) != 0) ||
	    (rv = nng_dial(c->sock, addr, NULL, NNG_FLAG_NONBLOCK)) != 0)
		goto fail;
	return 0;
fail:
	seterr(err, errlen, "replica %u client address %s: %s", i, addr, nng_strerror(rv));
	return -1;
}

static int client_alloc(const struct config *c, uint32_t id, uint32_t timeout_ms,
			struct bz_client **out, char *err, size_t errlen)
{
	struct bz_client *cl;

	if (id >= c->clients || id >= WIRE_MAX_CLIENTS) {
		seterr(err, errlen, "%s: client id %u out of range (clients = %u)", c->path, id,
		       c->clients);
		return -1;
	}
	if (c->n < 1 || c->n > WIRE_MAX_REPLICAS) {
		seterr(err, errlen, "%s: bad replica count %u", c->path, c->n);
		return -1;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	cl->id = id;
	cl->n = c->n;
	cl->cluster = c->cluster_id;
	struct client_core_config cc = {
		.proto = c->protocol,
		.n = c->n,
		.f = c->f,
		.id = id,
		.cluster = c->cluster_id,
		.read_only = c->read_only && c->protocol == PROTO_PBFT,
		.lease_reads = c->read_lease_ms > 0 && c->protocol == PROTO_VR,
		.timeout_ms = timeout_ms ? timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS,
		/* robust = on (issue 16): every request signed, also with auth = mac
		 * (Aardvark §4.2); the replicas refuse unsigned ones (auth_verify_client) */
		.sign_always = c->robust,
		/* and sent to every replica, which time its ordering (pbft_monitor.h): to
		 * the primary first, to all once unanswered for an adaptive time of at most
		 * half the ordering deadline (docs/PROTOCOL.md §11 rule 2) */
		.send_all = c->robust && c->protocol == PROTO_PBFT,
		.escalate_max_ms = c->robust ? config_robust_escalate_ms(c->robust_heartbeat_ms)
					     : 0,
		/* HotStuff's leader function (client_hotstuff_leaders) */
		.hotstuff_stable = c->hotstuff_stable != 0,
		.hotstuff_leaders = c->hotstuff_leaders != 0, /* hotstuff_client = leaders */
		.auth = &cl->auth,                            /* loaded before the first request */
	};
	client_core_init(&cl->core, &cc);
	buf_init(&cl->hello);
	*out = cl;
	return 0;
}

static int make_hello(struct bz_client *cl, char *err, size_t errlen)
{
	size_t off = wire_put_empty(&cl->hello, MSG_HELLO, cl->cluster, cl->id, 0, 0);

	if (cl->hello.err || auth_seal(&cl->auth, &cl->hello, off) != 0) {
		seterr(err, errlen, "cannot encode HELLO");
		return -1;
	}
	return 0;
}

/* A client; grp: its messages go through the group's shared connections (no
 * sockets of its own), else it opens one socket per replica. */
static int client_open_member(const struct config *c, uint32_t client_id, uint32_t timeout_ms,
			      struct client_group *grp, struct bz_client **out, char *err,
			      size_t errlen)
{
	struct bz_client *cl;
	char dir[CONFIG_PATH_MAX];
	uint32_t i;

	*out = NULL;
	if (crypto_setup() != 0) {
		seterr(err, errlen, "libsodium initialisation failed");
		return -1;
	}
	if (client_alloc(c, client_id, timeout_ms, &cl, err, errlen) != 0)
		return -1;
	if (auth_load(&cl->auth, (enum auth_mode)c->auth, c->keys, c->n, 0, 1, client_id, err,
		      errlen) != 0) {
		client_core_free(&cl->core);
		free(cl);
		return -1;
	}
	cl->auth.robust = c->robust; /* signed requests carry MACs too (auth_seal_signed) */
	cl->grp = grp;
	if (make_hello(cl, err, errlen) != 0)
		goto fail;
	for (i = 0; i < cl->n && !grp; i++)
		if (conn_open(&cl->conn[i], i, c->replica[i].client, 1, err, errlen) != 0)
			goto fail;
	client_ts_open(&cl->ts, client_state_dir(c, dir, sizeof(dir)) == 0 ? dir : NULL, client_id,
		       0);
	send_all(cl, &cl->hello); /* queued until each connection is up */
	*out = cl;
	return 0;
fail:
	client_close(cl);
	return -1;
}

int client_open(const struct config *c, uint32_t client_id, uint32_t timeout_ms,
		struct bz_client **out, char *err, size_t errlen)
{
	return client_open_member(c, client_id, timeout_ms, NULL, out, err, errlen);
}

void client_close(struct bz_client *cl)
{
	uint32_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (cl->conn[i].open)
			nng_close(cl->conn[i].sock); /* no pipe callbacks after this */
	auth_free(&cl->auth);
	client_core_free(&cl->core);
	buf_free(&cl->hello);
	free(cl);
}

void client_set_bad_mac(struct bz_client *cl, int on)
{
	cl->core.cfg.bad_mac = on != 0;
}

void client_set_ts_lease(struct bz_client *cl, uint64_t lease_us)
{
	cl->ts.lease_us = lease_us;
}

/* The core's counters, with ours (sends, drops, garbage) next to them. */
static void sync_stats(struct bz_client *cl)
{
	const struct client_core_stats *k = &cl->core.stats;

	cl->stats.requests = k->requests;
	cl->stats.retransmits = k->retransmits;
	cl->stats.escalations = k->escalations;
	cl->stats.replies = k->replies;
	cl->stats.stale = k->stale;
	cl->stats.timeouts = k->timeouts;
	cl->stats.readonly_retries = k->readonly_retries;
	cl->stats.signed_requests = k->signed_requests;
}

/* Carry out what the core asked for.  A new timestamp (read-only retry) is made
 * durable first, so a later process with our id starts above it. */
static void carry_out(struct bz_client *cl, const struct client_out *out)
{
	const struct buf *req = client_core_request(&cl->core);

	if (out->readonly_retry)
		client_ts_cover(&cl->ts, cl->core.ts);
	if (out->send_to == CLIENT_SEND_ALL)
		send_all_but(cl, req, out->skip);
	else if (out->send_to == CLIENT_SEND_SET)
		for (uint32_t r = 0; r < cl->n; r++) {
			if (out->send_set >> r & 1u)
				conn_send(cl, r, req);
		}
	else if (out->send_to < cl->n)
		conn_send(cl, out->send_to, req);
	sync_stats(cl);
}

int client_submit(struct bz_client *cl, const uint8_t *op, size_t op_len, uint8_t flags,
		  uint64_t now_us)
{
	struct client_out out;

	if (cl->core.state == CC_PENDING) {
		seterr(cl->err, sizeof(cl->err), "a request is already pending");
		return -1;
	}
	if (op_len > WIRE_MAX_OP) {
		seterr(cl->err, sizeof(cl->err), "operation of %zu bytes exceeds %u", op_len,
		       WIRE_MAX_OP);
		return -1;
	}
	send_rehellos(cl);
	uint64_t ts = client_ts_next(&cl->ts, client_realtime_us());
	if (client_core_submit(&cl->core, op, op_len, flags, ts, now_us, &out) != 0) {
		seterr(cl->err, sizeof(cl->err), "cannot encode the request");
		return -1;
	}
	carry_out(cl, &out);
	return 0;
}

/* A decoded reply through the core's edge (client_core_take_reply: the cheap filters,
 * then auth_verify, then the accept rule). */
static void handle_reply(struct bz_client *cl, const struct msg *m, uint64_t now_us)
{
	struct client_out out;

	if (client_core_take_reply(&cl->core, m, now_us, &out) != CLIENT_RX_OK) {
		cl->stats.bad++;
		return;
	}
	carry_out(cl, &out);
}

static void handle_msg(struct bz_client *cl, const uint8_t *p, size_t len, uint64_t now_us)
{
	struct client_out out;

	if (client_core_receive(&cl->core, p, len, now_us, &out) != CLIENT_RX_OK) {
		cl->stats.bad++;
		return;
	}
	carry_out(cl, &out);
}

/* One nng message: a plain reply or a bundle of them (replica/net.h). */
static void handle_frame(struct bz_client *cl, const uint8_t *p, size_t len, uint64_t now_us)
{
	struct net_frame fr;
	const uint8_t *e;
	size_t elen;

	net_frame_begin(&fr, p, len);
	while (net_frame_next(&fr, &e, &elen))
		handle_msg(cl, e, elen, now_us);
}

static void drain(struct bz_client *cl, uint32_t i, uint64_t now_us)
{
	nng_msg *m;
	int k;

	for (k = 0; k < CLIENT_DRAIN_MAX; k++) {
		if (nng_recvmsg(cl->conn[i].sock, &m, NNG_FLAG_NONBLOCK) != 0)
			return;
		handle_frame(cl, nng_msg_body(m), nng_msg_len(m), now_us);
		nng_msg_free(m);
	}
}

int client_on_readable(struct bz_client *cl, uint64_t now_us)
{
	uint32_t i;

	if (cl->grp)
		return cl->core.state; /* client_group_on_readable() reads for us */
	for (i = 0; i < cl->n; i++)
		drain(cl, i, now_us);
	return cl->core.state;
}

int client_on_tick(struct bz_client *cl, uint64_t now_us)
{
	struct client_out out;

	send_rehellos(cl);
	client_core_tick(&cl->core, now_us, &out);
	carry_out(cl, &out);
	return cl->core.state;
}

uint64_t client_next_deadline(const struct bz_client *cl)
{
	return client_core_next_tick(&cl->core);
}

size_t client_fds(const struct bz_client *cl, int *fds, size_t max)
{
	size_t i;

	for (i = 0; i < cl->n && i < max; i++)
		fds[i] = cl->grp ? cl->grp->conn[i].fd : cl->conn[i].fd;
	return i;
}

int client_state(const struct bz_client *cl)
{
	return cl->core.state;
}

const uint8_t *client_result(const struct bz_client *cl, size_t *len)
{
	return client_core_result(&cl->core, len);
}

uint64_t client_timestamp(const struct bz_client *cl)
{
	return cl->core.ts;
}

uint64_t client_view(const struct bz_client *cl)
{
	return cl->core.view;
}

uint32_t client_id(const struct bz_client *cl)
{
	return cl->id;
}

const struct client_stats *client_get_stats(const struct bz_client *cl)
{
	return &cl->stats;
}

void client_crypto_ops(const struct bz_client *cl, uint64_t *sig_ops, uint64_t *mac_ops)
{
	*sig_ops = cl->auth.sigs_made + cl->auth.sigs_verified;
	*mac_ops = cl->auth.macs_made + cl->auth.macs_verified;
}

const char *client_error(const struct bz_client *cl)
{
	return cl->err;
}

/* One round of waiting: poll our sockets until something arrives or a timer is due. */
static void wait_once(struct bz_client *cl)
{
	struct pollfd pfd[WIRE_MAX_REPLICAS];
	uint64_t now = client_mono_us(), due = client_next_deadline(cl);
	uint64_t wait_ms = due > now ? (due - now + 999) / 1000 : 0;
	uint32_t i;

	if (wait_ms > CLIENT_POLL_CAP_MS)
		wait_ms = CLIENT_POLL_CAP_MS;
	for (i = 0; i < cl->n; i++) {
		pfd[i].fd = cl->conn[i].fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	poll(pfd, cl->n, (int)wait_ms); /* EINTR: just go round again */
	now = client_mono_us();
	client_on_readable(cl, now);
	client_on_tick(cl, now);
}

int client_invoke(struct bz_client *cl, const uint8_t *op, size_t op_len, uint8_t flags,
		  struct buf *result)
{
	const uint8_t *res;
	size_t len;

	if (client_submit(cl, op, op_len, flags, client_mono_us()) != 0)
		return CLIENT_EXIT_FAILED;
	while (cl->core.state == CC_PENDING)
		wait_once(cl);
	if (cl->core.state != CC_DONE)
		return CLIENT_EXIT_NO_QUORUM;
	res = client_core_result(&cl->core, &len);
	buf_reset(result);
	buf_put(result, res, len);
	if (result->err) {
		seterr(cl->err, sizeof(cl->err), "out of memory");
		return CLIENT_EXIT_FAILED;
	}
	return CLIENT_EXIT_OK;
}

/* ---------------------------------------------------------------- groups */

static void group_flush_one(struct client_group *g, uint32_t i)
{
	struct buf *q = &g->q[i];
	const uint8_t *p = q->p;
	size_t len = q->len;
	nng_msg *m;

	if (g->qn[i] == 0)
		return;
	if (g->qn[i] == 1) { /* alone: plain */
		p += NET_BUNDLE_HDR + 4;
		len -= NET_BUNDLE_HDR + 4;
	} else {
		q->p[4] = (uint8_t)g->qn[i];
		q->p[5] = (uint8_t)(g->qn[i] >> 8);
		q->p[6] = (uint8_t)(g->qn[i] >> 16);
		q->p[7] = (uint8_t)(g->qn[i] >> 24);
	}
	if (!g->conn[i].open || nng_msg_alloc(&m, len) != 0) {
		g->st.send_drops += g->qn[i];
	} else {
		memcpy(nng_msg_body(m), p, len);
		if (nng_sendmsg(g->conn[i].sock, m, NNG_FLAG_NONBLOCK) != 0) {
			nng_msg_free(m);
			g->st.send_drops += g->qn[i];
		} else {
			g->st.frames_sent++;
		}
	}
	buf_reset(q);
	g->qn[i] = 0;
}

static void group_queue(struct client_group *g, uint32_t i, const uint8_t *p, size_t len)
{
	struct buf *q = &g->q[i];

	if (g->qn[i] > 0 && (g->qn[i] >= NET_BUNDLE_MAX || q->len + 4 + len > NET_BUNDLE_BYTES))
		group_flush_one(g, i);
	if (g->qn[i] == 0) {
		buf_put_u32(q, NET_BUNDLE_MAGIC);
		buf_put_u32(q, 0);
	}
	buf_put_u32(q, (uint32_t)len);
	buf_put(q, p, len);
	if (q->err) {
		g->st.send_drops++;
		buf_reset(q);
		g->qn[i] = 0;
		return;
	}
	g->qn[i]++;
}

void client_group_flush(struct client_group *g)
{
	uint32_t i, k;

	for (i = 0; i < g->n; i++) {
		/* A (re)connection: every member tells the replica its route again. */
		if (atomic_exchange(&g->conn[i].rehello, 0))
			for (k = 0; k < g->count; k++)
				group_queue(g, i, g->m[k]->hello.p, g->m[k]->hello.len);
		group_flush_one(g, i);
	}
}

/* Route one decoded reply to the member it names; members verify. */
static void group_dispatch(struct client_group *g, const uint8_t *p, size_t len, uint64_t now_us)
{
	struct msg m;

	g->st.msgs_recv++;
	if (wire_decode(p, len, g->cluster, &m) != WIRE_OK || m.h.type != MSG_REPLY ||
	    m.u.rep.client < g->first || m.u.rep.client - g->first >= g->count) {
		g->st.bad++;
		return;
	}
	handle_reply(g->m[m.u.rep.client - g->first], &m, now_us);
}

void client_group_on_readable(struct client_group *g, uint64_t now_us)
{
	struct net_frame fr;
	const uint8_t *e;
	size_t elen;
	nng_msg *m;
	uint32_t i;
	int k;

	for (i = 0; i < g->n; i++) {
		for (k = 0; k < CLIENT_DRAIN_MAX; k++) {
			if (!g->rq[i] || (m = net_rxq_pop(g->rq[i])) == NULL)
				break;
			g->st.frames_recv++;
			net_frame_begin(&fr, nng_msg_body(m), nng_msg_len(m));
			while (net_frame_next(&fr, &e, &elen))
				group_dispatch(g, e, elen, now_us);
			nng_msg_free(m);
		}
	}
}

int client_group_open(const struct config *c, uint32_t first_id, uint32_t count,
		      uint32_t timeout_ms, struct client_group **out, char *err, size_t errlen)
{
	struct client_group *g;
	uint32_t i, k;

	*out = NULL;
	if (count == 0 || (uint64_t)first_id + count > c->clients || c->n < 1 ||
	    c->n > WIRE_MAX_REPLICAS) {
		seterr(err, errlen, "%s: client ids %u..%u out of range (clients = %u)", c->path,
		       first_id, first_id + count - 1, c->clients);
		return -1;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->m = calloc(count, sizeof(*g->m))) == NULL) {
		free(g);
		seterr(err, errlen, "out of memory");
		return -1;
	}
	g->n = c->n;
	g->cluster = c->cluster_id;
	g->first = first_id;
	for (i = 0; i < WIRE_MAX_REPLICAS; i++)
		buf_init(&g->q[i]);
	for (k = 0; k < count; k++) {
		if (client_open_member(c, first_id + k, timeout_ms, g, &g->m[k], err, errlen) != 0)
			goto fail;
		g->count++;
	}
	for (i = 0; i < g->n; i++) {
		if (conn_open(&g->conn[i], i, c->replica[i].client, 0, err, errlen) != 0)
			goto fail;
		/* a bundle of replies per replica and turn: a few frames in flight */
		if ((g->rq[i] = net_rxq_open(g->conn[i].sock, CLIENT_GROUP_RING)) == NULL) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		g->conn[i].fd = net_rxq_fd(g->rq[i]);
	}
	client_group_flush(g); /* the members' HELLOs, queued until connected */
	*out = g;
	return 0;
fail:
	client_group_close(g);
	return -1;
}

void client_group_close(struct client_group *g)
{
	uint32_t i;

	if (g == NULL)
		return;
	for (i = 0; i < WIRE_MAX_REPLICAS; i++)
		net_rxq_stop(g->rq[i]);
	for (i = 0; i < WIRE_MAX_REPLICAS; i++) {
		if (g->conn[i].open)
			nng_close(g->conn[i].sock);
		net_rxq_free(g->rq[i]);
		buf_free(&g->q[i]);
	}
	for (i = 0; i < g->count; i++)
		client_close(g->m[i]);
	free(g->m);
	free(g);
}

struct bz_client *client_group_member(struct client_group *g, uint32_t i)
{
	return i < g->count ? g->m[i] : NULL;
}

size_t client_group_fds(const struct client_group *g, int *fds, size_t max)
{
	size_t i;

	for (i = 0; i < g->n && i < max; i++)
		fds[i] = g->conn[i].fd;
	return i;
}

const struct client_group_stats *client_group_get_stats(const struct client_group *g)
{
	return &g->st;
}

/* ---------------------------------------------------------------- status */

/* Status asks all replicas at once.  Each slot runs send -> receive as a chain of
 * nng callbacks (a REQ socket waits for its connection, so a down replica's send
 * only ends at the timeout and must not delay collecting the others' answers). */
struct status_run {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t pending; /* slots whose chain has not finished */
	uint64_t deadline_us;
};

enum { ST_IDLE, ST_SEND, ST_RECV, ST_DONE };

struct status_slot {
	nng_socket sock;
	nng_aio *aio;
	int open;
	int phase;
	nng_msg *answer;
	struct status_run *run;
};

static void status_finish(struct status_slot *s)
{
	pthread_mutex_lock(&s->run->mu);
	s->phase = ST_DONE;
	s->run->pending--;
	pthread_cond_signal(&s->run->cv);
	pthread_mutex_unlock(&s->run->mu);
}

static void status_cb(void *arg)
{
	struct status_slot *s = arg;
	uint64_t now = client_mono_us(), left_ms;
	int rv = nng_aio_result(s->aio);

	if (s->phase == ST_SEND && rv == 0) {
		left_ms = s->run->deadline_us > now ? (s->run->deadline_us - now + 999) / 1000 : 1;
		s->phase = ST_RECV;
		nng_aio_set_timeout(s->aio, (nng_duration)left_ms);
		nng_recv_aio(s->sock, s->aio);
		return;
	}
	if (s->phase == ST_SEND)
		nng_msg_free(nng_aio_get_msg(s->aio)); /* a failed send leaves it to us */
	else if (rv == 0)
		s->answer = nng_aio_get_msg(s->aio);
	status_finish(s);
}

/* Returns 0, or -1 if nng itself failed (the replica is then reported down). */
static int status_start(struct status_slot *s, const char *addr, const struct buf *req,
			uint32_t timeout_ms)
{
	nng_msg *m;

	if (nng_req0_open(&s->sock) != 0)
		return -1;
	s->open = 1;
	if (nng_aio_alloc(&s->aio, status_cb, s) != 0)
		return -1;
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, CLIENT_RECVMAXSZ);
	/* A bad or unreachable address only makes this replica "down". */
	if (nng_dial(s->sock, addr, NULL, NNG_FLAG_NONBLOCK) != 0)
		return 0;
	if (nng_msg_alloc(&m, req->len) != 0)
		return -1;
	memcpy(nng_msg_body(m), req->p, req->len);
	nng_aio_set_timeout(s->aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(s->aio, m);
	pthread_mutex_lock(&s->run->mu);
	s->run->pending++;
	s->phase = ST_SEND;
	pthread_mutex_unlock(&s->run->mu);
	nng_send_aio(s->sock, s->aio);
	return 0;
}

/* Print the replica's JSON on one line: control bytes become spaces, so a hostile or
 * broken replica cannot break the one-object-per-line format. */
static void status_print(FILE *out, uint32_t id, nng_msg *answer, uint32_t cluster)
{
	struct msg m;
	uint32_t i;

	if (answer == NULL ||
	    wire_decode(nng_msg_body(answer), nng_msg_len(answer), cluster, &m) != WIRE_OK ||
	    m.h.type != MSG_STATUS_RESP || m.u.text.len == 0) {
		fprintf(out, "{\"id\":%u,\"down\":true%s}\n", id,
			answer ? ",\"error\":\"bad status response\"" : "");
		return;
	}
	for (i = 0; i < m.u.text.len; i++) {
		uint8_t ch = m.u.text.text[i];

		fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, out);
	}
	fputc('\n', out);
}

int client_status(const struct config *c, uint32_t timeout_ms, FILE *out)
{
	struct status_slot s[WIRE_MAX_REPLICAS];
	struct status_run run = {.mu = PTHREAD_MUTEX_INITIALIZER,
				 .cv = PTHREAD_COND_INITIALIZER,
				 .pending = 0};
	struct buf req;
	uint32_t i, n = c->n > WIRE_MAX_REPLICAS ? WIRE_MAX_REPLICAS : c->n;
	int rc = 0;

	memset(s, 0, sizeof(s));
	run.deadline_us = client_mono_us() + (uint64_t)timeout_ms * 1000u;
	buf_init(&req);
	wire_put_empty(&req, MSG_STATUS_REQ, c->cluster_id, 0, 0, 0);
	for (i = 0; i < n; i++) {
		s[i].run = &run;
		if (req.err || status_start(&s[i], c->replica[i].admin, &req, timeout_ms) != 0)
			rc = -1;
	}
	/* Every chain ends: the send and the receive both carry a timeout. */
	pthread_mutex_lock(&run.mu);
	while (run.pending > 0)
		pthread_cond_wait(&run.cv, &run.mu);
	pthread_mutex_unlock(&run.mu);
	for (i = 0; i < n; i++)
		status_print(out, i, s[i].answer, c->cluster_id);
	for (i = 0; i < n; i++) {
		if (s[i].answer)
			nng_msg_free(s[i].answer);
		if (s[i].open)
			nng_close(s[i].sock);
		if (s[i].aio)
			nng_aio_free(s[i].aio);
	}
	buf_free(&req);
	fflush(out);
	return rc ? CLIENT_EXIT_FAILED : CLIENT_EXIT_OK;
}

/* The value of option argv[*i] ("--opt VALUE" or "--opt=VALUE"), or NULL.  A
 * missing value is "" (the caller reports it). */
const char *client_opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);
	const char *a = argv[*i];

	if (a == NULL || strncmp(a, name, len) != 0)
		return NULL;
	if (a[len] == '=')
		return a + len + 1;
	if (a[len] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}
