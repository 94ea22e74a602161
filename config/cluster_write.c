/* cluster_write.c - build cluster.ini from a cluster_spec, write it, parse it back.
 *
 * Pure string building plus one file write: no keys (byzlab-keygen makes them between
 * cluster_stage() and cluster_commit()), no knowledge of what the keys mean.  Whether
 * a setting is valid is the parser's business alone (config.c): a --set the parser
 * refuses is refused with its message, so the two can never disagree.
 */
#include "config/cluster_write.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_MAX 64 /* longer than any key config.c knows */
#define VALUE_MAX 256
#define NEW_SUFFIX ".new"

/* One [cluster] line: a default, or a --set (from = its index in spec->set). */
struct setting {
	char key[KEY_MAX];
	char value[VALUE_MAX];
	int from; /* index into spec->set, -1 for a default */
};

struct text {
	char *p;
	size_t len, cap;
	int line; /* lines written so far */
	int over;
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append one line (fmt has no newline; put adds it). */
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (t->over)
		return;
	va_start(ap, fmt);
	k = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k + 2 > t->cap - t->len) {
		t->over = 1;
		return;
	}
	t->len += (size_t)k;
	t->p[t->len++] = '\n';
	t->p[t->len] = '\0';
	t->line++;
}

/* ---- --set KEY=VALUE ---- */

static int key_char(char ch, int fault)
{
	/* [faults] keys may name a link: drop.2 */
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
	       (fault && ch == '.');
}

/* A value the INI reader would take back unchanged: printable, no comment character
 * (';' or '#' would silently cut it), no blanks at either end. */
static int value_ok(const char *v)
{
	size_t i, n = strlen(v);

	if (n == 0 || n >= VALUE_MAX || v[0] == ' ' || v[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] >= 0x7f || v[i] == ';' || v[i] == '#')
			return 0;
	return 1;
}

/* Split "key=value" (of --set, or of --fault) into *out.  protocol and f are options
 * of their own: a --set of them would change n behind protocol_n()'s back. */
static int split_kv(const char *kv, int fault, struct setting *out, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '='), *opt = fault ? "--fault" : "--set";
	size_t kl = eq ? (size_t)(eq - kv) : 0, i;

	if (!eq || kl == 0 || kl >= KEY_MAX) {
		errf(err, errlen, "%s '%.80s': expected KEY=VALUE", opt, kv);
		return -1;
	}
	for (i = 0; i < kl; i++) {
		if (!key_char(kv[i], fault)) {
			errf(err, errlen, "%s '%.80s': a key is lower-case letters, digits, '_'",
			     opt, kv);
			return -1;
		}
	}
	memcpy(out->key, kv, kl);
	out->key[kl] = '\0';
	if (!fault && (!strcmp(out->key, "protocol") || !strcmp(out->key, "f"))) {
		errf(err, errlen, "--set %s: use --%s", out->key, out->key);
		return -1;
	}
	if (!value_ok(eq + 1)) {
		errf(err, errlen,
		     "%s %s: the value must be 1..%d printable characters without ';' or '#'", opt,
		     out->key, VALUE_MAX - 1);
		return -1;
	}
	strcpy(out->value, eq + 1);
	return 0;
}

static void setting(struct setting *s, const char *key, const char *value)
{
	snprintf(s->key, sizeof s->key, "%s", key);
	snprintf(s->value, sizeof s->value, "%s", value);
	s->from = -1;
}

/* The [cluster] keys in file order: the defaults ./byzlab has always written, each
 * replaced in place by a --set of the same key, then the other --set keys. */
static int settings(const struct cluster_spec *s, struct setting *out, size_t *n, char *err,
		    size_t errlen)
{
	char clients[16], window[16], interval[16];
	struct setting one;
	size_t i, k;

	snprintf(clients, sizeof clients, "%" PRIu32,
		 s->clients > CLUSTER_MIN_CLIENTS ? s->clients : CLUSTER_MIN_CLIENTS);
	/* 256 and 128, unless PBFT's worst NEW-VIEW would not fit (config.h) */
	uint32_t rn = s->f <= WIRE_MAX_REPLICAS ? protocol_n(s->protocol, s->f) : 0;
	uint32_t w = rn && rn <= WIRE_MAX_REPLICAS
			     ? config_window_default(s->protocol, rn, s->f,
						     !s->auth || strcmp(s->auth, "none") != 0)
			     : CONFIG_WINDOW_DEFAULT; /* (check_spec refuses such an f) */
	snprintf(window, sizeof window, "%" PRIu32, w);
	snprintf(interval, sizeof interval, "%" PRIu32, w / 2);
	*n = 0;
	setting(&out[(*n)++], "auth", s->auth ? s->auth : "sig");
	setting(&out[(*n)++], "batch_max", "64");
	setting(&out[(*n)++], "window", window);
	setting(&out[(*n)++], "checkpoint_interval", interval);
	setting(&out[(*n)++], "view_timeout_ms", "1000");
	setting(&out[(*n)++], "sync", "full");
	setting(&out[(*n)++], "clients", clients);
	setting(&out[(*n)++], "keys", "keys");
	setting(&out[(*n)++], "data", "data");
	for (i = 0; i < s->n_set; i++) {
		if (split_kv(s->set[i], 0, &one, err, errlen))
			return -1;
		one.from = (int)i;
		for (k = 0; k < *n && strcmp(out[k].key, one.key); k++)
			;
		out[k] = one;
		if (k == *n)
			(*n)++;
	}
	return 0;
}

