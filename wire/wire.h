/* wire.h - byzlab's wire format: one fixed header, typed bodies, an auth trailer.
 *
 * Every message on every socket (replica<->replica, client<->replica, admin) is
 *
 *     header (WIRE_HDR_LEN bytes) | body (body_len bytes) | auth (auth_len bytes)
 *
 * All integers are little-endian and are written and read field by field through
 * the cursor helpers below; no struct is ever cast onto network bytes.  The auth
 * trailer (signature or MAC authenticator) covers header+body; the header's
 * auth_kind and auth_len fields are set before the trailer is computed, so they are
 * authenticated too.  docs/PROTOCOL.md documents every message byte by byte.
 *
 * Decoding is the first line of defence against hostile peers: wire_decode() checks
 * magic, version, cluster id, type, every length against the bytes actually present
 * and against the hard limits below, and returns a negative WIRE_E* code on any
 * mismatch.  Decoded messages point into the caller's buffer (zero copy).
 */
#ifndef BYZLAB_WIRE_H
#define BYZLAB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC 0x314c5a42u /* "BZL1" as little-endian bytes */
#define WIRE_VERSION 1
#define WIRE_HDR_LEN 40

/* Hard limits: no peer can make us exceed these, whatever it claims. */
#define WIRE_MAX_REPLICAS 32        /* n <= 32, so f <= 10 for PBFT (issue 19) */
#define WIRE_MAX_CLIENTS 4096       /* client ids 0..4095 */
#define WIRE_MAX_OP 8192            /* bytes of one client operation */
#define WIRE_MAX_RESULT 8192        /* bytes of one reply result */
#define WIRE_MAX_BATCH 256          /* requests in one pre-prepare */
#define WIRE_MAX_STATUS 8192        /* bytes of a status JSON document */
#define WIRE_MAX_MSG (8u << 20)     /* any encoded message, auth included */
#define WIRE_MAX_PREPARED 4096      /* P-set entries in one VIEW-CHANGE (>= window) */
#define WIRE_STATE_CHUNK (1u << 20) /* bytes of snapshot in one STATE message */
#define WIRE_DIGEST_LEN 32          /* BLAKE2b-256 */
#define WIRE_SIG_LEN 64             /* Ed25519 */
#define WIRE_MAC_LEN 32             /* keyed BLAKE2b-256 */

/* Replica sets (quorum `seen` bits in the cores and auth, fault and liar id sets,
 * audit holders) are uint32_t bitmasks indexed by replica id: n may not pass 32. */
_Static_assert(WIRE_MAX_REPLICAS <= 32, "replica sets are uint32_t bitmasks");

enum msg_type {
	MSG_REQUEST = 1,      /* client -> replica: an operation, signed/MACed by the client */
	MSG_PREPREPARE = 2,   /* primary -> backups: (view, seq, batch of requests) */
	MSG_PREPARE = 3,      /* backup -> all: (view, seq, batch digest) */
	MSG_COMMIT = 4,       /* replica -> all: (view, seq, batch digest) */
	MSG_REPLY = 5,        /* replica -> client: result of an executed request */
	MSG_CHECKPOINT = 6,   /* replica -> all: (seq, state digest, snapshot size) */
	MSG_VIEWCHANGE = 7,   /* reserved: view change (PBFT §4.4) */
	MSG_NEWVIEW = 8,      /* reserved: new view (PBFT §4.4) */
	MSG_STATUS_REQ = 9,   /* anyone -> admin: empty body */
	MSG_STATUS_RESP = 10, /* admin -> anyone: JSON document */
	MSG_HELLO = 11,       /* client -> replica: "route my replies over this connection" */
	MSG_FETCH = 12,       /* replica -> replicas: "send me the batch with this digest" */
	MSG_BATCH = 13, /* replica -> replica: a batch (pre-prepare body), content-addressed */
	MSG_FETCH_STATE = 14, /* replica -> replica: a chunk of the snapshot at checkpoint seq */
	MSG_STATE = 15,       /* replica -> replica: that chunk */
	/* Viewstamped Replication Revisited (Liskov & Cowling 2012), wire/wire_vr.c */
	MSG_VR_PREPARE = 16,
	MSG_VR_PREPARE_OK = 17,
	MSG_VR_COMMIT = 18,
	MSG_VR_START_VIEW_CHANGE = 19,
	MSG_VR_DO_VIEW_CHANGE = 20,
	MSG_VR_START_VIEW = 21,
	MSG_VR_RECOVERY = 22,
	MSG_VR_RECOVERY_RESPONSE = 23,
	MSG_VR_GET_STATE = 24,
	MSG_VR_NEW_STATE = 25,
	/* admin plane: text body "k=v;k=v" (replica/faults.h), answered with a
	 * STATUS_RESP; unauthenticated like STATUS_REQ (the admin address is local and
	 * trusted: docs/PROTOCOL.md) */
	MSG_ADMIN_FAULTS = 26,
	MSG_PEER_STATUS = 27, /* replica -> replicas: (view, last executed, stable
			       * checkpoint) after a view timeout without progress */
	/* chained HotStuff (Yin et al., PODC 2019, Algorithm 3), wire/wire_hs.c */
	MSG_HS_PROPOSAL = 28, /* leader -> all: a block (parent, justify QC, batch) */
	MSG_HS_VOTE = 29,     /* replica -> next leader: a signed vote for a block */
	MSG_HS_NEWVIEW = 30,  /* replica -> leader of a new view: its highest QC */
	MSG_HS_FETCH = 31,    /* replica -> replica: "send me the block with this hash" */
	MSG_HS_BLOCK = 32,    /* replica -> replica: the answer, a sealed PROPOSAL inside */
	MSG_EVIDENCE = 33,    /* replica -> replicas: a proof of equivocation, as stored
			       * (replica/core/evidence.h; docs/PROTOCOL.md §12) */
	MSG_TYPE_MAX = 33
};

