import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../shared/sqlite.ts';
import type { CardTransport } from '../../gateway/badge-security/apdu.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { getBadge } from '../../gateway/site-data/badges.ts';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { provisionAndEnrol } from '../../gateway/badge-security/enrol.ts';
import { addKeyVersion, createKeyFile, readKeyFile } from '../../gateway/badge-security/key-ring.ts';
import { deriveBadgeKeys } from '../../gateway/badge-security/diversify.ts';
import { blankState } from '../../simulator/vcard/ntag424/card-state.ts';
import { VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';
import { seedTestWorld, TEST_SEED } from '../gateway/helpers/seed.ts';
import { ciao } from '../gateway/helpers/cli.ts';

/**
 * The operation behind `ciao admin badge provision` (personalise, then enrol) against the virtual card in
 * process, and the secure-badge commands of `ciao admin` as real child processes. The desk reader over
 * pcscd and vpcd is exercised end to end in secure-badges-e2e.test.ts.
 */
const UID = '04E1E2E3E4E5E6';
const direct = (chip: VirtualNtag424): CardTransport => ({ transmit: async (apdu) => chip.respond(apdu) });

let dir: string;
let dbPath: string;
const admin = (...args: string[]) => ciao(['admin', '--db', dbPath, ...args]);
async function withDb<T>(fn: (db: Db) => T | Promise<T>): Promise<T> {
  const db = openGatewayDatabase(dbPath);
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-badge-admin-'));
  dbPath = join(dir, 'gateway.db');
  await withDb((db) => seedTestWorld(db));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('personalising and enrolling a badge (the operation the command and the console call)', () => {
  it('personalises a blank badge with the current key version and enrols it as secure', async () => {
    const keyFile = join(dir, 'enrol-keys.json');
    const ring = createKeyFile(keyFile);
    const chip = new VirtualNtag424({ state: blankState(UID) });
    const r = await withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: ring, worker: 'w-solo', validFrom: '2026-01-01', actor: { kind: 'user', id: 'u-office', name: 'Office' } }));
    expect(r.badge).toMatchObject({ uid: UID, workerId: 'w-solo', kind: 'secure', keyVersion: 1, validFrom: '2026-01-01', validTo: null });
    expect(r).toMatchObject({ previousWorkerId: null, previousKeyVersion: null });
    expect(chip.state.keys).toEqual(deriveBadgeKeys(ring.versions.get(1)!, Buffer.from(UID, 'hex')).map((k) => k.toString('hex').toUpperCase()));
    // In the audit trail, by whoever provisioned it.
    const audit = await withDb(async (db) => (await listAudit(SqliteStore.of(db), { entity: 'badge' })).items.filter((e) => e.entityId === UID));
    expect(audit).toMatchObject([{ action: 'provision', actor: { kind: 'user', id: 'u-office' }, before: null, after: { uid: UID, kind: 'secure', keyVersion: 1 } }]);

    // Rotation: a new version, then the same command without --worker moves the badge and keeps its binding.
    const rotated = addKeyVersion(keyFile);
    const again = await withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: rotated }));
    expect(again.badge).toMatchObject({ uid: UID, workerId: 'w-solo', kind: 'secure', keyVersion: 2, validFrom: '2026-01-01' });
    expect(again).toMatchObject({ previousKeyVersion: 1, previousWorkerId: null });
    expect(chip.state.keyVersions).toEqual([2, 2, 2, 2, 2]);
  });

  it('refuses bad input before touching the badge, and says when a personalised badge still needs a worker', async () => {
    const ring = readKeyFile(join(dir, 'enrol-keys.json'), 'x');
    const chip = new VirtualNtag424({ state: blankState('04F1F2F3F4F5F6') });
    const before = JSON.stringify(chip.state);
    await expect(withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: ring, worker: 'nobody' }))).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'worker', rule: 'exists' })] });
    await expect(withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: { current: 0, versions: new Map() }, worker: 'w-solo' }))).rejects.toMatchObject({
      problems: [expect.objectContaining({ field: 'keys', rule: 'required' })],
    });
    await expect(withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: ring, worker: 'w-solo', validFrom: '2026-02-30' }))).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'from', rule: 'date' })] });
    expect(JSON.stringify(chip.state)).toBe(before);

    await expect(withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: ring }))).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'worker', rule: 'required' })] });
    expect(await withDb((db) => getBadge(SqliteStore.of(db), '04F1F2F3F4F5F6'))).toBeUndefined();
    // Personalised already; the run with --worker only enrols it.
    const done = await withDb((db) => provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: ring, worker: 'w-duo' }));
    expect(done.provisioning.keysChanged).toEqual([]);
    expect(done.badge).toMatchObject({ workerId: 'w-duo', kind: 'secure', keyVersion: 2 });
  });
});

