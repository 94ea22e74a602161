/* gen_corpus.c - writes the seed corpora of the fuzz targets (tests/fuzz/corpus/).
 *
 *   fuzz_gen_corpus OUTDIR      -> OUTDIR/{decode,config,reply,snapshot}/...
 *
 * Seeds are real: a tiny in-process cluster of four PBFT cores (and one single core)
 * runs requests, a view change and a state transfer, with the fixed keys of
 * fuzz_common.c, in each auth mode.  Every message the cores send is a candidate
 * decode seed (the first few of each type and mode are kept), the replies a client
 * receives become reply seeds, and the records a core persists (with the snapshots
 * among them) become snapshot seeds.  VR messages and cluster.ini files are built
 * by hand.  Deterministic: the same binary writes the same bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "config/config.h"
#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "replica/core/core.h"
#include "replica/kv.h"
#include "tests/fuzz/fuzz_common.h"

#define N 4
#define MAX_CLIENTS 16  /* as fuzz_snapshot.c: records must fit its config */
#define KEEP_PER_TYPE 2 /* decode seeds per (mode, type) */

static const char *out_dir;
static unsigned n_written[4];
static const char *const target[4] = {"decode", "config", "reply", "snapshot"};

static void put_file(int t, const char *name, const void *p, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target[t], name);
	fz_write_file(path, p, len, 0644);
	n_written[t]++;
}

static const char *mode_name(enum auth_mode m)
{
	return m == AUTH_MODE_SIG ? "sig" : m == AUTH_MODE_MAC ? "mac" : "none";
}

/* ---- a tiny cluster: messages are delivered in FIFO order, nothing is lost unless
 * a replica is cut off ---- */

struct packet {
	int to; /* replica id, or -1 - client id for a reply */
	uint8_t *p;
	size_t len;
};

struct record {
	uint8_t kind;
	uint64_t key;
	uint8_t *val;
	size_t len;
};

struct world {
	enum auth_mode mode;
	const struct core_ops *ops;
	uint32_t n;
	void *core[N];
	struct effects fx;
	uint64_t now;
	int cut[N]; /* 1: sends to and from this replica are lost */
	struct packet *q;
	size_t nq, capq, headq;
	struct record *rec[N]; /* persisted records of each replica */
	size_t nrec[N];
	unsigned kept[MSG_TYPE_MAX + 1];
	/* replies received by the client, per request, for reply seeds */
	struct buf replies;
	uint32_t reply_count;
};

static void push(struct world *w, int to, const uint8_t *p, size_t len)
{
	if (w->nq == w->capq) {
		w->capq = w->capq ? 2 * w->capq : 256;
		w->q = realloc(w->q, w->capq * sizeof(*w->q));
		if (!w->q)
			abort();
	}
	uint8_t *copy = malloc(len);
	if (!copy)
		abort();
	memcpy(copy, p, len);
	w->q[w->nq++] = (struct packet){.to = to, .p = copy, .len = len};
}

/* Keep the first few messages of each type as decode seeds. */
static void keep_message(struct world *w, const uint8_t *p, size_t len)
{
	uint8_t t = p[WIRE_OFF_TYPE];
	char name[128];
	if (t > MSG_TYPE_MAX || w->kept[t] >= KEEP_PER_TYPE)
		return;
	snprintf(name, sizeof(name), "%s-%s-%s-%u", w->ops->name, mode_name(w->mode),
		 wire_type_name(t), w->kept[t]++);
	put_file(0, name, p, len);
}

static void store_apply(struct world *w, uint32_t id, const struct persist *ps,
			const uint8_t *arena)
{
	struct record *r = w->rec[id];
	size_t n = w->nrec[id], k = 0;
	for (size_t i = 0; i < n; i++) {
		int drop = (ps->op == P_DEL && r[i].kind == ps->kind && r[i].key == ps->key) ||
			   (ps->op == P_DEL_BELOW && r[i].kind == ps->kind && r[i].key < ps->key) ||
			   (ps->op == P_PUT && r[i].kind == ps->kind && r[i].key == ps->key);
		if (drop)
			free(r[i].val);
		else
			r[k++] = r[i];
	}
	w->nrec[id] = k;
	if (ps->op != P_PUT)
		return;
	r = realloc(r, (k + 1) * sizeof(*r));
	if (!r)
		abort();
	uint8_t *val = malloc(ps->len ? ps->len : 1);
	if (!val)
		abort();
	memcpy(val, arena + ps->off, ps->len);
	r[k] = (struct record){.kind = ps->kind, .key = ps->key, .val = val, .len = ps->len};
	w->rec[id] = r;
	w->nrec[id] = k + 1;
}

