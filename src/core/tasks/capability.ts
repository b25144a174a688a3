// Capability routing (the seed's CapabilityRouter): an agent is a candidate for a task only if its
// capability match is above 0.7. The match score is the fraction of the task's distinct required
// capabilities that the agent declares (1 when nothing is required). With three or fewer required
// capabilities that means all of them (2/3 ≈ 0.67 is not above 0.7); with four, any three.
import { Rendezvous } from "./ring";
import type { MemberInfo } from "./types";

export const CAPABILITY_THRESHOLD = 0.7;

/** Fraction of the distinct required capabilities the agent has, in [0, 1]. */
export function capabilityMatch(agentCaps: readonly string[], required: readonly string[]): number {
  const req = Array.from(new Set(required));
  if (req.length === 0) return 1;
  const have = new Set(agentCaps);
  let n = 0;
  for (const c of req) if (have.has(c)) n++;
  return n / req.length;
}

export interface Candidate {
  agentId: string;
  score: number;
  load: number;
}

/** Every member with a match above the threshold, best first: score, then lower load, then id. */
export function capableAgents(members: readonly MemberInfo[], required: readonly string[], threshold = CAPABILITY_THRESHOLD): Candidate[] {
  return members
    .map((m) => ({ agentId: m.id, score: capabilityMatch(m.caps, required), load: m.load }))
    .filter((c) => c.score > threshold)
    .sort((a, b) => b.score - a.score || a.load - b.load || (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
}

export type CapabilityRoute =
  | { ok: true; agentId: string; score: number; candidates: Candidate[] }
  | {
      ok: false;
      code: "no_capable_agent";
      required: string[];
      /** Required capabilities no live agent declares; if every one is declared by someone, those the best-matching agent lacks. */
      missing: string[];
      best: { agentId: string; score: number } | null;
    };

/**
 * Route a task by capability: among the candidates with the best match, the less loaded of two chosen
 * by rendezvous hashing on `key` (the task id) — the power of two choices, which stays balanced on
 * stale gossiped loads where "always the least loaded" herds every task onto one agent until the next
 * gossip round (Mitzenmacher, "How Useful Is Old Information?", IEEE TPDS 2000). Without a key: the
 * least loaded best match. With no candidate: a structured "no capable agent" naming what is missing.
 */
export function routeByCapability(members: readonly MemberInfo[], required: readonly string[], key?: string, threshold = CAPABILITY_THRESHOLD): CapabilityRoute {
  const candidates = capableAgents(members, required, threshold);
  if (candidates.length > 0) {
    let pick = candidates[0];
    if (key !== undefined) {
      const top = candidates.filter((c) => c.score === candidates[0].score);
      const two = new Rendezvous(top.map((c) => ({ id: c.agentId }))).holders(key, 2);
      const a = top.find((c) => c.agentId === two[0])!;
      const b = two[1] === undefined ? a : top.find((c) => c.agentId === two[1])!;
      pick = b.load < a.load ? b : a;
    }
    return { ok: true, agentId: pick.agentId, score: pick.score, candidates };
  }
  const req = Array.from(new Set(required));
  const declared = new Set(members.flatMap((m) => m.caps));
  let missing = req.filter((c) => !declared.has(c));
  let best: { agentId: string; score: number } | null = null;
  for (const m of members) {
    const s = capabilityMatch(m.caps, req);
    if (!best || s > best.score || (s === best.score && m.id < best.agentId)) best = { agentId: m.id, score: s };
  }
  if (missing.length === 0 && best) {
    const have = new Set(members.find((m) => m.id === best!.agentId)!.caps);
    missing = req.filter((c) => !have.has(c));
  }
  return { ok: false, code: "no_capable_agent", required: req, missing, best };
}
