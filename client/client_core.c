/* client_core.c - the client's pure state machine (see client_core.h): the accept
 * rule (client_quorum_*), then the request's life: submit, replies, retransmission. */
#include "client/client_core.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/kv.h"

/* ---------------------------------------------------------------- quorum */

void client_quorum_init(struct client_quorum *q)
{
	uint32_t i;

	memset(q, 0, sizeof(*q));
	for (i = 0; i < WIRE_MAX_REPLICAS; i++)
		buf_init(&q->res[i]);
}

void client_quorum_free(struct client_quorum *q)
{
	uint32_t i;

	for (i = 0; i < WIRE_MAX_REPLICAS; i++)
		buf_free(&q->res[i]);
}

void client_quorum_reset(struct client_quorum *q, enum protocol p, uint32_t n, uint32_t f,
			 uint32_t client, uint64_t timestamp, int readonly)
{
	uint32_t i;

	q->proto = p;
	q->n = n > WIRE_MAX_REPLICAS ? WIRE_MAX_REPLICAS : n;
	q->f = f;
	q->need = readonly ? 2 * f + 1 : f + 1;
	if (q->need > q->n)
		q->need = q->n;
	q->client = client;
	q->timestamp = timestamp;
	q->done = 0;
	q->winner = 0;
	for (i = 0; i < WIRE_MAX_REPLICAS; i++) {
		q->have[i] = 0;
		q->full[i] = 0;
		q->view[i] = 0;
		buf_reset(&q->res[i]);
	}
}

/* Results match when their digests do (a digest reply carries nothing else). */
static int same_result(const struct client_quorum *q, uint32_t a, uint32_t b)
{
	return memcmp(q->digest[a], q->digest[b], WIRE_DIGEST_LEN) == 0;
}

/* Do `need` replies match slot s's result, one of them in full?  Returns that full
 * one's slot, or -1. */
static int pbft_matches(const struct client_quorum *q, uint32_t s)
{
	uint32_t i, count = 0;
	int full = -1;

	for (i = 0; i < q->n; i++) {
		if (!q->have[i] || !same_result(q, s, i))
			continue;
		count++;
		if (q->full[i] && full < 0)
			full = (int)i;
	}
	return count >= q->need ? full : -1;
}

int client_quorum_add(struct client_quorum *q, uint32_t sender, uint64_t view, uint32_t client,
		      uint64_t timestamp, const uint8_t *res, size_t len)
{
	return client_quorum_add_kind(q, sender, view, client, timestamp, REPLY_FULL, res, len);
}

int client_quorum_add_kind(struct client_quorum *q, uint32_t sender, uint64_t view, uint32_t client,
			   uint64_t timestamp, int kind, const uint8_t *res, size_t len)
{
	if (q->done)
		return 1;
	if (client != q->client || timestamp != q->timestamp || sender >= q->n ||
	    len > WIRE_MAX_RESULT)
		return -1;
	/* vr: only the primary of the reply's view speaks for the group. */
	if (q->proto == PROTO_VR && sender != view % q->n)
		return -1;
	/* digests only where the protocol asks f+1 or more replicas to vouch for one */
	if (kind == REPLY_DIGEST && (!protocol_is_bft(q->proto) || len != WIRE_DIGEST_LEN))
		return -1;
	buf_reset(&q->res[sender]);
	buf_put(&q->res[sender], res, len);
	if (q->res[sender].err)
		return -1;
	if (kind == REPLY_DIGEST)
		memcpy(q->digest[sender], res, WIRE_DIGEST_LEN);
	else
		crypto_digest(res, len, q->digest[sender]);
	q->full[sender] = kind != REPLY_DIGEST;
	q->have[sender] = 1;
	q->view[sender] = view;
	int winner = (int)sender;
	if (protocol_is_bft(q->proto) && (winner = pbft_matches(q, sender)) < 0)
		return 0;
	q->done = 1;
	q->winner = (uint32_t)winner;
	return 1;
}

