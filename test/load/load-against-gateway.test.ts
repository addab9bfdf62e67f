import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { TEST_SEED } from '../gateway/helpers/seed.ts';
import { runLoad } from '../../simulator/load/index.ts';

describe('load generator against the real gateway', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { logLevel: 'warn' } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('every tap is acked: valid ones stored in the database, malformed ones rejected and quarantined', async () => {
    const terminals = [await gw.addTerminal(), await gw.addTerminal(), await gw.addTerminal()];
    const result = await runLoad({
      url: `mqtt://127.0.0.1:${gw.mqttPort}`,
      terminals,
      count: 600,
      invalidEvery: 5,
      badges: [TEST_SEED.workers.solo.badge, TEST_SEED.workers.posted.badge],
      progress: false,
    });
    expect(result.sent).toBe(600);
    expect(result.unacked).toBe(0);
    expect(result.wrongAnswers).toBe(0);
    expect(result.invalidSent).toBeGreaterThan(0);
    expect(result.rejected).toBe(result.invalidSent);
    expect(result.rejectReasons).toEqual({ 'invalid-field': result.invalidSent });
    expect(result.stored).toBe(600 - result.invalidSent);
    expect(result.latencyMs!.p50Ms).toBeLessThanOrEqual(result.latencyMs!.p95Ms);
    expect(result.latencyMs!.p95Ms).toBeLessThanOrEqual(result.latencyMs!.p99Ms);

    const ids = terminals.map((t) => t.id);
    const where = `terminal_id IN (${ids.map(() => '?').join(',')})`;
    const stored = (gw.db().prepare(`SELECT count(*) AS n FROM taps WHERE ${where}`).get(...ids) as { n: number }).n;
    const quarantined = (gw.db().prepare(`SELECT count(*) AS n FROM quarantine WHERE ${where}`).get(...ids) as { n: number }).n;
    expect(stored).toBe(result.stored);
    expect(quarantined).toBe(result.rejected);
  });

  it('a wrong secret fails the run with the terminal named', async () => {
    const t = await gw.addTerminal();
    await expect(runLoad({ url: `mqtt://127.0.0.1:${gw.mqttPort}`, terminals: [{ id: t.id, secret: 'wrong' }], count: 1, progress: false })).rejects.toThrow(
      new RegExp(`terminal ${t.id} could not connect`),
    );
  });

  it('ciao sim --load --gateway-config creates its terminals in the gateway database, and again with new secrets', async () => {
    const run = () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(
          process.execPath,
          [resolve(import.meta.dirname, '../../bin/ciao.mjs'), 'sim', '--load', '--terminals', '2', '--count', '40', '--gateway-config', gw.configPath, '--site', TEST_SEED.sites.main, '--url', `mqtt://127.0.0.1:${gw.mqttPort}`, '--json', '--no-progress'],
          { timeout: 50_000 },
          (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    for (let round = 0; round < 2; round++) {
      const r = await run();
      expect(r.stderr).not.toMatch(/could not connect/);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ terminals: 2, sent: 40, stored: 40, unacked: 0 });
    }
    const rows = gw.db().prepare("SELECT id, site_id FROM terminals WHERE id LIKE 'load-%' ORDER BY id").all();
    expect(rows).toEqual([{ id: 'load-001', site_id: TEST_SEED.sites.main }, { id: 'load-002', site_id: TEST_SEED.sites.main }]);
  });
});
