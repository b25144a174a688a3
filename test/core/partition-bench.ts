// Seeded partition trials for the reachability tracker, and the voter-placement study, for `npm run bench`.
//
//   import { partitionBench, placementBench } from "../test/core/partition-bench";
//   for (const row of partitionBench({ seeds: 1000 })) record(row.bench, row.metric, row.value, row.bound, row.note);
//   for (const row of placementBench()) record(row.bench, row.metric, row.value, row.bound, row.note);
//
// `npm test` runs a few tens of the same trials (test/core/partition.test.ts) and a slice of the study
// (test/core/placement.test.ts).
import type { Mode } from "../../src/core/partition/reach";
import { placementStudy, type PlacementRow } from "../../src/core/partition/placement";
import { Rng } from "../../src/core/rng";
import { checkSettled, expectedModes, ReachNet } from "./partition-net";

export interface BenchRow {
  bench: string;
  metric: string;
  value: number;
  bound: number | null;
  note?: string;
}

export interface TrialResult {
  seed: number;
  describe: string;
  violations: string[];
  /** Rounds from the fault to read-only, for every agent that had to go read-only. */
  detectRounds: number[];
  /** The bound those were checked against (rounds). */
  boundRounds: number;
  oneWay: boolean;
  /** Rounds from the heal to read-write, for every agent that had gone read-only. */
  recoverRounds: number[];
  /** partitionRecoveryMs of every closed episode, in rounds. */
  episodeRecoveryRounds: number[];
  reachProbesPerAgentRound: { steady: number; partitioned: number };
  wakesPerAgentRound: { steady: number; partitioned: number };
  pingsPerAgentRound: number;
}

/**
 * One seeded trial: 12 agents (5 voters placed at random), a warm-up, then a random fault — a 2-way or
 * 3-way symmetric partition, or a one-way cut between two halves — held for a while, then healed. Checks
 * that every agent reaches its expected mode within the bound and stays there, and that all are
 * read-write again within hops + hold + 2 rounds of the heal.
 */
