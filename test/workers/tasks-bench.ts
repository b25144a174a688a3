// Task benches that need workerd (for `npm run bench`; nothing here runs in `npm test`). Call from a
// vitest file run with vitest.bench.config.ts, e.g. bench/workers/tasks.bench.test.ts:
//
//   import { test } from "vitest";
//   import { tasksThroughputBench, rebalanceVarianceBench } from "../../test/workers/tasks-bench";
//   test("tasks", async () => {
//     for (const r of await tasksThroughputBench()) console.log(JSON.stringify(r));
//     for (const r of await rebalanceVarianceBench()) console.log(JSON.stringify(r));
//   }, 300_000);
//
// Each returns rows shaped like the other workerd benches' ({bench, metric, value, bound, ratio}).
import { api, sleep, waitFor } from "./helpers";

// Production-like cadence (as the replicated-writes bench), so background gossip does not dominate.
const CADENCE = { gossip: { intervalMs: 500 }, failure: { heartbeatMs: 500, timeoutMs: 5000 } };

export interface BenchRow {
  bench: string;
  metric: string;
  value: number;
  bound: number | null;
  ratio: number | null;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function converged(swarm: string, ids: string[]): Promise<void> {
  await waitFor(async () => {
    const vs = await Promise.all(ids.map(async (a) => (await api("GET", `/v1/swarms/${swarm}/agents/${a}`)).body));
    return vs.every((v) => v.membership?.filter((m: any) => m.status === "alive").length === ids.length);
  }, 60_000, 100);
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
}

/**
 * Submit→complete tasks per second through the router (each task: submit, a claim at the agent it is
 * assigned to, complete — every step durable on the task's 3 holders), next to memory writes per
 * second (Raft, 5 voters) on the same 12-agent swarm in the same run, at the same concurrency.
 */
export async function tasksThroughputBench(opts: { tasks?: number; concurrency?: number[]; swarmId?: string } = {}): Promise<BenchRow[]> {
  const n = opts.tasks ?? 200;
  const swarm = opts.swarmId ?? "bench-tasks";
  const created = await api("POST", "/v1/swarms", { swarmId: swarm, agents: 12, ...CADENCE });
  if (created.status !== 201) throw new Error(`swarm: ${created.status} ${JSON.stringify(created.body)}`);
  await converged(swarm, created.body.agents);
  const rows: BenchRow[] = [];
  for (const c of opts.concurrency ?? [1, 16]) {
    // Warm-up (a leader for the log; every agent's task module started).
    await api("PUT", `/v1/swarms/${swarm}/memory/bench/warm-${c}`, { value: 1 });
    const t0 = performance.now();
    await pool(n, c, async (i) => {
      const taskId = `b${c}-${i}`;
      const s = await api("POST", `/v1/swarms/${swarm}/tasks`, { taskId, payload: { i } });
      if (s.status !== 201) throw new Error(`submit ${taskId}: ${s.status} ${JSON.stringify(s.body)}`);
      // The assigned agent's worker claims (its queue may hold another task first: complete whatever it gets).
      for (let k = 0; k < 50; k++) {
        const cl = await api("POST", `/v1/swarms/${swarm}/agents/${s.body.assignedTo}/tasks/claim`, { leaseMs: 60_000 });
        if (cl.status === 200) {
          const done = await api("POST", `/v1/swarms/${swarm}/tasks/${cl.body.task.taskId}/complete`, { agentId: s.body.assignedTo, result: { i } });
          if (done.status !== 200) throw new Error(`complete: ${done.status} ${JSON.stringify(done.body)}`);
          return;
        }
        await sleep(20);
      }
    });
    // Claims above may have completed other tasks than their own: every task must end done.
    await waitFor(async () => {
      const l = await api("GET", `/v1/swarms/${swarm}/tasks?status=queued&limit=1000`);
      const mine = (l.body.tasks as any[]).filter((t) => t.taskId.startsWith(`b${c}-`));
      for (const t of mine) {
        const cl = await api("POST", `/v1/swarms/${swarm}/agents/${t.assignedTo}/tasks/claim`, { leaseMs: 60_000 });
        if (cl.status === 200) await api("POST", `/v1/swarms/${swarm}/tasks/${cl.body.task.taskId}/complete`, { agentId: t.assignedTo, result: {} });
      }
      return mine.length === 0;
    }, 120_000, 50);
    const tasksPerS = n / ((performance.now() - t0) / 1000);
    const w0 = performance.now();
    await pool(n, c, async (i) => {
      const r = await api("PUT", `/v1/swarms/${swarm}/memory/bench/w${c}-${i}`, { value: { i, pad: "x".repeat(64) } });
      if (r.status !== 200) throw new Error(`write: ${r.status} ${JSON.stringify(r.body)}`);
    });
    const writesPerS = n / ((performance.now() - w0) / 1000);
    rows.push({ bench: "tasks", metric: `memory writes/s, 12 agents (concurrency ${c})`, value: round(writesPerS), bound: null, ratio: null });
    rows.push({
      bench: "tasks", metric: `tasks submit→complete/s, 12 agents (concurrency ${c}); bound = memory writes/s`, value: round(tasksPerS),
      bound: round(writesPerS), ratio: round(tasksPerS / writesPerS, 3),
    });
  }
  return rows;
}

function variance(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
}

/**
 * Load variance before and after rebalancing. 8 agents (1 slot each) get `tasks` capability-routed
 * tasks and no worker runs, so they are hot; then 4 cold agents (8 slots each) join. Capability
 * routing fixed each task's executor, so only the rebalancer (hot > 0.8 → cold < 0.3, queued tasks
 * only) moves work. Reports the variance of (queued + running) / slots over all 12 agents right after
 * the join and once the migration count has been stable for 3 polls, and the migrations counted.
 */
export async function rebalanceVarianceBench(opts: { tasks?: number; swarmId?: string } = {}): Promise<BenchRow[]> {
  const n = opts.tasks ?? 120;
  const swarm = opts.swarmId ?? "bench-rebalance";
  const fast = { gossip: { intervalMs: 200 }, failure: { heartbeatMs: 200, timeoutMs: 3000 } };
  if ((await api("POST", "/v1/swarms", { swarmId: swarm, agents: 0, ...fast })).status !== 201) throw new Error("swarm");
  const ids: string[] = [];
  for (let i = 1; i <= 8; i++) {
    const r = await api("POST", `/v1/swarms/${swarm}/agents`, { agentId: `hot-${i}`, capabilities: ["work"], capacity: { slots: 1 } });
    if (r.status !== 201) throw new Error(`spawn: ${JSON.stringify(r.body)}`);
    ids.push(`hot-${i}`);
  }
  await converged(swarm, ids);
  await pool(n, 8, async (i) => {
    const r = await api("POST", `/v1/swarms/${swarm}/tasks`, { taskId: `r-${i}`, payload: { i }, strategy: "capability", requiredCapabilities: ["work"] });
    if (r.status !== 201) throw new Error(`submit: ${r.status} ${JSON.stringify(r.body)}`);
  });
  const loads = async () => {
    const l = await api("GET", `/v1/swarms/${swarm}/tasks?limit=1`);
    const agents = l.body.agents as Record<string, { load: number; migrations: number }>;
    return { loads: Object.values(agents).map((a) => a.load), migrations: Object.values(agents).reduce((a, x) => a + x.migrations, 0) };
  };
  for (let i = 1; i <= 4; i++) {
    const r = await api("POST", `/v1/swarms/${swarm}/agents`, { agentId: `cold-${i}`, capabilities: ["work"], capacity: { slots: 8 } });
    if (r.status !== 201) throw new Error(`spawn: ${JSON.stringify(r.body)}`);
    ids.push(`cold-${i}`);
  }
  await converged(swarm, ids);
  const before = await loads();
  let last = -1;
  let stable = 0;
  let after = before;
  for (let k = 0; k < 120 && stable < 3; k++) {
    await sleep(1000);
    after = await loads();
    stable = after.migrations === last && after.migrations > 0 ? stable + 1 : 0;
    last = after.migrations;
  }
  return [
    { bench: "tasks-rebalance", metric: `load variance, 8 hot + 4 cold agents, ${n} queued tasks: before rebalancing`, value: round(variance(before.loads), 3), bound: null, ratio: null },
    { bench: "tasks-rebalance", metric: "load variance after rebalancing; bound = before", value: round(variance(after.loads), 3), bound: round(variance(before.loads), 3), ratio: round(variance(after.loads) / variance(before.loads), 3) },
    { bench: "tasks-rebalance", metric: "migrations (hot > 0.8 → cold < 0.3)", value: after.migrations - before.migrations, bound: null, ratio: null },
  ];
}
