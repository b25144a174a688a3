import { describe, expect, test } from "vitest";
import { analyze, undirected } from "../../src/core/topology/analysis";
import { seeds, Simulator } from "./sim";

const MEMBERSHIP_ONLY = { consensus: { voters: 0 } };
const fast = (ms: number) => ({ gossip: { intervalMs: ms }, failure: { heartbeatMs: ms, timeoutMs: 10 * ms }, ...MEMBERSHIP_ONLY });

function peerGraphOk(sim: Simulator) {
  const adj = new Map<string, string[]>();
  for (const n of sim.live()) adj.set(n.id, n.core!.mods.membership.peers());
  const { g, asymmetric } = undirected(adj);
  return { stats: analyze(g, asymmetric), adj };
}

describe("simulator: determinism", () => {
  const scenario = (seed: number) => {
    const sim = new Simulator(seed, { loss: 0.05, duplicate: 0.02, delayMaxMs: 30 });
    sim.createSwarm(20, fast(100));
    sim.runFor(2000);
    sim.crash("agent-3");
    sim.join("newcomer", ["agent-1"], fast(100));
    sim.runFor(3000);
    sim.restart("agent-3");
    sim.runFor(2000);
    return sim.trace();
  };

  test("the same seed gives the same trace twice; another seed a different one", () => {
    const a = scenario(42);
    const b = scenario(42);
    const c = scenario(43);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });
});

describe("membership view: statusSince", () => {
  test("each agent records when it set a member's status (suspect, then dead), within the times it happened", () => {
    const sim = new Simulator(11, { delayMinMs: 1, delayMaxMs: 10 });
    const ids = sim.createSwarm(8, fast(100));
    sim.runFor(3000);
    const since = (viewer: string) =>
      (sim.nodes.get(viewer)!.core!.mods.membership.describe().membership as Array<{ agentId: string; status: string; statusSince: number | null }>)
        .find((m) => m.agentId === "agent-3")!;
    const others = ids.filter((a) => a !== "agent-3");
    const t0 = sim.now;
    sim.crash("agent-3");
    const tSuspect = sim.runUntilTrue(() => others.some((a) => sim.statusAt(a, "agent-3") === "suspect"), 30_000, 1);
    expect(tSuspect).not.toBeNull();
    const first = others.find((a) => sim.statusAt(a, "agent-3") === "suspect")!;
    expect(since(first)).toMatchObject({ status: "suspect", statusSince: tSuspect });
    const tDead = sim.runUntilTrue(() => others.every((a) => sim.statusAt(a, "agent-3") === "dead"), 30_000, 1);
    expect(tDead).not.toBeNull();
    for (const a of others) {
      const m = since(a);
      expect(m.status).toBe("dead");
      expect(m.statusSince).toBeGreaterThan(t0);
      expect(m.statusSince).toBeGreaterThanOrEqual(tSuspect!);
      expect(m.statusSince).toBeLessThanOrEqual(tDead!);
    }
    // The last agent to learn it set the status at the moment every agent held it dead.
    expect(Math.max(...others.map((a) => since(a).statusSince!))).toBe(tDead);
  });
});

describe("simulator: scale", () => {
  // 300 agents in npm test (the invariant checks run after every event); `npm run bench -- --only
  // sim-scale` runs 1,000, and SIM_SCALE=1000 runs this test at that size.
  const N = Number(process.env.SIM_SCALE ?? 300);
  test(`${N} agents for 100 rounds with churn and 1% loss converge (1,000: npm run bench -- --only sim-scale)`, () => {
    const sim = new Simulator(7, { loss: 0.01, delayMaxMs: 20 });
    sim.checkInvariants = true;
    const ids = sim.createSwarm(N, fast(N));
    // Churn during the first half: joins, graceful leaves, crash-restarts.
    sim.at(10_000, () => sim.join("joiner-1", ["agent-10", "agent-20"], fast(N)));
    sim.at(15_000, () => sim.nodes.get("agent-150")!.core && sim.crash("agent-150"));
    sim.at(20_000, () => {
      const n = sim.nodes.get("agent-77")!;
      // graceful leave
      const fx = n.core!.leave(sim.now);
      sim.handle(n, fx);
    });
    sim.at(35_000, () => sim.restart("agent-150"));
    sim.at(40_000, () => sim.join("joiner-2", [`agent-${N - 1}`], fast(N)));
    sim.runUntil(100_000); // 100 rounds of 1 s
    expect(ids.length).toBe(N);
    expect(sim.converged()).toBe(true);
    const { stats } = peerGraphOk(sim);
    expect(stats.nodes).toBe(N + 1); // N + 2 joiners − 1 leaver
    expect(stats.degree.min).toBeGreaterThanOrEqual(3);
    expect(stats.degree.max).toBeLessThanOrEqual(5);
    expect(stats.connected).toBe(true);
    expect(stats.bridges).toBe(0);
    expect(stats.asymmetricEdges).toBe(0);
  });
});

describe("simulator: seeded fault scenarios (safety phase with faults, then a healed liveness phase)", () => {
  test.each(seeds(Number(process.env.SIM_SEEDS ?? 8)))("seed %i: loss, duplication, reordering, partitions (symmetric and not), crash-restart", (seed) => {
    const sim = new Simulator(seed, { loss: 0.05, duplicate: 0.05, delayMinMs: 1, delayMaxMs: 80 });
    const ids = sim.createSwarm(30, fast(100));
    const r = sim.rng.fork();
    // Safety phase: faults from the seed; invariants are checked after every event.
    for (let phase = 0; phase < 6; phase++) {
      const pick = () => ids[r.int(ids.length)];
      switch (r.int(4)) {
        case 0: {
          const cut = r.shuffle(ids.slice());
          sim.partition([cut.slice(0, 10), cut.slice(10)]);
          break;
        }
        case 1:
          for (let i = 0; i < 5; i++) sim.cutLink(pick(), pick());
          break;
        case 2: {
          const v = pick();
          sim.crash(v);
          sim.at(sim.now + 1500, () => sim.restart(v));
          break;
        }
        case 3:
          sim.stall(pick(), 250);
          break;
      }
      sim.runFor(1000);
    }
    // Liveness phase: heal, restart everyone; the swarm converges on one membership and a sound overlay.
    sim.heal();
    for (const id of ids) sim.restart(id);
    sim.net.loss = 0;
    const t = sim.runUntilTrue(() => sim.converged(), 30_000, 50);
    expect(t, `seed ${seed}: no convergence after healing`).not.toBeNull();
    const { stats } = peerGraphOk(sim);
    expect(stats.degree.min).toBeGreaterThanOrEqual(3);
    expect(stats.degree.max).toBeLessThanOrEqual(5);
    expect(stats.bridges).toBe(0);
    expect(stats.connected).toBe(true);
  });

  test("an agent that joins through one seed learns the whole swarm, and the swarm learns it", () => {
    const sim = new Simulator(11, { delayMaxMs: 20 });
    const ids = sim.createSwarm(50, fast(100));
    sim.runFor(500);
    sim.join("newcomer", ["agent-17"], fast(100));
    const t = sim.runUntilTrue(() => sim.converged(), 5000, 10);
    expect(t).not.toBeNull();
    expect(sim.nodes.get("newcomer")!.core!.mods.membership.liveIds().length).toBe(ids.length + 1);
  });
});
