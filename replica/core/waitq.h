/* waitq.h - the requests waiting at a replica: at most one per client (its newest), in
 * arrival order.  At a primary they wait for a batch; at a backup they wait to be
 * executed (a backup watches its primary with them).  Shared by the PBFT and VR cores.
 * Pure and bounded: max_clients entries, allocated once.
 */
#ifndef BYZLAB_WAITQ_H
#define BYZLAB_WAITQ_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/core/exec.h"
#include "wire/wire.h"

struct waiting {
	uint8_t *raw; /* the sealed REQUEST, owned; NULL: none (withdrawn) */
	uint32_t len;
	uint64_t ts;
	bool queued; /* the client id is in the FIFO */
};

struct waitq {
	struct waiting *ent; /* cap entries, by client id */
	uint32_t *fifo;      /* ring of client ids; withdrawn ones are skipped lazily */
	uint32_t cap, head, count;
	uint32_t live; /* entries holding a request */
};

int waitq_init(struct waitq *q, uint32_t max_clients);
void waitq_free(struct waitq *q);
/* Keep m (an authenticated REQUEST, client id < cap) as its client's waiting request,
 * replacing an older one; a client keeps its place in the FIFO.  On allocation
 * failure nothing changes (the client retransmits). */
void waitq_push(struct waitq *q, const struct msg *m);
/* The client's waiting request, or NULL. */
const struct waiting *waitq_get(const struct waitq *q, uint32_t client);
void waitq_withdraw(struct waitq *q, uint32_t client);
/* The client's requests up to ts executed: its waiting one goes if not newer. */
void waitq_done(struct waitq *q, uint32_t client, uint64_t ts);
/* After a state transfer: withdraw what the installed state already executed. */
void waitq_prune(struct waitq *q, const struct exec_state *x);
/* The client id at the head of the FIFO (withdrawn entries are dropped on the way),
 * or -1 when nothing waits.  waitq_pop() removes it; its request stays until
 * withdrawn. */
int64_t waitq_head(struct waitq *q);
void waitq_pop(struct waitq *q);

#endif
