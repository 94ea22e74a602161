/* catchup.c - see catchup.h. */
#include "replica/core/catchup.h"

#include "replica/core/assert.h"

#include <stdlib.h>
#include <string.h>

static void clear(struct catchup *c, struct catchup_slot *s)
{
	CORE_ASSERT(c->bytes >= (s->batch ? s->batch_len : 0));
	c->bytes -= s->batch ? s->batch_len : 0;
	free(s->batch);
	memset(s, 0, sizeof(*s));
}

struct catchup_slot *catchup_slot(struct catchup *c, uint64_t done, uint64_t seq)
{
	if (seq <= done || seq - done > CATCHUP_SLOTS)
		return NULL;
	struct catchup_slot *s = &c->slot[seq % CATCHUP_SLOTS];
	if (s->seq != seq) {
		clear(c, s);
		s->seq = seq;
	}
	CORE_ASSERT(s->seq == seq && c->bytes <= CATCHUP_MAX_BYTES);
	return s;
}

struct catchup_slot *catchup_peek(struct catchup *c, uint64_t seq)
{
	struct catchup_slot *s = &c->slot[seq % CATCHUP_SLOTS];
	return seq && s->seq == seq ? s : NULL;
}

void catchup_vote(struct catchup_slot *s, uint32_t sender, uint64_t view,
		  const uint8_t digest[WIRE_DIGEST_LEN])
{
	if (sender >= WIRE_MAX_REPLICAS)
		return;
	struct catchup_vote *v = &s->vote[sender];
	if (v->have && v->view > view)
		return;
	v->have = true;
	v->view = view;
	memcpy(v->digest, digest, WIRE_DIGEST_LEN);
}

int catchup_keep_batch(struct catchup *c, struct catchup_slot *s, uint64_t view,
		       const uint8_t digest[WIRE_DIGEST_LEN], const uint8_t *batch, uint32_t len)
{
	size_t old = s->batch ? s->batch_len : 0;
	CORE_ASSERT(s->seq != 0 && c->bytes >= old);
	if (c->bytes - old + len > CATCHUP_MAX_BYTES)
		return -1;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	memcpy(copy, batch, len);
	free(s->batch);
	c->bytes = c->bytes - old + len;
	s->batch = copy;
	s->batch_len = len;
	s->batch_view = view;
	memcpy(s->batch_digest, digest, WIRE_DIGEST_LEN);
	CORE_ASSERT(c->bytes <= CATCHUP_MAX_BYTES);
	return 0;
}

void catchup_forget_upto(struct catchup *c, uint64_t done)
{
	if (done == c->forgot_upto)
		return; /* the common case: called before every execution */
	c->forgot_upto = done;
	for (uint32_t i = 0; i < CATCHUP_SLOTS; i++)
		if (c->slot[i].seq && c->slot[i].seq <= done)
			clear(c, &c->slot[i]);
	CORE_ASSERT(c->bytes <= CATCHUP_MAX_BYTES);
}

void catchup_vouch_put(struct catchup *c, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN],
		       const uint8_t *raw, uint32_t len)
{
	struct catchup_vouch *v = &c->vouch[seq % CATCHUP_SLOTS];
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return; /* a liveness aid only */
	memcpy(copy, raw, len);
	free(v->raw);
	*v = (struct catchup_vouch){.seq = seq, .raw = copy, .len = len};
	memcpy(v->digest, digest, WIRE_DIGEST_LEN);
}

const struct catchup_vouch *catchup_vouch_get(const struct catchup *c, uint64_t seq)
{
	const struct catchup_vouch *v = &c->vouch[seq % CATCHUP_SLOTS];
	return seq && v->seq == seq ? v : NULL;
}

void catchup_free(struct catchup *c)
{
	for (uint32_t i = 0; i < CATCHUP_SLOTS; i++) {
		clear(c, &c->slot[i]);
		free(c->vouch[i].raw);
		c->vouch[i] = (struct catchup_vouch){0};
	}
}
