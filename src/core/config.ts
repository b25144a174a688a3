// Swarm configuration: the seed's defaults (gossip every 2–5 s with fanout 3–5, heartbeat 3 s,
// failure timeout 10 s, consensus threshold 0.67), lowerable to tens of milliseconds for tests and demos.

export interface SwarmConfig {
  topology: "mesh";
  strategy: "distributed";
  maxAgents: number;
  /** eager: push new information at once (infect-and-forward) rather than only on the next round. */
  gossip: { intervalMs: number; fanout: number; eager: boolean };
  failure: { heartbeatMs: number; timeoutMs: number };
  /**
   * voters: members of the Raft group (0: no replicated log); snapshotEvery: compact the log after this
   * many applied entries; heartbeatMs / electionMs: the log's own timing (leader heartbeat; election
   * timeout, randomized in [electionMs, 2·electionMs)), independent of the gossip round; fastFailover:
   * act on evidence (a new swarm campaigns at once, a failed call to the leader starts a check and a
   * PreVote, a restarted leader campaigns) instead of waiting for timers — off only to measure the difference.
   */
  consensus: {
    threshold: number; voters: number; snapshotEvery: number; heartbeatMs: number; electionMs: number; fastFailover: boolean;
    /** Least time between two pushes of committed entries down the learner tree, per agent (0: every apply at once; absent: members × 5 ms within 100–5000). */
    learnerBatchMs?: number;
  };
}

export const DEFAULT_CONFIG: SwarmConfig = {
  topology: "mesh",
  strategy: "distributed",
  maxAgents: 12,
  gossip: { intervalMs: 3000, fanout: 3, eager: true },
  failure: { heartbeatMs: 3000, timeoutMs: 10000 },
  consensus: { threshold: 0.67, voters: 5, snapshotEvery: 500, heartbeatMs: 5000, electionMs: 15_000, fastFailover: true },
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
  consensus?: {
    threshold?: number; voters?: number; snapshotEvery?: number; heartbeatMs?: number; electionMs?: number; fastFailover?: boolean;
    learnerBatchMs?: number;
  };
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
