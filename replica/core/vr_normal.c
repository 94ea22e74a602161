/* vr_normal.c - VR normal operation (VRR §4.1).
 *
 *   client --REQUEST--> primary --PREPARE(v, n, k, batch)--> backups
 *   backup: accepts n only right after n-1, persists it --PREPARE-OK(v, n)--> primary
 *   primary: n is committed with f PREPARE-OKs (f+1 replicas with itself): executes in
 *            order, REPLYs; tells the backups k by the next PREPARE, or by a
 *            COMMIT(v, k) when idle for view_timeout_ms/2 (the heartbeat)
 *   backups: execute up to k, without replying.
 * A PREPARE-OK for n vouches for the whole log up to n (entries arrive in order), so
 * one number per backup (acked[]) is all the primary keeps.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/vr.h"
#include "replica/kv.h"

static bool send_reply(struct vr *p, uint32_t client, uint64_t ts, const uint8_t *result,
		       uint32_t len, struct effects *out)
{
	/* A reply that does not fit this step is skipped: the client retransmits and
	 * gets the cached result (exec.h), so nothing is lost but time. */
	if (!vr_room(out, (size_t)WIRE_HDR_LEN + 16 + len + WIRE_SIG_LEN))
		return false;
	size_t off = wire_put_reply(&out->arena, p->cfg.cluster_id, p->cfg.id, p->view, client, ts,
				    result, len);
	auth_seal(p->cfg.auth, &out->arena, off);
	effects_send(out, TO_CLIENT, client, off);
	return !out->arena.err;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* ---- leader leases (docs/VR.md "Leader leases") ----
 *
 * Every COMMIT carries the primary's clock when it sent it (the stamp); a backup's
 * PREPARE-OK echoes the newest stamp it has from this view's primary.  A backup that
 * sent it had heard from us at or after the stamp, and a new primary waits
 * read_lease_ms of its own clock after the DO-VIEW-CHANGEs that end our view
 * (vr_lease_wait_ms): so with f echoes (f+1 replicas with us: every view change quorum
 * holds one of them, or us) no new view starts before stamp + read_lease_ms of the new
 * primary's clock.  We trust only (100-D)/(100+D) of it on ours: clocks drift at most
 * D percent (VR_LEASE_DRIFT_PCT), the assumption the lease rests on. */

static uint64_t lease_length_ms(const struct vr *p)
{
	return (uint64_t)p->cfg.read_lease_ms * (100 - VR_LEASE_DRIFT_PCT) /
	       (100 + VR_LEASE_DRIFT_PCT);
}

/* COMMITs go at least this often while leases are on, busy or idle. */
uint64_t vr_lease_renew_ms(const struct vr *p)
{
	uint64_t hb = p->cfg.view_timeout_ms / 2, renew = p->cfg.read_lease_ms / 4;
	return p->cfg.read_lease_ms && renew < hb ? (renew ? renew : 1) : hb;
}

/* How long a new primary waits, on its clock, before it starts its view. */
uint64_t vr_lease_wait_ms(const struct vr *p)
{
	if (p->cfg.plant_bugs & VR_BUG_LEASE_NO_WAIT)
		return 0;
	return p->cfg.read_lease_ms;
}

/* When our lease ends on our clock (0: we hold none): the oldest of the f newest
 * echoed stamps plus the trusted length. */
uint64_t vr_lease_until_ms(const struct vr *p)
{
	if (!p->cfg.read_lease_ms || p->status != VR_NORMAL || !vr_is_primary(p))
		return 0;
	uint64_t from[WIRE_MAX_REPLICAS];
	uint32_t k = 0;
	for (uint32_t i = 0; i < p->cfg.n; i++)
		if (i != p->cfg.id)
			from[k++] = p->lease_from[i];
	CORE_ASSERT(k == p->cfg.n - 1 && p->cfg.f >= 1 && p->cfg.f <= k);
	qsort(from, k, sizeof(from[0]), cmp_desc);
	uint64_t oldest = from[p->cfg.f - 1]; /* 1 + stamp, 0: fewer than f echoes */
	return oldest ? oldest - 1 + lease_length_ms(p) : 0;
}

