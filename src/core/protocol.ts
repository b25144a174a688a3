// The one interface every protocol module implements, and the context the agent gives it.
//
// An agent (src/core/node.ts) is a composer of modules: SWIM membership, agent messages, the Raft log,
// platform health, … Each module is pure: it reads its inputs (a validated envelope addressed to it, a
// tick, a command from the shell), and writes everything it wants done through its context — envelopes
// to send, rows to persist, outputs that answer a waiting request, structured log events — then tells
// the agent its next deadline. The agent collects all of it into one `Effects` value that the Durable
// Object (or the simulator) carries out: one transaction for the rows, then the sends, then the replies.
//
// Modules never import each other. What one needs from another comes through the context: the
// read-only membership view (who is live, who are my peers) and the anti-entropy delegates, modelled on
// hashicorp/memberlist's `Delegate` (`LocalState` / `MergeRemoteState`): other layers' state rides on
// SWIM's push-pull exchange without SWIM knowing what it carries.
import type { SwarmConfig } from "./config";
import type { AgentId } from "./ids";
import type { Member } from "./membership/member";
import type { Rng } from "./rng";

export const WIRE_VERSION = 2;

/** Every envelope between agents: versioned, addressed, routed to its module by `mod`. */
export interface EnvelopeBase {
  v: number;
  swarm: string;
  from: AgentId;
  to: AgentId;
  mod: string;
  type: string;
}
export type Envelope = EnvelopeBase & Record<string, unknown>;

/** One row operation on a module's store (see src/core/store.ts): rows are (key → JSON value). */
export type StoreOp =
  | { op: "put"; key: string; value: unknown }
  | { op: "del"; key: string }
  /** Delete every key in [from, to) (byte order). */
  | { op: "delRange"; from: string; to: string };

export interface StoreWrite {
  mod: string;
  op: StoreOp;
}

/** A structured log event: `debug` is protocol chatter, `info` a state change worth a line, `warn` trouble. */
export interface LogEvent {
  level: "debug" | "info" | "warn";
  mod: string;
  event: string;
  [field: string]: unknown;
}

/** An answer for a request waiting in the shell, keyed by (module, key). */
export interface Output {
  mod: string;
  key: string;
  value: unknown;
}

/** Everything one input made the agent want done, in the order the shell must do it. */
export interface Effects {
  /** Rows to write, in order, in one transaction, before anything is sent. */
  writes: StoreWrite[];
  send: Envelope[];
  outputs: Output[];
  events: LogEvent[];
  /** Earliest time the agent wants `tick` called, or null for never. */
  nextDeadline: number | null;
}

export function emptyEffects(): Effects {
  return { writes: [], send: [], outputs: [], events: [], nextDeadline: null };
}

/** A member's record changed (learned, refuted, suspected, buried, left). */
export interface MemberChange {
  before: Member | undefined;
  after: Member;
}

/** What every module may ask about the swarm's membership (implemented by the membership module). */
export interface MembershipView {
  /** Live member ids (alive or suspect), self included, sorted. */
  liveIds(): string[];
  member(id: string): Member | undefined;
  /** All known records, sorted by id. */
  all(): Member[];
  /** This agent's 3–5 overlay peers. */
  peers(): string[];
  /** The overlay neighbours of any live member (who monitors it). */
  neighbours(id: string): string[];
  /** `k` random live members other than self (and `exclude`). */
  random(k: number, exclude?: string): string[];
  /** When an envelope from `id` was last received, if ever. */
  lastHeardAt(id: string): number | undefined;
}

/**
 * Push-pull anti-entropy for another layer's state (memberlist's delegate). The membership module
 * carries, per module, a digest on `sync`, answers with what the other side lacks (and its own digest
 * when it lacks something), and pushes back what the first side lacks.
 */
export interface SyncDelegate {
  /** What I have, compactly (rides on a `sync`). */
  digest(): unknown;
  /** Given their digest: the data they lack, and my digest if they have something I lack. */
  answer(theirs: unknown): { data?: unknown; digest?: unknown } | null;
  /** Given their digest (from a `sync_ack`): the data they lack. */
  missing(theirs: unknown): unknown | null;
  merge(data: unknown, from: AgentId): void;
  validDigest(x: unknown): boolean;
  validData(x: unknown): boolean;
}

/**
 * State another module wants on every probe (memberlist's `NodeMeta`/piggyback): attached to SWIM's
 * pings and acks, which cross every overlay link each round anyway — so it costs no extra call.
 */
export interface PiggybackDelegate {
  attach(to: string): unknown;
  take(from: AgentId, data: unknown): void;
  valid(x: unknown): boolean;
}

/** An item of an outgoing envelope this agent signs: the bytes, and where the signature goes. */
export interface ToSign {
  payload: string;
  set(sig: string): void;
}

/**
 * What the shell asks a module whose envelopes carry signatures (crypto/canonical.ts): the core never
 * signs or verifies (WebCrypto is asynchronous; the core is pure and synchronous).
 */
