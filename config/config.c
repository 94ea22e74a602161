/* config.c - cluster.ini: parse with inih, validate as a whole.
 *
 * inih does the key = value splitting; everything around it is ours, so the result
 * does not depend on how the distribution built the library.  Debian's libinih 55 does
 * strip inline ';' comments and passes a line number to the handler, but its ini.h
 * says INI_HANDLER_LINENO 0, multi-line continuation is on, and a line longer than
 * INI_MAX_LINE is silently split in two (shifting every later line number).  So we
 * feed it through our own reader (ini_parse_stream), which:
 *   - counts lines itself, so every message names the real line;
 *   - strips comments (';' or '#' at the start or after whitespace) and leading
 *     whitespace, which also switches multi-line continuation off;
 *   - refuses over-long lines and NUL bytes instead of letting them be split;
 *   - sees every [section] header, including empty ones, and records its line.
 * The first error stops the parse (the reader then reports end of file).
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "crypto/auth.h"

#define CFG_LINE_BUF 1024    /* our read buffer; inih's own limit is lower */
#define CFG_MAX_LINES 100000 /* a cluster.ini is a few dozen lines */
#define CFG_NAME_SHOW 64     /* longest key/section name quoted in messages */
#define CFG_WINDOW_MAX 65536u

enum sec_kind { SEC_NONE, SEC_CLUSTER, SEC_REPLICA, SEC_FAULTS, SEC_REGIONS };

enum ckey {
	K_PROTOCOL,
	K_F,
	K_AUTH,
	K_BATCH_MAX,
	K_WINDOW,
	K_CHECKPOINT,
	K_VIEW_TIMEOUT,
	K_SYNC,
	K_KEYS,
	K_DATA,
	K_CLIENTS,
	K_CLUSTER_ID,
	K_READ_ONLY,
	K_DIGEST_REPLIES,
	K_GROUP_COMMIT,
	K_COALESCE,
	K_RX_AIO,
	K_ROBUST,
	K_ROBUST_RATIO,
	K_ROBUST_HEARTBEAT,
	K_HOTSTUFF_LEADER,
	K_HOTSTUFF_CLIENT,
	K_READ_LEASE,
	K_EVIDENCE,
	K_FORENSICS_K,
	K_COUNT
};

static const char *const ckey_name[K_COUNT] = {
	"protocol",
	"f",
	"auth",
	"batch_max",
	"window",
	"checkpoint_interval",
	"view_timeout_ms",
	"sync",
	"keys",
	"data",
	"clients",
	"cluster_id",
	"read_only",
	"digest_replies",
	"group_commit",
	"coalesce",
	"rx_aio",
	"robust",
	"robust_ratio",
	"robust_heartbeat_ms",
	"hotstuff_leader",
	"hotstuff_client",
	"read_lease_ms",
	"evidence",
	"forensics_k",
};

enum role { R_PEER, R_CLIENT, R_ADMIN, R_METRICS, R_COUNT };

static const char *const role_name[R_COUNT] = {"peer", "client", "admin", "metrics"};

static const char *const fault_keys[] = {
	"drop",      "delay",  "dup",        "reorder",
	"partition", "oneway", "clock_rate", "pause_before_reply",
};

struct parse {
	struct config *c;
	FILE *fp;
	char *err;
	size_t errlen;
	int failed;
	int err_line; /* line of the recorded error, 0 = whole file */
	int eof;
	int line;           /* line the reader handed out last */
	enum sec_kind sec;  /* section of that line */
	uint32_t sec_index; /* replica index when sec == SEC_REPLICA */
	int cluster_line;   /* header lines, 0 = section absent */
	int faults_line;
	int regions_line;
	char place[WAN_SLOTS][WAN_NAME_MAX]; /* [faults] region.I / region.client, as written */
	int place_line[WAN_SLOTS];
	int rep_line[WIRE_MAX_REPLICAS];
	int key_line[K_COUNT]; /* where each [cluster] key was set */
	int addr_line[WIRE_MAX_REPLICAS][R_COUNT];
	char keys[CONFIG_PATH_MAX]; /* as written, resolved at the end */
	char data[CONFIG_PATH_MAX];
};

/* ---- messages ---- */

