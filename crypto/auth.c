/* auth.c - sealing and verifying messages per auth mode (see auth.h for the policy).
 *
 * Who may speak for whom is decided by the message TYPE, never by anything the
 * sender claims beyond its id: REQUEST and HELLO are checked against client keys,
 * every other type against replica keys.  So a client's key can never make a
 * PREPARE (or any replica message) verify, whatever sender id it writes.
 *
 * MAC authenticators (Castro-Liskov TOCS'02 §3.2): slot r of the trailer is the
 * MAC (keyed BLAKE2b-256) of header+body under the pairwise key of the sender and
 * replica r; a receiver replica checks only its own slot.  A replica's slot for itself uses the
 * key derived from its own pair (X25519 with itself), so the layout is uniform.
 * A REPLY carries one MAC, under the key of the replica and the client it names.
 */
#include "crypto/auth.h"

#include <stdlib.h>
#include <string.h>

/* auth_load() (reading key files) lives in auth_load.c: this file does no IO, so it
 * belongs in the pure core library (docs/ARCHITECTURE.md). */

void auth_free(struct auth_ctx *a)
{
	if (a->client_mac)
		crypto_wipe(a->client_mac, (size_t)a->n_clients * CRYPTO_MACKEY_LEN);
	free(a->client_pk);
	free(a->client_mac);
	free(a->client_mac_ready);
	free(a->client_suspect);
	crypto_wipe(a, sizeof(*a));
}

int auth_kind_for(enum auth_mode mode, int type)
{
	if (type < MSG_REQUEST || type > MSG_TYPE_MAX)
		return -1;
	if (type == MSG_STATUS_REQ || type == MSG_STATUS_RESP || type == MSG_ADMIN_FAULTS)
		return AUTH_NONE;
	/* HotStuff's votes are always signed: 2f+1 of them make a QC, a proof that
	 * travels to third parties in proposals and NEW-VIEWs (docs/PROTOCOL.md). */
	if (type == MSG_HS_VOTE && mode != AUTH_MODE_NONE)
		return AUTH_SIG;
	switch (mode) {
	case AUTH_MODE_NONE: return AUTH_NONE;
	case AUTH_MODE_SIG: return AUTH_SIG;
	case AUTH_MODE_MAC:
		/* Proofs that are forwarded to third parties must stay signed.  That
		 * includes what a VIEW-CHANGE carries as a prepared certificate - the
		 * (compact) PRE-PREPARE and the PREPAREs (issue 14, docs/PROTOCOL.md):
		 * a MAC slot can be good for one replica and garbled for the next, so a
		 * certificate of MACs is no proof to a third party, and one garbled slot
		 * would make its whole VIEW-CHANGE refused.  One signature per batch. */
		if (type == MSG_CHECKPOINT || type == MSG_VIEWCHANGE || type == MSG_NEWVIEW ||
		    type == MSG_PREPREPARE || type == MSG_PREPARE)
			return AUTH_SIG;
		return AUTH_MAC;
	}
	return -1;
}

static uint32_t self_tag(const struct auth_ctx *a)
{
	return a->self_is_client ? (PRINCIPAL_CLIENT | a->self) : a->self;
}

/* Our pairwise key with replica r (derived on first use), or NULL. */
static const uint8_t *replica_key(struct auth_ctx *a, uint32_t r)
{
	if (r >= a->n)
		return NULL;
	if (!a->replica_mac_ready[r]) {
		if (crypto_mac_key(a->sk, self_tag(a), a->replica_pk[r], r, a->replica_mac[r]) != 0)
			return NULL;
		a->replica_mac_ready[r] = 1;
	}
	return a->replica_mac[r];
}

/* Our (a replica's) pairwise key with client c, or NULL. */
static const uint8_t *client_key(struct auth_ctx *a, uint32_t c)
{
	uint8_t *key;

	if (a->self_is_client || c >= a->n_clients || !a->client_pk)
		return NULL;
	key = a->client_mac + (size_t)c * CRYPTO_MACKEY_LEN;
	if (!a->client_mac_ready[c]) {
		if (crypto_mac_key(a->sk, self_tag(a), a->client_pk + (size_t)c * CRYPTO_PK_LEN,
				   PRINCIPAL_CLIENT | c, key) != 0)
			return NULL;
		a->client_mac_ready[c] = 1;
	}
	return key;
}

static int is_client_type(int type)
{
	return type == MSG_REQUEST || type == MSG_HELLO;
}

/* ---- sealing ---- */

/* What a PRE-PREPARE's trailer covers: header | BLAKE2b(body), so that its compact
 * form (wire.h) verifies without the batch.  msg must hold header and body. */
