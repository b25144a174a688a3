// The MCP tools: the seed's names and the arguments its agent file passes, each a thin adapter over
// the services the HTTP routes call (src/router/services) — one implementation. A tool validates its
// arguments with a zod schema (built from the endpoint's own schema where there is one), resolves the
// default swarm, calls the service and returns its data; a contract error (ApiError) becomes a tool
// error carrying the code, the message and, where it can be told, the argument at fault.
import { z } from "zod";
import type { Env } from "../env";
import { MAX_BODY_DEPTH, depthExceeds } from "./body";
import { ApiError, logError } from "./errors";
import {
  Capability, ClaimTask, CompleteTask, CreateProposal, CreateSwarm, FailTask, FaultTolerance, Id, KEY_PATTERN, MAX_TTL_SECONDS, PostMessage, SpawnAgent, SubmitTask,
  TASK_STATUSES,
} from "./schemas";
import * as fault from "./services/fault";
import * as memory from "./services/memory";
import * as messages from "./services/messages";
import * as metrics from "./services/metrics";
import * as proposals from "./services/proposals";
import * as swarms from "./services/swarms";
import * as tasks from "./services/tasks";
import { randomId } from "./mesh";
import { DEFAULT_CONFIG } from "../core/config";
import { SECTIONS, type Report } from "../core/metrics/report";

