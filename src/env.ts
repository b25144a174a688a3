import type { MeshAgent } from "./agent/mesh-agent";
import type { SwarmRegistry } from "./agent/registry";

export interface Env {
  AGENT: DurableObjectNamespace<MeshAgent>;
  REGISTRY: DurableObjectNamespace<SwarmRegistry>;
  ASSETS?: Fetcher;
  /** Bearer token for /v1/* and /mcp. Required when deployed (secret). */
  MESH_TOKEN?: string;
  /** "on" enables POST …/chaos. On by default under `wrangler dev` (see .dev.vars.example / npm run dev). */
  MESH_CHAOS?: string;
  /** "production" | "dev" | "test". */
  MESH_ENV?: string;
  /** "debug" also logs protocol chatter (probes, pre-votes); default: state changes only. */
  MESH_LOG?: string;
}

declare global {
  namespace Cloudflare {
    interface Env {
      AGENT: DurableObjectNamespace<MeshAgent>;
      REGISTRY: DurableObjectNamespace<SwarmRegistry>;
      MESH_TOKEN?: string;
      MESH_CHAOS?: string;
      MESH_ENV?: string;
    }
  }
}
