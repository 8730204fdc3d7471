// The baseline of bench/rcp.mjs: a plain TCP socket copy of a file between processes on
// 127.0.0.1, with nothing of RCP (no frames, checksums, acknowledgements or routes).
//
//   sender:   connects to its children, reads the file with fs.readSync into a pool of 8
//             reused 256 KiB buffers (a buffer is read into again only once every socket
//             has written it out), writes each buffer to every child socket, half-closes
//             them, and waits for one byte from each.
//   receiver: listens; fs.writeSync()s every chunk it receives to its file, in order, and
//             at the end of the stream fsyncs the file, answers one byte and closes.
//   relay:    (no file) listens, writes every chunk it receives to each of its children
//             (pausing while any of them is backed up), and at the end of the stream
//             half-closes them and answers its parent once every child has answered.
//
// The time is taken in the sender, from just before the first read to the last child's
// byte, so after every receiver's fsync: what rcptest measures, minus the protocol.
// Other plain ways were tried for one receiver, 1 GiB: the sender as
// fs.createReadStream(file, 256 KiB).pipe(socket) was about as fast (and allocates a
// buffer per chunk); the receiver as socket.pipe(fs.createWriteStream()) was slower than
// fs.writeSync() on every 'data'.
//
// As a library:
//   tcpCopy({ file, out })   one sender process, one receiver process
//   tcpCopy({ file, tree })  tree: the sender's children, each { name, out } (a receiver)
//                            or { name, children: [...] } (a relay)
// Every process is fresh. Returns { bytes, seconds, wallSeconds (around the sender process;
// the others are listening before it starts), fsyncSeconds (the slowest receiver's),
// cpu: { <process>: { user, system, faults } } (from each one's connection on),
// cpuSeconds (user + system, all processes) }.
// As scripts (what tcpCopy spawns):
//   node bench/lib/tcp-copy.mjs receive <out file | -> [child port...]   prints "port <n>", then a JSON line at the end
//   node bench/lib/tcp-copy.mjs send <file> <child port>...              prints a JSON line

import { spawn } from 'node:child_process';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import net from 'node:net';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const CHUNK = 256 * 1024;
const POOL = 8;
const SCRIPT = fileURLToPath(import.meta.url);

/** CPU time this process has used so far ([user, system] seconds), and its page faults. */
function usage() {
  const r = process.resourceUsage();
  return [r.userCPUTime / 1e6, r.systemCPUTime / 1e6, r.minorPageFault + r.majorPageFault];
}

function since([u0, s0, f0]) {
  const [u, s, f] = usage();
  return { user: u - u0, system: s - s0, faults: f - f0 };
}

function fail(role, error) {
  console.error(`tcp-copy ${role}: ${error.message}`);
  process.exit(1);
}

/** Connects to every port; resolves with the sockets once all are connected. */
function connectAll(ports, role) {
  return Promise.all(ports.map((port) => new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port }, () => resolve(socket));
    socket.on('error', (error) => fail(role, error));
  })));
}

/** Resolves once every socket has sent its one-byte answer. */
function answers(sockets) {
  return Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('data', resolve))));
}

async function receive(out, childPorts) {
  const role = out === '-' ? 'relay' : 'receiver';
  const fd = out === '-' ? undefined : openSync(out, 'w');
  const children = await connectAll(childPorts, role);
  let bytes = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const cpu0 = usage();
    server.close();
    const backedUp = new Set();
    for (const child of children) {
      child.on('drain', () => {
        backedUp.delete(child);
        if (backedUp.size === 0) socket.resume();
      });
    }
    socket.on('data', (chunk) => {
      if (fd !== undefined) writeSync(fd, chunk, 0, chunk.length);
      bytes += chunk.length;
      for (const child of children) if (!child.write(chunk)) backedUp.add(child);
      if (backedUp.size > 0) socket.pause();
    });
    socket.on('end', async () => {
      let fsyncSeconds;
      if (fd !== undefined) {
        const t = performance.now();
        fsyncSync(fd);
        fsyncSeconds = (performance.now() - t) / 1000;
        closeSync(fd);
      }
      for (const child of children) child.end();
      await answers(children);
      for (const child of children) child.destroy();
      socket.end(Buffer.of(1));
      process.stdout.write(`${JSON.stringify({ bytes, fsyncSeconds, cpu: since(cpu0) })}\n`);
    });
    socket.on('error', (error) => fail(role, error));
  });
  server.listen({ host: HOST, port: 0 }, () => process.stdout.write(`port ${server.address().port}\n`));
}

