// Metrics as a module: every measurement any module makes from a real event (`ctx.observe(metric,
// value)`: a peer call's round trip, an alarm's lateness, a leader elected, a partition episode's
// recovery time, a decision's latency) is aggregated here, by name, into the agent's current time
// bucket; so are the deltas of the agent's counters (billed operations, messages, proposals) that the
// shell reads out. A new metric needs no code here: observe it, and it is in the report.
//
// Cost (rows are the bill at scale): the current bucket lives in memory. It is written once, as one row,
// when it closes — at the first tick after its `BUCKET_MS` period ends (12 rows per agent-hour; the tick
// already happens for the protocols, so closing costs no alarm). Rows older than the retention are
// deleted in the same transaction. A rare event (anything but the high-frequency metrics below: an
// election, a view change, a decision, an episode) also saves the current bucket as the row `cur`, at
// most once per `SAVE_MIN_MS`, so a crash loses no election or decision — an idle swarm writes none.
//
// Naming: units last (`…Ms`); a count is observed as 1 per event. Well-known names (see README):
// `network.callMs`, `network.callFailed`, `network.reachableFraction`, `platform.alarmLateMs`,
// `partition.recoveryMs`, `raft.leaderElected`, `membership.suspected`, `membership.refuted`,
// `decision.<protocol>.latencyMs`, `decision.<protocol>.participation`, `pbft.viewChange`,
// `tasks.migration`; `load` is sampled here from this agent's member record at each tick.
import type { Context, Envelope, Module, Persisted } from "../protocol";
import { addValue, BUCKET_PREFIX, bucketKey, cloneBucket, emptyBucket, emptyStat, revive, validBucket, type Bucket } from "./stats";

/** Bucket length: 5 minutes (12 rows per agent-hour). */
export const BUCKET_MS = 5 * 60_000;
/** Closed buckets are kept this long (the longest report timeframe, 7 days, plus one bucket). */
export const RETENTION_MS = 7 * 24 * 3600_000 + BUCKET_MS;
/** A rare event saves the current bucket at most this often. */
export const SAVE_MIN_MS = 60_000;
/** Distinct metric names one bucket holds (more are counted as ignored, never a reason for a big row). */
export const MAX_METRICS = 64;
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const CUR = "cur";

/** Observed on every tick or peer call: they never make the current bucket be saved early. */
export const FREQUENT: ReadonlySet<string> = new Set([
  "network.callMs", "network.callFailed", "network.reachableFraction", "platform.alarmLateMs", "load",
]);

/** Cumulative counters as the shell reads them now (billing, the modules' counters). */
export type CounterSource = () => Record<string, number>;

export class Metrics implements Module {
  readonly name = "metrics";
  readonly coldPrefixes = [BUCKET_PREFIX];
  private open: Bucket;
  private source: CounterSource | null = null;
  private base: Record<string, number> | null = null;
  /** A rare event was observed since the last save. */
  private rare = false;
  /** When the current bucket was last saved as `cur` (null: it is not). */
  private savedAt: number | null = null;
  private readonly stats = { observations: 0, ignored: 0, bucketsClosed: 0, saves: 0 };

  constructor(private readonly ctx: Context) {
    this.open = this.fresh(ctx.now());
  }

  validate(env: Envelope): string | null {
    return `unknown metrics type ${String(env.type)}`;
  }

  receive(): void {}

  restore(p: Persisted): void {
    const cur = p.rows.get(CUR);
    // The bucket saved at the last rare event; what was observed after it was lost with the memory.
    if (validBucket(cur)) {
      this.open = revive(cur);
      this.savedAt = this.open.to;
    }
  }

  /**
   * Where the shell's counters come from (the billed operations, every module's counters). Read at once
   * as the baseline, so the bucket counts what happens from now on — or, for a new agent (`fromZero`),
   * everything its counters hold, its creation included.
   */
  setCounterSource(source: CounterSource | null, fromZero = false): void {
    this.source = source;
    this.base = source ? (fromZero ? {} : { ...source() }) : null;
  }

  tick(now: number): void {
    if (!this.ctx.active()) return;
    if (now >= this.open.start + BUCKET_MS) this.close(now);
    addValue(this.stat("load")!, this.ctx.members.member(this.ctx.self)?.load ?? 0);
  }

  nextDeadline(): number | null {
    // Buckets close on the protocols' ticks: a bucket never costs an alarm of its own.
    return null;
  }

  onObserve(_mod: string, metric: string, value: number): void {
    const s = typeof value === "number" && Number.isFinite(value) && NAME.test(metric) ? this.stat(metric) : null;
    if (!s) {
      this.stats.ignored++;
      return;
    }
    this.stats.observations++;
    addValue(s, value);
    if (!FREQUENT.has(metric)) this.rare = true;
  }

  flush(): void {
    if (!this.rare) return;
    const now = this.ctx.now();
    if (this.savedAt !== null && now - this.savedAt < SAVE_MIN_MS) return;
    this.rare = false;
    this.savedAt = now;
    this.stats.saves++;
    this.ctx.persist({ op: "put", key: CUR, value: this.snapshot(now) });
  }

  /** The current bucket as of now (counters read), for a report. */
  current(): Bucket {
    return this.snapshot(this.ctx.now());
  }

  /** Cumulative counters as of now (for rates between two monitor snapshots). */
  totals(): Record<string, number> | null {
    return this.source ? { ...this.source() } : null;
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }

  // ---- internals ----------------------------------------------------------------------------

  private fresh(now: number): Bucket {
    return emptyBucket(Math.floor(now / BUCKET_MS) * BUCKET_MS, now);
  }

  private stat(name: string) {
    let s = this.open.stats[name];
    if (!s) {
      if (Object.keys(this.open.stats).length >= MAX_METRICS) return null;
      this.open.stats[name] = s = emptyStat();
    }
    return s;
  }

  /** Add the counters' deltas since the last reading (a counter that went down was reset by a restart). */
  private settle(): void {
    if (!this.source) return;
    const r = this.source();
    const base = this.base ?? {};
    for (const [k, v] of Object.entries(r)) {
      let d = v - (base[k] ?? 0);
      if (d < 0) d = v;
      if (d > 0) this.open.counters[k] = (this.open.counters[k] ?? 0) + d;
    }
    this.base = { ...r };
  }

  private snapshot(now: number): Bucket {
    this.settle();
    this.open.to = Math.max(this.open.to, now);
    this.open.observedMs = this.open.to - this.open.from;
    return cloneBucket(this.open);
  }

  /** Write the bucket as its row, drop rows past the retention, and open the next bucket. */
  private close(now: number): void {
    const b = this.snapshot(now);
    this.ctx.persist({ op: "put", key: bucketKey(b.start), value: b });
    if (this.savedAt !== null) this.ctx.persist({ op: "del", key: CUR });
    this.ctx.persist({ op: "delRange", from: BUCKET_PREFIX, to: bucketKey(b.start - RETENTION_MS) });
    this.stats.bucketsClosed++;
    this.open = this.fresh(now);
    this.savedAt = null;
    this.rare = false;
  }
}
