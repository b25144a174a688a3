// The memory store's state machine (`memory_usage`): namespaced keys with JSON values, versions and TTL.
// It is applied in Raft log order on every agent, so every replica holds the same data; a version is
// the log index of the write that produced it. Expiry is a command too: the leader proposes a sweep
// when a TTL runs out, so every replica forgets the same keys at the same log index.
import type { Applied, StateMachine } from "../raft/statemachine";

export type MemCommand =
  | { op: "put"; ns: string; key: string; value: unknown; expiresAt: number | null; at: number }
  | { op: "del"; ns: string; key: string; at: number }
  | { op: "expire"; at: number };

export interface KvRecord {
  ns: string;
  key: string;
  value: unknown;
  version: number;
  expiresAt: number | null;
  updatedAt: number;
}

/** For put: the new version; for del: whether something was deleted; for expire: how many. */
export interface KvResult {
  version?: number;
  deleted?: boolean;
  expired?: number;
}

const rowKey = (ns: string, key: string) => `${ns}/${key}`;
const fin = (x: unknown) => typeof x === "number" && Number.isFinite(x);
const str = (x: unknown) => typeof x === "string" && x.length <= 256;

export class KvStore implements StateMachine {
  readonly name = "kv";
  private readonly map = new Map<string, KvRecord>();
  /**
   * The earliest expiry (null: no key expires; undefined: not known, scan on demand). The leader asks on
   * every input whether a sweep is due, so this must not walk every key each time: it is kept as keys
   * change and rescanned only when the key holding it is replaced or removed.
   */
  private earliest: number | null | undefined = null;

  private changed(before: KvRecord | undefined, after: KvRecord | undefined): void {
    if (this.earliest === undefined) return;
    if (before?.expiresAt != null && before.expiresAt === this.earliest) this.earliest = undefined;
    else if (after?.expiresAt != null && (this.earliest === null || after.expiresAt < this.earliest)) this.earliest = after.expiresAt;
  }

  validCommand(c: unknown): boolean {
    if (!c || typeof c !== "object") return false;
    const m = c as Record<string, unknown>;
    if (!fin(m.at)) return false;
    if (m.op === "expire") return true;
    if (!str(m.ns) || !str(m.key)) return false;
    if (m.op === "del") return true;
    return m.op === "put" && "value" in m && (m.expiresAt === null || fin(m.expiresAt));
  }

  apply(index: number, raw: unknown): Applied {
    const cmd = raw as MemCommand;
    switch (cmd.op) {
      case "put": {
        const k = rowKey(cmd.ns, cmd.key);
        const rec: KvRecord = { ns: cmd.ns, key: cmd.key, value: cmd.value, version: index, expiresAt: cmd.expiresAt, updatedAt: cmd.at };
        this.changed(this.map.get(k), rec);
        this.map.set(k, rec);
        return { result: { version: index } satisfies KvResult, puts: [[k, rec]], dels: [] };
      }
      case "del": {
        const k = rowKey(cmd.ns, cmd.key);
        const had = this.map.get(k);
        this.changed(had, undefined);
        this.map.delete(k);
        return { result: { deleted: had !== undefined && !expired(had, cmd.at) } satisfies KvResult, puts: [], dels: had ? [k] : [] };
      }
      case "expire": {
        const dels: string[] = [];
        for (const [k, r] of this.map) if (expired(r, cmd.at)) (this.map.delete(k), dels.push(k));
        if (dels.length > 0) this.earliest = undefined;
        return { result: { expired: dels.length } satisfies KvResult, puts: [], dels };
      }
    }
  }

  get(ns: string, key: string, now: number): KvRecord | null {
    const r = this.map.get(rowKey(ns, key));
    return r && !expired(r, now) ? r : null;
  }

  /** Keys of a namespace in order, after `cursor`, starting with `prefix`. */
  list(ns: string, prefix: string, limit: number, cursor: string | null, now: number): { keys: string[]; next: string | null } {
    const keys: string[] = [];
    for (const r of this.map.values()) {
      if (r.ns !== ns || !r.key.startsWith(prefix) || expired(r, now)) continue;
      if (cursor !== null && r.key <= cursor) continue;
      keys.push(r.key);
    }
    keys.sort();
    const page = keys.slice(0, limit);
    return { keys: page, next: keys.length > limit ? page[page.length - 1] : null };
  }

  /** An expiry sweep is due once the earliest TTL ran out. */
  due(now: number): MemCommand | null {
    const t = this.nextDue();
    return t !== null && t <= now ? { op: "expire", at: now } : null;
  }

  nextDue(): number | null {
    if (this.earliest !== undefined) return this.earliest;
    let t: number | null = null;
    for (const r of this.map.values()) if (r.expiresAt !== null && (t === null || r.expiresAt < t)) t = r.expiresAt;
    return (this.earliest = t);
  }

  snapshot(): KvRecord[] {
    return Array.from(this.map.values(), (r) => ({ ...r }));
  }

  install(data: unknown): Array<[string, unknown]> {
    this.map.clear();
    this.earliest = undefined;
    for (const r of (data as KvRecord[] | null) ?? []) this.map.set(rowKey(r.ns, r.key), { ...r });
    return Array.from(this.map.entries(), ([k, r]) => [k, { ...r }]);
  }

  load(rows: ReadonlyMap<string, unknown>): void {
    this.map.clear();
    this.earliest = undefined;
    for (const [k, r] of rows) this.map.set(k, { ...(r as KvRecord) });
  }

  size(): number {
    return this.map.size;
  }
}

function expired(r: KvRecord, now: number): boolean {
  return r.expiresAt !== null && r.expiresAt <= now;
}
