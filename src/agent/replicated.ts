// Requests that go through the replicated log (`memory_usage`): writes are proposed at the leader and
// answered once applied; reads are linearizable by ReadIndex at the leader (thesis §6.4) or `stale`
// from this agent's own copy. Any agent accepts a request: when it is not the leader it forwards to the
// leader it knows — one hop at a time, at most three — and when none is known or the leader does not
// answer it waits for the log to name one (the core answers `raft/leader`), until the request's
// deadline. A leader that does not answer is evidence: the shell reports the failed call, and the core
// acts on it (a probe, a PreVote) instead of waiting for a timeout.
import type { MemoryListReply, MemoryOp, MemoryReadReply, MemoryReply, Refusal, Unavailable } from "../contract";
import { isRefusal } from "../contract";
import type { KvResult, KvStore, MemCommand } from "../core/memory/kv";
import { describeReach } from "../core/partition/module";
import type { Shell } from "./shell";
import { TIMEOUT } from "./waiters";

/** How long a request waits for a leader, a commit or a read confirmation before answering 503. */
export const CONSENSUS_WAIT_MS = 8000;
const MAX_HOPS = 3;

const noQuorum = (message: string): Unavailable => ({ ok: false, code: "no_quorum", message });
const NO_LOG = noQuorum("This swarm has no replicated log (consensus.voters is 0).");

function command(op: MemoryOp, now: number): MemCommand {
  return op.op === "put"
    ? { op: "put", ns: op.ns, key: op.key, value: op.value, at: now, expiresAt: op.ttlSeconds ? now + op.ttlSeconds * 1000 : null }
    : { op: "del", ns: op.ns, key: op.key, at: now };
}

/**
 * Not the leader: forward `call` to the leader we know (if any, and hops remain). Returns its answer,
 * or null when there was no one to ask or it did not answer — after waiting (bounded) for a leader.
 */
type Forward = (stub: ReturnType<Shell["peer"]>) => Promise<unknown>;

async function viaLeader<T>(s: Shell, leader: string | null, hops: number, deadline: number, call: Forward): Promise<T | null> {
  if (leader && leader !== s.self && hops < MAX_HOPS) {
    const t0 = Date.now();
    let r: T | Refusal | null = null;
    try {
      r = (await call(s.peer(leader))) as T | Refusal;
    } catch {
      r = null;
    }
    // An agent that answers `read_only` cannot be the leader of a side that may write (this agent
    // asked it because it is not read-only itself): a leader pointer gone stale across a partition.
    // Treat it as a failed call and wait for the log to name the leader, as for one that did not answer.
    const staleLeader = r !== null && (r as { ok?: unknown; code?: unknown }).ok === false && (r as { code?: unknown }).code === "read_only";
    const ok = r !== null && !isRefusal(r) && !staleLeader;
    s.report(leader, "raft", "forward", ok, Date.now() - t0);
    if (ok) return r as T;
  }
  if (Date.now() < deadline) await s.wait("raft", "leader", deadline);
  return null;
}

/** A write entering a read-only side is refused at once, naming what the side reaches (no 8 s wait for a quorum). */
function readOnly(s: Shell): Unavailable | null {
  const node = s.node!;
  if (node.mode() !== "read-only") return null;
  const st = node.mods.partition.status();
  return { ok: false, code: "read_only", message: `Agent ${s.self} is on a side of a partition that may not write: ${st ? describeReach(st) : "no quorum in reach"}.` };
}

type AppliedAnswer = { term: number; result: KvResult | null } | typeof TIMEOUT;
type Proposed = { ok: true; term: number; applied: Promise<AppliedAnswer> } | { ok: false; leader: string | null };
interface Queued { cmd: MemCommand; deadline: number; answer: (p: Proposed) => void; turn: () => void }
interface Lane { busy: boolean; queue: Queued[] }

/** The longest a group holds the lane waiting for its commit (a deposed leader must not hold writes up to their deadline). */
const GROUP_HOLD_MS = 1000;

/**
 * Group commit. While one group of writes is being committed, the writes that reach the leader queue
 * up; once it is decided, they are proposed together — one log write at the leader and one append per
 * follower for the whole group, instead of one each. A write that finds no group in flight is proposed
 * at once (no added latency when idle); under load a group holds every write that arrived during one
 * commit round trip, so the cost per write falls as the load rises (etcd gets the same effect from the
 * proposals that queue while its Ready loop persists and sends). The first write queued proposes the
 * next group, from its own request.
 */
const lanes = new WeakMap<Shell, Lane>();

