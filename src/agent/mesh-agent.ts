// MeshAgent: one swarm agent as a SQLite-backed Durable Object. The entry points stay small
// (cloudflare/partyserver style): the protocols live in the pure Node (src/core), the plumbing in
// Shell (persist → answer → send, one alarm), the request flows that wait on the replicated log in
// replicated.ts. Every method answers a refusal value instead of throwing when the agent is crashed or
// unknown.
import { DurableObject } from "cloudflare:workers";
import type {
  AgentBrief, AgentStats, AgentView, ChaosCommand, ChaosState, DetectorView, HealthReport, InboxPage, InitParams, Member, MemoryListReply,
  MemoryOp, MemoryReadReply, MemoryReply, MetricsQuery, Refusal,
} from "../contract";
import type { AgentMetrics, MemberLine } from "../core/metrics/report";
import { checkHealth } from "./health";
import { agentMetrics } from "./metrics";
import type { AgentId } from "../core/ids";
import type { Modules } from "../core/modules";
import { INBOX_PREFIX, inboxCursor, inboxKey, type InboxEntry } from "../core/messages/log";
import { Node } from "../core/node";
import { describeReach } from "../core/partition/module";
import { Rng } from "../core/rng";
import type { Env } from "../env";
import { listMemory, readMemory, writeMemory } from "./replicated";
import { cut as cutLink, NO_CHAOS, Shell, TIMEOUT } from "./shell";
import { RowStore } from "./store";

