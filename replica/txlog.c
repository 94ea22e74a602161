/* txlog.c - the forensic transcript of a real replica, in its store (see txlog.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "replica/txlog.h"

void txlog_init(struct txlog *x, uint32_t cluster_id, uint32_t k, uint32_t interval)
{
	memset(x, 0, sizeof(*x));
	transcript_init(&x->t, cluster_id);
	x->k = k;
	x->interval = interval;
	/* a block holds at most the whole transcript, with 4 bytes of length per entry */
	buf_init_limit(&x->block,
		       TRANSCRIPT_BLOCK_HDR + TRANSCRIPT_MAX_BYTES + 4ull * TRANSCRIPT_MAX);
}

void txlog_free(struct txlog *x)
{
	transcript_free(&x->t);
	buf_free(&x->block);
	memset(x, 0, sizeof(*x));
}

int txlog_restore(struct txlog *x, uint64_t key, const uint8_t *val, size_t len)
{
	/* the next key never repeats one on disk in its seq bucket */
	uint64_t c = key & TRANSCRIPT_KEY_COUNTER_MASK;
	if (c + 1 > x->counter)
		x->counter = c + 1;
	x->on_disk = 1;
	long count = transcript_record_count(val, len);
	if (count < 0) {
		x->refused++;
		return 0;
	}
	x->restored += (uint64_t)count;
	if (txlog_on(x))
		transcript_add_record(&x->t, val, len);
	return 0;
}

void txlog_note(struct txlog *x, const uint8_t *p, size_t len, uint64_t now_ms)
{
	if (!txlog_on(x))
		return;
	int added = transcript_add(&x->t, p, len);
	if (added <= 0)
		return;
	if (!x->unsaved)
		x->unsaved_since = now_ms;
	/* transcript_add appends: the new entries are the last `added` */
	x->unsaved += (size_t)added;
}

int txlog_ready(const struct txlog *x, uint64_t now_ms)
{
	return x->unsaved &&
	       (x->unsaved >= TXLOG_PENDING_MAX || now_ms >= x->unsaved_since + TXLOG_FLUSH_MS);
}

uint64_t txlog_due(const struct txlog *x)
{
	if (!x->unsaved)
		return 0;
	return x->unsaved >= 4ull * TXLOG_PENDING_MAX ? 1 : x->unsaved_since + TXLOG_FORCE_MS;
}

/* The waiting entries of checkpoint interval `bucket`, as one record. */
static int put_block(struct txlog *x, struct store *s, uint64_t bucket)
{
	struct buf *b = &x->block;
	uint32_t count = 0;
	buf_reset(b);
	buf_put_u32(b, TRANSCRIPT_BLOCK_MAGIC);
	buf_put_u32(b, 0); /* the count, below */
	for (size_t i = x->t.n - x->unsaved; i < x->t.n; i++) {
		const struct tx_entry *e = &x->t.e[i];
		if (transcript_bucket(e->seq, x->interval) != bucket)
			continue;
		buf_put_u32(b, e->len);
		buf_put(b, e->raw, e->len);
		count++;
	}
	if (b->err)
		return -1;
	b->p[4] = (uint8_t)count, b->p[5] = (uint8_t)(count >> 8);
	b->p[6] = (uint8_t)(count >> 16), b->p[7] = (uint8_t)(count >> 24);
	x->put_bytes += b->len;
	return store_put(s, TRANSCRIPT_REC, transcript_key(bucket, x->counter++), b->p, b->len);
}

int txlog_flush(struct txlog *x, struct store *s)
{
	/* A record per interval, lowest first, so that a checkpoint deletes whole records
	 * (txlog_checkpoint): almost always one or two of them. */
	uint64_t bucket = 0, done = 0;
	int first = 1;
	for (;;) {
		int found = 0;
		for (size_t i = x->t.n - x->unsaved; i < x->t.n; i++) {
			uint64_t b = transcript_bucket(x->t.e[i].seq, x->interval);
			if ((first || b > done) && (!found || b < bucket))
				bucket = b, found = 1;
		}
		if (!found)
			break;
		if (put_block(x, s, bucket) != 0)
			return -1;
		done = bucket, first = 0;
	}
	x->unsaved = 0;
	return 0;
}

int txlog_checkpoint(struct txlog *x, struct store *s, uint64_t low)
{
	uint64_t h = transcript_horizon(low, x->interval, x->k);
	if (!txlog_on(x)) { /* forensics_k = 0 now: what an earlier run kept goes */
		if (!x->on_disk)
			return 0;
		x->on_disk = 0;
		return store_del_below(s, TRANSCRIPT_REC, UINT64_MAX);
	}
	if (h <= x->horizon)
		return 0;
	if (txlog_flush(x, s) != 0) /* trimming may remove waiting entries: not after */
		return -1;
	x->horizon = h;
	transcript_trim(&x->t, h);
	if (h >= TRANSCRIPT_KEY_SEQ_MAX)
		return 0; /* the last bucket holds what no checkpoint reaches */
	return store_del_below(s, TRANSCRIPT_REC, transcript_key(h + 1, 0));
}

int txlog_json(const struct txlog *x, char *out, size_t cap)
{
	return snprintf(
		out, cap,
		",\"forensics\":{\"k\":%u,\"entries\":%zu,\"bytes\":%zu,\"dropped\":%" PRIu64
		",\"restored\":%" PRIu64 ",\"unsaved\":%zu,\"refused\":%" PRIu64 "}",
		x->k, x->t.n, x->t.bytes, x->t.dropped, x->restored, x->unsaved, x->refused);
}
