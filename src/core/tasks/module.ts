// Tasks as a protocol module: the agent's side of the task DHT (./replica.ts holds the protocol — the
// ring, primary–backup replication with per-task ballots, leases, stealing, Contract Net auctions,
// capability routing, hot→cold migration). This file is only the adapter between that core and the
// module interface (src/core/protocol.ts):
//  - envelopes: each TaskMsg rides in `msg` of an envelope whose `type` is the message's type;
//    validate.ts checks it before the core sees it;
//  - rows: one per task (`t:<taskId>` → TaskRow, upserted on every change) plus `cfg` (this agent's
//    declared capabilities, slots, resources, which the bids and steals need after a restart);
//  - replies: a request that entered here (submit, claim, complete, fail) is answered on
//    `tasks/r:<rid>` (the shell waits on it);
//  - membership: the live members (alive or suspect: SWIM buries only after quorum confirmation, which
//    the fence relies on) with their declared capabilities and slots; fed once per input when changed,
//    and not at all while the agent is read-only (a frozen view on the side of a partition that may
//    not write, as replica.ts requires);
//  - loads: soft state the core needs for stealing, migration and capability routing. SWIM does not
//    carry it, so this module gossips it on SWIM's probes (piggyback): its own load and the busiest few
//    it knows, each versioned by its origin's clock, so the busiest agents become known swarm-wide in a
//    few rounds without an extra call.
import { isId } from "../ids";
import type { Context, Envelope, InitOptions, Module, Persisted, PiggybackDelegate } from "../protocol";
import { TaskReplica, type TaskReady, type TaskRow, type TaskSpec, type TaskView } from "./replica";
import type { MemberInfo } from "./types";
import { validTaskMsg } from "./validate";

export const TASK_ROW_PREFIX = "t:";
/** Loads carried per probe besides our own (the busiest known). */
const LOADS_PER_PROBE = 4;
/** A gossiped load older than this (ms, by its origin's clock) is forgotten. */
const LOAD_TTL_MS = 30_000;

interface Declared {
  caps: string[];
  slots: number;
  resources: number;
}

type LoadEntry = [id: string, load: number, atMs: number];

const validLoads = (x: unknown): x is LoadEntry[] =>
  Array.isArray(x) && x.length <= LOADS_PER_PROBE + 1 &&
  x.every((e) => Array.isArray(e) && e.length === 3 && isId(e[0]) && typeof e[1] === "number" && Number.isFinite(e[1]) && e[1] >= 0 &&
    typeof e[2] === "number" && Number.isSafeInteger(e[2]) && e[2] >= 0);

export class Tasks implements Module {
  readonly name = "tasks";
  private core: TaskReplica | null = null;
  private declared: Declared = { caps: [], slots: 1, resources: 1 };
  private rows: TaskRow[] = [];
  private fedMembers = "";
  private readonly loads = new Map<string, { load: number; atMs: number }>();
  private loadsChanged = false;

  /** The busiest loads known (at most LOADS_PER_PROBE, busiest first): what each probe carries. O(1) per probe. */
  private hottest: LoadEntry[] = [];

  readonly piggyback: PiggybackDelegate = {
    attach: () => {
      const now = this.ctx.now();
      const mine: LoadEntry = [this.ctx.self, this.core ? round(this.core.load(now)) : 0, now];
      if (this.hottest.some((e) => now - e[2] >= LOAD_TTL_MS)) this.hottest = this.hottest.filter((e) => now - e[2] < LOAD_TTL_MS);
      return [mine, ...this.hottest];
    },
    take: (_from, data) => {
      for (const [id, load, atMs] of data as LoadEntry[]) {
        if (id === this.ctx.self) continue;
        const cur = this.loads.get(id);
        if (cur ? atMs <= cur.atMs : load === 0) continue;
        // An agent with no work is not stored (absent means 0): an idle swarm keeps no table.
        if (load === 0) this.loads.delete(id);
        else this.loads.set(id, { load, atMs });
        this.loadsChanged = true;
        this.noteHot([id, load, atMs]);
      }
    },
    valid: validLoads,
  };

