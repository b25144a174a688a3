// One validation schema per endpoint (DESIGN.md principle 6). Objects are strict: an unknown or
// misspelt field is a 400 with the field named, not silently ignored.
import { z } from "zod";
import { ID_PATTERN } from "../core/ids";
import { LIMITS } from "../core/config";
import { badRequest } from "./errors";

export const Id = z.string().regex(ID_PATTERN, "must match ^[a-z0-9][a-z0-9_-]{0,62}$");
const IntervalMs = z.int().min(LIMITS.minIntervalMs).max(LIMITS.maxIntervalMs);

export const CreateSwarm = z.strictObject({
  swarmId: Id.optional(),
  topology: z.literal("mesh").optional(),
  maxAgents: z.int().min(1).max(LIMITS.maxAgents).optional(),
  strategy: z.literal("distributed").optional(),
  agents: z.int().min(0).max(LIMITS.maxAgents).optional(),
  gossip: z
    .strictObject({
      intervalMs: IntervalMs.optional(),
      fanout: z.int().min(LIMITS.minFanout).max(LIMITS.maxFanout).optional(),
      eager: z.boolean().optional(),
    })
    .optional(),
  failure: z
    .strictObject({ heartbeatMs: IntervalMs.optional(), timeoutMs: z.int().min(LIMITS.minIntervalMs).max(600_000).optional() })
    .optional(),
  consensus: z
    .strictObject({
      threshold: z.number().gt(0.5).max(1).optional(),
      voters: z.int().min(0).max(LIMITS.maxAgents).optional(),
      snapshotEvery: z.int().min(10).max(100_000).optional(),
      heartbeatMs: IntervalMs.optional(),
      electionMs: z.int().min(2 * LIMITS.minIntervalMs).max(600_000).optional(),
      fastFailover: z.boolean().optional(),
    })
    .optional(),
});

export const SpawnAgent = z.strictObject({
  agentId: Id.optional(),
  capabilities: z.array(z.string().min(1).max(64)).max(64).optional(),
  capacity: z.strictObject({ slots: z.int().min(1).max(1000) }).optional(),
  seeds: z.array(Id).min(1).max(16).optional(),
});

export const Chaos = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("crash"), agents: z.array(Id).min(1).max(LIMITS.maxAgents) }),
  z.strictObject({ action: z.literal("restart"), agents: z.array(Id).min(1).max(LIMITS.maxAgents) }),
  z.strictObject({
    action: z.literal("partition"),
    groups: z.array(z.array(Id).min(1)).min(1).max(64),
  }),
  z.strictObject({ action: z.literal("heal") }),
  z.strictObject({
    action: z.literal("drop"),
    rate: z.number().min(0).max(1),
    agents: z.array(Id).min(1).max(LIMITS.maxAgents).optional(),
  }),
]);

export const DeleteSwarmQuery = z.strictObject({ purge: z.enum(["true", "false"]).optional() });
export const EmptyQuery = z.strictObject({});

export type CreateSwarmBody = z.infer<typeof CreateSwarm>;
export type SpawnAgentBody = z.infer<typeof SpawnAgent>;
export type ChaosBody = z.infer<typeof Chaos>;

/** Parse or throw a 400 that names each offending field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what = "body"): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  // An unknown field is named itself (`body.foo`), not only its parent object.
  const issues = r.error.issues.flatMap((i) =>
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => ({ field: [what, ...i.path.map(String), k].join("."), message: "is not a known field" }))
      : [{ field: [what, ...i.path.map(String)].join("."), message: i.message }],
  );
  const first = issues[0];
  throw badRequest(`Invalid ${what}: ${first.field} ${first.message}.`, { issues });
}

/** Path parameters are validated like everything else. */
export function pathId(value: string | undefined, name: string): string {
  let id = value;
  try {
    // Clients may percent-encode path segments; an encoded "/" decodes to an invalid id and stays a 400.
    if (id !== undefined) id = decodeURIComponent(id);
  } catch {
    id = undefined;
  }
  if (id === undefined || !ID_PATTERN.test(id)) {
    throw badRequest(`Invalid ${name} in path: must match ^[a-z0-9][a-z0-9_-]{0,62}$.`, { field: `path.${name}` });
  }
  return id;
}

/** The query string as an object; a parameter given twice is ambiguous, so it is a 400. */
export function queryParams(req: { url: string }): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [k, v] of new URL(req.url).searchParams) {
    if (seen.has(k)) throw badRequest(`Query parameter ${k} is given more than once.`, { field: `query.${k}` });
    seen.add(k);
    out[k] = v;
  }
  return out;
}
