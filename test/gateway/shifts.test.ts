import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import type { MqttClient } from 'mqtt';
import { VirtualClock } from '../../shared/clock.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { rosterSchema, shiftsMessageSchema, terminalConfigSchema, type Roster, type ShiftsMessage, type TerminalConfig } from '../../shared/mqtt/payloads.ts';
import { fromLocal, toOffsetIso } from '../../shared/time.ts';
import { upsertDeclaration } from '../../gateway/site-data/declarations.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectTerminal, makeTap, newestShiftState, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';

/**
 * The gateway side of the direction proposal, over real MQTT: two terminals on one site and one on another
 * (where the same worker may also work), each a real MQTT.js client subscribed to its own `roster` and
 * `shifts`. A tap at one door makes every other door learn the worker's new state, across sites and across
 * midnight; a terminal that connects later gets it in its roster.
 */
const SOLO = TEST_SEED.workers.solo.badge;
const DUO = TEST_SEED.workers.duo.badge;

/** What one terminal heard: its rosters, configs and `shifts` messages, in order. */
class Listener {
  readonly rosters: Roster[] = [];
  readonly shifts: ShiftsMessage[] = [];
  readonly configs: TerminalConfig[] = [];
  acks!: AckCollector;
  constructor(readonly id: string, readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      const data = JSON.parse(payload.toString()) as unknown;
      if (topic.endsWith('/roster')) this.rosters.push(rosterSchema.parse(data));
      if (topic.endsWith('/config')) this.configs.push(terminalConfigSchema.parse(data));
      if (topic.endsWith('/shifts')) this.shifts.push(shiftsMessageSchema.parse(data));
    });
  }

  static async connect(gw: TestGateway, id: string, secret: string, o: { shifts?: boolean } = {}): Promise<Listener> {
    const client = await connectTerminal(gw.mqttPort, id, secret, { clean: false });
    const l = new Listener(id, client);
    l.acks = await AckCollector.attach(client, id);
    await client.subscribeAsync([topicFor(id, 'roster'), topicFor(id, 'config'), ...(o.shifts === false ? [] : [topicFor(id, 'shifts')])], { qos: 1 });
    return l;
  }

  /** The newest state heard for a badge: the highest revision of rosters and shifts messages. */
  stateOf(badge: string) {
    return newestShiftState(this.rosters, this.shifts, badge);
  }

  waitForState(badge: string, state: string, what = `${this.id} to learn ${badge} is ${state}`) {
    return waitUntil(() => (this.stateOf(badge)?.state === state ? this.stateOf(badge) : undefined), { what });
  }
}

let gw: TestGateway;
const clients: MqttClient[] = [];

async function tap(l: Listener, badge: string, direction: 'IN' | 'OUT', at: string, reason: 'work' | 'break' = 'work') {
  const t = makeTap(badge, { direction, reason, at });
  await publishTap(l.client, l.id, t);
  await l.acks.waitFor(t.id);
  return t;
}

function setup(clock?: VirtualClock) {
  return async () => {
    gw = await startTestGateway({
      seed: async (db) => {
        await seedTestWorld(db);
        // Ana works for Net & Clean, which is on the chains of both sites: both rosters hold her badge.
        await upsertDeclaration(SqliteStore.of(db), { number: '2AB34CD56EF78', siteId: TEST_SEED.sites.bare, validFrom: '2020-01-01', companies: [TEST_SEED.companies.clean] });
      },
      ...(clock ? { clock } : {}),
    });
  };
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await gw?.stop();
});

