// `npm run bench` (workerd part): measurements on a real `wrangler dev` (workerd with embedded SQLite),
// driven over HTTP as a user would. Every figure is a ratio against a bound derived from the
// configuration, a baseline measured in the same run (the same scenario with fast failover switched
// off), or the simulator's prediction calibrated with what the agents measured here.
//   --json               one JSON line per metric
//   --only <substring>   run matching benches (write-scale, first-write, failover, cadence, idle-cost)
//   --trials <n>         trials per failover bench (default 20)
import { billedOps, expandDeciles, predictedDetection, type Calibration } from "../test/sim/scenarios";
import { percentile } from "../test/sim/sim";
import { Recorder, sleep, Wrangler } from "./wrangler";

const args = process.argv.slice(2);
const json = args.includes("--json");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const TRIALS = args.includes("--trials") ? Number(args[args.indexOf("--trials") + 1]) : 20;
const TOKEN = "dev-token"; // .dev.vars
const w = new Wrangler();
const BASE = w.base;
const rec = new Recorder(json);
const record = rec.record.bind(rec);
const log = (s: string) => rec.log(s);
const api = (method: string, path: string, body?: unknown) => w.api(method, path, body, {}, 300_000);
const start = () => w.start();
const stop = () => w.stop();
const afterwards: Array<() => void> = [];

const DEFAULTS = { agents: 12 };
let swarmN = 0;
const swarmId = (p: string) => `${p}-${++swarmN}-${Date.now().toString(36)}`;
const purge = (id: string) => api("DELETE", `/v1/swarms/${id}?purge=true`);

async function views(id: string, n: number): Promise<any[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => api("GET", `/v1/swarms/${id}/agents/agent-${i + 1}`).then((r) => (r.status === 200 ? r.body : null))));
}
async function leader(id: string, n: number, timeoutMs: number): Promise<string | null> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const vs = (await views(id, n)).filter(Boolean);
    const ls = vs.filter((v) => v.raft?.role === "leader").map((v) => v.agentId);
    if (ls.length === 1) return ls[0];
    await sleep(100);
  }
  return null;
}
/** PUT until one succeeds; returns when it did (ms since epoch) or null at the deadline. */
async function writeUntilOk(id: string, key: string, deadline: number): Promise<number | null> {
  while (Date.now() < deadline) {
    const r = await api("PUT", `/v1/swarms/${id}/memory/bench/${key}`, { value: 1 });
    if (r.status === 200) return Date.now();
  }
  return null;
}
/** Run `fn` over `n` trials, `parallel` at a time. */
async function trials<T>(n: number, parallel: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += parallel) out.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, (_, k) => fn(i + k)))));
  return out;
}
function summary(xs: number[]) {
  return { p50: percentile(xs, 50), p99: percentile(xs, 99) };
}

