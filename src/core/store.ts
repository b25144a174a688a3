// What modules persist: per module, rows of (key → JSON value), written through `StoreOp`s.
//
// One shape for every module keeps the shell small: the Durable Object keeps all modules' rows in one
// SQLite table (src/agent/store.ts), the simulator in this in-memory twin, and one conformance suite
// (test/workers/store-conformance.test.ts) runs the same operations against both and compares what
// they load. Keys are ASCII and compared byte-wise (SQLite's BINARY collation); numbers inside keys are
// zero-padded (`num`) so that key order is numeric order and ranges (a Raft log suffix, a message
// window) are one `delRange`.
import type { Persisted, StoreOp, StoreWrite } from "./protocol";

/** A number as a fixed-width key segment (15 digits: every safe integer we use). */
export function num(n: number): string {
  return String(n).padStart(15, "0");
}

/** The first key after every key that starts with `prefix` (for a prefix's range end). */
export function prefixEnd(prefix: string): string {
  return prefix + "\u007f";
}

export interface LoadedRows extends Persisted {
  rows: Map<string, unknown>;
  /** For each cold prefix, its greatest key (the rows themselves stay on disk). */
  last: Map<string, string>;
}

/** The in-memory twin of the SQLite row store. Values are copied in and out (as JSON would). */
export class MemoryStore {
  private readonly mods = new Map<string, Map<string, unknown>>();
  rowsWritten = 0;

  apply(writes: readonly StoreWrite[]): void {
    for (const w of writes) this.applyOne(w.mod, w.op);
  }

  private applyOne(mod: string, op: StoreOp): void {
    let m = this.mods.get(mod);
    if (!m) this.mods.set(mod, (m = new Map()));
    switch (op.op) {
      case "put":
        m.set(op.key, structuredClone(op.value));
        this.rowsWritten++;
        return;
      case "del":
        m.delete(op.key);
        return;
      case "delRange":
        for (const k of Array.from(m.keys())) if (k >= op.from && k < op.to) m.delete(k);
        return;
    }
  }

  /** Every row of a module except those under a cold prefix (for which only the greatest key is returned). */
  load(mod: string, coldPrefixes: readonly string[] = []): LoadedRows {
    const rows = new Map<string, unknown>();
    const last = new Map<string, string>();
    const m = this.mods.get(mod);
    if (!m) return { rows, last };
    for (const k of Array.from(m.keys()).sort(byteOrder)) {
      const cold = coldPrefixes.find((p) => k.startsWith(p));
      if (cold !== undefined) {
        const l = last.get(cold);
        if (l === undefined || k > l) last.set(cold, k);
      } else rows.set(k, structuredClone(m.get(k)));
    }
    return { rows, last };
  }

  get(mod: string, key: string): unknown {
    const v = this.mods.get(mod)?.get(key);
    return v === undefined ? undefined : structuredClone(v);
  }

  /** Rows under `prefix` with keys greater than `after`, in key order, at most `limit`. */
  scan(mod: string, prefix: string, after: string | null, limit: number): Array<[string, unknown]> {
    const m = this.mods.get(mod);
    if (!m) return [];
    const lo = after ?? "";
    return Array.from(m.entries())
      .filter(([k]) => k.startsWith(prefix) && k > lo)
      .sort((a, b) => byteOrder(a[0], b[0]))
      .slice(0, limit)
      .map(([k, v]) => [k, structuredClone(v)]);
  }

  has(mod: string): boolean {
    return (this.mods.get(mod)?.size ?? 0) > 0;
  }
}

export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
