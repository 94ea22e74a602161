/* cluster_write.h - the one writer of cluster.ini (issue 15 item 4).
 *
 * A cluster is described by (protocol, f, auth, ports, [cluster] settings); this builds
 * the file's text from that description (n from protocol_n(), the one place that
 * computes it) and writes it, validated by parsing it back with config_load_nokeys().
 * byzlab-keygen --cluster is its only program; ./byzlab cluster init, the docker init
 * service, experiments/ and the integration tests all call that program, so nobody
 * else computes n or writes INI.
 *
 * Writing is staged: cluster_stage() writes DIR/cluster.ini.new and validates it (the
 * caller may then make the keys the file names), cluster_commit() validates it again
 * with the keys and renames it to DIR/cluster.ini, cluster_abort() removes it.
 */
#ifndef BYZLAB_CLUSTER_WRITE_H
#define BYZLAB_CLUSTER_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CLUSTER_INI_MAX 16384 /* the text: 16 replicas need about 2 KiB */
#define CLUSTER_SET_MAX 64    /* --set KEY=VALUE settings */
#define CLUSTER_DEFAULT_PORT 7000
#define CLUSTER_MIN_CLIENTS 128 /* product contract: keys for at least 128 client ids */
#define CLUSTER_HOST_ID "{i}"   /* in a host: the replica id (one host per replica) */

struct cluster_spec {
	enum protocol protocol;
	uint32_t f;
	const char *auth;   /* sig | mac | none; NULL: sig */
	uint32_t base_port; /* P: replica I on P+I, P+100+I, P+200+I; 0: 7000 */
	const char *host;   /* NULL: 127.0.0.1.  With "{i}" in it, every replica is its
				* own host (docker: replica{i}) and all use P, P+100, P+200 */
	uint32_t clients;   /* the clients key; raised to CLUSTER_MIN_CLIENTS */
	int metrics;        /* 1: every replica serves /metrics on P+300+I (own hosts:
				* P+300), the metrics key of [replica.I] (issue 20) */
	const char *set[CLUSTER_SET_MAX]; /* "key=value" [cluster] settings, later wins */
	size_t n_set;
	const char *fault[CLUSTER_SET_MAX]; /* "key=value" lines of a [faults] section
					      * (drop=0.1, delay.2=5, ...), in order */
	size_t n_fault;
	const char *wan; /* NULL, or a WAN preset (replica/wan.h): its [regions] table and
			  * region.I / region.client lines that no --fault gives */
	const char *region[CLUSTER_SET_MAX]; /* "key=value" [regions] lines (local=0.2,0.05,
					       * us/eu=20,1), after the preset's */
	size_t n_region;
};

/* Result codes: the programs' exit codes. */
enum { CLUSTER_OK = 0, CLUSTER_FAILED = 1, CLUSTER_USAGE = 2 };

/* The file's text into out.  Returns CLUSTER_OK, or CLUSTER_USAGE with a message
 * (bad protocol/f, ports out of range, a malformed or forbidden --set). */
int cluster_ini_build(const struct cluster_spec *s, char *out, size_t outlen, char *err,
		      size_t errlen);

/* Write the text to DIR/cluster.ini.new (DIR made if missing) and parse it back without
 * looking at keys; the parsed config goes to *c (c->keys: where the keys belong).
 * Refuses an existing DIR/cluster.ini unless force (CLUSTER_FAILED).  A text the parser
 * refuses is CLUSTER_USAGE with the parser's message (a --set line is named as such). */
int cluster_stage(const char *dir, const struct cluster_spec *s, int force, struct config *c,
		  char *err, size_t errlen);

/* Parse DIR/cluster.ini.new again (with check_keys: every check, the keys included),
 * then rename it to DIR/cluster.ini. */
int cluster_commit(const char *dir, int check_keys, char *err, size_t errlen);

void cluster_abort(const char *dir);

#endif
