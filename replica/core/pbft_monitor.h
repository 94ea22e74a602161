/* pbft_monitor.h - robust mode (issue 16): a backup's watch on its primary, as pure
 * state driven by the core's clock (Aardvark, Clement et al., NSDI'09, §4.3).
 *
 * Two rules, each a small struct with no I/O:
 *   - the throughput monitor: periods of period_ms; in the first grace_periods loaded
 *     periods of a view the backup only measures, afterwards it requires at least
 *     ratio × the best rate of the last `views_kept` views (this one included), a
 *     requirement raised ×1.01 per judged period so that every primary is eventually
 *     replaced.  A period in which the backup held no pending request is neither
 *     measured nor judged: the primary could not have done better.
 *   - the heartbeat: holding pending requests, the backup expects a new PRE-PREPARE
 *     (or an execution) at least every timeout_ms.
 * pbft_robust.c feeds them from the PBFT core and starts the view changes they call
 * for; docs/PROTOCOL.md ("Robust mode") gives the rules and where byzlab departs.
 */
#ifndef BYZLAB_PBFT_MONITOR_H
#define BYZLAB_PBFT_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "wire/wire.h"

#define PBFT_MONITOR_VIEWS WIRE_MAX_REPLICAS /* history: best rate of the last n views */
#define PBFT_MONITOR_GRACE 2                 /* loaded periods measured, not judged */
#define PBFT_MONITOR_RAISE_PERMILLE 1010     /* Aardvark: ×1.01 per period */
/* Judged periods in a row that must fall short before the backup votes (issue 16,
 * robust-tune): one pause of a loaded machine empties one period; a primary that
 * throttles on purpose falls short in every one. */
#define PBFT_MONITOR_STRIKES 2

struct pbft_monitor {
	uint32_t period_ms;
	uint32_t grace_periods;
	uint32_t ratio_permille; /* robust_ratio: share of the best recent rate required */
	uint32_t views_kept;     /* n: the views whose best rates set the requirement */
	uint64_t best[PBFT_MONITOR_VIEWS]; /* ring of the best rates of past views */
	uint32_t best_next, best_count;
	/* the current view */
	uint64_t period_start_ms;
	uint32_t loaded_periods; /* periods closed with pending requests */
	uint64_t done;           /* requests executed in the open period */
	bool pending;            /* we held a pending request in the open period */
	uint64_t view_best;      /* best rate measured in this view */
	uint64_t raise_permille; /* 1000, ×1.01 per judged period */
	uint64_t last_rate;      /* rate of the last loaded period (requests per period) */
	uint32_t short_streak;   /* judged periods in a row below the requirement */
};

/* Requires: period_ms > 0, 500 <= ratio_permille <= 1000, 1 <= views_kept <= PBFT_MONITOR_VIEWS. */
void pbft_monitor_init(struct pbft_monitor *m, uint32_t period_ms, uint32_t grace_periods,
		       uint32_t ratio_permille, uint32_t views_kept);
/* A view starts at now_ms: the last one's best rate goes into the history. */
void pbft_monitor_new_view(struct pbft_monitor *m, uint64_t now_ms);
/* count requests executed in the open period. */
void pbft_monitor_done(struct pbft_monitor *m, uint64_t count);
/* We held a pending request at some moment of the open period. */
void pbft_monitor_pending(struct pbft_monitor *m);
/* Close the open period if now_ms reached its end.  Returns true if it was judged and
 * fell short, as had the PBFT_MONITOR_STRIKES - 1 judged periods before it: the backup
 * should vote the primary out. */
bool pbft_monitor_tick(struct pbft_monitor *m, uint64_t now_ms);
/* End of the open period (a timer deadline). */
uint64_t pbft_monitor_deadline(const struct pbft_monitor *m);
/* Requests per period required now, ×1000 (0: nothing, e.g. in the grace period). */
uint64_t pbft_monitor_required_milli(const struct pbft_monitor *m);

struct pbft_heartbeat {
	uint32_t timeout_ms;
	uint64_t last_ms;  /* last PRE-PREPARE (or execution, or view start) */
	uint64_t since_ms; /* when requests started waiting */
	bool pending;
};

