// A pure PBFT replica: Castro & Liskov, "Practical Byzantine Fault Tolerance", OSDI '99 (cited as §x),
// with details from "Practical Byzantine Fault Tolerance and Proactive Recovery", ACM TOCS 20(4), 2002
// (cited as TOCS). Like the Raft core it is a state machine driven by `step(from, msg)`, `tick(elapsed)`
// and `submit(request)`, each returning a Ready bundle: what to persist, what to send, what was executed.
// No clock, no I/O, no signatures (the shell signs and verifies, see auth.ts); the application is a
// synchronous, deterministic callback object.
//
// Implemented:
//  - normal case (§4.2): requests, PRE-PREPARE with batches (TOCS: request batching) within the
//    watermarks, PREPARE (prepared = pre-prepare + 2f matching prepares from distinct backups), COMMIT
//    (committed = 2f+1 matching commits, §4.5.1), execution in seq order, at-most-once per client with
//    the reply cache (§4.1);
//  - checkpoints every k seqs, stable at 2f+1 matching CHECKPOINTs, garbage collection, watermarks
//    h..h+L (§4.3);
//  - view changes with VIEW-CHANGE (C, P) and NEW-VIEW (V, O) (§4.4), and the liveness rules of §4.5.2:
//    the view-change timer starts at 2f+1 VIEW-CHANGEs, doubles after each view change that fails,
//    and a replica joins the smallest view of f+1 VIEW-CHANGEs above its own;
//  - the request timer (§4.4), per waited request, which replaces a silent or censoring primary;
//  - receiver-based retransmission with STATUS messages (TOCS, message retransmission) and commit
//    certificates: a replica that missed messages, a NEW-VIEW or checkpoints catches up, and one stuck
//    in an old view change still gets the VIEW-CHANGEs it needs;
//  - state transfer of checkpoint state verified against f+1 (or 2f+1) matching digests (§4.3, TOCS
//    checkpoint management);
//  - durable state for crash-restart without equivocation: view, sent VIEW-CHANGE, accepted
//    pre-prepares, sent prepares/commits, prepared and commit certificates, checkpoints.
// Quorums are 2f+1 of n = 3f+1 (for other n: ⌈(n+f+1)/2⌉, f = ⌊(n−1)/3⌋).
import { batchDigest, checkNewView, planNewView, primaryOf, validViewChange, type NewViewPlan, type QuorumConfig } from "./viewchange";
import { digestOf } from "./digest";
import type {
  CheckpointMsg,
  CheckpointState,
  ClientRecord,
  Commit,
  CommitCert,
  Executed,
  FetchState,
  NewView,
  OwnCheckpoint,
  PbftMeta,
  PbftMsg,
  PbftPersisted,
  PbftReady,
  PersistDelta,
  PrePrepare,
  Prepare,
  PreparedCert,
  Request,
  SlotRecord,
  StableCheckpoint,
  StateMsg,
  Status,
  ViewChange,
} from "./types";

/** The replicated service. Must be deterministic: every correct replica runs the same requests in the same order. */
export interface PbftApp {
  /** Execute one committed request; the result goes back to the client in the reply. */
  execute(request: Request, seq: number): unknown;
  /** The application state as a JSON value that later mutations do not change (checkpoints, §4.3). */
  snapshot(): unknown;
  /** Replace the application state by a snapshot fetched from other replicas (state transfer). */
  restore(snapshot: unknown): void;
}

/**
 * Protections against known failure modes of PBFT implementations. All on by default; a test turns one
 * off to show the failure it prevents.
 */
export interface PbftGuards {
  /** §4.5.2: the view-change timer starts only once 2f+1 VIEW-CHANGEs for the new view are in (sawtooth-pbft PR #133). */
  viewChangeTimerAfterQuorum: boolean;
  /** Resend the own VIEW-CHANGE while waiting for the NEW-VIEW (Fabric issue #1917, fixed by resending in #1927). */
  retransmitViewChange: boolean;
  /** §4.5.2: on f+1 VIEW-CHANGEs from others for views above the own, change to the smallest of them. */
  joinOnWeakQuorum: boolean;
  /** Accept a valid NEW-VIEW for a later view than the one being changed to, and hand it to laggers (rejoin after a missed view change). */
  adoptLaterNewView: boolean;
  /** A VIEW-CHANGE's stable checkpoint must come with 2f+1 matching CHECKPOINTs: min-s is proven (§4.4; see planNewView). */
  checkpointProofs: boolean;
  /** A VIEW-CHANGE's prepared certificates must hold 2f matching PREPAREs from backups. */
  preparedCertProofs: boolean;
  /** §4.4: a backup that waits too long for a request it saw starts a view change (replaces a silent primary). */
  requestTimer: boolean;
  /** §4.1: a request with reqId ≤ the client's last executed one is not executed again. */
  dedupRequests: boolean;
}

export const DEFAULT_GUARDS: PbftGuards = {
  viewChangeTimerAfterQuorum: true,
  retransmitViewChange: true,
  joinOnWeakQuorum: true,
  adoptLaterNewView: true,
  checkpointProofs: true,
  preparedCertProofs: true,
  requestTimer: true,
  dedupRequests: true,
};

export interface PbftOptions {
  id: string;
  /** The configuration: n = 3f+1 replica ids, sorted, the same at every replica. The primary of view v is replicas[v mod n]. */
  replicas: string[];
  app: PbftApp;
  /** k: a checkpoint every k executed seqs (§4.3). Default 16. */
  checkpointInterval?: number;
  /** L: the log window h..h+L, a multiple of k (§4.3). Default 4k. */
  logWindow?: number;
  /** Largest number of requests in one pre-prepare. Default 32. */
  maxBatch?: number;
  /** The primary keeps at most this many seqs pre-prepared and not executed; requests queue meanwhile (batching). Default 4. */
  maxInFlight?: number;
  /** A backup waiting this long for a request it saw starts a view change (§4.4). Default 40. */
  requestTimeoutTicks?: number;
  /** T: the view-change timer, doubled after each view change that did not complete (§4.5.2). Default 40. */
  viewChangeTimeoutTicks?: number;
  /** The backoff stops doubling after this many consecutive failed view changes. Default 5. */
  maxBackoffExponent?: number;
  /** While waiting for something (a request, a view change, state), send STATUS this often; also the VIEW-CHANGE resend period. Default 10. */
  statusTicks?: number;
  /** Send STATUS this often even when idle, so a replica that is behind finds out (0: never). Default 100. */
  idleStatusTicks?: number;
  /** A backup forwards a request the primary has not pre-prepared after this long. Default 10. */
  forwardTicks?: number;
  /** At most this many seqs are caught up per STATUS answer. Default 16. */
  catchUpMax?: number;
  guards?: Partial<PbftGuards>;
}

interface Slot {
  seq: number;
  ppView: number;
  ppDigest: string | null;
  batches: Map<string, Request[]>;
  /** Latest PREPARE per replica (views at or above the current one matter). */
  prepares: Map<string, Prepare>;
  /** COMMITs per replica, by view (the two highest views kept). */
  commits: Map<string, Map<number, Commit>>;
  sentPrepareView: number;
  sentCommitView: number;
  prepared: PreparedCert | null;
  committed: { view: number; digest: string; commits: Commit[] } | null;
}

