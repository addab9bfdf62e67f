import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { openTerminalCa } from '../../gateway/fleet/terminal-ca.ts';
import { certificatesOf, normalizeSerial, recordCertificate } from '../../gateway/fleet/certificates.ts';
import { loadTerminalConfig } from '../../terminal/config.ts';
import { startTerminal, type TerminalHandle } from '../../terminal/main.ts';
import { pairTerminal, type PairResult } from '../../terminal/pairing/pair.ts';
import { makeKeyAndCsr, readIdentity } from '../../terminal/pairing/identity.ts';
import { httpsJson } from '../../terminal/pairing/https.ts';
import { SimulatedReader } from '../../terminal/adapters/simulated-reader.ts';
import { SimulatedPanel } from '../../terminal/adapters/simulated-panel.ts';
import { VirtualClock } from '../../shared/clock.ts';
import { makeTestCertificates } from './helpers/tls.ts';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectClient, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';
import type { Json } from '../support/json.ts';

/**
 * Terminal identity by certificate, over real TLS: a terminal paired with the console's one-time code makes
 * its own key, gets a client certificate from the gateway's CA and logs in with it; certificates for another
 * id, expired, revoked or from another CA are refused; password guessing against the id never locks the
 * certificate out; the certificate renews itself before it expires.
 */
let gw: TestGateway;
let token: string;
let server: { ca: string; cert: string; key: string };
const dir = mkdtempSync(join(tmpdir(), 'ciao-certs-'));
const terminals: TerminalHandle[] = [];
const clients: MqttClient[] = [];

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: r.status, json: (await r.json()) as Json };
}

/** Adds a terminal in the console and pairs it the way an installer does. */
async function pair(id: string, extra: { stateDir?: string } = {}): Promise<PairResult> {
  expect((await api('/terminals', { method: 'POST', body: { id, siteId: gw.seed.sites.main } })).status).toBe(201);
  const code = await api(`/terminals/${id}/pairing`, { method: 'POST' });
  return pairTerminal({ pairing: code.json.pairingString, gateway: code.json.gateway, out: join(dir, `${id}.json`), reader: 'simulated', panel: 'console', ...extra });
}

/** Connects with a client certificate; resolves on CONNACK 0, rejects with the refusal. */
function connectWithCertificate(clientId: string, key: string, cert: string, extra: { username?: string } = {}): Promise<MqttClient> {
  return connectClient(`mqtts://127.0.0.1:${gw.tlsPort}`, { clientId, key, cert, ca: readFileSync(server.ca), rejectUnauthorized: true, clean: true, ...extra }).then((c) => {
    clients.push(c);
    return c;
  });
}