void pbft_heartbeat_init(struct pbft_heartbeat *h, uint32_t timeout_ms, uint64_t now_ms);
/* The primary showed life at now_ms: a new PRE-PREPARE, an execution, a new view. */
void pbft_heartbeat_beat(struct pbft_heartbeat *h, uint64_t now_ms);
/* Returns true if requests waited (pending) and no beat came for timeout_ms since
 * both the last beat and the moment they started waiting. */
bool pbft_heartbeat_expired(struct pbft_heartbeat *h, uint64_t now_ms, bool pending);
/* This backup was stalled from wake_ms to now_ms: that silence is not counted. */
void pbft_heartbeat_stalled(struct pbft_heartbeat *h, uint64_t wake_ms, uint64_t now_ms);
/* When it would expire (0: nothing pending, no deadline). */
uint64_t pbft_heartbeat_deadline(const struct pbft_heartbeat *h);

/* The per-request ordering deadline (robust mode, issue 16; Aardvark §4.2 with the
 * per-request timers of Prime and RBFT).  Clients send each request to the primary,
 * and to every replica once it is unanswered after an adaptive escalation deadline
 * (client_core.h); a backup watches each request it holds (at most one per client,
 * the newest: the wait queue's) until it sees it in a PRE-PREPARE:
 *   - on arrival it forwards the request to the primary (so the primary knows it,
 *     whatever the client did), once - or the driver did (a parked request);
 *   - at forward + deadline it is overdue: the primary is late.  The backup votes
 *     the primary out when it stays late: a request that reached it after the
 *     primary was first found late is overdue too (one stall makes the requests of
 *     its moment late together; a primary slow on purpose makes every later one late).
 * So a primary is judged only on requests it has had for a full deadline (a faulty
 * client that sends to the backups only cannot frame it), and a primary that holds
 * every PRE-PREPARE longer than escalation + deadline is replaced within about
 * 3 x deadline of its first requests: no history needed.  Pure: times come from the caller. */
#define PBFT_ORDER_BUCKETS 13 /* arrival -> PRE-PREPARE times: <1, <2, <4 .. <2048, more ms */
/* The relative deadline (issue 16, robust4; RBFT, Aublin et al., ICDCS'13, §IV-B, and
 * Aardvark §4.3's "the best of the last n views"): the deadline in force is
 * PBFT_ORDER_MULT x the best (lowest) relay -> PRE-PREPARE percentile measured under
 * the primaries of the last n views and this one, within [D / FLOOR_DIV, D].  A measure is
 * the PBFT_ORDER_PCT-th percentile of a window of PBFT_ORDER_WINDOW requests ordered
 * by one primary (bucket bound, ms); with no full window yet the deadline is D. */
#define PBFT_ORDER_WINDOW 16
#define PBFT_ORDER_PCT 90
#define PBFT_ORDER_MULT 2
/* never below D/2: network jitter, batching, a loaded machine's tail (D/3 deposed
 * correct primaries on the shared 2-core machine: docs/EXPERIMENTS.md §12.3) */
#define PBFT_ORDER_FLOOR_DIV 2

struct pbft_order_entry {
	uint64_t ts;       /* the watched request's timestamp (0: none) */
	uint64_t since_ms; /* when we got it (the watch starts) */
	uint64_t fwd_ms;   /* when we forwarded it to the primary */
	bool forwarded;
	uint64_t ordered_ts; /* highest timestamp of the client seen in a PRE-PREPARE */
	uint64_t parked_ts;  /* a request the driver parked and relayed: measured only */
	uint64_t parked_ms;  /* ... relayed then */
};

struct pbft_order_watch {
	uint32_t cap;         /* clients */
	uint32_t deadline_ms; /* in force: relative, within [floor_ms, max_ms] */
	uint32_t max_ms;      /* D = robust_heartbeat_ms: the absolute deadline, the cap */
	uint32_t floor_ms;    /* D / PBFT_ORDER_FLOOR_DIV */
	/* the history of the relative deadline: best window percentile (ms) per view */
	uint32_t views_kept; /* n: the last n views' primaries */
	uint64_t best[PBFT_MONITOR_VIEWS];
	uint32_t best_next, best_count;
	uint64_t view_best;               /* this view's best window (0: none yet) */
	uint32_t win[PBFT_ORDER_BUCKETS]; /* the open window's samples */
	uint32_t win_n;
	struct pbft_order_entry *e;
	uint64_t next_ms; /* nothing can be due before this (0: nothing watched) */
	uint64_t late_ms; /* the primary was first found late (a request overdue); 0: not */
	uint32_t relayed; /* watched requests forwarded to the primary, not ordered yet */
	uint64_t forwarded, overdue, late_streaks;
	uint64_t hist[PBFT_ORDER_BUCKETS]; /* arrival -> PRE-PREPARE of watched requests */
};

