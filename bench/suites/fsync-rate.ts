/**
 * The machine's fsync rate: how many times per second a small block can be written and made durable in a
 * file in the working directory. A durable ingest that acks after fsync cannot commit more often than
 * this, so the gateway's figures are read against it (group commit puts many taps in one fsync).
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchMain } from '../lib/child-main.ts';
import { summarise } from '../../simulator/load/latency.ts';

export function measureFsyncRate(dir: string, seconds: number, blockBytes = 512): { fsyncsPerSecond: number; count: number; p50Ms: number; p99Ms: number } {
  const work = mkdtempSync(join(dir, '.bench-fsync-'));
  const fd = openSync(join(work, 'fsync.dat'), 'w');
  const block = Buffer.alloc(blockBytes, 0x5a);
  const times: number[] = [];
  try {
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    while (now < end) {
      const t0 = now;
      writeSync(fd, block);
      fsyncSync(fd);
      now = performance.now();
      times.push(now - t0);
    }
    const elapsed = (now - start) / 1000;
    const s = summarise(times)!;
    return { fsyncsPerSecond: Math.round(times.length / elapsed), count: times.length, p50Ms: s.p50Ms, p99Ms: s.p99Ms };
  } finally {
    closeSync(fd);
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('fsync', 'fsync rate of the working directory', async (size) => {
    const m = measureFsyncRate(process.cwd(), size === 'quick' ? 2 : 5);
    return {
      status: 'ok',
      figures: [
        { name: 'fsync rate (512-byte write + fsync)', value: m.fsyncsPerSecond, unit: '/s', note: `one write+fsync takes p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms; the physical limit on separate durable commits` },
      ],
      details: { ...m, directory: process.cwd() },
    };
  });
}
