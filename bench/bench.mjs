#!/usr/bin/env node
// `npm run bench [-- --json] [-- --only <name>]`: the simulator benches (bench/run.ts, bundled with
// esbuild and run under Node), then the workerd benches (vitest with vitest.bench.config.ts).
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const json = args.includes("--json");
const run = (cmd, argv, opts = {}) => {
  const r = spawnSync(cmd, argv, { stdio: opts.capture ? ["inherit", "pipe", "inherit"] : "inherit", encoding: "utf8", ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout ?? "";
};

run("esbuild", ["bench/run.ts", "--bundle", "--platform=node", "--format=esm", "--target=node22", "--outfile=.wrangler/bench/run.mjs", "--log-level=warning"]);
run("node", [".wrangler/bench/run.mjs", ...args]);

const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
if (only && !"replicated-writes".includes(only)) process.exit(0);
if (!json) console.error("▶ replicated-writes (workerd)");
const out = run("vitest", ["run", "--config", "vitest.bench.config.ts", "--silent=false", "--reporter=dot"], { capture: true });
const rows = out.split("\n").map((l) => l.slice(l.indexOf('{"bench"'))).filter((l) => l.startsWith('{"bench"')).map((l) => JSON.parse(l));
if (json) for (const r of rows) console.log(JSON.stringify(r));
else {
  console.log("\n| bench | metric | value | bound | ratio |\n|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.bench} | ${r.metric} | ${r.value} | ${r.bound ?? "—"} | ${r.ratio ?? "—"} |`);
}
