// `npm run bench`: the long, full-size measurements behind the README's benchmark table.
// Every ratio is against a bound or a baseline computed in the same run. `--json` prints one JSON line
// per metric: {"bench","metric","value","bound","ratio"}. `--only <substring>` runs matching benches.
import { ringTable, tasksFaultBench } from "../test/core/tasks-bench";
import { pbftBench } from "../test/core/pbft-bench";
import { voteBenchRows } from "../test/core/vote-bench";
import { placementBench } from "../test/core/partition-bench";
import { faultStep, RaftHarness } from "../test/core/raft-harness";
import { defaultLearnerBatchMs } from "../src/core/raft/module";
import { writeCost } from "../test/sim/learners";
import { partitionRun } from "../test/sim/partitions";
import { billedOps, crashDetection, disseminationRounds, falsePositives } from "../test/sim/scenarios";
import { percentile, Simulator } from "../test/sim/sim";

interface Row {
  bench: string;
  metric: string;
  value: number;
  bound: number | null;
  ratio: number | null;
  note?: string;
}

const args = process.argv.slice(2);
const json = args.includes("--json");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const rows: Row[] = [];

function record(bench: string, metric: string, value: number, bound: number | null, note?: string): void {
  const ratio = bound ? Math.round((value / bound) * 1000) / 1000 : null;
  const row: Row = { bench, metric, value: Math.round(value * 1000) / 1000, bound, ratio, note };
  rows.push(row);
  if (json) console.log(JSON.stringify({ bench, metric, value: row.value, bound, ratio }));
  else console.error(`  ${bench} · ${metric}: ${row.value}${bound !== null ? ` (bound ${bound}, ratio ${ratio})` : ""}${note ? ` — ${note}` : ""}`);
}

