import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../shared/clock.ts';
import { parseLocalDateTime } from '../../shared/time.ts';
import { DEMO_WORKERS } from '../../simulator/world/seed-data.ts';
import { rosterFor } from '../../gateway/terminal-sync/terminal-view.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { startWorld, type SimTerminal, type World } from '../../simulator/world/world.ts';
import { tempDir } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * The direction a terminal proposes follows the worker, with the real gateway, real MQTT and simulated readers:
 * two terminals on the Tilleuls site (entrance, back door) and one at the Meir office. The world's clock stands
 * still while the gateway's `shifts` message travels, so each terminal knows the new state before the next
 * second of the working day begins; the real time it took is reported beside the test.
 */
const ANA = DEMO_WORKERS.find((w) => w.key === 'ana')!.badge;
const at = (local: string) => parseLocalDateTime(local);

describe('the direction proposal follows the worker across doors, sites and midnight', () => {
  let tmp: ReturnType<typeof tempDir>;
  let world: World;
  let clock: VirtualClock;
  const delays: number[] = [];

  beforeAll(async () => {
    tmp = tempDir('ciao-follow-');
    clock = new VirtualClock(at('2026-05-12T06:50'), 0);
    world = await startWorld({ dir: tmp.dir, clock, logLevel: 'warn', terminalOverrides: { statusIntervalSeconds: 5 } });
    await waitFor(() => [...world.terminals.values()].every((t) => t.handle.link.isConnected && t.handle.state.lookup(ANA)), { what: 'three terminals with their rosters' });
  });

  afterAll(async () => {
    await world?.stop();
    tmp?.cleanup();
    if (delays.length) console.log(`shift state heard by the other terminals ${delays.map((d) => `${d.toFixed(0)} ms`).join(', ')} (real time) after the tap`);
  });

  const term = (key: string): SimTerminal => world.terminals.get(key)!;

  /** Ana's state revision at the gateway (what its rosters carry). */
  const gatewayRev = async () => (await rosterFor(SqliteStore.of(world.gateway.db), 'a-entrance', clock.now())).badges[ANA]?.shift?.rev ?? -1;
  const heardRev = (t: SimTerminal) => t.handle.outbox.heardShift(ANA)?.rev ?? -1;

  /** A tap at one terminal; resolves once every other terminal has heard the state it set. */
  async function tap(key: string, local: string, button?: 'BREAK'): Promise<{ direction: string; reason: string }> {
    // Every terminal knows the gateway's state before the tap (the previous tap's message reached them all).
    const revBefore = await gatewayRev();
    await waitFor(() => [...world.terminals.values()].every((t) => heardRev(t) >= revBefore), { what: 'every terminal in step before the tap' });
    clock.advanceTo(at(local));
    if (button) term(key).panel.press(button);
    const others = [...world.terminals.values()].filter((t) => t.key !== key);
    const heard = (t: SimTerminal) => heardRev(t) > revBefore;
    const started = performance.now();
    const listeners = others.map((t) => {
      const on = () => {
        if (!heard(t)) return;
        delays.push(performance.now() - started);
        t.handle.link.off('shifts', on);
      };
      t.handle.link.on('shifts', on);
      return () => t.handle.link.off('shifts', on);
    });
    const outcome = term(key).handle.pipeline.handleBadge(ANA);
    if (outcome?.kind !== 'queued') throw new Error(`tap at ${key} not recorded: ${JSON.stringify(outcome)}`);
    try {
      await waitFor(async () => {
        const rev = await gatewayRev();
        return rev > revBefore && others.every((t) => heardRev(t) >= rev);
      }, { what: `the other terminals hearing the state the tap at ${key} set` });
    } finally {
      for (const off of listeners) off();
    }
    // The world's clock has not moved: everyone knew before 1 s of the working day had passed.
    expect(clock.now().getTime()).toBe(at(local).getTime());
    return outcome.tap;
  }

  it('across doors of one site, and not to the other site, and across midnight', async () => {
    // 07:00 Ana comes in by the entrance. The back door proposes her OUT; the Meir office knows she is
    // working at the Tilleuls, and a tap there would start her work there (IN), never close a shift it did not see.
    expect(await tap('a-entrance', '2026-05-12T07:00')).toMatchObject({ direction: 'IN', reason: 'work' });
    expect(term('a-back').handle.pipeline.proposal(ANA)).toMatchObject({ direction: 'OUT', reason: 'work', shift: { state: 'working', from: 'gateway', site: 'site-a' } });
    expect(term('b-lobby').handle.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', reason: 'work', shift: { state: 'working', site: 'site-a' } });

    // 10:00 a break at the back door: the entrance proposes the IN that ends it.
    expect(await tap('a-back', '2026-05-12T10:00', 'BREAK')).toMatchObject({ direction: 'OUT', reason: 'break' });
    expect(term('a-entrance').handle.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', reason: 'break', shift: { state: 'break' } });
    expect(await tap('a-entrance', '2026-05-12T10:30')).toMatchObject({ direction: 'IN', reason: 'break' });

    // 12:00 she leaves by the back door without a button, which proposes OUT from what the entrance saw.
    expect(await tap('a-back', '2026-05-12T12:00')).toMatchObject({ direction: 'OUT', reason: 'work' });
    for (const key of ['a-entrance', 'b-lobby']) expect(term(key).handle.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', shift: { state: 'off' } });

    // 22:00 a night shift at the Tilleuls, in by the entrance; 06:00 the next day out by the back door.
    expect(await tap('a-entrance', '2026-05-12T22:00')).toMatchObject({ direction: 'IN' });
    clock.advanceTo(at('2026-05-13T06:00'));
    expect(term('a-back').handle.pipeline.proposal(ANA)).toMatchObject({ direction: 'OUT', shift: { state: 'working', lapsed: false } });
    expect(await tap('a-back', '2026-05-13T06:00')).toMatchObject({ direction: 'OUT', reason: 'work' });
    expect(term('a-entrance').handle.pipeline.proposal(ANA)).toMatchObject({ direction: 'IN', shift: { state: 'off' } });

    // What the gateway stored: the taps as the worker made them, in order, once each.
    await waitFor(() => [...world.terminals.values()].every((t) => t.handle.outbox.queued === 0), { what: 'outboxes drained' });
    const taps = world.gateway.db.prepare('SELECT terminal_id AS terminal, direction, reason FROM taps ORDER BY received_at, rowid').all();
    expect(taps).toEqual([
      { terminal: 'a-entrance', direction: 'IN', reason: 'work' },
      { terminal: 'a-back', direction: 'OUT', reason: 'break' },
      { terminal: 'a-entrance', direction: 'IN', reason: 'break' },
      { terminal: 'a-back', direction: 'OUT', reason: 'work' },
      { terminal: 'a-entrance', direction: 'IN', reason: 'work' },
      { terminal: 'a-back', direction: 'OUT', reason: 'work' },
    ]);
  }, 120_000);
});
