// MeshAgent: one swarm agent as a SQLite-backed Durable Object. The entry points stay small
// (cloudflare/partyserver style): the protocols live in the pure Node (src/core), the plumbing in
// Shell (persist → answer → send, one alarm), the request flows that wait on the replicated log in
// replicated.ts. Every method answers a refusal value instead of throwing when the agent is crashed or
// unknown.
import { DurableObject } from "cloudflare:workers";
import type {
  AgentBrief, AgentStats, AgentView, ChaosCommand, ChaosState, DetectorView, HealthReport, InboxPage, InitParams, Member, MemoryListReply,
  MemoryOp, MemoryReadReply, MemoryReply, MetricsQuery, Refusal, TaskAnswer, TaskCommand,
} from "../contract";
import type { AgentMetrics, MemberLine } from "../core/metrics/report";
import { checkHealth } from "./health";
import { agentMetrics } from "./metrics";
import type { AgentId } from "../core/ids";
import type { Modules } from "../core/modules";
import type { ProposeResult, VoteResult } from "../core/proposals/module";
import type { ProposalInput, VoteValue } from "../core/vote/tally";
import { Node } from "../core/node";
import type { Envelope } from "../core/protocol";
import type { StoredKey } from "./keys";
import { Rng } from "../core/rng";
import type { Env } from "../env";
import { detectorView, inboxPage, probeNow, runTask } from "./ops";
import { listMemory, readMemory, writeMemory } from "./replicated";
import { cut as cutLink, NO_CHAOS, Shell } from "./shell";
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
    // This agent's identity: a key pair made now; the private key stays in this object's storage.
    const key = await s.keys.generate();
    s.store.apply([{ mod: "shell", op: { op: "put", key: "signingKey", value: key } }]);
    const { node, effects } = Node.create({
      swarm: p.swarm, self: p.self as AgentId, config: p.config, caps: p.caps, slots: p.slots, resources: p.resources, roster: p.roster, seeds: p.seeds,
      now: Date.now(), rng: s.rng.fork(),
    });
    s.node = node;
    s.attachMetrics(true);
    this.setChaos({ ...NO_CHAOS });
    // Wait for the join round (seeds answer inline with their membership) so the reply lists peers.
    await s.commitAndSend(effects);
    await this.pinKey();
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
    if (!(await s.incoming(raw)) || !s.node) return [];
    const effects = s.node.receive(raw, Date.now());
    const inline = effects.send.filter((e) => e.to === from);
    effects.send = effects.send.filter((e) => e.to !== from);
    s.commit(effects);
    await s.arm();
    const out: Envelope[] = [];
    for (const e of inline) {
      const signed = await s.outgoing(e);
      if (signed) out.push(signed);
    }
    return out;
  }

  async view(): Promise<AgentView | Refusal> {
    return this.refusal() ?? this.viewSync();
  }

  async brief(): Promise<AgentBrief | Refusal> {
    const node = this.shell.node;
    const refused = this.refusal();
    if (refused) return refused;
    const mode = node!.mode();
    // A read-only agent names the voters it knows, so the router can look for the writable side there.
    const voters = mode === "read-only" ? node!.mods.raft.status()?.voters : undefined;
    return { agentId: this.shell.self, state: node!.meta.state, mode, reach: this.shell.reach(), ...(voters ? { voters } : {}) };
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
    else if (cmd.action === "byzantine") this.setChaos({ ...c, byzantine: cmd.behavior });
    else this.setChaos({ ...c, dropRate: cmd.rate });
    return { agentId: s.node?.meta.self ?? null, chaos: s.chaos };
  }

  /** Cron health check: is this agent answering, is its alarm armed? Re-arms a stalled alarm. */
  async health(): Promise<HealthReport | Refusal> {
    return this.refusal() ?? checkHealth(this.shell, this.ctx.storage, Date.now());
  }

  /** Its metrics over a window (report, monitor); a crashed agent answers from its storage. */
  async metrics(q: MetricsQuery): Promise<AgentMetrics & { members?: MemberLine[] }> {
    return agentMetrics(this.shell, q, Date.now());
  }

  /** A message enters the mesh through this agent: numbered, stored, flooded; then acknowledged. */
  async post(from: string, to: string, body: Record<string, unknown>): Promise<{ messageId: string; recipients: string[] } | Refusal> {
    const refused = this.refusal() ?? (this.shell.node!.meta.state !== "active" ? ({ refused: "agent_unavailable" } as const) : null);
    if (refused) return refused;
    // A message is a write: a read-only side takes none (its flood could not reach the other side anyway).
    const ro = this.readOnly();
    if (ro) return ro;
    const m = await this.command((mods) => mods.messages.post(from, to, body));
    const live = this.shell.node!.mods.membership.liveIds();
    return { messageId: `${m.stream}#${m.seq}`, recipients: to === "all" ? live.filter((id) => id !== from) : [to] };
  }

  async inbox(after: number, limit: number): Promise<InboxPage | Refusal> {
    return this.refusal() ?? inboxPage(this.shell, after, limit);
  }

  /** This agent's failure-detector view of `target` (fault-tolerance `heartbeat_monitor`). */
  async detectorView(target: string): Promise<DetectorView | Refusal> {
    return this.refusal() ?? detectorView(this.shell, target, null);
  }

  /** Probe `target` now, out of turn, wait for the probe's outcome, and report (`failover_recovery`). */
  async probeNow(target: string): Promise<DetectorView | Refusal> {
    return this.refusal() ?? probeNow(this.shell, target);
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
  async task(cmd: TaskCommand): Promise<TaskAnswer | Refusal> { return this.refusal() ?? runTask(this.shell, cmd); } // src/agent/tasks.ts

  /** The full membership records (for topology repair's anti-entropy). */
  async membershipRecords(): Promise<Member[] | Refusal> {
    return this.refusal() ?? this.shell.node!.mods.membership.all();
  }

  /** A proposal made at this agent (`daa_consensus`); refused on a read-only side. */
  async propose(input: ProposalInput & { proposalId: string }): Promise<ProposeResult | Refusal> {
    return this.refusal() ?? this.readOnly() ?? this.command((m) => m.proposals.propose(input));
  }

  /** This agent's own vote (only it can sign it); refused on a read-only side. */
  async vote(proposalId: string, vote: VoteValue): Promise<VoteResult | Refusal> {
    return this.refusal() ?? this.readOnly() ?? this.command((m) => m.proposals.vote(proposalId, vote));
  }

  /** A proposal's outcome as this agent knows it (null: unknown here), and whether it is a PBFT replica. */
  async proposal(proposalId: string): Promise<{ outcome: ReturnType<Modules["proposals"]["get"]>; replica: boolean; replicas: string[] } | Refusal> {
    const r = this.refusal();
    if (r) return r;
    const p = this.shell.node!.mods.proposals;
    return { outcome: p.get(proposalId), replica: p.isReplica(), replicas: p.replicaSet() };
  }

  async proposalList(): Promise<ReturnType<Modules["proposals"]["list"]> | Refusal> {
    return this.refusal() ?? this.shell.node!.mods.proposals.list();
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
    this.ctx.waitUntil(this.loadKey().then(() => s.arm()));
  }

  /** The stored key pair back in memory (after an eviction or a restart); its public key pinned if not yet. */
  private async loadKey(): Promise<void> {
    const s = this.shell;
    const k = s.store.get<StoredKey>("shell", "signingKey");
    if (!k) return;
    await s.keys.load(k);
    await this.pinKey();
  }

  /** Ask the log to pin this agent's public key (the core retries until the log shows it pinned). */
  private async pinKey(): Promise<void> {
    const s = this.shell;
    const key = s.keys.publicKey;
    if (!s.node || !key || s.chaos.crashed) return;
    await s.commitAndSend(s.exec((m) => m.proposals.pinKey(key)).effects);
  }

  private setChaos(c: ChaosState): void {
    this.shell.chaos = c;
    this.shell.store.apply([{ mod: "shell", op: { op: "put", key: "chaos", value: c } }]);
  }

  /** Why this agent cannot answer, if it cannot (RPC returns it rather than throwing). */
  private refusal(): Refusal | null {
    if (this.shell.chaos.crashed) return { refused: "agent_unavailable" };
    if (!this.shell.node) return { refused: "agent_not_found" };
    return null;
  }

  /** A write entering a read-only side is refused at once, naming what the side reaches. */
  private readOnly(): Refusal | null {
    const reach = this.shell.reach();
    return reach === null ? null : { refused: "read_only", message: reach };
  }

  private cut(other: string): boolean {
    return this.shell.node ? cutLink(this.shell.chaos, this.shell.self, other) : false;
  }

  private viewSync(): AgentView {
    return this.shell.view();
  }

  private stats(): AgentStats {
    return this.shell.agentStats();
  }
}
