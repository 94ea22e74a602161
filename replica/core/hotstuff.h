/* hotstuff.h - internal state of the chained HotStuff core (Yin, Malkhi, Reiter, Gueta,
 * Abraham, "HotStuff: BFT Consensus with Linearity and Responsiveness", PODC 2019,
 * Algorithm 3 with the pacemaker of §6 / Algorithm 4), n = 3f+1.
 *
 * Files: hotstuff.c (lifecycle, dispatch, pacemaker, recovery, status),
 * hotstuff_chain.c (the block tree, proposals, votes, QCs, the lock and the
 * three-chain commit rule, execution).  docs/PROTOCOL.md "HotStuff" describes the
 * messages and the protocol as built.  Only hotstuff*.c include this header.
 *
 * Leader of view v proposes one block extending the highest QC it knows (its parent is
 * the QC's block); replicas vote (a signed VOTE) to the leader of v+1, which forms the
 * QC of v from 2f+1 votes and puts it in its own proposal.  Every QC moves the lock to
 * the justify of the certified block (two-chain) and commits on a three-chain of
 * direct parents with consecutive views.  A view without progress ends in a timeout:
 * NEW-VIEW(v+1, highQC) to the next leader, which proposes once it has 2f+1 of them.
 */
#ifndef BYZLAB_HOTSTUFF_H
#define BYZLAB_HOTSTUFF_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/core/core.h"
#include "replica/core/budget.h"
#include "replica/core/exec.h"
#include "replica/core/snapxfer.h"
#include "replica/core/waitq.h"

/* Persisted records (store keys are (kind, key)). */
enum hs_rec {
	HS_REC_META = 1,  /* key 0: view u64 | voted_view u64 | locked_view u64 | locked hash */
	HS_REC_SNAP = 2,  /* key height: block hash | view u64 | exec_snapshot() (the
			   * snapshot record: also what a state transfer carries) */
	HS_REC_BLOCK = 3, /* key height: the sealed PROPOSAL of a committed block */
	HS_REC_VOTED = 4, /* key view: the sealed PROPOSAL we voted for in that view */
};
/* META: view | voted_view | locked_view | locked hash | high QC (wire encoding) */
#define HS_META_FIXED (24 + WIRE_DIGEST_LEN)

/* Bounds.  The block store holds the uncommitted tree and the latest committed blocks
 * (served to replicas that FETCH them); a replica further behind than that fetches a
 * snapshot first (hotstuff_state.c). */
#define HS_MAX_BLOCKS 1024
#define HS_KEEP \
	512        /* committed blocks kept below the executed one (the default of
		     * core_config.hotstuff_keep, also its maximum) */
#define HS_SNAPS 2 /* snapshots kept in memory, served and announced: the newest two */
#define HS_MAX_SNAPSHOT ((uint64_t)1 << 30)
#define HS_STATE_COPIES 2       /* STATE chunks per asker and view timeout: 2 copies' worth */
#define HS_OFFERS_PER_TIMEOUT 4 /* answers to FETCH_STATE(0) per asker and view timeout */
#define HS_MAX_ORPHANS 32
#define HS_VOTE_SLOTS 8
#define HS_STABLE_SHIFT 16 /* hotstuff_leader = stable: a leader holds 2^16 views */

/* Planted bugs (simulator only, core_config.plant_bugs; tests/sim --plant-bug). */
#define HS_BUG_TWO_CHAIN_COMMIT 0x100u /* commit on a two-chain */
#define HS_BUG_IGNORE_LOCK 0x200u      /* vote whatever the lock says */

struct hs_block {
	bool used;
	uint8_t hash[WIRE_DIGEST_LEN];
	uint8_t parent[WIRE_DIGEST_LEN];
	uint64_t view, height;
	uint8_t *raw; /* the sealed PROPOSAL, owned; NULL for the root after recovery */
	uint32_t raw_len;
	uint32_t batch_off, batch_len; /* the batch inside raw */
	uint16_t count;                /* requests in the batch */
};

