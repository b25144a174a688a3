// The memory store end to end in the simulator: the real AgentCore (membership, failure detection,
// the Raft log, the KV state machine) under loss, duplication, partitions and crash-restarts, with
// clients that write, delete and read (ReadIndex) through whichever agent believes it leads — possibly
// a deposed one. Every history must be linearizable.
import { describe, expect, test } from "vitest";
import type { Effects } from "../../src/core/agent";
import { checkHistory, type Op } from "./linearizability";
import { seeds, Simulator, type SimNode } from "./sim";

const CFG = { gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 }, consensus: { voters: 5, snapshotEvery: 15 } };

function run(seed: number): { ops: Op[]; acked: number; reads: number } {
  const sim = new Simulator(seed, { loss: 0.03, duplicate: 0.02, delayMinMs: 1, delayMaxMs: 20 });
  const ids = sim.createSwarm(7, CFG);
  const r = sim.rng.fork();
  const ops: Op[] = [];
  const puts: Array<{ op: Op; node: string; index: number; term: number }> = [];
  const gets = new Map<string, Op>();
  const waiting: Array<{ op: Op; node: string; index: number }> = [];
  const read = (node: SimNode, op: Op) => {
    const rec = node.core!.memStore()!.get("n", op.key, sim.now);
    op.value = rec ? String(rec.value) : null;
    op.response = sim.now;
  };
  sim.onEffects.push((node: SimNode, fx: Effects) => {
    for (const a of fx.repl.applied) {
      for (let i = puts.length - 1; i >= 0; i--) {
        const p = puts[i];
        if (p.node !== node.id || p.index !== a.index) continue;
        if (p.term === a.term && a.result) p.op.response = sim.now;
        puts.splice(i, 1);
      }
    }
    for (const rd of fx.repl.reads) {
      const op = gets.get(`${node.id}#${rd.ctx}`);
      if (op) (gets.delete(`${node.id}#${rd.ctx}`), waiting.push({ op, node: node.id, index: rd.index }));
    }
    for (const ctx of fx.repl.droppedReads) gets.delete(`${node.id}#${ctx}`);
    for (let i = waiting.length - 1; i >= 0; i--) {
      const w = waiting[i];
      if (w.node === node.id && node.core && node.core.memApplied() >= w.index) (read(node, w.op), waiting.splice(i, 1));
    }
  });
  let v = 0;
  for (let t = 0; t < 600; t++) {
    const leaders = sim.live().filter((n) => n.core!.raftStatus()?.role === "leader");
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
        const p = node.core!.memPropose(cmd, sim.now);
        if (!p) continue;
        const op: Op = { id: ops.length, key, kind: "put", value, invoke: sim.now, response: null };
        ops.push(op);
        puts.push({ op, node: node.id, index: p.index, term: p.term });
        sim.handle(node, p.effects);
      } else {
        const q = node.core!.memReadIndex(sim.now);
        if (!q) continue;
        const op: Op = { id: ops.length, key, kind: "get", value: null, invoke: sim.now, response: null };
        ops.push(op);
        gets.set(`${node.id}#${q.ctx}`, op);
        sim.handle(node, q.effects);
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
