import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { canonical, partsValid } from "../../src/core/crypto/canonical";
import { Rng } from "../../src/core/rng";
import { GossipVoting, recordKey, type GossipVotingOptions, type VoteReady } from "../../src/core/vote/gossip";
import {
  ballotsFromRecords, castOrdered, decide, makeProposal, neededApprovals, pbftQuorum, thresholdValid, type Ballot, type ProposalSpec,
} from "../../src/core/vote/tally";
import { autoVote, type VoteKnowledge } from "../../src/core/vote/validate";
import {
  recordsToSign, signedParts, stableJson, validProposalRecord, validVoteGossipMsg, validVoteRecord, type ProposalRecord, type VoteGossipMsg,
  type VoteRecord,
} from "../../src/core/vote/wire";
import { ModelKeys } from "../sim/keys";
import { convergenceRounds, faultRun, healRounds, messagesPerDecision, VoteHarness } from "./vote-harness";

const spec = (o: Partial<ProposalSpec> = {}): ProposalSpec => ({
  proposalId: "p1", protocol: "gossip", eligible: ["a", "b", "c", "d"], threshold: 0.67, createdAt: 1000, timeoutMs: 500, ...o,
});
const b = (agent: string, vote: "approve" | "reject", at: number): Ballot => ({ agent, vote, at });

describe("tally: thresholds", () => {
  test("needed = ⌈threshold × eligible⌉ exactly (0.55 × 100 is 55, not 56)", () => {
    expect(Math.ceil(0.55 * 100)).toBe(56); // the floating-point trap
    expect(neededApprovals(0.55, 100)).toBe(55);
    expect(neededApprovals(0.67, 100)).toBe(67);
    expect(neededApprovals(0.67, 4)).toBe(3);
    expect(neededApprovals(0.67, 7)).toBe(5);
    expect(neededApprovals(0.67, 10)).toBe(7);
    expect(neededApprovals(0.67, 103)).toBe(70);
    expect(neededApprovals(1, 9)).toBe(9);
    expect(neededApprovals(0.51, 2)).toBe(2);
    expect(neededApprovals(0.75, 1)).toBe(1);
  });

  test("thresholds are in (0.5, 1], to the nearest millionth", () => {
    for (const t of [0.5, 0.5000004, 1.0000006, 0, -1, NaN, Infinity]) expect(thresholdValid(t)).toBe(false);
    for (const t of [0.500001, 0.51, 0.67, 1]) expect(thresholdValid(t)).toBe(true);
  });

  test("0.67 × n versus the Byzantine quorum ⌈(n+f+1)/2⌉ (2f+1 at n = 3f+1): never weaker for n ≤ 1000", () => {
    for (const [n, q] of [[4, 3], [7, 5], [10, 7], [13, 9], [100, 67]] as const) {
      expect(pbftQuorum(n)).toBe(q);
      expect(neededApprovals(0.67, n)).toBe(q);
    }
    const stricter: number[] = [];
    for (let n = 1; n <= 1000; n++) {
      const f = Math.floor((n - 1) / 3);
      expect(neededApprovals(0.67, n), `n=${n}`).toBeGreaterThanOrEqual(pbftQuorum(n));
      // Two quorums intersect in at least f + 1 agents (one correct): the reason for the quorum size.
      expect(2 * pbftQuorum(n) - n).toBeGreaterThanOrEqual(f + 1);
      if (neededApprovals(0.67, n) > pbftQuorum(n)) stricter.push(n);
    }
    // Up to 100, stricter exactly at the multiples of 3 (2k + 1 of 3k instead of 2k); at n = 3f + 1 from 103.
    expect(stricter.filter((n) => n <= 100)).toEqual(Array.from({ length: 33 }, (_, i) => 3 * (i + 1)));
    expect(stricter).toContain(103);
    expect(stricter).not.toContain(100);
  });
});

