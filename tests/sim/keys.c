/* keys.c - the simulator's principals and their real authenticators.
 *
 * With --auth mac or sig every replica and client of a run seals and verifies with
 * crypto/auth.c, exactly as byzlab-replica and byzlab-client do: the same MAC
 * authenticators (one slot per replica, each checked only by its owner) and the same
 * Ed25519 signatures, so a lie that only real authenticators expose - a garbled MAC
 * slot inside a forwarded certificate (--byz I=mac-poison:IDS), a client whose MACs
 * are good for the primary only - is seen here as it is on real processes.
 *
 * Keys come from fixed seeds (BLAKE2b of the principal's name), not from the run's
 * seed: they are the cluster's identity, the same in every run.  Ed25519 and the MAC
 * are deterministic, so a seed still gives the same run, byte for byte.  The keys are
 * derived once per process and copied into each context.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static struct {
	bool ready;
	uint8_t rpk[SIM_MAX_N][CRYPTO_PK_LEN], rsk[SIM_MAX_N][CRYPTO_SK_LEN];
	uint8_t cpk[SIM_MAX_CLIENTS][CRYPTO_PK_LEN], csk[SIM_MAX_CLIENTS][CRYPTO_SK_LEN];
} K;

static void derive(const char *role, uint32_t id, uint8_t pk[CRYPTO_PK_LEN],
		   uint8_t sk[CRYPTO_SK_LEN])
{
	char name[48];
	uint8_t seed[crypto_sign_SEEDBYTES];
	int len = snprintf(name, sizeof(name), "byzlab-sim %s %u", role, id);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)name, (size_t)len, NULL, 0);
	crypto_sign_seed_keypair(pk, sk, seed);
}

static void keys_ready(void)
{
	if (K.ready)
		return;
	for (uint32_t i = 0; i < SIM_MAX_N; i++)
		derive("replica", i, K.rpk[i], K.rsk[i]);
	for (uint32_t c = 0; c < SIM_MAX_CLIENTS; c++)
		derive("client", c, K.cpk[c], K.csk[c]);
	K.ready = true;
}

const char *sim_auth_name(enum auth_mode mode)
{
	switch (mode) {
	case AUTH_MODE_MAC: return "mac";
	case AUTH_MODE_SIG: return "sig";
	default: return "none";
	}
}

int sim_auth_init(struct auth_ctx *a, enum auth_mode mode, uint32_t n, uint32_t n_clients,
		  bool is_client, uint32_t id)
{
	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->n = n;
	a->self_is_client = is_client;
	a->self = id;
	if (mode == AUTH_MODE_NONE) {
		a->n_clients = is_client ? 0 : n_clients;
		return 0;
	}
	if (n > SIM_MAX_N || n_clients > SIM_MAX_CLIENTS ||
	    id >= (is_client ? SIM_MAX_CLIENTS : SIM_MAX_N))
		return -1;
	keys_ready();
	for (uint32_t i = 0; i < n; i++)
		memcpy(a->replica_pk[i], K.rpk[i], CRYPTO_PK_LEN);
	memcpy(a->sk, is_client ? K.csk[id] : K.rsk[id], CRYPTO_SK_LEN);
	if (is_client)
		return 0; /* as auth_load: a client holds no client keys */
	a->n_clients = n_clients;
	a->client_pk = malloc((size_t)n_clients * CRYPTO_PK_LEN + 1);
	a->client_mac = calloc((size_t)n_clients + 1, CRYPTO_MACKEY_LEN);
	a->client_mac_ready = calloc((size_t)n_clients + 1, 1);
	a->client_suspect = calloc((size_t)n_clients + 1, 1);
	if (!a->client_pk || !a->client_mac || !a->client_mac_ready || !a->client_suspect) {
		auth_free(a);
		return -1;
	}
	for (uint32_t c = 0; c < n_clients; c++)
		memcpy(a->client_pk + (size_t)c * CRYPTO_PK_LEN, K.cpk[c], CRYPTO_PK_LEN);
	return 0;
}
