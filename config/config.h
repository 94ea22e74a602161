/* config.h - cluster.ini, parsed with inih and validated as a whole.
 *
 * Nothing starts half-configured: config_load() either returns a fully validated
 * config or fails with a message naming the file, line and key (exit code 2).
 */
#ifndef BYZLAB_CONFIG_H
#define BYZLAB_CONFIG_H

#include <stdint.h>

#include "replica/wan.h"
#include "wire/wire.h"

#define CONFIG_ADDR_MAX 128
#define CONFIG_PATH_MAX 1024

enum protocol { PROTO_PBFT = 0, PROTO_VR = 1, PROTO_SINGLE = 2, PROTO_HOTSTUFF = 3 };

struct replica_addr {
	char peer[CONFIG_ADDR_MAX];    /* replica-to-replica, e.g. tcp://127.0.0.1:7000 */
	char client[CONFIG_ADDR_MAX];  /* client requests and replies */
	char admin[CONFIG_ADDR_MAX];   /* status and fault control */
	char metrics[CONFIG_ADDR_MAX]; /* optional: Prometheus /metrics over HTTP, tcp:// only;
					* "" = off (issue 20, replica/metrics.h) */
	int line;                      /* line of the [replica.I] header, for messages */
};

/* Outgoing network faults of one replica ([faults] section, keys drop, delay, ...).
 * Kept as text here and parsed by the fault layer, so config stays independent of it. */
#define CONFIG_FAULTS_MAX 512
#define CFG_FORENSICS_K_MAX 64 /* forensics_k: checkpoints of transcript kept at most */

struct config {
	char path[CONFIG_PATH_MAX]; /* the file we read */
	char dir[CONFIG_PATH_MAX];  /* its directory: relative paths resolve here */
	enum protocol protocol;
	uint32_t f;
	uint32_t n;                   /* derived: 3f+1, 2f+1 or 1 */
	uint32_t cluster_id;          /* default: derived from nothing, 1 */
	int auth;                     /* enum auth_mode (crypto/auth.h) */
	uint32_t batch_max;           /* 1..WIRE_MAX_BATCH, default 64 */
	uint32_t window;              /* default 256; pbft: at most wire_window_max() */
	uint32_t checkpoint_interval; /* default min(128, window/2); window >= 2x this */
	uint32_t view_timeout_ms;     /* default 1000 */
	int sync_full;                /* sync = full (1) | none (0) */
	int read_only;      /* read_only = on: PBFT §5.1.3 reads (gets) without agreement; off */
	int digest_replies; /* digest_replies = on: one full reply, the others its digest */
	/* Optimizations that are on by default; off only to measure what each is worth
	 * (experiments/bench.py, docs/EXPERIMENTS.md). */
	int group_commit; /* group_commit = on: one LMDB commit per loop turn; off: per step */
	int coalesce;     /* coalesce = on: one nng message per destination per turn */
	int rx_aio;       /* rx_aio = on: receive with armed aios; off: NNG_OPT_RECVFD */
	/* robust = on (issue 16, Aardvark-style defences against a slow or malicious
	 * primary; PBFT only, ignored by vr/single); default off: classic PBFT. */
	int robust;
	int hotstuff_stable;      /* hotstuff_leader = stable (1) | rotating/reputation (0) */
	int hotstuff_round_robin; /* hotstuff_leader = rotating (1) | reputation (0, default) */
	int hotstuff_leaders;     /* hotstuff_client = leaders (1) | all (0, default) */
	uint32_t robust_ratio_permille; /* robust_ratio = 0.9: share of the best recent
					 * throughput a primary must keep, 500..1000 */
	uint32_t robust_heartbeat_ms;   /* no PRE-PREPARE this long while requests wait,
					 * or a request not ordered this long after a
					 * backup forwarded it: view change; default
					 * config_robust_heartbeat_default() */
	/* read_lease_ms = MS (vr only, default 0 = off): leader leases, the primary answers
	 * read-only gets alone while its lease holds (docs/VR.md "Leader leases") */
	uint32_t read_lease_ms;
	/* evidence = on (issue 17, PBFT only): proofs of equivocation are kept, gossiped
	 * to the other replicas and acted upon (replica/core/pbft_evidence.c); off only to
	 * measure what that costs (experiments/bench.py, "evidence"). */
	int evidence;
	/* forensics_k = K (issue 17 item 3, default 2, 0 = off): each replica keeps in its
	 * store the transcript forensics needs (replica/core/forensics.h: the signed
	 * PRE-PREPAREs, PREPAREs, COMMITs and VIEW-CHANGEs it received or sent) for the
	 * slots of its last K stable checkpoints; `byzlab audit` analyses them. */
	uint32_t forensics_k;
	uint32_t clients; /* client ids 0..clients-1 whose keys replicas load, default 128 */
	char keys[CONFIG_PATH_MAX]; /* resolved: absolute or relative to the cwd */
	char data[CONFIG_PATH_MAX]; /* resolved */
	struct replica_addr replica[WIRE_MAX_REPLICAS];
	char faults[CONFIG_FAULTS_MAX]; /* "key=value;key=value" from [faults], may be empty */
	/* issue 20: the WAN model - [regions] and [faults] region.I / region.client
	 * (replica/wan.h); not part of the faults text, so a run-time faults change keeps it */
	struct wan wan;
};

