// Timings with tinybench: one untimed call first (it validates the result), a second
// one that estimates the cost, then a Bench with warmup whose iteration count fits a time
// budget, so that a 2-second scan runs a few times and a 20-microsecond one
// thousands of times.

import { Bench } from 'tinybench';

/**
 * Times fn. `check` is the first, untimed call (by default fn itself); its value
 * is returned as `value`. Options: budgetMs (time for the timed iterations),
 * minIterations, maxIterations, afterEach (untimed clean-up after every call).
 */
export async function measure(fn, { check = fn, budgetMs = 300, minIterations = 3, maxIterations = 1000, slowMs = 250, afterEach } = {}) {
  const start = performance.now();
  const value = check();
  let estimateMs = performance.now() - start;
  afterEach?.();
  // The first call may pay once for what the library keeps (a map's counts and runs of
  // its pages) and so look slow: a call that takes milliseconds once and microseconds
  // after got a few warm-up calls, and its timed calls ran, as far as we can tell, before
  // V8 had optimized the JavaScript around the kernels (the first arena of a run read 3 x
  // the third on the same kernels; with this estimate they agree within 10 %). A second
  // call, where the first was not slow, is the estimate.
  if (estimateMs < slowMs) {
    const t1 = performance.now();
    fn();
    estimateMs = performance.now() - t1;
    afterEach?.();
  }
  const iterations = Math.max(minIterations, Math.min(maxIterations, Math.round(budgetMs / Math.max(estimateMs, 0.001))));
  // Calls slower than slowMs: the checked first call was the warmup (one more would only cost time).
  const warmup = estimateMs < slowMs;
  const warmupIterations = warmup ? Math.max(1, Math.min(16, Math.round(iterations / 8))) : 0;
  // A call of microseconds (by the estimate) is timed only maxIterations times,
  // a few milliseconds in all, which can end before V8 has optimized it: such calls warm
  // up for a quarter of the budget first (CRoaring's compiled code needs none; the JS
  // around the kernels does).
  const warmupTime = warmup && estimateMs < 1 ? budgetMs / 4 : 0;
  const bench = new Bench({ iterations, time: 0, warmup, warmupIterations, warmupTime, throws: true });
  bench.add('task', fn, { async: false, afterEach });
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`tinybench task ended ${r.state}: ${r.error?.message ?? ''}`);
  const l = r.latency;
  return {
    value,
    // The median is what tables show: robust to the odd GC pause or page fault.
    ms: l.p50,
    mean: l.mean,
    min: l.min,
    max: l.max,
    rme: l.rme,
    samples: l.samplesCount,
    warmup: warmupIterations,
    // Wall time of the whole measurement (first call, warmup, iterations).
    wallMs: performance.now() - start,
  };
}

/**
 * For A/B scripts that alternate two sides round by round: the median ms of at least
 * `calls` calls of fn (more for short ones: about `targetMs` of them, 1000 at most), after
 * untimed calls for at least `warmMs` (V8 optimizes the JavaScript around the kernels only
 * after a while). after(value) runs untimed after every call (roaring's dispose).
 */
export function medianAfterWarmup(fn, { calls = 7, warmMs = 100, targetMs = 50, after = () => {} } = {}) {
  let warm = 0;
  let spent = 0;
  while (warm < 2 || spent < warmMs) {
    const t0 = performance.now();
    const value = fn();
    spent += performance.now() - t0;
    after(value);
    warm++;
  }
  const n = Math.max(calls, Math.min(1000, Math.ceil(targetMs / (spent / warm))));
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const value = fn();
    times.push(performance.now() - t0);
    after(value);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}
