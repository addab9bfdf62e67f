import { afterAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SiteDataService } from '../../gateway/site-data/service.ts';
import { siteDataVersion } from '../../gateway/store/database.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { byCodePoint } from '../../gateway/store/sql-binds.ts';
import { ReleaseStore, updateOfferFor, updateOffers } from '../../gateway/fleet/releases.ts';
import { certificatesOf, judgeCertificate, normalizeSerial, recordCertificate, retireOlderCertificates } from '../../gateway/fleet/certificates.ts';
import { FleetIdentity } from '../../gateway/fleet/service.ts';
import { openTerminalCa, type IssuedCertificate, type TerminalCa } from '../../gateway/fleet/terminal-ca.ts';
import { terminalConfigFor } from '../../gateway/terminal-sync/terminal-view.ts';
import { SitePublisher } from '../../gateway/terminal-sync/publisher.ts';
import { makeKeyAndCsr } from '../../terminal/pairing/identity.ts';
import { signManifest, type SignedManifest } from '../../shared/release/manifest.ts';
import { createLogger } from '../../shared/logging.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { refusal } from '../support/refusal.ts';

/**
 * Fleet on the storage port (docs/cluster.md, "The storage port"): uploaded releases, rollouts and their
 * withdrawal (each with its audit entry in one transaction), the offers the terminals' publisher reads once a
 * round, terminals' update reports, the fleet view, and terminal certificates (judged, retired when a
 * renewed one logs in, renewed). The same cases run on the SQLite file and on a real PostgreSQL with the
 * migrated schema; on PostgreSQL the site-data service is given a SQLite connection of its own, so what is
 * read there is not what the store holds.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const ADA = { kind: 'user', id: 'u-ada', name: 'Ada Admin' } as const;
const T0 = new Date('2026-12-02T09:00:00.000Z');
const silent = createLogger('test', { level: 'silent' });
const { privateKey, publicKey } = generateKeyPairSync('ed25519');

/** A bundle (any bytes) and its manifest signed by `key`. */
function release(version: string, content = `bundle of ${version}`, key: KeyObject = privateKey): { bundle: Buffer; signed: SignedManifest } {
  const bundle = Buffer.from(content);
  const signed = signManifest({ v: 1, product: 'ciao-badge', version, sha256: createHash('sha256').update(bundle).digest('hex'), size: bundle.length, createdAt: '2026-12-01T12:00:00.000Z' }, key);
  return { bundle, signed };
}

async function addTerminal(store: SqlStore, id: string, o: { siteId?: string; disabled?: boolean } = {}): Promise<void> {
  await store.run('INSERT INTO terminals (id, site_id, secret_hash, disabled, created_at, secret_rotated_at) VALUES ($1, $2, $3, $4, $5, $5)', [id, o.siteId ?? null, 'scrypt$x', o.disabled ? 1 : 0, T0.toISOString()]);
}

async function addSite(store: SqlStore, id: string, name: string): Promise<void> {
  await store.run("INSERT INTO sites (id, name, language, latitude, longitude, created_at) VALUES ($1, $2, 'fr', 50.85, 4.35, $3)", [id, name, T0.toISOString()]);
}

/** Every row of the tables a release change writes, to show a refusal wrote nothing. */
async function written(store: SqlStore): Promise<unknown> {
  return {
    releases: await store.all('SELECT version FROM releases'),
    rollouts: await store.all('SELECT id FROM release_rollouts'),
    targets: await store.all('SELECT terminal_id, version, rollout FROM release_targets'),
    audit: (await listAudit(store, { entity: 'release' })).total,
  };
}


function releasesOn(store: SqlStore, key: { publicKey: KeyObject | undefined } = { publicKey }): { releases: ReleaseStore; dir: string } {
  const dir = join(mkdtempSync(join(tmpdir(), 'ciao-fleet-port-')), 'releases');
  return { releases: new ReleaseStore(store, dir, key.publicKey, 1_000_000), dir };
}

