/* faults.c - network and clock faults of one replica (see faults.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/faults.h"
#include "replica/wan.h"

/* ---- parsing ---- */

/* A number, the whole string, in [lo, hi]. */
static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	if (!*s || *s == ' ' || *s == '+' || *s == '-')
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_id(const char *s, size_t len, uint32_t n, uint32_t *out)
{
	uint32_t v = 0;
	if (len == 0 || len > 2)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v >= n)
		return -1;
	*out = v;
	return 0;
}

/* "A,B/C,D": group numbers 1, 2, ...; a replica at most once. */
static int parse_partition(const char *v, uint32_t n, struct faults_cfg *c)
{
	uint8_t group = 1;
	uint32_t seen = 0;
	memset(c->group, 0, sizeof(c->group));
	while (*v) {
		size_t len = strcspn(v, ",/");
		uint32_t id;
		if (parse_id(v, len, n, &id) != 0 || (seen & (1u << id)))
			return -1;
		seen |= 1u << id;
		c->group[id] = group;
		v += len;
		if (*v == '/')
			group++;
		if (*v && !*++v)
			return -1; /* trailing separator */
	}
	c->partitioned = 1;
	return seen ? 0 : -1;
}

/* "I,J": replica ids; ourselves among them is ignored (the [faults] section applies
 * to every replica, so oneway=2 there must not stop replica 2). */
static int parse_ids(const char *v, uint32_t n, uint32_t self, uint32_t *mask)
{
	int count = 0;
	*mask = 0;
	while (*v) {
		size_t len = strcspn(v, ",");
		uint32_t id;
		if (parse_id(v, len, n, &id) != 0)
			return -1;
		if (id != self)
			*mask |= 1u << id;
		count++;
		v += len;
		if (*v && !*++v)
			return -1;
	}
	return count ? 0 : -1;
}

/* "MS" or "MS,tail=pareto" */
static int parse_delay(const char *v, struct faults_cfg *c)
{
	char ms[16];
	const char *comma = strchr(v, ',');
	size_t len = comma ? (size_t)(comma - v) : strlen(v);
	double d;
	if (len == 0 || len >= sizeof(ms))
		return -1;
	memcpy(ms, v, len);
	ms[len] = 0;
	if (parse_num(ms, 0, FAULTS_DELAY_MAX_MS, &d) != 0 || d != floor(d))
		return -1;
	c->delay_ms = (uint32_t)d;
	c->pareto = 0;
	if (!comma)
		return 0;
	if (strcmp(comma + 1, "tail=pareto") != 0)
		return -1;
	c->pareto = 1;
	return 0;
}

enum fkey { K_DROP, K_DELAY, K_DUP, K_REORDER, K_PARTITION, K_ONEWAY, K_CLOCK, K_PAUSE, K_COUNT };
static const char *const key_names[K_COUNT] = {"drop",       "delay",
					       "dup",        "reorder",
					       "partition",  "oneway",
					       "clock_rate", "pause_before_reply"};

static int parse_pause(const char *v, struct faults_cfg *c)
{
	double d;
	if (parse_num(v, 0, FAULTS_PAUSE_MAX_MS, &d) != 0 || d != floor(d))
		return -1;
	c->pause_before_reply_ms = (uint32_t)d;
	return 0;
}

static int parse_item(const char *key, const char *v, uint32_t n, uint32_t self,
		      struct faults_cfg *c, uint32_t *seen, uint32_t *seen_links)
{
	uint32_t id;
	if (!strncmp(key, "drop.", 5)) {
		if (parse_id(key + 5, strlen(key + 5), n, &id) != 0 || (*seen_links & (1u << id)))
			return -1;
		*seen_links |= 1u << id;
		return parse_num(v, 0, 1, &c->drop_to[id]);
	}
	int k;
	for (k = 0; k < K_COUNT && strcmp(key, key_names[k]); k++)
		;
	if (k == K_COUNT || (*seen & (1u << k)))
		return -1;
	*seen |= 1u << k;
	switch (k) {
	case K_DROP: return parse_num(v, 0, 1, &c->drop);
	case K_DELAY: return parse_delay(v, c);
	case K_DUP: return parse_num(v, 0, 1, &c->dup);
	case K_REORDER: return parse_num(v, 0, 1, &c->reorder);
	case K_PARTITION: return parse_partition(v, n, c);
	case K_ONEWAY: return parse_ids(v, n, self, &c->deaf_to);
	case K_PAUSE: return parse_pause(v, c);
	default: return parse_num(v, 0.01, 100, &c->clock_rate);
	}
}

