/* auth_load.c - auth_load(): an auth context's keys, read from the keys directory.
 *
 * Apart from auth.c because it reads files (crypto/keys.c): auth.c seals and verifies
 * with keys already in memory and belongs in the pure core library (byzlab_core, which
 * does no IO); this file belongs in the IO library (byzlab).  The simulator fills its
 * contexts without files (tests/sim/keys.c).
 */
#include "crypto/auth.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/textbuf.h" /* seterr */

static int load_pub(const char *dir, const char *role, uint32_t id, uint8_t pk[CRYPTO_PK_LEN],
		    char *err, size_t errlen)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s-%u.pub", dir, role, id);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		seterr(err, errlen, "%s/%s-%u.pub: path too long", dir, role, id);
		return -1;
	}
	return key_load_public(path, pk, err, errlen);
}

static int load_own_secret(struct auth_ctx *a, const char *dir, char *err, size_t errlen)
{
	const char *role = a->self_is_client ? "client" : "replica";
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s-%u.key", dir, role, a->self);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		seterr(err, errlen, "%s/%s-%u.key: path too long", dir, role, a->self);
		return -1;
	}
	if (key_load_secret(path, a->sk, err, errlen) != 0)
		return -1;
	/* A replica's own .pub is what its peers verify against: catch a mismatched
	 * pair at startup instead of as "everybody rejects me" later. */
	if (!a->self_is_client &&
	    memcmp(a->replica_pk[a->self], a->sk + CRYPTO_SK_LEN - CRYPTO_PK_LEN, CRYPTO_PK_LEN) !=
		    0) {
		seterr(err, errlen, "%s: does not match %s/replica-%u.pub", path, dir, a->self);
		return -1;
	}
	return 0;
}

static int load_clients(struct auth_ctx *a, const char *dir, char *err, size_t errlen)
{
	uint32_t j;

	if (a->n_clients == 0)
		return 0;
	a->client_pk = calloc(a->n_clients, CRYPTO_PK_LEN);
	a->client_mac = calloc(a->n_clients, CRYPTO_MACKEY_LEN);
	a->client_mac_ready = calloc(a->n_clients, 1);
	a->client_suspect = calloc(a->n_clients, 1);
	if (!a->client_pk || !a->client_mac || !a->client_mac_ready || !a->client_suspect) {
		seterr(err, errlen, "%s: out of memory for %u client keys", dir, a->n_clients);
		return -1;
	}
	for (j = 0; j < a->n_clients; j++)
		if (load_pub(dir, "client", j, a->client_pk + (size_t)j * CRYPTO_PK_LEN, err,
			     errlen) != 0)
			return -1;
	return 0;
}

int auth_load(struct auth_ctx *a, enum auth_mode mode, const char *keys_dir, uint32_t n,
	      uint32_t n_clients, int self_is_client, uint32_t self, char *err, size_t errlen)
{
	uint32_t i;

	memset(a, 0, sizeof(*a));
	if (mode != AUTH_MODE_NONE && mode != AUTH_MODE_SIG && mode != AUTH_MODE_MAC) {
		seterr(err, errlen, "%s: unknown auth mode %d", keys_dir, (int)mode);
		return -1;
	}
	if (n < 1 || n > WIRE_MAX_REPLICAS || n_clients > WIRE_MAX_CLIENTS ||
	    (self_is_client ? self >= WIRE_MAX_CLIENTS : self >= n)) {
		seterr(err, errlen, "%s: bad principal (n %u, clients %u, %s %u)", keys_dir, n,
		       n_clients, self_is_client ? "client" : "replica", self);
		return -1;
	}
	a->mode = mode;
	a->n = n;
	/* A client never verifies client-signed messages, so it holds no client keys. */
	a->n_clients = self_is_client ? 0 : n_clients;
	a->self_is_client = self_is_client ? 1 : 0;
	a->self = self;

	for (i = 0; i < n; i++)
		if (load_pub(keys_dir, "replica", i, a->replica_pk[i], err, errlen) != 0)
			goto fail;
	if (load_own_secret(a, keys_dir, err, errlen) != 0 ||
	    load_clients(a, keys_dir, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	auth_free(a);
	return -1;
}
