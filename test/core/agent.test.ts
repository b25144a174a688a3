import { describe, expect, test } from "vitest";
import { AgentCore, type Effects } from "../../src/core/agent";
import { resolveConfig } from "../../src/core/config";
import { parseEnvelope, WIRE_VERSION, type Envelope } from "../../src/core/envelope";
import type { AgentId } from "../../src/core/ids";
import { supersedes, type Member } from "../../src/core/membership/member";
import { Rng } from "../../src/core/rng";

const cfg = resolveConfig({ gossip: { intervalMs: 100, fanout: 3 }, failure: { heartbeatMs: 100, timeoutMs: 1000 } });
const id = (s: string) => s as AgentId;
const member = (over: Omit<Partial<Member>, "id"> & { id: string }): Member => ({
  inc: 0, status: "alive", ver: 1, caps: [], slots: 1, load: 0, ...over, id: id(over.id),
} as Member);

function make(self: string, opts: { roster?: string[]; seeds?: string[]; seed?: number } = {}) {
  return AgentCore.create({ swarm: "s", self: id(self), config: cfg, now: 0, rng: new Rng(opts.seed ?? 1), ...opts });
}

describe("member precedence (SWIM §4.2)", () => {
  test("higher incarnation wins; at equal incarnation worse status wins; then higher version", () => {
    const a = member({ id: "x", inc: 1, status: "suspect" });
    expect(supersedes(member({ id: "x", inc: 2, status: "alive" }), a)).toBe(true);
    expect(supersedes(member({ id: "x", inc: 1, status: "alive", ver: 9 }), a)).toBe(false);
    expect(supersedes(member({ id: "x", inc: 1, status: "dead" }), a)).toBe(true);
    expect(supersedes(member({ id: "x", inc: 1, status: "suspect", ver: 2 }), a)).toBe(true);
    expect(supersedes(a, a)).toBe(false);
  });
});

describe("envelope validation", () => {
  const ok = { v: WIRE_VERSION, swarm: "s", from: "a", to: "b" };
  test("accepts well-formed envelopes and rejects everything else with a reason", () => {
    expect(typeof parseEnvelope({ ...ok, type: "gossip", updates: [member({ id: "a" })] })).toBe("object");
    expect(parseEnvelope(null)).toMatch(/not an object/);
    expect(parseEnvelope({ ...ok, v: 99, type: "gossip", updates: [] })).toMatch(/version/);
    expect(parseEnvelope({ ...ok, type: "nope" })).toMatch(/unknown type/);
    expect(parseEnvelope({ ...ok, from: "Bad/Id", type: "gossip", updates: [] })).toMatch(/from/);
    expect(parseEnvelope({ ...ok, type: "gossip", updates: [{ id: "a" }] })).toMatch(/gossip/);
    expect(parseEnvelope({ ...ok, type: "sync", digest: [["a", 0, 7, 0]] })).toMatch(/digest/);
  });

  test("an invalid envelope is dropped and counted, never thrown", () => {
    const { core } = make("a", { roster: ["a", "b"] });
    const e = core.receive({ v: 1, type: "gossip", swarm: "s", from: "b", to: "a", updates: "junk" }, 1);
    expect(e.send).toEqual([]);
    expect(core.counters.invalidDropped).toBe(1);
    core.receive({ ...{ v: 1, swarm: "other", from: "b", to: "a" }, type: "gossip", updates: [] }, 1);
    expect(core.counters.invalidDropped).toBe(2);
  });
});

/** Deliver every send to its core until quiet; persist first (what the shells do). */
function pump(cores: Map<string, AgentCore>, first: Effects[], now: number) {
  const queue: Envelope[] = first.flatMap((e) => e.send);
  let n = 0;
  while (queue.length && n++ < 10_000) {
    const env = queue.shift()!;
    const c = cores.get(env.to);
    if (c) queue.push(...c.receive(JSON.parse(JSON.stringify(env)), now).send);
  }
}

