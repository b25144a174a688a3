// Proposals and votes as an ordered state machine: the same code decides a proposal on the Raft log
// (a state machine of the log, beside the memory store) and in PBFT's execution order (the replicas'
// application). Commands arrive in one agreed order everywhere, so every replica holds the same proposals
// and ballots, and the first vote of each agent wins (castOrdered). The outcome is the shared tally
// (vote/tally.ts); expiry is a function of the proposal (createdAt + timeoutMs), so every replica agrees
// on when a proposal expired without a command for it.
import type { Applied, StateMachine } from "../raft/statemachine";
import { castOrdered, decide, newestFirst, type Ballot, type CastResult, type Outcome, type Proposal, type VoteValue } from "../vote/tally";
import { isId } from "../ids";

export type BookCommand =
  | { op: "propose"; proposal: Proposal }
  | { op: "vote"; proposalId: string; agent: string; vote: VoteValue; at: number };

export type BookResult = { op: "propose"; result: "created" | "exists" } | { op: "vote"; result: CastResult | "unknown" };

interface Entry {
  proposal: Proposal;
  ballots: Map<string, Ballot>;
}

/** Kept per book: enough for a swarm's recent decisions; the oldest decided ones leave first. */
const MAX_PROPOSALS = 1000;

export class ProposalBook implements StateMachine {
  private readonly entries = new Map<string, Entry>();
  /** Told about every command applied (the proposals module auto-votes on new proposals). */
  onApplied: ((cmd: BookCommand, result: BookResult) => void) | null = null;
  readonly stats = { proposals: 0, votesAccepted: 0, votesRejected: 0 };

  constructor(readonly name: string) {}

  validCommand(c: unknown): boolean {
    if (!c || typeof c !== "object") return false;
    const m = c as Record<string, unknown>;
    if (m.op === "vote") {
      return isId(m.proposalId) && isId(m.agent) && (m.vote === "approve" || m.vote === "reject") && typeof m.at === "number" && Number.isFinite(m.at);
    }
    if (m.op !== "propose" || !m.proposal || typeof m.proposal !== "object") return false;
    const p = m.proposal as Record<string, unknown>;
    return (
      isId(p.proposalId) && isId(p.proposer) && Array.isArray(p.eligible) && p.eligible.length <= 1000 && p.eligible.every(isId) &&
      typeof p.threshold === "number" && typeof p.createdAt === "number" && typeof p.timeoutMs === "number" &&
      !!p.body && typeof p.body === "object" && (p.voting === "auto" || p.voting === "manual")
    );
  }

  apply(_index: number, raw: unknown): Applied {
    const cmd = raw as BookCommand;
    const result = this.execute(cmd);
    const puts: Array<[string, unknown]> = [];
    const id = cmd.op === "propose" ? cmd.proposal.proposalId : cmd.proposalId;
    const e = this.entries.get(id);
    if (e) puts.push([id, row(e)]);
    const dels = this.trim();
    return { result, puts, dels };
  }

  /** Apply one command (PBFT's `execute` and the log's `apply` both come here). */
  execute(cmd: BookCommand): BookResult {
    let result: BookResult;
    if (cmd.op === "propose") {
      if (this.entries.has(cmd.proposal.proposalId)) result = { op: "propose", result: "exists" };
      else {
        this.entries.set(cmd.proposal.proposalId, { proposal: structuredClone(cmd.proposal), ballots: new Map() });
        this.stats.proposals++;
        result = { op: "propose", result: "created" };
      }
    } else {
      const e = this.entries.get(cmd.proposalId);
      if (!e) result = { op: "vote", result: "unknown" };
      else result = { op: "vote", result: castOrdered(e.proposal, e.ballots, { agent: cmd.agent, vote: cmd.vote, at: cmd.at }) };
      if (result.result === "accepted") this.stats.votesAccepted++;
      else if (result.result !== "duplicate") this.stats.votesRejected++;
    }
    this.onApplied?.(cmd, result);
    return result;
  }

  proposal(id: string): Proposal | null {
    return this.entries.get(id)?.proposal ?? null;
  }

  ballot(id: string, agent: string): Ballot | null {
    return this.entries.get(id)?.ballots.get(agent) ?? null;
  }

  outcome(id: string, now: number): Outcome | null {
    const e = this.entries.get(id);
    return e ? decide(e.proposal, Array.from(e.ballots.values()), now) : null;
  }

  list(now: number): Outcome[] {
    return Array.from(this.entries.values(), (e) => decide(e.proposal, Array.from(e.ballots.values()), now)).sort(newestFirst);
  }

  snapshot(): unknown {
    return Array.from(this.entries.values(), row);
  }

  install(data: unknown): Array<[string, unknown]> {
    this.entries.clear();
    for (const r of (data as Row[] | null) ?? []) this.entries.set(r.proposal.proposalId, fromRow(r));
    return Array.from(this.entries.entries(), ([k, e]) => [k, row(e)]);
  }

  load(rows: ReadonlyMap<string, unknown>): void {
    this.entries.clear();
    for (const [k, r] of rows) this.entries.set(k, fromRow(r as Row));
  }

  /** The oldest proposals beyond the cap leave (deterministically: by createdAt, then id). */
  private trim(): string[] {
    if (this.entries.size <= MAX_PROPOSALS) return [];
    const old = Array.from(this.entries.values()).sort((a, b) => -newestFirst(a.proposal, b.proposal)).slice(0, this.entries.size - MAX_PROPOSALS);
    for (const e of old) this.entries.delete(e.proposal.proposalId);
    return old.map((e) => e.proposal.proposalId);
  }
}

interface Row {
  proposal: Proposal;
  ballots: Ballot[];
}

function row(e: Entry): Row {
  return { proposal: structuredClone(e.proposal), ballots: Array.from(e.ballots.values(), (b) => ({ ...b })) };
}

function fromRow(r: Row): Entry {
  return { proposal: structuredClone(r.proposal), ballots: new Map(r.ballots.map((b) => [b.agent, { ...b }])) };
}
