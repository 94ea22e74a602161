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
 * drive it the same way.  A lie that needs a valid signature is re-sealed with the
 * liar's own keys (auth_seal): it verifies as the liar's, never as anybody else's.
 *
 * Behaviours (product.md "Lying replicas"; README "Lying replicas" says what PBFT does
 * about each and what it costs):
 *   silent            receives, never sends
 *   equivocate        as primary, about half of the backups (alternating with the
 *                     sequence number) get a different PRE-PREPARE (PBFT) or PREPARE
 *                     (VR) for the same view and number: the batch without its last
 *                     request (the null request if it had one)
 *   bad-digest        its PREPAREs and COMMITs carry a fresh random digest (one that
 *                     matches no pre-prepare; a retransmission differs again)
 *   forge             next to each of its messages to replicas, a copy claiming to be
 *                     from another replica (a digest lie inside), sealed with the
 *                     liar's own key: a bad signature / MAC for the claimed sender
 *   replay            next to each of its messages to replicas, one of its own older,
 *                     validly sealed messages, from a ring of recent sends and a
 *                     uniform sample of everything it sent (BYZ_REPLAY_*)
 *   wrong-reply       replies carry a wrong result (a value changed, or OK <-> NOT_FOUND)
 *   slow-primary:MS   holds each of its PRE-PREPAREs (VR: PREPAREs) for MS ms; the
 *                     filter asks for a tick (out->timer_ms) when the first is due
 *   slow-primary:adaptive  (issue 16) as slow-primary, with a delay it adapts to
 *                     what it can see, probing for the most it can get away with:
 *                     while it leads a view it raises the delay every
 *                     BYZ_ADAPT_PERIOD_MS (by half until it was first replaced,
 *                     then a quarter of the way to the ceiling, at least 1 ms); a
 *                     delay held a whole period is its floor; when it is replaced
 *                     (one of its own messages speaks of a later view: it joined the
 *                     view change or took the NEW-VIEW) the delay it held becomes its
 *                     ceiling, and in its next view as primary it starts at the floor
 *                     and climbs to 31/32 of the ceiling (which creeps up by 1/32
 *                     per term, so a stale one is re-probed)
 *   fake-view-change  PBFT: its VIEW-CHANGEs carry an invented prepared certificate
 *                     (a pre-prepare and 2f prepares it signed itself, for a random
 *                     digest at the next sequence number).  VR: its DO-VIEW-CHANGEs
 *                     claim the newest possible normal view and one more op, and every
 *                     batch of the log without its last request; as a new primary its
 *                     START-VIEW carries the same altered batches
 *   flood:RATE        RATE extra messages per second to every peer: FETCHes and
 *                     PREPAREs for random digests near its current numbers, validly
 *                     sealed; at most BYZ_FLOOD_BURST per peer per step
 *   selective:IDS     its messages go only to the listed replicas (clients still get
 *                     replies)
 *   mac-poison:IDS    every copy of a MAC-authenticated message that goes to a replica
 *                     not in IDS has the authenticator slots of IDS garbled; the
 *                     replicas in IDS get correct copies.  So the others accept what
 *                     IDS would refuse, and keep it in the certificates they forward
 *                     (issue 14: a garbled slot inside a VIEW-CHANGE).  Signed messages
 *                     pass unchanged: a signature cannot be right for some and wrong
 *                     for others.  Once the view moves past the one it first poisoned
 *                     in, it falls silent, leaving IDS to need the poisoned others
 *   split:IDS         (PBFT, issue 17) shows the replicas in IDS a second world, with
 *                     another liar of the same IDS: as primary, IDS get the
 *                     PRE-PREPARE of equivocate's other batch (the batch without its
 *                     last request), the others the real one; its PREPAREs and
 *                     COMMITs to IDS carry the other batch's digest, which it derives
 *                     from every PRE-PREPARE it makes or receives (byz_observe), and
 *                     it relays no real PRE-PREPARE to IDS.  Two of them at f = 1
 *                     (0=split:2 and 3=split:2) are two quorums that share only liars:
 *                     replicas 1 and 2 commit different batches at one number
 *   hs-fork           (HotStuff, as the stable leader; replica/byz_hs_fork.c) once
 *                     its last four proposals would make their receivers commit,
 *                     shows the last one to f witnesses only and gives the 2f
 *                     others a fork below their lock (F1, then F2..F4 from the QCs
 *                     their votes make); only safeNode's lock rule stops it.  Needs
 *                     the votes it receives: the driver calls byz_observe()
 * Timed behaviours (slow-primary, flood) need the driver to step the core at
 * out->timer_ms (a tick is harmless to an honest core) and filter that step too:
 * held messages leave from the filter of a later step.
 */
