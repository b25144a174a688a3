#!/usr/bin/env node
// How much an idle demo swarm logs at the default level: starts `wrangler dev` (own port and state
// directory), creates the same 12-agent demo swarm as `npm run dev`, waits until it is settled (a
// leader, every agent read-write), then counts every line wrangler dev prints over a quiet window in
// which nothing talks to it. Prints one JSON line: startup lines, window lines, per-10-minutes rate.
//   node scripts/idle-logs.mjs [--minutes 10] [--keep-log]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";

const args = process.argv.slice(2);
const minutes = args.includes("--minutes") ? Number(args[args.indexOf("--minutes") + 1]) : 10;
const keepLog = args.includes("--keep-log");
const TOKEN = "dev-token"; // .dev.vars
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

const port = await freePort();
const inspector = await freePort();
const BASE = `http://127.0.0.1:${port}`;
const state = mkdtempSync(join(tmpdir(), "meshwork-idle-"));
const lines = [];
const wrangler = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", state, "--show-interactive-dev-session=false"], {
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
  detached: true,
});
for (const stream of [wrangler.stdout, wrangler.stderr]) {
  let buf = "";
  stream.on("data", (d) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop();
    for (const l of parts) if (l.trim()) lines.push({ at: Date.now(), line: l });
  });
}
const stop = () => {
  try {
    process.kill(-wrangler.pid, "SIGINT");
  } catch {
    // gone
  }
};
process.on("SIGINT", () => (stop(), process.exit(130)));

async function api(method, path, body) {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${BASE}/health`)).ok) break;
    } catch {
      // not up yet
    }
    if (i > 300) throw new Error("wrangler dev did not start");
    await sleep(300);
  }
  // The demo swarm of scripts/dev.mjs.
  const r = await api("POST", "/v1/swarms", {
    swarmId: "demo", topology: "mesh", maxAgents: 12, strategy: "distributed", agents: 12,
    gossip: { intervalMs: 1000, fanout: 3 }, failure: { heartbeatMs: 1000, timeoutMs: 5000 },
  });
  if (r.status !== 201) throw new Error(`creating the demo swarm: ${r.status} ${JSON.stringify(r.body)}`);
  // Settled: the first write succeeds (a leader), then every agent read-write.
  for (let i = 0; (await api("PUT", "/v1/swarms/demo/memory/mesh/idle", { value: 1 })).status !== 200; i++) {
    if (i > 300) throw new Error("no leader");
    await sleep(200);
  }
  for (let i = 0; ; i++) {
    const s = await api("GET", "/v1/swarms/demo");
    if (s.status === 200 && s.body.mode === "read-write" && s.body.agents.every((a) => a.status === "alive")) break;
    if (i > 300) throw new Error("swarm did not settle");
    await sleep(500);
  }
  await sleep(2000); // the last request's own log lines
  const startAt = Date.now();
  const before = lines.length;
  console.error(`idle window: ${minutes} min, from ${new Date(startAt).toISOString()} (${before} lines so far)`);
  await sleep(minutes * 60_000);
  const window = lines.slice(before);
  const perTen = Math.round((window.length / minutes) * 10 * 10) / 10;
  console.log(JSON.stringify({ minutes, startupLines: before, windowLines: window.length, linesPer10Minutes: perTen, agents: 12, gossipIntervalMs: 1000 }));
  if (keepLog || window.length) for (const l of window.slice(0, 50)) console.error(`  ${new Date(l.at).toISOString()} ${l.line}`);
} finally {
  stop();
  await sleep(1500);
  try {
    process.kill(-wrangler.pid, "SIGKILL");
  } catch {
    // gone
  }
  rmSync(state, { recursive: true, force: true });
}
