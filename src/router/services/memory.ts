// Memory (`memory_usage`): a namespaced key-value store on the swarm's replicated log, shared by the
// HTTP routes and the MCP tool. Writes are linearizable (committed by a majority); reads are
// linearizable by default (ReadIndex at the leader) or `stale` from the entry agent's own copy. Any
// agent accepts a request and forwards it to the leader.
import type { AgentBrief, MemoryListReply, MemoryReadReply, MemoryReply, Refusal } from "../../contract";
import type { Env } from "../../env";
import { ApiError, notFound } from "../errors";
import { agentError, agentStub, entryBrief, getSwarm, unwrap, type EntryOptions } from "../mesh";

export type Consistency = "linearizable" | "stale";

export interface MemoryAddress {
  swarmId: string;
  namespace: string;
  key: string;
}

export interface StoredValue {
  value: unknown;
  version: number | undefined;
  stale: boolean;
  /** Stale reads only: the log index the serving agent's copy is applied to (its staleness, against a write's version). */
  appliedIndex?: number;
}

export interface KeyPage {
  keys: string[];
  next: string | null;
  stale: boolean;
  appliedIndex?: number;
}

/**
 * The agent a request enters through. Partition-aware (see entryBrief): a write prefers a writable
 * side and is refused `503 read_only` rather than sent into a read-only one; a read prefers a writable
 * side too, where it is linearizable.
 */
async function entry(env: Env, swarmId: string, opts: EntryOptions & { write?: boolean }): Promise<AgentBrief> {
  const rec = await getSwarm(env, swarmId);
  if (rec.agents.length === 0) throw new ApiError(503, "no_quorum", `Swarm ${swarmId} has no agents.`);
  return entryBrief(env, rec, { ...opts, write: opts.write === true, read: opts.write !== true });
}

function failed(r: { ok: false; code: string; message: string }): ApiError {
  return new ApiError(503, r.code === "read_only" ? "read_only" : "no_quorum", r.message);
}

/** `PUT …/memory/:namespace/:key`: store `value` (any JSON), optionally expiring after `ttlSeconds`. */
export async function putMemory(
  env: Env,
  at: MemoryAddress,
  input: { value: unknown; ttlSeconds?: number },
  opts: EntryOptions = {},
): Promise<{ version: number | undefined; namespace: string; key: string }> {
  const view = await entry(env, at.swarmId, { ...opts, write: true });
  let r: MemoryReply | Refusal;
  try {
    r = await agentStub(env, at.swarmId, view.agentId).memWrite({
      op: "put", ns: at.namespace, key: at.key, value: input.value, ttlSeconds: input.ttlSeconds,
    });
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  return { version: out.version, namespace: at.namespace, key: at.key };
}

/** `DELETE …/memory/:namespace/:key`; a missing key is 404. */
export async function deleteMemory(
  env: Env,
  at: MemoryAddress,
  opts: EntryOptions = {},
): Promise<{ namespace: string; key: string; deleted: true; version: null }> {
  const view = await entry(env, at.swarmId, { ...opts, write: true });
  let r: MemoryReply | Refusal;
  try {
    r = await agentStub(env, at.swarmId, view.agentId).memWrite({ op: "del", ns: at.namespace, key: at.key });
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  if (!out.deleted) throw notFound(`Key ${at.namespace}/${at.key} does not exist.`);
  return { namespace: at.namespace, key: at.key, deleted: true, version: null };
}

/** `GET …/memory/:namespace/:key`; a missing key is 404. */
export async function getMemory(
  env: Env,
  at: MemoryAddress,
  consistency: Consistency | undefined,
  opts: EntryOptions = {},
): Promise<StoredValue> {
  const view = await entry(env, at.swarmId, opts);
  let r: MemoryReadReply | Refusal;
  try {
    r = await agentStub(env, at.swarmId, view.agentId).memRead(at.namespace, at.key, consistency === "stale");
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryReadReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  if (!out.found) throw notFound(`Key ${at.namespace}/${at.key} does not exist.`);
  // A stale copy says how far it is applied (compare with a write's version); a linearizable read is current.
  return { value: out.value, version: out.version, stale: out.stale, ...(out.stale ? { appliedIndex: out.appliedIndex } : {}) };
}

/** `GET …/memory/:namespace?prefix=&limit=&cursor=`: one page of keys, in order. */
export async function listMemory(
  env: Env,
  swarmId: string,
  namespace: string,
  page: { prefix: string; limit: number; cursor: string | null; consistency?: Consistency },
  opts: EntryOptions = {},
): Promise<KeyPage> {
  const view = await entry(env, swarmId, opts);
  let r: MemoryListReply | Refusal;
  try {
    r = await agentStub(env, swarmId, view.agentId).memList(namespace, page.prefix, page.limit, page.cursor, page.consistency === "stale");
  } catch (err) {
    throw agentError(err, view.agentId);
  }
  const out = unwrap<MemoryListReply>(r, view.agentId);
  if (!out.ok) throw failed(out);
  return { keys: out.keys, next: out.next, stale: out.stale, ...(out.stale ? { appliedIndex: out.appliedIndex } : {}) };
}
