// The agent core: everything one swarm agent decides, as a pure state machine.
// Inputs: a tick (`now`), a peer envelope, a command. Outputs: Effects — records to persist,
// envelopes to send, the next deadline. No clock, no randomness of its own, no I/O: the
// Durable Object shell and the simulator both drive this same code.
import type { SwarmConfig } from "./config";
import { parseEnvelope, WIRE_VERSION, type Envelope, type Outgoing } from "./envelope";
import type { AgentId } from "./ids";
import {
  cloneMember,
  digestNewer,
  digestOf,
  isLive,
  supersedes,
  type DigestEntry,
  type Member,
} from "./membership/member";
import type { Rng } from "./rng";
import { buildOverlay } from "./topology/overlay";

/** What must survive a restart besides the membership table. */
export interface AgentMeta {
  swarm: string;
  self: AgentId;
  config: SwarmConfig;
  /** active: ticking; left: announced a graceful leave; shutdown: the swarm was shut down. */
  state: "active" | "left" | "shutdown";
  createdAt: number;
}

export interface PersistedAgent {
  meta: AgentMeta;
  members: Member[];
}

export interface Effects {
  send: Envelope[];
  /** Non-null when the meta row changed. */
  meta: AgentMeta | null;
  /** Member rows to upsert (only persistent fields changed: inc, status, ver, caps, slots). */
  members: Member[];
  /** Earliest time the core wants `tick` called, or null for never. */
  nextDeadline: number | null;
  /** Human-readable notes on what happened (logs, recent-events feed). */
  events: string[];
}

export interface Counters {
  envelopesIn: number;
  envelopesOut: number;
  invalidDropped: number;
  ticks: number;
}

/** How many updates ride on one gossip envelope (memberlist bounds by packet size; we bound by count). */
const MAX_UPDATES_PER_MESSAGE = 64;
/** memberlist's RetransmitMult: each update is sent about λ·log10(n+1) times. */
const RETRANSMIT_MULT = 4;
/** One push-pull anti-entropy exchange every this many ticks, on average. */
const SYNC_EVERY_TICKS = 10;
/** How many seeds a newcomer asks at once. */
const JOIN_SEEDS = 3;

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

export class AgentCore {
  readonly meta: AgentMeta;
  private readonly members = new Map<string, Member>();
  private readonly rumors = new Map<string, { m: Member; sent: number }>();
  private readonly lastHeard = new Map<string, number>();
  private readonly rng: Rng;
  private nextTickAt: number;
  private peerCache: string[] | null = null;
  private liveCache: string[] | null = null;
  readonly counters: Counters = { envelopesIn: 0, envelopesOut: 0, invalidDropped: 0, ticks: 0 };
  private out: Effects;

  private constructor(meta: AgentMeta, rng: Rng, now: number) {
    this.meta = meta;
    this.rng = rng;
    // A random phase spreads the swarm's ticks over the interval instead of firing all at once.
    this.nextTickAt = now + Math.max(1, Math.floor(rng.next() * meta.config.gossip.intervalMs));
    this.out = emptyEffects();
  }

  static create(o: CreateOptions): { core: AgentCore; effects: Effects } {
    const meta: AgentMeta = { swarm: o.swarm, self: o.self, config: o.config, state: "active", createdAt: o.now };
    const core = new AgentCore(meta, o.rng, o.now);
    const me: Member = { id: o.self, inc: 0, status: "alive", ver: 1, caps: o.caps ?? [], slots: o.slots ?? 1, load: 0 };
    core.members.set(me.id, me);
    core.out.meta = { ...meta };
    core.out.members.push(cloneMember(me));
    for (const id of o.roster ?? []) {
      if (id === o.self || core.members.has(id)) continue;
      // Placeholder (ver 0): the member's own record, arriving by gossip, supersedes it.
      const m: Member = { id: id as AgentId, inc: 0, status: "alive", ver: 0, caps: [], slots: 1, load: 0 };
      core.members.set(id, m);
      core.out.members.push(cloneMember(m));
    }
    core.enqueueRumor(me);
    core.join(o.seeds ?? []);
    core.out.events.push(`created ${o.self} (${core.members.size} known members)`);
    return { core, effects: core.flush() };
  }

