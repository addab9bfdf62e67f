import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every start-up failure of `ciao terminal` and `ciao emulator` prints what is wrong and exits non-zero,
 * so systemd's Restart= and its status see a failed unit instead of a process that hangs or limps on.
 * Real processes, with stdin from /dev/null as systemd starts them; each must be over within the spawn's
 * timeout (a hang ends as a killed process, which fails the status check).
 */
const CIAO = join(import.meta.dirname, '../../bin/ciao.mjs');

function ciao(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CIAO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

function expectFailure(r: ReturnType<typeof ciao>, message: RegExp) {
  expect(r.signal, `still running after 30 s: ${r.stderr}`).toBeNull();
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(message);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-startup-'));
  writeFileSync(join(dir, 'a-file'), 'not a folder');
  writeFileSync(join(dir, 'broken.json'), '{"id": ');
  writeFileSync(join(dir, 'not-a-cert.pem'), 'hello\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const terminal = (extra: Record<string, unknown>) => {
  const path = join(dir, `terminal-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ id: 'T-1', secret: 's', mqtt: { url: 'mqtt://127.0.0.1:1' }, reader: 'simulated', panel: 'console', outbox: join(dir, 'outbox.db'), ...extra }));
  return path;
};

describe('ciao terminal fails fast at start-up', () => {
  it('on a config file that cannot be read or is not JSON', () => {
    expectFailure(ciao(['terminal', '--config', join(dir, 'missing.json')]), /cannot read terminal config .*missing\.json.*ENOENT/);
    expectFailure(ciao(['terminal', '--config', join(dir, 'broken.json')]), /broken\.json is not valid JSON/);
  });

  it('on a config that breaks a rule, naming the field', () => {
    expectFailure(ciao(['terminal', '--config', terminal({ reader: 'usb' })]), /reader: must be "pcsc" or "simulated"/);
    expectFailure(ciao(['terminal', '--config', terminal({ secret: undefined })]), /secret: is required/);
  });

  it('on an outbox that cannot be opened', () => {
    expectFailure(ciao(['terminal', '--config', terminal({ outbox: join(dir, 'a-file', 'outbox.db') })]), /outbox: cannot open .*a-file\/outbox\.db/);
  });

  it('on a pinned CA that is missing or is not a certificate', () => {
    expectFailure(ciao(['terminal', '--config', terminal({ mqtt: { url: 'mqtts://127.0.0.1:1', ca: join(dir, 'no-ca.pem') } })]), /mqtt\.ca: cannot read .*no-ca\.pem/);
    expectFailure(ciao(['terminal', '--config', terminal({ mqtt: { url: 'mqtts://127.0.0.1:1', ca: join(dir, 'not-a-cert.pem') } })]), /mqtt\.ca: .*not-a-cert\.pem holds no PEM certificate/);
  });
});

describe('ciao emulator fails fast at start-up', () => {
  let taken: Server;
  let port: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    port = (taken.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => taken.close(() => r())));

  it('on a port that is taken', () => {
    expectFailure(ciao(['emulator', '--port', String(port), '--db', join(dir, 'em1.db')]), /EADDRINUSE.*127\.0\.0\.1:\d+/);
  });

  it('on an address it cannot listen on, and on a port that is not one', () => {
    expectFailure(ciao(['emulator', '--port', '0', '--host', '192.0.2.1', '--db', join(dir, 'em2.db')]), /EADDRNOTAVAIL/);
    expectFailure(ciao(['emulator', '--port', '70000', '--db', join(dir, 'em3.db')]), /--port: '70000' is not a port number/);
  });

  it('on files it cannot read or use', () => {
    expectFailure(ciao(['emulator', '--port', '0', '--db', join(dir, 'a-file', 'em.db')]), /a-file/);
    expectFailure(ciao(['emulator', '--port', '0', '--db', join(dir, 'em4.db'), '--clients', join(dir, 'no-clients.json')]), /cannot read clients file .*no-clients\.json/);
    expectFailure(ciao(['emulator', '--port', '0', '--db', join(dir, 'em5.db'), '--declarations', join(dir, 'broken.json')]), /declarations file .*broken\.json is not valid JSON/);
    expectFailure(ciao(['emulator', '--port', '0', '--db', join(dir, 'em6.db'), '--tls-cert', join(dir, 'no-cert.pem'), '--tls-key', join(dir, 'no-key.pem')]), /no-cert\.pem/);
    expectFailure(ciao(['emulator', '--port', '0', '--db', join(dir, 'em7.db'), '--fault', 'bogus=1']), /--fault: unknown fault 'bogus'/);
  });
});
