// A deterministic harness for the pure PBFT core: a seeded network with drops, duplicates, delays
// (so reordering) and partitions; crash-restart that loses memory and keeps storage; closed-loop
// clients that multicast signed requests and wait for f+1 matching replies; up to f byzantine replicas;
// and the shell's signature filter (test/sim/keys.ts: sign outgoing, verify every signed part of
// incoming, drop and count failures).
//
// Byzantine behaviours (a byzantine replica runs the correct core and corrupts what it sends):
//  twins         two instances of the replica with the same key, each reaching one side of a split
//                (Bano et al., "Twins: BFT Systems Made Robust", OPODIS 2021): equivocation, double
//                votes and amnesia without hand-written attacks
//  silent        sends nothing
//  silent-leader alive and answering, but never proposes (no PRE-PREPARE, no NEW-VIEW)
//  equivocate    different batches for the same seq to different backups; conflicting votes
//  forge         also sends its messages as if from another replica (signed with its own key)
//  bad-sig       garbles its signature now and then
//  replay        re-sends old messages it received (validly signed by others)
//  wrong-digest  digests that do not match (pre-prepares, prepares, commits, checkpoints)
//  vc-liar       VIEW-CHANGEs with fake prepared certificates and unproven checkpoints; NEW-VIEWs with a forged O,
//                and NEW-VIEWs for views it does not lead
//
// Invariants, checked after every step over the CORRECT replicas: the batch executed at each seq is the
// same everywhere (safety); each replica executes seqs contiguously and its state is the state of the
// agreed history up to its last executed seq (so executed sequences are prefixes of one another — a
// state transfer included); no replica executes a request twice.
import { signingPayload, signOutgoing, verifyPbftMessage } from "../../src/core/pbft/auth";
import { digestOf } from "../../src/core/pbft/digest";
import { PbftClient } from "../../src/core/pbft/client";
import { applyPersist, Pbft, type PbftApp, type PbftGuards, type PbftOptions } from "../../src/core/pbft/pbft";
import type { Outbound, PbftMsg, PbftPersisted, PbftReady, Reply, Request, ViewChange } from "../../src/core/pbft/types";
import { validPbftMsg, validReply } from "../../src/core/pbft/validate";
import { batchDigest } from "../../src/core/pbft/viewchange";
import { Rng } from "../../src/core/rng";
import { ModelKeys } from "../sim/keys";

export type Behaviour =
  | "twins"
  | "silent"
  | "silent-leader"
  | "equivocate"
  | "forge"
  | "bad-sig"
  | "replay"
  | "wrong-digest"
  | "vc-liar"
  /** Driven by a test: its core runs, `script` decides what it sends (the test may `inject` more). */
  | "scripted";

export const BEHAVIOURS: Behaviour[] = ["twins", "silent", "silent-leader", "equivocate", "forge", "bad-sig", "replay", "wrong-digest", "vc-liar"];

interface AppState {
  count: number;
  chain: string;
}

/** The replicated service of the harness: a hash chain over executed requests (compact, and it names the whole history). */
class ChainApp implements PbftApp {
  state: AppState = { count: 0, chain: "genesis" };
  /** For checker tests: a non-deterministic application (its replicas then diverge). */
  skew = "";
  /** The last state installed by a state transfer (checked against the agreed history). */
  restored: AppState | null = null;
  /** The state after each execute since the harness last looked (per-seq states for the checks). */
  trace: Array<[number, AppState]> = [];
  execute(r: Request, seq: number): unknown {
    this.state = { count: this.state.count + 1, chain: digestOf([this.state.chain, seq, r.client, r.reqId, r.op, this.skew]) };
    this.trace.push([seq, this.state]);
    return { n: this.state.count, seq };
  }
  snapshot(): unknown {
    return { ...this.state };
  }
  restore(s: unknown): void {
    this.state = { ...(s as AppState) };
    this.restored = { ...this.state };
  }
}

const stateKey = (s: AppState): string => `${s.count}|${s.chain}`;

interface Instance {
  /** Endpoint name: the replica id, or id#0 / id#1 for twins. */
  ep: string;
  id: string;
  twin: number;
  core: Pbft | null;
  app: ChainApp;
  store: { persisted: PbftPersisted | null; app: AppState };
  /** Harness view of what this instance executed (correct replicas only). */
  lastExec: number;
  keys: Set<string>;
  /** The highest view this instance has been active in (survives its restarts: a harness record). */
  activeView: number;
  /** Sleepy mode: when its alarm is due, and when it last ticked. */
  wakeAt: number;
  tickedAt: number;
}

interface ReplicaNode {
  id: string;
  behaviours: Behaviour[];
  instances: Instance[];
  /** Messages this (byzantine) replica received, for replays. */
  seen: PbftMsg[];
}

