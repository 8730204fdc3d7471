// A TCP proxy in front of an HTTP server that cuts chosen responses part-way: for the
// next responses carrying a stream (content-type application/octet-stream), it
// forwards the head and exactly `k` bytes of the body, then destroys both sockets. JSON
// answers (update, errors) pass whole. Responses on one kept-alive connection are
// followed one after another by their content-length (the node never sends chunked).
// With `holdAfterCut`, a connection opened after a cut is held (not yet forwarded)
// until the promise settles, so a test can look at the client between the two.
import * as net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');

export class CutProxy {
  /** Body bytes after which each of the next stream responses is cut (first first). */
  readonly cuts: number[] = [];
  /** Stream responses cut so far. */
  cutCount = 0;
  /** Connections opened after a cut wait for this before they are forwarded. */
  holdAfterCut: Promise<void> | undefined;
  /** Connections held so far (see holdAfterCut). */
  held = 0;
  #onHeld: (() => void)[] = [];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(server: net.Server, readonly target: number) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<CutProxy> {
    const server = net.createServer();
    const proxy = new CutProxy(server, targetPort);
    server.on('connection', (client) => proxy.#accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Resolves once a connection is being held. */
  whenHeld(): Promise<void> {
    return this.held > 0 ? Promise.resolve() : new Promise((resolve) => this.#onHeld.push(resolve));
  }

  #accept(client: net.Socket): void {
    const gate = this.cutCount > 0 ? this.holdAfterCut : undefined;
    if (!gate) return this.#forward(client);
    client.pause();
    this.#sockets.add(client);
    client.on('error', () => undefined);
    this.held++;
    for (const wake of this.#onHeld.splice(0)) wake();
    void gate.then(() => (client.destroyed ? undefined : this.#forward(client)));
  }

  #forward(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    let head: Buffer = Buffer.alloc(0);
    let bodyLeft = 0; // bytes of the current body still to forward
    let cutAfter: number | undefined; // body bytes still to forward before the cut
    upstream.on('data', (chunk: Buffer) => {
      let data = chunk;
      while (data.length > 0) {
        if (bodyLeft === 0) {
          head = Buffer.concat([head, data]);
          const end = head.indexOf(HEAD_END);
          if (end < 0) return;
          const headText = head.subarray(0, end).toString('latin1');
          client.write(head.subarray(0, end + 4));
          data = head.subarray(end + 4);
          head = Buffer.alloc(0);
          bodyLeft = Number(/\r\ncontent-length: *(\d+)/i.exec(headText)?.[1] ?? 0);
          const stream = /\r\ncontent-type: *application\/octet-stream/i.test(headText) && !/^HEAD/.test(headText);
          cutAfter = stream && bodyLeft > 0 && this.cuts.length > 0 ? Math.min(this.cuts.shift()!, bodyLeft - 1) : undefined;
          continue;
        }
        const take = Math.min(bodyLeft, data.length, cutAfter ?? Infinity);
        client.write(data.subarray(0, take));
        bodyLeft -= take;
        data = data.subarray(take);
        if (cutAfter !== undefined) {
          cutAfter -= take;
          if (cutAfter === 0) {
            this.cutCount++;
            // Ends what was written, then closes: the client sees a body shorter than announced.
            client.destroySoon();
            upstream.destroy();
            return;
          }
        }
      }
    });
  }
}
