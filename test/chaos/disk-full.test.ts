import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosSystem, sleep, waitFor, expectEveryTapExactlyOnce } from './helpers/system.ts';

/**
 * The gateway's disk fills up under load. Its database lives on a small tmpfs of its own (a real file
 * system that really runs out of space: SQLite gets SQLITE_FULL from the kernel), then a file is written
 * until not one more byte fits. While the disk is full the gateway keeps running, says so on /health and
 * in its log, and acks nothing it did not store: the terminals keep their taps. When the file is removed
 * the gateway stores them all, and every tap reaches ONSS exactly once.
 * Mounting needs root (CI runs as root); elsewhere the test skips with the reason, never under CI=true.
 */
const canMount = typeof process.getuid === 'function' && process.getuid() === 0;
const FS_SIZE = '24m';

const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = mkdtempSync(join(base, 'ciao-chaos-disk-'));
const mountPoint = mkdtempSync(join(tmpdir(), 'ciao-chaos-gwfs-'));
let mounted = false;
const sys = new ChaosSystem({ dir, gatewayDbDir: mountPoint, terminals: 20, groups: 2 });

if (!canMount) {
  const reason = 'disk-full chaos test needs root to mount a small tmpfs for the gateway database';
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must run as root`);
  console.warn(`SKIPPED: ${reason}`);
}

beforeAll(async () => {
  if (!canMount) return;
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${FS_SIZE},mode=0700`, 'tmpfs', mountPoint]);
  mounted = true;
  await sys.start();
});
afterAll(async () => {
  await sys.kill();
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file until the file system refuses one more byte; returns its size. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(size, 0xa5);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

async function health(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe.skipIf(!canMount)('chaos: the gateway disk is full', () => {
  it('acks nothing it did not store while full, says so, and recovers when space is freed', async () => {
    sys.startLoad(2);
    await waitFor(async () => (await sys.storedTaps()) >= 200, 'taps stored before the disk fills', 30_000, 100);
    await sys.waitForwarded('the first registrations at ONSS');

    const filler = join(mountPoint, 'filler.bin');
    mkdirSync(mountPoint, { recursive: true });
    const fillerBytes = fillUp(filler);
    const fullAt = Date.now();

    // Commits fail (the first ones may still fit in space SQLite already holds): the gateway says so.
    const degraded = await waitFor(async () => {
      const h = await health(sys.httpPort);
      return h.status === 503 ? h : undefined;
    }, '/health to report failing commits', 60_000, 200);
    expect(String(degraded.body.problem)).toMatch(/database commits failing/);
    // While full, the taps pile up in the terminals' outboxes: nothing is acked that was not stored.
    const queuedEarly = await sys.queuedAtTerminals();
    await sleep(4_000);
    const queuedLate = await sys.queuedAtTerminals();
    const storedWhileFull = await sys.storedTaps();
    await sleep(1_000);
    expect(await sys.storedTaps()).toBe(storedWhileFull);
    expect(queuedLate).toBeGreaterThan(queuedEarly);
    expect(sys.gateway.alive).toBe(true);
    // A power cut while the disk is full: the gateway comes back on the same full disk and keeps refusing.
    await sys.gateway.kill9();
    await sys.gateway.start();
    await sleep(2_000);
    expect(sys.gateway.alive).toBe(true);
    expect(await sys.storedTaps()).toBe(storedWhileFull);
    expect(await sys.queuedAtTerminals()).toBeGreaterThan(queuedLate);
    const log = readFileSync(sys.gateway.logPath, 'utf8');
    expect(log).toMatch(/group commit failed: nothing acked/);
    expect(log).toMatch(/SQLITE_FULL|database or disk is full/);

    // Space comes back.
    unlinkSync(filler);
    const freedAt = Date.now();
    await waitFor(async () => (await health(sys.httpPort)).status === 200 || (await sys.queuedAtTerminals()) < queuedLate, 'commits to succeed again', 60_000, 200);
    await sys.settle();
    const v = await sys.verify();
    console.log(
      `chaos disk-full: ${JSON.stringify({ fs: FS_SIZE, fillerBytes, fullForMs: freedAt - fullAt, queuedWhileFull: queuedLate, taps: v.taps, stored: v.storedAtGateway, onss: v.onssRegistrations, lost: v.lost.length, duplicated: v.duplicated.length })}`,
    );

    expect(sys.gateway.alive).toBe(true);
    expect(sys.gateway.unexpectedExits).toEqual([]);
    expect(sys.gateway.kills).toBe(1);
    for (const g of sys.groups) expect(g.unexpectedExits).toEqual([]);
    expectEveryTapExactlyOnce(v);
    expect(v.outages).toEqual([]);
    await sys.stop(); // SIGTERM: the gateway must exit with code 0
  });
});
