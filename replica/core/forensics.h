/* forensics.h - who broke safety (issue 17, item 3; "BFT Protocol Forensics", Sheng,
 * Wang, Nayak, Kannan, Viswanath, CCS 2021, the PBFT analysis with signatures).
 *
 * When more than f replicas lie, two correct replicas may commit different batches at
 * one sequence number.  The quorums that certified the two commits intersect in at
 * least f+1 replicas (2(2f+1) - (3f+1) = f+1), and each replica of the intersection
 * signed something no correct replica signs:
 *   same view v     a COMMIT (or PREPARE) for both digests at (v, seq): equivocation,
 *                   proven as in evidence.h (two statements, one (type, view, seq));
 *   views v < v'    a plain (not vouched) COMMIT for (v, seq, d) and a VIEW-CHANGE
 *                   for v' > v whose stable checkpoint is below seq and whose P set
 *                   carries no certificate for seq of view >= v (or one of view v for
 *                   another digest): it hid what it had prepared (PBFT §4.5.1: P holds
 *                   every prepared certificate above the checkpoint), so the NEW-VIEW
 *                   could re-assign the slot.  Two byzlab rules make this a proof:
 *                   a COMMIT sent without preparing ("vouching", docs/PROTOCOL.md
 *                   §5.12) carries WIRE_F_VOUCHED in its signed header and is not
 *                   used, and a replica keeps a prepared certificate that a NEW-VIEW
 *                   did not choose (drop_unchosen), as PBFT's P set does.
 *
 * A TRANSCRIPT is what one replica keeps for that analysis: the signed PRE-PREPAREs
 * (compact), PREPAREs, COMMITs and VIEW-CHANGEs it received or sent (the VIEW-CHANGEs
 * inside NEW-VIEWs too), for the slots of its last K checkpoints (transcript_trim),
 * deduplicated and bounded: at most TRANSCRIPT_MAX entries and TRANSCRIPT_MAX_BYTES
 * whatever peers send (further ones are counted in `dropped`, not kept).  Only signed statements are kept:
 * the analysis needs transferable ones (auth = sig).
 *
 * forensics_analyze() takes the transcripts of the replicas the auditor trusts and
 * returns, per accused replica, one proof; forensics_verify() re-checks a proof from
 * the public keys alone.  Proof encoding (little-endian, at most FORENSIC_PROOF_MAX):
 *   magic u32 "BZFP" | version u8 | kind u8 | 0 u16 | cluster u32 | accused u32
 *   | len_a u32 | a | len_b u32 | b
 *   kind 1 EQUIVOCATION  a = an evidence.h proof (BZEV), b empty
 *   kind 2 OMISSION      a = the accused's plain COMMIT, b = its VIEW-CHANGE
 * Pure: no IO, no globals, no clock (core library).
 */
#ifndef BYZLAB_FORENSICS_H
#define BYZLAB_FORENSICS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "replica/core/evidence.h"
#include "wire/wire.h"

#define FORENSIC_MAGIC 0x50465a42u /* "BZFP" as little-endian bytes */
#define FORENSIC_VERSION 1
#define FORENSIC_HDR_LEN 16
#define TRANSCRIPT_MAX 16384                    /* entries one transcript keeps at most */
#define TRANSCRIPT_MAX_BYTES ((size_t)32 << 20) /* and bytes (VIEW-CHANGEs are large) */
/* the largest proof: a COMMIT and a VIEW-CHANGE (bounded by the wire) */
#define FORENSIC_PROOF_MAX (FORENSIC_HDR_LEN + 8 + EVIDENCE_MAX + WIRE_MAX_MSG)

enum forensic_kind { FORENSIC_NONE = 0, FORENSIC_EQUIVOCATION = 1, FORENSIC_OMISSION = 2 };

struct tx_entry {
	uint8_t type;  /* PRE-PREPARE (compact), PREPARE, COMMIT or VIEW-CHANGE */
	uint8_t flags; /* the header's (WIRE_F_VOUCHED on a vouched COMMIT), else 0 */
	uint32_t sender;
	uint64_t view, seq;              /* a VIEW-CHANGE: its new view and stable checkpoint */
	uint8_t digest[WIRE_DIGEST_LEN]; /* a VIEW-CHANGE: of its bytes (dedup) */
	uint8_t *raw;
	uint32_t len;
};

struct transcript {
	struct tx_entry *e;
	size_t n, cap;
	uint32_t *idx;    /* dedup: open addressing, entry index + 1 (0: empty), or NULL */
	size_t idx_cap;   /* a power of two, at least 2 n */
	size_t bytes;     /* of the entries' raw copies */
	uint64_t dropped; /* entries refused: TRANSCRIPT_MAX or TRANSCRIPT_MAX_BYTES reached */
	uint32_t cluster_id;
};

void transcript_init(struct transcript *t, uint32_t cluster_id);
void transcript_free(struct transcript *t);
/* Keep what forensics needs of one message a replica received (after its edge
 * verified it) or sent: PREPARE/COMMIT/PRE-PREPARE/VIEW-CHANGE/NEW-VIEW, signed.
 * Anything else is ignored.  Returns how many entries were added. */
int transcript_add(struct transcript *t, const uint8_t *p, size_t len);
/* Forget the statements of slots at or below `seq`, and the VIEW-CHANGEs whose stable
 * checkpoint is (the last K checkpoints: the caller passes low - K * interval). */
