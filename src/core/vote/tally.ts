// Proposals and votes: the model and the deterministic decision shared by the three voting protocols
// (`raft`: votes go through the replicated log; `pbft`: votes are ordered by PBFT; `gossip`: votes
// spread by gossip, see ./gossip.ts). Every protocol feeds the same function, `decide`, with the
// proposal and the valid votes it holds; the protocols differ only in how they agree on that vote set.
//
// The rules (the contract, "Proposals and votes"):
//  - needed = ⌈threshold × eligible⌉, computed exactly in integers (see `neededApprovals`);
//  - approved at the first vote (in `at` order) after which approvals ≥ needed;
//  - rejected at the first vote after which approvals + outstanding < needed, i.e. the moment approval
//    became impossible (rejections > eligible − needed);
//  - expired at createdAt + timeoutMs if still undecided; the voting window is [createdAt, expiresAt):
//    a vote stamped at or after expiresAt does not count;
//  - participation = agents that voted / eligible; decisionLatencyMs = decidedAt − createdAt.
// The status depends only on the vote set (approvals and rejections only grow, and the two conditions
// exclude each other: approvals ≥ needed implies rejections ≤ eligible − needed), so any two agents
// holding the same votes agree on it whatever order the votes arrived in; decidedAt is the `at` of the
// deciding vote, so it is a function of the set too.
//
// Threshold × eligible versus PBFT's 2f + 1 (for the README):
//  PBFT (Castro & Liskov, OSDI '99, §4) runs n = 3f + 1 replicas and needs quorums of 2f + 1, so that two
//  quorums share at least f + 1 replicas, one of them correct. For any n the Byzantine quorum is
//  ⌈(n + f + 1) / 2⌉ with f = ⌊(n − 1) / 3⌋ (`pbftQuorum`), which is 2f + 1 when n = 3f + 1.
//  With the seed's threshold 0.67:
//     n = 4  (f = 1):  0.67 × 4   = 2.68  → 3  = 2f + 1
//     n = 7  (f = 2):  0.67 × 7   = 4.69  → 5  = 2f + 1
//     n = 10 (f = 3):  0.67 × 10  = 6.7   → 7  = 2f + 1
//     n = 13 (f = 4):  0.67 × 13  = 8.71  → 9  = 2f + 1
//     n = 100 (f = 33): 0.67 × 100 = 67    → 67 = 2f + 1
//     n = 103 (f = 34): 0.67 × 103 = 69.01 → 70 > 2f + 1 = 69
//  For n = 3f + 1, 0.67·n = 2.01f + 0.67 and 2f + 1 agree while 0.01f + 0.67 ≤ 1, i.e. f ≤ 33 (n ≤ 100);
//  from n = 103 on, 0.67 is stricter (0.67 > 2/3, so the gap grows like n/300: 670 vs 667 at n = 1000).
//  For n = 3k (no f with n = 3f + 1; f = k − 1, quorum 2k), 0.67 asks one vote more: 2.01k → 2k + 1
//  (n = 3: 3 vs 2, n = 6: 5 vs 4, n = 9: 7 vs 6, n = 12: 9 vs 8). Every other n ≤ 100 is equal; past
//  100 only n ≡ 2 (mod 3) up to 200 stays equal, every other n is stricter by 1 to 4 votes (n ≤ 1000).
//  It is never weaker for n ≤ 1000 (test/core/vote.test.ts checks every n): an approval by 0.67 of the
//  eligible agents always contains a Byzantine quorum, hence at least f + 1 correct approvers.
//  Thresholds are taken to the nearest millionth; a threshold ≤ 0.5 is refused (two disjoint
//  "majorities" could then both approve conflicting proposals).

export type VoteValue = "approve" | "reject";
export type ProposalStatus = "pending" | "approved" | "rejected" | "expired";
export type VoteProtocol = "raft" | "pbft" | "gossip";
export type VotingMode = "auto" | "manual";

export const VOTE_PROTOCOLS: readonly VoteProtocol[] = ["raft", "pbft", "gossip"];

export const VOTE_LIMITS = {
  minTimeoutMs: 20,
  maxTimeoutMs: 3_600_000,
  defaultTimeoutMs: 30_000,
  maxEligible: 1000,
  defaultThreshold: 0.67,
  /** Thresholds are counted in millionths so that ⌈threshold × n⌉ is exact integer arithmetic. */
  thresholdScale: 1_000_000,
} as const;

/** What the decision needs to know about a proposal. */
export interface ProposalSpec {
  proposalId: string;
  protocol: VoteProtocol;
  /** The agents whose votes count, fixed when the proposal is made (distinct, sorted). */
  eligible: readonly string[];
  threshold: number;
  createdAt: number;
  timeoutMs: number;
}

/** A proposal as every protocol carries it. */
export interface Proposal extends ProposalSpec {
  proposer: string;
  /** The `proposal` object of the request (free-form JSON). */
  body: Record<string, unknown>;
  voting: VotingMode;
}

/** One agent's vote as the tally counts it. */
export interface Ballot {
  agent: string;
  vote: VoteValue;
  at: number;
  /** The agent signed two different votes (gossip only): counted as a rejection. */
  equivocated?: boolean;
}

