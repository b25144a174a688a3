import { describe, expect, test } from "vitest";
import { buildOverlay } from "../../src/core/topology/overlay";
import { analyze, connectedWithout, undirected } from "../../src/core/topology/analysis";
import { api, waitFor } from "./helpers";

describe("a 12-agent swarm through the HTTP API", () => {
  test("every agent reports 3–5 peers; the peer graph is connected and survives any single removal", async () => {
    const created = await api("POST", "/v1/swarms", {
      swarmId: "s12", topology: "mesh", maxAgents: 12, agents: 12, gossip: { intervalMs: 50, fanout: 3 },
    });
    expect(created.status).toBe(201);
    expect(created.body.agents).toHaveLength(12);
    expect(created.body.config.gossip).toEqual({ intervalMs: 50, fanout: 3, eager: true });

    const views = await Promise.all(
      created.body.agents.map(async (id: string) => (await api("GET", `/v1/swarms/s12/agents/${id}`)).body),
    );
    const adj = new Map<string, string[]>();
    for (const v of views) {
      expect(v.peers.length).toBeGreaterThanOrEqual(3);
      expect(v.peers.length).toBeLessThanOrEqual(5);
      expect(v.membership).toHaveLength(12);
      adj.set(v.agentId, v.peers);
    }
    const { g, asymmetric } = undirected(adj);
    expect(asymmetric).toBe(0);
    const stats = analyze(g);
    expect(stats.connected).toBe(true);
    expect(stats.bridges).toBe(0);
    for (const id of g.keys()) expect(connectedWithout(g, id)).toBe(true);

    const status = await api("GET", "/v1/swarms/s12");
    expect(status.status).toBe(200);
    expect(status.body.agents).toHaveLength(12);
    expect(status.body.mode).toBe("read-write");
    expect(status.body.connectivity).toBe(1);
  });

  test("an agent joins through seeds, receives the peer list, and everyone converges by gossip", async () => {
    await api("POST", "/v1/swarms", { swarmId: "sjoin", maxAgents: 12, agents: 8, gossip: { intervalMs: 50 } });
    const joined = await api("POST", "/v1/swarms/sjoin/agents", {
      agentId: "newcomer", capabilities: ["code"], seeds: ["agent-1", "agent-2"],
    });
    expect(joined.status).toBe(201);
    expect(joined.body.peers.length).toBeGreaterThanOrEqual(3);
    // Gossip spreads the newcomer: every agent ends up with the same 9 members and the same overlay.
    const expected = buildOverlay([...Array.from({ length: 8 }, (_, i) => `agent-${i + 1}`), "newcomer"]);
    await waitFor(async () => {
      const views = await Promise.all(
        [...expected.keys()].map(async (id) => (await api("GET", `/v1/swarms/sjoin/agents/${id}`)).body),
      );
      return views.every(
        (v) => v.membership.length === 9 && JSON.stringify(v.peers) === JSON.stringify([...expected.get(v.agentId)!].sort()),
      );
    }, 30_000);
    const list = await api("GET", "/v1/swarms/sjoin/agents");
    expect(list.body.agents.map((a: any) => a.agentId)).toContain("newcomer");
  });

  test("graceful leave is announced and the overlay closes around it", async () => {
    await api("POST", "/v1/swarms", { swarmId: "sleave", agents: 7, gossip: { intervalMs: 50 } });
    expect((await api("DELETE", "/v1/swarms/sleave/agents/agent-3")).status).toBe(200);
    await waitFor(async () => {
      const v = (await api("GET", "/v1/swarms/sleave/agents/agent-1")).body;
      return v.membership.find((m: any) => m.agentId === "agent-3")?.status === "left" && !v.peers.includes("agent-3");
    }, 30_000);
  });

  test("list, status and shutdown", async () => {
    await api("POST", "/v1/swarms", { swarmId: "sdown", agents: 4, gossip: { intervalMs: 50 } });
    const list = await api("GET", "/v1/swarms");
    expect(list.body.swarms.find((s: any) => s.swarmId === "sdown")).toMatchObject({ agents: 4, mode: "read-write" });
    const down = await api("DELETE", "/v1/swarms/sdown");
    expect(down.body).toMatchObject({ swarmId: "sdown", shutdown: true });
    expect((await api("GET", "/v1/swarms/sdown")).status).toBe(404);
    expect((await api("POST", "/v1/swarms", { swarmId: "sdown" })).status).toBe(409);
    expect((await api("DELETE", "/v1/swarms/sdown?purge=true")).status).toBe(200);
    expect((await api("POST", "/v1/swarms", { swarmId: "sdown" })).status).toBe(201);
  });
});

describe("HTTP details", () => {
  test("percent-encoded ids in paths are decoded; a repeated query parameter is a 400", async () => {
    await api("POST", "/v1/swarms", { swarmId: "enc-swarm", agents: 4, gossip: { intervalMs: 200 } });
    const r = await api("GET", "/v1/swarms/enc%2Dswarm/agents/agent%2D1");
    expect(r.status).toBe(200);
    expect(r.body.agentId).toBe("agent-1");
    expect((await api("GET", "/v1/swarms/enc%2Fswarm")).status).toBe(400);
    const twice = await api("DELETE", "/v1/swarms/enc-swarm?purge=false&purge=true");
    expect(twice.status).toBe(400);
    expect(twice.body.error.details.field).toBe("query.purge");
    expect((await api("GET", "/v1/swarms/enc-swarm")).status).toBe(200); // not deleted
  });
});