  private noteHot(e: LoadEntry): void {
    const h = this.hottest.filter((x) => x[0] !== e[0]);
    if (e[1] > 0) {
      let i = 0;
      while (i < h.length && h[i][1] >= e[1]) i++;
      h.splice(i, 0, e);
    }
    this.hottest = h.slice(0, LOADS_PER_PROBE);
  }

  constructor(private readonly ctx: Context) {}

  init(o: InitOptions): void {
    this.declared = { caps: (o.caps ?? []).slice(), slots: Math.max(1, o.slots ?? 1), resources: o.resources ?? 1 };
    this.ctx.persist({ op: "put", key: "cfg", value: this.declared });
  }

  restore(p: Persisted): void {
    const cfg = p.rows.get("cfg") as Declared | undefined;
    if (cfg) this.declared = cfg;
    this.rows = [];
    for (const [k, v] of p.rows) if (k.startsWith(TASK_ROW_PREFIX)) this.rows.push(v as TaskRow);
    // The core is built on first use, when the membership module has restored its view too.
  }

  validate(env: Envelope): string | null {
    const m = env.msg as { type?: unknown } | undefined;
    if (!validTaskMsg(m)) return "malformed task message";
    return m.type === env.type ? null : "task message type does not match the envelope";
  }

  receive(env: Envelope): void {
    const now = this.ctx.now();
    this.apply(this.ensure().step(env.from, env.msg as Parameters<TaskReplica["step"]>[1], now));
  }

  tick(now: number): void {
    if (!this.ctx.active()) return;
    this.apply(this.ensure().tick(now));
  }

  nextDeadline(): number | null {
    if (!this.core || !this.ctx.active()) return null;
    // An agent with no task work does not wake up (an idle swarm pays nothing for tasks).
    return this.core.idle() ? null : this.core.nextDeadline(this.ctx.now());
  }

  onMemberChange(): void {
    // Fed once at the end of the input (flush): one change often comes with others.
    this.fedMembers = "";
  }

  flush(): void {
    // Nothing to feed unless the membership or a gossiped load changed (this runs after every input:
    // rebuilding the member list each time made a 1,000-agent swarm pay O(N) per event).
    if (!this.core || (this.fedMembers !== "" && !this.loadsChanged)) return;
    const now = this.ctx.now();
    // On a side of a partition that may not write, the view is frozen (the fence's assumption, see
    // replica.ts): no reconfiguration there; each primary still needs every holder's ack, and holders
    // on the other side promised that side's higher ballot. Task requests are refused there (the shell).
    if (this.ctx.fact<() => string>("partition.mode")?.() === "read-only") return;
    const members = this.memberInfo(now);
    const key = members.map((m) => `${m.id}/${m.slots}/${m.caps.join("+")}`).join(",");
    if (key !== this.fedMembers) {
      this.fedMembers = key;
      this.loadsChanged = false;
      this.apply(this.core.setMembers(members, now));
    } else if (this.loadsChanged) {
      this.loadsChanged = false;
      this.core.updateLoads(members);
    }
  }

  // ---- commands (from the shell; each answers on `tasks/r:<rid>`) ---------------------------------

  submit(rid: string, spec: TaskSpec): void {
    this.apply(this.ensure().submit(rid, spec, this.ctx.now()));
  }

  claim(rid: string, leaseMs: number | undefined): void {
    this.apply(this.ensure().claim(rid, leaseMs, this.ctx.now()));
  }

  complete(rid: string, taskId: string, agentId: string, result: unknown): void {
    this.apply(this.ensure().complete(rid, taskId, agentId, result, this.ctx.now()));
  }

