/* test_json.c - the bounded JSON reader (client/json.h): lookups by path, and hostile
 * text - truncated, malformed, too deep, ambiguous - that must yield -1, not a guess. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/json.h"

static int get(const char *text, const char *path, struct json_val *v)
{
	return json_get(text, strlen(text), path, v);
}

static uint64_t u64(const char *text, const char *path)
{
	uint64_t x = 0;
	assert_int_equal(json_get_u64(text, strlen(text), path, &x), 0);
	return x;
}

static void test_lookup(void **state)
{
	(void)state;
	const char *doc = " {\"a\": 12, \"s\":\"x\\\"y\", \"o\":{\"b\":[1,{\"c\":2}],\"c\":3},"
			  "\"t\":true,\"f\":false,\"n\":null,\"e\":-1.5e+3, \"z\":{}}\n";
	struct json_val v;
	bool b;
	char s[8];

	assert_int_equal(u64(doc, "a"), 12);
	assert_int_equal(u64(doc, "o.c"), 3);
	assert_int_equal(get(doc, "o.b", &v), 0);
	assert_int_equal(v.type, JSON_ARRAY);
	assert_int_equal(v.len, strlen("[1,{\"c\":2}]"));
	assert_int_equal(get(doc, "o.b.c", &v), -1); /* paths do not enter arrays */
	assert_int_equal(get(doc, "s", &v), 0);
	assert_int_equal(v.type, JSON_STRING);
	assert_int_equal(v.len, 4);                       /* x\"y, escape kept */
	assert_int_equal(json_str(&v, s, sizeof(s)), -1); /* escapes are not decoded */
	assert_int_equal(get(doc, "t", &v), 0);
	assert_int_equal(json_bool(&v, &b), 0);
	assert_true(b);
	assert_int_equal(get(doc, "f", &v), 0);
	assert_int_equal(json_bool(&v, &b), 0);
	assert_false(b);
	assert_int_equal(get(doc, "n", &v), 0);
	assert_int_equal(v.type, JSON_NULL);
	assert_int_equal(get(doc, "e", &v), 0);
	assert_int_equal(v.type, JSON_NUMBER);
	uint64_t x = 7;
	assert_int_equal(json_u64(&v, &x), -1); /* not a non-negative integer */
	assert_int_equal(x, 7);
	assert_int_equal(get(doc, "z", &v), 0);
	assert_int_equal(v.type, JSON_OBJECT);
	/* absent members, a key that is a prefix, the path's wrong level */
	assert_int_equal(get(doc, "b", &v), -1);
	assert_int_equal(get(doc, "", &v), -1);
	assert_int_equal(get("{\"ab\":1}", "a", &v), -1);
	assert_int_equal(get("{\"a\":{\"b\":1}}", "b", &v), -1);
	assert_int_equal(get("{\"a\":1}", "a.b", &v), -1);
	/* strings */
	assert_int_equal(get("{\"s\":\"hello\"}", "s", &v), 0);
	assert_int_equal(json_str(&v, s, sizeof(s)), 0);
	assert_string_equal(s, "hello");
	assert_int_equal(json_str(&v, s, 5), -1); /* no room for the NUL */
	assert_string_equal(s, "");
	assert_int_equal(get("{\"s\":\"\\u00e9\\/\\b\\f\\n\\r\\t\"}", "s", &v), 0);
}

