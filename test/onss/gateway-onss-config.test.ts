import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/main.ts';
import { forwardingSummary } from '../../gateway/forward/read-model.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { rsaKeyPair, seedRegistrations, tempDir, waitFor } from './helpers.ts';

/**
 * The gateway reads its `onss` section once, as an operator writes it: the key file named relative to the
 * config file's folder, and a bad section refused before anything is opened.
 */
const logger = createLogger('gateway-onss', { level: 'silent' });
let tmp: ReturnType<typeof tempDir>;
let emu: EmulatorHandle;
let keys: { publicKeyPem: string; privateKeyPem: string };

beforeEach(async () => {
  tmp = tempDir();
  keys ??= await rsaKeyPair();
  emu = await startEmulator({ dbPath: join(tmp.dir, 'emu.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], logger });
});
afterEach(async () => {
  await emu.stop();
  tmp.cleanup();
});

function configFile(onss: Record<string, unknown>): { file: string; database: string } {
  const etc = join(tmp.dir, 'etc');
  mkdirSync(join(etc, 'keys'), { recursive: true });
  writeFileSync(join(etc, 'keys', 'onss.pem'), keys.privateKeyPem, { mode: 0o600 });
  const database = join(tmp.dir, 'data', 'gateway.db');
  const file = join(etc, 'gateway.json');
  writeFileSync(file, JSON.stringify({ database, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, onss }));
  return { file, database };
}

describe('the gateway\'s onss section', () => {
  it('takes the key file relative to the config file\'s folder and forwards with it', async () => {
    const { file } = configFile({ baseUrl: emu.url, clientId: 'gw', privateKey: 'keys/onss.pem', idlePollMs: 20, validityPollIntervalMs: 0 });
    // The working directory is elsewhere: only the config file's folder makes `keys/onss.pem` readable.
    expect(existsSync(join(process.cwd(), 'keys', 'onss.pem'))).toBe(false);
    const gw = await startGateway(loadGatewayConfig(file, {}), { logger });
    try {
      seedRegistrations(gw.db, { count: 3 });
      await waitFor(async () => (await forwardingSummary(SqliteStore.of(gw.db))).created === 3, 'three registrations created at ONSS');
      expect(emu.store.stats().registrations).toBe(3);
    } finally {
      await gw.stop();
    }
  });

  it('refuses a bad key naming the field and the file, before any database file exists', async () => {
    const { file, database } = configFile({ baseUrl: emu.url, clientId: 'gw', privateKey: 'keys/missing.pem' });
    await expect(startGateway(loadGatewayConfig(file, {}), { logger })).rejects.toMatchObject({
      code: 'ERR_CIAO_INVALID_INPUT',
      problems: [{ field: 'onss.privateKey', rule: 'readable', message: expect.stringContaining(join(tmp.dir, 'etc', 'keys', 'missing.pem')) }],
    });
    expect(existsSync(database)).toBe(false);
  });
});
