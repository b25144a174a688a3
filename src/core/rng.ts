// Seeded pseudo-random numbers. The cores never call Math.random: the shell (or the simulator)
// hands them an Rng, so a simulation replays exactly from its seed.
// Algorithm: sfc32 seeded through splitmix32 — small, fast, good enough statistically for protocol choices.

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const st = { s: seed | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st) | 1;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** A new independent generator derived from this one (for per-node streams in the simulator). */
  fork(): Rng {
    return new Rng(this.u32());
  }

  /** Up to k distinct elements of xs, uniformly (partial Fisher–Yates on a copy). */
  sample<T>(xs: readonly T[], k: number): T[] {
    const n = xs.length;
    if (k >= n) return this.shuffle(xs.slice());
    const out = xs.slice();
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    out.length = k;
    return out;
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i];
      xs[i] = xs[j];
      xs[j] = t;
    }
    return xs;
  }
}
