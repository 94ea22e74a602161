/* ahead.h - peer messages a core refused because they lie above its window, kept so
 * that they can be fed again once the window moves.
 *
 * Why: a replica that catches up by state transfer has already refused the
 * PRE-PREPAREs and votes for the sequence numbers just above its new checkpoint, and
 * nothing sends them a second time; in an idle cluster it would never execute them.
 * A duplicate of an authenticated message is harmless to the core, so feeding one
 * again is safe.  Pure and bounded: at most AHEAD_MAX_MSGS messages and
 * AHEAD_MAX_BYTES bytes; when full, the lowest sequence numbers go first (low slots
 * are the ones peers are still re-sending to a laggard).  Each sender has a quota, so
 * that a liar's far-future votes cannot push out everybody else's, and a copy of a
 * message already kept is not kept twice.
 */
#ifndef BYZLAB_AHEAD_H
#define BYZLAB_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#define AHEAD_MAX_MSGS 1024
#define AHEAD_MAX_BYTES ((size_t)8 << 20)

struct ahead {
	uint8_t *msg[AHEAD_MAX_MSGS]; /* owned copies of sealed messages */
	uint32_t len[AHEAD_MAX_MSGS];
	uint64_t seq[AHEAD_MAX_MSGS];
	uint32_t sender[AHEAD_MAX_MSGS];
	uint32_t count;
	size_t bytes;
};

/* Keep a copy of p[0..len), sender's message for sequence number seq, holding at most
 * `quota` messages per sender (dropped if it does not fit). */
void ahead_keep(struct ahead *q, uint64_t seq, uint32_t sender, uint32_t quota, const uint8_t *p,
		size_t len);
/* Move everything kept into *taken (which the caller frees with ahead_free) and
 * leave q empty.  Returns 0, or -1 (q untouched) if out of memory. */
int ahead_take(struct ahead *q, struct ahead **taken);
void ahead_free(struct ahead *q);

#endif