static void step(struct world *w, uint32_t id, const struct event *ev)
{
	effects_reset(&w->fx);
	w->ops->step(w->core[id], ev, &w->fx);
	if (effects_failed(&w->fx))
		abort();
	for (size_t i = 0; i < w->fx.n_persists; i++)
		store_apply(w, id, &w->fx.persists[i], w->fx.arena.p);
	for (size_t i = 0; i < w->fx.n_sends; i++) {
		const struct send *s = &w->fx.sends[i];
		const uint8_t *p = w->fx.arena.p + s->off;
		keep_message(w, p, s->len);
		if (w->cut[id])
			continue;
		if (s->to == TO_CLIENT) {
			push(w, -1 - (int)s->client, p, s->len);
		} else if (s->to == TO_OTHERS) {
			for (uint32_t j = 0; j < w->n; j++)
				if (j != id)
					push(w, (int)j, p, s->len);
		} else if (s->to >= 0 && (uint32_t)s->to != id) {
			push(w, s->to, p, s->len);
		}
	}
}

static void deliver(struct world *w, const struct packet *pk)
{
	struct msg m;
	if (pk->to < 0) { /* a reply: collect it for the reply seeds */
		buf_put_u16(&w->replies, (uint16_t)pk->len);
		buf_put(&w->replies, pk->p, pk->len);
		w->reply_count++;
		return;
	}
	uint32_t id = (uint32_t)pk->to;
	if (w->cut[id])
		return;
	if (wire_decode(pk->p, pk->len, FZ_CLUSTER, &m) != WIRE_OK ||
	    auth_verify(fz_auth(w->mode, w->n, 0, id), &m) != 0) {
		fprintf(stderr, "gen_corpus: replica %u refused a %s\n", id,
			wire_type_name(pk->p[WIRE_OFF_TYPE]));
		abort();
	}
	struct event ev = {.kind = EV_MSG, .now_ms = w->now, .m = &m};
	step(w, id, &ev);
}

static void run_queue(struct world *w)
{
	for (int guard = 0; w->headq < w->nq; guard++) {
		if (guard > 1000000)
			abort();
		struct packet pk = w->q[w->headq++];
		deliver(w, &pk);
		free(pk.p);
	}
	w->nq = w->headq = 0;
}

static void tick_all(struct world *w, uint64_t ms)
{
	w->now += ms;
	for (uint32_t i = 0; i < w->n; i++) {
		struct event ev = {.kind = EV_TICK, .now_ms = w->now, .m = NULL};
		step(w, i, &ev);
	}
	run_queue(w);
}

static void world_init(struct world *w, const struct core_ops *ops, uint32_t n, enum auth_mode mode)
{
	memset(w, 0, sizeof(*w));
	w->mode = mode;
	w->ops = ops;
	w->n = n;
	w->now = 1000;
	effects_init(&w->fx);
	buf_init(&w->replies);
	for (uint32_t i = 0; i < n; i++) {
		/* the same configuration fuzz_snapshot.c recovers with */
		struct core_config cc = {.protocol = n == 1 ? PROTO_SINGLE : PROTO_PBFT,
					 .n = n,
					 .f = n == 1 ? 0 : 1,
					 .id = i,
					 .cluster_id = FZ_CLUSTER,
					 .batch_max = 8,
					 .window = 16,
					 .checkpoint_interval = 4,
					 .view_timeout_ms = 100,
					 .max_clients = MAX_CLIENTS,
					 .kv_max_bytes = 1u << 20,
					 .auth = fz_auth(mode, n, 0, i)};
		w->core[i] = ops->create(&cc);
		if (!w->core[i])
			abort();
		struct event ev = {.kind = EV_START, .now_ms = w->now, .m = NULL};
		step(w, i, &ev);
	}
	run_queue(w);
}

static void world_free(struct world *w)
{
	for (uint32_t i = 0; i < w->n; i++) {
		w->ops->destroy(w->core[i]);
		for (size_t k = 0; k < w->nrec[i]; k++)
			free(w->rec[i][k].val);
		free(w->rec[i]);
	}
	effects_free(&w->fx);
	buf_free(&w->replies);
	free(w->q);
}

/* ---- operations and requests ---- */

