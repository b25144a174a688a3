// Partitions end to end in the simulator (shared by the tests, small, and `npm run bench`, 1,000 seeds):
// the real agent — SWIM, the log, the partition module — under a random partition (two-way, three-way,
// or one-way cuts) with a crash, while a client writes through random agents as the shell does (a
// read-only agent refuses at once; others propose or forward to the leader they know, over links that
// are up). Three checks:
//  1. safety: during the partition, no write is acknowledged by a leader that cannot reach a quorum of its
//     voters (both ways, by the simulator's ground truth), and once the read-only bound has passed no
//     write is even accepted on a side without a voter quorum;
//  2. every agent on a side without a voter quorum is read-only within R = hops + 2 rounds of the
//     partition, plus one round for the alarm's alignment (two-way and three-way splits);
//  3. after healing, every agent reconverges (everyone alive in everyone's view) and is read-write;
//     the time it takes is measured in rounds.

import { diameter } from "../../src/core/topology/analysis";
import { buildOverlay } from "../../src/core/topology/overlay";
import { Simulator, type SimNode } from "./sim";

export const PARTITION_CFG = {
  gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 }, consensus: { heartbeatMs: 100, electionMs: 500 },
};
const ROUND = 100;

export interface PartitionRun {
  kind: "two-way" | "three-way" | "one-way";
  violations: string[];
  /** Configured rounds from partition start until the last agent that must be read-only was (two/three-way). */
  readOnlyRounds: number | null;
  boundRounds: number;
  /** Rounds (of the probe period in force at the heal) until every agent is read-write and sees every live agent alive. */
  healRounds: number | null;
  /** The same in configured rounds (failure.heartbeatMs). */
  healBaseRounds: number | null;
  /** Rounds from heal until every agent is read-write (membership may still be converging). */
  rwRounds: number | null;
  acked: number;
  refused: number;
}

const quorum = (v: number) => Math.floor(v / 2) + 1;

