// Decisions inside the real agent, in the simulator, with signatures as the shell does them: keys pinned
// through the log, every signed part signed on the way out and verified on the way in (model scheme).
// A lying agent that signs with a wrong key is dropped by every correct agent, the same rule as workerd.
import { describe, expect, test } from "vitest";
import type { ProposalInput } from "../../src/core/vote/tally";
import { Simulator, type SimNode } from "./sim";

function propose(sim: Simulator, at: string, input: ProposalInput & { proposalId: string }) {
  const n = sim.nodes.get(at)!;
  const { result, effects } = n.core!.run(sim.now, (m) => m.proposals.propose(input));
  sim.handle(n, effects);
  return result;
}

function statusAt(n: SimNode, pid: string): string | null {
  return n.core?.mods.proposals.get(pid)?.status ?? null;
}

function swarm(seed: number) {
  const sim = new Simulator(seed, { loss: 0.02, delayMaxMs: 20 });
  const ids = sim.createSwarm(7, { consensus: { voters: 7, heartbeatMs: 200, electionMs: 1000 }, failure: { heartbeatMs: 500, timeoutMs: 5000 } });
  sim.enableSigning();
  const pinned = sim.runUntilTrue(() => [...sim.nodes.values()].every((n) => ids.every((a) => n.core!.mods.proposals.pinnedKey(a) === `model:${a}`)), 60_000, 50);
  expect(pinned, "keys pinned everywhere").not.toBeNull();
  return { sim, ids };
}

describe("decisions in the simulator, signed", () => {
  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: pbft, raft and gossip decide on every agent; a forger's messages are dropped and counted`, () => {
      const { sim, ids } = swarm(seed);
      const body = { coordination_protocol: "gossip", consensus_threshold: 0.67 };
      for (const protocol of ["pbft", "raft", "gossip"] as const) {
        expect(propose(sim, "agent-1", { proposalId: `ok-${protocol}`, protocol, proposal: body })).toMatchObject({ ok: true });
      }
      const done = sim.runUntilTrue(() => ids.every((a) => ["pbft", "raft", "gossip"].every((p) => statusAt(sim.nodes.get(a)!, `ok-${p}`) === "approved")), 120_000, 50);
      expect(done, "all approved on every agent").not.toBeNull();
      expect(ids.reduce((s, a) => s + (sim.nodes.get(a)!.forgedDropped ?? 0), 0)).toBe(0); // honest: nothing dropped

      // agent-2 starts signing with a wrong key: its signed messages are dropped; with f = 2 of 7 the
      // others still decide, and the rejection of an assignment to an unknown agent comes out right.
      sim.nodes.get("agent-2")!.forge = true;
      const correct = ids.filter((a) => a !== "agent-2");
      expect(propose(sim, "agent-3", { proposalId: "b-pbft", protocol: "pbft", proposal: { task_assignment: "x", assigned_to: "nobody" } })).toMatchObject({ ok: true });
      expect(propose(sim, "agent-4", { proposalId: "b-gossip", protocol: "gossip", proposal: body })).toMatchObject({ ok: true });
      const decided = sim.runUntilTrue(
        () => correct.every((a) => statusAt(sim.nodes.get(a)!, "b-pbft") === "rejected" && statusAt(sim.nodes.get(a)!, "b-gossip") === "approved"),
        120_000,
        50,
      );
      expect(decided, "decided by the correct agents").not.toBeNull();
      const dropped = correct.reduce((s, a) => s + (sim.nodes.get(a)!.forgedDropped ?? 0), 0);
      expect(dropped).toBeGreaterThan(0);
      // The forger's own gossip vote never counts anywhere (it could not be verified).
      for (const a of correct) {
        const g = sim.nodes.get(a)!.core!.mods.proposals.get("b-gossip")!;
        expect(g.votes.approve + g.votes.reject).toBeLessThanOrEqual(6);
      }
    });
  }
});
