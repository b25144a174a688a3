// The contract's error shape, produced in exactly one place:
// {"error": {"code": "snake_case", "message": "one human sentence", "details"?: …}}.
export type ErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "swarm_full"
  | "payload_too_large"
  | "rate_limited"
  | "read_only"
  | "no_quorum"
  | "not_configured"
  | "agent_unavailable"
  | "no_capable_agent"
  | "internal_error";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details?: unknown) => new ApiError(400, "invalid_request", message, details);
export const notFound = (message: string) => new ApiError(404, "not_found", message);
export const conflict = (message: string) => new ApiError(409, "conflict", message);

/**
 * One structured JSON line (level, mod, event, fields) for `wrangler tail`, like the agents' logs: the
 * router logs only what went wrong. An Error's message and stack travel as fields.
 */
export function logError(event: string, err: unknown, fields: Record<string, unknown> = {}): void {
  const e = err instanceof Error ? { error: err.message, stack: err.stack } : { error: String(err) };
  console.error(JSON.stringify({ level: "error", mod: "router", event, ...fields, ...e }));
}

export function errorResponse(err: unknown): Response {
  if (err instanceof ApiError) {
    const body: { error: { code: string; message: string; details?: unknown } } = {
      error: { code: err.code, message: err.message },
    };
    if (err.details !== undefined) body.error.details = err.details;
    return json(body, err.status, err.headers);
  }
  // Anything else is our bug: log it, never leak a stack trace.
  logError("unhandled_error", err);
  return json({ error: { code: "internal_error", message: "Something went wrong inside the mesh; it has been logged." } }, 500);
}

export function json(body: unknown, status = 200, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}
