// Gossip voting on the wire: the signed records (proposals and votes), the three message types, their
// validators (a malformed message is dropped by the receiver, never thrown on inside the core), and
// what the shell signs and checks (src/core/crypto/canonical.ts: the core never signs or verifies).
import { canonical, type SignedPart } from "../crypto/canonical";
import { isId } from "../ids";
import { thresholdValid, VOTE_LIMITS, type VoteValue, type VotingMode } from "./tally";

/** A proposal, signed by its proposer. */
export interface ProposalRecord {
  kind: "vg_proposal";
  proposalId: string;
  proposer: string;
  protocol: "gossip";
  /**
   * The request's `proposal` object as JSON text with sorted keys (`stableJson`). A string, not an
   * object, because the canonical encoding leaves out every key named `sig` at any depth: a `sig` key
   * inside the proposal would otherwise not be covered by the proposer's signature.
   */
  body: string;
  /** Eligible voters, strictly ascending (distinct). */
  eligible: string[];
  threshold: number;
  createdAt: number;
  timeoutMs: number;
  voting: VotingMode;
  sig?: string;
}

/** One agent's vote on one proposal, signed by that agent. `at`: its clock when it voted (ms). */
export interface VoteRecord {
  kind: "vg_vote";
  proposalId: string;
  agent: string;
  vote: VoteValue;
  at: number;
  sig?: string;
}

export type VoteGossipRecord = ProposalRecord | VoteRecord;

/** Per active proposal: [proposalId, number of records held, hash of their keys]. */
export type VoteDigest = [string, number, string];

/**
 * - `vg_push`: new records, pushed at once to the overlay peers (and repair batches); `want` asks the
 *   receiver for the records with these keys (last step of anti-entropy).
 * - `vg_digest`: anti-entropy step 1, one digest entry per active proposal.
 * - `vg_have`: step 2: the records of proposals the digest lacks, the proposal ids this side lacks
 *   (`want`) and, for proposals both hold with different digests, this side's record keys (`have`).
 */
export type VoteGossipMsg =
  | { type: "vg_push"; proposals: ProposalRecord[]; votes: VoteRecord[]; want?: Array<[string, string[]]> }
  | { type: "vg_digest"; digests: VoteDigest[] }
  | { type: "vg_have"; proposals: ProposalRecord[]; votes: VoteRecord[]; want: string[]; have: Array<[string, string[]]> };

export const WIRE_LIMITS = {
  maxBodyChars: 65_536,
  maxSigChars: 256,
  maxKeyChars: 160,
  maxProposalsPerMsg: 1000,
  maxVotesPerMsg: 20_000,
  /** Two records per eligible agent (one per value) plus two proposal versions. */
  maxKeysPerProposal: 2 * VOTE_LIMITS.maxEligible + 2,
} as const;

const nat = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const optSig = (x: unknown) => x === undefined || (typeof x === "string" && x.length > 0 && x.length <= WIRE_LIMITS.maxSigChars);

