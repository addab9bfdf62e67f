import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import pino from 'pino';
import { createLogger } from '../../shared/logging.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { Db } from '../../shared/sqlite.ts';
import type { TapSun } from '../../shared/mqtt/payloads.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addTerminal, rotateTerminalSecret } from '../../gateway/site-data/terminals.ts';
import { saveSecureBadge, upsertBadge } from '../../gateway/site-data/badges.ts';
import { importBadgesCsv } from '../../gateway/site-data/csv-import.ts';
import { setSiteRequiresSecureBadges, siteBadgePolicyOf } from '../../gateway/site-data/badge-policy.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { createKeyFile, addKeyVersion, readKeyFile, removeKeyVersion, type BadgeKeyRing } from '../../gateway/badge-security/key-ring.ts';
import { deriveBadgeKeys } from '../../gateway/badge-security/diversify.ts';
import { createSqlQueries } from '../../gateway/records/sql-queries.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import { addUser, userForToken } from '../../gateway/access/users.ts';
import { readSunMessage } from '../../terminal/adapters/sun-message.ts';
import { personalisedState, wrongKeysState } from '../../simulator/vcard/ntag424/card-state.ts';
import { VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';
import { seedTestWorld, TEST_SEED } from '../gateway/helpers/seed.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from '../gateway/helpers/mqtt.ts';
import { ciao } from '../gateway/helpers/cli.ts';
import { ACK_TEXTS } from '../../gateway/ingest/display.ts';
import { siteDay } from '../support/site-day.ts';

/**
 * Verification of secure badges' taps by a running gateway (broker, writer thread, SQLite), over MQTT as a
 * terminal sends them, with SUN messages read from virtual NTAG 424 DNA badges personalised with keys
 * derived from the gateway's key file. What fails is stored, acked for review, never registered, and
 * raises a remark naming the likely cause.
 */
const TID = 'term-secure';
const ANA = '04A1A2A3A4A5A6';
const BEA = '04B1B2B3B4B5B6';
const TEMPLATE = { piccPrefix: 'picc_data=', macPrefix: 'cmac=' };

/** A virtual badge personalised with the ring's keys of `version`. */
function badgeChip(ring: BadgeKeyRing, uid: string, version: number): VirtualNtag424 {
  const state = personalisedState({ uid, keys: deriveBadgeKeys(ring.versions.get(version)!, Buffer.from(uid, 'hex')) });
  state.keyVersions = [version, version, version, version, version];
  return new VirtualNtag424({ state });
}

/** One read of the badge as a terminal does it: a fresh SUN message. */
async function read(chip: VirtualNtag424): Promise<TapSun> {
  chip.reset();
  const r = await readSunMessage(async (apdu) => chip.respond(apdu), TEMPLATE);
  if (r.kind !== 'sun') throw new Error(`no SUN message: ${r.why}`);
  return r.sun;
}

interface Harness {
  dir: string;
  db: Db;
  gateway: RunningGateway;
  terminal: MqttClient;
  acks: AckCollector;
  ring: BadgeKeyRing;
  keyFile: string;
  records: RecordsService;
}

async function start(dir: string, keyFile: string, seed: (db: Db) => void | Promise<void>): Promise<Omit<Harness, 'ring'>> {
  const dbPath = join(dir, 'gateway.db');
  const db = openGatewayDatabase(dbPath);
  await seed(db);
  const logger = createLogger('gateway', { level: 'warn' }, pino.destination({ dest: join(dir, 'gateway.log'), sync: true }));
  const gateway = await startGateway(
    { database: dbPath, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, terminals: { siteDataPollMs: 100 }, badgeSecurity: { keyFile } },
    { logger },
  );
  // A restarted gateway's terminal gets a new secret (the first one was shown once and not kept).
  const secret = db.prepare('SELECT 1 FROM terminals WHERE id = ?').get(TID) ? await rotateTerminalSecret(SqliteStore.of(db), TID) : (await addTerminal(SqliteStore.of(db), { id: TID, siteId: TEST_SEED.sites.main })).secret;
  const terminal = await connectTerminal(gateway.mqttPort, TID, secret);
  const acks = await AckCollector.attach(terminal, TID);
  const records = new RecordsService(SqliteStore.of(db), createSqlQueries(SqliteStore.of(db)));
  return { dir, db, gateway, terminal, acks, keyFile, records };
}

async function stop(h: Partial<Harness>): Promise<void> {
  await h.terminal?.endAsync(true).catch(() => undefined);
  await h.gateway?.stop();
  h.db?.close();
}

async function send(h: Harness, badge: string, sun: TapSun | undefined, over: Parameters<typeof makeTap>[1] = {}) {
  const tap = makeTap(badge, { ...(sun ? { sun } : {}), ...over });
  await publishTap(h.terminal, TID, tap);
  const [ack] = await h.acks.waitFor(tap.id);
  const row = h.db.prepare('SELECT enrichment, enrichment_detail FROM taps WHERE tap_id = ?').get(tap.id) as { enrichment: string; enrichment_detail: string | null };
  const registered = h.db.prepare('SELECT COUNT(*) AS n FROM registrations WHERE tap_id = ?').get(tap.id) as { n: number };
  const check = h.db.prepare('SELECT outcome, details FROM tap_badge_checks WHERE tap_id = ?').get(tap.id) as { outcome: string; details: string } | undefined;
  return { tap, ack: ack!, enrichment: row.enrichment, detail: row.enrichment_detail, registered: registered.n === 1, check: check ? { outcome: check.outcome, ...JSON.parse(check.details) } : undefined };
}

/** The tap's remark about its badge (the worker's many INs also give double-IN remarks, not looked at here). */
async function remarkFor(h: Harness, tapId: string) {
  const admin = (await userForToken(SqliteStore.of(h.db), (await addUser(SqliteStore.of(h.db), { name: 'a', role: 'admin' })).token))!;
  const today = siteDay(0);
  return (await h.records.remarks(admin, { from: today, to: today })).find((r) => r.tapId === tapId && ['possible-badge-copy', 'badge-key-missing', 'uid-only-badge'].includes(r.kind));
}

const minutesAgo = (m: number) => toOffsetIso(new Date(Date.now() - m * 60_000));

describe('a gateway verifying secure badges', () => {
  let h: Harness;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-secure-gw-'));
    const keyFile = join(dir, 'badge-keys.json');
    const ring = createKeyFile(keyFile);
    const started = await start(dir, keyFile, async (db) => {
      await seedTestWorld(db);
      for (const uid of [ANA, BEA]) await saveSecureBadge(SqliteStore.of(db), { uid, workerId: 'w-solo', validFrom: '2020-01-01', validTo: null, keyVersion: 1 });
    });
    h = { ...started, ring };
  }, 30_000);

  afterAll(async () => {
    await stop(h);
    rmSync(h.dir, { recursive: true, force: true });
  });

  it('registers a genuine tap and keeps its read counter; the same message again is held as a replay', async () => {
    const ana = badgeChip(h.ring, ANA, 1);
    const sun = await read(ana);
    const first = await send(h, ANA, sun);
    expect(first).toMatchObject({ enrichment: 'enriched', registered: true, check: undefined });
    expect(first.ack).toMatchObject({ status: 'stored', display: 'Enregistre' });
    // The accepted counter is in the tap's own row, committed with it.
    expect(h.db.prepare('SELECT sun_counter FROM taps WHERE tap_id = ?').get(first.tap.id)).toEqual({ sun_counter: ana.readCounter });

    const replay = await send(h, ANA, sun);
    expect(replay).toMatchObject({ enrichment: 'possible-copy', registered: false, check: { outcome: 'replayed', counter: ana.readCounter, otherAt: expect.any(String) } });
    // Acked `stored` like any tap held for review: the worker's feedback does not change.
    expect(replay.ack).toMatchObject({ status: 'stored', display: ACK_TEXTS.review.fr });
    expect(replay.detail).toMatch(/^possible copy of badge 04A1A2A3A4A5A6: .*replayed/);
    const remark = (await remarkFor(h, replay.tap.id))!;
    expect(remark).toMatchObject({ kind: 'possible-badge-copy', severity: 'error', workerId: 'w-solo', details: { check: 'replayed', badge: ANA } });
    expect(remark.message.en).toMatch(/^Possible copy of badge 04A1A2A3A4A5A6 at terminal term-secure at .*: its secure message had already been used at \d{4}-\d\d-\d\d \d\d:\d\d: a replayed message/);
    expect(remark.message.fr).toMatch(/^Copie possible du badge 04A1A2A3A4A5A6 .* avait déjà servi/);
    expect(remark.message.nl).toMatch(/^Mogelijke kopie van badge 04A1A2A3A4A5A6 .* al gebruikt/);
  });

  it('stores a tap sent again with the same id once, without calling it a replay', async () => {
    const ana = badgeChip(h.ring, ANA, 1);
    ana.state.sdmReadCounter = 100;
    const first = await send(h, ANA, await read(ana));
    expect(first.enrichment).toBe('enriched');
    await publishTap(h.terminal, TID, first.tap);
    const acks = await h.acks.waitFor(first.tap.id, 2);
    expect(acks.map((a) => a.status)).toEqual(['stored', 'stored']);
    expect(h.db.prepare('SELECT COUNT(*) AS n FROM taps WHERE tap_id = ?').get(first.tap.id)).toEqual({ n: 1 });
    expect(h.db.prepare('SELECT COUNT(*) AS n FROM tap_badge_checks WHERE tap_id = ?').get(first.tap.id)).toEqual({ n: 0 });
  });

  it('holds a UID-only read of a secure badge, a card with other keys, a message of another badge, and a forged MAC', async () => {
    const uidOnly = await send(h, ANA, undefined);
    expect(uidOnly).toMatchObject({ enrichment: 'possible-copy', registered: false, check: { outcome: 'uid-only-read', badge: ANA, keyVersion: 1 } });
    expect((await remarkFor(h, uidOnly.tap.id))!.message.en).toContain('answered without its secure message');

    const stranger = new VirtualNtag424({ state: wrongKeysState(ANA) });
    const wrongKeys = await send(h, ANA, await read(stranger));
    expect(wrongKeys).toMatchObject({ enrichment: 'possible-copy', registered: false, check: { outcome: 'undecryptable' } });
    expect((await remarkFor(h, wrongKeys.tap.id))!.message.en).toContain("does not decrypt with this site's keys");

    const bea = badgeChip(h.ring, BEA, 1);
    const mismatch = await send(h, ANA, await read(bea));
    expect(mismatch).toMatchObject({ enrichment: 'possible-copy', check: { outcome: 'uid-mismatch', messageUid: BEA } });
    expect((await remarkFor(h, mismatch.tap.id))!.message.nl).toContain(`hoort bij badge ${BEA}`);

    const ana = badgeChip(h.ring, ANA, 1);
    ana.state.sdmReadCounter = 200;
    const genuine = await read(ana);
    const forged = { picc: genuine.picc, mac: `${genuine.mac.slice(0, 15)}${genuine.mac.endsWith('0') ? '1' : '0'}` };
    const badMac = await send(h, ANA, forged);
    expect(badMac).toMatchObject({ enrichment: 'possible-copy', check: { outcome: 'bad-mac', counter: 201 } });
    // A forged message consumed nothing: the genuine one still goes through.
    expect((await send(h, ANA, genuine)).enrichment).toBe('enriched');
  });

  it('takes a lower counter from a terminal that was offline, and refuses one made after the higher counter', async () => {
    const bea = badgeChip(h.ring, BEA, 1);
    const atDoorA = await read(bea); // counter n, at a door whose terminal is offline
    const atDoorB = await read(bea); // counter n + 1, a minute later at a door online
    expect((await send(h, BEA, atDoorB, { at: minutesAgo(1) })).enrichment).toBe('enriched');
    const late = await send(h, BEA, atDoorA, { at: minutesAgo(2) });
    expect(late).toMatchObject({ enrichment: 'enriched', registered: true });

    const skimmed = await read(bea); // read by someone else's reader, not sent
    const real = await read(bea);
    expect((await send(h, BEA, real, { at: minutesAgo(30) })).enrichment).toBe('enriched');
    const played = await send(h, BEA, skimmed);
    expect(played).toMatchObject({ enrichment: 'possible-copy', registered: false, check: { outcome: 'lower-counter', counter: bea.readCounter - 1, laterCounter: bea.readCounter } });
    expect((await remarkFor(h, played.tap.id))!.message.en).toMatch(/its read counter \(\d+\) is lower than that of the tap at .* made before it/);
  });

  it('registers the taps of UID-only badges as before, and flags them where the site requires secure badges', async () => {
    const solo = TEST_SEED.workers.solo.badge;
    const before = await send(h, solo, undefined);
    expect(before).toMatchObject({ enrichment: 'enriched', registered: true, check: undefined });

    const policy = await setSiteRequiresSecureBadges(SqliteStore.of(h.db), TEST_SEED.sites.main, true);
    expect(policy.uidOnlyBadges.map((b) => b.uid)).toContain(solo);
    const flagged = await send(h, solo, undefined);
    expect(flagged).toMatchObject({ enrichment: 'enriched', registered: true, check: { outcome: 'uid-only-on-secure-site', badge: solo } });
    const remark = (await remarkFor(h, flagged.tap.id))!;
    expect(remark).toMatchObject({ kind: 'uid-only-badge', severity: 'warning' });
    expect(remark.message.en).toContain(`site ${TEST_SEED.sites.main} requires secure badges`);
    expect(await remarkFor(h, before.tap.id)).toBeUndefined();
    // Secure badges are not flagged.
    const ana = badgeChip(h.ring, ANA, 1);
    ana.state.sdmReadCounter = 300;
    expect((await send(h, ANA, await read(ana))).check).toBeUndefined();

    // Enrolment of a UID-only badge for a worker of the site is refused, naming the field and the rule.
    await expect(upsertBadge(SqliteStore.of(h.db), { uid: 'AB12CD34', worker: 'w-solo' })).rejects.toThrow(expect.objectContaining({ problems: [expect.objectContaining({ field: 'kind', rule: 'secure-badge-required' })] }));
    const csv = await importBadgesCsv(SqliteStore.of(h.db), 'uid,worker,from\nAB12CD35,w-solo,2026-01-01\nAB12CD36,w-posted,2026-01-01\n');
    expect(csv.imported).toBe(1); // w-posted's employer is not on the site's declaration
    expect(csv.rejected).toEqual([{ line: 2, problems: [expect.objectContaining({ field: 'kind', rule: 'secure-badge-required', message: expect.stringContaining(`site ${TEST_SEED.sites.main} requires secure badges`) })] }]);
    // Re-binding a secure badge stays allowed (and keeps it secure).
    expect(await upsertBadge(SqliteStore.of(h.db), { uid: BEA, worker: 'w-solo' })).toMatchObject({ kind: 'secure', keyVersion: 1 });

    await setSiteRequiresSecureBadges(SqliteStore.of(h.db), TEST_SEED.sites.main, false);
    expect((await siteBadgePolicyOf(SqliteStore.of(h.db), TEST_SEED.sites.main)).requireSecureBadges).toBe(false);
    expect((await send(h, solo, undefined)).check).toBeUndefined();
  });
});