describe('ciao admin: badge keys, badge provision, site require-secure-badges', () => {
  it('creates a private key file, rotates it, lists versions by check value and badge count, never printing a key', async () => {
    const keyFile = join(dir, 'cli-keys.json');
    const init = await admin('badge', 'keys', 'init', keyFile);
    expect(init.code, init.stderr).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect((await admin('badge', 'keys', 'init', keyFile)).stderr).toMatch(/file: .* exists already.*\(rule: exists\)/s);
    expect((await admin('badge', 'keys', 'add-version', keyFile)).stdout).toContain('key version 2 added');
    const list = await admin('badge', 'keys', 'list', '--keys', keyFile, '--json');
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as Array<{ version: number; current: boolean; application: string; badges: number }>;
    expect(rows.map((r) => [r.version, r.current])).toEqual([[1, false], [2, true]]);
    expect(rows[0]!.application).toMatch(/^[0-9A-F]{6}$/);
    const ring = readKeyFile(keyFile, 'x');
    expect(list.stdout).not.toContain(ring.versions.get(1)!.application.toString('hex').toUpperCase());
    // Secure badges are counted by their version number (the two enrolled above are on version 2).
    expect(rows.find((r) => r.version === 2)!.badges).toBe(2);
    expect((await admin('badge', 'keys', 'remove-version', keyFile, '2')).stderr).toContain('(rule: not-current)');
  });

  it('names the key file problem: group-readable, or none given', async () => {
    const open = join(dir, 'open-keys.json');
    writeFileSync(open, JSON.stringify({ current: 1, versions: { 1: { application: '11'.repeat(16), sdmMetaRead: '22'.repeat(16), sdmFileRead: '33'.repeat(16) } } }), { mode: 0o644 });
    const r = await admin('badge', 'provision', '--worker', 'w-solo', '--keys', open);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--keys: .* is open to its group or others \(mode 0644\).*\(rule: private-file\)/s);
    const none = await admin('badge', 'provision', '--worker', 'w-solo', '--wait', '1');
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/keys: no badge keys.*\(rule: required\)/s);
  });

  it('makes a site require secure badges: its workers can no longer get a UID-only badge, and says which badges remain', async () => {
    const on = await admin('site', 'require-secure-badges', TEST_SEED.sites.main);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain(`site ${TEST_SEED.sites.main} requires secure badges`);
    expect(on.stdout).toContain(TEST_SEED.workers.solo.badge);
    const refused = await admin('badge', 'add', 'DEADBEEF', '--worker', 'w-solo');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/kind: a UID-only badge cannot be enrolled for worker w-solo: site site-main requires secure badges .*\(rule: secure-badge-required\)/);
    // Ending a UID-only badge the worker already holds is not an enrolment.
    const ended = await admin('badge', 'add', TEST_SEED.workers.solo.badge, '--worker', 'w-solo', '--from', '2020-01-01', '--to', '2030-12-31');
    expect(ended.code, ended.stderr).toBe(0);
    // A worker whose employer is not on the site's declaration is not one of its workers.
    expect((await admin('badge', 'add', 'DEADBEEF', '--worker', 'w-posted')).code).toBe(0);
    const list = JSON.parse((await admin('badge', 'list', '--json')).stdout) as Array<{ uid: string; kind: string; keyVersion: number | null }>;
    expect(list.find((b) => b.uid === UID)).toMatchObject({ kind: 'secure', keyVersion: 2 });
    expect(list.find((b) => b.uid === 'DEADBEEF')).toMatchObject({ kind: 'uid-only', keyVersion: null });
    const changes = await withDb(async (db) => (await listAudit(SqliteStore.of(db), { entity: 'site', entityId: TEST_SEED.sites.main })).items);
    expect(changes[0]).toMatchObject({ action: 'update', actor: { kind: 'cli' }, before: { requireSecureBadges: false }, after: { requireSecureBadges: true } });
    const off = await admin('site', 'require-secure-badges', TEST_SEED.sites.main, '--off');
    expect(off.stdout).toContain('accepts UID-only badges');
    expect((await admin('badge', 'add', 'DEADBEE0', '--worker', 'w-solo')).code).toBe(0);
    expect((await admin('site', 'require-secure-badges', 'nowhere')).stderr).toContain('site nowhere does not exist');
  });
});
