/* test_cluster_write.c - cluster.ini from (protocol, f, auth, ports, settings): the text,
 * n from protocol_n(), --set through the parser, staging and committing the file.
 *
 * Keys are not made here (that is byzlab-keygen's job between stage and commit):
 * commit runs with check_keys = 0, except in the one test that touches key files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cluster_write.h"
#include "crypto/auth.h"

struct env {
	char dir[PATH_MAX];
	char err[1024];
	char text[CLUSTER_INI_MAX];
	struct config c;
};

static int setup(void **state)
{
	const char *tmp = getenv("BYZLAB_TMP");
	struct env *e = calloc(1, sizeof *e);

	if (!e)
		return -1;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	mkdir(tmp, 0700);
	snprintf(e->dir, sizeof e->dir, "%s/byzlab-cw-XXXXXX", tmp);
	if (!mkdtemp(e->dir)) {
		free(e);
		return -1;
	}
	*state = e;
	return 0;
}

static void rm(const char *dir, const char *name)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	unlink(p);
}

static int teardown(void **state)
{
	struct env *e = *state;
	char sub[PATH_MAX + 16];
	int i;

	rm(e->dir, "cluster.ini");
	rm(e->dir, "cluster.ini.new");
	snprintf(sub, sizeof sub, "%s/keys", e->dir);
	for (i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof name, "replica-%d.pub", i);
		rm(sub, name);
	}
	rmdir(sub);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* Stage and commit (no key check); the committed file parsed into e->c. */
static int write_cluster(struct env *e, const struct cluster_spec *s, int force)
{
	int r = cluster_stage(e->dir, s, force, &e->c, e->err, sizeof e->err);

	if (r != CLUSTER_OK)
		return r;
	return cluster_commit(e->dir, 0, e->err, sizeof e->err);
}

static int count(const char *hay, const char *needle)
{
	int k = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		k++;
	return k;
}

static void test_n_from_protocol_n(void **state)
{
	struct env *e = *state;
	const struct {
		enum protocol p;
		uint32_t f;
	} cases[] = {
		{PROTO_PBFT, 1}, {PROTO_PBFT, 5}, {PROTO_VR, 1}, {PROTO_VR, 7}, {PROTO_SINGLE, 0}};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cluster_spec s = {.protocol = cases[i].p, .f = cases[i].f};

		assert_int_equal(cluster_ini_build(&s, e->text, sizeof e->text, e->err,
						   sizeof e->err),
				 CLUSTER_OK);
		assert_int_equal(count(e->text, "[replica."),
				 (int)protocol_n(cases[i].p, cases[i].f));
		assert_int_equal(write_cluster(e, &s, 1), CLUSTER_OK);
		assert_int_equal(e->c.protocol, cases[i].p);
		assert_int_equal(e->c.f, cases[i].f);
		assert_int_equal(e->c.n, protocol_n(cases[i].p, cases[i].f));
	}
}

/* pbft f = 10 (n = 31): the written window is the largest whose worst NEW-VIEW fits
 * WIRE_MAX_MSG (config_window_default), not 256, which the parser refuses there
 * (docs/PROTOCOL.md §5.7); f = 1 keeps 256 and 128. */
static void test_window_fits_newview(void **state)
{
	struct env *e = *state;
	struct cluster_spec big = {.protocol = PROTO_PBFT, .f = 10, .auth = "mac"};
	struct cluster_spec small = {.protocol = PROTO_PBFT, .f = 1};

	assert_int_equal(cluster_ini_build(&big, e->text, sizeof e->text, e->err, sizeof e->err),
			 CLUSTER_OK);
	assert_int_equal(count(e->text, "window = 133\n"), 1);
	assert_int_equal(count(e->text, "checkpoint_interval = 66\n"), 1);
	assert_int_equal(write_cluster(e, &big, 1), CLUSTER_OK);
	assert_int_equal(e->c.window, 133);
	assert_int_equal(write_cluster(e, &small, 1), CLUSTER_OK);
	assert_int_equal(e->c.window, 256);
	assert_int_equal(e->c.checkpoint_interval, 128);
}

static void test_ports_auth_defaults(void **state)
{
	struct env *e = *state;
	struct cluster_spec s = {
		.protocol = PROTO_PBFT, .f = 1, .auth = "mac", .base_port = 17000, .clients = 5};

	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_OK);
	assert_string_equal(e->c.replica[0].peer, "tcp://127.0.0.1:17000");
	assert_string_equal(e->c.replica[3].peer, "tcp://127.0.0.1:17003");
	assert_string_equal(e->c.replica[2].client, "tcp://127.0.0.1:17102");
	assert_string_equal(e->c.replica[1].admin, "tcp://127.0.0.1:17201");
	assert_int_equal(e->c.auth, AUTH_MODE_MAC);
	assert_int_equal(e->c.batch_max, 64);
	assert_int_equal(e->c.sync_full, 1);
	assert_int_equal(e->c.clients, CLUSTER_MIN_CLIENTS); /* raised to the minimum */
}

