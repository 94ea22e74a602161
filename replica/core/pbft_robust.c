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

static uint32_t heartbeat_ms(const struct pbft *p)
{
	if (p->cfg.robust_heartbeat_ms)
		return p->cfg.robust_heartbeat_ms;
	return p->cfg.view_timeout_ms / 4 ? p->cfg.view_timeout_ms / 4 : 1; /* config.c's default */
}

void pbft_robust_init(struct pbft *p)
{
	struct pbft_robust *r = &p->robust;
	uint32_t ratio = p->cfg.robust_ratio_permille;
	if (ratio == 0 || ratio > 1000)
		ratio = ROBUST_RATIO_DEFAULT;
	uint32_t period = p->cfg.view_timeout_ms ? p->cfg.view_timeout_ms : 1;
	/* Aardvark: "the last n views" - the best rate of each of the n primaries */
	pbft_monitor_init(&r->mon, period, PBFT_MONITOR_GRACE, ratio, p->cfg.n);
	pbft_heartbeat_init(&r->hb, heartbeat_ms(p), 0);
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
}

static void vote_out(struct pbft *p, uint64_t *counter, struct effects *out)
{
	(*counter)++;
	pbft_start_view_change(p, p->view + 1, out);
	p->robust.in_view = false;
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
	if (executed) {
		pbft_monitor_done(&r->mon, executed);
		/* progress: the commit phase may run while nothing new is proposed */
		pbft_heartbeat_beat(&r->hb, p->now_ms);
	}
	const bool pending = p->wq.live > 0;
	if (pending)
		pbft_monitor_pending(&r->mon);
	if (pbft_heartbeat_expired(&r->hb, p->now_ms, pending)) {
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
	return deadline_min(pbft_monitor_deadline(&r->mon), pbft_heartbeat_deadline(&r->hb));
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
}
