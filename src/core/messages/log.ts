// Agent messages (`daa_communication`): exactly-once, in-order-per-sender delivery over the mesh.
//
// Each message belongs to a stream `<from>@<origin>`: the agent where it entered the mesh (its
// origin) numbers the stream 1, 2, 3 … and persists it before acknowledging. Messages flood over the
// overlay (every agent forwards a message it sees for the first time to its peers; the overlay has no
// cut vertex, so one failed relay never cuts anyone off) and every agent keeps a bounded window of each
// stream, so that anti-entropy (stream heads exchanged in push-pull sync) fills any gap left by a crash
// or a lost envelope. Delivery per recipient walks the stream in order: a message is delivered once,
// when every earlier message of its stream has been seen.
import { isId } from "../ids";

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

export interface InboxEntry {
  messageId: string;
  stream: string;
  seq: number;
  from: string;
  message: Record<string, unknown>;
  sentAt: number;
  receivedAt: number;
}

/** How many messages of each stream every agent keeps for repairs. */
export const RETAIN_PER_STREAM = 2000;
/** How many messages one repair answer carries. */
export const REPAIR_BATCH = 200;

export function messageId(m: Pick<Message, "stream" | "seq">): string {
  return `${m.stream}#${m.seq}`;
}

export function streamOf(from: string, origin: string): string {
  return `${from}@${origin}`;
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

export interface StreamState {
  /** Next sequence number to deliver (everything below it has been processed). */
  next: number;
  /** Highest sequence number this agent assigned (origin only). */
  assigned: number;
}

export interface LogEffects {
  /** Messages to keep (persisted window, for repairs and restarts). */
  logged: Message[];
  /** New inbox entries for this agent. */
  inbox: InboxEntry[];
  /** Stream states that changed. */
  streams: Array<[string, StreamState]>;
}

export class MessageLog {
  private readonly streams = new Map<string, StreamState>();
  private readonly window = new Map<string, Map<number, Message>>();
  constructor(private readonly self: string) {}

  restore(streams: Array<[string, StreamState]>, messages: Message[]): void {
    for (const [s, st] of streams) this.streams.set(s, { ...st });
    for (const m of messages) this.windowOf(m.stream).set(m.seq, m);
  }

  /** Stream heads for anti-entropy: the highest sequence number held contiguously, per stream. */
  heads(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [s, st] of this.streams) out.push([s, Math.max(st.next - 1, st.assigned)]);
    return out;
  }

  /** Accept a new message at its origin (this agent): number it in the sender's stream. */
  originate(from: string, to: string, body: Record<string, unknown>, now: number, fx: LogEffects): Message {
    const stream = streamOf(from, this.self);
    const st = this.state(stream);
    st.assigned = Math.max(st.assigned, st.next - 1) + 1;
    const m: Message = { stream, seq: st.assigned, from, to, body, at: now };
    fx.streams.push([stream, { ...st }]);
    this.ingest(m, now, fx);
    return m;
  }

  /** A message from the network. Returns true if it was new (the caller forwards it). */
  ingest(m: Message, now: number, fx: LogEffects): boolean {
    const st = this.state(m.stream);
    const w = this.windowOf(m.stream);
    if (m.seq < st.next || w.has(m.seq)) return false;
    w.set(m.seq, m);
    fx.logged.push(m);
    let advanced = false;
    while (w.has(st.next)) {
      const x = w.get(st.next)!;
      if ((x.to === "all" && x.from !== this.self) || x.to === this.self) {
        fx.inbox.push({
          messageId: messageId(x), stream: x.stream, seq: x.seq, from: x.from, message: x.body, sentAt: x.at, receivedAt: now,
        });
      }
      st.next++;
      advanced = true;
    }
    if (advanced || m.seq > st.assigned) fx.streams.push([m.stream, { ...st }]);
    this.trim(m.stream, st);
    return true;
  }

  /** Messages the other side lacks, given its heads (bounded). */
  missingFor(theirHeads: Array<[string, number]>): Message[] {
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

  /** Streams where the other side is ahead of us. */
  behind(theirHeads: Array<[string, number]>): boolean {
    for (const [s, h] of theirHeads) {
      const st = this.streams.get(s);
      if (!st || st.next - 1 < h) return true;
    }
    return false;
  }

  private state(stream: string): StreamState {
    let st = this.streams.get(stream);
    if (!st) {
      st = { next: 1, assigned: 0 };
      this.streams.set(stream, st);
    }
    return st;
  }

  private windowOf(stream: string): Map<number, Message> {
    let w = this.window.get(stream);
    if (!w) {
      w = new Map();
      this.window.set(stream, w);
    }
    return w;
  }

  private trim(stream: string, st: StreamState): void {
    const w = this.window.get(stream)!;
    if (w.size <= RETAIN_PER_STREAM) return;
    const floor = st.next - RETAIN_PER_STREAM;
    for (const q of w.keys()) if (q < floor) w.delete(q);
  }
}
