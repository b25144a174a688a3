import { describe, expect, test } from "vitest";
import { PbftHarness } from "./pbft-harness";

describe("pbft: normal case", () => {
  test("n=4, no faults: requests commit and execute in the same order everywhere", () => {
    const h = new PbftHarness({ seed: 1, n: 4 });
    h.run(200);
    console.log(h.counts, h.latencies.slice(0, 10));
    expect(h.counts.completed).toBeGreaterThan(20);
  });
});
