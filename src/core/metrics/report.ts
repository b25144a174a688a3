// The performance report and the monitor's snapshots, computed from what each agent answers about its
// own buckets (pure: the router gathers the answers; `now` is an argument). Aggregation across agents
// is by metric name: counters add, histograms merge (stats.ts), so a percentile over the swarm is read
// off the merged histogram — never averaged from per-agent percentiles.
import {
  cloneBucket, mean, mergeAll, mergeBucket, percentile, type Bucket, type Stat,
} from "./stats";
import { BUCKET_MS } from "./module";

/** The naive mesh's billed operations per agent-hour: a 3 s round of 1 alarm, 3 calls and 3 rows. */
export const NAIVE_PER_AGENT_HOUR = (3600 / 3) * (1 + 3 + 3);
/** An agent above this load is a hotspot (the seed's "hot (> 0.8 load)"). */
export const HOTSPOT_LOAD = 0.8;

/** Counter names (as the shell and the modules name them) the report reads. */
export const COUNTER = {
  alarms: "alarms",
  peerCalls: "peerCalls",
  peerCallFailures: "peerCallFailures",
  rowsWritten: "rowsWritten",
  messagesOriginated: "messages.messagesOriginated",
  messagesDelivered: "messages.messagesDelivered",
  proposals: "raft.proposals",
} as const;

/** Observed metric names the report reads (every other observed metric is listed under `metrics`). */
export const METRIC = {
  callMs: "network.callMs",
  callFailed: "network.callFailed",
  reachable: "network.reachableFraction",
  alarmLateMs: "platform.alarmLateMs",
  recoveryMs: "partition.recoveryMs",
  leaderElected: "raft.leaderElected",
  suspected: "membership.suspected",
  refuted: "membership.refuted",
  viewChange: "pbft.viewChange",
  logCommitMs: "raft.commitMs",
  logCommitParticipation: "raft.commitParticipation",
  migration: "tasks.migration",
  load: "load",
} as const;

const DECISION = /^decision\.([A-Za-z0-9_-]+)\.(latencyMs|participation)$/;

/** What an agent says about itself now (null fields when it is crashed and answered from storage). */
export interface AgentNow {
  state: string;
  mode: "read-write" | "read-only";
  load: number;
  role: string | null;
  term: number;
  leader: string | null;
  voters: string[];
  /** Fraction of the members this agent reaches now (partition module), null before its first tick. */
  reachableFraction: number | null;
  /** Fraction of the known members it holds live (failure detector). */
  connectivity: number;
  /** A partition episode is in progress here. */
  episodeOpen: boolean;
}

/** One agent's answer: its buckets over the window, merged and as a series, and its state now. */
export interface AgentMetrics {
  agentId: string;
  at: number;
  /** false: crashed; answered from what its storage holds (closed buckets and the last saved one). */
  live: boolean;
  total: Bucket | null;
  series: Bucket[];
  /** Cumulative counters now (live agents), for rates between two snapshots. */
  totals: Record<string, number> | null;
  now: AgentNow | null;
}

export type Timeframe = "1h" | "24h" | "7d";
export const TIMEFRAME_MS: Record<Timeframe, number> = { "1h": 3600_000, "24h": 24 * 3600_000, "7d": 7 * 24 * 3600_000 };
/** Series resolution per timeframe (one bucket, one hour, six hours: 12, 24 and 28 points). */
export const STEP_MS: Record<Timeframe, number> = { "1h": BUCKET_MS, "24h": 3600_000, "7d": 6 * 3600_000 };

export interface Percentiles {
  p50: number | null;
  p99: number | null;
}

export interface MetricSummary {
  count: number;
  sum: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p99: number | null;
}

export interface SeriesPoint {
  start: number;
  from: number;
  to: number;
  throughput: number | null;
  latencyMs: Percentiles;
  connectivity: number | null;
  alarmLateP99Ms: number | null;
  failedPeerCalls: number;
  leaderElections: number;
  billedPerAgentHour: number | null;
}

