// A battery of bad requests against the router. For each: the contract's status and error shape
// ({"error": {"code": "snake_case", "message": "one sentence", details?}}), never a 500, never a stack
// trace, and stored state unchanged (snapshotted before the battery, compared after; plus targeted
// checks that a rejected create/spawn/delete/chaos/message/write did nothing).
import { beforeAll, describe, expect, test } from "vitest";
import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { requireToken } from "../../src/router/auth";
import { ApiError } from "../../src/router/errors";
import { api, TOKEN, waitFor, type ApiResult } from "./helpers";

const MAIN = "br-main"; // 4 agents, maxAgents 6: the swarm the battery is fired at
const FULL = "br-full"; // 2 agents, maxAgents 2
const GHOST = "br-ghost"; // never created
const TIMERS = { gossip: { intervalMs: 50 }, failure: { heartbeatMs: 100, timeoutMs: 5000 } };
const MAIN_AGENTS = ["agent-1", "agent-2", "agent-3", "agent-4"];
const AUTH = { authorization: `Bearer ${TOKEN}` };
const JSON_CT = { "content-type": "application/json" };

// ---------------------------------------------------------------------------------------------
// Sending and checking

const binding = (exports as unknown as { default: { fetch: (r: Request) => Promise<Response> } }).default;

async function toResult(res: Response): Promise<ApiResult & { text: string }> {
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // keep the text
  }
  return { status: res.status, body, headers: res.headers, text };
}

/** A hand-built Request through the Worker's own entry (the same path `api` takes). */
async function send(req: Request): Promise<ApiResult & { text: string }> {
  return toResult(await binding.fetch(req));
}

/** Call the Worker's default export directly, with a different environment. */
async function sendWithEnv(req: Request, overrides: Partial<Env>): Promise<ApiResult & { text: string }> {
  const e = { ...(env as unknown as Env), ...overrides };
  return toResult(await worker.fetch(req, e, createExecutionContext()));
}

/** Raw body (already-serialized JSON or not) with the given headers. */
function rawApi(method: string, path: string, raw: string, headers: Record<string, string> = JSON_CT) {
  return api(method, path, undefined, { raw, headers });
}

