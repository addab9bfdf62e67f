import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { toOffsetIso } from '../shared/time.ts';
import { SerialTestBoard } from '../simulator/firmata-board/serial-line.ts';
import { Outbox } from '../terminal/core/outbox.ts';
import { buildRelease, ciaoCommand, type BuiltRelease, type Runtime } from './lib/release.ts';

/**
 * Offline buffer and replay: 100,000 taps on disk in the terminal's outbox, then the gateway comes back
 * and the terminal replays them (in order, a bounded window in flight). The gateway (Aedes + a
 * group-committing ack responder) and the terminal run as separate processes; the terminal is
 * `ciao terminal --config FILE` as the service runs it, from the compiled release (or, as the baseline, from
 * the sources through the loader). The RSS reported is the terminal process's peak (VmHWM), start-up
 * included; replay time includes process start. With the johnny-five panel (on the Firmata board emulator
 * over a pseudo-terminal pair) the panel's worker thread is in the same process, so in the same figure.
 * Targets: >= 100,000 taps on disk, replay >= 2,000 taps/s, RSS <= 100 MB (console panel).
 */
export interface TerminalReplayReport {
  bench: 'terminal-replay';
  queuedTaps: number;
  outboxBytes: number;
  fillSeconds: number;
  replaySeconds: number;
  tapsPerSecond: number;
  storedAtGateway: number;
  /** Peak RSS (VmHWM): includes the Node binary's shared, file-backed pages. */
  maxRssMB: number;
  /** Peak anonymous (private) resident memory, sampled: what the terminal itself allocates. */
  maxPrivateMB: number;
  /** Peak file-backed resident memory, sampled: the Node binary, ICU data and native addons mapped in. */
  maxFileMB: number;
  runtime: Runtime;
  panel: 'console' | 'johnny-five';
  nodeFlags: string[];
  window: number;
  targets: { minTaps: number; minTapsPerSecond: number; maxRssMB: number };
  pass: boolean;
}

/** The V8 limits deploy/ciao-terminal.service runs the terminal with (a small box: keep the heap small). */
export const TERMINAL_NODE_FLAGS = (process.env.CIAO_TERMINAL_NODE_FLAGS ?? '--max-old-space-size=64 --max-semi-space-size=2').split(' ').filter(Boolean);

const TID = 'bench-replay';
const SECRET = 'bench-secret';