const caIn = (dir: string) => openTerminalCa(join(dir, 'ca.pem'), join(dir, 'ca.key'));

/** Terminal identities on the store, certificates following `T0`. */
async function identityOn(store: SqlStore, ca?: TerminalCa): Promise<FleetIdentity> {
  ca ??= await caIn(mkdtempSync(join(tmpdir(), 'ciao-fleet-ca-')));
  return new FleetIdentity({ store, ca, validityDays: 30, siteData: new SiteDataService(store), logger: silent, now: () => T0 });
}

const byFirst = <T extends [string, ...unknown[]]>(a: T, b: T) => byCodePoint(a[0], b[0]);

describe.each(kinds.map((k) => [k.kind, k] as const))('fleet on the storage port (%s)', (_kind, k) => {
  it('takes a signed release with its audit entry; the same again is accepted, another bundle under its version is refused and nothing written', async () => {
    const store = await k.fresh();
    const { releases, dir } = releasesOn(store);
    const r = release('1.1.0');
    const info = await releases.add(r.signed, r.bundle, ADA, T0);
    expect(info).toEqual({ version: '1.1.0', sha256: r.signed.manifest.sha256, size: r.bundle.length, keyId: r.signed.keyId, uploadedAt: T0.toISOString(), uploadedBy: 'Ada Admin', signed: r.signed });
    expect(await releases.get('1.1.0')).toEqual(info);
    const file = await releases.file('1.1.0');
    expect(file).toEqual({ path: join(dir, 'ciao-badge-1.1.0.tar.gz'), size: r.bundle.length });
    expect(readFileSync(file!.path).equals(r.bundle)).toBe(true);
    expect(await releases.file('9.9.9')).toBeUndefined();
    const trail = (await listAudit(store, { entity: 'release' })).items;
    expect(trail).toEqual([expect.objectContaining({ actor: ADA, action: 'upload', entityId: '1.1.0', after: { sha256: info.sha256, size: info.size, keyId: info.keyId } })]);

    // The same upload again: accepted as is, audited again.
    expect(await releases.add(r.signed, r.bundle, ADA, new Date('2026-12-02T10:00:00.000Z'))).toEqual(info);
    expect((await listAudit(store, { entity: 'release' })).total).toBe(2);
    const before = await written(store);
    const rebuilt = release('1.1.0', 'another build of 1.1.0');
    expect(await refusal(releases.add(rebuilt.signed, rebuilt.bundle, ADA, T0))).toEqual(['version unique']);
    expect(await written(store)).toEqual(before);
    expect(readFileSync(file!.path).equals(r.bundle)).toBe(true);
  });

  it('refuses a wrong signature, size or hash, and any upload without a release key, naming field and rule, and writes nothing', async () => {
    const store = await k.fresh();
    const { releases, dir } = releasesOn(store);
    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = release('1.2.0', 'bundle of 1.2.0', other);
    expect(await refusal(releases.add(forged.signed, forged.bundle, ADA, T0))).toEqual(['signature release-signature']);
    const good = release('1.2.0');
    expect(await refusal(releases.add(good.signed, good.bundle.subarray(0, 5), ADA, T0))).toEqual(['bundle size']);
    const tampered = Buffer.from(good.bundle);
    tampered[0] ^= 1;
    expect(await refusal(releases.add(good.signed, tampered, ADA, T0))).toEqual(['bundle sha256']);
    const noKey = releasesOn(store, { publicKey: undefined });
    expect(noKey.releases.enabled).toBe(false);
    expect(await refusal(noKey.releases.add(good.signed, good.bundle, ADA, T0))).toEqual(['releases.publicKey configured']);
    expect(await written(store)).toEqual({ releases: [], rollouts: [], targets: [], audit: 0 });
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('offers a release to the chosen terminals, then to every enabled one, each rollout numbered and audited in its transaction; the publisher reads the offers once a round', async () => {
    const store = await k.fresh();
    await addSite(store, 'site-a', 'Tour A');
    for (const id of ['t-b', 't-a', 'T-Z']) await addTerminal(store, id, { siteId: 'site-a' });
    await addTerminal(store, 't-off', { siteId: 'site-a', disabled: true });
    const { releases } = releasesOn(store);
    const r = release('1.1.0');
    await releases.add(r.signed, r.bundle, ADA, T0);
    const v0 = await siteDataVersion(store);

    const first = await releases.rollout('1.1.0', { terminals: ['t-b', 't-a', 't-b'] }, ADA, T0);
    expect(first).toEqual({ rollout: expect.any(Number), version: '1.1.0', terminals: ['t-b', 't-a'] });
    // The offers bump the site-data version, which the running gateway polls to republish configs.
    expect(await siteDataVersion(store)).toBeGreaterThan(v0);
    const offer = { version: '1.1.0', rollout: first.rollout, bundle: '/fleet/v1/releases/1.1.0/bundle', signed: r.signed };
    expect(await updateOfferFor(store, 't-a')).toEqual(offer);
    expect(await updateOfferFor(store, 'T-Z')).toBeUndefined();
    expect([...(await updateOffers(store))].sort(byFirst)).toEqual([['t-a', offer], ['t-b', offer]]);

    // Every enabled terminal, by code point (upper case first, as SQLite sorts), the disabled one left out.
    const all = await releases.rollout('1.1.0', { all: true }, { kind: 'cli', id: 'cli', name: 'ciao admin' }, new Date('2026-12-02T10:00:00.000Z'));
    expect(all.terminals).toEqual(['T-Z', 't-a', 't-b']);
    expect(all.rollout).toBeGreaterThan(first.rollout);
    expect(await store.all('SELECT terminal_id, rollout, assigned_by, assigned_at FROM release_targets WHERE terminal_id = $1', ['t-a'])).toEqual([
      { terminal_id: 't-a', rollout: all.rollout, assigned_by: 'ciao admin', assigned_at: '2026-12-02T10:00:00.000Z' },
    ]);
    expect([...(await updateOffers(store)).keys()].sort(byCodePoint)).toEqual(['T-Z', 't-a', 't-b']);
    const trail = (await listAudit(store, { entity: 'release' })).items.filter((e) => e.action === 'rollout');
    expect(trail.map((e) => e.after)).toEqual([{ rollout: all.rollout, terminals: ['T-Z', 't-a', 't-b'] }, { rollout: first.rollout, terminals: ['t-b', 't-a'] }]);

    // The configs a publisher round sends carry each terminal's offer, as a terminal is told alone (the
    // disabled terminal's config too, without one).
    const published = new Map<string, string>();
    const publisher = new SitePublisher(store, { publishRetained: (topic, payload) => published.set(topic, payload.toString()) }, silent, { pollMs: 60_000, maxClockSkewMs: 5000, now: () => T0 });
    await publisher.publishAll();
    const configs = [...published].filter(([topic]) => topic.endsWith('/config')).map(([, p]) => JSON.parse(p) as { terminalId: string; update?: { rollout: number } });
    expect(configs.map((c): [string, number | undefined] => [c.terminalId, c.update?.rollout]).sort(byFirst)).toEqual([['T-Z', all.rollout], ['t-a', all.rollout], ['t-b', all.rollout], ['t-off', undefined]]);
    for (const c of configs) expect(c).toEqual(await terminalConfigFor(store, c.terminalId, { maxClockSkewMs: 5000, now: T0 }));
  });

  it('refuses a rollout of an unknown version, to nobody, or to an unknown terminal, naming field and rule, and writes nothing', async () => {
    const store = await k.fresh();
    await addTerminal(store, 't-a');
    const { releases } = releasesOn(store);
    const r = release('1.1.0');
    await releases.add(r.signed, r.bundle, ADA, T0);
    const before = await written(store);
    expect(await refusal(releases.rollout('9.9.9', { all: true }, ADA, T0))).toEqual(['version exists']);
    expect(await refusal(releases.rollout('not a version', { terminals: ['t-a'] }, ADA, T0))).toEqual(['version exists']);
    expect(await refusal(releases.rollout('1.1.0', { terminals: [] }, ADA, T0))).toEqual(['terminals required']);
    expect(await refusal(releases.rollout('1.1.0', { terminals: ['t-a', 'nobody'] }, ADA, T0))).toEqual(['terminals exists']);
    expect(await written(store)).toEqual(before);
  });

  it('withdraws offers from some terminals or all, with the audit entry, and the terminals are offered nothing', async () => {
    const store = await k.fresh();
    for (const id of ['t-a', 't-b', 't-c']) await addTerminal(store, id);
    const { releases } = releasesOn(store);
    const r = release('1.1.0');
    await releases.add(r.signed, r.bundle, ADA, T0);
    await releases.rollout('1.1.0', { all: true }, ADA, T0);
    expect(await releases.stopRollout({ terminals: ['t-b', 'nobody'] }, ADA, T0)).toBe(1);
    expect(await releases.offerFor('t-b')).toBeUndefined();
    expect(await releases.offerFor('t-a')).toMatchObject({ version: '1.1.0' });
    expect(await releases.stopRollout({ all: true }, ADA, T0)).toBe(2);
    expect((await updateOffers(store)).size).toBe(0);
    const stops = (await listAudit(store, { entity: 'release' })).items.filter((e) => e.action === 'rollout-stop');
    expect(stops.map((e) => [e.entityId, e.after])).toEqual([['*', { withdrawn: 2 }], ['t-b,nobody', { withdrawn: 1 }]]);
  });

  it('keeps the newest update report of a terminal, written only when it changed, in the order the reports came', async () => {
    const store = await k.fresh();
    const { releases } = releasesOn(store);
    const downloading = { version: '1.1.0', rollout: 3, state: 'downloading' as const };
    expect(await releases.noteReport('t-a', downloading, T0)).toBe(true);
    expect(await releases.noteReport('t-a', downloading, new Date('2026-12-02T09:01:00.000Z'))).toBe(false);
    expect(await store.one('SELECT state, reported_at FROM terminal_update_reports WHERE terminal_id = $1', ['t-a'])).toEqual({ state: 'downloading', reported_at: T0.toISOString() });
    // Sent one after the other without waiting (a status handler does not await): kept in that order.
    const states = ['installing', 'restarting', 'running', 'rolled-back'] as const;
    const kept = states.map((state, i) => releases.noteReport('t-a', { ...downloading, state, ...(state === 'rolled-back' ? { reason: 'did not come up' } : {}) }, new Date(T0.getTime() + (i + 2) * 60_000)));
    expect(await Promise.all(kept)).toEqual([true, true, true, true]);
    expect(await store.one('SELECT version, rollout, state, reason, reported_at FROM terminal_update_reports WHERE terminal_id = $1', ['t-a'])).toEqual({
      version: '1.1.0', rollout: 3, state: 'rolled-back', reason: 'did not come up', reported_at: '2026-12-02T09:05:00.000Z',
    });
    // Without a rollout number, and back: each a change.
    expect(await releases.noteReport('t-a', { version: '1.1.0', state: 'rolled-back', reason: 'did not come up' }, T0)).toBe(true);
    expect(await releases.noteReport('t-a', { version: '1.1.0', state: 'rolled-back', reason: 'did not come up' }, T0)).toBe(false);
  });

  it('shows the fleet by terminal id and the releases newest first, with what each terminal runs, is offered, reported and holds', async () => {
    const store = await k.fresh();
    for (const id of ['t-b', 'T-Z', 't-a']) await addTerminal(store, id, id === 't-b' ? { disabled: true } : {});
    const { releases } = releasesOn(store);
    for (const [version, at] of [['1.1.0', '2026-12-01T09:00:00.000Z'], ['1.2.0', '2026-12-02T09:00:00.000Z'], ['1.10.0', '2026-12-02T09:00:00.000Z']] as const) {
      const r = release(version);
      await releases.add(r.signed, r.bundle, ADA, new Date(at));
    }
    const rolled = await releases.rollout('1.2.0', { terminals: ['t-a'] }, ADA, T0);
    await store.run("INSERT INTO terminal_status (terminal_id, state, version, updated_at) VALUES ('t-a', 'online', '1.1.0', $1), ('T-Z', 'offline', '1.1.0', $1)", [T0.toISOString()]);
    await releases.noteReport('t-a', { version: '1.2.0', rollout: rolled.rollout, state: 'downloading' }, T0);
    const cert = (serial: string, issuedAt: string): IssuedCertificate => ({ serial, fingerprint: `fp-${serial}`, notBefore: issuedAt, notAfter: '2027-12-02T08:00:00.000Z', pem: '' });
    await recordCertificate(store, 't-a', cert('0A1', '2026-11-01T08:00:00.000Z'), 'pairing', new Date('2026-11-01T08:00:00.000Z'));
    await recordCertificate(store, 't-a', cert('B2', '2026-12-01T08:00:00.000Z'), 'renewal', new Date('2026-12-01T08:00:00.000Z'));

    expect((await releases.list()).map((r) => [r.version, r.offeredTo, r.running])).toEqual([['1.2.0', 1, 0], ['1.10.0', 0, 0], ['1.1.0', 0, 2]]);
    expect(await releases.fleet()).toEqual([
      { id: 'T-Z', siteId: null, disabled: false, state: 'offline', version: '1.1.0', target: null, update: null, certificate: null },
      {
        id: 't-a', siteId: null, disabled: false, state: 'online', version: '1.1.0',
        target: { version: '1.2.0', rollout: rolled.rollout, assignedAt: T0.toISOString(), assignedBy: 'Ada Admin' },
        update: { version: '1.2.0', rollout: rolled.rollout, state: 'downloading', reason: null, at: T0.toISOString() },
        certificate: { serial: 'B2', notAfter: '2027-12-02T08:00:00.000Z' },
      },
      { id: 't-b', siteId: null, disabled: true, state: 'never-seen', version: null, target: null, update: null, certificate: null },
    ]);
  });

  it('judges certificates, retires the older ones when a renewed one logs in, and revokes them all when the terminal is disabled', async () => {
    const store = await k.fresh();
    await addTerminal(store, 't-a');
    await addTerminal(store, 't-b');
    const cert = (serial: string, notAfter = '2027-12-02T08:00:00.000Z'): IssuedCertificate => ({ serial, fingerprint: `fp-${serial}`, notBefore: '2026-11-01T08:00:00.000Z', notAfter, pem: '' });
    await recordCertificate(store, 't-a', cert('0a1'), 'pairing', new Date('2026-11-01T08:00:00.000Z'));
    await recordCertificate(store, 't-a', cert('C3', '2026-12-01T00:00:00.000Z'), 'operator', new Date('2026-11-01T08:00:00.000Z'));
    await recordCertificate(store, 't-a', cert('B2'), 'renewal', new Date('2026-12-01T08:00:00.000Z'));
    expect((await certificatesOf(store, 't-a')).map((c) => c.serial)).toEqual(['A1', 'C3', 'B2']);
    expect(await judgeCertificate(store, 't-a', '00a1', T0)).toMatchObject({ ok: true, record: { serial: 'A1', issuedFor: 'pairing' } });
    expect(await judgeCertificate(store, 't-b', 'A1', T0)).toMatchObject({ ok: false, reason: 'certificate-id-mismatch' });
    expect(await judgeCertificate(store, 't-a', 'FF', T0)).toMatchObject({ ok: false, reason: 'certificate-unknown' });
    expect(await judgeCertificate(store, 't-a', 'C3', T0)).toMatchObject({ ok: false, reason: 'certificate-expired' });

    const identity = await identityOn(store);
    const registry = identity.registry();
    expect(await registry.judge('t-a', 'B2')).toEqual({ ok: true });
    // The oldest one logging in retires nothing; the renewed one retires both older ones.
    await registry.accepted!('t-a', 'A1');
    expect((await certificatesOf(store, 't-a')).filter((c) => c.revokedAt).length).toBe(0);
    await registry.accepted!('t-a', 'B2');
    expect((await certificatesOf(store, 't-a')).map((c) => [c.serial, c.revokedReason])).toEqual([['A1', 'superseded'], ['C3', 'superseded'], ['B2', null]]);
    expect(await registry.judge('t-a', 'A1')).toMatchObject({ ok: false, reason: 'certificate-revoked' });
    expect(await retireOlderCertificates(store, 't-a', 'B2', T0)).toBe(0);
    expect(await identity.stillAllowed('t-a', 'B2')).toBe(true);
    await store.run('UPDATE terminals SET disabled = 1 WHERE id = $1', ['t-a']);
    expect(await identity.stillAllowed('t-a', 'B2')).toBe(false);
    expect((await certificatesOf(store, 't-a')).find((c) => c.serial === 'B2')).toMatchObject({ revokedReason: 'terminal disabled' });
  });

  it('renews a good certificate, and refuses a revoked one, a disabled terminal and a sixth renewal in a day, recording nothing', async () => {
    const store = await k.fresh();
    await addTerminal(store, 't-a');
    const ca = await caIn(mkdtempSync(join(tmpdir(), 'ciao-fleet-ca-')));
    const identity = await identityOn(store, ca);
    const { csrPem } = await makeKeyAndCsr('t-a');
    const first = await ca.issue(csrPem, 't-a', { now: T0, validityDays: 30 });
    await recordCertificate(store, 't-a', first, 'pairing', new Date('2026-11-30T08:00:00.000Z'));
    const renewed = await identity.renew('t-a', first.serial, csrPem);
    expect((await certificatesOf(store, 't-a')).map((c) => c.issuedFor)).toEqual(['pairing', 'renewal']);
    expect(await judgeCertificate(store, 't-a', renewed.serial, T0)).toMatchObject({ ok: true });
    // Four more in the same day, then the sixth is refused.
    for (let i = 0; i < 4; i++) await identity.renew('t-a', renewed.serial, csrPem);
    const serials = async () => (await certificatesOf(store, 't-a')).map((c) => c.serial);
    const five = await serials();
    expect(five.length).toBe(6);
    expect(await refusal(identity.renew('t-a', renewed.serial, csrPem))).toEqual(['csr renewals-per-day']);
    expect(await refusal(identity.renew('t-a', 'FFFF', csrPem))).toEqual(['certificate certificate-unknown']);
    await store.run("UPDATE terminal_certificates SET revoked_at = $1, revoked_reason = 'operator' WHERE serial = $2", [T0.toISOString(), normalizeSerial(first.serial)]);
    expect(await refusal(identity.renew('t-a', first.serial, csrPem))).toEqual(['certificate certificate-revoked']);
    await store.run('UPDATE terminals SET disabled = 1 WHERE id = $1', ['t-a']);
    await store.run('UPDATE terminal_certificates SET revoked_at = NULL, revoked_reason = NULL WHERE serial = $1', [five[1]!]);
    expect(await refusal(identity.renew('t-a', five[1]!, csrPem))).toEqual(['certificate disabled']);
    expect(await serials()).toEqual(five);
  });
});
