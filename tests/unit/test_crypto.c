/* test_crypto.c - digests, signatures, MACs, MAC key derivation and key files. */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static char tmpdir[512];

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	const char *base = getenv("BYZLAB_TMP");

	(void)state;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	(void)mkdir(base, 0700);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_crypto-XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return crypto_setup();
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh subdirectory of tmpdir for one test. */
static void subdir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(out, 0700), 0);
}

static void write_file(const char *path, mode_t mode, const char *data, size_t n)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0); /* independent of umask */
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void keypair(uint8_t pk[CRYPTO_PK_LEN], uint8_t sk[CRYPTO_SK_LEN], const char *dir,
		    const char *name)
{
	char path[1024], err[256];

	snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
	assert_int_equal(key_load_public(path, pk, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), 0);
}

/* ---- digests ---- */

static void test_digest_known_answer(void **state)
{
	/* BLAKE2b-256("") and BLAKE2b-256("abc") */
	static const uint8_t empty[32] = {0x0e, 0x57, 0x51, 0xc0, 0x26, 0xe5, 0x43, 0xb2,
					  0xe8, 0xab, 0x2e, 0xb0, 0x60, 0x99, 0xda, 0xa1,
					  0xd1, 0xe5, 0xdf, 0x47, 0x77, 0x8f, 0x77, 0x87,
					  0xfa, 0xab, 0x45, 0xcd, 0xf1, 0x2f, 0xe3, 0xa8};
	static const uint8_t abc[32] = {0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72,
					0x31, 0x71, 0xef, 0x3f, 0xee, 0x98, 0x57, 0x9b,
					0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb, 0x3e, 0x42,
					0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19};
	uint8_t d[WIRE_DIGEST_LEN];

	(void)state;
	crypto_digest((const uint8_t *)"", 0, d);
	assert_memory_equal(d, empty, 32);
	crypto_digest((const uint8_t *)"abc", 3, d);
	assert_memory_equal(d, abc, 32);
}

static void test_digest_incremental(void **state)
{
	uint8_t data[1000], one[WIRE_DIGEST_LEN], inc[WIRE_DIGEST_LEN];
	struct digest_ctx c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	crypto_digest(data, sizeof(data), one);
	crypto_digest_init(&c);
	crypto_digest_update(&c, data, 1);
	crypto_digest_update(&c, data + 1, 0);
	crypto_digest_update(&c, data + 1, 500);
	crypto_digest_update(&c, data + 501, sizeof(data) - 501);
	crypto_digest_final(&c, inc);
	assert_memory_equal(one, inc, WIRE_DIGEST_LEN);
	data[999] ^= 1;
	crypto_digest(data, sizeof(data), inc);
	assert_memory_not_equal(one, inc, WIRE_DIGEST_LEN);
}

/* ---- signatures and MACs ---- */

static void test_sign_verify(void **state)
{
	char dir[600], err[256];
	uint8_t pk[CRYPTO_PK_LEN], sk[CRYPTO_SK_LEN], pk2[CRYPTO_PK_LEN], sk2[CRYPTO_SK_LEN];
	uint8_t msg[100], sig[WIRE_SIG_LEN];

	(void)state;
	subdir(dir, sizeof(dir), "sign");
	assert_int_equal(key_generate_pair(dir, "a", err, sizeof(err)), 0);
	assert_int_equal(key_generate_pair(dir, "b", err, sizeof(err)), 0);
	keypair(pk, sk, dir, "a");
	keypair(pk2, sk2, dir, "b");

	memset(msg, 0x5a, sizeof(msg));
	crypto_sign_buf(sk, msg, sizeof(msg), sig);
	assert_int_equal(crypto_verify_bytes(pk, msg, sizeof(msg), sig), 0);
	/* another key */
	assert_int_equal(crypto_verify_bytes(pk2, msg, sizeof(msg), sig), -1);
	/* tampered message, in every byte */
	for (size_t i = 0; i < sizeof(msg); i++) {
		msg[i] ^= 0x01;
		assert_int_equal(crypto_verify_bytes(pk, msg, sizeof(msg), sig), -1);
		msg[i] ^= 0x01;
	}
	/* shorter message */
	assert_int_equal(crypto_verify_bytes(pk, msg, sizeof(msg) - 1, sig), -1);
	/* tampered signature */
	for (size_t i = 0; i < sizeof(sig); i++) {
		sig[i] ^= 0x80;
		assert_int_equal(crypto_verify_bytes(pk, msg, sizeof(msg), sig), -1);
		sig[i] ^= 0x80;
	}
	assert_int_equal(crypto_verify_bytes(pk, msg, sizeof(msg), sig), 0);
}

