// A seeded, deterministic harness for the task replica core (src/core/tasks/replica.ts), in the style
// of test/core/raft-harness.ts and FoundationDB/TigerBeetle simulation: one seed derives every fault.
//  - N agents run the real TaskReplica; a discrete-event network with loss, delay (so reordering) and
//    duplication; crash (memory lost, storage kept) and restart; permanent crashes (at most
//    replication − 1 in the whole run, so no task can lose every holder).
//  - A membership oracle: each observer learns a crash only after its own detection delay (views
//    diverge for a while), and a restart after a short delay; each learning recomputes that agent's ring.
//    Deaths are accurate (only crashed agents are declared dead), as the mesh's quorum-confirmed SWIM
//    detector is meant to be.
//  - Clients submit through the "router" (the home from one random agent's view) and retry; workers
//    claim, run, complete or fail; some die mid-task (their lease runs out), some complete late (after
//    the lease expired and the task went to someone else) or twice, through any agent.
//  - The history checker: 0 acknowledged tasks lost, 0 tasks with two different acknowledged results
//    (checked at every completion reply), every acknowledged task ends done or failed with a reason, and
//    the holders of the final record agree with it.
import { Rng } from "../../src/core/rng";
import type { MemberInfo } from "../../src/core/tasks/types";
import {
  cmpBallot, TaskReplica, type TaskMsg, type TaskReady, type TaskRecord, type TaskReplicaOptions, type TaskRow, type TaskSpec,
} from "../../src/core/tasks/replica";
import { validTaskMsg } from "../../src/core/tasks/validate";
import type { Strategy } from "../../src/core/tasks/types";

export interface TasksHarnessOptions {
  seed: number;
  agents?: number;
  tasks?: number;
  replication?: number;
  dropRate?: number;
  dupRate?: number;
  maxDelayMs?: number;
  /** Fraction of agents that crash during the fault phase (some permanently, the rest restart). */
  crashFraction?: number;
  /** Permanent crashes (never back); at most replication − 1. */
  permanentCrashes?: number;
  detectMinMs?: number;
  detectMaxMs?: number;
  tickMs?: number;
  /** Submissions are spread over this window; a third of them arrive in one burst. */
  submitWindowMs?: number;
  leaseMs?: number;
  workMinMs?: number;
  workMaxMs?: number;
  /** Worker outcomes per attempt. */
  failRate?: number;
  dieRate?: number;
  lateRate?: number;
  dupCompleteRate?: number;
  /** Share of tasks per strategy (the rest: dht). */
  auctionShare?: number;
  capabilityShare?: number;
  /** Partition episodes in the fault phase: a small minority is cut off for 1–2.5 s. */
  partitions?: number;
  /** Deadline of the healed liveness phase after the fault phase. */
  settleMs?: number;
  validate?: boolean;
  /** Debugging: log every event, message and reply about this task id. */
  trace?: string;
  unsafe?: TaskReplicaOptions["unsafe"];
}

interface Node {
  id: string;
  caps: string[];
  slots: number;
  core: TaskReplica | null;
  store: Map<string, TaskRow>;
  up: boolean;
  permanent: boolean;
  /** What this agent believes is live. */
  view: Set<string>;
  /** Worker: tasks it runs now, an outstanding claim. */
  running: number;
  claiming: boolean;
}

type Pending =
  | { kind: "submit"; taskId: string; attempt: number }
  | { kind: "claim"; agent: string }
  | { kind: "complete"; taskId: string; agent: string; result: string; attempt: number; dupOf: boolean }
  | { kind: "fail"; taskId: string; agent: string; attempt: number };

interface Ev {
  at: number;
  seq: number;
  run: () => void;
}

