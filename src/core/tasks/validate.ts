// Wire validation of the task cores' messages (they arrive inside peer envelopes from other agents).
// A malformed message is rejected here and never reaches TaskReplica.step.
import { isId } from "../ids";
import type { Bid } from "./auction";
import type { Ballot, Lease, TaskMsg, TaskOp, TaskRecord, TaskReply, TaskSpec, TaskState, TaskView } from "./replica";

const MAX_LIST = 64;
const MAX_STR = 4096;
const nat = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const str = (x: unknown): x is string => typeof x === "string" && x.length <= MAX_STR;
const obj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object" && !Array.isArray(x);
const ids = (x: unknown, max = MAX_LIST): x is string[] => Array.isArray(x) && x.length <= max && x.every(isId);
const caps = (x: unknown): x is string[] => Array.isArray(x) && x.length <= MAX_LIST && x.every((c) => str(c) && c.length > 0 && c.length <= 128);
const STRATEGIES = new Set(["dht", "auction", "capability"]);
const STATUSES = new Set(["queued", "running", "done", "failed"]);
/** Request ids are opaque to the core but bounded. */
const rid = (x: unknown): x is string => typeof x === "string" && x.length > 0 && x.length <= 200;

function ballot(x: unknown): x is Ballot {
  return obj(x) && nat(x.n) && isId(x.by);
}

function spec(x: unknown): x is TaskSpec {
  return (
    obj(x) && isId(x.taskId) && obj(x.payload) && caps(x.requiredCapabilities) && STRATEGIES.has(x.strategy as string) &&
    nat(x.replication) && x.replication >= 1 && x.replication <= 7 && nat(x.maxAttempts) && x.maxAttempts >= 1
  );
}

function lease(x: unknown): x is Lease {
  return obj(x) && isId(x.agent) && rid(x.claimId) && nat(x.untilMs);
}

function state(x: unknown): x is TaskState {
  return (
    obj(x) && spec(x.spec) && STATUSES.has(x.status as string) && (x.assignee === null || isId(x.assignee)) && typeof x.awarded === "boolean" &&
    nat(x.attempts) && (x.lease === null || lease(x.lease)) && ids(x.claimants, 1000) && nat(x.createdMs) && nat(x.migrations) &&
    (x.doneBy === undefined || isId(x.doneBy)) && (x.error === undefined || str(x.error))
  );
}

export function validRecord(x: unknown): x is TaskRecord {
  return obj(x) && state(x.state) && ballot(x.ballot) && nat(x.version) && ids(x.config, 8) && x.config.length >= 1;
}

function view(x: unknown): x is TaskView {
  return obj(x) && isId(x.taskId) && STATUSES.has(x.status as string) && (x.assignedTo === null || isId(x.assignedTo)) && nat(x.attempts) && ids(x.replicas, 8);
}

function op(x: unknown): x is TaskOp {
  if (!obj(x)) return false;
  switch (x.op) {
    case "submit":
      return spec(x.spec);
    case "complete":
      return isId(x.taskId) && isId(x.agentId) && "result" in x;
    case "fail":
      return isId(x.taskId) && isId(x.agentId) && str(x.error);
    default:
      return false;
  }
}

function reply(x: unknown): x is TaskReply {
  if (!obj(x) || typeof x.op !== "string" || typeof x.ok !== "boolean") return false;
  if (!x.ok) return typeof x.code === "string";
  switch (x.op) {
    case "submit":
      return isId(x.taskId) && ids(x.replicas, 8) && (x.assignedTo === null || isId(x.assignedTo));
    case "claim":
      return x.task === null || view(x.task);
    case "complete":
      return isId(x.taskId) && isId(x.doneBy) && typeof x.duplicate === "boolean";
    case "fail":
      return isId(x.taskId) && STATUSES.has(x.status as string) && nat(x.attempts);
    default:
      return false;
  }
}

function bid(x: unknown): x is Bid {
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
  return obj(x) && isId(x.agentId) && num(x.capabilityMatch) && nat(x.queueLength) && nat(x.slots) && nat(x.completed) && nat(x.failed) && num(x.resources);
}

export function validTaskMsg(x: unknown): x is TaskMsg {
  if (!obj(x)) return false;
  switch (x.type) {
    case "t_prepare":
      return isId(x.taskId) && ballot(x.ballot) && ids(x.config, 8);
    case "t_promise":
      return (
        isId(x.taskId) && ballot(x.ballot) && typeof x.ok === "boolean" && (x.promised === null || ballot(x.promised)) &&
        (x.promisedConfig === null || ids(x.promisedConfig, 8)) && (x.record === null || validRecord(x.record))
      );
    case "t_accept":
      return isId(x.taskId) && validRecord(x.record) && (x.record as TaskRecord).state.spec.taskId === x.taskId;
    case "t_ack":
      return isId(x.taskId) && ballot(x.ballot) && nat(x.version) && typeof x.ok === "boolean" && (x.promised === null || ballot(x.promised));
    case "t_req":
      return rid(x.rid) && isId(x.origin) && nat(x.hops) && op(x.req);
    case "t_resp":
      return rid(x.rid) && reply(x.reply);
    case "t_nudge":
      return isId(x.taskId) && ids(x.config, 8);
    case "t_assign":
      return isId(x.taskId);
    case "t_claim":
      return isId(x.taskId) && rid(x.claimId) && nat(x.leaseMs);
    case "t_steal":
      return rid(x.claimId) && nat(x.leaseMs) && caps(x.caps);
    case "t_give":
      return isId(x.taskId) && isId(x.to) && (x.claimId === null || rid(x.claimId)) && nat(x.leaseMs) && caps(x.caps);
    case "t_claimed":
      return rid(x.claimId) && (x.taskId === null || isId(x.taskId)) && (x.view === null || view(x.view));
    case "cfp":
      return str(x.auctionId) && isId(x.taskId) && caps(x.requiredCapabilities) && nat(x.deadlineMs);
    case "propose":
      return str(x.auctionId) && bid(x.bid);
    case "refuse":
      return str(x.auctionId) && str(x.reason);
    case "accept_proposal":
    case "reject_proposal":
      return str(x.auctionId) && isId(x.taskId);
    default:
      return false;
  }
}
