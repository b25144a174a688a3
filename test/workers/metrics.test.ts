// The performance report and the monitor stream on real Durable Objects. The report's numbers are
// checked against what this test itself did and counted — messages sent, memory writes, the log's
// terms, the agents' billing counters, the partition episodes in the agents' own views — not just
// that its fields exist. The monitor is read as a client reads it: Server-Sent Events over one response.
import { describe, expect, test } from "vitest";
import { env, exports } from "cloudflare:workers";
import * as cft from "cloudflare:test";
import { api, TOKEN, waitFor } from "./helpers";

const binding = (exports as unknown as { default: { fetch: (r: Request) => Promise<Response> } }).default;
const stub = (swarm: string, agent: string) => env.AGENT.getByName(`${swarm}/${agent}`);
const view = async (swarm: string, agent: string) => (await api("GET", `/v1/swarms/${swarm}/agents/${agent}`)).body;

async function ok(method: string, path: string, body?: unknown): Promise<any> {
  const r = await api(method, path, body);
  expect(r.status, `${method} ${path} → ${JSON.stringify(r.body)?.slice(0, 300)}`).toBeLessThan(300);
  return r.body;
}

/**
 * A write or message, retried while its agent's side is briefly read-only (a loaded machine can delay
 * the round trips past these fast timeouts; the API asks clients to retry a 503 read_only).
 */
async function post(path: string, body: unknown, method = "POST"): Promise<any> {
  const r = await waitFor(async () => {
    const r = await api(method, path, body);
    return r.status === 503 && r.body?.error?.code === "read_only" ? null : r;
  }, 60_000, 200);
  expect(r!.status, `${method} ${path} → ${JSON.stringify(r!.body)?.slice(0, 300)}`).toBeLessThan(300);
  return r!.body;
}

/** Every live agent's view of the log. */
async function rafts(swarm: string, agents: string[]): Promise<Array<{ agentId: string; term: number; leader: string | null; role: string; voters: string[] }>> {
  const out = [];
  for (const a of agents) {
    const r = await api("GET", `/v1/swarms/${swarm}/agents/${a}`);
    if (r.status === 200 && r.body.raft) out.push({ agentId: a, ...r.body.raft });
  }
  return out;
}