static void test_mac(void **state)
{
	uint8_t key[CRYPTO_MACKEY_LEN], key2[CRYPTO_MACKEY_LEN], mac[WIRE_MAC_LEN];
	uint8_t msg[64];

	(void)state;
	memset(key, 1, sizeof(key));
	memset(key2, 2, sizeof(key2));
	memset(msg, 9, sizeof(msg));
	crypto_mac_bytes(key, msg, sizeof(msg), mac);
	assert_int_equal(crypto_mac_verify(key, msg, sizeof(msg), mac), 0);
	assert_int_equal(crypto_mac_verify(key2, msg, sizeof(msg), mac), -1);
	msg[10] ^= 4;
	assert_int_equal(crypto_mac_verify(key, msg, sizeof(msg), mac), -1);
	msg[10] ^= 4;
	mac[31] ^= 1;
	assert_int_equal(crypto_mac_verify(key, msg, sizeof(msg), mac), -1);
}

/* The wire's MAC is keyed BLAKE2b-256 (docs/PROTOCOL.md).  The expected bytes come
 * from another implementation: Python's hashlib.blake2b(b"byzlab",
 * key=bytes(range(32)), digest_size=32). */
static void test_mac_known_answer(void **state)
{
	static const uint8_t want[WIRE_MAC_LEN] = {0xf4, 0x0e, 0xaf, 0x48, 0x48, 0x5e, 0xa7, 0xa5,
						   0x50, 0x46, 0xe1, 0xbb, 0xef, 0x9e, 0xce, 0x2c,
						   0x99, 0xb0, 0x69, 0x8e, 0x82, 0x88, 0x1e, 0x9e,
						   0x17, 0x60, 0x0b, 0xf8, 0x51, 0x0b, 0x4a, 0x01};
	uint8_t key[CRYPTO_MACKEY_LEN], mac[WIRE_MAC_LEN];
	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	crypto_mac_bytes(key, (const uint8_t *)"byzlab", 6, mac);
	assert_memory_equal(mac, want, WIRE_MAC_LEN);
	assert_int_equal(crypto_mac_verify(key, (const uint8_t *)"byzlab", 6, want), 0);
}

static void test_mac_key_symmetry(void **state)
{
	char dir[600], err[256];
	uint8_t pa[CRYPTO_PK_LEN], sa[CRYPTO_SK_LEN], pb[CRYPTO_PK_LEN], sb[CRYPTO_SK_LEN];
	uint8_t pc[CRYPTO_PK_LEN], sc[CRYPTO_SK_LEN];
	uint8_t ab[CRYPTO_MACKEY_LEN], ba[CRYPTO_MACKEY_LEN], ac[CRYPTO_MACKEY_LEN];
	uint8_t ca[CRYPTO_MACKEY_LEN], aa[CRYPTO_MACKEY_LEN], ab2[CRYPTO_MACKEY_LEN];
	uint8_t bad_pk[CRYPTO_PK_LEN] = {1}; /* the identity point: small order */

	(void)state;
	subdir(dir, sizeof(dir), "mackey");
	assert_int_equal(key_generate_all(dir, 2, 1, err, sizeof(err)), 0);
	keypair(pa, sa, dir, "replica-0");
	keypair(pb, sb, dir, "replica-1");
	keypair(pc, sc, dir, "client-0");

	assert_int_equal(crypto_mac_key(sa, 0, pb, 1, ab), 0);
	assert_int_equal(crypto_mac_key(sb, 1, pa, 0, ba), 0);
	assert_memory_equal(ab, ba, CRYPTO_MACKEY_LEN);

	assert_int_equal(crypto_mac_key(sa, 0, pc, PRINCIPAL_CLIENT | 0, ac), 0);
	assert_int_equal(crypto_mac_key(sc, PRINCIPAL_CLIENT | 0, pa, 0, ca), 0);
	assert_memory_equal(ac, ca, CRYPTO_MACKEY_LEN);
	assert_memory_not_equal(ab, ac, CRYPTO_MACKEY_LEN);

	/* the identities are bound into the key, not only the key material */
	assert_int_equal(crypto_mac_key(sa, 0, pb, 2, ab2), 0);
	assert_memory_not_equal(ab, ab2, CRYPTO_MACKEY_LEN);

	/* a principal with itself works and differs from both */
	assert_int_equal(crypto_mac_key(sa, 0, pa, 0, aa), 0);
	assert_memory_not_equal(aa, ab, CRYPTO_MACKEY_LEN);
	assert_memory_not_equal(aa, ac, CRYPTO_MACKEY_LEN);

	/* a low-order public key would give a shared secret everybody knows */
	assert_int_equal(crypto_mac_key(sa, 0, bad_pk, 1, ab2), -1);
}

