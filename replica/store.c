/* store.c - the durable (kind, key) -> bytes log, in one LMDB environment.
 *
 * The environment lives in `dir` (data.mdb + lock.mdb) with one unnamed database.
 * Keys are 9 bytes, kind then key big-endian, so LMDB's default memcmp order is
 * (kind, key) order.  sync_full keeps LMDB's default durable commit (fsync on every
 * commit); otherwise MDB_NOSYNC|MDB_NOMETASYNC trade durability for speed.
 *
 * Single-threaded.  At most one write transaction is open at a time (store_begin
 * twice is an error).  A failed put/del poisons the transaction: later calls fail
 * without overwriting the first error, and store_commit aborts it and returns -1,
 * so a step is persisted entirely or not at all.  store_get and store_iterate read
 * through the open write transaction if there is one (LMDB allows a thread only one
 * transaction), and through a fresh read-only transaction otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "replica/store.h"

#define STORE_KEY_LEN 9
#define STORE_DEFAULT_MAP ((size_t)1 << 30)
#define STORE_ERR_LEN (PATH_MAX + 256)

struct store {
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;   /* the open write transaction, or NULL */
	int txn_failed; /* a call inside txn failed: commit must abort */
	size_t map_bytes;
	char dir[PATH_MAX];
	char err[STORE_ERR_LEN];
};

/* The message after "DIR: ".  No va_list on purpose: clang's analyzer (CI's clang-tidy,
 * clang-analyzer-valist.Unterminated) reported every variadic form of this helper as
 * leaking its va_list, on some runs and not others.  snprintf checks the format. */
static void set_err_msg(struct store *s, const char *msg)
{
	int n = snprintf(s->err, sizeof(s->err), "%s: ", s->dir);
	size_t used = n < 0 ? 0 : (size_t)n;
	if (used >= sizeof(s->err))
		return; /* the directory filled it: the message is cut */
	size_t k = strnlen(msg, sizeof(s->err) - used - 1);
	memcpy(s->err + used, msg, k);
	s->err[used + k] = '\0';
}

#define set_err(s, ...)                                    \
	do {                                               \
		char msg_[sizeof((s)->err)];               \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__); \
		set_err_msg((s), msg_);                    \
	} while (0)

/* Record an LMDB failure of operation `what`. */
static int mdb_fail(struct store *s, const char *what, int rc)
{
	if (rc == MDB_MAP_FULL)
		set_err(s,
			"%s: LMDB map full (map size %zu bytes); raise the map size or "
			"checkpoint more often",
			what, s->map_bytes);
	else
		set_err(s, "%s: %s", what, mdb_strerror(rc));
	return -1;
}

static void encode_key(uint8_t k[STORE_KEY_LEN], uint8_t kind, uint64_t key)
{
	k[0] = kind;
	for (int i = 0; i < 8; i++)
		k[1 + i] = (uint8_t)(key >> (56 - 8 * i));
}

static uint64_t decode_key(const uint8_t *k)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | k[1 + i];
	return v;
}

/* mkdir -p path with mode 0700 for every directory created. */
static int mkdir_p(const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: bad store directory path", path);
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: mkdir %s: %s", path, tmp, strerror(errno));
			return -1;
		}
		tmp[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	return 0;
}

