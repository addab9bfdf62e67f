import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import type { Tap, TapSun } from '../../shared/mqtt/payloads.ts';
import { fromLocal, toOffsetIso } from '../../shared/time.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { BatchWriter, type IngestItem } from '../../gateway/ingest/batch-writer.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { upsertCompany } from '../../gateway/site-data/companies.ts';
import { upsertWorker } from '../../gateway/site-data/workers.ts';
import { upsertBadge } from '../../gateway/site-data/badges.ts';
import { SiteDataService, type Caller } from '../../gateway/site-data/service.ts';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { enrolPersonalisedBadge } from '../../gateway/badge-security/enrol.ts';
import { createKeyFile, type BadgeKeyRing } from '../../gateway/badge-security/key-ring.ts';
import { deriveBadgeKeys } from '../../gateway/badge-security/diversify.ts';
import { readSunMessage } from '../../terminal/adapters/sun-message.ts';
import { personalisedState } from '../../simulator/vcard/ntag424/card-state.ts';
import { VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';

/**
 * Held taps released by the site-data change that resolves them, through the real ingest transaction (taps
 * stored and held by the BatchWriter on a real SQLite file) and the real site-data service: what is sent,
 * with which time, employer and declaration; what is never sent; the release in the audit trail; the badge
 * check for a badge enrolled as secure.
 */
const NOW = fromLocal({ year: 2026, month: 3, day: 10, hour: 12, minute: 0 });
const SOLO = TEST_SEED.workers.solo.badge;
const C = TEST_SEED.companies;
const TEMP_NISS = makeWorkerNumber({ year: 1990, month: 3, day: 12 }, 127);

let dir: string;
let db: Db;
let writer: BatchWriter;
let service: SiteDataService;
let released: Array<{ registrations: number; badgeChecks: number; shifts: number }>;
const caller: Caller = {
  actor: { kind: 'user', id: 'u-marie', name: 'Marie Dupont' },
  user: { id: 'u-marie', name: 'Marie Dupont', role: 'administrator', sites: null, company: null, canSeeNiss: false, createdAt: '', revokedAt: null },
};

/** A Brussels wall time in March 2026 (or another month), as a terminal stamps it. */
function localAt(day: number, hour: number, minute = 0, month = 3): string {
  return toOffsetIso(fromLocal({ year: 2026, month, day, hour, minute }));
}

async function ingest(t: Partial<Tap> & { at: string; terminal?: string; sun?: TapSun }): Promise<{ tapId: string; status: string | undefined }> {
  const tap: Tap = { v: 1, id: randomUUID(), seq: 1, badge: SOLO, direction: 'IN', reason: 'work', ...t } as Tap;
  const item: IngestItem = { kind: 'tap', terminalId: t.terminal ?? 'a-front', tap, receivedAt: new Date(Date.parse(t.at) + 2000).toISOString(), receivedMs: Date.parse(t.at) + 2000, arrivedPerf: 0 };
  const r = (await writer.write([item])).results[0]!;
  return { tapId: tap.id, status: r.status === 'stored' ? r.enrichment : undefined };
}

const registrationOf = (tapId: string) => db.prepare('SELECT type, at, employer_id, declaration, worker_id, capacity FROM registrations WHERE tap_id = ?').get(tapId) as Record<string, string> | undefined;
const tapStatus = (tapId: string) => db.prepare('SELECT enrichment FROM taps WHERE tap_id = ?').pluck().get(tapId);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-release-'));
  db = openGatewayDatabase(join(dir, 'gw.db'));
  await seedTestWorld(db);
  await addTerminal(SqliteStore.of(db), { id: 'a-front', siteId: TEST_SEED.sites.main });
  await addTerminal(SqliteStore.of(db), { id: 'b-lobby', siteId: TEST_SEED.sites.bare });
  writer = await BatchWriter.open(SqliteStore.of(db));
  released = [];
  service = new SiteDataService(SqliteStore.of(db), { now: () => NOW, onReleased: (r) => released.push({ registrations: r.registrations, badgeChecks: r.badgeChecks, shifts: r.shifts.length }) });
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a declaration added', () => {
  it('sends the taps held for want of it, with their original time, and records which change sent them', async () => {
    const morning = await ingest({ at: localAt(9, 7, 2), terminal: 'b-lobby' });
    const evening = await ingest({ at: localAt(9, 15, 30), terminal: 'b-lobby', direction: 'OUT' });
    expect([morning.status, evening.status]).toEqual(['no-declaration', 'no-declaration']);
    const input = { number: '2AB34CD56EF78', siteId: TEST_SEED.sites.bare, validFrom: '2026-03-01', companies: [C.clean] };

    // What the console shows before confirming: exactly these taps, and nothing changed yet.
    expect((await service.previewDeclaration(caller, input)).map((p) => [p.tapId, p.heldBecause, p.outcome])).toEqual([[morning.tapId, 'no-declaration', 'send'], [evening.tapId, 'no-declaration', 'send']]);
    expect(registrationOf(morning.tapId)).toBeUndefined();
    expect(db.prepare('SELECT COUNT(*) FROM declarations').pluck().get()).toBe(1);

    const r = await service.createDeclaration(caller, input);
    expect(r.released.map((p) => p.tapId)).toEqual([morning.tapId, evening.tapId]);
    expect(registrationOf(morning.tapId)).toEqual({ type: 'IN', at: localAt(9, 7, 2), employer_id: C.clean, declaration: '2AB34CD56EF78', worker_id: 'w-solo', capacity: 'employee' });
    expect(registrationOf(evening.tapId)).toMatchObject({ type: 'OUT', at: localAt(9, 15, 30) });
    expect(tapStatus(morning.tapId)).toBe('enriched');
    // Told once committed: two registrations for the forwarder.
    expect(released).toEqual([{ registrations: 2, badgeChecks: 0, shifts: 0 }]);

    const change = (await listAudit(SqliteStore.of(db), { entity: 'declaration' })).items[0]!;
    const release = (await listAudit(SqliteStore.of(db), { entity: 'tap', entityId: morning.tapId })).items[0]!;
    expect(release).toMatchObject({ action: 'release-late', actor: { name: 'Marie Dupont' }, causeId: change.id, after: { heldAs: 'no-declaration', at: localAt(9, 7, 2) } });
    expect(db.prepare('SELECT outcome, held_as, cause_audit_id, audit_id, because FROM tap_releases WHERE tap_id = ?').get(morning.tapId)).toEqual({
      outcome: 'released', held_as: 'no-declaration', cause_audit_id: change.id, audit_id: release.id,
      because: JSON.stringify({ by: 'Marie Dupont', at: NOW.toISOString(), change: 'declaration', entityId: '2AB34CD56EF78' }),
    });
    // A second change that touches the same site sends nothing again.
    expect((await service.updateDeclaration(caller, '2AB34CD56EF78', { ...input, validTo: '2026-12-31' })).released).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) FROM registrations').pluck().get()).toBe(2);
  });

  it('leaves out taps older than the horizon (30 calendar days) and days the declaration does not cover', async () => {
    const tooOld = await ingest({ at: localAt(7, 8, 0, 2), terminal: 'b-lobby' });
    const oldest = await ingest({ at: localAt(8, 8, 0, 2), terminal: 'b-lobby' });
    const before = await ingest({ at: localAt(2, 8), terminal: 'b-lobby' });
    const r = await service.createDeclaration(caller, { number: '2AB34CD56EF78', siteId: TEST_SEED.sites.bare, validFrom: '2026-02-01', validTo: '2026-03-01', companies: [C.clean] });
    expect(r.released.map((p) => p.tapId)).toEqual([oldest.tapId]);
    expect(tapStatus(tooOld.tapId)).toBe('no-declaration');
    expect(tapStatus(before.tapId)).toBe('no-declaration');
  });
});