static void make_op(struct buf *op, unsigned k)
{
	char key[16], val[32];
	snprintf(key, sizeof(key), "k%u", k % 5);
	snprintf(val, sizeof(val), "value-%u", k);
	buf_reset(op);
	switch (k % 5) {
	case 0:
	case 1: kv_op_put(op, key, strlen(key), val, strlen(val)); break;
	case 2: kv_op_get(op, key, strlen(key)); break;
	case 3: kv_op_cas(op, key, strlen(key), "value-3", 7, val, strlen(val)); break;
	default: kv_op_null(op, k % 3); break;
	}
}

/* Reply seed header (fuzz_reply.c): proto, f, flags, client, timestamp, cmd, options
 * (0), pad. */
static void reply_header(struct buf *b, enum protocol proto, uint8_t f, int readonly,
			 enum auth_mode mode, uint32_t client, uint64_t ts, uint8_t cmd)
{
	buf_put_u8(b, (uint8_t)proto);
	buf_put_u8(b, (uint8_t)(f ? f - 1 : 0));
	buf_put_u8(b, (uint8_t)((readonly ? 1 : 0) | (mode << 1)));
	buf_put_u8(b, (uint8_t)client);
	buf_put_u64(b, ts);
	buf_put_u8(b, cmd);
	buf_put_u8(b, 0);
	buf_put_u8(b, 0);
	buf_put_u8(b, 0);
}

/* One request from `client` (sent to `to`, or to every replica if to < 0); the
 * replies it gets become a reply seed when save is set. */
static void request(struct world *w, uint32_t client, uint64_t ts, unsigned k, int to, int save)
{
	struct buf op, b;
	buf_init(&op);
	buf_init(&b);
	make_op(&op, k);
	size_t off = wire_put_request(&b, FZ_CLUSTER, client, ts, 0, op.p, (uint32_t)op.len);
	if (auth_seal(fz_auth(w->mode, w->n, 1, client), &b, off) != 0)
		abort();
	keep_message(w, b.p, b.len);
	buf_reset(&w->replies);
	w->reply_count = 0;
	for (uint32_t i = 0; i < w->n; i++)
		if ((to < 0 || (uint32_t)to == i) && !w->cut[i])
			push(w, (int)i, b.p, b.len);
	run_queue(w);
	if (save && w->reply_count > 0) {
		struct buf seed;
		char name[128];
		enum protocol proto = w->n == 1 ? PROTO_SINGLE : PROTO_PBFT;
		buf_init(&seed);
		reply_header(&seed, proto, (uint8_t)(w->n == 1 ? 0 : 1), 0, w->mode, client, ts,
			     (uint8_t)(k % 5 == 2   ? CLIENT_CMD_GET
				       : k % 5 == 3 ? CLIENT_CMD_CAS
						    : CLIENT_CMD_PUT));
		buf_put(&seed, w->replies.p, w->replies.len);
		snprintf(name, sizeof(name), "%s-%s-%u-replies-%u", w->ops->name,
			 mode_name(w->mode), k, w->reply_count);
		put_file(2, name, seed.p, seed.len);
		if (proto == PROTO_PBFT && k < 2) {
			/* the same replies, judged as vr (replica 0 is vr's primary of view 0)
			 * and as a read-only request (2f+1) */
			seed.p[0] = PROTO_VR;
			snprintf(name, sizeof(name), "asvr-%s-%u", mode_name(w->mode), k);
			put_file(2, name, seed.p, seed.len);
			seed.p[0] = PROTO_PBFT;
			seed.p[2] |= 1;
			snprintf(name, sizeof(name), "readonly-%s-%u", mode_name(w->mode), k);
			put_file(2, name, seed.p, seed.len);
			/* fuzz_reply's options (header byte 13): a read_only = on cluster, and
			 * time passing before each reply (retransmissions, the read-only
			 * retry, timeouts); and the replies judged as hotstuff's (n = 4 too) */
			seed.p[2] &= (uint8_t)~1;
			seed.p[13] = 1;
			snprintf(name, sizeof(name), "rocluster-%s-%u", mode_name(w->mode), k);
			put_file(2, name, seed.p, seed.len);
			seed.p[13] = 4;
			snprintf(name, sizeof(name), "ticks-%s-%u", mode_name(w->mode), k);
			put_file(2, name, seed.p, seed.len);
			seed.p[2] |= 1;
			snprintf(name, sizeof(name), "ticks-readonly-%s-%u", mode_name(w->mode), k);
			put_file(2, name, seed.p, seed.len);
			seed.p[2] &= (uint8_t)~1;
			seed.p[13] = 0;
			seed.p[0] = PROTO_HOTSTUFF;
			snprintf(name, sizeof(name), "ashotstuff-%s-%u", mode_name(w->mode), k);
			put_file(2, name, seed.p, seed.len);
		}
		buf_free(&seed);
	}
	buf_free(&op);
	buf_free(&b);
}

