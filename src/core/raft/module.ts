// The swarm's replicated log as a module: a Raft node (raft.ts) plus the state machines it drives.
// Voters are the first `consensus.voters` agents; every other agent follows the log as a learner.
// Membership feeds Raft through the membership view: the leader adds new members as learners, and when
// the failure detector declares a voter dead it promotes a healthy learner and then removes the dead
// voter — one server at a time (Raft thesis §4.1), so every change is safe. When the failure detector
// buries the leader, the first live voter campaigns at once instead of waiting out a timeout.
//
// Learners are off the leader's path (issue #14): the leader replicates to the voters only, and every
// agent that applies committed entries passes them on to its children in a spreading tree rooted at the
// leader (`tree`/`learn`) — the leader's own work per write is (voters − 1) appends plus ROOT_FANOUT
// pushes, whatever the size of the swarm. A missed push is repaired by index: each agent's commit index
// rides on SWIM's pings and acks (the piggyback delegate, no extra call), and an agent that stays behind
// a neighbour for a gossip round, or that receives entries that do not connect to its log, pulls what it
// lacks from that peer (`tree`/`pull`, answered inline with a `learn`). Anti-entropy alone (pull on
// gossip) would cost nothing extra but leave learners a gossip round or more behind; the tree makes a
// learner's staleness ≈ depth × one call (depth ⌈log₄ N⌉ + 1), and the pull bounds it by about two
// gossip rounds when a push is lost.
//
// Persisted rows: `hard` (term, vote, commit), `snap` (the snapshot's index, term, configuration),
// `log:<index>` (entries after the snapshot), `applied` (how far the state machines applied), and each
// state machine's rows under `sm:<name>:`. Term, vote and entries are in these rows — written in the
// same transaction as everything else of the input — before any message that depends on them is sent.
import { DEFAULT_CONFIG } from "../config";
import { rankByHash, VOTER_SEED } from "../hash";
import { isId } from "../ids";
import type { CallResult, Context, Envelope, InitOptions, MemberChange, Module, Persisted } from "../protocol";
import { num, prefixEnd } from "../store";
import { Raft, type Entry, type HardState, type Learned, type RaftConfig, type RaftMsg, type Ready, type Snapshot, type SnapshotMeta } from "./raft";
import { asSmCommand, asSnapshotData, type StateMachine } from "./statemachine";
import { validRaftMsg, validTreeMsg, type TreeMsg } from "./validate";

/**
 * Raft counts time in ticks: a heartbeat interval is this many. A tick is also how often a candidate
 * re-asks voters that have not answered (100 ms at the default heartbeat); ticks cost nothing when idle
 * (the alarm is set for the next action, not for every tick).
 */
export const HEARTBEAT_TICKS = 30;
/** The most a slow platform may stretch the log's timing. */
const MAX_SLOWDOWN = 4;
const LOG = "log:";
const SM = "sm:";
/** The leader's children in the spreading tree: its pushes per write are (voters − 1) + this (issue #14: ≤ voters + 2). */
export const ROOT_FANOUT = 2;
/** Everyone else's children in the spreading tree (a Durable Object makes at most 6 calls at once). */
export const TREE_FANOUT = 4;
/** Tree order: independent of the voters' placement and of the overlay's rings. */
const TREE_SEED = 0x74726565;
const LEARNERS_VIA_TREE = true;
/** A pull not answered within this long may be sent again (to anyone). */
const PULL_RETRY_MS = 2000;
/** Entries held for the next tree push beyond which it goes out at once (bounds a push's size and memory). */
const MAX_SPREAD_BATCH = 256;
/**
 * The default pace of tree pushes scales with the swarm: one push per agent per (members × this) ms,
 * within [MIN_BATCH_MS, MAX_BATCH_MS]. Every wave down the tree costs one call per member, so waves at
 * most every members × 5 ms cap the swarm's learner traffic at about 200 calls/s whatever the write rate.
 */
const BATCH_MS_PER_MEMBER = 5;
const MIN_BATCH_MS = 100;
const MAX_BATCH_MS = 5000;

/** The default batch interval for a configuration of `members` voters and learners. */
export function defaultLearnerBatchMs(members: number): number {
  return Math.min(MAX_BATCH_MS, Math.max(MIN_BATCH_MS, members * BATCH_MS_PER_MEMBER));
}

export interface RaftStatus {
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  voters: string[];
  learners: string[];
}

export type ProposeResult = { ok: true; index: number; term: number } | { ok: false; leader: string | null };
export type ReadResult = { ok: true; ctx: number } | { ok: false; leader: string | null };

