/* fuzz_decode.c - every byte a replica or client receives goes through here first.
 *
 * The input is one message as it would arrive on a socket.  It is decoded with
 * wire_decode (every type), the pieces a decoded message promises are checked (pointers
 * inside the input, limits respected, certificate walks that "cannot fail" not failing),
 * and it is verified with auth_verify in each auth mode, by a replica and by a client,
 * with the fixed keys of fuzz_common.c (so a seed sealed by gen_corpus.c verifies).
 * The same bytes also go to the decoders callers use on their own: wire_decode_cpp
 * (certificates, recovery) and wire_decode_batch (batches, VR logs).
 * Finally the bytes go through the edge sequence both drivers use (edge_receive,
 * replica/edge.h) on each socket, in auth mode none (where a liar needs no key), and
 * what it accepts is stepped into a fresh PBFT core, replica 0 of 4, as the replica's
 * event loop would: the core must survive whatever passes the edge.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/core/core.h"
#include "replica/edge.h"
#include "tests/fuzz/fuzz_common.h"
#include "wire/wire.h"

static const uint8_t *lo, *hi; /* the input: every decoded pointer must stay inside */

static void in_input(const uint8_t *p, size_t len)
{
	FZ_ASSERT(p != NULL);
	FZ_ASSERT(p >= lo && p <= hi && len <= (size_t)(hi - p));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_dir();
	return 0;
}

static void check_batch(const struct body_preprepare *pp)
{
	struct msg req;

	FZ_ASSERT(pp->count <= WIRE_MAX_BATCH);
	for (uint16_t i = 0; i < pp->count; i++) {
		in_input(pp->req[i], pp->req_len[i]);
		/* decode_preprepare accepted it as a REQUEST, so it must decode again */
		FZ_ASSERT(wire_decode(pp->req[i], pp->req_len[i], FZ_CLUSTER, &req) == WIRE_OK);
		FZ_ASSERT(req.h.type == MSG_REQUEST);
	}
}

static void check_cpp(const struct compact_pp *c)
{
	in_input(c->raw, c->len);
	FZ_ASSERT(c->h.type == MSG_PREPREPARE);
	FZ_ASSERT(c->len == (uint32_t)WIRE_CPP_LEN_MIN + c->h.auth_len);
}

static void walk_viewchange(const struct msg *m)
{
	struct cursor c;
	struct vc_prepared e;
	uint32_t count = 0;
	int rc;

	FZ_ASSERT(m->u.vc.n_ckpt <= WIRE_MAX_REPLICAS);
	for (uint16_t i = 0; i < m->u.vc.n_ckpt; i++)
		in_input(m->u.vc.ckpt[i], m->u.vc.ckpt_len[i]);
	wire_vc_begin(m, &c);
	while ((rc = wire_vc_next(&c, FZ_CLUSTER, &e)) > 0) {
		check_cpp(&e.pp);
		FZ_ASSERT(e.n_prep <= WIRE_MAX_REPLICAS);
		for (uint16_t i = 0; i < e.n_prep; i++)
			in_input(e.prep[i], e.prep_len[i]);
		count++;
	}
	/* wire.h: "< 0 cannot happen for a message wire_decode accepted" */
	FZ_ASSERT(rc == 0);
	FZ_ASSERT(count == m->u.vc.n_prepared);
}

static void walk_newview(const struct msg *m)
{
	struct cursor c;
	struct compact_pp e;
	uint32_t count = 0;
	int rc;

	FZ_ASSERT(m->u.nv.n_vc <= WIRE_MAX_REPLICAS);
	for (uint16_t i = 0; i < m->u.nv.n_vc; i++) {
		struct msg vc;
		in_input(m->u.nv.vc[i], m->u.nv.vc_len[i]);
		FZ_ASSERT(wire_decode(m->u.nv.vc[i], m->u.nv.vc_len[i], FZ_CLUSTER, &vc) ==
			  WIRE_OK);
		FZ_ASSERT(vc.h.type == MSG_VIEWCHANGE);
		walk_viewchange(&vc);
	}
	wire_nv_begin(m, &c);
	while ((rc = wire_nv_next(&c, FZ_CLUSTER, &e)) > 0) {
		check_cpp(&e);
		count++;
	}
	FZ_ASSERT(rc == 0);
	FZ_ASSERT(count == m->u.nv.n_o);
}

/* HotStuff: pointers inside the input, the QC within its bounds, a proposal's batch
 * and a BLOCK's inner proposal decodable on their own. */
