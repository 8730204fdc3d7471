// Benchmark bit maps: pools of distinct random 4 KiB pages in the arena, and page
// tables (PagedBitmap) whose entries point into a pool, so that K maps of 256M
// blocks cost at most the pool in memory and generation time.
//
// A "layout" says, for each map and each page of its table, which pool page it
// names (-1: ZERO_PAGE). It is computed once per configuration and applied to the
// wasm and the ts arena alike, so both backends scan exactly the same bits.

import { lib } from './dist.mjs';

const { PagedBitmap, PAGE_BLOCKS, PAGE_BYTES, ZERO_PAGE } = lib;

export const PAGE_WORDS = PAGE_BYTES >>> 2;

/** Set bits of a u32 word (SWAR). */
export function popcount32(v) {
  v = (v | 0) - ((v >>> 1) & 0x55555555) | 0;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333) | 0;
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

function pagePopcount(u32, word) {
  let c = 0;
  for (let i = 0; i < PAGE_WORDS; i++) c += popcount32(u32[word + i]);
  return c;
}

/** Sets bits [a, b) of the page whose first word is `word`. */
function setBits(u32, word, a, b) {
  while (a < b) {
    const w = a >>> 5;
    const lo = a & 31;
    const n = Math.min(32 - lo, b - a);
    const mask = n === 32 ? 0xffffffff : ((1 << n) - 1) << lo;
    u32[word + w] |= mask;
    a += n;
  }
}

/**
 * Scattered pages: every bit set with probability d, independently. d = 0.5 is
 * random words; below, Poisson-many random positions per page with collisions
 * accounted for (-ln(1 - d) * PAGE_BLOCKS draws give an expected density of d).
 * Returns the popcount of each page.
 */
export function fillScattered(u32, word0, pages, d, rng) {
  const counts = new Uint32Array(pages);
  u32.fill(0, word0, word0 + pages * PAGE_WORDS);
  if (d === 0.5) {
    let { x, y, z, w } = rng;
    for (let p = 0; p < pages; p++) {
      const base = word0 + p * PAGE_WORDS;
      let c = 0;
      for (let i = 0; i < PAGE_WORDS; i++) {
        const t = x ^ (x << 11);
        x = y; y = z; z = w;
        w = w ^ (w >>> 19) ^ t ^ (t >>> 8);
        u32[base + i] = w;
        c += popcount32(w);
      }
      counts[p] = c;
    }
    Object.assign(rng, { x, y, z, w });
    return counts;
  }
  const lambda = -Math.log(1 - d) * PAGE_BLOCKS;
  for (let p = 0; p < pages; p++) {
    const base = word0 + p * PAGE_WORDS;
    const n = lambda < 64 ? rng.poisson(lambda) : Math.floor(lambda) + (rng.float() < lambda % 1 ? 1 : 0);
    let { x, y, z, w } = rng;
    let c = 0;
    for (let k = 0; k < n; k++) {
      const t = x ^ (x << 11);
      x = y; y = z; z = w;
      w = w ^ (w >>> 19) ^ t ^ (t >>> 8);
      const at = base + ((w >>> 5) & (PAGE_WORDS - 1));
      const m = 1 << (w & 31);
      if ((u32[at] & m) === 0) {
        u32[at] |= m;
        c++;
      }
    }
    Object.assign(rng, { x, y, z, w });
    counts[p] = c;
  }
  return counts;
}

/** Runs of changed blocks inside a clustered page: lengths 1..2047, gaps 1..127 (~94% set). */
export const CLUSTER_RUN_MAX = 2047;
export const CLUSTER_GAP_MAX = 127;

/** Clustered pages: long runs with short gaps. Returns the popcount of each page. */
export function fillClustered(u32, word0, pages, rng) {
  const counts = new Uint32Array(pages);
  u32.fill(0, word0, word0 + pages * PAGE_WORDS);
  for (let p = 0; p < pages; p++) {
    const base = word0 + p * PAGE_WORDS;
    let at = rng.int(CLUSTER_GAP_MAX + 1);
    let c = 0;
    while (at < PAGE_BLOCKS) {
      const end = Math.min(PAGE_BLOCKS, at + 1 + rng.int(CLUSTER_RUN_MAX));
      setBits(u32, base, at, end);
      c += end - at;
      at = end + 1 + rng.int(CLUSTER_GAP_MAX);
    }
    counts[p] = c;
  }
  return counts;
}

