// Agent messages (`daa_communication`): exactly-once, in-order-per-sender delivery over the mesh.
//
// Each message belongs to a stream `<from>@<origin>`: the agent where it entered the mesh (its
// origin) numbers the stream 1, 2, 3 … and persists it before acknowledging. Messages flood over the
// overlay (every agent forwards a message it sees for the first time to its peers; the overlay has no
// cut vertex, so one failed relay never cuts anyone off) and every agent keeps a bounded window of each
// stream, so that anti-entropy (stream heads riding on the membership module's push-pull, through this
// module's delegate) fills any gap left by a crash or a lost envelope. Delivery per recipient walks the
// stream in order: a message is delivered once, when every earlier message of its stream has been seen.
import { isId } from "../ids";
import type { Context, Envelope, Module, Persisted, SyncDelegate } from "../protocol";
import { num } from "../store";

export interface Message {
  stream: string;
  seq: number;
  /** Sender label (an agent id, or an outside label such as the seed's `mesh-coordinator`). */
  from: string;
  to: string | "all";
  body: Record<string, unknown>;
  /** When the origin accepted it. */
  at: number;
}

/** One delivered message as stored in the recipient's inbox (the row's key carries its cursor). */
export interface InboxEntry {
  messageId: string;
  from: string;
  message: Record<string, unknown>;
  sentAt: number;
  receivedAt: number;
}

export interface StreamState {
  /** Next sequence number to deliver (everything below it has been processed). */
  next: number;
  /** Highest sequence number this agent assigned (origin only). */
  assigned: number;
}

/** How many messages of each stream every agent keeps for repairs (trimmed in batches of TRIM_BATCH). */
export const RETAIN_PER_STREAM = 2000;
const TRIM_BATCH = 100;
/** How many messages one repair answer carries. */
export const REPAIR_BATCH = 200;
export const INBOX_PREFIX = "inbox:";
const STREAM_PREFIX = "stream:";
const LOG_PREFIX = "log:";

export function messageId(m: Pick<Message, "stream" | "seq">): string {
  return `${m.stream}#${m.seq}`;
}

export function streamOf(from: string, origin: string): string {
  return `${from}@${origin}`;
}

/** The cursor of an inbox row key. */
export function inboxCursor(key: string): number {
  return Number(key.slice(INBOX_PREFIX.length));
}

export function inboxKey(cursor: number): string {
  return INBOX_PREFIX + num(cursor);
}

export function validMessage(x: unknown): x is Message {
  if (!x || typeof x !== "object") return false;
  const m = x as Record<string, unknown>;
  if (typeof m.stream !== "string" || m.stream.length > 130) return false;
  const [from, origin, ...rest] = m.stream.split("@");
  return (
    rest.length === 0 && isId(from) && isId(origin) && m.from === from &&
    typeof m.seq === "number" && Number.isSafeInteger(m.seq) && m.seq >= 1 &&
    (m.to === "all" || isId(m.to)) &&
    !!m.body && typeof m.body === "object" && !Array.isArray(m.body) &&
    typeof m.at === "number" && Number.isFinite(m.at)
  );
}

const validMessages = (x: unknown): x is Message[] => Array.isArray(x) && x.length <= 1000 && x.every(validMessage);

function validHeads(x: unknown): x is Array<[string, number]> {
  return (
    Array.isArray(x) && x.length <= 5000 &&
    x.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && h[0].length <= 130 &&
      typeof h[1] === "number" && Number.isSafeInteger(h[1]) && h[1] >= 0)
  );
}

export class Messages implements Module {
  readonly name = "messages";
  readonly coldPrefixes = [INBOX_PREFIX];
  private readonly streams = new Map<string, StreamState>();
  private readonly window = new Map<string, Map<number, Message>>();
  private inboxNext = 1;
  private readonly stats = { messagesForwarded: 0, messagesDelivered: 0, messagesOriginated: 0 };

  readonly sync: SyncDelegate = {
    digest: () => this.heads(),
    answer: (theirs) => {
      if (!validHeads(theirs)) return null;
      const data = this.missingFor(theirs);
      const behind = this.behind(theirs);
      if (data.length === 0 && !behind) return null;
      return { ...(data.length ? { data } : {}), ...(behind ? { digest: this.heads() } : {}) };
    },
    missing: (theirs) => {
      if (!validHeads(theirs)) return null;
      const data = this.missingFor(theirs);
      return data.length ? data : null;
    },
    merge: (data, from) => this.ingestAll(data as Message[], from),
    validDigest: validHeads,
    validData: validMessages,
  };

  constructor(private readonly ctx: Context) {}

  restore(p: Persisted): void {
    for (const [k, v] of p.rows) {
      if (k.startsWith(STREAM_PREFIX)) this.streams.set(k.slice(STREAM_PREFIX.length), { ...(v as StreamState) });
      else if (k.startsWith(LOG_PREFIX)) {
        const m = v as Message;
        this.windowOf(m.stream).set(m.seq, m);
      }
    }
    const last = p.last.get(INBOX_PREFIX);
    if (last !== undefined) this.inboxNext = inboxCursor(last) + 1;
  }