describe('a badge enrolled, its validity widened, or revoked', () => {
  it('enrolling an unknown badge sends its taps once, and widening a badge\'s validity sends the taps before it', async () => {
    const unknown = await ingest({ at: localAt(10, 7), badge: TEST_SEED.unknownBadge });
    expect(unknown.status).toBe('unknown-badge');
    // Luc has two employers on the site's chain and did not choose: nothing is sent, the tap is held for that now.
    expect((await service.createBadge(caller, { uid: TEST_SEED.unknownBadge, worker: 'w-duo', validFrom: '2026-03-10' })).released).toEqual([]);
    expect(tapStatus(unknown.tapId)).toBe('employer-choice-needed');
    const enrolled = await ingest({ at: localAt(10, 7, 5), badge: 'AA0000F2' });
    expect(enrolled.status).toBe('unknown-badge');
    expect((await service.createBadge(caller, { uid: 'AA0000F2', worker: 'w-solo', validFrom: '2026-03-10' })).released.map((p) => p.tapId)).toEqual([enrolled.tapId]);
    expect(registrationOf(enrolled.tapId)).toMatchObject({ at: localAt(10, 7, 5), worker_id: 'w-solo' });

    await upsertBadge(SqliteStore.of(db), { uid: 'AA0000F1', worker: 'w-solo', validFrom: '2026-03-10' });
    const early = await ingest({ at: localAt(9, 7), badge: 'AA0000F1' });
    expect(early.status).toBe('badge-not-valid');
    const r = await service.updateBadge(caller, 'AA0000F1', { validFrom: '2026-03-09' });
    expect(r.released.map((p) => p.tapId)).toEqual([early.tapId]);
    expect(registrationOf(early.tapId)).toMatchObject({ at: localAt(9, 7), worker_id: 'w-solo' });
    expect(JSON.parse(db.prepare('SELECT because FROM tap_releases WHERE tap_id = ?').pluck().get(early.tapId) as string)).toMatchObject({ change: 'badge-validity', entityId: 'AA0000F1' });
  });

  it('never sends the taps of a revoked badge, even when the badge is given again', async () => {
    const revoked = await ingest({ at: localAt(10, 7), badge: TEST_SEED.workers.revoked.badge });
    expect(revoked.status).toBe('revoked-badge');
    expect((await service.createBadge(caller, { uid: TEST_SEED.workers.revoked.badge, worker: 'w-revoked', validFrom: '2026-03-01' })).released).toEqual([]);
    expect(tapStatus(revoked.tapId)).toBe('revoked-badge');
    expect(registrationOf(revoked.tapId)).toBeUndefined();
  });

  it('never sends a future-dated tap', async () => {
    const item: IngestItem = { kind: 'tap', terminalId: 'b-lobby', tap: { v: 1, id: randomUUID(), seq: 1, badge: SOLO, direction: 'IN', reason: 'work', at: localAt(9, 7, 10) }, receivedAt: new Date(Date.parse(localAt(9, 7))).toISOString(), receivedMs: Date.parse(localAt(9, 7)), arrivedPerf: 0 };
    expect((await writer.write([item])).results[0]).toMatchObject({ enrichment: 'future-dated' });
    expect((await service.createDeclaration(caller, { number: '2AB34CD56EF78', siteId: TEST_SEED.sites.bare, validFrom: '2026-03-01', companies: [C.clean] })).released).toEqual([]);
    expect(tapStatus(item.kind === 'tap' ? item.tap.id : '')).toBe('future-dated');
  });
});

