// The scan of a small delta over sparse pages against its count, compiled natively: how
// close can a scan (the union's runs as (start, length) u32 pairs, in block order) get
// to the count (the union's set bits) when every page of the K bit maps is a short u16
// bit list (scattered 0.01 %: ~3.3 bits a page a map)? bench/lib/sparse-native.mjs
// writes the input (the lists of packed PagedBitmaps, page-major, with countDelta's and
// scanDelta's results to check against), builds this program and runs it beside the
// wasm kernels; it says how to run both. Prints one JSON line; exits 1 when a variant
// disagrees with the expected count, extents or blocks.
//
//   gcc -O3 -march=native -o /tmp/sparse-scan bench/native/sparse-scan.c && /tmp/sparse-scan FILE [reps]
//
// Variants (each a count and a scan, best of `reps` passes over all pages):
//   A "marks", the scheme of the wasm kernels (assembly/lib/sparse-lists.ts): a page's lists
//     flattened into one u16 array (16-byte copies), the 64-bit words of a 4 KiB
//     accumulator they touch cleared, then the bits set, counting the ones newly set;
//     the scan also names the touched words in a 512-bit summary and walks them in order
//     (one loop trip a word, the next summary word by selects, as lib/extents.ts runsInWords).
//   B "sorted": the flattened bits insertion-sorted (the input is K ascending runs), then
//     distinct values counted / runs of consecutive values emitted; no accumulator.
//   C "merge": the K ascending lists (each closed by a 0xFFFF sentinel) merged pairwise,
//     branch-free with a fixed trip count (one output a trip), the last merge streamed
//     into the count / the run emitter: log2(K) moves a bit, no sort, no accumulator.
//   D "marks, flat walk": A's marking (its count is A's); the scan extracts the touched
//     words from the summary and then their bits without data-dependent branches (a
//     fixed number of tzcnt steps a word, a loop only past them), and writes the runs of
//     the sorted bits branch-free (every bit rewrites the run it is in).
//   E "SIMD sort" (only with AVX-512BW + VBMI2, as -march=native gives on this machine's
//     CPU): the page's bits in 1, 2 or 4 zmm registers of 32 u16 lanes (0xFFFF padding),
//     bitonic-sorted (permutexvar + min/max + blend; in one register only the stages the
//     lanes in use need); the count is the lanes unlike their predecessor, the scan
//     compresses the run starts and ends (vpcompressw) and writes (start, length) pairs
//     16 at a time. Pages of more than 128 bits (none at 0.01 %) fall back to B.
// File: u32 header {magic, pages, k, bits, count, extents, blocks, pageBlocks}, then per
// page, per map: u16 n, n u16 bit numbers (ascending within a list for variant C).

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#define MAGIC 0x31534e53u /* "SNS1" */
#define SENTINEL 0xFFFFu

struct input {
  uint32_t pages, k, bits, page_blocks;
  uint64_t count, extents, blocks;
  const uint16_t *stream; /* page-major lists */
  uint32_t max_page_bits; /* most bits listed for one page (all maps) */
};

struct scan_result { uint64_t extents, blocks; };

/* Scratch, allocated once. */
static uint64_t acc[512] __attribute__((aligned(64)));
static uint64_t summary[8] __attribute__((aligned(64)));
static uint16_t *flat, *buf_a, *buf_b;
static uint32_t *out; /* (start, length) pairs */

/* Copies a page's K lists (from the stream at *sp) into `to`, 16 bytes a step (reading up
 * to 14 bytes past a list, writing up to 14 past the last bit); returns the bits and
 * advances *sp past the page. */
static inline uint32_t flatten(const uint16_t **sp, uint32_t k, uint16_t *to) {
  const uint16_t *s = *sp;
  uint32_t n = 0;
  for (uint32_t m = 0; m < k; m++) {
    uint32_t c = *s++;
    uint16_t *d = to + n;
    for (uint32_t i = 0; i < c; i += 8) memcpy(d + i, s + i, 16);
    s += c;
    n += c;
  }
  *sp = s;
  return n;
}

/* ---- run emitter: global block numbers, so a run crossing a page joins by itself ---- */

struct runs { uint32_t *out; uint64_t n; uint32_t start, end; int open; };

static inline void emit(struct runs *r, uint32_t start, uint32_t len) {
  r->out[2 * r->n] = start;
  r->out[2 * r->n + 1] = len;
  r->n++;
}

/* The runs of word w at block `base`, words fed in ascending order (the untouched ones
 * between them are zero). */
