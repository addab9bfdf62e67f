import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { InvalidInputError } from '../../shared/problems.ts';
import { loadTerminalConfig, parseTerminalConfig } from '../../terminal/config.ts';
import { startTestGateway, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { makeCa } from './helpers/certs.ts';
import { startSimTerminal, tempDir, type SimTerminal } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

const minimal = { id: 'T-1', secret: 's3cret', mqtt: { url: 'mqtts://gw.local:8883' }, reader: 'simulated', panel: 'console', outbox: 'outbox.db' };

describe('terminal config', () => {
  it('applies defaults to a minimal config', () => {
    const c = parseTerminalConfig(minimal, {});
    expect(c.defaults.language).toBe('fr');
    expect(c.replayWindow).toBe(64);
    expect(c.pcsc.socketPath).toBe('/run/pcscd/pcscd.comm');
  });

  it('names each bad field and the rule it broke', () => {
    try {
      parseTerminalConfig({ ...minimal, id: 'a/b', reader: 'usb', mqtt: { url: 'ftp://x' }, replayWindow: 0, unknownThing: 1 }, {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      const fields = (err as InvalidInputError).problems.map((p) => `${p.field}:${p.rule}`);
      expect(fields).toEqual(expect.arrayContaining(['id:format', 'reader:enum', 'mqtt.url:format', 'replayWindow:min', 'unknownThing:unknown-field']));
      expect((err as Error).message).toContain('reader: must be "pcsc" or "simulated"');
    }
  });

  it('requires the board wiring for the johnny-five panel, and a secret from the file or the environment', () => {
    expect(() => parseTerminalConfig({ ...minimal, panel: 'johnny-five' }, {})).toThrow(/board: is required when panel is "johnny-five"/);
    const { secret: _omit, ...noSecret } = minimal;
    expect(() => parseTerminalConfig(noSecret, {})).toThrow(/secret: is required .*CIAO_TERMINAL_SECRET/);
    expect(parseTerminalConfig(noSecret, { CIAO_TERMINAL_SECRET: 'from-env' }).secret).toBe('from-env');
    expect(parseTerminalConfig(minimal, { CIAO_TERMINAL_SECRET: 'from-env' }).secret).toBe('from-env');
  });

  it('resolves relative paths against the config file', () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, 'terminal.json');
      writeFileSync(path, JSON.stringify({ ...minimal, mqtt: { url: minimal.mqtt.url, ca: 'ca.pem' } }));
      const c = loadTerminalConfig(path, {});
      expect(c.outbox).toBe(join(tmp.dir, 'outbox.db'));
      expect(c.mqtt.ca).toBe(join(tmp.dir, 'ca.pem'));
      writeFileSync(path, '{ not json');
      expect(() => loadTerminalConfig(path, {})).toThrow(/is not valid JSON/);
    } finally {
      tmp.cleanup();
    }
  });

  it('`ciao terminal` reports a bad config with the field and exits non-zero', async () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, 'bad.json');
      writeFileSync(path, JSON.stringify({ ...minimal, panel: 'lcd' }));
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = execFile(process.execPath, ['bin/ciao.mjs', 'terminal', '--config', path], { cwd: join(import.meta.dirname, '../..') }, (err, _out, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
        );
        p.stdin?.end();
      });
      expect(code).toBe(1);
      expect(stderr).toContain('ciao: panel: must be "johnny-five" or "console"');
    } finally {
      tmp.cleanup();
    }
  });
});

describe('TLS with a pinned CA', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway | undefined;
  let term: SimTerminal | undefined;
  afterEach(async () => {
    await term?.stop();
    term = undefined;
    await gw?.close();
    tmp.cleanup();
  });

  it('connects to a gateway whose certificate the pinned CA signed, and refuses one signed by another CA', async () => {
    tmp = tempDir();
    const good = makeCa(tmp.dir, 'good');
    const other = makeCa(tmp.dir, 'other');
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { 't-tls': 'secret-t-tls' }, tls: { key: good.key, cert: good.cert } });
    term = await startSimTerminal('t-tls', gw.url, join(tmp.dir, 'outbox.db'), { mqtt: { url: gw.url, ca: good.caPath } });
    await waitFor(() => term!.link.isConnected, { what: 'TLS connection' });
    term.sreader.present('DEADBEEF');
    await waitFor(() => gw!.storedCount() === 1);
    await term.stop();

    const refused = once(gw.server, 'tlsClientError');
    term = await startSimTerminal('t-tls', gw.url, join(tmp.dir, 'outbox2.db'), { mqtt: { url: gw.url, ca: other.caPath } });
    term.sreader.present('CAFEBABE');
    await refused;
    expect(term.link.isConnected).toBe(false);
    expect(term.link.stats.connects).toBe(0);
    expect(term.outbox.queued).toBe(1);
  });
});

describe('`ciao terminal --config FILE`', () => {
  it('runs a terminal: a badge typed on stdin is stored at the gateway, SIGTERM stops it cleanly with an offline status', async () => {
    const tmp = tempDir();
    const gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { 't-cli': 'from-env' } });
    try {
      const path = join(tmp.dir, 'terminal.json');
      writeFileSync(path, JSON.stringify({ id: 't-cli', mqtt: { url: gw.url }, reader: 'simulated', panel: 'console', outbox: 'outbox.db', defaults: { siteId: 'site-1' } }));
      const { spawn } = await import('node:child_process');
      const p = spawn(process.execPath, ['bin/ciao.mjs', 'terminal', '--config', path], {
        cwd: join(import.meta.dirname, '../..'),
        env: { ...process.env, CIAO_TERMINAL_SECRET: 'from-env', CIAO_LOG_LEVEL: 'warn' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
      await waitFor(() => gw.connectedClients() === 1, { what: 'terminal connected' });
      p.stdin!.write('04a1b2c3d4e5f6\n');
      await waitFor(() => gw.storedCount() === 1, { what: 'tap stored' });
      expect(JSON.parse(gw.stored()[0]!.payload).badge).toBe('04A1B2C3D4E5F6');
      await waitFor(() => out.includes('[lcd] |Badge inconnu'), { what: 'console panel output' });
      p.kill('SIGTERM');
      expect(await exited).toBe(0);
      await waitFor(() => gw.statuses.some((s) => s.payload.state === 'offline'));
    } finally {
      await gw.close();
      tmp.cleanup();
    }
  });
});