interface Client {
  id: string;
  /** The pure client (src/core/pbft/client.ts): multicast, retransmit, f+1 matching replies. */
  core: PbftClient;
  out: { reqId: number; issuedAt: number } | null;
  nextAt: number;
  completed: number;
}

type Sendable = Outbound & { garble?: boolean };

interface Flight {
  at: number;
  from: string;
  to: string;
  msg: PbftMsg | Reply;
}

export interface PbftHarnessOptions {
  seed: number;
  n: number;
  clients?: number;
  /** Byzantine replicas (at most f): id → behaviours. */
  byzantine?: Record<string, Behaviour[]>;
  dropRate?: number;
  dupRate?: number;
  minDelay?: number;
  maxDelay?: number;
  clientRetryTicks?: number;
  /** Ticks a client waits between a completed request and its next one. */
  thinkTicks?: number;
  /**
   * Tick each replica only when its own `ticksUntilAction()` says so (passing the ticks slept), as a
   * Durable Object shell re-arming one alarm after every input would.
   */
  sleepy?: boolean;
  core?: Partial<Omit<PbftOptions, "id" | "replicas" | "app" | "guards">>;
  guards?: Partial<PbftGuards>;
}

export class SafetyViolation extends Error {}

export class PbftHarness {
  readonly rng: Rng;
  readonly keys: ModelKeys;
  readonly ids: string[];
  readonly f: number;
  readonly nodes = new Map<string, ReplicaNode>();
  readonly clients: Client[] = [];
  readonly opts: Required<Omit<PbftHarnessOptions, "byzantine" | "core" | "guards">> & Pick<PbftHarnessOptions, "core" | "guards">;
  time = 0;
  private queue: Flight[] = [];
  /** Cut links between endpoints ("a>b"). */
  private cut = new Set<string>();
  /** Twins: which twin instance each endpoint reaches (0 or 1). */
  private side = new Map<string, number>();
  issuing = true;
  /** The agreed history: seq → batch digest; and the state after each seq (first correct replica to execute it). */
  readonly agreed = new Map<number, string>();
  private readonly stateAt = new Map<number, string>([[0, stateKey({ count: 0, chain: "genesis" })]]);
  private readonly keysAt = new Map<number, string[]>();
  /** Counters. */
  readonly counts = {
    sent: new Map<string, number>(),
    /** Replica-to-replica messages by type (requests forwarded by backups included; client traffic not). */
    replicaToReplicaByType: new Map<string, number>(),
    replicaToReplica: 0,
    delivered: 0,
    dropped: 0,
    badSignature: 0,
    malformed: 0,
    viewChanges: 0,
    stateTransfers: 0,
    completed: 0,
    executedBatches: 0,
  };
  readonly latencies: number[] = [];
  /** Per-request: when the primary (any replica) first saw it, and when a correct replica first executed it. */
  private firstSeen = new Map<string, number>();
  readonly commitDelays: number[] = [];
  /** A hook for tests: return false to drop a message (scripted scenarios). */
  filter: ((f: { from: string; to: string; msg: PbftMsg | Reply; time: number }) => boolean) | null = null;
  /** For "scripted" byzantine replicas: rewrite what its core sends (return the messages to send). */
  script: ((inst: { id: string; core: Pbft | null }, out: Outbound[]) => Outbound[]) | null = null;
  /** Messages a test injected (its filter may let only these through for a replica). */
  readonly injected = new WeakSet<object>();
  maxViewSeen = 0;
  crashed = new Set<string>();
  /** Signature work is deterministic per (immutable) message object: a broadcast is signed once, and each object verified once. */
  private signedCopy = new WeakMap<object, PbftMsg | Reply>();
  private verified = new WeakMap<object, boolean>();

  constructor(opts: PbftHarnessOptions) {
    this.opts = {
      clients: 3, dropRate: 0, dupRate: 0, minDelay: 1, maxDelay: 1, clientRetryTicks: 40, thinkTicks: 2, sleepy: false, ...opts,
    };
    this.rng = new Rng(opts.seed);
    this.keys = new ModelKeys(opts.seed);
    const width = String(opts.n - 1).length;
    this.ids = Array.from({ length: opts.n }, (_, i) => `r${String(i).padStart(width, "0")}`);
    this.f = Math.floor((opts.n - 1) / 3);
    const byz = opts.byzantine ?? {};
    for (const id of this.ids) {
      const behaviours = byz[id] ?? [];
      const twins = behaviours.includes("twins");
      const node: ReplicaNode = { id, behaviours, instances: [], seen: [] };
      for (let t = 0; t < (twins ? 2 : 1); t++) {
        const app = new ChainApp();
        const inst: Instance = {
          ep: twins ? `${id}#${t}` : id, id, twin: t, core: null, app, store: { persisted: null, app: { ...app.state } }, lastExec: 0, keys: new Set(), activeView: 0, wakeAt: 0, tickedAt: 0,
        };
        node.instances.push(inst);
      }
      this.nodes.set(id, node);
    }
    for (let c = 0; c < this.opts.clients; c++) {
      const id = `c${c}`;
      this.clients.push({ id, core: new PbftClient({ id, replicas: this.ids, retryTicks: this.opts.clientRetryTicks }), out: null, nextAt: 0, completed: 0 });
    }
    this.reshuffleTwins();
    for (const node of this.nodes.values()) for (const inst of node.instances) this.start(inst);
  }

