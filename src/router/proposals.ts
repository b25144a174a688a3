// HTTP adapters for proposals and votes (`daa_consensus`); the logic is in services/proposals.ts.
import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { readJson } from "./body";
import { json } from "./errors";
import { CastVote, CreateProposal, EmptyQuery, parse, pathId, queryParams } from "./schemas";
import * as svc from "./services/proposals";

export async function createProposal(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(CreateProposal, await readJson(req));
  return json(await svc.createProposal(env, swarmId, body, { via: req.headers.get("x-mesh-via") }), 202);
}

export async function castVote(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const proposalId = pathId(req.params.proposalId, "proposalId");
  const body = parse(CastVote, await readJson(req));
  return json(await svc.castVote(env, swarmId, proposalId, body));
}

export async function getProposal(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  return json(await svc.getProposal(env, pathId(req.params.swarmId, "swarmId"), pathId(req.params.proposalId, "proposalId")));
}

export async function listProposals(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  return json(await svc.listProposals(env, pathId(req.params.swarmId, "swarmId"), { via: req.headers.get("x-mesh-via") }));
}
