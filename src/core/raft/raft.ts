// A pure Raft core in the style of etcd-io/raft: a state machine driven by ticks and messages that
// returns what to persist, what to send and what to apply. No clock, no I/O; randomness (election
// timeouts) comes from the Rng passed in.
//
// Implemented (section numbers are Ongaro's thesis, "Consensus: Bridging Theory and Practice", 2014):
//  - leader election with randomized timeouts (§3.4), the up-to-date check (§3.6.1);
//  - PreVote (§9.6) and CheckQuorum (§6.2 leader lease check), so a rejoining partitioned member cannot
//    depose a healthy leader and a leader cut off from a majority steps down;
//  - log replication with the log-matching check and fast backtracking by conflicting term (§3.5);
//  - commit only entries of the current term by counting replicas (§3.6.2), a no-op on election (§6.4);
//  - ReadIndex for linearizable reads without writing to the log (§6.4), reads that arrive together confirmed by one round;
//  - snapshots and InstallSnapshot (§5), so the log does not grow without bound;
//  - single-server membership changes, one at a time, taking effect when appended (§4.1), and learners
//    (non-voting members that follow the log, §4.2.1).
// Failover that does not wait for timers when there is evidence (Meshwork's additions, all liveness
// only — none of them lets a vote or a commit happen that plain Raft would refuse):
//  - `check`/`probe`: an agent that failed to reach the leader asks the voters to check it; a voter
//    that still holds a lease on that leader probes it (the leader answers with a heartbeat), so a
//    healthy leader keeps its followers and a dead one loses them as soon as a probe fails;
//  - a (pre-)candidate re-sends its vote requests to voters that have not answered, each heartbeat
//    interval, so an election started before its peers were up (a new swarm) completes when they are;
//  - a follower grants a (pre-)vote to the very leader it follows: that leader lost its leadership
//    (it restarted), so its lease protects no one;
//  - `tick(n)` advances n ticks at once, so the shell can count only the time it was running.
// Learners off the leader's path (option `replicateLearners: false`, issue #14): the leader keeps no
// progress for learners and sends them nothing, and it does not broadcast an empty append just to carry
// a new commit index; committed entries reach everyone else through `learn` (the shell spreads them: a
// tree rooted at the leader, plus pulls by index). Taking committed entries from anyone is safe: a
// committed entry is the same on every log that has it (Log Matching, §3.5), so a follower may append
// it, dropping only an uncommitted conflicting suffix, which can never be committed (§3.6).
import type { Rng } from "../rng";

/**
 * An idle learner gets an empty append only every this many heartbeats (it never campaigns, so it needs
 * no lease); a learner that has not been told the latest commit index gets it at the next heartbeat.
 */
const LEARNER_BEAT_EVERY = 30;

export interface RaftConfig {
  voters: string[];
  learners: string[];
}

export interface Entry {
  index: number;
  term: number;
  kind: "noop" | "cmd" | "config";
  data?: unknown;
  config?: RaftConfig;
}

export interface HardState {
  term: number;
  vote: string | null;
  commit: number;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  config: RaftConfig;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: unknown;
}

export type RaftMsg =
  | { type: "vote"; term: number; pre: boolean; lastIndex: number; lastTerm: number }
  | { type: "vote_resp"; term: number; pre: boolean; granted: boolean }
  | { type: "app"; term: number; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number; ctx: number }
  | { type: "app_resp"; term: number; ok: boolean; index: number; hint: number; ctx: number }
  | { type: "snap"; term: number; snapshot: Snapshot }
  /** "I could not reach `leader`: check it." (to voters; liveness only) */
  | { type: "check"; term: number; leader: string }
  /** Follower → leader: "are you there?" The leader answers with a heartbeat. */
  | { type: "probe"; term: number };

export interface Outbound {
  to: string;
  msg: RaftMsg;
}

export interface ReadState {
  ctx: number;
  index: number;
}

/** What the shell must do, in this order: persist (hardState, truncate+append, snapshot), send, apply. */
export interface Ready {
  hardState: HardState | null;
  /**
   * Store `entries` (from `fromIndex` on); when `truncate`, first drop the stored log from `fromIndex`
   * (inclusive) — only when entries there may be stored already (a conflicting suffix, a snapshot
   * replacing the log), so a plain append costs no delete.
   */
  append: { fromIndex: number; entries: Entry[]; truncate: boolean } | null;
  /** A snapshot to store (it replaces the log up to its index). */
  snapshot: Snapshot | null;
  /** True when `snapshot` came from the leader: restore the state machine from it. */
  restore: boolean;
  /** The stored log can be dropped up to and including this index (after `compact`). */
  compactTo: number | null;
  messages: Outbound[];
  /** Newly committed entries, in order, to apply to the state machine. */
  committed: Entry[];
  reads: ReadState[];
  /** Reads that cannot be served (this agent lost leadership): retry elsewhere. */
  droppedReads: number[];
  events: string[];
}

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

