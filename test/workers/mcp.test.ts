// The MCP endpoint, through the official MCP client SDK over Streamable HTTP (its transport's fetch
// calls the Worker inside workerd): the seed's hook sequence checked against the HTTP API's view of
// the same swarm, in both protocol eras the SDK serves (2025-era clients such as today's Claude Code,
// and 2026-07-28); every tool's bad arguments as tool errors that name the argument, with nothing
// changed; auth, Origin and Host guards; no OAuth discovery; and the advertised input schemas
// compiled by a JSON Schema validator against the README's example calls.
import { beforeAll, describe, expect, test } from "vitest";
import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/client/validators/ajv";
import readme from "../../README.md?raw";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { TOOLS } from "../../src/router/tools";
import { api, TOKEN, waitFor } from "./helpers";

const binding = (exports as unknown as { default: { fetch: (r: Request) => Promise<Response> } }).default;
const MCP_URL = "http://mesh.test/mcp";
const TOOL_NAMES = [
  "swarm_init", "swarm_status", "agent_spawn", "daa_communication", "daa_consensus", "daa_fault_tolerance", "memory_usage", "topology_optimize", "agent_inbox",
  "task_orchestrate", "task_claim", "task_complete", "task_fail", "task_status",
  "performance_report", "swarm_monitor",
];

type Era = "legacy" | "modern";
type ToolCall = { isError?: boolean; content: Array<{ type: string; text?: string }>; structuredContent?: any };

/** An MCP client connected to the Worker; `versions` collects the protocol versions it sent. */
async function connect(era: Era, token: string | null = TOKEN): Promise<{ client: Client; versions: Set<string> }> {
  const versions = new Set<string>();
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
    requestInit: token === null ? undefined : { headers: { authorization: `Bearer ${token}` } },
    fetch: async (url, init) => {
      const req = new Request(url, init);
      const v = req.headers.get("mcp-protocol-version");
      if (v) versions.add(v);
      return binding.fetch(req);
    },
  });
  const client = new Client({ name: "meshwork-test", version: "1.0.0" }, era === "modern" ? { versionNegotiation: { mode: "auto" } } : {});
  await client.connect(transport);
  return { client, versions };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<ToolCall> {
  return (await client.callTool({ name, arguments: args })) as ToolCall;
}

function ok(r: ToolCall, label: string): any {
  expect(r.isError, `${label}: ${r.content?.[0]?.text}`).toBeFalsy();
  expect(r.structuredContent, label).toBeTypeOf("object");
  // The text rendering is the same data, as JSON.
  expect(JSON.parse(r.content[0].text!), label).toEqual(r.structuredContent);
  return r.structuredContent;
}

async function http(method: string, path: string, body?: unknown): Promise<any> {
  const r = await api(method, path, body);
  expect(r.status, `${method} ${path} → ${JSON.stringify(r.body)?.slice(0, 300)}`).toBeLessThan(300);
  return r.body;
}

async function inboxAll(swarm: string, agent: string): Promise<any[]> {
  return (await http("GET", `/v1/swarms/${swarm}/agents/${agent}/inbox?limit=1000`)).messages;
}

