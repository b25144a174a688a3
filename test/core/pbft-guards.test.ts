// Directed tests for known failure modes of PBFT implementations. Each runs a scripted scenario twice:
// with the guard (it works) and with the guard switched off through a constructor option (the failure
// the guard prevents shows up, and the harness's checker or the liveness check catches it).
import { describe, expect, test } from "vitest";
import { checkpointDigest, type PbftGuards } from "../../src/core/pbft/pbft";
import type { CheckpointState, PbftMsg, ViewChange } from "../../src/core/pbft/types";
import { batchDigest } from "../../src/core/pbft/viewchange";
import { PbftHarness, SafetyViolation } from "./pbft-harness";

const ids4 = ["r0", "r1", "r2", "r3"];
const backups = new Set(["r1", "r2", "r3"]);

/** Completed client requests during `steps` more steps. */
function completedDuring(h: PbftHarness, steps: number): number {
  const before = h.counts.completed;
  h.run(steps);
  return h.counts.completed - before;
}

describe("1. the view-change timer starts at 2f+1 VIEW-CHANGEs (§4.5.2; sawtooth-pbft PR #133)", () => {
  // Messages take 5 ticks, the view-change timer is 8 and does not back off: a NEW-VIEW needs two
  // message delays after a replica sends its VIEW-CHANGE, but only one after the quorum is in.
  const run = (viewChangeTimerAfterQuorum: boolean) => {
    const h = new PbftHarness({
      seed: 11, n: 4, clients: 1, minDelay: 5, maxDelay: 5, clientRetryTicks: 60,
      core: { viewChangeTimeoutTicks: 8, maxBackoffExponent: 0, requestTimeoutTicks: 30, statusTicks: 20 },
      guards: { viewChangeTimerAfterQuorum },
    });
    h.crash("r0"); // the primary of view 0
    const completed = completedDuring(h, 1500);
    return { completed, maxView: h.maxViewSeen };
  };

  test("with the guard the first view change completes (view 1) and requests commit", () => {
    const r = run(true);
    expect(r.maxView).toBe(1);
    expect(r.completed).toBeGreaterThan(10);
  });

  test("without it replicas keep timing out through views and never agree", () => {
    const r = run(false);
    expect(r.completed).toBe(0);
    expect(r.maxView).toBeGreaterThan(20);
  });
});

describe("1b. VIEW-CHANGEs are resent until the NEW-VIEW (Fabric issue #1917, fixed by resending in #1927)", () => {
  // Fabric #1917's scenario: the backups cannot reach each other, only the primary. The request fails
  // to prepare, everyone sends VIEW-CHANGE; only the old primary collects a quorum (and moves on to
  // view 2 when its timer fires); the backups never collect 2f+1, so their timers never start. When
  // the backups' links come back, nothing moves unless VIEW-CHANGEs are sent again.
  const run = (retransmitViewChange: boolean) => {
    const h = new PbftHarness({ seed: 12, n: 4, clients: 1, guards: { retransmitViewChange } });
    let linked = false;
    h.filter = ({ from, to }) => linked || !(backups.has(from) && backups.has(to));
    h.run(400);
    const stuck = { r0: h.core("r0")!.view, r1: h.core("r1")!.view, r1active: h.core("r1")!.active };
    linked = true;
    const completed = completedDuring(h, 1500);
    return { stuck, completed };
  };

  test("with resending, the backups form view 1 once linked", () => {
    const r = run(true);
    expect(r.stuck.r0).toBeGreaterThanOrEqual(2);
    expect(r.stuck.r1active).toBe(false);
    expect(r.completed).toBeGreaterThan(10);
  });

  test("without it the network never processes another request", () => {
    const r = run(false);
    expect(r.stuck.r0).toBeGreaterThanOrEqual(2);
    expect(r.completed).toBe(0);
  });
});

