// A node for bench/rcp.mjs's origin: what `snapcopy serve` runs, plus one thing the
// command line does not offer: sending a file the node itself reads, through the
// library's sendFile, as an application in a node does (replication sends the sets it
// staged in its own data directory). `rcptest` from the CLI instead uploads the file to
// the node over HTTP first, so the origin receives every byte before it sends it.
//
//   node bench/lib/rcp-origin-node.mjs <name> <host:port> <peers file> <data dir>
//
// Prints "snapcopy node <name> listening on ..." once up (as serve does). Each line on
// stdin, JSON { path, group }, sends that file to the group and prints one JSON line:
// the RcptestResult, or { error }. SIGTERM stops the node.

import process from 'node:process';
import { createInterface } from 'node:readline';

const { NodeServer, readPeers, sendFile } = await import(process.env.SNAPCOPY_DIST ?? '../../dist/index.js');

const [name, listen, peersPath, dataDir] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: rcp-origin-node.mjs <name> <host:port> <peers file> <data dir>');

const node = await NodeServer.start({ name, listen, dataDir, peers: await readPeers(peersPath) });
console.log(`snapcopy node ${name} listening on ${node.address} (HTTP and RCP)`);

let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => {
    try {
      const { path, group } = JSON.parse(line);
      console.log(JSON.stringify(await sendFile(node.rcp, { path, group })));
    } catch (error) {
      console.log(JSON.stringify({ error: error.message }));
    }
  });
});

process.once('SIGTERM', async () => {
  await queue;
  await node.close();
  process.exit(0);
});
