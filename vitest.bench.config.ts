import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-plugin";

// `npm run bench` (second half): measurements that need workerd. Not part of `npm test`.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { MESH_TOKEN: "test-token", MESH_CHAOS: "on", MESH_ENV: "test" } },
          }),
        ],
        test: { name: "bench-workers", include: ["bench/workers/**/*.bench.test.ts"], testTimeout: 300_000 },
      },
    ],
  },
});
