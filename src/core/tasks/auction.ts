// Auction-based assignment: FIPA Contract Net (FIPA SC00029H, "Contract Net Interaction Protocol"):
// the manager sends a call for proposals (cfp) with a deadline to the capable agents; each answers
// `propose` (a bid) or `refuse`; at the deadline the manager sends accept-proposal to the best bid and
// reject-proposal to the others; the contractor later reports inform-done or failure (here: the task's
// complete/fail, which reach the task's primary, the manager). With no bid the cfp is re-announced.
//
// Bids are scored with the seed's weights from data the bidder measures: capability match 0.4, current
// load 0.3 (free share of its slots: 1 − queue/slots, floored at 0), past performance 0.2 (completion
// rate with a Laplace prior: (done + 1) / (done + failed + 2), so a newcomer scores 0.5, not 0 or 1),
// resource availability 0.1 (declared, clamped to [0, 1]).
import { capabilityMatch, CAPABILITY_THRESHOLD } from "./capability";

export const AUCTION_WEIGHTS = { capability: 0.4, load: 0.3, performance: 0.2, resources: 0.1 } as const;

export interface Bid {
  agentId: string;
  /** Fraction of the required capabilities the bidder has. */
  capabilityMatch: number;
  /** Tasks queued for or running on the bidder now. */
  queueLength: number;
  slots: number;
  /** Tasks this agent's worker completed / failed so far. */
  completed: number;
  failed: number;
  /** Declared resource availability in [0, 1]. */
  resources: number;
}

export interface ScoreParts {
  capability: number;
  load: number;
  performance: number;
  resources: number;
  total: number;
}

const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

export function scoreParts(b: Bid): ScoreParts {
  const capability = clamp01(b.capabilityMatch);
  const load = clamp01(1 - b.queueLength / Math.max(1, b.slots));
  const performance = (Math.max(0, b.completed) + 1) / (Math.max(0, b.completed) + Math.max(0, b.failed) + 2);
  const resources = clamp01(b.resources);
  const w = AUCTION_WEIGHTS;
  const total = w.capability * capability + w.load * load + w.performance * performance + w.resources * resources;
  return { capability, load, performance, resources, total };
}

export function scoreBid(b: Bid): number {
  return scoreParts(b).total;
}

/** The winning bid: highest score; ties go to the shorter queue, then the smaller id. Null with no bids. */
export function awardAuction(bids: readonly Bid[]): { winner: string; score: number } | null {
  let best: { bid: Bid; score: number } | null = null;
  for (const b of bids) {
    const s = scoreBid(b);
    if (
      !best || s > best.score + 1e-12 ||
      (Math.abs(s - best.score) <= 1e-12 && (b.queueLength < best.bid.queueLength || (b.queueLength === best.bid.queueLength && b.agentId < best.bid.agentId)))
    ) best = { bid: b, score: s };
  }
  return best ? { winner: best.bid.agentId, score: best.score } : null;
}

export interface BidderState {
  id: string;
  caps: readonly string[];
  slots: number;
  queueLength: number;
  completed: number;
  failed: number;
  resources: number;
}

/**
 * A bidder's answer to a cfp: refuse when it is not capable (match not above 0.7) or already has
 * `maxQueuePerSlot` tasks per slot waiting; otherwise propose with its measured numbers.
 */
export function answerCfp(s: BidderState, required: readonly string[], maxQueuePerSlot = 2): { propose: Bid } | { refuse: string } {
  const match = capabilityMatch(s.caps, required);
  if (match <= CAPABILITY_THRESHOLD) return { refuse: "not_capable" };
  if (s.queueLength >= maxQueuePerSlot * Math.max(1, s.slots)) return { refuse: "busy" };
  return {
    propose: {
      agentId: s.id, capabilityMatch: match, queueLength: s.queueLength, slots: s.slots, completed: s.completed, failed: s.failed,
      resources: s.resources,
    },
  };
}

interface Open {
  auctionId: string;
  taskId: string;
  round: number;
  deadline: number;
  invited: Set<string>;
  bids: Map<string, Bid>;
  refused: Set<string>;
}

export type AuctionOutcome =
  | { kind: "award"; auctionId: string; taskId: string; winner: string; score: number; rejected: string[] }
  | { kind: "reannounce"; auctionId: string; taskId: string; round: number }
  | { kind: "no_bids"; auctionId: string; taskId: string; rounds: number };

/**
 * The manager's side, pure: open auctions with their deadlines. The caller sends the cfps, feeds
 * proposals/refusals, and asks for outcomes when time passes (or when every invitee answered).
 */
export class ContractNetManager {
  private open = new Map<string, Open>();

  constructor(private readonly maxRounds = 3) {}

  /** Open (or re-open) an auction for a task; returns the auction id to put in the cfps. */
  announce(taskId: string, invited: readonly string[], now: number, deadlineMs: number, round = 1): string {
    const auctionId = `${taskId}~${round}`;
    this.open.set(auctionId, { auctionId, taskId, round, deadline: now + deadlineMs, invited: new Set(invited), bids: new Map(), refused: new Set() });
    return auctionId;
  }

  has(taskId: string): boolean {
    for (const o of this.open.values()) if (o.taskId === taskId) return true;
    return false;
  }

  cancel(taskId: string): void {
    for (const [k, o] of this.open) if (o.taskId === taskId) this.open.delete(k);
  }

  propose(auctionId: string, from: string, bid: Bid): void {
    const o = this.open.get(auctionId);
    if (o && o.invited.has(from) && bid.agentId === from) o.bids.set(from, bid);
  }

  refuse(auctionId: string, from: string): void {
    const o = this.open.get(auctionId);
    if (o && o.invited.has(from)) o.refused.add(from);
  }

  /** An invitee died: stop waiting for it. */
  forget(agentId: string): void {
    for (const o of this.open.values()) {
      o.invited.delete(agentId);
      o.bids.delete(agentId);
    }
  }

  /** Auctions whose deadline passed, or whose invitees all answered. */
  due(now: number): AuctionOutcome[] {
    const out: AuctionOutcome[] = [];
    for (const [k, o] of Array.from(this.open)) {
      const answered = o.bids.size + o.refused.size >= o.invited.size;
      if (now < o.deadline && !answered) continue;
      this.open.delete(k);
      const award = awardAuction(Array.from(o.bids.values()));
      if (award) {
        out.push({ kind: "award", auctionId: k, taskId: o.taskId, winner: award.winner, score: award.score, rejected: Array.from(o.bids.keys()).filter((a) => a !== award.winner) });
      } else if (o.round < this.maxRounds) out.push({ kind: "reannounce", auctionId: k, taskId: o.taskId, round: o.round + 1 });
      else out.push({ kind: "no_bids", auctionId: k, taskId: o.taskId, rounds: o.round });
    }
    return out;
  }

  nextDeadline(): number | null {
    let d: number | null = null;
    for (const o of this.open.values()) d = d === null ? o.deadline : Math.min(d, o.deadline);
    return d;
  }
}
