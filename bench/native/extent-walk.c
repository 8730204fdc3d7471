// The extent walk of bench/native/kernels.c (the wasm kernels' emitter, four runs a
// step, and one loop trip a run) over `pages` distinct 4 KiB pages of random holes
// (every bit set but a fraction `rate`, as in the union of many checkpoints' bit maps
// with blocks out of use) or random bits (`rate` of them set), so that the branch
// predictor cannot learn a page it sees again. bench/lib/extent-walk.mjs builds and
// runs it beside the wasm scan of pages of the same kind. Prints one JSON line.
//
//   gcc -O3 -march=native -o extent-walk bench/native/extent-walk.c && ./extent-walk 256 0.012 holes 9

#define main kernels_main
#include "kernels.c"
#undef main

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: extent-walk pages rate holes|bits reps\n"); return 2; }
  uint64_t pages = strtoull(argv[1], 0, 10);
  double rate = atof(argv[2]);
  int holes = strcmp(argv[3], "holes") == 0;
  int reps = atoi(argv[4]);
  if (reps > 64) reps = 64;
  uint64_t words = pages * 512;
  uint64_t *map = aligned_alloc(64, words * 8);
  for (uint64_t w = 0; w < words; w++) {
    uint64_t x = 0;
    for (int b = 0; b < 64; b++) if ((double)(next() >> 11) / 9007199254740992.0 < rate) x |= 1ull << b;
    map[w] = holes ? ~x : x;
  }
  uint32_t *out = malloc((words * 32 + 8) * 8); /* room for the slots past the last run */
  double tp[64], tl[64];
  uint64_t extents = 0, check = 0;
  for (int r = 0; r < reps; r++) {
    double t = now_ms();
    extents = emit_pairs(map, words, out);
    tp[r] = now_ms() - t;
    t = now_ms();
    check += emit_loops(map, words, out) != extents;
    tl[r] = now_ms() - t;
  }
  qsort(tp, reps, sizeof(double), cmp_double);
  qsort(tl, reps, sizeof(double), cmp_double);
  printf("{\"pages\":%llu,\"rate\":%g,\"kind\":\"%s\",\"words\":%llu,\"extents\":%llu,\"pairsMs\":%.4f,\"loopsMs\":%.4f,\"mismatches\":%llu}\n",
         (unsigned long long)pages, rate, holes ? "holes" : "bits", (unsigned long long)words, (unsigned long long)extents,
         tp[reps / 2], tl[reps / 2], (unsigned long long)check);
  return 0;
}
