// A deterministic simulator for the agent core (TigerBeetle VOPR / FoundationDB style): one seed
// derives every choice — message delays (so reordering), loss, duplication, symmetric and asymmetric
// partitions, stalls, crash-restart (memory lost, storage kept). It runs the very same AgentCore the
// Durable Object runs, applies each core's effects to a modelled disk *before* sending (as the shell
// does), keeps one timer per agent (the alarm), counts what Cloudflare would bill, and checks
// invariants after every event. A failure names its seed; `SIM_SEED=<n>` replays one seed.
import { ModelKeys } from "./keys";
import { resolveConfig, type SwarmConfigInput } from "../../src/core/config";
import type { AgentId } from "../../src/core/ids";
import type { Member } from "../../src/core/membership/member";
import { INBOX_PREFIX, type InboxEntry } from "../../src/core/messages/log";
import { Node } from "../../src/core/node";
import type { Effects, Envelope } from "../../src/core/protocol";
import { Rng } from "../../src/core/rng";
import { MemoryStore } from "../../src/core/store";

export interface NetworkOptions {
  delayMinMs: number;
  delayMaxMs: number;
  loss: number;
  duplicate: number;
  /**
   * Calibration from a real platform (see bench/calibrate): one-way delays sampled from measured peer-call
   * round trips (halved), and every alarm fired late by a sample of measured alarm lateness. Empty: the
   * uniform delays above and punctual alarms.
   */
  rttSamplesMs?: number[];
  alarmLateSamplesMs?: number[];
  /** Tell each sender how its calls went (as the shell does), so agents measure round trips. */
  reportCalls?: boolean;
}

export interface SimNode {
  id: string;
  core: Node | null;
  /** The modelled SQLite: the in-memory twin of the shell's row store (memory lost on crash, this kept). */
  disk: MemoryStore;
  /** Time of the armed alarm (null: none), and a generation to drop stale timer events. */
  alarmAt: number | null;
  gen: number;
  stalledUntil: number;
  /**
   * Billing model of the alarm: the Durable Object runs an alarm's exchanges (a ping and its inline
   * ack) before it re-arms once, so deadline changes inside that window cost one setAlarm, not one each.
   */
  billWindowUntil: number;
  billedAlarm: number | null;
  /** Delivered inbox, for exactly-once/in-order checks. */
  inbox: string[];
  inboxSeen: Set<string>;
  bill: Bill;
  /** Under `signing`: a lying agent signs with a wrong key (chaos `byzantine: forge`). */
  forge?: boolean;
  /** Under `signing`: envelopes this agent dropped because a signed part did not verify. */
  forgedDropped?: number;
}

export interface Bill {
  alarms: number;
  peerCalls: number;
  rowsWritten: number;
}

type Event =
  | { t: number; seq: number; kind: "tick"; node: string; gen: number }
  | { t: number; seq: number; kind: "deliver"; node: string; env: Envelope }
  | { t: number; seq: number; kind: "refused"; node: string; env: Envelope; ms: number }
  | { t: number; seq: number; kind: "answered"; node: string; env: Envelope; ms: number }
  | { t: number; seq: number; kind: "call"; fn: () => void };


export class Simulator {
  readonly rng: Rng;
  now = 0;
  readonly nodes = new Map<string, SimNode>();
  readonly net: NetworkOptions;
  private heap: Event[] = [];
  private seq = 0;
  private groups: Map<string, number> | null = null;
  private readonly cutLinks = new Set<string>();
  private traceHash = 0x811c9dc5;
  events = 0;
  checkInvariants = true;
  /** Observers for measurements: called after an agent handled an input. */
  onEffects: Array<(node: SimNode, fx: Effects) => void> = [];
  readonly raftLeaders = new Map<number, string>();
  /** The term of the entry applied at each log index, by whoever applied it first (State Machine Safety). */
  readonly appliedTerms = new Map<number, number>();
  /** Billed calls each agent made, by `mod.type` (an envelope carrying a `msg` by its type), like the shell's `callsByType`. */
  readonly sentByType = new Map<string, Record<string, number>>();