/* Quote at most CFG_NAME_SHOW bytes of untrusted text, non-printables as '?'. */
static const char *show(const char *in, char out[CFG_NAME_SHOW + 4])
{
	size_t i;

	for (i = 0; i < CFG_NAME_SHOW && in[i]; i++) {
		out[i] = in[i];
		if (in[i] < 0x20 || in[i] >= 0x7f)
			out[i] = '?';
	}
	if (in[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* Record the first error: "FILE:LINE: what: problem" (LINE omitted when 0). */
static void fail(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (p->failed)
		return;
	p->failed = 1;
	p->err_line = line;
	if (!p->err || !p->errlen)
		return;
	if (line > 0)
		k = snprintf(p->err, p->errlen, "%s:%d: ", p->c->path, line);
	else
		k = snprintf(p->err, p->errlen, "%s: ", p->c->path);
	if (k < 0 || (size_t)k >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

/* ---- small parsers ---- */

/* Strict unsigned decimal: digits only, no sign, no blanks, no trailing junk.
 * Returns 0, -1 if not a number, -2 if above max or below min. */
static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -2; /* keep scanning would not change the verdict */
	}
	if (v < min || v > max)
		return -2;
	*out = (uint32_t)v;
	return 0;
}

/* A decimal like "0.9", "0.95" or "1" as thousandths, in [min, max].  Returns 0 or -1. */
static int parse_permille(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint32_t whole = 0, frac = 0, scale = 100;
	const char *q = s;

	if (*q < '0' || *q > '9')
		return -1;
	while (*q >= '0' && *q <= '9' && whole < 10)
		whole = whole * 10 + (uint32_t)(*q++ - '0');
	if (*q == '.') {
		q++;
		if (*q < '0' || *q > '9')
			return -1;
		for (; *q >= '0' && *q <= '9'; q++, scale /= 10)
			if (scale)
				frac += (uint32_t)(*q - '0') * scale;
			else if (*q != '0')
				return -1; /* finer than a thousandth */
	}
	if (*q || whole > 1 || whole * 1000 + frac < min || whole * 1000 + frac > max)
		return -1;
	*out = whole * 1000 + frac;
	return 0;
}

static int is_blank(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* ---- the reader: lines, comments, sections ---- */

/* line is "[...": note which section starts here (inih gets the line unchanged). */
static void section_header(struct parse *p, const char *line)
{
	char s[CFG_LINE_BUF], nm[CFG_NAME_SHOW + 4];
	const char *end = strchr(line, ']');
	int *slot = NULL;
	uint32_t idx;

	if (!end) {
		fail(p, p->line, "malformed section header (missing ']')");
		return;
	}
	if (end[1]) {
		fail(p, p->line, "unexpected text after section header");
		return;
	}
	memcpy(s, line + 1, (size_t)(end - line - 1));
	s[end - line - 1] = '\0';
	if (!strcmp(s, "cluster")) {
		p->sec = SEC_CLUSTER;
		slot = &p->cluster_line;
	} else if (!strcmp(s, "faults")) {
		p->sec = SEC_FAULTS;
		slot = &p->faults_line;
	} else if (!strcmp(s, "regions")) {
		p->sec = SEC_REGIONS;
		slot = &p->regions_line;
	} else if (!strncmp(s, "replica.", 8)) {
		if (parse_u32(s + 8, 0, WIRE_MAX_REPLICAS - 1, &idx)) {
			fail(p, p->line, "section '%s': replica index must be a number 0..%d",
			     show(s, nm), WIRE_MAX_REPLICAS - 1);
			return;
		}
		p->sec = SEC_REPLICA;
		p->sec_index = idx;
		slot = &p->rep_line[idx];
	} else {
		fail(p, p->line,
		     "section '%s': unknown section "
		     "(expected [cluster], [replica.I], [faults] or [regions])",
		     show(s, nm));
		return;
	}
	if (*slot) {
		fail(p, p->line, "section '%s': duplicate section (first at line %d)", show(s, nm),
		     *slot);
		return;
	}
	*slot = p->line;
}

/* Cut a comment that starts the line or follows whitespace, then trim both ends. */
static char *clean_line(char *s)
{
	char *q, *end;

	for (q = s; *q; q++) {
		if ((*q == ';' || *q == '#') && (q == s || is_blank(q[-1]))) {
			*q = '\0';
			break;
		}
	}
	while (is_blank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_blank(end[-1]))
		*--end = '\0';
	return s;
}

/* Read one physical line into buf; returns its length, or -1 at end of file.
 * Sets *too_long / *nul instead of overrunning or truncating silently. */
static long read_line(struct parse *p, char *buf, size_t size, int *too_long, int *nul)
{
	size_t len = 0;
	int ch;

	*too_long = *nul = 0;
	while ((ch = getc(p->fp)) != EOF && ch != '\n') {
		if (ch == '\0')
			*nul = 1;
		if (len < size - 1)
			buf[len++] = (char)ch;
		else
			*too_long = 1;
	}
	buf[len] = '\0';
	if (ch == EOF) {
		p->eof = 1;
		if (ferror(p->fp)) {
			fail(p, p->line + 1, "read error: %s", strerror(errno));
			return -1;
		}
		if (len == 0 && !*too_long)
			return -1;
	}
	return (long)len;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char buf[CFG_LINE_BUF];
	char *s;
	int too_long, nul;
	size_t len;
	long got;

	if (p->failed || p->eof || num < 3)
		return NULL;
	if ((got = read_line(p, buf, sizeof buf, &too_long, &nul)) < 0)
		return NULL;
	if (++p->line > CFG_MAX_LINES) {
		fail(p, p->line, "file too long (more than %d lines)", CFG_MAX_LINES);
		return NULL;
	}
	s = buf;
	if (p->line == 1 && got >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		s += 3; /* UTF-8 byte order mark */
	s = clean_line(s);
	len = strlen(s);
	str[0] = '\0';
	if (nul)
		fail(p, p->line, "NUL byte in line");
	else if (too_long || len + 2 > (size_t)num)
		fail(p, p->line, "line too long (at most %d characters)", num - 2);
	else if (*s == '[')
		section_header(p, s);
	if (p->failed)
		return str; /* an empty line: inih skips it, then we stop */
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/* ---- the handler: one key = value ---- */

static int set_cluster_key(struct parse *p, const char *name, const char *v)
{
	struct config *c = p->c;
	char nm[CFG_NAME_SHOW + 4], vv[CFG_NAME_SHOW + 4];
	uint32_t *num = NULL, min = 0, max = UINT32_MAX;
	int *flag = NULL;
	int k, r;

	for (k = 0; k < K_COUNT; k++)
		if (!strcmp(name, ckey_name[k]))
			break;
	if (k == K_COUNT) {
		fail(p, p->line,
		     "key '%s': unknown key in [cluster] (known: protocol, f, "
		     "auth, batch_max, window, checkpoint_interval, view_timeout_ms, sync, "
		     "keys, data, clients, cluster_id, read_only, digest_replies, "
		     "group_commit, coalesce, rx_aio, robust, robust_ratio, "
		     "robust_heartbeat_ms, hotstuff_leader, hotstuff_client, read_lease_ms, "
		     "evidence, forensics_k)",
		     show(name, nm));
		return 0;
	}
	if (p->key_line[k]) {
		fail(p, p->line, "key '%s': duplicate key (first at line %d)", name,
		     p->key_line[k]);
		return 0;
	}
	p->key_line[k] = p->line;

	switch (k) {
	case K_PROTOCOL:
		if (protocol_parse(v, &c->protocol) != 0)
			goto bad_enum;
		return 1;
	case K_HOTSTUFF_LEADER:
		c->hotstuff_stable = !strcmp(v, "stable");
		c->hotstuff_round_robin = !strcmp(v, "rotating");
		if (strcmp(v, "reputation") && !c->hotstuff_stable && !c->hotstuff_round_robin)
			goto bad_enum;
		return 1;
	case K_HOTSTUFF_CLIENT:
		if (!strcmp(v, "all"))
			c->hotstuff_leaders = 0;
		else if (!strcmp(v, "leaders"))
			c->hotstuff_leaders = 1;
		else
			goto bad_enum;
		return 1;
	case K_AUTH:
		if (!strcmp(v, "sig"))
			c->auth = AUTH_MODE_SIG;
		else if (!strcmp(v, "mac"))
			c->auth = AUTH_MODE_MAC;
		else if (!strcmp(v, "none"))
			c->auth = AUTH_MODE_NONE;
		else
			goto bad_enum;
		return 1;
	case K_SYNC:
		if (!strcmp(v, "full"))
			c->sync_full = 1;
		else if (!strcmp(v, "none"))
			c->sync_full = 0;
		else
			goto bad_enum;
		return 1;
	case K_READ_ONLY: flag = &c->read_only; break;
	case K_DIGEST_REPLIES: flag = &c->digest_replies; break;
	case K_GROUP_COMMIT: flag = &c->group_commit; break;
	case K_COALESCE: flag = &c->coalesce; break;
	case K_RX_AIO: flag = &c->rx_aio; break;
	case K_ROBUST: flag = &c->robust; break;
	case K_EVIDENCE: flag = &c->evidence; break;
	case K_ROBUST_RATIO:
		if (parse_permille(v, 500, 1000, &c->robust_ratio_permille) == 0)
			return 1;
		fail(p, p->line, "key '%s': '%s' is not a decimal in 0.5..1 (e.g. 0.9)", name,
		     show(v, vv));
		return 0;
	case K_ROBUST_HEARTBEAT: num = &c->robust_heartbeat_ms, min = 5, max = 600000; break;
	case K_READ_LEASE: num = &c->read_lease_ms, min = 0, max = 600000; break;
	case K_FORENSICS_K: num = &c->forensics_k, min = 0, max = CFG_FORENSICS_K_MAX; break;
	case K_KEYS:
	case K_DATA:
		if (!*v || strlen(v) >= CONFIG_PATH_MAX) {
			fail(p, p->line, "key '%s': path must be 1..%d characters", name,
			     CONFIG_PATH_MAX - 1);
			return 0;
		}
		strcpy(k == K_KEYS ? p->keys : p->data, v);
		return 1;
	case K_F: num = &c->f; break;
	case K_BATCH_MAX: num = &c->batch_max, min = 1, max = WIRE_MAX_BATCH; break;
	case K_WINDOW: num = &c->window, min = 2, max = CFG_WINDOW_MAX; break;
	case K_CHECKPOINT: num = &c->checkpoint_interval, min = 1, max = CFG_WINDOW_MAX / 2; break;
	case K_VIEW_TIMEOUT: num = &c->view_timeout_ms, min = 10, max = 600000; break;
	case K_CLIENTS: num = &c->clients, min = 1, max = WIRE_MAX_CLIENTS; break;
	case K_CLUSTER_ID: num = &c->cluster_id; break;
	}
	if (flag) { /* on | off */
		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
			goto bad_enum;
		*flag = !strcmp(v, "on");
		return 1;
	}
	r = parse_u32(v, min, max, num);
	if (r == -1)
		fail(p, p->line, "key '%s': '%s' is not a non-negative decimal number", name,
		     show(v, vv));
	else if (r == -2)
		fail(p, p->line, "key '%s': %s is out of range %" PRIu32 "..%" PRIu32, name,
		     show(v, vv), min, max);
	return r == 0;

bad_enum:
	fail(p, p->line, "key '%s': '%s' is not one of %s", name, show(v, vv),
	     k == K_PROTOCOL          ? "pbft, vr, single, hotstuff"
	     : k == K_HOTSTUFF_LEADER ? "reputation, rotating, stable"
	     : k == K_HOTSTUFF_CLIENT ? "all, leaders"
	     : k == K_AUTH            ? "sig, mac, none"
	     : k == K_SYNC            ? "full, none"
				      : "on, off");
	return 0;
}

/* A transport address nng can dial: scheme, something after it, no blanks. */
static const char *addr_problem(const char *v)
{
	static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
	const char *rest = NULL;
	size_t i;

	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (!strncmp(v, schemes[i], strlen(schemes[i])))
			rest = v + strlen(schemes[i]);
	if (!rest)
		return "address must start with tcp://, ipc:// or inproc://";
	if (!*rest)
		return "address has nothing after the scheme";
	for (; *rest; rest++)
		if ((unsigned char)*rest <= 0x20 || *rest == 0x7f)
			return "address contains blanks or control characters";
	return NULL;
}

/* The metrics address is an HTTP server's (replica/metrics_http.c): tcp://HOST:PORT
 * with a port in 1..65535. */
static const char *metrics_problem(const char *v)
{
	const char *colon = strrchr(v, ':');
	uint32_t port;

	if (strncmp(v, "tcp://", 6) != 0)
		return "the metrics address must be tcp://HOST:PORT";
	if (colon == NULL || colon < v + 7 || parse_u32(colon + 1, 1, 65535, &port) != 0)
		return "the metrics address needs a port: tcp://HOST:PORT";
	return NULL;
}

static char *role_addr(struct config *c, uint32_t i, int r)
{
	struct replica_addr *a = &c->replica[i];

	if (r == R_METRICS)
		return a->metrics;
	return r == R_PEER ? a->peer : r == R_CLIENT ? a->client : a->admin;
}

static int set_replica_key(struct parse *p, const char *name, const char *v)
{
	char nm[CFG_NAME_SHOW + 4], vv[CFG_NAME_SHOW + 4];
	uint32_t i = p->sec_index, j;
	const char *why;
	int r, q;

	for (r = 0; r < R_COUNT; r++)
		if (!strcmp(name, role_name[r]))
			break;
	if (r == R_COUNT) {
		fail(p, p->line,
		     "key '%s': unknown key in [replica.%" PRIu32 "] "
		     "(known: peer, client, admin, metrics)",
		     show(name, nm), i);
		return 0;
	}
	if (p->addr_line[i][r]) {
		fail(p, p->line, "key '%s': duplicate key (first at line %d)", name,
		     p->addr_line[i][r]);
		return 0;
	}
	if (strlen(v) >= CONFIG_ADDR_MAX) {
		fail(p, p->line, "key '%s': '%s': address too long (at most %d characters)", name,
		     show(v, vv), CONFIG_ADDR_MAX - 1);
		return 0;
	}
	if ((why = addr_problem(v)) || (r == R_METRICS && (why = metrics_problem(v)))) {
		fail(p, p->line, "key '%s': '%s': %s", name, show(v, vv), why);
		return 0;
	}
	/* Two endpoints on one address would make one bind fail, or worse, route one
	 * replica's traffic to another: refuse across all replicas and roles. */
	for (j = 0; j < WIRE_MAX_REPLICAS; j++) {
		for (q = 0; q < R_COUNT; q++) {
			if (!p->addr_line[j][q] || strcmp(role_addr(p->c, j, q), v))
				continue;
			fail(p, p->line,
			     "key '%s': address '%s' already used by "
			     "[replica.%" PRIu32 "] %s (line %d)",
			     name, show(v, vv), j, role_name[q], p->addr_line[j][q]);
			return 0;
		}
	}
	strcpy(role_addr(p->c, i, r), v);
	p->addr_line[i][r] = p->line;
	return 1;
}

static int valid_fault_key(const char *name)
{
	uint32_t peer;
	size_t i;

	for (i = 0; i < sizeof fault_keys / sizeof fault_keys[0]; i++)
		if (!strcmp(name, fault_keys[i]))
			return 1;
	return !strncmp(name, "drop.", 5) &&
	       parse_u32(name + 5, 0, WIRE_MAX_REPLICAS - 1, &peer) == 0;
}

/* Is `name` already a key of the "k=v;k=v" list? */
static int fault_seen(const char *list, const char *name)
{
	size_t nl = strlen(name);
	const char *s = list;

	while (*s) {
		if (!strncmp(s, name, nl) && s[nl] == '=')
			return 1;
		s = strchr(s, ';');
		if (!s)
			break;
		s++;
	}
	return 0;
}

/* [faults] region.I = NAME / region.client = NAME: where a replica or the clients sit
 * (resolved against [regions] once the whole file is read). */
static int set_region_key(struct parse *p, const char *name, const char *v)
{
	char nm[CFG_NAME_SHOW + 4];
	uint32_t slot;

	if (!strcmp(name + 7, "client"))
		slot = WAN_CLIENT;
	else if (parse_u32(name + 7, 0, WIRE_MAX_REPLICAS - 1, &slot)) {
		fail(p, p->line, "key '%s': expected region.I (I 0..%d) or region.client",
		     show(name, nm), WIRE_MAX_REPLICAS - 1);
		return 0;
	}
	if (p->place_line[slot]) {
		fail(p, p->line, "key '%s': duplicate key (first at line %d)", show(name, nm),
		     p->place_line[slot]);
		return 0;
	}
	if (!*v || strlen(v) >= WAN_NAME_MAX) {
		fail(p, p->line, "key '%s': a region name of 1..%d characters", show(name, nm),
		     WAN_NAME_MAX - 1);
		return 0;
	}
	strcpy(p->place[slot], v);
	p->place_line[slot] = p->line;
	return 1;
}

/* [regions] local = MEAN,JITTER / A/B = MEAN,JITTER (replica/wan.h) */
static int set_regions_key(struct parse *p, const char *name, const char *v)
{
	char why[256], nm[CFG_NAME_SHOW + 4];

	if (wan_set_link(&p->c->wan, name, v, why, sizeof why) != 0) {
		fail(p, p->line, "key '%s': %s", show(name, nm), why);
		return 0;
	}
	return 1;
}

static int set_fault_key(struct parse *p, const char *name, const char *v)
{
	struct config *c = p->c;
	char nm[CFG_NAME_SHOW + 4];
	size_t used = strlen(c->faults);
	int k;

	if (!strncmp(name, "region.", 7))
		return set_region_key(p, name, v);
	if (!valid_fault_key(name)) {
		fail(p, p->line,
		     "key '%s': unknown key in [faults] (known: drop, drop.I, "
		     "delay, dup, reorder, partition, oneway, clock_rate, region.I, "
		     "region.client, pause_before_reply)",
		     show(name, nm));
		return 0;
	}
	if (fault_seen(c->faults, name)) {
		fail(p, p->line, "key '%s': duplicate key", name);
		return 0;
	}
	if (!*v || strchr(v, ';')) {
		fail(p, p->line, "key '%s': value must be non-empty and contain no ';'", name);
		return 0;
	}
	k = snprintf(c->faults + used, sizeof c->faults - used, "%s%s=%s", used ? ";" : "", name,
		     v);
	if (k < 0 || (size_t)k >= sizeof c->faults - used) {
		c->faults[used] = '\0';
		fail(p, p->line, "key '%s': [faults] too long (at most %d characters)", name,
		     CONFIG_FAULTS_MAX - 1);
		return 0;
	}
	return 1;
}

/* Four arguments, as ini.h declares.  Debian's library happens to pass a line number
 * as a fifth; the calling conventions we run on let a callee ignore an extra
 * argument, and we never rely on it. */
static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char nm[CFG_NAME_SHOW + 4];

	(void)section; /* we track sections ourselves, with their lines */
	if (p->failed)
		return 0;
	if (!name)
		return 1; /* a build with INI_CALL_HANDLER_ON_NEW_SECTION */
	if (!value) {
		fail(p, p->line, "key '%s': missing '= value'", show(name, nm));
		return 0;
	}
	switch (p->sec) {
	case SEC_CLUSTER: return set_cluster_key(p, name, value);
	case SEC_REPLICA: return set_replica_key(p, name, value);
	case SEC_FAULTS: return set_fault_key(p, name, value);
	case SEC_REGIONS: return set_regions_key(p, name, value);
	case SEC_NONE: break;
	}
	fail(p, p->line, "key '%s': outside any section (put it under [cluster])", show(name, nm));
	return 0;
}

/* ---- whole-file checks ---- */

static int check_protocol(struct parse *p)
{
	struct config *c = p->c;
	const char *pn = protocol_name(c->protocol);
	int fl = p->key_line[K_F];

	if (!p->key_line[K_PROTOCOL]) {
		fail(p, p->cluster_line,
		     "key 'protocol': missing in [cluster] "
		     "(pbft, vr, single or hotstuff)");
		return -1;
	}
	if (c->protocol == PROTO_HOTSTUFF && c->auth == AUTH_MODE_NONE) {
		fail(p, p->key_line[K_AUTH] ? p->key_line[K_AUTH] : p->cluster_line,
		     "key 'auth': hotstuff needs sig or mac (its QCs are signed votes)");
		return -1;
	}
	if (!fl) {
		fail(p, p->cluster_line, "key 'f': missing in [cluster]");
		return -1;
	}
	if (c->protocol == PROTO_SINGLE && c->f != 0) {
		fail(p, fl, "key 'f': must be 0 for protocol single (one replica)");
		return -1;
	}
	if (c->protocol != PROTO_SINGLE && c->f == 0) {
		fail(p, fl, "key 'f': must be at least 1 for protocol %s", pn);
		return -1;
	}
	/* compare before multiplying: f is any u32 here */
	if (c->f > WIRE_MAX_REPLICAS || protocol_n(c->protocol, c->f) > WIRE_MAX_REPLICAS) {
		fail(p, fl,
		     "key 'f': f too large: %s with f=%" PRIu32 " needs more than "
		     "the %d replicas supported",
		     pn, c->f, WIRE_MAX_REPLICAS);
		return -1;
	}
	c->n = protocol_n(c->protocol, c->f);
	return 0;
}

/* PBFT: the NEW-VIEW carries 2f+1 VIEW-CHANGEs, each with up to a window of prepared
 * certificates of 2f PREPAREs; at large f and window it would exceed WIRE_MAX_MSG and
 * could not be sent - no view change with a full window above the stable checkpoint
 * (docs/PROTOCOL.md §5.7, issue 19).  An unset window (and checkpoint_interval) is
 * lowered to fit; a window set too large is refused. */
static int check_newview_fits(struct parse *p)
{
	struct config *c = p->c;
	int sig = c->auth != AUTH_MODE_NONE;
	uint32_t most = wire_window_max(c->n, c->f, sig);

	if (c->protocol != PROTO_PBFT || c->window <= most)
		return 0;
	if (p->key_line[K_WINDOW]) {
		fail(p, p->key_line[K_WINDOW],
		     "key 'window': %" PRIu32 " is too large for pbft with f=%" PRIu32
		     " and auth %s: a NEW-VIEW with a full window of prepared certificates "
		     "would be %" PRIu64 " bytes, over the %u-byte message limit; at most %" PRIu32,
		     c->window, c->f, sig ? "sig/mac" : "none",
		     wire_newview_worst(c->n, c->f, c->window, sig), WIRE_MAX_MSG, most);
		return -1;
	}
	c->window = config_window_default(c->protocol, c->n, c->f, sig);
	if (!p->key_line[K_CHECKPOINT] && c->checkpoint_interval > c->window / 2)
		c->checkpoint_interval = c->window / 2;
	if (c->checkpoint_interval > c->window / 2) {
		fail(p, p->key_line[K_CHECKPOINT],
		     "key 'checkpoint_interval': %" PRIu32 " is more than half the window, "
		     "which defaults to %" PRIu32 " for pbft with f=%" PRIu32 " and auth %s "
		     "(the largest whose NEW-VIEW fits the message limit)",
		     c->checkpoint_interval, c->window, c->f, sig ? "sig/mac" : "none");
		return -1;
	}
	return 0;
}

static int check_ranges(struct parse *p)
{
	struct config *c = p->c;

	if (check_newview_fits(p))
		return -1;
	if ((uint64_t)c->window < 2 * (uint64_t)c->checkpoint_interval) {
		int wl = p->key_line[K_WINDOW];
		int line = wl ? wl : p->key_line[K_CHECKPOINT];

		fail(p, line,
		     "key '%s': window (%" PRIu32 ") must be at least twice "
		     "checkpoint_interval (%" PRIu32 ")",
		     wl ? "window" : "checkpoint_interval", c->window, c->checkpoint_interval);
		return -1;
	}
	if (!p->key_line[K_ROBUST_HEARTBEAT])
		c->robust_heartbeat_ms = config_robust_heartbeat_default(c->view_timeout_ms);
	else if (c->robust_heartbeat_ms >= c->view_timeout_ms) {
		fail(p, p->key_line[K_ROBUST_HEARTBEAT],
		     "key 'robust_heartbeat_ms': %" PRIu32 " must be shorter than "
		     "view_timeout_ms (%" PRIu32 ")",
		     c->robust_heartbeat_ms, c->view_timeout_ms);
		return -1;
	}
	return 0;
}

/* The WAN model as a whole: every placement names a region, every replica has one or
 * none has, every pair in use has a latency (replica/wan.h). */
static int check_wan(struct parse *p)
{
	struct config *c = p->c;
	char why[256];

	for (uint32_t i = 0; i < WAN_SLOTS; i++) {
		if (!p->place_line[i])
			continue;
		if (i != WAN_CLIENT && i >= c->n) {
			fail(p, p->place_line[i], "key 'region.%u': there are only %u replicas", i,
			     c->n);
			return -1;
		}
		if (wan_place(&c->wan, i, p->place[i], why, sizeof why) != 0) {
			char key[32];
			if (i == WAN_CLIENT)
				snprintf(key, sizeof key, "client");
			else
				snprintf(key, sizeof key, "%u", i);
			fail(p, p->place_line[i], "key 'region.%s': %s", key, why);
			return -1;
		}
	}
	if (wan_check(&c->wan, c->n, why, sizeof why) != 0) {
		fail(p, p->regions_line ? p->regions_line : p->faults_line, "[regions]: %s", why);
		return -1;
	}
	return 0;
}

static int check_replicas(struct parse *p)
{
	struct config *c = p->c;
	uint32_t i;
	int r;

	for (i = c->n; i < WIRE_MAX_REPLICAS; i++) {
		if (p->rep_line[i]) {
			fail(p, p->rep_line[i],
			     "section 'replica.%" PRIu32 "': extra replica "
			     "section: %s with f=%" PRIu32 " has n=%" PRIu32
			     " replicas, [replica.0]..[replica.%" PRIu32 "]",
			     i, protocol_name(c->protocol), c->f, c->n, c->n - 1);
			return -1;
		}
	}
	for (i = 0; i < c->n; i++) {
		if (!p->rep_line[i]) {
			fail(p, p->key_line[K_F],
			     "key 'f': %s with f=%" PRIu32 " needs n=%" PRIu32
			     " replicas, but section [replica.%" PRIu32 "] is missing",
			     protocol_name(c->protocol), c->f, c->n, i);
			return -1;
		}
		c->replica[i].line = p->rep_line[i];
		for (r = 0; r < R_COUNT; r++) {
			if (p->addr_line[i][r] || r == R_METRICS) /* metrics: optional */
				continue;
			fail(p, p->rep_line[i], "key '%s': missing in [replica.%" PRIu32 "]",
			     role_name[r], i);
			return -1;
		}
	}
	return 0;
}

/* Relative paths are relative to the config file's directory. */
static int resolve(const char *dir, const char *rel, char *out)
{
	int k;

	if (rel[0] == '/' || !strcmp(dir, "."))
		k = snprintf(out, CONFIG_PATH_MAX, "%s", rel);
	else
		k = snprintf(out, CONFIG_PATH_MAX, "%s%s%s", dir,
			     dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
	return (k < 0 || k >= CONFIG_PATH_MAX) ? -1 : 0;
}

/* 0 if path names a regular file we can open for reading (its stat in *st),
 * else an errno (EINVAL: not a regular file). */
static int open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int e = 0;

	/* never 0 on failure: callers read *st when we return 0 */
	if (fd < 0) {
		e = errno;
		return e != 0 ? e : EIO;
	}
	if (fstat(fd, st) < 0)
		e = errno != 0 ? errno : EIO;
	else if (!S_ISREG(st->st_mode))
		e = EINVAL;
	close(fd);
	return e;
}

static const char *file_err(int e)
{
	return e == EINVAL ? "not a regular file" : strerror(e);
}

/* keys and data, relative to the file's directory. */
static int resolve_paths(struct parse *p)
{
	struct config *c = p->c;

	if (resolve(c->dir, p->keys, c->keys)) {
		fail(p, p->key_line[K_KEYS] ? p->key_line[K_KEYS] : p->cluster_line,
		     "key 'keys': resolved path too long");
		return -1;
	}
	if (resolve(c->dir, p->data, c->data)) {
		fail(p, p->key_line[K_DATA] ? p->key_line[K_DATA] : p->cluster_line,
		     "key 'data': resolved path too long");
		return -1;
	}
	return 0;
}

static int check_paths(struct parse *p)
{
	struct config *c = p->c;
	int kl = p->key_line[K_KEYS] ? p->key_line[K_KEYS] : p->cluster_line;
	char pub[CONFIG_PATH_MAX + 32];
	struct stat st;
	uint32_t i;
	int fd, e;

	if (resolve_paths(p))
		return -1;
	fd = open(c->keys, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		fail(p, kl, "key 'keys': directory '%s'%s: %s%s", c->keys,
		     p->key_line[K_KEYS] ? "" : " (default)", strerror(e),
		     e == ENOENT ? " (create it with byzlab-keygen)" : "");
		return -1;
	}
	close(fd);
	for (i = 0; i < c->n; i++) {
		snprintf(pub, sizeof pub, "%s/replica-%" PRIu32 ".pub", c->keys, i);
		if ((e = open_regular(pub, &st))) {
			fail(p, kl, "key 'keys': key file '%s': %s", pub, file_err(e));
			return -1;
		}
	}
	return 0;
}

static int set_path(struct config *c, const char *path)
{
	const char *slash;
	size_t dl;

	if (!path || !*path || strlen(path) >= CONFIG_PATH_MAX)
		return -1;
	strcpy(c->path, path);
	slash = strrchr(path, '/');
	if (!slash) {
		strcpy(c->dir, ".");
		return 0;
	}
	dl = slash == path ? 1 : (size_t)(slash - path);
	memcpy(c->dir, path, dl);
	c->dir[dl] = '\0';
	return 0;
}

static void defaults(struct config *c, struct parse *p)
{
	c->cluster_id = 1;
	c->auth = AUTH_MODE_SIG;
	c->batch_max = 64;
	c->window = CONFIG_WINDOW_DEFAULT; /* lowered for large pbft clusters */
	c->checkpoint_interval = 128;
	c->view_timeout_ms = 1000;
	c->sync_full = 1;
	c->clients = 128;
	c->group_commit = 1;
	c->coalesce = 1;
	c->rx_aio = 1;
	c->robust_ratio_permille = 900;
	c->evidence = 1;
	c->forensics_k = 2;
	wan_init(&c->wan);
	strcpy(p->keys, "keys");
	strcpy(p->data, "data");
}

static int load(const char *path, struct config *c, char *err, size_t errlen, int check_keys)
{
	struct parse p;
	int r;

	memset(&p, 0, sizeof p);
	memset(c, 0, sizeof *c);
	p.c = c;
	p.err = err;
	p.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (set_path(c, path)) {
		snprintf(c->path, sizeof c->path, "%s", "(config)");
		fail(&p, 0, "bad config path (empty or longer than %d)", CONFIG_PATH_MAX - 1);
		goto out;
	}
	defaults(c, &p);
	p.fp = fopen(path, "r");
	if (!p.fp) {
		fail(&p, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	r = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.fp);
	/* inih reports the first line it could not parse (no '=' etc.) by its own
	 * count, which matches ours since the reader hands it one line per call.
	 * Depending on the build it may go on parsing after that line, so our own
	 * error may be a later one: the earlier line wins. */
	if (r > 0 && (!p.failed || r < p.err_line)) {
		p.failed = 0;
		fail(&p, r, "syntax error: expected 'key = value' or '[section]'");
	} else if (r < 0 && !p.failed)
		fail(&p, 0, "parser error %d (out of memory?)", r);
	if (p.failed)
		goto out;
	if (!p.cluster_line) {
		fail(&p, 0, "section [cluster] missing");
		goto out;
	}
	if (check_protocol(&p) || check_ranges(&p) || check_replicas(&p) || check_wan(&p) ||
	    (check_keys ? check_paths(&p) : resolve_paths(&p)))
		goto out;
	return 0;
out : {
	/* nothing half-configured: keep only the path for the caller's messages */
	char keep[CONFIG_PATH_MAX];

	memcpy(keep, c->path, sizeof keep);
	memset(c, 0, sizeof *c);
	memcpy(c->path, keep, sizeof keep);
}
	return -1;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	return load(path, c, err, errlen, 1);
}

int config_load_nokeys(const char *path, struct config *c, char *err, size_t errlen)
{
	return load(path, c, err, errlen, 0);
}

int config_check_replica_keys(const struct config *c, uint32_t id, char *err, size_t errlen)
{
	char fn[CONFIG_PATH_MAX + 32];
	struct stat st;
	uint32_t j;
	int e;

	if (id >= c->n) {
		snprintf(err, errlen, "%s: replica id %" PRIu32 " out of range 0..%" PRIu32,
			 c->path, id, c->n ? c->n - 1 : 0);
		return -1;
	}
	snprintf(fn, sizeof fn, "%s/replica-%" PRIu32 ".key", c->keys, id);
	if ((e = open_regular(fn, &st))) {
		snprintf(err, errlen, "%s: key file '%s': %s", c->path, fn, file_err(e));
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "%s: key file '%s': mode %04o lets others read a "
			 "secret key; it must be 0600 (chmod 600)",
			 c->path, fn, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	for (j = 0; j < c->clients; j++) {
		snprintf(fn, sizeof fn, "%s/client-%" PRIu32 ".pub", c->keys, j);
		if ((e = open_regular(fn, &st))) {
			snprintf(err, errlen, "%s: key file '%s': %s (clients = %" PRIu32 ")",
				 c->path, fn, file_err(e), c->clients);
			return -1;
		}
	}
	return 0;
}
