// Generation numbers (as DRBD keeps its generation identifiers): each side of a
// replication keeps the lineage of its volume's data, so two sides can tell, without
// trusting either's memory of roles, whether one simply follows the other or both took
// writes after they parted (a split brain).
//
//   - A volume that starts replicating is in generation 1@<its node> (if it had none).
//   - A replica follows its primary's lineage: same generation, same history.
//   - A failover begins a new generation on the promoted side: n = 1 + the highest n in
//     its lineage, @ its node; the generation it left goes to the history with the image
//     both sides last held (the restart point's image).
//   - A resync makes the old primary follow the source's lineage; a failback (a planned
//     turn, both sides holding the same set) keeps the generation.
//
// Whether a side took writes since the sides parted is not kept as a flag but read
// exactly from the bit maps (blocks changed since the image where they parted), so a
// crash between a write and a flag cannot make the report wrong.
// Pure: the service persists lineages and measures the writes.

export interface Generation {
  n: number;
  node: string;
}

export interface Lineage {
  current: Generation;
  /** Generations this data came through, newest first, with the image held when it left each. */
  history: { generation: Generation; image: string }[];
}

export type Relation =
  /** Same generation: one side is (or was) the other's replica; they parted nowhere. */
  | { kind: 'same' }
  /** `side` began a new generation (a failover) from the other's, at `image`. */
  | { kind: 'branched'; side: 'local' | 'remote'; image: string }
  /** Both left a generation they share (two replicas of one primary both failed over), each at its own image. */
  | { kind: 'forked'; images: { local: string; remote: string } }
  /** No generation in common: the volumes share no history. */
  | { kind: 'unrelated' };

export const generationName = (g: Generation): string => `${g.n}@${g.node}`;

const same = (a: Generation, b: Generation): boolean => a.n === b.n && a.node === b.node;

export function newLineage(node: string): Lineage {
  return { current: { n: 1, node }, history: [] };
}

/** A failover: the promoted side leaves its generation at `image` and begins its own. */
export function branch(lineage: Lineage, node: string, image: string): Lineage {
  if (lineage.current.node === node && lineage.history[0]?.image === image) return lineage; // done already
  const highest = Math.max(lineage.current.n, ...lineage.history.map((h) => h.generation.n));
  return { current: { n: highest + 1, node }, history: [{ generation: lineage.current, image }, ...lineage.history] };
}

/** How two sides' lineages relate (local is the side asking). */
export function relate(local: Lineage, remote: Lineage): Relation {
  if (same(local.current, remote.current)) return { kind: 'same' };
  const localLeft = local.history.find((h) => same(h.generation, remote.current));
  if (localLeft) return { kind: 'branched', side: 'local', image: localLeft.image };
  const remoteLeft = remote.history.find((h) => same(h.generation, local.current));
  if (remoteLeft) return { kind: 'branched', side: 'remote', image: remoteLeft.image };
  for (const h of local.history) {
    const theirs = remote.history.find((r) => same(r.generation, h.generation));
    if (theirs) return { kind: 'forked', images: { local: h.image, remote: theirs.image } };
  }
  return { kind: 'unrelated' };
}

export interface Divergence {
  relation: Relation;
  /** Blocks each side changed since the image where they parted (null: unknown, e.g. that image is gone). */
  wrote: { local: number | null; remote: number | null };
  /** Both sides took writes since they parted. Unknown counts as written: a split brain is never hidden. */
  splitBrain: boolean;
}

/**
 * Where each side left the shared history: the image to count its own writes from (the
 * side that did not branch counts from the image where the other left it).
 */
export function partingImages(relation: Relation): { local: string; remote: string } | null {
  if (relation.kind === 'branched') return { local: relation.image, remote: relation.image };
  if (relation.kind === 'forked') return relation.images;
  return null;
}

/** The verdict from a relation and what each side wrote since the image where they parted. */
export function divergence(relation: Relation, wrote: { local: number | null; remote: number | null }): Divergence {
  const took = (blocks: number | null) => blocks === null || blocks > 0;
  const parted = relation.kind === 'branched' || relation.kind === 'forked';
  return { relation, wrote, splitBrain: parted && took(wrote.local) && took(wrote.remote) };
}
