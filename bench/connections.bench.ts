/**
 * Connections at the edge, from load processes of their own:
 *  - auth under load: CONNECTs at a fixed rate (1,000/s) for devices not yet cached (a scrypt
 *    check each, the production cost N=2^11) and then again for the same devices (Redis cache
 *    hits); scheduled CONNECT -> CONNACK in an HdrHistogram, and the edge's own auth histogram;
 *  - idle connections: completed CONNECTs held open across the worker processes of an edge started
 *    afresh for them (a process here may hold at most 20,000 open files), from several load
 *    processes each on its own 127.0.0.x source address; memory per connection as what that edge's
 *    RSS grew by from none to all of them held after a quiet period (and the slope over the second
 *    half beside it), and the CONNECT rate sustained. These devices' hashes use scrypt N=2^10 (the
 *    lowest the edge accepts): this part measures holding connections, the auth part the KDF.
 *
 *  - cached devices beside a flood of failing CONNECTs (a wrong password, a device of its own each
 *    time, from 64 source addresses): their CONNACK with and without the flood.
 *
 *   node dist/bench/connections.bench.js [--quick] [--json FILE] [--idle 100000] [--workers 6]
 *     [--flood-rates 25,200] [--flood-hit-rate 100]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ingestSchema } from '../ingest/settings.js';
import { loadConfig } from '../lib/config.js';
import { type CompactionKind, compactionKinds } from '../lib/process/heap-compactor.js';
import { startBenchChild } from './lib/child.js';
import { runWithCleanup } from './lib/cleanup.js';
import { mergeHistograms, monotonicMicros, summarise } from './lib/histogram.js';
import { formatTable, writeJsonResult } from './lib/output.js';
import { machineCpuSeconds, platformPids, treeCpuSeconds, treeRssBytes } from './lib/processes.js';
import { histogramQuantile, metricTotal, scrapeMetrics } from './lib/prometheus.js';
import { startPlainMosquitto, startSentinelPipeline } from './lib/services.js';
import { readTcpCounters, tcpCountersSince } from './lib/tcp-counters.js';
import type { ConnectRateResult, OpenResult } from './load/connector.js';
import { openBenchWorld } from './support.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    idle: { type: 'string' },
    workers: { type: 'string' },
    'connect-rate': { type: 'string', default: '1000' },
    'connect-seconds': { type: 'string' },
    'miss-rates': { type: 'string' },
    'hit-rates': { type: 'string' },
    'per-process': { type: 'string', default: '17000' },
    'flood-rates': { type: 'string' },
    'flood-hit-rate': { type: 'string', default: '100' },
  },
});
const quick = values.quick;
// 60,000 keeps the whole suite under 15 minutes here (each CONNECT costs about 6 ms of CPU across edge,
// brokers and loader); `sentinel bench --idle 100000` measures the 100,000 of the brief.
const idleTarget = Number(values.idle ?? (quick ? 2000 : 60_000));
// The CONNECT phases run against the edge `npm start` runs (SENTINEL_INGEST_WORKERS as set, else its
// default); the idle sessions against a fresh edge with a worker per 17,000 of them. --workers sets both.
const connectWorkers = Number(
  values.workers ?? (quick ? 2 : loadConfig({ workers: ingestSchema.workers }).workers),
);
const idleWorkers = Number(values.workers ?? (quick ? 2 : Math.ceil(idleTarget / 17_000)));
const connectRate = Number(values['connect-rate']);
const connectSeconds = Number(values['connect-seconds'] ?? (quick ? 2 : 3));
const perProcess = Math.min(Number(values['per-process']), 19_000);
const loadProcesses = Math.max(1, Math.ceil(idleTarget / perProcess));
const password = randomBytes(12).toString('base64url');
// The quick run stays inside what a 2-core machine sustains, so every CONNECT must succeed; the
// full run also offers 1,000/s, beyond it, and reports what happens.
const hitRates = (values['hit-rates'] ?? (quick ? '250' : `250,${connectRate},${2 * connectRate}`))
  .split(',')
  .map(Number);
const missRates = (values['miss-rates'] ?? (quick ? '100' : `250,${connectRate}`)).split(',').map(Number);
// Wrong-password CONNECTs offered beside cached devices (issue 14: about 25/s from 64 addresses, under
// every per-IP tier, pushed a cached device's CONNACK from 7-84 ms to seconds).
const floodRates = (values['flood-rates'] ?? (quick ? '' : '25,200')).split(',').filter(Boolean).map(Number);
const floodHitRate = Number(values['flood-hit-rate']);
/** Devices reconnecting in the cache-hit phase: each CONNECTs about once a second. */
const hitDevices = Math.min(Math.max(...hitRates), quick ? 200 : 1000);