int client_quorum_hopeless(const struct client_quorum *q)
{
	uint32_t i, j, answered = 0, best = 0;

	if (q->done || !protocol_is_bft(q->proto))
		return 0;
	for (i = 0; i < q->n; i++) {
		if (!q->have[i])
			continue;
		answered++;
		uint32_t same = 0;
		for (j = 0; j < q->n; j++)
			same += q->have[j] && same_result(q, i, j);
		if (same > best)
			best = same;
	}
	return best + (q->n - answered) < q->need;
}

static int cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

uint64_t client_quorum_view(const struct client_quorum *q)
{
	uint64_t v[WIRE_MAX_REPLICAS];
	uint32_t i, k = 0;

	if (!q->done)
		return 0;
	if (!protocol_is_bft(q->proto))
		return q->view[q->winner];
	for (i = 0; i < q->n; i++)
		if (q->have[i])
			v[k++] = q->view[i];
	qsort(v, k, sizeof(v[0]), cmp_u64_desc);
	/* k >= need >= f+1 (or need = n when n is small) */
	return k > q->f ? v[q->f] : v[k - 1];
}

/* ------------------------------------------------------------------ core */

void client_core_init(struct client_core *c, const struct client_core_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	if (c->cfg.n > WIRE_MAX_REPLICAS)
		c->cfg.n = WIRE_MAX_REPLICAS;
	client_quorum_init(&c->q);
	buf_init(&c->op);
	buf_init(&c->req);
}

void client_core_free(struct client_core *c)
{
	client_quorum_free(&c->q);
	buf_free(&c->op);
	buf_free(&c->req);
}

static bool is_readonly(const struct client_core *c)
{
	return (c->flags & REQ_F_READONLY) && c->cfg.proto == PROTO_PBFT;
}

/* Does this request need 2f+1 matching replies?  PBFT §5.1.3 with read_only = on:
 * every request does, writes too (a write acknowledged by f+1, one of them correct,
 * could be followed by a read-only get answered alike by f correct replicas that have
 * not executed it yet and a liar: a stale read).  The planted bugs break exactly this. */
static int needs_2f1(const struct client_core *c)
{
	bool ro_cluster = c->cfg.read_only && c->cfg.proto == PROTO_PBFT;

	if (c->cfg.bug == CLIENT_BUG_READONLY_QUORUM_F1)
		return 0;
	if (c->cfg.bug == CLIENT_BUG_READONLY_WRITES_F1)
		return is_readonly(c);
	return is_readonly(c) || ro_cluster;
}

static void reset_quorum(struct client_core *c)
{
	int ro = needs_2f1(c);

	client_quorum_reset(&c->q, c->cfg.proto, c->cfg.n, c->cfg.f, c->cfg.id, c->ts, ro);
	/* the planted bug: f matching replies, which f liars alone can supply */
	if (c->cfg.bug == CLIENT_BUG_ACCEPT_F && !ro && protocol_is_bft(c->cfg.proto) &&
	    c->cfg.f > 0)
		c->q.need = c->cfg.f;
}

/* Encode and seal the pending operation with the timestamp, flags, view and signing
 * choice now in c.  Returns 0, or -1 (out of memory, or the sealing failed). */
static int encode(struct client_core *c)
{
	struct auth_ctx *a = c->cfg.auth;
	size_t off;
	int rc;

	buf_reset(&c->req);
	off = wire_put_request(&c->req, c->cfg.cluster, c->cfg.id, c->ts, c->flags, c->op.p,
			       (uint32_t)c->op.len);
	/* robust mode (sign_always) signs every request, even with MACs available; the
	 * drivers may load the keys after init, so the mode is read here, not there */
	if (c->cfg.sign_always && !c->cfg.bad_mac && a->mode == AUTH_MODE_MAC)
		c->signing = true;
	rc = c->signing ? auth_seal_signed(a, &c->req, off) : auth_seal(a, &c->req, off);
	/* the faulty client: only the slot of the replica it takes for the primary */
	if (rc == 0 && c->cfg.bad_mac)
		auth_poison_slots(c->req.p + off, c->req.len - off,
				  ~(1u << (uint32_t)(c->view % c->cfg.n)));
	return c->req.err || rc != 0 ? -1 : 0;
}

static uint32_t primary(const struct client_core *c)
{
	return (uint32_t)(c->view % c->cfg.n);
}

