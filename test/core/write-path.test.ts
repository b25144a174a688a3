// The leader's write path: request deadlines (the alarm goes to the earliest, read on every input)
// and group commit in the log (writes proposed together go out as one append per follower).
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Deadlines } from "../../src/core/deadlines";
import type { KvStore } from "../../src/core/memory/kv";
import { Simulator } from "../sim/sim";
describe("request deadlines (the alarm goes to the earliest)", () => {
  test("earliest, remove and takeDue agree with a plain list, whatever order deadlines arrive in", () => {
    const t = fc.integer({ min: 0, max: 100 });
    const op = fc.oneof(fc.record({ add: t }), fc.record({ remove: t }), fc.record({ now: t }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const d = new Deadlines();
        let plain: number[] = [];
        for (const o of ops) {
          if ("add" in o) {
            d.add(o.add);
            plain.push(o.add);
          } else if ("remove" in o) {
            // A request answered in time takes back one occurrence of its deadline (others may share it).
            d.remove(o.remove);
            const i = plain.indexOf(o.remove);
            if (i >= 0) plain.splice(i, 1);
          } else {
            expect(d.takeDue(o.now)).toBe(plain.some((t) => t <= o.now));
            plain = plain.filter((t) => t > o.now);
          }
          expect(d.earliest()).toBe(plain.length ? Math.min(...plain) : null);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("group commit in the log (proposeAll)", () => {
  test("a group gets consecutive indexes, goes out as one append per idle follower, and every entry is applied everywhere", () => {
    const sim = new Simulator(7, { delayMaxMs: 5 });
    sim.createSwarm(5, { gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 }, consensus: { voters: 5, heartbeatMs: 100, electionMs: 500 } });
    sim.runFor(3000);
    const leader = sim.live().find((n) => n.core!.mods.raft.status()?.role === "leader")!;
    const cmds = Array.from({ length: 6 }, (_, i) => ({ op: "put", ns: "g", key: `k${i}`, value: i, expiresAt: null, at: sim.now }));
    const p = leader.core!.run(sim.now, (m) => m.raft.proposeAll("kv", cmds));
    if (!p.result.ok) throw new Error("the leader refused the group");
    const first = p.result.first;
    const appends = p.effects.send.filter((e) => e.mod === "raft" && (e as { msg?: { type?: string } }).msg?.type === "app");
    expect(new Set(appends.map((e) => e.to)).size).toBe(appends.length); // at most one per follower
    expect(appends.length).toBeGreaterThan(0);
    for (const e of appends) {
      const idx = ((e as unknown as { msg: { entries: Array<{ index: number }> } }).msg.entries).map((x) => x.index);
      expect(idx).toEqual(Array.from({ length: 6 }, (_, i) => first + i)); // the whole group
    }
    sim.handle(leader, p.effects);
    sim.runFor(1000);
    for (const n of sim.live()) {
      const kv = n.core!.mods.raft.machine<KvStore>("kv")!;
      cmds.forEach((c, i) => expect(kv.get("g", c.key, sim.now)).toMatchObject({ value: i, version: first + i }));
    }
  });
});
