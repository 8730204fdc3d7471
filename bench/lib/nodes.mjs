// Child processes for the benchmarks that drive real nodes: `snapcopy serve` processes on
// 127.0.0.1, CLI calls, and clean-up of everything started (SIGTERM, then SIGKILL).
// bench/rcp.mjs keeps its own copy of these (with CPU profiling); bench/replication.mjs uses this one.
//
//   const kids = new Children();
//   const [port] = await freePorts(1);
//   const node = await startNode(kids, { name, address, peersPath, dataDir });
//   const { out, seconds } = await cli(kids, ['--node', name, 'list']);
//   await kids.stopAll();

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const HOST = '127.0.0.1';
/**
 * The CLI: bin/snapcopy.mjs of this tree (it runs ../dist), or, with SNAPCOPY_DIST_DIR (see
 * dist.mjs), the bin/ beside that build: a tree of its own (e.g. `git archive HEAD` built
 * apart), so a run is not disturbed by others rebuilding dist/ from work in progress.
 */
export const BIN = process.env.SNAPCOPY_DIST_DIR
  ? resolve(process.env.SNAPCOPY_DIST_DIR, '..', 'bin', 'snapcopy.mjs')
  : join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'snapcopy.mjs');
const READY_MS = 30_000;
const STOP_MS = 15_000;
/** No CLI call of a benchmark should take longer (1 GiB on a busy 2-CPU machine takes tens of seconds). */
const CLI_TIMEOUT_MS = 15 * 60_000;

/** Every child process still running, so that a failed run stops them all. */
export class Children {
  #set = new Set();
  stopping = false;

  track(child) {
    this.#set.add(child);
    child.on('close', () => this.#set.delete(child));
    return child;
  }

  /** SIGTERM to every child still running, SIGKILL to those still there after STOP_MS. */
  async stopAll() {
    this.stopping = true;
    const running = [...this.#set].filter((c) => c.exitCode === null && c.signalCode === null);
    const closed = running.map((c) => new Promise((ok) => {
      if (c.exitCode !== null || c.signalCode !== null) ok();
      else c.once('close', ok);
    }));
    for (const c of running) c.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, STOP_MS);
    await Promise.all(closed);
    clearTimeout(timer);
  }
}

/** `count` TCP ports that were free on 127.0.0.1 a moment ago (all held until all are chosen). */
export async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise((ok, fail) => {
        server.once('error', fail);
        server.listen({ host: HOST, port: 0, exclusive: true }, ok);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(() => ok()))));
  }
}

/**
 * Runs a command (argv[0] a program; default: node with the snapcopy CLI in front of args);
 * resolves with its stdout and wall seconds, rejects on a non-zero exit with its stderr.
 */
export function cli(children, args, { program = process.execPath, prefix = [BIN] } = {}) {
  return new Promise((ok, fail) => {
    const t = performance.now();
    const child = children.track(spawn(program, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s) => { err += s; });
    const timer = setTimeout(() => child.kill('SIGTERM'), CLI_TIMEOUT_MS);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t) / 1000;
      if (code === 0) ok({ out, seconds });
      else fail(new Error(`${[...prefix, ...args].join(' ')} exited with ${signal ?? code}: ${err.trim() || out.trim()}`));
    });
  });
}

/** Starts one `snapcopy serve` and resolves once it prints its "listening on" line. */
export function startNode(children, { name, address, peersPath, dataDir, log = console.error }) {
  const child = children.track(spawn(process.execPath, [BIN, 'serve', '--name', name, '--listen', address, '--peers', peersPath, '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const node = { name, address, dataDir, child, stderr: '' };
  child.stderr.setEncoding('utf8').on('data', (s) => {
    node.stderr = (node.stderr + s).slice(-4000);
  });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`node ${name} did not start within ${READY_MS} ms: ${node.stderr.trim()}`)), READY_MS);
    child.stdout.setEncoding('utf8').on('data', (s) => {
      out += s;
      if (!node.ready && out.includes(`snapcopy node ${name} listening on`)) {
        node.ready = true;
        clearTimeout(timer);
        ok(node);
      }
    });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      node.exited = signal ?? code;
      if (!node.ready) fail(new Error(`node ${name} exited with ${signal ?? code} before it was ready: ${node.stderr.trim()}`));
      else if (!children.stopping) log(`node ${name} exited with ${signal ?? code} during the run: ${node.stderr.trim()}`);
    });
  });
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's user + system CPU seconds so far, from /proc (undefined where there is none). */
export function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** `cat /proc/loadavg` (the three averages and the running/total tasks), or os.loadavg() where there is none. */
export function loadavgLine() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {
    return '';
  }
}
