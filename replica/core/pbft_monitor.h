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
 * fell short: the backup should vote the primary out. */
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
/* When it would expire (0: nothing pending, no deadline). */
uint64_t pbft_heartbeat_deadline(const struct pbft_heartbeat *h);

#endif
