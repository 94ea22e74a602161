/* test_store.c - the LMDB record store: order, deletes, atomicity, persistence. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "replica/store.h"

/* ---- temp dirs ---- */

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *de;
		char sub[PATH_MAX];
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

/* A fresh directory under $BYZLAB_TMP (or /tmp); the store goes in <it>/store. */
struct tmp {
	char root[PATH_MAX - 64];
	char dir[PATH_MAX];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	const char *base = getenv("BYZLAB_TMP");
	if (!t)
		return -1;
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(t->root, sizeof(t->root), "%s/test_store.XXXXXX", base);
	if (!mkdtemp(t->root)) {
		free(t);
		return -1;
	}
	snprintf(t->dir, sizeof(t->dir), "%s/store", t->root);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	rm_rf(t->root);
	free(t);
	return 0;
}

static struct store *open_or_fail(const char *dir, int sync_full, size_t map)
{
	char err[512];
	struct store *s = NULL;
	if (store_open(dir, sync_full, map, &s, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_non_null(s);
	return s;
}

static void put1(struct store *s, uint8_t kind, uint64_t key, const char *val)
{
	assert_int_equal(store_put(s, kind, key, val, strlen(val)), 0);
}

/* store_get as a string; returns the store_get result. */
static int get_str(struct store *s, uint8_t kind, uint64_t key, char *out, size_t cap)
{
	size_t len = 0;
	int rc = store_get(s, kind, key, out, cap - 1, &len);
	out[rc == 0 && len < cap ? len : 0] = '\0';
	return rc;
}

/* ---- iterate collector ---- */

#define MAXREC 64
struct rec {
	uint8_t kind;
	uint64_t key;
	char val[32];
};
struct recs {
	int n;
	int stop_at; /* return 7 when visiting record index stop_at (-1: never) */
	struct rec r[MAXREC];
};

static int collect(void *arg, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct recs *rs = arg;
	assert_true(rs->n < MAXREC);
	assert_true(len < sizeof(rs->r[0].val));
	struct rec *r = &rs->r[rs->n];
	r->kind = kind;
	r->key = key;
	memcpy(r->val, val, len);
	r->val[len] = '\0';
	if (rs->n++ == rs->stop_at)
		return 7;
	return 0;
}

static void iterate_all(struct store *s, struct recs *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->stop_at = -1;
	assert_int_equal(store_iterate(s, collect, rs), 0);
}

/* ---- tests ---- */

static void test_put_get_iterate_order(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_or_fail(t->dir, 1, 0);
	char v[64];
	struct recs rs;

	assert_int_equal(store_begin(s), 0);
	put1(s, 2, 5, "2/5");
	put1(s, 1, 300, "1/300");
	put1(s, 1, 2, "1/2");
	put1(s, 2, 1, "2/1");
	put1(s, 1, 1ull << 40, "1/2^40");
	put1(s, 0, UINT64_MAX, "0/max");
	put1(s, 255, 0, "255/0");
	assert_int_equal(store_commit(s), 0);

	iterate_all(s, &rs);
	static const struct {
		uint8_t kind;
		uint64_t key;
		const char *val;
	} want[] = {
		{0, UINT64_MAX, "0/max"},  {1, 2, "1/2"}, {1, 300, "1/300"},
		{1, 1ull << 40, "1/2^40"}, {2, 1, "2/1"}, {2, 5, "2/5"},
		{255, 0, "255/0"},
	};
	assert_int_equal(rs.n, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(rs.r[i].kind, want[i].kind);
		assert_true(rs.r[i].key == want[i].key);
		assert_string_equal(rs.r[i].val, want[i].val);
	}

	/* early stop returns the callback's value */
	memset(&rs, 0, sizeof(rs));
	rs.stop_at = 2;
	assert_int_equal(store_iterate(s, collect, &rs), 7);
	assert_int_equal(rs.n, 3);

	/* get copies; absent is 1; a short buffer gets a prefix and the full length */
	assert_int_equal(get_str(s, 1, 300, v, sizeof(v)), 0);
	assert_string_equal(v, "1/300");
	assert_int_equal(get_str(s, 1, 301, v, sizeof(v)), 1);
	assert_int_equal(get_str(s, 3, 300, v, sizeof(v)), 1);
	size_t len = 0;
	char small[3] = {0};
	assert_int_equal(store_get(s, 1, 1ull << 40, small, 2, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(small, "1/", 2);
	assert_int_equal(small[2], 0);

	/* overwrite, and an empty value is a value */
	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 300, "new");
	put1(s, 9, 9, "");
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(get_str(s, 1, 300, v, sizeof(v)), 0);
	assert_string_equal(v, "new");
	assert_int_equal(store_get(s, 9, 9, NULL, 0, &len), 0);
	assert_int_equal(len, 0);
	store_close(s);
}

static void test_del(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_or_fail(t->dir, 1, 0);
	char v[64];

	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 1, "a");
	put1(s, 1, 2, "b");
	assert_int_equal(store_commit(s), 0);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_del(s, 1, 1), 0);
	assert_int_equal(store_del(s, 1, 77), 0); /* absent: ok */
	assert_int_equal(store_del(s, 4, 1), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(get_str(s, 1, 1, v, sizeof(v)), 1);
	assert_int_equal(get_str(s, 1, 2, v, sizeof(v)), 0);
	assert_string_equal(v, "b");
	store_close(s);
}

static void test_del_below(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_or_fail(t->dir, 0, 0);
	struct recs rs;

	assert_int_equal(store_begin(s), 0);
	for (uint8_t kind = 1; kind <= 3; kind++)
		for (uint64_t k = 0; k < 10; k++)
			put1(s, kind, k, "x");
	put1(s, 2, UINT64_MAX, "max");
	put1(s, 2, 256, "256"); /* 256 > 5 though its low byte is 0 */
	assert_int_equal(store_commit(s), 0);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_del_below(s, 2, 5), 0);
	assert_int_equal(store_del_below(s, 3, 0), 0);   /* nothing is below 0 */
	assert_int_equal(store_del_below(s, 7, 100), 0); /* no such kind */
	/* no kind 0: the scan lands on kind 1's small keys and must stop there */
	assert_int_equal(store_del_below(s, 0, 1000), 0);
	assert_int_equal(store_commit(s), 0);

	iterate_all(s, &rs);
	assert_int_equal(rs.n, 10 + 7 + 10);
	int i = 0;
	for (uint64_t k = 0; k < 10; k++, i++) {
		assert_int_equal(rs.r[i].kind, 1);
		assert_true(rs.r[i].key == k);
	}
	for (uint64_t k = 5; k < 10; k++, i++) {
		assert_int_equal(rs.r[i].kind, 2);
		assert_true(rs.r[i].key == k);
	}
	assert_true(rs.r[i].kind == 2 && rs.r[i].key == 256);
	i++;
	assert_true(rs.r[i].kind == 2 && rs.r[i].key == UINT64_MAX);
	i++;
	for (uint64_t k = 0; k < 10; k++, i++) {
		assert_int_equal(rs.r[i].kind, 3);
		assert_true(rs.r[i].key == k);
	}

	/* everything of a kind below the maximum: only the max key survives */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_del_below(s, 2, UINT64_MAX), 0);
	assert_int_equal(store_commit(s), 0);
	iterate_all(s, &rs);
	assert_int_equal(rs.n, 21);
	assert_true(rs.r[10].kind == 2 && rs.r[10].key == UINT64_MAX);
	assert_int_equal(rs.r[11].kind, 3);

