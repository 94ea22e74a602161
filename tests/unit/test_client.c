/* test_client.c - the client library without real replicas.
 *
 * Pure parts: argument parsing, the reply quorum (pbft f+1 / 2f+1, vr, single, view
 * adoption), timestamp persistence, result rendering, percentiles.
 * Transport parts: the test itself plays the replicas on inproc:// PAIR1 (poly)
 * listeners with real keys, so HELLO, primary-first sending, retransmission to all,
 * f+1 acceptance with a liar, garbage counting, timeouts and status are exercised on
 * the real code paths.  Time for retransmit/timeout decisions is passed in (virtual);
 * the only waiting is for messages to arrive (poll / recv with a bound), never a sleep.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>

#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>

#include "client/client.h"
#include "crypto/crypto.h"
#include "crypto/auth.h"
#include "replica/kv.h"

#define CID 0xB12Au

/* ------------------------------------------------------------- helpers */

static char *make_tmpdir(void)
{
	const char *base = getenv("BYZLAB_TMP");
	char tmpl[1024];

	if (base && *base) {
		mkdir(base, 0700);
		snprintf(tmpl, sizeof(tmpl), "%s/client-XXXXXX", base);
	} else {
		snprintf(tmpl, sizeof(tmpl), "/tmp/byzlab-client-XXXXXX");
	}
	assert_non_null(mkdtemp(tmpl));
	return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ------------------------------------------------------------- parsing */

static void test_parse_u32(void **state)
{
	uint32_t v = 7;

	(void)state;
	assert_int_equal(client_parse_u32("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(client_parse_u32("4294967295", 0, UINT32_MAX, &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(client_parse_u32("4294967296", 0, UINT32_MAX, &v), -1);
	assert_int_equal(client_parse_u32("99999999999999999999999", 0, UINT32_MAX, &v), -1);
	assert_int_equal(client_parse_u32("", 0, 10, &v), -1);
	assert_int_equal(client_parse_u32(NULL, 0, 10, &v), -1);
	assert_int_equal(client_parse_u32("-1", 0, 10, &v), -1);
	assert_int_equal(client_parse_u32("+1", 0, 10, &v), -1);
	assert_int_equal(client_parse_u32("12x", 0, 100, &v), -1);
	assert_int_equal(client_parse_u32(" 1", 0, 100, &v), -1);
	assert_int_equal(client_parse_u32("11", 0, 10, &v), -1);
	assert_int_equal(client_parse_u32("0", 1, 10, &v), -1);
	assert_int_equal(v, UINT32_MAX); /* untouched on failure */
}

/* -------------------------------------------------------------- quorum */

static const uint8_t OK_RES[] = {KV_OK, 'v'};
static const uint8_t LIE_RES[] = {KV_OK, 'x'};

static void test_quorum_pbft(void **state)
{
	struct client_quorum q;

	(void)state;
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 5, 100, 0);
	assert_int_equal(q.need, 2);
	/* other client, other timestamp, sender out of range, oversized result: ignored */
	assert_int_equal(client_quorum_add(&q, 0, 0, 6, 100, OK_RES, 2), -1);
	assert_int_equal(client_quorum_add(&q, 0, 0, 5, 99, OK_RES, 2), -1);
	assert_int_equal(client_quorum_add(&q, 4, 0, 5, 100, OK_RES, 2), -1);
	assert_int_equal(client_quorum_add(&q, 1, 0, 5, 100, OK_RES, WIRE_MAX_RESULT + 1), -1);
	/* one reply is not enough, nor the same replica twice */
	assert_int_equal(client_quorum_add(&q, 1, 0, 5, 100, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 5, 100, OK_RES, 2), 0);
	/* a liar's different result does not match */
	assert_int_equal(client_quorum_add(&q, 3, 0, 5, 100, LIE_RES, 2), 0);
	/* prefix of the result is not byte-identical */
	assert_int_equal(client_quorum_add(&q, 2, 0, 5, 100, OK_RES, 1), 0);
	assert_false(q.done);
	/* replica 2 corrects itself: its later reply replaces the earlier one */
	assert_int_equal(client_quorum_add(&q, 2, 0, 5, 100, OK_RES, 2), 1);
	assert_true(q.done);
	assert_int_equal(q.res[q.winner].len, 2);
	assert_memory_equal(q.res[q.winner].p, OK_RES, 2);
	/* once accepted, stays accepted */
	assert_int_equal(client_quorum_add(&q, 0, 0, 5, 100, LIE_RES, 2), 1);
	assert_memory_equal(q.res[q.winner].p, OK_RES, 2);
	client_quorum_free(&q);
}

static void test_quorum_pbft_liars_agree(void **state)
{
	struct client_quorum q;

	(void)state;
	/* f = 2: two liars agreeing are not f+1; a third (honest) one settles nothing
	 * until a second honest reply matches it. */
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_PBFT, 7, 2, 1, 7, 0);
	assert_int_equal(q.need, 3);
	assert_int_equal(client_quorum_add(&q, 5, 0, 1, 7, LIE_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 6, 0, 1, 7, LIE_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 0, 0, 1, 7, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 1, 7, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 2, 0, 1, 7, OK_RES, 2), 1);
	assert_memory_equal(q.res[q.winner].p, OK_RES, 2);
	/* empty results match too */
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 1, 8, 0);
	assert_int_equal(client_quorum_add(&q, 0, 0, 1, 8, NULL, 0), 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 1, 8, OK_RES, 0), 1);
	client_quorum_free(&q);
}

