// Swarm, agent, topology and chaos handlers. Handlers validate, call the mesh, and return data.
import type { IRequest } from "itty-router";
import { isRefusal, type AgentView, type ChaosCommand, type Refusal } from "../contract";
import type { SwarmRecord } from "../agent/registry";
import { resolveConfig } from "../core/config";
import { supersedes, type Member } from "../core/membership/member";
import { analyze, undirected, type TopologyStats } from "../core/topology/analysis";
import type { Env } from "../env";
import { readJson } from "./body";
import { ApiError, badRequest, json } from "./errors";
import {
  agentError, agentStub, entryAgent, forgetSwarm, getSwarm, mapLimit, randomId, registry, rememberSwarm,
  requireMember, shuffled, unwrap, viewOf,
} from "./mesh";
import { Chaos, CreateSwarm, DeleteSwarmQuery, EmptyQuery, parse, pathId, SpawnAgent, queryParams } from "./schemas";

const FANOUT_LIMIT = 16;


export async function createSwarm(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const body = parse(CreateSwarm, await readJson(req));
  const config = resolveConfig(body);
  const n = body.agents ?? 0;
  if (n > config.maxAgents) {
    throw new ApiError(409, "swarm_full", `Cannot spawn ${n} agents: maxAgents is ${config.maxAgents}.`, {
      field: "body.agents",
    });
  }
  if (config.failure.timeoutMs <= config.failure.heartbeatMs) {
    throw badRequest("failure.timeoutMs must be greater than failure.heartbeatMs.", { field: "body.failure.timeoutMs" });
  }
  if (config.consensus.electionMs < 2 * config.consensus.heartbeatMs) {
    throw badRequest("consensus.electionMs must be at least twice consensus.heartbeatMs (a follower must hear several heartbeats per election timeout).", {
      field: "body.consensus.electionMs",
    });
  }
  const swarmId = body.swarmId ?? randomId("swarm-");
  const agents = Array.from({ length: n }, (_, i) => `agent-${i + 1}`);
  const created = await registry(env).create(swarmId, config, agents, Date.now());
  if (!created.ok) {
    throw new ApiError(409, created.code === "swarm_full" ? "swarm_full" : "conflict", sentence(created.message));
  }
  rememberSwarm(created.value);
  // Agents created together start from the same roster, so their overlays agree from the first tick.
  await mapLimit(agents, FANOUT_LIMIT, (id) =>
    agentStub(env, swarmId, id).init({ swarm: swarmId, self: id, config, roster: agents }),
  );
  return json({ swarmId, config, agents }, 201);
}

export async function listSwarms(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const recs = await registry(env).list();
  const swarms = await mapLimit(recs, FANOUT_LIMIT, async (r) => ({
    swarmId: r.swarmId,
    agents: r.agents.length,
    mode: await modeOf(env, r),
    createdAt: r.createdAt,
  }));
  return json({ swarms });
}

async function modeOf(env: Env, rec: SwarmRecord): Promise<"read-write" | "read-only"> {
  for (const id of shuffled(rec.agents).slice(0, 3)) {
    try {
      const v = await agentStub(env, rec.swarmId, id).brief();
      if (!isRefusal(v)) return v.mode;
    } catch {
      // try another
    }
  }
  return rec.agents.length === 0 ? "read-write" : "read-only";
}

export async function getSwarmStatus(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  // Fresh from the registry: the status shows the latest cron health record.
  const rec = await getSwarm(env, pathId(req.params.swarmId, "swarmId"), true);
  if (rec.agents.length === 0) {
    return json({
      swarmId: rec.swarmId, config: rec.config, mode: "read-write", leader: null, connectivity: 1,
      agents: [], createdAt: rec.createdAt, health: rec.health, via: null,
    });
  }
  const entry = await entryAgent(env, req, rec);
  return json({
    swarmId: rec.swarmId,
    config: rec.config,
    mode: entry.mode,
    leader: entry.raft?.leader ?? null,
    connectivity: entry.connectivity,
    agents: entry.membership.map((m) => ({
      agentId: m.agentId,
      status: m.status,
      incarnation: m.incarnation,
      load: m.agentId === entry.agentId ? entry.load : 0,
      peers: m.peers,
    })),
    createdAt: rec.createdAt,
    health: rec.health,
    via: entry.agentId,
  });
}

