// HoleMap and HoleAwareFile: reads of known holes come back as zeros without reading the
// file, everything else is read; the map is durable before a write reaches a region it
// calls untouched; a missing or damaged map makes nothing known. Checked against a
// plain model (a byte array) under seeded random writes, reads, reopenings and cuts.

import { describe, expect, test } from 'vitest';
import type { BlockFile } from '../../src/storage/file.js';
import { encodeNewHoleMap, HoleAwareFile, HoleMap } from '../../src/storage/hole-map.js';
import { Prng, testSeed } from '../helpers/prng.js';

const PAGE = 4096;
const REGION = HoleMap.REGION;

/** A sparse file in memory (4 KiB pages made where written) that logs what is done to it. */
class MemoryFile implements BlockFile {
  readonly pages = new Map<number, Uint8Array>();
  length = 0;
  readonly log: string[] = [];
  bytesRead = 0;

  constructor(readonly path: string) {}

  async read(into: Uint8Array, position: number): Promise<void> {
    this.log.push(`read ${position} ${into.length}`);
    this.bytesRead += into.length;
    for (let i = 0; i < into.length;) {
      const at = position + i;
      const page = this.pages.get(Math.floor(at / PAGE));
      const n = Math.min(PAGE - (at % PAGE), into.length - i);
      if (page && at < this.length) into.set(page.subarray(at % PAGE, at % PAGE + n), i);
      else into.fill(0, i, i + n);
      if (at + n > this.length) into.fill(0, Math.max(i, this.length - position), i + n);
      i += n;
    }
  }

  readOffThread(into: Uint8Array, position: number): Promise<void> {
    return this.read(into, position);
  }

  async write(bytes: Uint8Array, position: number): Promise<void> {
    this.log.push(`write ${position} ${bytes.length}`);
    for (let i = 0; i < bytes.length;) {
      const at = position + i;
      const key = Math.floor(at / PAGE);
      let page = this.pages.get(key);
      if (!page) this.pages.set(key, (page = new Uint8Array(PAGE)));
      const n = Math.min(PAGE - (at % PAGE), bytes.length - i);
      page.set(bytes.subarray(i, i + n), at % PAGE);
      i += n;
    }
    this.length = Math.max(this.length, position + bytes.length);
  }

  async sync(): Promise<void> {
    this.log.push('sync');
  }

  async size(): Promise<number> {
    return this.length;
  }

  async truncate(length: number): Promise<void> {
    this.log.push(`truncate ${length}`);
    for (const key of [...this.pages.keys()]) {
      if (key * PAGE >= length) this.pages.delete(key);
      else if ((key + 1) * PAGE > length) this.pages.get(key)!.fill(0, length - key * PAGE);
    }
    this.length = length;
  }

