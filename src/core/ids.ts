// Branded identifiers (automerge-repo style): a plain string at run time, distinct types at compile time.
export type AgentId = string & { readonly __brand: "AgentId" };
export type SwarmId = string & { readonly __brand: "SwarmId" };

/** The contract's identifier grammar (docs/api.md, Conventions). */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function isId(x: unknown): x is string {
  return typeof x === "string" && ID_PATTERN.test(x);
}

export const agentId = (s: string): AgentId => s as AgentId;
export const swarmId = (s: string): SwarmId => s as SwarmId;
