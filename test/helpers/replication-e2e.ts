// Helpers for test/replication/e2e.test.ts: the CLI run in this process against real
// nodes (faster than a child per command), and numbered whole-block writes whose image
// says which prefix of the writes it holds (the consistent-view check).
//
// Numbered writes: write k (k = 0, 1, 2, ...) sets block k mod N to the 32-bit word k + 1
// repeated, so a block never written reads as zeros and a torn block is seen. The image
// after the first p writes has, in block b, the last write k < p with k ≡ b (mod N).

import { main } from '../../src/commands/cli.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string[];
}

/** Runs `snapcopy ...argv` in this process (main() from src/), capturing its lines. */
export async function snapcopy(argv: string[]): Promise<InProcessResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, {
    env: {},
    stdout: async (line) => void stdout.push(`${line}\n`),
    stderr: (line) => void stderr.push(line),
  });
  return { code, stdout: stdout.join(''), stderr };
}

/** The block that numbered write `k` sets, and its content. */
export function numberedWrite(k: number, blocks: number, blockSize: number): { block: number; data: Buffer } {
  const data = Buffer.alloc(blockSize);
  for (let i = 0; i < blockSize; i += 4) data.writeUInt32LE(k + 1, i);
  return { block: k % blocks, data };
}

/** The last write k < p to `block`, or -1 if none. */
function lastWriteTo(block: number, p: number, blocks: number): number {
  if (p - 1 < block) return -1;
  return block + blocks * Math.floor((p - 1 - block) / blocks);
}

/**
 * The p such that `image` is exactly the image after the first p numbered writes, or a
 * description of why no such p exists (a torn block, a block from the wrong write, a
 * mixture of two prefixes).
 */
export function prefixOf(image: Uint8Array, blocks: number, blockSize: number): number | string {
  if (image.byteLength !== blocks * blockSize) return `the image has ${image.byteLength} bytes, not ${blocks * blockSize}`;
  const view = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const held: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const word = view.readUInt32LE(b * blockSize);
    for (let i = 4; i < blockSize; i += 4) {
      if (view.readUInt32LE(b * blockSize + i) !== word) return `block ${b} is torn (word 0 is ${word}, word ${i / 4} differs)`;
    }
    const k = word - 1;
    if (k >= 0 && k % blocks !== b) return `block ${b} holds write ${k}, which was to block ${k % blocks}`;
    held.push(k);
  }
  const p = Math.max(...held) + 1;
  for (let b = 0; b < blocks; b++) {
    const expected = lastWriteTo(b, p, blocks);
    if (held[b] !== expected) return `block ${b} holds write ${held[b]}, but the image after ${p} writes has write ${expected} there`;
  }
  return p;
}