struct hs_rep_memo { /* hotstuff_leader.c: the active set of an anchor block */
	bool used;
	uint8_t anchor[WIRE_DIGEST_LEN];
	uint32_t active;
};
#define HS_REP_MEMO 4

struct hs_orphan { /* a proposal whose parent we do not have yet */
	uint8_t *raw;
	uint32_t len;
	uint32_t from;  /* who sent it: asked for the parent */
	uint32_t asked; /* bit r: we asked replica r for the parent */
};

struct hs_snap {                         /* a snapshot record we hold (HS_REC_SNAP), to serve */
	uint64_t height;                 /* 0: none */
	uint8_t digest[WIRE_DIGEST_LEN]; /* of the record's bytes */
	uint8_t *bytes;
	uint32_t len;
};

struct hs_claim {        /* a peer says it holds the snapshot record (height, digest, size) */
	uint64_t height; /* 0: none */
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t size;
};

struct hs_votes { /* votes for one (view, hash), collected as the next leader */
	bool used, done;
	struct hs_qc qc; /* view, hash, the signatures so far */
};

struct hs {
	struct core_config cfg;
	struct exec_state exec;
	uint64_t now_ms;

	uint64_t view;          /* the pacemaker's current view */
	uint64_t voted_view;    /* highest view we voted in (persisted before the vote) */
	uint64_t proposed_view; /* highest view we proposed in */
	struct hs_qc high_qc;   /* genericQC of Algorithm 3 */
	uint64_t locked_view;   /* b_lock: its view and hash */
	uint8_t locked_hash[WIRE_DIGEST_LEN];
	uint64_t exec_height; /* b_exec: the last committed and executed block */
	uint8_t exec_hash[WIRE_DIGEST_LEN];
	uint64_t exec_view;
	uint64_t snap_height;                 /* last snapshot persisted */
	uint8_t snap_digest[WIRE_DIGEST_LEN]; /* the state's digest there (status) */

	struct hs_block *blocks; /* HS_MAX_BLOCKS */
	struct hs_orphan orphans[HS_MAX_ORPHANS];
	uint32_t n_orphans;
	struct hs_votes votes[HS_VOTE_SLOTS];
	struct hs_qc pending_qc; /* a QC for a block we are fetching */
	bool has_pending_qc;
	bool pending_commits; /* pending_qc came in a proposal: the commit rule runs on it */
	uint64_t nv_of[WIRE_MAX_REPLICAS]; /* view of each replica's latest NEW-VIEW */
	uint64_t nv_sent_view, nv_sent_ms; /* our latest NEW-VIEW: its view, when */

	/* The proposal whose justify committed our executed block (its three-chain), as
	 * its leader sealed it: a replica whose NEW-VIEW shows it is behind gets it (in a
	 * BLOCK), at most once per view timeout (proof_ms). */
	uint8_t *commit_proof;
	uint32_t commit_proof_len;
	uint64_t commit_proof_qc_view; /* its justify's view */
	uint8_t *pending_proof;        /* the proposal pending_qc came in (pending_commits) */
	uint32_t pending_proof_len;
	uint64_t proof_ms[WIRE_MAX_REPLICAS];

	/* state transfer (hotstuff_state.c) */
	uint32_t keep;                  /* core_config.hotstuff_keep, or HS_KEEP */
	struct hs_snap snaps[HS_SNAPS]; /* [0] the newest */
	struct hs_claim claims[WIRE_MAX_REPLICAS][HS_SNAPS];
	uint64_t offers_ms; /* when we last asked for offers (FETCH_STATE 0); 0: not behind */
	struct snapxfer xfer;
	uint32_t xfer_silent; /* view timeouts without a chunk, in a row */
	struct budget state_budget[WIRE_MAX_REPLICAS];
	struct budget offer_budget[WIRE_MAX_REPLICAS];
	uint64_t states_installed, rejected_rate_limited;

