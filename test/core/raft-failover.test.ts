// Failover without waiting for timers (the additions at the top of src/core/raft/raft.ts): each test
// drives pure Raft nodes over a synchronous in-test network with no ticks at all where the point is
// that no timer is needed, and would fail without the rule it names.
import { describe, expect, test } from "vitest";
import { Raft, initialPersisted, type Entry, type RaftMsg, type Ready } from "../../src/core/raft/raft";
import { Rng } from "../../src/core/rng";
import { storeAppend } from "./raft-harness";

const IDS = ["n1", "n2", "n3", "n4", "n5"];

class Net {
  nodes = new Map<string, Raft>();
  down = new Set<string>();
  /** Stored state per node (what a restart keeps). */
  disk = new Map<string, { hard: { term: number; vote: string | null; commit: number }; entries: Entry[] }>();
  /** Calls that failed because the target was down: [from, to, msg type]. */
  failed: Array<[string, string, string]> = [];
  queue: Array<{ from: string; to: string; msg: RaftMsg }> = [];

  constructor(opts: { retryTicks?: number } = {}) {
    for (const id of IDS) {
      this.disk.set(id, { hard: { term: 0, vote: null, commit: 0 }, entries: [] });
      this.start(id, opts);
    }
  }

  start(id: string, opts: { retryTicks?: number } = {}): void {
    const d = this.disk.get(id)!;
    const p = initialPersisted({ voters: IDS, learners: [] });
    const r = new Raft(
      { id, electionTicks: 10, heartbeatTicks: 2, retryTicks: opts.retryTicks, rng: new Rng(IDS.indexOf(id) + 1) },
      { ...p, hard: d.hard, entries: d.entries },
    );
    this.nodes.set(id, r);
    this.absorb(id, r.ready());
  }

  absorb(id: string, r: Ready): void {
    const d = this.disk.get(id)!;
    if (r.hardState) d.hard = { ...r.hardState };
    if (r.append) d.entries = storeAppend(d.entries, r.append);
    for (const m of r.messages) this.queue.push({ from: id, to: m.to, msg: m.msg });
  }

  /** Deliver until quiet; a message to a down node is a failed call, reported by `onFail`. */
  run(onFail: (from: string, to: string) => void = () => {}): void {
    for (let n = 0; this.queue.length && n < 10_000; n++) {
      const { from, to, msg } = this.queue.shift()!;
      if (this.down.has(from)) continue;
      if (this.down.has(to)) {
        this.failed.push([from, to, msg.type]);
        onFail(from, to);
        continue;
      }
      this.absorb(to, this.nodes.get(to)!.step(from, JSON.parse(JSON.stringify(msg))));
    }
  }

  leader(): string | null {
    const ls = IDS.filter((id) => !this.down.has(id) && this.nodes.get(id)!.role === "leader");
    return ls.length === 1 ? ls[0] : null;
  }

  /** What the replicated-log module does on a failed call to the leader (src/core/raft/module.ts onCall). */
  unreachable(self: string, leader: string, campaign: boolean): void {
    const r = this.nodes.get(self)!;
    if (r.leader !== leader) return;
    r.forgetLeader(leader);
    this.absorb(self, r.reportUnreachable(leader));
    if (campaign) this.absorb(self, r.campaign());
  }
}

function elected(): Net {
  const net = new Net();
  net.absorb("n1", net.nodes.get("n1")!.campaign());
  net.run();
  expect(net.leader()).toBe("n1");
  return net;
}

