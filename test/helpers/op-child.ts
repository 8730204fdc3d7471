// Runs one operation of a child script (test/volume/volume-op-child.mjs unless another is
// named) on a data directory in a child process and kills it with SIGKILL: `killAfterMs`
// after the operation begins (maybe mid-operation), or once it is done when undefined.
// Needs dist/ built (helpers/built.ts).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backend } from './backend.js';

const CHILD = fileURLToPath(new URL('../volume/volume-op-child.mjs', import.meta.url));

export interface ChildRun {
  /** The operation returned before the kill. */
  done: boolean;
  /** How long it took, when done. */
  ms?: number;
}

export function runOpChild(dir: string, op: Record<string, unknown>, killAfterMs?: number, script = CHILD): Promise<ChildRun> {
  const child = spawn(process.execPath, [script, dir, backend, JSON.stringify(op)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let result: ChildRun = { done: false };
    let killing = false;
    const kill = () => {
      killing = true;
      child.kill('SIGKILL');
    };
    child.stderr.on('data', (text: Buffer) => void (err += text.toString()));
    child.stdout.on('data', (text: Buffer) => {
      out += text.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line) as { phase: string; ms?: number };
        if (event.phase === 'begin' && killAfterMs !== undefined) setTimeout(kill, killAfterMs);
        if (event.phase === 'done') {
          result = { done: true, ms: event.ms };
          kill();
        }
      }
    });
    child.on('close', (code, signal) => {
      if (killing && signal === 'SIGKILL') resolve(result);
      else reject(new Error(`the child ended by itself (code ${code}, signal ${signal}):\n${err}`));
    });
  });
}
