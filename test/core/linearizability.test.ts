import { describe, expect, test } from "vitest";
import { checkHistory, type Op } from "../sim/linearizability";

const put = (id: number, key: string, value: string, invoke: number, response: number | null): Op => ({ id, key, kind: "put", value, invoke, response });
const get = (id: number, key: string, value: string | null, invoke: number, response: number | null): Op => ({ id, key, kind: "get", value, invoke, response });

describe("linearizability checker", () => {
  test("accepts a sequential history and concurrent overlaps that can be ordered", () => {
    expect(checkHistory([put(1, "k", "a", 0, 1), get(2, "k", "a", 2, 3)]).ok).toBe(true);
    // The read overlaps the write: it may see either value.
    expect(checkHistory([put(1, "k", "a", 0, 10), get(2, "k", null, 1, 2)]).ok).toBe(true);
    expect(checkHistory([put(1, "k", "a", 0, 10), get(2, "k", "a", 1, 2)]).ok).toBe(true);
  });

  test("rejects a stale read after an acknowledged write (the anomaly a minority leader causes)", () => {
    expect(checkHistory([put(1, "k", "a", 0, 1), get(2, "k", null, 2, 3)]).ok).toBe(false);
    expect(checkHistory([put(1, "k", "a", 0, 1), put(2, "k", "b", 2, 3), get(3, "k", "a", 4, 5)]).ok).toBe(false);
  });

  test("a write with an unknown outcome may or may not have happened, but not twice or backwards", () => {
    expect(checkHistory([put(1, "k", "a", 0, null), get(2, "k", null, 5, 6), get(3, "k", "a", 7, 8)]).ok).toBe(true);
    expect(checkHistory([put(1, "k", "a", 0, null), get(2, "k", "a", 5, 6), get(3, "k", null, 7, 8)]).ok).toBe(false);
  });

  test("keys are independent (P-compositionality)", () => {
    const h = [put(1, "x", "1", 0, 1), put(2, "y", "2", 0, 1), get(3, "x", "1", 2, 3), get(4, "y", null, 2, 3)];
    expect(checkHistory(h)).toEqual({ ok: false, key: "y", ops: 2 });
  });
});
