/* test_config.c - cluster.ini loading and validation.
 *
 * Every test writes its config into a fresh temp dir that also holds a hand-made
 * keys directory (files of 64 hex characters: config only checks that they exist),
 * so nothing here depends on the crypto module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "crypto/auth.h"

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"

/* The valid base config; tests edit single lines by number, so keep the numbering
 * (index + 1 = line) in mind when changing it. */
static const char *const base[] = {
	"; test cluster",                                       /* 1 */
	"[cluster]",                                            /* 2 */
	"protocol = pbft          ; comment",                   /* 3 */
	"f = 1",                                                /* 4 */
	"auth = mac",                                           /* 5 */
	"batch_max = 32",                                       /* 6 */
	"window = 512",                                         /* 7 */
	"checkpoint_interval = 100",                            /* 8 */
	"view_timeout_ms = 2000   # other comment",             /* 9 */
	"sync = none",                                          /* 10 */
	"keys = keys",                                          /* 11 */
	"data = store",                                         /* 12 */
	"clients = 4",                                          /* 13 */
	"cluster_id = 7",                                       /* 14 */
	"",                                                     /* 15 */
	"[replica.0]",                                          /* 16 */
	"peer = tcp://127.0.0.1:7000     ; replica-to-replica", /* 17 */
	"client = tcp://127.0.0.1:7100",                        /* 18 */
	"admin = tcp://127.0.0.1:7200",                         /* 19 */
	"",                                                     /* 20 */
	"[replica.1]",                                          /* 21 */
	"  peer = tcp://127.0.0.1:7001",                        /* 22 */
	"  client = tcp://127.0.0.1:7101",                      /* 23 */
	"  admin = ipc:///tmp/byzlab-admin-1",                  /* 24 */
	"",                                                     /* 25 */
	"[replica.2]",                                          /* 26 */
	"peer = tcp://127.0.0.1:7002",                          /* 27 */
	"client = tcp://127.0.0.1:7102",                        /* 28 */
	"admin = tcp://127.0.0.1:7202",                         /* 29 */
	"",                                                     /* 30 */
	"[replica.3]",                                          /* 31 */
	"peer = tcp://127.0.0.1:7003",                          /* 32 */
	"client = tcp://127.0.0.1:7103",                        /* 33 */
	"admin = inproc://admin-3",                             /* 34 */
	"",                                                     /* 35 */
	"[faults]",                                             /* 36 */
	"drop = 0.1",                                           /* 37 */
	"delay = 5,tail=pareto    ; heavy tail",                /* 38 */
	"drop.2 = 0.5",                                         /* 39 */
};
#define BASE_LINES (sizeof base / sizeof base[0])
#define MAX_LINES 64

/* One edit of the base: replace line `line` (1-based) by text; line 0 = append. */
struct edit {
	int line;
	const char *text;
};

struct env {
	char dir[PATH_MAX];
	char ini[PATH_MAX + 16];
	char err[1024];
	struct config c;
};