static inline void word_runs(struct runs *r, uint64_t w, uint32_t base) {
  if (r->open) {
    if (r->end != base) {
      emit(r, r->start, r->end - r->start);
      r->open = 0;
    } else {
      uint64_t inv = ~w;
      if (inv == 0) { r->end = base + 64; return; }
      unsigned e = __builtin_ctzll(inv);
      emit(r, r->start, base + e - r->start);
      r->open = 0;
      w &= ~0ull << e; /* e < 64; drops the low ones (none when e = 0) */
    }
  }
  while (w) {
    unsigned s = __builtin_ctzll(w);
    uint64_t inv = ~(w | ((1ull << s) - 1));
    if (inv == 0) { r->open = 1; r->start = base + s; r->end = base + 64; return; }
    unsigned e = __builtin_ctzll(inv);
    emit(r, base + s, e - s);
    w &= ~0ull << e;
  }
}

/* One value of an ascending stream (duplicates allowed). */
static inline void value_run(struct runs *r, uint32_t v) {
  if (r->open && v < r->end) return; /* a duplicate */
  if (r->open && v == r->end) { r->end = v + 1; return; }
  if (r->open) emit(r, r->start, r->end - r->start);
  r->open = 1;
  r->start = v;
  r->end = v + 1;
}

static inline void close_runs(struct runs *r) {
  if (r->open) emit(r, r->start, r->end - r->start);
  r->open = 0;
}

static struct scan_result result_of(const struct runs *r) {
  struct scan_result s = { r->n, 0 };
  for (uint64_t i = 0; i < r->n; i++) s.blocks += r->out[2 * i + 1];
  return s;
}

/* ---- A: marks ---- */

static uint64_t count_marks(const struct input *in) {
  const uint16_t *s = in->stream;
  uint64_t total = 0;
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t n = flatten(&s, in->k, flat);
    for (uint32_t i = 0; i < n; i++) acc[flat[i] >> 6] = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t b = flat[i];
      uint64_t w = acc[b >> 6];
      total += ((w >> (b & 63)) & 1) ^ 1;
      acc[b >> 6] = w | (1ull << (b & 63));
    }
  }
  return total;
}

static uint64_t scan_marks(const struct input *in) {
  const uint16_t *s = in->stream;
  struct runs r = { out, 0, 0, 0, 0 };
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t n = flatten(&s, in->k, flat);
    if (n == 0) continue;
    for (uint32_t i = 0; i < n; i++) acc[flat[i] >> 6] = 0;
    memset(summary, 0, sizeof summary);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t b = flat[i];
      acc[b >> 6] |= 1ull << (b & 63);
      summary[b >> 12] |= 1ull << ((b >> 6) & 63);
    }
    uint32_t page_start = p * in->page_blocks;
    /* One loop trip a named word, stepping to the next summary word by selects (as
     * lib/extents.ts runsInWords): a loop per summary word mispredicts its exit. */
    uint32_t groups = 0, words = 0;
    for (uint32_t g = 0; g < 8; g++) {
      groups |= (uint32_t)(summary[g] != 0) << g;
      words += __builtin_popcountll(summary[g]);
    }
    uint32_t g = 0;
    uint64_t t = 0;
    for (uint32_t i = 0; i < words; i++) {
      int refill = t == 0;
      uint32_t next = __builtin_ctz(groups | 0x100) & 7;
      g = refill ? next : g;
      t = refill ? summary[next] : t;
      groups = refill ? groups & (groups - 1) : groups;
      uint32_t word = (g << 6) + __builtin_ctzll(t);
      t &= t - 1;
      word_runs(&r, acc[word], page_start + (word << 6));
    }
  }
  close_runs(&r);
  return r.n;
}

/* ---- D: marks, walked without branches on the bits ---- */

/* Trailing zeros, 64 for 0: tzcnt with BMI1 (`w ? ctz : 64` compiles to a branch). */
#ifdef __BMI__
#include <immintrin.h>
static inline uint32_t tz64(uint64_t w) { return (uint32_t)_tzcnt_u64(w); }
#else
static inline uint32_t tz64(uint64_t w) { return w ? (uint32_t)__builtin_ctzll(w) : 64; }
#endif

/* Writes base + the numbers of w's set bits, ascending, to `to`; returns how many. The
 * first `unroll` are written whatever w holds (the loop's exit depends only on the
 * rare words with more): to[] has room for `unroll` past the count. */
#define BITS_OF(w, base, to, unroll, c)                                \
  do {                                                                 \
    uint64_t w_ = (w);                                                 \
    (c) = (uint32_t)__builtin_popcountll(w_);                          \
    uint32_t i_ = 0;                                                   \
    do {                                                               \
      for (uint32_t j_ = 0; j_ < (unroll); j_++) {                     \
        (to)[i_ + j_] = (uint16_t)((base) + tz64(w_));                 \
        w_ &= w_ - 1;                                                  \
      }                                                                \
      i_ += (unroll);                                                  \
    } while (i_ < (c));                                                \
  } while (0)

