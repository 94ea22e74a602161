/* evidence.h - proofs of equivocation (issue 17, first slice): two authenticated
 * statements of one replica that no correct replica makes.
 *
 * A "statement" is what a replica vouches for about one slot, in the bytes its auth
 * trailer covers, as received:
 *   PRE-PREPARE  its compact form (wire.h: header | batch digest | trailer; the
 *                trailer of a PRE-PREPARE covers exactly header | digest)
 *   PREPARE      the message as sent (header | digest | trailer)
 *   COMMIT       the message as sent (header | digest | trailer)
 * so every statement is  header (40) | digest (32) | trailer  and the trailer covers its
 * first 72 bytes.  A correct replica states at most one digest per (type, view, seq)
 * (PBFT §4.2: the primary assigns a number once in a view; a backup accepts one
 * pre-prepare per (view, seq) and so prepares and commits one digest there), so two
 * such statements with different digests prove a lie.
 *
 * Kind: a PROOF when both statements are signed (auth = sig; in mac mode PRE-PREPAREs
 * and PREPAREs are signed too, crypto/auth.h): anyone with the public keys re-checks it
 * (evidence_verify).  A SUSPICION otherwise (MAC authenticators, or no auth): the
 * holder checked them, but MACs convince nobody else (PBFT §2: not transferable).
 *
 * Encoding of a proof (little-endian, bounded by EVIDENCE_MAX):
 *   magic u32 "BZEV" | version u8 | kind u8 | type u8 | 0 u8 | cluster u32 | accused u32
 *   | view u64 | seq u64 | len_a u16 | statement a | len_b u16 | statement b
 * Pure: no IO, no globals (lives in the core library, used by the PBFT core, the
 * simulator's checker and the audit).
 */
#ifndef BYZLAB_EVIDENCE_H
#define BYZLAB_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "wire/wire.h"

#define EVIDENCE_MAGIC 0x56455a42u /* "BZEV" as little-endian bytes */
#define EVIDENCE_VERSION 1
#define EVIDENCE_HDR_LEN 32
/* the largest statement: a MAC authenticator with one slot per replica */
#define EVIDENCE_STMT_MAX (WIRE_CPP_LEN_MIN + WIRE_MAX_REPLICAS * WIRE_MAC_LEN)
#define EVIDENCE_MAX (EVIDENCE_HDR_LEN + 2 * (2 + EVIDENCE_STMT_MAX))

enum evidence_kind { EVIDENCE_NONE = 0, EVIDENCE_PROOF = 1, EVIDENCE_SUSPICION = 2 };

struct evidence_stmt {
	struct msg_hdr h;
	uint8_t digest[WIRE_DIGEST_LEN];
	const uint8_t *raw; /* header | digest | trailer */
	uint32_t len;
};

struct evidence { /* a decoded proof; statements point into its bytes */
	uint8_t kind, type;
	uint32_t cluster_id, accused;
	uint64_t view, seq;
	struct evidence_stmt a, b;
};

const char *evidence_kind_name(int kind); /* "proof", "suspicion", "none" */

/* Parse one statement (see above).  Returns 0, or -1 if it is not one. */
int evidence_stmt_parse(const uint8_t *p, size_t len, uint32_t cluster_id,
			struct evidence_stmt *out);

/* Do two statements (each authenticated by whoever received it) prove a lie: same
 * type, sender, view and seq, different digests, both authenticated?  Returns the
 * kind, or EVIDENCE_NONE. */
int evidence_conflict(const struct evidence_stmt *a, const struct evidence_stmt *b);

/* If statements a and b conflict, append their proof to out and return its kind;
 * else append nothing and return EVIDENCE_NONE. */
int evidence_make(struct buf *out, uint32_t cluster_id, const uint8_t *a, size_t a_len,
		  const uint8_t *b, size_t b_len);

/* Append a proof of `kind` without checking that a and b conflict (the encoder alone:
 * evidence_make uses it; so does a planted bug of the simulator). */
void evidence_encode(struct buf *out, int kind, const struct evidence_stmt *a,
		     const struct evidence_stmt *b);

/* Decode a proof, bounded: both statements parse, agree with the header, and the
 * header's kind is what evidence_conflict says of them.  Returns 0, or -1. */
int evidence_decode(const uint8_t *p, size_t len, struct evidence *e);

/* The accused and kind a proof's header claims, without decoding the statements or
 * checking anything else (cheap: to drop a duplicate before any signature check).
 * Returns 0, or -1 if p is not long enough or its magic or version is wrong. */
int evidence_peek(const uint8_t *p, size_t len, uint32_t *accused, uint8_t *kind);

/* Re-check a proof from the replicas' public keys alone: it decodes, is a PROOF, the
 * accused is < n, both signatures are the accused's and the statements conflict.
 * Returns 0 if it holds, -1 otherwise (a suspicion never holds: MACs are not
 * transferable). */
int evidence_verify(const uint8_t *p, size_t len, uint32_t n, const uint8_t pk[][CRYPTO_PK_LEN]);

/* What one replica holds: per accused replica, how many conflicting statements it saw
 * and the first proof (a PROOF replaces a SUSPICION).  Bounded: n entries of at most
 * EVIDENCE_MAX bytes. */
struct evidence_table {
	uint64_t count[WIRE_MAX_REPLICAS];
	uint8_t kind[WIRE_MAX_REPLICAS];
	uint8_t *proof[WIRE_MAX_REPLICAS];
	uint32_t len[WIRE_MAX_REPLICAS];
};

/* Count a proof (as evidence_make wrote it).  Returns 1 if it is now the one kept for
 * its accused (the first, or a proof replacing a suspicion: persist it), 0 if only
 * counted, -1 if it does not decode or memory ran out. */
int evidence_note(struct evidence_table *t, const uint8_t *proof, size_t len);
/* After a restart: keep a persisted proof (count at least 1).  Returns 0, or -1. */
int evidence_restore(struct evidence_table *t, const uint8_t *proof, size_t len);
void evidence_table_free(struct evidence_table *t);

#endif
