import { describe, expect, test } from "vitest";
import { env } from "cloudflare:workers";
import {
  createExecutionContext, createScheduledController, evictDurableObject, runInDurableObject, waitOnExecutionContext,
} from "cloudflare:test";
import worker from "../../src/index";
import type { MeshAgent } from "../../src/agent/mesh-agent";
import { api, sleep, waitFor } from "./helpers";

const stub = (swarm: string, agent: string) => env.AGENT.getByName(`${swarm}/${agent}`);
const view = async (swarm: string, agent: string) => (await api("GET", `/v1/swarms/${swarm}/agents/${agent}`)).body;
const inc = (v: any, id: string) => v.membership.find((m: any) => m.agentId === id)?.incarnation;

describe("restart and eviction", () => {
  test("an evicted agent comes back with its membership and peers from SQLite and rejoins", async () => {
    await api("POST", "/v1/swarms", { swarmId: "evict", agents: 8, gossip: { intervalMs: 50 } });
    const before = await view("evict", "agent-3");
    expect(before.membership).toHaveLength(8);

    await evictDurableObject(stub("evict", "agent-3"));
    const after = await view("evict", "agent-3");
    // Same membership and peers, restored from storage rather than re-sent by the router.
    expect(after.membership.map((m: any) => m.agentId)).toEqual(before.membership.map((m: any) => m.agentId));
    expect(after.peers).toEqual(before.peers);
    // An eviction is not a failure: same incarnation; it rejoined by pulling from its peers at once.
    expect(after.incarnation).toBe(before.incarnation);
    expect(after.stats.core.envelopesOut).toBeGreaterThan(0);
    expect(after.stats.since).toBeGreaterThan(before.stats.since);
  });

  test("chaos crash: the agent stops answering and stops its alarm; restart brings it back from storage", async () => {
    await api("POST", "/v1/swarms", { swarmId: "crash", agents: 6, gossip: { intervalMs: 50 } });
    const before = await view("crash", "agent-2");
    const crashed = await api("POST", "/v1/swarms/crash/chaos", { action: "crash", agents: ["agent-2"] });
    expect(crashed.status).toBe(200);
    expect(crashed.body.applied).toEqual(["agent-2"]);

    const r = await api("GET", "/v1/swarms/crash/agents/agent-2");
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("agent_unavailable");
    expect(await runInDurableObject(stub("crash", "agent-2"), (_i: MeshAgent, s) => s.storage.getAlarm())).toBeNull();
    const alarms0 = (await stub("crash", "agent-2").getStats()).alarms;
    await sleep(300);
    expect((await stub("crash", "agent-2").getStats()).alarms).toBe(alarms0);

    // Entering the mesh without X-Mesh-Via still works: the router picks an agent that answers.
    for (let i = 0; i < 5; i++) expect((await api("GET", "/v1/swarms/crash")).status).toBe(200);

    expect((await api("POST", "/v1/swarms/crash/chaos", { action: "restart", agents: ["agent-2"] })).status).toBe(200);
    const back = await view("crash", "agent-2");
    expect(back.membership).toHaveLength(6);
    expect(back.peers).toEqual(before.peers);
    expect(back.incarnation).toBeGreaterThan(before.incarnation);
    expect(await runInDurableObject(stub("crash", "agent-2"), (_i: MeshAgent, s) => s.storage.getAlarm())).not.toBeNull();
    await waitFor(async () => inc(await view("crash", "agent-6"), "agent-2") === back.incarnation, 10_000);
  });

  test("chaos partition drops every envelope across groups until heal", async () => {
    await api("POST", "/v1/swarms", { swarmId: "part", agents: 8, gossip: { intervalMs: 40 } });
    const groups = [["agent-1", "agent-2", "agent-3", "agent-4"], ["agent-5", "agent-6", "agent-7", "agent-8"]];
    expect((await api("POST", "/v1/swarms/part/chaos", { action: "partition", groups })).status).toBe(200);
    // A leave on side A spreads within A only.
    expect((await api("DELETE", "/v1/swarms/part/agents/agent-2")).status).toBe(200);
    await waitFor(async () => {
      const vs = await Promise.all(["agent-1", "agent-3", "agent-4"].map((a) => view("part", a)));
      return vs.every((v) => v.membership.find((m: any) => m.agentId === "agent-2").status === "left");
    }, 30_000);
    await sleep(600); // many gossip rounds: side B must still not know
    for (const a of groups[1]) {
      const v = await view("part", a);
      // Not `left`: the leave never crossed. (Side B's own probes may by now suspect agent-2, which it
      // cannot reach — a loaded machine stretches the wait above past B's first probe round.)
      expect(["alive", "suspect"], a).toContain(v.membership.find((m: any) => m.agentId === "agent-2").status);
    }
    // Dropped at the sender (side A never even sends across), counted there.
    const dropped = (await Promise.all(groups.flat().map((a) => stub("part", a).getStats()))).reduce((s, x) => s + x.chaosDropped, 0);
    expect(dropped).toBeGreaterThan(0);

    expect((await api("POST", "/v1/swarms/part/chaos", { action: "heal" })).status).toBe(200);
    await waitFor(async () => {
      const vs = await Promise.all(groups[1].map((a) => view("part", a)));
      return vs.every((v) => v.membership.find((m: any) => m.agentId === "agent-2").status === "left");
    }, 30_000);
  });

  test("topology/optimize repairs inconsistent views and reports before/after", async () => {
    await api("POST", "/v1/swarms", { swarmId: "opt", agents: 10, gossip: { intervalMs: 2000 } });
    const groups = [["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"], ["agent-6", "agent-7", "agent-8", "agent-9", "agent-10"]];
    await api("POST", "/v1/swarms/opt/chaos", { action: "partition", groups });
    await api("DELETE", "/v1/swarms/opt/agents/agent-7"); // only side B hears it at first
    const r = await api("POST", "/v1/swarms/opt/topology/optimize");
    expect(r.status).toBe(200);
    expect(r.body.after.degree.min).toBeGreaterThanOrEqual(3);
    expect(r.body.after.degree.max).toBeLessThanOrEqual(5);
    expect(r.body.after.asymmetricEdges).toBe(0);
    expect(r.body.after.redundantPaths).toBe(true);
    expect(r.body.after.connected).toBe(true);
    expect(r.body.after.diameter).toBeGreaterThan(0);
    expect(r.body.before.asymmetricEdges).toBeGreaterThan(0);
    expect(r.body.after.nodes).toBe(9);
  });
});

