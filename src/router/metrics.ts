// HTTP adapters for the report and the monitor stream (services/metrics.ts holds the logic).
//
// The monitor is Server-Sent Events: `event: snapshot` every `interval` ms (`id` = its sequence number),
// then `event: end` after `count` snapshots or MAX_STREAM_MS. The Worker streams through a
// TransformStream: the handler returns the readable side at once and a detached loop writes into it;
// a write that fails means the client left, and the loop stops. Auth is the same Bearer header as
// every `/v1/*` route — never a token in the URL (URLs end up in logs): a browser's EventSource cannot
// send a header, so the dashboard reads the stream with fetch(), which can.
import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { ApiError, badRequest, errorResponse, json } from "./errors";
import { MONITOR_INTERVAL, MonitorQuery, parse, pathId, queryParams, ReportQuery } from "./schemas";
import * as svc from "./services/metrics";

/** A stream ends after this long even when no count was asked (the dashboard reconnects). */
export const MAX_STREAM_MS = 30 * 60_000;
const MAX_COUNT = 10_000;

export async function getReport(req: IRequest, env: Env): Promise<Response> {
  const q = parse(ReportQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const report = await svc.performanceReport(env, swarmId, q.timeframe ?? "24h");
  if (q.format === "markdown") {
    return new Response(svc.reportMarkdown(report), { headers: { "content-type": "text/markdown; charset=utf-8" } });
  }
  return json(report);
}

export interface MonitorOptions {
  intervalMs: number;
  count: number | null;
  sections: ReturnType<typeof svc.parseSections>;
}

/** Validate a monitor request (query first, then the swarm: an unknown swarm is a 404 before any stream). */
export function monitorOptions(query: Record<string, string>): MonitorOptions {
  const q = parse(MonitorQuery, query, "query");
  const intervalMs = q.interval === undefined ? MONITOR_INTERVAL.default : Number(q.interval);
  if (intervalMs < MONITOR_INTERVAL.min || intervalMs > MONITOR_INTERVAL.max) {
    throw badRequest(`Invalid query: query.interval must be ${MONITOR_INTERVAL.min} to ${MONITOR_INTERVAL.max} ms.`, { field: "query.interval" });
  }
  const count = q.count === undefined ? null : Number(q.count);
  if (count !== null && (count < 1 || count > MAX_COUNT)) {
    throw badRequest(`Invalid query: query.count must be 1 to ${MAX_COUNT}.`, { field: "query.count" });
  }
  return { intervalMs, count, sections: svc.parseSections(q.metrics) };
}

export async function getMonitor(req: IRequest, env: Env): Promise<Response> {
  const opts = monitorOptions(queryParams(req));
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const monitor = await svc.startMonitor(env, swarmId, opts.sections);
  return sse(env, monitor, opts);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function sse(env: Env, monitor: svc.Monitor, o: MonitorOptions): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const enc = new TextEncoder();
  const send = (text: string) => writer.write(enc.encode(text));
  const run = async () => {
    let t0 = 0;
    let reason = "count";
    try {
      // Reconnect after 3 s if the stream ends; a comment line first so proxies flush the headers.
      await send(`retry: 3000\n: meshwork monitor of ${monitor.swarmId}, every ${o.intervalMs} ms\n\n`);
      for (let i = 0; o.count === null || i < o.count; i++) {
        // The schedule starts at the first snapshot: the i-th is due i intervals after it.
        if (i === 0) t0 = Date.now();
        const dueAt = t0 + i * o.intervalMs;
        if (dueAt - t0 > MAX_STREAM_MS) {
          reason = "max_duration";
          break;
        }
        const wait = dueAt - Date.now();
        if (wait > 0) await sleep(wait);
        let snapshot: Record<string, unknown>;
        try {
          snapshot = await svc.nextSnapshot(env, monitor, Math.max(Date.now(), dueAt));
        } catch (err) {
          // The swarm went away (or the registry did not answer): say so in the stream's error shape and stop.
          const body = await errorResponse(err instanceof ApiError ? err : new ApiError(503, "no_quorum", "The swarm could not be read.")).text();
          await send(`event: error\ndata: ${body}\n\n`);
          reason = "error";
          break;
        }
        await send(`id: ${snapshot.seq}\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      }
      await send(`event: end\ndata: ${JSON.stringify({ reason, snapshots: monitor.seq })}\n\n`);
      await writer.close();
    } catch {
      // The client went away: nothing to write to.
      await writer.abort().catch(() => {});
    }
  };
  void run();
  return new Response(readable, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    },
  });
}
