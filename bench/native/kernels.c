// The delta count and extent emission of the snapcopy kernels as plain C, compiled
// natively (gcc -O3 -march=native), to show what this machine allows for the same
// loops: bench/lib/native.mjs builds and runs it in the kernel benchmark's run.
//
// Same shapes as bench/run.mjs (scattered pattern): K bit maps of `blocks` blocks,
// every page stored, density d; meta maps with 1% of bits clear, K of them and the
// live one, at g = 3 (1 bit per 8 blocks) or g = 0 (1 bit per block), or none (plain:
// the OR alone). Times (median of `reps`):
//   count   changed = live & OR_i (bits_i | ~meta_i) (plain: OR_i bits_i), popcount,
//           64 blocks a step (g = 3: one table lookup per meta byte; g = 0 and plain are
//           plain word loops, which gcc vectorizes)
//   memcmp  memcmp over as many bytes as the count reads
//   extents (start, length) pairs from the changed bit map (computed once), u32 each, by
//           the wasm kernels' emitter (extentsMs) and by one loop trip a run (extentsLoopMs)
// Prints one JSON line.
//
//   gcc -O3 -march=native -o kernels bench/native/kernels.c && ./kernels 268435456 4 0.01 5 [3|0|plain|3v|0v|plainv]

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return rng;
}

static uint64_t expand3[256];

static uint64_t count_changed(uint64_t **bits, uint8_t **metas, const uint8_t *live, int k, uint64_t words, uint64_t *out) {
  uint64_t total = 0;
  for (uint64_t w = 0; w < words; w++) {
    uint64_t x = 0;
    for (int i = 0; i < k; i++) x |= bits[i][w] | ~expand3[metas[i][w]];
    x &= expand3[live[w]];
    if (out) out[w] = x;
    total += (uint64_t)__builtin_popcountll(x);
  }
  return total;
}

/** g = 0: one meta bit per block, so the meta words line up with the bit map words. */
static uint64_t count_changed0(uint64_t **bits, uint64_t **metas, const uint64_t *live, int k, uint64_t words) {
  uint64_t total = 0;
  for (uint64_t w = 0; w < words; w++) {
    uint64_t x = 0;
    for (int i = 0; i < k; i++) x |= bits[i][w] | ~metas[i][w];
    total += (uint64_t)__builtin_popcountll(x & live[w]);
  }
  return total;
}

/** No meta maps: the OR of the bit maps (FIG. 34). */
static uint64_t count_plain(uint64_t **bits, int k, uint64_t words) {
  uint64_t total = 0;
  for (uint64_t w = 0; w < words; w++) {
    uint64_t x = 0;
    for (int i = 0; i < k; i++) x |= bits[i][w];
    total += (uint64_t)__builtin_popcountll(x);
  }
  return total;
}

// The same count page by page (4 KiB of each bit map, 32768 blocks), as the wasm
// kernels go, in loops gcc vectorizes (-O3 -march=native: AVX2/AVX-512 here): the OR
// of the K pages into an L1-resident page, the meta half at meta level (a = AND of the
// meta slices; X = live & ~a counted 2^g blocks a bit; Y = live & a), then
// popcount(B & expand(Y)). g = 3 expands with the byte table (one load per 64 blocks);
// g = 0 needs no expansion; g = -1 is the plain OR. Modes 3v, 0v and plainv.
#define PAGE_WORDS 512

static uint64_t count_paged(uint64_t **bits, uint8_t **metas, int k, uint64_t words, int g) {
  static uint64_t acc[PAGE_WORDS] __attribute__((aligned(64)));
  static uint64_t keep[PAGE_WORDS] __attribute__((aligned(64)));
  uint64_t total = 0;
  for (uint64_t p = 0; p < words; p += PAGE_WORDS) {
    for (int w = 0; w < PAGE_WORDS; w++) acc[w] = bits[0][p + w];
    for (int i = 1; i < k; i++) {
      const uint64_t *b = bits[i] + p;
      for (int w = 0; w < PAGE_WORDS; w++) acc[w] |= b[w];
    }
    if (g < 0) {
      for (int w = 0; w < PAGE_WORDS; w++) total += (uint64_t)__builtin_popcountll(acc[w]);
    } else if (g == 0) {
      const uint64_t *live = (const uint64_t *)metas[k] + p;
      for (int w = 0; w < PAGE_WORDS; w++) keep[w] = live[w];
      for (int i = 0; i < k; i++) {
        const uint64_t *m = (const uint64_t *)metas[i] + p;
        for (int w = 0; w < PAGE_WORDS; w++) keep[w] &= m[w];
      }
      // changed = live & (B | ~AND meta) = (live & ~keep) | (B & keep), disjoint
      for (int w = 0; w < PAGE_WORDS; w++) {
        uint64_t l = live[w];
        total += (uint64_t)__builtin_popcountll((l & ~keep[w]) | (acc[w] & keep[w]));
      }
    } else {
      // g = 3: one meta byte per 64 blocks, 512 bytes a page (64 words of meta).
      const uint64_t *live = (const uint64_t *)(metas[k] + p);
      uint64_t xOnes = 0;
      for (int j = 0; j < PAGE_WORDS / 8; j++) keep[j] = ~0ull;
      for (int i = 0; i < k; i++) {
        const uint64_t *m = (const uint64_t *)(metas[i] + p);
        for (int j = 0; j < PAGE_WORDS / 8; j++) keep[j] &= m[j];
      }
      for (int j = 0; j < PAGE_WORDS / 8; j++) {
        xOnes += (uint64_t)__builtin_popcountll(live[j] & ~keep[j]);
        keep[j] &= live[j];
      }
      const uint8_t *y = (const uint8_t *)keep;
      for (int w = 0; w < PAGE_WORDS; w++) total += (uint64_t)__builtin_popcountll(acc[w] & expand3[y[w]]);
      total += xOnes << 3;
    }
  }
  return total;
}

