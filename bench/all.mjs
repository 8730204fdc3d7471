// npm run bench [-- --quick]: the kernel (and the exact count on a volume in use, the extent walk alone, and sparse scans against their counts), volume, RCP, replication and distribution benchmarks, each in a process of
// its own (so one's memory does not weigh on the other's timings).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
for (const script of ['run.mjs', 'lib/count-in-use.mjs', 'lib/extent-walk.mjs', 'lib/sparse-scan.mjs', 'volume.mjs', 'map-memory.mjs', 'rcp.mjs', 'replication.mjs', 'distribution.mjs']) {
  const result = spawnSync(process.execPath, [join(here, script), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
