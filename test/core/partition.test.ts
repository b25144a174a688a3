import { describe, expect, test } from "vitest";
import { ReachTracker, type ReachDigest, type ReachOptions } from "../../src/core/partition/reach";
import { validReachDigest } from "../../src/core/partition/validate";
import { checkSettled, expectedModes, ReachNet } from "./partition-net";
import { randomPartitionTrial } from "./partition-bench";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `agent-${i + 1}`);
const P = 1000;

function tracker(over: Partial<ReachOptions> = {}): ReachTracker {
  // hops 3 → stale after 4 rounds, window 5 rounds.
  return new ReachTracker({ self: "agent-1", now: 0, periodMs: P, hops: 3, members: ids(12), voters: ids(5), ...over });
}

describe("reach tracker: evidence and the voter quorum", () => {
  test("timing: stale after hops + 1 rounds, window one round more, R = hops + 2", () => {
    expect(tracker().timing()).toEqual({ periodMs: P, staleMs: 4 * P, windowMs: 5 * P, rounds: 5 });
  });

  test("new members get one window of benefit of the doubt; then only fresh round trips count, self included", () => {
    const t = tracker();
    t.tick(100);
    expect(t.mode()).toBe("read-write");
    expect(t.status(4999).reachableVoters).toHaveLength(5);
    t.tick(5000); // nobody heard from for a window: only self
    expect(t.status(5000).reachableVoters).toEqual(["agent-1"]);
    expect(t.mode()).toBe("read-only");
    t.heard("agent-2", 5000, "ack");
    t.heard("agent-3", 5000, "indirect");
    t.tick(5000);
    const s = t.status(5000);
    expect(s.reachableVoters).toEqual(["agent-1", "agent-2", "agent-3"]);
    expect(s.voterQuorum).toBe(true);
    expect(s.memberMajority).toBe(false); // 3 of 12
    expect(t.mode()).toBe("read-only"); // the hold: 2 rounds of quorum before going back
    t.heard("agent-2", 6500, "ack");
    t.heard("agent-3", 6500, "ack");
    t.tick(6999);
    expect(t.mode()).toBe("read-only");
    t.tick(7000);
    expect(t.mode()).toBe("read-write"); // a voter quorum with a minority of members may write (rule "voters")
  });

  test("inbound news alone does not make a voter reachable: me → voter needs a round trip or its report", () => {
    const t = tracker();
    t.heard("agent-2", 5000, "envelope");
    t.heard("agent-3", 5000, "envelope");
    // Heard from, direction back unconfirmed: probe them (a round trip would settle it).
    expect(t.tick(5000).probe).toEqual(expect.arrayContaining(["agent-2", "agent-3"]));
    expect(t.status(5000).reachableMembers).toEqual(["agent-1", "agent-2", "agent-3"]);
    expect(t.status(5000).reachableVoters).toEqual(["agent-1"]);
    // agent-2's hearing report, fresh and without agent-1: agent-2 hears us.
    t.merge("agent-2", { e: [["agent-2", 10, 0]], d: [["agent-2", 10, 0, [], 0]] }, 5100);
    expect(t.status(5100).reachableVoters).toEqual(["agent-1", "agent-2"]);
    // agent-3 reports that it does not hear agent-1: believed after one round's grace (time for a probe).
    t.merge("agent-3", { e: [["agent-3", 10, 0]], d: [["agent-3", 10, 0, ["agent-1"], 0]] }, 5100);
    expect(t.status(5100).reachableVoters).toContain("agent-3");
    expect(t.tick(5500).probe).toContain("agent-3"); // the retry of the probe due since 5000
    expect(t.status(6099).reachableVoters).toContain("agent-3");
    expect(t.status(6100).reachableVoters).not.toContain("agent-3");
    // A cut-short report cannot say we are heard.
    t.merge("agent-4", { e: [["agent-4", 10, 0]], d: [["agent-4", 10, 0, ["agent-9"], 1]] }, 6100);
    expect(t.status(6100).reachableVoters).not.toContain("agent-4");
  });

  test("with no voters the seed's rule decides: a majority of the members", () => {
    const t = tracker({ voters: [] });
    for (const id of ids(12).slice(1, 6)) t.heard(id, 5000, "ack");
    t.tick(5000);
    expect(t.status(5000).voterQuorum).toBeNull();
    expect(t.mode()).toBe("read-only"); // 6 of 12 is not a majority
    t.heard("agent-7", 5000, "envelope");
    t.tick(5000);
    t.tick(6999);
    expect(t.mode()).toBe("read-only"); // the hold
    t.tick(7000);
    expect(t.mode()).toBe("read-write");
  });

  test("transitive news ages honestly: a report that loops between two members cannot keep a silent one fresh", () => {
    const members = ["a", "b", "c"];
    const a = new ReachTracker({ self: "a", now: 0, periodMs: P, hops: 1, members, voters: [] });
    const b = new ReachTracker({ self: "b", now: 0, periodMs: P, hops: 1, members, voters: [] });
    const c = new ReachTracker({ self: "c", now: 0, periodMs: P, hops: 1, members, voters: [] });
    // c speaks once at t=0 (to a), then falls silent; a and b gossip every 100 ms with 30 ms of transit.
    a.merge("c", c.digest(0), 30);
    for (let t = 30; t < 6000; t += 100) {
      b.merge("a", a.digest(t), t + 30);
      a.merge("b", b.digest(t + 50), t + 80);
    }
    // hops 1: window 3 rounds. a heard c at 30; b's estimate is late by one transit (60), and the loop
    // between them, with 30 ms each way, does not move either.
    expect(a.timing().windowMs).toBe(3 * P);
    expect(a.status(3029).reachableMembers).toContain("c");
    expect(a.status(3030).reachableMembers).not.toContain("c");
    expect(b.status(3059).reachableMembers).toContain("c");
    expect(b.status(3060).reachableMembers).not.toContain("c");
  });

  test("a member that restarts with a lower beat is believed when it speaks for itself", () => {
    const t = tracker();
    t.merge("agent-2", { e: [["agent-2", 90_000, 0]], d: [] }, 1000);
    t.merge("agent-3", { e: [["agent-2", 50, 0]], d: [] }, 3000); // a relay's lower beat: old news, ignored
    expect(t.status(6500).reachableMembers).not.toContain("agent-2");
    t.merge("agent-2", { e: [["agent-2", 50, 0]], d: [] }, 6500); // agent-2 itself, beat reset
    t.merge("agent-3", { e: [["agent-2", 60, 0]], d: [] }, 12_000); // now a relay's higher beat is news
    expect(t.status(12_000).reachableMembers).toContain("agent-2");
  });

  test("a faster cadence does not expire news gathered at the slow one", () => {
    const t = tracker({ periodMs: 3 * P }); // stretched rounds: window 15 s
    t.heard("agent-2", 1000, "ack");
    t.setTiming({ periodMs: P, hops: 3 }, 2000); // back to 1 s rounds: window 5 s, but only after 15 s
    expect(t.status(10_000).reachableMembers).toContain("agent-2");
    t.tick(17_000);
    expect(t.timing().windowMs).toBe(5 * P);
    t.setTiming({ periodMs: 2 * P, hops: 3 }, 17_000); // slower again: at once
    expect(t.timing().windowMs).toBe(10 * P);
  });

  test("digests round-trip through JSON and pass the validator; malformed ones are rejected", () => {
    const t = tracker();
    t.heard("agent-2", 10, "ack");
    const d = JSON.parse(JSON.stringify(t.digest(20))) as ReachDigest;
    expect(validReachDigest(d)).toBe(true);
    const bad: unknown[] = [
      null, [], {}, { e: [] }, { e: [], d: {} }, { e: [["agent-2", -1, 0]], d: [] }, { e: [["Agent!", 1, 0]], d: [] },
      { e: [["agent-2", 1, 0.5]], d: [] }, { e: [["agent-2", 1]], d: [] }, { e: [], d: [["agent-2", 1, 0, ["x y"], 0]] },
      { e: [], d: [["agent-2", 1, 0, [], 2]] }, { e: [], d: [["agent-2", 1, 0, "agent-3", 0]] },
      { e: Array.from({ length: 5001 }, () => ["agent-2", 1, 0]), d: [] },
    ];
    for (const b of bad) expect(validReachDigest(b)).toBe(false);
  });
});