static const uint8_t *cpp_bytes(const uint8_t *msg, uint8_t out[WIRE_CPP_LEN_MIN])
{
	uint8_t digest[WIRE_DIGEST_LEN];
	crypto_digest(msg + WIRE_HDR_LEN, get_u32(msg + WIRE_OFF_BODY_LEN), digest);
	wire_cpp_signed_bytes(msg, digest, out);
	return out;
}

/* Fill trailer for p[0..len) of the given type and kind; returns its length or -1. */
static int make_trailer(struct auth_ctx *a, int type, int kind, const uint8_t *p, size_t len,
			uint8_t *out)
{
	const uint8_t *key;
	uint32_t r;

	if (kind == AUTH_NONE)
		return 0;
	if (kind == AUTH_SIG || kind == AUTH_HYBRID) {
		crypto_sign_buf(a->sk, p, len, out);
		a->sigs_made++;
		if (kind == AUTH_SIG)
			return WIRE_SIG_LEN;
		int macs = make_trailer(a, type, AUTH_MAC, p, len, out + WIRE_SIG_LEN);
		return macs < 0 ? -1 : WIRE_SIG_LEN + macs;
	}
	if (type == MSG_REPLY) {
		/* the client id is the first body field */
		key = client_key(a, get_u32(p + WIRE_HDR_LEN));
		if (!key)
			return -1;
		crypto_mac_bytes(key, p, len, out);
		a->macs_made++;
		return WIRE_MAC_LEN;
	}
	for (r = 0; r < a->n; r++) {
		key = replica_key(a, r);
		if (!key)
			return -1;
		crypto_mac_bytes(key, p, len, out + (size_t)r * WIRE_MAC_LEN);
		a->macs_made++;
	}
	return (int)(a->n * WIRE_MAC_LEN);
}

static int planned_auth_len(const struct auth_ctx *a, int type, int kind)
{
	if (kind == AUTH_SIG)
		return WIRE_SIG_LEN;
	if (kind == AUTH_HYBRID)
		return WIRE_SIG_LEN + (int)(a->n * WIRE_MAC_LEN);
	if (kind == AUTH_MAC)
		return type == MSG_REPLY ? WIRE_MAC_LEN : (int)(a->n * WIRE_MAC_LEN);
	return 0;
}

static int seal_as(struct auth_ctx *a, struct buf *b, size_t off, int forced_kind);

int auth_seal(struct auth_ctx *a, struct buf *b, size_t off)
{
	return seal_as(a, b, off, -1);
}

int auth_seal_signed(struct auth_ctx *a, struct buf *b, size_t off)
{
	if (b->err)
		return -1;
	if (b->p == NULL || off > b->len || b->len - off < WIRE_HDR_LEN ||
	    b->p[off + WIRE_OFF_TYPE] != MSG_REQUEST || a->mode == AUTH_MODE_NONE) {
		b->err = WIRE_E_AUTH;
		return -1;
	}
	/* robust mode with MACs: Aardvark's hybrid, a signature and an authenticator */
	return seal_as(a, b, off, a->robust && a->mode == AUTH_MODE_MAC ? AUTH_HYBRID : AUTH_SIG);
}

/* auth_seal with the policy's kind, or forced_kind if >= 0. */
static int seal_as(struct auth_ctx *a, struct buf *b, size_t off, int forced_kind)
{
	uint8_t trailer[WIRE_SIG_LEN + WIRE_MAX_REPLICAS * WIRE_MAC_LEN];
	uint8_t *h;
	int type, kind, alen;

	if (b->err)
		return -1;
	if (b->p == NULL || off > b->len || b->len - off < WIRE_HDR_LEN)
		goto bad;
	h = b->p + off;
	/* exactly one unsealed message must follow off */
	if (get_u32(h + WIRE_OFF_BODY_LEN) != b->len - off - WIRE_HDR_LEN ||
	    get_u16(h + WIRE_OFF_AUTH_LEN) != 0)
		goto bad;
	type = h[WIRE_OFF_TYPE];
	kind = forced_kind >= 0 ? forced_kind : auth_kind_for(a->mode, type);
	if (kind < 0)
		goto bad;
	if (type == MSG_REPLY && kind == AUTH_MAC && b->len - off < WIRE_HDR_LEN + 4)
		goto bad;
	alen = planned_auth_len(a, type, kind);
	/* the trailer covers these two fields, so they are set first */
	h[WIRE_OFF_AUTH_KIND] = (uint8_t)kind;
	set_u16(h + WIRE_OFF_AUTH_LEN, (uint16_t)alen);
	uint8_t cpp[WIRE_CPP_LEN_MIN];
	const uint8_t *covered = h;
	size_t covered_len = b->len - off;
	if (type == MSG_PREPREPARE) {
		covered = cpp_bytes(h, cpp);
		covered_len = sizeof(cpp);
	}
	if (make_trailer(a, type, kind, covered, covered_len, trailer) != alen)
		goto bad;
	buf_put(b, trailer, (size_t)alen);
	return b->err ? -1 : 0;
bad:
	/* poison the buffer: it holds a message that must not be sent */
	b->err = WIRE_E_AUTH;
	return -1;
}