describe("2. a replica that missed view changes rejoins the current view (sawtooth-pbft / Fabric #1120 class)", () => {
  // n = 7 (f = 2). r6 is cut off while the others go through two view changes (silent primaries r0,
  // then r1). Then r6 comes back and two other replicas crash: the remaining five — r6 among them —
  // are exactly a quorum, so nothing commits unless r6 gets into the current view.
  const run = (guards: Partial<PbftGuards>) => {
    const h = new PbftHarness({ seed: 21, n: 7, clients: 2, guards });
    const silenced = new Set<string>();
    h.filter = ({ from, msg }) => !(silenced.has(from) && msg.type === "pre-prepare");
    h.isolate("r6");
    h.run(40);
    silenced.add("r0");
    h.runUntil((x) => ["r1", "r2", "r3", "r4", "r5"].every((id) => x.core(id)!.view === 1 && x.core(id)!.active), 2000);
    silenced.add("r1");
    h.runUntil((x) => ["r2", "r3", "r4", "r5"].every((id) => x.core(id)!.view === 2 && x.core(id)!.active), 2000);
    silenced.clear();
    const before = { view: h.core("r6")!.view, active: h.core("r6")!.active };
    h.heal();
    h.crash("r3");
    h.crash("r4");
    const completed = completedDuring(h, 2000);
    const r6 = h.core("r6")!;
    return { before, completed, r6: { view: r6.view, active: r6.active }, r2: h.core("r2")!.view };
  };

  test("with the guards r6 takes the NEW-VIEW of view 2 it missed and the group commits", () => {
    const r = run({});
    expect(r.before.view).toBeLessThan(2);
    expect(r.completed).toBeGreaterThan(10);
    expect(r.r6).toEqual({ view: r.r2, active: true });
  });

  test("with only the f+1 rule (no NEW-VIEW catch-up) r6 joins at the next view change", () => {
    const r = run({ adoptLaterNewView: false });
    expect(r.completed).toBeGreaterThan(10);
    expect(r.r6.active).toBe(true);
    expect(r.r6.view).toBeGreaterThan(2);
  });

  test("without either r6 stays behind and nothing commits", () => {
    const r = run({ adoptLaterNewView: false, joinOnWeakQuorum: false });
    expect(r.completed).toBe(0);
    expect(r.r6.view).toBeLessThan(r.r2);
  });
});

describe("3. min-s comes from a proven stable checkpoint (§4.4; Fabric #1111 class)", () => {
  // r0 is byzantine: a silent primary that, in the view change, claims a stable checkpoint at seq 4
  // with a made-up digest (its own CHECKPOINT as the only "proof") and serves a made-up state for it.
  const fake: CheckpointState = { app: { count: 99, chain: "forged" }, clients: {} };
  const fakeDigest = checkpointDigest(4, fake);
  const run = (checkpointProofs: boolean) => {
    const h = new PbftHarness({
      seed: 31, n: 4, clients: 1, byzantine: { r0: ["scripted"] }, core: { checkpointInterval: 4, logWindow: 8 }, guards: { checkpointProofs },
    });
    h.script = (_inst, out) =>
      out.flatMap((o) => {
        if (o.msg.type === "pre-prepare") return [];
        if (o.msg.type === "view-change") {
          const vc: ViewChange = { ...o.msg, stable: { seq: 4, digest: fakeDigest }, proof: [{ type: "checkpoint", seq: 4, digest: fakeDigest, replica: "r0" }], prepared: [] };
          return [{ to: o.to, msg: vc }];
        }
        return [o];
      });
    let r3ToR1 = 0;
    h.filter = ({ from, to, msg }) => {
      if (to === "r0" && msg.type === "fetch-state") {
        h.inject("r0", msg.replica, { type: "state", seq: 4, digest: fakeDigest, state: fake, replica: "r0" });
      }
      // r3's first VIEW-CHANGE to the new primary is late, so r1's quorum needs the liar's.
      if (from === "r3" && to === "r1" && msg.type === "view-change" && r3ToR1++ === 0) return false;
      return true;
    };
    return h;
  };

  test("with proofs checked the lie is ignored and requests commit", () => {
    const h = run(true);
    h.run(800);
    expect(h.counts.completed).toBeGreaterThan(10);
    expect(h.core("r1")!.stats.rejected).toBeGreaterThan(0);
  });

  test("without, correct replicas adopt a state no correct replica reached — the checker catches it", () => {
    const h = run(false);
    expect(() => h.run(800)).toThrow(/restored state at 4, which no correct replica reached/);
  });
});

