/* byz.c - the lying layer (see byz.h): rewrites the sends of an honest core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/byz.h"

enum byz_arg { ARG_NONE, ARG_MS, ARG_RATE, ARG_IDS };

static const struct {
	const char *name;
	enum byz_arg arg;
} behaviours[BYZ_COUNT] = {
	[BYZ_HONEST] = {"honest", ARG_NONE},
	[BYZ_SILENT] = {"silent", ARG_NONE},
	[BYZ_EQUIVOCATE] = {"equivocate", ARG_NONE},
	[BYZ_BAD_DIGEST] = {"bad-digest", ARG_NONE},
	[BYZ_FORGE] = {"forge", ARG_NONE},
	[BYZ_REPLAY] = {"replay", ARG_NONE},
	[BYZ_WRONG_REPLY] = {"wrong-reply", ARG_NONE},
	[BYZ_SLOW_PRIMARY] = {"slow-primary", ARG_MS},
	[BYZ_FAKE_VIEW_CHANGE] = {"fake-view-change", ARG_NONE},
	[BYZ_FLOOD] = {"flood", ARG_RATE},
	[BYZ_SELECTIVE] = {"selective", ARG_IDS},
	[BYZ_MAC_POISON] = {"mac-poison", ARG_IDS},
	[BYZ_HS_FORK] = {"hs-fork", ARG_NONE},
	[BYZ_HS_FORK_HIGH] = {"hs-fork-high", ARG_NONE},
	[BYZ_SPLIT] = {"split", ARG_IDS},
};

const char *byz_name(enum byz_behaviour b)
{
	return (unsigned)b < BYZ_COUNT ? behaviours[b].name : "?";
}

const char *byz_implemented_list(void)
{
	return "silent, equivocate, bad-digest, forge, replay, wrong-reply, "
	       "slow-primary:MS|adaptive, "
	       "fake-view-change, flood:RATE, selective:IDS, mac-poison:IDS, hs-fork, split:IDS, "
	       "hs-fork-high";
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
		if (strcmp(arg, "adaptive") == 0) {
			out->arg = BYZ_ADAPTIVE;
			return 0;
		}
		return parse_u32(arg, strlen(arg), 1, 600000, &out->arg);
	case ARG_RATE: return parse_u32(arg, strlen(arg), 1, 100000, &out->arg);
	case ARG_IDS: return parse_ids(arg, &out->peers);
	default: return -1;
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
				 behaviours[b].arg == ARG_MS     ? ":MS (1..600000) or :adaptive"
				 : behaviours[b].arg == ARG_RATE ? ":RATE (1..100000)"
								 : ":IDS (e.g. 0,2)");
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown behaviour '%.*s' (have: %s)", (int)name_len, spec,
		 byz_implemented_list());
	return -1;
}

int byz_init(struct byz *b, const struct byz_cfg *cfg, uint32_t n, uint32_t id, uint32_t cluster_id,
	     uint64_t seed)
{
	memset(b, 0, sizeof(*b));
	if (n == 0 || n > WIRE_MAX_REPLICAS || id >= n || (uint32_t)cfg->kind >= BYZ_COUNT ||
	    ((cfg->kind == BYZ_SELECTIVE || cfg->kind == BYZ_MAC_POISON ||
	      cfg->kind == BYZ_SPLIT) &&
	     (cfg->peers >> n) != 0))
		return -1;
	b->cfg = *cfg;
	b->n = n;
	b->f = (n - 1) / 3; /* PBFT's f (VIEW-CHANGE certificates need 2f prepares) */
	b->id = id;
	b->cluster_id = cluster_id;
	b->rng = seed;
	if (cfg->kind == BYZ_SLOW_PRIMARY) {
		b->held = calloc(BYZ_HOLD_MAX, sizeof(*b->held));
		if (!b->held)
			return -1;
	}
	if (cfg->kind == BYZ_SPLIT) {
		b->split = calloc(BYZ_SPLIT_SLOTS, sizeof(*b->split));
		if (!b->split)
			return -1;
	}
	if (cfg->kind == BYZ_HS_FORK || cfg->kind == BYZ_HS_FORK_HIGH)
		return byz_hs_fork_init(b);
	return 0;
}

void byz_free(struct byz *b)
{
	for (uint32_t i = 0; b->held && i < b->held_count; i++)
		free(b->held[(b->held_head + i) % BYZ_HOLD_MAX].p);
	free(b->held);
	free(b->split);
	for (uint32_t i = 0; i < BYZ_HS_HEADS; i++)
		free(b->hs_head[i]);
	byz_hs_fork_free(b);
	for (uint32_t i = 0; i < BYZ_REPLAY_RECENT; i++)
		free(b->recent[i].p);
	for (uint32_t i = 0; i < BYZ_REPLAY_SAMPLE; i++)
		free(b->sample[i].p);
	memset(b, 0, sizeof(*b));
}

/* ---- helpers ---- */