describe('the employer of a held tap', () => {
  it('a site manager chooses one of the worker\'s employers for the site: the tap is sent with it; another is refused', async () => {
    const held = await ingest({ at: localAt(10, 7), badge: TEST_SEED.workers.duo.badge });
    expect(held.status).toBe('employer-choice-needed');
    await expect(service.chooseEmployer(caller, { tapId: held.tapId, employer: C.foreign })).rejects.toThrow(expect.objectContaining({ problems: [expect.objectContaining({ field: 'employer', rule: 'employer-choice' })] }));
    expect((await service.previewEmployerChoice(caller, { tapId: held.tapId, employer: C.shine })).map((p) => p.tapId)).toEqual([held.tapId]);
    expect(registrationOf(held.tapId)).toBeUndefined();
    await service.chooseEmployer(caller, { tapId: held.tapId, employer: C.shine });
    expect(registrationOf(held.tapId)).toMatchObject({ employer_id: C.shine, at: localAt(10, 7) });
    expect((await listAudit(SqliteStore.of(db), { entity: 'tap', entityId: held.tapId })).items.map((e) => e.action)).toEqual(['release-late', 'choose-employer']);
  });

  it('setting the worker\'s employers sends the tap with the one left', async () => {
    const held = await ingest({ at: localAt(10, 7), badge: TEST_SEED.workers.duo.badge });
    const preview = await service.previewWorker(caller, 'w-duo', { name: 'Luc Dubois', employers: [C.shine] });
    expect(preview.map((p) => p.tapId)).toEqual([held.tapId]);
    expect(registrationOf(held.tapId)).toBeUndefined();
    await service.updateWorker(caller, 'w-duo', { name: 'Luc Dubois', employers: [C.shine] });
    expect(registrationOf(held.tapId)).toMatchObject({ employer_id: C.shine });
  });
});

