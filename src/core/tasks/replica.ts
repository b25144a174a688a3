// Task lifecycle and replication among a task's holders: a pure protocol core in the style of
// src/core/raft/raft.ts. Inputs: commands (submit, claim, complete, fail), peer messages, `now`
// (milliseconds, from the shell) on every input, membership changes. Output: a TaskReady bundle — rows
// to persist (upsert by task id), then messages to send, then replies to the callers, and events.
//
// Lifecycle (per task): submit → queued → claimed with a lease (running) → done | failed. A lease that
// runs out puts the task back to queued and hands it to another capable agent; a lease whose holder dies
// puts it back to queued (the attempt counts either way); after
// `maxAttempts` attempts the task ends failed with the reason. The first completion is recorded once
// and never replaced: a late or duplicate `complete` is answered with the recorded result.
//
// Replication: primary–backup with write-all acknowledgements and per-task ballots (fencing).
//  - Holders: the top `replication` agents for the task id by rendezvous hashing over the live members
//    (./ring.ts), in rank order: the record's `config`. Its first live member is the primary.
//  - Every change is a write of the whole (small) record tagged (ballot, version) to every member of
//    `config`; a reply (201, a claimed task, a recorded completion) is released only when every member
//    of the config has stored that version or a later one. So an acknowledged state is on all
//    `replication` holders, and it survives as long as one of them does: fewer than `replication`
//    permanent crashes cannot lose it (a crash-restart keeps storage, so a restarted holder still has it).
//  - Takeover and reconfiguration (a new primary after the old one died, a restart or ring change that
//    makes another agent first, or any change of the holder set): Paxos phase 1 per task (Lamport,
//    "Paxos Made Simple" §2.2) with a ballot (n, agent) above every ballot seen; every configuration
//    gets its own ballot (Vertical Paxos, Lamport, Malkhi & Zhou 2009). The candidate asks every live
//    member of the configurations it knows (its record's, any newer one a promise reveals) and the top
//    `replication + 2` of the current ring (re-widened whenever members die mid-campaign: survivors of
//    a configuration it never saw rank there) to promise; an acceptor that promised ballot b refuses
//    writes and promises below b. Before it wins it must also have heard from a member of the newest
//    configuration it learned of (from its own record, a promise's record, or a promise's previous
//    promise), even one its view calls dead: a "dead" holder may only be cut off and hold the only
//    copies of the latest writes; with fewer than `replication` of them failed for good, one answers. With write-all
//    phase 2, a read-one phase 1 is enough for the quorums to intersect (Flexible Paxos, Howard, Malkhi
//    & Spiegelman 2016: |Q1| + |Q2| > n): every acknowledged write sits on every member of its config, so
//    any live member the candidate hears from has it, and the candidate adopts the highest
//    (ballot, version). A stale primary cannot record a second completion: to write it needs the ack of
//    every member of its config, and the candidate's promises fence each live one.
//  - What the fence relies on (and the integrator must provide): members are declared dead only after
//    quorum confirmation and a dead incarnation never speaks again (the core ignores task messages
//    from members it believes dead; a restarted agent rejoins as a new incarnation and must re-run
//    phase 1 before acting as primary — which this core does, since roles are not persisted); and on a
//    side of a partition that cannot write (the mesh's read-only mode) the shell refuses task commands
//    and stops feeding membership changes to this core (freezes its view). A frozen side never
//    reconfigures, so each of its primaries still needs the ack of every holder of its config, including
//    those on the other side, which promised the other side's higher ballot and refuse. With
//    `replication` holders and tolerance of `replication − 1` permanent crashes no majority quorum is
//    possible, so a split brain across a partition in which both sides write cannot be excluded by this
//    core alone (Chandra & Toueg 1996: tolerating n − 1 crashes needs a perfect failure detector).
//  - Re-replication: when the live membership changes the holder set, the primary runs phase 1 for a
//    new ballot and writes the record to the new ring holders (config = the new top `replication`); if
//    it is no longer among them it stays an interim primary until the new first holder, now holding the
//    record, takes over with its own phase 1. Backups nudge a first holder that has not taken over.
//
// Execution placement is separate from replica placement: `assignee` says whose worker runs the task
// (null: the primary's own worker — DHT routing). Capability routing, Contract Net auctions, work
// stealing and migration of queued tasks from hot to cold agents all change `assignee`, never the
// holders, so a task id always tells where its record is.
import type { Rng } from "../rng";
import { ContractNetManager, answerCfp, type Bid } from "./auction";
import { capableAgents, capabilityMatch, routeByCapability, CAPABILITY_THRESHOLD } from "./capability";
import { planMigrations } from "./rebalance";
import { Rendezvous } from "./ring";
import { canGive, pickVictim, thiefCanRun, DEFAULT_STEAL, type StealPolicy } from "./steal";
import type { MemberInfo, Strategy, TaskStatus } from "./types";

// ---- persisted and wire shapes ------------------------------------------------------------------

export interface TaskSpec {
  taskId: string;
  payload: Record<string, unknown>;
  requiredCapabilities: string[];
  strategy: Strategy;
  replication: number;
  maxAttempts: number;
}

export interface Lease {
  agent: string;
  claimId: string;
  untilMs: number;
}

export interface TaskState {
  spec: TaskSpec;
  status: TaskStatus;
  /** Whose worker runs it; null: the first holder's (the primary's) own worker. */
  assignee: string | null;
  /** Auction tasks: false until the Contract Net awarded it (or gave up and fell back to DHT). */
  awarded: boolean;
  attempts: number;
  lease: Lease | null;
  /** Agents that held a lease on it: any of them may complete it, even late. */
  claimants: string[];
  /** Set once, by the first recorded completion. */
  result?: unknown;
  doneBy?: string;
  /** The last error; when failed, the reason. */
  error?: string;
  createdMs: number;
  migrations: number;
}

/** A ballot: ordered by n, then by agent id. n = 0 is the creator's. */
export interface Ballot {
  n: number;
  by: string;
}

export interface TaskRecord {
  state: TaskState;
  ballot: Ballot;
  /** Increases with every write under a ballot (and carries over into the next ballot). */
  version: number;
  /** The holders, in rank order, that must all store each version. */
  config: string[];
}

/** One row per task the agent holds or promised; the shell upserts it by taskId. */
export interface TaskRow {
  taskId: string;
  record: TaskRecord | null;
  promised: Ballot | null;
  /** The configuration the promised candidate intends to write to (so later candidates ask it too). */
  promisedConfig: string[] | null;
}

export interface TaskView {
  taskId: string;
  status: TaskStatus;
  assignedTo: string | null;
  attempts: number;
  payload: Record<string, unknown>;
  requiredCapabilities: string[];
  strategy: Strategy;
  replicas: string[];
  result?: unknown;
  error?: string;
  lease?: Lease;
}

export type TaskOp =
  | { op: "submit"; spec: TaskSpec }
  | { op: "complete"; taskId: string; agentId: string; result: unknown }
  | { op: "fail"; taskId: string; agentId: string; error: string };

export type TaskReply =
  | { op: "submit"; ok: true; taskId: string; assignedTo: string | null; replicas: string[]; strategy: Strategy; existing: boolean }
  | { op: "claim"; ok: true; task: TaskView | null }
  | { op: "complete"; ok: true; taskId: string; result: unknown; doneBy: string; duplicate: boolean }
  | { op: "fail"; ok: true; taskId: string; status: TaskStatus; attempts: number }
  | { op: string; ok: false; code: "no_capable_agent"; required: string[]; missing: string[] }
  | { op: string; ok: false; code: "not_found" | "retry" | "timeout" | "conflict" | "not_claimant" | "task_failed"; message: string };

export type TaskMsg =
  | { type: "t_prepare"; taskId: string; ballot: Ballot; config: string[] }
  | { type: "t_promise"; taskId: string; ballot: Ballot; ok: boolean; promised: Ballot | null; promisedConfig: string[] | null; record: TaskRecord | null }
  | { type: "t_accept"; taskId: string; record: TaskRecord }
  | { type: "t_ack"; taskId: string; ballot: Ballot; version: number; ok: boolean; promised: Ballot | null }
  | { type: "t_req"; rid: string; origin: string; hops: number; req: TaskOp }
  | { type: "t_resp"; rid: string; reply: TaskReply }
  | { type: "t_nudge"; taskId: string; config: string[] }
  | { type: "t_assign"; taskId: string }
  | { type: "t_claim"; taskId: string; claimId: string; leaseMs: number }
  | { type: "t_steal"; claimId: string; leaseMs: number; caps: string[] }
  /** A victim (or a hot agent) passes one of its remotely held queued tasks to `to`: leased at once for a steal (claimId), reassigned for a migration. */
  | { type: "t_give"; taskId: string; to: string; claimId: string | null; leaseMs: number; caps: string[] }
  | { type: "t_claimed"; claimId: string; taskId: string | null; view: TaskView | null }
  | { type: "cfp"; auctionId: string; taskId: string; requiredCapabilities: string[]; deadlineMs: number }
  | { type: "propose"; auctionId: string; bid: Bid }
  | { type: "refuse"; auctionId: string; reason: string }
  | { type: "accept_proposal"; auctionId: string; taskId: string }
  | { type: "reject_proposal"; auctionId: string; taskId: string };