  // ---- setup ---------------------------------------------------------------------------------

  isCorrect(id: string): boolean {
    return this.nodes.get(id)!.behaviours.length === 0;
  }

  correctIds(): string[] {
    return this.ids.filter((id) => this.isCorrect(id));
  }

  /** The core of a (non-twin) replica, or null when crashed. */
  core(id: string): Pbft | null {
    return this.nodes.get(id)!.instances[0].core;
  }

  private start(inst: Instance): void {
    inst.app.restore(inst.store.app);
    const o = this.opts.core ?? {};
    inst.core = new Pbft(
      {
        requestTimeoutTicks: 30, viewChangeTimeoutTicks: 30, maxBackoffExponent: 4, statusTicks: 8, idleStatusTicks: 60, forwardTicks: 8,
        checkpointInterval: 8, logWindow: 32, maxBatch: 8, ...o, id: inst.id, replicas: this.ids, app: inst.app, guards: this.opts.guards,
      },
      inst.store.persisted,
    );
    inst.tickedAt = this.time;
    this.handle(inst, inst.core.ready());
  }

  crash(id: string): void {
    const node = this.nodes.get(id)!;
    for (const inst of node.instances) inst.core = null;
    this.crashed.add(id);
  }

  restart(id: string): void {
    const node = this.nodes.get(id)!;
    for (const inst of node.instances) if (!inst.core) this.start(inst);
    this.crashed.delete(id);
  }

  partition(groups: string[][]): void {
    for (let a = 0; a < groups.length; a++) {
      for (let b = a + 1; b < groups.length; b++) {
        for (const x of groups[a]) for (const y of groups[b]) for (const ex of this.endpoints(x)) for (const ey of this.endpoints(y)) {
          this.cut.add(`${ex}>${ey}`);
          this.cut.add(`${ey}>${ex}`);
        }
      }
    }
  }

  isolate(id: string): void {
    this.partition([[id], this.ids.filter((x) => x !== id)]);
  }

  heal(): void {
    this.cut.clear();
  }

  private endpoints(id: string): string[] {
    const node = this.nodes.get(id);
    return node ? node.instances.map((i) => i.ep) : [id];
  }

  reshuffleTwins(): void {
    for (const id of this.ids) if (!this.nodes.get(id)!.behaviours.includes("twins")) this.side.set(id, this.rng.int(2));
    for (const c of this.clients) this.side.set(c.id, this.rng.int(2));
  }

  // ---- clients -------------------------------------------------------------------------------

  private clientTick(c: Client): void {
    const sign = (r: Request): Request => ({ ...r, sig: this.keys.sign(c.id, signingPayload(r)) });
    let sent = c.core.tick();
    if (!c.out && this.issuing && this.time >= c.nextAt) {
      const o = c.core.submit({ v: this.rng.int(1000) }, sign);
      if (o) {
        sent = o;
        c.out = { reqId: c.core.lastReqId, issuedAt: this.time };
      }
    }
    for (const m of sent.messages) this.post(c.id, m.to, m.msg);
  }

  private clientReceive(c: Client, m: Reply): void {
    const r = c.core.onReply(m);
    if (r.done && c.out && r.done.reqId === c.out.reqId) {
      this.latencies.push(this.time - c.out.issuedAt);
      this.counts.completed++;
      c.completed++;
      c.out = null;
      c.nextAt = this.time + this.opts.thinkTicks;
    }
  }

  /** For checker tests: make one replica's application non-deterministic from now on. */
  skewApp(id: string): void {
    for (const inst of this.nodes.get(id)!.instances) inst.app.skew = "skewed";
  }

  /** For checker tests: hand the invariant checks a Ready as if replica `id` had produced it. */
  observe(id: string, r: PbftReady): void {
    this.checkExecution(this.nodes.get(id)!.instances[0], r);
  }

  /** Send a message as replica `from` (signed with its key, nested own items included). */
  inject(from: string, to: string, msg: PbftMsg): void {
    const signed = signOutgoing(msg, from, (payload) => this.keys.sign(from, payload));
    this.injected.add(signed);
    this.post(from, to, signed);
  }

  /** Requests issued and not yet answered by f+1 matching replies. */
  outstanding(): number {
    return this.clients.filter((c) => c.out).length;
  }

