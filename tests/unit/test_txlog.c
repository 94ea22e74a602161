/* test_txlog.c - the forensic transcript in a real store (replica/txlog.h; the record
 * format of replica/core/forensics.h): one block record per checkpoint interval, not a
 * record per entry; read back whole after a restart; a checkpoint deletes whole blocks,
 * so the store holds what memory holds; and a corrupt record on disk is refused (counted),
 * never crashed on nor half used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/auth.h"
#include "replica/core/forensics.h"
#include "replica/store.h"
#include "replica/txlog.h"
#include "tests/unit/fixture.h"
#include "wire/wire.h"

#define CLUSTER 0xc1u
#define N 4
#define INTERVAL 8

static struct auth_ctx keys[N];
static char store_dir[4096];
static int store_seq;

static int group_setup(void **state)
{
	(void)state;
	if (fx_setup("txlog", N, 0) != 0)
		return -1;
	fx_replicas(keys, AUTH_MODE_SIG);
	return 0;
}

static int group_teardown(void **state)
{
	fx_free(keys, N);
	return fx_teardown(state);
}

static struct store *open_store(int fresh)
{
	struct store *s;
	char err[512];
	if (fresh)
		snprintf(store_dir, sizeof(store_dir), "%s/store-%d", fx_dir(), ++store_seq);
	assert_int_equal(store_open(store_dir, 0, 0, &s, err, sizeof(err)), 0);
	return s;
}

/* A signed COMMIT of `sender` for (view 0, seq), appended to b at offset 0. */
static void commit(struct buf *b, uint32_t sender, uint64_t seq)
{
	uint8_t d[WIRE_DIGEST_LEN];
	memset(d, (int)(seq & 0xff), sizeof(d));
	buf_reset(b);
	wire_put_digest(b, MSG_COMMIT, CLUSTER, sender, 0, seq, d);
	assert_int_equal(auth_seal(&keys[sender], b, 0), 0);
}

/* COMMITs of every replica for seqs first..last. */
static void note_commits(struct txlog *x, uint64_t first, uint64_t last)
{
	struct buf b;
	buf_init(&b);
	for (uint64_t seq = first; seq <= last; seq++)
		for (uint32_t i = 0; i < N; i++) {
			commit(&b, i, seq);
			txlog_note(x, b.p, b.len, 1000);
		}
	buf_free(&b);
}

struct seen {
	size_t records, entries;
	uint64_t keys[64];
};

static int count_records(void *arg, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct seen *s = arg;
	if (kind != TRANSCRIPT_REC)
		return 0;
	long n = transcript_record_count(val, len);
	assert_true(n > 0);
	if (s->records < 64)
		s->keys[s->records] = key;
	s->records++;
	s->entries += (size_t)n;
	return 0;
}

static int restore_into(void *arg, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	return kind == TRANSCRIPT_REC ? txlog_restore(arg, key, val, len) : 0;
}

static void flush(struct txlog *x, struct store *s)
{
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(txlog_flush(x, s), 0);
	assert_int_equal(store_commit(s), 0);
}

/* 20 slots of 4 COMMITs: 80 entries in 3 records (intervals ending 8, 16 and 24), not
 * 80; after a restart all 80 are back; a checkpoint at 16 with K = 1 forgets slots 1-8:
 * one record, exactly memory's 32 entries. */
static void test_blocks_per_interval(void **state)
{
	(void)state;
	struct store *s = open_store(1);
	struct txlog x;
	txlog_init(&x, CLUSTER, 1, INTERVAL);
	note_commits(&x, 1, 20);
	assert_int_equal(x.t.n, 80);
	assert_int_equal(x.unsaved, 80);
	/* they ride on a turn's commit after TXLOG_FLUSH_MS, get their own after more */
	assert_false(txlog_ready(&x, 1000 + TXLOG_FLUSH_MS - 1));
	assert_true(txlog_ready(&x, 1000 + TXLOG_FLUSH_MS));
	assert_int_equal(txlog_due(&x), 1000 + TXLOG_FORCE_MS);
	flush(&x, s);
	assert_int_equal(x.unsaved, 0);
	assert_int_equal(txlog_due(&x), 0);
	assert_false(txlog_ready(&x, 5000));
	struct seen seen = {0};
	assert_int_equal(store_iterate(s, count_records, &seen), 0);
	assert_int_equal(seen.records, 3);
	assert_int_equal(seen.entries, 80);
	assert_int_equal(seen.keys[0] >> 24, 8);
	assert_int_equal(seen.keys[1] >> 24, 16);
	assert_int_equal(seen.keys[2] >> 24, 24);
	txlog_free(&x);
	store_close(s);

	s = open_store(0); /* a restart */
	txlog_init(&x, CLUSTER, 1, INTERVAL);
	assert_int_equal(store_iterate(s, restore_into, &x), 0);
	assert_int_equal(x.restored, 80);
	assert_int_equal(x.refused, 0);
	assert_int_equal(x.t.n, 80);
	assert_int_equal(x.unsaved, 0);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(txlog_checkpoint(&x, s, 16), 0); /* horizon 16 - 1 x 8 = 8 */
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(x.t.n, 48);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_iterate(s, count_records, &seen), 0);
	assert_int_equal(seen.records, 2);
	assert_int_equal(seen.entries, 48);

	/* a new record's key never repeats one on disk */
	note_commits(&x, 21, 21);
	flush(&x, s);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_iterate(s, count_records, &seen), 0);
	assert_int_equal(seen.records, 3);
	assert_int_equal(seen.entries, 52);
	txlog_free(&x);
	store_close(s);
}

