#!/usr/bin/env node
// `npm run bench [-- --json] [-- --only <name>] [-- --trials <n>]`: the simulator benches (bench/run.ts),
// the workerd benches on a real `wrangler dev` (bench/workerd.ts), both bundled with esbuild and run
// under Node, then the workerd throughput bench (vitest with vitest.bench.config.ts).
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const json = args.includes("--json");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const run = (cmd, argv, opts = {}) => {
  const r = spawnSync(cmd, argv, { stdio: opts.capture ? ["inherit", "pipe", "inherit"] : "inherit", encoding: "utf8", ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout ?? "";
};
const bundle = (entry, out) =>
  run("esbuild", [entry, "--bundle", "--platform=node", "--format=esm", "--target=node22", `--outfile=${out}`, "--log-level=warning"]);

const SIM = ["write-cost", "sim-scale", "gossip-dissemination", "failure-detection", "cost", "raft-election", "raft-safety", "partitions", "voter-placement", "pbft", "vote-gossip", "tasks-ring", "tasks-faults"];
const WORKERD = ["write-scale", "first-write", "failover", "cadence", "idle-cost"];
const wants = (names) => !only || names.some((n) => n.includes(only));

if (wants(SIM)) {
  bundle("bench/run.ts", ".wrangler/bench/run.mjs");
  run("node", [".wrangler/bench/run.mjs", ...args]);
}
if (wants(WORKERD)) {
  bundle("bench/workerd.ts", ".wrangler/bench/workerd.mjs");
  run("node", [".wrangler/bench/workerd.mjs", ...args]);
}
if (wants(["decisions"])) {
  bundle("bench/decisions.ts", ".wrangler/bench/decisions.mjs");
  run("node", [".wrangler/bench/decisions.mjs", ...args]);
}
// The benches that run inside workerd (vitest.bench.config.ts): one file each.
const VITEST = { "replicated-writes": "bench/workers/replication.bench.test.ts", tasks: "bench/workers/tasks.bench.test.ts" };
const files = Object.entries(VITEST).filter(([name]) => wants([name])).map(([, file]) => file);
if (files.length === 0) process.exit(0);
if (!json) console.error(`▶ ${Object.keys(VITEST).filter((n) => wants([n])).join(", ")} (workerd)`);
const out = run("vitest", ["run", "--config", "vitest.bench.config.ts", "--silent=false", "--reporter=dot", ...files], { capture: true });
const rows = out.split("\n").map((l) => l.slice(l.indexOf('{"bench"'))).filter((l) => l.startsWith('{"bench"')).map((l) => JSON.parse(l));
if (json) for (const r of rows) console.log(JSON.stringify(r));
else {
  console.log("\n| bench | metric | value | bound | ratio |\n|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.bench} | ${r.metric} | ${r.value} | ${r.bound ?? "—"} | ${r.ratio ?? "—"} |`);
}
