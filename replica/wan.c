/* wan.c - the WAN latency model (see wan.h). */
#include "replica/wan.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"

void wan_init(struct wan *w)
{
	memset(w, 0, sizeof(*w));
	memset(w->where, WAN_NOWHERE, sizeof(w->where));
}

/* ---- parsing ---- */

static int valid_name(const char *s, size_t len)
{
	if (len == 0 || len >= WAN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int find_region(const struct wan *w, const char *s, size_t len)
{
	for (uint32_t i = 0; i < w->n_regions; i++)
		if (strlen(w->name[i]) == len && !memcmp(w->name[i], s, len))
			return (int)i;
	return -1;
}

static int add_region(struct wan *w, const char *s, size_t len)
{
	int r = find_region(w, s, len);
	if (r >= 0 || !valid_name(s, len) || w->n_regions >= WAN_REGIONS_MAX)
		return r;
	memcpy(w->name[w->n_regions], s, len);
	w->name[w->n_regions][len] = 0;
	return (int)w->n_regions++;
}

/* "12.345" ms, at most 3 decimals, 0..WAN_MEAN_MAX_MS, into us. */
static int parse_ms(const char *s, size_t len, uint32_t *us)
{
	uint64_t whole = 0, frac = 0;
	size_t i = 0, digits = 0, decimals = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
		if ((whole = whole * 10 + (uint64_t)(s[i] - '0')) > WAN_MEAN_MAX_MS)
			return -1;
	if (digits == 0)
		return -1;
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (++decimals > 3)
				return -1;
			else
				frac = frac * 10 + (uint64_t)(s[i] - '0');
		if (decimals == 0)
			return -1;
	}
	if (i != len)
		return -1;
	for (; decimals < 3; decimals++)
		frac *= 10;
	uint64_t v = whole * 1000 + frac;
	if (v > (uint64_t)WAN_MEAN_MAX_MS * 1000)
		return -1;
	*us = (uint32_t)v;
	return 0;
}

static int parse_link(const char *v, struct wan_link *l)
{
	const char *comma = strchr(v, ',');
	if (!comma)
		return -1;
	if (parse_ms(v, (size_t)(comma - v), &l->mean_us) != 0 ||
	    parse_ms(comma + 1, strlen(comma + 1), &l->jitter_us) != 0 || l->jitter_us > l->mean_us)
		return -1;
	l->set = 1;
	return 0;
}

int wan_set_link(struct wan *w, const char *key, const char *value, char *err, size_t errlen)
{
	struct wan_link l;
	if (parse_link(value, &l) != 0) {
		snprintf(err, errlen,
			 "'%.40s': expected MEAN,JITTER in ms (0..%d, at most 3 decimals, "
			 "jitter <= mean), e.g. 40,2",
			 value, WAN_MEAN_MAX_MS);
		return -1;
	}
	if (!strcmp(key, "local")) {
		if (w->local.set) {
			snprintf(err, errlen, "'local' given twice");
			return -1;
		}
		w->local = l;
		return 0;
	}
	const char *slash = strchr(key, '/');
	size_t la = slash ? (size_t)(slash - key) : 0, lb = slash ? strlen(slash + 1) : 0;
	if (!slash || !valid_name(key, la) || !valid_name(slash + 1, lb) ||
	    (la == lb && !memcmp(key, slash + 1, la))) {
		snprintf(err, errlen,
			 "'%.40s': expected 'local' or REGION/REGION (two different names of "
			 "1..%d characters a-z 0-9 _ -)",
			 key, WAN_NAME_MAX - 1);
		return -1;
	}
	int a = add_region(w, key, la), b = add_region(w, slash + 1, lb);
	if (a < 0 || b < 0) {
		snprintf(err, errlen, "'%.40s': more than %d regions", key, WAN_REGIONS_MAX);
		return -1;
	}
	if (w->link[a][b].set) {
		snprintf(err, errlen, "'%.40s': this pair is given twice", key);
		return -1;
	}
	w->link[a][b] = w->link[b][a] = l;
	return 0;
}

int wan_place(struct wan *w, uint32_t slot, const char *region, char *err, size_t errlen)
{
	size_t len = strlen(region);
	int r = find_region(w, region, len);
	if (r < 0 && valid_name(region, len))
		r = add_region(w, region, len); /* a region with only local links */
	if (slot >= WAN_SLOTS || r < 0) {
		snprintf(err, errlen,
			 "region '%.40s': a name of 1..%d characters a-z 0-9 _ - (at most %d "
			 "regions)",
			 region, WAN_NAME_MAX - 1, WAN_REGIONS_MAX);
		return -1;
	}
	w->where[slot] = (uint8_t)r;
	return 0;
}

int wan_enabled(const struct wan *w)
{
	return w->n_regions > 0 && w->where[0] != WAN_NOWHERE;
}

static int pair_known(const struct wan *w, uint8_t a, uint8_t b)
{
	return a == WAN_NOWHERE || b == WAN_NOWHERE || a == b || w->link[a][b].set;
}

int wan_check(const struct wan *w, uint32_t n, char *err, size_t errlen)
{
	uint32_t placed = 0;
	for (uint32_t i = 0; i < n; i++)
		placed += w->where[i] != WAN_NOWHERE;
	if (placed != 0 && placed != n) {
		snprintf(err, errlen,
			 "%u of %u replicas have a region: give region.I for all or none", placed,
			 n);
		return -1;
	}
	if (placed == 0 && w->where[WAN_CLIENT] != WAN_NOWHERE) {
		snprintf(err, errlen, "region.client without region.I for the replicas");
		return -1;
	}
	for (uint32_t i = 0; i < WAN_SLOTS; i++)
		for (uint32_t j = 0; j < WAN_SLOTS; j++) {
			if ((i >= n && i != WAN_CLIENT) || (j >= n && j != WAN_CLIENT) ||
			    pair_known(w, w->where[i], w->where[j]))
				continue;
			snprintf(err, errlen,
				 "no [regions] line %s/%s (one-way latency between them)",
				 w->name[w->where[i]], w->name[w->where[j]]);
			return -1;
		}
	return 0;
}

/* ---- the model ---- */

struct wan_link wan_link_of(const struct wan *w, uint32_t a, uint32_t b)
{
	struct wan_link none = {0, 0, 0};
	if (!wan_enabled(w) || a >= WAN_SLOTS || b >= WAN_SLOTS || w->where[a] == WAN_NOWHERE ||
	    w->where[b] == WAN_NOWHERE)
		return none;
	if (w->where[a] == w->where[b])
		return w->local;
	return w->link[w->where[a]][w->where[b]];
}

uint64_t wan_draw_us(struct wan_link l, uint64_t r)
{
	if (l.jitter_us == 0)
		return l.mean_us;
	return (uint64_t)l.mean_us - l.jitter_us + r % (2 * (uint64_t)l.jitter_us + 1);
}

/* ---- presets ---- */

static const struct wan_preset presets[] = {
	{"three-continents",
	 "AWS us-east-1 (N. Virginia), eu-west-1 (Ireland), ap-southeast-1 (Singapore): half "
	 "the average inter-region RTT 80.5, 216.7 and 238.1 ms of the published 'Latency "
	 "Between AWS Global Regions' table (2017); same region 0.2 ms (inter-AZ pings are "
	 "0.25-3 ms RTT)",
	 {"local = 0.2,0.05", "us-east/eu-west = 40,2", "us-east/ap-southeast = 108,3",
	  "eu-west/ap-southeast = 119,3", NULL},
	 {"us-east", "eu-west", "ap-southeast", "eu-west"},
	 4,
	 "us-east"},
	{"one-datacenter",
	 "one region, every link 0.25 ms one-way (a same-datacenter RTT of about 0.5 ms)",
	 {"local = 0.25,0.05", NULL},
	 {"dc"},
	 1,
	 "dc"},
};

const struct wan_preset *wan_preset_find(const char *name)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].name, name))
			return &presets[i];
	return NULL;
}

