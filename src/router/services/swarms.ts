// Swarms, agents, topology and chaos: the one implementation behind both the HTTP routes
// (src/router/swarms.ts) and the MCP tools (src/router/tools.ts). Each function takes input that its
// caller has already validated against the endpoint's schema, returns plain data (the contract's
// response body), and throws ApiError for every contract error — checks that need the mesh (an
// unknown swarm or agent, a full swarm, a reserved id) happen here, before anything is changed.
import { isRefusal, type AgentView, type ChaosCommand, type MemberView, type Refusal } from "../../contract";
import type { SwarmHealth, SwarmRecord } from "../../agent/registry";
import { resolveConfig, type SwarmConfig } from "../../core/config";
import { supersedes, type Member, type MemberStatus } from "../../core/membership/member";
import { analyze, undirected, type TopologyStats } from "../../core/topology/analysis";
import type { Env } from "../../env";
import { ApiError, badRequest } from "../errors";
import {
  agentError, agentStub, entryAgent, forgetSwarm, getSwarm, mapLimit, randomId, registry, rememberSwarm,
  requireMember, shuffled, unwrap, viewOf, type EntryOptions,
} from "../mesh";
import type { ChaosBody, CreateSwarmBody, SpawnAgentBody } from "../schemas";

const FANOUT_LIMIT = 16;

export interface CreatedSwarm {
  swarmId: string;
  config: SwarmConfig;
  agents: string[];
}

export interface SwarmSummary {
  swarmId: string;
  agents: number;
  mode: "read-write" | "read-only";
  createdAt: number;
}

export interface SwarmStatus {
  swarmId: string;
  config: SwarmConfig;
  mode: "read-write" | "read-only";
  leader: string | null;
  connectivity: number;
  agents: Array<{ agentId: string; status: MemberStatus; incarnation: number; load: number; peers: string[] }>;
  createdAt: number;
  health: SwarmHealth | null;
  via: string | null;
}

export interface SpawnedAgent {
  agentId: string;
  peers: string[];
  seeds: string[];
}

export interface TopologyReport {
  swarmId: string;
  before: TopologyStats & { answering: number };
  after: TopologyStats & { answering: number };
  actions: { resynced: string[]; records: number };
}

/** `POST /v1/swarms` (`swarm_init`): register the swarm, then start `agents` agents from one roster. */
export async function createSwarm(env: Env, body: CreateSwarmBody): Promise<CreatedSwarm> {
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
  return { swarmId, config, agents };
}

/** `GET /v1/swarms`. */
export async function listSwarms(env: Env): Promise<{ swarms: SwarmSummary[] }> {
  const recs = await registry(env).list();
  const swarms = await mapLimit(recs, FANOUT_LIMIT, async (r) => ({
    swarmId: r.swarmId,
    agents: r.agents.length,
    mode: await modeOf(env, r),
    createdAt: r.createdAt,
  }));
  return { swarms };
}

/**
 * The swarm a request without a swarm id acts on: the active swarm most recently initialized, read
 * from the registry (durable: the router keeps no state between requests). 404 when there is none.
 */
export async function latestSwarmId(env: Env): Promise<string> {
  const rec = await registry(env).latest();
  if (!rec) {
    throw new ApiError(404, "not_found", "No swarm is active yet: initialize one with swarm_init (or POST /v1/swarms), or name one with swarmId.", {
      field: "swarmId",
    });
  }
  return rec.swarmId;
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

/** `GET /v1/swarms/:id` (`swarm_status`): one live agent's view of the swarm. */
export async function swarmStatus(env: Env, swarmId: string, opts: EntryOptions = {}): Promise<SwarmStatus> {
  // Fresh from the registry: the status shows the latest cron health record.
  const rec = await getSwarm(env, swarmId, true);
  if (rec.agents.length === 0) {
    return {
      swarmId: rec.swarmId, config: rec.config, mode: "read-write", leader: null, connectivity: 1,
      agents: [], createdAt: rec.createdAt, health: rec.health, via: null,
    };
  }
  const entry = await entryAgent(env, rec, opts);
  return {
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
  };
}

/** `DELETE /v1/swarms/:id`: every agent is told `network_shutdown`; `purge` also erases storage. */
export async function deleteSwarm(
  env: Env,
  swarmId: string,
  purge: boolean,
): Promise<{ swarmId: string; shutdown: true; purged: boolean; unreachable: string[] }> {
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
  return { swarmId, shutdown: true, purged: purge, unreachable: results.filter((x): x is string => x !== null) };
}

/** `POST /v1/swarms/:id/agents` (`agent_spawn`): reserve the id, then join through seed agents. */
export async function spawnAgent(env: Env, swarmId: string, body: SpawnAgentBody): Promise<SpawnedAgent> {
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
    return { agentId, peers: view.peers, seeds };
  } catch (err) {
    await registry(env).unreserveAgent(swarmId, agentId);
    forgetSwarm(swarmId);
    throw agentError(err, agentId);
  }
}

/** `GET /v1/swarms/:id/agents`: the members as one live agent sees them. */
export async function listAgents(
  env: Env,
  swarmId: string,
  opts: EntryOptions = {},
): Promise<{ swarmId: string; via: string | null; agents: MemberView[] }> {
  const rec = await getSwarm(env, swarmId);
  if (rec.agents.length === 0) return { swarmId: rec.swarmId, via: null, agents: [] };
  const entry = await entryAgent(env, rec, opts);
  return { swarmId: rec.swarmId, via: entry.agentId, agents: entry.membership };
}

/** `GET /v1/swarms/:id/agents/:agentId`: that agent's own view. */
export async function getAgent(env: Env, swarmId: string, agentId: string): Promise<AgentView> {
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, agentId);
  return viewOf(env, rec.swarmId, agentId);
}

/** `DELETE /v1/swarms/:id/agents/:agentId`: a graceful leave, announced by gossip. */
export async function removeAgent(env: Env, swarmId: string, agentId: string): Promise<{ agentId: string; left: true }> {
  const rec = await getSwarm(env, swarmId, true);
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
  return { agentId, left: true };
}

/**
 * `POST /v1/swarms/:id/topology/optimize` (`topology_optimize`): degree, redundancy and diameter of
 * the graph the agents actually keep, before and after repair.
 */
export async function optimizeTopology(env: Env, swarmId: string): Promise<TopologyReport> {
  const rec = await getSwarm(env, swarmId, true);
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
  return { swarmId: rec.swarmId, before, after, actions: { resynced: repaired.sort(), records: records.length } };
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

/** Is fault injection on for this deployment? (`MESH_CHAOS=on`; 403 otherwise.) */
export function requireChaosEnabled(env: Env): void {
  if (env.MESH_CHAOS !== "on") {
    throw new ApiError(403, "forbidden", "Fault injection is off for this deployment (set MESH_CHAOS=on to enable it).");
  }
}

/** `POST /v1/swarms/:id/chaos`: fault injection, applied inside the agents. */
export async function chaos(
  env: Env,
  swarmId: string,
  body: ChaosBody,
): Promise<{ swarmId: string; action: ChaosBody["action"]; applied: string[]; failed: string[] }> {
  requireChaosEnabled(env);
  const rec = await getSwarm(env, swarmId, true);
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
    case "byzantine":
      targets = body.agents;
      cmd = { action: "byzantine", behavior: body.behavior === "none" ? null : body.behavior };
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
  return { swarmId: rec.swarmId, action: body.action, applied: applied.sort(), failed: failed.sort() };
}

/** The registry answers in fragments ("swarm x already exists"); the contract's message is a sentence. */
function sentence(fragment: string): string {
  const s = fragment.trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}