/** Binary min-heap of events by (time, insertion order): deterministic. */
class EventQueue {
  private h: Ev[] = [];
  private seq = 0;
  get size(): number {
    return this.h.length;
  }
  push(at: number, run: () => void): void {
    const e = { at, seq: this.seq++, run };
    const h = this.h;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], e)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }
  peek(): Ev | undefined {
    return this.h[0];
  }
  pop(): Ev | undefined {
    const h = this.h;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r], h[l]) ? r : l;
        if (less(last, h[c])) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function less(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

const CAPS = ["cpu", "gpu", "net", "db", "ml"];

export interface TasksRunResult {
  seed: number;
  submitted: number;
  acknowledged: number;
  done: number;
  failed: number;
  lost: string[];
  doubleCompletions: string[];
  unfinished: string[];
  forked: string[];
  violations: string[];
  messages: number;
  dropped: number;
  crashes: number;
  restarts: number;
  permanent: number;
  lateCompletes: number;
  duplicateCompletes: number;
  leaseExpiries: number;
  steals: number;
  migrations: number;
  auctionsAwarded: number;
  takeovers: number;
  simMs: number;
}

export class TasksHarness {
  readonly o: Required<Omit<TasksHarnessOptions, "unsafe">> & { unsafe: TasksHarnessOptions["unsafe"] };
  readonly rng: Rng;
  readonly nodes = new Map<string, Node>();
  readonly ids: string[];
  now = 0;
  private q = new EventQueue();
  private pending = new Map<string, Pending>();
  private ridSeq = 0;
  /** History. */
  readonly specs = new Map<string, TaskSpec>();
  readonly acked = new Map<string, number>();
  readonly rejected = new Set<string>();
  /** The first acknowledged result per task, and every violation found on the way. */
  readonly results = new Map<string, string>();
  readonly violations: string[] = [];
  private faultsOn = true;
  private dropRate: number;
  stats = { messages: 0, dropped: 0, crashes: 0, restarts: 0, permanent: 0, lateCompletes: 0, duplicateCompletes: 0, leaseExpiries: 0 };
  /** Per task: the worker attempts seen (to make each attempt's result distinct). */
  private attemptNo = new Map<string, number>();

  constructor(opts: TasksHarnessOptions) {
    this.o = {
      agents: 20, tasks: 500, replication: 3, dropRate: 0.02, dupRate: 0.02, maxDelayMs: 12, crashFraction: 0.1, permanentCrashes: 2,
      detectMinMs: 200, detectMaxMs: 900, tickMs: 25, submitWindowMs: 6000, leaseMs: 1200, workMinMs: 10, workMaxMs: 250, failRate: 0.05,
      dieRate: 0.03, lateRate: 0.03, dupCompleteRate: 0.05, auctionShare: 0.1, capabilityShare: 0.15, settleMs: 60_000, partitions: 1, trace: "", validate: true, ...opts,
      unsafe: opts.unsafe,
    };
    this.o.permanentCrashes = Math.min(this.o.permanentCrashes, this.o.replication - 1);
    this.dropRate = this.o.dropRate;
    this.rng = new Rng(opts.seed);
    this.ids = Array.from({ length: this.o.agents }, (_, i) => `a${i}`);
    for (const id of this.ids) {
      const caps = ["cpu", ...CAPS.slice(1).filter(() => this.rng.chance(0.4))];
      const node: Node = { id, caps, slots: 1 + this.rng.int(4), core: null, store: new Map(), up: true, permanent: false, view: new Set(this.ids), running: 0, claiming: false };
      this.nodes.set(id, node);
    }
    for (const n of this.nodes.values()) this.start(n);
  }

  // ---- agents and membership --------------------------------------------------------------------

  private memberInfo(id: string): MemberInfo {
    const n = this.nodes.get(id)!;
    return { id, caps: n.caps, slots: n.slots, load: n.core ? n.core.load(this.now) : 0 };
  }

  /** Loads as last gossiped (soft state: refreshed every 300 ms). */
  private loads = new Map<string, number>();

  private viewMembers(n: Node): MemberInfo[] {
    return Array.from(n.view).sort().map((id) => {
      const x = this.nodes.get(id)!;
      return { id, caps: x.caps, slots: x.slots, load: this.loads.get(id) ?? 0 };
    });
  }

  private start(n: Node): void {
    n.up = true;
    n.running = 0;
    n.claiming = false;
    n.core = new TaskReplica(
      {
        id: n.id, rng: this.rng.fork(), caps: n.caps, slots: n.slots, retryMs: 100, requestTimeoutMs: 2500, defaultLeaseMs: this.o.leaseMs,
        defaultMaxAttempts: 4, auctionMs: 60, auctionRounds: 3, assignResendMs: 400, rebalanceEveryMs: 500, nudgeMs: 600, unsafe: this.o.unsafe,
      },
      Array.from(n.store.values()),
      this.viewMembers(n),
      this.now,
    );
    this.handle(n, n.core.ready());
    this.scheduleTick(n, n.core);
  }

  /** The shell's alarm: the core's next deadline, but not sooner than tickMs nor later than 500 ms. */
  private scheduleTick(n: Node, core: TaskReplica): void {
    const want = core.nextDeadline(this.now) ?? this.now + 500;
    const at = Math.min(this.now + 500, Math.max(this.now + this.o.tickMs, want)) + this.rng.int(5);
    this.q.push(at, () => {
      if (n.core !== core) return; // crashed (and maybe restarted) since
      this.handle(n, core.tick(this.now));
      this.scheduleTick(n, core);
    });
  }

  /** Crash: memory (core, worker) lost, storage kept. Observers learn after their detection delay. */
  crash(id: string, permanent = false): void {
    const n = this.nodes.get(id)!;
    if (!n.up) return;
    n.up = false;
    n.core = null;
    n.running = 0;
    n.permanent = permanent;
    this.stats.crashes++;
    if (permanent) this.stats.permanent++;
    if (this.o.trace) this.traceLog.push(`${this.now} CRASH ${id}${permanent ? " (permanent)" : ""}`);
    // Requests that entered at the crashed agent get no answer: their clients time out and retry.
    for (const [rid, p] of Array.from(this.pending)) {
      if (p.kind === "claim" && p.agent === id) this.pending.delete(rid);
      else if (ridOrigin(rid) === id) {
        this.pending.delete(rid);
        if (p.kind === "submit") this.q.push(this.now + 500, () => this.submitTask(this.specs.get(p.taskId)!, p.attempt + 1));
        else if (p.kind !== "claim") this.q.push(this.now + 500, () => this.sendOutcome({ ...p, attempt: p.attempt + 1 }));
      }
    }
    for (const o of this.ids) {
      if (o === id) continue;
      const delay = this.o.detectMinMs + this.rng.int(this.o.detectMaxMs - this.o.detectMinMs + 1);
      this.q.push(this.now + delay, () => this.learn(o, id, false));
    }
  }

  restart(id: string): void {
    const n = this.nodes.get(id)!;
    if (n.up || n.permanent) return;
    // It rejoins with the membership as it is now (join_ack), as a new incarnation.
    n.view = new Set(this.ids.filter((x) => this.nodes.get(x)!.up || x === id));
    this.start(n);
    this.stats.restarts++;
    if (this.o.trace) this.traceLog.push(`${this.now} RESTART ${id}`);
    for (const o of this.ids) {
      if (o === id) continue;
      // After any pending death notice for the old incarnation (the oracle delivers in order per pair).
      this.q.push(this.now + this.o.detectMaxMs + 50 + this.rng.int(200), () => this.learn(o, id, true));
    }
    this.scheduleWorker(n);
  }

  // ---- partitions: the minority side is read-only, so its agents' views are frozen (the shell stops
  // feeding membership changes) and no client or worker enters there; the majority declares it dead.
  readonly minority = new Set<string>();

  private cutOff(a: string, b: string): boolean {
    return this.minority.size > 0 && this.minority.has(a) !== this.minority.has(b);
  }

  partition(ids: string[], durationMs: number): void {
    if (this.minority.size > 0) return;
    for (const x of ids) this.minority.add(x);
    if (this.o.trace) this.traceLog.push(`${this.now} PARTITION ${ids.join(",")}`);
    for (const o of this.ids) {
      if (this.minority.has(o)) continue;
      for (const x of ids) {
        const delay = this.o.detectMinMs + this.rng.int(this.o.detectMaxMs - this.o.detectMinMs + 1);
        this.q.push(this.now + delay, () => {
          if (this.minority.has(x)) this.learn(o, x, false, true);
        });
      }
    }
    this.q.push(this.now + durationMs, () => this.heal());
  }

  heal(): void {
    const was = Array.from(this.minority);
    this.minority.clear();
    const truth = this.ids.filter((x) => this.nodes.get(x)!.up);
    for (const x of was) {
      // The cut-off agents rejoin: they get the membership as it is (join_ack)...
      const n = this.nodes.get(x)!;
      n.view = new Set(truth.concat(n.up ? [x] : []));
      if (n.core) this.handle(n, n.core.setMembers(this.viewMembers(n), this.now));
      // ...and the others learn they are back, each after its own delay.
      for (const o of this.ids) if (!was.includes(o)) this.q.push(this.now + 50 + this.rng.int(400), () => this.learn(o, x, true));
    }
  }

  private learn(observer: string, subject: string, alive: boolean, partitioned = false): void {
    const o = this.nodes.get(observer)!;
    const s = this.nodes.get(subject)!;
    // A frozen (read-only) side learns nothing until the partition heals.
    if (this.minority.has(observer)) return;
    // A notice about an incarnation that is no longer current is stale (a cut-off agent is up but dead to the others).
    if (!partitioned && alive !== s.up) return;
    if (alive === o.view.has(subject)) return;
    if (alive) o.view.add(subject);
    else o.view.delete(subject);
    if (this.o.trace) this.traceLog.push(`${this.now} ${observer} learns ${subject} ${alive ? "alive" : "dead"}`);
    if (o.core) this.handle(o, o.core.setMembers(this.viewMembers(o), this.now));
  }

  /** Gossip of loads: every agent's view gets everyone's current load, a little stale. */
  private gossipLoads(): void {
    const table = new Map<string, MemberInfo>();
    for (const id of this.ids) {
      const m = this.memberInfo(id);
      table.set(id, m);
      this.loads.set(id, m.load);
    }
    for (const n of this.nodes.values()) if (n.core) n.core.updateLoads(Array.from(n.view).map((id) => table.get(id)!));
  }

  // ---- network ----------------------------------------------------------------------------------

  private handle(n: Node, r: TaskReady): void {
    if (this.o.trace) this.traceReady(n, r);
    for (const row of r.rows) n.store.set(row.taskId, row);
    for (const o of r.messages) {
      this.stats.messages++;
      if ((this.faultsOn && this.rng.chance(this.dropRate)) || this.cutOff(n.id, o.to)) {
        this.stats.dropped++;
        continue;
      }
      const copies = this.faultsOn && this.rng.chance(this.o.dupRate) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const at = this.now + 1 + this.rng.int(this.o.maxDelayMs);
        const from = n.id;
        const msg = o.msg;
        this.q.push(at, () => this.deliver(from, o.to, msg));
      }
    }
    for (const x of r.replies) this.onReply(n, x.rid, x.reply);
  }

  readonly traceLog: string[] = [];

  private traceReady(n: Node, r: TaskReady): void {
    const t = this.o.trace;
    const about = (x: unknown) => JSON.stringify(x).includes(`"${t}"`) || JSON.stringify(x).includes(`${t} `) || JSON.stringify(x).includes(`${t}:`);
    for (const e of r.events) if (e.includes(` ${t}`)) this.traceLog.push(`${this.now} ${n.id} event: ${e}`);
    for (const o of r.messages) if (about(o.msg)) this.traceLog.push(`${this.now} ${n.id}→${o.to} ${JSON.stringify(o.msg).slice(0, 400)}`);
    for (const x of r.replies) if (about(x.reply)) this.traceLog.push(`${this.now} ${n.id} reply ${x.rid} ${JSON.stringify(x.reply).slice(0, 200)}`);
    for (const row of r.rows) if (row.taskId === t) this.traceLog.push(`${this.now} ${n.id} persist b=${row.record?.ballot.n}/${row.record?.ballot.by} v=${row.record?.version} cfg=${row.record?.config} st=${row.record?.state.status} res=${String(row.record?.state.result)} lease=${row.record?.state.lease?.agent} asg=${row.record?.state.assignee} p=${row.promised?.n}/${row.promised?.by}`);
  }

  private deliver(from: string, to: string, msg: TaskMsg): void {
    const n = this.nodes.get(to);
    if (!n || !n.core || this.cutOff(from, to)) return;
    // The wire: what arrives is JSON; the validator stands between it and the core.
    const m = this.o.validate ? (JSON.parse(JSON.stringify(msg)) as unknown) : msg;
    if (this.o.validate && !validTaskMsg(m)) throw this.fail(`invalid message ${JSON.stringify(msg).slice(0, 300)}`);
    this.handle(n, n.core.step(from, m as TaskMsg, this.now));
  }

  // ---- clients and workers ----------------------------------------------------------------------

  private rid(kind: string, origin: string): string {
    return `${kind}-${origin}-${++this.ridSeq}`;
  }

  /** Agents a client or worker can enter through: up, and not on the read-only side. */
  private liveNodes(): Node[] {
    return this.ids.map((id) => this.nodes.get(id)!).filter((n) => n.up && !this.minority.has(n.id));
  }

  private spec(i: number): TaskSpec {
    const r = this.rng.next();
    const strategy: Strategy = r < this.o.auctionShare ? "auction" : r < this.o.auctionShare + this.o.capabilityShare ? "capability" : "dht";
    const required = strategy === "dht" ? [] : ["cpu", ...(this.rng.chance(0.5) ? [CAPS[1 + this.rng.int(CAPS.length - 1)]] : [])];
    return { taskId: `t${i}`, payload: { n: i }, requiredCapabilities: required, strategy, replication: this.o.replication, maxAttempts: 4 };
  }

  /** The router: picks an agent's view, computes the home, enters there (or at the viewer). */
  submitTask(spec: TaskSpec, attempt = 0): void {
    this.specs.set(spec.taskId, spec);
    const live = this.liveNodes();
    if (live.length === 0) return;
    const viewer = live[this.rng.int(live.length)];
    const home = this.nodes.get(viewer.core!.holders(spec.taskId, spec.replication)[0]);
    const entry = home && home.up && !this.minority.has(home.id) ? home : viewer;
    const rid = this.rid("s", entry.id);
    this.pending.set(rid, { kind: "submit", taskId: spec.taskId, attempt });
    this.handle(entry, entry.core!.submit(rid, spec, this.now));
  }

  private scheduleWorker(n: Node): void {
    const core = n.core;
    this.q.push(this.now + 20 + this.rng.int(30), () => {
      if (n.core !== core || !core) return;
      if (!n.claiming && n.running < n.slots && !this.minority.has(n.id)) {
        n.claiming = true;
        const rid = this.rid("c", n.id);
        this.pending.set(rid, { kind: "claim", agent: n.id });
        this.handle(n, core.claim(rid, this.o.leaseMs, this.now));
      }
      this.scheduleWorker(n);
    });
  }

  /** Complete/fail go through any live agent (the router's entry), like the HTTP API. */
  private sendOutcome(p: Extract<Pending, { kind: "complete" } | { kind: "fail" }>): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const own = this.nodes.get(p.agent)!;
    const entry = own.up && !this.minority.has(own.id) && this.rng.chance(0.7) ? own : live[this.rng.int(live.length)];
    const rid = this.rid(p.kind === "complete" ? "d" : "f", entry.id);
    this.pending.set(rid, p);
    const r = p.kind === "complete" ? entry.core!.complete(rid, p.taskId, p.agent, p.result, this.now) : entry.core!.fail(rid, p.taskId, p.agent, "worker error", this.now);
    this.handle(entry, r);
  }

  private runTask(n: Node, taskId: string): void {
    const core = n.core;
    n.running++;
    const attempt = (this.attemptNo.get(taskId) ?? 0) + 1;
    this.attemptNo.set(taskId, attempt);
    const result = `r-${taskId}-${n.id}-${attempt}`;
    const work = this.o.workMinMs + this.rng.int(this.o.workMaxMs - this.o.workMinMs + 1);
    const u = this.rng.next();
    const f = this.o;
    if (this.faultsOn && u < f.dieRate) {
      // The worker dies mid-task: nothing is reported; the lease runs out.
      this.q.push(this.now + work, () => {
        if (n.core === core) n.running--;
      });
      this.stats.leaseExpiries++;
      return;
    }
    const late = this.faultsOn && u < f.dieRate + f.lateRate;
    const failing = !late && this.faultsOn && u < f.dieRate + f.lateRate + f.failRate;
    const delay = late ? this.o.leaseMs + 100 + this.rng.int(1500) : work;
    if (late) this.stats.lateCompletes++;
    this.q.push(this.now + delay, () => {
      if (n.core === core) n.running--;
      if (failing) this.sendOutcome({ kind: "fail", taskId, agent: n.id, attempt: 0 });
      else {
        this.sendOutcome({ kind: "complete", taskId, agent: n.id, result, attempt: 0, dupOf: false });
        if (this.faultsOn && this.rng.chance(f.dupCompleteRate)) {
          this.stats.duplicateCompletes++;
          this.q.push(this.now + this.rng.int(400), () => this.sendOutcome({ kind: "complete", taskId, agent: n.id, result, attempt: 0, dupOf: true }));
        }
      }
    });
  }

  private onReply(n: Node, rid: string, reply: import("../../src/core/tasks/replica").TaskReply): void {
    const p = this.pending.get(rid);
    if (!p) return;
    this.pending.delete(rid);
    switch (p.kind) {
      case "submit": {
        if (reply.ok && reply.op === "submit") {
          if (!this.acked.has(p.taskId)) this.acked.set(p.taskId, this.now);
        } else if (!reply.ok && reply.code === "no_capable_agent") {
          this.rejected.add(p.taskId);
        } else if (!reply.ok && reply.code === "conflict") {
          this.violations.push(`submit of ${p.taskId} answered conflict for its own payload`);
        } else if (p.attempt < 20) {
          this.q.push(this.now + 100 + this.rng.int(200), () => this.submitTask(this.specs.get(p.taskId)!, p.attempt + 1));
        }
        return;
      }
      case "claim": {
        const node = this.nodes.get(p.agent)!;
        node.claiming = false;
        if (reply.ok && reply.op === "claim" && reply.task && node.core) this.runTask(node, reply.task.taskId);
        return;
      }
      case "complete": {
        if (reply.ok && reply.op === "complete") {
          const first = this.results.get(p.taskId);
          if (first !== undefined && first !== reply.result) {
            this.violations.push(`task ${p.taskId} recorded complete twice: ${first} and ${String(reply.result)}`);
          }
          if (first === undefined) this.results.set(p.taskId, String(reply.result));
          if (!reply.duplicate && reply.result !== p.result) this.violations.push(`task ${p.taskId}: a fresh completion answered with another result`);
          return;
        }
        if (!reply.ok && (reply.code === "retry" || reply.code === "timeout" || reply.code === "not_found") && p.attempt < 12) {
          this.q.push(this.now + 150 + this.rng.int(300), () => this.sendOutcome({ ...p, attempt: p.attempt + 1 }));
        }
        return;
      }
      case "fail": {
        if (!reply.ok && (reply.code === "retry" || reply.code === "timeout" || reply.code === "not_found") && p.attempt < 12) {
          this.q.push(this.now + 150 + this.rng.int(300), () => this.sendOutcome({ ...p, attempt: p.attempt + 1 }));
        }
        return;
      }
    }
  }

  fail(msg: string): Error {
    return new Error(`${msg} (seed ${this.o.seed}, time ${this.now} ms; replay with this seed)`);
  }

  // ---- the run ----------------------------------------------------------------------------------

  runUntil(t: number): void {
    for (;;) {
      const e = this.q.peek();
      if (!e || e.at > t) break;
      this.q.pop();
      this.now = e.at;
      e.run();
    }
    this.now = Math.max(this.now, t);
  }

  private workersStarted = false;

  /** Workers on every agent and load gossip every 300 ms. */
  private startWorkers(): void {
    if (this.workersStarted) return;
    this.workersStarted = true;
    for (const n of this.nodes.values()) if (n.up) this.scheduleWorker(n);
    const gossip = () => {
      this.gossipLoads();
      this.q.push(this.now + 300, gossip);
    };
    this.q.push(this.now + 300, gossip);
  }

  /** Schedule the seeded workload: submissions (with a burst), crashes, restarts, load gossip. */
  schedule(): void {
    const w = this.o.submitWindowMs;
    const burstAt = Math.floor(w * 0.4);
    for (let i = 0; i < this.o.tasks; i++) {
      const at = i % 3 === 0 ? burstAt + this.rng.int(50) : this.rng.int(w);
      this.q.push(at, () => this.submitTask(this.spec(i)));
    }
    this.startWorkers();
    // Crashes: crashFraction of the agents, spread over the window; the first `permanentCrashes` never return.
    for (let k = 0; k < this.o.partitions; k++) {
      const at = 300 + this.rng.int(Math.max(1, w));
      const size = 1 + this.rng.int(Math.max(1, Math.min(3, Math.floor(this.o.agents / 6))));
      const ids = this.rng.sample(this.ids, size);
      const duration = 1000 + this.rng.int(1500);
      this.q.push(at, () => {
        if (this.faultsOn) this.partition(ids.filter((x) => this.nodes.get(x)!.up), duration);
      });
    }
    const victims = this.rng.sample(this.ids, Math.max(1, Math.round(this.o.agents * this.o.crashFraction)));
    victims.forEach((id, k) => {
      const at = 200 + this.rng.int(Math.max(1, w));
      const permanent = k < this.o.permanentCrashes;
      this.q.push(at, () => {
        if (!this.faultsOn) return;
        this.crash(id, permanent);
        if (!permanent) {
          // Some come back before anyone noticed, most after being declared dead.
          const back = this.rng.chance(0.3) ? this.rng.int(this.o.detectMinMs) : this.o.detectMaxMs + this.rng.int(2000);
          this.q.push(this.now + back, () => this.restart(id));
        }
      });
    });
  }

  /** Fault phase, then a healed liveness phase: everyone restartable restarts, no loss, run until settled. */
  run(): TasksRunResult {
    this.schedule();
    this.runUntil(this.o.submitWindowMs + 1000);
    return this.settle();
  }

  setDropRate(p: number): void {
    this.dropRate = p;
  }

  /** The healed liveness phase, then the checker. */
  settle(): TasksRunResult {
    this.faultsOn = false;
    this.dropRate = 0;
    if (this.minority.size > 0) this.heal();
    this.startWorkers();
    for (const id of this.ids) this.restart(id);
    const deadline = this.now + this.o.settleMs;
    while (this.now < deadline) {
      this.runUntil(this.now + 1000);
      if (this.settled()) break;
    }
    // A little longer so the last replies and re-replications land.
    this.runUntil(this.now + 2000);
    return this.check();
  }

  private settled(): boolean {
    for (const t of this.acked.keys()) {
      const f = this.finalRecord(t);
      if (!f || (f.state.status !== "done" && f.state.status !== "failed")) return false;
    }
    // Unacknowledged submissions still being retried must have an answer too.
    for (const p of this.pending.values()) if (p.kind === "submit") return false;
    return true;
  }

  /** The newest record of a task on any agent that is not permanently gone. */
  finalRecord(taskId: string): TaskRecord | null {
    let best: TaskRecord | null = null;
    for (const n of this.nodes.values()) {
      if (n.permanent) continue;
      const r = n.store.get(taskId)?.record;
      if (!r) continue;
      if (!best || cmpBallot(r.ballot, best.ballot) > 0 || (cmpBallot(r.ballot, best.ballot) === 0 && r.version > best.version)) best = r;
    }
    return best;
  }

  /** The history checker. */
  check(): TasksRunResult {
    const lost: string[] = [];
    const doubles: string[] = [];
    const unfinished: string[] = [];
    const forked: string[] = [];
    let done = 0;
    let failed = 0;
    for (const v of this.violations) if (v.includes("recorded complete twice")) doubles.push(v);
    for (const t of this.acked.keys()) {
      const f = this.finalRecord(t);
      if (!f) {
        lost.push(t);
        continue;
      }
      const st = f.state;
      if (st.status === "done") {
        done++;
        const first = this.results.get(t);
        if (first !== undefined && first !== st.result) doubles.push(`task ${t}: acknowledged ${first}, recorded ${String(st.result)}`);
      } else if (st.status === "failed") {
        failed++;
        if (!st.error) unfinished.push(`${t}: failed without a reason`);
      } else unfinished.push(`${t}: ${st.status}`);
      // The holders of the final record (all up after healing) hold exactly it.
      for (const h of f.config) {
        const n = this.nodes.get(h)!;
        if (n.permanent) continue;
        const r = n.store.get(t)?.record;
        if (!r || cmpBallot(r.ballot, f.ballot) !== 0 || r.version !== f.version) forked.push(`${t}: holder ${h} has ${r ? `${r.ballot.n}/${r.ballot.by}#${r.version}` : "nothing"}, final is ${f.ballot.n}/${f.ballot.by}#${f.version}`);
      }
    }
    let steals = 0;
    let migrations = 0;
    let auctionsAwarded = 0;
    let takeovers = 0;
    for (const n of this.nodes.values()) {
      if (!n.core) continue;
      steals += n.core.stats.steals;
      migrations += n.core.stats.migrations;
      auctionsAwarded += n.core.stats.auctionsAwarded;
      takeovers += n.core.stats.takeovers;
    }
    return {
      seed: this.o.seed, submitted: this.specs.size, acknowledged: this.acked.size, done, failed, lost, doubleCompletions: doubles, unfinished, forked,
      violations: this.violations.slice(), messages: this.stats.messages, dropped: this.stats.dropped, crashes: this.stats.crashes, restarts: this.stats.restarts,
      permanent: this.stats.permanent, lateCompletes: this.stats.lateCompletes, duplicateCompletes: this.stats.duplicateCompletes,
      leaseExpiries: this.stats.leaseExpiries, steals, migrations, auctionsAwarded, takeovers, simMs: this.now,
    };
  }
}

