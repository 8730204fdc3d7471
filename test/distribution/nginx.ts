// nginx from Debian's packages as a child process serving one directory on 127.0.0.1,
// with its own minimal configuration (daemon off; pid, logs and temp files in a
// directory of its own; nothing of /etc/nginx's sites), and a TCP proxy in front of it
// that cuts the first connections after a number of bytes down (a download cut mid-file).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net, { type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import process from 'node:process';

/** How long a connection that is cut stalls before it dies. */
const STALL_MS = 300;

const CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'];

/** The nginx binary, or undefined when none is installed. */
export function findNginx(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    if (existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  return CANDIDATES.find((path) => existsSync(path));
}

function configText(work: string, root: string, port: number): string {
  // As root, workers would otherwise drop to "nobody", who cannot read a 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const temp = (name: string) => `${name}_temp_path ${join(work, name)};`;
  return `${user}daemon off;
worker_processes 1;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')} warn;
events { worker_connections 512; }
http {
  access_log ${join(work, 'access.log')};
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  types { application/json json; application/octet-stream snap; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
}

async function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export class Nginx {
  private constructor(readonly child: ChildProcess, readonly port: number, readonly work: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  static async start(binary: string, work: string, root: string, port: number): Promise<Nginx> {
    mkdirSync(work, { recursive: true });
    const conf = join(work, 'nginx.conf');
    writeFileSync(conf, configText(work, root, port));
    const child = spawn(binary, ['-p', work, '-e', join(work, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (text: Buffer) => void (err += text.toString()));
    const nginx = new Nginx(child, port, work);
    for (const started = Date.now(); !(await connects(port));) {
      if (child.exitCode !== null || Date.now() - started > 10_000) {
        await nginx.stop();
        throw new Error(`nginx did not start listening on 127.0.0.1:${port}: ${err}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return nginx;
  }

  /** Fast shutdown (SIGTERM), then SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * A proxy to 127.0.0.1:target that cuts each of its first `cuts` connections after `after`
 * bytes down. The connection stalls a moment before it dies, as a real one does: a client
 * reading a fetch body loses bytes it had not read yet when the body errors, and the test
 * is about resuming from the bytes it has.
 */
export class CuttingProxy {
  cutsDone = 0;
  connections = 0;
  readonly #sockets = new Set<Socket>();

  private constructor(readonly server: Server, readonly port: number) {}

  static async start(target: number, after: number, cuts: number): Promise<CuttingProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const proxy = new CuttingProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.#accept(client, target, after, cuts));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  #accept(client: Socket, target: number, after: number, cuts: number): void {
    const cutThis = this.connections++ < cuts;
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    let down = 0;
    let cut = false;
    upstream.on('data', (chunk: Buffer) => {
      if (cut) return;
      if (!cutThis || down + chunk.length < after) {
        down += chunk.length;
        client.write(chunk);
        return;
      }
      client.write(chunk.subarray(0, after - down), () => {
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, STALL_MS);
      });
      cut = true;
      this.cutsDone++;
      upstream.pause();
    });
    upstream.on('end', () => client.end());
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
