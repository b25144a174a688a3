// Fault tolerance (`daa_fault_tolerance`): what the failure detector knows about one agent, gathered
// from the agents that monitor it, and — for `failover_recovery` — a probe by each of them now: each
// monitor answers once its probe ended (acked, or failed directly and through k others), so a failure
// is confirmed (or refuted) and acted on without waiting for the next round. Shared by the HTTP route
// and the MCP tool.
import { isRefusal, type DetectorView, type Refusal } from "../../contract";
import { statusRank } from "../../core/membership/member";
import type { Env } from "../../env";
import { agentStub, getSwarm, mapLimit, requireMember, shuffled } from "../mesh";
import type { FaultToleranceBody } from "../schemas";

export interface FaultReport {
  agentId: string;
  strategy: FaultToleranceBody["strategy"];
  status: string;
  incarnation: number | null;
  lastHeardAt: number | null;
  suspicion: DetectorView["suspicion"];
  confirmedBy: string[];
  monitors: Array<{ agentId: string; status: DetectorView["status"]; lastHeardAt: number | null; probe: string | null }>;
  actions: string[];
}

export async function faultTolerance(env: Env, swarmId: string, body: FaultToleranceBody): Promise<FaultReport> {
  const rec = await getSwarm(env, swarmId, true);
  requireMember(rec, body.agentId);
  const others = rec.agents.filter((a) => a !== body.agentId);
  // Ask everyone else cheaply for its view, then keep the monitors' (the target's overlay peers).
  let monitors = (await views(others, (a) => agentStub(env, swarmId, a).detectorView(body.agentId))).filter((v) => v.isMonitor);
  if (monitors.length === 0) monitors = shuffled(await views(others, (a) => agentStub(env, swarmId, a).detectorView(body.agentId))).slice(0, 3);
  const actions: string[] = [];
  if (body.strategy === "failover_recovery") {
    const probedBy = monitors.map((m) => m.monitor);
    monitors = await views(probedBy, (a) => agentStub(env, swarmId, a).probeNow(body.agentId));
    actions.push(`probed now by ${probedBy.join(", ")}`);
    const failed = monitors.filter((m) => m.probe === "failed").map((m) => m.monitor);
    if (failed.length) actions.push(`no answer to ${failed.join(", ")} (directly or through others)`);
  }
  const worst = monitors.reduce<DetectorView | null>(
    (w, v) => (v.status && (!w || !w.status || statusRank(v.status) > statusRank(w.status)) ? v : w),
    null,
  );
  const status = worst?.status ?? "unknown";
  const confirmedBy = Array.from(new Set(monitors.flatMap((m) => m.confirmedBy))).sort();
  if (status === "suspect") actions.push(`suspected; ${confirmedBy.length} confirmation(s), quorum ${worst?.suspicion?.quorum ?? "?"}`);
  if (status === "dead") actions.push("declared dead by a quorum of its monitors; peers rerouted around it");
  if (status === "alive") actions.push("answering; no action needed");
  const lastHeard = monitors.map((m) => m.lastHeardAt ?? 0).reduce((a, b) => Math.max(a, b), 0);
  return {
    agentId: body.agentId,
    strategy: body.strategy,
    status,
    incarnation: worst?.incarnation ?? null,
    lastHeardAt: lastHeard || null,
    suspicion: worst?.suspicion ?? null,
    confirmedBy,
    monitors: monitors.map((m) => ({ agentId: m.monitor, status: m.status, lastHeardAt: m.lastHeardAt, probe: m.probe })),
    actions,
  };
}

/** Each answering agent's detector view (agents that do not answer are left out). */
async function views(agents: string[], call: (a: string) => Promise<unknown>): Promise<DetectorView[]> {
  const out = await mapLimit(agents, 16, async (a) => {
    try {
      const v = (await call(a)) as DetectorView | Refusal;
      return isRefusal(v) ? null : v;
    } catch {
      return null;
    }
  });
  return out.filter((v): v is DetectorView => v !== null);
}
