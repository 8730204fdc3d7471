// "host:port" and "[v6]:port" addresses, as nodes and the CLI write them.

import { invalidArgument } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export function parseAddress(text: string, what = 'address'): HostPort {
  const match = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw invalidArgument(`${what} ${JSON.stringify(text)} is not host:port (e.g. 127.0.0.1:7001 or [::1]:7001)`);
  return { host: match[1]!, port };
}

export function isAddress(text: string): boolean {
  try {
    parseAddress(text);
    return true;
  } catch {
    return false;
  }
}

export function formatAddress({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