describe("3b. prepared certificates in VIEW-CHANGE are checked (a fake certificate cannot reorder a committed seq)", () => {
  // Seq 1 commits at r1 and r2 (r3 misses the commits). r0, the byzantine primary, then goes silent;
  // the view change to 1 stalls (r1 never sends NEW-VIEW), and for view 2 r0 sends a VIEW-CHANGE with
  // a certificate for a null request at seq 1 in view 1 — "proven" by its own prepare alone. It would
  // outrank the real view-0 certificates in O.
  const run = (preparedCertProofs: boolean) => {
    const h = new PbftHarness({ seed: 41, n: 4, clients: 1, thinkTicks: 30, byzantine: { r0: ["scripted"] }, guards: { preparedCertProofs } });
    let injected = false;
    h.script = (_inst, out) => out.filter((o) => !(o.msg.type === "pre-prepare" && o.msg.seq > 1) && o.msg.type !== "view-change");
    h.filter = ({ from, to, msg }) => {
      // r3 never learns the view-0 decision at seq 1 (neither commits nor commit certificates).
      if (to === "r3" && (msg.type === "commit" || msg.type === "commit-cert") && msg.view < 2) return false;
      if (from === "r1" && msg.type === "new-view" && msg.view === 1) return false;
      if (!injected && to === "r0" && msg.type === "view-change" && msg.view === 1) {
        injected = true;
        const nul = batchDigest([]);
        const lie: PbftMsg = {
          type: "view-change", view: 2, stable: { seq: 0, digest: h.core("r1")!.stableCheckpoint().digest }, proof: [], replica: "r0",
          prepared: [{ view: 1, seq: 1, digest: nul, batch: [], prepares: [{ type: "prepare", view: 1, seq: 1, digest: nul, replica: "r0" }] }],
        };
        for (const r of ids4.slice(1)) h.inject("r0", r, lie);
      }
      return true;
    };
    h.runUntil((x) => x.core("r1")!.lastExec >= 1 && x.core("r2")!.lastExec >= 1, 200);
    return h;
  };

  test("with certificates checked, O keeps the committed batch at seq 1", () => {
    const h = run(true);
    expect(h.core("r3")!.lastExec).toBe(0);
    h.run(1500);
    expect(h.core("r3")!.view).toBe(2);
    expect(h.counts.completed).toBeGreaterThan(5);
    expect(h.core("r3")!.lastExec).toBeGreaterThan(1);
  });

  test("without, r3 executes the null request at seq 1 — the safety checker catches it", () => {
    const h = run(false);
    let caught: unknown = null;
    try {
      h.run(1500);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SafetyViolation);
    expect(String(caught)).toMatch(/safety: r3 executed batch .* at seq 1/);
  });
});

