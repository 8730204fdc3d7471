// Command-line parsing: positionals, `--name value` / `--name=value` options, boolean
// flags, and the seed's single-dash words (-start, -fromfs) for the commands that use them.

import { invalidArgument } from '../errors.js';

export type OptionKind = 'string' | 'boolean';

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Parses argv against the options a command declares ("data", "json", "-start", ...).
 * A lone "-" is a positional (standard input or output); "-h" is short for "--help"
 * where help is declared.
 */
export function parseArgs(argv: readonly string[], declared: Readonly<Record<string, OptionKind>>): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '-h' && declared.help === 'boolean') {
      options.set('help', true);
      continue;
    }
    const isLong = token.startsWith('--') && token.length > 2;
    const isSeedWord = !isLong && token.startsWith('-') && declared[token] !== undefined;
    if (!isLong && !isSeedWord) {
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = isLong ? token.slice(2, eq > 0 ? eq : undefined) : token;
    const kind = declared[name];
    if (!kind) throw new UsageError(`unknown option ${token}`);
    if (kind === 'boolean') {
      if (eq > 0) throw new UsageError(`option --${name} takes no value`);
      options.set(name, true);
      continue;
    }
    const value = eq > 0 ? token.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option ${isLong ? `--${name}` : name} needs a value`);
    options.set(name, value);
  }
  return { positionals, options };
}

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** "64M", "2T", "8192", "4KiB": bytes (binary units). */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+)\s*([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!match) throw invalidArgument(`${what} ${JSON.stringify(text)} is not a size like 8192, 64K, 10M, 2G or 1T`);
  const value = Number(match[1]) * UNITS[match[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(value)) throw invalidArgument(`${what} ${text} is too large`);
  return value;
}

export function parseInteger(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw invalidArgument(`${what} must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}