export interface Report {
  swarmId: string;
  timeframe: Timeframe;
  generatedAt: number;
  window: { from: number | null; to: number | null; seconds: number; agentHours: number; bucketMs: number };
  agents: { total: number; answering: number; reporting: number; missing: string[] };
  network: {
    connectivity: number | null;
    latencyMs: Percentiles;
    throughput: number;
    partitionRecoveryMs: number | null;
    connectivityNow: number | null;
    messages: { originated: number; delivered: number };
    deliveriesPerSec: number;
    partitions: { episodesEnded: number; episodesOpen: number; recoveryMs: Percentiles & { max: number | null }; readOnlyAgents: string[] };
  };
  consensus: {
    decisionLatencyMs: Percentiles;
    participation: number | null;
    byzantineTolerance: number;
    viewChanges: number;
    leaderElections: number;
    voters: number;
    leader: string | null;
    term: number;
    decisions: number;
    protocols: Record<string, { decisions: number; latencyMs: Percentiles; participation: number | null }>;
    logProposals: number;
    /** Log entries a leader proposed and saw commit: proposal → commit at that leader (`raft.commitMs`). */
    logCommits: number;
    logCommitMs: Percentiles;
    /** Mean fraction of the voters holding an entry when it committed (`raft.commitParticipation`). */
    logCommitParticipation: number | null;
  };
  load: {
    variance: number | null;
    migrations: number;
    hotspots: string[];
    utilization: number | null;
    perAgent: Record<string, number>;
  };
  platform: {
    alarmLateMs: Percentiles;
    peerCalls: number;
    failedPeerCalls: number;
    failedCallRate: number | null;
    suspicions: number;
    refutations: number;
    health: unknown;
  };
  cost: {
    /** Billed operations counted over the window (summed over agents). */
    billed: { alarms: number; peerCalls: number; rowsWritten: number; total: number };
    perAgentHour: { alarms: number | null; peerCalls: number | null; rowsWritten: number | null; total: number | null };
    naivePerAgentHour: number;
    ratioToNaive: number | null;
  };
  metrics: Record<string, MetricSummary>;
  series: SeriesPoint[];
}

const round = (x: number | null, digits = 3): number | null => (x === null || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));
const pct = (s: Stat | undefined): Percentiles => ({ p50: s ? round(percentile(s, 50)) : null, p99: s ? round(percentile(s, 99)) : null });
const count = (b: Bucket | null, name: string): number => b?.stats[name]?.sum ?? 0;
const counter = (b: Bucket | null, name: string): number => b?.counters[name] ?? 0;

/** f = ⌊(v − 1) / 3⌋: faulty voters a Byzantine agreement among v tolerates (PBFT, Castro & Liskov 1999, §3). */
export function byzantineTolerance(voters: number): number {
  return voters > 0 ? Math.floor((voters - 1) / 3) : 0;
}

function summarize(s: Stat): MetricSummary {
  return {
    count: s.n, sum: round(s.sum)!, mean: round(mean(s)), min: round(s.n ? s.min : null), max: round(s.n ? s.max : null),
    p50: round(percentile(s, 50)), p99: round(percentile(s, 99)),
  };
}

/** The agent whose view of the log is newest (highest term; the leader's own answer first). */
function freshestNow(agents: readonly AgentMetrics[]): AgentNow | null {
  let best: AgentNow | null = null;
  for (const a of agents) {
    const n = a.now;
    if (!n) continue;
    const better = !best || n.term > best.term || (n.term === best.term && n.role === "leader" && best.role !== "leader") ||
      (n.term === best.term && best.leader === null && n.leader !== null);
    if (better) best = n;
  }
  return best;
}

function perHour(x: number, agentHours: number): number | null {
  return agentHours > 0 ? round(x / agentHours, 1) : null;
}

function point(b: Bucket): SeriesPoint {
  const seconds = (b.to - b.from) / 1000;
  const agentHours = b.observedMs / 3600_000;
  const billed = counter(b, COUNTER.alarms) + counter(b, COUNTER.peerCalls) + counter(b, COUNTER.rowsWritten);
  return {
    start: b.start, from: b.from, to: b.to,
    throughput: seconds > 0 ? round(counter(b, COUNTER.messagesOriginated) / seconds) : null,
    latencyMs: pct(b.stats[METRIC.callMs]),
    connectivity: round(mean(b.stats[METRIC.reachable])),
    alarmLateP99Ms: b.stats[METRIC.alarmLateMs] ? round(percentile(b.stats[METRIC.alarmLateMs], 99)) : null,
    failedPeerCalls: counter(b, COUNTER.peerCallFailures),
    leaderElections: count(b, METRIC.leaderElected),
    billedPerAgentHour: perHour(billed, agentHours),
  };
}

export interface ReportInput {
  swarmId: string;
  timeframe: Timeframe;
  now: number;
  roster: readonly string[];
  agents: readonly AgentMetrics[];
  /** The last cron health check, shown as it is. */
  health: unknown;
}

