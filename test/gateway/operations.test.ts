import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseGatewayConfig, loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/main.ts';
import { createLogger } from '../../shared/logging.ts';
import { formatWorkerNumber } from '../../shared/identifiers/national-number.ts';
import { makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { startTestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { ciao } from './helpers/cli.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { waitUntil } from './helpers/wait.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

describe('gateway config', () => {
  it('fills defaults and resolves paths from the config file folder', () => {
    const c = parseGatewayConfig({ database: 'data/gw.db' }, '/etc/ciao', {});
    expect(c.database).toBe('/etc/ciao/data/gw.db');
    expect(c.mqtt.port).toBe(1883);
    expect(c.http.port).toBe(8080);
    expect(c.groupCommit.maxDelayMs).toBeGreaterThan(0);
    expect(c.mqtt.tls).toBeUndefined();
    const tls = parseGatewayConfig({ database: 'gw.db', mqtt: { tls: { cert: 'c.pem', key: 'k.pem' } } }, '/etc/ciao', { CIAO_GATEWAY_TLS_KEY: '/run/secrets/key.pem', CIAO_GATEWAY_TLS_KEY_PASSPHRASE: 'pp' });
    expect(tls.mqtt.tls).toMatchObject({ port: 8883, cert: '/etc/ciao/c.pem', key: '/run/secrets/key.pem', passphrase: 'pp' });
  });

  it('names the bad field and the rule', () => {
    expect(() => parseGatewayConfig({ database: 'x.db', mqtt: { port: 70000 } })).toThrow(/mqtt\.port: must be 0 to 65535/);
    expect(() => parseGatewayConfig({ mqtt: {} })).toThrow(/database: is required/);
    expect(() => parseGatewayConfig({ database: 'x.db', groupCommit: { maxBatch: 0 } })).toThrow(/groupCommit\.maxBatch/);
    expect(() => parseGatewayConfig({ database: 'x.db', mqtt: { tls: { cert: 'c.pem' } } })).toThrow(/mqtt\.tls\.key: is required/);
    expect(() => parseGatewayConfig({ database: 'x.db', htp: {} })).toThrow(/htp: unknown field/);
  });

  it('ciao gateway refuses a bad config with a clear message, and has --help', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-cfg-'));
    try {
      const file = join(dir, 'gw.json');
      writeFileSync(file, JSON.stringify({ database: 'gw.db', http: { port: 'eighty' } }));
      const r = await ciao(['gateway', '--config', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ciao gateway: could not start: config http\.port: /);
      expect(existsSync(join(dir, 'gw.db')), 'a refused config creates no database').toBe(false);
      writeFileSync(file, '{ not json');
      expect((await ciao(['gateway', '--config', file])).stderr).toMatch(/not valid JSON/);
      expect(() => loadGatewayConfig(join(dir, 'missing.json'))).toThrow(/cannot read gateway config/);
      const help = await ciao(['gateway', '--help']);
      expect(help.stdout).toMatch(/--config <file>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('the store section of the gateway config', () => {
  it('is SQLite by default, and takes a PostgreSQL URL from the file or, password included, from the environment', () => {
    expect(parseGatewayConfig({ database: 'gw.db' }, '/srv', {}).store).toEqual({ kind: 'sqlite', maxConnections: 10 });
    // The variable belongs to PostgreSQL: a SQLite store keeps its file.
    expect(parseGatewayConfig({ database: 'gw.db' }, '/srv', { CIAO_GATEWAY_DATABASE_URL: 'postgres://ciao:pw@db:5432/ciao' }).store).toEqual({ kind: 'sqlite', maxConnections: 10 });
    expect(parseGatewayConfig({ database: 'gw.db', store: { kind: 'postgres', url: 'postgres://ciao@db:5432/ciao', maxConnections: 20 } }, '/srv', {}).store)
      .toEqual({ kind: 'postgres', url: 'postgres://ciao@db:5432/ciao', maxConnections: 20 });
    expect(parseGatewayConfig({ database: 'gw.db', store: { kind: 'postgres', url: 'postgres://ciao@db:5432/ciao' } }, '/srv', { CIAO_GATEWAY_DATABASE_URL: 'postgresql://ciao:s3cret@db:5432/ciao' }).store.url)
      .toBe('postgresql://ciao:s3cret@db:5432/ciao');
    expect(parseGatewayConfig({ database: 'gw.db', store: { kind: 'postgres' } }, '/srv', { CIAO_GATEWAY_DATABASE_URL: 'postgres://ciao:s3cret@db/ciao' }).store.url).toBe('postgres://ciao:s3cret@db/ciao');
  });

  it('names the field and the rule of a bad value', () => {
    const parse = (store: unknown, env: NodeJS.ProcessEnv = {}) => () => parseGatewayConfig({ database: 'gw.db', store }, '/srv', env);
    expect(parse({ kind: 'mysql' })).toThrow(/config store\.kind: must be "sqlite" or "postgres"/);
    expect(parse({ kind: 'postgres', url: 'http://db:5432/ciao' })).toThrow(/config store\.url: must be a URL like postgres:\/\/ciao@10\.0\.0\.5:5432\/ciao/);
    expect(parse({ kind: 'postgres' })).toThrow(/config store\.url: is required with store\.kind "postgres" \(or CIAO_GATEWAY_DATABASE_URL/);
    expect(parse({ kind: 'postgres' }, { CIAO_GATEWAY_DATABASE_URL: 'db:5432' })).toThrow(/config store\.url: CIAO_GATEWAY_DATABASE_URL must be a URL like postgres:/);
    expect(parse({ url: 'postgres://ciao@db/ciao' })).toThrow(/config store\.url: is only for store\.kind "postgres"/);
    expect(parse({ kind: 'postgres', url: 'postgres://ciao@db/ciao', maxConnections: 0 })).toThrow(/config store\.maxConnections: must be 1 to 100/);
    expect(parse({ kind: 'sqlite', path: 'x.db' })).toThrow(/path: unknown field/);
  });

  it('ciao gateway on a PostgreSQL that does not answer exits 1 naming the server, without its password, and opens no SQLite file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-store-'));
    const nobody = await closedPort();
    try {
      const file = join(dir, 'gw.json');
      writeFileSync(file, JSON.stringify({ database: 'gw.db', store: { kind: 'postgres' }, mqtt: { port: 0 }, http: { port: 0 } }));
      const r = await ciao(['gateway', '--config', file], { CIAO_GATEWAY_DATABASE_URL: `postgres://ciao:s3cret-pw@127.0.0.1:${nobody}/ciao` });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`ciao gateway: could not start: PostgreSQL store at postgres://ciao:\\*+@127\\.0\\.0\\.1:${nobody}/ciao: cannot connect`));
      expect(r.stderr).not.toContain('s3cret-pw');
      expect(existsSync(join(dir, 'gw.db')), 'no SQLite file is made').toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the forwarder lease to PostgreSQL with the store, and refuses a lease row in a SQLite file beside a PostgreSQL store', () => {
    const url = 'postgres://ciao@db:5432/ciao';
    const onss = { baseUrl: 'https://onss.example' };
    expect(parseGatewayConfig({ database: 'gw.db', store: { kind: 'postgres', url }, onss }, '/srv', {}).onss).toMatchObject({ lease: { store: 'postgres', url } });
    expect(parseGatewayConfig({ database: 'gw.db', store: { kind: 'postgres', url }, onss: { ...onss, lease: { store: 'postgres', url: 'postgres://lease@other/ciao' } } }, '/srv', {}).onss)
      .toMatchObject({ lease: { url: 'postgres://lease@other/ciao' } });
    expect(() => parseGatewayConfig({ database: 'gw.db', store: { kind: 'postgres', url }, onss: { ...onss, lease: { store: 'sqlite' } } }, '/srv', {}))
      .toThrow(/config onss\.lease\.store: "sqlite" keeps the forwarder lease in a SQLite file; with store\.kind "postgres" it must be "postgres"/);
    // On SQLite the section is left as written (its lease defaults to a row of the file).
    expect((parseGatewayConfig({ database: 'gw.db', onss }, '/srv', {}).onss as { lease?: unknown }).lease).toBeUndefined();
  });
});

describe('start-up failures exit non-zero (systemd restarts the gateway)', () => {
  const busyPort = async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
  };

  for (const which of ['mqtt', 'http'] as const) {
    it(`a taken ${which} port: the error is printed and the process exits with code 1`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ciao-port-'));
      const taken = await busyPort();
      try {
        const file = join(dir, 'gw.json');
        const ports = { mqtt: which === 'mqtt' ? taken.port : 0, http: which === 'http' ? taken.port : 0 };
        writeFileSync(file, JSON.stringify({ database: 'gw.db', mqtt: { host: '127.0.0.1', port: ports.mqtt }, http: { host: '127.0.0.1', port: ports.http } }));
        const r = await ciao(['gateway', '--config', file]);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`ciao gateway: could not start: .*EADDRINUSE.*${taken.port}`));
      } finally {
        await taken.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('an unreadable TLS key file is named, and no database is created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-tls-'));
    try {
      const file = join(dir, 'gw.json');
      writeFileSync(file, JSON.stringify({ database: 'gw.db', mqtt: { port: 0, tls: { port: 0, cert: 'missing-cert.pem', key: 'missing-key.pem' } }, http: { port: 0 } }));
      const r = await ciao(['gateway', '--config', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/config mqtt\.tls\.cert: cannot read .*missing-cert\.pem \(ENOENT\)/);
      expect(existsSync(join(dir, 'gw.db'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP server', () => {
  it('serves health and Prometheus metrics, and takes extra plugins on the same server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-http-'));
    const gw = await startGateway(
      { database: join(dir, 'gw.db'), mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
      {
        logger: createLogger('gateway', { level: 'silent' }),
        httpPlugins: [async (app, opts) => {
          app.get('/api/hello', async () => ({ hello: 'site manager', hasStore: typeof opts.store.all === 'function' }));
        }],
      },
    );
    try {
      const health = await fetch(`http://127.0.0.1:${gw.httpPort}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', terminalsOnline: 0, forwarder: 'off' });
      const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
      for (const name of ['ciao_gateway_taps_received_total', 'ciao_gateway_taps_stored_total', 'ciao_gateway_taps_rejected_total', 'ciao_gateway_commit_batch_size', 'ciao_gateway_ack_latency_seconds', 'ciao_gateway_terminals_online']) {
        expect(metrics).toContain(`# TYPE ${name}`);
      }
      expect(await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/hello`)).json()).toEqual({ hello: 'site manager', hasStore: true });
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ONSS forwarder hook', () => {
  it('refuses a bad onss section naming the field, and starts the forwarder from a good one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-onss-'));
    const lines: string[] = [];
    const logger = createLogger('gateway', { level: 'info' }, { write: (l: string) => void lines.push(l) });
    const base = { database: join(dir, 'gw.db'), mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } };
    try {
      await expect(startGateway({ ...base, onss: { enabled: true, clientId: 'x' } }, { logger })).rejects.toThrow(/config onss\.baseUrl: is required/);
      const gw = await startGateway({ ...base, onss: { enabled: false } }, { logger });
      await gw.stop();
      expect(lines.join('')).toMatch(/forwarding is disabled/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('NISS never in the logs', () => {
  it('a full run (admin CLI, gateway child, taps valid and invalid, status, shutdown) logs no NISS the test used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-niss-'));
    const gw = await startTestGateway({ child: true, dir });
    const extraNiss = makeWorkerNumber({ year: 1999, month: 12, day: 31 }, 5);
    try {
      const admin = (...args: string[]) => ciao(['admin', '--db', gw.dbPath, ...args], { CIAO_LOG_LEVEL: 'trace' });
      const cli = [
        await admin('worker', 'add', '--niss', extraNiss, '--name', 'Extra Worker', '--employer', gw.seed.companies.clean, '--id', 'w-extra'),
        await admin('worker', 'add', '--niss', `${extraNiss.slice(0, 10)}0`, '--name', 'Bad', '--employer', gw.seed.companies.clean),
        await admin('badge', 'add', 'DD000001', '--worker', extraNiss),
        await admin('worker', 'list'),
      ];
      const t = await gw.addTerminal('niss-logs');
      const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
      const acks = await AckCollector.attach(c, t.id);
      const taps = [
        makeTap(gw.seed.workers.solo.badge),
        makeTap('DD000001'),
        makeTap(gw.seed.workers.duo.badge),
        makeTap(gw.seed.unknownBadge),
      ];
      for (const tap of taps) await publishTap(c, t.id, tap);
      // Invalid taps carrying NISS numbers where they do not belong: they are quarantined, not logged.
      const leaky = [
        { ...makeTap(gw.seed.workers.solo.badge), badge: gw.seed.workers.solo.niss },
        { ...makeTap(gw.seed.workers.solo.badge), employer: gw.seed.workers.duo.niss },
        { ...makeTap(gw.seed.workers.solo.badge), [gw.seed.workers.revoked.niss]: formatWorkerNumber(gw.seed.workers.posted.niss) },
      ];
      for (const tap of leaky) await publishTap(c, t.id, tap);
      for (const tap of [...taps, ...leaky]) await acks.waitFor(tap.id);
      await c.publishAsync(topicFor(t.id, 'status'), JSON.stringify({ state: 'online', at: new Date().toISOString(), version: extraNiss }), { qos: 1 });
      await waitUntil(() => gw.db().prepare('SELECT 1 FROM registrations WHERE worker_id = ?').get('w-extra'));
      await c.endAsync();
      await gw.stop();

      const everything = [gw.logs(), ...cli.map((r) => r.stdout + r.stderr)].join('\n');
      expect(gw.logs()).toMatch(/tap rejected and quarantined/);
      expect(gw.logs().length).toBeGreaterThan(1000);
      const used = [extraNiss, `${extraNiss.slice(0, 10)}0`, ...Object.values(gw.seed.workers).map((w) => w.niss)];
      for (const niss of used) {
        expect(everything).not.toContain(niss);
        expect(everything).not.toContain(formatWorkerNumber(niss));
      }
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deployment', () => {
  const unit = join(REPO, 'deploy/ciao-gateway.service');
  const hasAnalyze = existsSync('/usr/bin/systemd-analyze') || existsSync('/bin/systemd-analyze');

  it('ships a systemd unit that runs `ciao gateway --config` and stops with SIGTERM', () => {
    const text = readFileSync(unit, 'utf8');
    expect(text).toMatch(/^ExecStart=.*bin\/ciao\.mjs gateway --config \S+$/m);
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^UMask=0077$/m);
    // The allocator settings that keep logins' scrypt memory from staying in the process (docs/PERFORMANCE.md).
    expect(text).toMatch(/^Environment=MALLOC_ARENA_MAX=2$/m);
    expect(text).toMatch(/^Environment=UV_THREADPOOL_SIZE=2$/m);
  });

  it.skipIf(!hasAnalyze)('passes systemd-analyze verify', async () => {
    const r = await run('systemd-analyze', ['verify', unit]).then((x) => ({ code: 0, stderr: x.stderr }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
    // A missing /usr/bin/node on the test machine is the only finding allowed.
    const findings = r.stderr.split('\n').filter((l) => l.trim() && !/\/usr\/bin\/node/.test(l));
    expect(findings).toEqual([]);
  });
});

