// Reachability and the write mode: which members this agent can reach *now*, whether that is a quorum of
// the Raft voters, and so whether this side of a partition may accept writes.
//
// Reachability is not death. SWIM answers "has this member crashed?" and, rightly, keeps a member that is
// merely cut off by a partition `suspect` (its own side's monitors still reach it, so the quorum that would
// bury it never forms). This tracker answers a different question with different evidence: "have I heard
// from this member, directly or through others, within the last window?".
//
// Evidence (what counts as "heard"):
//  - direct: any envelope from the member (`heard(id, now, "envelope")`), an ack to my ping
//    (`"ack"`: a round trip, so my messages reach it too), or an ack relayed by a third member for an
//    indirect probe (`"indirect"`: a round trip through that relay);
//  - transitive: every envelope carries a small digest — for each member, its *beat* (a number only that
//    member increments) and how many ms ago the sender believes that beat was emitted. This is the
//    gossip-style failure detector of van Renesse, Minsky and Hayden ("A Gossip-Style Failure Detection
//    Service", Middleware 1998, §2), with one change: the age travels with the beat, so news that spread
//    slowly is not mistaken for fresh news. The receiver's estimate of when a beat was emitted is
//    `now − age`; it is late only by the transit time of the path (ms), never early. For one beat the
//    smallest estimate wins, so a report that loops back cannot make old news look newer; a higher beat
//    is newer news. Beats are compared only with the same member's beats: no clock synchronisation.
//
// Why a digest and not probes: an agent talks to its 3–5 overlay peers every probe round anyway (SWIM
// pings and acks), and a Durable Object bills per call, not per byte. Riding on those envelopes, the
// digest makes steady-state reachability free: news of every member crosses each overlay link once a
// round, so it is at most `hops` rounds old anywhere (hops = overlay diameter). Only when a member's
// news gets older than that (`staleRounds`) does the tracker ask the agent to probe it directly (a
// *reach probe*: a plain ping whose missing ack suspects no one). That happens in a partition (the
// overlay restricted to one side may be disconnected, so news within a side needs those direct calls) and
// after failures; it backs off exponentially per member (three tries in the round before its news
// expires, then 1, 2, 4, 4, … rounds), so a long partition costs a call per 4 rounds per unreachable
// member, not one per round.
//
// Direction matters for writes (my request must reach the leader, its answer must come back). Inbound
// evidence only proves member → me. For voters the tracker also needs me → voter: every agent publishes a
// *hearing report* — the members it has not heard from within the window — and relays the latest report
// of each voter with the digest. A voter counts as reachable when its news is fresh *and* (a recent round
// trip with it, or its fresh report does not list me; a report that newly lists me is believed one round
// later, time for the reach probe it triggers to answer). In a one-way cut (A hears B, B does not hear A),
// B learns nothing from A at all, and A learns from the voters' reports that they do not hear it.
//
// The mode (see `evaluate`): with Raft voters, a side may write iff it reaches a quorum of them (the API
// contract's rule). A voter quorum is exactly what a Raft commit needs, so this never lets through
// anything Raft would not commit, and because two disjoint sides cannot both hold a quorum, at most one
// side is writable once the window has passed. A side that holds the voter quorum but a minority of the
// members stays writable by default: it is the side whose writes will survive the heal, refusing them
// protects nothing (Raft's quorum intersection already does), and with an odd voter count it is what keeps
// one side of every even split (6|6) writable, where the seed's "fewer than half reachable" rule would
// freeze both. The seed's rule is kept as the `voters+majority` policy and, with no voters at all
// (`consensus.voters: 0`, no log), as the rule.
//
// Hysteresis: going read-only is immediate once the evidence has expired (the window already absorbs a
// link that flaps faster than the window); going back to read-write needs the decision to hold for
// `upRounds` rounds, doubled each time the mode falls back soon after coming back (route-flap damping,
// RFC 2439 §4.2), up to `maxUpRounds`.
//
// The bound: every agent whose side holds no voter quorum is read-only within R = staleRounds + 1 rounds
// of the partition (default staleRounds = hops + 1, so R = hops + 2; 12 agents: hops 3, R = 5), plus the
// transit time of the messages already in flight; a one-way cut that only the voters' reports reveal
// takes up to hops + 1 rounds more (the report's trip, and its one round of grace). Rounds are the probe period in force when the
// partition began (a quiet swarm stretches its rounds up to 3×, and the window with them).
//
// Episodes (for `partitionRecoveryMs`): an episode starts when the mode goes read-only or the reachable
// members have been half or fewer for a round; it ends when the mode is read-write and every member not
// known dead is reachable (voters both ways). Recovery is measured from the first sign of the heal this
// agent can see (a member lost when the episode began coming back, after the last such loss) to the end.
//
// Pure: time comes in as `now`; no randomness is needed.
import { hash32 } from "../hash";