/* Robust mode with escalation: a read-write PBFT request goes to the primary first,
 * to everybody once it is unanswered at its escalation deadline. */
static bool escalating(const struct client_core *c)
{
	return c->cfg.send_all && c->cfg.escalate_max_ms && c->cfg.proto == PROTO_PBFT &&
	       !is_readonly(c);
}

uint64_t client_core_escalate_us(const struct client_core *c)
{
	uint64_t hi = (uint64_t)c->cfg.escalate_max_ms * 1000u, lo = hi / 4;
	if (!hi)
		return 0;
	if (!c->lat_avg_us)
		return hi;
	uint64_t t = 3 * c->lat_avg_us;
	return t < lo ? lo : t > hi ? hi : t;
}

uint32_t client_hotstuff_leaders(uint32_t n, uint32_t f, bool stable, uint64_t view)
{
	uint64_t epoch = stable ? view >> CLIENT_HS_STABLE_SHIFT : view;
	uint32_t set = 0;
	if (n == 0 || n > WIRE_MAX_REPLICAS)
		return 0;
	for (uint32_t k = 0; k <= f && k < n; k++)
		set |= 1u << (uint32_t)((epoch + k) % n);
	return set;
}

/* A request's first send: the primary, or everybody (read-only gets, PBFT §5.1.3;
 * robust mode, Aardvark §4.2: the backups then hold it pending and time its ordering;
 * with escalation the primary, and everybody at the escalation deadline).
 * HotStuff: every replica (any may lead the next view: each keeps it for its turn), or
 * with hotstuff_client = leaders (issue 19) the leaders of the f+1 views from the one
 * learned from replies.  Every replica that holds a request proposes it when it leads
 * (hotstuff_chain.c take_batch), one of f+1 replicas is correct, and the leader
 * rotates, so each of them leads within n views.  A faulty or stale guess costs a
 * retransmission to all (CLIENT_RTO_MS), as with PBFT's primary; so does a chain that
 * went idle at a leader that holds none of the waiting requests (docs/EXPERIMENTS.md
 * §17: that is why it is not the default).  With hotstuff_leader = stable the first
 * send goes to all n either way: sent to the stable leader and the next one only,
 * sim_hotstuff_stable_f1_silent_leader seed 2 lost liveness (views kept changing after
 * the faults stopped, with the requests at every replica by then; not yet explained). */
static void first_destination(const struct client_core *c, struct client_out *out)
{
	if (escalating(c)) {
		out->send_to = primary(c);
		return;
	}
	if (c->cfg.proto == PROTO_HOTSTUFF && c->cfg.hotstuff_leaders && !c->cfg.hotstuff_stable) {
		out->send_to = CLIENT_SEND_SET;
		out->send_set = client_hotstuff_leaders(c->cfg.n, c->cfg.f, c->cfg.hotstuff_stable,
							c->view);
		CORE_ASSERT(out->send_set != 0);
		return;
	}
	if ((c->cfg.send_all && c->cfg.proto == PROTO_PBFT) || c->cfg.proto == PROTO_HOTSTUFF)
		out->send_to = CLIENT_SEND_ALL;
	else
		out->send_to = is_readonly(c) ? CLIENT_SEND_ALL : primary(c);
}

static void out_clear(struct client_out *out)
{
	memset(out, 0, sizeof(*out));
	out->send_to = CLIENT_SEND_NONE;
	out->skip = CLIENT_SEND_NONE;
	out->next_tick_us = UINT64_MAX;
}

static void out_finish(const struct client_core *c, struct client_out *out)
{
	out->next_tick_us = client_core_next_tick(c);
}

static void arm(struct client_core *c, uint64_t now_us)
{
	c->tries = 0;
	c->rto_us = (uint64_t)CLIENT_RTO_MS * 1000u;
	c->next_rt_us = now_us + c->rto_us;
	c->sent_us = now_us;
	c->escalate_at_us = escalating(c) ? now_us + client_core_escalate_us(c) : 0;
}

