import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../shared/logging.ts';
import { readReleasePublicKey, parseSignedManifest, type SignedManifest } from '../../shared/release/manifest.ts';
import { generateReleaseKeys, packRelease, signBundle } from '../../shared/release/publisher.ts';
import type { UpdateReport } from '../../shared/mqtt/payloads.ts';
import { UpdateAgent, type UpdateAgentOptions } from '../../terminal/update/agent.ts';
import { ReleaseState } from '../../terminal/update/release-state.ts';
import { makeTestCertificates } from '../gateway/helpers/tls.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * The terminal's update agent against a real HTTPS server standing in for the gateway's download route:
 * releases packed and signed with the publisher's own commands, then offered as the gateway offers them.
 * A good release is downloaded, checked, installed beside the running one and put on trial; a bad
 * signature, a wrong hash, a download cut short and a release needing other dependencies are each refused
 * with the reason reported, and nothing of them is installed.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'ciao-agent-'));
const repoPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
let tls: { ca: string; cert: string; key: string };
let server: Server;
let baseUrl: string;
let keys: { privateKey: string; publicKey: string };
let otherKeys: { privateKey: string; publicKey: string };
/** What the stand-in gateway serves per version, and what it was asked for. */
const served = new Map<string, { bytes: Buffer; cut?: number; cutTimes?: number }>();
const requests: string[] = [];

/** A stand-in compiled release (package.json, bin/ciao.mjs, dist/) packed with `ciao release pack`. */
async function bundle(version: string, deps: Record<string, string> = repoPackage.dependencies): Promise<string> {
  const from = join(work, `build-${version}-${Object.keys(deps).length}`);
  mkdirSync(join(from, 'bin'), { recursive: true });
  mkdirSync(join(from, 'dist/bin'), { recursive: true });
  writeFileSync(join(from, 'package.json'), JSON.stringify({ name: 'ciao-badge', version: '0.0.1', dependencies: deps }));
  writeFileSync(join(from, 'bin/ciao.mjs'), '// launcher\n');
  writeFileSync(join(from, 'dist/bin/cli.js'), `export const version = ${JSON.stringify(version)};\n`);
  const out = join(work, `ciao-badge-${version}-${Object.keys(deps).length}.tar.gz`);
  await packRelease({ from, out, version });
  return out;
}

async function signed(file: string, key = keys.privateKey): Promise<SignedManifest> {
  return parseSignedManifest((await signBundle({ bundle: file, key, out: `${file}.${Math.random()}.sig.json` })).signed);
}

function offerOf(s: SignedManifest, rollout = 1) {
  return { version: s.manifest.version, rollout, bundle: `/fleet/v1/releases/${s.manifest.version}/bundle`, signed: s };
}

interface Harness {
  agent: UpdateAgent;
  state: ReleaseState;
  reports: Array<UpdateReport | undefined>;
  restarts: string[];
  tapAgo: { ms: number };
}

function harness(extra: Partial<UpdateAgentOptions> = {}): Harness {
  const dir = mkdtempSync(join(work, 'box-'));
  const baseDir = join(dir, 'opt');
  mkdirSync(baseDir);
  writeFileSync(join(baseDir, 'package.json'), JSON.stringify({ name: 'ciao-badge', version: '0.1.0', dependencies: repoPackage.dependencies }));
  // The installed package's dependencies, as folders in its node_modules (the agent checks they are there).
  for (const name of Object.keys(repoPackage.dependencies)) mkdirSync(join(baseDir, 'node_modules', name), { recursive: true });
  const state = new ReleaseState(join(dir, 'releases'));
  const reports: Array<UpdateReport | undefined> = [];
  const restarts: string[] = [];
  const tapAgo = { ms: Number.POSITIVE_INFINITY };
  const agent: UpdateAgent = new UpdateAgent({
    running: { version: '0.1.0', release: 'base' },
    state,
    baseDir,
    publicKey: readReleasePublicKey(readFileSync(keys.publicKey)),
    gateway: { url: baseUrl, ca: readFileSync(tls.ca) },
    trialSeconds: 300,
    quietSeconds: 0,
    logger: createLogger('terminal', { level: 'silent' }),
    sinceLastTapMs: () => tapAgo.ms,
    restart: (v) => restarts.push(v),
    onReport: () => reports.push(agent.report),
    retryDelayMs: 10,
    ...extra,
  });
  return { agent, state, reports, restarts, tapAgo };
}

const states = (h: Harness) => h.reports.map((r) => r?.state);