/* Seal a compact PRE-PREPARE built in place: b[off..] = header (body_len = the
 * batch's length) | digest.  The trailer is what auth_seal would give the full
 * message, since both cover header | digest. */
int auth_seal_cpp(struct auth_ctx *a, struct buf *b, size_t off)
{
	uint8_t trailer[WIRE_MAX_REPLICAS * WIRE_MAC_LEN];
	if (b->err)
		return -1;
	if (b->p == NULL || off > b->len || b->len - off != WIRE_CPP_LEN_MIN ||
	    b->p[off + WIRE_OFF_TYPE] != MSG_PREPREPARE) {
		b->err = WIRE_E_AUTH;
		return -1;
	}
	uint8_t *h = b->p + off;
	int kind = auth_kind_for(a->mode, MSG_PREPREPARE);
	int alen = planned_auth_len(a, MSG_PREPREPARE, kind);
	h[WIRE_OFF_AUTH_KIND] = (uint8_t)kind;
	set_u16(h + WIRE_OFF_AUTH_LEN, (uint16_t)alen);
	if (make_trailer(a, MSG_PREPREPARE, kind, h, WIRE_CPP_LEN_MIN, trailer) != alen) {
		b->err = WIRE_E_AUTH;
		return -1;
	}
	buf_put(b, trailer, (size_t)alen);
	return b->err ? -1 : 0;
}

int auth_poison_slots(uint8_t *p, size_t len, uint32_t slots_mask)
{
	if (len < WIRE_HDR_LEN || p[WIRE_OFF_AUTH_KIND] != AUTH_MAC)
		return 0;
	size_t alen = get_u16(p + WIRE_OFF_AUTH_LEN);
	size_t body = get_u32(p + WIRE_OFF_BODY_LEN);
	size_t compact = WIRE_CPP_LEN_MIN; /* a compact pre-prepare: header | digest */
	size_t trailer_at = p[WIRE_OFF_TYPE] == MSG_PREPREPARE && len == compact + alen
				    ? compact
				    : WIRE_HDR_LEN + body;
	if (alen % WIRE_MAC_LEN || alen < (size_t)2 * WIRE_MAC_LEN || trailer_at + alen != len)
		return 0; /* a REPLY's single MAC, or not a whole message */
	int garbled = 0;
	for (size_t r = 0; r < alen / WIRE_MAC_LEN && r < 32; r++) {
		if (!(slots_mask >> r & 1))
			continue;
		p[trailer_at + r * WIRE_MAC_LEN] ^= 0x5a;
		garbled++;
	}
	return garbled;
}

/* ---- verifying ---- */

static int verify_sig(struct auth_ctx *a, const struct msg *m, const uint8_t *covered,
		      size_t covered_len, const uint8_t *trailer)
{
	const uint8_t *pk;
	uint32_t s = m->h.sender;

	if (m->h.auth_len !=
	    (m->h.auth_kind == AUTH_HYBRID ? WIRE_SIG_LEN + a->n * WIRE_MAC_LEN : WIRE_SIG_LEN))
		return -1;
	if (is_client_type(m->h.type)) {
		if (s >= a->n_clients || !a->client_pk)
			return -1;
		pk = a->client_pk + (size_t)s * CRYPTO_PK_LEN;
	} else {
		if (s >= a->n)
			return -1;
		pk = a->replica_pk[s];
	}
	/* a client's request: each signature verified once (auth.h sig_cache) */
	uint8_t *slot = NULL, key[WIRE_DIGEST_LEN];
	if (m->h.type == MSG_REQUEST && trailer == covered + covered_len) {
		crypto_digest(covered, covered_len + WIRE_SIG_LEN, key);
		slot = a->sig_cache[get_u32(key) % AUTH_SIG_CACHE];
		if (memcmp(slot, key, WIRE_DIGEST_LEN) == 0) {
			a->sig_cache_hits++;
			return 0;
		}
	}
	a->sigs_verified++;
	if (crypto_verify_bytes(pk, covered, covered_len, trailer) != 0)
		return -1;
	if (slot)
		memcpy(slot, key, WIRE_DIGEST_LEN);
	return 0;
}

