/* byz_hs_fork.c - the lying layer's hs-fork liar (byz.h): a HotStuff leader that
 * makes one correct replica commit a block and the others a conflicting one, which
 * only the lock rule (safeNode, PODC'19 Algorithm 3) stops.
 *
 * As the stable leader it watches its own proposals.  Once the last four, H-3 <- H-2
 * <- H-1 <- H, are direct parents with consecutive views H-3, H-2, H-1 (so H carries
 * the QC that makes its receivers commit H-3), it sends H to f witnesses only.  The
 * other 2f replicas (the victims; they hold the lock on H-3 from H-1) get instead F1:
 * view of H, height of H-3, parent H-4 with H-3's old justify QC(H-4), H's batch.
 * safeNode must refuse it (it neither extends the lock nor carries a newer QC).  If
 * the victims vote anyway (--plant-bug hs-ignore-lock), their votes come back to the
 * liar (the next leader, stable) through byz_observe(); with its own signature that
 * is a QC of 2f+1, and F2, F3, F4 (empty, consecutive views, each with the QC of the
 * one before) make the victims commit F1 at the height where the witnesses committed
 * H-3.  Honest proposals meanwhile go to the witnesses only; the attack ends (honest
 * again) when F4 is out or the core has moved on (a NEW-VIEW, or 8 views later).
 *
 * hs-fork-high forks one block higher, on the lock: once H-2 <- H-1 <- H are direct
 * parents and H-1's view follows H-2's (H's QC(H-1) is a two-chain over H-2), the
 * witnesses get H and the victims F1 at H-2's height with H-2's parent H-3 and
 * QC(H-3).  The victims are locked on H-3 (from H-1), so F1 extends the lock and
 * correct victims vote for it; F2..F4 make them commit F1.  That is safe under
 * Algorithm 3 (H makes the witnesses commit at most H-3, which F1 extends) and breaks
 * agreement only if H's two-chain commits H-2 (--plant-bug hs-two-chain-commit). */
#include <stdlib.h>
#include <string.h>

#include "replica/byz.h"
#include "replica/core/hotstuff.h"

#define FORK_HEAD_MAX 2048 /* parent | justify QC (16 entries: 1130 bytes) */
#define FORK_BLOCKS 4      /* F1 .. F4: F4's QC(F3) commits F1 */
#define FORK_MIN_HEIGHT 6  /* let the cluster run a little first */

enum fork_phase { WATCH = 0, FORKING, DONE };

struct fork_prop { /* one of the liar's own proposals */
	uint64_t view, height;
	uint8_t hash[WIRE_DIGEST_LEN];
	uint8_t justify[WIRE_DIGEST_LEN]; /* = parent */
	uint64_t justify_view;
	uint8_t head[FORK_HEAD_MAX]; /* parent | justify QC, as sent */
	uint32_t head_len;
};

struct hs_fork {
	enum fork_phase phase;
	bool high;                /* hs-fork-high: fork at H-2 on the lock */
	struct fork_prop prop[4]; /* the last four, prop[(k) % 4] */
	uint32_t nprop;
	uint32_t victims;      /* bit i: replica i gets the fork */
	uint64_t view, height; /* of the last fork block sent */
	uint8_t hash[WIRE_DIGEST_LEN];
	struct hs_qc qc; /* votes for it */
	uint32_t sent;   /* fork blocks sent */
};

int byz_hs_fork_init(struct byz *b)
{
	struct hs_fork *k = calloc(1, sizeof(*k));
	if (!k)
		return -1;
	/* the first f others are witnesses, the remaining 2f victims */
	for (uint32_t i = 0, others = 0; i < b->n; i++)
		if (i != b->id && others++ >= b->f)
			k->victims |= 1u << i;
	k->high = b->cfg.kind == BYZ_HS_FORK_HIGH;
	b->hs_fork = k;
	return 0;
}

void byz_hs_fork_free(struct byz *b)
{
	free(b->hs_fork);
	b->hs_fork = NULL;
}

/* Send arena[off .. off+len) of out (effects_send takes everything to the end). */
static void send_slice_to(struct effects *out, int32_t to, size_t off, size_t len)
{
	size_t before = out->n_sends;
	effects_send(out, to, 0, off);
	if (out->n_sends == before + 1)
		out->sends[before].len = len;
}

static const struct fork_prop *back(const struct hs_fork *k, uint32_t ago)
{
	return &k->prop[(k->nprop - 1 - ago) % 4];
}