  /**
   * Rebuild from storage after a restart or eviction: memory (rumour queue, last-heard times) is lost,
   * storage is kept. The agent rejoins through its previous peers with a higher incarnation, so that
   * anyone who suspected or buried it meanwhile takes it back (SWIM §4.2 refutation).
   */
  static restore(p: PersistedAgent, now: number, rng: Rng): { core: AgentCore; effects: Effects } {
    const core = new AgentCore({ ...p.meta }, rng, now);
    for (const m of p.members) core.members.set(m.id, cloneMember(m));
    const me = core.members.get(p.meta.self);
    if (!me) throw new Error("persisted state lacks the agent's own record");
    if (core.meta.state === "active") {
      const next: Member = { ...me, inc: me.inc + 1, ver: me.ver + 1, status: "alive" };
      core.members.set(me.id, next);
      core.out.members.push(cloneMember(next));
      core.enqueueRumor(next);
      core.join(core.peers());
      core.out.events.push(`restored ${p.meta.self} at incarnation ${next.inc}; rejoining`);
    }
    return { core, effects: core.flush() };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** Called when the alarm fires. Idempotent: an early or repeated call does nothing. */
  tick(now: number): Effects {
    if (this.meta.state !== "active") return this.flush();
    if (now < this.nextTickAt) return this.flush();
    this.counters.ticks++;
    this.nextTickAt = now + this.meta.config.gossip.intervalMs;
    const targets = this.gossipTargets(this.meta.config.gossip.fanout);
    if (this.rumors.size > 0 && targets.length > 0) {
      for (const to of targets) {
        const updates = this.takeRumors();
        if (updates.length === 0) break;
        this.send({ type: "gossip", to: to as AgentId, updates });
      }
    }
    if (targets.length > 0 && this.rng.int(SYNC_EVERY_TICKS) === 0) {
      this.send({ type: "sync", to: targets[0] as AgentId, digest: this.digest() });
    }
    return this.flush();
  }

  /** A peer envelope arrived (unvalidated input from the network). */
  receive(raw: unknown, now: number): Effects {
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
    for (const to of this.gossipTargets(2 * this.meta.config.gossip.fanout)) {
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
  resync(records: Member[]): Effects {
    for (const m of records) this.merge(m);
    const targets = this.gossipTargets(this.meta.config.gossip.fanout);
    for (const to of targets) this.send({ type: "sync", to: to as AgentId, digest: this.digest() });
    return this.flush();
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
    if (!this.peerCache) {
      const g = buildOverlay(this.liveIds());
      this.peerCache = Array.from(g.get(this.meta.self) ?? []).sort();
    }
    return this.peerCache;
  }

  nextDeadline(): number | null {
    return this.meta.state === "active" ? this.nextTickAt : null;
  }

  // ---- protocol -----------------------------------------------------------------------------

  private step(env: Envelope): void {
    switch (env.type) {
      case "join": {
        this.merge(env.member);
        this.send({ type: "join_ack", to: env.from, members: this.membership() });
        return;
      }
      case "join_ack":
      case "gossip":
      case "sync_push": {
        const list = env.type === "join_ack" ? env.members : env.type === "gossip" ? env.updates : env.records;
        for (const m of list) this.merge(m);
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
        if (records.length > 0 || want.length > 0) this.send({ type: "sync_ack", to: env.from, records, want });
        return;
      }
      case "sync_ack": {
        for (const m of env.records) this.merge(m);
        const records: Member[] = [];
        for (const id of env.want) {
          const m = this.members.get(id);
          if (m) records.push(cloneMember(m));
        }
        if (records.length > 0) this.send({ type: "sync_push", to: env.from, records });
        return;
      }
      default: {
        const never: never = env;
        throw new Error(`unhandled envelope ${(never as Envelope).type}`);
      }
    }
  }

  /** Merge one record learned from a peer. Returns true if it changed our table. */
  private merge(m: Member): boolean {
    if (m.id === this.meta.self) {
      const me = this.self();
      // Someone believes we are suspect or dead at our current incarnation: refute (SWIM §4.2).
      if ((m.status === "suspect" || m.status === "dead") && m.inc >= me.inc && this.meta.state === "active") {
        const next: Member = { ...me, inc: m.inc + 1, ver: me.ver + 1, status: "alive" };
        this.members.set(me.id, next);
        this.out.members.push(cloneMember(next));
        this.enqueueRumor(next);
        this.out.events.push(`refuted ${m.status} at incarnation ${m.inc}`);
        return true;
      }
      return false;
    }
    const cur = this.members.get(m.id);
    if (!supersedes(m, cur)) {
      // Same record, fresher soft state (load): keep it in memory only.
      if (cur && cur.inc === m.inc && cur.status === m.status && cur.ver === m.ver) cur.load = m.load;
      return false;
    }
    const next = cloneMember(m);
    this.members.set(m.id, next);
    if (!cur || isLive(cur) !== isLive(next)) this.invalidate();
    this.out.members.push(cloneMember(next));
    this.enqueueRumor(next);
    if (!cur) this.out.events.push(`learned of ${m.id}`);
    else if (cur.status !== next.status) this.out.events.push(`${m.id}: ${cur.status} -> ${next.status}`);
    return true;
  }

  private join(seeds: readonly string[]): void {
    const me = this.self();
    const candidates = seeds.filter((s) => s !== this.meta.self);
    for (const to of this.rng.sample(candidates, JOIN_SEEDS)) {
      this.send({ type: "join", to: to as AgentId, member: cloneMember(me) });
    }
  }

  private enqueueRumor(m: Member): void {
    this.rumors.set(m.id, { m: cloneMember(m), sent: 0 });
  }

  private retransmitLimit(): number {
    return RETRANSMIT_MULT * Math.ceil(Math.log10(this.members.size + 1));
  }

  /** The least-sent rumours, each counted as one more transmission; exhausted ones retire. */
  private takeRumors(): Member[] {
    const all = Array.from(this.rumors.values());
    all.sort((a, b) => a.sent - b.sent);
    const chosen = all.slice(0, MAX_UPDATES_PER_MESSAGE);
    const limit = this.retransmitLimit();
    for (const r of chosen) {
      r.sent++;
      if (r.sent >= limit) this.rumors.delete(r.m.id);
    }
    return chosen.map((r) => cloneMember(r.m));
  }

  /** `k` random live members other than self (the epidemic model's uniform peer choice). */
  private gossipTargets(k: number): string[] {
    const live = this.liveIds();
    const others = live.filter((id) => id !== this.meta.self);
    return this.rng.sample(others, k);
  }

  private digest(): DigestEntry[] {
    return Array.from(this.members.values(), digestOf);
  }

  private invalidate(): void {
    this.peerCache = null;
    this.liveCache = null;
  }

  private send(o: Outgoing): void {
    this.counters.envelopesOut++;
    this.out.send.push({ ...o, v: WIRE_VERSION, swarm: this.meta.swarm, from: this.meta.self } as Envelope);
  }

  private flush(): Effects {
    const e = this.out;
    e.nextDeadline = this.nextDeadline();
    this.out = emptyEffects();
    return e;
  }
}

function emptyEffects(): Effects {
  return { send: [], meta: null, members: [], nextDeadline: null, events: [] };
}

/** For the sync reply: treat their digest entry as "ours" to ask whether our record is newer than theirs. */
function asMember(d: DigestEntry, m: Member): Member {
  const statuses = ["alive", "suspect", "dead", "left"] as const;
  return { id: m.id, inc: d[1], status: statuses[d[2]], ver: d[3], caps: [], slots: 0, load: 0 };
}
