/* pbft.h - internal state of the PBFT core (Castro & Liskov, OSDI'99; TOCS'02).
 *
 * Files: pbft.c (lifecycle, dispatch, timers, recovery, status), pbft_normal.c
 * (request, pre-prepare, prepare, commit, execution: §4.2), pbft_checkpoint.c
 * (checkpoints, garbage collection, state transfer: §4.3, TOCS §6.2),
 * pbft_viewchange.c (view change, new view, batch fetch: §4.4-4.5), pbft_robust.c
 * with pbft_monitor.c (robust = on: backups watch the primary, Aardvark §4.3).
 * Only pbft*.c include this header.
 */
#ifndef BYZLAB_PBFT_H
#define BYZLAB_PBFT_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/core/ahead.h"
#include "replica/core/budget.h"
#include "replica/core/catchup.h"
#include "replica/core/core.h"
#include "replica/core/evidence.h"
#include "replica/core/exec.h"
#include "replica/core/snapxfer.h"
#include "replica/core/pbft_monitor.h"
#include "replica/core/waitq.h"

/* Robust mode (issue 16, pbft_robust.c): a backup's watch on its primary.  Memory
 * only: after a restart the watch starts afresh, as at the start of a view. */
struct pbft_robust {
	struct pbft_monitor mon;
	struct pbft_heartbeat hb;
	bool in_view; /* the watch runs for (view, active) */
	uint64_t view;
	uint64_t exec_seen;    /* requests_executed already counted */
	uint64_t pp_seq;       /* highest PRE-PREPARE number seen from this view's primary */
	uint64_t vc_monitor;   /* view changes started: throughput below the requirement */
	uint64_t vc_heartbeat; /* view changes started: no PRE-PREPARE in time */
	struct pbft_order_watch order; /* the per-request ordering deadline */
	uint64_t vc_request;           /* view changes started: a request not ordered in time */
	uint64_t wake_ms;       /* the core's timer after the last event: a later event = a stall */
	uint64_t last_event_ms; /* the last event's time: no stall is credited before it */
	uint64_t stall_ms;      /* this backup's own stalls credited to the watch (status) */
	uint64_t relayed_ms;    /* the event's relayed_ms (core.h), for pbft_robust_request */
};

/* Persisted record kinds (store keys are (kind, key)). */
enum pbft_rec {
	REC_META = 1,       /* key 0: view u64 | low u64 | view_active u8 */
	REC_SNAPSHOT = 2,   /* key seq: exec_snapshot() after executing seq */
	REC_PREPREPARE = 3, /* key seq: cpp_len u32 | compact PRE-PREPARE | batch (may be empty) */
	REC_PREPARED = 4,   /* key seq: the prepared certificate, as a VIEW-CHANGE P-entry,
			      * then its batch if we hold it */
	REC_COMMITTED = 5,  /* key seq: view u64 | digest: committed-local, executable */
	REC_CKPT_PROOF = 6, /* key 0: the C section (2f+1 CHECKPOINTs) proving `low` */
	REC_NEWVIEW = 7,    /* key 0: the NEW-VIEW of the view we entered last */
	REC_CAUGHT_UP = 8,  /* key 0: seq u64, the highest executed from another view's
			     * commit certificate (catchup.h): sets readonly_floor */
	REC_EVIDENCE = 9    /* key: the accused replica; the proof kept against it
			     * (evidence.h; pbft_evidence.c) */
};

/* A batch dropped with its slot when a NEW-VIEW did not choose it (drop_unchosen):
 * a later NEW-VIEW may still choose its certificate from a VIEW-CHANGE that kept it,
 * and then somebody correct must be able to answer a FETCH for it.  The newest
 * PBFT_RETIRED are kept, in memory only, while above the stable checkpoint. */
#define PBFT_RETIRED 16
struct retired_batch {
	uint64_t seq; /* 0: free */
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t *batch;
	uint32_t len;
};

