// An agent's answer about its own metrics (`MeshAgent.metrics`): its closed buckets over the window,
// read from SQLite on demand (they are a cold prefix: never loaded on restore), plus the current bucket
// from memory — or, when the agent is crashed, the one it last saved — merged, and grouped into a series.
// Also what the agent says about itself now (mode, load, its view of the log, what it reaches).
import type { MetricsQuery } from "../contract";
import type { Node } from "../core/node";
import { BUCKET_MS } from "../core/metrics/module";
import type { AgentMetrics, AgentNow, MemberLine } from "../core/metrics/report";
import { BUCKET_PREFIX, bucketKey, groupBy, mergeAll, revive, validBucket, type Bucket } from "../core/metrics/stats";
import type { Shell } from "./shell";

/** Closed buckets one answer reads at most (7 days of 5-minute buckets, and some). */
const MAX_BUCKETS = (7 * 24 * 3600_000) / BUCKET_MS + 16;

export function agentMetrics(shell: Shell, q: MetricsQuery, now: number): AgentMetrics & { members?: MemberLine[] } {
  const node = shell.chaos.crashed ? null : shell.node;
  // A bucket that started up to two bucket lengths before the window may still reach into it.
  const rows = shell.store.scan("metrics", BUCKET_PREFIX, bucketKey(q.since - 2 * BUCKET_MS), MAX_BUCKETS);
  const buckets: Bucket[] = [];
  for (const [, v] of rows) if (validBucket(v) && v.to > q.since) buckets.push(revive(v));
  let current: Bucket | null = null;
  if (node) {
    const { result, effects } = node.run(now, (m) => m.metrics.current());
    shell.commit(effects);
    current = result;
  } else {
    const saved = shell.store.get<unknown>("metrics", "cur");
    if (validBucket(saved)) current = revive(saved);
  }
  if (current && current.to > q.since) buckets.push(current);
  const out: AgentMetrics & { members?: MemberLine[] } = {
    agentId: node?.meta.self ?? q.agentId,
    at: now,
    live: node !== null,
    total: mergeAll(buckets),
    series: groupBy(buckets, q.stepMs),
    totals: node ? node.mods.metrics.totals() : null,
    now: node ? nowOf(node) : null,
  };
  if (node && q.members) out.members = membersOf(node);
  return out;
}

function nowOf(node: Node): AgentNow {
  const m = node.mods;
  const raft = m.raft.status();
  const reach = m.partition.status();
  const last = m.partition.episodes().at(-1);
  return {
    state: node.meta.state,
    mode: node.mode(),
    load: m.membership.member(node.meta.self)?.load ?? 0,
    role: raft?.role ?? null,
    term: raft?.term ?? 0,
    leader: raft?.leader ?? null,
    voters: raft?.voters ?? [],
    reachableFraction: reach && reach.members > 0 ? reach.reachableMembers.length / reach.members : null,
    connectivity: m.membership.connectivity(),
    episodeOpen: !!last && last.endAt === null,
  };
}

function membersOf(node: Node): MemberLine[] {
  const v = node.mods.membership.describe() as { membership?: Array<{ agentId: string; status: string; incarnation: number; peers: string[] }> };
  return (v.membership ?? []).map((x) => ({ agentId: x.agentId, status: x.status, incarnation: x.incarnation, peers: x.peers }));
}
