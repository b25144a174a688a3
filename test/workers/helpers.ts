import { exports } from "cloudflare:workers";

export const TOKEN = "test-token";

type Fetcher = { fetch: (req: Request | string, init?: RequestInit) => Promise<Response> };
const worker = (exports as unknown as { default: Fetcher }).default;

export interface ApiResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Call the router Worker as an HTTP client would. */
export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; headers?: Record<string, string>; raw?: string } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined = opts.raw;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] ??= "application/json";
  }
  const res = await worker.fetch(new Request(`http://mesh.test${path}`, { method, headers, body: payload }));
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes (then throw with the last value). */
export async function waitFor<T>(fn: () => Promise<T>, timeoutMs: number, everyMs = 50, label = "condition"): Promise<T> {
  const start = Date.now();
  let last: T | undefined;
  while (Date.now() - start < timeoutMs) {
    last = await fn();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`${label} not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)?.slice(0, 500)}`);
}
