import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { connectTerminal } from '../gateway/helpers/mqtt.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { brokenTap, FC_SEED, idOf, notAnObject, readableId, tooLarge, validTap, type BrokenTap } from './support/arbitraries.ts';
import { AckIndex, counterSum, health, publishPipelined } from './support/gateway.ts';
import { recordFigure } from './support/figures.ts';

/**
 * 10,000 fuzzed tap payloads (about half valid, the rest broken fields, garbage bytes and oversized
 * payloads) over a real gateway and real MQTT.js clients, pipelined from four terminals. Every message must
 * end in exactly one ack: `stored` for each valid tap (and the tap in SQLite), `rejected` with the reason
 * for each invalid one (addressed by its id when it has a readable one, else with an empty id), every
 * refusal quarantined, and the counters in /metrics must say the same.
 */
const CASES = 10_000;
const TERMINALS = 4;

type Item =
  | { kind: 'valid'; id: string; payload: Buffer }
  | { kind: 'broken'; broken: BrokenTap; key: string; payload: Buffer }
  | { kind: 'garbage'; key: ''; payload: Buffer }
  | { kind: 'too-large'; key: string; payload: Buffer };

const item: fc.Arbitrary<Item> = fc.oneof(
  { weight: 10, arbitrary: validTap.map((t): Item => {
    const tap = { ...t, id: randomUUID() }; // fresh ids: each valid tap is new to the gateway
    return { kind: 'valid', id: tap.id, payload: Buffer.from(JSON.stringify(tap)) };
  }) },
  { weight: 6, arbitrary: brokenTap.map((b): Item => {
    if (typeof b.payload.id === 'string' && b.field !== 'id') b.payload.id = randomUUID();
    const key = readableId(b.payload) ?? '';
    return { kind: 'broken', broken: { ...b, id: key || undefined }, key, payload: Buffer.from(JSON.stringify(b.payload)) };
  }) },
  { weight: 3, arbitrary: notAnObject.map((payload): Item => ({ kind: 'garbage', key: '', payload })) },
  { weight: 1, arbitrary: tooLarge.map((payload): Item => {
    // A fresh id where one can be read (each refusal is acked under its own key).
    const text = payload.toString('utf8');
    const id = idOf(payload);
    const fresh = id ? Buffer.from(text.replace(JSON.stringify(id), JSON.stringify(randomUUID()))) : payload;
    return { kind: 'too-large', key: idOf(fresh) ?? '', payload: fresh };
  }) },
);

describe('abuse: fuzzed tap stream over a real gateway', () => {
  let gw: TestGateway;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await gw?.stop();
  });

  it(`stores and acks every valid tap, rejects and quarantines every invalid one (${CASES} cases)`, async () => {
    const items = fc.sample(item, { numRuns: CASES, ...(FC_SEED !== undefined ? { seed: FC_SEED } : {}) });
    const terminals: Array<{ id: string; secret: string }> = [];
    for (let i = 0; i < TERMINALS; i++) terminals.push(await gw.addTerminal(`fuzz-${i}`));
    const acks: AckIndex[] = [];
    for (const t of terminals) {
      const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
      clients.push(c);
      acks.push(await AckIndex.attach(c, t.id));
    }
    const share = terminals.map((_, i) => items.filter((_, j) => j % TERMINALS === i));
    await Promise.all(terminals.map((t, i) => publishPipelined(clients[i]!, topicFor(t.id, 'taps'), share[i]!.map((x) => x.payload))));
    await waitUntil(() => acks.every((a, i) => a.count >= share[i]!.length), { timeoutMs: 45_000, what: 'one ack per message' });

    const valid = items.filter((x): x is Extract<Item, { kind: 'valid' }> => x.kind === 'valid');
    const invalid = items.filter((x): x is Exclude<Item, { kind: 'valid' }> => x.kind !== 'valid');
    let unreadable = 0;
    for (let i = 0; i < TERMINALS; i++) {
      const a = acks[i]!;
      expect(a.count, 'exactly one ack per message').toBe(share[i]!.length);
      // Expected acks per id: valid taps one `stored` each; refusals one `rejected` each under their key.
      const expected = new Map<string, { stored: number; rejected: number }>();
      for (const x of share[i]!) {
        const key = x.kind === 'valid' ? x.id : x.key;
        const e = expected.get(key) ?? { stored: 0, rejected: 0 };
        if (x.kind === 'valid') e.stored++;
        else e.rejected++;
        expected.set(key, e);
        if (x.kind !== 'valid' && x.key === '') unreadable++;
      }
      for (const [key, e] of expected) {
        const got = a.byId.get(key) ?? [];
        expect(got.filter((k) => k.status === 'stored').length, `stored acks for ${key}`).toBe(e.stored);
        expect(got.filter((k) => k.status === 'rejected').length, `rejected acks for ${key}`).toBe(e.rejected);
      }
      for (const x of share[i]!) {
        if (x.kind !== 'broken' || !x.key) continue;
        const [ack] = a.byId.get(x.key)!;
        if (a.byId.get(x.key)!.length !== 1) continue; // a readable but shared bad id: counted above
        expect(ack!.reason).toBe(x.broken.kind === 'version' ? 'unsupported-version' : 'invalid-field');
        expect(ack!.problems!.length).toBeGreaterThan(0);
      }
      for (const k of a.byId.get('') ?? []) {
        expect(k.status).toBe('rejected');
        expect(['not-json', 'too-large', 'invalid-field', 'unsupported-version']).toContain(k.reason);
      }
    }

    // SQLite: every valid tap stored once, every refusal quarantined (unreadable ones without an id).
    const db = gw.db();
    const storedIds = new Set((db.prepare("SELECT tap_id FROM taps WHERE terminal_id LIKE 'fuzz-%'").all() as Array<{ tap_id: string }>).map((r) => r.tap_id));
    expect(storedIds.size).toBe(valid.length);
    const lost = valid.filter((v) => !storedIds.has(v.id));
    expect(lost).toEqual([]);
    const quarantined = db.prepare("SELECT COUNT(*) AS n, SUM(tap_id IS NULL) AS noId FROM quarantine WHERE terminal_id LIKE 'fuzz-%'").get() as { n: number; noId: number };
    expect(quarantined.n).toBe(invalid.length);
    expect(quarantined.noId).toBe(invalid.filter((x) => x.key === '' && !(x.kind === 'broken' && x.broken.payload.id === '')).length);

    // Metrics say the same, and the gateway is healthy.
    const m = await gw.metrics();
    expect(counterSum(m, 'ciao_gateway_taps_received_total')).toBe(CASES);
    expect(counterSum(m, 'ciao_gateway_taps_stored_total')).toBe(valid.length);
    expect(counterSum(m, 'ciao_gateway_taps_rejected_total')).toBe(invalid.length);
    expect(counterSum(m, 'ciao_gateway_taps_rejected_total', { reason: 'too-large' })).toBe(invalid.filter((x) => x.kind === 'too-large').length);
    const h = await health(gw.httpPort);
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('ok');
    expect(clients.every((c) => c.connected)).toBe(true);

    recordFigure('mqtt-stream', 'messages', CASES);
    recordFigure('mqtt-stream', 'valid taps stored and acked', storedIds.size);
    recordFigure('mqtt-stream', 'invalid payloads rejected and quarantined', quarantined.n);
    recordFigure('mqtt-stream', 'rejections without a readable id', unreadable);
    recordFigure('mqtt-stream', 'lost valid taps', lost.length);
  });
});
