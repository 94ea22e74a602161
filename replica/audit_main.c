/* audit_main.c - byzlab-audit: who lied, and can it be proven?  (issue 17, item 2)
 *
 *   byzlab-audit DIR                       read every replica's store under DIR/data/I/
 *                                          (the REC_EVIDENCE records of the PBFT core,
 *                                          docs/PROTOCOL.md §12) and print, per accused
 *                                          replica, the kind of lie, who holds it, both
 *                                          statements (decoded and hex), whether the
 *                                          proof verifies from DIR/keys/replica-*.pub,
 *                                          and a command that re-verifies it
 *   byzlab-audit --verify HEX --keys KEYS  re-verify one proof from public keys alone
 *
 * Exit: 0 (evidence found and every proof verifies, or "no evidence"), 1 a stored
 * proof does not verify / --verify: it does not hold, 2 usage or unreadable input.
 * Read-only: the stores are opened, iterated and closed (a running replica's too:
 * LMDB readers do not block its writer).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "replica/core/evidence.h"
#include "replica/core/pbft.h"
#include "replica/store.h"

struct held { /* the best evidence against one replica, and who holds any */
	uint8_t *proof;
	size_t len;
	int kind;
	uint32_t holders; /* bit i: replica i holds evidence against it */
};

struct audit {
	struct held h[WIRE_MAX_REPLICAS];
	uint32_t holder; /* the replica whose store is being read */
	int bad_records;
};

static int visit(void *arg, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct audit *a = arg;
	struct evidence e;
	if (kind != REC_EVIDENCE)
		return 0;
	if (key >= WIRE_MAX_REPLICAS || evidence_decode(val, len, &e) != 0 || e.accused != key) {
		a->bad_records++;
		return 0;
	}
	struct held *h = &a->h[key];
	h->holders |= 1u << a->holder;
	if (h->proof && !(e.kind == EVIDENCE_PROOF && h->kind != EVIDENCE_PROOF))
		return 0;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -1;
	memcpy(copy, val, len);
	free(h->proof);
	*h = (struct held){.proof = copy, .len = len, .kind = e.kind, .holders = h->holders};
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Public keys DIR/replica-0.pub ...: how many there are (n), or -1. */
static int load_keys(const char *dir, uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN])
{
	char path[4200], err[256];
	int n = 0;
	for (; n < WIRE_MAX_REPLICAS; n++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/replica-%d.pub", dir, n);
		if (stat(path, &st) != 0)
			break;
		if (key_load_public(path, pk[n], err, sizeof(err)) != 0) {
			fprintf(stderr, "byzlab-audit: %s\n", err);
			return -1;
		}
	}
	return n;
}

static const char *type_name(int type)
{
	switch (type) {
	case MSG_PREPREPARE: return "PRE-PREPARE";
	case MSG_PREPARE: return "PREPARE";
	case MSG_COMMIT: return "COMMIT";
	default: return "?";
	}
}

static void put_hex(FILE *out, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x", p[i]);
}

static void print_stmt(const char *name, const struct evidence_stmt *s)
{
	printf("    %s: %s from replica %u, view %" PRIu64 ", seq %" PRIu64 ", digest ", name,
	       type_name(s->h.type), s->h.sender, s->h.view, s->h.seq);
	put_hex(stdout, s->digest, 8);
	printf("..., %s\n      hex ", s->h.auth_kind == AUTH_SIG   ? "Ed25519 signature"
				      : s->h.auth_kind == AUTH_MAC ? "MAC authenticator"
								   : "no auth");
	put_hex(stdout, s->raw, s->len);
	printf("\n");
}