export type HeardHow = "ack" | "indirect" | "envelope";
export type Mode = "read-write" | "read-only";
/**
 * voters: writable iff a quorum of the voters is reachable (default; the member majority is reported, not
 * required). voters+majority: also requires a majority of the members (the seed's rule on top of Raft's).
 * majority: the seed's rule alone (what a swarm without a log uses; with a log it is less strict than
 * Raft, kept to show what the voter rule fixes).
 */
export type ModeRule = "voters" | "voters+majority" | "majority";

/** The digest every envelope carries (wire form: plain JSON, validated by `validReachDigest`). */
export interface ReachDigest {
  /** [member, beat, ageMs]: that member's beat and how long ago (sender's estimate) it was emitted. */
  e: Array<[string, number, number]>;
  /** Hearing reports: [member, beat, ageMs, members it has not heard from, 1 if that list was cut short]. */
  d: Array<[string, number, number, string[], 0 | 1]>;
}

export interface MembershipView {
  /** Every member that counts toward the swarm's size: alive, suspect and dead — not those that left. Self included. */
  members: readonly string[];
  /** Of those, the ones the failure detector declared dead: still counted, never reach-probed, not awaited at the end of an episode. */
  dead?: readonly string[];
  /** The current Raft voters (empty: no replicated log). */
  voters: readonly string[];
}

export interface ReachTiming {
  /** The probe period now in force, ms (failure.heartbeatMs × the agent's current stretch). */
  periodMs: number;
  /** Overlay diameter in hops (news crosses about one overlay link per round). */
  hops: number;
}

export interface ReachOptions extends ReachTiming, MembershipView {
  self: string;
  now: number;
  rule?: ModeRule;
  /** Rounds without news before a member is probed directly. Default hops + 1. The window is one round more. */
  staleRounds?: number;
  /** Rounds the decision must hold before read-only turns back to read-write. Default 2; 0 disables the hold. */
  upRounds?: number;
  /** Cap of the damped hold. Default 16. Equal to upRounds disables damping. */
  maxUpRounds?: number;
  /** Reach probes to non-voters allowed per round (voters are always probed when stale). Default 0.25 under the voter rule, else 1. */
  memberProbesPerRound?: number;
  /** Most member entries in one digest (voters always ride; the rest rotate). Default 256. */
  maxEntries?: number;
  /** Longest hearing report. Default 128. */
  maxDeaf?: number;
  /** Episodes kept. Default 32. */
  maxEpisodes?: number;
}

export interface PartitionEpisode {
  startAt: number;
  cause: "read-only" | "minority";
  /** Fewest members reachable (self included) during the episode. */
  minReachable: number;
  /** The first member lost at the start that came back after the last such loss: the first sign of the heal seen here. */
  healSeenAt: number | null;
  endAt: number | null;
  durationMs: number | null;
  /** partitionRecoveryMs: from healSeenAt (or the start, if none) to the end. */
  recoveryMs: number | null;
}

export interface ReachStatus {
  mode: Mode;
  /** The decision before hysteresis. */
  writable: boolean;
  rule: ModeRule;
  reachableMembers: string[];
  members: number;
  memberMajority: boolean;
  reachableVoters: string[];
  voters: number;
  /** Voters needed (⌊v/2⌋+1); 0 when there are no voters. */
  quorum: number;
  /** null when there are no voters. */
  voterQuorum: boolean | null;
  windowMs: number;
  staleMs: number;
}

export interface ReachTickResult {
  /** Members to reach-probe now: send each a ping; its ack is `heard(id, now, "ack")`; no ack means nothing. */
  probe: string[];
  events: string[];
}

export interface ReachCounters {
  reachProbes: number;
  modeChanges: number;
  digestsMerged: number;
  episodes: number;
}

