/* pbft_monitor.c - the robust mode's throughput monitor and heartbeat (Aardvark §4.3):
 * pure arithmetic over the times and counts pbft_robust.c feeds in.  Rules and
 * departures: pbft_monitor.h and docs/PROTOCOL.md ("Robust mode").
 */
#include <stdlib.h>
#include <string.h>

#include "replica/core/assert.h"
#include "replica/core/pbft_monitor.h"

void pbft_monitor_init(struct pbft_monitor *m, uint32_t period_ms, uint32_t grace_periods,
		       uint32_t ratio_permille, uint32_t views_kept)
{
	CORE_ASSERT(period_ms > 0 && ratio_permille <= 1000);
	CORE_ASSERT(views_kept >= 1 && views_kept <= PBFT_MONITOR_VIEWS);
	memset(m, 0, sizeof(*m));
	m->period_ms = period_ms;
	m->grace_periods = grace_periods;
	m->ratio_permille = ratio_permille;
	m->views_kept = views_kept;
	m->raise_permille = 1000;
}

void pbft_monitor_new_view(struct pbft_monitor *m, uint64_t now_ms)
{
	/* Only views that were measured under load enter the history: an idle view says
	 * nothing about what a primary can do. */
	if (m->loaded_periods > 0) {
		m->best[m->best_next] = m->view_best;
		m->best_next = (m->best_next + 1) % m->views_kept;
		if (m->best_count < m->views_kept)
			m->best_count++;
	}
	m->period_start_ms = now_ms;
	m->loaded_periods = 0;
	m->done = 0;
	m->pending = false;
	m->view_best = 0;
	m->raise_permille = 1000;
	m->short_streak = 0;
	CORE_ASSERT(m->best_count <= m->views_kept && m->best_next < m->views_kept);
}

void pbft_monitor_done(struct pbft_monitor *m, uint64_t count)
{
	m->done += count;
}

void pbft_monitor_pending(struct pbft_monitor *m)
{
	m->pending = true;
}

/* The best rate of the last views_kept views and of this one. */
static uint64_t best_recent(const struct pbft_monitor *m)
{
	uint64_t best = m->view_best;
	for (uint32_t i = 0; i < m->best_count; i++)
		if (m->best[i] > best)
			best = m->best[i];
	return best;
}

uint64_t pbft_monitor_required_milli(const struct pbft_monitor *m)
{
	if (m->loaded_periods < m->grace_periods)
		return 0; /* grace: measured only */
	/* rates are requests per period, small numbers: ×1000 keeps the ratio exact */
	return best_recent(m) * m->ratio_permille * m->raise_permille / 1000;
}

uint64_t pbft_monitor_deadline(const struct pbft_monitor *m)
{
	return m->period_start_ms + m->period_ms;
}

bool pbft_monitor_tick(struct pbft_monitor *m, uint64_t now_ms)
{
	if (now_ms < pbft_monitor_deadline(m))
		return false;
	const uint64_t rate = m->done;
	const bool loaded = m->pending;
	/* The next period starts now: after a gap without events (no ticks) the periods
	 * missed are not judged one by one, and the clock of the next is not behind. */
	m->period_start_ms = now_ms;
	m->done = 0;
	m->pending = false;
	if (!loaded)
		return false; /* no pending request: nothing was required */
	m->last_rate = rate;
	const uint64_t need = pbft_monitor_required_milli(m);
	const bool judged = m->loaded_periods >= m->grace_periods;
	m->loaded_periods++;
	if (judged && rate * 1000 < need)
		return ++m->short_streak >= PBFT_MONITOR_STRIKES;
	m->short_streak = 0;
	if (rate > m->view_best)
		m->view_best = rate;
	if (judged) /* Aardvark: raise the bar by 1% per period, so nobody stays for ever */
		m->raise_permille = (m->raise_permille * PBFT_MONITOR_RAISE_PERMILLE + 999) / 1000;
	CORE_ASSERT(m->raise_permille >= 1000 && m->loaded_periods > 0);
	return false;
}

void pbft_heartbeat_init(struct pbft_heartbeat *h, uint32_t timeout_ms, uint64_t now_ms)
{
	memset(h, 0, sizeof(*h));
	h->timeout_ms = timeout_ms;
	h->last_ms = now_ms;
}

void pbft_heartbeat_beat(struct pbft_heartbeat *h, uint64_t now_ms)
{
	if (now_ms > h->last_ms)
		h->last_ms = now_ms;
}

