// Who a request to a node is. Two kinds of credential open the HTTP side:
//   - the node token (derived from the peers secret): everything;
//   - a read-only distribution token (`snapcopy token create --read-only <fs>`): only GETs of
//     that one volume's versions (/v1/versions/<fs>...), so clients that pull need not hold
//     the peers secret.
// A credential comes as `Authorization: Bearer <token>` or, for a browser that logged in
// on the status page, as the `snapcopy_token` cookie. Read-only tokens are kept in
// <data>/node/tokens.json as SHA-256 hashes only: the file never holds a usable token.

import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { corrupt, notFound } from '../errors.js';
import { sameText } from '../rcp/auth.js';
import { readFileOrUndefined, writeFileAtomic } from '../storage/file.js';

export type Access = { kind: 'node' } | { kind: 'read-only'; volume: string; id: string };

/** The cookie the status page's login form sets (HttpOnly, SameSite=Strict). */
export const TOKEN_COOKIE = 'snapcopy_token';

/** The paths a read-only token may GET, with the volume they are about in group 1. */
const READ_ONLY_PATH = /^\/v1\/versions\/([^/]+)(?:\/.*)?$/;

export interface TokenRecord {
  id: string;
  volume: string;
  created: string;
  /** hex SHA-256 of the whole token */
  hash: string;
}

/** The credential a request carries: its bearer token, else its login cookie, else ''. */
export function credentialOf(request: IncomingMessage): string {
  const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return '';
}

/** Whether `access` may make this request (the node token may make any). */
export function allows(access: Access, method: string, pathname: string): boolean {
  if (access.kind === 'node') return true;
  if (method !== 'GET' && method !== 'HEAD') return false;
  const match = READ_ONLY_PATH.exec(pathname);
  return match !== null && decodeURIComponent(match[1]!) === access.volume;
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The read-only tokens of a node, persisted in <data>/node/tokens.json. */
export class TokenStore {
  readonly #path: string;
  #tokens: TokenRecord[];

  private constructor(path: string, tokens: TokenRecord[]) {
    this.#path = path;
    this.#tokens = tokens;
  }

  static async load(nodeDir: string): Promise<TokenStore> {
    const path = join(nodeDir, 'tokens.json');
    const bytes = await readFileOrUndefined(path);
    if (!bytes) return new TokenStore(path, []);
    try {
      const data = JSON.parse(new TextDecoder().decode(bytes)) as { tokens: TokenRecord[] };
      return new TokenStore(path, data.tokens);
    } catch {
      throw corrupt(`${path} is not JSON`);
    }
  }

  /** Makes a read-only token for one volume; the token itself is returned once and not kept. */
  async create(volume: string): Promise<{ id: string; volume: string; token: string }> {
    const id = randomBytes(4).toString('hex');
    const token = `ro_${id}_${randomBytes(24).toString('base64url')}`;
    this.#tokens = [...this.#tokens, { id, volume, created: new Date().toISOString(), hash: hashOf(token) }];
    await this.#save();
    return { id, volume, token };
  }

  list(): Omit<TokenRecord, 'hash'>[] {
    return this.#tokens.map(({ id, volume, created }) => ({ id, volume, created }));
  }

  async revoke(id: string): Promise<void> {
    if (!this.#tokens.some((t) => t.id === id)) throw notFound(`no read-only token ${id}`);
    this.#tokens = this.#tokens.filter((t) => t.id !== id);
    await this.#save();
  }

  /** What a credential opens: the node token, a read-only token, or nothing (undefined). */
  accessOf(credential: string, nodeToken: string): Access | undefined {
    if (credential.length === 0) return undefined;
    if (sameText(credential, nodeToken)) return { kind: 'node' };
    if (!credential.startsWith('ro_')) return undefined;
    const hash = hashOf(credential);
    const record = this.#tokens.find((t) => sameText(t.hash, hash));
    return record ? { kind: 'read-only', volume: record.volume, id: record.id } : undefined;
  }

  #save(): Promise<void> {
    return writeFileAtomic(this.#path, `${JSON.stringify({ tokens: this.#tokens }, null, 2)}\n`);
  }
}
