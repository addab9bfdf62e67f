import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The compiled release: `npm run build` (scripts/build.mjs) compiled into a temporary folder laid out as an
 * installed release (bin/ciao.mjs, package.json, dist/, node_modules), with no TypeScript anywhere in it,
 * so whatever runs there runs the compiled JavaScript. Its `ciao --help`, its admin commands, and a compiled
 * terminal against a compiled gateway: a tap typed on the terminal is stored by the gateway.
 */
const ROOT = resolve(import.meta.dirname, '../..');
let release: string;

/** The environment of a process on a box with the release installed: no CIAO_FROM_SOURCE. */
function releaseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.CIAO_FROM_SOURCE;
  return env;
}

function ciao(args: string[], extra: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(release, 'bin/ciao.mjs'), ...args], { encoding: 'utf8', env: releaseEnv(extra), cwd: release, timeout: 60_000 });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(() => {
  release = mkdtempSync(join(tmpdir(), 'ciao-release-'));
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--out-dir', join(release, 'dist')], { encoding: 'utf8', cwd: ROOT, timeout: 170_000 });
  if (build.status !== 0) throw new Error(`the build failed: ${build.stdout}\n${build.stderr}`);
  mkdirSync(join(release, 'bin'));
  cpSync(join(ROOT, 'bin/ciao.mjs'), join(release, 'bin/ciao.mjs'));
  cpSync(join(ROOT, 'package.json'), join(release, 'package.json'));
  cpSync(join(ROOT, 'deploy'), join(release, 'deploy'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(release, 'node_modules'));
}, 180_000);

afterAll(() => rmSync(release, { recursive: true, force: true }));

describe('the compiled release', () => {
  it('is plain JavaScript with the files the code reads beside it, and no benchmark or test code', () => {
    const files = filesUnder(join(release, 'dist')).map((f) => f.slice(release.length + 1));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/bin/cli.js',
        'dist/bundle/cli.js',
        'dist/bundle/writer-thread-main.js',
        'dist/bundle/forwarder-thread-main.js',
        'dist/bundle/gateway-run.js',
        'dist/bundle/terminal-run.js',
        'dist/terminal/run.js',
        'dist/gateway/ingest/writer-thread.mjs',
        'dist/gateway/forward/forwarder-thread.mjs',
        'dist/terminal/adapters/johnny-five/worker-entry.mjs',
        'dist/terminal/adapters/johnny-five/worker.js',
        'dist/gateway/http/dashboard/index.html',
        'dist/simulator/scenarios/days/demo-day.json',
      ]),
    );
    expect(files.some((f) => f.startsWith('dist/bench/') || f.startsWith('dist/test/'))).toBe(false);
  });

  it('answers `ciao --help` and `ciao terminal --help` from the compiled code', () => {
    const help = ciao(['--help']);
    expect(help.status, help.stderr).toBe(0);
    for (const name of ['gateway', 'terminal', 'emulator', 'admin']) expect(help.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
    expect(ciao(['terminal', '--help']).stdout).toContain('Usage: ciao terminal');
    // `ciao bench` measures the sources: a release without them says so instead of failing obscurely.
    const bench = ciao(['bench', '--list']);
    expect(bench.status).not.toBe(0);
    expect(bench.stderr).toContain('runs from a source checkout');
  });

  it('runs a compiled terminal against a compiled gateway: a tap reaches the gateway and is stored', async () => {
    const db = join(release, 'gateway.db');
    expect(ciao(['admin', '--db', db, 'site', 'add', 'site-1', '--name', 'Site One', '--language', 'en', '--post-code', '1000', '--municipality', 'Bruxelles', '--street', 'Rue Haute', '--house-number', '1']).status).toBe(0);
    const added = ciao(['admin', '--db', db, 'terminal', 'add', 'T-REL', '--site', 'site-1']);
    expect(added.status, added.stderr).toBe(0);
    const secret = /secret: (\S+)/.exec(added.stdout)![1]!;
    writeFileSync(join(release, 'gateway.json'), JSON.stringify({ database: db, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logLevel: 'warn' }));

    const children: ChildProcess[] = [];
    const start = (args: string[], extra: Record<string, string> = {}) => {
      const child = spawn(process.execPath, [join(release, 'bin/ciao.mjs'), ...args], { cwd: release, env: releaseEnv(extra), stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    };
    try {
      const gateway = start(['gateway', '--config', join(release, 'gateway.json')]);
      let gatewayErrors = '';
      gateway.stderr!.on('data', (b: Buffer) => (gatewayErrors += b.toString()));
      const ready = await new Promise<{ mqttPort: number; httpPort: number }>((resolveReady, reject) => {
        gateway.once('exit', (code) => reject(new Error(`the compiled gateway exited (${code}): ${gatewayErrors}`)));
        createInterface({ input: gateway.stdout! }).on('line', (line) => {
          if (line.includes('"gateway-ready"')) resolveReady(JSON.parse(line));
        });
      });
      // The console's validators are the server's own modules: in the release, tsc's output as it is.
      const validator = await fetch(`http://127.0.0.1:${ready.httpPort}/console/shared/identifiers/national-number.js`);
      expect(validator.status).toBe(200);
      expect(await validator.text()).toBe(readFileSync(join(release, 'dist/shared/identifiers/national-number.js'), 'utf8'));
      writeFileSync(join(release, 'terminal.json'), JSON.stringify({ id: 'T-REL', mqtt: { url: `mqtt://127.0.0.1:${ready.mqttPort}` }, reader: 'simulated', panel: 'console', outbox: join(release, 'outbox.db'), defaults: { siteId: 'site-1', language: 'en' } }));
      const terminal = start(['terminal', '--config', join(release, 'terminal.json')], { CIAO_TERMINAL_SECRET: secret });
      const seen: string[] = [];
      createInterface({ input: terminal.stdout! }).on('line', (line) => seen.push(line));
      await waitUntil(() => seen.some((l) => l.includes('connected to gateway')), 'the compiled terminal connected');
      terminal.stdin!.write('CAFEBABE\n');
      await waitUntil(() => {
        const list = ciao(['admin', '--db', db, 'tap', 'list', '--all', '--json']);
        return list.status === 0 && list.stdout.includes('CAFEBABE');
      }, 'the tap stored by the compiled gateway');
      // The console panel showed the tap's feedback (a badge the gateway does not know).
      await waitUntil(() => seen.some((l) => l.includes('[lcd]') && l.includes('Unknown badge')), 'feedback on the console panel');
      terminal.kill('SIGTERM');
      const code = await new Promise((r) => terminal.once('exit', r));
      expect(code).toBe(0);
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('starts the panel worker thread from its compiled entry', () => {
    const dist = join(release, 'dist');
    const script = `
      import { Worker } from 'node:worker_threads';
      const { boardSchema } = await import(${JSON.stringify(join(dist, 'terminal/config.js'))});
      const worker = new Worker(${JSON.stringify(join(dist, 'terminal/adapters/johnny-five/worker-entry.mjs'))}, { workerData: { config: boardSchema.parse({ port: '/dev/null' }), heartbeatMs: 50 } });
      worker.on('error', (err) => { console.error(err.message); process.exit(1); });
      worker.on('message', (m) => { if (m.type === 'alive') { console.log('alive'); process.exit(0); } });
    `;
    writeFileSync(join(release, 'panel-worker-check.mjs'), script);
    const r = spawnSync(process.execPath, [join(release, 'panel-worker-check.mjs')], { cwd: release, env: releaseEnv(), encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('alive');
  });

  it('goes into `npm pack` with the launcher, the compiled code and the deployment files, without the sources', () => {
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: release, encoding: 'utf8', timeout: 60_000 });
    expect(pack.status, pack.stderr).toBe(0);
    const entries = (JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string; mode: number }> }>)[0]!.files;
    const files = entries.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/ciao.mjs', 'dist/bin/cli.js', 'dist/terminal/adapters/johnny-five/worker-entry.mjs', 'package.json', 'deploy/ciao-terminal.service']));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    // The terminal unit's ExecStart: executable in the package as installed.
    expect(entries.find((f) => f.path === 'deploy/ciao-terminal-launcher')?.mode).toBe(0o755);
  });
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
