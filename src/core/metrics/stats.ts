// The metrics' data model: per metric name, a compact summary of every value observed — count, sum,
// min, max and a histogram over fixed logarithmic buckets — and per agent, time buckets holding those
// summaries plus the deltas of the agent's counters over the bucket.
//
// Why fixed log buckets: percentiles do not merge (the p99 of two agents' p99s is nothing), but
// histograms over the same fixed bucket boundaries do — add the counts and read the percentile off
// the sum. This is the design of HdrHistogram / DDSketch-style sketches (Masson et al., "DDSketch: a
// fast and fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019): with
// `SUB_BUCKETS` buckets per doubling, every value reported is within a relative error of
// 2^(1/(2·SUB_BUCKETS)) − 1 (≈ 4.4 % at 8) of a value actually observed at that rank, whatever the
// agents, buckets and time ranges merged. Sparse maps keep a bucket small: a latency spread over a
// decade fills about 27 entries.
import { num } from "../store";

/** Buckets per doubling of the value. */
export const SUB_BUCKETS = 8;
/** Index range kept (2^-16 … 2^40: a microsecond fraction up to ~35 years in ms); values beyond are clamped. */
const MIN_INDEX = -16 * SUB_BUCKETS;
const MAX_INDEX = 40 * SUB_BUCKETS;
/** The bucket of values ≤ 0 (a zero lateness, a zero load). */
const ZERO = "z";

/** Histogram: bucket index (or "z" for values ≤ 0) → count. */
export type Hist = Record<string, number>;

/** Everything kept about one metric over one time bucket (or a merge of many). */
export interface Stat {
  n: number;
  sum: number;
  min: number;
  max: number;
  h: Hist;
}

export function bucketIndex(v: number): string {
  if (!(v > 0)) return ZERO;
  const i = Math.floor(Math.log2(v) * SUB_BUCKETS);
  return String(Math.min(MAX_INDEX, Math.max(MIN_INDEX, i)));
}

/** The value a bucket stands for: its geometric midpoint. */
export function bucketValue(key: string): number {
  if (key === ZERO) return 0;
  return 2 ** ((Number(key) + 0.5) / SUB_BUCKETS);
}

export function emptyStat(): Stat {
  return { n: 0, sum: 0, min: Infinity, max: -Infinity, h: {} };
}

export function addValue(s: Stat, v: number): void {
  s.n++;
  s.sum += v;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
  const k = bucketIndex(v);
  s.h[k] = (s.h[k] ?? 0) + 1;
}

export function mergeStat(into: Stat, x: Stat): void {
  into.n += x.n;
  into.sum += x.sum;
  into.min = Math.min(into.min, x.min);
  into.max = Math.max(into.max, x.max);
  for (const [k, c] of Object.entries(x.h)) into.h[k] = (into.h[k] ?? 0) + c;
}

export function cloneStat(s: Stat): Stat {
  return { n: s.n, sum: s.sum, min: s.min, max: s.max, h: { ...s.h } };
}

/**
 * The p-th percentile (0–100) of everything merged into `s`: the value of the bucket holding the
 * ⌈p/100 · n⌉-th smallest observation, clamped to the observed [min, max] (so a constant metric reads
 * back exactly). null when nothing was observed.
 */
export function percentile(s: Stat, p: number): number | null {
  if (s.n === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * s.n));
  const keys = Object.keys(s.h).sort((a, b) => order(a) - order(b));
  let seen = 0;
  for (const k of keys) {
    seen += s.h[k];
    if (seen >= rank) return Math.min(s.max, Math.max(s.min, bucketValue(k)));
  }
  return s.max;
}

const order = (k: string) => (k === ZERO ? -Infinity : Number(k));

export function mean(s: Stat | undefined): number | null {
  return s && s.n > 0 ? s.sum / s.n : null;
}

