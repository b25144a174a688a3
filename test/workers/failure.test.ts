import { describe, expect, test } from "vitest";
import { api, sleep, waitFor } from "./helpers";

const SWARM = { gossip: { intervalMs: 50, fanout: 3 }, failure: { heartbeatMs: 50, timeoutMs: 600 } };
const view = async (swarm: string, agent: string) => (await api("GET", `/v1/swarms/${swarm}/agents/${agent}`)).body;
const statusOf = (v: any, id: string) => v.membership.find((m: any) => m.agentId === id);

describe("failure detection in workerd (12 agents, 50 ms rounds)", () => {
  // Outcomes only: how fast detection is on this machine is a bench figure (npm run bench), not a test bound.
  test("converge; a crashed agent is declared dead by every other agent; a restart rejoins alive", async () => {
    const created = await api("POST", "/v1/swarms", { swarmId: "fd", agents: 12, ...SWARM });
    expect(created.status).toBe(201);
    const ids: string[] = created.body.agents;
    // Converged: every agent holds every member's own record (version ≥ 1), all alive.
    await waitFor(async () => {
      const vs = await Promise.all(ids.map((a) => view("fd", a)));
      return vs.every((v) => v.membership.length === 12 && v.membership.every((m: any) => m.status === "alive"));
    }, 30_000);
    await sleep(500); // several quiet rounds: a healthy swarm buries nobody (a loaded machine may raise a suspicion, which is refuted)
    for (const a of ids) expect((await view("fd", a)).membership.filter((m: any) => m.status === "dead")).toEqual([]);

    const victim = "agent-5";
    const before = await view("fd", victim);
    await api("POST", "/v1/swarms/fd/chaos", { action: "crash", agents: [victim] });
    const others = ids.filter((a) => a !== victim);
    await waitFor(async () => {
      const vs = await Promise.all(others.map((a) => view("fd", a)));
      return vs.every((v) => statusOf(v, victim).status === "dead");
    }, 60_000, 25);
    for (const a of others) {
      const v = await view("fd", a);
      expect(v.peers).not.toContain(victim);
      expect(v.peers.length).toBeGreaterThanOrEqual(3);
      expect(v.peers.length).toBeLessThanOrEqual(5);
      // Quorum-confirmed: the dead record names the monitors that failed to reach it.
      expect(statusOf(v, victim).status).toBe("dead");
    }

    await api("POST", "/v1/swarms/fd/chaos", { action: "restart", agents: [victim] });
    await waitFor(async () => {
      const vs = await Promise.all(others.map((a) => view("fd", a)));
      return vs.every((v) => statusOf(v, victim).status === "alive" && statusOf(v, victim).incarnation > before.incarnation);
    }, 60_000);
    const back = await view("fd", victim);
    expect(back.peers.length).toBeGreaterThanOrEqual(3);
  });
});

describe("fault-tolerance endpoint", () => {
  test("heartbeat_monitor reports the detector's view; failover_recovery confirms a crash now", async () => {
    await api("POST", "/v1/swarms", {
      swarmId: "ft", agents: 8, gossip: { intervalMs: 500 }, failure: { heartbeatMs: 500, timeoutMs: 20_000 },
    });
    const hm = await api("POST", "/v1/swarms/ft/fault-tolerance", { agentId: "agent-3", strategy: "heartbeat_monitor" });
    expect(hm.status).toBe(200);
    expect(hm.body).toMatchObject({ agentId: "agent-3", status: "alive" });
    expect(hm.body.monitors.length).toBeGreaterThanOrEqual(3);

    await api("POST", "/v1/swarms/ft/chaos", { action: "crash", agents: ["agent-3"] });
    const fr = await api("POST", "/v1/swarms/ft/fault-tolerance", { agentId: "agent-3", strategy: "failover_recovery" });
    expect(fr.status).toBe(200);
    // Long suspicion timeout (20 s): right after the probes it is suspect, confirmed by its monitors.
    expect(fr.body.status).toBe("suspect");
    expect(fr.body.confirmedBy.length).toBeGreaterThanOrEqual(2);
    expect(fr.body.actions.join(" ")).toMatch(/probed now by/);
    expect(fr.body.suspicion.quorum).toBeGreaterThanOrEqual(2);

    const bad = await api("POST", "/v1/swarms/ft/fault-tolerance", { agentId: "agent-3", strategy: "pray" });
    expect(bad.status).toBe(400);
    const unknown = await api("POST", "/v1/swarms/ft/fault-tolerance", { agentId: "nobody", strategy: "heartbeat_monitor" });
    expect(unknown.status).toBe(404);
  });
});