/* Planted bugs (set only by the simulator; a replica has no way to set them): the
 * simulator's checkers must catch each one. */
#define PBFT_BUG_COMMIT_QUORUM_2F 0x1u /* commit with 2f instead of 2f+1 commits */
#define PBFT_BUG_SKIP_VC_CERTS 0x2u    /* new primary ignores prepared certificates */
#define PBFT_BUG_NO_PEER_STATUS 0x4u   /* PEER_STATUS is never answered */
#define PBFT_BUG_ACCUSE_ONE 0x8u       /* accuse the sender of any new PREPARE, on it alone */
#define PBFT_BUG_IGNORE_PROOFS 0x10u   /* keep and gossip proofs, never act on them */

/* Pipeline depth: with instances in flight, the primary starts a new one only for a
 * full batch and only while fewer than this many are unexecuted; otherwise requests
 * queue and form the next batch (core_may_start_batch).  This is what makes batching
 * adapt to load (batch of 1 when idle, batch_max when busy). */
#define PBFT_PIPELINE 4

/* What one answer to a PEER_STATUS may re-send (pbft_on_peer_status): at most this
 * many slots and, beyond the first slot, this many bytes.  The asker asks again after
 * its next view timeout without progress. */
#define PBFT_STATUS_SLOTS 256
#define PBFT_STATUS_BYTES ((size_t)4 << 20)

/* Serving what peers fetch (pbft_on_fetch, pbft_on_fetch_state) is rate-limited per
 * asking replica (budget.h), over a period of one view timeout (cfg.view_timeout_ms):
 *   - BATCH answers: at most PBFT_FETCH_BYTES of them, and at most `window` answers
 *     (each is charged at least PBFT_FETCH_BYTES / window): a laggard never needs more
 *     than the batches of its window, and it asks again every quarter view timeout;
 *   - STATE answers: at most PBFT_STATE_COPIES times the chunks of our snapshot: a
 *     whole transfer fits, with room for one restart.
 * Refusals count in rejected_rate_limited. */
#define PBFT_FETCH_BYTES ((uint64_t)16 << 20)
#define PBFT_STATE_COPIES 2

/* Largest snapshot accepted in state transfer (KV limit plus the client table). */
#define PBFT_MAX_SNAPSHOT ((size_t)1 << 30)

struct vote { /* one replica's PREPARE, COMMIT or CHECKPOINT */
	bool have;
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t size; /* CHECKPOINT: the snapshot size it certifies with the digest */
	uint8_t *raw;  /* the sealed message (PREPARE, CHECKPOINT: proofs), owned */
	uint32_t raw_len;
};

struct cert {          /* a prepared certificate, encoded as a P-entry */
	uint64_t view; /* 0 with bytes == NULL: none */
	uint8_t *bytes;
	uint32_t len;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t *batch; /* its batch, once a later pre-prepare took the slot's
				 * place: a NEW-VIEW may still choose this certificate */
	uint32_t batch_len;
};

struct slot {
	uint64_t seq;  /* 0: unused */
	uint64_t view; /* view of the accepted pre-prepare */
	bool have_pp;
	bool prepared;  /* pre-prepare + 2f matching prepares in `view` (§4.2) */
	bool committed; /* prepared + 2f+1 matching commits (§4.2) */
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t *cpp; /* compact pre-prepare of `view` (the primary's vote) */
	uint32_t cpp_len;
	uint8_t *batch; /* the batch with `digest`; NULL while it is fetched */
	uint32_t batch_len;
	struct cert cert; /* highest-view prepared certificate, for VIEW-CHANGE */
	struct vote prepare[WIRE_MAX_REPLICAS];
	struct vote commit[WIRE_MAX_REPLICAS];
	uint64_t helped_ms[WIRE_MAX_REPLICAS]; /* last time we re-sent our votes to each */
	/* issue 17: replicas shown our pre-prepare of `shown_view` after they voted for
	 * another digest (note_mismatch, pbft_normal.c) */
	uint32_t shown_pp;
	uint64_t shown_view;
};

