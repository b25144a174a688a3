// Seeded byzantine fault runs, a few seeds per n in `npm test` (the ≥ 1,000-seed runs are in
// `npm run bench`: pbftBench / runPbftSeeds in test/core/pbft-bench.ts). PBFT_SEEDS overrides the count.
import { describe, expect, test } from "vitest";
import { runPbftSeeds } from "./pbft-harness";

const scale = process.env.PBFT_SEEDS ? Number(process.env.PBFT_SEEDS) : null;

describe("pbft: seeded runs with up to f byzantine replicas (Twins included), drops, delays, duplicates, partitions, crash-restarts", () => {
  for (const [n, seeds] of [[4, 12], [7, 6], [10, 3]] as const) {
    const count = scale ?? seeds;
    test(`n=${n}, ${count} seeds: no safety violation at any step; every request completes after faults stop; view changes happen`, () => {
      const s = runPbftSeeds({ n, seeds: count });
      expect(s.failures).toEqual([]);
      expect(s.safetyViolations).toBe(0);
      expect(s.livenessFailures).toBe(0);
      expect(s.seedsWithViewChange).toBe(count);
      expect(s.viewChanges).toBeGreaterThanOrEqual(count);
      expect(s.completed).toBeGreaterThan(count * 10);
    });
  }

  test("n=5 (not 3f+1: quorum ⌈(n+f+1)/2⌉ = 4), 3 seeds", () => {
    const s = runPbftSeeds({ n: 5, seeds: scale ?? 3 });
    expect(s.failures).toEqual([]);
  });

  test("n=4, driven by alarms: each replica ticks only when ticksUntilAction() says (as a Durable Object shell would)", () => {
    const count = scale ?? 6;
    const s = runPbftSeeds({ n: 4, seeds: count, firstSeed: 101, sleepy: true });
    expect(s.failures).toEqual([]);
    expect(s.completed).toBeGreaterThan(count * 10);
  });
});
