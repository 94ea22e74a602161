/* audit_main.c - byzlab-audit: who lied, and can it be proven?  (issue 17, items 2, 3)
 *
 *   byzlab-audit DIR [--trust IDS]         read every replica's store under DIR/data/I/
 *                                          and print (1) per accused replica the
 *                                          evidence the replicas found at run time (the
 *                                          REC_EVIDENCE records of the PBFT core,
 *                                          docs/PROTOCOL.md §12): the kind of lie, who
 *                                          holds it, both statements (decoded and hex),
 *                                          whether the proof verifies from
 *                                          DIR/keys/replica-*.pub, and a command that
 *                                          re-verifies it; (2) the forensic analysis
 *                                          (forensics.h, CCS'21) of the replicas'
 *                                          transcripts (TRANSCRIPT_REC records, kept
 *                                          with forensics_k): per culprit its proof,
 *                                          re-verified the same way.  --trust IDS: the
 *                                          transcripts of those replicas only
 *   byzlab-audit --keys KEYS --stores D [--trust IDS]
 *                                          the same for a directory of LMDB stores, D/I/
 *                                          replica I's (e.g. copied from docker volumes)
 *   byzlab-audit --verify HEX --keys KEYS  re-verify one proof (BZEV or BZFP) from the
 *                                          public keys alone
 *
 * Every replica's transcript may be fed to the analysis, a liar's too: a proof names a
 * replica only with two statements that carry its own signature and that no correct
 * replica signs (equivocation; omission findings name nobody, forensics.h), and is
 * re-verified here from the public keys, so a liar's transcript can add proofs
 * against liars only - it cannot forge a correct replica's signature.
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
#include "replica/core/forensics.h"
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
	/* forensics: each replica's transcript, as its store holds it */
	struct transcript tx[WIRE_MAX_REPLICAS];
	uint32_t has_tx; /* bit i: replica i's store holds transcript records */
	uint64_t records[WIRE_MAX_REPLICAS];
};

static int visit(void *arg, uint8_t kind, uint64_t key, const uint8_t *val, size_t len)
{
	struct audit *a = arg;
	struct evidence e;
	if (kind == TRANSCRIPT_REC) {
		struct transcript *t = &a->tx[a->holder];
		uint32_t cluster;
		if (transcript_record_cluster(val, len, &cluster) != 0) {
			a->bad_records++; /* corrupt (an empty block names no cluster either) */
			return 0;
		}
		/* the cluster the replica's statements name (they all name one) */
		if (!(a->has_tx & (1u << a->holder)))
			transcript_init(t, cluster);
		a->has_tx |= 1u << a->holder;
		a->records[a->holder]++;
		transcript_add_record(t, val, len);
		return 0;
	}
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

/* "two COMMITs for view 0, seq 1, both signed by it: digests 8f3f4f0a and 6dd79e35",
 * then both statements and the line that re-verifies the proof. */
static void print_forensic(const char *keys, const struct forensic_culprit *c)
{
	struct forensic_proof f;
	struct evidence e;
	if (forensics_decode(c->proof, c->len, &f) != 0)
		return;
	if (f.kind == FORENSIC_EQUIVOCATION && evidence_decode(f.a, f.a_len, &e) == 0) {
		const uint8_t *x = e.a.digest, *y = e.b.digest;
		printf("    two %ss for view %" PRIu64 ", seq %" PRIu64
		       ", both signed by it: digests %02x%02x%02x%02x and %02x%02x%02x%02x\n",
		       type_name(e.type), e.view, e.seq, x[0], x[1], x[2], x[3], y[0], y[1], y[2],
		       y[3]);
		print_stmt("a", &e.a);
		print_stmt("b", &e.b);
	}
	printf("    re-verify: byzlab-audit --keys %s --verify ", keys);
	put_hex(stdout, c->proof, c->len);
	printf("\n");
}

static uint32_t parse_ids(const char *s)
{
	uint32_t mask = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v >= WIRE_MAX_REPLICAS || (*end && *end != ','))
			return 0;
		mask |= 1u << v;
		s = *end ? end + 1 : end;
	}
	return mask;
}

/* The CCS'21 analysis of the transcripts (those of `trust`, if not 0).  Returns 1 if a
 * proof did not verify, 0 otherwise; *named: culprits named. */
