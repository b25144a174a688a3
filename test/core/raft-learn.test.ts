// Committed entries taken from any peer (`Raft.learn`, issue #14): what a follower does with them, and
// that a leader configured with `replicateLearners: false` sends learners nothing.
import { describe, expect, test } from "vitest";
import { Raft, type Entry, type RaftPersisted, type Ready } from "../../src/core/raft/raft";
import { validTreeMsg } from "../../src/core/raft/validate";
import { Rng } from "../../src/core/rng";

const CONFIG = { voters: ["a", "b", "c"], learners: ["l1", "l2"] };
const e = (index: number, term: number, data = `x${index}`): Entry => ({ index, term, kind: "cmd", data });

function node(id: string, entries: Entry[] = [], commit = 0, term = 0, replicateLearners = true): Raft {
  const p: RaftPersisted = { hard: { term, vote: null, commit }, snapshot: { index: 0, term: 0, config: CONFIG }, entries };
  return new Raft({ id, electionTicks: 10, heartbeatTicks: 2, rng: new Rng(1), replicateLearners }, p);
}

const indexes = (r: Ready): number[] => r.committed.map((x) => x.index);

describe("Raft.learn: committed entries from any peer", () => {
  test("a learner appends and applies them; entries that do not connect are a gap", () => {
    const l = node("l1");
    l.ready();
    const first = l.learn({ commit: 2, commitTerm: 1, entries: [e(1, 1), e(2, 1)] });
    expect(first.gap).toBe(false);
    expect(indexes(first.ready)).toEqual([1, 2]);
    expect(first.ready.append?.entries.map((x) => x.index)).toEqual([1, 2]);
    expect(first.ready.append?.truncate).toBe(false); // nothing stored there yet: no delete
    const gap = l.learn({ commit: 5, commitTerm: 2, entries: [e(4, 2), e(5, 2)] });
    expect(gap.gap).toBe(true);
    expect(l.commit).toBe(2);
    // A commit alone for an index this log does not hold (or holds at another term) is a gap too.
    expect(l.learn({ commit: 3, commitTerm: 2, entries: [] }).gap).toBe(true);
  });

  test("a follower drops an uncommitted conflicting suffix for the committed entries", () => {
    // Entries 2–3 at term 1 were never committed; index 2 committed at term 2.
    const f = node("b", [e(1, 1), e(2, 1), e(3, 1)], 1, 2);
    f.ready();
    const r = f.learn({ commit: 2, commitTerm: 2, entries: [e(2, 2, "winner")] });
    expect(r.gap).toBe(false);
    expect(r.ready.append).toEqual({ fromIndex: 2, entries: [e(2, 2, "winner")], truncate: true });
    expect(f.lastIndex()).toBe(2);
    expect(r.ready.committed).toEqual([e(2, 2, "winner")]);
  });

  test("entries that do not start right after the commit index are a gap, even when they would fit the log", () => {
    // Committed up to 1; 2–3 at term 3 uncommitted here. Index 3 committed at term 4 (so 2 at term 3 was
    // not committed either): appending 3@4 after our 2@3 and committing would apply an uncommitted entry.
    const f = node("b", [e(1, 1), e(2, 3), e(3, 3)], 1, 3);
    f.ready();
    const r = f.learn({ commit: 3, commitTerm: 4, entries: [e(3, 4)] });
    expect(r.gap).toBe(true);
    expect(f.commit).toBe(1);
    expect(r.ready.committed).toEqual([]);
  });

  test("a commit alone commits the follower's own entries when the (index, term) matches (Log Matching)", () => {
    const f = node("c", [e(1, 1), e(2, 1)], 0, 1);
    f.ready();
    const r = f.learn({ commit: 2, commitTerm: 1, entries: [] });
    expect(indexes(r.ready)).toEqual([1, 2]);
  });

  test("a leader and a candidate ignore it", () => {
    const a = node("a", [], 0, 0, false);
    a.campaign();
    for (const v of ["b", "c"]) {
      a.step(v, { type: "vote_resp", term: 1, pre: true, granted: true });
      a.step(v, { type: "vote_resp", term: 1, pre: false, granted: true });
    }
    expect(a.role).toBe("leader");
    const before = a.lastIndex();
    a.learn({ commit: before + 1, commitTerm: 1, entries: [e(before + 1, 1)] });
    expect(a.lastIndex()).toBe(before);
    const c = node("c");
    c.campaign();
    c.step("b", { type: "vote_resp", term: 1, pre: true, granted: true });
    expect(c.role).toBe("candidate");
    c.learn({ commit: 1, commitTerm: 1, entries: [e(1, 1)] });
    expect(c.lastIndex()).toBe(0);
  });

  test("a pre-candidate learns (a PreVote changes no term and no vote): a voter removed while down learns it", () => {
    const b = node("b");
    b.campaign();
    expect(b.role).toBe("pre-candidate");
    const removed: Entry = { index: 2, term: 1, kind: "config", config: { voters: ["a", "c"], learners: ["l1", "l2"] } };
    b.learn({ commit: 2, commitTerm: 1, entries: [e(1, 1), removed] });
    expect(b.commit).toBe(2);
    expect(b.isVoter()).toBe(false);
    expect(b.role).toBe("follower");
  });
});