export interface SigningDelegate {
  /** The envelope to send (possibly a copy) and the items in it that this agent must sign. */
  outgoing(env: Envelope): { env: Envelope; items: ToSign[] };
  /** Every signed part of an incoming envelope: all must verify against the signers' pinned keys. */
  incoming(env: Envelope): import("./crypto/canonical").SignedPart[];
}

/** How the platform treats this agent lately (Lifeguard's local health): p99s of the latest samples. */
export interface PlatformHealth {
  /** How late alarms fired against the deadline asked for. */
  alarmLateP99Ms: number;
  /** Peer-call round trips. */
  callP99Ms: number;
}

/** A peer call the shell made, and how it went (the request path is a failure detector too). */
export interface CallResult {
  to: AgentId;
  mod: string;
  type: string;
  ok: boolean;
  ms: number;
}

export interface Context {
  readonly swarm: string;
  readonly self: AgentId;
  readonly config: SwarmConfig;
  readonly rng: Rng;
  readonly members: MembershipView;
  now(): number;
  /** How overdue the agent's alarm is at this input (0 when on time): time the agent was not running. */
  lateMs(): number;
  /** Measured platform health (zeros until measured): timeouts leave room for it. */
  platform(): PlatformHealth;
  /** Ticking (not left or shut down). */
  active(): boolean;
  send(to: string, type: string, body?: Record<string, unknown>): void;
  persist(op: StoreOp): void;
  output(key: string, value: unknown): void;
  log(level: LogEvent["level"], event: string, fields?: Record<string, unknown>): void;
  /**
   * Record a measurement from a real event (a decision's latency, a call's round trip, a migration:
   * value 1) for the metrics: every module that implements `onObserve` receives it.
   */
  observe(metric: string, value: number): void;
  /** Anti-entropy delegates of the other modules, by module name. */
  delegates(): ReadonlyMap<string, SyncDelegate>;
  /** Piggyback delegates of the other modules, by module name. */
  piggybacks(): ReadonlyMap<string, PiggybackDelegate>;
  /**
   * Facts a module publishes for the others (`raft.voters`, `membership.periodMs`), read by name: the
   * one way a module learns another's state without importing it.
   */
  publish(key: string, value: unknown): void;
  fact<T>(key: string): T | undefined;
  /** Report membership changes so every module can react (called by the membership module). */
  changed(c: MemberChange): void;
  /** When anything (any module's envelope, or a relayed ack) was last heard from `id`. */
  heardAt(id: string): number | undefined;
  /** Note that `id` was heard from now (e.g. an ack relayed by someone else proves it alive). */
  heard(id: string): void;
}

/** A module's persisted rows as the agent restarts with them (see src/core/store.ts). */
export interface Persisted {
  rows: ReadonlyMap<string, unknown>;
  /** For each of the module's cold prefixes, its greatest stored key. */
  last: ReadonlyMap<string, string>;
}

/** How an agent starts: alone, from a roster of agents created together, or by joining through seeds. */
export interface InitOptions {
  roster?: string[];
  seeds?: string[];
  caps?: string[];
  slots?: number;
}

export interface Module {
  readonly name: string;
  /** Why an envelope of this module is malformed (null: well formed). Never throws. */
  validate(env: Envelope): string | null;
  receive(env: Envelope): void;
  /** Called on every alarm; `lateMs` is how late the alarm fired against the deadline asked for. */
  tick(now: number, lateMs: number): void;
  nextDeadline(): number | null;
  /** A brand-new agent (nothing on disk yet). */
  init?(o: InitOptions): void;
  /** Rebuild from persisted rows after an eviction or a crash (memory lost, storage kept). */
  restore?(p: Persisted, roster: readonly string[], afterCrash: boolean): void;
  /** Key prefixes of rows not loaded on restore (read on demand by the shell, e.g. an inbox). */
  readonly coldPrefixes?: readonly string[];
  onMemberChange?(c: MemberChange): void;
  onCall?(r: CallResult): void;
  /** A measurement another module observed (`mod` names it; see Context.observe). */
  onObserve?(mod: string, metric: string, value: number): void;
  /** End of an input: send what was batched during it (e.g. one flood of all changes). */
  flush?(): void;
  /** The agent is leaving gracefully / was shut down. */
  onLeave?(): void;
  readonly sync?: SyncDelegate;
  readonly piggyback?: PiggybackDelegate;
  readonly signing?: SigningDelegate;
  /** Counters for stats and metrics. */
  counters?(): Record<string, number>;
  /** This module's part of the agent's view (`GET …/agents/:id`). */
  describe?(): Record<string, unknown>;
  /** A module that measures the platform says what it measured (the agent asks the first that answers). */
  platform?(): PlatformHealth;
  /** Whether this side may accept writes; the agent takes the most restrictive answer. */
  mode?(): "read-write" | "read-only";
}