describe("performance report", () => {
  test("numbers agree with the traffic the test drove: messages, writes, a crash, a partition and its heal", async () => {
    const S = "report-traffic";
    const ids = Array.from({ length: 8 }, (_, i) => `agent-${i + 1}`);
    const t0 = Date.now();
    await ok("POST", "/v1/swarms", { swarmId: S, agents: 8, gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 1500 } });
    const tCreated = Date.now();
    // The first write finds the leader the new swarm elected at once.
    await waitFor(async () => (await api("PUT", `/v1/swarms/${S}/memory/t/warmup`, { value: 1 })).status === 200, 30_000, 100);
    const seen = new Set<string>(); // (term, leader) pairs this test saw
    const note = async () => {
      for (const r of await rafts(S, ids.filter((a) => a !== crashed))) if (r.leader) seen.add(`${r.term}/${r.leader}`);
    };
    let crashed = "";
    await note();
    const first = (await rafts(S, ids)).find((r) => r.role === "leader")!;
    expect(first).toBeDefined();

    // A crash: the leader. The log elects another; the failure detector buries it.
    crashed = first.agentId;
    await ok("POST", `/v1/swarms/${S}/chaos`, { action: "crash", agents: [crashed] });
    const live = ids.filter((a) => a !== crashed);
    await waitFor(async () => {
      await note();
      const rs = await rafts(S, live);
      const vs = await Promise.all(live.map((a) => view(S, a)));
      return rs.some((r) => r.role === "leader" && r.term > first.term) &&
        vs.every((v) => v.membership.find((m: any) => m.agentId === crashed)?.status === "dead" && v.mode === "read-write");
    }, 60_000, 100);

    // Messages: M from agents (each enters the mesh at its sender), none from the crashed one.
    const M = 24;
    const senders = live.slice(0, 3);
    for (let i = 0; i < M; i++) await post(`/v1/swarms/${S}/messages`, { from: senders[i % 3], to: "all", message: { n: i } });
    // Every live agent but the sender receives each message.
    await waitFor(async () => {
      const counts = await Promise.all(live.map(async (a) => (await ok("GET", `/v1/swarms/${S}/agents/${a}/inbox?limit=1000`)).messages.length));
      return counts.reduce((s, c) => s + c, 0) === M * (live.length - 1);
    }, 60_000, 100);

    // Memory writes, all through the new leader (which stays up).
    // Every live agent's key pinned through the log first (those are log entries too), so the writes
    // below are the only entries proposed between the two reports around them.
    await waitFor(async () => {
      const run: (s: any, f: (i: any) => boolean) => Promise<boolean> = (cft as any).runInDurableObject;
      return run(stub(S, live[0]), (i) => live.every((a) => i.shell.node.mods.proposals.pinnedKey(a)));
    }, 60_000, 100);
    const before = (await ok("GET", `/v1/swarms/${S}/report?timeframe=1h`)) as any;
    const W = 10;
    for (let i = 0; i < W; i++) await post(`/v1/swarms/${S}/memory/t/k${i}`, { value: i }, "PUT");
    const afterWrites = (await ok("GET", `/v1/swarms/${S}/report?timeframe=1h`)) as any;
    // Each write: one entry the leader proposed and saw commit, timed proposal → commit.
    expect(afterWrites.consensus.logProposals - before.consensus.logProposals, "log proposals").toBe(W);
    expect(afterWrites.consensus.logCommits - before.consensus.logCommits, "log commits").toBe(W);
    expect(afterWrites.consensus.logCommitMs.p99).toBeGreaterThanOrEqual(afterWrites.consensus.logCommitMs.p50);
    // A commit needs a majority of the voters holding the entry (Raft §3.6): participation is in (1/2, 1].
    expect(afterWrites.consensus.logCommitParticipation).toBeGreaterThan(0.5);
    expect(afterWrites.consensus.logCommitParticipation).toBeLessThanOrEqual(1);

    // Proposals: G under gossip voting and R on the log, every live agent voting itself (auto).
    const G = 3;
    const R = 2;
    const pids: string[] = [];
    for (let i = 0; i < G + R; i++) {
      const protocol = i < G ? "gossip" : "raft";
      const p = await post(`/v1/swarms/${S}/proposals`, { proposalId: `p-${i}`, protocol, proposal: { coordination_protocol: "gossip", consensus_threshold: 0.67 } });
      pids.push(p.proposalId);
    }
    // Decided on every live agent (each observes the decision it learns).
    await waitFor(async () => {
      for (const pid of pids) {
        const os: any[] = await Promise.all(live.map((a) => (stub(S, a) as any).proposal(pid)));
        if (!os.every((o) => o?.outcome && o.outcome.status !== "pending")) return false;
      }
      return true;
    }, 60_000, 100);
    const statuses = await Promise.all(pids.map(async (pid) => (await ok("GET", `/v1/swarms/${S}/proposals/${pid}`)).status));
    expect(statuses).toEqual(pids.map(() => "approved"));

    // A partition: two learners cut off (a minority without the voters' quorum: read-only), then healed.
    const voters = (await rafts(S, live)).find((r) => r.role === "leader")!.voters;
    const minority = live.filter((a) => !voters.includes(a)).slice(0, 2);
    expect(minority).toHaveLength(2);
    await ok("POST", `/v1/swarms/${S}/chaos`, { action: "partition", groups: [minority] });
    await waitFor(async () => (await Promise.all(minority.map((a) => view(S, a)))).every((v) => v.mode === "read-only"), 60_000, 100);
    await ok("POST", `/v1/swarms/${S}/chaos`, { action: "heal" });
    // Recovered: every live agent read-write with no episode open.
    await waitFor(async () => {
      const vs = await Promise.all(live.map((a) => view(S, a)));
      return vs.every((v) => v.mode === "read-write" && (v.partition?.episodes ?? []).every((e: any) => e.endAt !== null));
    }, 60_000, 100);
    await note();

    // What the test counted, just before and just after asking for the report.
    const episodes = (await Promise.all(live.map((a) => view(S, a)))).flatMap((v) => v.partition?.episodes ?? []);
    const stats0 = await Promise.all(ids.map((a) => stub(S, a).getStats()));
    const finalRafts = await rafts(S, live);
    const terms = finalRafts.map((r) => r.term);
    // The voters now (the dead voter was replaced by a learner after the crash: reconfigured since).
    const votersNow = finalRafts.reduce((best, x) => (x.term > best.term || (x.term === best.term && x.role === "leader") ? x : best)).voters;
    const tAsk = Date.now();
    const r = (await ok("GET", `/v1/swarms/${S}/report?timeframe=1h`)) as any;
    const tEnd = Date.now();
    const stats1 = await Promise.all(ids.map((a) => stub(S, a).getStats()));

    // Window: from the swarm's creation (inside one or two 5-minute buckets) to the request.
    expect(r.window.from).toBeGreaterThanOrEqual(t0);
    expect(r.window.from).toBeLessThanOrEqual(tCreated);
    expect(r.window.to).toBeGreaterThanOrEqual(tAsk);
    expect(r.window.to).toBeLessThanOrEqual(tEnd);
    // Throughput: exactly the messages sent, over the window; hence within the bounds the test's own clock gives.
    expect(r.network.messages.originated, "originated").toBe(M);
    expect(r.network.throughput).toBeCloseTo(M / r.window.seconds, 3);
    expect(r.network.throughput).toBeGreaterThanOrEqual(M / ((tEnd - t0) / 1000) - 0.001);
    expect(r.network.throughput).toBeLessThanOrEqual(M / ((tAsk - tCreated) / 1000) + 0.001);
    expect(r.network.messages.delivered, "delivered").toBe(M * (live.length - 1));
    // Leader elections: one per term that elected a leader — the terms the agents hold (PreVote: no empty terms).
    expect(r.consensus.leaderElections).toBeGreaterThanOrEqual(seen.size);
    expect(r.consensus.leaderElections, "elections = highest term").toBe(Math.max(...terms));
    expect(r.consensus.term, "term").toBe(Math.max(...terms));
    expect(r.consensus.voters, "voters").toBe(votersNow.length);
    expect(r.consensus.byzantineTolerance).toBe(Math.floor((votersNow.length - 1) / 3));
    // The log took the writes and, after them, the raft proposals and their votes (more entries).
    expect(r.consensus.logProposals).toBeGreaterThanOrEqual(afterWrites.consensus.logProposals + R);
    // Decisions: the proposals the test made, per protocol (each counted once, not once per agent).
    expect(r.consensus.protocols.gossip?.decisions, "gossip decisions").toBe(G);
    expect(r.consensus.protocols.raft?.decisions, "raft decisions").toBe(R);
    expect(r.consensus.decisions).toBe(G + R);
    expect(r.consensus.decisionLatencyMs.p50).toBeGreaterThanOrEqual(0);
    expect(r.consensus.decisionLatencyMs.p99).toBeGreaterThanOrEqual(r.consensus.decisionLatencyMs.p50);
    // Auto voting: approved by at least the threshold of the eligible (live) agents.
    expect(r.consensus.participation).toBeGreaterThanOrEqual(0.67);
    expect(r.consensus.participation).toBeLessThanOrEqual(1);
    // Partition recovery: the longest an agent took, as the agents' own episode records say. The report
    // keeps the exact maximum, so it is the longest recorded recovery: at least the longest read before
    // the report, and one of the values the agents hold after it (an episode may end in between).
    const ended = episodes.filter((e: any) => e.recoveryMs !== null).map((e: any) => e.recoveryMs);
    expect(ended.length).toBeGreaterThan(0);
    const endedAfter = (await Promise.all(live.map((a) => view(S, a))))
      .flatMap((v) => v.partition?.episodes ?? [])
      .filter((e: any) => e.recoveryMs !== null)
      .map((e: any) => e.recoveryMs);
    expect(r.network.partitionRecoveryMs).toBeGreaterThanOrEqual(Math.max(...ended));
    expect(endedAfter).toContain(r.network.partitionRecoveryMs);
    expect(r.network.connectivity).toBeGreaterThan(0);
    expect(r.network.connectivity).toBeLessThan(1); // the crash and the partition cost reachability
    // Billing: the live agents' own counters, read just before and just after the report, plus the crashed
    // agent's part — what its storage holds (its in-memory counters go when its object is evicted).
    const liveIdx = ids.map((a, i) => (a === crashed ? -1 : i)).filter((i) => i >= 0);
    const liveSum = (xs: any[], k: string) => liveIdx.reduce((s, i) => s + xs[i][k], 0);
    const dead = (await (stub(S, crashed) as any).metrics({ agentId: crashed, since: t0 - 3600_000, stepMs: 300_000 })) as any;
    expect(dead.live).toBe(false);
    const deadCount = (k: string): number => dead.total?.counters[k] ?? 0;
    for (const [k, field] of [["peerCalls", "peerCalls"], ["peerCallFailures", "failedPeerCalls"]] as const) {
      expect(r.platform[field], `${field} ≥ counted before`).toBeGreaterThanOrEqual(liveSum(stats0, k) + deadCount(k));
      expect(r.platform[field], `${field} ≤ counted after`).toBeLessThanOrEqual(liveSum(stats1, k) + deadCount(k));
    }
    expect(r.platform.failedPeerCalls).toBeGreaterThan(0); // calls to the crashed agent failed
    const billedOf = (xs: any[]) => ["alarms", "peerCalls", "rowsWritten"].reduce((s, k) => s + liveSum(xs, k) + deadCount(k), 0);
    expect(r.cost.billed.total).toBe(r.cost.billed.alarms + r.cost.billed.peerCalls + r.cost.billed.rowsWritten);
    expect(r.cost.billed.total, "billed ≥ counted before").toBeGreaterThanOrEqual(billedOf(stats0));
    expect(r.cost.billed.total, "billed ≤ counted after").toBeLessThanOrEqual(billedOf(stats1));
    // Per agent-hour: the same count over the agent-hours observed. The report rounds the rate to 0.1 op
    // and the hours to 4 digits (±0.00005 h), so rate × hours is the count within what those roundings allow.
    const h = r.window.agentHours;
    expect(h).toBeGreaterThan(0);
    expect(Math.abs(r.cost.perAgentHour.total * h - r.cost.billed.total)).toBeLessThanOrEqual(r.cost.perAgentHour.total * 0.00005 + 0.05 * h + 1e-9);
    expect(r.cost.naivePerAgentHour).toBe(8400);
    // Peer-call latency from real round trips; alarm lateness measured.
    expect(r.network.latencyMs.p50).not.toBeNull();
    expect(r.network.latencyMs.p99).toBeGreaterThanOrEqual(r.network.latencyMs.p50);
    expect(r.platform.alarmLateMs.p99).not.toBeNull();
    expect(r.agents).toMatchObject({ total: 8, answering: 7, reporting: 8, missing: [] });
    // Every observed metric is listed by name (a new one needs no code in the report).
    for (const k of ["network.callMs", "raft.leaderElected", "partition.recoveryMs", "platform.alarmLateMs"]) expect(r.metrics[k], k).toBeDefined();
    expect(r.series.length).toBeGreaterThan(0);
    expect(r.series.reduce((s: number, p: any) => s + p.leaderElections, 0)).toBe(r.consensus.leaderElections);

    // Markdown: the same numbers as a document.
    const md = await api("GET", `/v1/swarms/${S}/report?timeframe=24h&format=markdown`);
    expect(md.status).toBe(200);
    expect(md.headers.get("content-type")).toMatch(/^text\/markdown/);
    expect(md.body).toMatch(/^# Performance report: report-traffic \(24h\)/);
    expect(md.body).toContain(`| Leader elections | ${r.consensus.leaderElections} `);
    expect(md.body).toContain(`(${M} messages,`);
  });

  test("tasks: the report's migrations are the moves the agents made; a hot agent is a hotspot, the cold one is not", async () => {
    const S = "report-tasks";
    await ok("POST", "/v1/swarms", { swarmId: S, agents: 0, gossip: { intervalMs: 200 }, failure: { heartbeatMs: 200, timeoutMs: 3000 } });
    const hot = ["hot-1", "hot-2", "hot-3"];
    for (const a of hot) await ok("POST", `/v1/swarms/${S}/agents`, { agentId: a, capabilities: ["work"], capacity: { slots: 1 } });
    const converged = (ids: string[]) => waitFor(async () => {
      const vs = await Promise.all(ids.map((a) => view(S, a)));
      return vs.every((v) => v.membership?.filter((m: any) => m.status === "alive").length === ids.length);
    }, 60_000, 100);
    await converged(hot);
    // Nine queued tasks and no worker: every agent is above 0.8 load (1 slot each).
    const placed: Record<string, string> = {};
    for (let i = 0; i < 9; i++) {
      const t = await post(`/v1/swarms/${S}/tasks`, { taskId: `m-${i}`, payload: { i }, strategy: "capability", requiredCapabilities: ["work"] });
      placed[t.taskId] = t.assignedTo;
    }
    expect(Object.values(placed).every((a) => hot.includes(a))).toBe(true);
    // A cold agent (8 slots) joins: the rebalancer moves queued tasks from hot agents to it.
    await ok("POST", `/v1/swarms/${S}/agents`, { agentId: "cold-1", capabilities: ["work"], capacity: { slots: 8 } });
    await converged([...hot, "cold-1"]);
    const counters = async () => {
      const l = await ok("GET", `/v1/swarms/${S}/tasks?limit=100`);
      expect(l.unreachable).toEqual([]);
      return Object.values(l.agents as Record<string, { migrations: number }>).reduce((s, a) => s + a.migrations, 0);
    };
    // Settled: the agents' migration counters unchanged for 3 polls a second apart.
    let last = -1;
    let same = 0;
    await waitFor(async () => {
      const m = await counters();
      same = m === last && m > 0 ? same + 1 : 0;
      last = m;
      return same >= 3;
    }, 90_000, 1000);
    const moved = [];
    for (const id of Object.keys(placed)) {
      const t = await ok("GET", `/v1/swarms/${S}/tasks/${id}`);
      expect(t.status).toBe("queued");
      if (t.assignedTo !== placed[id]) moved.push(t.assignedTo);
    }
    const m0 = await counters();
    const r = (await ok("GET", `/v1/swarms/${S}/report?timeframe=1h`)) as any;
    const m1 = await counters();
    // Each task now on another agent than it was placed on moved at least once; the report counts each
    // migration once, where it happened — what the agents' own counters say around the report.
    expect(moved.length).toBeGreaterThan(0);
    expect(moved).toContain("cold-1");
    expect(r.load.migrations).toBeGreaterThanOrEqual(Math.max(m0, moved.length));
    expect(r.load.migrations).toBeLessThanOrEqual(m1);
    expect(r.load.hotspots).not.toContain("cold-1");
    expect(r.load.hotspots.every((a: string) => hot.includes(a))).toBe(true);
    expect(Object.keys(r.load.perAgent).sort()).toEqual(["cold-1", ...hot].sort());
  });

  test("bad requests: the contract's errors", async () => {
    await ok("POST", "/v1/swarms", { swarmId: "report-bad", agents: 2, gossip: { intervalMs: 100 } });
    const cases: Array<[string, number, string, string?]> = [
      ["/v1/swarms/report-bad/report?timeframe=2h", 400, "invalid_request", "query.timeframe"],
      ["/v1/swarms/report-bad/report?format=xml", 400, "invalid_request", "query.format"],
      ["/v1/swarms/report-bad/report?verbose=1", 400, "invalid_request", "query.verbose"],
      ["/v1/swarms/report-ghost/report", 404, "not_found"],
      ["/v1/swarms/report-bad/monitor?interval=10", 400, "invalid_request", "query.interval"],
      ["/v1/swarms/report-bad/monitor?interval=abc", 400, "invalid_request", "query.interval"],
      ["/v1/swarms/report-bad/monitor?count=0", 400, "invalid_request", "query.count"],
      ["/v1/swarms/report-bad/monitor?metrics=connectivity,bogus", 400, "invalid_request", "query.metrics"],
      ["/v1/swarms/report-ghost/monitor?count=1", 404, "not_found"],
    ];
    for (const [path, status, code, field] of cases) {
      const r = await api("GET", path);
      expect(r.status, path).toBe(status);
      expect(r.body.error.code, path).toBe(code);
      if (field) expect(JSON.stringify(r.body.error.details), path).toContain(field);
    }
    for (const path of ["/v1/swarms/report-bad/report", "/v1/swarms/report-bad/monitor?count=1"]) {
      expect((await api("GET", path, undefined, { token: null })).status).toBe(401);
      expect((await api("POST", path)).status).toBe(405);
    }
    // A token in the URL is not a credential (URLs end up in logs).
    expect((await api("GET", `/v1/swarms/report-bad/monitor?count=1&token=${TOKEN}`, undefined, { token: null })).status).toBe(401);
  });
});

