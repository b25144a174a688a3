// Small request flows of the MeshAgent that only read the node or wait on it (the cron's health check
// is in health.ts): an inbox page, the failure detector's view of one member, and a probe made now.
import type { DetectorView, InboxPage } from "../contract";
import { INBOX_PREFIX, inboxCursor, inboxKey, type InboxEntry } from "../core/messages/log";
import { TIMEOUT, type Shell } from "./shell";

/** Inbox entries after a cursor, oldest first, read from the row store (the inbox is not kept in memory). */
export function inboxPage(s: Shell, after: number, limit: number): InboxPage {
  const rows = s.store.scan("messages", INBOX_PREFIX, after > 0 ? inboxKey(after) : null, limit);
  const messages = rows.map(([k, v]) => ({ cursor: inboxCursor(k), ...(v as InboxEntry) }));
  const last = messages.at(-1);
  return { messages, next: last ? String(last.cursor) : after > 0 ? String(after) : null };
}

export function detectorView(s: Shell, target: string, probe: string | null): DetectorView {
  const mm = s.node!.mods.membership;
  const m = mm.member(target);
  return {
    monitor: s.self, known: !!m, status: m?.status ?? null, incarnation: m?.inc ?? null,
    lastHeardAt: mm.lastHeardAt(target) ?? null, suspicion: mm.suspicion(target),
    confirmedBy: m && (m.status === "suspect" || m.status === "dead") ? (m.by ?? []) : [], isMonitor: mm.peers().includes(target),
    probe,
  };
}

/** Probe now and wait for the outcome: direct, then indirect (3 probe timeouts), plus one second of grace. */
export async function probeNow(s: Shell, target: string): Promise<DetectorView> {
  const { result: started, effects } = s.exec((m) => m.membership.probeNow(target));
  const mm = s.node!.mods.membership;
  const outcome = started ? s.wait<string>("membership", `probe:${target}`, Date.now() + 4 * mm.probeTimeoutMs + 1000) : null;
  await s.commitAndSend(effects);
  const r = await outcome;
  return detectorView(s, target, r === TIMEOUT || r === null ? null : r);
}

// Task requests (`task_orchestrate`, the worker calls) live in their own file.
export { runTask } from "./tasks";
