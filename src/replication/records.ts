// Where a node keeps its replications: one JSON file per primary volume (out/<pfs>.json,
// the primary's state machine) and per replica (in/<sfs>.json), each replaced
// atomically, so a crash leaves the old or the new record, never half of one.

import { join } from 'node:path';
import { corrupt } from '../errors.js';
import { listDir, makeDir, readFileOrUndefined, removeFile, writeFileAtomic } from '../storage/file.js';

export class RecordDir<T> {
  constructor(readonly path: string) {}

  static under<T>(dataDir: string, kind: 'out' | 'in' | 'failover' | 'resync' | 'failback' | 'lineage'): RecordDir<T> {
    return new RecordDir<T>(join(dataDir, 'replication', kind));
  }

  async read(name: string): Promise<T | undefined> {
    const bytes = await readFileOrUndefined(join(this.path, `${name}.json`));
    if (!bytes) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as T;
    } catch {
      throw corrupt(`${join(this.path, `${name}.json`)} is not valid JSON`);
    }
  }

  async write(name: string, value: T): Promise<void> {
    await makeDir(this.path);
    await writeFileAtomic(join(this.path, `${name}.json`), `${JSON.stringify(value, null, 2)}\n`);
  }

  async remove(name: string): Promise<void> {
    await removeFile(join(this.path, `${name}.json`));
  }

  async names(): Promise<string[]> {
    return (await listDir(this.path)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  }
}