/* Persisted records of replica id as one snapshot seed (selector 2 pbft, 3 single),
 * and its snapshots as exec (0) and kv (1) seeds. */
static void save_records(struct world *w, uint32_t id, const char *when)
{
	struct buf b;
	char name[128];
	uint8_t sel = (uint8_t)((w->n == 1 ? 3 : 2) | (w->mode == AUTH_MODE_MAC ? 8 : 0) |
				(id << 4));
	buf_init_limit(&b, BUF_LIMIT_STATE);
	buf_put_u8(&b, sel);
	for (size_t i = 0; i < w->nrec[id]; i++) {
		const struct record *r = &w->rec[id][i];
		buf_put_u8(&b, r->kind);
		buf_put_u64(&b, r->key);
		buf_put_u32(&b, (uint32_t)r->len);
		buf_put(&b, r->val, r->len);
		int is_snap = (w->n == 1 && r->kind == 2) || (w->n > 1 && r->kind == 2);
		if (is_snap && r->len >= 4) {
			struct buf s;
			buf_init_limit(&s, BUF_LIMIT_STATE);
			buf_put_u8(&s, 0);
			buf_put(&s, r->val, r->len);
			snprintf(name, sizeof(name), "exec-%s-%s-r%u-%llu", w->ops->name, when, id,
				 (unsigned long long)r->key);
			put_file(3, name, s.p, s.len);
			uint32_t kv_len = get_u32(r->val);
			if (kv_len <= r->len - 4) {
				buf_reset(&s);
				buf_put_u8(&s, 1);
				buf_put(&s, r->val + 4, kv_len);
				snprintf(name, sizeof(name), "kv-%s-%s-r%u-%llu", w->ops->name,
					 when, id, (unsigned long long)r->key);
				put_file(3, name, s.p, s.len);
			}
			buf_free(&s);
		}
	}
	snprintf(name, sizeof(name), "records-%s-%s-%s-r%u", w->ops->name, mode_name(w->mode), when,
		 id);
	put_file(3, name, b.p, b.len);
	buf_free(&b);
}

static void pbft_scenario(enum auth_mode mode)
{
	struct world *w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	world_init(w, &pbft_core_ops, N, mode);
	uint64_t ts = 100;
	unsigned k = 0;
	/* normal case, past two checkpoints (interval 4) */
	for (; k < 10; k++)
		request(w, k % 4, ts++, k, 0, 1);
	tick_all(w, 10);
	save_records(w, 1, "normal");
	if (mode == AUTH_MODE_SIG)
		save_records(w, 0, "normal");
	/* the primary goes silent: the backups change view */
	w->cut[0] = 1;
	request(w, 5, ts++, k++, -1, 0);
	for (int t = 0; t < 20; t++)
		tick_all(w, 60);
	save_records(w, 2, "viewchange");
	/* replica 3 falls behind by more than a window, then catches up by state
	 * transfer (FETCH_STATE / STATE) */
	w->cut[0] = 0;
	w->cut[3] = 1;
	for (int i = 0; i < 24; i++)
		request(w, 4 + (unsigned)i % 3, ts++, k++, -1, 0);
	w->cut[3] = 0;
	for (int i = 0; i < 6; i++) {
		request(w, 7, ts++, k++, -1, 0);
		tick_all(w, 60);
	}
	save_records(w, 3, "statexfer");
	world_free(w);
	free(w);
}

static void single_scenario(enum auth_mode mode)
{
	struct world *w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	world_init(w, &single_core_ops, 1, mode);
	uint64_t ts = 100;
	for (unsigned k = 0; k < 6; k++)
		request(w, k % 3, ts++, k, 0, k < 2);
	save_records(w, 0, "normal");
	world_free(w);
	free(w);
}

/* ---- messages the cluster above does not send ---- */

static void seal_and_keep(struct buf *b, size_t off, enum auth_mode mode, const char *name)
{
	if (mode != AUTH_MODE_NONE &&
	    auth_seal(fz_auth(mode, N, b->p[off + WIRE_OFF_TYPE] == MSG_HELLO, 1), b, off) != 0)
		abort();
	put_file(0, name, b->p + off, b->len - off);
}

