// Cron trigger (every minute): a real health check of every live swarm, recorded in the registry where
// `GET /v1/swarms/:id` (`health`), the report and the dashboard show it — and the repairs it can make:
//  - which agents answer, whether their alarms are armed (an agent re-arms a stalled alarm while
//    answering), each one's mode (the sides of a partition) and the log as it sees it;
//  - failover: when the log's leader (as the answering agents know it, at the highest term) does not
//    answer, each answering voter is asked to probe it now (`probeNow`). A failed call to the leader is
//    the log's evidence path (src/core/raft/module.ts `onCall`): the voter forgets the leader, tells the
//    other voters to check it, and the first live voter campaigns — the same rule as when a client's
//    request finds the leader gone, so the cron can depose nobody who answers (a PreVote would fail);
//  - confirmation: an agent that does not answer but that some answering agent does not yet hold dead is
//    probed by its monitors now (`failover_recovery`), so its death is confirmed by their quorum — and
//    its log seat handed on — without waiting for the next suspicion timeout;
//  - no quorum: no answering agent knows a leader (or the leader does not answer) — flagged, since
//    nothing can be written until an election succeeds.
import type { SwarmHealth, SwarmRecord } from "../agent/registry";
import { isRefusal, type HealthReport } from "../contract";
import type { Env } from "../env";
import { agentStub, mapLimit, registry } from "./mesh";
import { faultTolerance } from "./services/fault";

/** Agents a single check asks monitors to probe, per swarm (the rest wait for the next minute). */
const MAX_PROBED = 5;

type Reported = { id: string; r: HealthReport | null };

async function healthOf(env: Env, swarmId: string, ids: readonly string[]): Promise<Reported[]> {
  return mapLimit(ids, 16, async (id) => {
    try {
      const r = await agentStub(env, swarmId, id).health();
      return { id, r: isRefusal(r) ? null : r };
    } catch {
      return { id, r: null };
    }
  });
}

/** The leader the answering agents know at the highest term (null: none knows one). */
function leaderOf(reports: readonly Reported[]): { leader: string; term: number; voters: string[] } | null {
  let best: { leader: string; term: number; voters: string[] } | null = null;
  for (const { r } of reports) {
    const raft = r?.raft;
    if (!raft || raft.leader === null) continue;
    if (!best || raft.term > best.term) best = { leader: raft.leader, term: raft.term, voters: raft.voters };
  }
  return best;
}

export async function checkSwarm(env: Env, s: SwarmRecord, now = Date.now()): Promise<SwarmHealth> {
  const reports = await healthOf(env, s.swarmId, s.agents);
  const answering = reports.filter((x): x is { id: string; r: HealthReport } => x.r !== null);
  const unreachable = reports.filter((x) => !x.r).map((x) => x.id);
  const actions: NonNullable<SwarmHealth["actions"]> = [];
  for (const x of answering) if (x.r.rearmed) actions.push({ action: "rearm", agentId: x.id, detail: "alarm was not armed; re-armed at its next deadline" });

  let known = leaderOf(answering);
  if (known && unreachable.includes(known.leader)) {
    const dead = known.leader;
    const voters = answering.filter((x) => known!.voters.includes(x.id)).map((x) => x.id);
    await mapLimit(voters, 16, async (v) => {
      try {
        await agentStub(env, s.swarmId, v).probeNow(dead);
      } catch {
        // it will be asked again next minute
      }
    });
    const after = leaderOf(await healthOf(env, s.swarmId, voters));
    actions.push({
      action: "failover", agentId: dead,
      detail: `leader of term ${known.term} does not answer; voters ${voters.join(", ") || "(none answering)"} probed it` +
        (after && after.leader !== dead ? `; ${after.leader} leads at term ${after.term}` : "; election under way"),
    });
    if (after && after.term >= known.term) known = after;
  }
  // Agents that do not answer but are not yet held dead by every answering agent: their monitors probe now.
  const unconfirmed = unreachable.filter((id) => id !== known?.leader && answering.some((x) => !(x.r.dead ?? []).includes(id)));
  for (const id of unconfirmed.slice(0, MAX_PROBED)) {
    try {
      const f = await faultTolerance(env, s.swarmId, { agentId: id, strategy: "failover_recovery" });
      actions.push({ action: "probe", agentId: id, detail: `not answering; monitors probed it: ${f.status}` });
    } catch {
      actions.push({ action: "probe", agentId: id, detail: "not answering; its monitors could not be asked" });
    }
  }

  const hasLog = s.config.consensus.voters > 0;
  const leader = known?.leader ?? null;
  return {
    checkedAt: now,
    agents: s.agents.length,
    answering: answering.length,
    alarmsArmed: answering.filter((x) => x.r.alarmAt !== null || x.r.rearmed).length,
    rearmed: answering.filter((x) => x.r.rearmed).map((x) => x.id),
    unreachable,
    leader,
    term: known?.term ?? 0,
    quorum: !hasLog || s.agents.length === 0 || (leader !== null && !unreachable.includes(leader)),
    modes: {
      "read-write": answering.filter((x) => (x.r.mode ?? "read-write") === "read-write").length,
      "read-only": answering.filter((x) => x.r.mode === "read-only").length,
    },
    actions,
  };
}

export async function healthCheck(env: Env, now = Date.now()): Promise<Record<string, SwarmHealth>> {
  const swarms = await registry(env).list();
  const out: Record<string, SwarmHealth> = {};
  for (const s of swarms) {
    const health = await checkSwarm(env, s, now);
    await registry(env).recordHealth(s.swarmId, health);
    out[s.swarmId] = health;
    // One JSON line when there is something to say; a healthy swarm logs nothing.
    if (health.unreachable.length || health.actions?.length || health.quorum === false) {
      console.warn(JSON.stringify({
        level: "warn", swarm: s.swarmId, mod: "cron", event: "health", answering: health.answering, agents: health.agents,
        unreachable: health.unreachable, quorum: health.quorum, leader: health.leader, actions: health.actions,
      }));
    }
  }
  return out;
}