export interface ToolAnnotations {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ToolDef<S extends z.ZodType<Record<string, unknown>> = z.ZodType<Record<string, unknown>>> {
  name: string;
  title: string;
  description: string;
  inputSchema: S;
  annotations: ToolAnnotations;
  run: (env: Env, args: z.infer<S>) => Promise<Record<string, unknown>>;
  /** The text content, when it is not the result's JSON (a Markdown report). */
  text?: (data: Record<string, unknown>) => string | undefined;
}

export interface ToolResult {
  [key: string]: unknown;
  content: Array<{ type: "text"; text: string }>;
  structuredContent: Record<string, unknown>;
  isError?: true;
}

const DEFAULT_SWARM = "the swarm most recently initialized (the newest active swarm in the registry)";

const SwarmRef = Id.optional().describe(`The swarm to act on. Default: ${DEFAULT_SWARM}.`);

/** The swarm a tool acts on: the one named, else the newest active swarm (durable: the registry's). */
async function swarmOf(env: Env, swarmId: string | undefined): Promise<string> {
  return swarmId ?? swarms.latestSwarmId(env);
}

/**
 * Shell hooks pass JSON as strings (`--message='{"type":"network_init"}'`, `"$(swarm_status)"`): a
 * string that parses as JSON stands for that value; any other string is just a string.
 */
export function jsonArgument(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function tool<S extends z.ZodType<Record<string, unknown>>>(def: ToolDef<S>): ToolDef {
  return def as unknown as ToolDef;
}

// ---------------------------------------------------------------------------------------------

const swarmInit = tool({
  name: "swarm_init",
  title: "Initialize a mesh swarm",
  description:
    "Create a peer-to-peer mesh swarm and start its agents (the seed's `swarm_init mesh --maxAgents=12 --strategy=distributed`). " +
    "By default it starts as many agents as maxAgents (agent-1 … agent-n), so the swarm is usable at once; pass agents: 0 for an empty swarm and add agents with agent_spawn. " +
    "Each agent keeps 3-5 peer connections, gossips, detects failures with quorum confirmation and holds a Raft-replicated memory store. " +
    "The new swarm becomes the default of every other tool called without swarmId. Returns {swarmId, config, agents}.",
  inputSchema: CreateSwarm.extend({
    agents: CreateSwarm.shape.agents.describe(
      "Agents to start now, named agent-1 … agent-n (0 to maxAgents). Default: maxAgents, i.e. a full swarm.",
    ),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, a) => {
    const maxAgents = a.maxAgents ?? DEFAULT_CONFIG.maxAgents;
    return { ...(await swarms.createSwarm(env, { ...a, agents: a.agents ?? maxAgents })) };
  },
});

const swarmStatus = tool({
  name: "swarm_status",
  title: "Swarm status",
  description:
    "Status of a swarm as one live agent sees it: mode (read-write, or read-only on the minority side of a partition), " +
    "the replicated log's leader, connectivity (fraction of members that agent holds live), every agent with its status " +
    `(alive, suspect, dead, left), incarnation and overlay peers, and the last health check. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z.strictObject({ swarmId: SwarmRef }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  run: async (env, a) => ({ ...(await swarms.swarmStatus(env, await swarmOf(env, a.swarmId))) }),
});

const agentSpawn = tool({
  name: "agent_spawn",
  title: "Spawn an agent",
  description:
    "Add an agent to a swarm: it joins through seed agents, receives the member list and keeps 3-5 peer connections. " +
    "Returns {swarmId, agentId, peers, seeds}. Errors: swarm_full when maxAgents is reached, conflict when the id is taken. " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: SpawnAgent.extend({ swarmId: SwarmRef }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, { swarmId, ...body }) => {
    const id = await swarmOf(env, swarmId);
    return { swarmId: id, ...(await swarms.spawnAgent(env, id, body)) };
  },
});

const MESSAGE_EXAMPLE = '{"type":"network_init","topology":"mesh"}';

const daaCommunication = tool({
  name: "daa_communication",
  title: "Send a message",
  description:
    'Send a message into the mesh, to one agent or to "all". It is stored at its origin agent before this returns, then flooded over the overlay; ' +
    "each recipient gets it exactly once, in order per sender (read it with agent_inbox). " +
    "message is a JSON object, or a string holding one (as shell hooks pass it). Returns {swarmId, messageId, recipients, origin}. " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: PostMessage.extend({
    swarmId: SwarmRef,
    message: z
      .union([z.record(z.string(), z.unknown()), z.string()])
      .describe(`The message: a JSON object, or a string holding a JSON object, e.g. ${MESSAGE_EXAMPLE}.`),
  }).superRefine((a, ctx) => {
    const m = jsonArgument(a.message);
    if (!isPlainObject(m)) {
      ctx.addIssue({ code: "custom", path: ["message"], message: `must be a JSON object or a string holding one, e.g. ${MESSAGE_EXAMPLE}` });
    } else if (depthExceeds(m, MAX_BODY_DEPTH - 1)) {
      ctx.addIssue({ code: "custom", path: ["message"], message: `is nested more than ${MAX_BODY_DEPTH - 1} levels deep` });
    }
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, { swarmId, from, to, message }) => {
    const id = await swarmOf(env, swarmId);
    const body = { from, to, message: jsonArgument(message) as Record<string, unknown> };
    return { swarmId: id, ...(await messages.postMessage(env, id, body)) };
  },
});

const daaFaultTolerance = tool({
  name: "daa_fault_tolerance",
  title: "Check an agent's failure status",
  description:
    "What the failure detector knows about one agent, from the agents that monitor it (its overlay peers): status, incarnation, " +
    "suspicion and who confirmed it, each monitor's view, and the actions taken. With strategy failover_recovery every monitor probes it now " +
    "(directly and through others), so a failure is confirmed or refuted at once; a dead agent is declared only by a quorum of its monitors. " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: FaultTolerance.extend({ swarmId: SwarmRef }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  run: async (env, { swarmId, ...body }) => {
    const id = await swarmOf(env, swarmId);
    return { swarmId: id, ...(await fault.faultTolerance(env, id, body)) };
  },
});

const ACTIONS = ["store", "retrieve", "list", "delete"] as const;
const ONLY: Record<string, ReadonlyArray<(typeof ACTIONS)[number]>> = {
  value: ["store"],
  ttl: ["store"],
  prefix: ["list"],
  limit: ["list"],
  cursor: ["list"],
  consistency: ["retrieve", "list"],
};

const memoryUsage = tool({
  name: "memory_usage",
  title: "Swarm memory",
  description:
    "The swarm's shared memory: a namespaced key-value store replicated by its Raft log (a write returns once a majority holds it; " +
    "reads are linearizable unless consistency is stale). action store {key, value, ttl?}, retrieve {key}, list {prefix?, limit?, cursor?}, delete {key}; " +
    'namespace defaults to "default". value is any JSON; a string holding JSON (such as swarm_status output) is stored as that JSON, any other string as a string. ' +
    "Errors: not_found for a missing key; no_quorum or read_only (503) during an election or on the minority side of a partition (retry later). " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z
    .strictObject({
      action: z.enum(ACTIONS).describe("store, retrieve, list or delete."),
      key: z
        .string()
        .regex(KEY_PATTERN, "must match ^[a-z0-9][a-z0-9_:.-]{0,255}$ (lowercase letters, digits, _ - : .)")
        .optional()
        .describe("The key (store, retrieve, delete), e.g. mesh:network:task-1 — lowercase letters, digits and _ - : . up to 256 chars."),
      value: z
        .unknown()
        .optional()
        .describe("store only: the value, any JSON. A string holding JSON is stored as that JSON; any other string as a string."),
      namespace: Id.optional().describe('Namespace of the key, e.g. "mesh" (default "default").'),
      ttl: z.int().min(1).max(MAX_TTL_SECONDS).optional().describe("store only: expire the key after this many seconds (1 to 31536000)."),
      prefix: z.string().max(256).optional().describe("list only: only keys starting with this."),
      limit: z.int().min(1).max(1000).optional().describe("list only: keys per page, 1-1000 (default 100)."),
      cursor: z.string().max(256).optional().describe("list only: the next value of the previous page."),
      consistency: z
        .enum(["linearizable", "stale"])
        .optional()
        .describe("retrieve and list: linearizable (default; through the leader) or stale (the entry agent's own copy, faster, may lag)."),
      swarmId: SwarmRef,
    })
    .superRefine((a, ctx) => {
      if (a.action !== "list" && a.key === undefined) {
        ctx.addIssue({ code: "custom", path: ["key"], message: `is required for action ${a.action}` });
      }
      if (a.action === "store" && a.value === undefined) {
        ctx.addIssue({ code: "custom", path: ["value"], message: "is required for action store (any JSON value)" });
      }
      for (const [arg, actions] of Object.entries(ONLY)) {
        if ((a as Record<string, unknown>)[arg] !== undefined && !actions.includes(a.action)) {
          ctx.addIssue({ code: "custom", path: [arg], message: `applies only to action ${actions.join(" and ")}, not ${a.action}` });
        }
      }
      if (a.action === "store" && a.value !== undefined && depthExceeds(jsonArgument(a.value), MAX_BODY_DEPTH - 1)) {
        ctx.addIssue({ code: "custom", path: ["value"], message: `is nested more than ${MAX_BODY_DEPTH - 1} levels deep` });
      }
    }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    const namespace = a.namespace ?? "default";
    const at = { swarmId, namespace, key: a.key ?? "" };
    switch (a.action) {
      case "store":
        return { action: a.action, swarmId, ...(await memory.putMemory(env, at, { value: jsonArgument(a.value), ttlSeconds: a.ttl })) };
      case "retrieve":
        return { action: a.action, swarmId, namespace, key: at.key, ...(await memory.getMemory(env, at, a.consistency)) };
      case "delete":
        return { action: a.action, swarmId, ...(await memory.deleteMemory(env, at)) };
      case "list": {
        const page = { prefix: a.prefix ?? "", limit: a.limit ?? 100, cursor: a.cursor ?? null, consistency: a.consistency };
        return { action: a.action, swarmId, namespace, ...(await memory.listMemory(env, swarmId, namespace, page)) };
      }
    }
  },
});

const topologyOptimize = tool({
  name: "topology_optimize",
  title: "Measure and repair the overlay",
  description:
    "Measure the peer graph the agents actually keep (degree, redundant paths, bridges, articulation points, diameter, edges only one side lists), " +
    "repair it by merging every agent's membership and pushing it to all (so every agent recomputes the same overlay), and measure again. " +
    `Returns {swarmId, before, after, actions}. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z.strictObject({ swarmId: SwarmRef }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  run: async (env, a) => ({ ...(await swarms.optimizeTopology(env, await swarmOf(env, a.swarmId))) }),
});

const agentInbox = tool({
  name: "agent_inbox",
  title: "Read an agent's inbox",
  description:
    "Read the messages delivered to an agent — for an AI worker acting as that mesh agent. Returns {swarmId, agentId, messages: " +
    "[{messageId, from, message, sentAt, receivedAt}], next}; pass next as after to read on (reading removes nothing). " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z.strictObject({
    agentId: Id.describe("The agent whose inbox to read (a member of the swarm)."),
    after: z
      .union([z.string().regex(/^\d{1,15}$/, "must be a cursor returned as next"), z.int().min(0).max(999_999_999_999_999)])
      .optional()
      .describe("Cursor: the next of the previous page (default: from the start)."),
    limit: z.int().min(1).max(1000).optional().describe("Messages per page, 1-1000 (default 100)."),
    swarmId: SwarmRef,
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    const page = { after: a.after === undefined ? 0 : Number(a.after), limit: a.limit ?? 100 };
    return { swarmId, agentId: a.agentId, ...(await messages.readInbox(env, swarmId, a.agentId, page)) };
  },
});

const performanceReport = tool({
  name: "performance_report",
  title: "Performance report",
  description:
    "Performance of a swarm over a timeframe, measured from real events and aggregated across its agents (the seed's `performance_report --format=json --timeframe=24h`): " +
    "network {connectivity, latencyMs {p50, p99} of peer calls, throughput (messages/s), partitionRecoveryMs}, consensus {decisionLatencyMs, participation, " +
    "byzantineTolerance f = floor((v-1)/3), viewChanges, leaderElections}, load {variance, migrations, hotspots, utilization}, plus platform health, " +
    "billed operations per agent-hour next to the naive mesh's 8,400, every observed metric and a time series. " +
    `format markdown returns the same report as a Markdown document in the text. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z.strictObject({
    format: z.enum(metrics.FORMATS).optional().describe("json (default): the report as JSON; markdown: the text is a Markdown document (structuredContent stays the JSON report)."),
    timeframe: z.enum(metrics.TIMEFRAMES).optional().describe("The window: 1h, 24h (default) or 7d (5-minute buckets; the window starts at the first bucket it reaches into)."),
    swarmId: SwarmRef,
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  run: async (env, a) => {
    const report = await metrics.performanceReport(env, await swarmOf(env, a.swarmId), a.timeframe ?? "24h");
    return { ...report, format: a.format ?? "json" };
  },
  text: (data) => (data.format === "markdown" ? metrics.reportMarkdown(data as unknown as Report) : undefined),
});

/** A tool call waits at most this long for its series of snapshots. */
const MONITOR_TOOL_MAX_MS = 60_000;

const swarmMonitor = tool({
  name: "swarm_monitor",
  title: "Monitor a swarm",
  description:
    "Snapshots of a swarm now (the seed's `swarm_monitor --interval=3000 --metrics=connectivity,latency,throughput`): topology (agents, status, peers, mode, role, load), " +
    "leader, connectivity, peer-call latency, throughput since the previous snapshot, partitions, consensus, load, platform, cost and the last health check. " +
    "count snapshots, interval ms apart (one by default; a series may span at most 60 s — for a live stream use GET /v1/swarms/:id/monitor, Server-Sent Events). " +
    `Returns {swarmId, intervalMs, snapshots}. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z
    .strictObject({
      interval: z.int().min(250).max(60_000).optional().describe("Milliseconds between snapshots, 250-60000 (default 3000)."),
      count: z.int().min(1).max(20).optional().describe("Snapshots to take, 1-20 (default 1); (count - 1) x interval must be at most 60000 ms."),
      metrics: z
        .union([z.string().max(512), z.array(z.enum(SECTIONS)).max(SECTIONS.length)])
        .optional()
        .describe(`Sections to include, comma-separated or a list (default all): ${SECTIONS.join(", ")}.`),
      swarmId: SwarmRef,
    })
    .superRefine((a, ctx) => {
      try {
        metrics.parseSections(a.metrics, "metrics");
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["metrics"], message: err instanceof ApiError ? err.message : "unknown metrics" });
      }
      if (((a.count ?? 1) - 1) * (a.interval ?? 3000) > MONITOR_TOOL_MAX_MS) {
        ctx.addIssue({ code: "custom", path: ["count"], message: `times interval spans more than ${MONITOR_TOOL_MAX_MS} ms; use fewer snapshots or the SSE endpoint` });
      }
    }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    const intervalMs = a.interval ?? 3000;
    const m = await metrics.startMonitor(env, swarmId, metrics.parseSections(a.metrics, "metrics"));
    const snapshots: Array<Record<string, unknown>> = [];
    const t0 = Date.now();
    for (let i = 0; i < (a.count ?? 1); i++) {
      const dueAt = t0 + i * intervalMs;
      const wait = dueAt - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      snapshots.push(await metrics.nextSnapshot(env, m, Math.max(Date.now(), dueAt)));
    }
    return { swarmId, intervalMs, snapshots };
  },
});

const PROPOSAL_EXAMPLE = '{"coordination_protocol":"gossip","consensus_threshold":0.67}';

const daaConsensus = tool({
  name: "daa_consensus",
  title: "Propose, vote, or read a decision",
  description:
    "Decide together. Three forms (the seed's): to PROPOSE pass proposal (a JSON object or a string holding one, e.g. " + PROPOSAL_EXAMPLE + ") " +
    'and agents ("all" or agent ids); protocol is gossip (default, leaderless), raft (on the replicated log) or pbft (signed; tolerates f < n/3 lying voters); ' +
    "with voting auto (default) every eligible agent validates the proposal and votes itself. Returns {proposalId, status: pending}. " +
    'To VOTE pass vote (approve|reject), proposal_id and the voting agent as agentId (or agents: "<agentId>"; "current" needs agentId): ' +
    "one vote per agent, a second different vote is a conflict. To READ a decision pass proposal_id alone: {status: pending|approved|rejected|expired, votes, participation, decisionLatencyMs}. " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z
    .strictObject({
      swarmId: SwarmRef,
      proposal: z.union([z.record(z.string(), z.unknown()), z.string()]).optional().describe(`To propose: what is proposed, e.g. ${PROPOSAL_EXAMPLE}.`),
      agents: z.union([z.literal("all"), z.literal("current"), Id, z.array(Id).min(1)]).optional().describe('Who votes on a proposal ("all" or ids); for a vote, the voting agent ("current" with agentId).'),
      protocol: CreateProposal.shape.protocol,
      threshold: CreateProposal.shape.threshold,
      timeoutMs: CreateProposal.shape.timeoutMs,
      voting: CreateProposal.shape.voting,
      proposalId: Id.optional().describe("To propose: the new proposal's id (default: generated)."),
      vote: z.enum(["approve", "reject"]).optional().describe("To vote: approve or reject."),
      proposal_id: Id.optional().describe("To vote on or read a proposal: its id."),
      agentId: Id.optional().describe("To vote: the voting agent (it signs its vote)."),
    })
    .superRefine((a, ctx) => {
      if (a.proposal !== undefined) {
        if (!isPlainObject(jsonArgument(a.proposal))) ctx.addIssue({ code: "custom", path: ["proposal"], message: `must be a JSON object or a string holding one, e.g. ${PROPOSAL_EXAMPLE}` });
        if (a.vote !== undefined) ctx.addIssue({ code: "custom", path: ["vote"], message: "propose or vote, not both" });
      } else if (a.vote !== undefined) {
        if (!a.proposal_id) ctx.addIssue({ code: "custom", path: ["proposal_id"], message: "is required to vote" });
        const voter = a.agentId ?? (typeof a.agents === "string" && a.agents !== "all" && a.agents !== "current" ? a.agents : undefined);
        if (!voter) ctx.addIssue({ code: "custom", path: ["agentId"], message: "is required to vote (the voting agent)" });
      } else if (!a.proposal_id) {
        ctx.addIssue({ code: "custom", path: ["proposal"], message: "pass proposal (to propose), vote with proposal_id (to vote), or proposal_id (to read)" });
      }
    }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    if (a.proposal !== undefined) {
      const agents: "all" | string[] =
        a.agents === undefined || a.agents === "all" || a.agents === "current" ? "all" : typeof a.agents === "string" ? [a.agents] : a.agents;
      const body = {
        proposal: jsonArgument(a.proposal) as Record<string, unknown>, agents, protocol: a.protocol, threshold: a.threshold, timeoutMs: a.timeoutMs,
        voting: a.voting, proposalId: a.proposalId,
      };
      return { swarmId, ...(await proposals.createProposal(env, swarmId, body)) };
    }
    if (a.vote !== undefined) {
      const agentId = (a.agentId ?? a.agents) as string;
      return { swarmId, ...(await proposals.castVote(env, swarmId, a.proposal_id!, { agentId, vote: a.vote })) };
    }
    return { swarmId, ...(await proposals.getProposal(env, swarmId, a.proposal_id!)) };
  },
});

// ---- tasks ----------------------------------------------------------------------------------

/** The seed family's orchestration strategies, mapped onto the mesh's placement strategies. */
const SEED_STRATEGIES: Record<string, "dht" | "auction" | "capability"> = { parallel: "dht", sequential: "dht", adaptive: "auction" };

const taskOrchestrate = tool({
  name: "task_orchestrate",
  title: "Submit a task to the mesh",
  description:
    "Submit work to the swarm (the seed's `task_orchestrate`). The task is placed by hashing its id onto the live agents (replicated on 3 holders) and " +
    "run by the worker behind the agent it is assigned to (an AI agent calling task_claim, or scripts/worker.mjs); it is never lost while fewer than 3 holders fail, " +
    "and its completion is recorded exactly once. strategy: dht (default; parallel and sequential mean the same here), auction (Contract Net among capable agents, " +
    "bids scored capability 0.4, load 0.3, past performance 0.2, resources 0.1; adaptive means auction) or capability (best match above 0.7, less loaded of two). " +
    "maxAgents > 1 splits the task into that many parts (<taskId>-1 … -n), each placed on its own. priority is recorded in the payload (it does not reorder queues). " +
    "Errors: no_capable_agent (422) naming the missing capabilities when no live agent matches requiredCapabilities above 0.7. " +
    `Returns {swarmId, taskId, strategy, priority, tasks: [{taskId, assignedTo, replicas}]}. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z.strictObject({
    task: z.union([z.string().min(1).max(16_384), z.record(z.string(), z.unknown())]).describe("What to do: a description, or a JSON object (the payload the worker gets)."),
    strategy: z.enum(["dht", "auction", "capability", "parallel", "sequential", "adaptive"]).optional().describe("Placement (default dht)."),
    priority: z.enum(["low", "medium", "high", "critical"]).optional().describe("Recorded with the task (default medium)."),
    maxAgents: z.int().min(1).max(100).optional().describe("Split into this many parts, each run by the agent it is placed on (default 1)."),
    requiredCapabilities: z.array(Capability).max(64).optional().describe("Capabilities the executing agent must match above 0.7."),
    taskId: Id.optional().describe("Id of the task (generated when omitted); submitting the same id and task again is idempotent."),
    swarmId: SwarmRef,
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    const strategy = SEED_STRATEGIES[a.strategy ?? ""] ?? (a.strategy as "dht" | "auction" | "capability" | undefined) ?? "dht";
    const priority = a.priority ?? "medium";
    const parts = a.maxAgents ?? 1;
    const taskId = a.taskId ?? randomId("task-");
    const task = jsonArgument(a.task);
    const out = [];
    for (let i = 1; i <= parts; i++) {
      const id = parts === 1 ? taskId : `${taskId}-${i}`.slice(0, 63);
      const payload = { task, priority, ...(parts > 1 ? { part: i, of: parts } : {}) };
      const body = SubmitTask.parse({ taskId: id, payload, strategy, ...(a.requiredCapabilities ? { requiredCapabilities: a.requiredCapabilities } : {}) });
      const r = await tasks.submitTask(env, swarmId, body);
      out.push({ taskId: r.taskId, assignedTo: r.assignedTo, replicas: r.replicas });
    }
    return { swarmId, taskId, strategy, priority, tasks: out };
  },
});

const taskClaim = tool({
  name: "task_claim",
  title: "Claim a task (worker)",
  description:
    "For the worker behind an agent: lease the next task queued for that agent (or, with nothing queued, one stolen from the busiest peer that has not started). " +
    "Finish it with task_complete or task_fail before the lease runs out, or it goes to another agent. Returns {swarmId, agentId, task} (task null when there is nothing to do). " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: ClaimTask.extend({ agentId: Id.describe("The agent whose worker you are."), swarmId: SwarmRef }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    return { swarmId, agentId: a.agentId, task: await tasks.claimTask(env, swarmId, a.agentId, a.leaseMs) };
  },
});

const taskComplete = tool({
  name: "task_complete",
  title: "Complete a task (worker)",
  description:
    "Record a claimed task's result. Only the first completion is recorded; a duplicate or late one is answered with the recorded result (duplicate: true). " +
    `Returns {swarmId, taskId, status, result, doneBy, duplicate}. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: CompleteTask.extend({ taskId: Id.describe("The task."), swarmId: SwarmRef }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  run: async (env, { swarmId, taskId, ...body }) => {
    const id = await swarmOf(env, swarmId);
    return { swarmId: id, ...(await tasks.completeTask(env, id, taskId, { ...body, result: jsonArgument(body.result) })) };
  },
});

const taskFail = tool({
  name: "task_fail",
  title: "Fail a task attempt (worker)",
  description:
    "Report that a claimed task failed. It is queued again for another attempt, or, after its last attempt (default 3), ends failed with this error as the reason. " +
    `Returns {swarmId, taskId, status, attempts}. swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: FailTask.extend({ taskId: Id.describe("The task."), swarmId: SwarmRef }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: async (env, { swarmId, taskId, ...body }) => {
    const id = await swarmOf(env, swarmId);
    return { swarmId: id, ...(await tasks.failTask(env, id, taskId, body)) };
  },
});

const taskStatus = tool({
  name: "task_status",
  title: "Task status",
  description:
    "One task's status (queued, running, done, failed), the agent it is assigned to, attempts, result or error, and its replicas; " +
    "without taskId, the swarm's tasks (optionally of one status) and each agent's queue. " +
    `swarmId defaults to ${DEFAULT_SWARM}.`,
  inputSchema: z.strictObject({
    taskId: Id.optional().describe("The task (omit to list)."),
    status: z.enum(TASK_STATUSES).optional().describe("List only: tasks of this status."),
    limit: z.int().min(1).max(1000).optional().describe("List only: at most this many (default 100)."),
    swarmId: SwarmRef,
  }),
  annotations: { readOnlyHint: true, openWorldHint: false },
  run: async (env, a) => {
    const swarmId = await swarmOf(env, a.swarmId);
    if (a.taskId) return { swarmId, ...(await tasks.getTask(env, swarmId, a.taskId)) };
    return { swarmId, ...(await tasks.listTasks(env, swarmId, { status: a.status, limit: a.limit ?? 100 })) };
  },
});

/** Every tool, in the order `tools/list` shows them. */
export const TOOLS: ToolDef[] = [
  swarmInit, swarmStatus, agentSpawn, daaCommunication, daaConsensus, daaFaultTolerance, memoryUsage, topologyOptimize, agentInbox,
  taskOrchestrate, taskClaim, taskComplete, taskFail, taskStatus,
  performanceReport, swarmMonitor,
];

// ---------------------------------------------------------------------------------------------
// Results

/** Structured data plus a text rendering (JSON, so `"$(swarm_status)"` can be stored as it is). */
export function okResult(data: Record<string, unknown>, text?: string): ToolResult {
  return { content: [{ type: "text", text: text ?? JSON.stringify(data, null, 2) }], structuredContent: data };
}

/** A contract error as a tool error: `{error: {code, message, details?}, status, argument?}`. */
export function errorResult(err: unknown, args: Record<string, unknown>): ToolResult {
  let e: ApiError;
  if (err instanceof ApiError) e = err;
  else {
    // Anything else is our bug: log it, never leak a stack trace.
    logError("mcp_tool_failed", err);
    e = new ApiError(500, "internal_error", "Something went wrong inside the mesh; it has been logged.");
  }
  const argument = argumentOf(e, args);
  const error: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.details !== undefined) error.details = e.details;
  const where = argument ? ` (argument ${argument})` : "";
  return {
    isError: true,
    content: [{ type: "text", text: `${e.code}${where}: ${e.message}` }],
    structuredContent: { error, status: e.status, ...(argument ? { argument } : {}) },
  };
}

const FIELD = /^(body|path|query)\.(.+)$/;
const ID_CHAR = "a-z0-9_:.-";

/**
 * Which argument an error is about: the field the service named (`body.agents` → `agents`), the
 * swarm for a missing or taken swarm, else the argument whose value the message names (the unknown
 * agent in "Agent ghost is not a member of swarm s.").
 */
function argumentOf(e: ApiError, args: Record<string, unknown>): string | undefined {
  const d = e.details as { field?: unknown; issues?: Array<{ field?: unknown }> } | undefined;
  const field = d?.field ?? d?.issues?.[0]?.field;
  if (typeof field === "string") {
    const m = FIELD.exec(field);
    if (m) return m[2];
    if (!/^(body|path|query|header)\b/.test(field)) return field;
  }
  if (e.code !== "not_found" && e.code !== "conflict" && e.code !== "agent_unavailable") return undefined;
  if (e.code !== "agent_unavailable" && /^Swarm /.test(e.message)) return "swarmId";
  for (const [k, v] of Object.entries(args)) {
    // A string argument, or a list of them (the unknown agent among `agents`).
    const values = typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
    for (const x of values) {
      if (x.length === 0) continue;
      const escaped = x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      // Bounded by non-id characters; a full stop ends the sentence, not the id.
      if (new RegExp(`(^|[^${ID_CHAR}])${escaped}($|[^${ID_CHAR}]|\\.(\\s|$))`).test(e.message)) return k;
    }
  }
  return undefined;
}