/* Does our lease hold now?  f backups echoed a stamp of this view, the oldest of the f
 * newest plus the trusted length is still ahead, and everything a client may have
 * been told by an earlier view (our log when the view started) is committed here. */
bool vr_lease_holds(const struct vr *p)
{
	if (vr_in_hole(p) || p->commit < p->view_start_op || p->last_executed < p->commit)
		return false;
	return p->now_ms < vr_lease_until_ms(p);
}

/* A read-only get while our lease holds: answered at once from the executed state,
 * without a round trip (exec_read: the client table is not touched).  Otherwise the
 * request takes the normal path, through the log.  Returns true if answered. */
static bool lease_read(struct vr *p, const struct msg *m, struct effects *out)
{
	if (!p->cfg.read_lease_ms || !(m->u.req.flags & REQ_F_READONLY) ||
	    !kv_op_is_readonly(m->u.req.op, m->u.req.op_len) || !vr_lease_holds(p))
		return false;
	const uint8_t *result;
	uint32_t len;
	exec_read(&p->exec, m->u.req.op, m->u.req.op_len, &result, &len);
	if (!send_reply(p, m->h.sender, m->u.req.timestamp, result, len, out))
		return true; /* no room in this step: the client retransmits */
	out->sends[out->n_sends - 1].lease_read = true;
	p->reads_leased++;
	return true;
}

void vr_on_request(struct vr *p, const struct msg *m, struct effects *out)
{
	uint32_t c = m->h.sender;
	uint64_t ts = m->u.req.timestamp;
	if (lease_read(p, m, out))
		return;
	int verdict = exec_classify(&p->exec, c, ts);
	bool serving = p->status == VR_NORMAL && vr_is_primary(p);
	if (verdict == EXEC_CACHED) {
		/* a retransmission of the last executed request: only the primary answers
		 * (the client accepts the primary's reply alone) */
		if (serving) {
			const uint8_t *result;
			uint32_t len;
			exec_request(&p->exec, m, &result, &len);
			send_reply(p, c, ts, result, len, out);
		}
		return;
	}
	if (verdict != EXEC_NEW || ts <= p->proposed_ts[c])
		return; /* stale, or already in the log */
	const struct waiting *w = waitq_get(&p->wq, c);
	if (w && w->ts >= ts)
		return; /* already waiting */
	/* A backup keeps it too (without relaying: the client resends to all after a
	 * timeout), so a backup that becomes primary serves it at once. */
	waitq_push(&p->wq, m);
	if (serving)
		vr_try_propose(p, out);
}

/* ---- batching and proposing (primary) ---- */

/* Take waiting requests, in arrival order, up to batch_max and room bytes of batch.
 * Requests executed or logged meanwhile are withdrawn on the way. */
static uint16_t take_batch(struct vr *p, uint64_t room)
{
	uint16_t count = 0;
	uint64_t bytes = 2;
	if (room > VR_BATCH_BYTES)
		room = VR_BATCH_BYTES;
	int64_t c;
	while (count < p->cfg.batch_max && (c = waitq_head(&p->wq)) >= 0) {
		const struct waiting *w = &p->wq.ent[c];
		if (exec_classify(&p->exec, (uint32_t)c, w->ts) == EXEC_NEW &&
		    w->ts > p->proposed_ts[c]) {
			if (bytes + 4 + w->len > room)
				break; /* the next batch takes it */
			p->batch_req[count] = w->raw;
			p->batch_len[count] = w->len;
			p->batch_client[count] = (uint32_t)c;
			p->proposed_ts[c] = w->ts;
			bytes += 4 + w->len;
			count++;
		} else {
			waitq_withdraw(&p->wq, (uint32_t)c);
		}
		waitq_pop(&p->wq);
	}
	CORE_ASSERT(count <= p->cfg.batch_max && (count <= 1 || bytes <= room));
	return count;
}

