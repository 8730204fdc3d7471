// The snapcopy command line: global options, dispatch to one file per command,
// and errors as one line with a non-zero exit. Environment variables are read here
// and nowhere else in the library.

import process from 'node:process';
import type { BackendChoice } from '../kernels/api.js';
import { SnapcopyError } from '../errors.js';
import { DataDir } from '../volume/data-dir.js';
import { type OptionKind, parseArgs, UsageError } from './args.js';
import { cat } from './cat.js';
import { ckpt } from './ckpt.js';
import { clone } from './clone.js';
import { type Command, type CommandContext, UsageErrorForCommand } from './command.js';
import { create } from './create.js';
import { diff } from './diff.js';
import { discard } from './discard.js';
import { exportDiff } from './export-diff.js';
import { fsCopy } from './fs-copy.js';
import { importDiff } from './import-diff.js';
import { write } from './write.js';

export const COMMANDS: readonly Command[] = [create, write, discard, cat, ckpt, diff, exportDiff, importDiff, clone, fsCopy];

const GLOBAL_OPTIONS: Record<string, OptionKind> = { data: 'string', kernels: 'string', help: 'boolean' };

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout(line: string): Promise<void>;
  stderr(line: string): void;
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: snapcopy <command> [options]   (snapcopy <command> --help for more)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    '  --data <dir>      data directory (default $SNAPCOPY_DATA or ./snapcopy-data)',
    '  --kernels <k>     wasm, ts or auto (default $SNAPCOPY_KERNELS or auto)',
  ].join('\n');
}

function usageOf(command: Command): string {
  return `usage: snapcopy ${command.usage}\n\n${command.summary}`;
}

/** Runs one command line; returns the exit code (0 ok, 1 failed, 2 bad usage). */
export async function main(argv: readonly string[], io: CliIo = nodeIo()): Promise<number> {
  const name = argv.find((token) => !token.startsWith('-'));
  const command = COMMANDS.find((c) => c.name === name || `.${c.name}` === name);
  if (!command) {
    if (name === undefined && argv.includes('--help')) {
      await io.stdout(overview());
      return 0;
    }
    io.stderr(name === undefined ? overview() : `snapcopy: unknown command ${name}\n\n${overview()}`);
    return 2;
  }
  const rest = [...argv];
  rest.splice(rest.indexOf(name!), 1);
  let dataDir: DataDir | undefined;
  try {
    const args = parseArgs(rest, { ...GLOBAL_OPTIONS, ...command.options });
    if (args.options.get('help') === true) {
      await io.stdout(usageOf(command));
      return 0;
    }
    const path = (args.options.get('data') as string | undefined) ?? io.env.SNAPCOPY_DATA ?? './snapcopy-data';
    const kernels = ((args.options.get('kernels') as string | undefined) ?? io.env.SNAPCOPY_KERNELS ?? 'auto') as BackendChoice;
    const ctx: CommandContext = {
      args,
      print: io.stdout,
      dataDir: async () => (dataDir ??= await DataDir.open(path, { kernels })),
    };
    await command.run(ctx);
    await dataDir?.close();
    return 0;
  } catch (error) {
    await dataDir?.close().catch(() => undefined);
    return report(error, command, io);
  }
}

function report(error: unknown, command: Command, io: CliIo): number {
  if (error instanceof UsageError || error instanceof UsageErrorForCommand) {
    io.stderr(`snapcopy ${command.name}: ${error.message}\n${usageOf(command)}`);
    return 2;
  }
  if (error instanceof SnapcopyError) {
    io.stderr(`snapcopy ${command.name}: ${error.message} [${error.code}]`);
    return 1;
  }
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
  };
  if (code && known[code]) {
    const path = (error as NodeJS.ErrnoException).path;
    io.stderr(`snapcopy ${command.name}: ${known[code]}${path ? `: ${path}` : ''} [${code}]`);
    return 1;
  }
  io.stderr(`snapcopy ${command.name}: ${(error as Error).message ?? String(error)}`);
  return 1;
}

function nodeIo(): CliIo {
  return {
    env: process.env,
    stdout: (line) => new Promise<void>((resolve, reject) => {
      process.stdout.write(`${line}\n`, (error) => (error ? reject(error) : resolve()));
    }),
    stderr: (line) => void process.stderr.write(`${line}\n`),
  };
}