/**
 * One agent's metrics over one time bucket. Buckets are aligned to multiples of the bucket length
 * (`start`), so the same bucket of different agents covers the same period and merges; `from`/`to` are
 * the part of it this agent actually observed (it was created, restarted or closed the bucket late).
 */
export interface Bucket {
  start: number;
  from: number;
  to: number;
  /** Deltas of the agent's counters (billing and the modules' counters) over [from, to]. */
  counters: Record<string, number>;
  /** Observed metrics by name. */
  stats: Record<string, Stat>;
  /** Time this agent observed: Σ(to − from) over the buckets merged into this one. */
  observedMs: number;
}

export function emptyBucket(start: number, from: number): Bucket {
  return { start, from, to: from, counters: {}, stats: {}, observedMs: 0 };
}

export function cloneBucket(b: Bucket): Bucket {
  const stats: Record<string, Stat> = {};
  for (const [k, s] of Object.entries(b.stats)) stats[k] = cloneStat(s);
  return { start: b.start, from: b.from, to: b.to, counters: { ...b.counters }, stats, observedMs: b.observedMs };
}

/** Merge `x` into `into`: counters add, stats merge, the covered period widens. */
export function mergeBucket(into: Bucket, x: Bucket): void {
  into.start = Math.min(into.start, x.start);
  into.from = Math.min(into.from, x.from);
  into.to = Math.max(into.to, x.to);
  into.observedMs += x.observedMs;
  for (const [k, v] of Object.entries(x.counters)) into.counters[k] = (into.counters[k] ?? 0) + v;
  for (const [k, s] of Object.entries(x.stats)) {
    const cur = into.stats[k];
    if (cur) mergeStat(cur, s);
    else into.stats[k] = cloneStat(s);
  }
}

/** The merge of many buckets (null when there are none). */
export function mergeAll(buckets: readonly Bucket[]): Bucket | null {
  if (buckets.length === 0) return null;
  const out = cloneBucket(buckets[0]);
  for (let i = 1; i < buckets.length; i++) mergeBucket(out, buckets[i]);
  return out;
}

/**
 * Group buckets into points `stepMs` long (aligned to multiples of it), each the merge of the buckets
 * that start within it — a time series with as many points as a chart needs, whatever the window.
 */
export function groupBy(buckets: readonly Bucket[], stepMs: number): Bucket[] {
  const points = new Map<number, Bucket>();
  for (const b of buckets) {
    const at = Math.floor(b.start / stepMs) * stepMs;
    const p = points.get(at);
    if (p) mergeBucket(p, b);
    else points.set(at, { ...cloneBucket(b), start: at });
  }
  return Array.from(points.values()).sort((a, b) => a.start - b.start);
}

/** Row key of a closed bucket (zero-padded: key order is time order, and a range is one delRange). */
export function bucketKey(start: number): string {
  return BUCKET_PREFIX + num(Math.max(0, start));
}
export const BUCKET_PREFIX = "b:";

/** JSON has no Infinity: an empty stat's min/max travel as null and come back as ±Infinity. */
export function validBucket(x: unknown): x is Bucket {
  if (!x || typeof x !== "object") return false;
  const b = x as Record<string, unknown>;
  return (
    typeof b.start === "number" && typeof b.from === "number" && typeof b.to === "number" &&
    !!b.counters && typeof b.counters === "object" && !!b.stats && typeof b.stats === "object"
  );
}

/** A bucket as read back from a row or an RPC (observedMs filled in for rows written without it). */
export function revive(b: Bucket): Bucket {
  const stats: Record<string, Stat> = {};
  for (const [k, s] of Object.entries(b.stats)) {
    stats[k] = { n: s.n, sum: s.sum, min: s.min ?? Infinity, max: s.max ?? -Infinity, h: { ...s.h } };
  }
  return { start: b.start, from: b.from, to: b.to, counters: { ...b.counters }, stats, observedMs: b.observedMs ?? Math.max(0, b.to - b.from) };
}
