// SwarmRegistry: the one place that lists swarms, for bootstrap (which agents exist), the
// `GET /v1/swarms` listing and the cron health check. It is never on the protocol's hot path:
// gossip, votes, tasks and memory flow agent to agent (DESIGN.md principle 7). The router caches
// what it reads here for a few seconds.
import { DurableObject } from "cloudflare:workers";
import type { SwarmConfig } from "../core/config";
import type { Env } from "../env";

export interface SwarmRecord {
  swarmId: string;
  config: SwarmConfig;
  createdAt: number;
  status: "active" | "shutdown";
  agents: string[];
  /** Agents that left gracefully (kept so ids are not reused by accident). */
  departed: string[];
  health: SwarmHealth | null;
}

export interface SwarmHealth {
  checkedAt: number;
  agents: number;
  answering: number;
  alarmsArmed: number;
  rearmed: string[];
  unreachable: string[];
  /** The log's leader as the answering agents know it (highest term), and that term. */
  leader?: string | null;
  term?: number;
  /** A leader is known by some answering agent and answers itself (false: the swarm cannot write). */
  quorum?: boolean;
  /** Answering agents per mode (the sides of a partition). */
  modes?: { "read-write": number; "read-only": number };
  /** Repairs made by this check, in order. */
  actions?: Array<{ action: "rearm" | "probe" | "failover"; agentId: string; detail: string }>;
}

type Result<T> = { ok: true; value: T } | { ok: false; code: "conflict" | "swarm_full" | "not_found"; message: string };

export class SwarmRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS swarms (
      swarm_id TEXT PRIMARY KEY, config TEXT NOT NULL, created_at INTEGER NOT NULL, status TEXT NOT NULL,
      agents TEXT NOT NULL, departed TEXT NOT NULL, health TEXT)`);
  }

  async create(swarmId: string, config: SwarmConfig, agents: string[], now: number): Promise<Result<SwarmRecord>> {
    const existing = this.read(swarmId);
    if (existing) {
      return {
        ok: false,
        code: "conflict",
        message:
          existing.status === "shutdown"
            ? `swarm ${swarmId} was shut down but not purged; DELETE it with ?purge=true to reuse the id`
            : `swarm ${swarmId} already exists`,
      };
    }
    if (agents.length > config.maxAgents) {
      return { ok: false, code: "swarm_full", message: `${agents.length} agents exceed maxAgents ${config.maxAgents}` };
    }
    const rec: SwarmRecord = { swarmId, config, createdAt: now, status: "active", agents, departed: [], health: null };
    this.write(rec);
    return { ok: true, value: rec };
  }

  async get(swarmId: string): Promise<SwarmRecord | null> {
    return this.read(swarmId);
  }

  async list(): Promise<SwarmRecord[]> {
    return this.sql
      .exec<Row>(`SELECT * FROM swarms WHERE status = 'active' ORDER BY created_at, swarm_id`)
      .toArray()
      .map(fromRow);
  }

  /**
   * The active swarm most recently initialized (newest createdAt; among equal times, the one
   * registered last) — the default swarm of MCP tools called without a swarm id.
   */
  async latest(): Promise<SwarmRecord | null> {
    const row = this.sql
      .exec<Row>(`SELECT * FROM swarms WHERE status = 'active' ORDER BY created_at DESC, rowid DESC LIMIT 1`)
      .toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** Reserve an agent id in an active swarm (before the agent object is initialized). */
  async addAgent(swarmId: string, agentId: string): Promise<Result<SwarmRecord>> {
    const rec = this.read(swarmId);
    if (!rec || rec.status !== "active") return { ok: false, code: "not_found", message: `swarm ${swarmId} not found` };
    if (rec.agents.includes(agentId) || rec.departed.includes(agentId)) {
      return { ok: false, code: "conflict", message: `agent ${agentId} already exists in swarm ${swarmId}` };
    }
    if (rec.agents.length >= rec.config.maxAgents) {
      return { ok: false, code: "swarm_full", message: `swarm ${swarmId} is full (maxAgents ${rec.config.maxAgents})` };
    }
    rec.agents.push(agentId);
    this.write(rec);
    return { ok: true, value: rec };
  }

  /** Undo a reservation whose agent failed to start. */
  async unreserveAgent(swarmId: string, agentId: string): Promise<void> {
    const rec = this.read(swarmId);
    if (!rec) return;
    rec.agents = rec.agents.filter((a) => a !== agentId);
    this.write(rec);
  }

  async agentLeft(swarmId: string, agentId: string): Promise<void> {
    const rec = this.read(swarmId);
    if (!rec) return;
    rec.agents = rec.agents.filter((a) => a !== agentId);
    if (!rec.departed.includes(agentId)) rec.departed.push(agentId);
    this.write(rec);
  }

  async markShutdown(swarmId: string, purge: boolean): Promise<boolean> {
    const rec = this.read(swarmId);
    if (!rec) return false;
    if (purge) this.sql.exec(`DELETE FROM swarms WHERE swarm_id = ?`, swarmId);
    else {
      rec.status = "shutdown";
      this.write(rec);
    }
    return true;
  }

  async recordHealth(swarmId: string, health: SwarmHealth): Promise<void> {
    this.sql.exec(`UPDATE swarms SET health = ? WHERE swarm_id = ?`, JSON.stringify(health), swarmId);
  }

  private read(swarmId: string): SwarmRecord | null {
    const row = this.sql.exec<Row>(`SELECT * FROM swarms WHERE swarm_id = ?`, swarmId).toArray()[0];
    return row ? fromRow(row) : null;
  }

  private write(r: SwarmRecord): void {
    this.sql.exec(
      `INSERT INTO swarms (swarm_id, config, created_at, status, agents, departed, health) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(swarm_id) DO UPDATE SET config = excluded.config, status = excluded.status,
         agents = excluded.agents, departed = excluded.departed, health = excluded.health`,
      r.swarmId, JSON.stringify(r.config), r.createdAt, r.status, JSON.stringify(r.agents),
      JSON.stringify(r.departed), r.health ? JSON.stringify(r.health) : null,
    );
  }
}

type Row = {
  swarm_id: string; config: string; created_at: number; status: string; agents: string; departed: string; health: string | null;
};

function fromRow(r: Row): SwarmRecord {
  return {
    swarmId: r.swarm_id,
    config: JSON.parse(r.config) as SwarmConfig,
    createdAt: r.created_at,
    status: r.status as SwarmRecord["status"],
    agents: JSON.parse(r.agents) as string[],
    departed: JSON.parse(r.departed) as string[],
    health: r.health ? (JSON.parse(r.health) as SwarmHealth) : null,
  };
}