static void test_wipe(void **state)
{
	uint8_t z[40], b[40];

	(void)state;
	memset(b, 0xff, sizeof(b));
	memset(z, 0, sizeof(z));
	crypto_wipe(b, sizeof(b));
	assert_memory_equal(b, z, sizeof(b));
	crypto_wipe(NULL, 0); /* must not crash */
}

/* ---- key files ---- */

static void test_key_files_round_trip(void **state)
{
	char dir[600], path[1024], err[256], text[300];
	uint8_t pk[CRYPTO_PK_LEN], sk[CRYPTO_SK_LEN], pk2[CRYPTO_PK_LEN];
	struct stat st;
	size_t n;

	(void)state;
	subdir(dir, sizeof(dir), "files");
	assert_int_equal(key_generate_pair(dir, "replica-0", err, sizeof(err)), 0);
	keypair(pk, sk, dir, "replica-0");
	/* libsodium secret key = seed || public key */
	assert_memory_equal(pk, sk + 32, CRYPTO_PK_LEN);

	snprintf(path, sizeof(path), "%s/replica-0.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	n = read_file(path, text, sizeof(text));
	assert_int_equal(n, 129);
	assert_int_equal(text[128], '\n');

	snprintf(path, sizeof(path), "%s/replica-0.pub", dir);
	n = read_file(path, text, sizeof(text));
	assert_int_equal(n, 65);
	assert_int_equal(text[64], '\n');
	for (size_t i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", text[i]));

	/* an existing pair is never overwritten */
	assert_int_equal(key_generate_pair(dir, "replica-0", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "replica-0"));
	assert_int_equal(key_load_public(path, pk2, err, sizeof(err)), 0);
	assert_memory_equal(pk, pk2, CRYPTO_PK_LEN);
}

static void test_secret_mode_refused(void **state)
{
	char dir[600], path[1024], err[256];
	uint8_t sk[CRYPTO_SK_LEN];

	(void)state;
	subdir(dir, sizeof(dir), "modes");
	assert_int_equal(key_generate_pair(dir, "replica-0", err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/replica-0.key", dir);

	assert_int_equal(chmod(path, 0644), 0);
	err[0] = '\0';
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0644"));
	assert_non_null(strstr(err, "chmod 600"));

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), -1);
	assert_int_equal(chmod(path, 0601), 0);
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), -1);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), 0);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), 0);
}