const STACK = /\bat \S+ \(|\bat (async )?\S+:\d+:\d+|\.(ts|js|mjs):\d+|\b(Range|Type|Reference|Syntax)Error\b|node_modules|kj\//;

/**
 * The contract's error: status, code, shape, a one-sentence message, no stack trace; `field` (if
 * given) must be named in details — as `details.field` or one of `details.issues[].field`.
 */
function expectError(r: ApiResult, status: number, code: string, field?: string, label = ""): void {
  const ctx = `${label} → ${r.status} ${JSON.stringify(r.body)?.slice(0, 400)}`;
  expect(r.status, ctx).not.toBe(500);
  expect(r.status, ctx).toBe(status);
  expect(r.headers.get("content-type") ?? "", ctx).toMatch(/^application\/json/);
  expect(r.body, ctx).toBeTypeOf("object");
  expect(Object.keys(r.body ?? {}), ctx).toEqual(["error"]);
  const e = r.body.error;
  for (const k of Object.keys(e)) expect(["code", "message", "details"], ctx).toContain(k);
  expect(e.code, ctx).toBe(code);
  expect(e.code, ctx).toMatch(/^[a-z]+(_[a-z]+)*$/);
  expect(typeof e.message, ctx).toBe("string");
  expect(e.message.trim().length, ctx).toBeGreaterThan(5);
  expect(e.message, ctx).not.toMatch(/\n/);
  expect(e.message, ctx).toMatch(/[.!?]$/);
  expect(JSON.stringify(r.body), ctx).not.toMatch(STACK);
  if (field !== undefined) {
    const d = e.details ?? {};
    const named = [d.field, ...(Array.isArray(d.issues) ? d.issues.map((i: any) => i.field) : [])];
    expect(named, ctx).toContain(field);
  }
}

// ---------------------------------------------------------------------------------------------
// State snapshots

async function ok(method: string, path: string, headers?: Record<string, string>): Promise<any> {
  const r = await api(method, path, undefined, { headers });
  expect(r.status, `${method} ${path} → ${JSON.stringify(r.body)?.slice(0, 300)}`).toBe(200);
  return r.body;
}

async function agentIdsOf(swarm: string): Promise<string[]> {
  const s = await ok("GET", `/v1/swarms/${swarm}`);
  return s.agents.map((a: any) => a.agentId).sort();
}

async function swarmIds(): Promise<string[]> {
  return (await ok("GET", "/v1/swarms")).swarms.map((s: any) => s.swarmId).sort();
}

async function inboxCount(swarm: string, agent: string): Promise<number> {
  return (await ok("GET", `/v1/swarms/${swarm}/agents/${agent}/inbox?limit=1000`)).messages.length;
}

/** What must not change: the registry's listing, each swarm's config and roster, each agent's own view. */
async function snapshot() {
  const listing = (await ok("GET", "/v1/swarms")).swarms
    .map((s: any) => ({ swarmId: s.swarmId, agents: s.agents, mode: s.mode, createdAt: s.createdAt }))
    .sort((a: any, b: any) => (a.swarmId < b.swarmId ? -1 : 1));
  const swarms: Record<string, unknown> = {};
  for (const id of [MAIN, FULL]) {
    const status = await ok("GET", `/v1/swarms/${id}`);
    const members = (await ok("GET", `/v1/swarms/${id}/agents`)).agents.map((a: any) => a.agentId).sort();
    const roster: string[] = status.agents.map((a: any) => a.agentId).sort();
    const views: Record<string, unknown> = {};
    for (const a of roster) {
      const v = await ok("GET", `/v1/swarms/${id}/agents/${a}`);
      // Timing-dependent fields (lastSeenAt, load, raft term, stats) are left out on purpose.
      views[a] = {
        agentId: v.agentId, swarmId: v.swarmId, state: v.state, capabilities: v.capabilities, config: v.config,
        chaos: v.chaos, membership: v.membership.map((m: any) => m.agentId).sort(),
        inbox: await inboxCount(id, a),
      };
    }
    swarms[id] = { config: status.config, createdAt: status.createdAt, roster, members, views };
  }
  const memory = await ok("GET", `/v1/swarms/${MAIN}/memory/bad`);
  return { listing, swarms, memory: memory.keys };
}

let before: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  const m = await api("POST", "/v1/swarms", { swarmId: MAIN, maxAgents: 6, agents: 4, ...TIMERS });
  expect(m.status).toBe(201);
  const f = await api("POST", "/v1/swarms", { swarmId: FULL, maxAgents: 2, agents: 2, ...TIMERS });
  expect(f.status).toBe(201);
  // One committed key, so memory has state to keep; also waits until the replicated log has a leader.
  await waitFor(async () => (await api("PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, { value: { v: 1 } })).status === 200, 20_000, 100);
  before = await snapshot();
  expect(before.memory).toEqual(["kept"]);
});

// ---------------------------------------------------------------------------------------------

describe("bad requests against the router", () => {
  test("GET /health needs no token: 200 {ok: true, version}", async () => {
    for (const token of [null, "wrong"]) {
      const r = await api("GET", "/health", undefined, { token });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ ok: true, version: expect.any(String) });
      expect(r.body.version.length).toBeGreaterThan(0);
    }
  });

  test("401 unauthorized: no Authorization header, wrong token, malformed bearer headers", async () => {
    const headerCases: Array<[string, Record<string, string>]> = [
      ["no header", {}],
      ["wrong token", { authorization: "Bearer not-the-token" }],
      ["token prefix", { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ["token plus suffix", { authorization: `Bearer ${TOKEN}x` }],
      ["empty header", { authorization: "" }],
      ["scheme only", { authorization: "Bearer" }],
      ["scheme and space", { authorization: "Bearer " }],
      ["basic scheme", { authorization: `Basic ${btoa(`user:${TOKEN}`)}` }],
      ["other scheme", { authorization: `Token ${TOKEN}` }],
      ["bare token", { authorization: TOKEN }],
      ["two tokens", { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
      ["token in another header", { "x-mesh-token": TOKEN }],
    ];
    // Auth comes first: even an unknown path, a wrong method or a bad body answers 401.
    const requests: Array<[string, string, string | undefined]> = [
      ["GET", "/v1/swarms", undefined],
      ["POST", "/v1/swarms", JSON.stringify({ swarmId: "br-unauth", agents: 1 })],
      ["DELETE", `/v1/swarms/${MAIN}?purge=true`, undefined],
      ["POST", `/v1/swarms/${MAIN}/agents`, JSON.stringify({ agentId: "br-unauth" })],
      ["POST", `/v1/swarms/${MAIN}/chaos`, JSON.stringify({ action: "crash", agents: ["agent-1"] })],
      ["PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, JSON.stringify({ value: "overwritten" })],
      ["GET", "/v1/nope", undefined],
      ["PATCH", "/v1/swarms", undefined],
      ["POST", "/v1/swarms", "{not json"],
      ["GET", "/mcp", undefined],
    ];
    for (const [label, headers] of headerCases) {
      for (const [method, path, raw] of requests) {
        const h: Record<string, string> = { ...headers };
        if (raw !== undefined) h["content-type"] = "application/json";
        const r = await api(method, path, undefined, { token: null, headers: h, raw });
        expectError(r, 401, "unauthorized", undefined, `${label}: ${method} ${path}`);
        expect(r.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
      }
    }
    expect(await swarmIds()).not.toContain("br-unauth");
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    expect((await ok("GET", `/v1/swarms/${MAIN}/agents/agent-1`)).chaos).toEqual((before.swarms[MAIN] as any).views["agent-1"].chaos);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("400: malformed JSON and JSON that is not an object, on every endpoint that takes a body", async () => {
    const bodies = ["{", '{"swarmId": "br-malformed",}', "{'swarmId': 'br-malformed'}", '{"a":1}{', "nul", "[", "undefined",
      "[]", '["br-malformed"]', '"br-malformed"', '""', "null", "42", "true", "false"];
    const endpoints: Array<[string, string]> = [
      ["POST", "/v1/swarms"],
      ["POST", `/v1/swarms/${MAIN}/agents`],
      ["POST", `/v1/swarms/${MAIN}/chaos`],
      ["POST", `/v1/swarms/${MAIN}/messages`],
      ["POST", `/v1/swarms/${MAIN}/fault-tolerance`],
      ["PUT", `/v1/swarms/${MAIN}/memory/bad/kept`],
    ];
    for (const [method, path] of endpoints) {
      for (const b of bodies) expectError(await rawApi(method, path, b), 400, "invalid_request", undefined, `${method} ${path} ${b}`);
    }
    // Invalid UTF-8 in a JSON body.
    const bad = new Uint8Array([...new TextEncoder().encode('{"swarmId":"br-utf'), 0xff, 0xfe, ...new TextEncoder().encode('"}')]);
    expectError(
      await send(new Request("http://mesh.test/v1/swarms", { method: "POST", headers: { ...AUTH, ...JSON_CT }, body: bad })),
      400, "invalid_request", undefined, "invalid utf-8",
    );
    expect(await swarmIds()).toEqual(before.listing.map((s: any) => s.swarmId));
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
  });

  test("400 naming the field: wrong types and out-of-range values", async () => {
    // POST /v1/swarms — each with its own swarmId, so we can check none was created.
    const create: Array<[Record<string, unknown>, string]> = [
      [{ agents: "12" }, "body.agents"],
      [{ agents: 3.5 }, "body.agents"],
      [{ agents: -1 }, "body.agents"],
      [{ agents: null }, "body.agents"],
      [{ maxAgents: -1 }, "body.maxAgents"],
      [{ maxAgents: 0 }, "body.maxAgents"],
      [{ maxAgents: "5" }, "body.maxAgents"],
      [{ maxAgents: 1e9 }, "body.maxAgents"],
      [{ gossip: { intervalMs: 5 } }, "body.gossip.intervalMs"],
      [{ gossip: { intervalMs: 19 } }, "body.gossip.intervalMs"],
      [{ gossip: { intervalMs: "50" } }, "body.gossip.intervalMs"],
      [{ gossip: { fanout: 9 } }, "body.gossip.fanout"],
      [{ gossip: { fanout: 0 } }, "body.gossip.fanout"],
      [{ gossip: "fast" }, "body.gossip"],
      [{ gossip: [] }, "body.gossip"],
      [{ failure: { heartbeatMs: 5 } }, "body.failure.heartbeatMs"],
      [{ failure: { heartbeatMs: 500, timeoutMs: 400 } }, "body.failure.timeoutMs"],
      [{ consensus: { threshold: 2 } }, "body.consensus.threshold"],
      [{ consensus: { threshold: 0.5 } }, "body.consensus.threshold"],
      [{ consensus: { threshold: "0.67" } }, "body.consensus.threshold"],
      [{ consensus: { voters: -1 } }, "body.consensus.voters"],
      [{ topology: "star" }, "body.topology"],
      [{ strategy: "central" }, "body.strategy"],
      [{ swarmId: 7 }, "body.swarmId"],
    ];
    for (const [i, [extra, field]] of create.entries()) {
      const body = { swarmId: `br-type-${i}`, ...extra };
      expectError(await api("POST", "/v1/swarms", body), 400, "invalid_request", field, JSON.stringify(body));
    }
    expectError(await rawApi("POST", "/v1/swarms", '{"swarmId":"br-type-inf","agents":1e400}'), 400, "invalid_request", "body.agents");

    // POST …/agents — each with its own agentId, so we can check none was added.
    const spawn: Array<[Record<string, unknown>, string]> = [
      [{ capabilities: "x" }, "body.capabilities"],
      [{ capabilities: [1] }, "body.capabilities.0"],
      [{ capabilities: [""] }, "body.capabilities.0"],
      [{ capabilities: { code: true } }, "body.capabilities"],
      [{ capacity: 5 }, "body.capacity"],
      [{ capacity: { slots: 0 } }, "body.capacity.slots"],
      [{ capacity: { slots: "2" } }, "body.capacity.slots"],
      [{ seeds: "agent-1" }, "body.seeds"],
      [{ seeds: [] }, "body.seeds"],
      [{ seeds: ["ghost"] }, "body.seeds"],
    ];
    for (const [i, [extra, field]] of spawn.entries()) {
      const body = { agentId: `br-type-${i}`, ...extra };
      expectError(await api("POST", `/v1/swarms/${MAIN}/agents`, body), 400, "invalid_request", field, JSON.stringify(body));
    }

    const messages: Array<[Record<string, unknown>, string]> = [
      [{ from: 5, to: "agent-2", message: {} }, "body.from"],
      [{ from: "agent-1", to: ["agent-2"], message: {} }, "body.to"],
      [{ from: "agent-1", to: "agent-2", message: "hi" }, "body.message"],
      [{ from: "agent-1", to: "agent-2", message: [1, 2] }, "body.message"],
      [{ from: "agent-1", to: "agent-2" }, "body.message"],
      [{ to: "agent-2", message: {} }, "body.from"],
    ];
    for (const [body, field] of messages) {
      expectError(await api("POST", `/v1/swarms/${MAIN}/messages`, body), 400, "invalid_request", field, JSON.stringify(body));
    }
    const faults: Array<[Record<string, unknown>, string]> = [
      [{ agentId: "agent-1", strategy: "reboot" }, "body.strategy"],
      [{ agentId: "agent-1" }, "body.strategy"],
      [{ strategy: "heartbeat_monitor" }, "body.agentId"],
    ];
    for (const [body, field] of faults) {
      expectError(await api("POST", `/v1/swarms/${MAIN}/fault-tolerance`, body), 400, "invalid_request", field, JSON.stringify(body));
    }
    const writes: Array<[Record<string, unknown>, string]> = [
      [{}, "body.value"],
      [{ value: 2, ttlSeconds: 0 }, "body.ttlSeconds"],
      [{ value: 2, ttlSeconds: "60" }, "body.ttlSeconds"],
      [{ value: 2, ttlSeconds: 1.5 }, "body.ttlSeconds"],
    ];
    for (const [body, field] of writes) {
      expectError(await api("PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, body), 400, "invalid_request", field, JSON.stringify(body));
    }

    const ids = await swarmIds();
    expect(ids.filter((s) => s.startsWith("br-type"))).toEqual([]);
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    for (const a of MAIN_AGENTS) expect(await inboxCount(MAIN, a)).toBe(0);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("400 naming the field: unknown fields, at the top level and nested", async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/v1/swarms", { swarmId: "br-unknown-1", foo: 1 }, "body.foo"],
      ["POST", "/v1/swarms", { swarmId: "br-unknown-2", agentCount: 3 }, "body.agentCount"],
      ["POST", "/v1/swarms", { swarmId: "br-unknown-3", gossip: { intervalMs: 50, speed: 2 } }, "body.gossip.speed"],
      ["POST", "/v1/swarms", { swarmId: "br-unknown-4", failure: { timeout: 10 } }, "body.failure.timeout"],
      ["POST", "/v1/swarms", { swarmId: "br-unknown-5", consensus: { quorum: 3 } }, "body.consensus.quorum"],
      ["POST", `/v1/swarms/${MAIN}/agents`, { agentId: "br-unknown", role: "worker" }, "body.role"],
      ["POST", `/v1/swarms/${MAIN}/agents`, { agentId: "br-unknown", capacity: { slots: 2, cpu: 1 } }, "body.capacity.cpu"],
      ["POST", `/v1/swarms/${MAIN}/chaos`, { action: "heal", force: true }, "body.force"],
      ["POST", `/v1/swarms/${MAIN}/chaos`, { action: "crash", agents: ["agent-1"], delayMs: 5 }, "body.delayMs"],
      ["POST", `/v1/swarms/${MAIN}/messages`, { from: "agent-1", to: "agent-2", message: {}, priority: 1 }, "body.priority"],
      ["POST", `/v1/swarms/${MAIN}/fault-tolerance`, { agentId: "agent-1", strategy: "heartbeat_monitor", now: true }, "body.now"],
      ["PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, { value: 2, ttl: 60 }, "body.ttl"],
    ];
    for (const [method, path, body, field] of cases) {
      expectError(await api(method, path, body), 400, "invalid_request", field, `${method} ${path} ${JSON.stringify(body)}`);
    }
    // Keys that are special in JavaScript are just unknown fields.
    expectError(await rawApi("POST", "/v1/swarms", '{"swarmId":"br-unknown-6","__proto__":{"agents":3}}'), 400, "invalid_request", "body.__proto__");
    expectError(await rawApi("POST", "/v1/swarms", '{"swarmId":"br-unknown-7","constructor":{}}'), 400, "invalid_request", "body.constructor");

    expect((await swarmIds()).filter((s) => s.startsWith("br-unknown"))).toEqual([]);
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    for (const a of MAIN_AGENTS) expect(await inboxCount(MAIN, a)).toBe(0);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("400: bodies nested deeper than the limit are refused, not a 500 or an agent failure", async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    let deepObj: unknown = {};
    for (let i = 0; i < 100; i++) deepObj = { a: deepObj };
    expectError(await api("PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, { value: deep }), 400, "invalid_request", undefined, "deep value");
    expectError(await api("PUT", `/v1/swarms/${MAIN}/memory/bad/deep`, { value: deepObj }), 400, "invalid_request", undefined, "deep object");
    expectError(await api("POST", `/v1/swarms/${MAIN}/messages`, { from: "agent-1", to: "agent-2", message: { a: deep } }), 400, "invalid_request", undefined, "deep message");
    expectError(await api("POST", "/v1/swarms", { swarmId: "br-deep", gossip: deep }), 400, "invalid_request", undefined, "deep create");
    // A moderately nested value is fine.
    let ok20: unknown = "leaf";
    for (let i = 0; i < 20; i++) ok20 = { n: ok20 };
    expect((await api("PUT", `/v1/swarms/${MAIN}/memory/bad/nested`, { value: ok20 })).status).toBe(200);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/nested`)).value).toEqual(ok20);
    expect((await api("DELETE", `/v1/swarms/${MAIN}/memory/bad/nested`)).status).toBe(200);

    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
    expect((await api("GET", `/v1/swarms/${MAIN}/memory/bad/deep`)).status).toBe(404);
    expect(await inboxCount(MAIN, "agent-2")).toBe(0);
    expect(await swarmIds()).not.toContain("br-deep");
  });

  test("413 payload_too_large: bodies over 64 KiB, with and without a (truthful or lying) content-length", async () => {
    const MAX = 64 * 1024;
    const enc = new TextEncoder();
    // Valid JSON, valid fields: only the size is wrong (padded with whitespace).
    const padded = (obj: object, bytes: number) => {
      const s = JSON.stringify(obj);
      return s.slice(0, -1) + " ".repeat(bytes - enc.encode(s).length) + "}";
    };
    const post = (path: string, body: BodyInit, headers: Record<string, string> = {}, init: RequestInit = {}) =>
      new Request(`http://mesh.test${path}`, { method: "POST", headers: { ...AUTH, ...JSON_CT, ...headers }, body, ...init });
    const chunked = (bytes: Uint8Array) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < bytes.length; i += 8192) c.enqueue(bytes.slice(i, i + 8192));
          c.close();
        },
      });

    // 1. Through the Worker's entry, as `api` does.
    const big1 = padded({ swarmId: "br-big-1" }, MAX + 1);
    expectError(await rawApi("POST", "/v1/swarms", big1), 413, "payload_too_large", undefined, "65537 bytes");
    // 2. Truthful content-length (checked before reading).
    const big2 = enc.encode(padded({ swarmId: "br-big-2" }, 70_000));
    const req2 = post("/v1/swarms", big2, { "content-length": String(big2.length) });
    expect(req2.headers.get("content-length")).toBe("70000");
    expectError(await sendWithEnv(req2, {}), 413, "payload_too_large", undefined, "truthful content-length");
    // 3. No content-length at all: a streamed body, counted as it is read.
    const req3 = post("/v1/swarms", chunked(enc.encode(padded({ swarmId: "br-big-3" }, 70_000))), {}, { duplex: "half" } as RequestInit);
    expect(req3.headers.get("content-length")).toBeNull();
    expectError(await sendWithEnv(req3, {}), 413, "payload_too_large", undefined, "streamed, no content-length");
    // 4. A content-length that lies (says 20 bytes, sends 70 000).
    const big4 = enc.encode(padded({ swarmId: "br-big-4" }, 70_000));
    expectError(await sendWithEnv(post("/v1/swarms", big4, { "content-length": "20" }), {}), 413, "payload_too_large", undefined, "lying content-length");
    expectError(await send(post("/v1/swarms", padded({ swarmId: "br-big-5" }, 70_000), { "content-length": "20" })), 413, "payload_too_large", undefined, "lying content-length via entry");
    // 5. Bytes, not characters: 40 000 "é" are 80 000 bytes.
    const multibyte = JSON.stringify({ from: "agent-1", to: "agent-2", message: { text: "é".repeat(40_000) } });
    expect(multibyte.length).toBeLessThan(MAX);
    expectError(await sendWithEnv(post(`/v1/swarms/${MAIN}/messages`, chunked(enc.encode(multibyte)), {}, { duplex: "half" } as RequestInit), {}), 413, "payload_too_large", undefined, "multibyte");
    // 6. A declared length over the limit with a small body is refused on the declaration.
    expectError(await sendWithEnv(post("/v1/swarms", '{"swarmId":"br-big-7"}', { "content-length": "70000" }), {}), 413, "payload_too_large", undefined, "declared only");
    // 7. Other endpoints.
    expectError(await rawApi("POST", `/v1/swarms/${MAIN}/agents`, padded({ agentId: "br-big" }, 70_000)), 413, "payload_too_large");
    expectError(await rawApi("PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, JSON.stringify({ value: "x".repeat(70_000) })), 413, "payload_too_large");
    expectError(await rawApi("POST", `/v1/swarms/${MAIN}/chaos`, padded({ action: "crash", agents: ["agent-1"] }, 70_000)), 413, "payload_too_large");
    // Boundary: exactly 64 KiB is read (and then refused for its unknown field, not for its size).
    const edge = padded({ swarmId: "br-big-edge", pad: "" }, MAX);
    expect(enc.encode(edge).length).toBe(MAX);
    expectError(await rawApi("POST", "/v1/swarms", edge), 400, "invalid_request", "body.pad", "exactly 64 KiB");

    expect((await swarmIds()).filter((s) => s.startsWith("br-big"))).toEqual([]);
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    expect(await inboxCount(MAIN, "agent-2")).toBe(0);
    expect((await ok("GET", `/v1/swarms/${MAIN}/agents/agent-1`)).chaos).toEqual((before.swarms[MAIN] as any).views["agent-1"].chaos);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("400: a body that is not JSON by its content-type", async () => {
    const cases: Array<[string, string]> = [
      ["text/plain", JSON.stringify({ swarmId: "br-ct-1" })],
      ["text/plain;charset=UTF-8", JSON.stringify({ swarmId: "br-ct-2" })],
      ["application/x-www-form-urlencoded", "swarmId=br-ct-3"],
      ["multipart/form-data; boundary=x", '--x\r\ncontent-disposition: form-data; name="swarmId"\r\n\r\nbr-ct-4\r\n--x--'],
      ["text/html", "<p>br-ct-5</p>"],
      ["application/xml", "<swarmId>br-ct-6</swarmId>"],
      ["application/jsonx", JSON.stringify({ swarmId: "br-ct-7" })],
      ["application/octet-stream", JSON.stringify({ swarmId: "br-ct-8" })],
    ];
    for (const [ct, body] of cases) {
      const r = await rawApi("POST", "/v1/swarms", body, { "content-type": ct });
      expectError(r, 400, "invalid_request", undefined, ct);
      expect(r.body.error.details?.contentType).toBe(ct);
    }
    expectError(await rawApi("POST", `/v1/swarms/${MAIN}/agents`, JSON.stringify({ agentId: "br-ct" }), { "content-type": "text/plain" }), 400, "invalid_request");
    expectError(await rawApi("PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, JSON.stringify({ value: 3 }), { "content-type": "text/plain" }), 400, "invalid_request");
    expectError(await rawApi("POST", `/v1/swarms/${MAIN}/chaos`, JSON.stringify({ action: "heal" }), { "content-type": "text/plain" }), 400, "invalid_request");
    expect((await swarmIds()).filter((s) => s.startsWith("br-ct"))).toEqual([]);
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("400: bad ids in the path (uppercase, too long, slash-encoded, leading dash, …)", async () => {
    const badSwarms = ["BR-MAIN", "Br-main", "a".repeat(64), "br-main%2Fagents%2Fagent-1", "br-main%2fagent-1", "-br-main", "_br-main",
      "br%20main", "br.main", "br-m%C3%A4in", "br-main%00", "%E0%A4%A"];
    for (const id of badSwarms) {
      const reqs: Array<[string, string, unknown]> = [
        ["GET", `/v1/swarms/${id}`, undefined],
        ["DELETE", `/v1/swarms/${id}`, undefined],
        ["GET", `/v1/swarms/${id}/agents`, undefined],
        ["POST", `/v1/swarms/${id}/agents`, { agentId: "br-path" }],
        ["GET", `/v1/swarms/${id}/agents/agent-1`, undefined],
        ["POST", `/v1/swarms/${id}/messages`, { from: "agent-1", to: "agent-2", message: {} }],
        ["POST", `/v1/swarms/${id}/topology/optimize`, undefined],
        ["GET", `/v1/swarms/${id}/memory/bad/kept`, undefined],
      ];
      for (const [method, path, body] of reqs) expectError(await api(method, path, body), 400, "invalid_request", "path.swarmId", `${method} ${path}`);
    }
    const badAgents = ["AGENT-1", "agent-1%2Finbox", "-agent-1", "a".repeat(64), "agent%201"];
    for (const id of badAgents) {
      for (const [method, path] of [
        ["GET", `/v1/swarms/${MAIN}/agents/${id}`],
        ["DELETE", `/v1/swarms/${MAIN}/agents/${id}`],
        ["GET", `/v1/swarms/${MAIN}/agents/${id}/inbox`],
      ]) expectError(await api(method, path), 400, "invalid_request", "path.agentId", `${method} ${path}`);
    }
    expectError(await api("GET", `/v1/swarms/${MAIN}/memory/BAD/kept`), 400, "invalid_request", "path.namespace");
    expectError(await api("PUT", `/v1/swarms/${MAIN}/memory/-bad/kept`, { value: 1 }), 400, "invalid_request", "path.namespace");
    expectError(await api("PUT", `/v1/swarms/${MAIN}/memory/bad/Kept`, { value: 1 }), 400, "invalid_request", "path.key");
    expectError(await api("PUT", `/v1/swarms/${MAIN}/memory/bad/k%2Fept`, { value: 1 }), 400, "invalid_request", "path.key");
    expectError(await api("GET", `/v1/swarms/${MAIN}/memory/bad/%E0%A4%A`), 400, "invalid_request", "path.key");
    // The longest valid id (63 chars) is merely unknown.
    expectError(await api("GET", `/v1/swarms/${"a".repeat(63)}`), 404, "not_found");
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
  });

  test("400: bad ids in the body", async () => {
    const bad = ["BR-BODY", "a".repeat(64), "br/body", "-br-body", "_br-body", "", " br-body", "br body", "br-bödy", "br-body\n"];
    for (const id of bad) {
      expectError(await api("POST", "/v1/swarms", { swarmId: id }), 400, "invalid_request", "body.swarmId", `swarmId ${JSON.stringify(id)}`);
      expectError(await api("POST", `/v1/swarms/${MAIN}/agents`, { agentId: id }), 400, "invalid_request", "body.agentId", `agentId ${JSON.stringify(id)}`);
      expectError(await api("POST", `/v1/swarms/${MAIN}/agents`, { agentId: "br-body", seeds: [id] }), 400, "invalid_request", "body.seeds.0");
      expectError(await api("POST", `/v1/swarms/${MAIN}/chaos`, { action: "crash", agents: [id] }), 400, "invalid_request", "body.agents.0");
      expectError(await api("POST", `/v1/swarms/${MAIN}/chaos`, { action: "partition", groups: [["agent-1"], [id]] }), 400, "invalid_request", "body.groups.1.0");
      expectError(await api("POST", `/v1/swarms/${MAIN}/messages`, { from: id, to: "agent-2", message: {} }), 400, "invalid_request", "body.from");
      expectError(await api("POST", `/v1/swarms/${MAIN}/messages`, { from: "agent-1", to: id, message: {} }), 400, "invalid_request", "body.to");
      expectError(await api("POST", `/v1/swarms/${MAIN}/fault-tolerance`, { agentId: id, strategy: "heartbeat_monitor" }), 400, "invalid_request", "body.agentId");
    }
    expect(await swarmIds()).toEqual(before.listing.map((s: any) => s.swarmId));
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    for (const a of MAIN_AGENTS) expect(await inboxCount(MAIN, a)).toBe(0);
  });

  test("404 not_found: an unknown swarm, and it is not created by asking", async () => {
    const reqs: Array<[string, string, unknown]> = [
      ["GET", `/v1/swarms/${GHOST}`, undefined],
      ["DELETE", `/v1/swarms/${GHOST}`, undefined],
      ["DELETE", `/v1/swarms/${GHOST}?purge=true`, undefined],
      ["GET", `/v1/swarms/${GHOST}/agents`, undefined],
      ["POST", `/v1/swarms/${GHOST}/agents`, { agentId: "agent-1" }],
      ["POST", `/v1/swarms/${GHOST}/agents`, {}],
      ["GET", `/v1/swarms/${GHOST}/agents/agent-1`, undefined],
      ["DELETE", `/v1/swarms/${GHOST}/agents/agent-1`, undefined],
      ["GET", `/v1/swarms/${GHOST}/agents/agent-1/inbox`, undefined],
      ["POST", `/v1/swarms/${GHOST}/messages`, { from: "agent-1", to: "all", message: { hi: 1 } }],
      ["POST", `/v1/swarms/${GHOST}/chaos`, { action: "heal" }],
      ["POST", `/v1/swarms/${GHOST}/fault-tolerance`, { agentId: "agent-1", strategy: "heartbeat_monitor" }],
      ["POST", `/v1/swarms/${GHOST}/topology/optimize`, undefined],
      ["GET", `/v1/swarms/${GHOST}/memory/bad/kept`, undefined],
      ["PUT", `/v1/swarms/${GHOST}/memory/bad/kept`, { value: 1 }],
      ["DELETE", `/v1/swarms/${GHOST}/memory/bad/kept`, undefined],
      ["GET", `/v1/swarms/${GHOST}/memory/bad`, undefined],
    ];
    for (const [method, path, body] of reqs) expectError(await api(method, path, body), 404, "not_found", undefined, `${method} ${path}`);
    expect(await swarmIds()).not.toContain(GHOST);
    expectError(await api("GET", `/v1/swarms/${GHOST}`), 404, "not_found");
  });

  test("404 not_found: an unknown agent", async () => {
    const reqs: Array<[string, string, unknown]> = [
      ["GET", `/v1/swarms/${MAIN}/agents/ghost`, undefined],
      ["DELETE", `/v1/swarms/${MAIN}/agents/ghost`, undefined],
      ["GET", `/v1/swarms/${MAIN}/agents/ghost/inbox`, undefined],
      ["POST", `/v1/swarms/${MAIN}/messages`, { from: "agent-1", to: "ghost", message: { hi: 1 } }],
      ["POST", `/v1/swarms/${MAIN}/fault-tolerance`, { agentId: "ghost", strategy: "heartbeat_monitor" }],
      ["POST", `/v1/swarms/${MAIN}/fault-tolerance`, { agentId: "ghost", strategy: "failover_recovery" }],
      // An agent of another swarm is unknown here.
      ["GET", `/v1/swarms/${FULL}/agents/agent-3`, undefined],
    ];
    for (const [method, path, body] of reqs) expectError(await api(method, path, body), 404, "not_found", undefined, `${method} ${path}`);
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    for (const a of MAIN_AGENTS) expect(await inboxCount(MAIN, a)).toBe(0);
  });

  test("405 method_not_allowed with an Allow header on known paths; nothing happens", async () => {
    const cases: Array<[string, string, string[]]> = [
      ["PUT", "/v1/swarms", ["GET", "POST"]],
      ["DELETE", "/v1/swarms", ["GET", "POST"]],
      ["PATCH", `/v1/swarms/${MAIN}`, ["GET", "DELETE"]],
      ["POST", `/v1/swarms/${MAIN}`, ["GET", "DELETE"]],
      ["PUT", `/v1/swarms/${MAIN}`, ["GET", "DELETE"]],
      ["PUT", `/v1/swarms/${MAIN}/agents`, ["GET", "POST"]],
      ["DELETE", `/v1/swarms/${MAIN}/agents`, ["GET", "POST"]],
      ["PATCH", `/v1/swarms/${MAIN}/agents/agent-1`, ["GET", "DELETE"]],
      ["POST", `/v1/swarms/${MAIN}/agents/agent-1`, ["GET", "DELETE"]],
      ["GET", `/v1/swarms/${MAIN}/chaos`, ["POST"]],
      ["DELETE", `/v1/swarms/${MAIN}/messages`, ["POST"]],
      ["GET", `/v1/swarms/${MAIN}/topology/optimize`, ["POST"]],
      ["GET", `/v1/swarms/${MAIN}/fault-tolerance`, ["POST"]],
      ["POST", `/v1/swarms/${MAIN}/memory/bad`, ["GET"]],
      ["DELETE", `/v1/swarms/${MAIN}/memory/bad`, ["GET"]],
      ["POST", `/v1/swarms/${MAIN}/memory/bad/kept`, ["GET", "PUT", "DELETE"]],
      ["PATCH", `/v1/swarms/${MAIN}/memory/bad/kept`, ["GET", "PUT", "DELETE"]],
      ["DELETE", `/v1/swarms/${MAIN}/agents/agent-1/inbox`, ["GET"]],
      ["POST", "/health", ["GET"]],
    ];
    for (const [method, path, allowed] of cases) {
      const body = method === "GET" || method === "DELETE" ? undefined : { action: "crash", agents: ["agent-1"], value: "x" };
      const r = await api(method, path, body);
      expectError(r, 405, "method_not_allowed", undefined, `${method} ${path}`);
      const allow = (r.headers.get("allow") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      expect(allow.sort(), `${method} ${path}`).toEqual([...allowed].sort());
    }
    // /health answers 405 without a token too.
    const h = await api("DELETE", "/health", undefined, { token: null });
    expectError(h, 405, "method_not_allowed");
    expect(h.headers.get("allow")).toBe("GET");
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    expect((await ok("GET", `/v1/swarms/${MAIN}/agents/agent-1`)).chaos).toEqual((before.swarms[MAIN] as any).views["agent-1"].chaos);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("404 not_found: unknown paths", async () => {
    const paths: Array<[string, string]> = [
      ["GET", "/v1"],
      ["GET", "/v1/"],
      ["GET", "/v1/nope"],
      ["POST", "/v1/swarm"],
      ["GET", "/v2/swarms"],
      ["GET", `/v1/swarms/${MAIN}/nope`],
      ["POST", `/v1/swarms/${MAIN}/agents/agent-1/nope`],
      ["GET", `/v1/swarms/${MAIN}/memory`],
      ["GET", `/v1/swarms/${MAIN}/memory/bad/kept/extra`],
      ["GET", `/v1/swarms/${MAIN}/topology`],
      ["GET", "/v1/swarms//agents"],
      ["GET", "/nope"],
    ];
    for (const [method, path] of paths) expectError(await api(method, path), 404, "not_found", undefined, `${method} ${path}`);
    expectError(await api("GET", "/nope", undefined, { token: null }), 404, "not_found", undefined, "no token, not under /v1");
  });

  test("409 conflict: duplicate swarm id, duplicate agent id; nothing is overwritten", async () => {
    const dup = [
      { swarmId: MAIN },
      { swarmId: MAIN, agents: 2, maxAgents: 3 },
      { swarmId: MAIN, gossip: { intervalMs: 1000 }, consensus: { threshold: 0.9 } },
    ];
    for (const body of dup) expectError(await api("POST", "/v1/swarms", body), 409, "conflict", undefined, JSON.stringify(body));
    for (const agentId of ["agent-1", "agent-4"]) {
      expectError(await api("POST", `/v1/swarms/${MAIN}/agents`, { agentId, capabilities: ["other"] }), 409, "conflict", undefined, agentId);
    }
    // "all" is reserved: it addresses every agent in messages.
    expectError(await api("POST", `/v1/swarms/${MAIN}/agents`, { agentId: "all" }), 400, "invalid_request", "body.agentId");
    const status = await ok("GET", `/v1/swarms/${MAIN}`);
    expect(status.config).toEqual((before.swarms[MAIN] as any).config);
    expect(status.createdAt).toBe((before.swarms[MAIN] as any).createdAt);
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    const v1 = await ok("GET", `/v1/swarms/${MAIN}/agents/agent-1`);
    expect(v1.capabilities).toEqual((before.swarms[MAIN] as any).views["agent-1"].capabilities);
  });

  test("409 swarm_full: spawning into a full swarm; creating with agents > maxAgents", async () => {
    expectError(await api("POST", `/v1/swarms/${FULL}/agents`, { agentId: "agent-3" }), 409, "swarm_full");
    expectError(await api("POST", `/v1/swarms/${FULL}/agents`, {}), 409, "swarm_full");
    expect(await agentIdsOf(FULL)).toEqual(["agent-1", "agent-2"]);
    expect((await ok("GET", "/v1/swarms")).swarms.find((s: any) => s.swarmId === FULL).agents).toBe(2);
    expectError(await api("GET", `/v1/swarms/${FULL}/agents/agent-3`), 404, "not_found");

    expectError(await api("POST", "/v1/swarms", { swarmId: "br-over-1", maxAgents: 3, agents: 5 }), 409, "swarm_full");
    expectError(await api("POST", "/v1/swarms", { swarmId: "br-over-2", agents: 13 }), 409, "swarm_full"); // default maxAgents 12
    expectError(await api("POST", "/v1/swarms", { swarmId: "br-over-3", maxAgents: 1, agents: 2 }), 409, "swarm_full");
    for (const id of ["br-over-1", "br-over-2", "br-over-3"]) expectError(await api("GET", `/v1/swarms/${id}`), 404, "not_found");
    expect((await swarmIds()).filter((s) => s.startsWith("br-over"))).toEqual([]);
  });

  test("400: bad chaos bodies; no fault is injected anywhere", async () => {
    const cases: Array<[unknown, string | undefined]> = [
      [{}, "body.action"],
      [{ action: "explode" }, "body.action"],
      [{ action: "CRASH", agents: ["agent-1"] }, "body.action"],
      [{ action: 1 }, "body.action"],
      [{ action: "partition", groups: [["agent-1", "agent-2"], ["agent-2", "agent-3"]] }, "body.groups"],
      [{ action: "partition", groups: [["agent-1"], ["agent-2"], ["agent-1", "agent-4"]] }, "body.groups"],
      [{ action: "partition", groups: [] }, "body.groups"],
      [{ action: "partition", groups: [["agent-1"], []] }, "body.groups.1"],
      [{ action: "partition", groups: ["agent-1", "agent-2"] }, "body.groups.0"],
      [{ action: "partition" }, "body.groups"],
      [{ action: "partition", groups: [["agent-1", "agent-2"], ["agent-3", "ghost"]] }, "body"],
      [{ action: "drop", rate: 1.5 }, "body.rate"],
      [{ action: "drop", rate: -0.1 }, "body.rate"],
      [{ action: "drop", rate: "0.5" }, "body.rate"],
      [{ action: "drop" }, "body.rate"],
      [{ action: "drop", rate: 0.5, agents: ["ghost"] }, "body"],
      [{ action: "crash", agents: ["ghost"] }, "body"],
      [{ action: "crash", agents: ["agent-1", "ghost"] }, "body"],
      [{ action: "crash", agents: [] }, "body.agents"],
      [{ action: "crash" }, "body.agents"],
      [{ action: "crash", agents: "agent-1" }, "body.agents"],
      [{ action: "restart", agents: ["ghost"] }, "body"],
      [{ action: "heal", agents: ["agent-1"] }, "body.agents"],
    ];
    for (const [body, field] of cases) {
      const r = await api("POST", `/v1/swarms/${MAIN}/chaos`, body);
      expectError(r, 400, "invalid_request", field, JSON.stringify(body));
    }
    // An agent of this swarm named unknown is listed.
    const r = await api("POST", `/v1/swarms/${MAIN}/chaos`, { action: "crash", agents: ["agent-1", "ghost"] });
    expect(r.body.error.details.unknown).toEqual(["ghost"]);
    for (const a of MAIN_AGENTS) {
      const v = await ok("GET", `/v1/swarms/${MAIN}/agents/${a}`);
      expect(v.chaos, a).toEqual((before.swarms[MAIN] as any).views[a].chaos);
      expect(v.state, a).toBe("active");
    }
  });

  test("X-Mesh-Via: a bad id is 400, an unknown agent is 404", async () => {
    const bad = ["AGENT-1", "-agent-1", "a".repeat(64), "agent 1", "agent-1,agent-2", ""];
    const targets: Array<[string, string, unknown]> = [
      ["GET", `/v1/swarms/${MAIN}`, undefined],
      ["GET", `/v1/swarms/${MAIN}/agents`, undefined],
      ["POST", `/v1/swarms/${MAIN}/messages`, { from: "br-client", to: "agent-2", message: { via: true } }],
      ["GET", `/v1/swarms/${MAIN}/memory/bad/kept`, undefined],
      ["PUT", `/v1/swarms/${MAIN}/memory/bad/kept`, { value: "via" }],
      ["GET", `/v1/swarms/${MAIN}/memory/bad`, undefined],
      ["DELETE", `/v1/swarms/${MAIN}/memory/bad/kept`, undefined],
    ];
    for (const [method, path, body] of targets) {
      for (const via of bad) {
        expectError(await api(method, path, body, { headers: { "x-mesh-via": via } }), 400, "invalid_request", "header.x-mesh-via", `${method} ${path} via ${JSON.stringify(via)}`);
      }
      for (const via of ["ghost", "agent-9"]) {
        expectError(await api(method, path, body, { headers: { "x-mesh-via": via } }), 404, "not_found", undefined, `${method} ${path} via ${via}`);
      }
    }
    for (const a of MAIN_AGENTS) expect(await inboxCount(MAIN, a)).toBe(0);
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("400: bad query parameters; a DELETE with a bad query deletes nothing", async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ["DELETE", `/v1/swarms/${MAIN}?purge=maybe`, undefined, "query.purge"],
      ["DELETE", `/v1/swarms/${MAIN}?purge=TRUE`, undefined, "query.purge"],
      ["DELETE", `/v1/swarms/${MAIN}?purge=`, undefined, "query.purge"],
      ["DELETE", `/v1/swarms/${MAIN}?force=true`, undefined, "query.force"],
      ["DELETE", `/v1/swarms/${MAIN}/agents/agent-1?now=1`, undefined, "query.now"],
      ["DELETE", `/v1/swarms/${MAIN}/memory/bad/kept?version=1`, undefined, "query.version"],
      ["GET", "/v1/swarms?limit=5", undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}?verbose=1`, undefined, "query.verbose"],
      ["GET", `/v1/swarms/${MAIN}/agents?status=alive`, undefined, "query.status"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1?full=1`, undefined, "query.full"],
      ["POST", "/v1/swarms?dryRun=1", { swarmId: "br-query" }, "query.dryRun"],
      ["POST", `/v1/swarms/${MAIN}/agents?wait=1`, { agentId: "br-query" }, "query.wait"],
      ["POST", `/v1/swarms/${MAIN}/chaos?action=crash`, { action: "heal" }, "query.action"],
      ["POST", `/v1/swarms/${MAIN}/messages?to=all`, { from: "agent-1", to: "agent-2", message: { q: 1 } }, "query.to"],
      ["POST", `/v1/swarms/${MAIN}/fault-tolerance?fast=1`, { agentId: "agent-1", strategy: "heartbeat_monitor" }, "query.fast"],
      ["PUT", `/v1/swarms/${MAIN}/memory/bad/kept?ttlSeconds=1`, { value: "query" }, "query.ttlSeconds"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?limit=0`, undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?limit=abc`, undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?limit=5000`, undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?limit=-1`, undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?after=-1`, undefined, "query.after"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?after=abc`, undefined, "query.after"],
      ["GET", `/v1/swarms/${MAIN}/agents/agent-1/inbox?foo=1`, undefined, "query.foo"],
      ["GET", `/v1/swarms/${MAIN}/memory/bad/kept?consistency=eventual`, undefined, "query.consistency"],
      ["GET", `/v1/swarms/${MAIN}/memory/bad?limit=0`, undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}/memory/bad?limit=x`, undefined, "query.limit"],
      ["GET", `/v1/swarms/${MAIN}/memory/bad?sort=asc`, undefined, "query.sort"],
    ];
    for (const [method, path, body, field] of cases) {
      expectError(await api(method, path, body), 400, "invalid_request", field, `${method} ${path}`);
    }
    expect(await swarmIds()).toContain(MAIN);
    expect(await swarmIds()).not.toContain("br-query");
    expect(await agentIdsOf(MAIN)).toEqual(MAIN_AGENTS);
    for (const a of MAIN_AGENTS) {
      const v = await ok("GET", `/v1/swarms/${MAIN}/agents/${a}`);
      expect(v.state).toBe("active");
      expect(v.chaos).toEqual((before.swarms[MAIN] as any).views[a].chaos);
      expect(await inboxCount(MAIN, a)).toBe(0);
    }
    expect((await ok("GET", `/v1/swarms/${MAIN}/memory/bad/kept`)).value).toEqual({ v: 1 });
  });

  test("afterwards, stored state is exactly as before the battery", async () => {
    const after = await snapshot();
    expect(after).toEqual(before);
  });
});

describe("deployment configuration", () => {
  test("requireToken with no MESH_TOKEN throws 503 not_configured, whatever the request carries", async () => {
    for (const token of [undefined, ""]) {
      for (const headers of [{}, AUTH, { authorization: "Bearer " }, { authorization: "Bearer undefined" }]) {
        const req = new Request("http://mesh.test/v1/swarms", { headers });
        const err = await requireToken(req, token).then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(ApiError);
        expect(err).toMatchObject({ status: 503, code: "not_configured" });
        expect((err as ApiError).message).toMatch(/MESH_TOKEN/);
      }
    }
    // With a token configured: the right one passes, anything else is 401.
    await expect(requireToken(new Request("http://mesh.test/", { headers: AUTH }), TOKEN)).resolves.toBeUndefined();
    const wrong = await requireToken(new Request("http://mesh.test/", { headers: { authorization: "Bearer nope" } }), TOKEN).catch((e) => e);
    expect(wrong).toMatchObject({ status: 401, code: "unauthorized" });
  });

  test("the Worker deployed without MESH_TOKEN answers 503 not_configured on /v1/*, never opens up; /health still 200", async () => {
    for (const MESH_TOKEN of [undefined, ""]) {
      for (const [method, path, body] of [
        ["GET", "/v1/swarms", undefined],
        ["GET", `/v1/swarms/${MAIN}`, undefined],
        ["POST", "/v1/swarms", JSON.stringify({ swarmId: "br-noconf" })],
        ["DELETE", `/v1/swarms/${MAIN}?purge=true`, undefined],
        ["GET", "/mcp", undefined],
      ] as const) {
        for (const headers of [{}, AUTH]) {
          const req = new Request(`http://mesh.test${path}`, { method, headers: { ...headers, ...(body ? JSON_CT : {}) }, body });
          const r = await sendWithEnv(req, { MESH_TOKEN });
          expectError(r, 503, "not_configured", undefined, `${method} ${path} token=${JSON.stringify(MESH_TOKEN)}`);
        }
      }
      const h = await sendWithEnv(new Request("http://mesh.test/health"), { MESH_TOKEN });
      expect(h.status).toBe(200);
      expect(h.body).toEqual({ ok: true, version: expect.any(String) });
    }
    expect(await swarmIds()).not.toContain("br-noconf");
    expect(await swarmIds()).toContain(MAIN);
  });

  test("chaos answers 403 forbidden unless MESH_CHAOS is \"on\"; the agent is untouched", async () => {
    const viewBefore = await ok("GET", `/v1/swarms/${MAIN}/agents/agent-1`);
    // Sanity: the same direct call with chaos on reaches the handler (a bad body → 400, nothing injected).
    const onReq = new Request(`http://mesh.test/v1/swarms/${MAIN}/chaos`, {
      method: "POST", headers: { ...AUTH, ...JSON_CT }, body: JSON.stringify({ action: "explode" }),
    });
    expectError(await sendWithEnv(onReq, { MESH_CHAOS: "on" }), 400, "invalid_request", "body.action");
    for (const MESH_CHAOS of ["off", undefined, "", "ON", "true", "1"]) {
      for (const body of [{ action: "crash", agents: ["agent-1"] }, { action: "partition", groups: [["agent-1"], ["agent-2"]] }]) {
        const req = new Request(`http://mesh.test/v1/swarms/${MAIN}/chaos`, {
          method: "POST", headers: { ...AUTH, ...JSON_CT }, body: JSON.stringify(body),
        });
        expectError(await sendWithEnv(req, { MESH_CHAOS }), 403, "forbidden", undefined, `MESH_CHAOS=${JSON.stringify(MESH_CHAOS)}`);
      }
    }
    const viewAfter = await ok("GET", `/v1/swarms/${MAIN}/agents/agent-1`);
    expect(viewAfter.state).toBe("active");
    expect(viewAfter.chaos).toEqual(viewBefore.chaos);
    expect(viewAfter.incarnation).toBe(viewBefore.incarnation);
  });
});