static int verify_mac(struct auth_ctx *a, const struct msg *m, const uint8_t *covered,
		      size_t covered_len, const uint8_t *trailer)
{
	const uint8_t *key, *mac = trailer;
	uint32_t s = m->h.sender;

	if (m->h.type == MSG_REPLY) {
		/* only the client the reply is for holds the key */
		if (!a->self_is_client || m->h.auth_len != WIRE_MAC_LEN)
			return -1;
		key = replica_key(a, s);
	} else {
		/* authenticators have one slot per replica; clients have no slot (a
		 * hybrid trailer's authenticator follows its signature) */
		size_t sig = m->h.auth_kind == AUTH_HYBRID ? WIRE_SIG_LEN : 0;
		if (a->self_is_client || m->h.auth_len != sig + (size_t)a->n * WIRE_MAC_LEN)
			return -1;
		mac += sig;
		key = is_client_type(m->h.type) ? client_key(a, s) : replica_key(a, s);
		mac += (size_t)a->self * WIRE_MAC_LEN;
	}
	if (!key)
		return -1;
	a->macs_verified++;
	return crypto_mac_verify(key, covered, covered_len, mac);
}

static int check_trailer(struct auth_ctx *a, const struct msg *m, int kind, const uint8_t *covered,
			 size_t covered_len, const uint8_t *trailer)
{
	switch (kind) {
	case AUTH_NONE: return m->h.auth_len == 0 ? 0 : -1;
	case AUTH_SIG:
	case AUTH_HYBRID: /* received directly: the signature (verify_batch: MAC first) */
		return verify_sig(a, m, covered, covered_len, trailer);
	default: return verify_mac(a, m, covered, covered_len, trailer);
	}
}

static int verify_viewchange(struct auth_ctx *a, const struct msg *m);
static int verify_newview(struct auth_ctx *a, const struct msg *m);

static int sender_in_range(const struct auth_ctx *a, const struct msg *m)
{
	if (m->h.type == MSG_STATUS_REQ || m->h.type == MSG_STATUS_RESP ||
	    m->h.type == MSG_ADMIN_FAULTS)
		return 1; /* admin plane: anyone may ask */
	return m->h.sender < (is_client_type(m->h.type) ? a->n_clients : a->n);
}

/* ---- shape before crypto ----
 * A message that carries others is checked for shape first - counts, senders, and the
 * numbers its nested messages must share with it - without computing any signature or
 * MAC.  Otherwise a liar fills one VIEW-CHANGE with thousands of nested messages that it
 * signed itself, every receiver verifies each of them, and only then does the core
 * refuse the lot.  These are rules the PBFT core checks too (pbft_viewchange.c
 * validate_vc and check_newview, pbft_checkpoint.c pbft_check_ckpt_proof): they refuse
 * nothing a correct replica sends, and bound the signatures one message costs by n and
 * the window.  PBFT's primary of view v is v mod n. */

static uint32_t limit_window(const struct auth_ctx *a)
{
	return a->window && a->window < WIRE_MAX_PREPARED ? a->window : WIRE_MAX_PREPARED;
}

static uint32_t limit_batch(const struct auth_ctx *a)
{
	return a->batch_max && a->batch_max < WIRE_MAX_BATCH ? a->batch_max : WIRE_MAX_BATCH;
}

/* Replica `s` is new in *seen (a bit set of replica ids < n); adds it. */
static int fresh_sender(const struct auth_ctx *a, uint32_t s, uint32_t *seen)
{
	if (s >= a->n || (*seen & (1u << s)))
		return 0;
	*seen |= 1u << s;
	return 1;
}

/* The checkpoint proof C of a VIEW-CHANGE for stable checkpoint h: at most n
 * CHECKPOINTs, for h, from distinct replicas, all with the same digest. */
static int ckpt_proof_shape(const struct auth_ctx *a, const struct msg *m)
{
	const struct body_viewchange *vc = &m->u.vc;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint32_t seen = 0;
	struct msg ck;
	if (vc->n_ckpt > a->n)
		return -1;
	for (uint16_t i = 0; i < vc->n_ckpt; i++) {
		if (wire_decode(vc->ckpt[i], vc->ckpt_len[i], m->h.cluster_id, &ck) != WIRE_OK ||
		    ck.h.seq != m->h.seq || !fresh_sender(a, ck.h.sender, &seen))
			return -1;
		if (i == 0)
			memcpy(digest, ck.u.dg.digest, WIRE_DIGEST_LEN);
		else if (memcmp(digest, ck.u.dg.digest, WIRE_DIGEST_LEN) != 0)
			return -1;
	}
	return 0;
}

/* One prepared certificate: the compact pre-prepare of its view's primary, and at most
 * n-1 PREPAREs from distinct backups for the same view, sequence number and digest. */
