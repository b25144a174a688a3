// Wire validation of the reachability digest that rides on peer envelopes (src/core/partition/reach.ts).
// A malformed digest is rejected here (the envelope dropped and counted), never thrown on inside the core.
import { isId } from "../ids";
import type { ReachDigest } from "./reach";

/** Generous bounds: a digest lists at most every member once (maxAgents ≤ 1000), reports at most that many ids. */
const MAX_ENTRIES = 5000;
const MAX_IDS = 5000;

const nat = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

export function validReachDigest(x: unknown): x is ReachDigest {
  if (!x || typeof x !== "object" || Array.isArray(x)) return false;
  const r = x as Record<string, unknown>;
  if (!Array.isArray(r.e) || r.e.length > MAX_ENTRIES || !Array.isArray(r.d) || r.d.length > MAX_ENTRIES) return false;
  for (const e of r.e) {
    if (!Array.isArray(e) || e.length !== 3 || !isId(e[0]) || !nat(e[1]) || !nat(e[2])) return false;
  }
  for (const d of r.d) {
    if (!Array.isArray(d) || d.length !== 5 || !isId(d[0]) || !nat(d[1]) || !nat(d[2])) return false;
    if (!Array.isArray(d[3]) || d[3].length > MAX_IDS || !d[3].every(isId)) return false;
    if (d[4] !== 0 && d[4] !== 1) return false;
  }
  return true;
}
