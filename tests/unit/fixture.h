/* fixture.h - keys and auth contexts for the unit tests, made one way.
 *
 * fx_setup() gives a test binary a private directory ($BYZLAB_TMP, else /tmp,
 * NAME-XXXXXX) with the key files `byzlab-keygen` writes (keys/replica-I.{pub,key},
 * keys/client-J.{pub,key}) for n replicas and m clients; fx_auth() and friends load
 * principals from them with the product's own auth_load(), as a replica or client
 * does.  Call fx_setup from cmocka's group setup; fx_teardown is a group teardown:
 *
 *     static int group_setup(void **state) { (void)state; return fx_setup("t", N, M); }
 *     ... cmocka_run_group_tests(tests, group_setup, fx_teardown);
 */
#ifndef BYZLAB_TEST_FIXTURE_H
#define BYZLAB_TEST_FIXTURE_H

#include <stdint.h>

#include "crypto/auth.h"
#include "replica/core/core.h"

/* libsodium, the directory and the n + m key pairs.  0, or -1 (with a message). */
int fx_setup(const char *name, uint32_t n, uint32_t m);
/* Remove the directory and everything in it (state: unused).  0, or -1. */
int fx_teardown(void **state);
const char *fx_dir(void);  /* the private directory */
const char *fx_keys(void); /* its keys/ */

/* Principal (is_client, id) of a cluster of the n replicas and m clients, loaded in
 * `mode` (auth_load); fails the running test if it cannot be.  Free with auth_free. */
void fx_auth(struct auth_ctx *a, enum auth_mode mode, int is_client, uint32_t id);
/* The same in a smaller cluster: replicas 0..n-1 (n <= the n of fx_setup). */
void fx_auth_n(struct auth_ctx *a, enum auth_mode mode, uint32_t n, int is_client, uint32_t id);
void fx_replicas(struct auth_ctx *r, enum auth_mode mode); /* r[0..n) */
void fx_clients(struct auth_ctx *c, enum auth_mode mode);  /* c[0..m) */
void fx_free(struct auth_ctx *a, uint32_t count);          /* auth_free a[0..count) */

/* A HotStuff core config for replica 2 of 4 (f = 1), small batches and window, auth
 * none through *a (filled in here; keep it alive as long as the core). */
struct core_config fx_hotstuff_config(struct auth_ctx *a, uint32_t cluster_id);

/* Decode the message in b (it must decode, for cluster_id) and step core with it at
 * now_ms 10, into out (reset first).  The step's result. */
int fx_step_msg(void *core, const struct core_ops *ops, const struct buf *b, uint32_t cluster_id,
		struct effects *out);

#endif
