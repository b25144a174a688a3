// What a replicated write costs, by role, and how stale learners get: a swarm at the defaults, a client
// writing at the leader one write at a time, the billed operations of the write window minus those of
// an idle window of the same length (so background membership traffic cancels out), and for every
// committed entry the time from its commit (applied at the leader) to its application on each learner.
// Shared by the tests (small N) and `npm run bench` (N = 1,000).
import type { SwarmConfigInput } from "../../src/core/config";
import type { Effects } from "../../src/core/protocol";
import { percentile, Simulator, type Bill, type SimNode } from "./sim";

export interface RoleCost {
  alarms: number;
  peerCalls: number;
  rowsWritten: number;
  total: number;
}

export interface WriteCostResult {
  n: number;
  writes: number;
  acked: number;
  /** Billed operations per write, by role: the leader, the other voters together, the learners together. */
  leader: RoleCost;
  voters: RoleCost;
  learners: RoleCost;
  /** All learners together, per write, divided by the number of learners (one learner's share). */
  perLearner: RoleCost;
  /** The leader's outgoing calls per write, by message type (`raft.app`, …), write window only. */
  leaderCallsByType: Record<string, number>;
  /** ms from an entry's commit (applied at the leader) to its application on a learner, over all (entry, learner). */
  staleness: { p50: number; p99: number; max: number; samples: number; missing: number };
  /** Client latency at the leader (propose → applied there), ms. */
  latency: { p50: number; p99: number };
}

const sub = (a: Bill, b: Bill): Bill => ({ alarms: a.alarms - b.alarms, peerCalls: a.peerCalls - b.peerCalls, rowsWritten: a.rowsWritten - b.rowsWritten });
const add = (a: Bill, b: Bill): Bill => ({ alarms: a.alarms + b.alarms, peerCalls: a.peerCalls + b.peerCalls, rowsWritten: a.rowsWritten + b.rowsWritten });
const zero = (): Bill => ({ alarms: 0, peerCalls: 0, rowsWritten: 0 });
const per = (b: Bill, k: number): RoleCost => ({
  alarms: b.alarms / k, peerCalls: b.peerCalls / k, rowsWritten: b.rowsWritten / k, total: (b.alarms + b.peerCalls + b.rowsWritten) / k,
});

function snapshotBills(sim: Simulator): Map<string, Bill> {
  return new Map(Array.from(sim.nodes.values(), (n) => [n.id, { ...n.bill }]));
}

/**
 * `writes` writes, one in flight at a time, each `gapMs` after the previous one was applied at the
 * leader (a client next to it). Default configuration unless `config` says otherwise.
 */