uint64_t pbft_heartbeat_deadline(const struct pbft_heartbeat *h)
{
	if (!h->pending)
		return 0;
	uint64_t from = h->last_ms > h->since_ms ? h->last_ms : h->since_ms;
	return from + h->timeout_ms;
}

bool pbft_heartbeat_expired(struct pbft_heartbeat *h, uint64_t now_ms, bool pending)
{
	if (!pending) {
		h->pending = false; /* nothing asked of the primary */
		return false;
	}
	if (!h->pending) {
		/* requests just started waiting: the primary gets a full timeout for them,
		 * however long it was idle before */
		h->pending = true;
		h->since_ms = now_ms;
	}
	return now_ms >= pbft_heartbeat_deadline(h);
}

/* ---- the per-request ordering deadline ---- */

int pbft_order_init(struct pbft_order_watch *w, uint32_t clients, uint32_t deadline_ms)
{
	memset(w, 0, sizeof(*w));
	w->e = calloc(clients ? clients : 1, sizeof(*w->e));
	if (!w->e)
		return -1;
	w->cap = clients;
	w->max_ms = deadline_ms ? deadline_ms : 1;
	w->deadline_ms = w->max_ms; /* no measure yet */
	w->floor_ms = w->max_ms / PBFT_ORDER_FLOOR_DIV;
	if (w->floor_ms < 1)
		w->floor_ms = 1;
	w->views_kept = 1;
	return 0;
}

void pbft_order_set_views(struct pbft_order_watch *w, uint32_t views_kept)
{
	CORE_ASSERT(views_kept >= 1 && views_kept <= PBFT_MONITOR_VIEWS);
	w->views_kept = views_kept;
	w->best_next = w->best_count = 0;
}

uint32_t pbft_order_deadline_ms(const struct pbft_order_watch *w)
{
	return w->deadline_ms;
}

void pbft_order_free(struct pbft_order_watch *w)
{
	free(w->e);
	w->e = NULL;
	w->cap = 0;
}

static void due_at(struct pbft_order_watch *w, uint64_t at)
{
	if (!w->next_ms || at < w->next_ms)
		w->next_ms = at;
}

void pbft_order_request(struct pbft_order_watch *w, uint32_t c, uint64_t ts, uint64_t now_ms,
			bool relayed)
{
	if (c >= w->cap)
		return;
	struct pbft_order_entry *e = &w->e[c];
	if (ts <= e->ordered_ts || ts <= e->ts)
		return; /* ordered before it reached us, or watched already */
	if (e->ts && e->forwarded)
		w->relayed--; /* replaced by the client's newer request */
	e->ts = ts;
	e->since_ms = now_ms;
	e->forwarded = relayed;
	if (relayed) { /* the driver relayed it at now_ms (parked, replica/park.h) */
		e->fwd_ms = now_ms;
		w->forwarded++;
		w->relayed++;
		due_at(w, now_ms + w->deadline_ms);
	} else {
		due_at(w, now_ms); /* relayed by the next scan */
	}
}

static uint32_t bucket(uint64_t ms)
{
	uint32_t b = 0;
	while (b + 1 < PBFT_ORDER_BUCKETS && ms >= (1ull << b))
		b++;
	return b;
}

/* The upper bound (ms) of the bucket holding the pct-th percentile of h (0: empty). */
static uint64_t hist_percentile(const uint64_t *h, uint32_t pct)
{
	uint64_t total = 0, seen = 0;
	for (uint32_t b = 0; b < PBFT_ORDER_BUCKETS; b++)
		total += h[b];
	if (!total)
		return 0;
	for (uint32_t b = 0; b < PBFT_ORDER_BUCKETS; b++) {
		seen += h[b];
		if (seen * 100 >= total * pct)
			return 1ull << b; /* bucket b holds [2^(b-1), 2^b) ms */
	}
	return 1ull << (PBFT_ORDER_BUCKETS - 1);
}

/* The deadline in force: PBFT_ORDER_MULT x the best measure of this view and the last
 * views_kept ones, within [floor_ms, max_ms].  max_ms until this view has a measure
 * of its own: a new primary gets a grace window (Aardvark §4.3's grace period) - the
 * burst of requests a view change leaves it is not its steady latency.  A deadline
 * that shrank may make watched requests due sooner: the next scan looks at once. */
