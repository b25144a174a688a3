// Swarm configuration: the seed's defaults (gossip every 2–5 s with fanout 3–5, heartbeat 3 s,
// failure timeout 10 s, consensus threshold 0.67), lowerable to tens of milliseconds for tests and demos.

export interface SwarmConfig {
  topology: "mesh";
  strategy: "distributed";
  maxAgents: number;
  /** eager: push new information at once (infect-and-forward) rather than only on the next round. */
  gossip: { intervalMs: number; fanout: number; eager: boolean };
  failure: { heartbeatMs: number; timeoutMs: number };
  /** voters: members of the Raft group (0: no replicated log); snapshotEvery: compact the log after this many applied entries. */
  consensus: { threshold: number; voters: number; snapshotEvery: number };
}

export const DEFAULT_CONFIG: SwarmConfig = {
  topology: "mesh",
  strategy: "distributed",
  maxAgents: 12,
  gossip: { intervalMs: 3000, fanout: 3, eager: true },
  failure: { heartbeatMs: 3000, timeoutMs: 10000 },
  consensus: { threshold: 0.67, voters: 5, snapshotEvery: 500 },
};

/** Hard limits every config must satisfy (the router validates requests against these too). */
export const LIMITS = {
  minIntervalMs: 20,
  maxIntervalMs: 60_000,
  minFanout: 1,
  maxFanout: 5,
  maxAgents: 1000,
  minPeers: 3,
  maxPeers: 5,
} as const;

export type SwarmConfigInput = {
  topology?: "mesh";
  strategy?: "distributed";
  maxAgents?: number;
  gossip?: { intervalMs?: number; fanout?: number; eager?: boolean };
  failure?: { heartbeatMs?: number; timeoutMs?: number };
  consensus?: { threshold?: number; voters?: number; snapshotEvery?: number };
};

export function resolveConfig(input: SwarmConfigInput = {}): SwarmConfig {
  return {
    topology: "mesh",
    strategy: "distributed",
    maxAgents: input.maxAgents ?? DEFAULT_CONFIG.maxAgents,
    gossip: { ...DEFAULT_CONFIG.gossip, ...stripUndefined(input.gossip) },
    failure: { ...DEFAULT_CONFIG.failure, ...stripUndefined(input.failure) },
    consensus: { ...DEFAULT_CONFIG.consensus, ...stripUndefined(input.consensus) },
  };
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