export class ReplicatedLog implements Module {
  readonly name = "raft";
  private raft: Raft | null = null;
  private applied = 0;
  /** When time was last counted, and the part of a tick counted but not yet ticked. */
  private countedAt = 0;
  private carryMs = 0;
  /** The (term, leader) this agent already asked the voters to check (once each). */
  private checked = "";
  /**
   * When this leader proposed each entry still uncommitted (index → ms): proposal → commit is the log's
   * commit latency (the metrics' `raft.commitMs`, `raft.commitParticipation`). Memory only: a new leader does not
   * time the entries it inherited.
   */
  private readonly proposedAt = new Map<number, number>();
  private knownLeader: string | null = null;
  private publishedVoters = "";
  /** Per state machine, the log index of its `due` command in flight (one at a time). */
  private readonly dueIndex = new Map<string, number>();
  /** Confirmed reads waiting for the state machines to catch up to their index. */
  private readyReads: Array<{ ctx: number; index: number }> = [];
  private readonly machines: Map<string, StateMachine>;
  private readonly stats = { proposals: 0, proposalGroups: 0, applied: 0, elections: 0, snapshotsSent: 0, pushes: 0, pulls: 0, pullsServed: 0, resends: 0 };
  /** The spreading tree's root (the leader) as last heard, for agents that do not follow the leader directly. */
  private treeRoot: string | null = null;
  private treeCache: { root: string; config: Readonly<RaftConfig>; order: string[]; pos: Map<string, number> } | null = null;
  /** A neighbour seen ahead of this agent's commit index: pull from it if still behind a round later. */
  private lag: { index: number; since: number; from: string } | null = null;
  private pullSent: { to: string; at: number } | null = null;
  /** Entries applied here and not yet passed to this agent's children, and when it last pushed (paced). */
  private spreadQueue: Entry[] = [];
  private spreadAt = -Infinity;
  /**
   * Per child, the first index of the pushes to it not yet known to have arrived (cleared when a push to
   * it succeeds); the pushes to send again after a failure (from that index, when); and the failures in a
   * row, which double the wait before the next try.
   */
  private readonly pushedFrom = new Map<string, number>();
  private readonly resend = new Map<string, { from: number; at: number }>();
  private readonly pushFails = new Map<string, number>();

  constructor(private readonly ctx: Context, machines: StateMachine[]) {
    this.machines = new Map(machines.map((m) => [m.name, m]));
  }

  private get enabled(): boolean {
    return this.ctx.config.consensus.voters > 0;
  }

  /** Act on evidence rather than timers (older configs lack the field: on). */
  /**
   * Learners get the log through the spreading tree, not from the leader. Always on; a switch so the
   * previous design (the leader appends to every member) can be measured the same way (false).
   */
  private get viaTree(): boolean {
    return LEARNERS_VIA_TREE;
  }

  /** The least time between two pushes of one agent down the tree: the configured one, or by the swarm's size. */
  private get batchMs(): number {
    const set = this.ctx.config.consensus.learnerBatchMs;
    if (set !== undefined) return set;
    const c = this.raft?.configView();
    return defaultLearnerBatchMs(c ? c.voters.length + c.learners.length : 0);
  }

  private get fast(): boolean {
    return this.ctx.config.consensus.fastFailover !== false;
  }

  /**
   * The log's timing: its own configuration in ms (older swarms' configs lack it: the defaults apply).
   * The log's clock runs slower on a slow platform (Lifeguard's local health, applied to Raft): a tick
   * lasts longer by the share of an election timeout that measured alarm lateness and call round trips
   * could eat, so a loaded machine makes elections slower, never a reason for one.
   */
  private get timing(): { tickMs: number; electionTicks: number } {
    const c = this.ctx.config.consensus;
    const heartbeatMs = c.heartbeatMs ?? DEFAULT_CONFIG.consensus.heartbeatMs;
    const electionMs = c.electionMs ?? DEFAULT_CONFIG.consensus.electionMs;
    const base = Math.max(1, heartbeatMs / HEARTBEAT_TICKS);
    const p = this.ctx.platform();
    const slackMs = 2 * p.alarmLateP99Ms + 2 * p.callP99Ms;
    const scale = Math.min(MAX_SLOWDOWN, 1 + slackMs / electionMs);
    return { tickMs: base * scale, electionTicks: Math.max(2 * HEARTBEAT_TICKS, Math.round(electionMs / base)) };
  }

