// The snapcopy kernels: one per file, offsets and lengths in, counts out, no
// allocation. The arena layout they share is in lib/layout.ts.
export { scanPlain } from "./scan-plain";
export { scanMeta } from "./scan-meta";
export { popcountPlain } from "./popcount-plain";
export { popcountMeta } from "./popcount-meta";
export { orMerge } from "./or-merge";
export { granularityExpand } from "./granularity-expand";
export { granularityShrink } from "./granularity-shrink";
export { gatherPages } from "./gather-pages";
export { checksum } from "./checksum";
export { compareBlocks } from "./compare-blocks";
export { popcountRuns } from "./popcount-runs";
