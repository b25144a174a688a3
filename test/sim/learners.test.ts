// Learners off the leader's path (issue #14), in the simulator with the real agent: the leader's calls
// per write stay at (voters − 1) + ROOT_FANOUT whatever the swarm's size, every learner applies every
// write through the spreading tree, a learner that missed pushes (crashed, or its parent dead) catches
// up by pulling, and the State Machine Safety check (sim.ts invariant 5) catches a learner that applied
// a different entry. Sizes stay small here; `npm run bench -- --only write-cost` runs 100–1,000 agents.
import { describe, expect, test } from "vitest";
import type { KvStore } from "../../src/core/memory/kv";
import { ROOT_FANOUT } from "../../src/core/raft/module";
import { writeCost } from "./learners";
import { Simulator, type SimNode } from "./sim";

const FAST = {
  gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 },
  consensus: { voters: 5, heartbeatMs: 100, electionMs: 500 },
};

const leaderOf = (sim: Simulator): SimNode | null => sim.live().find((x) => x.core!.mods.raft.status()?.role === "leader") ?? null;

function put(sim: Simulator, leader: SimNode, key: string, value: unknown): void {
  const { result, effects } = leader.core!.run(sim.now, (m) => m.raft.propose("kv", { op: "put", ns: "n", key, value, expiresAt: null, at: sim.now }));
  expect(result.ok).toBe(true);
  sim.handle(leader, effects);
}

/**
 * 30 agents with SWIM rounds of 2 s (a pull, after a neighbour was seen ahead for a round, would take
 * seconds; the batch interval at 30 members is 150 ms), settled, and one learner crashed.
 */
function learnerDown(seed: number) {
  const sim = new Simulator(seed, { delayMinMs: 1, delayMaxMs: 10 });
  const ids = sim.createSwarm(30, { ...FAST, failure: { heartbeatMs: 2000, timeoutMs: 20_000 } });
  sim.runFor(8000);
  const leader = leaderOf(sim)!;
  const learner = ids.find((id) => !leader.core!.mods.raft.status()!.voters.includes(id))!;
  sim.crash(learner);
  const resends = () => sim.live().reduce((s, n) => s + (n.core!.counters()["raft.resends"] ?? 0), 0);
  return { sim, leader, learner, resends };
}

