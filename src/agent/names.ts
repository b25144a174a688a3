/** Durable Object name of an agent. Ids cannot contain "/", so the pair is unambiguous. */
export function agentObjectName(swarm: string, agent: string): string {
  return `${swarm}/${agent}`;
}

/**
 * What an agent returns instead of an answer when it is crashed (chaos) or not initialized. Returned,
 * not thrown: an expected condition should not show up as an uncaught exception in the logs.
 */
export interface Refusal {
  refused: "agent_unavailable" | "agent_not_found";
}

export function isRefusal(x: unknown): x is Refusal {
  return typeof x === "object" && x !== null && "refused" in x;
}
