import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { toOffsetIso } from '../../shared/time.ts';
import { migrate } from '../../shared/sqlite.ts';
import { FORWARD_MIGRATIONS } from '../../gateway/forward/schema.ts';
import { appendRegistration, appendUnregisteredTap, createWorld, NISS_W1, setTerminalStatus, startServer, type Server, type World } from './helpers/world.ts';
import { EMPLOYER_B } from './helpers/facts.ts';
import { siteDay } from '../support/site-day.ts';

/**
 * The dashboard in real headless Chromium against a real server and database: log in, watch a terminal go
 * offline, a remark appear and clear, export a period, and see a 101-day export refused.
 */
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required under CI (Debian package chromium)`);
if (!haveChromium) console.warn(`SKIPPING dashboard browser tests: ${CHROMIUM} is not installed`);

let world: World;
let server: Server;
let browser: Browser;
let page: Page;

/**
 * The day of the worker's full shift: two days ago, so the INs made a few hours ago (for presence) never
 * fall on it, whatever the time the suite runs (just after midnight they fall on yesterday).
 */
const SHIFT_DAY = siteDay(2);

/** Site wall-clock time `minutesAgo` before now, as YYYY-MM-DDTHH:MM. */
const localAgo = (minutesAgo: number) => toOffsetIso(new Date(Date.now() - minutesAgo * 60_000)).slice(0, 16);

describe.skipIf(!haveChromium)('dashboard in Chromium', () => {
  beforeAll(async () => {
    world = createWorld();
    world.clock.now = new Date();
    Object.defineProperty(world.clock, 'now', { get: () => new Date() });
    appendRegistration(world.db, { local: `${SHIFT_DAY}T08:00`, type: 'IN', employer: EMPLOYER_B });
    appendRegistration(world.db, { local: `${SHIFT_DAY}T09:00`, type: 'IN' });
    appendRegistration(world.db, { local: `${SHIFT_DAY}T12:00`, type: 'OUT', reason: 'break' });
    appendRegistration(world.db, { local: `${SHIFT_DAY}T12:30`, type: 'IN', reason: 'break' });
    appendRegistration(world.db, { local: `${SHIFT_DAY}T16:00`, type: 'OUT' });
    appendRegistration(world.db, { local: localAgo(120), type: 'IN', worker: 'W1', terminal: 'T1' });
    appendRegistration(world.db, { local: localAgo(200), type: 'IN', worker: 'W2', terminal: 'T2' });
    appendRegistration(world.db, { local: localAgo(20), type: 'OUT', worker: 'W2', terminal: 'T2', reason: 'break' });
    // The forwarder's tables as it leaves them: everything created at ONSS, one outage in the journal.
    migrate(world.db, 'forward', FORWARD_MIGRATIONS);
    world.db.prepare(
      `INSERT INTO forward_state (seq, tap_id, client_reference, state, first_sent_at, last_sent_at, answered_at, onss_id, remarks)
       SELECT seq, tap_id, 'ref-' || seq, 'created', received_at, received_at, received_at, 'ONSS-' || seq, '[]' FROM registrations`,
    ).run();
    world.db.prepare('INSERT INTO outage_journal (started_at, ended_at, cause, last_cause, failures, registrations_delayed) VALUES (?, ?, ?, ?, 4, 0)')
      .run(new Date(Date.now() - 300 * 60_000).toISOString(), new Date(Date.now() - 280 * 60_000).toISOString(), 'ONSS answered 503 Service Unavailable', 'connection reset');
    setTerminalStatus(world.db, 'T1', { state: 'online', queued: 0, skewMs: 400, updatedAt: new Date() });
    setTerminalStatus(world.db, 'T2', { state: 'online', queued: 2, skewMs: -1500, updatedAt: new Date() });
    server = await startServer(world);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true, locale: 'fr-BE', timezoneId: 'Europe/Brussels' });
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    await world?.close();
  });

  it('refuses a wrong token and logs in with a good one', async () => {
    await page.goto(`${server.url}/dashboard/`);
    await page.fill('#token', 'ciao_wrong');
    await page.click('#loginForm button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#loginError')?.textContent?.includes('valid-token'));
    await page.fill('#token', server.tokens.admin);
    await page.click('#loginForm button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    expect(await page.textContent('#who')).toContain('Admin (administrator)');
    await page.waitForSelector('#terminals tr[data-terminal="T1"] [data-state="online"]');
    await page.waitForSelector('#presence tbody tr:nth-child(2)');
    const presence = await page.$$eval('#presence tbody tr', (rows) => rows.map((r) => r.textContent));
    expect(presence.join(' ')).toMatch(/Amina Diallo.*au travail/);
    expect(presence.join(' ')).toMatch(/Pieter Janssens.*en pause/);
  });

  it('shows a terminal going offline', async () => {
    setTerminalStatus(world.db, 'T1', { state: 'offline', queued: 5, skewMs: 400, updatedAt: new Date() });
    await page.waitForSelector('#terminals tr[data-terminal="T1"] [data-state="offline"]', { timeout: 15_000 });
    expect(await page.textContent('#terminals tr[data-terminal="T1"]')).toContain('5');
  });

  it('shows a remark appear with its advice, and clear when resolved', async () => {
    await page.waitForSelector('#remarkSummary li[data-kind="double-in"]');
    appendUnregisteredTap(world.db, { local: localAgo(10), badge: '0A0B0C0D', status: 'unknown-badge', detail: 'badge 0A0B0C0D is not known' });
    await page.waitForSelector('#remarkSummary li[data-kind="unknown-badge"]', { timeout: 15_000 });
    const text = await page.textContent('#remarkSummary li[data-kind="unknown-badge"]');
    expect(text).toContain('0A0B0C0D');
    expect(text).toContain('attribuez-lui ce badge');
    // Dutch for the screenshot reader in Ghent; then back to French.
    await page.selectOption('#lang', 'nl');
    await page.waitForFunction(() => document.querySelector('#remarkSummary li[data-kind="unknown-badge"] .advice')?.textContent?.includes('koppel de badge'));
    await page.selectOption('#lang', 'fr');
    world.db.prepare("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('0A0B0C0D', 'W2', ?, ?)").run(siteDay(30), new Date().toISOString());
    await page.waitForSelector('#remarkSummary li[data-kind="unknown-badge"]', { state: 'detached', timeout: 15_000 });
    expect(await page.$('#remarkSummary li[data-kind="double-in"]')).not.toBeNull();
  });

  it('takes the screenshot of the overview', async () => {
    setTerminalStatus(world.db, 'T2', { state: 'online', queued: 0, skewMs: 95_000, updatedAt: new Date() });
    await page.waitForSelector('#remarkSummary li[data-kind="clock-skew"]', { timeout: 15_000 });
    // docs/dashboard.png is refreshed on request only, so a test run never changes the tracked file.
    const target = process.env.CIAO_UPDATE_SCREENSHOTS === '1' ? 'docs' : world.dir;
    mkdirSync(target, { recursive: true });
    await page.screenshot({ path: join(target, 'dashboard.png'), fullPage: true });
    expect(readFileSync(join(target, 'dashboard.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('shows the outage journal', async () => {
    await page.click('#tabs button[data-tab="outages"]');
    await page.waitForSelector('#outages tbody tr td:text("onss")');
    expect(await page.textContent('#outages tbody')).toContain('503 Service Unavailable');
  });

  it('draws the day timeline of a worker', async () => {
    await page.click('#tabs button[data-tab="registrations"]');
    await page.fill('#regForm [name=from]', SHIFT_DAY);
    await page.fill('#regForm [name=to]', SHIFT_DAY);
    await page.click('#regForm button[type=submit]');
    await page.waitForSelector('#registrations tbody tr[data-seq]');
    await page.click('#registrations tbody tr[data-seq] button.link');
    await page.waitForSelector('#timeline .bar.break');
    const kinds = await page.$$eval('#timeline .bar', (bars) => bars.map((b) => b.className));
    expect(kinds).toEqual(['bar open', 'bar work', 'bar break', 'bar work']);
  });

  it('prepares a correction from a registration, and shows a refusal with its rule', async () => {
    await page.click('#tabs button[data-tab="registrations"]');
    await page.fill('#regForm [name=from]', SHIFT_DAY);
    await page.fill('#regForm [name=to]', SHIFT_DAY);
    await page.click('#regForm button[type=submit]');
    await page.click('#registrations tbody tr[data-seq] button.correct');
    await page.waitForSelector('[data-panel="corrections"]:not([hidden])');
    await page.fill('#correctionForm [name=requestedValue]', '0403019262');
    await page.fill('#correctionForm [name=reason]', 'Overname op 1 maart');
    await page.click('#correctionForm button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#correctionError')?.textContent?.includes('checksum'));
    await page.fill('#correctionForm [name=requestedValue]', '0403.019.261');
    await page.click('#correctionForm button[type=submit]');
    await page.waitForSelector('#corrections tbody tr[data-correction]');
    expect(await page.textContent('#corrections tbody tr[data-correction]')).toContain('0403019261');
    await page.click('#corrections tbody tr[data-correction] button.link');
    await page.waitForFunction(() => document.querySelector('#corrections tbody tr[data-correction]')?.textContent?.includes('envoyée'));
  });

  it('exports a period, and refuses a 101-day export naming the rule', async () => {
    await page.click('#tabs button[data-tab="export"]');
    await page.fill('#exportForm [name=from]', siteDay(99));
    await page.fill('#exportForm [name=to]', siteDay(0));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#exportForm button[type=submit]')]);
    expect(download.suggestedFilename()).toBe(`ciao-registrations-${siteDay(99)}_${siteDay(0)}.csv`);
    const csv = readFileSync((await download.path())!, 'utf8');
    expect(csv.trim().split('\r\n')).toHaveLength(1 + 8);
    expect(csv).toContain(NISS_W1); // an administrator may see NISS
    await page.waitForFunction(() => document.querySelector('#exportResult')?.textContent?.includes('8'));

    await page.fill('#exportForm [name=from]', siteDay(100));
    await page.click('#exportForm button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#exportError')?.textContent?.includes('max-100-calendar-days'));
    expect(await page.textContent('#exportError')).toContain('101');
  });

  it('a site manager sees only their site and no NISS in an export', async () => {
    await page.click('#logout');
    await page.fill('#token', server.tokens.manager);
    await page.click('#loginForm button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    await page.click('#tabs button[data-tab="export"]');
    await page.fill('#exportForm [name=from]', siteDay(10));
    await page.fill('#exportForm [name=to]', siteDay(0));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#exportForm button[type=submit]')]);
    const csv = readFileSync((await download.path())!, 'utf8');
    expect(csv).not.toContain(NISS_W1);
    expect(csv).not.toContain('Kantoor Gent');
    expect(csv.trim().split('\r\n')).toHaveLength(1 + 6);
  });
});