async function bench(name: string, fn: () => void | Promise<void>): Promise<void> {
  if (only && !name.includes(only)) return;
  const t0 = performance.now();
  if (!json) console.error(`▶ ${name}`);
  await fn();
  if (!json) console.error(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

await bench("sim-scale", () => {
  const t0 = performance.now();
  const sim = new Simulator(7, { loss: 0.01, delayMaxMs: 20 });
  const cfg = { gossip: { intervalMs: 1000 }, failure: { heartbeatMs: 1000, timeoutMs: 10_000 }, consensus: { voters: 0 } };
  sim.createSwarm(1000, cfg);
  sim.at(10_000, () => sim.join("joiner-1", ["agent-10"], cfg));
  sim.at(15_000, () => sim.crash("agent-500"));
  sim.at(35_000, () => sim.restart("agent-500"));
  sim.runUntil(100_000);
  record("sim-scale", "1000 agents × 100 rounds, wall s", (performance.now() - t0) / 1000, 30);
  record("sim-scale", "events processed", sim.events, null);
});

await bench("gossip-dissemination", () => {
  for (const [n, bound, trials] of [
    [12, 3, 200],
    [100, 4, 100],
    [1000, 6, 20],
  ] as const) {
    const r = disseminationRounds({ n, trials, seed: 1000 + n });
    record("gossip-dissemination", `N=${n} p99 rounds (fanout 3, periodic only)`, r.p99, bound, `p50 ${r.p50}, ${trials} joins`);
  }
  const e = disseminationRounds({ n: 1000, trials: 10, seed: 77, eager: true });
  record("gossip-dissemination", "N=1000 p99 rounds with eager flood (default)", e.p99, 6);
});

await bench("failure-detection", () => {
  const r = crashDetection({ n: 100, crashes: 60, seed: 2024, loss: 0.05, jitterMs: 100 });
  record("failure-detection", "N=100, 5% loss: p99 crash → dead everywhere, ms", r.p99, r.bound, `p50 ${r.p50} ms, ${r.ms.length} crashes`);
  record("failure-detection", "false deaths during those runs", r.falseDeaths, null);
  const f = falsePositives({ n: 100, rounds: 10_000, seed: 99, loss: 0.05 });
  record("failure-detection", "false deaths over 10,000 rounds at 5% loss", f.deaths, null, `${f.suspicions} suspicions, ${f.refutations} refutations`);
  const s = falsePositives({ n: 100, rounds: 1000, seed: 98, loss: 0.05, stallFraction: 0.1 });
  record("failure-detection", "false deaths, 10% of agents stalling 2 intervals at a time (1,000 rounds)", s.deaths, null, `${s.stalls} stalls, ${s.refutations} refutations`);
});

await bench("cost", () => {
  const m = billedOps({ n: 100, seed: 5 });
  record("cost", "billed ops per agent-hour, stable N=100, membership", m.perAgentHour, m.naive, `alarms ${m.alarms.toFixed(0)}, calls ${m.peerCalls.toFixed(0)}, rows ${m.rowsWritten.toFixed(0)}`);
  const r = billedOps({ n: 100, seed: 5, config: { gossip: { intervalMs: 3000 }, failure: { heartbeatMs: 3000, timeoutMs: 10_000 } } });
  record("cost", "billed ops per agent-hour, stable N=100, with the Raft log (5 voters)", r.perAgentHour, r.naive, `alarms ${r.alarms.toFixed(0)}, calls ${r.peerCalls.toFixed(0)}, rows ${r.rowsWritten.toFixed(0)}`);
});

await bench("raft-election", () => {
  // 5 voters, election timeout randomized in [10, 20) ticks: time from a leader crash to a new leader.
  const ticks: number[] = [];
  for (let seed = 1; seed <= 300; seed++) {
    const h = new RaftHarness({ seed, maxDelay: 1 });
    h.run(60);
    const old = h.leader();
    if (!old) continue;
    h.crash(old);
    let t = 0;
    while (t < 500) {
      h.step();
      t++;
      const l = h.leader();
      if (l && l !== old) break;
    }
    ticks.push(t);
  }
  const maxElection = 2 * 10;
  record("raft-election", "p99 ticks from leader crash to new leader (5 voters)", percentile(ticks, 99), 2.5 * maxElection, `p50 ${percentile(ticks, 50)} ticks, ${ticks.length} crashes`);
});

await bench("raft-safety", () => {
  let steps = 0;
  const seeds = 1000;
  for (let seed = 1; seed <= seeds; seed++) {
    const h = new RaftHarness({ seed, dropRate: 0.1, dupRate: 0.05, maxDelay: 4, compactEvery: seed % 3 === 0 ? 8 : 0 });
    let n = 0;
    h.run(300, (x) => faultStep(x, (y) => y.propose(`p${n++}`)));
    steps += h.time;
  }
  record("raft-safety", "seeds with safety checked every step, 0 violations", seeds, null, `${steps} steps`);
});

await bench("partitions", () => {
  // The integrated agent (SWIM + log + partition module) under random two-way, three-way and one-way
  // partitions with a crash, while a client writes: see test/sim/partitions.ts.
  for (const [n, count] of [[12, Number(process.env.PARTITION_SEEDS_12 ?? 1000)], [100, Number(process.env.PARTITION_SEEDS_100 ?? 40)]] as const) {
    const runs = Array.from({ length: count }, (_, i) => partitionRun(5000 + i, n));
    const violations = runs.reduce((s, r) => s + r.violations.length, 0);
    const ro = runs.filter((r) => r.readOnlyRounds !== null);
    const worstRo = Math.max(...ro.map((r) => r.readOnlyRounds! / r.boundRounds));
    const heal = runs.map((r) => r.healRounds ?? Infinity);
    const healBase = runs.map((r) => r.healBaseRounds ?? Infinity);
    const bound = Math.log2(n) + 5;
    record("partitions", `N=${n}, ${count} seeds: safety violations (minority acks, writes accepted after the bound)`, violations, null, `${runs.reduce((s, r) => s + r.acked, 0)} writes acknowledged, ${runs.reduce((s, r) => s + r.refused, 0)} refused read-only`);
    record("partitions", `N=${n}: slowest side to go read-only, share of its bound (hops + 2 rounds, +1)`, worstRo, 1, `${ro.length} two/three-way splits`);
    record("partitions", `N=${n}: heal → all reconverged and read-write, p99 rounds (in force at the heal)`, percentile(heal, 99), bound, `p50 ${percentile(heal, 50).toFixed(2)}; in configured rounds p50 ${percentile(healBase, 50).toFixed(1)}, p99 ${percentile(healBase, 99).toFixed(1)}`);
  }
});

await bench("voter-placement", () => {
  for (const r of placementBench()) record(r.bench, r.metric, r.value, r.bound, r.note);
});

/** Depth of the spreading tree over n members (root fanout 2, then 4; src/core/raft/module.ts). */
function treeDepth(n: number): number {
  let depth = 0;
  let covered = 1;
  let level = 1;
  while (covered < n) {
    level = depth === 0 ? 2 : level * 4;
    covered += level;
    depth++;
  }
  return depth;
}

await bench("write-cost", () => {
  // Issue #14: billed operations per replicated write by role, the leader's outgoing calls per write,
  // and learner staleness (commit at the leader → applied on a learner), at the defaults: see test/sim/learners.ts.
  const sizes = (process.env.WRITE_COST_SIZES ?? "100,300,1000").split(",").map(Number);
  for (const n of sizes) {
    const r = writeCost({ n, seed: 14_000 + n, writes: n >= 1000 ? 20 : 40 });
    // The same writes with every apply pushed at once (no batch interval): what pacing saves, and costs in staleness.
    const u = writeCost({ n, seed: 14_000 + n, writes: n >= 1000 ? 20 : 40, config: { consensus: { learnerBatchMs: 0 } } });
    const f = (c: { alarms: number; peerCalls: number; rowsWritten: number; total: number }) => `calls ${c.peerCalls.toFixed(2)}, rows ${c.rowsWritten.toFixed(2)}, alarms ${c.alarms.toFixed(2)}`;
    record("write-cost", `N=${n}: leader's billed ops per write`, r.leader.total, null, f(r.leader));
    record("write-cost", `N=${n}: leader's outgoing calls per write`, r.leader.peerCalls, 5 + 2, JSON.stringify(r.leaderCallsByType));
    record("write-cost", `N=${n}: other voters' billed ops per write (together)`, r.voters.total, null, f(r.voters));
    record("write-cost", `N=${n}: learners' billed ops per write (together)`, r.learners.total, u.learners.total, `bound: the same writes unpaced (learnerBatchMs 0); ${f(r.learners)}; per learner ${r.perLearner.total.toFixed(2)} (unpaced ${u.perLearner.total.toFixed(2)}: ${f(u.perLearner)})`);
    // Bound from the design: no loss, the batch interval, then each hop of the spreading tree is one
    // call (≤ 10 ms here), depth 1 + ⌈log₄((N − 3)/2 · 3/4 + 1)⌉-ish: positions 1–2, then 8, 32, 128, 512 per level.
    const depth = treeDepth(n);
    const batch = defaultLearnerBatchMs(n);
    record("write-cost", `N=${n}: learner staleness p99 ms (commit → applied on a learner)`, r.staleness.p99, batch + depth * 10, `bound: batch interval ${batch} ms + tree depth ${depth} × 10 ms max delay; p50 ${r.staleness.p50}, max ${r.staleness.max}, ${r.staleness.samples} samples, ${r.staleness.missing} missing; write p50 ${r.latency.p50} ms`);
    record("write-cost", `N=${n}, unpaced: learner staleness p99 ms`, u.staleness.p99, depth * 10, `bound: tree depth ${depth} × 10 ms; leader calls per write ${u.leader.peerCalls.toFixed(2)}, all billed ops per write ${(u.leader.total + u.voters.total + u.learners.total).toFixed(0)} (paced ${(r.leader.total + r.voters.total + r.learners.total).toFixed(0)})`);
  }
  // With 1% silent message loss (the sender sees no failure, so nothing is resent) a lost push is repaired by a pull once a neighbour's piggybacked commit index
  // stayed ahead for a SWIM round (failure.heartbeatMs, 3 s at the defaults).
  const lossy = writeCost({ n: 300, seed: 14_301, writes: 40, loss: 0.01 });
  record("write-cost", "N=300, 1% loss: learner staleness p99 ms", lossy.staleness.p99, null, `p50 ${lossy.staleness.p50}, max ${lossy.staleness.max}, ${lossy.staleness.missing} (entry, learner) pairs never applied in the window; leader calls per write ${lossy.leader.peerCalls.toFixed(2)}`);
});

await bench("pbft", () => {
  // The PBFT core under its seeded fault harness (lying replicas, loss, partitions, crashes, view
  // changes): safety checked every step; then message counts and delays next to the paper's.
  const cpuMs = () => process.cpuUsage().user / 1000;
  const { rows: pr } = pbftBench({ seeds: Number(process.env.PBFT_SEEDS ?? 1000), now: cpuMs });
  for (const r of pr) record("pbft", r.metric, r.value, r.bound, r.note);
});

await bench("vote-gossip", () => {
  for (const r of voteBenchRows({ seeds: Number(process.env.VOTE_SEEDS ?? 1000) })) record(r.bench, r.metric, r.value, r.bound, r.note);
});

await bench("tasks-ring", () => {
  // Placement: weighted rendezvous (chosen) next to a 100-vnode ring and bounded-load consistent hashing,
  // same keys: balance (max/mean ≤ 1.25) and movement on a join or leave (≤ 1.2 × the optimum 1/(N+1)).
  for (const r of ringTable()) {
    record("tasks-ring", `N=${r.n} ${r.scheme}: primary max/mean load`, r.primaryMaxMean, 1.25, `random-throw floor ${r.idealMaxMean}`);
    record("tasks-ring", `N=${r.n} ${r.scheme}: keys moved on one join, share of 1/(N+1)`, r.joinMovedRatio, 1.2, `leave ${r.leaveMovedRatio}; replica sets ${r.replicaSetMovedRatio}`);
  }
});

await bench("tasks-faults", () => {
  // 10,000 tasks on 100 agents, 10 % crashing (2 for good), 2 % loss and duplication, per seed; the
  // history checker counts lost tasks and completions recorded twice (TASKS_SEEDS, default 200).
  const seeds = Number(process.env.TASKS_SEEDS ?? 200);
  let k = 0;
  let lost = 0;
  let twice = 0;
  const r = tasksFaultBench({
    seeds,
    onSeed: (x, ms) => {
      k++;
      lost += x.lost.length;
      twice += x.doubleCompletions.length;
      if (!json) console.error(`    seed ${x.seed}: ${k}/${seeds} in ${(ms / 1000).toFixed(0)} s — so far ${lost} lost, ${twice} recorded twice`);
    },
  });
  record("tasks-faults", `${seeds} seeds × ${r.tasksPerSeed} tasks on ${r.agents} agents: tasks lost`, r.lost, null, `${r.done} done, ${r.failed} failed with a reason, ${r.unfinished} unfinished`);
  record("tasks-faults", "completions recorded twice", r.doubleCompletions, null, `${r.violations} checker violations, ${r.crashes} crashes (${r.permanent} for good), ${r.steals} steals, ${r.migrations} migrations`);
});

if (!json) {
  console.log("\n| bench | metric | value | bound | ratio |\n|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.bench} | ${r.metric} | ${r.value} | ${r.bound ?? "—"} | ${r.ratio ?? "—"} |`);
}