export function buildReport(i: ReportInput): Report {
  const withData = i.agents.filter((a) => a.total !== null);
  const total = mergeAll(withData.map((a) => a.total!));
  const from = total?.from ?? null;
  const to = total?.to ?? null;
  const seconds = total ? Math.max(0, (total.to - total.from) / 1000) : 0;
  const agentHours = (total?.observedMs ?? 0) / 3600_000;
  const nowOf = freshestNow(i.agents);

  // Network.
  const originated = counter(total, COUNTER.messagesOriginated);
  const delivered = counter(total, COUNTER.messagesDelivered);
  const reachNow = i.agents.map((a) => a.now?.reachableFraction).filter((x): x is number => typeof x === "number");
  const recovery = total?.stats[METRIC.recoveryMs];
  const peerCalls = counter(total, COUNTER.peerCalls);
  const failed = counter(total, COUNTER.peerCallFailures);

  // Consensus: decisions per protocol, by name (`decision.<protocol>.latencyMs|participation`).
  const protocols: Report["consensus"]["protocols"] = {};
  const latencies: Stat[] = [];
  const participations: Stat[] = [];
  for (const [name, s] of Object.entries(total?.stats ?? {})) {
    const m = DECISION.exec(name);
    if (!m) continue;
    const p = (protocols[m[1]] ??= { decisions: 0, latencyMs: { p50: null, p99: null }, participation: null });
    if (m[2] === "latencyMs") {
      p.latencyMs = pct(s);
      latencies.push(s);
    } else {
      p.participation = round(mean(s));
      participations.push(s);
    }
  }
  // Every agent that learns a decision observes it (its own latency and participation), so the swarm's
  // count of decisions is the most any one agent observed, not the sum over agents.
  for (const [name, p] of Object.entries(protocols)) {
    for (const a of withData) p.decisions = Math.max(p.decisions, a.total!.stats[`decision.${name}.participation`]?.n ?? 0);
  }
  const allLatency = mergeStats(latencies);
  const allParticipation = mergeStats(participations);
  const voters = nowOf?.voters.length ?? 0;

  // Load: each agent's mean over the window, then across agents.
  const perAgent: Record<string, number> = {};
  for (const a of withData) {
    const m = mean(a.total!.stats[METRIC.load]);
    if (m !== null) perAgent[a.agentId] = round(m)!;
  }
  const loads = Object.values(perAgent);
  const utilization = loads.length ? loads.reduce((s, x) => s + x, 0) / loads.length : null;
  const variance = utilization === null ? null : loads.reduce((s, x) => s + (x - utilization) ** 2, 0) / loads.length;
  const hotspots = Object.entries(perAgent).filter(([, l]) => l > HOTSPOT_LOAD).map(([id]) => id);

  // Cost per agent-hour, next to the naive mesh.
  const alarms = counter(total, COUNTER.alarms);
  const rows = counter(total, COUNTER.rowsWritten);
  const billed = perHour(alarms + peerCalls + rows, agentHours);

  const metrics: Record<string, MetricSummary> = {};
  for (const name of Object.keys(total?.stats ?? {}).sort()) metrics[name] = summarize(total!.stats[name]);

  // Series: the same point of every agent merged.
  const points = new Map<number, Bucket>();
  for (const a of withData) {
    for (const b of a.series) {
      const p = points.get(b.start);
      if (p) mergeBucket(p, b);
      else points.set(b.start, cloneBucket(b));
    }
  }
  const series = Array.from(points.values()).sort((a, b) => a.start - b.start).map(point);

  const answering = i.agents.filter((a) => a.live);
  const reported = new Set(i.agents.map((a) => a.agentId));
  return {
    swarmId: i.swarmId,
    timeframe: i.timeframe,
    generatedAt: i.now,
    window: { from, to, seconds: round(seconds)!, agentHours: round(agentHours, 4)!, bucketMs: BUCKET_MS },
    agents: {
      total: i.roster.length, answering: answering.length, reporting: withData.length,
      missing: i.roster.filter((id) => !reported.has(id)),
    },
    network: {
      connectivity: round(mean(total?.stats[METRIC.reachable])),
      latencyMs: pct(total?.stats[METRIC.callMs]),
      throughput: seconds > 0 ? round(originated / seconds)! : 0,
      partitionRecoveryMs: recovery && recovery.n ? round(recovery.max)! : null,
      connectivityNow: reachNow.length ? round(reachNow.reduce((s, x) => s + x, 0) / reachNow.length) : null,
      messages: { originated, delivered },
      deliveriesPerSec: seconds > 0 ? round(delivered / seconds)! : 0,
      partitions: {
        episodesEnded: recovery?.n ?? 0,
        episodesOpen: i.agents.filter((a) => a.now?.episodeOpen).length,
        recoveryMs: { ...pct(recovery), max: recovery && recovery.n ? round(recovery.max) : null },
        readOnlyAgents: i.agents.filter((a) => a.now?.mode === "read-only").map((a) => a.agentId),
      },
    },
    consensus: {
      decisionLatencyMs: pct(allLatency ?? undefined),
      participation: round(mean(allParticipation ?? undefined)),
      byzantineTolerance: byzantineTolerance(voters),
      viewChanges: count(total, METRIC.viewChange),
      leaderElections: count(total, METRIC.leaderElected),
      voters,
      leader: nowOf?.leader ?? null,
      term: nowOf?.term ?? 0,
      decisions: Object.values(protocols).reduce((sum, p) => sum + p.decisions, 0),
      protocols,
      logProposals: counter(total, COUNTER.proposals),
      logCommits: total?.stats[METRIC.logCommitMs]?.n ?? 0,
      logCommitMs: pct(total?.stats[METRIC.logCommitMs]),
      logCommitParticipation: round(mean(total?.stats[METRIC.logCommitParticipation])),
    },
    load: {
      variance: round(variance, 4),
      migrations: count(total, METRIC.migration),
      hotspots,
      utilization: round(utilization),
      perAgent,
    },
    platform: {
      alarmLateMs: pct(total?.stats[METRIC.alarmLateMs]),
      peerCalls,
      failedPeerCalls: failed,
      failedCallRate: peerCalls > 0 ? round(failed / peerCalls, 4) : null,
      suspicions: count(total, METRIC.suspected),
      refutations: count(total, METRIC.refuted),
      health: i.health ?? null,
    },
    cost: {
      billed: { alarms, peerCalls, rowsWritten: rows, total: alarms + peerCalls + rows },
      perAgentHour: {
        alarms: perHour(alarms, agentHours), peerCalls: perHour(peerCalls, agentHours), rowsWritten: perHour(rows, agentHours), total: billed,
      },
      naivePerAgentHour: NAIVE_PER_AGENT_HOUR,
      ratioToNaive: billed === null ? null : round(billed / NAIVE_PER_AGENT_HOUR),
    },
    metrics,
    series,
  };
}

