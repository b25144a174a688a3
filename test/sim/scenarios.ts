// Measured scenarios shared by the tests (small) and `npm run bench` (full size). Every number is
// computed from what happened in a seeded simulation; nothing is assumed.
import type { SwarmConfigInput } from "../../src/core/config";
import { percentile, Simulator } from "./sim";

export const MEMBERSHIP_ONLY = { consensus: { voters: 0 } } as const;

/**
 * Rounds until a change reaches every agent: an agent joins through one seed at t0; a round is one
 * gossip interval; the change has arrived when every agent lists the newcomer. Periodic push-pull
 * gossip only (eager push off), as in the textbook bound.
 */
export function disseminationRounds(opts: { n: number; trials: number; seed: number; fanout?: number; eager?: boolean }): {
  rounds: number[];
  p50: number;
  p99: number;
  max: number;
} {
  const G = 1000;
  const cfg: SwarmConfigInput = {
    gossip: { intervalMs: G, fanout: opts.fanout ?? 3, eager: opts.eager ?? false },
    failure: { heartbeatMs: G, timeoutMs: 10 * G },
    ...MEMBERSHIP_ONLY,
  };
  const rounds: number[] = [];
  const perSim = Math.max(1, Math.min(opts.trials, opts.n >= 1000 ? 10 : 25));
  let trial = 0;
  for (let s = 0; trial < opts.trials; s++) {
    const sim = new Simulator(opts.seed + s, { delayMinMs: 1, delayMaxMs: 10 });
    sim.checkInvariants = opts.n < 1000;
    const ids = sim.createSwarm(opts.n, cfg);
    sim.runFor(5 * G);
    for (let k = 0; k < perSim && trial < opts.trials; k++, trial++) {
      const id = `joiner-${k}`;
      const seed = ids[sim.rng.int(ids.length)];
      const t0 = sim.now;
      sim.join(id, [seed], cfg);
      const t = sim.runUntilTrue(() => ids.every((a) => sim.nodes.get(a)!.core!.mods.membership.member(id) !== undefined), 60 * G, 25);
      if (t === null) throw sim.fail(`${id} did not reach every agent within 60 rounds`);
      rounds.push(Math.max(1, Math.ceil((t - t0) / G)));
      sim.runFor(3 * G);
    }
  }
  return { rounds, p50: percentile(rounds, 50), p99: percentile(rounds, 99), max: Math.max(...rounds) };
}

/** The seed's defaults: gossip 3 s, heartbeat 3 s, failure timeout 10 s. */
export const DEFAULTS: SwarmConfigInput = {
  gossip: { intervalMs: 3000, fanout: 3 },
  failure: { heartbeatMs: 3000, timeoutMs: 10_000 },
  ...MEMBERSHIP_ONLY,
};

/**
 * Crash → dead everywhere: crash one random agent at a random moment, measure until every live agent
 * lists it `dead`, restart it, let the swarm settle, repeat. Loss and delay jitter throughout.
 */
export function crashDetection(opts: { n: number; crashes: number; seed: number; loss: number; jitterMs: number }): {
  ms: number[];
  p50: number;
  p99: number;
  bound: number;
  falseDeaths: number;
} {
  const sim = new Simulator(opts.seed, { loss: opts.loss, delayMinMs: 1, delayMaxMs: opts.jitterMs });
  sim.checkInvariants = false;
  const ids = sim.createSwarm(opts.n, DEFAULTS);
  let falseDeaths = 0;
  let victim: string | null = null;
  sim.onEffects.push((_n, fx) => {
    for (const w of fx.writes) {
      if (w.mod !== "membership" || w.op.op !== "put") continue;
      const m = w.op.value as { id: string; status: string };
      if (m.status === "dead" && m.id !== victim && sim.nodes.get(m.id)?.core) falseDeaths++;
    }
  });
  sim.runFor(60_000);
  const ms: number[] = [];
  for (let c = 0; c < opts.crashes; c++) {
    sim.runFor(sim.rng.int(3000));
    victim = ids[sim.rng.int(ids.length)];
    const v = victim;
    const t0 = sim.now;
    sim.crash(v);
    const others = ids.filter((a) => a !== v);
    const t = sim.runUntilTrue(() => others.every((a) => sim.statusAt(a, v) === "dead"), 120_000, 20);
    if (t === null) throw sim.fail(`${v} not declared dead everywhere within 120 s`);
    ms.push(t - t0);
    sim.restart(v);
    const back = sim.runUntilTrue(() => others.every((a) => sim.statusAt(a, v) === "alive"), 120_000, 50);
    if (back === null) throw sim.fail(`${v} did not rejoin`);
    victim = null;
    sim.runFor(20_000);
  }
  return { ms, p50: percentile(ms, 50), p99: percentile(ms, 99), bound: 10_000 + 3 * 3000, falseDeaths };
}

/**
 * False positives: a healthy swarm under loss (and optionally with agents stalling for 2 intervals at a
 * time) must never bury anyone. Counts suspicions raised, refutations and deaths.
 */
