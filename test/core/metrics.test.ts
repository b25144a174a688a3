// The metrics: histograms that merge honestly (percentiles of merged buckets within the sketch's
// relative error of the exact percentiles of all values), the module's bucket life cycle in a real
// agent (one row at bucket close, a rare event saved at most once a minute, restore after a crash),
// and the report computed from agents' answers.
import { describe, expect, test } from "vitest";
import { resolveConfig } from "../../src/core/config";
import type { AgentId } from "../../src/core/ids";
import { BUCKET_MS, MAX_METRICS, SAVE_MIN_MS } from "../../src/core/metrics/module";
import {
  buildReport, buildSnapshot, byzantineTolerance, naturalCompare, NAIVE_PER_AGENT_HOUR, SECTIONS, type AgentMetrics, type AgentNow,
} from "../../src/core/metrics/report";
import {
  addValue, BUCKET_PREFIX, emptyBucket, emptyStat, groupBy, mergeAll, mergeStat, percentile, revive, SUB_BUCKETS, type Bucket, type Stat,
} from "../../src/core/metrics/stats";
import { Node } from "../../src/core/node";
import type { StoreWrite } from "../../src/core/protocol";
import { Rng } from "../../src/core/rng";
import { MemoryStore } from "../../src/core/store";

/** The sketch's guarantee: a reported value is within this relative error of the value at that rank. */
const REL_ERROR = 2 ** (1 / (2 * SUB_BUCKETS)) - 1;

/** Within the sketch's relative error of `want`. */
function near(got: number | null, want: number): boolean {
  return got !== null && Math.abs(got - want) / want <= REL_ERROR + 1e-3;
}

function exact(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

function statOf(xs: number[]): Stat {
  const s = emptyStat();
  for (const x of xs) addValue(s, x);
  return s;
}

describe("histograms merge honestly", () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])("seed %i: percentiles of merged parts match the exact percentiles of all values", (seed) => {
    const rng = new Rng(seed);
    // Latency-like values over four decades, split unevenly over 12 "agents".
    const parts: number[][] = Array.from({ length: 12 }, () => []);
    const all: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = Math.exp(rng.next() * Math.log(10_000)) * (rng.chance(0.01) ? 50 : 1);
      parts[rng.int(parts.length)].push(v);
      all.push(v);
    }
    const merged = emptyStat();
    for (const p of parts) mergeStat(merged, statOf(p));
    const whole = statOf(all);
    expect(merged.h).toEqual(whole.h);
    expect(merged.n).toBe(all.length);
    for (const p of [1, 10, 50, 90, 99, 99.9]) {
      const got = percentile(merged, p)!;
      const want = exact(all, p);
      expect(Math.abs(got - want) / want, `p${p}: ${got} vs ${want}`).toBeLessThanOrEqual(REL_ERROR + 1e-9);
    }
  });

  test("a constant metric reads back exactly; zeros and empty stats are handled", () => {
    expect(percentile(statOf([5, 5, 5]), 99)).toBe(5);
    expect(percentile(statOf([0, 0, 3]), 50)).toBe(0);
    expect(percentile(emptyStat(), 50)).toBeNull();
  });

  test("averaging per-agent p99s would be wrong; the merged histogram is not", () => {
    const a = statOf(Array.from({ length: 990 }, () => 1)); // a fast agent, many calls
    const b = statOf(Array.from({ length: 10 }, () => 1000)); // a slow agent, few calls
    const m = emptyStat();
    mergeStat(m, a);
    mergeStat(m, b);
    const naive = (percentile(a, 50)! + percentile(b, 50)!) / 2;
    expect(naive).toBeGreaterThan(400); // the mean of medians says ~500 ms
    expect(near(percentile(m, 50), 1)).toBe(true); // the median call took 1 ms
    expect(near(percentile(m, 99), 1)).toBe(true);
    expect(near(percentile(m, 99.5), 1000)).toBe(true);
  });

  test("buckets group into aligned points; a revived row has its observed time", () => {
    const b1: Bucket = { ...emptyBucket(0, 0), to: BUCKET_MS, counters: { x: 1 }, observedMs: BUCKET_MS };
    const b2: Bucket = { ...emptyBucket(BUCKET_MS, BUCKET_MS), to: 2 * BUCKET_MS, counters: { x: 2 }, observedMs: BUCKET_MS };
    const g = groupBy([b2, b1], 3600_000);
    expect(g).toHaveLength(1);
    expect(g[0]).toMatchObject({ start: 0, from: 0, to: 2 * BUCKET_MS, counters: { x: 3 }, observedMs: 2 * BUCKET_MS });
    const { observedMs: _, ...row } = b1;
    expect(revive(JSON.parse(JSON.stringify(row))).observedMs).toBe(BUCKET_MS);
  });
});