/** A raw JSON-RPC POST to /mcp (what an MCP client's first request looks like). */
function rawMcp(headers: Record<string, string>, url = MCP_URL): Request {
  return new Request(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify({
      jsonrpc: "2.0", id: 1, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
}

/** A JSON body, or the one JSON-RPC message of a one-event SSE response. */
async function bodyOf(res: Response): Promise<any> {
  let text = await res.text();
  const data = /^data: (.*)$/m.exec(text);
  if (res.headers.get("content-type")?.startsWith("text/event-stream") && data) text = data[1];
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------

describe.each<[Era]>([["legacy"], ["modern"]])("MCP over Streamable HTTP (%s era)", (era) => {
  test("lists the tools and runs the seed's hook sequence; every result agrees with the HTTP API", async () => {
    const { client, versions } = await connect(era);
    // The era really differs: 2025-era clients send 2025-* versions, modern ones 2026-07-28.
    const expected = era === "modern" ? /^2026-/ : /^2025-/;
    expect([...versions].length).toBeGreaterThan(0);
    for (const v of versions) expect(v).toMatch(expected);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOL_NAMES);

    // pre: swarm_init mesh --maxAgents=12 --strategy=distributed (no swarm id: a generated one)
    const init = ok(await call(client, "swarm_init", { topology: "mesh", maxAgents: 12, strategy: "distributed" }), "swarm_init");
    const swarmId: string = init.swarmId;
    expect(swarmId).toMatch(/^swarm-[0-9a-f]{10}$/);
    expect(init.agents).toHaveLength(12); // spawning maxAgents agents is the default
    expect(init.config).toMatchObject({ topology: "mesh", strategy: "distributed", maxAgents: 12 });
    const listed = (await http("GET", "/v1/swarms")).swarms.find((s: any) => s.swarmId === swarmId);
    expect(listed).toMatchObject({ swarmId, agents: 12 });
    expect((await http("GET", `/v1/swarms/${swarmId}`)).config).toEqual(init.config);

    // daa_communication from mesh-coordinator to all, the message as a JSON string (as the seed passes it).
    // Every later call names no swarm: the default is the swarm just initialized.
    const task = `task-${era}`;
    const initMsg = { type: "network_init", topology: "mesh" };
    const sent1 = ok(await call(client, "daa_communication", { from: "mesh-coordinator", to: "all", message: JSON.stringify(initMsg) }), "network_init");
    expect(sent1.swarmId).toBe(swarmId);
    expect([...sent1.recipients].sort()).toEqual([...init.agents].sort());

    // daa_consensus agents=all proposal='{"coordination_protocol":"gossip","consensus_threshold":0.67}':
    // gossip voting (the default protocol); every agent validates the proposal and votes itself.
    const proposal = { coordination_protocol: "gossip", consensus_threshold: 0.67 };
    const proposed = ok(await call(client, "daa_consensus", { agents: "all", proposal: JSON.stringify(proposal) }), "daa_consensus propose");
    expect(proposed).toMatchObject({ swarmId, status: "pending", protocol: "gossip" });
    const decided = await waitFor(async () => {
      const r = ok(await call(client, "daa_consensus", { proposal_id: proposed.proposalId }), "daa_consensus read");
      return r.status === "pending" ? null : r;
    }, 60_000, 200, "daa_consensus decided");
    expect(decided).toMatchObject({ proposalId: proposed.proposalId, protocol: "gossip", status: "approved" });
    expect(decided.votes.approve).toBeGreaterThanOrEqual(Math.ceil(0.67 * 12));
    const httpDecision = await http("GET", `/v1/swarms/${swarmId}/proposals/${proposed.proposalId}`);
    expect(httpDecision).toMatchObject({ proposalId: proposed.proposalId, status: "approved", protocol: "gossip" });
    expect(httpDecision.proposal).toEqual(proposal);

    // memory_usage store "mesh:network:<task>" "<date>: Mesh network initialized" --namespace=mesh — the
    // first write after swarm_init, no retry.
    const initialized = `${new Date().toISOString()}: Mesh network initialized`;
    const stored1 = ok(
      await call(client, "memory_usage", { action: "store", key: `mesh:network:${task}`, value: initialized, namespace: "mesh" }),
      "memory store network",
    );
    expect(stored1).toMatchObject({ action: "store", swarmId, namespace: "mesh", key: `mesh:network:${task}` });
    expect(stored1.version).toBeGreaterThan(0);

    // post: performance_report --format=json --timeframe=24h → memory_usage store "mesh:metrics:<task>"
    // "$(swarm_status)" --namespace=mesh → daa_communication network_shutdown.
    const report = ok(await call(client, "performance_report", { format: "json", timeframe: "24h" }), "performance_report");
    const httpReport = await http("GET", `/v1/swarms/${swarmId}/report?timeframe=24h`);
    expect(report).toMatchObject({ swarmId, timeframe: "24h", format: "json" });
    for (const k of ["network", "consensus", "load"]) expect(Object.keys(report[k]), k).toEqual(Object.keys(httpReport[k]));
    // Both count what happened so far: one message entered the mesh, one election, one gossip decision
    // (daa_consensus), the write and the agents' key pins on the log.
    for (const r of [report, httpReport]) {
      expect(r.network.messages.originated).toBe(1);
      expect(r.consensus.leaderElections).toBe(1);
      expect(r.consensus.protocols.gossip?.decisions).toBe(1);
      expect(r.consensus.decisions).toBe(1);
      expect(r.consensus.logProposals).toBeGreaterThanOrEqual(1);
      expect(r.consensus.byzantineTolerance).toBe(1); // 5 voters: f = 1
      expect(r.agents).toMatchObject({ total: 12, answering: 12, reporting: 12 });
      expect(r.cost.naivePerAgentHour).toBe(8400);
      expect(r.network.latencyMs.p99).not.toBeNull();
    }
    expect(report.network.throughput).toBeGreaterThan(0);
    expect(report.consensus.leader).toBe(httpReport.consensus.leader);
    const statusCall = await call(client, "swarm_status", {});
    const status = ok(statusCall, "swarm_status");
    const httpStatus = await http("GET", `/v1/swarms/${swarmId}`);
    expect(status.swarmId).toBe(swarmId);
    for (const k of ["config", "createdAt"]) expect(status[k], k).toEqual(httpStatus[k]);
    expect(status.agents.map((a: any) => a.agentId).sort()).toEqual(httpStatus.agents.map((a: any) => a.agentId).sort());
    expect(status.agents.map((a: any) => a.agentId).sort()).toEqual([...init.agents].sort());
    expect(status.mode).toBe("read-write");
    expect(httpStatus.mode).toBe("read-write");
    // A leader was needed for the write above; both views name one of the five voters.
    // The leader is one of the log's voters (placed by hash).
    const voters = (await http("GET", `/v1/swarms/${swarmId}/agents/agent-1`)).raft.voters;
    for (const s of [status, httpStatus]) if (s.leader !== null) expect(voters).toContain(s.leader);

    const statusText = statusCall.content[0].text!;
    const stored2 = ok(
      await call(client, "memory_usage", { action: "store", key: `mesh:metrics:${task}`, value: statusText, namespace: "mesh" }),
      "memory store metrics",
    );
    expect(stored2.version).toBeGreaterThan(stored1.version);

    // daa_communication network_shutdown
    const shutdownMsg = { type: "network_shutdown", reason: "task_complete" };
    const sent2 = ok(await call(client, "daa_communication", { from: "mesh-coordinator", to: "all", message: JSON.stringify(shutdownMsg) }), "network_shutdown");

    // The HTTP API's view of the same swarm. Every agent's inbox: both messages, once, in order.
    await waitFor(async () => {
      const counts = await Promise.all(init.agents.map(async (a: string) => (await inboxAll(swarmId, a)).length));
      return counts.every((c) => c >= 2);
    }, 60_000, 100);
    for (const a of init.agents) {
      const inbox = await inboxAll(swarmId, a);
      expect(inbox.map((m) => m.messageId), a).toEqual([sent1.messageId, sent2.messageId]);
      expect(inbox.map((m) => m.message), a).toEqual([initMsg, shutdownMsg]);
      expect(inbox.every((m) => m.from === "mesh-coordinator"), a).toBe(true);
    }
    // agent_inbox (the worker's view) is the HTTP inbox.
    const inbox3 = ok(await call(client, "agent_inbox", { agentId: "agent-3" }), "agent_inbox");
    expect(inbox3).toEqual({ swarmId, agentId: "agent-3", ...(await http("GET", `/v1/swarms/${swarmId}/agents/agent-3/inbox`)) });
    const page2 = ok(await call(client, "agent_inbox", { agentId: "agent-3", after: inbox3.next }), "agent_inbox after");
    expect(page2.messages).toEqual([]);

    // The keys read back over HTTP: a plain string stays a string; swarm_status output (JSON text) is stored as JSON.
    const net = await http("GET", `/v1/swarms/${swarmId}/memory/mesh/mesh:network:${task}`);
    expect(net).toEqual({ value: initialized, version: stored1.version, stale: false });
    const metrics = await http("GET", `/v1/swarms/${swarmId}/memory/mesh/mesh:metrics:${task}`);
    expect(metrics.value).toEqual(status);
    expect(metrics.version).toBe(stored2.version);
    expect((await http("GET", `/v1/swarms/${swarmId}/memory/mesh`)).keys).toEqual([`mesh:metrics:${task}`, `mesh:network:${task}`]);
    // And through the tool: retrieve and list agree with HTTP.
    const got = ok(await call(client, "memory_usage", { action: "retrieve", key: `mesh:network:${task}`, namespace: "mesh" }), "retrieve");
    expect(got).toEqual({ action: "retrieve", swarmId, namespace: "mesh", key: `mesh:network:${task}`, ...net });
    const keys = ok(await call(client, "memory_usage", { action: "list", namespace: "mesh" }), "list");
    expect(keys.keys).toEqual([`mesh:metrics:${task}`, `mesh:network:${task}`]);

    // task_orchestrate (the seed's arguments): three parts placed on the ring; the worker behind each
    // assigned agent claims and completes its part (task_claim, task_complete); task_status agrees with HTTP.
    const orch = ok(await call(client, "task_orchestrate", { task: "Analyze the mesh", strategy: "parallel", priority: "high", maxAgents: 3 }), "task_orchestrate");
    expect(orch).toMatchObject({ swarmId, strategy: "dht", priority: "high" });
    expect(orch.tasks).toHaveLength(3);
    for (const part of orch.tasks) {
      expect(part.replicas).toHaveLength(3);
      const viaHttp = await http("GET", `/v1/swarms/${swarmId}/tasks/${part.taskId}`);
      expect(viaHttp).toMatchObject({ taskId: part.taskId, status: "queued", assignedTo: part.assignedTo });
      expect(viaHttp.payload).toMatchObject({ task: "Analyze the mesh", priority: "high", of: 3 });
      let claimed: any = null;
      await waitFor(async () => {
        const c = ok(await call(client, "task_claim", { agentId: part.assignedTo, leaseMs: 30_000 }), "task_claim");
        if (c.task && c.task.taskId !== part.taskId) throw new Error(`claimed another task: ${c.task.taskId}`);
        return (claimed = c.task);
      }, 30_000, 100);
      expect(claimed).toMatchObject({ taskId: part.taskId, status: "running", attempts: 1 });
      const done1 = ok(await call(client, "task_complete", { taskId: part.taskId, agentId: part.assignedTo, result: '{"ok":true}' }), "task_complete");
      expect(done1).toMatchObject({ swarmId, taskId: part.taskId, status: "done", result: { ok: true }, doneBy: part.assignedTo, duplicate: false });
      const done2 = ok(await call(client, "task_complete", { taskId: part.taskId, agentId: part.assignedTo, result: { ok: false } }), "task_complete again");
      expect(done2).toMatchObject({ result: { ok: true }, duplicate: true });
      const st = ok(await call(client, "task_status", { taskId: part.taskId }), "task_status");
      expect(st).toEqual({ swarmId, ...(await http("GET", `/v1/swarms/${swarmId}/tasks/${part.taskId}`)) });
      expect(st.status).toBe("done");
    }

    // The other tools of today, on the same swarm, each against its endpoint.
    // The swarm holds maxAgents agents: one more is a tool error (swarm_full), and nothing changes.
    const full = await call(client, "agent_spawn", { agentId: "extra-1", capabilities: ["code"] });
    expect(full.isError).toBe(true);
    expect(full.structuredContent.error.code).toBe("swarm_full");
    expect((await http("GET", `/v1/swarms/${swarmId}`)).agents).toHaveLength(12);
    const ft = ok(await call(client, "daa_fault_tolerance", { agentId: "agent-2", strategy: "failover_recovery" }), "daa_fault_tolerance");
    expect(ft).toMatchObject({ swarmId, agentId: "agent-2", strategy: "failover_recovery", status: "alive" });
    const topo = ok(await call(client, "topology_optimize", {}), "topology_optimize");
    expect(topo.swarmId).toBe(swarmId);
    expect(topo.after).toMatchObject({ nodes: 12, connected: true, bridges: 0, articulationPoints: 0 });
    const httpTopo = await http("POST", `/v1/swarms/${swarmId}/topology/optimize`);
    for (const k of ["nodes", "edges", "connected", "components", "bridges", "articulationPoints"]) expect(topo.after[k], k).toEqual(httpTopo.after[k]);

    // swarm_monitor --interval --metrics=connectivity,latency,throughput: a short series of snapshots.
    const mon = ok(await call(client, "swarm_monitor", { interval: 250, count: 3, metrics: "connectivity,latency,throughput" }), "swarm_monitor");
    expect(mon).toMatchObject({ swarmId, intervalMs: 250 });
    expect(mon.snapshots.map((s: any) => s.seq)).toEqual([1, 2, 3]);
    for (let i = 1; i < 3; i++) expect(mon.snapshots[i].at - mon.snapshots[0].at).toBeGreaterThanOrEqual(i * 250);
    for (const s of mon.snapshots) {
      expect(s.connectivity.now).toBeGreaterThan(0.5); // the mean reachable fraction (1 when settled; a loaded machine may lag)
      expect(s.connectivity.now).toBeLessThanOrEqual(1);
      expect(s).toHaveProperty("latency");
      expect(s).toHaveProperty("throughput");
      expect(s).not.toHaveProperty("agents");
    }
    const one = ok(await call(client, "swarm_monitor", {}), "swarm_monitor snapshot");
    expect(one.snapshots).toHaveLength(1);
    expect(one.snapshots[0].agents.map((a: any) => a.agentId)).toEqual(Array.from({ length: 12 }, (_, i) => `agent-${i + 1}`));
    // performance_report in Markdown: the text is the document, structuredContent the same report.
    const mdCall = await call(client, "performance_report", { format: "markdown", timeframe: "1h" });
    expect(mdCall.isError).toBeFalsy();
    expect(mdCall.content[0].text).toMatch(/^# Performance report: swarm-[0-9a-f]{10} \(1h\)/);
    expect(mdCall.structuredContent).toMatchObject({ swarmId, timeframe: "1h", format: "markdown" });
    await client.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Bad arguments: a tool error naming the argument, nothing changed.

const BAD = "mcp-bad"; // 4 agents, maxAgents 4: full
const ROOMY = "mcp-roomy"; // 2 agents, maxAgents 6
const FAST = { gossip: { intervalMs: 50 }, failure: { heartbeatMs: 100, timeoutMs: 5000 } };
const NAMESPACES = ["default", "mesh", "bad"];

/** What must not change: the listing, each swarm's config and roster, each agent's own view, memory, inboxes. */
async function snapshot() {
  const listing = (await http("GET", "/v1/swarms")).swarms
    .map((s: any) => ({ swarmId: s.swarmId, agents: s.agents, createdAt: s.createdAt }))
    .sort((a: any, b: any) => (a.swarmId < b.swarmId ? -1 : 1));
  const swarms: Record<string, unknown> = {};
  for (const id of [BAD, ROOMY]) {
    const status = await http("GET", `/v1/swarms/${id}`);
    const roster: string[] = status.agents.map((a: any) => a.agentId).sort();
    const views: Record<string, unknown> = {};
    for (const a of roster) {
      const v = await http("GET", `/v1/swarms/${id}/agents/${a}`);
      // Timing-dependent fields (lastSeenAt, load, raft term, stats, health) are left out on purpose.
      views[a] = {
        agentId: v.agentId, swarmId: v.swarmId, state: v.state, capabilities: v.capabilities, config: v.config,
        chaos: v.chaos, membership: v.membership.map((m: any) => m.agentId).sort(),
        inbox: (await inboxAll(id, a)).map((m) => m.messageId),
      };
    }
    const memory: Record<string, unknown> = {};
    for (const ns of NAMESPACES) {
      const keys: string[] = (await http("GET", `/v1/swarms/${id}/memory/${ns}`)).keys;
      for (const k of keys) memory[`${ns}/${k}`] = (await http("GET", `/v1/swarms/${id}/memory/${ns}/${k}`)).value;
    }
    swarms[id] = { config: status.config, createdAt: status.createdAt, roster, views, memory };
  }
  return { listing, swarms };
}

const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });

/**
 * [tool, arguments, the argument the error must name (null: a refusal about the swarm's state, not an
 * argument), the contract code when a service refused it].
 */
function badCalls(): Array<[string, Record<string, unknown>, string | null, string?]> {
  return [
    // swarm_init: wrong type, out of range, bad id, unknown enum, existing id, cross-field rules, unknown field
    ["swarm_init", { maxAgents: "12" }, "maxAgents"],
    ["swarm_init", { maxAgents: 0 }, "maxAgents"],
    ["swarm_init", { maxAgents: 1001 }, "maxAgents"],
    ["swarm_init", { maxAgents: 2.5 }, "maxAgents"],
    ["swarm_init", { topology: "hierarchical" }, "topology"],
    ["swarm_init", { strategy: "centralized" }, "strategy"],
    ["swarm_init", { swarmId: "Mcp-New" }, "swarmId"],
    ["swarm_init", { swarmId: "a".repeat(64) }, "swarmId"],
    ["swarm_init", { swarmId: BAD }, "swarmId", "conflict"],
    ["swarm_init", { swarmId: "mcp-new", agents: 13 }, "agents", "swarm_full"],
    ["swarm_init", { swarmId: "mcp-new", maxAgents: 3, agents: 5 }, "agents", "swarm_full"],
    ["swarm_init", { swarmId: "mcp-new", agents: -1 }, "agents"],
    ["swarm_init", { swarmId: "mcp-new", gossip: { fanout: 9 } }, "gossip.fanout"],
    ["swarm_init", { swarmId: "mcp-new", gossip: { intervalMs: 5 } }, "gossip.intervalMs"],
    ["swarm_init", { swarmId: "mcp-new", failure: { heartbeatMs: 1000, timeoutMs: 500 } }, "failure.timeoutMs", "invalid_request"],
    ["swarm_init", { swarmId: "mcp-new", consensus: { heartbeatMs: 1000, electionMs: 1500 } }, "consensus.electionMs", "invalid_request"],
    ["swarm_init", { swarmId: "mcp-new", consensus: { threshold: 0.5 } }, "consensus.threshold"],
    ["swarm_init", { swarmId: "mcp-new", agent: 3 }, "agent"],
    // swarm_status
    ["swarm_status", { swarmId: "ghost" }, "swarmId", "not_found"],
    ["swarm_status", { swarmId: "GHOST" }, "swarmId"],
    ["swarm_status", { swarmId: 5 }, "swarmId"],
    ["swarm_status", { verbose: true }, "verbose"],
    // agent_spawn (BAD is full: a valid spawn would be refused too — after these checks)
    ["agent_spawn", { swarmId: "ghost" }, "swarmId", "not_found"],
    ["agent_spawn", { swarmId: ROOMY, agentId: "agent-1" }, "agentId", "conflict"],
    ["agent_spawn", { swarmId: ROOMY, agentId: "all" }, "agentId", "invalid_request"],
    ["agent_spawn", { swarmId: ROOMY, agentId: "Agent-9" }, "agentId"],
    ["agent_spawn", { swarmId: ROOMY, capabilities: "code" }, "capabilities"],
    ["agent_spawn", { swarmId: ROOMY, capabilities: [""] }, "capabilities.0"],
    ["agent_spawn", { swarmId: ROOMY, capacity: { slots: 0 } }, "capacity.slots"],
    ["agent_spawn", { swarmId: ROOMY, seeds: ["ghost"] }, "seeds", "invalid_request"],
    ["agent_spawn", { swarmId: ROOMY, seeds: [] }, "seeds"],
    ["agent_spawn", { swarmId: BAD, agentId: "agent-5" }, null, "swarm_full"],
    // daa_communication
    ["daa_communication", { to: "all", message: { a: 1 } }, "from"],
    ["daa_communication", { from: "mesh-coordinator", message: { a: 1 } }, "to"],
    ["daa_communication", { from: "mesh-coordinator", to: "all" }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: "network init" }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: '{"type":' }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: "[1,2]" }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: "42" }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: 42 }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: [1] }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: deep(70) }, "message"],
    ["daa_communication", { from: "mesh-coordinator", to: "all", message: JSON.stringify(deep(70)) }, "message"],
    ["daa_communication", { from: "Mesh Coordinator", to: "all", message: { a: 1 } }, "from"],
    ["daa_communication", { from: "mesh-coordinator", to: "All", message: { a: 1 } }, "to"],
    ["daa_communication", { from: "mesh-coordinator", to: "ghost", message: { a: 1 } }, "to", "not_found"],
    ["daa_communication", { swarmId: "ghost", from: "mesh-coordinator", to: "all", message: { a: 1 } }, "swarmId", "not_found"],
    // daa_fault_tolerance
    ["daa_fault_tolerance", { strategy: "heartbeat_monitor" }, "agentId"],
    ["daa_fault_tolerance", { agentId: "agent-1" }, "strategy"],
    ["daa_fault_tolerance", { agentId: "agent-1", strategy: "restart" }, "strategy"],
    ["daa_fault_tolerance", { agentId: 7, strategy: "heartbeat_monitor" }, "agentId"],
    ["daa_fault_tolerance", { agentId: "ghost", strategy: "heartbeat_monitor" }, "agentId", "not_found"],
    ["daa_fault_tolerance", { agentId: "ghost", strategy: "failover_recovery" }, "agentId", "not_found"],
    ["daa_fault_tolerance", { swarmId: "ghost", agentId: "agent-1", strategy: "heartbeat_monitor" }, "swarmId", "not_found"],
    // memory_usage
    ["memory_usage", { key: "k", value: 1 }, "action"],
    ["memory_usage", { action: "update", key: "k", value: 1 }, "action"],
    ["memory_usage", { action: "store", value: 1 }, "key"],
    ["memory_usage", { action: "store", key: "k" }, "value"],
    ["memory_usage", { action: "retrieve" }, "key"],
    ["memory_usage", { action: "delete" }, "key"],
    ["memory_usage", { action: "store", key: "Bad Key", value: 1 }, "key"],
    ["memory_usage", { action: "store", key: "k".repeat(300), value: 1 }, "key"],
    ["memory_usage", { action: "store", key: 12, value: 1 }, "key"],
    ["memory_usage", { action: "store", key: "k", value: 1, namespace: "Mesh" }, "namespace"],
    ["memory_usage", { action: "store", key: "k", value: 1, ttl: 0 }, "ttl"],
    ["memory_usage", { action: "store", key: "k", value: 1, ttl: "60" }, "ttl"],
    ["memory_usage", { action: "store", key: "k", value: 1, ttl: 1.5 }, "ttl"],
    ["memory_usage", { action: "store", key: "k", value: 1, ttl: 400 * 24 * 3600 }, "ttl"],
    ["memory_usage", { action: "store", key: "k", value: deep(70) }, "value"],
    ["memory_usage", { action: "store", key: "k", value: 1, limit: 5 }, "limit"],
    ["memory_usage", { action: "retrieve", key: "kept", ttl: 5 }, "ttl"],
    ["memory_usage", { action: "retrieve", key: "kept", namespace: "bad", consistency: "eventual" }, "consistency"],
    ["memory_usage", { action: "delete", key: "kept", namespace: "bad", consistency: "stale" }, "consistency"],
    ["memory_usage", { action: "list", limit: 0 }, "limit"],
    ["memory_usage", { action: "list", limit: 5000 }, "limit"],
    ["memory_usage", { action: "list", value: 1 }, "value"],
    ["memory_usage", { action: "retrieve", key: "missing" }, "key", "not_found"],
    ["memory_usage", { action: "delete", key: "missing", namespace: "bad" }, "key", "not_found"],
    ["memory_usage", { swarmId: "ghost", action: "store", key: "k", value: 1 }, "swarmId", "not_found"],
    // daa_consensus: no form, mixed forms, bad proposal, bad protocol/threshold, unknown proposal or voter
    ["daa_consensus", {}, "proposal"],
    ["daa_consensus", { proposal: "not json" }, "proposal"],
    ["daa_consensus", { proposal: "[1,2]" }, "proposal"],
    ["daa_consensus", { proposal: { a: 1 }, vote: "approve" }, "vote"],
    ["daa_consensus", { proposal: { a: 1 }, protocol: "paxos" }, "protocol"],
    ["daa_consensus", { proposal: { a: 1 }, threshold: 1.5 }, "threshold"],
    ["daa_consensus", { proposal: { a: 1 }, agents: ["ghost"] }, "agents", "not_found"],
    ["daa_consensus", { vote: "approve" }, "proposal_id"],
    ["daa_consensus", { vote: "approve", proposal_id: "p1" }, "agentId"],
    ["daa_consensus", { vote: "maybe", proposal_id: "p1", agentId: "agent-1" }, "vote"],
    ["daa_consensus", { proposal_id: "no-such-proposal" }, "proposal_id", "not_found"],
    ["daa_consensus", { swarmId: "ghost", proposal_id: "p1" }, "swarmId", "not_found"],
    // topology_optimize
    ["topology_optimize", { swarmId: "ghost" }, "swarmId", "not_found"],
    ["topology_optimize", { swarmId: "-bad" }, "swarmId"],
    ["topology_optimize", { repair: false }, "repair"],
    // task_orchestrate, task_claim, task_complete, task_fail, task_status
    ["task_orchestrate", {}, "task"],
    ["task_orchestrate", { task: "x", strategy: "fastest" }, "strategy"],
    ["task_orchestrate", { task: "x", priority: "urgent" }, "priority"],
    ["task_orchestrate", { task: "x", maxAgents: 0 }, "maxAgents"],
    ["task_orchestrate", { task: "x", requiredCapabilities: [""] }, "requiredCapabilities.0"],
    ["task_orchestrate", { task: "x", requiredCapabilities: ["quantum"] }, null, "no_capable_agent"],
    ["task_orchestrate", { task: "x", taskId: "Bad Id" }, "taskId"],
    ["task_orchestrate", { swarmId: "ghost", task: "x" }, "swarmId", "not_found"],
    ["task_claim", {}, "agentId"],
    ["task_claim", { agentId: "ghost" }, "agentId", "not_found"],
    ["task_claim", { agentId: "agent-1", leaseMs: 5 }, "leaseMs"],
    ["task_complete", { agentId: "agent-1" }, "taskId"],
    ["task_complete", { taskId: "missing", agentId: "agent-1" }, "taskId", "not_found"],
    ["task_complete", { taskId: "missing", agentId: "ghost" }, "agentId", "not_found"],
    ["task_fail", { taskId: "missing", agentId: "agent-1" }, "error"],
    ["task_fail", { taskId: "missing", agentId: "agent-1", error: "" }, "error"],
    ["task_fail", { taskId: "missing", agentId: "agent-1", error: "boom" }, "taskId", "not_found"],
    ["task_status", { taskId: "missing" }, "taskId", "not_found"],
    ["task_status", { taskId: "Bad" }, "taskId"],
    ["task_status", { limit: 0 }, "limit"],
    ["task_status", { status: "lost" }, "status"],
    // agent_inbox
    ["agent_inbox", {}, "agentId"],
    ["agent_inbox", { agentId: "ghost" }, "agentId", "not_found"],
    ["agent_inbox", { agentId: "agent-1/inbox" }, "agentId"],
    ["agent_inbox", { agentId: "agent-1", after: "-1" }, "after"],
    ["agent_inbox", { agentId: "agent-1", after: "abc" }, "after"],
    ["agent_inbox", { agentId: "agent-1", after: -1 }, "after"],
    ["agent_inbox", { agentId: "agent-1", limit: 0 }, "limit"],
    ["agent_inbox", { agentId: "agent-1", limit: 1001 }, "limit"],
    ["agent_inbox", { agentId: "agent-1", limit: "10" }, "limit"],
    ["agent_inbox", { swarmId: "ghost", agentId: "agent-1" }, "swarmId", "not_found"],
    // performance_report
    ["performance_report", { format: "xml" }, "format"],
    ["performance_report", { timeframe: "2h" }, "timeframe"],
    ["performance_report", { timeframe: 24 }, "timeframe"],
    ["performance_report", { verbose: true }, "verbose"],
    ["performance_report", { swarmId: "ghost" }, "swarmId", "not_found"],
    // swarm_monitor
    ["swarm_monitor", { interval: 10 }, "interval"],
    ["swarm_monitor", { interval: "3000" }, "interval"],
    ["swarm_monitor", { count: 0 }, "count"],
    ["swarm_monitor", { count: 21 }, "count"],
    ["swarm_monitor", { count: 20, interval: 60_000 }, "count"],
    ["swarm_monitor", { metrics: "connectivity,bogus" }, "metrics"],
    ["swarm_monitor", { metrics: ["bogus"] }, "metrics"],
    ["swarm_monitor", { swarmId: "ghost" }, "swarmId", "not_found"],
  ];
}

