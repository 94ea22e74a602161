/* budget.h - a token bucket: how much a peer may make us send per unit of time.
 *
 * Why: some requests are cheap to send and dear to answer.  A FETCH (~100 bytes)
 * brings back a batch of up to ~2.2 MB, a FETCH_STATE a chunk of state of up to 1 MiB;
 * a peer asking in a loop would turn us into an amplifier, and burn our CPU sealing
 * the answers.  So a core gives each peer a budget: at most `cap` units, refilled at
 * `cap` units per `period_ms` of the core's clock (the `now` of its events, so the
 * core stays pure: no clock is read here).
 *
 * An answer is allowed once the budget holds its cost, and is charged it.  One dearer
 * than the whole cap is allowed once the budget is full (the level then goes below
 * zero and must refill first), so no answer is refused for ever.  Over any t ms a
 * peer gets at most max(cap, one answer's cost) + cap * t / period_ms units.
 */
#ifndef BYZLAB_BUDGET_H
#define BYZLAB_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Caps and costs are clamped to this (the arithmetic below stays within 64 bits). */
#define BUDGET_UNITS_MAX ((uint64_t)1 << 26)

struct budget {
	int64_t level;  /* in unit-milliseconds (units * period_ms): no rounding; below
			 * zero after an answer dearer than the cap */
	uint64_t at_ms; /* when it was last refilled */
	bool started;   /* false: never used, so full */
};

/* Refill b for the time since its last use; if it holds `cost` units (or is full,
 * for a cost above cap), charge them and return true, otherwise return false (nothing
 * charged). */
bool budget_take(struct budget *b, uint64_t now_ms, uint64_t cap, uint32_t period_ms,
		 uint64_t cost);

#endif