static int cert_shape(const struct auth_ctx *a, const struct vc_prepared *e, uint32_t cluster)
{
	const struct compact_pp *pp = &e->pp;
	uint32_t primary = (uint32_t)(pp->h.view % a->n);
	uint32_t seen = 1u << primary; /* the primary's PREPARE does not count */
	struct msg prep;
	if (pp->h.sender != primary || e->n_prep >= a->n)
		return -1;
	for (uint16_t i = 0; i < e->n_prep; i++)
		if (wire_decode(e->prep[i], e->prep_len[i], cluster, &prep) != WIRE_OK ||
		    prep.h.view != pp->h.view || prep.h.seq != pp->h.seq ||
		    !fresh_sender(a, prep.h.sender, &seen) ||
		    memcmp(prep.u.dg.digest, pp->digest, WIRE_DIGEST_LEN) != 0)
			return -1;
	return 0;
}

/* VIEW-CHANGE(v, h): its proof C, then at most `window` certificates, for increasing
 * sequence numbers in (h, h + window], of views below v. */
static int viewchange_shape(const struct auth_ctx *a, const struct msg *m)
{
	uint64_t h = m->h.seq, last = h;
	uint32_t window = limit_window(a);
	if (ckpt_proof_shape(a, m) != 0 || m->u.vc.n_prepared > window)
		return -1;
	struct cursor c;
	struct vc_prepared e;
	int rc;
	wire_vc_begin(m, &c);
	while ((rc = wire_vc_next(&c, m->h.cluster_id, &e)) > 0) {
		if (e.pp.h.seq <= last || e.pp.h.seq - h > window || e.pp.h.view >= m->h.view ||
		    cert_shape(a, &e, m->h.cluster_id) != 0)
			return -1;
		last = e.pp.h.seq;
	}
	return rc;
}

/* NEW-VIEW(v) from v's primary: at most n VIEW-CHANGEs for v from distinct replicas,
 * each of good shape, then O: at most `window` compact pre-prepares of v by the same
 * primary, for min-s+1, min-s+2, ... where min-s is the highest checkpoint in V. */
static int newview_shape(const struct auth_ctx *a, const struct msg *m)
{
	const struct body_newview *nv = &m->u.nv;
	uint32_t seen = 0;
	uint64_t next = 0;
	struct msg vc;
	if (m->h.sender != m->h.view % a->n || nv->n_vc > a->n || nv->n_o > limit_window(a))
		return -1;
	for (uint16_t i = 0; i < nv->n_vc; i++) {
		if (wire_decode(nv->vc[i], nv->vc_len[i], m->h.cluster_id, &vc) != WIRE_OK ||
		    vc.h.view != m->h.view || !fresh_sender(a, vc.h.sender, &seen) ||
		    viewchange_shape(a, &vc) != 0)
			return -1;
		if (vc.h.seq > next)
			next = vc.h.seq;
	}
	struct cursor c;
	struct compact_pp e;
	int rc;
	wire_nv_begin(m, &c);
	while ((rc = wire_nv_next(&c, m->h.cluster_id, &e)) > 0)
		if (e.h.view != m->h.view || e.h.sender != m->h.sender || e.h.seq != ++next)
			return -1;
	return rc;
}

static int shape_ok(const struct auth_ctx *a, const struct msg *m)
{
	switch (m->h.type) {
	case MSG_PREPREPARE:
	case MSG_BATCH: return m->u.pp.count <= limit_batch(a);
	case MSG_VIEWCHANGE: return viewchange_shape(a, m) == 0;
	case MSG_NEWVIEW: return newview_shape(a, m) == 0;
	default: return 1;
	}
}

static int verify_message(struct auth_ctx *a, const struct msg *m);

/* A hybrid request (robust mode) inside a PRE-PREPARE: our MAC slot first, which a
 * correct primary's signature check already vouched for; only if our slot is wrong
 * (garbled by the client or a relay) the signature, which is the same for everybody:
 * so a correct primary is never blamed, at one MAC per request in the common case. */
static int kind_ok(const struct auth_ctx *a, const struct msg *m, int kind);

static int verify_hybrid_nested(struct auth_ctx *a, const struct msg *m)
{
	int kind = auth_kind_for(a->mode, m->h.type);
	size_t signed_len = (size_t)WIRE_HDR_LEN + m->h.body_len;
	if (m->raw == NULL || kind < 0 || !kind_ok(a, m, kind) || !sender_in_range(a, m) ||
	    m->raw_len != signed_len + m->h.auth_len)
		return -1;
	const uint8_t *trailer = m->raw + signed_len;
	if (verify_mac(a, m, m->raw, signed_len, trailer) == 0)
		return 0;
	if (verify_sig(a, m, m->raw, signed_len, trailer) != 0)
		return -1;
	a->hybrid_bad_mac++;
	return 0;
}

