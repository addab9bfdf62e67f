import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPlainAedes, type PlainBroker } from '../../bench/relay/aedes-broker.ts';
import { startAckResponder, type AckResponder } from '../../bench/relay/ack-responder.ts';

const CIAO = resolve(import.meta.dirname, '../../bin/ciao.mjs');

function ciao(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CIAO, ...args], { timeout: 50_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('ciao sim', () => {
  let broker: PlainBroker;
  let responder: AckResponder;
  let dir: string;
  beforeAll(async () => {
    broker = await startPlainAedes();
    responder = await startAckResponder(broker.url);
    dir = mkdtempSync(join(tmpdir(), 'ciao-sim-'));
  });
  afterAll(async () => {
    await responder.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--load runs terminals from a credentials file and prints the result as JSON', async () => {
    const creds = join(dir, 'terminals.json');
    writeFileSync(creds, JSON.stringify([{ id: 'cli-1', secret: 'a' }, { id: 'cli-2', secret: 'b' }, { id: 'cli-3', secret: 'c' }]));
    const r = await ciao(['sim', '--load', '--terminals', '2', '--count', '300', '--invalid-every', '3', '--url', broker.url, '--credentials', creds, '--json', '--no-progress']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ terminals: 2, sent: 300, unacked: 0, wrongAnswers: 0 });
    // Every third tap of each terminal is malformed: about 100, exactly as many as were rejected.
    expect(result.invalidSent).toBeGreaterThanOrEqual(99);
    expect(result.rejected).toBe(result.invalidSent);
    expect(result.stored).toBe(300 - result.invalidSent);
    expect(result.latencyMs.p50Ms).toBeLessThanOrEqual(result.latencyMs.p99Ms);
  });

  it('--load prints a readable summary and progress lines on stderr', async () => {
    const r = await ciao(['sim', '--load', '--terminals', '3', '--count', '90', '--url', broker.url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 terminals/);
    expect(r.stdout).toMatch(/acked: stored 90, rejected 0, unacked 0/);
    expect(r.stdout).toMatch(/ack latency \(ms\): p50 [\d.]+, p95 [\d.]+, p99 [\d.]+, max [\d.]+/);
    expect(r.stderr).toMatch(/no --credentials or --gateway-config given/);
    expect(r.stderr).toMatch(/^load: 90\/90 taps \(100\.0%\)/m);
  });

  it('names the bad option', async () => {
    const r = await ciao(['sim', '--load', '--rate', 'fast', '--url', broker.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--rate: must be a number above 0, got "fast"/);
    const few = join(dir, 'one.json');
    writeFileSync(few, JSON.stringify([{ id: 'x1', secret: 's' }]));
    const r2 = await ciao(['sim', '--load', '--terminals', '5', '--credentials', few, '--url', broker.url]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/--terminals: 5 asked for, but .* lists only 1/);
  });

  it('names what the interactive mode lacks, and plays a scenario with its checks', async () => {
    const a = await ciao(['sim']);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/--url: is required without --config/);
    expect(a.stderr).toMatch(/--id: is required without --config/);
    const missing = await ciao(['sim', '--scenario', join(dir, 'day.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/scenario .*day\.json/);
    const played = await ciao(['sim', '--scenario', join(import.meta.dirname, '../../simulator/scenarios/days/agency-worker.json')]);
    expect(played.code).toBe(0);
    const summary = JSON.parse(played.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ scenario: 'Agency worker', passed: true, taps: 2, forwarded: 2, lost: 0, duplicates: 0 });
  }, 90_000);
});
