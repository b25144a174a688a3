import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { buildOverlay } from "../../src/core/topology/overlay";
import { analyze, connectedWithout } from "../../src/core/topology/analysis";

const ids = (n: number, prefix = "agent-") => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

describe("overlay: deterministic 3–5 peer connections with redundant paths", () => {
  test("12 agents: degree 3–5, connected, no bridges, survives any single removal", () => {
    const g = buildOverlay(ids(12));
    const s = analyze(g);
    expect(s.degree.min).toBeGreaterThanOrEqual(3);
    expect(s.degree.max).toBeLessThanOrEqual(5);
    expect(s.connected).toBe(true);
    expect(s.bridges).toBe(0);
    expect(s.articulationPoints).toBe(0);
    for (const id of g.keys()) expect(connectedWithout(g, id)).toBe(true);
  });

  test("property: any member set of 4..300 random ids gives degree 3–5 and no cut vertex", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,12}$/), { minLength: 4, maxLength: 300 }),
        (members) => {
          const s = analyze(buildOverlay(members));
          return s.degree.min >= 3 && s.degree.max <= 5 && s.connected && s.bridges === 0 && s.articulationPoints === 0;
        },
      ),
      { numRuns: 300 },
    );
  });

  test("symmetric and order-independent: every agent computes the same graph", () => {
    const a = buildOverlay(ids(40));
    const b = buildOverlay(ids(40).reverse());
    for (const [u, vs] of a) {
      expect(Array.from(vs).sort()).toEqual(Array.from(b.get(u)!).sort());
      for (const v of vs) expect(a.get(v)!.has(u)).toBe(true);
    }
  });

  test("diameter grows like log n, not n (1,000 agents: ≤ 12)", () => {
    const s = analyze(buildOverlay(ids(1000)));
    expect(s.degree.min).toBeGreaterThanOrEqual(3);
    expect(s.degree.max).toBeLessThanOrEqual(5);
    expect(s.diameter!).toBeLessThanOrEqual(12);
  });

  test("a join changes only a few edges", () => {
    const before = buildOverlay(ids(100));
    const after = buildOverlay([...ids(100), "newcomer"]);
    let changed = 0;
    for (const [u, vs] of before) {
      const now = after.get(u)!;
      for (const v of vs) if (!now.has(v)) changed++;
      for (const v of now) if (!vs.has(v) && v !== "newcomer") changed++;
    }
    expect(changed / 2).toBeLessThanOrEqual(20);
  });

  test("tiny swarms: n-1 peers below 4 agents", () => {
    expect(analyze(buildOverlay(ids(1))).degree.max).toBe(0);
    expect(analyze(buildOverlay(ids(2))).degree.min).toBe(1);
    expect(analyze(buildOverlay(ids(3))).degree.min).toBe(2);
  });
});
