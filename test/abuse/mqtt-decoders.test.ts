import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeStatus, decodeTap, MAX_TERMINAL_PAYLOAD_BYTES, REJECT_REASONS, type Decoded } from '../../shared/mqtt/payloads.ts';
import { checkPublish, checkSubscribe, parseTopic, TERMINAL_PUBLISHES, TERMINAL_SUBSCRIBES, topicFor, TOPIC_KINDS } from '../../shared/mqtt/topics.ts';
import { brokenTap, idOf, notAnObject, runs, tooLarge, validTap } from './support/arbitraries.ts';
import { recordFigure } from './support/figures.ts';

/**
 * The MQTT input surface without a broker: every payload and topic a terminal (or an attacker holding a
 * terminal's secret) can send goes through these pure functions first. 10,000+ cases per property.
 */
const N = 10_000;

function expectWellFormedRefusal(d: Decoded<unknown>): asserts d is Extract<Decoded<unknown>, { ok: false }> {
  expect(d.ok).toBe(false);
  if (d.ok) return;
  expect(REJECT_REASONS).toContain(d.reason);
  expect(d.problems.length).toBeGreaterThan(0);
  for (const p of d.problems) {
    expect(typeof p.field).toBe('string');
    expect(p.field.length).toBeGreaterThan(0);
    expect(typeof p.rule).toBe('string');
    expect(p.rule.length).toBeGreaterThan(0);
    expect(p.message.length).toBeGreaterThan(0);
  }
}

describe('abuse: tap and status decoders (pure)', () => {
  it('accepts every valid tap and keeps its fields (badge upper-cased)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(validTap, (tap) => {
        const d = decodeTap(JSON.stringify(tap));
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        expect(d.value.id).toBe(tap.id);
        expect(d.value.seq).toBe(tap.seq);
        expect(d.value.badge).toBe(tap.badge.toUpperCase());
        expect(d.value.at).toBe(tap.at);
        accepted++;
      }),
      runs(N),
    );
    recordFigure('decoders', 'valid taps accepted', accepted);
  });

  it('refuses a tap with one broken, missing or unknown field, naming that field, and reads back its id', () => {
    let refused = 0;
    fc.assert(
      fc.property(brokenTap, (b) => {
        const d = decodeTap(JSON.stringify(b.payload));
        expectWellFormedRefusal(d);
        if (b.kind === 'version') {
          expect(d.reason).toBe('unsupported-version');
          expect(d.problems[0]!.field).toBe('v');
        } else {
          expect(d.reason).toBe('invalid-field');
          const shown = b.field === '' ? '""' : b.field;
          const named = d.problems.some((p) => p.field === shown || p.field.split(', ').includes(shown) || p.field.startsWith(`${shown}.`));
          expect(named, `${b.kind} ${b.field}: ${JSON.stringify(d.problems)}`).toBe(true);
          // A missing string or number is `required`; a missing enum is reported by its allowed values.
          if (b.kind === 'missing') expect(['required', 'enum']).toContain(d.problems.find((p) => p.field === b.field)!.rule);
        }
        expect(d.id).toBe(b.id);
        refused++;
      }),
      runs(N),
    );
    recordFigure('decoders', 'broken taps refused naming the field', refused);
  });

  it('refuses bytes that are not a JSON object as not-json, with no id, never throwing', () => {
    let refused = 0;
    fc.assert(
      fc.property(notAnObject, (bytes) => {
        const d = decodeTap(bytes);
        expectWellFormedRefusal(d);
        expect(d.reason).toBe('not-json');
        expect(d.id).toBeUndefined();
        refused++;
      }),
      runs(N),
    );
    recordFigure('decoders', 'non-object payloads refused', refused);
  });

  it('refuses payloads over 4 KiB, naming the id when one can be read', () => {
    fc.assert(
      fc.property(tooLarge, (bytes) => {
        const d = decodeTap(bytes);
        expectWellFormedRefusal(d);
        expect(bytes.length).toBeGreaterThan(MAX_TERMINAL_PAYLOAD_BYTES);
        expect(d.reason).toBe('too-large');
        expect(d.problems[0]).toMatchObject({ field: '(payload)', rule: 'max-size' });
        expect(d.id).toBe(idOf(bytes));
      }),
      runs(2_000),
    );
  });

  it('never throws on any bytes or any JSON value, for taps and for status messages', () => {
    let cases = 0;
    const anyPayload = fc.oneof(
      fc.uint8Array({ maxLength: 5000 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 500 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? ''),
      fc.anything({ maxDepth: 2 }).map((v) => {
        try {
          return JSON.stringify(v) ?? '';
        } catch {
          return String(v);
        }
      }),
    );
    fc.assert(
      fc.property(anyPayload, (p) => {
        for (const d of [decodeTap(p), decodeStatus(p)] as Decoded<unknown>[]) {
          if (!d.ok) expectWellFormedRefusal(d);
        }
        cases++;
      }),
      runs(N),
    );
    recordFigure('decoders', 'arbitrary payloads (tap and status decoders)', cases);
  });
});

