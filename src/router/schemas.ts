// One validation schema per endpoint (DESIGN.md principle 6); the MCP tools reuse them. Objects are strict: an unknown or
// misspelt field is a 400 with the field named, not silently ignored.
import { z } from "zod";
import { ID_PATTERN } from "../core/ids";
import { LIMITS } from "../core/config";
import { badRequest } from "./errors";

export const Id = z.string().regex(ID_PATTERN, "must match ^[a-z0-9][a-z0-9_-]{0,62}$");
const IntervalMs = z.int().min(LIMITS.minIntervalMs).max(LIMITS.maxIntervalMs);

// Descriptions are for the MCP tools' input schemas (a model reads them); they do not change validation.
export const CreateSwarm = z.strictObject({
  swarmId: Id.optional().describe("Id for the new swarm (lowercase letters, digits, - and _; up to 63 chars). Generated (swarm-…) when omitted; an existing id is a 409 conflict."),
  topology: z.literal("mesh").optional().describe('Only "mesh": every agent is a peer keeping 3-5 redundant connections (default).'),
  maxAgents: z.int().min(1).max(LIMITS.maxAgents).optional().describe("Most agents the swarm may hold, 1-1000 (default 12)."),
  strategy: z.literal("distributed").optional().describe('Only "distributed" (default): no coordinator, work and decisions are spread over the peers.'),
  agents: z.int().min(0).max(LIMITS.maxAgents).optional().describe("Agents to start now, named agent-1 … agent-n (at most maxAgents; default 0)."),
  gossip: z
    .strictObject({
      intervalMs: IntervalMs.optional().describe("Gossip round, 20-60000 ms (default 3000)."),
      fanout: z.int().min(LIMITS.minFanout).max(LIMITS.maxFanout).optional().describe("Peers told per round, 1-5 (default 3)."),
      eager: z.boolean().optional().describe("Flood new information at once instead of waiting for the next round (default true)."),
    })
    .optional()
    .describe("Gossip settings (all optional; the defaults are the seed's)."),
  failure: z
    .strictObject({
      heartbeatMs: IntervalMs.optional().describe("Failure-detector probe round, 20-60000 ms (default 3000)."),
      timeoutMs: z.int().min(LIMITS.minIntervalMs).max(600_000).optional().describe("Suspicion timeout before a quorum may declare an agent dead, greater than heartbeatMs, at most 600000 ms (default 10000)."),
    })
    .optional()
    .describe("Failure detection settings (all optional)."),
  consensus: z
    .strictObject({
      threshold: z.number().gt(0.5).max(1).optional().describe("Approval threshold for proposals, in (0.5, 1] (default 0.67)."),
      voters: z.int().min(0).max(LIMITS.maxAgents).optional().describe("Agents that vote in the replicated log (default 5; 0 = no log, so no memory store)."),
      snapshotEvery: z.int().min(10).max(100_000).optional().describe("Compact the log after this many entries, 10-100000 (default 500)."),
      heartbeatMs: IntervalMs.optional().describe("Log leader heartbeat, 20-60000 ms (default 5000)."),
      electionMs: z.int().min(2 * LIMITS.minIntervalMs).max(600_000).optional().describe("Log election timeout, at least twice heartbeatMs (default 15000)."),
      fastFailover: z.boolean().optional().describe("Replace a failed log leader on evidence (default true; off only to measure the difference)."),
      learnerBatchMs: z.int().min(0).max(60_000).optional().describe("Least time between two pushes of committed entries down the learner tree, per agent, 0-60000 ms (default: 5 ms per member, within 100-5000; 0 = push every apply at once)."),
    })
    .optional()
    .describe("Replicated log settings (all optional)."),
});

export const SpawnAgent = z.strictObject({
  agentId: Id.optional().describe('Id for the new agent (lowercase letters, digits, - and _; "all" is reserved). Generated (agent-…) when omitted.'),
  capabilities: z.array(z.string().min(1).max(64)).max(64).optional().describe('What the agent can do, e.g. ["code", "review"] (up to 64 strings).'),
  capacity: z
    .strictObject({
      slots: z.int().min(1).max(1000).describe("Concurrent tasks, 1-1000."),
      resources: z.number().min(0).max(1).optional().describe("Declared resource availability in [0, 1] (default 1); 10 % of a task auction bid's score."),
    })
    .optional()
    .describe("How much work the agent takes at once."),
  seeds: z.array(Id).min(1).max(16).optional().describe("Members to join through (1-16 agent ids of this swarm; default: up to 3 live members at random)."),
});