static uint16_t *words_list, *bits_list;

static uint64_t scan_marks_flat(const struct input *in) {
  const uint16_t *s = in->stream;
  uint32_t *o = out;
  uint32_t cur_start = 0, prev_end = UINT32_MAX;
  uint64_t n = 0;
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t nf = flatten(&s, in->k, flat);
    memset(summary, 0, sizeof summary);
    for (uint32_t i = 0; i < nf; i++) {
      uint32_t b = flat[i];
      acc[b >> 6] = 0;
      summary[b >> 12] |= 1ull << ((b >> 6) & 63);
    }
    for (uint32_t i = 0; i < nf; i++) {
      uint32_t b = flat[i];
      acc[b >> 6] |= 1ull << (b & 63);
    }
    /* the touched words, in order */
    uint32_t nw = 0;
    for (uint32_t g = 0; g < 8; g++) {
      uint32_t c;
      BITS_OF(summary[g], g << 6, words_list + nw, 8, c);
      nw += c;
    }
    /* their bits, in order */
    uint32_t nb = 0;
    for (uint32_t i = 0; i < nw; i++) {
      uint32_t word = words_list[i], c;
      BITS_OF(acc[word], word << 6, bits_list + nb, 2, c);
      nb += c;
    }
    /* runs of consecutive bits: every bit rewrites the run it is in, so no branch */
    uint32_t page_start = p * in->page_blocks;
    for (uint32_t i = 0; i < nb; i++) {
      uint32_t v = page_start + bits_list[i];
      uint32_t fresh = v != prev_end;
      cur_start = fresh ? v : cur_start;
      n += fresh;
      o[2 * n - 2] = cur_start;
      o[2 * n - 1] = v + 1 - cur_start;
      prev_end = v + 1;
    }
  }
  return n;
}

/* ---- B: sorted ---- */

static inline void insertion_sort(uint16_t *a, uint32_t n) {
  for (uint32_t i = 1; i < n; i++) {
    uint16_t v = a[i];
    uint32_t j = i;
    while (j > 0 && a[j - 1] > v) { a[j] = a[j - 1]; j--; }
    a[j] = v;
  }
}

static uint64_t count_sorted(const struct input *in) {
  const uint16_t *s = in->stream;
  uint64_t total = 0;
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t n = flatten(&s, in->k, flat);
    if (n == 0) continue;
    insertion_sort(flat, n);
    total += 1;
    for (uint32_t i = 1; i < n; i++) total += flat[i] != flat[i - 1];
  }
  return total;
}

static uint64_t scan_sorted(const struct input *in) {
  const uint16_t *s = in->stream;
  struct runs r = { out, 0, 0, 0, 0 };
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t n = flatten(&s, in->k, flat);
    insertion_sort(flat, n);
    uint32_t page_start = p * in->page_blocks;
    for (uint32_t i = 0; i < n; i++) value_run(&r, page_start + flat[i]);
  }
  close_runs(&r);
  return r.n;
}

/* ---- C: pairwise merge of the sorted lists ---- */

/* Merges a and b (each closed by SENTINEL) into `to`, closed by SENTINEL: na + nb trips. */
static inline uint32_t merge2(const uint16_t *a, uint32_t na, const uint16_t *b, uint32_t nb, uint16_t *to) {
  uint32_t n = na + nb;
  for (uint32_t k = 0; k < n; k++) {
    uint16_t x = *a, y = *b;
    int take_b = y < x;
    to[k] = take_b ? y : x;
    b += take_b;
    a += !take_b;
  }
  to[n] = SENTINEL;
  return n;
}

struct list { const uint16_t *at; uint32_t n; };

/* Copies the page's lists into `buf`, each closed by a sentinel; returns how many are not
 * empty (in `lists`). */
static inline uint32_t gather_lists(const uint16_t **sp, uint32_t k, uint16_t *buf, struct list *lists) {
  const uint16_t *s = *sp;
  uint32_t at = 0, m = 0;
  for (uint32_t j = 0; j < k; j++) {
    uint32_t c = *s++;
    if (c == 0) continue;
    uint16_t *d = buf + at;
    for (uint32_t i = 0; i < c; i += 8) memcpy(d + i, s + i, 16);
    d[c] = SENTINEL;
    lists[m].at = d;
    lists[m].n = c;
    m++;
    s += c;
    at += c + 1;
  }
  *sp = s;
  return m;
}

