// This agent's Ed25519 identity (WebCrypto), and the shell-side signature filter for signed protocols
// (proposals: gossip vote records, PBFT messages). The private key is made at spawn, kept in this Durable
// Object's storage and never leaves it; the public key is pinned through the replicated log (the `keys`
// state machine), and every signature is checked against the signer's pinned key. The core never signs
// or verifies: WebCrypto is asynchronous, the core is synchronous — so the shell signs an envelope's own
// items on the way out and checks every signed part on the way in, before the core sees the envelope
// (see src/core/crypto/canonical.ts). An envelope with one bad or unverifiable signature is dropped whole
// and counted.
import type { SignedPart } from "../core/crypto/canonical";
import type { Envelope, SigningDelegate } from "../core/protocol";

const ED25519 = { name: "Ed25519" } as const;
const enc = new TextEncoder();

function b64(bytes: ArrayBuffer | Uint8Array): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64(s: string): Uint8Array {
  const t = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = t.charCodeAt(i);
  return out;
}

export interface StoredKey {
  privatePkcs8: string;
  publicRaw: string;
}

export class KeyRing {
  private privateKey: CryptoKey | null = null;
  publicKey: string | null = null;
  private readonly verifiers = new Map<string, Promise<CryptoKey>>();

  /** Make a key pair (at spawn); returns what to store. */
  async generate(): Promise<StoredKey> {
    const pair = (await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"])) as CryptoKeyPair;
    const stored = {
      privatePkcs8: b64((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer),
      publicRaw: b64((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer),
    };
    this.privateKey = pair.privateKey;
    this.publicKey = stored.publicRaw;
    return stored;
  }

  async load(k: StoredKey): Promise<void> {
    this.privateKey = await crypto.subtle.importKey("pkcs8", unb64(k.privatePkcs8), ED25519, false, ["sign"]);
    this.publicKey = k.publicRaw;
  }

  async sign(payload: string): Promise<string> {
    if (!this.privateKey) throw new Error("no signing key");
    return b64(await crypto.subtle.sign(ED25519, this.privateKey, enc.encode(payload)));
  }

  async verify(publicRaw: string, payload: string, sig: string): Promise<boolean> {
    try {
      let k = this.verifiers.get(publicRaw);
      if (!k) this.verifiers.set(publicRaw, (k = crypto.subtle.importKey("raw", unb64(publicRaw), ED25519, false, ["verify"])));
      return await crypto.subtle.verify(ED25519, await k, unb64(sig), enc.encode(payload));
    } catch {
      return false;
    }
  }

  /**
   * Sign this agent's own items of an outgoing envelope (`forge`: with garbage instead — chaos's byzantine
   * behaviour, so that others must reject it). Returns the envelope to send.
   */
  async signOutgoing(d: SigningDelegate, e: Envelope, forge = false): Promise<Envelope> {
    const { env, items } = d.outgoing(e);
    for (const it of items) it.set(forge ? b64(crypto.getRandomValues(new Uint8Array(64))) : await this.sign(it.payload));
    return env;
  }

  /** Every signed part checks out against its signer's pinned key (an unpinned signer cannot be checked: refused). */
  async verifyIncoming(d: SigningDelegate, env: Envelope, pinned: (agent: string) => string | null): Promise<boolean> {
    let parts: SignedPart[];
    try {
      parts = d.incoming(env);
    } catch {
      return false;
    }
    for (const p of parts) {
      if (p.sig === null) return false;
      const key = pinned(p.signer);
      if (!key || !(await this.verify(key, p.payload, p.sig))) return false;
    }
    return true;
  }
}
