// The floor under an exact count: read every byte the count reads, where the kernel
// bench's maps keep it, and add up the bits of their OR, natively: with AVX-512 where the
// build has it (gcc -O3 -march=native: 64-byte vectors, vpopcntq), else in 16-byte
// vectors with a popcnt on each half (-march=x86-64-v2: what V8 makes of WebAssembly
// SIMD128). No masks, no expansion, no lists: any exact count over those bytes does at
// least this, so where a floor is under 0.8 x memcmp over the same bytes the count
// target cannot be met on this layout by code of that kind here. bench/lib/read-floor.mjs writes the layout (which pool page each map names at
// each page of the volume, as bench/lib/maps.mjs lays them) and runs this beside the
// wasm count of the same maps.
//
// Layout file (little-endian u32/i32): magic 0x31464c52 ("RFL1"), pages (bit map pages
// per map), K, metaMaps (K + 1, or 0 for plain), g (3 or 0), poolPages, metaPoolPages;
// then K x pages entries (pool page index, -1 for none), then metaMaps x metaPages
// entries (metaPages = pages / 8 rounded up at g = 3, pages at g = 0).
//
// Times, median of `reps` rounds, each round all of them in turn (each op five calls in a
// row after two untimed ones, its median):
//   fused    page by page of the volume, the K bit map pages and the meta bytes of that
//            page OR'd 256 bytes a step (every stream in flight at once, as the kernels do);
//            at g = 3 the meta bytes go a meta page (eight pages of the volume) at a time
//   blocked  map by map over BLOCK pages of the volume (meta slices at g = 3 over
//            META_GROUP), OR'd into an accumulator in L1, then counted (one stream at a time)
//   stream   the same number of bytes read from one contiguous buffer, OR'd and counted
//   memcmp   memcmp of two buffers of half as many bytes (the bench's baseline)
// Prints one JSON line.
//
//   gcc -O3 -march=native -o read-floor bench/native/read-floor.c && ./read-floor layout.bin 9
//   (-march=x86-64-v2 for the 16-byte build)

#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#define PAGE_BYTES 4096
#define SLICE_BYTES 512 /* a page's share of a meta page at g = 3 */
#define MAX_STREAMS 64
#define BLOCK 4 /* pages of the volume per pass of the blocked floor: 16 KiB in L1 */
#define META_GROUP 32 /* pages of the volume per meta pass of the blocked floor at g = 3: 16 KiB */
#define CALLS 5 /* timed calls of an op in a row */

static uint8_t *alloc_random(size_t bytes) {
  uint8_t *p = aligned_alloc(PAGE_BYTES, bytes ? bytes : PAGE_BYTES);
  if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
  uint64_t x = 0x9e3779b97f4a7c15ull ^ bytes;
  for (size_t i = 0; i < bytes; i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    memcpy(p + i, &x, 8);
  }
  return p;
}

#ifdef __AVX512F__
/* 64-byte vectors, and vpopcntq where the CPU has it. */
static inline __m512i popcnt512(__m512i x) {
#ifdef __AVX512VPOPCNTDQ__
  return _mm512_popcnt_epi64(x);
#else
  uint64_t w[8];
  _mm512_storeu_si512(w, x);
  return _mm512_set_epi64(__builtin_popcountll(w[7]), __builtin_popcountll(w[6]), __builtin_popcountll(w[5]),
    __builtin_popcountll(w[4]), __builtin_popcountll(w[3]), __builtin_popcountll(w[2]),
    __builtin_popcountll(w[1]), __builtin_popcountll(w[0]));
#endif
}