static void touch(const char *dir, const char *name, mode_t mode)
{
	char p[PATH_MAX + 64];
	FILE *f;

	/* checked, not ignored: gcc -O3 (CMAKE_BUILD_TYPE=Release) warns of truncation */
	assert_true((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) < sizeof p);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(HEX64, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

/* keys dir with replica-0..nrep-1 .pub and .key (0600) and client-0..ncli-1 .pub */
static void make_keys(const char *dir, const char *sub, int nrep, int ncli)
{
	char p[PATH_MAX + 64], name[64];
	int i;

	snprintf(p, sizeof p, "%s/%s", dir, sub);
	assert_int_equal(mkdir(p, 0700), 0);
	for (i = 0; i < nrep; i++) {
		snprintf(name, sizeof name, "replica-%d.pub", i);
		touch(p, name, 0644);
		snprintf(name, sizeof name, "replica-%d.key", i);
		touch(p, name, 0600);
	}
	for (i = 0; i < ncli; i++) {
		snprintf(name, sizeof name, "client-%d.pub", i);
		touch(p, name, 0644);
	}
}

static int setup(void **state)
{
	const char *tmp = getenv("BYZLAB_TMP");
	struct env *e = calloc(1, sizeof *e);

	if (!e)
		return -1;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	mkdir(tmp, 0700); /* ctest's BYZLAB_TMP may not exist yet */
	snprintf(e->dir, sizeof e->dir, "%s/byzlab-config-XXXXXX", tmp);
	if (!mkdtemp(e->dir)) {
		free(e);
		return -1;
	}
	snprintf(e->ini, sizeof e->ini, "%s/cluster.ini", e->dir);
	make_keys(e->dir, "keys", 4, 128);
	*state = e;
	return 0;
}

static void rm_tree(const char *path)
{
	char p[PATH_MAX + 300];
	struct dirent *d;
	struct stat st;
	DIR *dh = opendir(path);

	if (!dh)
		return;
	while ((d = readdir(dh))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", path, d->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(dh);
	rmdir(path);
}

static int teardown(void **state)
{
	struct env *e = *state;

	rm_tree(e->dir);
	free(e);
	return 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Write the base config with edits applied to e->ini. */
static void write_cfg(struct env *e, const struct edit *ed, size_t ned)
{
	const char *lines[MAX_LINES];
	size_t n = BASE_LINES, i;
	FILE *f;

	memcpy(lines, base, sizeof base);
	for (i = 0; i < ned; i++) {
		if (ed[i].line == 0) {
			assert_true(n < MAX_LINES);
			lines[n++] = ed[i].text;
		} else {
			assert_true((size_t)ed[i].line <= n);
			lines[ed[i].line - 1] = ed[i].text;
		}
	}
	f = fopen(e->ini, "w");
	assert_non_null(f);
	for (i = 0; i < n; i++)
		fprintf(f, "%s\n", lines[i]);
	fclose(f);
}

/* Load must fail; the message must name the file, the line (if > 0) and `needle`. */
static void expect_fail_at(struct env *e, int line, const char *needle)
{
	char at[64];

	e->err[0] = '\0';
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), -1);
	print_message("  rejected: %s\n", e->err);
	assert_non_null(strstr(e->err, e->ini));
	if (line > 0) {
		snprintf(at, sizeof at, "cluster.ini:%d: ", line);
		assert_non_null(strstr(e->err, at));
	} else {
		snprintf(at, sizeof at, "cluster.ini: ");
		assert_non_null(strstr(e->err, at));
	}
	assert_non_null(strstr(e->err, needle));
	/* nothing half-configured */
	assert_int_equal(e->c.n, 0);
	assert_string_equal(e->c.replica[0].peer, "");
}

static void bad(struct env *e, const struct edit *ed, size_t ned, int line, const char *needle)
{
	write_cfg(e, ed, ned);
	expect_fail_at(e, line, needle);
}

#define BAD1(e, l, t, line, needle)                 \
	do {                                        \
		const struct edit ed_[] = {{l, t}}; \
		bad(e, ed_, 1, line, needle);       \
	} while (0)

/* ---- valid configs ---- */

static void test_valid_full(void **state)
{
	struct env *e = *state;
	char want[PATH_MAX + 32];

	write_cfg(e, NULL, 0);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_string_equal(e->c.path, e->ini);
	assert_string_equal(e->c.dir, e->dir);
	assert_int_equal(e->c.protocol, PROTO_PBFT);
	assert_int_equal(e->c.f, 1);
	assert_int_equal(e->c.n, 4);
	assert_int_equal(e->c.auth, AUTH_MODE_MAC);
	assert_int_equal(e->c.batch_max, 32);
	assert_int_equal(e->c.window, 512);
	assert_int_equal(e->c.checkpoint_interval, 100);
	assert_int_equal(e->c.view_timeout_ms, 2000);
	assert_int_equal(e->c.sync_full, 0);
	assert_int_equal(e->c.clients, 4);
	assert_int_equal(e->c.cluster_id, 7);
	snprintf(want, sizeof want, "%s/keys", e->dir);
	assert_string_equal(e->c.keys, want);
	snprintf(want, sizeof want, "%s/store", e->dir);
	assert_string_equal(e->c.data, want);
	assert_string_equal(e->c.replica[0].peer, "tcp://127.0.0.1:7000");
	assert_string_equal(e->c.replica[0].client, "tcp://127.0.0.1:7100");
	assert_string_equal(e->c.replica[0].admin, "tcp://127.0.0.1:7200");
	assert_string_equal(e->c.replica[1].peer, "tcp://127.0.0.1:7001");
	assert_string_equal(e->c.replica[1].admin, "ipc:///tmp/byzlab-admin-1");
	assert_string_equal(e->c.replica[3].admin, "inproc://admin-3");
	assert_int_equal(e->c.replica[0].line, 16);
	assert_int_equal(e->c.replica[3].line, 31);
	assert_string_equal(e->c.faults, "drop=0.1;delay=5,tail=pareto;drop.2=0.5");
	assert_int_equal(config_check_replica_keys(&e->c, 2, e->err, sizeof e->err), 0);
}

static void test_valid_defaults(void **state)
{
	struct env *e = *state;
	char want[PATH_MAX + 32];

	write_text(
		e->ini,
		"[replica.1]\n"
		"peer = tcp://h:1\nclient = tcp://h:2\nadmin = tcp://h:3\n"
		"[cluster]\nf = 1\nprotocol = vr\n"
		"[replica.0]\n"
		"peer = tcp://g:1\nclient = tcp://g:2\nadmin = tcp://g:3\n"
		"[replica.2]\n"
		"peer = tcp://i:1\nclient = tcp://i:2\r\nadmin = tcp://i:3"); /* CRLF, no final LF */
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.protocol, PROTO_VR);
	assert_int_equal(e->c.n, 3);
	assert_int_equal(e->c.auth, AUTH_MODE_SIG);
	assert_int_equal(e->c.batch_max, 64);
	assert_int_equal(e->c.window, 256);
	assert_int_equal(e->c.checkpoint_interval, 128);
	assert_int_equal(e->c.view_timeout_ms, 1000);
	assert_int_equal(e->c.sync_full, 1);
	assert_int_equal(e->c.read_only, 0);
	assert_int_equal(e->c.digest_replies, 0);
	assert_int_equal(e->c.group_commit, 1);
	assert_int_equal(e->c.coalesce, 1);
	assert_int_equal(e->c.rx_aio, 1);
	assert_int_equal(e->c.clients, 128);
	assert_int_equal(e->c.cluster_id, 1);
	snprintf(want, sizeof want, "%s/keys", e->dir);
	assert_string_equal(e->c.keys, want);
	snprintf(want, sizeof want, "%s/data", e->dir);
	assert_string_equal(e->c.data, want);
	assert_string_equal(e->c.replica[2].client, "tcp://i:2");
	assert_string_equal(e->c.replica[2].admin, "tcp://i:3");
	assert_string_equal(e->c.faults, "");
	assert_int_equal(config_check_replica_keys(&e->c, 0, e->err, sizeof e->err), 0);
}

/* The optimizations that used to be environment variables (BYZLAB_GROUP_COMMIT,
 * BYZLAB_COALESCE, BYZLAB_RX_AIO) are [cluster] keys: on by default (the base config
 * does not set them), each turned off on its own, and the value reaches the struct. */
static void test_optimization_keys(void **state)
{
	struct env *e = *state;
	static const char *const name[3] = {"group_commit", "coalesce", "rx_aio"};
	char line[64];
	int k, j;

	write_cfg(e, NULL, 0);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.group_commit, 1);
	assert_int_equal(e->c.coalesce, 1);
	assert_int_equal(e->c.rx_aio, 1);
	for (k = 0; k < 3; k++) {
		/* only key k is set (off, in [cluster]: line 15 is blank); the others
		 * keep their default */
		int *got[3] = {&e->c.group_commit, &e->c.coalesce, &e->c.rx_aio};
		const struct edit one[] = {{15, line}};

		snprintf(line, sizeof line, "%s = off", name[k]);
		write_cfg(e, one, 1);
		assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
		for (j = 0; j < 3; j++)
			assert_int_equal(*got[j], j != k);
	}
	/* all three written, on and off */
	{
		const struct edit all[] = {{10, "group_commit = off"},
					   {14, "coalesce = on"},
					   {15, "rx_aio = off"}};

		write_cfg(e, all, 3);
		assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
		assert_int_equal(e->c.group_commit, 0);
		assert_int_equal(e->c.coalesce, 1);
		assert_int_equal(e->c.rx_aio, 0);
	}
	/* a bad value is a configuration error naming file, line and key */
	BAD1(e, 15, "coalesce = maybe", 15, "key 'coalesce': 'maybe' is not one of on, off");
	BAD1(e, 15, "group_commit = 0", 15, "key 'group_commit'");
	BAD1(e, 15, "rx_aio = ", 15, "key 'rx_aio'");
	{
		const struct edit dup[] = {{10, "rx_aio = off"}, {15, "rx_aio = on"}};

		bad(e, dup, 2, 15, "key 'rx_aio': duplicate key");
	}
}

