// The comparison with CRoaring (npm `roaring`, a native Node addon): the same bit
// maps, read out of the arena page by page and handed to RoaringBitmap32 in the
// portable serialization format (array containers up to 4096 values, bitmap
// containers above, as CRoaring itself would choose), then run-optimized, so each
// map is in roaring's best representation before anything is timed.

import { lib } from './dist.mjs';

const { PAGE_BYTES } = lib;

const CONTAINER_BITS = 65536;
const CONTAINER_WORDS = CONTAINER_BITS >>> 5;
const PAGES_PER_CONTAINER = CONTAINER_BITS / (PAGE_BYTES * 8);
const ARRAY_MAX = 4096;
const COOKIE_NO_RUN = 12346;

/** The roaring module, or { error } where it cannot load (e.g. a runtime without Node-API addons). */
export async function loadRoaring() {
  try {
    const mod = await import('roaring');
    const RoaringBitmap32 = mod.RoaringBitmap32 ?? mod.default?.RoaringBitmap32;
    if (!RoaringBitmap32) throw new Error('the roaring module has no RoaringBitmap32');
    // A smoke test: the addon really runs.
    const probe = RoaringBitmap32.orMany([new RoaringBitmap32([1, 2]), new RoaringBitmap32([2, 70000])]);
    if (probe.size !== 3) throw new Error('roaring orMany smoke test failed');
    return { RoaringBitmap32, version: mod.PackageVersion ?? mod.default?.PackageVersion, croaring: mod.CRoaringVersion ?? mod.default?.CRoaringVersion };
  } catch (error) {
    return { error: String(error?.message ?? error).split('\n')[0] };
  }
}

/**
 * Serializes a bit map of `bits` bits (a multiple of 65536) in roaring's portable
 * format. fill(scratch, firstPage) writes the bits of pages firstPage and
 * firstPage + 1 into scratch (2048 u32 words) and returns their popcount.
 */
class PortableWriter {
  constructor(bits) {
    this.containers = Math.ceil(bits / CONTAINER_BITS);
    this.buffer = new ArrayBuffer(8 + this.containers * 8 + this.containers * CONTAINER_BITS / 8);
    this.u8 = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.scratch = new Uint32Array(CONTAINER_WORDS);
    this.keys = new Uint16Array(this.containers);
    this.cards = new Uint32Array(this.containers);
    this.body = new Uint8Array(this.containers * CONTAINER_BITS / 8);
    this.body16 = new Uint16Array(this.body.buffer);
    this.scratch8 = new Uint8Array(this.scratch.buffer);
  }

  write(fill) {
    const { scratch, scratch8, keys, cards, body, body16 } = this;
    let n = 0;
    let at = 0; // bytes of body
    const offsets = [];
    for (let k = 0; k < this.containers; k++) {
      const card = fill(scratch, k * PAGES_PER_CONTAINER);
      if (card === 0) continue;
      keys[n] = k;
      cards[n] = card;
      offsets.push(at);
      n++;
      if (card > ARRAY_MAX) {
        body.set(scratch8, at);
        at += CONTAINER_BITS / 8;
      } else {
        let j = at >>> 1;
        for (let w = 0; w < CONTAINER_WORDS; w++) {
          let v = scratch[w] | 0;
          while (v !== 0) {
            const low = v & -v;
            body16[j++] = (w << 5) | (31 - Math.clz32(low));
            v ^= low;
          }
        }
        at += card * 2;
      }
    }
    const header = 8 + n * 8;
    const { view, u8 } = this;
    view.setUint32(0, COOKIE_NO_RUN, true);
    view.setUint32(4, n, true);
    for (let i = 0; i < n; i++) {
      view.setUint16(8 + i * 4, keys[i], true);
      view.setUint16(8 + i * 4 + 2, cards[i] - 1, true);
      view.setUint32(8 + n * 4 + i * 4, header + offsets[i], true);
    }
    u8.set(this.body.subarray(0, at), header);
    return u8.subarray(0, header + at);
  }
}

/**
 * Builds RoaringBitmap32s from PagedBitmaps (and, for the meta-aware delta, the
 * pre-merged inputs roaring needs). Construction is not timed.
 */
export class RoaringBuilder {
  /** countOf(entry): the popcount of the stored page at arena offset `entry`. */
  constructor(RoaringBitmap32, bits, countOf) {
    this.R = RoaringBitmap32;
    this.bits = bits;
    this.countOf = countOf;
    this.writer = new PortableWriter(bits);
  }

  #optimized(bitmap) {
    bitmap.runOptimize();
    bitmap.shrinkToFit();
    return bitmap;
  }

  /** The same bits as a PagedBitmap (whose stored pages countOf knows). */
  plain(map) {
    const arena = map.arena;
    const words = PAGE_BYTES >>> 2;
    return this.#optimized(this.R.deserialize(this.writer.write((scratch, first) => {
      const u32 = arena.u32;
      let card = 0;
      for (let j = 0; j < PAGES_PER_CONTAINER; j++) {
        const entry = map.entry(first + j);
        const to = j * words;
        if (entry === 0) {
          scratch.fill(0, to, to + words);
        } else if (entry === 1) {
          scratch.fill(0xffffffff, to, to + words);
          card += PAGE_BYTES * 8;
        } else {
          scratch.set(u32.subarray(entry >>> 2, (entry + PAGE_BYTES) >>> 2), to);
          card += this.countOf(entry);
        }
      }
      return card;
    }), 'portable'));
  }

  /** Blocks whose meta bit is clear in a meta map of granularity g: 2^g blocks per clear bit. */
  unused(meta, g) {
    const out = new this.R();
    const arena = meta.arena;
    const span = 2 ** g;
    const words = PAGE_BYTES >>> 2;
    for (let q = 0; q < meta.pages; q++) {
      const entry = meta.entry(q);
      const bit0 = q * PAGE_BYTES * 8;
      if (entry === 1) continue;
      if (entry === 0) {
        out.addRange(bit0 * span, Math.min(meta.bits, bit0 + PAGE_BYTES * 8) * span);
        continue;
      }
      const u32 = arena.u32;
      for (let w = 0; w < words; w++) {
        let zeros = ~u32[(entry >>> 2) + w];
        while (zeros !== 0) {
          const low = zeros & -zeros;
          const bit = bit0 + w * 32 + (31 - Math.clz32(low));
          if (bit < meta.bits) out.addRange(bit * span, Math.min(this.bits, (bit + 1) * span));
          zeros ^= low;
        }
      }
    }
    return out;
  }

  /** Checkpoint I of FIG. 40 as one block map: bitmap | ~expand(meta). */
  bitsOrUnused(plainBitmap, meta, g) {
    const unused = this.unused(meta, g);
    try {
      return this.#optimized(this.R.or(plainBitmap, unused));
    } finally {
      unused.dispose?.();
    }
  }

  /** The younger image's in-use blocks: expand(meta). */
  inUse(meta, g) {
    const unused = this.unused(meta, g);
    const all = this.R.fromRange(0, this.bits);
    try {
      return this.#optimized(this.R.andNot(all, unused));
    } finally {
      unused.dispose?.();
      all.dispose?.();
    }
  }
}

/** Bytes of native memory a bitmap holds (serialized size is a close proxy). */
export function roaringBytes(bitmaps) {
  let n = 0;
  for (const b of bitmaps) n += b.getSerializationSizeInBytes('croaring');
  return n;
}