/* Merges pairs until at most two lists are left (ping-pong between buf_a and buf_b). */
static inline uint32_t merge_down(struct list *lists, uint32_t m) {
  uint16_t *bufs[2] = { buf_b, buf_a };
  int which = 0;
  while (m > 2) {
    uint16_t *to = bufs[which];
    uint32_t at = 0, j = 0;
    for (uint32_t i = 0; i + 1 < m; i += 2) {
      uint32_t n = merge2(lists[i].at, lists[i].n, lists[i + 1].at, lists[i + 1].n, to + at);
      lists[j].at = to + at;
      lists[j].n = n;
      j++;
      at += n + 1;
    }
    if (m & 1) {
      /* the odd one out is copied, so that the next round's buffer may be overwritten */
      uint32_t c = lists[m - 1].n;
      memcpy(to + at, lists[m - 1].at, (c + 1) * 2);
      lists[j].at = to + at;
      lists[j].n = c;
      j++;
    }
    m = j;
    which ^= 1;
  }
  return m;
}

static uint64_t count_merge(const struct input *in) {
  const uint16_t *s = in->stream;
  struct list lists[64];
  uint64_t total = 0;
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t m = merge_down(lists, gather_lists(&s, in->k, buf_a, lists));
    if (m == 0) continue;
    const uint16_t *a = lists[0].at, *b = m > 1 ? lists[1].at : &(uint16_t){ SENTINEL };
    uint32_t n = lists[0].n + (m > 1 ? lists[1].n : 0);
    uint32_t prev = SENTINEL; /* no bit number equals it */
    for (uint32_t k = 0; k < n; k++) {
      uint16_t x = *a, y = *b;
      int take_b = y < x;
      uint32_t v = take_b ? y : x;
      b += take_b;
      a += !take_b;
      total += v != prev;
      prev = v;
    }
  }
  return total;
}

static uint64_t scan_merge(const struct input *in) {
  const uint16_t *s = in->stream;
  struct list lists[64];
  struct runs r = { out, 0, 0, 0, 0 };
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t m = merge_down(lists, gather_lists(&s, in->k, buf_a, lists));
    if (m == 0) continue;
    const uint16_t *a = lists[0].at, *b = m > 1 ? lists[1].at : &(uint16_t){ SENTINEL };
    uint32_t n = lists[0].n + (m > 1 ? lists[1].n : 0);
    uint32_t page_start = p * in->page_blocks;
    for (uint32_t k = 0; k < n; k++) {
      uint16_t x = *a, y = *b;
      int take_b = y < x;
      uint32_t v = take_b ? y : x;
      b += take_b;
      a += !take_b;
      value_run(&r, page_start + v);
    }
  }
  close_runs(&r);
  return r.n;
}

/* ---- E: a SIMD sort of the page's bits (AVX-512BW + VBMI2) ---- */

#if defined(__AVX512BW__) && defined(__AVX512VBMI2__)
#include <immintrin.h>
#define HAVE_SIMD_SORT 1

/* Compare-exchange stages of a bitonic sort of 32 u16 lanes (15), of the merge of a
 * bitonic 32 (5): partner lane i ^ j, `max` names the lanes that keep the larger. */
static __m512i bt_idx[15], mg_idx[5], rev_idx, prev_idx, next_idx, il_lo, il_hi;
static __mmask32 bt_max[15], mg_max[5];

static void init_bitonic(void) {
  uint16_t idx[32];
  uint32_t i32[16];
  int s = 0;
  for (int k = 2; k <= 32; k <<= 1)
    for (int j = k >> 1; j > 0; j >>= 1, s++) {
      uint32_t m = 0;
      for (int i = 0; i < 32; i++) {
        idx[i] = (uint16_t)(i ^ j);
        if (((i & j) != 0) != ((i & k) != 0)) m |= 1u << i;
      }
      bt_idx[s] = _mm512_loadu_si512(idx);
      bt_max[s] = m;
    }
  s = 0;
  for (int j = 16; j > 0; j >>= 1, s++) {
    uint32_t m = 0;
    for (int i = 0; i < 32; i++) {
      idx[i] = (uint16_t)(i ^ j);
      if (i & j) m |= 1u << i;
    }
    mg_idx[s] = _mm512_loadu_si512(idx);
    mg_max[s] = m;
  }
  for (int i = 0; i < 32; i++) idx[i] = (uint16_t)(31 - i);
  rev_idx = _mm512_loadu_si512(idx);
  /* permutex2var(a, idx, b): lanes 32.. are b's. prev: (a[31], b[0..30]); next: (a[1..31], b[0]). */
  for (int i = 0; i < 32; i++) idx[i] = (uint16_t)(i == 0 ? 31 : 32 + i - 1);
  prev_idx = _mm512_loadu_si512(idx);
  for (int i = 0; i < 32; i++) idx[i] = (uint16_t)(i + 1);
  next_idx = _mm512_loadu_si512(idx);
  /* (start, length) pairs from 16 starts (a) and 16 lengths (b), u32 */
  for (int i = 0; i < 16; i++) i32[i] = (i & 1) ? 16 + (i >> 1) : (i >> 1);
  il_lo = _mm512_loadu_si512(i32);
  for (int i = 0; i < 16; i++) i32[i] = (i & 1) ? 24 + (i >> 1) : 8 + (i >> 1);
  il_hi = _mm512_loadu_si512(i32);
}