/* issue 16: robust = on|off, robust_ratio as a decimal, robust_heartbeat_ms shorter
 * than the view timeout (default min(60 ms, a quarter of it): the ordering deadline). */
static void test_robust_keys(void **state)
{
	struct env *e = *state;

	write_cfg(e, NULL, 0);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.robust, 0);
	assert_int_equal(e->c.robust_ratio_permille, 900);
	assert_int_equal(e->c.robust_heartbeat_ms, CONFIG_ROBUST_HEARTBEAT_MS);
	assert_int_equal(config_robust_heartbeat_default(1000), 60);
	assert_int_equal(config_robust_heartbeat_default(200), 50);
	/* issue 16: parked for the ordering deadline D (relayed unverified on arrival),
	 * not D/2 or D/4; escalated by clients after at most D/2 */
	assert_int_equal(config_robust_park_ms(60), 60);
	assert_int_equal(config_robust_park_ms(0), 1);
	assert_int_equal(config_robust_escalate_ms(60), 30);
	assert_int_equal(config_robust_escalate_ms(1), 1);
	{
		const struct edit on[] = {{10, "robust = on"},
					  {14, "robust_ratio = 0.95"},
					  {15, "robust_heartbeat_ms = 120"}};

		write_cfg(e, on, 3);
		assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
		assert_int_equal(e->c.robust, 1);
		assert_int_equal(e->c.robust_ratio_permille, 950);
		assert_int_equal(e->c.robust_heartbeat_ms, 120);
	}
	{
		const struct edit one[] = {{15, "robust_ratio = 1"}};

		write_cfg(e, one, 1);
		assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
		assert_int_equal(e->c.robust_ratio_permille, 1000);
	}
	BAD1(e, 15, "robust = yes", 15, "key 'robust': 'yes' is not one of on, off");
	BAD1(e, 15, "robust_ratio = 0.4", 15, "key 'robust_ratio'");
	BAD1(e, 15, "robust_ratio = 1.5", 15, "key 'robust_ratio'");
	BAD1(e, 15, "robust_ratio = .9", 15, "key 'robust_ratio'");
	BAD1(e, 15, "robust_ratio = 0.9x", 15, "key 'robust_ratio'");
	BAD1(e, 15, "robust_ratio = 0.9001", 15, "key 'robust_ratio'");
	BAD1(e, 15, "robust_heartbeat_ms = 100000", 15,
	     "key 'robust_heartbeat_ms': 100000 must be shorter than view_timeout_ms");
}