  /**
   * Signatures, as the shell does them (`enableSigning`): each agent's key pinned through the log, every
   * signed part of an outgoing envelope signed, every signed part of an incoming one verified against
   * the pinned key before the node sees it. The model scheme (./keys.ts) stands in for Ed25519.
   */
  private keys: ModelKeys | null = null;

  constructor(readonly seed: number, net: Partial<NetworkOptions> = {}) {
    this.rng = new Rng(seed);
    this.net = { delayMinMs: 1, delayMaxMs: 10, loss: 0, duplicate: 0, ...net };
  }

  // ---- setup --------------------------------------------------------------------------------

  /** n agents created together (like `POST /v1/swarms {agents: n}`): a shared roster. */
  createSwarm(n: number, config: SwarmConfigInput = {}, prefix = "agent-"): string[] {
    const cfg = resolveConfig(config);
    const ids = Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
    for (const id of ids) {
      const node = this.addNode(id);
      const { node: core, effects } = Node.create({
        swarm: "sim", self: id as AgentId, config: cfg, roster: ids, now: this.now, rng: this.rng.fork(),
      });
      node.core = core;
      this.handle(node, effects);
    }
    return ids;
  }

  /** One agent joining through seeds (like `POST …/agents {seeds}`). */
  join(id: string, seeds: string[], config: SwarmConfigInput = {}): void {
    const node = this.addNode(id);
    const { node: core, effects } = Node.create({
      swarm: "sim", self: id as AgentId, config: resolveConfig(config), seeds, now: this.now, rng: this.rng.fork(),
    });
    node.core = core;
    this.handle(node, effects);
    this.pinKey(node);
  }

  /** Turn on signing (see `keys`): every live agent pins its model public key through the log now. */
  enableSigning(): void {
    this.keys = new ModelKeys(this.seed);
    for (const n of this.nodes.values()) this.pinKey(n);
  }

  private pinKey(n: SimNode): void {
    if (!this.keys || !n.core) return;
    this.handle(n, n.core.run(this.now, (m) => m.proposals.pinKey(`model:${n.id}`)).effects);
  }

  /** The shell's outgoing step: sign the parts a signing module asks for (a forger signs garbage). */
  private sign(from: SimNode, env: Envelope): Envelope {
    const d = this.keys && from.core ? from.core.signingFor(env.mod) : undefined;
    if (!d || !this.keys) return env;
    const { env: out, items } = d.outgoing(env);
    for (const it of items) it.set(from.forge ? this.keys.sign(`not-${from.id}`, it.payload) : this.keys.sign(from.id, it.payload));
    return out;
  }

  /** The shell's incoming step: every signed part must verify against its signer's pinned key. */
  private verified(node: SimNode, env: Envelope): boolean {
    const d = this.keys && node.core ? node.core.signingFor(env.mod) : undefined;
    if (!d || !this.keys || node.core!.receiveCheck(env) !== null) return true;
    let parts;
    try {
      parts = d.incoming(env);
    } catch {
      return false;
    }
    const book = node.core!.mods.proposals;
    for (const p of parts) {
      if (p.sig === null || book.pinnedKey(p.signer) !== `model:${p.signer}` || !this.keys.verify({ ...p, sig: p.sig })) return false;
    }
    return true;
  }

  private addNode(id: string): SimNode {
    const node: SimNode = {
      id, core: null, alarmAt: null, gen: 0, stalledUntil: 0, inbox: [], inboxSeen: new Set(), billWindowUntil: -1, billedAlarm: null,
      disk: new MemoryStore(),
      bill: { alarms: 0, peerCalls: 0, rowsWritten: 0 },
    };
    this.nodes.set(id, node);
    return node;
  }

  // ---- faults -------------------------------------------------------------------------------

  crash(id: string): void {
    const n = this.nodes.get(id)!;
    n.core = null; // memory lost; disk kept
    n.alarmAt = null;
    n.gen++;
  }

  restart(id: string, afterCrash = true): void {
    const n = this.nodes.get(id)!;
    if (n.core) return;
    const r = Node.restore((mod, cold) => n.disk.load(mod, cold), this.now, this.rng.fork(), afterCrash);
    if (!r) return;
    n.core = r.node;
    this.handle(n, r.effects);
    this.pinKey(n); // the shell re-pins a key the log does not show yet (idempotent)
  }

