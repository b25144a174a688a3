// A deterministic harness for the pure Raft core, in the style of etcd-io/raft's tests: a fake
// network with drops, duplicates, delays (so reordering) and cuts; crash-restart that loses memory and
// keeps storage; and the four Raft safety properties (thesis §3.6.3, Figure 3.2) checked after every step.
import { Raft, initialPersisted, type Entry, type RaftMsg, type Ready, type Snapshot } from "../../src/core/raft/raft";
import { Rng } from "../../src/core/rng";
import type { Op } from "../sim/linearizability";

interface Store {
  hard: { term: number; vote: string | null; commit: number };
  snapshot: Snapshot;
  entries: Entry[];
}

interface Node {
  id: string;
  raft: Raft | null;
  store: Store;
  /** State machine: the applied commands, by index (lost on crash, rebuilt from snapshot + log). */
  applied: Map<number, string>;
  lastApplied: number;
  sm: string[];
}

interface InFlight {
  at: number;
  from: string;
  to: string;
  msg: RaftMsg;
}

export interface HarnessOptions {
  seed: number;
  nodes?: number;
  dropRate?: number;
  dupRate?: number;
  maxDelay?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  compactEvery?: number;
  /** Largest append batch (1 lets a test replicate one entry at a time). */
  maxBatch?: number;
}

export class RaftHarness {
  readonly rng: Rng;
  readonly nodes = new Map<string, Node>();
  readonly ids: string[];
  time = 0;
  private queue: InFlight[] = [];
  private cut = new Set<string>();
  readonly leaders = new Map<number, string>();
  /** Every entry ever applied anywhere: index → "term:data" (State Machine Safety). */
  readonly committedAt = new Map<number, string>();
  /** When each index was first applied anywhere, and when each term's leader was first seen. */
  private readonly committedTime = new Map<number, number>();
  private readonly electedAt = new Map<number, number>();
  readonly opts: Required<HarnessOptions>;
  proposals = 0;
  electionsWon = 0;
  /** Client history of KV operations (for the linearizability checker). */
  readonly history: Op[] = [];
  private pendingPuts: Array<{ op: Op; node: string; index: number; term: number }> = [];
  private pendingGets = new Map<string, { op: Op; node: string }>();
  private waitingGets: Array<{ op: Op; node: string; index: number }> = [];
  private opId = 0;