describe("learners off the leader's path", () => {
  test("at the defaults, N=40: the leader sends voters − 1 appends + ROOT_FANOUT pushes per write; every learner applies every write", () => {
    const r = writeCost({ n: 40, seed: 3, writes: 15 });
    expect(r.acked).toBe(15);
    expect(r.staleness.missing).toBe(0);
    expect(r.leaderCallsByType["raft.app"]).toBeLessThanOrEqual(4);
    expect((r.leaderCallsByType["raft.app"] ?? 0) + (r.leaderCallsByType["raft.learn"] ?? 0)).toBeLessThanOrEqual(4 + ROOT_FANOUT);
    // Everything the leader sent in the window (gossip included), against the bound: voters + 2.
    expect(r.leader.peerCalls).toBeLessThanOrEqual(5 + 2);
  });

  test("pushes down the tree are paced: a stream of writes costs a learner one call per batch interval, not one per write", () => {
    // 40 members: the default interval is 40 × 5 = 200 ms; writes every ~20 ms (20 ms apart after each commit).
    const paced = writeCost({ n: 40, seed: 4, writes: 30 });
    const unpaced = writeCost({ n: 40, seed: 4, writes: 30, config: { consensus: { learnerBatchMs: 0 } } });
    for (const r of [paced, unpaced]) {
      expect(r.acked).toBe(30);
      expect(r.staleness.missing).toBe(0);
    }
    // Unpaced, the leader pushes every write to its ROOT_FANOUT children; paced, a batch at most every 200 ms.
    expect(unpaced.leaderCallsByType["raft.learn"]).toBeGreaterThanOrEqual(ROOT_FANOUT);
    expect(paced.leaderCallsByType["raft.learn"]).toBeLessThanOrEqual(ROOT_FANOUT / 3);
    // The learners' own calls (passing batches on) fall by the batch factor; their rows (one log row and
    // one state row per write, the applied index once per batch) much less.
    expect(paced.learners.peerCalls).toBeLessThan(unpaced.learners.peerCalls / 3);
    expect(paced.learners.total).toBeLessThan(unpaced.learners.total * 0.6);
    // Staleness: at most the batch interval plus a call (≤ 10 ms in this simulator) per level of the tree
    // (depth ≤ 4 at 40 members with fan-outs 2 and 4); unpaced, about the depth in calls.
    expect(paced.staleness.max).toBeLessThanOrEqual(200 + 4 * 10);
    expect(unpaced.staleness.max).toBeLessThanOrEqual(4 * 10);
  });

  test("a learner that was down, and the children of a crashed agent, catch up by pulling by index", () => {
    const sim = new Simulator(21, { delayMinMs: 1, delayMaxMs: 10 });
    const ids = sim.createSwarm(30, FAST);
    sim.runFor(3000);
    const leader = leaderOf(sim)!;
    const learners = ids.filter((id) => !leader.core!.mods.raft.status()!.voters.includes(id));
    const [down, dead] = [learners[0], learners[1]];
    sim.crash(down);
    sim.crash(dead);
    for (let i = 0; i < 5; i++) (put(sim, leader, `k${i}`, i), sim.runFor(50));
    sim.restart(down);
    // Pushes to `down` were lost and `dead` passed nothing on; within a few gossip rounds (100 ms) all
    // live agents hold every write.
    sim.runFor(1500);
    const last = leader.core!.mods.raft.appliedIndex();
    for (const n of sim.live()) {
      expect(n.core!.mods.raft.appliedIndex(), n.id).toBe(last);
      expect(n.core!.mods.raft.machine<KvStore>("kv")!.get("n", "k4", sim.now)?.value, n.id).toBe(4);
    }
    const pulls = sim.live().reduce((s, n) => s + (n.core!.counters()["raft.pulls"] ?? 0), 0);
    expect(pulls).toBeGreaterThan(0);
  });

  test("a push the platform reports as failed is sent again from its index: a learner back within a few intervals catches up without a pull", () => {
    const { sim, leader, learner, resends } = learnerDown(31);
    for (let i = 0; i < 3; i++) (put(sim, leader, `r${i}`, i), sim.runFor(20));
    sim.runFor(300); // the pushes to it were refused, and sent again (refused again) while it was down
    sim.restart(learner);
    sim.runFor(700);
    const node = sim.nodes.get(learner)!.core!;
    expect(node.mods.raft.appliedIndex()).toBe(leader.core!.mods.raft.appliedIndex());
    expect(node.mods.raft.machine<KvStore>("kv")!.get("n", "r2", sim.now)?.value).toBe(2);
    expect(node.counters()["raft.pulls"] ?? 0).toBe(0);
    expect(resends()).toBeGreaterThan(0);
  });

  test("pushes to a child that stays down are sent again less and less often (the wait doubles per failure)", () => {
    const { sim, leader, resends } = learnerDown(32);
    const before = resends();
    put(sim, leader, "gone", 1);
    // 3 s, interval 150 ms: tries after 150, 300, 600 and 1,200 ms more (2.25 s in all) — 20 at a fixed interval.
    sim.runFor(3000);
    expect(resends() - before).toBeGreaterThanOrEqual(3);
    expect(resends() - before).toBeLessThanOrEqual(5);
  });

  test("the State Machine Safety check catches a learner applying another entry at a committed index", () => {
    const sim = new Simulator(5, { delayMinMs: 1, delayMaxMs: 10 });
    const ids = sim.createSwarm(8, FAST);
    sim.runFor(2000);
    const leader = leaderOf(sim)!;
    put(sim, leader, "k", "real");
    sim.runFor(500);
    const learner = ids.find((id) => !leader.core!.mods.raft.status()!.voters.includes(id))!;
    const node = sim.nodes.get(learner)!;
    const st = node.core!.mods.raft.status()!;
    // A forged push: the next index, claiming to be committed at a term no leader ever had.
    const i = st.commitIndex + 1;
    const forged = {
      v: 2, swarm: node.core!.meta.swarm, from: leader.id, to: learner, mod: "raft", type: "tree",
      msg: { type: "learn", root: leader.id, term: st.term, commit: i, commitTerm: 999, entries: [{ index: i, term: 999, kind: "noop" }] },
    };
    expect(() => {
      sim.handle(node, node.core!.receive(forged, sim.now));
      put(sim, leader, "k", "next");
      sim.runFor(500);
    }).toThrow(/applied index/);
  });
});
