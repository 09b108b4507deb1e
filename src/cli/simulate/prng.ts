/** mulberry32: a seeded generator, so a simulated run is reproducible from its seed. Not for secrets. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The part of `total` that falls in sub-step `step` of `steps`, so the parts add up exactly. */
export function share(total: number, step: number, steps: number): number {
  return Math.floor(((step + 1) * total) / steps) - Math.floor((step * total) / steps);
}
