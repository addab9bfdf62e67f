import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { MqttClient } from 'mqtt';
import { createLogger } from '../../shared/logging.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import { createSqlQueries } from '../../gateway/records/sql-queries.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import type { ApiUser } from '../../gateway/access/users.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';

/**
 * Time truth and the outage journal, through a running gateway over MQTT: a tap dated in the future is held
 * at once (never forwarded with a made-up time) and says so; a wrong offset or a wall time that does not
 * exist in Brussels is registered at its true instant and names the terminal's setting; a terminal that goes
 * offline while its site is open, and the gateway's own stop and start, are journaled beside ONSS outages.
 */
const TID = 'a-front';
const SOLO = TEST_SEED.workers.solo.badge;
const admin: ApiUser = { id: 'a', name: 'a', role: 'administrator', sites: null, company: null, canSeeNiss: false, createdAt: '', revokedAt: null };

let dir: string;
let gateway: RunningGateway | undefined;
let secret: string;
const clients: MqttClient[] = [];

async function start(): Promise<RunningGateway> {
  const dbPath = join(dir, 'gateway.db');
  gateway = await startGateway(
    { database: dbPath, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, terminals: { siteDataPollMs: 100 } },
    { logger: createLogger('gateway', { level: 'warn' }, pino.destination({ dest: join(dir, 'gateway.log'), sync: true })) },
  );
  return gateway;
}

async function setup(): Promise<{ gw: RunningGateway; terminal: MqttClient; acks: AckCollector }> {
  dir = mkdtempSync(join(tmpdir(), 'ciao-time-'));
  const db = openGatewayDatabase(join(dir, 'gateway.db'));
  await seedTestWorld(db);
  secret = (await addTerminal(SqliteStore.of(db), { id: TID, siteId: TEST_SEED.sites.main })).secret;
  db.close();
  const gw = await start();
  const terminal = await connectTerminal(gw.mqttPort, TID, secret);
  clients.push(terminal);
  return { gw, terminal, acks: await AckCollector.attach(terminal, TID) };
}

const records = (gw: RunningGateway) => new RecordsService(SqliteStore.of(gw.db), createSqlQueries(SqliteStore.of(gw.db)));

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
  await gateway?.stop();
  gateway = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('time truth', () => {
  it('holds a tap dated ten minutes ahead at once, acks it for review and never registers it', async () => {
    const { gw, terminal, acks } = await setup();
    const tap = makeTap(SOLO, { at: toOffsetIso(new Date(Date.now() + 10 * 60_000)) });
    await publishTap(terminal, TID, tap);
    expect((await acks.waitFor(tap.id))[0]).toMatchObject({ status: 'stored', display: 'Recu, a verifier' });
    expect(gw.db.prepare('SELECT enrichment FROM taps WHERE tap_id = ?').pluck().get(tap.id)).toBe('future-dated');
    expect(gw.db.prepare('SELECT COUNT(*) FROM registrations').pluck().get()).toBe(0);
    const remark = (await records(gw).remarks(admin)).find((r) => r.tapId === tap.id)!;
    expect(remark).toMatchObject({ kind: 'future-dated', severity: 'error', terminalId: TID });
    expect(Number(remark.details.aheadSeconds)).toBeGreaterThan(590);
    // Within the allowed skew (two minutes by default), a tap is registered as sent.
    const slightlyAhead = makeTap(SOLO, { direction: 'OUT', at: toOffsetIso(new Date(Date.now() + 30_000)) });
    await publishTap(terminal, TID, slightlyAhead);
    await acks.waitFor(slightlyAhead.id);
    expect(gw.db.prepare('SELECT at FROM registrations WHERE tap_id = ?').pluck().get(slightlyAhead.id)).toBe(slightlyAhead.at);
  });

  it('registers a tap with a foreign offset, or a wall time Brussels skipped, at its true instant and names the terminal\'s setting', async () => {
    const { gw, terminal, acks } = await setup();
    // 05:30 ahead of UTC: the terminal's time zone is set to India. The instant is right; the offset is not Brussels'.
    const instant = new Date(Date.now() - 5 * 60_000);
    const india = new Date(instant.getTime() + 330 * 60_000).toISOString().replace('Z', '+05:30');
    const wrongZone = makeTap(SOLO, { at: india });
    // 02:30 on the spring DST day, with the winter offset: that wall time never happened in Brussels.
    const skipped = makeTap(TEST_SEED.workers.posted.badge, { at: '2026-03-29T02:30:00.000+01:00' });
    for (const t of [wrongZone, skipped]) {
      await publishTap(terminal, TID, t);
      await acks.waitFor(t.id);
    }
    const at = (id: string) => gw.db.prepare('SELECT at, at_utc FROM registrations WHERE tap_id = ?').get(id);
    expect(at(wrongZone.id)).toEqual({ at: toOffsetIso(instant), at_utc: `${instant.toISOString().slice(0, 19)}Z` });
    expect(at(skipped.id)).toEqual({ at: '2026-03-29T03:30:00.000+02:00', at_utc: '2026-03-29T01:30:00Z' });
    // The tap itself keeps what the terminal sent.
    expect(gw.db.prepare('SELECT at FROM taps WHERE tap_id = ?').pluck().get(wrongZone.id)).toBe(india);
    const today = (await records(gw).remarks(admin)).find((r) => r.tapId === wrongZone.id && r.kind === 'terminal-time-zone')!;
    expect(today).toMatchObject({ kind: 'terminal-time-zone', terminalId: TID, details: { problem: 'wrong-offset', given: '+05:30', expected: '+01:00' } });
    expect(today.advice.en).toContain('time-zone setting (Europe/Brussels)');
    const spring = (await records(gw).remarks(admin, { from: '2026-03-29', to: '2026-03-29' })).find((r) => r.tapId === skipped.id && r.kind === 'terminal-time-zone')!;
    expect(spring.message.en).toContain('that wall time does not exist in Brussels');
    expect(spring.message.en).toContain('2026-03-29 03:30');
  });
});

