// The MeshAgent's SQLite storage: every module's rows in one table, `(mod, key) → JSON value`, written
// in one transaction per input (src/core/store.ts describes the model; its in-memory twin is what the
// simulator uses, and test/workers/store-conformance.test.ts holds the two together). Only what must
// survive a restart is written, and only when it changed: rows written are the bill at scale, so every
// write is counted.
import type { LoadedRows } from "../core/store";
import { num, prefixEnd } from "../core/store";
import type { Persisted, StoreWrite } from "../core/protocol";

/**
 * Ordered and append-only: the index + 1 is the schema version. Never edit a shipped migration.
 * Versions 1–3 are the tables of the first releases (one per kind of state); version 4 moves their
 * rows into the per-module row table and drops them.
 */
export const MIGRATIONS: Array<string | ((sql: SqlStorage) => void)> = [
  `CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS members (
     id TEXT PRIMARY KEY, inc INTEGER NOT NULL, status TEXT NOT NULL, ver INTEGER NOT NULL,
     caps TEXT NOT NULL, slots INTEGER NOT NULL);`,
  // v2: suspicion confirmations; agent messages (stream states, the repair window, the inbox).
  `ALTER TABLE members ADD COLUMN by_agents TEXT;
   CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, next INTEGER NOT NULL, assigned INTEGER NOT NULL);
   CREATE TABLE IF NOT EXISTS msglog (stream TEXT NOT NULL, seq INTEGER NOT NULL, msg TEXT NOT NULL,
     PRIMARY KEY (stream, seq)) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS inbox (cursor INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,
     from_label TEXT NOT NULL, body TEXT NOT NULL, sent_at INTEGER NOT NULL, received_at INTEGER NOT NULL);`,
  // v3: the replicated log (Raft) and the memory store it drives.
  `CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, entry TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL,
     expires_at INTEGER, updated_at INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;`,
  // v4: one row table for every module (the agent became a composer of protocol modules).
  (sql) => {
    sql.exec(`CREATE TABLE rows (mod TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (mod, key)) WITHOUT ROWID`);
    const put = (mod: string, key: string, value: unknown) =>
      sql.exec(`INSERT OR REPLACE INTO rows (mod, key, value) VALUES (?, ?, ?)`, mod, key, JSON.stringify(value));
    const metaKeys: Record<string, [string, string]> = {
      agent: ["node", "meta"], chaos: ["shell", "chaos"], raft_hard: ["raft", "hard"], raft_snap: ["raft", "snap"], kv_applied: ["raft", "applied"],
    };
    for (const r of sql.exec<{ k: string; v: string }>(`SELECT k, v FROM meta`)) {
      const to = metaKeys[r.k];
      if (to) put(to[0], to[1], JSON.parse(r.v));
    }
    for (const r of sql.exec<{ id: string; inc: number; status: string; ver: number; caps: string; slots: number; by_agents: string | null }>(
      `SELECT * FROM members`,
    )) {
      put("membership", `member:${r.id}`, {
        id: r.id, inc: r.inc, status: r.status, ver: r.ver, caps: JSON.parse(r.caps), slots: r.slots,
        ...(r.by_agents ? { by: JSON.parse(r.by_agents) } : {}),
      });
    }
    for (const r of sql.exec<{ stream: string; next: number; assigned: number }>(`SELECT * FROM streams`)) {
      put("messages", `stream:${r.stream}`, { next: r.next, assigned: r.assigned });
    }
    for (const r of sql.exec<{ stream: string; seq: number; msg: string }>(`SELECT * FROM msglog`)) {
      put("messages", `log:${r.stream}#${num(r.seq)}`, JSON.parse(r.msg));
    }
    for (const r of sql.exec<{ cursor: number; message_id: string; from_label: string; body: string; sent_at: number; received_at: number }>(
      `SELECT * FROM inbox`,
    )) {
      put("messages", `inbox:${num(r.cursor)}`, {
        messageId: r.message_id, from: r.from_label, message: JSON.parse(r.body), sentAt: r.sent_at, receivedAt: r.received_at,
      });
    }
    for (const r of sql.exec<{ idx: number; entry: string }>(`SELECT * FROM raft_log`)) put("raft", `log:${num(r.idx)}`, JSON.parse(r.entry));
    for (const r of sql.exec<{ ns: string; key: string; value: string; version: number; expires_at: number | null; updated_at: number }>(
      `SELECT * FROM kv`,
    )) {
      put("raft", `sm:kv:${r.ns}/${r.key}`, {
        ns: r.ns, key: r.key, value: JSON.parse(r.value), version: r.version, expiresAt: r.expires_at, updatedAt: r.updated_at,
      });
    }
    sql.exec(`DROP TABLE meta; DROP TABLE members; DROP TABLE streams; DROP TABLE msglog; DROP TABLE inbox; DROP TABLE raft_log; DROP TABLE kv;`);
  },
];