describe("raft: failover on evidence, not timers", () => {
  test("a dead leader: the voters check it, their probes fail, the first live voter is elected — no tick", () => {
    const net = elected();
    const term = net.nodes.get("n2")!.term;
    net.down.add("n1");
    // A forward from n3 to the leader failed: n3 asks the voters to check it; n2 (first live voter) campaigns.
    net.unreachable("n3", "n1", false);
    net.run((from, to) => net.unreachable(from, to, from === "n2"));
    expect(net.failed.filter(([, to, type]) => to === "n1" && type === "probe").length).toBeGreaterThanOrEqual(3);
    expect(net.leader()).toBe("n2");
    expect(net.nodes.get("n2")!.term).toBe(term + 1);
  });

  test("without the probes, followers that hold a lease on the dead leader ignore the campaign", () => {
    const net = elected();
    net.down.add("n1");
    const r = net.nodes.get("n2")!;
    r.forgetLeader("n1");
    net.absorb("n2", r.campaign()); // no check/probe round: n3–n5 still hold n1's lease
    net.run();
    expect(net.leader()).toBeNull();
  });

  test("a healthy leader behind a flaky link: it answers the probes, keeps its followers, and the PreVote fails", () => {
    const net = elected();
    const term = net.nodes.get("n1")!.term;
    // n2 could not reach n1 (a flaky link), although n1 is fine: n2 checks and campaigns.
    net.unreachable("n2", "n1", true);
    net.run();
    expect(net.leader()).toBe("n1");
    for (const id of IDS) expect(net.nodes.get(id)!.term).toBe(term);
  });

  test("a leader that restarted (its leadership lost) is granted its election by the followers holding its lease", () => {
    const net = elected();
    const term = net.nodes.get("n1")!.term;
    net.start("n1"); // memory lost, storage kept: now a follower that voted for itself
    expect(net.nodes.get("n1")!.role).toBe("follower");
    net.absorb("n1", net.nodes.get("n1")!.campaign());
    net.run();
    expect(net.leader()).toBe("n1");
    expect(net.nodes.get("n1")!.term).toBe(term + 1);
  });

  test("a candidate asks again the voters that were not up yet, each retry interval (a new swarm)", () => {
    const net = new Net({ retryTicks: 1 });
    for (const id of IDS.slice(1)) net.down.add(id);
    net.absorb("n1", net.nodes.get("n1")!.campaign());
    net.run();
    expect(net.leader()).toBeNull();
    for (const id of IDS.slice(1)) net.down.delete(id);
    net.absorb("n1", net.nodes.get("n1")!.tick(1)); // one retry interval: far below the election timeout
    net.run();
    expect(net.leader()).toBe("n1");
  });

  test("without retries the same election waits for a timeout", () => {
    const net = new Net({ retryTicks: 1000 });
    for (const id of IDS.slice(1)) net.down.add(id);
    net.absorb("n1", net.nodes.get("n1")!.campaign());
    net.run();
    for (const id of IDS.slice(1)) net.down.delete(id);
    net.absorb("n1", net.nodes.get("n1")!.tick(1));
    net.run();
    expect(net.leader()).toBeNull();
  });

  test("tick(n) advances n ticks at once: a follower's election timer fires after the same elapsed time", () => {
    const a = new Net();
    const b = new Net();
    let ta = 0;
    while (a.nodes.get("n3")!.role === "follower" && ta < 100) (a.absorb("n3", a.nodes.get("n3")!.tick(1)), ta++);
    b.absorb("n3", b.nodes.get("n3")!.tick(ta));
    expect(b.nodes.get("n3")!.role).toBe(a.nodes.get("n3")!.role);
    expect(b.nodes.get("n3")!.role).not.toBe("follower");
  });
});

describe("raft: what an idle log costs", () => {
  test("a learner hears a new commit index at the next heartbeat, and otherwise only every 30 heartbeats", () => {
    const cfg = { voters: ["v1", "v2", "v3"], learners: ["l1"] };
    const nodes = new Map<string, Raft>();
    for (const id of [...cfg.voters, ...cfg.learners]) {
      nodes.set(id, new Raft({ id, electionTicks: 10, heartbeatTicks: 2, rng: new Rng(1) }, initialPersisted(cfg)));
    }
    const toLearner: number[] = [];
    let tick = 0;
    const deliver = (from: string, r: Ready) => {
      const q = r.messages.map((m) => ({ from, ...m }));
      while (q.length) {
        const m = q.shift()!;
        if (m.to === "l1" && m.msg.type === "app") toLearner.push(tick);
        q.push(...nodes.get(m.to)!.step(m.from, m.msg).messages.map((x) => ({ from: m.to, ...x })));
      }
    };
    deliver("v1", nodes.get("v1")!.campaign());
    const leader = nodes.get("v1")!;
    expect(leader.role).toBe("leader");
    const beat = () => (tick++, deliver("v1", leader.tick(1)));
    for (let i = 0; i < 200; i++) beat(); // settle: 100 heartbeats
    toLearner.length = 0;
    const r = leader.propose("x")!;
    deliver("v1", r.ready);
    const committedAt = tick;
    expect(leader.commit).toBe(r.index);
    for (let i = 0; i < 120; i++) beat(); // 60 heartbeats
    // The entry itself, then the commit index at the first heartbeat after it — then idle beats only.
    const after = toLearner.filter((t) => t > committedAt);
    expect(after[0]).toBeLessThanOrEqual(committedAt + 2);
    expect(nodes.get("l1")!.commit).toBe(r.index);
    expect(after.length).toBeLessThanOrEqual(1 + 2);
    expect(after.length).toBeGreaterThanOrEqual(2); // at least one idle beat in 60 heartbeats
  });
});