static bool propose_one(struct vr *p, struct effects *out)
{
	CORE_ASSERT(p->status == VR_NORMAL && vr_is_primary(p) && !vr_in_hole(p));
	const uint64_t op0 = p->op;
	uint64_t room = p->log_bytes < VR_LOG_BUDGET ? VR_LOG_BUDGET - p->log_bytes : 0;
	uint16_t count = take_batch(p, room);
	if (count == 0)
		return false;
	struct buf *b = &out->arena;
	size_t off = wire_begin(b, MSG_VR_PREPARE, p->cfg.cluster_id, p->cfg.id, p->view,
				p->op + 1);
	buf_put_u64(b, p->commit);
	size_t batch_at = b->len;
	buf_put_u16(b, count); /* the batch: PRE-PREPARE body layout */
	for (uint16_t i = 0; i < count; i++) {
		buf_put_u32(b, p->batch_len[i]);
		buf_put(b, p->batch_req[i], p->batch_len[i]);
	}
	wire_finish(b, off);
	uint32_t batch_len = (uint32_t)(b->len - batch_at);
	for (uint16_t i = 0; i < count; i++)
		waitq_withdraw(&p->wq, p->batch_client[i]); /* copied into the batch */
	vr_send(p, out, TO_OTHERS, off);
	if (b->err)
		return false;
	/* Persisted before the PREPARE leaves (driver order): after a crash we must
	 * not give op+1 to another batch in this view. */
	if (vr_log_append(p, p->view, b->p + batch_at, batch_len, out) != 0) {
		b->err = WIRE_E_NOMEM; /* cannot keep our word: fail the step */
		return false;
	}
	/* one new op-number, in our view, above everything committed */
	CORE_ASSERT(p->op == op0 + 1 && p->op > p->commit && vr_slot(p, p->op)->view == p->view);
	p->last_bcast_ms = p->now_ms;
	return true;
}

void vr_try_propose(struct vr *p, struct effects *out)
{
	if (p->status != VR_NORMAL || !vr_is_primary(p) || vr_in_hole(p))
		return;
	while (core_may_start_batch(p->wq.live, (uint32_t)(p->op - p->last_executed),
				    p->cfg.batch_max, VR_PIPELINE) &&
	       p->op + 1 - p->lo <= p->cfg.window && !out->arena.err)
		if (!propose_one(p, out))
			break;
}

/* ---- backups: PREPARE, COMMIT ---- */

void vr_send_prepare_ok(struct vr *p, struct effects *out)
{
	if (p->status != VR_NORMAL || vr_is_primary(p) || vr_syncing(p))
		return;
	size_t off = wire_begin(&out->arena, MSG_VR_PREPARE_OK, p->cfg.cluster_id, p->cfg.id,
				p->view, p->op);
	buf_put_u64(&out->arena, p->lease_echo); /* the lease promise (see above) */
	wire_finish(&out->arena, off);
	vr_send(p, out, (int32_t)vr_primary(p, p->view), off);
}

/* The primary says ops up to k are committed: execute what we have of them. */
void vr_learn_commit(struct vr *p, uint64_t k, struct effects *out)
{
	if (k > p->op && k > p->seen_op)
		p->seen_op = k;
	if (vr_syncing(p))
		return; /* our entries above commit may not be this view's */
	uint64_t c = k < p->op ? k : p->op;
	if (c > p->commit) {
		p->commit = c;
		vr_execute(p, out);
	}
	CORE_ASSERT(p->commit <= p->op); /* op-number >= commit-number */
}

