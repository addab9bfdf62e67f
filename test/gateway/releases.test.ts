import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import type { MqttClient } from 'mqtt';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { generateReleaseKeys, packRelease, signBundle } from '../../shared/release/publisher.ts';
import { rollOut, uploadRelease } from '../../shared/release/upload.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { pairTerminal } from '../../terminal/pairing/pair.ts';
import { readIdentity } from '../../terminal/pairing/identity.ts';
import { makeTestCertificates } from './helpers/tls.ts';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { connectTerminal } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';
import type { Json } from '../support/json.ts';

/**
 * Releases on the gateway: an administrator uploads a signed bundle (the gateway checks the signature with
 * the publisher's public key, and size and hash), rolls it out to a few terminals then to all, and sees which
 * terminal runs which version; the offer reaches exactly the chosen terminals in their retained config; the
 * bundle is downloaded over HTTPS by terminals holding a certificate, and by nobody else.
 */
let gw: TestGateway;
let admin: string;
let manager: string;
let tls: { ca: string; cert: string; key: string };
const work = mkdtempSync(join(tmpdir(), 'ciao-releases-'));
let keys: { privateKey: string; publicKey: string };
const clients: MqttClient[] = [];

async function api(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.token ?? admin}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: r.status, json: (await r.json()) as Json };
}

async function bundle(version: string, build = version): Promise<{ file: string; sig: string }> {
  const from = join(work, `build-${build}`);
  mkdirSync(join(from, 'dist/bin'), { recursive: true });
  mkdirSync(join(from, 'bin'), { recursive: true });
  writeFileSync(join(from, 'package.json'), JSON.stringify({ name: 'ciao-badge', version: '0.0.1', dependencies: {} }));
  writeFileSync(join(from, 'bin/ciao.mjs'), '// launcher\n');
  writeFileSync(join(from, 'dist/bin/cli.js'), `// ${build}\n`);
  const file = join(work, `ciao-badge-${build}.tar.gz`);
  await packRelease({ from, out: file, version });
  const sig = (await signBundle({ bundle: file, key: keys.privateKey })).file;
  return { file, sig };
}

/** The terminal's retained config, as it receives it. */
async function retainedConfig(id: string, secret: string): Promise<Json> {
  const c = await connectTerminal(gw.mqttPort, id, secret, { clean: true });
  clients.push(c);
  const got = new Promise<Json>((resolve) => c.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as Json)));
  await c.subscribeAsync(topicFor(id, 'config'), { qos: 1 });
  const config = await got;
  c.end(true);
  return config;
}

function download(path: string, cert?: { key: string; cert: string }): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, gw.gateway!.pairingUrl), { ca: readFileSync(tls.ca), ...(cert ?? {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  tls = makeTestCertificates(mkdtempSync(join(tmpdir(), 'ciao-releases-tls-')));
  keys = generateReleaseKeys(join(work, 'keys'));
  gw = await startTestGateway({
    config: {
      mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tls.cert, key: tls.key, ca: tls.ca } },
      http: { host: '127.0.0.1', port: 0, pairing: { port: 0, cert: tls.cert, key: tls.key, ca: tls.ca } },
      releases: { publicKey: keys.publicKey },
    },
  });
  admin = (await addUser(SqliteStore.of(gw.db()), { name: 'Admin', role: 'administrator' })).token;
  manager = (await addUser(SqliteStore.of(gw.db()), { name: 'Marie', role: 'site-manager', sites: [gw.seed.sites.main] })).token;
});

afterAll(async () => {
  for (const c of clients) c.end(true);
  await gw?.stop();
});

