// A small seeded generator (Marsaglia's xorshift128, period 2^128 - 1): fast in
// plain JavaScript, reproducible from run to run, good enough for benchmark data.

export class Rng {
  constructor(seed) {
    // splitmix32 spreads any seed over the four words; none of them may all be zero.
    let s = (seed >>> 0) || 1;
    const mix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    // The state words are kept as int32 (| 0) so the JIT keeps them in registers.
    this.x = (mix() || 1) | 0;
    this.y = mix() | 0;
    this.z = mix() | 0;
    this.w = mix() | 0;
  }

  /** A uniform 32-bit value as an int32 (use >>> 0 for a u32). */
  nextInt() {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = this.w ^ (this.w >>> 19) ^ t ^ (t >>> 8);
    return this.w;
  }

  /** A uniform u32. */
  next() {
    return this.nextInt() >>> 0;
  }

  /** Uniform in [0, 1). */
  float() {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n) {
    return Math.floor(this.float() * n);
  }

  /** A Poisson sample of mean `lambda` (Knuth's method; for small means only). */
  poisson(lambda) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = this.float();
    while (p > limit) {
      k++;
      p *= this.float();
    }
    return k;
  }
}