export interface RaftOptions {
  id: string;
  /** Election timeout is randomized in [electionTicks, 2·electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  /** A (pre-)candidate re-sends vote requests to voters that have not answered every this many ticks (default 1). */
  retryTicks?: number;
  rng: Rng;
  /** Largest number of entries in one append. */
  maxBatch?: number;
  /**
   * The leader replicates to learners itself and broadcasts each new commit index (default: true). When
   * false, learners get committed entries through `learn` only, and the leader's work per write depends
   * on the voters alone.
   */
  replicateLearners?: boolean;
}

/** Committed entries from anyone (not necessarily the leader): `entries` end at or before `commit`. */
export interface Learned {
  /** A committed index and its term: the receiver commits up to it if its own log has that (index, term). */
  commit: number;
  commitTerm: number;
  /** Consecutive committed entries (may be empty: the commit alone). */
  entries: Entry[];
}

export interface RaftPersisted {
  hard: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
  /** How far the (separately persisted) state machine has applied; default: the snapshot index. */
  applied?: number;
}

interface Progress {
  match: number;
  next: number;
  inflight: boolean;
  active: boolean;
  /** The commit index last sent to it. */
  sentCommit: number;
}

export class Raft {
  readonly id: string;
  term = 0;
  vote: string | null = null;
  commit = 0;
  role: Role = "follower";
  leader: string | null = null;
  /** Entries after the snapshot: log[i] has index snap.index + 1 + i. */
  private log: Entry[] = [];
  private snap: SnapshotMeta;
  private applied = 0;
  private config: RaftConfig;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly retryTicks: number;
  private readonly maxBatch: number;
  private readonly replicateLearners: boolean;
  private readonly rng: Rng;
  private progress = new Map<string, Progress>();
  private votes = new Map<string, boolean>();
  private pendingConfigIndex = 0;
  private learnerBeat = 0;
  private retryElapsed = 0;
  private readCtx = 0;
  private pendingReads = new Map<number, { index: number; acks: Set<string> }>();
  private waitingReads: number[] = [];
  /** The read context of the leadership confirmation round in flight (0: none), and whether reads wait for the next. */
  private readRound = 0;
  private readQueued = false;
  private out: Ready = emptyReady();
  private hardDirty = false;

  constructor(opts: RaftOptions, persisted: RaftPersisted) {
    this.id = opts.id;
    this.rng = opts.rng;
    this.electionTicks = opts.electionTicks;
    this.heartbeatTicks = opts.heartbeatTicks;
    this.retryTicks = opts.retryTicks ?? 1;
    this.maxBatch = opts.maxBatch ?? 256;
    this.replicateLearners = opts.replicateLearners ?? true;
    this.term = persisted.hard.term;
    this.vote = persisted.hard.vote;
    this.snap = { ...persisted.snapshot, config: cloneConfig(persisted.snapshot.config) };
    this.log = persisted.entries.filter((e) => e.index > this.snap.index).map((e) => ({ ...e }));
    this.commit = Math.max(persisted.hard.commit, this.snap.index);
    // Committed entries the state machine has not applied yet come out in the first Ready.
    this.applied = Math.max(this.snap.index, Math.min(persisted.applied ?? this.snap.index, this.commit));
    if (this.commit > this.applied) this.out.committed = this.entriesFrom(this.applied + 1, this.commit - this.applied);
    this.config = this.latestConfig();
    this.randomizeElectionTimeout();
  }

  // ---- queries ------------------------------------------------------------------------------

  lastIndex(): number {
    return this.log.length ? this.log[this.log.length - 1].index : this.snap.index;
  }

  /**
   * Leader only: how many of the current voters hold `index` (this leader counts itself), out of how
   * many — the participation in a decision, read when it commits. null when not the leader.
   */
  holding(index: number): { holders: number; voters: number } | null {
    if (this.role !== "leader") return null;
    let holders = 0;
    for (const v of this.config.voters) {
      const match = v === this.id ? this.lastIndex() : (this.progress.get(v)?.match ?? 0);
      if (match >= index) holders++;
    }
    return { holders, voters: this.config.voters.length };
  }

  lastTerm(): number {
    return this.log.length ? this.log[this.log.length - 1].term : this.snap.term;
  }

  termAt(index: number): number | null {
    if (index === this.snap.index) return this.snap.term;
    if (index < this.snap.index || index > this.lastIndex()) return null;
    return this.log[index - this.snap.index - 1].term;
  }

  entriesFrom(index: number, max = Infinity): Entry[] {
    const start = index - this.snap.index - 1;
    if (start < 0) return [];
    return this.log.slice(start, start + max).map(cloneEntry);
  }

  configuration(): RaftConfig {
    return cloneConfig(this.config);
  }

  /** The configuration in force, not copied (read only; a new object whenever it changes). */
  configView(): Readonly<RaftConfig> {
    return this.config;
  }

