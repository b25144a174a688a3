// Partitions end to end in the simulator (test size; `npm run bench` runs 1,000 seeds at N = 12 and more
// at N = 100): see partitions.ts for the three checks.
import { describe, expect, test } from "vitest";
import { partitionRun, PARTITION_CFG } from "./partitions";
import { seeds, Simulator } from "./sim";

describe("partitions in the simulator", () => {
  test.each(seeds(Number(process.env.SIM_SEEDS ?? 24), 700))("seed %i: read-only within the bound, no minority acknowledgement, reconvergence after heal", (seed) => {
    const r = partitionRun(seed, 12);
    expect(r.violations, `seed ${seed}; replay SIM_SEED=${seed}`).toEqual([]);
    if (r.readOnlyRounds !== null) expect(r.readOnlyRounds).toBeLessThanOrEqual(r.boundRounds);
    expect(r.healRounds).not.toBeNull();
  });

  test("a link between the two sides flapping every round for 20 rounds changes no agent's mode more than twice", () => {
    const sim = new Simulator(9, { delayMinMs: 1, delayMaxMs: 10 });
    const ids = sim.createSwarm(12, PARTITION_CFG);
    sim.runFor(5000);
    const changes = new Map<string, number>();
    const last = new Map(ids.map((id) => [id, sim.nodes.get(id)!.core!.mode()]));
    sim.onEffects.push((node) => {
      const m = node.core?.mode();
      if (!m || m === last.get(node.id)) return;
      last.set(node.id, m);
      changes.set(node.id, (changes.get(node.id) ?? 0) + 1);
    });
    // The seed's split (5|7): the 5 side (one voter) flips between cut off and connected every round.
    for (let i = 0; i < 20; i++) {
      if (i % 2 === 0) sim.partition([ids.slice(0, 5), ids.slice(5)]);
      else sim.heal();
      sim.runFor(PARTITION_CFG.failure.heartbeatMs);
    }
    sim.heal();
    sim.runFor(5000);
    const worst = Math.max(0, ...changes.values());
    expect(worst).toBeLessThanOrEqual(2);
    expect(sim.live().every((n) => n.core!.mode() === "read-write")).toBe(true);
  });
});
