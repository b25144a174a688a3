// Voter placement: which members vote in the Raft log, and how often a partition leaves the side with
// the most members able to write (hold a voter quorum) under each placement.
//
// Today the first `consensus.voters` agents created vote. Agents created together are a correlated group
// (same request, same moment, likely the same location), so a partition along creation order takes the
// whole voter set to one side. The strategies compared here:
//   first   — the first v members in creation order (today);
//   hashed  — the v members with the lowest hash of their id (rendezvous-style): independent of creation
//             order, and stable — a join or a leave changes at most one voter;
//   spread  — v members equally spaced on the overlay's Hamiltonian cycle (src/core/topology/overlay.ts),
//             recomputed from the live members;
//   all≤c   — every member votes up to a cap c (an odd count: an even voter set has the quorum of the next
//             odd one and tolerates no more failures, and 6|6 splits can leave no side with a quorum);
//             beyond the cap, the lowest hashes.
//
// The exact result that frames the study: over *all* splits of a given shape (all C(12,5) 5|7 splits, all
// 6|6, all bipartitions, all 3-way assignments) the chance that a side holds a quorum depends only on the
// number of voters, not on which agents vote — permuting the agents permutes the splits. With 5 voters the
// 7-side of a 5|7 split holds ≥ 3 of them in C(5,3)C(7,4) + C(5,4)C(7,3) + C(5,5)C(7,2) = 350 + 175 + 21
// = 546 of the 792 splits (68.9%), for every placement. Placement only matters for *correlated* splits:
// along creation order (where `first` is worst) or along the ring (where `spread` is best).
import { rankByHash, VOTER_SEED } from "../hash";
import { hamiltonianCycle } from "../topology/overlay";
import { Rng } from "../rng";

export type PlacementStrategy =
  | { kind: "first"; voters: number }
  | { kind: "hashed"; voters: number }
  | { kind: "spread"; voters: number }
  | { kind: "all"; cap: number; odd?: boolean };


export function strategyName(s: PlacementStrategy): string {
  if (s.kind === "all") return s.cap >= 1000 ? `all${s.odd === false ? "" : " (odd)"}` : `all≤${s.cap}${s.odd === false ? " (even allowed)" : ""}`;
  return `${s.kind} ${s.voters}`;
}

/**
 * The voter set a strategy wants for `members` (live members, in creation order: the order matters only
 * to `first`). The leader moves the Raft configuration towards it one change at a time (thesis §4.1).
 */
export function placeVoters(s: PlacementStrategy, members: readonly string[]): string[] {
  const uniq = Array.from(new Set(members));
  if (s.kind === "first") return uniq.slice(0, Math.max(0, s.voters)).sort();
  if (s.kind === "hashed") return byHash(uniq).slice(0, Math.max(0, s.voters)).sort();
  if (s.kind === "spread") {
    const cycle = hamiltonianCycle(uniq);
    const v = Math.min(Math.max(0, s.voters), cycle.length);
    const out: string[] = [];
    // Equally spaced positions, starting from the member first by the voter hash (so the choice is not
    // tied to whoever happens to open ring #1).
    const start = v > 0 ? cycle.indexOf(byHash(uniq)[0]) : 0;
    for (let i = 0; i < v; i++) out.push(cycle[(start + Math.floor((i * cycle.length) / v)) % cycle.length]);
    return out.sort();
  }
  let count = Math.min(s.cap, uniq.length);
  if (s.odd !== false && count % 2 === 0 && count > 0) count--;
  return byHash(uniq).slice(0, count).sort();
}

// Independent of the overlay's rings: a hashed voter set is not an arc of the cycle.
function byHash(ids: readonly string[]): string[] {
  return rankByHash(ids, VOTER_SEED);
}

export const quorumOf = (voters: number): number => Math.floor(voters / 2) + 1;

// ---- split families --------------------------------------------------------------------------------

/** Does `side` (a bitmask over n members) hold a quorum of the voters (a bitmask)? */
function holds(side: number, voters: number, q: number): boolean {
  return popcount(side & voters) >= q;
}

function popcount(x: number): number {
  let c = 0;
  while (x) {
    x &= x - 1;
    c++;
  }
  return c;
}

/** All k-subsets of n as bitmasks. */
function subsets(n: number, k: number): number[] {
  const out: number[] = [];
  for (let m = 0; m < 1 << n; m++) if (popcount(m) === k) out.push(m);
  return out;
}

/** Exact: among all C(n,k) splits k | n−k, how many leave the (n−k)-side with a quorum of `v` voters (any placement). */
export function largerSideQuorumCount(n: number, k: number, v: number): { splits: number; withQuorum: number } {
  // Hypergeometric: the larger side has n−k members; it holds j of the v voters in C(v,j)·C(n−v, n−k−j) splits.
  const q = quorumOf(v);
  let withQuorum = 0;
  for (let j = q; j <= Math.min(v, n - k); j++) withQuorum += binom(v, j) * binom(n - v, n - k - j);
  return { splits: binom(n, k), withQuorum };
}

