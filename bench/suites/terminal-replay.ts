/**
 * Terminal offline buffer and replay (bench/terminal-replay.ts does the work): taps queued on disk in the
 * outbox, then replayed to a gateway that comes back. The full run queues the target's 100,000 taps. The
 * terminal is `ciao terminal` from the compiled release (what a terminal runs), with the console panel for
 * the target figures; in the same run, the same replay with the johnny-five panel over a serial line (its
 * worker thread counted in the process's figure) and, as the baseline, from the sources through the loader.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import { buildRelease } from '../lib/release.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { REPO_ROOT } from '../lib/targets.ts';
import { socatMissing } from '../../simulator/firmata-board/serial-line.ts';

export const REPLAY_SIZES: Record<BenchSize, { taps: number }> = {
  quick: { taps: 20_000 },
  full: { taps: 100_000 },
};

const RSS_TARGET = { op: '<=' as const, value: 100, text: '<= 100 MB' };

export async function runReplayBench(size: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const { runTerminalReplayBench } = await import('../terminal-replay.ts');
  const { taps } = REPLAY_SIZES[size];
  const release = buildRelease();
  try {
    const r = await runTerminalReplayBench({ taps, dir: REPO_ROOT, runtime: 'compiled', release });
    const serialProblem = socatMissing();
    const j5 = serialProblem ? undefined : await runTerminalReplayBench({ taps, dir: REPO_ROOT, runtime: 'compiled', release, panel: 'johnny-five' });
    const loader = await runTerminalReplayBench({ taps, dir: REPO_ROOT, runtime: 'loader' });
    const complete = [r, j5, loader].every((x) => !x || x.storedAtGateway === x.queuedTaps);
    const rssNote = (x: typeof r) => `VmHWM, with Node flags ${x.nodeFlags.join(' ') || '(none)'}; private (anonymous) peak ${x.maxPrivateMB} MB, file-backed peak ${x.maxFileMB} MB (the Node binary and native addons)`;
    const figures: Figure[] = [
      {
        name: `terminal replay of ${r.queuedTaps.toLocaleString('en-US')} queued taps`,
        value: r.tapsPerSecond,
        unit: 'taps/s',
        target: { op: '>=', value: 2000, text: '>= 2,000 taps/s' },
        note: `${r.replaySeconds} s from process start to the last tap stored at the gateway (${r.storedAtGateway.toLocaleString('en-US')} stored), window ${r.window}, compiled release`,
      },
      {
        name: 'terminal offline buffer: taps on disk',
        value: r.queuedTaps,
        unit: 'taps',
        // The quick run queues fewer taps on purpose; only the full run can speak to the 100,000 target.
        ...(size === 'full' ? { target: { op: '>=', value: 100_000, text: '>= 100,000 taps' } } : { note: 'quick run: the 100,000-tap target applies to the full run' }),
      },
      { name: 'terminal outbox bytes per queued tap', value: Math.round(r.outboxBytes / Math.max(1, r.queuedTaps)), unit: 'B' },
      { name: 'terminal RSS during replay (peak)', value: r.maxRssMB, unit: 'MB', target: RSS_TARGET, note: `compiled release, console panel; ${rssNote(r)}` },
      {
        name: 'terminal RSS during replay, johnny-five panel (peak)',
        value: j5?.maxRssMB ?? null,
        unit: 'MB',
        note: j5 ? `compiled release, the panel's worker thread included, on the Firmata board emulator over a pseudo-terminal pair; ${rssNote(j5)}; ${j5.tapsPerSecond} taps/s` : `not run: ${serialProblem}`,
      },
      { name: 'terminal RSS during replay from the sources (loader, reference)', value: loader.maxRssMB, unit: 'MB', note: `tsx loader, console panel; ${rssNote(loader)}; ${loader.tapsPerSecond} taps/s` },
    ];
    return {
      status: 'ok',
      ...(complete ? {} : { reason: 'the gateway did not store every queued tap in one of the runs' }),
      figures,
      details: { size: { name: size, taps }, result: r, johnnyFive: j5 ?? { notRun: serialProblem }, loader, buildSeconds: release.buildSeconds },
    };
  } finally {
    release.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('terminal-replay', 'terminal replay of queued taps', runReplayBench);
}