  snapshotMeta(): SnapshotMeta {
    return { ...this.snap, config: cloneConfig(this.snap.config) };
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** Leader only: the highest index known to be in `id`'s log (0 if unknown). */
  matchOf(id: string): number {
    return this.role === "leader" ? (this.progress.get(id)?.match ?? 0) : 0;
  }

  isVoter(id = this.id): boolean {
    return this.config.voters.includes(id);
  }

  /** True while a configuration change is appended but not yet applied (one change at a time). */
  configChangePending(): boolean {
    return this.pendingConfigIndex > this.applied;
  }

  /**
   * Ticks until this node has something to do on its own (a heartbeat, a CheckQuorum check, an
   * election), or null if never (a learner): lets the shell sleep instead of ticking for nothing.
   */
  ticksUntilAction(): number | null {
    if (this.role === "leader") {
      return Math.max(1, Math.min(this.heartbeatTicks - this.heartbeatElapsed, this.electionTicks - this.electionElapsed));
    }
    if (!this.isVoter()) return null;
    const election = Math.max(1, this.randomizedTimeout - this.electionElapsed);
    if (this.role === "pre-candidate" || this.role === "candidate") return Math.min(election, Math.max(1, this.retryTicks - this.retryElapsed));
    return election;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** `n` ticks passed (one timer step each; several at once when the shell slept through them). */
  tick(n = 1): Ready {
    if (n <= 0) return this.ready();
    if (this.role === "leader") this.tickLeader(n);
    else this.tickElection(n);
    return this.ready();
  }

  /** Forget a leader the failure detector declared dead, so its lease no longer blocks pre-votes (etcd's ForgetLeader). */
  forgetLeader(id: string): void {
    if (this.role === "follower" && this.leader === id) this.leader = null;
  }

  /** Ask the voters (but the leader) to check `leader`, which this node could not reach. */
  reportUnreachable(leader: string): Ready {
    for (const v of this.config.voters) if (v !== leader && v !== this.id) this.send(v, { type: "check", term: this.term, leader });
    return this.ready();
  }

  /** Start an election now (e.g. when the failure detector declared the leader dead). */
  campaign(): Ready {
    if (this.role !== "leader" && this.isVoter()) this.preCampaign();
    return this.ready();
  }

  /** Propose a command. Null when this agent is not the leader (forward it to `leader`). */
  propose(data: unknown): { index: number; term: number; ready: Ready } | null {
    const r = this.proposeAll([data]);
    return r && { index: r.first, term: r.term, ready: r.ready };
  }

  /**
   * Propose commands together (group commit): appended at `first`, `first + 1`, …, persisted in one
   * Ready and sent in one append per follower. Null when this agent is not the leader.
   */
  proposeAll(data: readonly unknown[]): { first: number; term: number; ready: Ready } | null {
    if (this.role !== "leader" || data.length === 0) return null;
    const first = this.lastIndex() + 1;
    for (const d of data) this.appendLocal({ kind: "cmd", data: d });
    this.broadcastAppend();
    return { first, term: this.term, ready: this.ready() };
  }

  /** Propose a single-server configuration change. Null if not leader or a change is pending. */
  proposeConfig(config: RaftConfig): { index: number; ready: Ready } | null {
    if (this.role !== "leader" || this.configChangePending()) return null;
    const e = this.appendLocal({ kind: "config", config: cloneConfig(config) });
    this.broadcastAppend();
    return { index: e.index, ready: this.ready() };
  }

  /**
   * ReadIndex (thesis §6.4): record the commit index, confirm leadership with a heartbeat round, and
   * hand back `{ctx, index}` once a majority answered; the caller serves the read when applied ≥ index.
   */
  readIndex(): { ctx: number; ready: Ready } | null {
    if (this.role !== "leader") return null;
    const ctx = ++this.readCtx;
    if (!this.committedInCurrentTerm()) {
      this.waitingReads.push(ctx);
      return { ctx, ready: this.ready() };
    }
    this.startRead(ctx);
    return { ctx, ready: this.ready() };
  }

  /** The application applied entries up to `index`. */
  advanceApplied(index: number): void {
    this.applied = Math.max(this.applied, Math.min(index, this.commit));
  }

  /** Replace the log up to `index` (≤ applied) by a snapshot of the state machine. */
  compact(index: number, data: unknown): Ready {
    if (index <= this.snap.index || index > this.applied) return this.ready();
    const term = this.termAt(index)!;
    const config = this.configAt(index);
    this.log = this.log.filter((e) => e.index > index);
    this.snap = { index, term, config };
    this.out.snapshot = { meta: this.snapshotMeta(), data };
    this.out.compactTo = index;
    return this.ready();
  }

  /**
   * Committed entries up to `max` from index `from`, for a peer catching up by index; "snapshot" when
   * they were compacted (send the snapshot instead); null when this node has nothing committed there.
   */
  committedFrom(from: number, max = this.maxBatch): Learned | "snapshot" | null {
    if (from <= this.snap.index) return "snapshot";
    if (from > this.commit) return null;
    const entries = this.entriesFrom(from, Math.min(max, this.commit - from + 1));
    if (!entries.length) return null;
    const last = entries[entries.length - 1];
    return { commit: last.index, commitTerm: last.term, entries };
  }

  /**
   * Take committed entries from any peer (not only the leader). A follower whose log holds (commit,
   * commitTerm) commits up to it: by Log Matching (§3.5) its whole prefix is then the committed one.
   * Otherwise it appends entries that start right after its own commit index — replacing an
   * uncommitted conflicting suffix, which can never be committed since a different entry is committed
   * at that index (§3.6); entries that start later are a gap (the check of an entry's predecessor,
   * §3.5, is only possible against the committed prefix). The leader and candidates ignore it
   * (`mayLearn`). Returns whether the entries did not connect to this log (ask for earlier ones).
   */
  learn(l: Learned): { gap: boolean; ready: Ready } {
    if (!this.mayLearn() || l.commit <= this.commit) return { gap: false, ready: this.ready() };
    // Our log holds (commit, commitTerm): by Log Matching our prefix up to it is the committed one.
    if (this.termAt(l.commit) === l.commitTerm) {
      this.setCommit(l.commit);
      return { gap: false, ready: this.stopCampaignIfLearner() };
    }
    // Otherwise append, but only right after our own committed prefix (the one entry known to match
    // the sender's: a committed entry is the same everywhere). Entries further on could not be checked
    // against their predecessor (the §3.5 consistency check): a gap, ask for the earlier ones.
    const entries = l.entries.filter((e) => e.index > this.commit);
    if (!entries.length || entries[0].index !== this.commit + 1) return { gap: true, ready: this.ready() };
    let firstNew = -1;
    for (let i = 0; i < entries.length; i++) {
      const t = this.termAt(entries[i].index);
      if (t === null || t !== entries[i].term) {
        firstNew = i;
        break;
      }
    }
    if (firstNew >= 0) {
      const from0 = entries[firstNew].index;
      const truncate = this.truncateFrom(from0);
      const added = entries.slice(firstNew).map(cloneEntry);
      this.log.push(...added);
      this.queueAppend(from0, added, truncate);
      // The configuration is the log's latest config entry: it changes only if one came or went.
      if (truncate || added.some((e) => e.kind === "config")) this.config = this.latestConfig();
    }
    if (this.termAt(l.commit) !== l.commitTerm) return { gap: true, ready: this.stopCampaignIfLearner() };
    this.setCommit(l.commit);
    return { gap: false, ready: this.stopCampaignIfLearner() };
  }

  /** A pre-candidate that learned a configuration in which it does not vote stops asking for votes. */
  private stopCampaignIfLearner(): Ready {
    if (this.role === "pre-candidate" && !this.isVoter()) this.becomeFollower(this.term, null);
    return this.ready();
  }

  /** A snapshot from any peer (committed state at its index): as InstallSnapshot (§5.3), for followers. */
  learnSnapshot(s: Snapshot): Ready {
    if (!this.mayLearn() || s.meta.index <= this.commit) return this.ready();
    this.installSnapshot(s);
    return this.stopCampaignIfLearner();
  }

  /**
   * Followers learn, and so do pre-candidates: a PreVote changes no term and no vote, so nothing rests
   * on the log it advertised (and an agent that restarted believing it votes — a deposed leader that was
   * removed meanwhile — learns the configuration that says otherwise). The leader has every committed
   * entry; a candidate keeps the log it asked votes with.
   */
  private mayLearn(): boolean {
    return this.role === "follower" || this.role === "pre-candidate";
  }

  /** A learner's hint of the current leader and term (from whoever passed it committed entries). */
  hearOfLeader(leader: string, term: number): void {
    if (this.isVoter() || this.role !== "follower" || term < this.term) return;
    if (term > this.term) {
      this.term = term;
      this.vote = null;
      this.hardDirty = true;
    }
    this.leader = leader;
  }

  step(from: string, m: RaftMsg): Ready {
    // Term handling first (thesis §3.3), with PreVote and the CheckQuorum lease (§9.6, §6.2).
    if (m.type === "check" || m.type === "probe") {
      this.handleCheck(from, m);
      return this.ready();
    }
    if (m.term > this.term) {
      if (m.type === "vote") {
        // A healthy leader is in charge: ignore the disruptor — unless it is that leader itself, which
        // has lost its leadership (a restart) and whose lease therefore protects no one.
        const inLease = this.leader !== null && this.leader !== from && this.electionElapsed < this.electionTicks;
        if (inLease) return this.ready();
      }
      if (m.type === "vote" && m.pre) {
        // never change our term for a pre-vote
      } else if (m.type === "vote_resp" && m.pre && m.granted) {
        // pre-votes are granted with the candidate's future term
      } else {
        const leader = m.type === "app" || m.type === "snap" ? from : null;
        this.becomeFollower(m.term, leader);
      }
    } else if (m.term < this.term) {
      if (m.type === "app" || m.type === "snap") {
        // A stale leader: tell it our term so it steps down.
        this.send(from, { type: "app_resp", term: this.term, ok: false, index: 0, hint: 0, ctx: 0 });
      } else if (m.type === "vote" && m.pre) {
        this.send(from, { type: "vote_resp", term: this.term, pre: true, granted: false });
      }
      return this.ready();
    }

    switch (m.type) {
      case "vote":
        this.handleVote(from, m);
        break;
      case "vote_resp":
        this.handleVoteResp(from, m);
        break;
      case "app":
        if (this.role !== "follower") this.becomeFollower(m.term, from);
        this.leader = from;
        this.electionElapsed = 0;
        this.handleAppend(from, m);
        break;
      case "snap":
        if (this.role !== "follower") this.becomeFollower(m.term, from);
        this.leader = from;
        this.electionElapsed = 0;
        this.handleSnapshot(from, m);
        break;
      case "app_resp":
        if (this.role === "leader") this.handleAppendResp(from, m);
        break;
    }
    return this.ready();
  }

  // ---- elections ----------------------------------------------------------------------------

  private tickElection(n: number): void {
    this.electionElapsed += n;
    if (this.isVoter() && this.electionElapsed >= this.randomizedTimeout) {
      this.electionElapsed = 0;
      this.preCampaign();
      return;
    }
    if (this.role === "pre-candidate" || this.role === "candidate") {
      this.retryElapsed += n;
      if (this.retryElapsed >= this.retryTicks) {
        // Voters that have not answered may not have been running when we asked: ask again.
        this.retryElapsed = 0;
        const term = this.role === "pre-candidate" ? this.term + 1 : this.term;
        for (const v of this.config.voters) {
          if (v !== this.id && !this.votes.has(v)) {
            this.send(v, { type: "vote", term, pre: this.role === "pre-candidate", lastIndex: this.lastIndex(), lastTerm: this.lastTerm() });
          }
        }
      }
    }
  }

  /** `check`: probe our leader if it is the one reported unreachable; `probe`: a leader answers with a heartbeat. */
  private handleCheck(from: string, m: Extract<RaftMsg, { type: "check" } | { type: "probe" }>): void {
    if (m.type === "probe") {
      if (this.role === "leader" && this.progress.has(from)) this.sendAppend(from, 0, true);
      return;
    }
    if (this.role === "follower" && this.leader !== null && this.leader === m.leader) this.send(this.leader, { type: "probe", term: this.term });
  }

  /** PreVote (§9.6): ask for votes at term + 1 without changing our term; only a win starts a real election. */
  private preCampaign(): void {
    this.role = "pre-candidate";
    this.out.events.push(`${this.id} pre-campaign for term ${this.term + 1}`);
    this.requestVotes(this.term + 1, true);
  }

  private becomeCandidate(): void {
    this.role = "candidate";
    this.term++;
    this.vote = this.id;
    this.hardDirty = true;
    this.out.events.push(`${this.id} campaign at term ${this.term}`);
    this.requestVotes(this.term, false);
  }

  private requestVotes(term: number, pre: boolean): void {
    this.leader = null;
    this.votes = new Map([[this.id, true]]);
    this.retryElapsed = 0;
    this.randomizeElectionTimeout();
    if (this.quorumReached()) return pre ? this.becomeCandidate() : this.becomeLeader();
    for (const v of this.config.voters) {
      if (v !== this.id) this.send(v, { type: "vote", term, pre, lastIndex: this.lastIndex(), lastTerm: this.lastTerm() });
    }
  }

  private becomeFollower(term: number, leader: string | null): void {
    const wasLeader = this.role === "leader";
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
      this.hardDirty = true;
    }
    this.role = "follower";
    this.leader = leader;
    this.electionElapsed = 0;
    this.randomizeElectionTimeout();
    if (wasLeader) this.dropReads();
  }

  private becomeLeader(): void {
    this.role = "leader";
    this.leader = this.id;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    this.progress = new Map();
    this.readRound = 0;
    this.readQueued = false;
    for (const p of this.replicas()) {
      if (p !== this.id) this.progress.set(p, { match: 0, next: this.lastIndex() + 1, inflight: false, active: true, sentCommit: 0 });
    }
    this.out.events.push(`${this.id} became leader at term ${this.term}`);
    // Thesis §6.4: commit a no-op of our own term so the commit index (and ReadIndex) is current.
    this.appendLocal({ kind: "noop" });
    this.pendingConfigIndex = Math.max(this.pendingConfigIndex, this.lastConfigIndex());
    this.broadcastAppend();
  }

  private handleVote(from: string, m: Extract<RaftMsg, { type: "vote" }>): void {
    const canVote =
      this.vote === from || (this.vote === null && this.leader === null) || (m.pre && m.term > this.term);
    const upToDate = m.lastTerm > this.lastTerm() || (m.lastTerm === this.lastTerm() && m.lastIndex >= this.lastIndex());
    if (canVote && upToDate) {
      this.send(from, { type: "vote_resp", term: m.term, pre: m.pre, granted: true });
      if (!m.pre) {
        this.electionElapsed = 0;
        this.vote = from;
        this.hardDirty = true;
      }
    } else {
      this.send(from, { type: "vote_resp", term: this.term, pre: m.pre, granted: false });
    }
  }

  private handleVoteResp(from: string, m: Extract<RaftMsg, { type: "vote_resp" }>): void {
    const expecting = (this.role === "pre-candidate" && m.pre) || (this.role === "candidate" && !m.pre);
    if (!expecting || !this.config.voters.includes(from)) return;
    this.votes.set(from, m.granted);
    if (this.quorumReached()) {
      if (this.role === "pre-candidate") this.becomeCandidate();
      else this.becomeLeader();
      return;
    }
    const rejected = Array.from(this.votes.values()).filter((g) => !g).length;
    if (rejected >= quorumOf(this.config.voters.length)) this.becomeFollower(this.term, null);
  }

  private quorumReached(): boolean {
    let granted = 0;
    for (const v of this.config.voters) if (this.votes.get(v)) granted++;
    return granted >= quorumOf(this.config.voters.length);
  }

  // ---- leader -------------------------------------------------------------------------------

  private tickLeader(n: number): void {
    this.heartbeatElapsed += n;
    this.electionElapsed += n;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      // CheckQuorum (§6.2): a leader that did not hear from a majority for an election timeout steps down.
      let active = this.isVoter() ? 1 : 0;
      for (const [id, p] of this.progress) {
        if (p.active && this.config.voters.includes(id)) active++;
        p.active = false;
      }
      if (active < quorumOf(this.config.voters.length)) {
        this.out.events.push(`${this.id} steps down at term ${this.term}: no quorum heard`);
        this.becomeFollower(this.term, null);
        return;
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.learnerBeat++;
      const ctx = this.pendingReads.size > 0 ? this.readCtx : 0;
      for (const [id, p] of this.progress) {
        p.inflight = false;
        // Voters need heartbeats (elections, CheckQuorum, ReadIndex). Learners never campaign: they get
        // appends when there is something to append, and an empty one now and then — a quiet swarm
        // should not pay a call per learner per heartbeat.
        const voter = this.config.voters.includes(id);
        const behind = p.match < this.lastIndex() || p.sentCommit < this.commit;
        if (voter || behind || this.learnerBeat % LEARNER_BEAT_EVERY === 0) this.sendAppend(id, voter ? ctx : 0);
      }
    }
  }

  private appendLocal(e: Omit<Entry, "index" | "term">): Entry {
    const entry: Entry = { ...e, index: this.lastIndex() + 1, term: this.term };
    this.log.push(entry);
    this.queueAppend(entry.index, [entry], false);
    if (entry.kind === "config") {
      this.pendingConfigIndex = entry.index;
      this.applyConfig(entry.config!);
    }
    this.maybeCommit();
    return entry;
  }

  private broadcastAppend(ctx = 0): void {
    for (const id of this.progress.keys()) this.sendAppend(id, ctx);
  }

  private sendAppend(to: string, ctx = 0, force = false): void {
    const p = this.progress.get(to);
    if (!p) return;
    if (p.inflight && ctx === 0 && !force) return;
    if (p.next <= this.snap.index) {
      // The entries it needs were compacted: send the snapshot (§5.3). The shell attaches the data.
      p.inflight = true;
      this.send(to, { type: "snap", term: this.term, snapshot: { meta: this.snapshotMeta(), data: null } });
      return;
    }
    const prevIndex = p.next - 1;
    const entries = this.entriesFrom(p.next, this.maxBatch);
    p.inflight = entries.length > 0;
    p.sentCommit = this.commit;
    this.send(to, {
      type: "app", term: this.term, prevIndex, prevTerm: this.termAt(prevIndex) ?? 0, entries, commit: this.commit, ctx,
    });
  }

  private handleAppendResp(from: string, m: Extract<RaftMsg, { type: "app_resp" }>): void {
    const p = this.progress.get(from);
    if (!p) return;
    p.active = true;
    p.inflight = false;
    if (m.ctx > 0) this.ackRead(from, m.ctx);
    if (m.ok) {
      if (m.index > p.match) p.match = m.index;
      p.next = Math.max(p.next, m.index + 1);
      if (this.maybeCommit() && this.replicateLearners) this.broadcastAppend();
      else if (p.match < this.lastIndex()) this.sendAppend(from);
    } else {
      // Fast backtracking (§3.5): jump to just after the follower's hint, never below its match.
      p.next = Math.max(p.match + 1, Math.min(p.next - 1, m.hint + 1));
      this.sendAppend(from);
    }
  }

  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const v of this.config.voters) {
      if (v === this.id) matches.push(this.lastIndex());
      else matches.push(this.progress.get(v)?.match ?? 0);
    }
    matches.sort((a, b) => b - a);
    const n = matches[quorumOf(matches.length) - 1] ?? 0;
    // Only entries of the current term are committed by counting replicas (§3.6.2).
    if (n > this.commit && this.termAt(n) === this.term) {
      this.setCommit(n);
      if (this.waitingReads.length && this.committedInCurrentTerm()) {
        const waiting = this.waitingReads;
        this.waitingReads = [];
        for (const ctx of waiting) this.startRead(ctx);
      }
      return true;
    }
    return false;
  }

  private committedInCurrentTerm(): boolean {
    return this.termAt(this.commit) === this.term;
  }

  private startRead(ctx: number): void {
    this.pendingReads.set(ctx, { index: this.commit, acks: new Set([this.id]) });
    if (this.readQuorum(ctx)) return;
    // Batch reads that arrive together (etcd does the same): while a confirmation round is in flight,
    // a new read waits for the next round, which confirms every read that arrived meanwhile at once.
    // It cannot use the round in flight: that round was sent before the read arrived (§6.4 needs the
    // leadership confirmed after the read index was recorded).
    if (this.readRound > 0) {
      this.readQueued = true;
      return;
    }
    this.sendReadRound();
  }

  private sendReadRound(): void {
    this.readRound = Math.max(...this.pendingReads.keys());
    this.readQueued = false;
    for (const id of this.progress.keys()) this.sendAppend(id, this.readRound);
  }

  private ackRead(from: string, ctx: number): void {
    // A heartbeat answer with context c confirms every read with context ≤ c (they were sent earlier).
    for (const [c, r] of this.pendingReads) if (c <= ctx) r.acks.add(from);
    for (const c of Array.from(this.pendingReads.keys()).sort((a, b) => a - b)) this.readQuorum(c);
    if (this.readRound > 0 && !this.pendingReads.has(this.readRound)) {
      this.readRound = 0;
      if (this.readQueued && this.pendingReads.size > 0) this.sendReadRound();
    }
  }

  private readQuorum(ctx: number): boolean {
    const r = this.pendingReads.get(ctx);
    if (!r) return false;
    let acks = 0;
    for (const v of this.config.voters) if (r.acks.has(v)) acks++;
    if (acks >= quorumOf(this.config.voters.length)) {
      this.pendingReads.delete(ctx);
      this.out.reads.push({ ctx, index: r.index });
      return true;
    }
    return false;
  }

  private dropReads(): void {
    for (const ctx of this.pendingReads.keys()) this.out.droppedReads.push(ctx);
    for (const ctx of this.waitingReads) this.out.droppedReads.push(ctx);
    this.pendingReads.clear();
    this.waitingReads = [];
    this.readRound = 0;
    this.readQueued = false;
  }

  // ---- follower -----------------------------------------------------------------------------

  private handleAppend(from: string, m: Extract<RaftMsg, { type: "app" }>): void {
    if (m.prevIndex < this.commit) {
      // Everything up to our commit index is already settled; answer with it (etcd's shortcut).
      const skip = this.commit - m.prevIndex;
      if (skip >= m.entries.length) {
        this.send(from, { type: "app_resp", term: this.term, ok: true, index: this.commit, hint: 0, ctx: m.ctx });
        return;
      }
      m = { ...m, prevIndex: this.commit, prevTerm: this.termAt(this.commit)!, entries: m.entries.slice(skip) };
    }
    const localPrevTerm = this.termAt(m.prevIndex);
    if (localPrevTerm === null || localPrevTerm !== m.prevTerm) {
      // Log matching failed (§3.5). Hint: our last index, or the index before our entries of the
      // conflicting term, so the leader skips a whole term per round trip.
      let hint = Math.min(this.lastIndex(), m.prevIndex - 1);
      if (localPrevTerm !== null) {
        let i = m.prevIndex;
        while (i > this.commit && i > this.snap.index && this.termAt(i - 1) === localPrevTerm) i--;
        hint = Math.max(this.commit, i - 1);
      }
      this.send(from, { type: "app_resp", term: this.term, ok: false, index: m.prevIndex, hint, ctx: m.ctx });
      return;
    }
    let firstNew = -1;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i];
      const t = this.termAt(e.index);
      if (t === null || t !== e.term) {
        firstNew = i;
        break;
      }
    }
    if (firstNew >= 0) {
      const from0 = m.entries[firstNew].index;
      if (from0 <= this.commit) throw new Error(`raft: refusing to overwrite committed entry ${from0}`);
      const truncate = this.truncateFrom(from0);
      const added = m.entries.slice(firstNew).map(cloneEntry);
      this.log.push(...added);
      this.queueAppend(from0, added, truncate);
      // The configuration is the log's latest config entry: it changes only if one came or went.
      if (truncate || added.some((e) => e.kind === "config")) this.config = this.latestConfig();
    }
    const lastNew = m.prevIndex + m.entries.length;
    if (m.commit > this.commit) this.setCommit(Math.min(m.commit, lastNew));
    this.send(from, { type: "app_resp", term: this.term, ok: true, index: lastNew, hint: 0, ctx: m.ctx });
  }

  private handleSnapshot(from: string, m: Extract<RaftMsg, { type: "snap" }>): void {
    const s = m.snapshot;
    if (s.meta.index <= this.commit) {
      this.send(from, { type: "app_resp", term: this.term, ok: true, index: this.commit, hint: 0, ctx: 0 });
      return;
    }
    this.installSnapshot(s);
    this.send(from, { type: "app_resp", term: this.term, ok: true, index: this.lastIndex(), hint: 0, ctx: 0 });
  }

  private installSnapshot(s: Snapshot): void {
    if (this.termAt(s.meta.index) === s.meta.term) {
      // We already have the entries: just fast-forward the commit index.
      this.setCommit(s.meta.index);
    } else {
      this.log = [];
      this.snap = { ...s.meta, config: cloneConfig(s.meta.config) };
      this.commit = s.meta.index;
      this.applied = s.meta.index;
      this.hardDirty = true;
      this.out.snapshot = { meta: this.snapshotMeta(), data: s.data };
      this.out.restore = true;
      this.out.committed = [];
      this.out.append = { fromIndex: s.meta.index + 1, entries: [], truncate: true };
      this.out.compactTo = s.meta.index;
      this.config = this.latestConfig();
      this.out.events.push(`${this.id} installed snapshot at ${s.meta.index}`);
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  private setCommit(index: number): void {
    if (index <= this.commit) return;
    const prev = this.commit;
    this.commit = index;
    this.hardDirty = true;
    const from = Math.max(prev, this.applied) + 1;
    if (index >= from) this.out.committed.push(...this.entriesFrom(from, index - from + 1));
    // A leader that removed itself steps down once the change is committed (§4.2.2).
    if (this.role === "leader" && !this.isVoter()) {
      this.out.events.push(`${this.id} steps down: no longer a voter`);
      this.becomeFollower(this.term, null);
    }
  }

  private members(): string[] {
    return Array.from(new Set([...this.config.voters, ...this.config.learners]));
  }

  /** Whom the leader replicates to: every member, or only the voters when learners learn elsewhere. */
  private replicas(): string[] {
    return this.replicateLearners ? this.members() : this.config.voters.slice();
  }

  private latestConfig(): RaftConfig {
    for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i].kind === "config") return cloneConfig(this.log[i].config!);
    return cloneConfig(this.snap.config);
  }

  private lastConfigIndex(): number {
    for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i].kind === "config") return this.log[i].index;
    return this.snap.index;
  }

  private configAt(index: number): RaftConfig {
    for (let i = this.log.length - 1; i >= 0; i--) {
      const e = this.log[i];
      if (e.index <= index && e.kind === "config") return cloneConfig(e.config!);
    }
    return cloneConfig(this.snap.config);
  }

  private applyConfig(c: RaftConfig): void {
    this.config = cloneConfig(c);
    if (this.role !== "leader") return;
    const replicas = this.replicas();
    for (const id of replicas) {
      if (id !== this.id && !this.progress.has(id)) {
        this.progress.set(id, { match: 0, next: this.lastIndex(), inflight: false, active: true, sentCommit: 0 });
      }
    }
    for (const id of Array.from(this.progress.keys())) if (!replicas.includes(id)) this.progress.delete(id);
  }

  private queueAppend(fromIndex: number, entries: Entry[], truncate: boolean): void {
    const cur = this.out.append;
    if (cur && fromIndex === cur.fromIndex + cur.entries.length) {
      cur.entries.push(...entries.map(cloneEntry));
      cur.truncate ||= truncate;
    } else if (cur && fromIndex > cur.fromIndex) {
      cur.entries = cur.entries.filter((e) => e.index < fromIndex).concat(entries.map(cloneEntry));
      cur.truncate ||= truncate;
    } else this.out.append = { fromIndex, entries: entries.map(cloneEntry), truncate: truncate || (cur?.truncate ?? false) };
  }

  /** Drop the in-memory log from `index` (inclusive); true when there was something to drop. */
  private truncateFrom(index: number): boolean {
    const keep = Math.max(0, index - this.snap.index - 1);
    if (keep >= this.log.length) return false;
    this.log.length = keep;
    return true;
  }

  private randomizeElectionTimeout(): void {
    this.randomizedTimeout = this.electionTicks + this.rng.int(this.electionTicks);
  }

  private send(to: string, msg: RaftMsg): void {
    this.out.messages.push({ to, msg });
  }

  /** Collect what is pending (the first call after construction re-applies committed entries). */
  ready(): Ready {
    const r = this.out;
    if (this.hardDirty) {
      r.hardState = this.hardState();
      this.hardDirty = false;
    }
    this.out = emptyReady();
    return r;
  }
}

export function quorumOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

function emptyReady(): Ready {
  return {
    hardState: null, append: null, snapshot: null, restore: false, compactTo: null, messages: [], committed: [], reads: [],
    droppedReads: [], events: [],
  };
}

function cloneConfig(c: RaftConfig): RaftConfig {
  return { voters: c.voters.slice(), learners: c.learners.slice() };
}

function cloneEntry(e: Entry): Entry {
  const c: Entry = { ...e };
  if (e.config) c.config = cloneConfig(e.config);
  return c;
}

export function initialPersisted(config: RaftConfig): RaftPersisted {
  return { hard: { term: 0, vote: null, commit: 0 }, snapshot: { index: 0, term: 0, config }, entries: [] };
}
