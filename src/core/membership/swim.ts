// Membership and failure detection: SWIM (Das, Gupta, Motivala 2002) with Lifeguard's refinements
// (Dadgar et al. 2018), as in hashicorp/memberlist.
//  - Each probe round an agent pings those of its 3–5 overlay peers it has not heard from lately (a
//    ping also tells the target its prober is alive, so each link is probed about once a round).
//  - A missed ack triggers indirect probes through k other members (SWIM §3.1).
//  - A member that still does not answer becomes `suspect` at its incarnation; the record carries who
//    failed to reach it, and every other monitor of that member probes it at once to confirm or not
//    (the seed's failure-confirmation protocol).
//  - The suspicion timeout shrinks as independent confirmations arrive (Lifeguard §4.2, suspicion.ts);
//    only the suspect's monitors may bury it, once a quorum of them confirmed and after one last probe
//    of their own: a refutation still in flight cannot become a false death.
//  - A live member that hears it is suspected refutes with a higher incarnation (SWIM §4.2).
//  - A tick that fires well after its deadline means this agent was not running (a pause, a late
//    alarm): it catches up on queued input before judging anyone (Lifeguard: a slow member must not
//    accuse healthy ones).
// Dissemination: a change is flooded at once over the overlay (each agent forwards it once to its
// 3–5 peers; the overlay has no cut vertex, so every agent is reached even when copies are lost),
// retransmitted a bounded number of times to `fanout` random members on later rounds and piggybacked
// on probes, and repaired by push-pull anti-entropy with one random member about every 10 gossip
// intervals (other modules' state rides on it through their delegates), plus, now and then, with a
// member believed dead (Serf's reconnect: two sides of a healed partition find each other).
// A quiet swarm stretches its round interval (bounded) to save cost.
import { RumorQueue, retransmitLimit } from "../gossip/rumors";
import type { AgentId } from "../ids";
import type { Context, Envelope, InitOptions, MemberChange, MembershipView, Module, Persisted } from "../protocol";
import { buildOverlay, type Graph } from "../topology/overlay";
import {
  cloneMember, digestNewer, digestOf, isLive, mergeConfirmations, STATUS_NAMES, supersedes, type DigestEntry, type Member,
} from "./member";
import { confirmationQuorum, monitorConfirmations, suspicionTimeoutMs } from "./suspicion";
import { validateMembership, type MembershipEnvelope, type MembershipMsg } from "./wire";

/** Tunables that are not part of the swarm config (memberlist's defaults where they apply). */
export const TUNING = {
  /** How many updates ride on one gossip envelope. */
  maxUpdatesPerMessage: 64,
  /** How many updates ride piggyback on a ping or ack. */
  maxPiggyback: 8,
  /** memberlist's RetransmitMult: each update is sent about λ·log10(n+1) times. */
  retransmitMult: 4,
  /** One push-pull anti-entropy exchange every this many gossip intervals (about). */
  syncEveryRounds: 10,
  /** How many seeds a newcomer asks at once. */
  joinSeeds: 3,
  /** SWIM's k: members asked to probe indirectly. */
  indirectProbes: 3,
  /** Expected independent confirmations (Lifeguard's K). */
  expectedConfirmations: 3,
  /** Suspicion timeout floor as a fraction of failure.timeoutMs (Lifeguard's min/max). */
  suspicionMinRatio: 0.7,
  /** Quiet probe rounds before the interval stretches one step (×1.5), and the largest stretch. */
  quietRoundsPerStep: 5,
  maxStretch: 3,
} as const;

const MEMBER_PREFIX = "member:";

interface Probe {
  target: string;
  stage: "direct" | "indirect";
  deadline: number;
  /** A last-chance probe before declaring the target dead: failing it is the verdict. */
  final?: boolean;
  /** Its deadline was already extended once for a late tick (a second late tick does not extend it again). */
  graced?: boolean;
}

interface Relay {
  requester: string;
  seq: number;
  deadline: number;
}

export interface SuspicionView {
  since: number;
  deadline: number;
  confirmations: string[];
  quorum: number;
}

