// Gossip voting: votes spread by gossip, every agent reaches the same decision, eventually; no leader.
//
// Model. A proposal is a record signed by its proposer; each vote is a record signed by its voter
// (./wire.ts). The shell signs this agent's own records before they leave and checks every record's
// signature before the core sees it (src/core/crypto/canonical.ts), so the core only ever holds records
// their authors really signed: a relay can drop or delay records, never forge or alter one.
//
// Agreement. Each agent holds a set of records per proposal and computes the outcome from the set
// alone with the shared tally (./tally.ts: `ballotsFromRecords` then `decide`). The set grows only by
// union (with the bounded "keep the earliest `at` per agent and value" rule below, itself a union-like
// merge), so once every agent holds every record — which eager push plus anti-entropy guarantee after
// partitions heal — every agent computes the same status and the same decidedAt: decidedAt is the `at`
// of the vote that made the outcome certain, or createdAt + timeoutMs for an expiry, both read from the
// records, never from a local clock. Until then an agent's view is its best knowledge and may still
// move (a vote with an earlier `at` arriving late moves decidedAt earlier; an equivocation discovered
// late turns an approval into a rejection).
//
// Spread (Demers et al., "Epidemic algorithms for replicated database maintenance", PODC '87):
//  - rumor mongering, eagerly: a record new to an agent is pushed at once to its overlay peers (except
//    the one it came from); the overlay has no cut vertex, so one lost copy rarely matters;
//  - anti-entropy: every `syncEveryMs` (jittered) while any proposal is active, a digest
//    [proposalId, count, hash of record keys] goes to `syncFanout` random members; the answer carries the
//    proposals the other side lacks in full, and for proposals held by both with different digests the
//    keys held, so that each side then sends only the records the other lacks (push-pull, three steps).
//
// Byzantine rules (deterministic, functions of the record set):
//  - A voter that signed both an approval and a rejection is an equivocator: counted as a rejection at
//    its earliest `at`, and reported (`equivocations`). Both records are kept and gossiped as evidence,
//    so every agent finds out. A voter that signed one value at several times counts at the earliest.
//    Per voter at most two records are kept (the earliest per value): bounded, and still a semilattice.
//  - A proposal with two different signed versions (a proposer that equivocates, or an agent signing a
//    different proposal under an id in use) is void: rejected, decidedAt = the createdAt of the
//    smaller version (canonical order), signers reported. The two smallest versions are kept as
//    evidence; its votes are dropped. A Byzantine agent can void a proposal that way; it cannot make
//    one pass or change what it says.
//  - A vote from an agent that is not eligible, or stamped outside [createdAt, createdAt + timeoutMs),
//    is dropped. A voter chooses its own `at` (its clock): a liar can only move its own vote in time.
//
// Memory is bounded. A proposal retires at createdAt + timeoutMs + graceMs: its records are deleted
// and its outcome is kept as a small row (at most `maxOutcomes`, oldest dropped). No honest agent signs
// a vote at or after createdAt + timeoutMs, so graceMs is how long records still in flight (a partition,
// a crashed agent) may take to arrive: a partition that outlasts the grace period can leave its two sides
// with different frozen outcomes. Records for retired or too-old proposals are ignored. At most
// `maxActive` proposals are active; per proposal at most 2·eligible + 2 records; votes that arrive before
// their proposal wait in a bounded buffer (not persisted: anti-entropy repairs them).
import { canonical } from "../crypto/canonical";
import { hash32 } from "../hash";
import type { Rng } from "../rng";
import {
  ballotsFromRecords, cmp, decide, inWindow, newestFirst, type Outcome, type Proposal, type ProposalSpec, type VoteValue,
  type VotingMode,
} from "./tally";
import { autoVote, type VoteKnowledge } from "./validate";
import {
  parseBody, signerOf, stableJson, validProposalRecord, WIRE_LIMITS, type ProposalRecord, type VoteDigest, type VoteGossipMsg, type VoteGossipRecord,
  type VoteRecord,
} from "./wire";

