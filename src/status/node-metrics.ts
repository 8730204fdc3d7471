// The node's /metrics families that the status application registers: volumes (read from
// the data directory at each scrape), replication per destination (from the replication
// application), RCP (from RcpService.stats), and the distribution counters, registered
// here too so they are present, with no samples, before the first pull.

import type { NodeAppHost } from '../node/apps.js';
import type { GaugeSample } from '../node/metrics.js';
import { replicationOf } from './snapshot.js';

export const PULL_REQUESTS = 'snapcopy_pull_requests_total';
export const DELTA_BYTES = 'snapcopy_delta_bytes_total';

async function perDestination(host: NodeAppHost, value: (d: { lagSeconds: number | null; lastSuccess: { at: number } | null }) => number | null): Promise<GaugeSample[]> {
  const samples: GaugeSample[] = [];
  for (const primary of (await replicationOf(host)).primaries) {
    for (const d of primary.destinations) {
      const v = value(d);
      if (v !== null) samples.push({ labels: { volume: primary.name, destination: d.node }, value: v });
    }
  }
  return samples;
}

export function registerNodeMetrics(host: NodeAppHost): void {
  const m = host.metrics;
  m.counter(PULL_REQUESTS, 'Version update requests answered, by result (up-to-date, delta, full).');
  m.counter(DELTA_BYTES, 'Bytes of deltas and full copies sent to pulling clients.');
  m.collectedCounter('snapcopy_rcp_bytes_sent_total', 'Bytes this node wrote to its RCP next hops, by group (resends included).', () =>
    [...host.rcp.stats.bytesSent].map(([group, value]) => ({ labels: { group }, value })));
  m.collectedCounter('snapcopy_rcp_session_failures_total', 'RCP sessions through this node in which a destination was given up.', () =>
    [{ labels: {}, value: host.rcp.stats.sessionFailures }]);
  m.gauge('snapcopy_volume_bytes', 'Size of each volume in bytes.', async () =>
    (await host.dir.list()).map((v) => ({ labels: { volume: v.name }, value: v.size })));
  m.gauge('snapcopy_volume_used_bytes', 'Bytes each volume\'s files take on disk (checkpoints included).', async () =>
    (await host.dir.list()).map((v) => ({ labels: { volume: v.name }, value: v.usedBytes })));
  m.gauge('snapcopy_checkpoints', 'Checkpoints each volume holds.', async () =>
    (await host.dir.list()).map((v) => ({ labels: { volume: v.name }, value: v.checkpoints.length })));
  m.gauge('snapcopy_replication_lag_seconds', 'Now minus the creation time of the newest delta set the destination played.', () =>
    perDestination(host, (d) => d.lagSeconds));
  m.gauge('snapcopy_replication_last_success_timestamp_seconds', 'When the destination last played a delta set (seconds since the epoch).', () =>
    perDestination(host, (d) => (d.lastSuccess ? d.lastSuccess.at / 1000 : null)));
}