interface Entry {
  /** Highest beat seen (-1: none) and the estimate of when it was emitted (local clock). */
  beat: number;
  beatAt: number;
  /** Last direct evidence (any envelope, ack, relayed ack): member → me. */
  directAt: number;
  /** Last round trip (ack, relayed ack): me → member too. */
  tripAt: number;
  /** Its latest hearing report. */
  reportBeat: number;
  reportAt: number;
  deaf: Set<string> | null;
  deafList: string[];
  deafPartial: boolean;
  /** Since when its reports list me (null: they do not). */
  listedSince: number | null;
  /** Reach probes: when the next may go, and the current back-off step (ms). */
  probeDueAt: number;
  /** Reach probes sent since it went stale (0: none). */
  tries: number;
  /** Reachable at the last tick (for episode accounting). */
  wasFresh: boolean;
}

const NEVER = -Infinity;

export class ReachTracker {
  readonly self: string;
  readonly counters: ReachCounters = { reachProbes: 0, modeChanges: 0, digestsMerged: 0, episodes: 0 };
  private readonly entries = new Map<string, Entry>();
  private members: string[] = [];
  private readonly dead = new Set<string>();
  private voters: string[] = [];
  private voterSet = new Set<string>();
  /**
   * Members probed first and always when stale: the voters, or — in a swarm without a log — the
   * `HUBS` members first by hash. Everyone on a side probes them, so they hear the whole side and spread
   * it back in their acks (see dueProbes).
   */
  private hubSet = new Set<string>();
  private readonly rule: ModeRule;
  private readonly opts: {
    upRounds: number; maxUpRounds: number; maxEntries: number; maxDeaf: number; maxEpisodes: number; memberProbesPerRound: number;
  };
  private tokens = 2;
  private tokensAt = 0;
  private readonly staleRoundsOpt: number | undefined;
  private periodMs = 1;
  private staleMs = 1;
  private windowMs = 2;
  /** A shorter window waits until the longer one has run out (so faster rounds never expire old news early). */
  private pendingTiming: { at: number; periodMs: number; staleMs: number; windowMs: number } | null = null;
  private ownBeat = 0;
  private rotate = 0;
  private mode_: Mode = "read-write";
  private okSince: number | null = null;
  private holdRounds: number;
  private lastUpAt: number | null = null;
  private readonly episodes_: PartitionEpisode[] = [];
  private open: PartitionEpisode | null = null;
  private lastLossAt: number = NEVER;
  /** The members unreachable when the open episode began (its "other side"). */
  private lostAtStart = new Set<string>();
  private minoritySince: number | null = null;
  private lastEval: ReachStatus | null = null;
  private ownReport: { at: number; list: string[]; partial: boolean } | null = null;

  constructor(o: ReachOptions) {
    this.self = o.self;
    this.rule = o.rule ?? "voters";
    this.staleRoundsOpt = o.staleRounds;
    this.opts = {
      upRounds: o.upRounds ?? 2,
      maxUpRounds: Math.max(o.maxUpRounds ?? 16, o.upRounds ?? 2),
      maxEntries: o.maxEntries ?? 256,
      maxDeaf: o.maxDeaf ?? 128,
      maxEpisodes: o.maxEpisodes ?? 32,
      // Member counts decide the mode only under the seed's rule (or with no voters); otherwise they are
      // reported, and a slower trickle is enough.
      memberProbesPerRound: o.memberProbesPerRound ?? (this.rule !== "voters" || o.voters.length === 0 ? 1 : 0.25),
    };
    this.tokensAt = o.now;
    this.holdRounds = this.opts.upRounds;
    this.ownBeat = Math.max(0, Math.floor(o.now));
    this.applyTiming(o.periodMs, o.hops);
    this.setMembership(o, o.now);
  }

  // ---- inputs ---------------------------------------------------------------------------------

