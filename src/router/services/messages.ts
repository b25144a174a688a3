// Messages (`daa_communication`, `agent_inbox`): a message enters the mesh at the sender's origin
// agent; the inbox is read from the recipient agent itself. Shared by the HTTP routes and the MCP tools.
import { isRefusal, type InboxPage, type Refusal } from "../../contract";
import { hash32 } from "../../core/hash";
import type { Env } from "../../env";
import { ApiError } from "../errors";
import { agentError, agentStub, checkVia, getSwarm, requireMember, unwrap, type EntryOptions } from "../mesh";
import type { PostMessageBody } from "../schemas";

export interface PostedMessage {
  messageId: string;
  recipients: string[];
  origin: string;
}

export interface InboxMessage {
  messageId: string;
  from: string;
  message: Record<string, unknown>;
  sentAt: number;
  receivedAt: number;
}

export interface Inbox {
  messages: InboxMessage[];
  next: string | null;
}

/**
 * The origin of a sender's messages: the sender itself when it is an agent of the swarm, `via` when
 * given, otherwise the live agent ranked first for this sender label by rendezvous hashing — so one
 * outside sender's messages share one stream (and its order) while that agent lives.
 */
function originOrder(from: string, agents: string[]): string[] {
  return agents
    .map((a) => ({ a, h: hash32(`${from}|${a}`) }))
    .sort((x, y) => y.h - x.h || (x.a < y.a ? -1 : 1))
    .map((x) => x.a);
}

/** `POST /v1/swarms/:id/messages` (`daa_communication`). */
export async function postMessage(env: Env, swarmId: string, body: PostMessageBody, opts: EntryOptions = {}): Promise<PostedMessage> {
  const rec = await getSwarm(env, swarmId);
  if (body.to !== "all") requireMember(rec, body.to);
  const via = opts.via ?? null;
  let candidates: string[];
  if (via !== null) {
    candidates = [checkVia(rec, via)];
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
      return { ...r, origin };
    } catch (err) {
      last = err;
    }
  }
  // A single origin, or every origin tried is on a read-only side: that agent's answer is the answer.
  if (candidates.length === 1 || (isRefusal(last) && last.refused === "read_only")) throw agentError(last, candidates[0]);
  throw new ApiError(503, "no_quorum", `No agent of swarm ${swarmId} accepted the message.`);
}

/** `GET /v1/swarms/:id/agents/:agentId/inbox` (`agent_inbox`): messages after the cursor `after`. */
export async function readInbox(env: Env, swarmId: string, agentId: string, page: { after: number; limit: number }): Promise<Inbox> {
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, agentId);
  let r: InboxPage | Refusal;
  try {
    r = await agentStub(env, swarmId, agentId).inbox(page.after, page.limit);
  } catch (err) {
    throw agentError(err, agentId);
  }
  const got = unwrap<InboxPage>(r, agentId);
  return {
    messages: got.messages.map(({ messageId, from, message, receivedAt, sentAt }) => ({ messageId, from, message, sentAt, receivedAt })),
    next: got.next,
  };
}