static inline __m512i cx(__m512i v, __m512i idx, __mmask32 mx) {
  __m512i p = _mm512_permutexvar_epi16(idx, v);
  return _mm512_mask_blend_epi16(mx, _mm512_min_epu16(v, p), _mm512_max_epu16(v, p));
}

static inline __m512i sort32(__m512i v) {
  for (int s = 0; s < 15; s++) v = cx(v, bt_idx[s], bt_max[s]);
  return v;
}

static inline __m512i merge32(__m512i v) {
  for (int s = 0; s < 5; s++) v = cx(v, mg_idx[s], mg_max[s]);
  return v;
}

/* Sorts R (1, 2 or 4) registers as one sequence of 32 R lanes. */
static inline __attribute__((always_inline)) void sort_regs(__m512i *v, int R) {
  for (int r = 0; r < R; r++) v[r] = sort32(v[r]);
  for (int r = 0; r + 1 < R; r += 2) {
    __m512i b = _mm512_permutexvar_epi16(rev_idx, v[r + 1]);
    __m512i lo = _mm512_min_epu16(v[r], b), hi = _mm512_max_epu16(v[r], b);
    v[r] = merge32(lo);
    v[r + 1] = merge32(hi);
  }
  if (R == 4) {
    __m512i b0 = _mm512_permutexvar_epi16(rev_idx, v[3]), b1 = _mm512_permutexvar_epi16(rev_idx, v[2]);
    __m512i l0 = _mm512_min_epu16(v[0], b0), l1 = _mm512_min_epu16(v[1], b1);
    __m512i h0 = _mm512_max_epu16(v[0], b0), h1 = _mm512_max_epu16(v[1], b1);
    v[0] = merge32(_mm512_min_epu16(l0, l1));
    v[1] = merge32(_mm512_max_epu16(l0, l1));
    v[2] = merge32(_mm512_min_epu16(h0, h1));
    v[3] = merge32(_mm512_max_epu16(h0, h1));
  }
}

static inline __mmask32 lanes_below(uint32_t n, uint32_t r) {
  uint32_t left = n > 32 * r ? n - 32 * r : 0;
  return (__mmask32)_bzhi_u32(~0u, left > 32 ? 32 : left);
}

/* Loads a page's n bits (from `flat`) into R registers, padded with 0xFFFF, and sorts them.
 * In one register only the stages that the lanes in use need: with the rest 0xFFFF, the
 * first 3, 6 or 10 stages sort 4, 8 or 16 lanes. */
static inline __attribute__((always_inline)) void load_sorted(__m512i *v, int R, const uint16_t *from, uint32_t n) {
  __m512i pad = _mm512_set1_epi16((short)0xFFFF);
  for (int r = 0; r < R; r++) v[r] = _mm512_mask_loadu_epi16(pad, lanes_below(n, r), from + 32 * r);
  if (R == 1) {
    int stages = n <= 1 ? 0 : n <= 2 ? 1 : n <= 4 ? 3 : n <= 8 ? 6 : n <= 16 ? 10 : 15;
    for (int s = 0; s < stages; s++) v[0] = cx(v[0], bt_idx[s], bt_max[s]);
    return;
  }
  sort_regs(v, R);
}

/* Distinct values among the first n lanes of R sorted registers. */
static inline __attribute__((always_inline)) uint32_t distinct_regs(const __m512i *v, int R, uint32_t n) {
  uint32_t d = 0;
  __m512i before = _mm512_set1_epi16((short)0xFFFE);
  for (int r = 0; r < R; r++) {
    __m512i prev = _mm512_permutex2var_epi16(r ? v[r - 1] : before, prev_idx, v[r]);
    d += __builtin_popcount(_mm512_mask_cmpneq_epu16_mask(lanes_below(n, r), v[r], prev));
  }
  return d;
}

static uint16_t *starts16, *ends16;

/* The runs of the first n lanes of R sorted registers (page bits; duplicates allowed)
 * as (start, length) pairs at o + 2 * *np, joined to the last one when it ends at the
 * page's start. Writes up to 15 pairs past the last. */