describe("tally: decide", () => {
  test("approved at the vote that reaches ⌈0.67 × 4⌉ = 3; participation and latency", () => {
    const o = decide(spec(), [b("a", "approve", 1010), b("c", "approve", 1030), b("b", "approve", 1020)], 1100);
    expect(o).toMatchObject({ status: "approved", decidedAt: 1030, decisionLatencyMs: 30, votes: { approve: 3, reject: 0, eligible: 4 }, needed: 3 });
    expect(o.participation).toBe(0.75);
  });

  test("rejected the moment approval becomes impossible (2 rejections of 4 when 3 are needed)", () => {
    const o = decide(spec(), [b("a", "reject", 1010), b("b", "approve", 1020), b("c", "reject", 1030)], 1040);
    expect(o).toMatchObject({ status: "rejected", decidedAt: 1030 });
  });

  test("expired at createdAt + timeoutMs; a vote at or after it does not count; pending before", () => {
    const votes = [b("a", "approve", 1010), b("b", "approve", 1020), b("c", "approve", 1500)];
    expect(decide(spec(), votes, 1499)).toMatchObject({ status: "pending", decidedAt: null, votes: { approve: 2 } });
    expect(decide(spec(), votes, 1500)).toMatchObject({ status: "expired", decidedAt: 1500, decisionLatencyMs: 500 });
  });

  test("votes of ineligible agents, before createdAt, or a second ballot of an agent are ignored", () => {
    const o = decide(spec(), [b("x", "approve", 1010), b("a", "approve", 999), b("a", "approve", 1001), b("a", "reject", 1002)], 1100);
    expect(o.votes).toEqual({ approve: 1, reject: 0, eligible: 4 });
  });

  test("the outcome depends on the vote set only, not on the order it arrived in (property)", () => {
    const agents = ["a", "b", "c", "d", "e", "f", "g"];
    const ballot = fc.record({ agent: fc.constantFrom(...agents), vote: fc.constantFrom("approve" as const, "reject" as const), at: fc.integer({ min: 990, max: 1600 }) });
    fc.assert(
      fc.property(fc.array(ballot, { maxLength: 12 }), fc.integer(), fc.constantFrom(0.51, 0.67, 1), (votes, seed, threshold) => {
        const s = spec({ eligible: agents, threshold });
        const { ballots } = ballotsFromRecords(votes);
        const shuffled = new Rng(seed).shuffle(votes.slice());
        const again = ballotsFromRecords(shuffled).ballots;
        expect(decide(s, again.reverse(), 1300)).toEqual(decide(s, ballots, 1300));
      }),
      { numRuns: 300 },
    );
  });

  test("an equivocator (both votes signed) counts as a rejection at its earliest vote, and is reported", () => {
    const { ballots, equivocators } = ballotsFromRecords([
      { agent: "a", vote: "approve", at: 1020 }, { agent: "a", vote: "reject", at: 1050 }, { agent: "b", vote: "approve", at: 1030 },
      { agent: "b", vote: "approve", at: 1010 },
    ]);
    expect(equivocators).toEqual(["a"]);
    expect(ballots.find((x) => x.agent === "a")).toEqual({ agent: "a", vote: "reject", at: 1020, equivocated: true });
    expect(ballots.find((x) => x.agent === "b")).toEqual({ agent: "b", vote: "approve", at: 1010 });
    expect(decide(spec(), ballots, 1100).equivocators).toEqual(["a"]);
  });

  test("ordered protocols: first vote wins; the same vote again is a duplicate, a different one a conflict", () => {
    const m = new Map<string, Ballot>();
    expect(castOrdered(spec(), m, b("a", "approve", 1010))).toBe("accepted");
    expect(castOrdered(spec(), m, b("a", "approve", 1020))).toBe("duplicate");
    expect(castOrdered(spec(), m, b("a", "reject", 1030))).toBe("conflict");
    expect(castOrdered(spec(), m, b("z", "reject", 1030))).toBe("not_eligible");
    expect(castOrdered(spec(), m, b("b", "reject", 1500))).toBe("closed");
    expect(m.get("a")!.vote).toBe("approve");
  });

  test("makeProposal: 'all' is the live members at creation; defaults; refusals", () => {
    const r = makeProposal({ proposal: { coordination_protocol: "gossip" } }, { proposalId: "p", proposer: "a", now: 5, liveMembers: ["c", "a", "b", "a"] });
    expect(r).toMatchObject({ ok: true, proposal: { eligible: ["a", "b", "c"], threshold: 0.67, timeoutMs: 30_000, voting: "auto", protocol: "gossip", createdAt: 5 } });
    const ctx = { proposalId: "p", proposer: "a", now: 5, liveMembers: ["a"] };
    expect(makeProposal({ proposal: {}, threshold: 0.5 }, ctx)).toMatchObject({ ok: false, field: "threshold" });
    expect(makeProposal({ proposal: {}, timeoutMs: 5 }, ctx)).toMatchObject({ ok: false, field: "timeoutMs" });
    expect(makeProposal({ proposal: {}, agents: [] }, ctx)).toMatchObject({ ok: false, field: "agents" });
  });
});