  // ---- network -------------------------------------------------------------------------------

  private post(from: string, to: string, msg: PbftMsg | Reply): void {
    const k = msg.type;
    this.counts.sent.set(k, (this.counts.sent.get(k) ?? 0) + 1);
    if (this.nodes.has(from.split("#")[0]) && this.nodes.has(to)) {
      this.counts.replicaToReplica++;
      this.counts.replicaToReplicaByType.set(k, (this.counts.replicaToReplicaByType.get(k) ?? 0) + 1);
    }
    if (this.rng.chance(this.opts.dropRate)) {
      this.counts.dropped++;
      return;
    }
    const copies = this.rng.chance(this.opts.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.opts.minDelay + this.rng.int(this.opts.maxDelay - this.opts.minDelay + 1);
      this.queue.push({ at: this.time + delay, from, to, msg });
    }
  }

  /** Which endpoint of `to` a message from endpoint `from` reaches (twins: the one on the sender's side). */
  private route(from: string, to: string): Instance | Client | null {
    const node = this.nodes.get(to);
    const fromTwin = from.includes("#") ? Number(from.split("#")[1]) : null;
    if (!node) {
      if (fromTwin !== null && this.side.get(to) !== fromTwin) return null;
      return this.clients.find((c) => c.id === to) ?? null;
    }
    if (node.instances.length === 1) {
      // A twin instance reaches only the endpoints on its side.
      if (fromTwin !== null && this.side.get(to) !== fromTwin) return null;
      return node.instances[0];
    }
    const s = fromTwin ?? this.side.get(from) ?? 0;
    return node.instances[s];
  }

  private deliver(f: Flight): void {
    const dest = this.route(f.from, f.to);
    if (!dest) return;
    const ep = "ep" in dest ? dest.ep : dest.id;
    if (this.cut.has(`${f.from}>${ep}`)) return;
    if (this.filter && !this.filter({ from: f.from, to: f.to, msg: f.msg, time: this.time })) return;
    if (!("ep" in dest)) {
      // A client: the same filter as a replica's shell.
      if (!validReply(f.msg)) return void this.counts.malformed++;
      if (!this.verify(f.msg)) return void this.counts.badSignature++;
      this.clientReceive(dest, f.msg);
      return;
    }
    if (!dest.core) return;
    // The shell's filter: shape, then every signed part, before the core sees anything.
    if (!validPbftMsg(f.msg)) return void this.counts.malformed++;
    if (!this.verify(f.msg)) return void this.counts.badSignature++;
    this.counts.delivered++;
    const node = this.nodes.get(dest.id)!;
    if (node.behaviours.includes("replay") && f.msg.type !== "request") {
      node.seen.push(f.msg);
      if (node.seen.length > 300) node.seen.splice(0, 100);
    }
    if (this.opts.sleepy && dest.tickedAt < this.time) {
      // The shell brings the core's clock up to date before handing it input.
      const elapsed = this.time - dest.tickedAt;
      dest.tickedAt = this.time;
      this.handle(dest, dest.core.tick(elapsed));
      if (!dest.core) return;
    }
    if (f.msg.type === "request") {
      const k = `${f.msg.request.client}#${f.msg.request.reqId}`;
      if (!this.firstSeen.has(k) && dest.core.primary() === dest.id) this.firstSeen.set(k, this.time);
    }
    this.handle(dest, dest.core.step(f.from.split("#")[0], f.msg));
  }

  // ---- the shell -----------------------------------------------------------------------------

  private verify(msg: PbftMsg | Reply): boolean {
    let ok = this.verified.get(msg);
    if (ok === undefined) {
      ok = verifyPbftMessage(msg, (p) => this.keys.verify(p));
      this.verified.set(msg, ok);
    }
    return ok;
  }

  /** Persist, then send (signing what this replica authors), then check what was executed. */
  private handle(inst: Instance, r: PbftReady): void {
    if (r.persist) inst.store.persisted = applyPersist(inst.store.persisted ?? inst.core!.persisted(), r.persist);
    if (r.executed.length || r.restored !== null || r.batches.length) inst.store.app = { ...inst.app.state };
    const node = this.nodes.get(inst.id)!;
    const out: Sendable[] = node.behaviours.length ? this.corrupt(node, inst, r.messages) : r.messages;
    for (const o of out) {
      // The shell signs every item this replica authored (nested ones too), once per message object.
      let msg = this.signedCopy.get(o.msg);
      if (!msg) {
        msg = signOutgoing(o.msg, inst.id, (payload) => this.keys.sign(inst.id, payload));
        this.signedCopy.set(o.msg, msg);
      }
      if (o.garble && msg.type !== "request" && msg.replica === inst.id && msg.sig) msg = { ...msg, sig: `${msg.sig.slice(1)}0` };
      this.post(inst.ep, o.to, msg);
    }
    if (inst.core && this.isCorrect(inst.id)) {
      if (inst.core.view > this.maxViewSeen) this.maxViewSeen = inst.core.view;
      if (inst.core.active && inst.core.view > inst.activeView) {
        inst.activeView = inst.core.view;
        this.counts.viewChanges++;
      }
    }
    if (this.isCorrect(inst.id)) this.checkExecution(inst, r);
    if (this.opts.sleepy && inst.core) {
      // The shell re-arms its one alarm after every input: the core's earliest deadline. Ticks passed
      // since the last tick are owed to the core's clock when it next ticks.
      const due = inst.core.ticksUntilAction();
      inst.wakeAt = due === null ? Infinity : Math.max(this.time + 1, inst.tickedAt + due);
    }
  }