export function falsePositives(opts: { n: number; rounds: number; seed: number; loss: number; stallFraction?: number }): {
  suspicions: number;
  refutations: number;
  deaths: number;
  stalls: number;
} {
  const sim = new Simulator(opts.seed, { loss: opts.loss, delayMinMs: 1, delayMaxMs: 100 });
  sim.checkInvariants = false;
  const ids = sim.createSwarm(opts.n, DEFAULTS);
  let deaths = 0;
  let stalls = 0;
  const lastStall = new Map<string, number>();
  // A death is declared by the agent whose check found a quorum (one per declaration, not per copy).
  const before = () => Array.from(sim.nodes.values()).reduce((s, n) => s + (n.core?.mods.membership.counters().deathsDeclared ?? 0), 0);
  const G = 3000;
  for (let r = 0; r < opts.rounds; r++) {
    if (opts.stallFraction) {
      // Each round, a fresh set of agents (stallFraction of the swarm in total, at any time) pauses for 2 intervals.
      // An agent stalls for exactly 2 intervals, then runs normally for at least 2 intervals.
      const perRound = Math.max(1, Math.round((opts.n * opts.stallFraction) / 2));
      const calm = ids.filter((id) => (lastStall.get(id) ?? -Infinity) <= sim.now - 4 * G);
      for (const id of sim.rng.sample(calm, perRound)) {
        sim.stall(id, 2 * G);
        lastStall.set(id, sim.now);
        stalls++;
      }
    }
    sim.runFor(G);
  }
  deaths = before();
  let suspicions = 0;
  let refutations = 0;
  for (const n of sim.nodes.values()) {
    const c = n.core!.mods.membership.counters();
    suspicions += c.suspicionsRaised;
    refutations += c.refutations;
  }
  return { suspicions, refutations, deaths, stalls };
}

/**
 * Billed operations per agent-hour of a stable swarm (alarm runs + peer calls + rows written,
 * setAlarm included), next to a naive fixed 3 s cadence with 3 peer calls and 3 rows per round.
 */
export function billedOps(opts: { n: number; seed: number; hours?: number; config?: SwarmConfigInput }): {
  perAgentHour: number;
  naive: number;
  ratio: number;
  alarms: number;
  peerCalls: number;
  rowsWritten: number;
} {
  const sim = new Simulator(opts.seed, { delayMinMs: 1, delayMaxMs: 20 });
  sim.checkInvariants = false;
  sim.createSwarm(opts.n, opts.config ?? DEFAULTS);
  sim.runFor(10 * 60_000); // settle: stable for a while
  sim.resetBills();
  const hours = opts.hours ?? 1;
  sim.runFor(hours * 3_600_000);
  const b = sim.billTotal();
  const per = (x: number) => x / opts.n / hours;
  const perAgentHour = per(b.alarms + b.peerCalls + b.rowsWritten);
  const naive = (3_600_000 / 3000) * (1 + 3 + 3);
  return { perAgentHour, naive, ratio: perAgentHour / naive, alarms: per(b.alarms), peerCalls: per(b.peerCalls), rowsWritten: per(b.rowsWritten) };
}

/** Deciles (p0, p10, …, p100) measured on a platform → 101 evenly spaced quantiles to draw from. */
export function expandDeciles(d: number[]): number[] {
  if (d.length !== 11) return [];
  return Array.from({ length: 101 }, (_, q) => {
    const i = Math.min(9, Math.floor(q / 10));
    const f = (q - 10 * i) / 10;
    return d[i] + (d[i + 1] - d[i]) * f;
  });
}

export interface Calibration {
  /** Peer-call round trips, ms (samples to draw from). */
  rttMs: number[];
  /** Alarm lateness, ms (samples to draw from). */
  alarmLateMs: number[];
}

/**
 * The simulator's prediction of crash → dead at every other agent for a configuration, on a platform
 * described by `calib` (measured there): `trials` crashes of one agent, each in a fresh seeded swarm.
 */
export function predictedDetection(opts: { n: number; config: SwarmConfigInput; calib: Calibration | null; trials: number; seed: number }): {
  ms: number[];
  p50: number;
  p99: number;
} {
  const ms: number[] = [];
  for (let i = 0; i < opts.trials; i++) {
    const sim = new Simulator(opts.seed + i, opts.calib
      ? { rttSamplesMs: opts.calib.rttMs, alarmLateSamplesMs: opts.calib.alarmLateMs, reportCalls: true }
      : { delayMinMs: 1, delayMaxMs: 10 });
    sim.checkInvariants = false;
    const ids = sim.createSwarm(opts.n, opts.config);
    sim.runFor(5000);
    const victim = ids[1 + sim.rng.int(ids.length - 1)];
    const others = ids.filter((a) => a !== victim);
    const t0 = sim.now;
    sim.crash(victim);
    const t = sim.runUntilTrue(() => others.every((a) => sim.statusAt(a, victim) === "dead"), 120_000, 5);
    if (t === null) throw sim.fail(`${victim} not declared dead everywhere within 120 s`);
    ms.push(t - t0);
  }
  return { ms, p50: percentile(ms, 50), p99: percentile(ms, 99) };
}
