/* json.h - one bounded reader of JSON text: look a member up by its path.
 *
 * For text we did not write, such as a replica's status answer (client/bench.c reads
 * its cost counters from it).  json_get() reads at most `len` bytes, allocates nothing,
 * recurses at most JSON_MAX_DEPTH levels and checks the whole document against the
 * JSON grammar (RFC 8259) before it answers: a truncated or malformed text, a member
 * named twice, or nesting too deep yields -1, never a guess.  A path names members of
 * nested objects ("rejected.bad_auth"); a key in a nested object, or inside a string,
 * is never taken for a top-level one.
 */
#ifndef BYZLAB_JSON_H
#define BYZLAB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16 /* objects and arrays nested deeper: refused */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_OBJECT, JSON_ARRAY };

/* A value found in the text: its type and its bytes (for a string, between the
 * quotes, escapes left as they are; otherwise the whole value). */
struct json_val {
	enum json_type type;
	const char *p;
	size_t len;
};

/* Find the member at `path` (keys separated by '.', each matched byte for byte) of the
 * JSON object in text[0..len).  Returns 0 and fills *out, or -1: not found, or the
 * text is not one well-formed JSON value (then nothing in it is believed). */
int json_get(const char *text, size_t len, const char *path, struct json_val *out);

/* The value as a non-negative integer (digits only, no sign, fraction or exponent,
 * at most UINT64_MAX).  0, or -1 with *out untouched. */
int json_u64(const struct json_val *v, uint64_t *out);
/* The value as a boolean.  0, or -1 (not true or false). */
int json_bool(const struct json_val *v, bool *out);
/* The value as a string without escapes, copied with a terminating NUL into
 * dst[0..cap) (cap >= 1).  0, or -1: not a string, it holds an escape, or it does not
 * fit (dst is then ""). */
int json_str(const struct json_val *v, char *dst, size_t cap);

/* json_get + json_u64 (-1 if either fails). */
int json_get_u64(const char *text, size_t len, const char *path, uint64_t *out);

#endif
