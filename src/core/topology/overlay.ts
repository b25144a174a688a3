// The connection overlay: which 3–5 peers each agent keeps.
//
// Every agent computes the same graph from the same set of live members, so the overlay needs no
// negotiation, is symmetric, and heals itself: when a member dies or leaves, everyone who learns it
// recomputes and the cycle closes around the gap.
//
// Construction (deterministic, pure):
//  1. A Hamiltonian cycle over the members ordered by hash ring #1. A Hamiltonian cycle is
//     2-vertex-connected: the graph stays connected after removing any single agent, and has no bridges.
//  2. Chords along hash ring #2, an order independent of ring #1: visiting members in ring-2 order, a
//     member with fewer than 4 connections links to the first member after it on ring 2 that is not
//     already its neighbour and has fewer than 5. Random chords make the graph an expander-like
//     "cycle plus random matching", so its diameter grows like log n rather than n.
// Result: degree 3–5 for n ≥ 4 (n − 1 below that), connected, no bridges, no cut vertex.
// A join or leave changes only a few edges near the member in both orders.
import { hash32 } from "../hash";

const RING1_SEED = 0x51ed270b;
const RING2_SEED = 0x2b992ddf;
export const MAX_DEGREE = 5;
const CHORD_TARGET = 4;

export type Graph = Map<string, Set<string>>;

export function buildOverlay(ids: readonly string[], salt = 0): Graph {
  const uniq = Array.from(new Set(ids));
  const g: Graph = new Map();
  for (const id of uniq) g.set(id, new Set());
  const n = uniq.length;
  if (n <= 1) return g;
  const link = (a: string, b: string) => {
    g.get(a)!.add(b);
    g.get(b)!.add(a);
  };
  const ring1 = sortByHash(uniq, RING1_SEED ^ salt);
  if (n === 2) {
    link(ring1[0], ring1[1]);
    return g;
  }
  for (let i = 0; i < n; i++) link(ring1[i], ring1[(i + 1) % n]);
  if (n <= 3) return g;
  const ring2 = sortByHash(uniq, RING2_SEED ^ salt);
  for (let i = 0; i < n; i++) {
    const u = ring2[i];
    const nu = g.get(u)!;
    if (nu.size >= CHORD_TARGET) continue;
    for (let step = 1; step < n; step++) {
      const v = ring2[(i + step) % n];
      const nv = g.get(v)!;
      if (nu.has(v) || nv.size >= MAX_DEGREE) continue;
      link(u, v);
      break;
    }
  }
  return g;
}

/**
 * The Hamiltonian cycle of the overlay (step 1 above): the members in hash-ring-#1 order. Consecutive
 * entries (and the last with the first) are linked. Exported for placements that spread a role around
 * the cycle (voter placement, src/core/partition/placement.ts).
 */
export function hamiltonianCycle(ids: readonly string[], salt = 0): string[] {
  return sortByHash(Array.from(new Set(ids)), RING1_SEED ^ salt);
}

/** The peers of one member in the overlay of `ids`. */
export function overlayPeers(ids: readonly string[], self: string, salt = 0): string[] {
  const g = buildOverlay(ids, salt);
  return Array.from(g.get(self) ?? []).sort();
}

function sortByHash(ids: string[], seed: number): string[] {
  const keyed = ids.map((id) => ({ id, h: hash32(id, seed) }));
  keyed.sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return keyed.map((k) => k.id);
}
