// The MeshAgent's SQLite storage: schema migrations, loading persisted state, applying a core's
// effects in one transaction. Only what must survive a restart is written, and only when it changed
// (DESIGN.md principle 4): rows written are the bill at scale, so every write is counted.
import type { AgentMeta, Effects, PersistedAgent } from "../core/agent";
import type { Member } from "../core/membership/member";

/** Ordered, append-only: the index + 1 is the schema version. Never edit a shipped migration. */
const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS members (
     id TEXT PRIMARY KEY, inc INTEGER NOT NULL, status TEXT NOT NULL, ver INTEGER NOT NULL,
     caps TEXT NOT NULL, slots INTEGER NOT NULL);`,
];

export interface ChaosState {
  crashed: boolean;
  /** Partition groups; an agent listed in no group belongs to the implicit group of the rest. */
  groups: string[][] | null;
  /** Probability of dropping each outgoing envelope. */
  dropRate: number;
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
      .exec<{ id: string; inc: number; status: string; ver: number; caps: string; slots: number }>(
        `SELECT id, inc, status, ver, caps, slots FROM members`,
      )
      .toArray()
      .map((r) => ({
        id: r.id as Member["id"],
        inc: r.inc,
        status: r.status as Member["status"],
        ver: r.ver,
        caps: JSON.parse(r.caps) as string[],
        slots: r.slots,
        load: 0,
      }));
    return { meta, members };
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
    if (!e.meta && e.members.length === 0) return;
    this.storage.transactionSync(() => {
      if (e.meta) this.putMeta("agent", JSON.stringify(e.meta));
      // One upsert per changed member; the last write of an id in a batch wins.
      const latest = new Map<string, Member>();
      for (const m of e.members) latest.set(m.id, m);
      for (const m of latest.values()) {
        this.sql.exec(
          `INSERT INTO members (id, inc, status, ver, caps, slots) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET inc = excluded.inc, status = excluded.status, ver = excluded.ver,
             caps = excluded.caps, slots = excluded.slots`,
          m.id, m.inc, m.status, m.ver, JSON.stringify(m.caps), m.slots,
        );
        this.rowsWritten++;
      }
    });
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