/** Runs of changed blocks in the 'runs' pattern: 16..1024 blocks (the shape of real deltas). */
export const RUN_MIN = 16;
export const RUN_MAX = 1024;
const RUN_MEAN = (RUN_MIN + RUN_MAX) / 2;

/** Runs per page for density d: runs land uniformly, so a page is touched with probability 1 - e^-lambda. */
export function runsPerPage(d) {
  return (d * PAGE_BLOCKS) / RUN_MEAN;
}

/**
 * 'runs' pages: the pages a delta of runs of RUN_MIN..RUN_MAX blocks at random places
 * touches, so each holds at least one run (a zero-truncated Poisson number of them, for
 * density d overall). Runs that overlap merge. Returns the popcount of each page.
 */
export function fillRuns(u32, word0, pages, d, rng) {
  const counts = new Uint32Array(pages);
  u32.fill(0, word0, word0 + pages * PAGE_WORDS);
  const lambda = runsPerPage(d);
  for (let p = 0; p < pages; p++) {
    const base = word0 + p * PAGE_WORDS;
    let n = 0;
    if (lambda > 64) n = Math.round(lambda);
    else while (n === 0) n = rng.poisson(lambda);
    for (let k = 0; k < n; k++) {
      const length = RUN_MIN + rng.int(RUN_MAX - RUN_MIN + 1);
      const at = rng.int(PAGE_BLOCKS);
      setBits(u32, base, at, Math.min(PAGE_BLOCKS, at + length));
    }
    counts[p] = pagePopcount(u32, base);
  }
  return counts;
}

/** 'runs' layout: each page of each map is touched with probability 1 - e^-lambda and then names the next pool page. */
export function runsLayout(count, pages, d, pool, rng, start = 0) {
  const touched = 1 - Math.exp(-runsPerPage(d));
  const maps = [];
  let next = start;
  for (let i = 0; i < count; i++) {
    const entries = new Int32Array(pages).fill(-1);
    for (let p = 0; p < pages; p++) {
      if (rng.float() >= touched) continue;
      entries[p] = next % pool.pages;
      next++;
    }
    if (entries.every((e) => e < 0)) entries[rng.int(pages)] = next++ % pool.pages;
    maps.push(entries);
  }
  return maps;
}

/** Meta pages: all bits set but a fraction `unset` of them (random positions). */
export function fillMeta(u32, word0, pages, unset, rng) {
  const counts = new Uint32Array(pages);
  u32.fill(0xffffffff, word0, word0 + pages * PAGE_WORDS);
  const lambda = -Math.log(1 - unset) * PAGE_BLOCKS;
  for (let p = 0; p < pages; p++) {
    const base = word0 + p * PAGE_WORDS;
    const n = Math.floor(lambda) + (rng.float() < lambda % 1 ? 1 : 0);
    for (let k = 0; k < n; k++) {
      const r = rng.nextInt();
      u32[base + ((r >>> 5) & (PAGE_WORDS - 1))] &= ~(1 << (r & 31));
    }
    counts[p] = pagePopcount(u32, base);
  }
  return counts;
}

/**
 * A pool of `pages` pages allocated at the same place in every arena given. The
 * content is generated in the first arena and copied to the others.
 */
export class Pool {
  constructor(arenas, pages) {
    this.arenas = arenas;
    this.pages = pages;
    this.offsets = arenas.map((arena) => arena.alloc(pages * PAGE_BYTES));
    this.counts = new Uint32Array(pages);
  }

  /** fill(u32, firstWord, pages) -> popcounts; then the bytes are copied to the other arenas. */
  generate(fill) {
    const [first, ...rest] = this.arenas;
    const off = this.offsets[0];
    this.counts = fill(first.u32, off >>> 2, this.pages);
    const src = first.u8.subarray(off, off + this.pages * PAGE_BYTES);
    rest.forEach((arena, i) => arena.u8.set(src, this.offsets[i + 1]));
  }

  /** Arena byte offset of pool page `index` in arena number `a`. */
  pageOffset(a, index) {
    return this.offsets[a] + index * PAGE_BYTES;
  }
}

/**
 * Scattered layout: map i, page p names pool page (start + i * pages + p) mod pool
 * size, or ZERO_PAGE when that pool page happens to be empty (very low densities).
 */
export function scatteredLayout(count, pages, pool, start = 0) {
  const maps = [];
  for (let i = 0; i < count; i++) {
    const entries = new Int32Array(pages);
    for (let p = 0; p < pages; p++) {
      const index = (start + i * pages + p) % pool.pages;
      entries[p] = pool.counts[index] === 0 ? -1 : index;
    }
    maps.push(entries);
  }
  return maps;
}