  constructor(opts: HarnessOptions) {
    this.opts = {
      nodes: 5, dropRate: 0, dupRate: 0, maxDelay: 2, electionTicks: 10, heartbeatTicks: 2, compactEvery: 0, maxBatch: 256, ...opts,
    };
    this.rng = new Rng(opts.seed);
    this.ids = Array.from({ length: this.opts.nodes }, (_, i) => `n${i + 1}`);
    const config = { voters: this.ids.slice(), learners: [] };
    for (const id of this.ids) {
      const p = initialPersisted(config);
      const store: Store = { hard: p.hard, snapshot: { meta: p.snapshot, data: [] }, entries: [] };
      const node: Node = { id, raft: null, store, applied: new Map(), lastApplied: 0, sm: [] };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  private start(node: Node): void {
    node.sm = (node.store.snapshot.data as string[]).slice();
    node.lastApplied = node.store.snapshot.meta.index;
    node.raft = new Raft(
      { id: node.id, electionTicks: this.opts.electionTicks, heartbeatTicks: this.opts.heartbeatTicks, rng: this.rng.fork(), maxBatch: this.opts.maxBatch },
      { hard: node.store.hard, snapshot: node.store.snapshot.meta, entries: node.store.entries },
    );
    // The first Ready re-applies committed entries after the snapshot.
    this.handle(node, node.raft.ready());
  }

  crash(id: string): void {
    const n = this.nodes.get(id)!;
    n.raft = null;
    // The client never hears back from a crashed node: outcome unknown.
    this.pendingPuts = this.pendingPuts.filter((p) => p.node !== id);
    for (const [k, g] of this.pendingGets) if (g.node === id) this.pendingGets.delete(k);
    this.waitingGets = this.waitingGets.filter((w) => w.node !== id);
  }

  /** A client writes through a node that believes it leads (possibly a stale leader in a minority). */
  clientPut(key: string, value: string, via?: string): void {
    const node = via ? this.nodes.get(via)! : this.someLeader();
    if (!node) return;
    if (!node.raft) return;
    const op: Op = { id: ++this.opId, key, kind: "put", value, invoke: this.time, response: null };
    const r = node.raft.propose(`put:${key}:${value}`);
    if (!r) return;
    this.history.push(op);
    this.proposals++;
    this.pendingPuts.push({ op, node: node.id, index: r.index, term: r.term });
    this.handle(node, r.ready);
  }

  /** A client reads through ReadIndex at a node that believes it leads. */
  clientGet(key: string, via?: string): void {
    const node = via ? this.nodes.get(via)! : this.someLeader();
    if (!node || !node.raft) return;
    const r = node.raft!.readIndex();
    if (!r) return;
    const op: Op = { id: ++this.opId, key, kind: "get", value: null, invoke: this.time, response: null };
    this.history.push(op);
    this.pendingGets.set(`${node.id}#${r.ctx}`, { op, node: node.id });
    this.handle(node, r.ready);
  }

  private someLeader(): Node | null {
    const leaders = Array.from(this.nodes.values()).filter((n) => n.raft?.role === "leader");
    return leaders.length ? leaders[this.rng.int(leaders.length)] : null;
  }

  private kvGet(node: Node, key: string): string | null {
    for (let i = node.sm.length - 1; i >= 0; i--) {
      const [op, k, v] = node.sm[i].split(":");
      if (op === "put" && k === key) return v;
    }
    return null;
  }

  restart(id: string): void {
    const n = this.nodes.get(id)!;
    if (!n.raft) this.start(n);
  }

  isolate(id: string): void {
    for (const o of this.ids) if (o !== id) (this.cut.add(`${id}>${o}`), this.cut.add(`${o}>${id}`));
  }

  partition(a: string[], b: string[]): void {
    for (const x of a) for (const y of b) (this.cut.add(`${x}>${y}`), this.cut.add(`${y}>${x}`));
  }

  heal(): void {
    this.cut.clear();
  }

  leader(): string | null {
    let best: Raft | null = null;
    for (const n of this.nodes.values()) {
      if (n.raft?.role === "leader" && (!best || n.raft.term > best.term)) best = n.raft;
    }
    return best?.id ?? null;
  }

  propose(data: string): boolean {
    const l = this.leader();
    if (!l) return false;
    const node = this.nodes.get(l)!;
    const r = node.raft!.propose(data);
    if (!r) return false;
    this.proposals++;
    this.handle(node, r.ready);
    return true;
  }

  /** One time unit: every live node ticks, then due messages are delivered. */
  step(): void {
    this.time++;
    for (const n of this.nodes.values()) if (n.raft) this.handle(n, n.raft.tick());
    const due = this.queue.filter((m) => m.at <= this.time);
    this.queue = this.queue.filter((m) => m.at > this.time);
    for (const m of due) {
      const n = this.nodes.get(m.to)!;
      // A link cut while a message was in flight loses it (etcd's network `cut` drops at delivery too).
      if (!n.raft || this.cut.has(`${m.from}>${m.to}`)) continue;
      this.handle(n, n.raft.step(m.from, structuredClone(m.msg)));
    }
    this.check();
  }

  run(steps: number, each?: (h: RaftHarness) => void): void {
    for (let i = 0; i < steps; i++) {
      each?.(this);
      this.step();
    }
  }

  /** The shell's job: persist, then send, then apply (persist-before-send). */
  private handle(node: Node, r: Ready): void {
    const s = node.store;
    if (r.snapshot) {
      // Leader compaction carries our own state machine; an installed snapshot carries the leader's.
      const data = r.snapshot.data === null || r.snapshot.data === undefined ? node.sm.slice() : r.snapshot.data;
      s.snapshot = { meta: r.snapshot.meta, data };
      if (r.restore) {
        // Installed from the leader: the state machine becomes the snapshot's.
        node.sm = (data as string[]).slice();
        node.lastApplied = r.snapshot.meta.index;
      }
    }
    if (r.compactTo !== null) s.entries = s.entries.filter((e) => e.index > r.compactTo!);
    if (r.append) s.entries = storeAppend(s.entries, r.append);
    if (r.hardState) s.hard = { ...r.hardState };
    for (const o of r.messages) {
      if (this.cut.has(`${node.id}>${o.to}`) || this.rng.chance(this.opts.dropRate)) continue;
      const msg = o.msg.type === "snap" ? { ...o.msg, snapshot: { meta: s.snapshot.meta, data: (s.snapshot.data as string[]).slice() } } : o.msg;
      const copies = this.rng.chance(this.opts.dupRate) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        this.queue.push({ at: this.time + 1 + this.rng.int(this.opts.maxDelay), from: node.id, to: o.to, msg: structuredClone(msg) });
      }
    }
    for (const e of r.committed) {
      if (e.index <= node.lastApplied) continue;
      if (e.index !== node.lastApplied + 1) throw this.fail(`${node.id} applies ${e.index} after ${node.lastApplied}`);
      const key = `${e.term}:${e.kind}:${JSON.stringify(e.data ?? e.config ?? null)}`;
      const prev = this.committedAt.get(e.index);
      if (prev !== undefined && prev !== key) throw this.fail(`State Machine Safety: index ${e.index} is ${prev} and ${key}`);
      this.committedAt.set(e.index, key);
      if (!this.committedTime.has(e.index)) this.committedTime.set(e.index, this.time);
      if (e.kind === "cmd") node.sm.push(String(e.data));
      node.lastApplied = e.index;
      node.raft?.advanceApplied(e.index);
    }
    // Client bookkeeping: acknowledged writes, confirmed reads.
    if (this.pendingPuts.length) {
      this.pendingPuts = this.pendingPuts.filter((p) => {
        if (p.node !== node.id || node.lastApplied < p.index) return true;
        const t = node.raft?.termAt(p.index);
        if (t === p.term || (t === null && node.store.snapshot.meta.index >= p.index)) {
          // Applied at its index with its own term (or already folded into a snapshot): acknowledged.
          if (t === p.term) p.op.response = this.time;
        }
        return false;
      });
    }
    for (const rd of r.reads) {
      const g = this.pendingGets.get(`${node.id}#${rd.ctx}`);
      if (!g) continue;
      this.pendingGets.delete(`${node.id}#${rd.ctx}`);
      this.waitingGets.push({ op: g.op, node: node.id, index: rd.index });
    }
    for (const ctx of r.droppedReads) this.pendingGets.delete(`${node.id}#${ctx}`);
    if (this.waitingGets.length) {
      this.waitingGets = this.waitingGets.filter((w) => {
        if (w.node !== node.id || node.lastApplied < w.index) return true;
        w.op.value = this.kvGet(node, w.op.key);
        w.op.response = this.time;
        return false;
      });
    }
    if (this.opts.compactEvery > 0 && node.raft && node.lastApplied - s.snapshot.meta.index >= this.opts.compactEvery) {
      this.handle(node, node.raft.compact(node.lastApplied, node.sm.slice()));
    }
  }

  fail(msg: string): Error {
    return new Error(`${msg} (seed ${this.opts.seed}, time ${this.time}; replay with this seed)`);
  }

  /** Raft's safety properties, after every step. */
  check(): void {
    const live = Array.from(this.nodes.values()).filter((n) => n.raft);
    for (const n of live) {
      const r = n.raft!;
      if (r.role !== "leader") continue;
      // Election Safety: at most one leader per term.
      const l = this.leaders.get(r.term);
      if (l !== undefined && l !== n.id) throw this.fail(`Election Safety: ${l} and ${n.id} both lead term ${r.term}`);
      if (l === undefined) (this.leaders.set(r.term, n.id), this.electionsWon++, this.electedAt.set(r.term, this.time));
      // Leader Completeness: a leader holds every entry committed before its term began (or has it in
      // its snapshot). A deposed leader of an older term is not bound by entries committed after it.
      const snapIndex = r.snapshotMeta().index;
      const electedAt = this.electedAt.get(r.term)!;
      for (const [i, key] of this.committedAt) {
        if (i <= snapIndex || this.committedTime.get(i)! >= electedAt) continue;
        const t = r.termAt(i);
        if (t === null || `${t}` !== key.split(":")[0]) {
          throw this.fail(`Leader Completeness: leader ${n.id} (term ${r.term}) lacks committed entry ${i} (${key})`);
        }
      }
    }
    // Log Matching: if two logs hold an entry with the same index and term, the logs are identical up to it.
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const x = live[a].raft!;
        const y = live[b].raft!;
        const lo = Math.max(x.snapshotMeta().index, y.snapshotMeta().index) + 1;
        const hi = Math.min(x.lastIndex(), y.lastIndex());
        let match = -1;
        for (let i = hi; i >= lo; i--) if (x.termAt(i) === y.termAt(i)) { match = i; break; }
        if (match < 0) continue;
        const ex = x.entriesFrom(lo, match - lo + 1);
        const ey = y.entriesFrom(lo, match - lo + 1);
        for (let k = 0; k < ex.length; k++) {
          if (ex[k].term !== ey[k].term || JSON.stringify(ex[k].data) !== JSON.stringify(ey[k].data)) {
            throw this.fail(`Log Matching: ${live[a].id} and ${live[b].id} differ at ${ex[k].index} below matching ${match}`);
          }
        }
      }
    }
  }

  /** The state machines of all live nodes, for convergence checks. */
  machines(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const n of this.nodes.values()) if (n.raft) out.set(n.id, n.sm.slice());
    return out;
  }
}