function ridOrigin(rid: string): string {
  const parts = rid.split("-");
  return parts.slice(1, -1).join("-");
}

/** Did a run keep every promise? (Used by tests and the bench.) */
export function runOk(r: TasksRunResult): boolean {
  return r.lost.length === 0 && r.doubleCompletions.length === 0 && r.unfinished.length === 0 && r.forked.length === 0 && r.violations.length === 0;
}

export function summarize(r: TasksRunResult): string {
  return `seed ${r.seed}: ${r.acknowledged}/${r.submitted} acked, ${r.done} done, ${r.failed} failed, lost ${r.lost.length}, double ${r.doubleCompletions.length}, unfinished ${r.unfinished.length}, forked ${r.forked.length}, violations ${r.violations.length}; ${r.crashes} crashes (${r.permanent} permanent), ${r.messages} msgs (${r.dropped} dropped), steals ${r.steals}, migrations ${r.migrations}, auctions ${r.auctionsAwarded}, takeovers ${r.takeovers}, sim ${r.simMs} ms` +
    (runOk(r) ? "" : `\n  lost: ${r.lost.slice(0, 5).join(", ")}\n  double: ${r.doubleCompletions.slice(0, 3).join(" | ")}\n  unfinished: ${r.unfinished.slice(0, 5).join(", ")}\n  forked: ${r.forked.slice(0, 3).join(" | ")}\n  violations: ${r.violations.slice(0, 3).join(" | ")}`);
}