describe("reach tracker on a simulated 12-agent network", () => {
  const slack = (net: ReachNet) => (net.hops + 1) * 20 + 1;

  test("healthy, 5% loss, 100 rounds: no mode change, no episode, reach probes under 1% of pings", () => {
    const net = new ReachNet({ seed: 11, loss: 0.05 });
    net.runUntil(10 * P);
    const probes0 = net.stats.reachProbes;
    net.runUntil(110 * P);
    for (const id of net.ids) {
      expect(net.changes(id)).toBe(0);
      expect(net.nodes.get(id)!.tracker.episodes()).toEqual([]);
      expect(net.nodes.get(id)!.tracker.status(net.now).reachableMembers).toHaveLength(12);
    }
    expect(net.stats.reachProbes - probes0).toBeLessThan(0.01 * net.stats.pings);
  });

  test("the observed 5|7 (voters agent-1..5 on the 5 side): the 7 side is read-only within R rounds, the 5 side keeps writing; heal recovers", () => {
    const net = new ReachNet({ seed: 1 });
    const t0 = 20 * P + 123;
    const groups = [net.ids.slice(0, 5), net.ids.slice(5)];
    net.at(t0, () => net.partition(groups));
    net.runUntil(t0 + 30 * P);
    const R = net.boundRounds();
    expect(R).toBe(5);
    expect(checkSettled(net, expectedModes(net.ids, net.voters, groups), t0, R * P + slack(net), t0 + 30 * P)).toEqual([]);
    for (const id of groups[0]) expect(net.mode(id)).toBe("read-write");
    for (const id of groups[1]) expect(net.mode(id)).toBe("read-only");
    // Settled: each agent reaches exactly its side (members) and its side's voters.
    for (const g of groups) {
      for (const id of g) {
        const s = net.nodes.get(id)!.tracker.status(net.now);
        expect(s.reachableMembers).toEqual(g.slice().sort());
        expect(s.reachableVoters).toEqual(net.voters.filter((v) => g.includes(v)));
      }
    }
    const t1 = t0 + 30 * P;
    net.at(t1, () => net.heal());
    net.runUntil(t1 + 20 * P);
    const all = new Map(net.ids.map((id) => [id, "read-write" as const]));
    expect(checkSettled(net, all, t1, (net.hops + 2 + 2) * P, t1 + 20 * P)).toEqual([]);
    for (const id of net.ids) {
      const eps = net.nodes.get(id)!.tracker.episodes();
      expect(eps).toHaveLength(1);
      const ep = eps[0];
      // The 5 side never went read-only: its episode is "minority" (it reached 5 of 12).
      expect(ep.cause).toBe(groups[0].includes(id) ? "minority" : "read-only");
      expect(ep.startAt).toBeGreaterThan(t0);
      // Read-only opens an episode at once; a minority only after a round of it (checked on half-round slots).
      expect(ep.startAt).toBeLessThanOrEqual(t0 + (ep.cause === "read-only" ? R : R + 2) * P + slack(net));
      expect(ep.endAt).toBeGreaterThan(t1);
      expect(ep.recoveryMs).not.toBeNull();
      expect(ep.recoveryMs!).toBeLessThanOrEqual(ep.endAt! - t1);
      // While news that used to cross the cut finds its way within the side, a member of the side can look
      // unreachable for a moment: at most the side, never more.
      expect(ep.minReachable).toBeLessThanOrEqual(groups[0].includes(id) ? 5 : 7);
    }
  });

  test("policy voters+majority (the seed's rule on top of Raft's): both sides of that 5|7 are read-only", () => {
    const net = new ReachNet({ seed: 2, rule: "voters+majority" });
    const t0 = 20 * P + 5;
    const groups = [net.ids.slice(0, 5), net.ids.slice(5)];
    net.at(t0, () => net.partition(groups));
    net.runUntil(t0 + 20 * P);
    const want = new Map(net.ids.map((id) => [id, "read-only" as const]));
    expect(checkSettled(net, want, t0, net.boundRounds() * P + slack(net), t0 + 20 * P)).toEqual([]);
  });

  test("the bound checker catches the bug it targets: the seed's member-majority rule alone leaves the 7 side writable", () => {
    const net = new ReachNet({ seed: 3, rule: "majority" });
    const t0 = 20 * P + 5;
    const groups = [net.ids.slice(0, 5), net.ids.slice(5)];
    net.at(t0, () => net.partition(groups));
    net.runUntil(t0 + 20 * P);
    const bad = checkSettled(net, expectedModes(net.ids, net.voters, groups), t0, net.boundRounds() * P + slack(net), t0 + 20 * P);
    // The 7 side keeps writing without a voter quorum, and the 5 side (which holds it) is read-only.
    expect(bad.length).toBe(12);
    expect(bad.some((b) => b.startsWith("agent-12: read-write"))).toBe(true);
  });

  test("4|4|4 with no side holding 3 of the 5 voters: every side is read-only within R rounds", () => {
    for (const seed of [1, 2, 3]) {
      const net = new ReachNet({ seed });
      const i = net.ids;
      const groups = [[i[0], i[1], i[5], i[6]], [i[2], i[3], i[7], i[8]], [i[4], i[9], i[10], i[11]]]; // voters 2|2|1
      const t0 = 15 * P + 7;
      net.at(t0, () => net.partition(groups));
      net.runUntil(t0 + 20 * P);
      const want = expectedModes(net.ids, net.voters, groups);
      expect(Array.from(want.values()).every((m) => m === "read-only")).toBe(true);
      expect(checkSettled(net, want, t0, net.boundRounds() * P + slack(net), t0 + 20 * P)).toEqual([]);
    }
  });

  test("one-way cuts: the side that hears nothing, and the side that is not heard, both go read-only", () => {
    for (const direction of ["voters side deaf to the rest", "rest deaf to the voters side"] as const) {
      const net = new ReachNet({ seed: 4 });
      const A = net.ids.slice(0, 6); // all five voters
      const B = net.ids.slice(6);
      const t0 = 15 * P + 7;
      // "A hears B, B does not hear A" and the reverse.
      net.at(t0, () => (direction === "rest deaf to the voters side" ? net.cutOneWay(A, B) : net.cutOneWay(B, A)));
      net.runUntil(t0 + 30 * P);
      const want = new Map(net.ids.map((id) => [id, A.includes(id) ? ("read-write" as const) : ("read-only" as const)]));
      // B learning that the voters do not hear it takes the voters' window plus the report's trip: R + hops + 1.
      const bound = direction === "rest deaf to the voters side" ? net.boundRounds() : net.boundRounds() + net.hops + 1;
      expect(checkSettled(net, want, t0, bound * P + slack(net), t0 + 30 * P), direction).toEqual([]);
    }
  });
});

