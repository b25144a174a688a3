// The memory store's state machine (`memory_usage`): namespaced keys with JSON values, versions and TTL.
// It is applied in Raft log order on every agent, so every replica holds the same data; a version is
// the log index of the write that produced it.

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

export interface ApplyResult {
  /** For put: the new version; for del: whether something was deleted; for expire: how many. */
  version?: number;
  deleted?: boolean;
  expired?: number;
  /** Rows the shell must write/delete to keep the persisted copy in step. */
  upserts: KvRecord[];
  removals: Array<[string, string]>;
}

const SEP = "\u0000";

export class KvStore {
  private readonly map = new Map<string, KvRecord>();

  apply(index: number, cmd: MemCommand): ApplyResult {
    switch (cmd.op) {
      case "put": {
        const rec: KvRecord = {
          ns: cmd.ns, key: cmd.key, value: cmd.value, version: index, expiresAt: cmd.expiresAt, updatedAt: cmd.at,
        };
        this.map.set(cmd.ns + SEP + cmd.key, rec);
        return { version: index, upserts: [rec], removals: [] };
      }
      case "del": {
        const k = cmd.ns + SEP + cmd.key;
        const had = this.map.get(k);
        const live = had !== undefined && !expired(had, cmd.at);
        this.map.delete(k);
        return { deleted: live, upserts: [], removals: had ? [[cmd.ns, cmd.key]] : [] };
      }
      case "expire": {
        const removals: Array<[string, string]> = [];
        for (const [k, r] of this.map) {
          if (expired(r, cmd.at)) {
            this.map.delete(k);
            removals.push([r.ns, r.key]);
          }
        }
        return { expired: removals.length, upserts: [], removals };
      }
    }
  }

  get(ns: string, key: string, now: number): KvRecord | null {
    const r = this.map.get(ns + SEP + key);
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

  /** Earliest expiry among stored records (the leader schedules an `expire` command for it). */
  nextExpiry(): number | null {
    let t: number | null = null;
    for (const r of this.map.values()) if (r.expiresAt !== null && (t === null || r.expiresAt < t)) t = r.expiresAt;
    return t;
  }

  snapshot(): KvRecord[] {
    return Array.from(this.map.values(), (r) => ({ ...r }));
  }

  restore(records: KvRecord[]): void {
    this.map.clear();
    for (const r of records) this.map.set(r.ns + SEP + r.key, { ...r });
  }

  size(): number {
    return this.map.size;
  }
}

function expired(r: KvRecord, now: number): boolean {
  return r.expiresAt !== null && r.expiresAt <= now;
}
