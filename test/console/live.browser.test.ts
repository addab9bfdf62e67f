import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { resolve, join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { makeEnterpriseNumber } from '../../shared/identifiers/make.ts';
import { freePort } from '../../simulator/world/free-port.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { checkAccessibility, CHROMIUM, CHROMIUM_ARGS, haveChromium } from './helpers/browser.ts';

/**
 * Live updates survive a gateway restart: the console follows changes made elsewhere (here `ciao admin` in
 * another process) without a reload, says it is reconnecting while the gateway is down, and carries on
 * once it is back, on the same page. This gateway has no desk reader: a worker's page says so.
 */
const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
let gw: TestGateway;
let browser: Browser;
let page: Page;
let token: string;

async function admin(...args: string[]): Promise<void> {
  await run(process.execPath, [join(REPO, 'bin/ciao.mjs'), 'admin', '--db', gw.dbPath, ...args], { cwd: REPO });
}

describe.skipIf(!haveChromium)('live console across a gateway restart', () => {
  beforeAll(async () => {
    gw = await startTestGateway({ child: true, config: { http: { host: '127.0.0.1', port: await freePort() } } });
    token = (await addUser(SqliteStore.of(gw.db()), { name: 'Admin', role: 'administrator' })).token;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await (await browser.newContext({ locale: 'en-GB' })).newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('shows a change made by ciao admin without a reload, then reconnects after the gateway restarts', async () => {
    await page.goto(`http://127.0.0.1:${gw.httpPort}/console/#/companies`);
    await page.fill('#token', token);
    await page.press('#token', 'Enter');
    await page.waitForSelector('#live[data-live=live]');
    await page.waitForSelector('main table[data-kind=companies]');
    const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = Math.random()));

    const first = makeEnterpriseNumber('07654321');
    await admin('company', 'add', first, '--name', 'Added elsewhere');
    await page.waitForSelector(`main table[data-kind=companies] tr[data-id="${first}"]`);

    // An administrator adds a user; the token is shown once.
    await page.click('nav [data-screen=users]');
    await page.click('[data-action=new]');
    await page.fill('main input[name=name]', 'Lea Lecture');
    await page.selectOption('main select[name=role]', 'read-only');
    expect(await checkAccessibility(page)).toEqual([]);
    await page.click('main form button[type=submit]');
    await page.click('main .review [data-action=confirm]');
    const shown = (await page.textContent('main .notice.ok [data-token]'))!;
    expect(shown).toMatch(/^ciao_/);
    expect(await checkAccessibility(page)).toEqual([]);
    await page.click('nav [data-screen=companies]');
    await page.waitForSelector('main table[data-kind=companies]');

    await gw.kill();
    await page.waitForSelector('#live[data-live=reconnecting]');
    await gw.restart();
    await page.waitForSelector('#live[data-live=live]', { timeout: 20_000 });

    const second = makeEnterpriseNumber('07654322');
    await admin('company', 'add', second, '--name', 'Added after the restart');
    await page.waitForSelector(`main table[data-kind=companies] tr[data-id="${second}"]`);
    // Same page all along: no reload happened.
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(marker);
  });

  it("offers a worker's badge personalisation disabled, saying why, on a gateway without a desk reader", async () => {
    await page.click('nav [data-screen=workers]');
    await page.click('main table[data-kind=workers] tbody tr[data-id] button');
    await page.waitForSelector('main [data-kind=worker-badges] tr[data-badge] [data-badge-kind=uid-only]');
    await page.waitForSelector('main [data-desk-problem=desk-reader-not-configured]');
    expect(await page.isDisabled('main [data-action=personalise]')).toBe(true);
    expect(await page.textContent('main [data-desk-why]')).toContain('no desk reader is configured on the gateway');
    expect(await page.getAttribute('main [data-action=personalise]', 'aria-describedby')).toContain('desk-why');
    expect(await checkAccessibility(page)).toEqual([]);
  });
});