static int report(const char *keys, uint32_t i, const struct held *h, int n,
		  const uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN])
{
	struct evidence e;
	if (evidence_decode(h->proof, h->len, &e) != 0)
		return 1;
	int ok = e.kind == EVIDENCE_PROOF &&
		 evidence_verify(h->proof, h->len, (uint32_t)n, (const uint8_t(*)[32])pk) == 0;
	printf("replica %u: %s of equivocation: two %ss for view %" PRIu64 ", seq %" PRIu64
	       " with different digests\n",
	       i, e.kind == EVIDENCE_PROOF ? "PROOF" : "SUSPICION (MACs: not transferable)",
	       type_name(e.type), e.view, e.seq);
	printf("  held by replica(s):");
	for (uint32_t j = 0; j < WIRE_MAX_REPLICAS; j++)
		if (h->holders & (1u << j))
			printf(" %u%s", j, j == i ? " (itself: its honest core saw both)" : "");
	printf("\n");
	print_stmt("a", &e.a);
	print_stmt("b", &e.b);
	if (e.kind == EVIDENCE_PROOF) {
		printf("  verified from %s/replica-%u.pub alone: %s\n", keys, i,
		       ok ? "yes" : "NO (bad proof)");
		printf("  re-verify: byzlab-audit --keys %s --verify ", keys);
		put_hex(stdout, h->proof, h->len);
		printf("\n");
	}
	return e.kind == EVIDENCE_PROOF && !ok;
}

static int audit_dir(const char *dir)
{
	char path[4200], keys[4200], err[512];
	uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN];
	struct audit a;
	memset(&a, 0, sizeof(a));
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	int n = load_keys(keys, pk);
	if (n < 0)
		return 2;
	int stores = 0;
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++) {
		snprintf(path, sizeof(path), "%s/data/%u", dir, i);
		if (!is_dir(path))
			continue;
		struct store *s;
		if (store_open(path, 0, 0, &s, err, sizeof(err)) != 0) {
			fprintf(stderr, "byzlab-audit: %s\n", err);
			return 2;
		}
		a.holder = i;
		int rc = store_iterate(s, visit, &a);
		store_close(s);
		if (rc != 0) {
			fprintf(stderr, "byzlab-audit: %s: cannot read the store\n", path);
			return 2;
		}
		stores++;
	}
	if (!stores) {
		fprintf(stderr, "byzlab-audit: %s/data/: no replica stores\n", dir);
		return 2;
	}
	int bad = 0, found = 0;
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (a.h[i].proof) {
			found++;
			bad |= report(keys, i, &a.h[i], n, pk);
			free(a.h[i].proof);
		}
	if (!found)
		printf("no evidence (%d replica stores read)\n", stores);
	if (a.bad_records)
		printf("warning: %d evidence records did not decode\n", a.bad_records);
	return bad ? 1 : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int verify_hex(const char *hex, const char *keys)
{
	uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN], proof[EVIDENCE_MAX];
	size_t len = strlen(hex) / 2;
	if (strlen(hex) % 2 || len > sizeof(proof)) {
		fprintf(stderr, "byzlab-audit: --verify: not a proof (hex, at most %d bytes)\n",
			EVIDENCE_MAX);
		return 2;
	}
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "byzlab-audit: --verify: not hex\n");
			return 2;
		}
		proof[i] = (uint8_t)(hi << 4 | lo);
	}
	int n = load_keys(keys, pk);
	if (n <= 0) {
		fprintf(stderr, "byzlab-audit: %s: no replica-*.pub keys\n", keys);
		return 2;
	}
	struct evidence e;
	if (evidence_verify(proof, len, (uint32_t)n, (const uint8_t(*)[32])pk) != 0 ||
	    evidence_decode(proof, len, &e) != 0) {
		printf("does NOT hold: not a proof signed by the replica it accuses\n");
		return 1;
	}
	printf("holds: replica %u signed two %ss for view %" PRIu64 ", seq %" PRIu64
	       " with different digests\n",
	       e.accused, type_name(e.type), e.view, e.seq);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *hex = NULL, *keys = NULL;
	if (crypto_setup() != 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verify") && i + 1 < argc)
			hex = argv[++i];
		else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
			keys = argv[++i];
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else {
			fprintf(stderr,
				"usage: byzlab-audit DIR | byzlab-audit --keys KEYS --verify "
				"HEX\n");
			return 2;
		}
	}
	if (hex)
		return keys ? verify_hex(hex, keys) : 2;
	if (!dir) {
		fprintf(stderr,
			"usage: byzlab-audit DIR | byzlab-audit --keys KEYS --verify HEX\n");
		return 2;
	}
	if (!is_dir(dir)) {
		fprintf(stderr, "byzlab-audit: %s: %s\n", dir, strerror(ENOENT));
		return 2;
	}
	return audit_dir(dir);
}
