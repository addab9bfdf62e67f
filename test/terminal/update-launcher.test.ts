import { afterEach, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ReleaseState } from '../../terminal/update/release-state.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * deploy/ciao-terminal-launcher, run as systemd runs it (the test restarts it when it exits, as
 * Restart=always does), with stand-in releases: small scripts at `<release>/bin/ciao.mjs` that start and
 * then confirm, crash, or hang as told. What is checked is the launcher's own job: which release it starts,
 * what it does with a release on trial that comes up, crashes at start, or never comes online, and that
 * the terminal's standard input and stop signal reach the release.
 */
const LAUNCHER = resolve(import.meta.dirname, '../../deploy/ciao-terminal-launcher');
const children: ChildProcess[] = [];
let dirs: string[] = [];

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/**
 * A stand-in release: it records each start (its name, the launcher's environment, its arguments), echoes
 * its standard input, and then behaves as its `behaviour` file says: `confirm` removes the trial file (as
 * the terminal does once online and healthy) and runs on; `crash` exits 1 at once; `hang` runs on without
 * confirming. SIGTERM ends it with code 0, as `ciao terminal` does.
 */
function makeRelease(dir: string, name: string, behaviour: 'confirm' | 'crash' | 'hang'): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'behaviour'), behaviour);
  writeFileSync(join(dir, 'bin/ciao.mjs'), `
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
const here = new URL('..', import.meta.url).pathname;
const log = (line) => appendFileSync(process.env.TEST_LOG, line + '\\n');
log(JSON.stringify({ start: ${JSON.stringify(name)}, release: process.env.CIAO_RELEASE, releases: process.env.CIAO_RELEASES, base: process.env.CIAO_BASE_DIR, args: process.argv.slice(2) }));
process.stdin.on('data', (d) => log(JSON.stringify({ stdin: ${JSON.stringify(name)}, text: d.toString().trim() })));
process.on('SIGTERM', () => { log(JSON.stringify({ stop: ${JSON.stringify(name)} })); process.exit(0); });
const behaviour = readFileSync(here + 'behaviour', 'utf8').trim();
if (behaviour === 'crash') { log(JSON.stringify({ crash: ${JSON.stringify(name)} })); process.exit(1); }
if (behaviour === 'confirm') setTimeout(() => rmSync(process.env.CIAO_RELEASES + '/trial', { force: true }), 300);
setInterval(() => {}, 1000);
`);
}

interface Box {
  base: string;
  releases: string;
  log: string;
  state: ReleaseState;
  /** The launcher as systemd runs it: started again whenever it ends, until `stop()`. */
  run(): { current(): ChildProcess; exits: Array<number | null>; write(text: string): void; stop(): Promise<void> };
  events(): Array<Record<string, unknown>>;
}

/** An installed package (its own stand-in release as "base", and the launcher in its deploy/) and a releases folder. */
function makeBox(): Box {
  const root = mkdtempSync(join(tmpdir(), 'ciao-launcher-'));
  dirs.push(root);
  const base = join(root, 'opt');
  mkdirSync(join(base, 'deploy'), { recursive: true });
  writeFileSync(join(base, 'deploy/ciao-terminal-launcher'), readFileSync(LAUNCHER), { mode: 0o755 });
  makeRelease(base, 'base', 'hang');
  const releases = join(root, 'releases');
  const log = join(root, 'events.log');
  writeFileSync(log, '');
  const state = new ReleaseState(releases);
  return {
    base,
    releases,
    log,
    state,
    events: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
    run() {
      const exits: Array<number | null> = [];
      let stopping = false;
      let child!: ChildProcess;
      const start = () => {
        child = spawn(join(base, 'deploy/ciao-terminal-launcher'), ['terminal', '--config', '/etc/ciao/terminal.json'], {
          env: { ...process.env, CIAO_NODE: process.execPath, CIAO_RELEASES: releases, CIAO_TRIAL_STARTS: '3', TEST_LOG: log },
          stdio: ['pipe', 'ignore', 'pipe'],
        });
        children.push(child);
        child.on('exit', (code) => {
          exits.push(code);
          // systemd's Restart=always (RestartSec shortened).
          if (!stopping) setTimeout(start, 100);
        });
      };
      start();
      return {
        current: () => child,
        exits,
        write: (text) => child.stdin!.write(text),
        stop: async () => {
          stopping = true;
          if (child.exitCode === null && child.signalCode === null) {
            const ended = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await ended;
          }
        },
      };
    },
  };
}

const starts = (box: Box) => box.events().filter((e) => 'start' in e).map((e) => e.start);

const UNIT = resolve(import.meta.dirname, '../../deploy/ciao-terminal.service');
const hasAnalyze = existsSync('/usr/bin/systemd-analyze') || existsSync('/bin/systemd-analyze');

