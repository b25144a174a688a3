// The memory store end to end in the simulator: the real agent (membership, failure detection, the
// Raft log, the KV state machine) under loss, duplication, partitions and crash-restarts, with clients
// that write, delete and read (ReadIndex) through whichever agent believes it leads — possibly a
// deposed one. Every history must be linearizable.
import { describe, expect, test } from "vitest";
import type { KvStore } from "../../src/core/memory/kv";
import type { Effects } from "../../src/core/protocol";
import { checkHistory, type Op } from "./linearizability";
import { seeds, Simulator, type SimNode } from "./sim";

const CFG = {
  gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 },
  consensus: { voters: 5, snapshotEvery: 15, heartbeatMs: 100, electionMs: 500 },
};

function run(seed: number): { ops: Op[]; acked: number; reads: number } {
  const sim = new Simulator(seed, { loss: 0.03, duplicate: 0.02, delayMinMs: 1, delayMaxMs: 20 });
  const ids = sim.createSwarm(7, CFG);
  const r = sim.rng.fork();
  const ops: Op[] = [];
  const puts: Array<{ op: Op; node: string; index: number; term: number }> = [];
  const gets = new Map<string, Op>();
  sim.onEffects.push((node: SimNode, fx: Effects) => {
    for (const o of fx.outputs) {
      if (o.mod !== "raft") continue;
      if (o.key.startsWith("applied:")) {
        const index = Number(o.key.slice("applied:".length));
        const a = o.value as { term: number; result: unknown };
        for (let i = puts.length - 1; i >= 0; i--) {
          const p = puts[i];
          if (p.node !== node.id || p.index !== index) continue;
          if (p.term === a.term && a.result) p.op.response = sim.now;
          puts.splice(i, 1);
        }
      } else if (o.key.startsWith("read:")) {
        // Answered once confirmed by a majority and applied here: serve the read from this replica.
        const op = gets.get(`${node.id}#${o.key}`);
        gets.delete(`${node.id}#${o.key}`);
        if (op && o.value !== null && node.core) {
          const rec = node.core.mods.raft.machine<KvStore>("kv")!.get("n", op.key, sim.now);
          op.value = rec ? String(rec.value) : null;
          op.response = sim.now;
        }
      }
    }
  });
  let v = 0;
  for (let t = 0; t < 600; t++) {
    const leaders = sim.live().filter((n) => n.core!.mods.raft.status()?.role === "leader");
    const x = r.next();
    const key = `k${r.int(3)}`;
    if (x < 0.6) {
      if (leaders.length === 0) continue;
      const node = leaders[r.int(leaders.length)];
      const kind = r.next();
      if (kind < 0.55) {
        // A write (45%) or a delete (10%): a delete is a write of "absent" for the register model.
        const isDel = kind >= 0.45;
        const value = isDel ? null : `v${seed}-${v++}`;
        const cmd = isDel
          ? { op: "del" as const, ns: "n", key, at: sim.now }
          : { op: "put" as const, ns: "n", key, value, expiresAt: null, at: sim.now };
        const { result: p, effects } = node.core!.run(sim.now, (m) => m.raft.propose("kv", cmd));
        if (!p.ok) continue;
        const op: Op = { id: ops.length, key, kind: "put", value, invoke: sim.now, response: null };
        ops.push(op);
        puts.push({ op, node: node.id, index: p.index, term: p.term });
        sim.handle(node, effects);
      } else {
        const { result: q, effects } = node.core!.run(sim.now, (m) => m.raft.readIndex());
        if (!q.ok) continue;
        const op: Op = { id: ops.length, key, kind: "get", value: null, invoke: sim.now, response: null };
        ops.push(op);
        gets.set(`${node.id}#read:${q.ctx}`, op);
        sim.handle(node, effects);
      }
    } else if (x < 0.62) {
      const victim = ids[r.int(ids.length)];
      sim.crash(victim);
      sim.at(sim.now + 500 + r.int(1500), () => sim.restart(victim));
    } else if (x < 0.63) {
      const s = r.shuffle(ids.slice());
      sim.partition([s.slice(0, 3), s.slice(3)]);
      sim.at(sim.now + 800 + r.int(1500), () => sim.heal());
    }
    sim.runFor(30);
  }
  // Once a read is answered, its value is fixed; pending ones with no answer are dropped by the checker.
  sim.heal();
  sim.runFor(3000);
  return {
    ops,
    acked: ops.filter((o) => o.kind === "put" && o.response !== null).length,
    reads: ops.filter((o) => o.kind === "get" && o.response !== null).length,
  };
}

describe("memory store in the simulator: linearizable under faults", () => {
  test.each(seeds(Number(process.env.SIM_SEEDS ?? 12), 500))("seed %i", (seed) => {
    const { ops, acked, reads } = run(seed);
    const res = checkHistory(ops);
    expect(res.ok, `seed ${seed}: not linearizable on ${res.key} (${res.ops} ops); replay SIM_SEED=${seed}`).toBe(true);
    // The history exercised both sides (writes acknowledged, reads answered).
    expect(acked).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(0);
  });
});