describe('agency workers (FAQ 26)', () => {
  it('a placement with a company on the chain sends the held tap under the agency\'s number, and the roster offers the agency', async () => {
    const agency = makeEnterpriseNumber('06660012');
    const other = makeEnterpriseNumber('07770013');
    await upsertCompany(SqliteStore.of(db), { number: agency, name: 'Interim Plus' });
    await upsertCompany(SqliteStore.of(db), { number: other, name: 'Autre Interim' });
    // Two agencies, neither on the chain: the tap cannot say under which to register.
    await upsertWorker(SqliteStore.of(db), { id: 'w-temp', niss: TEMP_NISS, name: 'Tom Temp', capacity: 'agency-worker', employers: [agency, other] });
    await upsertBadge(SqliteStore.of(db), { uid: 'AA0000A7', worker: 'w-temp', validFrom: '2026-03-01' });
    const held = await ingest({ at: localAt(10, 7), badge: 'AA0000A7' });
    expect(held.status).toBe('employer-choice-needed');
    const { rosterFor } = await import('../../gateway/terminal-sync/terminal-view.ts');
    const r = await service.createPlacement(caller, { worker: 'w-temp', agency, userCompany: C.clean, validFrom: '2026-03-01' });
    expect(r.released.map((p) => p.tapId)).toEqual([held.tapId]);
    expect(registrationOf(held.tapId)).toMatchObject({ employer_id: agency, capacity: 'agency-worker', declaration: TEST_SEED.declaration });
    expect((await rosterFor(SqliteStore.of(db), 'a-front', NOW)).badges['AA0000A7']).toMatchObject({ name: 'Tom T.', employers: [{ id: agency, name: 'Interim Plus' }] });
    // Its next taps register at once, under the agency.
    expect((await ingest({ at: localAt(10, 11), badge: 'AA0000A7', direction: 'OUT' })).status).toBe('enriched');
  });

  it('a placed worker whose only employer is the agency appears in the roster (known, not a red "unknown badge")', async () => {
    const agency = makeEnterpriseNumber('06660012');
    await upsertCompany(SqliteStore.of(db), { number: agency, name: 'Interim Plus' });
    await upsertWorker(SqliteStore.of(db), { id: 'w-temp', niss: TEMP_NISS, name: 'Tom Temp', capacity: 'agency-worker', employers: [agency] });
    await upsertBadge(SqliteStore.of(db), { uid: 'AA0000A7', worker: 'w-temp', validFrom: '2026-03-01' });
    const { rosterFor } = await import('../../gateway/terminal-sync/terminal-view.ts');
    expect((await rosterFor(SqliteStore.of(db), 'a-front', NOW)).badges['AA0000A7']).toBeUndefined();
    await service.createPlacement(caller, { worker: 'w-temp', agency, userCompany: C.shine, validFrom: '2026-03-01', validTo: '2026-03-31' });
    expect((await rosterFor(SqliteStore.of(db), 'a-front', NOW)).badges['AA0000A7']).toMatchObject({ employers: [{ id: agency }] });
    expect((await rosterFor(SqliteStore.of(db), 'a-front', fromLocal({ year: 2026, month: 4, day: 1, hour: 8, minute: 0 }))).badges['AA0000A7']).toBeUndefined();
    await expect(service.createPlacement(caller, { worker: 'w-temp', agency, userCompany: agency, validFrom: '2026-03-01' })).rejects.toThrow(expect.objectContaining({ problems: [expect.objectContaining({ field: 'userCompany', rule: 'differs' })] }));
  });
});

