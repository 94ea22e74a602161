/* vr.h - internal state of the Viewstamped Replication core (Liskov & Cowling,
 * "Viewstamped Replication Revisited", MIT-CSAIL-TR-2012-021), n = 2f+1.
 *
 * Files: vr.c (lifecycle, dispatch, timers, recovery of persisted records, status),
 * vr_normal.c (requests, PREPARE, PREPARE-OK, COMMIT, execution, checkpoints: §4.1),
 * vr_viewchange.c (START-VIEW-CHANGE, DO-VIEW-CHANGE, START-VIEW, moving to a newer
 * view: §4.2), vr_state.c (GET-STATE/NEW-STATE state transfer §5.2, RECOVERY §4.3).
 * docs/VR.md describes the messages byte by byte and the protocol as built.
 * Only vr*.c include this header.
 *
 * VR tolerates crashes, not lies: nothing here checks what another replica says
 * beyond the shape of its message.  That is the point of the comparison with PBFT.
 */
#ifndef BYZLAB_VR_H
#define BYZLAB_VR_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/core/core.h"
#include "replica/core/exec.h"
#include "replica/core/waitq.h"

/* Persisted record kinds (store keys are (kind, key)).  The records are exactly the
 * in-memory log: every change to the log is persisted in the step that makes it. */
enum vr_rec {
	VR_REC_META = 1,     /* key 0: view u64 | last_normal u64 | status u8 | lo u64 */
	VR_REC_SNAPSHOT = 2, /* key op: exec_snapshot() after executing op (checkpoint) */
	VR_REC_ENTRY = 3     /* key op: view u64 | batch (log entry op) */
};

enum vr_status { VR_NORMAL = 0, VR_VIEW_CHANGE = 1 };

/* Batching exactly as PBFT's primary does it (core_may_start_batch, PBFT_PIPELINE):
 * with nothing unexecuted a batch starts at once; otherwise only a full batch, while
 * fewer than this many are unexecuted; else requests queue for the next batch. */
#define VR_PIPELINE 4

/* Byte bounds.  Log sections (DO-VIEW-CHANGE, START-VIEW, NEW-STATE) carry a whole
 * log above its checkpoint and one message is at most WIRE_MAX_MSG, so the log's
 * bytes are bounded, not only its length (docs/VR.md, "Bounds"):
 *   a batch holds at most VR_BATCH_BYTES (or one request);
 *   a checkpoint is also taken once VR_CKPT_BYTES of batches executed since the last;
 *   the primary assigns an op-number only while its log stays within VR_LOG_BUDGET
 *   (>= VR_CKPT_BYTES + the largest batch, so it can always make progress);
 *   no replica holds a log above VR_LOG_MAX (>= VR_CKPT_BYTES + VR_LOG_BUDGET). */
#define VR_BATCH_BYTES ((uint64_t)256 << 10)
#define VR_CKPT_BYTES ((uint64_t)512 << 10)
#define VR_LOG_BUDGET ((uint64_t)1 << 20)
#define VR_LOG_MAX ((uint64_t)2 << 20)
#define VR_SNAP_MAX ((uint64_t)512 << 20) /* larger states are not checkpointed */
#define VR_ARENA_RESERVE ((size_t)64 << 10)

/* Leader leases (read_lease_ms > 0; docs/VR.md "Leader leases"; Chubby §2.10, Raft
 * thesis §6.4).  Safe while every replica's clock runs at a rate within
 * VR_LEASE_DRIFT_PCT percent of real time: the primary trusts only
 * read_lease_ms * (100 - D) / (100 + D) of its own clock, a new primary waits the full
 * read_lease_ms of its own.  The simulator's drift is +-10%, within this bound. */
#define VR_LEASE_DRIFT_PCT 12
/* Planted bugs (core_config.plant_bugs, simulator only): the checker must catch them. */
#define VR_BUG_LEASE_NO_WAIT 0x1u /* a new primary does not wait the old lease out */

struct vr_slot {        /* one log entry */
	uint64_t op;    /* 0: empty */
	uint64_t view;  /* view in which op was assigned */
	uint8_t *batch; /* owned */
	uint32_t len;
};

struct vr_dvc { /* a DO-VIEW-CHANGE received (or our own) */
	uint64_t view;
	uint8_t *raw;
	uint32_t len;
};