/** Bits of the OR of the n streams at ptr, `bytes` (a multiple of 256) each: 256 bytes a step. */
static inline uint64_t count_or(const uint8_t *const *ptr, int n, size_t bytes) {
  __m512i acc = _mm512_setzero_si512();
  for (size_t off = 0; off < bytes; off += 256) {
    const uint8_t *p = ptr[0] + off;
    __m512i x0 = _mm512_load_si512(p), x1 = _mm512_load_si512(p + 64);
    __m512i x2 = _mm512_load_si512(p + 128), x3 = _mm512_load_si512(p + 192);
    for (int j = 1; j < n; j++) {
      p = ptr[j] + off;
      x0 = _mm512_or_si512(x0, _mm512_load_si512(p)); x1 = _mm512_or_si512(x1, _mm512_load_si512(p + 64));
      x2 = _mm512_or_si512(x2, _mm512_load_si512(p + 128)); x3 = _mm512_or_si512(x3, _mm512_load_si512(p + 192));
    }
    acc = _mm512_add_epi64(acc, _mm512_add_epi64(_mm512_add_epi64(popcnt512(x0), popcnt512(x1)),
      _mm512_add_epi64(popcnt512(x2), popcnt512(x3))));
  }
  return (uint64_t)_mm512_reduce_add_epi64(acc);
}

/** OR (or copy, when first) `bytes` at src into dst. */
static inline void or_into(uint8_t *dst, const uint8_t *src, size_t bytes, int first) {
  for (size_t off = 0; off < bytes; off += 64) {
    __m512i x = _mm512_load_si512(src + off);
    if (!first) x = _mm512_or_si512(x, _mm512_load_si512(dst + off));
    _mm512_store_si512(dst + off, x);
  }
}
#else
/* 16-byte vectors and popcnt on each half, as V8 runs WebAssembly SIMD128 here (-march=x86-64-v2). */
static inline uint64_t popcnt128(__m128i x) {
  return (uint64_t)__builtin_popcountll((uint64_t)_mm_cvtsi128_si64(x)) + (uint64_t)__builtin_popcountll((uint64_t)_mm_extract_epi64(x, 1));
}

/** Bits of the OR of the n streams at ptr, `bytes` (a multiple of 64) each: 64 bytes a step. */
static inline uint64_t count_or(const uint8_t *const *ptr, int n, size_t bytes) {
  uint64_t t = 0;
  for (size_t off = 0; off < bytes; off += 64) {
    const __m128i *p = (const __m128i *)(ptr[0] + off);
    __m128i x0 = _mm_load_si128(p), x1 = _mm_load_si128(p + 1), x2 = _mm_load_si128(p + 2), x3 = _mm_load_si128(p + 3);
    for (int j = 1; j < n; j++) {
      p = (const __m128i *)(ptr[j] + off);
      x0 = _mm_or_si128(x0, _mm_load_si128(p)); x1 = _mm_or_si128(x1, _mm_load_si128(p + 1));
      x2 = _mm_or_si128(x2, _mm_load_si128(p + 2)); x3 = _mm_or_si128(x3, _mm_load_si128(p + 3));
    }
    t += popcnt128(x0) + popcnt128(x1) + popcnt128(x2) + popcnt128(x3);
  }
  return t;
}

static inline void or_into(uint8_t *dst, const uint8_t *src, size_t bytes, int first) {
  for (size_t off = 0; off < bytes; off += 16) {
    __m128i x = _mm_load_si128((const __m128i *)(src + off));
    if (!first) x = _mm_or_si128(x, _mm_load_si128((const __m128i *)(dst + off)));
    _mm_store_si128((__m128i *)(dst + off), x);
  }
}
#endif

typedef struct {
  uint32_t pages, k, meta_maps, g, pool_pages, meta_pool_pages, meta_pages;
  int32_t *bits;   /* k x pages */
  int32_t *meta;   /* meta_maps x meta_pages */
  uint8_t *pool, *meta_pool;
} Layout;

static const uint8_t *bit_page(const Layout *l, uint32_t map, uint32_t page) {
  int32_t e = l->bits[(size_t)map * l->pages + page];
  return e < 0 ? NULL : l->pool + (size_t)e * PAGE_BYTES;
}

