// A small seeded network for the reachability tracker (src/core/partition/reach.ts), standing in for the
// agent until it is integrated: each node probes its overlay peers once a round the way SWIM does (a ping
// to every peer it has not heard from this round, answered by an ack), every envelope carries the
// tracker's digest, and the tracker's reach probes go out as plain pings. Links can be cut in one or both
// directions, flap, lose and delay messages. Time is simulated (ms); nothing here reads a clock.
import { ReachTracker, type Mode, type ModeRule, type ReachDigest, type ReachOptions } from "../../src/core/partition/reach";
import { validReachDigest } from "../../src/core/partition/validate";
import { Rng } from "../../src/core/rng";
import { buildOverlay } from "../../src/core/topology/overlay";
import { diameter } from "../../src/core/topology/analysis";

export interface NetOptions {
  seed: number;
  n?: number;
  ids?: string[];
  voters?: string[];
  periodMs?: number;
  delayMinMs?: number;
  delayMaxMs?: number;
  loss?: number;
  rule?: ModeRule;
  tracker?: Partial<Pick<ReachOptions, "staleRounds" | "upRounds" | "maxUpRounds" | "maxEntries" | "maxDeaf">>;
  /** Messages per round to one random member besides the overlay peers (SWIM's gossip round while rumours spread). */
  randomContacts?: number;
}

type Kind = "ping" | "ack" | "gossip";

interface Msg {
  kind: Kind;
  from: string;
  to: string;
  digest: ReachDigest;
  /** A reach probe's ping (its ack counts, its loss suspects no one). */
  reach?: boolean;
}

type Ev = { t: number; seq: number; kind: "wake"; node: string; gen: number } | { t: number; seq: number; kind: "msg"; msg: Msg } | { t: number; seq: number; kind: "call"; fn: () => void };

export interface NetNode {
  id: string;
  tracker: ReachTracker;
  peers: string[];
  lastHeard: Map<string, number>;
  nextRoundAt: number;
  wakeAt: number;
  gen: number;
  /** Every mode change: [time, mode]. The first entry is the start (read-write). */
  modes: Array<[number, Mode]>;
  events: string[];
}

export class ReachNet {
  readonly rng: Rng;
  readonly ids: string[];
  readonly voters: string[];
  readonly periodMs: number;
  readonly hops: number;
  readonly nodes = new Map<string, NetNode>();
  now = 0;
  readonly stats = { wakes: 0, pings: 0, acks: 0, gossip: 0, reachProbes: 0, dropped: 0, delivered: 0 };
  private heap: Ev[] = [];
  private seq = 0;
  private readonly opts: Required<Pick<NetOptions, "delayMinMs" | "delayMaxMs" | "loss" | "randomContacts">>;
  /** Directed cuts "from>to"; and an optional rule evaluated per message. */
  private readonly cuts = new Set<string>();
  private blocked: ((from: string, to: string, now: number) => boolean) | null = null;

  constructor(o: NetOptions) {
    this.rng = new Rng(o.seed);
    this.ids = o.ids ?? Array.from({ length: o.n ?? 12 }, (_, i) => `agent-${i + 1}`);
    this.voters = o.voters ?? this.ids.slice(0, 5);
    this.periodMs = o.periodMs ?? 1000;
    this.opts = { delayMinMs: o.delayMinMs ?? 1, delayMaxMs: o.delayMaxMs ?? 20, loss: o.loss ?? 0, randomContacts: o.randomContacts ?? 0 };
    const g = buildOverlay(this.ids);
    this.hops = diameter(g);
    for (const id of this.ids) {
      const tracker = new ReachTracker({
        self: id, now: 0, periodMs: this.periodMs, hops: this.hops, members: this.ids, voters: this.voters, rule: o.rule, ...o.tracker,
      });
      const phase = 1 + this.rng.int(this.periodMs);
      const node: NetNode = {
        id, tracker, peers: Array.from(g.get(id)!).sort(), lastHeard: new Map(), nextRoundAt: phase, wakeAt: Infinity, gen: 0,
        modes: [[0, "read-write"]], events: [],
      };
      this.nodes.set(id, node);
      this.schedule(node, phase);
    }
  }

  /** Rounds (of this network's period) after which every side without a voter quorum must be read-only. */
  boundRounds(): number {
    return this.nodes.get(this.ids[0])!.tracker.timing().rounds;
  }

  // ---- faults -----------------------------------------------------------------------------------

  /** Symmetric partition: every link between different groups is cut (unlisted nodes form one more group). */
  partition(groups: string[][]): void {
    this.cuts.clear();
    const side = this.sideMap(groups);
    for (const a of this.ids) for (const b of this.ids) if (side.get(a) !== side.get(b)) this.cuts.add(`${a}>${b}`);
  }

  /** One-way cut: messages from any of `from` to any of `to` are lost; the other direction works. */
  cutOneWay(from: string[], to: string[]): void {
    for (const a of from) for (const b of to) if (a !== b) this.cuts.add(`${a}>${b}`);
  }

  /** A rule deciding per message whether it is lost (on top of the cuts): flapping links. */
  setBlocked(f: ((from: string, to: string, now: number) => boolean) | null): void {
    this.blocked = f;
  }

  heal(): void {
    this.cuts.clear();
    this.blocked = null;
  }

  at(t: number, fn: () => void): void {
    this.push({ t, seq: ++this.seq, kind: "call", fn });
  }

  // ---- running ----------------------------------------------------------------------------------

  runUntil(t: number): void {
    while (this.heap.length && this.heap[0].t <= t) {
      const ev = this.pop()!;
      this.now = ev.t;
      if (ev.kind === "call") ev.fn();
      else if (ev.kind === "wake") this.wake(ev.node, ev.gen);
      else this.deliver(ev.msg);
    }
    this.now = t;
  }

