import { describe, expect, test } from "vitest";
import { api, sleep, waitFor } from "./helpers";

const FAST = { gossip: { intervalMs: 50, fanout: 3 }, failure: { heartbeatMs: 50, timeoutMs: 600 } };
const view = async (swarm: string, agent: string) => (await api("GET", `/v1/swarms/${swarm}/agents/${agent}`)).body;

async function leaderOf(swarm: string, ids: string[]): Promise<string> {
  return waitFor(async () => {
    const vs = await Promise.all(ids.map((a) => api("GET", `/v1/swarms/${swarm}/agents/${a}`)));
    const leaders = vs.filter((v) => v.status === 200 && v.body.raft?.role === "leader").map((v) => v.body.agentId);
    return leaders.length === 1 ? leaders[0] : null;
  }, 45_000, 50);
}

describe("memory store on the replicated log", () => {
  test("put, get (linearizable and stale), list with prefix and cursor, delete, 404, TTL expiry", async () => {
    const c = await api("POST", "/v1/swarms", { swarmId: "mem", agents: 6, ...FAST });
    await leaderOf("mem", c.body.agents);
    const put = await api("PUT", "/v1/swarms/mem/memory/mesh/mesh:network:t1", { value: { initialized: true } });
    expect(put.status).toBe(200);
    expect(put.body.version).toBeGreaterThan(0);
    const got = await api("GET", "/v1/swarms/mem/memory/mesh/mesh:network:t1", undefined, { headers: { "x-mesh-via": "agent-6" } });
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ value: { initialized: true }, version: put.body.version, stale: false });
    // A stale read is served locally; it may lag but reaches the same value.
    await waitFor(async () => {
      const s = await api("GET", "/v1/swarms/mem/memory/mesh/mesh:network:t1?consistency=stale", undefined, { headers: { "x-mesh-via": "agent-5" } });
      return s.status === 200 && s.body.stale === true && s.body.version === put.body.version;
    }, 30_000);

    for (const k of ["a.1", "a.2", "a.3", "b.1"]) expect((await api("PUT", `/v1/swarms/mem/memory/ns2/${k}`, { value: k })).status).toBe(200);
    const page1 = await api("GET", "/v1/swarms/mem/memory/ns2?prefix=a.&limit=2");
    expect(page1.body.keys).toEqual(["a.1", "a.2"]);
    const page2 = await api("GET", `/v1/swarms/mem/memory/ns2?prefix=a.&limit=2&cursor=${page1.body.next}`);
    expect(page2.body).toMatchObject({ keys: ["a.3"], next: null });

    const v2 = await api("PUT", "/v1/swarms/mem/memory/mesh/mesh:network:t1", { value: 2 });
    expect(v2.body.version).toBeGreaterThan(put.body.version);
    expect((await api("DELETE", "/v1/swarms/mem/memory/mesh/mesh:network:t1")).status).toBe(200);
    expect((await api("GET", "/v1/swarms/mem/memory/mesh/mesh:network:t1")).status).toBe(404);
    expect((await api("DELETE", "/v1/swarms/mem/memory/mesh/mesh:network:t1")).status).toBe(404);

    expect((await api("PUT", "/v1/swarms/mem/memory/tmp/short", { value: 1, ttlSeconds: 1 })).status).toBe(200);
    expect((await api("GET", "/v1/swarms/mem/memory/tmp/short")).status).toBe(200);
    await sleep(1100);
    expect((await api("GET", "/v1/swarms/mem/memory/tmp/short")).status).toBe(404);

    // Bad input: 400, nothing written.
    expect((await api("PUT", "/v1/swarms/mem/memory/Bad/k", { value: 1 })).status).toBe(400);
    expect((await api("PUT", "/v1/swarms/mem/memory/ns/k", { value: 1, ttlSeconds: -1 })).status).toBe(400);
    expect((await api("PUT", "/v1/swarms/mem/memory/ns/k", { nope: 1 })).status).toBe(400);
    expect((await api("GET", "/v1/swarms/mem/memory/ns/k?consistency=eventual")).status).toBe(400);
    expect((await api("GET", "/v1/swarms/mem/memory/ns/k")).status).toBe(404);
  });

  test("concurrent writes are committed in groups: fewer proposals than writes, each write its own version, all readable", async () => {
    const c = await api("POST", "/v1/swarms", { swarmId: "memgroup", agents: 5, ...FAST, consensus: { voters: 5 } });
    const leader = await leaderOf("memgroup", c.body.agents);
    const counters = async () => (await view("memgroup", leader)).stats.core as Record<string, number>;
    const before = await counters();
    const N = 32;
    const puts = await Promise.all(
      Array.from({ length: N }, (_, i) => api("PUT", `/v1/swarms/memgroup/memory/g/k${i}`, { value: i }, { headers: { "x-mesh-via": leader } })),
    );
    expect(puts.map((p) => p.status)).toEqual(Array(N).fill(200));
    const versions = puts.map((p) => p.body.version as number);
    expect(new Set(versions).size).toBe(N);
    const after = await counters();
    expect(after["raft.proposals"] - before["raft.proposals"]).toBe(N);
    // Writes that arrived while a group was committing were proposed together (one log write, one append per follower).
    expect(after["raft.proposalGroups"] - before["raft.proposalGroups"]).toBeLessThan(N);
    for (let i = 0; i < N; i++) {
      const g = await api("GET", `/v1/swarms/memgroup/memory/g/k${i}`);
      expect(g.body).toMatchObject({ value: i, version: versions[i] });
    }
  });

  test("a request answered in time takes its deadline back: the agent does not wake once per past request", async () => {
    const c = await api("POST", "/v1/swarms", { swarmId: "memdeadlines", agents: 1, consensus: { voters: 1 } });
    const agent = c.body.agents[0];
    await waitFor(async () => (await api("PUT", "/v1/swarms/memdeadlines/memory/d/warm", { value: 0 })).status === 200, 20_000, 100);
    for (let i = 0; i < 20; i++) expect((await api("PUT", `/v1/swarms/memdeadlines/memory/d/k${i}`, { value: i })).status).toBe(200);
    // Every write was answered, so none still holds a deadline that would wake the agent (without taking
    // deadlines back: 42, two per write — its own and its group's).
    expect((await view("memdeadlines", agent)).stats.requestsWaiting).toBe(0);
  });

  test("pushes down the learner tree are paced: back-to-back writes go down in batches, a held batch when its interval ends", async () => {
    // Timers a minute long: no gossip or heartbeat carries the writes to the learners in the next seconds.
    const slow = {
      gossip: { intervalMs: 60_000 }, failure: { heartbeatMs: 60_000, timeoutMs: 600_000 },
      consensus: { voters: 2, heartbeatMs: 60_000, electionMs: 600_000, learnerBatchMs: 1000 },
    };
    const c = await api("POST", "/v1/swarms", { swarmId: "mempaced", agents: 6, ...slow });
    const leader = await leaderOf("mempaced", c.body.agents);
    const learners: string[] = (await view("mempaced", leader)).raft.learners;
    // Two voters: the follower learns of commits only down the tree too (the leader broadcasts no bare commit).
    expect(learners.length).toBe(4);
    const pushes = async () => ((await view("mempaced", leader)).stats.core as Record<string, number>)["raft.pushes"] ?? 0;
    /** Writes back to back at the leader; resolves when every learner serves the last one (stale reads). */
    const burst = async (tag: string, n: number) => {
      let last = 0;
      for (let i = 0; i < n; i++) {
        const w = await api("PUT", `/v1/swarms/mempaced/memory/p/${tag}${i}`, { value: i }, { headers: { "x-mesh-via": leader } });
        expect(w.status).toBe(200);
        last = w.body.version;
      }
      // The interval (1 s) and a few calls; before the writes' own 8 s deadlines would wake the leader anyway.
      await waitFor(async () => {
        const rs = await Promise.all(learners.map((a) => api("GET", `/v1/swarms/mempaced/memory/p/${tag}${n - 1}?consistency=stale`, undefined, { headers: { "x-mesh-via": a } })));
        return rs.every((r) => r.status === 200 && r.body.version === last);
      }, 6000, 100);
    };
    // Two writes: the first goes down the tree at once, the second is held and goes out when the interval ends.
    await burst("a", 2);
    await sleep(1200);
    // Five writes: two batches (the first write, then the other four together), not five: ROOT_FANOUT pushes each.
    const before = await pushes();
    await burst("b", 5);
    expect((await pushes()) - before).toBeLessThanOrEqual(2 * 2);
  }, 40_000);

  test("write 100 keys, crash the leader, keep writing: a new leader; every acknowledged write survives everywhere", async () => {
    const c = await api("POST", "/v1/swarms", { swarmId: "memcrash", agents: 8, ...FAST });
    const ids: string[] = c.body.agents;
    const first = await leaderOf("memcrash", ids);
    const acked = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const r = await api("PUT", `/v1/swarms/memcrash/memory/app/k${i}`, { value: i });
      expect(r.status).toBe(200);
      acked.set(`k${i}`, i);
    }
    await api("POST", "/v1/swarms/memcrash/chaos", { action: "crash", agents: [first] });
    // Keep writing until 50 more are acknowledged: writes during the election may be refused (503) but
    // never lost; how long the failover takes is a bench figure, not a test bound.
    let failures = 0;
    for (let i = 100; acked.size < 150; i++) {
      expect(i, "writes never resumed after the leader crash").toBeLessThan(400);
      const r = await api("PUT", `/v1/swarms/memcrash/memory/app/k${i}`, { value: i });
      if (r.status === 200) acked.set(`k${i}`, i);
      else (failures++, expect(r.status).toBe(503));
    }
    const live = ids.filter((a) => a !== first);
    const second = await leaderOf("memcrash", live);
    expect(second).not.toBe(first);
    // Once the failure detector buries the old leader (a voter), the new leader replaces it with a
    // healthy learner, one configuration change at a time: five voters again, all alive.
    const cfg = await waitFor(async () => {
      const r = (await view("memcrash", second)).raft;
      return r.voters.length === 5 && !r.voters.includes(first) ? r : null;
    }, 45_000);
    expect(cfg.voters.every((v: string) => live.includes(v))).toBe(true);
    expect(cfg.learners).not.toContain(first);
    // Every acknowledged write is readable through every live agent (linearizable, forwarded to the leader).
    for (const a of live) {
      const sample = [...acked.keys()].filter((_, i) => i % 7 === 0);
      for (const k of sample) {
        const r = await api("GET", `/v1/swarms/memcrash/memory/app/${k}`, undefined, { headers: { "x-mesh-via": a } });
        expect(r.status, `${k} via ${a}`).toBe(200);
        expect(r.body.value).toBe(acked.get(k));
      }
    }
    // The old leader restarts: it catches up and loses nothing.
    await api("POST", "/v1/swarms/memcrash/chaos", { action: "restart", agents: [first] });
    await waitFor(async () => {
      const v = await view("memcrash", first);
      const l = await view("memcrash", second);
      return v.raft && v.raft.appliedIndex >= l.raft.commitIndex;
    }, 45_000);
    const list = await api("GET", "/v1/swarms/memcrash/memory/app?limit=1000&consistency=stale", undefined, { headers: { "x-mesh-via": first } });
    for (const k of acked.keys()) expect(list.body.keys).toContain(k);
    console.log(`writes during failover: ${failures} refused with 503; ${acked.size} acknowledged, all present`);
  });
});

