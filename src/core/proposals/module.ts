// Decisions (`daa_consensus`): proposals and votes over three protocols, one contract.
//  - gossip: votes spread by gossip and anti-entropy, every agent computes the same outcome from the same
//    vote set, no leader (vote/gossip.ts). Records are signed by their authors.
//  - raft: proposal and votes are entries of the replicated log, applied by a state machine beside the
//    memory store (book.ts); any agent submits its vote through the log (`raft.submit`).
//  - pbft: the same state machine, executed in PBFT's order by the replicas (pbft/pbft.ts) — the log's
//    first voters, by hash, fixed at creation (n = 3f+1 tolerates f lying replicas). Each agent submits
//    its requests (proposals, votes) as a PBFT client; every request is signed by its agent and checked
//    by the shell against the key pinned through the log, so no one can vote as another.
// Auto voting: each eligible agent validates a new proposal against what it knows (vote/validate.ts)
// and votes by itself; with `voting: "manual"` only the workers' votes count. One vote per agent: this
// agent remembers its own votes, so a second, different vote is refused (the contract's 409) before
// anything is sent. Signing and checking happen in the shell (see crypto/canonical.ts): this module says
// which items of an envelope are its own to sign and which signed parts an envelope carries.
import { canonical } from "../crypto/canonical";
import { rankByHash, VOTER_SEED } from "../hash";
import { signedParts as pbftParts, unsignedOwnItems } from "../pbft/auth";
import { PbftClient } from "../pbft/client";
import { Pbft } from "../pbft/pbft";
import type { PbftMsg, PbftPersisted, PbftReady, Reply, Request } from "../pbft/types";
import { validPbftMsg, validReply } from "../pbft/validate";
import type { Context, Envelope, InitOptions, Module, Persisted, SigningDelegate, ToSign } from "../protocol";
import { GossipVoting, recordKey, type GossipVotingPersisted, type VoteReady } from "../vote/gossip";
import { makeProposal, outcomeView, pbftQuorum, type Outcome, type Proposal, type ProposalInput, type VoteValue } from "../vote/tally";
import { autoVote, type VoteKnowledge } from "../vote/validate";
import { recordsToSign, signedParts as gossipParts, validVoteGossipMsg, type ProposalRecord, type VoteGossipMsg, type VoteRecord } from "../vote/wire";
import type { BookCommand, BookResult, ProposalBook } from "./book";
import type { KeyBook } from "./keys";

/** PBFT counts time in ticks of this many ms. */
const PBFT_TICK_MS = 100;
/** Records of a decided gossip proposal are kept this long after its window closes (late agents catch up). */
const GOSSIP_GRACE_MS = 60_000;
/** A submitted raft command not yet applied is submitted again after this long. */
const RESUBMIT_MS = 500;


export type ProposeResult = { ok: true; proposalId: string; status: string } | { ok: false; field: string; message: string; code?: "conflict" };
export type VoteResult =
  | { ok: true; proposalId: string; status: string; result: string }
  | { ok: false; code: "conflict" | "not_found" | "not_eligible" | "closed"; message: string };

export class Proposals implements Module {
  readonly name = "proposals";
  private gossip: GossipVoting | null = null;
  private pbft: Pbft | null = null;
  private client: PbftClient | null = null;
  /** PBFT requests waiting for the client (one outstanding at a time, §4.1). */
  private queue: BookCommand[] = [];
  private replicas: string[] = [];
  /** This agent's own votes, by proposal (its word: a second, different vote is refused). */
  private readonly mine = new Map<string, VoteValue>();
  /** Raft commands submitted and not yet seen applied: key → (command, when to resubmit). */
  private readonly pendingRaft = new Map<string, { cmd: BookCommand; at: number }>();
  /** Auto votes decided while a command was being applied: cast at the end of the input. */
  private autoQueue: Array<{ protocol: "raft" | "pbft"; proposalId: string; vote: VoteValue }> = [];
  private countedAt = 0;
  private pbftTicks = 0;
  private readonly stats = { forgedDropped: 0, votesForOthersRefused: 0, autoVotes: 0, manualVotes: 0, viewChanges: 0, decisions: 0 };
  private readonly decided = new Set<string>();