export const Chaos = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("crash"), agents: z.array(Id).min(1).max(LIMITS.maxAgents) }),
  z.strictObject({ action: z.literal("restart"), agents: z.array(Id).min(1).max(LIMITS.maxAgents) }),
  z.strictObject({
    action: z.literal("partition"),
    groups: z.array(z.array(Id).min(1)).min(1).max(64),
  }),
  z.strictObject({ action: z.literal("heal") }),
  z.strictObject({
    action: z.literal("drop"),
    rate: z.number().min(0).max(1),
    agents: z.array(Id).min(1).max(LIMITS.maxAgents).optional(),
  }),
  z.strictObject({
    action: z.literal("byzantine"),
    agents: z.array(Id).min(1).max(LIMITS.maxAgents),
    behavior: z.enum(["forge", "equivocate", "silent", "none"]),
  }),
]);

export const CreateProposal = z.strictObject({
  proposalId: Id.optional().describe("The proposal's id (default: generated)."),
  proposal: z.record(z.string(), z.unknown()).describe('What is proposed, a JSON object, e.g. {"coordination_protocol": "gossip", "consensus_threshold": 0.67} or {"task_assignment": "auth-service", "assigned_to": "agent-3"}.'),
  protocol: z.enum(["raft", "pbft", "gossip"]).optional().describe("How the swarm decides: gossip (default; leaderless), raft (on the replicated log), pbft (tolerates f < n/3 lying voters; signed)."),
  agents: z.union([z.literal("all"), z.array(Id).min(1).max(LIMITS.maxAgents)]).optional().describe('Who votes: "all" (default: the live members; under pbft the replicas) or a list of agent ids.'),
  threshold: z.number().gt(0.5).max(1).optional().describe("Approved when approvals ≥ threshold × eligible (default: the swarm's consensus.threshold, 0.67)."),
  timeoutMs: z.int().min(20).max(3_600_000).optional().describe("Expires (if still pending) this long after creation (default 30000)."),
  voting: z.enum(["auto", "manual"]).optional().describe("auto (default): every eligible agent validates the proposal and votes itself; manual: only votes cast through the votes endpoint count."),
});

export const CastVote = z.strictObject({
  agentId: Id.describe("The voting agent (it signs its own vote)."),
  vote: z.enum(["approve", "reject"]).describe("approve or reject."),
});

export const PostMessage = z.strictObject({
  from: Id.describe('The sender: an agent id of this swarm, or a label for a sender outside the mesh such as "mesh-coordinator".'),
  to: z.union([z.literal("all"), Id]).describe('Recipient agent id, or "all" for every agent of the swarm.'),
  message: z.record(z.string(), z.unknown()).describe('The message, a JSON object, e.g. {"type": "network_init", "topology": "mesh"}.'),
});

export const InboxQuery = z.strictObject({
  after: z.string().regex(/^\d{1,15}$/, "must be a cursor returned as `next`").optional(),
  limit: z.string().regex(/^\d{1,4}$/, "must be an integer 1..1000").optional(),
});

export const FaultTolerance = z.strictObject({
  agentId: Id.describe("The agent to check (a member of the swarm)."),
  strategy: z
    .enum(["heartbeat_monitor", "failover_recovery"])
    .describe("heartbeat_monitor: report what its monitors know (status, suspicion, confirmations); failover_recovery: each monitor probes it now, so a failure is confirmed or refuted at once."),
});

/** Memory keys: ids plus `:` and `.` (`mesh:network:t1`), up to 256 chars. */
export const KEY_PATTERN = /^[a-z0-9][a-z0-9_:.-]{0,255}$/;
export const MAX_TTL_SECONDS = 365 * 24 * 3600;

export const PutMemory = z.strictObject({
  value: z.json(),
  ttlSeconds: z.int().min(1).max(MAX_TTL_SECONDS).optional(),
});
export const ReadQuery = z.strictObject({ consistency: z.enum(["linearizable", "stale"]).optional() });
export const ListQuery = z.strictObject({
  prefix: z.string().max(256).optional(),
  limit: z.string().regex(/^\d{1,4}$/, "must be an integer 1..1000").optional(),
  cursor: z.string().max(256).optional(),
  consistency: z.enum(["linearizable", "stale"]).optional(),
});

// ---- tasks (`task_orchestrate`) ----
export const TASK_STRATEGIES = ["dht", "auction", "capability"] as const;
export const TASK_STATUSES = ["queued", "running", "done", "failed"] as const;
export const Capability = z.string().min(1).max(64);