export interface Outcome {
  proposalId: string;
  protocol: VoteProtocol;
  status: ProposalStatus;
  votes: { approve: number; reject: number; eligible: number };
  participation: number;
  createdAt: number;
  decidedAt: number | null;
  decisionLatencyMs: number | null;
  /** Approvals needed: ⌈threshold × eligible⌉. */
  needed: number;
  expiresAt: number;
  /** Agents that signed two different votes (or, for a proposer, two different proposals). */
  equivocators: string[];
}

// ---- thresholds -------------------------------------------------------------------------------

/** The threshold in millionths (the unit all arithmetic uses). */
export function thresholdUnits(threshold: number): number {
  return Math.round(threshold * VOTE_LIMITS.thresholdScale);
}

/** A threshold is valid in (0.5, 1] after rounding to the nearest millionth. */
export function thresholdValid(threshold: unknown): threshold is number {
  if (typeof threshold !== "number" || !Number.isFinite(threshold)) return false;
  const u = thresholdUnits(threshold);
  return u > VOTE_LIMITS.thresholdScale / 2 && u <= VOTE_LIMITS.thresholdScale;
}

/**
 * ⌈threshold × eligible⌉ without floating-point error: 0.55 × 100 is 55.00000000000001 in binary
 * floating point and Math.ceil would say 56. In millionths it is ⌈550000 · 100 / 10⁶⌉ = 55 exactly
 * (10⁶ · 1000 < 2⁵³, so the integer product is exact). At least 1.
 */
export function neededApprovals(threshold: number, eligible: number): number {
  const s = VOTE_LIMITS.thresholdScale;
  const u = thresholdUnits(threshold);
  return Math.max(1, Math.floor((u * eligible + s - 1) / s));
}

/** The Byzantine quorum for n agents: ⌈(n + f + 1) / 2⌉ with f = ⌊(n − 1) / 3⌋; 2f + 1 when n = 3f + 1. */
export function pbftQuorum(n: number): number {
  const f = Math.floor((n - 1) / 3);
  return Math.ceil((n + f + 1) / 2);
}

// ---- proposals from requests --------------------------------------------------------------------

export interface ProposalInput {
  proposal: Record<string, unknown>;
  protocol?: VoteProtocol;
  agents?: "all" | readonly string[];
  threshold?: number;
  timeoutMs?: number;
  voting?: VotingMode;
}

export type MakeResult = { ok: true; proposal: Proposal } | { ok: false; field: string; message: string };

/**
 * Build the proposal an agent will carry for a request: resolve `agents: "all"` to the live members
 * this agent knows (the eligible set is fixed now, so that every agent tallies against the same one),
 * apply defaults, and refuse what no agent could decide.
 */
export function makeProposal(
  input: ProposalInput,
  ctx: { proposalId: string; proposer: string; now: number; liveMembers: readonly string[]; defaultThreshold?: number },
): MakeResult {
  const threshold = input.threshold ?? ctx.defaultThreshold ?? VOTE_LIMITS.defaultThreshold;
  if (!thresholdValid(threshold)) return { ok: false, field: "threshold", message: "threshold must be in (0.5, 1]" };
  const timeoutMs = input.timeoutMs ?? VOTE_LIMITS.defaultTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < VOTE_LIMITS.minTimeoutMs || timeoutMs > VOTE_LIMITS.maxTimeoutMs) {
    return { ok: false, field: "timeoutMs", message: `timeoutMs must be an integer in [${VOTE_LIMITS.minTimeoutMs}, ${VOTE_LIMITS.maxTimeoutMs}]` };
  }
  const agents = input.agents ?? "all";
  const eligible = sortedDistinct(agents === "all" ? ctx.liveMembers : agents);
  if (eligible.length === 0) return { ok: false, field: "agents", message: "no eligible agent" };
  if (eligible.length > VOTE_LIMITS.maxEligible) return { ok: false, field: "agents", message: `at most ${VOTE_LIMITS.maxEligible} eligible agents` };
  return {
    ok: true,
    proposal: {
      proposalId: ctx.proposalId,
      protocol: input.protocol ?? "gossip",
      proposer: ctx.proposer,
      body: input.proposal,
      eligible,
      threshold,
      createdAt: ctx.now,
      timeoutMs,
      voting: input.voting ?? "auto",
    },
  };
}

export function sortedDistinct(xs: readonly string[]): string[] {
  return Array.from(new Set(xs)).sort(cmp);
}

/** Code-unit order (not locale order): the same on every agent. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- votes ----------------------------------------------------------------------------------------

export type CastResult = "accepted" | "duplicate" | "conflict" | "not_eligible" | "closed";

/** Is `at` inside the voting window [createdAt, createdAt + timeoutMs)? */
export function inWindow(spec: ProposalSpec, at: number): boolean {
  return at >= spec.createdAt && at < spec.createdAt + spec.timeoutMs;
}

/**
 * Ordered protocols (raft, pbft): votes are applied in the agreed order and the first vote of each
 * agent wins. A second vote equal to the first is idempotent (`duplicate`); a different one is a
 * `conflict` (the contract's 409) and changes nothing.
 */