static void test_host_per_replica(void **state)
{
	struct env *e = *state;
	struct cluster_spec s = {.protocol = PROTO_VR,
				 .f = 1,
				 .host = "replica{i}",
				 .set = {"keys=/cluster/keys", "data=/data"},
				 .n_set = 2};

	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_OK);
	assert_string_equal(e->c.replica[0].peer, "tcp://replica0:7000");
	assert_string_equal(e->c.replica[2].peer, "tcp://replica2:7000");
	assert_string_equal(e->c.replica[2].admin, "tcp://replica2:7200");
	assert_string_equal(e->c.keys, "/cluster/keys");
	assert_string_equal(e->c.data, "/data");
	s.host = "a{i}b{i}";
	assert_int_equal(cluster_ini_build(&s, e->text, sizeof e->text, e->err, sizeof e->err),
			 CLUSTER_USAGE);
}

static void test_set_replaces_in_place(void **state)
{
	struct env *e = *state;
	struct cluster_spec s = {.protocol = PROTO_PBFT,
				 .f = 1,
				 .set = {"batch_max=8", "read_only=on", "batch_max=9", "auth=none"},
				 .n_set = 4};

	assert_int_equal(cluster_ini_build(&s, e->text, sizeof e->text, e->err, sizeof e->err),
			 CLUSTER_OK);
	assert_int_equal(count(e->text, "batch_max"), 1); /* later wins, one line */
	assert_int_equal(count(e->text, "auth ="), 1);
	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_OK);
	assert_int_equal(e->c.batch_max, 9);
	assert_int_equal(e->c.read_only, 1);
	assert_int_equal(e->c.auth, AUTH_MODE_NONE);
}

/* A setting the parser refuses: its message, naming the --set; nothing written. */
static void expect_refused(struct env *e, const char *kv, const char *needle)
{
	struct cluster_spec s = {.protocol = PROTO_PBFT, .f = 1, .set = {kv}, .n_set = 1};
	char ini[PATH_MAX + 16];

	assert_int_equal(cluster_stage(e->dir, &s, 1, &e->c, e->err, sizeof e->err), CLUSTER_USAGE);
	print_message("  refused: %s\n", e->err);
	assert_non_null(strstr(e->err, needle));
	snprintf(ini, sizeof ini, "%s/cluster.ini.new", e->dir);
	assert_int_not_equal(access(ini, F_OK), 0);
	snprintf(ini, sizeof ini, "%s/cluster.ini", e->dir);
	assert_int_not_equal(access(ini, F_OK), 0);
}

static void test_bad_set_refused(void **state)
{
	struct env *e = *state;

	expect_refused(e, "bogus=1", "--set bogus=1: ");
	expect_refused(e, "bogus=1", "unknown key in [cluster]");
	expect_refused(e, "window=1", "out of range");
	expect_refused(e, "sync=sometimes", "not one of full, none");
	expect_refused(e, "protocol=vr", "use --protocol");
	expect_refused(e, "f=2", "use --f");
	expect_refused(e, "batch_max=8;x", "without ';'");
	expect_refused(e, "Batch=1", "lower-case");
	expect_refused(e, "novalue", "KEY=VALUE");
}

static void test_bad_spec_refused(void **state)
{
	struct env *e = *state;
	struct cluster_spec s = {.protocol = PROTO_PBFT, .f = 11};

	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_USAGE); /* n = 34 > 32 */
	s.f = 0; /* the parser: pbft needs f >= 1 */
	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_USAGE);
	assert_non_null(strstr(e->err, "key 'f'"));
	s.protocol = PROTO_SINGLE, s.f = 1;
	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_USAGE);
	s.f = 0, s.base_port = 65400; /* P+200 beyond 65535 */
	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_USAGE);
	s.base_port = 80;
	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_USAGE);
}

static void test_no_overwrite_without_force(void **state)
{
	struct env *e = *state;
	struct cluster_spec s = {.protocol = PROTO_VR, .f = 1};

	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_OK);
	s.protocol = PROTO_PBFT;
	assert_int_equal(write_cluster(e, &s, 0), CLUSTER_FAILED);
	assert_non_null(strstr(e->err, "--force"));
	assert_int_equal(write_cluster(e, &s, 1), CLUSTER_OK);
	assert_int_equal(e->c.n, 4);
}

/* commit with check_keys insists on the keys the file names. */
static void test_commit_checks_keys(void **state)
{
	struct env *e = *state;
	struct cluster_spec s = {.protocol = PROTO_PBFT, .f = 1};
	char p[PATH_MAX + 64];

	assert_int_equal(cluster_stage(e->dir, &s, 0, &e->c, e->err, sizeof e->err), CLUSTER_OK);
	assert_int_equal(cluster_commit(e->dir, 1, e->err, sizeof e->err), CLUSTER_USAGE);
	assert_non_null(strstr(e->err, "key 'keys'"));
	assert_int_equal(cluster_stage(e->dir, &s, 0, &e->c, e->err, sizeof e->err), CLUSTER_OK);
	assert_int_equal(mkdir(e->c.keys, 0700), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/replica-%d.pub", e->c.keys, i);
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fclose(f);
	}
	assert_int_equal(cluster_commit(e->dir, 1, e->err, sizeof e->err), CLUSTER_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_n_from_protocol_n, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_auth_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_fits_newview, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_per_replica, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_replaces_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_set_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_spec_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite_without_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_checks_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