/* Load and validate.  Returns 0, or -1 with "FILE:LINE: key 'K': problem" in err.
 * Checks: unknown section or key; malformed numbers; protocol; f range (f>=1 for
 * pbft/vr, n <= WIRE_MAX_REPLICAS); exactly n [replica.I] sections, I in 0..n-1;
 * every address present and distinct; window/checkpoint_interval/batch_max ranges;
 * the keys directory holds replica-I.pub for every I (and is readable). */
int config_load(const char *path, struct config *c, char *err, size_t errlen);

/* The same checks but the keys directory's contents (byzlab-keygen --cluster validates
 * a cluster.ini before it makes the keys the file names). */
int config_load_nokeys(const char *path, struct config *c, char *err, size_t errlen);

/* Replicas also call this: checks replica-ID.key exists with mode 0600 and every
 * client-J.pub for J < clients is present.  Returns 0 or -1 with a message. */
int config_check_replica_keys(const struct config *c, uint32_t id, char *err, size_t errlen);

const char *protocol_name(enum protocol p);

/* robust_heartbeat_ms's default (issue 16): CONFIG_ROBUST_HEARTBEAT_MS, at most a
 * quarter of the view timeout.  60 ms: a backup forwards a request not ordered in
 * 30 ms and votes 60 ms later, so a primary holding PRE-PREPAREs 100 ms is caught;
 * fault-free, f=1, 64 clients, requests reach their PRE-PREPARE in well under that
 * (docs/EXPERIMENTS.md §11 has the measured p99). */
#define CONFIG_ROBUST_HEARTBEAT_MS 60
static inline uint32_t config_robust_heartbeat_default(uint32_t view_timeout_ms)
{
	uint32_t quarter = view_timeout_ms / 4 ? view_timeout_ms / 4 : 1;
	return quarter < CONFIG_ROBUST_HEARTBEAT_MS ? quarter : CONFIG_ROBUST_HEARTBEAT_MS;
}
/* window's default: 256, unless PBFT's worst NEW-VIEW (2f+1 VIEW-CHANGEs, each with a
 * full window of prepared certificates) would then exceed WIRE_MAX_MSG: the largest
 * window whose worst NEW-VIEW fits (f >= 8 with sig or mac, f = 10 with none;
 * docs/PROTOCOL.md §5.7).  checkpoint_interval's default is half of it (at most 128). */
#define CONFIG_WINDOW_DEFAULT 256u
static inline uint32_t config_window_default(enum protocol p, uint32_t n, uint32_t f, int sig)
{
	uint32_t most = p == PROTO_PBFT ? wire_window_max(n, f, sig) : CONFIG_WINDOW_DEFAULT;
	return most < CONFIG_WINDOW_DEFAULT ? most : CONFIG_WINDOW_DEFAULT;
}
/* How long a robust backup parks a request a client sent it directly (auth = mac,
 * replica/park.h) before checking its signature: the ordering deadline D =
 * robust_heartbeat_ms itself.  The backup relays it to the primary unverified on
 * arrival, and needs its signature only to blame the primary, a full D after that
 * relay (issue 16: at D/4, then D/2 before the relay moved to arrival, a loaded
 * machine released - and verified - a third, then a tenth of them). */
static inline uint32_t config_robust_park_ms(uint32_t robust_heartbeat_ms)
{
	return robust_heartbeat_ms ? robust_heartbeat_ms : 1;
}
/* Robust clients send a request to the primary first and to every replica once it is
 * unanswered for an adaptive time of at most this (client_core.h escalate_max_ms): half
 * the ordering deadline D, so that a backup that gets it then and relays it at once
 * still finds a primary that holds it 1.5 D late (docs/PROTOCOL.md §11 rules 2-3). */
static inline uint32_t config_robust_escalate_ms(uint32_t robust_heartbeat_ms)
{
	return robust_heartbeat_ms / 2 ? robust_heartbeat_ms / 2 : 1;
}
uint32_t protocol_n(enum protocol p, uint32_t f);
/* "pbft", "vr", "single", "hotstuff" -> *p; returns 0, or -1 for another name. */
int protocol_parse(const char *name, enum protocol *p);
/* Byzantine protocols: a client accepts f+1 matching replies (PBFT, HotStuff). */
int protocol_is_bft(enum protocol p);

#endif
