// MeshAgent: one swarm agent as a SQLite-backed Durable Object.
// A thin shell (cloudflare/partyserver style): entry points stay tiny; the protocol lives in the
// pure AgentCore. For every input the shell (1) steps the core, (2) persists its effects in one
// transactionSync, (3) sends its envelopes, (4) replies — persist-before-send — and keeps one alarm
// set to the core's earliest deadline (DESIGN.md principles 2–3).
import { DurableObject } from "cloudflare:workers";
import { AgentCore, type Effects } from "../core/agent";
import type { SwarmConfig } from "../core/config";
import type { Envelope } from "../core/envelope";
import type { AgentId } from "../core/ids";
import type { Member, MemberStatus } from "../core/membership/member";
import { Rng } from "../core/rng";
import type { Env } from "../env";
import { agentObjectName, type Refusal } from "./names";
import { AgentStorage, NO_CHAOS, type ChaosState, type InboxPage } from "./storage";

export interface InitParams {
  swarm: string;
  self: string;
  config: SwarmConfig;
  caps?: string[];
  slots?: number;
  roster?: string[];
  seeds?: string[];
}

export interface AgentView {
  agentId: string;
  swarmId: string;
  status: MemberStatus;
  state: "active" | "left" | "shutdown";
  incarnation: number;
  capabilities: string[];
  peers: string[];
  membership: Array<{ agentId: string; status: MemberStatus; incarnation: number; lastSeenAt: number | null }>;
  load: number;
  queue: number;
  mode: "read-write" | "read-only";
  raft: { role: string; term: number; leader: string | null; commitIndex: number; appliedIndex: number; voters: string[]; learners: string[] } | null;
  config: SwarmConfig;
  chaos: ChaosState;
  stats: AgentStats;
}

export type AgentBrief = Pick<AgentView, "agentId" | "state" | "mode">;

export interface AgentStats {
  alarms: number;
  peerCalls: number;
  peerCallFailures: number;
  rowsWritten: number;
  envelopesIn: number;
  envelopesOut: number;
  invalidDropped: number;
  chaosDropped: number;
  since: number;
}

export interface DetectorView {
  monitor: string;
  known: boolean;
  status: MemberStatus | null;
  incarnation: number | null;
  lastHeardAt: number | null;
  suspicion: { since: number; deadline: number; confirmations: string[]; quorum: number } | null;
  confirmedBy: string[];
  isMonitor: boolean;
}

export interface HealthReport {
  agentId: string;
  state: "active" | "left" | "shutdown";
  alarmAt: number | null;
  deadline: number | null;
  stalled: boolean;
  rearmed: boolean;
}

export type MemoryOp =
  | { op: "put"; ns: string; key: string; value: unknown; ttlSeconds?: number }
  | { op: "del"; ns: string; key: string };

export type MemoryReply =
  | { ok: true; version?: number; deleted?: boolean; leader: string }
  | { ok: false; code: "no_quorum" | "read_only"; message: string };

export type MemoryReadReply =
  | { ok: true; found: boolean; value?: unknown; version?: number; stale: boolean; servedBy: string }
  | { ok: false; code: "no_quorum"; message: string };

export type MemoryListReply =
  | { ok: true; keys: string[]; next: string | null; stale: boolean }
  | { ok: false; code: "no_quorum"; message: string };

/** How long a request waits for a leader, a commit or a read confirmation before answering 503. */
const CONSENSUS_WAIT_MS = 8000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type ChaosCommand =
  | { action: "crash" }
  | { action: "restart" }
  | { action: "partition"; groups: string[][] }
  | { action: "heal" }
  | { action: "drop"; rate: number };

function isRefusalLike(x: unknown): boolean {
  return typeof x === "object" && x !== null && "refused" in x;
}