  // ---- byzantine behaviours ------------------------------------------------------------------

  private corrupt(node: ReplicaNode, inst: Instance, msgs: Outbound[]): Sendable[] {
    const b = new Set(node.behaviours);
    const rng = this.rng;
    const out: Sendable[] = [];
    if (b.has("silent")) return out;
    if (b.has("scripted")) return this.script ? this.script(inst, msgs) : msgs;
    for (const o of msgs) {
      let msg = o.msg;
      if (b.has("silent-leader") && (msg.type === "pre-prepare" || msg.type === "new-view")) continue;
      const odd = this.ids.indexOf(o.to) % 2 === 1;
      if (b.has("equivocate")) {
        if (msg.type === "pre-prepare" && odd && msg.batch.length) {
          const batch = msg.batch.slice(0, -1).reverse();
          msg = { ...msg, batch, digest: batchDigest(batch) };
        } else if ((msg.type === "prepare" || msg.type === "commit") && odd && rng.chance(0.5)) {
          msg = { ...msg, digest: digestOf(rng.u32()) };
        } else if (msg.type === "view-change" && odd) {
          msg = { ...msg, prepared: [] }; // hides its prepared certificates from half the replicas
        }
      }
      if (b.has("wrong-digest") && rng.chance(0.3)) {
        if (msg.type === "pre-prepare" || msg.type === "prepare" || msg.type === "commit" || msg.type === "checkpoint") {
          msg = { ...msg, digest: digestOf(rng.u32()) };
        }
      }
      if (b.has("vc-liar")) {
        msg = this.lie(msg, inst);
        if (msg.type === "view-change" && this.ids[msg.view % this.ids.length] !== inst.id && rng.chance(0.5)) {
          // A NEW-VIEW for a view it does not lead (validly signed by itself): must not block the real one.
          out.push({ to: o.to, msg: { type: "new-view", view: msg.view, viewChanges: [msg], prePrepares: [], replica: inst.id } });
        }
      }
      out.push({ to: o.to, msg, garble: b.has("bad-sig") && rng.chance(0.3) });
      if (b.has("forge") && msg.type !== "request" && msg.type !== "reply" && rng.chance(0.3)) {
        // The same message as if from another replica, signed with our own key: the shell must drop it.
        const victim = this.ids[rng.int(this.ids.length)];
        if (victim !== inst.id) out.push({ to: o.to, msg: { ...msg, replica: victim, sig: this.keys.sign(inst.id, signingPayload({ ...msg, replica: victim })) } as typeof msg });
      }
    }
    if (b.has("replay") && node.seen.length && rng.chance(0.5)) {
      for (let i = 0; i < 3; i++) {
        const m = node.seen[rng.int(node.seen.length)];
        out.push({ to: this.ids[rng.int(this.ids.length)], msg: m });
      }
    }
    return out;
  }

  /** Lying in view changes: fabricated certificates and checkpoint claims; a forged O as new primary. */
  private lie(msg: PbftMsg | Reply, inst: Instance): PbftMsg | Reply {
    const rng = this.rng;
    if (msg.type === "view-change") {
      const vc: ViewChange = { ...msg, prepared: msg.prepared.slice() };
      const choice = rng.int(4);
      if (choice === 0) {
        // A certificate for a batch nobody prepared, at a view just below the new one, "proven" by our own prepare only.
        // A null request at a seq that may have committed, at a view just below the new one, "proven"
        // by its own prepare only: it would win O for that seq if certificates were not checked.
        const seq = vc.stable.seq + 1 + rng.int(4);
        const digest = batchDigest([]);
        const p = { type: "prepare" as const, view: vc.view - 1, seq, digest, replica: inst.id };
        vc.prepared = vc.prepared.filter((c) => c.seq !== seq).concat([{ view: vc.view - 1, seq, digest, batch: [], prepares: [p] }]);
      } else if (choice === 1 && vc.prepared.length) {
        // A real certificate claimed at a higher view (its prepares no longer match).
        const i = rng.int(vc.prepared.length);
        vc.prepared[i] = { ...vc.prepared[i], view: vc.view - 1 };
      } else if (choice === 2) {
        // A stable checkpoint it cannot prove: a later seq, a made-up digest, its own CHECKPOINT as "proof".
        const k = this.opts.core?.checkpointInterval ?? 8;
        const seq = vc.stable.seq + k;
        const digest = digestOf(`ck${rng.u32()}`);
        vc.stable = { seq, digest };
        vc.proof = [{ type: "checkpoint", seq, digest, replica: inst.id }];
        vc.prepared = vc.prepared.filter((c) => c.seq > seq);
      } else {
        vc.prepared = []; // hides what it prepared
      }
      return vc;
    }
    if (msg.type === "new-view" && msg.prePrepares.length && rng.chance(0.5)) {
      const pp = msg.prePrepares.slice();
      pp[pp.length - 1] = { seq: pp[pp.length - 1].seq, digest: batchDigest([]), batch: [] };
      return { ...msg, prePrepares: pp };
    }
    return msg;
  }