/* A batch of two requests (the PRE-PREPARE body layout). */
static void put_batch(struct buf *b)
{
	struct buf r;
	buf_init(&r);
	buf_put_u16(b, 2);
	for (uint32_t c = 0; c < 2; c++) {
		buf_reset(&r);
		size_t off = wire_put_request(&r, FZ_CLUSTER, c, 7 + c, 0, (const uint8_t *)"N", 1);
		auth_seal(fz_auth(AUTH_MODE_NONE, N, 1, c), &r, off);
		buf_put_u32(b, (uint32_t)r.len);
		buf_put(b, r.p, r.len);
	}
	buf_free(&r);
}

static void log_section(struct buf *b, uint64_t lo, uint32_t n)
{
	buf_put_u64(b, lo);
	buf_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		struct buf batch;
		buf_init(&batch);
		put_batch(&batch);
		buf_put_u64(b, 1);
		buf_put_u32(b, (uint32_t)batch.len);
		buf_put(b, batch.p, batch.len);
		buf_free(&batch);
	}
}

static void vr_messages(void)
{
	struct buf b;
	size_t off;
	buf_init(&b);
#define VR(type, view, seq, body, name)                                  \
	do {                                                             \
		buf_reset(&b);                                           \
		off = wire_begin(&b, type, FZ_CLUSTER, 1, view, seq);    \
		body;                                                    \
		wire_finish(&b, off);                                    \
		seal_and_keep(&b, off, AUTH_MODE_NONE, "vr-none-" name); \
		buf_reset(&b);                                           \
		off = wire_begin(&b, type, FZ_CLUSTER, 1, view, seq);    \
		body;                                                    \
		wire_finish(&b, off);                                    \
		seal_and_keep(&b, off, AUTH_MODE_SIG, "vr-sig-" name);   \
	} while (0)
	VR(MSG_VR_PREPARE, 1, 5, (buf_put_u64(&b, 4), put_batch(&b)), "prepare");
	VR(MSG_VR_PREPARE_OK, 1, 5, buf_put_u64(&b, 1234), "prepare_ok");
	VR(MSG_VR_COMMIT, 1, 5, (buf_put_u64(&b, 6), buf_put_u64(&b, 1234)), "commit");
	VR(MSG_VR_START_VIEW_CHANGE, 2, 5, (void)0, "start_view_change");
	VR(MSG_VR_DO_VIEW_CHANGE, 2, 5,
	   (buf_put_u64(&b, 1), buf_put_u64(&b, 4), log_section(&b, 3, 2)), "do_view_change");
	VR(MSG_VR_START_VIEW, 2, 5, (buf_put_u64(&b, 4), log_section(&b, 4, 1)), "start_view");
	VR(MSG_VR_RECOVERY, 0, 0, buf_put_u64(&b, 0x1234), "recovery");
	VR(MSG_VR_RECOVERY_RESPONSE, 2, 5,
	   (buf_put_u64(&b, 0x1234), buf_put_u64(&b, 4), buf_put_u8(&b, 0)), "recovery_response");
	VR(MSG_VR_GET_STATE, 2, 3, (buf_put_u64(&b, 4), buf_put_u64(&b, 0)), "get_state");
	VR(MSG_VR_NEW_STATE, 2, 9,
	   (buf_put_u64(&b, 8), buf_put_u64(&b, 4), buf_put_u64(&b, 10), buf_put_u64(&b, 2),
	    buf_put_u32(&b, 3), buf_put(&b, "abc", 3), log_section(&b, 4, 2)),
	   "new_state");
#undef VR
	/* admin plane and the odd ones */
	buf_reset(&b);
	off = wire_put_empty(&b, MSG_STATUS_REQ, FZ_CLUSTER, 0, 0, 0);
	seal_and_keep(&b, off, AUTH_MODE_NONE, "admin-status_req");
	buf_reset(&b);
	const char *json = "{\"id\":1,\"view\":0}";
	off = wire_put_text(&b, MSG_STATUS_RESP, FZ_CLUSTER, 1, json, (uint32_t)strlen(json));
	seal_and_keep(&b, off, AUTH_MODE_NONE, "admin-status_resp");
	for (int m = 0; m < 3; m++) {
		char name[64];
		buf_reset(&b);
		off = wire_put_empty(&b, MSG_HELLO, FZ_CLUSTER, 1, 0, 0);
		snprintf(name, sizeof(name), "client-%s-hello", mode_name((enum auth_mode)m));
		seal_and_keep(&b, off, (enum auth_mode)m, name);
	}
	/* a bare batch (wire_decode_batch's input) */
	buf_reset(&b);
	put_batch(&b);
	put_file(0, "raw-batch", b.p, b.len);
	buf_free(&b);
}

