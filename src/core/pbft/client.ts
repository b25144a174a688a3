// The client side of PBFT (OSDI '99 §4.1), pure: an agent that submits requests (proposals, votes)
// multicasts each one to all replicas, accepts the result once f+1 replicas sent matching replies (at
// least one of them is correct), and retransmits while it has no answer. One request outstanding at a
// time: replicas keep only each client's last reply, and execute a reqId at most once (§4.1).
import type { Reply, Request, RequestMsg } from "./types";
import { exactJson } from "./digest";

export interface PbftClientOptions {
  id: string;
  replicas: string[];
  /** Resend the outstanding request to every replica this often. Default 40. */
  retryTicks?: number;
  /** The last reqId this client used (persist it: reqIds must keep growing across restarts). */
  lastReqId?: number;
}

export interface ClientOutput {
  /** Messages to send (the shell signs the request as this client before the first send: see `sign`). */
  messages: Array<{ to: string; msg: RequestMsg }>;
  /** The outstanding request completed: f+1 matching replies. */
  done: { reqId: number; result: unknown } | null;
}

export class PbftClient {
  readonly id: string;
  private readonly replicas: string[];
  private readonly f: number;
  private readonly retryTicks: number;
  lastReqId: number;
  private out: { request: Request; sentAt: number; replies: Map<string, string> } | null = null;
  private now = 0;

  constructor(o: PbftClientOptions) {
    this.id = o.id;
    this.replicas = o.replicas.slice();
    this.f = Math.floor((this.replicas.length - 1) / 3);
    this.retryTicks = o.retryTicks ?? 40;
    this.lastReqId = o.lastReqId ?? 0;
  }

  outstanding(): Request | null {
    return this.out?.request ?? null;
  }

  /**
   * Start a request for `op` (null if one is outstanding). `sign` returns the request with the client's
   * signature (the shell signs `signingPayload(request)` with this agent's key).
   */
  submit(op: unknown, sign: (r: Request) => Request): ClientOutput | null {
    if (this.out) return null;
    const request = sign({ client: this.id, reqId: ++this.lastReqId, op });
    this.out = { request, sentAt: this.now, replies: new Map() };
    return { messages: this.broadcast(request), done: null };
  }

  /** A reply that passed `validReply` and the signature check. */
  onReply(m: Reply): ClientOutput {
    const none: ClientOutput = { messages: [], done: null };
    if (!this.out || m.client !== this.id || m.reqId !== this.out.request.reqId || !this.replicas.includes(m.replica)) return none;
    this.out.replies.set(m.replica, exactJson(m.result));
    const tally = new Map<string, number>();
    for (const r of this.out.replies.values()) tally.set(r, (tally.get(r) ?? 0) + 1);
    for (const [r, count] of tally) {
      if (count >= this.f + 1) {
        const reqId = this.out.request.reqId;
        this.out = null;
        return { messages: [], done: { reqId, result: JSON.parse(r) as unknown } };
      }
    }
    return none;
  }

  tick(elapsed = 1): ClientOutput {
    this.now += Math.max(1, Math.floor(elapsed));
    if (this.out && this.now - this.out.sentAt >= this.retryTicks) {
      this.out.sentAt = this.now;
      return { messages: this.broadcast(this.out.request), done: null };
    }
    return { messages: [], done: null };
  }

  private broadcast(request: Request): Array<{ to: string; msg: RequestMsg }> {
    return this.replicas.map((to) => ({ to, msg: { type: "request", request } }));
  }
}