static uint64_t next_rand(struct byz *b)
{
	uint64_t z = (b->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void random_digest(struct byz *b, uint8_t d[WIRE_DIGEST_LEN])
{
	for (int i = 0; i < WIRE_DIGEST_LEN; i += 8)
		set_u64(d + i, next_rand(b));
}

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

/* Is this a message for replicas (not a reply to a client)? */
static int to_replicas(const struct send *s)
{
	return s->to != TO_CLIENT;
}

/* Start a re-sealed copy of the sealed message p in out's arena: header and body
 * copied, the trailer left off (auth fields cleared).  Returns its offset; the caller
 * may patch header or body bytes in place, then calls seal_send(). */
static size_t begin_copy(struct effects *out, const uint8_t *p, size_t len)
{
	uint32_t body = get_u32(p + WIRE_OFF_BODY_LEN);
	size_t off = out->arena.len;
	if ((size_t)WIRE_HDR_LEN + body > len) {
		out->arena.err = WIRE_E_BODY; /* not a message our own core could make */
		return off;
	}
	buf_put(&out->arena, p, WIRE_HDR_LEN + body);
	if (!out->arena.err) {
		out->arena.p[off + WIRE_OFF_AUTH_KIND] = AUTH_NONE;
		set_u16(out->arena.p + off + WIRE_OFF_AUTH_LEN, 0);
	}
	return off;
}

/* Seal the message built at off with the liar's keys and send it. */
static void seal_send(struct auth_ctx *auth, struct effects *out, size_t off, int32_t to,
		      uint32_t client)
{
	if (auth_seal(auth, &out->arena, off) == 0)
		effects_send(out, to, client, off);
}

/* Remember the highest view and sequence number the honest core spoke in (flood
 * aims its messages there). */
static void note_numbers(struct byz *b, const uint8_t *p)
{
	uint8_t type = p[WIRE_OFF_TYPE];
	if (type == MSG_REQUEST || type == MSG_REPLY || get_u32(p + WIRE_OFF_SENDER) != b->id)
		return;
	uint64_t view = get_u64(p + WIRE_OFF_VIEW), seq = get_u64(p + WIRE_OFF_SEQ);
	if (view > b->view)
		b->view = view;
	if ((type == MSG_PREPREPARE || type == MSG_PREPARE || type == MSG_COMMIT ||
	     type == MSG_VR_PREPARE) &&
	    seq > b->seq)
		b->seq = seq;
}

/* ---- equivocate (and the altered batches of fake-view-change in VR) ---- */

/* Append to bf the batch of pp without its last request (the null request, count 0,
 * if it had one).  Returns -1 if pp is the null request already (nothing to vary). */
static int put_fake_batch(struct buf *bf, const struct body_preprepare *pp)
{
	if (pp->count == 0)
		return -1;
	uint16_t count = (uint16_t)(pp->count - 1);
	buf_put_u16(bf, count);
	for (uint16_t i = 0; i < count; i++) {
		buf_put_u32(bf, pp->req_len[i]);
		buf_put(bf, pp->req[i], pp->req_len[i]);
	}
	return 0;
}

/* A sealed PRE-PREPARE (PBFT) or PREPARE (VR) for the same view and number as m, with
 * the fake batch.  Returns its offset in out's arena, or (size_t)-1. */
static size_t fake_proposal(struct byz *b, struct auth_ctx *auth, const struct msg *m,
			    struct effects *out)
{
	struct body_preprepare batch;
	const struct body_preprepare *pp = &m->u.pp;
	if (m->h.type == MSG_VR_PREPARE || m->h.type == MSG_HS_PROPOSAL) {
		const uint8_t *bp = m->h.type == MSG_VR_PREPARE ? m->u.vr.batch : m->u.hs.batch;
		uint32_t bl = m->h.type == MSG_VR_PREPARE ? m->u.vr.batch_len : m->u.hs.batch_len;
		if (wire_decode_batch(bp, bl, b->cluster_id, &batch) != WIRE_OK)
			return (size_t)-1;
		pp = &batch;
	}
	if (pp->count == 0)
		return (size_t)-1;
	size_t off = wire_begin(&out->arena, m->h.type, m->h.cluster_id, m->h.sender, m->h.view,
				m->h.seq);
	if (m->h.type == MSG_VR_PREPARE)
		buf_put_u64(&out->arena, m->u.vr.commit);
	if (m->h.type == MSG_HS_PROPOSAL) /* HotStuff: same parent and justify QC */
		buf_put(&out->arena, m->body, (size_t)(m->u.hs.batch - m->body));
	put_fake_batch(&out->arena, pp);
	wire_finish(&out->arena, off);
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

static void equivocate(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		       struct effects *out)
{
	struct msg m;
	uint8_t type = p[WIRE_OFF_TYPE];
	if (s->to != TO_OTHERS ||
	    (type != MSG_PREPREPARE && type != MSG_VR_PREPARE && type != MSG_HS_PROPOSAL) ||
	    wire_decode(p, s->len, b->cluster_id, &m) != WIRE_OK) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t fake = fake_proposal(b, auth, &m, out);
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

/* ---- bad-digest ---- */

static void bad_digest(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		       struct effects *out)
{
	uint8_t type = p[WIRE_OFF_TYPE];
	if ((type != MSG_PREPARE && type != MSG_COMMIT) ||
	    s->len < WIRE_HDR_LEN + WIRE_DIGEST_LEN) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t off = begin_copy(out, p, s->len);
	if (out->arena.err)
		return;
	random_digest(b, out->arena.p + off + WIRE_HDR_LEN);
	seal_send(auth, out, off, s->to, s->client);
	b->lies++;
}

/* ---- forge ---- */

/* Next to the honest message, one claiming to be from replica `victim` (any but us),
 * with a lie inside if it carries a digest, sealed with OUR key: its signature or MAC
 * cannot verify as the victim's.  Sent to every replica but us and the victim. */
static void forge(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		  struct effects *out)
{
	copy_send(out, s->to, s->client, p, s->len);
	uint8_t type = p[WIRE_OFF_TYPE];
	if (!to_replicas(s) || type == MSG_REQUEST || b->n < 2)
		return;
	uint32_t victim = (uint32_t)((b->id + 1 + b->forged++ % (b->n - 1)) % b->n);
	size_t off = begin_copy(out, p, s->len);
	if (out->arena.err)
		return;
	set_u32(out->arena.p + off + WIRE_OFF_SENDER, victim);
	if ((type == MSG_PREPARE || type == MSG_COMMIT || type == MSG_CHECKPOINT) &&
	    s->len >= WIRE_HDR_LEN + WIRE_DIGEST_LEN)
		random_digest(b, out->arena.p + off + WIRE_HDR_LEN);
	if (auth_seal(auth, &out->arena, off) != 0)
		return;
	size_t len = out->arena.len - off;
	for (uint32_t j = 0; j < b->n; j++) {
		if (j == b->id || j == victim)
			continue;
		send_slice(out, (int32_t)j, off, len);
		b->lies++;
	}
}

/* ---- replay ---- */

static void save_copy(struct byz_saved *slot, const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len);
	if (!copy)
		return; /* not kept: nothing else depends on it */
	memcpy(copy, p, len);
	free(slot->p);
	slot->p = copy;
	slot->len = (uint32_t)len;
}

/* Keep a copy: in the ring of recent sends, and (reservoir sampling, Vitter's
 * algorithm R) in a uniform sample of every message ever offered, so messages of long
 * past views stay available however long the liar runs. */
static void save_for_replay(struct byz *b, const uint8_t *p, size_t len)
{
	if (len > BYZ_REPLAY_MSG_MAX)
		return;
	save_copy(&b->recent[b->recent_next], p, len);
	b->recent_next = (b->recent_next + 1) % BYZ_REPLAY_RECENT;
	uint64_t k = b->saved_total++;
	if (k < BYZ_REPLAY_SAMPLE)
		save_copy(&b->sample[k], p, len);
	else if ((k = next_rand(b) % (k + 1)) < BYZ_REPLAY_SAMPLE)
		save_copy(&b->sample[k], p, len);
}

/* One of our own earlier messages, not the one being sent now; NULL if none. */
static const struct byz_saved *pick_old(struct byz *b, const uint8_t *now_p, size_t now_len)
{
	/* both arrays fill from index 0 up */
	uint64_t nr = b->saved_total < BYZ_REPLAY_RECENT ? b->saved_total : BYZ_REPLAY_RECENT;
	uint64_t ns = b->saved_total < BYZ_REPLAY_SAMPLE ? b->saved_total : BYZ_REPLAY_SAMPLE;
	for (int tries = 0; nr + ns > 0 && tries < 4; tries++) {
		uint64_t r = next_rand(b) % (nr + ns);
		const struct byz_saved *e = r < nr ? &b->recent[r] : &b->sample[r - nr];
		if (e->p && !(e->len == now_len && memcmp(e->p, now_p, now_len) == 0))
			return e;
	}
	return NULL;
}

static void replay(struct byz *b, const struct send *s, const uint8_t *p, struct effects *out)
{
	copy_send(out, s->to, s->client, p, s->len);
	if (!to_replicas(s) || p[WIRE_OFF_TYPE] == MSG_REQUEST)
		return;
	const struct byz_saved *old = pick_old(b, p, s->len);
	if (old) {
		copy_send(out, TO_OTHERS, 0, old->p, old->len);
		b->lies++;
	}
	save_for_replay(b, p, s->len);
}

/* ---- wrong-reply ---- */

/* The result, changed: the last byte of a value moves to another printable
 * character; a bare status flips between OK and NOT_FOUND. */
static void wrong_result(const struct body_reply *r, uint8_t *res, uint32_t *len)
{
	memcpy(res, r->result, r->result_len);
	*len = r->result_len;
	if (*len == 0) {
		res[0] = 0; /* KV_OK */
		*len = 1;
	} else if (*len == 1) {
		res[0] = res[0] == 0 ? 1 : 0; /* KV_OK <-> KV_NOT_FOUND */
	} else {
		uint8_t *last = &res[*len - 1];
		*last = *last == 'X' ? 'Y' : 'X';
	}
}

static void wrong_reply(struct byz *b, struct auth_ctx *auth, const struct send *s,
			const uint8_t *p, struct effects *out)
{
	struct msg m;
	static uint8_t res[WIRE_MAX_RESULT + 1];
	uint32_t len;
	if (s->to != TO_CLIENT || p[WIRE_OFF_TYPE] != MSG_REPLY ||
	    wire_decode(p, s->len, b->cluster_id, &m) != WIRE_OK ||
	    m.u.rep.result_len > WIRE_MAX_RESULT) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	wrong_result(&m.u.rep, res, &len);
	size_t off = wire_put_reply(&out->arena, m.h.cluster_id, m.h.sender, m.h.view,
				    m.u.rep.client, m.u.rep.timestamp, res, len);
	seal_send(auth, out, off, s->to, s->client);
	b->lies++;
}

/* ---- slow-primary ---- */

static int is_proposal(const struct byz *b, const uint8_t *p)
{
	uint8_t type = p[WIRE_OFF_TYPE];
	return (type == MSG_PREPREPARE || type == MSG_VR_PREPARE) &&
	       get_u32(p + WIRE_OFF_SENDER) == b->id;
}

static void hold(struct byz *b, const struct send *s, const uint8_t *p, uint64_t due)
{
	b->lies++;
	if (b->held_count == BYZ_HOLD_MAX || b->held_bytes + s->len > BYZ_HOLD_BYTES) {
		b->dropped++;
		return;
	}
	uint8_t *copy = malloc(s->len);
	if (!copy) {
		b->dropped++;
		return;
	}
	memcpy(copy, p, s->len);
	struct byz_held *h = &b->held[(b->held_head + b->held_count) % BYZ_HOLD_MAX];
	*h = (struct byz_held){.due_ms = due,
			       .to = s->to,
			       .client = s->client,
			       .p = copy,
			       .len = (uint32_t)s->len};
	b->held_count++;
	b->held_bytes += s->len;
}

/* ---- slow-primary:adaptive (issue 16) ----
 * All it sees is what its own honest core says: a PRE-PREPARE of its own in view v
 * means it leads v; a message of its own in a later view means it was replaced (its
 * core joined a view change, or took the next primary's NEW-VIEW).  So it probes:
 * raise the delay while it leads, remember the delay that got it replaced (ceiling)
 * and the highest it held through a whole period unreplaced (floor), and next time
 * search between the two (byz.h).  It cannot see the backups' rules; the monitor's
 * requirement (Aardvark §4.3) and the ordering deadline (robust-liveness: a request
 * not ordered within 1.5 robust_heartbeat_ms, again and again) are what set the
 * ceiling it finds.  Against the deadline, a sharp threshold, the search converges to
 * just under it; the slow start grows by half (not doubling) so that its first
 * ceiling is at most 1.5x the threshold. */

static void adapt_observe(struct byz *b, const uint8_t *p, uint64_t now_ms)
{
	uint8_t type = p[WIRE_OFF_TYPE];
	if (type == MSG_REQUEST || get_u32(p + WIRE_OFF_SENDER) != b->id)
		return;
	uint64_t view = get_u64(p + WIRE_OFF_VIEW);
	if (b->leading && view > b->lead_view) { /* replaced: that was too slow */
		b->leading = 0;
		b->ceiling_ms = b->delay_ms;
		if (b->floor_ms >= b->ceiling_ms)
			b->floor_ms = b->ceiling_ms / 2;
		b->replaced++;
	}
	if (!is_proposal(b, p) || (b->leading && view == b->lead_view) || view < b->lead_view)
		return;
	b->leading = 1; /* a new view of ours */
	b->lead_view = view;
	b->probe_ms = now_ms;
	if (b->ceiling_ms) {
		/* the bar may have moved (the monitor's does): probe a little above, from
		 * the highest delay that held */
		b->ceiling_ms += b->ceiling_ms / 32 ? b->ceiling_ms / 32 : 1;
		b->delay_ms = b->floor_ms ? b->floor_ms : b->ceiling_ms / 2;
	}
	if (b->delay_ms < 1)
		b->delay_ms = BYZ_ADAPT_START_MS;
}

/* While it leads: one raise per period passed (the delay held a whole period: it is
 * the new floor) - by half until it has a ceiling, then a quarter of the way to just
 * under the ceiling (at least 1 ms). */
static void adapt_raise(struct byz *b, uint64_t now_ms)
{
	if (!b->leading)
		return;
	uint32_t below = b->ceiling_ms / 32 ? b->ceiling_ms / 32 : 1;
	uint32_t cap = b->ceiling_ms > below ? b->ceiling_ms - below : BYZ_ADAPT_MAX_MS;
	if (!b->ceiling_ms)
		cap = BYZ_ADAPT_MAX_MS;
	for (int k = 0; k < 64 && now_ms >= b->probe_ms + BYZ_ADAPT_PERIOD_MS; k++) {
		b->probe_ms += BYZ_ADAPT_PERIOD_MS;
		if (b->delay_ms > b->floor_ms)
			b->floor_ms = b->delay_ms;
		uint32_t step = !b->ceiling_ms ? b->delay_ms / 2 : (cap - b->delay_ms) / 4;
		if (step < 1)
			step = 1;
		b->delay_ms = b->delay_ms + step < cap ? b->delay_ms + step : cap;
	}
	if (now_ms >= b->probe_ms + BYZ_ADAPT_PERIOD_MS)
		b->probe_ms = now_ms; /* a long gap is not made up */
	if (b->delay_ms < 1)
		b->delay_ms = 1;
}

static uint32_t slow_delay(const struct byz *b)
{
	return b->cfg.arg != BYZ_ADAPTIVE ? b->cfg.arg : b->delay_ms;
}

/* Everything held whose time has come, in order. */
static void release_held(struct byz *b, uint64_t now_ms, struct effects *out)
{
	while (b->held_count) {
		struct byz_held *h = &b->held[b->held_head];
		if (h->due_ms > now_ms)
			break;
		copy_send(out, h->to, h->client, h->p, h->len);
		free(h->p);
		b->held_bytes -= h->len;
		memset(h, 0, sizeof(*h));
		b->held_head = (b->held_head + 1) % BYZ_HOLD_MAX;
		b->held_count--;
	}
	if (b->held_count)
		out->timer_ms = deadline_min(out->timer_ms, b->held[b->held_head].due_ms);
}

/* ---- fake-view-change ---- */

/* An invented P-entry for sequence number seq of view `view`: a compact pre-prepare
 * and 2f prepares of a random digest, all signed by us.  Authentic (each verifies as
 * ours), but no prepared certificate: the pre-prepare is not by that view's primary
 * (or, if we are it, our prepares are the primary's, which do not count), and the
 * prepares are one replica's, 2f times. */
static void put_invented_entry(struct byz *b, struct auth_ctx *auth, struct buf *body,
			       uint64_t view, uint64_t seq, struct buf *tmp)
{
	uint8_t d[WIRE_DIGEST_LEN];
	random_digest(b, d);
	buf_reset(tmp);
	size_t co = wire_begin(tmp, MSG_PREPREPARE, b->cluster_id, b->id, view, seq);
	set_u32(tmp->p + co + WIRE_OFF_BODY_LEN, 2 + 4 + 64); /* a plausible batch size */
	buf_put(tmp, d, WIRE_DIGEST_LEN);
	if (auth_seal_cpp(auth, tmp, co) != 0) {
		body->err = WIRE_E_AUTH;
		return;
	}
	buf_put_u32(body, (uint32_t)tmp->len);
	buf_put(body, tmp->p, tmp->len);
	uint16_t n_prep = (uint16_t)(2 * b->f > 0 ? 2 * b->f : 1);
	buf_put_u16(body, n_prep);
	for (uint16_t i = 0; i < n_prep; i++) {
		buf_reset(tmp);
		size_t po = wire_put_digest(tmp, MSG_PREPARE, b->cluster_id, b->id, view, seq, d);
		if (auth_seal(auth, tmp, po) != 0) {
			body->err = WIRE_E_AUTH;
			return;
		}
		buf_put_u32(body, (uint32_t)tmp->len);
		buf_put(body, tmp->p, tmp->len);
	}
}

/* PBFT VIEW-CHANGE: the honest one (checkpoint proof, prepared certificates) plus an
 * invented certificate at the next sequence number. */
static int fake_viewchange(struct byz *b, struct auth_ctx *auth, const struct msg *m,
			   struct effects *out)
{
	struct cursor c;
	struct vc_prepared e;
	uint64_t last = m->h.seq;
	wire_vc_begin(m, &c);
	while (wire_vc_next(&c, b->cluster_id, &e) > 0)
		last = e.pp.h.seq;
	struct buf tmp;
	buf_init(&tmp);
	struct buf *a = &out->arena;
	size_t off = wire_begin(a, MSG_VIEWCHANGE, m->h.cluster_id, m->h.sender, m->h.view,
				m->h.seq);
	size_t c_len = (size_t)(m->u.vc.pset - m->body) - 4; /* the C section, as it is */
	buf_put(a, m->body, c_len);
	buf_put_u32(a, m->u.vc.n_prepared + 1);
	buf_put(a, m->u.vc.pset, m->u.vc.pset_len);
	put_invented_entry(b, auth, a, m->h.view ? m->h.view - 1 : 0, last + 1, &tmp);
	buf_free(&tmp);
	wire_finish(a, off);
	if (a->err || auth_seal(auth, a, off) != 0)
		return -1;
	effects_send(out, TO_OTHERS, 0, off);
	return 0;
}

/* VR DO-VIEW-CHANGE (dvc) or START-VIEW: the log section with every batch altered
 * (put_fake_batch; a null batch stays null).  A DO-VIEW-CHANGE also claims the newest
 * normal view possible and one more op-number (a null entry), so that its log wins
 * the new primary's choice (largest last-normal view, then op-number). */
static int fake_vr_log(struct byz *b, struct auth_ctx *auth, const struct msg *m, int dvc,
		       int32_t to, struct effects *out)
{
	struct buf *a = &out->arena;
	uint32_t extra = dvc ? 1 : 0;
	size_t off = wire_begin(a, m->h.type, m->h.cluster_id, m->h.sender, m->h.view,
				m->h.seq + extra);
	if (dvc)
		buf_put_u64(a, m->h.view ? m->h.view - 1 : 0);
	buf_put_u64(a, m->u.vr.commit);
	buf_put_u64(a, m->u.vr.lo);
	buf_put_u32(a, m->u.vr.n_entries + extra);
	struct cursor c;
	struct vr_log_entry e;
	struct body_preprepare batch;
	wire_vr_entries_begin(m, &c);
	while (wire_vr_next_entry(&c, &e) > 0) {
		buf_put_u64(a, e.view);
		size_t len_at = a->len;
		buf_put_u32(a, 0);
		size_t start = a->len;
		if (wire_decode_batch(e.batch, e.len, b->cluster_id, &batch) != WIRE_OK ||
		    put_fake_batch(a, &batch) != 0)
			buf_put(a, e.batch, e.len);
		if (!a->err)
			set_u32(a->p + len_at, (uint32_t)(a->len - start));
	}
	if (extra) {
		buf_put_u64(a, m->h.view ? m->h.view - 1 : 0);
		buf_put_u32(a, 2);
		buf_put_u16(a, 0); /* the null batch */
	}
	wire_finish(a, off);
	if (a->err || auth_seal(auth, a, off) != 0)
		return -1;
	effects_send(out, to, 0, off);
	return 0;
}

/* HotStuff: about half of the others (gets_fake) get, instead of each proposal, one in
 * the same view that extends the parent of the liar's proposal three before, with that
 * one's (old) justify QC: a fork below blocks the others may have locked, which the lock
 * rule (safeNode) must refuse.  The rest get the honest proposal.  Returns 0 if sent. */
static int hs_stale_proposal(struct byz *b, struct auth_ctx *auth, const struct msg *m,
			     const uint8_t *p, size_t len, struct effects *out)
{
	size_t head = (size_t)(m->u.hs.batch - m->body); /* parent | justify QC */
	uint32_t slot = b->hs_heads % BYZ_HS_HEADS;
	uint32_t old = (b->hs_heads + 1) % BYZ_HS_HEADS; /* BYZ_HS_HEADS - 1 proposals ago */
	uint8_t *copy = malloc(head);
	if (!copy)
		return -1;
	memcpy(copy, m->body, head);
	free(b->hs_head[slot]);
	b->hs_head[slot] = copy;
	b->hs_head_len[slot] = (uint32_t)head;
	b->hs_head_height[slot] = m->h.seq;
	b->hs_heads++;
	if (b->hs_heads < BYZ_HS_HEADS)
		return -1; /* too young to lie */
	size_t off = wire_begin(&out->arena, MSG_HS_PROPOSAL, m->h.cluster_id, m->h.sender,
				m->h.view, b->hs_head_height[old]);
	buf_put(&out->arena, b->hs_head[old], b->hs_head_len[old]);
	buf_put(&out->arena, m->u.hs.batch, m->u.hs.batch_len);
	wire_finish(&out->arena, off);
	if (auth_seal(auth, &out->arena, off) != 0)
		return -1;
	size_t fake_len = out->arena.len - off, orig = out->arena.len;
	buf_put(&out->arena, p, len);
	if (out->arena.err)
		return -1;
	for (uint32_t j = 0; j < b->n; j++)
		if (j != b->id) {
			int lie = gets_fake(b, j, 1);
			send_slice(out, (int32_t)j, lie ? off : orig, lie ? fake_len : len);
		}
	return 0;
}

static void fake_view_change(struct byz *b, struct auth_ctx *auth, const struct send *s,
			     const uint8_t *p, struct effects *out)
{
	struct msg m;
	uint8_t type = p[WIRE_OFF_TYPE];
	int rc = -1;
	if (type == MSG_HS_PROPOSAL && s->to == TO_OTHERS &&
	    wire_decode(p, s->len, b->cluster_id, &m) == WIRE_OK) {
		size_t mark = out->arena.len, sends = out->n_sends;
		rc = hs_stale_proposal(b, auth, &m, p, s->len, out);
		if (rc != 0) {
			out->arena.err = 0;
			out->arena.len = mark;
			out->n_sends = sends;
		}
	}
	if ((type == MSG_VIEWCHANGE || type == MSG_VR_DO_VIEW_CHANGE ||
	     type == MSG_VR_START_VIEW) &&
	    get_u32(p + WIRE_OFF_SENDER) == b->id &&
	    wire_decode(p, s->len, b->cluster_id, &m) == WIRE_OK) {
		size_t mark = out->arena.len;
		size_t sends = out->n_sends;
		if (type == MSG_VIEWCHANGE)
			rc = fake_viewchange(b, auth, &m, out);
		else
			rc = fake_vr_log(b, auth, &m, type == MSG_VR_DO_VIEW_CHANGE, s->to, out);
		if (rc != 0) { /* could not lie (too large): say the truth, undone cleanly */
			out->arena.err = 0;
			out->arena.len = mark;
			out->n_sends = sends;
		}
	}
	if (rc == 0)
		b->lies++;
	else
		copy_send(out, s->to, s->client, p, s->len);
}

/* ---- flood ---- */

/* One useless but valid-looking message: a FETCH of a random digest, or a PREPARE of
 * one, near the numbers we speak at; sealed, so every receiver pays a verification. */
static void flood_one(struct byz *b, struct auth_ctx *auth, struct effects *out, uint32_t i)
{
	uint8_t d[WIRE_DIGEST_LEN];
	random_digest(b, d);
	uint64_t seq = b->seq + next_rand(b) % 32;
	seq = seq > 16 ? seq - 16 : 1;
	uint8_t type = i % 2 ? MSG_PREPARE : MSG_FETCH;
	size_t off = wire_put_digest(&out->arena, type, b->cluster_id, b->id, b->view, seq, d);
	seal_send(auth, out, off, TO_OTHERS, 0);
	b->lies++;
}

static void flood(struct byz *b, struct auth_ctx *auth, uint64_t now_ms, struct effects *out)
{
	uint64_t rate = b->cfg.arg;
	if (!b->flood_ms || b->flood_ms > now_ms)
		b->flood_ms = now_ms;
	uint64_t owed = (now_ms - b->flood_ms) * rate / 1000;
	if (owed > BYZ_FLOOD_BURST) {
		owed = BYZ_FLOOD_BURST;
		b->flood_ms = now_ms; /* a backlog is not made up: the rate is a ceiling */
	} else {
		b->flood_ms += owed * 1000 / rate;
	}
	for (uint32_t i = 0; i < owed && !out->arena.err; i++)
		flood_one(b, auth, out, i);
	uint64_t next = b->flood_ms + (1000 + rate - 1) / rate;
	if (next < now_ms + BYZ_FLOOD_TICK_MS)
		next = now_ms + BYZ_FLOOD_TICK_MS;
	out->timer_ms = deadline_min(out->timer_ms, next);
}

/* ---- selective ---- */

static void selective(struct byz *b, const struct send *s, const uint8_t *p, struct effects *out)
{
	if (s->to == TO_CLIENT) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t off = out->arena.len;
	buf_put(&out->arena, p, s->len);
	for (uint32_t j = 0; j < b->n; j++) {
		int wanted = s->to == TO_OTHERS ? j != b->id : (int32_t)j == s->to;
		if (!wanted)
			continue;
		if (b->cfg.peers & (1u << j))
			send_slice(out, (int32_t)j, off, s->len);
		else
			b->lies++;
	}
}

/* ---- mac-poison ---- */

static void mac_poison(struct byz *b, const struct send *s, const uint8_t *p, struct effects *out)
{
	if (s->to == TO_CLIENT) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	uint64_t view = get_u64(p + WIRE_OFF_VIEW);
	if (b->poisoned && view > b->poison_view) {
		b->lies++; /* the view moved on: leave the others with the poison */
		return;
	}
	size_t clean = out->arena.len;
	buf_put(&out->arena, p, s->len);
	size_t poisoned = out->arena.len;
	buf_put(&out->arena, p, s->len);
	if (out->arena.err)
		return;
	int lied = auth_poison_slots(out->arena.p + poisoned, s->len, b->cfg.peers);
	for (uint32_t j = 0; j < b->n; j++) {
		int wanted = s->to == TO_OTHERS ? j != b->id : (int32_t)j == s->to;
		if (!wanted)
			continue;
		int victim = ((b->cfg.peers >> j) & 1u) != 0;
		send_slice(out, (int32_t)j, victim || !lied ? clean : poisoned, s->len);
		if (!victim && lied)
			b->lies++;
	}
	if (lied && !b->poisoned) {
		b->poisoned = 1;
		b->poison_view = view;
	}
}

/* ---- split (issue 17) ---- */

static struct byz_split *split_find(struct byz *b, uint64_t view, uint64_t seq)
{
	for (uint32_t i = 0; i < BYZ_SPLIT_SLOTS; i++)
		if (b->split[i].seq == seq && b->split[i].view == view && seq)
			return &b->split[i];
	return NULL;
}

/* Remember the other digest of the PRE-PREPARE body (a batch) for (view, seq). */
static void split_remember(struct byz *b, uint64_t view, uint64_t seq, const uint8_t *body,
			   uint32_t body_len, const struct body_preprepare *pp)
{
	struct buf other;
	struct byz_split *e = split_find(b, view, seq);
	if (!e) {
		e = &b->split[b->split_next];
		b->split_next = (b->split_next + 1) % BYZ_SPLIT_SLOTS;
	}
	buf_init(&other);
	if (put_fake_batch(&other, pp) == 0 && !other.err) {
		*e = (struct byz_split){.view = view, .seq = seq};
		crypto_digest(body, body_len, e->real);
		crypto_digest(other.p, other.len, e->other);
	}
	buf_free(&other);
}

static int split_to(const struct byz *b, const struct send *s, uint32_t j)
{
	return s->to == TO_OTHERS ? j != b->id : (int32_t)j == s->to;
}

/* Our own PRE-PREPARE: IDS get the other batch.  One of somebody else's (relayed):
 * not to IDS, if it is the real one of a slot we split. */
static void split_preprepare(struct byz *b, struct auth_ctx *auth, const struct send *s,
			     const uint8_t *p, struct effects *out)
{
	struct msg m;
	if (wire_decode(p, s->len, b->cluster_id, &m) != WIRE_OK || m.h.type != MSG_PREPREPARE ||
	    m.u.pp.count == 0) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t fake = (size_t)-1, fake_len = 0;
	if (m.h.sender == b->id) {
		split_remember(b, m.h.view, m.h.seq, m.body, m.h.body_len, &m.u.pp);
		fake = fake_proposal(b, auth, &m, out);
		if (fake != (size_t)-1 && !out->arena.err)
			fake_len = out->arena.len - fake;
	} else {
		uint8_t d[WIRE_DIGEST_LEN];
		const struct byz_split *e = split_find(b, m.h.view, m.h.seq);
		crypto_digest(m.body, m.h.body_len, d);
		if (!e || memcmp(d, e->real, WIRE_DIGEST_LEN) != 0) {
			copy_send(out, s->to, s->client, p, s->len);
			return;
		}
	}
	size_t orig = out->arena.len;
	buf_put(&out->arena, p, s->len);
	if (out->arena.err)
		return;
	for (uint32_t j = 0; j < b->n; j++) {
		if (!split_to(b, s, j))
			continue;
		/* ours: the other batch (or the real one if we could not make it); a
		 * relayed real one: withheld */
		int lie = ((b->cfg.peers >> j) & 1u) && (fake_len || m.h.sender != b->id);
		if (!lie)
			send_slice(out, (int32_t)j, orig, s->len);
		else if (fake_len)
			send_slice(out, (int32_t)j, fake, fake_len);
		b->lies += (uint64_t)lie;
	}
}

/* A PREPARE or COMMIT for the real digest of a slot we split: IDS get one for the
 * other digest, sealed with our key. */
static void split_vote(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		       struct effects *out)
{
	const struct byz_split *e = split_find(b, get_u64(p + WIRE_OFF_VIEW),
					       get_u64(p + WIRE_OFF_SEQ));
	if (!e || get_u32(p + WIRE_OFF_SENDER) != b->id ||
	    memcmp(p + WIRE_HDR_LEN, e->real, WIRE_DIGEST_LEN) != 0) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	size_t orig = out->arena.len;
	buf_put(&out->arena, p, s->len);
	size_t fake = begin_copy(out, p, s->len);
	if (out->arena.err)
		return;
	memcpy(out->arena.p + fake + WIRE_HDR_LEN, e->other, WIRE_DIGEST_LEN);
	if (auth_seal(auth, &out->arena, fake) != 0)
		return;
	size_t fake_len = out->arena.len - fake;
	for (uint32_t j = 0; j < b->n; j++) {
		if (!split_to(b, s, j))
			continue;
		int lie = ((b->cfg.peers >> j) & 1u) != 0;
		send_slice(out, (int32_t)j, lie ? fake : orig, lie ? fake_len : s->len);
		b->lies += (uint64_t)lie;
	}
}

static void split(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		  struct effects *out)
{
	uint8_t type = p[WIRE_OFF_TYPE];
	if (s->to == TO_CLIENT)
		copy_send(out, s->to, s->client, p, s->len);
	else if (type == MSG_PREPREPARE)
		split_preprepare(b, auth, s, p, out);
	else if ((type == MSG_PREPARE || type == MSG_COMMIT) &&
		 s->len >= WIRE_HDR_LEN + WIRE_DIGEST_LEN)
		split_vote(b, auth, s, p, out);
	else
		copy_send(out, s->to, s->client, p, s->len);
}

/* ---- the filter ---- */

static void filter_send(struct byz *b, struct auth_ctx *auth, const struct send *s,
			const uint8_t *p, uint64_t now_ms, struct effects *out)
{
	if (s->len < WIRE_HDR_LEN) {
		copy_send(out, s->to, s->client, p, s->len);
		return;
	}
	note_numbers(b, p);
	switch (b->cfg.kind) {
	case BYZ_SILENT: b->lies++; break;
	case BYZ_EQUIVOCATE: equivocate(b, auth, s, p, out); break;
	case BYZ_BAD_DIGEST: bad_digest(b, auth, s, p, out); break;
	case BYZ_FORGE: forge(b, auth, s, p, out); break;
	case BYZ_REPLAY: replay(b, s, p, out); break;
	case BYZ_WRONG_REPLY: wrong_reply(b, auth, s, p, out); break;
	case BYZ_SLOW_PRIMARY:
		if (b->cfg.arg == BYZ_ADAPTIVE) {
			adapt_observe(b, p, now_ms);
			adapt_raise(b, now_ms);
		}
		if (is_proposal(b, p))
			hold(b, s, p, now_ms + slow_delay(b));
		else
			copy_send(out, s->to, s->client, p, s->len);
		break;
	case BYZ_FAKE_VIEW_CHANGE: fake_view_change(b, auth, s, p, out); break;
	case BYZ_SELECTIVE: selective(b, s, p, out); break;
	case BYZ_MAC_POISON: mac_poison(b, s, p, out); break;
	case BYZ_SPLIT: split(b, auth, s, p, out); break;
	case BYZ_HS_FORK:
	case BYZ_HS_FORK_HIGH:
		if (!byz_hs_fork_send(b, auth, s, p, out))
			copy_send(out, s->to, s->client, p, s->len);
		break;
	default: /* honest, flood (flood only adds) */
		copy_send(out, s->to, s->client, p, s->len);
		break;
	}
}

int byz_filter(struct byz *b, struct auth_ctx *auth, const struct effects *honest, uint64_t now_ms,
	       struct effects *out)
{
	effects_reset(out);
	if (effects_failed(honest)) {
		out->arena.err = WIRE_E_NOMEM;
		return -1;
	}
	copy_unchanged(honest, out);
	if (b->cfg.kind == BYZ_SLOW_PRIMARY)
		release_held(b, now_ms, out); /* older than this step's: they go first */
	for (size_t i = 0; i < honest->n_sends && !out->arena.err; i++) {
		const struct send *s = &honest->sends[i];
		filter_send(b, auth, s, honest->arena.p + s->off, now_ms, out);
	}
	if (b->cfg.kind == BYZ_SLOW_PRIMARY && b->held_count)
		out->timer_ms = deadline_min(out->timer_ms, b->held[b->held_head].due_ms);
	if (b->cfg.kind == BYZ_FLOOD)
		flood(b, auth, now_ms, out);
	if (b->cfg.kind == BYZ_HS_FORK || b->cfg.kind == BYZ_HS_FORK_HIGH)
		byz_hs_fork_step(b, auth, out);
	return effects_failed(out) ? -1 : 0;
}

void byz_observe(struct byz *b, const struct msg *m)
{
	if (b->cfg.kind == BYZ_HS_FORK || b->cfg.kind == BYZ_HS_FORK_HIGH)
		byz_hs_fork_observe(b, m);
	/* split: a backup learns the other digest of each slot from its PRE-PREPARE */
	if (b->cfg.kind == BYZ_SPLIT && m->h.type == MSG_PREPREPARE && m->u.pp.count > 0)
		split_remember(b, m->h.view, m->h.seq, m->body, m->h.body_len, &m->u.pp);
}