async function authFailures(reason: string): Promise<number> {
  const m = new RegExp(`^ciao_gateway_auth_failures_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(await gw.metrics());
  return m ? Number(m[1]) : 0;
}

/** A certificate signed by the gateway's own CA for `terminalId`, recorded as issued, with the dates asked for. */
async function issueFromGatewayCa(terminalId: string, opts: { now: Date; validityDays: number }): Promise<{ key: string; cert: string; serial: string }> {
  const ca = await openTerminalCa(join(gw.dir, 'terminal-ca.pem'), join(gw.dir, 'terminal-ca.key'));
  const { keyPem, csrPem } = await makeKeyAndCsr(terminalId);
  const issued = await ca.issue(csrPem, terminalId, opts);
  await recordCertificate(SqliteStore.of(gw.db()), terminalId, issued, 'operator', opts.now);
  return { key: keyPem, cert: issued.pem, serial: issued.serial };
}

beforeAll(async () => {
  server = makeTestCertificates(mkdtempSync(join(tmpdir(), 'ciao-certs-tls-')));
  gw = await startTestGateway({
    config: {
      mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: server.cert, key: server.key, ca: server.ca } },
      http: { host: '127.0.0.1', port: 0, pairing: { port: 0, cert: server.cert, key: server.key, ca: server.ca } },
      auth: { maxFailures: 5, maxFailuresPerAddress: 50, windowSeconds: 60, lockoutSeconds: 60 },
    },
  });
  token = (await addUser(SqliteStore.of(gw.db()), { name: 'Admin', role: 'administrator' })).token;
});

afterAll(async () => {
  for (const c of clients) c.end(true);
  for (const t of terminals) await t.stop();
  await gw?.stop();
});

describe('the terminal CA', () => {
  it('was made at the first start beside the database, both files mode 0600, and is kept at the next start', async () => {
    for (const f of ['terminal-ca.pem', 'terminal-ca.key']) expect(statSync(join(gw.dir, f)).mode & 0o777).toBe(0o600);
    const pem = readFileSync(join(gw.dir, 'terminal-ca.pem'), 'utf8');
    const again = await openTerminalCa(join(gw.dir, 'terminal-ca.pem'), join(gw.dir, 'terminal-ca.key'));
    expect(again.created).toBe(false);
    expect(again.certPem.trim()).toBe(pem.trim());
    expect(again.certificate.ca).toBe(true);
  });

  it('refuses a key file that others may read, and a half-present CA, naming the field', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ciao-ca-bad-'));
    await openTerminalCa(join(d, 'ca.pem'), join(d, 'ca.key'));
    execFileSync('chmod', ['0644', join(d, 'ca.key')]);
    await expect(openTerminalCa(join(d, 'ca.pem'), join(d, 'ca.key'))).rejects.toMatchObject({ problems: [{ field: 'terminalCa.key', rule: 'private-file' }] });
    await expect(openTerminalCa(join(d, 'ca.pem'), join(d, 'missing.key'))).rejects.toMatchObject({ problems: [{ field: 'terminalCa.key', rule: 'missing' }] });
  });

  it('uses a CA the operator put in place instead of making one', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ciao-ca-own-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(d, 'own.key'), '-out', join(d, 'own.pem'), '-days', '30', '-subj', '/CN=Operator terminal CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'pipe' });
    execFileSync('chmod', ['0600', join(d, 'own.key')]);
    const ca = await openTerminalCa(join(d, 'own.pem'), join(d, 'own.key'));
    expect(ca.created).toBe(false);
    const { csrPem } = await makeKeyAndCsr('T-own');
    const issued = await ca.issue(csrPem, 'T-own', { now: new Date(), validityDays: 90 });
    writeFileSync(join(d, 'issued.pem'), issued.pem);
    const verified = execFileSync('openssl', ['verify', '-CAfile', join(d, 'own.pem'), '-purpose', 'sslclient', join(d, 'issued.pem')]).toString();
    expect(verified).toContain('OK');
    // Never past the CA's own end.
    expect(Date.parse(issued.notAfter)).toBeLessThanOrEqual(Date.parse(ca.certificate.validTo));
    expect(Date.parse(issued.notAfter) - Date.now()).toBeLessThan(31 * 86_400_000);
  });
});

describe('a terminal paired with a certificate', () => {
  let paired: PairResult;
  let terminal: TerminalHandle;

  it('makes its own key, gets a certificate bound to its id, logs in with it and its taps are stored', async () => {
    paired = await pair('porte-a');
    expect(paired.credentials).toBe('certificate');
    const config = loadTerminalConfig(paired.configPath);
    expect(config.secret).toBeUndefined();
    expect(statSync(paired.identityPath!).mode & 0o777).toBe(0o600);
    const identity = readIdentity(paired.identityPath!);
    expect(identity.certificate.subject).toContain('CN=porte-a');
    expect(identity.certificate.checkIssued(await openTerminalCa(join(gw.dir, 'terminal-ca.pem'), join(gw.dir, 'terminal-ca.key')).then((c) => c.certificate))).toBe(true);
    // The key never left the device: the gateway knows the certificate, not the key.
    expect(JSON.stringify(gw.db().prepare('SELECT * FROM terminal_certificates').all())).not.toContain(identity.keyPem.slice(40, 80));
    expect(await certificatesOf(SqliteStore.of(gw.db()), 'porte-a')).toEqual([expect.objectContaining({ serial: normalizeSerial(identity.certificate.serialNumber), issuedFor: 'pairing', revokedAt: null })]);

    terminal = await startTerminal(config, { reader: new SimulatedReader(), panel: new SimulatedPanel() });
    terminals.push(terminal);
    await waitUntil(() => terminal.link.isConnected, { what: 'the terminal connected' });
    expect(gw.gateway!.components).toContain('mqtt-listeners');
    // A freshly paired terminal registers once its site's config has come (FAQ 31: until then it cannot).
    await waitUntil(() => terminal.state.cannotRegister.length === 0, { what: 'the site config received' });
    const acked = new Promise<{ id: string; status: string }>((resolve) => terminal.link.once('ack', resolve));
    (terminal.reader as SimulatedReader).present(gw.seed.workers.solo.badge);
    const ack = await acked;
    expect(ack.status).toBe('stored');
    expect(gw.db().prepare('SELECT terminal_id FROM taps WHERE tap_id = ?').get(ack.id)).toEqual({ terminal_id: 'porte-a' });
    expect(gw.logs()).toMatch(/"terminalId":"porte-a".*"terminal connected"/);
  });

  it('loses the secret it had: once paired with a certificate, the certificate is its only way in', async () => {
    const { secret } = await gw.addTerminal('porte-s');
    const viaSecret = () => connectClient(`mqtts://127.0.0.1:${gw.tlsPort}`, { clientId: 'porte-s', username: 'porte-s', password: secret, ca: readFileSync(server.ca) });
    (await viaSecret()).end(true);
    const code = await api('/terminals/porte-s/pairing', { method: 'POST' });
    const r = await pairTerminal({ pairing: code.json.pairingString, gateway: code.json.gateway, out: join(dir, 'porte-s.json'), reader: 'simulated', panel: 'console' });
    expect(r.credentials).toBe('certificate');
    await expect(viaSecret()).rejects.toThrow(/Bad username or password/);
    const identity = readIdentity(r.identityPath!);
    (await connectWithCertificate('porte-s', identity.keyPem, identity.certPem)).end(true);
    const audit = await api('/audit?entity=terminal&entityId=porte-s');
    expect(audit.json.items.find((e: Json) => e.action === 'paired')?.after).toMatchObject({ credentials: 'certificate' });
  });

  it('pairs with a secret when asked to (LAN set-ups), and then logs in with it', async () => {
    await api('/terminals', { method: 'POST', body: { id: 'porte-lan', siteId: gw.seed.sites.main } });
    const code = await api('/terminals/porte-lan/pairing', { method: 'POST' });
    const r = await pairTerminal({ pairing: code.json.pairingString, gateway: code.json.gateway, out: join(dir, 'porte-lan.json'), reader: 'simulated', panel: 'console', credentials: 'secret' });
    expect(r.credentials).toBe('secret');
    expect(r.identityPath).toBeUndefined();
    const config = loadTerminalConfig(r.configPath);
    expect(config.identity).toBeUndefined();
    expect(await certificatesOf(SqliteStore.of(gw.db()), 'porte-lan')).toEqual([]);
    (await connectClient(`mqtts://127.0.0.1:${gw.tlsPort}`, { clientId: 'porte-lan', username: 'porte-lan', password: config.secret, ca: readFileSync(server.ca) })).end(true);
  });

  it('refuses a signing request that is not one, or names another terminal, without spending the code', async () => {
    await api('/terminals', { method: 'POST', body: { id: 'porte-csr', siteId: gw.seed.sites.main } });
    const pairing = await api('/terminals/porte-csr/pairing', { method: 'POST' });
    const code = String(pairing.json.code);
    const claim = (csr: string) => httpsJson(new URL('/pair/v1/claim', pairing.json.gateway), { method: 'POST', body: { v: 1, code, csr }, ca: readFileSync(server.ca) });
    const garbage = await claim('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.text).problems[0]).toMatchObject({ field: 'csr', rule: 'pkcs10' });
    const other = await claim((await makeKeyAndCsr('porte-a')).csrPem);
    expect(other.status).toBe(400);
    expect(JSON.parse(other.text).problems[0]).toMatchObject({ field: 'csr', rule: 'csr-subject' });
    // The code still works.
    const r = await pairTerminal({ pairing: pairing.json.pairingString, gateway: pairing.json.gateway, out: join(dir, 'porte-csr.json'), reader: 'simulated', panel: 'console' });
    expect(r.credentials).toBe('certificate');
  });

  it('refuses its certificate for another terminal id', async () => {
    await pair('porte-b');
    const identity = readIdentity(paired.identityPath!);
    const before = await authFailures('certificate-id-mismatch');
    await expect(connectWithCertificate('porte-b', identity.keyPem, identity.certPem)).rejects.toThrow(/Not authorized/);
    expect(await authFailures('certificate-id-mismatch')).toBe(before + 1);
  });

  it('refuses an expired certificate from its own CA', async () => {
    const expired = await issueFromGatewayCa('porte-b', { now: new Date(Date.now() - 30 * 86_400_000), validityDays: 3 });
    const before = await authFailures('certificate-expired');
    await expect(connectWithCertificate('porte-b', expired.key, expired.cert)).rejects.toThrow(/Not authorized/);
    expect(await authFailures('certificate-expired')).toBe(before + 1);
  });

  it('refuses a certificate with the right name from another CA', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ciao-other-ca-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Another CA');
    ssl('req', ...ec, '-keyout', 't.key', '-out', 't.csr', '-subj', '/CN=porte-b');
    writeFileSync(join(d, 'ext.cnf'), 'extendedKeyUsage=clientAuth\n');
    ssl('x509', '-req', '-in', 't.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 't.pem', '-days', '2', '-extfile', 'ext.cnf');
    const before = await authFailures('certificate-untrusted');
    await expect(connectWithCertificate('porte-b', readFileSync(join(d, 't.key'), 'utf8'), readFileSync(join(d, 't.pem'), 'utf8'))).rejects.toThrow(/Not authorized/);
    expect(await authFailures('certificate-untrusted')).toBe(before + 1);
  });

  it('refuses a certificate the CA signed but never recorded (a pairing that did not complete)', async () => {
    const ca = await openTerminalCa(join(gw.dir, 'terminal-ca.pem'), join(gw.dir, 'terminal-ca.key'));
    const { keyPem, csrPem } = await makeKeyAndCsr('porte-b');
    const issued = await ca.issue(csrPem, 'porte-b', { now: new Date(), validityDays: 30 });
    await expect(connectWithCertificate('porte-b', keyPem, issued.pem)).rejects.toThrow(/Not authorized/);
  });

  it('renews its certificate before it expires, reconnects with the new one, and the old one stops working', async () => {
    const old = readIdentity(paired.identityPath!);
    // The terminal's clock says two thirds of the certificate's life are gone.
    const clock = new VirtualClock(new Date(Date.parse(old.certificate.validFrom) + (Date.parse(old.certificate.validTo) - Date.parse(old.certificate.validFrom)) * 0.7));
    await terminal.stop();
    const t = await startTerminal(loadTerminalConfig(paired.configPath), { reader: new SimulatedReader(), panel: new SimulatedPanel(), clock });
    terminals.push(t);
    await waitUntil(() => t.renewer?.stats.renewed === 1, { what: 'the renewal' });
    const renewed = readIdentity(paired.identityPath!);
    expect(renewed.certificate.serialNumber).not.toBe(old.certificate.serialNumber);
    expect(renewed.keyPem).not.toBe(old.keyPem);
    expect(statSync(paired.identityPath!).mode & 0o777).toBe(0o600);
    // The terminal reconnected with the new certificate, and the gateway retired the old one.
    await waitUntil(async () => (await certificatesOf(SqliteStore.of(gw.db()), 'porte-a')).find((c) => c.serial === normalizeSerial(old.certificate.serialNumber))?.revokedReason === 'superseded', { what: 'the old certificate retired' });
    expect((await certificatesOf(SqliteStore.of(gw.db()), 'porte-a')).find((c) => c.serial === normalizeSerial(renewed.certificate.serialNumber))).toMatchObject({ issuedFor: 'renewal', revokedAt: null });
    await waitUntil(() => t.link.isConnected, { what: 'connected with the renewed certificate' });
    const acked = new Promise<{ status: string }>((resolve) => t.link.once('ack', resolve));
    (t.reader as SimulatedReader).present('0C0C0C01');
    expect((await acked).status).toBe('stored');
    await expect(connectWithCertificate('porte-a-old', old.keyPem, old.certPem)).rejects.toThrow(/Not authorized/);
    await expect(connectWithCertificate('porte-a', old.keyPem, old.certPem)).rejects.toThrow(/Not authorized/);
    // Back on today's clock, the new certificate is far from due: a second look renews nothing.
    clock.jump(Date.now() - clock.now().getTime());
    expect(await t.renewer!.checkNow()).toBe('not-due');
    expect(t.renewer!.stats.renewed).toBe(1);
  });

  it('keeps its certificate login through 1,000 wrong secrets for its id', async () => {
    const identity = readIdentity(paired.identityPath!);
    const limitedBefore = await authFailures('rate-limited');
    const answers = await guessSecrets('porte-a', 1000);
    // Every guess was refused, and the id (and the address) were locked out for password logins.
    expect(answers.filter((c) => c === 0)).toEqual([]);
    expect(answers.length).toBe(1000);
    expect(await authFailures('rate-limited')).toBeGreaterThan(limitedBefore + 900);
    // The terminal itself: drop its connection, it comes back with its certificate at once.
    const t = terminals.at(-1)!;
    const connects = t.link.stats.connects;
    t.link.reconnect();
    await waitUntil(() => t.link.isConnected && t.link.stats.connects > connects, { what: 'the terminal back with its certificate' });
    const acked = new Promise<{ status: string }>((resolve) => t.link.once('ack', resolve));
    (t.reader as SimulatedReader).present('0C0C0C02');
    expect((await acked).status).toBe('stored');
    // And any client holding the certificate gets in as well.
    const c = await connectWithCertificate('porte-a', identity.keyPem, identity.certPem);
    const acks = await AckCollector.attach(c, 'porte-a');
    const tap = makeTap(gw.seed.workers.posted.badge);
    await publishTap(c, 'porte-a', tap);
    expect((await acks.waitFor(tap.id))[0]!.status).toBe('stored');
    c.end(true);
  });

  it('is put out at once when the terminal is disabled, and its certificate stays revoked', async () => {
    const t = terminals.at(-1)!;
    const identity = readIdentity(paired.identityPath!);
    await waitUntil(() => t.link.isConnected, { what: 'connected' });
    expect((await api('/terminals/porte-a/deactivate', { method: 'POST' })).status).toBe(200);
    await waitUntil(() => !t.link.isConnected, { what: 'the terminal disconnected' });
    expect((await certificatesOf(SqliteStore.of(gw.db()), 'porte-a')).every((c) => c.revokedAt !== null)).toBe(true);
    const before = await authFailures('certificate-revoked');
    await expect(connectWithCertificate('porte-a', identity.keyPem, identity.certPem)).rejects.toThrow(/Not authorized/);
    expect(await authFailures('certificate-revoked')).toBe(before + 1);
    // Enabled again, the terminal still needs a new pairing: a revoked certificate never comes back.
    expect((await api('/terminals/porte-a/reactivate', { method: 'POST' })).status).toBe(200);
    await expect(connectWithCertificate('porte-a', identity.keyPem, identity.certPem)).rejects.toThrow(/Not authorized/);
    await t.stop();
  });
});