struct ckpt_votes {   /* CHECKPOINT messages for one sequence number */
	uint64_t seq; /* 0: unused */
	bool mine;    /* we executed seq and took our own checkpoint */
	uint8_t own[WIRE_DIGEST_LEN];
	uint64_t own_size; /* bytes of our snapshot at seq */
	uint8_t *snap;     /* our snapshot at seq, owned until it becomes stable */
	uint32_t snap_len;
	struct vote from[WIRE_MAX_REPLICAS];
};

struct vc_msg { /* the latest VIEW-CHANGE of one replica */
	uint64_t view;
	uint8_t *raw;
	uint32_t len;
};

struct state_xfer {        /* fetching the snapshot of a proven checkpoint */
	struct snapxfer s; /* seq, digest and size (total) the proof certifies (snapxfer.h) */
	uint8_t *proof;    /* C section proving (seq, digest) */
	uint32_t proof_len;
};

struct pbft {
	struct core_config cfg;
	struct exec_state exec;
	uint64_t now_ms; /* time of the current event */
	uint64_t view;
	bool view_active; /* false between VIEW-CHANGE and NEW-VIEW (§4.4) */
	uint64_t low;     /* stable checkpoint: the low watermark h */
	uint64_t last_executed;
	uint64_t next_seq; /* primary: last sequence number assigned */
	uint8_t stable_digest[WIRE_DIGEST_LEN];
	uint8_t *stable_snap; /* exec snapshot at low (served in state transfer) */
	uint32_t stable_snap_len;
	uint8_t *ckpt_proof; /* C section proving low */
	uint32_t ckpt_proof_len;

	struct slot *slots;       /* window entries, indexed by seq % window */
	struct ckpt_votes *ckpts; /* window / checkpoint_interval + 2 entries */
	uint32_t n_ckpts;
	struct vote latest_ckpt[WIRE_MAX_REPLICAS]; /* newest CHECKPOINT per replica */

	/* requests waiting: at most one per client, FIFO by arrival (waitq.h) */
	struct waitq wq;
	uint64_t *proposed_ts; /* per client: highest timestamp put in a pre-prepare */
	const uint8_t *batch_req[WIRE_MAX_BATCH]; /* scratch for one batch */
	uint32_t batch_len[WIRE_MAX_BATCH];
	uint32_t batch_client[WIRE_MAX_BATCH];

	/* view change */
	struct vc_msg vcs[WIRE_MAX_REPLICAS];
	uint64_t vc_timer_ms; /* view-change timer deadline; 0: off */
	uint32_t vc_streak;   /* view changes since the last progress: timeout doubles */
	uint64_t nv_sent;     /* view whose NEW-VIEW we sent as its primary */
	uint8_t *nv_raw;      /* the NEW-VIEW of view nv_view (ours, or the one we
				 * accepted): re-sent to replicas that ask to join it */
	uint32_t nv_len;
	uint64_t nv_view;
	uint64_t seen_view[WIRE_MAX_REPLICAS];      /* highest view of each replica's
						* normal-case messages */
	uint64_t nv_answered_ms[WIRE_MAX_REPLICAS]; /* last NEW-VIEW re-sent to each */
	uint64_t proof_sent_ms[WIRE_MAX_REPLICAS];  /* last stable proof sent to each */
	uint64_t fetch_ms;    /* next retransmission of FETCHes for missing batches */
	uint64_t resend_ms;   /* next retransmission of our votes on waiting slots */
	uint64_t stall_ms;    /* behind a proven checkpoint: check for progress then */
	uint64_t stall_at;    /* pbft_progress_mark() when stall_ms was armed */
	uint64_t status_ms;   /* next PEER_STATUS check (pbft_normal.c) */
	uint64_t status_mark; /* pbft_progress_mark() at the previous check */
	uint64_t status_answered_ms[WIRE_MAX_REPLICAS]; /* last PEER_STATUS answered */
	struct state_xfer xfer;
	struct ahead ahead;     /* normal-case messages refused as beyond the window */
	uint64_t ahead_fed_low; /* low when they were last fed again (pbft.c) */
	struct catchup catchup; /* other views' COMMITs, to execute what they prove */
	struct retired_batch retired[PBFT_RETIRED]; /* batches of slots a NEW-VIEW dropped */
	uint32_t retired_next;

