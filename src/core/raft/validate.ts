// Wire validation of Raft messages (they arrive inside peer envelopes from other agents).
import { isId } from "../ids";
import type { Entry, RaftConfig, RaftMsg, Snapshot } from "./raft";

/** Committed entries spreading from the leader through a tree of agents, and pulls by index (module.ts). */
export type TreeMsg =
  /** Committed entries (or the commit alone, or a snapshot): `root` is the leader at `term`, as the sender knows. */
  | { type: "learn"; root: string; term: number; commit: number; commitTerm: number; entries: Entry[]; snapshot?: Snapshot }
  /** "Send me committed entries from index `from`." */
  | { type: "pull"; from: number };

const nat = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

function validConfig(x: unknown): x is RaftConfig {
  if (!x || typeof x !== "object") return false;
  const c = x as Record<string, unknown>;
  return (
    Array.isArray(c.voters) && c.voters.length <= 1000 && c.voters.every(isId) &&
    Array.isArray(c.learners) && c.learners.length <= 1000 && c.learners.every(isId)
  );
}

function validEntry(x: unknown): x is Entry {
  if (!x || typeof x !== "object") return false;
  const e = x as Record<string, unknown>;
  if (!nat(e.index) || e.index < 1 || !nat(e.term)) return false;
  if (e.kind === "noop" || e.kind === "cmd") return true;
  return e.kind === "config" && validConfig(e.config);
}

export function validRaftMsg(x: unknown): x is RaftMsg {
  if (!x || typeof x !== "object") return false;
  const m = x as Record<string, unknown>;
  if (!nat(m.term)) return false;
  switch (m.type) {
    case "vote":
      return typeof m.pre === "boolean" && nat(m.lastIndex) && nat(m.lastTerm);
    case "vote_resp":
      return typeof m.pre === "boolean" && typeof m.granted === "boolean";
    case "app":
      return (
        nat(m.prevIndex) && nat(m.prevTerm) && nat(m.commit) && nat(m.ctx) &&
        Array.isArray(m.entries) && m.entries.length <= 10_000 && m.entries.every(validEntry) &&
        m.entries.every((e, i) => (e as Entry).index === (m.prevIndex as number) + 1 + i)
      );
    case "app_resp":
      return typeof m.ok === "boolean" && nat(m.index) && nat(m.hint) && nat(m.ctx);
    case "check":
      return isId(m.leader);
    case "probe":
      return true;
    case "snap": {
      const s = m.snapshot as Record<string, unknown> | undefined;
      const meta = s?.meta as Record<string, unknown> | undefined;
      return !!s && !!meta && nat(meta.index) && nat(meta.term) && validConfig(meta.config);
    }
    default:
      return false;
  }
}

export function validTreeMsg(x: unknown): x is TreeMsg {
  if (!x || typeof x !== "object") return false;
  const m = x as Record<string, unknown>;
  if (m.type === "pull") return nat(m.from) && m.from >= 1;
  if (m.type !== "learn") return false;
  if (!isId(m.root) || !nat(m.term) || !nat(m.commit) || !nat(m.commitTerm)) return false;
  if (!Array.isArray(m.entries) || m.entries.length > 10_000 || !m.entries.every(validEntry)) return false;
  const es = m.entries as Entry[];
  // Consecutive, ending at or before the commit index they come with.
  if (!es.every((e, i) => i === 0 || e.index === es[i - 1].index + 1)) return false;
  if (es.length && es[es.length - 1].index > m.commit) return false;
  if (m.snapshot !== undefined) {
    const s = m.snapshot as Record<string, unknown> | null;
    const meta = s?.meta as Record<string, unknown> | undefined;
    if (!s || !meta || !nat(meta.index) || !nat(meta.term) || !validConfig(meta.config)) return false;
  }
  return true;
}