export function randomPartitionTrial(seed: number, o: { n?: number; periodMs?: number; inspect?: (net: ReachNet) => void } = {}): TrialResult {
  const rng = new Rng(seed * 7919 + 17);
  const n = o.n ?? 12;
  const ids = Array.from({ length: n }, (_, i) => `agent-${i + 1}`);
  const voters = rng.sample(ids, 5).sort();
  const loss = rng.chance(0.5) ? 0.02 : 0;
  const net = new ReachNet({ seed, ids, voters, loss, periodMs: o.periodMs ?? 1000 });
  const P = net.periodMs;
  const R = net.boundRounds();
  const slack = (net.hops + 1) * 20 + 1;
  const t0 = (10 + rng.int(10)) * P + rng.int(P);
  const kind = rng.int(3);
  const shuffled = rng.shuffle(ids.slice());
  let groups: string[][];
  let oneWay = false;
  let text: string;
  if (kind === 0) {
    const k = 1 + rng.int(n - 1);
    groups = [shuffled.slice(0, k), shuffled.slice(k)];
    net.at(t0, () => net.partition(groups));
    text = `2-way ${k}|${n - k}`;
  } else if (kind === 1) {
    const a = 1 + rng.int(n - 2);
    const b = a + 1 + rng.int(n - a - 1);
    groups = [shuffled.slice(0, a), shuffled.slice(a, b), shuffled.slice(b)];
    net.at(t0, () => net.partition(groups));
    text = `3-way ${a}|${b - a}|${n - b}`;
  } else {
    const k = 1 + rng.int(n - 1);
    groups = [shuffled.slice(0, k), shuffled.slice(k)];
    oneWay = true;
    // groups[1] does not hear groups[0]; groups[0] hears everyone. Each side may write iff it holds a
    // voter quorum by itself: voters across the cut either are not heard or do not hear us.
    net.at(t0, () => net.cutOneWay(groups[0], groups[1]));
    text = `one-way ${k}→${n - k} cut`;
  }
  const expected = expectedModes(ids, voters, groups);
  const bound = oneWay ? R + net.hops + 1 : R;
  const hold = 3 * R * P;
  const t1 = t0 + hold;
  net.runUntil(t0 - 1);
  const steady = { probes: net.stats.reachProbes, wakes: net.stats.wakes, at: net.now };
  net.runUntil(t1);
  const partitioned = { probes: net.stats.reachProbes - steady.probes, wakes: net.stats.wakes - steady.wakes };
  const violations = checkSettled(net, expected, t0, bound * P + slack, t1).map((v) => `fault: ${v}`);
  net.at(t1, () => net.heal());
  const recoverBound = (net.hops + 2 + 2) * P;
  const end = t1 + recoverBound + 10 * P;
  net.runUntil(end);
  o.inspect?.(net);
  const all = new Map<string, Mode>(ids.map((id) => [id, "read-write"]));
  violations.push(...checkSettled(net, all, t1, recoverBound, end).map((v) => `heal: ${v}`));
  const detectRounds: number[] = [];
  const recoverRounds: number[] = [];
  const episodeRecoveryRounds: number[] = [];
  for (const id of ids) {
    const log = net.nodes.get(id)!.modes;
    const down = log.find(([t, m]) => t >= t0 && m === "read-only");
    if (expected.get(id) === "read-only" && down) detectRounds.push((down[0] - t0) / P);
    const up = log.find(([t, m]) => t >= t1 && m === "read-write");
    if (up) recoverRounds.push((up[0] - t1) / P);
    for (const ep of net.nodes.get(id)!.tracker.episodes()) if (ep.recoveryMs !== null) episodeRecoveryRounds.push(ep.recoveryMs / P);
    if (net.nodes.get(id)!.tracker.openEpisode()) violations.push(`heal: ${id} still has an open episode`);
  }
  const steadyRounds = (steady.at / P) * n;
  const partRounds = (hold / P) * n;
  return {
    seed, describe: `${text}, voters ${voters.join(",")}, loss ${loss}`, violations, detectRounds, boundRounds: bound, oneWay,
    recoverRounds, episodeRecoveryRounds,
    reachProbesPerAgentRound: { steady: steady.probes / steadyRounds, partitioned: partitioned.probes / partRounds },
    wakesPerAgentRound: { steady: steady.wakes / steadyRounds, partitioned: partitioned.wakes / partRounds },
    pingsPerAgentRound: net.stats.pings / ((end / P) * n),
  };
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** ≥ 1,000 seeded partition trials of the pure tracker (12 agents). Rows for the bench table. */
export function partitionBench(o: { seeds?: number; n?: number } = {}): BenchRow[] {
  const seeds = o.seeds ?? 1000;
  const results: TrialResult[] = [];
  for (let seed = 1; seed <= seeds; seed++) results.push(randomPartitionTrial(seed, { n: o.n }));
  const failed = results.filter((r) => r.violations.length > 0);
  const sym = results.filter((r) => !r.oneWay);
  const ow = results.filter((r) => r.oneWay);
  const detectSym = sym.flatMap((r) => r.detectRounds);
  const detectOw = ow.flatMap((r) => r.detectRounds);
  const R = sym[0]?.boundRounds ?? 0;
  const Rw = ow[0]?.boundRounds ?? 0;
  const rec = results.flatMap((r) => r.recoverRounds);
  const epRec = results.flatMap((r) => r.episodeRecoveryRounds);
  const rows: BenchRow[] = [
    { bench: "partition", metric: `seeds with a mode-bound violation (of ${seeds})`, value: failed.length, bound: 0, note: failed.slice(0, 3).map((r) => `seed ${r.seed}: ${r.describe}: ${r.violations[0]}`).join("; ") || undefined },
    { bench: "partition", metric: "symmetric: max rounds fault → read-only (no voter quorum)", value: Math.max(0, ...detectSym), bound: R, note: `p50 ${pct(detectSym, 50)}, p99 ${pct(detectSym, 99)}, ${detectSym.length} agents` },
    { bench: "partition", metric: "one-way: max rounds fault → read-only", value: Math.max(0, ...detectOw), bound: Rw, note: `p50 ${pct(detectOw, 50)}, p99 ${pct(detectOw, 99)}, ${detectOw.length} agents` },
    { bench: "partition", metric: "p99 rounds heal → read-write", value: pct(rec, 99), bound: null, note: `p50 ${pct(rec, 50)}, max ${Math.max(0, ...rec)}` },
    { bench: "partition", metric: "p99 partitionRecoveryMs (rounds, first member regained → episode end)", value: pct(epRec, 99), bound: null, note: `p50 ${pct(epRec, 50)}` },
    { bench: "partition", metric: "reach probes per agent-round, steady", value: mean(results.map((r) => r.reachProbesPerAgentRound.steady)), bound: null, note: `SWIM pings per agent-round ≈ ${mean(results.map((r) => r.pingsPerAgentRound)).toFixed(2)}` },
    { bench: "partition", metric: "reach probes per agent-round, partitioned", value: mean(results.map((r) => r.reachProbesPerAgentRound.partitioned)), bound: null },
    { bench: "partition", metric: "tracker wake-ups per agent-round (steady | partitioned)", value: mean(results.map((r) => r.wakesPerAgentRound.steady)), bound: null, note: `partitioned ${mean(results.map((r) => r.wakesPerAgentRound.partitioned)).toFixed(2)} (the net's own rounds count 1)` },
  ];
  for (const n of [12, 100]) {
    const c = longPartitionCost(n);
    rows.push({
      bench: "partition", metric: `N=${n}, 1/3|2/3 partition held 60 rounds: reach probes per agent-round (rounds 20–60)`, value: c.reachLate, bound: null,
      note: `first 20 rounds ${c.reachEarly.toFixed(2)}; steady before ${c.reachSteady.toFixed(3)}; SWIM pings ${c.pings.toFixed(2)}; wake-ups ${c.wakes.toFixed(2)} (rounds 20–60)`,
    });
  }
  return rows;
}

/** Calls spent on reach probes before, early in and late in a long partition (one seed). */
export function longPartitionCost(n: number, seed = 3): { reachSteady: number; reachEarly: number; reachLate: number; pings: number; wakes: number } {
  const net = new ReachNet({ seed, n });
  const P = net.periodMs;
  net.runUntil(20 * P);
  const a = { ...net.stats };
  net.runUntil(60 * P);
  const b = { ...net.stats };
  net.partition([net.ids.filter((_, i) => i % 3 === 0)]);
  net.runUntil(80 * P);
  const c = { ...net.stats };
  net.runUntil(120 * P);
  const d = { ...net.stats };
  return {
    reachSteady: (b.reachProbes - a.reachProbes) / (40 * n),
    reachEarly: (c.reachProbes - b.reachProbes) / (20 * n),
    reachLate: (d.reachProbes - c.reachProbes) / (40 * n),
    pings: (d.pings - c.pings) / (40 * n),
    wakes: (d.wakes - c.wakes) / (40 * n),
  };
}

/** The voter-placement study as bench rows (the full table is `placementStudy()`). */
export function placementBench(o: { heartbeatMs?: number } = {}): BenchRow[] {
  const rows: PlacementRow[] = placementStudy({ heartbeatMs: o.heartbeatMs ?? 3000 });
  const out: BenchRow[] = [];
  for (const r of rows) {
    const note = `5|7 ${pct1(r.split57)}, 6|6 some side ${pct1(r.split66Some)}, random ${pct1(r.randomMajority)}, creation-order ${pct1(r.creationOrder)}, cycle arcs ${pct1(r.cycleArcs)}, churn ${r.churnPerEvent.toFixed(2)} voter changes/event`;
    out.push({ bench: "voter-placement", metric: `${r.strategy}: leader→voter calls/hour at ${r.heartbeatMs} ms`, value: r.callsPerHour, bound: null, note });
  }
  return out;
}

const pct1 = (x: number) => `${(100 * x).toFixed(1)}%`;
