// The agent core: everything one swarm agent decides, as a pure state machine.
// Inputs: a tick (`now`), a peer envelope, a command. Outputs: Effects — records to persist,
// envelopes to send, the next deadline. No clock, no randomness of its own, no I/O: the
// Durable Object shell and the simulator both drive this same code.
//
// Membership is SWIM (Das, Gupta, Motivala 2002) with Lifeguard's refinements (Dadgar et al. 2018),
// as in hashicorp/memberlist:
//  - each probe round an agent pings those of its 3–5 overlay peers it has not heard from lately
//    (a ping also tells the target its prober is alive, so each link is probed about once a round);
//  - a missed ack triggers indirect probes through k other members;
//  - a member that still does not answer becomes `suspect` at its incarnation; the suspect record
//    carries who failed to reach it, and every other monitor of that member probes it at once to
//    confirm or not (the seed's "failure confirmation protocol");
//  - the suspicion timeout shrinks as independent confirmations arrive (Lifeguard §4.2), and `dead`
//    is declared only when a quorum of the member's monitors confirmed it;
//  - a live member that hears it is suspected refutes with a higher incarnation (SWIM §4.2).
// Dissemination: new information is pushed at once to `fanout` random members (infect-and-forward),
// retransmitted a bounded number of times on later rounds and piggybacked on probes, and repaired by
// periodic push-pull anti-entropy. A quiet swarm stretches its round interval (bounded) to save cost.
import type { SwarmConfig } from "./config";
import { parseEnvelope, WIRE_VERSION, type Envelope, type Outgoing } from "./envelope";
import type { AgentId } from "./ids";
import {
  cloneMember,
  digestNewer,
  digestOf,
  isLive,
  mergeConfirmations,
  supersedes,
  type DigestEntry,
  type Member,
} from "./membership/member";
import { MessageLog, type InboxEntry, type Message, type StreamState } from "./messages/log";
import type { Rng } from "./rng";
import type { MemCommand } from "./memory/kv";
import { ReplicatedLog, type LogEffects, type ReplicatedPersisted } from "./replicated";
import { buildOverlay, type Graph } from "./topology/overlay";

/** What must survive a restart besides the membership table. */
export interface AgentMeta {
  swarm: string;
  self: AgentId;
  config: SwarmConfig;
  /** active: ticking; left: announced a graceful leave; shutdown: the swarm was shut down. */
  state: "active" | "left" | "shutdown";
  createdAt: number;
  /**
   * The agents created together with this one. Their initial records are implied by this list, so a
   * bulk-created swarm of n agents writes n² nothing: one meta row per agent, not n member rows.
   */
  roster?: string[];
}

export interface PersistedAgent {
  meta: AgentMeta;
  members: Member[];
  streams?: Array<[string, StreamState]>;
  messages?: Message[];
  /** The replicated log and memory store, when the swarm has one (consensus.voters > 0). */
  replicated?: ReplicatedPersisted | null;
}

export interface Effects {
  send: Envelope[];
  /** Non-null when the meta row changed. */
  meta: AgentMeta | null;
  /** Member rows to upsert (only persistent fields changed: inc, status, ver, caps, slots, by). */
  members: Member[];
  /** Earliest time the core wants `tick` called, or null for never. */
  nextDeadline: number | null;
  /** Human-readable notes on what happened (logs, recent-events feed). */
  events: string[];
  /** Messages to keep in the stream window (persisted for repairs and restarts). */
  logged: Message[];
  /** Messages delivered to this agent's inbox, in order. */
  inbox: InboxEntry[];
  /** Message-stream states that changed. */
  streams: Array<[string, StreamState]>;
  /** Replicated log and memory store: what to persist, what was applied, which reads are ready. */
  repl: LogEffects;
}

export interface Counters {
  envelopesIn: number;
  envelopesOut: number;
  invalidDropped: number;
  ticks: number;
  probeRounds: number;
  pings: number;
  indirectProbes: number;
  suspicionsRaised: number;
  refutations: number;
  deathsDeclared: number;
  membershipChanges: number;
  messagesForwarded: number;
  lateTicks: number;
}

/** Tunables that are not part of the swarm config (memberlist's defaults where they apply). */
export const TUNING = {
  /** How many updates ride on one gossip envelope. */
  maxUpdatesPerMessage: 64,
  /** How many updates ride piggyback on a ping or ack. */
  maxPiggyback: 8,
  /** memberlist's RetransmitMult: each update is sent about λ·log10(n+1) times. */
  retransmitMult: 4,
  /** One push-pull anti-entropy exchange every this many gossip intervals (about). */
  syncEveryRounds: 10,
  /** How many seeds a newcomer asks at once. */
  joinSeeds: 3,
  /** SWIM's k: members asked to probe indirectly. */
  indirectProbes: 3,
  /** Expected independent confirmations (Lifeguard's K). */
  expectedConfirmations: 3,
  /** Suspicion timeout bounds as fractions of failure.timeoutMs (Lifeguard's min/max). */
  suspicionMinRatio: 0.7,
  /** Quiet probe rounds before the interval stretches one step (×1.5), and the largest stretch. */
  quietRoundsPerStep: 5,
  maxStretch: 3,
} as const;