// Whatever way the run ends, its edges, loaders, Mosquitto, topics, database and Redis keys go.
runWithCleanup('connections', async (cleanup) => {
  const world = await openBenchWorld('connections', cleanup);
  await world.addDevices(
    Array.from({ length: hitDevices }, (_, i) => `ch${i}`),
    password,
  );
  // Every miss phase CONNECTs devices nothing has cached yet: a range of its own each.
  const missStarts = missRates.map((_, k) =>
    missRates.slice(0, k).reduce((sum, r) => sum + r * connectSeconds, 0),
  );
  await world.addDevices(
    Array.from({ length: missRates.reduce((sum, r) => sum + r * connectSeconds, 0) }, (_, i) => `cm${i}`),
    password,
  );
  await world.addDevices(
    Array.from({ length: idleTarget }, (_, i) => `ci${i}`),
    password,
    { log2N: 10, r: 8, p: 1 },
  );
  const startEdge = async (workers: number) => {
    const edge = await startSentinelPipeline(world, {
      stages: ['ingest'],
      cleanup,
      ingestEnv: { SENTINEL_INGEST_WORKERS: String(workers) },
    });
    console.error(`connections: edge with ${workers} workers on ${edge.edgePort}`);
    return edge;
  };
  const edge = await startEdge(connectWorkers);
  const target = { host: '127.0.0.1', port: edge.edgePort };
  const edgePid = edge.ingest.process.pid!;

  // Auth under a fixed CONNECT rate. Hits: devices whose decision is cached (one warm-up CONNECT
  // each, at a rate the machine sustains), reconnecting about once a second each. Misses: devices
  // nothing has cached, each phase its own; the scrypt check of every miss is the cost measured.
  const brokerPids = platformPids(world.platform.stateDir).kafka;
  const brokerCpuSeconds = () => brokerPids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
  // Sixteen loopback addresses for the CONNECT-rate phases (see ConnectRateSpec.localAddresses).
  const connectSources = Array.from({ length: 16 }, (_, k) => `127.0.1.${k + 1}`);
  /** A quantile of a histogram nothing was observed in is NaN; the table shows it as '—'. */
  const nullIfNaN = (n: number): number | null => (Number.isNaN(n) ? null : n);
  const connector = startBenchChild('connector-auth', new URL('./load/connector.js', import.meta.url));
  async function connectPhase(
    kind: 'miss' | 'hit',
    rate: number,
    prefix: string,
    from: number,
    distinct: number,
    on: { target: typeof target; pid: number; metricsPort?: number } = {
      target,
      pid: edgePid,
      metricsPort: edge.ingest.metricsPort,
    },
  ) {
    const before = on.metricsPort === undefined ? '' : await scrapeMetrics(on.metricsPort);
    const cpuBefore = treeCpuSeconds(on.pid);
    const brokersBefore = brokerCpuSeconds();
    const loaderBefore = treeCpuSeconds(connector.pid);
    const machineBefore = machineCpuSeconds();
    const tcpBefore = readTcpCounters();
    const result = await connector.request<ConnectRateResult>('connectRate', {
      target: on.target,
      localAddresses: connectSources,
      clientIdPrefix: prefix,
      from,
      count: rate * connectSeconds,
      distinct,
      password,
      rate,
      startAtUs: monotonicMicros() + 200_000,
    });
    const cpuSeconds = treeCpuSeconds(on.pid) - cpuBefore;
    const brokerSeconds = brokerCpuSeconds() - brokersBefore;
    const loaderSeconds = treeCpuSeconds(connector.pid) - loaderBefore;
    const machineAfter = machineCpuSeconds();
    const tcp = tcpCountersSince(tcpBefore);
    const after = on.metricsPort === undefined ? '' : await scrapeMetrics(on.metricsPort);
    const label = { result: kind === 'miss' ? 'allowed' : 'cache_hit' };
    /** P50 and P99 in ms of one of the edge's histograms over the phase (null against Mosquitto). */
    const edgeQuantiles = (metric: string, labels: Readonly<Record<string, string>> = {}) => {
      const ms = (q: number) =>
        on.metricsPort === undefined
          ? null
          : nullIfNaN(Math.round(histogramQuantile(after, metric, q, labels, before) * 1e5) / 100);
      return { p50: ms(0.5), p99: ms(0.99) };
    };
    const connack = summarise(mergeHistograms([result.connack]));
    const refusal = summarise(mergeHistograms([result.refusal]));
    const loaderLate = summarise(mergeHistograms([result.lateStart]));
    /** The edge's event-loop delay over the phase (prom-client resets it at every scrape), ms. */
    const edgeLoopDelayMs = (stat: 'p99' | 'max') => {
      const seconds = metricTotal(after, `nodejs_eventloop_lag_${stat}_seconds`);
      return seconds === null ? null : Math.round(seconds * 1e5) / 100;
    };
    const msPerConnect = (seconds: number) =>
      Math.round((seconds * 1e5) / Math.max(1, result.accepted)) / 100;
    console.error(
      `connections: ${on.metricsPort === undefined ? 'Mosquitto' : kind} at ${rate}/s: ${result.accepted}/${result.attempted} accepted, CONNACK P50 ${connack.p50Ms} P99 ${connack.p99Ms} ms` +
        (result.failed > 0
          ? `; ${result.refused} refused by CONNACK (P99 ${refusal.p99Ms} ms), ${result.failed - result.refused} unanswered (${result.firstError})`
          : ''),
    );
    return {
      cache: kind,
      rate,
      attempted: result.attempted,
      accepted: result.accepted,
      failed: result.failed,
      /** Answered with a refusing CONNACK (0x03 server unavailable: the device retries later). */
      refused: result.refused,
      /** Scheduled CONNECT -> refusing CONNACK: how fast a refusal comes. */
      refusal,
      /** Closed or timed out with no CONNACK at all: what the issue asks to be none. */
      unanswered: result.failed - result.refused,
      firstError: result.firstError,
      achievedPerSecond: Math.round(result.accepted / (result.elapsedMs / 1000)),
      connack,
      /** CPU of the server's processes (the edge's workers and primary, or Mosquitto) per CONNECT accepted. */
      serverCpuMsPerConnect: msPerConnect(cpuSeconds),
      /** The three brokers' CPU per CONNECT accepted: the edge records CONNECT and DISCONNECT. */
      brokerCpuMsPerConnect: msPerConnect(brokerSeconds),
      /** The load generator's own CPU per CONNECT: it shares the machine with what it measures. */
      loaderCpuMsPerConnect: msPerConnect(loaderSeconds),
      /**
       * Cores the whole machine kept busy over the phase (every process, the kernel included), of
       * the cores it has: near their number, every process waits for a core and the tail is the box's.
       */
      machineBusyCores:
        Math.round(
          ((machineAfter.busy - machineBefore.busy) / Math.max(1e-9, result.elapsedMs / 1000)) * 100,
        ) / 100,
      edgeAuthDecisionMs: edgeQuantiles('sentinel_auth_duration_seconds', label),
      /** The edge's own accept -> CONNACK sent: what of the loader's CONNACK time the edge spends. */
      edgeConnackMs: edgeQuantiles('sentinel_ingest_connection_setup_seconds'),
      /** How late the edge's event loop ran its timers during the phase (P99 and max, ms). */
      edgeLoopDelayMs: { p99: edgeLoopDelayMs('p99'), max: edgeLoopDelayMs('max') },
      /** How late the loader started CONNECTs against their schedule (P99 and max, ms). */
      loaderLateMs: { p99: loaderLate.p99Ms, max: loaderLate.maxMs },
      /**
       * Accept-queue overflows and SYN/SYN-ACK retransmits during the phase (machine-wide,
       * bench/lib/tcp-counters.ts): a CONNECT that waits there waits 1 s or more before the server sees it.
       */
      listenOverflows: tcp.listenOverflows,
      synRetransmits: tcp.synRetransmits,
    };
  }
  await connector.request<OpenResult>('open', {
    target,
    localAddress: '127.0.0.9',
    clientIdPrefix: 'ch',
    from: 0,
    count: hitDevices,
    password,
    concurrency: 20,
  });
  await connector.request('closeAll');
  const auth: Array<
    Awaited<ReturnType<typeof connectPhase>> & {
      flood?: number;
      floodRefused?: number;
      floodAccepted?: number;
    }
  > = [];
  for (const rate of hitRates) auth.push(await connectPhase('hit', rate, 'ch', 0, hitDevices));
  for (const [k, rate] of missRates.entries()) {
    // Let the previous phase's queue drain: a miss phase beyond the machine leaves scrypt work behind.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    auth.push(await connectPhase('miss', rate, 'cm', missStarts[k]!, rate * connectSeconds));
  }
  // Cached devices while a flood of failing CONNECTs runs: each flood CONNECT names a registered device
  // with a wrong password, a device of its own each time (so no cached denial answers it: a device DB
  // lookup and a scrypt check each), from 64 source addresses. The same cached rate alone first.
  if (floodRates.length > 0) {
    const floodSources = Array.from({ length: 64 }, (_, k) => `127.0.2.${k + 1}`);
    const flooder = startBenchChild('connector-flood', new URL('./load/connector.js', import.meta.url));
    const floodDevices = missRates.reduce((sum, r) => sum + r * connectSeconds, 0);
    try {
      auth.push({ ...(await connectPhase('hit', floodHitRate, 'ch', 0, hitDevices)), flood: 0 });
      for (const floodRate of floodRates) {
        await new Promise((resolve) => setTimeout(resolve, 3000));
        const count = floodRate * connectSeconds;
        const [cached, flood] = await Promise.all([
          connectPhase('hit', floodHitRate, 'ch', 0, hitDevices),
          flooder.request<ConnectRateResult>('connectRate', {
            target,
            localAddresses: floodSources,
            clientIdPrefix: 'cm',
            from: 0,
            count,
            distinct: Math.min(count, floodDevices),
            password: `${password}-wrong`,
            rate: floodRate,
            startAtUs: monotonicMicros() + 200_000,
          }),
        ]);
        if (flood.accepted > 0)
          console.error(`connections: ${flood.accepted} wrong-password CONNECTs were accepted`);
        console.error(
          `connections: cached at ${floodHitRate}/s beside ${floodRate} failing CONNECT/s: CONNACK P50 ${cached.connack.p50Ms} P99 ${cached.connack.p99Ms} ms; ${flood.failed}/${flood.attempted} failing refused`,
        );
        auth.push({ ...cached, flood: floodRate, floodRefused: flood.failed, floodAccepted: flood.accepted });
      }
    } finally {
      await flooder.stop();
    }
  }
  // The same CONNECTs against a plain Mosquitto (anonymous, no auth), one rate at a time after the
  // edge's phases: what this loader and machine reach without Sentinel.
  const mosquitto = await startPlainMosquitto();
  cleanup.add(`plain Mosquitto (pid ${mosquitto.process.pid})`, () => mosquitto.stop());
  const plain = [];
  try {
    for (const rate of hitRates)
      plain.push(
        await connectPhase('hit', rate, 'ch', 0, hitDevices, {
          target: { host: '127.0.0.1', port: mosquitto.port },
          pid: mosquitto.process.pid!,
        }),
      );
  } finally {
    await mosquitto.stop();
  }
  await connector.stop();
  await edge.stop();

  // Idle connections, opened in two halves, on a fresh edge: one that just served the CONNECT phases
  // carries their garbage, and a collection between two samples made the slope come out negative.
  // The slope moves with when V8 collects; what the edge grew by from empty is the figure to size by.
  const idleEdge = await startEdge(idleWorkers);
  const idleTargetAddress = { host: '127.0.0.1', port: idleEdge.edgePort };
  const idleEdgePid = idleEdge.ingest.process.pid!;
  console.error(`connections: ${loadProcesses} load processes for ${idleTarget} idle sessions`);
  const loaders = Array.from({ length: loadProcesses }, (_, k) =>
    startBenchChild(`connector-${k}`, new URL('./load/connector.js', import.meta.url)),
  );
  const share = Math.ceil(idleTarget / loadProcesses);
  const opened: OpenResult[] = [];
  const samples: Array<{ connections: number; rssBytes: number }> = [
    { connections: 0, rssBytes: treeRssBytes(idleEdgePid) },
  ];
  let openMs = 0;
  for (const half of [0, 1]) {
    const started = Date.now();
    const results = await Promise.all(
      loaders.map((loader, k) => {
        const from = k * share + (half === 0 ? 0 : Math.floor(share / 2));
        const count = half === 0 ? Math.floor(share / 2) : share - Math.floor(share / 2);
        return loader.request<OpenResult>('open', {
          target: idleTargetAddress,
          localAddress: `127.0.0.${10 + k}`,
          clientIdPrefix: 'ci',
          from,
          count: Math.max(0, Math.min(count, idleTarget - from)),
          password,
          concurrency: 100,
        });
      }),
    );
    openMs += Date.now() - started;
    opened.push(...results);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const total = opened.reduce((sum, r) => sum + r.opened, 0);
    samples.push({ connections: total, rssBytes: treeRssBytes(idleEdgePid) });
    console.error(
      `connections: ${total} open, edge RSS ${Math.round(samples.at(-1)!.rssBytes / 2 ** 20)} MiB`,
    );
  }
  // Held, not just opened: after a quiet period every session is still up on both sides. The edge's
  // RSS is read again at its end, so the figure is what it holds, not a sample taken mid-collection.
  await new Promise((resolve) => setTimeout(resolve, quick ? 2000 : 30_000));
  const heldRssBytes = treeRssBytes(idleEdgePid);
  console.error(`connections: after the quiet period, edge RSS ${Math.round(heldRssBytes / 2 ** 20)} MiB`);
  const status = await Promise.all(
    loaders.map((loader) => loader.request<{ held: number; closed: number }>('status')),
  );
  const metrics = await scrapeMetrics(idleEdge.ingest.metricsPort);
  /** The sum of every series of a metric in the edge's metrics (one per worker), with `label` if given. */
  const sumOf = (series: string, label = '') =>
    [...metrics.matchAll(new RegExp(`^${series}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))]
      .filter((m) => (m[1] ?? '').includes(label))
      .reduce((sum, m) => sum + Number(m[2]), 0);
  const edgeActive = sumOf('sentinel_ingest_connections_active');
  /** Full collections the edge ran while quiet (HeapCompactor), of one kind, and their mean pause. */
  const compactionsOf = (kind: CompactionKind) => {
    const label = `kind="${kind}"`;
    const count = sumOf('sentinel_process_heap_compaction_seconds_count', label);
    const seconds = sumOf('sentinel_process_heap_compaction_seconds_sum', label);
    return { count, meanPauseMs: count === 0 ? null : Math.round((seconds / count) * 1000) };
  };
  /** Why the edge answered CONNACK 0x03 while the sessions opened: the KDF queue's reasons, and auth errors. */
  const refusedBy = {
    kdfFull: sumOf('sentinel_auth_kdf_refused_total', 'reason="full"'),
    kdfLate: sumOf('sentinel_auth_kdf_refused_total', 'reason="late"'),
    kdfExpired: sumOf('sentinel_auth_kdf_refused_total', 'reason="expired"'),
    authError: sumOf('sentinel_auth_requests_total', 'result="error"'),
  };
  const [emptySample, halfSample, fullSample] = samples as [
    (typeof samples)[0],
    (typeof samples)[0],
    (typeof samples)[0],
  ];
  const idleOpened = opened.reduce((sum, r) => sum + r.opened, 0);
  const idle = {
    target: idleTarget,
    opened: idleOpened,
    failed: opened.reduce((sum, r) => sum + r.failed, 0),
    firstError: opened.find((r) => r.firstError)?.firstError ?? null,
    refusedBy,
    stillOpenAfterQuiet: status.reduce((sum, s) => sum + s.held - s.closed, 0),
    edgeConnectionsActive: edgeActive,
    edgeWorkers: idleWorkers,
    loadProcesses,
    connectPerSecond: Math.round(idleOpened / (openMs / 1000)),
    edgeRssMiB: Math.round(fullSample.rssBytes / 2 ** 20),
    edgeRssEmptyMiB: Math.round(emptySample.rssBytes / 2 ** 20),
    /** The second half's slope: what one more session costs once the processes have grown. */
    bytesPerConnection: Math.round(
      (fullSample.rssBytes - halfSample.rssBytes) /
        Math.max(1, fullSample.connections - halfSample.connections),
    ),
    edgeRssHeldMiB: Math.round(heldRssBytes / 2 ** 20),
    /** The most the edge held at a sample (half and all opened): what a memory limit must allow. */
    edgeRssPeakSampledMiB: Math.round(Math.max(...samples.map((sample) => sample.rssBytes)) / 2 ** 20),
    heapCompactions: { growth: compactionsOf('growth'), settled: compactionsOf('settled') },
    /** Everything the edge grew by from no session to all of them held after the quiet period, per session. */
    bytesPerConnectionFromEmpty: Math.round(
      (heldRssBytes - emptySample.rssBytes) / Math.max(1, fullSample.connections),
    ),
  };
  for (const loader of loaders) await loader.request('closeAll').catch(() => undefined);
  await Promise.all(loaders.map((loader) => loader.stop()));
  await idleEdge.stop();
  await world.dispose();

  const result = {
    bench: 'connections',
    settings: {
      quick,
      connectRate,
      connectSeconds,
      authScrypt: 'N=2^11 r=8 p=1 (production default)',
      idleScrypt: 'N=2^10 r=8 p=1',
      floodRates,
      floodHitRate,
      connectEdgeWorkers: connectWorkers,
      idleEdgeWorkers: idleWorkers,
      loadProcesses,
      perLoadProcess: share,
    },
    auth,
    mosquitto: plain,
    idle,
  };
  console.log(
    formatTable(
      [
        'CONNECT auth',
        'rate/s',
        'accepted',
        'refused (P99 ms)',
        'unanswered',
        'CONNACK P50 ms',
        'P99 ms',
        'max ms',
        'server CPU ms/CONNECT',
        'brokers CPU ms/CONNECT',
        'loader CPU ms/CONNECT',
        'machine busy cores',
        'edge decision P50 ms',
        'P99 ms',
        'edge accept -> CONNACK P50 ms',
        'P99 ms',
        'edge loop delay P99 / max ms',
        'loader late P99 / max ms',
        'accept-queue overflows',
        'SYN/SYN-ACK retransmits',
      ],
      [...auth, ...plain.map((p) => ({ ...p, cache: 'Mosquitto' }))].map((a) => [
        'flood' in a && a.flood !== undefined ? `hit, ${a.flood} failing/s` : a.cache,
        a.rate,
        `${a.accepted}/${a.attempted}`,
        a.refused > 0 ? `${a.refused} (${a.refusal.p99Ms})` : 0,
        a.unanswered,
        a.connack.p50Ms,
        a.connack.p99Ms,
        a.connack.maxMs,
        a.serverCpuMsPerConnect,
        a.brokerCpuMsPerConnect,
        a.loaderCpuMsPerConnect,
        a.machineBusyCores,
        a.edgeAuthDecisionMs.p50 ?? '—',
        a.edgeAuthDecisionMs.p99 ?? '—',
        a.edgeConnackMs.p50 ?? '—',
        a.edgeConnackMs.p99 ?? '—',
        a.edgeLoopDelayMs.p99 === null ? '—' : `${a.edgeLoopDelayMs.p99} / ${a.edgeLoopDelayMs.max}`,
        `${a.loaderLateMs.p99} / ${a.loaderLateMs.max}`,
        a.listenOverflows,
        a.synRetransmits,
      ]),
    ),
  );
  console.log(
    `idle connections: ${idle.opened}/${idle.target} opened${idle.failed > 0 ? ` (${idle.failed} failed, first: ${idle.firstError}; edge refusals: KDF queue full ${idle.refusedBy.kdfFull}, late ${idle.refusedBy.kdfLate}, expired ${idle.refusedBy.kdfExpired}, auth errors ${idle.refusedBy.authError})` : ''} (${idle.stillOpenAfterQuiet} still open, edge counts ${idle.edgeConnectionsActive}) ` +
      `across ${idleWorkers} workers; ${idle.connectPerSecond} CONNECT/s; edge RSS ${idle.edgeRssEmptyMiB} MiB with none, ${idle.edgeRssMiB} MiB with all, ${idle.edgeRssHeldMiB} MiB after a quiet period: ` +
      `${idle.bytesPerConnectionFromEmpty} B per connection from empty, ${idle.bytesPerConnection} B per connection over the second half; ` +
      `peak sampled ${idle.edgeRssPeakSampledMiB} MiB; heap collections while quiet: ` +
      compactionKinds
        .map((kind) => {
          const { count, meanPauseMs } = idle.heapCompactions[kind];
          return `${count} ${kind} (mean pause ${meanPauseMs ?? '—'} ms)`;
        })
        .join(', '),
  );
  writeJsonResult(values.json, result);
});