describe('releases on the gateway', () => {
  it('takes a signed bundle from an administrator, with the upload command', async () => {
    const b = await bundle('1.1.0');
    const r = await uploadRelease({ url: `http://127.0.0.1:${gw.httpPort}`, token: admin }, b.file, b.sig);
    expect(r).toMatchObject({ version: '1.1.0', sha256: JSON.parse(readFileSync(b.sig, 'utf8')).manifest.sha256 });
    const list = await api('/releases');
    expect(list.json).toMatchObject({ acceptsUploads: true, releases: [{ version: '1.1.0', uploadedBy: 'Admin', offeredTo: 0, running: 0 }] });
    // The same upload again is accepted as is; another bundle under the same version is not.
    expect((await uploadRelease({ url: `http://127.0.0.1:${gw.httpPort}`, token: admin }, b.file, b.sig)).version).toBe('1.1.0');
    const rebuilt = await bundle('1.1.0', '1.1.0-rebuilt');
    const sameVersion = await api('/releases', { method: 'POST', body: { signed: JSON.parse(readFileSync(rebuilt.sig, 'utf8')), bundle: readFileSync(rebuilt.file).toString('base64') } });
    expect(sameVersion.status).toBe(409);
    expect(sameVersion.json.problems[0]).toMatchObject({ field: 'version', rule: 'unique' });
  });

  it('refuses a bundle signed by another key, or that is not the signed bundle, naming the field', async () => {
    const b = await bundle('1.2.0');
    const otherKeys = generateReleaseKeys(join(work, 'other-keys'));
    const forged = (await signBundle({ bundle: b.file, key: otherKeys.privateKey, out: join(work, 'forged.sig.json') })).signed;
    const r1 = await api('/releases', { method: 'POST', body: { signed: forged, bundle: readFileSync(b.file).toString('base64') } });
    expect(r1.status).toBe(400);
    expect(r1.json.problems[0]).toMatchObject({ field: 'signature', rule: 'release-signature' });
    expect(r1.json.problems[0].message).toMatch(/not by the release key/);
    const good = JSON.parse(readFileSync(b.sig, 'utf8'));
    const r2 = await api('/releases', { method: 'POST', body: { signed: good, bundle: readFileSync(b.file).subarray(0, 100).toString('base64') } });
    expect(r2.json.problems[0]).toMatchObject({ field: 'bundle', rule: 'size' });
    const tampered = Buffer.from(readFileSync(b.file));
    tampered[50] ^= 1;
    const r3 = await api('/releases', { method: 'POST', body: { signed: good, bundle: tampered.toString('base64') } });
    expect(r3.json.problems[0]).toMatchObject({ field: 'bundle', rule: 'sha256' });
    expect((await api('/releases')).json.releases.map((r: Json) => r.version)).toEqual(['1.1.0']);
  });

  it('lets only administrators handle releases', async () => {
    for (const [method, path, body] of [['GET', '/releases', undefined], ['GET', '/fleet', undefined], ['POST', '/releases/1.1.0/rollout', { all: true }]] as const) {
      const r = await api(path, { method, body, token: manager });
      expect(r.status).toBe(403);
      expect(r.json.problems[0]).toMatchObject({ field: 'role', rule: 'permission-manage-releases' });
    }
  });

  it('offers a release to the chosen terminals only, then to all, in their retained config', async () => {
    const a = await gw.addTerminal('t-first');
    const b = await gw.addTerminal('t-second');
    const r = await rollOut({ url: `http://127.0.0.1:${gw.httpPort}`, token: admin }, '1.1.0', { terminals: ['t-first'] });
    expect(r).toMatchObject({ version: '1.1.0', terminals: ['t-first'] });
    await waitUntil(async () => (await retainedConfig('t-first', a.secret)).update !== undefined, { what: 'the offer in t-first config' });
    const config = await retainedConfig('t-first', a.secret);
    expect(config.update).toMatchObject({ version: '1.1.0', rollout: r.rollout, bundle: '/fleet/v1/releases/1.1.0/bundle', signed: { manifest: { version: '1.1.0' } } });
    expect((await retainedConfig('t-second', b.secret)).update).toBeUndefined();
    // Then everybody.
    const all = await api('/releases/1.1.0/rollout', { method: 'POST', body: { all: true } });
    expect(all.json.terminals).toEqual(expect.arrayContaining(['t-first', 't-second']));
    await waitUntil(async () => (await retainedConfig('t-second', b.secret)).update?.rollout === all.json.rollout, { what: 'the offer in t-second config' });
    // Withdrawn: the configs no longer carry it.
    expect((await api('/rollouts/stop', { method: 'POST', body: { terminals: ['t-second'] } })).json).toEqual({ withdrawn: 1 });
    await waitUntil(async () => (await retainedConfig('t-second', b.secret)).update === undefined, { what: 'the offer withdrawn' });
    const unknown = await api('/releases/1.1.0/rollout', { method: 'POST', body: { terminals: ['nobody'] } });
    expect(unknown.json.problems[0]).toMatchObject({ field: 'terminals', rule: 'exists' });
    expect((await api('/releases/9.9.9/rollout', { method: 'POST', body: { all: true } })).status).toBe(404);
    // Each change is in the audit trail under the administrator who made it; the refused ones are not.
    const trail = (await api('/audit?entity=release')).json.items;
    expect(trail.slice(0, 3).map((e: Json) => [e.action, e.entityId, e.actor.name])).toEqual([['rollout-stop', 't-second', 'Admin'], ['rollout', '1.1.0', 'Admin'], ['rollout', '1.1.0', 'Admin']]);
    expect(trail[0].after).toEqual({ withdrawn: 1 });
    expect(trail[2].after).toEqual({ rollout: r.rollout, terminals: ['t-first'] });
  });

  it('shows which terminal runs which version and where its update stands, from its status', async () => {
    const a = await gw.addTerminal('t-report');
    await api('/releases/1.1.0/rollout', { method: 'POST', body: { terminals: ['t-report'] } });
    const c = await connectTerminal(gw.mqttPort, 't-report', a.secret, { clean: true });
    clients.push(c);
    await c.publishAsync(topicFor('t-report', 'status'), JSON.stringify({ state: 'online', at: toOffsetIso(new Date()), version: '1.0.0', queued: 0, update: { version: '1.1.0', rollout: 3, state: 'rolled-back', reason: 'stopped 3 times before it was online (last exit: 1)' } }), { qos: 1, retain: true });
    const row = await waitUntil(async () => (await api('/fleet')).json.terminals.find((t: Json) => t.id === 't-report' && t.version === '1.0.0' && t.update), { what: 'the report in the fleet view' });
    expect(row).toMatchObject({ state: 'online', version: '1.0.0', target: { version: '1.1.0' }, update: { version: '1.1.0', rollout: 3, state: 'rolled-back', reason: 'stopped 3 times before it was online (last exit: 1)' } });
    c.end(true);
  });

  it('serves bundles over HTTPS to terminals with a certificate, and to nobody else', async () => {
    await api('/terminals', { method: 'POST', body: { id: 't-cert', siteId: gw.seed.sites.main } });
    const code = await api('/terminals/t-cert/pairing', { method: 'POST' });
    const paired = await pairTerminal({ pairing: code.json.pairingString, gateway: code.json.gateway, out: join(work, 't-cert.json'), reader: 'simulated', panel: 'console' });
    // The release key was handed over at pairing.
    expect(readFileSync(paired.releaseKeyPath!, 'utf8')).toBe(readFileSync(keys.publicKey, 'utf8'));
    const id = readIdentity(paired.identityPath!);
    const ok = await download('/fleet/v1/releases/1.1.0/bundle', { key: id.keyPem, cert: id.certPem });
    expect(ok.status).toBe(200);
    expect(ok.body.equals(readFileSync(join(work, 'ciao-badge-1.1.0.tar.gz')))).toBe(true);
    const anonymous = await download('/fleet/v1/releases/1.1.0/bundle');
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body.toString()).problems[0]).toMatchObject({ field: 'certificate', rule: 'client-certificate' });
    expect((await download('/fleet/v1/releases/7.7.7/bundle', { key: id.keyPem, cert: id.certPem })).status).toBe(404);
    await api('/terminals/t-cert/deactivate', { method: 'POST' });
    const revoked = await download('/fleet/v1/releases/1.1.0/bundle', { key: id.keyPem, cert: id.certPem });
    expect(revoked.status).toBe(401);
    expect(JSON.parse(revoked.body.toString()).problems[0]).toMatchObject({ field: 'certificate', rule: 'revoked' });
  });
});