beforeAll(async () => {
  tls = makeTestCertificates(mkdtempSync(join(tmpdir(), 'ciao-agent-tls-')));
  keys = generateReleaseKeys(join(work, 'keys'));
  otherKeys = generateReleaseKeys(join(work, 'other-keys'));
  server = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    requests.push(req.url ?? '');
    const version = /^\/fleet\/v1\/releases\/([^/]+)\/bundle$/.exec(req.url ?? '')?.[1];
    const entry = version ? served.get(decodeURIComponent(version)) : undefined;
    if (!entry) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': entry.bytes.length });
    if (entry.cut !== undefined && (entry.cutTimes ?? Infinity) > 0) {
      entry.cutTimes = (entry.cutTimes ?? Infinity) - 1;
      // The connection drops part-way, as when the gateway restarts or the line fails.
      res.write(entry.bytes.subarray(0, entry.cut), () => res.socket?.destroy());
      return;
    }
    res.end(entry.bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('the update agent', () => {
  it('downloads a signed release, installs it beside the running one, waits for a quiet moment, and restarts into it on trial', async () => {
    const file = await bundle('1.1.0');
    const s = await signed(file);
    served.set('1.1.0', { bytes: readFileSync(file) });
    const h = harness({ quietSeconds: 1 });
    h.tapAgo.ms = 0; // a worker is tapping right now
    h.agent.offer(offerOf(s, 4));
    await waitFor(() => h.agent.report?.state === 'installing' && existsSync(h.state.versionDir('1.1.0')), { what: 'the release installed' });
    // Installed, but nobody is restarted in a worker's face.
    await new Promise((r) => setTimeout(r, 1200));
    expect(h.restarts).toEqual([]);
    h.tapAgo.ms = Number.POSITIVE_INFINITY;
    await h.agent.settled();
    expect(h.restarts).toEqual(['1.1.0']);
    expect(states(h)).toEqual(['downloading', 'installing', 'restarting']);
    const dir = h.state.versionDir('1.1.0');
    expect(readFileSync(join(dir, 'dist/bin/cli.js'), 'utf8')).toContain('"1.1.0"');
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version).toBe('1.1.0');
    expect(lstatSync(join(dir, 'node_modules')).isSymbolicLink()).toBe(true);
    expect(h.state.current).toBe('1.1.0');
    expect(h.state.previous).toBe('base');
    expect(h.state.trial).toMatchObject({ version: '1.1.0', rollout: 4, starts: 0 });
    expect(h.state.trial!.deadline).toBeGreaterThan(Date.now() / 1000 + 250);
    // No download or staging left behind.
    expect(readdirSync(h.state.dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('confirms the trial once the new version is online and healthy, and keeps the previous version only', async () => {
    const file = await bundle('1.2.0');
    served.set('1.2.0', { bytes: readFileSync(file) });
    const first = harness();
    first.agent.offer(offerOf(await signed(file), 5));
    await first.agent.settled();
    mkdirSync(first.state.versionDir('0.9.0'));
    // The new version starts (the launcher names it) and hears from the gateway.
    const after = new UpdateAgent({
      running: { version: '1.2.0', release: '1.2.0' }, state: first.state, baseDir: first.state.dir, publicKey: readReleasePublicKey(readFileSync(keys.publicKey)),
      gateway: { url: baseUrl, ca: readFileSync(tls.ca) }, trialSeconds: 300, quietSeconds: 0, logger: createLogger('terminal', { level: 'silent' }),
      sinceLastTapMs: () => Infinity, restart: () => undefined, onReport: () => undefined,
    });
    after.healthy();
    after.offer(offerOf(await signed(file), 5));
    expect(first.state.trial).toBeUndefined();
    expect(after.report).toEqual({ version: '1.2.0', rollout: 5, state: 'running' });
    expect(existsSync(first.state.versionDir('1.2.0'))).toBe(true);
    expect(existsSync(first.state.versionDir('0.9.0'))).toBe(false);
  });

  it('refuses a release signed by another key before downloading anything, and does not try that offer again', async () => {
    const file = await bundle('1.3.0');
    served.set('1.3.0', { bytes: readFileSync(file) });
    const h = harness();
    const before = requests.length;
    h.agent.offer(offerOf(await signed(file, otherKeys.privateKey), 6));
    await h.agent.settled();
    expect(h.agent.report).toMatchObject({ version: '1.3.0', rollout: 6, state: 'failed' });
    expect(h.agent.report!.reason).toMatch(/^signature: made by key [0-9a-f]{16}, not by the release key [0-9a-f]{16}/);
    expect(requests.length).toBe(before);
    expect(existsSync(h.state.versionDir('1.3.0'))).toBe(false);
    expect(h.restarts).toEqual([]);
    // The same offer again (the retained config is sent at every connection): refused from memory.
    h.agent.offer(offerOf(await signed(file, otherKeys.privateKey), 6));
    await h.agent.settled();
    expect(requests.length).toBe(before);
    expect(h.agent.report?.state).toBe('failed');
  });

  it('refuses a manifest altered after signing', async () => {
    const file = await bundle('1.3.1');
    const s = await signed(file);
    const h = harness();
    h.agent.offer(offerOf({ ...s, manifest: { ...s.manifest, size: s.manifest.size + 1 } }, 7));
    await h.agent.settled();
    expect(h.agent.report?.reason).toMatch(/^signature: does not match release 1\.3\.1/);
  });

  it('refuses a bundle whose SHA-256 is not the signed one, and installs nothing', async () => {
    const file = await bundle('1.4.0');
    const s = await signed(file);
    const bytes = Buffer.from(readFileSync(file));
    bytes[bytes.length - 10] ^= 0xff; // same size, other content
    served.set('1.4.0', { bytes });
    const h = harness();
    h.agent.offer(offerOf(s, 8));
    await h.agent.settled();
    expect(h.agent.report).toMatchObject({ version: '1.4.0', state: 'failed' });
    expect(h.agent.report!.reason).toMatch(/SHA-256 [0-9a-f]{16}… is not the signed/);
    expect(existsSync(h.state.versionDir('1.4.0'))).toBe(false);
    expect(readdirSync(h.state.dir).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(h.state.current).toBe('base');
    expect(h.restarts).toEqual([]);
  });

  it('tries a download cut short again, and installs the release once it arrives whole', async () => {
    const file = await bundle('1.5.0');
    const bytes = readFileSync(file);
    served.set('1.5.0', { bytes, cut: Math.floor(bytes.length / 2), cutTimes: 2 });
    const h = harness();
    const before = requests.filter((r) => r.includes('1.5.0')).length;
    h.agent.offer(offerOf(await signed(file), 9));
    await h.agent.settled();
    expect(requests.filter((r) => r.includes('1.5.0')).length - before).toBe(3);
    expect(h.restarts).toEqual(['1.5.0']);
    expect(existsSync(join(h.state.versionDir('1.5.0'), 'dist/bin/cli.js'))).toBe(true);
  });

  it('gives up on a download that keeps being cut, and says so', async () => {
    const file = await bundle('1.5.1');
    const bytes = readFileSync(file);
    served.set('1.5.1', { bytes, cut: 100 });
    const h = harness({ maxAttempts: 2 });
    h.agent.offer(offerOf(await signed(file), 10));
    await h.agent.settled();
    expect(h.agent.report).toMatchObject({ version: '1.5.1', state: 'failed' });
    expect(h.agent.report!.reason).toMatch(/cut after 100 of \d+ bytes|ended after 100 of \d+ bytes/);
    expect(existsSync(h.state.versionDir('1.5.1'))).toBe(false);
    expect(readdirSync(h.state.dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('refuses a release that needs other dependencies than the installed package', async () => {
    const file = await bundle('1.6.0', { ...repoPackage.dependencies, 'left-pad': '^1.3.0' });
    served.set('1.6.0', { bytes: readFileSync(file) });
    const h = harness();
    h.agent.offer(offerOf(await signed(file), 11));
    await h.agent.settled();
    expect(h.agent.report?.reason).toMatch(/needs other dependencies than the installed package \(left-pad@\^1\.3\.0\)/);
    expect(existsSync(h.state.versionDir('1.6.0'))).toBe(false);
  });

  it('reports a rollback the launcher made, and does not take that offer again', async () => {
    const file = await bundle('1.7.0');
    served.set('1.7.0', { bytes: readFileSync(file) });
    const h = harness();
    writeFileSync(join(h.state.dir, 'rolled-back'), '1.7.0 12\nstopped 3 times before it was online (last exit: 1)\n');
    const before = requests.length;
    h.agent.healthy();
    h.agent.offer(offerOf(await signed(file), 12));
    await h.agent.settled();
    expect(h.agent.report).toEqual({ version: '1.7.0', rollout: 12, state: 'rolled-back', reason: 'stopped 3 times before it was online (last exit: 1)' });
    expect(requests.length).toBe(before);
    expect(existsSync(join(h.state.dir, 'rolled-back'))).toBe(false);
    // A new rollout of the same version is a new decision of the operator's: it is tried.
    h.agent.offer(offerOf(await signed(file), 13));
    await h.agent.settled();
    expect(h.restarts).toEqual(['1.7.0']);
  });

  it('says it cannot switch versions when it was not started by its launcher', async () => {
    const file = await bundle('1.8.0');
    const h = harness({ state: undefined });
    h.agent.offer(offerOf(await signed(file), 14));
    await h.agent.settled();
    expect(h.agent.report).toMatchObject({ state: 'failed', reason: expect.stringContaining('not started by its launcher') });
  });
});