  /** Pause an agent (GC pause, overloaded isolate): it processes nothing until `until`, then catches up. */
  stall(id: string, durationMs: number): void {
    const n = this.nodes.get(id)!;
    n.stalledUntil = Math.max(n.stalledUntil, this.now + durationMs);
  }

  /** Symmetric partition: every link between different groups is cut. Unlisted agents form one more group. */
  partition(groups: string[][]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.groups!.set(id, i)));
  }

  /** Asymmetric: envelopes from `from` to `to` are lost; the other direction still works. */
  cutLink(from: string, to: string): void {
    this.cutLinks.add(`${from}>${to}`);
  }

  heal(): void {
    this.groups = null;
    this.cutLinks.clear();
  }

  private linkDown(from: string, to: string): boolean {
    if (this.cutLinks.has(`${from}>${to}`)) return true;
    if (!this.groups) return false;
    const a = this.groups.get(from) ?? -1;
    const b = this.groups.get(to) ?? -1;
    return a !== b;
  }

  // ---- running ------------------------------------------------------------------------------

  at(t: number, fn: () => void): void {
    this.push({ t, seq: this.seq++, kind: "call", fn });
  }

  runUntil(t: number): void {
    while (this.heap.length && this.heap[0].t <= t) this.stepOne();
    this.now = Math.max(this.now, t);
  }

  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** Run until `pred` holds (checked after every event) or `maxMs` passes; returns the time it held or null. */
  runUntilTrue(pred: () => boolean, maxMs: number, checkEveryEvents = 1): number | null {
    const end = this.now + maxMs;
    let k = 0;
    if (pred()) return this.now;
    while (this.heap.length && this.heap[0].t <= end) {
      this.stepOne();
      if (++k % checkEveryEvents === 0 && pred()) return this.now;
    }
    this.now = Math.max(this.now, end);
    return pred() ? this.now : null;
  }

  trace(): number {
    return this.traceHash >>> 0;
  }

  private stepOne(): void {
    const e = this.pop();
    this.now = Math.max(this.now, e.t);
    this.events++;
    if (e.kind === "call") {
      e.fn();
      return;
    }
    const node = this.nodes.get(e.node);
    if (!node || !node.core) return;
    if (node.stalledUntil > this.now) {
      // Paused: the input waits (like bytes in a socket buffer, or an alarm that fires late).
      this.push({ ...e, t: node.stalledUntil, seq: this.seq++ });
      return;
    }
    if (e.kind === "tick") {
      if (e.gen !== node.gen) return;
      node.alarmAt = null;
      node.bill.alarms++;
      node.billedAlarm = null;
      node.billWindowUntil = this.now + 2 * this.net.delayMaxMs;
      const n = node;
      this.at(node.billWindowUntil, () => {
        if (n.alarmAt !== n.billedAlarm && n.alarmAt !== null) (n.bill.rowsWritten++, (n.billedAlarm = n.alarmAt));
      });
      this.mix(1, e.t, node.id, "tick");
      this.handle(node, node.core.tick(this.now));
    } else if (e.kind === "answered") {
      this.handle(node, node.core.called({ to: e.env.to, mod: e.env.mod, type: e.env.type, ok: true, ms: e.ms }, this.now));
    } else if (e.kind === "refused") {
      // The shell learns that a peer call failed (the Durable Object of a crashed agent refuses it).
      this.mix(3, e.t, node.id, e.env.to);
      this.handle(node, node.core.called({ to: e.env.to, mod: e.env.mod, type: e.env.type, ok: false, ms: e.ms }, this.now));
    } else {
      this.mix(2, e.t, node.id, e.env.type + e.env.from);
      if (!this.verified(node, e.env)) {
        node.forgedDropped = (node.forgedDropped ?? 0) + 1;
        return;
      }
      // What it sends back to the sender rides inline on the sender's call (the shell's rule): not a call of its own.
      this.handle(node, node.core.receive(e.env, this.now), e.env.from);
    }
  }

  /** The shell's job: persist (counting rows), then send, then re-arm the one alarm. */
  handle(node: SimNode, fx: Effects, replyTo?: string): void {
    const before = node.disk.rowsWritten;
    node.disk.apply(fx.writes);
    node.bill.rowsWritten += node.disk.rowsWritten - before;
    for (const w of fx.writes) {
      if (w.mod !== "messages" || w.op.op !== "put" || !w.op.key.startsWith(INBOX_PREFIX)) continue;
      const i = w.op.value as InboxEntry;
      if (node.inboxSeen.has(i.messageId)) throw this.fail(`${node.id} got ${i.messageId} twice`);
      node.inboxSeen.add(i.messageId);
      node.inbox.push(i.messageId);
    }
    for (const obs of this.onEffects) obs(node, fx);
    if (this.checkInvariants) this.check(node, fx);
    for (const env of fx.send) this.transmit(node, env, env.to === replyTo);
    const deadline = fx.nextDeadline;
    // The shell's alarm policy: inside an alarm's run (its exchanges) the alarm is set exactly, once at
    // the end; any other input only moves it earlier — a later deadline leaves the alarm to fire early,
    // do nothing (ticks are idempotent) and re-arm, which is cheaper than a row written per input.
    const inAlarmRun = this.now <= node.billWindowUntil;
    const keep = !inAlarmRun && deadline !== null && node.alarmAt !== null && node.alarmAt > this.now && node.alarmAt <= deadline;
    if (deadline !== node.alarmAt && !keep) {
      node.gen++;
      node.alarmAt = deadline;
      if (deadline !== null) {
        // setAlarm is a row written (billed at the end of an alarm's exchanges, see billWindowUntil).
        if (this.now > node.billWindowUntil && deadline !== node.billedAlarm) (node.bill.rowsWritten++, (node.billedAlarm = deadline));
        this.push({ t: Math.max(deadline, this.now) + this.alarmLateness(), seq: this.seq++, kind: "tick", node: node.id, gen: node.gen });
      }
    }
  }

  /** One-way delay: a sample of measured round trips (halved) when calibrated, else uniform. */
  private delay(): number {
    const s = this.net.rttSamplesMs;
    if (s && s.length) return Math.max(0, Math.round(s[this.rng.int(s.length)] / 2));
    return this.net.delayMinMs + this.rng.int(this.net.delayMaxMs - this.net.delayMinMs + 1);
  }

  /** How late an alarm fires: a sample of measured lateness when calibrated, else on time. */
  private alarmLateness(): number {
    const s = this.net.alarmLateSamplesMs;
    return s && s.length ? s[this.rng.int(s.length)] : 0;
  }

  private transmit(from: SimNode, env0: Envelope, inline: boolean): void {
    const env = this.sign(from, env0);
    if (!inline) {
      from.bill.peerCalls++;
      const kind = `${env.mod}.${(env.msg as { type?: string } | undefined)?.type ?? env.type}`;
      let c = this.sentByType.get(from.id);
      if (!c) this.sentByType.set(from.id, (c = {}));
      c[kind] = (c[kind] ?? 0) + 1;
    }
    if (this.linkDown(from.id, env.to)) return;
    if (this.rng.chance(this.net.loss)) return;
    const target = this.nodes.get(env.to);
    if (target && !target.core && !inline) {
      // A crashed agent's Durable Object refuses the call at once: the caller sees the failure (a
      // partition, by contrast, loses envelopes silently).
      const rtt = 2 * this.delay();
      this.push({ t: this.now + rtt, seq: this.seq++, kind: "refused", node: from.id, env, ms: rtt });
      return;
    }
    if (this.net.reportCalls && target?.core && !inline) {
      const rtt = 2 * this.delay();
      this.push({ t: this.now + rtt, seq: this.seq++, kind: "answered", node: from.id, env, ms: rtt });
    }
    const copies = this.rng.chance(this.net.duplicate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.delay();
      // Envelopes cross the wire as JSON: the receiver never shares objects with the sender.
      this.push({ t: this.now + delay, seq: this.seq++, kind: "deliver", node: env.to, env: JSON.parse(JSON.stringify(env)) });
    }
  }

  // ---- invariants ---------------------------------------------------------------------------

  fail(msg: string): Error {
    return new Error(`${msg} — seed ${this.seed}, t=${this.now} ms, event ${this.events}; replay: SIM_SEED=${this.seed}`);
  }

  /** Checked after every input an agent handles (cheap, local to what changed). */
  private check(node: SimNode, fx: Effects): void {
    const core = node.core;
    if (!core) return;
    const mm = core.mods.membership;
    for (const w of fx.writes) {
      if (w.mod !== "membership" || w.op.op !== "put") continue;
      // 1. What the core holds in memory for changed members is exactly what is on its disk.
      const m = w.op.value as Member;
      const mem = mm.member(m.id);
      const disk = node.disk.get("membership", `member:${m.id}`) as Member | undefined;
      if (!mem || !disk || mem.inc !== disk.inc || mem.status !== disk.status || mem.ver !== disk.ver) {
        throw this.fail(`${node.id}: memory and disk disagree on ${m.id}`);
      }
      // 2. Only an agent raises its own incarnation: nobody holds a higher one than the agent's own disk.
      const owner = this.nodes.get(m.id);
      const ownInc = (owner?.disk.get("membership", `member:${m.id}`) as Member | undefined)?.inc;
      if (ownInc !== undefined && m.inc > ownInc) throw this.fail(`${node.id} holds ${m.id}@${m.inc} above its own ${ownInc}`);
    }
    // 3. An active agent that knows ≥ 4 live members keeps 3–5 peers.
    if (core.meta.state === "active" && mm.liveIds().length >= 4) {
      const p = mm.peers().length;
      if (p < 3 || p > 5) throw this.fail(`${node.id} has ${p} peers`);
    }
    // 4. Raft Election Safety: at most one leader per term.
    const rs = core.mods.raft.status();
    if (rs && rs.role === "leader") {
      const l = this.raftLeaders.get(rs.term);
      if (l !== undefined && l !== node.id) throw this.fail(`two leaders in term ${rs.term}: ${l} and ${node.id}`);
      this.raftLeaders.set(rs.term, node.id);
    }
    // 5. State Machine Safety (Raft §3.6.3): every agent — voter or learner, however the entries reached
    //    it (appends, the spreading tree, pulls, snapshots) — applies the same entry (by term) at an index.
    for (const o of fx.outputs) {
      if (o.mod !== "raft" || !o.key.startsWith("applied:")) continue;
      const i = Number(o.key.slice("applied:".length));
      const term = (o.value as { term: number }).term;
      const seen = this.appliedTerms.get(i);
      if (seen === undefined) this.appliedTerms.set(i, term);
      else if (seen !== term) throw this.fail(`${node.id} applied index ${i} at term ${term}, another agent at term ${seen}`);
    }
  }

  // ---- queries ------------------------------------------------------------------------------

  live(): SimNode[] {
    return Array.from(this.nodes.values()).filter((n) => n.core && n.core.meta.state === "active");
  }

  /** Does every live agent hold the same live set, equal to the set of agents actually running? */
  converged(): boolean {
    const running = this.live().map((n) => n.id).sort().join(",");
    return this.live().every((n) => n.core!.mods.membership.liveIds().join(",") === running);
  }

  statusAt(viewer: string, target: string): string | undefined {
    return this.nodes.get(viewer)?.core?.mods.membership.member(target)?.status;
  }

  billTotal(): Bill {
    const b: Bill = { alarms: 0, peerCalls: 0, rowsWritten: 0 };
    for (const n of this.nodes.values()) (b.alarms += n.bill.alarms, b.peerCalls += n.bill.peerCalls, b.rowsWritten += n.bill.rowsWritten);
    return b;
  }

  resetBills(): void {
    for (const n of this.nodes.values()) n.bill = { alarms: 0, peerCalls: 0, rowsWritten: 0 };
  }

  // ---- heap -----------------------------------------------------------------------------------

  private mix(kind: number, t: number, node: string, s: string): void {
    let h = this.traceHash ^ kind;
    h = Math.imul(h ^ t, 0x01000193);
    const str = node + s;
    for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
    this.traceHash = h >>> 0;
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Event, b: Event): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** Seeds to run: SIM_SEED replays one; otherwise `count` seeds from `base`. */
export function seeds(count: number, base = 1): number[] {
  const one = process.env.SIM_SEED;
  if (one) return [Number(one)];
  return Array.from({ length: count }, (_, i) => base + i);
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
