// The plumbing between a pure Node and the platform, kept apart from the Durable Object's RPC surface:
// for every input, (1) step the node, (2) persist its writes in one transaction, (3) answer waiting
// requests, (4) send its envelopes — persist-before-send — and keep one alarm at the node's earliest
// deadline. Peer calls go out here too, with chaos applied (cuts, drops) and each call's outcome fed
// back to the node (the request path is a failure detector).
import { agentObjectName, type AgentStats, type AgentView, type ChaosState } from "../contract";
import { describeReach } from "../core/partition/module";
import type { Modules } from "../core/modules";
import type { Node } from "../core/node";
import type { Effects, Envelope, LogEvent } from "../core/protocol";
import type { Rng } from "../core/rng";
import type { Env } from "../env";
import { NULL_DIGEST } from "../core/pbft/viewchange";
import { KeyRing } from "./keys";
import type { RowStore } from "./store";
import { TIMEOUT, Waiters } from "./waiters";

/**
 * A peer call with no answer after this long counts as failed (the evidence a lost call gives), so a
 * peer that stalls cannot hold up the request that sent to it. Far above any healthy round trip.
 */
export const PEER_CALL_TIMEOUT_MS = 10_000;

export const NO_CHAOS: ChaosState = { crashed: false, groups: null, dropRate: 0 };

export interface ShellStats {
  forgedDropped: number;
  alarms: number;
  peerCalls: number;
  /** Peer calls by module and message type (`membership.ping`, `raft.app`, …): where the bill goes. */
  callsByType: Record<string, number>;
  peerCallFailures: number;
  /** Calls that got no answer within PEER_CALL_TIMEOUT_MS (counted as failures too). */
  peerCallTimeouts: number;
  chaosDropped: number;
  since: number;
}

/** Is the link between `self` and `other` cut by a chaos partition? Agents in no group form one more group. */
export function cut(chaos: ChaosState, self: string, other: string): boolean {
  const groups = chaos.groups;
  if (!groups) return false;
  const gi = (id: string) => {
    const i = groups.findIndex((g) => g.includes(id));
    return i === -1 ? groups.length : i;
  };
  return gi(self) !== gi(other);
}

