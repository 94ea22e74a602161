/* wan.h - the WAN latency model (issue 20 item 3): regions, one-way latencies between
 * them, where every replica and the clients sit, and what that predicts.
 *
 * Pure: no clock, no IO, no randomness of its own (the caller passes a random word).
 * The real replica's faults layer (faults.c) and the simulator's network
 * (tests/sim/net.c) both ask it for the delay of one message on one link, so the two
 * apply the same model.
 *
 * cluster.ini (config.c parses, docs/EXPERIMENTS.md "WAN"):
 *   [regions]
 *   local = 0.2,0.05            same-region latency: mean ms, jitter ms
 *   us-east/eu-west = 34,1      one-way latency between two regions (symmetric)
 *   [faults]
 *   region.0 = us-east          where replica 0 sits (every replica, or none)
 *   region.client = us-east     where the clients sit (optional: no client latency)
 * A message's one-way delay is mean + a uniform draw in [-jitter, +jitter]
 * (jitter <= mean), in microseconds.  Names: 1..23 of [a-z0-9_-], at most
 * WAN_REGIONS_MAX regions; latencies 0..WAN_MEAN_MAX_MS ms with at most 3 decimals.
 */
#ifndef BYZLAB_WAN_H
#define BYZLAB_WAN_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

#define WAN_REGIONS_MAX 8
#define WAN_NAME_MAX 24
#define WAN_MEAN_MAX_MS 10000
#define WAN_CLIENT WIRE_MAX_REPLICAS /* the clients' placement slot */
#define WAN_SLOTS (WIRE_MAX_REPLICAS + 1)
#define WAN_NOWHERE 0xffu

struct wan_link {
	uint32_t mean_us, jitter_us;
	uint8_t set;
};

struct wan {
	uint32_t n_regions;
	char name[WAN_REGIONS_MAX][WAN_NAME_MAX];
	struct wan_link link[WAN_REGIONS_MAX][WAN_REGIONS_MAX]; /* [a][a]: local */
	struct wan_link local;
	uint8_t where[WAN_SLOTS]; /* region of replica i / of the clients, or WAN_NOWHERE */
};

void wan_init(struct wan *w);
/* A [regions] line: "local" or "A/B", value "MEAN,JITTER" in ms.  0 or -1 + message. */
int wan_set_link(struct wan *w, const char *key, const char *value, char *err, size_t errlen);
/* Put slot (replica id or WAN_CLIENT) in a region (a new name is a region with only
 * the local latency; wan_check() then wants its pairs). */
int wan_place(struct wan *w, uint32_t slot, const char *region, char *err, size_t errlen);
/* The whole model for n replicas: every replica placed or none, every pair of regions
 * in use has a latency.  0 or -1 + message. */
int wan_check(const struct wan *w, uint32_t n, char *err, size_t errlen);
/* Are the replicas placed (the model applies)? */
int wan_enabled(const struct wan *w);

/* The link between two slots; a zero link if either is not placed. */
struct wan_link wan_link_of(const struct wan *w, uint32_t a, uint32_t b);
/* One message's delay on link l, us: mean - jitter + r mod (2 jitter + 1). */
uint64_t wan_draw_us(struct wan_link l, uint64_t r);

/* Presets: the [regions] lines and the placement of replica i (cycling through the
 * preset's order) and of the clients. */
struct wan_preset {
	const char *name;
	const char *about;    /* where the numbers come from */
	const char *lines[8]; /* "key = MEAN,JITTER", NULL-terminated */
	const char *order[4]; /* replica i sits in order[i % n_order] */
	uint32_t n_order;
	const char *client;
};
const struct wan_preset *wan_preset_find(const char *name);
const char *wan_preset_names(void); /* "three-continents, one-datacenter" */
/* Load preset p for n replicas into w (client_region NULL: the preset's).  0 or -1. */
int wan_preset_load(const struct wan_preset *p, uint32_t n, const char *client_region,
		    struct wan *w, char *err, size_t errlen);

/* The model's commit latency of one request, client send to accepted reply, in us,
 * from mean latencies only (no processing, no queueing), with primary `primary`:
 *   pbft: request to the primary, PRE-PREPARE, PREPARE (2f from backups), COMMIT
 *         (2f+1), f+1 matching REPLYs (PBFT section 4.2);
 *   vr:   request, PREPARE, f PREPAREOKs back to the primary, its REPLY (VR section 4.1);
 *   single: request and reply.
 * Each replica acts the moment its quorum is complete. */
uint64_t wan_predict_us(const struct wan *w, int proto /* enum protocol */, uint32_t n, uint32_t f,
			uint32_t primary);

#endif