describe('a badge enrolled later as a secure badge', () => {
  let ring: BadgeKeyRing;
  const UID = '04A1A2A3A4A5A6';
  async function read(chip: VirtualNtag424): Promise<TapSun> {
    chip.reset();
    const r = await readSunMessage(async (apdu) => chip.respond(apdu), { piccPrefix: 'picc_data=', macPrefix: 'cmac=' });
    if (r.kind !== 'sun') throw new Error(`no SUN message: ${r.why}`);
    return r.sun;
  }

  it('sends its held tap only once the SUN message passes the badge check; a UID-only copy\'s tap is held as a possible copy', async () => {
    ring = createKeyFile(join(dir, 'keys.json'));
    writer = await BatchWriter.open(SqliteStore.of(db), { keys: ring });
    const state = personalisedState({ uid: UID, keys: deriveBadgeKeys(ring.versions.get(1)!, Buffer.from(UID, 'hex')) });
    state.keyVersions = [1, 1, 1, 1, 1];
    const chip = new VirtualNtag424({ state });
    const genuineSun = await read(chip);
    const genuine = await ingest({ at: localAt(10, 7), badge: UID, sun: genuineSun });
    const copy = await ingest({ at: localAt(10, 7, 30), badge: UID });
    expect([genuine.status, copy.status]).toEqual(['unknown-badge', 'unknown-badge']);

    await enrolPersonalisedBadge(SqliteStore.of(db), { uid: UID, keyVersion: 1, workerId: 'w-solo', validFrom: '2026-03-10' }, caller.actor, NOW);
    // Not released blind: both wait for the badge check, nothing is registered yet.
    expect(db.prepare("SELECT tap_id FROM tap_releases WHERE outcome = 'badge-check' ORDER BY requested_at, tap_id").pluck().all().sort()).toEqual([genuine.tapId, copy.tapId].sort());
    expect(registrationOf(genuine.tapId)).toBeUndefined();

    const r = await writer.write([{ kind: 'badge-checks', at: NOW.toISOString() }]);
    expect(r.registrations).toBe(1);
    expect(registrationOf(genuine.tapId)).toMatchObject({ at: localAt(10, 7), worker_id: 'w-solo' });
    expect(db.prepare('SELECT outcome FROM tap_releases WHERE tap_id = ?').pluck().get(genuine.tapId)).toBe('released');
    expect(tapStatus(copy.tapId)).toBe('possible-copy');
    expect(db.prepare('SELECT outcome FROM tap_releases WHERE tap_id = ?').pluck().get(copy.tapId)).toBe('held-again');
    expect(db.prepare('SELECT outcome FROM tap_badge_checks WHERE tap_id = ?').pluck().get(copy.tapId)).toBe('uid-only-read');
    // The genuine badge's next read is fresh; the released tap's message, played again, is a replay.
    expect((await ingest({ at: localAt(10, 11), badge: UID, direction: 'OUT', sun: await read(chip) })).status).toBe('enriched');
    expect((await ingest({ at: localAt(10, 11, 5), badge: UID, sun: genuineSun })).status).toBe('possible-copy');
  });
});