enum auth_kind {
	AUTH_NONE = 0,
	AUTH_SIG = 1,   /* Ed25519 signature, WIRE_SIG_LEN bytes */
	AUTH_MAC = 2,   /* authenticator: one WIRE_MAC_LEN MAC per replica 0..n-1 */
	AUTH_HYBRID = 3 /* a REQUEST in robust mode (issue 16): a signature, then an
			 * authenticator, both over the same bytes (crypto/auth.h) */
};

enum wire_err {
	WIRE_OK = 0,
	WIRE_E_SHORT = -1, /* fewer bytes than a header, or than the header claims */
	WIRE_E_MAGIC = -2,
	WIRE_E_VERSION = -3,
	WIRE_E_CLUSTER = -4,  /* traffic from another cluster */
	WIRE_E_TYPE = -5,     /* unknown message type */
	WIRE_E_TOOBIG = -6,   /* over a hard limit */
	WIRE_E_BODY = -7,     /* body does not parse for its type */
	WIRE_E_TRAILING = -8, /* bytes left over after header+body+auth */
	WIRE_E_AUTH = -9,     /* auth_kind/auth_len inconsistent */
	WIRE_E_NOMEM = -10    /* encoder: buffer would exceed WIRE_MAX_MSG */
};

struct msg_hdr {
	uint8_t type;      /* enum msg_type */
	uint8_t auth_kind; /* enum auth_kind */
	uint32_t cluster_id;
	uint32_t sender; /* replica id, or client id for REQUEST/HELLO */
	uint64_t view;
	uint64_t seq; /* PRE-PREPARE/PREPARE/COMMIT/CHECKPOINT: sequence number */
	uint32_t body_len;
	uint16_t auth_len;
	uint8_t flags; /* WIRE_F_*: 0 except a vouched COMMIT (WIRE_F_VOUCHED) */
};

/* Header byte 7 (flags; docs/PROTOCOL.md §3).  Only a COMMIT may carry one:
 * WIRE_F_VOUCHED marks a COMMIT that a replica sends for a slot it knows committed
 * but did not prepare in that view (§5.12, "vouching"), so that what it signs says
 * which rule it followed (forensics.h: the omission rule holds it to unflagged
 * COMMITs only).  Any other value, or a flag on another type, is WIRE_E_BODY. */
#define WIRE_F_VOUCHED 0x01u

/* Bodies.  Pointers point into the decoded buffer. */
struct body_request {
	uint64_t timestamp; /* per-client, strictly increasing (PBFT §4.1) */
	uint8_t flags;      /* REQ_F_* */
	uint32_t op_len;
	const uint8_t *op;
};
#define REQ_F_READONLY 0x01

struct body_preprepare {
	uint16_t count; /* 0 = null request (fills a gap after a view change) */
	/* each entry: a complete encoded REQUEST message, auth trailer included */
	const uint8_t *req[WIRE_MAX_BATCH];
	uint32_t req_len[WIRE_MAX_BATCH];
};

