/* faults.h - network and clock faults of one real replica (product.md "Network, clock
 * and process faults"), set from cluster.ini's [faults] section (every replica) and at
 * run time through the admin address (MSG_ADMIN_FAULTS, one replica).
 *
 * A specification is "key=value;key=value" (the text config.c keeps in cfg->faults):
 *   drop=P               drop each outgoing replica message with probability P
 *   drop.I=P             ... to replica I (overrides drop for that link)
 *   delay=MS[,tail=pareto]  hold each outgoing replica message MS ms; with the tail,
 *                        MS x Pareto(alpha 1.5): at least MS, median 1.6 x MS, one in a
 *                        hundred above 21 x MS, capped at FAULTS_DELAY_CAP_MS
 *   dup=P                send a second copy with probability P
 *   reorder=P            hold a message 1..FAULTS_REORDER_MS ms more, out of its link's
 *                        order, with probability P (later ones overtake it)
 *   partition=A,B/C,D    only replicas of the same group hear each other; a replica
 *                        in no group hears nobody (both directions are cut here)
 *   oneway=I[,J]         this replica still sends to I but does not hear from it
 *                        (an I that is this replica itself is ignored)
 *   clock_rate=R         the core's clock (now_ms, timer deadlines) runs at R x real
 *                        time, 0.01..100: drift
 *   pause_before_reply=MS  a process pause at one exact point: after the VR core
 *                        answered a read from its leader lease (the lease check) and
 *                        before that reply leaves, the whole replica stops for MS ms
 *                        (0..FAULTS_PAUSE_MAX_MS), then sends it and goes on: the
 *                        zombie leader of docs/VR.md "Leader leases"
 *   none (or empty)      no faults
 * A new specification replaces the old one entirely.  Probabilities are 0..1.
 *
 * Only the replica-to-replica plane is faulted: client requests and replies pass
 * untouched (the client is the lab's measuring instrument), and so does the admin
 * plane.  Delayed messages wait in a bounded heap (FAULTS_HELD_MAX messages,
 * FAULTS_HELD_BYTES bytes); beyond it they are dropped and counted (queue_full).
 * Randomness comes from a splitmix64 seeded by the caller; the clock is passed in.
 *
 * WAN model (issue 20, replica/wan.h; set once from cluster.ini with faults_set_wan(),
 * kept across faults_set()): every message to replica j is held for the one-way
 * latency of the link region(self) -> region(j), mean +- a uniform jitter, to the
 * microsecond, on top of any delay= fault.  Links stay FIFO (as TCP is): a message never
 * leaves before the one sent before it on its link, so jitter delays the messages
 * behind a slow one rather than reordering them.  With region.client the client plane
 * is held too, at this replica, in both directions (requests as they arrive, replies
 * as they leave), for the latency region(self) <-> region(client): the clients stay
 * untouched measuring instruments, and one FIFO queue of FAULTS_CLIENT_HELD_MAX
 * messages holds both directions (beyond it: dropped and counted, queue_full).
 *
 * Two clocks: held messages are due on a microsecond clock (every *_us argument and
 * result: the caller's monotonic clock in us), so a 0.25 ms link holds 250 us, not 0
 * or 1 ms; the core's clock (faults_init, faults_set, faults_core_ms: clock_rate) stays
 * in ms, as the cores count time.
 */
#ifndef BYZLAB_FAULTS_H
#define BYZLAB_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

#define FAULTS_SPEC_MAX 512           /* = CONFIG_FAULTS_MAX */
#define FAULTS_HELD_MAX 16384         /* delayed messages held at once ... */
#define FAULTS_HELD_BYTES (64u << 20) /* ... and their bytes */
#define FAULTS_DELAY_MAX_MS 60000     /* delay=MS: MS at most */
#define FAULTS_DELAY_CAP_MS 30000     /* a Pareto tail ends here */
#define FAULTS_REORDER_MS 20
#define FAULTS_PAUSE_MAX_MS 60000   /* pause_before_reply=MS: MS at most */
#define FAULTS_CLIENT_HELD_MAX 8192 /* client-plane messages held by the WAN model */

struct wan;

struct faults_cfg {
	double drop;
	double drop_to[WIRE_MAX_REPLICAS]; /* < 0: as drop */
	uint32_t delay_ms;
	int pareto;
	double dup, reorder;
	int partitioned;
	uint8_t group[WIRE_MAX_REPLICAS]; /* 1..: group number; 0: in none */
	uint32_t deaf_to;                 /* oneway: bit i = do not hear replica i */
	double clock_rate;                /* 1.0: real time */
	uint32_t pause_before_reply_ms;   /* 0: no pause */
};

