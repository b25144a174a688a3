// Fast when someone waits, cheap when nobody does (issue: real-platform timing), in the simulator with
// the default log timing (heartbeat 5 s, election timeout 15–30 s): the new swarm's leader and a
// crashed leader's successor come from evidence, not from waiting out an election timeout; and a
// platform whose alarms are late does not make a quiet swarm elect.
import { describe, expect, test } from "vitest";
import { SteadyWriter, leaderOf } from "./clients";
import { seeds, Simulator } from "./sim";

const DEFAULT_TIMING = { gossip: { intervalMs: 3000 }, failure: { heartbeatMs: 3000, timeoutMs: 10_000 } };

describe("failover at the default timing", () => {
  test.each(seeds(10, 300))("seed %i: a new swarm has a leader well before an election timeout could fire", (seed) => {
    const sim = new Simulator(seed, { delayMinMs: 1, delayMaxMs: 10 });
    sim.createSwarm(12, DEFAULT_TIMING);
    const t = sim.runUntilTrue(() => leaderOf(sim) !== null, 30_000);
    expect(t).not.toBeNull();
    expect(t!).toBeLessThan(1000); // simulated ms; the shortest election timeout is 15,000
  });

  test.each(seeds(10, 400))("seed %i: leader crash under a steady writer → writes resume without waiting for a timeout", (seed) => {
    const sim = new Simulator(seed, { delayMinMs: 1, delayMaxMs: 10 });
    sim.createSwarm(12, DEFAULT_TIMING);
    sim.runUntilTrue(() => leaderOf(sim) !== null, 30_000);
    const w = new SteadyWriter(sim, { gapMs: 50, retryMs: 20, timeoutMs: 8000 });
    w.start();
    sim.runFor(2000);
    const old = leaderOf(sim)!;
    const t0 = sim.now;
    sim.crash(old);
    const t = sim.runUntilTrue(() => w.firstAckAfter(t0) !== null, 30_000, 10);
    expect(t, `seed ${seed}: no write acknowledged after the crash`).not.toBeNull();
    // Neither SWIM (10 s suspicion) nor Raft's election timeout (≥ 15 s) could have produced this.
    expect(w.firstAckAfter(t0)! - t0).toBeLessThan(2000);
    expect(leaderOf(sim)).not.toBe(old);
    w.stop();
  });

  test("a leader lost silently (no refused call: cut off) is replaced by timers only — slower, and the fast path above is not vacuous", () => {
    const sim = new Simulator(401, { delayMinMs: 1, delayMaxMs: 10 });
    const ids = sim.createSwarm(12, DEFAULT_TIMING);
    sim.runUntilTrue(() => leaderOf(sim) !== null, 30_000);
    const w = new SteadyWriter(sim, { gapMs: 50, retryMs: 20, timeoutMs: 8000 });
    w.start();
    sim.runFor(2000);
    const old = leaderOf(sim)!;
    const t0 = sim.now;
    // Envelopes to and from the old leader are lost without a trace: no call is refused, nothing to act on.
    sim.partition([[old], ids.filter((id) => id !== old)]);
    const t = sim.runUntilTrue(() => w.firstAckAfter(t0) !== null, 60_000, 10);
    expect(t).not.toBeNull();
    expect(w.firstAckAfter(t0)! - t0).toBeGreaterThan(5000);
    w.stop();
  });
});

describe("a loaded platform makes elections slower, never a reason for one", () => {
  test.each(seeds(5, 500))("seed %i: alarms up to 4 heartbeat intervals late, 10 minutes quiet: the term does not change", (seed) => {
    // Short log timing (heartbeat 100 ms, election 500 ms) so that lateness is large against it.
    const late = Array.from({ length: 50 }, (_, i) => (i < 40 ? i * 2 : 100 + i * 6)); // mostly small, a tail to ~400 ms
    const sim = new Simulator(seed, { delayMinMs: 1, delayMaxMs: 10, alarmLateSamplesMs: late });
    sim.createSwarm(12, { gossip: { intervalMs: 200 }, failure: { heartbeatMs: 200, timeoutMs: 2000 }, consensus: { heartbeatMs: 100, electionMs: 500 } });
    sim.runUntilTrue(() => leaderOf(sim) !== null, 30_000);
    sim.runFor(2000);
    const terms = () => new Set(sim.live().map((n) => n.core!.mods.raft.status()!.term));
    const before = Math.max(...terms());
    sim.runFor(600_000);
    expect(Math.max(...terms())).toBe(before);
    expect(sim.live().every((n) => n.core!.mods.membership.liveIds().length === 12)).toBe(true);
  });
});