  // ---- invariants ----------------------------------------------------------------------------

  fail(msg: string): SafetyViolation {
    return new SafetyViolation(`${msg} (seed ${this.opts.seed}, n ${this.opts.n}, time ${this.time}; replay with this seed)`);
  }

  private checkExecution(inst: Instance, r: PbftReady): void {
    const trace = inst.app.trace;
    inst.app.trace = [];
    let running: string | undefined = this.stateAt.get(inst.lastExec);
    if (r.restored !== null) {
      // A state transfer: the state must be the agreed state at that seq (some correct replica reached it).
      const want = this.stateAt.get(r.restored);
      this.counts.stateTransfers++;
      if (want === undefined) throw this.fail(`${inst.ep} restored state at ${r.restored}, which no correct replica reached`);
      if (!inst.app.restored || want !== stateKey(inst.app.restored)) throw this.fail(`${inst.ep} restored a state at ${r.restored} that is not the agreed one`);
      inst.lastExec = r.restored;
      running = want;
      inst.keys = new Set();
      for (let s = 1; s <= r.restored; s++) for (const k of this.keysAt.get(s) ?? []) inst.keys.add(k);
    }
    let i = 0;
    let t = 0;
    for (const b of r.batches) {
      if (b.seq !== inst.lastExec + 1) throw this.fail(`${inst.ep} executed seq ${b.seq} after ${inst.lastExec}`);
      const prev = this.agreed.get(b.seq);
      if (prev !== undefined && prev !== b.digest) throw this.fail(`safety: ${inst.ep} executed batch ${b.digest.slice(0, 8)} at seq ${b.seq}, another correct replica ${prev.slice(0, 8)}`);
      if (prev === undefined) {
        this.agreed.set(b.seq, b.digest);
        this.counts.executedBatches++;
      }
      const keys: string[] = [];
      for (; i < r.executed.length && r.executed[i].seq === b.seq; i++) {
        const k = `${r.executed[i].request.client}#${r.executed[i].request.reqId}`;
        if (inst.keys.has(k)) throw this.fail(`at-most-once: ${inst.ep} executed ${k} twice (again at seq ${b.seq})`);
        inst.keys.add(k);
        keys.push(k);
        const seen = this.firstSeen.get(k);
        if (seen !== undefined && prev === undefined) this.commitDelays.push(this.time - seen);
      }
      if (prev === undefined) this.keysAt.set(b.seq, keys);
      else if (JSON.stringify(this.keysAt.get(b.seq)) !== JSON.stringify(keys)) {
        throw this.fail(`safety: ${inst.ep} executed requests ${keys} at seq ${b.seq}, another correct replica ${this.keysAt.get(b.seq)}`);
      }
      for (; t < trace.length && trace[t][0] === b.seq; t++) running = stateKey(trace[t][1]);
      // Prefix: the state after this seq is the one every correct replica has after it.
      const want = this.stateAt.get(b.seq);
      if (running === undefined) throw this.fail(`${inst.ep}: no known state before seq ${b.seq}`);
      if (want === undefined) this.stateAt.set(b.seq, running);
      else if (want !== running) throw this.fail(`prefix: ${inst.ep}'s state after seq ${b.seq} differs from another correct replica's`);
      inst.lastExec = b.seq;
    }
  }

  /** After every step: every live correct replica's state is the agreed state at its last executed seq. */
  check(): void {
    for (const id of this.ids) {
      if (!this.isCorrect(id)) continue;
      const inst = this.nodes.get(id)!.instances[0];
      if (!inst.core) continue;
      if (inst.core.lastExec !== inst.lastExec) throw this.fail(`${id}: core at ${inst.core.lastExec}, harness saw ${inst.lastExec}`);
      const want = this.stateAt.get(inst.lastExec);
      if (want !== undefined && want !== stateKey(inst.app.state)) throw this.fail(`prefix: ${id}'s state differs at ${inst.lastExec}`);
    }
  }

