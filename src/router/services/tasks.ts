// Tasks (`task_orchestrate` and the worker calls `task_claim`, `task_complete`, `task_fail`,
// `task_status`), shared by the HTTP routes and the MCP tools. The router holds no task state: a request
// enters the mesh at an agent, whose tasks module routes it to the task's primary (the first live
// holder on the ring) and answers once the change is on every holder. Submit, complete and claim are
// retried a few times when the primary changed under them or did not answer: submit and complete are
// idempotent in the core (same id and payload; the first completion stands), and a claim whose answer
// was lost only leaves a lease that runs out (execution is at-least-once; completion is recorded once).
import { isRefusal, type Refusal, type TaskAnswer, type TaskCommand, type TaskView } from "../../contract";
import type { Env } from "../../env";
import { ApiError, notFound } from "../errors";
import { agentError, agentStub, checkVia, entryBrief, getSwarm, mapLimit, randomId, requireMember, shuffled, type EntryOptions } from "../mesh";
import type { SubmitTaskBody } from "../schemas";

const ATTEMPTS = 3;

export interface TaskStatus {
  taskId: string;
  status: TaskView["status"];
  assignedTo: string | null;
  attempts: number;
  result?: unknown;
  error?: string;
  replicas: string[];
  strategy: TaskView["strategy"];
  requiredCapabilities: string[];
  payload: Record<string, unknown>;
  lease?: { agent: string; untilMs: number };
}

function statusOf(v: TaskView): TaskStatus {
  const out: TaskStatus = {
    taskId: v.taskId, status: v.status, assignedTo: v.assignedTo, attempts: v.attempts, replicas: v.replicas, strategy: v.strategy,
    requiredCapabilities: v.requiredCapabilities, payload: v.payload,
  };
  if (v.status === "done") out.result = v.result ?? null;
  if (v.error !== undefined) out.error = v.error;
  if (v.lease && v.status === "running") out.lease = { agent: v.lease.agent, untilMs: v.lease.untilMs };
  return out;
}

/** Turn a refused task answer into the contract's error. */
function taskError(a: Extract<TaskAnswer, { ok: false }>): ApiError {
  switch (a.code) {
    case "no_capable_agent": {
      const r = a as { required: string[]; missing: string[] };
      return new ApiError(422, "no_capable_agent", `No live agent matches the required capabilities above 0.7; missing: ${r.missing.join(", ") || "(none declared together)"}.`, {
        required: r.required, missing: r.missing,
      });
    }
    case "not_found":
      return notFound(`No holder of the task has it (${"message" in a ? a.message : "not found"}).`);
    case "conflict":
    case "not_claimant":
    case "task_failed":
      return new ApiError(409, "conflict", `${"message" in a ? a.message : "conflict"}.`, { reason: a.code });
    case "agent_unavailable":
      return new ApiError(503, "agent_unavailable", "message" in a ? a.message : "The agent is not answering.");
    case "read_only":
      return new ApiError(503, "read_only", "message" in a ? a.message : "read-only side of a partition");
    default:
      return new ApiError(503, "no_quorum", `The task's holders could not be reached in time (${a.code}); retry.`, { reason: a.code });
  }
}

const RETRYABLE = new Set(["retry", "timeout", "no_quorum", "agent_unavailable"]);

/** Send `cmd` into the mesh at one of `entries` (in order), retrying while the answer says to. */
async function send(env: Env, swarmId: string, entries: string[], cmd: TaskCommand): Promise<TaskAnswer> {
  let last: TaskAnswer | Refusal | null = null;
  let lastAgent = entries[0];
  for (let i = 0; i < ATTEMPTS; i++) {
    const agent = entries[i % entries.length];
    lastAgent = agent;
    try {
      const r = await agentStub(env, swarmId, agent).task(cmd);
      if (isRefusal(r)) {
        if (r.refused === "read_only") throw agentError(r, agent);
        last = r;
        continue;
      }
      if (r.ok || !RETRYABLE.has(r.code)) return r;
      last = r;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      last = { refused: "agent_unavailable" };
    }
  }
  if (last && isRefusal(last)) throw agentError(last, lastAgent);
  throw taskError(last as Extract<TaskAnswer, { ok: false }>);
}

async function ok<T extends TaskAnswer>(env: Env, swarmId: string, entries: string[], cmd: TaskCommand): Promise<T> {
  const a = await send(env, swarmId, entries, cmd);
  if (!a.ok) throw taskError(a);
  return a as T;
}

/** Agents to enter through: `via`, or one preferred agent, then a few others (live, writable first). */
async function entries(env: Env, swarmId: string, opts: EntryOptions, prefer?: string): Promise<string[]> {
  const rec = await getSwarm(env, swarmId);
  if (rec.agents.length === 0) throw new ApiError(503, "no_quorum", `Swarm ${swarmId} has no agents.`);
  if (opts.via) return [checkVia(rec, opts.via)];
  const first = prefer && rec.agents.includes(prefer) ? prefer : (await entryBrief(env, rec, { write: true })).agentId;
  return [first, ...shuffled(rec.agents.filter((a) => a !== first)).slice(0, ATTEMPTS - 1)];
}

