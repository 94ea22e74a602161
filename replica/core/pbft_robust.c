/* pbft_robust.c - robust mode (issue 16 items 1-2): backups watch their primary with
 * Aardvark's throughput monitor and heartbeat (Clement et al., NSDI'09, §4.3;
 * pbft_monitor.h) and vote it out through the ordinary view change (§4.4 of PBFT: the
 * same pbft_start_view_change() the view timer uses).
 *
 * Fed after every event from what the core already keeps: executions
 * (requests_executed), pending requests (the wait queue: requests clients sent to
 * the backups too, i.e. retransmitted), new PRE-PREPAREs of the view's primary.  The
 * period is the view timeout (cfg.view_timeout_ms, not the doubled one); with
 * robust off nothing here runs and the core behaves exactly as before.
 */
#include "replica/core/assert.h"
#include "replica/core/pbft.h"

#define ROBUST_RATIO_DEFAULT 900 /* robust_ratio = 0.9 (Aardvark) */

/* The per-request ordering deadline D (robust_heartbeat_ms, pbft_monitor.h). */
static uint32_t order_ms(const struct pbft *p)
{
	if (p->cfg.robust_heartbeat_ms)
		return p->cfg.robust_heartbeat_ms;
	return config_robust_heartbeat_default(p->cfg.view_timeout_ms); /* config.c's default */
}

/* The PRE-PREPARE heartbeat: a quarter of the view timeout (what robust_heartbeat_ms
 * meant before the ordering deadline took the key), and never shorter than the 3 D
 * after which the ordering deadline votes (a request late at 1.5 D, and a later one
 * late too): it only adds the requests that rule does not watch (ordered in an
 * earlier view, not executed yet). */
static uint32_t heartbeat_ms(const struct pbft *p)
{
	uint32_t quarter = p->cfg.view_timeout_ms / 4 ? p->cfg.view_timeout_ms / 4 : 1;
	uint32_t request = 3 * order_ms(p);
	return quarter > request ? quarter : request;
}

int pbft_robust_init(struct pbft *p)
{
	struct pbft_robust *r = &p->robust;
	uint32_t ratio = p->cfg.robust_ratio_permille;
	if (ratio == 0 || ratio > 1000)
		ratio = ROBUST_RATIO_DEFAULT;
	uint32_t period = p->cfg.view_timeout_ms ? p->cfg.view_timeout_ms : 1;
	/* Aardvark: "the last n views" - the best rate of each of the n primaries */
	pbft_monitor_init(&r->mon, period, PBFT_MONITOR_GRACE, ratio, p->cfg.n);
	pbft_heartbeat_init(&r->hb, heartbeat_ms(p), 0);
	if (pbft_order_init(&r->order, p->cfg.max_clients, order_ms(p)) != 0)
		return -1;
	/* the relative deadline: the best of the last n primaries (pbft_monitor.h) */
	pbft_order_set_views(&r->order, p->cfg.n);
	return 0;
}

void pbft_robust_free(struct pbft *p)
{
	pbft_order_free(&p->robust.order);
}

void pbft_robust_request(struct pbft *p, const struct msg *m)
{
	if (!p->cfg.robust || pbft_is_primary(p))
		return;
	/* a parked request was relayed to the primary by the driver when it arrived: the
	 * deadline counts from that relay; any other is relayed by the next scan, now */
	uint64_t relayed = p->robust.relayed_ms;
	pbft_order_request(&p->robust.order, m->h.sender, m->u.req.timestamp,
			   relayed ? relayed : p->now_ms, relayed != 0);
}

void pbft_robust_parked(struct pbft *p, uint32_t client, uint64_t ts)
{
	if (p->cfg.robust && !pbft_is_primary(p))
		pbft_order_parked(&p->robust.order, client, ts, p->now_ms);
}

void pbft_robust_ordered(struct pbft *p, uint32_t client, uint64_t ts)
{
	if (p->cfg.robust)
		pbft_order_ordered(&p->robust.order, client, ts, p->now_ms);
}