#ifndef BYZLAB_BYZ_H
#define BYZLAB_BYZ_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/auth.h"
#include "replica/core/core.h"
#include "wire/wire.h"

#define BYZ_SPEC_MAX 128

#define BYZ_HOLD_MAX 1024              /* slow-primary: messages held at once ... */
#define BYZ_HOLD_BYTES (64u << 20)     /* ... and their bytes; beyond: dropped, counted */
#define BYZ_REPLAY_RECENT 64           /* replay: the latest sends ... */
#define BYZ_REPLAY_SAMPLE 64           /* ... and a uniform sample of all of them */
#define BYZ_REPLAY_MSG_MAX (64u << 10) /* larger messages are not kept for replay */
#define BYZ_FLOOD_BURST 1000           /* flood: messages per peer in one step */
#define BYZ_FLOOD_TICK_MS 10           /* flood: at most a tick this often */
#define BYZ_ADAPTIVE 0                 /* slow-primary's arg for "adaptive" */
#define BYZ_ADAPT_START_MS 10          /* slow-primary:adaptive: first delay ... */
#define BYZ_ADAPT_PERIOD_MS 250        /* ... raised this often while it leads */
#define BYZ_ADAPT_MAX_MS 600000
#define BYZ_HS_HEADS 4      /* fake-view-change (HotStuff): forks 3 proposals back */
#define BYZ_SPLIT_SLOTS 256 /* split: the (view, seq) whose other digest it remembers */

enum byz_behaviour {
	BYZ_HONEST = 0,
	BYZ_SILENT,
	BYZ_EQUIVOCATE,
	BYZ_BAD_DIGEST,
	BYZ_FORGE,
	BYZ_REPLAY,
	BYZ_WRONG_REPLY,
	BYZ_SLOW_PRIMARY, /* arg: delay in ms */
	BYZ_FAKE_VIEW_CHANGE,
	BYZ_FLOOD,        /* arg: messages per second per peer */
	BYZ_SELECTIVE,    /* peers: the replicas it still talks to */
	BYZ_MAC_POISON,   /* peers: the victims whose MAC slots it garbles for the others */
	BYZ_HS_FORK,      /* HotStuff: fork below the lock (byz_hs_fork.c) */
	BYZ_SPLIT,        /* peers: the replicas shown the other batch (issue 17) */
	BYZ_HS_FORK_HIGH, /* HotStuff: fork on the lock, one block higher (byz_hs_fork.c) */
	BYZ_COUNT
};

struct byz_cfg {
	enum byz_behaviour kind;
	uint32_t arg;   /* slow-primary: ms (BYZ_ADAPTIVE: adaptive); flood: rate */
	uint32_t peers; /* selective, mac-poison, split: bit i = replica i */
};

/* Parse "BEHAVIOUR[:ARG]" (e.g. "silent", "slow-primary:900", "selective:0,2").
 * Returns 0, or -1 with a message in err (unknown name, bad or missing argument). */
int byz_parse(const char *spec, struct byz_cfg *out, char *err, size_t errlen);
const char *byz_name(enum byz_behaviour b);
/* "silent, equivocate, ..." - the behaviours byz_parse accepts, for --help texts. */
const char *byz_implemented_list(void);