export function writeCost(opts: {
  n: number;
  seed: number;
  writes?: number;
  gapMs?: number;
  config?: SwarmConfigInput;
  settleMs?: number;
  /** Message loss rate (default 0): lost pushes are repaired by pulls. */
  loss?: number;
}): WriteCostResult {
  const writes = opts.writes ?? 40;
  const gapMs = opts.gapMs ?? 20;
  const sim = new Simulator(opts.seed, { delayMinMs: 1, delayMaxMs: 10, loss: opts.loss ?? 0 });
  sim.checkInvariants = opts.n <= 100;
  const ids = sim.createSwarm(opts.n, opts.config ?? {});
  sim.runFor(opts.settleMs ?? 30_000);
  const leaderOf = () => sim.live().find((x) => x.core!.mods.raft.status()?.role === "leader") ?? null;
  const leader = leaderOf();
  if (!leader) throw sim.fail("no leader after settling");
  const status = leader.core!.mods.raft.status()!;
  const voters = new Set(status.voters);

  // Commit and apply times, per index.
  const committedAt = new Map<number, number>();
  const appliedAt = new Map<string, Map<number, number>>();
  let recording = false;
  const proposedAt = new Map<number, number>();
  const latencies: number[] = [];
  let inflight: { index: number; term: number } | null = null;
  let acked = 0;
  let next: (() => void) | null = null;
  sim.onEffects.push((node: SimNode, fx: Effects) => {
    if (!recording) return;
    for (const o of fx.outputs) {
      if (o.mod !== "raft" || !o.key.startsWith("applied:")) continue;
      const i = Number(o.key.slice(8));
      if (node.id === leader.id) {
        if (!committedAt.has(i)) committedAt.set(i, sim.now);
        if (inflight && i === inflight.index) {
          const v = o.value as { term: number; result: unknown };
          if (v.term === inflight.term && v.result) (acked++, latencies.push(sim.now - proposedAt.get(i)!));
          inflight = null;
          if (next) sim.at(sim.now + gapMs, next);
        }
      } else {
        let m = appliedAt.get(node.id);
        if (!m) appliedAt.set(node.id, (m = new Map()));
        if (!m.has(i)) m.set(i, sim.now);
      }
    }
  });

  // Idle window first: the same length as the write window will be (measured after, then replayed).
  let issued = 0;
  const writeWindow = () => {
    const start = sim.now;
    recording = true;
    const before = snapshotBills(sim);
    next = () => {
      if (issued >= writes || !leader.core) return;
      const { result: p, effects } = leader.core.run(sim.now, (m) =>
        m.raft.propose("kv", { op: "put", ns: "bench", key: `k${issued}`, value: { i: issued, pad: "x".repeat(64) }, expiresAt: null, at: sim.now }),
      );
      sim.handle(leader, effects);
      issued++;
      if (!p.ok) return;
      inflight = { index: p.index, term: p.term };
      proposedAt.set(p.index, sim.now);
    };
    next();
    // Until the last write is applied everywhere (or a generous deadline), then one more second.
    const learnerIds = ids.filter((id) => !voters.has(id));
    sim.runUntilTrue(() => {
      if (issued < writes || inflight) return false;
      const last = Math.max(0, ...committedAt.keys());
      return learnerIds.every((id) => (appliedAt.get(id)?.has(last) ?? false) || (sim.nodes.get(id)!.core?.mods.raft.appliedIndex() ?? 0) >= last);
    }, 120_000, 50);
    sim.runFor(1000);
    const after = snapshotBills(sim);
    return { ms: sim.now - start, delta: new Map(Array.from(after, ([id, b]) => [id, sub(b, before.get(id) ?? zero())])) };
  };

  // Measure the write window, then an idle window of the same length right after it (the swarm is in
  // the same state: stable, no writes), and subtract.
  const leaderCallsBefore = callsByType(sim, leader.id);
  const w = writeWindow();
  const leaderCallsAfter = callsByType(sim, leader.id);
  recording = false;
  const idleBefore = snapshotBills(sim);
  sim.runFor(w.ms);
  const idleAfter = snapshotBills(sim);
  const net = new Map<string, Bill>();
  for (const [id, d] of w.delta) net.set(id, sub(d, sub(idleAfter.get(id)!, idleBefore.get(id)!)));

  let vb = zero();
  let lb = zero();
  let learners = 0;
  for (const [id, b] of net) {
    if (id === leader.id) continue;
    if (voters.has(id)) vb = add(vb, b);
    else (lb = add(lb, b), learners++);
  }
  const stale: number[] = [];
  let missing = 0;
  for (const [id, m] of appliedAt) {
    if (voters.has(id)) continue;
    for (const [i, t] of committedAt) {
      const a = m.get(i);
      if (a === undefined) missing++;
      else stale.push(Math.max(0, a - t));
    }
  }
  const calls: Record<string, number> = {};
  for (const [k, v] of Object.entries(leaderCallsAfter)) {
    const d = v - (leaderCallsBefore[k] ?? 0);
    if (d > 0) calls[k] = Math.round((d / Math.max(1, acked)) * 100) / 100;
  }
  return {
    n: opts.n,
    writes,
    acked,
    leader: per(net.get(leader.id)!, acked),
    voters: per(vb, acked),
    learners: per(lb, acked),
    perLearner: per(lb, acked * Math.max(1, learners)),
    leaderCallsByType: calls,
    staleness: { p50: percentile(stale, 50), p99: percentile(stale, 99), max: stale.length ? Math.max(...stale) : NaN, samples: stale.length, missing },
    latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
  };
}

/** A node's sent envelopes by `mod.type` (raft messages by their inner type), counted by the simulator. */
function callsByType(sim: Simulator, id: string): Record<string, number> {
  return { ...(sim.sentByType.get(id) ?? {}) };
}
