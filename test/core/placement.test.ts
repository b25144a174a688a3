import { describe, expect, test } from "vitest";
import {
  binom, churnPerEvent, idleCallsPerHour, largerSideQuorumCount, placementStudy, placeVoters, scoreVoters,
} from "../../src/core/partition/placement";
import { hamiltonianCycle } from "../../src/core/topology/overlay";
import { Rng } from "../../src/core/rng";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `agent-${i + 1}`);

describe("voter placement: exact split counts", () => {
  test("5 voters: the 7-side of a 5|7 split holds a quorum in 546 of the C(12,5) = 792 splits, for every placement", () => {
    expect(binom(12, 5)).toBe(792);
    expect(largerSideQuorumCount(12, 5, 5)).toEqual({ splits: 792, withQuorum: 546 });
    const rng = new Rng(4);
    const placements = [ids(5), placeVoters({ kind: "hashed", voters: 5 }, ids(12)), placeVoters({ kind: "spread", voters: 5 }, ids(12))];
    for (let i = 0; i < 5; i++) placements.push(rng.sample(ids(12), 5));
    for (const v of placements) expect(scoreVoters(ids(12), v).split57 * 792).toBeCloseTo(546, 6);
  });

  test("more voters raise it (7: 596, 9: 666, 11: all), an even count lowers it (6: 396)", () => {
    expect(largerSideQuorumCount(12, 5, 7).withQuorum).toBe(596);
    expect(largerSideQuorumCount(12, 5, 9).withQuorum).toBe(666);
    expect(largerSideQuorumCount(12, 5, 11).withQuorum).toBe(792);
    expect(largerSideQuorumCount(12, 5, 6).withQuorum).toBe(396);
  });

  test("6|6: with an odd voter count one side always holds a quorum; with all 12 voting, neither ever does", () => {
    expect(scoreVoters(ids(12), ids(5)).split66Some).toBe(1);
    expect(scoreVoters(ids(12), ids(12)).split66Some).toBe(0);
  });

  test("correlated splits are where placement matters: first-n loses creation-order splits that hashed keeps", () => {
    const first = scoreVoters(ids(12), ids(5));
    const hashed = scoreVoters(ids(12), placeVoters({ kind: "hashed", voters: 5 }, ids(12)));
    expect(hashed.creationOrder).toBeGreaterThan(first.creationOrder);
    // The split of the observed run: agents 1–5 | 6–12 is a creation-order split; first-n loses it.
    expect(hashed.randomMajority).toBe(first.randomMajority); // uniform families do not care
  });
});

describe("voter placement: strategies", () => {
  test("first and hashed pick the set size asked; all≤c rounds down to an odd count", () => {
    expect(placeVoters({ kind: "first", voters: 5 }, ids(12))).toEqual(ids(5).sort());
    expect(placeVoters({ kind: "hashed", voters: 5 }, ids(12))).toHaveLength(5);
    expect(placeVoters({ kind: "all", cap: 9 }, ids(12))).toHaveLength(9);
    expect(placeVoters({ kind: "all", cap: 9 }, ids(8))).toHaveLength(7);
    expect(placeVoters({ kind: "all", cap: 1000, odd: false }, ids(12))).toHaveLength(12);
  });

  test("hashed is stable: a join or a leave changes at most one voter", () => {
    const s = { kind: "hashed", voters: 5 } as const;
    let members = ids(12);
    const rng = new Rng(9);
    let cur = placeVoters(s, members);
    for (let i = 0; i < 100; i++) {
      const gone = members[rng.int(members.length)];
      members = rng.chance(0.5) && members.length > 6 ? members.filter((m) => m !== gone) : [...members, `agent-${100 + i}`];
      const next = placeVoters(s, members);
      expect(next.filter((v) => !cur.includes(v)).length).toBeLessThanOrEqual(1);
      cur = next;
    }
    expect(churnPerEvent(s)).toBeLessThan(churnPerEvent({ kind: "spread", voters: 5 }));
  });

  test("spread places the voters equally around the overlay's Hamiltonian cycle", () => {
    const members = ids(12);
    const cycle = hamiltonianCycle(members);
    const voters = placeVoters({ kind: "spread", voters: 4 }, members);
    const pos = voters.map((v) => cycle.indexOf(v)).sort((a, b) => a - b);
    const gaps = pos.map((p, i) => (i + 1 < pos.length ? pos[i + 1] - p : pos[0] + 12 - p));
    expect(gaps).toEqual([3, 3, 3, 3]);
  });

  test("idle cost: leader → voter heartbeats each interval, learners one in ten", () => {
    expect(idleCallsPerHour(5, 12, { heartbeatMs: 3000 })).toBe(4 * 1200 + 7 * 120);
    expect(idleCallsPerHour(7, 12, { heartbeatMs: 3000 })).toBe(6 * 1200 + 5 * 120);
    expect(idleCallsPerHour(12, 12, { heartbeatMs: 1000 })).toBe(11 * 3600);
  });

  test("the study's rows (8 agents, two strategies): one row each, scores in [0, 1]", () => {
    const rows = placementStudy({ n: 8, strategies: [{ kind: "first", voters: 3 }, { kind: "hashed", voters: 3 }] });
    expect(rows.map((r) => r.strategy)).toEqual(["first 3", "hashed 3"]);
    for (const r of rows) {
      for (const k of ["split57", "split66Some", "randomMajority", "threeWaySome", "creationOrder", "cycleArcs"] as const) {
        expect(r[k]).toBeGreaterThanOrEqual(0);
        expect(r[k]).toBeLessThanOrEqual(1);
      }
      // 3|5 splits of 8: the 5-side holds ≥ 2 of 3 voters in C(3,2)C(5,3)+C(3,3)C(5,2) = 40 of C(8,3) = 56.
      expect(r.split57 * 56).toBeCloseTo(40, 6);
    }
  });
});
