import { describe, expect, test } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

// One module per protocol: a protocol folder under src/core may import shared code (the module
// interface, ids, config, the row store's key helpers, rng, hash, sorted arrays, crypto), pure libraries (topology,
// gossip) and the state-machine interface of the replicated log — never another protocol's internals.
// Only the registration (src/core/modules.ts) and the composer (src/core/node.ts) see every module.
const SHARED = new Set(["protocol.ts", "ids.ts", "config.ts", "store.ts", "rng.ts", "hash.ts", "envelope.ts", "sorted.ts"]);
const LIBRARIES = new Set(["topology", "gossip", "crypto"]);
/**
 * Pure protocol engines with no module of their own, each driven by exactly one module folder: PBFT and
 * gossip voting are run by the decisions module (`proposals/`). Only that folder may import them; they
 * are themselves checked like any protocol folder.
 */
const ENGINES: Record<string, string> = { pbft: "proposals", vote: "proposals" };
/** Interfaces a protocol folder publishes for others to implement. */
const PUBLISHED = new Set(["raft/statemachine.ts"]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function violations(file: string, source: string): string[] {
  const rel = relative("src/core", file);
  const folder = rel.includes("/") ? rel.split("/")[0] : null;
  if (!folder || LIBRARIES.has(folder)) return [];
  const out: string[] = [];
  for (const m of source.matchAll(/from\s+["'](\.[^"']+)["']/g)) {
    const target = relative("src/core", normalize(join(dirname(file), m[1])));
    const tFolder = target.includes("/") ? target.split("/")[0] : null;
    const ok =
      tFolder === folder || (tFolder === null && SHARED.has(`${target}.ts`)) || (tFolder !== null && LIBRARIES.has(tFolder)) ||
      PUBLISHED.has(`${target}.ts`) || (tFolder !== null && ENGINES[tFolder] === folder);
    if (!ok) out.push(`${rel} imports ${target}`);
  }
  return out;
}

describe("module boundaries", () => {
  const sources = files("src/core");

  test("no protocol folder imports another protocol's internals", () => {
    const hits = sources.flatMap((f) => violations(f, readFileSync(f, "utf8")));
    expect(hits).toEqual([]);
  });

  test("the checker catches a protocol reaching into another", () => {
    expect(violations("src/core/messages/log.ts", `import { Raft } from "../raft/raft";`)).toEqual(["messages/log.ts imports raft/raft"]);
    expect(violations("src/core/memory/kv.ts", `import type { StateMachine } from "../raft/statemachine";`)).toEqual([]);
    // An engine is open to its one module only.
    expect(violations("src/core/proposals/module.ts", `import { Pbft } from "../pbft/pbft";`)).toEqual([]);
    expect(violations("src/core/memory/kv.ts", `import { Pbft } from "../pbft/pbft";`)).toEqual(["memory/kv.ts imports pbft/pbft"]);
  });

  test("the composer holds no protocol logic and stays small", () => {
    const node = readFileSync("src/core/node.ts", "utf8");
    expect(node.split("\n").length).toBeLessThan(250);
    // It names no protocol module except through the registry and the membership view it hands out.
    expect(node).not.toMatch(/mods\.(raft|messages|health)\b/);
  });
});