const char *wan_preset_names(void)
{
	return "three-continents, one-datacenter";
}

/* "key = value" into key and value (trimmed). */
static int split_line(const char *line, char *key, char *val, size_t cap)
{
	const char *eq = strchr(line, '=');
	if (!eq)
		return -1;
	size_t kl = (size_t)(eq - line);
	while (kl && line[kl - 1] == ' ')
		kl--;
	const char *v = eq + 1;
	while (*v == ' ')
		v++;
	if (kl >= cap || strlen(v) >= cap)
		return -1;
	memcpy(key, line, kl);
	key[kl] = 0;
	strcpy(val, v);
	return 0;
}

int wan_preset_load(const struct wan_preset *p, uint32_t n, const char *client_region,
		    struct wan *w, char *err, size_t errlen)
{
	char key[64], val[64];
	wan_init(w);
	for (size_t i = 0; p->lines[i]; i++) {
		if (split_line(p->lines[i], key, val, sizeof(key)) != 0 ||
		    wan_set_link(w, key, val, err, errlen) != 0)
			return -1;
	}
	for (uint32_t i = 0; i < n && i < WIRE_MAX_REPLICAS; i++)
		if (wan_place(w, i, p->order[i % p->n_order], err, errlen) != 0)
			return -1;
	if (wan_place(w, WAN_CLIENT, client_region ? client_region : p->client, err, errlen) != 0)
		return -1;
	return wan_check(w, n, err, errlen);
}

/* ---- prediction ---- */