  /**
   * The membership changed (SWIM's view, and Raft's voter set). A member seen for the first time gets the
   * benefit of the doubt for one window (as if a round trip with it just ended): a new or restarted agent starts read-write
   * and finds out within R rounds if it should not be.
   */
  setMembership(v: MembershipView, now: number): void {
    const next = new Set(v.members);
    next.add(this.self);
    for (const id of v.voters) next.add(id);
    for (const id of Array.from(this.entries.keys())) if (!next.has(id)) this.entries.delete(id);
    for (const id of next) {
      if (id === this.self || this.entries.has(id)) continue;
      this.entries.set(id, {
        beat: -1, beatAt: NEVER, directAt: now, tripAt: now, reportBeat: -1, reportAt: NEVER, deaf: null, deafList: [],
        deafPartial: false, listedSince: null, probeDueAt: 0, tries: 0, wasFresh: true,
      });
    }
    this.members = Array.from(next).sort();
    this.dead.clear();
    for (const id of v.dead ?? []) if (id !== this.self) this.dead.add(id);
    this.voters = Array.from(new Set(v.voters)).sort();
    this.voterSet = new Set(this.voters);
    this.hubSet = this.voters.length > 0 ? this.voterSet : new Set(hubsOf(this.members));
    this.ownReport = null;
  }

  /** The probe period or the overlay diameter changed. */
  setTiming(t: ReachTiming, now: number): void {
    const stale = (this.staleRoundsOpt ?? t.hops + 1) * t.periodMs;
    const window = stale + t.periodMs;
    if (window >= this.windowMs) {
      this.pendingTiming = null;
      this.applyTiming(t.periodMs, t.hops);
    } else {
      // A quiet swarm speeding up: news gathered at the slow cadence is still valid for the old window.
      this.pendingTiming = { at: now + this.windowMs, periodMs: t.periodMs, staleMs: stale, windowMs: window };
    }
  }

  /** Direct evidence from `id` (see the header for which envelopes count). */
  heard(id: string, now: number, how: HeardHow): void {
    const e = this.entries.get(id);
    if (!e || id === this.self) return;
    if (now > e.directAt) e.directAt = now;
    if (how !== "envelope" && now > e.tripAt) e.tripAt = now;
  }

  /** A digest arrived on an envelope from `from` (already validated). Counts as an envelope heard from `from`. */
  merge(from: string, d: ReachDigest, now: number): void {
    this.counters.digestsMerged++;
    this.heard(from, now, "envelope");
    for (const [id, beat, ageMs] of d.e) {
      const e = this.entries.get(id);
      if (!e || id === this.self) continue;
      const est = now - ageMs;
      if (beat > e.beat || (id === from && beat !== e.beat)) {
        // Newer news (or the member itself restarted its beat: it is the authority on its own beat).
        e.beat = beat;
        e.beatAt = Math.max(e.beatAt, est);
      } else if (beat === e.beat && est < e.beatAt) {
        // The same beat reported along another path: the least delayed estimate is the truest.
        e.beatAt = est;
      }
    }
    for (const [id, beat, ageMs, deaf, partial] of d.d) {
      const e = this.entries.get(id);
      if (!e || id === this.self) continue;
      const est = now - ageMs;
      if (beat > e.reportBeat || (id === from && beat !== e.reportBeat)) {
        e.reportBeat = beat;
        e.reportAt = Math.max(e.reportAt, est);
        e.deafList = deaf.slice();
        e.deaf = new Set(deaf);
        e.deafPartial = partial === 1;
        if (!e.deaf.has(this.self)) e.listedSince = null;
        else if (e.listedSince === null) e.listedSince = now;
      } else if (beat === e.reportBeat && est < e.reportAt) {
        e.reportAt = est;
      }
    }
  }

  /**
   * Expire news, decide the mode (with hysteresis), account episodes, and name the members to
   * reach-probe. Call on every tick of the agent, and at `nextDeadline()`.
   */
  tick(now: number): ReachTickResult {
    const events: string[] = [];
    if (this.pendingTiming && now >= this.pendingTiming.at) {
      const p = this.pendingTiming;
      this.pendingTiming = null;
      this.periodMs = p.periodMs;
      this.staleMs = p.staleMs;
      this.windowMs = p.windowMs;
    }
    this.forgetAncient(now);
    const probe = this.dueProbes(now);
    const s = this.evaluate(now);
    this.applyHysteresis(s, now, events);
    this.accountEpisodes(s, now, events);
    this.lastEval = { ...s, mode: this.mode_ };
    return { probe, events };
  }

  // ---- outputs ---------------------------------------------------------------------------------

