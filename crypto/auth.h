/* auth.h - sealing (adding the auth trailer) and verifying messages.
 *
 * Policy (PBFT §2 and §4.4, the MAC variant of Castro-Liskov TOCS'02):
 *   auth mode sig  : every message carries an Ed25519 signature of its sender.
 *   auth mode mac  : REQUEST, COMMIT, REPLY, HELLO (and FETCH, BATCH, state transfer)
 *                    carry an authenticator (one MAC per replica 0..n-1; a REPLY
 *                    carries one MAC, for its client, in slot 0); CHECKPOINT,
 *                    VIEW-CHANGE, NEW-VIEW, and PRE-PREPARE and PREPARE (the parts of a
 *                    prepared certificate) stay signed, because they are forwarded as
 *                    proofs (docs/PROTOCOL.md §6.1).  A client may sign a REQUEST
 *                    (auth_seal_signed), and must once a replica suspects it (§6.2).
 *   auth mode none : no trailer (measurement only; never safe against liars).
 *   STATUS_REQ / STATUS_RESP / ADMIN_FAULTS are never authenticated (admin plane:
 *                    local and trusted, see docs/PROTOCOL.md).
 * A message whose auth_kind differs from what the policy demands is rejected.
 */
#ifndef BYZLAB_AUTH_H
#define BYZLAB_AUTH_H

#include <stdint.h>

#include "crypto/crypto.h"
#include "wire/wire.h"

enum auth_mode { AUTH_MODE_NONE = 0, AUTH_MODE_SIG = 1, AUTH_MODE_MAC = 2 };

/* The ban table of robust mode (auth_verify_client): a fixed number of entries, each
 * a (client, connection) pair refused until until_ms of the caller's clock. */
#define AUTH_BAN_SLOTS 256
#define AUTH_BAN_MS 10000
#define AUTH_SIG_CACHE 1024 /* entries of the verified-signature table (auth_ctx) */
struct auth_ban {
	uint32_t client;
	uint32_t source;   /* the connection (the driver's pipe id); never 0 */
	uint64_t until_ms; /* 0: free */
};

struct auth_ctx {
	enum auth_mode mode;
	uint32_t n; /* replicas */
	uint32_t n_clients;
	int self_is_client;
	uint32_t self;             /* our replica id or client id */
	uint8_t sk[CRYPTO_SK_LEN]; /* our secret key */
	uint8_t replica_pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN];
	uint8_t *client_pk; /* n_clients * CRYPTO_PK_LEN */
	/* pairwise MAC keys, derived lazily: with each replica, and (replicas only)
	 * with each client.  have_* marks which are derived. */
	uint8_t replica_mac[WIRE_MAX_REPLICAS][CRYPTO_MACKEY_LEN];
	uint8_t *client_mac;       /* n_clients * CRYPTO_MACKEY_LEN */
	uint8_t *client_mac_ready; /* n_clients flags */
	int replica_mac_ready[WIRE_MAX_REPLICAS];
	/* Protocol limits for the checks auth_verify makes before any signature or MAC of
	 * a message that carries others (see auth_verify); 0: the wire's maximum.  The
	 * replica sets them from its config (replica_open), the simulator likewise. */
	uint32_t window;    /* PBFT log window: P entries of a VIEW-CHANGE, O of a NEW-VIEW */
	uint32_t batch_max; /* requests in a PRE-PREPARE or BATCH */
	/* counters for status (sigs_made, sigs_verified, macs_made, macs_verified):
	 * one per signature or per single MAC computed / checked */
	uint64_t sigs_made, sigs_verified, macs_made, macs_verified;
	/* Suspect clients (replicas only; issue 14, docs/PROTOCOL.md "Faulty clients"):
	 * client_suspect[c] is set when a PRE-PREPARE that verified carried a request of
	 * c whose MAC for us did not: c (or a replica that relayed its request) garbled
	 * our slot, and a correct primary could be blamed for it.  From then on we take
	 * c's requests only signed.  suspect_refused counts MACed requests so refused. */
	uint8_t *client_suspect; /* n_clients flags */
	uint64_t suspects_marked, suspect_refused;
	/* Robust mode (cluster.ini robust = on, issue 16 item 3; auth_verify_client):
	 * every REQUEST must be signed, also with auth = mac, nested ones included; a
	 * client whose request fails verification is banned for AUTH_BAN_MS. */
	int robust;
	struct auth_ban ban[AUTH_BAN_SLOTS];
	uint32_t banned;            /* entries of ban[] in use (not yet found expired) */
	uint64_t unsigned_requests; /* refused: robust mode, not signed */
	uint64_t blacklisted_drops; /* refused: the client is banned on that connection */
	uint64_t bans_made;         /* bans entered */
	/* hybrid requests whose MAC for us failed but whose signature verified (the client,
	 * or a relay, garbled our slot; accepted, the signature is what counts) */
	uint64_t hybrid_bad_mac;
	/* Client signatures this replica has verified (issue 16: each request's signature
	 * at most once per replica, whether it comes directly, relayed, parked or inside a
	 * PRE-PREPARE): a direct-mapped table of BLAKE2b(header | body | signature), so a
	 * hit is exactly the bytes and signature checked before.  sig_cache_hits counts
	 * the verifications it saved (not in sigs_verified). */
	uint8_t sig_cache[AUTH_SIG_CACHE][WIRE_DIGEST_LEN];
	uint64_t sig_cache_hits;
};

/* Load keys from dir for principal `self`: our secret key, every replica's public key
 * and the public keys of clients 0..n_clients-1 (a missing client key is an error for
 * a replica; a client loads only replica keys and its own).  Returns 0, or -1 with a
 * message naming the file in err. */
