// Rebalancing planner (the seed's LoadBalancer): move queued, not-started tasks from hot agents
// (load > 0.8) to cold ones (load < 0.3). Load = (queued + running) / slots, from real counts.
// Greedy: hottest donor first, coldest receiver first, one task at a time, recomputing loads after each
// move; a move happens only if the receiver is still cold and ends below the donor (no ping-pong: a
// 1-slot receiver at 0 would jump to 1.0 and look hot, so a donor at 0.9 does not give it a task).

export interface AgentLoad {
  id: string;
  slots: number;
  running: number;
  /** Queued (not started) tasks it would execute, movable, oldest first. */
  queued: string[];
}

export interface Migration {
  taskId: string;
  from: string;
  to: string;
}

export interface RebalanceOptions {
  hot?: number;
  cold?: number;
  /** May this task run on that agent (capabilities)? Default: yes. */
  canRun?: (taskId: string, agentId: string) => boolean;
  /** At most this many moves in one plan. */
  maxMoves?: number;
}

export function loadOf(a: { slots: number; running: number; queued: readonly unknown[] | number }): number {
  const q = typeof a.queued === "number" ? a.queued : a.queued.length;
  return (q + a.running) / Math.max(1, a.slots);
}

export function planMigrations(agents: readonly AgentLoad[], opts: RebalanceOptions = {}): { moves: Migration[]; migrations: number } {
  const hot = opts.hot ?? 0.8;
  const cold = opts.cold ?? 0.3;
  const maxMoves = opts.maxMoves ?? Infinity;
  const st = agents.map((a) => ({ id: a.id, slots: Math.max(1, a.slots), running: a.running, queued: a.queued.slice() }));
  const load = (a: (typeof st)[number]) => (a.queued.length + a.running) / a.slots;
  const moves: Migration[] = [];
  const donors = st.filter((a) => load(a) > hot).sort((a, b) => load(b) - load(a) || (a.id < b.id ? -1 : 1));
  for (const d of donors) {
    let progress = true;
    while (progress && load(d) > hot && d.queued.length > 0 && moves.length < maxMoves) {
      progress = false;
      const receivers = st.filter((r) => r !== d && load(r) < cold).sort((a, b) => load(a) - load(b) || (a.id < b.id ? -1 : 1));
      for (const r of receivers) {
        const idx = d.queued.findIndex((t) => !opts.canRun || opts.canRun(t, r.id));
        if (idx < 0) continue;
        const donorAfter = (d.queued.length - 1 + d.running) / d.slots;
        const recvAfter = (r.queued.length + 1 + r.running) / r.slots;
        if (recvAfter >= donorAfter) continue;
        const [t] = d.queued.splice(idx, 1);
        r.queued.push(t);
        moves.push({ taskId: t, from: d.id, to: r.id });
        progress = true;
        break;
      }
    }
  }
  return { moves, migrations: moves.length };
}