/* ---- the text ---- */

static int check_spec(const struct cluster_spec *s, uint32_t *n, char *err, size_t errlen)
{
	uint32_t base = s->base_port ? s->base_port : CLUSTER_DEFAULT_PORT;
	const char *host = s->host ? s->host : "127.0.0.1";
	int own_hosts = strstr(host, CLUSTER_HOST_ID) != NULL;

	if (s->protocol != PROTO_PBFT && s->protocol != PROTO_VR && s->protocol != PROTO_SINGLE &&
	    s->protocol != PROTO_HOTSTUFF) {
		errf(err, errlen, "--protocol: pbft, vr, single or hotstuff");
		return -1;
	}
	/* protocol_n() is the only place n comes from; the parser checks f's range
	 * (f >= 1, n <= WIRE_MAX_REPLICAS) when it reads the text back.  Bound f first
	 * so that n does not wrap, and so we do not write thousands of sections. */
	*n = s->f <= WIRE_MAX_REPLICAS ? protocol_n(s->protocol, s->f) : 0;
	if (*n == 0 || *n > WIRE_MAX_REPLICAS) {
		errf(err, errlen, "--f %" PRIu32 ": %s needs more than the %d replicas supported",
		     s->f, protocol_name(s->protocol), WIRE_MAX_REPLICAS);
		return -1;
	}
	uint32_t top = s->metrics ? 300u : 200u; /* the highest role's offset */
	if (base < 1024 || base + top + (own_hosts ? 0 : *n - 1) > 65535u) {
		errf(err, errlen,
		     "--base-port %" PRIu32 ": needs P..P+%" PRIu32 "+n-1 within 1024..65535", base,
		     top);
		return -1;
	}
	if (!*host || strlen(host) > 64 || strpbrk(host, " \t;#/[]") ||
	    strstr(strstr(host, CLUSTER_HOST_ID) ? strstr(host, CLUSTER_HOST_ID) + 3 : host,
		   CLUSTER_HOST_ID)) {
		errf(err, errlen, "--host '%.80s': a host name or address (at most one {i})", host);
		return -1;
	}
	return 0;
}

/* host with "{i}" replaced by id */
static void host_of(const char *host, uint32_t id, char *out, size_t outlen)
{
	const char *at = strstr(host, CLUSTER_HOST_ID);

	if (!at) {
		snprintf(out, outlen, "%s", host);
		return;
	}
	snprintf(out, outlen, "%.*s%" PRIu32 "%s", (int)(at - host), host, id, at + 3);
}

static void replicas(struct text *t, const struct cluster_spec *s, uint32_t n)
{
	uint32_t base = s->base_port ? s->base_port : CLUSTER_DEFAULT_PORT, i, off;
	const char *host = s->host ? s->host : "127.0.0.1";
	char h[96];

	for (i = 0; i < n; i++) {
		/* every replica its own host: the same ports everywhere */
		off = strstr(host, CLUSTER_HOST_ID) ? 0 : i;
		host_of(host, i, h, sizeof h);
		put(t, "%s", "");
		put(t, "[replica.%" PRIu32 "]", i);
		put(t, "peer = tcp://%s:%" PRIu32, h, base + off);
		put(t, "client = tcp://%s:%" PRIu32, h, base + 100 + off);
		put(t, "admin = tcp://%s:%" PRIu32, h, base + 200 + off);
		if (s->metrics)
			put(t, "metrics = tcp://%s:%" PRIu32, h, base + 300 + off);
	}
}

/* Is key given by one of the --fault lines? */
static int fault_given(const struct cluster_spec *s, const char *key)
{
	size_t kl = strlen(key);
	for (size_t k = 0; k < s->n_fault; k++)
		if (!strncmp(s->fault[k], key, kl) && s->fault[k][kl] == '=')
			return 1;
	return 0;
}