describe("auto-voting rules", () => {
  const k: VoteKnowledge = {
    members: [
      { id: "node-1", status: "alive", caps: ["compute"] },
      { id: "node-3", status: "alive", caps: ["compute", "auth"] },
      { id: "node-4", status: "dead", caps: ["auth"] },
      { id: "node-5", status: "suspect", caps: [] },
    ],
  };
  const vote = (p: unknown, kk = k) => autoVote(p, kk).vote;

  test("the seed's examples", () => {
    expect(vote({ coordination_protocol: "gossip", consensus_threshold: 0.67 })).toBe("approve");
    expect(vote({ task_assignment: "auth-service", assigned_to: "node-3" })).toBe("approve");
  });

  test("task assignment: the assignee must be a live member, and capable when capabilities are required", () => {
    expect(autoVote({ task_assignment: "t", assigned_to: "node-4" }, k)).toEqual({ vote: "reject", reasons: ["assigned_to node-4 is dead"] });
    expect(vote({ task_assignment: "t", assigned_to: "node-9" })).toBe("reject");
    expect(vote({ task_assignment: "t", assigned_to: "node-5" })).toBe("approve"); // suspect is still a member
    expect(vote({ task_assignment: "t", assigned_to: "node-3", required_capabilities: ["auth"] })).toBe("approve");
    expect(vote({ task_assignment: "t", assigned_to: "node-1", required_capabilities: ["auth"] })).toBe("reject");
    expect(vote({ task_assignment: "t", required_capabilities: ["auth"] })).toBe("approve"); // node-3 can
    expect(vote({ task_assignment: "t", required_capabilities: ["gpu"] })).toBe("reject");
    expect(vote({ task_assignment: "t", required_capabilities: "auth" })).toBe("reject");
    expect(vote({ assigned_to: "node-3" })).toBe("reject");
    expect(vote({ task_assignment: "" })).toBe("reject");
  });

  test("protocols and numeric settings", () => {
    expect(vote({ coordination_protocol: "paxos" })).toBe("reject");
    expect(vote({ coordination_protocol: "raft" }, { ...k, protocols: ["gossip"] })).toBe("reject");
    expect(vote({ consensus_threshold: 0.5 })).toBe("reject");
    expect(vote({ consensus_threshold: 1 })).toBe("approve");
    expect(vote({ consensus_threshold: "0.67" })).toBe("reject");
    expect(vote({ fanout: 6 })).toBe("reject");
    expect(vote({ fanout: 2.5 })).toBe("reject");
    expect(vote({ gossip_interval_ms: 3000, heartbeat_ms: 3000, failure_timeout_ms: 10000 })).toBe("approve");
    expect(vote({ heartbeat_ms: 3000, failure_timeout_ms: 3000 })).toBe("reject");
    expect(vote({ fanout: 9 }, { ...k, ranges: { fanout: { min: 1, max: 10, integer: true } } })).toBe("approve");
  });

  test("unknown keys are neutral; an empty or non-object proposal is rejected", () => {
    expect(vote({ anything: [1, 2], coordination_protocol: "gossip" })).toBe("approve");
    expect(vote({ anything: 1, coordination_protocol: "paxos" })).toBe("reject");
    expect(vote({})).toBe("reject");
    expect(vote([1])).toBe("reject");
    expect(vote(null)).toBe("reject");
  });
});