/* The requests of a PRE-PREPARE whose own trailer verified.  A MACed request
 * of a PRE-PREPARE that fails our slot makes its client suspect (auth.h): the primary
 * may be faulty, but so may the client, or a replica that relayed its request, and we
 * cannot tell; from now on that client must sign.  A suspect client's MACed request
 * that verifies here is taken: what it must not do is make the primary look faulty. */
static int verify_requests(struct auth_ctx *a, const struct body_preprepare *pp, uint32_t cluster)
{
	struct msg req;
	uint16_t i;

	for (i = 0; i < pp->count && i < WIRE_MAX_BATCH; i++) {
		if (wire_decode(pp->req[i], pp->req_len[i], cluster, &req) != WIRE_OK ||
		    req.h.type != MSG_REQUEST)
			return -1;
		if (req.h.auth_kind == AUTH_HYBRID ? verify_hybrid_nested(a, &req) == 0
						   : verify_message(a, &req) == 0)
			continue;
		if (req.h.auth_kind == AUTH_MAC && a->client_suspect &&
		    req.h.sender < a->n_clients && !a->client_suspect[req.h.sender]) {
			a->client_suspect[req.h.sender] = 1;
			a->suspects_marked++;
		}
		return -1;
	}
	return 0;
}

static int verify_batch(struct auth_ctx *a, const struct msg *m)
{
	return verify_requests(a, &m->u.pp, m->h.cluster_id);
}

/* ---- HotStuff: a QC is 2f+1 signed votes (n = 3f+1) for one (view, hash) from
 * distinct replicas; the genesis QC (view 0) has none and names the zero hash. ---- */
int auth_verify_hs_qc(struct auth_ctx *a, uint32_t cluster_id, const struct hs_qc *qc)
{
	static const uint8_t zero[WIRE_DIGEST_LEN];
	if (qc->view == 0)
		return qc->count == 0 && memcmp(qc->hash, zero, WIRE_DIGEST_LEN) == 0 ? 0 : -1;
	uint32_t seen = 0, quorum = a->n - (a->n - 1) / 3;
	if (qc->count < quorum || qc->count > a->n)
		return -1;
	for (uint16_t i = 0; i < qc->count; i++) /* shape before crypto */
		if (!fresh_sender(a, qc->id[i], &seen))
			return -1;
	if (a->mode == AUTH_MODE_NONE)
		return 0; /* measurement only: nothing is proven (auth.h) */
	uint8_t bytes[WIRE_HS_VOTE_LEN];
	for (uint16_t i = 0; i < qc->count; i++) {
		wire_hs_vote_bytes(cluster_id, qc->id[i], qc->view, qc->hash, bytes);
		a->sigs_verified++;
		if (crypto_verify_bytes(a->replica_pk[qc->id[i]], bytes, sizeof(bytes), qc->sig[i]))
			return -1;
	}
	return 0;
}

/* A proposal: its justify QC and every request of its batch. */
static int verify_hs(struct auth_ctx *a, const struct msg *m)
{
	if (m->h.type == MSG_HS_NEWVIEW)
		return auth_verify_hs_qc(a, m->h.cluster_id, &m->u.hs.qc);
	if (m->h.type == MSG_HS_BLOCK) { /* the proposal inside, as if received alone */
		struct msg in;
		if (wire_decode(m->u.hs.inner, m->u.hs.inner_len, m->h.cluster_id, &in) !=
			    WIRE_OK ||
		    in.h.type != MSG_HS_PROPOSAL)
			return -1;
		return verify_message(a, &in);
	}
	if (m->h.type != MSG_HS_PROPOSAL)
		return 0;
	struct body_preprepare pp;
	if (wire_decode_batch(m->u.hs.batch, m->u.hs.batch_len, m->h.cluster_id, &pp) != WIRE_OK ||
	    pp.count > limit_batch(a) || m->u.hs.qc.view >= m->h.view)
		return -1;
	if (auth_verify_hs_qc(a, m->h.cluster_id, &m->u.hs.qc) != 0)
		return -1;
	return verify_requests(a, &pp, m->h.cluster_id);
}

/* A signed REQUEST is good in mac mode too (auth_seal_signed); in robust mode only a
 * signed one is (Aardvark §4.2: also the requests a PRE-PREPARE carries, so no MAC
 * garbled in one slot can make a correct primary look faulty). */
static int kind_ok(const struct auth_ctx *a, const struct msg *m, int kind)
{
	int is_signed = m->h.auth_kind == AUTH_SIG || m->h.auth_kind == AUTH_HYBRID;
	if (m->h.type == MSG_REQUEST && a->robust && a->mode == AUTH_MODE_MAC)
		return is_signed;
	if (m->h.auth_kind == kind)
		return 1;
	return m->h.type == MSG_REQUEST && a->mode == AUTH_MODE_MAC && is_signed;
}

