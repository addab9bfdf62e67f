/**
 * Benchmark: a backlog of registrations in the gateway database drained to the ONSS emulator, then their
 * validity settled. The emulator runs in its own process (`ciao emulator`), so the RSS sampled here is the
 * gateway's alone.
 * Usage: node --import tsx bench/backlog-drain.ts --count 1000000 [--batch 100] [--in-flight N]
 * Prints JSON:
 * - the drain: registrations/s, peak RSS sampled every 100 ms, and how long each of the forwarder's write
 *   transactions held the database's write lock (what the gateway's tap writer may have to wait);
 * - the validity: once the emulator has run its checks on all of them, a forwarder with nothing left to
 *   send settles the validity of every created registration (searches by period); registrations/s.
 */
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enterpriseCheckDigits, nationalCheckDigits } from '../shared/identifiers/index.ts';
import { createLogger } from '../shared/logging.ts';
import { openDatabase } from '../shared/sqlite.ts';
import { openGatewayDatabase } from '../gateway/store/database.ts';
import { RegistrationRows } from '../gateway/store/registration-rows.ts';
import { cpuSecondsOf, startEmulatorProcess } from './lib/emulator.ts';
import { forwardingProgress, forwardingSummary, startForwarder, type LockHoldSummary } from '../gateway/forward/index.ts';
import { SqliteStore } from '../gateway/store/sqlite-store.ts';