interface Waiting {
  request: Request;
  since: number;
  forwardedView: number;
}

const key = (r: Request): string => `${r.client}#${r.reqId}`;

function emptyDelta(): PersistDelta {
  return {
    meta: null, clientsReplace: null, clients: [], stable: null, checkpoints: [], dropCheckpointsBelow: null, slots: [], deleteSlots: [],
    dropSlotsThrough: null,
  };
}

/** The digest a CHECKPOINT names: the state after executing `seq` (§4.3). */
export function checkpointDigest(seq: number, state: CheckpointState): string {
  return digestOf({ seq, state });
}

/** Apply a Ready's persist delta to a stored copy (the harness's storage; the shell does the same with rows). */
export function applyPersist(p: PbftPersisted, d: PersistDelta): PbftPersisted {
  const out: PbftPersisted = { ...p };
  if (d.meta) out.meta = d.meta;
  if (d.clientsReplace) out.clients = { ...d.clientsReplace };
  if (d.clients.length) {
    out.clients = { ...out.clients };
    for (const [c, r] of d.clients) out.clients[c] = r;
  }
  if (d.stable) out.stable = d.stable;
  if (d.checkpoints.length || d.dropCheckpointsBelow !== null) {
    const m = new Map(out.checkpoints.map((c) => [c.seq, c]));
    for (const c of d.checkpoints) m.set(c.seq, c);
    out.checkpoints = Array.from(m.values()).filter((c) => d.dropCheckpointsBelow === null || c.seq >= d.dropCheckpointsBelow).sort((a, b) => a.seq - b.seq);
  }
  if (d.slots.length || d.deleteSlots.length || d.dropSlotsThrough !== null) {
    const m = new Map(out.slots.map((s) => [s.seq, s]));
    for (const s of d.slots) m.set(s.seq, s);
    for (const s of d.deleteSlots) m.delete(s);
    out.slots = Array.from(m.values()).filter((s) => d.dropSlotsThrough === null || s.seq > d.dropSlotsThrough).sort((a, b) => a.seq - b.seq);
  }
  return out;
}

export class Pbft {
  readonly id: string;
  readonly replicas: readonly string[];
  readonly n: number;
  readonly f: number;
  readonly quorum: number;
  readonly guards: PbftGuards;
  private readonly cfg: QuorumConfig;
  private readonly app: PbftApp;
  private readonly k: number;
  private readonly L: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly requestTimeoutTicks: number;
  private readonly viewChangeTimeoutTicks: number;
  private readonly maxBackoffExponent: number;
  private readonly statusTicks: number;
  private readonly idleStatusTicks: number;
  private readonly forwardTicks: number;
  private readonly catchUpMax: number;

  view = 0;
  /** False while changing to `view` (VIEW-CHANGE sent, no NEW-VIEW yet). */
  active = true;
  lastExec = 0;
  private genesisDigest: string;
  private myViewChange: ViewChange | null = null;
  private newView: NewView | null = null;
  private clients = new Map<string, ClientRecord>();
  private stable: StableCheckpoint;
  private own = new Map<number, OwnCheckpoint>();
  private checkpointMsgs = new Map<number, Map<string, CheckpointMsg>>();
  private slots = new Map<number, Slot>();
  /** The highest seq this replica pre-prepared (as primary) or accepted a pre-prepare for in the current view. */
  private seqAssigned = 0;
  private waiting = new Map<string, Waiting>();
  /** Requests in pre-prepares of the current view not executed yet (the primary does not propose them again). */
  private assigned = new Set<string>();
  /** VIEW-CHANGEs received, per replica, by view (views ≥ the current one; a few per replica). */
  private viewChanges = new Map<string, Map<number, ViewChange>>();
  /** The last view this replica was active in. */
  private lastActiveView = 0;
  /** Views whose primary sent us an invalid NEW-VIEW. */
  private badNewViews = new Set<number>();

  private now = 0;
  private viewChangeTimerStart: number | null = null;
  private backoff = 0;
  private lastViewChangeSent = 0;
  /** Last time this replica made progress (executed, entered or started a view, installed state). */
  private lastProgressAt = 0;
  private lastStatusSent = 0;
  private statusRound = 0;
  private behind = false;
  private fetchCandidate: { seq: number; digest: string; since: number; sources: string[] } | null = null;
  private fetch: { seq: number; digest: string; sources: string[]; next: number; sentAt: number } | null = null;
  private answeredAt = new Map<string, number>();

  private out: PbftReady = emptyReady();
  private delta: PersistDelta = emptyDelta();
  private metaDirty = false;
  private dirtySlots = new Set<number>();
  /** Counters for tests and benches. */
  readonly stats = { viewChangesStarted: 0, newViewsEntered: 0, stateTransfers: 0, rejected: 0, executedBatches: 0 };

  constructor(opts: PbftOptions, persisted?: PbftPersisted | null) {
    const sorted = opts.replicas.slice().sort();
    if (new Set(sorted).size !== sorted.length || sorted.some((r, i) => r !== opts.replicas[i])) {
      throw new Error("pbft: replicas must be distinct and sorted");
    }
    if (!sorted.includes(opts.id)) throw new Error(`pbft: ${opts.id} is not a replica`);
    if (sorted.length < 4) throw new Error("pbft: at least 4 replicas (n = 3f+1, f ≥ 1)");
    this.id = opts.id;
    this.replicas = sorted;
    this.n = sorted.length;
    this.f = Math.floor((this.n - 1) / 3);
    this.quorum = Math.ceil((this.n + this.f + 1) / 2);
    this.app = opts.app;
    this.k = opts.checkpointInterval ?? 16;
    this.L = opts.logWindow ?? 4 * this.k;
    if (this.k < 1 || this.L < 2 * this.k || this.L % this.k !== 0) throw new Error("pbft: logWindow must be a multiple of checkpointInterval, at least 2×");
    this.maxBatch = opts.maxBatch ?? 32;
    this.maxInFlight = opts.maxInFlight ?? 4;
    this.requestTimeoutTicks = opts.requestTimeoutTicks ?? 40;
    this.viewChangeTimeoutTicks = opts.viewChangeTimeoutTicks ?? 40;
    this.maxBackoffExponent = opts.maxBackoffExponent ?? 5;
    this.statusTicks = opts.statusTicks ?? 10;
    this.idleStatusTicks = opts.idleStatusTicks ?? 100;
    this.forwardTicks = opts.forwardTicks ?? 10;
    this.catchUpMax = opts.catchUpMax ?? 16;
    this.guards = { ...DEFAULT_GUARDS, ...opts.guards };

    if (persisted) {
      this.genesisDigest = persisted.meta.genesisDigest;
      this.stable = persisted.stable;
    } else {
      const state: CheckpointState = { app: this.app.snapshot(), clients: {} };
      this.genesisDigest = checkpointDigest(0, state);
      this.stable = { seq: 0, digest: this.genesisDigest, proof: [], state };
    }
    this.cfg = {
      replicas: this.replicas, f: this.f, quorum: this.quorum, checkpointInterval: this.k, logWindow: this.L, maxBatch: this.maxBatch,
      genesisDigest: this.genesisDigest, checkpointProofs: this.guards.checkpointProofs, preparedCertProofs: this.guards.preparedCertProofs,
    };
    if (persisted) this.restoreFrom(persisted);
    else {
      this.metaDirty = true;
      this.delta.stable = this.stable;
    }
  }

