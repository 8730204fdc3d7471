// snapcopy publish without a web server: which files a published directory holds after
// each publish (against a plain model), that files go only after the index that stops
// naming them is durable, that a publish with nothing new changes nothing, that bad
// input changes nothing, and that every file the index names works as a client uses it.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { publishVersions, type PublishStep } from '../../src/distribution/publish.js';
import { type PublishedIndex, pathsOf } from '../../src/distribution/publish-plan.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { checkPublished, readIndex, Source, streamFilesIn, unsoundPaths } from './publish-fixture.js';

const SEED = testSeed('publish');

let root = '';
let counter = 0;
beforeAll(async () => {
  root = await tempDir('snapcopy-publish-');
});
afterAll(async () => {
  await removeDir(root);
});

function fresh(): string {
  return join(root, `t${counter++}`);
}

async function withSource<T>(seed: number, body: (source: Source, dir: string) => Promise<T>): Promise<T> {
  const base = fresh();
  const source = await Source.open(join(base, 'data'), new Prng(seed));
  try {
    return await body(source, join(base, 'pub'));
  } finally {
    await source.store.close();
  }
}

describe('publish: the files of a published directory', () => {
  test(`after each of a seeded run of publishes, the directory holds what the model says (seed ${SEED})`, async () => {
    await withSource(SEED, async (source, dir) => {
      const prng = source.prng;
      let expected = new Set<string>();
      let previous: PublishedIndex | undefined;
      for (let round = 0; round < 14; round++) {
        // Some rounds change the volume, some make a checkpoint with no change (the same
        // image: one version), some delete an old checkpoint, some do nothing new.
        if (round === 0 || prng.chance(0.7)) await source.write();
        if (round === 0 || prng.chance(0.8)) await source.checkpoint();
        if (source.checkpoints.length > 3 && prng.chance(0.25)) await source.deleteCheckpoint(source.checkpoints[prng.int(0, 1)]!.name);
        const keep = prng.int(0, 3);
        const result = await publishVersions(source.store, 'v', dir, { keep });
        const index = readIndex(dir);
        const context = `round ${round}, keep ${keep} (seed ${SEED})`;
        expect(index.versions.map((v) => v.name), context).toEqual(source.expectedVersionNames(keep));
        expect(index.full.map((f) => f.to), context).toEqual([index.versions.at(-1)!.image]);
        expect(index.deltas.map((d) => [d.from, d.to]), context)
          .toEqual(index.versions.slice(0, -1).map((v) => [v.image, index.versions.at(-1)!.image]));
        // Files: what the new index names, plus what the one before it named (one more round).
        if (result.indexChanged) expected = new Set([...pathsOf(index), ...pathsOf(previous)]);
        expect(streamFilesIn(dir), context).toEqual([...expected].sort());
        expect(unsoundPaths(dir, index), context).toEqual([]);
        if (result.indexChanged) previous = index;
        if (round % 5 === 4) await checkPublished(source, dir, join(dir, '..', `client${round}`));
      }
    });
  });

  test('files go only after the index that stops naming them is durable, and the index never names a missing file', async () => {
    await withSource(SEED + 1, async (source, dir) => {
      const steps: string[] = [];
      const problems: string[] = [];
      const onStep = (step: PublishStep) => {
        steps.push(step.step);
        if (existsSync(join(dir, 'index.json'))) problems.push(...unsoundPaths(dir, readIndex(dir)).map((p) => `${step.step}: ${p}`));
      };
      for (let round = 0; round < 4; round++) {
        await source.write();
        await source.checkpoint();
        steps.length = 0;
        const result = await publishVersions(source.store, 'v', dir, { keep: 1, onStep });
        if (round >= 2) expect(result.removed.length).toBeGreaterThan(0);
        const lastWrite = steps.lastIndexOf('stream-written');
        const indexAt = steps.indexOf('index-written');
        const firstRemove = steps.indexOf('removed');
        expect(indexAt).toBeGreaterThan(lastWrite);
        if (firstRemove >= 0) expect(firstRemove).toBeGreaterThan(indexAt);
      }
      expect(problems).toEqual([]);
    });
  });

  test('a publish with nothing new changes nothing: no file written, replaced or removed', async () => {
    await withSource(SEED + 2, async (source, dir) => {
      for (let i = 0; i < 3; i++) {
        await source.write();
        await source.checkpoint();
        await publishVersions(source.store, 'v', dir, { keep: 1 });
      }
      const before = streamFilesIn(dir).concat('index.json').map((p) => [p, statSync(join(dir, p)).ino, statSync(join(dir, p)).mtimeMs]);
      const indexText = await readFile(join(dir, 'index.json'), 'utf8');
      // A new checkpoint with no write holds the same image: still nothing new to publish.
      await source.checkpoint();
      const again = await publishVersions(source.store, 'v', dir, { keep: 1 });
      expect(again).toMatchObject({ indexChanged: false, written: [], removed: [], bytes: 0 });
      const after = streamFilesIn(dir).concat('index.json').map((p) => [p, statSync(join(dir, p)).ino, statSync(join(dir, p)).mtimeMs]);
      expect(after).toEqual(before);
      expect(await readFile(join(dir, 'index.json'), 'utf8')).toBe(indexText);
    });
  });

  test('a stream file for given ids is the same bytes each time it is made', async () => {
    await withSource(SEED + 3, async (source, dir) => {
      for (let i = 0; i < 3; i++) {
        await source.write();
        await source.checkpoint();
      }
      await publishVersions(source.store, 'v', join(dir, 'a'), { keep: 2 });
      await publishVersions(source.store, 'v', join(dir, 'b'), { keep: 2 });
      const index = readIndex(join(dir, 'a'));
      expect(readIndex(join(dir, 'b'))).toEqual(index);
      for (const path of pathsOf(index)) {
        expect((await readFile(join(dir, 'a', path))).equals(await readFile(join(dir, 'b', path))), path).toBe(true);
      }
      await checkPublished(source, join(dir, 'a'), join(dir, 'client'));
    });
  });

  test('bad input is refused with a stable code and creates nothing', async () => {
    await withSource(SEED + 4, async (source, dir) => {
      await expect(publishVersions(source.store, 'v', dir)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringContaining('no checkpoint') });
      expect(existsSync(dir)).toBe(false);
      await source.write();
      await source.checkpoint();
      for (const keep of [-1, 1.5, Number.NaN, 10_000]) {
        await expect(publishVersions(source.store, 'v', dir, { keep })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      }
      await expect(publishVersions(source.store, 'nope', dir)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      await expect(publishVersions(source.store, '', dir)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(existsSync(dir)).toBe(false);
    });
  });
});

describe('snapcopy publish (command line)', () => {
  async function run(data: string, ...argv: string[]) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(['--data', data, '--kernels', backend, ...argv], {
      env: {}, stdout: async (line) => void stdout.push(line), stderr: (line) => void stderr.push(line),
    });
    return { code, stdout: stdout.join('\n'), stderr };
  }

  test('publishes with --keep and --json, says when nothing changed, and refuses a bad --keep in one line', async () => {
    const base = fresh();
    const data = join(base, 'data');
    const dir = join(base, 'pub');
    expect((await run(data, 'create', 'v', '--size', '1M')).code).toBe(0);
    for (const name of ['mon', 'tue', 'wed']) {
      expect((await run(data, 'ckpt', 'create', `v@${name}`)).code).toBe(0);
    }
    const first = await run(data, 'publish', 'v', dir, '--keep', '1', '--json');
    expect(first.code, first.stderr.join('\n')).toBe(0);
    const result = JSON.parse(first.stdout) as { youngest: { name: string }; versions: number; written: string[] };
    expect(result.youngest.name).toBe('mon'); // three checkpoints with no write between: one image
    expect(result.versions).toBe(1);
    const again = await run(data, 'publish', 'v', dir);
    expect(again.stdout).toMatch(/nothing changed/);
    const bad = await run(data, 'publish', 'v', dir, '--keep', 'many');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toHaveLength(1);
    expect(bad.stderr[0]).toMatch(/--keep/);
  });
});
