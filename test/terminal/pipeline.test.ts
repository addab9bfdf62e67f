import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tapSchema, statusSchema, type Roster } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { freePort, startSimTerminal, tempDir, type SimTerminal } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

const TID = 't-pipe';
const ALICE = '04A1B2C3D4E5F6';
const BOB = 'DEADBEEF';
const CAROL = '0102030405060708090A';
const UNKNOWN = 'CAFEBABE';

function roster(): Roster {
  return {
    v: 1,
    updatedAt: toOffsetIso(new Date()),
    badges: {
      [ALICE]: { name: 'Alice Martin', employers: [{ id: '0403170701', name: 'CleanCo' }] },
      [BOB.toLowerCase()]: { name: 'Bob Peeters', employers: [] },
      [CAROL]: {
        name: 'Carol Dubois',
        employers: [
          { id: '0403170701', name: 'CleanCo' },
          { id: '0202239951', name: 'ShineBV' },
          { id: '0417497106', name: 'Sparkle' },
        ],
      },
    },
  };
}

describe('tap pipeline against a real broker', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  let term: SimTerminal | undefined;

  beforeEach(async () => {
    tmp = tempDir();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway.db'), secrets: { [TID]: `secret-${TID}` } });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    await gw.publishRetained(TID, 'roster', roster());
  });

  afterEach(async () => {
    await term?.stop();
    term = undefined;
    await gw.close();
    tmp.cleanup();
  });

  async function start(extra = {}, opts = {}) {
    term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'), extra, opts);
    await waitFor(() => term!.link.isConnected && term!.state.lookup(ALICE), { what: 'connection, config and roster' });
    return term;
  }

  it('commits the tap before any feedback, shows name, direction and time, and leaves the outbox on the stored ack', async () => {
    const seenAtWrite: Array<{ lines: string[]; queued: number; stored: boolean }> = [];
    const t = await start({}, {
      afterOutboxWrite: (tap: { id: string }) => {
        seenAtWrite.push({ lines: [...term!.spanel.lines], queued: term!.outbox.queued, stored: term!.outbox.find(tap.id) !== undefined });
      },
    });
    const beeps: string[] = [];
    t.spanel.on('beep', (b) => beeps.push(b));
    t.sreader.present(ALICE);
    // Feedback is synchronous with the tap: no waiting on the gateway.
    expect(t.spanel.lines[0]).toBe('Alice Martin');
    expect(t.spanel.lines[1]).toMatch(/^IN +\d\d:\d\d$/);
    expect(t.spanel.led).toBe('green');
    expect(beeps).toEqual(['ok']);
    expect(seenAtWrite).toHaveLength(1);
    expect(seenAtWrite[0]!.stored).toBe(true);
    expect(seenAtWrite[0]!.lines[0]).not.toBe('Alice Martin');

    await waitFor(() => gw.storedCount() === 1 && t.outbox.queued === 0, { what: 'stored ack' });
    const [row] = gw.stored(TID);
    const tap = tapSchema.parse(JSON.parse(row!.payload));
    expect(tap).toMatchObject({ v: 1, badge: ALICE, direction: 'IN', reason: 'work', seq: row!.seq });
    expect(tap.employer).toBeUndefined();

    const status = await waitFor(() => gw.statuses.find((s) => s.terminal === TID && s.payload.state === 'online'));
    expect(status.retain).toBe(true);
    expect(statusSchema.safeParse(status.payload).success).toBe(true);
    expect(status.payload.version).toBeTypeOf('string');
    expect(status.payload.queued).toBeTypeOf('number');
  });

  it('gives feedback and keeps taps while the gateway is unreachable, then replays them in order', async () => {
    const port = await freePort();
    await gw.close();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway2.db'), secrets: { [TID]: `secret-${TID}` }, port });
    const url = gw.url;
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    await gw.publishRetained(TID, 'roster', roster());
    // Learn config and roster once, then lose the gateway.
    term = await startSimTerminal(TID, url, join(tmp.dir, 'outbox.db'));
    await waitFor(() => term!.state.lookup(ALICE) && term!.state.config);
    await gw.stop();
    await waitFor(() => !term!.link.isConnected, { what: 'link down' });
    for (const badge of [ALICE, BOB, ALICE, BOB, UNKNOWN]) {
      term.sreader.present(badge);
      expect(term.spanel.lines[0]).not.toBe('');
    }
    expect(term.spanel.lines[0]).toBe('Unknown badge');
    expect(term.outbox.queued).toBe(5);
    await term.stop();
    // Restart offline: the saved config and roster are used.
    term = await startSimTerminal(TID, url, join(tmp.dir, 'outbox.db'));
    expect(term.state.settings.siteId).toBe('site-1');
    term.sreader.present(BOB);
    expect(term.spanel.lines[0]).toBe('Bob Peeters');
    expect(term.spanel.lines[1]).toMatch(/^IN /);
    expect(term.outbox.queued).toBe(6);

    await gw.close();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway2.db'), secrets: { [TID]: `secret-${TID}` }, port });
    await waitFor(() => gw.storedCount() === 6 && term!.outbox.queued === 0, { what: 'replay' });
    const seqs = gw.stored(TID).map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(6);
    const dirs = gw.stored(TID).map((r) => JSON.parse(r.payload).direction);
    expect(dirs).toEqual(['IN', 'IN', 'OUT', 'OUT', 'IN', 'IN']);
  });

  it('treats the same badge within the debounce window as one tap, with an "already recorded" beep', async () => {
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 30 }));
    const t = await start();
    await waitFor(() => t.state.settings.debounceSeconds === 30);
    const beeps: string[] = [];
    t.spanel.on('beep', (b) => beeps.push(b));
    expect(t.pipeline.handleBadge(ALICE)?.kind).toBe('queued');
    expect(t.pipeline.handleBadge(ALICE)?.kind).toBe('debounced');
    expect(t.spanel.lines[1]).toBe('Already recorded');
    expect(t.pipeline.handleBadge(BOB)?.kind).toBe('queued');
    expect(beeps).toEqual(['ok', 'already', 'ok']);
    await waitFor(() => gw.storedCount() === 2 && t.outbox.queued === 0);
  });

  it('decides the direction: alternates per badge, buttons arm the next tap, a break is OUT then IN with reason break', async () => {
    const t = await start();
    const taps: Array<[string, string]> = [];
    t.pipeline.on('tap', (o) => taps.push([o.tap.direction, o.tap.reason]));
    t.sreader.present(ALICE); // IN
    t.sreader.present(BOB); // IN (another badge)
    t.sreader.present(ALICE); // OUT
    t.spanel.press('IN');
    expect(t.spanel.lines[0]).toBe('IN: badge now');
    t.sreader.present(ALICE); // IN, armed (the opposite would also be IN here)
    t.spanel.press('BREAK');
    t.sreader.present(ALICE); // OUT break
    expect(t.spanel.lines[1]).toMatch(/^BREAK /);
    t.sreader.present(ALICE); // IN break (end of break)
    expect(t.spanel.lines[1]).toMatch(/^BREAK END /);
    t.spanel.press('IN');
    t.sreader.present(BOB); // armed IN although Bob is in: IN work
    t.sreader.present(ALICE); // OUT work
    expect(taps).toEqual([
      ['IN', 'work'], ['IN', 'work'], ['OUT', 'work'], ['IN', 'work'], ['OUT', 'break'], ['IN', 'break'], ['IN', 'work'], ['OUT', 'work'],
    ]);
    await waitFor(() => gw.storedCount() === 8);
    expect(gw.stored(TID).map((r) => JSON.parse(r.payload).reason)).toEqual(['work', 'work', 'work', 'work', 'break', 'break', 'work', 'work']);
  });

  it('asks a worker with several employers to choose, holds the tap (and later ones) until chosen, and times out without a choice', async () => {
    const t = await start({ choiceTimeoutSeconds: 1 });
    const beeps: string[] = [];
    t.spanel.on('beep', (b) => beeps.push(b));
    const outcome = t.pipeline.handleBadge(CAROL);
    expect(outcome).toMatchObject({ kind: 'queued', choosing: true });
    expect(t.outbox.queued).toBe(1); // committed before the menu
    expect(t.spanel.lines).toEqual(['IN:CleanCo', 'OUT:ShineBV']);
    t.spanel.press('BREAK'); // next page
    expect(t.spanel.lines[0]).toBe('IN:Sparkle');
    t.spanel.press('BREAK'); // wraps around
    expect(t.spanel.lines[1]).toBe('OUT:ShineBV');
    t.spanel.press('OUT');
    expect(t.spanel.lines[0]).toBe('Carol Dubois');
    await waitFor(() => gw.storedCount() === 1);
    expect(JSON.parse(gw.stored(TID)[0]!.payload).employer).toBe('0202239951');

    // Second tap: nobody chooses; a later badge waits behind it so the gateway sees seq order.
    t.pipeline.handleBadge(CAROL);
    expect(t.pipeline.handleBadge(CAROL)?.kind).toBe('debounced'); // same badge re-shows the menu
    await waitFor(() => t.spanel.lines[1] === 'No employer', { what: 'choice timeout' });
    await waitFor(() => gw.storedCount() === 2);
    const second = JSON.parse(gw.stored(TID)[1]!.payload);
    expect(second.employer).toBeUndefined();
    expect(second.direction).toBe('OUT');

    // A different badge during a choice closes the choice without an employer and is processed in order.
    t.pipeline.handleBadge(CAROL);
    t.pipeline.handleBadge(ALICE);
    await waitFor(() => gw.storedCount() === 4);
    const last = gw.stored(TID).slice(2).map((r) => JSON.parse(r.payload));
    expect(last.map((p) => p.badge)).toEqual([CAROL, ALICE]);
    expect(last[0].employer).toBeUndefined();
    expect(beeps.filter((b) => b === 'choose').length).toBeGreaterThanOrEqual(3);
  });

  it('shows an unknown badge in red and still sends the tap', async () => {
    const t = await start();
    const beeps: string[] = [];
    t.spanel.on('beep', (b) => beeps.push(b));
    t.sreader.present(UNKNOWN);
    expect(t.spanel.led).toBe('red');
    expect(t.spanel.lines[0]).toBe('Unknown badge');
    expect(beeps).toEqual(['refused']);
    await waitFor(() => gw.storedCount() === 1);
    expect(JSON.parse(gw.stored(TID)[0]!.payload).badge).toBe(UNKNOWN);
  });

  it('speaks the site language from the gateway config (fr, nl, de)', async () => {
    const t = await start();
    const seen: Record<string, string> = {};
    for (const language of ['fr', 'nl', 'de'] as const) {
      await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, language }));
      await waitFor(() => t.state.settings.language === language);
      t.sreader.present(BOB);
      seen[language] = t.spanel.lines[1]!;
    }
    expect(seen.fr).toMatch(/^ENTREE +\d\d:\d\d$/);
    expect(seen.nl).toMatch(/^UIT +\d\d:\d\d$/);
    expect(seen.de).toMatch(/^KOMMEN +\d\d:\d\d$/);
    t.sreader.present(UNKNOWN);
    expect(t.spanel.lines[0]).toBe('Badge unbekannt');
  });

  it('keeps a rejected tap aside in the rejected table instead of losing it', async () => {
    const bad: Roster = roster();
    bad.badges[BOB] = { name: 'Bob Peeters', employers: [{ id: '0403170701', name: 'CleanCo' }, { id: '0000000000', name: 'Bogus' }] };
    await gw.publishRetained(TID, 'roster', bad);
    const t = await start();
    await waitFor(() => t.state.lookup(BOB)?.employers.length === 2);
    t.sreader.present(BOB);
    t.spanel.press('OUT'); // the bogus employer number
    await waitFor(() => t.outbox.rejected().length === 1, { what: 'rejected ack' });
    expect(t.outbox.queued).toBe(0);
    const [rej] = t.outbox.rejected();
    expect(rej!.reason).toBe('invalid-field');
    expect(rej!.problems).toContain('employer');
    expect(gw.storedCount()).toBe(0);
  });

  it('measures its clock against the gateway, corrects tap times, keeps localAt, and warns when off', async () => {
    await gw.close();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway3.db'), secrets: { [TID]: `secret-${TID}` }, clockOffsetMs: 5 * 60_000 });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, maxClockSkewMs: 30_000 }));
    await gw.publishRetained(TID, 'roster', roster());
    const t = await start();
    t.sreader.present(ALICE); // the first ack teaches the skew
    await waitFor(() => t.state.clockSkewMs !== null && t.state.clockWrong, { what: 'skew measured' });
    expect(Math.abs(t.state.clockSkewMs! - 300_000)).toBeLessThan(5_000);
    t.sreader.present(ALICE);
    await waitFor(() => gw.storedCount() === 2);
    const tap = tapSchema.parse(JSON.parse(gw.stored(TID)[1]!.payload));
    expect(tap.localAt).toBeDefined();
    const diff = Date.parse(tap.at) - Date.parse(tap.localAt!);
    expect(Math.abs(diff - 300_000)).toBeLessThan(5_000);
    await waitFor(() => t.spanel.lines[1]?.includes('clock off!'), { what: 'LCD warning', timeoutMs: 10_000 });
    await waitFor(() => gw.statuses.some((s) => s.terminal === TID && typeof s.payload.clockSkewMs === 'number' && Math.abs((s.payload.clockSkewMs as number) - 300_000) < 5_000));
  });

  it("shows the gateway's short text from the ack while the tap's feedback is on screen", async () => {
    await gw.close();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway4.db'), secrets: { [TID]: `secret-${TID}` }, ackDisplay: 'Bonne journee' });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    await gw.publishRetained(TID, 'roster', roster());
    const t = await start();
    t.sreader.present(ALICE);
    expect(t.spanel.lines[1]).toMatch(/^IN /);
    await waitFor(() => t.spanel.lines[1] === 'Bonne journee', { what: 'ack display text' });
    expect(t.spanel.lines[0]).toBe('Alice Martin');
  });

  it('keeps a tap the gateway never acks, and resends it after the ack timeout', async () => {
    await gw.close();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway5.db'), secrets: { [TID]: `secret-${TID}` }, ack: false });
    const t = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'), { ackTimeoutSeconds: 1 });
    term = t;
    await waitFor(() => t.link.isConnected);
    t.sreader.present(BOB);
    await waitFor(() => gw.receipts >= 2, { what: 'a resend' });
    expect(t.link.stats.resends).toBeGreaterThanOrEqual(1);
    expect(gw.storedCount()).toBe(1); // stored once however often it arrives
    expect(t.outbox.queued).toBe(1); // no ack, no delete
  });

  it('follows a night shift across midnight: the tap after midnight closes it, and an unclosed shift lapses after maxShiftHours', async () => {
    const { VirtualClock } = await import('../../shared/clock.ts');
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, maxShiftHours: 10 }));
    const clock = new VirtualClock(new Date('2026-03-02T22:00:00+01:00'), 0);
    const t = await start({}, { clock });
    await waitFor(() => t.state.settings.maxShiftHours === 10, { what: 'config with maxShiftHours' });
    expect(t.pipeline.handleBadge(ALICE)).toMatchObject({ kind: 'queued', tap: { direction: 'IN', reason: 'work', at: expect.stringMatching(/^2026-03-02T22:00/) } });
    clock.jump(8 * 3_600_000); // 06:00 the next day: the same shift
    expect(t.pipeline.proposal(ALICE)).toMatchObject({ direction: 'OUT', shift: { state: 'working', from: 'terminal' } });
    expect(t.pipeline.handleBadge(ALICE)).toMatchObject({ kind: 'queued', tap: { direction: 'OUT', reason: 'work', at: expect.stringMatching(/^2026-03-03T06:00/) } });
    clock.jump(16 * 3_600_000); // 22:00: a new shift
    expect(t.pipeline.handleBadge(ALICE)).toMatchObject({ kind: 'queued', tap: { direction: 'IN', at: expect.stringMatching(/^2026-03-03T22:00/) } });
    // Never closed: just inside the maximum the next tap is still the OUT; past it the shift has lapsed, and
    // the next tap opens a new one (the gateway remarks the missing OUT; the terminal makes nothing up).
    clock.jump(10 * 3_600_000);
    expect(t.pipeline.proposal(ALICE)).toMatchObject({ direction: 'OUT', shift: { lapsed: false } });
    clock.jump(60_000);
    expect(t.pipeline.proposal(ALICE)).toMatchObject({ direction: 'IN', shift: { state: 'off', lapsed: true } });
    expect(t.pipeline.handleBadge(ALICE)).toMatchObject({ kind: 'queued', tap: { direction: 'IN', reason: 'work' } });
    await waitFor(() => gw.storedCount() === 4);
    expect(gw.stored(TID).map((r) => JSON.parse(r.payload).direction)).toEqual(['IN', 'OUT', 'IN', 'IN']);
  });

  it('ignores malformed gateway messages and keeps the last good config', async () => {
    const t = await start();
    await gw.publishRetained(TID, 'config', { v: 1, terminalId: TID, language: 'xx' });
    await gw.publishRetained(TID, 'roster', { nonsense: true });
    await new Promise<void>((resolve, reject) =>
      gw.broker.publish({ cmd: 'publish', topic: `ciao/v1/terminals/${TID}/acks`, payload: Buffer.from('not json{'), qos: 1, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())),
    );
    t.sreader.present(ALICE);
    await waitFor(() => gw.storedCount() === 1 && t.outbox.queued === 0);
    expect(t.state.settings.language).toBe('en');
    expect(t.state.lookup(ALICE)?.name).toBe('Alice Martin');
  });
});