	/* an aborted del_below deletes nothing */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_del_below(s, 1, 10), 0);
	store_abort(s);
	iterate_all(s, &rs);
	assert_int_equal(rs.n, 21);
	store_close(s);
}

static void test_persistence(void **state)
{
	struct tmp *t = *state;
	char v[64];

	struct store *s = open_or_fail(t->dir, 1, 0);
	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 1, "committed");
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 2, "aborted");
	assert_int_equal(store_del(s, 1, 1), 0);
	store_abort(s);
	/* reads inside a write transaction see its writes */
	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 3, "left open");
	assert_int_equal(get_str(s, 1, 3, v, sizeof(v)), 0);
	assert_string_equal(v, "left open");
	store_close(s); /* with the transaction still open: it is lost */

	s = open_or_fail(t->dir, 1, 0);
	assert_int_equal(get_str(s, 1, 1, v, sizeof(v)), 0);
	assert_string_equal(v, "committed");
	assert_int_equal(get_str(s, 1, 2, v, sizeof(v)), 1);
	assert_int_equal(get_str(s, 1, 3, v, sizeof(v)), 1);
	assert_true(store_file_bytes(s) > 0);
	store_close(s);

	/* the same data through a no-sync open */
	s = open_or_fail(t->dir, 0, 0);
	assert_int_equal(get_str(s, 1, 1, v, sizeof(v)), 0);
	assert_string_equal(v, "committed");
	assert_int_equal(store_begin(s), 0);
	put1(s, 5, 5, "nosync");
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	s = open_or_fail(t->dir, 1, 0);
	assert_int_equal(get_str(s, 5, 5, v, sizeof(v)), 0);
	assert_string_equal(v, "nosync");
	store_close(s);

	struct stat st;
	char path[PATH_MAX + 16];
	assert_int_equal(stat(t->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/data.mdb", t->dir);
	assert_int_equal(stat(path, &st), 0);
}

static void test_txn_misuse(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_or_fail(t->dir, 1, 0);
	char v[64];

	/* writes need a transaction */
	assert_int_equal(store_put(s, 1, 1, "x", 1), -1);
	assert_int_equal(store_del(s, 1, 1), -1);
	assert_int_equal(store_del_below(s, 1, 1), -1);
	assert_int_equal(store_commit(s), -1);
	assert_non_null(strstr(store_last_error(s), t->dir));
	store_abort(s); /* harmless without a transaction */

	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 1, "first");
	assert_int_equal(store_begin(s), -1);
	assert_non_null(strstr(store_last_error(s), "already open"));
	/* the first transaction is still open and commits */
	put1(s, 1, 2, "second");
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(get_str(s, 1, 1, v, sizeof(v)), 0);
	assert_int_equal(get_str(s, 1, 2, v, sizeof(v)), 0);
	assert_int_equal(store_commit(s), -1); /* already committed */
	store_close(s);
}