describe("cron health check", () => {
  test("records which agents answer and re-arms a stalled alarm", async () => {
    await api("POST", "/v1/swarms", { swarmId: "cron", agents: 5, gossip: { intervalMs: 60_000 } });
    await api("POST", "/v1/swarms/cron/chaos", { action: "crash", agents: ["agent-4"] });
    // Stall agent-2: its alarm disappears without the agent knowing.
    await runInDurableObject(stub("cron", "agent-2"), (_i: MeshAgent, s) => s.storage.deleteAlarm());
    expect(await runInDurableObject(stub("cron", "agent-2"), (_i: MeshAgent, s) => s.storage.getAlarm())).toBeNull();

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env as any, ctx);
    await waitOnExecutionContext(ctx);

    const status = await api("GET", "/v1/swarms/cron");
    expect(status.body.health).toMatchObject({ agents: 5, answering: 4, unreachable: ["agent-4"], rearmed: ["agent-2"] });
    expect(status.body.health.actions).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: "rearm", agentId: "agent-2" }),
      expect.objectContaining({ action: "probe", agentId: "agent-4" }),
    ]));
    expect(await runInDurableObject(stub("cron", "agent-2"), (_i: MeshAgent, s) => s.storage.getAlarm())).not.toBeNull();
    // The report and the monitor carry the check too.
    expect((await api("GET", "/v1/swarms/cron/report?timeframe=1h")).body.platform.health).toMatchObject({ unreachable: ["agent-4"], rearmed: ["agent-2"] });
  });

  test("a dead leader is replaced on the cron's evidence, long before any timer would; no leader at all is flagged", async () => {
    // Timers an hour long at every layer: only the cron's repair can elect a new leader within this test.
    const slow = { gossip: { intervalMs: 60_000 }, failure: { heartbeatMs: 60_000, timeoutMs: 600_000 }, consensus: { heartbeatMs: 60_000, electionMs: 600_000 } };
    await api("POST", "/v1/swarms", { swarmId: "cron-leader", agents: 7, ...slow });
    await waitFor(async () => (await api("PUT", "/v1/swarms/cron-leader/memory/t/k", { value: 1 })).status === 200, 30_000, 100);
    // Every agent's key pinned through the log first: a pin still in flight when the leader dies would be
    // a failed call to it, the log's own evidence path, and a voter would depose it before the cron runs.
    const all7 = Array.from({ length: 7 }, (_, i) => `agent-${i + 1}`);
    // Every agent must see every pin (an agent that has not applied its own retries it). With hour-long
    // heartbeats a follower may learn the last commit only from the next append: a generous deadline.
    const run = runInDurableObject as unknown as (s: unknown, f: (i: any) => boolean) => Promise<boolean>;
    for (const viewer of all7) {
      await waitFor(async () => run(stub("cron-leader", viewer), (i) => all7.every((a) => i.shell.node.mods.proposals.pinnedKey(a))), 120_000, 100);
    }
    const raftOf = async (a: string) => (await api("GET", `/v1/swarms/cron-leader/agents/${a}`)).body.raft;
    // The leader as the agents that lead say (the highest term's), not one follower's possibly stale view.
    const first = (await Promise.all(all7.map(raftOf))).filter((r) => r?.role === "leader").sort((x, y) => y.term - x.term)[0];
    const leader: string = first.leader;
    expect(leader).toMatch(/^agent-\d$/);
    await api("POST", "/v1/swarms/cron-leader/chaos", { action: "crash", agents: [leader] });

    const runCron = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env as any, ctx);
      await waitOnExecutionContext(ctx);
      return (await api("GET", "/v1/swarms/cron-leader")).body.health;
    };
    const h = await runCron();
    expect(h.unreachable).toEqual([leader]);
    if (!h.actions.some((a: any) => a.action === "failover" && a.agentId === leader)) {
      // A monitor's first probe round (60 s, random phase) can fall between the crash and the cron: its
      // failed call is the log's own evidence, and the voters moved on before the cron looked. Then the
      // agents must no longer name it (an election under way, or a new leader at a higher term), and the
      // cron only confirms the death.
      console.warn(`cron: the log dropped ${leader} before the cron ran (now ${h.leader} at term ${h.term}); the cron probed it`);
      expect(h.leader).not.toBe(leader);
      if (h.leader !== null) expect(h.term).toBeGreaterThan(first.term);
      expect(h.actions).toEqual(expect.arrayContaining([expect.objectContaining({ action: "probe", agentId: leader })]));
    }
    // The voters that probed it found it gone; the first live voter campaigned: a new leader, at a higher term.
    const live = Array.from({ length: 7 }, (_, i) => `agent-${i + 1}`).filter((a) => a !== leader);
    const next = await waitFor(async () => {
      const rs = await Promise.all(live.map(raftOf));
      return rs.find((r) => r.role === "leader" && r.term > first.term) ?? null;
    }, 20_000, 100);
    expect(next.leader).not.toBe(leader);
    await waitFor(async () => (await api("PUT", "/v1/swarms/cron-leader/memory/t/k", { value: 2 })).status === 200, 20_000, 100);
    const h2 = await runCron();
    expect(h2).toMatchObject({ leader: next.leader, quorum: true });

    // Crash a majority of the voters: nobody can lead; the check says so.
    const voters: string[] = next.voters.filter((v: string) => v !== next.leader);
    await api("POST", "/v1/swarms/cron-leader/chaos", { action: "crash", agents: [next.leader, ...voters.slice(0, 2)] });
    const h3 = await runCron();
    expect(h3.quorum).toBe(false);
  });
});