function seedFromCrypto(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

export class MeshAgent extends DurableObject<Env> {
  private readonly shell: Shell;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.shell = new Shell(ctx, env, new RowStore(ctx.storage), new Rng(seedFromCrypto()));
    ctx.blockConcurrencyWhile(async () => {
      this.shell.store.migrate();
      this.shell.chaos = this.shell.store.get<ChaosState>("shell", "chaos") ?? { ...NO_CHAOS };
      // Constructed with state on disk: an eviction (or a deploy) — not a crash — so no new incarnation.
      if (!this.shell.chaos.crashed) this.restore(false);
    });
  }

  // ---- RPC surface (called by the router and by peers) --------------------------------------

  /** Create this agent (idempotent for the same swarm/agent: returns the existing view). */
  async init(p: InitParams): Promise<{ created: boolean; view: AgentView }> {
    const s = this.shell;
    if (s.node) {
      if (s.node.meta.swarm !== p.swarm || s.node.meta.self !== p.self) throw new Error("identity mismatch");
      return { created: false, view: this.viewSync() };
    }
    const { node, effects } = Node.create({
      swarm: p.swarm, self: p.self as AgentId, config: p.config, caps: p.caps, slots: p.slots, roster: p.roster, seeds: p.seeds,
      now: Date.now(), rng: s.rng.fork(),
    });
    s.node = node;
    s.attachMetrics();
    this.setChaos({ ...NO_CHAOS });
    // Wait for the join round (seeds answer inline with their membership) so the reply lists peers.
    await s.commitAndSend(effects);
    return { created: true, view: this.viewSync() };
  }

  /** A peer envelope. Replies addressed to the sender ride back inline (one billed call, not two). */
  async deliver(raw: unknown): Promise<unknown[] | null> {
    const s = this.shell;
    // A crashed or unknown agent does not answer: the sender sees no reply, as on a real network.
    if (!s.node || s.chaos.crashed) return null;
    const from = (raw as { from?: unknown } | null)?.from;
    if (typeof from === "string" && this.cut(from)) {
      s.stats.chaosDropped++;
      return [];
    }
    const effects = s.node.receive(raw, Date.now());
    const inline = effects.send.filter((e) => e.to === from);
    effects.send = effects.send.filter((e) => e.to !== from);
    s.commit(effects);
    await s.arm();
    return inline;
  }

  async view(): Promise<AgentView | Refusal> {
    return this.refusal() ?? this.viewSync();
  }

  async brief(): Promise<AgentBrief | Refusal> {
    const node = this.shell.node;
    return this.refusal() ?? { agentId: this.shell.self, state: node!.meta.state, mode: node!.mode(), reach: this.reach() };
  }

  async leave(): Promise<AgentView | Refusal> {
    return this.refusal() ?? (await this.shell.commitAndSend(this.shell.node!.leave(Date.now())), this.viewSync());
  }

  /** `network_shutdown`: stop ticking; with purge, erase all storage. */
  async shutdown(purge: boolean): Promise<{ shutdown: true; purged: boolean }> {
    const s = this.shell;
    if (s.node) s.commit(s.node.shutdown(Date.now()));
    if (purge) {
      await s.store.erase();
      s.crash();
      s.chaos = { ...NO_CHAOS };
      return { shutdown: true, purged: true };
    }
    await s.arm();
    return { shutdown: true, purged: false };
  }

  /** Push a membership table and trigger anti-entropy (topology repair). */
  async resync(records: Member[]): Promise<string[] | Refusal> {
    return this.refusal() ?? (await this.command((m) => m.membership.resync(records)), this.shell.node!.mods.membership.peers());
  }

  async chaosCommand(cmd: ChaosCommand): Promise<{ agentId: string | null; chaos: ChaosState }> {
    const s = this.shell;
    const c = s.chaos;
    if (cmd.action === "crash") {
      this.setChaos({ ...c, crashed: true });
      s.crash();
      await this.ctx.storage.deleteAlarm();
    } else if (cmd.action === "restart") {
      this.setChaos({ ...c, crashed: false });
      s.crash();
      this.restore(true);
      await s.arm();
    } else if (cmd.action === "partition") this.setChaos({ ...c, groups: cmd.groups });
    else if (cmd.action === "heal") this.setChaos({ ...c, groups: null, dropRate: 0 });
    else this.setChaos({ ...c, dropRate: cmd.rate });
    return { agentId: s.node?.meta.self ?? null, chaos: s.chaos };
  }

  /** Cron health check: is this agent answering, is its alarm armed? Re-arms a stalled alarm. */
  async health(): Promise<HealthReport | Refusal> {
    return this.refusal() ?? checkHealth(this.shell, this.ctx.storage, Date.now());
  }

  /**
   * This agent's metrics over a window (performance report, monitor): answered even while crashed,
   * from what its storage holds (like its billing counters), so a crash does not erase its history.
   */
  async metrics(q: MetricsQuery): Promise<AgentMetrics & { members?: MemberLine[] }> {
    return agentMetrics(this.shell, q, Date.now());
  }

  /** A message enters the mesh through this agent: numbered, stored, flooded; then acknowledged. */
  async post(from: string, to: string, body: Record<string, unknown>): Promise<{ messageId: string; recipients: string[] } | Refusal> {
    const refused = this.refusal() ?? (this.shell.node!.meta.state !== "active" ? ({ refused: "agent_unavailable" } as const) : null);
    if (refused) return refused;
    // A message is a write: a read-only side takes none (its flood could not reach the other side anyway).
    if (this.shell.node!.mode() === "read-only") return { refused: "read_only", message: this.reach() ?? undefined };
    const m = await this.command((mods) => mods.messages.post(from, to, body));
    const live = this.shell.node!.mods.membership.liveIds();
    return { messageId: `${m.stream}#${m.seq}`, recipients: to === "all" ? live.filter((id) => id !== from) : [to] };
  }

  async inbox(after: number, limit: number): Promise<InboxPage | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const rows = this.shell.store.scan("messages", INBOX_PREFIX, after > 0 ? inboxKey(after) : null, limit);
    const messages = rows.map(([k, v]) => ({ cursor: inboxCursor(k), ...(v as InboxEntry) }));
    const last = messages.at(-1);
    return { messages, next: last ? String(last.cursor) : after > 0 ? String(after) : null };
  }

  /** This agent's failure-detector view of `target` (fault-tolerance `heartbeat_monitor`). */
  async detectorView(target: string, probe: string | null = null): Promise<DetectorView | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const mm = this.shell.node!.mods.membership;
    const m = mm.member(target);
    return {
      monitor: this.shell.self, known: !!m, status: m?.status ?? null, incarnation: m?.inc ?? null,
      lastHeardAt: mm.lastHeardAt(target) ?? null, suspicion: mm.suspicion(target),
      confirmedBy: m && (m.status === "suspect" || m.status === "dead") ? (m.by ?? []) : [], isMonitor: mm.peers().includes(target),
      probe,
    };
  }

  /** Probe `target` now, out of turn, wait for the probe's outcome, and report (`failover_recovery`). */
  async probeNow(target: string): Promise<DetectorView | Refusal> {
    const refused = this.refusal();
    if (refused) return refused;
    const s = this.shell;
    const { result: started, effects } = s.exec((m) => m.membership.probeNow(target));
    const mm = s.node!.mods.membership;
    // Direct probe, then indirect probes: 3 probe timeouts, plus one of grace for a late alarm.
    const outcome = started ? s.wait<string>("membership", `probe:${target}`, Date.now() + 4 * mm.probeTimeoutMs + 1000) : null;
    await s.commitAndSend(effects);
    const r = await outcome;
    return this.detectorView(target, r === TIMEOUT || r === null ? null : r);
  }

  async memWrite(op: MemoryOp, hops = 0, deadline?: number): Promise<MemoryReply | Refusal> {
    return this.refusal() ?? writeMemory(this.shell, op, hops, deadline);
  }

  async memRead(ns: string, key: string, stale: boolean, hops = 0): Promise<MemoryReadReply | Refusal> {
    return this.refusal() ?? readMemory(this.shell, ns, key, stale, hops);
  }

  async memList(ns: string, prefix: string, limit: number, cursor: string | null, stale: boolean, hops = 0): Promise<MemoryListReply | Refusal> {
    return this.refusal() ?? listMemory(this.shell, ns, prefix, limit, cursor, stale, hops);
  }

  /** The full membership records (for topology repair's anti-entropy). */
  async membershipRecords(): Promise<Member[] | Refusal> {
    return this.refusal() ?? this.shell.node!.mods.membership.all();
  }

  /** Billing counters (answered even while crashed: a crashed agent's counters must stand still). */
  async getStats(): Promise<AgentStats> {
    return this.stats();
  }

  override async alarm(): Promise<void> {
    await this.shell.alarm();
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Run a command on the node, persist and send its effects, and return its result. */
  private async command<T>(fn: (m: Modules) => T): Promise<T> {
    const { result, effects } = this.shell.exec(fn);
    await this.shell.commitAndSend(effects);
    return result;
  }

  private restore(afterCrash: boolean): void {
    const s = this.shell;
    const r = Node.restore((mod, cold) => s.store.load(mod, cold), Date.now(), s.rng.fork(), afterCrash);
    if (!r) return;
    s.node = r.node;
    s.attachMetrics();
    s.commit(r.effects);
    this.ctx.waitUntil(s.arm());
  }

  private setChaos(c: ChaosState): void {
    this.shell.chaos = c;
    this.shell.store.apply([{ mod: "shell", op: { op: "put", key: "chaos", value: c } }]);
  }

  /** What this side of a partition reaches, when it is read-only (null when it may write). */
  private reach(): string | null {
    const node = this.shell.node;
    if (!node || node.mode() !== "read-only") return null;
    const s = node.mods.partition.status();
    return s ? describeReach(s) : "this side cannot reach a quorum of the swarm";
  }

  /** Why this agent cannot answer, if it cannot (RPC returns it rather than throwing). */
  private refusal(): Refusal | null {
    if (this.shell.chaos.crashed) return { refused: "agent_unavailable" };
    if (!this.shell.node) return { refused: "agent_not_found" };
    return null;
  }

  private cut(other: string): boolean {
    return this.shell.node ? cutLink(this.shell.chaos, this.shell.self, other) : false;
  }

  private viewSync(): AgentView {
    const s = this.shell;
    const node = s.node!;
    return {
      ...(node.view() as Omit<AgentView, "queue" | "config" | "chaos" | "stats">),
      queue: 0,
      config: node.meta.config,
      chaos: s.chaos,
      stats: this.stats(),
    };
  }

  private stats(): AgentStats {
    const s = this.shell;
    return { ...s.stats, rowsWritten: s.store.rowsWritten, core: s.node?.counters() ?? {} };
  }
}