	struct waitq wq;
	uint64_t *chain_ts; /* per client: highest timestamp in the uncommitted chain */
	const uint8_t *batch_req[WIRE_MAX_BATCH];
	uint32_t batch_len[WIRE_MAX_BATCH];
	uint32_t batch_client[WIRE_MAX_BATCH];

	uint64_t progress_ms; /* last vote or commit: the view timer runs from here */
	uint32_t streak;      /* timeouts since the last commit: the timeout doubles */
	uint64_t fetch_ms;    /* next FETCH retry for orphans */

	uint64_t requests_executed, view_timeouts, blocks_fetched, blocks_served;
	uint64_t rejected_old_view, rejected_out_of_window, rejected_conflict;
	struct buf scratch;
	struct hs_rep_memo rep_memo[HS_REP_MEMO]; /* hotstuff_leader.c */
	uint32_t rep_memo_next;
};

/* The leader of a view (hotstuff_leader.c: round robin, stable or reputation). */
uint32_t hs_leader(struct hs *p, uint64_t view);
bool hs_from_leader(struct hs *p, const struct msg *m);

static inline uint32_t hs_quorum(const struct hs *p)
{
	return p->cfg.n - p->cfg.f; /* 2f+1 with n = 3f+1 */
}

/* hotstuff.c */
void hs_send(struct hs *p, struct effects *out, int32_t to, size_t off);
void hs_persist_meta(struct hs *p, struct effects *out);
void hs_send_newview(struct hs *p, struct effects *out);
bool hs_work_pending(struct hs *p);

/* hotstuff_chain.c */
struct hs_block *hs_find(struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN]);
void hs_block_hash(uint64_t view, uint64_t height, const uint8_t *body, size_t len,
		   uint8_t out[WIRE_DIGEST_LEN]);
struct hs_block *hs_block_store(struct hs *p, const struct msg *m);
void hs_set_root(struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN], uint64_t view, uint64_t height);
void hs_on_request(struct hs *p, const struct msg *m, struct effects *out);
void hs_on_proposal(struct hs *p, const struct msg *m, struct effects *out);
void hs_take_proposal(struct hs *p, const struct msg *m, uint32_t from, struct effects *out);
void hs_on_vote(struct hs *p, const struct msg *m, struct effects *out);
void hs_on_newview(struct hs *p, const struct msg *m, struct effects *out);
void hs_on_fetch(struct hs *p, const struct msg *m, struct effects *out);
void hs_on_block(struct hs *p, const struct msg *m, struct effects *out);
void hs_update_qc(struct hs *p, const struct hs_qc *qc, struct effects *out);
void hs_try_propose(struct hs *p, struct effects *out);
void hs_fetch(struct hs *p, const uint8_t hash[WIRE_DIGEST_LEN], int32_t to, struct effects *out);
bool hs_chain_has_requests(struct hs *p);
int hs_replay_block(struct hs *p, const uint8_t *raw, size_t len);
int hs_recover_voted(struct hs *p, const uint8_t *raw, size_t len);
void hs_blocks_free(struct hs *p);
void hs_adopt_orphans(struct hs *p, struct effects *out);
void hs_fetch_orphan_parent(struct hs *p, struct effects *out);

/* hotstuff_state.c */
void hs_keep_snapshot(struct hs *p, uint64_t height, const uint8_t *rec, size_t len);
void hs_snaps_free(struct hs *p);
void hs_check_gap(struct hs *p, uint64_t height, struct effects *out);
void hs_on_fetch_state(struct hs *p, const struct msg *m, struct effects *out);
void hs_on_checkpoint(struct hs *p, const struct msg *m, struct effects *out);
void hs_on_state(struct hs *p, const struct msg *m, struct effects *out);
void hs_state_tick(struct hs *p, struct effects *out);
uint64_t hs_state_deadline(const struct hs *p);

#endif
