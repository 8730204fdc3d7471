// TCP sockets (node:net) as RCP connections: the one place RCP meets a runtime's sockets.

import * as net from 'node:net';
import { SnapcopyError } from '../errors.js';
import type { Conn, Dial } from '../rcp/conn.js';
import { parseAddress } from './address.js';

export function socketConn(socket: net.Socket): Conn {
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  socket.setNoDelay(true);
  return {
    write: (bytes, written) => socket.write(bytes, written && (() => written())),
    get queuedBytes() {
      return socket.writableLength;
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    end: () => {
      socket.end();
      // A peer that never reads must not keep a closed link's buffers alive.
      setTimeout(() => socket.destroy(), 5000).unref();
    },
    destroy: () => socket.destroy(),
    onData: (listener) => {
      socket.on('data', listener);
      socket.resume();
    },
    onDrain: (listener) => socket.on('drain', listener),
    onClose: (listener) => {
      let error: Error | undefined;
      socket.on('error', (e) => (error = e));
      socket.on('close', () => listener(error));
    },
    remote,
  };
}

/** Connects to host:port within `timeoutMs`. */
export function tcpDial(timeoutMs = 5000): Dial {
  return (address) => new Promise<Conn>((resolve, reject) => {
    let target;
    try {
      target = parseAddress(address, 'node address');
    } catch (error) {
      reject(error);
      return;
    }
    const socket = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SnapcopyError('ERR_UNREACHABLE', `${address}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socketConn(socket));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new SnapcopyError('ERR_UNREACHABLE', `${address}: ${error.message}`));
    });
  });
}