describe('deploy/ciao-terminal.service', () => {
  it('starts the launcher, which keeps its releases in the state folder, and restarts on any exit', () => {
    const text = readFileSync(UNIT, 'utf8');
    expect(text).toMatch(/^ExecStart=\/opt\/ciao-badge\/deploy\/ciao-terminal-launcher terminal --config \S+$/m);
    expect(text).toMatch(/^Environment=CIAO_RELEASES=\/var\/lib\/ciao\/releases$/m);
    expect(text).toMatch(/^ReadWritePaths=\/var\/lib\/ciao$/m);
    expect(text).toMatch(/^Restart=always$/m);
  });

  it.skipIf(!hasAnalyze)('passes systemd-analyze verify', async () => {
    const stderr = await new Promise<string>((done) => execFile('systemd-analyze', ['verify', UNIT], (_err, _out, err) => done(err)));
    // The package is not installed at /opt/ciao-badge on the test machine: that is the only finding allowed.
    const findings = stderr.split('\n').filter((l) => l.trim() && !/\/opt\/ciao-badge\/deploy\/ciao-terminal-launcher is not executable|\/usr\/bin\/node/.test(l));
    expect(findings).toEqual([]);
  });
});

describe('the terminal launcher', () => {
  it("starts the package's own release when none is installed, with the launcher's environment and the unit's arguments", async () => {
    const box = makeBox();
    const svc = box.run();
    await waitFor(() => starts(box).length === 1, { what: 'the base release started' });
    expect(box.events()[0]).toEqual({ start: 'base', release: 'base', releases: box.releases, base: box.base, args: ['terminal', '--config', '/etc/ciao/terminal.json'] });
    svc.write('04A1B2C3D4E5F6\n');
    await waitFor(() => box.events().some((e) => e.stdin === 'base' && e.text === '04A1B2C3D4E5F6'), { what: 'stdin passed on' });
    await svc.stop();
    expect(svc.exits).toEqual([0]);
    expect(box.events().at(-1)).toEqual({ stop: 'base' });
  });

  it('keeps a release on trial that comes online, and passes it standard input and the stop signal', async () => {
    const box = makeBox();
    makeRelease(box.state.versionDir('1.1.0'), '1.1.0', 'confirm');
    box.state.beginTrial('1.1.0', 'base', 7, Math.floor(Date.now() / 1000) + 60);
    const svc = box.run();
    await waitFor(() => !existsSync(join(box.releases, 'trial')), { what: 'the trial confirmed' });
    svc.write('0BADC0DE\n');
    await waitFor(() => box.events().some((e) => e.stdin === '1.1.0' && e.text === '0BADC0DE'), { what: 'stdin reaching the release on trial' });
    expect(box.state.current).toBe('1.1.0');
    expect(box.state.rolledBack).toBeUndefined();
    // Confirmed, it stays past the trial's deadline: the launcher's watch ended with the confirmation.
    await svc.stop();
    expect(svc.exits).toEqual([0]);
    expect(box.events().filter((e) => 'stop' in e)).toEqual([{ stop: '1.1.0' }]);
    expect(starts(box)).toEqual(['1.1.0']);
  });

  it('goes back to the previous release when the new one crashes at every start, and says why', async () => {
    const box = makeBox();
    makeRelease(box.state.versionDir('1.1.0'), '1.1.0', 'confirm');
    makeRelease(box.state.versionDir('1.2.0'), '1.2.0', 'crash');
    writeFileSync(join(box.releases, 'current'), '1.1.0\n');
    box.state.beginTrial('1.2.0', '1.1.0', 9, Math.floor(Date.now() / 1000) + 120);
    const svc = box.run();
    await waitFor(() => starts(box).at(-1) === '1.1.0', { what: 'the previous release started again', timeoutMs: 20_000 });
    // Started on trial three times (the allowed starts), each ending in a crash; then the previous one.
    expect(starts(box)).toEqual(['1.2.0', '1.2.0', '1.2.0', '1.1.0']);
    expect(svc.exits).toEqual([1, 1, 1]);
    expect(box.state.current).toBe('1.1.0');
    expect(box.state.trial).toBeUndefined();
    expect(box.state.rolledBack).toEqual({ version: '1.2.0', rollout: 9, reason: 'stopped 3 times before it was online (last exit: 1)' });
    await svc.stop();
  });

  it('stops a release on trial that runs but never comes online by the deadline, and goes back', async () => {
    const box = makeBox();
    makeRelease(box.state.versionDir('1.3.0'), '1.3.0', 'hang');
    box.state.beginTrial('1.3.0', 'base', 11, Math.floor(Date.now() / 1000) + 4);
    const svc = box.run();
    await waitFor(() => starts(box).at(-1) === 'base', { what: 'back on the base release', timeoutMs: 20_000 });
    expect(starts(box)).toEqual(['1.3.0', 'base']);
    // The hanging release was stopped with SIGTERM (a clean stop: its outbox is closed properly).
    expect(box.events().filter((e) => 'stop' in e)).toEqual([{ stop: '1.3.0' }]);
    expect(box.state.current).toBe('base');
    expect(box.state.rolledBack).toEqual({ version: '1.3.0', rollout: 11, reason: 'not online and healthy within the trial time' });
    await svc.stop();
  });

  it('falls back to the package when the current release is missing', async () => {
    const box = makeBox();
    mkdirSync(box.releases, { recursive: true });
    writeFileSync(join(box.releases, 'current'), '9.9.9\n');
    const svc = box.run();
    await waitFor(() => starts(box).length === 1, { what: 'a start' });
    expect(box.events()[0]).toMatchObject({ start: 'base', release: 'base' });
    await svc.stop();
  });
});
