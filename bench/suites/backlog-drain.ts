/**
 * Backlog drain: a gateway database holding a backlog of registrations, drained by the forwarder to the
 * ONSS emulator, then the validity of every one settled (bench/backlog-drain.ts does the work; this entry
 * sizes it and states the targets).
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult } from '../lib/result.ts';

export const DRAIN_SIZES: Record<BenchSize, { count: number }> = {
  quick: { count: 20_000 },
  full: { count: 1_000_000 },
};

export async function runDrainBench(size: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const { runBacklogDrain } = await import('../backlog-drain.ts');
  const { count } = DRAIN_SIZES[size];
  const r = await runBacklogDrain({ count });
  const complete = r.receivedByEmulator === count && r.duplicatesAtEmulator === 0 && r.validity.settled === count;
  return {
    status: 'ok',
    ...(complete ? {} : { reason: `the emulator received ${r.receivedByEmulator} of ${count} registrations with ${r.duplicatesAtEmulator} duplicates; validity settled for ${r.validity.settled}` }),
    figures: [
      {
        name: `backlog of ${count.toLocaleString('en-US')} registrations drained to the emulator`,
        value: r.registrationsPerSecond,
        unit: 'registrations/s',
        target: { op: '>=', value: 5000, text: '>= 5,000 registrations/s' },
        note: `${r.seconds} s, batches of ${r.batchSize}; the emulator received ${r.receivedByEmulator.toLocaleString('en-US')} with ${r.duplicatesAtEmulator} duplicates`,
      },
      { name: 'gateway RSS during the drain (peak)', value: r.peakRssMB, unit: 'MB', target: { op: '<=', value: 200, text: '<= 200 MB' }, note: `${r.rssBeforeDrainMB} MB before the drain started` },
      {
        name: 'forwarder write transaction during the drain: write lock held, p99',
        value: r.lockHold.p99Ms,
        unit: 'ms',
        note: `p50 ${r.lockHold.p50Ms} ms, max ${r.lockHold.maxMs} ms over ${r.lockHold.transactions.toLocaleString('en-US')} transactions (BEGIN IMMEDIATE to COMMIT, fsync included): the longest the tap writer can wait behind the forwarder`,
      },
      {
        name: `validity of ${count.toLocaleString('en-US')} created registrations settled`,
        value: r.validity.perSecond,
        unit: 'registrations/s',
        target: { op: '>=', value: 5000, text: '>= 5,000 registrations/s' },
        note: `${r.validity.seconds} s, searches by period against the emulator, once it had run its checks on all of them (${r.validity.emulatorWaitSeconds} s after the drain)`,
      },
    ],
    details: { size: { name: size, count }, result: r },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('backlog-drain', 'backlog drained to the ONSS emulator', runDrainBench);
}