export function binom(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

export interface SplitScores {
  /** All k | n−k splits with k = ⌈n/2⌉ − 1 (the 792 5|7 splits of 12): the larger side holds a voter quorum. */
  split57: number;
  /** All 6|6 splits: some side holds a voter quorum (no side has a member majority). */
  split66Some: number;
  /** All bipartitions with a member-majority side: that side holds a voter quorum. */
  randomMajority: number;
  /** All 3-way assignments: some side holds a voter quorum. */
  threeWaySome: number;
  /** Splits along creation order (one side a contiguous block of creation order): the member-majority side holds a quorum. */
  creationOrder: number;
  /** Splits along the overlay's Hamiltonian cycle (one side an arc): the member-majority side holds a quorum. */
  cycleArcs: number;
}

/** Score one voter set over the split families, for members in creation order (n ≤ 16). */
export function scoreVoters(members: readonly string[], voters: readonly string[]): SplitScores {
  const n = members.length;
  if (n > 16) throw new Error("scoreVoters enumerates splits: at most 16 members");
  const bit = new Map(members.map((id, i) => [id, 1 << i]));
  let vm = 0;
  for (const v of voters) vm |= bit.get(v) ?? 0;
  const q = quorumOf(voters.length);
  const all = (1 << n) - 1;
  const half = Math.floor(n / 2);
  // k | n−k with k = ⌈n/2⌉ − 1 (5|7 for 12): the larger side holds a quorum.
  const small = Math.ceil(n / 2) - 1;
  const s57 = subsets(n, small);
  const split57 = s57.filter((m) => holds(all & ~m, vm, q)).length / s57.length;
  let split66Some = 1;
  if (n % 2 === 0) {
    const s66 = subsets(n, half);
    split66Some = s66.filter((m) => holds(m, vm, q) || holds(all & ~m, vm, q)).length / s66.length;
  }
  let maj = 0;
  let majTotal = 0;
  for (let m = 1; m < all; m++) {
    const c = popcount(m);
    if (2 * c <= n) continue; // count each bipartition once, from its majority side (ties have none)
    majTotal++;
    if (holds(m, vm, q)) maj++;
  }
  // 3-way: every assignment of members to 3 groups (3^n; n = 12 → 531,441).
  let some3 = 0;
  let total3 = 0;
  const vIdx = members.map((id) => ((bit.get(id)! & vm) !== 0 ? 1 : 0));
  const digits = new Array<number>(n).fill(0);
  for (;;) {
    const c = [0, 0, 0];
    for (let i = 0; i < n; i++) c[digits[i]] += vIdx[i];
    total3++;
    if (c[0] >= q || c[1] >= q || c[2] >= q) some3++;
    let i = 0;
    while (i < n && digits[i] === 2) digits[i++] = 0;
    if (i === n) break;
    digits[i]++;
  }
  const blocks: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) if (j - i + 1 < n) blocks.push(((1 << (j - i + 1)) - 1) << i);
  const cycle = hamiltonianCycle(members);
  const arcs: number[] = [];
  for (let start = 0; start < n; start++) {
    let m = 0;
    for (let len = 1; len < n; len++) {
      m |= bit.get(cycle[(start + len - 1) % n])!;
      arcs.push(m);
    }
  }
  return {
    split57, split66Some, randomMajority: majTotal ? maj / majTotal : 0, threeWaySome: some3 / total3,
    creationOrder: majoritySideScore(blocks, all, n, vm, q), cycleArcs: majoritySideScore(arcs, all, n, vm, q),
  };
}

function majoritySideScore(sides: number[], all: number, n: number, vm: number, q: number): number {
  let ok = 0;
  let total = 0;
  for (const s of sides) {
    const c = popcount(s);
    if (2 * c === n) continue;
    const major = 2 * c > n ? s : all & ~s;
    total++;
    if (holds(major, vm, q)) ok++;
  }
  return total ? ok / total : 0;
}

// ---- cost and churn --------------------------------------------------------------------------------

export interface CostModel {
  /** Leader heartbeat interval: failure.heartbeatMs (the agent ticks Raft every heartbeatMs/2, heartbeats every 2 ticks). */
  heartbeatMs: number;
  /** An idle learner gets one empty append every this many heartbeats (src/core/raft/raft.ts, tickLeader: electionTicks = 10). */
  learnerBeatEvery?: number;
}

/**
 * Idle leader → member calls per hour: every other voter gets a heartbeat (an append; its answer rides back
 * inline on the same call in the Durable Object shell), every learner one every `learnerBeatEvery`.
 */
export function idleCallsPerHour(voters: number, members: number, c: CostModel): number {
  const beats = 3_600_000 / c.heartbeatMs;
  return Math.max(0, voters - 1) * beats + Math.max(0, members - voters) * (beats / (c.learnerBeatEvery ?? 10));
}

/**
 * Voter changes per membership event: a seeded walk of joins and leaves around `n` members, counting
 * how many voters each event replaces in the strategy's target set (each one is a config change — two
 * log entries with the promote-then-remove step, §4.1 — and a catch-up of the new voter).
 */
