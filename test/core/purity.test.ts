import { describe, expect, test } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

// DESIGN.md principle 1: src/core is pure and deterministic — no clock, randomness, timers or I/O.
const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bDate\.now\b|\bnew Date\(/, "clock"],
  [/\bperformance\.now\b/, "clock"],
  [/\bMath\.random\b/, "randomness"],
  [/\brandomUUID\b|\bgetRandomValues\b/, "randomness"],
  [/\bsetTimeout\b|\bsetInterval\b|\bqueueMicrotask\b/, "timers"],
  [/\bfetch\s*\(/, "I/O"],
  [/from\s+["']cloudflare:|from\s+["']node:/, "platform import"],
  [/\bconsole\./, "I/O (logging goes out as effects.events)"],
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("src/core purity", () => {
  const sources = files("src/core");

  test("there are core sources to check", () => {
    expect(sources.length).toBeGreaterThan(5);
  });

  test.each(sources)("%s uses no clock, randomness, timers or I/O", (file) => {
    const lines = readFileSync(file, "utf8").split("\n");
    const hits: string[] = [];
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "").replace(/^\s*\*.*$/, "");
      for (const [re, what] of FORBIDDEN) if (re.test(code)) hits.push(`${file}:${i + 1} (${what}): ${line.trim()}`);
    });
    expect(hits).toEqual([]);
  });

  test("the checker itself catches a violation", () => {
    const bad = "const t = Date.now(); const r = Math.random();";
    expect(FORBIDDEN.some(([re]) => re.test(bad))).toBe(true);
  });
});