struct byz_held { /* slow-primary: a message waiting for due_ms */
	uint64_t due_ms;
	int32_t to;
	uint32_t client;
	uint8_t *p;
	uint32_t len;
};

struct byz_split { /* split: one slot's real digest and the one IDS are shown */
	uint64_t view, seq;
	uint8_t real[WIRE_DIGEST_LEN], other[WIRE_DIGEST_LEN];
};

struct byz_saved { /* replay: one of our own past messages */
	uint8_t *p;
	uint32_t len;
};

/* The lying layer of one replica. */
struct byz {
	struct byz_cfg cfg;
	uint32_t n, f, id, cluster_id;
	uint64_t rng;       /* splitmix64 state, for behaviours that pick at random */
	uint64_t lies;      /* messages rewritten, replaced, invented or withheld */
	uint64_t dropped;   /* slow-primary: held messages dropped at the bound */
	uint64_t view, seq; /* highest view and sequence number it spoke in */
	/* slow-primary: a FIFO (every message waits the same MS) */
	struct byz_held *held;
	uint32_t held_head, held_count;
	uint64_t held_bytes;
	/* replay */
	struct byz_saved recent[BYZ_REPLAY_RECENT];
	struct byz_saved sample[BYZ_REPLAY_SAMPLE];
	uint32_t recent_next;
	uint64_t saved_total; /* messages offered to the sample */
	/* flood */
	uint64_t flood_ms; /* flood messages are owed from this time on; 0: not yet */
	uint64_t forged;   /* forge: rotates the claimed sender */
	/* slow-primary:adaptive: the delay now, the one that got it replaced last (0:
	 * none yet), the view it leads (leading), when the delay was last raised */
	uint32_t delay_ms, ceiling_ms;
	uint32_t floor_ms; /* the highest delay held a whole period unreplaced */
	int leading;
	uint64_t lead_view, probe_ms, replaced;
	/* fake-view-change in HotStuff: parent | justify QC of its latest proposals */
	uint8_t *hs_head[BYZ_HS_HEADS];
	uint32_t hs_head_len[BYZ_HS_HEADS];
	uint64_t hs_head_height[BYZ_HS_HEADS];
	uint32_t hs_heads;       /* proposals seen */
	struct hs_fork *hs_fork; /* hs-fork's state (byz_hs_fork.c) */
	/* mac-poison: the view of its first poisoned message; silent in later views */
	int poisoned;
	uint64_t poison_view;
	/* split: a ring of the slots it knows the other digest of */
	struct byz_split *split;
	uint32_t split_next;
};

/* Returns 0, or -1 if cfg does not fit the cluster (e.g. a selective peer >= n). */
int byz_init(struct byz *b, const struct byz_cfg *cfg, uint32_t n, uint32_t id, uint32_t cluster_id,
	     uint64_t seed);
void byz_free(struct byz *b);

/* From the honest effects of one step, build in `out` (reset first) what the liar
 * does: the same persists and execution notes, the same timer (or an earlier one the
 * layer needs), and the lying sends, sealed with auth (the liar's own keys).  now_ms
 * is the clock the core was stepped with.  honest may be empty (a tick).
 * Returns 0, or -1 if out overflowed (effects_failed(out) is then true too). */
int byz_filter(struct byz *b, struct auth_ctx *auth, const struct effects *honest, uint64_t now_ms,
	       struct effects *out);

/* A message the liar's replica received (after its edge checks), for behaviours that
 * need what others say (hs-fork collects votes).  Call it before stepping the core
 * with m; what it learns leaves with that step's byz_filter(). */
void byz_observe(struct byz *b, const struct msg *m);

/* byz_hs_fork.c */
int byz_hs_fork_init(struct byz *b);
void byz_hs_fork_free(struct byz *b);
int byz_hs_fork_send(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		     struct effects *out);
void byz_hs_fork_observe(struct byz *b, const struct msg *m);
void byz_hs_fork_step(struct byz *b, struct auth_ctx *auth, struct effects *out);

#endif
