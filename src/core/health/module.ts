// Platform health, as this agent experiences it: how late its alarms fire against the deadline it
// asked for, and how long its calls to peers take (and how many fail). Lifeguard's insight is that a
// slow member must not accuse healthy ones; these are the measurements that say how slow we are.
// Soft state only (nothing persisted): a window of the latest samples.
import type { CallResult, Context, Envelope, Module, PlatformHealth } from "../protocol";
import { insertSorted, removeSorted } from "../sorted";

const WINDOW = 256;

/**
 * A fixed-size ring of recent samples with percentiles. The window is also kept sorted, updated per
 * sample (one binary search and two short moves): the p99s are read on every input of the agent (the
 * log's and the detector's timing depend on them), so they must not sort the window each time.
 */
export class Samples {
  private readonly xs: number[] = [];
  private readonly sorted: number[] = [];
  private i = 0;
  count = 0;

  add(x: number): void {
    if (this.xs.length < WINDOW) this.xs.push(x);
    else {
      removeSorted(this.sorted, this.xs[this.i]);
      this.xs[this.i] = x;
    }
    insertSorted(this.sorted, x);
    this.i = (this.i + 1) % WINDOW;
    this.count++;
  }

  percentile(p: number): number | null {
    const s = this.sorted;
    if (s.length === 0) return null;
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  }

  /** p50, p99, and the deciles (p0, p10, …, p100) from which a simulator can draw a like distribution. */
  summary(): { p50: number | null; p99: number | null; samples: number; deciles: number[] } {
    const deciles = this.xs.length ? Array.from({ length: 11 }, (_, i) => this.percentile(i * 10)!) : [];
    return { p50: this.percentile(50), p99: this.percentile(99), samples: this.xs.length, deciles };
  }
}

export class Health implements Module {
  readonly name = "health";
  readonly alarmLateMs = new Samples();
  readonly callMs = new Samples();
  private failedCalls = 0;
  private calls = 0;

  constructor(private readonly ctx: Context) {}

  validate(env: Envelope): string | null {
    return `unknown health type ${String(env.type)}`;
  }

  receive(): void {}

  tick(_now: number, lateMs: number): void {
    this.alarmLateMs.add(Math.max(0, lateMs));
    this.ctx.observe("platform.alarmLateMs", Math.max(0, lateMs));
  }

  onCall(r: CallResult): void {
    this.calls++;
    this.ctx.observe(r.ok ? "network.callMs" : "network.callFailed", r.ok ? r.ms : 1);
    if (r.ok) this.callMs.add(r.ms);
    else this.failedCalls++;
  }

  nextDeadline(): number | null {
    return null;
  }

  platform(): PlatformHealth {
    return { alarmLateP99Ms: this.alarmLateMs.percentile(99) ?? 0, callP99Ms: this.callMs.percentile(99) ?? 0 };
  }

  counters(): Record<string, number> {
    return { calls: this.calls, failedCalls: this.failedCalls, alarmsMeasured: this.alarmLateMs.count };
  }

  describe(): Record<string, unknown> {
    return {
      health: {
        alarmLateMs: this.alarmLateMs.summary(),
        callMs: this.callMs.summary(),
        calls: this.calls,
        failedCalls: this.failedCalls,
        measuredAt: this.ctx.now(),
      },
    };
  }
}