describe("gossip voting: wire", () => {
  const prop: ProposalRecord = {
    kind: "vg_proposal", proposalId: "p1", proposer: "a", protocol: "gossip", body: stableJson({ x: 1 }), eligible: ["a", "b"],
    threshold: 0.67, createdAt: 10, timeoutMs: 100, voting: "auto",
  };
  const v: VoteRecord = { kind: "vg_vote", proposalId: "p1", agent: "b", vote: "approve", at: 20 };

  test("validators accept well-formed records and messages and reject malformed ones (never throw)", () => {
    expect(validProposalRecord(prop)).toBe(true);
    expect(validVoteRecord(v)).toBe(true);
    for (const bad of [
      { ...prop, eligible: ["b", "a"] }, { ...prop, eligible: ["a", "a"] }, { ...prop, eligible: [] }, { ...prop, threshold: 0.5 },
      { ...prop, body: "[1]" }, { ...prop, body: "{" }, { ...prop, timeoutMs: 1 }, { ...prop, protocol: "raft" }, { ...prop, proposalId: "Bad!" },
      { ...prop, voting: "x" }, { ...prop, sig: 5 },
    ]) expect(validProposalRecord(bad)).toBe(false);
    for (const bad of [{ ...v, vote: "maybe" }, { ...v, at: -1 }, { ...v, at: 1.5 }, { ...v, agent: "" }, { ...v, kind: "vg_proposal" }]) {
      expect(validVoteRecord(bad)).toBe(false);
    }
    expect(validVoteGossipMsg({ type: "vg_push", proposals: [prop], votes: [v] })).toBe(true);
    expect(validVoteGossipMsg({ type: "vg_push", proposals: [prop], votes: [v], want: [["p1", ["v:b:a:20"]]] })).toBe(true);
    expect(validVoteGossipMsg({ type: "vg_digest", digests: [["p1", 2, "abc"]] })).toBe(true);
    expect(validVoteGossipMsg({ type: "vg_have", proposals: [], votes: [], want: ["p1"], have: [["p1", ["k"]]] })).toBe(true);
    fc.assert(fc.property(fc.anything(), (x) => {
      expect(typeof validVoteGossipMsg(x)).toBe("boolean");
      expect(typeof validVoteGossipMsg({ type: "vg_push", proposals: [x], votes: [] })).toBe("boolean");
    }), { numRuns: 300 });
    expect(validVoteGossipMsg({ type: "vg_push", proposals: [prop], votes: [{ ...v, vote: 1 }] })).toBe(false);
    expect(validVoteGossipMsg({ type: "vg_have", proposals: [], votes: [], want: ["p1"] })).toBe(false);
  });

  test("the shell signs only its own unsigned records; the filter checks each record against its author", () => {
    const keys = new ModelKeys(1);
    const msg: VoteGossipMsg = { type: "vg_push", proposals: [structuredClone(prop)], votes: [structuredClone(v)] };
    expect(recordsToSign(msg, "b")).toEqual([msg.votes[0]]);
    for (const r of recordsToSign(msg, "a")) r.sig = keys.sign("a", canonical(r));
    for (const r of recordsToSign(msg, "b")) r.sig = keys.sign("b", canonical(r));
    expect(recordsToSign(msg, "a")).toEqual([]);
    const check = (m: VoteGossipMsg) => partsValid(signedParts(m), "", (p) => keys.verify(p));
    expect(check(msg)).toBe(true);
    const altered = structuredClone(msg);
    (altered as { votes: VoteRecord[] }).votes[0].vote = "reject";
    expect(check(altered)).toBe(false);
    const stripped = structuredClone(msg);
    delete (stripped as { votes: VoteRecord[] }).votes[0].sig;
    expect(check(stripped)).toBe(false);
    const wrongSigner = structuredClone(msg) as { votes: VoteRecord[] } & VoteGossipMsg;
    wrongSigner.votes[0].sig = keys.sign("a", canonical(wrongSigner.votes[0]));
    expect(check(wrongSigner)).toBe(false);
  });

  test("a `sig` key inside a proposal is covered by the proposer's signature (the body is signed as text)", () => {
    const keys = new ModelKeys(2);
    const r: ProposalRecord = { ...prop, body: stableJson({ sig: "mine", x: 1 }) };
    r.sig = keys.sign("a", canonical(r));
    const tampered = { ...r, body: stableJson({ sig: "theirs", x: 1 }) };
    expect(keys.verify({ signer: "a", payload: canonical(tampered), sig: r.sig })).toBe(false);
  });
});

