/* budget.c - a token bucket per peer (see budget.h). */
#include "replica/core/budget.h"

#include "replica/core/assert.h"

/* After this many periods a budget is full again, whatever its level was. */
#define BUDGET_FULL_AFTER 16u

bool budget_take(struct budget *b, uint64_t now_ms, uint64_t cap, uint32_t period_ms, uint64_t cost)
{
	uint64_t period = period_ms ? period_ms : 1;
	if (cap > BUDGET_UNITS_MAX)
		cap = BUDGET_UNITS_MAX;
	if (cost > BUDGET_UNITS_MAX)
		cost = BUDGET_UNITS_MAX;
	int64_t full = (int64_t)(cap * period);
	/* a clock that went back (it should not) refills nothing */
	uint64_t elapsed = b->started && now_ms > b->at_ms ? now_ms - b->at_ms : 0;
	if (!b->started || elapsed >= BUDGET_FULL_AFTER * period) {
		b->level = full;
	} else {
		b->level += (int64_t)(elapsed * cap); /* < 2^36 * 2^26 */
		if (b->level > full)
			b->level = full;
	}
	CORE_ASSERT(b->level <= full);
	b->started = true;
	if (now_ms > b->at_ms)
		b->at_ms = now_ms;
	/* an answer dearer than the whole budget waits for a full one */
	int64_t price = (int64_t)(cost * period);
	if (b->level < (price < full ? price : full))
		return false;
	b->level -= price;
	CORE_ASSERT(b->level >= 0 || price > full); /* only a price over the cap overdraws */
	return true;
}
