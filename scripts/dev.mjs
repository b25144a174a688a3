#!/usr/bin/env node
// `npm run dev`: a local mesh under `wrangler dev` (workerd + embedded SQLite; nothing else to start),
// with a 12-agent demo swarm, and a banner that says where to look. Ctrl-C stops everything.
//   --no-demo   start the server only
//   PORT=8787   port to listen on
import { spawn } from "node:child_process";

const PORT = Number(process.env.PORT ?? 8787);
const BASE = `http://127.0.0.1:${PORT}`;
const TOKEN = "dev-token"; // from .dev.vars (read by wrangler dev, ignored by wrangler deploy)
const demo = !process.argv.includes("--no-demo");

const wrangler = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(PORT), "--test-scheduled"], {
  stdio: ["inherit", "pipe", "pipe"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
const prefix = (stream, out) => {
  let buf = "";
  stream.on("data", (d) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop();
    for (const l of lines) out.write(`[wrangler] ${l}\n`);
  });
};
prefix(wrangler.stdout, process.stdout);
prefix(wrangler.stderr, process.stderr);

let stopping = false;
const stop = (code = 0) => {
  if (stopping) return;
  stopping = true;
  wrangler.kill("SIGINT");
  setTimeout(() => process.exit(code), 3000).unref();
};
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
wrangler.on("exit", (code) => {
  if (!stopping) console.error(`wrangler dev exited (${code}).`);
  process.exit(code ?? 0);
});

async function waitForHealth(timeoutMs = 90_000) {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    try {
      const r = await fetch(`${BASE}/health`);
      if (r.ok) return await r.json();
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`wrangler dev did not answer ${BASE}/health within ${timeoutMs / 1000} s`);
}

async function api(method, path, body) {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

try {
  const health = await waitForHealth();
  let swarmLine = "demo swarm skipped (--no-demo)";
  if (demo) {
    const body = {
      swarmId: "demo", topology: "mesh", maxAgents: 12, strategy: "distributed", agents: 12,
      gossip: { intervalMs: 1000, fanout: 3 }, failure: { heartbeatMs: 1000, timeoutMs: 5000 },
    };
    const r = await api("POST", "/v1/swarms", body);
    if (r.status === 201) swarmLine = `demo swarm "demo" created: ${r.body.agents.length} agents`;
    else if (r.status === 409) swarmLine = `demo swarm "demo" already exists (kept in .wrangler/state); reusing it`;
    else throw new Error(`creating the demo swarm failed: ${r.status} ${JSON.stringify(r.body)}`);
    const s = await api("GET", "/v1/swarms/demo");
    if (s.status === 200) swarmLine += ` — ${s.body.agents.length} members, mode ${s.body.mode}, connectivity ${s.body.connectivity}`;
  }
  const H = `-H 'authorization: Bearer ${TOKEN}'`;
  console.log(`
────────────────────────────────────────────────────────────────────────────
 Meshwork ${health.version} is running under wrangler dev
 ${swarmLine}

 Dashboard   ${BASE}/            (token: ${TOKEN})
 Health      ${BASE}/health
 MCP         ${BASE}/mcp         (Streamable HTTP, header Authorization: Bearer ${TOKEN})

 claude mcp add --transport http meshwork ${BASE}/mcp --header "Authorization: Bearer ${TOKEN}"

 curl -s ${H} ${BASE}/v1/swarms/demo
 curl -s ${H} ${BASE}/v1/swarms/demo/agents/agent-3
 curl -s ${H} -H 'content-type: application/json' -d '{"agentId":"newcomer","capabilities":["code"]}' ${BASE}/v1/swarms/demo/agents
 curl -s ${H} -H 'content-type: application/json' -d '{"from":"mesh-coordinator","to":"all","message":{"type":"network_init"}}' ${BASE}/v1/swarms/demo/messages
 curl -s ${H} -X PUT -H 'content-type: application/json' -d '{"value":"initialized"}' ${BASE}/v1/swarms/demo/memory/mesh/mesh:network:t1
 curl -s ${H} -H 'content-type: application/json' -d '{"action":"crash","agents":["agent-3"]}' ${BASE}/v1/swarms/demo/chaos
 curl -s ${H} -H 'content-type: application/json' -d '{"action":"restart","agents":["agent-3"]}' ${BASE}/v1/swarms/demo/chaos
 curl -s ${H} '${BASE}/v1/swarms/demo/report?timeframe=1h&format=markdown'
 curl -sN ${H} '${BASE}/v1/swarms/demo/monitor?interval=3000&count=3&metrics=connectivity,latency,throughput'
 curl -s '${BASE}/__scheduled?cron=*+*+*+*+*'     # run the cron health check now

 Ctrl-C stops the server.
────────────────────────────────────────────────────────────────────────────
`);
} catch (err) {
  console.error(String(err));
  stop(1);
}