describe("agent core", () => {
  test("creation persists self and the roster (one meta row, not a row per member) and schedules a tick", () => {
    const { core, effects } = make("a", { roster: ["a", "b", "c", "d"] });
    expect(effects.meta?.self).toBe("a");
    expect(effects.meta?.roster).toEqual(["a", "b", "c", "d"]);
    expect(effects.members.map((m) => m.id)).toEqual(["a"]);
    expect(core.liveIds()).toEqual(["a", "b", "c", "d"]);
    expect(effects.nextDeadline).toBeGreaterThan(0);
    expect(effects.nextDeadline).toBeLessThanOrEqual(cfg.failure.heartbeatMs);
  });

  test("tick is idempotent: an early or repeated alarm does nothing", () => {
    const { core, effects } = make("a", { roster: ["a", "b", "c", "d"] });
    const t = effects.nextDeadline!;
    expect(core.tick(t - 1).send.filter((e) => e.type === "ping")).toEqual([]);
    expect(core.counters.probeRounds).toBe(0);
    core.tick(t);
    expect(core.counters.probeRounds).toBe(1);
    core.tick(t);
    expect(core.counters.probeRounds).toBe(1);
  });

  test("join through a seed: the newcomer learns the table and the seed learns the newcomer", () => {
    const cores = new Map<string, AgentCore>();
    const roster = ["a", "b", "c", "d", "e"];
    for (const r of roster) cores.set(r, make(r, { roster }).core);
    const { core: n, effects } = make("n", { seeds: ["a"] });
    cores.set("n", n);
    expect(effects.send.map((e) => [e.type, e.to])).toEqual([["join", "a"]]);
    pump(cores, [effects], 1);
    expect(n.liveIds()).toEqual([...roster, "n"].sort());
    expect(cores.get("a")!.liveIds()).toContain("n");
    expect(n.peers().length).toBeGreaterThanOrEqual(3);
  });

  test("a suspicion about oneself is refuted with a higher incarnation", () => {
    const { core } = make("a", { roster: ["a", "b"] });
    const e = core.receive(
      { v: 1, swarm: "s", from: "b", to: "a", type: "gossip", updates: [member({ id: "a", inc: 0, status: "suspect" })] },
      5,
    );
    expect(core.self()).toMatchObject({ inc: 1, status: "alive" });
    expect(e.members.find((m) => m.id === "a")).toMatchObject({ inc: 1, status: "alive" });
  });

  test("restore keeps membership and rejoins through its peers; after a crash at a higher incarnation", () => {
    const roster = ["a", "b", "c", "d", "e", "f"];
    const { core } = make("a", { roster });
    const persisted = { meta: { ...core.meta }, members: core.membership() };
    const evicted = AgentCore.restore(persisted, 1000, new Rng(2));
    expect(evicted.core.self().inc).toBe(0);
    expect(evicted.effects.send.some((e) => e.type === "join")).toBe(true);
    const { core: back, effects } = AgentCore.restore(persisted, 1000, new Rng(2), { bumpIncarnation: true });
    expect(back.liveIds()).toEqual(roster);
    expect(back.self().inc).toBe(1);
    expect(back.peers()).toEqual(core.peers());
    const joins = effects.send.filter((e) => e.type === "join");
    expect(joins.length).toBeGreaterThan(0);
    for (const j of joins) expect(core.peers()).toContain(j.to);
  });

  test("leave announces `left` and stops ticking; shutdown answers nothing", () => {
    const { core } = make("a", { roster: ["a", "b", "c", "d"] });
    const e = core.leave();
    expect(e.send.length).toBeGreaterThan(0);
    expect(e.send.every((s) => s.type === "gossip" && s.updates[0].status === "left")).toBe(true);
    expect(e.nextDeadline).toBeNull();
    const { core: c2 } = make("b", { roster: ["a", "b"] });
    c2.shutdown();
    expect(c2.receive({ v: 1, swarm: "s", from: "a", to: "b", type: "join", member: member({ id: "a" }) }, 1).send).toEqual([]);
  });

  test("push-pull sync sends only what the other side lacks, both ways", () => {
    const { core: a } = make("a", { roster: ["a", "b"] });
    const { core: b } = make("b", { roster: ["a", "b"] });
    // b learns of x; a learns of y.
    b.receive({ v: 1, swarm: "s", from: "a", to: "b", type: "gossip", updates: [member({ id: "x" })] }, 1);
    a.receive({ v: 1, swarm: "s", from: "b", to: "a", type: "gossip", updates: [member({ id: "y" })] }, 1);
    const digest = a.membership().map((m) => [m.id, m.inc, 0, m.ver] as [string, number, number, number]);
    const reply = b.receive({ v: 1, swarm: "s", from: "a", to: "b", type: "sync", digest }, 2).send[0];
    expect(reply.type).toBe("sync_ack");
    if (reply.type !== "sync_ack") throw new Error();
    expect(reply.records.map((m) => m.id).sort()).toEqual(["x"]); // only what a lacks
    expect(reply.want).toEqual(["y"]);
    const push = a.receive(reply, 3).send[0];
    expect(push.type).toBe("sync_push");
    b.receive(push, 4);
    expect(a.liveIds()).toEqual(b.liveIds());
  });
});