async function send(file, childPorts) {
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  const sockets = await connectAll(childPorts, 'sender');
  const free = Array.from({ length: POOL }, () => Buffer.allocUnsafe(CHUNK));
  const started = performance.now();
  const cpu0 = usage();
  const answered = answers(sockets);
  let offset = 0;
  const backedUp = new Set();
  const pump = () => {
    while (offset < size && free.length > 0 && backedUp.size === 0) {
      const buffer = free.pop();
      const n = readSync(fd, buffer, 0, Math.min(CHUNK, size - offset), offset);
      if (n <= 0) throw new Error(`${file} shrank while it was being sent`);
      offset += n;
      // Each callback runs once that socket is done with the buffer; after the last one it is refilled.
      let pending = sockets.length;
      const written = () => {
        if (--pending > 0) return;
        free.push(buffer);
        pump();
      };
      for (const socket of sockets) if (!socket.write(n === CHUNK ? buffer : buffer.subarray(0, n), written)) backedUp.add(socket);
    }
    if (offset === size) for (const socket of sockets) if (!socket.writableEnded) socket.end();
  };
  for (const socket of sockets) {
    socket.on('drain', () => {
      backedUp.delete(socket);
      if (backedUp.size === 0) pump();
    });
  }
  pump();
  await answered;
  const seconds = (performance.now() - started) / 1000;
  closeSync(fd);
  for (const socket of sockets) socket.destroy();
  process.stdout.write(`${JSON.stringify({ bytes: size, seconds, cpu: since(cpu0) })}\n`);
}

/** Lines of a child's stdout, one callback per line. */
function onLines(child, fn) {
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text) => {
    rest += text;
    for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n')) {
      fn(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  });
}

/** Resolves when the child has exited with 0 and its output has been read. */
function exited(child, label) {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${label} exited with ${signal ?? code}`))));
  });
}

/**
 * One copy of `file` through fresh processes: to `out` (one receiver), or down `tree`.
 * `children` (a Set), when given, holds the running processes so a caller can stop them.
 */
export async function tcpCopy({ file, out, tree = [{ name: 'receiver', out }], children = new Set() }) {
  const procs = [];
  const spawnScript = (name, args) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    const proc = { name, child, report: undefined, done: exited(child, `tcp-copy ${name}`) };
    proc.done.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    procs.push(proc);
    return proc;
  };
  // Children first, so that each parent can connect to them when it starts.
  const start = async (node) => {
    const ports = await Promise.all((node.children ?? []).map(start));
    const proc = spawnScript(node.name, ['receive', node.out ?? '-', ...ports.map(String)]);
    proc.leaf = node.out !== undefined;
    return new Promise((resolve, reject) => {
      onLines(proc.child, (line) => {
        if (line.startsWith('port ')) resolve(Number(line.slice(5)));
        else proc.report = JSON.parse(line);
      });
      proc.done.then(() => reject(new Error(`tcp-copy ${node.name} ended before listening`)), reject);
    });
  };
  try {
    const ports = await Promise.all(tree.map(start));
    const t = performance.now();
    const sender = spawnScript('sender', ['send', file, ...ports.map(String)]);
    onLines(sender.child, (line) => { sender.report = JSON.parse(line); });
    await sender.done;
    const wallSeconds = (performance.now() - t) / 1000;
    await Promise.all(procs.map((p) => p.done));
    const missing = procs.find((p) => !p.report);
    if (missing) throw new Error(`tcp-copy: no report from the ${missing.name}`);
    const bytes = sender.report.bytes;
    for (const p of procs) if (p.report.bytes !== bytes) throw new Error(`tcp-copy: sent ${bytes} bytes, the ${p.name} got ${p.report.bytes}`);
    const cpu = Object.fromEntries([sender, ...procs.filter((p) => p !== sender)].map((p) => [p.name, p.report.cpu]));
    return {
      bytes, seconds: sender.report.seconds, wallSeconds,
      fsyncSeconds: Math.max(...procs.filter((p) => p.leaf).map((p) => p.report.fsyncSeconds)),
      cpu, cpuSeconds: Object.values(cpu).reduce((sum, c) => sum + c.user + c.system, 0),
    };
  } finally {
    for (const { child } of procs) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      children.delete(child);
    }
  }
}

if (process.argv[1] === SCRIPT) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'receive' && args.length >= 1) receive(args[0], args.slice(1).map(Number)).catch((error) => fail('receiver', error));
  else if (mode === 'send' && args.length >= 2) send(args[0], args.slice(1).map(Number)).catch((error) => fail('sender', error));
  else {
    console.error('usage: tcp-copy.mjs receive <out file | -> [child port...] | send <file> <child port>...');
    process.exit(2);
  }
}
