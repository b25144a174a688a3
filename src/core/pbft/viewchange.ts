// The view-change rules of OSDI '99 §4.4 as pure functions, shared by the new primary (which builds
// NEW-VIEW) and the backups (which check it by recomputing O from V).
import { digestOf } from "./digest";
import type { CheckpointMsg, NewView, NewViewEntry, PreparedCert, Request, ViewChange } from "./types";

/** The digest of the null request (§4.4: gaps in O are filled with null requests, which execute as no-ops). */
export const NULL_DIGEST = digestOf([]);

export interface QuorumConfig {
  replicas: readonly string[];
  f: number;
  /** 2f+1 for n = 3f+1 (in general ⌈(n+f+1)/2⌉): any two quorums share a correct replica. */
  quorum: number;
  checkpointInterval: number;
  logWindow: number;
  maxBatch: number;
  genesisDigest: string;
  /** Guards that tests can switch off to show what they protect (see PbftGuards in pbft.ts). */
  checkpointProofs: boolean;
  preparedCertProofs: boolean;
}

export function primaryOf(cfg: { replicas: readonly string[] }, view: number): string {
  return cfg.replicas[view % cfg.replicas.length];
}

/**
 * The digest of a batch: over its requests without their signatures (a request is its client, reqId and
 * operation; the signature only authenticates it), so a replica holding its own request unsigned — the
 * shell signs it on the way out — computes the same digest as one that received it signed.
 */
export function batchDigest(batch: readonly Request[]): string {
  return batch.length === 0 ? NULL_DIGEST : digestOf(batch.map((r) => ({ client: r.client, reqId: r.reqId, op: r.op })));
}

/** 2f+1 CHECKPOINT messages from distinct replicas for (seq, digest); the genesis checkpoint needs none (§4.3). */
export function validCheckpointProof(cfg: QuorumConfig, seq: number, digest: string, proof: readonly CheckpointMsg[]): boolean {
  if (seq === 0) return digest === cfg.genesisDigest;
  if (seq % cfg.checkpointInterval !== 0) return false;
  const signers = new Set<string>();
  for (const c of proof) {
    if (c.seq !== seq || c.digest !== digest || !cfg.replicas.includes(c.replica)) return false;
    signers.add(c.replica);
  }
  return signers.size >= cfg.quorum;
}

/** A prepared certificate: 2f matching PREPAREs from distinct backups of its view, and the batch of its digest. */
export function validPreparedCert(cfg: QuorumConfig, c: PreparedCert): boolean {
  if (!cfg.preparedCertProofs) return true;
  if (c.batch.length > cfg.maxBatch || batchDigest(c.batch) !== c.digest) return false;
  const primary = primaryOf(cfg, c.view);
  const signers = new Set<string>();
  for (const p of c.prepares) {
    if (p.view !== c.view || p.seq !== c.seq || p.digest !== c.digest) return false;
    if (p.replica === primary || !cfg.replicas.includes(p.replica)) return false;
    signers.add(p.replica);
  }
  return signers.size >= cfg.quorum - 1;
}

/**
 * A VIEW-CHANGE is valid (§4.4) when its stable checkpoint is proven, and every prepared certificate is
 * valid, from a view below the new one, above the checkpoint and within the log window, one per seq.
 */
export function validViewChange(cfg: QuorumConfig, vc: ViewChange): boolean {
  if (!cfg.replicas.includes(vc.replica) || vc.view < 1) return false;
  if (cfg.checkpointProofs && !validCheckpointProof(cfg, vc.stable.seq, vc.stable.digest, vc.proof)) return false;
  const seqs = new Set<number>();
  for (const c of vc.prepared) {
    if (c.view >= vc.view || c.seq <= vc.stable.seq || c.seq > vc.stable.seq + cfg.logWindow) return false;
    if (seqs.has(c.seq)) return false;
    seqs.add(c.seq);
    if (!validPreparedCert(cfg, c)) return false;
  }
  return true;
}

export interface NewViewPlan {
  /** min-s: the latest stable checkpoint in V, with the VIEW-CHANGE that proves it. */
  minS: number;
  minSDigest: string;
  minSProof: CheckpointMsg[];
  /** max-s: the highest seq of a prepared certificate in V (at least min-s). */
  maxS: number;
  /** O: one entry per seq in (min-s, max-s]. */
  entries: NewViewEntry[];
}

/**
 * Compute min-s, max-s and O from V (§4.4). For each seq in (min-s, max-s]: the batch of the
 * certificate with the highest view in V, or the null request when no VIEW-CHANGE reports one.
 *
 * min-s is the highest stable checkpoint in V — each one proven by 2f+1 CHECKPOINTs (validViewChange):
 * an unproven claim would let one byzantine replica move every correct replica's low watermark to a
 * state no correct replica has (guard `checkpointProofs`; Fabric #1111 was a confusion of checkpoint sets
 * in this computation). Seqs at or below min-s are not re-decided: the state at min-s already holds them.
 */
export function planNewView(cfg: QuorumConfig, vcs: readonly ViewChange[]): NewViewPlan {
  let pick = vcs[0];
  for (const vc of vcs) {
    if (vc.stable.seq > pick.stable.seq) pick = vc;
  }
  const minS = pick.stable.seq;
  const best = new Map<number, PreparedCert>();
  let maxS = minS;
  for (const vc of vcs) {
    for (const c of vc.prepared) {
      if (c.seq <= minS) continue;
      const b = best.get(c.seq);
      if (!b || c.view > b.view) best.set(c.seq, c);
      if (c.seq > maxS) maxS = c.seq;
    }
  }
  const entries: NewViewEntry[] = [];
  for (let s = minS + 1; s <= maxS; s++) {
    const c = best.get(s);
    entries.push(c ? { seq: s, digest: c.digest, batch: c.batch } : { seq: s, digest: NULL_DIGEST, batch: [] });
  }
  return { minS, minSDigest: pick.stable.digest, minSProof: pick.proof, maxS, entries };
}

/**
 * A backup accepts NEW-VIEW (§4.4) if it comes from the view's primary, V holds a quorum of valid
 * VIEW-CHANGEs for that view from distinct replicas, and O is what `planNewView` computes from V.
 * Returns the plan (so the caller does not recompute it), or null if the message is not valid.
 */
export function checkNewView(cfg: QuorumConfig, nv: NewView): NewViewPlan | null {
  if (nv.replica !== primaryOf(cfg, nv.view)) return null;
  const authors = new Set<string>();
  for (const vc of nv.viewChanges) {
    if (vc.view !== nv.view || authors.has(vc.replica) || !validViewChange(cfg, vc)) return null;
    authors.add(vc.replica);
  }
  if (authors.size < cfg.quorum) return null;
  const plan = planNewView(cfg, nv.viewChanges);
  if (plan.entries.length !== nv.prePrepares.length) return null;
  for (let i = 0; i < plan.entries.length; i++) {
    const want = plan.entries[i];
    const got = nv.prePrepares[i];
    if (got.seq !== want.seq || got.digest !== want.digest) return null;
    if (got.batch.length > cfg.maxBatch || batchDigest(got.batch) !== got.digest) return null;
  }
  return plan;
}
