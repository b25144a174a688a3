// The deadlines of the requests waiting on an agent (one per request in flight: a busy leader holds
// hundreds). Kept sorted, because the earliest is read on every input of the agent (the alarm goes
// there); they arrive nearly in order, so an insertion looks from the end.
export class Deadlines {
  private readonly at: number[] = [];

  add(t: number): void {
    let i = this.at.length;
    while (i > 0 && this.at[i - 1] > t) i--;
    this.at.splice(i, 0, t);
  }

  earliest(): number | null {
    return this.at.length > 0 ? this.at[0] : null;
  }

  /** Drop those at or before `now`; true when there were any. */
  takeDue(now: number): boolean {
    let i = 0;
    while (i < this.at.length && this.at[i] <= now) i++;
    this.at.splice(0, i);
    return i > 0;
  }
}
