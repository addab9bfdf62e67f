import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { openDatabase, type Db } from '../../shared/sqlite.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { clientReferenceFor } from '../../gateway/onss/index.ts';
import { openGatewayDb, rsaKeyPair, seedRegistrations, tempDir, waitFor } from './helpers.ts';

/**
 * Exactly one registration per tap at ONSS, whatever happens to the process that forwards them: it is
 * killed (SIGKILL) while batches are in flight, and ONSS hangs up after processing some calls, round after
 * round. Each round adds registrations, so the backlog keeps moving while the kills come.
 */
const ROUNDS = 15;
const PER_ROUND = 300;
const FIXTURE = join(import.meta.dirname, 'fixtures', 'forwarder-process.ts');

const tmp = tempDir();
let emu: EmulatorHandle;
let keyFile: string;
let dbPath: string;
const children: ChildProcess[] = [];

function startForwarderProcess(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dbPath, emu.url, 'gw', keyFile, JSON.stringify({ batchSize: 50, requestTimeoutMs: 1000 })], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: join(import.meta.dirname, '..', '..'),
  });
  children.push(child);
  return child;
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function readState(db: Db) {
  return db.prepare(`SELECT
      (SELECT COUNT(*) FROM registrations) AS total,
      (SELECT COUNT(*) FROM forward_state WHERE state = 'created') AS created,
      (SELECT COUNT(*) FROM forward_state WHERE state = 'in_flight') AS inFlight`).get() as { total: number; created: number; inFlight: number };
}

beforeAll(async () => {
  const keys = await rsaKeyPair();
  keyFile = join(tmp.dir, 'gateway-key.pem');
  writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
  dbPath = join(tmp.dir, 'gateway.sqlite');
  emu = await startEmulator({
    dbPath: join(tmp.dir, 'emu.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }],
    faults: { hangUpAfterProcessingRate: 0.15 }, logger: createLogger('emu', { level: 'silent' }),
  });
});
afterAll(async () => {
  for (const c of children) await killed(c);
  await emu.stop();
  tmp.cleanup();
});

describe('exactly once across kill -9 and hang-ups', () => {
  it(`leaves exactly one registration per tap at ONSS after ${ROUNDS} rounds of SIGKILL`, async () => {
    const seedDb = openGatewayDb(dbPath);
    const taps: string[] = [];
    // The forwarder's tables exist once a forwarder ran; the test reads them through its own connection.
    let killsInFlight = 0;
    for (let round = 0; round < ROUNDS; round++) {
      taps.push(...seedRegistrations(seedDb, { count: PER_ROUND, start: round * PER_ROUND }));
      const before = emu.store.stats().registrations;
      const child = startForwarderProcess();
      // Kill it once ONSS has taken some of this round's work, at a moment that varies from round to round.
      await waitFor(() => emu.store.stats().registrations >= before + 50 + ((round * 37) % 150), `round ${round} progress`, 30_000, 5);
      const state = readState(seedDb);
      if (state.inFlight > 0) killsInFlight++;
      await killed(child);
    }
    expect(emu.store.stats().unanswered).toBeGreaterThan(0);

    // A last forwarder finishes the backlog.
    const last = startForwarderProcess();
    await waitFor(() => {
      const s = readState(seedDb);
      return s.created === s.total && s.inFlight === 0;
    }, 'final drain', 40_000, 50);
    await killed(last);

    const emuDb = openDatabase(join(tmp.dir, 'emu.sqlite'), { readonly: true });
    try {
      const counts = new Map(
        (emuDb.prepare('SELECT client_reference AS ref, COUNT(*) AS n FROM registrations GROUP BY client_reference').all() as Array<{ ref: string; n: number }>).map((r) => [r.ref, r.n]),
      );
      const missing = taps.filter((t) => !counts.has(clientReferenceFor(t)));
      const duplicated = taps.filter((t) => (counts.get(clientReferenceFor(t)) ?? 0) > 1);
      expect(missing).toEqual([]);
      expect(duplicated).toEqual([]);
      expect(counts.size).toBe(taps.length);
      const total = (emuDb.prepare('SELECT COUNT(*) AS n FROM registrations').get() as { n: number }).n;
      expect(total).toBe(ROUNDS * PER_ROUND);
    } finally {
      emuDb.close();
    }
    // Most kills landed with a batch marked in flight: the reconciliation path was exercised, not skipped.
    expect(killsInFlight).toBeGreaterThan(0);
    seedDb.close();
  });
});