/* Remember one of our proposals; 1 if it is H of the pattern above. */
static int note_proposal(struct hs_fork *k, const struct msg *m)
{
	size_t head = (size_t)(m->u.hs.batch - m->body);
	if (head > FORK_HEAD_MAX)
		return 0;
	struct fork_prop *p = &k->prop[k->nprop % 4];
	p->view = m->h.view;
	p->height = m->h.seq;
	hs_block_hash(m->h.view, m->h.seq, m->body, m->h.body_len, p->hash);
	memcpy(p->justify, m->u.hs.parent, WIRE_DIGEST_LEN);
	p->justify_view = m->u.hs.qc.view;
	memcpy(p->head, m->body, head);
	p->head_len = (uint32_t)head;
	k->nprop++;
	if (k->nprop < 4 || p->height < FORK_MIN_HEIGHT || m->u.hs.batch_len < 2 ||
	    get_u16(m->u.hs.batch) == 0)
		return 0;
	uint32_t links = k->high ? 2 : 3; /* H-2 <- H-1 <- H, or from H-3 */
	for (uint32_t i = 0; i < links; i++) {
		const struct fork_prop *c = back(k, i), *parent = back(k, i + 1);
		if (memcmp(c->justify, parent->hash, WIRE_DIGEST_LEN) != 0 ||
		    c->height != parent->height + 1)
			return 0;
	}
	if (k->high)
		return back(k, 1)->view == back(k, 2)->view + 1;
	return back(k, 1)->view == back(k, 2)->view + 1 && back(k, 2)->view == back(k, 3)->view + 1;
}

/* Our own signature on a VOTE for (view, hash), for the fork's QC. */
static int own_vote(struct byz *b, struct auth_ctx *auth, struct buf *a, uint8_t sig[WIRE_SIG_LEN])
{
	struct hs_fork *k = b->hs_fork;
	size_t off = wire_begin(a, MSG_HS_VOTE, b->cluster_id, b->id, k->view, 0);
	buf_put(a, k->hash, WIRE_DIGEST_LEN);
	wire_finish(a, off);
	int ok = !a->err && auth_seal(auth, a, off) == 0 &&
		 a->len - off == WIRE_HS_VOTE_LEN + WIRE_SIG_LEN;
	if (ok)
		memcpy(sig, a->p + off + WIRE_HS_VOTE_LEN, WIRE_SIG_LEN);
	a->len = off;
	return ok ? 0 : -1;
}

/* Build, seal and send fork block (view, height) with body head | batch to the
 * victims; it becomes the block whose votes we collect. */
static int send_fork(struct byz *b, struct auth_ctx *auth, uint64_t view, uint64_t height,
		     const uint8_t *head, size_t head_len, const uint8_t *batch, size_t batch_len,
		     struct effects *out)
{
	struct hs_fork *k = b->hs_fork;
	struct buf *a = &out->arena;
	size_t off = wire_begin(a, MSG_HS_PROPOSAL, b->cluster_id, b->id, view, height);
	buf_put(a, head, head_len);
	buf_put(a, batch, batch_len);
	wire_finish(a, off);
	if (a->err)
		return -1;
	hs_block_hash(view, height, a->p + off + WIRE_HDR_LEN, head_len + batch_len, k->hash);
	if (auth_seal(auth, a, off) != 0)
		return -1;
	size_t len = a->len - off;
	int sent = 0;
	for (uint32_t j = 0; j < b->n; j++)
		if (k->victims >> j & 1u) {
			send_slice_to(out, (int32_t)j, off, len);
			sent = 1;
		}
	k->view = view;
	k->height = height;
	memset(&k->qc, 0, sizeof(k->qc));
	k->qc.view = view;
	memcpy(k->qc.hash, k->hash, WIRE_DIGEST_LEN);
	uint8_t sig[WIRE_SIG_LEN];
	if (own_vote(b, auth, a, sig) == 0) {
		k->qc.id[0] = (uint16_t)b->id;
		memcpy(k->qc.sig[0], sig, WIRE_SIG_LEN);
		k->qc.count = 1;
	}
	k->sent++;
	b->lies++;
	return sent ? 0 : -1;
}