struct faults_stats {
	uint64_t dropped;     /* drop, drop.I */
	uint64_t partitioned; /* outgoing to, or incoming from, another group */
	uint64_t deaf;        /* incoming from a oneway replica */
	uint64_t delayed, duplicated, reordered;
	uint64_t queue_full;   /* delayed messages dropped at the bound */
	uint64_t wan_held;     /* messages held by the WAN model (peer and client plane) */
	uint64_t released;     /* held messages (any cause, both planes) let go ... */
	uint64_t late_us;      /* ... and the us they were let go after their due time
				* in all (the loop's wake-up lateness: late_us / released) */
	uint64_t paused;       /* pause_before_reply: pauses taken */
	uint64_t late_replies; /* ... after which the lease the reply came from had ended */
};

/* A client-plane message held by the WAN model: a request that arrived (in: id is
 * the nng pipe it came on) or a reply to send (id is the client). */
struct faults_cmsg {
	uint64_t due_us;
	uint32_t id, len;
	int in;
	uint8_t *p;
};

struct faults_held {
	uint64_t due_us, order;
	uint32_t to, len;
	int fifo; /* in its link's order (not a reordered one) */
	uint8_t *p;
};

struct faults {
	struct faults_cfg cfg;
	char spec[FAULTS_SPEC_MAX];
	uint32_t n, self;
	uint64_t rng;
	struct faults_held *heap; /* min-heap on (due_us, order) */
	uint32_t n_held;
	uint64_t held_bytes, order;
	uint64_t last_due[WIRE_MAX_REPLICAS];  /* FIFO per link (us) ... */
	uint32_t fifo_held[WIRE_MAX_REPLICAS]; /* ... and its messages held */
	struct faults_stats st;
	uint64_t base_real_ms, base_core_ms; /* clock_rate: the core's clock */
	const struct wan *wan;               /* NULL or not enabled: no WAN latency */
	struct faults_cmsg *cq;              /* FIFO ring of held client-plane messages */
	uint32_t cq_head, cq_n;
	uint64_t cq_last_due; /* us */
};

typedef void (*faults_send_fn)(void *arg, uint32_t to, const uint8_t *p, size_t len);

/* Parse a specification for replica `self` of n.  Returns 0, or -1 with a message in
 * err naming the key. */
int faults_parse(const char *spec, uint32_t n, uint32_t self, struct faults_cfg *out, char *err,
		 size_t errlen);

/* No faults; the core's clock starts equal to now_real_ms.  Returns 0 or -1 (memory). */
int faults_init(struct faults *f, uint32_t n, uint32_t self, uint64_t seed, uint64_t now_real_ms);
void faults_free(struct faults *f);
/* Replace the faults (the clock stays continuous; held messages stay held).  Returns
 * 0, or -1 with a message in err (nothing changed). */
int faults_set(struct faults *f, const char *spec, uint64_t now_real_ms, char *err, size_t errlen);

/* Apply the WAN model w (kept by pointer; NULL: none) from now on. */
void faults_set_wan(struct faults *f, const struct wan *w);
/* The WAN model's hold for the next client-plane message (us, drawn), 0 if none. */
uint64_t faults_client_delay_us(struct faults *f);
/* Hold a client-plane message (copied) until now + faults_client_delay_us(), behind
 * those already held.  Returns 0, or -1 if the queue is full (counted: queue_full). */
int faults_client_hold(struct faults *f, int in, uint32_t id, const uint8_t *p, size_t len,
		       uint64_t now_us);
/* Does the WAN model place the clients (hold the client plane)? */
int faults_client_modelled(const struct faults *f);
/* Is a client-plane message held?  (New ones must queue behind it.) */
int faults_client_pending(const struct faults *f);
/* The next held client-plane message that is due: 1 and *out (the caller frees
 * out->p), or 0. */
int faults_client_next(struct faults *f, uint64_t now_us, struct faults_cmsg *out);

/* One outgoing message to replica `to`: dropped, sent now through fn, or held. */
void faults_send(struct faults *f, uint32_t to, const uint8_t *p, size_t len, uint64_t now_us,
		 faults_send_fn fn, void *arg);
/* Send every held message that is due, in due order. */
void faults_release(struct faults *f, uint64_t now_us, faults_send_fn fn, void *arg);
/* When the next held message (peer or client plane) is due (real us), 0 if none. */
uint64_t faults_next_due_us(const struct faults *f);
/* May a message from replica `from` be heard?  Counts the ones that may not. */
int faults_hears(struct faults *f, uint32_t from);

/* The core's clock at real time real_ms, and the real wait for core_ahead_ms of it. */
uint64_t faults_core_ms(const struct faults *f, uint64_t real_ms);
uint64_t faults_real_wait_ms(const struct faults *f, uint64_t core_ahead_ms);

/* "\"faults\":{...}" - the specification and the counters - into out (a JSON object
 * member, no braces around it).  Returns its length, or -1 if it does not fit. */
int faults_json(const struct faults *f, char *out, size_t cap);

#endif