  /** The digest to piggyback on an outgoing envelope (any type; the more envelopes carry it, the fresher). */
  digest(now: number): ReachDigest {
    this.ownBeat = Math.max(this.ownBeat + 1, Math.floor(now));
    const e: Array<[string, number, number]> = [[this.self, this.ownBeat, 0]];
    const others: string[] = [];
    for (const id of this.members) {
      if (id === this.self) continue;
      const x = this.entries.get(id)!;
      // Do not relay news older than two windows: it can no longer make anyone fresh.
      if (x.beat < 0 || x.beatAt < now - 2 * this.windowMs) continue;
      if (this.hubSet.has(id)) e.push([id, x.beat, age(now, x.beatAt)]);
      else others.push(id);
    }
    const room = Math.max(0, this.opts.maxEntries - e.length);
    if (others.length <= room) {
      for (const id of others) e.push(entryOf(id, this.entries.get(id)!, now));
    } else {
      // Large swarms: a rotating slice, so each member's news still crosses every link now and then.
      for (let i = 0; i < room; i++) {
        const id = others[(this.rotate + i) % others.length];
        e.push(entryOf(id, this.entries.get(id)!, now));
      }
      this.rotate = (this.rotate + room) % others.length;
    }
    const own = this.ownHearingReport(now);
    const d: Array<[string, number, number, string[], 0 | 1]> = [[this.self, this.ownBeat, 0, own.list, own.partial ? 1 : 0]];
    for (const id of this.voters) {
      if (id === this.self) continue;
      const x = this.entries.get(id);
      if (!x || x.reportBeat < 0 || x.reportAt < now - 2 * this.windowMs) continue;
      d.push([id, x.reportBeat, age(now, x.reportAt), x.deafList, x.deafPartial ? 1 : 0]);
    }
    return { e, d };
  }

  mode(): Mode {
    return this.mode_;
  }

  /** What this agent can reach, as of `now` (a fresh evaluation; the mode is the one the last tick set). */
  status(now: number): ReachStatus {
    return { ...this.evaluate(now), mode: this.mode_ };
  }

  /** The last tick's evaluation (null before the first tick). */
  lastStatus(): ReachStatus | null {
    return this.lastEval;
  }

  episodes(): PartitionEpisode[] {
    return this.episodes_.map((e) => ({ ...e }));
  }

  /** The episode in progress, if any. */
  openEpisode(): PartitionEpisode | null {
    return this.open ? { ...this.open } : null;
  }

  /**
   * When to tick next. Exact for what can change the mode under the voter rule (a voter's news or
   * report expiring, a report's grace ending, the hold ending, a voter's probe coming due); everything
   * else — other members going stale or expiring, their probes — waits for the next half-round slot, so
   * a partition that makes many members stale at scattered times costs at most two extra wake-ups a round
   * for them (each wake-up is a billed alarm).
   */
  nextDeadline(now: number): number {
    let exact = Infinity;
    let coarse = Infinity;
    for (const [id, x] of this.entries) {
      if (id === this.self) continue;
      const at = inboundAt(x);
      const voter = this.voterSet.has(id);
      if (at + this.windowMs > now) {
        if (voter) exact = Math.min(exact, at + this.windowMs);
        else coarse = Math.min(coarse, at + this.windowMs);
      }
      let staleAt = at + this.staleMs;
      if (voter) {
        // The direction me → voter expires on its own clock (last round trip, last usable report).
        const out = Math.max(x.tripAt, this.reportUsable(x) ? x.reportAt : NEVER);
        if (out + this.windowMs > now) exact = Math.min(exact, out + this.windowMs);
        if (x.listedSince !== null && x.listedSince + this.periodMs > now) exact = Math.min(exact, x.listedSince + this.periodMs);
        staleAt = Math.min(staleAt, out + this.staleMs);
      }
      if (this.dead.has(id)) continue;
      if (this.hubSet.has(id)) {
        // Voters' probes are on time: their retries must fit in the round before the news expires.
        exact = Math.min(exact, staleAt > now ? staleAt : x.probeDueAt);
      } else if (staleAt > now) coarse = Math.min(coarse, staleAt);
      else if (this.opts.memberProbesPerRound > 0) coarse = Math.min(coarse, Math.max(x.probeDueAt, this.nextTokenAt()));
    }
    if (this.mode_ === "read-only" && this.okSince !== null) exact = Math.min(exact, this.okSince + this.holdMs());
    if (!this.open && this.minoritySince !== null) coarse = Math.min(coarse, this.minoritySince + this.periodMs);
    if (this.pendingTiming) exact = Math.min(exact, this.pendingTiming.at);
    const slot = Math.max(1, Math.floor(this.periodMs / 2));
    if (Number.isFinite(coarse)) coarse = Math.max(now + 1, Math.ceil(coarse / slot) * slot);
    const d = Math.min(exact, coarse);
    return Number.isFinite(d) ? Math.max(d, now + 1) : now + this.windowMs;
  }

