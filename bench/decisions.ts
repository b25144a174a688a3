// `npm run bench -- --only decisions`: the three decision protocols side by side on a real `wrangler dev`,
// one swarm at the defaults (12 agents, 5 log voters = 5 PBFT replicas, f = 1), auto voting by all 12.
// For each protocol, proposals one after another:
//  - decision latency: the outcome's decisionLatencyMs (the deciding vote's time − the proposal's), as the
//    agents recorded it, and what a client polling the router saw (POST → decided, 50 ms polls);
//  - messages per decision: billed peer calls of every agent during the run, minus the idle swarm's calls
//    over the same time (measured just before, same swarm), per decision.
// Ratios: latency against one replicated memory write in the same swarm (p50), calls against raft's.
//   --json, --only <substring>, --trials <n> (proposals per protocol, default 10)
import { percentile } from "../test/sim/sim";
import { Recorder, sleep, Wrangler } from "./wrangler";

const args = process.argv.slice(2);
const rec = new Recorder(args.includes("--json"));
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const K = args.includes("--trials") ? Number(args[args.indexOf("--trials") + 1]) : 10;
const N = 12;
const w = new Wrangler();

async function totalCalls(id: string): Promise<number> {
  const vs = await Promise.all(Array.from({ length: N }, (_, i) => w.api("GET", `/v1/swarms/${id}/agents/agent-${i + 1}`)));
  return vs.reduce((s, v) => s + (v.status === 200 ? v.body.stats.peerCalls : 0), 0);
}

/** Propose, then poll until decided; the outcome and the client's wait. */
async function decide(id: string, protocol: string, pid: string): Promise<{ outcome: any; clientMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const r = await w.api("POST", `/v1/swarms/${id}/proposals`, { proposalId: pid, protocol, proposal: { coordination_protocol: "gossip", consensus_threshold: 0.67 } });
    if (r.status === 202) break;
    if (r.status !== 503 || Date.now() - t0 > 60_000) throw new Error(`propose ${pid}: ${r.status} ${JSON.stringify(r.body)}`);
    await sleep(200);
  }
  for (;;) {
    const g = await w.api("GET", `/v1/swarms/${id}/proposals/${pid}`);
    if (g.status === 200 && g.body.status !== "pending") return { outcome: g.body, clientMs: Date.now() - t0 };
    if (Date.now() - t0 > 120_000) throw new Error(`${pid} undecided after 120 s: ${JSON.stringify(g.body)}`);
    await sleep(50);
  }
}

async function main(): Promise<void> {
  if (only && !"decisions".includes(only)) return;
  rec.log("▶ decisions (workerd, wrangler dev)");
  await w.start();
  try {
    const id = `dec-${Date.now().toString(36)}`;
    const c = await w.api("POST", "/v1/swarms", { swarmId: id, agents: N });
    if (c.status !== 201) throw new Error(`create: ${c.status}`);
    // Keys pinned everywhere, and one warm-up decision per protocol (first-time costs are not measured).
    for (let i = 0; ; i++) {
      const v = await w.api("GET", `/v1/swarms/${id}/agents/agent-1`);
      if (v.status === 200 && v.body.consensus?.keysPinned === N) break;
      if (i > 600) throw new Error("keys not pinned after 60 s");
      await sleep(100);
    }
    for (const p of ["raft", "gossip", "pbft"]) await decide(id, p, `warm-${p}`);
    // The baseline: one replicated memory write.
    const puts: number[] = [];
    for (let i = 0; i < K; i++) {
      const t = Date.now();
      const r = await w.api("PUT", `/v1/swarms/${id}/memory/bench/k${i}`, { value: i });
      if (r.status === 200) puts.push(Date.now() - t);
    }
    const put50 = percentile(puts, 50);
    rec.record("decisions", "memory PUT p50 ms (the baseline)", put50, null, `p99 ${percentile(puts, 99)} ms, ${puts.length} writes`);
    // The idle swarm's calls per second, same swarm, just before.
    const i0 = await totalCalls(id);
    const it0 = Date.now();
    await sleep(15_000);
    const idlePerMs = ((await totalCalls(id)) - i0) / (Date.now() - it0);
    rec.record("decisions", "idle swarm: peer calls per second (all agents)", idlePerMs * 1000, null);
    const perDecision: Record<string, number> = {};
    for (const p of ["raft", "gossip", "pbft"]) {
      const lat: number[] = [];
      const client: number[] = [];
      const c0 = await totalCalls(id);
      const t0 = Date.now();
      for (let i = 0; i < K; i++) {
        const { outcome, clientMs } = await decide(id, p, `${p}-${i}`);
        if (outcome.status !== "approved") throw new Error(`${p}-${i}: ${outcome.status}`);
        lat.push(outcome.decisionLatencyMs);
        client.push(clientMs);
      }
      // Let the votes after the decisive one land (they are part of the cost).
      await sleep(3000);
      const calls = (await totalCalls(id)) - c0 - idlePerMs * (Date.now() - t0);
      perDecision[p] = calls / K;
      rec.record("decisions", `${p}: decision latency p50 ms (agents' decisionLatencyMs)`, percentile(lat, 50), put50, `p99 ${percentile(lat, 99)} ms; vs one memory PUT p50`);
      rec.record("decisions", `${p}: proposal → decided seen by a client, p50 ms`, percentile(client, 50), put50, `p99 ${percentile(client, 99)} ms (50 ms polls)`);
      rec.record("decisions", `${p}: peer calls per decision above idle`, perDecision[p], p === "raft" ? null : perDecision.raft, `${K} decisions, 12 voters${p === "pbft" ? ", 5 replicas: each vote is a PBFT request" : ""}${p === "raft" ? "" : "; vs raft"}`);
    }
    await w.api("DELETE", `/v1/swarms/${id}?purge=true`);
  } finally {
    w.stop();
  }
  rec.table();
}

await main();
