import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../simulator/world/free-port.ts';
import { openDatabase } from '../../shared/sqlite.ts';
import { TEST_SEED } from '../gateway/helpers/seed.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { startSimTerminal, tempDir, type SimTerminal } from '../terminal/helpers/harness.ts';
import { serviceMissing, tcpAnswers } from '../../simulator/services/local-services.ts';
import { shellBlockAfter } from '../support/docs-recipes.ts';

/**
 * docs/cluster.md, "HAProxy in front", run as written with deploy/haproxy-ciao.cfg: only the first line, the
 * one the docs tell the reader to set, takes the test's addresses. Two real gateways on one database behind
 * it, a real terminal connecting through it: taps registered; HAProxy SIGKILLed and started again by the
 * same recipe, the terminal reconnects and nothing is lost; the gateway it is on stopped, HAProxy's health
 * check marks it down and the terminal goes on through the other one.
 */
const REPO = resolve(import.meta.dirname, '../..');

const noHaproxy = serviceMissing('haproxy');

describe.skipIf(noHaproxy !== undefined)(`docs/cluster.md: HAProxy in front of the gateways${noHaproxy ? ` (skipped: ${noHaproxy})` : ''}`, () => {
  const tmp = tempDir('ciao-haproxy-test-');
  const gateways: TestGateway[] = [];
  let term: SimTerminal | undefined;
  let lb: ChildProcess | undefined;
  let lbOutput = '';

  const killLb = async () => {
    const child = lb;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(-child.pid!, 'SIGKILL');
    await done;
  };
  afterAll(async () => {
    await killLb();
    await term?.stop();
    for (const g of gateways) await g.stop();
    tmp.cleanup();
  });

  it('a terminal registers taps through HAProxy, and loses none when HAProxy or its gateway goes away', async () => {
    const recipe = shellBlockAfter('docs/cluster.md', '## HAProxy in front');
    const [first, ...rest] = recipe.split('\n');
    expect(first).toMatch(/^CFG=\S+ CIAO_LB_LISTEN=\S+ CIAO_GW1_MQTT=\S+ CIAO_GW1_HTTP_PORT=\S+ CIAO_GW2_MQTT=\S+ CIAO_GW2_HTTP_PORT=\S+$/);

    for (const d of ['gw1', 'gw2']) mkdirSync(join(tmp.dir, d));
    const gw1 = await startTestGateway({ dir: join(tmp.dir, 'gw1') });
    gateways.push(gw1);
    const gw2 = await startTestGateway({ dir: join(tmp.dir, 'gw2'), seed: false, config: { database: gw1.dbPath } });
    gateways.push(gw2);
    // No debounce: the test taps one badge several times within a minute.
    const id = 'T-LB';
    const { secret } = await addTerminal(SqliteStore.of(gw1.db()), { id, siteId: TEST_SEED.sites.main, debounceSeconds: 0 });
    const lbPort = await freePort();
    const line = `CFG=${join(REPO, 'deploy/haproxy-ciao.cfg')} CIAO_LB_LISTEN=127.0.0.1:${lbPort} CIAO_GW1_MQTT=127.0.0.1:${gw1.mqttPort} CIAO_GW1_HTTP_PORT=${gw1.httpPort} CIAO_GW2_MQTT=127.0.0.1:${gw2.mqttPort} CIAO_GW2_HTTP_PORT=${gw2.httpPort}`;
    const script = [line, ...rest].join('\n');
    const startLb = async () => {
      // detached: the recipe ends in `exec haproxy`, and the whole group is what a SIGKILL must reach.
      const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: tmp.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      lb = child;
      child.stdout!.on('data', (b: Buffer) => (lbOutput += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (lbOutput += b.toString()));
      await waitUntil(async () => {
        if (child.exitCode !== null) throw new Error(`the recipe exited (${child.exitCode}): ${lbOutput}`);
        return tcpAnswers('127.0.0.1', lbPort);
      }, { what: 'HAProxy to listen', timeoutMs: 15_000 });
    };
    await startLb();
    expect(lbOutput).toContain('Configuration file is valid');

    const badge = TEST_SEED.workers.solo.badge;
    let written = 0;
    const t = (term = await startSimTerminal(id, `mqtt://127.0.0.1:${lbPort}`, join(tmp.dir, 'outbox.db'), {
      secret, reconnectMinMs: 100, reconnectMaxMs: 500, defaults: { siteId: TEST_SEED.sites.main, language: 'en', debounceSeconds: 0 },
    }, { afterOutboxWrite: () => void written++ }));
    // Both gateways write gw1's database file; the test reads it through a connection of its own.
    const shared = openDatabase(gw1.dbPath, { readonly: true });
    const stored = () => shared.prepare('SELECT seq FROM taps WHERE terminal_id = ? ORDER BY seq').pluck().all(id) as number[];
    const tap = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const before = written;
        t.sreader.present(badge);
        await waitUntil(() => written > before, { what: 'the tap committed to the outbox' });
      }
    };

    await waitUntil(() => t.link.isConnected, { what: 'the terminal to connect through HAProxy' });
    await tap(3);
    await waitUntil(() => stored().length === 3 && t.outbox.queued === 0, { what: 'three taps stored through HAProxy' });

    // HAProxy dies: the terminal is cut off, taps wait in its outbox.
    await killLb();
    await waitUntil(() => !t.link.isConnected, { what: 'the terminal to notice HAProxy is gone' });
    await tap(3);
    expect(t.outbox.queued).toBe(3);

    // The same recipe starts it again: the terminal reconnects and its outbox drains.
    await startLb();
    await waitUntil(() => t.link.isConnected && t.outbox.queued === 0, { what: 'the outbox to drain through the restarted HAProxy', timeoutMs: 20_000 });
    expect(stored()).toEqual([1, 2, 3, 4, 5, 6]);

    // The gateway the terminal is on stops: HAProxy's health check marks it down, the terminal goes on
    // through the other gateway.
    const online = async (g: TestGateway) => ((await (await fetch(`http://127.0.0.1:${g.httpPort}/health`)).json()) as { terminalsOnline: number }).terminalsOnline;
    const onFirst = (await online(gw1)) === 1;
    const [leaving, staying] = onFirst ? [gw1, gw2] : [gw2, gw1];
    expect(await online(staying)).toBe(0);
    const server = onFirst ? 'gw1' : 'gw2';
    await leaving.stop();
    gateways.splice(gateways.indexOf(leaving), 1);
    await waitUntil(() => lbOutput.includes(`gateways/${server} is DOWN`), { what: `HAProxy to mark ${server} down`, timeoutMs: 20_000 });
    await waitUntil(async () => t.link.isConnected && (await online(staying)) === 1, { what: 'the terminal on the other gateway', timeoutMs: 20_000 });
    await tap(2);
    await waitUntil(() => t.outbox.queued === 0 && stored().length === 8, { what: 'the last taps stored by the other gateway' });
    expect(stored()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    shared.close();
  });
});
