#!/usr/bin/env node
// A worker behind one mesh agent: claims that agent's tasks over HTTP, runs each, and completes or
// fails it. Execution is at-least-once (a lease that runs out hands the task to another agent), so a
// handler should be safe to run twice; the mesh records the completion exactly once.
//
//   node scripts/worker.mjs --swarm demo --agent agent-3 [--cmd 'jq .payload'] [options]
//
//   --url URL         router base URL (default http://127.0.0.1:8787, or MESH_URL)
//   --token TOKEN     bearer token (default MESH_TOKEN, else the local dev token)
//   --swarm ID        swarm (required)
//   --agent ID        the agent this worker runs for (required)
//   --cmd COMMAND     run COMMAND in a shell per task: the task as JSON on stdin, TASK_ID and
//                     TASK_PAYLOAD in the environment; exit 0 → complete with {stdout, exitCode},
//                     otherwise fail with the last line of stderr. Without --cmd: the built-in
//                     handler `echo` (the payload is the result; a payload {"fail": "why"} fails).
//   --lease-ms N      lease per claim (default 60000); a command still running then is killed
//   --idle-ms N       wait after an empty claim (default 1000)
//   --max N           stop after N tasks (default: run until interrupted)
//   --exit-when-idle  stop at the first empty claim
// Prints one JSON line per task.
import { spawn } from "node:child_process";

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (k === "exit-when-idle") o[k] = true;
    else o[k] = argv[++i];
  }
  return o;
}

const o = args(process.argv.slice(2));
const BASE = (o.url ?? process.env.MESH_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const TOKEN = o.token ?? process.env.MESH_TOKEN ?? "dev-token";
const SWARM = o.swarm;
const AGENT = o.agent;
const LEASE_MS = Number(o["lease-ms"] ?? 60_000);
const IDLE_MS = Number(o["idle-ms"] ?? 1000);
const MAX = o.max === undefined ? Infinity : Number(o.max);
if (!SWARM || !AGENT) {
  console.error("usage: node scripts/worker.mjs --swarm ID --agent ID [--cmd COMMAND] [--url URL] [--lease-ms N] [--max N] [--exit-when-idle]");
  process.exit(2);
}

let stopping = false;
process.on("SIGINT", () => (stopping = true));
process.on("SIGTERM", () => (stopping = true));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(method, path, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Retry while the mesh answers 503 (a holder being replaced, an agent restarting); other answers are final. */
async function persist(method, path, body, tries = 8) {
  let r;
  for (let i = 0; i < tries; i++) {
    try {
      r = await call(method, path, body);
    } catch (err) {
      r = { status: 0, body: { error: { code: "network", message: String(err) } } };
    }
    if (r.status !== 503 && r.status !== 0) return r;
    await sleep(Math.min(5000, 250 * 2 ** i));
  }
  return r;
}

function runCommand(cmd, task) {
  return new Promise((resolve) => {
    const child = spawn(cmd, {
      shell: true,
      env: { ...process.env, TASK_ID: task.taskId, TASK_PAYLOAD: JSON.stringify(task.payload) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    // Past the lease the task is someone else's: stop working on it.
    const timer = setTimeout(() => child.kill("SIGKILL"), Math.max(1000, LEASE_MS - 1000));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ok: true, result: { stdout: stdout.slice(0, 32_000), exitCode: 0 } });
      else resolve({ ok: false, error: (stderr.trim().split("\n").pop() || `exit ${code ?? signal}`).slice(0, 4000) });
    });
    child.stdin.end(JSON.stringify(task));
  });
}

async function runBuiltin(task) {
  if (typeof task.payload?.fail === "string") return { ok: false, error: task.payload.fail };
  return { ok: true, result: task.payload ?? null };
}

let handled = 0;
while (!stopping && handled < MAX) {
  const c = await persist("POST", `/v1/swarms/${SWARM}/agents/${AGENT}/tasks/claim`, { leaseMs: LEASE_MS });
  if (c.status === 204) {
    if (o["exit-when-idle"]) break;
    await sleep(IDLE_MS);
    continue;
  }
  if (c.status !== 200) {
    console.error(JSON.stringify({ event: "claim_failed", status: c.status, error: c.body?.error }));
    if (c.status >= 400 && c.status < 500) process.exit(1);
    await sleep(IDLE_MS);
    continue;
  }
  const task = c.body.task;
  const t0 = Date.now();
  const out = o.cmd ? await runCommand(o.cmd, task) : await runBuiltin(task);
  const r = out.ok
    ? await persist("POST", `/v1/swarms/${SWARM}/tasks/${task.taskId}/complete`, { agentId: AGENT, result: out.result })
    : await persist("POST", `/v1/swarms/${SWARM}/tasks/${task.taskId}/fail`, { agentId: AGENT, error: out.error });
  handled++;
  console.log(JSON.stringify({
    taskId: task.taskId, attempt: task.attempts, outcome: out.ok ? "completed" : "failed", ms: Date.now() - t0, status: r.status,
    ...(r.status === 200 ? (out.ok ? { duplicate: r.body.duplicate, doneBy: r.body.doneBy } : { taskStatus: r.body.status }) : { error: r.body?.error }),
  }));
}
