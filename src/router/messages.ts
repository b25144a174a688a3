// HTTP adapters for messages (`daa_communication`, the inbox); the logic is in services/messages.ts.
import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { readJson } from "./body";
import { badRequest, json } from "./errors";
import { EmptyQuery, InboxQuery, parse, pathId, PostMessage, queryParams } from "./schemas";
import * as svc from "./services/messages";

export async function postMessage(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(PostMessage, await readJson(req));
  return json(await svc.postMessage(env, swarmId, body, { via: req.headers.get("x-mesh-via") }), 202);
}

export async function getInbox(req: IRequest, env: Env): Promise<Response> {
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const agentId = pathId(req.params.agentId, "agentId");
  const q = parse(InboxQuery, queryParams(req), "query");
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (limit < 1 || limit > 1000) throw badRequest("limit must be between 1 and 1000.", { field: "query.limit" });
  return json(await svc.readInbox(env, swarmId, agentId, { after: q.after === undefined ? 0 : Number(q.after), limit }));
}
