// Peer envelopes: versioned, JSON-serializable, addressed, routed to a module by `mod` and validated
// by it on receipt. A malformed envelope is dropped and counted by the receiver, never thrown
// (DESIGN principle 5). This file checks what every envelope shares; each module checks its own fields.
//
// Wire version 2 added `mod`. Envelopes of version 1 (before modules) are upgraded on receipt, so an
// agent of this version understands one of the previous version during a rolling deploy; a version-1
// agent drops version-2 envelopes (counted as invalid) until it is restarted on the new code.
import { isId } from "./ids";
import { WIRE_VERSION, type Envelope } from "./protocol";

const V1_MODULE: Record<string, string> = {
  join: "membership", join_ack: "membership", gossip: "membership", sync: "membership", sync_ack: "membership",
  sync_push: "membership", ping: "membership", ack: "membership", ping_req: "membership", msg: "messages", raft: "raft",
};

/** The envelope if its common fields are well formed, else a reason string. */
export function parseEnvelope(x: unknown): Envelope | string {
  if (!x || typeof x !== "object" || Array.isArray(x)) return "not an object";
  let e = x as Record<string, unknown>;
  if (e.v === 1) e = upgradeV1(e);
  else if (e.v !== WIRE_VERSION) return `unsupported wire version ${String(e.v)}`;
  if (!isId(e.swarm) || !isId(e.from) || !isId(e.to)) return "bad swarm/from/to";
  if (typeof e.mod !== "string" || e.mod.length > 32) return "bad mod";
  if (typeof e.type !== "string" || e.type.length > 32) return "bad type";
  return e as Envelope;
}

/** Version 1 had no `mod`, and message-stream heads rode on the membership sync as fields of their own. */
function upgradeV1(e: Record<string, unknown>): Record<string, unknown> {
  const mod = V1_MODULE[String(e.type)] ?? "unknown";
  const out: Record<string, unknown> = { ...e, v: WIRE_VERSION, mod };
  delete out.heads;
  delete out.messages;
  if (e.type === "msg") out.messages = e.messages;
  else if (e.type === "sync" && e.heads !== undefined) out.ext = { messages: e.heads };
  else if (e.type === "sync_push" && e.messages !== undefined) out.ext = { messages: e.messages };
  else if (e.type === "sync_ack" && (e.messages !== undefined || e.heads !== undefined)) {
    out.ext = { messages: { ...(e.messages !== undefined ? { data: e.messages } : {}), ...(e.heads !== undefined ? { digest: e.heads } : {}) } };
  }
  return out;
}
