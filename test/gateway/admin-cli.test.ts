import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ciao } from './helpers/cli.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { verifySecret } from '../../gateway/site-data/secrets.ts';
import type { Db } from '../../shared/sqlite.ts';

const CLEAN = makeEnterpriseNumber('04030192');
const SHINE = makeEnterpriseNumber('04287594');
const NISS_A = makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33);
const NISS_B = makeWorkerNumber({ year: 2003, month: 2, day: 14 }, 12);
const BIS_C = makeWorkerNumber({ year: 1990, month: 3, day: 12 }, 101, 'bis');

describe('ciao admin', () => {
  let dir: string;
  let dbPath: string;
  const admin = (...args: string[]) => ciao(['admin', '--db', dbPath, ...args]);
  const withDb = <T>(fn: (db: Db) => T): T => {
    const db = openGatewayDatabase(dbPath);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-admin-'));
    dbPath = join(dir, 'gateway.db');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has --help for admin and every entity subcommand', async () => {
    const top = await ciao(['admin', '--help']);
    expect(top.code).toBe(0);
    for (const entity of ['company', 'site', 'declaration', 'terminal', 'worker', 'placement', 'badge', 'tap']) {
      expect(top.stdout).toContain(entity);
    }
    const results = await Promise.all(['company', 'site', 'declaration', 'terminal', 'worker', 'placement', 'badge', 'tap', 'terminal add', 'worker import', 'badge import', 'placement add', 'tap choose-employer'].map((c) => ciao(['admin', ...c.split(' '), '--help'])));
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: ciao admin/);
    }
  });

  it('asks which database when none is given', async () => {
    const r = await ciao(['admin', 'company', 'list'], { CIAO_GATEWAY_DATABASE: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--db FILE or --config FILE/);
  });

  it('adds companies and refuses a bad enterprise number naming the rule', async () => {
    expect((await admin('company', 'add', CLEAN, '--name', 'Net & Clean')).code).toBe(0);
    expect((await admin('company', 'add', `BE ${SHINE.slice(0, 4)}.${SHINE.slice(4, 7)}.${SHINE.slice(7)}`, '--name', 'Shine')).code).toBe(0);
    expect((await admin('company', 'add', 'FR40123456789', '--name', 'Propreté du Nord')).code).toBe(0);
    const bad = await admin('company', 'add', `${CLEAN.slice(0, 9)}${(Number(CLEAN[9]) + 1) % 10}`, '--name', 'Typo');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/number: .*\(rule: checksum\)/);
    const list = await admin('company', 'list', '--json');
    expect(JSON.parse(list.stdout).map((c: { id: string }) => c.id).sort()).toEqual([CLEAN, SHINE, 'FR40123456789'].sort());
  });

  it('adds sites with an address or coordinates, and refuses one with neither', async () => {
    expect((await admin('site', 'add', 'tilleuls', '--name', 'Les Tilleuls', '--post-code', '1000', '--municipality', 'Bruxelles', '--street', 'Rue des Tilleuls', '--house-number', '14')).code).toBe(0);
    expect((await admin('site', 'add', 'meir', '--name', 'Meir', '--language', 'nl', '--lat', '51.2182', '--lon', '4.4086')).code).toBe(0);
    const none = await admin('site', 'add', 'nowhere', '--name', 'Nowhere');
    expect(none.stderr).toMatch(/placeOfWork: .*\(rule: required\)/);
    const badPost = await admin('site', 'add', 'x', '--name', 'X', '--post-code', '10', '--municipality', 'B', '--street', 'S', '--house-number', '1');
    expect(badPost.stderr).toMatch(/address\.postCode/);
    const list = JSON.parse((await admin('site', 'list', '--json')).stdout) as Array<{ id: string }>;
    expect(list.map((s) => s.id)).toEqual(['meir', 'tilleuls']);
  });

  it('adds declarations with their contractor chain, and refuses a bad number naming the rule', async () => {
    const ok = await admin('declaration', 'add', '1Y102M7NZF7PZ', '--site', 'tilleuls', '--from', '2026-01-01', '--company', CLEAN, '--company', SHINE);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${CLEAN} > ${SHINE}`);
    const withO = await admin('declaration', 'add', '1Y102M7NZF7PO', '--site', 'tilleuls', '--from', '2026-01-01', '--company', CLEAN);
    expect(withO.stderr).toMatch(/number: .*\(rule: alphabet\)/);
    const short = await admin('declaration', 'add', '1Y102', '--site', 'tilleuls', '--from', '2026-01-01', '--company', CLEAN);
    expect(short.stderr).toMatch(/\(rule: length\)/);
    const unknownCompany = await admin('declaration', 'add', '3PZ8D5RT6JW2A', '--site', 'meir', '--from', '2026-13-01', '--company', '0412345670');
    expect(unknownCompany.stderr).toMatch(/from: .*\(rule: (format|date)\)/);
    const list = JSON.parse((await admin('declaration', 'list', '--json')).stdout);
    expect(list).toEqual([{ number: '1Y102M7NZF7PZ', siteId: 'tilleuls', validFrom: '2026-01-01', validTo: null, companies: [CLEAN, SHINE], ciaoUrl: null }]);
    // FAQ 31: the declaration's CIaO URL (its QR code), the fallback when a terminal cannot register.
    const url = 'https://www.socialsecurity.be/ciao/1Y102M7NZF7PZ';
    expect((await admin('declaration', 'add', '1Y102M7NZF7PZ', '--site', 'tilleuls', '--from', '2026-01-01', '--company', CLEAN, '--company', SHINE, '--ciao-url', url)).stdout).toContain(`CIaO ${url}`);
    expect((await admin('declaration', 'add', '1Y102M7NZF7PZ', '--site', 'tilleuls', '--from', '2026-01-01', '--company', CLEAN, '--ciao-url', 'http://insecure.example')).stderr).toMatch(/ciaoUrl: .*\(rule: https-url\)/);
    expect(JSON.parse((await admin('declaration', 'list', '--json')).stdout)[0].ciaoUrl).toBe(url);
  });

  it('adds a terminal printing its secret once, stores only its hash, and disables, enables, rotates, lists', async () => {
    const add = await admin('terminal', 'add', 'tilleuls-1', '--site', 'tilleuls', '--debounce', '30');
    expect(add.code).toBe(0);
    const secret = /secret: (\S+)/.exec(add.stdout)![1]!;
    const hash = withDb((db) => (db.prepare('SELECT secret_hash FROM terminals WHERE id = ?').get('tilleuls-1') as { secret_hash: string }).secret_hash);
    expect(hash).not.toContain(secret);
    expect(await verifySecret(secret, hash)).toBe(true);
    expect((await admin('terminal', 'add', 'tilleuls-1', '--site', 'tilleuls')).stderr).toMatch(/rule: unique/);
    expect((await admin('terminal', 'add', 'bad/id', '--site', 'tilleuls')).stderr).toMatch(/id: .*rule: format/);

    expect((await admin('terminal', 'disable', 'tilleuls-1')).code).toBe(0);
    expect(withDb((db) => db.prepare('SELECT disabled FROM terminals WHERE id = ?').pluck().get('tilleuls-1'))).toBe(1);
    expect((await admin('terminal', 'enable', 'tilleuls-1')).code).toBe(0);
    const rotated = await admin('terminal', 'rotate-secret', 'tilleuls-1');
    const newSecret = /secret: (\S+)/.exec(rotated.stdout)![1]!;
    const newHash = withDb((db) => db.prepare('SELECT secret_hash FROM terminals WHERE id = ?').pluck().get('tilleuls-1') as string);
    expect(await verifySecret(newSecret, newHash)).toBe(true);
    expect(await verifySecret(secret, newHash)).toBe(false);
    expect((await admin('terminal', 'set', 'tilleuls-1', '--buttons', 'IN,OUT')).stdout).toContain('buttons IN,OUT');
    expect((await admin('terminal', 'set', 'tilleuls-1', '--buttons', 'SIDEWAYS')).stderr).toMatch(/rule: enum/);
    const list = JSON.parse((await admin('terminal', 'list', '--json')).stdout);
    expect(list).toEqual([expect.objectContaining({ id: 'tilleuls-1', site: 'tilleuls', disabled: false, debounce: 30, state: 'never-seen' })]);
    expect((await admin('terminal', 'disable', 'nope')).stderr).toMatch(/terminal nope does not exist/);
  });

  it('adds workers, refuses an invalid NISS naming the rule, and lists them with the NISS masked', async () => {
    const ok = await admin('worker', 'add', '--niss', NISS_A, '--name', 'Ana Peeters', '--employer', CLEAN, '--id', 'w-ana');
    expect(ok.code).toBe(0);
    const bad = await admin('worker', 'add', '--niss', `${NISS_A.slice(0, 10)}${(Number(NISS_A[10]) + 1) % 10}`, '--name', 'Typo', '--employer', CLEAN);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/niss: .*\(rule: checksum\)/);
    expect((await admin('worker', 'add', '--niss', NISS_B, '--name', 'No Employer', '--employer', '0412345670')).stderr).toMatch(/employer\[0\].*rule: (checksum|exists)/);
    expect((await admin('worker', 'add', '--niss', NISS_B, '--name', 'Bad capacity', '--capacity', 'boss', '--employer', CLEAN)).stderr).toMatch(/capacity: .*rule: enum/);
    expect((await admin('worker', 'add', '--limosa', 'L-123456', '--name', 'Posted Worker', '--capacity', 'posted-worker', '--employer', 'FR40123456789')).code).toBe(0);
    const list = await admin('worker', 'list');
    expect(list.stdout).toContain('Ana Peeters');
    expect(list.stdout).not.toContain(NISS_A);
    expect(list.stdout).toContain(`*********${NISS_A.slice(-2)}`);
  });

  it('binds, lists and revokes badges', async () => {
    expect((await admin('badge', 'add', '04a1b2c3d4e5f6', '--worker', NISS_A, '--from', '2026-01-01')).stdout).toContain('04A1B2C3D4E5F6 -> worker w-ana');
    expect((await admin('badge', 'add', 'XYZ', '--worker', 'w-ana')).stderr).toMatch(/uid: .*rule: format/);
    expect((await admin('badge', 'add', 'AABBCCDD', '--worker', 'w-nobody')).stderr).toMatch(/worker: .*rule: exists/);
    expect((await admin('badge', 'revoke', '04A1B2C3D4E5F6', '--reason', 'lost')).code).toBe(0);
    const list = JSON.parse((await admin('badge', 'list', '--json')).stdout);
    expect(list[0]).toMatchObject({ uid: '04A1B2C3D4E5F6', workerId: 'w-ana', revokedReason: 'lost' });
  });

  it('imports workers from CSV: bad lines reported by line and field, good lines kept', async () => {
    const file = join(dir, 'workers.csv');
    writeFileSync(
      file,
      [
        'niss;name;capacity;employers',
        `${NISS_B};Bert Jacobs;employee;${CLEAN}|${SHINE}`,
        `12345678901;Wrong Checksum;employee;${CLEAN}`,
        `${BIS_C};Piotr Nowak;posted-worker;FR40123456789`,
        `${makeWorkerNumber({ year: 1970, month: 1, day: 9 }, 57)};;employee;${CLEAN}`,
        `${makeWorkerNumber({ year: 1971, month: 1, day: 9 }, 58)};Unknown Employer;employee;0412345670`,
        `"${makeWorkerNumber({ year: 1972, month: 5, day: 9 }, 59)}";"Quoted; Name";team-leader;${CLEAN}`,
      ].join('\n'),
    );
    const r = await admin('worker', 'import', file);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('workers: 3 imported, 3 rejected');
    expect(r.stdout).toMatch(/line 3: niss: .*rule: checksum/);
    expect(r.stdout).toMatch(/line 5: name: .*rule: required/);
    expect(r.stdout).toMatch(/line 6: employer\[0\]/);
    expect(r.stdout).not.toMatch(/line [247]:/);
    const names = withDb((db) => db.prepare('SELECT name FROM workers ORDER BY name').pluck().all());
    expect(names).toEqual(['Ana Peeters', 'Bert Jacobs', 'Piotr Nowak', 'Posted Worker', 'Quoted; Name']);
    const employers = withDb((db) => db.prepare("SELECT company_id FROM worker_employers we JOIN workers w ON w.id = we.worker_id WHERE w.name = 'Bert Jacobs' ORDER BY company_id").pluck().all());
    expect(employers).toEqual([CLEAN, SHINE].sort());
  });

  it('imports badges from CSV: bad lines reported by line and field, good lines kept', async () => {
    const file = join(dir, 'badges.csv');
    writeFileSync(
      file,
      [
        'uid,worker,from,to',
        `AABBCC01,${NISS_B},2026-01-01,`,
        'NOTHEX!!,w-ana,2026-01-01,',
        `AABBCC02,${BIS_C},2026-01-01,2026-12-31`,
        'AABBCC03,w-ghost,2026-01-01,',
        'AABBCC04,w-ana,2026-02-30,',
        'AABBCC05,L-123456,2026-01-01,2025-01-01',
        'AABBCC06,w-ana',
      ].join('\n'),
    );
    const r = await admin('badge', 'import', file);
    expect(r.stdout).toContain('badges: 3 imported, 4 rejected');
    expect(r.stdout).toMatch(/line 3: uid: .*rule: format/);
    expect(r.stdout).toMatch(/line 5: worker: .*rule: exists/);
    expect(r.stdout).toMatch(/line 6: from: .*rule: date/);
    expect(r.stdout).toMatch(/line 7: to: .*rule: order/);
    const uids = withDb((db) => db.prepare('SELECT uid FROM badges ORDER BY uid').pluck().all());
    expect(uids).toEqual(['04A1B2C3D4E5F6', 'AABBCC01', 'AABBCC02', 'AABBCC06']);
  });

  it('reads the database path from a gateway config with --config', async () => {
    const cfg = join(dir, 'gateway.json');
    writeFileSync(cfg, JSON.stringify({ database: 'gateway.db' }));
    const r = await ciao(['admin', '--config', cfg, 'site', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tilleuls');
  });

  it('lists taps awaiting attention and the quarantine', async () => {
    withDb((db) => {
      db.prepare("INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, enrichment_detail) VALUES ('t-1', 'tilleuls-1', 'tilleuls', 1, 'FFEEDDCC', 'IN', 'work', '2026-03-02T07:00:00.000+01:00', '2026-03-02T06:00:00.000Z', 'unknown-badge', 'badge FFEEDDCC is not known')").run();
      db.prepare("INSERT INTO quarantine (terminal_id, tap_id, reason, problems, payload, payload_size, received_at) VALUES ('tilleuls-1', NULL, 'not-json', '[]', x'00', 1, '2026-03-02T06:00:00.000Z')").run();
    });
    expect((await admin('tap', 'list')).stdout).toMatch(/t-1.*unknown-badge/);
    expect((await admin('tap', 'quarantine')).stdout).toMatch(/not-json/);
  });

  it('sends held taps late from the command line: a badge enrolled, an employer chosen; places an agency worker', async () => {
    const at = toOffsetIso(new Date(Date.now() - 3_600_000));
    const day = at.slice(0, 10);
    withDb((db) => {
      db.prepare("INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, enrichment_detail) VALUES ('t-held', 'tilleuls-1', 'tilleuls', 2, 'FFEEDD01', 'IN', 'work', ?, ?, 'unknown-badge', 'badge FFEEDD01 is not known')").run(at, new Date().toISOString());
    });
    const enrol = await admin('badge', 'add', 'FFEEDD01', '--worker', 'w-ana', '--from', day);
    expect(enrol.stdout).toContain('held taps sent late with their original time: 1');
    expect(enrol.stdout).toMatch(new RegExp(`${at.replace(/[.+]/g, '\\$&')} IN badge FFEEDD01 at tilleuls-1 \\(held: unknown-badge\\)`));
    expect(withDb((db) => db.prepare("SELECT at, employer_id FROM registrations WHERE tap_id = 't-held'").get())).toEqual({ at, employer_id: CLEAN });

    // A worker with two employers on the chain who chose none: the site manager chooses.
    expect((await admin('worker', 'add', '--niss', makeWorkerNumber({ year: 1979, month: 11, day: 2 }, 118), '--name', 'Luc Dubois', '--employer', CLEAN, '--employer', SHINE, '--id', 'w-luc')).code).toBe(0);
    expect((await admin('badge', 'add', 'FFEEDD02', '--worker', 'w-luc', '--from', day)).code).toBe(0);
    withDb((db) => {
      db.prepare("INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, enrichment_detail, worker_id) VALUES ('t-choice', 'tilleuls-1', 'tilleuls', 3, 'FFEEDD02', 'IN', 'work', ?, ?, 'employer-choice-needed', 'the worker has 2 employers', 'w-luc')").run(at, new Date().toISOString());
    });
    expect((await admin('tap', 'choose-employer', 't-choice', '--employer', 'FR40123456789')).stderr).toMatch(/employer: .*rule: employer-choice/);
    const dry = await admin('tap', 'choose-employer', 't-choice', '--employer', SHINE, '--dry-run');
    expect(dry.stdout).toContain('would send:');
    expect(withDb((db) => db.prepare("SELECT COUNT(*) FROM registrations WHERE tap_id = 't-choice'").pluck().get())).toBe(0);
    expect((await admin('tap', 'choose-employer', 't-choice', '--employer', SHINE)).stdout).toContain('held taps sent late with their original time: 1');
    expect(withDb((db) => db.prepare("SELECT employer_id FROM registrations WHERE tap_id = 't-choice'").pluck().get())).toBe(SHINE);

    // FAQ 26: an agency placement.
    const placed = await admin('placement', 'add', '--worker', 'w-luc', '--agency', SHINE, '--user-company', CLEAN, '--from', '2026-01-01', '--id', 'p-luc');
    expect(placed.stdout).toContain(`placement p-luc: worker w-luc by agency ${SHINE} with ${CLEAN} 2026-01-01..`);
    expect((await admin('placement', 'add', '--worker', 'w-luc', '--agency', CLEAN, '--user-company', CLEAN, '--from', '2026-01-01')).stderr).toMatch(/userCompany: .*rule: differs/);
    expect(JSON.parse((await admin('placement', 'list', '--json')).stdout)).toEqual([{ id: 'p-luc', workerId: 'w-luc', workerName: 'Luc Dubois', agencyId: SHINE, userCompanyId: CLEAN, validFrom: '2026-01-01', validTo: null }]);
  });

  it('deactivates instead of deleting, and records every change in the audit trail as the system user', async () => {
    const off = await admin('company', 'deactivate', 'FR40123456789');
    expect(off.stdout).toContain('company FR40123456789 deactivated');
    expect((await admin('company', 'list')).stdout).not.toContain('FR40123456789');
    expect((await admin('company', 'list', '--all')).stdout).toContain('FR40123456789');
    expect(withDb((db) => db.prepare("SELECT deactivated_at IS NOT NULL AS off FROM companies WHERE id = 'FR40123456789'").get())).toEqual({ off: 1 });
    // A worker employed by a deactivated company is refused, naming the field and rule.
    const refused = await admin('worker', 'add', '--niss', makeWorkerNumber({ year: 1977, month: 7, day: 7 }, 77), '--name', 'New One', '--employer', 'FR40123456789');
    expect(refused.stderr).toMatch(/employer\[0\]: .*\(rule: active\)/);
    expect((await admin('company', 'reactivate', 'FR40123456789')).code).toBe(0);
    const audit = JSON.parse((await admin('audit', '--entity', 'company', '--json')).stdout) as Array<{ action: string; who: string; entityId: string }>;
    expect(audit.slice(0, 2).map((e) => [e.action, e.entityId])).toEqual([['reactivate', 'FR40123456789'], ['deactivate', 'FR40123456789']]);
    expect(audit[0]!.who).toMatch(/^cli:/);
    const csv = (await admin('audit', '--csv')).stdout;
    expect(csv.split('\r\n')[0]).toBe('id,at,actor_kind,actor_id,actor_name,action,entity,entity_id,site_id,before,after,cause_id');
    expect(csv).not.toContain(NISS_A);
  });

  it('sets a terminal\'s language and feedback time, and makes a pairing code stored only hashed', async () => {
    const version = () => withDb((db) => db.prepare("SELECT config_version FROM terminals WHERE id = 'tilleuls-1'").pluck().get() as number);
    const before = version();
    const set = await admin('terminal', 'set', 'tilleuls-1', '--language', 'nl', '--feedback', '2.5');
    expect(set.code).toBe(0);
    expect(withDb((db) => db.prepare("SELECT language, feedback_seconds FROM terminals WHERE id = 'tilleuls-1'").get())).toEqual({ language: 'nl', feedback_seconds: 2.5 });
    expect(version()).toBe(before + 1);
    const bad = await admin('terminal', 'set', 'tilleuls-1', '--language', 'it');
    expect(bad.stderr).toMatch(/language: .*\(rule: enum\)/);
    const code = await admin('terminal', 'pairing-code', 'tilleuls-1');
    const value = /pairing code for tilleuls-1: (\S+)/.exec(code.stdout)![1]!;
    expect(value).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    expect(JSON.stringify(withDb((db) => db.prepare('SELECT * FROM terminal_pairings').all()))).not.toContain(value);
  });
});