/**
 * One step of the seeded fault workload: propose (a quarter of the steps), crash or restart a node,
 * cut the cluster in two, or heal. `propose` decides what a proposal is (a plain command, a KV op…).
 */
export function faultStep(x: RaftHarness, propose: (x: RaftHarness) => void, rates = { propose: 0.25 }): void {
  const r = x.rng.next();
  const p = rates.propose;
  if (r < p) propose(x);
  else if (r < p + 0.02) x.crash(x.ids[x.rng.int(x.ids.length)]);
  else if (r < p + 0.06) x.restart(x.ids[x.rng.int(x.ids.length)]);
  else if (r < p + 0.07) {
    const k = 1 + x.rng.int(2);
    const s = x.rng.shuffle(x.ids.slice());
    x.partition(s.slice(0, k), s.slice(k));
  } else if (r < p + 0.09) x.heal();
}

/**
 * The stored log as rows keyed by index, written as the agent writes them: the suffix is dropped only
 * when the Ready says `truncate`; entries overwrite rows at their index. A Ready that fails to ask for a
 * needed truncation leaves stale rows behind, which a restart loads — the invariants then catch it.
 */
export function storeAppend(stored: Entry[], a: NonNullable<Ready["append"]>): Entry[] {
  const rows = new Map((a.truncate ? stored.filter((e) => e.index < a.fromIndex) : stored).map((e) => [e.index, e] as const));
  for (const e of structuredClone(a.entries)) rows.set(e.index, e);
  return Array.from(rows.values()).sort((x, y) => x.index - y.index);
}