describe('the outage journal', () => {
  it('journals a terminal offline while its site is open, until it is back, and the gateway\'s own stop and start', async () => {
    const { gw, terminal } = await setup();
    const open = () => gw.db.prepare("SELECT scope, terminal_id, site_id, ended_at FROM outage_events WHERE scope LIKE 'terminal:%' ORDER BY id").all() as Array<Record<string, unknown>>;
    await waitUntil(() => gw.db.prepare("SELECT state FROM terminal_status WHERE terminal_id = ?").pluck().get(TID) === 'online', { what: 'the terminal online' });
    // The terminal publishes its last will... then its connection drops.
    await terminal.publishAsync(topicFor(TID, 'status'), JSON.stringify({ state: 'offline', at: toOffsetIso(new Date()) }), { qos: 1, retain: true });
    await terminal.endAsync(true);
    const entry = await waitUntil(() => open()[0], { what: 'a terminal outage' });
    expect(entry).toEqual({ scope: `terminal:${TID}`, terminal_id: TID, site_id: TEST_SEED.sites.main, ended_at: null });
    // Back online: the entry is closed, and only one was opened for both signals.
    const again = await connectTerminal(gw.mqttPort, TID, secret);
    clients.push(again);
    await waitUntil(() => open()[0]?.ended_at, { what: 'the outage closed' });
    expect(open()).toHaveLength(1);

    // The gateway stops cleanly and starts again: its own outage, from the stop to the start.
    await gateway!.stop();
    gateway = undefined;
    const restarted = await start();
    const own = restarted.db.prepare("SELECT started_at, ended_at, cause FROM outage_events WHERE scope = 'gateway'").all() as Array<{ started_at: string; ended_at: string | null; cause: string }>;
    expect(own).toHaveLength(1);
    expect(own[0]!.ended_at).not.toBeNull();
    expect(Date.parse(own[0]!.ended_at!)).toBeGreaterThanOrEqual(Date.parse(own[0]!.started_at));
    // The site manager sees both beside ONSS's.
    const today = toOffsetIso(new Date()).slice(0, 10);
    const listed = (await records(restarted).outages(admin, { from: today, to: today })).map((o) => o.scope);
    expect(listed).toEqual(expect.arrayContaining(['gateway', `terminal:${TID}`]));
  });

  it('journals a terminal that is online but cannot register (FAQ 31), one entry per set of reasons, and shows why', async () => {
    const { gw, terminal } = await setup();
    const entries = () => gw.db.prepare("SELECT cause, ended_at FROM outage_events WHERE scope = ? ORDER BY id").all(`terminal:${TID}`) as Array<{ cause: string; ended_at: string | null }>;
    const status = (cannotRegister?: string[]) =>
      terminal.publishAsync(topicFor(TID, 'status'), JSON.stringify({ state: 'online', at: toOffsetIso(new Date()), ...(cannotRegister ? { cannotRegister } : {}) }), { qos: 1, retain: true });
    const shown = async () => (await records(gw).terminals(admin)).find((t) => t.terminalId === TID)?.cannotRegister;

    await status(['no-reader']);
    await waitUntil(() => entries().length === 1, { what: 'an outage for the missing reader' });
    expect(entries()[0]).toEqual({ cause: expect.stringContaining('cannot register taps: no-reader'), ended_at: null });
    expect(await shown()).toEqual(['no-reader']);
    // The same report again keeps the one entry; other reasons close it and open one naming them.
    await status(['no-reader']);
    await status(['no-reader', 'outbox-unwritable']);
    await waitUntil(() => entries().length === 2, { what: 'a second entry for the new reasons' });
    expect(entries()[0]!.ended_at).not.toBeNull();
    expect(entries()[1]).toEqual({ cause: expect.stringContaining('no-reader,outbox-unwritable'), ended_at: null });
    // It can register again: the entry closes, and the terminal list no longer says it cannot.
    await status();
    await waitUntil(() => entries()[1]?.ended_at, { what: 'the outage closed' });
    expect(entries()).toHaveLength(2);
    expect(await shown()).toEqual([]);
  });
});