static uint64_t mean(const struct wan *w, uint32_t a, uint32_t b)
{
	return a == b ? 0 : wan_link_of(w, a, b).mean_us;
}

/* The k-th smallest (1-based) of v[0..n). */
static uint64_t kth(uint64_t *v, uint32_t n, uint32_t k)
{
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return k >= 1 && k <= n ? v[k - 1] : UINT64_MAX;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* PBFT section 4.2: each replica's pre-prepare, prepared and committed times. */
static uint64_t predict_pbft(const struct wan *w, uint32_t n, uint32_t f, uint32_t p)
{
	uint64_t pp[WIRE_MAX_REPLICAS], prep[WIRE_MAX_REPLICAS], com[WIRE_MAX_REPLICAS];
	uint64_t v[WIRE_MAX_REPLICAS];
	uint64_t t0 = mean(w, WAN_CLIENT, p);
	uint32_t quorum = n - f; /* 2f+1 of n = 3f+1 (n comes from protocol_n() alone) */
	for (uint32_t i = 0; i < n; i++)
		pp[i] = t0 + mean(w, p, i);
	for (uint32_t i = 0; i < n; i++) { /* 2f PREPAREs from backups (its own included) */
		uint32_t k = 0;
		for (uint32_t j = 0; j < n; j++)
			if (j != p)
				v[k++] = pp[j] + mean(w, j, i);
		prep[i] = max64(pp[i], kth(v, k, quorum - 1));
	}
	for (uint32_t i = 0; i < n; i++) { /* 2f+1 COMMITs (its own included) */
		for (uint32_t j = 0; j < n; j++)
			v[j] = max64(prep[j] + mean(w, j, i), prep[i]);
		com[i] = kth(v, n, quorum);
	}
	for (uint32_t i = 0; i < n; i++) /* f+1 matching REPLYs */
		v[i] = com[i] + mean(w, i, WAN_CLIENT);
	return kth(v, n, f + 1);
}

/* VR section 4.1: PREPARE out, f PREPAREOKs back, the primary replies. */
static uint64_t predict_vr(const struct wan *w, uint32_t n, uint32_t f, uint32_t p)
{
	uint64_t v[WIRE_MAX_REPLICAS];
	uint32_t k = 0;
	for (uint32_t j = 0; j < n; j++)
		if (j != p)
			v[k++] = 2 * mean(w, p, j);
	uint64_t quorum = f ? kth(v, k, f) : 0;
	return mean(w, WAN_CLIENT, p) + quorum + mean(w, p, WAN_CLIENT);
}

/* One chained-HotStuff round (PODC'19 Algorithm 3): the block leader proposes at t,
 * every replica votes to the next leader, which holds the QC at the (n-f)-th vote
 * (its own included) and proposes the next block.  Returns that proposal's time. */
static uint64_t hs_round(const struct wan *w, uint32_t n, uint32_t f, uint32_t leader,
			 uint32_t next, uint64_t t)
{
	uint64_t v[WIRE_MAX_REPLICAS];
	for (uint32_t j = 0; j < n; j++)
		v[j] = t + mean(w, leader, j) + mean(w, j, next);
	return max64(kth(v, n, n - f), t + mean(w, leader, next));
}

/* Chained HotStuff, rotating leader, an idle cluster: p proposes the request's block
 * b0; b0 commits where the proposal of b3 (carrying QC(b2)) lands -- at b3's leader
 * when it forms QC(b2), three rounds of PROPOSAL + VOTE after b0 (7 one-way hops from
 * b0's proposal to a replica other than b3's leader); f+1 matching replies.  p: the
 * leader of the request's block (leaders p+1, p+2, p+3 mod n follow). */
static uint64_t predict_hotstuff(const struct wan *w, uint32_t n, uint32_t f, uint32_t p)
{
	uint64_t v[WIRE_MAX_REPLICAS];
	uint64_t t = mean(w, WAN_CLIENT, p);
	uint32_t leader = p;
	for (int k = 0; k < 3; k++) {
		uint32_t next = (leader + 1) % n;
		t = hs_round(w, n, f, leader, next, t);
		leader = next;
	}
	for (uint32_t i = 0; i < n; i++)
		v[i] = t + mean(w, leader, i) + mean(w, i, WAN_CLIENT);
	return kth(v, n, f + 1);
}

uint64_t wan_predict_us(const struct wan *w, int proto, uint32_t n, uint32_t f, uint32_t primary)
{
	if (n == 0 || n > WIRE_MAX_REPLICAS || primary >= n)
		return 0;
	switch (proto) {
	case PROTO_PBFT: return predict_pbft(w, n, f, primary);
	case PROTO_VR: return predict_vr(w, n, f, primary);
	case PROTO_HOTSTUFF: return predict_hotstuff(w, n, f, primary);
	default: return 2 * mean(w, WAN_CLIENT, primary);
	}
}
