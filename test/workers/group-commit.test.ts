// Group commit at the leader (src/agent/replicated.ts), against a stand-in for the agent's shell: which
// writes are proposed together. The log itself is faked (it hands out indexes and applies on demand);
// test/core/write-path.test.ts checks what the real log does with a group. (Here, not in `core`: the
// shell is Workers code.)
import { describe, expect, test } from "vitest";
import type { Shell } from "../../src/agent/shell";
import { writeMemory } from "../../src/agent/replicated";

function fakeLeader() {
  const groups: string[][] = [];
  const waits = new Map<string, Array<(v: unknown) => void>>();
  let next = 1;
  const shell = {
    self: "leader",
    node: { meta: { config: { consensus: { voters: 5 } } }, mode: () => "read-write" },
    exec: (fn: (m: unknown) => unknown) => {
      const raft = {
        proposeAll: (_sm: string, cmds: Array<{ key: string }>) => {
          groups.push(cmds.map((c) => c.key));
          const first = next;
          next += cmds.length;
          return { ok: true, first, term: 1 };
        },
      };
      return { result: fn({ raft }), effects: { send: [] } };
    },
    wait: (_mod: string, key: string) => new Promise((r) => waits.set(key, [...(waits.get(key) ?? []), r])),
    commit: () => {},
    arm: async () => {},
  } as unknown as Shell;
  /** Apply indexes `from..to`: every wait on them is answered. */
  const apply = (from: number, to: number) => {
    for (let i = from; i <= to; i++) for (const r of waits.get(`applied:${i}`) ?? []) r({ term: 1, result: { version: i, namespace: "n", key: `k${i}` } });
  };
  const put = (key: string) => writeMemory(shell, { op: "put", ns: "n", key, value: 1 }, 0, Date.now() + 60_000);
  return { groups, apply, put };
}

const turn = () => new Promise((r) => setTimeout(r, 0));

describe("group commit at the leader", () => {
  test("a lone write is proposed at once; writes arriving while a group commits go together in the next", async () => {
    const l = fakeLeader();
    const a = l.put("a");
    await turn();
    expect(l.groups).toEqual([["a"]]);
    const more = ["b", "c", "d"].map((k) => l.put(k));
    await turn();
    expect(l.groups).toEqual([["a"]]); // still committing a
    l.apply(1, 1);
    expect((await a).ok).toBe(true);
    await turn();
    await turn();
    expect(l.groups).toEqual([["a"], ["b", "c", "d"]]);
    l.apply(2, 4);
    expect((await Promise.all(more)).map((r) => r.ok)).toEqual([true, true, true]);
  });

  test("when a group is applied, the requests already waiting to run join the next group (one turn of the event loop)", async () => {
    const l = fakeLeader();
    const a = l.put("a");
    await turn();
    const b = l.put("b"); // queued behind a
    await turn();
    // c is on its way in (e.g. a writer just answered, back with its next write): it runs on the next turn.
    let c: ReturnType<typeof l.put> | null = null;
    setTimeout(() => (c = l.put("c")), 0);
    l.apply(1, 1);
    await a;
    await turn();
    await turn();
    // Proposed straight away, the next group would have been [b] alone, and c would wait a whole commit.
    expect(l.groups).toEqual([["a"], ["b", "c"]]);
    l.apply(2, 3);
    expect((await b).ok).toBe(true);
    expect((await c!)!.ok).toBe(true);
  });
});