describe('shift states pushed to terminals (real MQTT)', () => {
  beforeEach(setup());

  it('a tap at one door tells the other door of the site and the door of the other site, one message per terminal', async () => {
    const terminals = [await gw.addTerminal('a-front'), await gw.addTerminal('a-back'), await gw.addTerminal('b-lobby', TEST_SEED.sites.bare)];
    const [front, back, lobby] = await Promise.all(terminals.map((t) => Listener.connect(gw, t.id, t.secret)));
    clients.push(front!.client, back!.client, lobby!.client);
    // Every roster holds Ana's badge, with no state yet (she has not tapped anywhere).
    for (const l of [front!, back!, lobby!]) {
      await waitUntil(() => l.rosters.some((r) => r.badges[SOLO]) && l.configs.length > 0, { what: `${l.id}'s roster and config` });
      expect(l.rosters.at(-1)!.badges[SOLO]!.shift).toBeUndefined();
      expect(l.configs.at(-1)!.maxShiftHours).toBe(16);
    }

    const inTap = await tap(front!, SOLO, 'IN', toOffsetIso(new Date(Date.now() - 60_000)));
    const atBack = await back!.waitForState(SOLO, 'working');
    const atLobby = await lobby!.waitForState(SOLO, 'working');
    expect(atBack).toEqual({ badge: SOLO, state: 'working', since: toOffsetIso(new Date(Date.parse(inTap.at))), site: TEST_SEED.sites.main, rev: 1 });
    expect(atLobby).toEqual(atBack);
    await front!.waitForState(SOLO, 'working');

    // She leaves by the other site's door without pressing anything: the gateway saw her OUT there.
    await tap(lobby!, SOLO, 'OUT', toOffsetIso(new Date()));
    const off = await back!.waitForState(SOLO, 'off');
    expect(off).toMatchObject({ state: 'off', site: TEST_SEED.sites.bare, rev: 2 });
    await front!.waitForState(SOLO, 'off');
    // Each commit gave each terminal one message (two commits here), never one per terminal and badge pair.
    expect(back!.shifts.map((m) => m.badges.map((b) => [b.badge, b.state]))).toEqual([[[SOLO, 'working']], [[SOLO, 'off']]]);
  });

  it('puts several changes of one commit in one message, and tells only the terminals whose roster holds the badge', async () => {
    const [front, lobby] = await Promise.all([await gw.addTerminal('a-front'), await gw.addTerminal('b-lobby', TEST_SEED.sites.bare)].map((t) => Listener.connect(gw, t.id, t.secret)));
    clients.push(front!.client, lobby!.client);
    await waitUntil(() => lobby!.rosters.length > 0 && front!.rosters.length > 0, { what: 'rosters' });
    // Luc works for Net & Clean and Shine; only the first site's chain has Shine, and both have Net & Clean,
    // so both rosters hold him. The unknown badge is in no roster.
    const at = toOffsetIso(new Date(Date.now() - 1000));
    await Promise.all([publishTap(front!.client, 'a-front', makeTap(SOLO, { at })), publishTap(front!.client, 'a-front', makeTap(DUO, { at, employer: TEST_SEED.companies.clean })), publishTap(front!.client, 'a-front', makeTap(TEST_SEED.unknownBadge, { at }))]);
    await lobby!.waitForState(SOLO, 'working');
    await lobby!.waitForState(DUO, 'working');
    const badgesHeard = lobby!.shifts.flatMap((m) => m.badges.map((b) => b.badge));
    expect(badgesHeard.sort()).toEqual([DUO, SOLO].sort());
    expect(badgesHeard).not.toContain(TEST_SEED.unknownBadge);
  });

  it('a terminal that connects later finds the state in its roster; one that never subscribed gets nothing and keeps working', async () => {
    const front = await Listener.connect(gw, ...Object.values(await gw.addTerminal('a-front')) as [string, string]);
    const thirdParty = await Listener.connect(gw, ...Object.values(await gw.addTerminal('a-back')) as [string, string], { shifts: false });
    clients.push(front.client, thirdParty.client);
    await waitUntil(() => thirdParty.rosters.length > 0, { what: 'the third-party roster' });
    await tap(front, SOLO, 'IN', toOffsetIso(new Date(Date.now() - 5000)));
    await front.waitForState(SOLO, 'working');
    // The terminal without a shifts subscription still taps and is acked.
    await tap(thirdParty, SOLO, 'OUT', toOffsetIso(new Date(Date.now() - 4000)), 'break');
    await front.waitForState(SOLO, 'break');
    expect(thirdParty.shifts).toEqual([]);

    const lobbyCreds = await gw.addTerminal('b-lobby', TEST_SEED.sites.bare);
    await waitUntil(() => gw.db().prepare('SELECT 1 FROM terminals WHERE id = ?').get('b-lobby'), { what: 'the terminal row' });
    const lobby = await Listener.connect(gw, lobbyCreds.id, lobbyCreds.secret);
    clients.push(lobby.client);
    const fromRoster = await waitUntil(() => lobby.rosters.map((r) => r.badges[SOLO]?.shift).find((s) => s?.state === 'break'), { what: 'the state in the roster' });
    expect(fromRoster).toMatchObject({ state: 'break', site: TEST_SEED.sites.main, rev: 2 });
  });

  it('a terminal that was away while the state changed gets its roster again, with the state of now, when it reconnects', async () => {
    const frontCreds = await gw.addTerminal('a-front');
    const backCreds = await gw.addTerminal('a-back');
    const front = await Listener.connect(gw, frontCreds.id, frontCreds.secret);
    let back = await Listener.connect(gw, backCreds.id, backCreds.secret);
    clients.push(front.client);
    await waitUntil(() => back.rosters.length > 0 && front.rosters.length > 0, { what: 'rosters' });
    // Back door goes away; Ana taps IN at the front door meanwhile.
    await back.client.endAsync(true);
    await tap(front, SOLO, 'IN', toOffsetIso(new Date(Date.now() - 1000)));
    back = await Listener.connect(gw, backCreds.id, backCreds.secret);
    clients.push(back.client);
    const roster = await waitUntil(() => back.rosters.find((r) => r.badges[SOLO]?.shift?.state === 'working'), { what: 'the roster of now' });
    expect(roster.badges[SOLO]!.shift).toMatchObject({ state: 'working', rev: 1 });
    expect(back.shifts).toEqual([]);
  });

  it('a late tap from a terminal that was offline does not move the state back', async () => {
    const [front, back] = await Promise.all([await gw.addTerminal('a-front'), await gw.addTerminal('a-back')].map((t) => Listener.connect(gw, t.id, t.secret)));
    clients.push(front!.client, back!.client);
    await tap(front!, SOLO, 'OUT', toOffsetIso(new Date(Date.now() - 60_000)));
    await back!.waitForState(SOLO, 'off');
    // The back door's IN of two hours ago arrives now (its network was cut): it is older than the OUT.
    await tap(back!, SOLO, 'IN', toOffsetIso(new Date(Date.now() - 2 * 3_600_000)));
    const row = gw.db().prepare("SELECT state, rev FROM worker_shifts WHERE worker_id = 'w-solo'").get();
    expect(row).toEqual({ state: 'off', rev: 1 });
    expect(front!.shifts.flatMap((m) => m.badges).map((b) => b.state)).toEqual(['off']);
  });
});