static int open_env(struct store *s, int sync_full)
{
	int rc;
	MDB_txn *txn;
	unsigned flags = sync_full ? 0 : MDB_NOSYNC | MDB_NOMETASYNC;

	if ((rc = mdb_env_create(&s->env)) != 0) {
		s->env = NULL;
		return mdb_fail(s, "mdb_env_create", rc);
	}
	if ((rc = mdb_env_set_mapsize(s->env, s->map_bytes)) != 0)
		return mdb_fail(s, "mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(s->env, s->dir, flags, 0600)) != 0)
		return mdb_fail(s, "mdb_env_open", rc);
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return mdb_fail(s, "mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0) {
		mdb_txn_abort(txn);
		return mdb_fail(s, "mdb_dbi_open", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return mdb_fail(s, "mdb_txn_commit", rc);
	return 0;
}

int store_open(const char *dir, int sync_full, size_t map_bytes, struct store **out, char *err,
	       size_t errlen)
{
	*out = NULL;
	if (!dir || mkdir_p(dir, err, errlen))
		return -1;
	struct store *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->map_bytes = map_bytes ? map_bytes : STORE_DEFAULT_MAP;
	if (open_env(s, sync_full)) {
		snprintf(err, errlen, "%s", s->err);
		store_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->txn)
		mdb_txn_abort(s->txn);
	if (s->env)
		mdb_env_close(s->env);
	free(s);
}

const char *store_last_error(struct store *s)
{
	return s->err;
}

int store_begin(struct store *s)
{
	if (s->txn) {
		set_err(s, "store_begin: a write transaction is already open");
		return -1;
	}
	int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
	if (rc) {
		s->txn = NULL;
		return mdb_fail(s, "mdb_txn_begin", rc);
	}
	s->txn_failed = 0;
	return 0;
}

/* Is a healthy write transaction open?  Sets the error if not. */
static int txn_usable(struct store *s, const char *what)
{
	if (!s->txn) {
		set_err(s, "%s: no write transaction (call store_begin)", what);
		return 0;
	}
	return !s->txn_failed; /* keep the first error message */
}

static int txn_fail(struct store *s, const char *what, int rc)
{
	s->txn_failed = 1;
	return mdb_fail(s, what, rc);
}

int store_put(struct store *s, uint8_t kind, uint64_t key, const void *val, size_t len)
{
	uint8_t k[STORE_KEY_LEN];
	if (!txn_usable(s, "store_put"))
		return -1;
	encode_key(k, kind, key);
	MDB_val mk = {STORE_KEY_LEN, k};
	MDB_val mv = {len, (void *)val};
	int rc = mdb_put(s->txn, s->dbi, &mk, &mv, 0);
	return rc ? txn_fail(s, "mdb_put", rc) : 0;
}

int store_del(struct store *s, uint8_t kind, uint64_t key)
{
	uint8_t k[STORE_KEY_LEN];
	if (!txn_usable(s, "store_del"))
		return -1;
	encode_key(k, kind, key);
	MDB_val mk = {STORE_KEY_LEN, k};
	int rc = mdb_del(s->txn, s->dbi, &mk, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? txn_fail(s, "mdb_del", rc) : 0;
}

int store_del_below(struct store *s, uint8_t kind, uint64_t below)
{
	uint8_t start[STORE_KEY_LEN];
	MDB_cursor *cur;
	int rc;

	if (!txn_usable(s, "store_del_below"))
		return -1;
	if ((rc = mdb_cursor_open(s->txn, s->dbi, &cur)) != 0)
		return txn_fail(s, "mdb_cursor_open", rc);
	encode_key(start, kind, 0);
	/* Re-seek after every delete: simple, and avoids relying on where LMDB leaves
	 * a cursor after mdb_cursor_del. */
	for (;;) {
		MDB_val mk = {STORE_KEY_LEN, start}, mv;
		rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		const uint8_t *k = mk.mv_data;
		if (mk.mv_size != STORE_KEY_LEN || k[0] != kind || decode_key(k) >= below)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc ? txn_fail(s, "store_del_below", rc) : 0;
}

int store_commit(struct store *s)
{
	if (!s->txn) {
		set_err(s, "store_commit: no write transaction");
		return -1;
	}
	MDB_txn *txn = s->txn;
	s->txn = NULL;
	if (s->txn_failed) {
		mdb_txn_abort(txn); /* s->err still says what failed */
		return -1;
	}
	int rc = mdb_txn_commit(txn); /* frees txn even on failure */
	return rc ? mdb_fail(s, "mdb_txn_commit", rc) : 0;
}

void store_abort(struct store *s)
{
	if (s->txn)
		mdb_txn_abort(s->txn);
	s->txn = NULL;
	s->txn_failed = 0;
}

/* A transaction to read with: the open write one, or a new read-only one that
 * *own says to abort afterwards. */
static int read_txn(struct store *s, MDB_txn **txn, int *own)
{
	*own = 0;
	if (s->txn) {
		*txn = s->txn;
		return 0;
	}
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
	if (rc)
		return mdb_fail(s, "mdb_txn_begin(read)", rc);
	*own = 1;
	return 0;
}

int store_get(struct store *s, uint8_t kind, uint64_t key, void *val, size_t cap, size_t *len)
{
	uint8_t k[STORE_KEY_LEN];
	MDB_txn *txn;
	int own, ret = 0;

	*len = 0;
	if (read_txn(s, &txn, &own))
		return -1;
	encode_key(k, kind, key);
	MDB_val mk = {STORE_KEY_LEN, k}, mv;
	int rc = mdb_get(txn, s->dbi, &mk, &mv);
	if (rc == MDB_NOTFOUND) {
		ret = 1;
	} else if (rc) {
		ret = mdb_fail(s, "mdb_get", rc);
	} else {
		*len = mv.mv_size;
		if (cap && mv.mv_size)
			memcpy(val, mv.mv_data, mv.mv_size < cap ? mv.mv_size : cap);
	}
	if (own)
		mdb_txn_abort(txn);
	return ret;
}

int store_iterate(struct store *s, store_visit_fn cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val mk, mv;
	int own, rc, ret = 0;

	if (read_txn(s, &txn, &own))
		return -1;
	if ((rc = mdb_cursor_open(txn, s->dbi, &cur)) != 0) {
		ret = mdb_fail(s, "mdb_cursor_open", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &mk, &mv, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
		if (mk.mv_size != STORE_KEY_LEN) {
			set_err(s, "store_iterate: record with a %zu-byte key (not ours?)",
				mk.mv_size);
			ret = -1;
			break;
		}
		const uint8_t *k = mk.mv_data;
		ret = cb(arg, k[0], decode_key(k), mv.mv_data, mv.mv_size);
		if (ret)
			break;
	}
	if (rc && rc != MDB_NOTFOUND)
		ret = mdb_fail(s, "mdb_cursor_get", rc);
	mdb_cursor_close(cur);
out:
	if (own)
		mdb_txn_abort(txn);
	return ret;
}

long long store_file_bytes(struct store *s)
{
	char path[PATH_MAX + 16];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
	if (stat(path, &st) != 0) {
		set_err(s, "stat data.mdb: %s", strerror(errno));
		return -1;
	}
	return (long long)st.st_size;
}
