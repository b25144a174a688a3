import { describe, expect, test } from "vitest";
import { resolveConfig } from "../../src/core/config";
import { parseEnvelope } from "../../src/core/envelope";
import type { AgentId } from "../../src/core/ids";
import { supersedes, type Member } from "../../src/core/membership/member";
import { Node } from "../../src/core/node";
import { WIRE_VERSION, type Effects, type Envelope } from "../../src/core/protocol";
import { Rng } from "../../src/core/rng";
import { MemoryStore } from "../../src/core/store";

const cfg = resolveConfig({ gossip: { intervalMs: 100, fanout: 3 }, failure: { heartbeatMs: 100, timeoutMs: 1000 } });
const id = (s: string) => s as AgentId;
const member = (over: Omit<Partial<Member>, "id"> & { id: string }): Member => ({
  inc: 0, status: "alive", ver: 1, caps: [], slots: 1, load: 0, ...over, id: id(over.id),
} as Member);
const env = (from: string, to: string, mod: string, type: string, body: Record<string, unknown>) =>
  ({ v: WIRE_VERSION, swarm: "s", from, to, mod, type, ...body }) as Envelope;
const gossip = (from: string, to: string, updates: Member[]) => env(from, to, "membership", "gossip", { updates });

/** A node plus its disk (what the shell does: persist every effect before sending). */
function make(self: string, opts: { roster?: string[]; seeds?: string[]; seed?: number } = {}) {
  const disk = new MemoryStore();
  const { node, effects } = Node.create({ swarm: "s", self: id(self), config: cfg, now: 0, rng: new Rng(opts.seed ?? 1), ...opts });
  disk.apply(effects.writes);
  return { node, effects, disk };
}

const mm = (n: Node) => n.mods.membership;

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
  test("common fields are checked first, then the module's own; each failure has a reason", () => {
    expect(typeof parseEnvelope(gossip("a", "b", [member({ id: "a" })]))).toBe("object");
    expect(parseEnvelope(null)).toMatch(/not an object/);
    expect(parseEnvelope({ ...gossip("a", "b", []), v: 99 })).toMatch(/version/);
    expect(parseEnvelope({ ...gossip("a", "b", []), from: "Bad/Id" })).toMatch(/from/);
    expect(parseEnvelope({ ...gossip("a", "b", []), mod: 7 })).toMatch(/mod/);
    const { node } = make("a", { roster: ["a", "b"] });
    const m = mm(node);
    expect(m.validate(env("b", "a", "membership", "nope", {}))).toMatch(/unknown membership type/);
    expect(m.validate(env("b", "a", "membership", "gossip", { updates: [{ id: "a" }] }))).toMatch(/gossip/);
    expect(m.validate(env("b", "a", "membership", "sync", { digest: [["a", 0, 7, 0]] }))).toMatch(/sync/);
    expect(node.mods.messages.validate(env("b", "a", "messages", "msg", { messages: [{ stream: "x" }] }))).toMatch(/bad/);
    expect(node.mods.raft.validate(env("b", "a", "raft", "raft", { msg: { type: "app", term: -1 } }))).toMatch(/bad/);
  });

  test("an invalid envelope is dropped and counted, never thrown; a version-1 envelope is upgraded", () => {
    const { node } = make("a", { roster: ["a", "b"] });
    const e = node.receive({ ...gossip("b", "a", []), updates: "junk" }, 1);
    expect(e.send).toEqual([]);
    expect(node.counters().invalidDropped).toBe(1);
    node.receive({ ...gossip("b", "a", []), swarm: "other" }, 1);
    node.receive({ ...gossip("b", "a", []), mod: "nope" }, 1);
    expect(node.counters().invalidDropped).toBe(3);
    // Version 1 had no `mod`: a gossip from an agent on the previous release is still understood.
    node.receive({ v: 1, swarm: "s", from: "b", to: "a", type: "gossip", updates: [member({ id: "x" })] }, 2);
    expect(mm(node).liveIds()).toContain("x");
  });
});

/** Deliver every send to its node until quiet (persisting first, as the shells do). */
function pump(nodes: Map<string, { node: Node; disk: MemoryStore }>, first: Effects[], now: number) {
  const queue: Envelope[] = first.flatMap((e) => e.send);
  let n = 0;
  while (queue.length && n++ < 10_000) {
    const e = queue.shift()!;
    const c = nodes.get(e.to);
    if (!c) continue;
    const fx = c.node.receive(JSON.parse(JSON.stringify(e)), now);
    c.disk.apply(fx.writes);
    queue.push(...fx.send);
  }
}

