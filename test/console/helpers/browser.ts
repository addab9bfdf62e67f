import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';

/** Chromium for the console's browser tests (Debian's package), and the accessibility check run in its pages. */
export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required under CI (Debian package chromium)`);
if (!haveChromium) console.warn(`SKIPPING console browser tests: ${CHROMIUM} is not installed`);

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core in the page (evaluated through the debugging protocol, so the console's strict CSP stays on)
 * and answers the serious and critical violations, each as `rule: target`.
 */
export async function checkAccessibility(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`));
  });
}

const DOCS = resolve(import.meta.dirname, '../../../docs');

/** Refreshes a screenshot of docs/ when CIAO_UPDATE_SCREENSHOTS=1 (docs/site-manager.md shows them). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.CIAO_UPDATE_SCREENSHOTS !== '1') return;
  await page.screenshot({ path: join(DOCS, `${name}.png`) });
}