struct body_digest { /* PREPARE, COMMIT, FETCH: digest; CHECKPOINT: digest | size */
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t size; /* CHECKPOINT: bytes of the snapshot the digest is of; 0 for others */
};
/* A CHECKPOINT certifies its snapshot's size with its digest: state transfer takes no
 * other size (docs/PROTOCOL.md §5.3). */
#define WIRE_CKPT_BODY_LEN (WIRE_DIGEST_LEN + 8)

struct body_reply {
	uint32_t client;
	uint64_t timestamp;
	uint32_t result_len;
	const uint8_t *result;
};

#define WIRE_MAX_ADMIN 512 /* bytes of an ADMIN_FAULTS text */

/* The body of an EVIDENCE message is one proof (replica/core/evidence.h, which checks
 * that its EVIDENCE_MAX equals this): a 32-byte header and two statements of at most
 * header | digest | WIRE_MAX_REPLICAS MACs, each after a u16 length.  The wire checks the bounds
 * only; the PBFT core decodes and verifies the proof itself. */
#define WIRE_EVIDENCE_MIN (32 + 2 * (2 + WIRE_HDR_LEN + WIRE_DIGEST_LEN))
#define WIRE_EVIDENCE_MAX \
	(32 + 2 * (2 + WIRE_HDR_LEN + WIRE_DIGEST_LEN + WIRE_MAX_REPLICAS * WIRE_MAC_LEN))

struct body_text { /* STATUS_RESP, ADMIN_FAULTS */
	uint32_t len;
	const uint8_t *text;
};

struct msg;
struct buf;
struct cursor;
/* ---- view change, batch fetch and state transfer (wire/wire_vc.c) ----
 *
 * The auth trailer of a PRE-PREPARE covers header || BLAKE2b(body) instead of
 * header || body.  So the "compact" form - header, batch digest, auth trailer - can be
 * verified on its own, and prepared certificates in VIEW-CHANGE and the O set of
 * NEW-VIEW travel without their batches; replicas that lack a batch FETCH it by digest
 * (content addressed: any replica may answer, the digest proves the bytes). */
#define WIRE_CPP_LEN_MIN (WIRE_HDR_LEN + WIRE_DIGEST_LEN)

struct compact_pp {
	struct msg_hdr h; /* type PREPREPARE; body_len is the batch's */
	uint8_t digest[WIRE_DIGEST_LEN];
	const uint8_t *raw; /* header | digest | auth */
	uint32_t len;
	const uint8_t *auth;
};
/* Decode and check a compact pre-prepare (bounds, magic, cluster, type, auth fields). */
int wire_decode_cpp(const uint8_t *p, size_t len, uint32_t cluster_id, struct compact_pp *out);
/* Append the compact form of a sealed PRE-PREPARE (raw, with its body digest). */
void wire_put_cpp(struct buf *b, const uint8_t *pp_raw, size_t pp_len,
		  const uint8_t digest[WIRE_DIGEST_LEN]);
/* The bytes a PRE-PREPARE's auth covers: header (40) | digest (32). */
void wire_cpp_signed_bytes(const uint8_t *hdr, const uint8_t digest[WIRE_DIGEST_LEN],
			   uint8_t out[WIRE_CPP_LEN_MIN]);

/* Parse a batch (the body of a PRE-PREPARE or BATCH) on its own. */
int wire_decode_batch(const uint8_t *p, size_t len, uint32_t cluster_id,
		      struct body_preprepare *out);

/* VIEW-CHANGE body (header: view = the new view, seq = stable checkpoint h):
 *   n_ckpt u16, n_ckpt x (len u32, sealed CHECKPOINT for h)      -- the proof C
 *   n_prep u32, n_prep x P-entry                                 -- the set P
 *   P-entry: cpp_len u32, compact PRE-PREPARE, n u16, n x (len u32, sealed PREPARE) */
struct body_viewchange {
	uint16_t n_ckpt;
	const uint8_t *ckpt[WIRE_MAX_REPLICAS];
	uint32_t ckpt_len[WIRE_MAX_REPLICAS];
	uint32_t n_prepared;
	const uint8_t *pset; /* the P entries, to walk with wire_vc_next */
	size_t pset_len;
};
struct vc_prepared {
	struct compact_pp pp;
	uint16_t n_prep;
	const uint8_t *prep[WIRE_MAX_REPLICAS];
	uint32_t prep_len[WIRE_MAX_REPLICAS];
};
/* Walk the P entries of a decoded VIEW-CHANGE: init, then next until it returns 0
 * (end) or < 0 (cannot happen for a message wire_decode accepted). */