static void test_quorum_readonly(void **state)
{
	struct client_quorum q;

	(void)state;
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 1, 1);
	assert_int_equal(q.need, 3);
	assert_int_equal(client_quorum_add(&q, 0, 0, 0, 1, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 0, 1, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 2, 0, 0, 1, OK_RES, 2), 1);
	client_quorum_free(&q);
}

/* PBFT §5.1.1, digest replies: digests vouch for a full result only when they match it;
 * digests alone never complete a request, and a liar's full result does not win. */
static void test_quorum_digest_replies(void **state)
{
	uint8_t ok_dg[WIRE_DIGEST_LEN], lie_dg[WIRE_DIGEST_LEN];
	struct client_quorum q;

	(void)state;
	crypto_digest(OK_RES, sizeof(OK_RES), ok_dg);
	crypto_digest(LIE_RES, sizeof(LIE_RES), lie_dg);
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 1, 0);
	/* the designated replier lies in full; two correct digests disagree with it */
	assert_int_equal(client_quorum_add_kind(&q, 3, 0, 0, 1, REPLY_FULL, LIE_RES, 2), 0);
	assert_int_equal(client_quorum_add_kind(&q, 0, 0, 0, 1, REPLY_DIGEST, ok_dg, 32), 0);
	assert_int_equal(client_quorum_add_kind(&q, 1, 0, 0, 1, REPLY_DIGEST, ok_dg, 32), 0);
	assert_false(q.done); /* f+1 matching digests, but nobody sent that result */
	/* a retransmission brings a correct full result: it matches the digests */
	assert_int_equal(client_quorum_add_kind(&q, 2, 0, 0, 1, REPLY_FULL, OK_RES, 2), 1);
	assert_int_equal(q.winner, 2);
	assert_memory_equal(q.res[q.winner].p, OK_RES, 2);
	/* a liar's digest of its own lie plus its full lie are still one replica */
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 2, 0);
	assert_int_equal(client_quorum_add_kind(&q, 3, 0, 0, 2, REPLY_DIGEST, lie_dg, 32), 0);
	assert_int_equal(client_quorum_add_kind(&q, 3, 0, 0, 2, REPLY_FULL, LIE_RES, 2), 0);
	/* the full reply may come first, digests after */
	assert_int_equal(client_quorum_add_kind(&q, 0, 0, 0, 2, REPLY_FULL, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add_kind(&q, 1, 0, 0, 2, REPLY_DIGEST, ok_dg, 32), 1);
	assert_int_equal(q.winner, 0);
	/* malformed digests and digests for vr are ignored */
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 3, 0);
	assert_int_equal(client_quorum_add_kind(&q, 0, 0, 0, 3, REPLY_DIGEST, ok_dg, 31), -1);
	client_quorum_reset(&q, PROTO_VR, 3, 1, 0, 4, 0);
	assert_int_equal(client_quorum_add_kind(&q, 0, 0, 0, 4, REPLY_DIGEST, ok_dg, 32), -1);
	client_quorum_free(&q);
}

/* PBFT §5.1.3: the client retries a read-only request as read-write as soon as no
 * result can reach 2f+1 matching replies any more. */
static void test_quorum_hopeless(void **state)
{
	static const uint8_t OLD_RES[] = {KV_OK, 'o'};
	struct client_quorum q;

	(void)state;
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 1, 1);
	assert_false(client_quorum_hopeless(&q)); /* nothing yet */
	assert_int_equal(client_quorum_add(&q, 0, 0, 0, 1, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 0, 1, OLD_RES, 2), 0);
	assert_false(client_quorum_hopeless(&q)); /* 1 + 2 missing = 3 still possible */
	assert_int_equal(client_quorum_add(&q, 2, 0, 0, 1, LIE_RES, 2), 0);
	assert_true(client_quorum_hopeless(&q)); /* best 1 + 1 missing < 3 */
	/* read-write (f+1 = 2): two different results and two missing are not hopeless */
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 2, 0);
	assert_int_equal(client_quorum_add(&q, 0, 0, 0, 2, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 0, 2, OLD_RES, 2), 0);
	assert_false(client_quorum_hopeless(&q));
	/* vr and single never are: one reply decides */
	client_quorum_reset(&q, PROTO_VR, 3, 1, 0, 3, 0);
	assert_false(client_quorum_hopeless(&q));
	client_quorum_free(&q);
}

