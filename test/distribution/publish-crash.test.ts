// A publish killed with SIGKILL at seeded points (mid-stream, between files, around the
// index, mid-removal) never leaves index.json naming a missing or short file, and the
// next publish finishes the job: the directory then serves every version byte-exact
// and holds no temporary file.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { publishVersions } from '../../src/distribution/publish.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { checkPublished, readIndex, Source, streamFilesIn, unsoundPaths } from './publish-fixture.js';

const SEED = testSeed('publish-crash');
const CHILD = fileURLToPath(new URL('./publish-child.mjs', import.meta.url));
const ROUNDS = 10;
/** Kill points are drawn from 1..MAX_EVENT; a publish of keep 2 on the small volume has about 10 to 20. */
const MAX_EVENT = 24;

let root = '';
beforeAll(async () => {
  await ensureBuilt();
  root = await tempDir('snapcopy-publish-crash-');
}, 600_000);
afterAll(async () => {
  await removeDir(root);
});

/** Runs the child; whether it finished (true) or killed itself at `killAt` (false). */
function publishChild(data: string, dir: string, keep: number, killAt: number): Promise<boolean> {
  const child = spawn(process.execPath, [CHILD, data, dir, backend, String(keep), String(killAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (text: Buffer) => void (out += text.toString()));
  child.stderr.on('data', (text: Buffer) => void (err += text.toString()));
  return new Promise((resolve, reject) => {
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve(false);
      else if (code === 0 && out.includes('"events"')) resolve(true);
      else reject(new Error(`the publish child failed (code ${code}, signal ${signal}):\n${err}`));
    });
  });
}

test(`a publish killed at seeded points never leaves the index naming a missing file (seed ${SEED})`, async () => {
  const prng = new Prng(SEED);
  const source = await Source.open(join(root, 'data'), new Prng(SEED ^ 0x5eed));
  const dir = join(root, 'pub');
  let killed = 0;
  let indexSeen = false;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await source.write();
      await source.checkpoint();
      await source.close();
      const killAt = prng.int(1, MAX_EVENT);
      const finished = await publishChild(source.path, dir, 2, killAt);
      if (!finished) killed++;
      await source.reopen();
      const context = `round ${round}, killed at event ${killAt} (seed ${SEED})`;
      // Until a publish gets as far as its index there is none (every round so far may have been cut short before it).
      if (existsSync(join(dir, 'index.json'))) {
        indexSeen = true;
        expect(unsoundPaths(dir, readIndex(dir)), context).toEqual([]);
      } else {
        expect(indexSeen, `${context}: an index once written stays`).toBe(false);
      }
    }
    expect(killed, `most rounds are cut short (seed ${SEED})`).toBeGreaterThan(ROUNDS / 3);
    await publishVersions(source.store, 'v', dir, { keep: 2 });
    expect(streamFilesIn(dir).filter((p) => p.endsWith('.partial'))).toEqual([]);
    expect(unsoundPaths(dir, readIndex(dir))).toEqual([]);
    await checkPublished(source, dir, join(root, 'client'));
  } finally {
    await source.close();
  }
});