void wire_vc_begin(const struct msg *vc, struct cursor *c);
int wire_vc_next(struct cursor *c, uint32_t cluster_id, struct vc_prepared *e);

/* NEW-VIEW body (header: view = the new view, sender = its primary):
 *   n_vc u16, n_vc x (len u32, sealed VIEW-CHANGE)               -- the set V
 *   n_o u32, n_o x (len u32, compact PRE-PREPARE of the new view) -- the set O */
struct body_newview {
	uint16_t n_vc;
	const uint8_t *vc[WIRE_MAX_REPLICAS];
	uint32_t vc_len[WIRE_MAX_REPLICAS];
	uint32_t n_o;
	const uint8_t *oset;
	size_t oset_len;
};
void wire_nv_begin(const struct msg *nv, struct cursor *c);
int wire_nv_next(struct cursor *c, uint32_t cluster_id, struct compact_pp *e);

/* The largest NEW-VIEW (PBFT, OSDI'99 §4.4) a correct primary may have to send with n =
 * 3f+1 replicas and this window, in bytes, auth trailer included: 2f+1 VIEW-CHANGEs,
 * each with a checkpoint proof of n CHECKPOINTs and a prepared certificate (a compact
 * PRE-PREPARE and exactly 2f PREPAREs) for every slot of the window, and an O set of
 * `window` compact PRE-PREPAREs.  `sig`: 1 when these messages carry an Ed25519
 * signature (auth sig and mac), 0 for auth none.  docs/PROTOCOL.md §5.7. */
uint64_t wire_newview_worst(uint32_t n, uint32_t f, uint32_t window, int sig);
/* The largest window whose worst NEW-VIEW fits WIRE_MAX_MSG (0 if none does). */
uint32_t wire_window_max(uint32_t n, uint32_t f, int sig);

/* FETCH: header seq = n, body digest[32] (u.dg).  BATCH: header seq = n, body = a
 * batch (u.pp).  FETCH_STATE: header seq = checkpoint, body offset u64.
 * STATE: header seq = checkpoint, body total u64 | offset u64 | len u32 | chunk. */
struct body_state {
	uint64_t total;
	uint64_t offset;
	uint32_t len;
	const uint8_t *chunk;
};

/* Generic builder for the bodies above: wire_begin writes a header with body_len 0,
 * the caller appends the body with buf_put_*, wire_finish patches body_len. */
size_t wire_begin(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender, uint64_t view,
		  uint64_t seq);
void wire_finish(struct buf *b, size_t off);

/* ---- Viewstamped Replication (wire/wire_vr.c; docs/VR.md byte by byte) ----
 * Header view = the sender's view (the new view for the view-change messages); header
 * seq = the sender's op-number, except COMMIT (the commit-number) and GET-STATE (the
 * op-number up to which the requester already has the log).
 * A log section is lo u64 | n u32 | n x (view u64 | len u32 | batch): the entries of
 * op-numbers lo+1 .. lo+n; a batch has the PRE-PREPARE body layout (wire_decode_batch). */
struct body_vr {
	uint64_t commit;      /* PREPARE, DO-VIEW-CHANGE, START-VIEW, RECOVERY-RESPONSE,
				 * NEW-STATE: the sender's commit-number */
	uint64_t op;          /* COMMIT: the primary's op-number */
	uint64_t stamp;       /* COMMIT: the primary's clock; PREPARE-OK: the newest COMMIT
			       * stamp the backup holds (leader leases, docs/VR.md) */
	uint64_t last_normal; /* DO-VIEW-CHANGE: latest view in which it was normal */
	uint64_t nonce;       /* RECOVERY, RECOVERY-RESPONSE */
	uint8_t status;       /* RECOVERY-RESPONSE: 0 normal, 1 view change */
	const uint8_t *batch; /* PREPARE: the batch */
	uint32_t batch_len;
	uint64_t lo; /* log section (DO-VIEW-CHANGE, START-VIEW, NEW-STATE) */
	uint32_t n_entries;
	const uint8_t *entries; /* walk with wire_vr_next_entry */
	size_t entries_len;
	uint64_t ckpt;      /* GET-STATE, NEW-STATE: snapshot's checkpoint, 0 = none */
	uint64_t offset;    /* GET-STATE, NEW-STATE: byte offset in that snapshot */
	uint64_t total;     /* NEW-STATE: snapshot size */
	uint32_t chunk_len; /* NEW-STATE: <= WIRE_STATE_CHUNK */
	const uint8_t *chunk;
};
struct vr_log_entry {
	uint64_t view; /* view in which the entry's op-number was assigned */
	const uint8_t *batch;
	uint32_t len;
};
/* Walk the log section of a decoded VR message: begin, then next until it returns 0
 * (end); < 0 cannot happen for a message wire_decode accepted. */