export interface CreateOptions {
  swarm: string;
  self: AgentId;
  config: SwarmConfig;
  caps?: string[];
  slots?: number;
  /** Agents created together: known members from the start (no join round needed). */
  roster?: string[];
  /** Agents to join through: they answer with their membership table. */
  seeds?: string[];
  now: number;
  rng: Rng;
}

export interface RestoreOptions {
  /** After a crash: come back at a higher incarnation so that anyone who buried us takes us back. */
  bumpIncarnation?: boolean;
}

interface Probe {
  target: string;
  stage: "direct" | "indirect";
  deadline: number;
  /** A last-chance probe before declaring the target dead: failing it is the verdict. */
  final?: boolean;
}

interface Relay {
  requester: string;
  seq: number;
  deadline: number;
}

export class AgentCore {
  readonly meta: AgentMeta;
  private readonly members = new Map<string, Member>();
  private readonly rumors = new Map<string, { m: Member; sent: number }>();
  private readonly lastHeard = new Map<string, number>();
  private readonly probes = new Map<number, Probe>();
  private readonly probing = new Map<string, number>();
  private readonly relays = new Map<number, Relay>();
  private readonly suspicionStart = new Map<string, number>();
  private readonly suspicionCheckAt = new Map<string, number>();
  private readonly eager = new Map<string, Member>();
  private readonly rng: Rng;
  private seq: number;
  private now = 0;
  private nextProbeAt: number;
  private nextGossipAt: number;
  private nextSyncAt: number;
  private quietRounds = 0;
  /** The deadline we last asked the shell to wake us at (to notice late wake-ups). */
  private armedAt: number | null = null;
  private changedThisRound = false;
  private overlayCache: Graph | null = null;
  private liveCache: string[] | null = null;
  private othersCache: string[] | null = null;
  readonly counters: Counters = {
    envelopesIn: 0, envelopesOut: 0, invalidDropped: 0, ticks: 0, probeRounds: 0, pings: 0, indirectProbes: 0,
    suspicionsRaised: 0, refutations: 0, deathsDeclared: 0, membershipChanges: 0, messagesForwarded: 0, lateTicks: 0,
  };
  private readonly log: MessageLog;
  private repl: ReplicatedLog | null = null;
  private raftEpoch = 0;
  private raftTicksDone = 0;
  /** Log index of the expiry sweep this leader proposed (0: none pending). */
  private expireIndex = 0;
  private out: Effects;

  private constructor(meta: AgentMeta, rng: Rng, now: number) {
    this.meta = meta;
    this.rng = rng;
    this.now = now;
    this.log = new MessageLog(meta.self);
    this.seq = rng.int(1 << 30);
    // A random phase spreads the swarm's rounds over the interval instead of firing all at once.
    const phase = Math.max(1, Math.floor(rng.next() * meta.config.failure.heartbeatMs));
    this.nextProbeAt = now + phase;
    this.nextGossipAt = now + phase;
    this.nextSyncAt = now + phase + Math.floor(rng.next() * TUNING.syncEveryRounds * meta.config.gossip.intervalMs);
    this.out = emptyEffects();
  }

  static create(o: CreateOptions): { core: AgentCore; effects: Effects } {
    const meta: AgentMeta = { swarm: o.swarm, self: o.self, config: o.config, state: "active", createdAt: o.now };
    if (o.roster?.length) meta.roster = o.roster.slice();
    const core = new AgentCore(meta, o.rng, o.now);
    // Agents created together know each other's initial record (version 1, no capabilities, one slot)
    // without a word exchanged. An agent whose own record differs starts at version 2 and spreads it.
    const plain = (o.caps ?? []).length === 0 && (o.slots ?? 1) === 1;
    const me: Member = {
      id: o.self, inc: 0, status: "alive", ver: plain ? 1 : 2, caps: o.caps ?? [], slots: o.slots ?? 1, load: 0,
    };
    core.members.set(me.id, me);
    core.out.meta = { ...meta };
    core.out.members.push(cloneMember(me));
    for (const id of o.roster ?? []) {
      if (id === o.self || core.members.has(id)) continue;
      core.members.set(id, rosterRecord(id));
    }
    if (!o.roster?.length || !plain) {
      core.enqueueRumor(me);
      core.eager.set(me.id, me);
    }
    const voters = o.config.consensus.voters;
    if (voters > 0) {
      // Agents created together agree on the first voters; a joiner starts empty and is added by the leader.
      const roster = o.roster && o.roster.length ? o.roster : [];
      const config = roster.length ? { voters: roster.slice(0, voters), learners: roster.slice(voters) } : { voters: [], learners: [] };
      core.startReplicated(ReplicatedLog.initial(config), o.now);
      // Persist the initial configuration, so a restart knows who votes.
      core.out.repl.raftOps.push({ kind: "compact", to: 0, meta: core.repl!.raft.snapshotMeta() });
    }
    core.join(o.seeds ?? []);
    core.out.events.push(`created ${o.self} (${core.members.size} known members)`);
    return { core, effects: core.flush() };
  }

