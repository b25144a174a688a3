// A model signature scheme for the simulator and the protocol harnesses: deterministic, synchronous,
// and unforgeable *within the model*. Each agent has a secret derived from a per-run seed; a
// signature is a keyed 128-bit hash of the canonical payload. Verification recomputes it from the
// claimed signer's secret, which only the verifier's key table and the agent itself hold — a byzantine
// agent can replay signatures it has seen, but cannot produce a valid one for another agent or another
// payload. Twins (two instances of one agent) share a secret, as they would share a key.
// It stands in for Ed25519 (WebCrypto) in workerd; the same shell-side filter rejects the same forgeries.
import { hash32 } from "../../src/core/hash";
import type { SignedPart } from "../../src/core/crypto/canonical";

export class ModelKeys {
  constructor(private readonly runSeed: number) {}

  private secret(agent: string): number {
    return hash32(`secret:${agent}`, this.runSeed);
  }

  sign(agent: string, payload: string): string {
    const s = this.secret(agent);
    return [0, 1, 2, 3].map((i) => hash32(payload, (s ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0).toString(16).padStart(8, "0")).join("");
  }

  verify(p: SignedPart & { sig: string }): boolean {
    return this.sign(p.signer, p.payload) === p.sig;
  }
}