  validate(env: Envelope): string | null {
    return env.type === "msg" && validMessages(env.messages) ? null : `bad messages.${String(env.type)}`;
  }

  receive(env: Envelope): void {
    this.ingestAll(env.messages as Message[], env.from);
  }

  tick(): void {}

  nextDeadline(): number | null {
    return null;
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }

  /**
   * A message enters the mesh here (this agent is its origin): number it in the sender's stream,
   * persist it (the shell acknowledges only after the effects are stored), and flood it to the peers.
   */
  post(from: string, to: string, body: Record<string, unknown>): Message {
    const stream = streamOf(from, this.ctx.self);
    const st = this.state(stream);
    st.assigned = Math.max(st.assigned, st.next - 1) + 1;
    const m: Message = { stream, seq: st.assigned, from, to, body, at: this.ctx.now() };
    this.persistStream(stream, st);
    this.stats.messagesOriginated++;
    this.ingest(m);
    this.flood([m], null);
    return m;
  }

  /** Stream heads for anti-entropy: the highest sequence number held contiguously (or assigned), per stream. */
  heads(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [s, st] of this.streams) out.push([s, Math.max(st.next - 1, st.assigned)]);
    return out;
  }

  private ingestAll(list: Message[], from: string | null): void {
    const fresh = list.filter((m) => this.ingest(m));
    if (fresh.length > 0) this.flood(fresh, from);
  }

  /** Store a message (if new) and deliver what became contiguous. Returns true if it was new. */
  private ingest(m: Message): boolean {
    const st = this.state(m.stream);
    const w = this.windowOf(m.stream);
    if (m.seq < st.next || w.has(m.seq)) return false;
    w.set(m.seq, m);
    this.ctx.persist({ op: "put", key: `${LOG_PREFIX}${m.stream}#${num(m.seq)}`, value: m });
    let advanced = false;
    const self = this.ctx.self;
    while (w.has(st.next)) {
      const x = w.get(st.next)!;
      if ((x.to === "all" && x.from !== self) || x.to === self) {
        const entry: InboxEntry = { messageId: messageId(x), from: x.from, message: x.body, sentAt: x.at, receivedAt: this.ctx.now() };
        this.ctx.persist({ op: "put", key: inboxKey(this.inboxNext++), value: entry });
        this.stats.messagesDelivered++;
      }
      st.next++;
      advanced = true;
    }
    if (advanced || m.seq > st.assigned) this.persistStream(m.stream, st);
    this.trim(m.stream, st);
    return true;
  }

  private flood(messages: Message[], except: string | null): void {
    if (!this.ctx.active()) return;
    for (const p of this.ctx.members.peers()) {
      if (p === except) continue;
      this.stats.messagesForwarded += messages.length;
      this.ctx.send(p, "msg", { messages });
    }
  }

  /** Messages the other side lacks, given its heads (bounded). */
  private missingFor(theirHeads: Array<[string, number]>): Message[] {
    const theirs = new Map(theirHeads);
    const out: Message[] = [];
    for (const [s, w] of this.window) {
      const h = theirs.get(s) ?? 0;
      const seqs = Array.from(w.keys()).filter((q) => q > h).sort((a, b) => a - b);
      for (const q of seqs) {
        out.push(w.get(q)!);
        if (out.length >= REPAIR_BATCH) return out;
      }
    }
    return out;
  }

  /** Is the other side ahead of us on some stream? */
  private behind(theirHeads: Array<[string, number]>): boolean {
    for (const [s, h] of theirHeads) {
      const st = this.streams.get(s);
      if (!st || st.next - 1 < h) return true;
    }
    return false;
  }

  private state(stream: string): StreamState {
    let st = this.streams.get(stream);
    if (!st) this.streams.set(stream, (st = { next: 1, assigned: 0 }));
    return st;
  }

  private windowOf(stream: string): Map<number, Message> {
    let w = this.window.get(stream);
    if (!w) this.window.set(stream, (w = new Map()));
    return w;
  }

  private persistStream(stream: string, st: StreamState): void {
    this.ctx.persist({ op: "put", key: STREAM_PREFIX + stream, value: { ...st } });
  }

  /** Keep the repair window: drop a batch of the oldest messages, in memory and on disk alike. */
  private trim(stream: string, st: StreamState): void {
    const w = this.window.get(stream)!;
    if (w.size <= RETAIN_PER_STREAM + TRIM_BATCH) return;
    const floor = st.next - RETAIN_PER_STREAM;
    for (const q of w.keys()) if (q < floor) w.delete(q);
    this.ctx.persist({ op: "delRange", from: `${LOG_PREFIX}${stream}#`, to: `${LOG_PREFIX}${stream}#${num(floor)}` });
  }
}