describe("hysteresis: flapping links", () => {
  const cross = (groups: string[][]) => (a: string, b: string) => groups[0].includes(a) !== groups[0].includes(b);

  test("the 5|7 cut flapping every round for 20 rounds: at most 2 mode changes anywhere", () => {
    for (const seed of [1, 2, 3, 4]) {
      const net = new ReachNet({ seed });
      const groups = [net.ids.slice(0, 5), net.ids.slice(5)];
      const crosses = cross(groups);
      const t0 = 15 * P + 3;
      net.at(t0, () => net.setBlocked((a, b, now) => crosses(a, b) && now < t0 + 20 * P && Math.floor((now - t0) / P) % 2 === 0));
      net.runUntil(t0 + 40 * P);
      for (const id of net.ids) expect(net.changes(id, t0), `${id} seed ${seed}`).toBeLessThanOrEqual(2);
    }
  });

  test("one overlay link flapping every round changes no mode at all", () => {
    const net = new ReachNet({ seed: 5 });
    const a = net.ids[0];
    const b = net.nodes.get(a)!.peers[0];
    const t0 = 10 * P;
    net.setBlocked((x, y, now) => ((x === a && y === b) || (x === b && y === a)) && now > t0 && Math.floor(now / P) % 2 === 0);
    net.runUntil(t0 + 30 * P);
    for (const id of net.ids) expect(net.changes(id)).toBe(0);
  });

  // A slow flap defeats the window (down longer than it, up briefly): damping bounds the changes to
  // 2 + 2·log2(maxUpRounds / upRounds) per agent however long it lasts; without the hold it is two a cycle.
  const slowFlap = (net: ReachNet, t0: number, cycles: number) => {
    const groups = [net.ids.slice(0, 5), net.ids.slice(5)];
    const crosses = cross(groups);
    const cycle = (net.boundRounds() + 2) * P; // down R + 1 rounds, up 1 round
    net.setBlocked((a, b, now) => crosses(a, b) && now >= t0 && now < t0 + cycles * cycle && (now - t0) % cycle < cycle - P);
    return t0 + cycles * cycle;
  };

  test("a slow flap for 20 cycles: damped to at most 8 mode changes per agent", () => {
    const net = new ReachNet({ seed: 6 });
    const end = slowFlap(net, 10 * P, 20);
    net.runUntil(end + 40 * P);
    const worst = Math.max(...net.ids.map((id) => net.changes(id)));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(8);
    for (const id of net.ids) expect(net.mode(id)).toBe("read-write");
  });

  test("the flap counter catches a missing hold: without hysteresis the same flap toggles every cycle", () => {
    const net = new ReachNet({ seed: 6, tracker: { upRounds: 0, maxUpRounds: 0 } });
    const end = slowFlap(net, 10 * P, 20);
    net.runUntil(end + 40 * P);
    expect(Math.max(...net.ids.map((id) => net.changes(id)))).toBeGreaterThanOrEqual(30);
  });
});

describe("seeded random partitions (2- and 3-way, symmetric and one-way)", () => {
  const SEEDS = Number(process.env.PARTITION_SEEDS ?? 40);
  test(`${SEEDS} seeds: every side settles in its mode within the bound, and all recover after the heal`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = randomPartitionTrial(seed);
      expect(r.violations, `seed ${seed}: ${r.describe}`).toEqual([]);
    }
  });
});