/** `POST /v1/swarms/:id/tasks` (`task_orchestrate`): the task is on every holder when this returns. */
export async function submitTask(env: Env, swarmId: string, body: SubmitTaskBody, opts: EntryOptions = {}) {
  const taskId = body.taskId ?? randomId("task-");
  const spec = {
    taskId, payload: body.payload, requiredCapabilities: body.requiredCapabilities ?? [], strategy: body.strategy ?? "dht",
    replication: body.replication ?? 3, maxAttempts: body.maxAttempts ?? 3,
  };
  const r = await ok<Extract<TaskAnswer, { op: "submit"; ok: true }>>(env, swarmId, await entries(env, swarmId, opts), { op: "submit", spec });
  return { taskId: r.taskId, assignedTo: r.assignedTo, replicas: r.replicas, strategy: r.strategy, existing: r.existing };
}

/** `POST /v1/swarms/:id/agents/:agentId/tasks/claim`: a leased task for that agent's worker, or null. */
export async function claimTask(env: Env, swarmId: string, agentId: string, leaseMs: number | undefined): Promise<TaskStatus | null> {
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, agentId);
  // The claim is the agent's own (its queue, then a steal from the busiest peer): it enters there only.
  const r = await ok<Extract<TaskAnswer, { op: "claim"; ok: true }>>(env, swarmId, [agentId], { op: "claim", leaseMs });
  return r.task ? statusOf(r.task) : null;
}

/** `POST …/tasks/:taskId/complete`: the first completion is recorded; a later one gets the recorded result. */
export async function completeTask(env: Env, swarmId: string, taskId: string, body: { agentId: string; result?: unknown }, opts: EntryOptions = {}) {
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, body.agentId);
  const cmd: TaskCommand = { op: "complete", taskId, agentId: body.agentId, result: body.result ?? null };
  const r = await ok<Extract<TaskAnswer, { op: "complete"; ok: true }>>(env, swarmId, await entries(env, swarmId, opts, body.agentId), cmd);
  return { taskId, status: "done" as const, result: r.result, doneBy: r.doneBy, duplicate: r.duplicate };
}

/** `POST …/tasks/:taskId/fail`: the attempt ends; the task is queued again or, out of attempts, failed. */
export async function failTask(env: Env, swarmId: string, taskId: string, body: { agentId: string; error: string }, opts: EntryOptions = {}) {
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, body.agentId);
  const cmd: TaskCommand = { op: "fail", taskId, agentId: body.agentId, error: body.error };
  const r = await ok<Extract<TaskAnswer, { op: "fail"; ok: true }>>(env, swarmId, await entries(env, swarmId, opts, body.agentId), cmd);
  return { taskId, status: r.status, attempts: r.attempts };
}

/** `GET /v1/swarms/:id/tasks/:taskId`: the newest copy among the task's holders. */
export async function getTask(env: Env, swarmId: string, taskId: string, opts: EntryOptions = {}): Promise<TaskStatus> {
  const r = await ok<Extract<TaskAnswer, { op: "status"; ok: true }>>(env, swarmId, await entries(env, swarmId, opts), { op: "status", taskId });
  if (!r.task) throw notFound(`Task ${taskId} does not exist in swarm ${swarmId}.`);
  return statusOf(r.task);
}

/**
 * `GET /v1/swarms/:id/tasks`: every agent lists the tasks it leads (primary of); one copy per task
 * (the first answer). Agents that do not answer are named in `unreachable` (their tasks may be missing
 * until a new primary takes over).
 */
export async function listTasks(env: Env, swarmId: string, q: { status?: string; limit: number }) {
  const rec = await getSwarm(env, swarmId);
  const unreachable: string[] = [];
  const agents: Record<string, { queued: number; running: number; slots: number; load: number; steals: number; migrations: number; completed: number }> = {};
  const byId = new Map<string, TaskStatus>();
  await mapLimit(rec.agents, 6, async (a) => {
    try {
      const r = (await agentStub(env, swarmId, a).task({ op: "list", limit: q.limit, status: q.status })) as TaskAnswer | Refusal;
      if (isRefusal(r) || !r.ok || r.op !== "list") {
        unreachable.push(a);
        return;
      }
      const l = r as Extract<TaskAnswer, { op: "list"; ok: true }>;
      agents[a] = { ...l.workload, steals: l.counters.steals ?? 0, migrations: l.counters.migrations ?? 0, completed: l.counters.completed ?? 0 };
      for (const v of l.tasks) if (!byId.has(v.taskId)) byId.set(v.taskId, statusOf(v));
    } catch {
      unreachable.push(a);
    }
  });
  const tasks = Array.from(byId.values()).sort((a, b) => (a.taskId < b.taskId ? -1 : 1)).slice(0, q.limit);
  return { tasks, agents, unreachable: unreachable.sort() };
}