	struct budget fetch_budget[WIRE_MAX_REPLICAS]; /* BATCH answers, per asker */
	struct budget state_budget[WIRE_MAX_REPLICAS]; /* STATE answers, per asker */

	uint64_t rejected_old_view, rejected_out_of_window, rejected_conflict;
	uint64_t rejected_rate_limited; /* FETCH / FETCH_STATE left unanswered: budget */
	uint64_t requests_executed;
	uint64_t caught_up;         /* slots executed from another view's commit certificate */
	uint64_t readonly_answered; /* §5.1.3 read-only requests answered directly */
	uint64_t readonly_floor;    /* highest committed seq found on restart: no read-only
				     * answers until executed again (pbft_normal.c) */
	uint64_t view_changes;      /* views entered after the first */
	uint64_t vc_timer;          /* view changes started: the view timer expired */
	struct pbft_robust robust;  /* cfg.robust only */
	/* issue 17 (pbft_evidence.c): proofs held, per accused replica; a proof being
	 * built */
	struct evidence_table evidence;
	struct buf ev_buf;
	uint64_t ev_sent, ev_learnt, ev_duplicate, rejected_bad_evidence, ev_ignored, ev_vc;
	struct buf scratch;
};

static inline uint32_t pbft_primary(const struct pbft *p, uint64_t view)
{
	return (uint32_t)(view % p->cfg.n);
}

static inline bool pbft_is_primary(const struct pbft *p)
{
	return pbft_primary(p, p->view) == p->cfg.id;
}

static inline bool pbft_in_window(const struct pbft *p, uint64_t seq)
{
	return seq > p->low && seq <= p->low + p->cfg.window;
}

/* The first sequence number above both the low watermark and the last executed one:
 * where scans of unexecuted slots start.  (Normally last_executed >= low; a damaged
 * log can say otherwise, and a scan from last_executed would then run for ages.) */
static inline uint64_t pbft_first_open(const struct pbft *p)
{
	return (p->last_executed > p->low ? p->last_executed : p->low) + 1;
}

/* pbft.c */
struct slot *pbft_slot(struct pbft *p, uint64_t seq);      /* claims; NULL outside window */
struct slot *pbft_slot_peek(struct pbft *p, uint64_t seq); /* NULL unless it holds seq */
/* A retired batch (struct retired_batch) for (seq, digest), or NULL. */
const uint8_t *pbft_retired_batch(const struct pbft *p, uint64_t seq,
				  const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len);
void pbft_slot_clear(struct slot *s);
/* Our PREPARE or COMMIT for (view, seq, digest), sealed in p->scratch: its bytes (valid
 * until scratch is next used), or NULL with *len 0 if it could not be built. */
const uint8_t *pbft_seal_vote(struct pbft *p, uint8_t type, uint64_t view, uint64_t seq,
			      const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len);
/* The same for a COMMIT we vouch for (docs/PROTOCOL.md §5.12): flagged WIRE_F_VOUCHED in
 * the signed header, because we did not prepare the digest in that view. */
const uint8_t *pbft_seal_vouched(struct pbft *p, uint64_t view, uint64_t seq,
				 const uint8_t digest[WIRE_DIGEST_LEN], uint32_t *len);
void pbft_vote_set(struct vote *v, uint64_t view, const uint8_t *digest, const uint8_t *raw,
		   uint32_t raw_len);
