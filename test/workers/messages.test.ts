import { describe, expect, test } from "vitest";
import { api, sleep, waitFor } from "./helpers";

const FAST = { gossip: { intervalMs: 50, fanout: 3 }, failure: { heartbeatMs: 50, timeoutMs: 600 } };

async function inboxAll(swarm: string, agent: string): Promise<any[]> {
  const out: any[] = [];
  let after: string | null = null;
  for (;;) {
    const r: any = await api("GET", `/v1/swarms/${swarm}/agents/${agent}/inbox?limit=1000${after ? `&after=${after}` : ""}`);
    expect(r.status).toBe(200);
    out.push(...r.body.messages);
    if (r.body.messages.length < 1000) return out;
    after = r.body.next;
  }
}

describe("messages (daa_communication)", () => {
  test("a direct message reaches its recipient once; the inbox pages with a cursor", async () => {
    await api("POST", "/v1/swarms", { swarmId: "dm", agents: 6, ...FAST });
    const r = await api("POST", "/v1/swarms/dm/messages", { from: "agent-1", to: "agent-4", message: { type: "peer_connect" } });
    expect(r.status).toBe(202);
    expect(r.body.recipients).toEqual(["agent-4"]);
    await waitFor(async () => (await inboxAll("dm", "agent-4")).length === 1, 5000);
    const [m] = await inboxAll("dm", "agent-4");
    expect(m).toMatchObject({ from: "agent-1", message: { type: "peer_connect" }, messageId: r.body.messageId });
    expect((await inboxAll("dm", "agent-2")).length).toBe(0);
    const page = await api("GET", `/v1/swarms/dm/agents/agent-4/inbox?after=${encodeURIComponent(
      (await api("GET", "/v1/swarms/dm/agents/agent-4/inbox")).body.next,
    )}`);
    expect(page.body.messages).toEqual([]);
  });

  test("200 messages to all from 3 senders, a relay crashed midway: each live recipient gets each once, in order per sender", async () => {
    const created = await api("POST", "/v1/swarms", { swarmId: "bcast", agents: 12, ...FAST });
    const ids: string[] = created.body.agents;
    const senders = ["mesh-coordinator", "agent-2", "agent-9"];
    const relay = "agent-6";
    const sent: Record<string, string[]> = Object.fromEntries(senders.map((s) => [s, []]));
    for (let i = 0; i < 200; i++) {
      const from = senders[i % 3];
      if (i === 100) {
        const c = await api("POST", "/v1/swarms/bcast/chaos", { action: "crash", agents: [relay] });
        expect(c.status).toBe(200);
      }
      const r = await api("POST", "/v1/swarms/bcast/messages", { from, to: "all", message: { n: i, from } });
      expect(r.status).toBe(202);
      sent[from].push(r.body.messageId);
    }
    const live = ids.filter((a) => a !== relay);
    const expectedFor = (a: string) => senders.reduce((n, s) => n + (s === a ? 0 : sent[s].length), 0);
    await waitFor(async () => {
      const counts = await Promise.all(live.map(async (a) => (await inboxAll("bcast", a)).length));
      return counts.every((c, i) => c >= expectedFor(live[i]));
    }, 60_000, 200);
    await sleep(300); // a little longer: duplicates, if any, would show up now
    for (const a of live) {
      const inbox = await inboxAll("bcast", a);
      const ids = inbox.map((m) => m.messageId);
      expect(new Set(ids).size).toBe(ids.length); // exactly once
      expect(ids.length).toBe(expectedFor(a));
      for (const s of senders) {
        if (s === a) continue;
        const mine = inbox.filter((m) => m.from === s).map((m) => m.messageId);
        expect(mine).toEqual(sent[s]); // in order per sender
      }
    }

    // The crashed relay restarts: it keeps what it had (SQLite) and anti-entropy fills the gap —
    // still exactly once and in order, across the restart.
    const beforeCrash = (await inboxAll("bcast", relay).catch(() => [])).length;
    expect((await api("POST", "/v1/swarms/bcast/chaos", { action: "restart", agents: [relay] })).status).toBe(200);
    const had = await inboxAll("bcast", relay);
    expect(had.length).toBeGreaterThanOrEqual(beforeCrash);
    await waitFor(async () => (await inboxAll("bcast", relay)).length >= expectedFor(relay), 20_000, 200);
    const inbox = await inboxAll("bcast", relay);
    expect(inbox.length).toBe(expectedFor(relay));
    for (const s of senders) expect(inbox.filter((m) => m.from === s).map((m) => m.messageId)).toEqual(sent[s]);
  });
});