describe("replicateLearners: false", () => {
  for (const replicate of [true, false]) {
    test(`the leader ${replicate ? "sends" : "does not send"} appends to learners, and ${replicate ? "broadcasts" : "does not broadcast"} a bare commit`, () => {
      const a = node("a", [], 0, 0, replicate);
      a.campaign();
      for (const v of ["b", "c"]) {
        a.step(v, { type: "vote_resp", term: 1, pre: true, granted: true });
        a.step(v, { type: "vote_resp", term: 1, pre: false, granted: true });
      }
      // Everyone acknowledges the leader's no-op, so nothing is in flight.
      for (const x of ["b", "c", "l1", "l2"]) a.step(x, { type: "app_resp", term: 1, ok: true, index: 1, hint: 0, ctx: 0 });
      a.ready();
      const p = a.propose("w")!;
      const to = p.ready.messages.map((m) => m.to).sort();
      expect(to).toEqual(replicate ? ["b", "c", "l1", "l2"] : ["b", "c"]);
      // b acknowledges: the entry commits (a and b of three voters).
      const r = a.step("b", { type: "app_resp", term: 1, ok: true, index: p.index, hint: 0, ctx: 0 });
      expect(a.commit).toBe(p.index);
      const bare = r.messages.filter((m) => m.msg.type === "app" && m.msg.entries.length === 0);
      expect(bare.length > 0).toBe(replicate);
      // Heartbeats go to voters only.
      const hb = a.tick(2).messages.map((m) => m.to);
      expect(hb.some((t) => t.startsWith("l"))).toBe(replicate);
    });
  }
});

describe("validTreeMsg", () => {
  const ok = { type: "learn", root: "agent-1", term: 2, commit: 5, commitTerm: 2, entries: [e(4, 2), e(5, 2)] };
  test("accepts well-formed pushes and pulls", () => {
    expect(validTreeMsg(ok)).toBe(true);
    expect(validTreeMsg({ ...ok, entries: [] })).toBe(true);
    expect(validTreeMsg({ type: "pull", from: 1 })).toBe(true);
  });
  test.each([
    ["entries not consecutive", { ...ok, entries: [e(3, 2), e(5, 2)] }],
    ["entries past the commit index", { ...ok, commit: 4 }],
    ["no root", { ...ok, root: 7 }],
    ["negative term", { ...ok, term: -1 }],
    ["a malformed entry", { ...ok, entries: [{ index: 0, term: 1, kind: "cmd" }] }],
    ["a snapshot without meta", { ...ok, snapshot: { data: {} } }],
    ["a pull from index 0", { type: "pull", from: 0 }],
    ["an unknown type", { type: "push", from: 1 }],
  ])("rejects %s", (_, m) => {
    expect(validTreeMsg(m)).toBe(false);
  });
});

describe("ReadIndex batching", () => {
  test("reads that arrive while a confirmation round is in flight share the next round", () => {
    const a = node("a", [], 0, 0, false);
    a.campaign();
    for (const v of ["b", "c"]) {
      a.step(v, { type: "vote_resp", term: 1, pre: true, granted: true });
      a.step(v, { type: "vote_resp", term: 1, pre: false, granted: true });
    }
    for (const v of ["b", "c"]) a.step(v, { type: "app_resp", term: 1, ok: true, index: 1, hint: 0, ctx: 0 });
    a.ready();
    const r1 = a.readIndex()!;
    expect(r1.ready.messages.map((m) => m.to).sort()).toEqual(["b", "c"]);
    // Three more reads while the first round is out: no messages now.
    const later = [a.readIndex()!, a.readIndex()!, a.readIndex()!];
    expect(later.flatMap((r) => r.ready.messages)).toEqual([]);
    // b answers the first round: r1 is confirmed (a and b), and one round goes out for the three.
    const x = a.step("b", { type: "app_resp", term: 1, ok: true, index: 1, hint: 0, ctx: r1.ctx });
    expect(x.reads.map((r) => r.ctx)).toEqual([r1.ctx]);
    const round = x.messages.filter((m) => m.msg.type === "app");
    expect(round.map((m) => m.to).sort()).toEqual(["b", "c"]);
    const ctx = (round[0].msg as { ctx: number }).ctx;
    expect(ctx).toBe(later[2].ctx);
    // A late answer to the first round confirms none of the later reads (they arrived after it was sent).
    expect(a.step("c", { type: "app_resp", term: 1, ok: true, index: 1, hint: 0, ctx: r1.ctx }).reads).toEqual([]);
    const y = a.step("c", { type: "app_resp", term: 1, ok: true, index: 1, hint: 0, ctx });
    expect(y.reads.map((r) => r.ctx)).toEqual(later.map((r) => r.ctx));
  });
});
