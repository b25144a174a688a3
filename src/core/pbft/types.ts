// Wire and state types of the PBFT core. Message names and fields follow Castro & Liskov, "Practical
// Byzantine Fault Tolerance", OSDI '99 (§4) — the variant with signatures, in which view-change and
// checkpoint certificates are self-verifying and can be forwarded by anyone.
//
// Every message a replica authors names its author in `replica` and may carry `sig`: the shell signs
// outgoing messages authored by its own replica and verifies every signed item (see auth.ts) before
// the core sees a message; the core keeps `sig` fields on what it stores so it can forward others'
// messages inside certificates. A request is authored (and signed) by its client.

/** A client request (OSDI '99 §4.1: ⟨REQUEST, o, t, c⟩; `reqId` is the timestamp t, monotonic per client). */
export interface Request {
  client: string;
  reqId: number;
  op: unknown;
  sig?: string;
}

/** A client's last executed request and its result: the reply cache of §4.1 (part of the replicated state). */
export interface ClientRecord {
  reqId: number;
  result: unknown;
}

/** The replicated state at a checkpoint: the application's snapshot plus the reply cache. */
export interface CheckpointState {
  app: unknown;
  clients: Record<string, ClientRecord>;
}

/** A client's request travelling to replicas (from the client, or forwarded by a backup to the primary). */
export interface RequestMsg {
  type: "request";
  request: Request;
}

/** ⟨PRE-PREPARE, v, n, d⟩ with the batch it orders (§4.2; request batching as in TOCS 2002). */
export interface PrePrepare {
  type: "pre-prepare";
  view: number;
  seq: number;
  digest: string;
  batch: Request[];
  replica: string;
  sig?: string;
}

export interface Prepare {
  type: "prepare";
  view: number;
  seq: number;
  digest: string;
  replica: string;
  sig?: string;
}

export interface Commit {
  type: "commit";
  view: number;
  seq: number;
  digest: string;
  replica: string;
  sig?: string;
}

/** ⟨CHECKPOINT, n, d, i⟩ (§4.3): replica i's state after executing n has digest d. */
export interface CheckpointMsg {
  type: "checkpoint";
  seq: number;
  digest: string;
  replica: string;
  sig?: string;
}

/**
 * A prepared certificate P_m (§4.4): 2f matching PREPAREs from distinct backups of `view` (never its
 * primary) for (view, seq, digest), with the batch whose digest it is. The paper adds the primary's
 * PRE-PREPARE; it is not needed for safety (2f backup prepares already include ≥ 1 correct replica, and a
 * correct replica prepares only what the primary pre-prepared), and leaving it out lets certificates whose
 * pre-prepare came inside a NEW-VIEW (signed only as a whole) be forwarded.
 */
export interface PreparedCert {
  view: number;
  seq: number;
  digest: string;
  batch: Request[];
  prepares: Prepare[];
}

/** ⟨VIEW-CHANGE, v+1, n, C, P, i⟩ (§4.4): stable checkpoint n with its proof C, and prepared certificates P above n. */
export interface ViewChange {
  type: "view-change";
  view: number;
  stable: { seq: number; digest: string };
  /** 2f+1 CHECKPOINT messages for `stable` from distinct replicas (empty for the genesis checkpoint, seq 0). */
  proof: CheckpointMsg[];
  prepared: PreparedCert[];
  replica: string;
  sig?: string;
}

/** One element of O: a pre-prepare of the new view (the view and author are the NEW-VIEW's). */
export interface NewViewEntry {
  seq: number;
  digest: string;
  batch: Request[];
}

/** ⟨NEW-VIEW, v+1, V, O⟩ (§4.4). */
export interface NewView {
  type: "new-view";
  view: number;
  viewChanges: ViewChange[];
  prePrepares: NewViewEntry[];
  replica: string;
  sig?: string;
}

/**
 * A commit certificate: 2f+1 matching COMMITs for (view, seq, digest) and the batch. It proves the
 * request committed (at least f+1 correct replicas prepared it, §4.5.1), so a replica that missed the
 * normal-case messages may execute from it. Sent to lagging replicas in answer to STATUS.
 */
export interface CommitCert {
  type: "commit-cert";
  view: number;
  seq: number;
  digest: string;
  batch: Request[];
  commits: Commit[];
  replica: string;
  sig?: string;
}

/**
 * A summary of where a replica is, so others retransmit what it lacks (receiver-based retransmission,
 * Castro & Liskov TOCS 2002, message retransmission). Sent only while the replica waits for something.
 */
export interface Status {
  type: "status";
  view: number;
  /** False while the replica is changing to `view` (it sent VIEW-CHANGE and has no NEW-VIEW yet). */
  active: boolean;
  lastExec: number;
  stable: number;
  /** How many STATUS messages the sender sent: rotates which f+1 replicas answer with the bulky items. */
  round: number;
  replica: string;
  sig?: string;
}

