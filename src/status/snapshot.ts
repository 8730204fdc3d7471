// What the status page shows, as one JSON document (GET /v1/status/snapshot and each
// server-sent event): the node, its peers and routes, volumes, replication, RCP sessions,
// distribution counters, recent errors and the charts' history.

import type { NodeAppHost } from '../node/apps.js';
import type { History, PrimaryView } from './history.js';

/** Replication as its application describes itself (src/replication/service.ts list()). */
export interface ReplicationView {
  primaries: (Omit<PrimaryView, 'destinations'> & {
    group: string;
    state: string;
    pendingSets: number;
    pendingBytes: number;
    currentTransferRate: number;
    avgTransferRate: number;
    destinations: (PrimaryView['destinations'][number] & {
      sfs: string;
      state: string;
      lastSuccess: { at: number; bytes: number; seconds: number } | null;
      lastError: { code: string; message: string; at: number } | null;
    })[];
  })[];
  replicas: { sfs: string; pfs: string; primary: string; played: number | null; playedAt?: number; playedCreated?: number; lastError?: { code: string; message: string; at: number } }[];
}

export const NO_REPLICATION: ReplicationView = { primaries: [], replicas: [] };

/** The replication application's view, or none when the node does not host it. */
export async function replicationOf(host: NodeAppHost): Promise<ReplicationView> {
  const described = await host.describeApps();
  return (described.replication as ReplicationView | undefined) ?? NO_REPLICATION;
}

/** A counter's samples as {labels..., value}. */
function countsOf(host: NodeAppHost, name: string): { labels: Record<string, string>; value: number }[] {
  return host.metrics.counter(name, '').samples();
}

export async function buildSnapshot(host: NodeAppHost, history: History, now = Date.now()) {
  const status = host.status();
  const replication = await replicationOf(host);
  const volumes = (await host.dir.list()).map((v) => ({
    name: v.name,
    size: v.size,
    usedBytes: v.usedBytes,
    blockSize: v.blockSize,
    mode: v.mode,
    checkpoints: v.checkpoints.length,
    newestCheckpoint: v.checkpoints.at(-1)?.name ?? null,
  }));
  return {
    time: now,
    node: { name: status.name, address: status.address },
    config: host.config(),
    volumes,
    replication: {
      primaries: replication.primaries.map((p) => ({
        name: p.name, group: p.group, state: p.state, pendingSets: p.pendingSets, pendingBytes: p.pendingBytes,
        currentTransferRate: p.currentTransferRate, avgTransferRate: p.avgTransferRate,
        destinations: p.destinations.map((d) => ({
          node: d.node, sfs: d.sfs, state: d.state, lagSeconds: d.lagSeconds, currentDeltaSet: d.currentDeltaSet,
          lastSuccess: d.lastSuccess, lastError: d.lastError,
        })),
      })),
      replicas: replication.replicas.map((r) => ({
        sfs: r.sfs, source: `${r.pfs}:cel=${r.primary}`, played: r.played, playedAt: r.playedAt ?? null,
        lagSeconds: r.playedCreated === undefined ? null : Math.max(0, (now - r.playedCreated) / 1000),
        lastError: r.lastError ?? null,
      })),
    },
    sessions: status.sessions,
    distribution: {
      pullRequests: countsOf(host, 'snapcopy_pull_requests_total'),
      deltaBytes: host.metrics.counter('snapcopy_delta_bytes_total', '').get(),
    },
    errors: host.recentErrors(),
    history: history.toJSON(),
  };
}

export type Snapshot = Awaited<ReturnType<typeof buildSnapshot>>;

/**
 * What makes a snapshot worth sending before the next 2 s tick: everything but the
 * clock-driven parts (the time, lags, history), which change on every call.
 */
export function changeKey(snapshot: Snapshot): string {
  const { time: _t, history: _h, replication, ...rest } = snapshot;
  const primaries = replication.primaries.map((p) => ({
    ...p, currentTransferRate: 0, destinations: p.destinations.map((d) => ({ ...d, lagSeconds: 0 })),
  }));
  const replicas = replication.replicas.map((r) => ({ ...r, lagSeconds: 0 }));
  return JSON.stringify({ ...rest, primaries, replicas });
}