/* H of the pattern: the witnesses get H, the victims F1.  Returns 1 if it lied. */
static int start_fork(struct byz *b, struct auth_ctx *auth, const struct msg *m, const uint8_t *p,
		      size_t len, struct effects *out)
{
	struct hs_fork *k = b->hs_fork;
	const struct fork_prop *h3 = back(k, k->high ? 2 : 3); /* F1 takes its place */
	size_t mark = out->arena.len, sends = out->n_sends;
	if (send_fork(b, auth, m->h.view, h3->height, h3->head, h3->head_len, m->u.hs.batch,
		      m->u.hs.batch_len, out) != 0) {
		out->arena.err = 0;
		out->arena.len = mark;
		out->n_sends = sends;
		return 0;
	}
	size_t off = out->arena.len;
	buf_put(&out->arena, p, len);
	for (uint32_t j = 0; j < b->n; j++)
		if (j != b->id && !(k->victims >> j & 1u))
			send_slice_to(out, (int32_t)j, off, len);
	k->phase = FORKING;
	return 1;
}

int byz_hs_fork_send(struct byz *b, struct auth_ctx *auth, const struct send *s, const uint8_t *p,
		     struct effects *out)
{
	struct hs_fork *k = b->hs_fork;
	struct msg m;
	uint8_t type = p[WIRE_OFF_TYPE];
	if (k->phase == DONE || s->to == TO_CLIENT ||
	    (type != MSG_HS_PROPOSAL && type != MSG_HS_NEWVIEW) ||
	    wire_decode(p, s->len, b->cluster_id, &m) != WIRE_OK)
		return 0;
	if (type == MSG_HS_NEWVIEW || (k->phase == FORKING && m.h.view >= k->view + 8)) {
		if (k->phase == FORKING)
			k->phase = DONE; /* the core moved on: honest from now on */
		return 0;
	}
	if (k->phase == WATCH)
		return s->to == TO_OTHERS && note_proposal(k, &m) &&
		       start_fork(b, auth, &m, p, s->len, out);
	/* forking: our honest proposals reach the witnesses only */
	size_t off = out->arena.len;
	buf_put(&out->arena, p, s->len);
	for (uint32_t j = 0; j < b->n; j++)
		if (j != b->id && !(k->victims >> j & 1u) &&
		    (s->to == TO_OTHERS || s->to == (int32_t)j))
			send_slice_to(out, (int32_t)j, off, s->len);
	b->lies++;
	return 1;
}

void byz_hs_fork_observe(struct byz *b, const struct msg *m)
{
	struct hs_fork *k = b->hs_fork;
	if (!k || k->phase != FORKING || m->h.type != MSG_HS_VOTE || m->h.view != k->view ||
	    m->h.auth_len != WIRE_SIG_LEN || m->h.sender >= b->n ||
	    !(k->victims >> m->h.sender & 1u) ||
	    memcmp(m->u.hs.hash, k->hash, WIRE_DIGEST_LEN) != 0)
		return;
	for (uint16_t i = 0; i < k->qc.count; i++)
		if (k->qc.id[i] == m->h.sender)
			return;
	if (k->qc.count >= WIRE_MAX_REPLICAS)
		return;
	k->qc.id[k->qc.count] = (uint16_t)m->h.sender;
	memcpy(k->qc.sig[k->qc.count], m->auth, WIRE_SIG_LEN);
	k->qc.count++;
}

void byz_hs_fork_step(struct byz *b, struct auth_ctx *auth, struct effects *out)
{
	struct hs_fork *k = b->hs_fork;
	if (k->phase != FORKING || k->qc.count < b->n - b->f)
		return;
	if (k->sent >= FORK_BLOCKS) {
		k->phase = DONE;
		return;
	}
	struct buf h;
	buf_init(&h);
	buf_put(&h, k->hash, WIRE_DIGEST_LEN);
	wire_put_hs_qc(&h, &k->qc);
	const uint8_t empty[2] = {0, 0}; /* a batch of no requests */
	size_t mark = out->arena.len, sends = out->n_sends;
	int rc = h.err ? -1
		       : send_fork(b, auth, k->view + 1, k->height + 1, h.p, h.len, empty,
				   sizeof(empty), out);
	buf_free(&h);
	if (rc != 0) {
		out->arena.err = 0;
		out->arena.len = mark;
		out->n_sends = sends;
		k->phase = DONE;
		return;
	}
	if (k->sent >= FORK_BLOCKS)
		k->phase = DONE; /* F4 is out: the victims commit F1 */
}