type Sse = { event: string; id?: string; data: any };

/** Read a whole SSE response into its events. */
async function readEvents(res: Response): Promise<Sse[]> {
  return parseFrames(await res.text());
}

/** SSE events as they arrive (the caller may act between two). */
async function* streamEvents(res: Response): AsyncGenerator<Sse> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      yield* parseFrames(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
  }
}

function parseFrames(text: string): Sse[] {
  const out: Sse[] = [];
  for (const frame of text.split("\n\n")) {
    const ev: { event: string; id?: string; data: string } = { event: "message", data: "" };
    let hasData = false;
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) ev.event = line.slice(6).trim();
      else if (line.startsWith("id:")) ev.id = line.slice(3).trim();
      else if (line.startsWith("data:")) (ev.data += line.slice(5).trim(), (hasData = true));
    }
    if (hasData) out.push({ ...ev, data: JSON.parse(ev.data) });
  }
  return out;
}

describe("monitor stream (Server-Sent Events)", () => {
  test("count snapshots at the interval, in order, then an end event", async () => {
    const S = "monitor-sse";
    await ok("POST", "/v1/swarms", { swarmId: S, agents: 5, gossip: { intervalMs: 100 }, failure: { heartbeatMs: 100, timeoutMs: 2000 } });
    await waitFor(async () => (await api("PUT", `/v1/swarms/${S}/memory/t/x`, { value: 1 })).status === 200, 30_000, 100);
    // Settled: every agent reaches every member (a fresh swarm's reachability fills in over its first rounds).
    await waitFor(async () => {
      const one = await binding.fetch(new Request(`http://mesh.test/v1/swarms/${S}/monitor?count=1&metrics=connectivity`, { headers: { authorization: `Bearer ${TOKEN}` } }));
      return (await readEvents(one)).find((e) => e.event === "snapshot")?.data.connectivity.now === 1;
    }, 60_000, 200);
    const interval = 300;
    const res = await binding.fetch(new Request(`http://mesh.test/v1/swarms/${S}/monitor?interval=${interval}&count=3`, { headers: { authorization: `Bearer ${TOKEN}` } }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = await readEvents(res);
    const snaps = events.filter((e) => e.event === "snapshot");
    expect(snaps).toHaveLength(3);
    expect(snaps.map((e) => e.data.seq)).toEqual([1, 2, 3]);
    expect(snaps.map((e) => e.id)).toEqual(["1", "2", "3"]);
    // Taken on the stream's schedule: the i-th no earlier than i intervals after the first.
    const at = snaps.map((e) => e.data.at);
    for (let i = 1; i < at.length; i++) {
      expect(at[i]).toBeGreaterThan(at[i - 1]);
      expect(at[i] - at[0]).toBeGreaterThanOrEqual(i * interval);
    }
    expect(events.at(-1)).toMatchObject({ event: "end", data: { reason: "count", snapshots: 3 } });
    const s = snaps[2].data;
    expect(s.swarmId).toBe(S);
    expect(s.agents.map((a: any) => a.agentId)).toEqual(["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"]);
    // Every agent answers; nobody crashed, so none is dead (a loaded machine may make one briefly suspect).
    expect(s.agents.map((a: any) => [a.agentId, a.answering, a.status === "alive" || a.status === "suspect"])).toEqual(
      s.agents.map((a: any) => [a.agentId, true, true]),
    );
    expect(s.leader).toMatch(/^agent-\d$/);
    // Connectivity now: the mean of what each agent reaches, as the same snapshot lists them (a loaded
    // machine may make a round trip late, so not necessarily 1).
    const reach = s.agents.map((a: any) => a.reachable).filter((x: unknown) => typeof x === "number");
    expect(reach).toHaveLength(5);
    expect(s.connectivity.now).toBeCloseTo(reach.reduce((x: number, y: number) => x + y, 0) / reach.length, 2);
    expect(s.connectivity.now).toBeGreaterThan(0.5);
    expect(s.throughput.overMs).toBeGreaterThan(0);

    // `metrics=` picks sections; messages sent between snapshots show up as throughput.
    const res2 = await binding.fetch(new Request(`http://mesh.test/v1/swarms/${S}/monitor?interval=1000&count=3&metrics=throughput,latency`, { headers: { authorization: `Bearer ${TOKEN}` } }));
    const snaps2: any[] = [];
    for await (const e of streamEvents(res2)) {
      if (e.event !== "snapshot") continue;
      snaps2.push(e.data);
      if (snaps2.length === 1) for (let i = 0; i < 4; i++) await post(`/v1/swarms/${S}/messages`, { from: "agent-2", to: "all", message: { i } });
    }
    expect(snaps2).toHaveLength(3);
    for (const x of snaps2) {
      expect(Object.keys(x)).not.toContain("agents");
      expect(Object.keys(x)).toContain("latency");
    }
    // Rates between snapshots add up to the messages sent (each counted once, at its origin).
    const counted = snaps2.slice(1).reduce((sum, x) => sum + (x.throughput.messagesPerSec * x.throughput.overMs) / 1000, 0);
    expect(Math.round(counted)).toBe(4);
  });
});
