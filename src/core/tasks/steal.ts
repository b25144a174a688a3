// Work stealing (Dask's scheduler, "Work Stealing" in the distributed docs; Blumofe & Leiserson 1999):
// an idle worker (thief) asks the busiest peer for work; the victim gives up a task only if it has not
// started (queued, never claimed), so no task runs twice while both live. Thresholds come from measured
// queue length against declared capacity (slots), as Dask compares occupancy against threads:
//  - a thief steals only when it has free slots and nothing queued for itself;
//  - a victim is saturated when (queued + running) / slots > victimMinLoad (default 1: at least one
//    task is waiting for a slot) and at least one task is queued.
import { capabilityMatch, CAPABILITY_THRESHOLD } from "./capability";
import type { MemberInfo } from "./types";

export interface StealPolicy {
  /** A peer is worth asking only if its gossiped load is above this. */
  victimMinLoad: number;
}

export const DEFAULT_STEAL: StealPolicy = { victimMinLoad: 1 };

/** Should an idle agent try to steal? It has a free slot and nothing queued for itself. */
export function wantsToSteal(queued: number, running: number, slots: number): boolean {
  return queued === 0 && running < Math.max(1, slots);
}

/** The busiest peer by gossiped load above the threshold (ties: smaller id), excluding some. */
export function pickVictim(members: readonly MemberInfo[], self: string, policy: StealPolicy = DEFAULT_STEAL, exclude: ReadonlySet<string> = new Set()): string | null {
  let best: MemberInfo | null = null;
  for (const m of members) {
    if (m.id === self || exclude.has(m.id) || !(m.load > policy.victimMinLoad)) continue;
    if (!best || m.load > best.load || (m.load === best.load && m.id < best.id)) best = m;
  }
  return best?.id ?? null;
}

/** Victim side, from its own exact counts: is it saturated enough to give one queued task away? */
export function canGive(queued: number, running: number, slots: number, policy: StealPolicy = DEFAULT_STEAL): boolean {
  return queued >= 1 && (queued + running) / Math.max(1, slots) > policy.victimMinLoad;
}

/** A queued task may go to the thief only if the thief can run it (capability match above 0.7). */
export function thiefCanRun(thiefCaps: readonly string[], required: readonly string[]): boolean {
  return capabilityMatch(thiefCaps, required) > CAPABILITY_THRESHOLD;
}