/* A WAN preset's placement: region.I for the n replicas and region.client. */
static void wan_placement(struct text *t, const struct cluster_spec *s, const struct wan_preset *w,
			  uint32_t n)
{
	char key[32];
	for (uint32_t i = 0; i < n; i++) {
		snprintf(key, sizeof key, "region.%" PRIu32, i);
		if (!fault_given(s, key))
			put(t, "%s = %s", key, w->order[i % w->n_order]);
	}
	if (!fault_given(s, "region.client"))
		put(t, "region.client = %s", w->client);
}

/* A WAN preset's [regions] table. */
static void wan_regions(struct text *t, const struct wan_preset *w)
{
	put(t, "%s", "");
	put(t, "; WAN preset %s: %s", w->name, w->about);
	put(t, "%s", "[regions]");
	for (size_t i = 0; w->lines[i]; i++)
		put(t, "%s", w->lines[i]);
}

/* The [faults] section, if any; fault_line[k]: the line of s->fault[k]. */
static int faults(struct text *t, const struct cluster_spec *s, uint32_t n, int *fault_line,
		  char *err, size_t errlen)
{
	struct setting one;
	const struct wan_preset *w = NULL;
	size_t k;

	if (s->wan && !(w = wan_preset_find(s->wan))) {
		errf(err, errlen, "--wan '%.40s': no such preset (%s)", s->wan, wan_preset_names());
		return -1;
	}
	if (s->n_fault == 0 && !w && s->n_region == 0)
		return 0;
	put(t, "%s", "");
	put(t, "%s", "[faults]");
	for (k = 0; k < s->n_fault; k++) {
		if (split_kv(s->fault[k], 1, &one, err, errlen))
			return -1;
		put(t, "%s = %s", one.key, one.value);
		if (fault_line)
			fault_line[k] = t->line;
	}
	if (w)
		wan_placement(t, s, w, n);
	if (w)
		wan_regions(t, w);
	else if (s->n_region)
		put(t, "%s", "[regions]");
	for (k = 0; k < s->n_region; k++) {
		const char *eq = strchr(s->region[k], '=');
		if (!eq || eq == s->region[k] || strchr(s->region[k], '\n') ||
		    strcspn(s->region[k], "[];#") != strlen(s->region[k])) {
			errf(err, errlen, "--region '%.60s': expected KEY=MEAN,JITTER",
			     s->region[k]);
			return -1;
		}
		put(t, "%.*s = %s", (int)(eq - s->region[k]), s->region[k], eq + 1);
	}
	return 0;
}

/* The text, and the line each --set (set_line[k]) and --fault (set_line[CLUSTER_SET_MAX
 * + k]) landed on. */
static int build(const struct cluster_spec *s, char *out, size_t outlen, int *set_line, char *err,
		 size_t errlen)
{
	struct setting set[CLUSTER_SET_MAX + 16];
	struct text t = {.p = out, .cap = outlen};
	size_t nset, i;
	uint32_t n;

	if (!out || outlen < 2) {
		errf(err, errlen, "no room for the text");
		return CLUSTER_FAILED;
	}
	out[0] = '\0';
	if (s->n_set > CLUSTER_SET_MAX || s->n_fault > CLUSTER_SET_MAX) {
		errf(err, errlen, "more than %d --set or --fault", CLUSTER_SET_MAX);
		return CLUSTER_USAGE;
	}
	if (check_spec(s, &n, err, errlen) || settings(s, set, &nset, err, errlen))
		return CLUSTER_USAGE;
	put(&t, "%s", "; written by byzlab-keygen --cluster");
	put(&t, "; %s f=%" PRIu32 ": n = %" PRIu32 " replicas", protocol_name(s->protocol), s->f,
	    n);
	put(&t, "%s", "[cluster]");
	put(&t, "protocol = %s", protocol_name(s->protocol));
	put(&t, "f = %" PRIu32, s->f);
	for (i = 0; i < nset; i++) {
		put(&t, "%s = %s", set[i].key, set[i].value);
		if (set_line && set[i].from >= 0)
			set_line[set[i].from] = t.line;
	}
	replicas(&t, s, n);
	if (faults(&t, s, n, set_line ? set_line + CLUSTER_SET_MAX : NULL, err, errlen))
		return CLUSTER_USAGE;
	if (t.over) {
		errf(err, errlen, "cluster.ini longer than %zu bytes", outlen);
		return CLUSTER_FAILED;
	}
	return CLUSTER_OK;
}

