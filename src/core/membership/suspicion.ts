// Lifeguard's suspicion timeout (Dadgar, Phillips, Currey: "Lifeguard: Local Health Awareness for More
// Accurate Failure Detection", 2018, §4.2), and the seed's failure-confirmation quorum.

/**
 * timeout = max(min, max − (max − min) · log(C + 1) / log(K + 1)), where C counts independent
 * confirmations beyond the first and K is how many are expected: the more agents that failed to reach
 * a member, the sooner it is declared dead — but never before `min`.
 */
export function suspicionTimeoutMs(maxMs: number, confirmations: number, expected: number, minRatio: number): number {
  const min = Math.floor(maxMs * minRatio);
  const c = Math.max(0, confirmations - 1);
  const t = maxMs - ((maxMs - min) * Math.log(c + 1)) / Math.log(expected + 1);
  return Math.max(min, Math.floor(t));
}

/** A majority of a member's monitors (its overlay neighbours) must confirm before it is declared dead. */
export function confirmationQuorum(monitors: number): number {
  return Math.floor(monitors / 2) + 1;
}

/** How many of the confirmations come from the member's monitors. */
export function monitorConfirmations(by: readonly string[] | undefined, monitors: readonly string[]): number {
  return (by ?? []).filter((b) => monitors.includes(b)).length;
}