describe('a gateway without MQTT over TLS', () => {
  it('pairs a terminal that sent a signing request with a secret, since a certificate could not log in there', async () => {
    const plain = await startTestGateway({ config: { http: { host: '127.0.0.1', port: 0, pairing: { port: 0, cert: server.cert, key: server.key, ca: server.ca } } } });
    try {
      const admin = (await addUser(SqliteStore.of(plain.db()), { name: 'Admin', role: 'administrator' })).token;
      const call = (path: string) => fetch(`http://127.0.0.1:${plain.httpPort}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'porte-plain', siteId: plain.seed.sites.main }) }).then((r) => r.json() as Promise<Json>);
      await call('/terminals');
      const code = await fetch(`http://127.0.0.1:${plain.httpPort}/api/v1/terminals/porte-plain/pairing`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } }).then((r) => r.json() as Promise<Json>);
      const r = await pairTerminal({ pairing: code.pairingString, gateway: code.gateway, out: join(dir, 'porte-plain.json'), reader: 'simulated', panel: 'console' });
      expect(r).toMatchObject({ credentials: 'secret', mqttUrl: `mqtt://127.0.0.1:${plain.mqttPort}` });
      expect(await certificatesOf(SqliteStore.of(plain.db()), 'porte-plain')).toEqual([]);
    } finally {
      await plain.stop();
    }
  });
});

/** `count` CONNECTs over TLS (no client certificate) with a wrong password for `terminalId`: the CONNACK return codes. */
async function guessSecrets(terminalId: string, count: number): Promise<number[]> {
  const one = () => new Promise<number>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: gw.tlsPort!, ca: readFileSync(server.ca), servername: 'localhost' }, () => {
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: terminalId, keepalive: 30, username: terminalId, password: Buffer.from(`guess-${Math.random()}`) }));
    });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      socket.destroy();
      resolve((p as { returnCode: number }).returnCode);
    });
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(-1));
  });
  const answers: number[] = [];
  for (let i = 0; i < count; i += 25) answers.push(...(await Promise.all(Array.from({ length: Math.min(25, count - i) }, one))));
  return answers;
}
