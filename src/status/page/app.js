// The status page's script: it renders the node's snapshot (GET /v1/status/snapshot, or
// each server-sent event of /v1/status/events) into the page. Every name and message it
// shows goes in as text (textContent), never as HTML: volume names, node names and log
// lines come from outside.
'use strict';

(() => {
  const POLL_MS = 3000;
  const charts = new Map();

  // --- formatting ---

  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  }
  const seconds = (s) => (s === null || s === undefined ? '–' : s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);
  const clock = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '–');
  const rate = (n) => (n ? `${Math.round(n)} blocks/s` : '–');

  // --- building DOM from data, as text ---

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  /** columns: [label, (row) => text, className?]; each cell carries its label for the phone layout. */
  function table(columns, rows, empty) {
    if (rows.length === 0) return el('p', { class: 'empty', text: empty });
    const head = el('tr', {}, ...columns.map(([label, , cls]) => el('th', { text: label, class: cls || '' })));
    const body = rows.map((row) => el('tr', {}, ...columns.map(([label, value, cls]) => {
      const text = String(value(row));
      const stateClass = cls === 'state' ? `state-${text}` : cls || '';
      return el('td', { text, class: stateClass, 'data-label': label });
    })));
    return el('table', {}, el('thead', {}, head), el('tbody', {}, ...body));
  }

  function fill(id, ...children) {
    document.querySelector(`#${id} .body`).replaceChildren(...children);
  }

  // --- sections ---

  function renderVolumes(s) {
    fill('volumes', table([
      ['Volume', (v) => v.name],
      ['Size', (v) => bytes(v.size), 'num'],
      ['Used', (v) => bytes(v.usedBytes), 'num'],
      ['Checkpoints', (v) => v.checkpoints, 'num'],
      ['Newest', (v) => v.newestCheckpoint || '–'],
      ['Mode', (v) => v.mode],
    ], s.volumes, 'No volumes yet.'));
  }

  function renderReplication(s) {
    const rows = s.replication.primaries.flatMap((p) => p.destinations.map((d) => ({ p, d })));
    fill('replication', table([
      ['Volume', (r) => r.p.name],
      ['Destination', (r) => `${r.d.sfs}:cel=${r.d.node}`],
      ['State', (r) => r.d.state, 'state'],
      ['Lag', (r) => seconds(r.d.lagSeconds), 'num'],
      ['Set', (r) => (r.d.currentDeltaSet === null ? '–' : r.d.currentDeltaSet), 'num'],
      ['Pending sets', (r) => r.p.pendingSets, 'num'],
      ['Pending', (r) => bytes(r.p.pendingBytes), 'num'],
      ['Rate now', (r) => rate(r.p.currentTransferRate), 'num'],
      ['Rate avg', (r) => rate(r.p.avgTransferRate), 'num'],
      ['Last success', (r) => (r.d.lastSuccess ? clock(r.d.lastSuccess.at) : '–')],
      ['Last error', (r) => (r.d.lastError ? `${r.d.lastError.message} [${r.d.lastError.code}]` : '–')],
    ], rows, 'This node replicates no volume.'));
    renderCharts(s.history);
  }

  function renderReplicas(s) {
    fill('replicas', table([
      ['Replica', (r) => r.sfs],
      ['Source', (r) => r.source],
      ['Played set', (r) => (r.played === null ? '–' : r.played), 'num'],
      ['Lag', (r) => seconds(r.lagSeconds), 'num'],
      ['Last error', (r) => (r.lastError ? `${r.lastError.message} [${r.lastError.code}]` : '–')],
    ], s.replication.replicas, 'No replica is played back here.'));
  }

  function renderDistribution(s) {
    const d = s.distribution;
    const rows = d.pullRequests.map((c) => ({ result: c.labels.result || '', count: c.value }));
    fill('distribution',
      table([['Pull result', (r) => r.result], ['Requests', (r) => r.count, 'num']], rows, 'No pull requests yet.'),
      el('p', { class: 'empty', id: 'delta-bytes', text: `Sent to pulling clients: ${bytes(d.deltaBytes)}` }));
  }

  function renderSessions(s) {
    fill('sessions', table([
      ['Session', (x) => x.id],
      ['Group', (x) => x.group],
      ['Origin', (x) => x.origin],
      ['Frames', (x) => x.have, 'num'],
      ['Destinations', (x) => Object.entries(x.destinations).map(([n, d]) => `${n}: ${d.status}`).join(', ') || '–'],
    ], s.sessions, 'No RCP session is open.'));
  }

  function renderPeers(s) {
    const config = s.config || {};
    const peers = { ...(config.peersFile || {}), ...(config.peers || {}) };
    const routes = Object.entries(config.routes || {}).flatMap(([group, hops]) => (Array.isArray(hops) ? hops : [hops]).map((hop) => ({ group, hop: typeof hop === 'string' ? hop : JSON.stringify(hop) })));
    fill('peers',
      table([['Peer', (p) => p[0]], ['Address', (p) => p[1]]], Object.entries(peers), 'No peers.'),
      table([['Group', (r) => r.group], ['Next hop', (r) => r.hop]], routes, 'No routes.'));
  }

  function renderErrors(s) {
    if (s.errors.length === 0) return fill('errors', el('p', { class: 'empty', text: 'None.' }));
    fill('errors', el('ul', { class: 'log' }, ...s.errors.slice().reverse().map((e) =>
      el('li', {}, el('time', { text: clock(e.at) }), el('span', { class: 'error', text: e.line })))));
  }

  // --- charts: lag and throughput over the last hour, per destination ---

  function chartOptions(width) {
    return {
      width, height: 180,
      legend: { live: false },
      scales: { x: { time: true }, lag: { auto: true }, rate: { auto: true } },
      series: [
        {},
        { label: 'lag (s)', scale: 'lag', stroke: '#2456c8', width: 2, spanGaps: false },
        { label: 'throughput (B/s)', scale: 'rate', stroke: '#1b7f3b', width: 2 },
      ],
      axes: [{}, { scale: 'lag', label: 's' }, { scale: 'rate', side: 1, label: 'B/s', values: (u, ticks) => ticks.map((t) => bytes(t)) }],
    };
  }

  function renderCharts(history) {
    const box = document.querySelector('#replication .charts');
    if (typeof uPlot === 'undefined') return;
    for (const [key, chart] of charts) {
      if (!(key in history)) { chart.plot.destroy(); chart.node.remove(); charts.delete(key); }
    }
    for (const [key, samples] of Object.entries(history)) {
      const data = [samples.map((x) => x[0]), samples.map((x) => x[1]), samples.map((x) => x[2])];
      let chart = charts.get(key);
      if (!chart) {
        const plotBox = el('div', { class: 'plot' });
        const node = el('div', { class: 'chart' }, el('h3', { text: key }), plotBox);
        box.append(node);
        chart = { node, plotBox, plot: new uPlot(chartOptions(plotBox.clientWidth || 300), data, plotBox) };
        charts.set(key, chart);
      } else {
        chart.plot.setData(data);
      }
    }
  }

  window.addEventListener('resize', () => {
    for (const chart of charts.values()) chart.plot.setSize({ width: chart.plotBox.clientWidth || 300, height: 180 });
  });

  // --- the page as a whole, kept live ---

  function render(s) {
    document.getElementById('node-name').textContent = `snapcopy node ${s.node.name}`;
    document.getElementById('node-address').textContent = s.node.address;
    document.getElementById('updated').textContent = `updated ${clock(s.time)}`;
    document.title = `snapcopy ${s.node.name}`;
    renderVolumes(s);
    renderReplication(s);
    renderReplicas(s);
    renderDistribution(s);
    renderSessions(s);
    renderPeers(s);
    renderErrors(s);
    document.documentElement.dataset.snapshotTime = String(s.time);
  }

  function setLive(text, on) {
    const live = document.getElementById('live');
    live.textContent = text;
    live.className = `live ${on ? 'on' : 'off'}`;
  }

  async function poll() {
    try {
      const response = await fetch('/v1/status/snapshot', { credentials: 'same-origin', cache: 'no-store' });
      if (response.status === 401) { location.reload(); return; }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
      setLive('polling', true);
    } catch (error) {
      setLive(`not reachable (${error.message})`, false);
    }
  }

  function startPolling() {
    document.documentElement.dataset.transport = 'polling';
    void poll();
    setInterval(poll, POLL_MS);
  }

  function start() {
    if (typeof EventSource === 'undefined') return startPolling();
    const source = new EventSource('/v1/status/events');
    document.documentElement.dataset.transport = 'sse';
    source.onmessage = (event) => {
      render(JSON.parse(event.data));
      setLive('live', true);
    };
    source.onerror = () => {
      // Closed for good (401, 503: too many streams): poll instead; otherwise it reconnects by itself.
      if (source.readyState === EventSource.CLOSED) startPolling();
      else setLive('reconnecting…', false);
    };
  }

  start();
})();