static void put_u32_at(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A block of two COMMITs, as txlog_flush makes it. */
static size_t good_block(uint8_t *out, size_t cap)
{
	struct buf b, blk;
	buf_init(&b);
	buf_init(&blk);
	buf_put_u32(&blk, TRANSCRIPT_BLOCK_MAGIC);
	buf_put_u32(&blk, 2);
	for (uint32_t i = 0; i < 2; i++) {
		commit(&b, i, 3);
		buf_put_u32(&blk, (uint32_t)b.len);
		buf_put(&blk, b.p, b.len);
	}
	assert_true(blk.len <= cap);
	memcpy(out, blk.p, blk.len);
	size_t len = blk.len;
	buf_free(&b);
	buf_free(&blk);
	return len;
}

static void assert_refused(const uint8_t *val, size_t len)
{
	struct transcript t;
	uint32_t cluster;
	transcript_init(&t, CLUSTER);
	assert_int_equal(transcript_record_count(val, len), -1);
	assert_int_equal(transcript_add_record(&t, val, len), -1);
	assert_int_equal(transcript_record_cluster(val, len, &cluster), -1);
	assert_int_equal(t.n, 0);
	transcript_free(&t);
}

/* Hostile or corrupt records: every length is checked before anything is used. */
static void test_corrupt_records_refused(void **state)
{
	(void)state;
	uint8_t v[1024], bad[1024];
	size_t len = good_block(v, sizeof(v));
	struct transcript t;
	uint32_t cluster = 0;
	transcript_init(&t, CLUSTER);
	assert_int_equal(transcript_record_count(v, len), 2);
	assert_int_equal(transcript_record_cluster(v, len, &cluster), 0);
	assert_int_equal(cluster, CLUSTER);
	assert_int_equal(transcript_add_record(&t, v, len), 2);
	transcript_free(&t);

	assert_refused(NULL, 0);
	assert_refused(v, 0);
	assert_refused(v, 7); /* a header cut short */
	for (size_t cut = 8; cut < len; cut++)
		assert_refused(v, cut); /* any truncation */
	memcpy(bad, v, len);
	bad[len] = 0;
	assert_refused(bad, len + 1); /* a byte left over */
	memcpy(bad, v, len);
	bad[0] ^= 1;
	assert_refused(bad, len); /* not the magic */
	memcpy(bad, v, len);
	put_u32_at(bad + 4, 3);
	assert_refused(bad, len); /* more entries than it holds */
	put_u32_at(bad + 4, 0xffffffffu);
	assert_refused(bad, len);
	memcpy(bad, v, len);
	put_u32_at(bad + 8, 0xfffffff0u);
	assert_refused(bad, len); /* a length past the end (and wrapping) */
	put_u32_at(bad + 8, 3);
	assert_refused(bad, len); /* a length shorter than any message */
	memcpy(bad, v, len);
	put_u32_at(bad + 4, 0);
	assert_int_equal(transcript_record_count(bad, TRANSCRIPT_BLOCK_HDR), 0); /* empty, */
	assert_int_equal(transcript_record_cluster(bad, TRANSCRIPT_BLOCK_HDR, &cluster), -1);

	/* a single entry (the format before blocks) is still read */
	uint8_t *one = v + TRANSCRIPT_BLOCK_HDR + 4;
	size_t one_len = (size_t)(v[8] | v[9] << 8);
	assert_int_equal(transcript_record_count(one, one_len), 1);

	/* random corruption: refused or read, never a crash (ASan/valgrind builds) */
	srand(17);
	for (int round = 0; round < 2000; round++) {
		memcpy(bad, v, len);
		for (int k = 0; k < 1 + round % 4; k++)
			bad[(size_t)rand() % len] = (uint8_t)rand();
		transcript_init(&t, CLUSTER);
		long n = transcript_add_record(&t, bad, len);
		assert_true(n >= -1 && n <= 2);
		transcript_free(&t);
	}

	/* txlog_restore counts a corrupt record and keeps going */
	struct txlog x;
	txlog_init(&x, CLUSTER, 2, INTERVAL);
	memcpy(bad, v, len);
	put_u32_at(bad + 4, 9);
	assert_int_equal(txlog_restore(&x, 5, bad, len), 0);
	assert_int_equal(txlog_restore(&x, 6, v, len), 0);
	assert_int_equal(x.refused, 1);
	assert_int_equal(x.restored, 2);
	assert_int_equal(x.t.n, 2);
	assert_int_equal(x.counter, 7);
	char json[512];
	assert_true(txlog_json(&x, json, sizeof(json)) < (int)sizeof(json));
	assert_non_null(strstr(json, "\"refused\":1"));
	txlog_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_per_interval),
		cmocka_unit_test(test_corrupt_records_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