  // ---- queries ------------------------------------------------------------------------------

  primary(view = this.view): string {
    return primaryOf(this.cfg, view);
  }

  isPrimary(): boolean {
    return this.active && this.primary() === this.id;
  }

  /** h, the low watermark: the seq of the last stable checkpoint. */
  stableSeq(): number {
    return this.stable.seq;
  }

  stableCheckpoint(): { seq: number; digest: string } {
    return { seq: this.stable.seq, digest: this.stable.digest };
  }

  /** Requests this replica saw and has not executed. */
  waitingCount(): number {
    return this.waiting.size;
  }

  /** The number of log slots held (bounded by the window L). */
  slotCount(): number {
    return this.slots.size;
  }

  /**
   * Ticks until this replica has something to do on its own (a timer, a resend, a STATUS), or null if
   * never: the shell can sleep that long instead of ticking (input still arrives through `step`).
   */
  ticksUntilAction(): number | null {
    const at: number[] = [];
    if (this.active) {
      const oldest = this.oldestWaiting();
      if (oldest !== null && this.primary() !== this.id) {
        if (this.guards.requestTimer) at.push(oldest + this.requestTimeoutTicks);
        for (const w of this.waiting.values()) if (w.forwardedView !== this.view) at.push(w.since + this.forwardTicks);
      }
    } else {
      if (this.viewChangeTimerStart !== null) at.push(this.viewChangeTimerStart + this.viewChangeTimeout());
      if (this.guards.retransmitViewChange && this.myViewChange) at.push(this.lastViewChangeSent + this.statusTicks);
    }
    if (this.fetch) at.push(this.fetch.sentAt + this.statusTicks);
    if (this.fetchCandidate) at.push(this.fetchCandidate.since + this.statusTicks);
    if (this.behind || this.pending()) at.push(Math.max(this.lastStatusSent, this.lastProgressAt) + this.statusTicks);
    else if (this.idleStatusTicks > 0) at.push(this.lastStatusSent + this.idleStatusTicks);
    if (!at.length) return null;
    return Math.max(1, Math.min(...at) - this.now);
  }