export function castOrdered(spec: ProposalSpec, ballots: Map<string, Ballot>, b: Ballot): CastResult {
  if (!spec.eligible.includes(b.agent)) return "not_eligible";
  const prev = ballots.get(b.agent);
  if (prev) return prev.vote === b.vote ? "duplicate" : "conflict";
  if (!inWindow(spec, b.at)) return "closed";
  ballots.set(b.agent, { agent: b.agent, vote: b.vote, at: b.at });
  return "accepted";
}

/**
 * Unordered protocols (gossip): the vote set has no agreed order, so "the first vote wins" cannot be
 * decided the same way everywhere. The rule, a function of the set alone:
 *  - an agent with votes of one value counts with that value, at the earliest `at` among them;
 *  - an agent that signed both an approval and a rejection is an equivocator: it counts as a
 *    rejection at the earliest `at` of all its votes (a lying agent never helps a proposal pass), and
 *    is reported.
 * Callers pass only validly signed votes (the shell's filter) inside the voting window.
 */
export function ballotsFromRecords(records: Iterable<{ agent: string; vote: VoteValue; at: number }>): { ballots: Ballot[]; equivocators: string[] } {
  const by = new Map<string, { approve: number | null; reject: number | null }>();
  for (const r of records) {
    let e = by.get(r.agent);
    if (!e) by.set(r.agent, (e = { approve: null, reject: null }));
    const cur = e[r.vote];
    if (cur === null || r.at < cur) e[r.vote] = r.at;
  }
  const ballots: Ballot[] = [];
  const equivocators: string[] = [];
  for (const [agent, e] of by) {
    if (e.approve !== null && e.reject !== null) {
      ballots.push({ agent, vote: "reject", at: Math.min(e.approve, e.reject), equivocated: true });
      equivocators.push(agent);
    } else if (e.approve !== null) ballots.push({ agent, vote: "approve", at: e.approve });
    else ballots.push({ agent, vote: "reject", at: e.reject! });
  }
  equivocators.sort(cmp);
  return { ballots, equivocators };
}

// ---- the decision ---------------------------------------------------------------------------------

/**
 * The outcome of a proposal given its ballots (at most one per agent; if there are more, the earliest
 * in (at, agent, vote) order is taken) and the local time `now`, which matters only for expiry.
 * Ballots of ineligible agents or outside the voting window are ignored.
 */
export function decide(spec: ProposalSpec, ballots: readonly Ballot[], now: number): Outcome {
  const eligible = new Set(spec.eligible);
  const n = eligible.size;
  const needed = neededApprovals(spec.threshold, n);
  const expiresAt = spec.createdAt + spec.timeoutMs;
  const sorted = ballots
    .filter((b) => eligible.has(b.agent) && inWindow(spec, b.at))
    .sort((a, b) => a.at - b.at || cmp(a.agent, b.agent) || cmp(a.vote, b.vote));
  const seen = new Set<string>();
  const equivocators: string[] = [];
  let approve = 0;
  let reject = 0;
  let status: ProposalStatus = "pending";
  let decidedAt: number | null = null;
  for (const b of sorted) {
    if (seen.has(b.agent)) continue;
    seen.add(b.agent);
    if (b.equivocated) equivocators.push(b.agent);
    if (b.vote === "approve") approve++;
    else reject++;
    if (status !== "pending") continue;
    if (approve >= needed) {
      status = "approved";
      decidedAt = b.at;
    } else if (reject > n - needed) {
      // approvals + outstanding = n − reject < needed: approval can no longer happen.
      status = "rejected";
      decidedAt = b.at;
    }
  }
  if (status === "pending" && now >= expiresAt) {
    status = "expired";
    decidedAt = expiresAt;
  }
  equivocators.sort(cmp);
  return {
    proposalId: spec.proposalId,
    protocol: spec.protocol,
    status,
    votes: { approve, reject, eligible: n },
    participation: n === 0 ? 0 : (approve + reject) / n,
    createdAt: spec.createdAt,
    decidedAt,
    decisionLatencyMs: decidedAt === null ? null : decidedAt - spec.createdAt,
    needed,
    expiresAt,
    equivocators,
  };
}

/** The contract's view of an outcome (`GET …/proposals/:proposalId`). */
export function outcomeView(o: Outcome): {
  proposalId: string; protocol: VoteProtocol; status: ProposalStatus; votes: Outcome["votes"]; participation: number;
  createdAt: number; decidedAt: number | null; decisionLatencyMs: number | null;
} {
  return {
    proposalId: o.proposalId, protocol: o.protocol, status: o.status, votes: { ...o.votes }, participation: o.participation,
    createdAt: o.createdAt, decidedAt: o.decidedAt, decisionLatencyMs: o.decisionLatencyMs,
  };
}

/** Newest first (createdAt descending, then id), as `GET …/proposals` lists them. */
export function newestFirst(a: { createdAt: number; proposalId: string }, b: { createdAt: number; proposalId: string }): number {
  return b.createdAt - a.createdAt || cmp(a.proposalId, b.proposalId);
}
