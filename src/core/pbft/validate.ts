// Wire validation of PBFT messages: shape only (types, ranges, sizes). Whether a message makes sense
// for the configuration (its author is a replica, a certificate has a quorum, a digest matches) is the
// core's business; it ignores what does not, and never throws on a message that passed this validator.
import { isId } from "../ids";
import type { CheckpointMsg, Commit, NewViewEntry, PbftMsg, Prepare, PreparedCert, Reply, Request, ViewChange } from "./types";

const MAX_BATCH = 10_000;
const MAX_LIST = 10_000;

const nat = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const pos = (x: unknown): x is number => nat(x) && x >= 1;
const digest = (x: unknown): x is string => typeof x === "string" && /^[0-9a-f]{64}$/.test(x);
const sigOk = (x: unknown): boolean => x === undefined || (typeof x === "string" && x.length > 0 && x.length <= 1024);
const obj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object" && !Array.isArray(x);
const list = (x: unknown, max = MAX_LIST): x is unknown[] => Array.isArray(x) && x.length <= max;

export function validRequest(x: unknown): x is Request {
  if (!obj(x)) return false;
  return isId(x.client) && pos(x.reqId) && "op" in x && x.op !== undefined && sigOk(x.sig);
}

const validBatch = (x: unknown): x is Request[] => list(x, MAX_BATCH) && x.every(validRequest);

function signedBy(m: Record<string, unknown>): boolean {
  return isId(m.replica) && sigOk(m.sig);
}

function validPhase(x: unknown, type: "prepare" | "commit"): x is Prepare | Commit {
  return obj(x) && x.type === type && nat(x.view) && pos(x.seq) && digest(x.digest) && signedBy(x);
}

function validCheckpoint(x: unknown): x is CheckpointMsg {
  return obj(x) && x.type === "checkpoint" && nat(x.seq) && digest(x.digest) && signedBy(x);
}

function validCert(x: unknown): x is PreparedCert {
  return (
    obj(x) && nat(x.view) && pos(x.seq) && digest(x.digest) && validBatch(x.batch) &&
    list(x.prepares, 1000) && x.prepares.every((p) => validPhase(p, "prepare"))
  );
}

function validViewChange(x: unknown): x is ViewChange {
  if (!obj(x) || x.type !== "view-change" || !pos(x.view) || !signedBy(x)) return false;
  const s = x.stable;
  if (!obj(s) || !nat(s.seq) || !digest(s.digest)) return false;
  return list(x.proof, 1000) && x.proof.every(validCheckpoint) && list(x.prepared) && x.prepared.every(validCert);
}

function validEntry(x: unknown): x is NewViewEntry {
  return obj(x) && pos(x.seq) && digest(x.digest) && validBatch(x.batch);
}

export function validPbftMsg(x: unknown): x is PbftMsg {
  if (!obj(x)) return false;
  switch (x.type) {
    case "request":
      return validRequest(x.request);
    case "pre-prepare":
      return nat(x.view) && pos(x.seq) && digest(x.digest) && validBatch(x.batch) && signedBy(x);
    case "prepare":
    case "commit":
      return validPhase(x, x.type);
    case "checkpoint":
      return validCheckpoint(x);
    case "view-change":
      return validViewChange(x);
    case "new-view":
      return (
        pos(x.view) && signedBy(x) && list(x.viewChanges, 1000) && x.viewChanges.every(validViewChange) &&
        list(x.prePrepares) && x.prePrepares.every(validEntry)
      );
    case "commit-cert":
      return (
        nat(x.view) && pos(x.seq) && digest(x.digest) && validBatch(x.batch) && signedBy(x) &&
        list(x.commits, 1000) && x.commits.every((c) => validPhase(c, "commit"))
      );
    case "status":
      return nat(x.view) && typeof x.active === "boolean" && nat(x.lastExec) && nat(x.stable) && nat(x.round) && signedBy(x);
    case "fetch-state":
      return pos(x.seq) && digest(x.digest) && signedBy(x);
    case "state": {
      if (!pos(x.seq) || !digest(x.digest) || !signedBy(x)) return false;
      const st = x.state;
      if (!obj(st) || !("app" in st) || !obj(st.clients)) return false;
      return Object.entries(st.clients).every(([c, r]) => isId(c) && obj(r) && pos(r.reqId) && "result" in r);
    }
    default:
      return false;
  }
}

/** For clients: a replica's reply. */
export function validReply(x: unknown): x is Reply {
  return obj(x) && x.type === "reply" && nat(x.view) && isId(x.client) && pos(x.reqId) && "result" in x && signedBy(x);
}