describe('key versions at the gateway', () => {
  let h: Partial<Harness> = {};
  let dir: string;
  afterEach(async () => {
    await stop(h);
    h = {};
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('verifies badges of the old and the new version after a rotation; without a version, its badges are held and health says so', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-secure-rot-'));
    const keyFile = join(dir, 'badge-keys.json');
    createKeyFile(keyFile);
    const ring = addKeyVersion(keyFile);
    const started = await start(dir, keyFile, async (db) => {
      await seedTestWorld(db);
      await saveSecureBadge(SqliteStore.of(db), { uid: ANA, workerId: 'w-solo', validFrom: '2020-01-01', validTo: null, keyVersion: 1 });
      await saveSecureBadge(SqliteStore.of(db), { uid: BEA, workerId: 'w-solo', validFrom: '2020-01-01', validTo: null, keyVersion: 2 });
    });
    h = { ...started, ring };
    const full = h as Harness;
    const old = badgeChip(ring, ANA, 1);
    const current = badgeChip(ring, BEA, 2);
    expect((await send(full, ANA, await read(old))).enrichment).toBe('enriched');
    expect((await send(full, BEA, await read(current))).enrichment).toBe('enriched');
    expect((await fetch(`http://127.0.0.1:${full.gateway.httpPort}/health`)).status).toBe(200);
    await stop(h);

    // Version 1 retired while a badge still uses it.
    removeKeyVersion(keyFile, 1);
    expect([...readKeyFile(keyFile, 'x').versions.keys()]).toEqual([2]);
    h = { ...(await start(dir, keyFile, () => undefined)), ring };
    const again = h as Harness;
    const held = await send(again, ANA, await read(old));
    expect(held).toMatchObject({ enrichment: 'badge-key-missing', registered: false, check: { outcome: 'no-key', keyVersion: 1 } });
    expect(held.ack.display).toBe(ACK_TEXTS.review.fr);
    expect(await remarkFor(again, held.tap.id)).toMatchObject({ kind: 'badge-key-missing', severity: 'error' });
    expect((await send(again, BEA, await read(current))).enrichment).toBe('enriched');
    const health = await fetch(`http://127.0.0.1:${again.gateway.httpPort}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { problem: string }).problem).toMatch(/1 secure badge\(s\) of key version 1 cannot be verified/);
  }, 60_000);

  it('refuses to start with a key file its group or others can read, naming the field', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-secure-mode-'));
    const keyFile = join(dir, 'badge-keys.json');
    createKeyFile(keyFile);
    chmodSync(keyFile, 0o644);
    await expect(startGateway({ database: join(dir, 'gateway.db'), mqtt: { port: 0 }, http: { port: 0 }, badgeSecurity: { keyFile } }, { logger: createLogger('gateway', { level: 'silent' }) })).rejects.toMatchObject({
      problems: [expect.objectContaining({ field: 'badgeSecurity.keyFile', rule: 'private-file' })],
    });
    // Refused before a database file was created.
    expect(existsSync(join(dir, 'gateway.db'))).toBe(false);
    // `ciao gateway` says why and exits 1, for systemd to see.
    const config = join(dir, 'gateway.json');
    writeFileSync(config, JSON.stringify({ database: 'gateway.db', mqtt: { port: 0 }, http: { port: 0 }, badgeSecurity: { keyFile: 'badge-keys.json' } }));
    const run = await ciao(['gateway', '--config', config]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`ciao gateway: could not start: badgeSecurity.keyFile: ${keyFile} is open to its group or others (mode 0644)`);
    expect(existsSync(join(dir, 'gateway.db'))).toBe(false);
  });
});

describe('the read counter and its tap, in one transaction', () => {
  async function world() {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-secure-tx-'));
    const db = openGatewayDatabase(join(dir, 'gateway.db'));
    await seedTestWorld(db);
    await addTerminal(SqliteStore.of(db), { id: TID, siteId: TEST_SEED.sites.main });
    const ring = createKeyFile(join(dir, 'keys.json'));
    await saveSecureBadge(SqliteStore.of(db), { uid: ANA, workerId: 'w-solo', validFrom: '2020-01-01', validTo: null, keyVersion: 1 });
    const { BatchWriter } = await import('../../gateway/ingest/batch-writer.ts');
    const { decodeTap } = await import('../../shared/mqtt/payloads.ts');
    const chip = badgeChip(ring, ANA, 1);
    const item = async (sun?: TapSun, id = makeTap(ANA).id) => {
      const decoded = decodeTap(Buffer.from(JSON.stringify(makeTap(ANA, { id, ...(sun ? { sun } : {}) }))));
      if (!decoded.ok) throw new Error('tap did not decode');
      return { kind: 'tap' as const, terminalId: TID, tap: decoded.value, receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: 0 };
    };
    const enrichment = (r: { results: Array<{ status: string; enrichment?: string }> }) => r.results.map((x) => x.enrichment);
    return { dir, db, ring, chip, item, enrichment, writer: (o: { snapshotEveryMs?: number } = {}) => BatchWriter.open(SqliteStore.of(db), { keys: ring, ...o }), close: () => { db.close(); rmSync(dir, { recursive: true, force: true }); } };
  }

  it('a commit that fails keeps neither, so the tap sent again is not taken for a replay', async () => {
    const w = await world();
    try {
      const writer = await w.writer();
      const genuine = await w.item(await read(w.chip));
      // The disk fills up at the last write of the transaction (the terminal's clock skew), after the tap and
      // its registration were written.
      w.db.exec(`CREATE TEMP TRIGGER disk_full BEFORE INSERT ON terminal_status BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;`);
      await expect(writer.write([genuine])).rejects.toThrow(/disk is full/);
      expect(w.db.prepare('SELECT COUNT(*) AS n FROM taps').get()).toEqual({ n: 0 });
      expect(w.db.prepare('SELECT COUNT(*) AS n FROM registrations').get()).toEqual({ n: 0 });
      w.db.exec('DROP TRIGGER disk_full');
      // The terminal, never acked, sends the tap again: it is the genuine tap, registered.
      expect(w.enrichment(await writer.write([genuine]))).toEqual(['enriched']);
      // The same message under another tap id is a replay, also within one batch after a fresh tap.
      expect(w.enrichment(await writer.write([{ ...genuine, tap: { ...genuine.tap, id: makeTap(ANA).id } }]))).toEqual(['possible-copy']);
      const next = await w.item(await read(w.chip));
      expect(w.enrichment(await writer.write([next, { ...next, tap: { ...next.tap, id: makeTap(ANA).id } }]))).toEqual(['enriched', 'possible-copy']);
    } finally {
      w.close();
    }
  });

  it('a writer started again (after a crash, before or after a snapshot) knows every counter its taps committed', async () => {
    const w = await world();
    try {
      const first = await w.item(await read(w.chip));
      expect(w.enrichment(await (await w.writer({ snapshotEveryMs: 3_600_000 })).write([first]))).toEqual(['enriched']);
      // No snapshot was written: the counter is only in the tap's row, and the new writer folds it in.
      expect(w.db.prepare('SELECT COUNT(*) AS n FROM badge_sun_state').get()).toEqual({ n: 0 });
      const restarted = await w.writer({ snapshotEveryMs: 0 });
      expect(w.enrichment(await restarted.write([{ ...first, tap: { ...first.tap, id: makeTap(ANA).id } }]))).toEqual(['possible-copy']);
      // That writer snapshots at every batch: the state and the last tap it covers are in the database.
      const second = await w.item(await read(w.chip));
      expect(w.enrichment(await restarted.write([second]))).toEqual(['enriched']);
      expect(w.db.prepare('SELECT highest FROM badge_sun_state WHERE uid = ?').get(ANA)).toEqual({ highest: w.chip.readCounter });
      const upto = w.db.prepare('SELECT taps_rowid FROM badge_sun_snapshot').pluck().get();
      expect(upto).toBe(w.db.prepare('SELECT MAX(rowid) FROM taps').pluck().get());
      // Started again from that snapshot: both messages are replays, a fresh one is not.
      const third = await w.writer();
      expect(w.enrichment(await third.write([{ ...first, tap: { ...first.tap, id: makeTap(ANA).id } }, { ...second, tap: { ...second.tap, id: makeTap(ANA).id } }]))).toEqual(['possible-copy', 'possible-copy']);
      expect(w.enrichment(await third.write([await w.item(await read(w.chip))]))).toEqual(['enriched']);
    } finally {
      w.close();
    }
  });
});