export function partitionRun(seed: number, n: number): PartitionRun {
  const sim = new Simulator(seed, { delayMinMs: 1, delayMaxMs: 10, loss: 0.01 });
  sim.checkInvariants = n <= 12;
  const ids = sim.createSwarm(n, PARTITION_CFG);
  const r = sim.rng.fork();
  sim.runFor(3000);
  const violations: string[] = [];
  let acked = 0;
  let refused = 0;
  // Ground truth: which agents can talk both ways.
  let groups: string[][] | null = null;
  const oneWay: Array<[string, string]> = [];
  /** The voters as the current leader (the majority's, if several believe they lead) configures them. */
  const voters = (): string[] => {
    let best: { term: number; voters: string[] } | null = null;
    for (const x of sim.live()) {
      const s = x.core!.mods.raft.status();
      if (s?.role === "leader" && (!best || s.term > best.term)) best = { term: s.term, voters: s.voters };
    }
    return best?.voters ?? sim.live()[0]?.core!.mods.raft.status()?.voters ?? [];
  };
  const twoWay = (a: string, b: string) => {
    if (groups && groups.findIndex((g) => g.includes(a)) !== groups.findIndex((g) => g.includes(b))) return false;
    return !oneWay.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
  };
  let partitionAt = Infinity;
  // The client: writes through random agents.
  const pending: Array<{ node: string; index: number; term: number }> = [];
  let healAt = Infinity;
  let readOnlyBy = Infinity;
  /** After the read-only bound, a write must not even be accepted on a side without a voter quorum. */
  const accepted = (at: SimNode) => {
    if (sim.now < readOnlyBy || !groups) return;
    if (!reachesQuorum(at.id, voters())) violations.push(`t=${sim.now}: ${at.id} accepted a write on a side without a voter quorum`);
  };
  /** Each node's voter sets, latest first (a configuration change may be in flight at an acknowledgement). */
  const configs = new Map<string, string[][]>();
  const reachesQuorum = (at: string, vs: string[]) => vs.filter((x) => x === at || twoWay(at, x)).length >= quorum(vs.length);
  sim.onEffects.push((node: SimNode, fx) => {
    const vs = node.core?.mods.raft.status()?.voters;
    if (vs) {
      const list = configs.get(node.id) ?? [];
      if (!list.length || list[0].join() !== vs.join()) configs.set(node.id, [vs, ...list].slice(0, 2));
    }
    for (const o of fx.outputs) {
      if (o.mod !== "raft" || !o.key.startsWith("applied:")) continue;
      const index = Number(o.key.slice(8));
      for (let i = pending.length - 1; i >= 0; i--) {
        const p = pending[i];
        if (p.node !== node.id || p.index !== index) continue;
        pending.splice(i, 1);
        const v = o.value as { term: number; result: unknown };
        if (v.term !== p.term || !v.result) continue;
        acked++;
        // During the partition, the acknowledging leader must reach a quorum of its voters (of the
        // configuration in effect, or the one just replaced while a change is in flight).
        if (sim.now >= partitionAt && sim.now < healAt && !(configs.get(node.id) ?? []).some((c) => reachesQuorum(node.id, c))) {
          violations.push(`t=${sim.now}: ${node.id} acknowledged a write without a quorum of its voters in reach`);
        }
      }
    }
  });
  const write = () => {
    const live = sim.live();
    const entry = live[r.int(live.length)];
    if (!entry) return;
    if (entry.core!.mode() === "read-only") {
      refused++;
      return;
    }
    const propose = (at: SimNode) => {
      const { result, effects } = at.core!.run(sim.now, (m) => m.raft.propose("kv", { op: "put", ns: "p", key: `k${r.int(5)}`, value: sim.now, expiresAt: null, at: sim.now }));
      sim.handle(at, effects);
      return result;
    };
    accepted(entry);
    const p = propose(entry);
    if (p.ok) return void pending.push({ node: entry.id, index: p.index, term: p.term });
    const leader = p.leader ? sim.nodes.get(p.leader) : undefined;
    if (!leader?.core || !twoWay(entry.id, leader.id)) return; // the forward is lost (or refused): the client retries later
    if (leader.core.mode() === "read-only") return void refused++;
    const q = propose(leader);
    if (q.ok) pending.push({ node: leader.id, index: q.index, term: q.term });
  };
  for (let t = 0; t < 60; t++) sim.at(sim.now + t * 50, write);
  sim.runFor(3000);

  // The fault: a partition of some kind, and a crash.
  const kinds = ["two-way", "three-way", "one-way"] as const;
  const kind = kinds[r.int(kinds.length)];
  const shuffled = r.shuffle(ids.slice());
  if (kind === "two-way") {
    const k = 1 + r.int(n - 1);
    groups = [shuffled.slice(0, k), shuffled.slice(k)];
    sim.partition(groups);
  } else if (kind === "three-way") {
    const a = 1 + r.int(n - 2);
    const b = a + 1 + r.int(n - a - 1);
    groups = [shuffled.slice(0, a), shuffled.slice(a, b), shuffled.slice(b)];
    sim.partition(groups);
  } else {
    for (let i = 0; i < Math.max(2, n / 4); i++) {
      const x = ids[r.int(n)];
      const y = ids[r.int(n)];
      if (x === y) continue;
      sim.cutLink(x, y);
      oneWay.push([x, y]);
    }
  }
  partitionAt = sim.now;
  const crashed = r.chance(0.5) ? shuffled[r.int(n)] : null;
  if (crashed) sim.crash(crashed);
  for (let t = 0; t < 100; t++) sim.at(sim.now + t * 50, write);

  // Check 2: the sides without a voter quorum go read-only within the bound: hops + 2 rounds of the
  // probe period in force when the partition began (a quiet swarm's rounds are stretched up to 3×), plus one.
  const hops = diameter(buildOverlay(ids));
  const period = Math.max(...sim.live().map((x) => x.core!.mods.membership.stretch() * PARTITION_CFG.failure.heartbeatMs));
  const boundRounds = ((hops + 3) * period) / ROUND;
  readOnlyBy = partitionAt + boundRounds * ROUND;
  let readOnlyRounds: number | null = null;
  if (groups) {
    const vs = voters();
    const mustBeReadOnly = groups.filter((g) => g.filter((id) => vs.includes(id)).length < quorum(vs.length)).flat().filter((id) => id !== crashed);
    const t = sim.runUntilTrue(() => mustBeReadOnly.every((id) => sim.nodes.get(id)!.core?.mode() === "read-only"), 60_000, 5);
    readOnlyRounds = t === null ? null : (t - partitionAt) / ROUND;
    if (t === null) violations.push(`sides without a voter quorum never all went read-only`);
  }
  sim.runUntil(partitionAt + 5000);

  // Heal (restart the crashed agent first): everyone reconverges and is read-write. Rounds are counted
  // in the probe period in force at the heal (a quiet swarm's rounds are stretched up to 3×) and in
  // configured rounds.
  const healPeriod = Math.max(...sim.live().map((x) => x.core!.mods.membership.stretch() * PARTITION_CFG.failure.heartbeatMs));
  if (crashed) sim.restart(crashed);
  sim.heal();
  healAt = sim.now;
  const rw = sim.runUntilTrue(() => sim.live().every((x) => x.core!.mode() === "read-write"), 60_000, 5);
  const rwRounds = rw === null ? null : (rw - healAt) / healPeriod;
  const t = sim.runUntilTrue(
    () => sim.live().length === n && sim.converged() && sim.live().every((x) => x.core!.mode() === "read-write"),
    60_000,
    5,
  );
  const healRounds = t === null ? null : (t - healAt) / healPeriod;
  const healBaseRounds = t === null ? null : (t - healAt) / ROUND;
  if (t === null) violations.push(`no reconvergence within 60 s of healing`);
  return { kind, violations, readOnlyRounds, boundRounds, healRounds, healBaseRounds, rwRounds, acked, refused };
}


