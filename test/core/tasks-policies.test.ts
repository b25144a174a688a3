import { describe, expect, test } from "vitest";
import { answerCfp, awardAuction, ContractNetManager, scoreBid, scoreParts, type Bid } from "../../src/core/tasks/auction";
import { capabilityMatch, routeByCapability } from "../../src/core/tasks/capability";
import { planMigrations } from "../../src/core/tasks/rebalance";
import { canGive, pickVictim, wantsToSteal } from "../../src/core/tasks/steal";
import type { MemberInfo } from "../../src/core/tasks/types";

const m = (id: string, caps: string[], load = 0, slots = 1): MemberInfo => ({ id, caps, slots, load });

describe("capability routing", () => {
  test("match score is the fraction of distinct required capabilities held", () => {
    expect(capabilityMatch(["a", "b"], [])).toBe(1);
    expect(capabilityMatch(["a", "b"], ["a", "b", "c"])).toBeCloseTo(2 / 3);
    expect(capabilityMatch(["a", "b", "c"], ["a", "b", "c", "d"])).toBe(0.75);
    expect(capabilityMatch(["a"], ["a", "a"])).toBe(1);
  });

  test("only agents above 0.7 are candidates; 2 of 3 (0.67) is not enough, 3 of 4 (0.75) is", () => {
    const members = [m("x", ["a", "b"]), m("y", ["a", "b", "c"]), m("z", ["q"])];
    const r = routeByCapability(members, ["a", "b", "c"]);
    expect(r).toMatchObject({ ok: true, agentId: "y", score: 1 });
    const four = routeByCapability([m("x", ["a", "b", "c"])], ["a", "b", "c", "d"]);
    expect(four).toMatchObject({ ok: true, agentId: "x", score: 0.75 });
  });

  test("no capable agent: a structured result naming what is missing", () => {
    const members = [m("x", ["a", "b"]), m("y", ["c"])];
    expect(routeByCapability(members, ["a", "quantum"])).toEqual({
      ok: false, code: "no_capable_agent", required: ["a", "quantum"], missing: ["quantum"], best: { agentId: "x", score: 0.5 },
    });
    // Every capability exists somewhere but no single agent has enough: the best agent's gaps.
    expect(routeByCapability(members, ["a", "b", "c"])).toMatchObject({ ok: false, missing: ["c"], best: { agentId: "x" } });
  });

  test("with a task id, the less loaded of two rendezvous choices among the best matches", () => {
    const members = [m("p", ["a"], 0.9), m("q", ["a"], 0.1), m("r", ["a"], 0.5), m("s", ["a"], 0.0)];
    const picks = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const r = routeByCapability(members, ["a"], `t${i}`);
      if (!r.ok) throw new Error("expected a route");
      picks.set(r.agentId, (picks.get(r.agentId) ?? 0) + 1);
    }
    // The most loaded agent only wins when both choices are... never: it is always the more loaded one.
    expect(picks.get("p") ?? 0).toBe(0);
    // No herding: more than one agent gets tasks even on identical (stale) loads.
    expect(picks.size).toBeGreaterThan(1);
    expect(picks.get("s")!).toBeGreaterThan(picks.get("q")!);
  });
});

