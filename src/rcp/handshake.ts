// The RCP/1.0 handshake. After the client's preamble line:
//   client → HELLO     { versions, node, nonce }
//   server → CHALLENGE { version, node, nonce, proof }   proof of the secret, server role
//   client → AUTH      { proof }                         proof of the secret, client role
//   server → WELCOME   {}
// Either side that finds a wrong proof sends ERROR ERR_AUTH and closes. Until WELCOME the
// frame limit is the small handshake limit, so an unauthenticated peer can make a node
// hold a few KiB at most.

import { SnapcopyError } from '../errors.js';
import { newNonce, proofOf, sameText } from './auth.js';
import { FRAME, type Frame, type FrameType, frameName } from './frame.js';
import { field, jsonOf } from './messages.js';
import type { Link } from './link.js';

export const PREAMBLE = 'RCP/1.0\r\n';
/** 2: frames after the handshake carry checksum32 instead of CRC-32 (src/rcp/frame.ts). */
export const PROTOCOL_VERSION = 2;

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isNodeName(name: string): boolean {
  return NODE_NAME.test(name);
}

export interface HandshakeOptions {
  name: string;
  secret: string;
  timeoutMs: number;
}

async function expectFrame(link: Link, type: FrameType, timeoutMs: number): Promise<Record<string, unknown>> {
  const frame: Frame = await link.next(timeoutMs);
  if (frame.type !== type) {
    const error = new SnapcopyError('ERR_PROTOCOL', `expected ${frameName(type)} during the handshake, got ${frameName(frame.type)}`);
    link.fail(error.code, error.message);
    throw error;
  }
  try {
    return jsonOf(frame.payload, `a ${frameName(type)} frame`);
  } catch (error) {
    link.fail('ERR_PROTOCOL', (error as Error).message);
    throw error;
  }
}

function checked<T>(link: Link, read: () => T): T {
  try {
    return read();
  } catch (error) {
    link.fail('ERR_PROTOCOL', (error as Error).message);
    throw error;
  }
}

function refuse(link: Link, code: 'ERR_AUTH' | 'ERR_VERSION' | 'ERR_PROTOCOL', message: string): never {
  link.fail(code, message);
  throw new SnapcopyError(code, message);
}

/** Runs the client side; returns the server's node name. */
export async function clientHandshake(link: Link, options: HandshakeOptions & { expectPeer?: string }): Promise<string> {
  link.conn.write(new TextEncoder().encode(PREAMBLE));
  const clientNonce = newNonce();
  link.sendJson(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: options.name, nonce: clientNonce });
  const challenge = await expectFrame(link, FRAME.CHALLENGE, options.timeoutMs);
  const { serverName, serverNonce, proof } = checked(link, () => ({
    serverName: field(challenge, 'node', 'string', 'CHALLENGE'),
    serverNonce: field(challenge, 'nonce', 'string', 'CHALLENGE'),
    proof: field(challenge, 'proof', 'string', 'CHALLENGE'),
  }));
  if (challenge.version !== PROTOCOL_VERSION) {
    refuse(link, 'ERR_VERSION', `${serverName} chose RCP version ${JSON.stringify(challenge.version)}, which this node did not offer`);
  }
  const names = { clientName: options.name, serverName, clientNonce, serverNonce };
  if (!sameText(proof, await proofOf(options.secret, { role: 'server', ...names }))) {
    refuse(link, 'ERR_AUTH', `${serverName} did not prove the shared secret (are the secrets the same?)`);
  }
  if (options.expectPeer && options.expectPeer !== serverName) {
    refuse(link, 'ERR_AUTH', `expected node ${options.expectPeer} at ${link.conn.remote}, found ${serverName}`);
  }
  link.sendJson(FRAME.AUTH, { proof: await proofOf(options.secret, { role: 'client', ...names }) });
  await expectFrame(link, FRAME.WELCOME, options.timeoutMs);
  link.peer = serverName;
  return serverName;
}

/** Runs the server side after the preamble; returns the client's node name. */
export async function serverHandshake(link: Link, options: HandshakeOptions): Promise<string> {
  const hello = await expectFrame(link, FRAME.HELLO, options.timeoutMs);
  const { clientName, clientNonce, versions } = checked(link, () => ({
    clientName: field(hello, 'node', 'string', 'HELLO'),
    clientNonce: field(hello, 'nonce', 'string', 'HELLO'),
    versions: hello.versions,
  }));
  if (!Array.isArray(versions) || !versions.includes(PROTOCOL_VERSION)) {
    refuse(link, 'ERR_VERSION', `this node speaks RCP version ${PROTOCOL_VERSION}, the peer offered ${JSON.stringify(versions)}`);
  }
  if (!isNodeName(clientName) || clientNonce.length < 16 || clientNonce.length > 128) {
    refuse(link, 'ERR_PROTOCOL', 'HELLO has a bad node name or nonce');
  }
  link.peer = clientName;
  const serverNonce = newNonce();
  const names = { clientName, serverName: options.name, clientNonce, serverNonce };
  link.sendJson(FRAME.CHALLENGE, {
    version: PROTOCOL_VERSION, node: options.name, nonce: serverNonce,
    proof: await proofOf(options.secret, { role: 'server', ...names }),
  });
  const auth = await expectFrame(link, FRAME.AUTH, options.timeoutMs);
  const proof = checked(link, () => field(auth, 'proof', 'string', 'AUTH'));
  if (!sameText(proof, await proofOf(options.secret, { role: 'client', ...names }))) {
    refuse(link, 'ERR_AUTH', `${clientName} did not prove the shared secret`);
  }
  link.sendJson(FRAME.WELCOME, {});
  return clientName;
}
