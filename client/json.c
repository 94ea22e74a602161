/* json.c - a bounded JSON reader (json.h): one recursive-descent pass over the whole
 * text, which checks the grammar and picks out the member at the path on its way. */
#include "client/json.h"

#include <string.h>

struct cur {
	const char *p, *end;
	const char *path; /* the rest of the path at this level; NULL: not looking */
	struct json_val *out;
	int found; /* members found at the full path: more than one is refused */
};

static void ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Consume ch if it is next. */
static bool take(struct cur *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return false;
	c->p++;
	return true;
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_hex(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* A string at c->p (on its opening quote): *s, *len its bytes between the quotes. */
static int string(struct cur *c, const char **s, size_t *len)
{
	c->p++;
	*s = c->p;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p;
		if (ch < 0x20)
			return -1;
		if (ch != '\\') {
			c->p++;
			continue;
		}
		if (c->end - c->p < 2)
			return -1;
		char e = c->p[1];
		if (e == 'u') {
			if (c->end - c->p < 6)
				return -1;
			for (int k = 2; k < 6; k++)
				if (!is_hex(c->p[k]))
					return -1;
			c->p += 6;
		} else if (strchr("\"\\/bfnrt", e) && e != '\0') {
			c->p += 2;
		} else {
			return -1;
		}
	}
	if (c->p >= c->end)
		return -1;
	*len = (size_t)(c->p - *s);
	c->p++;
	return 0;
}

static int digits(struct cur *c)
{
	const char *start = c->p;
	while (c->p < c->end && is_digit(*c->p))
		c->p++;
	return c->p > start ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(struct cur *c)
{
	take(c, '-');
	if (!take(c, '0') && digits(c) != 0)
		return -1;
	if (take(c, '.') && digits(c) != 0)
		return -1;
	if (take(c, 'e') || take(c, 'E')) {
		if (!take(c, '+'))
			take(c, '-');
		if (digits(c) != 0)
			return -1;
	}
	return 0;
}

static int literal(struct cur *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

/* Does key[0..len) name the first segment of path?  *rest: the path after it. */
static int key_matches(const char *path, const char *key, size_t len, const char **rest)
{
	const char *dot = strchr(path, '.');
	size_t seg = dot ? (size_t)(dot - path) : strlen(path);
	if (seg != len || memcmp(path, key, len) != 0)
		return 0;
	*rest = dot ? dot + 1 : NULL;
	return 1;
}

static int value(struct cur *c, int depth);

static enum json_type type_of(char first)
{
	switch (first) {
	case '{': return JSON_OBJECT;
	case '[': return JSON_ARRAY;
	case '"': return JSON_STRING;
	case 't':
	case 'f': return JSON_BOOL;
	case 'n': return JSON_NULL;
	default: return JSON_NUMBER;
	}
}

/* An object at c->p; members whose key matches the path are followed. */
static int object(struct cur *c, int depth)
{
	const char *path = c->path;
	c->p++;
	ws(c);
	if (take(c, '}'))
		return 0;
	for (;;) {
		const char *key, *rest = NULL;
		size_t klen;
		ws(c);
		if (c->p >= c->end || *c->p != '"' || string(c, &key, &klen) != 0)
			return -1;
		ws(c);
		if (c->p >= c->end || *c->p != ':')
			return -1;
		c->p++;
		ws(c);
		int hit = path && key_matches(path, key, klen, &rest);
		c->path = hit ? rest : NULL;
		const char *start = c->p;
		if (value(c, depth) != 0)
			return -1;
		if (hit && !rest) {
			/* a well-formed value: its first byte says its type */
			struct json_val *v = c->out;
			c->found++;
			v->type = type_of(*start);
			v->p = start;
			v->len = (size_t)(c->p - start);
			if (v->type == JSON_STRING) { /* the bytes between the quotes */
				v->p++;
				v->len -= 2;
			}
		}
		c->path = path;
		ws(c);
		if (take(c, ','))
			continue;
		return take(c, '}') ? 0 : -1;
	}
}

static int array(struct cur *c, int depth)
{
	c->path = NULL; /* paths name object members only */
	c->p++;
	ws(c);
	if (take(c, ']'))
		return 0;
	for (;;) {
		ws(c);
		if (value(c, depth) != 0)
			return -1;
		ws(c);
		if (take(c, ','))
			continue;
		return take(c, ']') ? 0 : -1;
	}
}

/* One value at c->p.  If c->path is set, it is the path below this value. */
static int value(struct cur *c, int depth)
{
	const char *path = c->path, *s;
	size_t len;
	int rc;

	if (c->p >= c->end)
		return -1;
	switch (*c->p) {
	case '{': rc = depth < JSON_MAX_DEPTH ? object(c, depth + 1) : -1; break;
	case '[': rc = depth < JSON_MAX_DEPTH ? array(c, depth + 1) : -1; break;
	case '"': rc = string(c, &s, &len); break;
	case 't': rc = literal(c, "true"); break;
	case 'f': rc = literal(c, "false"); break;
	case 'n': rc = literal(c, "null"); break;
	default: rc = number(c); break;
	}
	c->path = path;
	return rc;
}

int json_get(const char *text, size_t len, const char *path, struct json_val *out)
{
	struct json_val v = {0};

	if (!text || !path || !*path)
		return -1;
	struct cur c = {.p = text, .end = text + len, .path = path, .out = &v};
	ws(&c);
	if (c.p >= c.end || *c.p != '{' || value(&c, 0) != 0)
		return -1;
	ws(&c);
	if (c.p != c.end || c.found != 1)
		return -1;
	*out = v;
	return 0;
}

int json_u64(const struct json_val *v, uint64_t *out)
{
	uint64_t x = 0;

	if (v->type != JSON_NUMBER || v->len == 0 || (v->len > 1 && v->p[0] == '0'))
		return -1;
	for (size_t i = 0; i < v->len; i++) {
		if (!is_digit(v->p[i]))
			return -1;
		uint64_t d = (uint64_t)(v->p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

int json_bool(const struct json_val *v, bool *out)
{
	if (v->type != JSON_BOOL)
		return -1;
	*out = v->len == 4; /* "true"; "false" has 5 */
	return 0;
}

int json_str(const struct json_val *v, char *dst, size_t cap)
{
	if (cap == 0)
		return -1;
	dst[0] = '\0';
	if (v->type != JSON_STRING || v->len >= cap || memchr(v->p, '\\', v->len))
		return -1;
	memcpy(dst, v->p, v->len);
	dst[v->len] = '\0';
	return 0;
}

int json_get_u64(const char *text, size_t len, const char *path, uint64_t *out)
{
	struct json_val v;

	return json_get(text, len, path, &v) == 0 ? json_u64(&v, out) : -1;
}
