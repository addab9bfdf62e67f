import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import {
  checkPublish,
  checkSubscribe,
  decodeStatus,
  decodeTap,
  parseTerminalId,
  parseTopic,
  topicFor,
  MAX_TERMINAL_PAYLOAD_BYTES,
  rosterSchema,
  shiftsMessageSchema,
  terminalConfigSchema,
  type TapMessage,
} from '../../shared/mqtt/index.ts';

const validTap = (over: Partial<Record<keyof TapMessage, unknown>> = {}) => ({
  v: 1,
  id: randomUUID(),
  seq: 7,
  badge: '04a1b2c3d4e5f6',
  direction: 'IN',
  reason: 'work',
  at: '2026-03-02T07:15:00.000+01:00',
  ...over,
});

describe('topics', () => {
  it('builds and parses every topic of a terminal', () => {
    for (const kind of ['taps', 'acks', 'config', 'roster', 'status', 'shifts'] as const) {
      const topic = topicFor('site-a_01', kind);
      expect(topic).toBe(`ciao/v1/terminals/site-a_01/${kind}`);
      expect(parseTopic(topic)).toEqual({ ok: true, value: { terminalId: 'site-a_01', kind } });
    }
  });

  it('says what is wrong with a bad topic', () => {
    expect(parseTopic('ciao/v2/terminals/t1/taps')).toMatchObject({ ok: false, problem: { field: 'topic', rule: 'format' } });
    expect(parseTopic('ciao/v1/terminals/t1/taps/extra')).toMatchObject({ ok: false, problem: { rule: 'format' } });
    expect(parseTopic('ciao/v1/terminals/t1/secrets')).toMatchObject({ ok: false, problem: { field: 'topic.kind', rule: 'enum' } });
    expect(parseTopic('ciao/v1/terminals/+/taps')).toMatchObject({ ok: false, problem: { rule: 'wildcard' } });
    expect(parseTopic('ciao/v1/terminals/-bad/taps')).toMatchObject({ ok: false, problem: { field: 'topic.terminalId', rule: 'format' } });
  });

  it('checks terminal ids', () => {
    expect(parseTerminalId('t1')).toEqual({ ok: true, value: 't1' });
    expect(parseTerminalId('')).toMatchObject({ ok: false, problem: { rule: 'required' } });
    expect(parseTerminalId('a'.repeat(65))).toMatchObject({ ok: false, problem: { rule: 'max-length' } });
    expect(parseTerminalId('a/b')).toMatchObject({ ok: false, problem: { rule: 'format' } });
  });
});