  /**
   * Rebuild from storage after an eviction or a crash: memory (rumours, last-heard times, timers) is
   * lost, storage is kept. The agent pulls fresh state from its previous peers (a join round); after
   * a crash it also comes back at a higher incarnation.
   */
  static restore(p: PersistedAgent, now: number, rng: Rng, opts: RestoreOptions = {}): { core: AgentCore; effects: Effects } {
    const core = new AgentCore({ ...p.meta }, rng, now);
    // Roster members are implied by the meta row; stored rows (anything that changed) override them.
    for (const id of p.meta.roster ?? []) core.members.set(id, rosterRecord(id));
    core.log.restore(p.streams ?? [], p.messages ?? []);
    if (p.replicated && p.meta.config.consensus.voters > 0) core.startReplicated(p.replicated, now);
    for (const m of p.members) {
      core.members.set(m.id, cloneMember(m));
      if (m.status === "suspect") core.suspicionStart.set(m.id, now);
    }
    const me = core.members.get(p.meta.self);
    if (!me) throw new Error("persisted state lacks the agent's own record");
    if (core.meta.state === "active") {
      if (opts.bumpIncarnation || me.status !== "alive") {
        const next: Member = { ...me, inc: me.inc + 1, ver: me.ver + 1, status: "alive" };
        delete next.by;
        core.members.set(me.id, next);
        core.out.members.push(cloneMember(next));
        core.enqueueRumor(next);
        core.eager.set(next.id, next);
        core.out.events.push(`restarted ${p.meta.self} at incarnation ${next.inc}; rejoining`);
      } else {
        core.out.events.push(`restored ${p.meta.self} from storage; rejoining`);
      }
      core.join(core.peers());
    }
    return { core, effects: core.flush() };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** Called when the alarm fires. Idempotent: only what is due runs; an early call does nothing. */
  tick(now: number): Effects {
    this.now = now;
    if (this.meta.state !== "active") return this.flush();
    this.counters.ticks++;
    this.tickReplicated(now);
    // A tick that fires well after the deadline we asked for means this agent was not running (a pause,
    // an overloaded isolate, a late alarm). Input that arrived meanwhile may still be queued behind this
    // tick — refutations among it — so catch up before judging anyone (Lifeguard's point: a slow member
    // must not accuse the healthy ones). Failure verdicts wait one probe timeout.
    if (this.armedAt !== null && now - this.armedAt > this.meta.config.failure.heartbeatMs / 2) {
      this.counters.lateTicks++;
      const grace = now + this.probeTimeoutMs;
      for (const p of this.probes.values()) p.deadline = Math.max(p.deadline, grace);
      for (const [id, t] of this.suspicionCheckAt) this.suspicionCheckAt.set(id, Math.max(t, grace));
    }
    this.expireProbes(now);
    this.expireRelays(now);
    this.checkSuspicions(now);
    if (now >= this.nextProbeAt) this.probeRound(now);
    if (now >= this.nextGossipAt) this.gossipRound(now);
    if (now >= this.nextSyncAt) this.syncRound(now);
    return this.flush();
  }

  /** A peer envelope arrived (unvalidated input from the network). */
  receive(raw: unknown, now: number): Effects {
    this.now = now;
    const env = parseEnvelope(raw);
    if (typeof env === "string") {
      this.counters.invalidDropped++;
      this.out.events.push(`dropped invalid envelope: ${env}`);
      return this.flush();
    }
    if (env.swarm !== this.meta.swarm || env.to !== this.meta.self) {
      this.counters.invalidDropped++;
      return this.flush();
    }
    if (this.meta.state === "shutdown") return this.flush();
    this.counters.envelopesIn++;
    this.lastHeard.set(env.from, now);
    this.step(env);
    return this.flush();
  }

  /** Graceful leave: announce `left` to a spread of members, then stop ticking. */
  leave(): Effects {
    if (this.meta.state !== "active") return this.flush();
    const me = this.self();
    const next: Member = { ...me, status: "left", ver: me.ver + 1 };
    this.members.set(me.id, next);
    this.invalidate();
    this.out.members.push(cloneMember(next));
    this.meta.state = "left";
    this.out.meta = { ...this.meta };
    for (const to of this.randomMembers(2 * this.meta.config.gossip.fanout)) {
      this.send({ type: "gossip", to: to as AgentId, updates: [cloneMember(next)] });
    }
    this.out.events.push(`${me.id} left the swarm`);
    return this.flush();
  }

  /** The swarm is shutting down (`network_shutdown`): stop everything, answer nothing. */
  shutdown(): Effects {
    if (this.meta.state === "shutdown") return this.flush();
    this.meta.state = "shutdown";
    this.out.meta = { ...this.meta };
    this.out.events.push(`${this.meta.self} shut down`);
    return this.flush();
  }

  /**
   * Anti-entropy pushed from outside (topology repair): merge a membership table and ask a spread of
   * members for theirs, so views converge now instead of at the next sync.
   */
  resync(records: Member[], now: number): Effects {
    this.now = now;
    for (const m of records) this.merge(m, null);
    for (const to of this.randomMembers(this.meta.config.gossip.fanout)) {
      this.send({ type: "sync", to: to as AgentId, digest: this.digest(), heads: this.log.heads() });
    }
    return this.flush();
  }

  /** Probe one member now, out of turn (fault-tolerance `heartbeat_monitor` / `failover_recovery`). */
  probeNow(target: string, now: number): Effects {
    this.now = now;
    if (this.meta.state === "active" && target !== this.meta.self && this.members.has(target)) this.ping(target, now);
    return this.flush();
  }

  /**
   * A message enters the mesh here (this agent is its origin): number it in the sender's stream,
   * persist it (the caller acknowledges only after the effects are stored), and flood it to the peers.
   */
  post(from: string, to: string, body: Record<string, unknown>, now: number): { message: Message; effects: Effects } {
    this.now = now;
    const message = this.log.originate(from, to, body, now, this.out);
    this.flood([message], null);
    return { message, effects: this.flush() };
  }

  // ---- queries ------------------------------------------------------------------------------

  self(): Member {
    return this.members.get(this.meta.self)!;
  }

  membership(): Member[] {
    return Array.from(this.members.values(), cloneMember).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: string): Member | undefined {
    return this.members.get(id);
  }

  lastHeardAt(id: string): number | undefined {
    return this.lastHeard.get(id);
  }

  /** Suspicion detail for one member, as this agent sees it. */
  suspicion(id: string): { since: number; deadline: number; confirmations: string[]; quorum: number } | null {
    const m = this.members.get(id);
    if (!m || m.status !== "suspect") return null;
    const since = this.suspicionStart.get(id) ?? this.now;
    const monitors = this.monitorsOf(id);
    return {
      since,
      deadline: since + this.suspicionTimeout(m),
      confirmations: (m.by ?? []).slice(),
      quorum: Math.floor(monitors.length / 2) + 1,
    };
  }

  /**
   * Read-write while this agent reaches a majority of the members it knows (the seed's
   * PartitionHandler: fewer than half reachable → read-only). `left` members do not count.
   */
  mode(): "read-write" | "read-only" {
    let counted = 0;
    for (const m of this.members.values()) if (m.status !== "left") counted++;
    return this.liveIds().length * 2 > counted ? "read-write" : "read-only";
  }

  /** Live member ids (alive or suspect), self included, sorted. */
  liveIds(): string[] {
    if (!this.liveCache) {
      this.liveCache = [];
      for (const m of this.members.values()) if (isLive(m)) this.liveCache.push(m.id);
      this.liveCache.sort();
    }
    return this.liveCache;
  }

  /** This agent's 3–5 connections: its neighbourhood in the overlay of the live members it knows. */
  peers(): string[] {
    if (this.meta.state !== "active") return [];
    return this.monitorsOf(this.meta.self);
  }

  /** The current round interval multiplier (1 = configured cadence; grows while the swarm is quiet). */
  stretch(): number {
    return Math.min(TUNING.maxStretch, 1 + 0.5 * Math.floor(this.quietRounds / TUNING.quietRoundsPerStep));
  }

  nextDeadline(): number | null {
    if (this.meta.state !== "active") return null;
    let d = Math.min(this.nextProbeAt, this.nextSyncAt);
    if (this.rumors.size > 0) d = Math.min(d, this.nextGossipAt);
    for (const p of this.probes.values()) d = Math.min(d, p.deadline);
    for (const r of this.relays.values()) d = Math.min(d, r.deadline);
    for (const t of this.suspicionCheckAt.values()) d = Math.min(d, t);
    if (this.repl) {
      const ticks = this.repl.raft.ticksUntilAction();
      if (ticks !== null) d = Math.min(d, this.raftEpoch + (this.raftTicksDone + ticks) * this.raftTickMs);
      if (this.repl.isLeader() && !this.expirePending()) {
        const exp = this.repl.kv.nextExpiry();
        if (exp !== null) d = Math.min(d, Math.max(exp, this.now + 1));
      }
    }
    return d;
  }

  // ---- replicated log and memory store ---------------------------------------------------------

  private get raftTickMs(): number {
    return Math.max(10, Math.floor(this.meta.config.failure.heartbeatMs / 2));
  }

  private startReplicated(p: ReplicatedPersisted, now: number): void {
    this.raftEpoch = now;
    this.raftTicksDone = 0;
    const c = this.meta.config.consensus;
    this.repl = new ReplicatedLog(this.meta.self, p, c.voters, c.snapshotEvery ?? 500, this.rng.fork(), () => this.out.repl);
  }

  private tickReplicated(now: number): void {
    const repl = this.repl;
    if (!repl) return;
    const due = Math.floor((now - this.raftEpoch) / this.raftTickMs) - this.raftTicksDone;
    // After a long sleep, do not replay hundreds of ticks: a few are enough to fire any timer.
    const run = Math.min(due, 3 * 10);
    for (let i = 0; i < run; i++) repl.tick();
    if (due > 0) this.raftTicksDone += due;
    if (repl.isLeader()) {
      const alive = new Set<string>();
      const gone = new Set<string>();
      for (const m of this.members.values()) {
        if (m.status === "alive") alive.add(m.id);
        else if (m.status === "dead" || m.status === "left") gone.add(m.id);
      }
      repl.reconfigure(alive, gone);
      // One expiry sweep in the log at a time: until it is applied, another would only grow the log.
      const exp = repl.kv.nextExpiry();
      if (exp !== null && exp <= now && !this.expirePending()) {
        const p = repl.propose({ op: "expire", at: now });
        if (p) this.expireIndex = p.index;
      }
    }
  }

  private expirePending(): boolean {
    return this.expireIndex > 0 && (this.repl?.appliedIndex() ?? 0) < this.expireIndex && this.repl?.isLeader() === true;
  }

  /** The replicated log's leader as this agent knows it (null: none known, or no log). */
  raftLeader(): string | null {
    return this.repl?.leader() ?? null;
  }

  raftStatus(): { role: string; term: number; leader: string | null; commitIndex: number; appliedIndex: number; voters: string[]; learners: string[] } | null {
    if (!this.repl) return null;
    const r = this.repl.raft;
    const c = r.configuration();
    return {
      role: r.role, term: r.term, leader: r.leader, commitIndex: r.commit, appliedIndex: this.repl.appliedIndex(),
      voters: c.voters, learners: c.learners,
    };
  }

  /** Propose a memory command; null when this agent is not the leader (forward to raftLeader()). */
  memPropose(cmd: MemCommand, now: number): { index: number; term: number; effects: Effects } | null {
    this.now = now;
    if (!this.repl) return null;
    const r = this.repl.propose(cmd);
    if (!r) return null;
    return { ...r, effects: this.flush() };
  }

  /** Start a linearizable read (ReadIndex); null when not the leader. */
  memReadIndex(now: number): { ctx: number; effects: Effects } | null {
    this.now = now;
    if (!this.repl) return null;
    const ctx = this.repl.readIndex();
    if (ctx === null) return null;
    return { ctx, effects: this.flush() };
  }

  memApplied(): number {
    return this.repl?.appliedIndex() ?? 0;
  }

  memStore() {
    return this.repl?.kv ?? null;
  }

  // ---- rounds -------------------------------------------------------------------------------

  private get probeTimeoutMs(): number {
    return Math.max(2, Math.min(500, Math.floor(this.meta.config.failure.heartbeatMs / 5)));
  }

  private probeRound(now: number): void {
    this.counters.probeRounds++;
    if (this.changedThisRound) this.quietRounds = 0;
    else this.quietRounds++;
    this.changedThisRound = false;
    const period = this.meta.config.failure.heartbeatMs * this.stretch();
    this.nextProbeAt = now + period;
    for (const p of this.peers()) {
      if (this.probing.has(p)) continue;
      // Heard from it within this round (it pinged us, or answered): the link is known good.
      const heard = this.lastHeard.get(p);
      if (heard !== undefined && heard > now - period) continue;
      this.ping(p, now);
    }
  }

  /**
   * Push-pull anti-entropy on its own cadence: every `syncEveryRounds` gossip intervals (stretched when
   * quiet), with one random member — and, now and then, with one we believe dead (Serf's reconnect):
   * after a partition heals, two sides that buried each other learn it, and the buried refute.
   */
  private syncRound(now: number): void {
    const every = TUNING.syncEveryRounds * this.meta.config.gossip.intervalMs * this.stretch();
    // Jittered, so the swarm's exchanges do not line up.
    this.nextSyncAt = now + Math.floor(every * (0.5 + this.rng.next()));
    const [to] = this.randomMembers(1);
    if (to) this.send({ type: "sync", to: to as AgentId, digest: this.digest(), heads: this.log.heads() });
    const dead: string[] = [];
    for (const m of this.members.values()) if (m.status === "dead") dead.push(m.id);
    if (dead.length && this.rng.chance(0.5)) {
      const d = dead[this.rng.int(dead.length)];
      this.send({ type: "sync", to: d as AgentId, digest: this.digest(), heads: this.log.heads() });
    }
  }

  private gossipRound(now: number): void {
    this.nextGossipAt = now + this.meta.config.gossip.intervalMs * this.stretch();
    if (this.rumors.size === 0) return;
    for (const to of this.randomMembers(this.meta.config.gossip.fanout)) {
      const updates = this.takeRumors(TUNING.maxUpdatesPerMessage);
      if (updates.length === 0) break;
      this.send({ type: "gossip", to: to as AgentId, updates });
    }
  }

  private ping(target: string, now: number, final = false): void {
    const seq = ++this.seq;
    this.probes.set(seq, { target, stage: "direct", deadline: now + this.probeTimeoutMs, final });
    this.probing.set(target, seq);
    this.counters.pings++;
    this.send({ type: "ping", to: target as AgentId, seq, updates: this.piggyback(target) });
  }

  private expireProbes(now: number): void {
    for (const [seq, p] of this.probes) {
      if (p.deadline > now) continue;
      const m = this.members.get(p.target);
      if (!m || !isLive(m)) {
        this.endProbe(seq, p.target);
        continue;
      }
      if (p.stage === "direct") {
        // SWIM §3.1: ask k others to probe it for us; a lossy link is not a dead member.
        const helpers = this.randomMembers(TUNING.indirectProbes, p.target);
        if (helpers.length > 0) {
          p.stage = "indirect";
          p.deadline = now + 2 * this.probeTimeoutMs;
          this.counters.indirectProbes++;
          for (const h of helpers) this.send({ type: "ping_req", to: h as AgentId, seq, target: p.target as AgentId });
          continue;
        }
      }
      this.endProbe(seq, p.target);
      if (p.final) this.declareDead(p.target, now);
      else this.suspect(p.target, now);
    }
  }

  private endProbe(seq: number, target: string): void {
    this.probes.delete(seq);
    if (this.probing.get(target) === seq) this.probing.delete(target);
  }

  private expireRelays(now: number): void {
    for (const [seq, r] of this.relays) if (r.deadline <= now) this.relays.delete(seq);
  }

  /** Lifeguard §4.2: timeout = max(min, max − (max − min)·log(C+1)/log(K+1)), C = confirmations beyond the first. */
  private suspicionTimeout(m: Member): number {
    const max = this.meta.config.failure.timeoutMs;
    const min = Math.floor(max * TUNING.suspicionMinRatio);
    const c = Math.max(0, (m.by?.length ?? 1) - 1);
    const k = TUNING.expectedConfirmations;
    const t = max - ((max - min) * Math.log(c + 1)) / Math.log(k + 1);
    return Math.max(min, Math.floor(t));
  }

  /** The agents that monitor `id`: its neighbours in the overlay of the live members. */
  private monitorsOf(id: string): string[] {
    if (!this.overlayCache) this.overlayCache = buildOverlay(this.liveIds());
    return Array.from(this.overlayCache.get(id) ?? []).sort();
  }

  private suspect(target: string, now: number): void {
    const m = this.members.get(target);
    if (!m || m.status !== "alive" && m.status !== "suspect") return;
    const by = new Set(m.by && m.status === "suspect" ? m.by : []);
    if (m.status === "suspect" && by.has(this.meta.self)) return;
    by.add(this.meta.self);
    const next: Member = { ...cloneMember(m), status: "suspect", by: Array.from(by).sort() };
    if (m.status === "alive") {
      this.counters.suspicionsRaised++;
      this.out.events.push(`suspect ${target} (no ack at incarnation ${m.inc})`);
    }
    this.accept(next, m, now);
  }

  /**
   * A suspicion's timer ran out. Only the suspect's monitors — the agents that tried to reach it — may
   * bury it, once a quorum of them confirmed, and only after one last probe of their own fails: a
   * refutation that has not reached us yet cannot turn into a false death (its ack would). Other
   * holders wait for the verdict by gossip; after three timeouts they judge by the confirmations alone
   * (a safety net for when every monitor is gone).
   */
  private checkSuspicions(now: number): void {
    for (const [id, at] of this.suspicionCheckAt) {
      if (at > now) continue;
      const m = this.members.get(id);
      if (!m || m.status !== "suspect") {
        this.suspicionCheckAt.delete(id);
        continue;
      }
      const monitors = this.monitorsOf(id);
      const quorum = Math.floor(monitors.length / 2) + 1;
      const confirmations = (m.by ?? []).filter((b) => monitors.includes(b)).length;
      const since = this.suspicionStart.get(id) ?? now;
      const lastResort = now - since >= 3 * this.meta.config.failure.timeoutMs;
      if (confirmations >= quorum && lastResort) {
        this.declareDead(id, now);
      } else if (confirmations >= quorum && monitors.includes(this.meta.self)) {
        if (!this.probing.has(id)) this.ping(id, now, true);
        this.suspicionCheckAt.set(id, now + 4 * this.probeTimeoutMs);
      } else {
        // No quorum yet (the monitors are still probing), or not ours to judge. Look again later.
        this.suspicionCheckAt.set(id, now + this.meta.config.failure.heartbeatMs);
      }
    }
  }

  private declareDead(id: string, now: number): void {
    const m = this.members.get(id);
    if (!m || m.status !== "suspect") return;
    const monitors = this.monitorsOf(id);
    const quorum = Math.floor(monitors.length / 2) + 1;
    const confirmations = (m.by ?? []).filter((b) => monitors.includes(b)).length;
    if (confirmations < quorum) return;
    this.counters.deathsDeclared++;
    this.out.events.push(`dead ${id}: ${confirmations}/${monitors.length} monitors confirmed, last probe failed`);
    this.suspicionCheckAt.delete(id);
    this.accept({ ...cloneMember(m), status: "dead" }, m, now);
  }

  // ---- protocol -----------------------------------------------------------------------------

  private step(env: Envelope): void {
    switch (env.type) {
      case "join": {
        this.merge(env.member, env.from);
        this.send({ type: "join_ack", to: env.from, members: this.membership() });
        return;
      }
      case "join_ack":
      case "gossip":
      case "sync_push": {
        const list = env.type === "join_ack" ? env.members : env.type === "gossip" ? env.updates : env.records;
        for (const m of list) this.merge(m, env.from);
        if (env.type === "sync_push" && env.messages?.length) this.ingestMessages(env.messages, env.from);
        return;
      }
      case "sync": {
        const theirs = new Map<string, DigestEntry>();
        for (const d of env.digest) theirs.set(d[0], d);
        const records: Member[] = [];
        for (const m of this.members.values()) {
          const d = theirs.get(m.id);
          if (!d || digestNewer(digestOf(m), asMember(d, m))) records.push(cloneMember(m));
        }
        const want: string[] = [];
        for (const d of env.digest) if (digestNewer(d, this.members.get(d[0]))) want.push(d[0]);
        const messages = env.heads ? this.log.missingFor(env.heads) : [];
        const ahead = env.heads ? this.log.behind(env.heads) : false;
        if (records.length > 0 || want.length > 0 || messages.length > 0 || ahead) {
          this.send({
            type: "sync_ack", to: env.from, records, want, messages,
            ...(ahead ? { heads: this.log.heads() } : {}),
          });
        }
        return;
      }
      case "sync_ack": {
        for (const m of env.records) this.merge(m, env.from);
        if (env.messages?.length) this.ingestMessages(env.messages, env.from);
        const records: Member[] = [];
        for (const id of env.want) {
          const m = this.members.get(id);
          if (m) records.push(cloneMember(m));
        }
        const messages = env.heads ? this.log.missingFor(env.heads) : [];
        if (records.length > 0 || messages.length > 0) this.send({ type: "sync_push", to: env.from, records, messages });
        return;
      }
      case "msg": {
        this.ingestMessages(env.messages, env.from);
        return;
      }
      case "raft": {
        this.repl?.step(env.from, env.msg);
        return;
      }
      case "ping": {
        for (const m of env.updates) this.merge(m, env.from);
        this.send({ type: "ack", to: env.from, seq: env.seq, updates: this.piggyback(env.from) });
        return;
      }
      case "ack": {
        for (const m of env.updates) this.merge(m, env.from);
        const p = this.probes.get(env.seq);
        if (p) {
          this.endProbe(env.seq, p.target);
          this.lastHeard.set(p.target, this.now);
          return;
        }
        const r = this.relays.get(env.seq);
        if (r) {
          this.relays.delete(env.seq);
          this.send({ type: "ack", to: r.requester as AgentId, seq: r.seq, updates: [] });
        }
        return;
      }
      case "ping_req": {
        const seq = ++this.seq;
        this.relays.set(seq, { requester: env.from, seq: env.seq, deadline: this.now + 2 * this.probeTimeoutMs });
        this.send({ type: "ping", to: env.target, seq, updates: this.piggyback(env.target) });
        return;
      }
      default: {
        const never: never = env;
        throw new Error(`unhandled envelope ${(never as Envelope).type}`);
      }
    }
  }

  /** Merge one record learned from a peer. */
  private merge(m: Member, from: string | null): void {
    if (m.id === this.meta.self) {
      const me = this.self();
      // Someone believes we are suspect or dead at our current incarnation: refute (SWIM §4.2).
      if ((m.status === "suspect" || m.status === "dead") && m.inc >= me.inc && this.meta.state === "active") {
        const next: Member = { ...cloneMember(me), inc: m.inc + 1, ver: me.ver + 1, status: "alive" };
        delete next.by;
        this.counters.refutations++;
        this.out.events.push(`refuted ${m.status} at incarnation ${m.inc}`);
        this.accept(next, me, this.now);
      }
      return;
    }
    const cur = this.members.get(m.id);
    if (!supersedes(m, cur)) {
      if (!cur) return;
      const by = mergeConfirmations(cur, m);
      if (by) {
        this.accept({ ...cloneMember(cur), by }, cur, this.now);
        return;
      }
      // Same record, fresher soft state (load): keep it in memory only.
      if (cur.inc === m.inc && cur.status === m.status && cur.ver === m.ver) cur.load = m.load;
      return;
    }
    const next = cloneMember(m);
    if (next.status === "alive" || next.status === "left") delete next.by;
    if (!cur) this.out.events.push(`learned of ${m.id}${from ? ` from ${from}` : ""}`);
    else if (cur.status !== next.status || cur.inc !== next.inc) {
      this.out.events.push(`${m.id}: ${cur.status}@${cur.inc} -> ${next.status}@${next.inc}`);
    }
    this.accept(next, cur, this.now);
  }

  /** Install a changed record: persist it, spread it, and react (confirm a suspicion we can check). */
  private accept(next: Member, cur: Member | undefined, now: number): void {
    this.members.set(next.id, next);
    if (!cur || isLive(cur) !== isLive(next)) this.invalidate();
    this.out.members.push(cloneMember(next));
    this.enqueueRumor(next);
    this.eager.set(next.id, next);
    this.changedThisRound = true;
    this.quietRounds = 0;
    this.counters.membershipChanges++;
    if (next.id === this.meta.self) return;
    if ((next.status === "dead" || next.status === "left") && this.repl && this.repl.leader() === next.id) {
      // The failure detector (quorum-confirmed) buried the leader: elect now, not after a timeout.
      const voters = this.repl.raft.configuration().voters.filter((v) => {
        const m = this.members.get(v);
        return m !== undefined && m.status === "alive";
      });
      this.repl.leaderDied(next.id, voters);
    }
    if (next.status === "suspect") {
      if (!this.suspicionStart.has(next.id) || cur?.status !== "suspect" || cur.inc !== next.inc) {
        this.suspicionStart.set(next.id, now);
      }
      // A monitor starts its last-chance probe early enough for the verdict to land at the timeout.
      const lead = this.monitorsOf(next.id).includes(this.meta.self) ? 3 * this.probeTimeoutMs : 0;
      const deadline = this.suspicionStart.get(next.id)! + this.suspicionTimeout(next) - lead;
      this.suspicionCheckAt.set(next.id, deadline);
      // A monitor that has not confirmed yet checks for itself, now (the confirmation protocol).
      if (!(next.by ?? []).includes(this.meta.self) && this.monitorsOf(next.id).includes(this.meta.self)) {
        if (!this.probing.has(next.id)) this.ping(next.id, now);
      }
    } else {
      this.suspicionStart.delete(next.id);
      this.suspicionCheckAt.delete(next.id);
    }
  }

  /** New messages are stored, delivered in order, and flooded on to our peers (except the sender). */
  private ingestMessages(list: Message[], from: string | null): void {
    const fresh: Message[] = [];
    for (const m of list) if (this.log.ingest(m, this.now, this.out)) fresh.push(m);
    if (fresh.length > 0) this.flood(fresh, from);
  }

  private flood(messages: Message[], except: string | null): void {
    if (this.meta.state !== "active") return;
    for (const p of this.peers()) {
      if (p === except) continue;
      this.counters.messagesForwarded += messages.length;
      this.send({ type: "msg", to: p as AgentId, messages });
    }
  }

  private join(seeds: readonly string[]): void {
    const me = this.self();
    const candidates = seeds.filter((s) => s !== this.meta.self);
    for (const to of this.rng.sample(candidates, TUNING.joinSeeds)) {
      this.send({ type: "join", to: to as AgentId, member: cloneMember(me) });
    }
  }

  private enqueueRumor(m: Member): void {
    this.rumors.set(m.id, { m: cloneMember(m), sent: 0 });
  }

  private retransmitLimit(): number {
    return TUNING.retransmitMult * Math.ceil(Math.log10(this.members.size + 1));
  }

  /** The least-sent rumours, each counted as one more transmission; exhausted ones retire. */
  private takeRumors(max: number, exclude?: string): Member[] {
    if (this.rumors.size === 0) return [];
    const all = Array.from(this.rumors.values()).filter((r) => r.m.id !== exclude);
    all.sort((a, b) => a.sent - b.sent);
    const chosen = all.slice(0, max);
    const limit = this.retransmitLimit();
    for (const r of chosen) {
      r.sent++;
      if (r.sent >= limit) this.rumors.delete(r.m.id);
    }
    return chosen.map((r) => cloneMember(r.m));
  }

  /** Updates to ride on a ping/ack to `to`; a suspected target gets its own record (Lifeguard's buddy system). */
  private piggyback(to: string): Member[] {
    const out = this.takeRumors(TUNING.maxPiggyback, to);
    const t = this.members.get(to);
    if (t && (t.status === "suspect" || t.status === "dead")) out.unshift(cloneMember(t));
    return out;
  }

  /** `k` random live members other than self (and `exclude`): the epidemic model's uniform choice. */
  private randomMembers(k: number, exclude?: string): string[] {
    if (!this.othersCache) this.othersCache = this.liveIds().filter((id) => id !== this.meta.self);
    const others = this.othersCache;
    if (exclude === undefined || !others.includes(exclude)) return this.rng.sample(others, k);
    return this.rng.sample(others, k + 1).filter((id) => id !== exclude).slice(0, k);
  }

  private digest(): DigestEntry[] {
    return Array.from(this.members.values(), digestOf);
  }

  private invalidate(): void {
    this.overlayCache = null;
    this.liveCache = null;
    this.othersCache = null;
  }

  private send(o: Outgoing): void {
    this.counters.envelopesOut++;
    this.out.send.push({ ...o, v: WIRE_VERSION, swarm: this.meta.swarm, from: this.meta.self } as Envelope);
  }

  private flush(): Effects {
    if (this.eager.size > 0) {
      // Infect-and-forward: push what is new to `fanout` random members now, not at the next round.
      const updates = Array.from(this.eager.values(), cloneMember);
      this.eager.clear();
      if (this.meta.state === "active" && this.meta.config.gossip.eager !== false) {
        // Flood over the overlay: each agent forwards a change once, to each of its 3–5 peers. The overlay
        // has no cut vertex, so every live agent is reached even when some copies are lost — unlike a
        // random fanout, which misses ~e^-fanout of the swarm and leaves them to the next round.
        for (const to of this.peers()) {
          this.send({ type: "gossip", to: to as AgentId, updates });
        }
      }
    }
    for (const r of this.out.repl.raftSend) this.send({ type: "raft", to: r.to as AgentId, msg: r.msg });
    this.out.repl.raftSend = [];
    for (const ev of this.out.repl.logEvents) this.out.events.push(ev);
    this.out.repl.logEvents = [];
    const e = this.out;
    e.nextDeadline = this.nextDeadline();
    this.armedAt = e.nextDeadline;
    this.out = emptyEffects();
    return e;
  }
}

/** A roster member's initial record, as every agent created with it knows it. */
function rosterRecord(id: string): Member {
  return { id: id as AgentId, inc: 0, status: "alive", ver: 1, caps: [], slots: 1, load: 0 };
}

function emptyEffects(): Effects {
  return {
    send: [], meta: null, members: [], nextDeadline: null, events: [], logged: [], inbox: [], streams: [],
    repl: {
      raftOps: [], raftSend: [], kvUpserts: [], kvRemovals: [], kvReset: null, applied: [], reads: [], droppedReads: [],
      logEvents: [],
    },
  };
}

/** For the sync reply: their digest entry as a record, to ask whether ours is newer. */
function asMember(d: DigestEntry, m: Member): Member {
  const statuses = ["alive", "suspect", "dead", "left"] as const;
  return { id: m.id, inc: d[1], status: statuses[d[2]], ver: d[3], caps: [], slots: 0, load: 0 };
}