describe("4. a replica isolated for long does not drag the group into endless view changes (BFT-SMaRt #19)", () => {
  test("a healthy group: the returning replica changes nothing, and catches up", () => {
    const h = new PbftHarness({ seed: 51, n: 4, clients: 2 });
    h.run(60);
    h.isolate("r3");
    h.run(1500); // r3's request timer fires; alone it can never complete a view change
    expect(h.core("r3")!.view).toBe(1);
    h.heal();
    h.run(300);
    h.issuing = false;
    h.runUntil((x) => x.outstanding() === 0, 500);
    h.run(200); // the idle STATUS beacon lets r3 learn it is behind
    for (const id of ["r0", "r1", "r2"]) expect(h.core(id)!.view).toBe(0);
    expect(h.totalViewChanges()).toBe(0);
    expect(h.core("r3")!.lastExec).toBe(h.core("r0")!.lastExec);
  });

  // r3 is silent (byzantine), so the group needs r2, which is cut off for a long time; meanwhile r1
  // crashes and restarts (so r1's and r2's timers are out of phase). Nobody can commit. With the guard
  // everyone waits in view 1 for a quorum; without it each replica marches through views on its own
  // timer, the isolated r2 gets ahead, and after healing the others chase it forever (a livelock).
  const run = (viewChangeTimerAfterQuorum: boolean) => {
    const h = new PbftHarness({
      seed: 52, n: 4, clients: 2, byzantine: { r3: ["silent"] }, core: { maxBackoffExponent: 0 }, guards: { viewChangeTimerAfterQuorum },
    });
    h.run(60);
    h.isolate("r2");
    h.run(240);
    h.crash("r1");
    h.run(400);
    h.restart("r1");
    h.run(860);
    h.heal();
    const views = () => ["r0", "r1", "r2"].map((id) => h.core(id)!.view);
    const atHeal = views();
    const completed = completedDuring(h, 3000);
    return { atHeal, completed, after: views() };
  };

  test("with the guard, views stay put while isolated and the group recovers after healing", () => {
    const r = run(true);
    expect(Math.max(...r.atHeal)).toBe(1);
    expect(r.completed).toBeGreaterThan(10);
  });

  test("without it, a livelock: views keep climbing and nothing commits", () => {
    const r = run(false);
    expect(r.completed).toBe(0);
    expect(Math.min(...r.after)).toBeGreaterThan(Math.max(...r.atHeal));
  });
});

describe("5. a silent leader (alive, answering, never proposing) is replaced", () => {
  const run = (requestTimer: boolean) => {
    const h = new PbftHarness({ seed: 61, n: 4, clients: 2, byzantine: { r0: ["silent-leader"] }, guards: { requestTimer } });
    const completed = completedDuring(h, 800);
    return { completed, views: h.totalViewChanges(), statusFromR0: h.messagesOfType("status") };
  };

  test("backups' request timers start a view change and requests commit", () => {
    const r = run(true);
    expect(r.views).toBeGreaterThan(0);
    expect(r.completed).toBeGreaterThan(10);
  });

  test("without the request timer nothing ever commits (the liveness check fails)", () => {
    const r = run(false);
    expect(r.views).toBe(0);
    expect(r.completed).toBe(0);
  });
});

describe("5b. a censoring leader (executes others' requests, never one client's) is replaced", () => {
  test("the request timer runs per request, so progress on other requests does not hide the censored one", () => {
    const h = new PbftHarness({ seed: 62, n: 4, clients: 3, thinkTicks: 0, byzantine: { r0: ["scripted"] } });
    h.script = (_inst, out) =>
      out.flatMap((o) => {
        if (o.msg.type !== "pre-prepare") return [o];
        const batch = o.msg.batch.filter((r) => r.client !== "c1");
        return batch.length ? [{ to: o.to, msg: { ...o.msg, batch, digest: batchDigest(batch) } }] : [];
      });
    h.run(600);
    const c1 = h.clients.find((c) => c.id === "c1")!;
    expect(h.totalViewChanges()).toBeGreaterThan(0);
    expect(c1.completed).toBeGreaterThan(5);
  });
});

describe("at-most-once execution (§4.1)", () => {
  // Replies to the client are lost for a while, so it retransmits a request that already executed.
  const run = (dedupRequests: boolean) => {
    const h = new PbftHarness({ seed: 71, n: 4, clients: 1, clientRetryTicks: 20, guards: { dedupRequests } });
    h.filter = ({ msg, time }) => !(msg.type === "reply" && time < 100);
    return h;
  };

  test("a retransmitted request is answered from the reply cache, not executed again", () => {
    const h = run(true);
    h.run(300);
    expect(h.counts.completed).toBeGreaterThan(5);
  });

  test("without de-duplication the checker catches the second execution", () => {
    const h = run(false);
    expect(() => h.run(300)).toThrow(/at-most-once: r\d executed c0#1 twice/);
  });
});