/* Where runs start in word x (a 1 after a 0) and end (a 0 after a 1); `open`: a run comes in at bit 0. */
static inline void run_edges(uint64_t x, uint64_t open, uint64_t *starts, uint64_t *ends) {
  uint64_t shifted = (x << 1) | open;
  *starts = x & ~shifted;
  *ends = ~x & shifted;
}

/* ctz with ctz(0) = 64, as WebAssembly's i64.ctz (gcc makes it one tzcnt with BMI1). */
static inline uint32_t ctz64(uint64_t x) { return x ? (uint32_t)__builtin_ctzll(x) : 64; }

/*
 * As assembly/lib/extents.ts: a run carried into a word closes at its first end; the
 * runs that start in the word are written as (start, length) pairs, the starts and
 * ends walked side by side, four pairs a step whatever the bits hold (slots past the
 * last run get values that mean nothing, and the open run's length is written when
 * it ends).
 */
static uint64_t emit_pairs(const uint64_t *map, uint64_t words, uint32_t *out) {
  uint32_t *at = out;
  uint64_t open = 0;
  uint32_t start = 0;
  for (uint64_t w = 0; w < words; w++) {
    uint64_t x = map[w], starts, ends;
    run_edges(x, open, &starts, &ends);
    uint32_t base = (uint32_t)(w << 6);
    if (open) {
      if (!ends) continue;
      at[0] = start; at[1] = base + ctz64(ends) - start; at += 2;
      ends &= ends - 1;
    }
    open = x >> 63;
    if (!starts) continue;
    uint64_t closed = (uint64_t)__builtin_popcountll(ends);
    uint32_t *p = at;
    do {
      uint32_t s0 = ctz64(starts); starts &= starts - 1; uint32_t e0 = ctz64(ends); ends &= ends - 1;
      uint32_t s1 = ctz64(starts); starts &= starts - 1; uint32_t e1 = ctz64(ends); ends &= ends - 1;
      uint32_t s2 = ctz64(starts); starts &= starts - 1; uint32_t e2 = ctz64(ends); ends &= ends - 1;
      uint32_t s3 = ctz64(starts); starts &= starts - 1; uint32_t e3 = ctz64(ends); ends &= ends - 1;
      p[0] = base + s0; p[1] = e0 - s0; p[2] = base + s1; p[3] = e1 - s1;
      p[4] = base + s2; p[5] = e2 - s2; p[6] = base + s3; p[7] = e3 - s3;
      p += 8;
    } while (starts);
    at += 2 * closed;
    if (open) start = at[0];
  }
  if (open) { at[0] = start; at[1] = (uint32_t)(words << 6) - start; at += 2; }
  return (uint64_t)(at - out) / 2;
}

/*
 * The emitter the wasm kernels had before (and native code's usual form): every start,
 * then each end turns its start into a length, one loop trip per run.
 */
