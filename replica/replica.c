/* replica.c - the event loop of byzlab-replica: bytes -> edge checks -> core ->
 * effects (persist, then send).  See replica.h. */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "replica/replica.h"
#include "replica/byz.h"
#include "replica/faults.h"
#include "replica/kv.h"
#include "replica/metrics.h"
#include "replica/store.h"
#include "replica/txlog.h"
#include "replica/wan.h"

#define DRAIN_MAX 64      /* messages per socket per loop turn (fairness) */
#define IDLE_WAIT_MS 1000 /* poll timeout when no timer is pending */

struct replica {
	const struct config *cfg;
	uint32_t id;
	const struct core_ops *ops;
	void *core;
	struct auth_ctx *auth;
	struct store *store;
	struct net *net;
	struct effects fx;
	uint64_t timer_ms; /* absolute deadline, 0 = none */
	uint64_t start_ms;
	struct replica_counters c;
	struct edge edge; /* decode -> edge rules -> verify (replica/edge.h), counting in c.edge */
	/* robust PBFT with auth = mac: requests a backup parked on a good MAC (park.h) */
	struct park park;
	int parking;
	struct buf released;     /* a parked request being released (edge_release) */
	struct core_status seen; /* last status, to log changes */
	char byz[REPLICA_BYZ_MAX];
	int has_byz;
	struct byz *liar;      /* --byz: the lying layer (byz.h), or NULL */
	struct effects lie;    /* the liar's effects of a step */
	struct faults *faults; /* network and clock faults (faults.h) */
	uint64_t recovered;    /* records fed to recover() */
	int txn_open;          /* a store transaction holds this turn's persists */
	int group_commit;      /* 0: commit after every step (group_commit = off) */
	struct buf out;        /* the STATUS_RESP being built */
	char json[WIRE_MAX_STATUS];
	struct watch *watch; /* metrics (issue 20), or NULL when cluster.ini has none */
	struct txlog tx;     /* the forensic transcript (issue 17, txlog.h) */
};

/* What the driver measures for the metrics page (replica/metrics.h): the snapshot it
 * publishes, with the histograms only the driver can fill - it sees a request arrive
 * and its reply leave, and a view change start and end. */
struct arrival {
	uint64_t timestamp; /* the client's request timestamp, 0 = a free slot */
	uint64_t at_us;     /* when it arrived */
};

/* Requests of one client this replica waits to answer.  A client waits for f+1
 * replies, so it may send its next request before this replica has answered the
 * last: a few slots per client keep both. */
#define WATCH_SLOTS 4

struct watch {
	struct metrics_server *server;
	struct metrics_snapshot snap;
	struct arrival *arrival; /* WATCH_SLOTS per client id (cfg->clients) */
	uint32_t n_clients;
	uint64_t vc_start_us;  /* the view change in progress started, 0: none */
	uint64_t published_ms; /* the last metrics_publish() */
};

/* ---- logging and time ---- */

static char log_prefix[64] = "byzlab-replica";

void rlog_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