/** The schema the migrations above arrive at, for a brand-new object. */
const CURRENT_SCHEMA = `CREATE TABLE IF NOT EXISTS rows (mod TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (mod, key)) WITHOUT ROWID`;

/** Rows per INSERT: three parameters each, under the 100 a statement may bind. */
const PUTS_PER_STATEMENT = 33;

export class RowStore {
  rowsWritten = 0;
  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /**
   * Bring the schema up to date, one migration per transaction. A brand-new object gets today's schema
   * at once (nothing to migrate); one written by an earlier release walks the migrations from its version.
   */
  migrate(upTo = MIGRATIONS.length): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`);
    const row = this.sql.exec<{ version: number }>(`SELECT version FROM schema_version`).toArray()[0];
    if (!row && upTo === MIGRATIONS.length) {
      this.storage.transactionSync(() => {
        this.sql.exec(CURRENT_SCHEMA);
        this.sql.exec(`INSERT INTO schema_version (version) VALUES (?)`, MIGRATIONS.length);
      });
      return;
    }
    let version = row?.version ?? 0;
    if (!row) this.sql.exec(`INSERT INTO schema_version (version) VALUES (0)`);
    while (version < upTo) {
      this.storage.transactionSync(() => {
        const m = MIGRATIONS[version];
        if (typeof m === "string") this.sql.exec(m);
        else m(this.sql);
        version++;
        this.sql.exec(`UPDATE schema_version SET version = ?`, version);
      });
    }
  }

  /**
   * Persist an input's writes atomically (the caller sends only after this returns). Consecutive puts go
   * in multi-row statements (each statement has a fixed cost that a batch of log entries and the rows
   * they produce would otherwise pay once per row), at most PUTS_PER_STATEMENT rows each: a statement
   * binds at most 100 parameters.
   */
  apply(writes: readonly StoreWrite[]): void {
    if (writes.length === 0) return;
    this.storage.transactionSync(() => {
      const puts: unknown[] = [];
      const flush = () => {
        for (let i = 0; i < puts.length; i += 3 * PUTS_PER_STATEMENT) {
          const chunk = puts.slice(i, i + 3 * PUTS_PER_STATEMENT);
          this.sql.exec(`INSERT OR REPLACE INTO rows (mod, key, value) VALUES ${Array(chunk.length / 3).fill("(?, ?, ?)").join(", ")}`, ...chunk);
        }
        puts.length = 0;
      };
      for (const { mod, op } of writes) {
        if (op.op === "put") {
          puts.push(mod, op.key, JSON.stringify(op.value));
          this.rowsWritten++;
          continue;
        }
        flush();
        switch (op.op) {
          case "del":
            this.sql.exec(`DELETE FROM rows WHERE mod = ? AND key = ?`, mod, op.key);
            break;
          case "delRange":
            this.sql.exec(`DELETE FROM rows WHERE mod = ? AND key >= ? AND key < ?`, mod, op.from, op.to);
            break;
        }
      }
      flush();
    });
  }

  /** A module's rows, except those under its cold prefixes (for which only the greatest key is read). */
  load(mod: string, coldPrefixes: readonly string[] = []): LoadedRows & Persisted {
    const rows = new Map<string, unknown>();
    const last = new Map<string, string>();
    for (const r of this.sql.exec<{ key: string; value: string }>(`SELECT key, value FROM rows WHERE mod = ? ORDER BY key`, mod)) {
      if (!coldPrefixes.some((p) => r.key.startsWith(p))) rows.set(r.key, JSON.parse(r.value));
    }
    for (const p of coldPrefixes) {
      const m = this.sql
        .exec<{ k: string | null }>(`SELECT max(key) AS k FROM rows WHERE mod = ? AND key >= ? AND key < ?`, mod, p, prefixEnd(p))
        .one();
      if (m.k !== null) last.set(p, m.k);
    }
    return { rows, last };
  }

  /** Rows under `prefix` with keys after `after`, in key order, at most `limit` (e.g. an inbox page). */
  scan(mod: string, prefix: string, after: string | null, limit: number): Array<[string, unknown]> {
    return this.sql
      .exec<{ key: string; value: string }>(
        `SELECT key, value FROM rows WHERE mod = ? AND key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?`,
        mod, prefix, prefixEnd(prefix), after ?? "", limit,
      )
      .toArray()
      .map((r): [string, unknown] => [r.key, JSON.parse(r.value)]);
  }

  get<T>(mod: string, key: string): T | null {
    const r = this.sql.exec<{ value: string }>(`SELECT value FROM rows WHERE mod = ? AND key = ?`, mod, key).toArray()[0];
    return r ? (JSON.parse(r.value) as T) : null;
  }

  async erase(): Promise<void> {
    await this.storage.deleteAlarm();
    await this.storage.deleteAll();
  }
}
