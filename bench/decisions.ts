// `npm run bench -- --only decisions`: the three decision protocols side by side on a real `wrangler dev`,
// one swarm per size n (default 4, 7, 13 agents, every agent a log voter and a PBFT replica: f = 1, 2, 4),
// auto voting by all n. For each protocol, proposals one after another:
//  - decision latency: the outcome's decisionLatencyMs (the deciding vote's time − the proposal's), as the
//    agents recorded it, and what a client polling the router saw (POST → decided, 50 ms polls);
//  - messages per decision: billed peer calls of every agent during the run, minus the idle swarm's calls
//    over the same time (measured just before, same swarm), per decision.
// Ratios: latency against one replicated memory write in the same swarm (p50), calls against raft's.
//   --json, --only <substring>, --trials <n> (proposals per protocol, default 10), --sizes 4,7,13
import { percentile } from "../test/sim/sim";
import { Recorder, sleep, Wrangler } from "./wrangler";

const args = process.argv.slice(2);
const rec = new Recorder(args.includes("--json"));
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const K = args.includes("--trials") ? Number(args[args.indexOf("--trials") + 1]) : 10;
const SIZES = (args.includes("--sizes") ? args[args.indexOf("--sizes") + 1] : "4,7,13").split(",").map(Number);
const w = new Wrangler();

async function totals(id: string, n: number): Promise<{ calls: number; timeouts: number }> {
  const vs = await Promise.all(Array.from({ length: n }, (_, i) => w.api("GET", `/v1/swarms/${id}/agents/agent-${i + 1}`)));
  const ok = vs.filter((v) => v.status === 200).map((v) => v.body.stats);
  return { calls: ok.reduce((s, x) => s + x.peerCalls, 0), timeouts: ok.reduce((s, x) => s + (x.peerCallTimeouts ?? 0), 0) };
}
const totalCalls = async (id: string, n: number) => (await totals(id, n)).calls;

/** Requests that got no answer within a minute (reported: a hung request is a finding, not noise). */
const hung: string[] = [];
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  try {
    return await w.api(method, path, body);
  } catch (err) {
    hung.push(`${method} ${path}: ${(err as Error).name}`);
    // Which agents answer now? (A stuck object is the likely cause.)
    const m = /\/v1\/swarms\/([^/]+)/.exec(path);
    let who = "";
    if (m) {
      const n = Number(/^dec(\d+)-/.exec(m[1])?.[1] ?? 0);
      const answers = await Promise.all(Array.from({ length: n }, (_, i) => w.api("GET", `/v1/swarms/${m[1]}/agents/agent-${i + 1}`, undefined, {}, 5000).then((r) => `${i + 1}:${r.status}`, () => `${i + 1}:none`)));
      who = ` — agents now: ${answers.join(" ")}`;
    }
    rec.log(`  ! ${method} ${path}: no answer (${(err as Error).name})${who}`);
    return { status: 0, body: null };
  }
}

/** Propose, then poll until decided; the outcome and the client's wait. */
async function decide(id: string, protocol: string, pid: string): Promise<{ outcome: any; clientMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const r = await call("POST", `/v1/swarms/${id}/proposals`, { proposalId: pid, protocol, proposal: { coordination_protocol: "gossip", consensus_threshold: 0.67 } });
    if (r.status === 202 || (r.status === 409 && r.body?.error?.code === "conflict")) break; // 409: an earlier try that hung did create it
    if ((r.status !== 503 && r.status !== 0) || Date.now() - t0 > 180_000) throw new Error(`propose ${pid}: ${r.status} ${JSON.stringify(r.body)}`);
    await sleep(200);
  }
  for (;;) {
    const g = await call("GET", `/v1/swarms/${id}/proposals/${pid}`);
    if (g.status === 200 && g.body.status !== "pending") return { outcome: g.body, clientMs: Date.now() - t0 };
    if (Date.now() - t0 > 300_000) throw new Error(`${pid} undecided after 120 s: ${JSON.stringify(g.body)}`);
    await sleep(50);
  }
}

/** One swarm of n agents, all voters: the three protocols one after another. */
async function size(n: number): Promise<void> {
  const id = `dec${n}-${Date.now().toString(36)}`;
  const c = await w.api("POST", "/v1/swarms", { swarmId: id, agents: n, maxAgents: Math.max(12, n), consensus: { voters: n } });
  if (c.status !== 201) throw new Error(`create: ${c.status} ${JSON.stringify(c.body)}`);
  const tag = `n=${n}`;
  // Keys pinned everywhere, and one warm-up decision per protocol (first-time costs are not measured).
  for (let i = 0; ; i++) {
    const v = await w.api("GET", `/v1/swarms/${id}/agents/agent-1`);
    if (v.status === 200 && v.body.consensus?.keysPinned === n) break;
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
  rec.record("decisions", `${tag}: memory PUT p50 ms (the baseline)`, put50, null, `p99 ${percentile(puts, 99)} ms, ${puts.length} writes`);
  // The idle swarm's calls per second, same swarm, just before.
  const i0 = await totalCalls(id, n);
  const it0 = Date.now();
  await sleep(15_000);
  const idlePerMs = ((await totalCalls(id, n)) - i0) / (Date.now() - it0);
  rec.record("decisions", `${tag}: idle swarm, peer calls per second (all agents)`, idlePerMs * 1000, null);
  const perDecision: Record<string, number> = {};
  for (const p of ["raft", "gossip", "pbft"]) {
    const lat: number[] = [];
    const client: number[] = [];
    const c0 = await totalCalls(id, n);
    const t0 = Date.now();
    for (let i = 0; i < K; i++) {
      const { outcome, clientMs } = await decide(id, p, `${p}-${i}`);
      if (outcome.status !== "approved") throw new Error(`${p}-${i}: ${outcome.status}`);
      lat.push(outcome.decisionLatencyMs);
      client.push(clientMs);
    }
    // Let the votes after the decisive one land (they are part of the cost).
    await sleep(3000);
    const calls = (await totalCalls(id, n)) - c0 - idlePerMs * (Date.now() - t0);
    perDecision[p] = calls / K;
    rec.record("decisions", `${tag} ${p}: decision latency p50 ms (agents' decisionLatencyMs)`, percentile(lat, 50), put50, `p99 ${percentile(lat, 99)} ms; vs one memory PUT p50`);
    rec.record("decisions", `${tag} ${p}: proposal → decided seen by a polling client, p50 ms`, percentile(client, 50), put50, `p99 ${percentile(client, 99)} ms`);
    rec.record("decisions", `${tag} ${p}: peer calls per decision above idle`, perDecision[p], p === "raft" ? null : perDecision.raft, `${K} decisions${p === "pbft" ? `; each of the ${n} votes is a PBFT request` : ""}${p === "raft" ? "" : "; vs raft"}`);
  }
  rec.record("decisions", `${tag}: peer calls with no answer within 10 s (all agents, whole run)`, (await totals(id, n)).timeouts, null);
  await w.api("DELETE", `/v1/swarms/${id}?purge=true`);
}

async function main(): Promise<void> {
  if (only && !"decisions".includes(only)) return;
  rec.log("▶ decisions (workerd, wrangler dev)");
  await w.start();
  try {
    for (const n of SIZES) await size(n);
    rec.record("decisions", "requests with no answer within 60 s", hung.length, null, hung.slice(0, 3).join("; "));
  } finally {
    w.stop();
  }
  rec.table();
}

await main();
