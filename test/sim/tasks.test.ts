// Tasks end to end in the simulator: the real agent (membership, failure detection, the tasks module
// wrapping the task core; envelopes validated, rows persisted and restored) under loss, duplication
// and crashes (one for good, one restarting), with a worker behind every agent that claims, runs for a
// while and completes. Checked from the history: every acknowledged task ends done, its recorded
// result is the first completion's and never changes, and no two completions were both answered as
// the recorded one.
import { describe, expect, test } from "vitest";
import type { Node } from "../../src/core/node";
import type { TaskReply } from "../../src/core/tasks/replica";
import { seeds, Simulator } from "./sim";

const CFG = { gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 }, consensus: { voters: 0 } };

type TaskCopyOf = ReturnType<Node["mods"]["tasks"]["copy"]>;

interface Run {
  acked: number;
  done: number;
  lost: string[];
  recordedTwice: string[];
  changed: string[];
  steals: number;
  completes: number;
}

function run(seed: number, n = 8, tasks = 60): Run {
  const sim = new Simulator(seed, { loss: 0.02, duplicate: 0.02, delayMinMs: 1, delayMaxMs: 15 });
  const ids = sim.createSwarm(n, CFG);
  const r = sim.rng.fork();
  const replies = new Map<string, TaskReply>();
  sim.onEffects.push((_node, fx) => {
    for (const o of fx.outputs) if (o.mod === "tasks" && o.key.startsWith("r:")) replies.set(o.key.slice(2), o.value as TaskReply);
  });
  let ridSeq = 0;
  const call = (agent: string, fn: (rid: string) => (core: Node) => void): string | null => {
    const node = sim.nodes.get(agent)!;
    if (!node.core) return null;
    const rid = `${agent}-${++ridSeq}`;
    const core = node.core;
    const { effects } = core.run(sim.now, () => fn(rid)(core));
    sim.handle(node, effects);
    return rid;
  };
  const live = () => ids.filter((a) => sim.nodes.get(a)!.core);
  sim.runFor(1500); // converge

  // Submissions through random agents, retried (same id, idempotent) until acknowledged.
  const acked = new Set<string>();
  const submit = (taskId: string, tries = 0) => {
    const via = live()[r.int(live().length)];
    const rid = call(via, (rid) => (c) => c.mods.tasks.submit(rid, { taskId, payload: { taskId }, requiredCapabilities: [], strategy: "dht", replication: 3, maxAttempts: 10 }));
    sim.at(sim.now + 3000, () => {
      const a = rid ? replies.get(rid) : undefined;
      if (a?.ok) acked.add(taskId);
      else if (tries < 20) submit(taskId, tries + 1);
    });
  };
  for (let i = 0; i < tasks; i++) sim.at(sim.now + r.int(1000), () => submit(`t${i}`));

  // A worker behind every agent: claim; run 20-300 ms; complete. A crashed agent's worker dies with it.
  const busy = new Set<string>();
  const completions = new Map<string, Answer[]>();
  let completesSent = 0;
  const work = (agent: string) => {
    if (busy.has(agent) || !sim.nodes.get(agent)!.core) return;
    busy.add(agent);
    const rid = call(agent, (rid) => (c) => c.mods.tasks.claim(rid, 2000));
    sim.at(sim.now + 400, () => {
      const a = rid ? replies.get(rid) : undefined;
      const task = a?.ok && a.op === "claim" ? a.task : null;
      if (!task) return void busy.delete(agent);
      sim.at(sim.now + 20 + r.int(280), () => {
        busy.delete(agent);
        const result = { by: agent, at: sim.now };
        completesSent++;
        const crid = call(agent, (rid) => (c) => c.mods.tasks.complete(rid, task.taskId, agent, result));
        sim.at(sim.now + 3000, () => {
          const ans = crid ? replies.get(crid) : undefined;
          if (ans?.ok && ans.op === "complete") {
            const l = completions.get(task.taskId) ?? [];
            l.push({ agent, result, recorded: ans.result, duplicate: ans.duplicate });
            completions.set(task.taskId, l);
          }
        });
      });
    });
  };
  const workLoop = () => {
    for (const a of ids) work(a);
    if (sim.now < 40_000) sim.at(sim.now + 100, workLoop);
  };
  workLoop();

  // Faults: two agents crash at 2-3 s; one restarts at 6 s.
  const victims = r.shuffle(ids.slice()).slice(0, 2);
  sim.at(sim.now + 2000 + r.int(1000), () => sim.crash(victims[0]));
  sim.at(sim.now + 2000 + r.int(1000), () => sim.crash(victims[1]));
  sim.at(sim.now + 6000, () => sim.restart(victims[1]));

  const newest = (taskId: string) => {
    let best: TaskCopyOf = null;
    for (const a of live()) {
      const c = sim.nodes.get(a)!.core!.mods.tasks.copy(taskId);
      if (!c) continue;
      if (!best || c.ballot.n > best.ballot.n || (c.ballot.n === best.ballot.n && (c.ballot.by > best.ballot.by || (c.ballot.by === best.ballot.by && c.version > best.version)))) best = c;
    }
    return best;
  };
  sim.runUntilTrue(() => sim.now > 8000 && acked.size > 0 && Array.from(acked).every((t) => newest(t)?.view.status === "done"), 45_000, 500);
  sim.runFor(2000);

  const out = checkHistory(acked, (t) => newest(t)?.view ?? null, completions);
  out.completes = completesSent;
  for (const a of live()) out.steals += sim.nodes.get(a)!.core!.counters()["tasks.steals"] ?? 0;
  return out;
}

