// The cron's question to one agent (`MeshAgent.health`): is it answering, is its alarm armed — a
// stalled alarm is re-armed here — and what it sees: its mode, its view of the log, the members its
// failure detector holds dead (the cron's repairs act on these; src/router/cron.ts).
import type { HealthReport } from "../contract";
import type { Shell } from "./shell";

export async function checkHealth(shell: Shell, storage: DurableObjectStorage, now: number): Promise<HealthReport> {
  const node = shell.node!;
  const alarmAt = await storage.getAlarm();
  const deadline = node.nextDeadline();
  // Stalled: work is due but no alarm is set, or the alarm is two rounds (and a second) overdue.
  const stalled = deadline !== null && (alarmAt === null || alarmAt < now - 2 * node.meta.config.gossip.intervalMs - 1000);
  if (stalled) {
    shell.forgetAlarm();
    await shell.arm();
  }
  const raft = node.mods.raft.status();
  return {
    agentId: node.meta.self, state: node.meta.state, alarmAt, deadline, stalled, rearmed: stalled, mode: node.mode(),
    raft: raft && { role: raft.role, term: raft.term, leader: raft.leader, voters: raft.voters },
    dead: node.mods.membership.all().filter((m) => m.status === "dead").map((m) => m.id),
  };
}
