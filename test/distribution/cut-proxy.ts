// A TCP proxy in front of an HTTP server that cuts chosen responses part-way: for the
// next responses carrying a stream (content-type application/octet-stream), it
// forwards the head and exactly `k` bytes of the body, then destroys both sockets. JSON
// answers (update, errors) pass whole. Responses on one kept-alive connection are
// followed one after another by their content-length (the node never sends chunked).
// With `goneAfterCut`, the first cut ends every connection and the proxy stops listening.
import * as net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');

export class CutProxy {
  /** Body bytes after which each of the next stream responses is cut (first first). */
  readonly cuts: number[] = [];
  /** Stream responses cut so far. */
  cutCount = 0;
  /** With this set, the first cut also ends every connection and stops listening: the source is gone. */
  goneAfterCut = false;
  /** The start of the Range asked for by each request forwarded (0 without one), in order. */
  readonly rangeStarts: number[] = [];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(server: net.Server, readonly target: number) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<CutProxy> {
    const server = net.createServer();
    const proxy = new CutProxy(server, targetPort);
    server.on('connection', (client) => proxy.#forward(client));
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
    let request = '';
    client.on('data', (chunk: Buffer) => {
      request += chunk.toString('latin1');
      for (let end = request.indexOf('\r\n\r\n'); end >= 0; end = request.indexOf('\r\n\r\n')) {
        this.rangeStarts.push(Number(/\r\nrange: *bytes=(\d+)-/i.exec(request.slice(0, end))?.[1] ?? 0));
        request = request.slice(end + 4);
      }
    });
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
            if (this.goneAfterCut) void this.close();
            return;
          }
        }
      }
    });
  }
}