export class Membership implements Module, MembershipView {
  readonly name = "membership";
  private readonly members = new Map<string, Member>();
  private readonly rumors = new RumorQueue<Member>(() => retransmitLimit(TUNING.retransmitMult, this.members.size));
  private readonly probes = new Map<number, Probe>();
  private readonly probing = new Map<string, number>();
  private readonly relays = new Map<number, Relay>();
  private readonly suspicionStart = new Map<string, number>();
  private readonly suspicionCheckAt = new Map<string, number>();
  /** Suspicions whose check was already deferred once for a late tick. */
  private readonly suspicionGraced = new Set<string>();
  /**
   * Serf's reconnect, with back-off: members believed dead are tried again (a push-pull sync) one round
   * after their death, then 2, 4, 8 … rounds, up to the anti-entropy cadence — a partition that heals
   * soon is noticed within rounds, a member that stays dead costs little. `since`: when it was buried.
   */
  private readonly reconnect = new Map<string, { at: number; stepMs: number; since: number }>();
  /** When this agent set each member's current status (soft: a restart forgets it). */
  private readonly statusSince = new Map<string, number>();
  private readonly eager = new Map<string, Member>();
  private seq: number;
  private nextProbeAt: number;
  private nextGossipAt: number;
  private nextSyncAt: number;
  private quietRounds = 0;
  private changedThisRound = false;
  private overlayCache: Graph | null = null;
  private liveCache: string[] | null = null;
  private othersCache: string[] | null = null;
  private readonly stats = {
    ticks: 0, probeRounds: 0, pings: 0, indirectProbes: 0, suspicionsRaised: 0, refutations: 0, deathsDeclared: 0,
    membershipChanges: 0, lateTicks: 0,
  };

  constructor(private readonly ctx: Context) {
    const now = ctx.now();
    this.seq = ctx.rng.int(1 << 30);
    // A random phase spreads the swarm's rounds over the interval instead of firing all at once.
    const phase = Math.max(1, Math.floor(ctx.rng.next() * this.config.failure.heartbeatMs));
    this.nextProbeAt = now + phase;
    this.nextGossipAt = now + phase;
    this.nextSyncAt = now + phase + Math.floor(ctx.rng.next() * TUNING.syncEveryRounds * this.config.gossip.intervalMs);
  }

  private get config() {
    return this.ctx.config;
  }

