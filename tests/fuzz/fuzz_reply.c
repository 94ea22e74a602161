/* fuzz_reply.c - the client's handling of replies: decode, filter, authenticate,
 * collect into a quorum, adopt a view and render the accepted result.
 *
 * Input: a 16-byte header, then replies as the client would receive them:
 *   proto u8 (% 3) | f u8 (% 6) | flags u8 (bit 0 readonly, bits 1-2 auth mode % 3) |
 *   client u8 (% FZ_CLIENTS) | timestamp u64 | cmd u8 (% 4) | 3 bytes ignored |
 *   then repeated: len u16 | len bytes (one message, as received from a replica).
 * The harness mirrors client.c's handle_msg (a static function): wire_decode, REPLY
 * only, our client id and timestamp only, auth_verify with our client key, then
 * client_quorum_add.  Invariants: a quorum accepted in pbft mode really has `need`
 * byte-identical results from distinct replicas; in vr mode it came from the primary
 * of its view; client_quorum_view is a view some replica reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "tests/fuzz/fuzz_common.h"

#define HDR 16

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

static void check_accepted(const struct client_quorum *q)
{
	uint32_t w = q->winner, same = 0;

	FZ_ASSERT(w < q->n && q->have[w]);
	if (q->proto == PROTO_VR)
		FZ_ASSERT(w == q->view[w] % q->n);
	if (q->proto == PROTO_PBFT) {
		for (uint32_t i = 0; i < q->n; i++)
			same += q->have[i] && q->res[i].len == q->res[w].len &&
				(q->res[w].len == 0 ||
				 memcmp(q->res[i].p, q->res[w].p, q->res[w].len) == 0);
		FZ_ASSERT(same >= q->need);
	}
	uint64_t v = client_quorum_view(q);
	int reported = 0;
	for (uint32_t i = 0; i < q->n; i++)
		reported |= q->have[i] && q->view[i] == v;
	FZ_ASSERT(reported);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_quorum *q = malloc(sizeof(*q));
	struct msg m;

	if (!q)
		abort();
	if (size < HDR) {
		free(q);
		return 0;
	}
	enum protocol proto = (enum protocol)(data[0] % 3);
	uint32_t f = proto == PROTO_SINGLE ? 0 : 1 + data[1] % 5;
	uint32_t n = protocol_n(proto, f);
	if (n > WIRE_MAX_REPLICAS) {
		f = 1;
		n = protocol_n(proto, f);
	}
	int readonly = data[2] & 1;
	enum auth_mode mode = (enum auth_mode)((data[2] >> 1) % 3);
	uint32_t client = data[3] % FZ_CLIENTS;
	uint64_t ts = get_u64(data + 4);
	enum client_cmd cmd = (enum client_cmd)(data[12] % 4);
	struct auth_ctx *a = fz_auth(mode, n, 1, client);

	client_quorum_init(q);
	client_quorum_reset(q, proto, n, f, client, ts, readonly);
	FZ_ASSERT(q->need >= 1 && q->need <= q->n);
	int accepted = 0;
	size_t off = HDR;
	while (size - off >= 2) {
		size_t len = get_u16(data + off);
		off += 2;
		if (len > size - off)
			len = size - off;
		const uint8_t *p = data + off;
		off += len;
		if (wire_decode(p, len, FZ_CLUSTER, &m) != WIRE_OK || m.h.type != MSG_REPLY)
			continue;
		if (m.u.rep.client != client || m.u.rep.timestamp != ts)
			continue;
		if (auth_verify(a, &m) != 0)
			continue;
		int r = client_quorum_add(q, m.h.sender, m.h.view, m.u.rep.client,
					  m.u.rep.timestamp, m.u.rep.result, m.u.rep.result_len);
		FZ_ASSERT(r >= -1 && r <= 1);
		FZ_ASSERT(!accepted || r == 1); /* once accepted, stays accepted */
		if (r == 1 && !accepted) {
			accepted = 1;
			check_accepted(q);
		}
	}
	if (accepted) {
		const struct buf *res = &q->res[q->winner];
		int rc = client_print_result(cmd, res->p, res->len, devnull, devnull);
		FZ_ASSERT(rc == CLIENT_EXIT_OK || rc == CLIENT_EXIT_FAILED);
	} else {
		FZ_ASSERT(client_quorum_view(q) == 0);
	}
	client_quorum_free(q);
	free(q);
	return 0;
}