describe("catch-up after restarts", () => {
  test("an agent evicted mid-replication restarts from SQLite and catches up; a far-behind one from a snapshot", async () => {
    const { evictDurableObject } = await import("cloudflare:test");
    const { env } = await import("cloudflare:workers");
    const c = await api("POST", "/v1/swarms", {
      swarmId: "snap", agents: 6, ...FAST, consensus: { voters: 5, snapshotEvery: 20 },
    });
    const ids: string[] = c.body.agents;
    const leader = await leaderOf("snap", ids);
    const followers = ids.filter((a) => a !== leader);
    const [evicted, far] = followers;
    // Evicted while writes are replicating: memory is dropped, SQLite (term, vote, log, store) is kept.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      writes.push(api("PUT", `/v1/swarms/snap/memory/app/e${i}`, { value: i }));
      if (i === 15) await evictDurableObject(env.AGENT.getByName(`snap/${evicted}`));
    }
    await Promise.all(writes);
    await waitFor(async () => {
      const v = await view("snap", evicted);
      const l = await view("snap", leader);
      return v.raft.appliedIndex >= l.raft.commitIndex;
    }, 45_000);
    const ev = await api("GET", "/v1/swarms/snap/memory/app?limit=1000&consistency=stale", undefined, { headers: { "x-mesh-via": evicted } });
    expect(ev.body.keys.length).toBe(30);

    // Far behind: crashed while 100 writes happen and the leader compacts its log every 20 entries.
    await api("POST", "/v1/swarms/snap/chaos", { action: "crash", agents: [far] });
    // Each write retried on 503 (an election on a loaded machine): the point here is the catch-up.
    for (let i = 0; i < 100; i++) {
      await waitFor(async () => (await api("PUT", `/v1/swarms/snap/memory/app/f${i}`, { value: i })).status === 200, 60_000);
    }
    await api("POST", "/v1/swarms/snap/chaos", { action: "restart", agents: [far] });
    await waitFor(async () => {
      const v = await view("snap", far);
      const l = await view("snap", leader);
      return v.raft && v.raft.appliedIndex >= l.raft.commitIndex;
    }, 60_000);
    const back = await api("GET", "/v1/swarms/snap/memory/app?limit=1000&consistency=stale", undefined, { headers: { "x-mesh-via": far } });
    expect(back.body.keys.length).toBe(130);
    // It caught up from a snapshot: its log starts past the entries it missed.
    const { runInDurableObject } = await import("cloudflare:test");
    const snapIndex = await runInDurableObject(env.AGENT.getByName(`snap/${far}`), (_i: unknown, s: DurableObjectState) => {
      const row = s.storage.sql.exec<{ value: string }>(`SELECT value FROM rows WHERE mod = 'raft' AND key = 'snap'`).toArray()[0];
      return JSON.parse(row.value).index as number;
    });
    expect(snapIndex).toBeGreaterThan(100);
  });
});
