import { ApiError, badRequest } from "./errors";

export const MAX_BODY_BYTES = 64 * 1024;
/** Deeper bodies are refused: validating or cloning them would overflow the stack (a 500). */
export const MAX_BODY_DEPTH = 64;

/**
 * Read a JSON body: 413 over 64 KiB (checked on the declared length and on the bytes actually read),
 * 400 for anything that is not a JSON object or is nested more than 64 levels deep. An empty body
 * counts as `{}` so optional-only endpoints can be called bare.
 */
export async function readJson(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const ct = request.headers.get("content-type") ?? "";
  const buf = await readLimited(request);
  if (buf.byteLength === 0) return {};
  if (ct && !/^application\/([a-z.+-]*\+)?json\b/i.test(ct)) {
    throw new ApiError(400, "invalid_request", "Request bodies must be JSON (content-type: application/json).", {
      contentType: ct,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(buf));
  } catch {
    throw badRequest("The request body is not valid JSON.");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw badRequest("The request body must be a JSON object.");
  }
  if (depthExceeds(value, MAX_BODY_DEPTH)) {
    throw badRequest(`The request body is nested more than ${MAX_BODY_DEPTH} levels deep.`, { maxDepth: MAX_BODY_DEPTH });
  }
  return value;
}

/** Iterative, so the check itself cannot overflow the stack. */
export function depthExceeds(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d > max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

async function readLimited(request: Request): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) (out.set(c, off), (off += c.byteLength));
  return out;
}

function tooLarge(): ApiError {
  return new ApiError(413, "payload_too_large", `Request bodies are limited to ${MAX_BODY_BYTES} bytes (64 KiB).`);
}
