import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { loadTerminalConfig } from '../../terminal/config.ts';
import { startTerminal, type TerminalHandle } from '../../terminal/main.ts';
import { pairTerminal } from '../../terminal/pairing/pair.ts';
import { SimulatedReader } from '../../terminal/adapters/simulated-reader.ts';
import { SimulatedPanel } from '../../terminal/adapters/simulated-panel.ts';
import { makeTestCertificates } from './helpers/tls.ts';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { waitUntil } from './helpers/wait.ts';
import type { Json } from '../support/json.ts';

/**
 * Pairing a terminal without touching JSON: the console's one-time code, spent over HTTPS by
 * `ciao terminal pair`, writes a config the terminal starts with; the settings edited afterwards reach the
 * terminal, which reports the version it applied.
 */
let gw: TestGateway;
let token: string;
let certs: { ca: string; cert: string; key: string };
const terminals: TerminalHandle[] = [];
const dir = mkdtempSync(join(tmpdir(), 'ciao-pair-'));

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: r.status, json: (await r.json()) as Json };
}

beforeAll(async () => {
  certs = makeTestCertificates(mkdtempSync(join(tmpdir(), 'ciao-pair-tls-')));
  gw = await startTestGateway({
    config: {
      mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: certs.cert, key: certs.key, ca: certs.ca } },
      http: { host: '127.0.0.1', port: 0, pairing: { port: 0, cert: certs.cert, key: certs.key, ca: certs.ca } },
    },
  });
  token = (await addUser(SqliteStore.of(gw.db()), { name: 'Marie', role: 'site-manager', sites: [gw.seed.sites.main] })).token;
});

afterAll(async () => {
  for (const t of terminals) await t.stop();
  await gw?.stop();
});

