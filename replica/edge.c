/* edge.c - the edge sequence, decode -> edge rules -> authenticate (see edge.h).
 *
 * The order is the cheap-to-expensive order of architecture property 3 (concord-bft's
 * validate() before any handler, libhotstuff's vote pool): a bounded decode costs
 * nothing, the socket/type/sender rules cost a switch, and only what passes both may
 * cost a signature check.  So a flood of garbage or of misdirected messages cannot make
 * a replica spend Ed25519 verifications.
 */
#include "replica/edge.h"

/* Types replicas send each other: everything but the client and admin planes (so
 * a new replica-to-replica type needs no change here). */
static int is_replica_type(int type)
{
	switch (type) {
	case MSG_REQUEST:
	case MSG_REPLY:
	case MSG_HELLO:
	case MSG_STATUS_REQ:
	case MSG_STATUS_RESP:
	case MSG_ADMIN_FAULTS: return 0;
	default: return type >= 1 && type <= MSG_TYPE_MAX;
	}
}

int edge_allowed(enum net_sock sock, const struct msg *m, uint32_t n, uint32_t self,
		 uint32_t max_clients)
{
	switch (sock) {
	case NET_PEER:
		/* A backup relays a client's REQUEST to the primary (PBFT §4.4); it stays
		 * signed by the client, so it is checked against client keys like any other. */
		if (m->h.type == MSG_REQUEST)
			return m->h.sender < max_clients;
		return is_replica_type(m->h.type) && m->h.sender < n && m->h.sender != self;
	case NET_CLIENT:
		return (m->h.type == MSG_REQUEST || m->h.type == MSG_HELLO) &&
		       m->h.sender < max_clients;
	case NET_ADMIN: return m->h.type == MSG_STATUS_REQ || m->h.type == MSG_ADMIN_FAULTS;
	default: return 0;
	}
}

/* A partition or one-way cut hides peers, not the clients whose REQUESTs they relay. */
static int heard(const struct edge *e, enum net_sock sock, const struct msg *m)
{
	if (e->hears == NULL || sock != NET_PEER || m->h.type == MSG_REQUEST)
		return 1;
	return e->hears(e->hears_ctx, m->h.sender);
}

/* auth_verify, and in robust mode the client rules (signed requests, the ban table:
 * crypto/auth.h auth_verify_client), which count their own refusals. */
static enum edge_verdict verify_client(struct edge *e, const struct msg *m, uint32_t source,
				       uint64_t now_ms)
{
	switch (auth_verify_client(e->auth, m, source, now_ms)) {
	case AUTH_CLIENT_OK: return EDGE_OK;
	case AUTH_CLIENT_UNSIGNED:
	case AUTH_CLIENT_BANNED: return EDGE_REFUSED_CLIENT;
	default: e->count->bad_auth++; return EDGE_BAD_AUTH;
	}
}

/* Robust mode at a backup: a hybrid read-write request straight from its client may be
 * parked on a good MAC (park.h); everything else is verified now. */
static int parkable(const struct edge *e, enum net_sock sock, const struct msg *m)
{
	return e->park && e->park_now && sock == NET_CLIENT && m->h.type == MSG_REQUEST &&
	       m->h.auth_kind == AUTH_HYBRID && !(m->u.req.flags & REQ_F_READONLY);
}

enum edge_verdict edge_receive(struct edge *e, enum net_sock sock, uint32_t source, uint64_t now_ms,
			       const uint8_t *p, size_t len, struct msg *m)
{
	int rc = wire_decode(p, len, e->cluster_id, m);
	if (rc != WIRE_OK) {
		e->last_wire_err = rc;
		e->count->bad_format++;
		return EDGE_BAD_FORMAT;
	}
	if (!edge_allowed(sock, m, e->n, e->self, e->max_clients)) {
		e->count->bad_format++;
		e->count->not_allowed++;
		return EDGE_NOT_ALLOWED;
	}
	if (!heard(e, sock, m)) {
		e->count->unheard++;
		return EDGE_UNHEARD;
	}
	int mac_failed = 0;
	e->relay = 0;
	if (parkable(e, sock, m)) {
		int v = auth_check_client_mac(e->auth, m, source, now_ms);
		if (v == AUTH_CLIENT_BANNED)
			return EDGE_REFUSED_CLIENT;
		int put = v == AUTH_CLIENT_OK ? park_put(e->park, m, source, now_ms) : -1;
		if (put >= 0) {
			e->relay = put > 0;
			return EDGE_PARKED;
		}
		mac_failed = v != AUTH_CLIENT_OK;
	}
	enum edge_verdict v = verify_client(e, m, source, now_ms);
	if (v == EDGE_OK && mac_failed)
		e->auth->hybrid_bad_mac++; /* the signature vouches for it (park.h) */
	return v;
}

enum edge_verdict edge_release(struct edge *e, uint64_t now_ms, struct buf *scratch, struct msg *m,
			       uint64_t *relayed_ms)
{
	uint32_t source;
	if (e->park == NULL || !park_pop_due(e->park, now_ms, scratch, &source, relayed_ms))
		return EDGE_NVERDICTS;
	/* it decoded when it was parked; the copy is the same bytes */
	if (wire_decode(scratch->p, scratch->len, e->cluster_id, m) != WIRE_OK) {
		e->count->bad_format++;
		return EDGE_BAD_FORMAT;
	}
	return verify_client(e, m, source, now_ms);
}

const char *edge_verdict_name(enum edge_verdict v)
{
	switch (v) {
	case EDGE_OK: return "ok";
	case EDGE_BAD_FORMAT: return "bad-format";
	case EDGE_NOT_ALLOWED: return "not-allowed";
	case EDGE_UNHEARD: return "unheard";
	case EDGE_BAD_AUTH: return "bad-auth";
	case EDGE_REFUSED_CLIENT: return "refused-client";
	case EDGE_PARKED: return "parked";
	case EDGE_NVERDICTS: break;
	}
	return "unknown";
}
