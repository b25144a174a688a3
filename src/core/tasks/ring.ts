// Task placement: which agents hold a task's record (its home, the primary, plus `replication − 1`
// backups). Chosen on measurements (test/core/tasks-bench.ts, `ringTable()`): weighted rendezvous
// hashing (HRW, Thaler & Ravishankar 1998; weights by the logarithmic method of Schindelhauer &
// Schomaker 2005), not a virtual-node ring and not consistent hashing with bounded loads.
//
// Why:
//  - Placement must be a pure function of (taskId, live membership): the stateless router, any agent
//    forwarding a `complete`, and a backup taking over all have to find the same holders from one
//    membership view, long after submission. A placement that depends on current loads (Mirrokni,
//    Thorup & Zadimoghaddam 2018, "Consistent Hashing with Bounded Loads", or HAProxy's
//    hash-balance-factor) needs the live assignment counts, which a stateless router does not have; with
//    gossiped queue lengths two routers disagree, and a task id no longer tells where the task is.
//    It also moves more keys on a join/leave (the paper bounds it by O(1/ε²) times the optimum; the
//    bench measures it directly). Load balance of *execution* is handled elsewhere, where load is
//    real data: work stealing, auctions, capability routing and migration of queued tasks.
//  - HRW gives each agent exactly its weight's share of the key space in expectation (no arcs, so no
//    arc-length variance: a V-vnode ring has a per-agent share spread of about 1/√V, DESIGN.md), and
//    it is minimally disruptive by construction: a joining agent takes exactly the keys it now wins,
//    a leaving agent gives up exactly the keys it held (the optimum 1/(N+1) in expectation).
//  - Cost: O(N) per lookup (one multiply-xorshift per agent); 1,000 agents is ~microseconds, fine for
//    a router serving one request, and the core caches holder lists per membership version.
import { hash32 } from "../hash";

/** murmur3's 32-bit finalizer: a bijection with full avalanche. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export interface RingMember {
  id: string;
  /** Relative weight (e.g. declared slots). Default 1. */
  weight?: number;
}

/**
 * Rendezvous placement over a fixed set of live members. Build one per membership view and reuse it:
 * agent hashes are computed once.
 */
export class Rendezvous {
  readonly ids: string[];
  private readonly agentHash: Uint32Array;
  private readonly weights: Float64Array;
  private readonly uniform: boolean;

  constructor(members: readonly RingMember[]) {
    // Sorted so that the result never depends on the order a view lists members in.
    const sorted = members.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.ids = sorted.map((m) => m.id);
    this.agentHash = Uint32Array.from(sorted.map((m) => hash32(m.id, 0x7a5c)));
    this.weights = Float64Array.from(sorted.map((m) => (m.weight && m.weight > 0 ? m.weight : 1)));
    this.uniform = this.weights.every((w) => w === this.weights[0]);
  }

  get size(): number {
    return this.ids.length;
  }

  /** The score of member i for a key hash: larger wins. Equal weights compare the raw hash. */
  private score(i: number, keyHash: number): number {
    const h = mix32(this.agentHash[i] ^ keyHash);
    if (this.uniform) return h;
    // Logarithmic method: −w / ln(u), u uniform in (0, 1): P(member i wins) = w_i / Σw exactly.
    const u = (h + 0.5) / 4294967296;
    return -this.weights[i] / Math.log(u);
  }

  /** The k highest-ranked members for a key, best first (the first is the home/primary). */
  holders(key: string, k: number): string[] {
    const n = this.ids.length;
    k = Math.min(k, n);
    if (k <= 0) return [];
    const kh = mix32(hash32(key, 0x51ed));
    const topIdx: number[] = [];
    const topScore: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.score(i, kh);
      if (topIdx.length === k && !better(s, i, topScore[k - 1], topIdx[k - 1])) continue;
      let j = topIdx.length < k ? topIdx.length : k - 1;
      while (j > 0 && better(s, i, topScore[j - 1], topIdx[j - 1])) {
        topScore[j] = topScore[j - 1];
        topIdx[j] = topIdx[j - 1];
        j--;
      }
      topScore[j] = s;
      topIdx[j] = i;
    }
    return topIdx.map((i) => this.ids[i]);
  }

  /** The home (primary) of a key. */
  home(key: string): string | null {
    return this.holders(key, 1)[0] ?? null;
  }

  /** A member's rank for a key among all members (0 = home), for ordering a configuration. */
  rankOf(key: string, id: string): number {
    return this.holders(key, this.ids.length).indexOf(id);
  }
}

// Ties (equal 32-bit scores) go to the lower index, i.e. the smaller id: deterministic everywhere.
function better(s: number, i: number, t: number, j: number): boolean {
  return s > t || (s === t && i < j);
}

/**
 * A plain virtual-node consistent-hash ring (Karger et al. 1997), kept for comparison in the bench:
 * each agent owns `vnodes` points; a key goes to the owner of the first point clockwise, its
 * successors are the next distinct owners.
 */
export class VnodeRing {
  private readonly points: Uint32Array;
  private readonly owners: Int32Array;
  readonly ids: string[];

  constructor(members: readonly RingMember[], vnodes: number) {
    this.ids = members.map((m) => m.id);
    const pts: Array<[number, number]> = [];
    members.forEach((m, idx) => {
      const v = Math.max(1, Math.round(vnodes * (m.weight ?? 1)));
      for (let i = 0; i < v; i++) pts.push([hash32(`${m.id}#${i}`, 0x2b1d), idx]);
    });
    pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.points = Uint32Array.from(pts.map((p) => p[0]));
    this.owners = Int32Array.from(pts.map((p) => p[1]));
  }

  /** Index of the first point at or after h (wrapping). */
  private successor(h: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.points.length ? 0 : lo;
  }

  holders(key: string, k: number): string[] {
    const out: number[] = [];
    k = Math.min(k, this.ids.length);
    let p = this.successor(mix32(hash32(key, 0x51ed)));
    for (let steps = 0; out.length < k && steps < this.points.length; steps++) {
      const o = this.owners[p];
      if (!out.includes(o)) out.push(o);
      p = p + 1 === this.points.length ? 0 : p + 1;
    }
    return out.map((i) => this.ids[i]);
  }

  /** Walk clockwise from the key's point: owners in ring order (with repeats), for bounded-load variants. */
  *walk(key: string): Generator<number> {
    let p = this.successor(mix32(hash32(key, 0x51ed)));
    for (let steps = 0; steps < this.points.length; steps++) {
      yield this.owners[p];
      p = p + 1 === this.points.length ? 0 : p + 1;
    }
  }

  /** Each member's exact share of the hash space (arc lengths), by index. */
  arcShares(): number[] {
    const share = new Array(this.ids.length).fill(0);
    const n = this.points.length;
    for (let i = 0; i < n; i++) {
      const prev = i === 0 ? this.points[n - 1] - 4294967296 : this.points[i - 1];
      share[this.owners[i]] += (this.points[i] - prev) / 4294967296;
    }
    return share;
  }
}
