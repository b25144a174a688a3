// Rumour-mongering with a bounded number of retransmissions (memberlist's TransmitLimitedQueue):
// each piece of news is sent about λ·log10(n+1) times in all, least-sent first, then retires. Newer
// news about the same subject replaces the old (only the latest record of a member is worth spreading).

export class RumorQueue<T> {
  private readonly items = new Map<string, { item: T; sent: number }>();

  /** `limit()`: how many times each rumour is sent before it retires (it may change as n grows). */
  constructor(private readonly limit: () => number) {}

  get size(): number {
    return this.items.size;
  }

  /** Start spreading `item` about `subject` (replacing older news about it, with its count reset). */
  push(subject: string, item: T): void {
    this.items.set(subject, { item, sent: 0 });
  }

  /** Up to `max` rumours, least-sent first, each counted as sent once more; exhausted ones retire. */
  take(max: number, exclude?: string): T[] {
    if (this.items.size === 0 || max <= 0) return [];
    const all = Array.from(this.items.entries()).filter(([s]) => s !== exclude);
    all.sort((a, b) => a[1].sent - b[1].sent);
    const chosen = all.slice(0, max);
    const limit = this.limit();
    for (const [subject, r] of chosen) {
      r.sent++;
      if (r.sent >= limit) this.items.delete(subject);
    }
    return chosen.map(([, r]) => r.item);
  }
}

/** memberlist's retransmit limit: mult · ⌈log10(n + 1)⌉. */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}
