import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Db } from '../../shared/sqlite.ts';
import { makeTestCertificates } from './helpers/tls.ts';
import { certificatesOf } from '../../gateway/fleet/certificates.ts';
import { upsertCompany } from '../../gateway/site-data/companies.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { upsertSite } from '../../gateway/site-data/sites.ts';
import { upsertDeclaration } from '../../gateway/site-data/declarations.ts';
import { upsertWorker } from '../../gateway/site-data/workers.ts';
import { upsertBadge } from '../../gateway/site-data/badges.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { shellBlockAfter } from '../support/docs-recipes.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';

/**
 * The command recipes of the docs, run as written: a reader who copies them must get what the docs say.
 * Only the line the docs tell the reader to adapt (the gateway's port and database) is set to the test's.
 */
const REPO = resolve(import.meta.dirname, '../..');
const haveMosquitto = existsSync('/usr/bin/mosquitto_pub') && existsSync('/usr/bin/mosquitto_sub');
if (!haveMosquitto && process.env.CI === 'true') throw new Error('mosquitto-clients is required under CI (apt-get install mosquitto-clients)');
if (!haveMosquitto) console.warn('SKIPPING the docs recipe test: mosquitto-clients is not installed');

/** The world the recipes assume: a site `site-a` and a worker whose badge is 04A1B2C3D4E5F6. */
async function seedSiteA(db: Db): Promise<void> {
  const company = makeEnterpriseNumber('04030192');
  await upsertCompany(SqliteStore.of(db), { number: company, name: 'Net & Clean' });
  await upsertSite(SqliteStore.of(db), { id: 'site-a', name: 'Résidence Les Tilleuls', language: 'fr', postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' });
  await upsertDeclaration(SqliteStore.of(db), { number: '1Y102M7NZF7PZ', siteId: 'site-a', validFrom: '2020-01-01', companies: [company] });
  await upsertWorker(SqliteStore.of(db), { id: 'w-ana', niss: makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33), name: 'Ana Peeters', capacity: 'employee', employers: [company] });
  await upsertBadge(SqliteStore.of(db), { uid: '04A1B2C3D4E5F6', worker: 'w-ana', validFrom: '2020-01-01' });
}

function runBash(script: string, cwd: string): Promise<string> {
  return new Promise<string>((done, fail) =>
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd, timeout: 60_000 }, (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout))),
  );
}

