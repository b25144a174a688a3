// Signed protocol messages (PBFT, votes) without crypto in the pure core.
//
// Where signing and verification happen: WebCrypto's Ed25519 is asynchronous and the cores are pure
// and synchronous, so the cores never sign or verify. The shell (the Durable Object, or the simulator)
// signs every outgoing signed message after the core emits it, and verifies every incoming one —
// including each signed item nested inside it (a prepared certificate carries other agents' PREPAREs,
// a NEW-VIEW carries VIEW-CHANGEs) — before the core sees it. A message with one bad signature is
// dropped whole and counted. The core therefore only ever holds messages whose every signature checked
// out against the pinned public key of the agent that claims to have signed it.
//
// An item authored by the signer of the message that carries it may travel unsigned inside it: the
// outer signature covers it. (A replica keeps its own messages unsigned; it only ever forwards them
// inside messages it signs itself.)
//
// What is signed is the canonical encoding below: JSON with object keys sorted, the `sig` field left
// out, so that every agent (and the simulator's model scheme) signs and checks the same bytes.

/** A signed item as the shell must check it: who claims to have signed which payload, and the signature. */
export interface SignedPart {
  signer: string;
  payload: string;
  /** null: the item is covered by the signature of the message that carries it (same signer). */
  sig: string | null;
}

/** Canonical JSON: sorted keys, `sig` omitted at every level, no undefined values. */
export function canonical(x: unknown): string {
  if (x === null || typeof x !== "object") return JSON.stringify(x ?? null);
  if (Array.isArray(x)) return `[${x.map(canonical).join(",")}]`;
  const o = x as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => k !== "sig" && o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")}}`;
}

/**
 * Check a message's signed parts with a synchronous verifier (the simulator's model scheme), or
 * collect them for an asynchronous one (WebCrypto in the shell). `outerSigner` is the agent that
 * signed the carrying message: unsigned parts are accepted only when they are its own.
 */
export function partsValid(parts: SignedPart[], outerSigner: string, verify: (p: SignedPart & { sig: string }) => boolean): boolean {
  for (const p of parts) {
    if (p.sig === null) {
      if (p.signer !== outerSigner) return false;
      continue;
    }
    if (!verify(p as SignedPart & { sig: string })) return false;
  }
  return true;
}