/* issue 17: evidence = on|off, default on (replica.c passes it to the core as
 * evidence_off). */
static void test_evidence_key(void **state)
{
	struct env *e = *state;

	write_cfg(e, NULL, 0);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.evidence, 1);
	{
		const struct edit off[] = {{15, "evidence = off"}};

		write_cfg(e, off, 1);
		assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
		assert_int_equal(e->c.evidence, 0);
	}
	BAD1(e, 15, "evidence = maybe", 15, "key 'evidence': 'maybe' is not one of on, off");
}

/* issue 17 item 3: forensics_k = 0..64, default 2 (checkpoints of transcript kept). */
static void test_forensics_k_key(void **state)
{
	struct env *e = *state;

	write_cfg(e, NULL, 0);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.forensics_k, 2);
	{
		const struct edit zero[] = {{15, "forensics_k = 0"}};

		write_cfg(e, zero, 1);
		assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
		assert_int_equal(e->c.forensics_k, 0);
	}
	BAD1(e, 15, "forensics_k = 65", 15, "key 'forensics_k': 65 is out of range 0..64");
	BAD1(e, 15, "forensics_k = two", 15, "key 'forensics_k'");
}

static void test_valid_single_and_cwd(void **state)
{
	struct env *e = *state;
	char cwd[PATH_MAX];
	int r;

	write_text(e->ini,
		   "\xef\xbb\xbf[cluster]\nprotocol = single\nf = 0\n"
		   "keys = /nonexistent-will-fail\n"
		   "[replica.0]\npeer = tcp://a:1\nclient = tcp://a:2\nadmin = tcp://a:3\n");
	/* absolute keys path is taken as is */
	expect_fail_at(e, 4, "/nonexistent-will-fail");

	write_text(e->ini,
		   "\xef\xbb\xbf[cluster]\nprotocol = single\nf = 0\n"
		   "[replica.0]\npeer = tcp://a:1\nclient = tcp://a:2\nadmin = tcp://a:3\n");
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(e->dir), 0);
	r = config_load("cluster.ini", &e->c, e->err, sizeof e->err);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(r, 0);
	assert_int_equal(e->c.n, 1);
	assert_string_equal(e->c.dir, ".");
	assert_string_equal(e->c.keys, "keys");
	assert_string_equal(protocol_name(e->c.protocol), "single");
}