export interface BacklogDrainResult {
  name: 'backlog-drain';
  count: number;
  batchSize: number;
  seconds: number;
  registrationsPerSecond: number;
  peakRssMB: number;
  rssBeforeDrainMB: number;
  /** CPU seconds used during the drain by the gateway (forwarder) process and by the emulator process. */
  gatewayCpuSeconds: number;
  emulatorCpuSeconds: number;
  /** Average load of the machine during the drain (other processes included). */
  loadAverage: number;
  receivedByEmulator: number;
  duplicatesAtEmulator: number;
  /** How long each forwarder write transaction held the write lock during the drain. */
  lockHold: LockHoldSummary;
  /** Validity of every created registration settled, after the emulator had run its checks. */
  validity: { settled: number; seconds: number; perSecond: number; emulatorWaitSeconds: number };
  date: string;
  cpus: number;
  node: string;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Registrations as ingest writes them: each in its tap's row (gateway/store/tap-rows-schema.ts). */
async function seed(dbPath: string, count: number, log: (m: string) => void): Promise<void> {
  const db = openGatewayDatabase(dbPath);
  const store = SqliteStore.of(db);
  const rows = new RegistrationRows();
  const insert = `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, worker_id,
      reg_seq, reg_at, at_s, ssin, limosa_id, capacity, context_id)
    VALUES ($1, 'T1', 'S1', $2, $3, $4, 'work', $5, $6, 'enriched', $7, $8, $9, $10, $11, $12, $13, $14)`;
  const place = JSON.stringify({ address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue de la Loi', houseNumber: '16' } });
  const now = Date.now();
  const receivedAt = new Date(now).toISOString();
  const chunk = 50_000;
  for (let done = 0; done < count; done += chunk) {
    await store.transaction(async (tx) => {
      rows.beginTransaction(tx);
      for (let i = done; i < Math.min(count, done + chunk); i++) {
        const first9 = `${String(50 + (i % 40))}${String(1 + ((i >> 3) % 12)).padStart(2, '0')}${String(1 + ((i >> 7) % 28)).padStart(2, '0')}${String(1 + ((i >> 12) % 997)).padStart(3, '0')}`;
        const company = `0${String(4_000_000 + (i % 1000)).padStart(7, '0')}`;
        const atMs = now - 86_400_000 + (i % 86_400) * 1000;
        const at = `${new Date(atMs).toISOString().slice(0, 19)}+00:00`;
        const registration = {
          tap_id: randomUUID(), terminal_id: 'T1', site_id: 'S1', type: (i % 2 ? 'OUT' : 'IN') as 'IN' | 'OUT', reason: 'work' as const, at,
          ssin: first9 + nationalCheckDigits(first9, 1900), limosa_id: null, capacity: 'employee', employer_kind: 'enterprise' as const,
          employer_id: company + enterpriseCheckDigits(company), declaration: `1Y102M7NZF${String(100 + (i % 900))}`, place_of_work: place, received_at: receivedAt,
        };
        const c = await rows.columns(registration, at, atMs);
        await tx.run(insert, [registration.tap_id, i, `B${i % 5000}`, registration.type, at, receivedAt, `W${i % 5000}`, c.reg_seq, c.reg_at, c.at_s, c.ssin, c.limosa_id, c.capacity, c.context_id]);
      }
    });
    rows.committed();
    if ((done / chunk) % 4 === 0) log(`seeded ${Math.min(count, done + chunk)} / ${count}`);
  }
  db.close();
}

export async function runBacklogDrain(opts: { count: number; batchSize?: number; maxBatchesInFlight?: number; log?: (m: string) => void }): Promise<BacklogDrainResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const batchSize = opts.batchSize ?? 100;
  const dir = mkdtempSync(join(tmpdir(), 'ciao-bench-drain-'));
  const dbPath = join(dir, 'gateway.sqlite');
  let emulator: Awaited<ReturnType<typeof startEmulatorProcess>> | undefined;
  try {
    log(`seeding ${opts.count} registrations`);
    // Seeded by a process of its own: the memory measured here is the forwarder's, not what seeding left.
    const seeding = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--seed-into', dbPath, '--count', String(opts.count)], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (seeding.status !== 0) throw new Error(`seeding the backlog failed (exit ${seeding.status ?? seeding.signal})`);
    emulator = await startEmulatorProcess(dir);
    const db = openDatabase(dbPath);
    const logger = createLogger('bench-forwarder', { level: 'warn' });
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 100);
    const started = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    const emulatorCpuBefore = cpuSecondsOf(emulator.pid);
    let loadSum = 0;
    let loadSamples = 0;
    const onss = { baseUrl: emulator.url, clientId: emulator.clientId, privateKey: emulator.privateKeyFile };
    const store = SqliteStore.of(db);
    const fwd = await startForwarder({
      store, logger,
      config: { ...onss, batchSize, validityPollIntervalMs: 0, idlePollMs: 20, ...(opts.maxBatchesInFlight ? { maxBatchesInFlight: opts.maxBatchesInFlight } : {}) },
    });
    let lastLog = Date.now();
    for (;;) {
      const p = await forwardingProgress(store);
      if (p.lastPicked >= opts.count && p.inFlight + p.retry === 0) break;
      loadSum += loadavg()[0]!;
      loadSamples++;
      if (Date.now() - lastLog > 10_000) {
        log(`drained ${p.lastPicked} / ${opts.count}, rss ${mb(process.memoryUsage().rss)} MB`);
        lastLog = Date.now();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const gatewayCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const emulatorCpuSeconds = cpuSecondsOf(emulator.pid) - emulatorCpuBefore;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const lockHold = fwd.lockHold();
    await fwd.stop();

    // Validity: first let the emulator run its checks on everything (its own pace is not ours to measure),
    // then time a forwarder that has nothing left to send settling every created registration.
    const waitStarted = Date.now();
    for (;;) {
      const stats = (await (await fetch(`${emulator.url}/admin/stats`)).json()) as { pendingValidity: number };
      if (stats.pendingValidity === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const emulatorWaitSeconds = (Date.now() - waitStarted) / 1000;
    const toSettle = (await forwardingSummary(store)).pendingValidity;
    log(`settling the validity of ${toSettle} registrations`);
    const validityStarted = process.hrtime.bigint();
    const checker = await startForwarder({ store, logger, config: { ...onss, validityPollIntervalMs: 1000, idlePollMs: 1000 } });
    while ((await forwardingProgress(store)).pendingValidity > 0) await new Promise((r) => setTimeout(r, 100));
    const validitySeconds = Number(process.hrtime.bigint() - validityStarted) / 1e9;
    await checker.stop();
    await store.close();
    db.close();
    const emulatorDb = emulator.dbPath;
    await emulator.stop();
    emulator = undefined;
    const emuDb = openDatabase(emulatorDb, { readonly: true });
    const received = (emuDb.prepare('SELECT COUNT(*) AS n FROM registrations').get() as { n: number }).n;
    const dups = (emuDb.prepare('SELECT COUNT(*) AS n FROM (SELECT client_reference FROM registrations GROUP BY client_reference HAVING COUNT(*) > 1)').get() as { n: number }).n;
    emuDb.close();
    return {
      name: 'backlog-drain', count: opts.count, batchSize, seconds: Math.round(seconds * 10) / 10,
      registrationsPerSecond: Math.round(opts.count / seconds), peakRssMB: mb(peak), rssBeforeDrainMB: mb(rssBefore),
      gatewayCpuSeconds: Math.round(gatewayCpuSeconds * 10) / 10, emulatorCpuSeconds: Math.round(emulatorCpuSeconds * 10) / 10,
      loadAverage: Math.round((loadSum / Math.max(1, loadSamples)) * 10) / 10,
      receivedByEmulator: received, duplicatesAtEmulator: dups, lockHold,
      validity: {
        settled: toSettle, seconds: Math.round(validitySeconds * 10) / 10, perSecond: Math.round(toSettle / validitySeconds),
        emulatorWaitSeconds: Math.round(emulatorWaitSeconds * 10) / 10,
      },
      date: new Date().toISOString(), cpus: cpus().length, node: process.version,
    };
  } finally {
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const arg = (name: string, def: number) => {
    const i = args.indexOf(name);
    if (i < 0) return def;
    const n = Number(args[i + 1]);
    if (!Number.isInteger(n) || n < 1) {
      process.stderr.write(`${name}: '${args[i + 1]}' must be a positive whole number\n`);
      process.exit(2);
    }
    return n;
  };
  const into = args.indexOf('--seed-into');
  if (into >= 0) await seed(args[into + 1]!, arg('--count', 100_000), (m) => process.stderr.write(`${m}\n`));
  else {
    const result = await runBacklogDrain({ count: arg('--count', 100_000), batchSize: arg('--batch', 100), maxBatchesInFlight: arg('--in-flight', 0) || undefined });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
}
