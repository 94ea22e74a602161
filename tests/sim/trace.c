/* trace.c - the event log.
 *
 * Every event of a run goes through trace_add(): it is hashed into a fingerprint
 * (printed with -v, so two runs can be compared without files), kept in a ring of the
 * most recent events (printed when a checker fails), and, with --trace FILE, written
 * as one text line.  Only simulated quantities are logged - never a pointer or a
 * wall-clock time - so the same seed gives the same file byte for byte.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tests/sim/sim.h"

static const char *const kind_names[TR_KIND_MAX] = {
	[TR_SEND] = "send",
	[TR_DELIVER] = "deliver",
	[TR_DROP] = "drop",
	[TR_DUP] = "dup",
	[TR_CUT] = "cut",
	[TR_QUEUE] = "queue",
	[TR_CRASH] = "crash",
	[TR_RESTART] = "restart",
	[TR_PAUSE] = "pause",
	[TR_RESUME] = "resume",
	[TR_PARTITION] = "partition",
	[TR_HEAL] = "heal",
	[TR_ONEWAY] = "oneway",
	[TR_ONEWAY_HEAL] = "oneway-heal",
	[TR_TICK] = "tick",
	[TR_EXEC] = "exec",
	[TR_VIEW] = "view",
	[TR_INVOKE] = "invoke",
	[TR_RETRY] = "retry",
	[TR_COMPLETE] = "complete",
	[TR_PHASE] = "phase",
	[TR_NOTE] = "note",
};

void trace_init(struct trace *t, FILE *out)
{
	memset(t, 0, sizeof(*t));
	t->hash = 0xcbf29ce484222325ull;
	t->out = out;
}

static void fnv(uint64_t *h, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ull;
	}
}

/* A word at a time (the fingerprint only needs to be deterministic and well mixed). */
static void fnv_u64(uint64_t *h, uint64_t v)
{
	*h = (*h ^ v) * 0x9e3779b97f4a7c15ull;
	*h ^= *h >> 29;
}

/* "r2", "r2'" (second twin), "c0", or "all". */
static void endpoint(char *out, size_t cap, int a, int inst)
{
	if (a >= 0)
		snprintf(out, cap, "r%d%s", a, inst ? "'" : "");
	else if (a == TR_ALL)
		snprintf(out, cap, "all");
	else if (a > TR_ALL)
		snprintf(out, cap, "c%d", -1 - a);
	else
		snprintf(out, cap, "-");
}

void trace_format(const struct tr_ev *e, char *out, size_t cap)
{
	char a[16], b[16], msg[96] = "";
	endpoint(a, sizeof(a), e->a, e->ia);
	endpoint(b, sizeof(b), e->b, e->ib);
	if (e->type)
		snprintf(msg, sizeof(msg), " %s v=%" PRIu64 " n=%" PRIu64 " len=%u",
			 wire_type_name(e->type), e->x, e->y, e->len);
	unsigned ms = (unsigned)(e->t / 1000), us = (unsigned)(e->t % 1000);
	const char *k = e->kind < TR_KIND_MAX ? kind_names[e->kind] : "?";
	switch (e->kind) {
	case TR_SEND:
	case TR_DELIVER:
	case TR_DROP:
	case TR_DUP:
	case TR_CUT:
	case TR_QUEUE:
		snprintf(out, cap, "%7u.%03u %-8s %s -> %s%s%s%s", ms, us, k, a, b, msg,
			 e->note[0] ? " " : "", e->note);
		break;
	case TR_EXEC:
		snprintf(out, cap, "%7u.%03u %-8s %s n=%" PRIu64 " v=%" PRIu64 " reqs=%u %s", ms,
			 us, k, a, e->y, e->x, e->len, e->note);
		break;
	case TR_VIEW:
	case TR_TICK:
	case TR_CRASH:
	case TR_RESTART:
	case TR_PAUSE:
	case TR_RESUME:
		snprintf(out, cap, "%7u.%03u %-8s %s %" PRIu64 " %" PRIu64 " %s", ms, us, k, a,
			 e->x, e->y, e->note);
		break;
	case TR_INVOKE:
	case TR_RETRY:
	case TR_COMPLETE:
		snprintf(out, cap, "%7u.%03u %-8s %s ts=%" PRIu64 " %s", ms, us, k, a, e->x,
			 e->note);
		break;
	case TR_ONEWAY:
	case TR_ONEWAY_HEAL: snprintf(out, cap, "%7u.%03u %-8s %s -/-> %s", ms, us, k, a, b); break;
	default: snprintf(out, cap, "%7u.%03u %-8s %s", ms, us, k, e->note); break;
	}
}

void trace_add(struct trace *t, const struct tr_ev *e)
{
	uint64_t *h = &t->hash;
	fnv_u64(h, e->t);
	fnv_u64(h, ((uint64_t)e->kind << 56) | ((uint64_t)e->type << 48) |
			   ((uint64_t)(uint16_t)e->a << 32) | ((uint64_t)(uint16_t)e->b << 16) |
			   ((uint64_t)e->ia << 8) | e->ib);
	fnv_u64(h, e->x);
	fnv_u64(h, e->y);
	fnv_u64(h, e->len);
	fnv(h, e->note, strnlen(e->note, sizeof(e->note)));
	t->ring[t->count % 64] = *e;
	t->count++;
	if (t->out) {
		char line[256];
		trace_format(e, line, sizeof(line));
		fputs(line, t->out);
		fputc('\n', t->out);
	}
}

void trace_print_tail(const struct trace *t, FILE *out, unsigned n)
{
	if (n > 64)
		n = 64;
	uint64_t from = t->count > n ? t->count - n : 0;
	for (uint64_t i = from; i < t->count; i++) {
		char line[256];
		trace_format(&t->ring[i % 64], line, sizeof(line));
		fprintf(out, "    %s\n", line);
	}
}
