// A state machine driven by the replicated log. Several can share one Raft log (the memory store
// today; votes and key pins next): each command is an entry `{sm, cmd}` applied, in log order, to the
// machine named `sm` on every agent, so every replica holds the same state.

/** What applying one command changed: the rows to write and delete in this machine's store, and the result. */
export interface Applied {
  result: unknown;
  puts: Array<[string, unknown]>;
  dels: string[];
}

export interface StateMachine {
  readonly name: string;
  /** Wire validation of a command inside a log entry (entries arrive from other agents). */
  validCommand(cmd: unknown): boolean;
  apply(index: number, cmd: unknown): Applied;
  /** The whole state, for a Raft snapshot (compaction, InstallSnapshot). */
  snapshot(): unknown;
  /** Replace the state by a snapshot's; returns the rows to store instead of the current ones. */
  install(data: unknown): Array<[string, unknown]>;
  /** Rebuild from this machine's stored rows after a restart. */
  load(rows: ReadonlyMap<string, unknown>): void;
  /** Leader only: a command to propose now (e.g. an expiry sweep), if one is due at `now`. */
  due?(now: number): unknown | null;
  /** When the next `due` command will be (null: none). */
  nextDue?(): number | null;
}

/** A log entry's payload. Entries written before state machines were named carry a bare memory command. */
export interface SmCommand {
  sm: string;
  cmd: unknown;
}

export function asSmCommand(data: unknown): SmCommand {
  if (data && typeof data === "object" && "sm" in data && typeof (data as SmCommand).sm === "string") return data as SmCommand;
  return { sm: "kv", cmd: data };
}

/** A snapshot's payload: each machine's state by name (a bare array is a memory store from before). */
export function asSnapshotData(data: unknown): Record<string, unknown> {
  if (Array.isArray(data)) return { kv: data };
  return data && typeof data === "object" ? (data as Record<string, unknown>) : {};
}
