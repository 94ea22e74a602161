/* catchup.c - see catchup.h. */
#include "replica/core/catchup.h"

#include <stdlib.h>
#include <string.h>

void catchup_clear(struct catchup_slot *s)
{
	free(s->batch);
	memset(s, 0, sizeof(*s));
}

struct catchup_slot *catchup_slot(struct catchup *c, uint64_t done, uint64_t seq)
{
	if (seq <= done || seq - done > CATCHUP_SLOTS)
		return NULL;
	struct catchup_slot *s = &c->slot[seq % CATCHUP_SLOTS];
	if (s->seq != seq) {
		catchup_clear(s);
		s->seq = seq;
	}
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

int catchup_keep_batch(struct catchup_slot *s, const uint8_t digest[WIRE_DIGEST_LEN],
		       const uint8_t *batch, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	memcpy(copy, batch, len);
	free(s->batch);
	s->batch = copy;
	s->batch_len = len;
	memcpy(s->batch_digest, digest, WIRE_DIGEST_LEN);
	return 0;
}

void catchup_free(struct catchup *c)
{
	for (uint32_t i = 0; i < CATCHUP_SLOTS; i++)
		catchup_clear(&c->slot[i]);
}