static void relative_deadline(struct pbft_order_watch *w, uint64_t now_ms)
{
	uint64_t ref = w->view_best;
	for (uint32_t i = 0; ref && i < w->best_count; i++)
		if (w->best[i] < ref)
			ref = w->best[i];
	uint64_t d = w->max_ms;
	if (ref && ref * PBFT_ORDER_MULT < d)
		d = ref * PBFT_ORDER_MULT > w->floor_ms ? ref * PBFT_ORDER_MULT : w->floor_ms;
	if (d < w->deadline_ms && w->next_ms)
		due_at(w, now_ms);
	w->deadline_ms = (uint32_t)d;
}

/* One request ordered ms after its relay: a sample of this primary's ordering
 * latency; a full window is one measure, the view keeps its best (lowest). */
static void sample(struct pbft_order_watch *w, uint64_t ms, uint64_t now_ms)
{
	w->win[bucket(ms)]++;
	if (++w->win_n < PBFT_ORDER_WINDOW)
		return;
	uint64_t h[PBFT_ORDER_BUCKETS];
	for (uint32_t b = 0; b < PBFT_ORDER_BUCKETS; b++)
		h[b] = w->win[b];
	uint64_t pct = hist_percentile(h, PBFT_ORDER_PCT);
	if (!w->view_best || pct < w->view_best)
		w->view_best = pct;
	memset(w->win, 0, sizeof(w->win));
	w->win_n = 0;
	relative_deadline(w, now_ms);
}

void pbft_order_ordered(struct pbft_order_watch *w, uint32_t c, uint64_t ts, uint64_t now_ms)
{
	if (c >= w->cap)
		return;
	struct pbft_order_entry *e = &w->e[c];
	if (ts > e->ordered_ts)
		e->ordered_ts = ts;
	const bool watched = e->ts && ts >= e->ts;
	if (e->parked_ts && ts >= e->parked_ts) {
		if (!watched) /* a watched one is sampled below, from the same relay */
			sample(w, now_ms >= e->parked_ms ? now_ms - e->parked_ms : 0, now_ms);
		e->parked_ts = 0;
	}
	if (!watched)
		return;
	w->hist[bucket(now_ms >= e->since_ms ? now_ms - e->since_ms : 0)]++;
	const uint64_t relay = e->forwarded ? e->fwd_ms : e->since_ms;
	sample(w, now_ms >= relay ? now_ms - relay : 0, now_ms);
	if (e->forwarded)
		w->relayed--;
	e->ts = 0; /* the next scan recomputes next_ms */
}

void pbft_order_parked(struct pbft_order_watch *w, uint32_t c, uint64_t ts, uint64_t now_ms)
{
	if (c >= w->cap || ts <= w->e[c].ordered_ts || ts <= w->e[c].parked_ts)
		return;
	w->e[c].parked_ts = ts;
	w->e[c].parked_ms = now_ms;
}

void pbft_order_restart(struct pbft_order_watch *w, uint64_t now_ms)
{
	if (w->view_best) { /* the last primary's best goes into the history */
		w->best[w->best_next] = w->view_best;
		w->best_next = (w->best_next + 1) % w->views_kept;
		if (w->best_count < w->views_kept)
			w->best_count++;
	}
	w->view_best = 0;
	w->win_n = 0;
	memset(w->win, 0, sizeof(w->win));
	w->next_ms = 0;
	w->late_ms = 0;
	w->relayed = 0;
	for (uint32_t c = 0; c < w->cap; c++) {
		struct pbft_order_entry *e = &w->e[c];
		e->parked_ts = 0; /* relayed to the last primary: not this one's sample */
		if (!e->ts)
			continue;
		e->since_ms = now_ms;
		e->forwarded = false;
		due_at(w, now_ms); /* relayed to the new primary by the next scan */
	}
	relative_deadline(w, now_ms);
}

/* One watched request at now_ms: forward it (1), vote (-1), or wait until *due. */
static int scan_one(const struct pbft_order_watch *w, const struct pbft_order_entry *e,
		    uint64_t now_ms, uint64_t *due)
{
	if (!e->forwarded) {
		*due = e->since_ms; /* a request is relayed at once (pbft_monitor.h) */
		return now_ms >= *due ? 1 : 0;
	}
	*due = e->fwd_ms + w->deadline_ms;
	return now_ms >= *due ? -1 : 0;
}