// ---- the core, directed -----------------------------------------------------------------------------

/** A few cores wired by hand: every message is delivered at once, in order (no faults). */
class Mini {
  readonly cores = new Map<string, GossipVoting>();
  readonly queue: Array<{ from: string; to: string; msg: VoteGossipMsg }> = [];
  readonly readies: VoteReady[] = [];
  readonly readiesOf = new Map<string, VoteReady[]>();
  now = 1000;
  constructor(readonly ids: string[], o: Partial<GossipVotingOptions> = {}, readonly down = new Set<string>()) {
    for (const id of ids) this.cores.set(id, this.make(id, o));
  }
  make(id: string, o: Partial<GossipVotingOptions> = {}, persisted?: ConstructorParameters<typeof GossipVoting>[1]): GossipVoting {
    return new GossipVoting(
      {
        self: id, rng: new Rng(id.length), peers: () => this.ids.filter((x) => x !== id), knowledge: () => ({ members: this.ids.map((x) => ({ id: x, status: "alive", caps: [] })) }),
        syncEveryMs: 100, graceMs: 1000, ...o,
      },
      persisted,
    );
  }
  take(from: string, r: VoteReady): VoteReady {
    this.readies.push(r);
    this.readiesOf.set(from, [...(this.readiesOf.get(from) ?? []), r]);
    for (const m of r.messages) if (!this.down.has(m.to)) this.queue.push({ from, to: m.to, msg: structuredClone(m.msg) });
    return r;
  }
  drain(): void {
    while (this.queue.length) {
      const m = this.queue.shift()!;
      this.take(m.to, this.cores.get(m.to)!.step(m.from, m.msg, this.now));
    }
  }
  tick(ms: number): void {
    this.now += ms;
    for (const [id, c] of this.cores) if (!this.down.has(id)) this.take(id, c.tick(this.now));
    this.drain();
  }
}

const input = (o: Partial<{ proposalId: string; body: Record<string, unknown>; eligible: string[]; threshold: number; timeoutMs: number; voting: "auto" | "manual" }> = {}) => ({
  proposalId: "p1", body: { coordination_protocol: "gossip" }, eligible: ["a", "b", "c", "d"], threshold: 0.67, timeoutMs: 500, voting: "auto" as const, ...o,
});

