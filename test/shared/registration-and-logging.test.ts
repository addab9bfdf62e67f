import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registrationSchema } from '../../shared/registration.ts';
import { parseWith } from '../../shared/schema.ts';
import { createLogger, maskNationalNumbers } from '../../shared/logging.ts';
import { migrate, openDatabase } from '../../shared/sqlite.ts';

const registration = {
  tapId: randomUUID(),
  type: 'IN',
  reason: 'work',
  at: '2026-10-25T02:30:00.000+01:00',
  ssin: '85.07.30-033.28',
  capacity: 'agency-worker',
  employer: 'BE 0428.759.497',
  declaration: '1y102m7nzf7pz',
  placeOfWork: { address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue Haute', houseNumber: '12' } },
};

describe('registration model', () => {
  it('normalises a registration typed by a person', () => {
    const r = parseWith(registrationSchema, registration);
    expect(r).toMatchObject({ ok: true, value: { ssin: '85073003328', employer: { enterpriseNumber: '0428759497' }, declaration: '1Y102M7NZF7PZ' } });
  });

  it('takes a Limosa id instead of a NISS, and coordinates instead of an address', () => {
    const { ssin: _ssin, ...rest } = registration;
    const r = parseWith(registrationSchema, { ...rest, limosaId: 'L-123456', capacity: 'posted-worker', placeOfWork: { coordinates: { latitude: 50.85, longitude: 4.35 } } });
    expect(r.ok).toBe(true);
  });

  it('names every broken field and rule', () => {
    const r = parseWith(registrationSchema, { ...registration, ssin: '85073003329', capacity: 'boss', declaration: 'SHORT', placeOfWork: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ field: 'ssin', rule: 'checksum' }),
          expect.objectContaining({ field: 'capacity', rule: 'enum' }),
          expect.objectContaining({ field: 'declaration', rule: 'length' }),
          expect.objectContaining({ field: 'placeOfWork' }),
        ]),
      );
    }
  });

  it('refuses a registration with neither NISS nor Limosa id', () => {
    const { ssin: _ssin, ...rest } = registration;
    const r = parseWith(registrationSchema, rest);
    expect(r).toMatchObject({ ok: false, problems: [{ field: 'ssin' }] });
  });
});

describe('logging', () => {
  function capture() {
    const lines: string[] = [];
    const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    return { lines, stream };
  }

  it('never writes a NISS, whether in a known field, a nested one, a message or an error', () => {
    const { lines, stream } = capture();
    const log = createLogger('test', { level: 'debug' }, stream);
    log.info({ niss: '85073003328', worker: { ssin: '17073003384' }, note: 'badge of 98.47.28-997.65' }, 'registered 01490700185');
    log.error(new Error('ONSS refused 97440936363'));
    log.info({ secret: 'hunter2', tap: { badge: '04A1B2C3' } }, 'auth');
    const out = lines.join('');
    for (const n of ['85073003328', '17073003384', '98472899765', '98.47.28-997.65', '01490700185', '97440936363', 'hunter2']) {
      expect(out).not.toContain(n);
    }
    expect(out).toContain('04A1B2C3');
    expect(out).toContain('[NISS]');
  });

  it('masks only 11-digit runs, not longer numbers or timestamps', () => {
    expect(maskNationalNumbers('at 1764165719000 seq 12345678901234')).toBe('at 1764165719000 seq 12345678901234');
    expect(maskNationalNumbers('n=85073003328.')).toBe('n=[NISS].');
  });
});

describe('sqlite', () => {
  it('creates database files private to their user, in WAL with synchronous FULL, and migrates once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-sqlite-'));
    try {
      const path = join(dir, 'sub', 'g.db');
      const db = openDatabase(path);
      migrate(db, 'x', ['CREATE TABLE a (n INTEGER)', 'INSERT INTO a VALUES (1)']);
      migrate(db, 'x', ['CREATE TABLE a (n INTEGER)', 'INSERT INTO a VALUES (1)', 'INSERT INTO a VALUES (2)']);
      expect(db.prepare('SELECT COUNT(*) AS c FROM a').get()).toEqual({ c: 2 });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
      db.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'sub')).mode & 0o077).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