void wire_vr_entries_begin(const struct msg *m, struct cursor *c);
int wire_vr_next_entry(struct cursor *c, struct vr_log_entry *e);

/* Body decoders for these types, called by wire_decode (wire_vc.c). */
int wire_body_vr(struct msg *m); /* every MSG_VR_* type (wire_vr.c) */
int wire_body_viewchange(struct msg *m);
int wire_body_newview(struct msg *m);
int wire_body_state(struct msg *m);

/* ---- chained HotStuff (wire/wire_hs.c; docs/PROTOCOL.md "HotStuff") ----
 * QC: view u64 | block hash[32] | count u16 | count x (replica u16 | Ed25519 sig[64]).
 * Each signature is the trailer of that replica's VOTE for (view, hash): a verifier
 * rebuilds the vote's signed bytes (wire_hs_vote_bytes) and checks it.  The genesis
 * QC is view 0, hash all zeros, count 0.
 * PROPOSAL: header view = v, seq = height; body parent[32] | QC | batch (the
 *   PRE-PREPARE body layout).  The block hash is BLAKE2b(view u64 | height u64 | body).
 * VOTE: header view = the block's view, seq 0; body hash[32].  Always signed.
 * NEWVIEW: header view = the view entered; body QC (the sender's highest).
 * FETCH: header view 0, seq 0; body hash[32]; answered with a BLOCK.
 * BLOCK: header view, seq of the proposal; body = the sealed PROPOSAL as its leader sent
 *   it (it verifies on its own: auth_verify checks both trailers). */
#define WIRE_HS_QC_ENTRY (2 + WIRE_SIG_LEN)
#define WIRE_HS_VOTE_LEN (WIRE_HDR_LEN + WIRE_DIGEST_LEN)
struct hs_qc {
	uint64_t view;
	uint8_t hash[WIRE_DIGEST_LEN];
	uint16_t count;
	uint16_t id[WIRE_MAX_REPLICAS];
	uint8_t sig[WIRE_MAX_REPLICAS][WIRE_SIG_LEN];
};
struct body_hs {
	const uint8_t *parent; /* PROPOSAL */
	const uint8_t *hash;   /* VOTE, FETCH */
	struct hs_qc qc;       /* PROPOSAL (justify), NEWVIEW */
	const uint8_t *batch;  /* PROPOSAL */
	uint32_t batch_len;
	const uint8_t *inner; /* BLOCK: the sealed PROPOSAL */
	uint32_t inner_len;
};
int wire_body_hs(struct msg *m);
void wire_put_hs_qc(struct buf *b, const struct hs_qc *qc);
/* The bytes replica r's VOTE signature covers: header (auth SIG, 64) | hash. */
void wire_hs_vote_bytes(uint32_t cluster_id, uint32_t replica, uint64_t view,
			const uint8_t hash[WIRE_DIGEST_LEN], uint8_t out[WIRE_HS_VOTE_LEN]);

struct msg {
	struct msg_hdr h;
	const uint8_t *raw; /* the whole message as received */
	size_t raw_len;
	const uint8_t *body; /* raw + WIRE_HDR_LEN */
	const uint8_t *auth; /* raw + WIRE_HDR_LEN + body_len */
	union {
		struct body_request req;
		struct body_preprepare pp;
		struct body_digest dg;
		struct body_reply rep;
		struct body_text text;
		struct body_viewchange vc;
		struct body_newview nv;
		struct body_state st;
		struct body_vr vr; /* every MSG_VR_* */
		struct body_hs hs; /* every MSG_HS_* */
		uint64_t offset;   /* FETCH_STATE */
		uint64_t low;      /* PEER_STATUS: the sender's stable checkpoint */
	} u;
};

/* Decode and validate `len` bytes.  Requires: cluster_id is ours.  Effects: fills *m
 * with pointers into buf; returns WIRE_OK or a negative enum wire_err.  Embedded
 * requests of a PRE-PREPARE are decoded and checked too (type, cluster, bounds). */
