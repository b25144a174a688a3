// Peer envelopes: versioned, JSON-serializable, discriminated on `type`, validated on receipt.
// A malformed envelope is dropped and counted by the receiver, never thrown (DESIGN.md principle 5).
import { isId, type AgentId } from "./ids";
import type { DigestEntry, Member, MemberStatus } from "./membership/member";
import { validMessage, type Message } from "./messages/log";
import type { RaftMsg } from "./raft/raft";
import { validRaftMsg } from "./raft/validate";

export const WIRE_VERSION = 1;

interface Base {
  v: number;
  swarm: string;
  from: AgentId;
  to: AgentId;
}

/** A newcomer asks a seed for the membership. */
export interface JoinMsg extends Base { type: "join"; member: Member }
/** The seed's answer: its whole membership table. */
export interface JoinAckMsg extends Base { type: "join_ack"; members: Member[] }
/** Rumour-mongering: recent membership changes, each retransmitted a bounded number of times. */
export interface GossipMsg extends Base { type: "gossip"; updates: Member[] }
/** Push-pull anti-entropy, step 1: my membership digest and my message-stream heads. */
export interface SyncMsg extends Base { type: "sync"; digest: DigestEntry[]; heads?: Array<[string, number]> }
/** Step 2: the records and messages you lack, the ids whose newer record I want, and my heads. */
export interface SyncAckMsg extends Base {
  type: "sync_ack"; records: Member[]; want: string[]; messages?: Message[]; heads?: Array<[string, number]>;
}
/** Step 3: the records and messages the other side lacks. */
export interface SyncPushMsg extends Base { type: "sync_push"; records: Member[]; messages?: Message[] }
/** A Raft message for the swarm's replicated log. */
export interface RaftEnvMsg extends Base { type: "raft"; msg: RaftMsg }
/** Agent messages, flooded over the overlay (and repair batches). */
export interface MsgMsg extends Base { type: "msg"; messages: Message[] }

/** SWIM direct probe; carries piggybacked membership updates (and the target's own record when suspected). */
export interface PingMsg extends Base { type: "ping"; seq: number; updates: Member[] }
/** Answer to a ping (direct, or relayed back by the agent that probed on our behalf). */
export interface AckMsg extends Base { type: "ack"; seq: number; updates: Member[] }
/** SWIM indirect probe: "please ping `target` for me and relay its ack with my `seq`". */
export interface PingReqMsg extends Base { type: "ping_req"; seq: number; target: AgentId }

export type Envelope =
  | JoinMsg | JoinAckMsg | GossipMsg | SyncMsg | SyncAckMsg | SyncPushMsg | PingMsg | AckMsg | PingReqMsg | MsgMsg | RaftEnvMsg;
export type EnvelopeType = Envelope["type"];

/** Distributes Omit over the union so each variant keeps its own fields. */
export type Outgoing = Envelope extends infer E ? (E extends Envelope ? Omit<E, "v" | "swarm" | "from"> : never) : never;

const STATUSES: ReadonlySet<string> = new Set<MemberStatus>(["alive", "suspect", "dead", "left"]);
const MAX_LIST = 5000;

function isNat(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

export function validMember(x: unknown): x is Member {
  if (!x || typeof x !== "object") return false;
  const m = x as Record<string, unknown>;
  return (
    isId(m.id) &&
    isNat(m.inc) &&
    typeof m.status === "string" &&
    STATUSES.has(m.status) &&
    isNat(m.ver) &&
    Array.isArray(m.caps) &&
    m.caps.length <= 64 &&
    m.caps.every((c) => typeof c === "string" && c.length <= 64) &&
    isNat(m.slots) &&
    typeof m.load === "number" &&
    Number.isFinite(m.load) &&
    m.load >= 0 &&
    (m.by === undefined || (Array.isArray(m.by) && m.by.length <= 64 && m.by.every(isId)))
  );
}

function validMembers(x: unknown): x is Member[] {
  return Array.isArray(x) && x.length <= MAX_LIST && x.every(validMember);
}

function validMessages(x: unknown): x is Message[] | undefined {
  return x === undefined || (Array.isArray(x) && x.length <= 1000 && x.every(validMessage));
}

function validHeads(x: unknown): x is Array<[string, number]> | undefined {
  return (
    x === undefined ||
    (Array.isArray(x) &&
      x.length <= MAX_LIST &&
      x.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && h[0].length <= 130 && isNat(h[1])))
  );
}

function validDigest(x: unknown): x is DigestEntry[] {
  return (
    Array.isArray(x) &&
    x.length <= MAX_LIST &&
    x.every((d) => Array.isArray(d) && d.length === 4 && isId(d[0]) && isNat(d[1]) && isNat(d[2]) && d[2] <= 3 && isNat(d[3]))
  );
}

/** Returns the envelope if it is well formed for this wire version, else a reason string. */
export function parseEnvelope(x: unknown): Envelope | string {
  if (!x || typeof x !== "object") return "not an object";
  const e = x as Record<string, unknown>;
  if (e.v !== WIRE_VERSION) return `unsupported wire version ${String(e.v)}`;
  if (!isId(e.swarm) || !isId(e.from) || !isId(e.to)) return "bad swarm/from/to";
  switch (e.type) {
    case "join":
      return validMember(e.member) ? (e as unknown as Envelope) : "bad join.member";
    case "join_ack":
      return validMembers(e.members) ? (e as unknown as Envelope) : "bad join_ack.members";
    case "gossip":
      return validMembers(e.updates) ? (e as unknown as Envelope) : "bad gossip.updates";
    case "sync":
      return validDigest(e.digest) && validHeads(e.heads) ? (e as unknown as Envelope) : "bad sync.digest";
    case "sync_ack":
      return validMembers(e.records) && Array.isArray(e.want) && e.want.length <= MAX_LIST && e.want.every(isId) &&
        validMessages(e.messages) && validHeads(e.heads)
        ? (e as unknown as Envelope)
        : "bad sync_ack";
    case "sync_push":
      return validMembers(e.records) && validMessages(e.messages) ? (e as unknown as Envelope) : "bad sync_push.records";
    case "raft":
      return validRaftMsg(e.msg) ? (e as unknown as Envelope) : "bad raft.msg";
    case "msg":
      return Array.isArray(e.messages) && validMessages(e.messages) ? (e as unknown as Envelope) : "bad msg.messages";
    case "ping":
    case "ack":
      return isNat(e.seq) && validMembers(e.updates) ? (e as unknown as Envelope) : `bad ${e.type}`;
    case "ping_req":
      return isNat(e.seq) && isId(e.target) ? (e as unknown as Envelope) : "bad ping_req";
    default:
      return `unknown type ${String(e.type)}`;
  }
}
