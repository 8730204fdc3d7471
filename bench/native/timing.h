// Timing helpers shared by the native bench programs (included, not linked: each
// program is one gcc call).
#ifndef SNAPCOPY_BENCH_TIMING_H
#define SNAPCOPY_BENCH_TIMING_H

#include <time.h>

/** Monotonic time in milliseconds. */
static inline double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/** qsort order for doubles (medians of timings). */
static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#endif
