/* admin.c - setting a replica's faults through its admin address (see admin.h). */
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "client/admin.h"
#include "client/client.h"
#include "wire/wire.h"

/* One request, one answer, both within timeout_ms.  Returns the answer or NULL. */
static nng_msg *ask(const char *addr, const struct buf *req, uint32_t timeout_ms)
{
	nng_socket s;
	nng_msg *answer = NULL;
	if (nng_req0_open(&s) != 0)
		return NULL;
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, WIRE_MAX_STATUS + 4096);
	if (nng_dial(s, addr, NULL, NNG_FLAG_NONBLOCK) == 0 &&
	    nng_send(s, req->p, req->len, 0) == 0)
		nng_recvmsg(s, &answer, 0);
	nng_close(s);
	return answer;
}

int client_admin_faults(const struct config *c, uint32_t id, const char *spec, uint32_t timeout_ms,
			FILE *out, FILE *err)
{
	if (id >= c->n) {
		fprintf(err, "byzlab-client: faults: no replica %u in %s (0..%u)\n", id, c->path,
			c->n - 1);
		return CLIENT_EXIT_USAGE;
	}
	size_t len = strlen(spec);
	if (len > WIRE_MAX_ADMIN) {
		fprintf(err, "byzlab-client: faults: specification longer than %d bytes\n",
			WIRE_MAX_ADMIN);
		return CLIENT_EXIT_USAGE;
	}
	struct buf req;
	buf_init(&req);
	wire_put_text(&req, MSG_ADMIN_FAULTS, c->cluster_id, 0, spec, (uint32_t)len);
	nng_msg *answer = req.err ? NULL : ask(c->replica[id].admin, &req, timeout_ms);
	buf_free(&req);
	struct msg m;
	if (!answer ||
	    wire_decode(nng_msg_body(answer), nng_msg_len(answer), c->cluster_id, &m) != WIRE_OK ||
	    m.h.type != MSG_STATUS_RESP) {
		fprintf(err, "byzlab-client: faults: replica %u (%s) gave no answer within %u ms\n",
			id, c->replica[id].admin, timeout_ms);
		if (answer)
			nng_msg_free(answer);
		return CLIENT_EXIT_FAILED;
	}
	/* one line: control bytes become spaces (a broken replica cannot break it) */
	char text[WIRE_MAX_STATUS + 1];
	uint32_t n = m.u.text.len;
	for (uint32_t i = 0; i < n; i++)
		text[i] = (char)(m.u.text.text[i] < 0x20 ? ' ' : m.u.text.text[i]);
	text[n] = 0;
	nng_msg_free(answer);
	if (strstr(text, "\"error\":")) {
		fprintf(err, "byzlab-client: faults: replica %u refused: %s\n", id, text);
		return CLIENT_EXIT_FAILED;
	}
	fprintf(out, "%s\n", text);
	return CLIENT_EXIT_OK;
}
