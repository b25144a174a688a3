// `/mcp`: the Model Context Protocol over Streamable HTTP, served by the official SDK — stateless, a
// fresh server per request (the router Worker keeps nothing between requests; state lives in the
// Durable Objects). The SDK's handler does no authentication and no Origin/Host checks, so the router
// puts both in front of it: `guardMcp` (below) and the API's bearer token (auth.ts). No OAuth metadata
// is served or advertised: the static token is the only credential.
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import type { Env } from "../env";
import { MAX_BODY_BYTES } from "./body";
import { ApiError } from "./errors";
import { errorResult, okResult, TOOLS } from "./tools";
import { VERSION } from "./version";

const INSTRUCTIONS =
  "Meshwork runs peer-to-peer agent swarms (each agent a Durable Object with gossip, quorum-confirmed failure detection and a Raft-replicated memory store). " +
  "Start with swarm_init; every other tool acts on the most recently initialized swarm unless you pass swarmId. " +
  "Errors come back as tool errors with a code: not_found, conflict, swarm_full, invalid_request, and no_quorum / read_only / agent_unavailable (503: retry later).";

/** Hostnames a local `wrangler dev` answers /mcp for (DNS rebinding protection, see guardMcp). */
const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * The MCP transport's security guidance: a browser page on another origin must not drive the server.
 * A request carrying an `Origin` that is not this server's own origin (or that cannot be parsed, such
 * as `null`) is a 403; clients that are not browsers send no Origin. In local development (`MESH_ENV=dev`)
 * the token is the public `dev-token`, so a page whose host name was rebound to 127.0.0.1 (DNS
 * rebinding: same-origin from the browser's view) must be stopped by the Host header instead: only
 * localhost names are served there.
 */
export function guardMcp(request: Request, env: Env): void {
  const origin = request.headers.get("origin");
  if (origin !== null) {
    let same = false;
    try {
      same = new URL(origin).origin === new URL(request.url).origin;
    } catch {
      same = false;
    }
    if (!same) {
      throw new ApiError(403, "forbidden", "Cross-origin requests to /mcp are refused: the Origin header is not this server's origin.", {
        origin,
      });
    }
  }
  if (env.MESH_ENV === "dev") {
    const host = request.headers.get("host") ?? new URL(request.url).host;
    let hostname: string | null = null;
    try {
      hostname = new URL(`http://${host}`).hostname;
    } catch {
      hostname = null;
    }
    if (hostname === null || !LOCAL_HOSTS.has(hostname)) {
      throw new ApiError(403, "forbidden", "Under local development /mcp answers only requests addressed to localhost, 127.0.0.1 or [::1] (DNS rebinding protection).", {
        host,
      });
    }
  }
}

/** A fresh MCP server with every tool bound to this request's environment. */
export function buildMcpServer(env: Env): McpServer {
  const server = new McpServer({ name: "meshwork", version: VERSION }, { instructions: INSTRUCTIONS });
  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, annotations: tool.annotations },
      // The SDK has validated `args` against inputSchema (an invalid call never gets here).
      async (args: Record<string, unknown>) => {
        try {
          const data = await tool.run(env, args);
          return okResult(data, tool.text?.(data));
        } catch (err) {
          return errorResult(err, args);
        }
      },
    );
  }
  return server;
}

/** Serve one MCP request (already authenticated and guarded by the router). */
export async function serveMcp(request: Request, env: Env): Promise<Response> {
  const handler = createMcpHandler(() => buildMcpServer(env), { maxRequestBodySize: MAX_BODY_BYTES });
  return handler.fetch(plain(request));
}

/**
 * The router hands handlers a Proxy around the Request (for `params`); the SDK gets a plain Request
 * with the same method, URL, headers and body stream.
 */
function plain(request: Request): Request {
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? request.body : null,
    signal: request.signal,
  });
}
