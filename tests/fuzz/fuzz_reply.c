/* fuzz_reply.c - the client core (client/client_core.h) receiving replies: the very
 * code byzlab-client and the simulator run (client_core_receive: decode, REPLY only,
 * the wanted filter, auth_verify, the accept rule, the read-only retry, the view it
 * adopts), then the accepted result rendered as byzlab-client prints it.
 *
 * Input: a 16-byte header, then replies as the client would receive them:
 *   proto u8 (% 4) | f u8 (% 5, + 1; 0 for single) | flags u8 (bit 0 a read-only
 *   request, bits 1-7 auth mode % 3) | client u8 (% FZ_CLIENTS) | timestamp u64 (the
 *   floor of the request's timestamp) | cmd u8 (% 4) | options u8 | 2 bytes ignored |
 *   then repeated: len u16 | len bytes (one message, as received from a replica).
 * Options: bit 0 pbft read_only = on, bit 1 sign_always (robust), bit 2 time passes
 * (CLIENT_RTO_MS + 100 ms, then client_core_tick) before each message, bit 3 vr
 * leases.  A header of zeros past cmd is what the corpus was made with.
 * Invariants: every result the core accepts has `need` >= f+1 (2f+1 read-only) matching
 * replies from distinct replicas that the harness saw pass the client's edge for that
 * timestamp, one of them in full and that one's digest is the result's (pbft,
 * hotstuff); came from the primary of its view (vr); the view the core adopts is one
 * a replica reported, and never goes back; once done, the core stays done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/client_core.h"
#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/kv.h"
#include "tests/fuzz/fuzz_common.h"

#define HDR 16
#define OPT_READ_ONLY 1u
#define OPT_SIGN_ALWAYS 2u
#define OPT_TICK 4u
#define OPT_LEASES 8u
#define TIMEOUT_MS 5000u

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_dir();
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

/* What the harness saw pass the client's edge for the pending timestamp: the replicas
 * that sent a wanted reply that authenticated (rc OK while wanted). */
struct seen {
	uint64_t ts;
	uint8_t from[WIRE_MAX_REPLICAS];
};