static void test_example_file(void **state)
{
	struct env *e = *state;
	char src[PATH_MAX], text[8192];
	char *slash;
	size_t len;
	FILE *f;

	/* __FILE__ is .../tests/unit/test_config.c */
	snprintf(src, sizeof src, "%s", __FILE__);
	slash = strstr(src, "tests/unit/test_config.c");
	assert_non_null(slash);
	strcpy(slash, "config/examples/pbft-f1.ini");
	f = fopen(src, "r");
	assert_non_null(f);
	len = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	assert_true(len > 0 && len < sizeof text - 1);
	text[len] = '\0';
	write_text(e->ini, text);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.n, 4);
	assert_int_equal(e->c.protocol, PROTO_PBFT);
	assert_int_equal(e->c.auth, AUTH_MODE_SIG);
	assert_string_equal(e->c.replica[3].admin, "tcp://127.0.0.1:7203");
}

static void test_protocol_n(void **state)
{
	(void)state;
	assert_int_equal(protocol_n(PROTO_PBFT, 1), 4);
	assert_int_equal(protocol_n(PROTO_PBFT, 5), 16);
	assert_int_equal(protocol_n(PROTO_VR, 2), 5);
	assert_int_equal(protocol_n(PROTO_SINGLE, 0), 1);
	assert_string_equal(protocol_name(PROTO_PBFT), "pbft");
	assert_string_equal(protocol_name(PROTO_VR), "vr");
}

/* ---- rejected configs: each names file, line and key ---- */

static void test_bad_keys_and_sections(void **state)
{
	struct env *e = *state;

	BAD1(e, 6, "batchmax = 32", 6, "key 'batchmax'"); /* unknown key */
	BAD1(e, 22, "peers = tcp://127.0.0.1:7001", 22, "key 'peers'");
	BAD1(e, 0, "[bogus]", 40, "'bogus'"); /* unknown section */
	BAD1(e, 0, "[replica.0]", 40, "duplicate section");
	BAD1(e, 15, "f = 2", 15, "key 'f': duplicate key"); /* duplicate key */
	BAD1(e, 0, "drop = 0.2", 40, "key 'drop': duplicate");
	BAD1(e, 1, "f = 1", 1, "key 'f'"); /* outside a section */
	BAD1(e, 15, "just some words", 15, "syntax error");
	BAD1(e, 0, "[cluster", 40, "missing ']'");
	write_text(e->ini, "[replica.0]\npeer = tcp://a:1\nclient = tcp://a:2\n"
			   "admin = tcp://a:3\n");
	expect_fail_at(e, 0, "[cluster] missing");
}

static void test_bad_protocol_and_f(void **state)
{
	struct env *e = *state;

	BAD1(e, 3, "protocol = paxos", 3, "key 'protocol'");
	BAD1(e, 3, "", 2, "key 'protocol': missing"); /* header line */
	BAD1(e, 4, "", 2, "key 'f': missing");
	BAD1(e, 4, "f = 0", 4, "key 'f'");               /* f=0 for pbft */
	BAD1(e, 4, "f = 11", 4, "key 'f': f too large"); /* n = 34 > 32 */
	BAD1(e, 4, "f = 4294967295", 4, "key 'f': f too large");
	BAD1(e, 4, "f = 4294967296", 4, "key 'f'");    /* overflow */
	BAD1(e, 3, "protocol = single", 4, "key 'f'"); /* single needs f=0 */
}

