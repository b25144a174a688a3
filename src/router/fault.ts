// Fault tolerance (`daa_fault_tolerance`): what the failure detector knows about one agent, gathered
// from the agents that monitor it, and — for `failover_recovery` — a probe by each of them now, so a
// failure is confirmed (or refuted) and acted on without waiting for the next round.
import type { IRequest } from "itty-router";
import { z } from "zod";
import type { DetectorView } from "../agent/mesh-agent";
import { isRefusal } from "../agent/names";
import type { Env } from "../env";
import { readJson } from "./body";
import { json } from "./errors";
import { agentStub, getSwarm, mapLimit, requireMember, shuffled } from "./mesh";
import { EmptyQuery, Id, parse, pathId, queryParams } from "./schemas";

export const FaultTolerance = z.strictObject({
  agentId: Id,
  strategy: z.enum(["heartbeat_monitor", "failover_recovery"]),
});

const RANK = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;

export async function faultTolerance(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(FaultTolerance, await readJson(req));
  const rec = await getSwarm(env, swarmId, true);
  requireMember(rec, body.agentId);
  const others = rec.agents.filter((a) => a !== body.agentId);
  // Ask everyone else cheaply for its view, then keep the monitors' (the target's overlay peers).
  const views = await detectorViews(env, swarmId, others, body.agentId);
  let monitors = views.filter((v) => v.isMonitor);
  if (monitors.length === 0) monitors = shuffled(views).slice(0, 3);
  const actions: string[] = [];
  if (body.strategy === "failover_recovery") {
    await mapLimit(monitors, 8, async (v) => {
      try {
        await agentStub(env, swarmId, v.monitor).probeNow(body.agentId);
      } catch {
        // that monitor is gone too; the others decide
      }
    });
    actions.push(`probed now by ${monitors.map((m) => m.monitor).join(", ")}`);
    // Direct and indirect probes time out after 3 × heartbeat/5 (≤ 1.5 s); a loaded agent may defer its
    // verdict by a probe timeout more. Poll the monitors until one reports a failure, or give up then.
    const probeTimeoutMs = Math.max(2, Math.min(500, Math.floor(rec.config.failure.heartbeatMs / 5)));
    const until = Date.now() + Math.min(5000, 6 * probeTimeoutMs + rec.config.failure.heartbeatMs);
    const probedBy = monitors.map((m) => m.monitor);
    for (;;) {
      await new Promise((r) => setTimeout(r, Math.max(20, probeTimeoutMs)));
      monitors = await detectorViews(env, swarmId, probedBy, body.agentId);
      // Settled: buried, or suspected by a quorum of its monitors (the confirmation protocol ran).
      const settled = monitors.some(
        (m) => m.status === "dead" || m.status === "left" || (m.status === "suspect" && m.confirmedBy.length >= (m.suspicion?.quorum ?? 2)),
      );
      if (settled || Date.now() >= until) break;
    }
  }
  const worst = monitors.reduce<DetectorView | null>(
    (w, v) => (v.status && (!w || !w.status || RANK[v.status] > RANK[w.status]) ? v : w),
    null,
  );
  const status = worst?.status ?? "unknown";
  const confirmedBy = Array.from(new Set(monitors.flatMap((m) => m.confirmedBy))).sort();
  if (status === "suspect") actions.push(`suspected; ${confirmedBy.length} confirmation(s), quorum ${worst?.suspicion?.quorum ?? "?"}`);
  if (status === "dead") actions.push("declared dead by a quorum of its monitors; peers rerouted around it");
  if (status === "alive") actions.push("answering; no action needed");
  const lastHeard = monitors.map((m) => m.lastHeardAt ?? 0).reduce((a, b) => Math.max(a, b), 0);
  return json({
    agentId: body.agentId,
    strategy: body.strategy,
    status,
    incarnation: worst?.incarnation ?? null,
    lastHeardAt: lastHeard || null,
    suspicion: worst?.suspicion ?? null,
    confirmedBy,
    monitors: monitors.map((m) => ({ agentId: m.monitor, status: m.status, lastHeardAt: m.lastHeardAt })),
    actions,
  });
}

/** Each answering agent's failure-detector view of `target` (agents that do not answer are left out). */
async function detectorViews(env: Env, swarmId: string, agents: string[], target: string): Promise<DetectorView[]> {
  const views = await mapLimit(agents, 16, async (a) => {
    try {
      const v = await agentStub(env, swarmId, a).detectorView(target);
      return isRefusal(v) ? null : v;
    } catch {
      return null;
    }
  });
  return views.filter((v): v is DetectorView => v !== null);
}
