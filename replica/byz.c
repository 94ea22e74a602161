/* byz.c - the lying layer (see byz.h): rewrites the sends of an honest core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/byz.h"

enum byz_arg { ARG_NONE, ARG_MS, ARG_RATE, ARG_IDS };

static const struct {
	const char *name;
	enum byz_arg arg;
	int implemented;
} behaviours[BYZ_COUNT] = {
	[BYZ_HONEST] = {"honest", ARG_NONE, 1},
	[BYZ_SILENT] = {"silent", ARG_NONE, 1},
	[BYZ_EQUIVOCATE] = {"equivocate", ARG_NONE, 1},
	[BYZ_BAD_DIGEST] = {"bad-digest", ARG_NONE, 0},
	[BYZ_FORGE] = {"forge", ARG_NONE, 0},
	[BYZ_REPLAY] = {"replay", ARG_NONE, 0},
	[BYZ_WRONG_REPLY] = {"wrong-reply", ARG_NONE, 0},
	[BYZ_SLOW_PRIMARY] = {"slow-primary", ARG_MS, 0},
	[BYZ_FAKE_VIEW_CHANGE] = {"fake-view-change", ARG_NONE, 0},
	[BYZ_FLOOD] = {"flood", ARG_RATE, 0},
	[BYZ_SELECTIVE] = {"selective", ARG_IDS, 0},
};

const char *byz_name(enum byz_behaviour b)
{
	return (unsigned)b < BYZ_COUNT ? behaviours[b].name : "?";
}

const char *byz_implemented_list(void)
{
	return "silent, equivocate";
}

/* Decimal u32 in [lo, hi], the whole string. */
static int parse_u32(const char *s, size_t len, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "0,2" or "0+2": replica ids below WIRE_MAX_REPLICAS. */
static int parse_ids(const char *s, uint32_t *mask)
{
	*mask = 0;
	while (*s) {
		size_t len = strcspn(s, ",+");
		uint32_t id;
		if (parse_u32(s, len, 0, WIRE_MAX_REPLICAS - 1, &id) != 0)
			return -1;
		*mask |= 1u << id;
		s += len;
		if (*s && !*++s)
			return -1; /* trailing separator */
	}
	return *mask ? 0 : -1;
}

static int parse_arg(enum byz_arg kind, const char *arg, struct byz_cfg *out)
{
	switch (kind) {
	case ARG_MS:
		return parse_u32(arg, strlen(arg), 1, 600000, &out->arg);
	case ARG_RATE:
		return parse_u32(arg, strlen(arg), 1, 100000, &out->arg);
	case ARG_IDS:
		return parse_ids(arg, &out->peers);
	default:
		return -1;
	}
}

int byz_parse(const char *spec, struct byz_cfg *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!spec || strlen(spec) >= BYZ_SPEC_MAX) {
		snprintf(err, errlen, "behaviour missing or too long");
		return -1;
	}
	size_t name_len = strcspn(spec, ":");
	const char *arg = spec[name_len] ? spec + name_len + 1 : NULL;
	for (int b = 0; b < BYZ_COUNT; b++) {
		const char *name = behaviours[b].name;
		if (strlen(name) != name_len || strncmp(spec, name, name_len) != 0)
			continue;
		out->kind = (enum byz_behaviour)b;
		if (behaviours[b].arg == ARG_NONE && arg) {
			snprintf(err, errlen, "behaviour '%s' takes no argument", name);
			return -1;
		}
		if (behaviours[b].arg != ARG_NONE &&
		    (!arg || parse_arg(behaviours[b].arg, arg, out) != 0)) {
			snprintf(err, errlen, "behaviour '%s' needs %s", name,
				 behaviours[b].arg == ARG_MS     ? ":MS (1..600000)"
				 : behaviours[b].arg == ARG_RATE ? ":RATE (1..100000)"
								 : ":IDS (e.g. 0,2)");
			return -1;
		}
		if (!behaviours[b].implemented) {
			snprintf(err, errlen, "behaviour '%s' is not implemented yet (have: %s)",
				 name, byz_implemented_list());
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown behaviour '%.*s' (have: %s)", (int)name_len, spec,
		 byz_implemented_list());
	return -1;
}

int byz_init(struct byz *b, const struct byz_cfg *cfg, uint32_t n, uint32_t id,
	     uint32_t cluster_id, uint64_t seed)
{
	memset(b, 0, sizeof(*b));
	if (n == 0 || n > WIRE_MAX_REPLICAS || id >= n || (uint32_t)cfg->kind >= BYZ_COUNT ||
	    (cfg->kind == BYZ_SELECTIVE && (cfg->peers >> n) != 0))
		return -1;
	b->cfg = *cfg;
	b->n = n;
	b->id = id;
	b->cluster_id = cluster_id;
	b->rng = seed;
	buf_init(&b->scratch);
	return 0;
}

void byz_free(struct byz *b)
{
	buf_free(&b->scratch);
	memset(b, 0, sizeof(*b));
}

/* ---- helpers ---- */

static void copy_send(struct effects *out, int32_t to, uint32_t client, const uint8_t *p,
		      size_t len)
{
	size_t off = out->arena.len;
	buf_put(&out->arena, p, len);
	effects_send(out, to, client, off);
}

static void copy_unchanged(const struct effects *honest, struct effects *out)
{
	for (size_t i = 0; i < honest->n_persists; i++) {
		const struct persist *p = &honest->persists[i];
		effects_persist(out, p->op, p->kind, p->key, honest->arena.p + p->off, p->len);
	}
	for (size_t i = 0; i < honest->n_execs; i++) {
		const struct exec_note *x = &honest->execs[i];
		effects_exec(out, x->seq, x->view, x->digest, x->requests);
	}
	out->timer_ms = honest->timer_ms;
}

/* Send arena[off .. off+len) of out, which may lie before the arena's end
 * (effects_send itself takes everything from off to the end). */
static void send_slice(struct effects *out, int32_t to, size_t off, size_t len)
{
	size_t before = out->n_sends;
	effects_send(out, to, 0, off);
	if (out->n_sends == before + 1)
		out->sends[before].len = len;
}

/* ---- equivocate ---- */

/* Append a sealed PRE-PREPARE for the same (view, seq) as m with another batch:
 * the requests in reverse order, or none (the null request) if reversing changes
 * nothing.  Returns its offset in out's arena, or (size_t)-1 if m has no batch to
 * vary (a null request already). */
static size_t fake_preprepare(struct auth_ctx *auth, const struct msg *m, struct effects *out)
{
	const struct body_preprepare *pp = &m->u.pp;
	static const uint8_t *const none[1] = {NULL};
	static const uint32_t none_len[1] = {0};
	const uint8_t *req[WIRE_MAX_BATCH];
	uint32_t req_len[WIRE_MAX_BATCH];
	uint16_t count = pp->count;

	if (count == 0)
		return (size_t)-1;
	for (uint16_t i = 0; i < count; i++) {
		req[i] = pp->req[count - 1 - i];
		req_len[i] = pp->req_len[count - 1 - i];
	}
	size_t off;
	if (count >= 2)
		off = wire_put_preprepare(&out->arena, m->h.cluster_id, m->h.sender, m->h.view,
					  m->h.seq, count, req, req_len);
	else
		off = wire_put_preprepare(&out->arena, m->h.cluster_id, m->h.sender, m->h.view,
					  m->h.seq, 0, none, none_len);
	if (auth_seal(auth, &out->arena, off) != 0)
		return (size_t)-1;
	return off;
}

/* Backups of rank r (0..n-2, in id order) get the fake when (r + seq) is odd: about
 * half of them, a different half from one sequence number to the next. */
static int gets_fake(const struct byz *b, uint32_t to, uint64_t seq)
{
	uint32_t rank = to < b->id ? to : to - 1;
	return (rank + seq) % 2 == 1;
}

static void equivocate(struct byz *b, struct auth_ctx *auth, const struct send *s,
		       const uint8_t *p, struct effects *out)
{
	struct msg m;
	if (s->to != TO_OTHERS || p[WIRE_OFF_TYPE] != MSG_PREPREPARE ||
	    wire_decode(p, s->len, b->cluster_id, &m) != WIRE_OK) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t fake = fake_preprepare(auth, &m, out);
	if (fake == (size_t)-1 || out->arena.err) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t fake_len = out->arena.len - fake;
	size_t orig = out->arena.len;
	buf_put(&out->arena, p, s->len);
	if (out->arena.err)
		return;
	for (uint32_t j = 0; j < b->n; j++) {
		if (j == b->id)
			continue;
		int lie = gets_fake(b, j, m.h.seq);
		send_slice(out, (int32_t)j, lie ? fake : orig, lie ? fake_len : s->len);
		b->lies += lie;
	}
}

int byz_filter(struct byz *b, struct auth_ctx *auth, const struct effects *honest,
	       uint64_t now_ms, struct effects *out)
{
	(void)now_ms; /* for the timed behaviours to come */
	effects_reset(out);
	if (effects_failed(honest)) {
		out->arena.err = WIRE_E_NOMEM;
		return -1;
	}
	copy_unchanged(honest, out);
	for (size_t i = 0; i < honest->n_sends; i++) {
		const struct send *s = &honest->sends[i];
		const uint8_t *p = honest->arena.p + s->off;
		switch (b->cfg.kind) {
		case BYZ_SILENT:
			b->lies++;
			break;
		case BYZ_EQUIVOCATE:
			equivocate(b, auth, s, p, out);
			break;
		default:
			copy_send(out, s->to, s->client, p, s->len);
			break;
		}
	}
	return effects_failed(out) ? -1 : 0;
}
