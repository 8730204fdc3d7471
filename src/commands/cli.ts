// The snapcopy command line: global options, dispatch to one file per command,
// and errors as one line with a non-zero exit. Environment variables are read here
// and nowhere else in the library.

import process from 'node:process';
import type { BackendChoice } from '../kernels/api.js';
import { SnapcopyError } from '../errors.js';
import { useChecksumKernels } from '../storage/checksum.js';
import { resolveNode } from '../node/client.js';
import { RemoteStore } from '../node/volume-client.js';
import { DataDir } from '../volume/data-dir.js';
import { LocalStore, type VolumeStore } from '../volume/store.js';
import { type OptionKind, parseArgs, parseSize, UsageError } from './args.js';
import { benchDiff } from './bench-diff.js';
import { cat } from './cat.js';
import { ckpt } from './ckpt.js';
import { clone } from './clone.js';
import { type Command, type CommandContext, UsageErrorForCommand } from './command.js';
import { create } from './create.js';
import { destroy } from './destroy.js';
import { info } from './info.js';
import { list } from './list.js';
import { rename } from './rename.js';
import { resize } from './resize.js';
import { diff } from './diff.js';
import { discard } from './discard.js';
import { exportDiff } from './export-diff.js';
import { fsCopy } from './fs-copy.js';
import { fsReplicate } from './fs-replicate.js';
import { serverMount } from './server-mount.js';
import { answerWithoutCommand, findCommand, oneLine, usageLine, usageOf } from './help.js';
import { importDiff } from './import-diff.js';
import { rcpConfig } from './rcp-config.js';
import { rcproute } from './rcproute.js';
import { rcptest } from './rcptest.js';
import { serve } from './serve.js';
import { serverConfig } from './server-config.js';
import { publish } from './publish.js';
import { pull } from './pull.js';
import { token } from './token.js';
import { status } from './status.js';
import { write } from './write.js';

export const COMMANDS: readonly Command[] = [
  create, list, info, destroy, rename, resize, write, discard, cat, ckpt, diff, exportDiff, importDiff, clone, fsCopy, fsReplicate, serverMount,
  benchDiff,
  serve, publish, pull, token, status, rcpConfig, serverConfig, rcproute, rcptest,
];

const GLOBAL_OPTIONS: Record<string, OptionKind> = {
  data: 'string', kernels: 'string', help: 'boolean', node: 'string', peers: 'string', token: 'string', wait: 'string',
  'map-cache': 'string',
};

/** --map-cache <bytes|64M|64MiB>: the cap of the staged checkpoint maps of the data directory opened here. */
function mapCacheBytes(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseSize(text, '--map-cache');
}

/** --wait <seconds>: how long to wait for a volume another process holds. */
function waitSeconds(text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageErrorForCommand(`--wait takes a number of seconds, not ${JSON.stringify(text)}`);
  return Number(text);
}

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout(line: string): Promise<void>;
  stderr(line: string): void;
}

/** Where the command word is: the first word that is not a global option or its value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) return i;
    const name = token.slice(2);
    if (token.startsWith('--') && GLOBAL_OPTIONS[name] === 'string') i++;
  }
  return -1;
}

/** Runs one command line; returns the exit code (0 ok, 1 failed, 2 bad usage). */
export async function main(argv: readonly string[], io: CliIo = nodeIo()): Promise<number> {
  const at = commandIndex(argv);
  const name = at < 0 ? undefined : argv[at];
  const answered = await answerWithoutCommand(COMMANDS, argv, at, io);
  if (answered !== undefined) return answered;
  const command = findCommand(COMMANDS, name)!;
  const rest = [...argv];
  rest.splice(at, 1);
  let store: VolumeStore | undefined;
  try {
    const args = parseArgs(rest, { ...GLOBAL_OPTIONS, ...command.options });
    if (args.options.get('help') === true) {
      await io.stdout(usageOf(command));
      return 0;
    }
    const path = (args.options.get('data') as string | undefined) ?? io.env.SNAPCOPY_DATA ?? './snapcopy-data';
    const kernels = ((args.options.get('kernels') as string | undefined) ?? io.env.SNAPCOPY_KERNELS ?? 'auto') as BackendChoice;
    useChecksumKernels(kernels); // stream and frame checksums follow --kernels too
    const peersPath = (args.options.get('peers') as string | undefined) ?? io.env.SNAPCOPY_PEERS;
    const nodeSpec = (args.options.get('node') as string | undefined) ?? io.env.SNAPCOPY_NODE;
    const token = (args.options.get('token') as string | undefined) ?? io.env.SNAPCOPY_TOKEN;
    const wait = waitSeconds(args.options.get('wait') as string | undefined);
    const mapCache = mapCacheBytes(args.options.get('map-cache') as string | undefined);
    const openStore = async (): Promise<VolumeStore> => {
      // With --node the volumes are the node's; without it, this data directory's.
      if (nodeSpec !== undefined) {
        if (mapCache !== undefined) throw new UsageErrorForCommand('--map-cache caps this process\'s maps; a node keeps its own (drop --node or --map-cache)');
        return new RemoteStore(await resolveNode(nodeSpec, { peersPath, token }));
      }
      return new LocalStore(await DataDir.open(path, { kernels, wait, ...(mapCache === undefined ? {} : { mapCacheBytes: mapCache }) }));
    };
    const ctx: CommandContext = {
      args,
      dataPath: path,
      peersPath,
      node: async (fallback) => {
        const spec = nodeSpec ?? fallback;
        if (spec === undefined) throw new UsageErrorForCommand('this command is sent to a node: give --node <name|host:port>');
        return resolveNode(spec, { peersPath, token });
      },
      print: io.stdout,
      log: io.stderr,
      store: async () => (store ??= await openStore()),
      nodeGiven: nodeSpec !== undefined,
    };
    await command.run(ctx);
    await store?.close();
    return 0;
  } catch (error) {
    await store?.close().catch(() => undefined);
    return report(error, command, io);
  }
}

/** What the operating system's error codes mean, for the ones a user can act on. */
const SYSTEM_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'already exists',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** Every failure is one line on standard error, ending with its code in brackets. */
function report(error: unknown, command: Command, io: CliIo): number {
  const isUsage = error instanceof UsageError || error instanceof UsageErrorForCommand
    || (error instanceof SnapcopyError && error.code === 'ERR_USAGE');
  if (isUsage) {
    io.stderr(usageLine(command.name, (error as Error).message));
    return 2;
  }
  if (error instanceof SnapcopyError) {
    io.stderr(`snapcopy ${command.name}: ${oneLine(error.message)} [${error.code}]`);
    return 1;
  }
  const { code, path } = error as NodeJS.ErrnoException;
  if (code && SYSTEM_ERRORS[code]) {
    io.stderr(`snapcopy ${command.name}: ${SYSTEM_ERRORS[code]}${path ? `: ${path}` : ''} [${code}]`);
    return 1;
  }
  // Not an error snapcopy expected: say so, with the runtime's own code when it has one.
  const message = oneLine((error as Error)?.message ?? String(error));
  io.stderr(`snapcopy ${command.name}: ${message} [${typeof code === 'string' ? code : 'ERR_INTERNAL'}]`);
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
