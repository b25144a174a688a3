// Shared plumbing of the benches that run against a real `wrangler dev` (workerd with embedded SQLite):
// start and stop it on a free port with its own state directory, call the API, record rows.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Row { bench: string; metric: string; value: number; bound: number | null; ratio: number | null; note?: string }

/** Rows and their printing: one JSON line each with `--json`, else a line on stderr and a table at the end. */
export class Recorder {
  readonly rows: Row[] = [];
  constructor(readonly json: boolean) {}
  record(bench: string, metric: string, value: number, bound: number | null, note?: string): void {
    const ratio = bound ? Math.round((value / bound) * 1000) / 1000 : null;
    const row: Row = { bench, metric, value: Math.round(value * 1000) / 1000, bound: bound === null ? null : Math.round(bound * 1000) / 1000, ratio, note };
    this.rows.push(row);
    if (this.json) console.log(JSON.stringify(row));
    else console.error(`  ${bench} · ${metric}: ${row.value}${bound !== null ? ` (vs ${row.bound}, ratio ${ratio})` : ""}${note ? ` — ${note}` : ""}`);
  }
  log(s: string): void {
    if (!this.json) console.error(s);
  }
  table(): void {
    if (this.json) return;
    console.log("\n| bench | metric | value | bound | ratio | note |\n|---|---|---|---|---|---|");
    for (const r of this.rows) console.log(`| ${r.bench} | ${r.metric} | ${r.value} | ${r.bound ?? "—"} | ${r.ratio ?? "—"} | ${r.note ?? ""} |`);
  }
}

/** A `wrangler dev` of this project on a random port, with a fresh state directory. */
export class Wrangler {
  readonly port = 8790 + Math.floor(Math.random() * 100);
  readonly base = `http://127.0.0.1:${this.port}`;
  private child: ChildProcess | null = null;
  private dir = "";

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "meshwork-bench-"));
    const out = openSync(join(this.dir, "wrangler.log"), "a");
    this.child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(this.port), "--persist-to", join(this.dir, "state"), "--show-interactive-dev-session=false"], {
      stdio: ["ignore", out, out],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${this.base}/health`)).ok) return;
      } catch {
        // not up yet
      }
      await sleep(300);
    }
    throw new Error(`wrangler dev did not start (log: ${join(this.dir, "wrangler.log")})`);
  }

  stop(): void {
    this.child?.kill("SIGINT");
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }

  /** An API call with the development token (.dev.vars); no answer within `timeoutMs` throws. */
  async api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ status: number; body: any }> {
    try {
      return await this.once(method, path, body, headers, timeoutMs);
    } catch (err) {
      // A kept-alive connection the server closed while this process was busy (undici reuses it and
      // sees "other side closed"). An idempotent request is retried once, on a new connection.
      if ((err as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET" || method === "POST") throw err;
      return this.once(method, path, body, headers, timeoutMs);
    }
  }

  private async once(method: string, path: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: any }> {
    const r = await fetch(`${this.base}${path}`, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      headers: { authorization: "Bearer dev-token", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  }
}
