// Shared shapes of the task cores.

/** What one agent's membership view says about a live member (SWIM record plus gossiped soft state). */
export interface MemberInfo {
  id: string;
  /** Declared capabilities. */
  caps: string[];
  /** Declared capacity: how many tasks its worker runs at once (≥ 1). */
  slots: number;
  /** Gossiped load: (queued + running tasks it executes) / slots. Soft and possibly stale. */
  load: number;
  /** Declared resource availability in [0, 1] (default 1). */
  resources?: number;
}

export type Strategy = "dht" | "auction" | "capability";
export type TaskStatus = "queued" | "running" | "done" | "failed";