  machine<T extends StateMachine>(name: string): T | null {
    return (this.machines.get(name) as T | undefined) ?? null;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  init(o: InitOptions): void {
    if (!this.enabled) return;
    // Agents created together agree on the first voters; a joiner starts empty and is added by the leader.
    // Voters are placed by hash, not creation order: the agents created first are a correlated group
    // (a split along creation order would leave their side with every vote — see the placement study).
    const ranked = rankByHash(o.roster ?? [], VOTER_SEED);
    const v = this.ctx.config.consensus.voters;
    const config: RaftConfig = { voters: ranked.slice(0, v).sort(), learners: ranked.slice(v).sort() };
    const snap: SnapshotMeta = { index: 0, term: 0, config };
    // Persist the initial configuration, so a restart knows who votes.
    this.ctx.persist({ op: "put", key: "snap", value: snap });
    this.start({ term: 0, vote: null, commit: 0 }, snap, [], 0);
    // A new swarm elects its leader now, not after an election timeout: its first write is coming.
    // Safe, since every log is empty; the candidate keeps asking voters that are not up yet.
    if (this.fast && ranked[0] === this.ctx.self && v > 0) this.absorb(this.raft!.campaign());
  }

  restore(p: Persisted): void {
    if (!this.enabled) return;
    const snap = p.rows.get("snap") as SnapshotMeta | undefined;
    if (!snap) return;
    const hard = (p.rows.get("hard") as HardState | undefined) ?? { term: 0, vote: null, commit: 0 };
    const entries: Entry[] = [];
    const smRows = new Map<string, Map<string, unknown>>();
    for (const [k, v] of p.rows) {
      if (k.startsWith(LOG)) {
        const e = v as Entry;
        if (e.index > snap.index) entries.push(e);
      } else if (k.startsWith(SM)) {
        const rest = k.slice(SM.length);
        const i = rest.indexOf(":");
        const name = rest.slice(0, i);
        if (!smRows.has(name)) smRows.set(name, new Map());
        smRows.get(name)!.set(rest.slice(i + 1), v);
      }
    }
    entries.sort((a, b) => a.index - b.index);
    for (const [name, m] of this.machines) m.load(smRows.get(name) ?? new Map());
    const applied = (p.rows.get("applied") as number | undefined) ?? snap.index;
    this.start(hard, snap, entries, applied);
    // It voted for itself in its last term: it was a candidate or the leader, and a restart lost that.
    // Campaign now; its followers grant it (a leader that lost its leadership holds no lease).
    if (this.fast && hard.vote === this.ctx.self && hard.term > 0) this.absorb(this.raft!.campaign());
  }

  /**
   * Submit a command from any agent (the proposals module's votes, key pins): proposed here when this
   * agent leads, else sent to the leader it knows. Fire and forget — the submitter retries until it sees
   * its command applied (commands are idempotent). Offered to other modules as the fact `raft.submit`.
   */
  submit(sm: string, cmd: unknown): boolean {
    const raft = this.raft;
    if (!raft) return false;
    if (raft.role === "leader") return this.propose(sm, cmd).ok;
    if (!raft.leader) return false;
    this.ctx.send(raft.leader, "submit", { sm, cmd });
    return true;
  }

  private start(hard: HardState, snap: SnapshotMeta, entries: Entry[], applied: number): void {
    this.ctx.publish("raft.submit", (sm: string, cmd: unknown) => this.submit(sm, cmd));
    this.countedAt = this.ctx.now();
    this.carryMs = 0;
    this.applied = applied;
    this.raft = new Raft(
      {
        id: this.ctx.self, electionTicks: this.timing.electionTicks, heartbeatTicks: HEARTBEAT_TICKS, rng: this.ctx.rng,
        replicateLearners: !this.viaTree,
      },
      { hard, snapshot: snap, entries, applied },
    );
    this.absorb(this.raft.ready());
  }

  // ---- inputs -------------------------------------------------------------------------------

  validate(env: Envelope): string | null {
    if (env.type === "tree") {
      if (!validTreeMsg(env.msg)) return "bad tree.msg";
      const m = env.msg as TreeMsg;
      return m.type === "learn" ? this.badEntries(m.entries) : null;
    }
    if (env.type === "submit") {
      const sm = typeof env.sm === "string" ? this.machines.get(env.sm) : undefined;
      return sm && sm.validCommand(env.cmd) ? null : "bad raft.submit";
    }
    if (env.type !== "raft" || !validRaftMsg(env.msg)) return "bad raft.msg";
    const m = env.msg as RaftMsg;
    return m.type === "app" ? this.badEntries(m.entries) : null;
  }

  private badEntries(entries: Entry[]): string | null {
    for (const e of entries) {
      if (e.kind !== "cmd") continue;
      const c = asSmCommand(e.data);
      const sm = this.machines.get(c.sm);
      if (!sm || !sm.validCommand(c.cmd)) return `bad raft entry ${e.index}`;
    }
    return null;
  }

  receive(env: Envelope): void {
    if (!this.raft) return;
    if (env.type === "tree") {
      this.advance(this.ctx.now(), this.ctx.lateMs());
      this.onTree(env.from, env.msg as TreeMsg);
      return;
    }
    if (env.type === "submit") {
      // A command another agent submits (fire and forget: it retries until it sees it applied).
      if (this.raft.role === "leader") this.propose(env.sm as string, env.cmd);
      return;
    }
    // Time first, as etcd's ticker does: the time before this message counts before the message can
    // reset a timer (a heartbeat arriving long after the last tick must not leave that time to be
    // counted again after the reset).
    this.advance(this.ctx.now(), this.ctx.lateMs());
    this.absorb(this.raft.step(env.from, env.msg as RaftMsg));
  }

  /**
   * Count the time since the last tick, but not the time this agent was not running: an alarm that
   * fired `lateMs` late counts one tick for its lateness at most. A loaded machine then makes elections
   * slower, never a reason for a healthy quiet swarm to elect (Lifeguard's point, applied to Raft).
   */
  tick(now: number, lateMs: number): void {
    const raft = this.raft;
    if (!raft) return;
    this.advance(now, lateMs);
    this.flushSpread(now);
    this.sendResends(now);
    if (raft.role !== "leader") return;
    this.reconfigure();
    // One due command (an expiry sweep) per machine in the log at a time: until it is applied, another
    // would only grow the log.
    for (const [name, m] of this.machines) {
      if (this.duePending(name) || !m.due) continue;
      const cmd = m.due(now);
      if (cmd === null) continue;
      const r = this.propose(name, cmd);
      if (r.ok) this.dueIndex.set(name, r.index);
    }
  }

  private advance(now: number, lateMs: number): void {
    const { tickMs } = this.timing;
    const counted = Math.max(0, now - this.countedAt - Math.max(0, lateMs - tickMs)) + this.carryMs;
    this.countedAt = now;
    const ticks = Math.floor(counted / tickMs);
    this.carryMs = counted - ticks * tickMs;
    if (ticks > 0) this.absorb(this.raft!.tick(ticks));
  }

  nextDeadline(): number | null {
    const raft = this.raft;
    if (!raft) return null;
    let d: number | null = null;
    const ticks = raft.ticksUntilAction();
    if (ticks !== null) d = this.countedAt + Math.max(1, Math.ceil(ticks * this.timing.tickMs - this.carryMs));
    if (this.spreadQueue.length) d = Math.min(d ?? Infinity, this.spreadAt + this.batchMs);
    const resend = this.nextResend();
    if (resend !== null) d = Math.min(d ?? Infinity, resend);
    if (raft.role === "leader") {
      for (const [name, m] of this.machines) {
        const t = !this.duePending(name) && m.nextDue ? m.nextDue() : null;
        if (t !== null) d = Math.min(d ?? Infinity, Math.max(t, this.ctx.now() + 1));
      }
    }
    return d;
  }

  /** The failure detector (quorum-confirmed) buried the leader: elect now, not after a timeout. */
  onMemberChange(c: MemberChange): void {
    const raft = this.raft;
    const gone = c.after.status === "dead" || c.after.status === "left";
    if (!raft || !gone || raft.leader !== c.after.id) return;
    raft.forgetLeader(c.after.id);
    const live = raft.configuration().voters.filter((v) => v !== c.after.id && this.ctx.members.member(v)?.status === "alive");
    if (live.sort()[0] === this.ctx.self) this.absorb(raft.campaign());
  }

  /**
   * The request path is a failure detector: a call to the leader failed (a forward, an answer). Forget
   * it (its lease no longer blocks pre-votes here), ask the voters to check it — each probes it, and a
   * voter whose probe fails forgets it too — and if this is the first live voter, campaign now. A leader
   * that is fine answers the probes, keeps its followers, and the PreVote fails: a flaky link cannot
   * depose a healthy leader.
   */
  onCall(r: CallResult): void {
    if (r.mod === "raft" && r.type === "tree" && this.raft && this.viaTree) {
      if (r.ok) (this.pushedFrom.delete(r.to), this.pushFails.delete(r.to));
      else this.pushFailed(r.to);
    }
    const raft = this.raft;
    if (!raft || !this.fast || r.ok || r.to !== raft.leader || raft.role === "leader") return;
    raft.forgetLeader(r.to);
    this.ctx.log("info", "leader_unreachable", { leader: r.to, term: raft.term });
    const key = `${raft.term}/${r.to}`;
    if (this.checked !== key) {
      this.checked = key;
      this.absorb(raft.reportUnreachable(r.to));
    }
    const first = raft.configuration().voters.filter((v) => v !== r.to && this.ctx.members.member(v)?.status !== "dead").sort()[0];
    if (first === this.ctx.self) this.absorb(raft.campaign());
  }

  // ---- the spreading tree (issue #14) ---------------------------------------------------------

  /** Commit index on every SWIM ping and ack: a neighbour that stays behind pulls (no extra call). */
  readonly piggyback = {
    attach: (): unknown => (this.raft ? { c: this.raft.commit, t: this.raft.term, l: this.raft.leader } : null),
    take: (from: string, data: unknown): void => {
      const raft = this.raft;
      if (!raft || !this.viaTree || data === null) return;
      const { c: theirs, t, l } = data as { c: number; t?: number; l?: string | null };
      // The leader as the neighbour knows it (at most one per term): a learner whose tree pushes were
      // lost (its parent across a partition) still learns who leads within a gossip round.
      if (l && t !== undefined && !raft.isVoter() && (t > raft.term || (t === raft.term && raft.leader === null))) {
        raft.hearOfLeader(l, t);
        this.absorb(raft.ready());
      }
      const now = this.ctx.now();
      if (theirs <= raft.commit) {
        if (this.lag && raft.commit >= this.lag.index) this.lag = null;
        return;
      }
      // Behind a neighbour. The tree normally delivers within a few calls; still behind what was seen a
      // gossip round ago means a push was lost (or our parent is gone): pull by index from this peer.
      if (!this.lag || raft.commit >= this.lag.index) this.lag = { index: theirs, since: now, from };
      else if (now - this.lag.since >= this.ctx.config.failure.heartbeatMs) {
        this.pull(from);
        this.lag = { index: theirs, since: now, from };
      }
    },
    valid: (x: unknown): boolean => {
      if (x === null) return true;
      if (!x || typeof x !== "object") return false;
      const { c, t, l } = x as { c?: unknown; t?: unknown; l?: unknown };
      const nat = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
      return nat(c) && (t === undefined || nat(t)) && (l === undefined || l === null || isId(l));
    },
  };

  private onTree(from: string, m: TreeMsg): void {
    const raft = this.raft!;
    if (m.type === "pull") {
      // Serve committed entries by index (answered inline by the shell: one call for the pair).
      if (this.sendFrom(from, m.from)) this.stats.pullsServed++;
      return;
    }
    if (this.pullSent?.to === from) this.pullSent = null;
    this.treeRoot = m.root;
    raft.hearOfLeader(m.root, m.term);
    if (m.snapshot) this.absorb(raft.learnSnapshot(m.snapshot));
    const { gap, ready } = raft.learn({ commit: m.commit, commitTerm: m.commitTerm, entries: m.entries });
    this.absorb(ready);
    // A wave from the parent is passed on at once, with anything held here (it is paced at its root).
    this.flushSpread(this.ctx.now(), true);
    // Entries that do not connect to our log: the sender is ahead of us, ask it from our commit on.
    if (gap) this.pull(from);
  }

  /** Send `to` the committed entries from `index` on (a snapshot if compacted away); false when there are none. */
  private sendFrom(to: string, index: number): boolean {
    const raft = this.raft!;
    const r = raft.committedFrom(index);
    if (r === null) return false;
    if (r === "snapshot") {
      if (raft.snapshotMeta().index < this.applied) this.absorb(raft.compact(this.applied, null));
      const meta = raft.snapshotMeta();
      this.sendLearn(to, { commit: meta.index, commitTerm: meta.term, entries: [] }, { meta, data: this.snapshotData() });
    } else this.sendLearn(to, r);
    return true;
  }

  /**
   * A push the platform reported as failed (the child's object refused or did not answer): send it again
   * from the same index after a batch interval, doubled for each failure in a row (at most 64 intervals),
   * until the child answers or the failure detector declares it dead (then its own children take its
   * place). The child would otherwise wait for a pull, a SWIM round or more after it noticed a neighbour
   * ahead.
   */
  private pushFailed(to: string): void {
    const from = this.pushedFrom.get(to);
    if (from === undefined) return;
    this.pushedFrom.delete(to);
    const fails = this.pushFails.get(to) ?? 0;
    this.pushFails.set(to, fails + 1);
    const at = this.ctx.now() + this.batchMs * 2 ** Math.min(fails, 6);
    this.resend.set(to, { from: Math.min(this.resend.get(to)?.from ?? from, from), at });
  }

  private sendResends(now: number): void {
    for (const [to, { from, at }] of Array.from(this.resend)) {
      if (at > now) continue;
      this.resend.delete(to);
      const st = this.ctx.members.member(to)?.status;
      if (st === "dead" || st === "left") {
        this.pushFails.delete(to);
        continue;
      }
      if (!this.sendFrom(to, from)) continue;
      this.stats.resends++;
      this.pushedFrom.set(to, from);
    }
  }

  private nextResend(): number | null {
    let d: number | null = null;
    for (const { at } of this.resend.values()) if (d === null || at < d) d = at;
    return d;
  }

  private pull(from: string): void {
    const now = this.ctx.now();
    if (this.pullSent && now - this.pullSent.at < PULL_RETRY_MS) return;
    this.pullSent = { to: from, at: now };
    this.stats.pulls++;
    const msg: TreeMsg = { type: "pull", from: this.raft!.commit + 1 };
    this.ctx.send(from, "tree", { msg });
  }

  private sendLearn(to: string, l: Learned, snapshot?: Snapshot): void {
    const raft = this.raft!;
    const root = raft.role === "leader" ? this.ctx.self : (raft.leader ?? this.treeRoot);
    const msg: TreeMsg = { type: "learn", root: root ?? this.ctx.self, term: raft.term, ...l };
    if (snapshot) msg.snapshot = snapshot;
    this.ctx.send(to, "tree", { msg });
  }

  /**
   * Pass newly applied entries to this agent's children in the tree rooted at the leader. Entries applied
   * from the log itself (the leader's commits, a voter's) are paced: at most one push per batch interval
   * (`consensus.learnerBatchMs`, by default members × 5 ms), the first at once, what is applied in between
   * held and sent together. A push that arrives down the tree is passed on at once, with anything held:
   * the wave is already paced by the root. Under a stream of writes a learner then costs one call per
   * batch, not one per write, and the waves stay clear of the writes' own path; a learner is behind the
   * commit by at most one batch interval plus the tree's depth in calls.
   */
  private spread(entries: Entry[]): void {
    for (const e of entries) this.spreadQueue.push(e);
    this.flushSpread(this.ctx.now());
  }

  private flushSpread(now: number, force = false): void {
    if (!this.spreadQueue.length || !this.raft) return;
    if (!force && now - this.spreadAt < this.batchMs && this.spreadQueue.length < MAX_SPREAD_BATCH) return;
    const entries = this.spreadQueue;
    this.spreadQueue = [];
    this.spreadAt = now;
    const raft = this.raft;
    const root = raft.role === "leader" ? this.ctx.self : (raft.leader ?? this.treeRoot);
    if (!root) return;
    const kids = this.children(root);
    if (!kids.length) return;
    const last = entries[entries.length - 1];
    const l: Learned = { commit: last.index, commitTerm: last.term, entries };
    for (const k of kids) {
      this.stats.pushes++;
      if (!this.pushedFrom.has(k) && !this.resend.has(k)) this.pushedFrom.set(k, entries[0].index);
      // A voter the leader knows holds the entries needs only the commit index (smaller payload).
      this.sendLearn(k, raft.matchOf(k) >= last.index ? { ...l, entries: [] } : l);
    }
  }

  /**
   * This agent's children in the tree: position 0 is the root (the leader), the others in hash order;
   * the root's children are positions 1..ROOT_FANOUT, position p ≥ 1 has TREE_FANOUT children after them.
   * A child this agent believes dead is replaced by its own children (recursively), so one death does
   * not cut a subtree off; views that differ are repaired by pulls.
   */
  private children(root: string): string[] {
    const c = this.raft!.configView();
    // The order changes only with the root or the configuration (a new object each time it changes).
    if (this.treeCache?.root !== root || this.treeCache.config !== c) {
      const all = Array.from(new Set([...c.voters, ...c.learners]));
      const order = [root, ...rankByHash(all.filter((x) => x !== root), TREE_SEED)];
      this.treeCache = { root, config: c, order, pos: new Map(order.map((id, i) => [id, i])) };
    }
    const { order, pos } = this.treeCache;
    const me = pos.get(this.ctx.self);
    if (me === undefined) return [];
    const n = order.length;
    const natural = (p: number): number[] => {
      const first = p === 0 ? 1 : ROOT_FANOUT + 1 + (p - 1) * TREE_FANOUT;
      const k = p === 0 ? ROOT_FANOUT : TREE_FANOUT;
      const out: number[] = [];
      for (let i = first; i < first + k && i < n; i++) out.push(i);
      return out;
    };
    const out: string[] = [];
    const stack = natural(me).reverse();
    while (stack.length) {
      const p = stack.pop()!;
      const id = order[p];
      const st = this.ctx.members.member(id)?.status;
      if (st === "dead" || st === "left") stack.push(...natural(p).reverse());
      else out.push(id);
    }
    return out;
  }

  // ---- commands -----------------------------------------------------------------------------

  /** Propose a command for state machine `sm`; when not the leader, say who is (as far as we know). */
  propose(sm: string, cmd: unknown): ProposeResult {
    const r = this.proposeAll(sm, [cmd]);
    return r.ok ? { ok: true, index: r.first, term: r.term } : r;
  }

  /** Propose commands together (one write, one append per follower): they get indexes first, first + 1, … */
  proposeAll(sm: string, cmds: readonly unknown[]): { ok: true; first: number; term: number } | { ok: false; leader: string | null } {
    const raft = this.raft;
    if (!raft) return { ok: false, leader: null };
    const r = raft.proposeAll(cmds.map((cmd) => ({ sm, cmd })));
    if (!r) return { ok: false, leader: raft.leader };
    this.stats.proposals += cmds.length;
    this.stats.proposalGroups++;
    for (let i = 0; i < cmds.length; i++) this.proposedAt.set(r.first + i, this.ctx.now());
    this.absorb(r.ready);
    return { ok: true, first: r.first, term: r.term };
  }

  /** Start a linearizable read (ReadIndex, thesis §6.4); `read:<ctx>` answers once it may be served here. */
  readIndex(): ReadResult {
    const raft = this.raft;
    if (!raft) return { ok: false, leader: null };
    const r = raft.readIndex();
    if (!r) return { ok: false, leader: raft.leader };
    this.absorb(r.ready);
    return { ok: true, ctx: r.ctx };
  }

  leader(): string | null {
    return this.raft?.leader ?? null;
  }

  appliedIndex(): number {
    return this.applied;
  }

  status(): RaftStatus | null {
    const r = this.raft;
    if (!r) return null;
    const c = r.configuration();
    return { role: r.role, term: r.term, leader: r.leader, commitIndex: r.commit, appliedIndex: this.applied, voters: c.voters, learners: c.learners };
  }

  describe(): Record<string, unknown> {
    return { raft: this.status() };
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Entries this leader proposed that just committed: commit latency and participation (voters holding it). */
  private observeDecisions(committed: readonly Entry[]): void {
    if (this.proposedAt.size === 0) return;
    for (const e of committed) {
      const at = this.proposedAt.get(e.index);
      if (at === undefined) continue;
      this.proposedAt.delete(e.index);
      this.ctx.observe("raft.commitMs", Math.max(0, this.ctx.now() - at));
      const h = this.raft!.holding(e.index);
      if (h && h.voters > 0) this.ctx.observe("raft.commitParticipation", h.holders / h.voters);
    }
    // Entries a lost leadership will never see commit here (overwritten, or committed under another leader).
    if (this.raft!.role !== "leader") this.proposedAt.clear();
  }

  private duePending(name: string): boolean {
    const i = this.dueIndex.get(name) ?? 0;
    return i > 0 && this.applied < i && this.raft?.role === "leader";
  }

  /**
   * Leader only: move the configuration one safe step towards "the first `voters` healthy members vote,
   * every other live member learns".
   */
  private reconfigure(): void {
    const raft = this.raft!;
    if (raft.configChangePending()) return;
    const target = this.ctx.config.consensus.voters;
    const alive = new Set<string>();
    const gone = new Set<string>();
    for (const m of this.ctx.members.all()) {
      if (m.status === "alive") alive.add(m.id);
      else if (m.status === "dead" || m.status === "left") gone.add(m.id);
    }
    const { voters, learners } = raft.configuration();
    // A promotion takes the healthy learner first in the voters' hash order (placement stays by hash).
    const healthyLearner = rankByHash(learners.filter((l) => alive.has(l)), VOTER_SEED)[0];
    const deadVoter = voters.filter((v) => gone.has(v)).sort()[0];
    let next: RaftConfig | null = null;
    let why = "";
    if (deadVoter && healthyLearner && voters.length <= target) {
      next = { voters: [...voters, healthyLearner], learners: learners.filter((l) => l !== healthyLearner) };
      why = `promote ${healthyLearner} to replace dead voter ${deadVoter}`;
    } else if (deadVoter && deadVoter !== this.ctx.self) {
      next = { voters: voters.filter((v) => v !== deadVoter), learners };
      why = `remove dead voter ${deadVoter}`;
    } else if (voters.length < target && healthyLearner) {
      next = { voters: [...voters, healthyLearner], learners: learners.filter((l) => l !== healthyLearner) };
      why = `promote ${healthyLearner} (voters below ${target})`;
    } else {
      const missing = Array.from(alive).filter((a) => !voters.includes(a) && !learners.includes(a)).sort()[0];
      const deadLearner = learners.filter((l) => gone.has(l)).sort()[0];
      if (missing) {
        next = { voters, learners: [...learners, missing] };
        why = `add learner ${missing}`;
      } else if (deadLearner) {
        next = { voters, learners: learners.filter((l) => l !== deadLearner) };
        why = `remove dead learner ${deadLearner}`;
      }
    }
    if (!next) return;
    const r = raft.proposeConfig(next);
    if (!r) return;
    this.ctx.log("info", "config_change", { why });
    this.absorb(r.ready);
  }

  /** The whole state of every machine, as one snapshot payload. */
  private snapshotData(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, m] of this.machines) out[name] = m.snapshot();
    return out;
  }

