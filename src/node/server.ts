// A node: one process, one TCP port (FIG. 19). Each connection's first line picks HTTP
// (the control API) or RCP (the collector service); anything else is closed after a
// bounded read. The node's configuration lives in <data>/node, under a lock.

import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { SnapcopyError } from '../errors.js';
import { httpTokenOf } from '../rcp/auth.js';
import type { HopTarget } from '../rcp/hop.js';
import { RcpService, type RcpTuning, type SessionInfo } from '../rcp/service.js';
import { makeDir } from '../storage/file.js';
import { type DirLock, lockDir } from '../storage/lock.js';
import { formatAddress, isAddress, parseAddress } from './address.js';
import { NodeConfig } from './config.js';
import { httpApi } from './http-api.js';
import type { Peers } from './peers.js';
import { type RcptestResult, type RcptestUpload, sendStream } from './rcptest.js';
import { sniff } from './sniff.js';
import { DataDir } from '../volume/data-dir.js';
import { LocalStore } from '../volume/store.js';
import type { BackendChoice } from '../kernels/api.js';
import { volumeApi } from './volume-api.js';
import { DEFAULT_APPS, type NodeApp, type NodeAppHost, type RunningApp } from './apps.js';
import { callNode } from './client.js';
import { RemoteStore } from './volume-client.js';
import { socketConn, tcpDial } from './tcp.js';
import { TokenStore } from './access.js';
import { Metrics } from './metrics.js';
import { ErrorRing } from '../status/log-ring.js';

/** How long a new connection has to send its first line. */
const SNIFF_TIMEOUT_MS = 5000;
/**
 * How long an HTTP client has for a request's headers, and to start its next request on a
 * kept-alive connection. Node enforces its own headersTimeout only on servers that listen
 * themselves, and this one is handed its sockets.
 */
const HTTP_HEADERS_TIMEOUT_MS = 10_000;

export interface NodeOptions {
  name: string;
  /** host:port; port 0 picks a free one. Default 127.0.0.1:7700. */
  listen?: string;
  dataDir: string;
  peers: Peers;
  tuning?: Partial<RcpTuning>;
  /** The kernel backend of the node's volumes (default auto). */
  kernels?: BackendChoice;
  /** The applications to host (default: rcptest and replication). */
  apps?: readonly NodeApp[];
  /** One line per event worth an operator's attention. */
  log?: (line: string) => void;
}

export interface NodeStatus {
  name: string;
  address: string;
  sessions: SessionInfo[];
}

/** A listen failure as what the operator can do about it. */
function listenError(error: NodeJS.ErrnoException, address: string): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new SnapcopyError('ERR_ADDRESS_IN_USE', `cannot listen on ${address}: the address is in use (another node or program has the port; pick another with --listen)`, { cause: error });
    case 'EADDRNOTAVAIL':
      return new SnapcopyError('ERR_INVALID_ARGUMENT', `cannot listen on ${address}: no network interface of this machine has that address`, { cause: error });
    case 'EACCES':
      return new SnapcopyError('ERR_INVALID_ARGUMENT', `cannot listen on ${address}: permission denied (ports below 1024 need privileges)`, { cause: error });
    default:
      return error;
  }
}

export class NodeServer {
  readonly name: string;
  readonly config: NodeConfig;
  readonly rcp: RcpService;
  readonly dataDir: string;
  /** The node's volumes: it owns its data directory while it runs. */
  readonly volumes: LocalStore;
  /** Answers the volume API's paths (src/node/volume-api.ts); false for other paths. */
  readonly volumeApi: ReturnType<typeof volumeApi>;
  /** The applications the node hosts, started (src/node/apps.ts). */
  readonly apps: RunningApp[] = [];
  /** Read-only distribution tokens (src/node/access.ts). */
  readonly tokens: TokenStore;
  /** What /metrics reports; the node's parts and applications count into it. */
  readonly metrics = new Metrics();
  /** The last log lines that report errors (the status page's recent errors). */
  readonly errors = new ErrorRing();
  #address = '';
  readonly #tcp: net.Server;
  readonly #http: http.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #lock: DirLock;
  readonly #log: (line: string) => void;
  #closing: Promise<void> | undefined;

