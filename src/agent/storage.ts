// The MeshAgent's SQLite storage: schema migrations, loading persisted state, applying a core's
// effects in one transaction. Only what must survive a restart is written, and only when it changed
// (DESIGN.md principle 4): rows written are the bill at scale, so every write is counted.
import type { AgentMeta, Effects, PersistedAgent } from "../core/agent";
import type { Member } from "../core/membership/member";
import { RETAIN_PER_STREAM, type InboxEntry, type Message, type StreamState } from "../core/messages/log";
import type { KvRecord } from "../core/memory/kv";
import type { Entry, HardState, SnapshotMeta } from "../core/raft/raft";
import type { ReplicatedPersisted } from "../core/replicated";

/** Ordered, append-only: the index + 1 is the schema version. Never edit a shipped migration. */
const MIGRATIONS: string[] = [
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
];

export interface ChaosState {
  crashed: boolean;
  /** Partition groups; an agent listed in no group belongs to the implicit group of the rest. */
  groups: string[][] | null;
  /** Probability of dropping each outgoing envelope. */
  dropRate: number;
}

export interface InboxPage {
  messages: Array<Omit<InboxEntry, "stream" | "seq"> & { cursor: number }>;
  next: string | null;
}

export const NO_CHAOS: ChaosState = { crashed: false, groups: null, dropRate: 0 };

