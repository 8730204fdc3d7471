// A small seeded PRNG for the tests (xoshiro128**, seeded through splitmix32), and
// the one place a test run's seed comes from: SNAPCOPY_SEED, or a fresh one that is
// printed so any failure can be replayed with SNAPCOPY_SEED=<seed> npx vitest run.

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    const next = splitmix32(seed);
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
  }

  /** A uniform u32. */
  u32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = b << 9;
    let r = Math.imul(b, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    const c2 = c ^ a, d2 = d ^ b;
    this.#b = b ^ c2;
    this.#a = a ^ d2;
    this.#c = c2 ^ t;
    this.#d = (d2 << 11) | (d2 >>> 21);
    return r >>> 0;
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** A uniform integer in [lo, hi] (inclusive; hi - lo < 2^32). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** Fills bytes with uniform random bytes. */
  fill(bytes: Uint8Array): Uint8Array {
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.u32() & 0xff;
    return bytes;
  }

  /** A geometric-ish run length with the given mean (at least 1). */
  runLength(mean: number): number {
    if (mean <= 1) return 1;
    return 1 + Math.floor(-Math.log(1 - this.float()) * (mean - 1));
  }
}

const announced = new Set<string>();

/**
 * The seed of this test run: SNAPCOPY_SEED when set, else a fresh one. Printed once
 * per label so a failure can be replayed.
 */
export function testSeed(label = 'snapcopy'): number {
  const env = process.env.SNAPCOPY_SEED;
  let seed: number;
  if (env !== undefined && env !== '') {
    seed = Number(env);
    if (!Number.isInteger(seed)) throw new Error(`SNAPCOPY_SEED must be an integer, not ${env}`);
    seed = (seed >>> 0) & 0x7fffffff;
  } else {
    seed = (Math.floor(Math.random() * 0x7fffffff) ^ (Date.now() & 0x7fffffff)) & 0x7fffffff;
  }
  if (!announced.has(label)) {
    announced.add(label);
    console.log(`[${label}] SNAPCOPY_SEED=${seed} (backend ${process.env.SNAPCOPY_KERNELS ?? 'wasm'}; `
      + `replay with SNAPCOPY_SEED=${seed} npx vitest run)`);
  }
  return seed;
}
