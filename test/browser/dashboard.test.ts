// The dashboard in a real browser: Debian's Chromium (driven by playwright-core) against a real
// `wrangler dev` started here on a free port with its own state directory. The page must show as many
// agent nodes as the status API reports, in natural order, and when an agent is crashed through the
// page, its node must turn the dead colour. A screenshot is saved under .wrangler/.
// Skipped (and said so by vitest.config.ts) when /usr/bin/chromium is not installed.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.MESH_CHROMIUM ?? "/usr/bin/chromium"; // as vitest.config.ts
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TOKEN = "dev-token"; // .dev.vars, read by wrangler dev
const SWARM = "browser";
const VICTIM = "agent-3";
const DEAD_RGB = "rgb(248, 81, 73)"; // --dead in public/index.html

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe.skipIf(!existsSync(CHROMIUM))("dashboard in Chromium on wrangler dev", () => {
  let wrangler: ChildProcess | null = null;
  let persist = "";
  let profile = "";
  let base = "";
  let output = "";
  let context: BrowserContext | null = null;

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, body: (await r.json().catch(() => null)) as any };
  };

  /** Retry a request while the mesh answers 5xx (a side briefly read-only, a proposal not yet decided). */
  const waitForOk = async (f: () => Promise<{ status: number; body: any }>) => {
    const start = Date.now();
    for (;;) {
      const r = await f();
      if (r.status > 0 && r.status < 500) return r;
      if (Date.now() - start > 60_000) throw new Error(`no answer: ${r.status} ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };

  beforeAll(async () => {
    const port = await freePort();
    const inspector = await freePort();
    persist = mkdtempSync(join(tmpdir(), "meshwork-state-"));
    profile = mkdtempSync(join(tmpdir(), "meshwork-chromium-"));
    base = `http://127.0.0.1:${port}`;
    const bin = join(ROOT, "node_modules", ".bin");
    wrangler = spawn(join(bin, "wrangler"), ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", persist], {
      cwd: ROOT,
      // node_modules/.bin first: wrangler runs on the node@22 dev dependency, as under npm scripts.
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, WRANGLER_SEND_METRICS: "false", CI: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: killed with its workerd children in afterAll
    });
    const keep = (d: Buffer) => void (output = (output + d.toString()).slice(-20_000));
    wrangler.stdout!.on("data", keep);
    wrangler.stderr!.on("data", keep);
    const start = Date.now();
    for (;;) {
      try {
        if ((await fetch(`${base}/health`)).ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() - start > 90_000 || wrangler.exitCode !== null) throw new Error(`wrangler dev did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const created = await api("POST", "/v1/swarms", {
      swarmId: SWARM, agents: 12, gossip: { intervalMs: 200 }, failure: { heartbeatMs: 200, timeoutMs: 2000 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    if (wrangler?.pid) {
      try {
        process.kill(-wrangler.pid, "SIGTERM");
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 1500));
      try {
        process.kill(-wrangler.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    for (const d of [persist, profile]) if (d) rmSync(d, { recursive: true, force: true });
  }, 30_000);

  test("shows every agent the status API reports, in natural order; a crash from the page turns its node dead", async () => {
    const status = await api("GET", `/v1/swarms/${SWARM}`);
    expect(status.status).toBe(200);
    const n = status.body.agents.length;
    expect(n).toBe(12);

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      viewport: { width: 1400, height: 1000 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${base}/?swarm=${SWARM}`);

    // The live stream draws one node per agent.
    await page.waitForFunction((count) => (globalThis as any).document.querySelectorAll("#graph g.node").length === count, n, { timeout: 30_000 });
    expect(await page.locator("#graph g.node").count()).toBe(n);
    // Agents in natural order (agent-2 before agent-10), in the table and around the ring.
    const rows = await page.locator("#agents tr[data-agent]").evaluateAll((trs) => trs.map((t) => t.getAttribute("data-agent")));
    expect(rows).toEqual(Array.from({ length: 12 }, (_, i) => `agent-${i + 1}`));
    // A leader is marked.
    await page.waitForSelector('#graph g.node[data-leader="true"]', { timeout: 30_000 });

    // Crash one through the page: its node turns the dead colour once the failure detector agrees.
    await page.click(`button[data-action="crash"][data-agent="${VICTIM}"]`);
    const node = `#graph g.node[data-agent="${VICTIM}"]`;
    await page.waitForSelector(`${node}[data-status="dead"]`, { timeout: 30_000 });
    const fill = await page.locator(`${node} circle.body`).evaluate((c) => (globalThis as any).getComputedStyle(c).fill as string);
    expect(fill).toBe(DEAD_RGB);
    // The others stay alive.
    expect(await page.locator('#graph g.node[data-status="alive"]').count()).toBe(n - 1);

    // A proposal (gossip voting, every live agent votes itself) shows in the proposals panel with its votes.
    const made = await waitForOk(() => api("POST", `/v1/swarms/${SWARM}/proposals`, { proposalId: "dash-1", proposal: { coordination_protocol: "gossip", consensus_threshold: 0.67 } }));
    expect(made.status, JSON.stringify(made.body)).toBe(202);
    const decided = await waitForOk(async () => {
      const r = await api("GET", `/v1/swarms/${SWARM}/proposals/dash-1`);
      return r.status === 200 && r.body.status !== "pending" ? r : { ...r, status: 0 };
    });
    const v = decided.body.votes;
    const row = page.locator("#proposals tr", { hasText: "dash-1" });
    await row.waitFor({ timeout: 30_000 });
    await page.waitForFunction(
      (want) => [...(globalThis as any).document.querySelectorAll("#proposals tr")].some((tr: any) => tr.textContent.includes("dash-1") && tr.textContent.includes(want)),
      `${v.approve} / ${v.reject} / ${v.eligible}`, { timeout: 30_000 },
    );
    expect(await row.textContent()).toContain(decided.body.status);

    await page.waitForSelector("#report dl", { timeout: 30_000 });
    mkdirSync(join(ROOT, ".wrangler"), { recursive: true });
    await page.screenshot({ path: join(ROOT, ".wrangler", "dashboard.png"), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