void pbft_robust_prune(struct pbft *p)
{
	struct pbft_order_watch *o = &p->robust.order;
	if (!p->cfg.robust)
		return;
	for (uint32_t c = 0; c < o->cap; c++) {
		const struct waiting *w = waitq_get(&p->wq, c);
		if (o->e[c].ts && (!w || !w->raw || w->ts != o->e[c].ts))
			pbft_order_ordered(o, c, o->e[c].ts, p->now_ms);
	}
}

void pbft_robust_ordered_batch(struct pbft *p, const uint8_t *batch, uint32_t len)
{
	struct body_preprepare b;
	struct msg req;
	if (!p->cfg.robust || wire_decode_batch(batch, len, p->cfg.cluster_id, &b) != WIRE_OK)
		return;
	for (uint16_t i = 0; i < b.count; i++)
		if (wire_decode(b.req[i], b.req_len[i], p->cfg.cluster_id, &req) == WIRE_OK &&
		    req.h.type == MSG_REQUEST)
			pbft_robust_ordered(p, req.h.sender, req.u.req.timestamp);
}

void pbft_robust_saw_preprepare(struct pbft *p, const struct msg *m)
{
	struct pbft_robust *r = &p->robust;
	/* Only a number not seen before in this view is a sign of life: re-sending an
	 * old PRE-PREPARE costs a slow primary nothing. */
	if (!p->cfg.robust || !r->in_view || m->h.view != p->view || m->h.seq <= r->pp_seq)
		return;
	r->pp_seq = m->h.seq;
	pbft_heartbeat_beat(&r->hb, p->now_ms);
}

/* A view became active: the watch starts afresh (grace period, heartbeat). */
static void enter_view(struct pbft *p)
{
	struct pbft_robust *r = &p->robust;
	pbft_monitor_new_view(&r->mon, p->now_ms);
	pbft_heartbeat_init(&r->hb, heartbeat_ms(p), p->now_ms);
	r->in_view = true;
	r->view = p->view;
	r->pp_seq = 0;
	pbft_order_restart(&r->order, p->now_ms); /* the new primary gets full deadlines */
}

static void vote_out(struct pbft *p, uint64_t *counter, struct effects *out)
{
	(*counter)++;
	pbft_start_view_change(p, p->view + 1, out);
	p->robust.in_view = false;
}

static void send_raw(struct effects *out, int32_t to, const uint8_t *raw, size_t len)
{
	size_t off = out->arena.len;
	buf_put(&out->arena, raw, len);
	effects_send(out, to, 0, off);
}

/* The ordering deadline (pbft_monitor.h): forward the requests half overdue to the
 * primary (PBFT §4.4's relay, made lazy: the client sent it there itself), vote when
 * one is still not ordered a deadline after its forward.  Returns true if it voted. */
static bool check_order(struct pbft *p, struct effects *out)
{
	uint32_t fwd[64];
	bool overdue = false;
	uint32_t k = pbft_order_scan(&p->robust.order, p->now_ms, fwd, 64, &overdue);
	const int32_t primary = (int32_t)pbft_primary(p, p->view);
	for (uint32_t i = 0; i < k; i++) {
		const struct waiting *w = waitq_get(&p->wq, fwd[i]);
		if (w && w->raw)
			send_raw(out, primary, w->raw, w->len);
	}
	if (!overdue)
		return false;
	vote_out(p, &p->robust.vc_request, out);
	return true;
}