static void test_quorum_vr_single(void **state)
{
	struct client_quorum q;

	(void)state;
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_VR, 3, 1, 0, 1, 0);
	/* a backup's reply does not count, nor the primary of another view */
	assert_int_equal(client_quorum_add(&q, 1, 0, 0, 1, OK_RES, 2), -1);
	assert_int_equal(client_quorum_add(&q, 0, 4, 0, 1, OK_RES, 2), -1);
	/* the primary of view 4 (4 mod 3 = 1) */
	assert_int_equal(client_quorum_add(&q, 1, 4, 0, 1, OK_RES, 2), 1);
	assert_int_equal(client_quorum_view(&q), 4);

	client_quorum_reset(&q, PROTO_SINGLE, 1, 0, 0, 2, 0);
	assert_int_equal(client_quorum_add(&q, 1, 0, 0, 2, OK_RES, 2), -1);
	assert_int_equal(client_quorum_add(&q, 0, 0, 0, 2, OK_RES, 2), 1);
	client_quorum_free(&q);
}

static void test_quorum_view(void **state)
{
	struct client_quorum q;

	(void)state;
	client_quorum_init(&q);
	client_quorum_reset(&q, PROTO_PBFT, 4, 1, 0, 1, 0);
	assert_int_equal(client_quorum_view(&q), 0); /* nothing accepted yet */
	/* a liar claims view 1000: with f = 1 the adopted view is the 2nd highest */
	assert_int_equal(client_quorum_add(&q, 3, 1000, 0, 1, OK_RES, 2), 0);
	assert_int_equal(client_quorum_add(&q, 0, 2, 0, 1, OK_RES, 2), 1);
	assert_int_equal(client_quorum_view(&q), 2);
	client_quorum_free(&q);
}

/* ---------------------------------------------------------- timestamps */

