// A linearizability checker for a key-value store, in the Wing & Gong / Lowe style ("Testing for
// Linearizability", Lowe 2017): the history is split by key (P-compositionality: a KV map is
// linearizable iff each key's register is), and each key's history is searched depth-first for a
// total order that respects real time and register semantics, memoizing (linearized set, value).
// Operations whose outcome is unknown (no response: the client timed out, the leader was lost) may take
// effect at any point after their invocation, or never.

export interface Op {
  id: number;
  key: string;
  kind: "put" | "get";
  /** put: the value written; get: the value read (null: absent). */
  value: string | null;
  invoke: number;
  /** null: no response (outcome unknown). */
  response: number | null;
}

export interface CheckResult {
  ok: boolean;
  key?: string;
  ops?: number;
}

export function checkHistory(history: Op[], initial: string | null = null): CheckResult {
  const byKey = new Map<string, Op[]>();
  for (const op of history) {
    // A read that never answered constrains nothing: drop it.
    if (op.kind === "get" && op.response === null) continue;
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  for (const [key, ops] of byKey) {
    if (!checkRegister(ops, initial)) return { ok: false, key, ops: ops.length };
  }
  return { ok: true };
}

function checkRegister(ops: Op[], initial: string | null): boolean {
  const n = ops.length;
  if (n > 200) throw new Error(`history too long for the exhaustive checker (${n} ops on one key)`);
  const sorted = ops.slice().sort((a, b) => a.invoke - b.invoke);
  const required = sorted.map((o) => o.response !== null);
  const seen = new Set<string>();
  const done = new Uint8Array(n);

  const search = (value: string | null, remainingRequired: number): boolean => {
    if (remainingRequired === 0) return true;
    const key = `${done.join("")}|${value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    // Any op that can go next must be invoked before every pending op's response (real-time order).
    let minResponse = Infinity;
    for (let i = 0; i < n; i++) if (!done[i] && sorted[i].response !== null) minResponse = Math.min(minResponse, sorted[i].response!);
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      const op = sorted[i];
      if (op.invoke > minResponse) break; // sorted by invoke: nothing later qualifies
      let next = value;
      if (op.kind === "put") next = op.value;
      else if (op.value !== value) continue;
      done[i] = 1;
      if (search(next, remainingRequired - (required[i] ? 1 : 0))) return true;
      done[i] = 0;
    }
    return false;
  };
  return search(initial, required.filter(Boolean).length);
}