static inline __attribute__((always_inline)) void runs_regs(const __m512i *v, int R, uint32_t n, uint32_t page_start,
                                                            uint32_t *o, uint64_t *np) {
  __m512i one = _mm512_set1_epi16(1);
  __m512i before = _mm512_set1_epi16((short)0xFFFE), after = _mm512_set1_epi16((short)0xFFFF);
  uint64_t at = *np;
  __m512i base = _mm512_set1_epi32((int)page_start), one32 = _mm512_set1_epi32(1);
  uint32_t ns = 0, ne = 0;
  if (R == 1) {
    /* one register: as many starts as ends, all in registers */
    __mmask32 valid = lanes_below(n, 0);
    __m512i prev = _mm512_permutex2var_epi16(before, prev_idx, v[0]);
    __m512i next = _mm512_permutex2var_epi16(v[0], next_idx, after);
    __mmask32 sm = _mm512_mask_cmpneq_epu16_mask(_mm512_mask_cmpneq_epu16_mask(valid, v[0], prev), v[0], _mm512_add_epi16(prev, one));
    __mmask32 em = _mm512_mask_cmpneq_epu16_mask(_mm512_mask_cmpneq_epu16_mask(valid, next, v[0]), next, _mm512_add_epi16(v[0], one));
    __m512i st16 = _mm512_maskz_compress_epi16(sm, v[0]);
    __m512i len16 = _mm512_add_epi16(_mm512_sub_epi16(_mm512_maskz_compress_epi16(em, v[0]), st16), one);
    ns = __builtin_popcount(sm);
    for (uint32_t i = 0; i < ns; i += 16) {
      __m256i s_half = i ? _mm512_extracti64x4_epi64(st16, 1) : _mm512_castsi512_si256(st16);
      __m256i l_half = i ? _mm512_extracti64x4_epi64(len16, 1) : _mm512_castsi512_si256(len16);
      __m512i st = _mm512_add_epi32(_mm512_cvtepu16_epi32(s_half), base);
      __m512i len = _mm512_cvtepu16_epi32(l_half);
      _mm512_storeu_si512(o + 2 * (at + i), _mm512_permutex2var_epi32(st, il_lo, len));
      _mm512_storeu_si512(o + 2 * (at + i) + 16, _mm512_permutex2var_epi32(st, il_hi, len));
    }
    goto joined;
  }
  for (int r = 0; r < R; r++) {
    __mmask32 valid = lanes_below(n, r);
    __m512i prev = _mm512_permutex2var_epi16(r ? v[r - 1] : before, prev_idx, v[r]);
    __m512i next = _mm512_permutex2var_epi16(v[r], next_idx, r + 1 < R ? v[r + 1] : after);
    /* a run starts at a value that neither repeats nor follows its predecessor, ends at one its successor neither repeats nor follows */
    __mmask32 sm = _mm512_mask_cmpneq_epu16_mask(_mm512_mask_cmpneq_epu16_mask(valid, v[r], prev), v[r], _mm512_add_epi16(prev, one));
    __mmask32 em = _mm512_mask_cmpneq_epu16_mask(_mm512_mask_cmpneq_epu16_mask(valid, next, v[r]), next, _mm512_add_epi16(v[r], one));
    _mm512_storeu_si512(starts16 + ns, _mm512_maskz_compress_epi16(sm, v[r]));
    _mm512_storeu_si512(ends16 + ne, _mm512_maskz_compress_epi16(em, v[r]));
    ns += __builtin_popcount(sm);
    ne += __builtin_popcount(em);
  }
  for (uint32_t i = 0; i < ns; i += 16) {
    __m512i st = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(starts16 + i)));
    __m512i en = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(ends16 + i)));
    __m512i len = _mm512_add_epi32(_mm512_sub_epi32(en, st), one32);
    st = _mm512_add_epi32(st, base);
    _mm512_storeu_si512(o + 2 * (at + i), _mm512_permutex2var_epi32(st, il_lo, len));
    _mm512_storeu_si512(o + 2 * (at + i) + 16, _mm512_permutex2var_epi32(st, il_hi, len));
  }
joined:
  /* a run that crosses into this page from the last one (rare) */
  if (__builtin_expect(at > 0 && o[2 * at] == page_start && o[2 * at - 2] + o[2 * at - 1] == page_start, 0)) {
    o[2 * at - 1] += o[2 * at + 1];
    memmove(o + 2 * at, o + 2 * at + 2, (size_t)(ns - 1) * 8);
    ns--;
  }
  *np = at + ns;
}

static __m512i *sorted_regs; /* pages of more than 128 bits: sorted in memory, then loaded */