export async function deleteSwarm(req: IRequest, env: Env): Promise<Response> {
  const q = parse(DeleteSwarmQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const purge = q.purge === "true";
  const rec = await registry(env).get(swarmId);
  if (!rec || (rec.status !== "active" && !purge)) throw new ApiError(404, "not_found", `Swarm ${swarmId} does not exist.`);
  const all = [...rec.agents, ...rec.departed];
  // Every agent is told `network_shutdown`; a crashed one is shut down when it restarts (its alarm is off).
  const results = await mapLimit(all, FANOUT_LIMIT, async (id) => {
    try {
      await agentStub(env, swarmId, id).shutdown(purge);
      return null;
    } catch {
      return id;
    }
  });
  await registry(env).markShutdown(swarmId, purge);
  forgetSwarm(swarmId);
  return json({ swarmId, shutdown: true, purged: purge, unreachable: results.filter((x) => x !== null) });
}

export async function spawnAgent(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(SpawnAgent, await readJson(req));
  const rec = await getSwarm(env, swarmId, true);
  const agentId = body.agentId ?? randomId("agent-");
  if (agentId === "all") {
    throw badRequest('The agent id "all" is reserved (messages to "all" go to every agent).', { field: "body.agentId" });
  }
  const unknownSeeds = (body.seeds ?? []).filter((s) => !rec.agents.includes(s));
  if (unknownSeeds.length) {
    throw badRequest(`Seed agents must be members of the swarm: ${unknownSeeds.join(", ")}.`, { field: "body.seeds" });
  }
  const reserved = await registry(env).addAgent(swarmId, agentId);
  if (!reserved.ok) {
    throw new ApiError(reserved.code === "not_found" ? 404 : 409, reserved.code, sentence(reserved.message));
  }
  rememberSwarm(reserved.value);
  // Default seeds: a few members, at random (the seed's "join network via known seed nodes").
  const seeds = body.seeds ?? shuffled(rec.agents).slice(0, 3);
  try {
    const { view } = await agentStub(env, swarmId, agentId).init({
      swarm: swarmId, self: agentId, config: rec.config, caps: body.capabilities, slots: body.capacity?.slots, seeds,
    });
    return json({ agentId, peers: view.peers, seeds }, 201);
  } catch (err) {
    await registry(env).unreserveAgent(swarmId, agentId);
    forgetSwarm(swarmId);
    throw agentError(err, agentId);
  }
}

export async function listAgents(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const rec = await getSwarm(env, pathId(req.params.swarmId, "swarmId"));
  if (rec.agents.length === 0) return json({ swarmId: rec.swarmId, via: null, agents: [] });
  const entry = await entryAgent(env, req, rec);
  return json({ swarmId: rec.swarmId, via: entry.agentId, agents: entry.membership });
}

export async function getAgent(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const rec = await getSwarm(env, pathId(req.params.swarmId, "swarmId"));
  const agentId = pathId(req.params.agentId, "agentId");
  requireMember(rec, agentId);
  return json(await viewOf(env, rec.swarmId, agentId));
}

export async function removeAgent(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const rec = await getSwarm(env, pathId(req.params.swarmId, "swarmId"), true);
  const agentId = pathId(req.params.agentId, "agentId");
  requireMember(rec, agentId);
  let left;
  try {
    left = await agentStub(env, rec.swarmId, agentId).leave();
  } catch (err) {
    throw agentError(err, agentId);
  }
  unwrap(left, agentId);
  await registry(env).agentLeft(rec.swarmId, agentId);
  forgetSwarm(rec.swarmId);
  return json({ agentId, left: true });
}

/** Degree, redundancy and diameter of the graph the agents actually keep, before and after repair. */
export async function optimizeTopology(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const rec = await getSwarm(env, pathId(req.params.swarmId, "swarmId"), true);
  const before = await measure(env, rec);
  // Repair: merge every answering agent's membership (anti-entropy over the whole swarm), push the
  // merged table to each, and let every agent recompute its overlay from the same live set.
  const tables = await mapLimit(rec.agents, FANOUT_LIMIT, async (id) => {
    try {
      const t = await agentStub(env, rec.swarmId, id).membershipRecords();
      return isRefusal(t) ? null : t;
    } catch {
      return null;
    }
  });
  const merged = new Map<string, Member>();
  for (const t of tables) for (const m of t ?? []) if (supersedes(m, merged.get(m.id))) merged.set(m.id, m);
  const records = Array.from(merged.values());
  const repaired: string[] = [];
  await mapLimit(rec.agents, FANOUT_LIMIT, async (id) => {
    try {
      if (!isRefusal(await agentStub(env, rec.swarmId, id).resync(records))) repaired.push(id);
    } catch {
      // crashed agents are left out of the overlay by those who know it
    }
  });
  const after = await measure(env, rec);
  return json({ swarmId: rec.swarmId, before, after, actions: { resynced: repaired.sort(), records: records.length } });
}

async function measure(env: Env, rec: SwarmRecord): Promise<TopologyStats & { answering: number }> {
  const views = await mapLimit(rec.agents, FANOUT_LIMIT, async (id) => {
    try {
      const v = (await agentStub(env, rec.swarmId, id).view()) as AgentView | Refusal;
      return !isRefusal(v) && v.state === "active" ? v : null;
    } catch {
      return null;
    }
  });
  const adj = new Map<string, string[]>();
  for (const v of views) if (v) adj.set(v.agentId, v.peers);
  const { g, asymmetric } = undirected(adj);
  return { ...analyze(g, asymmetric), answering: adj.size };
}

export async function chaos(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  if (env.MESH_CHAOS !== "on") {
    throw new ApiError(403, "forbidden", "Fault injection is off for this deployment (set MESH_CHAOS=on to enable it).");
  }
  const rec = await getSwarm(env, pathId(req.params.swarmId, "swarmId"), true);
  const body = parse(Chaos, await readJson(req));
  const named =
    body.action === "partition" ? body.groups.flat() : "agents" in body && body.agents ? body.agents : [];
  const unknown = named.filter((a) => !rec.agents.includes(a));
  if (unknown.length) throw badRequest(`Unknown agents: ${unknown.join(", ")}.`, { field: "body", unknown });
  let targets: string[];
  let cmd: ChaosCommand;
  switch (body.action) {
    case "crash":
    case "restart":
      targets = body.agents;
      cmd = { action: body.action };
      break;
    case "partition": {
      const seen = new Set<string>();
      for (const a of named) {
        if (seen.has(a)) throw badRequest(`Agent ${a} appears in more than one group.`, { field: "body.groups" });
        seen.add(a);
      }
      targets = rec.agents;
      cmd = { action: "partition", groups: body.groups };
      break;
    }
    case "heal":
      targets = rec.agents;
      cmd = { action: "heal" };
      break;
    case "drop":
      targets = body.agents ?? rec.agents;
      cmd = { action: "drop", rate: body.rate };
      break;
  }
  const applied: string[] = [];
  const failed: string[] = [];
  await mapLimit(targets, FANOUT_LIMIT, async (id) => {
    try {
      await agentStub(env, rec.swarmId, id).chaosCommand(cmd);
      applied.push(id);
    } catch {
      failed.push(id);
    }
  });
  return json({ swarmId: rec.swarmId, action: body.action, applied: applied.sort(), failed: failed.sort() });
}

/** The registry answers in fragments ("swarm x already exists"); the contract's message is a sentence. */
function sentence(fragment: string): string {
  const s = fragment.trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}
