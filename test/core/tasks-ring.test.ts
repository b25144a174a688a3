import { describe, expect, test } from "vitest";
import { Rendezvous, VnodeRing } from "../../src/core/tasks/ring";
import { formatRingTable, ringTable } from "./tasks-ring-bench";

const members = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `agent-${i}` }));

describe("rendezvous placement", () => {
  test("holders are distinct, rank-ordered, and independent of the order members are listed in", () => {
    const a = new Rendezvous(members(30));
    const b = new Rendezvous(members(30).reverse());
    for (let i = 0; i < 200; i++) {
      const h = a.holders(`t${i}`, 3);
      expect(new Set(h).size).toBe(3);
      expect(b.holders(`t${i}`, 3)).toEqual(h);
      expect(a.home(`t${i}`)).toBe(h[0]);
      expect(a.holders(`t${i}`, 5).slice(0, 3)).toEqual(h);
    }
  });

  test("a join takes only keys the newcomer wins; a leave moves only the leaver's keys", () => {
    const base = new Rendezvous(members(20));
    const plus = new Rendezvous([...members(20), { id: "newcomer" }]);
    const minus = new Rendezvous(members(20).filter((m) => m.id !== "agent-7"));
    for (let i = 0; i < 2000; i++) {
      const k = `task-${i}`;
      const before = base.home(k);
      const after = plus.home(k);
      if (after !== before) expect(after).toBe("newcomer");
      if (before !== "agent-7") expect(minus.home(k)).toBe(before);
      // Replica sets: the survivors keep their relative order.
      expect(minus.holders(k, 3)).toEqual(base.holders(k, 4).filter((x) => x !== "agent-7").slice(0, 3));
    }
  });

  test("weights by slots: a member with weight 3 is home to about three times the keys", () => {
    const r = new Rendezvous([{ id: "big", weight: 3 }, { id: "small-1", weight: 1 }, { id: "small-2", weight: 1 }]);
    const count = new Map<string, number>();
    for (let i = 0; i < 30_000; i++) {
      const h = r.home(`k${i}`)!;
      count.set(h, (count.get(h) ?? 0) + 1);
    }
    // Expected shares 3/5, 1/5, 1/5.
    expect(count.get("big")! / 30_000).toBeGreaterThan(0.57);
    expect(count.get("big")! / 30_000).toBeLessThan(0.63);
    expect(count.get("small-1")! / 30_000).toBeGreaterThan(0.18);
  });

  test("the vnode ring's arc shares sum to 1", () => {
    const shares = new VnodeRing(members(10), 50).arcShares();
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });
});

describe("placement table (fast subset of ringTable, the bench runs N = 12, 100, 1,000)", () => {
  const rows = ringTable({ sizes: [12, 100], keysPerAgent: 400, trials: 2 });
  console.log(formatRingTable(rows));

  test("rendezvous: max/mean ≤ 1.25 and moved keys ≤ 1.2 × the optimum on joins and leaves", () => {
    for (const r of rows.filter((x) => x.scheme.startsWith("rendezvous"))) {
      expect(r.primaryMaxMean, `N=${r.n}`).toBeLessThanOrEqual(1.25);
      expect(r.replicaMaxMean, `N=${r.n}`).toBeLessThanOrEqual(1.25);
      expect(r.joinMovedRatio, `N=${r.n}`).toBeLessThanOrEqual(1.2);
      expect(r.leaveMovedRatio, `N=${r.n}`).toBeLessThanOrEqual(1.2);
      expect(r.replicaSetMovedRatio, `N=${r.n}`).toBeLessThanOrEqual(1.2);
    }
  });

  test("the table has the comparison rows, measured on the same keys", () => {
    expect(rows.map((r) => r.scheme.split(" ")[0])).toEqual(["rendezvous", "vnode", "bounded", "rendezvous", "vnode", "bounded"]);
    for (const r of rows) expect(r.keys).toBe(r.n * 400);
    // Bounded loads caps every agent at ⌈1.25·mean⌉ by construction.
    for (const r of rows.filter((x) => x.scheme.startsWith("bounded"))) expect(r.primaryMaxMean).toBeLessThanOrEqual(Math.ceil(1.25 * 400) / 400);
  });
});