  readonly signing: SigningDelegate = {
    outgoing: (env) => this.outgoing(env),
    incoming: (env) => (env.type === "vg" ? gossipParts(env.msg as VoteGossipMsg) : pbftParts(env.msg as PbftMsg | Reply)),
  };

  /** This agent's public key, until the log has pinned it (then null). */
  private pin: { key: string; at: number } | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly raftBook: ProposalBook,
    private readonly pbftBook: ProposalBook,
    private readonly keys: KeyBook,
  ) {
    raftBook.onApplied = (cmd, r) => this.applied("raft", cmd, r);
    pbftBook.onApplied = (cmd, r) => this.applied("pbft", cmd, r);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  init(o: InitOptions): void {
    const v = this.ctx.config.consensus.voters;
    this.replicas = v >= 4 ? rankByHash(o.roster ?? [], VOTER_SEED).slice(0, v).sort() : [];
    this.ctx.persist({ op: "put", key: "replicas", value: this.replicas });
    this.start(null, 0);
  }

  restore(p: Persisted): void {
    this.replicas = (p.rows.get("replicas") as string[] | undefined) ?? [];
    const records: GossipVotingPersisted = { proposals: [], votes: [], outcomes: [] };
    for (const [k, v] of p.rows) {
      if (k.startsWith("mine:")) this.mine.set(k.slice(5), v as VoteValue);
      else if (k.startsWith("g:")) {
        const r = v as { kind: string };
        if (r.kind === "vg_proposal") records.proposals.push(v as ProposalRecord);
        else records.votes.push(v as VoteRecord);
      } else if (k.startsWith("go:")) records.outcomes.push(v as Outcome);
    }
    const app = p.rows.get("pbft-app");
    if (app !== undefined) this.pbftBook.install(app);
    const client = p.rows.get("client") as { lastReqId: number; queue: BookCommand[] } | undefined;
    this.queue = client?.queue ?? [];
    this.start((p.rows.get("pbft") as PbftPersisted | undefined) ?? null, client?.lastReqId ?? 0, records);
    // Auto votes this agent owes on proposals of the log (the queue was in memory).
    for (const o of this.raftBook.list(this.ctx.now())) this.considerAuto("raft", o.proposalId);
  }

  private start(pbft: PbftPersisted | null, lastReqId: number, records?: GossipVotingPersisted): void {
    this.countedAt = this.ctx.now();
    this.gossip = new GossipVoting(
      {
        self: this.ctx.self, rng: this.ctx.rng, peers: () => this.ctx.members.peers(), members: () => this.ctx.members.liveIds().filter((id) => id !== this.ctx.self),
        knowledge: () => this.knowledge(), syncEveryMs: this.ctx.config.gossip.intervalMs, graceMs: GOSSIP_GRACE_MS,
      },
      records,
    );
    if (this.replicas.length >= 4) {
      if (this.replicas.includes(this.ctx.self)) {
        this.pbft = new Pbft(
          {
            id: this.ctx.self, replicas: this.replicas, idleStatusTicks: 0,
            app: {
              execute: (req) => this.executePbft(req),
              snapshot: () => this.pbftBook.snapshot(),
              restore: (s) => void this.pbftBook.install(s),
            },
          },
          pbft,
        );
        this.absorbPbft(this.pbft.ready());
      }
      this.client = new PbftClient({ id: this.ctx.self, replicas: this.replicas, lastReqId });
    }
  }

  // ---- commands (from the shell) ----------------------------------------------------------------

  /** A new proposal, made at this agent (its proposer). */
  propose(input: ProposalInput & { proposalId: string }): ProposeResult {
    const protocol = input.protocol ?? "gossip";
    const now = this.ctx.now();
    const live = this.ctx.members.liveIds();
    if (protocol === "pbft") {
      if (this.replicas.length < 4) return { ok: false, field: "protocol", message: "pbft needs at least 4 voters (consensus.voters ≥ 4); this swarm has fewer" };
      const bad = input.agents && input.agents !== "all" ? input.agents.filter((a) => !this.replicas.includes(a)) : [];
      if (bad.length) return { ok: false, field: "agents", message: `under pbft only the replicas vote (${this.replicas.join(", ")}); not: ${bad.join(", ")}` };
    } else if (input.agents && input.agents !== "all") {
      const unknown = input.agents.filter((a) => !this.ctx.members.member(a));
      if (unknown.length) return { ok: false, field: "agents", message: `unknown agents: ${unknown.join(", ")}` };
    }
    const made = makeProposal(input, {
      proposalId: input.proposalId, proposer: this.ctx.self, now,
      liveMembers: protocol === "pbft" ? this.replicas : live, defaultThreshold: this.ctx.config.consensus.threshold,
    });
    if (!made.ok) return made;
    const proposal = made.proposal;
    if (protocol === "gossip") {
      const r = this.gossip!.propose({ ...proposal, eligible: proposal.eligible }, now);
      this.absorbGossip(r.ready);
      if (!r.ok) return { ok: false, field: "proposalId", message: `proposal ${proposal.proposalId}: ${r.error}`, code: r.error === "conflict" ? "conflict" : undefined };
    } else if (protocol === "raft") {
      if (this.raftBook.proposal(proposal.proposalId)) return { ok: false, field: "proposalId", message: `proposal ${proposal.proposalId} exists`, code: "conflict" };
      this.submitRaft({ op: "propose", proposal });
    } else {
      this.enqueuePbft({ op: "propose", proposal });
    }
    this.ctx.log("info", "proposed", { proposalId: proposal.proposalId, protocol, eligible: proposal.eligible.length });
    return { ok: true, proposalId: proposal.proposalId, status: "pending" };
  }

  /**
   * Register this agent's public key (made by the shell at spawn) through the log, where the first key
   * an agent registers is pinned for good. Retried until the log shows it.
   */
  pinKey(key: string): void {
    if (this.keys.get(this.ctx.self) === key) return;
    this.pin = { key, at: this.ctx.now() + RESUBMIT_MS };
    this.ctx.fact<(sm: string, cmd: unknown) => boolean>("raft.submit")?.("keys", { op: "pin", agent: this.ctx.self, key });
  }

  /** The key pinned for `agent` (null: none yet). */
  pinnedKey(agent: string): string | null {
    return this.keys.get(agent);
  }

  /** This agent's vote (manual, from its worker). */
  vote(proposalId: string, vote: VoteValue): VoteResult {
    const prev = this.mine.get(proposalId);
    if (prev !== undefined && prev !== vote) return { ok: false, code: "conflict", message: `Agent ${this.ctx.self} already voted ${prev} on ${proposalId}.` };
    const where = this.find(proposalId);
    if (!where) return { ok: false, code: "not_found", message: `Proposal ${proposalId} is not known to agent ${this.ctx.self}.` };
    const o = where.outcome;
    if (!where.proposal.eligible.includes(this.ctx.self)) return { ok: false, code: "not_eligible", message: `Agent ${this.ctx.self} is not eligible to vote on ${proposalId}.` };
    this.stats.manualVotes++;
    const result = this.cast(where.proposal.protocol, proposalId, vote);
    return { ok: true, proposalId, status: o.status, result };
  }

  /** The outcome as this agent knows it (null: unknown here). */
  get(proposalId: string): (ReturnType<typeof outcomeView> & { proposer: string; proposal: Record<string, unknown>; voting: string; threshold: number; eligible: string[] }) | null {
    const w = this.find(proposalId);
    if (!w) return null;
    return { ...outcomeView(w.outcome), proposer: w.proposal.proposer, proposal: w.proposal.body, voting: w.proposal.voting, threshold: w.proposal.threshold, eligible: w.proposal.eligible.slice() };
  }

  list(): Array<ReturnType<typeof outcomeView>> {
    const now = this.ctx.now();
    const all = [...this.gossip!.list(now), ...this.raftBook.list(now), ...(this.pbft ? this.pbftBook.list(now) : [])];
    return all.sort((a, b) => b.createdAt - a.createdAt || (a.proposalId < b.proposalId ? -1 : 1)).map(outcomeView);
  }

  isReplica(): boolean {
    return this.pbft !== null;
  }

  replicaSet(): string[] {
    return this.replicas.slice();
  }

  // ---- the protocols ------------------------------------------------------------------------------

  private find(id: string): { proposal: Proposal; outcome: Outcome } | null {
    const now = this.ctx.now();
    const g = this.gossip!.proposal(id);
    if (g) return { proposal: g, outcome: this.gossip!.get(id, now)! };
    const r = this.raftBook.proposal(id);
    if (r) return { proposal: r, outcome: this.raftBook.outcome(id, now)! };
    const p = this.pbftBook.proposal(id);
    if (p) return { proposal: p, outcome: this.pbftBook.outcome(id, now)! };
    return null;
  }

  private cast(protocol: string, proposalId: string, vote: VoteValue): string {
    this.mine.set(proposalId, vote);
    this.ctx.persist({ op: "put", key: `mine:${proposalId}`, value: vote });
    if (protocol === "gossip") {
      const r = this.gossip!.castVote(proposalId, vote, this.ctx.now());
      this.absorbGossip(r.ready);
      return r.result;
    }
    const cmd: BookCommand = { op: "vote", proposalId, agent: this.ctx.self, vote, at: this.ctx.now() };
    if (protocol === "raft") this.submitRaft(cmd);
    else this.enqueuePbft(cmd);
    return "submitted";
  }

  private knowledge(): VoteKnowledge {
    return { members: this.ctx.members.all().map((m) => ({ id: m.id, status: m.status, caps: m.caps })) };
  }

  /** A command of an ordered protocol was applied (log or PBFT): note decisions; owe an auto vote? */
  private applied(protocol: "raft" | "pbft", cmd: BookCommand, r: BookResult): void {
    const id = cmd.op === "propose" ? cmd.proposal.proposalId : cmd.proposalId;
    if (protocol === "raft") this.pendingRaft.delete(raftKey(cmd));
    if (cmd.op === "propose" && r.result === "created") this.considerAuto(protocol, id);
    this.noteDecision(protocol === "raft" ? this.raftBook.outcome(id, this.ctx.now()) : this.pbftBook.outcome(id, this.ctx.now()));
  }

  private considerAuto(protocol: "raft" | "pbft", id: string): void {
    const book = protocol === "raft" ? this.raftBook : this.pbftBook;
    const p = book.proposal(id);
    if (!p || p.voting !== "auto" || !p.eligible.includes(this.ctx.self) || this.mine.has(id) || book.ballot(id, this.ctx.self)) return;
    const o = book.outcome(id, this.ctx.now());
    if (!o || o.status !== "pending") return;
    this.autoQueue.push({ protocol, proposalId: id, vote: autoVote(p.body, this.knowledge()).vote });
  }

  private noteDecision(o: Outcome | null): void {
    if (!o || o.status === "pending" || this.decided.has(o.proposalId)) return;
    this.decided.add(o.proposalId);
    this.stats.decisions++;
    if (o.decisionLatencyMs !== null) this.ctx.observe(`decision.${o.protocol}.latencyMs`, o.decisionLatencyMs);
    this.ctx.observe(`decision.${o.protocol}.participation`, o.participation);
    this.ctx.log("info", "decided", { proposalId: o.proposalId, protocol: o.protocol, status: o.status, latencyMs: o.decisionLatencyMs });
  }

  /** The end of an input: cast the auto votes decided while applying (not from inside another module's step). */
  flush(): void {
    const q = this.autoQueue;
    this.autoQueue = [];
    for (const a of q) {
      if (this.mine.has(a.proposalId)) continue;
      this.stats.autoVotes++;
      this.cast(a.protocol, a.proposalId, a.vote);
    }
  }

  private submitRaft(cmd: BookCommand): void {
    this.pendingRaft.set(raftKey(cmd), { cmd, at: this.ctx.now() + RESUBMIT_MS });
    this.ctx.fact<(sm: string, cmd: unknown) => boolean>("raft.submit")?.("proposals", cmd);
  }

  private enqueuePbft(cmd: BookCommand): void {
    this.queue.push(cmd);
    this.pumpPbft();
  }

  /** One PBFT request outstanding at a time: start the next one when the client is free. */
  private pumpPbft(): void {
    const c = this.client;
    if (!c || c.outstanding() || this.queue.length === 0) return;
    const cmd = this.queue[0];
    const out = c.submit(cmd, (r) => r)!;
    this.persistClient();
    const own = out.messages.find((m) => m.to === this.ctx.self);
    for (const m of out.messages) if (m.to !== this.ctx.self) this.ctx.send(m.to, "pbft", { msg: m.msg });
    if (own && this.pbft) this.absorbPbft(this.pbft.step(this.ctx.self, own.msg));
  }

  /** PBFT's application: requests are checked (an agent votes and proposes only as itself), then executed. */
  private executePbft(req: Request): unknown {
    const cmd = req.op as BookCommand;
    if (!this.pbftBook.validCommand(cmd)) return { refused: "invalid" };
    const author = cmd.op === "vote" ? cmd.agent : cmd.proposal.proposer;
    if (author !== req.client) {
      this.stats.votesForOthersRefused++;
      return { refused: "not_the_author" };
    }
    return this.pbftBook.execute(cmd);
  }

  // ---- inputs ---------------------------------------------------------------------------------

  validate(env: Envelope): string | null {
    if (env.type === "vg") return validVoteGossipMsg(env.msg) ? null : "bad proposals.vg";
    if (env.type === "pbft") return validPbftMsg(env.msg) || validReply(env.msg) ? null : "bad proposals.pbft";
    return `unknown proposals type ${String(env.type)}`;
  }

  receive(env: Envelope): void {
    if (env.type === "vg") return this.absorbGossip(this.gossip!.step(env.from, env.msg as VoteGossipMsg, this.ctx.now()));
    const msg = env.msg as PbftMsg | Reply;
    if (msg.type === "reply") {
      if (!this.client) return;
      const out = this.client.onReply(msg);
      if (out.done) {
        this.queue.shift();
        this.persistClient();
        const res = out.done.result as BookResult | { refused: string };
        if ("refused" in res) this.ctx.log("warn", "pbft_refused", { reason: res.refused });
        this.pumpPbft();
      }
      return;
    }
    if (!this.pbft) return;
    this.advance();
    this.absorbPbft(this.pbft.step(env.from, msg));
  }

  tick(now: number): void {
    this.absorbGossip(this.gossip!.tick(now));
    if (this.pbft || this.client) this.advance();
    if (this.pin && this.keys.get(this.ctx.self) === this.pin.key) this.pin = null;
    if (this.pin && this.pin.at <= now) this.pinKey(this.pin.key);
    for (const [k, p] of this.pendingRaft) {
      if (p.at > now) continue;
      // Not applied yet (a lost submit, a leader change): again — the command is idempotent.
      this.pendingRaft.set(k, { cmd: p.cmd, at: now + RESUBMIT_MS });
      this.ctx.fact<(sm: string, cmd: unknown) => boolean>("raft.submit")?.("proposals", p.cmd);
    }
  }

  /**
   * How long a PBFT tick lasts: PBFT_TICK_MS, stretched on a slow platform by the share of the request
   * timeout (40 ticks) that measured alarm lateness and call round trips could eat — as the log's clock
   * is (Lifeguard's local health). Timers only drive liveness in PBFT (view changes); safety never
   * depends on them, so a slower clock on a loaded machine only avoids needless view changes.
   */
  private tickMs(): number {
    const p = this.ctx.platform();
    return PBFT_TICK_MS * Math.min(4, 1 + (2 * p.alarmLateP99Ms + 2 * p.callP99Ms) / (40 * PBFT_TICK_MS));
  }

  /** PBFT time: ticks of tickMs() since the last count. */
  private advance(): void {
    const now = this.ctx.now();
    const tickMs = this.tickMs();
    const ticks = Math.floor((now - this.countedAt) / tickMs);
    if (ticks <= 0) return;
    this.countedAt += ticks * tickMs;
    this.pbftTicks += ticks;
    if (this.pbft) this.absorbPbft(this.pbft.tick(ticks));
    if (this.client) {
      const out = this.client.tick(ticks);
      for (const m of out.messages) if (m.to !== this.ctx.self) this.ctx.send(m.to, "pbft", { msg: m.msg });
    }
  }

  nextDeadline(): number | null {
    const ds: number[] = [];
    const g = this.gossip?.nextDeadline();
    if (g !== null && g !== undefined) ds.push(g);
    const t = this.pbft?.ticksUntilAction();
    if (t !== null && t !== undefined) ds.push(this.countedAt + t * this.tickMs());
    if (this.client?.outstanding()) ds.push(this.countedAt + 40 * this.tickMs());
    for (const p of this.pendingRaft.values()) ds.push(p.at);
    if (this.pin) ds.push(this.pin.at);
    return ds.length ? Math.min(...ds) : null;
  }

  counters(): Record<string, number> {
    return { ...this.stats, ...Object.fromEntries(Object.entries(this.gossip?.stats ?? {}).map(([k, v]) => [`gossip.${k}`, v])) };
  }

  describe(): Record<string, unknown> {
    const n = this.replicas.length;
    return {
      consensus: {
        pbftReplicas: this.replicas, byzantineTolerance: n >= 4 ? Math.floor((n - 1) / 3) : 0, pbftQuorum: n >= 4 ? pbftQuorum(n) : null,
        pbftView: this.pbft?.view ?? null, keysPinned: this.keys.size(),
      },
    };
  }

  // ---- effects ------------------------------------------------------------------------------

  private absorbGossip(r: VoteReady): void {
    for (const rec of r.save) this.ctx.persist({ op: "put", key: `g:${rec.proposalId}/${recordKey(rec)}`, value: rec });
    for (const rec of r.remove) this.ctx.persist({ op: "del", key: `g:${rec.proposalId}/${recordKey(rec)}` });
    for (const o of r.retire) {
      this.ctx.persist({ op: "put", key: `go:${o.proposalId}`, value: o });
      this.ctx.persist({ op: "delRange", from: `g:${o.proposalId}/`, to: `g:${o.proposalId}/\u007f` });
    }
    for (const id of r.forget) this.ctx.persist({ op: "del", key: `go:${id}` });
    for (const m of r.messages) this.ctx.send(m.to, "vg", { msg: m.msg });
    for (const o of r.changed) this.noteDecision(o);
    for (const e of r.equivocations) this.ctx.log("warn", "equivocation", { proposalId: e.proposalId, agent: e.agent });
  }

  private absorbPbft(r: PbftReady): void {
    if (r.persist) {
      this.ctx.persist({ op: "put", key: "pbft", value: this.pbft!.persisted() });
      if (r.executed.length || r.restored !== null) this.ctx.persist({ op: "put", key: "pbft-app", value: this.pbftBook.snapshot() });
    }
    for (const m of r.messages) {
      if (m.to === this.ctx.self && m.msg.type === "reply") {
        this.receive({ v: 2, swarm: this.ctx.swarm, from: this.ctx.self, to: this.ctx.self, mod: this.name, type: "pbft", msg: m.msg } as Envelope);
      } else this.ctx.send(m.to, "pbft", { msg: m.msg });
    }
    for (const e of r.events) {
      if (e.includes("view change") || e.includes("new view")) this.stats.viewChanges++;
      this.ctx.log(e.includes("view") ? "info" : "debug", "pbft", { detail: e });
    }
  }

  private persistClient(): void {
    this.ctx.persist({ op: "put", key: "client", value: { lastReqId: this.client!.lastReqId, queue: this.queue } });
  }

  /** Sign: gossip records authored here; PBFT items authored here (on a copy: the core keeps its own unsigned). */
  private outgoing(env: Envelope): { env: Envelope; items: ToSign[] } {
    if (env.type === "vg") {
      const msg = env.msg as VoteGossipMsg;
      return { env, items: recordsToSign(msg, this.ctx.self).map((rec) => ({ payload: canonical(rec), set: (sig) => void (rec.sig = sig) })) };
    }
    const { copy, items } = unsignedOwnItems(env.msg as PbftMsg | Reply, this.ctx.self);
    return { env: { ...env, msg: copy }, items: items.map((i) => ({ payload: i.payload, set: (sig) => void (i.target.sig = sig) })) };
  }
}

function raftKey(cmd: BookCommand): string {
  return cmd.op === "propose" ? `p:${cmd.proposal.proposalId}` : `v:${cmd.proposalId}:${cmd.agent}`;
}
