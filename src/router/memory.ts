// Memory (`memory_usage`): a namespaced key-value store on the swarm's replicated log.
// Writes are linearizable (committed by a majority); reads are linearizable by default (ReadIndex at
// the leader) or `consistency=stale` from the entry agent's own copy. Any agent accepts a request and
// forwards it to the leader.
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { AgentBrief, MemoryListReply, MemoryReadReply, MemoryReply, Refusal } from "../contract";
import type { Env } from "../env";
import { readJson } from "./body";
import { ApiError, badRequest, json, notFound } from "./errors";
import { agentError, agentStub, entryBrief, getSwarm, unwrap } from "./mesh";
import { parse, pathId, queryParams } from "./schemas";

export const KEY_PATTERN = /^[a-z0-9][a-z0-9_:.-]{0,255}$/;

export const PutMemory = z.strictObject({
  value: z.json(),
  ttlSeconds: z.int().min(1).max(365 * 24 * 3600).optional(),
});
export const ReadQuery = z.strictObject({ consistency: z.enum(["linearizable", "stale"]).optional() });
export const ListQuery = z.strictObject({
  prefix: z.string().max(256).optional(),
  limit: z.string().regex(/^\d{1,4}$/, "must be an integer 1..1000").optional(),
  cursor: z.string().max(256).optional(),
  consistency: z.enum(["linearizable", "stale"]).optional(),
});


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

async function entry(req: IRequest, env: Env, write = false, read = false): Promise<{ swarmId: string; view: AgentBrief }> {
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const rec = await getSwarm(env, swarmId);
  if (rec.agents.length === 0) throw new ApiError(503, "no_quorum", `Swarm ${swarmId} has no agents.`);
  return { swarmId, view: await entryBrief(env, req, rec, { write, read }) };
}

function failed(r: { ok: false; code: string; message: string }): ApiError {
  return new ApiError(503, r.code === "read_only" ? "read_only" : "no_quorum", r.message);
}

export async function putMemory(req: IRequest, env: Env): Promise<Response> {
  const ns = pathId(req.params.namespace, "namespace");
  const key = pathKey(req);
  parse(z.strictObject({}), queryParams(req), "query");
  const body = parse(PutMemory, await readJson(req));
  const { swarmId, view } = await entry(req, env, true);
  let r: MemoryReply | Refusal;
  try {
    r = await agentStub(env, swarmId, view.agentId).memWrite({ op: "put", ns, key, value: body.value, ttlSeconds: body.ttlSeconds });
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  return json({ version: out.version, namespace: ns, key });
}

export async function deleteMemory(req: IRequest, env: Env): Promise<Response> {
  const ns = pathId(req.params.namespace, "namespace");
  const key = pathKey(req);
  parse(z.strictObject({}), queryParams(req), "query");
  const { swarmId, view } = await entry(req, env, true);
  let r: MemoryReply | Refusal;
  try {
    r = await agentStub(env, swarmId, view.agentId).memWrite({ op: "del", ns, key });
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  if (!out.deleted) throw notFound(`Key ${ns}/${key} does not exist.`);
  return json({ namespace: ns, key, deleted: true, version: null });
}

export async function getMemory(req: IRequest, env: Env): Promise<Response> {
  const ns = pathId(req.params.namespace, "namespace");
  const key = pathKey(req);
  const q = parse(ReadQuery, queryParams(req), "query");
  const { swarmId, view } = await entry(req, env, false, true);
  let r: MemoryReadReply | Refusal;
  try {
    r = await agentStub(env, swarmId, view.agentId).memRead(ns, key, q.consistency === "stale");
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryReadReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  if (!out.found) throw notFound(`Key ${ns}/${key} does not exist.`);
  return json({ value: out.value, version: out.version, stale: out.stale });
}

export async function listMemory(req: IRequest, env: Env): Promise<Response> {
  const ns = pathId(req.params.namespace, "namespace");
  const q = parse(ListQuery, queryParams(req), "query");
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (limit < 1 || limit > 1000) throw badRequest("limit must be between 1 and 1000.", { field: "query.limit" });
  const { swarmId, view } = await entry(req, env, false, true);
  let r: MemoryListReply | Refusal;
  try {
    r = await agentStub(env, swarmId, view.agentId).memList(ns, q.prefix ?? "", limit, q.cursor ?? null, q.consistency === "stale");
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryListReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  return json({ keys: out.keys, next: out.next, stale: out.stale });
}