int auth_load(struct auth_ctx *a, enum auth_mode mode, const char *keys_dir, uint32_t n,
	      uint32_t n_clients, int self_is_client, uint32_t self, char *err, size_t errlen);
void auth_free(struct auth_ctx *a); /* wipes secrets */

/* The auth_kind the policy demands for this message type in this mode. */
int auth_kind_for(enum auth_mode mode, int type);

/* Append the trailer to the message that starts at b->p[off] and runs to b->len
 * (as written by a wire_put_*), setting its auth_kind and auth_len header fields
 * first.  A REPLY in mac mode gets one MAC, for the client its body names.
 * Returns 0, or -1 (b->err set) on overflow. */
int auth_seal(struct auth_ctx *a, struct buf *b, size_t off);

/* Seal a REQUEST with the client's signature whatever the mode: in mac mode a client
 * whose MACed requests go unanswered signs them (a replica that suspects it takes only
 * signed requests).  Returns 0, or -1 (b->err set). */
int auth_seal_signed(struct auth_ctx *a, struct buf *b, size_t off);

/* Verify m's trailer as the policy demands: the sender's signature, or our slot of its
 * authenticator.  For a PRE-PREPARE, every embedded request is verified too (client
 * signature, or the client's MAC for us; not those of a BATCH, see auth.c); and every
 * forwarded message inside a VIEW-CHANGE or NEW-VIEW (checkpoint proofs, prepared
 * certificates, view changes, compact pre-prepares).  A PRE-PREPARE's trailer covers
 * header | digest(body) (see wire.h).  Returns 0 if authentic, -1 otherwise.
 * Senders out of range (sender >= n for replica types, >= n_clients for clients) fail.
 * In mac mode a REQUEST may also come signed; a MACed one from a suspect client fails.
 * Before any signature or MAC, such messages must have PBFT's shape (auth.c, "shape
 * before crypto"): at most batch_max requests in a batch; in a VIEW-CHANGE at most n
 * CHECKPOINTs (distinct senders, one seq and digest) and at most `window`
 * certificates, each the primary's pre-prepare and PREPAREs of distinct backups that
 * match it; a NEW-VIEW from its view's primary with VIEW-CHANGEs of distinct senders
 * for its view and O numbered on from them. */
int auth_verify(struct auth_ctx *a, const struct msg *m);

/* Seal a compact PRE-PREPARE: b[off..b->len) = header | digest (72 bytes). */
int auth_seal_cpp(struct auth_ctx *a, struct buf *b, size_t off);

/* Lying, for the lab (replica/byz.c mac-poison, byzlab-client --bad-mac, the
 * simulator): garble the MAC authenticator slots of the replicas in slots_mask (bit r:
 * replica r) of the sealed message p[0..len).  Only an AUTH_MAC trailer with one slot
 * per replica is touched; returns how many slots were garbled. */
int auth_poison_slots(uint8_t *p, size_t len, uint32_t slots_mask);

/* Verify a compact PRE-PREPARE (wire.h) as forwarded in a certificate. */
int auth_verify_cpp(struct auth_ctx *a, const struct compact_pp *c);

/* Robust mode's edge rule for client messages (Aardvark §4.2, docs/PROTOCOL.md
 * "Robust mode: signed requests and the ban table").  Pure: no clock is read, now_ms
 * is the caller's.  For anything but a REQUEST, or with a->robust off, it is
 * auth_verify.  With a->robust on, a REQUEST:
 *   - from a client banned on this source (connection; 0 = relayed by a replica, which
 *     is never banned) is refused unverified: AUTH_CLIENT_BANNED (blacklisted_drops);
 *   - not signed while auth = mac: AUTH_CLIENT_UNSIGNED (unsigned_requests), no
 *     verification spent;
 *   - failing verification: AUTH_CLIENT_BAD, and with source != 0 the client is banned
 *     on that source until now_ms + AUTH_BAN_MS (a full table evicts the entry that
 *     expires first).
 * Returns AUTH_CLIENT_OK (0) if authentic. */
enum auth_client_verdict {
	AUTH_CLIENT_OK = 0,
	AUTH_CLIENT_BAD = -1, /* failed verification (the caller counts bad_auth) */
	AUTH_CLIENT_UNSIGNED = -2,
	AUTH_CLIENT_BANNED = -3,
};
int auth_verify_client(struct auth_ctx *a, const struct msg *m, uint32_t source, uint64_t now_ms);
/* Robust mode's cheap check of a hybrid REQUEST received directly (replica/park.h): is
 * the client banned on this source (AUTH_CLIENT_BANNED, counted as in
 * auth_verify_client), else is our MAC slot good (AUTH_CLIENT_OK: one MAC, no
 * signature)?  AUTH_CLIENT_BAD for anything else - not hybrid, not robust mac mode, a
 * wrong slot - after which the caller runs auth_verify_client (the signature). */
int auth_check_client_mac(struct auth_ctx *a, const struct msg *m, uint32_t source,
			  uint64_t now_ms);
/* Bans still in force at now_ms (expired entries are freed). */
uint32_t auth_bans_active(struct auth_ctx *a, uint64_t now_ms);

/* HotStuff: is qc a quorum certificate?  2f+1 (n = 3f+1) distinct replicas' VOTE
 * signatures for (qc->view, qc->hash), or the genesis QC (view 0, zero hash, none).
 * auth_verify checks the QC of every PROPOSAL and HS NEWVIEW with it. */
int auth_verify_hs_qc(struct auth_ctx *a, uint32_t cluster_id, const struct hs_qc *qc);

/* Verify one encoded REQUEST on its own (used for requests inside a batch). */
int auth_verify_request(struct auth_ctx *a, const struct msg *req);

#endif