struct vr_xfer { /* GET-STATE in progress */
	bool active;
	uint32_t peer; /* asked now; another one after a timeout */
	bool has_hint; /* whom to ask first (who sent the log we adopted) */
	uint32_t hint;
	uint64_t retry_ms;
	uint64_t ckpt; /* snapshot being assembled (0: none) */
	uint64_t total, have;
	uint8_t *buf;
};

struct vr {
	struct core_config cfg;
	struct exec_state exec;
	uint64_t now_ms;

	/* VRR §4 replica state */
	uint64_t view;
	uint8_t status;         /* enum vr_status */
	uint64_t last_normal;   /* latest view in which status was normal */
	uint64_t op;            /* op-number: newest entry in the log */
	uint64_t commit;        /* commit-number: lo <= commit <= op */
	uint64_t last_executed; /* == commit, except in a hole (last_executed < lo) */

	/* the log holds op-numbers lo+1 .. op (op - lo <= window), by op % window.
	 * Everything at or below lo is committed.  lo >= ckpt; lo > last_executed is a
	 * "hole": state transfer must bring a snapshot at lo or later. */
	uint64_t lo;
	struct vr_slot *log;
	uint64_t log_bytes; /* batch bytes of the entries lo+1 .. op */
	uint64_t ckpt;      /* stable checkpoint: snapshot persisted at this op */
	uint8_t ckpt_digest[WIRE_DIGEST_LEN];
	uint8_t *ckpt_snap; /* that snapshot (served in state transfer), owned */
	uint32_t ckpt_snap_len;
	uint64_t exec_bytes; /* batch bytes executed since ckpt */

	/* primary */
	uint64_t acked[WIRE_MAX_REPLICAS]; /* highest PREPARE-OK per backup, this view */
	uint64_t last_bcast_ms;            /* last PREPARE/COMMIT/START-VIEW to the backups */
	/* leases (read_lease_ms > 0): the primary's side */
	uint64_t lease_from[WIRE_MAX_REPLICAS]; /* 1 + newest stamp each backup echoed, this
						 * view (0: none) */
	uint64_t view_started_ms;               /* when we became normal in this view */
	uint64_t view_start_op;    /* our op-number then: no lease read before it commits */
	uint64_t last_stamp_ms;    /* last COMMIT (stamped heartbeat) to the backups */
	uint64_t lease_wait_view;  /* new primary: the view whose old leases we wait out */
	uint64_t lease_wait_until; /* ... until this time of our clock */
	uint64_t reads_leased;     /* read-only requests answered from the lease */
	/* backup */
	uint64_t last_heard_ms; /* last message from the primary of this view */
	uint64_t lease_echo;    /* newest COMMIT stamp of this view's primary (0: none yet) */
	uint64_t seen_op;       /* highest op-number known to exist in this view */

	/* requests waiting: at most one per client, FIFO by arrival (waitq.h, as PBFT) */
	struct waitq wq;
	uint64_t *proposed_ts; /* per client: highest timestamp in the log */
	const uint8_t *batch_req[WIRE_MAX_BATCH];
	uint32_t batch_len[WIRE_MAX_BATCH];
	uint32_t batch_client[WIRE_MAX_BATCH];

	/* view change */
	uint64_t svc_view[WIRE_MAX_REPLICAS]; /* highest START-VIEW-CHANGE per replica */
	uint64_t dvc_sent;                    /* view whose DO-VIEW-CHANGE we sent (0: none) */
	struct vr_dvc dvc[WIRE_MAX_REPLICAS]; /* as the new primary */
	uint64_t vc_deadline_ms;
	uint32_t vc_streak; /* view changes since we were last normal: timeout doubles */

	struct vr_xfer xfer;
	bool recovered_any; /* recover() saw records: ask the others where they are */
	uint64_t nonce;     /* of our RECOVERY */

	uint64_t requests_executed;
	uint64_t rejected_old_view, rejected_out_of_window, rejected_conflict;
	struct buf scratch;
};

static inline uint32_t vr_primary(const struct vr *p, uint64_t view)
{
	return (uint32_t)(view % p->cfg.n); // NOLINT(clang-analyzer-core.DivideZero): n >= 3
}

