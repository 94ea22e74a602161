/* forensics.c - issue 17 item 3 in the simulator: each correct replica's transcript
 * (replica/core/forensics.h: the signed PRE-PREPAREs, PREPAREs, COMMITs and
 * VIEW-CHANGEs it received through its edge or sent, for its last K checkpoints), and
 * at the end of a run the CCS'21 analysis of the correct replicas' transcripts: who
 * signed what no correct replica signs.  Every proof is re-checked with
 * forensics_verify from the public keys alone; a correct replica named, or a proof that
 * does not verify, fails the run ("forensics").  Liars keep no transcript: the auditor
 * trusts the correct replicas only (CCS'21: the transcripts of the honest ones).
 */
#include <inttypes.h>
#include <string.h>

#include "replica/core/evidence.h"
#include "tests/sim/sim.h"

void forensics_note(struct world *w, const struct node *nd, const uint8_t *p, size_t len)
{
	if (w->o->forensics)
		transcript_add(&w->tx[nd->id], p, len);
}

void forensics_trim(struct world *w, const struct node *nd)
{
	/* the real replica's rule too (replica/txlog.c) */
	uint64_t h = transcript_horizon(nd->inst[0].st.stable_checkpoint,
					w->base.checkpoint_interval, w->o->forensics_k);
	if (w->o->forensics && h)
		transcript_trim(&w->tx[nd->id], h);
}

static const uint8_t (*public_keys(const struct world *w))[CRYPTO_PK_LEN]
{
	for (uint32_t i = 0; i < w->n; i++)
		if (node_correct(w, i))
			return (const uint8_t(*)[CRYPTO_PK_LEN])w->node[i].inst[0].auth.replica_pk;
	return NULL;
}

/* "two COMMITs for view 0, seq 1: digests 8f3f4f0a and 6dd79e35" */
static void print_statements(const struct forensic_culprit *c, FILE *out)
{
	struct forensic_proof f;
	struct evidence e;
	if (forensics_decode(c->proof, c->len, &f) != 0)
		return;
	if (f.kind == FORENSIC_OMISSION) {
		struct evidence_stmt cm;
		struct msg vc;
		if (evidence_stmt_parse(f.a, f.a_len, f.cluster_id, &cm) != 0 ||
		    wire_decode(f.b, f.b_len, f.cluster_id, &vc) != WIRE_OK)
			return;
		const uint8_t *x = cm.digest;
		fprintf(out,
			"      its plain COMMIT for view %" PRIu64 ", seq %" PRIu64
			", digest %02x%02x%02x%02x, and its VIEW-CHANGE for view %" PRIu64
			" (checkpoint %" PRIu64 "): no certificate for seq %" PRIu64
			" of view >= %" PRIu64 "\n",
			cm.h.view, cm.h.seq, x[0], x[1], x[2], x[3], vc.h.view, vc.h.seq, cm.h.seq,
			cm.h.view);
		return;
	}
	if (f.kind != FORENSIC_EQUIVOCATION || evidence_decode(f.a, f.a_len, &e) != 0)
		return;
	const uint8_t *x = e.a.digest, *y = e.b.digest;
	fprintf(out,
		"      two %ss for view %" PRIu64 ", seq %" PRIu64
		", both signed by it: digests %02x%02x%02x%02x and %02x%02x%02x%02x\n",
		wire_type_name(e.type), e.view, e.seq, x[0], x[1], x[2], x[3], y[0], y[1], y[2],
		y[3]);
}

void forensics_print(const struct world *w, FILE *out)
{
	if (!w->fx_done)
		return;
	fprintf(out,
		"  forensics: %u transcripts, %" PRIu64 " entries (%" PRIu64
		" refused: full), %u culprits named%s\n",
		w->fx_transcripts, w->fx_entries, w->fx_dropped, w->fx.named,
		w->fx.named ? ":" : "");
	for (uint32_t i = 0; i < w->n; i++) {
		const struct forensic_culprit *c = &w->fx.c[i];
		if (!c->proof)
			continue;
		fprintf(out,
			"    r%u %s: %u proofs (%u equivocation, %u omission); the first (%s, %u "
			"bytes) %s\n",
			i, node_correct(w, i) ? "CORRECT - FALSE ACCUSATION" : "liar", c->proofs,
			c->by_kind[FORENSIC_EQUIVOCATION], c->by_kind[FORENSIC_OMISSION],
			forensic_kind_name(c->kind), c->len,
			(w->fx_verified >> i) & 1 ? "verifies from the public keys alone"
						  : "DOES NOT VERIFY");
		print_statements(c, out);
	}
}

void forensics_run(struct world *w)
{
	const struct transcript *ts[SIM_MAX_N];
	size_t count = 0;
	const uint8_t(*pk)[CRYPTO_PK_LEN] = public_keys(w);
	if (!w->o->forensics || w->fx_done || !pk)
		return;
	w->fx_done = true;
	for (uint32_t i = 0; i < w->n; i++) {
		if (!node_correct(w, i))
			continue;
		ts[count++] = &w->tx[i];
		w->fx_entries += w->tx[i].n;
		w->fx_dropped += w->tx[i].dropped;
	}
	w->fx_transcripts = (uint32_t)count;
	int flags = (w->o->bug == BUG_FORENSICS_ACCUSE_ONE ? FORENSIC_BUG_ACCUSE_ONE : 0) |
		    (w->o->bug == BUG_FORENSICS_VOUCHED_OMISSION ? FORENSIC_BUG_VOUCHED_OMISSION
								 : 0);
	forensic_report_free(&w->fx);
	if (forensics_analyze(ts, count, w->n, pk, flags, &w->fx) != 0) {
		sim_fail(w, "forensics", "the analysis ran out of memory");
		return;
	}
	for (uint32_t i = 0; i < w->n; i++) {
		const struct forensic_culprit *c = &w->fx.c[i];
		uint32_t who = 0;
		int kind = 0;
		if (!c->proof)
			continue;
		bool ok = forensics_verify(c->proof, c->len, w->n, pk, &who, &kind) == 0 &&
			  who == i;
		if (ok)
			w->fx_verified |= 1u << i;
		if (node_correct(w, i))
			w->fx_false++;
		if (!ok)
			w->fx_unverified++;
		if (node_correct(w, i) && !w->failed)
			sim_fail(w, "forensics", "the analysis names correct replica %u", i);
		else if (!ok && !w->failed)
			sim_fail(w, "forensics", "a proof against replica %u does not verify", i);
	}
}