int wire_decode(const uint8_t *buf, size_t len, uint32_t cluster_id, struct msg *m);
/* The checks that need only the 40 header bytes at buf (magic, version, cluster, known
 * type, reserved bytes, auth kind/length); fills h.  Lengths are the caller's. */
int wire_read_header(const uint8_t *buf, uint32_t cluster_id, struct msg_hdr *h);
const char *wire_strerror(int err);
const char *wire_type_name(int type);

/* A growable output buffer with a hard cap (WIRE_MAX_MSG unless set larger). */
struct buf {
	uint8_t *p;
	size_t len, cap;
	size_t limit; /* hard cap on len; 0 means WIRE_MAX_MSG */
	int err;      /* sticky: set to WIRE_E_NOMEM on overflow */
};
/* Buffers that hold snapshots (state can outgrow any one message) use this cap. */
#define BUF_LIMIT_STATE (((size_t)1 << 30) + WIRE_MAX_MSG)
void buf_init(struct buf *b);
void buf_init_limit(struct buf *b, size_t limit);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t more);
void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);

/* Little-endian load/store helpers (used by codecs and snapshots). */
uint16_t get_u16(const uint8_t *p);
uint32_t get_u32(const uint8_t *p);
uint64_t get_u64(const uint8_t *p);
void set_u16(uint8_t *p, uint16_t v);
void set_u32(uint8_t *p, uint32_t v);
void set_u64(uint8_t *p, uint64_t v);

/* A bounds-checked reader: every get fails (and sets ok = 0) past the end. */
struct cursor {
	const uint8_t *p;
	size_t len, off;
	int ok;
};
void cur_init(struct cursor *c, const uint8_t *p, size_t len);
uint8_t cur_u8(struct cursor *c);
uint16_t cur_u16(struct cursor *c);
uint32_t cur_u32(struct cursor *c);
uint64_t cur_u64(struct cursor *c);
const uint8_t *cur_bytes(struct cursor *c, size_t n); /* NULL and ok=0 past the end */

/* Encoders.  Each appends one complete message WITHOUT auth (auth_kind NONE,
 * auth_len 0) to b and returns the offset where it starts; auth_seal() (crypto/auth.h)
 * then appends the trailer.  On overflow b->err is set and later calls do nothing. */
size_t wire_put_request(struct buf *b, uint32_t cluster_id, uint32_t client, uint64_t timestamp,
			uint8_t flags, const uint8_t *op, uint32_t op_len);
size_t wire_put_preprepare(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
			   uint64_t seq, uint16_t count, const uint8_t *const *req,
			   const uint32_t *req_len);
size_t wire_put_digest(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		       uint64_t view, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN]);
/* CHECKPOINT: the state digest at seq and the size of the snapshot it is the digest of. */
size_t wire_put_checkpoint(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
			   uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN], uint64_t size);
size_t wire_put_reply(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
		      uint32_t client, uint64_t timestamp, const uint8_t *result,
		      uint32_t result_len);
/* A REPLY's header seq says what its result field holds (PBFT §5.1.1, digest replies):
 * REPLY_FULL the result itself, REPLY_DIGEST its BLAKE2b-256 (exactly 32 bytes). */
#define REPLY_FULL 0
#define REPLY_DIGEST 1
size_t wire_put_reply_digest(struct buf *b, uint32_t cluster_id, uint32_t sender, uint64_t view,
			     uint32_t client, uint64_t timestamp,
			     const uint8_t digest[WIRE_DIGEST_LEN]);
size_t wire_put_empty(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		      uint64_t view, uint64_t seq); /* STATUS_REQ, HELLO */
size_t wire_put_text(struct buf *b, uint8_t type, uint32_t cluster_id, uint32_t sender,
		     const char *text, uint32_t len); /* STATUS_RESP */

/* Offsets of header fields, for auth_seal() and for the lying layer's rewrites. */
#define WIRE_OFF_MAGIC 0
#define WIRE_OFF_VERSION 4
#define WIRE_OFF_TYPE 5
#define WIRE_OFF_AUTH_KIND 6
#define WIRE_OFF_FLAGS 7
#define WIRE_OFF_CLUSTER 8
#define WIRE_OFF_SENDER 12
#define WIRE_OFF_VIEW 16
#define WIRE_OFF_SEQ 24
#define WIRE_OFF_BODY_LEN 32
#define WIRE_OFF_AUTH_LEN 36

#endif