describe("agent", () => {
  test("creation persists the meta row (with the roster) and its own record only, and schedules a tick", () => {
    const { node, effects, disk } = make("a", { roster: ["a", "b", "c", "d"] });
    const meta = disk.load("node").rows.get("meta") as { self: string; roster: string[] };
    expect(meta.self).toBe("a");
    expect(meta.roster).toEqual(["a", "b", "c", "d"]);
    expect(Array.from(disk.load("membership").rows.keys())).toEqual(["member:a"]);
    expect(mm(node).liveIds()).toEqual(["a", "b", "c", "d"]);
    expect(effects.nextDeadline).toBeGreaterThan(0);
    expect(effects.nextDeadline).toBeLessThanOrEqual(cfg.failure.heartbeatMs);
  });

  test("tick is idempotent: an early or repeated alarm does nothing", () => {
    const { node, effects } = make("a", { roster: ["a", "b", "c", "d"], seed: 3 });
    const t = effects.nextDeadline!;
    const rounds = () => mm(node).counters().probeRounds;
    expect(node.tick(t - 1).send.filter((e) => e.type === "ping")).toEqual([]);
    expect(rounds()).toBe(0);
    node.tick(t);
    expect(rounds()).toBe(1);
    node.tick(t);
    expect(rounds()).toBe(1);
  });

  test("join through a seed: the newcomer learns the table and the seed learns the newcomer", () => {
    const nodes = new Map<string, { node: Node; disk: MemoryStore }>();
    const roster = ["a", "b", "c", "d", "e"];
    for (const r of roster) nodes.set(r, make(r, { roster }));
    const n = make("n", { seeds: ["a"] });
    nodes.set("n", n);
    expect(n.effects.send.map((e) => [e.type, e.to])).toEqual([["join", "a"]]);
    pump(nodes, [n.effects], 1);
    expect(mm(n.node).liveIds()).toEqual([...roster, "n"].sort());
    expect(mm(nodes.get("a")!.node).liveIds()).toContain("n");
    expect(mm(n.node).peers().length).toBeGreaterThanOrEqual(3);
  });

  test("a suspicion about oneself is refuted with a higher incarnation", () => {
    const { node } = make("a", { roster: ["a", "b"] });
    const e = node.receive(gossip("b", "a", [member({ id: "a", inc: 0, status: "suspect" })]), 5);
    expect(mm(node).self()).toMatchObject({ inc: 1, status: "alive" });
    expect(e.writes.find((w) => w.op.op === "put" && w.op.key === "member:a")?.op).toMatchObject({ value: { inc: 1, status: "alive" } });
  });

  test("restore from disk keeps membership and rejoins through its peers; after a crash at a higher incarnation", () => {
    const roster = ["a", "b", "c", "d", "e", "f"];
    const { node, disk } = make("a", { roster });
    const load = (mod: string, cold: readonly string[]) => disk.load(mod, cold);
    const evicted = Node.restore(load, 1000, new Rng(2))!;
    expect(mm(evicted.node).self().inc).toBe(0);
    expect(evicted.effects.send.some((e) => e.type === "join")).toBe(true);
    const back = Node.restore(load, 1000, new Rng(2), true)!;
    expect(mm(back.node).liveIds()).toEqual(roster);
    expect(mm(back.node).self().inc).toBe(1);
    expect(mm(back.node).peers()).toEqual(mm(node).peers());
    const joins = back.effects.send.filter((e) => e.type === "join");
    expect(joins.length).toBeGreaterThan(0);
    for (const j of joins) expect(mm(node).peers()).toContain(j.to);
  });

  test("leave announces `left` and stops ticking; shutdown answers nothing", () => {
    const { node } = make("a", { roster: ["a", "b", "c", "d"] });
    const e = node.leave(1);
    expect(e.send.length).toBeGreaterThan(0);
    expect(e.send.every((s) => s.type === "gossip" && (s.updates as Member[])[0].status === "left")).toBe(true);
    expect(e.nextDeadline).toBeNull();
    const { node: b } = make("b", { roster: ["a", "b"] });
    b.shutdown(1);
    expect(b.receive(env("a", "b", "membership", "join", { member: member({ id: "a" }) }), 1).send).toEqual([]);
  });

  test("push-pull sync sends only what the other side lacks, both ways, with other modules' state riding along", () => {
    const { node: a } = make("a", { roster: ["a", "b"] });
    const { node: b } = make("b", { roster: ["a", "b"] });
    // b learns of x; a learns of y; a message entered the mesh at a (b missed the flood).
    b.receive(gossip("a", "b", [member({ id: "x" })]), 1);
    a.receive(gossip("b", "a", [member({ id: "y" })]), 1);
    a.run(1, (m) => m.messages.post("a", "b", { hello: 1 }));
    const digest = mm(a).all().map((m) => [m.id, m.inc, 0, m.ver] as [string, number, number, number]);
    const reply = b.receive(env("a", "b", "membership", "sync", { digest, ext: { messages: a.mods.messages.heads() } }), 2).send[0];
    expect(reply.type).toBe("sync_ack");
    expect((reply.records as Member[]).map((m) => m.id).sort()).toEqual(["x"]); // only what a lacks
    expect(reply.want).toEqual(["y"]);
    expect(reply.ext).toEqual({ messages: { digest: [] } }); // b is behind on a's stream: it sends its heads
    const push = a.receive(reply, 3).send.find((e) => e.type === "sync_push")!;
    expect((push.ext as { messages: unknown[] }).messages).toHaveLength(1);
    const fx = b.receive(push, 4);
    expect(mm(a).liveIds()).toEqual(mm(b).liveIds());
    expect(fx.writes.some((w) => w.mod === "messages" && w.op.op === "put" && w.op.key.startsWith("inbox:"))).toBe(true);
  });
});