void rlog(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char when[32], line[512];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03ldZ %s: %s\n", when, ts.tv_nsec / 1000000, log_prefix, line);
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Log the 1st, 2nd, 4th, 8th... occurrence only: a flood cannot flood the log. */
static int worth_logging(uint64_t count)
{
	return (count & (count - 1)) == 0;
}

/* Did the count pass 1, 2, 4, 8... on its way from `from` to `to`? */
static int crossed_power_of_two(uint64_t from, uint64_t to)
{
	uint64_t p = 1;
	while (p <= to / 2)
		p *= 2;
	return p > from;
}

/* ---- metrics (issue 20, replica/metrics.h) ----
 * Commit latency is measured where a request arrives from its client (the primary, or
 * a backup that got a retransmission) until that replica's reply to it leaves; the
 * view-change duration from view_changing set to a new view active.  The snapshot is
 * published to the HTTP threads at most every METRICS_PUBLISH_MS. */

static void watch_request(struct replica *r, const struct msg *m)
{
	struct watch *w = r->watch;
	if (!w || m->h.type != MSG_REQUEST || m->h.sender >= w->n_clients)
		return;
	struct arrival *a = &w->arrival[(size_t)m->h.sender * WATCH_SLOTS], *slot = a;
	for (int k = 0; k < WATCH_SLOTS; k++) {
		if (a[k].timestamp == m->u.req.timestamp)
			return; /* a retransmission: the first arrival counts */
		if (a[k].timestamp < slot->timestamp)
			slot = &a[k]; /* a free slot, else the oldest request */
	}
	if (!slot->timestamp)
		w->snap.pending_requests++;
	slot->timestamp = m->u.req.timestamp;
	slot->at_us = mono_us();
}

/* A message to client `client` leaves: if it is the reply to a pending request, that
 * request's latency is observed; older pending ones of that client are forgotten
 * (a client's requests execute in timestamp order: they were answered or skipped). */
static void watch_reply(struct replica *r, uint32_t client, const uint8_t *p, size_t len)
{
	struct watch *w = r->watch;
	struct msg m;
	if (!w || client >= w->n_clients)
		return;
	struct arrival *a = &w->arrival[(size_t)client * WATCH_SLOTS];
	int any = 0;
	for (int k = 0; k < WATCH_SLOTS; k++)
		any |= a[k].timestamp != 0;
	if (!any || wire_decode(p, len, r->cfg->cluster_id, &m) != WIRE_OK || m.h.type != MSG_REPLY)
		return;
	for (int k = 0; k < WATCH_SLOTS; k++) {
		if (!a[k].timestamp || a[k].timestamp > m.u.rep.timestamp)
			continue;
		if (a[k].timestamp == m.u.rep.timestamp)
			metrics_observe(&w->snap.hist[METRICS_COMMIT], METRICS_COMMIT,
					mono_us() - a[k].at_us);
		a[k].timestamp = 0;
		w->snap.pending_requests--;
	}
}

/* After a step: st is the core's status now, r->seen the one before. */
static void watch_view(struct replica *r, const struct core_status *st)
{
	struct watch *w = r->watch;
	if (!w)
		return;
	if (st->view_changing && !r->seen.view_changing && !w->vc_start_us)
		w->vc_start_us = mono_us();
	if (st->view_changing || (!r->seen.view_changing && st->view == r->seen.view))
		return;
	w->snap.view_changes++; /* a new view is active */
	if (w->vc_start_us)
		metrics_observe(&w->snap.hist[METRICS_VIEW_CHANGE], METRICS_VIEW_CHANGE,
				mono_us() - w->vc_start_us);
	w->vc_start_us = 0;
}

/* ---- effects: persist before you speak ----
 *
 * Group commit: the persists of every step of one loop turn go into one store
 * transaction, and the sends of the turn wait in net's queues (net_flush); at the end
 * of the turn (end_turn) the transaction commits - one fsync with sync = full - and
 * only then does anything leave.  So every message still leaves after what its step
 * persisted is durable (core.h, rule 2), at one commit per turn instead of one per
 * step (LMDB: 64 puts in one commit cost ~1.4x one put).
 *
 * net_flush() is the only way out for protocol messages and replies: net.c keeps a
 * full bundle, and the replies to any number of client connections, until then
 * (issue 14).  The other sends of this file:
 *   - release_delayed(): the faults layer's delayed messages were produced by steps of
 *     earlier turns, whose persists those turns committed; it queues them and ends a
 *     turn of its own (commit - nothing is pending - then flush);
 *   - answer_status(), answer_faults(): net_admin_reply() answers the admin socket at
 *     once, mid-turn.  A STATUS_RESP is not a protocol message: no replica or client
 *     acts on it as a vote or a result, so it may describe state not yet durable. */

static void store_failed(struct replica *r)
{
	/* Speaking now could contradict what we would recover after a crash. */
	rlog("FATAL: store write failed (%s): aborting", store_last_error(r->store));
	abort();
}

/* The turn's write transaction, opened if need be. */
static void open_txn(struct replica *r)
{
	if (r->txn_open)
		return;
	if (store_begin(r->store) != 0)
		store_failed(r);
	r->txn_open = 1;
}

static void persist_all(struct replica *r)
{
	const struct effects *fx = &r->fx;
	int rc = 0;
	open_txn(r);
	for (size_t i = 0; i < fx->n_persists && rc == 0; i++) {
		const struct persist *p = &fx->persists[i];
		switch (p->op) {
		case P_PUT:
			rc = store_put(r->store, p->kind, p->key, fx->arena.p + p->off, p->len);
			break;
		case P_DEL: rc = store_del(r->store, p->kind, p->key); break;
		case P_DEL_BELOW: rc = store_del_below(r->store, p->kind, p->key); break;
		default: rc = -1;
		}
	}
	if (rc == 0 && !r->group_commit) {
		r->txn_open = 0;
		rc = store_commit(r->store);
	}
	if (rc != 0)
		store_failed(r);
}

/* Issue 17 item 3 (txlog.h): what forensics needs of a message received or sent goes
 * into the transcript; its entries reach the store within TXLOG_FORCE_MS (end_turn). */
static void transcript_note(struct replica *r, const uint8_t *p, size_t len)
{
	if (txlog_on(&r->tx))
		txlog_note(&r->tx, p, len, mono_ms());
}

/* The messages this step sends to replicas (the liar's, with --byz: what leaves). */
static void transcript_sent(struct replica *r)
{
	const struct effects *fx = &r->fx;
	for (size_t i = 0; i < fx->n_sends && txlog_on(&r->tx); i++)
		if (fx->sends[i].to != TO_CLIENT)
			transcript_note(r, fx->arena.p + fx->sends[i].off, fx->sends[i].len);
}

/* End of a loop turn: make the turn's persists durable, then let its sends go.  The
 * transcript's waiting entries ride on the turn's transaction once they waited
 * TXLOG_FLUSH_MS, not on every turn's; only if no turn had one by TXLOG_FORCE_MS do
 * they get one of their own (txlog.h): one more commit, one more fsync. */
static void end_turn(struct replica *r)
{
	uint64_t due = txlog_due(&r->tx), now = due ? mono_ms() : 0;
	if (due && (now >= due || (r->txn_open && txlog_ready(&r->tx, now)))) {
		open_txn(r);
		if (txlog_flush(&r->tx, r->store) != 0)
			store_failed(r);
	}
	if (r->txn_open) {
		r->txn_open = 0;
		if (store_commit(r->store) != 0) {
			rlog("FATAL: store commit failed (%s): aborting",
			     store_last_error(r->store));
			abort();
		}
	}
	net_flush(r->net);
}

/* ---- lies and network faults (issue 5) ----
 * A step's effects pass the lying layer (with --byz: same persists, lying sends);
 * every message to a replica then passes the faults layer (dropped, delayed,
 * duplicated, ...); the core reads the faults layer's clock (clock_rate). */

static void net_send_cb(void *arg, uint32_t to, const uint8_t *p, size_t len)
{
	net_send_replica(arg, to, p, len);
}

static void send_replica(struct replica *r, uint32_t to, const uint8_t *p, size_t len)
{
	faults_send(r->faults, to, p, len, mono_us(), net_send_cb, r->net);
}

/* A reply to a client: with the WAN model's region.client it waits its one-way
 * latency in the faults layer (faults.h), behind the client-plane messages held. */
static void send_client(struct replica *r, uint32_t client, const uint8_t *p, size_t len)
{
	if (!faults_client_modelled(r->faults) ||
	    (!faults_client_pending(r->faults) && faults_client_delay_us(r->faults) == 0)) {
		net_send_client(r->net, client, p, len);
		return;
	}
	faults_client_hold(r->faults, 0, client, p, len, mono_us());
}

static void on_client_message(struct replica *r, const struct net_rx *rx);

/* Client-plane messages the WAN model held and that are now due (now: us). */
static void release_client_plane(struct replica *r, uint64_t now_us)
{
	struct faults_cmsg m;
	while (faults_client_next(r->faults, now_us, &m)) {
		if (m.in) {
			struct net_rx rx = {.data = m.p, .len = m.len, .pipe = m.id, .msg = NULL};
			on_client_message(r, &rx);
		} else {
			net_send_client(r->net, m.id, m.p, m.len);
		}
		free(m.p);
	}
}

/* Send what the faults layer held and is now due (now: us); then let it leave. */
static void release_delayed(struct replica *r, uint64_t now_us)
{
	uint64_t due = faults_next_due_us(r->faults);
	if (!due || due > now_us)
		return;
	faults_release(r->faults, now_us, net_send_cb, r->net);
	release_client_plane(r, now_us);
	end_turn(r);
}

static uint64_t core_now(const struct replica *r)
{
	return faults_core_ms(r->faults, mono_ms());
}

/* With --byz the step's effects become the liar's (a failed filter fails the step). */
static void lie(struct replica *r, uint64_t now)
{
	if (!r->liar)
		return;
	byz_filter(r->liar, r->auth, &r->fx, now, &r->lie);
	struct effects honest = r->fx;
	r->fx = r->lie;
	r->lie = honest;
}

static int open_layers(struct replica *r, const char *byz, char *err, size_t errlen)
{
	char why[512];
	uint64_t seed = mono_ms() ^ ((uint64_t)getpid() << 20) ^ ((uint64_t)r->id << 48);
	r->faults = calloc(1, sizeof(*r->faults));
	if (!r->faults || faults_init(r->faults, r->cfg->n, r->id, seed, mono_ms()) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (faults_set(r->faults, r->cfg->faults, mono_ms(), why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%.300s: [faults]: %.400s", r->cfg->path, why);
		return -1;
	}
	faults_set_wan(r->faults, &r->cfg->wan);
	/* Sub-ms WAN links (one-datacenter: 250 us): the loop's ppoll must wake at a held
	 * message's due time, not up to the default 50 us of timer slack after it. */
	if (wan_enabled(&r->cfg->wan) && prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) != 0)
		rlog("prctl(PR_SET_TIMERSLACK): %s (WAN holds may wake up to 50 us late)",
		     strerror(errno));
	if (!byz)
		return 0;
	struct byz_cfg bc;
	if (byz_parse(byz, &bc, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--byz %.64s: %.400s", byz, why);
		return -1;
	}
	r->liar = calloc(1, sizeof(*r->liar));
	if (!r->liar || byz_init(r->liar, &bc, r->cfg->n, r->id, r->cfg->cluster_id,
				 seed * 0x9e3779b97f4a7c15ull) != 0) {
		snprintf(err, errlen, "--byz %.64s: does not fit a cluster of %u", byz, r->cfg->n);
		return -1;
	}
	return 0;
}

static void close_layers(struct replica *r)
{
	if (r->liar)
		byz_free(r->liar);
	free(r->liar);
	if (r->faults)
		faults_free(r->faults);
	free(r->faults);
	effects_free(&r->lie);
}

/* A REPLY leaving for a client: its request executed, so a parked copy of it (or of
 * an older one) is dropped unverified (park.h). */
static void note_answered(struct replica *r, const uint8_t *p, size_t len)
{
	if (r->parking && len >= WIRE_HDR_LEN + 12 && p[WIRE_OFF_TYPE] == MSG_REPLY)
		park_answered(&r->park, get_u32(p + WIRE_HDR_LEN), get_u64(p + WIRE_HDR_LEN + 4));
}

/* faults.h pause_before_reply=MS: the core answered a read from its lease; the whole
 * replica stops here, before the reply leaves, as a process pause would stop it
 * (nothing is received, no timer fires).  Deterministic: exactly at this point. */
static void pause_before_reply(struct replica *r)
{
	uint32_t ms = r->faults->cfg.pause_before_reply_ms;
	if (!ms)
		return;
	r->faults->st.paused++;
	rlog("pause_before_reply: paused %u ms between the lease check and the reply", ms);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	/* Awake, the zombie may look at its clock again (it does not, before replying):
	 * count the replies that leave after the lease they were answered from ended. */
	struct core_status cs;
	memset(&cs, 0, sizeof(cs));
	r->ops->status(r->core, &cs);
	if (core_now(r) >= cs.lease_until_ms)
		r->faults->st.late_replies++;
}

static void send_all(struct replica *r)
{
	const struct effects *fx = &r->fx;
	for (size_t i = 0; i < fx->n_sends; i++) {
		const struct send *s = &fx->sends[i];
		const uint8_t *p = fx->arena.p + s->off;
		if (s->to == TO_OTHERS) {
			for (uint32_t j = 0; j < r->cfg->n; j++)
				if (j != r->id)
					send_replica(r, j, p, s->len);
		} else if (s->to == TO_CLIENT) {
			if (s->lease_read)
				pause_before_reply(r);
			note_answered(r, p, s->len);
			watch_reply(r, s->client, p, s->len);
			send_client(r, s->client, p, s->len);
		} else if (s->to >= 0 && (uint32_t)s->to < r->cfg->n) {
			send_replica(r, (uint32_t)s->to, p, s->len); /* self: ignored */
		}
	}
}

static void carry_out(struct replica *r)
{
	if (effects_failed(&r->fx)) {
		/* Never apply half a step: better a crash (recovered from the log). */
		rlog("FATAL: core effects overflowed: aborting");
		abort();
	}
	if (r->fx.n_persists)
		persist_all(r);
	transcript_sent(r);
	uint64_t drops = net_stats(r->net)->send_drops;
	send_all(r);
	uint64_t now_drops = net_stats(r->net)->send_drops;
	if (now_drops > drops && crossed_power_of_two(drops, now_drops))
		rlog("send queue full or send failed: %llu messages dropped so far",
		     (unsigned long long)now_drops);
	r->timer_ms = r->fx.timer_ms; /* core.h: each step states its deadline; 0 = none */
}

/* A new stable checkpoint: the transcript keeps the slots of the last K. */
static void transcript_checkpoint(struct replica *r, uint64_t low)
{
	open_txn(r);
	if (txlog_checkpoint(&r->tx, r->store, low) != 0)
		store_failed(r);
}

static void note_changes(struct replica *r)
{
	struct core_status st;
	memset(&st, 0, sizeof(st));
	r->ops->status(r->core, &st);
	if (st.view != r->seen.view || st.view_changing != r->seen.view_changing)
		rlog("view %llu%s, primary %u", (unsigned long long)st.view,
		     st.view_changing ? " (changing)" : "", st.primary);
	if (st.fetching != r->seen.fetching && st.fetching)
		rlog("fetching the state of checkpoint %llu (last executed %llu)",
		     (unsigned long long)st.fetching, (unsigned long long)st.last_executed);
	if (st.stable_checkpoint != r->seen.stable_checkpoint) {
		rlog("stable checkpoint %llu", (unsigned long long)st.stable_checkpoint);
		transcript_checkpoint(r, st.stable_checkpoint);
	}
	watch_view(r, &st);
	/* robust: a parked request is released (and blames the primary) at the core's
	 * ordering deadline, relative to the best recent primary (pbft_monitor.h) */
	if (r->parking && st.robust_order_deadline_ms)
		r->park.delay_ms = (uint32_t)st.robust_order_deadline_ms;
	r->seen = st;
	/* park only as a backup in a view: a primary checks every signature it orders */
	r->edge.park_now = r->parking && st.primary != r->id && !st.view_changing;
}

static void step_event(struct replica *r, const struct event *ev)
{
	effects_reset(&r->fx);
	r->ops->step(r->core, ev, &r->fx);
	lie(r, ev->now_ms);
	carry_out(r);
	note_changes(r);
}

/* relayed_ms: a released parked request, relayed to the primary then (core.h). */
static void step_relayed(struct replica *r, enum ev_kind kind, const struct msg *m,
			 uint64_t relayed_ms)
{
	struct event ev = {.kind = kind, .now_ms = core_now(r), .m = m, .relayed_ms = relayed_ms};
	step_event(r, &ev);
}

/* Robust: a request parked and relayed to the primary now.  The core does not see it
 * (unverified), but measures its relay -> PRE-PREPARE for the relative ordering
 * deadline (core.h parked_ts). */
static void step_parked(struct replica *r, const struct msg *m)
{
	struct event ev = {.kind = EV_TICK,
			   .now_ms = core_now(r),
			   .parked_client = m->h.sender,
			   .parked_ts = m->u.req.timestamp};
	step_event(r, &ev);
}

static void step(struct replica *r, enum ev_kind kind, const struct msg *m)
{
	step_relayed(r, kind, m, 0);
}

/* ---- status ---- */

/* The status document's inputs (extra: none; answer_status adds its own). */
static void status_of(struct replica *r, struct core_status *cs, struct status_input *in)
{
	memset(cs, 0, sizeof(*cs));
	r->ops->status(r->core, cs);
	*in = (struct status_input){.id = r->id,
				    .n = r->cfg->n,
				    .f = r->cfg->f,
				    .cs = cs,
				    .c = &r->c,
				    .net = net_stats(r->net),
				    .auth = r->auth,
				    .byz = r->has_byz ? r->byz : NULL,
				    .pid = (long)getpid(),
				    .uptime_ms = mono_ms() - r->start_ms};
}

/* Hand the HTTP threads a fresh snapshot, at most every METRICS_PUBLISH_MS. */
static void watch_publish(struct replica *r, uint64_t now)
{
	struct watch *w = r->watch;
	struct core_status cs;
	struct status_input in;
	if (!w || now - w->published_ms < METRICS_PUBLISH_MS)
		return;
	status_of(r, &cs, &in);
	metrics_fill(&w->snap, &in);
	metrics_publish(w->server, &w->snap);
	w->published_ms = now;
}

static void answer_status(struct replica *r)
{
	struct core_status cs;
	struct status_input in;
	char extra[2048];
	(void)auth_bans_active(r->auth, mono_ms()); /* blacklisted_clients: expired ones go */
	status_of(r, &cs, &in);
	int k = faults_json(r->faults, extra, sizeof(extra));
	if (k < 0)
		k = snprintf(extra, sizeof(extra), "\"faults\":null");
	k += snprintf(extra + k, sizeof(extra) - (size_t)k, ",\"clock_ms\":%llu",
		      (unsigned long long)core_now(r)); /* the core's clock (clock_rate) */
	if (r->liar && (size_t)k < sizeof(extra))
		k += snprintf(extra + k, sizeof(extra) - (size_t)k, ",\"lies\":%llu",
			      (unsigned long long)r->liar->lies);
	if (r->parking && (size_t)k < sizeof(extra))
		k += snprintf(extra + k, sizeof(extra) - (size_t)k,
			      ",\"park\":{\"parked\":%llu,\"answered\":%llu,\"released\":%llu,"
			      "\"replaced\":%llu,\"held\":%u}",
			      (unsigned long long)r->park.parked,
			      (unsigned long long)r->park.answered,
			      (unsigned long long)r->park.released,
			      (unsigned long long)r->park.replaced, r->park.in_use);
	if ((size_t)k < sizeof(extra))
		k += snprintf(extra + k, sizeof(extra) - (size_t)k,
			      ",\"hybrid_bad_mac\":%llu,\"sig_cache_hits\":%llu",
			      (unsigned long long)r->auth->hybrid_bad_mac,
			      (unsigned long long)r->auth->sig_cache_hits);
	if (r->cfg->protocol == PROTO_PBFT && (size_t)k < sizeof(extra))
		k += txlog_json(&r->tx, extra + k, sizeof(extra) - (size_t)k);
	if (r->liar && r->liar->cfg.kind == BYZ_SLOW_PRIMARY && (size_t)k < sizeof(extra))
		snprintf(extra + k, sizeof(extra) - (size_t)k, ",\"byz_delay_ms\":%u",
			 r->liar->cfg.arg ? r->liar->cfg.arg : r->liar->delay_ms); /* issue 16 */
	in.extra = extra;
	int len = status_json(&in, r->json, sizeof(r->json));
	if (len < 0) {
		rlog("status document too long");
		return;
	}
	buf_reset(&r->out);
	wire_put_text(&r->out, MSG_STATUS_RESP, r->cfg->cluster_id, r->id, r->json, (uint32_t)len);
	if (r->out.err || net_admin_reply(r->net, r->out.p, r->out.len) != 0)
		rlog("cannot answer a status request");
}

/* ADMIN_FAULTS "k=v;k=v": replace this replica's faults.  Answered with the status
 * (which shows them), or {"id":I,"error":"..."} (nothing changed). */
static void answer_faults(struct replica *r, const struct msg *m)
{
	char spec[WIRE_MAX_ADMIN + 1], why[512];
	memcpy(spec, m->u.text.text, m->u.text.len);
	spec[m->u.text.len] = 0;
	if (strlen(spec) == m->u.text.len &&
	    faults_set(r->faults, spec, mono_ms(), why, sizeof(why)) == 0) {
		rlog("faults set by the admin address: %s", r->faults->spec);
		answer_status(r);
		return;
	}
	if (strlen(spec) != m->u.text.len)
		snprintf(why, sizeof(why), "a NUL byte in the specification");
	for (char *c = why; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '\'';
	int len = snprintf(r->json, sizeof(r->json), "{\"id\":%u,\"error\":\"%s\"}", r->id, why);
	buf_reset(&r->out);
	wire_put_text(&r->out, MSG_STATUS_RESP, r->cfg->cluster_id, r->id, r->json, (uint32_t)len);
	if (r->out.err || net_admin_reply(r->net, r->out.p, r->out.len) != 0)
		rlog("cannot answer a faults request");
}

/* ---- receiving ---- */

/* Log the 1st, 2nd, 4th... reject of each kind (edge_receive counted it). */
static void log_reject(const struct replica *r, enum edge_verdict v, enum net_sock sock,
		       const struct msg *m)
{
	static const char *names[NET_NSOCK] = {"peer", "client", "admin"};
	const struct edge_counters *c = &r->c.edge;
	uint64_t count = v == EDGE_BAD_AUTH ? c->bad_auth : c->bad_format;
	if (v == EDGE_UNHEARD || v == EDGE_REFUSED_CLIENT || !worth_logging(count))
		return;
	if (v == EDGE_BAD_FORMAT)
		rlog("rejected message on %s socket: %s (%llu so far)", names[sock],
		     wire_strerror(r->edge.last_wire_err), (unsigned long long)count);
	else
		rlog("rejected %s on %s socket: %s (%llu so far)", wire_type_name(m->h.type),
		     names[sock],
		     v == EDGE_BAD_AUTH ? "authentication" : "type or sender not allowed here",
		     (unsigned long long)count);
}

static void on_message(struct replica *r, enum net_sock sock, const struct net_rx *rx);

/* A client-plane message after the WAN model's hold (faults.h): counted, judged by the
 * edge and stepped as if it had just arrived. */
static void on_client_message(struct replica *r, const struct net_rx *rx)
{
	on_message(r, NET_CLIENT, rx);
}

static void on_message(struct replica *r, enum net_sock sock, const struct net_rx *rx)
{
	struct msg m;
	if (sock != NET_ADMIN) {
		r->c.msgs_recv++;
		r->c.bytes_recv += rx->len;
	}
	/* robust mode's ban table keys a client by its connection (rx->pipe) */
	enum edge_verdict v = edge_receive(&r->edge, sock, sock == NET_CLIENT ? rx->pipe : 0,
					   r->cfg->robust ? mono_ms() : 0, rx->data, rx->len, &m);
	if (v == EDGE_PARKED && r->edge.relay) {
		/* robust: the backup relays a request its client escalated to the primary
		 * at once, unverified (park.h); released later, it is judged from here */
		send_replica(r, r->seen.primary, rx->data, rx->len);
		step_parked(r, &m);
		return;
	}
	if (v != EDGE_OK) {
		log_reject(r, v, sock, &m);
		return;
	}
	if (sock == NET_ADMIN) {
		if (m.h.type == MSG_ADMIN_FAULTS)
			answer_faults(r, &m);
		else
			answer_status(r);
		return;
	}
	if (sock == NET_CLIENT) {
		net_set_route(r->net, m.h.sender, rx->pipe);
		if (m.h.type == MSG_HELLO)
			return;
		watch_request(r, &m);
	}
	if (sock == NET_PEER)
		transcript_note(r, rx->data, rx->len); /* as received, after the edge */
	if (r->liar)
		byz_observe(r->liar, &m); /* hs-fork collects the votes it is sent */
	step(r, EV_MSG, &m);
}

/* Robust mode: parked requests not answered in time get their signature checked and
 * go to the core now (park.h). */
static void release_parked(struct replica *r, uint64_t now)
{
	struct msg m;
	enum edge_verdict v;
	if (!r->parking)
		return;
	int any = 0;
	uint64_t relayed_mono;
	while ((v = edge_release(&r->edge, now, &r->released, &m, &relayed_mono)) !=
	       EDGE_NVERDICTS) {
		any = 1;
		/* the core's clock may run at the faults layer's rate: the relay's age, in it */
		uint64_t age = now > relayed_mono ? now - relayed_mono : 0, cnow = core_now(r);
		if (v == EDGE_OK)
			step_relayed(r, EV_MSG, &m, cnow > age ? cnow - age : 1);
		else
			log_reject(r, v, NET_CLIENT, &m);
	}
	if (any)
		end_turn(r);
}

static int drain(struct replica *r, enum net_sock sock)
{
	for (int i = 0; i < DRAIN_MAX; i++) {
		struct net_rx rx;
		int rc = net_recv(r->net, sock, &rx);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return -1;
		if (sock == NET_CLIENT && faults_client_modelled(r->faults))
			faults_client_hold(r->faults, 1, rx.pipe, rx.data, rx.len, mono_us());
		else
			on_message(r, sock, &rx);
		net_rx_free(&rx);
	}
	return 0;
}

/* ---- life cycle ---- */

static int recover_one(void *arg, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct replica *r = arg;
	r->recovered++;
	if (kind == TRANSCRIPT_REC) /* the driver's, not the core's (txlog.h) */
		return txlog_restore(&r->tx, key, val, len);
	return r->ops->recover(r->core, kind, key, val, len) != 0 ? -1 : 0;
}

/* Robust PBFT with auth = mac: backups park the requests clients send them (park.h),
 * relay them to the primary unverified at once, and check a signature only when the
 * request is still unanswered at the ordering deadline D (config_robust_park_ms): the
 * core gets it then, its watch counted from the relay (event relayed_ms). */
static uint32_t park_delay_ms(const struct config *cfg)
{
	if (!cfg->robust || cfg->auth != AUTH_MODE_MAC || cfg->protocol != PROTO_PBFT)
		return 0;
	return config_robust_park_ms(cfg->robust_heartbeat_ms);
}

static int park_open(struct replica *r, char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	uint32_t delay = park_delay_ms(cfg);
	if (!delay)
		return 0;
	if (park_init(&r->park, cfg->clients, delay) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->parking = 1;
	r->edge.park = &r->park;
	return 0;
}

static int open_store(struct replica *r, char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX + 32];
	int w = snprintf(dir, sizeof(dir), "%s/%u", r->cfg->data, r->id);
	if (w < 0 || (size_t)w >= sizeof(dir)) {
		snprintf(err, errlen, "data directory path too long");
		return -1;
	}
	return store_open(dir, r->cfg->sync_full, 0, &r->store, err, errlen);
}

static int create_core(struct replica *r, char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	struct core_config cc = {
		.protocol = cfg->protocol,
		.n = cfg->n,
		.f = cfg->f,
		.id = r->id,
		.cluster_id = cfg->cluster_id,
		.batch_max = cfg->batch_max,
		.window = cfg->window,
		.checkpoint_interval = cfg->checkpoint_interval,
		.view_timeout_ms = cfg->view_timeout_ms,
		.max_clients = cfg->clients,
		.kv_max_bytes = KV_DEFAULT_MAX_BYTES,
		.auth = r->auth,
		.read_only = cfg->read_only,
		.digest_replies = cfg->digest_replies,
		.plant_bugs = 0,
		.robust = cfg->robust, /* issue 16: pbft only */
		.robust_ratio_permille = cfg->robust_ratio_permille,
		.robust_heartbeat_ms = cfg->robust_heartbeat_ms,
		.hotstuff_stable = cfg->hotstuff_stable,
		.hotstuff_round_robin = cfg->hotstuff_round_robin,
		.read_lease_ms = cfg->protocol == PROTO_VR ? cfg->read_lease_ms : 0,
		.evidence_off = !cfg->evidence, /* issue 17: pbft only */
	};
	r->core = r->ops->create(&cc);
	if (!r->core) {
		snprintf(err, errlen, "cannot create the %s core", r->ops->name);
		return -1;
	}
	if (store_iterate(r->store, recover_one, r) != 0) {
		snprintf(err, errlen, "%s/%u: stored record %llu could not be recovered", cfg->data,
			 r->id, (unsigned long long)r->recovered);
		return -1;
	}
	return 0;
}

/* cluster.ini's metrics key: serve /metrics (metrics_http.c); none: no watch at all. */
static int watch_open(struct replica *r, char *err, size_t errlen)
{
	const char *addr = r->cfg->replica[r->id].metrics;
	if (!addr[0])
		return 0;
	size_t slots = (size_t)(r->cfg->clients ? r->cfg->clients : 1) * WATCH_SLOTS;
	struct watch *w = calloc(1, sizeof(*w));
	if (!w || !(w->arrival = calloc(slots, sizeof(*w->arrival)))) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->n_clients = r->cfg->clients;
	r->watch = w;
	return metrics_start(&w->server, addr, err, errlen);
}

static void watch_close(struct replica *r)
{
	if (!r->watch)
		return;
	metrics_stop(r->watch->server);
	free(r->watch->arrival);
	free(r->watch);
	r->watch = NULL;
}

/* The edge's hears() filter: partitions and one-way cuts of the fault layer. */
static int hears_peer(void *ctx, uint32_t sender)
{
	const struct replica *r = ctx;
	return faults_hears(r->faults, sender);
}

int replica_open(struct replica **out, const struct config *cfg, uint32_t id,
		 const struct core_ops *ops, struct auth_ctx *auth, const char *byz, char *err,
		 size_t errlen)
{
	*out = NULL;
	struct replica *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->cfg = cfg;
	r->id = id;
	r->ops = ops;
	r->auth = auth;
	/* the edge checks a message's shape against these before any signature */
	auth->window = cfg->window;
	auth->batch_max = cfg->batch_max;
	auth->robust = cfg->robust; /* issue 16: signed client requests (auth_verify_client) */
	r->edge = (struct edge){.cluster_id = cfg->cluster_id,
				.n = cfg->n,
				.self = id,
				.max_clients = cfg->clients,
				.auth = auth,
				.hears = hears_peer,
				.hears_ctx = r,
				.count = &r->c.edge};
	buf_init(&r->released);
	/* issue 17 item 3: PBFT's signed statements only (forensics.h) */
	txlog_init(&r->tx, cfg->cluster_id, cfg->protocol == PROTO_PBFT ? cfg->forensics_k : 0,
		   cfg->checkpoint_interval);
	r->start_ms = mono_ms();
	/* group_commit = off: one commit per step, to measure what grouping saves
	 * (docs/EXPERIMENTS.md). */
	r->group_commit = cfg->group_commit;
	const struct net_opts nopts = {.coalesce = cfg->coalesce,
				       .rx_aio = cfg->rx_aio,
				       .vc_budget = cfg->robust};
	effects_init(&r->fx);
	effects_init(&r->lie);
	buf_init(&r->out);
	if (byz) {
		snprintf(r->byz, sizeof(r->byz), "%s", byz);
		r->has_byz = 1;
	}
	if (open_layers(r, byz, err, errlen) || park_open(r, err, errlen) ||
	    open_store(r, err, errlen) || create_core(r, err, errlen) ||
	    net_open(&r->net, cfg, id, cfg->clients, &nopts, err, errlen) ||
	    watch_open(r, err, errlen)) {
		replica_close(r);
		return -1;
	}
	rlog("%s replica %u of %u: recovered %llu records; listening on %s, %s, %s", ops->name, id,
	     cfg->n, (unsigned long long)r->recovered, cfg->replica[id].peer,
	     cfg->replica[id].client, cfg->replica[id].admin);
	if (r->liar)
		rlog("LYING: --byz %s (replica/byz.h)", byz);
	if (r->watch)
		rlog("metrics: http://%s/metrics", cfg->replica[id].metrics + strlen("tcp://"));
	if (strcmp(r->faults->spec, "none") != 0)
		rlog("faults: %s", r->faults->spec);
	if (!cfg->group_commit || !cfg->coalesce || !cfg->rx_aio)
		rlog("optimizations off (cluster.ini, to measure them): group_commit %s, "
		     "coalesce %s, rx_aio %s",
		     cfg->group_commit ? "on" : "off", cfg->coalesce ? "on" : "off",
		     cfg->rx_aio ? "on" : "off");
	if (cfg->protocol == PROTO_PBFT && !cfg->evidence)
		rlog("evidence = off (cluster.ini, to measure it): no proofs kept, sent or acted "
		     "upon");
	else if (cfg->protocol == PROTO_PBFT && cfg->auth == AUTH_MODE_MAC)
		rlog("evidence: signed PRE-PREPAREs and PREPAREs yield proofs, sent to the "
		     "others; MACed COMMITs only suspicions, kept here (MACs are not "
		     "transferable)");
	ops->status(r->core, &r->seen);
	step(r, EV_START, NULL);
	transcript_checkpoint(r, r->seen.stable_checkpoint);
	end_turn(r);
	rlog("started: last executed %llu, stable checkpoint %llu",
	     (unsigned long long)r->seen.last_executed,
	     (unsigned long long)r->seen.stable_checkpoint);
	*out = r;
	return 0;
}

void replica_close(struct replica *r)
{
	if (!r)
		return;
	watch_close(r);    /* its HTTP threads read only their own copy */
	net_close(r->net); /* first: no callbacks into a dead core */
	if (r->core)
		r->ops->destroy(r->core);
	if (r->store && txlog_due(&r->tx)) { /* a clean stop keeps the whole transcript */
		open_txn(r);
		if (txlog_flush(&r->tx, r->store) != 0 || store_commit(r->store) != 0)
			rlog("could not store the transcript's last entries");
		r->txn_open = 0;
	}
	if (r->store)
		store_close(r->store);
	effects_free(&r->fx);
	txlog_free(&r->tx);
	close_layers(r);
	buf_free(&r->out);
	buf_free(&r->released);
	if (r->parking)
		park_free(&r->park);
	free(r);
}

/* d, or the time from now_us to due if that is sooner; due 0: none. */
static uint64_t sooner(uint64_t d, uint64_t due, uint64_t now_us)
{
	if (!due)
		return d;
	uint64_t left = due <= now_us ? 0 : due - now_us;
	return left < d ? left : d;
}

/* Until the core's deadline (in its clock: faults.h clock_rate), the next delayed
 * message, the next parked one or the transcript's next commit, whichever comes first,
 * in us: the faults layer's held messages are due to the microsecond (a 0.25 ms WAN
 * link waits 250 us, not a whole ms), the core's timers in whole ms. */
static uint64_t wait_us(const struct replica *r, uint64_t now_us)
{
	uint64_t now = now_us / 1000, core = faults_core_ms(r->faults, now);
	uint64_t d = (uint64_t)IDLE_WAIT_MS * 1000;
	if (r->timer_ms)
		d = r->timer_ms <= core
			    ? 0
			    : faults_real_wait_ms(r->faults, r->timer_ms - core) * 1000 -
				      now_us % 1000;
	d = sooner(d, faults_next_due_us(r->faults), now_us);
	if (r->parking)
		d = sooner(d, park_deadline(&r->park) * 1000, now_us);
	d = sooner(d, txlog_due(&r->tx) * 1000, now_us); /* entries waiting for a commit */
	if (r->watch && d > (uint64_t)METRICS_PUBLISH_MS * 1000)
		d = (uint64_t)METRICS_PUBLISH_MS *
		    1000; /* an idle replica's page stays fresh too */
	return d > (uint64_t)IDLE_WAIT_MS * 1000 ? (uint64_t)IDLE_WAIT_MS * 1000 : d;
}

int replica_run(struct replica *r, volatile sig_atomic_t *stop, const sigset_t *waitmask)
{
	struct pollfd pfd[NET_NSOCK];
	for (int k = 0; k < NET_NSOCK; k++) {
		pfd[k].fd = net_recv_fd(r->net, (enum net_sock)k);
		pfd[k].events = POLLIN;
		if (pfd[k].fd < 0) {
			rlog("cannot get the receive descriptor of socket %d", k);
			return -1;
		}
	}
	while (!*stop) {
		uint64_t now_us = mono_us(), now = now_us / 1000;
		watch_publish(r, now);
		if (txlog_due(&r->tx) && now >= txlog_due(&r->tx))
			end_turn(r); /* nothing else committed them in time */
		release_delayed(r, now_us);
		release_parked(r, now);
		if (r->timer_ms && faults_core_ms(r->faults, now) >= r->timer_ms) {
			r->timer_ms = 0;
			step(r, EV_TICK, NULL);
			end_turn(r);
			continue;
		}
		/* A bundle only partly read (drain stops at DRAIN_MAX) does not make the
		 * descriptor readable again: do not sleep on it. */
		int held = 0;
		for (int k = 0; k < NET_NSOCK; k++)
			held |= net_pending(r->net, (enum net_sock)k);
		uint64_t us = held ? 0 : wait_us(r, now_us);
		struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
				      .tv_nsec = (long)(us % 1000000) * 1000};
		int n = ppoll(pfd, NET_NSOCK, &ts, waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rlog("poll: %s", strerror(errno));
			return -1;
		}
		for (int k = 0; k < NET_NSOCK; k++) {
			if (!pfd[k].revents && !net_pending(r->net, (enum net_sock)k))
				continue;
			if (drain(r, (enum net_sock)k) != 0) {
				rlog("socket %d failed", k);
				return -1;
			}
		}
		end_turn(r);
	}
	rlog("stopping");
	return 0;
}