  mode(id: string): Mode {
    return this.nodes.get(id)!.tracker.mode();
  }

  /** The mode `id` was in at time `t` (from its change log). */
  modeAt(id: string, t: number): Mode {
    const log = this.nodes.get(id)!.modes;
    let m: Mode = "read-write";
    for (const [at, mode] of log) if (at <= t) m = mode;
    return m;
  }

  /** Mode changes of `id` within [from, to]. */
  changes(id: string, from = 0, to = Infinity): number {
    return this.nodes.get(id)!.modes.filter(([t], i) => i > 0 && t >= from && t <= to).length;
  }

  private sideMap(groups: string[][]): Map<string, number> {
    const side = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((id) => side.set(id, i)));
    for (const id of this.ids) if (!side.has(id)) side.set(id, groups.length);
    return side;
  }

  private wake(id: string, gen: number): void {
    const node = this.nodes.get(id)!;
    if (gen !== node.gen) return;
    node.wakeAt = Infinity;
    this.stats.wakes++;
    const now = this.now;
    const r = node.tracker.tick(now);
    for (const e of r.events) node.events.push(`${now} ${e}`);
    const m = node.tracker.mode();
    if (node.modes[node.modes.length - 1][1] !== m) node.modes.push([now, m]);
    for (const to of r.probe) {
      this.stats.reachProbes++;
      this.send({ kind: "ping", from: id, to, digest: node.tracker.digest(now), reach: true });
    }
    if (now >= node.nextRoundAt) {
      // SWIM's round: ping each overlay peer not heard from within the round.
      for (const p of node.peers) {
        const h = node.lastHeard.get(p);
        if (h !== undefined && h > now - this.periodMs) continue;
        this.stats.pings++;
        this.send({ kind: "ping", from: id, to: p, digest: node.tracker.digest(now) });
      }
      for (let i = 0; i < this.opts.randomContacts; i++) {
        const others = this.ids.filter((x) => x !== id);
        const to = others[this.rng.int(others.length)];
        this.stats.gossip++;
        this.send({ kind: "gossip", from: id, to, digest: node.tracker.digest(now) });
      }
      node.nextRoundAt += this.periodMs;
    }
    this.schedule(node, Math.min(node.nextRoundAt, node.tracker.nextDeadline(now)));
  }

  private deliver(msg: Msg): void {
    const node = this.nodes.get(msg.to)!;
    const now = this.now;
    // Every digest is validated before the tracker sees it, as the agent's envelope parser will.
    if (!validReachDigest(msg.digest)) throw new Error(`invalid digest from ${msg.from}`);
    this.stats.delivered++;
    node.lastHeard.set(msg.from, now);
    node.tracker.merge(msg.from, msg.digest, now);
    if (msg.kind === "ping") {
      this.stats.acks++;
      this.send({ kind: "ack", from: msg.to, to: msg.from, digest: node.tracker.digest(now) });
    } else if (msg.kind === "ack") {
      node.tracker.heard(msg.from, now, "ack");
    }
    const d = node.tracker.nextDeadline(now);
    if (d < node.wakeAt) this.schedule(node, d);
  }

  private send(msg: Msg): void {
    const now = this.now;
    if (this.cuts.has(`${msg.from}>${msg.to}`) || (this.blocked && this.blocked(msg.from, msg.to, now)) || this.rng.chance(this.opts.loss)) {
      this.stats.dropped++;
      return;
    }
    const delay = this.opts.delayMinMs + this.rng.int(this.opts.delayMaxMs - this.opts.delayMinMs + 1);
    // The digest is a value on the wire: copy it, as JSON would.
    this.push({ t: now + delay, seq: ++this.seq, kind: "msg", msg: { ...msg, digest: JSON.parse(JSON.stringify(msg.digest)) } });
  }

  private schedule(node: NetNode, t: number): void {
    node.gen++;
    node.wakeAt = t;
    this.push({ t, seq: ++this.seq, kind: "wake", node: node.id, gen: node.gen });
  }

  // Binary heap on (t, seq).
  private push(ev: Ev): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): Ev | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
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

function less(a: Ev, b: Ev): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** Which mode each node should settle in, for a symmetric partition into `groups`, under the voter rule. */
export function expectedModes(ids: string[], voters: string[], groups: string[][]): Map<string, Mode> {
  const side = new Map<string, number>();
  groups.forEach((g, i) => g.forEach((id) => side.set(id, i)));
  for (const id of ids) if (!side.has(id)) side.set(id, groups.length);
  const quorum = Math.floor(voters.length / 2) + 1;
  const out = new Map<string, Mode>();
  for (const id of ids) {
    const have = voters.filter((v) => side.get(v) === side.get(id)).length;
    out.set(id, have >= quorum ? "read-write" : "read-only");
  }
  return out;
}

/**
 * The bound checker: from `from` (a fault's start) + `boundMs` until `until`, every node is in its
 * expected mode and does not leave it. Returns the violations (empty: the bound held).
 */
export function checkSettled(net: ReachNet, expected: Map<string, Mode>, from: number, boundMs: number, until: number): string[] {
  const bad: string[] = [];
  const settle = from + boundMs;
  for (const [id, want] of expected) {
    const node = net.nodes.get(id)!;
    if (net.modeAt(id, settle) !== want) bad.push(`${id}: ${net.modeAt(id, settle)} at +${boundMs} ms, expected ${want}`);
    const later = node.modes.filter(([t], i) => i > 0 && t > settle && t <= until);
    if (later.length) bad.push(`${id}: changed mode ${later.length}× after the bound (${later.map(([t, m]) => `${m}@${t}`).join(", ")})`);
  }
  return bad;
}
