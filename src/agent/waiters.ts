// Requests waiting for the core: a write for its entry to be applied, a read for its ReadIndex, a
// forwarder for a leader to be known, a probe for its outcome. Each waits on a (module, key) that the
// core answers through `Effects.outputs` — no polling. Deadlines are the core's too: the shell asks the
// node to wake at the deadline (the one alarm), and the node answers `node/deadline`, which ends every
// wait that is due. No timers in the Durable Object.
import type { Output } from "../core/protocol";
import { NODE_MOD } from "../core/node";

export const TIMEOUT = Symbol("timeout");

interface Waiter {
  deadline: number;
  resolve: (v: unknown) => void;
}

export class Waiters {
  private readonly byKey = new Map<string, Set<Waiter>>();

  /** Wait for `mod/key` to be answered, or for `deadline` (then TIMEOUT). The caller asks the node to wake by then. */
  wait<T>(mod: string, key: string, deadline: number): Promise<T | typeof TIMEOUT> {
    const k = `${mod}/${key}`;
    return new Promise((resolve) => {
      let set = this.byKey.get(k);
      if (!set) this.byKey.set(k, (set = new Set()));
      set.add({ deadline, resolve: resolve as (v: unknown) => void });
    });
  }

  settle(outputs: readonly Output[], now: number): void {
    for (const o of outputs) {
      if (o.mod === NODE_MOD && o.key === "deadline") {
        this.expire(now);
        continue;
      }
      const k = `${o.mod}/${o.key}`;
      const set = this.byKey.get(k);
      if (!set) continue;
      this.byKey.delete(k);
      for (const w of set) w.resolve(o.value);
    }
  }

  /** End every wait whose deadline passed (also called when the agent crashes: everything ends). */
  expire(now: number): void {
    for (const [k, set] of this.byKey) {
      for (const w of set) if (w.deadline <= now) (set.delete(w), w.resolve(TIMEOUT));
      if (set.size === 0) this.byKey.delete(k);
    }
  }
}