export interface GossipVotingOptions {
  self: string;
  rng: Rng;
  /** This agent's overlay peers (eager push goes to them). */
  peers: () => readonly string[];
  /** Anti-entropy partners (default: the peers). The live members give faster repair after partitions. */
  members?: () => readonly string[];
  /** What this agent knows, for auto-votes. */
  knowledge: () => VoteKnowledge;
  /** Anti-entropy cadence while a proposal is active (one gossip round). */
  syncEveryMs: number;
  /** Anti-entropy partners per round (default 1: a repair path behind the eager push; the mesh's gossip fanout for anti-entropy alone). */
  syncFanout?: number;
  /** Records are kept this long after a proposal's voting window closes. */
  graceMs: number;
  /** Push new records to the peers (default true); false: anti-entropy only. */
  eager?: boolean;
  /**
   * Coalescing window for pushes (default 0: push at once). With a window, new records wait up to
   * this long and go out in one message per peer; a record that the peer sends us meanwhile is taken
   * out of its batch (it has it). Fewer messages, one window more latency per hop.
   */
  pushDelayMs?: number;
  maxActive?: number;
  maxOutcomes?: number;
  maxOrphans?: number;
  /**
   * A proposal stamped more than this far in this agent's future is ignored for now (default 60 s):
   * anti-entropy offers it again, so it is taken once the clocks agree — but a Byzantine proposer cannot
   * pin a slot of `maxActive` for a year with a far-future createdAt.
   */
  maxClockSkewMs?: number;
}

export interface GossipVotingPersisted {
  proposals: ProposalRecord[];
  votes: VoteRecord[];
  outcomes: Outcome[];
}

/** What the shell must do, in this order: persist (save, remove, retire, forget), then send. */
export interface VoteReady {
  /** Records to store, keyed by (proposalId, recordKey(record)). This agent's own records are unsigned. */
  save: VoteGossipRecord[];
  /** Records to delete (replaced by an earlier one, or the votes of a proposal found void). */
  remove: VoteGossipRecord[];
  /** Store each outcome row and delete every record of its proposal. */
  retire: Outcome[];
  /** Outcome rows to delete (beyond maxOutcomes). */
  forget: string[];
  messages: Array<{ to: string; msg: VoteGossipMsg }>;
  /** Proposals whose outcome (status, decidedAt or counts) changed as this agent sees it. */
  changed: Outcome[];
  /** Newly found equivocations: a voter with two votes, or a proposal signer with two versions. */
  equivocations: Array<{ proposalId: string; agent: string }>;
  events: string[];
}

export type CastVoteResult =
  | { result: "accepted" | "duplicate"; outcome: Outcome }
  | { result: "conflict"; outcome: Outcome }
  | { result: "unknown" | "not_eligible" | "closed"; outcome: Outcome | null };

export interface ProposeInput {
  proposalId: string;
  body: Record<string, unknown>;
  eligible: readonly string[];
  threshold: number;
  timeoutMs: number;
  voting: VotingMode;
}

interface Active {
  id: string;
  /** One version, or two (void): the two smallest in canonical order. */
  versions: ProposalRecord[];
  canon: string[];
  body: Record<string, unknown>;
  spec: ProposalSpec;
  eligible: Set<string>;
  /** Per voter: at most one record per value (the earliest). */
  votes: Map<string, VoteRecord[]>;
  outcome: Outcome | null;
  outcomeKey: string;
  dirty: boolean;
  /** Caches of the record keys and the digest, dropped whenever the record set changes. */
  keyMap: Map<string, VoteGossipRecord> | null;
  digest: VoteDigest | null;
}

export interface VoteGossipStats {
  recordsAccepted: number;
  duplicates: number;
  invalidVotes: number;
  orphaned: number;
  ignoredRetired: number;
}

/** The storage key of a record within its proposal (agent ids never contain ':'). */
export function recordKey(r: VoteGossipRecord): string {
  if (r.kind === "vg_vote") return `v:${r.agent}:${r.vote === "approve" ? "a" : "r"}:${r.at}`;
  return `p:${hash64(canonical(r))}`; // (keyed() computes the same from the cached canonical text)
}

function hash64(s: string): string {
  return hash32(s, 0x3c6ef372).toString(16).padStart(8, "0") + hash32(s, 0x7f4a7c15).toString(16).padStart(8, "0");
}

