// The node's replication API (fs_replicate through --node), beside the volume API:
//
//   GET  /v1/replication                         -list: primaries and replicas on this node
//   POST /v1/replication/start    {pfs, destinations: [{node, sfs}], options?}
//   POST /v1/replication/refresh  {pfs}           cut a set now; answers once every destination played it
//   POST /v1/replication/modify   {pfs, options}
//   POST /v1/replication/stop     {pfs, node?}
//   GET  /v1/replication/info?fs=<fs>             -info of a primary or a replica
//   GET  /v1/replication/status?pfs=&node=[&sfs=]  -status: blocks differing, each side's delta set and
//                                                   generation, split brain (at any stage: pfs is the volume here)
//   GET  /v1/replication/side?fs=                 (node to node) a volume's lineage, checkpoints and image
//   POST /v1/replication/copy     {newer, older, node, sfs}   fs_copy to a volume on another node
//   POST /v1/replication/failover {pfs, primary, sfs, sync?, now?}   -failover, on the secondary's node
//   POST /v1/replication/resync   {sfs, pfs, primary, autofullcopy?}   -resync, on the source's node
//   POST /v1/replication/failback {source, node, replica}   -failback, on the current source's node
//   POST /v1/replication/take-over {pfs, sfs, destination, set, image}   (node to node) a failback's turn
//   POST /v1/replication/keep-diverged {pfs, image, autofullcopy?}  (node to node) keep what pfs took past the
//                                                   restart point (refused first if it cannot be undone)
//   POST /v1/replication/undo     {pfs, image, autofullcopy?}   (node to node) undo pfs to the restart point
//   POST /v1/replication/demote   {pfs}           (node to node) the primary goes read-only
//   POST /v1/replication/halt     {pfs}           (node to node) the primary stops sending, keeping its cuts
//   POST /v1/replication/incoming {pfs, sfs, primary, group, check?, adopt?, lineage?}   (node to node) register
//                                                   a replica here (check: only say whether it would be accepted;
//                                                   adopt: an existing volume holding that set; lineage: the primary's)

import { invalidArgument } from '../errors.js';
import { checkOptions, DEFAULT_OPTIONS } from '../replication/options.js';
import type { Destination, Replication } from '../replication/service.js';
import type { Generation, Lineage } from '../replication/lineage.js';
import { json, optionalText, param, router, text } from './volume-api.js';

function adoptOf(value: unknown): { played: number; image: string } {
  const v = value as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || !Number.isSafeInteger(v.played) || typeof v.image !== 'string') {
    throw invalidArgument('"adopt" must be {played, image}');
  }
  return { played: v.played as number, image: v.image };
}

function generationOf(value: unknown): Generation {
  const g = value as Record<string, unknown>;
  if (typeof g !== 'object' || g === null || !Number.isSafeInteger(g.n) || typeof g.node !== 'string') {
    throw invalidArgument('a generation must be {n, node}');
  }
  return { n: g.n as number, node: g.node };
}

function lineageOf(value: unknown): Lineage {
  const v = value as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.history) || v.history.length > 1000) {
    throw invalidArgument('"lineage" must be {current, history}');
  }
  return {
    current: generationOf(v.current),
    history: v.history.map((h: Record<string, unknown>) => {
      if (typeof h?.image !== 'string') throw invalidArgument('a lineage entry must be {generation, image}');
      return { generation: generationOf(h.generation), image: h.image };
    }),
  };
}

function destinationsOf(value: unknown): Destination[] {
  if (!Array.isArray(value)) throw invalidArgument('"destinations" must be a list of {node, sfs}');
  return value.map((d) => {
    const entry = d as Record<string, unknown>;
    return { node: text(entry, 'node'), sfs: text(entry, 'sfs') };
  });
}

export function replicationApi(replication: Replication) {
  return router([
    { method: 'GET', pattern: /^\/v1\/replication$/, reply: json(() => replication.list()) },
    {
      method: 'POST', pattern: /^\/v1\/replication\/start$/,
      reply: json((body) => replication.start(text(body, 'pfs'), destinationsOf(body.destinations), checkOptions(body.options ?? {}, DEFAULT_OPTIONS))
        .then((state) => replication.describe(state))),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/refresh$/,
      reply: json((body) => replication.refresh(text(body, 'pfs')).then((state) => replication.describe(state))),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/modify$/,
      reply: json(async (body) => {
        const current = (await replication.info(text(body, 'pfs'))) as { options?: typeof DEFAULT_OPTIONS };
        return replication.modify(text(body, 'pfs'), checkOptions(body.options ?? {}, current.options ?? DEFAULT_OPTIONS))
          .then((state) => replication.describe(state));
      }),
    },
    { method: 'POST', pattern: /^\/v1\/replication\/stop$/, reply: json((body) => replication.stop(text(body, 'pfs'), optionalText(body, 'node'))) },
    {
      method: 'GET', pattern: /^\/v1\/replication\/info$/,
      reply: json((_b, url) => replication.info(param(url, 'fs') ?? '')),
    },
    {
      method: 'GET', pattern: /^\/v1\/replication\/status$/,
      reply: json((_b, url) => replication.status(param(url, 'pfs') ?? '', param(url, 'node') ?? '', param(url, 'sfs'))),
    },
    { method: 'GET', pattern: /^\/v1\/replication\/side$/, reply: json((_b, url) => replication.side(param(url, 'fs') ?? '')) },
    { method: 'POST', pattern: /^\/v1\/replication\/demote$/, reply: json((body) => replication.demote(text(body, 'pfs'))) },
    { method: 'POST', pattern: /^\/v1\/replication\/halt$/, reply: json((body) => replication.halt(text(body, 'pfs'))) },
    {
      method: 'POST', pattern: /^\/v1\/replication\/failover$/,
      reply: json((body) => replication.failover(text(body, 'pfs'), text(body, 'primary'), text(body, 'sfs'), {
        sync: body.sync === true, now: body.now === true,
      })),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/copy$/,
      reply: json((body) => replication.copyTo(text(body, 'newer'), text(body, 'older'), text(body, 'node'), text(body, 'sfs'))),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/incoming$/,
      reply: json((body) => replication.registerIncoming(text(body, 'pfs'), text(body, 'sfs'), text(body, 'primary'), text(body, 'group'), {
        check: body.check === true,
        adopt: body.adopt === undefined ? undefined : adoptOf(body.adopt),
        lineage: body.lineage === undefined ? undefined : lineageOf(body.lineage),
      })),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/resync$/,
      reply: json((body) => replication.resync(text(body, 'sfs'), text(body, 'pfs'), text(body, 'primary'), { autofullcopy: body.autofullcopy === true })),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/failback$/,
      reply: json((body) => replication.failback(text(body, 'source'), text(body, 'node'), text(body, 'replica'))),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/take-over$/,
      reply: json((body) => {
        if (!Number.isSafeInteger(body.set)) throw invalidArgument('"set" must be a delta set number');
        return replication.takeOver(text(body, 'pfs'), text(body, 'sfs'), text(body, 'destination'), body.set as number, text(body, 'image'));
      }),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/keep-diverged$/,
      reply: json((body) => replication.keepDiverged(text(body, 'pfs'), text(body, 'image'), body.autofullcopy === true)),
    },
    {
      method: 'POST', pattern: /^\/v1\/replication\/undo$/,
      reply: json((body) => replication.undo(text(body, 'pfs'), text(body, 'image'), body.autofullcopy === true)),
    },
  ]);
}
