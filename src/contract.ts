// What the router Worker and the MeshAgent Durable Object say to each other over RPC: one file both
// import, so neither reaches into the other's internals. Expected conditions (a crashed agent, no
// quorum) are returned as values, never thrown: an RPC that throws is logged by workerd as an
// uncaught exception even when the caller handles it.
import type { SwarmConfig } from "./core/config";
import type { Member, MemberStatus } from "./core/membership/member";
import type { RaftStatus } from "./core/raft/module";
import type { TaskReply, TaskSpec, TaskView } from "./core/tasks/replica";

/** Durable Object name of an agent. Ids cannot contain "/", so the pair is unambiguous. */
export function agentObjectName(swarm: string, agent: string): string {
  return `${swarm}/${agent}`;
}

/**
 * What an agent returns instead of an answer when it is crashed (chaos), not initialized, or — for a
 * write — on a read-only side of a partition (`message` then names what that side reaches).
 */
export interface Refusal {
  refused: "agent_unavailable" | "agent_not_found" | "read_only";
  message?: string;
}

export function isRefusal(x: unknown): x is Refusal {
  return typeof x === "object" && x !== null && "refused" in x;
}

export interface InitParams {
  swarm: string;
  self: string;
  config: SwarmConfig;
  caps?: string[];
  slots?: number;
  /** Declared resource availability in [0, 1] (task auctions' bids). */
  resources?: number;
  roster?: string[];
  seeds?: string[];
}

export interface ChaosState {
  crashed: boolean;
  /** Partition groups; an agent listed in no group belongs to the implicit group of the rest. */
  groups: string[][] | null;
  /** Probability of dropping each outgoing envelope. */
  dropRate: number;
  /** A byzantine agent: how it misbehaves in the signed protocols (null: it does not). */
  byzantine?: ByzantineBehavior | null;
}

/**
 * forge: signs its messages with a wrong key (everyone must reject them); equivocate: as a PBFT replica,
 * tells half the replicas something other than the other half (conflicting pre-prepares, prepares,
 * commits); silent: sends nothing in the signed protocols (a silent replica, or a silent primary).
 */
export type ByzantineBehavior = "forge" | "equivocate" | "silent";

export type ChaosCommand =
  | { action: "crash" }
  | { action: "restart" }
  | { action: "partition"; groups: string[][] }
  | { action: "heal" }
  | { action: "drop"; rate: number }
  | { action: "byzantine"; behavior: ByzantineBehavior | null };

export interface MemberView {
  agentId: string;
  status: MemberStatus;
  incarnation: number;
  lastSeenAt: number | null;
  /** When this agent set the member's current status (null: not since this agent last started). */
  statusSince: number | null;
  /** Its overlay peers, as this agent computes the overlay. */
  peers: string[];
}

export interface AgentStats {
  alarms: number;
  peerCalls: number;
  /** Peer calls by module and message type (`membership.ping`, `raft.app`, …). */
  callsByType: Record<string, number>;
  peerCallFailures: number;
  /** Peer calls with no answer within 10 s (counted as failures too). */
  peerCallTimeouts: number;
  /** Envelopes dropped because a signature did not check out against the signer's pinned key. */
  forgedDropped: number;
  rowsWritten: number;
  chaosDropped: number;
  /** Requests waiting on this agent whose deadline would still wake it (one alarm each at most). */
  requestsWaiting: number;
  since: number;
  /** The core's counters (per module: `membership.pings`, `raft.elections`, …). */
  core: Record<string, number>;
}

export interface AgentView {
  agentId: string;
  swarmId: string;
  status: MemberStatus;
  state: "active" | "left" | "shutdown";
  incarnation: number;
  capabilities: string[];
  peers: string[];
  membership: MemberView[];
  /** Fraction of the known members (not counting those that left) this agent holds live. */
  connectivity: number;
  load: number;
  queue: number;
  mode: "read-write" | "read-only";
  raft: RaftStatus | null;
  config: SwarmConfig;
  chaos: ChaosState;
  stats: AgentStats;
}