int client_core_submit(struct client_core *c, const uint8_t *op, size_t op_len, uint8_t flags,
		       uint64_t ts_min, uint64_t now_us, struct client_out *out)
{
	out_clear(out);
	if (c->state == CC_PENDING || op_len > WIRE_MAX_OP)
		return -1;
	/* PBFT §5.1.3: with read_only = on, a read-only operation skips agreement */
	if (c->cfg.read_only && c->cfg.proto == PROTO_PBFT && kv_op_is_readonly(op, op_len))
		flags |= REQ_F_READONLY;
	/* VR leader leases (docs/VR.md): the same flag; the primary answers alone from its
	 * lease, or orders the get as any request; its one reply is accepted as ever */
	if (c->cfg.lease_reads && c->cfg.proto == PROTO_VR && kv_op_is_readonly(op, op_len))
		flags |= REQ_F_READONLY;
	buf_reset(&c->op);
	buf_put(&c->op, op, op_len);
	c->flags = flags;
	uint64_t prev_ts = c->ts;
	c->ts = ts_min > c->ts ? ts_min : c->ts + 1;
	/* replicas execute a client's request once per timestamp: it must never go back */
	CORE_ASSERT(c->ts > prev_ts);
	if (c->op.err || encode(c) != 0) {
		c->state = CC_IDLE;
		return -1;
	}
	reset_quorum(c);
	c->state = CC_PENDING;
	c->stats.requests++;
	c->deadline_us = c->cfg.timeout_ms ? now_us + (uint64_t)c->cfg.timeout_ms * 1000u
					   : UINT64_MAX;
	arm(c, now_us);
	first_destination(c, out);
	out_finish(c, out);
	return 0;
}

/* PBFT §5.1.3: a read-only request that cannot gather 2f+1 matching replies (the
 * replicas answered from different states, or some are silent) goes again as an
 * ordinary request, through agreement.  A new timestamp, so that no late read-only
 * reply can count towards the quorum of the read-write one. */
static void retry_readwrite(struct client_core *c, uint64_t now_us, struct client_out *out)
{
	c->flags &= (uint8_t)~REQ_F_READONLY;
	c->ts++;
	if (encode(c) != 0) {
		c->state = CC_TIMEOUT; /* out of memory: give up on this request */
		c->stats.timeouts++;
		out->timed_out = true;
		return;
	}
	reset_quorum(c);
	c->stats.readonly_retries++;
	arm(c, now_us);
	out->readonly_retry = true;
	first_destination(c, out);
}

bool client_core_wants(const struct client_core *c, uint32_t client, uint64_t ts)
{
	return c->state == CC_PENDING && client == c->cfg.id && ts == c->ts;
}

void client_core_on_reply(struct client_core *c, const struct msg *m, uint64_t now_us,
			  struct client_out *out)
{
	int r;

	out_clear(out);
	if (!client_core_wants(c, m->u.rep.client, m->u.rep.timestamp)) {
		c->stats.stale++;
		goto done;
	}
	r = client_quorum_add_kind(&c->q, m->h.sender, m->h.view, m->u.rep.client,
				   m->u.rep.timestamp, (int)m->h.seq, m->u.rep.result,
				   m->u.rep.result_len);
	if (r < 0) {
		c->stats.stale++; /* e.g. vr: not the primary of its view */
		goto done;
	}
	c->stats.replies++;
	if (r == 1) {
		/* at least one reply, and never more than the replicas can give */
		CORE_ASSERT(c->q.need >= 1 && c->q.need <= c->cfg.n);
		uint64_t v = client_quorum_view(&c->q);
		if (v > c->view)
			c->view = v;
		/* the escalation deadline follows this client's recent latency (1/8 weight) */
		uint64_t lat = now_us > c->sent_us ? now_us - c->sent_us : 0;
		c->lat_avg_us = c->lat_avg_us ? (7 * c->lat_avg_us + lat) / 8 : (lat ? lat : 1);
		c->escalate_at_us = 0;
		c->state = CC_DONE;
		out->done = true;
	} else if (is_readonly(c) && client_quorum_hopeless(&c->q)) {
		retry_readwrite(c, now_us, out);
	}
done:
	out_finish(c, out);
}