/** State transfer (§4.3, TOCS 2002 checkpoint management): ask for the checkpoint state (seq, digest). */
export interface FetchState {
  type: "fetch-state";
  seq: number;
  digest: string;
  replica: string;
  sig?: string;
}

export interface StateMsg {
  type: "state";
  seq: number;
  digest: string;
  state: CheckpointState;
  replica: string;
  sig?: string;
}

/** Messages a replica accepts from the network. */
export type PbftMsg =
  | RequestMsg
  | PrePrepare
  | Prepare
  | Commit
  | CheckpointMsg
  | ViewChange
  | NewView
  | CommitCert
  | Status
  | FetchState
  | StateMsg;

/** ⟨REPLY, v, t, c, i, r⟩ (§4.1): sent to the client, which waits for f+1 matching replies. */
export interface Reply {
  type: "reply";
  view: number;
  client: string;
  reqId: number;
  result: unknown;
  replica: string;
  sig?: string;
}

export interface Outbound {
  /** A replica id, or a client id for replies. */
  to: string;
  msg: PbftMsg | Reply;
}

/** A request executed at `seq` (not a duplicate), with the application's result. */
export interface Executed {
  seq: number;
  request: Request;
  result: unknown;
}

/** A stable checkpoint (§4.3): its proof, and the state (null while it is being fetched). */
export interface StableCheckpoint {
  seq: number;
  digest: string;
  proof: CheckpointMsg[];
  state: CheckpointState | null;
}

/** A checkpoint this replica computed (or fetched) that is not stable yet. */
export interface OwnCheckpoint {
  seq: number;
  digest: string;
  state: CheckpointState;
}

/** What a replica keeps per sequence number across a crash: what it accepted and what it sent (no equivocation after restart). */
export interface SlotRecord {
  seq: number;
  /** The pre-prepare accepted in `ppView` (from the primary, or from a NEW-VIEW's O). */
  ppView: number;
  ppDigest: string | null;
  /** Batches known for this seq, by digest (the accepted one and any a commit certificate named). */
  batches: Array<{ digest: string; batch: Request[] }>;
  /** The view in which this replica sent PREPARE / COMMIT for this seq (-1: never); always for ppDigest. */
  sentPrepareView: number;
  sentCommitView: number;
  /** The highest-view prepared certificate: what VIEW-CHANGE reports (§4.4). */
  prepared: PreparedCert | null;
  /** The commit certificate once the seq committed. */
  committed: { view: number; digest: string; commits: Commit[] } | null;
}

/** The durable meta state of a replica. */
export interface PbftMeta {
  view: number;
  /** False between sending VIEW-CHANGE for `view` and accepting its NEW-VIEW. */
  active: boolean;
  /** The VIEW-CHANGE this replica sent for `view` (resent unchanged), while not active. */
  viewChange: ViewChange | null;
  /** The last view this replica was active in (it has prepared nothing in later views). */
  lastActiveView: number;
  /** The NEW-VIEW that started `view` (served to replicas that missed it); null in view 0. */
  newView: NewView | null;
  lastExec: number;
  genesisDigest: string;
}

/** Everything a replica stores. The shell keeps it (e.g. as rows) by applying each Ready's `persist` delta. */
export interface PbftPersisted {
  meta: PbftMeta;
  clients: Record<string, ClientRecord>;
  stable: StableCheckpoint;
  checkpoints: OwnCheckpoint[];
  slots: SlotRecord[];
}

/**
 * Changes to persist, in this order, before sending anything from the same Ready (persist-before-send).
 * The application's own state changes (from `execute`/`restore`) belong in the same transaction.
 */
export interface PersistDelta {
  meta: PbftMeta | null;
  /** Replace the whole reply cache (after a state transfer). */
  clientsReplace: Record<string, ClientRecord> | null;
  /** Upsert these reply-cache records. */
  clients: Array<[string, ClientRecord]>;
  /** Replace the stable checkpoint. */
  stable: StableCheckpoint | null;
  /** Upsert own checkpoints by seq; then drop those with seq below `dropCheckpointsBelow`. */
  checkpoints: OwnCheckpoint[];
  dropCheckpointsBelow: number | null;
  /** Upsert slots by seq; then delete the slots listed in `deleteSlots` and those with seq ≤ `dropSlotsThrough`. */
  slots: SlotRecord[];
  deleteSlots: number[];
  dropSlotsThrough: number | null;
}

export interface PbftReady {
  persist: PersistDelta | null;
  messages: Outbound[];
  /** Requests executed by this step, in order (the application already ran them through `execute`). */
  executed: Executed[];
  /** Every seq executed by this step, in order, with the digest of its batch (null batches included). */
  batches: Array<{ seq: number; digest: string; size: number }>;
  /** Set when a state transfer replaced the application state (through `restore`) at this seq. */
  restored: number | null;
  events: string[];
}
