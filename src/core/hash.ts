// 32-bit FNV-1a with a murmur3 finalizer: a stable, platform-independent hash for ring positions.
// Used by the overlay (two hash rings) and later by the task ring.
export function hash32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash order used to place the log's voters: independent of the overlay's rings. */
export const VOTER_SEED = 0x766f7465;

/** `ids` ordered by their hash under `seed` (ties by id): a placement that ignores creation order. */
export function rankByHash(ids: readonly string[], seed: number): string[] {
  return ids
    .map((id) => ({ id, h: hash32(id, seed) }))
    .sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((x) => x.id);
}