static inline uint32_t regs_of(uint32_t n) { return n <= 32 ? 1 : n <= 64 ? 2 : n <= 128 ? 4 : 0; }

/* More than 128 bits (never at 0.01 %): insertion sort, then the registers from memory. */
static uint32_t long_page(uint32_t n) {
  insertion_sort(flat, n);
  uint32_t R = (n + 31) / 32;
  __m512i pad = _mm512_set1_epi16((short)0xFFFF);
  for (uint32_t r = 0; r < R; r++) sorted_regs[r] = _mm512_mask_loadu_epi16(pad, lanes_below(n, r), flat + 32 * r);
  return R;
}

static uint64_t count_simd(const struct input *in) {
  const uint16_t *s = in->stream;
  uint64_t total = 0;
  __m512i v[4];
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t n = flatten(&s, in->k, flat);
    switch (regs_of(n)) {
      case 1: load_sorted(v, 1, flat, n); total += distinct_regs(v, 1, n); break;
      case 2: load_sorted(v, 2, flat, n); total += distinct_regs(v, 2, n); break;
      case 4: load_sorted(v, 4, flat, n); total += distinct_regs(v, 4, n); break;
      default: {
        uint32_t R = long_page(n);
        for (uint32_t i = 1; i < n; i++) total += flat[i] != flat[i - 1];
        total += 1;
        (void)R;
      }
    }
  }
  return total;
}

static uint64_t scan_simd(const struct input *in) {
  const uint16_t *s = in->stream;
  uint64_t n_out = 0;
  __m512i v[4];
  for (uint32_t p = 0; p < in->pages; p++) {
    uint32_t n = flatten(&s, in->k, flat);
    if (n == 0) continue;
    uint32_t page_start = p * in->page_blocks;
    switch (regs_of(n)) {
      case 1: load_sorted(v, 1, flat, n); runs_regs(v, 1, n, page_start, out, &n_out); break;
      case 2: load_sorted(v, 2, flat, n); runs_regs(v, 2, n, page_start, out, &n_out); break;
      case 4: load_sorted(v, 4, flat, n); runs_regs(v, 4, n, page_start, out, &n_out); break;
      default: {
        /* the registers one window at a time would need the neighbours: fall back to the scalar runs */
        long_page(n);
        struct runs r = { out, n_out, 0, 0, 0 };
        uint32_t last = n_out ? out[2 * n_out - 2] : 0, end = n_out ? last + out[2 * n_out - 1] : 0;
        if (n_out) { r.n = n_out - 1; r.open = 1; r.start = last; r.end = end; }
        for (uint32_t i = 0; i < n; i++) value_run(&r, page_start + flat[i]);
        close_runs(&r);
        n_out = r.n;
      }
    }
  }
  return n_out;
}
#endif

/* ---- driver ---- */

static volatile uint64_t sink;

