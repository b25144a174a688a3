// Partition detection as a module: which members this agent reaches now (reach.ts: direct evidence plus
// beat/age digests riding on SWIM's probes), whether that is a quorum of the log's voters, and so whether
// this side of a partition may accept writes — the agent's `mode`. Reachability is not death: SWIM keeps a
// member cut off by a partition `suspect` (rightly), while this module says at once that it cannot be
// reached.
//
// Evidence fed to the tracker:
//  - every envelope received from a member (the agent's last-heard times, read at each tick), and the
//    digest on each SWIM ping and ack (the piggyback delegate: no extra call in steady state);
//  - every peer call that succeeded: a round trip, so this agent's messages reach that member too;
//  - reach probes: when a member's news goes stale, the tracker asks for a direct `probe` (answered by
//    `probe_ack`, both carrying the digest); a missing answer suspects no one.
// The voter set comes from the log (`raft.voters`), the round from membership (`membership.periodMs`),
// the overlay's diameter from the live members.
import { isId } from "../ids";
import type { CallResult, Context, Envelope, MemberChange, Module, PiggybackDelegate } from "../protocol";
import { diameter } from "../topology/analysis";
import { buildOverlay } from "../topology/overlay";
import { ReachTracker, type PartitionEpisode, type ReachDigest, type ReachStatus } from "./reach";
import { validReachDigest } from "./validate";

/** Exact diameter below this many live members; above, twice this agent's eccentricity (an upper bound). */
const EXACT_DIAMETER_UP_TO = 200;

const NO_VOTERS: readonly string[] = Object.freeze([]) as readonly string[];

export class Partition implements Module {
  readonly name = "partition";
  private tracker: ReachTracker | null = null;
  /** What was last fed to the tracker: member list, voters, timing, and each member's last-heard time. */
  private fedMembers = "";
  private fedTiming = "";
  private fedVoters: readonly string[] | null = null;
  private fedPeriod = 0;
  private membersChanged = true;
  private readonly fedHeard = new Map<string, number>();
  private seq = 0;

  readonly piggyback: PiggybackDelegate = {
    attach: () => this.ensure().digest(this.ctx.now()),
    take: (from, data) => this.ensure().merge(from, data as ReachDigest, this.ctx.now()),
    valid: validReachDigest,
  };

  constructor(private readonly ctx: Context) {
    // Other modules read this side's mode from the facts board (the tasks module freezes its view).
    ctx.publish("partition.mode", () => this.mode());
  }

  /** The tracker, (re)fed with the current membership, voters and timing (only when they changed). */
  private ensure(): ReachTracker {
    const now = this.ctx.now();
    // One shared empty list when there is no log: a fresh `[]` here would never equal `fedVoters` and
    // rebuild the tracker (O(members)) on every call.
    const voters = this.ctx.fact<string[]>("raft.voters") ?? NO_VOTERS;
    const periodMs = this.ctx.fact<number>("membership.periodMs") ?? this.ctx.config.failure.heartbeatMs;
    if (this.tracker && !this.membersChanged && voters === this.fedVoters && periodMs === this.fedPeriod) return this.tracker;
    this.membersChanged = false;
    this.fedVoters = voters;
    this.fedPeriod = periodMs;
    const all = this.ctx.members.all().filter((m) => m.status !== "left");
    const members = all.map((m) => m.id);
    const dead = all.filter((m) => m.status === "dead").map((m) => m.id);
    const key = `${members.join(",")}|${dead.join(",")}|${voters.join(",")}`;
    if (!this.tracker) {
      const hops = this.hops();
      this.tracker = new ReachTracker({ self: this.ctx.self, now, periodMs, hops, members, dead, voters });
      this.fedMembers = key;
      this.fedTiming = `${periodMs}|${hops}`;
      return this.tracker;
    }
    if (key !== this.fedMembers) {
      this.fedMembers = key;
      this.tracker.setMembership({ members, dead, voters }, now);
    }
    const hops = this.hops();
    const timing = `${periodMs}|${hops}`;
    if (timing !== this.fedTiming) {
      this.fedTiming = timing;
      this.tracker.setTiming({ periodMs, hops }, now);
    }
    return this.tracker;
  }

  private hopsCache: { live: string; hops: number } | null = null;

  /** The overlay's diameter (news crosses about one overlay link per round). */
  private hops(): number {
    const live = this.ctx.members.liveIds();
    const key = live.join(",");
    if (this.hopsCache?.live === key) return this.hopsCache.hops;
    const g = buildOverlay(live);
    let hops: number;
    if (live.length <= EXACT_DIAMETER_UP_TO) hops = Math.max(1, diameter(g));
    else hops = 2 * Math.max(1, eccentricity(g, this.ctx.self));
    this.hopsCache = { live: key, hops };
    return hops;
  }