  /** Carry out a Raft `Ready`: persist, send, apply — in that order (persist-before-send). */
  private absorb(r: Ready): void {
    const raft = this.raft!;
    const ctx = this.ctx;
    if (r.snapshot && r.restore) {
      // A snapshot from the leader replaces every machine's state and rows.
      const data = asSnapshotData(r.snapshot.data);
      ctx.persist({ op: "delRange", from: SM, to: prefixEnd(SM) });
      for (const [name, m] of this.machines) {
        for (const [k, v] of m.install(data[name] ?? null)) ctx.persist({ op: "put", key: `${SM}${name}:${k}`, value: v });
      }
      this.applied = r.snapshot.meta.index;
      raft.advanceApplied(this.applied);
      // Held entries no longer connect to what follows: children that miss them pull (by index).
      this.spreadQueue = [];
      ctx.persist({ op: "put", key: "applied", value: this.applied });
      ctx.output(`applied:${this.applied}`, { term: r.snapshot.meta.term, result: null });
    }
    if (r.compactTo !== null && r.snapshot) {
      ctx.persist({ op: "delRange", from: LOG, to: LOG + num(r.compactTo + 1) });
      ctx.persist({ op: "put", key: "snap", value: r.snapshot.meta });
    }
    if (r.append) {
      if (r.append.truncate) ctx.persist({ op: "delRange", from: LOG + num(r.append.fromIndex), to: prefixEnd(LOG) });
      for (const e of r.append.entries) ctx.persist({ op: "put", key: LOG + num(e.index), value: e });
    }
    if (r.hardState) ctx.persist({ op: "put", key: "hard", value: r.hardState });
    for (const m of r.messages) {
      let msg = m.msg;
      if (msg.type === "snap") {
        // Fill the snapshot: compact to what we applied, and ship the state as of that index.
        if (raft.snapshotMeta().index < this.applied) this.absorb(raft.compact(this.applied, null));
        msg = { ...msg, snapshot: { meta: raft.snapshotMeta(), data: this.snapshotData() } };
        this.stats.snapshotsSent++;
      }
      ctx.send(m.to, "raft", { msg });
    }
    this.observeDecisions(r.committed);
    let appliedNow = false;
    const newly: Entry[] = [];
    for (const e of r.committed) {
      if (e.index <= this.applied) continue;
      let result: unknown = null;
      if (e.kind === "cmd") {
        const c = asSmCommand(e.data);
        const sm = this.machines.get(c.sm);
        if (sm) {
          const a = sm.apply(e.index, c.cmd);
          for (const [k, v] of a.puts) ctx.persist({ op: "put", key: `${SM}${c.sm}:${k}`, value: v });
          for (const k of a.dels) ctx.persist({ op: "del", key: `${SM}${c.sm}:${k}` });
          result = a.result;
        }
      }
      this.applied = e.index;
      raft.advanceApplied(e.index);
      this.stats.applied++;
      appliedNow = true;
      newly.push(e);
      ctx.output(`applied:${e.index}`, { term: e.term, result });
    }
    if (appliedNow) ctx.persist({ op: "put", key: "applied", value: this.applied });
    if (newly.length && this.viaTree) this.spread(newly);
    for (const rd of r.reads) this.readyReads.push(rd);
    for (const c of r.droppedReads) ctx.output(`read:${c}`, null);
    // A confirmed read is served once this replica applied up to its read index.
    if (this.readyReads.length) {
      const keep: typeof this.readyReads = [];
      for (const rd of this.readyReads) (rd.index <= this.applied ? ctx.output(`read:${rd.ctx}`, { index: rd.index }) : keep.push(rd));
      this.readyReads = keep;
    }
    for (const ev of r.events) {
      if (ev.includes("became leader")) this.stats.elections++;
      if (ev.includes("became leader")) ctx.observe("raft.leaderElected", 1);
      ctx.log(ev.includes("pre-campaign") ? "debug" : "info", "raft", { detail: ev });
    }
    const voters = raft.configuration().voters;
    if (voters.join(",") !== this.publishedVoters) {
      this.publishedVoters = voters.join(",");
      ctx.publish("raft.voters", voters);
    }
    if (raft.leader !== this.knownLeader) {
      this.knownLeader = raft.leader;
      if (raft.leader !== null) ctx.output("leader", raft.leader);
    }
    if (this.applied - raft.snapshotMeta().index >= this.ctx.config.consensus.snapshotEvery) {
      this.absorb(raft.compact(this.applied, null));
    }
  }
}