/** The meta bytes map `map` keeps for bit map page `page`: a slice at g = 3, a page at g = 0. */
static const uint8_t *meta_bytes(const Layout *l, uint32_t map, uint32_t page) {
  if (l->g == 3) {
    int32_t e = l->meta[(size_t)map * l->meta_pages + (page >> 3)];
    return l->meta_pool + (size_t)e * PAGE_BYTES + (page & 7) * SLICE_BYTES;
  }
  return l->meta_pool + (size_t)l->meta[(size_t)map * l->meta_pages + page] * PAGE_BYTES;
}

static uint64_t floor_fused(const Layout *l) {
  const uint8_t *bits[MAX_STREAMS], *meta[MAX_STREAMS];
  uint64_t acc = 0;
  for (uint32_t p = 0; p < l->pages; p++) {
    int n = 0;
    for (uint32_t i = 0; i < l->k; i++) {
      const uint8_t *page = bit_page(l, i, p);
      if (page) bits[n++] = page;
    }
    if (l->g == 0) { /* meta pages are whole pages: one fused pass over them all */
      for (uint32_t i = 0; i < l->meta_maps; i++) bits[n++] = meta_bytes(l, i, p);
    } else if (l->meta_maps && (p & 7) == 0) {
      /* g = 3: the slices of eight pages of the volume lie side by side in a meta page,
         so they are read as whole meta pages, one stream per meta map. */
      for (uint32_t i = 0; i < l->meta_maps; i++) meta[i] = meta_bytes(l, i, p);
      size_t span = (l->pages - p < 8 ? l->pages - p : 8) * SLICE_BYTES;
      acc += count_or(meta, (int)l->meta_maps, span);
    }
    if (n) acc += count_or(bits, n, PAGE_BYTES);
  }
  return acc;
}

/** Map by map over BLOCK pages of the volume: their bit map pages (and meta pages at g = 0) into one L1 page each. */
static uint64_t blocked_pages(const Layout *l, uint8_t *scratch, uint32_t p0, uint32_t end) {
  uint64_t acc = 0;
  uint8_t seen[BLOCK] = {0};
  for (uint32_t i = 0; i < l->k + (l->g == 0 ? l->meta_maps : 0); i++) {
    for (uint32_t p = p0; p < end; p++) {
      const uint8_t *page = i < l->k ? bit_page(l, i, p) : meta_bytes(l, i - l->k, p);
      if (!page) continue;
      or_into(scratch + (p - p0) * PAGE_BYTES, page, PAGE_BYTES, !seen[p - p0]);
      seen[p - p0] = 1;
    }
  }
  const uint8_t *one[1];
  for (uint32_t p = p0; p < end; p++) {
    if (!seen[p - p0]) continue;
    one[0] = scratch + (p - p0) * PAGE_BYTES;
    acc += count_or(one, 1, PAGE_BYTES);
  }
  return acc;
}

/**
 * Map by map: at g = 3 the meta slices of META_GROUP pages of the volume (whole meta
 * pages, 16 KiB in L1) map after map, then the bit map pages BLOCK pages at a time.
 */
static uint64_t floor_blocked(const Layout *l, uint8_t *scratch) {
  uint64_t acc = 0;
  uint8_t *meta_acc = scratch + BLOCK * PAGE_BYTES;
  for (uint32_t g0 = 0; g0 < l->pages; g0 += META_GROUP) {
    uint32_t group_end = g0 + META_GROUP < l->pages ? g0 + META_GROUP : l->pages;
    if (l->g == 3 && l->meta_maps) {
      size_t span = (size_t)(group_end - g0) * SLICE_BYTES;
      for (uint32_t i = 0; i < l->meta_maps; i++)
        for (uint32_t p = g0; p < group_end; p += 8) or_into(meta_acc + (p - g0) * SLICE_BYTES, meta_bytes(l, i, p), (group_end - p < 8 ? group_end - p : 8) * SLICE_BYTES, i == 0);
      const uint8_t *one[1] = { meta_acc };
      acc += count_or(one, 1, span);
    }
    for (uint32_t p0 = g0; p0 < group_end; p0 += BLOCK) acc += blocked_pages(l, scratch, p0, p0 + BLOCK < group_end ? p0 + BLOCK : group_end);
  }
  return acc;
}