describe("failure detection on evidence", () => {
  const roster = ["a", "b", "c", "d", "e", "f"];

  test("a refused call to a member being probed skips the rest of the probe timeout: indirect probes go out at once", () => {
    const { node, effects } = make("a", { roster, seed: 5 });
    const fx = node.tick(effects.nextDeadline!);
    const ping = fx.send.find((e) => e.type === "ping")!;
    const r = node.called({ to: ping.to, mod: "membership", type: "ping", ok: false, ms: 1 }, effects.nextDeadline! + 1);
    const reqs = r.send.filter((e) => e.type === "ping_req");
    expect(reqs.length).toBeGreaterThan(0);
    expect(reqs.every((e) => e.target === ping.to)).toBe(true);
  });

  test("a refused call to a member not being probed starts a probe now", () => {
    const { node } = make("a", { roster, seed: 5 });
    const r = node.called({ to: "d" as AgentId, mod: "messages", type: "msg", ok: false, ms: 1 }, 3);
    expect(r.send.filter((e) => e.type === "ping" && e.to === "d")).toHaveLength(1);
  });

  test("on a platform whose alarms are always late, verdicts are deferred once, not forever", () => {
    const { node, effects } = make("a", { roster, seed: 5 });
    let t = effects.nextDeadline!;
    const first = node.tick(t);
    const target = first.send.find((e) => e.type === "ping")!.to;
    // Every later alarm fires 60 ms late (the round is 100 ms): no ack ever comes from the target.
    let suspected = false;
    for (let i = 0; i < 40 && !suspected; i++) {
      const next = node.nextDeadline()!;
      t = Math.max(t + 1, next + 60);
      node.tick(t);
      suspected = mm(node).member(target)?.status === "suspect";
    }
    expect(mm(node).counters().lateTicks).toBeGreaterThan(0);
    expect(suspected).toBe(true);
  });
});

describe("confirmations stay bounded", () => {
  test("merging confirmations stops at MAX_CONFIRMATIONS, so a dead record always fits on the wire", async () => {
    const { MAX_CONFIRMATIONS, mergeConfirmations } = await import("../../src/core/membership/member");
    const { validMember } = await import("../../src/core/membership/wire");
    const ids = Array.from({ length: 80 }, (_, i) => `a${i}`);
    let cur = member({ id: "x", status: "dead", by: ids.slice(0, 10) });
    for (let i = 10; i < 80; i += 10) {
      const by = mergeConfirmations(cur, member({ id: "x", status: "dead", by: ids.slice(i, i + 10) }));
      if (by) cur = { ...cur, by };
    }
    expect(cur.by!.length).toBe(MAX_CONFIRMATIONS);
    expect(validMember(cur)).toBe(true);
  });
});
