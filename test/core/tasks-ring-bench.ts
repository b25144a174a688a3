// The placement table behind src/core/tasks/ring.ts's choice: weighted rendezvous (HRW, what the task
// core uses) next to a plain virtual-node ring and consistent hashing with bounded loads, measured in
// the same run on the same keys. `npm run bench` calls `ringTable()`; test/core/tasks-ring.test.ts runs
// a small subset.
//
// What is measured, precisely:
//  - keys: M = keysPerAgent · N task ids (`task-<i>`), the same ids for every scheme.
//  - load: the realized number of those M tasks whose home (primary) is each agent, and the realized
//    number of replicas (top-`replication` holders) each agent keeps. max/mean is over agents.
//    Realized counts include sampling noise that no scheme can remove: `ideal` is max/mean of the same
//    M keys thrown uniformly at random (a multinomial draw), the floor a perfect hash would show.
//    For the vnode ring, `arc` is the exact max/mean of hash-space share (arc lengths), without noise.
//  - moved on join: one new agent joins N; the fraction of the M keys whose home changes, divided by
//    the optimum 1/(N+1). Moved on leave: from N+1 agents one (random, not the newest) leaves; the
//    fraction whose home changes, divided by 1/(N+1). Replica sets: the fraction of keys whose holder
//    set changes, divided by the optimum replication/(N+1). Several joins/leaves; the worst is reported.
//  - bounded loads: each key, in a fixed order, goes to the first agent clockwise on the V=100 ring
//    with fewer than ⌈(1+ε)·M/N⌉ keys (ε = 0.25), recomputed from scratch after the join/leave, which is
//    all a router without the live assignment could do.
import { Rendezvous, VnodeRing, type RingMember } from "../../src/core/tasks/ring";
import { Rng } from "../../src/core/rng";

export interface RingRow {
  n: number;
  scheme: string;
  keys: number;
  /** max/mean of realized primary (home) counts. */
  primaryMaxMean: number;
  /** max/mean of realized replica counts (replication holders per key). */
  replicaMaxMean: number;
  /** max/mean of a uniform random throw of the same number of keys (the sampling-noise floor). */
  idealMaxMean: number;
  /** Exact max/mean hash-space share (vnode ring only), else null. */
  arcMaxMean: number | null;
  /** Worst (fraction of homes moved on one join) / (1/(N+1)). */
  joinMovedRatio: number;
  /** Worst (fraction of homes moved on one leave from N+1) / (1/(N+1)). */
  leaveMovedRatio: number;
  /** Worst (fraction of replica sets changed on one join or leave) / (replication/(N+1)). */
  replicaSetMovedRatio: number;
}

export interface RingTableOptions {
  sizes?: number[];
  /** Keys per agent (M = keysPerAgent · N); a size can override via keysPerAgentAt. */
  keysPerAgent?: number;
  keysPerAgentAt?: Record<number, number>;
  replication?: number;
  trials?: number;
  vnodes?: number;
  epsilon?: number;
  seed?: number;
  schemes?: Array<"rendezvous" | "vnode" | "bounded">;
}

type Placer = { holders(key: string, k: number): string[] };

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function maxMean(counts: Map<string, number>, ids: string[]): number {
  let max = 0;
  let sum = 0;
  for (const id of ids) {
    const c = counts.get(id) ?? 0;
    max = Math.max(max, c);
    sum += c;
  }
  return max / (sum / ids.length);
}

/** Homes and replica sets of every key under one placement. */
function placeAll(p: Placer, keys: string[], r: number): { homes: string[]; sets: string[] } {
  const homes = new Array<string>(keys.length);
  const sets = new Array<string>(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const h = p.holders(keys[i], r);
    homes[i] = h[0];
    sets[i] = h.slice().sort().join(",");
  }
  return { homes, sets };
}

/** Consistent hashing with bounded loads (Mirrokni et al. 2018) over a vnode ring, keys in order. */
function boundedHomes(members: RingMember[], keys: string[], vnodes: number, epsilon: number): string[] {
  const ring = new VnodeRing(members, vnodes);
  const cap = Math.ceil(((1 + epsilon) * keys.length) / members.length);
  const load = new Int32Array(members.length);
  return keys.map((k) => {
    for (const o of ring.walk(k)) {
      if (load[o] < cap) {
        load[o]++;
        return ring.ids[o];
      }
    }
    throw new Error("bounded loads: no capacity");
  });
}

function idealMaxMean(n: number, m: number, rng: Rng): number {
  const c = new Int32Array(n);
  for (let i = 0; i < m; i++) c[rng.int(n)]++;
  let max = 0;
  for (const x of c) max = Math.max(max, x);
  return max / (m / n);
}

