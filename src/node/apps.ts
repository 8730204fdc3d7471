// Applications a node hosts: each starts on the node with what it may use of it (its
// volumes, RCP, routes and peers: NodeAppHost), registers its RCP handlers, and may
// answer HTTP paths of its own. The node knows them only through this interface, so
// an application is added by listing it, not by changing the node.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Replication, type ReplicationHost } from '../replication/service.js';
import { RCPTEST_APP, rcptestReceiver } from './rcptest.js';
import { replicationApi } from './replication-api.js';
import type { VolumeMode } from '../volume/volume.js';
import type { Access, TokenStore } from './access.js';
import type { Metrics } from './metrics.js';
import { distributionApp } from '../distribution/app.js';
import { statusApp } from '../status/app.js';

/**
 * What a node lends its applications: its volumes, RCP, routes and peers (what
 * replication needs: ReplicationHost), its metrics and its read-only tokens. The node
 * gives every application the same.
 */
export interface NodeAppHost extends ReplicationHost {
  metrics: Metrics;
  tokens: TokenStore;
  /** The node's name and address, its sessions (the status page shows them). */
  status(): { name: string; address: string; sessions: unknown[] };
  /** What a credential opens on this node (the node token, a read-only token), or undefined: for a login form. */
  checkCredential(credential: string): Access | undefined;
  /** The node's peers, routes and multicast configuration, as GET /v1/config says it, and the peers file's nodes (peersFile). */
  config(): unknown;
  /** What each application says of itself (RunningApp.describe), merged: the status page's view of them. */
  describeApps(): Promise<Record<string, unknown>>;
  /** The node's last log lines that report errors, oldest first. */
  recentErrors(): { at: number; line: string }[];
}

export interface RunningApp {
  /**
   * Answers the application's own HTTP paths (true), or leaves the request alone (false).
   * Called only for requests whose credential allows them (src/node/access.ts).
   */
  http?(request: IncomingMessage, response: ServerResponse, url: URL, access: Access): boolean;
  /** Answers paths that need no credential (a login form), or leaves the request alone. */
  publicHttp?(request: IncomingMessage, response: ServerResponse, url: URL): boolean;
  /** What the application is doing, under keys of its own (the status page shows it). */
  describe?(): Promise<Record<string, unknown>>;
  /** Refuses a volume mode change that would break the application (server_mount). */
  checkMode?(fs: string, mode: VolumeMode): Promise<void>;
  /** Refuses to delete a checkpoint the application is using (ERR_IN_USE: a version being served). */
  checkDelete?(fs: string, checkpoint: string): Promise<void>;
  close(): Promise<void>;
}

export interface NodeApp {
  readonly name: string;
  start(host: NodeAppHost): Promise<RunningApp>;
}

/** rcptest's destination side: files land in <data>/rcptest/. */
export const rcptestApp: NodeApp = {
  name: RCPTEST_APP,
  async start(host) {
    host.rcp.handle(RCPTEST_APP, rcptestReceiver(join(host.dataPath, 'rcptest')));
    return { close: async () => undefined };
  },
};

/** Replication (src/replication/) and its HTTP paths (fs_replicate through --node). */
export const replicationApp: NodeApp = {
  name: 'replication',
  async start(host) {
    const replication = await Replication.start(host);
    return {
      http: replicationApi(replication),
      describe: async () => ({ replication: await replication.list() }),
      checkMode: (fs, mode) => replication.checkMode(fs, mode),
      close: () => replication.close(),
    };
  },
};

export const DEFAULT_APPS: readonly NodeApp[] = [rcptestApp, replicationApp, distributionApp, statusApp];
