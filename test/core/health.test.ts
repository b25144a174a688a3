import fc from "fast-check";
import { expect, test } from "vitest";
import { Samples } from "../../src/core/health/module";

test("platform health percentiles are those of the latest 256 samples, kept sorted as samples arrive", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 700 }), fc.integer({ min: 0, max: 100 }), (xs, p) => {
      const s = new Samples();
      xs.forEach((x, i) => {
        s.add(x);
        if (i % 37 !== 0 && i !== xs.length - 1) return;
        const window = xs.slice(Math.max(0, i + 1 - 256), i + 1).sort((a, b) => a - b);
        const want = window[Math.min(window.length - 1, Math.max(0, Math.ceil((p / 100) * window.length) - 1))];
        expect(s.percentile(p)).toBe(want);
        expect(s.count).toBe(i + 1);
      });
      if (xs.length === 0) expect(s.percentile(p)).toBeNull();
    }),
    { numRuns: 200 },
  );
});
