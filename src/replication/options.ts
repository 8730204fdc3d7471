// fs_replicate's options (the seed's `-option to=<s>,hwm=<MB>,dto=<s>,dhwm=<MB>,qos=<KB/s>`):
// parsed and checked at the edge, kept as plain numbers in the replication state.

import { invalidArgument } from '../errors.js';

export interface ReplicationOptions {
  /** Cut a delta set at least this often (seconds) while there are changes; the seed's default is 600. */
  to: number;
  /** ... or as soon as this many MB were modified since the last cut; default 600. */
  hwm: number;
  /** Destination: play back a received set once this many seconds passed (0: as soon as whole). */
  dto: number;
  /** Destination: ... or once this many MB wait to be played (0: as soon as whole). */
  dhwm: number;
  /** Cap on the send rate in KB/s (0: none). */
  qos: number;
  /** Seconds a send may make no progress before it is given up and tried again (0: the default, 30). */
  watchdog: number;
}

export const DEFAULT_OPTIONS: ReplicationOptions = { to: 600, hwm: 600, dto: 0, dhwm: 0, qos: 0, watchdog: 0 };

const KEYS = Object.keys(DEFAULT_OPTIONS) as (keyof ReplicationOptions)[];

/** "to=1,hwm=16" over `base`; unknown keys and values that are not non-negative numbers are refused. */
export function parseOptions(text: string, base: ReplicationOptions = DEFAULT_OPTIONS): ReplicationOptions {
  const result = { ...base };
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)) as keyof ReplicationOptions;
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (!KEYS.includes(key)) throw invalidArgument(`unknown replication option ${JSON.stringify(key)} (known: ${KEYS.join(', ')})`);
    if (!/^\d+(\.\d+)?$/.test(value)) throw invalidArgument(`option ${key} needs a number, not ${JSON.stringify(value)}`);
    result[key] = Number(value);
  }
  return checkOptions(result);
}

/** Options from JSON (an API body): every field a non-negative number. */
export function checkOptions(value: unknown, base: ReplicationOptions = DEFAULT_OPTIONS): ReplicationOptions {
  if (typeof value !== 'object' || value === null) throw invalidArgument('options must be an object');
  const result = { ...base };
  for (const [key, v] of Object.entries(value)) {
    if (!KEYS.includes(key as keyof ReplicationOptions)) throw invalidArgument(`unknown replication option ${JSON.stringify(key)}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalidArgument(`option ${key} must be a number ≥ 0`);
    result[key as keyof ReplicationOptions] = v;
  }
  if (result.to === 0 && result.hwm === 0) throw invalidArgument('to and hwm cannot both be 0: nothing would ever cut a delta set');
  return result;
}