static void test_numbers(void **state)
{
	(void)state;
	struct json_val v;
	uint64_t x;

	assert_int_equal(u64("{\"a\":0}", "a"), 0);
	assert_int_equal(u64("{\"a\":18446744073709551615}", "a"), UINT64_MAX);
	assert_int_equal(json_get_u64("{\"a\":18446744073709551616}", 26, "a", &x), -1);
	assert_int_equal(json_get_u64("{\"a\":-1}", 8, "a", &x), -1);
	assert_int_equal(json_get_u64("{\"a\":1.0}", 9, "a", &x), -1);
	assert_int_equal(json_get_u64("{\"a\":\"1\"}", 9, "a", &x), -1);
	/* not JSON numbers at all: the whole document is refused */
	const char *bad[] = {"{\"a\":01}",  "{\"a\":+1}",  "{\"a\":1.}",   "{\"a\":.5}",
			     "{\"a\":1e}",  "{\"a\":-}",   "{\"a\":0x10}", "{\"a\":1 2}",
			     "{\"a\":NaN}", "{\"a\":tru}", "{\"a\":nul}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(get(bad[i], "a", &v), -1);
}

static void test_hostile(void **state)
{
	(void)state;
	struct json_val v;

	/* malformed anywhere, even after the member: nothing is believed */
	const char *bad[] = {
		"",
		"   ",
		"[{\"a\":1}]",                 /* not an object */
		"\"a\"",                       /* not an object */
		"{\"a\":1",                    /* truncated */
		"{\"a\":1,}",                  /* trailing comma */
		"{\"a\":1,\"b\"}",             /* member without a value */
		"{\"a\":1}{",                  /* trailing bytes */
		"{\"a\":1} x",                 /* trailing junk */
		"{a:1}",                       /* unquoted key */
		"{\"a\":1,\"b\":\"x}",         /* unterminated string */
		"{\"a\":1,\"b\":\"\\x\"}",     /* bad escape */
		"{\"a\":1,\"b\":\"\\u12g4\"}", /* bad \\u */
		"{\"a\":1,\"b\":\"\\u12\"}",   /* short \\u */
		"{\"a\":1,\"b\":\"\\",         /* a lone backslash at the end */
		"{\"a\":1,\"b\":\"\t\"}",      /* a control byte in a string */
		"{\"a\":1,\"b\":[1,]}",        /* trailing comma in an array */
		"{\"a\":1,\"b\":[1 2]}",       /* missing comma */
		"{\"a\":1,\"a\":2}",           /* a member named twice */
		"{\"o\":{\"a\":1},\"o\":{\"a\":1}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (get(bad[i], "a", &v) != -1)
			fail_msg("believed: %s", bad[i]);
	}
	assert_int_equal(get("{\"o\":{\"a\":1},\"o\":{\"a\":1}}", "o.a", &v), -1);

	/* the length bounds the read: no NUL needed, nothing read past it */
	const char buf[] = {'{', '"', 'a', '"', ':', '7', '}', 'X', 'X'};
	uint64_t x = 0;
	assert_int_equal(json_get_u64(buf, 7, "a", &x), 0);
	assert_int_equal(x, 7);
	assert_int_equal(json_get_u64(buf, 6, "a", &x), -1);
	assert_int_equal(json_get_u64(buf, 9, "a", &x), -1);
	char *heap = malloc(5); /* exactly {"a": : ASan sees any read past it */
	assert_non_null(heap);
	memcpy(heap, "{\"a\":", 5);
	for (size_t len = 0; len <= 5; len++)
		assert_int_equal(json_get(heap, len, "a", &v), -1);
	memcpy(heap, "{\"a\\u", 5);
	assert_int_equal(json_get(heap, 5, "a", &v), -1);
	free(heap);
	assert_int_equal(json_get(NULL, 0, "a", &v), -1);

	/* nesting: JSON_MAX_DEPTH levels are read, one more is refused, and a deep
	 * attack (100,000 levels) costs no stack */
	char doc[200];
	size_t k;
	/* {"a":1,"x":[[...]]}: JSON_MAX_DEPTH levels in all */
	k = (size_t)snprintf(doc, sizeof(doc), "{\"a\":1,\"x\":");
	for (int i = 1; i < JSON_MAX_DEPTH; i++)
		doc[k++] = '[';
	for (int i = 1; i < JSON_MAX_DEPTH; i++)
		doc[k++] = ']';
	doc[k++] = '}';
	assert_int_equal(json_get(doc, k, "a", &v), 0);
	k = (size_t)snprintf(doc, sizeof(doc), "{\"a\":1,\"x\":");
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		doc[k++] = '[';
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		doc[k++] = ']';
	doc[k++] = '}';
	assert_int_equal(json_get(doc, k, "a", &v), -1);
	size_t deep = 100000;
	char *big = malloc(2 * deep + 16);
	assert_non_null(big);
	k = (size_t)snprintf(big, 16, "{\"a\":");
	for (size_t i = 0; i < deep; i++)
		big[k++] = '[';
	assert_int_equal(json_get(big, k, "a", &v), -1);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