static void check_accepted(const struct client_core *c, const struct seen *s, uint64_t view0)
{
	const struct client_quorum *q = &c->q;
	uint32_t w = q->winner, same = 0, distinct = 0;
	size_t len;
	const uint8_t *res = client_core_result(c, &len);
	uint8_t d[WIRE_DIGEST_LEN];

	FZ_ASSERT(c->state == CC_DONE && q->done);
	FZ_ASSERT(w < q->n && q->have[w] && q->full[w]);
	FZ_ASSERT(len <= WIRE_MAX_RESULT && (len == 0 || res != NULL));
	crypto_digest(res, len, d);
	FZ_ASSERT(memcmp(d, q->digest[w], WIRE_DIGEST_LEN) == 0);
	FZ_ASSERT(s->ts == q->timestamp && s->ts == c->ts);
	if (q->proto == PROTO_VR)
		FZ_ASSERT(w == q->view[w] % q->n);
	if (protocol_is_bft(q->proto)) {
		uint32_t floor = q->f + 1;
		if (q->proto == PROTO_PBFT && ((c->flags & REQ_F_READONLY) || c->cfg.read_only))
			floor = 2 * q->f + 1;
		FZ_ASSERT(q->need >= (floor < q->n ? floor : q->n));
		for (uint32_t i = 0; i < q->n; i++) {
			distinct += s->from[i];
			same += q->have[i] && s->from[i] &&
				memcmp(q->digest[i], q->digest[w], WIRE_DIGEST_LEN) == 0;
		}
		FZ_ASSERT(same >= q->need && distinct >= q->need);
	}
	uint64_t v = client_quorum_view(q);
	int reported = 0;
	for (uint32_t i = 0; i < q->n; i++)
		reported |= q->have[i] && q->view[i] == v;
	FZ_ASSERT(reported);
	FZ_ASSERT(c->view == (v > view0 ? v : view0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	enum protocol proto = (enum protocol)(data[0] % 4);
	uint32_t f = proto == PROTO_SINGLE ? 0 : 1 + data[1] % 5;
	uint32_t n = protocol_n(proto, f);
	if (n > WIRE_MAX_REPLICAS) {
		f = 1;
		n = protocol_n(proto, f);
	}
	int readonly = data[2] & 1;
	enum auth_mode mode = (enum auth_mode)((data[2] >> 1) % 3);
	uint32_t client = data[3] % FZ_CLIENTS;
	/* a real client's floor is its clock in microseconds: far from wrapping */
	uint64_t ts_min = get_u64(data + 4) & (UINT64_MAX >> 1);
	enum client_cmd cmd = (enum client_cmd)(data[12] % 4);
	uint8_t opt = data[13];
	struct client_core_config cfg = {
		.proto = proto,
		.n = n,
		.f = f,
		.id = client,
		.cluster = FZ_CLUSTER,
		.read_only = (opt & OPT_READ_ONLY) && proto == PROTO_PBFT,
		.lease_reads = (opt & OPT_LEASES) && proto == PROTO_VR,
		.sign_always = (opt & OPT_SIGN_ALWAYS) != 0,
		.timeout_ms = (opt & OPT_TICK) ? TIMEOUT_MS : 0,
		.auth = fz_auth(mode, n, 1, client),
	};
	struct client_core *c = malloc(sizeof(*c));
	struct seen *s = calloc(1, sizeof(*s));
	struct client_out out;
	struct buf op;
	struct msg m;
	uint64_t now = 1000000;

	if (!c || !s)
		abort();
	buf_init(&op);
	if (cmd == CLIENT_CMD_GET)
		kv_op_get(&op, "k", 1);
	else
		kv_op_put(&op, "k", 1, "v", 1);
	client_core_init(c, &cfg);
	FZ_ASSERT(client_core_submit(c, op.p, op.len, readonly ? REQ_F_READONLY : 0, ts_min, now,
				     &out) == 0);
	FZ_ASSERT(c->state == CC_PENDING && c->ts >= ts_min && c->ts >= 1);
	FZ_ASSERT(out.send_to != CLIENT_SEND_NONE && client_core_request(c)->len > 0);
	s->ts = c->ts;
	int accepted = 0;
	size_t off = HDR;
	while (size - off >= 2) {
		size_t len = get_u16(data + off);
		off += 2;
		if (len > size - off)
			len = size - off;
		const uint8_t *p = data + off;
		off += len;
		if (opt & OPT_TICK) {
			now += (uint64_t)(CLIENT_RTO_MS + 100) * 1000u;
			client_core_tick(c, now, &out);
			FZ_ASSERT(!out.done && out.next_tick_us > now);
			FZ_ASSERT(!out.timed_out || c->state == CC_TIMEOUT);
			FZ_ASSERT(!out.readonly_retry || !(c->flags & REQ_F_READONLY));
		}
		if (c->ts != s->ts) { /* a read-only request went read-write */
			memset(s->from, 0, sizeof(s->from));
			s->ts = c->ts;
		}
		int was_pending = c->state == CC_PENDING;
		uint64_t view0 = c->view;
		int reply = wire_decode(p, len, FZ_CLUSTER, &m) == WIRE_OK && m.h.type == MSG_REPLY;
		int wanted = reply && client_core_wants(c, m.u.rep.client, m.u.rep.timestamp);
		int rc = client_core_receive(c, p, len, now, &out);
		FZ_ASSERT(reply == (rc != CLIENT_RX_BAD_FORMAT));
		FZ_ASSERT(rc == CLIENT_RX_OK || rc == CLIENT_RX_BAD_FORMAT ||
			  rc == CLIENT_RX_BAD_AUTH);
		FZ_ASSERT(rc != CLIENT_RX_BAD_AUTH || wanted);
		if (rc == CLIENT_RX_OK && wanted && m.h.sender < n)
			s->from[m.h.sender] = 1;
		FZ_ASSERT(!out.done || was_pending);         /* accepted once, from pending */
		FZ_ASSERT(!accepted || c->state == CC_DONE); /* once done, stays done */
		FZ_ASSERT(rc == CLIENT_RX_OK || !out.done);
		if (out.done) {
			accepted = 1;
			check_accepted(c, s, view0);
		}
		if (out.readonly_retry) {
			FZ_ASSERT(c->ts == s->ts + 1 && out.send_to != CLIENT_SEND_NONE);
			memset(s->from, 0, sizeof(s->from));
			s->ts = c->ts;
		}
	}
	if (accepted) {
		size_t len;
		const uint8_t *res = client_core_result(c, &len);
		int rc = client_print_result(cmd, res, len, devnull, devnull);
		FZ_ASSERT(rc == CLIENT_EXIT_OK || rc == CLIENT_EXIT_FAILED);
	} else {
		FZ_ASSERT(c->state != CC_DONE && c->view == 0);
	}
	client_core_free(c);
	buf_free(&op);
	free(c);
	free(s);
	return 0;
}
