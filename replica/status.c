/* status.c - the replica's status document: one line of JSON, keys as product.md
 * ("Status") plus extras (n, f, requests_executed, send_drops, no_route,
 * frames_sent (nng messages: a bundle counts once), view_changing, pid, uptime_ms,
 * robust: {enabled, required_rps, measured_rps, vc_monitor, vc_heartbeat, vc_request,
 *          forwarded, stall_ms, order_p50_ms, order_p99_ms, order_deadline_ms},
 * evidence: {replica: count}, evidence_kind: {replica: "proof"|"suspicion"},
 * accountability: {enabled, proofs_sent, proofs_learnt, duplicates, ignored_proven,
 * vc_proven_primary}; rejected.bad_evidence). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "replica/core/evidence.h"
#include "replica/replica.h"
#include "replica/textbuf.h"

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void put_str(struct textbuf *w, const char *s)
{
	textbuf_put(w, "\"");
	for (; *s && !w->over; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			textbuf_put(w, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			textbuf_put(w, "\\u%04x", ch);
		else
			textbuf_put(w, "%c", ch);
	}
	textbuf_put(w, "\"");
}

static void put_u64(struct textbuf *w, const char *key, uint64_t v)
{
	textbuf_put(w, ",\"%s\":%llu", key, (unsigned long long)v);
}

/* robust mode (issue 16, replica/core/pbft_monitor.h): the primary's watch */
static void put_robust(struct textbuf *w, const struct core_status *cs)
{
	textbuf_put(w, ",\"robust\":{\"enabled\":%s", cs->robust ? "true" : "false");
	put_u64(w, "required_rps", cs->robust_required_rps);
	put_u64(w, "measured_rps", cs->robust_measured_rps);
	put_u64(w, "vc_monitor", cs->robust_vc_monitor);
	put_u64(w, "vc_heartbeat", cs->robust_vc_heartbeat);
	put_u64(w, "vc_request", cs->robust_vc_request);
	put_u64(w, "forwarded", cs->robust_forwarded);
	put_u64(w, "stall_ms", cs->robust_stall_ms);
	put_u64(w, "order_p50_ms", cs->robust_order_p50_ms);
	put_u64(w, "order_p99_ms", cs->robust_order_p99_ms);
	put_u64(w, "order_deadline_ms", cs->robust_order_deadline_ms);
	textbuf_put(w, "}");
}

/* issue 17: conflicting statements seen per accused replica, and the kind of the
 * proof kept against it ("proof": transferable, signed; "suspicion": MACs) */
static void put_evidence(struct textbuf *w, const struct core_status *cs, uint32_t n)
{
	const char *sep = "";
	textbuf_put(w, ",\"evidence\":{");
	for (uint32_t i = 0; i < n && i < WIRE_MAX_REPLICAS; i++)
		if (cs->evidence[i]) {
			textbuf_put(w, "%s\"%u\":%llu", sep, i,
				    (unsigned long long)cs->evidence[i]);
			sep = ",";
		}
	textbuf_put(w, "},\"evidence_kind\":{");
	sep = "";
	for (uint32_t i = 0; i < n && i < WIRE_MAX_REPLICAS; i++)
		if (cs->evidence[i]) {
			textbuf_put(w, "%s\"%u\":\"%s\"", sep, i,
				    evidence_kind_name(cs->evidence_kind[i]));
			sep = ",";
		}
	textbuf_put(w, "}");
	/* gossip and what the proofs did (pbft_evidence.c); suspicions are never sent */
	textbuf_put(w, ",\"accountability\":{\"enabled\":%s", cs->evidence_on ? "true" : "false");
	put_u64(w, "proofs_sent", cs->evidence_sent);
	put_u64(w, "proofs_learnt", cs->evidence_learnt);
	put_u64(w, "duplicates", cs->evidence_duplicate);
	put_u64(w, "ignored_proven", cs->ignored_proven);
	put_u64(w, "vc_proven_primary", cs->vc_proven_primary);
	textbuf_put(w, "}");
}