describe('docs/mqtt-api.md: trying it with mosquitto clients', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ seed: seedSiteA });
  });
  afterAll(async () => gw?.stop());

  it.skipIf(!haveMosquitto)('creates the terminal, publishes a tap and collects its stored ack', async () => {
    const block = shellBlockAfter('docs/mqtt-api.md', '## Trying it with mosquitto clients');
    const [first, ...rest] = block.split('\n');
    expect(first).toBe('PORT=1883 DB=gateway.db');
    const script = [`PORT=${gw.mqttPort} DB=${JSON.stringify(gw.dbPath)}`, ...rest].join('\n');
    const out = await runBash(script, REPO);
    // Step 1 shows the retained config and roster; step 3 prints the ack.
    expect(out).toMatch(/^ciao\/v1\/terminals\/lab-1\/config \{.*"site":\{"id":"site-a"/m);
    expect(out).toMatch(/^ciao\/v1\/terminals\/lab-1\/roster \{.*"04A1B2C3D4E5F6"/m);
    const ackLine = out.split('\n').filter((l) => l.startsWith('ciao/v1/terminals/lab-1/acks ')).pop()!;
    const ack = JSON.parse(ackLine.slice('ciao/v1/terminals/lab-1/acks '.length)) as { id: string; status: string };
    expect(ack.status).toBe('stored');
    expect(gw.db().prepare("SELECT terminal_id, badge, enrichment FROM taps WHERE tap_id = ?").get(ack.id)).toEqual({ terminal_id: 'lab-1', badge: '04A1B2C3D4E5F6', enrichment: 'enriched' });
  });
});

describe('docs/mqtt-api.md: logging in with a certificate', () => {
  let gw: TestGateway;
  let ca: string;
  beforeAll(async () => {
    const tls = makeTestCertificates(mkdtempSync(join(tmpdir(), 'ciao-recipe-tls-')));
    ca = tls.ca;
    gw = await startTestGateway({
      seed: seedSiteA,
      config: {
        mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tls.cert, key: tls.key, ca: tls.ca } },
        http: { host: '127.0.0.1', port: 0, pairing: { port: 0, cert: tls.cert, key: tls.key, ca: tls.ca } },
      },
    });
  });
  afterAll(async () => gw?.stop());

  it.skipIf(!haveMosquitto)('pairs a key made with openssl, and mosquitto publishes a tap logged in by the certificate alone', async () => {
    const block = shellBlockAfter('docs/mqtt-api.md', '### Logging in with a certificate');
    const [first, ...rest] = block.split('\n');
    expect(first).toBe('GATEWAY=https://127.0.0.1:8443 PORT=8883 DB=gateway.db CA=pairing-ca.pem CIAO="npx ciao"');
    // The files the recipe writes land in a folder of their own; `ciao` runs from this checkout.
    const cwd = mkdtempSync(join(tmpdir(), 'ciao-recipe-'));
    const script = [`GATEWAY=${gw.gateway!.pairingUrl} PORT=${gw.tlsPort} DB=${JSON.stringify(gw.dbPath)} CA=${JSON.stringify(ca)} CIAO="node ${join(REPO, 'bin/ciao.mjs')}"`, ...rest].join('\n');
    const out = await runBash(script, cwd);
    expect(out).toMatch(/^ciao\/v1\/terminals\/lab-2\/config \{.*"site":\{"id":"site-a"/m);
    const ackLine = out.split('\n').filter((l) => l.startsWith('ciao/v1/terminals/lab-2/acks ')).pop()!;
    const ack = JSON.parse(ackLine.slice('ciao/v1/terminals/lab-2/acks '.length)) as { id: string; status: string };
    expect(ack.status).toBe('stored');
    expect(gw.db().prepare('SELECT terminal_id, badge, enrichment FROM taps WHERE tap_id = ?').get(ack.id)).toEqual({ terminal_id: 'lab-2', badge: '04A1B2C3D4E5F6', enrichment: 'enriched' });
    // It was the certificate that logged in: the gateway issued one for lab-2 at pairing, and the connection used it.
    expect(await certificatesOf(SqliteStore.of(gw.db()), 'lab-2')).toEqual([expect.objectContaining({ issuedFor: 'pairing', revokedAt: null })]);
    expect(readFileSync(join(cwd, 'lab-2.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(gw.logs()).not.toMatch(/"terminalId":"lab-2"[^\n]*terminal connection refused/);
  });
});

describe('docs/gateway.md: backing up and restoring the database', () => {
  const haveSqlite3 = existsSync('/usr/bin/sqlite3');
  if (!haveSqlite3 && process.env.CI === 'true') throw new Error('sqlite3 is required under CI (apt-get install sqlite3)');
  if (!haveSqlite3) console.warn('SKIPPING the database backup recipe test: sqlite3 is not installed');

  it.skipIf(!haveSqlite3)('backs up while taps are stored, keeps only a good private archive, and a gateway restarted on the restored file has its taps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-recipe-backup-'));
    const backupDir = join(dir, 'backups');
    mkdirSync(join(dir, 'gateway'));
    let gw = await startTestGateway({ seed: seedSiteA, dir: join(dir, 'gateway') });
    try {
      const { id, secret } = await gw.addTerminal('door-1', 'site-a');
      const client = await connectTerminal(gw.mqttPort, id, secret);
      const acks = await AckCollector.attach(client, id);
      // Taps keep arriving while the backup runs: the archive is a consistent state at one moment.
      let sending = true;
      const sent: string[] = [];
      const sender = (async () => {
        while (sending) {
          const tap = makeTap('04A1B2C3D4E5F6');
          sent.push(tap.id);
          await publishTap(client, id, tap);
          await acks.waitFor(tap.id);
        }
      })();
      await waitUntil(() => acks.acks.length >= 20, { what: 'taps stored before the backup' });
      // An archive older than KEEP_DAYS, and one within it.
      mkdirSync(backupDir, { recursive: true });
      const old = join(backupDir, 'gateway-20200101T020000Z.db');
      const recent = join(backupDir, 'gateway-20261130T020000Z.db');
      for (const f of [old, recent]) writeFileSync(f, 'archive');
      utimesSync(old, new Date('2020-01-02'), new Date('2020-01-02'));
      const block = shellBlockAfter('docs/gateway.md', '### Backing up and restoring the database');
      const [first, ...rest] = block.split('\n');
      expect(first).toBe('DB=/var/lib/ciao/gateway.db BACKUP_DIR=/var/backups/ciao KEEP_DAYS=35');
      const out = await runBash([`DB=${JSON.stringify(gw.dbPath)} BACKUP_DIR=${JSON.stringify(backupDir)} KEEP_DAYS=35`, ...rest].join('\n'), dir);
      // One more tap acked after the backup ended: the gateway holds more than the archive.
      const ackedAtBackupEnd = acks.acks.length;
      await waitUntil(() => acks.acks.length > ackedAtBackupEnd, { what: 'a tap stored after the backup' });
      sending = false;
      await sender;
      await client.endAsync();

      const archives = readdirSync(backupDir).filter((f) => f.startsWith('gateway-2') && f !== basename(recent));
      expect(archives).toHaveLength(1);
      const archive = join(backupDir, archives[0]!);
      expect(out).toContain(`backed up to ${archive} (`);
      expect(existsSync(old), 'the archive older than KEEP_DAYS is deleted').toBe(false);
      expect(existsSync(recent)).toBe(true);
      expect(readdirSync(backupDir).some((f) => f.endsWith('.partial'))).toBe(false);
      expect(statSync(archive).mode & 0o777).toBe(0o600);
      // The archive holds a prefix of what was acked: every tap in it was sent, and taps went on after it.
      const archived = new Database(archive, { readonly: true });
      const inArchive = (archived.prepare('SELECT tap_id FROM taps').pluck().all() as string[]);
      archived.close();
      expect(out).toContain(`(${inArchive.length} taps)`);
      expect(inArchive.length).toBeGreaterThanOrEqual(20);
      expect(inArchive.every((t) => sent.includes(t))).toBe(true);
      const storedAtEnd = gw.db().prepare('SELECT COUNT(*) FROM taps').pluck().get() as number;
      expect(storedAtEnd).toBeGreaterThan(inArchive.length);

      // Restore: stop the gateway, put the archive in place, start it again on the same file.
      const dbPath = gw.dbPath;
      await gw.stop();
      const restore = shellBlockAfter('docs/gateway.md', 'To restore, stop the gateway');
      const [restoreFirst, ...restoreRest] = restore.split('\n');
      expect(restoreFirst).toBe('DB=/var/lib/ciao/gateway.db ARCHIVE=/var/backups/ciao/gateway-20261201T020000Z.db');
      await runBash([`DB=${JSON.stringify(dbPath)} ARCHIVE=${JSON.stringify(archive)}`, ...restoreRest].join('\n'), dir);
      expect(existsSync(`${dbPath}.before-restore`)).toBe(true);
      expect(statSync(dbPath).mode & 0o777).toBe(0o600);
      gw = await startTestGateway({ seed: false, dir: join(dir, 'gateway') });
      expect(gw.dbPath).toBe(dbPath);
      expect((gw.db().prepare('SELECT tap_id FROM taps').pluck().all() as string[]).sort()).toEqual([...inArchive].sort());
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