describe('abuse: topic ACL (pure)', () => {
  const terminalId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/);
  /** Topics near the real ones (other ids, kinds, levels, wildcards, $SYS) plus arbitrary strings. */
  const topic = (own: string) =>
    fc.oneof(
      fc.constantFrom(...TOPIC_KINDS).map((k) => topicFor(own, k)),
      fc.tuple(terminalId, fc.constantFrom(...TOPIC_KINDS)).map(([id, k]) => topicFor(id, k)),
      fc.tuple(fc.constantFrom('+', '#', `${own}/+`, `${own}/#`, `${own}/x`, '', ' ', own.toUpperCase(), `${own} `), fc.constantFrom(...TOPIC_KINDS, '+', '#', '', 'taps/x')).map(([id, k]) => `ciao/v1/terminals/${id}/${k}`),
      fc.constantFrom('#', '+', '$SYS/#', '$share/g/ciao/v1/terminals/+/taps', 'ciao/v1/terminals/#', 'ciao/v1/#', '/ciao/v1/terminals/x/taps', 'ciao/v2/terminals/x/taps'),
      fc.array(fc.constantFrom('ciao', 'v1', 'terminals', own, 'taps', 'acks', '+', '#', '', '$SYS'), { minLength: 1, maxLength: 12 }).map((parts) => parts.join('/')),
      fc.string({ unit: 'binary', maxLength: 80 }),
    );

  it('lets a terminal publish only to its own taps and status, and subscribe only to its own acks, config, roster and shifts', () => {
    let cases = 0;
    let denied = 0;
    fc.assert(
      fc.property(terminalId.chain((own) => fc.tuple(fc.constant(own), topic(own))), ([own, t]) => {
        const pub = checkPublish(own, t);
        const sub = checkSubscribe(own, t);
        const mayPublish = TERMINAL_PUBLISHES.some((k) => topicFor(own, k) === t);
        const maySubscribe = TERMINAL_SUBSCRIBES.some((k) => topicFor(own, k) === t);
        expect(pub.ok).toBe(mayPublish);
        expect(sub.ok).toBe(maySubscribe);
        for (const r of [pub, sub]) {
          if (!r.ok) {
            expect(r.problem.field).toMatch(/^topic/);
            expect(r.problem.rule.length).toBeGreaterThan(0);
            denied++;
          }
        }
        const parsed = parseTopic(t);
        if (parsed.ok) expect(topicFor(parsed.value.terminalId, parsed.value.kind)).toBe(t);
        cases++;
      }),
      runs(N),
    );
    recordFigure('decoders', 'topic/ACL cases', cases);
    recordFigure('decoders', 'topic/ACL refusals', denied);
  });
});