async function proposeGrouped(s: Shell, cmd: MemCommand, deadline: number): Promise<Proposed> {
  let lane = lanes.get(s);
  if (!lane) lanes.set(s, (lane = { busy: false, queue: [] }));
  let answer!: (p: Proposed) => void;
  let turn!: () => void;
  const answered = new Promise<Proposed>((r) => (answer = r));
  const myTurn = new Promise<null>((r) => (turn = () => r(null)));
  lane.queue.push({ cmd, deadline, answer, turn });
  if (!lane.busy) {
    lane.busy = true;
    turn();
  }
  const first = await Promise.race([answered, myTurn]);
  if (first !== null) return first;
  const group = lane.queue.splice(0);
  try {
    const { result: p, effects } = s.exec((m) => m.raft.proposeAll("kv", group.map((q) => q.cmd)));
    if (!p.ok) {
      s.commit(effects);
      group.forEach((q) => q.answer({ ok: false, leader: p.leader }));
    } else {
      // Every wait is registered before the effects are committed: no answer can be missed.
      const last = p.first + group.length - 1;
      const held = s.wait("raft", `applied:${last}`, Math.min(deadline, Date.now() + GROUP_HOLD_MS));
      group.forEach((q, i) => q.answer({ ok: true, term: p.term, applied: s.wait("raft", `applied:${p.first + i}`, q.deadline) }));
      s.commit(effects);
      await s.arm();
      await held;
    }
  } catch (err) {
    group.forEach((q) => q.answer({ ok: false, leader: null }));
    throw err;
  } finally {
    // Writes are waiting: let one turn of the event loop pass first, so the requests already queued to
    // run on this agent (often the writers just answered, back with their next write) join the group.
    if (lane.queue.length > 0) await new Promise((r) => setTimeout(r, 0));
    if (lane.queue.length > 0) lane.queue[0].turn();
    else lane.busy = false;
  }
  return answered;
}

export async function writeMemory(s: Shell, op: MemoryOp, hops: number, deadline = Date.now() + CONSENSUS_WAIT_MS): Promise<MemoryReply> {
  if (s.node!.meta.config.consensus.voters === 0) return NO_LOG;
  const refused = readOnly(s);
  if (refused) return refused;
  while (Date.now() < deadline && s.node) {
    const p = await proposeGrouped(s, command(op, Date.now()), deadline);
    if (p.ok) {
      const a = await p.applied;
      if (a === TIMEOUT || a.term !== p.term || !a.result) {
        return noQuorum("The write was not committed (no majority, or leadership changed); it may still be applied. Retry.");
      }
      return { ok: true, ...a.result, leader: s.self };
    }
    const r = await viaLeader<MemoryReply>(s, p.leader, hops, deadline, (stub) => stub.memWrite(op, hops + 1, deadline));
    if (r) return r;
  }
  return noQuorum("No leader of the replicated log could be reached in time.");
}

/**
 * Serve `local` linearizably: confirm leadership by ReadIndex and wait until applied (the core answers
 * `raft/read:<ctx>`), or forward to the leader.
 */
async function linearizable<T>(s: Shell, hops: number, local: () => T, forward: Forward): Promise<T | Unavailable> {
  const deadline = Date.now() + CONSENSUS_WAIT_MS;
  while (Date.now() < deadline && s.node) {
    const { result: r, effects } = s.exec((m) => m.raft.readIndex());
    if (r.ok) {
      const confirmed = s.wait<{ index: number } | null>("raft", `read:${r.ctx}`, deadline);
      await s.commitAndSend(effects);
      const c = await confirmed;
      if (c !== TIMEOUT && c !== null) return local();
      continue; // leadership changed under the read: find the leader again
    }
    s.commit(effects);
    const f = await viaLeader<T>(s, r.leader, hops, deadline, forward);
    if (f) return f;
  }
  return noQuorum("Leadership of the replicated log could not be confirmed by a majority in time.");
}

const kv = (s: Shell) => s.node!.mods.raft.machine<KvStore>("kv")!;

export function readMemory(s: Shell, ns: string, key: string, stale: boolean, hops: number): Promise<MemoryReadReply> | MemoryReadReply {
  const local = (isStale: boolean): MemoryReadReply => {
    const rec = kv(s).get(ns, key, Date.now());
    // A stale copy says how far it is applied (a learner follows the log through the spreading tree).
    const appliedIndex = s.node!.mods.raft.appliedIndex();
    return rec
      ? { ok: true, found: true, value: rec.value, version: rec.version, stale: isStale, servedBy: s.self, appliedIndex }
      : { ok: true, found: false, stale: isStale, servedBy: s.self, appliedIndex };
  };
  // A read-only side serves its own copy, marked stale: it cannot confirm it is current.
  if (stale || s.node!.meta.config.consensus.voters === 0 || s.node!.mode() === "read-only") return local(true);
  return linearizable(s, hops, () => local(false), (stub) => stub.memRead(ns, key, false, hops + 1));
}

export function listMemory(
  s: Shell, ns: string, prefix: string, limit: number, cursor: string | null, stale: boolean, hops: number,
): Promise<MemoryListReply> | MemoryListReply {
  const local = (isStale: boolean): MemoryListReply => ({
    ok: true, ...kv(s).list(ns, prefix, limit, cursor, Date.now()), stale: isStale, appliedIndex: s.node!.mods.raft.appliedIndex(),
  });
  if (stale || s.node!.meta.config.consensus.voters === 0 || s.node!.mode() === "read-only") return local(true);
  return linearizable(s, hops, () => local(false), (stub) => stub.memList(ns, prefix, limit, cursor, false, hops + 1));
}