static void clear_cfg(struct faults_cfg *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < WIRE_MAX_REPLICAS; i++)
		c->drop_to[i] = -1;
	c->clock_rate = 1.0;
}

int faults_parse(const char *spec, uint32_t n, uint32_t self, struct faults_cfg *out, char *err,
		 size_t errlen)
{
	char copy[FAULTS_SPEC_MAX];
	clear_cfg(out);
	if (!spec || n == 0 || n > WIRE_MAX_REPLICAS || self >= n) {
		snprintf(err, errlen, "no specification");
		return -1;
	}
	if (strlen(spec) >= sizeof(copy)) {
		snprintf(err, errlen, "longer than %d characters", FAULTS_SPEC_MAX - 1);
		return -1;
	}
	strcpy(copy, spec);
	if (!strcmp(copy, "none"))
		return 0;
	uint32_t seen = 0, seen_links = 0;
	char *save = NULL;
	for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			snprintf(err, errlen, "'%.40s': expected key=value", item);
			return -1;
		}
		*eq = 0;
		if (parse_item(item, eq + 1, n, self, out, &seen, &seen_links) != 0) {
			snprintf(err, errlen,
				 "key '%.20s': bad, repeated or unknown (value '%.60s'); keys: "
				 "drop=P, "
				 "drop.I=P, delay=MS[,tail=pareto], dup=P, reorder=P, "
				 "partition=A,B/C,D, oneway=I, clock_rate=R, pause_before_reply=MS "
				 "(P 0..1, ids < %u)",
				 item, eq + 1, n);
			clear_cfg(out);
			return -1;
		}
	}
	return 0;
}

/* ---- state ---- */

int faults_init(struct faults *f, uint32_t n, uint32_t self, uint64_t seed, uint64_t now_real_ms)
{
	memset(f, 0, sizeof(*f));
	clear_cfg(&f->cfg);
	f->n = n;
	f->self = self;
	f->rng = seed;
	f->base_real_ms = f->base_core_ms = now_real_ms;
	snprintf(f->spec, sizeof(f->spec), "none");
	f->heap = calloc(FAULTS_HELD_MAX, sizeof(*f->heap));
	f->cq = calloc(FAULTS_CLIENT_HELD_MAX, sizeof(*f->cq));
	return f->heap && f->cq ? 0 : -1;
}

void faults_free(struct faults *f)
{
	for (uint32_t i = 0; f->heap && i < f->n_held; i++)
		free(f->heap[i].p);
	free(f->heap);
	for (uint32_t i = 0; f->cq && i < f->cq_n; i++)
		free(f->cq[(f->cq_head + i) % FAULTS_CLIENT_HELD_MAX].p);
	free(f->cq);
	memset(f, 0, sizeof(*f));
}

uint64_t faults_core_ms(const struct faults *f, uint64_t real_ms)
{
	if (real_ms <= f->base_real_ms)
		return f->base_core_ms;
	return f->base_core_ms +
	       (uint64_t)((double)(real_ms - f->base_real_ms) * f->cfg.clock_rate);
}

uint64_t faults_real_wait_ms(const struct faults *f, uint64_t core_ahead_ms)
{
	return (uint64_t)ceil((double)core_ahead_ms / f->cfg.clock_rate);
}

int faults_set(struct faults *f, const char *spec, uint64_t now_real_ms, char *err, size_t errlen)
{
	struct faults_cfg c;
	if (faults_parse(spec, f->n, f->self, &c, err, errlen) != 0)
		return -1;
	/* the core's clock goes on from where it is, at the new rate */
	f->base_core_ms = faults_core_ms(f, now_real_ms);
	f->base_real_ms = now_real_ms;
	f->cfg = c;
	snprintf(f->spec, sizeof(f->spec), "%s", *spec ? spec : "none");
	return 0;
}

/* ---- randomness ---- */

