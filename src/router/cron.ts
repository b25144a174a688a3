// Cron trigger: a real health check of every live swarm — which agents answer, whether their alarms
// are armed — recorded in the registry where `GET /v1/swarms/:id` shows it. Agents re-arm a stalled
// alarm while answering.
import type { SwarmHealth } from "../agent/registry";
import type { Env } from "../env";
import { agentStub, mapLimit, registry } from "./mesh";
import { isRefusal } from "../contract";

export async function healthCheck(env: Env, now = Date.now()): Promise<Record<string, SwarmHealth>> {
  const swarms = await registry(env).list();
  const out: Record<string, SwarmHealth> = {};
  for (const s of swarms) {
    const reports = await mapLimit(s.agents, 16, async (id) => {
      try {
        const r = await agentStub(env, s.swarmId, id).health();
        return { id, r: isRefusal(r) ? null : r };
      } catch {
        return { id, r: null };
      }
    });
    const health: SwarmHealth = {
      checkedAt: now,
      agents: s.agents.length,
      answering: reports.filter((x) => x.r).length,
      alarmsArmed: reports.filter((x) => x.r && (x.r.alarmAt !== null || x.r.rearmed)).length,
      rearmed: reports.filter((x) => x.r?.rearmed).map((x) => x.id),
      unreachable: reports.filter((x) => !x.r).map((x) => x.id),
    };
    await registry(env).recordHealth(s.swarmId, health);
    out[s.swarmId] = health;
    if (health.unreachable.length || health.rearmed.length) {
      console.warn(`health ${s.swarmId}: ${health.answering}/${health.agents} answering; unreachable=${health.unreachable.join(",")} rearmed=${health.rearmed.join(",")}`);
    }
  }
  return out;
}