int cluster_ini_build(const struct cluster_spec *s, char *out, size_t outlen, char *err,
		      size_t errlen)
{
	return build(s, out, outlen, NULL, err, errlen);
}

/* ---- files ---- */

/* mkdir -p */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char p[CONFIG_PATH_MAX];
	size_t i;

	if (!*dir || strlen(dir) >= sizeof p) {
		errf(err, errlen, "bad directory name");
		return -1;
	}
	strcpy(p, dir);
	for (i = 1; p[i]; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			goto bad;
		p[i] = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		goto bad;
	return 0;
bad:
	errf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
	return -1;
}

static int path_in(const char *dir, const char *name, char *out)
{
	int k = snprintf(out, CONFIG_PATH_MAX, "%s/%s", dir, name);

	return k < 0 || k >= CONFIG_PATH_MAX ? -1 : 0;
}

static int write_file(const char *path, const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	int bad;

	if (!f) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	bad = fputs(text, f) == EOF;
	bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad) {
		errf(err, errlen, "%s: write failed: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* The parser names the staged file and a line: say which --set or --fault it is. */
static void name_setting(const struct cluster_spec *s, const int *set_line, const char *path,
			 char *err, size_t errlen)
{
	size_t pl = strlen(path), k;
	char copy[1024], *end;
	long line;

	if (strncmp(err, path, pl) != 0 || err[pl] != ':')
		return;
	line = strtol(err + pl + 1, &end, 10);
	if (end == err + pl + 1 || *end != ':')
		return;
	for (k = 0; k < s->n_set + s->n_fault; k++) {
		int f = k >= s->n_set;
		size_t j = f ? k - s->n_set : k;

		if (set_line[f ? CLUSTER_SET_MAX + j : j] == line) {
			snprintf(copy, sizeof copy, "%s", err);
			errf(err, errlen, "%s %.200s: %s", f ? "--fault" : "--set",
			     f ? s->fault[j] : s->set[j], copy);
			return;
		}
	}
}

int cluster_stage(const char *dir, const struct cluster_spec *s, int force, struct config *c,
		  char *err, size_t errlen)
{
	char ini[CONFIG_PATH_MAX], staged[CONFIG_PATH_MAX], *text;
	int set_line[2 * CLUSTER_SET_MAX] = {0}, r;

	if (path_in(dir, "cluster.ini" NEW_SUFFIX, staged) || path_in(dir, "cluster.ini", ini)) {
		errf(err, errlen, "%.200s: directory name too long", dir);
		return CLUSTER_USAGE;
	}
	text = malloc(CLUSTER_INI_MAX);
	if (!text) {
		errf(err, errlen, "out of memory");
		return CLUSTER_FAILED;
	}
	r = build(s, text, CLUSTER_INI_MAX, set_line, err, errlen);
	if (r == CLUSTER_OK && !force && access(ini, F_OK) == 0) {
		errf(err, errlen, "%s exists: refusing to overwrite (use --force)", ini);
		r = CLUSTER_FAILED;
	}
	if (r == CLUSTER_OK &&
	    (make_dirs(dir, err, errlen) || write_file(staged, text, err, errlen)))
		r = CLUSTER_FAILED;
	free(text);
	if (r != CLUSTER_OK)
		return r;
	if (config_load_nokeys(staged, c, err, errlen) != 0) {
		name_setting(s, set_line, staged, err, errlen);
		unlink(staged);
		return CLUSTER_USAGE;
	}
	return CLUSTER_OK;
}

int cluster_commit(const char *dir, int check_keys, char *err, size_t errlen)
{
	char ini[CONFIG_PATH_MAX], staged[CONFIG_PATH_MAX];
	struct config *c = malloc(sizeof *c);
	int r = CLUSTER_OK;

	if (!c) {
		errf(err, errlen, "out of memory");
		return CLUSTER_FAILED;
	}
	if (path_in(dir, "cluster.ini" NEW_SUFFIX, staged) || path_in(dir, "cluster.ini", ini)) {
		errf(err, errlen, "%.200s: directory name too long", dir);
		r = CLUSTER_USAGE;
	} else if ((check_keys ? config_load : config_load_nokeys)(staged, c, err, errlen) != 0) {
		r = CLUSTER_USAGE;
	} else if (rename(staged, ini) != 0) {
		errf(err, errlen, "%s: %s", ini, strerror(errno));
		r = CLUSTER_FAILED;
	}
	free(c);
	if (r != CLUSTER_OK)
		unlink(staged);
	return r;
}

void cluster_abort(const char *dir)
{
	char staged[CONFIG_PATH_MAX];

	if (!path_in(dir, "cluster.ini" NEW_SUFFIX, staged))
		unlink(staged);
}