void pbft_robust_step(struct pbft *p, struct effects *out)
{
	struct pbft_robust *r = &p->robust;
	if (!p->cfg.robust)
		return;
	CORE_ASSERT(p->requests_executed >= r->exec_seen);
	uint64_t executed = p->requests_executed - r->exec_seen;
	r->exec_seen = p->requests_executed;
	if (!p->view_active) {
		r->in_view = false; /* nothing to watch during a view change */
		return;
	}
	if (!r->in_view || r->view != p->view) {
		enter_view(p);
		executed = 0; /* executed on the way in: not this primary's work */
	}
	if (pbft_is_primary(p))
		return; /* a primary does not judge itself */
	/* We slept through our own timer: a stall of this machine.  Lateness up to D/4
	 * is scheduling jitter and the primary's to absorb (credited, the jitter of
	 * every tick would stretch every deadline: the primary could never be late). */
	const uint64_t jitter = order_ms(p) / 4;
	/* ... and never before the last event: a timer left in the past (a deadline due
	 * but not yet served while messages are handled) would credit the same time
	 * again at every event, and a late primary's requests would never be late
	 * (robust3: 38 s credited in a 5-s run under slow-primary:adaptive) */
	uint64_t from = r->wake_ms + jitter;
	if (from < r->last_event_ms)
		from = r->last_event_ms;
	if (r->wake_ms && p->now_ms > from) {
		r->stall_ms += p->now_ms - from;
		pbft_order_stalled(&r->order, from, p->now_ms);
		pbft_heartbeat_stalled(&r->hb, from, p->now_ms);
	}
	r->last_event_ms = p->now_ms;
	if (executed) {
		pbft_monitor_done(&r->mon, executed);
		/* progress: the commit phase may run while nothing new is proposed */
		pbft_heartbeat_beat(&r->hb, p->now_ms);
	}
	/* Pending, for the monitor: a request relayed to the primary and unordered D/2
	 * later (its client escalated it, and the primary still has not ordered it).
	 * Judging every period with a request in the wait queue made Aardvark's regular
	 * replacements - view changes of their own on a loaded machine, and a cost the
	 * faulty-client test of robust-auth forbids. */
	const bool pending = pbft_order_waiting(&r->order, p->now_ms);
	if (pending)
		pbft_monitor_pending(&r->mon);
	if (check_order(p, out))
		return; /* the specific rule first: a request not ordered in time */
	/* The heartbeat waits only while a request we relayed (half overdue) waits:
	 * with clients sending to all, requests are pending at every backup all the
	 * time, and a loaded machine's pause at a view's start is no silent primary.
	 * It votes only while the primary is late (a relayed request unordered a full
	 * deadline after its relay): a silent pause of a uniformly slow machine with
	 * requests ordered in time is not this primary's doing (issue 16, robust-tune). */
	const bool silent = pbft_heartbeat_expired(&r->hb, p->now_ms,
						   pbft_order_relayed(&r->order));
	if (silent && pbft_order_late(&r->order)) {
		vote_out(p, &r->vc_heartbeat, out);
		return;
	}
	if (pbft_monitor_tick(&r->mon, p->now_ms))
		vote_out(p, &r->vc_monitor, out);
}

uint64_t pbft_robust_deadline(const struct pbft *p)
{
	const struct pbft_robust *r = &p->robust;
	if (!p->cfg.robust || !r->in_view || !p->view_active || pbft_is_primary(p))
		return 0;
	/* a heartbeat expired while the primary is not late waits for the ordering
	 * deadline's next scan (pbft_order_deadline), not for a tick at once, forever */
	uint64_t hb = pbft_heartbeat_deadline(&r->hb);
	if (hb && hb <= p->now_ms && !pbft_order_late(&r->order))
		hb = 0;
	return deadline_min(deadline_min(pbft_monitor_deadline(&r->mon), hb),
			    pbft_order_deadline(&r->order));
}

void pbft_robust_status(const struct pbft *p, struct core_status *st)
{
	const struct pbft_robust *r = &p->robust;
	st->robust = p->cfg.robust;
	if (!p->cfg.robust)
		return;
	const uint64_t period = r->mon.period_ms;
	/* requests per period ×1000, over the period in ms: requests per second */
	bool watching = r->in_view && !pbft_is_primary(p);
	st->robust_required_rps = watching ? pbft_monitor_required_milli(&r->mon) / period : 0;
	st->robust_measured_rps = r->mon.last_rate * 1000 / period;
	st->robust_vc_monitor = r->vc_monitor;
	st->robust_vc_heartbeat = r->vc_heartbeat;
	st->robust_vc_request = r->vc_request;
	st->robust_forwarded = r->order.forwarded;
	st->robust_stall_ms = r->stall_ms;
	st->robust_order_p50_ms = pbft_order_percentile_ms(&r->order, 50);
	st->robust_order_p99_ms = pbft_order_percentile_ms(&r->order, 99);
	st->robust_order_deadline_ms = pbft_order_deadline_ms(&r->order);
}
