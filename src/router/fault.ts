// HTTP adapter for `POST /v1/swarms/:id/fault-tolerance`; the logic is in services/fault.ts.
import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { readJson } from "./body";
import { json } from "./errors";
import { EmptyQuery, FaultTolerance, parse, pathId, queryParams } from "./schemas";
import * as svc from "./services/fault";

export async function faultTolerance(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(FaultTolerance, await readJson(req));
  return json(await svc.faultTolerance(env, swarmId, body));
}
