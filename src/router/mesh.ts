// How the stateless router reaches the mesh: agent stubs, the swarm roster (read from the registry
// and cached in this isolate for a moment), and choosing the agent a request enters through.
import { agentObjectName, isRefusal, type AgentBrief, type AgentView, type Refusal } from "../contract";
import type { SwarmRecord } from "../agent/registry";
import type { Env } from "../env";
import { ApiError, badRequest, notFound } from "./errors";
import { ID_PATTERN } from "../core/ids";

const ROSTER_TTL_MS = 2000;
const rosterCache = new Map<string, { rec: SwarmRecord; at: number }>();

export function registry(env: Env) {
  return env.REGISTRY.getByName("global");
}

export function agentStub(env: Env, swarm: string, agent: string) {
  return env.AGENT.getByName(agentObjectName(swarm, agent));
}

export function forgetSwarm(swarmId: string): void {
  rosterCache.delete(swarmId);
}

export function rememberSwarm(rec: SwarmRecord): void {
  rosterCache.set(rec.swarmId, { rec, at: Date.now() });
}

/** The active swarm's record, or 404. */
export async function getSwarm(env: Env, swarmId: string, fresh = false): Promise<SwarmRecord> {
  const hit = rosterCache.get(swarmId);
  if (!fresh && hit && Date.now() - hit.at < ROSTER_TTL_MS) return hit.rec;
  const rec = await registry(env).get(swarmId);
  if (!rec) {
    rosterCache.delete(swarmId);
    throw notFound(`Swarm ${swarmId} does not exist.`);
  }
  if (rec.status !== "active") {
    throw notFound(`Swarm ${swarmId} was shut down (DELETE it with ?purge=true to erase it and reuse the id).`);
  }
  rememberSwarm(rec);
  return rec;
}

export function requireMember(rec: SwarmRecord, agentId: string): void {
  if (!rec.agents.includes(agentId)) throw notFound(`Agent ${agentId} is not a member of swarm ${rec.swarmId}.`);
}

/** Map an agent's refusal or RPC failure to the contract: crashed → 503 agent_unavailable. */
export function agentError(err: unknown, agentId: string): ApiError {
  if (isRefusal(err) && err.refused === "agent_not_found") {
    return notFound(`Agent ${agentId} has not been initialized or was purged.`);
  }
  if (isRefusal(err)) {
    return new ApiError(503, "agent_unavailable", `Agent ${agentId} is not answering (crashed or restarting).`, {
      agentId,
    });
  }
  console.error(`agent ${agentId} call failed:`, err);
  return new ApiError(503, "agent_unavailable", `Agent ${agentId} could not be reached.`, { agentId });
}

/** The answer, or the agent's refusal turned into an ApiError. */
export function unwrap<T>(r: T | Refusal, agentId: string): T {
  if (isRefusal(r)) throw agentError(r, agentId);
  return r;
}

export async function viewOf(env: Env, swarm: string, agent: string): Promise<AgentView> {
  let r: AgentView | Refusal;
  try {
    r = await agentStub(env, swarm, agent).view();
  } catch (err) {
    throw agentError(err, agent);
  }
  return unwrap(r, agent);
}

/**
 * How a request enters the mesh: `via` is the raw `X-Mesh-Via` value (a client next to that agent),
 * validated here, where the contract checks it (after the swarm is known). Without it the router picks
 * a live agent.
 */
export interface EntryOptions {
  via?: string | null;
}

/**
 * The agent a request enters the mesh through: `via` when given, otherwise a live agent picked at
 * random, trying others if it does not answer.
 */
export async function entryAgent(env: Env, rec: SwarmRecord, opts: EntryOptions = {}): Promise<AgentView> {
  return enter(env, rec, opts.via ?? null, (stub) => stub.view());
}

/** Like entryAgent, but only what a request needs to go through the agent (no membership table). */
export async function entryBrief(env: Env, rec: SwarmRecord, opts: EntryOptions = {}): Promise<AgentBrief> {
  return enter(env, rec, opts.via ?? null, (stub) => stub.brief());
}

/** A valid `X-Mesh-Via` naming a member of the swarm, or a 400/404. */
export function checkVia(rec: SwarmRecord, via: string): string {
  if (!ID_PATTERN.test(via)) throw badRequest("X-Mesh-Via must be an agent id.", { field: "header.x-mesh-via" });
  requireMember(rec, via);
  return via;
}

async function enter<T extends { state: string }>(
  env: Env,
  rec: SwarmRecord,
  via: string | null,
  call: (stub: ReturnType<typeof agentStub>) => Promise<T | Refusal>,
): Promise<T> {
  if (via !== null) {
    checkVia(rec, via);
    let r: T | Refusal;
    try {
      r = await call(agentStub(env, rec.swarmId, via));
    } catch (err) {
      throw agentError(err, via);
    }
    return unwrap<T>(r, via);
  }
  for (const id of shuffled(rec.agents).slice(0, 5)) {
    try {
      const v = await call(agentStub(env, rec.swarmId, id));
      if (!isRefusal(v) && v.state === "active") return v;
    } catch {
      // try the next one
    }
  }
  throw new ApiError(503, "no_quorum", `No agent of swarm ${rec.swarmId} answered.`);
}

export function shuffled<T>(xs: readonly T[]): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export function randomId(prefix: string): string {
  const b = new Uint8Array(5);
  crypto.getRandomValues(b);
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Run `fn` over items with bounded concurrency (Workers cap simultaneous outgoing connections). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}
