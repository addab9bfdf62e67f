import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';
import { ackSchema, MAX_TERMINAL_PAYLOAD_BYTES } from '../../shared/mqtt/payloads.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import type { RegistrationRow } from '../../gateway/store/registrations-schema.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * A running gateway on each database (SQLite always, PostgreSQL where installed): acks only after the
 * commit, a tap stored once however often it comes, rejected payloads quarantined with their reasons, and
 * group commit of many terminals' taps. The test reads the gateway's database through the storage port.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

describe.each(kinds.map((k) => [k.kind, k] as const))('durable ingest with acks (%s)', (_kind, k) => {
  let gw: TestGateway;
  let store: SqlStore;
  let client: MqttClient;
  let acks: AckCollector;
  let terminal: { id: string; secret: string };

  beforeAll(async () => {
    gw = await startTestGateway({ store: k });
    store = await gw.store();
    terminal = await gw.addTerminal('ingest-1');
    client = await connectTerminal(gw.mqttPort, terminal.id, terminal.secret);
    acks = await AckCollector.attach(client, terminal.id);
  });
  afterAll(async () => {
    await client?.endAsync();
    await gw?.stop();
  });

  it('stores a valid tap, then acks it as stored with the gateway clock', async () => {
    const tap = makeTap(gw.seed.workers.solo.badge);
    await publishTap(client, terminal.id, tap);
    const [ack] = await acks.waitFor(tap.id);
    expect(ackSchema.parse(ack)).toMatchObject({ id: tap.id, status: 'stored' });
    expect(ack!.display!.length).toBeGreaterThan(0);
    expect(Math.abs(Date.parse(ack!.now) - Date.now())).toBeLessThan(60_000);
    const row = await store.one<{ enrichment: string }>('SELECT * FROM taps WHERE tap_id = $1', [tap.id]);
    expect(row!.enrichment).toBe('enriched');
  });

  it('accepts a tap carrying the SUN message of a secure badge (verification comes later) and stores it like any tap', async () => {
    const tap = { ...makeTap(gw.seed.workers.solo.badge, { direction: 'OUT' }), sun: { picc: 'EF963FF7828658A599F3041510671E88', mac: '94EED9EE65337086' } };
    await publishTap(client, terminal.id, tap);
    const [ack] = await acks.waitFor(tap.id);
    expect(ack).toMatchObject({ id: tap.id, status: 'stored' });
    expect(await store.one('SELECT COUNT(*) AS n FROM registrations WHERE tap_id = $1', [tap.id])).toEqual({ n: 1 });
  });

  it('stores a tap sent twice once and acks it twice', async () => {
    const tap = makeTap(gw.seed.workers.solo.badge, { direction: 'OUT' });
    await publishTap(client, terminal.id, tap);
    await acks.waitFor(tap.id, 1);
    await publishTap(client, terminal.id, tap);
    const both = await acks.waitFor(tap.id, 2);
    expect(both.map((a) => a.status)).toEqual(['stored', 'stored']);
    expect(await store.one('SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [tap.id])).toEqual({ n: 1 });
    expect(await store.one('SELECT COUNT(*) AS n FROM registrations WHERE tap_id = $1', [tap.id])).toEqual({ n: 1 });
  });

  it('rejects malformed, oversized and wrong-version payloads with reasons, and still stores the valid taps of the same connection', async () => {
    const good1 = makeTap(gw.seed.workers.solo.badge);
    const wrongVersion = { ...makeTap(gw.seed.workers.solo.badge), v: 2 };
    const badField = { ...makeTap(gw.seed.workers.solo.badge), direction: 'SIDEWAYS' };
    const badEmployer = makeTap(gw.seed.workers.duo.badge, { employer: '0403019262' });
    const oversized = { ...makeTap(gw.seed.workers.solo.badge), padding: 'x'.repeat(MAX_TERMINAL_PAYLOAD_BYTES) };
    const good2 = makeTap(gw.seed.workers.solo.badge, { direction: 'OUT' });
    await publishTap(client, terminal.id, good1);
    await publishTap(client, terminal.id, '{"v":1,"id":"not json');
    await publishTap(client, terminal.id, wrongVersion);
    await publishTap(client, terminal.id, badField);
    await publishTap(client, terminal.id, badEmployer);
    await publishTap(client, terminal.id, oversized);
    await publishTap(client, terminal.id, good2);

    expect((await acks.waitFor(good1.id))[0]!.status).toBe('stored');
    expect((await acks.waitFor(good2.id))[0]!.status).toBe('stored');
    const wv = (await acks.waitFor(wrongVersion.id))[0]!;
    expect(wv).toMatchObject({ status: 'rejected', reason: 'unsupported-version' });
    expect(wv.problems![0]!.field).toBe('v');
    const bf = (await acks.waitFor(badField.id))[0]!;
    expect(bf).toMatchObject({ status: 'rejected', reason: 'invalid-field' });
    expect(bf.problems!.map((p) => p.field)).toContain('direction');
    const be = (await acks.waitFor(badEmployer.id))[0]!;
    expect(be).toMatchObject({ status: 'rejected', reason: 'invalid-field' });
    expect(be.problems).toContainEqual(expect.objectContaining({ field: 'employer', rule: 'checksum' }));
    // An oversized tap whose id can be read is rejected by that id (docs/mqtt-api.md): the terminal drops it.
    expect((await acks.waitFor(oversized.id))[0]).toMatchObject({ status: 'rejected', reason: 'too-large' });
    // A payload whose id cannot be read is acked with an empty id and the reason.
    const noId = await waitUntil(() => (acks.for('').length >= 1 ? acks.for('') : undefined));
    expect(noId.map((a) => a.reason)).toEqual(['not-json']);

    const q = await store.all<{ reason: string; tap_id: string | null; problems: string; payload_size: number }>('SELECT reason, tap_id, problems, payload_size FROM quarantine ORDER BY id');
    expect(q.map((r) => r.reason).sort()).toEqual(['invalid-field', 'invalid-field', 'not-json', 'too-large', 'unsupported-version']);
    expect(q.find((r) => r.reason === 'too-large')!.payload_size).toBeGreaterThan(MAX_TERMINAL_PAYLOAD_BYTES);
    for (const id of [wrongVersion.id, badField.id, badEmployer.id]) {
      expect(await store.one('SELECT 1 AS found FROM taps WHERE tap_id = $1', [id])).toBeUndefined();
    }
    const metrics = await gw.metrics();
    expect(metrics).toMatch(/ciao_gateway_taps_rejected_total\{reason="invalid-field"\} 2/);
    expect(metrics).toMatch(/ciao_gateway_taps_rejected_total\{reason="not-json"\} 1/);
    // The connection survived it all.
    expect(client.connected).toBe(true);
  });

  it('commits concurrent taps of many terminals in groups and acks each once', async () => {
    const terminals = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const t = await gw.addTerminal(`ingest-many-${i}`);
        const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
        return { t, c, acks: await AckCollector.attach(c, t.id) };
      }),
    );
    const sent = terminals.map(({ t, c }) => {
      const taps = Array.from({ length: 40 }, () => makeTap(gw.seed.workers.solo.badge));
      for (const tap of taps) void c.publishAsync(topicFor(t.id, 'taps'), JSON.stringify(tap), { qos: 1 });
      return taps;
    });
    for (const [i, { acks: a }] of terminals.entries()) {
      for (const tap of sent[i]!) expect((await a.waitFor(tap.id))[0]!.status).toBe('stored');
    }
    const ids = sent.flat().map((t) => t.id);
    const stored = await store.one<{ n: number }>(`SELECT COUNT(*) AS n FROM registrations WHERE tap_id IN (${ids.map((_, i) => `$${i + 1}`).join(',')})`, ids);
    expect(stored!.n).toBe(200);
    const metrics = await gw.metrics();
    const batches = Number(/ciao_gateway_commit_batch_size_count (\d+)/.exec(metrics)![1]);
    const sum = Number(/ciao_gateway_commit_batch_size_sum (\d+)/.exec(metrics)![1]);
    // Group commit: fewer transactions than taps.
    expect(batches).toBeLessThan(sum);
    await Promise.all(terminals.map(({ c }) => c.endAsync()));
  });

  it('writes registrations with the contract columns for the forwarder', async () => {
    const tap = makeTap(gw.seed.workers.solo.badge, { at: '2026-03-29T03:30:00.000+02:00' });
    await publishTap(client, terminal.id, tap);
    await acks.waitFor(tap.id);
    const r = (await store.one<RegistrationRow>('SELECT * FROM registrations WHERE tap_id = $1', [tap.id]))!;
    expect(r).toMatchObject({
      terminal_id: terminal.id,
      site_id: gw.seed.sites.main,
      worker_id: 'w-solo',
      type: 'IN',
      reason: 'work',
      at: '2026-03-29T03:30:00.000+02:00',
      at_utc: '2026-03-29T01:30:00Z',
      ssin: gw.seed.workers.solo.niss,
      capacity: 'employee',
      employer_kind: 'enterprise',
      employer_id: gw.seed.companies.clean,
      declaration: gw.seed.declaration,
    });
    expect(JSON.parse(r.place_of_work)).toEqual({ address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue Neuve', houseNumber: '1' } });
  });
});
