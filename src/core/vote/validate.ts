// Auto-voting: how an agent validates a proposal against what it knows and votes by itself — the
// seed's "Preprocessing: validate proposals before consensus" (mesh-coordinator.md, Consensus
// Optimization). Pure: the same proposal and the same knowledge give the same vote, on any agent.
//
// The rules (for the README), checked in this order; the vote is `approve` iff none is violated:
//  1. The proposal is a non-empty JSON object.
//  2. `task_assignment`, if present, is a non-empty string (≤ 256 characters).
//  3. `assigned_to`, if present, comes with `task_assignment`, and names a member this agent knows as
//     live (alive or suspect: SWIM keeps a suspect a member until a quorum declares it dead, so a vote
//     does not flip on one lost ping).
//  4. `required_capabilities`, if present, is a list of non-empty strings; the assignee (if
//     `assigned_to` is given) has every one of them, else some live member does.
//  5. `coordination_protocol`, if present, is one this agent supports (by default "gossip", "raft",
//     "pbft").
//  6. A numeric setting with a known range is a finite number in it (integer where marked):
//     `consensus_threshold` (0.5, 1]; `fanout` 1–5; `gossip_interval_ms` 20–60000; `heartbeat_ms`
//     20–60000; `failure_timeout_ms` 20–600000 and above `heartbeat_ms` when both are given;
//     `max_agents` 1–1000; `replication` 1–1000 (the swarm's own limits, src/core/config.ts).
//  7. Any other key is neutral: an agent approves what it cannot judge as long as nothing it can judge
//     is violated. Rejecting unknown keys would make every vote a veto on new kinds of proposals; the
//     workers behind the agents can always vote themselves (`voting: "manual"`).
import type { VoteValue } from "./tally";

export type MemberLiveness = "alive" | "suspect" | "dead" | "left";

export interface MemberInfo {
  id: string;
  status: MemberLiveness;
  caps: readonly string[];
}

export interface NumericRange {
  min: number;
  max: number;
  /** The minimum itself is outside the range. */
  minExclusive?: boolean;
  integer?: boolean;
}

/** What an agent knows when it votes. */
export interface VoteKnowledge {
  /** The membership as this agent sees it (itself included). */
  members: readonly MemberInfo[];
  /** Coordination protocols this agent supports (default: KNOWN_PROTOCOLS). */
  protocols?: readonly string[];
  /** Ranges of numeric settings (merged over DEFAULT_RANGES). */
  ranges?: Readonly<Record<string, NumericRange>>;
}

export const KNOWN_PROTOCOLS: readonly string[] = ["gossip", "raft", "pbft"];

export const DEFAULT_RANGES: Readonly<Record<string, NumericRange>> = {
  consensus_threshold: { min: 0.5, max: 1, minExclusive: true },
  fanout: { min: 1, max: 5, integer: true },
  gossip_interval_ms: { min: 20, max: 60_000, integer: true },
  heartbeat_ms: { min: 20, max: 60_000, integer: true },
  failure_timeout_ms: { min: 20, max: 600_000, integer: true },
  max_agents: { min: 1, max: 1000, integer: true },
  replication: { min: 1, max: 1000, integer: true },
};

export interface AutoVote {
  vote: VoteValue;
  /** The violated rules, in rule order; empty for an approval. */
  reasons: string[];
}

const isLive = (m: MemberInfo) => m.status === "alive" || m.status === "suspect";

export function autoVote(proposal: unknown, k: VoteKnowledge): AutoVote {
  const reasons: string[] = [];
  if (!proposal || typeof proposal !== "object" || Array.isArray(proposal) || Object.keys(proposal).length === 0) {
    return { vote: "reject", reasons: ["proposal is not a non-empty object"] };
  }
  const p = proposal as Record<string, unknown>;
  const members = new Map(k.members.map((m) => [m.id, m]));

  // 2–4: task assignment.
  const task = p.task_assignment;
  if (task !== undefined && (typeof task !== "string" || task.length === 0 || task.length > 256)) {
    reasons.push("task_assignment must be a non-empty string");
  }
  let assignee: MemberInfo | null = null;
  if (p.assigned_to !== undefined) {
    const to = p.assigned_to;
    if (task === undefined) reasons.push("assigned_to without task_assignment");
    if (typeof to !== "string") reasons.push("assigned_to must be an agent id");
    else {
      const m = members.get(to);
      if (!m) reasons.push(`assigned_to ${to} is not a member`);
      else if (!isLive(m)) reasons.push(`assigned_to ${to} is ${m.status}`);
      else assignee = m;
    }
  }
  if (p.required_capabilities !== undefined) {
    const caps = p.required_capabilities;
    if (!Array.isArray(caps) || !caps.every((c) => typeof c === "string" && c.length > 0)) {
      reasons.push("required_capabilities must be a list of non-empty strings");
    } else if (p.assigned_to !== undefined) {
      if (assignee) {
        const missing = (caps as string[]).filter((c) => !assignee!.caps.includes(c));
        if (missing.length) reasons.push(`assigned_to ${assignee.id} lacks ${missing.join(", ")}`);
      }
    } else if (!k.members.some((m) => isLive(m) && (caps as string[]).every((c) => m.caps.includes(c)))) {
      reasons.push("no live member has every required capability");
    }
  }

  // 5: protocol.
  if (p.coordination_protocol !== undefined) {
    const supported = k.protocols ?? KNOWN_PROTOCOLS;
    const cp = p.coordination_protocol;
    if (typeof cp !== "string" || !supported.includes(cp)) reasons.push(`coordination_protocol must be one of ${supported.join(", ")}`);
  }

  // 6: numeric settings.
  const ranges = { ...DEFAULT_RANGES, ...k.ranges };
  for (const key of Object.keys(ranges).sort()) {
    if (p[key] === undefined) continue;
    const r = ranges[key];
    const v = p[key];
    const ok =
      typeof v === "number" && Number.isFinite(v) && (r.minExclusive ? v > r.min : v >= r.min) && v <= r.max &&
      (!r.integer || Number.isInteger(v));
    if (!ok) reasons.push(`${key} must be ${r.integer ? "an integer" : "a number"} in ${r.minExclusive ? "(" : "["}${r.min}, ${r.max}]`);
  }
  if (typeof p.heartbeat_ms === "number" && typeof p.failure_timeout_ms === "number" && p.failure_timeout_ms <= p.heartbeat_ms) {
    reasons.push("failure_timeout_ms must exceed heartbeat_ms");
  }

  // 7: every other key is neutral.
  return { vote: reasons.length ? "reject" : "approve", reasons };
}
