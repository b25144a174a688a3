/** Durable Object name of an agent. Ids cannot contain "/", so the pair is unambiguous. */
export function agentObjectName(swarm: string, agent: string): string {
  return `${swarm}/${agent}`;
}

/** Thrown by an agent that is crashed (chaos) or not initialized; the router maps it to a 4xx/503. */
export const UNAVAILABLE = "agent_unavailable";
export const NOT_FOUND = "agent_not_found";