  // ---- running -------------------------------------------------------------------------------

  /** One time unit: every live instance ticks, clients tick, due messages are delivered; then the invariants. */
  step(): void {
    this.time++;
    for (const node of this.nodes.values()) {
      for (const inst of node.instances) {
        if (!inst.core) continue;
        if (this.opts.sleepy) {
          if (this.time < inst.wakeAt) continue;
          const elapsed = this.time - inst.tickedAt;
          inst.tickedAt = this.time;
          this.handle(inst, inst.core.tick(elapsed));
        } else this.handle(inst, inst.core.tick());
      }
    }
    for (const c of this.clients) this.clientTick(c);
    const due: Flight[] = [];
    const later: Flight[] = [];
    for (const m of this.queue) (m.at <= this.time ? due : later).push(m);
    this.queue = later;
    for (const m of due) this.deliver(m);
    this.check();
  }

  run(steps: number, each?: (h: PbftHarness) => void): void {
    for (let i = 0; i < steps; i++) {
      each?.(this);
      this.step();
    }
  }

  /** Run until `done` or `limit` steps; returns whether `done` became true. */
  runUntil(done: (h: PbftHarness) => boolean, limit: number): boolean {
    for (let i = 0; i < limit; i++) {
      if (done(this)) return true;
      this.step();
    }
    return done(this);
  }

  /** Highest view any live correct replica is in, and whether a quorum of correct replicas is active in it. */
  views(): Map<string, { view: number; active: boolean; lastExec: number }> {
    const out = new Map<string, { view: number; active: boolean; lastExec: number }>();
    for (const id of this.ids) {
      const c = this.nodes.get(id)!.instances[0].core;
      if (c) out.set(id, { view: c.view, active: c.active, lastExec: c.lastExec });
    }
    return out;
  }

  /** How many times a correct replica entered a new view (through a NEW-VIEW), over the run. */
  totalViewChanges(): number {
    return this.counts.viewChanges;
  }

  messagesOfType(t: string): number {
    return this.counts.sent.get(t) ?? 0;
  }
}

// ---- the seeded fault workload ------------------------------------------------------------------

export interface SeedRunOptions {
  n: number;
  seed: number;
  /** Drive replicas by their own alarms (`ticksUntilAction`) instead of every tick. */
  sleepy?: boolean;
  /** Steps of the fault phase. */
  faultSteps?: number;
  /** Steps allowed for liveness after faults stop. */
  livenessSteps?: number;
  /** How many byzantine replicas (default: a random number in 0..f, at least 1 for half the seeds). */
  byzantineCount?: number;
  guards?: Partial<PbftGuards>;
}

export interface SeedRunResult {
  seed: number;
  n: number;
  violation: string | null;
  live: boolean;
  viewChanges: number;
  completed: number;
  behaviours: Behaviour[];
  badSignatures: number;
  stateTransfers: number;
  ticks: number;
}

/**
 * One seeded run: up to f byzantine replicas with a random mix of behaviours (Twins included), drops,
 * duplicates, delays, partitions and crash-restarts of correct replicas (the primary among them) during
 * the fault phase; then the network heals, crashed replicas restart and drops stop (byzantine replicas
 * keep misbehaving) and every client request must complete.
 */
