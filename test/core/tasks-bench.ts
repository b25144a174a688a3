// Long task-core runs for `npm run bench` (bench/run.ts wires them; nothing here runs in `npm test`).
//   ringTable()            — placement table, N = 12, 100, 1,000 (see ./tasks-ring-bench.ts).
//   tasksFaultBench(opts)  — the replication harness at full size: by default 200 seeds × 10,000 tasks
//                            on 100 agents, 10 % of them crashing (2 for good, the rest restarting),
//                            2 % message loss and duplication. Returns totals, failures and wall time.
import { runOk, summarize, TasksHarness, type TasksHarnessOptions, type TasksRunResult } from "./tasks-harness";

export { formatRingTable, ringTable } from "./tasks-ring-bench";

export interface TasksFaultBenchOptions extends Omit<TasksHarnessOptions, "seed"> {
  seeds?: number;
  firstSeed?: number;
  /** Called after each seed (progress). */
  onSeed?: (r: TasksRunResult, wallMs: number) => void;
}

export interface TasksFaultBenchResult {
  seeds: number;
  tasksPerSeed: number;
  agents: number;
  acknowledged: number;
  done: number;
  failed: number;
  lost: number;
  doubleCompletions: number;
  unfinished: number;
  forked: number;
  violations: number;
  failingSeeds: string[];
  crashes: number;
  permanent: number;
  restarts: number;
  messages: number;
  dropped: number;
  steals: number;
  migrations: number;
  auctionsAwarded: number;
  takeovers: number;
  wallMs: number;
}

export function tasksFaultBench(opts: TasksFaultBenchOptions = {}): TasksFaultBenchResult {
  const { seeds = 200, firstSeed = 1, onSeed, ...rest } = opts;
  const o: Omit<TasksHarnessOptions, "seed"> = { agents: 100, tasks: 10_000, crashFraction: 0.1, permanentCrashes: 2, dropRate: 0.02, dupRate: 0.02, validate: false, ...rest };
  const t0 = performance.now();
  const out: TasksFaultBenchResult = {
    seeds, tasksPerSeed: o.tasks!, agents: o.agents!, acknowledged: 0, done: 0, failed: 0, lost: 0, doubleCompletions: 0, unfinished: 0, forked: 0,
    violations: 0, failingSeeds: [], crashes: 0, permanent: 0, restarts: 0, messages: 0, dropped: 0, steals: 0, migrations: 0, auctionsAwarded: 0,
    takeovers: 0, wallMs: 0,
  };
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const s0 = performance.now();
    const r = new TasksHarness({ ...o, seed }).run();
    out.acknowledged += r.acknowledged;
    out.done += r.done;
    out.failed += r.failed;
    out.lost += r.lost.length;
    out.doubleCompletions += r.doubleCompletions.length;
    out.unfinished += r.unfinished.length;
    out.forked += r.forked.length;
    out.violations += r.violations.length;
    out.crashes += r.crashes;
    out.permanent += r.permanent;
    out.restarts += r.restarts;
    out.messages += r.messages;
    out.dropped += r.dropped;
    out.steals += r.steals;
    out.migrations += r.migrations;
    out.auctionsAwarded += r.auctionsAwarded;
    out.takeovers += r.takeovers;
    if (!runOk(r)) out.failingSeeds.push(summarize(r));
    onSeed?.(r, performance.now() - s0);
  }
  out.wallMs = performance.now() - t0;
  return out;
}
