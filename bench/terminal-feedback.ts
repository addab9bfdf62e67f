import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../shared/logging.ts';
import { parseTerminalConfig } from '../terminal/config.ts';
import { startTerminal } from '../terminal/main.ts';
import { SimulatedPanel } from '../terminal/adapters/simulated-panel.ts';
import { SimulatedReader } from '../terminal/adapters/simulated-reader.ts';
import { startTestGateway } from '../simulator/stand-in-gateway/stand-in-gateway.ts';

/**
 * Tap -> feedback latency: from `present(uid)` on the simulated reader to the panel showing the worker's
 * line, through the real pipeline (debounce, direction, outbox commit with fsync, feedback), once with the
 * gateway online (acks flowing at the same time) and once with it unreachable. Target: p99 <= 20 ms.
 */
export interface FeedbackResult {
  taps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** The outbox commit (SQLite WAL append + fsync) alone, which the feedback waits for by design. */
  commitP50Ms: number;
  commitP99Ms: number;
}

export interface TerminalFeedbackReport {
  bench: 'terminal-feedback';
  dir: string;
  online: FeedbackResult;
  offline: FeedbackResult;
  targetP99Ms: number;
  pass: boolean;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summarise(samples: number[], commits: number[]): FeedbackResult {
  const sorted = [...samples].sort((a, b) => a - b);
  const commitSorted = [...commits].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    commitP50Ms: round(percentile(commitSorted, 50)),
    commitP99Ms: round(percentile(commitSorted, 99)),
    taps: samples.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1]!),
    meanMs: round(samples.reduce((s, v) => s + v, 0) / samples.length),
  };
}

async function measure(url: string, outbox: string, taps: number, intervalMs: number, waitOnline: boolean): Promise<FeedbackResult> {
  const reader = new SimulatedReader();
  const panel = new SimulatedPanel({ historySize: 10 });
  const config = parseTerminalConfig(
    { id: 'bench-t1', secret: 'bench-secret', mqtt: { url }, reader: 'simulated', panel: 'console', outbox, defaults: { siteId: 'bench-site', debounceSeconds: 0, language: 'en' }, reconnectMinMs: 200, reconnectMaxMs: 1000 },
    {},
  );
  let started = 0;
  const commits: number[] = [];
  const handle = await startTerminal(config, {
    reader,
    panel,
    logger: createLogger('bench', { level: 'silent' }),
    afterOutboxWrite: () => {
      if (started) commits.push(performance.now() - started);
    },
  });
  // A roster with a distinct name per badge, so every tap changes the LCD (what the worker waits for).
  const uids = Array.from({ length: taps }, (_, i) => (0x20000000 + i).toString(16).toUpperCase());
  handle.state.setRoster({
    v: 1,
    updatedAt: new Date().toISOString().replace('Z', '+00:00'),
    badges: Object.fromEntries(uids.map((uid, i) => [uid, { name: `Worker ${String(i).padStart(4, '0')}`, employers: [] }])),
  });
  try {
    if (waitOnline) {
      const deadline = Date.now() + 10_000;
      while (!handle.link.isConnected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (!handle.link.isConnected) throw new Error('the bench terminal could not reach its gateway');
    }
    const samples: number[] = [];
    panel.on('lcd', () => {
      if (started) samples.push(performance.now() - started);
      started = 0;
    });
    for (let i = 0; i < taps; i++) {
      const uid = uids[i]!;
      started = performance.now();
      reader.present(uid);
      started = 0;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    return summarise(samples, commits);
  } finally {
    await handle.stop();
  }
}

export async function runTerminalFeedbackBench(opts: { taps?: number; intervalMs?: number; dir?: string } = {}): Promise<TerminalFeedbackReport> {
  const taps = opts.taps ?? 500;
  const intervalMs = opts.intervalMs ?? 10;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'ciao-bench-feedback-'));
  try {
    const gw = await startTestGateway({ dbPath: join(dir, 'gateway.db'), secrets: { 'bench-t1': 'bench-secret' } });
    let online: FeedbackResult;
    try {
      online = await measure(gw.url, join(dir, 'outbox-online.db'), taps, intervalMs, true);
    } finally {
      await gw.close();
    }
    // Offline: a gateway address nobody answers on; the terminal keeps retrying in the background.
    const offline = await measure(gw.url, join(dir, 'outbox-offline.db'), taps, intervalMs, false);
    return { bench: 'terminal-feedback', dir: opts.dir ?? tmpdir(), online, offline, targetP99Ms: 20, pass: online.p99Ms <= 20 && offline.p99Ms <= 20 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const report = await runTerminalFeedbackBench();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
