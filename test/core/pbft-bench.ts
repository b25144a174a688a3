// Measurements of the PBFT core for `npm run bench` (and the small versions of them in npm test).
//
//   pbftMessagesPerDecision({ n })   normal-case replica-to-replica messages per decision vs 2n(n−1)
//   pbftNormalLatency({ n })         decision latency in ticks = message delays (one tick per hop)
//   runPbftSeeds({ n, seeds })       the seeded byzantine fault runs (re-exported from the harness)
//   pbftBench({ seeds })             all of the above for the README table, with wall-clock times
import { PbftHarness, runPbftSeeds, type SeedsSummary } from "./pbft-harness";

export { runPbftSeeds };

export interface MessagesPerDecision {
  n: number;
  decisions: number;
  /** PRE-PREPARE + PREPARE + COMMIT between replicas, per decision (the paper's phase messages). */
  phasePerDecision: number;
  /** The paper's count for one request with batch size 1: (n−1) + (n−1)² + n(n−1) = 2n(n−1). */
  paper: number;
  /** Every replica-to-replica message (checkpoints, STATUS and forwarded requests included), per decision. */
  allPerDecision: number;
  byType: Record<string, number>;
}

/**
 * Normal case, no faults, batch size 1, one closed-loop client, one tick per message. Convention:
 * `phasePerDecision` counts PRE-PREPARE, PREPARE and COMMIT messages between replicas; client requests
 * and replies are excluded (client traffic), and so are CHECKPOINTs (n(n−1) per k decisions) and
 * STATUS (none while making progress, plus an idle beacon) — those are in `allPerDecision`.
 */
export function pbftMessagesPerDecision(o: { n: number; decisions?: number; seed?: number; checkpointInterval?: number }): MessagesPerDecision {
  const decisions = o.decisions ?? 100;
  const h = new PbftHarness({
    seed: o.seed ?? 1, n: o.n, clients: 1, thinkTicks: 0, core: { maxBatch: 1, checkpointInterval: o.checkpointInterval ?? 16, logWindow: 4 * (o.checkpointInterval ?? 16) },
  });
  h.runUntil((x) => x.agreed.size >= decisions, decisions * 20);
  h.issuing = false;
  h.runUntil((x) => x.outstanding() === 0, 200);
  const t = h.counts.replicaToReplicaByType;
  const phase = (t.get("pre-prepare") ?? 0) + (t.get("prepare") ?? 0) + (t.get("commit") ?? 0);
  const d = h.agreed.size;
  return {
    n: o.n, decisions: d, phasePerDecision: phase / d, paper: 2 * o.n * (o.n - 1), allPerDecision: h.counts.replicaToReplica / d,
    byType: Object.fromEntries(t),
  };
}

export interface Latency {
  n: number;
  /** From the primary receiving a request to the first correct replica executing it (message delays). */
  primaryToExecuteP50: number;
  primaryToExecuteMax: number;
  /** From the client sending to f+1 matching replies. */
  clientP50: number;
  clientMax: number;
}

const pct = (xs: number[], p: number): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Normal-case latency with one tick per message delay (no faults, batch size 1, one client). */
export function pbftNormalLatency(o: { n: number; requests?: number }): Latency {
  const h = new PbftHarness({ seed: 2, n: o.n, clients: 1, thinkTicks: 1, core: { maxBatch: 1 } });
  h.runUntil((x) => x.counts.completed >= (o.requests ?? 50), 5000);
  return {
    n: o.n, primaryToExecuteP50: pct(h.commitDelays, 50), primaryToExecuteMax: Math.max(...h.commitDelays), clientP50: pct(h.latencies, 50),
    clientMax: Math.max(...h.latencies),
  };
}

export interface PbftBenchRow {
  metric: string;
  value: number;
  bound: number | null;
  note: string;
}

/**
 * Everything for the benchmark table; `seeds` per n for the fault runs (1,000 for the README). `now` is
 * a clock in milliseconds for the timing notes — pass CPU time (process.cpuUsage) for a figure that
 * does not depend on what else the machine runs.
 */
export function pbftBench(o: { seeds?: number; ns?: number[]; now?: () => number } = {}): { rows: PbftBenchRow[]; seeds: SeedsSummary[] } {
  const now = o.now ?? (() => 0);
  const rows: PbftBenchRow[] = [];
  for (const n of [4, 7, 13]) {
    const m = pbftMessagesPerDecision({ n });
    rows.push({ metric: `n=${n} phase messages per decision (batch 1)`, value: m.phasePerDecision, bound: m.paper, note: `all replica-to-replica ${m.allPerDecision.toFixed(1)}` });
  }
  for (const n of [4, 7, 10]) {
    const l = pbftNormalLatency({ n });
    rows.push({ metric: `n=${n} primary receives → executed, message delays (p50)`, value: l.primaryToExecuteP50, bound: 3, note: `max ${l.primaryToExecuteMax}; client round trip p50 ${l.clientP50}` });
  }
  const seeds: SeedsSummary[] = [];
  for (const n of o.ns ?? [4, 7, 10]) {
    const t0 = now();
    const s = runPbftSeeds({ n, seeds: o.seeds ?? 1000 });
    const secs = (now() - t0) / 1000;
    seeds.push(s);
    rows.push({ metric: `n=${n} seeds with safety violations`, value: s.safetyViolations, bound: 0, note: `${s.seeds} seeds, ${secs.toFixed(0)} s` });
    rows.push({ metric: `n=${n} seeds not live after faults stop`, value: s.livenessFailures, bound: 0, note: `${s.seedsWithViewChange} seeds with a view change, ${s.viewChanges} view changes` });
  }
  return { rows, seeds };
}