void vr_on_prepare(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view, n = m->h.seq;
	if (!vr_from_primary(p, m))
		return;
	vr_saw_normal_view(p, v, out); /* a view we missed, or its START-VIEW */
	if (v != p->view || p->status != VR_NORMAL)
		return;
	p->last_heard_ms = p->now_ms;
	if (vr_syncing(p)) {
		if (n > p->seen_op)
			p->seen_op = n;
		vr_xfer_kick(p, out); /* this view's log comes by state transfer */
		return;
	}
	/* The commit-number first: executing may take a checkpoint and slide the log. */
	vr_learn_commit(p, m->u.vr.commit, out);
	if (n <= p->op) {
		vr_send_prepare_ok(p, out); /* a retransmission: our ack may have been lost */
	} else if (n == p->op + 1 && vr_log_fits(p, n, m->u.vr.batch_len)) {
		if (vr_log_append(p, v, m->u.vr.batch, m->u.vr.batch_len, out) != 0)
			return;
		vr_send_prepare_ok(p, out);
		vr_learn_commit(p, m->u.vr.commit, out);
	} else {
		/* Out of order (VRR: "it waits until it has the earlier entries"), or too
		 * far ahead of our checkpoint: fetch the missing part (vr_state.c). */
		if (!vr_log_fits(p, n, m->u.vr.batch_len))
			p->rejected_out_of_window++;
		if (n > p->seen_op)
			p->seen_op = n;
	}
	vr_xfer_kick(p, out);
}

void vr_on_commit(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (!vr_from_primary(p, m))
		return;
	vr_saw_normal_view(p, v, out);
	if (v != p->view || p->status != VR_NORMAL)
		return;
	p->last_heard_ms = p->now_ms;
	if (m->u.vr.op > p->seen_op)
		p->seen_op = m->u.vr.op;
	if (m->u.vr.stamp > p->lease_echo)
		p->lease_echo = m->u.vr.stamp;
	vr_learn_commit(p, m->h.seq, out);
	/* Our entries above its commit-number wait for acks: ours may have been lost.
	 * With leases, every COMMIT is answered: the answer renews the primary's lease. */
	if (m->h.seq < p->op || p->cfg.read_lease_ms)
		vr_send_prepare_ok(p, out);
	vr_xfer_kick(p, out);
}

void vr_send_heartbeat(struct vr *p, struct effects *out)
{
	size_t off = wire_begin(&out->arena, MSG_VR_COMMIT, p->cfg.cluster_id, p->cfg.id, p->view,
				p->commit);
	buf_put_u64(&out->arena, p->op);
	buf_put_u64(&out->arena, p->now_ms); /* the stamp a lease is measured from */
	wire_finish(&out->arena, off);
	vr_send(p, out, TO_OTHERS, off);
	p->last_bcast_ms = p->last_stamp_ms = p->now_ms;
}

/* ---- primary: PREPARE-OK ---- */

/* The highest op-number f backups have acknowledged is committed (f+1 replicas
 * hold it, with us: any later view change sees it). */
static void update_commit(struct vr *p, struct effects *out)
{
	uint64_t acks[WIRE_MAX_REPLICAS];
	uint32_t k = 0;
	CORE_ASSERT(vr_is_primary(p) && p->status == VR_NORMAL);
	for (uint32_t i = 0; i < p->cfg.n; i++)
		if (i != p->cfg.id)
			acks[k++] = p->acked[i];
	/* f acks of distinct backups (n - 1 of them) and ours make the f+1 of n = 2f+1 */
	CORE_ASSERT(k == p->cfg.n - 1 && p->cfg.f >= 1 && p->cfg.f <= k);
	qsort(acks, k, sizeof(acks[0]), cmp_desc);
	uint64_t c = acks[p->cfg.f - 1];
	if (c > p->op)
		c = p->op;
	if (c <= p->commit)
		return;
	p->commit = c;
	vr_execute(p, out);
	CORE_ASSERT(p->commit >= c && p->commit <= p->op);
}

void vr_on_prepare_ok(struct vr *p, const struct msg *m, struct effects *out)
{
	uint64_t v = m->h.view;
	if (v < p->view) {
		p->rejected_old_view++;
		return;
	}
	if (v > p->view || p->status != VR_NORMAL)
		return;
	if (!vr_is_primary(p)) {
		p->rejected_conflict++;
		return;
	}
	CORE_ASSERT(m->h.sender < p->cfg.n && m->h.sender != p->cfg.id); /* on_msg() */
	uint64_t stamp = m->u.vr.stamp;
	/* a stamp of ours from this view (never one from the future) renews the lease */
	if (stamp >= p->view_started_ms && stamp <= p->now_ms &&
	    stamp + 1 > p->lease_from[m->h.sender])
		p->lease_from[m->h.sender] = stamp + 1;
	uint64_t n = m->h.seq < p->op ? m->h.seq : p->op;
	if (n <= p->acked[m->h.sender])
		return;
	p->acked[m->h.sender] = n;
	update_commit(p, out);
}

