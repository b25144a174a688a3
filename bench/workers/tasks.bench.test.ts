// `npm run bench -- --only tasks`: task throughput through the router next to memory writes in the same
// run, and load variance before and after rebalancing (test/workers/tasks-bench.ts). Rows as JSON lines.
import { test } from "vitest";
import { rebalanceVarianceBench, tasksThroughputBench } from "../../test/workers/tasks-bench";

test("tasks", async () => {
  for (const r of await tasksThroughputBench()) console.log(JSON.stringify(r));
  for (const r of await rebalanceVarianceBench()) console.log(JSON.stringify(r));
}, 600_000);
