// One conformance suite for the row store: the SQLite store the Durable Object uses (src/agent/store.ts)
// and the in-memory twin the simulator uses (src/core/store.ts) get the same operations and must load,
// scan and restore the same things. Also: storage written by the first releases (schema 1–3) migrates
// forward into the row table without losing anything.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, test } from "vitest";
import { RowStore } from "../../src/agent/store";
import { resolveConfig } from "../../src/core/config";
import type { AgentId } from "../../src/core/ids";
import { Node } from "../../src/core/node";
import type { StoreWrite } from "../../src/core/protocol";
import { Rng } from "../../src/core/rng";
import { MemoryStore, num, prefixEnd } from "../../src/core/store";

/** A fresh object's storage with the current schema and no rows. */
function withStore<T>(name: string, fn: (store: RowStore, state: DurableObjectState) => T): Promise<T> {
  return runInDurableObject(env.AGENT.getByName(name), (_i: unknown, state: DurableObjectState) => {
    const store = new RowStore(state.storage);
    store.migrate();
    return fn(store, state);
  });
}

const MODS = ["membership", "messages", "raft"];
const PREFIXES = ["member:", "log:", "inbox:", "sm:kv:", "stream:"];

function randomWrites(r: Rng, n: number): StoreWrite[] {
  const out: StoreWrite[] = [];
  for (let i = 0; i < n; i++) {
    const mod = MODS[r.int(MODS.length)];
    const prefix = PREFIXES[r.int(PREFIXES.length)];
    const key = prefix + (r.chance(0.5) ? num(r.int(40)) : `k${r.int(40)}`);
    const x = r.next();
    if (x < 0.7) out.push({ mod, op: { op: "put", key, value: { i, nested: { v: r.int(1000), s: "ünïcödé" }, list: [1, null, "x"] } } });
    else if (x < 0.85) out.push({ mod, op: { op: "del", key } });
    else {
      const a = prefix + num(r.int(40));
      out.push({ mod, op: { op: "delRange", from: a, to: r.chance(0.5) ? prefixEnd(prefix) : prefix + num(r.int(40)) } });
    }
  }
  return out;
}

describe("row store conformance: SQLite and the in-memory twin", () => {
  test("200 seeded sequences of puts, deletes and range deletes load, scan and count alike", async () => {
    await withStore("conformance/rows", (sql) => {
      for (let seed = 1; seed <= 200; seed++) {
        const r = new Rng(seed);
        const twin = new MemoryStore();
        for (const m of MODS) sql.apply([{ mod: m, op: { op: "delRange", from: "", to: "\u007f" } }]);
        const before = sql.rowsWritten;
        for (let batch = 0; batch < 10; batch++) {
          // Up to 90 writes: runs of puts longer than one multi-row statement (33 rows) too.
          const w = randomWrites(r, 1 + r.int(90));
          sql.apply(w);
          twin.apply(w);
          for (const mod of MODS) {
            const cold = r.chance(0.5) ? ["inbox:", "log:"] : [];
            const a = sql.load(mod, cold);
            const b = twin.load(mod, cold);
            expect(Array.from(a.rows.entries()), `seed ${seed} ${mod} rows`).toEqual(Array.from(b.rows.entries()));
            expect(Array.from(a.last.entries()), `seed ${seed} ${mod} last`).toEqual(Array.from(b.last.entries()));
            const after = r.chance(0.5) ? null : PREFIXES[r.int(5)] + num(r.int(40));
            const p = PREFIXES[r.int(5)];
            expect(sql.scan(mod, p, after, 7), `seed ${seed} ${mod} scan`).toEqual(twin.scan(mod, p, after, 7));
          }
        }
        expect(sql.rowsWritten - before).toBe(twin.rowsWritten);
      }
    });
  });

  test("an agent restored from either store is the same agent", async () => {
    await withStore("conformance/node", (sql) => {
      const twin = new MemoryStore();
      const config = resolveConfig({ consensus: { voters: 3, snapshotEvery: 10 } });
      const roster = ["a", "b", "c", "d"];
      const { node, effects } = Node.create({ swarm: "s", self: "a" as AgentId, config, roster, now: 1, rng: new Rng(1) });
      const both = (w: StoreWrite[]) => (sql.apply(w), twin.apply(w));
      both(effects.writes);
      // Drive some state into every module: messages (delivered and stored), membership changes, log entries.
      for (let i = 0; i < 30; i++) both(node.run(10 + i, (m) => m.messages.post("b", "a", { i })).effects.writes);
      both(node.receive({ v: 2, swarm: "s", from: "b", to: "a", mod: "membership", type: "gossip",
        updates: [{ id: "e", inc: 3, status: "suspect", ver: 2, caps: ["x"], slots: 2, load: 0, by: ["b"] }] }, 50).writes);
      const restore = (s: RowStore | MemoryStore) => Node.restore((mod, cold) => s.load(mod, cold), 100, new Rng(2))!.node;
      const x = restore(sql).view();
      const y = restore(twin).view();
      expect(x).toEqual(y);
      expect((x.membership as unknown[]).length).toBe(5);
      expect(sql.scan("messages", "inbox:", null, 100)).toEqual(twin.scan("messages", "inbox:", null, 100));
      expect(sql.scan("messages", "inbox:", null, 100)).toHaveLength(30);
    });
  });
});

