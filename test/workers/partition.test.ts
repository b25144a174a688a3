// Partitions (issue: a truthful read-only mode): a side that cannot reach a quorum of the log's voters
// refuses writes at once with `503 read_only` naming what it reaches, serves reads marked stale, and the
// router never sends a write into it; the side with the quorum keeps writing; healing restores everything.
// Voters are placed by hash: in a 12-agent swarm they are agent-4, 6, 7, 11 and 12.
import { describe, expect, test } from "vitest";
import { api, waitFor } from "./helpers";

const FAST = {
  gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1000 }, consensus: { heartbeatMs: 100, electionMs: 500 },
};
const ids = Array.from({ length: 12 }, (_, i) => `agent-${i + 1}`);
const via = (a: string) => ({ headers: { "x-mesh-via": a } });
const modes = async (swarm: string) =>
  Object.fromEntries(await Promise.all(ids.map(async (a) => [a, (await api("GET", `/v1/swarms/${swarm}/agents/${a}`)).body?.mode])));

describe("partitions", () => {
  test("the seed's 5|7 split: the 7 side (4 of 5 voters) writes; the 5 side is read-only, refuses at once, reads stale; heal", async () => {
    const s = "part57";
    expect((await api("POST", "/v1/swarms", { swarmId: s, agents: 12, ...FAST })).status).toBe(201);
    const voters = await waitFor(async () => (await api("GET", `/v1/swarms/${s}/agents/agent-1`)).body?.raft?.voters, 30_000);
    expect(voters).toEqual(["agent-11", "agent-12", "agent-4", "agent-6", "agent-7"]);
    await waitFor(async () => (await api("PUT", `/v1/swarms/${s}/memory/app/before`, { value: "b" })).status === 200, 60_000);
    // Every agent's own copy has it before the split (learners apply it at the next heartbeat).
    await waitFor(async () => {
      const r = await Promise.all(ids.map((a) => api("GET", `/v1/swarms/${s}/memory/app/before?consistency=stale`, undefined, via(a))));
      return r.every((x) => x.status === 200);
    }, 60_000);

    const minority = ids.slice(0, 5);
    const majority = ids.slice(5);
    expect((await api("POST", `/v1/swarms/${s}/chaos`, { action: "partition", groups: [minority, majority] })).status).toBe(200);
    await waitFor(async () => {
      const m = await modes(s);
      return minority.every((a) => m[a] === "read-only") && majority.every((a) => m[a] === "read-write");
    }, 60_000, 100);

    // A write entering the read-only side is refused at once — no wait for a quorum that cannot answer.
    const t0 = Date.now();
    const refused = await api("PUT", `/v1/swarms/${s}/memory/app/x`, { value: 1 }, via("agent-2"));
    console.log(`write on the read-only side answered ${refused.status} in ${Date.now() - t0} ms`);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe("read_only");
    expect(refused.body.error.message).toMatch(/reaches \d+ of 12 members and 1 of 5 voters .*a write needs 3/);
    const msg = await api("POST", `/v1/swarms/${s}/messages`, { from: "agent-2", to: "all", message: { n: 1 } });
    expect(msg.status).toBe(503);
    expect(msg.body.error.code).toBe("read_only");
    // Reads there are served from the local copy, marked stale (it cannot confirm it is current).
    const read = await api("GET", `/v1/swarms/${s}/memory/app/before`, undefined, via("agent-3"));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ value: "b", stale: true });

    // The writable side keeps writing (after at most one election if the leader was cut off).
    await waitFor(async () => (await api("PUT", `/v1/swarms/${s}/memory/app/during`, { value: "d" }, via("agent-9"))).status === 200, 60_000, 100);
    // Without X-Mesh-Via the router finds a writable agent: it never sends the write into the read-only side.
    for (let i = 0; i < 10; i++) {
      const r = await api("PUT", `/v1/swarms/${s}/memory/app/any${i}`, { value: i });
      expect([200, 503]).toContain(r.status);
      if (r.status === 503) expect(r.body.error.code).not.toBe("read_only");
    }

    expect((await api("POST", `/v1/swarms/${s}/chaos`, { action: "heal" })).status).toBe(200);
    await waitFor(async () => Object.values(await modes(s)).every((m) => m === "read-write"), 60_000, 100);
    // The value written during the split reads back everywhere (the minority's followers caught up).
    for (const a of ids) {
      const r = await waitFor(async () => {
        const x = await api("GET", `/v1/swarms/${s}/memory/app/during`, undefined, via(a));
        return x.status === 200 ? x : null;
      }, 60_000);
      expect(r!.body.value).toBe("d");
    }
    const ep = (await api("GET", `/v1/swarms/${s}/agents/agent-2`)).body.partition.episodes;
    expect(ep.length).toBeGreaterThan(0);
    expect(ep.at(-1).endAt).not.toBeNull();
    expect(ep.at(-1).recoveryMs).toBeGreaterThanOrEqual(0);
  });

  test("a 4|4|4 split with no voter quorum anywhere makes every side read-only; healing restores writes", async () => {
    const s = "part444";
    await api("POST", "/v1/swarms", { swarmId: s, agents: 12, ...FAST });
    await waitFor(async () => (await api("PUT", `/v1/swarms/${s}/memory/app/k`, { value: 0 })).status === 200, 60_000);
    const groups = [ids.slice(0, 4), ids.slice(4, 8), ids.slice(8)]; // voters 1 | 2 | 2
    await api("POST", `/v1/swarms/${s}/chaos`, { action: "partition", groups });
    await waitFor(async () => Object.values(await modes(s)).every((m) => m === "read-only"), 60_000, 100);
    for (const a of ["agent-1", "agent-6", "agent-12"]) {
      const r = await api("PUT", `/v1/swarms/${s}/memory/app/k`, { value: a }, via(a));
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe("read_only");
    }
    const r = await api("PUT", `/v1/swarms/${s}/memory/app/k`, { value: "nowhere" });
    expect(r.body.error.code).toBe("read_only");
    await api("POST", `/v1/swarms/${s}/chaos`, { action: "heal" });
    await waitFor(async () => (await api("PUT", `/v1/swarms/${s}/memory/app/k`, { value: "after" })).status === 200, 60_000, 100);
    // Without X-Mesh-Via a read prefers a writable agent: linearizable, not stale.
    await waitFor(async () => Object.values(await modes(s)).every((m) => m === "read-write"), 60_000, 100);
    expect((await api("GET", `/v1/swarms/${s}/memory/app/k`)).body).toMatchObject({ value: "after", stale: false });

    // 3|9: three of the five voters are a quorum although they are a quarter of the members. That side
    // writes; the router finds it from the voters a read-only agent names (five random agents alone
    // would all be on the 9 side in 16 % of writes).
    const small = ["agent-4", "agent-6", "agent-7"];
    const big = ids.filter((a) => !small.includes(a));
    await api("POST", `/v1/swarms/${s}/chaos`, { action: "partition", groups: [small, big] });
    await waitFor(async () => {
      const m = await modes(s);
      return small.every((a) => m[a] === "read-write") && big.every((a) => m[a] === "read-only");
    }, 60_000, 100);
    await waitFor(async () => (await api("PUT", `/v1/swarms/${s}/memory/app/k`, { value: "small" }, via("agent-4"))).status === 200, 60_000, 100);
    let ok = 0;
    for (let i = 0; i < 20; i++) {
      const w = await api("PUT", `/v1/swarms/${s}/memory/app/k${i}`, { value: i });
      if (w.status === 503) expect(w.body.error.code).not.toBe("read_only");
      else expect(w.status).toBe(200);
      ok += w.status === 200 ? 1 : 0;
    }
    expect(ok).toBeGreaterThan(0);
    await api("POST", `/v1/swarms/${s}/chaos`, { action: "heal" });
  });
});
