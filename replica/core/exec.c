/* exec.c - exactly-once execution over the KV state machine (PBFT §4.1). */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/assert.h"
#include "replica/core/exec.h"

int exec_init(struct exec_state *x, uint32_t max_clients, size_t kv_max_bytes)
{
	memset(x, 0, sizeof(*x));
	x->kv = kv_new(kv_max_bytes);
	x->clients = calloc(max_clients ? max_clients : 1, sizeof(*x->clients));
	x->max_clients = max_clients;
	buf_init(&x->out);
	if (!x->kv || !x->clients) {
		exec_free(x);
		return -1;
	}
	return 0;
}

static void clear_clients(struct exec_state *x)
{
	for (uint32_t i = 0; i < x->max_clients; i++) {
		free(x->clients[i].result);
		x->clients[i] = (struct client_entry){0};
	}
}

void exec_free(struct exec_state *x)
{
	if (x->clients)
		clear_clients(x);
	free(x->clients);
	if (x->kv)
		kv_free(x->kv);
	buf_free(&x->out);
	memset(x, 0, sizeof(*x));
}

int exec_classify(const struct exec_state *x, uint32_t client, uint64_t ts)
{
	if (client >= x->max_clients || ts == 0)
		return EXEC_STALE;
	uint64_t last = x->clients[client].last_ts;
	if (ts > last)
		return EXEC_NEW;
	return ts == last ? EXEC_CACHED : EXEC_STALE;
}

int exec_request(struct exec_state *x, const struct msg *req, const uint8_t **result,
		 uint32_t *result_len)
{
	uint32_t client = req->h.sender;
	uint64_t ts = req->u.req.timestamp;
	int verdict = exec_classify(x, client, ts);
	if (verdict == EXEC_STALE)
		return verdict;
	CORE_ASSERT(client < x->max_clients && ts > 0); /* else EXEC_STALE */
	struct client_entry *ce = &x->clients[client];
	if (verdict == EXEC_NEW) {
		buf_reset(&x->out);
		kv_execute(x->kv, req->u.req.op, req->u.req.op_len, &x->out);
		uint8_t *copy = malloc(x->out.len ? x->out.len : 1);
		if (!copy)
			abort(); /* cannot keep exactly-once without the cache */
		memcpy(copy, x->out.p, x->out.len);
		free(ce->result);
		ce->result = copy;
		ce->result_len = (uint32_t)x->out.len;
		ce->last_ts = ts;
	}
	/* exactly once: the client's last timestamp is this request's, with its result */
	CORE_ASSERT(ce->last_ts == ts && ce->result != NULL);
	*result = ce->result;
	*result_len = ce->result_len;
	return verdict;
}

void exec_read(struct exec_state *x, const uint8_t *op, uint32_t op_len, const uint8_t **result,
	       uint32_t *result_len)
{
	buf_reset(&x->out);
	if (kv_op_is_readonly(op, op_len))
		kv_execute(x->kv, op, op_len, &x->out); /* a get, or KV_BAD_OP: no change */
	else
		buf_put_u8(&x->out, KV_BAD_OP);
	*result = x->out.p;
	*result_len = (uint32_t)x->out.len;
}

/* Snapshot: kv_len u32 | kv snapshot | n_entries u32 | (client u32, ts u64,
 * result_len u32, result)* for every client with last_ts > 0, in id order. */
void exec_snapshot(const struct exec_state *x, struct buf *out)
{
	size_t at = out->len;
	buf_put_u32(out, 0);
	kv_snapshot(x->kv, out);
	if (!out->err)
		set_u32(out->p + at, (uint32_t)(out->len - at - 4));
	uint32_t n = 0;
	for (uint32_t i = 0; i < x->max_clients; i++)
		n += x->clients[i].last_ts != 0;
	buf_put_u32(out, n);
	for (uint32_t i = 0; i < x->max_clients; i++) {
		const struct client_entry *ce = &x->clients[i];
		if (!ce->last_ts)
			continue;
		/* what exec_restore() accepts back: a result for every client entry */
		CORE_ASSERT(ce->result != NULL && ce->result_len <= WIRE_MAX_RESULT);
		buf_put_u32(out, i);
		buf_put_u64(out, ce->last_ts);
		buf_put_u32(out, ce->result_len);
		buf_put(out, ce->result, ce->result_len);
	}
}

int exec_restore(struct exec_state *x, const uint8_t *p, size_t len)
{
	struct cursor c;
	cur_init(&c, p, len);
	uint32_t kv_len = cur_u32(&c);
	const uint8_t *kvp = cur_bytes(&c, kv_len);
	uint32_t n = cur_u32(&c);
	if (!c.ok || n > x->max_clients)
		return -1;
	/* Validate the client table completely before changing anything. */
	size_t table_at = c.off;
	uint64_t next_id = 0; /* ids strictly increasing: no duplicates */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = cur_u32(&c);
		uint64_t ts = cur_u64(&c);
		uint32_t rl = cur_u32(&c);
		if (!c.ok || id < next_id || id >= x->max_clients || ts == 0 ||
		    rl > WIRE_MAX_RESULT || !cur_bytes(&c, rl))
			return -1;
		next_id = (uint64_t)id + 1;
	}
	if (c.off != len || kv_restore(x->kv, kvp, kv_len) != 0)
		return -1;
	clear_clients(x);
	cur_init(&c, p, len);
	c.off = table_at;
	for (uint32_t i = 0; i < n; i++) {
		struct client_entry *ce = &x->clients[cur_u32(&c)];
		ce->last_ts = cur_u64(&c);
		ce->result_len = cur_u32(&c);
		ce->result = malloc(ce->result_len ? ce->result_len : 1);
		if (!ce->result)
			abort();
		memcpy(ce->result, cur_bytes(&c, ce->result_len), ce->result_len);
	}
	CORE_ASSERT(c.ok && c.off == len); /* the second pass read what the first checked */
	return 0;
}

void exec_digest(const struct exec_state *x, uint8_t out[WIRE_DIGEST_LEN])
{
	struct buf b;
	buf_init_limit(&b, BUF_LIMIT_STATE);
	exec_snapshot(x, &b);
	crypto_digest(b.p, b.len, out);
	buf_free(&b);
}