static uint64_t emit_loops(const uint64_t *map, uint64_t words, uint32_t *out) {
  uint32_t *at = out;
  uint64_t open = 0;
  for (uint64_t w = 0; w < words; w++) {
    uint64_t x = map[w], starts, ends;
    run_edges(x, open, &starts, &ends);
    uint32_t base = (uint32_t)(w << 6);
    uint32_t *s = at + (open ? 2 : 0);
    while (starts) { *s = base + (uint32_t)__builtin_ctzll(starts); s += 2; starts &= starts - 1; }
    while (ends) { at[1] = base + (uint32_t)__builtin_ctzll(ends) - at[0]; at += 2; ends &= ends - 1; }
    open = x >> 63;
  }
  if (open) { at[1] = (uint32_t)(words << 6) - at[0]; at += 2; }
  return (uint64_t)(at - out) / 2;
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: kernels blocks K density reps [3|0|plain|3v|0v|plainv]\n"); return 2; }
  const char *mode = argc > 5 ? argv[5] : "3";
  int paged = mode[strlen(mode) - 1] == 'v';
  int g0 = strncmp(mode, "0", 1) == 0, plain = strncmp(mode, "plain", 5) == 0;
  uint64_t blocks = strtoull(argv[1], 0, 10);
  int k = atoi(argv[2]);
  double d = atof(argv[3]);
  int reps = atoi(argv[4]);
  uint64_t words = blocks / 64;
  for (int m = 0; m < 256; m++) {
    uint64_t e = 0;
    for (int b = 0; b < 8; b++) if (m >> b & 1) e |= 0xffull << (8 * b);
    expand3[m] = e;
  }
  uint64_t *bits[k];
  uint8_t *metas[k + 1];
  uint64_t metaBytes = g0 ? words * 8 : words;
  for (int i = 0; i < k; i++) {
    bits[i] = aligned_alloc(64, words * 8);
    if (d >= 0.5) for (uint64_t w = 0; w < words; w++) bits[i][w] = next();
    else {
      memset(bits[i], 0, words * 8);
      uint64_t n = (uint64_t)(d * blocks);
      for (uint64_t j = 0; j < n; j++) { uint64_t b = next() % blocks; bits[i][b >> 6] |= 1ull << (b & 63); }
    }
  }
  for (int i = 0; i <= k; i++) {
    metas[i] = aligned_alloc(64, metaBytes);
    memset(metas[i], 0xff, metaBytes);
    uint64_t n = metaBytes * 8 / 100;
    for (uint64_t j = 0; j < n; j++) { uint64_t b = next() % (metaBytes * 8); metas[i][b >> 3] &= (uint8_t)~(1u << (b & 7)); }
  }
  uint64_t bytes = (uint64_t)k * words * 8 + (plain ? 0 : (uint64_t)(k + 1) * metaBytes);
  uint8_t *ma = aligned_alloc(64, bytes / 2 + 64), *mb = aligned_alloc(64, bytes / 2 + 64);
  for (uint64_t i = 0; i < bytes / 2; i++) ma[i] = (uint8_t)next();
  memcpy(mb, ma, bytes / 2);
  uint64_t *changed = aligned_alloc(64, words * 8);
  uint64_t total = count_changed(bits, metas, metas[k], k, words, changed);
  uint64_t **metas64 = (uint64_t **)metas;
  uint32_t *out = malloc((words * 32 + 8) * 8); /* room for the slots past the last run */
  double tc[64], tm[64], te[64], tl[64];
  uint64_t extents = 0, check = 0;
  if (reps > 64) reps = 64;
  for (int r = 0; r < reps; r++) {
    double t = now_ms();
    check += paged ? count_paged(bits, metas, k, words, plain ? -1 : g0 ? 0 : 3)
      : plain ? count_plain(bits, k, words)
      : g0 ? count_changed0(bits, metas64, metas64[k], k, words)
      : count_changed(bits, metas, metas[k], k, words, 0);
    tc[r] = now_ms() - t;
    t = now_ms();
    check += memcmp(ma, mb, bytes / 2) != 0;
    tm[r] = now_ms() - t;
    t = now_ms();
    extents = emit_pairs(changed, words, out);
    te[r] = now_ms() - t;
    t = now_ms();
    check += emit_loops(changed, words, out) != extents;
    tl[r] = now_ms() - t;
  }
  qsort(tc, reps, sizeof(double), cmp_double);
  qsort(tm, reps, sizeof(double), cmp_double);
  qsort(te, reps, sizeof(double), cmp_double);
  qsort(tl, reps, sizeof(double), cmp_double);
  printf("{\"mode\":\"%s\",\"blocks\":%llu,\"k\":%d,\"density\":%g,\"bytes\":%llu,\"changed\":%llu,\"extents\":%llu,"
         "\"countMs\":%.4f,\"memcmpMs\":%.4f,\"extentsMs\":%.4f,\"extentsLoopMs\":%.4f,\"check\":%llu}\n",
         mode, (unsigned long long)blocks, k, d, (unsigned long long)bytes, (unsigned long long)total,
         (unsigned long long)extents, tc[reps / 2], tm[reps / 2], te[reps / 2], tl[reps / 2], (unsigned long long)check);
  return 0;
}
