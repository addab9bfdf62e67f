import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { generateReleaseKeys, packRelease, signBundle } from '../../shared/release/publisher.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { connectTerminal } from '../gateway/helpers/mqtt.ts';
import { checkAccessibility, CHROMIUM, CHROMIUM_ARGS, haveChromium, screenshot } from './helpers/browser.ts';

/**
 * The console's Releases screen, in Chromium: an administrator sees which terminal runs which version,
 * uploads a signed release from two files, offers it to one chosen terminal, and sees the offer and the
 * terminal's report; a site manager has no such screen.
 */
let gw: TestGateway;
let browser: Browser;
let page: Page;
let admin: string;
let manager: string;
const work = mkdtempSync(join(tmpdir(), 'ciao-console-releases-'));
const clients: MqttClient[] = [];
let bundle: string;
let signature: string;

/** Logs in on a fresh page of its own (a session of its own). */
async function login(token: string): Promise<void> {
  page = await (await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`http://127.0.0.1:${gw.httpPort}/console/#/overview`);
  await page.fill('#token', token);
  await page.press('#token', 'Enter');
  await page.waitForSelector('#live[data-live=live]');
}

describe.skipIf(!haveChromium)('the Releases screen', () => {
  beforeAll(async () => {
    const keys = generateReleaseKeys(join(work, 'keys'));
    const from = join(work, 'build');
    mkdirSync(join(from, 'dist/bin'), { recursive: true });
    mkdirSync(join(from, 'bin'));
    writeFileSync(join(from, 'package.json'), JSON.stringify({ name: 'ciao-badge', version: '0.0.1' }));
    writeFileSync(join(from, 'bin/ciao.mjs'), '// launcher\n');
    writeFileSync(join(from, 'dist/bin/cli.js'), '// compiled\n');
    bundle = (await packRelease({ from, out: join(work, 'ciao-badge-2.0.0.tar.gz'), version: '2.0.0' })).file;
    signature = (await signBundle({ bundle, key: keys.privateKey })).file;
    gw = await startTestGateway({ config: { releases: { publicKey: keys.publicKey } } });
    admin = (await addUser(SqliteStore.of(gw.db()), { name: 'Admin', role: 'administrator' })).token;
    manager = (await addUser(SqliteStore.of(gw.db()), { name: 'Marie', role: 'site-manager', sites: [gw.seed.sites.main] })).token;
    // Two terminals that said which version they run.
    for (const id of ['hall-a', 'hall-b']) {
      const { secret } = await gw.addTerminal(id);
      const c = await connectTerminal(gw.mqttPort, id, secret, { clean: true });
      clients.push(c);
      await c.publishAsync(topicFor(id, 'status'), JSON.stringify({ state: 'online', at: toOffsetIso(new Date()), version: '1.9.0', queued: 0 }), { qos: 1, retain: true });
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await browser?.close();
    await gw?.stop();
  });

  it('uploads a signed release and offers it to a chosen terminal', async () => {
    await login(admin);
    await page.click('nav [data-screen=releases]');
    await page.waitForSelector('table[data-kind=fleet] tr[data-terminal=hall-a] [data-version]');
    expect(await page.textContent('table[data-kind=fleet] tr[data-terminal=hall-a] [data-version]')).toBe('1.9.0');

    await page.setInputFiles('#rel-bundle', bundle);
    await page.setInputFiles('#rel-signature', signature);
    await page.click('[data-action=upload]');
    await page.waitForSelector('table[data-kind=releases] tr[data-release="2.0.0"]');
    expect(await page.textContent('main .notice.ok')).toContain('Release 2.0.0 uploaded');

    // A first terminal only.
    await page.check('[data-select=hall-a]');
    page.once('dialog', (d) => void d.accept());
    await page.click('tr[data-release="2.0.0"] [data-action=rollout-selected]');
    await page.waitForSelector('table[data-kind=fleet] tr[data-terminal=hall-a] [data-target]:text("2.0.0")');
    expect(await page.textContent('table[data-kind=fleet] tr[data-terminal=hall-b] [data-target]')).toBe('—');
    expect(gw.db().prepare('SELECT terminal_id, version FROM release_targets').all()).toEqual([{ terminal_id: 'hall-a', version: '2.0.0' }]);

    // The terminal reports back; the screen follows without a reload.
    await clients[0]!.publishAsync(topicFor('hall-a', 'status'), JSON.stringify({ state: 'online', at: toOffsetIso(new Date()), version: '1.9.0', queued: 0, update: { version: '2.0.0', rollout: 1, state: 'downloading' } }), { qos: 1, retain: true });
    await page.waitForSelector('tr[data-terminal=hall-a] [data-update=downloading]');
    expect(await checkAccessibility(page)).toEqual([]);
    await screenshot(page, 'console-releases');
  });

  it('refuses a signature that does not match, with the reason', async () => {
    const tampered = join(work, 'tampered.sig.json');
    const s = JSON.parse(readFileSync(signature, 'utf8'));
    writeFileSync(tampered, JSON.stringify({ ...s, manifest: { ...s.manifest, version: '2.0.1' } }));
    await page.setInputFiles('#rel-bundle', bundle);
    await page.setInputFiles('#rel-signature', tampered);
    await page.click('[data-action=upload]');
    await page.waitForSelector('form[data-form=upload] .notice.error');
    expect(await page.textContent('form[data-form=upload] .notice.error')).toMatch(/signature: does not match release 2\.0\.1 .*\(release-signature\)/);
  });

  it('is not offered to a site manager', async () => {
    await login(manager);
    expect(await page.$('nav [data-screen=releases]')).toBeNull();
  });
});
