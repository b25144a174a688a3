// A seeded fault harness for the gossip-voting core (src/core/vote/gossip.ts), in the style of the
// Raft harness: N agents on the mesh's overlay, a network with loss, delay (so reordering),
// duplication and partitions that heal; crash-restart (memory lost, storage kept); Byzantine voters
// that sign both votes and send each to different peers; malicious relays that forge and alter records.
// Every message goes through the shell's steps: the sender signs its own records (ModelKeys), the
// receiver validates the message and checks every signature (partsValid), then the core sees it;
// effects are persisted before messages leave.
//
// Checkers:
//  - no forged record is ever stored by any core (checked on every save): a record is stored only if
//    its author really signed it;
//  - convergence (after healing): every honest agent holds the same records and computes the same
//    outcome — status, decidedAt, counts, equivocators — for every proposal, equal to the tally of the
//    union of every agent's records.
import { canonical, partsValid } from "../../src/core/crypto/canonical";
import { buildOverlay } from "../../src/core/topology/overlay";
import { Rng } from "../../src/core/rng";
import { GossipVoting, recordKey, type VoteReady } from "../../src/core/vote/gossip";
import { ballotsFromRecords, decide, type Outcome, type VoteValue, type VotingMode } from "../../src/core/vote/tally";
import type { VoteKnowledge } from "../../src/core/vote/validate";
import {
  recordsToSign, signedParts, signerOf, validVoteGossipMsg, type ProposalRecord, type VoteGossipMsg, type VoteGossipRecord, type VoteRecord,
} from "../../src/core/vote/wire";
import { ModelKeys } from "../sim/keys";
import { percentile } from "../sim/sim";

export interface VoteHarnessOptions {
  seed: number;
  n: number;
  lossRate?: number;
  dupRate?: number;
  delayMinMs?: number;
  delayMaxMs?: number;
  /** Simulated time per step. */
  stepMs?: number;
  /** One gossip round: the anti-entropy cadence. */
  syncEveryMs?: number;
  graceMs?: number;
  eager?: boolean;
  /** Anti-entropy partners per round. */
  syncFanout?: number;
  /** The core's push coalescing window (0: push at once). */
  pushDelayMs?: number;
  /** Byzantine voters that sign both votes (approve to some peers, reject to others). */
  equivocators?: number;
  /** Malicious relays that alter and forge records in what they pass on. */
  forgers?: number;
  /** Mutation: skip the signature filter (the forgery checker must then fail). */
  unfiltered?: boolean;
  /** Mutation: an agent drops a second, different vote of a voter before its core sees it — "first arrival wins" (the convergence checker must then fail). */
  firstArrivalWins?: boolean;
}

type Role = "honest" | "equivocator" | "forger";

interface Disk {
  records: Map<string, VoteGossipRecord>;
  outcomes: Map<string, Outcome>;
}

interface VNode {
  id: string;
  role: Role;
  core: GossipVoting | null;
  disk: Disk;
  rng: Rng;
  deadline: number | null;
  /** Last outcome key seen from the core per proposal, and when it last changed. */
  view: Map<string, { key: string; at: number; decisionKey: string; decisionAt: number }>;
}

interface InFlight {
  from: string;
  to: string;
  msg: VoteGossipMsg;
}

export interface ProposalMeta {
  proposalId: string;
  via: string;
  createdAt: number;
  timeoutMs: number;
}

export const outcomeKey = (o: Outcome) => `${o.status}|${o.decidedAt}|${o.votes.approve}|${o.votes.reject}|${o.equivocators.join(",")}`;
const decisionKey = (o: Outcome) => `${o.status}|${o.decidedAt}`;

export class VoteHarness {
  readonly opts: Required<VoteHarnessOptions>;
  readonly rng: Rng;
  readonly keys: ModelKeys;
  readonly ids: string[];
  readonly nodes = new Map<string, VNode>();
  readonly peers: Map<string, string[]>;
  time = 0;
  private buckets = new Map<number, InFlight[]>();
  private cut = new Set<string>();
  readonly crashed = new Set<string>();
  /** Byzantine agents stop sending (they can release a valid record at any time; convergence is from the last one). */
  byzantineSilent = false;
  /** Every (signer, payload) a real key signed: the ground truth for the forgery checker. */
  private readonly signed = new Set<string>();
  readonly proposals: ProposalMeta[] = [];
  private nextProposal = 0;
  readonly stats = {
    sent: 0, delivered: 0, lost: 0, filtered: 0, malformed: 0, forgeriesInjected: 0, equivocationsSent: 0,
    byType: { vg_push: 0, vg_digest: 0, vg_have: 0 } as Record<VoteGossipMsg["type"], number>,
  };

