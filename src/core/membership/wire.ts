// The membership module's envelopes (SWIM probes, gossip, joins, push-pull anti-entropy) and their
// validation. Other modules' anti-entropy state rides in `ext`, keyed by module name, validated by
// that module's delegate.
import type { AgentId } from "../ids";
import { isId } from "../ids";
import type { Envelope } from "../protocol";
import { STATUS_NAMES, type DigestEntry, type Member } from "./member";

/** A newcomer asks a seed for the membership. */
export interface Join { type: "join"; member: Member }
/** The seed's answer: its whole membership table. */
export interface JoinAck { type: "join_ack"; members: Member[] }
/** Rumour-mongering: recent membership changes. */
export interface Gossip { type: "gossip"; updates: Member[] }
/** Push-pull anti-entropy, step 1: my membership digest (and other modules' digests in `ext`). */
export interface Sync { type: "sync"; digest: DigestEntry[]; ext?: Record<string, unknown> }
/** Step 2: the records you lack, the ids whose newer record I want; per module, data and my digest. */
export interface SyncAck {
  type: "sync_ack"; records: Member[]; want: string[]; ext?: Record<string, { data?: unknown; digest?: unknown }>;
}
/** Step 3: the records (and other modules' data) the other side lacks. */
export interface SyncPush { type: "sync_push"; records: Member[]; ext?: Record<string, unknown> }
/**
 * SWIM direct probe; carries piggybacked updates (and the target's own record when suspected), and other
 * modules' piggybacked state in `ext`.
 */
export interface Ping { type: "ping"; seq: number; updates: Member[]; ext?: Record<string, unknown> }
/** Answer to a ping (direct, or relayed back by the agent that probed on our behalf). */
export interface Ack { type: "ack"; seq: number; updates: Member[]; ext?: Record<string, unknown> }
/** SWIM indirect probe: "please ping `target` for me and relay its ack with my `seq`". */
export interface PingReq { type: "ping_req"; seq: number; target: AgentId }

export type MembershipMsg = Join | JoinAck | Gossip | Sync | SyncAck | SyncPush | Ping | Ack | PingReq;
export type MembershipEnvelope = Envelope & MembershipMsg;

const MAX_LIST = 5000;
const STATUSES: ReadonlySet<string> = new Set(STATUS_NAMES);

const isNat = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

export function validMember(x: unknown): x is Member {
  if (!x || typeof x !== "object") return false;
  const m = x as Record<string, unknown>;
  return (
    isId(m.id) && isNat(m.inc) && typeof m.status === "string" && STATUSES.has(m.status) && isNat(m.ver) &&
    Array.isArray(m.caps) && m.caps.length <= 64 && m.caps.every((c) => typeof c === "string" && c.length <= 64) &&
    isNat(m.slots) && typeof m.load === "number" && Number.isFinite(m.load) && m.load >= 0 &&
    (m.by === undefined || (Array.isArray(m.by) && m.by.length <= 64 && m.by.every(isId)))
  );
}

const validMembers = (x: unknown): x is Member[] => Array.isArray(x) && x.length <= MAX_LIST && x.every(validMember);

function validDigest(x: unknown): x is DigestEntry[] {
  return (
    Array.isArray(x) && x.length <= MAX_LIST &&
    x.every((d) => Array.isArray(d) && d.length === 4 && isId(d[0]) && isNat(d[1]) && isNat(d[2]) && d[2] <= 3 && isNat(d[3]))
  );
}

/** `ext` must be an object whose every entry passes `check` (unknown modules are rejected). */
function validExt(x: unknown, check: (mod: string, v: unknown) => boolean): boolean {
  if (x === undefined) return true;
  if (!x || typeof x !== "object" || Array.isArray(x)) return false;
  return Object.entries(x).every(([mod, v]) => check(mod, v));
}

export interface ExtCheckers {
  digest(mod: string, v: unknown): boolean;
  data(mod: string, v: unknown): boolean;
  piggyback(mod: string, v: unknown): boolean;
}

/** Why a membership envelope is malformed, or null. */
export function validateMembership(e: Record<string, unknown>, ext: ExtCheckers): string | null {
  switch (e.type) {
    case "join":
      return validMember(e.member) ? null : "bad join.member";
    case "join_ack":
      return validMembers(e.members) ? null : "bad join_ack.members";
    case "gossip":
      return validMembers(e.updates) ? null : "bad gossip.updates";
    case "sync":
      return validDigest(e.digest) && validExt(e.ext, ext.digest) ? null : "bad sync";
    case "sync_ack":
      return validMembers(e.records) && Array.isArray(e.want) && e.want.length <= MAX_LIST && e.want.every(isId) &&
        validExt(e.ext, (mod, v) => {
          if (!v || typeof v !== "object") return false;
          const o = v as { data?: unknown; digest?: unknown };
          return (o.data === undefined || ext.data(mod, o.data)) && (o.digest === undefined || ext.digest(mod, o.digest));
        })
        ? null
        : "bad sync_ack";
    case "sync_push":
      return validMembers(e.records) && validExt(e.ext, ext.data) ? null : "bad sync_push";
    case "ping":
    case "ack":
      return isNat(e.seq) && validMembers(e.updates) && validExt(e.ext, ext.piggyback) ? null : `bad ${e.type}`;
    case "ping_req":
      return isNat(e.seq) && isId(e.target) ? null : "bad ping_req";
    default:
      return `unknown membership type ${String(e.type)}`;
  }
}
