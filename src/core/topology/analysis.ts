// Graph measures for topology reports: degree, connectivity, bridges, cut vertices, diameter.
// Bridges and articulation points by Tarjan's low-link DFS (iterative, so 1,000-node graphs are safe).
import type { Graph } from "./overlay";

export interface TopologyStats {
  nodes: number;
  edges: number;
  degree: { min: number; max: number; avg: number };
  connected: boolean;
  components: number;
  bridges: number;
  articulationPoints: number;
  /** True when every pair of agents has two edge-disjoint paths (no bridges, connected, n ≥ 3). */
  redundantPaths: boolean;
  diameter: number | null;
  /** Edges that only one endpoint lists (inconsistent views of the membership). */
  asymmetricEdges: number;
}

/** Make an undirected graph from per-node adjacency lists (an edge counts if either side lists it). */
export function undirected(adj: Map<string, Iterable<string>>): { g: Graph; asymmetric: number } {
  const g: Graph = new Map();
  for (const k of adj.keys()) g.set(k, new Set());
  let asymmetric = 0;
  for (const [u, vs] of adj) {
    for (const v of vs) {
      if (!g.has(v)) continue; // peers outside the node set (dead, unknown) are not edges
      if (u === v) continue;
      g.get(u)!.add(v);
      g.get(v)!.add(u);
    }
  }
  for (const [u, vs] of adj) {
    const set = new Set(vs);
    for (const v of g.get(u)!) {
      const back = adj.get(v);
      if (!set.has(v) || !back || !new Set(back).has(u)) asymmetric++;
    }
  }
  return { g, asymmetric: asymmetric / 2 };
}

export function analyze(g: Graph, asymmetricEdges = 0): TopologyStats {
  const nodes = Array.from(g.keys());
  const n = nodes.length;
  let edges = 0;
  let min = n ? Infinity : 0;
  let max = 0;
  for (const vs of g.values()) {
    edges += vs.size;
    min = Math.min(min, vs.size);
    max = Math.max(max, vs.size);
  }
  edges /= 2;
  const comps = components(g);
  const { bridges, cuts } = bridgesAndCuts(g);
  const connected = comps <= 1;
  return {
    nodes: n,
    edges,
    degree: { min: n ? min : 0, max, avg: n ? round2((2 * edges) / n) : 0 },
    connected,
    components: comps,
    bridges,
    articulationPoints: cuts,
    redundantPaths: connected && n >= 3 && bridges === 0,
    diameter: connected ? diameter(g) : null,
    asymmetricEdges,
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export function components(g: Graph): number {
  const seen = new Set<string>();
  let c = 0;
  for (const s of g.keys()) {
    if (seen.has(s)) continue;
    c++;
    const stack = [s];
    seen.add(s);
    while (stack.length) {
      const u = stack.pop()!;
      for (const v of g.get(u)!) if (!seen.has(v)) (seen.add(v), stack.push(v));
    }
  }
  return c;
}

/** Is the graph still connected after removing `removed`? */
export function connectedWithout(g: Graph, removed: string): boolean {
  const h: Graph = new Map();
  for (const [u, vs] of g) {
    if (u === removed) continue;
    h.set(u, new Set(Array.from(vs).filter((v) => v !== removed)));
  }
  return components(h) <= 1;
}

function bfsEccentricity(g: Graph, s: string): number {
  const dist = new Map<string, number>([[s, 0]]);
  let q = [s];
  let d = 0;
  while (q.length) {
    const next: string[] = [];
    for (const u of q) for (const v of g.get(u)!) if (!dist.has(v)) (dist.set(v, d + 1), next.push(v));
    if (next.length) d++;
    q = next;
  }
  return d;
}

/** Exact diameter for up to 400 nodes; above that, the max eccentricity of 64 evenly spread sources (a lower bound). */
export function diameter(g: Graph): number {
  const nodes = Array.from(g.keys());
  const step = nodes.length <= 400 ? 1 : Math.ceil(nodes.length / 64);
  let d = 0;
  for (let i = 0; i < nodes.length; i += step) d = Math.max(d, bfsEccentricity(g, nodes[i]));
  return d;
}

export function bridgesAndCuts(g: Graph): { bridges: number; cuts: number } {
  const idx = new Map<string, number>();
  const nodes = Array.from(g.keys());
  nodes.forEach((u, i) => idx.set(u, i));
  const n = nodes.length;
  const adj: number[][] = nodes.map((u) => Array.from(g.get(u)!, (v) => idx.get(v)!));
  const disc = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const parent = new Int32Array(n).fill(-1);
  const isCut = new Uint8Array(n);
  let time = 0;
  let bridges = 0;
  for (let root = 0; root < n; root++) {
    if (disc[root] !== -1) continue;
    let rootChildren = 0;
    const stack: Array<[number, number]> = [[root, 0]];
    disc[root] = low[root] = time++;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [u, i] = top;
      if (i < adj[u].length) {
        top[1]++;
        const v = adj[u][i];
        if (disc[v] === -1) {
          parent[v] = u;
          if (u === root) rootChildren++;
          disc[v] = low[v] = time++;
          stack.push([v, 0]);
        } else if (v !== parent[u]) {
          low[u] = Math.min(low[u], disc[v]);
        }
      } else {
        stack.pop();
        const p = parent[u];
        if (p !== -1) {
          low[p] = Math.min(low[p], low[u]);
          if (low[u] > disc[p]) bridges++;
          if (p !== root && low[u] >= disc[p]) isCut[p] = 1;
        }
      }
    }
    if (rootChildren > 1) isCut[root] = 1;
  }
  let cuts = 0;
  for (let i = 0; i < n; i++) cuts += isCut[i];
  return { bridges, cuts };
}