  private get selfId(): string {
    return this.ctx.self;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  init(o: InitOptions): void {
    // Agents created together know each other's initial record (version 1, no capabilities, one slot)
    // without a word exchanged. An agent whose own record differs starts at version 2 and spreads it.
    const plain = (o.caps ?? []).length === 0 && (o.slots ?? 1) === 1;
    const me: Member = {
      id: this.ctx.self, inc: 0, status: "alive", ver: plain ? 1 : 2, caps: o.caps ?? [], slots: o.slots ?? 1, load: 0,
    };
    this.members.set(me.id, me);
    this.persistMember(me);
    for (const id of o.roster ?? []) if (!this.members.has(id)) this.members.set(id, rosterRecord(id));
    if (!o.roster?.length || !plain) this.spread(me);
    this.join(o.seeds ?? []);
  }

  restore(p: Persisted, roster: readonly string[], afterCrash: boolean): void {
    // Roster members are implied by the agent's meta row; stored rows (anything that changed) override them.
    for (const id of roster) this.members.set(id, rosterRecord(id));
    for (const [k, v] of p.rows) {
      if (!k.startsWith(MEMBER_PREFIX)) continue;
      const m = { ...(v as Member), load: 0 };
      this.members.set(m.id, m);
      if (m.status === "suspect") this.suspicionStart.set(m.id, this.ctx.now());
    }
    const me = this.members.get(this.selfId);
    if (!me) throw new Error("persisted state lacks the agent's own record");
    if (!this.ctx.active()) return;
    if (afterCrash || me.status !== "alive") {
      // After a crash: come back at a higher incarnation so that anyone who buried us takes us back.
      const next: Member = { ...me, inc: me.inc + 1, ver: me.ver + 1, status: "alive" };
      delete next.by;
      this.members.set(me.id, next);
      this.persistMember(next);
      this.spread(next);
      this.ctx.log("info", "restarted", { incarnation: next.inc });
    } else {
      this.ctx.log("info", "restored");
    }
    this.join(this.peers());
  }

  /** Graceful leave: announce `left` to a spread of members (the agent then stops ticking). */
  onLeave(): void {
    const me = this.self();
    if (me.status === "left") return;
    const next: Member = { ...me, status: "left", ver: me.ver + 1 };
    this.members.set(me.id, next);
    this.invalidate();
    this.persistMember(next);
    for (const to of this.random(2 * this.config.gossip.fanout)) this.ctx.send(to, "gossip", { updates: [cloneMember(next)] });
    this.ctx.log("info", "left");
  }

  // ---- inputs -------------------------------------------------------------------------------

  validate(env: Envelope): string | null {
    const d = this.ctx.delegates();
    const p = this.ctx.piggybacks();
    return validateMembership(env, {
      digest: (mod, v) => d.get(mod)?.validDigest(v) ?? false,
      data: (mod, v) => d.get(mod)?.validData(v) ?? false,
      piggyback: (mod, v) => p.get(mod)?.valid(v) ?? false,
    });
  }

  tick(now: number, lateMs: number): void {
    this.stats.ticks++;
    if (lateMs > this.config.failure.heartbeatMs / 2) {
      // Input that arrived while we were not running may still be queued behind this tick —
      // refutations among it — so failure verdicts wait one probe timeout. Once per probe and per
      // suspicion: on a platform whose alarms are always late, verdicts are deferred, never suppressed.
      this.stats.lateTicks++;
      const grace = now + this.probeTimeoutMs;
      for (const p of this.probes.values()) {
        if (!p.graced && p.deadline < grace) (p.deadline = grace), (p.graced = true);
      }
      for (const [id, t] of this.suspicionCheckAt) {
        if (!this.suspicionGraced.has(id) && t < grace) (this.suspicionCheckAt.set(id, grace), this.suspicionGraced.add(id));
      }
    }
    this.expireProbes(now);
    for (const [seq, r] of this.relays) if (r.deadline <= now) this.relays.delete(seq);
    this.checkSuspicions(now);
    if (now >= this.nextProbeAt) this.probeRound(now);
    if (now >= this.nextGossipAt) this.gossipRound(now);
    if (now >= this.nextSyncAt) this.syncRound(now);
  }

  receive(raw: Envelope): void {
    const env = raw as MembershipEnvelope;
    const msg = env as MembershipMsg & { from: AgentId };
    switch (msg.type) {
      case "join":
        this.merge(msg.member, env.from);
        this.ctx.send(env.from, "join_ack", { members: this.all() });
        return;
      case "join_ack":
        for (const m of msg.members) this.merge(m, env.from);
        return;
      case "gossip":
        for (const m of msg.updates) this.merge(m, env.from);
        return;
      case "sync":
        return this.answerSync(env.from, msg.digest, msg.ext ?? {});
      case "sync_ack": {
        for (const m of msg.records) this.merge(m, env.from);
        const records: Member[] = [];
        for (const id of msg.want) {
          const m = this.members.get(id);
          if (m) records.push(cloneMember(m));
        }
        const ext: Record<string, unknown> = {};
        for (const [mod, part] of Object.entries(msg.ext ?? {})) {
          const d = this.ctx.delegates().get(mod);
          if (!d) continue;
          if (part.data !== undefined) d.merge(part.data, env.from);
          if (part.digest !== undefined) {
            const missing = d.missing(part.digest);
            if (missing !== null) ext[mod] = missing;
          }
        }
        if (records.length > 0 || Object.keys(ext).length > 0) {
          this.ctx.send(env.from, "sync_push", { records, ...(Object.keys(ext).length ? { ext } : {}) });
        }
        return;
      }
      case "sync_push":
        for (const m of msg.records) this.merge(m, env.from);
        for (const [mod, data] of Object.entries(msg.ext ?? {})) this.ctx.delegates().get(mod)?.merge(data, env.from);
        return;
      case "ping":
        this.takePiggybacks(env.from, msg.ext);
        for (const m of msg.updates) this.merge(m, env.from);
        this.ctx.send(env.from, "ack", { seq: msg.seq, updates: this.rumorsFor(env.from), ...this.piggybacksFor(env.from) });
        return;
      case "ack": {
        this.takePiggybacks(env.from, msg.ext);
        for (const m of msg.updates) this.merge(m, env.from);
        const p = this.probes.get(msg.seq);
        if (p) {
          this.endProbe(msg.seq, p.target, "acked");
          this.ctx.heard(p.target);
          return;
        }
        const r = this.relays.get(msg.seq);
        if (r) {
          this.relays.delete(msg.seq);
          this.ctx.send(r.requester, "ack", { seq: r.seq, updates: [], ...this.piggybacksFor(r.requester) });
        }
        return;
      }
      case "ping_req": {
        const seq = ++this.seq;
        this.relays.set(seq, { requester: env.from, seq: msg.seq, deadline: this.ctx.now() + 2 * this.probeTimeoutMs });
        this.ctx.send(msg.target, "ping", { seq, updates: this.rumorsFor(msg.target), ...this.piggybacksFor(msg.target) });
        return;
      }
    }
  }

  /**
   * A call to a member failed (its Durable Object refused or could not be reached): evidence to act on
   * now, for its monitors (the agents whose verdict counts; anyone else learns by gossip). Not yet
   * probing it: probe it out of turn. Probing it directly: that probe has failed already — go on to the
   * indirect probes at once instead of waiting out the probe timeout.
   */
  onCall(r: { to: AgentId; ok: boolean }): void {
    if (r.ok || !this.ctx.active()) return;
    const m = this.members.get(r.to);
    if (!m || !isLive(m) || !this.neighbours(r.to).includes(this.selfId)) return;
    const seq = this.probing.get(r.to);
    if (seq === undefined) {
      if (m.status === "alive") this.ping(r.to, this.ctx.now());
      return;
    }
    const p = this.probes.get(seq);
    if (p && p.stage === "direct") this.indirect(seq, p, this.ctx.now());
  }

  /** Flood what changed during this input over the overlay (called once per input by the agent). */
  flush(): void {
    if (this.eager.size === 0) return;
    const updates = Array.from(this.eager.values(), cloneMember);
    this.eager.clear();
    if (!this.ctx.active() || this.config.gossip.eager === false) return;
    // Each agent forwards a change once, to each of its 3–5 peers. The overlay has no cut vertex, so
    // every live agent is reached even when some copies are lost — unlike a random fanout, which misses
    // ~e^-fanout of the swarm and leaves them to the next round.
    for (const to of this.peers()) this.ctx.send(to, "gossip", { updates });
  }

  // ---- commands -----------------------------------------------------------------------------

  /**
   * Anti-entropy pushed from outside (topology repair): merge a membership table and ask a spread of
   * members for theirs, so views converge now instead of at the next sync.
   */
  resync(records: Member[]): void {
    for (const m of records) this.merge(m, null);
    for (const to of this.random(this.config.gossip.fanout)) this.sendSync(to);
  }

  /** Probe one member now, out of turn (fault-tolerance `heartbeat_monitor` / `failover_recovery`). */
  probeNow(target: string): boolean {
    if (!this.ctx.active() || target === this.selfId || !this.members.has(target)) return false;
    if (!this.probing.has(target)) this.ping(target, this.ctx.now());
    return true;
  }

  // ---- the view every module reads ------------------------------------------------------------

  self(): Member {
    return this.members.get(this.selfId)!;
  }

  member(id: string): Member | undefined {
    return this.members.get(id);
  }

  all(): Member[] {
    return Array.from(this.members.values(), cloneMember).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  liveIds(): string[] {
    if (!this.liveCache) {
      this.liveCache = [];
      for (const m of this.members.values()) if (isLive(m)) this.liveCache.push(m.id);
      this.liveCache.sort();
    }
    return this.liveCache;
  }

  peers(): string[] {
    if (!this.ctx.active()) return [];
    return this.neighbours(this.selfId);
  }

  neighbours(id: string): string[] {
    return Array.from(this.overlay().get(id) ?? []).sort();
  }

  random(k: number, exclude?: string): string[] {
    if (!this.othersCache) this.othersCache = this.liveIds().filter((id) => id !== this.selfId);
    const others = this.othersCache;
    if (exclude === undefined || !others.includes(exclude)) return this.ctx.rng.sample(others, k);
    return this.ctx.rng.sample(others, k + 1).filter((id) => id !== exclude).slice(0, k);
  }

  lastHeardAt(id: string): number | undefined {
    return this.ctx.heardAt(id);
  }

  /** The overlay every agent computes from the same live set (see topology/overlay.ts). */
  overlay(): Graph {
    if (!this.overlayCache) this.overlayCache = buildOverlay(this.liveIds());
    return this.overlayCache;
  }

  /** Suspicion detail for one member, as this agent sees it. */
  suspicion(id: string): SuspicionView | null {
    const m = this.members.get(id);
    if (!m || m.status !== "suspect") return null;
    const since = this.suspicionStart.get(id) ?? this.ctx.now();
    return {
      since, deadline: since + this.suspicionTimeout(m), confirmations: (m.by ?? []).slice(),
      quorum: confirmationQuorum(this.neighbours(id).length),
    };
  }

  /** Fraction of the known members (those that did not leave) this agent holds live. */
  connectivity(): number {
    let counted = 0;
    for (const m of this.members.values()) if (m.status !== "left") counted++;
    return counted ? Math.round((this.liveIds().length / counted) * 1000) / 1000 : 1;
  }

  /** The current round interval multiplier (1 = configured cadence; grows while the swarm is quiet). */
  stretch(): number {
    return Math.min(TUNING.maxStretch, 1 + 0.5 * Math.floor(this.quietRounds / TUNING.quietRoundsPerStep));
  }

  nextDeadline(): number | null {
    if (!this.ctx.active()) return null;
    let d = Math.min(this.nextProbeAt, this.nextSyncAt);
    if (this.rumors.size > 0) d = Math.min(d, this.nextGossipAt);
    for (const p of this.probes.values()) d = Math.min(d, p.deadline);
    for (const r of this.relays.values()) d = Math.min(d, r.deadline);
    for (const t of this.suspicionCheckAt.values()) d = Math.min(d, t);
    return d;
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }

  describe(): Record<string, unknown> {
    const me = this.self();
    const now = this.ctx.now();
    const g = this.overlay();
    return {
      status: me.status,
      incarnation: me.inc,
      capabilities: me.caps.slice(),
      load: me.load,
      peers: this.peers(),
      connectivity: this.connectivity(),
      membership: this.all().map((m) => ({
        agentId: m.id, status: m.status, incarnation: m.inc,
        lastSeenAt: m.id === me.id ? now : (this.ctx.heardAt(m.id) ?? null),
        statusSince: this.statusSince.get(m.id) ?? null,
        peers: Array.from(g.get(m.id) ?? []).sort(),
      })),
    };
  }

  // ---- rounds -------------------------------------------------------------------------------

  /**
   * How long a direct probe waits for its ack (indirect probes wait twice this): a fifth of the round,
   * at most 500 ms, plus the peer-call round trip this agent measured (Lifeguard: a slow network or a
   * slow self must not look like a dead peer).
   */
  get probeTimeoutMs(): number {
    const base = Math.max(2, Math.min(500, Math.floor(this.config.failure.heartbeatMs / 5)));
    return base + Math.ceil(this.ctx.platform().callP99Ms);
  }

  private probeRound(now: number): void {
    this.stats.probeRounds++;
    if (this.changedThisRound) this.quietRounds = 0;
    else this.quietRounds++;
    this.changedThisRound = false;
    const period = this.config.failure.heartbeatMs * this.stretch();
    this.nextProbeAt = now + period;
    this.ctx.publish("membership.periodMs", period);
    this.reconnectRound(now, period);
    for (const p of this.peers()) {
      if (this.probing.has(p)) continue;
      // Heard from it within this round (it pinged us, or answered): the link is known good.
      const heard = this.ctx.heardAt(p);
      if (heard !== undefined && heard > now - period) continue;
      this.ping(p, now);
    }
  }

  /** Push-pull on its own jittered cadence, plus Serf's reconnect to a member believed dead. */
  private syncRound(now: number): void {
    const every = TUNING.syncEveryRounds * this.config.gossip.intervalMs * this.stretch();
    this.nextSyncAt = now + Math.floor(every * (0.5 + this.ctx.rng.next()));
    const [to] = this.random(1);
    if (to) this.sendSync(to);
  }

  /**
   * One reconnect attempt per round at most: a buried member heard from since its burial first (it is
   * back: sync now), else one whose back-off ran out.
   */
  private reconnectRound(now: number, period: number): void {
    if (this.reconnect.size === 0) return;
    const cap = TUNING.syncEveryRounds * this.config.gossip.intervalMs * this.stretch();
    let pick: string | null = null;
    for (const [id, r] of this.reconnect) {
      if ((this.ctx.heardAt(id) ?? -Infinity) > r.since) {
        pick = id;
        break;
      }
      if (pick === null && r.at <= now) pick = id;
    }
    if (pick === null) return;
    const r = this.reconnect.get(pick)!;
    r.stepMs = Math.min(cap, Math.max(period, 2 * r.stepMs));
    r.at = now + r.stepMs;
    r.since = now;
    this.sendSync(pick);
  }

  private sendSync(to: string): void {
    const ext: Record<string, unknown> = {};
    for (const [mod, d] of this.ctx.delegates()) {
      const dg = d.digest();
      if (dg !== null && dg !== undefined) ext[mod] = dg;
    }
    this.ctx.send(to, "sync", { digest: this.all().map(digestOf), ...(Object.keys(ext).length ? { ext } : {}) });
  }

  private answerSync(from: AgentId, digest: DigestEntry[], theirExt: Record<string, unknown>): void {
    const theirs = new Map<string, DigestEntry>();
    for (const d of digest) theirs.set(d[0], d);
    const records: Member[] = [];
    for (const m of this.members.values()) {
      const d = theirs.get(m.id);
      if (!d || digestNewer(digestOf(m), asMember(d, m))) records.push(cloneMember(m));
    }
    const want: string[] = [];
    for (const d of digest) if (digestNewer(d, this.members.get(d[0]))) want.push(d[0]);
    const ext: Record<string, { data?: unknown; digest?: unknown }> = {};
    for (const [mod, d] of this.ctx.delegates()) {
      const a = d.answer(theirExt[mod] ?? null);
      if (a && (a.data !== undefined || a.digest !== undefined)) ext[mod] = a;
    }
    if (records.length > 0 || want.length > 0 || Object.keys(ext).length > 0) {
      this.ctx.send(from, "sync_ack", { records, want, ...(Object.keys(ext).length ? { ext } : {}) });
    }
  }

  private gossipRound(now: number): void {
    this.nextGossipAt = now + this.config.gossip.intervalMs * this.stretch();
    if (this.rumors.size === 0) return;
    for (const to of this.random(this.config.gossip.fanout)) {
      const updates = this.rumors.take(TUNING.maxUpdatesPerMessage);
      if (updates.length === 0) break;
      this.ctx.send(to, "gossip", { updates: updates.map(cloneMember) });
    }
  }

  private ping(target: string, now: number, final = false): void {
    const seq = ++this.seq;
    this.probes.set(seq, { target, stage: "direct", deadline: now + this.probeTimeoutMs, final });
    this.probing.set(target, seq);
    this.stats.pings++;
    this.ctx.send(target, "ping", { seq, updates: this.rumorsFor(target), ...this.piggybacksFor(target) });
  }

  private expireProbes(now: number): void {
    for (const [seq, p] of this.probes) {
      if (p.deadline > now) continue;
      const m = this.members.get(p.target);
      if (!m || !isLive(m)) {
        this.endProbe(seq, p.target, "gone");
        continue;
      }
      if (p.stage === "direct" && this.indirect(seq, p, now)) continue;
      this.endProbe(seq, p.target, "failed");
      if (p.final) this.declareDead(p.target);
      else this.suspect(p.target, now);
    }
  }

  /** SWIM §3.1: ask k others to probe the target for us; a lossy link is not a dead member. */
  private indirect(seq: number, p: Probe, now: number): boolean {
    const helpers = this.random(TUNING.indirectProbes, p.target);
    if (helpers.length === 0) return false;
    p.stage = "indirect";
    p.deadline = now + 2 * this.probeTimeoutMs;
    this.stats.indirectProbes++;
    for (const h of helpers) this.ctx.send(h, "ping_req", { seq, target: p.target });
    return true;
  }

  private endProbe(seq: number, target: string, outcome: "acked" | "failed" | "gone"): void {
    this.probes.delete(seq);
    if (this.probing.get(target) === seq) this.probing.delete(target);
    this.ctx.output(`probe:${target}`, outcome);
  }

  /** Lifeguard's shrinking timeout, plus room for this agent's own alarm lateness (refutations must get through). */
  private suspicionTimeout(m: Member): number {
    const t = suspicionTimeoutMs(this.config.failure.timeoutMs, m.by?.length ?? 1, TUNING.expectedConfirmations, TUNING.suspicionMinRatio);
    return t + 2 * Math.ceil(this.ctx.platform().alarmLateP99Ms);
  }

  private suspect(target: string, now: number): void {
    const m = this.members.get(target);
    if (!m || (m.status !== "alive" && m.status !== "suspect")) return;
    const by = new Set(m.by && m.status === "suspect" ? m.by : []);
    if (m.status === "suspect" && by.has(this.selfId)) return;
    by.add(this.selfId);
    const next: Member = { ...cloneMember(m), status: "suspect", by: Array.from(by).sort() };
    if (m.status === "alive") {
      this.stats.suspicionsRaised++;
      this.ctx.log("info", "suspect", { agent: target, incarnation: m.inc });
      this.ctx.observe("membership.suspected", 1);
    }
    this.accept(next, m, now);
  }

  /**
   * A suspicion's timer ran out. Only the suspect's monitors — the agents that tried to reach it — may
   * bury it, once a quorum of them confirmed, and only after one last probe of their own fails. Other
   * holders wait for the verdict by gossip; after three timeouts they judge by the confirmations alone
   * (a safety net for when every monitor is gone).
   */
  private checkSuspicions(now: number): void {
    for (const [id, at] of this.suspicionCheckAt) {
      if (at > now) continue;
      const m = this.members.get(id);
      if (!m || m.status !== "suspect") {
        this.suspicionCheckAt.delete(id);
        continue;
      }
      const monitors = this.neighbours(id);
      const quorumMet = monitorConfirmations(m.by, monitors) >= confirmationQuorum(monitors.length);
      const since = this.suspicionStart.get(id) ?? now;
      const lastResort = now - since >= 3 * this.config.failure.timeoutMs;
      if (quorumMet && lastResort) {
        this.declareDead(id);
      } else if (quorumMet && monitors.includes(this.selfId)) {
        if (!this.probing.has(id)) this.ping(id, now, true);
        this.suspicionCheckAt.set(id, now + 4 * this.probeTimeoutMs);
      } else {
        // No quorum yet (the monitors are still probing), or not ours to judge. Look again later.
        this.suspicionCheckAt.set(id, now + this.config.failure.heartbeatMs);
      }
    }
  }

  private declareDead(id: string): void {
    const m = this.members.get(id);
    if (!m || m.status !== "suspect") return;
    const monitors = this.neighbours(id);
    const confirmations = monitorConfirmations(m.by, monitors);
    if (confirmations < confirmationQuorum(monitors.length)) return;
    this.stats.deathsDeclared++;
    this.ctx.log("info", "dead", { agent: id, confirmations, monitors: monitors.length });
    this.suspicionCheckAt.delete(id);
    this.accept({ ...cloneMember(m), status: "dead" }, m, this.ctx.now());
  }

  // ---- merging records ----------------------------------------------------------------------

  /** Merge one record learned from a peer. */
  private merge(m: Member, from: string | null): void {
    const now = this.ctx.now();
    if (m.id === this.selfId) {
      const me = this.self();
      // Someone believes we are suspect or dead at our current incarnation: refute (SWIM §4.2).
      if ((m.status === "suspect" || m.status === "dead") && m.inc >= me.inc && this.ctx.active()) {
        const next: Member = { ...cloneMember(me), inc: m.inc + 1, ver: me.ver + 1, status: "alive" };
        delete next.by;
        this.stats.refutations++;
        this.ctx.log("info", "refuted", { status: m.status, incarnation: m.inc });
        this.ctx.observe("membership.refuted", 1);
        this.accept(next, me, now);
      }
      return;
    }
    const cur = this.members.get(m.id);
    if (!supersedes(m, cur)) {
      if (!cur) return;
      const by = mergeConfirmations(cur, m);
      if (by) {
        this.accept({ ...cloneMember(cur), by }, cur, now);
        return;
      }
      // Same record, fresher soft state (load): keep it in memory only.
      if (cur.inc === m.inc && cur.status === m.status && cur.ver === m.ver) cur.load = m.load;
      return;
    }
    const next = cloneMember(m);
    if (next.status === "alive" || next.status === "left") delete next.by;
    if (!cur) this.ctx.log("debug", "learned", { agent: m.id, from });
    else if (cur.status !== next.status || cur.inc !== next.inc) {
      this.ctx.log("info", "member", { agent: m.id, was: `${cur.status}@${cur.inc}`, now: `${next.status}@${next.inc}` });
    }
    this.accept(next, cur, now);
  }

  /** Install a changed record: persist it, spread it, tell the other modules, confirm what we can check. */
  private accept(next: Member, cur: Member | undefined, now: number): void {
    this.members.set(next.id, next);
    if (cur?.status !== next.status) this.statusSince.set(next.id, now);
    if (!cur || isLive(cur) !== isLive(next)) this.invalidate();
    this.persistMember(next);
    this.spread(next);
    this.changedThisRound = true;
    this.quietRounds = 0;
    this.stats.membershipChanges++;
    if (next.id === this.selfId) return;
    this.ctx.changed({ before: cur && cloneMember(cur), after: cloneMember(next) });
    if (next.status === "suspect") {
      if (!this.suspicionStart.has(next.id) || cur?.status !== "suspect" || cur.inc !== next.inc) {
        this.suspicionStart.set(next.id, now);
      }
      const monitor = this.neighbours(next.id).includes(this.selfId);
      // A monitor starts its last-chance probe early enough for the verdict to land at the timeout.
      const lead = monitor ? 3 * this.probeTimeoutMs : 0;
      this.suspicionCheckAt.set(next.id, this.suspicionStart.get(next.id)! + this.suspicionTimeout(next) - lead);
      // A monitor that has not confirmed yet checks for itself, now (the confirmation protocol).
      if (monitor && !(next.by ?? []).includes(this.selfId) && !this.probing.has(next.id)) this.ping(next.id, now);
    } else {
      this.suspicionStart.delete(next.id);
      this.suspicionCheckAt.delete(next.id);
      this.suspicionGraced.delete(next.id);
    }
    if (next.status === "dead") {
      if (!this.reconnect.has(next.id)) this.reconnect.set(next.id, { at: now + this.config.failure.heartbeatMs, stepMs: 0, since: now });
    } else this.reconnect.delete(next.id);
  }

  private spread(m: Member): void {
    this.rumors.push(m.id, cloneMember(m));
    this.eager.set(m.id, m);
  }

  private persistMember(m: Member): void {
    const row: Omit<Member, "load"> & { load?: number } = cloneMember(m);
    delete row.load;
    this.ctx.persist({ op: "put", key: MEMBER_PREFIX + m.id, value: row });
  }

  private join(seeds: readonly string[]): void {
    const me = this.self();
    const candidates = seeds.filter((s) => s !== this.selfId);
    for (const to of this.ctx.rng.sample(candidates, TUNING.joinSeeds)) this.ctx.send(to, "join", { member: cloneMember(me) });
  }

  /** Updates to ride on a ping/ack to `to`; a suspected target gets its own record (Lifeguard's buddy system). */
  private rumorsFor(to: string): Member[] {
    const out = this.rumors.take(TUNING.maxPiggyback, to).map(cloneMember);
    const t = this.members.get(to);
    if (t && (t.status === "suspect" || t.status === "dead")) out.unshift(cloneMember(t));
    return out;
  }

  /** Other modules' state for a ping or ack to `to` (as `ext`; nothing when no module piggybacks). */
  private piggybacksFor(to: string): { ext?: Record<string, unknown> } {
    const p = this.ctx.piggybacks();
    if (p.size === 0) return {};
    const ext: Record<string, unknown> = {};
    for (const [mod, d] of p) ext[mod] = d.attach(to);
    return { ext };
  }

  private takePiggybacks(from: AgentId, ext: Record<string, unknown> | undefined): void {
    if (!ext) return;
    const p = this.ctx.piggybacks();
    for (const [mod, data] of Object.entries(ext)) p.get(mod)?.take(from, data);
  }

  private invalidate(): void {
    this.overlayCache = null;
    this.liveCache = null;
    this.othersCache = null;
  }
}

/** A roster member's initial record, as every agent created with it knows it. */
function rosterRecord(id: string): Member {
  return { id: id as AgentId, inc: 0, status: "alive", ver: 1, caps: [], slots: 1, load: 0 };
}

/** For the sync reply: their digest entry as a record, to ask whether ours is newer. */
function asMember(d: DigestEntry, m: Member): Member {
  return { id: m.id, inc: d[1], status: STATUS_NAMES[d[2]], ver: d[3], caps: [], slots: 0, load: 0 };
}