  timing(): { periodMs: number; staleMs: number; windowMs: number; rounds: number } {
    return { periodMs: this.periodMs, staleMs: this.staleMs, windowMs: this.windowMs, rounds: this.windowMs / this.periodMs };
  }

  // ---- internals ------------------------------------------------------------------------------

  private applyTiming(periodMs: number, hops: number): void {
    this.periodMs = Math.max(1, periodMs);
    this.staleMs = Math.max(1, (this.staleRoundsOpt ?? Math.max(0, hops) + 1) * this.periodMs);
    this.windowMs = this.staleMs + this.periodMs;
  }

  private holdMs(): number {
    return this.holdRounds * this.periodMs;
  }

  private fresh(x: Entry, now: number): boolean {
    return inboundAt(x) > now - this.windowMs;
  }

  /** me → voter: a recent round trip, or its fresh, complete hearing report does not list me. */
  private outbound(x: Entry, now: number, within: number, grace = true): boolean {
    if (x.tripAt > now - within) return true;
    if (x.reportAt <= now - within || x.deaf === null || x.deafPartial) return false;
    if (x.listedSince === null) return true;
    // Its report lists me: it has not heard from me within its window. Often only my news is slow to
    // reach it (the overlay restricted to a side can be disconnected), so it is believed one round after
    // it arrived — time for the reach probe it triggers to come back with a round trip.
    return grace && x.tripAt < x.listedSince && now - x.listedSince < this.periodMs;
  }

  /** A hearing report that settles "does it hear me?": complete, and I am not in it. */
  private reportUsable(x: Entry): boolean {
    return x.deaf !== null && !x.deafPartial && !x.deaf.has(this.self);
  }

  private evaluate(now: number): ReachStatus {
    const reachable: string[] = [];
    for (const id of this.members) {
      if (id === this.self || this.fresh(this.entries.get(id)!, now)) reachable.push(id);
    }
    const voters: string[] = [];
    for (const id of this.voters) {
      if (id === this.self) voters.push(id);
      else {
        const x = this.entries.get(id)!;
        if (this.fresh(x, now) && this.outbound(x, now, this.windowMs)) voters.push(id);
      }
    }
    const quorum = this.voters.length > 0 ? Math.floor(this.voters.length / 2) + 1 : 0;
    const voterQuorum = this.voters.length > 0 ? voters.length >= quorum : null;
    const memberMajority = reachable.length * 2 > this.members.length;
    let writable: boolean;
    if (this.rule === "majority" || voterQuorum === null) writable = memberMajority;
    else if (this.rule === "voters+majority") writable = voterQuorum && memberMajority;
    else writable = voterQuorum;
    return {
      mode: this.mode_, writable, rule: this.rule, reachableMembers: reachable, members: this.members.length, memberMajority,
      reachableVoters: voters, voters: this.voters.length, quorum, voterQuorum, windowMs: this.windowMs, staleMs: this.staleMs,
    };
  }

  private applyHysteresis(s: ReachStatus, now: number, events: string[]): void {
    if (!s.writable) {
      this.okSince = null;
      if (this.mode_ === "read-write") {
        this.mode_ = "read-only";
        this.counters.modeChanges++;
        // Fell back soon after coming back: a flapping link. Damp it: the next return waits twice as long.
        if (this.lastUpAt !== null && now - this.lastUpAt < this.opts.maxUpRounds * this.periodMs) {
          this.holdRounds = Math.min(this.opts.maxUpRounds, Math.max(1, this.holdRounds * 2));
        }
        events.push(`mode read-only: ${describe(s)}`);
      }
      return;
    }
    if (this.mode_ === "read-write") {
      // Stable for a while: forget past flapping.
      if (this.lastUpAt !== null && now - this.lastUpAt >= this.opts.maxUpRounds * this.periodMs) this.holdRounds = this.opts.upRounds;
      return;
    }
    if (this.okSince === null) this.okSince = now;
    if (now - this.okSince >= this.holdMs()) {
      this.mode_ = "read-write";
      this.counters.modeChanges++;
      this.lastUpAt = now;
      this.okSince = null;
      events.push(`mode read-write: ${describe(s)}`);
    }
  }

