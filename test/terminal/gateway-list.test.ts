import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { gatewayUrls, parseTerminalConfig } from '../../terminal/config.ts';
import { seedTestWorld, TEST_SEED } from '../gateway/helpers/seed.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { freePort, startSimTerminal, type SimTerminal } from './helpers/harness.ts';

/**
 * A terminal given a list of gateway addresses (`mqtt.url` as a list): it tries the next address whenever one
 * does not answer, with its usual backoff, and says in its logs and status which gateway it is on. Real
 * gateways, real MQTT, a real outbox.
 */
describe('mqtt.url as a list', () => {
  it('takes one address as before, or a list, and names the field of a bad one', () => {
    const base = { id: 'T-1', secret: 's', reader: 'simulated', panel: 'console', outbox: 'o.db' };
    expect(gatewayUrls(parseTerminalConfig({ ...base, mqtt: { url: 'mqtts://gw:8883' } }, {}).mqtt)).toEqual(['mqtts://gw:8883']);
    expect(gatewayUrls(parseTerminalConfig({ ...base, mqtt: { url: ['mqtts://gw1:8883', 'mqtts://gw2:8883'] } }, {}).mqtt)).toEqual(['mqtts://gw1:8883', 'mqtts://gw2:8883']);
    for (const [url, field] of [[[], 'mqtt.url'], [['mqtts://gw1:8883', 'http://gw2'], 'mqtt.url.1'], ['gw1:8883', 'mqtt.url']] as const) {
      try {
        parseTerminalConfig({ ...base, mqtt: { url } }, {});
        expect.unreachable(`accepted ${JSON.stringify(url)}`);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidInputError);
        expect((e as InvalidInputError).problems.map((p) => p.field)).toEqual([field]);
      }
    }
  });
});

describe('a terminal whose first gateway is down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ciao-gw-list-'));
  const lines: string[] = [];
  const logger = createLogger('terminal', { level: 'info' }, { write: (s: string) => void lines.push(s) });
  const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
  let term: SimTerminal | undefined;
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    await term?.stop();
    for (const g of gateways) await g.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects to the next address, its outbox drains there, and it moves on again when that one goes away', async () => {
    const id = 'T-LIST';
    const badge = TEST_SEED.workers.solo.badge;
    let secret = '';
    {
      const db = openGatewayDatabase(join(dir, 'gateway.db'));
      await seedTestWorld(db);
      secret = (await addTerminal(SqliteStore.of(db), { id, siteId: TEST_SEED.sites.main, debounceSeconds: 0 })).secret;
      db.close();
    }
    const firstPort = await freePort();
    const secondPort = await freePort();
    const first = `mqtt://127.0.0.1:${firstPort}`;
    const second = `mqtt://127.0.0.1:${secondPort}`;

    // Nothing answers yet: taps wait in the outbox while the terminal goes round its list.
    const t = (term = await startSimTerminal(id, first, join(dir, 'outbox.db'), {
      secret, mqtt: { url: [first, second] }, reconnectMinMs: 100, reconnectMaxMs: 400,
      defaults: { siteId: TEST_SEED.sites.main, language: 'en', debounceSeconds: 0 },
    }, { logger }));
    for (let i = 0; i < 3; i++) {
      t.sreader.present(badge);
      await waitUntil(() => t.outbox.queued === i + 1, { what: `tap ${i + 1} in the outbox` });
    }
    await waitUntil(() => logged('gateway did not answer; trying the next one').some((l) => l.failed === first && l.next === second), { what: 'the terminal to move from the first address to the second' });
    expect(t.link.isConnected).toBe(false);
    expect(t.outbox.queued).toBe(3);

    // The second address comes up: the terminal connects there and its outbox drains into that gateway.
    const gwB = await startTestGateway({ dir, seed: false, config: { mqtt: { host: '127.0.0.1', port: secondPort } } });
    gateways.push(gwB);
    await waitUntil(() => t.outbox.queued === 0, { what: 'the outbox to drain into the second gateway', timeoutMs: 20_000 });
    expect(t.link.gateway).toBe(second);
    expect(t.state.gateway).toBe(second);
    expect(logged('connected to gateway').at(-1)).toMatchObject({ gateway: second, of: 2 });
    expect(gwB.db().prepare('SELECT COUNT(*) FROM taps WHERE terminal_id = ?').pluck().get(id)).toBe(3);

    // That gateway goes away and one answers at the first address: the terminal moves there, taps follow.
    await gwB.stop();
    gateways.pop();
    const gwA = await startTestGateway({ dir, seed: false, config: { mqtt: { host: '127.0.0.1', port: firstPort } } });
    gateways.push(gwA);
    await waitUntil(() => t.link.gateway === first, { what: 'the terminal to connect at the first address', timeoutMs: 20_000 });
    expect(logged('trying the next gateway after the connection was lost').some((l) => l.failed === second && l.next === first)).toBe(true);
    t.sreader.present(badge);
    await waitUntil(() => gwA.db().prepare('SELECT COUNT(*) FROM taps WHERE terminal_id = ?').pluck().get(id) === 4, { what: 'the fourth tap at the gateway on the first address' });
    await waitUntil(() => t.outbox.queued === 0, { what: 'the outbox to drain' });
    expect(t.state.gateway).toBe(first);

    // A reconnection the terminal asks for itself (after renewing its certificate) stays on the same gateway.
    const connects = t.link.stats.connects;
    const moves = logged('trying the next gateway after the connection was lost').length;
    t.link.reconnect();
    await waitUntil(() => t.link.stats.connects === connects + 1 && t.link.isConnected, { what: 'the terminal to reconnect' });
    expect(t.link.gateway).toBe(first);
    expect(logged('trying the next gateway after the connection was lost')).toHaveLength(moves);
  });
});