async function startGatewayChild(dbPath: string) {
  const script = fileURLToPath(new URL('../test/terminal/helpers/gateway-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, dbPath, JSON.stringify({ [TID]: SECRET })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const pending: Array<(v: Record<string, number>) => void> = [];
  lines.on('line', (l) => {
    try {
      pending.shift()?.(JSON.parse(l));
    } catch {
      // not ours
    }
  });
  const next = () => new Promise<Record<string, number>>((resolve) => pending.push(resolve));
  const { port } = await next();
  return {
    port: port!,
    async stats() {
      const p = next();
      child.stdin!.write('stats\n');
      return p;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface TerminalReplayOptions {
  taps?: number;
  window?: number;
  dir?: string;
  /** `compiled` (default): the release `npm run build` makes; `loader`: the sources through tsx. */
  runtime?: Runtime;
  /** A release built beforehand (one build for several runs); built here when missing. */
  release?: BuiltRelease;
  panel?: 'console' | 'johnny-five';
}

export async function runTerminalReplayBench(opts: TerminalReplayOptions = {}): Promise<TerminalReplayReport> {
  const taps = opts.taps ?? 100_000;
  const window = opts.window ?? 128;
  const runtime = opts.runtime ?? 'compiled';
  const panel = opts.panel ?? 'console';
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'ciao-bench-replay-'));
  const ownRelease = runtime === 'compiled' && !opts.release ? buildRelease(opts.dir) : undefined;
  const release = opts.release ?? ownRelease;
  const board = panel === 'johnny-five' ? new SerialTestBoard({ dir, wiring: { greenLed: 2, redLed: 4, piezo: 3, lcd: [7, 8, 9, 10, 11, 12] } }) : undefined;
  try {
    const outboxPath = join(dir, 'outbox.db');
    // Fill the outbox as days offline would: taps from a few hundred badges, committed in bulk for speed.
    const fillStart = performance.now();
    const fill = new Outbox(outboxPath);
    const base = Date.now() - taps * 1000;
    for (let done = 0; done < taps; done += 10_000) {
      const chunk = Array.from({ length: Math.min(10_000, taps - done) }, (_, k) => {
        const i = done + k;
        return { v: 1 as const, id: randomUUID(), badge: (0x30000000 + (i % 400)).toString(16).toUpperCase(), direction: (i % 2 ? 'OUT' : 'IN') as 'IN' | 'OUT', reason: 'work' as const, at: toOffsetIso(new Date(base + i * 1000)) };
      });
      fill.appendMany(chunk, new Date().toISOString());
    }
    const queuedTaps = fill.queued;
    fill.close();
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const outboxBytes = statSync(outboxPath).size + (statSync(`${outboxPath}-wal`, { throwIfNoEntry: false })?.size ?? 0);

    const gateway = await startGatewayChild(join(dir, 'gateway.db'));
    if (board) await board.plug();
    const configPath = join(dir, 'terminal.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        id: TID,
        secret: SECRET,
        mqtt: { url: `mqtt://127.0.0.1:${gateway.port}` },
        reader: 'simulated',
        panel,
        ...(board ? { board: { port: board.portPath } } : {}),
        outbox: outboxPath,
        replayWindow: window,
        defaults: { debounceSeconds: 0 },
      }),
    );
    // The terminal runs as its own process, exactly as the service starts `ciao terminal`: its RSS is read from /proc.
    const { launcher, env } = ciaoCommand(runtime, release);
    const start = performance.now();
    const terminal = spawn(process.execPath, [...TERMINAL_NODE_FLAGS, launcher, 'terminal', '--config', configPath], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, CIAO_LOG_LEVEL: 'warn' } });
    const terminalExited = new Promise<number | null>((r) => terminal.once('exit', (code) => r(code)));
    let maxRssKb = 0;
    let maxAnonKb = 0;
    let maxFileKb = 0;
    const sampleRss = () => {
      try {
        const status = readFileSync(`/proc/${terminal.pid}/status`, 'utf8');
        maxRssKb = Math.max(maxRssKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
        maxAnonKb = Math.max(maxAnonKb, Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0));
        maxFileKb = Math.max(maxFileKb, Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch {
        // not started yet, or no /proc
      }
    };
    let stored = 0;
    while (stored < queuedTaps) {
      await new Promise((r) => setTimeout(r, 100));
      sampleRss();
      stored = (await gateway.stats()).stored!;
      if (terminal.exitCode !== null) throw new Error('the terminal process exited during the replay');
    }
    const replaySeconds = (performance.now() - start) / 1000;
    sampleRss();
    terminal.kill('SIGTERM');
    const code = await terminalExited;
    await gateway.stop();
    if (code !== 0) throw new Error(`the terminal did not stop cleanly (exit ${code})`);
    const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
    const maxRssMB = mb(maxRssKb);
    const maxPrivateMB = mb(maxAnonKb);
    const tapsPerSecond = Math.round(queuedTaps / replaySeconds);
    const targets = { minTaps: 100_000, minTapsPerSecond: 2000, maxRssMB: 100 };
    return {
      bench: 'terminal-replay',
      queuedTaps,
      outboxBytes,
      fillSeconds: Math.round(fillSeconds * 100) / 100,
      replaySeconds: Math.round(replaySeconds * 100) / 100,
      tapsPerSecond,
      storedAtGateway: stored!,
      maxRssMB,
      maxPrivateMB,
      maxFileMB: mb(maxFileKb),
      runtime,
      panel,
      nodeFlags: TERMINAL_NODE_FLAGS,
      window,
      targets,
      pass: queuedTaps >= targets.minTaps && tapsPerSecond >= targets.minTapsPerSecond && maxRssMB <= targets.maxRssMB && stored === queuedTaps,
    };
  } finally {
    await board?.close();
    ownRelease?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const report = await runTerminalReplayBench({
    taps: arg('taps') ? Number(arg('taps')) : undefined,
    runtime: arg('runtime') === 'loader' ? 'loader' : 'compiled',
    panel: arg('panel') === 'johnny-five' ? 'johnny-five' : 'console',
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
