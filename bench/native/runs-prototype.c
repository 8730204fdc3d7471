// A prototype of a run page form, compiled natively: the exact count of a delta whose bit
// maps keep each page as its runs, from bench/lib/runs-prototype.mjs's file (that script says
// how to run both). Per page of blocks: the union of the runs of the maps that store it,
// merged map by map; the meta level as the kernels do it (a = AND of the K meta slices,
// X = live & ~a, Y = live & a, at g = 3); then changed = 8 * |X| + the blocks of the union
// whose granule is in Y, from a prefix count of Y. Checked against countDelta's counts.
// Times (best of 7): the whole count, the union alone (= the plain count), the meta level
// alone. It bounds what a run page form could do against CRoaring on this machine.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

struct input {
  int k, pages, meta_pages;
  const uint32_t *run_starts;  // per pool page, into runs (pairs); one past the last
  const uint16_t *runs;        // [first, end) pairs within a page
  const int32_t *layout;       // k x pages: pool page, or -1 (not stored)
  const int32_t *meta_layout;  // (k + 1) x meta_pages: meta pool page (the last map is live)
  const uint8_t *meta;         // meta pool pages, 4 KiB each
  uint64_t expected, expected_plain;
};

/** Merges u[0..n) with r[0..m) (runs, ascending) into out; returns the runs written. */
static int merge(const uint32_t *u, int n, const uint16_t *r, int m, uint32_t *out) {
  int i = 0, j = 0, k = 0;
  int32_t end = -1;
  while (i < n || j < m) {
    uint32_t s, t;
    if (j >= m || (i < n && u[2 * i] <= r[2 * j])) { s = u[2 * i]; t = u[2 * i + 1]; i++; }
    else { s = r[2 * j]; t = r[2 * j + 1]; j++; }
    if ((int32_t)s <= end) {
      if ((int32_t)t > end) { out[2 * k - 1] = t; end = t; }
    } else {
      out[2 * k] = s; out[2 * k + 1] = t; end = t; k++;
    }
  }
  return k;
}

/** Granules of Y below granule g (pre: prefix counts per word). */
static inline uint32_t below(const uint64_t *y, const uint32_t *pre, uint32_t g) {
  return pre[g >> 6] + (uint32_t)__builtin_popcountll(y[g >> 6] & ((1ull << (g & 63)) - 1));
}

static inline int in_y(const uint64_t *y, uint32_t g) { return (y[g >> 6] >> (g & 63)) & 1; }

/** One pass over every page: `with_union` and `with_meta` select the parts timed. */
static void count(const struct input *in, int with_union, int with_meta, uint32_t *ua, uint32_t *ub,
                  uint64_t *total_out, uint64_t *plain_out) {
  uint64_t total = 0, plain = 0;
  for (int pg = 0; pg < in->pages; pg++) {
    int n = 0;
    uint32_t *u = ua, *v = ub;
    for (int m = 0; with_union && m < in->k; m++) {
      int e = in->layout[(long)m * in->pages + pg];
      if (e < 0) continue;
      n = merge(u, n, in->runs + 2L * in->run_starts[e], in->run_starts[e + 1] - in->run_starts[e], v);
      uint32_t *w = u; u = v; v = w;
    }
    for (int i = 0; i < n; i++) plain += u[2 * i + 1] - u[2 * i];
    if (!with_meta) continue;
    // g = 3: meta page pg / 8 holds this page's 4096 granules at byte (pg % 8) * 512.
    int mp = pg >> 3;
    long off = (long)(pg & 7) * 512;
    const uint64_t *live = (const uint64_t *)(in->meta + (long)in->meta_layout[(long)in->k * in->meta_pages + mp] * 4096 + off);
    uint64_t a[64], y[64];
    uint32_t pre[65];
    for (int w = 0; w < 64; w++) a[w] = ~0ull;
    for (int m = 0; m < in->k; m++) {
      const uint64_t *s = (const uint64_t *)(in->meta + (long)in->meta_layout[(long)m * in->meta_pages + mp] * 4096 + off);
      for (int w = 0; w < 64; w++) a[w] &= s[w];
    }
    uint64_t x = 0;
    pre[0] = 0;
    for (int w = 0; w < 64; w++) {
      x += __builtin_popcountll(live[w] & ~a[w]);
      y[w] = live[w] & a[w];
      pre[w + 1] = pre[w] + __builtin_popcountll(y[w]);
    }
    total += x << 3;
    for (int i = 0; i < n; i++) {
      uint32_t s = u[2 * i], t = u[2 * i + 1], g0 = s >> 3, g1 = t >> 3;
      if (g0 == g1) { if (in_y(y, g0)) total += t - s; continue; }
      if (s & 7) { if (in_y(y, g0)) total += 8 - (s & 7); g0++; }
      total += 8ull * (below(y, pre, g1) - below(y, pre, g0));
      if ((t & 7) && in_y(y, g1)) total += t & 7;
    }
  }
  *total_out = total;
  *plain_out = plain;
}

static double best_of(const struct input *in, int with_union, int with_meta, uint32_t *ua, uint32_t *ub,
                      uint64_t *total, uint64_t *plain) {
  double best = 1e30;
  for (int r = 0; r < 7; r++) {
    double t0 = now_ms();
    count(in, with_union, with_meta, ua, ub, total, plain);
    double ms = now_ms() - t0;
    if (ms < best) best = ms;
  }
  return best;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: runs-prototype <file from bench/lib/runs-prototype.mjs>\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 2; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = aligned_alloc(4096, (size + 4095) & ~4095L);
  if (fread(d, 1, size, f) != (size_t)size) { perror("read"); return 2; }
  fclose(f);
  const double *h = (const double *)d;
  struct input in = { .k = (int)h[0], .pages = (int)h[1], .meta_pages = (int)h[2],
                      .expected = (uint64_t)h[6], .expected_plain = (uint64_t)h[7] };
  int pool_pages = (int)h[3];
  long nruns = (long)h[4], meta_pool = (long)h[5];
  const uint8_t *p = d + 64;
  in.run_starts = (const uint32_t *)p; p += (pool_pages + 1) * 4L;
  in.runs = (const uint16_t *)p; p += nruns * 4;
  in.layout = (const int32_t *)p; p += (long)in.k * in.pages * 4;
  in.meta_layout = (const int32_t *)p; p += (long)(in.k + 1) * in.meta_pages * 4;
  uint8_t *meta = aligned_alloc(4096, meta_pool * 4096);
  memcpy(meta, p, meta_pool * 4096);
  in.meta = meta;
  // A union never holds more runs than a page can (16384: every other bit), 8 bytes each.
  uint32_t *ua = malloc(8 * 16384), *ub = malloc(8 * 16384);
  uint64_t total, plain, t2, p2;
  double whole = best_of(&in, 1, 1, ua, ub, &total, &plain);
  double union_only = best_of(&in, 1, 0, ua, ub, &t2, &p2);
  double meta_only = best_of(&in, 0, 1, ua, ub, &t2, &p2);
  int ok = total == in.expected && plain == in.expected_plain;
  printf("{\"k\":%d,\"pages\":%d,\"runs\":%ld,\"countMs\":%.3f,\"unionMs\":%.3f,\"metaMs\":%.3f,\"count\":%llu,\"plain\":%llu,\"exact\":%s}\n",
         in.k, in.pages, nruns, whole, union_only, meta_only, (unsigned long long)total, (unsigned long long)plain, ok ? "true" : "false");
  return ok ? 0 : 1;
}
