// The deadlines of the requests waiting on an agent (one per request in flight: a busy leader holds
// hundreds). Kept sorted, because the earliest is read on every input of the agent (the alarm goes
// there). A request answered before its deadline takes it back, so the agent does not wake for it.
import { insertSorted, removeSorted } from "./sorted";

export class Deadlines {
  private readonly at: number[] = [];

  add(t: number): void {
    insertSorted(this.at, t);
  }

  /** A request ended before its deadline: forget one occurrence of it. */
  remove(t: number): void {
    removeSorted(this.at, t);
  }

  get size(): number {
    return this.at.length;
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