async function bench(name: string, fn: () => Promise<void>): Promise<void> {
  if (only && !name.includes(only)) return;
  log(`▶ ${name} (workerd, wrangler dev)`);
  const t0 = Date.now();
  await fn();
  log(`  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

async function main(): Promise<void> {
  await start();
  try {
    await bench("write-scale", async () => {
      // Issue #14: memory PUT latency through the router at 12, 100 and 300 agents (defaults), the
      // leader's outgoing calls per committed write (its own counters), and how long a write takes to
      // become visible on learners (stale reads polled on a sample of learners after each write).
      const sizes = (process.env.WRITE_SCALE_SIZES ?? "12,100,300").split(",").map(Number);
      const WRITES = Number(process.env.WRITE_SCALE_WRITES ?? 100);
      const p50s = new Map<number, number>();
      for (const n of sizes) {
        const id = swarmId(`ws${n}`);
        const t0 = Date.now();
        const c = await api("POST", "/v1/swarms", { swarmId: id, agents: n, maxAgents: n });
        if (c.status !== 201) throw new Error(`create ${n} failed: ${c.status} ${JSON.stringify(c.body)}`);
        log(`  ${n} agents created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const leaderView = async (): Promise<any | null> => {
          for (let i = 0; i < 600; i++) {
            const st = await api("GET", `/v1/swarms/${id}`);
            const l = st.body?.leader;
            if (l) {
              const v = await api("GET", `/v1/swarms/${id}/agents/${l}`);
              if (v.body?.raft?.role === "leader") return v.body;
            }
            await sleep(100);
          }
          return null;
        };
        const lv0 = await leaderView();
        if (!lv0) throw new Error(`${id}: no leader`);
        const voters: string[] = lv0.raft.voters;
        const learners: string[] = lv0.raft.learners;
        for (let i = 0; i < 10; i++) await writeUntilOk(id, `warm${i}`, Date.now() + 30_000);
        await sleep(1000);
        const before = (await api("GET", `/v1/swarms/${id}/agents/${lv0.agentId}`)).body;
        const lat: number[] = [];
        let failed = 0;
        for (let i = 0; i < WRITES; i++) {
          const s0 = performance.now();
          const r = await api("PUT", `/v1/swarms/${id}/memory/bench/w${i}`, { value: { i, pad: "x".repeat(64) } });
          if (r.status === 200) lat.push(performance.now() - s0);
          else failed++;
        }
        const after = (await api("GET", `/v1/swarms/${id}/agents/${lv0.agentId}`)).body;
        const sameLeader = after?.raft?.role === "leader" && after.raft.term === before.raft.term;
        const diff = (k: (x: Record<string, number>) => number) => k(after.stats.callsByType) - k(before.stats.callsByType);
        const all = diff((x) => Object.values(x).reduce((a, b) => a + b, 0));
        const raft = diff((x) => Object.entries(x).filter(([k]) => k.startsWith("raft.")).reduce((a, [, b]) => a + b, 0));
        const byType: Record<string, number> = {};
        for (const [k, v] of Object.entries(after.stats.callsByType as Record<string, number>)) {
          const d = v - (before.stats.callsByType[k] ?? 0);
          if (d > 0) byType[k] = Math.round((d / lat.length) * 100) / 100;
        }
        const s = summary(lat.map((x) => Math.round(x * 10) / 10));
        p50s.set(n, s.p50);
        record("write-scale", `N=${n}: PUT p50 ms`, s.p50, n === sizes[0] ? null : 1.3 * p50s.get(sizes[0])!, n === sizes[0] ? `${lat.length} writes, ${failed} failed` : `bound: 1.3 × p50 at N=${sizes[0]}, same run`);
        record("write-scale", `N=${n}: PUT p99 ms`, s.p99, null, `max ${Math.round(Math.max(...lat))} ms`);
        record("write-scale", `N=${n}: leader's outgoing calls per committed write`, all / lat.length, voters.length + 2, `raft ${(raft / lat.length).toFixed(2)}, by type ${JSON.stringify(byType)}${sameLeader ? "" : "; LEADER CHANGED during the run"}`);
        // Staleness: write, then poll stale reads on a sample of learners until the write is visible.
        const vis: number[] = [];
        const SAMPLE = Math.min(6, learners.length);
        for (let i = 0; learners.length > 0 && i < 30; i++) {
          const w = await api("PUT", `/v1/swarms/${id}/memory/bench/v${i}`, { value: i });
          if (w.status !== 200) continue;
          const acked = performance.now();
          const version = w.body.version as number;
          const sample = Array.from({ length: SAMPLE }, () => learners[Math.floor(Math.random() * learners.length)]);
          await Promise.all(sample.map(async (a) => {
            for (;;) {
              const r = await fetch(`${BASE}/v1/swarms/${id}/memory/bench/v${i}?consistency=stale`, { headers: { authorization: `Bearer ${TOKEN}`, "x-mesh-via": a } });
              const b = (await r.json().catch(() => null)) as any;
              if (r.status === 200 && b.version >= version) return vis.push(performance.now() - acked);
              if (performance.now() - acked > 30_000) return vis.push(30_000);
            }
          }));
        }
        if (vis.length) {
          const v = summary(vis.map((x) => Math.round(x)));
          record("write-scale", `N=${n}: write acknowledged → visible on a learner (stale read), p99 ms`, v.p99, null, `p50 ${v.p50} ms, ${vis.length} polls (${SAMPLE} random learners × 30 writes)`);
        }
        const pt = Date.now();
        await purge(id);
        log(`  purged in ${((Date.now() - pt) / 1000).toFixed(1)} s`);
      }
    });

    await bench("first-write", async () => {
      // swarm create → first successful memory write, 12 agents at the defaults.
      const run = async (fast: boolean) => {
        const id = swarmId(fast ? "fw-on" : "fw-off");
        const t0 = Date.now();
        const c = await api("POST", "/v1/swarms", { swarmId: id, ...DEFAULTS, consensus: { fastFailover: fast } });
        if (c.status !== 201) throw new Error(`create failed: ${c.status}`);
        if (fast) created.push(Date.now() - t0);
        const t = await writeUntilOk(id, "first", t0 + 120_000);
        await purge(id);
        return t === null ? 120_000 : t - t0;
      };
      const created: number[] = [];
      const on = await trials(TRIALS, 1, () => run(true));
      const off = await trials(TRIALS, 5, () => run(false));
      record("first-write", "POST /v1/swarms (12 agents) alone, p50 ms", percentile(created, 50), null, `p99 ${percentile(created, 99)} ms`);
      const a = summary(on);
      const b = summary(off);
      record("first-write", "create → first write ok, p50 ms (fast failover)", a.p50, b.p50, "bound: the same with fast failover off, same run");
      record("first-write", "create → first write ok, p99 ms (fast failover)", a.p99, 1000, `target ≤ 1 s; off: p99 ${b.p99} ms, ${TRIALS} trials each`);
      record("first-write", "create → first write ok, p99 ms (fast failover off)", b.p99, null);
    });

    await bench("failover", async () => {
      // Leader crash under a steady writer → first successful write sent after the crash.
      const run = async (fast: boolean) => {
        const id = swarmId(fast ? "fo-on" : "fo-off");
        await api("POST", "/v1/swarms", { swarmId: id, ...DEFAULTS, consensus: { fastFailover: fast } });
        const l = await leader(id, 12, 60_000);
        if (!l) throw new Error(`${id}: no leader`);
        let crashedAt = 0;
        let firstAfter: number | null = null;
        let stopWriting = false;
        let i = 0;
        const writer = (async () => {
          while (!stopWriting) {
            const sentAt = Date.now();
            const r = await api("PUT", `/v1/swarms/${id}/memory/bench/w${i++}`, { value: i });
            if (r.status === 200 && crashedAt && sentAt >= crashedAt && firstAfter === null) firstAfter = Date.now();
          }
        })();
        await sleep(2000);
        crashedAt = Date.now();
        await api("POST", `/v1/swarms/${id}/chaos`, { action: "crash", agents: [l] });
        const end = Date.now() + 120_000;
        while (firstAfter === null && Date.now() < end) await sleep(20);
        stopWriting = true;
        await writer;
        await purge(id);
        return firstAfter === null ? 120_000 : firstAfter - crashedAt;
      };
      const on = await trials(TRIALS, 1, () => run(true));
      const off = await trials(TRIALS, 5, () => run(false));
      const a = summary(on);
      const b = summary(off);
      record("failover", "leader crash → first write ok, p50 ms (fast failover)", a.p50, b.p50, "bound: the same with fast failover off, same run");
      record("failover", "leader crash → first write ok, p99 ms (fast failover)", a.p99, 2000, `target ≤ 2 s; off: p99 ${b.p99} ms, ${TRIALS} trials each`);
      record("failover", "leader crash → first write ok, p99 ms (fast failover off)", b.p99, null);
    });

    await bench("cadence", async () => {
      for (const roundMs of [50, 100]) {
        // 12 agents at short rounds, no faults, 60 s: the log's term stays, nobody is buried.
        const id = swarmId(`cad${roundMs}`);
        const config = { gossip: { intervalMs: roundMs }, failure: { heartbeatMs: roundMs, timeoutMs: 10 * roundMs } };
        await api("POST", "/v1/swarms", { swarmId: id, ...DEFAULTS, ...config });
        const l = await leader(id, 12, 60_000);
        await sleep(3000);
        const before = (await views(id, 12)).filter(Boolean);
        const term0 = Math.max(...before.map((v) => v.raft.term));
        await sleep(60_000);
        const after = (await views(id, 12)).filter(Boolean);
        const term1 = Math.max(...after.map((v) => v.raft.term));
        const deaths = after.reduce((s, v) => s + (v.stats.core["membership.deathsDeclared"] ?? 0), 0);
        const suspicions = after.reduce((s, v) => s + (v.stats.core["membership.suspicionsRaised"] ?? 0), 0);
        const late = after.map((v) => v.health.alarmLateMs.p99 ?? 0);
        record("cadence", `${roundMs} ms rounds, 60 s no faults: term changes`, term1 - term0, null, `leader ${l}, ${suspicions} suspicions raised (refuted)`);
        record("cadence", `${roundMs} ms rounds, 60 s no faults: false deaths`, deaths, null);
        // Calibration: what the agents measured here (alarm lateness, call round trips), pooled.
        const pool = (k: "alarmLateMs" | "callMs") => {
          const ds = after.map((v) => v.health[k].deciles).filter((d: number[]) => d.length === 11);
          return Array.from({ length: 11 }, (_, q) => percentile(ds.map((d: number[]) => d[q]), 50));
        };
        const calib: Calibration = { rttMs: expandDeciles(pool("callMs")), alarmLateMs: expandDeciles(pool("alarmLateMs")) };
        record("cadence", `${roundMs} ms rounds: alarm lateness p99 ms (median agent)`, percentile(late, 50), roundMs, `call round trip deciles ${JSON.stringify(pool("callMs").map(Math.round))}`);
        // Crashes (3 trials, the victim restarted in between): detection time against the configured
        // bound and the calibrated simulator. Each agent's own record of when it set the victim `dead`
        // (`statusSince`) times it, so the bench's polling neither sets the resolution nor loads the
        // agents (it polls once a second, only to learn that everyone has it).
        const victim = "agent-5";
        const others = Array.from({ length: 12 }, (_, i) => `agent-${i + 1}`).filter((a) => a !== victim);
        const detections: number[] = [];
        const burials: number[] = [];
        for (let trial = 0; trial < 3; trial++) {
          const t0 = Date.now();
          await api("POST", `/v1/swarms/${id}/chaos`, { action: "crash", agents: [victim] });
          // The victim's entry in each other agent's membership view.
          const entriesOf = async (): Promise<any[]> =>
            (await Promise.all(others.map((a) => api("GET", `/v1/swarms/${id}/agents/${a}`)))).map((r) => r.body?.membership?.find((m: any) => m.agentId === victim));
          let entries: any[] = [];
          while (Date.now() - t0 < 120_000) {
            await sleep(1000);
            entries = await entriesOf();
            if (entries.every((e) => e?.status === "dead")) break;
          }
          const dead = entries.every((e) => e?.status === "dead" && typeof e.statusSince === "number");
          detections.push(dead ? Math.max(...entries.map((e) => e.statusSince)) - t0 : 120_000);
          // The earliest burial is the monitors' verdict; the rest is dissemination.
          burials.push(dead ? Math.min(...entries.map((e) => e.statusSince)) - t0 : 120_000);
          // Back up and quiet again before the next trial.
          await api("POST", `/v1/swarms/${id}/chaos`, { action: "restart", agents: [victim] });
          const tr = Date.now();
          while (Date.now() - tr < 60_000) {
            await sleep(500);
            if ((await entriesOf()).every((e) => e?.status === "alive")) break;
          }
          await sleep(5000);
        }
        const detected = percentile(detections, 50);
        await purge(id);
        const bound = config.failure.timeoutMs + 3 * roundMs;
        record("cadence", `${roundMs} ms rounds: crash → dead at all 11, median of 3 crashes, ms`, detected, bound,
          `bound: timeoutMs + 3 rounds; trials ${JSON.stringify(detections)} ms, first burial ${JSON.stringify(burials)} ms (agents' own statusSince)`);
        afterwards.push(() => {
          const sim = predictedDetection({ n: 12, config, calib, trials: 20, seed: 7 });
          const simUncal = predictedDetection({ n: 12, config, calib: null, trials: 20, seed: 7 });
          record("cadence", `${roundMs} ms rounds: crash → dead, measured median / simulator (calibrated) p50`, detected / sim.p50, null, `sim p50 ${sim.p50} ms, p99 ${sim.p99} ms; uncalibrated sim p50 ${simUncal.p50} ms`);
        });
      }
    });

    await bench("idle-cost", async () => {
      // A stable 12-agent swarm at the defaults: billed operations from the agents' own counters.
      const id = swarmId("idle");
      await api("POST", "/v1/swarms", { swarmId: id, ...DEFAULTS });
      await leader(id, 12, 60_000);
      // Stable: SWIM's quiet stretch reaches its full 3× after about two minutes without change.
      await sleep(120_000);
      const sum = (vs: any[]) => vs.reduce((s, v) => ({ alarms: s.alarms + v.stats.alarms, calls: s.calls + v.stats.peerCalls, rows: s.rows + v.stats.rowsWritten }), { alarms: 0, calls: 0, rows: 0 });
      const a = sum((await views(id, 12)).filter(Boolean));
      const t0 = Date.now();
      await sleep(180_000);
      const b = sum((await views(id, 12)).filter(Boolean));
      const hours = (Date.now() - t0) / 3_600_000;
      const per = (x: number) => x / 12 / hours;
      const total = per(b.alarms - a.alarms) + per(b.calls - a.calls) + per(b.rows - a.rows);
      const byType: Record<string, number> = {};
      for (const v of (await views(id, 12)).filter(Boolean)) for (const [k, x] of Object.entries(v.stats.callsByType as Record<string, number>)) byType[k] = (byType[k] ?? 0) + x;
      log(`  calls by type since creation (all agents): ${JSON.stringify(byType)}`);
      const naive = (3_600_000 / 3000) * 7;
      record("idle-cost", "workerd N=12 defaults: billed ops per agent-hour", total, naive, `alarms ${per(b.alarms - a.alarms).toFixed(0)}, calls ${per(b.calls - a.calls).toFixed(0)}, rows ${per(b.rows - a.rows).toFixed(0)}; target ≤ 0.25`);
      await purge(id);
      afterwards.push(() => {
        const s = billedOps({ n: 12, seed: 5, config: {} });
        const s100 = billedOps({ n: 100, seed: 5, config: {} });
        record("idle-cost", "simulator N=100 defaults: billed ops per agent-hour", s100.perAgentHour, naive, `alarms ${s100.alarms.toFixed(0)}, calls ${s100.peerCalls.toFixed(0)}, rows ${s100.rowsWritten.toFixed(0)}`);
        record("idle-cost", "simulator N=12 defaults: billed ops per agent-hour", s.perAgentHour, naive, `alarms ${s.alarms.toFixed(0)}, calls ${s.peerCalls.toFixed(0)}, rows ${s.rowsWritten.toFixed(0)}`);
      });
    });
  } finally {
    stop();
  }
  // Simulator predictions last: a long synchronous run while wrangler dev is up lets the server close
  // this process's kept-alive connections unseen, and the next request fails ("other side closed").
  for (const f of afterwards) f();
  rec.table();
}

await main();
