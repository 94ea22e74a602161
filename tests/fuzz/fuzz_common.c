/* fuzz_common.c - fixed test keys, cached auth contexts, temp files (fuzz_common.h). */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include "tests/fuzz/fuzz_common.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/crypto.h"

static char dir[512];
static char keys[600];

void fz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
	abort();
}

void fz_write_file(const char *path, const void *p, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const uint8_t *at = p;

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (len > 0) {
		ssize_t w = write(fd, at, len);
		if (w <= 0) {
			perror(path);
			abort();
		}
		at += w;
		len -= (size_t)w;
	}
	/* O_CREAT does not change the mode of an existing file */
	if (fchmod(fd, (mode_t)mode) != 0 || close(fd) != 0) {
		perror(path);
		abort();
	}
}

/* The seed of principal (is_client, id): 32 constant bytes, distinct per principal. */
static void seed_of(int is_client, uint32_t id, uint8_t seed[crypto_sign_SEEDBYTES])
{
	static const char tag[] = "byzlab-fuzz-fixed-key";

	memset(seed, 0, crypto_sign_SEEDBYTES);
	for (size_t i = 0; i + 1 < sizeof(tag); i++)
		seed[i] = (uint8_t)tag[i];
	seed[28] = is_client ? 'c' : 'r';
	seed[29] = (uint8_t)id;
}

static void write_pair(int is_client, uint32_t id)
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[CRYPTO_PK_LEN], sk[CRYPTO_SK_LEN];
	char hex[2 * CRYPTO_SK_LEN + 2], path[700];
	const char *role = is_client ? "client" : "replica";

	seed_of(is_client, id, seed);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
	hex[2 * sizeof(pk)] = '\n'; /* the key file format: hex digits and a newline */
	snprintf(path, sizeof(path), "%s/%s-%u.pub", keys, role, id);
	fz_write_file(path, hex, 2 * sizeof(pk) + 1, 0644);
	sodium_bin2hex(hex, sizeof(hex), sk, sizeof(sk));
	hex[2 * sizeof(sk)] = '\n';
	snprintf(path, sizeof(path), "%s/%s-%u.key", keys, role, id);
	fz_write_file(path, hex, 2 * sizeof(sk) + 1, 0600);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_dir(void)
{
	if (dir[0])
		return dir;
	const char *base = getenv("BYZLAB_TMP");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	(void)mkdir(base, 0700);
	snprintf(dir, sizeof(dir), "%s/byzlab-fuzz-XXXXXX", base);
	if (crypto_setup() != 0 || mkdtemp(dir) == NULL) {
		perror(dir);
		abort();
	}
	atexit(cleanup);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	if (mkdir(keys, 0700) != 0) {
		perror(keys);
		abort();
	}
	for (uint32_t i = 0; i < FZ_REPLICAS; i++)
		write_pair(0, i);
	for (uint32_t j = 0; j < FZ_CLIENTS; j++)
		write_pair(1, j);
	return dir;
}

const char *fz_keys_dir(void)
{
	fz_dir();
	return keys;
}

/* [mode][n][is_client][self]: loaded on first use. */
static struct auth_ctx
	*cache[3][FZ_REPLICAS + 1][2][FZ_REPLICAS > FZ_CLIENTS ? FZ_REPLICAS : FZ_CLIENTS];

struct auth_ctx *fz_auth(enum auth_mode mode, uint32_t n, int is_client, uint32_t self)
{
	char err[512];

	is_client = is_client ? 1 : 0;
	if ((unsigned)mode > 2 || n < 1 || n > FZ_REPLICAS || self >= (is_client ? FZ_CLIENTS : n))
		fz_fail(__FILE__, __LINE__, "fz_auth: principal out of range");
	struct auth_ctx *a = cache[mode][n][is_client][self];
	if (a != NULL)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a || auth_load(a, mode, fz_keys_dir(), n, FZ_CLIENTS, is_client, self, err,
			    sizeof(err)) != 0) {
		fprintf(stderr, "fz_auth: %s\n", a ? err : "out of memory");
		abort();
	}
	cache[mode][n][is_client][self] = a;
	return a;
}