  /**
   * Episodes. The heal is not observable directly; its first sign here is a member that was lost when
   * the episode began coming back. `healSeenAt` is the first such regain after the last such loss, so a
   * member of this side flickering meanwhile (slow news, a lost probe) does not count as the heal.
   */
  private accountEpisodes(s: ReachStatus, now: number, events: string[]): void {
    // A voter counts as reached only both ways (a one-way cut can hide nothing but the way back).
    const reachable = new Set(s.reachableMembers.filter((id) => !this.voterSet.has(id)).concat(s.reachableVoters));
    let everyone = true;
    const open = this.open;
    for (const [id, x] of this.entries) {
      if (id === this.self) continue;
      const isFresh = reachable.has(id);
      if (!isFresh && !this.dead.has(id)) everyone = false;
      if (open && this.lostAtStart.has(id)) {
        if (x.wasFresh && !isFresh) this.lastLossAt = now;
        if (!x.wasFresh && isFresh && (open.healSeenAt === null || open.healSeenAt < this.lastLossAt)) open.healSeenAt = now;
      }
      x.wasFresh = isFresh;
    }
    if (!s.memberMajority) this.minoritySince ??= now;
    else this.minoritySince = null;
    if (!open) {
      // Read-only opens an episode at once; a minority of members only once it has lasted a round (news
      // of one member of this side lagging for a moment is not a partition).
      const minority = this.minoritySince !== null && now - this.minoritySince >= this.periodMs;
      if (this.mode_ === "read-only" || minority) {
        this.open = {
          startAt: now, cause: this.mode_ === "read-only" ? "read-only" : "minority", minReachable: s.reachableMembers.length,
          healSeenAt: null, endAt: null, durationMs: null, recoveryMs: null,
        };
        this.lostAtStart = new Set(this.members.filter((id) => !reachable.has(id)));
        this.lastLossAt = now;
        this.counters.episodes++;
        this.episodes_.push(this.open);
        if (this.episodes_.length > this.opts.maxEpisodes) this.episodes_.shift();
        events.push(`partition episode started (${this.open.cause}): ${describe(s)}`);
      }
      return;
    }
    open.minReachable = Math.min(open.minReachable, s.reachableMembers.length);
    if (this.mode_ === "read-write" && everyone) {
      open.endAt = now;
      open.durationMs = now - open.startAt;
      open.recoveryMs = now - (open.healSeenAt ?? open.startAt);
      this.open = null;
      this.lostAtStart = new Set();
      events.push(`partition episode ended after ${open.durationMs} ms (recovery ${open.recoveryMs} ms)`);
    }
  }

  /**
   * Reach probes. A voter whose news went stale (or whose direction me → voter is unconfirmed) is probed
   * at once, twice more a third of a round apart (before the window runs out), then after 1, 2, 4, 8,
   * 16, 16, … rounds while it stays stale. Those probes also make the voters hubs: a voter hears from everyone who probes it
   * and answers with everything it knows, so news crosses a side even where the overlay restricted to that
   * side is disconnected. Other members are probed on the same back-off but within a budget of
   * `memberProbesPerRound` per round, so a long partition of a large swarm costs O(n) calls a round across
   * the swarm, not O(n²).
   */
  private dueProbes(now: number): string[] {
    const out: string[] = [];
    const members: Array<[string, Entry]> = [];
    for (const [id, x] of this.entries) {
      if (id === this.self || this.dead.has(id)) continue;
      const inStale = inboundAt(x) <= now - this.staleMs;
      const hub = this.hubSet.has(id);
      const outStale = this.voterSet.has(id) && !inStale && !this.outbound(x, now, this.staleMs, false);
      if (!inStale && !outStale) {
        x.tries = 0;
        x.probeDueAt = 0;
        continue;
      }
      if (now < x.probeDueAt) continue;
      if (hub) {
        out.push(id);
        this.backOff(x, now);
      } else {
        members.push([id, x]);
      }
    }
    if (members.length > 0 && this.opts.memberProbesPerRound > 0) {
      this.refillTokens(now);
      // Newly stale first (most likely lagging news, one probe settles it), then the longest waiting.
      members.sort((a, b) => a[1].tries - b[1].tries || a[1].probeDueAt - b[1].probeDueAt || (a[0] < b[0] ? -1 : 1));
      for (const [id, x] of members) {
        if (this.tokens < 1) break;
        this.tokens -= 1;
        out.push(id);
        this.backOff(x, now);
      }
    }
    this.counters.reachProbes += out.length;
    return out.sort();
  }