  validate(env: Envelope): string | null {
    if (env.type !== "probe" && env.type !== "probe_ack") return `unknown partition type ${String(env.type)}`;
    if (typeof env.seq !== "number" || !Number.isSafeInteger(env.seq) || env.seq < 0) return "bad partition seq";
    return validReachDigest(env.reach) ? null : "bad partition reach digest";
  }

  receive(env: Envelope): void {
    const t = this.ensure();
    const now = this.ctx.now();
    t.merge(env.from, env.reach as ReachDigest, now);
    if (env.type === "probe") this.ctx.send(env.from, "probe_ack", { seq: env.seq, reach: t.digest(now) });
    else t.heard(env.from, now, "ack");
  }

  tick(now: number): void {
    if (!this.ctx.active()) return;
    const t = this.ensure();
    // Direct evidence: every envelope this agent received since the last tick, from any module.
    for (const id of this.ctx.members.liveIds()) {
      const at = this.ctx.members.lastHeardAt(id);
      if (at === undefined || at <= (this.fedHeard.get(id) ?? -Infinity)) continue;
      this.fedHeard.set(id, at);
      t.heard(id, at, "envelope");
    }
    const r = t.tick(now);
    for (const id of r.probe) {
      if (!isId(id)) continue;
      this.ctx.send(id, "probe", { seq: ++this.seq, reach: t.digest(now) });
    }
    for (const e of r.events) this.ctx.log("info", "partition", { detail: e });
    this.ctx.observe("network.reachableFraction", ((s) => (s && s.members > 0 ? s.reachableMembers.length / s.members : 1))(t.lastStatus()));
    if (r.events.some((e) => e.startsWith("partition episode ended"))) this.ctx.observe("partition.recoveryMs", t.episodes().at(-1)?.recoveryMs ?? 0);
  }

  /** A peer call that succeeded is a round trip: this agent's messages reach that member too. */
  onCall(r: CallResult): void {
    if (r.ok) this.tracker?.heard(r.to, this.ctx.now(), "ack");
  }

  onMemberChange(_c: MemberChange): void {
    this.membersChanged = true;
  }

  nextDeadline(): number | null {
    if (!this.ctx.active() || !this.tracker) return null;
    return this.tracker.nextDeadline(this.ctx.now());
  }

  mode(): "read-write" | "read-only" {
    return this.tracker?.mode() ?? "read-write";
  }

  /** What this side reaches, for the agent view and for the message of a `503 read_only`. */
  status(): ReachStatus | null {
    return this.tracker ? this.tracker.status(this.ctx.now()) : null;
  }

  episodes(): PartitionEpisode[] {
    return this.tracker?.episodes() ?? [];
  }

  describe(): Record<string, unknown> {
    const s = this.status();
    if (!s) return { partition: null };
    return {
      partition: {
        mode: s.mode, rule: s.rule, reachableVoters: s.reachableVoters, voters: s.voters, quorum: s.quorum,
        voterQuorum: s.voterQuorum, reachableMembers: s.reachableMembers.length, members: s.members,
        memberMajority: s.memberMajority, windowMs: s.windowMs, episodes: this.episodes().slice(-5),
      },
    };
  }

  counters(): Record<string, number> {
    return { ...(this.tracker?.counters ?? { reachProbes: 0, modeChanges: 0, digestsMerged: 0, episodes: 0 }) };
  }
}

/** Hops from `from` to the farthest live member (BFS). */
function eccentricity(g: Map<string, Set<string>>, from: string): number {
  const dist = new Map<string, number>([[from, 0]]);
  const queue = [from];
  let far = 0;
  for (let i = 0; i < queue.length; i++) {
    const u = queue[i];
    for (const v of g.get(u) ?? []) {
      if (dist.has(v)) continue;
      const d = dist.get(u)! + 1;
      dist.set(v, d);
      far = Math.max(far, d);
      queue.push(v);
    }
  }
  return far;
}

/** A one-line account of what this side reaches (the message of a `503 read_only`). */
export function describeReach(s: ReachStatus): string {
  const voters = s.voters
    ? `${s.reachableVoters.length} of ${s.voters} voters (${s.reachableVoters.join(", ") || "none"}; a write needs ${s.quorum})`
    : "no voters";
  const back = s.mode === "read-only" && s.voters > 0 && s.reachableVoters.length >= s.quorum
    ? " — the quorum is back in reach; the side turns writable once that has held for a few rounds (flapping links are damped)"
    : "";
  return `this side reaches ${s.reachableMembers.length} of ${s.members} members and ${voters}${back}`;
}