export const SubmitTask = z.strictObject({
  taskId: Id.optional().describe("Id of the task (generated task-… when omitted). Submitting the same id and payload again is idempotent."),
  payload: z.record(z.string(), z.unknown()).describe("What the worker needs to run the task: any JSON object."),
  requiredCapabilities: z.array(Capability).max(64).optional().describe("Capabilities the executing agent must match above 0.7 (default none)."),
  strategy: z.enum(TASK_STRATEGIES).optional().describe("dht (default: the task id's home agent runs it), auction (Contract Net among capable agents) or capability (best capability match, less loaded of two)."),
  replication: z.int().min(1).max(7).optional().describe("Holders of the task's record (default 3)."),
  maxAttempts: z.int().min(1).max(20).optional().describe("Attempts before the task ends failed (default 3)."),
});

export const ClaimTask = z.strictObject({
  leaseMs: z.int().min(100).max(3_600_000).optional().describe("Lease (visibility timeout), 100 ms to 1 h (default 30000): unfinished by then, the task goes to another agent."),
});

export const CompleteTask = z.strictObject({
  agentId: Id.describe("The agent whose worker ran the task (it must have claimed it)."),
  result: z.json().optional().describe("The task's result, any JSON (default null). Only the first completion is recorded."),
});

export const FailTask = z.strictObject({
  agentId: Id.describe("The agent whose worker ran the task (it must hold the lease)."),
  error: z.string().min(1).max(4096).describe("Why it failed, one sentence."),
});

export const ListTasksQuery = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  limit: z.string().regex(/^\d{1,4}$/, "must be an integer 1..1000").optional(),
});

export type SubmitTaskBody = z.infer<typeof SubmitTask>;

/** `GET …/report`: the seed's `--timeframe` and `--format`. */
export const ReportQuery = z.strictObject({
  timeframe: z.enum(["1h", "24h", "7d"]).optional(),
  format: z.enum(["json", "markdown"]).optional(),
});

/** Snapshot interval bounds (ms): fast enough for a demo, slow enough that a stream cannot hammer every agent. */
export const MONITOR_INTERVAL = { min: 250, max: 60_000, default: 3000 } as const;
/** `GET …/monitor`: snapshots every `interval` ms, `count` of them (default: until the client leaves, at most 30 minutes). */
export const MonitorQuery = z.strictObject({
  interval: z.string().regex(/^\d{1,6}$/, "must be an integer number of milliseconds").optional(),
  metrics: z.string().max(512).optional(),
  count: z.string().regex(/^\d{1,5}$/, "must be an integer 1..10000").optional(),
});

export const DeleteSwarmQuery = z.strictObject({ purge: z.enum(["true", "false"]).optional() });
export const EmptyQuery = z.strictObject({});

export type CreateSwarmBody = z.infer<typeof CreateSwarm>;
export type SpawnAgentBody = z.infer<typeof SpawnAgent>;
export type ChaosBody = z.infer<typeof Chaos>;
export type PostMessageBody = z.infer<typeof PostMessage>;
export type FaultToleranceBody = z.infer<typeof FaultTolerance>;

/** Parse or throw a 400 that names each offending field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what = "body"): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  // An unknown field is named itself (`body.foo`), not only its parent object.
  const issues = r.error.issues.flatMap((i) =>
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => ({ field: [what, ...i.path.map(String), k].join("."), message: "is not a known field" }))
      : [{ field: [what, ...i.path.map(String)].join("."), message: i.message }],
  );
  const first = issues[0];
  throw badRequest(`Invalid ${what}: ${first.field} ${first.message}.`, { issues });
}

/** Path parameters are validated like everything else. */
export function pathId(value: string | undefined, name: string): string {
  let id = value;
  try {
    // Clients may percent-encode path segments; an encoded "/" decodes to an invalid id and stays a 400.
    if (id !== undefined) id = decodeURIComponent(id);
  } catch {
    id = undefined;
  }
  if (id === undefined || !ID_PATTERN.test(id)) {
    throw badRequest(`Invalid ${name} in path: must match ^[a-z0-9][a-z0-9_-]{0,62}$.`, { field: `path.${name}` });
  }
  return id;
}

/** The query string as an object; a parameter given twice is ambiguous, so it is a 400. */
export function queryParams(req: { url: string }): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [k, v] of new URL(req.url).searchParams) {
    if (seen.has(k)) throw badRequest(`Query parameter ${k} is given more than once.`, { field: `query.${k}` });
    seen.add(k);
    out[k] = v;
  }
  return out;
}