/* ---- cluster.ini ---- */

static void config_file(const char *name, const char *proto, unsigned f, const char *extra,
			const char *faults)
{
	struct buf b;
	char line[256];
	/* n from protocol_n(), the one place that computes it (issue 15 item 4) */
	unsigned n = protocol_n(!strcmp(proto, "pbft") ? PROTO_PBFT
				: !strcmp(proto, "vr") ? PROTO_VR
						       : PROTO_SINGLE,
				f);
	buf_init(&b);
	snprintf(line, sizeof(line), "; %s\n[cluster]\nprotocol = %s\nf = %u\n", name, proto, f);
	buf_put(&b, line, strlen(line));
	buf_put(&b, extra, strlen(extra));
	for (unsigned i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
			 "\n[replica.%u]\npeer = tcp://127.0.0.1:%u\nclient = tcp://127.0.0.1:%u\n"
			 "admin = ipc:///tmp/bz-admin-%u   ; comment\n",
			 i, 7000 + i, 7100 + i, i);
		buf_put(&b, line, strlen(line));
	}
	buf_put(&b, faults, strlen(faults));
	put_file(1, name, b.p, b.len);
	buf_free(&b);
}

static void configs(void)
{
	config_file("pbft-f1", "pbft", 1, "", "");
	config_file("pbft-f1-all-keys", "pbft", 1,
		    "auth = mac\nbatch_max = 256\nwindow = 512\ncheckpoint_interval = 256\n"
		    "view_timeout_ms = 10\nsync = none\nclients = 8\nkeys = keys\ndata = data\n"
		    "cluster_id = 4294967295\nread_only = on\ndigest_replies = on\n"
		    "group_commit = off\ncoalesce = off\nrx_aio = off\n",
		    "");
	config_file("pbft-f5", "pbft", 5, "auth = none\n", "");
	config_file("vr-f1", "vr", 1, "window = 2\ncheckpoint_interval = 1\n", "");
	config_file("vr-f7", "vr", 7, "# hash comment\n   clients = 4096\n", "");
	config_file("single", "single", 0, "keys = ./keys/\ndata = /tmp/x\n", "");
	config_file("faults", "pbft", 1, "",
		    "\n[faults]\ndrop = 0.01\ndrop.2 = 0.5\ndelay = 5,tail=pareto\n"
		    "dup = 0.01\nreorder = 0.05\npartition = 0,1/2,3\noneway = 3\n"
		    "clock_rate = 1.5\n");
	/* broken on purpose: each stops at a different check */
	config_file("bad-unknown-key", "pbft", 1, "bogus = 1\n", "");
	config_file("bad-dup-key", "pbft", 1, "auth = sig\nauth = mac\n", "");
	config_file("bad-window", "pbft", 1, "window = 10\ncheckpoint_interval = 6\n", "");
	config_file("bad-f", "pbft", 6, "", "");
	config_file("bad-keys-dir", "pbft", 1, "keys = nowhere\n", "");
	config_file("bad-fault", "pbft", 1, "", "\n[faults]\nexplode = 1\n");
	config_file("bad-onoff", "pbft", 1, "coalesce = maybe\n", "");
	const char *odd[] = {
		"[cluster]\nprotocol = pbft\nf = 1\n[replica.0]\npeer = tcp://a:1\n",
		"[cluster\n",
		"no section = 1\n",
		"[cluster]\nprotocol = pbft\nf = 1\n[replica.99]\n",
		"[cluster]\nprotocol=pbft\nf=01\nwindow = 4294967296\n",
		"[cluster]\r\nprotocol = vr\r\nf = 1\r\n",
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "odd-%zu", i);
		put_file(1, name, odd[i], strlen(odd[i]));
	}
}

static void mkdir_or_die(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	if (crypto_setup() != 0)
		return 1;
	out_dir = argv[1];
	mkdir_or_die(out_dir);
	for (int t = 0; t < 4; t++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", out_dir, target[t]);
		mkdir_or_die(path);
	}
	for (int m = 0; m < 3; m++) {
		pbft_scenario((enum auth_mode)m);
		single_scenario((enum auth_mode)m);
	}
	vr_messages();
	configs();
	for (int t = 0; t < 4; t++)
		printf("%s: %u files\n", target[t], n_written[t]);
	return 0;
}
