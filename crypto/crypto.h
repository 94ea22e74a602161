/* crypto.h - keys, digests, signatures and MAC authenticators (libsodium).
 *
 * Principals: replicas 0..n-1 and clients 0..m-1, each with an Ed25519 key pair in
 * the keys directory:  replica-I.pub / replica-I.key, client-J.pub / client-J.key.
 * .pub holds the 32-byte public key as 64 hex characters and a newline; .key holds
 * the 64-byte libsodium secret key as 128 hex characters and a newline, mode 0600.
 *
 * MAC keys need no extra files: the key shared by two principals is derived from
 * X25519 of their Ed25519 keys (converted to Curve25519), hashed with both identities
 * (crypto_kx-style), so each pair shares one symmetric key nobody else knows.
 */
#ifndef BYZLAB_CRYPTO_H
#define BYZLAB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

#define CRYPTO_PK_LEN 32
#define CRYPTO_SK_LEN 64
#define CRYPTO_MACKEY_LEN 32

/* Call once before anything else (sodium_init).  Returns 0, or -1. */
int crypto_setup(void);

/* BLAKE2b-256 of p[0..n). */
void crypto_digest(const uint8_t *p, size_t n, uint8_t out[WIRE_DIGEST_LEN]);

/* Incremental BLAKE2b-256 (for state digests built piece by piece). */
struct digest_ctx {
	uint8_t opaque[384] __attribute__((aligned(64)));
};
void crypto_digest_init(struct digest_ctx *c);
void crypto_digest_update(struct digest_ctx *c, const uint8_t *p, size_t n);
void crypto_digest_final(struct digest_ctx *c, uint8_t out[WIRE_DIGEST_LEN]);

/* (Not crypto_sign_bytes: libsodium already exports size_t crypto_sign_bytes(void).) */
void crypto_sign_buf(const uint8_t sk[CRYPTO_SK_LEN], const uint8_t *p, size_t n,
		     uint8_t sig[WIRE_SIG_LEN]);
/* 0 if valid, -1 otherwise. */
int crypto_verify_bytes(const uint8_t pk[CRYPTO_PK_LEN], const uint8_t *p, size_t n,
			const uint8_t sig[WIRE_SIG_LEN]);

void crypto_mac_bytes(const uint8_t key[CRYPTO_MACKEY_LEN], const uint8_t *p, size_t n,
		      uint8_t mac[WIRE_MAC_LEN]);
int crypto_mac_verify(const uint8_t key[CRYPTO_MACKEY_LEN], const uint8_t *p, size_t n,
		      const uint8_t mac[WIRE_MAC_LEN]);

/* Principal tags for key derivation: replica i -> i, client j -> 0x80000000|j. */
#define PRINCIPAL_CLIENT 0x80000000u
/* Derive the pairwise MAC key between principal `self` (secret key sk) and principal
 * `peer` (public key pk).  Both ends derive the same key.  Returns 0 or -1. */
int crypto_mac_key(const uint8_t sk[CRYPTO_SK_LEN], uint32_t self, const uint8_t pk[CRYPTO_PK_LEN],
		   uint32_t peer, uint8_t key[CRYPTO_MACKEY_LEN]);

/* Key files.  Every function returns 0, or -1 with a one-line message in err that
 * names the file (e.g. "keys/replica-0.key: mode 0644 is readable by others; chmod 600"). */
int key_generate_pair(const char *dir, const char *name, char *err, size_t errlen);
int key_load_public(const char *path, uint8_t pk[CRYPTO_PK_LEN], char *err, size_t errlen);
/* Refuses a secret key file that group or others can read, or that is malformed. */
int key_load_secret(const char *path, uint8_t sk[CRYPTO_SK_LEN], char *err, size_t errlen);
/* Generate replica-0..replicas-1 and client-0..clients-1 in dir (created 0700 if
 * missing).  Existing pairs are kept.  Returns 0 or -1. */
int key_generate_all(const char *dir, int replicas, int clients, char *err, size_t errlen);

/* Wipe secret material (sodium_memzero). */
void crypto_wipe(void *p, size_t n);

#endif
