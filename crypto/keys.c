/* keys.c - Ed25519 key files.
 *
 *   NAME.pub: 64 hex characters + '\n' (32-byte public key), mode 0644 (minus umask)
 *   NAME.key: 128 hex characters + '\n' (64-byte libsodium secret key), mode 0600
 *
 * Key files are input like any other: they are read into fixed buffers with exact
 * length checks, and a secret key that group or others could read is refused rather
 * than used, so a leaked-permissions deployment fails loudly instead of silently.
 */
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "replica/textbuf.h" /* seterr */

#define PUB_HEX_LEN ((size_t)2 * CRYPTO_PK_LEN)
#define KEY_HEX_LEN ((size_t)2 * CRYPTO_SK_LEN)

/* out = dir/name+ext; fails rather than truncating. */
static int key_path(char *out, size_t outlen, const char *dir, const char *name, const char *ext,
		    char *err, size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s%s", dir, name, ext);

	if (n < 0 || (size_t)n >= outlen) {
		seterr(err, errlen, "%s/%s%s: path too long", dir, name, ext);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Create path (it must not exist), write data, fsync.  On failure nothing is left. */
static int write_new_file(const char *path, mode_t mode, const char *data, size_t n, char *err,
			  size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0) {
		seterr(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (write_all(fd, data, n) != 0 || fsync(fd) != 0) {
		seterr(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		seterr(err, errlen, "%s: cannot close: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* Make new directory entries durable too (best effort on odd filesystems). */
static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int key_generate_pair(const char *dir, const char *name, char *err, size_t errlen)
{
	char pub_path[PATH_MAX], key_path_buf[PATH_MAX];
	uint8_t pk[CRYPTO_PK_LEN], sk[CRYPTO_SK_LEN];
	char pub_hex[PUB_HEX_LEN + 2], key_hex[KEY_HEX_LEN + 2];
	int rc = -1;

	if (sodium_init() < 0) {
		seterr(err, errlen, "%s/%s: libsodium initialisation failed", dir, name);
		return -1;
	}
	if (key_path(pub_path, sizeof(pub_path), dir, name, ".pub", err, errlen) != 0 ||
	    key_path(key_path_buf, sizeof(key_path_buf), dir, name, ".key", err, errlen) != 0)
		return -1;

	crypto_sign_keypair(pk, sk);
	sodium_bin2hex(pub_hex, sizeof(pub_hex), pk, sizeof(pk));
	pub_hex[PUB_HEX_LEN] = '\n';
	sodium_bin2hex(key_hex, sizeof(key_hex), sk, sizeof(sk));
	key_hex[KEY_HEX_LEN] = '\n';

	/* the secret first: a lone .pub would look like a usable identity */
	if (write_new_file(key_path_buf, 0600, key_hex, KEY_HEX_LEN + 1, err, errlen) != 0)
		goto out;
	if (write_new_file(pub_path, 0644, pub_hex, PUB_HEX_LEN + 1, err, errlen) != 0) {
		unlink(key_path_buf);
		goto out;
	}
	fsync_dir(dir);
	rc = 0;
out:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(key_hex, sizeof(key_hex));
	return rc;
}

/* Read at most cap-1 bytes of a regular file into buf; *len is what was read, and
 * *len == cap means the file is longer than the caller can accept.  For a secret
 * key, the permission check is done on the open descriptor (no stat/open race). */
static int read_key_file(const char *path, int secret, char *buf, size_t cap, size_t *len,
			 char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	*len = 0;
	if (fd < 0) {
		seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		seterr(err, errlen, "%s: mode %04o is %s by others; chmod 600", path,
		       (unsigned)(st.st_mode & 07777),
		       (st.st_mode & 044) ? "readable" : "accessible");
		goto out;
	}
	while (*len < cap) {
		ssize_t r = read(fd, buf + *len, cap - *len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			seterr(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* buf[0..len) must be exactly 2*outlen hex characters and one '\n'. */
static int parse_hex_line(const char *path, const char *buf, size_t len, uint8_t *out,
			  size_t outlen, char *err, size_t errlen)
{
	size_t hexlen = 2 * outlen, binlen = 0;
	const char *end = NULL;

	if (len != hexlen + 1 || buf[hexlen] != '\n') {
		seterr(err, errlen, "%s: malformed key: expected %zu hex characters and a newline",
		       path, hexlen);
		return -1;
	}
	if (sodium_hex2bin(out, outlen, buf, hexlen, NULL, &binlen, &end) != 0 ||
	    binlen != outlen || end != buf + hexlen) {
		seterr(err, errlen, "%s: malformed key: bad hex", path);
		sodium_memzero(out, outlen);
		return -1;
	}
	return 0;
}

int key_load_public(const char *path, uint8_t pk[CRYPTO_PK_LEN], char *err, size_t errlen)
{
	char buf[PUB_HEX_LEN + 2];
	size_t len;

	if (read_key_file(path, 0, buf, sizeof(buf), &len, err, errlen) != 0)
		return -1;
	return parse_hex_line(path, buf, len, pk, CRYPTO_PK_LEN, err, errlen);
}

int key_load_secret(const char *path, uint8_t sk[CRYPTO_SK_LEN], char *err, size_t errlen)
{
	char buf[KEY_HEX_LEN + 2];
	uint8_t pk2[CRYPTO_PK_LEN], sk2[CRYPTO_SK_LEN];
	size_t len;
	int rc = -1;

	if (sodium_init() < 0) {
		seterr(err, errlen, "%s: libsodium initialisation failed", path);
		return -1;
	}
	if (read_key_file(path, 1, buf, sizeof(buf), &len, err, errlen) != 0)
		goto out;
	if (parse_hex_line(path, buf, len, sk, CRYPTO_SK_LEN, err, errlen) != 0)
		goto out;
	/* A libsodium secret key is seed || public key: recompute it from the seed so a
	 * corrupted (but well-formed) file is caught here, not as mysterious bad sigs. */
	crypto_sign_seed_keypair(pk2, sk2, sk);
	if (sodium_memcmp(sk2, sk, CRYPTO_SK_LEN) != 0) {
		seterr(err, errlen, "%s: corrupt secret key (public half does not match seed)",
		       path);
		sodium_memzero(sk, CRYPTO_SK_LEN);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(sk2, sizeof(sk2));
	return rc;
}

/* 1 if path exists, 0 if not, -1 on another error. */
static int file_exists(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
	return -1;
}

/* An existing pair is kept, but only if it is usable and consistent. */
static int check_pair(const char *pub_path, const char *key_path_s, char *err, size_t errlen)
{
	uint8_t pk[CRYPTO_PK_LEN], sk[CRYPTO_SK_LEN];
	int rc = -1;

	if (key_load_public(pub_path, pk, err, errlen) != 0 ||
	    key_load_secret(key_path_s, sk, err, errlen) != 0)
		goto out;
	if (sodium_memcmp(pk, sk + CRYPTO_SK_LEN - CRYPTO_PK_LEN, CRYPTO_PK_LEN) != 0) {
		seterr(err, errlen, "%s: does not match %s", key_path_s, pub_path);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

static int ensure_pair(const char *dir, const char *name, char *err, size_t errlen)
{
	char pub_path[PATH_MAX], key_path_s[PATH_MAX];
	int have_pub, have_key;

	if (key_path(pub_path, sizeof(pub_path), dir, name, ".pub", err, errlen) != 0 ||
	    key_path(key_path_s, sizeof(key_path_s), dir, name, ".key", err, errlen) != 0)
		return -1;
	have_pub = file_exists(pub_path, err, errlen);
	have_key = file_exists(key_path_s, err, errlen);
	if (have_pub < 0 || have_key < 0)
		return -1;
	if (have_pub && have_key)
		return check_pair(pub_path, key_path_s, err, errlen);
	if (have_pub || have_key) {
		seterr(err, errlen, "%s: exists without %s; restore or remove it",
		       have_pub ? pub_path : key_path_s, have_pub ? key_path_s : pub_path);
		return -1;
	}
	return key_generate_pair(dir, name, err, errlen);
}

int key_generate_all(const char *dir, int replicas, int clients, char *err, size_t errlen)
{
	struct stat st;
	char name[32];
	int i;

	if (replicas < 1 || replicas > WIRE_MAX_REPLICAS || clients < 0 ||
	    clients > WIRE_MAX_CLIENTS) {
		seterr(err, errlen, "%s: bad key counts (replicas %d, clients %d)", dir, replicas,
		       clients);
		return -1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		seterr(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	for (i = 0; i < replicas; i++) {
		snprintf(name, sizeof(name), "replica-%d", i);
		if (ensure_pair(dir, name, err, errlen) != 0)
			return -1;
	}
	for (i = 0; i < clients; i++) {
		snprintf(name, sizeof(name), "client-%d", i);
		if (ensure_pair(dir, name, err, errlen) != 0)
			return -1;
	}
	return 0;
}