static uint64_t next_rand(struct faults *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit(struct faults *f)
{
	return (double)(next_rand(f) >> 11) / 9007199254740992.0; /* [0, 1) */
}

static int chance(struct faults *f, double p)
{
	return p > 0 && unit(f) < p;
}

/* ---- the heap of held messages ---- */

static int before(const struct faults_held *a, const struct faults_held *b)
{
	return a->due_us < b->due_us || (a->due_us == b->due_us && a->order < b->order);
}

static void swap(struct faults_held *a, struct faults_held *b)
{
	struct faults_held t = *a;
	*a = *b;
	*b = t;
}

static void heap_push(struct faults *f, struct faults_held h)
{
	uint32_t i = f->n_held++;
	f->heap[i] = h;
	while (i > 0 && before(&f->heap[i], &f->heap[(i - 1) / 2])) {
		swap(&f->heap[i], &f->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static struct faults_held heap_pop(struct faults *f)
{
	struct faults_held top = f->heap[0];
	f->heap[0] = f->heap[--f->n_held];
	f->heap[f->n_held] = (struct faults_held){0}; /* the vacated slot owns nothing */
	uint32_t i = 0;
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < f->n_held && before(&f->heap[l], &f->heap[m]))
			m = l;
		if (r < f->n_held && before(&f->heap[r], &f->heap[m]))
			m = r;
		if (m == i)
			break;
		swap(&f->heap[i], &f->heap[m]);
		i = m;
	}
	return top;
}

static void hold(struct faults *f, uint32_t to, const uint8_t *p, size_t len, uint64_t due,
		 int fifo)
{
	if (f->n_held >= FAULTS_HELD_MAX || f->held_bytes + len > FAULTS_HELD_BYTES) {
		f->st.queue_full++;
		return;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy) {
		f->st.queue_full++;
		return;
	}
	memcpy(copy, p, len);
	/* the heap owns copy from here (freed by faults_release / faults_free) */
	heap_push(f, (struct faults_held){.due_us = due,
					  .order = f->order++,
					  .to = to,
					  .len = (uint32_t)len,
					  .fifo = fifo,
					  .p = copy});
	f->held_bytes += len;
	f->fifo_held[to] += fifo;
}

/* ---- sending and hearing ---- */

static int same_group(const struct faults *f, uint32_t other)
{
	return !f->cfg.partitioned ||
	       (f->cfg.group[f->self] != 0 && f->cfg.group[f->self] == f->cfg.group[other]);
}

/* One copy's delay in us: MS, or MS x Pareto(1.5) capped. */
static uint64_t draw_delay_us(struct faults *f)
{
	double d = f->cfg.delay_ms;
	if (f->cfg.pareto && d > 0) {
		double u = 1.0 - unit(f); /* (0, 1] */
		d *= pow(u, -1.0 / 1.5);
		if (d > FAULTS_DELAY_CAP_MS)
			d = FAULTS_DELAY_CAP_MS;
	}
	return (uint64_t)(d * 1000);
}

/* ---- the WAN model ---- */

void faults_set_wan(struct faults *f, const struct wan *w)
{
	f->wan = w && wan_enabled(w) ? w : NULL;
}

/* One message's WAN delay on the link to slot `to` (a replica or WAN_CLIENT), us:
 * not rounded, so a sub-millisecond link (one-datacenter: 0.25 ms) holds what it says. */
static uint64_t wan_delay_us(struct faults *f, uint32_t to)
{
	if (!f->wan)
		return 0;
	struct wan_link l = wan_link_of(f->wan, f->self, to);
	if (!l.set)
		return 0;
	return wan_draw_us(l, next_rand(f));
}

uint64_t faults_client_delay_us(struct faults *f)
{
	return wan_delay_us(f, WAN_CLIENT);
}

int faults_client_hold(struct faults *f, int in, uint32_t id, const uint8_t *p, size_t len,
		       uint64_t now_us)
{
	uint64_t due = now_us + faults_client_delay_us(f);
	uint8_t *copy = NULL;
	if (f->cq_n >= FAULTS_CLIENT_HELD_MAX || f->held_bytes + len > FAULTS_HELD_BYTES ||
	    !(copy = malloc(len ? len : 1))) {
		f->st.queue_full++;
		return -1;
	}
	memcpy(copy, p, len);
	if (due < f->cq_last_due)
		due = f->cq_last_due; /* FIFO, as the connection is */
	f->cq_last_due = due;
	f->cq[(f->cq_head + f->cq_n++) % FAULTS_CLIENT_HELD_MAX] = (struct faults_cmsg){
		.due_us = due, .id = id, .len = (uint32_t)len, .in = in, .p = copy};
	f->held_bytes += len;
	f->st.wan_held++;
	return 0;
}

int faults_client_modelled(const struct faults *f)
{
	return f->wan && f->wan->where[WAN_CLIENT] != WAN_NOWHERE;
}

int faults_client_pending(const struct faults *f)
{
	return f->cq_n > 0;
}

int faults_client_next(struct faults *f, uint64_t now_us, struct faults_cmsg *out)
{
	if (!f->cq_n || f->cq[f->cq_head].due_us > now_us)
		return 0;
	*out = f->cq[f->cq_head];
	f->st.released++;
	f->st.late_us += now_us - out->due_us;
	f->cq[f->cq_head] = (struct faults_cmsg){0};
	f->cq_head = (f->cq_head + 1) % FAULTS_CLIENT_HELD_MAX;
	f->cq_n--;
	f->held_bytes -= out->len;
	return 1;
}

static void send_copy(struct faults *f, uint32_t to, const uint8_t *p, size_t len, uint64_t now,
		      faults_send_fn fn, void *arg)
{
	uint64_t w = wan_delay_us(f, to);
	uint64_t d = draw_delay_us(f) + w;
	if (w)
		f->st.wan_held++;
	if (chance(f, f->cfg.reorder)) {
		/* out of the link's order: later messages overtake it (1..REORDER ms) */
		f->st.reordered++;
		hold(f, to, p, len, now + d + 1000 * (1 + next_rand(f) % FAULTS_REORDER_MS), 0);
		return;
	}
	uint64_t due = now + d;
	if (due < f->last_due[to])
		due = f->last_due[to]; /* a link is FIFO, as TCP is */
	if (due <= now && f->fifo_held[to] == 0) {
		fn(arg, to, p, len);
		return;
	}
	f->last_due[to] = due;
	if (d > w)
		f->st.delayed++;
	hold(f, to, p, len, due, 1);
}

void faults_send(struct faults *f, uint32_t to, const uint8_t *p, size_t len, uint64_t now_us,
		 faults_send_fn fn, void *arg)
{
	if (to >= f->n || to == f->self)
		return;
	if (!same_group(f, to)) {
		f->st.partitioned++;
		return;
	}
	double drop = f->cfg.drop_to[to] >= 0 ? f->cfg.drop_to[to] : f->cfg.drop;
	if (chance(f, drop)) {
		f->st.dropped++;
		return;
	}
	send_copy(f, to, p, len, now_us, fn, arg);
	if (chance(f, f->cfg.dup)) {
		f->st.duplicated++;
		send_copy(f, to, p, len, now_us, fn, arg);
	}
}

void faults_release(struct faults *f, uint64_t now_us, faults_send_fn fn, void *arg)
{
	while (f->n_held && f->heap[0].due_us <= now_us) {
		struct faults_held h = heap_pop(f);
		f->st.released++;
		f->st.late_us += now_us - h.due_us;
		f->held_bytes -= h.len;
		f->fifo_held[h.to] -= (uint32_t)h.fifo;
		fn(arg, h.to, h.p, h.len);
		free(h.p);
	}
}

uint64_t faults_next_due_us(const struct faults *f)
{
	uint64_t peer = f->n_held ? f->heap[0].due_us : 0;
	uint64_t client = f->cq_n ? f->cq[f->cq_head].due_us : 0;
	if (!peer || (client && client < peer))
		return client;
	return peer;
}

int faults_hears(struct faults *f, uint32_t from)
{
	if (from >= f->n || from == f->self)
		return 1; /* not a replica's message: the edge judges it */
	if (!same_group(f, from)) {
		f->st.partitioned++;
		return 0;
	}
	if (f->cfg.deaf_to & (1u << from)) {
		f->st.deaf++;
		return 0;
	}
	return 1;
}

/* ---- status ---- */

int faults_json(const struct faults *f, char *out, size_t cap)
{
	char spec[2 * FAULTS_SPEC_MAX];
	size_t k = 0;
	for (const char *s = f->spec; *s && k + 2 < sizeof(spec); s++) {
		if (*s == '"' || *s == '\\')
			spec[k++] = '\\';
		spec[k++] = (char)((*s >= 0x20 && *s < 0x7f) ? *s : '?');
	}
	spec[k] = 0;
	const struct faults_stats *st = &f->st;
	int n = snprintf(
		out, cap,
		"\"faults\":{\"spec\":\"%s\",\"dropped\":%llu,\"partitioned\":%llu,"
		"\"deaf\":%llu,\"delayed\":%llu,\"duplicated\":%llu,\"reordered\":%llu,"
		"\"queue_full\":%llu,\"wan_held\":%llu,\"held\":%u,\"released\":%llu,"
		"\"late_us\":%llu,\"clock_rate\":%g,\"paused\":%llu,\"late_replies\":%llu}",
		spec, (unsigned long long)st->dropped, (unsigned long long)st->partitioned,
		(unsigned long long)st->deaf, (unsigned long long)st->delayed,
		(unsigned long long)st->duplicated, (unsigned long long)st->reordered,
		(unsigned long long)st->queue_full, (unsigned long long)st->wan_held,
		f->n_held + f->cq_n, (unsigned long long)st->released,
		(unsigned long long)st->late_us, f->cfg.clock_rate, (unsigned long long)st->paused,
		(unsigned long long)st->late_replies);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}
