import * as fs from 'node:fs';
import * as http from 'node:http';
import { basename } from 'node:path';
import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import { parseAddress } from '../node/address.js';
import type { NodeTarget } from '../node/client.js';
import type { RcptestResult } from '../node/rcptest.js';
import { type Command, type CommandContext, flag, keyword, UsageErrorForCommand } from './command.js';

export const rcptest: Command = {
  name: 'rcptest',
  summary: 'send a file through a node to every destination of a group, and report each one',
  usage: '--node <n> rcptest data=<file> group=<g> [--json]   (the file is read here and streamed to the node)',
  options: { json: 'boolean' },
  async run(ctx) {
    const data = keyword(ctx, 'data');
    const group = keyword(ctx, 'group');
    if (!data || !group) throw new UsageErrorForCommand('rcptest needs data=<file> group=<g>');
    if (ctx.args.positionals.length !== 2) throw new UsageErrorForCommand('rcptest takes only data=<file> group=<g>');
    const file = openFile(data);
    try {
      const node = await ctx.node();
      await report(ctx, await upload(node, file, group));
    } finally {
      fs.closeSync(file.fd);
    }
  },
};

interface OpenFile {
  path: string;
  fd: number;
  size: number;
}

function openFile(path: string): OpenFile {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SnapcopyError('ERR_NOT_FOUND', `no file ${path}`);
    throw new SnapcopyError('ERR_IO', `cannot read ${path}: ${(error as Error).message}`);
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new SnapcopyError('ERR_INVALID_ARGUMENT', `${path} is not a regular file`);
  }
  return { path, fd, size: stat.size };
}

async function report(ctx: CommandContext, result: RcptestResult): Promise<void> {
  const entries = Object.entries(result.destinations).sort(([a], [b]) => a.localeCompare(b));
  const reached = entries.filter(([, d]) => d.status === 'ok').length;
  if (flag(ctx, 'json')) {
    await ctx.print(JSON.stringify(result, null, 2));
  } else {
    for (const [name, d] of entries) {
      await ctx.print(d.status === 'ok' ? `${name}\tok\t${result.bytes} bytes` : `${name}\t${d.status}\t${d.error ?? `acknowledged ${d.acked} frames`}`);
    }
    const summary = `sent ${result.name} (${result.bytes} bytes) to ${reached} of ${entries.length} destinations in ${result.seconds.toFixed(3)} s`;
    // A rate for bytes that arrived nowhere would be a number about nothing.
    const mbps = result.bytes / 1e6 / Math.max(result.seconds, 1e-9);
    await ctx.print(reached > 0 ? `${summary} (${mbps.toFixed(1)} MB/s)` : summary);
  }
  if (reached < entries.length || entries.length === 0) {
    throw new SnapcopyError('ERR_UNREACHABLE', `${entries.length - reached} destination(s) did not acknowledge the whole file`);
  }
}

/**
 * POST /v1/rcptest with the file's bytes as the body, streamed: the node sends them on as
 * they arrive, and TCP back-pressure from it paces the reading here. An answer that comes
 * before the whole file went up (the node refused it) stops the upload.
 */
function upload(node: NodeTarget, file: OpenFile, group: string): Promise<RcptestResult> {
  const { host, port } = parseAddress(node.address, 'node address');
  const query = new URLSearchParams({ group, name: basename(file.path), size: String(file.size) });
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = http.request({
      host, port, method: 'POST', path: `/v1/rcptest?${query}`,
      headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/octet-stream', 'content-length': file.size },
    });
    const body = file.size === 0 ? undefined : fileBody(file, (error) => request.destroy(error));
    request.on('response', (response) => {
      answered = true;
      // Paused, not destroyed: destroying the stream would close the descriptor, which run() closes.
      body?.unpipe(request);
      body?.pause();
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => reject(new SnapcopyError('ERR_UNREACHABLE', `node ${node.label}: ${error.message}`)));
      response.on('end', () => {
        request.destroy();
        settle(node, response.statusCode ?? 500, Buffer.concat(chunks), resolve, reject);
      });
    });
    request.on('error', (error) => {
      if (answered) return;
      reject(error instanceof SnapcopyError ? error : new SnapcopyError('ERR_UNREACHABLE', `node ${node.label} at ${node.address}: ${error.message}`));
    });
    if (body) body.pipe(request);
    else request.end();
  });
}

/** The file's `size` bytes as a stream; `broken` is called when they cannot all be read. */
function fileBody(file: OpenFile, broken: (error: Error) => void): fs.ReadStream {
  const body = fs.createReadStream('', { fd: file.fd, autoClose: false, start: 0, end: file.size - 1, highWaterMark: 256 * 1024 });
  let read = 0;
  body.on('data', (chunk) => (read += chunk.length));
  body.on('end', () => {
    if (read !== file.size) broken(new SnapcopyError('ERR_IO', `${file.path} shrank while it was being sent (${read} of ${file.size} bytes)`));
  });
  body.on('error', broken);
  return body;
}

function settle(node: NodeTarget, status: number, bytes: Buffer, resolve: (result: RcptestResult) => void, reject: (error: Error) => void): void {
  let value: { code?: string; message?: string };
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    reject(new SnapcopyError('ERR_PROTOCOL', `node ${node.label} answered ${status} with no JSON`));
    return;
  }
  if (status >= 300) reject(new SnapcopyError((value.code ?? 'ERR_IO') as SnapcopyErrorCode, `node ${node.label}: ${value.message ?? status}`));
  else resolve(value as unknown as RcptestResult);
}