static void test_ts_persist(void **state)
{
	char *dir = make_tmpdir(), sub[1100], path[1200];
	struct client_ts t;
	uint64_t a, b, c;
	FILE *f;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/a/b/state", dir); /* created with parents */
	client_ts_open(&t, sub, 3, 0);
	assert_true(t.path[0] != '\0');
	a = client_ts_next(&t, 1000);
	assert_int_equal(a, 1000);
	/* the clock stands still or goes back: still increasing */
	b = client_ts_next(&t, 1000);
	assert_int_equal(b, 1001);
	c = client_ts_next(&t, 5);
	assert_int_equal(c, 1002);

	/* a new "invocation" with the same id and a clock that went back */
	client_ts_open(&t, sub, 3, 0);
	assert_int_equal(client_ts_next(&t, 10), 1003);
	/* another id is independent */
	client_ts_open(&t, sub, 4, 0);
	assert_int_equal(client_ts_next(&t, 10), 10);

	/* a corrupt state file is ignored: the clock decides */
	snprintf(path, sizeof(path), "%s/client-3.ts", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("12ab\n", f);
	fclose(f);
	client_ts_open(&t, sub, 3, 0);
	assert_int_equal(client_ts_next(&t, 77), 77);
	/* absurdly high values too (they would wrap) */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("18446744073709551615\n", f);
	fclose(f);
	client_ts_open(&t, sub, 3, 0);
	assert_int_equal(client_ts_next(&t, 78), 78);
	rm_rf(dir);
	free(dir);
}

static void test_ts_lease(void **state)
{
	char *dir = make_tmpdir();
	struct client_ts t;
	struct stat st1, st2;
	char path[1200];

	(void)state;
	client_ts_open(&t, dir, 0, 1000);
	assert_int_equal(client_ts_next(&t, 100), 100);
	snprintf(path, sizeof(path), "%s/client-0.ts", dir);
	assert_int_equal(stat(path, &st1), 0);
	/* within the lease: no new file (rename would change the inode) */
	assert_int_equal(client_ts_next(&t, 500), 500);
	assert_int_equal(client_ts_next(&t, 1100), 1100);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	/* past it: persisted again */
	assert_int_equal(client_ts_next(&t, 1101), 1101);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	/* the next invocation starts above everything leased */
	client_ts_open(&t, dir, 0, 0);
	assert_int_equal(client_ts_next(&t, 1200), 2102);
	rm_rf(dir);
	free(dir);
}

static void test_ts_unusable_dir(void **state)
{
	char *dir = make_tmpdir(), file[1100], sub[1200];
	struct client_ts t;
	FILE *f;

	(void)state;
	/* the "directory" is below a regular file: cannot be created */
	snprintf(file, sizeof(file), "%s/plainfile", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(sub, sizeof(sub), "%s/x", file);
	client_ts_open(&t, sub, 1, 0);
	assert_int_equal(t.path[0], '\0');
	assert_int_equal(client_ts_next(&t, 50), 50);
	assert_int_equal(client_ts_next(&t, 50), 51);
	client_ts_open(&t, NULL, 1, 0);
	assert_int_equal(client_ts_next(&t, 9), 9);
	rm_rf(dir);
	free(dir);
}

static void test_state_dir(void **state)
{
	struct config c;
	char out[CONFIG_PATH_MAX];

	(void)state;
	memset(&c, 0, sizeof(c));
	strcpy(c.dir, "/etc/cluster");
	unsetenv("BYZLAB_CLIENT_STATE");
	assert_int_equal(client_state_dir(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/cluster/clientstate");
	setenv("BYZLAB_CLIENT_STATE", "/var/x", 1);
	assert_int_equal(client_state_dir(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "/var/x");
	assert_int_equal(client_state_dir(&c, out, 4), -1);
	unsetenv("BYZLAB_CLIENT_STATE");
}

/* ------------------------------------------------------ result printing */

struct captured {
	char *out, *err;
	size_t out_len, err_len;
	int rc;
};

static void capture(enum client_cmd cmd, const uint8_t *res, size_t len, struct captured *c)
{
	FILE *o, *e;

	free(c->out);
	free(c->err);
	memset(c, 0, sizeof(*c));
	o = open_memstream(&c->out, &c->out_len);
	e = open_memstream(&c->err, &c->err_len);
	assert_non_null(o);
	assert_non_null(e);
	c->rc = client_print_result(cmd, res, len, o, e);
	fclose(o);
	fclose(e);
}

static void test_print_result(void **state)
{
	struct captured c = {0};
	const uint8_t ok[] = {KV_OK}, nf[] = {KV_NOT_FOUND}, full[] = {KV_FULL};
	const uint8_t val[] = {KV_OK, 'h', 'i'}, casf[] = {KV_CAS_FAILED, 'c', 'u'};
	const uint8_t bad[] = {KV_BAD_OP}, weird[] = {77};

	(void)state;
	capture(CLIENT_CMD_PUT, ok, 1, &c);
	assert_int_equal(c.rc, 0);
	assert_string_equal(c.out, "OK\n");
	assert_int_equal(c.err_len, 0);
	capture(CLIENT_CMD_GET, val, 3, &c);
	assert_int_equal(c.rc, 0);
	assert_string_equal(c.out, "hi\n");
	capture(CLIENT_CMD_GET, ok, 1, &c); /* empty value */
	assert_int_equal(c.rc, 0);
	assert_string_equal(c.out, "\n");
	capture(CLIENT_CMD_GET, nf, 1, &c);
	assert_int_equal(c.rc, 1);
	assert_int_equal(c.out_len, 0);
	assert_string_equal(c.err, "NOT_FOUND\n");
	capture(CLIENT_CMD_DEL, nf, 1, &c);
	assert_int_equal(c.rc, 0);
	assert_string_equal(c.out, "OK\n");
	capture(CLIENT_CMD_CAS, ok, 1, &c);
	assert_int_equal(c.rc, 0);
	assert_string_equal(c.out, "OK\n");
	capture(CLIENT_CMD_CAS, casf, 3, &c);
	assert_int_equal(c.rc, 1);
	assert_string_equal(c.err, "CAS_FAILED current=cu\n");
	capture(CLIENT_CMD_CAS, casf, 1, &c);
	assert_string_equal(c.err, "CAS_FAILED current=\n");
	capture(CLIENT_CMD_PUT, full, 1, &c);
	assert_int_equal(c.rc, 1);
	assert_non_null(strstr(c.err, "FULL"));
	capture(CLIENT_CMD_PUT, bad, 1, &c);
	assert_int_equal(c.rc, 1);
	capture(CLIENT_CMD_PUT, val, 3, &c); /* put with trailing bytes: malformed */
	assert_int_equal(c.rc, 1);
	assert_int_equal(c.out_len, 0);
	capture(CLIENT_CMD_GET, weird, 1, &c);
	assert_int_equal(c.rc, 1);
	capture(CLIENT_CMD_GET, NULL, 0, &c);
	assert_int_equal(c.rc, 1);
	free(c.out);
	free(c.err);
}

static void test_percentile(void **state)
{
	uint32_t v[100];
	uint32_t i;

	(void)state;
	for (i = 0; i < 100; i++)
		v[i] = i + 1;
	assert_int_equal(client_percentile(v, 100, 50), 50);
	assert_int_equal(client_percentile(v, 100, 99), 99);
	assert_int_equal(client_percentile(v, 100, 100), 100);
	assert_int_equal(client_percentile(v, 100, 0), 1);
	assert_int_equal(client_percentile(v, 1, 99), 1);
	assert_int_equal(client_percentile(v, 3, 50), 2);
	assert_int_equal(client_percentile(v, 0, 50), 0);
}

/* ------------------------------------------------- fake replicas (inproc) */

struct fake {
	char *dir;
	struct config cfg;
	struct auth_ctx rep[WIRE_MAX_REPLICAS];
	nng_socket sock[WIRE_MAX_REPLICAS];
	nng_pipe pipe[WIRE_MAX_REPLICAS]; /* the client's connection, from its HELLO */
	struct bz_client *cl;
};

static int url_seq;

static void fake_setup(struct fake *fk, enum protocol p, uint32_t f, int auth)
{
	char err[512];
	uint32_t i;

	memset(fk, 0, sizeof(*fk));
	fk->dir = make_tmpdir();
	fk->cfg.protocol = p;
	fk->cfg.f = f;
	fk->cfg.n = protocol_n(p, f);
	fk->cfg.cluster_id = CID;
	fk->cfg.auth = auth;
	fk->cfg.clients = 8;
	snprintf(fk->cfg.dir, sizeof(fk->cfg.dir), "%s", fk->dir);
	snprintf(fk->cfg.path, sizeof(fk->cfg.path), "%s/cluster.ini", fk->dir);
	snprintf(fk->cfg.keys, sizeof(fk->cfg.keys), "%s/keys", fk->dir);
	assert_int_equal(crypto_setup(), 0);
	assert_int_equal(key_generate_all(fk->cfg.keys, (int)fk->cfg.n, 8, err, sizeof(err)), 0);
	url_seq++;
	for (i = 0; i < fk->cfg.n; i++) {
		snprintf(fk->cfg.replica[i].client, CONFIG_ADDR_MAX, "inproc://bzc-%d-%d-c%u",
			 (int)getpid(), url_seq, i);
		snprintf(fk->cfg.replica[i].admin, CONFIG_ADDR_MAX, "inproc://bzc-%d-%d-a%u",
			 (int)getpid(), url_seq, i);
		assert_int_equal(auth_load(&fk->rep[i], (enum auth_mode)auth, fk->cfg.keys,
					   fk->cfg.n, 8, 0, i, err, sizeof(err)),
				 0);
		/* as the replica does: NNG_OPT_PAIR1_POLY is read-only in nng 1.5 */
		assert_int_equal(nng_pair1_open_poly(&fk->sock[i]), 0);
		assert_int_equal(nng_socket_set_ms(fk->sock[i], NNG_OPT_RECVTIMEO, 5000), 0);
		assert_int_equal(nng_listen(fk->sock[i], fk->cfg.replica[i].client, NULL, 0), 0);
	}
}

static void fake_teardown(struct fake *fk)
{
	uint32_t i;

	client_close(fk->cl);
	for (i = 0; i < fk->cfg.n; i++) {
		nng_close(fk->sock[i]);
		auth_free(&fk->rep[i]);
	}
	rm_rf(fk->dir);
	free(fk->dir);
}

/* Replica i receives one message (bounded wait), checks type and authenticity. */
static nng_msg *fake_recv(struct fake *fk, uint32_t i, int type, struct msg *m)
{
	nng_msg *nm;

	assert_int_equal(nng_recvmsg(fk->sock[i], &nm, 0), 0);
	assert_int_equal(wire_decode(nng_msg_body(nm), nng_msg_len(nm), CID, m), WIRE_OK);
	assert_int_equal(m->h.type, type);
	assert_int_equal(auth_verify(&fk->rep[i], m), 0);
	return nm;
}

static void fake_expect_hellos(struct fake *fk, uint32_t client)
{
	struct msg m;
	nng_msg *nm;
	uint32_t i;

	for (i = 0; i < fk->cfg.n; i++) {
		nm = fake_recv(fk, i, MSG_HELLO, &m);
		assert_int_equal(m.h.sender, client);
		fk->pipe[i] = nng_msg_get_pipe(nm);
		nng_msg_free(nm);
	}
}

/* Replica i receives the client's REQUEST; returns its timestamp. */
static uint64_t fake_expect_request(struct fake *fk, uint32_t i, uint32_t client,
				    const struct buf *op)
{
	struct msg m;
	nng_msg *nm = fake_recv(fk, i, MSG_REQUEST, &m);
	uint64_t ts = m.u.req.timestamp;

	assert_int_equal(m.h.sender, client);
	assert_int_equal(m.u.req.op_len, op->len);
	assert_memory_equal(m.u.req.op, op->p, op->len);
	nng_msg_free(nm);
	return ts;
}

static void fake_send_raw(struct fake *fk, uint32_t i, const uint8_t *p, size_t len)
{
	nng_msg *nm;

	assert_int_equal(nng_msg_alloc(&nm, len), 0);
	memcpy(nng_msg_body(nm), p, len);
	nng_msg_set_pipe(nm, fk->pipe[i]);
	assert_int_equal(nng_sendmsg(fk->sock[i], nm, 0), 0);
}

/* Replica `i` (sealing with its own key, but claiming `sender`) replies. */
static void fake_reply(struct fake *fk, uint32_t i, uint32_t sender, uint64_t view, uint32_t client,
		       uint64_t ts, const uint8_t *res, size_t len)
{
	struct buf b;
	size_t off;

	buf_init(&b);
	off = wire_put_reply(&b, CID, sender, view, client, ts, res, (uint32_t)len);
	assert_int_equal(auth_seal(&fk->rep[i], &b, off), 0);
	fake_send_raw(fk, i, b.p, b.len);
	buf_free(&b);
}

/* Poll the client until pred holds (bounded by 5 s of real waiting). */
static void pump_until(struct bz_client *cl, int (*pred)(struct bz_client *, uint64_t),
		       uint64_t arg)
{
	struct pollfd pfd[WIRE_MAX_REPLICAS];
	int fds[WIRE_MAX_REPLICAS];
	size_t n = client_fds(cl, fds, WIRE_MAX_REPLICAS), i;
	uint64_t end = client_mono_us() + 5000000;

	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	while (!pred(cl, arg)) {
		assert_true(client_mono_us() < end);
		poll(pfd, n, 100);
		client_on_readable(cl, 0);
	}
}

static int replies_at_least(struct bz_client *cl, uint64_t k)
{
	return client_get_stats(cl)->replies >= k;
}

static int bad_at_least(struct bz_client *cl, uint64_t k)
{
	return client_get_stats(cl)->bad >= k;
}

static int not_pending(struct bz_client *cl, uint64_t unused)
{
	(void)unused;
	return client_state(cl) != CLIENT_PENDING;
}

static void pbft_round_trip(int auth)
{
	struct fake fk;
	struct buf op;
	char err[512];
	const uint8_t *res;
	size_t len;
	uint64_t ts, ts2, t0 = 1000000000;
	uint32_t i;

	fake_setup(&fk, PROTO_PBFT, 1, auth);
	setenv("BYZLAB_CLIENT_STATE", fk.dir, 1);
	assert_int_equal(client_open(&fk.cfg, 2, 1000, &fk.cl, err, sizeof(err)), 0);
	fake_expect_hellos(&fk, 2);
	buf_init(&op);
	assert_int_equal(kv_op_put(&op, "k", 1, "v", 1), 0);

	/* first send: the presumed primary (view 0 -> replica 0) */
	assert_int_equal(client_submit(fk.cl, op.p, op.len, 0, t0), 0);
	assert_int_equal(client_submit(fk.cl, op.p, op.len, 0, t0), -1); /* busy */
	ts = fake_expect_request(&fk, 0, 2, &op);
	assert_int_equal(ts, client_timestamp(fk.cl));

	/* garbage and a forged reply (replica 3 claiming to be 1) are counted, ignored */
	fake_send_raw(&fk, 0, (const uint8_t *)"garbage", 7);
	fake_reply(&fk, 3, 1, 0, 2, ts, LIE_RES, 2);
	pump_until(fk.cl, bad_at_least, 2);
	/* a reply for another timestamp is stale */
	fake_reply(&fk, 0, 0, 0, 2, ts - 1, OK_RES, 2);
	/* the liar and one honest replica: f+1 = 2 replies but they do not match */
	fake_reply(&fk, 3, 3, 0, 2, ts, LIE_RES, 2);
	fake_reply(&fk, 0, 0, 0, 2, ts, OK_RES, 2);
	pump_until(fk.cl, replies_at_least, 2);
	assert_int_equal(client_state(fk.cl), CLIENT_PENDING);
	assert_true(client_get_stats(fk.cl)->stale >= 1);
	/* a second honest replica: accepted */
	fake_reply(&fk, 1, 1, 0, 2, ts, OK_RES, 2);
	pump_until(fk.cl, not_pending, 0);
	assert_int_equal(client_state(fk.cl), CLIENT_DONE);
	res = client_result(fk.cl, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(res, OK_RES, 2);

	/* next request: no answer from the primary -> after the RTO, everyone gets the
	 * very same request (same timestamp) */
	assert_int_equal(client_submit(fk.cl, op.p, op.len, 0, t0), 0);
	ts2 = fake_expect_request(&fk, 0, 2, &op);
	assert_true(ts2 > ts);
	assert_int_equal(client_on_tick(fk.cl, t0 + 1000), CLIENT_PENDING);
	assert_int_equal(client_get_stats(fk.cl)->retransmits, 0);
	assert_int_equal(client_next_deadline(fk.cl), t0 + CLIENT_RTO_MS * 1000);
	assert_int_equal(client_on_tick(fk.cl, t0 + CLIENT_RTO_MS * 1000), CLIENT_PENDING);
	assert_int_equal(client_get_stats(fk.cl)->retransmits, 1);
	for (i = 0; i < fk.cfg.n; i++)
		assert_int_equal(fake_expect_request(&fk, i, 2, &op), ts2);
	/* the interval doubles */
	assert_int_equal(client_next_deadline(fk.cl), t0 + 3 * CLIENT_RTO_MS * 1000);
	/* and at the deadline the client gives up */
	assert_int_equal(client_on_tick(fk.cl, t0 + 1000 * 1000), CLIENT_TIMEOUT);
	assert_int_equal(client_get_stats(fk.cl)->timeouts, 1);
	assert_int_equal(client_result(fk.cl, &len) != NULL || len == 0, 1);
	assert_int_equal(len, 0);

	/* a reopened client with the same id continues above the last timestamp */
	client_close(fk.cl);
	assert_int_equal(client_open(&fk.cfg, 2, 1000, &fk.cl, err, sizeof(err)), 0);
	fake_expect_hellos(&fk, 2);
	assert_int_equal(client_submit(fk.cl, op.p, op.len, 0, t0), 0);
	assert_true(fake_expect_request(&fk, 0, 2, &op) > ts2);
	buf_free(&op);
	unsetenv("BYZLAB_CLIENT_STATE");
	fake_teardown(&fk);
}

static void test_pbft_sig(void **state)
{
	(void)state;
	pbft_round_trip(AUTH_MODE_SIG);
}

static void test_pbft_mac(void **state)
{
	(void)state;
	pbft_round_trip(AUTH_MODE_MAC);
}

/* vr: the view learned from the primary's reply picks the next destination. */
static void test_vr_view(void **state)
{
	struct fake fk;
	struct buf op;
	char err[512];
	uint64_t ts;

	(void)state;
	fake_setup(&fk, PROTO_VR, 1, AUTH_MODE_SIG);
	setenv("BYZLAB_CLIENT_STATE", fk.dir, 1);
	assert_int_equal(client_open(&fk.cfg, 0, 1000, &fk.cl, err, sizeof(err)), 0);
	fake_expect_hellos(&fk, 0);
	buf_init(&op);
	assert_int_equal(kv_op_get(&op, "k", 1), 0);
	assert_int_equal(client_submit(fk.cl, op.p, op.len, 0, 0), 0);
	ts = fake_expect_request(&fk, 0, 0, &op);
	/* a backup's reply is not the answer */
	fake_reply(&fk, 2, 2, 1, 0, ts, LIE_RES, 2);
	pump_until(fk.cl, bad_at_least, 0);
	/* the primary of view 1 (replica 1) answers */
	fake_reply(&fk, 1, 1, 1, 0, ts, OK_RES, 2);
	pump_until(fk.cl, not_pending, 0);
	assert_int_equal(client_state(fk.cl), CLIENT_DONE);
	assert_int_equal(client_view(fk.cl), 1);
	/* the next request goes to replica 1 first */
	assert_int_equal(client_submit(fk.cl, op.p, op.len, 0, 0), 0);
	assert_true(fake_expect_request(&fk, 1, 0, &op) > ts);
	buf_free(&op);
	unsetenv("BYZLAB_CLIENT_STATE");
	fake_teardown(&fk);
}

static void test_open_errors(void **state)
{
	struct fake fk;
	struct bz_client *cl = (struct bz_client *)1;
	char err[512], path[1200];

	(void)state;
	fake_setup(&fk, PROTO_PBFT, 1, AUTH_MODE_SIG);
	/* id beyond [cluster] clients */
	assert_int_equal(client_open(&fk.cfg, 8, 1000, &cl, err, sizeof(err)), -1);
	assert_null(cl);
	assert_non_null(strstr(err, "client id 8"));
	/* own secret key missing */
	snprintf(path, sizeof(path), "%s/client-3.key", fk.cfg.keys);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(client_open(&fk.cfg, 3, 1000, &cl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client-3.key"));
	fake_teardown(&fk);
}

/* ---------------------------------------------------------------- status */

/* A fake admin endpoint served from nng's callback thread (REP: recv, then send),
 * because client_status() is synchronous. */
struct rep_server {
	nng_socket s;
	nng_aio *aio;
	int sending;
	int got_type; /* type of the request received (written before answering) */
	const uint8_t *resp;
	size_t len;
};

static void rep_cb(void *arg)
{
	struct rep_server *r = arg;
	struct msg m;
	nng_msg *nm;

	if (nng_aio_result(r->aio) != 0) {
		if (r->sending)
			nng_msg_free(nng_aio_get_msg(r->aio));
		return;
	}
	if (r->sending) {
		r->sending = 0;
		nng_recv_aio(r->s, r->aio);
		return;
	}
	nm = nng_aio_get_msg(r->aio);
	if (wire_decode(nng_msg_body(nm), nng_msg_len(nm), CID, &m) == WIRE_OK)
		r->got_type = m.h.type;
	nng_msg_clear(nm);
	nng_msg_append(nm, r->resp, r->len);
	nng_aio_set_msg(r->aio, nm);
	r->sending = 1;
	nng_send_aio(r->s, r->aio);
}

static void rep_start(struct rep_server *r, const char *url, const uint8_t *resp, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->resp = resp;
	r->len = len;
	assert_int_equal(nng_rep0_open(&r->s), 0);
	assert_int_equal(nng_listen(r->s, url, NULL, 0), 0);
	assert_int_equal(nng_aio_alloc(&r->aio, rep_cb, r), 0);
	nng_recv_aio(r->s, r->aio);
}

static void rep_stop(struct rep_server *r)
{
	nng_close(r->s);
	nng_aio_free(r->aio);
}

static void test_status(void **state)
{
	const char *json = "{\"id\":1,\n\"view\":0}";
	struct rep_server r0, r1;
	struct fake fk;
	struct buf b;
	char *out = NULL;
	size_t out_len = 0;
	uint64_t t0;
	FILE *f;

	(void)state;
	fake_setup(&fk, PROTO_PBFT, 1, AUTH_MODE_SIG);
	buf_init(&b);
	wire_put_text(&b, MSG_STATUS_RESP, CID, 0, json, (uint32_t)strlen(json));
	assert_int_equal(b.err, 0);
	/* replica 0 is down (and comes first: its pending connect must not delay the
	 * others), replica 1 answers (a newline inside must not split its line),
	 * replica 2 answers garbage, replica 3 is down */
	rep_start(&r0, fk.cfg.replica[1].admin, b.p, b.len);
	rep_start(&r1, fk.cfg.replica[2].admin, (const uint8_t *)"junk", 4);
	f = open_memstream(&out, &out_len);
	assert_non_null(f);
	t0 = client_mono_us();
	assert_int_equal(client_status(&fk.cfg, 300, f), 0);
	/* down replicas cost the timeout once, not once each */
	assert_true(client_mono_us() - t0 < 2 * 300 * 1000);
	fclose(f);
	assert_string_equal(out, "{\"id\":0,\"down\":true}\n"
				 "{\"id\":1, \"view\":0}\n"
				 "{\"id\":2,\"down\":true,\"error\":\"bad status response\"}\n"
				 "{\"id\":3,\"down\":true}\n");
	assert_int_equal(r0.got_type, MSG_STATUS_REQ);
	free(out);
	rep_stop(&r0);
	rep_stop(&r1);
	buf_free(&b);
	fake_teardown(&fk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u32),
		cmocka_unit_test(test_quorum_pbft),
		cmocka_unit_test(test_quorum_pbft_liars_agree),
		cmocka_unit_test(test_quorum_readonly),
		cmocka_unit_test(test_quorum_hopeless),
		cmocka_unit_test(test_quorum_digest_replies),
		cmocka_unit_test(test_quorum_vr_single),
		cmocka_unit_test(test_quorum_view),
		cmocka_unit_test(test_ts_persist),
		cmocka_unit_test(test_ts_lease),
		cmocka_unit_test(test_ts_unusable_dir),
		cmocka_unit_test(test_state_dir),
		cmocka_unit_test(test_print_result),
		cmocka_unit_test(test_percentile),
		cmocka_unit_test(test_pbft_sig),
		cmocka_unit_test(test_pbft_mac),
		cmocka_unit_test(test_vr_view),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