describe("gossip voting: core", () => {
  test("auto votes spread to everyone; every agent decides the same status and decidedAt", () => {
    const m = new Mini(["a", "b", "c", "d"]);
    const r = m.cores.get("a")!.propose(input(), m.now);
    expect(r.ok).toBe(true);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    const outs = ["a", "b", "c", "d"].map((id) => m.cores.get(id)!.get("p1", m.now)!);
    expect(new Set(outs.map((o) => JSON.stringify(o))).size).toBe(1);
    expect(outs[0]).toMatchObject({ status: "approved", decidedAt: 1000, votes: { approve: 4, reject: 0, eligible: 4 }, participation: 1 });
  });

  test("manual voting: only cast votes count; duplicate, conflict, not eligible, unknown, closed", () => {
    const m = new Mini(["a", "b", "c", "d", "e"]);
    const r = m.cores.get("a")!.propose(input({ voting: "manual" }), m.now);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    expect(m.cores.get("b")!.get("p1", m.now)!.votes).toEqual({ approve: 0, reject: 0, eligible: 4 });
    const cast = (id: string, p: string, v: "approve" | "reject") => {
      const x = m.cores.get(id)!.castVote(p, v, m.now);
      m.take(id, x.ready);
      m.drain();
      return x.result;
    };
    m.now = 1010;
    expect(cast("b", "p1", "approve")).toBe("accepted");
    expect(cast("b", "p1", "approve")).toBe("duplicate");
    expect(cast("b", "p1", "reject")).toBe("conflict");
    expect(cast("e", "p1", "approve")).toBe("not_eligible");
    expect(cast("b", "nope", "approve")).toBe("unknown");
    m.now = 1020;
    cast("c", "p1", "reject");
    m.now = 1030;
    cast("d", "p1", "reject");
    // 2 rejections of 4 with 3 needed: rejected at the second rejection's time, everywhere.
    for (const id of m.ids) expect(m.cores.get(id)!.get("p1", m.now)).toMatchObject({ status: "rejected", decidedAt: 1030 });
    m.now = 1500;
    expect(cast("a", "p1", "approve")).toBe("closed");
  });

  test("a proposal's voting window closes: undecided → expired at createdAt + timeoutMs, reported as a change", () => {
    const m = new Mini(["a", "b", "c", "d"]);
    const r = m.cores.get("a")!.propose(input({ voting: "manual" }), m.now);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    expect(m.cores.get("b")!.nextDeadline()).toBeLessThanOrEqual(1500);
    m.tick(500);
    const changed = m.readies.flatMap((x) => x.changed).filter((o) => o.status === "expired");
    expect(changed.length).toBe(4);
    expect(changed.every((o) => o.decidedAt === 1500)).toBe(true);
  });

  test("retirement: records dropped at expiresAt + grace, the outcome row kept; late records ignored", () => {
    const m = new Mini(["a", "b", "c", "d"]);
    const r = m.cores.get("a")!.propose(input(), m.now);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    const late = m.cores.get("b")!.records("p1");
    m.tick(1500); // 1000 + 500 + 1000 grace
    const b = m.cores.get("b")!;
    expect(b.activeIds()).toEqual([]);
    expect(b.records("p1")).toEqual([]);
    expect(b.get("p1", m.now)).toMatchObject({ status: "approved", decidedAt: 1000 });
    expect(m.readies.flatMap((x) => x.retire).length).toBe(4);
    expect(b.nextDeadline()).toBeNull();
    m.take("b", b.step("c", { type: "vg_push", proposals: late.filter((x) => x.kind === "vg_proposal") as ProposalRecord[], votes: [] }, m.now));
    expect(b.activeIds()).toEqual([]);
    expect(b.list(m.now).map((o) => o.proposalId)).toEqual(["p1"]);
  });

  test("restart from the persisted rows: same outcome, and the agent's first vote still binds (conflict)", () => {
    const m = new Mini(["a", "b", "c", "d"]);
    const r = m.cores.get("a")!.propose(input(), m.now);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    // b's rows as its shell stored them (every `save` of b's readies, keyed like the table).
    const b = m.cores.get("b")!;
    const rows = new Map<string, ProposalRecord | VoteRecord>();
    for (const x of m.readiesOf.get("b")!) for (const rec of x.save) rows.set(`${rec.proposalId}|${recordKey(rec)}`, rec);
    const saved = Array.from(rows.values());
    expect(new Set(saved.map(recordKey))).toEqual(new Set(b.records("p1").map(recordKey)));
    const restored = m.make("b", {}, {
      proposals: saved.filter((x): x is ProposalRecord => x.kind === "vg_proposal"),
      votes: saved.filter((x): x is VoteRecord => x.kind === "vg_vote"),
      outcomes: [],
    });
    expect(restored.get("p1", m.now)).toEqual(b.get("p1", m.now));
    expect(restored.castVote("p1", "reject", m.now).result).toBe("conflict");
    expect(restored.castVote("p1", "approve", m.now).result).toBe("duplicate");
  });

  test("votes that arrive before their proposal are kept aside and counted when it arrives", () => {
    const m = new Mini(["a", "b", "c", "d"], {}, new Set(["d"]));
    const r = m.cores.get("a")!.propose(input(), m.now);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    const d = m.cores.get("d")!;
    const recs = m.cores.get("a")!.records("p1");
    const votes = recs.filter((x): x is VoteRecord => x.kind === "vg_vote");
    const props = recs.filter((x): x is ProposalRecord => x.kind === "vg_proposal");
    d.step("b", { type: "vg_push", proposals: [], votes }, m.now);
    expect(d.get("p1", m.now)).toBeNull();
    d.step("b", { type: "vg_push", proposals: props, votes: [] }, m.now);
    expect(d.get("p1", m.now)).toMatchObject({ status: "approved", votes: { approve: 4 } });
    expect(d.stats.orphaned).toBe(3);
  });

  test("two signed versions of one proposal void it everywhere (rejected, signer reported)", () => {
    const m = new Mini(["a", "b", "c", "d"]);
    const r = m.cores.get("a")!.propose(input(), m.now);
    if (r.ok) m.take("a", r.ready);
    m.drain();
    const other: ProposalRecord = { ...(m.cores.get("a")!.records("p1").find((x) => x.kind === "vg_proposal") as ProposalRecord), threshold: 1 };
    const c = m.cores.get("c")!;
    const x = m.take("c", c.step("a", { type: "vg_push", proposals: [other], votes: [] }, m.now));
    expect(x.equivocations).toEqual([{ proposalId: "p1", agent: "a" }]);
    m.drain();
    // c pushed the second version to its peers but not back to the sender; anti-entropy reaches a.
    for (let i = 0; i < 10; i++) m.tick(100);
    for (const id of m.ids) {
      expect(m.cores.get(id)!.get("p1", m.now)).toMatchObject({ status: "rejected", decidedAt: 1000, equivocators: ["a"], votes: { approve: 0 } });
    }
  });

  test("a proposal stamped far in the future is deferred, then taken once the clocks agree; an invalid own proposal is refused", () => {
    const m = new Mini(["a", "b"], { maxClockSkewMs: 1000 });
    const r = m.cores.get("a")!.propose(input({ eligible: ["a", "b"], timeoutMs: 100_000 }), 50_000);
    expect(r.ok).toBe(true);
    const rec = m.cores.get("a")!.records("p1").filter((x): x is ProposalRecord => x.kind === "vg_proposal");
    const b = m.cores.get("b")!;
    expect(b.step("a", { type: "vg_push", proposals: rec, votes: [] }, 1000).events.join()).toMatch(/defers/);
    expect(b.get("p1", 1000)).toBeNull();
    b.step("a", { type: "vg_push", proposals: structuredClone(rec), votes: [] }, 49_500);
    // b auto-votes; its clock is behind the proposer's, so its vote is stamped at createdAt (in the window).
    expect(b.get("p1", 49_500)).toMatchObject({ status: "pending", votes: { approve: 1 } });
    expect(b.records("p1").find((x) => x.kind === "vg_vote")).toMatchObject({ agent: "b", at: 50_000 });
    expect(m.cores.get("a")!.propose(input({ proposalId: "p2", threshold: 0.5 }), 50_000)).toMatchObject({ ok: false, error: "invalid" });
    expect(m.cores.get("a")!.propose(input(), 50_000)).toMatchObject({ ok: false, error: "conflict" });
  });

  test("anti-entropy alone (no eager push) spreads a proposal and its votes", () => {
    const m = new Mini(["a", "b", "c", "d", "e", "f"], { eager: false });
    const r = m.cores.get("a")!.propose(input({ eligible: ["a", "b", "c", "d", "e", "f"], timeoutMs: 100_000 }), m.now);
    if (r.ok) m.take("a", r.ready);
    expect(m.queue.length).toBe(0); // nothing pushed
    for (let i = 0; i < 40; i++) m.tick(50);
    for (const id of m.ids) expect(m.cores.get(id)!.get("p1", m.now)).toMatchObject({ status: "approved", votes: { approve: 6 } });
  });

  test("with a coalescing window, pushes wait and go out together", () => {
    const m = new Mini(["a", "b", "c", "d"], { pushDelayMs: 20 });
    const r = m.cores.get("a")!.propose(input(), m.now);
    if (r.ok) m.take("a", r.ready);
    expect(m.queue.length).toBe(0);
    expect(m.cores.get("a")!.nextDeadline()).toBe(1020);
    for (let i = 0; i < 10; i++) m.tick(10);
    // a voted at 1000; b, c, d voted when the batch reached them (1020): the third approval decides.
    for (const id of m.ids) expect(m.cores.get(id)!.get("p1", m.now)).toMatchObject({ status: "approved", decidedAt: 1020, votes: { approve: 4 } });
  });
});

