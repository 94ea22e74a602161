/* fixture.c - keys and auth contexts for the unit tests (fixture.h). */
#define _GNU_SOURCE /* nftw */
#include "tests/unit/fixture.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static struct {
	char dir[512];
	char keys[600];
	uint32_t n, m;
} fx;

int fx_setup(const char *name, uint32_t n, uint32_t m)
{
	const char *base = getenv("BYZLAB_TMP");
	char err[256];

	if (base == NULL || *base == '\0')
		base = "/tmp";
	(void)mkdir(base, 0700);
	snprintf(fx.dir, sizeof(fx.dir), "%s/%s-XXXXXX", base, name);
	if (mkdtemp(fx.dir) == NULL || crypto_setup() != 0) {
		perror(fx.dir);
		return -1;
	}
	snprintf(fx.keys, sizeof(fx.keys), "%s/keys", fx.dir);
	if (key_generate_all(fx.keys, (int)n, (int)m, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	fx.n = n;
	fx.m = m;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int fx_teardown(void **state)
{
	(void)state;
	return nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fx_dir(void)
{
	return fx.dir;
}

const char *fx_keys(void)
{
	return fx.keys;
}

void fx_auth_n(struct auth_ctx *a, enum auth_mode mode, uint32_t n, int is_client, uint32_t id)
{
	char err[256] = "";

	if (n > fx.n || auth_load(a, mode, fx.keys, n, fx.m, is_client, id, err, sizeof(err)) != 0)
		fail_msg("%s %u of %u replicas: %s", is_client ? "client" : "replica", id, n, err);
}

void fx_auth(struct auth_ctx *a, enum auth_mode mode, int is_client, uint32_t id)
{
	fx_auth_n(a, mode, fx.n, is_client, id);
}

void fx_replicas(struct auth_ctx *r, enum auth_mode mode)
{
	for (uint32_t i = 0; i < fx.n; i++)
		fx_auth(&r[i], mode, 0, i);
}

void fx_clients(struct auth_ctx *c, enum auth_mode mode)
{
	for (uint32_t j = 0; j < fx.m; j++)
		fx_auth(&c[j], mode, 1, j);
}

void fx_free(struct auth_ctx *a, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		auth_free(&a[i]);
}

struct core_config fx_hotstuff_config(struct auth_ctx *a, uint32_t cluster_id)
{
	a->mode = AUTH_MODE_NONE;
	a->n = 4;
	return (struct core_config){.protocol = PROTO_HOTSTUFF,
				    .n = 4,
				    .f = 1,
				    .id = 2,
				    .cluster_id = cluster_id,
				    .batch_max = 8,
				    .window = 32,
				    .checkpoint_interval = 8,
				    .view_timeout_ms = 1000,
				    .max_clients = 4,
				    .kv_max_bytes = 1 << 20,
				    .auth = a};
}

int fx_step_msg(void *core, const struct core_ops *ops, const struct buf *b, uint32_t cluster_id,
		struct effects *out)
{
	struct msg m;
	assert_int_equal(wire_decode(b->p, b->len, cluster_id, &m), WIRE_OK);
	struct event ev = {.kind = EV_MSG, .now_ms = 10, .m = &m};
	effects_reset(out);
	return ops->step(core, &ev, out);
}
