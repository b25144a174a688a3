// Replicated write throughput in workerd: the memory store on a 5-voter Raft log (writes proposed in
// groups while one group commits, appends batched per follower) next to the same writes on a single
// Durable Object with no replication (a 1-agent swarm whose log has one voter), measured in the same run.
import { expect, test } from "vitest";
import { api, waitFor } from "../../test/workers/helpers";

// Production-like cadence (not the 50 ms test cadence), so background gossip does not compete with the writes.
const FAST = { gossip: { intervalMs: 500 }, failure: { heartbeatMs: 500, timeoutMs: 5000 } };

const ROUNDS = 3;
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function leaderOf(swarm: string, ids: string[]): Promise<string> {
  return waitFor(async () => {
    const vs = await Promise.all(ids.map((a) => api("GET", `/v1/swarms/${swarm}/agents/${a}`)));
    const l = vs.filter((v) => v.body?.raft?.role === "leader");
    return l.length === 1 ? l[0].body.agentId : null;
  }, 20_000, 50);
}

async function writes(swarm: string, via: string, n: number, concurrency: number, tag: string): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const r = await api("PUT", `/v1/swarms/${swarm}/memory/bench/${tag}${i}`, { value: { i, pad: "x".repeat(64) } }, {
          headers: { "x-mesh-via": via },
        });
        expect(r.status).toBe(200);
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** The leader's appends sent and proposal groups so far (its own counters). */
async function appends(agent: string): Promise<{ appends: number; groups: number }> {
  const v = await api("GET", `/v1/swarms/bench-repl/agents/${agent}`);
  return { appends: v.body.stats.callsByType["raft.app"] ?? 0, groups: v.body.stats.core["raft.proposalGroups"] ?? 0 };
}

test("replicated write throughput vs a single object", async () => {
  const base = await api("POST", "/v1/swarms", { swarmId: "bench-single", agents: 1, ...FAST, consensus: { voters: 1 } });
  const repl = await api("POST", "/v1/swarms", { swarmId: "bench-repl", agents: 5, ...FAST, consensus: { voters: 5 } });
  const bl = await leaderOf("bench-single", base.body.agents);
  const rl = await leaderOf("bench-repl", repl.body.agents);
  const rows: Array<{ metric: string; value: number; bound: number | null }> = [];
  for (const concurrency of [1, 16, 64]) {
    await writes("bench-single", bl, 20, concurrency, `w${concurrency}-`); // warm-up
    await writes("bench-repl", rl, 20, concurrency, `w${concurrency}-`);
    // Three rounds, alternating, and the medians: one shared machine's noise hits both sides alike.
    const singles: number[] = [];
    const repls: number[] = [];
    const before = await appends(rl);
    for (let round = 0; round < ROUNDS; round++) {
      singles.push(await writes("bench-single", bl, 320, concurrency, `s${concurrency}-${round}-`));
      repls.push(await writes("bench-repl", rl, 320, concurrency, `r${concurrency}-${round}-`));
    }
    const after = await appends(rl);
    const single = median(singles);
    const replicated = median(repls);
    rows.push({ metric: `single object, writes/s (concurrency ${concurrency}), median of ${ROUNDS}`, value: single, bound: null });
    rows.push({ metric: `5 voters, writes/s (concurrency ${concurrency}), median of ${ROUNDS}; bound = single object`, value: replicated, bound: single });
    // How well the leader batches: appends it sent per write (4 followers: 4 without batching).
    rows.push({ metric: `5 voters, leader's appends per write (concurrency ${concurrency})`, value: (after.appends - before.appends) / (320 * ROUNDS), bound: null });
    // Group commit: writes proposed together (1 when each write is proposed alone).
    rows.push({ metric: `5 voters, writes per proposal group (concurrency ${concurrency})`, value: (320 * ROUNDS) / Math.max(1, after.groups - before.groups), bound: null });
  }
  for (const r of rows) {
    console.log(JSON.stringify({ bench: "replicated-writes", metric: r.metric, value: Math.round(r.value * 100) / 100, bound: r.bound && Math.round(r.bound * 10) / 10, ratio: r.bound ? Math.round((r.value / r.bound) * 1000) / 1000 : null }));
  }
  expect(rows.every((r) => r.value > 0)).toBe(true);
}, 300_000);
