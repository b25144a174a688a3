import type { AgentId } from "../ids";

export type MemberStatus = "alive" | "suspect" | "dead" | "left";

/**
 * One agent's record as the swarm knows it. The agent itself is the origin of its record:
 * it bumps `ver` on every change it makes (capabilities, slots, a rejoin). `inc` is the SWIM
 * incarnation: only the agent raises it, to refute a suspicion or after a restart.
 */
export interface Member {
  id: AgentId;
  inc: number;
  status: MemberStatus;
  ver: number;
  caps: string[];
  slots: number;
  /** Soft: carried by gossip, never a reason to write a row. */
  load: number;
  /**
   * For `suspect`/`dead` records: the agents that independently failed to reach this member at this
   * incarnation (the seed's failure confirmations; Lifeguard's independent suspicions).
   */
  by?: string[];
}

const RANK: Record<MemberStatus, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
/** Statuses in precedence order (their index is the rank used in digests). */
export const STATUS_NAMES: readonly MemberStatus[] = ["alive", "suspect", "dead", "left"];

export function statusRank(s: MemberStatus): number {
  return RANK[s];
}

/**
 * Does record `b` supersede record `a`? SWIM's precedence (Das et al. 2002, §4.2; memberlist's
 * state merge): a higher incarnation wins; at equal incarnation the worse status wins
 * (alive < suspect < dead < left) so that a suspicion can only be refuted by the agent itself;
 * at equal (inc, status) the higher origin version wins.
 */
export function supersedes(b: Member, a: Member | undefined): boolean {
  if (!a) return true;
  if (b.inc !== a.inc) return b.inc > a.inc;
  const rb = RANK[b.status];
  const ra = RANK[a.status];
  if (rb !== ra) return rb > ra;
  return b.ver > a.ver;
}

export function isLive(m: Member): boolean {
  return m.status === "alive" || m.status === "suspect";
}

/** Compact digest entry for push-pull anti-entropy: [id, inc, statusRank, ver]. */
export type DigestEntry = [string, number, number, number];

export function digestOf(m: Member): DigestEntry {
  return [m.id, m.inc, RANK[m.status], m.ver];
}

/** Is the digest entry `d` newer than what we hold (so we should ask for it)? */
export function digestNewer(d: DigestEntry, mine: Member | undefined): boolean {
  if (!mine) return true;
  if (d[1] !== mine.inc) return d[1] > mine.inc;
  if (d[2] !== RANK[mine.status]) return d[2] > RANK[mine.status];
  return d[3] > mine.ver;
}

export function cloneMember(m: Member): Member {
  const c: Member = { ...m, caps: m.caps.slice() };
  if (m.by) c.by = m.by.slice();
  return c;
}

/** The most confirmations a record carries (the wire accepts 64; a verdict needs a quorum of ≤ 5 monitors). */
export const MAX_CONFIRMATIONS = 32;

/**
 * Same record (inc, status, ver) but with confirmations we did not have: the union (at most
 * MAX_CONFIRMATIONS: the first ones are kept, so records converge), or null if nothing is new.
 * Confirmations only grow while the suspicion stands.
 */
export function mergeConfirmations(cur: Member, incoming: Member): string[] | null {
  if (cur.inc !== incoming.inc || cur.status !== incoming.status || cur.ver !== incoming.ver) return null;
  if (!incoming.by || (cur.status !== "suspect" && cur.status !== "dead")) return null;
  const have = new Set(cur.by ?? []);
  if (have.size >= MAX_CONFIRMATIONS) return null;
  const added = incoming.by.filter((b) => !have.has(b));
  if (added.length === 0) return null;
  return [...(cur.by ?? []), ...added].sort().slice(0, MAX_CONFIRMATIONS);
}