static double best_of(uint64_t (*fn)(const struct input *), const struct input *in, int reps, uint64_t *value) {
  double best = 1e300;
  for (int i = 0; i < reps; i++) {
    double t = now_ms();
    uint64_t v = fn(in);
    t = now_ms() - t;
    if (t < best) best = t;
    *value = v;
  }
  sink += *value;
  return best;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: sparse-scan FILE [reps]\n"); return 2; }
  int reps = argc > 2 ? atoi(argv[2]) : 15;
  if (reps < 1) reps = 1;
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 2; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = aligned_alloc(64, ((size_t)size + 64 + 63) & ~(size_t)63); /* slack for 16-byte reads */
  if (!data || fread(data, 1, size, f) != (size_t)size) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
  fclose(f);
  memset(data + size, 0, 64);
  const uint32_t *h = (const uint32_t *)data;
  if (h[0] != MAGIC) { fprintf(stderr, "%s: not a sparse-scan input\n", argv[1]); return 2; }
  struct input in = { h[1], h[2], h[3], h[7], h[4], h[5], h[6], (const uint16_t *)(h + 8), 0 };
  if (in.k > 64) { fprintf(stderr, "at most 64 maps\n"); return 2; }
  /* The most bits of one page; every list checked to lie inside the file. */
  const uint16_t *s = in.stream, *end = (const uint16_t *)(data + size);
  uint64_t listed = 0;
  for (uint32_t p = 0; p < in.pages; p++) {
    uint32_t n = 0;
    for (uint32_t m = 0; m < in.k; m++) {
      if (s >= end) { fprintf(stderr, "truncated input\n"); return 2; }
      uint32_t c = *s++;
      if (s + c > end) { fprintf(stderr, "truncated input\n"); return 2; }
      s += c;
      n += c;
    }
    listed += n;
    if (n > in.max_page_bits) in.max_page_bits = n;
  }
  if (listed != in.bits) { fprintf(stderr, "header says %u bits, lists hold %llu\n", in.bits, (unsigned long long)listed); return 2; }
  size_t scratch = (size_t)in.max_page_bits + in.k + 64;
  flat = aligned_alloc(64, ((scratch * 2) + 63) & ~(size_t)63);
  buf_a = aligned_alloc(64, ((scratch * 2) + 63) & ~(size_t)63);
  buf_b = aligned_alloc(64, ((scratch * 2) + 63) & ~(size_t)63);
  words_list = aligned_alloc(64, ((scratch * 2) + 63) & ~(size_t)63);
  bits_list = aligned_alloc(64, ((scratch * 2) + 63) & ~(size_t)63);
#ifdef HAVE_SIMD_SORT
  init_bitonic();
  starts16 = aligned_alloc(64, ((scratch * 2) + 64 + 63) & ~(size_t)63);
  ends16 = aligned_alloc(64, ((scratch * 2) + 64 + 63) & ~(size_t)63);
  sorted_regs = aligned_alloc(64, (scratch / 32 + 2) * 64);
  if (!starts16 || !ends16 || !sorted_regs) { fprintf(stderr, "out of memory\n"); return 2; }
#endif
  size_t out_bytes = ((size_t)in.bits + 16) * 8; /* E writes up to 15 pairs past the last */
  out = malloc(out_bytes);
  uint32_t *copy = malloc(out_bytes);
  if (!flat || !buf_a || !buf_b || !words_list || !bits_list || !out || !copy) { fprintf(stderr, "out of memory\n"); return 2; }
  memset(out, 0, out_bytes); /* fault the pages in before timing */
  memset(copy, 0, out_bytes);

  struct { const char *name, *label; uint64_t (*count)(const struct input *); uint64_t (*scan)(const struct input *); } variants[] = {
    { "A", "marks", count_marks, scan_marks }, { "B", "sorted", count_sorted, scan_sorted },
    { "C", "merge", count_merge, scan_merge }, { "D", "marks, flat walk", count_marks, scan_marks_flat },
#ifdef HAVE_SIMD_SORT
    { "E", "SIMD sort", count_simd, scan_simd },
#endif
  };
  int nv = sizeof variants / sizeof variants[0];
  double count_ms[8], scan_ms[8];
  int exact = 1;
  char errors[1024] = "";
  for (int v = 0; v < nv; v++) {
    uint64_t c, e;
    count_ms[v] = best_of(variants[v].count, &in, reps, &c);
    scan_ms[v] = best_of(variants[v].scan, &in, reps, &e);
    struct runs r = { out, e, 0, 0, 0 };
    struct scan_result sr = result_of(&r);
    /* the extents ascend and do not touch */
    int ordered = 1;
    for (uint64_t i = 1; i < e; i++) if (out[2 * i] <= out[2 * i - 2] + out[2 * i - 1]) { ordered = 0; break; }
    if (c != in.count || sr.extents != in.extents || sr.blocks != in.blocks || !ordered) {
      exact = 0;
      size_t at = strlen(errors);
      snprintf(errors + at, sizeof errors - at, "%s%s: count %llu, %llu extents of %llu blocks%s", at ? "; " : "", variants[v].name,
               (unsigned long long)c, (unsigned long long)sr.extents, (unsigned long long)sr.blocks, ordered ? "" : ", out of order");
    }
  }
  /* What copying the extents out once costs (scanDelta hands out copies of its batches). */
  double copy_ms = 1e300;
  for (int i = 0; i < reps; i++) {
    double t = now_ms();
    memcpy(copy, out, in.extents * 8);
    __asm__ volatile("" ::"r"(copy) : "memory");
    t = now_ms() - t;
    if (t < copy_ms) copy_ms = t;
  }

  printf("{\"k\":%u,\"pages\":%u,\"bits\":%u,\"maxPageBits\":%u,\"count\":%llu,\"extents\":%llu,\"blocks\":%llu,\"reps\":%d,\"copyMs\":%.4f,\"variants\":{",
         in.k, in.pages, in.bits, in.max_page_bits, (unsigned long long)in.count, (unsigned long long)in.extents,
         (unsigned long long)in.blocks, reps, copy_ms);
  for (int v = 0; v < nv; v++)
    printf("%s\"%s\":{\"label\":\"%s\",\"countMs\":%.4f,\"scanMs\":%.4f}", v ? "," : "", variants[v].name, variants[v].label,
           count_ms[v], scan_ms[v]);
  printf("},\"exact\":%s", exact ? "true" : "false");
  if (!exact) printf(",\"errors\":\"%s\"", errors);
  printf("}\n");
  return exact ? 0 : 1;
}