/**
 * What the router needs to enter the mesh through an agent (the full view is heavy); `reach` says what
 * a read-only side can reach (the message of a `503 read_only`); a read-only agent also names the log's
 * `voters` it knows (a writable side holds a quorum of them, so the router looks there next).
 */
export type AgentBrief = Pick<AgentView, "agentId" | "state" | "mode"> & { reach: string | null; voters?: string[] };

export interface DetectorView {
  monitor: string;
  known: boolean;
  status: MemberStatus | null;
  incarnation: number | null;
  lastHeardAt: number | null;
  suspicion: { since: number; deadline: number; confirmations: string[]; quorum: number } | null;
  confirmedBy: string[];
  isMonitor: boolean;
  /** After a probe: how it ended ("acked", "failed", "gone"), or null when none was made or it did not end in time. */
  probe: string | null;
}

export interface HealthReport {
  agentId: string;
  state: "active" | "left" | "shutdown";
  alarmAt: number | null;
  deadline: number | null;
  stalled: boolean;
  rearmed: boolean;
  /** Whether this side of a partition may write. */
  mode: "read-write" | "read-only";
  /** The log as this agent sees it (null: the swarm has no log). */
  raft: { role: string; term: number; leader: string | null; voters: string[] } | null;
  /** Members this agent's failure detector holds dead. */
  dead: string[];
}

/** What the router asks an agent about its metrics: buckets overlapping [since, now], grouped by stepMs. */
export interface MetricsQuery {
  /** The agent asked (answers from storage carry it when the agent is crashed). */
  agentId: string;
  since: number;
  stepMs: number;
  /** Also return its membership view (the topology), for a monitor snapshot. */
  members?: boolean;
}

export interface InboxPage {
  messages: Array<{ cursor: number; messageId: string; from: string; message: Record<string, unknown>; sentAt: number; receivedAt: number }>;
  next: string | null;
}

export type MemoryOp =
  | { op: "put"; ns: string; key: string; value: unknown; ttlSeconds?: number }
  | { op: "del"; ns: string; key: string };

export type Unavailable = { ok: false; code: "no_quorum" | "read_only"; message: string };

export type MemoryReply = { ok: true; version?: number; deleted?: boolean; leader: string } | Unavailable;

export type MemoryReadReply =
  /** `appliedIndex`: the log index this copy is applied to (compare with a write's `version`: a stale read shows how far behind it may be). */
  | { ok: true; found: boolean; value?: unknown; version?: number; stale: boolean; servedBy: string; appliedIndex?: number }
  | Unavailable;

export type MemoryListReply = { ok: true; keys: string[]; next: string | null; stale: boolean; appliedIndex?: number } | Unavailable;

export type { Member };

// ---- tasks (`task_orchestrate`) --------------------------------------------------------------------

export type { TaskReply, TaskSpec, TaskView };

/** A task request entering the mesh at an agent (src/agent/tasks.ts). */
export type TaskCommand =
  | { op: "submit"; spec: TaskSpec }
  /** This agent's worker asks for work (lease of `leaseMs`). */
  | { op: "claim"; leaseMs?: number }
  | { op: "complete"; taskId: string; agentId: string; result: unknown }
  | { op: "fail"; taskId: string; agentId: string; error: string }
  /** The newest copy among the task's holders. */
  | { op: "status"; taskId: string }
  /** This agent's own copy (asked by the agent answering `status`). */
  | { op: "copy"; taskId: string }
  /** Tasks this agent leads (primary of). */
  | { op: "list"; limit: number; status?: string };

export interface TaskCopy {
  view: TaskView;
  ballot: { n: number; by: string };
  version: number;
  primary: boolean;
}

export type TaskAnswer =
  | TaskReply
  | { op: "status"; ok: true; task: TaskView | null }
  | { op: "copy"; ok: true; copy: TaskCopy | null }
  | { op: "list"; ok: true; tasks: TaskView[]; workload: { queued: number; running: number; slots: number; load: number }; counters: Record<string, number> }
  | { op: string; ok: false; code: "read_only" | "no_quorum" | "agent_unavailable"; message: string };
