// HTTP adapters for swarms, agents, topology and chaos: validate the request (query, path, body, in
// the contract's order), call the service (services/swarms.ts), and answer with its data.
import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { readJson } from "./body";
import { json } from "./errors";
import { getSwarm } from "./mesh";
import { Chaos, CreateSwarm, DeleteSwarmQuery, EmptyQuery, parse, pathId, queryParams, SpawnAgent } from "./schemas";
import * as svc from "./services/swarms";

/**
 * Validation that has always come after the swarm lookup: if it fails, look the swarm up first, so an
 * unknown swarm is still a 404 before the 400 — and the happy path makes no extra registry call.
 */
async function afterSwarmLookup<T>(validate: () => T | Promise<T>, lookup: () => Promise<unknown>): Promise<T> {
  try {
    return await validate();
  } catch (err) {
    await lookup();
    throw err;
  }
}

export async function createSwarm(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const body = parse(CreateSwarm, await readJson(req));
  return json(await svc.createSwarm(env, body), 201);
}

export async function listSwarms(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  return json(await svc.listSwarms(env));
}

export async function getSwarmStatus(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.swarmStatus(env, swarmId, { via: req.headers.get("x-mesh-via") }));
}

export async function deleteSwarm(req: IRequest, env: Env): Promise<Response> {
  const q = parse(DeleteSwarmQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.deleteSwarm(env, swarmId, q.purge === "true"));
}

export async function spawnAgent(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(SpawnAgent, await readJson(req));
  return json(await svc.spawnAgent(env, swarmId, body), 201);
}

export async function listAgents(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.listAgents(env, swarmId, { via: req.headers.get("x-mesh-via") }));
}

export async function getAgent(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const agentId = await afterSwarmLookup(() => pathId(req.params.agentId, "agentId"), () => getSwarm(env, swarmId));
  return json(await svc.getAgent(env, swarmId, agentId));
}

export async function removeAgent(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const agentId = await afterSwarmLookup(() => pathId(req.params.agentId, "agentId"), () => getSwarm(env, swarmId, true));
  return json(await svc.removeAgent(env, swarmId, agentId));
}

export async function optimizeTopology(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  return json(await svc.optimizeTopology(env, swarmId));
}

export async function chaos(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  svc.requireChaosEnabled(env);
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = await afterSwarmLookup(async () => parse(Chaos, await readJson(req)), () => getSwarm(env, swarmId, true));
  return json(await svc.chaos(env, swarmId, body));
}
