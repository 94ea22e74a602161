/* byz.h - the lying layer: an honest core's effects in, a liar's effects out.
 *
 * A lying replica runs the honest protocol core unchanged (no `if (byzantine)` in any
 * core, architecture.md "Lies are layered"); its driver passes the effects of every
 * step through byz_filter(), which rewrites what leaves the replica:
 *
 *     core step -> honest effects -> byz_filter() -> persist (unchanged) -> send (lies)
 *
 * Persist effects are copied untouched (a liar keeps an honest log, so it can lie
 * consistently after a restart), so are the execution notes; only sends change.  The
 * filter is pure apart from its own state in struct byz (no clock: now_ms is passed
 * in; no randomness but the seed it was given), so the simulator and the real replica
 * drive it the same way.
 *
 * Behaviours (product.md "Lying replicas"):
 *   silent            receives, never sends
 *   equivocate        as primary, about half of the backups (alternating with the
 *                     sequence number) get a different PRE-PREPARE for the same view
 *                     and sequence number: the batch reversed, or emptied (the null
 *                     request) if it has one request; validly sealed by the liar
 *   bad-digest, forge, replay, wrong-reply, slow-primary:MS, fake-view-change,
 *   flood:RATE, selective:IDS
 *                     parsed and reserved; byz_parse() refuses them until their
 *                     mutator is written (set `implemented` in byz.c's table).
 * Adding one: a case in byz_filter() (timed behaviours - slow-primary, flood - hold
 * messages in struct byz and ask for a tick through out->timer_ms).
 */
#ifndef BYZLAB_BYZ_H
#define BYZLAB_BYZ_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/auth.h"
#include "replica/core/core.h"
#include "wire/wire.h"

#define BYZ_SPEC_MAX 128

enum byz_behaviour {
	BYZ_HONEST = 0,
	BYZ_SILENT,
	BYZ_EQUIVOCATE,
	BYZ_BAD_DIGEST,
	BYZ_FORGE,
	BYZ_REPLAY,
	BYZ_WRONG_REPLY,
	BYZ_SLOW_PRIMARY,       /* arg: delay in ms */
	BYZ_FAKE_VIEW_CHANGE,
	BYZ_FLOOD,              /* arg: messages per second per peer */
	BYZ_SELECTIVE,          /* peers: the replicas it still talks to */
	BYZ_COUNT
};

struct byz_cfg {
	enum byz_behaviour kind;
	uint32_t arg;           /* slow-primary: ms; flood: rate */
	uint32_t peers;         /* selective: bit i = replica i */
};

/* Parse "BEHAVIOUR[:ARG]" (e.g. "silent", "slow-primary:900", "selective:0,2").
 * Returns 0, or -1 with a message in err (unknown name, bad or missing argument,
 * or a behaviour whose mutator is not written yet). */
int byz_parse(const char *spec, struct byz_cfg *out, char *err, size_t errlen);
const char *byz_name(enum byz_behaviour b);
/* "silent, equivocate" - the behaviours byz_parse accepts, for --help texts. */
const char *byz_implemented_list(void);

/* The lying layer of one replica. */
struct byz {
	struct byz_cfg cfg;
	uint32_t n, id, cluster_id;
	uint64_t rng;           /* splitmix64 state, for behaviours that pick at random */
	uint64_t lies;          /* messages rewritten, replaced or withheld */
	struct buf scratch;
};

/* Returns 0, or -1 if cfg does not fit the cluster (e.g. a selective peer >= n). */
int byz_init(struct byz *b, const struct byz_cfg *cfg, uint32_t n, uint32_t id,
	     uint32_t cluster_id, uint64_t seed);
void byz_free(struct byz *b);

/* From the honest effects of one step, build in `out` (reset first) what the liar
 * does: the same persists and execution notes, the same timer (or an earlier one the
 * layer needs), and the lying sends, sealed with auth (the liar's own keys).
 * Returns 0, or -1 if out overflowed (effects_failed(out) is then true too). */
int byz_filter(struct byz *b, struct auth_ctx *auth, const struct effects *honest,
	       uint64_t now_ms, struct effects *out);

#endif