void pbft_vote_clear(struct vote *v);
unsigned pbft_count_votes(const struct vote *v, uint32_t n, uint64_t view,
			  const uint8_t digest[WIRE_DIGEST_LEN]);
void pbft_send(struct pbft *p, struct effects *out, int32_t to, size_t off);
void pbft_persist_meta(struct pbft *p, struct effects *out);
uint64_t pbft_timeout_ms(const struct pbft *p);
void pbft_null_digest(uint8_t out[WIRE_DIGEST_LEN]);

/* pbft_normal.c */
void pbft_on_request(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_preprepare(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_prepare(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_commit(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_try_propose(struct pbft *p, struct effects *out);
void pbft_try_execute(struct pbft *p, struct effects *out, bool replying);
void pbft_check_prepared(struct pbft *p, struct slot *s, struct effects *out);
int pbft_install(struct pbft *p, struct slot *s, uint64_t view, const uint8_t *cpp,
		 uint32_t cpp_len, const uint8_t *batch, uint32_t batch_len);
const uint8_t *pbft_slot_batch(const struct slot *s, const uint8_t digest[WIRE_DIGEST_LEN],
			       uint32_t *len);
void pbft_persist_slot(struct pbft *p, const struct slot *s, struct effects *out);
void pbft_persist_cert(struct pbft *p, const struct slot *s, struct effects *out);
void pbft_send_vote(struct pbft *p, uint8_t type, const struct slot *s, struct effects *out);
void pbft_resend_arm(struct pbft *p);
void pbft_resend(struct pbft *p, struct effects *out);
void pbft_status_tick(struct pbft *p, struct effects *out);
void pbft_on_peer_status(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_send_stable_proof(struct pbft *p, uint32_t to, struct effects *out);

/* pbft_checkpoint.c */
void pbft_ckpt_clear(struct ckpt_votes *c);
void pbft_take_checkpoint(struct pbft *p, struct effects *out);
void pbft_on_checkpoint(struct pbft *p, const struct msg *m, struct effects *out);
/* Check a proof C for seq: 2f+1 to n CHECKPOINTs from distinct replicas, certifying
 * one (digest, size); fills both.  Returns 0, or -1. */
int pbft_check_ckpt_proof(struct pbft *p, const uint8_t *proof, size_t len, uint64_t seq,
			  uint8_t digest[WIRE_DIGEST_LEN], uint64_t *size);
void pbft_want_state(struct pbft *p, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		     uint64_t size, const uint8_t *proof, uint32_t proof_len, struct effects *out);
void pbft_on_fetch_state(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_state(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_xfer_tick(struct pbft *p, struct effects *out);
void pbft_stall_tick(struct pbft *p, struct effects *out);
/* Grows while we execute or receive state: the stall watchdog and PEER_STATUS compare
 * it across a view timeout (a sum, so an equal value may rarely hide progress). */
uint64_t pbft_progress_mark(const struct pbft *p);
void pbft_xfer_restart(struct pbft *p, struct effects *out);
void pbft_recover_checkpoint(struct pbft *p, uint64_t seq, const uint8_t *snap, size_t len);
bool pbft_own_ckpt_pending(const struct pbft *p);
void pbft_resend_checkpoints(struct pbft *p, struct effects *out);
void pbft_learn_stable(struct pbft *p, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		       uint64_t size, const uint8_t *proof, uint32_t proof_len,
		       struct effects *out);

/* pbft_viewchange.c */
void pbft_start_view_change(struct pbft *p, uint64_t view, struct effects *out);
/* Our VIEW-CHANGE for p->view (not active), built from what we hold, to all; kept in
 * vcs[id] (the NEW-VIEW we build and the re-sends use it). */
void pbft_send_viewchange(struct pbft *p, struct effects *out);
void pbft_on_viewchange(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_newview(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_fetch(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_on_batch(struct pbft *p, const struct msg *m, struct effects *out);
void pbft_fetch_missing(struct pbft *p, struct effects *out);
void pbft_update_vc_timer(struct pbft *p);
void pbft_note_view(struct pbft *p, uint32_t sender, uint64_t view, struct effects *out);
int pbft_newview_max_s(struct pbft *p, uint64_t *max_s);
/* After a state transfer: the kept NEW-VIEW's O entries the old window left out. */
void pbft_install_newview_rest(struct pbft *p, struct effects *out);
int pbft_recover_cert(struct pbft *p, uint64_t seq, const uint8_t *val, size_t len);

/* pbft_evidence.c (issue 17): proofs of equivocation, kept, persisted, gossiped
 * (MSG_EVIDENCE) and acted upon: a proven primary is voted out at once, a proven
 * replica's messages are ignored.  With cfg.evidence_off none of it runs. */
/* first and second: two statements (evidence.h) of one sender about one slot that
 * reached us authenticated; if they conflict, keep/count the proof. */
void pbft_evidence(struct pbft *p, const uint8_t *first, size_t first_len, const uint8_t *second,
		   size_t second_len, struct effects *out);
/* A second PRE-PREPARE m (body digest `digest`) for slot s's (view, seq). */
void pbft_evidence_pp(struct pbft *p, const struct slot *s, const struct msg *m,
		      const uint8_t digest[WIRE_DIGEST_LEN], struct effects *out);
/* The prepared certificates of a VIEW-CHANGE that passed validation, against what we
 * hold of the same (view, seq): the primary's pre-prepare and each backup's PREPARE. */
void pbft_evidence_vc(struct pbft *p, const struct msg *vc, struct effects *out);
/* PBFT_BUG_ACCUSE_ONE (simulator only): a "proof" from one PREPARE alone. */
void pbft_evidence_planted(struct pbft *p, const struct msg *m, struct effects *out);
int pbft_evidence_recover(struct pbft *p, const uint8_t *val, size_t len);
/* MSG_EVIDENCE: a proof another replica sent; believed only if it verifies. */
void pbft_on_evidence(struct pbft *p, const struct msg *m, struct effects *out);
/* True if m comes from a replica we hold a proof against: the caller drops it. */
bool pbft_evidence_ignores(struct pbft *p, const struct msg *m);
/* After each event: while the primary of our view is proven, vote for the next view. */
void pbft_evidence_step(struct pbft *p, struct effects *out);
void pbft_evidence_status(const struct pbft *p, struct core_status *st);

/* pbft_robust.c (cfg.robust only; with it off, none of these changes anything) */
int pbft_robust_init(struct pbft *p);
void pbft_robust_free(struct pbft *p);
/* After each event: feed the watch, start a view change if it calls for one. */
void pbft_robust_step(struct pbft *p, struct effects *out);
/* A PRE-PREPARE from sender passed the primary check (pbft_on_preprepare). */
void pbft_robust_saw_preprepare(struct pbft *p, const struct msg *m);
/* A backup queued client request m (pbft_on_request): watch its ordering. */
void pbft_robust_request(struct pbft *p, const struct msg *m);
/* The driver parked client's request ts and relayed it now (event parked_ts). */
void pbft_robust_parked(struct pbft *p, uint32_t client, uint64_t ts);
/* A batch (wire_decode_batch form) was installed, or a client's request ts executed:
 * its requests are ordered. */
void pbft_robust_ordered_batch(struct pbft *p, const uint8_t *batch, uint32_t len);
void pbft_robust_ordered(struct pbft *p, uint32_t client, uint64_t ts);
/* After waitq_prune(): stop watching what no longer waits. */
void pbft_robust_prune(struct pbft *p);
/* The watch's next deadline (0: none). */
uint64_t pbft_robust_deadline(const struct pbft *p);
void pbft_robust_status(const struct pbft *p, struct core_status *st);

#endif