static void walk_hs(const struct msg *m)
{
	const struct body_hs *b = &m->u.hs;
	struct body_preprepare pp;
	struct msg in;
	FZ_ASSERT(b->qc.count <= WIRE_MAX_REPLICAS);
	switch (m->h.type) {
	case MSG_HS_PROPOSAL:
		in_input(b->parent, WIRE_DIGEST_LEN);
		in_input(b->batch, b->batch_len);
		FZ_ASSERT(wire_decode_batch(b->batch, b->batch_len, FZ_CLUSTER, &pp) == WIRE_OK);
		check_batch(&pp);
		break;
	case MSG_HS_VOTE:
	case MSG_HS_FETCH: in_input(b->hash, WIRE_DIGEST_LEN); break;
	case MSG_HS_BLOCK:
		in_input(b->inner, b->inner_len);
		FZ_ASSERT(wire_decode(b->inner, b->inner_len, FZ_CLUSTER, &in) == WIRE_OK);
		FZ_ASSERT(in.h.type == MSG_HS_PROPOSAL);
		break;
	default: break;
	}
}

static int has_log_section(int type)
{
	return type == MSG_VR_DO_VIEW_CHANGE || type == MSG_VR_START_VIEW ||
	       type == MSG_VR_NEW_STATE;
}

static void walk_vr(const struct msg *m)
{
	struct body_preprepare pp;

	if (m->h.type == MSG_VR_PREPARE) {
		in_input(m->u.vr.batch, m->u.vr.batch_len);
		FZ_ASSERT(wire_decode_batch(m->u.vr.batch, m->u.vr.batch_len, FZ_CLUSTER, &pp) ==
			  WIRE_OK);
		check_batch(&pp);
	}
	if (m->h.type == MSG_VR_NEW_STATE) {
		FZ_ASSERT(m->u.vr.chunk_len <= WIRE_STATE_CHUNK);
		in_input(m->u.vr.chunk, m->u.vr.chunk_len);
	}
	if (!has_log_section(m->h.type))
		return;
	struct cursor c;
	struct vr_log_entry e;
	uint32_t count = 0;
	int rc;
	wire_vr_entries_begin(m, &c);
	while ((rc = wire_vr_next_entry(&c, &e)) > 0) {
		in_input(e.batch, e.len);
		FZ_ASSERT(wire_decode_batch(e.batch, e.len, FZ_CLUSTER, &pp) == WIRE_OK);
		count++;
	}
	FZ_ASSERT(rc == 0);
	FZ_ASSERT(count == m->u.vr.n_entries);
}

static void check_decoded(const struct msg *m, size_t size)
{
	FZ_ASSERT(m->raw == lo && m->raw_len == size);
	FZ_ASSERT(m->h.cluster_id == FZ_CLUSTER);
	FZ_ASSERT(m->h.type >= MSG_REQUEST && m->h.type <= MSG_TYPE_MAX);
	FZ_ASSERT((uint64_t)WIRE_HDR_LEN + m->h.body_len + m->h.auth_len == size);
	FZ_ASSERT(m->body == lo + WIRE_HDR_LEN && m->auth == m->body + m->h.body_len);
	switch (m->h.type) {
	case MSG_REQUEST:
		FZ_ASSERT(m->u.req.op_len <= WIRE_MAX_OP);
		in_input(m->u.req.op, m->u.req.op_len);
		break;
	case MSG_REPLY:
		FZ_ASSERT(m->u.rep.result_len <= WIRE_MAX_RESULT);
		in_input(m->u.rep.result, m->u.rep.result_len);
		break;
	case MSG_PREPREPARE:
	case MSG_BATCH: check_batch(&m->u.pp); break;
	case MSG_VIEWCHANGE: walk_viewchange(m); break;
	case MSG_NEWVIEW: walk_newview(m); break;
	case MSG_STATE:
		FZ_ASSERT(m->u.st.len <= WIRE_STATE_CHUNK);
		FZ_ASSERT(m->u.st.offset <= m->u.st.total);
		FZ_ASSERT(m->u.st.len <= m->u.st.total - m->u.st.offset);
		in_input(m->u.st.chunk, m->u.st.len);
		break;
	case MSG_STATUS_RESP:
	case MSG_ADMIN_FAULTS:
		FZ_ASSERT(m->u.text.len <= WIRE_MAX_STATUS);
		in_input(m->u.text.text, m->u.text.len);
		break;
	default:
		if (m->h.type >= MSG_VR_PREPARE && m->h.type <= MSG_VR_NEW_STATE)
			walk_vr(m);
		if (m->h.type >= MSG_HS_PROPOSAL && m->h.type <= MSG_HS_BLOCK)
			walk_hs(m);
		break;
	}
}

/* Verify in every mode, as replica 0 of 4 and as a client.  A mutated message almost
 * never verifies; what matters is that verifying never misbehaves. */
