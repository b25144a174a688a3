// The big gossip-voting runs behind `npm run bench` (npm test runs small versions in vote.test.ts).
// Each row is {bench, metric, value, bound, note} for bench/run.ts's `record`; bounds are the design's
// expectations (DESIGN.md: push-pull gossip reaches N nodes in about log₃N + O(log log N) rounds) or a
// baseline (PBFT's normal-case message count).
import { convergenceRounds, faultRun, healRounds, messagesPerDecision } from "./vote-harness";

export interface VoteBenchRow {
  bench: string;
  metric: string;
  value: number;
  bound: number | null;
  note?: string;
}

export interface VoteBenchOptions {
  /** Seeds of the safety-and-convergence fault run (default 1,000). */
  seeds?: number;
  /** Proposals measured at N = 12 and N = 100 (default 100 and 20). */
  proposals12?: number;
  proposals100?: number;
  /** Partition-heal trials at N = 12 and N = 100 (default 50 and 10). */
  heal12?: number;
  heal100?: number;
}

export function voteBenchRows(o: VoteBenchOptions = {}): VoteBenchRow[] {
  const rows: VoteBenchRow[] = [];
  const seeds = o.seeds ?? 1000;
  let proposals = 0;
  let equivocations = 0;
  let forgeriesFiltered = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const h = faultRun(seed, { steps: 2000 }); // throws (with its seed) on a forged record or divergence
    proposals += h.proposals.length;
    forgeriesFiltered += h.stats.filtered;
    for (const p of h.proposals) if (h.outcome(p.proposalId)!.equivocators.length) equivocations++;
  }
  rows.push({
    bench: "vote-gossip", metric: `fault runs (7 agents, 1 equivocator, 1 forger; loss, dup, partitions, crashes) passing both checkers`,
    value: seeds, bound: null, note: `${proposals} proposals, ${equivocations} with an equivocator, ${forgeriesFiltered} forged messages dropped, 0 forged records stored, all converged`,
  });

  const modes = [
    { name: "eager push + anti-entropy to 1 member (default)", eager: true, syncFanout: 1, bounded: true },
    { name: "anti-entropy only, 3 members per round (the mesh's fanout)", eager: false, syncFanout: 3, bounded: true },
    { name: "anti-entropy only, 1 member per round", eager: false, syncFanout: 1, bounded: false },
  ];
  for (const [n, k, bound] of [[12, o.proposals12 ?? 100, 3], [100, o.proposals100 ?? 20, 4]] as const) {
    for (const mode of modes) {
      const r = convergenceRounds({ n, proposals: k, seed: 1000 + n, eager: mode.eager, syncFanout: mode.syncFanout });
      rows.push({
        bench: "vote-gossip", metric: `N=${n}, 5% loss, ${mode.name}: p99 rounds from decidedAt until every agent shows it`,
        value: r.p99Decision, bound: mode.bounded ? bound : null, note: `p50 ${r.p50Decision}, ${k} proposals`,
      });
      rows.push({
        bench: "vote-gossip", metric: `N=${n}, 5% loss, ${mode.name}: p99 rounds from createdAt until every agent shows the full outcome`,
        value: r.p99Full, bound: null, note: `p50 ${r.p50Full} (the proposal must reach the last voter and its vote come back: two disseminations)`,
      });
    }
  }
  for (const [n, trials, bound] of [[12, o.heal12 ?? 50, 3], [100, o.heal100 ?? 10, 4]] as const) {
    const r = healRounds({ n, trials, seed: 5000 + n });
    rows.push({ bench: "vote-gossip", metric: `N=${n}, halves partitioned with proposals on both sides: p99 rounds from heal to agreement`, value: r.p99, bound, note: `p50 ${r.p50}, ${trials} heals` });
  }
  for (const pushDelayMs of [0, 10]) {
    for (const n of [4, 7, 13]) {
      const m = messagesPerDecision(n, { proposals: 20, pushDelayMs });
      rows.push({
        bench: "vote-gossip", metric: `n=${n}, push window ${pushDelayMs} ms: messages until every agent shows the decision`, value: m.toDecision, bound: m.pbftNormalCase,
        note: `PBFT normal case ≈ ${m.pbftNormalCase}; ${m.toFullSet.toFixed(1)} until every record is everywhere; decision after ${m.decisionMs.toFixed(0)} ms (5–50 ms links); then ${m.antiEntropyPerRound.toFixed(1)} anti-entropy messages per round while active`,
      });
    }
  }
  return rows;
}