/* ---- execution ---- */

/* Execute one committed batch (in order: op == last_executed + 1). */
void vr_execute_batch(struct vr *p, uint64_t op, uint64_t view, const uint8_t *batch, uint32_t len,
		      struct effects *out, bool replying)
{
	struct body_preprepare b;
	struct msg req;
	uint8_t digest[WIRE_DIGEST_LEN];
	/* in order, one at a time, and only what is committed */
	CORE_ASSERT(op == p->last_executed + 1 && op <= p->commit);
	if (wire_decode_batch(batch, len, p->cfg.cluster_id, &b) != WIRE_OK)
		abort(); /* every batch was decoded on arrival: memory corruption */
	crypto_digest(batch, len, digest);
	for (uint16_t i = 0; i < b.count; i++) {
		const uint8_t *result;
		uint32_t rlen;
		if (wire_decode(b.req[i], b.req_len[i], p->cfg.cluster_id, &req) != WIRE_OK)
			abort();
		int verdict = exec_request(&p->exec, &req, &result, &rlen);
		waitq_done(&p->wq, req.h.sender, req.u.req.timestamp);
		if (verdict == EXEC_STALE)
			continue; /* older than the client's last: never re-executed */
		if (verdict == EXEC_NEW)
			p->requests_executed++;
		if (replying)
			send_reply(p, req.h.sender, req.u.req.timestamp, result, rlen, out);
	}
	effects_exec(out, op, view, digest, b.count);
	p->last_executed = op;
	p->exec_bytes += len;
	if (op % p->cfg.checkpoint_interval == 0 || p->exec_bytes >= VR_CKPT_BYTES)
		vr_take_checkpoint(p, out);
	CORE_ASSERT(p->last_executed == op && p->ckpt <= op);
}

/* Execute committed entries in order.  Only the primary of a normal view replies. */
void vr_execute(struct vr *p, struct effects *out)
{
	bool replying = p->status == VR_NORMAL && vr_is_primary(p);
	while (p->last_executed < p->commit && !vr_in_hole(p)) {
		struct vr_slot *s = vr_slot(p, p->last_executed + 1);
		if (!s)
			break;
		CORE_ASSERT(s->op == p->last_executed + 1 && s->batch);
		vr_execute_batch(p, s->op, s->view, s->batch, s->len, out, replying);
	}
	CORE_ASSERT(p->last_executed <= p->commit);
	if (replying)
		vr_try_propose(p, out);
}

/* proposed_ts from the entries not executed yet (after a restart or a view change,
 * so the new primary does not put a logged request in a second batch). */
void vr_rebuild_proposed(struct vr *p)
{
	memset(p->proposed_ts, 0, p->cfg.max_clients * sizeof(*p->proposed_ts));
	for (uint64_t op = p->last_executed + 1; op <= p->op; op++) {
		struct vr_slot *s = vr_slot(p, op);
		struct body_preprepare b;
		struct msg req;
		if (!s || wire_decode_batch(s->batch, s->len, p->cfg.cluster_id, &b) != WIRE_OK)
			continue;
		for (uint16_t i = 0; i < b.count; i++) {
			int rc = wire_decode(b.req[i], b.req_len[i], p->cfg.cluster_id, &req);
			if (rc != WIRE_OK || req.h.sender >= p->cfg.max_clients)
				continue;
			if (req.u.req.timestamp > p->proposed_ts[req.h.sender])
				p->proposed_ts[req.h.sender] = req.u.req.timestamp;
		}
	}
}