  /** The durable state in full (the shell normally keeps it by applying deltas). */
  persisted(): PbftPersisted {
    return {
      meta: this.meta(),
      clients: Object.fromEntries(this.clients),
      stable: this.stable,
      checkpoints: Array.from(this.own.values()),
      slots: Array.from(this.slots.values()).map((s) => this.slotRecord(s)),
    };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /**
   * A request from this agent as a client (already signed by the shell in its client role): sent to all
   * replicas (clients multicast, §4.1) and handled locally.
   */
  submit(request: Request): PbftReady {
    for (const r of this.replicas) if (r !== this.id) this.send(r, { type: "request", request });
    this.onRequest(request);
    this.progress();
    return this.ready();
  }

  /**
   * A message from the network that passed `validPbftMsg` and the shell's signature check. `from` is the
   * transport sender (it may relay others' messages); the author is the message's own `replica`/`client`.
   */
  step(from: string, msg: PbftMsg): PbftReady {
    void from;
    if (msg.type !== "request" && (msg.replica === this.id || !this.replicas.includes(msg.replica))) return this.ready();
    switch (msg.type) {
      case "request":
        this.onRequest(msg.request);
        break;
      case "pre-prepare":
        this.onPrePrepare(msg);
        break;
      case "prepare":
        this.onPrepare(msg);
        break;
      case "commit":
        this.onCommit(msg);
        break;
      case "checkpoint":
        this.onCheckpoint(msg);
        break;
      case "view-change":
        this.onViewChange(msg);
        break;
      case "new-view":
        this.onNewView(msg);
        break;
      case "commit-cert":
        this.onCommitCert(msg);
        break;
      case "status":
        this.onStatus(msg);
        break;
      case "fetch-state":
        this.onFetchState(msg);
        break;
      case "state":
        this.onState(msg);
        break;
    }
    this.progress();
    return this.ready();
  }

  /**
   * Time passes: `elapsed` ticks (default 1) since the last call. The module adapter maps milliseconds to
   * ticks; a shell that sleeps until `ticksUntilAction()` passes the ticks slept.
   */
  tick(elapsed = 1): PbftReady {
    this.now += Math.max(1, Math.floor(elapsed));
    if (this.active) {
      const oldest = this.oldestWaiting();
      if (this.guards.requestTimer && oldest !== null && this.primary() !== this.id && this.now - oldest >= this.requestTimeoutTicks) {
        this.out.events.push(`${this.id} request timer expired in view ${this.view}`);
        this.startViewChange(this.view + 1);
      } else this.forwardWaiting();
    } else {
      if (this.viewChangeTimerStart !== null && this.now - this.viewChangeTimerStart >= this.viewChangeTimeout()) {
        // §4.5.2: no NEW-VIEW in time: move on to the next view, waiting twice as long this time.
        this.out.events.push(`${this.id} view-change timer expired for view ${this.view}`);
        this.backoff = Math.min(this.backoff + 1, this.maxBackoffExponent);
        this.startViewChange(this.view + 1);
      } else if (this.guards.retransmitViewChange && this.myViewChange && this.now - this.lastViewChangeSent >= this.statusTicks) {
        this.broadcast(this.myViewChange);
        this.lastViewChangeSent = this.now;
      }
    }
    this.maybeFetch();
    this.maybeStatus();
    this.progress();
    return this.ready();
  }

  /** Collect what is pending (call after construction: a restarted replica executes what committed before the crash). */
  ready(): PbftReady {
    const r = this.out;
    const d = this.delta;
    if (this.metaDirty) {
      d.meta = this.meta();
      this.metaDirty = false;
    }
    for (const s of this.dirtySlots) {
      const slot = this.slots.get(s);
      if (slot) d.slots.push(this.slotRecord(slot));
    }
    this.dirtySlots.clear();
    const empty =
      !d.meta && !d.clientsReplace && !d.clients.length && !d.stable && !d.checkpoints.length && d.dropCheckpointsBelow === null &&
      !d.slots.length && !d.deleteSlots.length && d.dropSlotsThrough === null;
    r.persist = empty ? null : d;
    this.out = emptyReady();
    this.delta = emptyDelta();
    return r;
  }

  // ---- requests (§4.1) ----------------------------------------------------------------------

  private onRequest(req: Request): void {
    const rec = this.clients.get(req.client);
    if (this.guards.dedupRequests && rec && req.reqId <= rec.reqId) {
      // Already executed: resend the cached reply (only the last one is kept, §4.1).
      if (req.reqId === rec.reqId) this.reply(req.client, req.reqId, rec.result);
      return;
    }
    const w = this.waiting.get(req.client);
    if (w && w.request.reqId >= req.reqId) return;
    // One outstanding request per client (§4.1): a newer one replaces the older in the waiting set, but
    // we have been waiting for this client since the older one (it did not execute here): the request
    // timer keeps counting from then, or a stream of new requests would hide that we make no progress.
    this.waiting.set(req.client, { request: req, since: w ? w.since : this.now, forwardedView: -1 });
  }

  /**
   * The request timer (§4.4): a backup waiting to execute a request it saw starts a view change when the
   * request is not executed in time. Timed per request — from when it arrived, or when the current view
   * began — rather than restarted whenever some request executes: a primary that executes others'
   * requests but never one client's (censorship) is replaced too.
   */
  private oldestWaiting(): number | null {
    let oldest: number | null = null;
    for (const w of this.waiting.values()) if (oldest === null || w.since < oldest) oldest = w.since;
    return oldest;
  }

  /** A backup hands a request the primary has not ordered to the primary (§4.1: backups relay to the primary). */
  private forwardWaiting(): void {
    const primary = this.primary();
    if (primary === this.id) return;
    for (const w of this.waiting.values()) {
      if (w.forwardedView === this.view || this.now - w.since < this.forwardTicks || this.assigned.has(key(w.request))) continue;
      w.forwardedView = this.view;
      this.send(primary, { type: "request", request: w.request });
    }
  }

  private reply(client: string, reqId: number, result: unknown): void {
    this.send(client, { type: "reply", view: this.view, client, reqId, result, replica: this.id });
  }

  // ---- normal case (§4.2) -------------------------------------------------------------------

  private inWindow(seq: number): boolean {
    return seq > this.stable.seq && seq <= this.stable.seq + this.L;
  }

  private slot(seq: number): Slot {
    let s = this.slots.get(seq);
    if (!s) {
      s = {
        seq, ppView: -1, ppDigest: null, batches: new Map(), prepares: new Map(), commits: new Map(), sentPrepareView: -1, sentCommitView: -1,
        prepared: null, committed: null,
      };
      this.slots.set(seq, s);
    }
    return s;
  }

  /** The primary assigns seqs to batches of waiting requests, within the window and the in-flight bound. */
  private propose(): void {
    if (!this.isPrimary()) return;
    while (this.seqAssigned < this.stable.seq + this.L && this.seqAssigned - this.lastExec < this.maxInFlight) {
      const batch: Request[] = [];
      for (const w of this.waiting.values()) {
        if (batch.length >= this.maxBatch) break;
        if (this.assigned.has(key(w.request))) continue;
        batch.push(w.request);
      }
      if (!batch.length) return;
      const seq = ++this.seqAssigned;
      const digest = batchDigest(batch);
      const pp: PrePrepare = { type: "pre-prepare", view: this.view, seq, digest, batch, replica: this.id };
      const slot = this.slot(seq);
      this.acceptPrePrepare(slot, this.view, digest, batch);
      this.broadcast(pp);
      this.checkPrepared(slot);
    }
  }

  private acceptPrePrepare(slot: Slot, view: number, digest: string, batch: Request[]): void {
    slot.ppView = view;
    slot.ppDigest = digest;
    slot.batches.set(digest, batch);
    if (slot.seq > this.lastExec) for (const r of batch) this.assigned.add(key(r));
    if (slot.seq > this.seqAssigned) this.seqAssigned = slot.seq;
    this.dirtySlots.add(slot.seq);
  }

  private onPrePrepare(m: PrePrepare): void {
    if (m.replica !== this.primary(m.view)) return this.reject(`pre-prepare from non-primary ${m.replica}`);
    if (m.view > this.view) {
      this.behind = true;
      return;
    }
    if (m.view < this.view || !this.active || !this.inWindow(m.seq)) return;
    if (m.batch.length > this.maxBatch || batchDigest(m.batch) !== m.digest) return this.reject(`pre-prepare with a wrong digest from ${m.replica}`);
    const slot = this.slot(m.seq);
    if (slot.ppView === m.view) {
      if (slot.ppDigest !== m.digest) this.reject(`conflicting pre-prepare for ${m.view}/${m.seq} from ${m.replica}`);
      return;
    }
    this.acceptPrePrepare(slot, m.view, m.digest, m.batch);
    if (slot.sentPrepareView !== m.view) {
      const p: Prepare = { type: "prepare", view: m.view, seq: m.seq, digest: m.digest, replica: this.id };
      slot.prepares.set(this.id, p);
      slot.sentPrepareView = m.view;
      this.broadcast(p);
    }
    this.checkPrepared(slot);
    this.checkCommitted(slot);
  }

  private onPrepare(m: Prepare): void {
    if (m.replica === this.primary(m.view)) return this.reject(`prepare from the primary ${m.replica}`);
    if (m.view > this.view) this.behind = true;
    if (m.view < this.view || !this.inWindow(m.seq)) return;
    const slot = this.slot(m.seq);
    const had = slot.prepares.get(m.replica);
    // One prepare per replica per view: a second, conflicting one is equivocation and is ignored.
    if (had && had.view >= m.view) return;
    slot.prepares.set(m.replica, m);
    this.checkPrepared(slot);
  }

  /** prepared(m, v, n, i): the pre-prepare and 2f matching prepares from distinct backups (§4.2). */
  private checkPrepared(slot: Slot): void {
    if (!this.active || slot.ppView !== this.view || slot.ppDigest === null) return;
    if (slot.prepared && slot.prepared.view === this.view) return;
    const d = slot.ppDigest;
    const matching: Prepare[] = [];
    for (const p of slot.prepares.values()) if (p.view === this.view && p.digest === d) matching.push(p);
    if (matching.length < this.quorum - 1) return;
    matching.sort((a, b) => (a.replica === this.id ? -1 : b.replica === this.id ? 1 : a.replica < b.replica ? -1 : 1));
    slot.prepared = { view: this.view, seq: slot.seq, digest: d, batch: slot.batches.get(d)!, prepares: matching.slice(0, this.quorum - 1) };
    this.dirtySlots.add(slot.seq);
    if (slot.sentCommitView !== this.view) {
      const c: Commit = { type: "commit", view: this.view, seq: slot.seq, digest: d, replica: this.id };
      slot.sentCommitView = this.view;
      this.addCommit(slot, c);
      this.broadcast(c);
    }
    this.checkCommitted(slot);
  }

  private addCommit(slot: Slot, c: Commit): void {
    let byView = slot.commits.get(c.replica);
    if (!byView) slot.commits.set(c.replica, (byView = new Map()));
    if (byView.has(c.view)) return;
    byView.set(c.view, c);
    if (byView.size > 2) byView.delete(Math.min(...byView.keys()));
  }

  /** Commits count for any seq this replica has yet to execute within the window (also below h when it lags). */
  private toExecute(seq: number): boolean {
    return seq > this.lastExec && seq <= this.stable.seq + this.L;
  }

  private onCommit(m: Commit): void {
    if (m.view > this.view) this.behind = true;
    if (!this.toExecute(m.seq)) return;
    const slot = this.slot(m.seq);
    this.addCommit(slot, m);
    this.checkCommitted(slot);
  }

  /**
   * committed: 2f+1 matching COMMITs from distinct replicas. They prove that f+1 correct replicas prepared
   * the batch, so every correct replica that executes this seq executes it (§4.5.1) — in whatever view.
   */
  private checkCommitted(slot: Slot): void {
    if (slot.committed) return;
    const groups = new Map<string, Commit[]>();
    for (const byView of slot.commits.values()) {
      for (const c of byView.values()) {
        const g = `${c.view}|${c.digest}`;
        const list = groups.get(g);
        if (list) list.push(c);
        else groups.set(g, [c]);
      }
    }
    for (const list of groups.values()) {
      if (list.length < this.quorum || !slot.batches.has(list[0].digest)) continue;
      slot.committed = { view: list[0].view, digest: list[0].digest, commits: list.slice(0, this.quorum) };
      this.dirtySlots.add(slot.seq);
      return;
    }
  }

  private onCommitCert(m: CommitCert): void {
    if (!this.toExecute(m.seq)) return;
    if (m.batch.length > this.maxBatch || batchDigest(m.batch) !== m.digest) return this.reject(`commit-cert with a wrong digest from ${m.replica}`);
    const signers = new Set<string>();
    for (const c of m.commits) {
      if (c.view !== m.view || c.seq !== m.seq || c.digest !== m.digest || !this.replicas.includes(c.replica)) {
        return this.reject(`commit-cert with a mismatched commit from ${m.replica}`);
      }
      signers.add(c.replica);
    }
    if (signers.size < this.quorum) return this.reject(`commit-cert without a quorum from ${m.replica}`);
    const slot = this.slot(m.seq);
    slot.batches.set(m.digest, m.batch);
    for (const c of m.commits) this.addCommit(slot, c);
    this.checkCommitted(slot);
  }

  /** Execute committed seqs in order (§4.2), then propose more if this replica is the primary. */
  private progress(): void {
    for (;;) {
      const slot = this.slots.get(this.lastExec + 1);
      if (!slot?.committed) break;
      this.execute(slot);
    }
    this.propose();
  }

  private execute(slot: Slot): void {
    const c = slot.committed!;
    const batch = slot.batches.get(c.digest)!;
    for (const req of batch) {
      const k = key(req);
      this.assigned.delete(k);
      const rec = this.clients.get(req.client);
      const w = this.waiting.get(req.client);
      if (w && w.request.reqId <= req.reqId) this.waiting.delete(req.client);
      if (this.guards.dedupRequests && rec && req.reqId <= rec.reqId) continue; // at most once (§4.1)
      const raw = this.app.execute(req, slot.seq);
      const result = raw === undefined ? null : raw;
      const r: ClientRecord = { reqId: req.reqId, result };
      this.clients.set(req.client, r);
      this.delta.clients.push([req.client, r]);
      this.out.executed.push({ seq: slot.seq, request: req, result });
      this.reply(req.client, req.reqId, result);
    }
    this.lastExec = slot.seq;
    this.lastProgressAt = this.now;
    this.metaDirty = true;
    this.stats.executedBatches++;
    this.out.batches.push({ seq: slot.seq, digest: c.digest, size: batch.length });
    if (this.active) this.backoff = 0; // §4.5.2: the new view works; the next view change starts from T again
    if (slot.seq % this.k === 0) this.takeCheckpoint(slot.seq);
    this.collectGarbage();
  }

  // ---- checkpoints and garbage collection (§4.3) --------------------------------------------

  private takeCheckpoint(seq: number): void {
    const state: CheckpointState = { app: this.app.snapshot(), clients: Object.fromEntries(this.clients) };
    const digest = checkpointDigest(seq, state);
    const own: OwnCheckpoint = { seq, digest, state };
    this.own.set(seq, own);
    this.delta.checkpoints.push(own);
    const m: CheckpointMsg = { type: "checkpoint", seq, digest, replica: this.id };
    this.addCheckpointMsg(m);
    this.broadcast(m);
    this.checkStable(seq);
  }

  private addCheckpointMsg(m: CheckpointMsg): void {
    let byReplica = this.checkpointMsgs.get(m.seq);
    if (!byReplica) this.checkpointMsgs.set(m.seq, (byReplica = new Map()));
    if (!byReplica.has(m.replica)) byReplica.set(m.replica, m);
    // Bound the memory a byzantine replica can make us spend on far-future checkpoints.
    const limit = this.L / this.k + 2;
    if (this.checkpointMsgs.size > limit * 2) {
      const seqs = Array.from(this.checkpointMsgs.keys()).sort((a, b) => a - b);
      for (const s of seqs.slice(0, seqs.length - limit * 2)) if (s !== this.stable.seq) this.checkpointMsgs.delete(s);
    }
  }

  private onCheckpoint(m: CheckpointMsg): void {
    if (m.seq <= this.stable.seq || m.seq % this.k !== 0) return;
    this.addCheckpointMsg(m);
    this.checkStable(m.seq);
    if (m.seq > this.lastExec) {
      // f+1 matching digests name the state of a correct replica: if we cannot get there ourselves, fetch it.
      const match = this.matchingCheckpoints(m.seq, m.digest);
      if (match.length >= this.f + 1 && (!this.fetchCandidate || this.fetchCandidate.seq < m.seq)) {
        this.fetchCandidate = { seq: m.seq, digest: m.digest, since: this.now, sources: match };
      }
    }
  }

  private matchingCheckpoints(seq: number, digest: string): string[] {
    const out: string[] = [];
    for (const c of this.checkpointMsgs.get(seq)?.values() ?? []) if (c.digest === digest && c.replica !== this.id) out.push(c.replica);
    return out;
  }

  private checkStable(seq: number): void {
    const byReplica = this.checkpointMsgs.get(seq);
    if (!byReplica || seq <= this.stable.seq) return;
    const groups = new Map<string, CheckpointMsg[]>();
    for (const c of byReplica.values()) {
      const g = groups.get(c.digest);
      if (g) g.push(c);
      else groups.set(c.digest, [c]);
    }
    for (const [digest, proof] of groups) if (proof.length >= this.quorum) this.makeStable(seq, digest, proof.slice(0, this.quorum));
  }

  /** A checkpoint with a proof of 2f+1 becomes the low watermark; the log below it goes (§4.3). */
  private makeStable(seq: number, digest: string, proof: CheckpointMsg[]): void {
    if (seq <= this.stable.seq) return;
    const own = this.own.get(seq);
    if (own && own.digest !== digest) this.out.events.push(`${this.id} own checkpoint ${seq} differs from the stable one`);
    this.stable = { seq, digest, proof, state: own && own.digest === digest ? own.state : null };
    this.delta.stable = this.stable;
    for (const s of this.own.keys()) if (s < seq) this.own.delete(s);
    this.delta.dropCheckpointsBelow = seq;
    for (const s of this.checkpointMsgs.keys()) if (s < seq) this.checkpointMsgs.delete(s);
    if (this.seqAssigned < seq) this.seqAssigned = seq;
    if (this.lastExec < seq && (!this.fetchCandidate || this.fetchCandidate.seq < seq)) {
      this.fetchCandidate = { seq, digest, since: this.now, sources: proof.map((c) => c.replica).filter((r) => r !== this.id) };
    }
    this.collectGarbage();
    this.metaDirty = true;
  }

  private collectGarbage(): void {
    // Slots at or below the stable checkpoint go, except those still to execute (a replica slightly
    // behind a checkpoint that became stable finishes from its log instead of fetching state).
    const through = Math.min(this.stable.seq, this.lastExec);
    let dropped = false;
    for (const s of this.slots.keys()) {
      if (s <= through) {
        this.slots.delete(s);
        this.dirtySlots.delete(s);
        dropped = true;
      }
    }
    if (dropped) this.delta.dropSlotsThrough = Math.max(this.delta.dropSlotsThrough ?? 0, through);
  }

  // ---- state transfer (§4.3; TOCS checkpoint management) -------------------------------------

  private maybeFetch(): void {
    const c = this.fetchCandidate;
    if (c && c.seq <= this.lastExec) this.fetchCandidate = null;
    else if (c && (!this.fetch || this.fetch.seq < c.seq)) {
      // Give the normal path a status period first (the commits may be in flight), unless the
      // checkpoint is beyond our window and the log cannot get us there.
      if (this.now - c.since >= this.statusTicks || c.seq > this.stable.seq + this.L) {
        this.fetch = { seq: c.seq, digest: c.digest, sources: c.sources.length ? c.sources : this.others(), next: 0, sentAt: -Infinity };
      }
    }
    const f = this.fetch;
    if (!f) return;
    if (f.seq <= this.lastExec) {
      this.fetch = null;
      return;
    }
    if (this.now - f.sentAt >= this.statusTicks) {
      // One source at a time, rotating on each retry (not n-1 copies of the state).
      const to = f.sources[f.next % f.sources.length];
      f.next++;
      f.sentAt = this.now;
      const m: FetchState = { type: "fetch-state", seq: f.seq, digest: f.digest, replica: this.id };
      this.send(to, m);
    }
  }

  private onFetchState(m: FetchState): void {
    if (!this.rateOk(`fetch:${m.replica}`)) return;
    let state: CheckpointState | null = null;
    if (this.stable.seq === m.seq && this.stable.digest === m.digest) state = this.stable.state;
    const own = this.own.get(m.seq);
    if (!state && own && own.digest === m.digest) state = own.state;
    if (!state) return;
    const reply: StateMsg = { type: "state", seq: m.seq, digest: m.digest, state, replica: this.id };
    this.send(m.replica, reply);
  }

  private onState(m: StateMsg): void {
    const f = this.fetch;
    if (!f || m.seq !== f.seq || m.digest !== f.digest) return;
    if (checkpointDigest(m.seq, m.state) !== m.digest) return this.reject(`state that does not match its digest from ${m.replica}`);
    this.fetch = null;
    if (this.fetchCandidate && this.fetchCandidate.seq <= m.seq) this.fetchCandidate = null;
    if (m.seq <= this.lastExec) return;
    this.app.restore(m.state.app);
    this.clients = new Map(Object.entries(m.state.clients));
    this.delta.clientsReplace = { ...m.state.clients };
    this.lastExec = m.seq;
    this.lastProgressAt = this.now;
    this.metaDirty = true;
    this.out.restored = m.seq;
    this.stats.stateTransfers++;
    this.out.events.push(`${this.id} fetched checkpoint state ${m.seq} from ${m.replica}`);
    const own: OwnCheckpoint = { seq: m.seq, digest: m.digest, state: m.state };
    this.own.set(m.seq, own);
    this.delta.checkpoints.push(own);
    if (this.stable.seq === m.seq && !this.stable.state) {
      this.stable = { ...this.stable, state: m.state };
      this.delta.stable = this.stable;
    }
    for (const [c, w] of this.waiting) {
      const rec = this.clients.get(c);
      if (rec && w.request.reqId <= rec.reqId) this.waiting.delete(c);
    }
    for (const k of Array.from(this.assigned)) {
      const [c, id] = [k.slice(0, k.lastIndexOf("#")), Number(k.slice(k.lastIndexOf("#") + 1))];
      const rec = this.clients.get(c);
      if (rec && id <= rec.reqId) this.assigned.delete(k);
    }
    // Our own CHECKPOINT helps others make it stable; it is true: our state is the one named by the digest.
    const cm: CheckpointMsg = { type: "checkpoint", seq: m.seq, digest: m.digest, replica: this.id };
    this.addCheckpointMsg(cm);
    this.broadcast(cm);
    this.checkStable(m.seq);
    this.collectGarbage();
  }

  // ---- view changes (§4.4, §4.5.2) -----------------------------------------------------------

  private viewChangeTimeout(): number {
    return this.viewChangeTimeoutTicks * 2 ** this.backoff;
  }

  /** Move to view `v` (> current): stop taking normal-case messages, multicast VIEW-CHANGE (§4.4). */
  private startViewChange(v: number): void {
    if (v <= this.view) return;
    this.view = v;
    this.active = false;
    this.lastProgressAt = this.now;
    this.stats.viewChangesStarted++;
    const prepared: PreparedCert[] = [];
    for (const s of Array.from(this.slots.keys()).sort((a, b) => a - b)) {
      const slot = this.slots.get(s)!;
      if (s > this.stable.seq && s <= this.stable.seq + this.L && slot.prepared) prepared.push(slot.prepared);
    }
    const vc: ViewChange = {
      type: "view-change", view: v, stable: { seq: this.stable.seq, digest: this.stable.digest }, proof: this.stable.proof, prepared, replica: this.id,
    };
    this.myViewChange = vc;
    this.newView = null;
    this.metaDirty = true;
    this.pruneViewChanges();
    this.storeViewChange(vc);
    // §4.5.2: the timer starts when 2f+1 VIEW-CHANGEs for v are in (checkViewChangeQuorum), not now —
    // a replica that alone suspects the primary must not march through views on its own.
    this.viewChangeTimerStart = this.guards.viewChangeTimerAfterQuorum ? null : this.now;
    this.lastViewChangeSent = this.now;
    this.out.events.push(`${this.id} view change to ${v}`);
    this.broadcast(vc);
    this.checkViewChangeQuorum();
  }

  private onViewChange(m: ViewChange): void {
    if (m.view < this.view || (m.view === this.view && this.active)) {
      // The sender is behind: hand it the NEW-VIEW of our view so it can rejoin.
      if (this.guards.adoptLaterNewView && this.active && this.newView && this.rateOk(`nv:${m.replica}`)) this.send(m.replica, this.newView);
      return;
    }
    const had = this.viewChanges.get(m.replica);
    if (had?.has(m.view)) return;
    // Only a few views per replica are kept (the lowest): do not spend validation on one it would drop.
    if (had && had.size >= 3 && m.view > Math.max(...had.keys())) return;
    if (!validViewChange(this.cfg, m)) return this.reject(`invalid view-change from ${m.replica}`);
    this.storeViewChange(m);
    if (this.guards.joinOnWeakQuorum) {
      // §4.5.2: f+1 VIEW-CHANGEs from others for views above ours include a correct replica's: join the smallest.
      const above: number[] = [];
      for (const [r, byView] of this.viewChanges) {
        if (r === this.id) continue;
        const views = Array.from(byView.keys()).filter((v) => v > this.view);
        if (views.length) above.push(Math.min(...views));
      }
      if (above.length >= this.f + 1) this.startViewChange(Math.min(...above));
    }
    this.checkViewChangeQuorum();
  }

  private storeViewChange(m: ViewChange): void {
    let byView = this.viewChanges.get(m.replica);
    if (!byView) this.viewChanges.set(m.replica, (byView = new Map()));
    byView.set(m.view, m);
    // A few per replica, the lowest views (a byzantine replica announcing ever higher views changes nothing).
    if (byView.size > 3) byView.delete(Math.max(...byView.keys()));
  }

  private pruneViewChanges(): void {
    for (const [r, byView] of this.viewChanges) {
      for (const v of byView.keys()) if (v < this.view || (v === this.view && this.active)) byView.delete(v);
      if (!byView.size) this.viewChanges.delete(r);
    }
  }

  private checkViewChangeQuorum(): void {
    if (this.active) return;
    const forView: ViewChange[] = [];
    for (const byView of this.viewChanges.values()) {
      const vc = byView.get(this.view);
      if (vc) forView.push(vc);
    }
    if (forView.length < this.quorum) return;
    if (this.viewChangeTimerStart === null) this.viewChangeTimerStart = this.now;
    if (this.primary() === this.id) this.sendNewView(forView);
  }

  /** The new primary: NEW-VIEW with V (2f+1 VIEW-CHANGEs, its own among them) and O (§4.4). */
  private sendNewView(forView: ViewChange[]): void {
    const mine = forView.find((v) => v.replica === this.id);
    if (!mine) return;
    const others = forView.filter((v) => v.replica !== this.id).sort((a, b) => (a.replica < b.replica ? -1 : 1));
    const V = [mine, ...others.slice(0, this.quorum - 1)];
    const plan = planNewView(this.cfg, V);
    const nv: NewView = { type: "new-view", view: this.view, viewChanges: V, prePrepares: plan.entries, replica: this.id };
    this.broadcast(nv);
    this.enterView(nv, plan);
  }

  private onNewView(m: NewView): void {
    if (m.view < this.view || (m.view === this.view && this.active)) return;
    if (m.view > this.view && !this.guards.adoptLaterNewView) return;
    // Only the primary of a view can produce a NEW-VIEW that verifies: once it sent an invalid one it is
    // faulty, and checking more of its NEW-VIEWs for that view would only cost us (the timer moves on).
    if (m.replica !== this.primary(m.view)) return this.reject(`new-view from ${m.replica}, not the primary of view ${m.view}`);
    if (this.badNewViews.has(m.view)) return;
    const plan = checkNewView(this.cfg, m);
    if (!plan) {
      this.badNewViews.add(m.view);
      if (this.badNewViews.size > 16) this.badNewViews.delete(Math.min(...this.badNewViews));
      return this.reject(`invalid new-view from ${m.replica}`);
    }
    this.enterView(m, plan);
  }

  /** Enter the view of a valid NEW-VIEW: adopt min-s, pre-prepare O, prepare it (§4.4). */
  private enterView(nv: NewView, plan: NewViewPlan): void {
    this.view = nv.view;
    this.active = true;
    this.lastActiveView = nv.view;
    this.lastProgressAt = this.now;
    this.myViewChange = null;
    this.newView = nv;
    this.metaDirty = true;
    this.viewChangeTimerStart = null;
    this.stats.newViewsEntered++;
    this.pruneViewChanges();
    this.out.events.push(`${this.id} entered view ${nv.view} (min-s ${plan.minS}, max-s ${plan.maxS})`);
    if (plan.minS > this.stable.seq) this.makeStable(plan.minS, plan.minSDigest, plan.minSProof);
    this.assigned.clear();
    this.seqAssigned = Math.max(this.stable.seq, this.lastExec);
    const primary = this.primary() === this.id;
    for (const e of plan.entries) {
      // Below our own stable checkpoint the seq is settled (2f+1 vouch for the state there): never vote on it again.
      if (!this.inWindow(e.seq)) continue;
      const slot = this.slot(e.seq);
      this.acceptPrePrepare(slot, nv.view, e.digest, e.batch);
      if (!primary && slot.sentPrepareView !== nv.view) {
        const p: Prepare = { type: "prepare", view: nv.view, seq: e.seq, digest: e.digest, replica: this.id };
        slot.prepares.set(this.id, p);
        slot.sentPrepareView = nv.view;
        this.broadcast(p);
      }
    }
    if (plan.maxS > this.seqAssigned) this.seqAssigned = plan.maxS;
    // Above max-s nothing committed in earlier views (a commit would have left a certificate in V, §4.5.1):
    // what the log holds there is obsolete, and the new primary assigns those seqs afresh.
    for (const [seq, slot] of this.slots) {
      if (seq > Math.max(plan.maxS, this.lastExec) && !slot.committed) {
        this.slots.delete(seq);
        this.dirtySlots.delete(seq);
        this.delta.deleteSlots.push(seq);
      }
    }
    for (const w of this.waiting.values()) w.since = this.now; // the request timer restarts with the view
    for (const slot of this.slots.values()) this.checkPrepared(slot);
  }

  // ---- retransmission (TOCS: receiver-based, with STATUS) -----------------------------------

  /** Something this replica is waiting for: a request to execute, a seq in progress, a view, state. */
  private pending(): boolean {
    if (!this.active || this.fetch || this.waiting.size) return true;
    for (const s of this.slots.values()) {
      if (s.seq > this.lastExec && (s.committed || (s.ppView === this.view && s.ppDigest !== null))) return true;
    }
    return false;
  }

  /**
   * Receiver-based retransmission (TOCS): a replica that waits for something (or saw evidence that it is
   * behind) and has made no progress for a status period multicasts STATUS. Under load with progress,
   * and when idle (but for the slow idle beacon), no STATUS is sent.
   */
  private maybeStatus(): void {
    if (this.now - this.lastStatusSent < this.statusTicks) return;
    const quiet = this.now - this.lastProgressAt >= this.statusTicks;
    const pending = this.pending();
    if (quiet && (pending || this.behind)) this.sendStatus();
    else if (this.idleStatusTicks > 0 && this.now - this.lastStatusSent >= this.idleStatusTicks && !pending) this.sendStatus();
  }

  private sendStatus(): void {
    this.lastStatusSent = this.now;
    this.behind = false;
    const m: Status = {
      type: "status", view: this.view, active: this.active, lastExec: this.lastExec, stable: this.stable.seq, round: this.statusRound++, replica: this.id,
    };
    this.broadcast(m);
  }

  /** Whether this replica is one of the f+1 (rotating with the sender's round) that answer with bulky items. */
  private designated(s: Status): boolean {
    const i = this.replicas.indexOf(s.replica);
    const others = this.n - 1;
    const rank = (this.replicas.indexOf(this.id) - i - 1 + this.n) % this.n; // 0..n-2, ring order after the sender
    const start = (s.round * (this.f + 1)) % others;
    return (rank - start + others) % others <= this.f;
  }

  /** Answer a STATUS with what its sender lacks and we have. */
  private onStatus(s: Status): void {
    if (s.view > this.view || s.lastExec > this.lastExec) this.behind = true; // it is ahead: our own STATUS will get us its help
    if (!this.rateOk(`status:${s.replica}`)) return;
    const to = s.replica;
    // f+1 of us answer with the bulky items (at least one correct); the set rotates with its round.
    const bulky = this.designated(s);
    // Views: a replica in an older view, or still changing to ours, gets our NEW-VIEW; one changing to
    // the same view as we are gets our VIEW-CHANGE.
    if (s.view < this.view || (s.view === this.view && !s.active)) {
      if (this.active && this.newView && this.guards.adoptLaterNewView) {
        if (bulky) this.send(to, this.newView);
      } else if (!this.active && this.myViewChange && this.guards.retransmitViewChange) this.send(to, this.myViewChange);
    }
    // It is stuck changing to a view we have moved past without being active since: it still needs our
    // VIEW-CHANGE for that view to gather its 2f+1 (PBFT's liveness argument assumes that message is
    // eventually delivered, §4.5.2; we may have stopped resending it, or lost it in a crash). It says
    // exactly what our current one says: we have prepared nothing since our last active view.
    if (!this.active && this.myViewChange && s.view < this.view && s.view > this.lastActiveView && !s.active && this.guards.retransmitViewChange) {
      this.send(to, { ...this.myViewChange, view: s.view });
    }
    if (!bulky) return this.resendInFlight(s);
    // Checkpoints: the proof of our stable checkpoint, if it has not got there.
    if (s.stable < this.stable.seq) for (const c of this.stable.proof) this.send(to, c);
    // Executed seqs it lacks: commit certificates.
    const upTo = Math.min(this.lastExec, s.lastExec + this.catchUpMax);
    for (let seq = Math.max(s.lastExec, this.stable.seq - this.L) + 1; seq <= upTo; seq++) {
      const slot = this.slots.get(seq);
      if (!slot?.committed) continue;
      const c = slot.committed;
      const cc: CommitCert = { type: "commit-cert", view: c.view, seq, digest: c.digest, batch: slot.batches.get(c.digest)!, commits: c.commits, replica: this.id };
      this.send(to, cc);
    }
    this.resendInFlight(s);
  }

  /** In-flight seqs of a shared view: our pre-prepare (as primary), prepare and commit — only we can send our own. */
  private resendInFlight(s: Status): void {
    const to = s.replica;
    if (s.view === this.view && s.active && this.active) {
      const from = Math.max(s.lastExec, this.lastExec);
      for (let seq = from + 1; seq <= Math.min(this.seqAssigned, from + this.catchUpMax); seq++) {
        const slot = this.slots.get(seq);
        if (!slot || slot.ppView !== this.view || slot.ppDigest === null) continue;
        if (this.primary() === this.id) {
          this.send(to, { type: "pre-prepare", view: this.view, seq, digest: slot.ppDigest, batch: slot.batches.get(slot.ppDigest)!, replica: this.id });
        }
        if (slot.sentPrepareView === this.view) this.send(to, { type: "prepare", view: this.view, seq, digest: slot.ppDigest, replica: this.id });
        if (slot.sentCommitView === this.view && slot.prepared) {
          this.send(to, { type: "commit", view: this.view, seq, digest: slot.prepared.digest, replica: this.id });
        }
      }
    }
  }

  /** At most one answer per kind per peer per half status period (a byzantine peer cannot make us flood). */
  private rateOk(k: string): boolean {
    const at = this.answeredAt.get(k);
    if (at !== undefined && this.now - at < Math.max(1, Math.floor(this.statusTicks / 2))) return false;
    this.answeredAt.set(k, this.now);
    return true;
  }

  // ---- persistence ---------------------------------------------------------------------------

  private meta(): PbftMeta {
    return {
      view: this.view, active: this.active, viewChange: this.myViewChange, lastActiveView: this.lastActiveView, newView: this.newView, lastExec: this.lastExec,
      genesisDigest: this.genesisDigest,
    };
  }

  private slotRecord(s: Slot): SlotRecord {
    return {
      seq: s.seq, ppView: s.ppView, ppDigest: s.ppDigest, batches: Array.from(s.batches, ([digest, batch]) => ({ digest, batch })),
      sentPrepareView: s.sentPrepareView, sentCommitView: s.sentCommitView, prepared: s.prepared, committed: s.committed,
    };
  }

  /**
   * Restart from storage (memory lost, storage kept). The application must already hold the state after
   * `meta.lastExec` (the shell persists it with the delta of the same Ready). Nothing sent before the
   * crash can be contradicted: the view, the VIEW-CHANGE, accepted pre-prepares and sent prepares and
   * commits are all durable.
   */
  private restoreFrom(p: PbftPersisted): void {
    const m = p.meta;
    this.view = m.view;
    this.active = m.active;
    this.myViewChange = m.viewChange;
    this.lastActiveView = m.lastActiveView;
    this.newView = m.newView;
    this.lastExec = m.lastExec;
    this.clients = new Map(Object.entries(p.clients));
    for (const c of p.checkpoints) this.own.set(c.seq, c);
    for (const r of p.slots) {
      const s = this.slot(r.seq);
      s.ppView = r.ppView;
      s.ppDigest = r.ppDigest;
      for (const b of r.batches) s.batches.set(b.digest, b.batch);
      s.sentPrepareView = r.sentPrepareView;
      s.sentCommitView = r.sentCommitView;
      s.prepared = r.prepared;
      s.committed = r.committed;
      if (r.sentPrepareView >= 0 && r.sentPrepareView === r.ppView && r.ppDigest) {
        s.prepares.set(this.id, { type: "prepare", view: r.ppView, seq: r.seq, digest: r.ppDigest, replica: this.id });
      }
      if (r.prepared) for (const pr of r.prepared.prepares) if (!s.prepares.has(pr.replica) || s.prepares.get(pr.replica)!.view < pr.view) s.prepares.set(pr.replica, pr);
      if (r.sentCommitView >= 0 && r.prepared && r.prepared.view === r.sentCommitView) {
        this.addCommit(s, { type: "commit", view: r.sentCommitView, seq: r.seq, digest: r.prepared.digest, replica: this.id });
      }
      if (r.committed) for (const c of r.committed.commits) this.addCommit(s, c);
      if (s.ppView === this.view && s.seq > this.lastExec && s.ppDigest) for (const q of s.batches.get(s.ppDigest) ?? []) this.assigned.add(key(q));
    }
    for (const s of this.slots.keys()) if (s > this.seqAssigned && this.slots.get(s)!.ppView === this.view) this.seqAssigned = s;
    this.seqAssigned = Math.max(this.seqAssigned, this.stable.seq, this.lastExec);
    if (!this.active && this.myViewChange) {
      this.storeViewChange(this.myViewChange);
      if (!this.guards.viewChangeTimerAfterQuorum) this.viewChangeTimerStart = this.now;
    }
    if (this.stable.seq > this.lastExec) {
      this.fetchCandidate = { seq: this.stable.seq, digest: this.stable.digest, since: this.now, sources: this.stable.proof.map((c) => c.replica).filter((r) => r !== this.id) };
    }
    for (const [seq, c] of this.own) if (seq > this.stable.seq) this.addCheckpointMsg({ type: "checkpoint", seq, digest: c.digest, replica: this.id });
    // Committed seqs the application has not executed yet run now (their results come out in the first Ready).
    this.progress();
  }

  // ---- output --------------------------------------------------------------------------------

  private others(): string[] {
    return this.replicas.filter((r) => r !== this.id);
  }

  private send(to: string, msg: PbftReady["messages"][number]["msg"]): void {
    this.out.messages.push({ to, msg });
  }

  private broadcast(msg: PbftMsg): void {
    for (const r of this.replicas) if (r !== this.id) this.out.messages.push({ to: r, msg });
  }

  private reject(why: string): void {
    this.stats.rejected++;
    this.out.events.push(`${this.id} ignored ${why}`);
  }
}

function emptyReady(): PbftReady {
  return { persist: null, messages: [], executed: [], batches: [], restored: null, events: [] };
}

export type { Executed };