describe("gossip voting: seeded fault harness", () => {
  const SEEDS = Number(process.env.VOTE_SEEDS ?? 30);
  test(`${SEEDS} seeds, 7 agents (one equivocator, one forging relay), loss, duplication, delay, partitions, crash-restart: no forged record stored; converged after healing`, () => {
    let proposals = 0;
    let equivocations = 0;
    let filtered = 0;
    const statuses = new Set<string>();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const h = faultRun(seed, { steps: 2000 });
      proposals += h.proposals.length;
      filtered += h.stats.filtered;
      for (const p of h.proposals) {
        const o = h.outcome(p.proposalId)!;
        statuses.add(o.status);
        if (o.equivocators.length) equivocations++;
      }
    }
    expect(proposals).toBeGreaterThan(SEEDS * 5);
    expect(filtered).toBeGreaterThan(SEEDS);
    expect(equivocations).toBeGreaterThan(SEEDS);
    for (const st of ["approved", "rejected", "expired"]) expect(statuses).toContain(st);
  });

  test("12 agents with two equivocators and two forgers (5 seeds)", () => {
    for (let seed = 100; seed < 105; seed++) faultRun(seed, { n: 12, equivocators: 2, forgers: 2, steps: 1500 });
  });

  /** The first seed whose run throws with the mutation on, and its error. */
  const firstFailure = (o: Parameters<typeof faultRun>[1], seeds: number) => {
    for (let seed = 1; seed <= seeds; seed++) {
      try {
        faultRun(seed, o);
      } catch (e) {
        return { seed, message: String(e) };
      }
    }
    return null;
  };

  test("the forgery checker catches a forged record when the signature filter is off (and that seed passes with it on)", () => {
    const f = firstFailure({ unfiltered: true, forgers: 2 }, 10);
    expect(f?.message).toMatch(/forged record stored/);
    faultRun(f!.seed, { forgers: 2 });
  });

  test("the convergence checker catches divergence when a second, different vote is dropped on arrival — first arrival wins (and that seed converges without it)", () => {
    const f = firstFailure({ firstArrivalWins: true, equivocators: 2, forgers: 0 }, 20);
    expect(f?.message).toMatch(/holds|computes|disagree/);
    faultRun(f!.seed, { equivocators: 2, forgers: 0 });
  });
});