function specOf(r: ProposalRecord): ProposalSpec {
  return { proposalId: r.proposalId, protocol: "gossip", eligible: r.eligible, threshold: r.threshold, createdAt: r.createdAt, timeoutMs: r.timeoutMs };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

export class GossipVoting {
  readonly self: string;
  private readonly opts: Required<Omit<GossipVotingOptions, "members">> & { members: () => readonly string[] };
  private readonly active = new Map<string, Active>();
  private readonly outcomes = new Map<string, Outcome>();
  private orphans = new Map<string, VoteRecord[]>();
  private orphanCount = 0;
  private nextSyncAt: number | null = null;
  /** Pushes waiting for the coalescing window, per peer (keyed by record). */
  private pending = new Map<string, Map<string, VoteGossipRecord>>();
  private flushAt: number | null = null;
  private now = 0;
  private out: VoteReady = emptyReady();
  readonly stats: VoteGossipStats = { recordsAccepted: 0, duplicates: 0, invalidVotes: 0, orphaned: 0, ignoredRetired: 0 };

  constructor(opts: GossipVotingOptions, persisted: GossipVotingPersisted = { proposals: [], votes: [], outcomes: [] }) {
    this.self = opts.self;
    this.opts = {
      eager: true, pushDelayMs: 0, syncFanout: 1, maxActive: 1000, maxOutcomes: 1000, maxOrphans: 10_000, maxClockSkewMs: 60_000, ...opts, members: opts.members ?? opts.peers,
    };
    for (const o of persisted.outcomes) this.outcomes.set(o.proposalId, { ...o });
    // Restore without re-persisting: records come back as they were stored.
    const byId = new Map<string, ProposalRecord[]>();
    for (const p of persisted.proposals) {
      if (this.outcomes.has(p.proposalId)) continue;
      const list = byId.get(p.proposalId) ?? [];
      list.push(clone(p));
      byId.set(p.proposalId, list);
    }
    for (const [id, list] of byId) {
      const sorted = list.map((r) => ({ r, c: canonical(r) })).sort((a, b) => cmp(a.c, b.c)).slice(0, 2);
      this.active.set(id, this.newActive(sorted.map((x) => x.r), sorted.map((x) => x.c)));
    }
    for (const v of persisted.votes) {
      const a = this.active.get(v.proposalId);
      if (!a || a.versions.length > 1) continue;
      const list = a.votes.get(v.agent) ?? [];
      const i = list.findIndex((x) => x.vote === v.vote);
      if (i < 0) list.push(clone(v));
      else if (v.at < list[i].at) list[i] = clone(v);
      a.votes.set(v.agent, list);
    }
  }

  // ---- queries ------------------------------------------------------------------------------------

  /** The outcome as this agent sees it at `now` (an active proposal, or a retired one's stored row). */
  get(proposalId: string, now: number): Outcome | null {
    const a = this.active.get(proposalId);
    if (a) return this.computeOutcome(a, now);
    const o = this.outcomes.get(proposalId);
    return o ? { ...o, votes: { ...o.votes }, equivocators: o.equivocators.slice() } : null;
  }

  /** Every proposal this agent knows (active and retired), newest first. */
  list(now: number): Outcome[] {
    const out: Outcome[] = [];
    for (const a of this.active.values()) out.push(this.computeOutcome(a, now));
    for (const o of this.outcomes.values()) out.push({ ...o, votes: { ...o.votes }, equivocators: o.equivocators.slice() });
    return out.sort(newestFirst);
  }

  /** The proposal as carried (the first version if it was found void). */
  proposal(proposalId: string): Proposal | null {
    const a = this.active.get(proposalId);
    if (!a) return null;
    const r = a.versions[0];
    return { ...a.spec, eligible: r.eligible.slice(), proposer: r.proposer, body: clone(a.body), voting: r.voting };
  }

  /** This agent's records of an active proposal (for tests and the integrator's views). */
  records(proposalId: string): VoteGossipRecord[] {
    const a = this.active.get(proposalId);
    return a ? this.recordsOf(a).map(clone) : [];
  }

  activeIds(): string[] {
    return Array.from(this.active.keys()).sort(cmp);
  }

  /** When the shell must call `tick` next (ms), or null when nothing is active. */
  nextDeadline(): number | null {
    let t: number | null = null;
    const at = (x: number) => (t = t === null ? x : Math.min(t, x));
    if (this.active.size > 0 && this.nextSyncAt !== null) at(this.nextSyncAt);
    for (const a of this.active.values()) {
      const expiresAt = a.spec.createdAt + a.spec.timeoutMs;
      if (a.outcome === null || a.outcome.status === "pending") at(expiresAt);
      at(expiresAt + this.opts.graceMs);
    }
    if (this.active.size > 0 && this.nextSyncAt === null) at(this.now);
    if (this.flushAt !== null) at(this.flushAt);
    return t;
  }

  // ---- inputs -------------------------------------------------------------------------------------

  /** Make a proposal (this agent is the proposer and signs it; the shell signs before sending). */
  propose(input: ProposeInput, now: number): { ok: true; outcome: Outcome; ready: VoteReady } | { ok: false; error: string; ready: VoteReady } {
    this.advance(now);
    if (this.active.has(input.proposalId) || this.outcomes.has(input.proposalId)) return { ok: false, error: "conflict", ready: this.ready() };
    if (this.active.size >= this.opts.maxActive) return { ok: false, error: "too_many_active", ready: this.ready() };
    const r: ProposalRecord = {
      kind: "vg_proposal", proposalId: input.proposalId, proposer: this.self, protocol: "gossip", body: stableJson(input.body),
      eligible: Array.from(new Set(input.eligible)).sort(cmp), threshold: input.threshold, createdAt: this.now,
      timeoutMs: input.timeoutMs, voting: input.voting,
    };
    if (!validProposalRecord(r)) return { ok: false, error: "invalid", ready: this.ready() };
    const fresh: VoteGossipRecord[] = [];
    this.mergeProposal(r, fresh);
    this.flood(fresh, null);
    const a = this.active.get(r.proposalId)!;
    return { ok: true, outcome: this.computeOutcome(a, this.now), ready: this.ready() };
  }

  /**
   * Cast this agent's vote by hand (`POST …/votes` routed to this agent: only it can sign its vote).
   * One vote per proposal: the same vote again is `duplicate` (200), a different one `conflict` (409).
   */
  castVote(proposalId: string, vote: VoteValue, now: number): CastVoteResult & { ready: VoteReady } {
    this.advance(now);
    const a = this.active.get(proposalId);
    if (!a) {
      const o = this.outcomes.get(proposalId) ?? null;
      return { result: o ? "closed" : "unknown", outcome: o, ready: this.ready() };
    }
    const outcome = () => this.computeOutcome(a, this.now);
    if (a.versions.length > 1) return { result: "closed", outcome: outcome(), ready: this.ready() };
    if (!a.eligible.has(this.self)) return { result: "not_eligible", outcome: outcome(), ready: this.ready() };
    const mine = a.votes.get(this.self);
    if (mine && mine.length > 0) {
      const result = mine.length === 1 && mine[0].vote === vote ? "duplicate" : "conflict";
      return { result, outcome: outcome(), ready: this.ready() };
    }
    if (this.now >= a.spec.createdAt + a.spec.timeoutMs) return { result: "closed", outcome: outcome(), ready: this.ready() };
    const fresh: VoteGossipRecord[] = [];
    this.voteOwn(a, vote, fresh);
    this.flood(fresh, null);
    return { result: "accepted", outcome: outcome(), ready: this.ready() };
  }

  /**
   * A message from another agent, already validated (wire.ts) and signature-checked by the shell. The
   * core keeps the record objects of the message: do not mutate it afterwards.
   */
  step(from: string, msg: VoteGossipMsg, now: number): VoteReady {
    this.advance(now);
    switch (msg.type) {
      case "vg_push": {
        this.flood(this.mergeAll(msg.proposals, msg.votes, from), from);
        if (msg.want && msg.want.length) {
          const { proposals, votes } = this.recordsByKeys(msg.want);
          this.sendRecords(from, proposals, votes);
        }
        break;
      }
      case "vg_digest":
        this.onDigest(from, msg.digests);
        break;
      case "vg_have": {
        this.flood(this.mergeAll(msg.proposals, msg.votes, from), from);
        const proposals: ProposalRecord[] = [];
        const votes: VoteRecord[] = [];
        for (const id of msg.want) {
          const a = this.active.get(id);
          if (a) this.split(this.recordsOf(a), proposals, votes);
        }
        const want: Array<[string, string[]]> = [];
        for (const [id, keys] of msg.have) {
          const a = this.active.get(id);
          if (!a) continue;
          const theirs = new Set(keys);
          const mine = this.keyed(a);
          this.split(Array.from(mine).filter(([k]) => !theirs.has(k)).map(([, r]) => r), proposals, votes);
          const missing = keys.filter((k) => !mine.has(k) && (a.versions.length === 1 || k.startsWith("p:")));
          if (missing.length) want.push([id, missing]);
        }
        this.sendRecords(from, proposals, votes, want);
        break;
      }
    }
    return this.ready();
  }

  /** Time passes: expiries, retirement, and the anti-entropy round. */
  tick(now: number): VoteReady {
    this.advance(now);
    if (this.flushAt !== null && this.now >= this.flushAt) this.flush();
    for (const a of Array.from(this.active.values())) {
      const expiresAt = a.spec.createdAt + a.spec.timeoutMs;
      if (this.now >= expiresAt + this.opts.graceMs) this.retire(a);
      else if (this.now >= expiresAt && (a.outcome === null || a.outcome.status === "pending")) a.dirty = true;
    }
    if (this.active.size === 0) this.nextSyncAt = null;
    else if (this.nextSyncAt === null) this.nextSyncAt = this.now + this.jitter();
    else if (this.now >= this.nextSyncAt) {
      this.nextSyncAt = this.now + this.jitter();
      const targets = this.opts.members().filter((m) => m !== this.self);
      if (targets.length > 0) {
        const digests = Array.from(this.active.values(), (a) => this.digestOf(a));
        for (const to of this.opts.rng.sample(targets, this.opts.syncFanout)) this.send(to, { type: "vg_digest", digests });
      }
    }
    return this.ready();
  }

  /** Collect what is pending: recompute the outcomes touched since the last call. */
  ready(): VoteReady {
    for (const a of this.active.values()) {
      if (!a.dirty) continue;
      a.dirty = false;
      const o = this.computeOutcome(a, this.now);
      const key = outcomeKey(o);
      a.outcome = o;
      if (key !== a.outcomeKey) {
        a.outcomeKey = key;
        this.out.changed.push(o);
      }
    }
    const r = this.out;
    this.out = emptyReady();
    return r;
  }

  // ---- merging ------------------------------------------------------------------------------------

  private advance(now: number): void {
    // A clock that steps back (a restart on another machine) must not reopen anything.
    if (now > this.now) this.now = now;
  }

  private mergeAll(proposals: ProposalRecord[], votes: VoteRecord[], from: string): VoteGossipRecord[] {
    const fresh: VoteGossipRecord[] = [];
    const waiting = this.pending.get(from);
    if (waiting) for (const r of [...proposals, ...votes]) waiting.delete(recordKey(r));
    // The records of a message handed to `step` are kept as they are (the shell parsed them for us).
    for (const p of proposals) this.mergeProposal(p, fresh);
    for (const v of votes) this.mergeVote(v, fresh);
    return fresh;
  }

  private mergeProposal(r: ProposalRecord, fresh: VoteGossipRecord[]): void {
    const id = r.proposalId;
    if (this.outcomes.has(id) || r.createdAt + r.timeoutMs + this.opts.graceMs <= this.now) {
      this.stats.ignoredRetired++;
      return;
    }
    const c = canonical(r);
    const a = this.active.get(id);
    if (!a) {
      if (r.createdAt > this.now + this.opts.maxClockSkewMs) {
        this.out.events.push(`vote: ${this.self} defers proposal ${id}: created ${r.createdAt - this.now} ms in its future`);
        return;
      }
      if (this.active.size >= this.opts.maxActive) {
        this.out.events.push(`vote: ${this.self} ignores proposal ${id}: ${this.opts.maxActive} proposals active`);
        return;
      }
      const na = this.newActive([r], [c]);
      na.dirty = true;
      this.active.set(id, na);
      this.accept(r, fresh);
      if (this.nextSyncAt === null) this.nextSyncAt = this.now + this.jitter();
      // Votes that came before their proposal.
      const waiting = this.orphans.get(id);
      if (waiting) {
        this.orphans.delete(id);
        this.orphanCount -= waiting.length;
        for (const v of waiting) this.mergeVote(v, fresh);
      }
      // The seed's "validate proposals before consensus": an eligible agent votes by itself.
      const expiresAt = r.createdAt + r.timeoutMs;
      if (r.voting === "auto" && na.eligible.has(this.self) && !na.votes.has(this.self) && this.now < expiresAt) {
        const v = autoVote(na.body, this.opts.knowledge());
        this.out.events.push(`vote: ${this.self} auto-votes ${v.vote} on ${id}${v.reasons.length ? `: ${v.reasons.join("; ")}` : ""}`);
        this.voteOwn(na, v.vote, fresh);
      }
      return;
    }
    if (a.canon.includes(c)) {
      this.stats.duplicates++;
      return;
    }
    // A second signed version under the same id: the proposal is void (see the header). Keep the two
    // smallest versions in canonical order, so every agent ends with the same pair.
    const all = a.versions.map((v, i) => ({ r: v, c: a.canon[i] })).concat([{ r, c }]).sort((x, y) => cmp(x.c, y.c));
    const kept = all.slice(0, 2);
    if (!kept.some((x) => x.c === c)) return;
    const wasVoid = a.versions.length > 1;
    for (const x of all.slice(2)) this.out.remove.push(x.r);
    a.versions = kept.map((x) => x.r);
    a.canon = kept.map((x) => x.c);
    a.spec = specOf(a.versions[0]);
    a.eligible = new Set(a.versions[0].eligible);
    a.body = parseBody(a.versions[0].body) ?? {};
    a.dirty = true;
    a.keyMap = null;
    a.digest = null;
    this.accept(r, fresh);
    if (!wasVoid) {
      for (const list of a.votes.values()) this.out.remove.push(...list);
      a.votes.clear();
      a.keyMap = null;
      a.digest = null;
      const signers = Array.from(new Set(a.versions.map((v) => v.proposer))).sort(cmp);
      for (const s of signers) this.out.equivocations.push({ proposalId: id, agent: s });
      this.out.events.push(`vote: proposal ${id} has two signed versions (by ${signers.join(", ")}): void`);
    }
  }

  private mergeVote(v: VoteRecord, fresh: VoteGossipRecord[]): void {
    const a = this.active.get(v.proposalId);
    if (!a) {
      if (this.outcomes.has(v.proposalId)) this.stats.ignoredRetired++;
      else this.orphan(v);
      return;
    }
    if (a.versions.length > 1) return;
    if (!a.eligible.has(v.agent) || !inWindow(a.spec, v.at)) {
      this.stats.invalidVotes++;
      return;
    }
    const list = a.votes.get(v.agent) ?? [];
    const i = list.findIndex((x) => x.vote === v.vote);
    if (i >= 0) {
      if (list[i].at <= v.at) {
        this.stats.duplicates++;
        return;
      }
      // The same value signed at an earlier time (only a Byzantine voter signs twice): keep the earliest.
      this.out.remove.push(list[i]);
      list[i] = v;
    } else {
      list.push(v);
      if (list.length === 2) {
        this.out.equivocations.push({ proposalId: v.proposalId, agent: v.agent });
        this.out.events.push(`vote: ${v.agent} signed both votes on ${v.proposalId}: counted as a rejection`);
      }
    }
    a.votes.set(v.agent, list);
    a.dirty = true;
    a.keyMap = null;
    a.digest = null;
    this.accept(v, fresh);
  }

  private voteOwn(a: Active, vote: VoteValue, fresh: VoteGossipRecord[]): void {
    // A clock behind the proposer's still votes inside the window.
    const at = Math.max(this.now, a.spec.createdAt);
    this.mergeVote({ kind: "vg_vote", proposalId: a.id, agent: this.self, vote, at }, fresh);
  }

  private accept(r: VoteGossipRecord, fresh: VoteGossipRecord[]): void {
    this.stats.recordsAccepted++;
    this.out.save.push(r);
    fresh.push(r);
  }

  private orphan(v: VoteRecord): void {
    const list = this.orphans.get(v.proposalId) ?? [];
    if (list.some((x) => x.agent === v.agent && x.vote === v.vote && x.at === v.at)) return;
    list.push(v);
    this.orphans.set(v.proposalId, list);
    this.orphanCount++;
    this.stats.orphaned++;
    // Oldest proposals' orphans go first (Map keeps insertion order).
    while (this.orphanCount > this.opts.maxOrphans) {
      const [id, l] = this.orphans.entries().next().value as [string, VoteRecord[]];
      this.orphans.delete(id);
      this.orphanCount -= l.length;
    }
  }

  private retire(a: Active): void {
    const o = this.computeOutcome(a, this.now);
    this.active.delete(a.id);
    this.orphans.delete(a.id);
    this.outcomes.set(a.id, o);
    this.out.retire.push(o);
    if (this.outcomes.size > this.opts.maxOutcomes) {
      const oldest = Array.from(this.outcomes.values()).sort(newestFirst).slice(this.opts.maxOutcomes);
      for (const x of oldest) {
        this.outcomes.delete(x.proposalId);
        this.out.forget.push(x.proposalId);
      }
    }
  }

  // ---- outcomes -----------------------------------------------------------------------------------

  private computeOutcome(a: Active, now: number): Outcome {
    if (a.versions.length > 1) {
      const base = decide(a.spec, [], now);
      return {
        ...base, status: "rejected", decidedAt: a.spec.createdAt, decisionLatencyMs: 0,
        equivocators: Array.from(new Set(a.versions.map((v) => v.proposer))).sort(cmp),
      };
    }
    const recs: VoteRecord[] = [];
    for (const list of a.votes.values()) recs.push(...list);
    return decide(a.spec, ballotsFromRecords(recs).ballots, now);
  }

  // ---- spreading ----------------------------------------------------------------------------------

  /**
   * Rumor mongering: push new records to every overlay peer except the one they came from and their
   * author (who has them) — at once, or batched over the coalescing window.
   */
  private flood(fresh: VoteGossipRecord[], except: string | null): void {
    if (fresh.length === 0 || !this.opts.eager) return;
    // One copy of each record for all peers (the shell may set `sig` on it, the same for every peer).
    const copies = new Map<VoteGossipRecord, VoteGossipRecord>(fresh.map((r) => [r, clone(r)]));
    for (const p of this.opts.peers()) {
      if (p === except || p === this.self) continue;
      const mine = fresh.filter((r) => signerOf(r) !== p);
      if (mine.length === 0) continue;
      if (this.opts.pushDelayMs <= 0) {
        const proposals: ProposalRecord[] = [];
        const votes: VoteRecord[] = [];
        this.split(mine, proposals, votes);
        this.sendRecords(p, proposals, votes, [], copies);
        continue;
      }
      let batch = this.pending.get(p);
      if (!batch) this.pending.set(p, (batch = new Map()));
      for (const r of mine) batch.set(recordKey(r), r);
      if (this.flushAt === null) this.flushAt = this.now + this.opts.pushDelayMs;
    }
  }

  private flush(): void {
    this.flushAt = null;
    const pending = this.pending;
    this.pending = new Map();
    for (const [p, batch] of pending) {
      const proposals: ProposalRecord[] = [];
      const votes: VoteRecord[] = [];
      this.split(Array.from(batch.values()), proposals, votes);
      this.sendRecords(p, proposals, votes);
    }
  }

  private onDigest(from: string, digests: VoteDigest[]): void {
    const theirs = new Map(digests.map((d) => [d[0], d]));
    const proposals: ProposalRecord[] = [];
    const votes: VoteRecord[] = [];
    const have: Array<[string, string[]]> = [];
    for (const a of this.active.values()) {
      const d = theirs.get(a.id);
      if (!d) this.split(this.recordsOf(a), proposals, votes);
      else {
        const mine = this.digestOf(a);
        if (mine[1] !== d[1] || mine[2] !== d[2]) have.push([a.id, Array.from(this.keyed(a).keys())]);
      }
    }
    const want = digests.map((d) => d[0]).filter((id) => !this.active.has(id) && !this.outcomes.has(id));
    if (proposals.length === 0 && votes.length === 0 && want.length === 0 && have.length === 0) return;
    // Records beyond one message's limits follow as pushes.
    const first = Math.min(proposals.length, WIRE_LIMITS.maxProposalsPerMsg);
    const firstVotes = Math.min(votes.length, WIRE_LIMITS.maxVotesPerMsg);
    this.send(from, { type: "vg_have", proposals: proposals.slice(0, first).map(clone), votes: votes.slice(0, firstVotes).map(clone), want, have });
    this.sendRecords(from, proposals.slice(first), votes.slice(firstVotes));
  }

  private digestOf(a: Active): VoteDigest {
    if (!a.digest) {
      const keys = Array.from(this.keyed(a).keys()).sort(cmp);
      a.digest = [a.id, keys.length, hash64(keys.join("\n"))];
    }
    return a.digest;
  }

  private recordsOf(a: Active): VoteGossipRecord[] {
    const out: VoteGossipRecord[] = [...a.versions];
    for (const list of a.votes.values()) out.push(...list);
    return out;
  }

  private keyed(a: Active): Map<string, VoteGossipRecord> {
    if (!a.keyMap) {
      a.keyMap = new Map();
      a.versions.forEach((r, i) => a.keyMap!.set(`p:${hash64(a.canon[i])}`, r));
      for (const list of a.votes.values()) for (const v of list) a.keyMap.set(recordKey(v), v);
    }
    return a.keyMap;
  }

  private recordsByKeys(want: Array<[string, string[]]>): { proposals: ProposalRecord[]; votes: VoteRecord[] } {
    const proposals: ProposalRecord[] = [];
    const votes: VoteRecord[] = [];
    for (const [id, keys] of want) {
      const a = this.active.get(id);
      if (!a) continue;
      const mine = this.keyed(a);
      this.split(keys.map((k) => mine.get(k)).filter((r): r is VoteGossipRecord => r !== undefined), proposals, votes);
    }
    return { proposals, votes };
  }

  private split(records: VoteGossipRecord[], proposals: ProposalRecord[], votes: VoteRecord[]): void {
    for (const r of records) {
      if (r.kind === "vg_proposal") proposals.push(r);
      else votes.push(r);
    }
  }

  /** Records (and an optional `want`) to one agent, in as many pushes as the wire limits require. */
  private sendRecords(
    to: string, proposals: ProposalRecord[], votes: VoteRecord[], want: Array<[string, string[]]> = [],
    copies?: Map<VoteGossipRecord, VoteGossipRecord>,
  ): void {
    const copy = <T extends VoteGossipRecord>(r: T): T => (copies?.get(r) as T | undefined) ?? clone(r);
    let p = 0;
    let v = 0;
    let first = true;
    while (p < proposals.length || v < votes.length || (first && want.length > 0)) {
      const ps = proposals.slice(p, p + WIRE_LIMITS.maxProposalsPerMsg);
      const vs = votes.slice(v, v + WIRE_LIMITS.maxVotesPerMsg);
      p += ps.length;
      v += vs.length;
      const msg: VoteGossipMsg = { type: "vg_push", proposals: ps.map(copy), votes: vs.map(copy) };
      if (first && want.length > 0) msg.want = want;
      first = false;
      this.send(to, msg);
    }
  }

  private send(to: string, msg: VoteGossipMsg): void {
    this.out.messages.push({ to, msg });
  }

  private jitter(): number {
    // Uniform in [0.75, 1.25) × syncEveryMs, so rounds of different agents do not align.
    return Math.max(1, Math.round(this.opts.syncEveryMs * (0.75 + 0.5 * this.opts.rng.next())));
  }

  private newActive(versions: ProposalRecord[], canon: string[]): Active {
    const r = versions[0];
    return {
      id: r.proposalId, versions, canon, body: parseBody(r.body) ?? {}, spec: specOf(r), eligible: new Set(r.eligible),
      votes: new Map(), outcome: null, outcomeKey: "", dirty: true, keyMap: null, digest: null,
    };
  }
}

function outcomeKey(o: Outcome): string {
  return `${o.status}|${o.decidedAt}|${o.votes.approve}|${o.votes.reject}|${o.equivocators.join(",")}`;
}

function emptyReady(): VoteReady {
  return { save: [], remove: [], retire: [], forget: [], messages: [], changed: [], equivocations: [], events: [] };
}
