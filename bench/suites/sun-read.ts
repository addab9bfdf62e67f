/**
 * The time reading a secure badge's SUN message adds to a tap at the terminal, through pcscd + vpcd
 * (bench/sun-read.ts does the work). No target in milliseconds: through vpcd each APDU round trip costs
 * about what its TCP socket adds (two small segments per APDU meet Nagle's algorithm and the delayed ACK),
 * which a USB reader does not; what carries over to hardware is the number of extra round trips, reported
 * beside the times.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult } from '../lib/result.ts';

export const SUN_READ_SIZES: Record<BenchSize, { reads: number }> = { quick: { reads: 10 }, full: { reads: 40 } };

export async function runSunReadSuite(size: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const { runSunReadBench } = await import('../sun-read.ts');
  const r = await runSunReadBench(SUN_READ_SIZES[size]);
  if ('notRun' in r) return { status: 'not-run', reason: r.notRun, figures: [] };
  const note = (x: typeof r.secure) => `${x.reads} reads, ${x.apdusPerRead} APDUs each; p99 ${x.p99Ms} ms, max ${x.maxMs} ms`;
  return {
    status: 'ok',
    figures: [
      { name: 'badge read through pcscd+vpcd p50, plain Type 4 badge', value: r.plainType4.p50Ms, unit: 'ms', note: note(r.plainType4) },
      { name: 'badge read through pcscd+vpcd p50, secure badge (UID + SUN)', value: r.secure.p50Ms, unit: 'ms', note: note(r.secure) },
      {
        name: 'extra read time for the SUN message through vpcd, p50',
        value: r.extraP50Ms,
        unit: 'ms',
        note: `${r.secure.apdusPerRead - r.plainType4.apdusPerRead} more APDU round trips than a plain Type 4 badge (${r.secure.apdusPerRead - 1} more than a MIFARE Classic badge), each about ${r.plainType4.p50Ms} ms through vpcd`,
      },
    ],
    details: { size: { name: size, ...SUN_READ_SIZES[size] }, result: r },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('sun-read', 'secure badge read at the terminal', runSunReadSuite);
}
