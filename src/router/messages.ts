// Messages (`daa_communication`): POST enters the mesh at the sender's origin agent; the inbox is read
// from the recipient agent itself.
import type { IRequest } from "itty-router";
import { z } from "zod";
import { isRefusal, type InboxPage, type Refusal } from "../contract";
import { hash32 } from "../core/hash";
import type { Env } from "../env";
import { readJson } from "./body";
import { ApiError, badRequest, json } from "./errors";
import { agentError, agentStub, getSwarm, requireMember, unwrap } from "./mesh";
import { EmptyQuery, Id, parse, pathId, queryParams } from "./schemas";

export const PostMessage = z.strictObject({
  from: Id,
  to: z.union([z.literal("all"), Id]),
  message: z.record(z.string(), z.unknown()),
});

export const InboxQuery = z.strictObject({
  after: z.string().regex(/^\d{1,15}$/, "must be a cursor returned as `next`").optional(),
  limit: z.string().regex(/^\d{1,4}$/, "must be an integer 1..1000").optional(),
});


/**
 * The origin of a sender's messages: the sender itself when it is an agent of the swarm, `X-Mesh-Via`
 * when given, otherwise the live agent ranked first for this sender label by rendezvous hashing — so
 * one outside sender's messages share one stream (and its order) while that agent lives.
 */
function originOrder(from: string, agents: string[]): string[] {
  return agents
    .map((a) => ({ a, h: hash32(`${from}|${a}`) }))
    .sort((x, y) => y.h - x.h || (x.a < y.a ? -1 : 1))
    .map((x) => x.a);
}

export async function postMessage(req: IRequest, env: Env): Promise<Response> {
  parse(EmptyQuery, queryParams(req), "query");
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const body = parse(PostMessage, await readJson(req));
  const rec = await getSwarm(env, swarmId);
  if (body.to !== "all") requireMember(rec, body.to);
  const via = req.headers.get("x-mesh-via");
  let candidates: string[];
  if (via !== null) {
    if (!Id.safeParse(via).success) throw badRequest("X-Mesh-Via must be an agent id.", { field: "header.x-mesh-via" });
    requireMember(rec, via);
    candidates = [via];
  } else if (rec.agents.includes(body.from)) {
    candidates = [body.from];
  } else {
    candidates = originOrder(body.from, rec.agents).slice(0, 5);
  }
  let last: unknown = null;
  for (const origin of candidates) {
    try {
      const r = await agentStub(env, swarmId, origin).post(body.from, body.to, body.message);
      if (isRefusal(r)) {
        last = r;
        continue;
      }
      return json({ ...r, origin }, 202);
    } catch (err) {
      last = err;
    }
  }
  // A single origin, or every origin tried is on a read-only side: that agent's answer is the answer.
  if (candidates.length === 1 || (isRefusal(last) && last.refused === "read_only")) throw agentError(last, candidates[0]);
  throw new ApiError(503, "no_quorum", `No agent of swarm ${swarmId} accepted the message.`);
}

export async function getInbox(req: IRequest, env: Env): Promise<Response> {
  const swarmId = pathId(req.params.swarmId, "swarmId");
  const agentId = pathId(req.params.agentId, "agentId");
  const q = parse(InboxQuery, queryParams(req), "query");
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (limit < 1 || limit > 1000) throw badRequest("limit must be between 1 and 1000.", { field: "query.limit" });
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, agentId);
  let r: InboxPage | Refusal;
  try {
    r = await agentStub(env, swarmId, agentId).inbox(q.after === undefined ? 0 : Number(q.after), limit);
  } catch (err) {
    throw agentError(err, agentId);
  }
  const page = unwrap<InboxPage>(r, agentId);
  return json({
    messages: page.messages.map(({ messageId, from, message, receivedAt, sentAt }) => ({ messageId, from, message, sentAt, receivedAt })),
    next: page.next,
  });
}