export class AgentStorage {
  rowsWritten = 0;
  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  migrate(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`);
    const row = this.sql.exec<{ version: number }>(`SELECT version FROM schema_version`).toArray()[0];
    let version = row?.version ?? 0;
    if (!row) this.sql.exec(`INSERT INTO schema_version (version) VALUES (0)`);
    while (version < MIGRATIONS.length) {
      this.storage.transactionSync(() => {
        this.sql.exec(MIGRATIONS[version]);
        version++;
        this.sql.exec(`UPDATE schema_version SET version = ?`, version);
      });
    }
  }

  load(): PersistedAgent | null {
    const metaRow = this.sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'agent'`).toArray()[0];
    if (!metaRow) return null;
    const meta = JSON.parse(metaRow.v) as AgentMeta;
    const members: Member[] = this.sql
      .exec<{ id: string; inc: number; status: string; ver: number; caps: string; slots: number; by_agents: string | null }>(
        `SELECT id, inc, status, ver, caps, slots, by_agents FROM members`,
      )
      .toArray()
      .map((r) => {
        const m: Member = {
          id: r.id as Member["id"],
          inc: r.inc,
          status: r.status as Member["status"],
          ver: r.ver,
          caps: JSON.parse(r.caps) as string[],
          slots: r.slots,
          load: 0,
        };
        if (r.by_agents) m.by = JSON.parse(r.by_agents) as string[];
        return m;
      });
    const streams = this.sql
      .exec<{ stream: string; next: number; assigned: number }>(`SELECT stream, next, assigned FROM streams`)
      .toArray()
      .map((r): [string, StreamState] => [r.stream, { next: r.next, assigned: r.assigned }]);
    const messages = this.sql
      .exec<{ msg: string }>(`SELECT msg FROM msglog`)
      .toArray()
      .map((r) => JSON.parse(r.msg) as Message);
    return { meta, members, streams, messages, replicated: this.loadReplicated() };
  }

  private loadReplicated(): ReplicatedPersisted | null {
    const snap = this.getMeta<SnapshotMeta>("raft_snap");
    if (!snap) return null;
    const hard = this.getMeta<HardState>("raft_hard") ?? { term: 0, vote: null, commit: 0 };
    const entries = this.sql
      .exec<{ entry: string }>(`SELECT entry FROM raft_log WHERE idx > ? ORDER BY idx`, snap.index)
      .toArray()
      .map((r) => JSON.parse(r.entry) as Entry);
    const kv = this.sql
      .exec<{ ns: string; key: string; value: string; version: number; expires_at: number | null; updated_at: number }>(
        `SELECT ns, key, value, version, expires_at, updated_at FROM kv`,
      )
      .toArray()
      .map((r): KvRecord => ({
        ns: r.ns, key: r.key, value: JSON.parse(r.value), version: r.version, expiresAt: r.expires_at, updatedAt: r.updated_at,
      }));
    const applied = this.getMeta<number>("kv_applied") ?? snap.index;
    return { hard, snapshot: snap, entries, kv, applied };
  }

  private getMeta<T>(k: string): T | null {
    const row = this.sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = ?`, k).toArray()[0];
    return row ? (JSON.parse(row.v) as T) : null;
  }

  loadChaos(): ChaosState {
    const row = this.sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'chaos'`).toArray()[0];
    return row ? (JSON.parse(row.v) as ChaosState) : { ...NO_CHAOS };
  }

  saveChaos(c: ChaosState): void {
    this.putMeta("chaos", JSON.stringify(c));
  }

  /** Persist a core's effects atomically (the caller sends only after this returns). */
  apply(e: Effects): void {
    const r = e.repl;
    const replChanged = r.raftOps.length > 0 || r.kvUpserts.length > 0 || r.kvRemovals.length > 0 || r.kvReset !== null || r.applied.length > 0;
    if (!e.meta && e.members.length === 0 && e.logged.length === 0 && e.inbox.length === 0 && e.streams.length === 0 && !replChanged) {
      return;
    }
    this.storage.transactionSync(() => {
      if (e.meta) this.putMeta("agent", JSON.stringify(e.meta));
      // One upsert per changed member; the last write of an id in a batch wins.
      const latest = new Map<string, Member>();
      for (const m of e.members) latest.set(m.id, m);
      for (const m of latest.values()) {
        this.sql.exec(
          `INSERT INTO members (id, inc, status, ver, caps, slots, by_agents) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET inc = excluded.inc, status = excluded.status, ver = excluded.ver,
             caps = excluded.caps, slots = excluded.slots, by_agents = excluded.by_agents`,
          m.id, m.inc, m.status, m.ver, JSON.stringify(m.caps), m.slots, m.by ? JSON.stringify(m.by) : null,
        );
        this.rowsWritten++;
      }
      for (const m of e.logged) {
        this.sql.exec(`INSERT OR IGNORE INTO msglog (stream, seq, msg) VALUES (?, ?, ?)`, m.stream, m.seq, JSON.stringify(m));
        this.rowsWritten++;
      }
      for (const i of e.inbox) {
        this.sql.exec(
          `INSERT OR IGNORE INTO inbox (message_id, from_label, body, sent_at, received_at) VALUES (?, ?, ?, ?, ?)`,
          i.messageId, i.from, JSON.stringify(i.message), i.sentAt, i.receivedAt,
        );
        this.rowsWritten++;
      }
      if (replChanged) this.applyReplicated(e);
      const streams = new Map(e.streams);
      for (const [stream, st] of streams) {
        this.sql.exec(
          `INSERT INTO streams (stream, next, assigned) VALUES (?, ?, ?)
           ON CONFLICT(stream) DO UPDATE SET next = excluded.next, assigned = excluded.assigned`,
          stream, st.next, st.assigned,
        );
        this.rowsWritten++;
        // Keep only the repair window of each stream.
        if (st.next > RETAIN_PER_STREAM && st.next % 100 === 0) {
          this.sql.exec(`DELETE FROM msglog WHERE stream = ? AND seq < ?`, stream, st.next - RETAIN_PER_STREAM);
        }
      }
    });
  }

  /** Raft state (term, vote, log, snapshot) and the memory store, in the same transaction as the rest. */
  private applyReplicated(e: Effects): void {
    const r = e.repl;
    for (const op of r.raftOps) {
      if (op.kind === "hard") this.putMeta("raft_hard", JSON.stringify(op.hard));
      else if (op.kind === "compact") {
        this.sql.exec(`DELETE FROM raft_log WHERE idx <= ?`, op.to);
        this.putMeta("raft_snap", JSON.stringify(op.meta));
      } else {
        this.sql.exec(`DELETE FROM raft_log WHERE idx >= ?`, op.fromIndex);
        for (const en of op.entries) {
          this.sql.exec(`INSERT OR REPLACE INTO raft_log (idx, entry) VALUES (?, ?)`, en.index, JSON.stringify(en));
          this.rowsWritten++;
        }
      }
    }
    if (r.kvReset) {
      this.sql.exec(`DELETE FROM kv`);
      for (const k of r.kvReset) this.putKv(k);
    }
    for (const k of r.kvUpserts) this.putKv(k);
    for (const [ns, key] of r.kvRemovals) this.sql.exec(`DELETE FROM kv WHERE ns = ? AND key = ?`, ns, key);
    const last = r.applied.at(-1)?.index;
    if (last !== undefined) this.putMeta("kv_applied", String(last));
  }

  private putKv(k: KvRecord): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO kv (ns, key, value, version, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
      k.ns, k.key, JSON.stringify(k.value), k.version, k.expiresAt, k.updatedAt,
    );
    this.rowsWritten++;
  }

  /** Inbox page after a cursor, oldest first. */
  inbox(after: number, limit: number): InboxPage {
    const rows = this.sql
      .exec<{ cursor: number; message_id: string; from_label: string; body: string; sent_at: number; received_at: number }>(
        `SELECT cursor, message_id, from_label, body, sent_at, received_at FROM inbox WHERE cursor > ? ORDER BY cursor LIMIT ?`,
        after, limit,
      )
      .toArray();
    const messages = rows.map((r) => ({
      cursor: r.cursor, messageId: r.message_id, from: r.from_label, message: JSON.parse(r.body) as Record<string, unknown>,
      sentAt: r.sent_at, receivedAt: r.received_at,
    }));
    const last = rows.at(-1);
    return { messages, next: last ? String(last.cursor) : after > 0 ? String(after) : null };
  }

  private putMeta(k: string, v: string): void {
    this.sql.exec(`INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v);
    this.rowsWritten++;
  }

  async erase(): Promise<void> {
    await this.storage.deleteAlarm();
    await this.storage.deleteAll();
  }
}