static void test_bad_replica_sections(void **state)
{
	struct env *e = *state;

	/* vr f=1 has n=3: [replica.3] is one too many */
	BAD1(e, 3, "protocol = vr", 31, "replica.3");
	/* pbft f=1 without [replica.1] */
	{
		const struct edit ed[] = {{21, ""}, {22, ""}, {23, ""}, {24, ""}};

		bad(e, ed, 4, 4, "[replica.1] is missing");
	}
	/* hole: 0,1,2,4 instead of 0..3 */
	BAD1(e, 31, "[replica.4]", 31, "replica.4");
	BAD1(e, 31, "[replica.x]", 31, "replica.x");
	BAD1(e, 31, "[replica.99]", 31, "replica.99");
	BAD1(e, 27, "", 26, "key 'peer': missing in [replica.2]"); /* header line */
	BAD1(e, 27, "peer = http://127.0.0.1:7002", 27, "key 'peer'");
	BAD1(e, 27, "peer = tcp://", 27, "key 'peer'");
	BAD1(e, 27,
	     "peer = tcp://127.0.0.1:70020000000000000000000000000000000000000000000"
	     "00000000000000000000000000000000000000000000000000000000000000000000000000000",
	     27, "key 'peer'"); /* >= CONFIG_ADDR_MAX */
	/* the same address twice, across replicas and roles */
	BAD1(e, 23, "client = tcp://127.0.0.1:7000", 23, "key 'client'");
	BAD1(e, 19, "admin = tcp://127.0.0.1:7100", 19, "line 18");
}

/* ---- issue 19: the largest cluster, n = 31 (pbft f = 10) ---- */

/* pbft f=10 with [replica.0]..[replica.nrep-1] (ports 30000 + 3i..), plus `extra`
 * appended verbatim. */
static void write_big(struct env *e, uint32_t f, int nrep, const char *extra)
{
	FILE *fp = fopen(e->ini, "w");

	assert_non_null(fp);
	fprintf(fp,
		"[cluster]\nprotocol = pbft\nf = %" PRIu32 "\nauth = mac\nkeys = keys31\n"
		"clients = 4\n",
		f);
	for (int i = 0; i < nrep; i++)
		fprintf(fp,
			"[replica.%d]\npeer = tcp://127.0.0.1:%d\nclient = tcp://127.0.0.1:%d\n"
			"admin = tcp://127.0.0.1:%d\n",
			i, 30000 + 3 * i, 30001 + 3 * i, 30002 + 3 * i);
	fputs(extra, fp);
	fclose(fp);
}

static void test_n31(void **state)
{
	struct env *e = *state;

	make_keys(e->dir, "keys31", 31, 4);
	write_big(e, 10, 31, "");
	int rc = config_load(e->ini, &e->c, e->err, sizeof e->err);
	if (rc != 0)
		print_message("  unexpected: %s\n", e->err);
	assert_int_equal(rc, 0);
	assert_int_equal(e->c.f, 10);
	assert_int_equal(e->c.n, 31);
	assert_string_equal(e->c.replica[30].peer, "tcp://127.0.0.1:30090");
	assert_string_equal(e->c.replica[30].admin, "tcp://127.0.0.1:30092");
	memset(&e->c, 0, sizeof e->c);
	/* a 32nd replica section in an n = 31 cluster: line 6 + 4 x 31 + 1 */
	write_big(e, 10, 31,
		  "[replica.31]\npeer = tcp://127.0.0.1:31000\nclient = tcp://127.0.0.1:31001\n"
		  "admin = tcp://127.0.0.1:31002\n");
	expect_fail_at(e, 131,
		       "extra replica section: pbft with f=10 has n=31 replicas, "
		       "[replica.0]..[replica.30]");
	/* ... a 33rd slot does not exist at all ... */
	write_big(e, 10, 31, "[replica.32]\npeer = tcp://127.0.0.1:31000\n");
	expect_fail_at(e, 131, "replica index must be a number 0..31");
	/* ... and f = 11 would need n = 34 */
	write_big(e, 11, 31, "");
	expect_fail_at(e, 3, "f too large: pbft with f=11 needs more than the 32 replicas");
}

/* pbft with f=10, n = 31 replicas, auth `auth`, `lines` at the end of [cluster] (line 7). */
static void write_n31_cluster(struct env *e, const char *auth, const char *lines)
{
	FILE *fp = fopen(e->ini, "w");

	assert_non_null(fp);
	fprintf(fp, "[cluster]\nprotocol = pbft\nf = 10\nauth = %s\nkeys = keys31\nclients = 4\n%s",
		auth, lines);
	for (int i = 0; i < 31; i++)
		fprintf(fp,
			"[replica.%d]\npeer = tcp://127.0.0.1:%d\nclient = tcp://127.0.0.1:%d\n"
			"admin = tcp://127.0.0.1:%d\n",
			i, 30000 + 3 * i, 30001 + 3 * i, 30002 + 3 * i);
	fclose(fp);
}