describe("MCP tool errors", () => {
  let client: Client;
  let before: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    expect((await api("POST", "/v1/swarms", { swarmId: ROOMY, maxAgents: 6, agents: 2, ...FAST })).status).toBe(201);
    // BAD is created last: it is the default swarm of calls without swarmId.
    expect((await api("POST", "/v1/swarms", { swarmId: BAD, maxAgents: 4, agents: 4, ...FAST })).status).toBe(201);
    // One committed key (also waits until the log has a leader) and one delivered message, so there is state to keep.
    await waitFor(async () => (await api("PUT", `/v1/swarms/${BAD}/memory/bad/kept`, { value: { v: 1 } })).status === 200, 30_000, 100);
    await http("POST", `/v1/swarms/${BAD}/messages`, { from: "mesh-coordinator", to: "agent-2", message: { kept: true } });
    await waitFor(async () => (await inboxAll(BAD, "agent-2")).length === 1, 20_000);
    ({ client } = await connect("legacy"));
    before = await snapshot();
  });

  test("every tool, each kind of bad argument: a tool error naming the argument; state unchanged", async () => {
    const seen = new Set<string>();
    for (const [name, args, argument, code] of badCalls()) {
      const label = `${name} ${JSON.stringify(args).slice(0, 120)}`;
      seen.add(name);
      const r = await call(client, name, args);
      const text = r.content?.[0]?.text ?? "";
      expect(r.isError, `${label} → ${text}`).toBe(true);
      expect(text, label).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+/); // no stack trace
      if (code) {
        // Refused by the service: the contract's code and message, the argument named.
        expect(r.structuredContent?.error?.code, `${label} → ${text}`).toBe(code);
        expect(r.structuredContent?.error?.message, label).toMatch(/[.!?]$/);
        if (argument === null) {
          expect(r.structuredContent?.argument, label).toBeUndefined();
        } else {
          expect(r.structuredContent?.argument, `${label} → ${text}`).toBe(argument);
          expect(text, label).toContain(`(argument ${argument})`);
        }
      } else {
        if (argument === null) throw new Error(`${label}: a schema error must name its argument`);
        // Refused by the input schema before anything ran: the message names the argument.
        expect(text, label).toMatch(/^Input validation error: Invalid arguments for tool /);
        const named = new RegExp(`(^|[ ,:])${argument.replace(/\./g, "\\.")}: |"${argument}"`);
        expect(text, `${label} → ${text}`).toMatch(named);
      }
    }
    expect([...seen].sort()).toEqual([...TOOL_NAMES].sort());
    // An unknown tool is a protocol error, not a call.
    await expect(client.callTool({ name: "neural_train", arguments: {} })).rejects.toThrow(/neural_train/);
    // Nothing changed anywhere: no swarm, agent, key or message was created, changed or removed.
    expect(await snapshot()).toEqual(before);
  });

  test("a valid call after all that works, on the default swarm and on a named one", async () => {
    const st = ok(await call(client, "swarm_status", {}), "swarm_status");
    expect(st.swarmId).toBe(BAD);
    const kept = ok(await call(client, "memory_usage", { action: "retrieve", key: "kept", namespace: "bad" }), "retrieve kept");
    expect(kept.value).toEqual({ v: 1 });
    const spawned = ok(await call(client, "agent_spawn", { swarmId: ROOMY, agentId: "worker-1", capabilities: ["code", "review"], capacity: { slots: 2 } }), "agent_spawn");
    expect(spawned).toMatchObject({ swarmId: ROOMY, agentId: "worker-1" });
    const view = await http("GET", `/v1/swarms/${ROOMY}/agents/worker-1`);
    expect(view.capabilities).toEqual(["code", "review"]);
    expect((await http("GET", `/v1/swarms/${ROOMY}`)).agents.map((a: any) => a.agentId)).toContain("worker-1");
    // memory: a string that is not JSON stays a string, JSON text becomes JSON, objects stay objects; ttl works.
    for (const [value, stored] of [["plain words", "plain words"], ['{"a":[1,2]}', { a: [1, 2] }], [{ b: true }, { b: true }], ["42", 42]] as const) {
      ok(await call(client, "memory_usage", { swarmId: ROOMY, action: "store", key: "v", value }), `store ${JSON.stringify(value)}`);
      expect((await http("GET", `/v1/swarms/${ROOMY}/memory/default/v`)).value).toEqual(stored);
    }
    ok(await call(client, "memory_usage", { swarmId: ROOMY, action: "store", key: "short", value: 1, ttl: 1 }), "store ttl");
    await waitFor(async () => (await api("GET", `/v1/swarms/${ROOMY}/memory/default/short`)).status === 404, 10_000, 100);
    const del = ok(await call(client, "memory_usage", { swarmId: ROOMY, action: "delete", key: "v" }), "delete");
    expect(del).toEqual({ action: "delete", swarmId: ROOMY, namespace: "default", key: "v", deleted: true, version: null });
    expect((await api("GET", `/v1/swarms/${ROOMY}/memory/default/v`)).status).toBe(404);
    // A swarm initialized now becomes the default.
    const fresh = ok(await call(client, "swarm_init", { swarmId: "mcp-fresh", maxAgents: 3, ...FAST }), "swarm_init");
    expect(fresh.agents).toEqual(["agent-1", "agent-2", "agent-3"]);
    expect(ok(await call(client, "swarm_status", {}), "status of the newest").swarmId).toBe("mcp-fresh");
    const empty = ok(await call(client, "swarm_init", { swarmId: "mcp-empty", agents: 0 }), "swarm_init empty");
    expect(empty.agents).toEqual([]);
    expect(ok(await call(client, "swarm_status", {}), "status of the empty one").agents).toEqual([]);
    // The snapshot the bad calls were checked with does see changes like these (it is not blind).
    const after = await snapshot();
    expect(after).not.toEqual(before);
    expect((after.swarms[ROOMY] as any).roster).toContain("worker-1");
    expect(after.listing.map((s: any) => s.swarmId)).toEqual(expect.arrayContaining(["mcp-fresh", "mcp-empty"]));
  });
});

