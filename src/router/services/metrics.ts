// Reports and the monitor (`performance_report`, `swarm_monitor`): the one implementation behind the
// HTTP routes (src/router/metrics.ts) and the MCP tools. Every agent is asked for its own buckets over
// the window (a crashed one answers from its storage); the pure core (src/core/metrics/report.ts)
// merges them by metric name and computes the report or the snapshot.
import type { MetricsQuery } from "../../contract";
import type { SwarmRecord } from "../../agent/registry";
import {
  buildReport, buildSnapshot, HOTSPOT_LOAD, SECTIONS, STEP_MS, TIMEFRAME_MS,
  type AgentMetrics, type MemberLine, type Report, type Section, type SnapshotState, type Timeframe,
} from "../../core/metrics/report";
import type { Env } from "../../env";
import { badRequest } from "../errors";
import { agentStub, getSwarm, mapLimit } from "../mesh";

const FANOUT_LIMIT = 16;
/** A monitor snapshot covers the agents' current buckets (the last minute reaches into them). */
const SNAPSHOT_WINDOW_MS = 60_000;

export const TIMEFRAMES = ["1h", "24h", "7d"] as const;
export const FORMATS = ["json", "markdown"] as const;
export type Format = (typeof FORMATS)[number];

type Answer = AgentMetrics & { members?: MemberLine[] };

/** Ask every agent of the swarm for its metrics since `since` (agents that cannot be reached are left out). */
async function collect(env: Env, rec: SwarmRecord, since: number, stepMs: number, viewer: string | null = null): Promise<Answer[]> {
  const answers = await mapLimit(rec.agents, FANOUT_LIMIT, async (id) => {
    const q: MetricsQuery = { agentId: id, since, stepMs, members: id === viewer };
    try {
      return (await agentStub(env, rec.swarmId, id).metrics(q)) as Answer;
    } catch {
      return null;
    }
  });
  return answers.filter((a): a is Answer => a !== null);
}

/** `GET /v1/swarms/:id/report` (`performance_report`). */
export async function performanceReport(env: Env, swarmId: string, timeframe: Timeframe = "24h"): Promise<Report> {
  const rec = await getSwarm(env, swarmId, true);
  const now = Date.now();
  const agents = await collect(env, rec, now - TIMEFRAME_MS[timeframe], STEP_MS[timeframe]);
  return buildReport({ swarmId: rec.swarmId, timeframe, now: Date.now(), roster: rec.agents, agents, health: rec.health });
}

/** The `metrics=` list of a monitor request: section names, comma-separated (all when empty). */
export function parseSections(raw: string | string[] | undefined, field = "query.metrics"): Set<Section> {
  const names = (Array.isArray(raw) ? raw : (raw ?? "").split(",")).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) return new Set(SECTIONS);
  const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length) {
    throw badRequest(`Unknown metrics: ${unknown.join(", ")} (known: ${SECTIONS.join(", ")}).`, { field, unknown, known: SECTIONS });
  }
  return new Set(names as Section[]);
}

export interface Monitor {
  swarmId: string;
  sections: Set<Section>;
  seq: number;
  prev: SnapshotState | null;
  /** The agent whose membership view gives the topology (kept while it answers). */
  viewer: string | null;
}

export async function startMonitor(env: Env, swarmId: string, sections: Set<Section>): Promise<Monitor> {
  const rec = await getSwarm(env, swarmId, true);
  return { swarmId: rec.swarmId, sections, seq: 0, prev: null, viewer: null };
}

/**
 * The next snapshot of a monitor (`swarm_monitor`, one event of the stream), stamped `at` = when it was
 * started (`now`: the caller's schedule), so snapshots taken on an interval are that interval apart
 * whatever the time spent asking the agents.
 */
export async function nextSnapshot(env: Env, m: Monitor, now = Date.now()): Promise<Record<string, unknown>> {
  const rec = await getSwarm(env, m.swarmId, true);
  const viewer = m.viewer && rec.agents.includes(m.viewer) ? m.viewer : (rec.agents[0] ?? null);
  const wantsTopology = m.sections.has("agents");
  let agents = await collect(env, rec, now - SNAPSHOT_WINDOW_MS, STEP_MS["1h"], wantsTopology ? viewer : null);
  let members = agents.find((a) => a.members)?.members ?? null;
  if (wantsTopology && !members) {
    // The viewer did not answer: take the first live agent's view instead (and keep it next time).
    const live = agents.find((a) => a.live);
    if (live) {
      const again = (await agentStub(env, rec.swarmId, live.agentId).metrics({ agentId: live.agentId, since: now - SNAPSHOT_WINDOW_MS, stepMs: STEP_MS["1h"], members: true })) as Answer;
      agents = agents.map((a) => (a.agentId === live.agentId ? again : a));
      members = again.members ?? null;
      m.viewer = live.agentId;
    }
  } else if (members) m.viewer = viewer;
  m.seq++;
  const { snapshot, state } = buildSnapshot({
    swarmId: rec.swarmId, seq: m.seq, now, roster: rec.agents, agents, members, via: members ? m.viewer : null,
    prev: m.prev, sections: m.sections, health: rec.health,
  });
  m.prev = state;
  return snapshot;
}

