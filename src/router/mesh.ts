// How the stateless router reaches the mesh: agent stubs, the swarm roster (read from the registry
// and cached in this isolate for a moment), and choosing the agent a request enters through.
import { agentObjectName, isRefusal, type AgentBrief, type AgentView, type Refusal } from "../contract";
import type { SwarmRecord } from "../agent/registry";
import type { Env } from "../env";
import { ApiError, badRequest, logError, notFound } from "./errors";
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
  if (isRefusal(err) && err.refused === "read_only") return readOnlyError(agentId, err.message ?? null);
  if (isRefusal(err)) {
    return new ApiError(503, "agent_unavailable", `Agent ${agentId} is not answering (crashed or restarting).`, {
      agentId,
    });
  }
  logError("agent_call_failed", err, { agent: agentId });
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

/**
 * Like entryAgent, but only what a request needs to go through the agent (no membership table). For a
 * write the router is partition-aware: it prefers an agent on a side that may write, tries others when
 * the one it tried is read-only, and never sends the write into a read-only side (`503 read_only`,
 * naming what that side reaches). A read prefers a writable side too (there it is linearizable; a
 * read-only side answers it stale). With `X-Mesh-Via` it enters there, as a client next to that agent would.
 */
export async function entryBrief(env: Env, rec: SwarmRecord, opts: EntryOptions & { write?: boolean; read?: boolean } = {}): Promise<AgentBrief> {
  const b = await enter<AgentBrief>(env, rec, opts.via ?? null, (stub) => stub.brief() as Promise<AgentBrief | Refusal>, opts.write === true || opts.read === true);
  if (opts.write && b.mode === "read-only") throw readOnlyError(b.agentId, b.reach);
  return b;
}

/** A valid `X-Mesh-Via` naming a member of the swarm, or a 400/404. */
export function checkVia(rec: SwarmRecord, via: string): string {
  if (!ID_PATTERN.test(via)) throw badRequest("X-Mesh-Via must be an agent id.", { field: "header.x-mesh-via" });
  requireMember(rec, via);
  return via;
}

export function readOnlyError(agentId: string, reach: string | null): ApiError {
  return new ApiError(503, "read_only", `Agent ${agentId} is on a side of a partition that may not write${reach ? `: ${reach}` : ""}.`, { agentId });
}

async function enter<T extends { state: string; mode?: string; voters?: string[] }>(
  env: Env,
  rec: SwarmRecord,
  via: string | null,
  call: (stub: ReturnType<typeof agentStub>) => Promise<T | Refusal>,
  preferWritable = false,
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
  let readOnly: T | null = null;
  const queue = shuffled(rec.agents).slice(0, 5);
  let votersAdded = false;
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    try {
      const v = await call(agentStub(env, rec.swarmId, id));
      if (isRefusal(v) || v.state !== "active") continue;
      if (preferWritable && v.mode === "read-only") {
        readOnly ??= v;
        // A side that may write holds a quorum of the log's voters: once one agent tried is read-only,
        // the voters it names (not tried yet) are where to look next — at most five more calls.
        if (!votersAdded && v.voters) {
          votersAdded = true;
          queue.splice(i + 1, 0, ...shuffled(v.voters.filter((x) => !queue.includes(x) && rec.agents.includes(x))));
        }
        continue;
      }
      return v;
    } catch {
      // try the next one
    }
  }
  if (readOnly) return readOnly; // every agent tried is on a read-only side: the caller answers 503 read_only
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
