import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { rosterSchema, terminalConfigSchema, type Roster, type TerminalConfig } from '../../shared/mqtt/payloads.ts';
import { upsertBadge } from '../../gateway/site-data/badges.ts';
import { upsertSite } from '../../gateway/site-data/sites.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { updateTerminal } from '../../gateway/site-data/terminals.ts';
import { upsertDeclaration } from '../../gateway/site-data/declarations.ts';
import { makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { upsertWorker } from '../../gateway/site-data/workers.ts';
import { ciao } from './helpers/cli.ts';

describe('enrichment of stored taps', () => {
  let gw: TestGateway;
  let c: MqttClient;
  let acks: AckCollector;
  let t: { id: string; secret: string };
  const enrichment = (id: string) => gw.db().prepare('SELECT enrichment, enrichment_detail, site_id FROM taps WHERE tap_id = ?').get(id) as { enrichment: string; enrichment_detail: string | null; site_id: string | null };
  const registration = (id: string) => gw.db().prepare('SELECT * FROM registrations WHERE tap_id = ?').get(id) as Record<string, unknown> | undefined;
  const send = async (tap: ReturnType<typeof makeTap>, terminalId = t.id, client = c, collector = acks) => {
    await publishTap(client, terminalId, tap);
    const [ack] = await collector.waitFor(tap.id);
    expect(ack!.status).toBe('stored');
    return ack!;
  };

  beforeAll(async () => {
    gw = await startTestGateway();
    t = await gw.addTerminal('enrich-1');
    c = await connectTerminal(gw.mqttPort, t.id, t.secret);
    acks = await AckCollector.attach(c, t.id);
  });
  afterAll(async () => {
    await c?.endAsync();
    await gw?.stop();
  });

  it('enriches a worker with one employer: NISS, capacity, employer, declaration, place of work, UTC time', async () => {
    const tap = makeTap(gw.seed.workers.solo.badge, { direction: 'OUT', reason: 'break', at: '2026-10-25T02:30:00.000+01:00' });
    await send(tap);
    expect(enrichment(tap.id).enrichment).toBe('enriched');
    expect(registration(tap.id)).toMatchObject({ ssin: gw.seed.workers.solo.niss, capacity: 'employee', employer_id: gw.seed.companies.clean, declaration: gw.seed.declaration, type: 'OUT', reason: 'break', at_utc: '2026-10-25T01:30:00Z' });
  });

  it('uses the employer the worker chose on the terminal', async () => {
    const tap = makeTap(gw.seed.workers.duo.badge, { employer: gw.seed.companies.shine });
    await send(tap);
    expect(registration(tap.id)).toMatchObject({ employer_id: gw.seed.companies.shine, employer_kind: 'enterprise', worker_id: 'w-duo' });
  });

  it('keeps, without a registration, a tap with several employers and no choice', async () => {
    const tap = makeTap(gw.seed.workers.duo.badge);
    const ack = await send(tap);
    expect(enrichment(tap.id).enrichment).toBe('employer-choice-needed');
    expect(registration(tap.id)).toBeUndefined();
    expect(ack.display).toMatch(/verifier/);
  });

  it('keeps a tap whose chosen employer is not one of the worker\'s', async () => {
    const tap = makeTap(gw.seed.workers.solo.badge, { employer: gw.seed.companies.shine });
    await send(tap);
    expect(enrichment(tap.id).enrichment).toBe('unknown-employer');
    expect(registration(tap.id)).toBeUndefined();
  });

  it('keeps taps of an unknown badge and of a revoked badge, with the reason', async () => {
    const unknown = makeTap(gw.seed.unknownBadge);
    const revoked = makeTap(gw.seed.workers.revoked.badge);
    await send(unknown);
    await send(revoked);
    expect(enrichment(unknown.id)).toMatchObject({ enrichment: 'unknown-badge', site_id: gw.seed.sites.main });
    expect(enrichment(revoked.id).enrichment).toBe('revoked-badge');
    expect(registration(unknown.id)).toBeUndefined();
    expect(registration(revoked.id)).toBeUndefined();
  });

  it('keeps a tap on a day the site has no declaration, and one outside the badge validity', async () => {
    const before = makeTap(gw.seed.workers.solo.badge, { at: '2019-06-03T08:00:00.000+02:00' });
    await send(before);
    // The badge is valid from 2020-01-01 as well: which reason comes first does not matter, both keep the tap.
    expect(['no-declaration', 'badge-not-valid']).toContain(enrichment(before.id).enrichment);
    await upsertBadge(SqliteStore.of(gw.db()), { uid: 'BB000001', worker: 'w-solo', validFrom: '2019-01-01' });
    const noDecl = makeTap('BB000001', { at: '2019-06-03T08:00:00.000+02:00' });
    await send(noDecl);
    expect(enrichment(noDecl.id).enrichment).toBe('no-declaration');
    expect(enrichment(noDecl.id).enrichment_detail).toContain('2019-06-03');
  });

  it('uses the declaration valid on the day of the tap (a contract taken over)', async () => {
    const db = gw.db();
    await upsertSite(SqliteStore.of(db), { id: 'site-takeover', name: 'Meir', language: 'nl', latitude: 51.2, longitude: 4.4 });
    await upsertDeclaration(SqliteStore.of(db), { number: '7KQ2W9XH4MB3C', siteId: 'site-takeover', validFrom: '2025-01-01', validTo: '2025-12-31', companies: [gw.seed.companies.shine] });
    await upsertDeclaration(SqliteStore.of(db), { number: '3PZ8D5RT6JW2A', siteId: 'site-takeover', validFrom: '2026-01-01', companies: [gw.seed.companies.clean] });
    const t2 = await gw.addTerminal('enrich-takeover', 'site-takeover');
    const c2 = await connectTerminal(gw.mqttPort, t2.id, t2.secret);
    const a2 = await AckCollector.attach(c2, t2.id);
    const old = makeTap(gw.seed.workers.solo.badge, { at: '2025-12-31T22:00:00.000+01:00' });
    const now = makeTap(gw.seed.workers.solo.badge, { at: '2026-01-01T06:00:00.000+01:00' });
    await send(old, t2.id, c2, a2);
    await send(now, t2.id, c2, a2);
    expect(registration(old.id)).toMatchObject({ declaration: '7KQ2W9XH4MB3C', site_id: 'site-takeover' });
    expect(registration(now.id)).toMatchObject({ declaration: '3PZ8D5RT6JW2A' });
    expect(JSON.parse(registration(now.id)!.place_of_work as string)).toEqual({ coordinates: { latitude: 51.2, longitude: 4.4 } });
    await c2.endAsync();
  });

  it('keeps a tap of a terminal without a site', async () => {
    const t3 = await gw.addTerminal('enrich-nosite', null);
    const c3 = await connectTerminal(gw.mqttPort, t3.id, t3.secret);
    const a3 = await AckCollector.attach(c3, t3.id);
    const tap = makeTap(gw.seed.workers.solo.badge);
    await send(tap, t3.id, c3, a3);
    expect(enrichment(tap.id).enrichment).toBe('no-site');
    await c3.endAsync();
  });

  it('counts enrichment outcomes in the metrics', async () => {
    const m = await gw.metrics();
    expect(m).toMatch(/ciao_gateway_taps_enrichment_total\{status="enriched"\} [1-9]/);
    expect(m).toMatch(/ciao_gateway_taps_enrichment_total\{status="unknown-badge"\} 1/);
  });
});

describe('retained config and roster, status tracking', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => gw?.stop());

  function watch(client: MqttClient, terminalId: string) {
    const seen = { config: [] as TerminalConfig[], roster: [] as Roster[] };
    client.on('message', (topic, payload) => {
      if (topic === topicFor(terminalId, 'config')) seen.config.push(terminalConfigSchema.parse(JSON.parse(payload.toString())));
      if (topic === topicFor(terminalId, 'roster')) seen.roster.push(rosterSchema.parse(JSON.parse(payload.toString())));
    });
    return seen;
  }

  it('publishes retained config and roster (no NISS) and republishes them when site data changes in the database', async () => {
    const t = await gw.addTerminal('publish-1');
    const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
    const seen = watch(c, t.id);
    await c.subscribeAsync([topicFor(t.id, 'config'), topicFor(t.id, 'roster')], { qos: 1 });
    await waitUntil(() => seen.config.length >= 1 && seen.roster.length >= 1, { what: 'retained config and roster' });
    const config = seen.config.at(-1)!;
    expect(config).toMatchObject({ terminalId: t.id, site: { id: gw.seed.sites.main, name: 'Tour A' }, language: 'fr', debounceSeconds: 60 });
    expect(config.buttons.enabled).toEqual(['IN', 'OUT', 'BREAK']);
    const roster = seen.roster.at(-1)!;
    expect(roster.badges[gw.seed.workers.solo.badge]).toEqual({ name: 'Ana P.', employers: [{ id: gw.seed.companies.clean, name: 'Net & Clean' }] });
    expect(roster.badges[gw.seed.workers.duo.badge]!.employers.map((e) => e.id)).toEqual([gw.seed.companies.clean, gw.seed.companies.shine]);
    expect(roster.badges[gw.seed.workers.revoked.badge]).toBeUndefined();
    // The posted worker's employer is not on this site's chain: not on the roster.
    expect(roster.badges[gw.seed.workers.posted.badge]).toBeUndefined();
    const raw = JSON.stringify(seen);
    for (const w of Object.values(gw.seed.workers)) expect(raw).not.toContain(w.niss);

    // Site data changes from "another process": here the test's own connection, as `ciao admin` would.
    const newNiss = makeWorkerNumber({ year: 1999, month: 2, day: 3 }, 77);
    await upsertWorker(SqliteStore.of(gw.db()), { id: 'w-new', niss: newNiss, name: 'Zoë Martin', employers: [gw.seed.companies.shine] });
    await upsertBadge(SqliteStore.of(gw.db()), { uid: 'CC000001', worker: 'w-new', validFrom: '2020-01-01' });
    await updateTerminal(SqliteStore.of(gw.db()), t.id, { debounceSeconds: 5, buttons: ['IN', 'OUT'] });
    await waitUntil(() => seen.roster.at(-1)!.badges.CC000001 && seen.config.at(-1)!.debounceSeconds === 5, { what: 'republished roster and config' });
    expect(seen.roster.at(-1)!.badges.CC000001).toEqual({ name: 'Zoë M.', employers: [{ id: gw.seed.companies.shine, name: 'Shine' }] });
    expect(seen.config.at(-1)!.buttons.enabled).toEqual(['IN', 'OUT']);

    // The same through `ciao admin` in another process.
    const r = await ciao(['admin', '--db', gw.dbPath, 'terminal', 'set', t.id, '--debounce', '7']);
    expect(r.code).toBe(0);
    await waitUntil(() => seen.config.at(-1)!.debounceSeconds === 7, { what: 'config republished after ciao admin' });

    // A terminal connecting later gets the latest retained versions.
    await c.endAsync();
    const late = await connectTerminal(gw.mqttPort, t.id, t.secret);
    const lateSeen = watch(late, t.id);
    await late.subscribeAsync([topicFor(t.id, 'config'), topicFor(t.id, 'roster')], { qos: 1 });
    await waitUntil(() => lateSeen.config.length && lateSeen.roster.length);
    expect(lateSeen.config[0]!.debounceSeconds).toBe(7);
    expect(lateSeen.roster[0]!.badges.CC000001).toBeDefined();
    await late.endAsync();
  });

  it('tracks online/offline (last will), queued taps, reported and measured clock skew', async () => {
    const t = await gw.addTerminal('status-1');
    const status = () => gw.db().prepare('SELECT * FROM terminal_status WHERE terminal_id = ?').get(t.id) as Record<string, unknown> | undefined;
    const c = await connectTerminal(gw.mqttPort, t.id, t.secret, {
      will: { topic: topicFor(t.id, 'status'), payload: Buffer.from(JSON.stringify({ state: 'offline', at: new Date().toISOString() })), qos: 1, retain: true },
    });
    await waitUntil(() => status()?.state === 'online', { what: 'online' });
    await c.publishAsync(topicFor(t.id, 'status'), JSON.stringify({ state: 'online', at: new Date().toISOString(), version: '1.2.3', queued: 17, clockSkewMs: 250 }), { qos: 1, retain: true });
    await waitUntil(() => status()?.queued === 17, { what: 'queued reported' });
    expect(status()).toMatchObject({ state: 'online', version: '1.2.3', reported_skew_ms: 250 });

    // A terminal clock 90 s ahead of the gateway's.
    const acks = await AckCollector.attach(c, t.id);
    const tap = makeTap(gw.seed.workers.solo.badge, { at: new Date(Date.now() + 90_000).toISOString().replace('Z', '+00:00') });
    await publishTap(c, t.id, tap);
    await acks.waitFor(tap.id);
    const skew = status()!.measured_skew_ms as number;
    expect(skew).toBeGreaterThan(85_000);
    expect(skew).toBeLessThanOrEqual(90_000);

    // Dropped without DISCONNECT: the last will marks it offline.
    (c as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitUntil(() => status()?.state === 'offline', { what: 'offline via last will' });
    // The broker forgets the client just after the will is published: wait for the gauge to follow.
    await waitUntil(async () => /ciao_gateway_terminals_online 0/.test(await gw.metrics()), { what: 'terminals online back to 0' });
    c.end(true);
  });

  it('refuses a malformed status message without disconnecting', async () => {
    const t = await gw.addTerminal('status-2');
    const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
    await c.publishAsync(topicFor(t.id, 'status'), '{"state":"sleeping"}', { qos: 1 });
    await waitUntil(() => gw.logs().includes('status message refused'));
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});