static int forensics_report(const char *keys, struct audit *a, uint32_t trust, int n,
			    const uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN], int *named)
{
	const struct transcript *ts[WIRE_MAX_REPLICAS];
	size_t count = 0;
	uint64_t entries = 0, dropped = 0;
	*named = 0;
	uint32_t used = a->has_tx & (trust ? trust : ~0u);
	if (!used) {
		printf("forensics: no transcripts%s (forensics_k = 0, or not PBFT)\n",
		       trust ? " of the trusted replicas" : "");
		return 0;
	}
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++) {
		if (!(used & (1u << i)))
			continue;
		ts[count++] = &a->tx[i];
		entries += a->tx[i].n;
		dropped += a->tx[i].dropped;
	}
	struct forensic_report r;
	if (forensics_analyze(ts, count, (uint32_t)n, (const uint8_t(*)[CRYPTO_PK_LEN])pk, 0, &r) !=
	    0) {
		fprintf(stderr, "byzlab-audit: forensics: out of memory\n");
		return 1;
	}
	printf("forensics: %zu transcripts (replicas", count);
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (used & (1u << i))
			printf(" %u", i);
	printf("), %" PRIu64 " entries (%" PRIu64 " refused: full), %u culprits named%s\n", entries,
	       dropped, r.named, r.named ? ":" : "");
	int bad = 0;
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		const struct forensic_culprit *c = &r.c[i];
		uint32_t who = 0;
		int kind = 0;
		if (!c->proof) {
			if (c->by_kind[FORENSIC_OMISSION])
				printf("  replica %u: not named; %u omission findings (not proofs "
				       "in "
				       "byzlab: forensics.h, FORENSIC_OMISSIONS)\n",
				       i, c->by_kind[FORENSIC_OMISSION]);
			continue;
		}
		int ok = forensics_verify(c->proof, c->len, (uint32_t)n,
					  (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who, &kind) == 0 &&
			 who == i;
		bad |= !ok;
		(*named)++;
		printf("  replica %u: CULPRIT, %u proofs (%u equivocation, %u omission); the first "
		       "(%s, %u bytes) %s %s/replica-%u.pub alone\n",
		       i, c->proofs, c->by_kind[FORENSIC_EQUIVOCATION],
		       c->by_kind[FORENSIC_OMISSION], forensic_kind_name(c->kind), c->len,
		       ok ? "verifies from" : "DOES NOT VERIFY from", keys, i);
		print_forensic(keys, c);
	}
	forensic_report_free(&r);
	return bad;
}

static int read_store(struct audit *a, const char *path, uint32_t holder)
{
	char err[512];
	struct store *s;
	if (store_open(path, 0, 0, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "byzlab-audit: %s\n", err);
		return -1;
	}
	a->holder = holder;
	int rc = store_iterate(s, visit, a);
	store_close(s);
	if (rc != 0) {
		fprintf(stderr, "byzlab-audit: %s: cannot read the store\n", path);
		return -1;
	}
	return 0;
}

/* keys: the public keys' directory; stores: D/I/ is replica I's store. */
static int audit_stores(const char *keys, const char *stores, uint32_t trust)
{
	char path[4200];
	uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN];
	static struct audit a;
	memset(&a, 0, sizeof(a));
	int n = load_keys(keys, pk);
	if (n < 0)
		return 2;
	if (n == 0) {
		fprintf(stderr, "byzlab-audit: %s: no replica-*.pub keys\n", keys);
		return 2;
	}
	int nstores = 0;
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++) {
		snprintf(path, sizeof(path), "%s/%u", stores, i);
		if (!is_dir(path))
			continue;
		if (read_store(&a, path, i) != 0)
			return 2;
		nstores++;
	}
	if (!nstores) {
		fprintf(stderr, "byzlab-audit: %s/: no replica stores\n", stores);
		return 2;
	}
	int bad = 0, found = 0, named = 0;
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (a.h[i].proof) {
			found++;
			bad |= report(keys, i, &a.h[i], n, pk);
			free(a.h[i].proof);
		}
	if (!found)
		printf("no evidence (%d replica stores read)\n", nstores);
	if (a.bad_records)
		printf("warning: %d evidence or transcript records did not decode\n",
		       a.bad_records);
	bad |= forensics_report(keys, &a, trust, n, pk, &named);
	for (uint32_t i = 0; i < WIRE_MAX_REPLICAS; i++)
		if (a.has_tx & (1u << i))
			transcript_free(&a.tx[i]);
	return bad ? 1 : 0;
}

