// One swarm agent, as a pure composer of protocol modules (src/core/modules.ts lists them).
// Inputs: a tick (`now`), a peer envelope, a command from the shell, the outcome of a peer call.
// Output: one `Effects` — rows to persist, envelopes to send, answers for waiting requests, log
// events, the next deadline. No clock, no randomness of its own, no I/O: the Durable Object shell and
// the simulator both drive this same code. The node holds no protocol logic: it routes each envelope to
// its module by `mod`, asks every module for its deadline and takes the earliest, passes membership
// changes and call outcomes to every module, and refuses writes when a module says this side is read-only.
import type { SwarmConfig } from "./config";
import { Deadlines } from "./deadlines";
import { parseEnvelope } from "./envelope";
import type { AgentId } from "./ids";
import { buildModules, type Modules } from "./modules";
import {
  emptyEffects, WIRE_VERSION, type CallResult, type Context, type Effects, type Envelope, type InitOptions, type LogEvent,
  type MemberChange, type Module, type Persisted, type PiggybackDelegate, type SigningDelegate, type StoreOp, type SyncDelegate,
} from "./protocol";
import type { Rng } from "./rng";

/** What must survive a restart besides the modules' own rows. */
export interface AgentMeta {
  swarm: string;
  self: AgentId;
  config: SwarmConfig;
  /** active: ticking; left: announced a graceful leave; shutdown: the swarm was shut down. */
  state: "active" | "left" | "shutdown";
  createdAt: number;
  /** The agents created together with this one: their initial records are implied (one row, not n). */
  roster?: string[];
}

export interface CreateOptions extends InitOptions {
  swarm: string;
  self: AgentId;
  config: SwarmConfig;
  now: number;
  rng: Rng;
}

/** Reads one module's persisted rows (all but its cold prefixes). */
export type Loader = (mod: string, coldPrefixes: readonly string[]) => Persisted;

export const NODE_MOD = "node";

export class Node {
  readonly mods: Modules;
  private readonly list: Module[];
  private readonly byName: Map<string, Module>;
  private readonly delegatesFor = new Map<string, ReadonlyMap<string, SyncDelegate>>();
  private readonly piggybacksFor = new Map<string, ReadonlyMap<string, PiggybackDelegate>>();
  private readonly board = new Map<string, unknown>();
  private readonly lastHeard = new Map<string, number>();
  private out: Effects = emptyEffects();
  private now: number;
  private armedAt: number | null = null;
  private readonly requestDeadlines = new Deadlines();
  private readonly stats = { envelopesIn: 0, envelopesOut: 0, invalidDropped: 0, ticks: 0 };

  private constructor(readonly meta: AgentMeta, rng: Rng, now: number) {
    this.now = now;
    this.mods = buildModules((mod) => this.context(mod, rng));
    this.list = Object.values(this.mods);
    this.byName = new Map(this.list.map((m) => [m.name, m]));
    for (const m of this.list) {
      const others = this.list.filter((o) => o !== m);
      this.delegatesFor.set(m.name, new Map(others.flatMap((o) => (o.sync ? [[o.name, o.sync] as const] : []))));
      this.piggybacksFor.set(m.name, new Map(others.flatMap((o) => (o.piggyback ? [[o.name, o.piggyback] as const] : []))));
    }
  }

  static create(o: CreateOptions): { node: Node; effects: Effects } {
    const meta: AgentMeta = { swarm: o.swarm, self: o.self, config: o.config, state: "active", createdAt: o.now };
    if (o.roster?.length) meta.roster = o.roster.slice();
    const node = new Node(meta, o.rng, o.now);
    node.saveMeta();
    for (const m of node.list) m.init?.(o);
    node.log("info", NODE_MOD, "created", { members: node.mods.membership.liveIds().length });
    return { node, effects: node.flush() };
  }

  /** Rebuild from storage after an eviction (memory lost, storage kept) or, `afterCrash`, a crash. */
  static restore(load: Loader, now: number, rng: Rng, afterCrash = false): { node: Node; effects: Effects } | null {
    const meta = load(NODE_MOD, []).rows.get("meta") as AgentMeta | undefined;
    if (!meta) return null;
    const node = new Node({ ...meta }, rng, now);
    for (const m of node.list) m.restore?.(load(m.name, m.coldPrefixes ?? []), meta.roster ?? [], afterCrash);
    return { node, effects: node.flush() };
  }

  /** The alarm fired. Idempotent: only what is due runs; an early call does nothing. */
  tick(now: number): Effects {
    this.now = now;
    if (this.meta.state !== "active") return this.flush();
    this.stats.ticks++;
    const lateMs = this.armedAt === null ? 0 : Math.max(0, now - this.armedAt);
    for (const m of this.list) m.tick(now, lateMs);
    // After the modules: an answer produced by this very tick reaches its request before the deadline does.
    if (this.requestDeadlines.takeDue(now)) this.out.outputs.push({ mod: NODE_MOD, key: "deadline", value: now });
    return this.flush();
  }

  /** Why an envelope is malformed (null: well formed) — what `receive` would drop it for. */
  receiveCheck = (raw: unknown): string | null => this.check(raw).reason;
  private check(raw: unknown): { env: Envelope | null; mod: Module | undefined; reason: string | null } {
    const env = parseEnvelope(raw);
    if (typeof env === "string") return { env: null, mod: undefined, reason: env };
    const mod = this.byName.get(env.mod);
    return { env, mod, reason: mod ? mod.validate(env) : `unknown module ${env.mod}` };
  }