static void verify_all(const struct msg *m)
{
	static const enum auth_mode modes[] = {AUTH_MODE_NONE, AUTH_MODE_SIG, AUTH_MODE_MAC};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		(void)auth_verify(fz_auth(modes[i], 4, 0, 0), m);
		(void)auth_verify(fz_auth(modes[i], 4, 0, 3), m);
		(void)auth_verify(fz_auth(modes[i], 4, 1, 1), m);
		if (m->h.type == MSG_REQUEST)
			(void)auth_verify_request(fz_auth(modes[i], 4, 0, 1), m);
	}
}

/* Step a fresh core (the configuration of gen_corpus.c's cluster) with m. */
static void step_core(const struct msg *m, struct auth_ctx *a)
{
	struct core_config cc = {.protocol = PROTO_PBFT,
				 .n = 4,
				 .f = 1,
				 .id = 0,
				 .cluster_id = FZ_CLUSTER,
				 .batch_max = 8,
				 .window = 16,
				 .checkpoint_interval = 4,
				 .view_timeout_ms = 100,
				 .max_clients = 16,
				 .kv_max_bytes = 1u << 20,
				 .auth = a};
	void *core = pbft_core_ops.create(&cc);
	struct effects fx;
	if (!core)
		abort();
	effects_init(&fx);
	struct event ev = {.kind = EV_START, .now_ms = 1000, .m = NULL};
	pbft_core_ops.step(core, &ev, &fx);
	effects_reset(&fx);
	ev = (struct event){.kind = EV_MSG, .now_ms = 1001, .m = m};
	pbft_core_ops.step(core, &ev, &fx);
	FZ_ASSERT(!effects_failed(&fx));
	effects_free(&fx);
	pbft_core_ops.destroy(core);
}

/* The replica's edge sequence (replica/edge.h) on every socket, as replica 0 of 4 in
 * auth mode none (where a liar needs no key): each input is refused for exactly one
 * counted reason or accepted, and what the peer or client socket accepts is stepped
 * into a core, as the replica's event loop would: the core must survive whatever
 * passes the edge. */
static void edge_all(const uint8_t *data, size_t size, int decoded)
{
	struct auth_ctx *a = fz_auth(AUTH_MODE_NONE, 4, 0, 0);
	int stepped = 0;
	for (int s = NET_PEER; s < NET_NSOCK; s++) {
		struct edge_counters c = {0};
		struct edge e = {.cluster_id = FZ_CLUSTER,
				 .n = 4,
				 .self = 0,
				 .max_clients = 16,
				 .auth = a,
				 .count = &c};
		struct msg *m = malloc(sizeof(*m));
		if (!m)
			abort();
		enum edge_verdict v = edge_receive(&e, (enum net_sock)s, s == NET_CLIENT, 0, data,
						   size, m);
		FZ_ASSERT((v == EDGE_BAD_FORMAT) == !decoded);
		FZ_ASSERT(c.bad_format + c.bad_auth == (v == EDGE_OK ? 0u : 1u));
		FZ_ASSERT(c.not_allowed == (v == EDGE_NOT_ALLOWED ? 1u : 0u) && c.unheard == 0);
		if (v == EDGE_OK && s != NET_ADMIN && m->h.type != MSG_HELLO && !stepped) {
			in_input(m->raw, size);
			step_core(m, a);
			stepped = 1;
		}
		free(m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg *m = malloc(sizeof(*m)); /* on the heap: ASan sees overruns of it */
	struct compact_pp cpp;
	struct body_preprepare *pp = malloc(sizeof(*pp));

	if (!m || !pp)
		abort();
	lo = data;
	hi = data + size;
	int rc = wire_decode(data, size, FZ_CLUSTER, m);
	FZ_ASSERT(rc <= 0 && rc >= WIRE_E_NOMEM);
	(void)wire_strerror(rc);
	if (rc == WIRE_OK) {
		(void)wire_type_name(m->h.type);
		check_decoded(m, size);
		verify_all(m);
	} else {
		FZ_ASSERT(m->raw == NULL);
		/* auth_verify must refuse what did not decode */
		FZ_ASSERT(auth_verify(fz_auth(AUTH_MODE_NONE, 4, 0, 0), m) != 0);
	}
	/* Also the decoders that take bytes straight from certificates and logs. */
	if (wire_decode_cpp(data, size, FZ_CLUSTER, &cpp) == WIRE_OK) {
		check_cpp(&cpp);
		(void)auth_verify_cpp(fz_auth(AUTH_MODE_SIG, 4, 0, 1), &cpp);
		(void)auth_verify_cpp(fz_auth(AUTH_MODE_MAC, 4, 0, 1), &cpp);
		(void)auth_verify_cpp(fz_auth(AUTH_MODE_NONE, 4, 0, 1), &cpp);
	}
	if (wire_decode_batch(data, size, FZ_CLUSTER, pp) == WIRE_OK)
		check_batch(pp);
	edge_all(data, size, rc == WIRE_OK);
	free(pp);
	free(m);
	return 0;
}
