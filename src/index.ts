// Worker entry: the HTTP router, the cron health check, and the Durable Object classes.
import type { Env } from "./env";
import { buildRouter } from "./router/app";
import { healthCheck } from "./router/cron";

export { MeshAgent } from "./agent/mesh-agent";
export { SwarmRegistry } from "./agent/registry";

const router = buildRouter();

export default {
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => router.fetch(request, env, ctx),
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext) {
    ctx.waitUntil(healthCheck(env));
  },
} satisfies ExportedHandler<Env>;