int status_json(const struct status_input *in, char *out, size_t cap)
{
	if (cap > WIRE_MAX_STATUS)
		cap = WIRE_MAX_STATUS; /* the document must fit a STATUS_RESP */
	if (cap == 0)
		return -1;
	struct textbuf w = {.p = out, .len = 0, .cap = cap, .over = 0};
	const struct core_status *cs = in->cs;
	textbuf_put(&w, "{\"id\":%u,\"protocol\":", in->id);
	put_str(&w, cs->protocol ? cs->protocol : "unknown");
	put_u64(&w, "view", cs->view);
	put_u64(&w, "primary", cs->primary);
	put_u64(&w, "last_executed", cs->last_executed);
	put_u64(&w, "stable_checkpoint", cs->stable_checkpoint);
	textbuf_put(&w, ",\"state_digest\":\"");
	for (int i = 0; i < WIRE_DIGEST_LEN; i++)
		textbuf_put(&w, "%02x", cs->state_digest[i]);
	textbuf_put(&w, "\"");
	put_u64(&w, "msgs_sent", in->net ? in->net->msgs_sent : 0);
	put_u64(&w, "bytes_sent", in->net ? in->net->bytes_sent : 0);
	put_u64(&w, "msgs_recv", in->c->msgs_recv);
	put_u64(&w, "bytes_recv", in->c->bytes_recv);
	put_u64(&w, "sigs_made", in->auth ? in->auth->sigs_made : 0);
	put_u64(&w, "sigs_verified", in->auth ? in->auth->sigs_verified : 0);
	put_u64(&w, "macs_made", in->auth ? in->auth->macs_made : 0);
	put_u64(&w, "macs_verified", in->auth ? in->auth->macs_verified : 0);
	textbuf_put(&w,
		    ",\"rejected\":{\"bad_auth\":%llu,\"bad_format\":%llu,\"old_view\":%llu,"
		    "\"out_of_window\":%llu,\"conflict\":%llu,\"rate_limited\":%llu,"
		    "\"unsigned_suspect\":%llu,\"bad_evidence\":%llu",
		    (unsigned long long)in->c->edge.bad_auth,
		    (unsigned long long)in->c->edge.bad_format,
		    (unsigned long long)cs->rejected_old_view,
		    (unsigned long long)cs->rejected_out_of_window,
		    (unsigned long long)cs->rejected_conflict,
		    (unsigned long long)cs->rejected_rate_limited,
		    (unsigned long long)(in->auth ? in->auth->suspect_refused : 0),
		    (unsigned long long)cs->rejected_bad_evidence);
	/* issue 16 items 3-4: robust mode's edge (auth_verify_client, net.c's budget) */
	textbuf_put(&w,
		    ",\"unsigned_request\":%llu,\"blacklisted_client\":%llu,\"peer_budget\":%llu}",
		    (unsigned long long)(in->auth ? in->auth->unsigned_requests : 0),
		    (unsigned long long)(in->auth ? in->auth->blacklisted_drops : 0),
		    (unsigned long long)(in->net ? in->net->peer_budget : 0));
	put_u64(&w, "blacklisted_clients", in->auth ? in->auth->banned : 0);
	put_u64(&w, "suspect_clients", in->auth ? in->auth->suspects_marked : 0);
	textbuf_put(&w, ",\"byz\":");
	if (in->byz)
		put_str(&w, in->byz);
	else
		textbuf_put(&w, "null");
	put_u64(&w, "n", in->n);
	put_u64(&w, "f", in->f);
	put_u64(&w, "view_changing", cs->view_changing ? 1 : 0);
	put_u64(&w, "requests_executed", cs->requests_executed);
	put_u64(&w, "requests_readonly", cs->requests_readonly);
	put_u64(&w, "slots_caught_up", cs->slots_caught_up);
	put_u64(&w, "vc_timer", cs->vc_timer);
	put_u64(&w, "send_drops", in->net ? in->net->send_drops : 0);
	put_u64(&w, "no_route", in->net ? in->net->no_route : 0);
	put_u64(&w, "frames_sent", in->net ? in->net->frames_sent : 0);
	put_u64(&w, "rx_drops", in->net ? in->net->rx_drops : 0); /* rr.h: a peer's queue full */
	textbuf_put(&w, ",\"pid\":%ld", in->pid);
	put_u64(&w, "uptime_ms", in->uptime_ms);
	put_robust(&w, cs);
	put_evidence(&w, cs, in->n);
	if (in->extra && *in->extra)
		textbuf_put(&w, ",%s", in->extra);
	textbuf_put(&w, "}");
	if (w.over)
		return -1;
	return (int)w.len;
}