export class Shell {
  node: Node | null = null;
  chaos: ChaosState = { ...NO_CHAOS };
  readonly waiters = new Waiters();
  readonly stats: ShellStats = { alarms: 0, peerCalls: 0, callsByType: {}, peerCallFailures: 0, peerCallTimeouts: 0, chaosDropped: 0, forgedDropped: 0, since: Date.now() };
  readonly keys = new KeyRing();
  private scheduledAlarm: number | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    readonly store: RowStore,
    readonly rng: Rng,
  ) {}

  get self(): string {
    return this.node?.meta.self ?? "?";
  }

  peer(id: string) {
    return this.env.AGENT.getByName(agentObjectName(this.node!.meta.swarm, id));
  }

  /** Run a command on the node now. The caller registers its waits, then commits the effects. */
  exec<T>(fn: (m: Modules) => T): { result: T; effects: Effects } {
    return this.node!.run(Date.now(), fn);
  }

  /** Persist the effects in one transaction, answer waiters, log; sends go out in the background. */
  commit(effects: Effects): void {
    this.store.apply(effects.writes);
    this.waiters.settle(effects.outputs, Date.now());
    for (const ev of effects.events) this.log(ev);
    if (effects.send.length > 0) this.ctx.waitUntil(this.dispatch(effects.send));
  }

  /** Commit, but wait for the sends (and the inline replies) before returning; then re-arm. */
  async commitAndSend(effects: Effects): Promise<void> {
    const sends = effects.send;
    effects.send = [];
    this.commit(effects);
    await this.dispatch(sends);
    await this.arm();
  }

  /** Wait for the node to answer `mod/key`, at most until `deadline` (the alarm is moved to wake by then). */
  async wait<T>(mod: string, key: string, deadline: number): Promise<T | typeof TIMEOUT> {
    const p = this.waiters.wait<T>(mod, key, deadline);
    this.node?.waitUntil(deadline);
    // Answered in time: take the deadline back (otherwise every request ever made wakes the agent once).
    void p.then((v) => v !== TIMEOUT && this.node?.waitDone(deadline));
    await this.arm();
    return p;
  }

  async dispatch(sends: Envelope[]): Promise<void> {
    await Promise.all(sends.map((e) => this.sendOne(e)));
  }

  private async sendOne(e0: Envelope): Promise<void> {
    if (this.chaos.crashed || !this.node) return;
    if (cut(this.chaos, this.self, e0.to) || (this.chaos.dropRate > 0 && this.rng.chance(this.chaos.dropRate))) {
      this.stats.chaosDropped++;
      return;
    }
    const e = await this.outgoing(e0);
    if (!e) return;
    this.stats.peerCalls++;
    const kind = `${e.mod}.${(e.msg as { type?: string } | undefined)?.type ?? e.type}`;
    this.stats.callsByType[kind] = (this.stats.callsByType[kind] ?? 0) + 1;
    const t0 = Date.now();
    let replies: unknown[] | null = null;
    try {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), PEER_CALL_TIMEOUT_MS)));
      const got = await Promise.race([this.peer(e.to).deliver(e) as Promise<unknown[] | null>, late]).finally(() => clearTimeout(timer));
      if (got === "late") this.stats.peerCallTimeouts++;
      replies = got === "late" ? null : got;
    } catch {
      replies = null;
    }
    this.report(e.to, e.mod, e.type, replies !== null, Date.now() - t0);
    // A reply, or a failed call, can leave work for later (a tree push held for its batch interval, a
    // failed push to send again): keep the alarm by then. A call answered with nothing changes nothing.
    if (replies !== null && replies.length === 0) return;
    for (const r of replies ?? []) {
      if (!this.node || this.chaos.crashed) return;
      if (!(await this.incoming(r))) continue;
      this.commit(this.node.receive(r, Date.now()));
    }
    await this.arm();
  }

  /**
   * An envelope on its way out: signed where its module signs (by this agent's key), or — for a byzantine
   * agent under chaos — misbehaving as told (null: not sent).
   */
  async outgoing(e: Envelope): Promise<Envelope | null> {
    const d = this.node?.signingFor(e.mod);
    if (!d) return e;
    const b = this.chaos.byzantine ?? null;
    if (b === "silent") return null;
    if (b === "equivocate") e = equivocate(e, this.self);
    return this.keys.signOutgoing(d, e, b === "forge");
  }

  /** An envelope coming in: every signature it carries must check out against the pinned keys. */
  async incoming(raw: unknown): Promise<boolean> {
    const env = raw as Envelope;
    const d = env && typeof env === "object" && typeof env.mod === "string" ? this.node?.signingFor(env.mod) : undefined;
    if (!d || !this.node) return true;
    if (this.node.receiveCheck(raw) !== null) return true; // malformed: the node drops and counts it
    const node = this.node;
    const ok = await this.keys.verifyIncoming(d, env, (a) => node.mods.proposals.pinnedKey(a));
    if (!ok) this.stats.forgedDropped++;
    return ok;
  }

  /** Feed a peer call's outcome to the node. */
  report(to: string, mod: string, type: string, ok: boolean, ms: number): void {
    if (!ok) this.stats.peerCallFailures++;
    if (this.node && !this.chaos.crashed) this.commit(this.node.called({ to: to as Envelope["to"], mod, type, ok, ms }, Date.now()));
  }

  /** Keep the one alarm at the node's earliest deadline. Each setAlarm is a row written: move it only earlier. */
  async arm(): Promise<void> {
    const deadline = this.chaos.crashed ? null : (this.node?.nextDeadline() ?? null);
    if (deadline === null) {
      if (this.scheduledAlarm !== null) {
        await this.ctx.storage.deleteAlarm();
        this.scheduledAlarm = null;
      }
      return;
    }
    // A deadline that moved later (a Raft follower's election timer, reset by every append) leaves the
    // alarm where it is: it fires early, the idempotent tick does nothing, and re-arms once.
    if (this.scheduledAlarm !== null && this.scheduledAlarm <= deadline && this.scheduledAlarm > Date.now()) return;
    await this.ctx.storage.setAlarm(deadline);
    this.scheduledAlarm = deadline;
    this.store.rowsWritten++;
  }

  /** The alarm fired: tick, persist, send, re-arm. Never throws (a retry would replace our cadence with backoff). */
  async alarm(): Promise<void> {
    this.scheduledAlarm = null;
    try {
      if (!this.node || this.chaos.crashed) return;
      this.stats.alarms++;
      await this.commitAndSend(this.node.tick(Date.now()));
    } catch (err) {
      console.error(JSON.stringify({ level: "error", swarm: this.node?.meta.swarm, agent: this.self, event: "alarm_failed", error: String(err) }));
    } finally {
      await this.arm();
    }
  }

  /** What this side of a partition reaches, when it is read-only (null when it may write). */
  reach(): string | null {
    const node = this.node;
    if (!node || node.mode() !== "read-only") return null;
    const s = node.mods.partition.status();
    return s ? describeReach(s) : "this side cannot reach a quorum of the swarm";
  }

  /** The agent's view (`GET …/agents/:id`): the node's, plus what only the shell knows. */
  view(): AgentView {
    const node = this.node!;
    return { ...(node.view() as Omit<AgentView, "queue" | "config" | "chaos" | "stats">), queue: node.mods.tasks.workload().queued, config: node.meta.config, chaos: this.chaos, stats: this.agentStats() };
  }

  agentStats(): AgentStats {
    return { ...this.stats, rowsWritten: this.store.rowsWritten, requestsWaiting: this.node?.waiting() ?? 0, core: this.node?.counters() ?? {} };
  }

  /** The memory is lost with a crash (storage is kept): every waiting request ends. */
  crash(): void {
    this.node = null;
    this.waiters.expire(Number.MAX_SAFE_INTEGER);
    this.scheduledAlarm = null;
  }

  forgetAlarm(): void {
    this.scheduledAlarm = null;
  }

  /**
   * Point the node's metrics at the counters this shell keeps (billed operations) and the node's own
   * counters: the metrics module records their deltas per time bucket. Called whenever a node is
   * created (`fromZero`: its creation's operations count too) or restored.
   */
  attachMetrics(fromZero = false): void {
    const node = this.node;
    if (!node) return;
    node.mods.metrics.setCounterSource(() => ({
      alarms: this.stats.alarms,
      peerCalls: this.stats.peerCalls,
      peerCallFailures: this.stats.peerCallFailures,
      chaosDropped: this.stats.chaosDropped,
      rowsWritten: this.store.rowsWritten,
      ...node.counters(),
    }), fromZero);
  }

  /** Structured JSON lines for `wrangler tail`; protocol chatter (debug) only when MESH_LOG=debug. */
  private log(ev: LogEvent): void {
    if (ev.level === "debug" && this.env.MESH_LOG !== "debug") return;
    const line = JSON.stringify({ swarm: this.node?.meta.swarm, agent: this.self, ...ev });
    if (ev.level === "warn") console.warn(line);
    else console.log(line);
  }
}

export { TIMEOUT };

/**
 * Chaos: a byzantine PBFT replica that equivocates — recipients in one half (by a hash of their id) get a
 * different digest (a null batch for a pre-prepare) than the other half, each validly signed by this agent.
 */
function equivocate(e: Envelope, self: string): Envelope {
  const msg = e.msg as { type?: string; digest?: string; batch?: unknown[]; replica?: string } | undefined;
  if (!msg || msg.replica !== self || !["pre-prepare", "prepare", "commit"].includes(msg.type ?? "")) return e;
  let h = 0;
  for (const c of e.to) h = (h * 31 + c.charCodeAt(0)) | 0;
  if ((h & 1) === 0) return e;
  const lie = msg.type === "pre-prepare" ? { ...msg, batch: [], digest: NULL_DIGEST } : { ...msg, digest: NULL_DIGEST };
  return { ...e, msg: lie };
}