void transcript_trim(struct transcript *t, uint64_t seq);
/* The slot the last K checkpoints start after: transcript_trim(t, that) keeps them;
 * 0 when nothing is to be forgotten yet (stable checkpoint `low`, interval, K). */
uint64_t transcript_horizon(uint64_t low, uint32_t interval, uint32_t k);

/* A transcript on disk (the real replica, replica/txlog.c; docs/PROTOCOL.md §12):
 * store records of kind TRANSCRIPT_REC (a driver's record: no core has that kind, the
 * driver keeps it from them), each a BLOCK of entries of one checkpoint interval, key
 * transcript_key(the interval's last slot, counter).  Block value, little-endian:
 *   magic u32 "BZTB" | count u32 | count x (len u32 | the entry's raw bytes)
 * (raw bytes as transcript_add made them: a compact PRE-PREPARE, a PREPARE or COMMIT as
 * sealed, a VIEW-CHANGE as received).  Keys sort by seq, so the records
 * transcript_trim(t, seq) forgets are exactly those with keys below
 * transcript_key(seq + 1, 0) when seq is a checkpoint (seqs beyond
 * TRANSCRIPT_KEY_SEQ_MAX share the last bucket, and are never trimmed in memory
 * either).  A value that is one entry alone (the format before blocks, or a test's) is
 * read as a block of one. */
#define TRANSCRIPT_REC 64
#define TRANSCRIPT_KEY_SEQ_MAX ((1ull << 40) - 1)
#define TRANSCRIPT_KEY_COUNTER_MASK ((1ull << 24) - 1)
#define TRANSCRIPT_BLOCK_MAGIC 0x42545a42u /* "BZTB" as little-endian bytes */
#define TRANSCRIPT_BLOCK_HDR 8
uint64_t transcript_key(uint64_t seq, uint64_t counter);
/* The last slot of seq's checkpoint interval (the seq of its block's key; 0 for 0). */
uint64_t transcript_bucket(uint64_t seq, uint32_t interval);
/* Add one entry's raw bytes back (after a restart, or in the audit).  Returns 1 if
 * added, 0 if not (a duplicate, full, or not an entry). */
int transcript_add_entry(struct transcript *t, const uint8_t *raw, size_t len);
/* Check a TRANSCRIPT_REC value whole (bounded: every length inside it, nothing left
 * over) and count its entries.  Returns the count, or -1 if it is not a block (nor
 * one entry alone): such a record is refused, nothing of it is used. */
long transcript_record_count(const uint8_t *val, size_t len);
/* Add a checked record's entries (transcript_add_entry each).  Returns how many were
 * added, or -1 if transcript_record_count refuses it (nothing added). */
long transcript_add_record(struct transcript *t, const uint8_t *val, size_t len);
/* The cluster the record's first entry names, for a reader that does not know it.
 * Returns 0, or -1 if the record is refused or empty. */
int transcript_record_cluster(const uint8_t *val, size_t len, uint32_t *cluster);

struct forensic_culprit {
	uint8_t kind; /* enum forensic_kind of the proof kept */
	uint32_t proofs;
	uint32_t by_kind[3]; /* proofs found, per enum forensic_kind */
	uint8_t *proof;      /* the first one found */
	uint32_t len;
};

struct forensic_report {
	uint32_t n;
	uint32_t named; /* replicas with at least one proof */
	struct forensic_culprit c[WIRE_MAX_REPLICAS];
};

/* Flags of forensics_analyze */
#define FORENSIC_BUG_ACCUSE_ONE 1 /* planted: each COMMIT's sender "proven" by it alone */
/* Ignored (omission proofs always name now).  It used to turn naming on OMISSION
 * proofs on: they were unsound while vouched COMMITs looked like prepared ones and
 * drop_unchosen forgot certificates (docs/TESTING.md "Forensics"). */
#define FORENSIC_OMISSIONS 2
/* Planted: the omission rule takes vouched COMMITs too (what it did before they were
 * flagged): a correct replica that vouched for a slot and left it out of its next
 * VIEW-CHANGE, as it may, is named (such a proof does not verify either). */
#define FORENSIC_BUG_VOUCHED_OMISSION 4

/* Analyse the transcripts of the trusted replicas.  Statements whose signature does
 * not verify with pk are ignored.  Returns 0, or -1 if memory ran out. */
int forensics_analyze(const struct transcript *const *ts, size_t count, uint32_t n,
		      const uint8_t pk[][CRYPTO_PK_LEN], int flags, struct forensic_report *r);
void forensic_report_free(struct forensic_report *r);

/* Re-check one proof from public keys alone.  Returns 0 if it holds (and sets
 * *accused and *kind), -1 otherwise. */
int forensics_verify(const uint8_t *p, size_t len, uint32_t n, const uint8_t pk[][CRYPTO_PK_LEN],
		     uint32_t *accused, int *kind);
const char *forensic_kind_name(int kind);

/* The parts of a proof, bounded (no signature is checked: forensics_verify does). */
struct forensic_proof {
	uint8_t kind;
	uint32_t cluster_id, accused;
	const uint8_t *a, *b;
	uint32_t a_len, b_len;
};
int forensics_decode(const uint8_t *p, size_t len, struct forensic_proof *out);

#endif
