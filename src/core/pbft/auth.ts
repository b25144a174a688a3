// What the shell must sign and verify for PBFT messages (see src/core/crypto/canonical.ts).
//
// The core never signs or verifies. The shell:
//  - signs, in every outgoing message, each item authored by its own replica that has no `sig` yet — the
//    message itself and its nested items (`signOutgoing`, or `unsignedOwnItems` for an asynchronous
//    signer). Forwarded items of others keep their own signatures; a request is signed by its client;
//  - verifies every incoming message with `verifyPbftMessage` (or collects `signedParts(msg)` for an
//    asynchronous verifier and checks them with `partsValid(parts, "", verify)`) and drops the whole
//    message when any item fails, before the core sees it.
//
// Signed items, by message (OSDI '99 §4: every message is signed by its sender; requests by their client):
//  request       the request (client)
//  pre-prepare   the message (primary) + every request of the batch (clients)
//  prepare, commit, checkpoint, status, fetch-state, state   the message (its replica)
//  view-change   the message + each CHECKPOINT of the stable-checkpoint proof + each PREPARE of every
//                prepared certificate + every request of every certificate's batch
//  new-view      the message + each VIEW-CHANGE in V (recursively as above) + every request of O's batches
//  commit-cert   the message + each COMMIT + every request of the batch
//  reply         the message (replica), checked by the client
//
// Every item carries its own signature, nested ones included. canonical.ts would also allow an item of
// the carrier's own signer to travel unsigned (covered by the carrier's signature), but PBFT replicas
// lift items out of their carriers and forward them alone: a min-s checkpoint proof taken from another
// replica's VIEW-CHANGE goes into our own VIEW-CHANGE, commits from a commit certificate into our next
// certificate. An item that was only covered would then fail verification at the next hop, and a
// correct replica's message would be dropped. So verification here is strict.
import { canonical, partsValid, type SignedPart } from "../crypto/canonical";
import type { PbftMsg, PreparedCert, Reply, Request, ViewChange } from "./types";

/** Who signs this message: the client for a request carrier, the replica otherwise. */
export function authorOf(msg: PbftMsg | Reply): string {
  return msg.type === "request" ? msg.request.client : msg.replica;
}

/** The exact bytes (as a string) a signer signs for an item: its canonical encoding without `sig`. */
export function signingPayload(item: object): string {
  return canonical(item);
}

type Item = { sig?: string };

/** Visit every signed item of a message: the message itself first, then nested items, with their signer. */
function visit(msg: PbftMsg | Reply, fn: (signer: string, item: Item) => void): void {
  const requests = (batch: readonly Request[]) => {
    for (const r of batch) fn(r.client, r);
  };
  const viewChange = (vc: ViewChange) => {
    fn(vc.replica, vc);
    for (const c of vc.proof) fn(c.replica, c);
    for (const c of vc.prepared) cert(c);
  };
  const cert = (c: PreparedCert) => {
    for (const p of c.prepares) fn(p.replica, p);
    requests(c.batch);
  };
  switch (msg.type) {
    case "request":
      fn(msg.request.client, msg.request);
      break;
    case "pre-prepare":
      fn(msg.replica, msg);
      requests(msg.batch);
      break;
    case "view-change":
      viewChange(msg);
      break;
    case "new-view":
      fn(msg.replica, msg);
      for (const vc of msg.viewChanges) viewChange(vc);
      for (const e of msg.prePrepares) requests(e.batch);
      break;
    case "commit-cert":
      fn(msg.replica, msg);
      for (const c of msg.commits) fn(c.replica, c);
      requests(msg.batch);
      break;
    default:
      fn(msg.replica, msg);
  }
}

/**
 * Every signed item in `msg`, outermost first, as the shell must check it. An unsigned item is listed
 * with `sig: null`; `partsValid(parts, outerSigner, verify)` accepts those only from `outerSigner`, and
 * the PBFT shell passes "" (strict: see above).
 */
export function signedParts(msg: PbftMsg | Reply): SignedPart[] {
  const out: SignedPart[] = [];
  // Nested items are encoded once and reused in their carriers' encodings (a NEW-VIEW holds VIEW-CHANGEs
  // that hold certificates: encoding each level from scratch would be quadratic in the nesting).
  const memo = new Map<object, string>();
  visit(msg, (signer, item) => out.push({ signer, payload: canonicalMemo(item, memo), sig: item.sig ?? null }));
  return out;
}

/** canonical() with a cache of the encodings of objects already seen (same output). */
function canonicalMemo(x: unknown, memo: Map<object, string>): string {
  if (x === null || typeof x !== "object") return JSON.stringify(x ?? null);
  const hit = memo.get(x);
  if (hit !== undefined) return hit;
  let out: string;
  if (Array.isArray(x)) out = `[${x.map((y) => canonicalMemo(y, memo)).join(",")}]`;
  else {
    const o = x as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => k !== "sig" && o[k] !== undefined)
      .sort();
    out = `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalMemo(o[k], memo)}`).join(",")}}`;
  }
  memo.set(x, out);
  return out;
}

/**
 * For an asynchronous signer (WebCrypto): a copy of `msg` and the items in it that `self` must sign
 * (set `target.sig` to the signature of `payload` on each, then send `copy`).
 */
export function unsignedOwnItems(msg: PbftMsg | Reply, self: string): { copy: PbftMsg | Reply; items: Array<{ target: Item; payload: string }> } {
  const copy = JSON.parse(JSON.stringify(msg)) as PbftMsg | Reply;
  const items: Array<{ target: Item; payload: string }> = [];
  visit(copy, (signer, item) => {
    if (signer === self && item.sig === undefined) items.push({ target: item, payload: canonical(item) });
  });
  return { copy, items };
}

/** The shell's outgoing step with a synchronous signer: sign every unsigned item `self` authored (nested ones included). */
export function signOutgoing<M extends PbftMsg | Reply>(msg: M, self: string, sign: (payload: string) => string): M {
  let count = 0;
  let top = false;
  visit(msg, (signer, item) => {
    if (signer === self && item.sig === undefined) {
      if (item === msg) top = true;
      count++;
    }
  });
  if (count === 0) return msg;
  // The common case (a replica's own vote): only the message itself, no deep copy needed.
  if (top && count === 1 && msg.type !== "request") return { ...msg, sig: sign(canonical(msg)) };
  const { copy, items } = unsignedOwnItems(msg, self);
  for (const it of items) it.target.sig = sign(it.payload);
  return copy as M;
}

/** The shell's filter with a synchronous verifier: true iff every signed item of `msg` checks out. */
export function verifyPbftMessage(msg: PbftMsg | Reply, verify: (p: SignedPart & { sig: string }) => boolean): boolean {
  // "" matches no signer: every item needs its own valid signature.
  return partsValid(signedParts(msg), "", verify);
}