static void test_missing_file(void **state)
{
	char path[1024], err[256];
	uint8_t sk[CRYPTO_SK_LEN], pk[CRYPTO_PK_LEN];

	(void)state;
	snprintf(path, sizeof(path), "%s/nope/replica-9.key", tmpdir);
	assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/nope/replica-9.pub", tmpdir);
	assert_int_equal(key_load_public(path, pk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	/* a directory is not a key file */
	assert_int_equal(key_load_public(tmpdir, pk, err, sizeof(err)), -1);
}

/* Each malformed variant of a valid file must be refused with the path named. */
static void expect_bad(const char *path, int secret, mode_t mode, const char *data, size_t n)
{
	char err[256];
	uint8_t key[CRYPTO_SK_LEN];

	write_file(path, mode, data, n);
	err[0] = '\0';
	if (secret)
		assert_int_equal(key_load_secret(path, key, err, sizeof(err)), -1);
	else
		assert_int_equal(key_load_public(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
}

static void test_malformed_files(void **state)
{
	char dir[600], path[1024], err[256], good[300], bad[400];
	size_t n;

	(void)state;
	subdir(dir, sizeof(dir), "malformed");
	assert_int_equal(key_generate_pair(dir, "k", err, sizeof(err)), 0);

	/* secret key */
	snprintf(path, sizeof(path), "%s/k.key", dir);
	n = read_file(path, good, sizeof(good));
	assert_int_equal(n, 129);
	snprintf(path, sizeof(path), "%s/bad.key", dir);
	expect_bad(path, 1, 0600, "", 0);
	expect_bad(path, 1, 0600, good, 100); /* truncated */
	expect_bad(path, 1, 0600, good, 128); /* no newline */
	memcpy(bad, good, 129);
	bad[129] = '\n';
	expect_bad(path, 1, 0600, bad, 130); /* extra line */
	memcpy(bad, good, 129);
	bad[17] = 'z';
	expect_bad(path, 1, 0600, bad, 129); /* bad hex */
	memcpy(bad, good, 129);
	bad[0] = ' ';
	expect_bad(path, 1, 0600, bad, 129); /* whitespace */
	memcpy(bad, good, 129);
	bad[100] = bad[100] == '0' ? '1' : '0';
	expect_bad(path, 1, 0600, bad, 129); /* public half corrupt */
	memcpy(bad, good, 129);
	memset(bad + 129, 'a', 200);
	expect_bad(path, 1, 0600, bad, 329); /* far too long */
	write_file(path, 0600, good, 129);   /* and the good one loads */
	{
		uint8_t sk[CRYPTO_SK_LEN];
		assert_int_equal(key_load_secret(path, sk, err, sizeof(err)), 0);
	}

	/* public key */
	snprintf(path, sizeof(path), "%s/k.pub", dir);
	n = read_file(path, good, sizeof(good));
	assert_int_equal(n, 65);
	snprintf(path, sizeof(path), "%s/bad.pub", dir);
	expect_bad(path, 0, 0644, good, 64);
	expect_bad(path, 0, 0644, good, 40);
	memcpy(bad, good, 65);
	bad[63] = 'G';
	expect_bad(path, 0, 0644, bad, 65);
	memcpy(bad, good, 65);
	bad[64] = 'x';
	expect_bad(path, 0, 0644, bad, 65);
	/* a secret key file is not a public key */
	expect_bad(path, 0, 0644, "00\n", 3);
}

static void test_generate_all(void **state)
{
	char dir[600], path[1024], err[256];
	uint8_t pk0[CRYPTO_PK_LEN], pk1[CRYPTO_PK_LEN], sk[CRYPTO_SK_LEN];
	struct stat st;
	int i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/all/keys", tmpdir);
	/* parent missing: only one level is created */
	assert_int_equal(key_generate_all(dir, 4, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, dir));
	snprintf(path, sizeof(path), "%s/all", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);

	assert_int_equal(key_generate_all(dir, 4, 2, err, sizeof(err)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	for (i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "replica-%d", i);
		keypair(pk0, sk, dir, name);
	}
	keypair(pk0, sk, dir, "client-0");
	keypair(pk0, sk, dir, "client-1");
	snprintf(path, sizeof(path), "%s/client-2.pub", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/replica-4.key", dir);
	assert_int_equal(access(path, F_OK), -1);

	/* a re-run keeps existing pairs and adds the new ones */
	keypair(pk0, sk, dir, "replica-2");
	assert_int_equal(key_generate_all(dir, 4, 3, err, sizeof(err)), 0);
	keypair(pk1, sk, dir, "replica-2");
	assert_memory_equal(pk0, pk1, CRYPTO_PK_LEN);
	keypair(pk0, sk, dir, "client-2");

	/* half a pair is an error that names the file */
	snprintf(path, sizeof(path), "%s/client-1.pub", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(key_generate_all(dir, 4, 3, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client-1"));
	/* and so is an existing secret key others can read */
	assert_int_equal(key_generate_all(dir, 4, 1, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/replica-3.key", dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(key_generate_all(dir, 4, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);

	/* bad counts */
	assert_int_equal(key_generate_all(dir, 0, 1, err, sizeof(err)), -1);
	assert_int_equal(key_generate_all(dir, WIRE_MAX_REPLICAS + 1, 1, err, sizeof(err)), -1);
	assert_int_equal(key_generate_all(dir, 4, -1, err, sizeof(err)), -1);
	assert_int_equal(key_generate_all(dir, 4, WIRE_MAX_CLIENTS + 1, err, sizeof(err)), -1);

	/* a file where the directory should be */
	snprintf(path, sizeof(path), "%s/all/file", tmpdir);
	write_file(path, 0600, "x", 1);
	assert_int_equal(key_generate_all(path, 1, 0, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_known_answer),
		cmocka_unit_test(test_digest_incremental),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_mac_known_answer),
		cmocka_unit_test(test_mac_key_symmetry),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_key_files_round_trip),
		cmocka_unit_test(test_secret_mode_refused),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_malformed_files),
		cmocka_unit_test(test_generate_all),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
