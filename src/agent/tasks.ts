// Task requests entering the mesh at this agent (`task_orchestrate` and the worker calls). Submit,
// claim, complete and fail are commands to the tasks module, answered by the core on `tasks/r:<rid>`
// once durable on every holder of the task (or refused); the core forwards each to the task's primary
// itself, so the shell only waits. A status read asks the task's holders (in this agent's ring view,
// two ranks wider) for their copies and takes the newest (ballot, version): every acknowledged write is
// on every holder of its configuration, so any live holder has it.
import { isRefusal, type Refusal, type TaskAnswer, type TaskCommand, type TaskCopy } from "../contract";
import type { TaskReply } from "../core/tasks/replica";
import { describeReach } from "../core/partition/module";
import type { Shell } from "./shell";
import { TIMEOUT } from "./waiters";

/** A bit longer than the core's own request timeout (5 s), which answers `timeout` first. */
const TASK_WAIT_MS = 7000;

let counter = 0;
function requestId(s: Shell): string {
  counter = (counter + 1) % 1_000_000;
  return `${s.self}-${Date.now().toString(36)}-${counter.toString(36)}-${s.rng.int(1 << 30).toString(36)}`;
}

/** Mutating requests are refused on a side of a partition that may not write. */
function readOnly(s: Shell, op: string): TaskAnswer | null {
  const node = s.node!;
  if (node.mode() !== "read-only") return null;
  const st = node.mods.partition.status();
  return { op, ok: false, code: "read_only", message: `Agent ${s.self} is on a side of a partition that may not write: ${st ? describeReach(st) : "no quorum in reach"}.` };
}

async function command(s: Shell, op: string, fn: (rid: string) => void): Promise<TaskAnswer> {
  const refused = readOnly(s, op);
  if (refused) return refused;
  const rid = requestId(s);
  const { effects } = s.exec(() => fn(rid));
  const answer = s.wait<TaskReply>("tasks", `r:${rid}`, Date.now() + TASK_WAIT_MS);
  await s.commitAndSend(effects);
  const a = await answer;
  if (a === TIMEOUT) return { op, ok: false, code: "no_quorum", message: "The task's holders did not answer in time; retry (the request is idempotent)." };
  return a;
}

export async function runTask(s: Shell, cmd: TaskCommand): Promise<TaskAnswer> {
  if (s.node!.meta.state !== "active") return { op: cmd.op, ok: false, code: "agent_unavailable", message: `Agent ${s.self} has left or was shut down.` };
  const tasks = s.node!.mods.tasks;
  switch (cmd.op) {
    case "submit":
      return command(s, "submit", (rid) => tasks.submit(rid, cmd.spec));
    case "claim":
      return command(s, "claim", (rid) => tasks.claim(rid, cmd.leaseMs));
    case "complete":
      return command(s, "complete", (rid) => tasks.complete(rid, cmd.taskId, cmd.agentId, cmd.result));
    case "fail":
      return command(s, "fail", (rid) => tasks.fail(rid, cmd.taskId, cmd.agentId, cmd.error));
    case "copy":
      return { op: "copy", ok: true, copy: tasks.copy(cmd.taskId) };
    case "list":
      return { op: "list", ok: true, tasks: tasks.list(cmd.limit, cmd.status), workload: tasks.workload(), counters: tasks.counters() };
    case "status":
      return { op: "status", ok: true, task: await newestCopy(s, cmd.taskId) };
  }
}

async function newestCopy(s: Shell, taskId: string): Promise<TaskCopy["view"] | null> {
  const tasks = s.node!.mods.tasks;
  const holders = tasks.holders(taskId);
  const copies = await Promise.all(
    holders.map(async (h): Promise<TaskCopy | null> => {
      if (h === s.self) return tasks.copy(taskId);
      try {
        const r = (await s.peer(h).task({ op: "copy", taskId })) as TaskAnswer | Refusal;
        return !isRefusal(r) && r.ok && r.op === "copy" ? (r as { copy: TaskCopy | null }).copy : null;
      } catch {
        return null;
      }
    }),
  );
  let best: TaskCopy | null = null;
  for (const c of copies) {
    if (!c) continue;
    if (!best || c.ballot.n > best.ballot.n || (c.ballot.n === best.ballot.n && (c.ballot.by > best.ballot.by || (c.ballot.by === best.ballot.by && c.version > best.version)))) best = c;
  }
  return best?.view ?? null;
}
