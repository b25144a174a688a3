import { describe, expect, test } from "vitest";
import type { KvStore } from "../../src/core/memory/kv";
import { Simulator } from "../sim/sim";

describe("memory TTL on the replicated log", () => {
  test("a leader cut off from its voters proposes one expiry sweep, not one per tick, and does not spin its alarm", () => {
    const sim = new Simulator(3, { delayMaxMs: 5 });
    const ids = sim.createSwarm(5, { gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 }, consensus: { voters: 5, heartbeatMs: 100, electionMs: 500 } });
    sim.runFor(3000);
    const leader = sim.live().find((n) => n.core!.mods.raft.status()?.role === "leader")!;
    const kv = (n: typeof leader) => n.core!.mods.raft.machine<KvStore>("kv")!;
    const p = leader.core!.run(sim.now, (m) => m.raft.propose("kv", { op: "put", ns: "n", key: "k", value: 1, expiresAt: sim.now + 200, at: sim.now }));
    expect(p.result.ok).toBe(true);
    sim.handle(leader, p.effects);
    sim.runFor(100);
    expect(kv(leader).get("n", "k", sim.now)).not.toBeNull();
    // Cut the leader off: its sweep cannot commit. It keeps leading until CheckQuorum steps it down.
    sim.partition([[leader.id], ids.filter((id) => id !== leader.id)]);
    const before = leader.bill.alarms;
    const lastBefore = leader.core!.mods.raft.status()!.commitIndex;
    sim.runFor(400);
    const appended = Array.from(leader.disk.load("raft").rows.keys()).filter((k) => k.startsWith("log:")).length;
    expect(leader.bill.alarms - before).toBeLessThan(40); // ~100 ms cadence, not a busy loop
    expect(appended).toBeLessThan(lastBefore + 5);
    sim.heal();
    sim.runFor(5000);
    // After healing, the key is gone everywhere.
    for (const n of sim.live()) expect(kv(n).get("n", "k", sim.now)).toBeNull();
  });
});