export interface TaskOutbound {
  to: string;
  msg: TaskMsg;
}

export interface TaskReady {
  rows: TaskRow[];
  messages: TaskOutbound[];
  replies: Array<{ rid: string; reply: TaskReply }>;
  events: string[];
}

export interface TaskReplicaOptions {
  id: string;
  rng: Rng;
  /** This agent's declared capabilities, slots and resource availability (for bids, steals). */
  caps?: string[];
  slots?: number;
  resources?: number;
  /** Resend unacknowledged writes/prepares after this long. */
  retryMs?: number;
  /** A forwarded request or a claim with no answer by then is answered `timeout`. */
  requestTimeoutMs?: number;
  defaultLeaseMs?: number;
  defaultMaxAttempts?: number;
  auctionMs?: number;
  auctionRounds?: number;
  /** A backup whose record's first live holder is not its writer (a handoff under way) nudges it this often. */
  nudgeMs?: number;
  /** Re-send "queued for you" notices to remote assignees this often. */
  assignResendMs?: number;
  /** Run the hot→cold migration planner this often (0: never). */
  rebalanceEveryMs?: number;
  hotLoad?: number;
  coldLoad?: number;
  steal?: StealPolicy;
  /** Test-only: disable a guard so the harness's checker can be shown to catch the violation. */
  unsafe?: { skipFence?: boolean; overwriteResult?: boolean; ackEarly?: boolean };
}

// ---- helpers -------------------------------------------------------------------------------------

export function cmpBallot(a: Ballot, b: Ballot): number {
  return a.n - b.n || (a.by < b.by ? -1 : a.by > b.by ? 1 : 0);
}

function newer(a: TaskRecord, b: TaskRecord): boolean {
  const c = cmpBallot(a.ballot, b.ballot);
  return c > 0 || (c === 0 && a.version > b.version);
}

/** Records are treated as immutable values: every write makes a new one; received ones are copied. */
function copyRecord(r: TaskRecord): TaskRecord {
  return {
    state: { ...r.state, spec: r.state.spec, lease: r.state.lease ? { ...r.state.lease } : null, claimants: r.state.claimants.slice() },
    ballot: { ...r.ballot },
    version: r.version,
    config: r.config.slice(),
  };
}

export function viewOf(r: TaskRecord): TaskView {
  const s = r.state;
  const v: TaskView = {
    taskId: s.spec.taskId, status: s.status, assignedTo: executorOf(r), attempts: s.attempts, payload: s.spec.payload,
    requiredCapabilities: s.spec.requiredCapabilities, strategy: s.spec.strategy, replicas: r.config.slice(),
  };
  if (s.status === "done") v.result = s.result;
  if (s.error !== undefined) v.error = s.error;
  if (s.lease) v.lease = { ...s.lease };
  return v;
}

