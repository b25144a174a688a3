import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { signedParts, signingPayload, signOutgoing, unsignedOwnItems, verifyPbftMessage } from "../../src/core/pbft/auth";
import { digestOf, sha256, utf8 } from "../../src/core/pbft/digest";
import { PbftClient } from "../../src/core/pbft/client";
import { applyPersist, Pbft, type PbftApp } from "../../src/core/pbft/pbft";
import type { NewView, PbftMsg, PbftPersisted, Request, ViewChange } from "../../src/core/pbft/types";
import { validPbftMsg, validReply } from "../../src/core/pbft/validate";
import { batchDigest, checkNewView, planNewView, type QuorumConfig } from "../../src/core/pbft/viewchange";
import { canonical } from "../../src/core/crypto/canonical";
import { ModelKeys } from "../sim/keys";
import { pbftMessagesPerDecision, pbftNormalLatency } from "./pbft-bench";
import { PbftHarness } from "./pbft-harness";

const ids = ["r0", "r1", "r2", "r3"];

class CountApp implements PbftApp {
  n = 0;
  execute(): unknown {
    return ++this.n;
  }
  snapshot(): unknown {
    return { n: this.n };
  }
  restore(s: unknown): void {
    this.n = (s as { n: number }).n;
  }
}

describe("pbft: digest", () => {
  test("SHA-256 test vectors (FIPS 180-4)", () => {
    expect(sha256(utf8(""))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256(utf8("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256(utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  });

  test("a digest covers every field, signatures included, independent of key order", () => {
    expect(digestOf({ a: 1, b: [2, 3] })).toBe(digestOf({ b: [2, 3], a: 1 }));
    expect(digestOf({ x: 1, sig: "a" })).not.toBe(digestOf({ x: 1, sig: "b" }));
  });
});

describe("pbft: normal case (§4.2)", () => {
  test("phase messages per decision are the paper's 2n(n−1): 24, 84, 312 at n = 4, 7, 13", () => {
    for (const [n, want] of [[4, 24], [7, 84], [13, 312]]) {
      const m = pbftMessagesPerDecision({ n, decisions: 40 });
      expect(m.paper).toBe(want);
      expect(Math.abs(m.phasePerDecision - want) / want).toBeLessThanOrEqual(0.1);
    }
  });

  test("latency: 3 message delays from the primary to execution, 5 for the client's round trip", () => {
    const l = pbftNormalLatency({ n: 4, requests: 30 });
    expect(l.primaryToExecuteP50).toBe(3);
    expect(l.clientP50).toBe(5);
  });

  test("batching: under load a pre-prepare carries several requests, never more than maxBatch", () => {
    const h = new PbftHarness({ seed: 3, n: 4, clients: 12, thinkTicks: 0, core: { maxBatch: 4, maxInFlight: 1 } });
    let biggest = 0;
    h.filter = ({ msg }) => {
      if (msg.type === "pre-prepare") biggest = Math.max(biggest, msg.batch.length);
      return true;
    };
    h.run(300);
    expect(biggest).toBe(4);
    expect(h.counts.completed).toBeGreaterThan(h.agreed.size); // more requests than decisions
  });

  test("every replica executes the same batches in the same order (the harness checks each step)", () => {
    const h = new PbftHarness({ seed: 4, n: 7, clients: 4 });
    h.run(400);
    h.issuing = false;
    h.runUntil((x) => x.outstanding() === 0, 200);
    h.run(10);
    const last = new Set(h.ids.map((id) => h.core(id)!.lastExec));
    expect(last.size).toBe(1);
    expect(h.counts.completed).toBeGreaterThan(50);
  });
});

describe("pbft: checkpoints, watermarks, state transfer (§4.3)", () => {
  test("checkpoints become stable every k; the log stays within the window h..h+L", () => {
    const h = new PbftHarness({ seed: 5, n: 4, clients: 3, core: { checkpointInterval: 4, logWindow: 8 } });
    let maxSlots = 0;
    h.run(500, (x) => {
      for (const id of x.ids) maxSlots = Math.max(maxSlots, x.core(id)!.slotCount());
    });
    const c = h.core("r1")!;
    expect(c.stableSeq()).toBeGreaterThan(40);
    expect(c.stableSeq() % 4).toBe(0);
    expect(maxSlots).toBeLessThanOrEqual(8);
  });

  test("a replica that misses more than the window fetches the checkpoint state, verified against its digest", () => {
    const h = new PbftHarness({ seed: 6, n: 4, clients: 3, core: { checkpointInterval: 4, logWindow: 8 } });
    h.run(30);
    h.crash("r3");
    h.run(300);
    const ahead = h.core("r0")!.lastExec;
    expect(ahead).toBeGreaterThan(20);
    h.restart("r3");
    h.run(200);
    expect(h.core("r3")!.stats.stateTransfers).toBeGreaterThan(0);
    expect(h.core("r3")!.lastExec).toBeGreaterThanOrEqual(ahead);
    expect(h.counts.stateTransfers).toBeGreaterThan(0); // checked: the state was the agreed one
  });
});

describe("pbft: crash-restart (memory lost, storage kept)", () => {
  test("the persisted deltas rebuild exactly the replica's durable state", () => {
    const h = new PbftHarness({ seed: 7, n: 4, clients: 3, dropRate: 0.05, maxDelay: 3, core: { checkpointInterval: 4, logWindow: 8 } });
    const norm = (p: PbftPersisted) => JSON.stringify({ ...p, slots: p.slots.slice().sort((a, b) => a.seq - b.seq), checkpoints: p.checkpoints.slice().sort((a, b) => a.seq - b.seq) });
    for (let round = 0; round < 6; round++) {
      h.run(60);
      if (round === 2) h.crash("r0"); // a view change, so meta and slots churn
      if (round === 4) h.restart("r0");
      for (const id of ["r1", "r2", "r3"]) {
        const node = (h as unknown as { nodes: Map<string, { instances: Array<{ store: { persisted: PbftPersisted } }> }> }).nodes.get(id)!;
        expect(norm(node.instances[0].store.persisted)).toBe(norm(h.core(id)!.persisted()));
      }
    }
    expect(h.totalViewChanges()).toBeGreaterThan(0);
  });

  test("a primary that crashes right after pre-preparing never pre-prepares another batch at that seq", () => {
    const h = new PbftHarness({ seed: 8, n: 4, clients: 4, thinkTicks: 0 });
    const seen = new Map<string, string>();
    let conflicts = 0;
    h.filter = ({ from, msg }) => {
      if (msg.type === "pre-prepare" && from === "r0") {
        const k = `${msg.view}/${msg.seq}`;
        if (seen.has(k) && seen.get(k) !== msg.digest) conflicts++;
        seen.set(k, msg.digest);
      }
      return true;
    };
    for (let i = 0; i < 20; i++) {
      h.run(7);
      h.crash("r0");
      h.run(1);
      h.restart("r0");
    }
    h.run(300);
    expect(seen.size).toBeGreaterThan(10);
    expect(conflicts).toBe(0);
  });

  test("a replica restarted during a view change resends the same VIEW-CHANGE", () => {
    const h = new PbftHarness({ seed: 9, n: 4, clients: 1 });
    h.run(20);
    h.crash("r0");
    h.runUntil((x) => !x.core("r2")!.active, 200);
    const before = (h.core("r2")!.persisted().meta.viewChange as ViewChange).prepared;
    h.crash("r2");
    h.restart("r2");
    expect(h.core("r2")!.active).toBe(false);
    expect(h.core("r2")!.persisted().meta.viewChange!.prepared).toEqual(before);
    h.run(300);
    expect(h.core("r2")!.view).toBe(1);
    expect(h.core("r2")!.active).toBe(true);
  });
});

describe("pbft: signatures (the shell's filter)", () => {
  const keys = new ModelKeys(1);
  const verify = (m: PbftMsg) => verifyPbftMessage(m, (p) => keys.verify(p));
  const req = (client: string, reqId: number): Request => {
    const r: Request = { client, reqId, op: { x: reqId } };
    return { ...r, sig: keys.sign(client, signingPayload(r)) };
  };
  const prep = (replica: string, seq: number, digest: string) => signOutgoing({ type: "prepare" as const, view: 0, seq, digest, replica }, replica, (p) => keys.sign(replica, p));

  test("signedParts lists the message and every nested signed item", () => {
    const batch = [req("c0", 1), req("c1", 1)];
    const d = batchDigest(batch);
    const vc: ViewChange = {
      type: "view-change", view: 1, stable: { seq: 0, digest: "0".repeat(64) }, proof: [], replica: "r1",
      prepared: [{ view: 0, seq: 1, digest: d, batch, prepares: [prep("r2", 1, d), prep("r3", 1, d)] }],
    };
    const parts = signedParts(vc);
    expect(parts.map((p) => p.signer)).toEqual(["r1", "r2", "r3", "c0", "c1"]);
    const nv: NewView = { type: "new-view", view: 1, viewChanges: [vc], prePrepares: [{ seq: 1, digest: d, batch }], replica: "r1" };
    expect(signedParts(nv).map((p) => p.signer)).toEqual(["r1", "r1", "r2", "r3", "c0", "c1", "c0", "c1"]);
  });

  test("the payloads are exactly the canonical encodings (canonical.ts) of each item", () => {
    const batch = [req("c0", 1)];
    const d = batchDigest(batch);
    const vc: ViewChange = {
      type: "view-change", view: 1, stable: { seq: 0, digest: "0".repeat(64) }, proof: [], replica: "r1",
      prepared: [{ view: 0, seq: 1, digest: d, batch, prepares: [prep("r2", 1, d), prep("r3", 1, d)] }],
    };
    const nv: NewView = { type: "new-view", view: 1, viewChanges: [vc, vc], prePrepares: [{ seq: 1, digest: d, batch }], replica: "r1" };
    const parts = signedParts(nv);
    expect(parts.map((p) => p.payload)).toEqual([nv, vc, vc.prepared[0].prepares[0], vc.prepared[0].prepares[1], batch[0], vc, ...vc.prepared[0].prepares, batch[0], batch[0]].map((x) => canonical(x)));
  });

  test("signOutgoing signs every own item, nested ones too; then everything verifies", () => {
    const batch = [req("c0", 1)];
    const d = batchDigest(batch);
    const own = { type: "prepare" as const, view: 0, seq: 1, digest: d, replica: "r1" }; // as the core holds it: unsigned
    const vc: ViewChange = {
      type: "view-change", view: 1, stable: { seq: 0, digest: "0".repeat(64) }, proof: [], replica: "r1",
      prepared: [{ view: 0, seq: 1, digest: d, batch, prepares: [own, prep("r2", 1, d)] }],
    };
    expect(unsignedOwnItems(vc, "r1").items).toHaveLength(2);
    const signed = signOutgoing(vc, "r1", (p) => keys.sign("r1", p));
    expect(verify(signed)).toBe(true);
    expect(vc.sig).toBeUndefined(); // the core's copy is untouched
    expect((own as { sig?: string }).sig).toBeUndefined();
  });

  test("strict: a nested item without its own signature, or forged, fails the whole message", () => {
    const batch = [req("c0", 1)];
    const d = batchDigest(batch);
    const base = (prepares: ViewChange["prepared"][number]["prepares"]): ViewChange =>
      signOutgoing({ type: "view-change", view: 1, stable: { seq: 0, digest: "0".repeat(64) }, proof: [], replica: "r1", prepared: [{ view: 0, seq: 1, digest: d, batch, prepares }] }, "r1", (p) => keys.sign("r1", p));
    expect(verify(base([prep("r2", 1, d), prep("r3", 1, d)]))).toBe(true);
    // r3's prepare without a signature (a replica cannot vouch for another's vote).
    expect(verify(base([prep("r2", 1, d), { type: "prepare", view: 0, seq: 1, digest: d, replica: "r3" }]))).toBe(false);
    // r1 signing a prepare in r3's name.
    const forged = { type: "prepare" as const, view: 0, seq: 1, digest: d, replica: "r3", sig: keys.sign("r1", signingPayload({ type: "prepare", view: 0, seq: 1, digest: d, replica: "r3" })) };
    expect(verify(base([prep("r2", 1, d), forged]))).toBe(false);
    // A replayed signature on a changed payload (another seq).
    const moved = { ...prep("r3", 1, d), seq: 2 };
    expect(verify(base([prep("r2", 1, d), moved]))).toBe(false);
    // A request whose client signature does not match.
    const badReq = { ...req("c0", 1), op: { x: 666 } };
    expect(verify({ type: "request", request: badReq })).toBe(false);
  });
});

describe("pbft: wire validation", () => {
  test("malformed messages are rejected; well-formed ones pass", () => {
    const d = "a".repeat(64);
    expect(validPbftMsg({ type: "prepare", view: 0, seq: 1, digest: d, replica: "r1" })).toBe(true);
    for (const bad of [
      null, 3, "x", [], {}, { type: "nope" },
      { type: "prepare", view: -1, seq: 1, digest: d, replica: "r1" },
      { type: "prepare", view: 0, seq: 0, digest: d, replica: "r1" },
      { type: "prepare", view: 0, seq: 1, digest: "xyz", replica: "r1" },
      { type: "prepare", view: 0, seq: 1, digest: d, replica: "R 1" },
      { type: "prepare", view: 0.5, seq: 1, digest: d, replica: "r1" },
      { type: "prepare", view: 0, seq: 1, digest: d, replica: "r1", sig: 5 },
      { type: "pre-prepare", view: 0, seq: 1, digest: d, replica: "r0", batch: [{ client: "c", reqId: 0, op: 1 }] },
      { type: "pre-prepare", view: 0, seq: 1, digest: d, replica: "r0", batch: [{ client: "c", reqId: 1 }] },
      { type: "view-change", view: 0, stable: { seq: 0, digest: d }, proof: [], prepared: [], replica: "r1" },
      { type: "view-change", view: 1, stable: { seq: 0 }, proof: [], prepared: [], replica: "r1" },
      { type: "new-view", view: 1, viewChanges: "no", prePrepares: [], replica: "r1" },
      { type: "status", view: 0, active: "yes", lastExec: 0, stable: 0, round: 0, replica: "r1" },
      { type: "state", seq: 1, digest: d, state: { clients: {} }, replica: "r1" },
      { type: "request", request: { client: "c0", reqId: 1, op: 1, sig: "" } },
    ]) {
      expect(validPbftMsg(bad), JSON.stringify(bad)).toBe(false);
    }
    expect(validReply({ type: "reply", view: 0, client: "c0", reqId: 1, result: null, replica: "r1" })).toBe(true);
    expect(validReply({ type: "reply", view: 0, client: "c0", reqId: 1, replica: "r1" })).toBe(false);
  });

  test("well-formed nonsense from any replica never throws inside the core", () => {
    const digests = [batchDigest([]), digestOf("x"), digestOf("y")];
    const id = fc.constantFrom("r0", "r1", "r2", "r3", "zz");
    const n = fc.integer({ min: 0, max: 40 });
    const p = fc.integer({ min: 1, max: 40 });
    const dg = fc.constantFrom(...digests);
    const request = fc.record({ client: fc.constantFrom("c0", "c1"), reqId: p, op: fc.integer() });
    const prepare = fc.record({ type: fc.constant("prepare" as const), view: n, seq: p, digest: dg, replica: id });
    const commit = fc.record({ type: fc.constant("commit" as const), view: n, seq: p, digest: dg, replica: id });
    const ckpt = fc.record({ type: fc.constant("checkpoint" as const), seq: n.map((x) => x * 4), digest: dg, replica: id });
    const cert = fc.record({ view: n, seq: p, digest: dg, batch: fc.array(request, { maxLength: 2 }), prepares: fc.array(prepare, { maxLength: 4 }) });
    const vc = fc.record({
      type: fc.constant("view-change" as const), view: p, stable: fc.record({ seq: n, digest: dg }), proof: fc.array(ckpt, { maxLength: 4 }),
      prepared: fc.array(cert, { maxLength: 3 }), replica: id,
    });
    const msg: fc.Arbitrary<PbftMsg> = fc.oneof(
      fc.record({ type: fc.constant("request" as const), request }),
      fc.record({ type: fc.constant("pre-prepare" as const), view: n, seq: p, digest: dg, batch: fc.array(request, { maxLength: 3 }), replica: id }),
      prepare,
      commit,
      ckpt,
      vc,
      fc.record({ type: fc.constant("new-view" as const), view: p, viewChanges: fc.array(vc, { maxLength: 4 }), prePrepares: fc.array(fc.record({ seq: p, digest: dg, batch: fc.constant([] as Request[]) }), { maxLength: 3 }), replica: id }),
      fc.record({ type: fc.constant("commit-cert" as const), view: n, seq: p, digest: dg, batch: fc.array(request, { maxLength: 2 }), commits: fc.array(commit, { maxLength: 4 }), replica: id }),
      fc.record({ type: fc.constant("status" as const), view: n, active: fc.boolean(), lastExec: n, stable: n, round: n, replica: id }),
      fc.record({ type: fc.constant("fetch-state" as const), seq: p, digest: dg, replica: id }),
      fc.record({ type: fc.constant("state" as const), seq: p, digest: dg, state: fc.record({ app: fc.constant({ n: 1 }), clients: fc.constant({}) }), replica: id }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(msg, fc.boolean()), { maxLength: 60 }), (steps) => {
        const core = new Pbft({ id: "r1", replicas: ids, app: new CountApp(), checkpointInterval: 4, logWindow: 8 });
        core.ready();
        for (const [m, tick] of steps) {
          if (!validPbftMsg(m)) continue;
          core.step("r2", m);
          if (tick) for (let i = 0; i < 15; i++) core.tick();
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe("pbft: NEW-VIEW checks (§4.4)", () => {
  const genesis = new Pbft({ id: "r0", replicas: ids, app: new CountApp() }).persisted().meta.genesisDigest;
  const cfg: QuorumConfig = {
    replicas: ids, f: 1, quorum: 3, checkpointInterval: 4, logWindow: 8, maxBatch: 8, genesisDigest: genesis, checkpointProofs: true, preparedCertProofs: true,
  };
  const batch: Request[] = [{ client: "c0", reqId: 1, op: 1 }];
  const d = batchDigest(batch);
  const cert = { view: 0, seq: 2, digest: d, batch, prepares: [{ type: "prepare" as const, view: 0, seq: 2, digest: d, replica: "r1" }, { type: "prepare" as const, view: 0, seq: 2, digest: d, replica: "r2" }] };
  const vc = (replica: string, prepared = [cert]): ViewChange => ({ type: "view-change", view: 1, stable: { seq: 0, digest: genesis }, proof: [], prepared, replica });

  test("O is the highest-view certificate per seq, null requests in the gaps", () => {
    const plan = planNewView(cfg, [vc("r1"), vc("r2", []), vc("r3", [])]);
    expect(plan.minS).toBe(0);
    expect(plan.maxS).toBe(2);
    expect(plan.entries.map((e) => e.digest)).toEqual([batchDigest([]), d]);
  });

  test("a valid NEW-VIEW passes; a forged O, a wrong author or too few VIEW-CHANGEs do not", () => {
    const V = [vc("r1"), vc("r2", []), vc("r3", [])];
    const O = planNewView(cfg, V).entries;
    const nv: NewView = { type: "new-view", view: 1, viewChanges: V, prePrepares: O, replica: "r1" };
    expect(checkNewView(cfg, nv)).not.toBeNull();
    expect(checkNewView(cfg, { ...nv, prePrepares: [O[0], { seq: 2, digest: batchDigest([]), batch: [] }] })).toBeNull();
    expect(checkNewView(cfg, { ...nv, prePrepares: O.slice(0, 1) })).toBeNull();
    expect(checkNewView(cfg, { ...nv, replica: "r2" })).toBeNull();
    expect(checkNewView(cfg, { ...nv, viewChanges: V.slice(0, 2) })).toBeNull();
    expect(checkNewView(cfg, { ...nv, viewChanges: [V[0], V[0], V[1]] })).toBeNull();
    // A certificate without 2f backup prepares makes its VIEW-CHANGE (and the NEW-VIEW) invalid.
    const weak = vc("r1", [{ ...cert, prepares: cert.prepares.slice(0, 1) }]);
    expect(checkNewView(cfg, { ...nv, viewChanges: [weak, V[1], V[2]], prePrepares: planNewView(cfg, [weak, V[1], V[2]]).entries })).toBeNull();
  });

  test("a NEW-VIEW signed by a non-primary does not make the replica ignore the primary's", () => {
    const core = new Pbft({ id: "r3", replicas: ids, app: new CountApp() });
    core.ready();
    const V = [2, 1, 3].map((i) => ({ ...vc(ids[i], []), view: 2 }));
    core.step("r1", { type: "new-view", view: 2, viewChanges: V, prePrepares: [], replica: "r1" });
    expect(core.view).toBe(0);
    core.step("r2", { type: "new-view", view: 2, viewChanges: V.slice(0, 2), prePrepares: [], replica: "r2" }); // invalid: too few
    expect(core.view).toBe(0);
    core.step("r2", { type: "new-view", view: 2, viewChanges: V, prePrepares: [], replica: "r2" }); // a faulty primary's second try is not checked
    expect(core.view).toBe(0);
    const other = new Pbft({ id: "r3", replicas: ids, app: new CountApp() });
    other.step("r1", { type: "new-view", view: 2, viewChanges: V, prePrepares: [], replica: "r1" });
    other.step("r2", { type: "new-view", view: 2, viewChanges: V, prePrepares: [], replica: "r2" });
    expect(other.view).toBe(2);
  });

  test("a replica accepts a later view's NEW-VIEW it missed, validated, and enters that view", () => {
    const core = new Pbft({ id: "r3", replicas: ids, app: new CountApp() });
    core.ready();
    const V = [2, 1, 3].map((i) => ({ ...vc(ids[i], []), view: 2 }));
    const nv: NewView = { type: "new-view", view: 2, viewChanges: V, prePrepares: [], replica: "r2" };
    core.step("r1", nv);
    expect(core.view).toBe(2);
    expect(core.active).toBe(true);
  });
});

describe("pbft: client (§4.1)", () => {
  test("one outstanding request, multicast, retransmitted, done at f+1 matching replies", () => {
    const c = new PbftClient({ id: "c0", replicas: ids, retryTicks: 5 });
    const sign = (r: Request) => ({ ...r, sig: "s" });
    const o = c.submit({ vote: 1 }, sign)!;
    expect(o.messages.map((m) => m.to)).toEqual(ids);
    expect(c.submit({ vote: 2 }, sign)).toBeNull();
    for (let i = 0; i < 4; i++) expect(c.tick().messages).toHaveLength(0);
    expect(c.tick().messages).toHaveLength(4);
    const reply = (replica: string, result: unknown, reqId = 1) => ({ type: "reply" as const, view: 0, client: "c0", reqId, result, replica });
    expect(c.onReply(reply("r0", { ok: 1 })).done).toBeNull();
    expect(c.onReply(reply("r0", { ok: 1 })).done).toBeNull(); // the same replica twice counts once
    expect(c.onReply(reply("r1", { ok: 2 })).done).toBeNull(); // a different result does not match
    expect(c.onReply(reply("zz", { ok: 1 })).done).toBeNull(); // not a replica
    expect(c.onReply(reply("r2", { ok: 1 }, 7)).done).toBeNull(); // another request
    expect(c.onReply(reply("r3", { ok: 1 })).done).toEqual({ reqId: 1, result: { ok: 1 } });
    expect(c.outstanding()).toBeNull();
    expect(c.submit({ vote: 2 }, sign)!.messages[0].msg.request.reqId).toBe(2);
  });
});

describe("pbft: the harness itself", () => {
  test("the prefix checker catches replicas whose states diverge at the same seq", () => {
    const h = new PbftHarness({ seed: 12, n: 4, clients: 2 });
    h.run(40);
    h.skewApp("r2");
    expect(() => h.run(40)).toThrow(/prefix: r2's state after seq \d+ differs/);
  });

  test("the contiguity checker catches a replica executing a seq out of order", () => {
    const h = new PbftHarness({ seed: 13, n: 4, clients: 1 });
    h.run(20);
    const last = h.core("r1")!.lastExec;
    const ready = { persist: null, messages: [], executed: [], batches: [{ seq: last + 2, digest: "0".repeat(64), size: 0 }], restored: null, events: [] };
    expect(() => h.observe("r1", ready)).toThrow(new RegExp(`r1 executed seq ${last + 2} after ${last}`));
  });

  test("replies with f+1 matching results complete a request; byzantine replies alone cannot", () => {
    const h = new PbftHarness({ seed: 10, n: 4, clients: 1, byzantine: { r3: ["silent"] } });
    h.run(100);
    expect(h.counts.completed).toBeGreaterThan(10);
    h.filter = ({ from, msg }) => !(msg.type === "reply" && from !== "r3");
    const before = h.counts.completed;
    h.run(100);
    expect(h.counts.completed).toBe(before);
  });

  test("applyPersist: upserts, deletions and garbage collection", () => {
    const core = new Pbft({ id: "r0", replicas: ids, app: new CountApp() });
    const base = core.persisted();
    const slot = { seq: 3, ppView: 0, ppDigest: null, batches: [], sentPrepareView: -1, sentCommitView: -1, prepared: null, committed: null };
    let p = applyPersist(base, { ...core.ready().persist!, slots: [slot, { ...slot, seq: 5 }, { ...slot, seq: 9 }] });
    expect(p.slots.map((s) => s.seq)).toEqual([3, 5, 9]);
    p = applyPersist(p, { meta: null, clientsReplace: null, clients: [["c0", { reqId: 2, result: 1 }]], stable: null, checkpoints: [], dropCheckpointsBelow: null, slots: [], deleteSlots: [9], dropSlotsThrough: 3 });
    expect(p.slots.map((s) => s.seq)).toEqual([5]);
    expect(p.clients.c0.reqId).toBe(2);
  });
});
