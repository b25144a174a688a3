// Clients of the replicated log in the simulator, doing what the Durable Object shell does for a memory
// write (src/agent/replicated.ts): enter through some agent; propose there if it leads; otherwise
// forward to the leader it knows — and when that call is refused (a crashed agent), report the failed
// call to the entry agent's node (the request path is a failure detector) and try again shortly.
import type { AgentId } from "../../src/core/ids";
import type { Effects } from "../../src/core/protocol";
import type { Simulator, SimNode } from "./sim";

export interface WriteRecord {
  invokedAt: number;
  ackedAt: number | null;
  entry: string;
}

/**
 * A steady writer: one write in flight at a time, started `gapMs` after the previous one finished,
 * entering through a random live agent; a write that gets no answer within `timeoutMs` counts as failed
 * and the next one starts.
 */
export class SteadyWriter {
  readonly writes: WriteRecord[] = [];
  private inflight: { rec: WriteRecord; node: string; index: number; term: number } | null = null;
  private stopped = false;
  private n = 0;

  constructor(private readonly sim: Simulator, private readonly opts: { gapMs: number; retryMs: number; timeoutMs: number }) {
    sim.onEffects.push((node, fx) => this.observe(node, fx));
  }

  start(): void {
    this.sim.at(this.sim.now, () => this.next());
  }

  stop(): void {
    this.stopped = true;
  }

  private next(): void {
    if (this.stopped) return;
    const live = this.sim.live();
    if (live.length === 0) return;
    const entry = live[this.sim.rng.int(live.length)];
    const rec: WriteRecord = { invokedAt: this.sim.now, ackedAt: null, entry: entry.id };
    this.writes.push(rec);
    const seq = ++this.n;
    this.attempt(rec, entry, 0);
    this.sim.at(this.sim.now + this.opts.timeoutMs, () => {
      if (rec.ackedAt === null && this.n === seq && (this.inflight === null || this.inflight.rec === rec)) {
        this.inflight = null;
        this.sim.at(this.sim.now + this.opts.gapMs, () => this.next());
      }
    });
  }

  private attempt(rec: WriteRecord, at: SimNode, hops: number): void {
    if (this.stopped || rec.ackedAt !== null || this.sim.now - rec.invokedAt >= this.opts.timeoutMs) return;
    if (!at.core) return;
    const { result, effects } = at.core.run(this.sim.now, (m) => m.raft.propose("kv", { op: "put", ns: "w", key: `k${rec.invokedAt}`, value: 1, expiresAt: null, at: this.sim.now }));
    if (result.ok) {
      const f = { rec, node: at.id, index: result.index, term: result.term };
      this.inflight = f;
      this.sim.handle(at, effects);
      this.watch(f);
      return;
    }
    this.sim.handle(at, effects);
    const leader = result.leader;
    const retry = () => this.sim.at(this.sim.now + this.opts.retryMs, () => this.attempt(rec, this.sim.nodes.get(rec.entry)!, 0));
    if (!leader || leader === at.id || hops >= 3) return retry();
    const rtt = 2 * (this.sim.net.delayMinMs + this.sim.rng.int(this.sim.net.delayMaxMs - this.sim.net.delayMinMs + 1));
    this.sim.at(this.sim.now + rtt / 2, () => {
      const target = this.sim.nodes.get(leader);
      if (target?.core) return this.attempt(rec, target, hops + 1);
      // The leader's Durable Object refuses the forward: the entry agent learns it from the failed call.
      this.sim.at(this.sim.now + rtt / 2, () => {
        if (at.core) this.sim.handle(at, at.core.called({ to: leader as AgentId, mod: "raft", type: "forward", ok: false, ms: rtt }, this.sim.now));
        retry();
      });
    });
  }

  /** A crash ends the requests waiting in that agent (the shell's waiters end with its memory): fail fast. */
  private watch(f: NonNullable<SteadyWriter["inflight"]>): void {
    this.sim.at(this.sim.now + this.opts.retryMs, () => {
      if (this.inflight !== f) return;
      if (this.sim.nodes.get(f.node)?.core) return this.watch(f);
      this.inflight = null;
      this.sim.at(this.sim.now + this.opts.gapMs, () => this.next());
    });
  }

  private observe(node: SimNode, fx: Effects): void {
    const f = this.inflight;
    if (!f || node.id !== f.node) return;
    for (const o of fx.outputs) {
      if (o.mod !== "raft" || o.key !== `applied:${f.index}`) continue;
      const v = o.value as { term: number; result: unknown };
      this.inflight = null;
      if (v.term === f.term && v.result) f.rec.ackedAt = this.sim.now;
      this.sim.at(this.sim.now + this.opts.gapMs, () => this.next());
      return;
    }
  }

  /** The first write acknowledged after `t` (its ack time), or null. */
  firstAckAfter(t: number): number | null {
    const acks = this.writes.filter((w) => w.ackedAt !== null && w.invokedAt >= t).map((w) => w.ackedAt!);
    return acks.length ? Math.min(...acks) : null;
  }
}

export function leaderOf(sim: Simulator): string | null {
  const ls = sim.live().filter((n) => n.core!.mods.raft.status()?.role === "leader");
  return ls.length === 1 ? ls[0].id : null;
}