/** Whose worker runs the task: the assignee, or (DHT) the first holder. */
export function executorOf(r: TaskRecord): string | null {
  return r.state.assignee ?? r.config[0] ?? null;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

interface Waiter {
  op: string;
  /** The ballot the reply depends on: released only while the record is still under it. */
  ballot: Ballot;
  rid: string;
  origin: string;
  version: number;
  reply: () => TaskReply;
}

interface Candidate {
  ballot: Ballot;
  config: string[];
  targets: Set<string>;
  promises: Map<string, TaskRecord | null>;
  /** Configurations learned from promises (the ballot each was promised or written under). */
  known: Array<{ ballot: Ballot; config: string[] }>;
  /** Members of the newest known configuration we asked regardless of our view of their liveness. */
  mustAsk: Set<string>;
  lastSendMs: number;
}

interface Local {
  row: TaskRow;
  role: "none" | "candidate" | "primary";
  cand: Candidate | null;
  /** Primary: highest version each config member acknowledged under our ballot. */
  acked: Map<string, number>;
  lastSendMs: number;
  waiters: Waiter[];
  /** Requests that arrived while we campaign. */
  queued: Array<{ rid: string; origin: string; hops: number; req: TaskOp }>;
  /** Submits of auction tasks waiting for the award. */
  awaitingAward: Array<{ rid: string; origin: string }>;
  highestSeen: number;
  nextCampaignMs: number;
  lastAssignMs: number;
  lastHeardMs: number;
  lastNudgeMs: number;
}

interface ClaimFlow {
  rid: string;
  leaseMs: number;
  stage: "remote" | "steal";
  triedTasks: Set<string>;
  triedVictims: Set<string>;
  waitingFor: string | null;
}

export class TaskReplica {
  readonly id: string;
  private readonly o: Required<Omit<TaskReplicaOptions, "unsafe" | "caps" | "rng">> & { caps: string[]; unsafe: NonNullable<TaskReplicaOptions["unsafe"]> };
  private readonly rng: Rng;
  private tasks = new Map<string, Local>();
  /** Tasks this agent leads that are queued for its own worker (kept in step with every write). */
  private mine = new Set<string>();
  /** Tasks with timer work (unacknowledged writes, campaigns, leases, auctions, notices). */
  private active = new Set<string>();
  private members: MemberInfo[] = [];
  private live = new Set<string>();
  private ring: Rendezvous = new Rendezvous([]);
  private holderCache = new Map<string, string[]>();
  /** Tasks queued for me whose primary is another agent: taskId → primary, when last told. */
  private remote = new Map<string, { primary: string; atMs: number }>();
  /** Leases my worker holds: taskId → lease end. */
  private myLeases = new Map<string, number>();
  /** Requests that entered at this agent and await their one reply. */
  private pending = new Map<string, { deadlineMs: number; op: string }>();
  private claims = new Map<string, ClaimFlow>();
  private auctions: ContractNetManager;
  private lastRebalanceMs = 0;
  /** Counters (soft): my worker's history for bids, and migrations executed here. */
  readonly stats = { completed: 0, failed: 0, migrations: 0, steals: 0, takeovers: 0, auctionsAwarded: 0, auctionsFallback: 0 };
  private out: TaskReady = emptyReady();
  private dirty = new Set<string>();

  constructor(opts: TaskReplicaOptions, persisted: readonly TaskRow[], members: readonly MemberInfo[], now: number) {
    this.id = opts.id;
    this.rng = opts.rng;
    this.o = {
      id: opts.id, caps: opts.caps ?? [], slots: opts.slots ?? 1, resources: opts.resources ?? 1, retryMs: opts.retryMs ?? 200,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5000, defaultLeaseMs: opts.defaultLeaseMs ?? 30_000, defaultMaxAttempts: opts.defaultMaxAttempts ?? 3,
      auctionMs: opts.auctionMs ?? 300, auctionRounds: opts.auctionRounds ?? 3, assignResendMs: opts.assignResendMs ?? 1000,
      rebalanceEveryMs: opts.rebalanceEveryMs ?? 2000, nudgeMs: opts.nudgeMs ?? 2000, hotLoad: opts.hotLoad ?? 0.8, coldLoad: opts.coldLoad ?? 0.3, steal: opts.steal ?? DEFAULT_STEAL,
      unsafe: opts.unsafe ?? {},
    };
    this.auctions = new ContractNetManager(this.o.auctionRounds);
    for (const row of persisted) {
      const l = this.local(row.taskId, true)!;
      l.row = { taskId: row.taskId, record: row.record ? copyRecord(row.record) : null, promised: row.promised ? { ...row.promised } : null, promisedConfig: row.promisedConfig?.slice() ?? null };
      l.highestSeen = Math.max(row.record?.ballot.n ?? 0, row.promised?.n ?? 0);
    }
    this.setMembersInner(members, now);
    this.lastRebalanceMs = now;
  }

  // ---- queries -----------------------------------------------------------------------------------

  /** This agent's copy of a task (possibly stale if it is a backup). */
  view(taskId: string): TaskView | null {
    const r = this.tasks.get(taskId)?.row.record;
    return r ? viewOf(r) : null;
  }

  record(taskId: string): TaskRecord | null {
    const r = this.tasks.get(taskId)?.row.record;
    return r ? copyRecord(r) : null;
  }

  isPrimary(taskId: string): boolean {
    return this.tasks.get(taskId)?.role === "primary";
  }

  taskIds(): string[] {
    return Array.from(this.tasks.keys());
  }

  /** The holders of a task id in this agent's view (rank order). */
  holders(taskId: string, replication = 3): string[] {
    const key = `${replication}|${taskId}`;
    let h = this.holderCache.get(key);
    if (!h) {
      h = this.ring.holders(taskId, replication);
      this.holderCache.set(key, h);
    }
    return h;
  }

  /** Exact counts of work this agent's worker has: queued for it, and running under its leases. */
  workload(now: number): { queued: number; running: number; slots: number; load: number } {
    if (this.workloadMemo && this.workloadMemo.atMs === now && this.workloadMemo.gen === this.gen) return this.workloadMemo.w;
    let queued = this.mine.size;
    for (const [t, e] of this.remote) if (now - e.atMs <= 3 * this.o.assignResendMs && !this.isPrimary(t)) queued++;
    let running = 0;
    for (const until of this.myLeases.values()) if (until > now) running++;
    const slots = Math.max(1, this.o.slots);
    const w = { queued, running, slots, load: (queued + running) / slots };
    this.workloadMemo = { atMs: now, gen: this.gen, w };
    return w;
  }

  private workloadMemo: { atMs: number; gen: number; w: { queued: number; running: number; slots: number; load: number } } | null = null;
  /** Bumped on every change that can move the workload counts (memo key). */
  private gen = 0;

  /** The load to gossip: (queued + running) / slots. */
  load(now: number): number {
    return this.workload(now).load;
  }

  /**
   * Nothing for the timer to do: no unacknowledged write, campaign, request, claim, auction, lease or
   * queued work here (so the integrator need not wake the agent; rebalancing has nothing to move).
   */
  idle(): boolean {
    if (this.active.size > 0 || this.pending.size > 0 || this.claims.size > 0 || this.auctions.nextDeadline() !== null) return false;
    if (this.mine.size > 0 || this.remote.size > 0 || this.myLeases.size > 0) return false;
    for (const l of this.tasks.values()) {
      const st = l.row.record?.state;
      if (l.role === "primary" && st && (st.status === "queued" || st.status === "running")) return false;
    }
    return true;
  }

  /** The earliest time this core wants a tick, or null. */
  nextDeadline(now: number): number | null {
    let d: number | null = null;
    const at = (t: number) => (d = d === null ? t : Math.min(d, t));
    if (this.active.size > 0 || this.pending.size > 0) at(now + this.o.retryMs);
    const a = this.auctions.nextDeadline();
    if (a !== null) at(a);
    if (this.o.rebalanceEveryMs > 0) at(this.lastRebalanceMs + this.o.rebalanceEveryMs);
    return d;
  }

  // ---- commands ----------------------------------------------------------------------------------

  /** Submit a task (from the router). The reply comes once the record is on every holder (and, for an auction, once awarded). */
  submit(rid: string, spec: TaskSpec, now: number): TaskReady {
    this.enter(rid, "submit", now);
    this.route(rid, this.id, 0, { op: "submit", spec: normalizeSpec(spec, this.o.defaultMaxAttempts) }, now);
    return this.ready();
  }

  complete(rid: string, taskId: string, agentId: string, result: unknown, now: number): TaskReady {
    this.enter(rid, "complete", now);
    this.route(rid, this.id, 0, { op: "complete", taskId, agentId, result }, now);
    return this.ready();
  }

  fail(rid: string, taskId: string, agentId: string, error: string, now: number): TaskReady {
    this.enter(rid, "fail", now);
    this.route(rid, this.id, 0, { op: "fail", taskId, agentId, error }, now);
    return this.ready();
  }

  /**
   * This agent's worker asks for a task: first one queued for it here (it is the primary), then one
   * another primary queued for it, then a steal from the busiest peer. Replies `{task: null}` (204)
   * when there is nothing.
   */
  claim(rid: string, leaseMs: number | undefined, now: number): TaskReady {
    const ms = leaseMs ?? this.o.defaultLeaseMs;
    this.enter(rid, "claim", now);
    const flow: ClaimFlow = { rid, leaseMs: ms, stage: "remote", triedTasks: new Set(), triedVictims: new Set(), waitingFor: null };
    if (!this.claimLocal(rid, this.id, rid, ms, now)) {
      this.claims.set(rid, flow);
      this.advanceClaim(flow, now);
    }
    return this.ready();
  }

  private enter(rid: string, op: string, now: number): void {
    this.pending.set(rid, { deadlineMs: now + this.o.requestTimeoutMs, op });
  }

  /** Membership changed (the integrator feeds every change): live members with caps, slots, loads. */
  setMembers(members: readonly MemberInfo[], now: number): TaskReady {
    this.setMembersInner(members, now);
    return this.ready();
  }

  /** Gossiped loads changed (no membership change): only soft state is updated. */
  updateLoads(members: readonly MemberInfo[]): void {
    const byId = new Map(members.map((m) => [m.id, m]));
    this.members = this.members.map((m) => ({ ...m, load: byId.get(m.id)?.load ?? m.load }));
  }

  tick(now: number): TaskReady {
    for (const id of Array.from(this.active)) this.tickTask(id, now);
    for (const [rid, f] of Array.from(this.pending)) {
      if (now >= f.deadlineMs) this.finish(rid, { op: f.op, ok: false, code: "timeout", message: "no answer from the task's primary in time" });
    }
    for (const [t, e] of this.remote) if (now - e.atMs > 3 * this.o.assignResendMs) this.remote.delete(t);
    for (const [t, until] of this.myLeases) if (until <= now) this.myLeases.delete(t);
    for (const out of this.auctions.due(now)) this.auctionOutcome(out, now);
    if (this.o.rebalanceEveryMs > 0 && now - this.lastRebalanceMs >= this.o.rebalanceEveryMs) {
      this.lastRebalanceMs = now;
      this.rebalance(now);
    }
    return this.ready();
  }

  step(from: string, m: TaskMsg, now: number): TaskReady {
    // A member we believe dead is a dead incarnation: it takes no part (the fence's assumption).
    // (A promise is only information read from the sender's storage, so it is taken from anyone.)
    if (!this.live.has(from) && from !== this.id && m.type !== "t_promise") return this.ready();
    switch (m.type) {
      case "t_prepare":
        this.onPrepare(from, m, now);
        break;
      case "t_promise":
        this.onPromise(from, m, now);
        break;
      case "t_accept":
        this.onAccept(from, m, now);
        break;
      case "t_ack":
        this.onAck(from, m, now);
        break;
      case "t_req":
        this.route(m.rid, m.origin, m.hops, m.req, now);
        break;
      case "t_resp":
        this.finish(m.rid, m.reply);
        break;
      case "t_nudge":
        this.onNudge(from, m, now);
        break;
      case "t_assign":
        this.remote.set(m.taskId, { primary: from, atMs: now });
        break;
      case "t_claim":
        if (!this.claimLocal(m.claimId, from, m.claimId, m.leaseMs, now, m.taskId)) this.send(from, { type: "t_claimed", claimId: m.claimId, taskId: m.taskId, view: null });
        break;
      case "t_steal":
        this.onSteal(from, m, now);
        break;
      case "t_claimed":
        this.onClaimed(from, m, now);
        break;
      case "t_give":
        this.onGive(from, m, now);
        break;
      case "cfp":
        this.onCfp(from, m, now);
        break;
      case "propose":
        this.auctions.propose(m.auctionId, from, m.bid);
        break;
      case "refuse":
        this.auctions.refuse(m.auctionId, from);
        break;
      case "accept_proposal":
        // The award is also the "queued for you" notice.
        this.proposals.delete(`${from}/${m.auctionId}`);
        this.remote.set(m.taskId, { primary: from, atMs: now });
        break;
      case "reject_proposal":
        this.proposals.delete(`${from}/${m.auctionId}`);
        break;
    }
    if (m.type === "propose" || m.type === "refuse") for (const o of this.auctions.due(now)) this.auctionOutcome(o, now);
    return this.ready();
  }

  // ---- membership ----------------------------------------------------------------------------------

  private setMembersInner(members: readonly MemberInfo[], now: number): void {
    const before = this.live;
    this.members = members.map((m) => ({ ...m, caps: m.caps.slice() }));
    if (!this.members.some((m) => m.id === this.id)) {
      this.members.push({ id: this.id, caps: this.o.caps.slice(), slots: this.o.slots, load: 0, resources: this.o.resources });
    }
    this.live = new Set(this.members.map((m) => m.id));
    // Holders weighted by declared slots: an agent with twice the capacity is home to twice the tasks.
    this.ring = new Rendezvous(this.members.map((m) => ({ id: m.id, weight: Math.max(1, m.slots) })));
    this.holderCache.clear();
    for (const id of before) if (!this.live.has(id)) this.auctions.forget(id);
    for (const [t, e] of this.remote) if (!this.live.has(e.primary)) this.remote.delete(t);
    for (const [taskId, l] of this.tasks) {
      if (l.role === "candidate" && l.cand) {
        for (const t of Array.from(l.cand.targets)) if (!this.live.has(t)) l.cand.targets.delete(t);
        // Re-widen to the ring as it is now: when known holders die (or are cut off), the survivors of a
        // newer configuration than ours are among the top ranks of the current ring.
        for (const t of this.wideHolders(taskId, l.row.record?.state.spec.replication ?? 3)) {
          if (t !== this.id && !l.cand.targets.has(t)) {
            l.cand.targets.add(t);
            this.send(t, { type: "t_prepare", taskId, ballot: l.cand.ballot, config: l.cand.config });
          }
        }
        this.active.add(taskId);
        this.maybeWinCampaign(taskId, l, now);
      } else if (l.role === "primary") {
        this.reconcilePrimary(taskId, l, now);
      } else if (l.row.record) {
        if (this.shouldCampaign(l) || this.shouldNudge(l)) this.active.add(taskId);
      }
    }
  }

  /**
   * Phase 1 asks beyond the configurations it knows: the top replication + 2 of the current ring. A
   * candidate whose copy is stale (it restarted, or was cut off, while others moved the task on) may
   * know only an old configuration whose other members are now dead or unreachable; the members of the
   * newer one that survive rank near the top of the ring for this task (rendezvous order is global).
   */
  private wideHolders(taskId: string, replication: number): string[] {
    return this.holders(taskId, replication + 2);
  }

  /** First live member of the record's config is me (everyone ranked above me is dead in my view). */
  private shouldCampaign(l: Local): boolean {
    const r = l.row.record;
    if (!r || l.role !== "none") return false;
    for (const m of r.config) {
      if (m === this.id) return true;
      if (this.live.has(m)) return false;
    }
    return false;
  }

  /**
   * A backup nudges the first live holder of its record when that holder is not the record's writer:
   * a handoff is under way, and if the writer died before the new first holder got the record, nobody
   * would lead the task. The nudged agent runs phase 1 (with or without a record of its own).
   */
  private shouldNudge(l: Local): boolean {
    const r = l.row.record;
    if (!r || l.role !== "none") return false;
    const first = r.config.find((m) => this.live.has(m));
    return first !== undefined && first !== this.id && first !== r.ballot.by;
  }

  private onNudge(from: string, m: Extract<TaskMsg, { type: "t_nudge" }>, now: number): void {
    const l = this.local(m.taskId, true)!;
    // We lead it: the nudger has a stale copy; send it the current record (it is fenced by our ballot).
    if (l.role === "primary" && l.row.record) return this.send(from, { type: "t_accept", taskId: m.taskId, record: l.row.record });
    if (l.role !== "none") return;
    // We hold a newer copy naming someone else first: pass it on instead of campaigning on a stale view.
    if (l.row.record && !this.shouldCampaign(l)) return this.send(from, { type: "t_accept", taskId: m.taskId, record: l.row.record });
    if (m.config.find((x) => this.live.has(x)) !== this.id) return;
    if (now < l.nextCampaignMs) return;
    this.campaign(m.taskId, l, now, m.config);
    void from;
  }

  /** Primary: bring config, lease and assignee in line with the live membership. */
  private reconcilePrimary(taskId: string, l: Local, now: number): void {
    const r = l.row.record!;
    const desired = this.holders(taskId, r.state.spec.replication);
    if (!sameList(desired, r.config)) {
      // A new configuration is a new ballot (Vertical Paxos, Lamport, Malkhi & Zhou 2009): phase 1 over
      // the old holders and the ring's top ranks, so a primary that missed a newer configuration (made
      // while it was cut off) learns it instead of writing around it. Lease and assignee are
      // reconciled when it wins.
      this.campaign(taskId, l, now);
      return;
    }
    let st = r.state;
    let changed = false;
    if (st.lease && !this.live.has(st.lease.agent) && st.status === "running") {
      st = this.endAttempt(st, `lease holder ${st.lease.agent} died`);
      changed = true;
    }
    if (st.status === "queued" && st.assignee !== null && !this.live.has(st.assignee)) {
      st = { ...st, assignee: this.reassign(st), awarded: st.spec.strategy === "auction" ? false : st.awarded };
      changed = true;
    }
    if (changed) this.write(taskId, l, st, desired, now);
    this.active.add(taskId);
  }

  /** A capable live agent other than `not` for a re-queued task (power of two choices on the task id). */
  private otherExecutor(st: TaskState, not: string): string | null {
    const others = this.members.filter((m) => m.id !== not);
    const route = routeByCapability(others, st.spec.requiredCapabilities, `${st.spec.taskId}~${st.attempts}`);
    return route.ok ? route.agentId : null;
  }

  /** A new assignee for a queued task whose assignee died: by capability if it needs any, else DHT. */
  private reassign(st: TaskState): string | null {
    if (st.spec.strategy === "auction") return null;
    if (st.spec.requiredCapabilities.length === 0 && st.spec.strategy === "dht") return null;
    const route = routeByCapability(this.members, st.spec.requiredCapabilities, `${st.spec.taskId}~${st.attempts}~${st.migrations}`);
    return route.ok ? route.agentId : null;
  }

  // ---- request routing ---------------------------------------------------------------------------

  private route(rid: string, origin: string, hops: number, req: TaskOp, now: number): void {
    const taskId = req.op === "submit" ? req.spec.taskId : req.taskId;
    const l = this.tasks.get(taskId);
    if (l?.role === "primary") return this.handle(taskId, l, rid, origin, req, now);
    if (l?.role === "candidate" || (l?.row.record && this.shouldCampaign(l))) {
      // We lead it, or are about to (tick campaigns once any backoff has passed).
      l.queued.push({ rid, origin, hops, req });
      this.active.add(taskId);
      return;
    }
    // Not ours to decide: forward to whom we believe is the primary.
    let target: string | null = null;
    if (l?.row.record) target = l.row.record.config.find((m) => this.live.has(m)) ?? null;
    else if (l?.row.promised && l.row.promised.by !== this.id && this.live.has(l.row.promised.by)) target = l.row.promised.by;
    if (!target) {
      const hs = this.holders(taskId, req.op === "submit" ? req.spec.replication : 3);
      if (req.op === "submit" && hs[0] === this.id && !l?.row.record && !l?.row.promised) return this.create(rid, origin, req.spec, now);
      // Walk the ring holders in rank order: after a ring change the record may sit with a later one.
      target = hs.find((h, i) => i >= hops && h !== this.id) ?? null;
    }
    if (!target || target === this.id || hops >= 4) {
      this.reply(rid, origin, { op: req.op, ok: false, code: "not_found", message: `task ${taskId} is not held here` });
      return;
    }
    this.send(target, { type: "t_req", rid, origin, hops: hops + 1, req });
  }

  private reply(rid: string, origin: string, reply: TaskReply): void {
    if (origin === this.id) this.finish(rid, reply);
    else this.send(origin, { type: "t_resp", rid, reply });
  }

  /** Answer a request that entered here: exactly once (a late answer after a timeout is dropped). */
  private finish(rid: string, reply: TaskReply): void {
    if (this.remoteClaimAnswers.has(rid)) {
      this.out.replies.push({ rid, reply });
      return;
    }
    if (!this.pending.delete(rid)) return;
    this.claims.delete(rid);
    this.out.replies.push({ rid, reply });
  }

  /** Release a reply once the current version is on every holder. */
  private replyWhenDurable(taskId: string, l: Local, rid: string, origin: string, reply: () => TaskReply, op = reply().op): void {
    l.waiters.push({ op, rid, origin, ballot: l.row.record!.ballot, version: l.row.record!.version, reply });
    this.releaseWaiters(taskId, l);
  }

  private handle(taskId: string, l: Local, rid: string, origin: string, req: TaskOp, now: number): void {
    const r = l.row.record!;
    const st = r.state;
    switch (req.op) {
      case "submit": {
        const same = JSON.stringify(st.spec.payload) === JSON.stringify(req.spec.payload);
        if (!same) {
          this.reply(rid, origin, { op: "submit", ok: false, code: "conflict", message: `task ${taskId} exists with another payload` });
          return;
        }
        if (st.spec.strategy === "auction" && !st.awarded) l.awaitingAward.push({ rid, origin });
        else this.replyWhenDurable(taskId, l, rid, origin, () => this.submitReply(l, true));
        return;
      }
      case "complete": {
        if (st.status === "done" && !(this.o.unsafe.overwriteResult && JSON.stringify(st.result) !== JSON.stringify(req.result))) {
          this.replyWhenDurable(taskId, l, rid, origin, () => ({ op: "complete", ok: true, taskId, result: st.result, doneBy: st.doneBy!, duplicate: true }));
          return;
        }
        if (st.status === "failed") {
          this.reply(rid, origin, { op: "complete", ok: false, code: "task_failed", message: `task ${taskId} already failed: ${st.error}` });
          return;
        }
        if (!st.claimants.includes(req.agentId)) {
          this.reply(rid, origin, { op: "complete", ok: false, code: "not_claimant", message: `${req.agentId} never claimed task ${taskId}` });
          return;
        }
        const next: TaskState = { ...st, status: "done", result: req.result, doneBy: req.agentId, lease: null };
        this.write(taskId, l, next, r.config, now);
        this.replyWhenDurable(taskId, l, rid, origin, () => ({ op: "complete", ok: true, taskId, result: req.result, doneBy: req.agentId, duplicate: false }));
        return;
      }
      case "fail": {
        if (st.status === "running" && st.lease?.agent === req.agentId) {
          const next = this.endAttempt(st, req.error);
          this.write(taskId, l, next, r.config, now);
        }
        this.replyWhenDurable(taskId, l, rid, origin, () => {
          const s = l.row.record!.state;
          return { op: "fail", ok: true, taskId, status: s.status, attempts: s.attempts };
        });
        return;
      }
    }
  }

  private submitReply(l: Local, existing: boolean): TaskReply {
    const r = l.row.record!;
    return { op: "submit", ok: true, taskId: r.state.spec.taskId, assignedTo: executorOf(r), replicas: r.config.slice(), strategy: r.state.spec.strategy, existing };
  }

  /** End the current attempt: back to the queue, or failed for good after maxAttempts. */
  private endAttempt(st: TaskState, reason: string): TaskState {
    if (st.attempts >= st.spec.maxAttempts) {
      return { ...st, status: "failed", lease: null, error: `${reason} (attempt ${st.attempts} of ${st.spec.maxAttempts})` };
    }
    return { ...st, status: "queued", lease: null, error: reason };
  }

  // ---- creation ----------------------------------------------------------------------------------

  private create(rid: string, origin: string, spec: TaskSpec, now: number): void {
    const required = spec.requiredCapabilities;
    let assignee: string | null = null;
    if (required.length > 0 || spec.strategy === "capability") {
      const route = routeByCapability(this.members, required, spec.taskId);
      if (!route.ok) {
        this.reply(rid, origin, { op: "submit", ok: false, code: "no_capable_agent", required: route.required, missing: route.missing });
        return;
      }
      // DHT keeps the home as executor when it is capable; capability routing picks the best match.
      const homeCapable = capabilityMatch(this.o.caps, required) > CAPABILITY_THRESHOLD;
      if (spec.strategy === "capability" || (spec.strategy === "dht" && !homeCapable)) assignee = route.agentId;
    }
    const config = this.holders(spec.taskId, spec.replication);
    const state: TaskState = {
      spec, status: "queued", assignee, awarded: spec.strategy !== "auction", attempts: 0, lease: null, claimants: [], createdMs: now, migrations: 0,
    };
    const l = this.local(spec.taskId, true)!;
    l.role = "primary";
    l.acked = new Map();
    const record: TaskRecord = { state, ballot: { n: 0, by: this.id }, version: 0, config };
    l.row = { taskId: spec.taskId, record, promised: { n: 0, by: this.id }, promisedConfig: null };
    this.write(spec.taskId, l, state, config, now);
    if (spec.strategy === "auction") {
      l.awaitingAward.push({ rid, origin });
      this.startAuction(spec.taskId, l, now, 1);
    } else this.replyWhenDurable(spec.taskId, l, rid, origin, () => this.submitReply(l, false));
  }

  // ---- writes (phase 2) --------------------------------------------------------------------------

  /** The primary's write: a new version under its ballot, sent to every member of `config`. */
  private write(taskId: string, l: Local, state: TaskState, config: string[], now: number): void {
    const old = l.row.record!;
    const rec: TaskRecord = { state, ballot: old.ballot, version: old.version + 1, config: config.slice() };
    l.row = { ...l.row, record: rec };
    this.persist(taskId);
    l.lastSendMs = now;
    for (const m of config) if (m !== this.id) this.send(m, { type: "t_accept", taskId, record: rec });
    this.active.add(taskId);
    this.track(taskId, l);
    this.releaseWaiters(taskId, l);
  }

  private track(taskId: string, l: Local): void {
    this.gen++;
    if (l.role === "primary" && l.row.record && this.claimable(l.row.record, this.id)) this.mine.add(taskId);
    else this.mine.delete(taskId);
  }

  private durableVersion(l: Local): number {
    const r = l.row.record!;
    let v = r.version;
    for (const m of r.config) if (m !== this.id) v = Math.min(v, l.acked.get(m) ?? 0);
    return v;
  }

  private releaseWaiters(taskId: string, l: Local): void {
    if (l.role !== "primary" || !l.row.record) return;
    const d = this.o.unsafe.ackEarly ? l.row.record.version : this.durableVersion(l);
    const keep: Waiter[] = [];
    const ballot = l.row.record.ballot;
    for (const w of l.waiters) {
      if (cmpBallot(w.ballot, ballot) !== 0) this.reply(w.rid, w.origin, { op: w.op, ok: false, code: "retry", message: "the task's primary changed; retry" });
      else if (w.version <= d) this.reply(w.rid, w.origin, w.reply());
      else keep.push(w);
    }
    l.waiters = keep;
    if (d === l.row.record.version) this.onDurable(taskId, l);
  }

  /** Everything is on every holder: notices to a remote assignee; interim primaries step aside. */
  private onDurable(taskId: string, l: Local): void {
    const r = l.row.record!;
    const st = r.state;
    if (st.status === "queued" && st.awarded && st.assignee && st.assignee !== this.id && this.live.has(st.assignee)) {
      this.send(st.assignee, { type: "t_assign", taskId });
    }
    if (!r.config.includes(this.id)) {
      // Interim primary: the record is on the new holders; the first of them takes over (phase 1).
      this.stepDown(taskId, l, "handed to the new holders");
    }
  }

  private onAccept(from: string, m: Extract<TaskMsg, { type: "t_accept" }>, now: number): void {
    const l = this.local(m.taskId, true)!;
    const rec = m.record;
    const p = l.row.promised;
    const unsafe = this.o.unsafe.skipFence;
    if (!unsafe && p && cmpBallot(rec.ballot, p) < 0) {
      this.send(from, { type: "t_ack", taskId: m.taskId, ballot: rec.ballot, version: rec.version, ok: false, promised: { ...p } });
      return;
    }
    const mine = l.row.record;
    // A second creator (ballot n = 0) never overwrites a record that exists under another ballot.
    if (!unsafe && rec.ballot.n === 0 && mine && cmpBallot(mine.ballot, rec.ballot) !== 0) {
      this.send(from, { type: "t_ack", taskId: m.taskId, ballot: rec.ballot, version: rec.version, ok: false, promised: mine.ballot });
      return;
    }
    if (!mine || newer(rec, mine) || unsafe) {
      // Compare with our own ballot *before* taking the record: a higher one means we no longer lead.
      const ours = this.myBallot(l);
      l.row = { ...l.row, record: copyRecord(rec), promised: p && cmpBallot(p, rec.ballot) > 0 ? p : { ...rec.ballot } };
      l.highestSeen = Math.max(l.highestSeen, rec.ballot.n);
      this.persist(m.taskId);
      if (l.role !== "none" && from !== this.id && cmpBallot(rec.ballot, ours) > 0) this.stepDown(m.taskId, l, `fenced by ${from}`);
    }
    const stored = l.row.record!;
    const version = cmpBallot(stored.ballot, rec.ballot) === 0 ? stored.version : rec.version;
    this.send(from, { type: "t_ack", taskId: m.taskId, ballot: rec.ballot, version, ok: true, promised: null });
    // A record naming me first while nobody leads it here: take over (after a restart, or handed to us).
    if (l.role === "none" && (this.shouldCampaign(l) || this.shouldNudge(l))) this.active.add(m.taskId);
    l.lastHeardMs = now;
  }

  private onAck(from: string, m: Extract<TaskMsg, { type: "t_ack" }>, now: number): void {
    const l = this.tasks.get(m.taskId);
    if (!l || l.role !== "primary" || !l.row.record) return;
    if (cmpBallot(m.ballot, l.row.record.ballot) !== 0) return;
    if (!m.ok) {
      if (m.promised) l.highestSeen = Math.max(l.highestSeen, m.promised.n);
      if (l.row.record.ballot.n === 0 && m.promised && m.promised.n === 0 && !this.o.unsafe.skipFence) {
        // Another creator holds this task id: ours was never acknowledged; leave it to them.
        this.stepDown(m.taskId, l, `task id already created by ${m.promised.by}`);
        return;
      }
      this.stepDown(m.taskId, l, `fenced: ${from} promised ${m.promised?.n}/${m.promised?.by}`);
      l.nextCampaignMs = now + this.backoff();
      return;
    }
    if (m.version > (l.acked.get(from) ?? 0)) l.acked.set(from, m.version);
    this.releaseWaiters(m.taskId, l);
  }

  private myBallot(l: Local): Ballot {
    if (l.role === "candidate" && l.cand) return l.cand.ballot;
    return l.row.record?.ballot ?? { n: 0, by: "" };
  }

  private stepDown(taskId: string, l: Local, why: string): void {
    if (l.role === "none") return;
    this.out.events.push(`${this.id} steps down for ${taskId}: ${why}`);
    l.role = "none";
    this.mine.delete(taskId);
    this.gen++;
    l.cand = null;
    for (const w of l.waiters) this.reply(w.rid, w.origin, { op: w.op, ok: false, code: "retry", message: "the task's primary changed; retry" });
    for (const q of l.queued) this.reply(q.rid, q.origin, { op: q.req.op, ok: false, code: "retry", message: "the task's primary changed; retry" });
    for (const a of l.awaitingAward) this.reply(a.rid, a.origin, { op: "submit", ok: false, code: "retry", message: "the task's primary changed; retry" });
    l.waiters = [];
    l.queued = [];
    l.awaitingAward = [];
    this.auctions.cancel(taskId);
  }

  // ---- takeover (phase 1) ------------------------------------------------------------------------

  private backoff(): number {
    return this.o.retryMs + this.rng.int(this.o.retryMs * 2);
  }

  private campaign(taskId: string, l: Local, now: number, known: readonly string[] = []): void {
    const r = l.row.record;
    const desired = this.holders(taskId, r?.state.spec.replication ?? Math.max(3, known.length));
    const n = Math.max(l.highestSeen, r?.ballot.n ?? 0, l.row.promised?.n ?? 0) + 1;
    const ballot = { n, by: this.id };
    l.highestSeen = n;
    // A primary re-running phase 1 (a configuration change) answers what is already durable first; the
    // rest is answered "retry" once the new ballot's record replaces the old one.
    if (l.role === "primary") this.releaseWaiters(taskId, l);
    this.mine.delete(taskId);
    this.gen++;
    l.role = "candidate";
    this.stats.takeovers++;
    const targets = new Set<string>();
    for (const m of [...(r?.config ?? []), ...known, ...this.wideHolders(taskId, r?.state.spec.replication ?? 3)]) if (m !== this.id && this.live.has(m)) targets.add(m);
    l.cand = { ballot, config: desired, targets, promises: new Map(), known: [], mustAsk: new Set(), lastSendMs: now };
    l.row = { ...l.row, promised: ballot, promisedConfig: desired.slice() };
    this.persist(taskId);
    this.active.add(taskId);
    this.out.events.push(`${this.id} campaigns for ${taskId} at ballot ${n}`);
    if (this.o.unsafe.skipFence) {
      // Guard off: act as primary on our own copy without asking anyone.
      l.cand.targets.clear();
    }
    for (const t of targets) if (l.cand.targets.has(t)) this.send(t, { type: "t_prepare", taskId, ballot, config: desired });
    this.maybeWinCampaign(taskId, l, now);
  }

  private onPrepare(from: string, m: Extract<TaskMsg, { type: "t_prepare" }>, now: number): void {
    const l = this.local(m.taskId, true)!;
    const p = l.row.promised;
    const dup = p && cmpBallot(p, m.ballot) === 0;
    if (p && cmpBallot(m.ballot, p) < 0) {
      this.send(from, { type: "t_promise", taskId: m.taskId, ballot: m.ballot, ok: false, promised: { ...p }, promisedConfig: null, record: null });
      return;
    }
    const prevConfig = dup ? null : l.row.promisedConfig;
    const prevBallot = dup ? null : l.row.promised;
    if (!dup) {
      l.row = { ...l.row, promised: { ...m.ballot }, promisedConfig: m.config.slice() };
      l.highestSeen = Math.max(l.highestSeen, m.ballot.n);
      this.persist(m.taskId);
      if (l.role !== "none") this.stepDown(m.taskId, l, `${from} takes over at ballot ${m.ballot.n}`);
    }
    // On success `promised` carries the previous promise, so the candidate can rank `promisedConfig`.
    this.send(from, { type: "t_promise", taskId: m.taskId, ballot: m.ballot, ok: true, promised: prevBallot ? { ...prevBallot } : null, promisedConfig: prevConfig, record: l.row.record });
    void now;
  }

  private onPromise(from: string, m: Extract<TaskMsg, { type: "t_promise" }>, now: number): void {
    const l = this.tasks.get(m.taskId);
    if (!l || l.role !== "candidate" || !l.cand || cmpBallot(m.ballot, l.cand.ballot) !== 0) return;
    const c = l.cand;
    if (!m.ok) {
      l.highestSeen = Math.max(l.highestSeen, m.promised?.n ?? 0);
      this.stepDown(m.taskId, l, `lost the campaign to ${m.promised?.by}`);
      l.nextCampaignMs = now + this.backoff();
      this.active.add(m.taskId);
      return;
    }
    c.promises.set(from, m.record ? copyRecord(m.record) : null);
    if (m.record) c.known.push({ ballot: { ...m.record.ballot }, config: m.record.config.slice() });
    if (m.promised && m.promisedConfig) c.known.push({ ballot: { ...m.promised }, config: m.promisedConfig.slice() });
    // Widen: every live member of a configuration we learn of must promise too.
    const learn = [...(m.record?.config ?? []), ...(m.promisedConfig ?? [])];
    for (const x of learn) {
      if (x !== this.id && this.live.has(x) && !c.targets.has(x)) {
        c.targets.add(x);
        this.send(x, { type: "t_prepare", taskId: m.taskId, ballot: c.ballot, config: c.config });
      }
    }
    this.maybeWinCampaign(m.taskId, l, now);
  }

  private maybeWinCampaign(taskId: string, l: Local, now: number): void {
    const c = l.cand;
    if (l.role !== "candidate" || !c) return;
    for (const t of c.targets) if (!c.promises.has(t)) return;
    // Read-one needs a member of the newest configuration we know of, whatever our view says of its
    // liveness: "dead" members may only be cut off, holding the only copies of the latest writes. With
    // fewer than `replication` of them failed for good, one answers eventually.
    const own = l.row.record;
    if (!this.o.unsafe.skipFence) {
      const known = c.known.slice();
      if (own) known.push({ ballot: own.ballot, config: own.config });
      known.sort((a, b) => cmpBallot(b.ballot, a.ballot));
      for (const k of known) {
        if (k.config.includes(this.id)) {
          // We are a member: every acknowledged write under k sits in our own storage too. If our copy
          // is from k we have the newest; if it is older, nothing under k was ever acknowledged.
          if (own && cmpBallot(own.ballot, k.ballot) >= 0) break;
          continue;
        }
        if (k.config.some((x) => c.promises.has(x))) break;
        for (const x of k.config) {
          if (x !== this.id && !c.mustAsk.has(x)) {
            c.mustAsk.add(x);
            this.send(x, { type: "t_prepare", taskId, ballot: c.ballot, config: c.config });
          }
        }
        return;
      }
    }
    let best = l.row.record;
    for (const rec of c.promises.values()) if (rec && (!best || newer(rec, best))) best = rec;
    if (!best) {
      // Nudged without a record, and nobody we asked has one: nothing to lead.
      l.role = "none";
      l.cand = null;
      const queued = l.queued;
      l.queued = [];
      for (const q of queued) this.reply(q.rid, q.origin, { op: q.req.op, ok: false, code: "not_found", message: `task ${taskId} is not held here` });
      return;
    }
    l.role = "primary";
    l.cand = null;
    l.acked = new Map();
    l.row = { ...l.row, record: { ...copyRecord(best), ballot: c.ballot } };
    this.out.events.push(`${this.id} leads ${taskId} at ballot ${c.ballot.n}`);
    // Reconcile with the membership (dead lease holders, dead assignees) and write to the current holders.
    let st = l.row.record!.state;
    if (st.lease && st.status === "running" && !this.live.has(st.lease.agent)) st = this.endAttempt(st, `lease holder ${st.lease.agent} died`);
    if (st.status === "queued" && st.assignee !== null && !this.live.has(st.assignee)) st = { ...st, assignee: this.reassign(st), awarded: st.spec.strategy === "auction" ? false : st.awarded };
    const config = this.holders(taskId, st.spec.replication);
    this.write(taskId, l, st, config, now);
    // Agents that answered but are no longer holders get the new record too, so their stale copy
    // stops naming an old configuration (they ack it; only the config's acks count).
    for (const t of c.promises.keys()) if (!config.includes(t) && c.promises.get(t)) this.send(t, { type: "t_accept", taskId, record: l.row.record! });
    const queued = l.queued;
    l.queued = [];
    for (const q of queued) this.route(q.rid, q.origin, q.hops, q.req, now);
  }

  // ---- timers ------------------------------------------------------------------------------------

  private tickTask(taskId: string, now: number): void {
    const l = this.tasks.get(taskId)!;
    const r = l.row.record;
    if (l.role === "candidate" && l.cand) {
      if (now - l.cand.lastSendMs >= this.o.retryMs) {
        l.cand.lastSendMs = now;
        for (const t of l.cand.targets) if (!l.cand.promises.has(t)) this.send(t, { type: "t_prepare", taskId, ballot: l.cand.ballot, config: l.cand.config });
        for (const t of l.cand.mustAsk) if (!l.cand.targets.has(t) && !l.cand.promises.has(t)) this.send(t, { type: "t_prepare", taskId, ballot: l.cand.ballot, config: l.cand.config });
      }
      return;
    }
    if (l.role === "none") {
      if (r && this.shouldCampaign(l)) {
        if (now >= l.nextCampaignMs) this.campaign(taskId, l, now);
        return;
      }
      if (l.queued.length > 0) {
        // Someone else leads it now: pass the requests on.
        const queued = l.queued;
        l.queued = [];
        for (const q of queued) this.route(q.rid, q.origin, q.hops, q.req, now);
      }
      if (r && this.shouldNudge(l)) {
        if (now - l.lastNudgeMs >= this.o.nudgeMs && now - l.lastHeardMs >= this.o.nudgeMs) {
          l.lastNudgeMs = now;
          const first = r.config.find((m) => this.live.has(m))!;
          this.send(first, { type: "t_nudge", taskId, config: r.config.slice() });
        }
        return;
      }
      this.active.delete(taskId);
      return;
    }
    // Primary.
    const rec = r!;
    let st = rec.state;
    if (st.status === "running" && st.lease && now >= st.lease.untilMs) {
      const expired = st.lease.agent;
      st = this.endAttempt(st, `lease of ${expired} expired`);
      // Hand it to another agent: the one whose lease ran out may be dead or stuck.
      if (st.status === "queued") st = { ...st, assignee: this.otherExecutor(st, expired) ?? st.assignee };
      this.write(taskId, l, st, rec.config, now);
      return;
    }
    if (st.spec.strategy === "auction" && !st.awarded && st.status === "queued" && !this.auctions.has(taskId) && this.durableVersion(l) === rec.version) {
      this.startAuction(taskId, l, now, 1);
    }
    const durable = this.durableVersion(l) === rec.version;
    if (!durable && now - l.lastSendMs >= this.o.retryMs) {
      l.lastSendMs = now;
      for (const m of rec.config) if (m !== this.id && (l.acked.get(m) ?? 0) < rec.version) this.send(m, { type: "t_accept", taskId, record: rec });
    }
    if (durable && st.status === "queued" && st.awarded && st.assignee && st.assignee !== this.id && now - l.lastAssignMs >= this.o.assignResendMs) {
      l.lastAssignMs = now;
      this.send(st.assignee, { type: "t_assign", taskId });
    }
    const idle = durable && (st.status === "done" || st.status === "failed") && l.waiters.length === 0;
    if (idle) this.active.delete(taskId);
  }

  // ---- claims and stealing -----------------------------------------------------------------------

  private claimable(r: TaskRecord, agent: string): boolean {
    const st = r.state;
    return st.status === "queued" && st.awarded && executorOf(r) === agent;
  }

  /**
   * Lease a queued task to `agent` if this agent is the primary of one claimable by it (a specific
   * task, or the oldest). Idempotent per claimId. Returns false when there is none.
   */
  private claimLocal(rid: string, agent: string, claimId: string, leaseMs: number, now: number, taskId?: string): boolean {
    // Every task in `mine` is claimable by our own worker; the set keeps insertion (roughly age) order.
    const candidates = taskId ? [taskId] : agent === this.id ? firstOf(this.mine) : Array.from(this.mine);
    let pick: { id: string; l: Local } | null = null;
    for (const id of candidates) {
      const l = this.tasks.get(id);
      if (!l || l.role !== "primary" || !l.row.record) continue;
      const st = l.row.record.state;
      if (st.lease?.claimId === claimId) {
        // A retransmitted claim: answer with what it already got.
        this.answerClaim(id, l, rid, agent, claimId);
        return true;
      }
      if (!this.claimable(l.row.record, agent)) continue;
      if (!pick || st.createdMs < pick.l.row.record!.state.createdMs) pick = { id, l };
    }
    if (!pick) return false;
    this.lease(pick.id, pick.l, agent, claimId, leaseMs, now, null);
    this.answerClaim(pick.id, pick.l, rid, agent, claimId);
    return true;
  }

  private lease(taskId: string, l: Local, agent: string, claimId: string, leaseMs: number, now: number, assignee: string | null | undefined): void {
    const r = l.row.record!;
    const st = r.state;
    const next: TaskState = {
      ...st, status: "running", attempts: st.attempts + 1, lease: { agent, claimId, untilMs: now + leaseMs },
      claimants: st.claimants.includes(agent) ? st.claimants : [...st.claimants, agent], assignee: assignee === undefined || assignee === null ? st.assignee : assignee,
    };
    this.write(taskId, l, next, r.config, now);
  }

  private answerClaim(taskId: string, l: Local, rid: string, agent: string, claimId: string): void {
    l.waiters.push({
      op: "claim", rid, origin: agent, ballot: l.row.record!.ballot, version: l.row.record!.version,
      reply: () => ({ op: "claim", ok: true, task: viewOf(l.row.record!) }),
    });
    if (agent !== this.id) {
      // Remote claimant: the answer travels as t_claimed, not t_resp.
      const w = l.waiters.pop()!;
      l.waiters.push({ ...w, origin: this.id, rid: `~claim~${agent}~${claimId}` });
      this.remoteClaimAnswers.set(`~claim~${agent}~${claimId}`, { to: agent, claimId, taskId });
    } else {
      this.myLeases.set(taskId, l.row.record!.state.lease?.untilMs ?? 0);
    }
    this.releaseWaiters(taskId, l);
  }

  /** Bids this agent made that are still open: manager/auctionId → when to forget it. */
  private proposals = new Map<string, number>();
  /** Recent steals by claim id, so a retransmitted steal gets the same task. */
  private stolen = new Map<string, string>();
  private remoteClaimAnswers = new Map<string, { to: string; claimId: string; taskId: string }>();

  private advanceClaim(f: ClaimFlow, now: number): void {
    if (f.stage === "remote") {
      for (const [t, e] of this.remote) {
        if (f.triedTasks.has(t) || !this.live.has(e.primary)) continue;
        f.triedTasks.add(t);
        f.waitingFor = e.primary;
        this.send(e.primary, { type: "t_claim", taskId: t, claimId: f.rid, leaseMs: f.leaseMs });
        return;
      }
      f.stage = "steal";
    }
    const victim = pickVictim(this.members, this.id, this.o.steal, f.triedVictims);
    if (!victim || f.triedVictims.size >= 2) {
      this.finish(f.rid, { op: "claim", ok: true, task: null });
      return;
    }
    f.triedVictims.add(victim);
    f.waitingFor = victim;
    this.send(victim, { type: "t_steal", claimId: f.rid, leaseMs: f.leaseMs, caps: this.o.caps.slice() });
    void now;
  }

  private onClaimed(from: string, m: Extract<TaskMsg, { type: "t_claimed" }>, now: number): void {
    const f = this.claims.get(m.claimId);
    // A steal may be answered by the primary the victim passed it to.
    if (!f || (f.waitingFor !== from && f.stage !== "steal")) return;
    if (m.view) {
      if (m.view.lease) this.myLeases.set(m.view.taskId, m.view.lease.untilMs);
      this.remote.delete(m.view.taskId);
      if (f.stage === "steal") this.stats.steals++;
      this.finish(m.claimId, { op: "claim", ok: true, task: m.view });
      return;
    }
    if (m.taskId) this.remote.delete(m.taskId);
    this.advanceClaim(f, now);
  }

  /** Victim side: give one queued, never-claimed task it would run itself, if saturated. */
  private onSteal(from: string, m: Extract<TaskMsg, { type: "t_steal" }>, now: number): void {
    const w = this.workload(now);
    let pick: { id: string; l: Local } | null = null;
    const again = this.stolen.get(m.claimId);
    if (again) {
      const l = this.tasks.get(again)!;
      if (l.role === "primary" && l.row.record?.state.lease?.claimId === m.claimId) {
        this.answerClaim(again, l, m.claimId, from, m.claimId);
        return;
      }
    }
    for (const id of this.mine) {
      const l = this.tasks.get(id)!;
      const r = l.row.record;
      if (l.role !== "primary" || !r) continue;
      if (!this.claimable(r, this.id) || r.state.attempts > 0 || !thiefCanRun(m.caps, r.state.spec.requiredCapabilities)) continue;
      if (!pick || r.state.createdMs > pick.l.row.record!.state.createdMs) pick = { id, l };
    }
    if (!canGive(w.queued, w.running, w.slots, this.o.steal)) {
      this.send(from, { type: "t_claimed", claimId: m.claimId, taskId: null, view: null });
      return;
    }
    if (!pick) {
      // Nothing of ours that we lead: pass one queued for us by another primary; it answers the thief.
      const entry = Array.from(this.remote).find(([, e]) => now - e.atMs <= 3 * this.o.assignResendMs && this.live.has(e.primary));
      if (!entry) {
        this.send(from, { type: "t_claimed", claimId: m.claimId, taskId: null, view: null });
        return;
      }
      this.remote.delete(entry[0]);
      this.send(entry[1].primary, { type: "t_give", taskId: entry[0], to: from, claimId: m.claimId, leaseMs: m.leaseMs, caps: m.caps });
      return;
    }
    this.out.events.push(`${this.id} gives ${pick.id} to thief ${from}`);
    this.stolen.set(m.claimId, pick.id);
    if (this.stolen.size > 256) this.stolen.delete(this.stolen.keys().next().value!);
    // The newest queued task goes (Dask steals from the back of the queue); it becomes the thief's.
    this.lease(pick.id, pick.l, from, m.claimId, m.leaseMs, now, from);
    this.answerClaim(pick.id, pick.l, m.claimId, from, m.claimId);
  }

  /** Primary side of t_give: only a queued task whose executor is the giver, and only to a capable agent. */
  private onGive(from: string, m: Extract<TaskMsg, { type: "t_give" }>, now: number): void {
    const l = this.tasks.get(m.taskId);
    const r = l?.row.record;
    if (l && r && l.role === "primary" && m.claimId !== null && r.state.lease?.claimId === m.claimId) {
      this.answerClaim(m.taskId, l, m.claimId, m.to, m.claimId);
      return;
    }
    const ok = l && r && l.role === "primary" && this.claimable(r, from) && this.live.has(m.to) && thiefCanRun(m.caps, r.state.spec.requiredCapabilities);
    if (!ok) {
      if (m.claimId !== null) this.send(m.to, { type: "t_claimed", claimId: m.claimId, taskId: null, view: null });
      return;
    }
    if (m.claimId !== null) {
      this.out.events.push(`${this.id} gives ${m.taskId} (queued for ${from}) to thief ${m.to}`);
      this.lease(m.taskId, l!, m.to, m.claimId, m.leaseMs, now, m.to);
      this.answerClaim(m.taskId, l!, m.claimId, m.to, m.claimId);
    } else {
      this.stats.migrations++;
      this.write(m.taskId, l!, { ...r!.state, assignee: m.to, migrations: r!.state.migrations + 1 }, r!.config, now);
    }
  }

  // ---- auctions (Contract Net) -------------------------------------------------------------------

  private startAuction(taskId: string, l: Local, now: number, round: number): void {
    const st = l.row.record!.state;
    const invited = capableAgents(this.members, st.spec.requiredCapabilities).map((c) => c.agentId);
    const auctionId = this.auctions.announce(taskId, invited, now, this.o.auctionMs, round);
    this.active.add(taskId);
    for (const a of invited) {
      if (a === this.id) {
        const ans = answerCfp(this.bidderState(now), st.spec.requiredCapabilities);
        if ("propose" in ans) this.auctions.propose(auctionId, this.id, ans.propose);
        else this.auctions.refuse(auctionId, this.id);
      } else this.send(a, { type: "cfp", auctionId, taskId, requiredCapabilities: st.spec.requiredCapabilities.slice(), deadlineMs: this.o.auctionMs });
    }
  }

  private bidderState(now: number) {
    const w = this.workload(now);
    for (const [a, until] of this.proposals) if (until <= now) this.proposals.delete(a);
    // Open proposals count as queued work: a bidder that already offered itself to several managers
    // should look busier, or concurrent auctions all award the same agent.
    return { id: this.id, caps: this.o.caps, slots: w.slots, queueLength: w.queued + w.running + this.proposals.size, completed: this.stats.completed, failed: this.stats.failed, resources: this.o.resources };
  }

  private onCfp(from: string, m: Extract<TaskMsg, { type: "cfp" }>, now: number): void {
    const ans = answerCfp(this.bidderState(now), m.requiredCapabilities);
    if ("propose" in ans) {
      this.proposals.set(`${from}/${m.auctionId}`, now + 2 * m.deadlineMs);
      this.send(from, { type: "propose", auctionId: m.auctionId, bid: ans.propose });
    }
    else this.send(from, { type: "refuse", auctionId: m.auctionId, reason: ans.refuse });
  }

  private auctionOutcome(o: ReturnType<ContractNetManager["due"]>[number], now: number): void {
    const l = this.tasks.get(o.taskId);
    if (!l || l.role !== "primary" || !l.row.record) return;
    const r = l.row.record;
    const st = r.state;
    if (st.awarded || st.status !== "queued") return;
    if (o.kind === "reannounce") {
      this.out.events.push(`${this.id} re-announces ${o.taskId}: no bids (round ${o.round})`);
      this.startAuction(o.taskId, l, now, o.round);
      return;
    }
    let assignee: string | null = null;
    if (o.kind === "award" && this.live.has(o.winner)) {
      assignee = o.winner;
      this.stats.auctionsAwarded++;
      if (o.winner !== this.id) this.send(o.winner, { type: "accept_proposal", auctionId: o.auctionId, taskId: o.taskId });
      for (const x of o.rejected) if (x !== this.id) this.send(x, { type: "reject_proposal", auctionId: o.auctionId, taskId: o.taskId });
    } else {
      // Nobody bid after every round: fall back to DHT routing (the first holder runs it).
      this.stats.auctionsFallback++;
      this.out.events.push(`${this.id} auction for ${o.taskId}: no bids; falls back to DHT`);
    }
    this.write(o.taskId, l, { ...st, assignee, awarded: true }, r.config, now);
    const waiting = l.awaitingAward;
    l.awaitingAward = [];
    for (const a of waiting) this.replyWhenDurable(o.taskId, l, a.rid, a.origin, () => this.submitReply(l, false));
  }

  // ---- migration (hot → cold) --------------------------------------------------------------------

  private rebalance(now: number): void {
    const w = this.workload(now);
    if (w.load <= this.o.hotLoad) return;
    const mine = Array.from(this.mine);
    // Tasks other primaries queued for us can move too: we ask their primary (t_give without a claim).
    for (const [t, e] of this.remote) if (now - e.atMs <= 3 * this.o.assignResendMs && this.live.has(e.primary) && !this.mine.has(t)) mine.push(t);

    const others = this.members
      .filter((m) => m.id !== this.id)
      .map((m) => ({ id: m.id, slots: m.slots, running: 0, queued: new Array(Math.round(m.load * Math.max(1, m.slots))).fill("") }));
    const caps = new Map(this.members.map((m) => [m.id, m.caps]));
    const plan = planMigrations([{ id: this.id, slots: w.slots, running: w.running, queued: mine }, ...others], {
      hot: this.o.hotLoad, cold: this.o.coldLoad, maxMoves: 16,
      canRun: (t, a) => !this.remote.has(t) ? capabilityMatch(caps.get(a) ?? [], this.tasks.get(t)?.row.record?.state.spec.requiredCapabilities ?? []) > CAPABILITY_THRESHOLD : true,
    });
    for (const mv of plan.moves) {
      if (mv.from !== this.id) continue;
      const e = this.remote.get(mv.taskId);
      if (e && !this.mine.has(mv.taskId)) {
        // The primary checks capabilities (we do not hold the spec).
        this.remote.delete(mv.taskId);
        this.send(e.primary, { type: "t_give", taskId: mv.taskId, to: mv.to, claimId: null, leaseMs: 0, caps: caps.get(mv.to) ?? [] });
        continue;
      }
      const l = this.tasks.get(mv.taskId)!;
      const r = l.row.record!;
      this.stats.migrations++;
      this.write(mv.taskId, l, { ...r.state, assignee: mv.to, migrations: r.state.migrations + 1 }, r.config, now);
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  private local(taskId: string, create: boolean): Local | undefined {
    let l = this.tasks.get(taskId);
    if (!l && create) {
      l = {
        row: { taskId, record: null, promised: null, promisedConfig: null }, role: "none", cand: null, acked: new Map(), lastSendMs: 0, waiters: [], queued: [],
        awaitingAward: [], highestSeen: 0, nextCampaignMs: 0, lastAssignMs: 0, lastHeardMs: 0, lastNudgeMs: 0,
      };
      this.tasks.set(taskId, l);
    }
    return l;
  }

  private persist(taskId: string): void {
    this.dirty.add(taskId);
  }

  private send(to: string, msg: TaskMsg): void {
    if (to === this.id) return;
    this.out.messages.push({ to, msg });
  }

  ready(): TaskReady {
    const r = this.out;
    for (const id of this.dirty) {
      const row = this.tasks.get(id)!.row;
      r.rows.push({ taskId: id, record: row.record, promised: row.promised, promisedConfig: row.promisedConfig });
    }
    this.dirty.clear();
    // Claim answers to remote claimants leave as t_claimed once durable.
    if (r.replies.length && this.remoteClaimAnswers.size) {
      r.replies = r.replies.filter((x) => {
        const a = this.remoteClaimAnswers.get(x.rid);
        if (!a) return true;
        this.remoteClaimAnswers.delete(x.rid);
        const view = x.reply.op === "claim" && x.reply.ok ? (x.reply as { task: TaskView | null }).task : null;
        r.messages.push({ to: a.to, msg: { type: "t_claimed", claimId: a.claimId, taskId: a.taskId, view } });
        return false;
      });
    }
    // My own worker's completions feed the bid history.
    for (const x of r.replies) {
      if (x.reply.op === "complete" && x.reply.ok && !x.reply.duplicate && x.reply.doneBy === this.id) this.stats.completed++;
      if (x.reply.op === "fail" && x.reply.ok && x.reply.status === "failed") this.stats.failed++;
      if ((x.reply.op === "complete" || x.reply.op === "fail") && x.reply.ok) this.myLeases.delete((x.reply as { taskId: string }).taskId);
    }
    this.out = emptyReady();
    return r;
  }
}

function firstOf(s: ReadonlySet<string>): string[] {
  const it = s.values().next();
  return it.done ? [] : [it.value];
}

function emptyReady(): TaskReady {
  return { rows: [], messages: [], replies: [], events: [] };
}

export function normalizeSpec(spec: TaskSpec, defaultMaxAttempts: number): TaskSpec {
  return {
    taskId: spec.taskId, payload: spec.payload, requiredCapabilities: Array.from(new Set(spec.requiredCapabilities ?? [])).sort(),
    strategy: spec.strategy ?? "dht", replication: Math.max(1, Math.min(7, spec.replication ?? 3)), maxAttempts: Math.max(1, spec.maxAttempts ?? defaultMaxAttempts),
  };
}