// ---------------------------------------------------------------------------------------------

const cfg = resolveConfig({ gossip: { intervalMs: 1000 }, failure: { heartbeatMs: 1000, timeoutMs: 5000 }, consensus: { voters: 0 } });
const T0 = 10 * BUCKET_MS + 1234;

/** A lone agent on a disk, with a counter source the test drives. */
function agent(now = T0) {
  const disk = new MemoryStore();
  const writes: StoreWrite[] = [];
  const { node, effects } = Node.create({ swarm: "s", self: "a" as AgentId, config: cfg, now, rng: new Rng(7), roster: ["a"] });
  const apply = (w: StoreWrite[]) => {
    disk.apply(w);
    writes.push(...w);
  };
  apply(effects.writes);
  const counters = { alarms: 0, "messages.messagesOriginated": 0 };
  node.mods.metrics.setCounterSource(() => ({ ...counters }));
  const metricRows = () => writes.filter((w) => w.mod === "metrics");
  return { node, disk, counters, apply, metricRows };
}

describe("the metrics module in an agent", () => {
  test("observations land in the current bucket; closing writes exactly one row with counter deltas", () => {
    const a = agent();
    a.counters.alarms = 5; // after the baseline was read: counted
    for (const ms of [3, 4, 5]) a.apply(a.node.called({ to: "b" as AgentId, mod: "membership", type: "ping", ok: true, ms }, T0 + 10).writes);
    a.counters["messages.messagesOriginated"] = 7;
    a.apply(a.node.tick(T0 + 1000).writes);
    expect(a.metricRows()).toEqual([]); // nothing written while the bucket is open (only frequent metrics)
    const cur = a.node.run(T0 + 2000, (m) => m.metrics.current()).result;
    expect(cur.stats["network.callMs"]).toMatchObject({ n: 3, sum: 12, min: 3, max: 5 });
    expect(cur.counters).toEqual({ alarms: 5, "messages.messagesOriginated": 7 });
    expect(cur.from).toBe(T0);
    expect(cur.observedMs).toBe(2000);

    const end = Math.floor(T0 / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
    a.counters.alarms = 6;
    a.apply(a.node.tick(end + 5).writes);
    const puts = a.metricRows().filter((w) => w.op.op === "put");
    expect(puts).toHaveLength(1);
    expect(puts[0].op).toMatchObject({ key: `${BUCKET_PREFIX}${String(end - BUCKET_MS).padStart(15, "0")}` });
    const row = (puts[0].op as { value: Bucket }).value;
    expect(row.counters).toEqual({ alarms: 6, "messages.messagesOriginated": 7 });
    expect(row).toMatchObject({ from: T0, to: end + 5 });
    // The next bucket starts where this one ended, empty of counters.
    const next = a.node.run(end + 10, (m) => m.metrics.current()).result;
    expect(next).toMatchObject({ start: end, from: end + 5, counters: {} });
    expect(next.stats.load?.n).toBe(1); // load sampled at the tick
    // A closed bucket older than the retention is deleted in the same transaction.
    expect(a.metricRows().some((w) => w.op.op === "delRange")).toBe(true);
  });

  test("a rare event saves the bucket (`cur`) at once, then at most once per SAVE_MIN_MS; frequent metrics never do", () => {
    const a = agent();
    const saves = () => a.metricRows().filter((w) => w.op.op === "put" && w.op.key === "cur").length;
    for (let i = 0; i < 50; i++) a.apply(a.node.tick(T0 + i * 100).writes); // alarm lateness, load: frequent
    expect(saves()).toBe(0);
    const observe = (t: number, metric: string) =>
      a.apply(a.node.run(t, (m) => m.metrics.onObserve("test", metric, 1)).effects.writes);
    observe(T0 + 6000, "pbft.viewChange");
    expect(saves()).toBe(1);
    observe(T0 + 7000, "pbft.viewChange");
    observe(T0 + 8000, "raft.leaderElected");
    expect(saves()).toBe(1);
    a.apply(a.node.tick(T0 + 6000 + SAVE_MIN_MS).writes);
    expect(saves()).toBe(2); // the pending rare events are saved once the minute has passed
    a.apply(a.node.tick(T0 + 6000 + 2 * SAVE_MIN_MS).writes);
    expect(saves()).toBe(2); // nothing new: nothing written
  });

  test("cost: an agent-hour of ticks and calls writes 12 metric rows (one per closed bucket), whatever the traffic", () => {
    const a = agent();
    const HOUR = 3600_000;
    // A tick every second and a peer call every 100 ms for an hour (frequent metrics only).
    for (let t = 1000; t <= HOUR; t += 1000) {
      for (let k = 0; k < 10; k++) a.apply(a.node.called({ to: "b" as AgentId, mod: "membership", type: "ping", ok: true, ms: 2 + k }, T0 + t - 1000 + k * 100).writes);
      a.apply(a.node.tick(T0 + t).writes);
    }
    const puts = a.metricRows().filter((w) => w.op.op === "put");
    // T0 is not aligned to a bucket, so the hour reaches into 13 buckets and closes 12 of them.
    expect(puts.map((w) => (w.op as { key: string }).key).every((k) => k.startsWith(BUCKET_PREFIX))).toBe(true);
    expect(puts).toHaveLength(12);
    // Every observation is in a row or the open bucket: nothing lost, nothing double-counted.
    const rows = puts.map((w) => (w.op as { value: Bucket }).value);
    const open = a.node.run(T0 + HOUR, (m) => m.metrics.current()).result;
    const calls = rows.reduce((s, b) => s + (b.stats["network.callMs"]?.n ?? 0), 0) + (open.stats["network.callMs"]?.n ?? 0);
    expect(calls).toBe(36_000);
  });

  test("after a crash the agent restarts from the saved bucket: the rare events survive", () => {
    const a = agent();
    a.apply(a.node.run(T0 + 100, (m) => m.metrics.onObserve("raft", "raft.leaderElected", 1)).effects.writes);
    const r = Node.restore((mod, cold) => a.disk.load(mod, cold), T0 + 500, new Rng(8), true)!;
    const cur = r.node.run(T0 + 600, (m) => m.metrics.current()).result;
    expect(cur.stats["raft.leaderElected"]).toMatchObject({ n: 1, sum: 1 });
    expect(cur.from).toBe(T0);
  });

  test("bad names and values are ignored, and a bucket holds at most MAX_METRICS names", () => {
    const a = agent();
    a.node.run(T0, (m) => {
      m.metrics.onObserve("x", "bad name", 1);
      m.metrics.onObserve("x", "ok", Number.NaN);
      for (let i = 0; i < MAX_METRICS + 10; i++) m.metrics.onObserve("x", `m${i}`, i);
    });
    const cur = a.node.run(T0 + 1, (m) => m.metrics.current()).result;
    expect(Object.keys(cur.stats).length).toBe(MAX_METRICS);
    expect(a.node.counters()["metrics.ignored"]).toBeGreaterThanOrEqual(12);
  });
});

// ---------------------------------------------------------------------------------------------

function now(over: Partial<AgentNow> = {}): AgentNow {
  return {
    state: "active", mode: "read-write", load: 0, role: "follower", term: 3, leader: "agent-2", voters: ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"],
    reachableFraction: 1, connectivity: 1, episodeOpen: false, ...over,
  };
}

function answer(id: string, b: Omit<Partial<Bucket>, "stats"> & { stats?: Record<string, number[]> }, over: Partial<AgentMetrics> = {}): AgentMetrics {
  const stats: Record<string, Stat> = {};
  for (const [k, xs] of Object.entries(b.stats ?? {})) stats[k] = statOf(xs);
  const bucket: Bucket = { start: 0, from: b.from ?? 0, to: b.to ?? 3600_000, counters: b.counters ?? {}, stats, observedMs: (b.to ?? 3600_000) - (b.from ?? 0) };
  return { agentId: id, at: bucket.to, live: true, total: bucket, series: [bucket], totals: null, now: now(), ...over };
}

describe("the report", () => {
  test("numbers come from the agents' buckets: rates over the covered window, sums by name, merged percentiles", () => {
    const agents = [
      answer("agent-1", {
        counters: { "messages.messagesOriginated": 360, alarms: 1000, peerCalls: 2000, rowsWritten: 600, peerCallFailures: 20 },
        stats: { "network.callMs": [1, 2, 3], "raft.leaderElected": [1], "load": [0.9, 0.9], "decision.pbft.latencyMs": [10, 20], "decision.pbft.participation": [1, 0.8], "tasks.migration": [1, 1], "custom.thing": [42] },
      }),
      answer("agent-2", {
        counters: { "messages.messagesOriginated": 0, alarms: 1000, peerCalls: 2000, rowsWritten: 600 },
        stats: { "network.callMs": [100], "raft.leaderElected": [1], "load": [0.1], "partition.recoveryMs": [1200, 800], "network.reachableFraction": [1, 0.5], "pbft.viewChange": [1] },
      }, { now: now({ role: "leader", term: 3 }) }),
    ];
    const r = buildReport({ swarmId: "s", timeframe: "1h", now: 3600_000, roster: ["agent-1", "agent-2", "agent-3"], agents, health: null });
    expect(r.window).toMatchObject({ from: 0, to: 3600_000, seconds: 3600, agentHours: 2 });
    expect(r.network.throughput).toBe(0.1); // 360 messages over 3600 s
    expect(near(r.network.latencyMs.p50, 2) && near(r.network.latencyMs.p99, 100)).toBe(true);
    expect(r.network.partitionRecoveryMs).toBe(1200);
    expect(r.network.connectivity).toBe(0.75);
    expect(r.consensus.leaderElections).toBe(2);
    expect(r.consensus.viewChanges).toBe(1);
    expect(r.consensus.byzantineTolerance).toBe(1);
    expect(r.consensus.leader).toBe("agent-2");
    expect(r.consensus.protocols.pbft).toMatchObject({ decisions: 2, participation: 0.9 });
    expect(r.consensus.participation).toBe(0.9);
    expect(r.load).toMatchObject({ migrations: 2, hotspots: ["agent-1"], utilization: 0.5, variance: 0.16 });
    expect(r.cost.perAgentHour).toEqual({ alarms: 1000, peerCalls: 2000, rowsWritten: 600, total: 3600 });
    expect(r.cost.billed).toEqual({ alarms: 2000, peerCalls: 4000, rowsWritten: 1200, total: 7200 }); // over 2 agent-hours
    expect(r.cost.ratioToNaive).toBe(Number((3600 / NAIVE_PER_AGENT_HOUR).toFixed(3)));
    expect(r.platform).toMatchObject({ peerCalls: 4000, failedPeerCalls: 20, failedCallRate: 0.005 });
    expect(r.metrics["custom.thing"]).toMatchObject({ count: 1, mean: 42, p50: 42 }); // any observed metric, no code change
    expect(r.agents).toEqual({ total: 3, answering: 2, reporting: 2, missing: ["agent-3"] });
  });

  test("f = ⌊(v−1)/3⌋", () => {
    expect([0, 1, 3, 4, 5, 7, 10].map(byzantineTolerance)).toEqual([0, 0, 0, 1, 1, 2, 3]);
  });

  test("snapshots: rates between snapshots from cumulative counters (a reset counts from zero); agents in natural order", () => {
    const ids = ["agent-10", "agent-2", "agent-1"];
    const mk = (t: Record<string, number>) => ids.map((id) => ({ ...answer(id, {}), totals: { "messages.messagesOriginated": t[id] } }));
    const members = ids.map((id) => ({ agentId: id, status: "alive", incarnation: 0, peers: [] }));
    const base = { swarmId: "s", roster: ids, members, via: "agent-1", sections: new Set(SECTIONS), health: null };
    const s1 = buildSnapshot({ ...base, seq: 1, now: 1000, agents: mk({ "agent-1": 10, "agent-2": 5, "agent-10": 0 }), prev: null });
    const s2 = buildSnapshot({ ...base, seq: 2, now: 3000, agents: mk({ "agent-1": 14, "agent-2": 1, "agent-10": 2 }), prev: s1.state });
    expect((s2.snapshot.throughput as any).messagesPerSec).toBe((4 + 1 + 2) / 2);
    expect((s2.snapshot.agents as any[]).map((a) => a.agentId)).toEqual(["agent-1", "agent-2", "agent-10"]);
    const only = buildSnapshot({ ...base, seq: 3, now: 4000, agents: mk({}), prev: null, sections: new Set(["latency"] as const) });
    expect(Object.keys(only.snapshot)).not.toContain("agents");
    expect(Object.keys(only.snapshot)).toContain("latency");
  });

  test("natural order", () => {
    expect(["agent-10", "agent-2", "b", "agent-1", "agent-02"].sort(naturalCompare)).toEqual(["agent-1", "agent-2", "agent-02", "agent-10", "b"]);
  });

  test("merging no buckets is nothing", () => {
    expect(mergeAll([])).toBeNull();
  });
});
