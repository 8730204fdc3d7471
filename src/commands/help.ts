// What `snapcopy help`, `--help` and `--version` print, and the one-line usage
// errors that point at them. Kept apart from cli.ts so the texts do not depend on
// how commands are dispatched.

import { readFileSync } from 'node:fs';
import type { Command } from './command.js';

export const GLOBAL_OPTIONS_HELP = [
  '  --data <dir>      data directory (default $SNAPCOPY_DATA or ./snapcopy-data)',
  '  --kernels <k>     wasm, ts or auto (default $SNAPCOPY_KERNELS or auto)',
  '  --node <n>        send the command to a node: a name from the peers file, or host:port ($SNAPCOPY_NODE)',
  '  --peers <file>    the peers file: node names, addresses and the shared secret ($SNAPCOPY_PEERS)',
  '  --token <t>       a node\'s HTTP token, when there is no peers file ($SNAPCOPY_TOKEN)',
  '  --wait <s>        wait up to s seconds for a volume another process holds (default 0: fail with ERR_LOCKED)',
  '  --map-cache <n>   cap of the checkpoint maps kept in memory, in bytes or as 64M (default 256M; not with --node)',
];

/** The list of commands with their summaries, and the global options. */
export function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: snapcopy <command> [options]',
    '       snapcopy help <command>     (or snapcopy <command> --help) for one command',
    '       snapcopy --version',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    ...GLOBAL_OPTIONS_HELP,
  ].join('\n');
}

/** One command's usage lines and summary. */
export function usageOf(command: Command): string {
  return `usage: snapcopy ${command.usage}\n\n${command.summary}\n\nglobal options (any command):\n${GLOBAL_OPTIONS_HELP.join('\n')}`;
}

/** A command named on the command line: its name, or its seed spelling with a leading dot. */
export function findCommand(commands: readonly Command[], name: string | undefined): Command | undefined {
  return name === undefined ? undefined : commands.find((c) => c.name === name || `.${c.name}` === name);
}

/** The line a usage error prints: the message, where to read more, and the code. */
export function usageLine(commandName: string | undefined, message: string): string {
  const who = commandName === undefined ? 'snapcopy' : `snapcopy ${commandName}`;
  const hint = commandName === undefined ? 'snapcopy help lists the commands' : `snapcopy help ${commandName}`;
  return `${who}: ${oneLine(message)} (${hint}) [ERR_USAGE]`;
}

/** Messages may be built from several lines; a failure is reported on exactly one. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ').trim();
}

/** Edits (insert, delete, replace) from a to b. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The command a typo most likely meant (fs-copy for fs_copy, ckpts for ckpt), if one is close. */
function nearestCommand(commands: readonly Command[], typed: string): string | undefined {
  const plain = (name: string) => name.toLowerCase().replace(/^\./, '').replaceAll('-', '_');
  let best: { name: string; distance: number } | undefined;
  for (const { name } of commands) {
    const distance = editDistance(plain(typed), plain(name));
    if (distance <= Math.min(2, Math.floor(name.length / 3)) && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

let version: string | undefined;

/**
 * The package's version, read from package.json next to the sources or the build
 * (src/commands/ and dist/commands/ are both two levels below it). Read only when asked,
 * so the command line costs nothing for it otherwise.
 */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

export interface HelpIo {
  stdout(text: string): Promise<void>;
  stderr(line: string): void;
}

/**
 * Answers the command lines that run no command: `help [<command>]`, `--help`/`-h` or
 * `--version` without a command, no command at all, and an unknown command. Returns the
 * exit code, or undefined when `argv[at]` is a command to run.
 */
export async function answerWithoutCommand(commands: readonly Command[], argv: readonly string[], at: number, io: HelpIo): Promise<number | undefined> {
  const name = at < 0 ? undefined : argv[at];
  if (name === 'help' && !findCommand(commands, 'help')) {
    const topic = argv.slice(at + 1).find((token) => !token.startsWith('-'));
    if (topic === undefined) return io.stdout(overview(commands)).then(() => 0);
    const command = findCommand(commands, topic);
    if (command) return io.stdout(usageOf(command)).then(() => 0);
    io.stderr(usageLine('help', `unknown command ${topic}`));
    return 2;
  }
  if (findCommand(commands, name)) return undefined;
  if (name !== undefined) {
    const near = nearestCommand(commands, name);
    io.stderr(usageLine(undefined, `unknown command ${name}${near ? ` (did you mean ${near}?)` : ''}`));
    return 2;
  }
  if (argv.includes('--version')) return io.stdout(`snapcopy ${packageVersion()}`).then(() => 0);
  if (argv.includes('--help') || argv.includes('-h')) return io.stdout(overview(commands)).then(() => 0);
  io.stderr(usageLine(undefined, 'no command given'));
  return 2;
}
