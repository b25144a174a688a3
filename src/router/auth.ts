import { ApiError } from "./errors";

/**
 * Bearer-token check for /v1/* and /mcp. A deployment without MESH_TOKEN answers 503 not_configured,
 * never "open to all". Comparison is constant-time in the token's content (both sides are hashed
 * first, so even the length does not leak through timing).
 */
export async function requireToken(request: Request, token: string | undefined): Promise<void> {
  if (!token) {
    throw new ApiError(
      503,
      "not_configured",
      "This deployment has no MESH_TOKEN; set it with `wrangler secret put MESH_TOKEN`.",
    );
  }
  const header = request.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m || !(await constantTimeEqual(m[1], token))) {
    throw new ApiError(401, "unauthorized", "A valid `Authorization: Bearer <token>` header is required.", undefined, {
      "www-authenticate": 'Bearer realm="meshwork"',
    });
  }
}

export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  const x = new Uint8Array(ha);
  const y = new Uint8Array(hb);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