  private constructor(options: NodeOptions, config: NodeConfig, lock: DirLock, token: string, volumes: DataDir, tokens: TokenStore) {
    this.name = options.name;
    this.tokens = tokens;
    this.volumes = new LocalStore(volumes);
    this.volumeApi = volumeApi(this.volumes, {
      checkMode: async (fs, mode) => {
        for (const app of this.apps) await app.checkMode?.(fs, mode);
      },
      checkDelete: async (spec, volume) => {
        const found = await volumes.findCheckpoint(spec, volume);
        for (const app of this.apps) await app.checkDelete?.(found.volume, found.checkpoint);
      },
    });
    this.config = config;
    this.dataDir = options.dataDir;
    this.#lock = lock;
    const log = options.log ?? (() => undefined);
    this.#log = (line) => {
      this.errors.add(line);
      log(line);
    };
    const peers = options.peers;
    this.rcp = new RcpService({
      name: options.name,
      secret: peers.secret,
      dial: tcpDial(),
      nextHops: (group) => config.routing.nextHops(group),
      resolve: (hop) => this.#resolve(hop, peers),
      tuning: options.tuning,
    });
    this.#http = http.createServer({ requestTimeout: 0 }, httpApi(this, token));
    this.#http.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => this.#headersArrived(request, response));
    this.#tcp = net.createServer((socket) => this.#route(socket));
  }

  static async start(options: NodeOptions): Promise<NodeServer> {
    const listen = parseAddress(options.listen ?? '127.0.0.1:7700', 'listen address');
    const nodeDir = join(options.dataDir, 'node');
    await makeDir(nodeDir);
    const lock = await lockDir(nodeDir, { what: `data directory ${options.dataDir} (a node serves it)` });
    let node: NodeServer | undefined;
    let volumes: DataDir | undefined;
    try {
      const config = await NodeConfig.load(nodeDir);
      // A local process that still holds a volume gets a few seconds to let go of it.
      volumes = await DataDir.open(options.dataDir, { ownedByNode: true, kernels: options.kernels, wait: 5 });
      const token = await httpTokenOf(options.peers.secret);
      const tokens = await TokenStore.load(nodeDir);
      node = new NodeServer(options, config, lock, token, volumes, tokens);
      const host = node.#appHost(options, volumes, token);
      for (const app of options.apps ?? DEFAULT_APPS) node.apps.push(await app.start(host));
      await node.#listen(listen.host, listen.port);
      return node;
    } catch (error) {
      for (const app of node?.apps ?? []) await app.close().catch(() => undefined);
      node?.rcp.close();
      await volumes?.close();
      await lock.release();
      throw error;
    }
  }

  /** What the node's applications may use of it: its volumes, RCP, routes and peers. */
  #appHost(options: NodeOptions, volumes: DataDir, token: string): NodeAppHost {
    const peers = options.peers;
    return {
      self: this.name,
      dataPath: options.dataDir,
      dir: volumes,
      rcp: this.rcp,
      groupOf: (pfs) => this.config.volumeMulticasts.find((v) => v.role === 'src' && v.volume === pfs)?.mcnode,
      addRoute: async (group, nextHop) => {
        if (!this.config.routing.nextHops(group).includes(nextHop)) await this.config.addRoute(group, nextHop, (hop) => this.rcp.canReach(hop));
      },
      knows: (node) => this.#resolve(node, peers) !== undefined,
      callPeer: (node, method, path, body) => {
        const target = this.#resolve(node, peers);
        if (!target) throw new SnapcopyError('ERR_NOT_FOUND', `node ${node} is not a known peer`);
        return callNode({ label: node, address: target.address, token }, method, path, body);
      },
      peerStore: (node) => {
        const target = this.#resolve(node, peers);
        if (!target) throw new SnapcopyError('ERR_NOT_FOUND', `node ${node} is not a known peer`);
        return new RemoteStore({ label: node, address: target.address, token });
      },
      log: this.#log,
      metrics: this.metrics,
      tokens: this.tokens,
      status: () => this.status(),
      checkCredential: (credential) => this.tokens.accessOf(credential, token),
      config: () => ({ ...this.config.toJSON(), peersFile: { ...peers.nodes } }),
      describeApps: async () => {
        const described: Record<string, unknown> = {};
        for (const app of this.apps) Object.assign(described, await app.describe?.());
        return described;
      },
      recentErrors: () => this.errors.list(),
    };
  }

  /** Where the node listens, as host:port. */
  get address(): string {
    return this.#address;
  }

  status(): NodeStatus {
    return { name: this.name, address: this.#address, sessions: this.rcp.sessions() };
  }

  /** Sends an upload's bytes, as they arrive, to every destination of its group (the CLI's rcptest). */
  async rcptest(upload: RcptestUpload): Promise<RcptestResult> {
    const what = `rcptest ${upload.name} (${upload.size} bytes) to group ${upload.group}`;
    let result: RcptestResult;
    try {
      result = await sendStream(this.rcp, upload);
    } catch (error) {
      this.#log(`${what}: not sent: ${(error as Error).message}`);
      throw error;
    }
    const failed = Object.entries(result.destinations).filter(([, d]) => d.status !== 'ok');
    this.#log(`${what}: ${Object.keys(result.destinations).length - failed.length} ok, ${failed.length} failed`);
    return result;
  }

  /** Stops accepting, ends sessions, closes connections, releases the data directory. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
      this.rcp.close();
      for (const socket of this.#sockets) socket.destroy();
      await closed;
      for (const app of this.apps) await app.close();
      await this.volumes.close();
      await this.#lock.release();
    })();
    return this.#closing;
  }

  #listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, formatAddress({ host, port })));
      this.#tcp.once('error', failed);
      this.#tcp.listen({ host, port }, () => {
        this.#tcp.off('error', failed);
        const bound = this.#tcp.address() as net.AddressInfo;
        this.#address = formatAddress({ host, port: bound.port });
        resolve();
      });
    });
  }

  #resolve(hop: string, peers: Peers): HopTarget | undefined {
    if (isAddress(hop)) return { name: hop, address: hop };
    const address = this.config.peers[hop] ?? peers.nodes[hop];
    return address ? { name: hop, address } : undefined;
  }

  readonly #headerTimers = new Map<net.Socket, ReturnType<typeof setTimeout>>();

  #awaitHeaders(socket: net.Socket): void {
    clearTimeout(this.#headerTimers.get(socket));
    if (socket.destroyed) return;
    this.#headerTimers.set(socket, setTimeout(() => socket.destroy(), HTTP_HEADERS_TIMEOUT_MS));
  }

  #headersArrived(request: http.IncomingMessage, response: http.ServerResponse): void {
    const socket = request.socket;
    clearTimeout(this.#headerTimers.get(socket));
    this.#headerTimers.delete(socket);
    response.once('finish', () => this.#awaitHeaders(socket));
  }

  /** The L5 filter: reads the first line (bounded in bytes and time), then hands the socket over. */
  #route(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      seen = seen.byteLength === 0 ? chunk : Buffer.concat([seen, chunk]);
      const { protocol, lineBytes } = sniff(seen);
      if (protocol === 'more') return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      if (protocol === 'bad') {
        socket.destroy();
        return;
      }
      if (protocol === 'http') {
        socket.unshift(seen);
        socket.once('close', () => {
          clearTimeout(this.#headerTimers.get(socket));
          this.#headerTimers.delete(socket);
        });
        this.#awaitHeaders(socket);
        this.#http.emit('connection', socket);
        socket.resume();
        return;
      }
      if (seen.byteLength > lineBytes) socket.unshift(seen.subarray(lineBytes));
      void this.rcp.accept(socketConn(socket));
    };
    socket.on('data', onData);
  }
}
