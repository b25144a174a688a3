// The plumbing between a pure Node and the platform, kept apart from the Durable Object's RPC surface:
// for every input, (1) step the node, (2) persist its writes in one transaction, (3) answer waiting
// requests, (4) send its envelopes — persist-before-send — and keep one alarm at the node's earliest
// deadline. Peer calls go out here too, with chaos applied (cuts, drops) and each call's outcome fed
// back to the node (the request path is a failure detector).
import { agentObjectName, type ChaosState } from "../contract";
import type { Modules } from "../core/modules";
import type { Node } from "../core/node";
import type { Effects, Envelope, LogEvent } from "../core/protocol";
import type { Rng } from "../core/rng";
import type { Env } from "../env";
import type { RowStore } from "./store";
import { TIMEOUT, Waiters } from "./waiters";

export const NO_CHAOS: ChaosState = { crashed: false, groups: null, dropRate: 0 };

export interface ShellStats {
  alarms: number;
  peerCalls: number;
  /** Peer calls by module and message type (`membership.ping`, `raft.app`, …): where the bill goes. */
  callsByType: Record<string, number>;
  peerCallFailures: number;
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
  readonly stats: ShellStats = { alarms: 0, peerCalls: 0, callsByType: {}, peerCallFailures: 0, chaosDropped: 0, since: Date.now() };
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
    await this.arm();
    return p;
  }

  async dispatch(sends: Envelope[]): Promise<void> {
    await Promise.all(sends.map((e) => this.sendOne(e)));
  }

  private async sendOne(e: Envelope): Promise<void> {
    if (this.chaos.crashed || !this.node) return;
    if (cut(this.chaos, this.self, e.to) || (this.chaos.dropRate > 0 && this.rng.chance(this.chaos.dropRate))) {
      this.stats.chaosDropped++;
      return;
    }
    this.stats.peerCalls++;
    const kind = `${e.mod}.${e.mod === "raft" ? (e.msg as { type: string }).type : e.type}`;
    this.stats.callsByType[kind] = (this.stats.callsByType[kind] ?? 0) + 1;
    const t0 = Date.now();
    let replies: unknown[] | null = null;
    try {
      replies = (await this.peer(e.to).deliver(e)) as unknown[] | null;
    } catch {
      replies = null;
    }
    this.report(e.to, e.mod, e.type, replies !== null, Date.now() - t0);
    for (const r of replies ?? []) {
      if (!this.node || this.chaos.crashed) return;
      this.commit(this.node.receive(r, Date.now()));
    }
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
   * created or restored.
   */
  attachMetrics(): void {
    const node = this.node;
    if (!node) return;
    node.mods.metrics.setCounterSource(() => ({
      alarms: this.stats.alarms,
      peerCalls: this.stats.peerCalls,
      peerCallFailures: this.stats.peerCallFailures,
      chaosDropped: this.stats.chaosDropped,
      rowsWritten: this.store.rowsWritten,
      ...node.counters(),
    }));
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
