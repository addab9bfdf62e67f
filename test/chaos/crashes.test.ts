import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosSystem, seededRandom, sleep, waitFor, expectEveryTapExactlyOnce } from './helpers/system.ts';

/**
 * Crashes and cuts under load: 20 terminals (real terminal cores in 4 child processes) tap known badges
 * while the gateway (`ciao gateway` in a child process) is killed with SIGKILL at a random moment of each
 * of 20 rounds and started again on the same ports and database, terminal processes are killed and
 * restarted on their outboxes, links are cut or stalled, and terminal clocks jump. ONSS is healthy
 * throughout. Afterwards every tap any terminal recorded is at ONSS exactly once, and the outage journal is
 * empty (there was no ONSS outage).
 */
const ROUNDS = 20;
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = mkdtempSync(join(base, 'ciao-chaos-crash-'));
const sys = new ChaosSystem({ dir, terminals: 20, groups: 4 });

beforeAll(async () => {
  await sys.start();
});
afterAll(async () => {
  await sys.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('chaos: SIGKILL of the gateway and of terminals, network cuts, clock jumps', () => {
  it(`accounts for every tap exactly once after ${ROUNDS} gateway kills (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const pick = <T,>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    const faults = { gatewayKills: 0, terminalKills: 0, cuts: 0, stalls: 0, clockJumps: 0, killsWhileGatewayDown: 0 };
    const restores: Array<Promise<void>> = [];
    sys.startLoad(2);

    for (let round = 0; round < ROUNDS; round++) {
      const before = await sys.storedTaps();
      // Kill at a random moment once this gateway is doing real work: in even rounds early, in the burst
      // of taps the terminals replay on reconnection; in odd rounds later, in the steady flow.
      await waitFor(async () => (await sys.storedTaps()) >= before + 10, `round ${round}: taps flowing to the restarted gateway`, 30_000, 20);
      await sleep(round % 2 === 0 ? random() * 150 : random() * 1500);

      if (round % 3 === 0 || round % 3 === 1) {
        const stall = round % 3 === 1;
        for (let k = 0; k < 3; k++) {
          const proxy = sys.proxies.get(pick(sys.terminalIds))!;
          if (stall) {
            proxy.stall();
            faults.stalls++;
          } else {
            proxy.cut();
            faults.cuts++;
          }
          restores.push(sleep(500 + random() * 3000).then(() => proxy.restore()));
        }
      }
      if (round === 4 || round === 9 || round === 14) {
        // A terminal's clock moves: forward 20 min, back 15 min, forward 3 min.
        sys.jumpClock(pick(sys.terminalIds), round === 4 ? 20 * 60_000 : round === 9 ? -15 * 60_000 : 3 * 60_000);
        faults.clockJumps++;
      }

      await sys.gateway.kill9();
      faults.gatewayKills++;

      if (round % 4 === 2) {
        // A terminal process dies too (power cut), while the gateway is down; it comes back on its outbox.
        const group = pick(sys.groups);
        await group.kill9();
        faults.terminalKills++;
        faults.killsWhileGatewayDown++;
        await sleep(random() * 500);
        await group.start();
      }
      await sleep(random() * 1000); // terminals keep recording while the gateway is down
      await sys.gateway.start();

      if (round % 4 === 0) {
        // And one while the gateway runs, in the middle of publishing.
        const group = pick(sys.groups);
        await sleep(random() * 800);
        await group.kill9();
        faults.terminalKills++;
        await sleep(random() * 500);
        await group.start();
      }
    }
    await Promise.all(restores);
    expect(sys.gateway.alive).toBe(true);
    expect(sys.gateway.unexpectedExits).toEqual([]);
    for (const g of sys.groups) {
      expect(g.alive, `${g.name} running`).toBe(true);
      expect(g.unexpectedExits).toEqual([]);
    }

    await sys.settle();
    const v = await sys.verify();
    // Taps stamped with a jumped clock (their time more than 2 min from their arrival: outages here last
    // seconds): the first taps after each jump, until the terminal's estimate of its skew, taken from the
    // gateway's clock on each ack, moves over and its taps carry the corrected time again.
    const [{ n: jumpedTaps }] = (await sys.readGateway<{ n: number }>("SELECT COUNT(*) AS n FROM taps WHERE abs(unixepoch(at, 'subsec') - unixepoch(received_at, 'subsec')) > 120")) as [{ n: number }];
    const figures = { seed: SEED, jumpedTaps, rounds: ROUNDS, ...faults, tapsSent: sys.tapsSent, taps: v.taps, seenWritten: v.seenWritten, stored: v.storedAtGateway, onss: v.onssRegistrations, heldFutureDated: v.heldFutureDated.length, lost: v.lost.length, duplicated: v.duplicated.length, outages: v.outages.length };
    console.log(`chaos crashes: ${JSON.stringify(figures)}`);

    expect(faults.gatewayKills).toBe(ROUNDS);
    expect(v.taps).toBeGreaterThan(ROUNDS * 10);
    expectEveryTapExactlyOnce(v);
    // Every tap the test saw committed is among them (the outboxes' own count may be higher: a tap
    // committed just before a SIGKILL whose line never reached the test).
    expect(v.seenWritten).toBeLessThanOrEqual(v.taps);
    // No ONSS outage was injected: the journal has nothing to show.
    expect(v.outages).toEqual([]);
    // The jumps were real (taps carried them), and the terminals corrected them within a replay window.
    expect(jumpedTaps).toBeGreaterThanOrEqual(1);
    expect(jumpedTaps).toBeLessThanOrEqual(faults.clockJumps * 64);
    // Of those, the ones dated ahead of their arrival (the forward jumps) are held, never sent with a time that
    // cannot be true; the ones dated behind (the jump back) are real past instants and were sent.
    expect(v.heldFutureDated.length).toBeLessThanOrEqual(jumpedTaps);
    expect(sys.gateway.alive).toBe(true);
    await sys.stop(); // SIGTERM: the gateway must exit with code 0
  });
});