int auth_verify(struct auth_ctx *a, const struct msg *m)
{
	if (m == NULL || m->raw == NULL)
		return -1;
	if (m->h.type == MSG_REQUEST && m->h.auth_kind == AUTH_MAC && a->client_suspect &&
	    m->h.sender < a->n_clients && a->client_suspect[m->h.sender]) {
		a->suspect_refused++;
		return -1;
	}
	return verify_message(a, m);
}

/* auth_verify without the suspect-client rule (requests nested in a batch). */
static int verify_message(struct auth_ctx *a, const struct msg *m)
{
	size_t signed_len;
	int kind, rc;

	if (m == NULL || m->raw == NULL)
		return -1;
	kind = auth_kind_for(a->mode, m->h.type);
	if (kind < 0 || !kind_ok(a, m, kind) || !sender_in_range(a, m) || !shape_ok(a, m))
		return -1;
	kind = m->h.auth_kind;
	/* do not trust m->auth: recompute the split from the header */
	signed_len = (size_t)WIRE_HDR_LEN + m->h.body_len;
	if (m->raw_len != signed_len + m->h.auth_len)
		return -1;
	uint8_t cpp[WIRE_CPP_LEN_MIN];
	const uint8_t *covered = m->raw;
	size_t covered_len = signed_len;
	if (m->h.type == MSG_PREPREPARE) {
		covered = cpp_bytes(m->raw, cpp);
		covered_len = sizeof(cpp);
	}
	rc = check_trailer(a, m, kind, covered, covered_len, m->raw + signed_len);
	/* The outer check first: a forged pre-prepare costs one check, not a batch.
	 * A BATCH's requests are not checked: it is content-addressed, and the core
	 * installs it only for a digest that a prepared certificate (a NEW-VIEW's O set)
	 * vouches for, so a correct replica has authenticated its requests already - in
	 * mac mode, perhaps in a slot that is garbled in ours (issue 14). */
	if (rc == 0 && m->h.type == MSG_PREPREPARE)
		rc = verify_batch(a, m);
	if (rc == 0 && m->h.type == MSG_VIEWCHANGE)
		rc = verify_viewchange(a, m);
	if (rc == 0 && m->h.type == MSG_NEWVIEW)
		rc = verify_newview(a, m);
	if (rc == 0)
		rc = verify_hs(a, m);
	return rc;
}

int auth_verify_cpp(struct auth_ctx *a, const struct compact_pp *c)
{
	struct msg m = {.h = c->h, .raw = c->raw, .raw_len = c->len};
	int kind = auth_kind_for(a->mode, MSG_PREPREPARE);
	if (kind < 0 || c->h.auth_kind != kind || c->h.sender >= a->n ||
	    c->len != (uint32_t)WIRE_CPP_LEN_MIN + c->h.auth_len)
		return -1;
	return check_trailer(a, &m, kind, c->raw, WIRE_CPP_LEN_MIN, c->raw + WIRE_CPP_LEN_MIN);
}

/* A nested message must decode, be of the expected type and verify on its own. */
static int verify_nested(struct auth_ctx *a, const uint8_t *p, uint32_t len, uint32_t cluster,
			 int type)
{
	struct msg m;
	if (wire_decode(p, len, cluster, &m) != WIRE_OK || m.h.type != type)
		return -1;
	return verify_message(a, &m);
}

/* VIEW-CHANGE: the checkpoint proof and every prepared certificate are forwarded
 * messages of third parties; each must verify as if received directly. */
static int verify_viewchange(struct auth_ctx *a, const struct msg *m)
{
	const struct body_viewchange *vc = &m->u.vc;
	for (uint16_t i = 0; i < vc->n_ckpt; i++)
		if (verify_nested(a, vc->ckpt[i], vc->ckpt_len[i], m->h.cluster_id,
				  MSG_CHECKPOINT) != 0)
			return -1;
	struct cursor c;
	struct vc_prepared e;
	int rc;
	wire_vc_begin(m, &c);
	while ((rc = wire_vc_next(&c, m->h.cluster_id, &e)) > 0) {
		if (auth_verify_cpp(a, &e.pp) != 0)
			return -1;
		for (uint16_t i = 0; i < e.n_prep; i++)
			if (verify_nested(a, e.prep[i], e.prep_len[i], m->h.cluster_id,
					  MSG_PREPARE) != 0)
				return -1;
	}
	return rc;
}