  constructor(opts: VoteHarnessOptions) {
    this.opts = {
      lossRate: 0, dupRate: 0, delayMinMs: 5, delayMaxMs: 50, stepMs: 5, syncEveryMs: 500, graceMs: 1e9, eager: true, pushDelayMs: 0, syncFanout: 1,
      equivocators: 0, forgers: 0, unfiltered: false, firstArrivalWins: false, ...opts,
    };
    this.rng = new Rng(opts.seed);
    this.keys = new ModelKeys(opts.seed);
    this.ids = Array.from({ length: this.opts.n }, (_, i) => `agent-${i + 1}`);
    const g = buildOverlay(this.ids);
    this.peers = new Map(this.ids.map((id) => [id, Array.from(g.get(id)!).sort()]));
    const order = this.rng.shuffle(this.ids.slice());
    const roles = new Map<string, Role>();
    order.forEach((id, i) => roles.set(id, i < this.opts.equivocators ? "equivocator" : i < this.opts.equivocators + this.opts.forgers ? "forger" : "honest"));
    for (const id of this.ids) {
      const node: VNode = {
        id, role: roles.get(id)!, core: null, disk: { records: new Map(), outcomes: new Map() }, rng: this.rng.fork(), deadline: null, view: new Map(),
      };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  honest(): VNode[] {
    return Array.from(this.nodes.values()).filter((n) => n.role === "honest");
  }

  private knowledge(): VoteKnowledge {
    return { members: this.ids.map((id) => ({ id, status: this.crashed.has(id) ? "dead" : "alive", caps: ["compute"] })) };
  }

  private start(node: VNode): void {
    const recs = Array.from(node.disk.records.values());
    node.core = new GossipVoting(
      {
        self: node.id, rng: node.rng.fork(), peers: () => this.peers.get(node.id)!, members: () => this.ids,
        knowledge: () => this.knowledge(), syncEveryMs: this.opts.syncEveryMs, graceMs: this.opts.graceMs, eager: this.opts.eager,
        pushDelayMs: this.opts.pushDelayMs, syncFanout: this.opts.syncFanout,
      },
      {
        proposals: recs.filter((r): r is ProposalRecord => r.kind === "vg_proposal"),
        votes: recs.filter((r): r is VoteRecord => r.kind === "vg_vote"),
        outcomes: Array.from(node.disk.outcomes.values()),
      },
    );
    node.deadline = node.core.nextDeadline();
  }

  crash(id: string): void {
    const n = this.nodes.get(id)!;
    if (!n.core) return;
    n.core = null;
    n.deadline = null;
    this.crashed.add(id);
  }

  restart(id: string): void {
    const n = this.nodes.get(id)!;
    if (n.core) return;
    this.crashed.delete(id);
    this.start(n);
  }

  partition(groups: string[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]) for (const b of groups[j]) (this.cut.add(`${a}>${b}`), this.cut.add(`${b}>${a}`));
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** A client proposes through `via` (an honest agent). */
  propose(via: string, body: Record<string, unknown>, o: { threshold?: number; timeoutMs?: number; voting?: VotingMode; eligible?: string[] } = {}): string | null {
    const node = this.nodes.get(via)!;
    if (!node.core) return null;
    const proposalId = `prop-${++this.nextProposal}`;
    const timeoutMs = o.timeoutMs ?? 20 * this.opts.syncEveryMs;
    const r = node.core.propose(
      { proposalId, body, eligible: o.eligible ?? this.ids, threshold: o.threshold ?? 0.67, timeoutMs, voting: o.voting ?? "auto" },
      this.time,
    );
    if (!r.ok) return null;
    this.proposals.push({ proposalId, via, createdAt: this.time, timeoutMs });
    this.handle(node, r.ready);
    return proposalId;
  }

  /** A worker behind `agent` votes by hand. */
  castVote(agent: string, proposalId: string, vote: VoteValue): string | null {
    const node = this.nodes.get(agent)!;
    if (!node.core) return null;
    const r = node.core.castVote(proposalId, vote, this.time);
    this.handle(node, r.ready);
    return r.result;
  }

  step(): void {
    this.time += this.opts.stepMs;
    const due = this.buckets.get(this.time);
    if (due) {
      this.buckets.delete(this.time);
      for (const m of due) this.deliver(m);
    }
    for (const node of this.nodes.values()) {
      if (node.core && node.deadline !== null && node.deadline <= this.time) this.handle(node, node.core.tick(this.time));
    }
  }

  run(steps: number, each?: (h: VoteHarness) => void): void {
    for (let i = 0; i < steps; i++) {
      each?.(this);
      this.step();
    }
  }

  runMs(ms: number, each?: (h: VoteHarness) => void): void {
    this.run(Math.ceil(ms / this.opts.stepMs), each);
  }

  inFlight(): number {
    let k = 0;
    for (const b of this.buckets.values()) k += b.length;
    return k;
  }

  private deliver(m: InFlight): void {
    const node = this.nodes.get(m.to)!;
    // A link cut while a message was in flight loses it.
    if (!node.core || this.cut.has(`${m.from}>${m.to}`)) return;
    // The shell: validate, then check every signature; a message with one bad record is dropped whole.
    if (!validVoteGossipMsg(m.msg)) {
      this.stats.malformed++;
      return;
    }
    if (!this.opts.unfiltered && !partsValid(signedParts(m.msg), "", (p) => this.keys.verify(p))) {
      this.stats.filtered++;
      return;
    }
    let msg = m.msg;
    if (this.opts.firstArrivalWins && msg.type !== "vg_digest") {
      // Mutation: a second, different vote of a voter is dropped on arrival, so which vote counts
      // depends on which one came first — different agents end up counting different votes.
      const core = node.core;
      msg = {
        ...msg,
        votes: msg.votes.filter((v) => !core.records(v.proposalId).some((r) => r.kind === "vg_vote" && r.agent === v.agent && r.vote !== v.vote)),
      };
    }
    this.stats.delivered++;
    this.handle(node, node.core.step(m.from, msg, this.time));
  }

  /** The shell: persist, then sign and send; track what the core reports. */
  private handle(node: VNode, r: VoteReady): void {
    const d = node.disk;
    for (const rec of r.save) {
      this.checkAuthentic(node, rec);
      d.records.set(`${rec.proposalId}|${recordKey(rec)}`, structuredClone(rec));
    }
    for (const rec of r.remove) d.records.delete(`${rec.proposalId}|${recordKey(rec)}`);
    for (const o of r.retire) {
      for (const k of Array.from(d.records.keys())) if (k.startsWith(`${o.proposalId}|`)) d.records.delete(k);
      d.outcomes.set(o.proposalId, structuredClone(o));
    }
    for (const id of r.forget) d.outcomes.delete(id);
    for (const o of r.changed) {
      const v = node.view.get(o.proposalId);
      const key = outcomeKey(o);
      const dk = decisionKey(o);
      if (!v) node.view.set(o.proposalId, { key, at: this.time, decisionKey: dk, decisionAt: this.time });
      else {
        if (v.key !== key) (v.key = key, v.at = this.time);
        if (v.decisionKey !== dk) (v.decisionKey = dk, v.decisionAt = this.time);
      }
    }
    for (const out of r.messages) this.send(node, out.to, out.msg);
    node.deadline = node.core ? node.core.nextDeadline() : null;
  }

  private sign(signer: string, rec: VoteGossipRecord): void {
    const payload = canonical(rec);
    rec.sig = this.keys.sign(signer, payload);
    this.signed.add(`${signer}\n${payload}`);
  }

  private send(node: VNode, to: string, msg0: VoteGossipMsg): void {
    if (this.byzantineSilent && node.role !== "honest") return;
    let msg = structuredClone(msg0);
    for (const rec of recordsToSign(msg, node.id)) this.sign(node.id, rec);
    if (node.role === "equivocator" && msg.type !== "vg_digest") msg = this.equivocate(node, to, msg);
    if (node.role === "forger" && msg.type !== "vg_digest") msg = this.forge(node, msg);
    this.stats.sent++;
    this.stats.byType[msg.type]++;
    if (this.cut.has(`${node.id}>${to}`) || this.rng.chance(this.opts.lossRate)) {
      this.stats.lost++;
      return;
    }
    const copies = this.rng.chance(this.opts.dupRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.opts.delayMinMs + this.rng.int(this.opts.delayMaxMs - this.opts.delayMinMs + 1);
      const at = this.time + Math.max(1, Math.ceil(delay / this.opts.stepMs)) * this.opts.stepMs;
      let b = this.buckets.get(at);
      if (!b) this.buckets.set(at, (b = []));
      b.push({ from: node.id, to, msg: c === 0 ? msg : structuredClone(msg) });
    }
  }

  /** A Byzantine voter tells half of the agents the opposite of its vote, with a valid signature. */
  private equivocate(node: VNode, to: string, msg: Exclude<VoteGossipMsg, { type: "vg_digest" }>): VoteGossipMsg {
    const flip = (this.ids.indexOf(to) + this.ids.indexOf(node.id)) % 2 === 1;
    if (!flip) return msg;
    const votes = msg.votes.map((v) => {
      if (v.agent !== node.id) return v;
      const other: VoteRecord = { kind: "vg_vote", proposalId: v.proposalId, agent: v.agent, vote: v.vote === "approve" ? "reject" : "approve", at: v.at };
      this.sign(node.id, other);
      this.stats.equivocationsSent++;
      return other;
    });
    return { ...msg, votes };
  }

  /** A malicious relay: alters a record it passes on, or makes one up in another agent's name. */
  private forge(node: VNode, msg: Exclude<VoteGossipMsg, { type: "vg_digest" }>): VoteGossipMsg {
    const r = node.rng.next();
    const m = structuredClone(msg);
    const others = m.votes.filter((v) => v.agent !== node.id);
    if (r < 0.25 && others.length) {
      const v = others[node.rng.int(others.length)];
      v.vote = v.vote === "approve" ? "reject" : "approve"; // altered, old signature kept
    } else if (r < 0.5 && m.proposals.length) {
      m.proposals[0].threshold = 0.51; // altered proposal
    } else if (r < 0.75) {
      // A vote in an honest agent's name, signed with the forger's own key.
      const p = this.proposals.length ? this.proposals[node.rng.int(this.proposals.length)] : null;
      const victim = this.ids[node.rng.int(this.ids.length)];
      if (!p || victim === node.id) return msg;
      const v: VoteRecord = { kind: "vg_vote", proposalId: p.proposalId, agent: victim, vote: "reject", at: Math.max(p.createdAt, this.time) };
      v.sig = this.keys.sign(node.id, canonical(v));
      m.votes.push(v);
    } else if (others.length) {
      delete others[0].sig; // stripped signature
    } else return msg;
    this.stats.forgeriesInjected++;
    return m;
  }

  fail(msg: string): Error {
    return new Error(`${msg} (seed ${this.opts.seed}, time ${this.time}; replay with this seed)`);
  }

  /** Forgery checker: a stored record that is not this agent's own must have been signed by its author. */
  private checkAuthentic(node: VNode, rec: VoteGossipRecord): void {
    const author = signerOf(rec);
    if (author === node.id) return;
    if (!this.signed.has(`${author}\n${canonical(rec)}`)) {
      throw this.fail(`forged record stored by ${node.id}: ${rec.kind} of ${rec.proposalId} in ${author}'s name`);
    }
  }

  /**
   * Convergence checker: every honest agent holds the same records per proposal and computes the same
   * outcome, equal to the tally of the union of everyone's records. Call after healing.
   */
  checkConvergence(): void {
    const live = this.honest().filter((n) => n.core);
    for (const p of this.proposals) {
      const union = new Map<string, VoteGossipRecord>();
      let retired = 0;
      for (const n of live) {
        for (const r of n.core!.records(p.proposalId)) union.set(recordKey(r), r);
        if (n.core!.get(p.proposalId, this.time) && n.core!.records(p.proposalId).length === 0) retired++;
      }
      const outs = live.map((n) => n.core!.get(p.proposalId, this.time));
      if (retired === 0) {
        for (const n of live) {
          const mine = new Set(n.core!.records(p.proposalId).map(recordKey));
          if (mine.size !== union.size) throw this.fail(`${p.proposalId}: ${n.id} holds ${mine.size} of ${union.size} records`);
        }
        const proposals = Array.from(union.values()).filter((r): r is ProposalRecord => r.kind === "vg_proposal");
        if (proposals.length === 1) {
          const pr = proposals[0];
          const votes = Array.from(union.values()).filter((r): r is VoteRecord => r.kind === "vg_vote");
          const spec = { proposalId: pr.proposalId, protocol: "gossip" as const, eligible: pr.eligible, threshold: pr.threshold, createdAt: pr.createdAt, timeoutMs: pr.timeoutMs };
          const want = decide(spec, ballotsFromRecords(votes).ballots, this.time);
          for (let i = 0; i < live.length; i++) {
            if (!outs[i] || outcomeKey(outs[i]!) !== outcomeKey(want)) {
              throw this.fail(`${p.proposalId}: ${live[i].id} computes ${outs[i] ? outcomeKey(outs[i]!) : "nothing"}, the union says ${outcomeKey(want)}`);
            }
          }
        }
      }
      const keys = new Set(outs.map((o) => (o ? outcomeKey(o) : "none")));
      if (keys.size !== 1) throw this.fail(`${p.proposalId}: agents disagree: ${Array.from(keys).join(" / ")}`);
    }
  }

  /**
   * When every honest agent last changed its view of a proposal: full outcome (`at`) and decision only
   * (`decisionAt`: status and decidedAt). Meaningful once converged.
   */
  agreementTimes(proposalId: string): { at: number; decisionAt: number } {
    let at = 0;
    let decisionAt = 0;
    for (const n of this.honest()) {
      const v = n.view.get(proposalId);
      if (!v) return { at: Infinity, decisionAt: Infinity };
      at = Math.max(at, v.at);
      decisionAt = Math.max(decisionAt, v.decisionAt);
    }
    return { at, decisionAt };
  }

  outcome(proposalId: string): Outcome | null {
    const n = this.honest().find((x) => x.core);
    return n ? n.core!.get(proposalId, this.time) : null;
  }
}

// ---- workloads ------------------------------------------------------------------------------------

const BODIES: Array<(h: VoteHarness) => Record<string, unknown>> = [
  () => ({ coordination_protocol: "gossip", consensus_threshold: 0.67 }),
  (h) => ({ task_assignment: "auth-service", assigned_to: h.ids[h.rng.int(h.ids.length)] }),
  () => ({ coordination_protocol: "paxos" }),
  () => ({ consensus_threshold: 0.4 }),
  () => ({ fanout: 3, note: "unknown keys are neutral" }),
];

/**
 * One step of the seeded fault workload: proposals (auto and manual), manual votes, crash-restart,
 * partitions and heals.
 */
export function voteFaultStep(h: VoteHarness, rates = { propose: 0.01, vote: 0.03 }): void {
  const r = h.rng.next();
  const honest = h.honest().map((n) => n.id);
  if (r < rates.propose) {
    const via = honest[h.rng.int(honest.length)];
    const manual = h.rng.chance(0.3);
    h.propose(via, BODIES[h.rng.int(BODIES.length)](h), {
      threshold: [0.51, 0.67, 0.75, 1][h.rng.int(4)],
      voting: manual ? "manual" : "auto",
      eligible: h.rng.chance(0.8) ? undefined : h.rng.sample(h.ids, Math.max(1, h.rng.int(h.ids.length) + 1)),
    });
  } else if (r < rates.propose + rates.vote && h.proposals.length) {
    const p = h.proposals[h.rng.int(h.proposals.length)];
    h.castVote(h.ids[h.rng.int(h.ids.length)], p.proposalId, h.rng.chance(0.7) ? "approve" : "reject");
  } else if (r < rates.propose + rates.vote + 0.002) h.crash(h.ids[h.rng.int(h.ids.length)]);
  else if (r < rates.propose + rates.vote + 0.006) h.restart(h.ids[h.rng.int(h.ids.length)]);
  else if (r < rates.propose + rates.vote + 0.007) {
    const s = h.rng.shuffle(h.ids.slice());
    const k = 1 + h.rng.int(s.length - 1);
    h.partition([s.slice(0, k), s.slice(k)]);
  } else if (r < rates.propose + rates.vote + 0.009) h.heal();
}

/**
 * Heal everything, restart everyone, stop losses, and let anti-entropy finish: `rounds` rounds with
 * the Byzantine agents still active, then `rounds` more with them silent — a Byzantine agent can hold
 * back a validly signed record and release it at any moment, so convergence is judged from the last one.
 */
export function healAndSettle(h: VoteHarness, rounds = 12): void {
  h.heal();
  for (const id of h.ids) h.restart(id);
  h.opts.lossRate = 0;
  h.opts.dupRate = 0;
  h.runMs(rounds * h.opts.syncEveryMs);
  h.byzantineSilent = true;
  h.runMs(rounds * h.opts.syncEveryMs);
}

/** One seeded safety-and-convergence run (used by the tests, and by the bench with more seeds). */
export function faultRun(seed: number, o: Partial<VoteHarnessOptions> & { steps?: number } = {}): VoteHarness {
  const h = new VoteHarness({ seed, n: o.n ?? 7, lossRate: 0.1, dupRate: 0.05, equivocators: 1, forgers: 1, ...o });
  h.run(o.steps ?? 1500, (x) => voteFaultStep(x));
  healAndSettle(h);
  h.checkConvergence();
  return h;
}

// ---- measurements ---------------------------------------------------------------------------------

export interface RoundsResult {
  /** Per proposal: gossip rounds from decidedAt until every agent shows the final status and decidedAt. */
  decisionRounds: number[];
  /** Per proposal: rounds from createdAt until every agent shows the final outcome (counts included). */
  fullRounds: number[];
  p50Decision: number;
  p99Decision: number;
  p50Full: number;
  p99Full: number;
}

/**
 * Convergence under loss with no partition: `proposals` auto-voted proposals, one at a time through a
 * random agent, every agent eligible. Rounds are `syncEveryMs` (the anti-entropy cadence).
 */
export function convergenceRounds(o: {
  n: number; proposals: number; seed: number; lossRate?: number; eager?: boolean; delayMaxMs?: number; syncFanout?: number;
}): RoundsResult {
  const h = new VoteHarness({ seed: o.seed, n: o.n, lossRate: o.lossRate ?? 0.05, delayMaxMs: o.delayMaxMs ?? 50, eager: o.eager ?? true, syncFanout: o.syncFanout ?? 1 });
  const round = h.opts.syncEveryMs;
  const timeoutMs = 30 * round;
  const ids: string[] = [];
  for (let i = 0; i < o.proposals; i++) {
    const via = h.ids[h.rng.int(h.ids.length)];
    const id = h.propose(via, { coordination_protocol: "gossip", consensus_threshold: 0.67 }, { timeoutMs });
    if (id) ids.push(id);
    h.runMs(2 * round);
  }
  h.opts.lossRate = 0;
  h.runMs(timeoutMs);
  h.checkConvergence();
  const decisionRounds: number[] = [];
  const fullRounds: number[] = [];
  for (const id of ids) {
    const out = h.outcome(id)!;
    const t = h.agreementTimes(id);
    decisionRounds.push(Math.max(0, Math.ceil((t.decisionAt - (out.decidedAt ?? out.createdAt)) / round)));
    fullRounds.push(Math.ceil((t.at - out.createdAt) / round));
  }
  return {
    decisionRounds, fullRounds,
    p50Decision: percentile(decisionRounds, 50), p99Decision: percentile(decisionRounds, 99),
    p50Full: percentile(fullRounds, 50), p99Full: percentile(fullRounds, 99),
  };
}

/**
 * After a partition heals: the swarm is split in two halves, proposals are made on both sides (each
 * side alone is below the threshold, so they stay pending), then the partition heals. Measures rounds
 * from the heal until every agent shows the same final outcome for every proposal. One trial per seed.
 */
export function healRounds(o: { n: number; trials: number; seed: number; lossRate?: number }): { rounds: number[]; p50: number; p99: number } {
  const rounds: number[] = [];
  for (let t = 0; t < o.trials; t++) {
    const h = new VoteHarness({ seed: o.seed + t, n: o.n, lossRate: o.lossRate ?? 0.05 });
    const round = h.opts.syncEveryMs;
    const s = h.rng.shuffle(h.ids.slice());
    const a = s.slice(0, o.n >> 1);
    const b = s.slice(o.n >> 1);
    h.partition([a, b]);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const side = i % 2 ? a : b;
      const id = h.propose(side[h.rng.int(side.length)], { coordination_protocol: "raft" }, { timeoutMs: 40 * round });
      if (id) ids.push(id);
      h.runMs(round);
    }
    h.runMs(4 * round);
    h.heal();
    const healedAt = h.time;
    h.runMs(20 * round);
    h.checkConvergence();
    let last = healedAt;
    for (const id of ids) last = Math.max(last, h.agreementTimes(id).at);
    rounds.push(Math.ceil((last - healedAt) / round));
  }
  return { rounds, p50: percentile(rounds, 50), p99: percentile(rounds, 99) };
}

export interface MessageCount {
  n: number;
  /** Mean ms from the proposal until every agent shows the final decision. */
  decisionMs: number;
  /** Mean envelopes sent from the proposal until every agent shows the final decision. */
  toDecision: number;
  /** Mean envelopes sent until every agent holds every record (eager pushes only, no loss). */
  toFullSet: number;
  /** Anti-entropy envelopes per gossip round while a proposal is active (digests and their answers). */
  antiEntropyPerRound: number;
  /** PBFT's normal case for comparison: pre-prepare n−1, prepare (n−1)², commit n(n−1)… ≈ 2n². */
  pbftNormalCase: number;
}

/**
 * Messages per decision for gossip voting at size n (no loss, every agent eligible and auto-voting),
 * averaged over `proposals` proposals made one at a time. For the bench table (n = 4, 7, 13).
 */
export function messagesPerDecision(n: number, o: { proposals?: number; seed?: number; pushDelayMs?: number } = {}): MessageCount {
  // Grace of one round: each proposal retires 11 rounds after it was made, before the next one.
  const h = new VoteHarness({ seed: o.seed ?? 42, n, delayMinMs: 5, delayMaxMs: 50, graceMs: 500, syncEveryMs: 500, pushDelayMs: o.pushDelayMs ?? 0 });
  const round = h.opts.syncEveryMs;
  const k = o.proposals ?? 20;
  let toDecision = 0;
  let decisionMs = 0;
  let toFullSet = 0;
  let ae = 0;
  let aeRounds = 0;
  for (let i = 0; i < k; i++) {
    const before = h.stats.sent;
    const t0 = h.time;
    const id = h.propose(h.ids[h.rng.int(h.ids.length)], { coordination_protocol: "gossip" }, { timeoutMs: 10 * round })!;
    // Count pushes only until the set is everywhere (anti-entropy starts a round after creation).
    let decidedAt = -1;
    let fullAt = -1;
    const sentAt = new Map<number, number>();
    while (h.time - t0 < 10 * round && fullAt < 0) {
      h.step();
      sentAt.set(h.time, h.stats.sent - before);
      const outs = h.honest().map((x) => x.core!.get(id, h.time));
      if (decidedAt < 0 && outs.every((x) => x?.status === "approved")) decidedAt = h.time;
      if (outs.every((x) => x?.votes.approve === n)) fullAt = h.time;
    }
    toDecision += sentAt.get(decidedAt) ?? NaN;
    decisionMs += decidedAt - t0;
    toFullSet += sentAt.get(fullAt) ?? NaN;
    // Then the steady anti-entropy cost while the proposal stays active.
    const aeBefore = h.stats.byType.vg_digest + h.stats.byType.vg_have;
    const pushBefore = h.stats.byType.vg_push;
    h.runMs(11 * round - (h.time - t0));
    ae += h.stats.byType.vg_digest + h.stats.byType.vg_have + (h.stats.byType.vg_push - pushBefore) - aeBefore;
    aeRounds += (11 * round - (fullAt - t0)) / round;
    h.runMs(2 * round);
  }
  return {
    n, decisionMs: decisionMs / k, toDecision: toDecision / k, toFullSet: toFullSet / k, antiEntropyPerRound: ae / aeRounds,
    pbftNormalCase: (n - 1) + (n - 1) * (n - 1) + n * (n - 1),
  };
}