  /** A peer envelope arrived (unvalidated input from the network). */
  receive(raw: unknown, now: number): Effects {
    this.now = now;
    const { env, mod, reason } = this.check(raw);
    if (reason !== null || !env || !mod || env.swarm !== this.meta.swarm || env.to !== this.meta.self) {
      this.stats.invalidDropped++;
      if (reason !== null) this.log("debug", NODE_MOD, "dropped_invalid", { reason });
      return this.flush();
    }
    if (this.meta.state === "shutdown") return this.flush();
    this.stats.envelopesIn++;
    this.lastHeard.set(env.from, now);
    mod.receive(env);
    return this.flush();
  }

  /** A command from the shell (a client request): `fn` calls into the modules; its result comes back with the effects. */
  run<T>(now: number, fn: (mods: Modules) => T): { result: T; effects: Effects } {
    this.now = now;
    const result = fn(this.mods);
    return { result, effects: this.flush() };
  }

  /** How a peer call went (the shell made it): every module may act on the evidence. */
  called(r: CallResult, now: number): Effects {
    this.now = now;
    for (const m of this.list) m.onCall?.(r);
    return this.flush();
  }

  /** A request waits until `at` at most: the alarm fires then and answers `node/deadline`. */
  waitUntil = (at: number): void => this.requestDeadlines.add(at);
  waitDone = (at: number): void => this.requestDeadlines.remove(at); // answered before `at`: no need to wake then
  waiting = (): number => this.requestDeadlines.size; // requests whose deadline would still wake the agent

  /** Graceful leave: every module says goodbye, then the agent stops ticking. */
  leave(now: number): Effects {
    this.now = now;
    if (this.meta.state !== "active") return this.flush();
    for (const m of this.list) m.onLeave?.();
    this.meta.state = "left";
    this.saveMeta();
    return this.flush();
  }

  /** The swarm is shutting down (`network_shutdown`): stop everything, answer nothing. */
  shutdown(now: number): Effects {
    this.now = now;
    if (this.meta.state === "shutdown") return this.flush();
    this.meta.state = "shutdown";
    this.saveMeta();
    this.log("info", NODE_MOD, "shutdown");
    return this.flush();
  }

  /** Read-only when any module says so (the most restrictive answer wins). */
  mode(): "read-write" | "read-only" {
    return this.list.some((m) => m.mode?.() === "read-only") ? "read-only" : "read-write";
  }

  nextDeadline(): number | null {
    if (this.meta.state !== "active") return null;
    let d: number | null = null;
    for (const t of [...this.list.map((m) => m.nextDeadline()), this.requestDeadlines.earliest()]) if (t !== null && (d === null || t < d)) d = t;
    return d;
  }

  /** The signing delegate of a module whose envelopes carry signatures (the shell signs and checks). */
  signingFor = (mod: string): SigningDelegate | undefined => this.byName.get(mod)?.signing;

  /** The agent's own view (`GET …/agents/:id`): each module contributes its part. */
  view(): Record<string, unknown> {
    const out: Record<string, unknown> = { agentId: this.meta.self, swarmId: this.meta.swarm, state: this.meta.state, mode: this.mode() };
    for (const m of this.list) Object.assign(out, m.describe?.());
    return out;
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { ...this.stats };
    for (const m of this.list) for (const [k, v] of Object.entries(m.counters?.() ?? {})) out[`${m.name}.${k}`] = v;
    return out;
  }

  /** Each module's context. Its random stream is forked from the agent's on first use (modules that never draw cost none). */
  private context(mod: string, root: Rng): Context {
    const node = this;
    let rng: Rng | null = null;
    return {
      swarm: this.meta.swarm,
      self: this.meta.self,
      config: this.meta.config,
      get rng() {
        // The membership module draws from the agent's own stream (it always has; seeded runs repeat).
        return (rng ??= mod === "membership" ? root : root.fork());
      },
      get members() {
        return node.mods.membership;
      },
      now: () => node.now,
      lateMs: () => (node.armedAt === null ? 0 : Math.max(0, node.now - node.armedAt)),
      platform: () => node.list.find((m) => m.platform)?.platform?.() ?? { alarmLateP99Ms: 0, callP99Ms: 0 },
      active: () => node.meta.state === "active",
      send: (to, type, body = {}) => {
        node.stats.envelopesOut++;
        node.out.send.push({ ...body, v: WIRE_VERSION, swarm: node.meta.swarm, from: node.meta.self, to: to as AgentId, mod, type } as Envelope);
      },
      persist: (op: StoreOp) => node.out.writes.push({ mod, op }),
      output: (key, value) => node.out.outputs.push({ mod, key, value }),
      log: (level, event, fields) => node.log(level, mod, event, fields),
      observe: (metric, value) => node.list.forEach((m) => m.onObserve?.(mod, metric, value)),
      delegates: () => node.delegatesFor.get(mod)!,
      piggybacks: () => node.piggybacksFor.get(mod)!,
      publish: (key, value) => void node.board.set(key, value),
      fact: <T>(key: string) => node.board.get(key) as T | undefined,
      heardAt: (id) => node.lastHeard.get(id),
      heard: (id) => void node.lastHeard.set(id, node.now),
      changed: (c: MemberChange) => {
        for (const m of node.list) if (m.name !== mod) m.onMemberChange?.(c);
      },
    };
  }

  private log(level: LogEvent["level"], mod: string, event: string, fields?: Record<string, unknown>): void {
    this.out.events.push({ level, mod, event, ...fields });
  }

  private saveMeta(): void {
    this.out.writes.push({ mod: NODE_MOD, op: { op: "put", key: "meta", value: structuredClone(this.meta) } });
  }

  private flush(): Effects {
    for (const m of this.list) m.flush?.();
    const e = this.out;
    e.nextDeadline = this.nextDeadline();
    this.armedAt = e.nextDeadline;
    this.out = emptyEffects();
    return e;
  }
}