/* The primary stays late: a request that reached us after the primary was first found
 * late (late_ms) is overdue as well.  One stall of the primary (or of the machine)
 * makes the requests of that moment late together; a primary slow on purpose makes
 * the later ones late too.  Ends when a scan finds nothing overdue. */
static bool stays_late(struct pbft_order_watch *w, uint64_t now_ms, bool any, uint64_t newest_late)
{
	if (!any) {
		w->late_ms = 0;
		return false;
	}
	if (!w->late_ms) {
		w->late_ms = now_ms;
		w->late_streaks++;
		return false;
	}
	return newest_late >= w->late_ms;
}

uint32_t pbft_order_scan(struct pbft_order_watch *w, uint64_t now_ms, uint32_t *fwd, uint32_t cap,
			 bool *overdue)
{
	*overdue = false;
	if (!w->next_ms || now_ms < w->next_ms)
		return 0;
	uint32_t k = 0;
	uint64_t newest_late = 0; /* arrival of the latest overdue request */
	bool any_late = false;
	w->next_ms = 0;
	for (uint32_t c = 0; c < w->cap; c++) {
		struct pbft_order_entry *e = &w->e[c];
		uint64_t due = 0;
		if (!e->ts)
			continue;
		int what = scan_one(w, e, now_ms, &due);
		if (what > 0 && k < cap) {
			fwd[k++] = c;
			e->forwarded = true;
			e->fwd_ms = now_ms;
			w->forwarded++;
			w->relayed++;
			due = now_ms + w->deadline_ms;
		} else if (what > 0) {
			due = now_ms; /* no room this time: the next scan */
		} else if (what < 0) {
			if (!any_late || e->since_ms > newest_late)
				newest_late = e->since_ms;
			any_late = true;
			due = now_ms + 1; /* watched until ordered: is the primary still late? */
		}
		due_at(w, due);
	}
	*overdue = stays_late(w, now_ms, any_late, newest_late);
	if (*overdue)
		w->overdue++;
	CORE_ASSERT(k <= cap);
	return k;
}

/* A clock started at t < now_ms, moved on by the part of [wake_ms, now_ms] after t. */
static uint64_t credit(uint64_t t, uint64_t wake_ms, uint64_t now_ms)
{
	if (t >= now_ms)
		return t;
	return t + (now_ms - (t > wake_ms ? t : wake_ms));
}

void pbft_order_stalled(struct pbft_order_watch *w, uint64_t wake_ms, uint64_t now_ms)
{
	if (!wake_ms || now_ms <= wake_ms)
		return;
	for (uint32_t c = 0; c < w->cap; c++) {
		struct pbft_order_entry *e = &w->e[c];
		if (!e->ts)
			continue;
		if (e->forwarded)
			e->fwd_ms = credit(e->fwd_ms, wake_ms, now_ms);
		else
			e->since_ms = credit(e->since_ms, wake_ms, now_ms);
	}
	if (w->late_ms)
		w->late_ms = credit(w->late_ms, wake_ms, now_ms);
	if (w->next_ms)
		w->next_ms = credit(w->next_ms, wake_ms, now_ms);
}

void pbft_heartbeat_stalled(struct pbft_heartbeat *h, uint64_t wake_ms, uint64_t now_ms)
{
	if (!wake_ms || now_ms <= wake_ms)
		return;
	h->last_ms = credit(h->last_ms, wake_ms, now_ms);
	if (h->pending)
		h->since_ms = credit(h->since_ms, wake_ms, now_ms);
}

bool pbft_order_late(const struct pbft_order_watch *w)
{
	return w->late_ms != 0;
}

bool pbft_order_waiting(const struct pbft_order_watch *w, uint64_t now_ms)
{
	const uint64_t half = w->max_ms / 2; /* the monitor's pending: D, not relative */
	for (uint32_t c = 0; w->relayed && c < w->cap; c++) {
		const struct pbft_order_entry *e = &w->e[c];
		if (e->ts && e->forwarded && now_ms >= e->fwd_ms + half)
			return true;
	}
	return false;
}

bool pbft_order_relayed(const struct pbft_order_watch *w)
{
	CORE_ASSERT(w->relayed <= w->cap);
	return w->relayed > 0;
}

uint64_t pbft_order_deadline(const struct pbft_order_watch *w)
{
	return w->next_ms;
}

uint64_t pbft_order_percentile_ms(const struct pbft_order_watch *w, uint32_t pct)
{
	return hist_percentile(w->hist, pct);
}