function mergeStats(xs: Stat[]): Stat | null {
  if (xs.length === 0) return null;
  const b = mergeAll(xs.map((s) => ({ start: 0, from: 0, to: 0, counters: {}, stats: { x: s }, observedMs: 0 })))!;
  return b.stats.x;
}

// ---- Monitor snapshots ------------------------------------------------------------------------

/** What a monitor snapshot can hold (`metrics=` picks sections; all by default). */
export const SECTIONS = ["agents", "connectivity", "latency", "throughput", "partitions", "consensus", "load", "platform", "cost", "health"] as const;
export type Section = (typeof SECTIONS)[number];

/** A member as one agent's failure detector sees it (the topology). */
export interface MemberLine {
  agentId: string;
  status: string;
  incarnation: number;
  peers: string[];
}

/** What a stream keeps between snapshots: when the last was taken and each agent's cumulative counters. */
export interface SnapshotState {
  at: number;
  totals: Record<string, Record<string, number>>;
}

export interface SnapshotInput {
  swarmId: string;
  seq: number;
  now: number;
  roster: readonly string[];
  agents: readonly AgentMetrics[];
  /** The membership as the agent `via` sees it (null when no agent answered). */
  members: MemberLine[] | null;
  via: string | null;
  prev: SnapshotState | null;
  sections: ReadonlySet<Section>;
  health: unknown;
}

/** Agent ids in natural order: agent-2 before agent-10. */
export function naturalCompare(a: string, b: string): number {
  const xs = a.match(/\d+|\D+/g) ?? [];
  const ys = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i];
    const y = ys[i];
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) return Number(x) - Number(y) || x.length - y.length;
    return x < y ? -1 : 1;
  }
  return xs.length - ys.length;
}

/**
 * One monitor snapshot: the swarm now (topology, modes, leader) and its recent metrics (the agents'
 * current buckets), with rates since the previous snapshot from each agent's cumulative counters.
 */