/** JSON text with object keys sorted at every level (and, unlike `canonical`, every key kept). */
export function stableJson(x: unknown): string {
  if (x === null || typeof x !== "object") return JSON.stringify(x ?? null);
  if (Array.isArray(x)) return `[${x.map(stableJson).join(",")}]`;
  const o = x as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(",")}}`;
}

/** The proposal object inside a record, or null if the text is not a JSON object. */
export function parseBody(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function validProposalRecord(x: unknown): x is ProposalRecord {
  if (!x || typeof x !== "object") return false;
  const r = x as Record<string, unknown>;
  if (r.kind !== "vg_proposal" || r.protocol !== "gossip" || !isId(r.proposalId) || !isId(r.proposer)) return false;
  if (typeof r.body !== "string" || r.body.length > WIRE_LIMITS.maxBodyChars || parseBody(r.body) === null) return false;
  if (!Array.isArray(r.eligible) || r.eligible.length === 0 || r.eligible.length > VOTE_LIMITS.maxEligible) return false;
  for (let i = 0; i < r.eligible.length; i++) {
    if (!isId(r.eligible[i]) || (i > 0 && !(r.eligible[i - 1] < r.eligible[i]))) return false;
  }
  return (
    thresholdValid(r.threshold) && nat(r.createdAt) && nat(r.timeoutMs) &&
    r.timeoutMs >= VOTE_LIMITS.minTimeoutMs && r.timeoutMs <= VOTE_LIMITS.maxTimeoutMs &&
    (r.voting === "auto" || r.voting === "manual") && optSig(r.sig)
  );
}

export function validVoteRecord(x: unknown): x is VoteRecord {
  if (!x || typeof x !== "object") return false;
  const r = x as Record<string, unknown>;
  return (
    r.kind === "vg_vote" && isId(r.proposalId) && isId(r.agent) && (r.vote === "approve" || r.vote === "reject") &&
    nat(r.at) && optSig(r.sig)
  );
}

function validKeyLists(x: unknown): x is Array<[string, string[]]> {
  return (
    Array.isArray(x) && x.length <= WIRE_LIMITS.maxProposalsPerMsg &&
    x.every(
      (e) =>
        Array.isArray(e) && e.length === 2 && isId(e[0]) && Array.isArray(e[1]) && e[1].length <= WIRE_LIMITS.maxKeysPerProposal &&
        e[1].every((k: unknown) => typeof k === "string" && k.length > 0 && k.length <= WIRE_LIMITS.maxKeyChars),
    )
  );
}

function validRecords(m: Record<string, unknown>): boolean {
  return (
    Array.isArray(m.proposals) && m.proposals.length <= WIRE_LIMITS.maxProposalsPerMsg && m.proposals.every(validProposalRecord) &&
    Array.isArray(m.votes) && m.votes.length <= WIRE_LIMITS.maxVotesPerMsg && m.votes.every(validVoteRecord)
  );
}

export function validVoteGossipMsg(x: unknown): x is VoteGossipMsg {
  if (!x || typeof x !== "object") return false;
  const m = x as Record<string, unknown>;
  switch (m.type) {
    case "vg_push":
      return validRecords(m) && (m.want === undefined || validKeyLists(m.want));
    case "vg_digest":
      return (
        Array.isArray(m.digests) && m.digests.length <= WIRE_LIMITS.maxProposalsPerMsg &&
        m.digests.every((d) => Array.isArray(d) && d.length === 3 && isId(d[0]) && nat(d[1]) && typeof d[2] === "string" && d[2].length <= 32)
      );
    case "vg_have":
      return (
        validRecords(m) && Array.isArray(m.want) && m.want.length <= WIRE_LIMITS.maxProposalsPerMsg && m.want.every(isId) &&
        validKeyLists(m.have)
      );
    default:
      return false;
  }
}

function records(msg: VoteGossipMsg): VoteGossipRecord[] {
  return msg.type === "vg_digest" ? [] : [...msg.proposals, ...msg.votes];
}

export function signerOf(r: VoteGossipRecord): string {
  return r.kind === "vg_proposal" ? r.proposer : r.agent;
}

/**
 * For the shell's filter (`partsValid(signedParts(msg), "", verify)`): every record in the message,
 * with the agent that must have signed it. Records travel with their own signatures (a relay forwards
 * them as they are), so none may be unsigned: pass an empty outer signer and an unsigned record fails.
 * A message with one bad record is dropped whole.
 */
export function signedParts(msg: VoteGossipMsg): SignedPart[] {
  return records(msg).map((r) => ({ signer: signerOf(r), payload: canonical(r), sig: r.sig ?? null }));
}

/**
 * For the shell before sending: this agent's own records in the message that still lack a signature.
 * The core keeps its own records unsigned; the shell sets `sig` on each (over `canonical(record)`,
 * Ed25519 is deterministic, so signing again on a resend gives the same bytes).
 */
export function recordsToSign(msg: VoteGossipMsg, self: string): VoteGossipRecord[] {
  return records(msg).filter((r) => r.sig === undefined && signerOf(r) === self);
}