static int32_t *read_entries(FILE *f, size_t n) {
  int32_t *e = malloc(n * 4 + 4);
  if (fread(e, 4, n, f) != n) { fprintf(stderr, "short layout file\n"); exit(1); }
  return e;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: read-floor layout.bin reps\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  uint32_t h[7];
  if (fread(h, 4, 7, f) != 7 || h[0] != 0x31464c52) { fprintf(stderr, "not a layout file\n"); return 1; }
  Layout l = { .pages = h[1], .k = h[2], .meta_maps = h[3], .g = h[4], .pool_pages = h[5], .meta_pool_pages = h[6] };
  if (l.k + l.meta_maps > MAX_STREAMS) { fprintf(stderr, "too many maps\n"); return 1; }
  l.meta_pages = l.g == 3 ? (l.pages + 7) / 8 : l.pages;
  l.bits = read_entries(f, (size_t)l.k * l.pages);
  l.meta = read_entries(f, (size_t)l.meta_maps * l.meta_pages);
  fclose(f);
  int reps = atoi(argv[2]);
  l.pool = alloc_random((size_t)l.pool_pages * PAGE_BYTES);
  l.meta_pool = alloc_random((size_t)l.meta_pool_pages * PAGE_BYTES);

  size_t bytes = 0;
  for (size_t i = 0; i < (size_t)l.k * l.pages; i++) bytes += l.bits[i] >= 0 ? PAGE_BYTES : 0;
  bytes += (size_t)l.meta_maps * l.pages * (l.g == 3 ? SLICE_BYTES : PAGE_BYTES);
  size_t stream_bytes = (bytes + 255) & ~(size_t)255;
  uint8_t *stream = alloc_random(stream_bytes);
  uint8_t *ma = alloc_random(bytes / 2), *mb = malloc(bytes / 2 + 1);
  memcpy(mb, ma, bytes / 2);
  uint8_t *scratch = aligned_alloc(64, BLOCK * PAGE_BYTES + META_GROUP * SLICE_BYTES);

  /* Each op runs back to back (two untimed calls, then CALLS timed), as the bench times
     the count and memcmp in Node: what stays in the caches between calls stays here too.
     Rounds alternate the ops; each op's time is the median over rounds of its medians. */
  double *t = malloc(sizeof(double) * 4 * reps), calls[CALLS];
  uint64_t fused = 0, blocked = 0, check = 0;
  const uint8_t *one[1] = { stream };
  for (int r = 0; r < reps; r++) {
    for (int op = 0; op < 4; op++) {
      for (int c = -2; c < CALLS; c++) {
        double t0 = now_ms();
        if (op == 0) fused = floor_fused(&l);
        else if (op == 1) blocked = floor_blocked(&l, scratch);
        else if (op == 2) check += count_or(one, 1, stream_bytes);
        else check += memcmp(ma, mb, bytes / 2) != 0;
        if (c >= 0) calls[c] = now_ms() - t0;
      }
      qsort(calls, CALLS, sizeof(double), cmp_double);
      t[op * reps + r] = calls[CALLS / 2];
    }
  }
  if (fused != blocked) { fprintf(stderr, "the two floors disagree: %llu vs %llu\n", (unsigned long long)fused, (unsigned long long)blocked); return 1; }
  for (int i = 0; i < 4; i++) qsort(t + i * reps, reps, sizeof(double), cmp_double);
  printf("{\"bytes\":%zu,\"fusedMs\":%.4f,\"blockedMs\":%.4f,\"streamMs\":%.4f,\"memcmpMs\":%.4f,\"bits\":%llu,\"check\":%llu}\n",
    bytes, t[reps / 2], t[reps + reps / 2], t[2 * reps + reps / 2], t[3 * reps + reps / 2], (unsigned long long)fused, (unsigned long long)check);
  return 0;
}
