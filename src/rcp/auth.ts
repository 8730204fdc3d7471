// Mutual challenge-response between nodes that share a secret. Each side sends a fresh
// nonce; each proves it knows the secret with an HMAC-SHA256 over both nonces, both names
// and its role, so a proof can be neither replayed nor reflected, and the secret never
// crosses the wire. WebCrypto, so the same code runs in Node and Deno.

const encoder = new TextEncoder();

export type Role = 'client' | 'server';

export const NONCE_BYTES = 16;

export function newNonce(): string {
  return randomHex(NONCE_BYTES);
}

/** `bytes` random bytes as hex. */
export function randomHex(bytes: number): string {
  return toHex(globalThis.crypto.getRandomValues(new Uint8Array(bytes)));
}

export interface ProofInput {
  role: Role;
  clientName: string;
  serverName: string;
  clientNonce: string;
  serverNonce: string;
}

type HmacKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

const keys = new Map<string, Promise<HmacKey>>();

function keyOf(secret: string): Promise<HmacKey> {
  let key = keys.get(secret);
  if (!key) {
    key = globalThis.crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    keys.set(secret, key);
  }
  return key;
}

export async function hmacHex(secret: string, message: string): Promise<string> {
  const mac = await globalThis.crypto.subtle.sign('HMAC', await keyOf(secret), encoder.encode(message));
  return toHex(new Uint8Array(mac));
}

/** The proof one side sends; the other computes the same and compares. */
export function proofOf(secret: string, input: ProofInput): Promise<string> {
  const message = ['snapcopy-rcp/1', input.role, input.clientName, input.serverName, input.clientNonce, input.serverNonce].join('\n');
  return hmacHex(secret, message);
}

/** The bearer token of a node's HTTP control API, derived from the shared secret. */
export function httpTokenOf(secret: string): Promise<string> {
  return hmacHex(secret, 'snapcopy-http-token/1');
}

/** Compares without an early exit, so timing says nothing about where two strings differ. */
export function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

function toHex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}