static inline bool vr_is_primary(const struct vr *p)
{
	return vr_primary(p, p->view) == p->cfg.id;
}

static inline bool vr_in_hole(const struct vr *p)
{
	return p->last_executed < p->lo;
}

/* Normal in a view whose log we do not have yet: we learnt that view v started
 * without us (vr_saw_normal_view).  Until a replica normal in v sends us v's log
 * (NEW-STATE), our log is still that of last_normal: we neither accept PREPAREs nor
 * acknowledge, and a DO-VIEW-CHANGE of ours carries that older log under its true
 * last_normal view.  (Truncating to the commit-number and claiming v instead, as a
 * literal reading of VRR §5.2 suggests, can lose a committed op in the next view
 * change: the simulator found that.) */
static inline bool vr_syncing(const struct vr *p)
{
	return p->status == VR_NORMAL && p->last_normal < p->view;
}

/* vr.c */
void vr_send(struct vr *p, struct effects *out, int32_t to, size_t off);
/* A message only the primary of its view sends (PREPARE, COMMIT, START-VIEW): true if
 * it comes from that primary, in our view or a later one; else the refusal is counted
 * (rejected_conflict, rejected_old_view) and false. */
bool vr_from_primary(struct vr *p, const struct msg *m);
/* Keep snap[0..len) (handed over) as the checkpoint's snapshot, and its digest; the
 * checkpoint is at `seq`, where execution restarts its byte count. */
void vr_keep_snapshot(struct vr *p, uint64_t seq, uint8_t *snap, size_t len);
bool vr_room(const struct effects *out, size_t need);
void vr_persist_meta(struct vr *p, struct effects *out);
uint64_t vr_timeout_ms(const struct vr *p);
struct vr_slot *vr_slot(struct vr *p, uint64_t op);
int vr_log_append(struct vr *p, uint64_t view, const uint8_t *batch, uint32_t len,
		  struct effects *out);
void vr_log_truncate(struct vr *p, uint64_t keep, struct effects *out);
void vr_log_forget_upto(struct vr *p, uint64_t upto);
bool vr_log_fits(const struct vr *p, uint64_t op, uint32_t len);

/* vr_normal.c */
void vr_on_request(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_prepare(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_prepare_ok(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_commit(struct vr *p, const struct msg *m, struct effects *out);
void vr_try_propose(struct vr *p, struct effects *out);
void vr_execute(struct vr *p, struct effects *out);
void vr_execute_batch(struct vr *p, uint64_t op, uint64_t view, const uint8_t *batch, uint32_t len,
		      struct effects *out, bool replying);
void vr_learn_commit(struct vr *p, uint64_t k, struct effects *out);
void vr_send_prepare_ok(struct vr *p, struct effects *out);
void vr_send_heartbeat(struct vr *p, struct effects *out);
void vr_rebuild_proposed(struct vr *p);
bool vr_lease_holds(const struct vr *p);
uint64_t vr_lease_until_ms(const struct vr *p);
uint64_t vr_lease_renew_ms(const struct vr *p);
uint64_t vr_lease_wait_ms(const struct vr *p);

/* vr_viewchange.c */
void vr_start_view_change(struct vr *p, uint64_t view, struct effects *out);
void vr_send_svc(struct vr *p, struct effects *out);
void vr_on_svc(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_dvc(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_start_view(struct vr *p, const struct msg *m, struct effects *out);
void vr_saw_normal_view(struct vr *p, uint64_t view, struct effects *out);
void vr_dvc_clear(struct vr *p);
void vr_try_complete(struct vr *p, struct effects *out);
void vr_put_section(struct vr *p, struct buf *b, uint64_t from);

/* vr_state.c */
void vr_take_checkpoint(struct vr *p, struct effects *out);
void vr_xfer_kick(struct vr *p, struct effects *out);
void vr_xfer_tick(struct vr *p, struct effects *out);
void vr_xfer_reset(struct vr *p);
void vr_xfer_hint(struct vr *p, uint32_t peer);
void vr_on_get_state(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_new_state(struct vr *p, const struct msg *m, struct effects *out);
void vr_send_recovery(struct vr *p, struct effects *out);
void vr_on_recovery(struct vr *p, const struct msg *m, struct effects *out);
void vr_on_recovery_response(struct vr *p, const struct msg *m, struct effects *out);

#endif
