// HTTP adapters for memory (`memory_usage`); the logic is in services/memory.ts. Path segments are
// validated in the order the contract has always checked them (namespace, key, query, body, swarm).
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { Env } from "../env";
import { readJson } from "./body";
import { badRequest, json } from "./errors";
import { KEY_PATTERN, ListQuery, parse, pathId, PutMemory, queryParams, ReadQuery } from "./schemas";
import * as svc from "./services/memory";

function pathKey(req: IRequest): string {
  const raw = req.params.key;
  let key: string;
  try {
    key = decodeURIComponent(raw ?? "");
  } catch {
    throw badRequest("Invalid key in path.", { field: "path.key" });
  }
  if (!KEY_PATTERN.test(key)) {
    throw badRequest("Invalid key: lowercase letters, digits, _ - : . (up to 256 chars), starting with a letter or digit.", {
      field: "path.key",
    });
  }
  return key;
}

const via = (req: IRequest) => ({ via: req.headers.get("x-mesh-via") });

export async function putMemory(req: IRequest, env: Env): Promise<Response> {
  const namespace = pathId(req.params.namespace, "namespace");
  const key = pathKey(req);
  parse(z.strictObject({}), queryParams(req), "query");
  const body = parse(PutMemory, await readJson(req));
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.putMemory(env, { swarmId, namespace, key }, body, via(req)));
}

export async function deleteMemory(req: IRequest, env: Env): Promise<Response> {
  const namespace = pathId(req.params.namespace, "namespace");
  const key = pathKey(req);
  parse(z.strictObject({}), queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.deleteMemory(env, { swarmId, namespace, key }, via(req)));
}

export async function getMemory(req: IRequest, env: Env): Promise<Response> {
  const namespace = pathId(req.params.namespace, "namespace");
  const key = pathKey(req);
  const q = parse(ReadQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.getMemory(env, { swarmId, namespace, key }, q.consistency, via(req)));
}

export async function listMemory(req: IRequest, env: Env): Promise<Response> {
  const namespace = pathId(req.params.namespace, "namespace");
  const q = parse(ListQuery, queryParams(req), "query");
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (limit < 1 || limit > 1000) throw badRequest("limit must be between 1 and 1000.", { field: "query.limit" });
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const page = { prefix: q.prefix ?? "", limit, cursor: q.cursor ?? null, consistency: q.consistency };
  return json(await svc.listMemory(env, swarmId, namespace, page, via(req)));
}
