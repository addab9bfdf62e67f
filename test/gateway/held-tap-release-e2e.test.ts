import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import pino from 'pino';
import { createLogger } from '../../shared/logging.ts';
import { toOffsetIso, toOnssUtc } from '../../shared/time.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { shiftsMessageSchema, type ShiftsMessage } from '../../shared/mqtt/payloads.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { clientReferenceFor } from '../../gateway/onss/index.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { rsaKeyPair, tempDir } from '../onss/helpers.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';

/**
 * A held tap released by enrolling its badge, end to end: a real gateway (broker, writer thread, SQLite,
 * forwarder) forwarding to the ONSS emulator over HTTP, a terminal over MQTT, the site manager's API. The
 * tap reaches the emulator once, with its original time and the worker's capacity; the release is in the
 * audit trail, linked to the enrolment; the terminals learn the worker's state from it.
 */
const TID = 'a-front';
const BADGE = TEST_SEED.unknownBadge;
let tmp: ReturnType<typeof tempDir>;
let emu: EmulatorHandle;
let gateway: RunningGateway;
let terminal: MqttClient;
let acks: AckCollector;
const shifts: ShiftsMessage[] = [];
let token: string;
let api: string;

async function call(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${api}${path}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  tmp = tempDir('ciao-release-e2e-');
  const keys = await rsaKeyPair();
  emu = await startEmulator({ dbPath: join(tmp.dir, 'emu.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], logger: createLogger('emulator', { level: 'silent' }) });
  const keyFile = join(tmp.dir, 'onss.pem');
  writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
  const dbPath = join(tmp.dir, 'gateway.db');
  const db = openGatewayDatabase(dbPath);
  await seedTestWorld(db);
  const { secret } = await addTerminal(SqliteStore.of(db), { id: TID, siteId: TEST_SEED.sites.main });
  token = (await addUser(SqliteStore.of(db), { name: 'Marie Dupont', role: 'site-manager', sites: [TEST_SEED.sites.main] })).token;
  db.close();
  gateway = await startGateway(
    {
      database: dbPath, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, terminals: { siteDataPollMs: 100 },
      onss: { baseUrl: emu.url, clientId: 'gw', privateKey: keyFile, idlePollMs: 20, validityPollIntervalMs: 0 },
    },
    { logger: createLogger('gateway', { level: 'warn' }, pino.destination({ dest: join(tmp.dir, 'gateway.log'), sync: true })) },
  );
  api = `http://127.0.0.1:${gateway.httpPort}/api/v1`;
  terminal = await connectTerminal(gateway.mqttPort, TID, secret);
  acks = await AckCollector.attach(terminal, TID);
  terminal.on('message', (topic, payload) => {
    if (topic.endsWith('/shifts')) shifts.push(shiftsMessageSchema.parse(JSON.parse(payload.toString())));
  });
  await terminal.subscribeAsync(topicFor(TID, 'shifts'), { qos: 1 });
}, 60_000);

afterAll(async () => {
  await terminal?.endAsync(true).catch(() => undefined);
  await gateway?.stop();
  await emu?.stop();
  tmp?.cleanup();
});

describe('a held tap released by enrolling its badge', () => {
  it('reaches the emulator once, with its original time and capacity, and the release is in the audit trail', async () => {
    // 07:58 this morning (two hours ago): an unknown badge at the door. Held, acked for review.
    const at = toOffsetIso(new Date(Date.now() - 2 * 3_600_000));
    const tap = makeTap(BADGE, { direction: 'IN', at });
    await publishTap(terminal, TID, tap);
    expect((await acks.waitFor(tap.id))[0]).toMatchObject({ status: 'stored', display: 'Recu, a verifier' });

    const held = await call(`/held-taps?terminal=${TID}`);
    expect((held.json.items as Array<{ tapId: string }>).map((t) => t.tapId)).toEqual([tap.id]);
    // The console asks before enrolling: this tap will be sent late.
    const preview = await call('/enrolments/preview', { tapId: tap.id, worker: 'w-solo' });
    expect(preview.json).toMatchObject({ releasesHeldTaps: true, heldTaps: [{ tapId: tap.id, heldBecause: 'unknown-badge', outcome: 'send', at }] });
    expect(emu.store.stats().registrations).toBe(0);

    const enrol = await call('/enrolments', { tapId: tap.id, worker: 'w-solo' });
    expect(enrol.status).toBe(201);
    expect(enrol.json.released).toEqual(preview.json.heldTaps);

    // The emulator receives it once, dated when the worker tapped, with the worker's capacity.
    const ref = clientReferenceFor(tap.id);
    const received = await waitUntil(() => emu.store.search({ clientId: 'gw', clientReference: ref, limit: 10, offset: 0 }).rows[0], { what: 'the released tap at the emulator', timeoutMs: 30_000 });
    expect(received).toMatchObject({ registration_date: toOnssUtc(at), type: 'IN', capacity: 'EMPLOYEE', employer_id: TEST_SEED.companies.clean, reference: TEST_SEED.declaration });
    // Whatever the forwarder does next (validity rounds, more taps), no second one.
    const next = makeTap(TEST_SEED.workers.solo.badge, { direction: 'OUT', at: toOffsetIso(new Date()) });
    await publishTap(terminal, TID, next);
    await acks.waitFor(next.id);
    await waitUntil(() => emu.store.search({ clientId: 'gw', clientReference: clientReferenceFor(next.id), limit: 10, offset: 0 }).total === 1, { what: 'the next tap at the emulator' });
    expect(emu.store.search({ clientId: 'gw', clientReference: ref, limit: 10, offset: 0 }).total).toBe(1);
    expect(emu.store.stats()).toMatchObject({ registrations: 2, duplicateClientReferences: 0 });

    // The release in the audit trail, pointing at the enrolment that caused it.
    const enrolment = (await call(`/audit?entity=badge&entityId=${BADGE}`)).json.items as Array<{ id: number; action: string }>;
    const release = (await call(`/audit?entity=tap&entityId=${tap.id}`)).json.items as Array<Record<string, unknown>>;
    expect(release[0]).toMatchObject({ action: 'release-late', actor: { name: 'Marie Dupont' }, causeId: enrolment[0]!.id, after: { at, heldAs: 'unknown-badge' } });
    // The remark history says why it was late; the unknown-badge remark is gone.
    const remarks = (await call('/remarks')).json.remarks as Array<{ kind: string; tapId: string; message: { en: string } }>;
    expect(remarks.find((r) => r.tapId === tap.id && r.kind === 'sent-late')!.message.en).toContain(`because badge ${BADGE} was enrolled for the worker (by Marie Dupont`);
    expect(remarks.filter((r) => r.kind === 'unknown-badge')).toEqual([]);
    // The terminals learnt the worker's state from the released tap, then from the OUT.
    expect(shifts.flatMap((m) => m.badges).filter((b) => b.badge === TEST_SEED.workers.solo.badge).map((b) => b.state)).toEqual(['working', 'off']);
  });
});
