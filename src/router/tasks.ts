// HTTP adapters for tasks (`task_orchestrate`); the logic is in services/tasks.ts.
import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { readJson } from "./body";
import { badRequest, json } from "./errors";
import { ClaimTask, CompleteTask, EmptyQuery, FailTask, ListTasksQuery, parse, pathId, queryParams, SubmitTask } from "./schemas";
import * as svc from "./services/tasks";

const via = (req: IRequest) => ({ via: req.headers.get("x-mesh-via") });

export async function submitTask(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(SubmitTask, await readJson(req));
  return json(await svc.submitTask(env, swarmId, body, via(req)), 201);
}

export async function listTasks(req: IRequest, env: Env): Promise<Response> {
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const q = parse(ListTasksQuery, queryParams(req), "query");
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (limit < 1 || limit > 1000) throw badRequest("limit must be between 1 and 1000.", { field: "query.limit" });
  return json(await svc.listTasks(env, swarmId, { status: q.status, limit }));
}

export async function getTask(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const taskId = pathId(req.params.taskId, "taskId");
  return json(await svc.getTask(env, swarmId, taskId, via(req)));
}

export async function claimTask(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const agentId = pathId(req.params.agentId, "agentId");
  const body = parse(ClaimTask, await readJson(req));
  const task = await svc.claimTask(env, swarmId, agentId, body.leaseMs);
  return task ? json({ task }) : new Response(null, { status: 204 });
}

export async function completeTask(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const taskId = pathId(req.params.taskId, "taskId");
  const body = parse(CompleteTask, await readJson(req));
  return json(await svc.completeTask(env, swarmId, taskId, body, via(req)));
}

export async function failTask(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const taskId = pathId(req.params.taskId, "taskId");
  const body = parse(FailTask, await readJson(req));
  return json(await svc.failTask(env, swarmId, taskId, body, via(req)));
}