describe("schema migration", () => {
  test("storage written by the first releases (tables per kind of state) moves into the row table intact", async () => {
    await withStore("conformance/legacy", (store, state) => {
      const sql = state.storage.sql;
      const shape = () => JSON.stringify(sql.exec(`PRAGMA table_info(rows)`).toArray()) + JSON.stringify(sql.exec(`PRAGMA index_list(rows)`).toArray());
      const fresh = shape(); // a brand-new object got today's schema directly
      // Back to an empty database at schema 0, then the shipped migrations 1–3 only.
      sql.exec(`DROP TABLE rows`);
      sql.exec(`UPDATE schema_version SET version = 0`);
      store.migrate(3);
      const meta = { swarm: "legacy", self: "agent-1", config: resolveConfig({}), state: "active", createdAt: 5, roster: ["agent-1", "agent-2"] };
      sql.exec(`INSERT INTO meta (k, v) VALUES ('agent', ?), ('chaos', ?), ('raft_hard', ?), ('raft_snap', ?), ('kv_applied', '3')`,
        JSON.stringify(meta), JSON.stringify({ crashed: false, groups: null, dropRate: 0 }), JSON.stringify({ term: 2, vote: "agent-1", commit: 3 }),
        JSON.stringify({ index: 0, term: 0, config: { voters: ["agent-1", "agent-2"], learners: [] } }));
      sql.exec(`INSERT INTO members (id, inc, status, ver, caps, slots, by_agents) VALUES ('agent-1', 0, 'alive', 1, '[]', 1, NULL), ('agent-3', 2, 'suspect', 4, '["gpu"]', 3, '["agent-2"]')`);
      sql.exec(`INSERT INTO streams (stream, next, assigned) VALUES ('x@agent-2', 3, 0)`);
      const msg = (seq: number) => JSON.stringify({ stream: "x@agent-2", seq, from: "x", to: "all", body: { seq }, at: 7 });
      sql.exec(`INSERT INTO msglog (stream, seq, msg) VALUES ('x@agent-2', 1, ?), ('x@agent-2', 2, ?)`, msg(1), msg(2));
      sql.exec(`INSERT INTO inbox (message_id, from_label, body, sent_at, received_at) VALUES ('x@agent-2#1', 'x', '{"seq":1}', 7, 8), ('x@agent-2#2', 'x', '{"seq":2}', 7, 9)`);
      const entry = (i: number, data: unknown) => JSON.stringify({ index: i, term: 2, kind: i === 1 ? "noop" : "cmd", ...(i === 1 ? {} : { data }) });
      sql.exec(`INSERT INTO raft_log (idx, entry) VALUES (1, ?), (2, ?), (3, ?)`, entry(1, null),
        entry(2, { op: "put", ns: "mesh", key: "a", value: 1, expiresAt: null, at: 1 }), entry(3, { op: "put", ns: "mesh", key: "b", value: { x: 2 }, expiresAt: null, at: 2 }));
      sql.exec(`INSERT INTO kv (ns, key, value, version, expires_at, updated_at) VALUES ('mesh', 'a', '1', 2, NULL, 1), ('mesh', 'b', '{"x":2}', 3, NULL, 2)`);

      store.migrate();
      const tables = sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name`).toArray().map((r) => r.name);
      expect(tables).toEqual(["rows", "schema_version"]);
      expect(shape()).toBe(fresh); // migrating forward arrives at the same table a new object starts with
      expect(store.get("shell", "chaos")).toEqual({ crashed: false, groups: null, dropRate: 0 });
      const r = Node.restore((mod, cold) => store.load(mod, cold), 100, new Rng(3))!;
      const v = r.node.view() as any;
      expect(v.membership.map((m: any) => [m.agentId, m.status, m.incarnation])).toEqual([
        ["agent-1", "alive", 0], ["agent-2", "alive", 0], ["agent-3", "suspect", 2],
      ]);
      expect(r.node.mods.membership.member("agent-3")).toMatchObject({ caps: ["gpu"], slots: 3, by: ["agent-2"] });
      expect(v.raft).toMatchObject({ term: 2, commitIndex: 3, appliedIndex: 3, voters: ["agent-1", "agent-2"] });
      const kv = r.node.mods.raft.machine<any>("kv");
      expect(kv.get("mesh", "b", 100)).toMatchObject({ value: { x: 2 }, version: 3 });
      expect(r.node.mods.messages.heads()).toEqual([["x@agent-2", 2]]);
      expect(store.scan("messages", "inbox:", null, 10).map(([, e]) => (e as any).messageId)).toEqual(["x@agent-2#1", "x@agent-2#2"]);
    });
  });
});
