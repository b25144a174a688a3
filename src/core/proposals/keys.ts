// Agents' public keys, pinned through the replicated log: the first key an agent registers is the one
// every agent uses to check its signatures from then on — a key cannot be swapped later (a second,
// different registration is refused), and every agent holds the same table.
import { isId } from "../ids";
import type { Applied, StateMachine } from "../raft/statemachine";

export type KeyCommand = { op: "pin"; agent: string; key: string };

export class KeyBook implements StateMachine {
  readonly name = "keys";
  private readonly keys = new Map<string, string>();

  validCommand(c: unknown): boolean {
    const m = c as Record<string, unknown> | null;
    return !!m && m.op === "pin" && isId(m.agent) && typeof m.key === "string" && m.key.length > 0 && m.key.length <= 128;
  }

  apply(_index: number, raw: unknown): Applied {
    const c = raw as KeyCommand;
    const had = this.keys.get(c.agent);
    if (had !== undefined) return { result: { pinned: had === c.key, conflict: had !== c.key }, puts: [], dels: [] };
    this.keys.set(c.agent, c.key);
    return { result: { pinned: true, conflict: false }, puts: [[c.agent, c.key]], dels: [] };
  }

  /** How many agents' keys are pinned. */
  size(): number {
    return this.keys.size;
  }

  get(agent: string): string | null {
    return this.keys.get(agent) ?? null;
  }

  snapshot(): unknown {
    return Object.fromEntries(this.keys);
  }

  install(data: unknown): Array<[string, unknown]> {
    this.keys.clear();
    for (const [a, k] of Object.entries((data as Record<string, string> | null) ?? {})) this.keys.set(a, k);
    return Array.from(this.keys.entries());
  }

  load(rows: ReadonlyMap<string, unknown>): void {
    this.keys.clear();
    for (const [a, k] of rows) this.keys.set(a, k as string);
  }
}