function seedFromCrypto(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

export class MeshAgent extends DurableObject<Env> {
  private readonly store: AgentStorage;
  private core: AgentCore | null = null;
  private chaos: ChaosState = { ...NO_CHAOS };
  private scheduledAlarm: number | null = null;
  private readonly rng = new Rng(seedFromCrypto());
  /** Writes waiting for their log entry to be applied: index → (term, resolve). */
  private readonly writeWaiters = new Map<number, Array<{ term: number; resolve: (r: unknown) => void }>>();
  /** Linearizable reads waiting for leadership confirmation: ctx → resolve(readIndex | null). */
  private readonly readWaiters = new Map<number, (index: number | null) => void>();
  /** Requests waiting for the applied index to reach a value. */
  private appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  private readonly stats: AgentStats = {
    alarms: 0, peerCalls: 0, peerCallFailures: 0, rowsWritten: 0,
    envelopesIn: 0, envelopesOut: 0, invalidDropped: 0, chaosDropped: 0, since: Date.now(),
  };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new AgentStorage(ctx.storage);
    ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      this.chaos = this.store.loadChaos();
      this.scheduledAlarm = await ctx.storage.getAlarm();
      // Constructed with state on disk: an eviction (or a deploy) — not a crash — so no new incarnation.
      if (!this.chaos.crashed) this.restoreFromStorage(false);
    });
  }

  // ---- RPC surface (called by the router and by peers) --------------------------------------

  /** Create this agent (idempotent for the same swarm/agent: returns the existing view). */
  async init(p: InitParams): Promise<{ created: boolean; view: AgentView }> {
    if (this.core) {
      if (this.core.meta.swarm !== p.swarm || this.core.meta.self !== p.self) throw new Error("identity mismatch");
      return { created: false, view: this.viewSync() };
    }
    const { core, effects } = AgentCore.create({
      swarm: p.swarm, self: p.self as AgentId, config: p.config, caps: p.caps, slots: p.slots,
      roster: p.roster, seeds: p.seeds, now: Date.now(), rng: this.rng.fork(),
    });
    this.core = core;
    this.chaos = { ...NO_CHAOS };
    // Wait for the join round (seeds answer inline with their membership) so the reply lists peers.
    const sends = effects.send;
    effects.send = [];
    this.commit(effects);
    await this.dispatch(sends);
    await this.arm();
    return { created: true, view: this.viewSync() };
  }

  /** A peer envelope. Replies addressed to the sender ride back inline (one billed call, not two). */
  async deliver(raw: unknown): Promise<unknown[] | null> {
    const core = this.core;
    // A crashed or unknown agent does not answer: the sender sees no reply, as on a real network.
    if (!core || this.chaos.crashed) return null;
    const from = (raw as { from?: unknown } | null)?.from;
    if (typeof from === "string" && this.cut(from)) {
      this.stats.chaosDropped++;
      return [];
    }
    const effects = core.receive(raw, Date.now());
    const inline: Envelope[] = [];
    const later: Envelope[] = [];
    for (const e of effects.send) (e.to === from ? inline : later).push(e);
    effects.send = later;
    this.commit(effects);
    await this.arm();
    return inline;
  }

  async view(): Promise<AgentView | Refusal> {
    return this.refusal() ?? this.viewSync();
  }

  /** What the router needs to enter the mesh here (the full view is heavy: the whole membership). */
  async brief(): Promise<AgentBrief | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    return { agentId: core.meta.self, state: core.meta.state, mode: core.mode() };
  }

  async leave(): Promise<AgentView | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    this.commit(core.leave());
    await this.arm();
    return this.viewSync();
  }

  /** `network_shutdown`: stop ticking; with purge, erase all storage. */
  async shutdown(purge: boolean): Promise<{ shutdown: true; purged: boolean }> {
    if (this.core) {
      this.commit(this.core.shutdown());
    }
    if (purge) {
      await this.store.erase();
      this.core = null;
      this.chaos = { ...NO_CHAOS };
      this.scheduledAlarm = null;
      return { shutdown: true, purged: true };
    }
    await this.arm();
    return { shutdown: true, purged: false };
  }

  /** Push a membership table and trigger anti-entropy (topology repair). */
  async resync(records: Member[]): Promise<string[] | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    this.commit(core.resync(records, Date.now()));
    await this.arm();
    return core.peers();
  }

  async chaosCommand(cmd: ChaosCommand): Promise<{ agentId: string | null; chaos: ChaosState }> {
    switch (cmd.action) {
      case "crash":
        this.chaos = { ...this.chaos, crashed: true };
        this.store.saveChaos(this.chaos);
        // Memory is lost with the crash; storage is kept.
        this.core = null;
        await this.ctx.storage.deleteAlarm();
        this.scheduledAlarm = null;
        break;
      case "restart":
        this.chaos = { ...this.chaos, crashed: false };
        this.store.saveChaos(this.chaos);
        this.core = null;
        this.restoreFromStorage(true);
        await this.arm();
        break;
      case "partition":
        this.chaos = { ...this.chaos, groups: cmd.groups };
        this.store.saveChaos(this.chaos);
        break;
      case "heal":
        this.chaos = { ...this.chaos, groups: null, dropRate: 0 };
        this.store.saveChaos(this.chaos);
        break;
      case "drop":
        this.chaos = { ...this.chaos, dropRate: cmd.rate };
        this.store.saveChaos(this.chaos);
        break;
    }
    return { agentId: this.core?.meta.self ?? null, chaos: this.chaos };
  }

  /** Cron health check: is this agent answering, is its alarm armed? Re-arms a stalled alarm. */
  async health(): Promise<HealthReport | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    const alarmAt = await this.ctx.storage.getAlarm();
    const deadline = core.nextDeadline();
    const interval = core.meta.config.gossip.intervalMs;
    const now = Date.now();
    const stalled = deadline !== null && (alarmAt === null || alarmAt < now - 2 * interval - 1000);
    let rearmed = false;
    if (stalled) {
      this.scheduledAlarm = null;
      await this.arm();
      rearmed = true;
    }
    return { agentId: core.meta.self, state: core.meta.state, alarmAt, deadline, stalled, rearmed };
  }

  /** A message enters the mesh through this agent: numbered, stored, flooded; then acknowledged. */
  async post(from: string, to: string, body: Record<string, unknown>): Promise<{ messageId: string; recipients: string[] } | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    if (core.meta.state !== "active") return { refused: "agent_unavailable" };
    const { message, effects } = core.post(from, to, body, Date.now());
    this.commit(effects);
    await this.arm();
    const recipients = to === "all" ? core.liveIds().filter((id) => id !== from) : [to];
    return { messageId: `${message.stream}#${message.seq}`, recipients };
  }

  async inbox(after: number, limit: number): Promise<InboxPage | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    return this.store.inbox(after, limit);
  }

  /** This agent's failure-detector view of `target` (fault-tolerance `heartbeat_monitor`). */
  async detectorView(target: string): Promise<DetectorView | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    const m = core.member(target);
    return {
      monitor: core.meta.self,
      known: !!m,
      status: m?.status ?? null,
      incarnation: m?.inc ?? null,
      lastHeardAt: core.lastHeardAt(target) ?? null,
      suspicion: core.suspicion(target),
      confirmedBy: m && (m.status === "suspect" || m.status === "dead") ? (m.by ?? []) : [],
      isMonitor: core.peers().includes(target),
    };
  }

  /** Probe `target` now, out of turn, and let the detector act on the answer (`failover_recovery`). */
  async probeNow(target: string): Promise<DetectorView | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const effects = this.core!.probeNow(target, Date.now());
    const sends = effects.send;
    effects.send = [];
    this.commit(effects);
    await this.dispatch(sends);
    await this.arm();
    return this.detectorView(target);
  }

  /**
   * A memory write (`memory_usage` store/delete) through the replicated log. A non-leader forwards it
   * to the leader (never refuses); the answer comes once the entry is committed and applied.
   */
  async memWrite(op: MemoryOp, hops = 0, deadline = Date.now() + CONSENSUS_WAIT_MS): Promise<MemoryReply | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    if (core.meta.config.consensus.voters === 0) {
      return { ok: false, code: "no_quorum", message: "This swarm has no replicated log (consensus.voters is 0)." };
    }
    for (;;) {
      const now = Date.now();
      const cmd =
        op.op === "put"
          ? { op: "put" as const, ns: op.ns, key: op.key, value: op.value, at: now,
              expiresAt: op.ttlSeconds ? now + op.ttlSeconds * 1000 : null }
          : { op: "del" as const, ns: op.ns, key: op.key, at: now };
      const p = core.memPropose(cmd, now);
      if (p) {
        const done = new Promise<unknown>((resolve) => {
          const list = this.writeWaiters.get(p.index) ?? [];
          list.push({ term: p.term, resolve });
          this.writeWaiters.set(p.index, list);
        });
        this.commit(p.effects);
        await this.arm();
        const result = (await Promise.race([done, sleep(Math.max(0, deadline - Date.now())).then(() => null)])) as
          | { version?: number; deleted?: boolean; lost?: boolean }
          | null;
        if (!result || result.lost) {
          return { ok: false, code: "no_quorum", message: "The write was not committed (no majority, or leadership changed); retry." };
        }
        return { ok: true, version: result.version, deleted: result.deleted, leader: core.meta.self };
      }
      const leader = await this.awaitLeader(deadline);
      if (!leader) return { ok: false, code: "no_quorum", message: "No leader of the replicated log can be reached." };
      if (leader !== core.meta.self && hops < 3) {
        try {
          const r = await this.env.AGENT.getByName(agentObjectName(core.meta.swarm, leader)).memWrite(op, hops + 1, deadline);
          if (!isRefusalLike(r)) return r as MemoryReply;
        } catch {
          // fall through: wait for a new leader
        }
      }
      if (Date.now() >= deadline) return { ok: false, code: "no_quorum", message: `Leader ${leader} does not answer.` };
      await sleep(20);
    }
  }

  /** A memory read: linearizable (ReadIndex at the leader) by default, or stale from local state. */
  async memRead(ns: string, key: string, stale: boolean, hops = 0): Promise<MemoryReadReply | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    const local = (isStale: boolean): MemoryReadReply => {
      const rec = core.memStore()?.get(ns, key, Date.now()) ?? null;
      return rec
        ? { ok: true, found: true, value: rec.value, version: rec.version, stale: isStale, servedBy: core.meta.self }
        : { ok: true, found: false, stale: isStale, servedBy: core.meta.self };
    };
    if (stale || core.meta.config.consensus.voters === 0) return local(true);
    const index = await this.linearizableIndex(hops);
    if (typeof index === "object") return index;
    if (index === -1) return this.forwardRead(ns, key, hops);
    return local(false);
  }

  async memList(ns: string, prefix: string, limit: number, cursor: string | null, stale: boolean, hops = 0): Promise<MemoryListReply | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const core = this.core!;
    const local = (isStale: boolean): MemoryListReply => {
      const page = core.memStore()?.list(ns, prefix, limit, cursor, Date.now()) ?? { keys: [], next: null };
      return { ok: true, ...page, stale: isStale };
    };
    if (stale || core.meta.config.consensus.voters === 0) return local(true);
    const index = await this.linearizableIndex(hops);
    if (typeof index === "object") return index;
    if (index === -1) {
      const leader = core.raftLeader();
      const r = await this.env.AGENT.getByName(agentObjectName(core.meta.swarm, leader!)).memList(ns, prefix, limit, cursor, false, hops + 1);
      return r as MemoryListReply;
    }
    return local(false);
  }

  /**
   * ReadIndex: on the leader, the confirmed read index once applied (thesis §6.4); -1 when the leader is
   * elsewhere (forward); a failure reply when no leader answers.
   */
  private async linearizableIndex(hops: number): Promise<number | { ok: false; code: "no_quorum"; message: string }> {
    const core = this.core!;
    const deadline = Date.now() + CONSENSUS_WAIT_MS;
    for (;;) {
      const r = core.memReadIndex(Date.now());
      if (r) {
        const confirmed = new Promise<number | null>((resolve) => this.readWaiters.set(r.ctx, resolve));
        this.commit(r.effects);
        await this.arm();
        const index = await Promise.race([confirmed, sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
        if (index === null) return { ok: false, code: "no_quorum", message: "Leadership could not be confirmed by a majority." };
        if (!(await this.waitApplied(index, Math.max(0, deadline - Date.now())))) {
          return { ok: false, code: "no_quorum", message: "The leader did not catch up in time." };
        }
        return index;
      }
      const leader = await this.awaitLeader(deadline);
      if (!leader) return { ok: false, code: "no_quorum", message: "No leader of the replicated log can be reached." };
      if (leader !== core.meta.self && hops < 3) return -1;
      if (Date.now() >= deadline) return { ok: false, code: "no_quorum", message: "No leader of the replicated log." };
      await sleep(20);
    }
  }

  private async forwardRead(ns: string, key: string, hops: number): Promise<MemoryReadReply | Refusal> {
    const core = this.core!;
    const leader = core.raftLeader();
    if (!leader) return { ok: false, code: "no_quorum", message: "No leader of the replicated log." };
    try {
      return (await this.env.AGENT.getByName(agentObjectName(core.meta.swarm, leader)).memRead(ns, key, false, hops + 1)) as
        | MemoryReadReply
        | Refusal;
    } catch {
      return { ok: false, code: "no_quorum", message: `Leader ${leader} does not answer.` };
    }
  }

  /** The full membership records (for topology repair's anti-entropy). */
  async membershipRecords(): Promise<Member[] | Refusal> {
    return this.refusal() ?? this.core!.membership();
  }

  async getStats(): Promise<AgentStats> {
    return this.snapshotStats();
  }

  // ---- alarm: the one timer for every deadline -----------------------------------------------

  override async alarm(): Promise<void> {
    this.scheduledAlarm = null;
    try {
      if (!this.core || this.chaos.crashed) return;
      this.stats.alarms++;
      const effects = this.core.tick(Date.now());
      const sends = effects.send;
      effects.send = [];
      this.commit(effects);
      await this.dispatch(sends);
    } catch (err) {
      // Never throw from alarm(): a retry would replace our cadence with the platform's backoff.
      console.error(`alarm failed for ${this.core?.meta.self}:`, err);
    } finally {
      await this.arm();
    }
  }

  // ---- effect runner --------------------------------------------------------------------------

  /** Persist the effects in one transaction, then start the sends (persist-before-send). */
  private commit(effects: Effects): void {
    const before = this.store.rowsWritten;
    this.store.apply(effects);
    this.stats.rowsWritten += this.store.rowsWritten - before;
    this.settle(effects);
    for (const ev of effects.events) console.log(`[${this.core?.meta.swarm}/${this.core?.meta.self}] ${ev}`);
    if (effects.send.length > 0) this.ctx.waitUntil(this.dispatch(effects.send));
  }

  private async dispatch(sends: Envelope[]): Promise<void> {
    await Promise.all(sends.map((e) => this.sendOne(e)));
  }

  private async sendOne(e: Envelope): Promise<void> {
    if (this.chaos.crashed || !this.core) return;
    if (this.cut(e.to) || (this.chaos.dropRate > 0 && this.rng.chance(this.chaos.dropRate))) {
      this.stats.chaosDropped++;
      return;
    }
    this.stats.envelopesOut++;
    this.stats.peerCalls++;
    let replies: unknown[];
    try {
      const stub = this.env.AGENT.getByName(agentObjectName(e.swarm, e.to));
      const r = (await stub.deliver(e)) as unknown[] | null;
      if (r === null) {
        this.stats.peerCallFailures++;
        return;
      }
      replies = r;
    } catch {
      this.stats.peerCallFailures++;
      return;
    }
    for (const r of replies) {
      if (!this.core || this.chaos.crashed) return;
      this.stats.envelopesIn++;
      const effects = this.core.receive(r, Date.now());
      this.commit(effects);
    }
  }

  private async arm(): Promise<void> {
    const deadline = this.chaos.crashed ? null : (this.core?.nextDeadline() ?? null);
    if (deadline === null) {
      if (this.scheduledAlarm !== null) {
        await this.ctx.storage.deleteAlarm();
        this.scheduledAlarm = null;
      }
      return;
    }
    // Each setAlarm is a row written: only move the alarm when the deadline moved earlier. A deadline
    // that moved later (a Raft follower's election timer, reset by every append) leaves the alarm where
    // it is: it fires early, the idempotent tick does nothing, and re-arms once.
    if (this.scheduledAlarm !== null && this.scheduledAlarm <= deadline && this.scheduledAlarm > Date.now()) return;
    await this.ctx.storage.setAlarm(deadline);
    this.scheduledAlarm = deadline;
    this.stats.rowsWritten++;
  }

  /** Wake requests whose writes were applied, whose reads were confirmed, or that waited for catch-up. */
  private settle(effects: Effects): void {
    const r = effects.repl;
    for (const a of r.applied) {
      const ws = this.writeWaiters.get(a.index);
      if (!ws) continue;
      this.writeWaiters.delete(a.index);
      for (const w of ws) w.resolve(w.term === a.term ? (a.result ?? { lost: true }) : { lost: true });
    }
    for (const rd of r.reads) {
      this.readWaiters.get(rd.ctx)?.(rd.index);
      this.readWaiters.delete(rd.ctx);
    }
    for (const ctx of r.droppedReads) {
      this.readWaiters.get(ctx)?.(null);
      this.readWaiters.delete(ctx);
    }
    const applied = this.core?.memApplied() ?? 0;
    if (this.appliedWaiters.length) {
      const ready = this.appliedWaiters.filter((w) => w.index <= applied);
      this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
      for (const w of ready) w.resolve();
    }
  }

  private waitApplied(index: number, timeoutMs: number): Promise<boolean> {
    if ((this.core?.memApplied() ?? 0) >= index) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { index, resolve: () => resolve(true) };
      this.appliedWaiters.push(w);
      setTimeout(() => {
        this.appliedWaiters = this.appliedWaiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
    });
  }

  /** The current leader of the replicated log, waiting (bounded) while an election runs. */
  private async awaitLeader(deadline: number): Promise<string | null> {
    for (;;) {
      const l = this.core?.raftLeader() ?? null;
      if (l) return l;
      if (Date.now() >= deadline) return null;
      await sleep(Math.max(10, Math.floor((this.core?.meta.config.failure.heartbeatMs ?? 100) / 2)));
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  private restoreFromStorage(afterCrash: boolean): void {
    const p = this.store.load();
    if (!p) return;
    const { core, effects } = AgentCore.restore(p, Date.now(), this.rng.fork(), { bumpIncarnation: afterCrash });
    this.core = core;
    this.commit(effects);
    this.ctx.waitUntil(this.arm());
  }

  /** Why this agent cannot answer, if it cannot (RPC returns it rather than throwing). */
  private refusal(): Refusal | null {
    if (this.chaos.crashed) return { refused: "agent_unavailable" };
    if (!this.core) return { refused: "agent_not_found" };
    return null;
  }

  /** Is the link between this agent and `other` cut by a chaos partition? */
  private cut(other: string): boolean {
    const groups = this.chaos.groups;
    if (!groups || !this.core) return false;
    const self = this.core.meta.self;
    const gi = (id: string) => {
      const i = groups.findIndex((g) => g.includes(id));
      return i === -1 ? groups.length : i;
    };
    return gi(self) !== gi(other);
  }

  private snapshotStats(): AgentStats {
    const c = this.core?.counters;
    return { ...this.stats, invalidDropped: c?.invalidDropped ?? 0 };
  }

  private viewSync(): AgentView {
    const core = this.core!;
    const me = core.self();
    const now = Date.now();
    const membership = core.membership().map((m) => ({
      agentId: m.id,
      status: m.status,
      incarnation: m.inc,
      lastSeenAt: m.id === me.id ? now : (core.lastHeardAt(m.id) ?? null),
    }));
    return {
      agentId: me.id,
      swarmId: core.meta.swarm,
      status: me.status,
      state: core.meta.state,
      incarnation: me.inc,
      capabilities: me.caps,
      peers: core.peers(),
      membership,
      load: me.load,
      queue: 0,
      mode: core.mode(),
      raft: core.raftStatus(),
      config: core.meta.config,
      chaos: this.chaos,
      stats: this.snapshotStats(),
    };
  }
}
