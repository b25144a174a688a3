// The swarm's replicated log on each agent: a Raft node plus the memory store it drives.
// Voters are the first `consensus.voters` agents; every other agent follows the log as a learner.
// Membership feeds Raft: the leader adds new members as learners, and when the failure detector
// declares a voter dead it promotes a healthy learner and then removes the dead voter — one server at
// a time (Raft thesis §4.1), so every change is safe.
import { KvStore, type ApplyResult, type KvRecord, type MemCommand } from "./memory/kv";
import { Raft, type Entry, type HardState, type RaftConfig, type RaftMsg, type Ready, type SnapshotMeta } from "./raft/raft";
import type { Rng } from "./rng";

export type RaftOp =
  | { kind: "hard"; hard: HardState }
  | { kind: "append"; fromIndex: number; entries: Entry[] }
  | { kind: "compact"; to: number; meta: SnapshotMeta };

export interface LogEffects {
  raftOps: RaftOp[];
  raftSend: Array<{ to: string; msg: RaftMsg }>;
  kvUpserts: KvRecord[];
  kvRemovals: Array<[string, string]>;
  /** Replace the whole persisted store with these records (snapshot installed from the leader). */
  kvReset: KvRecord[] | null;
  /** Entries applied in this step (the shell answers writes waiting on them). */
  applied: Array<{ index: number; term: number; result: ApplyResult | null }>;
  reads: Array<{ ctx: number; index: number }>;
  droppedReads: number[];
  /** Log events (elections, reconfigurations). */
  logEvents: string[];
}

export interface ReplicatedPersisted {
  hard: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
  kv: KvRecord[];
  applied: number;
}

export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 2;

export class ReplicatedLog {
  readonly raft: Raft;
  readonly kv = new KvStore();
  private applied: number;
  private readonly targetVoters: number;

  constructor(
    private readonly self: string,
    persisted: ReplicatedPersisted,
    targetVoters: number,
    private readonly compactEvery: number,
    rng: Rng,
    private readonly fx: () => LogEffects,
  ) {
    this.targetVoters = targetVoters;
    this.kv.restore(persisted.kv);
    this.applied = persisted.applied;
    this.raft = new Raft(
      { id: self, electionTicks: ELECTION_TICKS, heartbeatTicks: HEARTBEAT_TICKS, rng },
      { hard: persisted.hard, snapshot: persisted.snapshot, entries: persisted.entries, applied: persisted.applied },
    );
    this.absorb(this.raft.ready());
  }

  static initial(config: RaftConfig): ReplicatedPersisted {
    return {
      hard: { term: 0, vote: null, commit: 0 },
      snapshot: { index: 0, term: 0, config },
      entries: [],
      kv: [],
      applied: 0,
    };
  }

  appliedIndex(): number {
    return this.applied;
  }

  leader(): string | null {
    return this.raft.leader;
  }

  isLeader(): boolean {
    return this.raft.role === "leader";
  }

  tick(): void {
    this.absorb(this.raft.tick());
  }

  step(from: string, msg: RaftMsg): void {
    this.absorb(this.raft.step(from, msg));
  }

  campaign(): void {
    this.absorb(this.raft.campaign());
  }

  /**
   * The failure detector declared `id` dead. If it led the log: forget it (its lease no longer blocks
   * pre-votes), and let the first live voter campaign at once instead of waiting out a timeout.
   */
  leaderDied(id: string, liveVoters: string[]): void {
    if (this.raft.leader !== id) return;
    this.raft.forgetLeader(id);
    const first = liveVoters.filter((v) => v !== id).sort()[0];
    if (first === this.self) this.campaign();
  }

  propose(cmd: MemCommand): { index: number; term: number } | null {
    const r = this.raft.propose(cmd);
    if (!r) return null;
    this.absorb(r.ready);
    return { index: r.index, term: r.term };
  }