describe('pairing a terminal', () => {
  it('adds a terminal, pairs it with the one-time code, and the terminal comes online and applies its settings', async () => {
    const created = await api('/terminals', { method: 'POST', body: { id: 'entree-nord', siteId: gw.seed.sites.main } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'entree-nord', state: 'never-seen' });
    const pairing = await api('/terminals/entree-nord/pairing', { method: 'POST' });
    expect(pairing.status).toBe(201);
    expect(pairing.json.pairingString).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\.[0-9a-f]{64}$/);
    expect(pairing.json.command).toBe(`ciao terminal pair ${pairing.json.pairingString} --gateway ${pairing.json.gateway}`);
    expect(pairing.json.qrSvg).toMatch(/^<svg/);
    // Only the hash of the code is stored.
    expect(JSON.stringify(gw.db().prepare('SELECT * FROM terminal_pairings').all())).not.toContain(pairing.json.code);

    const out = join(dir, 'entree-nord.json');
    const r = await pairTerminal({ pairing: pairing.json.pairingString, gateway: pairing.json.gateway, out, reader: 'simulated', panel: 'console' });
    expect(r.terminalId).toBe('entree-nord');
    expect(r.mqttUrl).toBe(`mqtts://127.0.0.1:${gw.tlsPort}`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const config = loadTerminalConfig(out);
    expect(config).toMatchObject({ id: 'entree-nord', reader: 'simulated', mqtt: { url: r.mqttUrl, ca: r.caPath } });

    const panel = new SimulatedPanel();
    const t = await startTerminal(config, { reader: new SimulatedReader(), panel });
    terminals.push(t);
    await waitUntil(async () => (await api('/terminals/entree-nord')).json.state === 'online', { what: 'the paired terminal online' });

    // Settings edited in the console reach the terminal; it reports the version it applied.
    const changed = await api('/terminals/entree-nord', { method: 'PATCH', body: { language: 'nl', feedbackSeconds: 2 } });
    expect(changed.status).toBe(200);
    const version = Number(changed.json.configVersion);
    await waitUntil(async () => Number((await api('/terminals/entree-nord')).json.appliedConfigVersion) === version, { what: 'the terminal applying its new settings' });
    expect(t.state.settings).toMatchObject({ language: 'nl', feedbackSeconds: 2 });

    // Enrolment mode: an unknown badge tapped there is acked with the enrolment text, in the terminal's language.
    expect((await api('/terminals/entree-nord/enrolment', { method: 'POST', body: { minutes: 15 } })).json.enrolmentUntil).toEqual(expect.any(String));
    const reader = t.reader as SimulatedReader;
    const acked = new Promise<{ display?: string }>((resolve) => t.link.once('ack', resolve));
    reader.present('0BADC0DE');
    expect((await acked).display).toBe('In te schrijven');
    expect((await api('/held-taps?terminal=entree-nord&reason=unknown-badge')).json.items.map((h) => h.badge)).toEqual(['0BADC0DE']);

    // The pairing is in the audit trail.
    const audit = await api('/audit?entity=terminal&entityId=entree-nord');
    expect(audit.json.items.map((e) => e.action)).toEqual(expect.arrayContaining(['create', 'pairing-code', 'paired', 'update', 'enrolment-on']));
  });

  it('refuses a used code, and a gateway whose CA is not the one in the pairing string, before sending the code', async () => {
    await api('/terminals', { method: 'POST', body: { id: 'entree-sud', siteId: gw.seed.sites.main } });
    const pairing = await api('/terminals/entree-sud/pairing', { method: 'POST' });
    const wrongFingerprint = `${pairing.json.code}.${'0'.repeat(64)}`;
    await expect(pairTerminal({ pairing: wrongFingerprint, gateway: pairing.json.gateway, out: join(dir, 'sud-1.json'), reader: 'simulated', panel: 'console' }))
      .rejects.toMatchObject({ problems: [{ field: 'code', rule: 'ca-fingerprint' }] });
    // The code was not spent by the refused attempt: it still pairs.
    await pairTerminal({ pairing: pairing.json.pairingString, gateway: pairing.json.gateway, out: join(dir, 'sud-2.json'), reader: 'simulated', panel: 'console' });
    await expect(pairTerminal({ pairing: pairing.json.pairingString, gateway: pairing.json.gateway, out: join(dir, 'sud-3.json'), reader: 'simulated', panel: 'console' }))
      .rejects.toMatchObject({ problems: [{ field: 'code', rule: 'claim' }] });
  });

  it('refuses an expired code', async () => {
    await api('/terminals', { method: 'POST', body: { id: 'entree-est', siteId: gw.seed.sites.main } });
    const pairing = await api('/terminals/entree-est/pairing', { method: 'POST' });
    gw.db().prepare("UPDATE terminal_pairings SET expires_at = '2000-01-01T00:00:00.000Z' WHERE terminal_id = 'entree-est'").run();
    await expect(pairTerminal({ pairing: pairing.json.pairingString, gateway: pairing.json.gateway, out: join(dir, 'est.json'), reader: 'simulated', panel: 'console' }))
      .rejects.toThrow(/refused the code \(401\).*expired/);
  });

  it('makes an address that keeps sending wrong codes wait', async () => {
    const pairing = await api('/terminals/entree-est/pairing', { method: 'POST' });
    const wrong = `ZZZZZ-ZZZZZ-ZZZZZ.${pairing.json.pairingString.split('.')[1]}`;
    const statuses: string[] = [];
    for (let i = 0; i < 11; i++) {
      await pairTerminal({ pairing: wrong, gateway: pairing.json.gateway, out: join(dir, `wrong-${i}.json`), reader: 'simulated', panel: 'console' })
        .catch((err: Error) => statuses.push(/refused the code \((\d+)\)/.exec(err.message)?.[1] ?? err.message));
    }
    // Ten refusals a minute per address (the earlier tests' refused codes count too), then 429 for all.
    const limited = statuses.indexOf('429');
    expect(limited).toBeGreaterThan(0);
    expect(limited).toBeLessThanOrEqual(10);
    expect(statuses.slice(0, limited).every((s) => s === '401')).toBe(true);
    expect(statuses.slice(limited).every((s) => s === '429')).toBe(true);
    // Even the right code waits now.
    await expect(pairTerminal({ pairing: pairing.json.pairingString, gateway: pairing.json.gateway, out: join(dir, 'right.json'), reader: 'simulated', panel: 'console' }))
      .rejects.toThrow(/refused the code \(429\)/);
  });

  it('lets no read-only user make a pairing code', async () => {
    const ro = (await addUser(SqliteStore.of(gw.db()), { name: 'Lecteur', role: 'read-only', sites: [gw.seed.sites.main] })).token;
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/terminals/entree-nord/pairing`, { method: 'POST', headers: { authorization: `Bearer ${ro}` } });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { problems: Array<{ rule: string }> }).problems[0]!.rule).toBe('permission-change-site-data');
  });
});