  closed = false;

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function newVolumeFile(bytes: number): Promise<{ data: MemoryFile; map: MemoryFile }> {
  const data = new MemoryFile('data');
  await data.truncate(bytes);
  const map = new MemoryFile('holes');
  await map.write(encodeNewHoleMap(bytes), 0);
  data.log.length = 0;
  map.log.length = 0;
  return { data, map };
}

const open = async (data: MemoryFile, map: MemoryFile | undefined) => new HoleAwareFile(data, await HoleMap.load(map));

describe('HoleAwareFile', () => {
  test('reads of a new file read nothing; a write reads back, its neighbours stay holes', async () => {
    const { data, map } = await newVolumeFile(4 * REGION);
    const file = await open(data, map);
    const out = new Uint8Array(2 * PAGE);
    await file.read(out, REGION + PAGE);
    expect(data.bytesRead).toBe(0);
    const bytes = new Uint8Array(PAGE).fill(9);
    await file.write(bytes, REGION + PAGE);
    const back = new Uint8Array(3 * PAGE).fill(1);
    await file.read(back, REGION);
    expect(data.bytesRead).toBe(PAGE); // the written page only
    expect([...back.subarray(0, PAGE)].every((b) => b === 0)).toBe(true);
    expect([...back.subarray(PAGE, 2 * PAGE)].every((b) => b === 9)).toBe(true);
    expect([...back.subarray(2 * PAGE)].every((b) => b === 0)).toBe(true);
  });

  test('the map is durable (written, then synced) before the first write reaches a region, and once per region', async () => {
    const { data, map } = await newVolumeFile(4 * REGION);
    const file = await open(data, map);
    const order: string[] = [];
    const trace = (name: string, f: MemoryFile) => {
      const write = f.write.bind(f);
      const sync = f.sync.bind(f);
      f.write = async (b, p) => { order.push(`${name} write`); await write(b, p); };
      f.sync = async () => { order.push(`${name} sync`); await sync(); };
    };
    trace('map', map);
    trace('data', data);
    await file.write(new Uint8Array(PAGE), 2 * REGION);
    await file.write(new Uint8Array(PAGE), 2 * REGION + 8 * PAGE);
    await file.write(new Uint8Array(2 * PAGE), 3 * REGION - PAGE); // spans regions 2 and 3
    expect(order).toEqual(['map write', 'map sync', 'data write', 'data write', 'map write', 'map sync', 'data write']);
  });

  test('two writes at once into one untouched region write the map once, and both wait for it', async () => {
    const { data, map } = await newVolumeFile(2 * REGION);
    const file = await open(data, map);
    let syncs = 0;
    const sync = map.sync.bind(map);
    map.sync = async () => {
      syncs++;
      expect(data.pages.size).toBe(0); // no data yet while the map is being made durable
      await sync();
    };
    await Promise.all([file.write(new Uint8Array(PAGE).fill(1), 0), file.write(new Uint8Array(PAGE).fill(2), 5 * PAGE)]);
    expect(syncs).toBe(1);
    expect(data.pages.size).toBe(2);
  });

  test('a failed map write fails the data write and writes nothing; the region stays a known hole', async () => {
    const { data, map } = await newVolumeFile(2 * REGION);
    const file = await open(data, map);
    map.sync = async () => { throw Object.assign(new Error('no space'), { code: 'ENOSPC' }); };
    await expect(file.write(new Uint8Array(PAGE).fill(3), 0)).rejects.toThrow('no space');
    expect(data.pages.size).toBe(0);
    await file.read(new Uint8Array(PAGE), 0);
    expect(data.bytesRead).toBe(0);
  });

  test('no map, a damaged map, or one of another region size: nothing is known, every read reads, the map is closed', async () => {
    const good = encodeNewHoleMap(2 * REGION);
    const damaged = [
      good.slice(0, good.length - 1), // cut short
      Object.assign(good.slice(), { [3]: 0 }), // magic
      (() => { const b = good.slice(); b[16] ^= 1; return b; })(), // a bit, caught by the sum
      (() => { const b = good.slice(); b[8] = 20; return b; })(), // region size
    ];
    for (const bytes of [undefined, ...damaged]) {
      const data = new MemoryFile('data');
      await data.truncate(2 * REGION);
      let map: MemoryFile | undefined;
      if (bytes) {
        map = new MemoryFile('holes');
        await map.write(bytes, 0);
      }
      const file = await open(data, map);
      expect(map?.closed ?? true, 'a map not trusted is closed at once').toBe(true);
      map?.log.splice(0);
      await file.read(new Uint8Array(PAGE), 0);
      expect(data.bytesRead).toBe(PAGE);
      await file.write(new Uint8Array(PAGE), REGION);
      expect(map?.log ?? []).toEqual([]); // the map is left alone
    }
  });

  test('regions past the map (the file grew) count as written', async () => {
    const { data, map } = await newVolumeFile(REGION);
    const file = await open(data, map);
    await file.truncate(3 * REGION);
    await file.read(new Uint8Array(PAGE), 2 * REGION);
    expect(data.bytesRead).toBe(PAGE);
    await file.read(new Uint8Array(PAGE), 0);
    expect(data.bytesRead).toBe(PAGE); // region 0 is still a known hole
  });

  test('seeded random writes, reads, reopenings and cuts read as the model does, and known holes are not read', async () => {
    const seed = testSeed('hole-map');
    const prng = new Prng(seed);
    const regions = 5;
    let length = regions * REGION - 3 * PAGE; // the last region is short
    const { data, map } = await newVolumeFile(length);
    const model = new Map<number, number>(); // page → its fill byte (pages written whole, or partly: then a byte run)
    const bytesOf = (at: number, n: number) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = at + i < length ? (model.get(at + i) ?? 0) : 0;
      return out;
    };
    const touched = new Set<number>(); // regions ever written
    let file = await open(data, map);
    const spot = () => {
      // Mostly near a few places, so regions fill page by page and runs meet.
      const region = prng.int(0, regions - 1);
      return Math.min(length - 1, region * REGION + prng.int(0, 40) * 1024 + (prng.chance(0.2) ? REGION - 64 * 1024 : 0));
    };
    for (let step = 0; step < 400; step++) {
      const what = prng.float();
      if (what < 0.45) {
        const at = spot();
        const n = Math.min(prng.int(1, 3 * PAGE), length - at);
        const bytes = new Uint8Array(n);
        const fill = prng.int(1, 255);
        for (let i = 0; i < n; i++) {
          bytes[i] = fill;
          model.set(at + i, fill);
        }
        for (let r = Math.floor(at / REGION); r <= Math.floor((at + n - 1) / REGION); r++) touched.add(r);
        await file.write(bytes, at);
      } else if (what < 0.9) {
        const at = spot();
        const n = prng.int(1, 4 * PAGE);
        const into = new Uint8Array(n).fill(0xee);
        const before = data.bytesRead;
        await file.read(into, at);
        expect(into, `seed ${seed}, step ${step}: read ${at} ${n}`).toEqual(bytesOf(at, n));
        // A page never written, in a region never written, is never read.
        const regionsRead = [Math.floor(at / REGION), Math.floor((at + n - 1) / REGION)];
        if (!regionsRead.some((r) => touched.has(r))) expect(data.bytesRead - before, `seed ${seed}, step ${step}`).toBe(0);
      } else if (what < 0.97) {
        file = await open(data, map); // a new process: the map on disk is all it knows
      } else {
        length = Math.max(PAGE, length - prng.int(0, 3) * PAGE);
        await file.truncate(length);
        for (const key of [...model.keys()]) if (key >= length) model.delete(key);
        await file.truncate((length = length + prng.int(0, 2) * PAGE));
      }
    }
  });
});