type Answer = { agent: string; result: unknown; recorded: unknown; duplicate: boolean };

/** The history checker: acknowledged tasks, the newest stored copy of each, and every completion answer. */
export function checkHistory(
  acked: Iterable<string>, stored: (taskId: string) => { status: string; result?: unknown } | null, completions: ReadonlyMap<string, Answer[]>,
): Run {
  const out: Run = { acked: 0, done: 0, lost: [], recordedTwice: [], changed: [], steals: 0, completes: 0 };
  for (const t of acked) {
    out.acked++;
    const c = stored(t);
    if (!c || c.status !== "done") {
      out.lost.push(`${t}:${c?.status ?? "missing"}`);
      continue;
    }
    out.done++;
    const answers = completions.get(t) ?? [];
    if (answers.filter((x) => !x.duplicate).length > 1) out.recordedTwice.push(t);
    // Every answer (fresh or duplicate) names the same recorded result, which is the stored one.
    if (answers.some((x) => JSON.stringify(x.recorded) !== JSON.stringify(c.result))) out.changed.push(t);
  }
  return out;
}

describe("tasks in the simulator (the module inside the real agent)", () => {
  test.each(seeds(Number(process.env.SIM_SEEDS ?? 4), 700))("seed %i: 60 tasks on 8 agents, loss, a crash and a crash-restart: none lost, each recorded once", (seed) => {
    const o = run(seed);
    const label = `seed ${seed}: ${JSON.stringify(o)}; replay SIM_SEED=${seed}`;
    expect(o.acked, label).toBeGreaterThan(50);
    expect(o.lost, label).toEqual([]);
    expect(o.recordedTwice, label).toEqual([]);
    expect(o.changed, label).toEqual([]);
    expect(o.done, label).toBe(o.acked);
  });
});

describe("the tasks history checker catches violations", () => {
  const ans = (agent: string, result: unknown, recorded: unknown, duplicate: boolean): Answer => ({ agent, result, recorded, duplicate });
  test("a task acknowledged but not done (lost), one recorded twice, one whose recorded result changed", () => {
    const stored = new Map<string, { status: string; result?: unknown }>([
      ["ok", { status: "done", result: 1 }], ["twice", { status: "done", result: 2 }], ["changed", { status: "done", result: 4 }], ["queued", { status: "queued" }],
    ]);
    const completions = new Map<string, Answer[]>([
      ["ok", [ans("a", 1, 1, false), ans("b", 9, 1, true)]],
      ["twice", [ans("a", 2, 2, false), ans("b", 3, 2, false)]],
      ["changed", [ans("a", 3, 3, false), ans("b", 4, 4, true)]],
    ]);
    const o = checkHistory(["ok", "twice", "changed", "queued", "missing"], (t) => stored.get(t) ?? null, completions);
    expect(o.lost).toEqual(["queued:queued", "missing:missing"]);
    expect(o.recordedTwice).toEqual(["twice"]);
    expect(o.changed).toEqual(["changed"]);
    expect(o.done).toBe(3);
  });
});
