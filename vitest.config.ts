import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-plugin";

// Three projects: `core` runs the pure protocol cores and the simulator in plain Node;
// `workers` runs the router and real Durable Objects inside workerd; `browser` drives the dashboard in
// Debian's Chromium against a real `wrangler dev` (skipped, and said so here, without /usr/bin/chromium).
// MESH_CHROMIUM points elsewhere (another build, or a missing path to see the skip).
const CHROMIUM = process.env.MESH_CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) {
  console.log(`browser project: ${CHROMIUM} not found, so the dashboard's browser test is SKIPPED (apt-get install -y chromium to run it).`);
}

export default defineConfig({
  test: {
    // Agents log every membership change; show those logs only for failing tests.
    silent: "passed-only",
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ["default", ["json", { outputFile: ".wrangler/test-results.json" }]],
    projects: [
      {
        test: {
          name: "core",
          environment: "node",
          include: ["test/core/**/*.test.ts", "test/sim/**/*.test.ts"],
          // A deadline, not a speed bound: seeded runs take what they take on a loaded machine.
          testTimeout: 600_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { MESH_TOKEN: "test-token", MESH_CHAOS: "on", MESH_ENV: "test" } },
          }),
        ],
        test: {
          name: "workers",
          // One file at a time: the timing tests (50 ms alarms) measure the mesh, not a CPU fight
          // between test files on a 2-core machine.
          fileParallelism: false,
          include: ["test/workers/**/*.test.ts"],
          // Generous: waits inside tests are deadlines for outcomes, never speed bounds (npm run bench has those).
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
