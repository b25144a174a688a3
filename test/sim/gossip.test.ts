// Issue #3 in the simulator, at test size (`npm run bench` runs the full sizes).
import { describe, expect, test } from "vitest";
import { billedOps, crashDetection, disseminationRounds, falsePositives } from "./scenarios";

describe("gossip dissemination (fanout 3, no loss, periodic push-pull only)", () => {
  test.each([
    [12, 3],
    [100, 4],
  ])("N=%i: p99 rounds until a change reaches every agent ≤ 1.5 × the push-pull bound (%i)", (n, bound) => {
    const r = disseminationRounds({ n, trials: 30, seed: 100 + n });
    console.log(`N=${n}: p50 ${r.p50}, p99 ${r.p99} rounds (bound ${bound}, ratio ${(r.p99 / bound).toFixed(2)})`);
    expect(r.p99 / bound).toBeLessThanOrEqual(1.5);
  });

  test("with eager push (the default) a change reaches all 100 agents within the first round", () => {
    const r = disseminationRounds({ n: 100, trials: 20, seed: 7, eager: true });
    expect(r.p99).toBe(1);
  });
});

describe("failure detection (N=100, seed defaults: heartbeat 3 s, timeout 10 s)", () => {
  test("5% loss, jittered delays: p99 crash → dead at every live agent ≤ timeoutMs + 3 gossip intervals", () => {
    const r = crashDetection({ n: 100, crashes: 12, seed: 21, loss: 0.05, jitterMs: 100 });
    console.log(`crash → dead everywhere: p50 ${r.p50} ms, p99 ${r.p99} ms (bound ${r.bound} ms, ratio ${(r.p99 / r.bound).toFixed(2)})`);
    expect(r.p99).toBeLessThanOrEqual(r.bound);
    expect(r.falseDeaths).toBe(0);
  });

  // npm test keeps this short (the whole suite must stay within minutes); `npm run bench -- --only
  // failure` runs 10,000 rounds, and SIM_ROUNDS raises it here.
  const ROUNDS = Number(process.env.SIM_ROUNDS ?? 500);
  test(`no false death over ${ROUNDS} rounds at 5% loss (suspicions are refuted)`, () => {
    const r = falsePositives({ n: 100, rounds: ROUNDS, seed: 31, loss: 0.05 });
    console.log(`${ROUNDS} rounds at 5% loss: ${r.suspicions} suspicions, ${r.refutations} refutations, ${r.deaths} deaths`);
    expect(r.deaths).toBe(0);
  });

  test("10% of agents stalling for 2 intervals at a time: suspicion and refutation, no death", () => {
    const r = falsePositives({ n: 100, rounds: 100, seed: 41, loss: 0.05, stallFraction: 0.1 });
    console.log(`stalls: ${r.stalls} stalls, ${r.suspicions} suspicions, ${r.refutations} refutations, ${r.deaths} deaths`);
    expect(r.stalls).toBeGreaterThan(250);
    expect(r.refutations).toBeGreaterThan(0);
    expect(r.deaths).toBe(0);
  });
});

describe("cost", () => {
  test("a stable 100-agent swarm bills ≤ 0.2 × a naive 3 s cadence (3 calls + 3 rows per round)", () => {
    const r = billedOps({ n: 100, seed: 51 });
    console.log(`billed ops per agent-hour: ${r.perAgentHour.toFixed(0)} (alarms ${r.alarms.toFixed(0)}, calls ${r.peerCalls.toFixed(0)}, rows ${r.rowsWritten.toFixed(0)}) vs naive ${r.naive}: ratio ${r.ratio.toFixed(3)}`);
    expect(r.ratio).toBeLessThanOrEqual(0.2);
  });
});