export function churnPerEvent(s: PlacementStrategy, o: { n?: number; events?: number; seed?: number } = {}): number {
  const rng = new Rng(o.seed ?? 12);
  let next = (o.n ?? 12) + 1;
  let members = Array.from({ length: o.n ?? 12 }, (_, i) => `agent-${i + 1}`);
  let cur = new Set(placeVoters(s, members));
  let changes = 0;
  const events = o.events ?? 400;
  for (let e = 0; e < events; e++) {
    const n = members.length;
    const join = n <= (o.n ?? 12) - 3 ? true : n >= (o.n ?? 12) + 3 ? false : rng.chance(0.5);
    if (join) members = [...members, `agent-${next++}`];
    else {
      const gone = members[rng.int(n)];
      members = members.filter((m) => m !== gone);
    }
    const want = placeVoters(s, members);
    for (const v of want) if (!cur.has(v)) changes++;
    cur = new Set(want);
  }
  return changes / events;
}

// ---- the study --------------------------------------------------------------------------------------

export interface PlacementRow extends SplitScores {
  strategy: string;
  voters: string[];
  count: number;
  churnPerEvent: number;
  heartbeatMs: number;
  callsPerHour: number;
}

export const STUDY_STRATEGIES: PlacementStrategy[] = [
  { kind: "first", voters: 5 },
  { kind: "hashed", voters: 5 },
  { kind: "spread", voters: 5 },
  { kind: "first", voters: 7 },
  { kind: "hashed", voters: 7 },
  { kind: "spread", voters: 7 },
  { kind: "all", cap: 7 },
  { kind: "all", cap: 9 },
  { kind: "all", cap: 1000, odd: false },
];

/**
 * The table: each strategy on agent-1..agent-n (creation order), scored over the split families, with its
 * churn and its idle cost; plus a baseline row — 5 voters placed uniformly at random (the mean over all
 * C(n,5) placements) — for the correlated families.
 */
export function placementStudy(o: { n?: number; heartbeatMs?: number; strategies?: PlacementStrategy[] } = {}): PlacementRow[] {
  const n = o.n ?? 12;
  const heartbeatMs = o.heartbeatMs ?? 3000;
  const members = Array.from({ length: n }, (_, i) => `agent-${i + 1}`);
  const rows: PlacementRow[] = [];
  for (const s of o.strategies ?? STUDY_STRATEGIES) {
    const voters = placeVoters(s, members);
    rows.push({
      strategy: strategyName(s), voters, count: voters.length, ...scoreVoters(members, voters), churnPerEvent: churnPerEvent(s, { n }),
      heartbeatMs, callsPerHour: idleCallsPerHour(voters.length, n, { heartbeatMs }),
    });
  }
  if (!o.strategies) rows.push(randomPlacementBaseline(members, 5, heartbeatMs));
  return rows;
}

/** The mean score of v voters over every placement (C(n,v) of them) — uniform families skipped (placement-free). */
function randomPlacementBaseline(members: string[], v: number, heartbeatMs: number): PlacementRow {
  const n = members.length;
  const sets = subsets(n, v);
  const bitIdx = (m: number) => members.filter((_, i) => (m >> i) & 1);
  let creation = 0;
  let arcs = 0;
  const all = (1 << n) - 1;
  const q = quorumOf(v);
  const blocks: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) if (j - i + 1 < n) blocks.push(((1 << (j - i + 1)) - 1) << i);
  const cycle = hamiltonianCycle(members);
  const pos = new Map(members.map((id, i) => [id, i]));
  const arcMasks: number[] = [];
  for (let start = 0; start < n; start++) {
    let m = 0;
    for (let len = 1; len < n; len++) {
      m |= 1 << pos.get(cycle[(start + len - 1) % n])!;
      arcMasks.push(m);
    }
  }
  for (const vm of sets) {
    creation += majoritySideScore(blocks, all, n, vm, q);
    arcs += majoritySideScore(arcMasks, all, n, vm, q);
  }
  const any = scoreVoters(members, bitIdx(sets[0]));
  return {
    strategy: `random ${v} (mean of all C(${n},${v}))`, voters: [], count: v, ...any,
    creationOrder: creation / sets.length, cycleArcs: arcs / sets.length, churnPerEvent: NaN, heartbeatMs,
    callsPerHour: idleCallsPerHour(v, n, { heartbeatMs }),
  };
}

/** The table as Markdown (for the bench output and the README). */
export function placementTable(rows: PlacementRow[]): string {
  const p = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    "| placement | voters | 5\\|7: 7-side writes | 6\\|6: a side writes | random 2-way: majority side writes | random 3-way: a side writes | creation-order splits | cycle-arc splits | voter changes / join-or-leave | idle leader calls/h |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.strategy} | ${r.voters.length ? r.voters.map((v) => v.replace("agent-", "")).join(",") : r.count} | ${p(r.split57)} | ${p(r.split66Some)} | ${p(r.randomMajority)} | ${p(r.threeWaySome)} | ${p(r.creationOrder)} | ${p(r.cycleArcs)} | ${Number.isNaN(r.churnPerEvent) ? "—" : r.churnPerEvent.toFixed(2)} | ${Math.round(r.callsPerHour)} |`,
    );
  }
  return lines.join("\n");
}