  private backOff(x: Entry, now: number): void {
    // Three tries a third of a round apart fill the round between "stale" and "expired" (a lost probe or
    // ack must not expire a reachable voter: all three lost at 2% loss each way is ~6·10⁻⁵); then 1, 2, 4,
    // 8, 16 rounds while it stays unreachable.
    x.tries++;
    const third = Math.max(1, Math.floor(this.periodMs / 3));
    const wait = x.tries < 3 ? third : Math.min(MAX_BACKOFF_ROUNDS, 2 ** (x.tries - 3)) * this.periodMs;
    x.probeDueAt = now + wait;
  }

  private nextTokenAt(): number {
    if (this.tokens >= 1) return this.tokensAt;
    return this.tokensAt + Math.ceil(((1 - this.tokens) / this.opts.memberProbesPerRound) * this.periodMs);
  }

  private refillTokens(now: number): void {
    const rate = this.opts.memberProbesPerRound;
    // Up to two saved: a member of this side whose news lags can be confirmed at once even while the
    // trickle to the far side of a partition spends the budget.
    this.tokens = Math.min(Math.max(2, rate), this.tokens + ((now - this.tokensAt) / this.periodMs) * rate);
    this.tokensAt = now;
  }

  /** News older than two windows is forgotten, so a member whose beat went backwards (a reset clock) is taken at its word again. */
  private forgetAncient(now: number): void {
    for (const x of this.entries.values()) {
      if (x.beat >= 0 && x.beatAt < now - 2 * this.windowMs) {
        x.beat = -1;
        x.beatAt = NEVER;
      }
      if (x.reportBeat >= 0 && x.reportAt < now - 2 * this.windowMs) {
        x.reportBeat = -1;
        x.reportAt = NEVER;
        x.deaf = null;
        x.deafList = [];
      }
    }
  }

  /** The members I have not heard from within the window (at most maxDeaf of them; computed once per ms). */
  private ownHearingReport(now: number): { list: string[]; partial: boolean } {
    if (this.ownReport && this.ownReport.at === now) return this.ownReport;
    const list: string[] = [];
    for (const id of this.members) {
      if (id === this.self) continue;
      if (!this.fresh(this.entries.get(id)!, now)) list.push(id);
    }
    const partial = list.length > this.opts.maxDeaf;
    this.ownReport = { at: now, list: partial ? list.slice(0, this.opts.maxDeaf) : list, partial };
    return this.ownReport;
  }
}

/** Hubs of a swarm without voters: a few members every agent agrees on (first by hash). */
export const HUBS = 5;
/** Longest pause between two reach probes of a member that stays unreachable: how long a healed partition can go unnoticed here (the probes cost a call per unreachable member per 4 rounds). */
export const MAX_BACKOFF_ROUNDS = 4;
const HUB_SEED = 0x68756273;

function hubsOf(members: readonly string[]): string[] {
  return members
    .map((id) => ({ id, h: hash32(id, HUB_SEED) }))
    .sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : 1))
    .slice(0, HUBS)
    .map((x) => x.id);
}

function inboundAt(x: Entry): number {
  return Math.max(x.beatAt, x.directAt, x.tripAt);
}

function age(now: number, at: number): number {
  return Math.max(0, Math.round(now - at));
}

function entryOf(id: string, x: Entry, now: number): [string, number, number] {
  return [id, x.beat, age(now, x.beatAt)];
}

function describe(s: ReachStatus): string {
  const v = s.voters > 0 ? `reaches ${s.reachableVoters.length}/${s.voters} voters (quorum ${s.quorum}), ` : "";
  return `${v}${s.reachableMembers.length}/${s.members} members`;
}