describe('across midnight (the gateway on a virtual clock)', () => {
  // 21:55 in Brussels on a winter evening; the clock runs at real speed and is jumped past midnight.
  const clock = new VirtualClock(fromLocal({ year: 2026, month: 3, day: 2, hour: 21, minute: 55 }));
  beforeEach(setup(clock));

  it('keeps the night shift over midnight: the new day\'s rosters still say working, and the morning OUT at the other site ends it', async () => {
    const [front, lobby] = await Promise.all([await gw.addTerminal('a-front'), await gw.addTerminal('b-lobby', TEST_SEED.sites.bare)].map((t) => Listener.connect(gw, t.id, t.secret)));
    clients.push(front!.client, lobby!.client);
    await tap(front!, SOLO, 'IN', toOffsetIso(clock.now()));
    await lobby!.waitForState(SOLO, 'working');
    const rostersBefore = lobby!.rosters.length;

    clock.advanceTo(fromLocal({ year: 2026, month: 3, day: 3, hour: 0, minute: 30 }));
    // The day changed: the gateway republishes every roster; the state is still the one set at 21:55.
    const newDay = await waitUntil(() => lobby!.rosters.slice(rostersBefore).find((r) => r.updatedAt.startsWith('2026-03-03')), { what: 'the roster of the new day' });
    expect(newDay.badges[SOLO]!.shift).toMatchObject({ state: 'working', since: expect.stringMatching(/^2026-03-02T21:5/), rev: 1 });

    clock.advanceTo(fromLocal({ year: 2026, month: 3, day: 3, hour: 6, minute: 0 }));
    await tap(lobby!, SOLO, 'OUT', toOffsetIso(clock.now()));
    expect(await front!.waitForState(SOLO, 'off')).toMatchObject({ site: TEST_SEED.sites.bare, since: expect.stringMatching(/^2026-03-03T06:0/), rev: 2 });
  });
});