static int audit_dir(const char *dir, uint32_t trust)
{
	char keys[4200], stores[4200];
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(stores, sizeof(stores), "%s/data", dir);
	return audit_stores(keys, stores, trust);
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

/* A forensic proof (BZFP, forensics.h) re-verified from the public keys alone. */
static int verify_forensic(const uint8_t *proof, size_t len, int n,
			   const uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN])
{
	uint32_t who;
	int kind;
	if (forensics_verify(proof, len, (uint32_t)n, (const uint8_t(*)[CRYPTO_PK_LEN])pk, &who,
			     &kind) != 0) {
		printf("does NOT hold: not a forensic proof against the replica it accuses\n");
		return 1;
	}
	printf("holds: replica %u lied (%s), proven by its own signatures\n", who,
	       forensic_kind_name(kind));
	return 0;
}

#define USAGE                                                                                   \
	"usage: byzlab-audit DIR [--trust IDS] | byzlab-audit --keys KEYS --stores D [--trust " \
	"IDS] | byzlab-audit --keys KEYS --verify HEX\n"

static int verify_hex(const char *hex, const char *keys)
{
	uint8_t pk[WIRE_MAX_REPLICAS][CRYPTO_PK_LEN];
	size_t len = strlen(hex) / 2;
	if (strlen(hex) % 2 || len > FORENSIC_PROOF_MAX || len < 4) {
		fprintf(stderr, "byzlab-audit: --verify: not a proof (hex, at most %zu bytes)\n",
			(size_t)FORENSIC_PROOF_MAX);
		return 2;
	}
	uint8_t *proof = malloc(len);
	if (!proof)
		return 2;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "byzlab-audit: --verify: not hex\n");
			free(proof);
			return 2;
		}
		proof[i] = (uint8_t)(hi << 4 | lo);
	}
	int n = load_keys(keys, pk);
	if (n <= 0) {
		fprintf(stderr, "byzlab-audit: %s: no replica-*.pub keys\n", keys);
		free(proof);
		return 2;
	}
	int rc;
	struct evidence e;
	if (get_u32(proof) == FORENSIC_MAGIC) {
		rc = verify_forensic(proof, len, n, pk);
	} else if (evidence_verify(proof, len, (uint32_t)n, (const uint8_t(*)[32])pk) != 0 ||
		   evidence_decode(proof, len, &e) != 0) {
		printf("does NOT hold: not a proof signed by the replica it accuses\n");
		rc = 1;
	} else {
		printf("holds: replica %u signed two %ss for view %" PRIu64 ", seq %" PRIu64
		       " with different digests\n",
		       e.accused, type_name(e.type), e.view, e.seq);
		rc = 0;
	}
	free(proof);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *hex = NULL, *keys = NULL, *stores = NULL;
	uint32_t trust = 0;
	if (crypto_setup() != 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verify") && i + 1 < argc) {
			hex = argv[++i];
		} else if (!strcmp(argv[i], "--keys") && i + 1 < argc) {
			keys = argv[++i];
		} else if (!strcmp(argv[i], "--stores") && i + 1 < argc) {
			stores = argv[++i];
		} else if (!strcmp(argv[i], "--trust") && i + 1 < argc) {
			if (!(trust = parse_ids(argv[++i]))) {
				fprintf(stderr, "byzlab-audit: --trust: replica ids, e.g. 1,2\n");
				return 2;
			}
		} else if (argv[i][0] != '-' && !dir) {
			dir = argv[i];
		} else {
			fprintf(stderr, USAGE);
			return 2;
		}
	}
	if (hex)
		return keys ? verify_hex(hex, keys) : 2;
	if (stores) {
		if (!keys || dir) {
			fprintf(stderr, USAGE);
			return 2;
		}
		return audit_stores(keys, stores, trust);
	}
	if (!dir) {
		fprintf(stderr, USAGE);
		return 2;
	}
	if (!is_dir(dir)) {
		fprintf(stderr, "byzlab-audit: %s: %s\n", dir, strerror(ENOENT));
		return 2;
	}
	return audit_dir(dir, trust);
}