/* A full map fails the put with a clear error, poisons the transaction, and loses
 * nothing that was committed before. */
static void test_map_full(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_or_fail(t->dir, 0, 1u << 20);
	static char val[16384];
	char v[64];
	int rc = 0;

	memset(val, 'z', sizeof(val));
	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 0, "safe");
	assert_int_equal(store_commit(s), 0);

	assert_int_equal(store_begin(s), 0);
	uint64_t k;
	for (k = 1; k < 1000 && rc == 0; k++)
		rc = store_put(s, 2, k, val, sizeof(val));
	assert_int_equal(rc, -1);
	assert_non_null(strstr(store_last_error(s), "map full"));
	assert_non_null(strstr(store_last_error(s), t->dir));
	/* later calls fail too, and keep the first message */
	assert_int_equal(store_put(s, 1, 99, "x", 1), -1);
	assert_non_null(strstr(store_last_error(s), "map full"));
	assert_int_equal(store_commit(s), -1);
	assert_non_null(strstr(store_last_error(s), "map full"));

	/* nothing of the failed transaction is there; the store still works */
	assert_int_equal(get_str(s, 2, 1, v, sizeof(v)), 1);
	assert_int_equal(get_str(s, 1, 99, v, sizeof(v)), 1);
	assert_int_equal(get_str(s, 1, 0, v, sizeof(v)), 0);
	assert_string_equal(v, "safe");
	assert_int_equal(store_begin(s), 0);
	put1(s, 1, 1, "after");
	assert_int_equal(store_commit(s), 0);
	store_close(s);
}

static void test_open_errors(void **state)
{
	struct tmp *t = *state;
	char err[512] = "";
	char path[PATH_MAX + 16];
	struct store *s = (struct store *)1;

	/* a regular file where the directory should be */
	snprintf(path, sizeof(path), "%s/file", t->root);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(store_open(path, 1, 0, &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, path));

	/* nested directories are created */
	snprintf(path, sizeof(path), "%s/a/b/c", t->root);
	s = open_or_fail(path, 1, 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_iterate_order, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_del, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_del_below, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_persistence, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_txn_misuse, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_map_full, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, tmp_setup, tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
