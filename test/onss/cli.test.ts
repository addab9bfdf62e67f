import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rsaKeyPair, tempDir, writeJson } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CIAO = join(ROOT, 'bin', 'ciao.mjs');
const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('ciao emulator', () => {
  it('has --help naming its options', () => {
    const r = spawnSync(process.execPath, [CIAO, 'emulator', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const opt of ['--port', '--db', '--clients', '--declarations', '--fault']) expect(r.stdout).toContain(opt);
  });

  it('refuses an unknown fault and a bad declarations file, naming the problem', () => {
    const r = spawnSync(process.execPath, [CIAO, 'emulator', '--port', '0', '--db', join(tmp.dir, 'x.sqlite'), '--fault', 'meteor=1'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unknown fault 'meteor'");
    const decl = writeJson(join(tmp.dir, 'decl.json'), { declarations: [{ reference: 'IOIOIOIOIOIOI' }] });
    const r2 = spawnSync(process.execPath, [CIAO, 'emulator', '--port', '0', '--db', join(tmp.dir, 'y.sqlite'), '--declarations', decl], { encoding: 'utf8' });
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain('declarations.0.reference');
  });

  it('serves with clients, declarations and faults from files and flags, and stops on SIGTERM', async () => {
    const keys = await rsaKeyPair();
    const clients = writeJson(join(tmp.dir, 'clients.json'), [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }]);
    const decl = writeJson(join(tmp.dir, 'known.json'), { companies: [{ id: '0403019261' }], declarations: [{ reference: '1Y102M7NZF7PZ', companies: ['0403019261'] }] });
    const child = spawn(process.execPath, [CIAO, 'emulator', '--port', '0', '--db', join(tmp.dir, 'emu.sqlite'), '--clients', clients, '--declarations', decl, '--fault', 'rate-limit=1m:9'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const faults = (await (await fetch(`${url}/admin/faults`)).json()) as { retryAfterSeconds: number; rateLimitForMs: number };
    expect(faults.retryAfterSeconds).toBe(9);
    expect(faults.rateLimitForMs).toBeGreaterThan(0);
    const r = await fetch(`${url}/REST/oauth/v5/token`, { method: 'POST' });
    expect(r.status).toBe(429);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});