static int verify_newview(struct auth_ctx *a, const struct msg *m)
{
	const struct body_newview *nv = &m->u.nv;
	for (uint16_t i = 0; i < nv->n_vc; i++)
		if (verify_nested(a, nv->vc[i], nv->vc_len[i], m->h.cluster_id, MSG_VIEWCHANGE) !=
		    0)
			return -1;
	struct cursor c;
	struct compact_pp e;
	int rc;
	wire_nv_begin(m, &c);
	while ((rc = wire_nv_next(&c, m->h.cluster_id, &e)) > 0)
		if (auth_verify_cpp(a, &e) != 0)
			return -1;
	return rc;
}

int auth_verify_request(struct auth_ctx *a, const struct msg *req)
{
	if (req == NULL || req->h.type != MSG_REQUEST)
		return -1;
	return auth_verify(a, req);
}

/* ---- robust mode: signed client requests and the ban table (issue 16 item 3) ----
 * Aardvark §4.2 makes a client's request something no one else can make look bad:
 * the client signs it, and a replica that finds a bad signature stops listening to
 * that client for a while, so a faulty client cannot make replicas spend a signature
 * check per request it sends.  Aardvark blacklists the network source; here an entry
 * is (client id, connection), so a liar that writes an honest client's id on its own
 * connection gets only itself refused.  Requests relayed by replicas (source 0) are
 * never banned: the relaying replica might be the liar. */

static struct auth_ban *ban_find(struct auth_ctx *a, uint32_t client, uint32_t source,
				 uint64_t now_ms)
{
	for (uint32_t i = 0; a->banned && i < AUTH_BAN_SLOTS; i++) {
		struct auth_ban *e = &a->ban[i];
		if (e->until_ms && e->until_ms <= now_ms) {
			memset(e, 0, sizeof(*e)); /* expired */
			a->banned--;
		} else if (e->until_ms && e->client == client && e->source == source) {
			return e;
		}
	}
	return NULL;
}

static void ban_enter(struct auth_ctx *a, uint32_t client, uint32_t source, uint64_t now_ms)
{
	struct auth_ban *slot = NULL;
	for (uint32_t i = 0; i < AUTH_BAN_SLOTS; i++) {
		struct auth_ban *e = &a->ban[i];
		if (!e->until_ms) {
			slot = e;
			break;
		}
		if (!slot || e->until_ms < slot->until_ms)
			slot = e; /* full: the one that expires first goes */
	}
	if (!slot->until_ms)
		a->banned++;
	*slot = (struct auth_ban){.client = client,
				  .source = source,
				  .until_ms = now_ms + AUTH_BAN_MS};
	a->bans_made++;
}

int auth_verify_client(struct auth_ctx *a, const struct msg *m, uint32_t source, uint64_t now_ms)
{
	if (m == NULL || m->h.type != MSG_REQUEST || !a->robust || a->mode == AUTH_MODE_NONE)
		return auth_verify(a, m) == 0 ? AUTH_CLIENT_OK : AUTH_CLIENT_BAD;
	uint32_t client = m->h.sender;
	if (source && ban_find(a, client, source, now_ms)) {
		a->blacklisted_drops++;
		return AUTH_CLIENT_BANNED;
	}
	if (a->mode == AUTH_MODE_MAC && m->h.auth_kind != AUTH_SIG &&
	    m->h.auth_kind != AUTH_HYBRID) {
		a->unsigned_requests++;
		return AUTH_CLIENT_UNSIGNED;
	}
	if (auth_verify(a, m) == 0)
		return AUTH_CLIENT_OK;
	if (source)
		ban_enter(a, client, source, now_ms);
	return AUTH_CLIENT_BAD;
}

int auth_check_client_mac(struct auth_ctx *a, const struct msg *m, uint32_t source, uint64_t now_ms)
{
	if (m == NULL || m->raw == NULL || m->h.type != MSG_REQUEST || !a->robust ||
	    a->mode != AUTH_MODE_MAC || m->h.auth_kind != AUTH_HYBRID || !sender_in_range(a, m))
		return AUTH_CLIENT_BAD;
	if (source && ban_find(a, m->h.sender, source, now_ms)) {
		a->blacklisted_drops++;
		return AUTH_CLIENT_BANNED;
	}
	size_t signed_len = (size_t)WIRE_HDR_LEN + m->h.body_len;
	if (m->raw_len != signed_len + m->h.auth_len ||
	    verify_mac(a, m, m->raw, signed_len, m->raw + signed_len) != 0)
		return AUTH_CLIENT_BAD;
	return AUTH_CLIENT_OK;
}

uint32_t auth_bans_active(struct auth_ctx *a, uint64_t now_ms)
{
	(void)ban_find(a, UINT32_MAX, 0, now_ms); /* matches nothing: frees the expired */
	return a->banned;
}
