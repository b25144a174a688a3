// Sorted number arrays, kept sorted as values come and go (deadlines, latency windows): the smallest or a
// percentile is then read in O(1), which matters where it is read on every input of an agent.

/** The first position in sorted `s` whose value is ≥ x. */
export function lowerBound(s: readonly number[], x: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function insertSorted(s: number[], x: number): void {
  s.splice(lowerBound(s, x), 0, x);
}

/** Remove one occurrence of `x`; false when there was none. */
export function removeSorted(s: number[], x: number): boolean {
  const i = lowerBound(s, x);
  if (s[i] !== x) return false;
  s.splice(i, 1);
  return true;
}