// ---------------------------------------------------------------------------------------------

describe("MCP endpoint guards", () => {
  test("without the token: 401 in the contract's error shape (and the SDK client fails to connect)", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${btoa(`x:${TOKEN}`)}` }] as Array<Record<string, string>>) {
      const res = await binding.fetch(rawMcp(headers));
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const body = await bodyOf(res);
      expect(Object.keys(body)).toEqual(["error"]);
      expect(body.error).toMatchObject({ code: "unauthorized", message: expect.stringMatching(/Bearer/) });
      // A plain Bearer challenge: nothing sends the client to OAuth discovery.
      const challenge = res.headers.get("www-authenticate") ?? "";
      expect(challenge).toMatch(/^Bearer\b/);
      expect(challenge).not.toMatch(/resource_metadata|oauth|authorization_uri/i);
      expect(JSON.stringify(body)).not.toMatch(/oauth|well-known/i);
    }
    await expect(connect("legacy", null)).rejects.toThrow();
    await expect(connect("legacy", "wrong")).rejects.toThrow();
  });

  test("a deployment without MESH_TOKEN answers 503 not_configured on /mcp", async () => {
    for (const MESH_TOKEN of [undefined, ""]) {
      const e = { ...(env as unknown as Env), MESH_TOKEN };
      const res = await worker.fetch(rawMcp({ authorization: `Bearer ${TOKEN}` }), e, createExecutionContext());
      expect(res.status).toBe(503);
      expect((await bodyOf(res)).error.code).toBe("not_configured");
    }
  });

  test("OAuth discovery finds nothing: /.well-known/oauth-* and openid-configuration are plain 404s", async () => {
    const paths = [
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-authorization-server",
      "/.well-known/oauth-authorization-server/mcp",
      "/.well-known/openid-configuration",
      "/mcp/.well-known/openid-configuration",
      "/register",
      "/authorize",
      "/token",
    ];
    for (const path of paths) {
      for (const token of [null, TOKEN]) {
        const r = await api("GET", path, undefined, { token });
        expect(r.status, `${path} token=${token}`).toBe(404);
        expect(r.body.error.code).toBe("not_found");
        expect(JSON.stringify(r.body)).not.toMatch(/authorization_servers|issuer|token_endpoint/);
      }
    }
  });

  test("a foreign Origin is 403 (before anything else); a same-origin one and none are served", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const origin of ["https://evil.example", "http://mesh.test:8080", "https://mesh.test", "null", "http://localhost:6274", "not a url"]) {
      for (const headers of [{ ...auth, origin }, { origin }]) {
        const res = await binding.fetch(rawMcp(headers));
        expect(res.status, `${origin} ${Object.keys(headers)}`).toBe(403);
        const body = await bodyOf(res);
        expect(body.error.code).toBe("forbidden");
        expect(body.error.message).toMatch(/Origin/);
      }
    }
    for (const headers of [{ ...auth, origin: "http://mesh.test" }, auth]) {
      const res = await binding.fetch(rawMcp(headers));
      expect(res.status).toBe(200);
      const body = await bodyOf(res);
      expect(body.result?.serverInfo?.name ?? JSON.stringify(body)).toBe("meshwork");
    }
  });

  test("under local development (MESH_ENV=dev, public dev token) only localhost Host names are served (DNS rebinding)", async () => {
    const e = { ...(env as unknown as Env), MESH_ENV: "dev" };
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const url of ["http://evil.example:8787/mcp", "http://rebound.attacker.test/mcp", "http://192.168.1.5:8787/mcp"]) {
      const res = await worker.fetch(rawMcp(auth, url), e, createExecutionContext());
      expect(res.status, url).toBe(403);
      expect((await bodyOf(res)).error.code).toBe("forbidden");
    }
    for (const url of ["http://127.0.0.1:8787/mcp", "http://localhost:8787/mcp", "http://[::1]:8787/mcp"]) {
      const res = await worker.fetch(rawMcp(auth, url), e, createExecutionContext());
      expect(res.status, url).toBe(200);
    }
    // The same foreign host is fine when deployed (a public hostname cannot be rebound to a private address).
    const deployed = await worker.fetch(rawMcp(auth, "http://meshwork.example.workers.dev/mcp"), { ...e, MESH_ENV: "production" }, createExecutionContext());
    expect(deployed.status).toBe(200);
  });

  test("other methods: GET and DELETE answer 405 (a stateless server has no stream or session); bodies over 64 KiB 413", async () => {
    const auth = { authorization: `Bearer ${TOKEN}`, accept: "application/json, text/event-stream" };
    for (const method of ["GET", "DELETE"]) {
      const res = await binding.fetch(new Request(MCP_URL, { method, headers: auth }));
      expect(res.status, method).toBe(405);
    }
    const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "memory_usage", arguments: { action: "store", key: "big", value: "x".repeat(70 * 1024) } } });
    const res = await binding.fetch(new Request(MCP_URL, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: big }));
    expect(res.status).toBe(413);
  });
});

// ---------------------------------------------------------------------------------------------

/** The README's tool table: `| \`name\` | description | \`{example arguments}\` |`. */
function readmeTools(): Map<string, { description: string; example: unknown }> {
  const out = new Map<string, { description: string; example: unknown }>();
  for (const line of readme.split("\n")) {
    const m = /^\| `([a-z_]+)` \| (.+?) \| `(\{.*\})` \|\s*$/.exec(line);
    if (m) out.set(m[1], { description: m[2], example: JSON.parse(m[3]) });
  }
  return out;
}

describe("MCP tool list", () => {
  test("each input schema is a JSON Schema object that compiles; each tool has a description; the README documents each with an example that validates", async () => {
    const { client } = await connect("legacy");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOL_NAMES);
    // Ajv (bundled by the SDK): the 2020-12 meta-schema check, then a compile.
    const validator = new AjvJsonSchemaValidator();
    const ajv = (validator as unknown as { ajv: { validateSchema(s: unknown): boolean; errors: unknown } }).ajv;
    const documented = readmeTools();
    for (const t of tools) {
      const schema = t.inputSchema as any;
      expect(schema.type, t.name).toBe("object");
      expect(schema.properties, t.name).toBeTypeOf("object");
      expect(schema.additionalProperties, t.name).toBe(false); // unknown arguments are errors, as in the HTTP API
      expect(ajv.validateSchema(schema), `${t.name}: ${JSON.stringify(ajv.errors)}`).toBe(true);
      const check = validator.getValidator(schema);
      // Every property is described for the model.
      for (const [k, p] of Object.entries<any>(schema.properties)) expect(p.description, `${t.name}.${k}`).toBeTypeOf("string");
      if (t.name !== "swarm_init") expect(schema.properties.swarmId?.description, t.name).toMatch(/most recently initialized/);
      expect(t.description?.length ?? 0, t.name).toBeGreaterThan(80);
      expect(t.annotations?.openWorldHint, t.name).toBe(false);

      const doc = documented.get(t.name);
      expect(doc, `README row for ${t.name}`).toBeDefined();
      expect(doc!.description.length, t.name).toBeGreaterThan(20);
      const valid = check(doc!.example);
      expect(valid.valid, `${t.name} README example ${JSON.stringify(doc!.example)}: ${(valid as any).errorMessage}`).toBe(true);
      // The server's own zod schema agrees (the JSON Schema is a view of it).
      const def = TOOLS.find((d) => d.name === t.name)!;
      expect(def.inputSchema.safeParse(doc!.example).success, `${t.name} example against zod`).toBe(true);
      // And the JSON Schema rejects what the tool rejects: a wrong type for a documented argument.
      expect(check({ ...(doc!.example as object), unknownArgument: 1 }).valid, t.name).toBe(false);
    }
    expect([...documented.keys()].sort()).toEqual([...TOOL_NAMES].sort());
    await client.close();
  });
});
