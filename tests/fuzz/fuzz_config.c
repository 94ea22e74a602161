/* fuzz_config.c - cluster.ini parsing and validation (config_load).
 *
 * The input is written to DIR/cluster.ini, where DIR (fuzz_common.c) also holds keys/
 * with replica-0..15 key pairs and client-0..127 public keys, so a valid config gets
 * through every check (config_load, then config_check_replica_keys for each replica)
 * and a mutated one fails wherever it breaks.  Invariants checked on success: the
 * derived and defaulted fields are in their documented ranges, strings terminated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/auth.h"
#include "crypto/crypto.h"
#include "tests/fuzz/fuzz_common.h"

#define CFG_CLIENT_PUBS 128 /* the default `clients` */

static char path[700];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char src[700], dst[700], text[80];

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/cluster.ini", fz_dir());
	/* client-J.pub up to the default client count (their content is never used) */
	snprintf(src, sizeof(src), "%s/client-0.pub", fz_keys_dir());
	FILE *f = fopen(src, "r");
	if (!f || !fgets(text, sizeof(text), f))
		abort();
	fclose(f);
	for (uint32_t j = FZ_CLIENTS; j < CFG_CLIENT_PUBS; j++) {
		snprintf(dst, sizeof(dst), "%s/client-%u.pub", fz_keys_dir(), j);
		fz_write_file(dst, text, strlen(text), 0644);
	}
	return 0;
}

static void terminated(const char *s, size_t cap)
{
	FZ_ASSERT(memchr(s, '\0', cap) != NULL);
}

static void check_config(const struct config *c)
{
	FZ_ASSERT(c->protocol == PROTO_PBFT || c->protocol == PROTO_VR ||
		  c->protocol == PROTO_SINGLE || c->protocol == PROTO_HOTSTUFF);
	FZ_ASSERT(c->n == protocol_n(c->protocol, c->f));
	FZ_ASSERT(c->n >= 1 && c->n <= WIRE_MAX_REPLICAS);
	FZ_ASSERT(c->protocol == PROTO_SINGLE || c->f >= 1);
	FZ_ASSERT(c->auth == AUTH_MODE_NONE || c->auth == AUTH_MODE_SIG ||
		  c->auth == AUTH_MODE_MAC);
	FZ_ASSERT(c->batch_max >= 1 && c->batch_max <= WIRE_MAX_BATCH);
	FZ_ASSERT(c->checkpoint_interval >= 1);
	FZ_ASSERT(c->window >= 2 * (uint64_t)c->checkpoint_interval);
	FZ_ASSERT(c->clients <= WIRE_MAX_CLIENTS);
	terminated(c->path, sizeof(c->path));
	terminated(c->dir, sizeof(c->dir));
	terminated(c->keys, sizeof(c->keys));
	terminated(c->data, sizeof(c->data));
	terminated(c->faults, sizeof(c->faults));
	for (uint32_t i = 0; i < c->n; i++) {
		const struct replica_addr *a = &c->replica[i];
		terminated(a->peer, sizeof(a->peer));
		terminated(a->client, sizeof(a->client));
		terminated(a->admin, sizeof(a->admin));
		FZ_ASSERT(a->peer[0] && a->client[0] && a->admin[0]);
	}
	(void)protocol_name(c->protocol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = malloc(sizeof(*c));
	char err[512];

	if (!c)
		abort();
	fz_write_file(path, data, size, 0600);
	memset(err, 0x55, sizeof(err));
	if (config_load(path, c, err, sizeof(err)) == 0) {
		check_config(c);
		/* replica 0 and the last one: every id takes the same path, and each call
		 * opens up to `clients` files */
		for (uint32_t i = 0; i<c->n; i += c->n> 1 ? c->n - 1 : 1) {
			memset(err, 0x55, sizeof(err));
			if (config_check_replica_keys(c, i, err, sizeof(err)) != 0)
				terminated(err, sizeof(err));
		}
		FZ_ASSERT(config_check_replica_keys(c, c->n, err, sizeof(err)) != 0);
	} else {
		terminated(err, sizeof(err));
		FZ_ASSERT(err[0] != '\0'); /* a failure always says why */
	}
	free(c);
	return 0;
}
