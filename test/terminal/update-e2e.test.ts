import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { makeTestCertificates } from '../gateway/helpers/tls.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { readServiceCommand } from './helpers/service-unit.ts';
import { waitFor } from './helpers/wait.ts';
import type { Json } from '../support/json.ts';

/**
 * Signed updates end to end, with the compiled release and the product's own commands, as an operator and
 * an installer would: `npm run build` once, installed as the package on the box; the publisher's recipes of
 * docs/gateway.md run as written (`ciao release keygen`, then `pack`, `sign`, `upload`, `rollout` for the build
 * as 1.1.0, and for a deliberately broken 1.2.0 that crashes at start); two terminals paired with `ciao terminal pair` and run exactly as deploy/ciao-terminal.service
 * runs them (its launcher, its environment, restarted whenever they exit as Restart=always does), with
 * badges tapped on both all along. 1.1.0 is rolled out to one terminal: it downloads, checks, installs,
 * restarts into it and reports it; 1.2.0 is rolled out to the same terminal: it crashes at every start,
 * the launcher goes back to 1.1.0, which reports the rollback and why. Every tap a terminal recorded (its
 * feedback was given) is in the gateway's taps table exactly once, in order, none sent twice.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'ciao-update-e2e-'));
const opt = join(work, 'opt'); // the package installed on the box (/opt/ciao-badge)
let gw: TestGateway;
let token: string;
let tls: { ca: string; cert: string; key: string };

/** The environment of a box with the release installed: no CIAO_FROM_SOURCE. */
function boxEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.CIAO_FROM_SOURCE;
  return env;
}

/** The n-th shell block after a heading of a Markdown file of docs/. */
function docsBlock(file: string, heading: string, n: number): { first: string; rest: string[] } {
  const text = readFileSync(join(ROOT, 'docs', file), 'utf8');
  const at = text.indexOf(heading);
  if (at < 0) throw new Error(`${file}: no heading ${heading}`);
  const blocks = [...text.slice(at).matchAll(/```sh\n([\s\S]*?)```/g)];
  const [first, ...rest] = blocks[n]![1]!.trimEnd().split('\n');
  return { first: first!, rest };
}

/**
 * Runs a recipe of docs/gateway.md as written, with only its first line (the one the reader sets) replaced
 * by this box's values; `ciao` is the installed package's.
 */
function recipe(n: number, expectedFirst: string, vars: Record<string, string>, cwd: string): Promise<string> {
  const { first, rest } = docsBlock('gateway.md', '## Terminal releases', n);
  expect(first).toBe(expectedFirst);
  const line = [...Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`), `CIAO=${JSON.stringify(`${process.execPath} ${join(opt, 'bin/ciao.mjs')}`)}`].join(' ');
  return new Promise((resolvePromise, reject) =>
    execFile('bash', ['-euo', 'pipefail', '-c', [line, ...rest].join('\n')], { cwd, env: boxEnv(), timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolvePromise(stdout)),
  );
}

/** The installed package's `ciao` (asynchronous: the gateway it talks to runs in this process). */
function ciao(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) =>
    execFile(process.execPath, [join(opt, 'bin/ciao.mjs'), ...args], { cwd: work, env: boxEnv(), encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`ciao ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolvePromise(stdout)),
  );
}

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: r.status, json: (await r.json()) as Json };
}

interface Service {
  id: string;
  /** Every line the terminal's processes printed, across restarts. */
  lines: string[];
  exits: Array<number | null>;
  current(): ChildProcess;
  tap(uid: string): void;
  stop(): Promise<void>;
}

/** A terminal as the unit runs it, restarted when it exits (Restart=always, RestartSec shortened). */
function runAsService(id: string, configPath: string, releasesDir: string): Service {
  const unit = readServiceCommand(join(ROOT, 'deploy/ciao-terminal.service'), { '/opt/ciao-badge': opt, '/etc/ciao/terminal.json': configPath, '/var/lib/ciao/releases': releasesDir });
  const lines: string[] = [];
  const exits: Array<number | null> = [];
  let stopping = false;
  let child!: ChildProcess;
  const start = () => {
    child = spawn(unit.command, unit.args, {
      cwd: unit.workingDirectory,
      env: boxEnv({ ...unit.env, CIAO_NODE: process.execPath }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(`stderr: ${l}`));
    child.stdin!.on('error', () => undefined); // a tap typed at a terminal that is stopping is not read
    child.on('exit', (code) => {
      exits.push(code);
      if (!stopping) setTimeout(start, 300);
    });
  };
  start();
  return {
    id,
    lines,
    exits,
    current: () => child,
    tap: (uid) => {
      if (child.exitCode === null && child.stdin!.writable) child.stdin!.write(`${uid}\n`);
    },
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        const ended = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await ended;
      }
    },
  };
}