int pbft_order_init(struct pbft_order_watch *w, uint32_t clients, uint32_t deadline_ms);
void pbft_order_free(struct pbft_order_watch *w);
/* The relative deadline looks back over the last views_kept views (1..PBFT_MONITOR_VIEWS;
 * pbft_order_init: 1). */
void pbft_order_set_views(struct pbft_order_watch *w, uint32_t views_kept);
/* The deadline in force (ms): relative to the best recent primary (see above). */
uint32_t pbft_order_deadline_ms(const struct pbft_order_watch *w);
/* A backup queued client c's request ts at now_ms: watch it (unless a PRE-PREPARE
 * already carried it).  Replaces the client's older watched request.  relayed: the
 * driver already relayed it to the primary at now_ms (a parked request, released
 * later; now_ms is then the relay time, in the past); otherwise the next scan relays it. */
void pbft_order_request(struct pbft_order_watch *w, uint32_t c, uint64_t ts, uint64_t now_ms,
			bool relayed);
/* The driver parked client c's request ts and relayed it to the primary at now_ms,
 * unverified (replica/park.h): not watched - an unchecked signature blames nobody -
 * but its relay -> PRE-PREPARE is a sample of the relative deadline, so that the
 * requests a correct primary orders before their park ends are measured too. */
void pbft_order_parked(struct pbft_order_watch *w, uint32_t c, uint64_t ts, uint64_t now_ms);
/* Client c's request ts was in a PRE-PREPARE (or executed): no longer watched. */
void pbft_order_ordered(struct pbft_order_watch *w, uint32_t c, uint64_t ts, uint64_t now_ms);
/* A new view (or a new primary to judge): every watched request starts afresh, and
 * the last view's best measure goes into the relative deadline's history. */
void pbft_order_restart(struct pbft_order_watch *w, uint64_t now_ms);
/* Due work at now_ms: fills fwd[] (up to cap) with the clients whose request must go
 * to the primary now (marked forwarded), returns how many; *overdue: the primary
 * stays late (a request is still not ordered a deadline after its forward, and it
 * reached us after the primary was first found late). */
uint32_t pbft_order_scan(struct pbft_order_watch *w, uint64_t now_ms, uint32_t *fwd, uint32_t cap,
			 bool *overdue);
/* This backup was stalled from wake_ms to now_ms (its timer fired late: a loaded
 * machine, issue 16 robust-tune): the time it could not watch does not count against
 * the primary - every watched request's clock is moved on by the part of the stall it
 * waited through.  A uniformly slow machine stalls the primary as much; a primary slow
 * on purpose on a machine that keeps time gets nothing. */
void pbft_order_stalled(struct pbft_order_watch *w, uint64_t wake_ms, uint64_t now_ms);
/* Has a request we relayed to the primary waited half a deadline since, unordered?
 * (The monitor's "pending": what the primary could have ordered by now.) */
bool pbft_order_waiting(const struct pbft_order_watch *w, uint64_t now_ms);
/* Does a request we relayed to the primary still wait to be ordered? */
bool pbft_order_relayed(const struct pbft_order_watch *w);
/* Is the primary late now: was a request we relayed still unordered a full deadline
 * after the relay, at the last scan (evidence against this primary, not the machine)? */
bool pbft_order_late(const struct pbft_order_watch *w);
/* When scan next has something to do (0: nothing watched). */
uint64_t pbft_order_deadline(const struct pbft_order_watch *w);
/* The upper bound (ms) of the bucket holding the pct-th percentile (0: no sample). */
uint64_t pbft_order_percentile_ms(const struct pbft_order_watch *w, uint32_t pct);

#endif
