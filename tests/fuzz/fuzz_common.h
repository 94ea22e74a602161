/* fuzz_common.h - shared support of the fuzz targets (tests/fuzz/fuzz_*.c), their
 * corpus generator (gen_corpus.c) and the regression replayer (replay_main.c).
 *
 * Keys are FIXED (derived from constant seeds), so the generator can seal messages
 * that the fuzz targets then verify: a mutated seed that still authenticates reaches
 * the code behind auth_verify.  These keys protect nothing; they exist for tests only.
 */
#ifndef BYZLAB_FUZZ_COMMON_H
#define BYZLAB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/auth.h"
#include "wire/wire.h"

#define FZ_CLUSTER 1u                 /* cluster id of every generated message */
#define FZ_REPLICAS WIRE_MAX_REPLICAS /* replica key pairs in the keys directory */
#define FZ_CLIENTS 8u                 /* client key pairs in the keys directory */

/* Every fuzz target defines these (libFuzzer's entry points). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory (mkdtemp under $BYZLAB_TMP or /tmp) holding keys/ with the fixed
 * key pairs replica-0..FZ_REPLICAS-1 and client-0..FZ_CLIENTS-1.  The first call also
 * initialises libsodium (crypto_setup), creates it, and removes it at exit.  Aborts if
 * either fails (the harness is broken). */
const char *fz_dir(void);
const char *fz_keys_dir(void);

/* A loaded auth context for principal (is_client, self) in a cluster of n replicas,
 * with FZ_CLIENTS client keys; cached, so repeated calls are cheap.  Never NULL. */
struct auth_ctx *fz_auth(enum auth_mode mode, uint32_t n, int is_client, uint32_t self);

/* Write p[0..len) to path (replacing it).  Aborts on failure. */
void fz_write_file(const char *path, const void *p, size_t len, int mode);

/* Abort with a message when an invariant of the code under test is violated. */
#define FZ_ASSERT(cond)                                     \
	do {                                                \
		if (!(cond))                                \
			fz_fail(__FILE__, __LINE__, #cond); \
	} while (0)
void fz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
