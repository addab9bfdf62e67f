import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { VirtualClock } from '../../shared/clock.ts';
import type { Roster, ShiftChange } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { proposeDirection, stateHere, workerShift } from '../../terminal/core/direction.ts';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { startSimTerminal, tempDir, type SimTerminal } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * The direction a terminal proposes follows the worker's shift, whatever door or site saw the last tap and
 * whatever the date: the newer of the state heard from the gateway (roster `shift`, `shifts` messages, only a
 * higher `rev`) and the terminal's own last tap, lapsing after maxShiftHours. Buttons always win; a forgotten
 * IN is never made up (FAQ 37).
 */
const H = 3_600_000;
const T0 = Date.parse('2026-03-02T07:00:00+01:00');

describe('the worker state and the proposal (rules)', () => {
  const here = { hereSite: 'site-1', maxShiftHours: 16 };

  it('takes the newer of what the gateway said and the last tap here; a tie goes to the gateway', () => {
    const heard = { state: 'working' as const, sinceMs: T0, site: 'site-1' };
    expect(workerShift({ ...here, heard, nowMs: T0 + H })).toMatchObject({ state: 'working', from: 'gateway' });
    // This door's last tap is older than what the gateway said (a tap at another door since): the gateway wins.
    expect(workerShift({ ...here, heard, own: { direction: 'OUT', reason: 'work', atMs: T0 - H }, nowMs: T0 + H })).toMatchObject({ state: 'working', from: 'gateway' });
    // A tap here after the last state heard (offline): the tap wins.
    expect(workerShift({ ...here, heard, own: { direction: 'OUT', reason: 'break', atMs: T0 + 1 }, nowMs: T0 + H })).toMatchObject({ state: 'break', from: 'terminal', site: 'site-1' });
    expect(workerShift({ ...here, heard: { state: 'off', sinceMs: T0, site: 'site-1' }, own: { direction: 'IN', reason: 'work', atMs: T0 }, nowMs: T0 })).toMatchObject({ state: 'off', from: 'gateway' });
    expect(workerShift({ ...here, nowMs: T0 })).toEqual({ state: 'off', sinceMs: null, from: 'none', site: null, lapsed: false });
  });

  it('lets a working or break state lapse after maxShiftHours, never an off state', () => {
    for (const state of ['working', 'break'] as const) {
      expect(workerShift({ ...here, heard: { state, sinceMs: T0, site: 'site-1' }, nowMs: T0 + 16 * H })).toMatchObject({ state, lapsed: false });
      expect(workerShift({ ...here, heard: { state, sinceMs: T0, site: 'site-1' }, nowMs: T0 + 16 * H + 1 })).toMatchObject({ state: 'off', lapsed: true });
    }
    expect(workerShift({ ...here, heard: { state: 'off', sinceMs: T0, site: 'site-1' }, nowMs: T0 + 100 * H })).toMatchObject({ state: 'off', lapsed: false });
  });

  it('never proposes an OUT here for a shift open at another site: the worker is starting here', () => {
    const atA = workerShift({ ...here, heard: { state: 'working', sinceMs: T0, site: 'site-a' }, nowMs: T0 + H });
    expect(atA).toMatchObject({ state: 'working', site: 'site-a' });
    expect(proposeDirection(stateHere(atA, 'site-b'))).toEqual({ direction: 'IN', reason: 'work' });
    expect(proposeDirection(stateHere(atA, 'site-a'))).toEqual({ direction: 'OUT', reason: 'work' });
    const breakAtA = workerShift({ ...here, heard: { state: 'break', sinceMs: T0, site: 'site-a' }, nowMs: T0 + H });
    expect(proposeDirection(stateHere(breakAtA, 'site-b'))).toEqual({ direction: 'IN', reason: 'work' });
    // A button still decides: a worker who means OUT presses OUT.
    expect(proposeDirection(stateHere(atA, 'site-b'), 'OUT')).toEqual({ direction: 'OUT', reason: 'work' });
  });

  it('proposes from the state, and a pressed button overrides it', () => {
    expect(proposeDirection('off')).toEqual({ direction: 'IN', reason: 'work' });
    expect(proposeDirection('working')).toEqual({ direction: 'OUT', reason: 'work' });
    expect(proposeDirection('break')).toEqual({ direction: 'IN', reason: 'break' });
    expect(proposeDirection('working', 'BREAK')).toEqual({ direction: 'OUT', reason: 'break' });
    expect(proposeDirection('working', 'IN')).toEqual({ direction: 'IN', reason: 'work' });
    expect(proposeDirection('break', 'IN')).toEqual({ direction: 'IN', reason: 'break' });
    expect(proposeDirection('break', 'OUT')).toEqual({ direction: 'OUT', reason: 'work' });
    // FAQ 37: no IN on record and the worker presses OUT at the end: an OUT, nothing else.
    expect(proposeDirection('off', 'OUT')).toEqual({ direction: 'OUT', reason: 'work' });
  });
});

