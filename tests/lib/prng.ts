// mulberry32: a small, fast, seeded generator, so a randomised test draws the
// same cases on every run (and both sides of a differential test get the same).

/** A generator of numbers in [0, 1) from `seed`. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The draws randomised tests make, all from one seeded generator. */
export function draws(seed: number) {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  return {
    rnd,
    /** An integer in [0, n). */
    int,
    /** f()'s value with probability p, else undefined (an unset attribute). */
    maybe: <T>(f: () => T, p = 0.5): T | undefined => rnd() < p ? f() : undefined,
    u32: () => int(2 ** 32),
    pick: <T>(xs: T[]): T => xs[int(xs.length)],
  };
}