export function ringTable(opts: RingTableOptions = {}): RingRow[] {
  const sizes = opts.sizes ?? [12, 100, 1000];
  const r = opts.replication ?? 3;
  const trials = opts.trials ?? 3;
  const vnodes = opts.vnodes ?? 100;
  const epsilon = opts.epsilon ?? 0.25;
  const schemes = opts.schemes ?? ["rendezvous", "vnode", "bounded"];
  const rows: RingRow[] = [];
  for (const n of sizes) {
    const perAgent = opts.keysPerAgentAt?.[n] ?? opts.keysPerAgent ?? 1000;
    const m = perAgent * n;
    const rng = new Rng((opts.seed ?? 1) * 7919 + n);
    const members: RingMember[] = Array.from({ length: n }, (_, i) => ({ id: `agent-${i}` }));
    const ids = members.map((x) => x.id);
    const keys = Array.from({ length: m }, (_, i) => `task-${i}`);
    const ideal = idealMaxMean(n, m, rng);
    const joiners = Array.from({ length: trials }, (_, t) => `joiner-${t}`);
    const leavers = rng.sample(ids, trials);
    const optimum = 1 / (n + 1);
    for (const scheme of schemes) {
      const make = (ms: RingMember[]): Placer =>
        scheme === "rendezvous" ? new Rendezvous(ms) : new VnodeRing(ms, vnodes);
      const frac = (a: string[], b: string[]) => {
        let d = 0;
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
        return d / a.length;
      };
      if (scheme === "bounded") {
        const base = boundedHomes(members, keys, vnodes, epsilon);
        const counts = new Map<string, number>();
        for (const h of base) counts.set(h, (counts.get(h) ?? 0) + 1);
        let join = 0;
        let leave = 0;
        for (let t = 0; t < trials; t++) {
          const plus = [...members, { id: joiners[t] }];
          const withJoiner = boundedHomes(plus, keys, vnodes, epsilon);
          join = Math.max(join, frac(base, withJoiner) / optimum);
          const minus = plus.filter((x) => x.id !== leavers[t]);
          leave = Math.max(leave, frac(withJoiner, boundedHomes(minus, keys, vnodes, epsilon)) / optimum);
        }
        rows.push({
          n, scheme: `bounded loads (ε=${epsilon}, V=${vnodes})`, keys: m, primaryMaxMean: round3(maxMean(counts, ids)),
          replicaMaxMean: NaN, idealMaxMean: round3(ideal), arcMaxMean: null, joinMovedRatio: round3(join),
          leaveMovedRatio: round3(leave), replicaSetMovedRatio: NaN,
        });
        continue;
      }
      const base = placeAll(make(members), keys, r);
      const primary = new Map<string, number>();
      const replica = new Map<string, number>();
      for (let i = 0; i < m; i++) {
        primary.set(base.homes[i], (primary.get(base.homes[i]) ?? 0) + 1);
        for (const h of base.sets[i].split(",")) replica.set(h, (replica.get(h) ?? 0) + 1);
      }
      let join = 0;
      let leave = 0;
      let sets = 0;
      for (let t = 0; t < trials; t++) {
        const plus = [...members, { id: joiners[t] }];
        const j = placeAll(make(plus), keys, r);
        join = Math.max(join, frac(base.homes, j.homes) / optimum);
        sets = Math.max(sets, frac(base.sets, j.sets) / (r * optimum));
        const l = placeAll(make(plus.filter((x) => x.id !== leavers[t])), keys, r);
        leave = Math.max(leave, frac(j.homes, l.homes) / optimum);
        sets = Math.max(sets, frac(j.sets, l.sets) / (r * optimum));
      }
      let arc: number | null = null;
      if (scheme === "vnode") {
        const shares = new VnodeRing(members, vnodes).arcShares();
        arc = Math.max(...shares) / (1 / n);
      }
      rows.push({
        n, scheme: scheme === "rendezvous" ? "rendezvous (HRW, chosen)" : `vnode ring (V=${vnodes})`, keys: m,
        primaryMaxMean: round3(maxMean(primary, ids)), replicaMaxMean: round3(maxMean(replica, ids)), idealMaxMean: round3(ideal),
        arcMaxMean: arc === null ? null : round3(arc), joinMovedRatio: round3(join), leaveMovedRatio: round3(leave),
        replicaSetMovedRatio: round3(sets),
      });
    }
  }
  return rows;
}

/** The table as markdown (for the bench output and the README). */
export function formatRingTable(rows: RingRow[]): string {
  const f = (x: number | null) => (x === null || Number.isNaN(x) ? "—" : x.toFixed(3));
  const lines = [
    "| N | scheme | keys | primary max/mean | replica max/mean | uniform-throw max/mean | arc max/mean | join moved / opt | leave moved / opt | replica sets moved / opt |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(`| ${r.n} | ${r.scheme} | ${r.keys} | ${f(r.primaryMaxMean)} | ${f(r.replicaMaxMean)} | ${f(r.idealMaxMean)} | ${f(r.arcMaxMean)} | ${f(r.joinMovedRatio)} | ${f(r.leaveMovedRatio)} | ${f(r.replicaSetMovedRatio)} |`);
  }
  return lines.join("\n");
}