export function runPbftSeed(o: SeedRunOptions): SeedRunResult {
  const rng = new Rng(o.seed * 7919 + o.n);
  const f = Math.floor((o.n - 1) / 3);
  const count = o.byzantineCount ?? (rng.chance(0.75) ? 1 + rng.int(f) : 0);
  const width = String(o.n - 1).length;
  const ids = Array.from({ length: o.n }, (_, i) => `r${String(i).padStart(width, "0")}`);
  const byzantine: Record<string, Behaviour[]> = {};
  const used: Behaviour[] = [];
  for (const id of rng.sample(ids, count)) {
    const b = rng.sample(BEHAVIOURS, 1 + rng.int(2));
    if (b.includes("silent")) b.splice(0, b.length, "silent");
    byzantine[id] = b;
    used.push(...b);
  }
  const h = new PbftHarness({
    seed: o.seed, n: o.n, clients: 3, byzantine, dropRate: rng.next() * 0.15, dupRate: rng.next() * 0.1, minDelay: 1, maxDelay: 1 + rng.int(4),
    guards: o.guards, sleepy: o.sleepy,
  });
  const faultSteps = o.faultSteps ?? 400;
  const primaryCrashAt = 50 + rng.int(Math.max(1, faultSteps - 150));
  let primaryCrashed: string | null = null;
  let primaryIsolated: string | null = null;
  const result = (violation: string | null, live: boolean): SeedRunResult => ({
    seed: o.seed, n: o.n, violation, live, viewChanges: h.totalViewChanges(), completed: h.counts.completed, behaviours: used,
    badSignatures: h.counts.badSignature, stateTransfers: h.counts.stateTransfers, ticks: h.time,
  });
  try {
    h.run(faultSteps, (x) => {
      if (x.time === primaryCrashAt) {
        // Force a view change: crash the primary of the highest view a correct replica is active in, or
        // cut it off if it is byzantine (one that keeps proposing would otherwise never be replaced).
        let view = 0;
        for (const [id, v] of x.views()) if (v.active && x.isCorrect(id)) view = Math.max(view, v.view);
        const p = ids[view % o.n];
        if (x.isCorrect(p)) (x.crash(p), (primaryCrashed = p));
        else (x.isolate(p), (primaryIsolated = p));
      }
      if (primaryCrashed && x.time === primaryCrashAt + 60) (x.restart(primaryCrashed), (primaryCrashed = null));
      if (primaryIsolated && x.time === primaryCrashAt + 60) (x.heal(), (primaryIsolated = null));
      const r = rng.next();
      if (r < 0.01) {
        const correct = x.correctIds().filter((id) => !x.crashed.has(id));
        if (correct.length) x.crash(correct[rng.int(correct.length)]);
      } else if (r < 0.03) {
        const down = Array.from(x.crashed).filter((id) => id !== primaryCrashed);
        if (down.length) x.restart(down[rng.int(down.length)]);
      } else if (r < 0.04) {
        const s = rng.shuffle(ids.slice());
        const k = 1 + rng.int(o.n - 1);
        x.partition([s.slice(0, k), s.slice(k)]);
      } else if (r < 0.055) x.heal();
      else if (r < 0.06) x.reshuffleTwins();
    });
    // Faults stop: heal, restart, a synchronous network. Byzantine replicas keep their behaviour.
    h.heal();
    for (const id of Array.from(h.crashed)) h.restart(id);
    h.opts.dropRate = 0;
    h.opts.dupRate = 0;
    h.opts.maxDelay = Math.min(h.opts.maxDelay, 2);
    if (h.totalViewChanges() === 0) {
      // No view change yet (faults can keep the first forced one from completing): replace the active
      // primary now, with the network synchronous, then let it back.
      let view = 0;
      for (const [id, v] of h.views()) if (v.active && h.isCorrect(id)) view = Math.max(view, v.view);
      const p = ids[view % o.n];
      if (h.isCorrect(p)) h.crash(p);
      else h.isolate(p);
      h.runUntil((x) => x.totalViewChanges() > 0, 1500);
      if (h.isCorrect(p)) h.restart(p);
      else h.heal();
    }
    const target = new Map(h.clients.map((c) => [c.id, c.completed + (c.out ? 1 : 0) + 2]));
    const live = h.runUntil((x) => x.clients.every((c) => c.completed >= target.get(c.id)!), o.livenessSteps ?? 6000);
    return result(null, live);
  } catch (e) {
    if (e instanceof SafetyViolation) return result(e.message, false);
    throw e;
  }
}

export interface SeedsSummary {
  n: number;
  seeds: number;
  safetyViolations: number;
  livenessFailures: number;
  seedsWithViewChange: number;
  viewChanges: number;
  completed: number;
  badSignaturesDropped: number;
  stateTransfers: number;
  ticks: number;
  behaviours: Record<string, number>;
  failures: string[];
}

/** Many seeded runs (`npm run bench` calls this with ≥ 1,000 seeds per n). */
export function runPbftSeeds(o: { n: number; seeds: number; firstSeed?: number; guards?: Partial<PbftGuards>; sleepy?: boolean }): SeedsSummary {
  const s: SeedsSummary = {
    n: o.n, seeds: o.seeds, safetyViolations: 0, livenessFailures: 0, seedsWithViewChange: 0, viewChanges: 0, completed: 0, badSignaturesDropped: 0,
    stateTransfers: 0, ticks: 0, behaviours: {}, failures: [],
  };
  const first = o.firstSeed ?? 1;
  for (let seed = first; seed < first + o.seeds; seed++) {
    const r = runPbftSeed({ n: o.n, seed, guards: o.guards, sleepy: o.sleepy });
    if (r.violation) (s.safetyViolations++, s.failures.push(r.violation));
    else if (!r.live) (s.livenessFailures++, s.failures.push(`liveness: seed ${seed}, n ${o.n}`));
    if (r.viewChanges > 0) s.seedsWithViewChange++;
    s.viewChanges += r.viewChanges;
    s.completed += r.completed;
    s.badSignaturesDropped += r.badSignatures;
    s.stateTransfers += r.stateTransfers;
    s.ticks += r.ticks;
    for (const b of r.behaviours) s.behaviours[b] = (s.behaviours[b] ?? 0) + 1;
  }
  return s;
}