describe('ACL', () => {
  it('lets a terminal publish its own taps and status only', () => {
    expect(checkPublish('t1', 'ciao/v1/terminals/t1/taps').ok).toBe(true);
    expect(checkPublish('t1', 'ciao/v1/terminals/t1/status').ok).toBe(true);
    expect(checkPublish('t1', 'ciao/v1/terminals/t2/taps')).toMatchObject({ ok: false, problem: { rule: 'not-own' } });
    expect(checkPublish('t1', 'ciao/v1/terminals/t1/acks')).toMatchObject({ ok: false, problem: { rule: 'direction' } });
    expect(checkPublish('t1', 'ciao/v1/terminals/t1/roster')).toMatchObject({ ok: false, problem: { rule: 'direction' } });
    expect(checkPublish('t1', '$SYS/broker/x')).toMatchObject({ ok: false });
  });

  it('lets a terminal subscribe to its own acks, config, roster and shifts by name only', () => {
    for (const kind of ['acks', 'config', 'roster', 'shifts'] as const) expect(checkSubscribe('t1', topicFor('t1', kind)).ok).toBe(true);
    expect(checkSubscribe('t1', topicFor('t2', 'shifts'))).toMatchObject({ ok: false, problem: { rule: 'not-own' } });
    expect(checkPublish('t1', topicFor('t1', 'shifts'))).toMatchObject({ ok: false, problem: { rule: 'direction' } });
    expect(checkSubscribe('t1', topicFor('t2', 'acks'))).toMatchObject({ ok: false, problem: { rule: 'not-own' } });
    expect(checkSubscribe('t1', topicFor('t1', 'taps'))).toMatchObject({ ok: false, problem: { rule: 'direction' } });
    expect(checkSubscribe('t1', 'ciao/v1/terminals/+/acks')).toMatchObject({ ok: false, problem: { rule: 'wildcard' } });
    expect(checkSubscribe('t1', 'ciao/v1/terminals/t1/#')).toMatchObject({ ok: false, problem: { rule: 'wildcard' } });
    expect(checkSubscribe('t1', '#')).toMatchObject({ ok: false, problem: { rule: 'wildcard' } });
    expect(checkSubscribe('t1', '$SYS/#')).toMatchObject({ ok: false, problem: { rule: 'system' } });
  });

  it('never grants a terminal another terminal\'s topic, whatever the ids (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$/);
    fc.assert(
      fc.property(id, id, fc.constantFrom('taps', 'acks', 'config', 'roster', 'status', 'shifts'), (me, other, kind) => {
        fc.pre(me !== other);
        const topic = `ciao/v1/terminals/${other}/${kind}`;
        expect(checkPublish(me, topic).ok).toBe(false);
        expect(checkSubscribe(me, topic).ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('tap payloads', () => {
  it('decodes a valid tap and normalises the badge and employer', () => {
    const tap = validTap({ employer: 'BE 0403.019.261' });
    const r = decodeTap(JSON.stringify(tap));
    expect(r).toEqual({ ok: true, value: { ...tap, badge: '04A1B2C3D4E5F6', employer: { enterpriseNumber: '0403019261' } } });
    expect(decodeTap(Buffer.from(JSON.stringify(validTap({ direction: 'OUT', reason: 'break' })))).ok).toBe(true);
  });

  it('rejects an oversized payload, naming its id when one can be read so the terminal can drop it', () => {
    const tap = { ...validTap(), pad: 'x'.repeat(MAX_TERMINAL_PAYLOAD_BYTES) };
    expect(decodeTap(JSON.stringify(tap))).toEqual({ ok: false, reason: 'too-large', id: tap.id, problems: [expect.objectContaining({ field: '(payload)', rule: 'max-size' })] });
    const garbage = `{"v":1,"id":"${tap.id}",` + 'x'.repeat(MAX_TERMINAL_PAYLOAD_BYTES);
    expect(decodeTap(garbage)).toMatchObject({ ok: false, reason: 'too-large', id: undefined });
  });

  it('rejects non-JSON and non-objects', () => {
    expect(decodeTap('{"v":1,')).toMatchObject({ ok: false, reason: 'not-json' });
    expect(decodeTap('[1,2]')).toMatchObject({ ok: false, reason: 'not-json' });
    expect(decodeTap('null')).toMatchObject({ ok: false, reason: 'not-json' });
  });

  it('rejects an unknown version with a reason and keeps the id for the ack', () => {
    const tap = validTap({ v: 2 });
    expect(decodeTap(JSON.stringify(tap))).toMatchObject({ ok: false, reason: 'unsupported-version', id: tap.id, problems: [{ field: 'v', rule: 'version' }] });
    expect(decodeTap(JSON.stringify({ ...tap, v: undefined }))).toMatchObject({ ok: false, reason: 'unsupported-version' });
  });

  it('names each bad field and its rule', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ id: 'not-a-uuid' }, 'id', 'format'],
      [{ seq: -1 }, 'seq', 'min'],
      [{ seq: 1.5 }, 'seq', 'type'],
      [{ badge: 'zz' }, 'badge', 'format'],
      [{ badge: '04A1B2' }, 'badge', 'format'],
      [{ direction: 'UP' }, 'direction', 'enum'],
      [{ reason: 'lunch' }, 'reason', 'enum'],
      [{ at: '2026-03-02T07:15:00' }, 'at', 'rule'],
      [{ employer: '0403019262' }, 'employer', 'checksum'],
      [{ seq: undefined }, 'seq', 'required'],
    ];
    for (const [over, field, rule] of cases) {
      const r = decodeTap(JSON.stringify(validTap(over)));
      expect(r.ok, JSON.stringify(over)).toBe(false);
      if (!r.ok) {
        expect(r.reason).toBe('invalid-field');
        expect(r.problems).toContainEqual(expect.objectContaining({ field, rule }));
        expect(r.problems.find((p) => p.field === field)!.message).toMatch(new RegExp(`^${field}: `));
      }
    }
  });

  it('accepts the optional SUN message of a secure badge (kept upper-case) and names what is wrong with a bad one', () => {
    const sun = { picc: 'ef963ff7828658a599f3041510671e88', mac: '94EED9EE65337086' };
    const r = decodeTap(JSON.stringify(validTap({ sun })));
    expect(r).toMatchObject({ ok: true, value: { sun: { picc: 'EF963FF7828658A599F3041510671E88', mac: '94EED9EE65337086' } } });
    expect(decodeTap(JSON.stringify(validTap()))).toMatchObject({ ok: true });
    const cases: Array<[unknown, string, string]> = [
      [{ ...sun, picc: 'EF963FF7' }, 'sun.picc', 'format'],
      [{ ...sun, mac: '94EED9EE6533708Z' }, 'sun.mac', 'format'],
      [{ picc: sun.picc }, 'sun.mac', 'required'],
      [{ ...sun, ctr: 61 }, 'sun.ctr', 'unknown-field'],
    ];
    for (const [bad, field, rule] of cases) {
      const d = decodeTap(JSON.stringify(validTap({ sun: bad })));
      expect(d, JSON.stringify(bad)).toMatchObject({ ok: false, reason: 'invalid-field' });
      if (!d.ok) expect(d.problems).toContainEqual(expect.objectContaining({ field, rule }));
    }
    // A tap at its largest (10-byte UID, employer, localAt, SUN) stays far below the 4 KiB limit.
    const largest = validTap({ badge: '0102030405060708090A', localAt: '2026-03-02T07:15:00.000+01:00', employer: '0403019261', sun });
    expect(Buffer.byteLength(JSON.stringify(largest))).toBeLessThan(MAX_TERMINAL_PAYLOAD_BYTES / 10);
  });

  it('rejects unknown fields by name', () => {
    const r = decodeTap(JSON.stringify({ ...validTap(), niss: '85073003328' }));
    expect(r).toMatchObject({ ok: false, reason: 'invalid-field', problems: [{ field: 'niss', rule: 'unknown-field' }] });
  });

  it('never throws, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.json().map((s) => Buffer.from(s)), fc.anything().map((v) => Buffer.from(JSON.stringify(v) ?? 'x'))), (bytes) => {
        const r = decodeTap(bytes);
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('status payloads', () => {
  it('decodes a status and refuses a bad state', () => {
    expect(decodeStatus(JSON.stringify({ state: 'online', at: '2026-03-02T07:15:00+01:00', queued: 3, clockSkewMs: -120, version: '0.1.0' })).ok).toBe(true);
    expect(decodeStatus(JSON.stringify({ state: 'sleeping', at: '2026-03-02T07:15:00+01:00' }))).toMatchObject({ ok: false, problems: [{ field: 'state', rule: 'enum' }] });
  });
});

describe('shift states (roster `shift`, the `shifts` topic, config `maxShiftHours`)', () => {
  const shift = { state: 'working', since: '2026-03-02T22:01:00.000+01:00', site: 'site-a', rev: 3 };

  it('accepts a roster entry with or without a shift, and refuses an unknown state by name', () => {
    const roster = { v: 1, updatedAt: '2026-03-02T22:00:00.000+01:00', badges: { '04A1B2C3D4E5F6': { name: 'Ana P.', employers: [], shift }, '04B7C8D9E0F1A2': { name: 'Luc D.', employers: [] } } };
    expect(rosterSchema.safeParse(roster).success).toBe(true);
    const bad = rosterSchema.safeParse({ ...roster, badges: { '04A1B2C3D4E5F6': { name: 'Ana P.', employers: [], shift: { ...shift, state: 'sleeping' } } } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['badges', '04A1B2C3D4E5F6', 'shift', 'state']);
  });

  it('accepts a shifts message, normalises each badge and refuses a revision that is not a whole number', () => {
    const r = shiftsMessageSchema.safeParse({ v: 1, badges: [{ badge: '04a1b2c3d4e5f6', ...shift }] });
    expect(r.success && r.data.badges[0]!.badge).toBe('04A1B2C3D4E5F6');
    expect(shiftsMessageSchema.safeParse({ v: 1, badges: [{ badge: '04a1b2c3d4e5f6', ...shift, rev: 1.5 }] }).success).toBe(false);
    expect(shiftsMessageSchema.safeParse({ v: 1, badges: [{ badge: '04a1b2c3d4e5f6', ...shift, since: '2026-03-02T22:01:00' }] }).success).toBe(false);
    expect(shiftsMessageSchema.safeParse({ v: 2, badges: [] }).success).toBe(false);
  });

  it('keeps configs without maxShiftHours valid and bounds it when present', () => {
    const config = { v: 1, terminalId: 't1', site: { id: 's', name: 'S' }, language: 'fr', debounceSeconds: 10, buttons: { enabled: ['IN'], armSeconds: 5 }, maxClockSkewMs: 1000, serverTime: '2026-03-02T07:00:00.000+01:00' };
    expect(terminalConfigSchema.safeParse(config).success).toBe(true);
    expect(terminalConfigSchema.safeParse({ ...config, maxShiftHours: 16 }).success).toBe(true);
    expect(terminalConfigSchema.safeParse({ ...config, maxShiftHours: 0 }).success).toBe(false);
    expect(terminalConfigSchema.safeParse({ ...config, maxShiftHours: 12.5 }).success).toBe(false);
  });
});