/** Taps on every terminal: a badge every 150 ms, with a pause of 2.5 s after every 12 (the quiet moments updates wait for). */
function tapLoad(services: Service[]): { stop(): Promise<void>; typed: Map<string, number> } {
  const typed = new Map(services.map((s) => [s.id, 0]));
  let running = true;
  const loop = (async () => {
    let n = 0;
    while (running) {
      for (const s of services) {
        const k = typed.get(s.id)! + 1;
        typed.set(s.id, k);
        s.tap(`${s.id === services[0]!.id ? 'E1' : 'E2'}${k.toString(16).toUpperCase().padStart(6, '0')}`);
      }
      n += 1;
      await new Promise((r) => setTimeout(r, n % 12 === 0 ? 2500 : 150));
    }
  })();
  return {
    typed,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Taps a terminal recorded: each gave its feedback (the refusal tune of an unknown badge) after its commit. */
const recorded = (s: Service) => s.lines.filter((l) => l === '[beep] refused').length;

const fleetRow = async (id: string) => (await api('/fleet')).json.terminals.find((t: Json) => t.id === id) as Json;

beforeAll(async () => {
  // The package on the box: `npm run build` once, laid out as installed (bin, package.json, dist, deploy, node_modules).
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--out-dir', join(opt, 'dist')], { encoding: 'utf8', cwd: ROOT, timeout: 200_000 });
  if (build.status !== 0) throw new Error(`the build failed: ${build.stdout}\n${build.stderr}`);
  mkdirSync(join(opt, 'bin'));
  cpSync(join(ROOT, 'bin/ciao.mjs'), join(opt, 'bin/ciao.mjs'));
  cpSync(join(ROOT, 'package.json'), join(opt, 'package.json'));
  cpSync(join(ROOT, 'deploy'), join(opt, 'deploy'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(opt, 'node_modules'));

  // The publisher's key, made once as docs/gateway.md says; the gateway gets the public half.
  await recipe(0, 'KEYS=$HOME/ciao-release-keys CIAO="npx ciao"', { KEYS: join(work, 'keys') }, work);
  tls = makeTestCertificates(mkdtempSync(join(tmpdir(), 'ciao-update-e2e-tls-')));
  gw = await startTestGateway({
    config: {
      mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tls.cert, key: tls.key, ca: tls.ca } },
      http: { host: '127.0.0.1', port: 0, pairing: { port: 0, cert: tls.cert, key: tls.key, ca: tls.ca } },
      releases: { publicKey: join(work, 'keys/release-signing.pub') },
    },
  });
  token = (await addUser(SqliteStore.of(gw.db()), { name: 'Admin', role: 'administrator' })).token;
}, 240_000);

afterAll(async () => {
  await gw?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('signed updates, end to end', () => {
  it('rolls 1.1.0 out to one of two terminals under tap load, rolls a broken 1.2.0 back, and every tap arrives exactly once', async () => {
    // Each release as docs/gateway.md says, from a built tree: the build as 1.1.0, and a copy of it whose
    // terminal crashes at start as 1.2.0.
    const release = (version: string, from: string) => recipe(
      1,
      'GATEWAY=http://127.0.0.1:8080 TOKEN=ciao_… KEYS=$HOME/ciao-release-keys VERSION=1.4.2 TERMINAL=hall-a CIAO="npx ciao"',
      { GATEWAY: `http://127.0.0.1:${gw.httpPort}`, TOKEN: token, KEYS: join(work, 'keys'), VERSION: version, TERMINAL: 'T-up' },
      from,
    );
    const broken = join(work, 'broken');
    mkdirSync(broken);
    for (const part of ['bin', 'dist', 'package.json']) cpSync(join(opt, part), join(broken, part), { recursive: true });
    // `ciao terminal` runs the bundle's terminal-run.js (scripts/build.mjs); the compiled module beside it too.
    for (const file of ['dist/bundle/terminal-run.js', 'dist/terminal/run.js']) writeFileSync(join(broken, file), "throw new Error('this release is deliberately broken: it crashes at start');\n");

    // Two terminals, added in the console and paired by the installer's command.
    const services: Service[] = [];
    for (const id of ['T-up', 'T-stay']) {
      expect((await api('/terminals', { method: 'POST', body: { id, siteId: gw.seed.sites.main } })).status).toBe(201);
      const code = await api(`/terminals/${id}/pairing`, { method: 'POST' });
      const dir = join(work, id);
      await ciao(['terminal', 'pair', code.json.pairingString, '--gateway', code.json.gateway, '--out', join(dir, 'terminal.json'), '--state-dir', join(dir, 'state'), '--reader', 'simulated', '--panel', 'console']);
      const config = JSON.parse(readFileSync(join(dir, 'terminal.json'), 'utf8')) as { updates: Record<string, unknown> };
      // A short employer-choice time, so that the quiet moment an update waits for is short too.
      writeFileSync(join(dir, 'terminal.json'), JSON.stringify({ ...config, choiceTimeoutSeconds: 1, updates: { ...config.updates, quietSeconds: 1, trialSeconds: 120 } }));
      services.push(runAsService(id, join(dir, 'terminal.json'), join(dir, 'state/releases')));
    }
    const [up, stay] = services as [Service, Service];
    try {
      for (const id of ['T-up', 'T-stay']) await waitFor(async () => (await fleetRow(id))?.version === '0.1.0' && (await fleetRow(id)).state === 'online', { what: `${id} online on 0.1.0`, timeoutMs: 30_000 });
      const load = tapLoad(services);

      // 1.1.0 to one terminal.
      expect(await release('1.1.0', opt)).toMatch(/rollout \d+: 1\.1\.0 offered to T-up/);
      await waitFor(async () => {
        const row = await fleetRow('T-up');
        return row.version === '1.1.0' && row.update?.state === 'running';
      }, { what: 'T-up running 1.1.0', timeoutMs: 90_000 });
      expect(readFileSync(join(work, 'T-up/state/releases/current'), 'utf8').trim()).toBe('1.1.0');
      expect(existsSync(join(work, 'T-up/state/releases/trial'))).toBe(false);
      expect(up.lines.some((l) => l.includes('stopped to restart into release 1.1.0'))).toBe(true);

      // 1.2.0, broken, to the same terminal: it crashes at start, and the launcher goes back to 1.1.0.
      await release('1.2.0', broken);
      const rolledBack = await waitFor(async () => {
        const row = await fleetRow('T-up');
        return row.update?.version === '1.2.0' && row.update.state === 'rolled-back' && row.version === '1.1.0' && row;
      }, { what: 'T-up back on 1.1.0, reporting the rollback', timeoutMs: 90_000 });
      expect(rolledBack.update.reason).toBe('stopped 3 times before it was online (last exit: 1)');
      expect(up.lines.filter((l) => l.includes('deliberately broken')).length).toBeGreaterThanOrEqual(3);
      expect(readFileSync(join(work, 'T-up/state/releases/current'), 'utf8').trim()).toBe('1.1.0');

      // Taps went on meanwhile on both terminals; then the load stops and the queues drain.
      await load.stop();
      expect(await fleetRow('T-stay')).toMatchObject({ version: '0.1.0', update: null, target: null });
      for (const s of services) {
        await waitFor(() => {
          const stored = (gw.db().prepare('SELECT COUNT(*) AS n FROM taps WHERE terminal_id = ?').get(s.id) as { n: number }).n;
          return stored === recorded(s) && stored > 0;
        }, { what: `${s.id}'s recorded taps all stored`, timeoutMs: 60_000 });
      }

      // Exactly once: every recorded tap stored, in order, without a gap; no tap stored twice or sent twice.
      for (const s of services) {
        const rows = gw.db().prepare('SELECT seq, badge FROM taps WHERE terminal_id = ? ORDER BY seq').all(s.id) as Array<{ seq: number; badge: string }>;
        expect(rows.length).toBe(recorded(s));
        expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => rows[0]!.seq + i));
        expect(new Set(rows.map((r) => r.badge)).size).toBe(rows.length);
        // Some typed badges were not read while the terminal was restarting (no feedback was given for them).
        expect(rows.length).toBeLessThanOrEqual(load.typed.get(s.id)!);
      }
      expect(recorded(up)).toBeGreaterThan(20);
      expect(recorded(stay)).toBeGreaterThan(20);
      expect(await gw.metrics()).toMatch(/^ciao_gateway_taps_duplicate_total 0$/m);
      // The terminal that stayed was never restarted; the other ran four versions' starts.
      expect(stay.exits).toEqual([]);
      expect(up.exits.filter((c) => c === 1).length).toBe(3);
    } finally {
      for (const s of services) await s.stop();
    }
  }, 300_000);
});