int client_core_take_reply(struct client_core *c, const struct msg *m, uint64_t now_us,
			   struct client_out *out)
{
	if (client_core_wants(c, m->u.rep.client, m->u.rep.timestamp) &&
	    auth_verify(c->cfg.auth, m) != 0) {
		out_clear(out);
		out_finish(c, out);
		return CLIENT_RX_BAD_AUTH;
	}
	client_core_on_reply(c, m, now_us, out);
	return CLIENT_RX_OK;
}

int client_core_receive(struct client_core *c, const uint8_t *p, size_t len, uint64_t now_us,
			struct client_out *out)
{
	struct msg m;

	if (wire_decode(p, len, c->cfg.cluster, &m) != WIRE_OK || m.h.type != MSG_REPLY) {
		out_clear(out);
		out_finish(c, out);
		return CLIENT_RX_BAD_FORMAT;
	}
	return client_core_take_reply(c, &m, now_us, out);
}

/* Issue 14: in mac mode a replica that found a client's MAC garbled in its slot (by
 * the client or by a replica that relayed the request) takes that client's requests
 * only signed from then on (crypto/auth.h).  So a request still unanswered after
 * CLIENT_SIGN_AFTER retransmissions goes signed, and so does every later one. */
static void sign_if_ignored(struct client_core *c, struct client_out *out)
{
	if (c->signing || c->cfg.bad_mac || c->cfg.auth->mode != AUTH_MODE_MAC ||
	    c->tries < CLIENT_SIGN_AFTER)
		return;
	c->signing = true;
	if (encode(c) != 0)
		c->signing = false;
	else
		out->started_signing = true;
	c->stats.signed_requests++;
}

/* The faulty client hears no replies, so it cannot learn the view: it tries the next
 * replica as the primary whose slot it leaves intact on each retransmission. */
static void guess_next_primary(struct client_core *c)
{
	if (!c->cfg.bad_mac)
		return;
	c->view++;
	(void)encode(c);
}

void client_core_tick(struct client_core *c, uint64_t now_us, struct client_out *out)
{
	out_clear(out);
	if (c->state != CC_PENDING)
		return;
	if (now_us >= c->deadline_us) {
		c->state = CC_TIMEOUT;
		c->stats.timeouts++;
		out->timed_out = true;
	} else if (c->escalate_at_us && now_us >= c->escalate_at_us && now_us < c->next_rt_us) {
		/* unanswered in the usual time: the backups now watch its ordering */
		c->escalate_at_us = 0;
		out->send_to = CLIENT_SEND_ALL;
		out->skip = primary(c); /* it has it: the first send */
		c->stats.escalations++;
	} else if (now_us >= c->next_rt_us && is_readonly(c)) {
		retry_readwrite(c, now_us, out);
	} else if (now_us >= c->next_rt_us) {
		/* The primary may be faulty or the request lost: tell everybody, so the
		 * backups forward it and start their view-change timers (PBFT §4.1). */
		sign_if_ignored(c, out);
		guess_next_primary(c);
		out->send_to = CLIENT_SEND_ALL;
		out->retransmit = true;
		c->stats.retransmits++;
		c->tries++;
		c->rto_us *= 2;
		if (c->rto_us > (uint64_t)CLIENT_RTO_MAX_MS * 1000u)
			c->rto_us = (uint64_t)CLIENT_RTO_MAX_MS * 1000u;
		c->next_rt_us = now_us + c->rto_us;
		c->escalate_at_us = 0; /* everybody has it now */
		CORE_ASSERT(c->rto_us <= (uint64_t)CLIENT_RTO_MAX_MS * 1000u &&
			    c->next_rt_us > now_us);
	}
	out_finish(c, out);
}

uint64_t client_core_next_tick(const struct client_core *c)
{
	if (c->state != CC_PENDING)
		return UINT64_MAX;
	uint64_t t = c->next_rt_us < c->deadline_us ? c->next_rt_us : c->deadline_us;
	return c->escalate_at_us && c->escalate_at_us < t ? c->escalate_at_us : t;
}

const struct buf *client_core_request(const struct client_core *c)
{
	return &c->req;
}

const uint8_t *client_core_result(const struct client_core *c, size_t *len)
{
	const struct buf *w = &c->q.res[c->q.winner];

	*len = c->state == CC_DONE ? w->len : 0;
	return c->state == CC_DONE ? w->p : NULL;
}