/* At f = 10 a NEW-VIEW with the default window 256 of prepared certificates would be
 * 15.9 MB (sig, mac) or 8.7 MB (none), over WIRE_MAX_MSG: the view change could not be
 * announced (docs/PROTOCOL.md §5.7).  Left unset, window and checkpoint_interval are
 * lowered to fit; a window set too large is refused. */
static void test_n31_window_fits_newview(void **state)
{
	struct env *e = *state;

	make_keys(e->dir, "keys31", 31, 4);
	write_n31_cluster(e, "mac", "");
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.window, 133);
	assert_int_equal(e->c.checkpoint_interval, 66);
	assert_true(wire_newview_worst(31, 10, e->c.window, 1) <= WIRE_MAX_MSG);
	memset(&e->c, 0, sizeof e->c);
	write_n31_cluster(e, "none", "");
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.window, 247);
	assert_int_equal(e->c.checkpoint_interval, 123);
	memset(&e->c, 0, sizeof e->c);
	write_n31_cluster(e, "none", "checkpoint_interval = 50\n");
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.window, 247);
	assert_int_equal(e->c.checkpoint_interval, 50);
	memset(&e->c, 0, sizeof e->c);
	write_n31_cluster(e, "sig", "window = 133\ncheckpoint_interval = 60\n");
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(e->c.window, 133);
	memset(&e->c, 0, sizeof e->c);
	write_n31_cluster(e, "sig", "window = 256\ncheckpoint_interval = 128\n");
	expect_fail_at(e, 7,
		       "key 'window': 256 is too large for pbft with f=10 and auth sig/mac: a "
		       "NEW-VIEW with a full window of prepared certificates would be 15950884 "
		       "bytes, over the 8388608-byte message limit; at most 133");
	write_n31_cluster(e, "none", "window = 248\n");
	expect_fail_at(e, 7, "at most 247");
	write_n31_cluster(e, "sig", "checkpoint_interval = 128\n");
	expect_fail_at(e, 7,
		       "key 'checkpoint_interval': 128 is more than half the window, which "
		       "defaults to 133 for pbft with f=10 and auth sig/mac");
}

static void test_bad_numbers_and_enums(void **state)
{
	struct env *e = *state;

	BAD1(e, 6, "batch_max = 12abc", 6, "key 'batch_max'");
	BAD1(e, 6, "batch_max = -1", 6, "key 'batch_max'");
	BAD1(e, 6, "batch_max = ", 6, "key 'batch_max'");
	BAD1(e, 6, "batch_max = 0x10", 6, "key 'batch_max'");
	BAD1(e, 6, "batch_max = 257", 6, "key 'batch_max'"); /* > WIRE_MAX_BATCH */
	BAD1(e, 6, "batch_max = 0", 6, "key 'batch_max'");
	BAD1(e, 7, "window = 150", 7, "key 'window'"); /* < 2*100 */
	BAD1(e, 7, "window = 65537", 7, "key 'window'");
	{
		/* window left at its default 256, checkpoint_interval pushes past it */
		const struct edit ed[] = {{7, ""}, {8, "checkpoint_interval = 200"}};

		bad(e, ed, 2, 8, "key 'checkpoint_interval'");
	}
	BAD1(e, 9, "view_timeout_ms = 5", 9, "key 'view_timeout_ms'");
	BAD1(e, 13, "clients = 4097", 13, "key 'clients'");
	BAD1(e, 14, "cluster_id = 99999999999999999999999", 14, "key 'cluster_id'");
	BAD1(e, 5, "auth = rsa", 5, "key 'auth'");
	BAD1(e, 10, "sync = sometimes", 10, "key 'sync'");
	BAD1(e, 10, "read_only = yes", 10, "key 'read_only'");
	BAD1(e, 10, "digest_replies = 1", 10, "key 'digest_replies'");
	BAD1(e, 10, "group_commit = 0", 10, "key 'group_commit'");
	BAD1(e, 10, "coalesce = maybe", 10, "key 'coalesce'");
	BAD1(e, 10, "rx_aio = ON", 10, "key 'rx_aio'");
	BAD1(e, 11, "keys = ", 11, "key 'keys'");
}