  fail(rid: string, taskId: string, agentId: string, error: string): void {
    this.apply(this.ensure().fail(rid, taskId, agentId, error, this.ctx.now()));
  }

  // ---- queries --------------------------------------------------------------------------------------

  /** This agent's copy of a task with its (ballot, version), so a reader can take the newest of several. */
  copy(taskId: string): { view: TaskView; ballot: { n: number; by: string }; version: number; primary: boolean } | null {
    const r = this.ensure().record(taskId);
    const v = this.core!.view(taskId);
    return r && v ? { view: v, ballot: r.ballot, version: r.version, primary: this.core!.isPrimary(taskId) } : null;
  }

  /** The holders of a task id in this agent's view, plus two more ranks (where a newer copy may sit). */
  holders(taskId: string, replication = 3): string[] {
    return this.ensure().holders(taskId, replication + 2);
  }

  /** Copies of the tasks this agent holds (optionally only those it leads), up to `limit`. */
  list(limit: number, status?: string): TaskView[] {
    const core = this.ensure();
    const out: TaskView[] = [];
    for (const id of core.taskIds()) {
      if (out.length >= limit) break;
      if (!core.isPrimary(id)) continue;
      const v = core.view(id);
      if (v && (!status || v.status === status)) out.push(v);
    }
    return out;
  }

  workload(): { queued: number; running: number; slots: number; load: number } {
    return this.ensure().workload(this.ctx.now());
  }

  counters(): Record<string, number> {
    return this.core ? { ...this.core.stats } : {};
  }

  describe(): Record<string, unknown> {
    if (!this.core) return {};
    const w = this.core.workload(this.ctx.now());
    return { tasks: { ...w, held: this.core.taskIds().length, ...this.core.stats } };
  }

  // ---- plumbing ---------------------------------------------------------------------------------------

  private ensure(): TaskReplica {
    if (this.core) return this.core;
    const now = this.ctx.now();
    const me = this.ctx.members.member(this.ctx.self);
    if (me && this.declared.caps.length === 0 && me.caps.length > 0) this.declared = { ...this.declared, caps: me.caps.slice(), slots: Math.max(1, me.slots) };
    this.core = new TaskReplica(
      { id: this.ctx.self, rng: this.ctx.rng, caps: this.declared.caps, slots: this.declared.slots, resources: this.declared.resources },
      this.rows, this.memberInfo(now), now,
    );
    this.rows = [];
    this.fedMembers = "";
    return this.core;
  }

  private memberInfo(now: number): MemberInfo[] {
    const out: MemberInfo[] = [];
    for (const id of this.ctx.members.liveIds()) {
      const m = this.ctx.members.member(id);
      const self = id === this.ctx.self;
      const e = this.loads.get(id);
      const load = self ? (this.core?.load(now) ?? 0) : e && now - e.atMs < LOAD_TTL_MS ? e.load : 0;
      out.push({
        id, caps: self ? this.declared.caps.slice() : (m?.caps ?? []).slice(), slots: self ? this.declared.slots : Math.max(1, m?.slots ?? 1), load,
        ...(self ? { resources: this.declared.resources } : {}),
      });
    }
    return out;
  }

  private apply(r: TaskReady): void {
    for (const row of r.rows) this.ctx.persist({ op: "put", key: TASK_ROW_PREFIX + row.taskId, value: row });
    for (const { to, msg } of r.messages) this.ctx.send(to, msg.type, { msg });
    for (const { rid, reply } of r.replies) this.ctx.output(`r:${rid}`, reply);
    for (const ev of r.events) this.ctx.log("debug", "task", { what: ev });
    if (this.core) {
      const s = this.core.stats;
      if (s.migrations > this.migrationsSeen) {
        for (let i = this.migrationsSeen; i < s.migrations; i++) this.ctx.observe("tasks.migration", 1);
        this.migrationsSeen = s.migrations;
      }
    }
  }

  private migrationsSeen = 0;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