export function buildSnapshot(i: SnapshotInput): { snapshot: Record<string, unknown>; state: SnapshotState } {
  const r = buildReport({ swarmId: i.swarmId, timeframe: "1h", now: i.now, roster: i.roster, agents: i.agents, health: i.health });
  const byId = new Map(i.agents.map((a) => [a.agentId, a]));
  const totals: Record<string, Record<string, number>> = {};
  for (const a of i.agents) if (a.live && a.totals) totals[a.agentId] = a.totals;
  const out: Record<string, unknown> = {
    seq: i.seq, at: i.now, swarmId: i.swarmId, via: i.via, leader: r.consensus.leader, term: r.consensus.term,
    answering: r.agents.answering, total: r.agents.total,
    modes: {
      "read-write": i.agents.filter((a) => a.now?.mode === "read-write").length,
      "read-only": i.agents.filter((a) => a.now?.mode === "read-only").length,
    },
  };
  const want = (s: Section) => i.sections.has(s);
  if (want("agents")) {
    const ids = Array.from(new Set([...i.roster, ...(i.members ?? []).map((m) => m.agentId)])).sort(naturalCompare);
    const seen = new Map((i.members ?? []).map((m) => [m.agentId, m]));
    out.agents = ids.map((id) => {
      const m = seen.get(id);
      const a = byId.get(id);
      return {
        agentId: id, status: m?.status ?? "unknown", incarnation: m?.incarnation ?? null, peers: m?.peers ?? [],
        answering: a?.live ?? false, mode: a?.now?.mode ?? null, role: a?.now?.role ?? null, load: a?.now?.load ?? null,
        reachable: a?.now?.reachableFraction ?? null,
      };
    });
  }
  if (want("connectivity")) out.connectivity = { now: r.network.connectivityNow, recent: r.network.connectivity };
  if (want("latency")) out.latency = { ...r.network.latencyMs };
  if (want("throughput")) {
    let messagesPerSec = r.network.throughput;
    let deliveriesPerSec = r.network.deliveriesPerSec;
    let overMs = r.window.seconds * 1000;
    if (i.prev && i.now > i.prev.at) {
      const delta = (k: string) => {
        let s = 0;
        for (const [id, t] of Object.entries(totals)) {
          const before = i.prev!.totals[id]?.[k];
          if (before === undefined) continue;
          const d = (t[k] ?? 0) - before;
          s += d < 0 ? (t[k] ?? 0) : d;
        }
        return s;
      };
      overMs = i.now - i.prev.at;
      messagesPerSec = round(delta(COUNTER.messagesOriginated) / (overMs / 1000))!;
      deliveriesPerSec = round(delta(COUNTER.messagesDelivered) / (overMs / 1000))!;
    }
    out.throughput = { messagesPerSec, deliveriesPerSec, overMs };
  }
  if (want("partitions")) {
    out.partitions = {
      readOnly: r.network.partitions.readOnlyAgents, episodesOpen: r.network.partitions.episodesOpen,
      recoveryMs: r.network.partitionRecoveryMs,
    };
  }
  if (want("consensus")) {
    out.consensus = {
      leader: r.consensus.leader, term: r.consensus.term, voters: r.consensus.voters, byzantineTolerance: r.consensus.byzantineTolerance,
      leaderElections: r.consensus.leaderElections, viewChanges: r.consensus.viewChanges, decisionLatencyMs: r.consensus.decisionLatencyMs,
      quorum: r.consensus.leader !== null,
    };
  }
  if (want("load")) {
    const now = i.agents.map((a) => a.now?.load).filter((x): x is number => typeof x === "number");
    const m = now.length ? now.reduce((s, x) => s + x, 0) / now.length : null;
    out.load = {
      utilization: round(m), variance: m === null ? null : round(now.reduce((s, x) => s + (x - m) ** 2, 0) / now.length, 4),
      hotspots: i.agents.filter((a) => (a.now?.load ?? 0) > HOTSPOT_LOAD).map((a) => a.agentId), migrations: r.load.migrations,
    };
  }
  if (want("platform")) out.platform = { alarmLateMs: r.platform.alarmLateMs, failedPeerCalls: r.platform.failedPeerCalls, peerCalls: r.platform.peerCalls };
  if (want("cost")) out.cost = r.cost;
  if (want("health")) out.health = i.health ?? null;
  return { snapshot: out, state: { at: i.now, totals } };
}