  readIndex(): number | null {
    const r = this.raft.readIndex();
    if (!r) return null;
    this.absorb(r.ready);
    return r.ctx;
  }

  /**
   * Leader only: move the configuration one safe step towards "the first `targetVoters` healthy members
   * vote, every other live member learns". `alive` are members believed alive; `gone` dead or left.
   */
  reconfigure(alive: Set<string>, gone: Set<string>): string | null {
    if (!this.isLeader() || this.raft.configChangePending()) return null;
    const c = this.raft.configuration();
    const voters = c.voters;
    const learners = c.learners;
    const healthyLearner = learners.filter((l) => alive.has(l)).sort()[0];
    const deadVoter = voters.filter((v) => gone.has(v)).sort()[0];
    let next: RaftConfig | null = null;
    let why = "";
    if (deadVoter && healthyLearner && voters.length <= this.targetVoters) {
      next = { voters: [...voters, healthyLearner], learners: learners.filter((l) => l !== healthyLearner) };
      why = `promote ${healthyLearner} to replace dead voter ${deadVoter}`;
    } else if (deadVoter && deadVoter !== this.self) {
      next = { voters: voters.filter((v) => v !== deadVoter), learners };
      why = `remove dead voter ${deadVoter}`;
    } else if (voters.length < this.targetVoters && healthyLearner) {
      next = { voters: [...voters, healthyLearner], learners: learners.filter((l) => l !== healthyLearner) };
      why = `promote ${healthyLearner} (voters below ${this.targetVoters})`;
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
    if (!next) return null;
    const r = this.raft.proposeConfig(next);
    if (!r) return null;
    this.fx().logEvents.push(`raft config change: ${why}`);
    this.absorb(r.ready);
    return why;
  }

  /** Fill a snapshot message: compact to what we applied, and ship the store as of that index. */
  private fillSnapshot(msg: Extract<RaftMsg, { type: "snap" }>): RaftMsg {
    if (this.raft.snapshotMeta().index < this.applied) this.absorb(this.raft.compact(this.applied, null));
    return { ...msg, snapshot: { meta: this.raft.snapshotMeta(), data: this.kv.snapshot() } };
  }

  private absorb(r: Ready): void {
    const fx = this.fx();
    if (r.snapshot && r.restore) {
      this.kv.restore((r.snapshot.data as KvRecord[]) ?? []);
      fx.kvReset = this.kv.snapshot();
      fx.kvUpserts = [];
      fx.kvRemovals = [];
      this.applied = r.snapshot.meta.index;
      this.raft.advanceApplied(this.applied);
      fx.applied.push({ index: this.applied, term: r.snapshot.meta.term, result: null });
    }
    if (r.compactTo !== null && r.snapshot) fx.raftOps.push({ kind: "compact", to: r.compactTo, meta: r.snapshot.meta });
    if (r.append) fx.raftOps.push({ kind: "append", fromIndex: r.append.fromIndex, entries: r.append.entries });
    if (r.hardState) fx.raftOps.push({ kind: "hard", hard: r.hardState });
    for (const m of r.messages) fx.raftSend.push({ to: m.to, msg: m.msg.type === "snap" ? this.fillSnapshot(m.msg) : m.msg });
    for (const e of r.committed) {
      if (e.index <= this.applied) continue;
      let result: ApplyResult | null = null;
      if (e.kind === "cmd") {
        result = this.kv.apply(e.index, e.data as MemCommand);
        fx.kvUpserts.push(...result.upserts);
        fx.kvRemovals.push(...result.removals);
      }
      this.applied = e.index;
      this.raft.advanceApplied(e.index);
      fx.applied.push({ index: e.index, term: e.term, result });
    }
    fx.reads.push(...r.reads);
    fx.droppedReads.push(...r.droppedReads);
    fx.logEvents.push(...r.events);
    if (this.applied - this.raft.snapshotMeta().index >= this.compactEvery) {
      this.absorb(this.raft.compact(this.applied, null));
    }
  }
}