describe("Contract Net auction scoring (weights 0.4 / 0.3 / 0.2 / 0.1)", () => {
  const bid = (agentId: string, over: Partial<Bid> = {}): Bid => ({
    agentId, capabilityMatch: 1, queueLength: 0, slots: 1, completed: 0, failed: 0, resources: 1, ...over,
  });

  test("score on known inputs", () => {
    // 0.4·1 + 0.3·(1 − 2/4) + 0.2·(8+1)/(8+2+2) + 0.1·0.5 = 0.4 + 0.15 + 0.15 + 0.05
    expect(scoreBid(bid("a", { queueLength: 2, slots: 4, completed: 8, failed: 2, resources: 0.5 }))).toBeCloseTo(0.75, 12);
    // A newcomer: performance prior 0.5; an overloaded queue floors the load term at 0.
    expect(scoreParts(bid("b", { queueLength: 10, slots: 2 }))).toEqual({ capability: 1, load: 0, performance: 0.5, resources: 1, total: 0.4 + 0 + 0.1 + 0.1 });
    expect(scoreBid(bid("c", { capabilityMatch: 0.75, resources: 7 }))).toBeCloseTo(0.4 * 0.75 + 0.3 + 0.1 + 0.1, 12);
  });

  test("the auction awards the agent the scoring rule says it should", () => {
    const bids = [
      bid("busy-expert", { queueLength: 3, slots: 2, completed: 50, failed: 0 }), // 0.4 + 0 + 0.2·51/52 + 0.1 = 0.696
      bid("idle-novice", { queueLength: 0, slots: 2, completed: 0, failed: 0 }), // 0.4 + 0.3 + 0.1 + 0.1 = 0.9
      bid("idle-flaky", { queueLength: 0, slots: 2, completed: 1, failed: 9 }), // 0.4 + 0.3 + 0.2·2/12 + 0.1 = 0.833
      bid("partial", { capabilityMatch: 0.75, queueLength: 0, slots: 2, completed: 20, failed: 0 }), // 0.3 + 0.3 + 0.2·21/22 + 0.1 = 0.891
    ];
    const won = awardAuction(bids)!;
    expect(won.winner).toBe("idle-novice");
    expect(won.score).toBeCloseTo(0.9, 12);
    expect(awardAuction(bids.filter((b) => b.agentId !== "idle-novice"))!.winner).toBe("partial");
    expect(awardAuction([])).toBeNull();
    // Ties: the shorter queue, then the smaller id.
    expect(awardAuction([bid("b"), bid("a")])!.winner).toBe("a");
  });

  test("bidders refuse when not capable (≤ 0.7) or saturated; otherwise propose their measured numbers", () => {
    const s = { id: "x", caps: ["a", "b"], slots: 2, queueLength: 1, completed: 3, failed: 1, resources: 0.8 };
    expect(answerCfp(s, ["a", "b", "c"])).toEqual({ refuse: "not_capable" });
    expect(answerCfp({ ...s, queueLength: 4 }, ["a"])).toEqual({ refuse: "busy" });
    expect(answerCfp(s, ["a"])).toEqual({ propose: { agentId: "x", capabilityMatch: 1, queueLength: 1, slots: 2, completed: 3, failed: 1, resources: 0.8 } });
  });

  test("manager: cfp with a deadline, award at the deadline, re-announce when nobody bids, give up after the last round", () => {
    const mgr = new ContractNetManager(2);
    const id = mgr.announce("t1", ["x", "y", "z"], 0, 100);
    mgr.propose(id, "x", bid("x", { queueLength: 1 }));
    mgr.propose(id, "y", bid("y"));
    mgr.propose(id, "intruder", bid("intruder"));
    expect(mgr.due(50)).toEqual([]);
    const [out] = mgr.due(100);
    expect(out).toMatchObject({ kind: "award", taskId: "t1", winner: "y", rejected: ["x"] });
    const id2 = mgr.announce("t2", ["x"], 0, 100);
    mgr.refuse(id2, "x");
    // Everyone answered: no need to wait for the deadline.
    expect(mgr.due(1)).toEqual([{ kind: "reannounce", auctionId: id2, taskId: "t2", round: 2 }]);
    const id3 = mgr.announce("t2", ["x"], 1, 100, 2);
    expect(mgr.due(101)).toEqual([{ kind: "no_bids", auctionId: id3, taskId: "t2", rounds: 2 }]);
  });
});

describe("work stealing thresholds", () => {
  test("a thief has a free slot and nothing queued; a victim has a queued task and more work than slots", () => {
    expect(wantsToSteal(0, 1, 2)).toBe(true);
    expect(wantsToSteal(1, 0, 2)).toBe(false);
    expect(wantsToSteal(0, 2, 2)).toBe(false);
    expect(canGive(1, 2, 2)).toBe(true); // 3 tasks on 2 slots: one waits
    expect(canGive(1, 1, 2)).toBe(false); // both run at once: nothing waits
    expect(canGive(0, 5, 2)).toBe(false); // nothing queued: never a started task
  });

  test("the busiest peer above the threshold is asked; nobody when all are under it", () => {
    const members = [m("self", [], 0), m("a", [], 1.5), m("b", [], 3), m("c", [], 0.9)];
    expect(pickVictim(members, "self")).toBe("b");
    expect(pickVictim(members, "self", undefined, new Set(["b"]))).toBe("a");
    expect(pickVictim([m("self", []), m("c", [], 0.9)], "self")).toBeNull();
  });
});

describe("hot → cold migration planner", () => {
  test("moves queued tasks from agents above 0.8 to agents below 0.3, and counts them", () => {
    const plan = planMigrations([
      { id: "hot", slots: 4, running: 2, queued: ["t1", "t2", "t3", "t4", "t5", "t6"] }, // 2.0
      { id: "warm", slots: 4, running: 2, queued: [] }, // 0.5
      { id: "cold", slots: 4, running: 0, queued: [] }, // 0
    ]);
    expect(plan.moves.every((x) => x.from === "hot" && x.to === "cold")).toBe(true);
    // cold takes tasks while it is below 0.3: 0 → 0.25 → 0.5 (stops); then nobody is cold.
    expect(plan.migrations).toBe(2);
    expect(plan.moves.map((x) => x.taskId)).toEqual(["t1", "t2"]);
  });

  test("no ping-pong onto a 1-slot agent, no move of tasks the receiver cannot run, nothing when nobody is hot", () => {
    expect(planMigrations([{ id: "h", slots: 1, running: 0, queued: ["a"] }, { id: "c", slots: 1, running: 0, queued: [] }]).migrations).toBe(0);
    expect(
      planMigrations([{ id: "h", slots: 2, running: 2, queued: ["gpu-task"] }, { id: "c", slots: 4, running: 0, queued: [] }], { canRun: () => false }).migrations,
    ).toBe(0);
    expect(planMigrations([{ id: "a", slots: 4, running: 3, queued: [] }, { id: "c", slots: 4, running: 0, queued: [] }]).migrations).toBe(0);
    const ok = planMigrations([{ id: "h", slots: 2, running: 2, queued: ["x", "y"] }, { id: "c", slots: 4, running: 0, queued: [] }]);
    expect(ok.moves).toEqual([{ taskId: "x", from: "h", to: "c" }, { taskId: "y", from: "h", to: "c" }]);
  });
});