const TID = 't-dir';
const ANA = '04A1B2C3D4E5F6';
const LUC = 'DEADBEEF';

function roster(shifts: Partial<Record<string, ShiftChange>> = {}): Roster {
  const entry = (name: string, uid: string) => {
    const s = shifts[uid];
    return { name, employers: [{ id: '0403170701', name: 'CleanCo' }], ...(s ? { shift: { state: s.state, since: s.since, site: s.site, rev: s.rev } } : {}) };
  };
  return { v: 1, updatedAt: toOffsetIso(new Date()), badges: { [ANA]: entry('Ana P.', ANA), [LUC]: entry('Luc D.', LUC) } };
}

const iso = (ms: number) => toOffsetIso(new Date(ms));

describe('a terminal proposes the direction from the state it hears', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  let term: SimTerminal | undefined;
  let clock: VirtualClock;

  beforeEach(async () => {
    tmp = tempDir();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway.db'), secrets: { [TID]: `secret-${TID}` } });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    clock = new VirtualClock(new Date(T0), 0);
  });

  afterEach(async () => {
    await term?.stop();
    term = undefined;
    await gw.close();
    tmp.cleanup();
  });

  async function start() {
    term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'), {}, { clock });
    await waitFor(() => term!.link.isConnected && term!.state.lookup(ANA) && term!.state.config, { what: 'connection, config and roster' });
    return term;
  }

  function nextShifts(t: SimTerminal, source: 'shifts' | 'roster'): Promise<string[]> {
    return new Promise((resolve) => {
      const on = (badges: string[], from: string) => {
        if (from !== source) return;
        t.link.off('shifts', on);
        resolve(badges);
      };
      t.link.on('shifts', on);
    });
  }

  it("takes the roster's shift, then each shifts message with a higher rev, and ignores older revs", async () => {
    // Ana went in at another door at 06:30 (rev 3); Luc has no state (off).
    await gw.publishRetained(TID, 'roster', roster({ [ANA]: { badge: ANA, state: 'working', since: iso(T0 - 0.5 * H), site: 'site-1', rev: 3 } }));
    const t = await start();
    await waitFor(() => t.outbox.heardShift(ANA)?.rev === 3, { what: 'roster shift kept' });
    expect(t.pipeline.proposal(ANA)).toMatchObject({ direction: 'OUT', shift: { state: 'working', from: 'gateway' } });
    expect(t.pipeline.proposal(LUC)).toMatchObject({ direction: 'IN', shift: { state: 'off', from: 'none' } });

    // A break at the back door, then a late copy of an older state: only the higher rev counts.
    let heard = nextShifts(t, 'shifts');
    await gw.publishShifts(TID, { v: 1, badges: [{ badge: ANA.toLowerCase(), state: 'break', since: iso(T0 + 0.25 * H), site: 'site-1', rev: 4 }] });
    expect(await heard).toEqual([ANA]);
    expect(t.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', reason: 'break', shift: { state: 'break' } });
    heard = nextShifts(t, 'shifts');
    await gw.publishShifts(TID, { v: 1, badges: [
      { badge: ANA, state: 'off', since: iso(T0 + 0.3 * H), site: 'site-1', rev: 2 },
      { badge: LUC, state: 'working', since: iso(T0), site: 'site-2', rev: 1 },
    ] });
    expect(await heard).toEqual([LUC]);
    expect(t.outbox.heardShift(ANA)).toMatchObject({ state: 'break', rev: 4, site: 'site-1' });
    // Luc is working at another site: a tap here starts his work here, it cannot end a shift he never began here.
    expect(t.pipeline.proposal(LUC)).toMatchObject({ direction: 'IN', reason: 'work', shift: { state: 'working', site: 'site-2' } });

    // A malformed message changes nothing and breaks nothing.
    await gw.publishShifts(TID, { v: 1, badges: [{ badge: ANA, state: 'asleep', since: 'yesterday', rev: -1 }] });
    await gw.publishShifts(TID, { v: 1, badges: [{ badge: LUC, state: 'off', since: iso(T0 + H), site: 'site-1', rev: 9 }] });
    await waitFor(() => t.outbox.heardShift(LUC)?.rev === 9, { what: 'the next good message' });
    expect(t.outbox.heardShift(ANA)).toMatchObject({ state: 'break', rev: 4 });

    // The tap follows: Ana ends her break here (IN, reason break), then her own tap is the newest state.
    clock.jump(0.5 * H);
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued', tap: { direction: 'IN', reason: 'break' } });
    expect(t.pipeline.proposal(ANA)).toMatchObject({ direction: 'OUT', shift: { state: 'working', from: 'terminal' } });
    await waitFor(() => gw.storedCount() === 1);
  });

  it('offline, uses the newest of what it last heard and its own taps, and keeps both across a restart', async () => {
    await gw.publishRetained(TID, 'roster', roster());
    let t = await start();
    let heard = nextShifts(t, 'shifts');
    await gw.publishShifts(TID, { v: 1, badges: [{ badge: ANA, state: 'working', since: iso(T0), site: 'site-1', rev: 1 }] });
    await heard;
    await gw.stop();
    await waitFor(() => !t.link.isConnected, { what: 'link down' });

    // Offline: Ana leaves by this door (OUT, from what was heard); Luc, never heard of, comes in.
    clock.jump(8 * H);
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued', tap: { direction: 'OUT', reason: 'work' } });
    expect(t.pipeline.handleBadge(LUC)).toMatchObject({ kind: 'queued', tap: { direction: 'IN' } });
    await t.stop();

    // A restart, still offline: the same knowledge comes back from the outbox file.
    term = t = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'), {}, { clock });
    expect(t.link.isConnected).toBe(false);
    clock.jump(H);
    expect(t.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', shift: { state: 'off', from: 'terminal' } });
    expect(t.pipeline.proposal(LUC)).toMatchObject({ direction: 'OUT', shift: { state: 'working', from: 'terminal' } });
    expect(t.outbox.heardShift(ANA)).toMatchObject({ state: 'working', rev: 1, site: 'site-1' });

    // Back online: the gateway has meanwhile seen Luc leave by another door (after his tap here).
    await gw.close();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway.db'), secrets: { [TID]: `secret-${TID}` }, port: gw.port });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    await gw.publishRetained(TID, 'roster', roster({ [LUC]: { badge: LUC, state: 'off', since: iso(T0 + 8.5 * H), site: 'site-1', rev: 2 } }));
    heard = nextShifts(t, 'roster');
    await waitFor(() => t.link.isConnected, { what: 'reconnect' });
    expect(await heard).toEqual([LUC]);
    expect(t.pipeline.proposal(LUC)).toMatchObject({ direction: 'IN', shift: { state: 'off', from: 'gateway' } });
    await waitFor(() => gw.storedCount() === 2, { what: 'offline taps replayed' });
  });

  it('FAQ 37: a worker who forgot the IN and presses OUT at the end gets one OUT and nothing made up', async () => {
    await gw.publishRetained(TID, 'roster', roster());
    const t = await start();
    clock.jump(8 * H);
    expect(t.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN' });
    t.spanel.press('OUT');
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ kind: 'queued', tap: { direction: 'OUT', reason: 'work' } });
    expect(t.spanel.lines[1]).toMatch(/^OUT +15:00$/);
    await waitFor(() => gw.storedCount() === 1 && t.outbox.queued === 0);
    // The outbox is empty and the gateway holds one tap: nothing else was recorded or sent.
    const stored = gw.stored(TID).map((r) => JSON.parse(r.payload));
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ badge: ANA, direction: 'OUT', reason: 'work', at: expect.stringMatching(/^2026-03-02T15:00/) });
    // After that OUT the worker is off: the next tap is an IN.
    expect(t.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', shift: { state: 'off' } });
  });

  it('keeps working with a gateway that sends no shift at all (the roster and its own taps)', async () => {
    await gw.publishRetained(TID, 'roster', roster());
    const t = await start();
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ tap: { direction: 'IN' } });
    clock.jump(4 * H);
    expect(t.pipeline.handleBadge(ANA)).toMatchObject({ tap: { direction: 'OUT' } });
    await waitFor(() => gw.storedCount() === 2);
    expect(t.outbox.heardShift(ANA)).toBeUndefined();
  });
});