static void test_bad_keys_dir(void **state)
{
	struct env *e = *state;

	BAD1(e, 11, "keys = nokeys", 11, "key 'keys'"); /* missing dir */
	make_keys(e->dir, "partial", 3, 0);
	BAD1(e, 11, "keys = partial", 11, "replica-3.pub");  /* missing pub */
	BAD1(e, 11, "keys = cluster.ini", 11, "key 'keys'"); /* not a dir */
	/* the default "keys" missing: blame the [cluster] header line */
	{
		char a[PATH_MAX + 16], b[PATH_MAX + 16];

		snprintf(a, sizeof a, "%s/keys", e->dir);
		snprintf(b, sizeof b, "%s/keys.away", e->dir);
		assert_int_equal(rename(a, b), 0);
		BAD1(e, 11, "", 2, "key 'keys'");
		assert_int_equal(rename(b, a), 0);
	}
}

static void test_bad_faults(void **state)
{
	struct env *e = *state;

	BAD1(e, 39, "drop.x = 0.5", 39, "key 'drop.x'");
	BAD1(e, 39, "jitter = 5", 39, "key 'jitter'");
	BAD1(e, 39, "drop.32 = 0.5", 39, "key 'drop.32'");  /* replicas 0..31 */
	BAD1(e, 39, "dup = 0.1;oneway=2", 39, "key 'dup'"); /* would split */
}

static void test_bad_lines(void **state)
{
	struct env *e = *state;
	char longline[400];

	memset(longline, 'x', sizeof longline - 1);
	memcpy(longline, "keys = ", 7);
	longline[sizeof longline - 1] = '\0';
	BAD1(e, 11, longline, 11, "line too long");
	/* a long line must not shift later line numbers */
	{
		const struct edit ed[] = {
			{1,
			 "; a very long comment line .........."
			 "........................................................................"
			 "........................................................................"
			 "......................................................................."
			 "."},
			{13, "clients = many"}};

		bad(e, ed, 2, 13, "key 'clients'");
	}
	{
		static const char nul[] = "[cluster]\nprotocol = pbft\nf = 1\nbatch\0_max = 3\n";
		FILE *f = fopen(e->ini, "w");

		assert_non_null(f);
		assert_int_equal(fwrite(nul, 1, sizeof nul - 1, f), sizeof nul - 1);
		fclose(f);
	}
	expect_fail_at(e, 4, "NUL");
}

static void test_replica_keys(void **state)
{
	struct env *e = *state;
	char p[PATH_MAX + 64];

	write_cfg(e, NULL, 0);
	assert_int_equal(config_load(e->ini, &e->c, e->err, sizeof e->err), 0);
	assert_int_equal(config_check_replica_keys(&e->c, 1, e->err, sizeof e->err), 0);

	snprintf(p, sizeof p, "%s/keys/replica-1.key", e->dir);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(config_check_replica_keys(&e->c, 1, e->err, sizeof e->err), -1);
	assert_non_null(strstr(e->err, "replica-1.key"));
	assert_non_null(strstr(e->err, "0644"));
	assert_int_equal(chmod(p, 0400), 0); /* read-only for the owner is fine */
	assert_int_equal(config_check_replica_keys(&e->c, 1, e->err, sizeof e->err), 0);

	unlink(p);
	assert_int_equal(config_check_replica_keys(&e->c, 1, e->err, sizeof e->err), -1);
	assert_non_null(strstr(e->err, "replica-1.key"));

	snprintf(p, sizeof p, "%s/keys/client-3.pub", e->dir);
	unlink(p);
	assert_int_equal(config_check_replica_keys(&e->c, 2, e->err, sizeof e->err), -1);
	assert_non_null(strstr(e->err, "client-3.pub"));

	assert_int_equal(config_check_replica_keys(&e->c, 4, e->err, sizeof e->err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_valid_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_optimization_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_robust_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evidence_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forensics_k_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_valid_single_and_cwd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_file, setup, teardown),
		cmocka_unit_test(test_protocol_n),
		cmocka_unit_test_setup_teardown(test_bad_keys_and_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_protocol_and_f, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_replica_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_numbers_and_enums, setup, teardown),
		cmocka_unit_test_setup_teardown(test_n31, setup, teardown),
		cmocka_unit_test_setup_teardown(test_n31_window_fits_newview, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replica_keys, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
