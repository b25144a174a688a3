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
  raft: null;
  config: SwarmConfig;
  chaos: ChaosState;
  stats: AgentStats;
}

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

export type ChaosCommand =
  | { action: "crash" }
  | { action: "restart" }
  | { action: "partition"; groups: string[][] }
  | { action: "heal" }
  | { action: "drop"; rate: number };

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
    // Each setAlarm is a row written: only move the alarm when the deadline moved.
    if (this.scheduledAlarm === deadline) return;
    await this.ctx.storage.setAlarm(deadline);
    this.scheduledAlarm = deadline;
    this.stats.rowsWritten++;
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
    const live = core.liveIds().length;
    const counted = membership.filter((m) => m.status !== "left").length;
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
      // Majority rule (the seed's PartitionHandler): fewer than half the members reachable → read-only.
      mode: live * 2 > counted ? "read-write" : "read-only",
      raft: null,
      config: core.meta.config,
      chaos: this.chaos,
      stats: this.snapshotStats(),
    };
  }
}