describe("gossip voting: measurements (small; npm run bench runs the big ones)", () => {
  test("N = 12, 5% loss: every agent shows the final decision within 1–2 gossip rounds of it", () => {
    const r = convergenceRounds({ n: 12, proposals: 20, seed: 1 });
    expect(r.decisionRounds.length).toBe(20);
    expect(r.p99Decision).toBeLessThanOrEqual(2);
  });

  test("after a partition heals, N = 12 agrees within a few rounds", () => {
    const r = healRounds({ n: 12, trials: 5, seed: 1 });
    expect(r.rounds.length).toBe(5);
    expect(r.p99).toBeLessThanOrEqual(4);
  });

  test("messages per decision at n = 4 are counted (finite, and no more than a push per record per edge)", () => {
    const m = messagesPerDecision(4, { proposals: 3 });
    expect(Number.isFinite(m.toDecision)).toBe(true);
    expect(m.toDecision).toBeGreaterThan(0);
    // 5 records (proposal + 4 votes), 4 agents with 3 peers each: at most 5 · 4 · 3 pushes.
    expect(m.toFullSet).toBeLessThanOrEqual(60);
  });

  test("harness determinism: the same seed gives the same run", () => {
    const a = new VoteHarness({ seed: 9, n: 7, lossRate: 0.1 });
    const c = new VoteHarness({ seed: 9, n: 7, lossRate: 0.1 });
    for (const h of [a, c]) {
      h.propose(h.ids[0], { coordination_protocol: "gossip" });
      h.runMs(3000);
    }
    expect(a.stats).toEqual(c.stats);
    expect(a.outcome("prop-1")).toEqual(c.outcome("prop-1"));
  });
});