/**
 * Clustered layout: each map touches about `fraction` of its pages, in runs of
 * 1..16 consecutive pages at random places; touched pages take the next pool
 * pages in turn, the others are ZERO_PAGE.
 */
export function clusteredLayout(count, pages, fraction, pool, rng, start = 0) {
  const maps = [];
  let next = start;
  const touched = Math.max(1, Math.min(pages, Math.round(fraction * pages)));
  for (let i = 0; i < count; i++) {
    const entries = new Int32Array(pages).fill(-1);
    let n = 0;
    while (n < touched) {
      let p = rng.int(pages);
      const run = 1 + rng.int(16);
      for (let j = 0; j < run && n < touched; j++, p = (p + 1) % pages) {
        if (entries[p] !== -1) continue;
        entries[p] = next % pool.pages;
        next++;
        n++;
      }
    }
    maps.push(entries);
  }
  return maps;
}

/** Every page of every map stored: map i page q names pool page (start + i * pages + q) mod size. */
export function fullLayout(count, pages, pool, start = 0) {
  const maps = [];
  for (let i = 0; i < count; i++) {
    const entries = new Int32Array(pages);
    for (let q = 0; q < pages; q++) entries[q] = (start + i * pages + q) % pool.pages;
    maps.push(entries);
  }
  return maps;
}

/** Stored pages and set bits of a layout. */
export function layoutStats(layout, pool) {
  let stored = 0;
  let bits = 0;
  for (const entries of layout) {
    for (const index of entries) {
      if (index < 0) continue;
      stored++;
      bits += pool.counts[index];
    }
  }
  return { stored, bits };
}

/** PagedBitmaps of `bits` bits in arena number `a` of the pool, with the layout's entries. */
export function applyLayout(arena, a, pool, layout, bits) {
  return layout.map((entries) => {
    const map = PagedBitmap.create(arena, bits);
    // setEntry, not the table's words: the map keeps which entries are stored beside them.
    for (let p = 0; p < entries.length; p++) {
      const index = entries[p];
      map.setEntry(p, index < 0 ? ZERO_PAGE : pool.pageOffset(a, index));
    }
    return map;
  });
}

/**
 * Fills `pool` with pages of `pattern` (scattered, clustered, runs) at `density`, as
 * bench/run.mjs does; returns the share of a pool page's blocks that are set.
 */
export function fillPool(pool, pattern, density, rng) {
  const fills = { scattered: fillScattered, clustered: (u32, w, p) => fillClustered(u32, w, p, rng), runs: fillRuns };
  pool.generate((u32, w, p) => fills[pattern](u32, w, p, density, rng));
  let bits = 0;
  for (const c of pool.counts) bits += c;
  return bits / (pool.pages * PAGE_BLOCKS);
}

/** The layout of `count` maps of `pages` pages for `pattern` at `density` (inPage from fillPool), as bench/run.mjs lays them out. */
export function patternLayout(pattern, count, pages, density, inPage, pool, rng) {
  if (pattern === 'scattered') return scatteredLayout(count, pages, pool);
  if (pattern === 'runs') return runsLayout(count, pages, density, pool, rng);
  return clusteredLayout(count, pages, Math.min(1, density / inPage), pool, rng);
}

/** Frees page tables made by applyLayout, leaving the pool pages alone. */
export function releaseMaps(maps) {
  for (const map of maps) {
    for (let p = 0; p < map.pages; p++) map.setEntry(p, ZERO_PAGE);
    map.free();
  }
}

/**
 * `count` PagedBitmaps of `blocks` bits that own their pages (no pool): every page loaded
 * with scattered bits at density d (Poisson-many random positions, as fillScattered), so
 * a scan reads distinct pages, from RAM at 256M blocks.
 */
export function scatteredMaps(arena, blocks, count, d, rng) {
  const page = new Uint8Array(PAGE_BYTES);
  const draws = Math.round(-Math.log(1 - d) * PAGE_BLOCKS);
  return Array.from({ length: count }, () => {
    const map = PagedBitmap.create(arena, blocks);
    for (let p = 0; p < blocks / PAGE_BLOCKS; p++) {
      page.fill(0);
      for (let i = 0; i < draws; i++) {
        const b = rng.int(PAGE_BLOCKS);
        page[b >>> 3] |= 1 << (b & 7);
      }
      map.loadPage(p, page);
    }
    return map;
  });
}
