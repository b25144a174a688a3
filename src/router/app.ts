// The router Worker's HTTP app: itty-router AutoRouter, auth in `before`, errors turned into the
// contract's shape in exactly one place (`catch`), 404/405 for everything unrouted.
import { AutoRouter, type IRequest } from "itty-router";
import type { Env } from "../env";
import { requireToken } from "./auth";
import { ApiError, errorResponse, json } from "./errors";
import {
  chaos, createSwarm, deleteSwarm, getAgent, getSwarmStatus, listAgents, listSwarms, optimizeTopology, removeAgent,
  spawnAgent,
} from "./swarms";
import { getInbox, postMessage } from "./messages";
import { faultTolerance } from "./fault";
import { deleteMemory, getMemory, listMemory, putMemory } from "./memory";
import { guardMcp, serveMcp } from "./mcp";
import { getMonitor, getReport } from "./metrics";
import { castVote, createProposal, getProposal, listProposals } from "./proposals";
import { claimTask, completeTask, failTask, getTask, listTasks, submitTask } from "./tasks";
import { VERSION } from "./version";

export { VERSION };

type Handler = (req: IRequest, env: Env) => Promise<Response> | Response;

/** Routes by path; any other method on a known path is a 405 with an Allow header. */
const ROUTES: Array<[string, Partial<Record<"GET" | "POST" | "PUT" | "DELETE", Handler>>]> = [
  ["/v1/swarms", { GET: listSwarms, POST: createSwarm }],
  ["/v1/swarms/:swarmId", { GET: getSwarmStatus, DELETE: deleteSwarm }],
  ["/v1/swarms/:swarmId/agents", { GET: listAgents, POST: spawnAgent }],
  ["/v1/swarms/:swarmId/agents/:agentId", { GET: getAgent, DELETE: removeAgent }],
  ["/v1/swarms/:swarmId/topology/optimize", { POST: optimizeTopology }],
  ["/v1/swarms/:swarmId/chaos", { POST: chaos }],
  ["/v1/swarms/:swarmId/messages", { POST: postMessage }],
  ["/v1/swarms/:swarmId/fault-tolerance", { POST: faultTolerance }],
  ["/v1/swarms/:swarmId/memory/:namespace", { GET: listMemory }],
  ["/v1/swarms/:swarmId/memory/:namespace/:key", { GET: getMemory, PUT: putMemory, DELETE: deleteMemory }],
  ["/v1/swarms/:swarmId/agents/:agentId/inbox", { GET: getInbox }],
  ["/v1/swarms/:swarmId/tasks", { GET: listTasks, POST: submitTask }],
  ["/v1/swarms/:swarmId/tasks/:taskId", { GET: getTask }],
  ["/v1/swarms/:swarmId/tasks/:taskId/complete", { POST: completeTask }],
  ["/v1/swarms/:swarmId/tasks/:taskId/fail", { POST: failTask }],
  ["/v1/swarms/:swarmId/agents/:agentId/tasks/claim", { POST: claimTask }],
  ["/v1/swarms/:swarmId/report", { GET: getReport }],
  ["/v1/swarms/:swarmId/monitor", { GET: getMonitor }],
  ["/v1/swarms/:swarmId/proposals", { GET: listProposals, POST: createProposal }],
  ["/v1/swarms/:swarmId/proposals/:proposalId", { GET: getProposal }],
  ["/v1/swarms/:swarmId/proposals/:proposalId/votes", { POST: castVote }],
];

async function authenticate(req: IRequest, env: Env): Promise<void> {
  const path = new URL(req.url).pathname;
  // /mcp refuses cross-origin browser requests before anything else (the MCP transport's security
  // guidance), then needs the same token as the API.
  if (path === "/mcp") guardMcp(req, env);
  if (path.startsWith("/v1/") || path === "/v1" || path === "/mcp") await requireToken(req, env.MESH_TOKEN);
}

export function buildRouter() {
  const router = AutoRouter<IRequest, [Env, ExecutionContext]>({
    before: [authenticate],
    catch: (err) => errorResponse(err),
    missing: (req) => {
      throw new ApiError(404, "not_found", `No route for ${req.method} ${new URL(req.url).pathname}.`);
    },
  });
  router.get("/health", () => json({ ok: true, version: VERSION }));
  router.all("/health", (req) => methodNotAllowed(req, ["GET"]));
  // MCP over Streamable HTTP: every method goes to the SDK's handler, which owns the transport's
  // semantics (POST for JSON-RPC; GET/DELETE answer 405 on a stateless server).
  router.all("/mcp", (req: IRequest, env: Env) => serveMcp(req, env));
  for (const [path, methods] of ROUTES) {
    for (const [method, handler] of Object.entries(methods)) {
      router[method.toLowerCase() as "get"](path, (req: IRequest, env: Env) => handler!(req, env));
    }
    router.all(path, (req) => methodNotAllowed(req, Object.keys(methods)));
  }
  return router;
}

function methodNotAllowed(req: IRequest, allowed: string[]): never {
  throw new ApiError(405, "method_not_allowed", `${req.method} is not allowed here; use ${allowed.join(" or ")}.`, {
    allowed,
  }, { allow: allowed.join(", ") });
}
