import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceMissing, startPostgres, startRedis, type LocalPostgres, type LocalRedis } from '../../simulator/services/local-services.ts';
import { ChaosSystem, expectEveryTapExactlyOnce, seededRandom, sleep, waitFor, type GatewayInstance } from './helpers/system.ts';

/**
 * A cluster under chaos: three `ciao gateway` instances on one PostgreSQL database (`store.kind:
 * "postgres"`, the forwarder lease an advisory lock of it), joined over a real Redis, behind a
 * real HAProxy (the configuration operators use); 12 terminals (real terminal cores in 3 child processes)
 * list HAProxy first and then every instance, and tap known badges. In each round one part is SIGKILLed
 * under that load: an instance, the instance holding the forwarder lease, Redis or HAProxy, and in some
 * rounds ONSS fails too. After each loss, the time until every terminal is connected again is taken; the
 * part is then started again. At the end every tap any terminal recorded is at ONSS exactly once.
 *
 * PostgreSQL is a real local server (fsync on, as deployed), and among the parts killed: while it is away no
 * instance can commit, so no tap is acked and the terminals keep theirs until it is back (they stay
 * connected); the forwarder lease, an advisory lock of a connection that died, is taken again once it is.
 */
const missing = serviceMissing('postgresql', 'redis', 'haproxy');
if (missing && process.env.CI) throw new Error(`the cluster chaos test needs PostgreSQL, Redis and HAProxy: ${missing} (run scripts/setup.sh)`);
const ROUNDS = 15;
const TERMINALS = 12;
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = mkdtempSync(join(base, 'ciao-chaos-cluster-'));
let redis: LocalRedis | undefined;
let postgres: LocalPostgres | undefined;
let sys: ChaosSystem | undefined;

beforeAll(async () => {
  if (missing) return;
  postgres = await startPostgres();
  redis = await startRedis();
  sys = new ChaosSystem({ dir, terminals: TERMINALS, groups: 3, cluster: { instances: 3, redisUrl: redis.url }, postgresUrl: postgres.url });
  await sys.start();
});
afterAll(async () => {
  await sys?.kill();
  await redis?.stop();
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Victim = 'instance' | 'forwarder holder' | 'redis' | 'haproxy' | 'postgresql';

describe.skipIf(missing !== undefined)('chaos: a three-instance cluster on PostgreSQL loses an instance, the forwarder holder, Redis, HAProxy or PostgreSQL', () => {
  it(`accounts for every tap exactly once after ${ROUNDS} losses under load, with ONSS failing in some rounds (seed ${SEED})`, async () => {
    const s = sys!;
    const random = seededRandom(SEED);
    const victims: Victim[] = ['instance', 'forwarder holder', 'redis', 'haproxy', 'postgresql'];
    const kills: Record<Victim, number> = { instance: 0, 'forwarder holder': 0, redis: 0, haproxy: 0, postgresql: 0 };
    /** Seconds from each loss to every terminal connected again, by victim. */
    const backOnline: Record<Victim, number[]> = { instance: [], 'forwarder holder': [], redis: [], haproxy: [], postgresql: [] };
    /** Seconds from PostgreSQL's restart to taps stored again. */
    const storingAgain: number[] = [];
    let onssFaultRounds = 0;
    await waitFor(async () => (await s.terminalsOnline()) === TERMINALS, 'every terminal connected', 30_000, 200);
    s.startLoad(2);

    for (let round = 0; round < ROUNDS; round++) {
      const victim = victims[round % victims.length]!;
      const before = await s.storedTaps();
      await waitFor(async () => (await s.storedTaps()) >= before + 10, `round ${round}: taps flowing`, 30_000, 20);
      if (round % 3 === 1) {
        // ONSS fails at the same time: half its answers are errors, until the round ends.
        s.emulator.setFaults({ errorRate: 0.5 });
        onssFaultRounds++;
      }
      await sleep(random() * 1500);

      let victimInstance: GatewayInstance | undefined;
      if (victim === 'instance') {
        const alive = s.instances.filter((g) => g.process.alive);
        victimInstance = alive[Math.floor(random() * alive.length)]!;
      } else if (victim === 'forwarder holder') {
        victimInstance = await waitFor(() => s.forwarderHolder(), `round ${round}: an instance holding the forwarder lease`, 30_000, 100);
      }
      const lostAt = performance.now();
      if (victimInstance) await victimInstance.process.kill9();
      else if (victim === 'redis') await redis!.kill();
      else if (victim === 'postgresql') await postgres!.kill();
      else await s.lb!.kill();
      kills[victim]++;

      // The terminals of a lost instance reconnect to the others (through HAProxy, or directly when HAProxy
      // is the part lost); losing Redis or PostgreSQL disconnects nobody.
      await waitFor(async () => (await s.terminalsOnline()) === TERMINALS, `round ${round}: every terminal connected again after losing ${victim}`, 30_000, 100);
      backOnline[victim].push((performance.now() - lostAt) / 1000);
      await sleep(500 + random() * 1500); // the part stays away a while, taps go on

      if (victimInstance) await victimInstance.process.start();
      else if (victim === 'redis') await redis!.restart();
      else if (victim === 'postgresql') {
        await postgres!.restart();
        const back = performance.now();
        const stored = await s.storedTaps();
        await waitFor(async () => (await s.storedTaps()) > stored, `round ${round}: taps stored again after PostgreSQL restarted`, 60_000, 100);
        storingAgain.push((performance.now() - back) / 1000);
      } else await s.lb!.restart();
      s.emulator.clearFaults();
    }

    for (const g of s.instances) {
      expect(g.process.alive, `${g.name} running`).toBe(true);
      expect(g.process.unexpectedExits, `${g.name} exits`).toEqual([]);
    }
    for (const g of s.groups) {
      expect(g.alive, `${g.name} running`).toBe(true);
      expect(g.unexpectedExits).toEqual([]);
    }
    // Exactly one instance forwards once everything is back.
    const holders = [];
    for (const g of s.instances) if ((await s.health(g))?.forwarder === 'forwarding') holders.push(g.name);
    expect(holders.length).toBeLessThanOrEqual(1);

    await s.settle();
    const v = await s.verify();
    const worst = Object.fromEntries(Object.entries(backOnline).map(([k, xs]) => [k, xs.length ? Math.max(...xs).toFixed(1) : '-']));
    const figures = { seed: SEED, rounds: ROUNDS, kills, onssFaultRounds, backOnlineWorstSeconds: worst, storingAgainWorstSeconds: storingAgain.length ? Math.max(...storingAgain).toFixed(1) : '-', tapsSent: s.tapsSent, taps: v.taps, stored: v.storedAtGateway, onss: v.onssRegistrations, lost: v.lost.length, duplicated: v.duplicated.length };
    console.log(`chaos cluster: ${JSON.stringify(figures)}`);

    for (const victim of victims) expect(kills[victim], victim).toBeGreaterThanOrEqual(ROUNDS / victims.length);
    expect(v.taps).toBeGreaterThan(ROUNDS * 10);
    expectEveryTapExactlyOnce(v);
    await s.stop(); // SIGTERM: every instance must exit with code 0
  });
});