// ---- Markdown ----------------------------------------------------------------------------------

const show = (x: unknown, unit = ""): string => (x === null || x === undefined ? "—" : `${typeof x === "number" ? x.toLocaleString("en-US") : String(x)}${unit}`);
const iso = (t: number | null) => (t === null ? "—" : new Date(t).toISOString());

/** The report as a Markdown document (`format=markdown`). */
export function reportMarkdown(r: Report): string {
  const n = r.network;
  const c = r.consensus;
  const lines = [
    `# Performance report: ${r.swarmId} (${r.timeframe})`,
    "",
    `Window ${iso(r.window.from)} → ${iso(r.window.to)} (${show(r.window.seconds)} s, ${show(r.window.agentHours)} agent-hours); ` +
      `${r.agents.reporting} of ${r.agents.total} agents reporting, ${r.agents.answering} answering now.`,
    "",
    "## Network",
    "",
    "| Metric | Value |",
    "|---|---|",
    `| Connectivity (mean fraction of members reachable) | ${show(n.connectivity)} (now ${show(n.connectivityNow)}) |`,
    `| Peer-call latency p50 / p99 | ${show(n.latencyMs.p50, " ms")} / ${show(n.latencyMs.p99, " ms")} |`,
    `| Throughput (messages entering the mesh) | ${show(n.throughput, "/s")} (${show(n.messages.originated)} messages, ${show(n.messages.delivered)} deliveries) |`,
    `| Partition recovery (longest) | ${show(n.partitionRecoveryMs, " ms")} (${n.partitions.episodesEnded} episode ends seen; ${n.partitions.episodesOpen} open) |`,
    "",
    "## Consensus",
    "",
    "| Metric | Value |",
    "|---|---|",
    `| Decision latency p50 / p99 | ${show(c.decisionLatencyMs.p50, " ms")} / ${show(c.decisionLatencyMs.p99, " ms")} (${c.decisions} decisions) |`,
    `| Participation | ${show(c.participation)} |`,
    `| Byzantine tolerance f = ⌊(v−1)/3⌋ | ${c.byzantineTolerance} (v = ${c.voters} voters) |`,
    `| View changes | ${c.viewChanges} |`,
    `| Leader elections | ${c.leaderElections} (leader ${show(c.leader)}, term ${c.term}) |`,
    ...Object.entries(c.protocols).map(
      ([p, x]) => `| ${p}: decisions, latency p50 / p99, participation | ${x.decisions}, ${show(x.latencyMs.p50, " ms")} / ${show(x.latencyMs.p99, " ms")}, ${show(x.participation)} |`,
    ),
    "",
    "## Load",
    "",
    "| Metric | Value |",
    "|---|---|",
    `| Variance across agents | ${show(r.load.variance)} |`,
    `| Utilization (mean load) | ${show(r.load.utilization)} |`,
    `| Hotspots (load > ${HOTSPOT_LOAD}) | ${r.load.hotspots.length ? r.load.hotspots.join(", ") : "none"} |`,
    `| Migrations | ${r.load.migrations} |`,
    "",
    "## Platform and cost",
    "",
    "| Metric | Value |",
    "|---|---|",
    `| Alarm lateness p50 / p99 | ${show(r.platform.alarmLateMs.p50, " ms")} / ${show(r.platform.alarmLateMs.p99, " ms")} |`,
    `| Peer calls (failed) | ${show(r.platform.peerCalls)} (${show(r.platform.failedPeerCalls)}) |`,
    `| Suspicions raised / refuted | ${r.platform.suspicions} / ${r.platform.refutations} |`,
    `| Billed operations per agent-hour | ${show(r.cost.perAgentHour.total)} (alarms ${show(r.cost.perAgentHour.alarms)}, calls ${show(r.cost.perAgentHour.peerCalls)}, rows ${show(r.cost.perAgentHour.rowsWritten)}) vs naive ${show(r.cost.naivePerAgentHour)}: ratio ${show(r.cost.ratioToNaive)} |`,
    "",
  ];
  const names = Object.keys(r.metrics);
  if (names.length) {
    lines.push("## All observed metrics", "", "| Metric | Count | Mean | p50 | p99 | Max |", "|---|---|---|---|---|---|");
    for (const k of names) {
      const m = r.metrics[k];
      lines.push(`| \`${k}\` | ${m.count} | ${show(m.mean)} | ${show(m.p50)} | ${show(m.p99)} | ${show(m.max)} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}
