// snapcopy: block-level snapshot copies with fast snapshot differentials.
export { SnapcopyError, type SnapcopyErrorCode } from './errors.js';
export {
  ACC_BYTES, ARENA_BASE, type Backend, type BackendChoice, type KernelMemory, type Kernels,
  MAX_BLOCKS, MAX_GRANULARITY, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PAGE_SHIFT, ZERO_PAGE,
} from './kernels/api.js';
export { loadKernels, wasmKernelsAvailable } from './kernels/load.js';
export { Arena, type ArenaOptions, type ArenaStats } from './arena/arena.js';
export { PagedBitmap } from './arena/bitmap.js';
export {
  countDelta, deltaExtents, type DeltaScanOptions, type ExtentBatch, type MetaMaps, scanDelta,
} from './arena/delta-scan.js';
export {
  DataDir, type DataDirOptions, DEFAULT_BLOCK_SIZE, type OnProgress, type VolumeInfo, type VolumeOptions,
} from './volume/data-dir.js';
export { type CheckpointInfo, Volume, type VolumeImportResult } from './volume/volume.js';
export {
  type CopyOutcome, type ExportStream, type ImportOutcome, LocalStore, type SizedStream, type VolumeStore,
} from './volume/store.js';
export { RemoteStore } from './node/volume-client.js';
export { PushImport, type PushImportOptions } from './volume/push-import.js';
export { type PeekedStream, peekHeader } from './checkpoint/stream-peek.js';
export { DEFAULT_APPS, type NodeApp, type NodeAppHost, rcptestApp, replicationApp, type RunningApp } from './node/apps.js';
export { type Destination, Replication } from './replication/service.js';
export { DEFAULT_OPTIONS as DEFAULT_REPLICATION_OPTIONS, parseOptions as parseReplicationOptions, type ReplicationOptions } from './replication/options.js';
export { resolveNode, type NodeTarget } from './node/client.js';
export type { DeltaChunk, DeltaExtent, DeltaSize, ExtentKind } from './checkpoint/delta.js';
export { type DeltaHeader, StreamReader, type StreamEvent, StreamWriter } from './checkpoint/delta-stream.js';
export type { ImportResult } from './checkpoint/import.js';
export { EMPTY_IMAGE } from './engine/layout.js';
// Nodes and RCP: the node server, and the session layer for applications built on it.
export { NodeServer, type NodeOptions, type NodeStatus } from './node/server.js';
export { type Peers, parsePeers, readPeers } from './node/peers.js';
export { type RcptestResult, type RcptestUpload, sendFile, sendStream } from './node/rcptest.js';
export { type AppFactory, DEFAULT_TUNING, RcpService, type RcpServiceOptions, type RcpTuning, type SessionInfo } from './rcp/service.js';
export { OriginSession, type SessionResult } from './rcp/origin.js';
export type { SessionApp } from './rcp/local.js';
export type { DestinationStatus, SessionParams } from './rcp/session.js';
export type { Conn, Dial } from './rcp/conn.js';
// Version distribution: pull a volume's versions from a node or a published directory.
export { pull, type PullOptions, type PullOutcome, type PullSource, parseSource } from './distribution/pull.js';
export { decideUpdate, type UpdateDecision, type UpdateResult } from './distribution/decide.js';
export { parseIndex, type VersionsIndex } from './distribution/index-format.js';
export { distributionApp, distributionAppWith, type DistributionOptions } from './distribution/app.js';
export { publishVersions, type PublishOptions, type PublishResult, type PublishStep } from './distribution/publish.js';
export { DEFAULT_KEEP } from './distribution/publish-plan.js';
