import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import fc from 'fast-check';
import type { Db } from '../../shared/sqlite.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import {
  forwardingStateOf, forwardingSummary, lateRegistrations, listForwardingStates, notCreatedRegistrations, onssRemarks, outageJournal,
  startForwarder, readForwardingConfig, type ForwarderHandle,
} from '../../gateway/forward/index.ts';
import { clientReferenceFor, tapIdFromClientReference } from '../../gateway/onss/index.ts';
import { openGatewayDb, rsaKeyPair, seedRegistrations, tempDir, validDeclaration, validEnterpriseNumber, waitFor } from './helpers.ts';

const logger = createLogger('forwarder-test', { level: 'silent' });
let tmp: ReturnType<typeof tempDir>;
let emu: EmulatorHandle;
let db: Db;
let store: SqliteStore;
let keys: { publicKeyPem: string; privateKeyPem: string };
let fwd: ForwarderHandle | undefined;

const KNOWN_DUC = validDeclaration(3);
const KNOWN_COMPANY = validEnterpriseNumber(3);

function config(extra: Record<string, unknown> = {}) {
  return {
    baseUrl: emu.url, clientId: 'gw', privateKey: keys.privateKeyPem, requestTimeoutMs: 2000, reconcileDelayMs: 100,
    backoffInitialMs: 10, backoffMaxMs: 100, circuitOpenMs: 100, idlePollMs: 30, validityPollIntervalMs: 0, ...extra,
  };
}
const countAtEmulator = (ref: string) => emu.store.search({ clientId: 'gw', clientReference: ref, limit: 10, offset: 0 }).total;
const done = async () => {
  const s = await forwardingSummary(store);
  return s.waiting === 0 && s.in_flight === 0 && s.retry === 0;
};

beforeEach(async () => {
  tmp = tempDir();
  keys ??= await rsaKeyPair();
  emu = await startEmulator({
    dbPath: join(tmp.dir, 'emu.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], remarksDelayMs: 30,
    knownData: { companies: [{ id: KNOWN_COMPANY, active: true }], declarations: [{ reference: KNOWN_DUC, companies: [] }] },
    logger,
  });
  db = openGatewayDb(join(tmp.dir, 'gateway.sqlite'));
  store = SqliteStore.of(db);
});
afterEach(async () => {
  await fwd?.stop();
  fwd = undefined;
  await emu.stop();
  await store.close();
  db.close();
  tmp.cleanup();
});

describe('client reference', () => {
  it('is deterministic, at most 24 characters, and reversible for a UUID tap id', () => {
    const tap = '3f2c8a10-5b7e-4c1d-9a2b-0123456789ab';
    expect(clientReferenceFor(tap)).toBe(clientReferenceFor(tap));
    expect(clientReferenceFor(tap)).toHaveLength(22);
    expect(tapIdFromClientReference(clientReferenceFor(tap))).toBe(tap);
    expect(clientReferenceFor('not-a-uuid').length).toBeLessThanOrEqual(24);
    expect(clientReferenceFor('not-a-uuid')).not.toBe(clientReferenceFor('not-a-uuid2'));
  });
});

describe('config', () => {
  const problemsOf = (section: unknown, options: Parameters<typeof readForwardingConfig>[1] = { env: {} }) => {
    try {
      readForwardingConfig(section, options);
    } catch (e) {
      if (e instanceof InvalidInputError) return e.problems;
      throw e;
    }
    return [];
  };

  it('names the missing or bad field, and refuses fields it does not know', () => {
    const problems = problemsOf({ baseUrl: 'x', batchSize: 500 });
    expect(problems.map((p) => p.field)).toEqual(expect.arrayContaining(['onss.baseUrl', 'onss.batchSize']));
    expect(problemsOf({ batchSize: 50 }).map((p) => [p.field, p.rule])).toEqual([['onss.baseUrl', 'required'], ['onss.clientId', 'required'], ['onss.privateKey', 'required']]);
    expect(problemsOf({ ...config(), batchsize: 50 }).map((p) => [p.field, p.rule])).toEqual([['onss.batchsize', 'unknown-field']]);
    expect(readForwardingConfig({ enabled: false })).toEqual({ enabled: false });
  });

  it('answers any JSON with settings or field problems naming an onss field, never another exception', () => {
    const fields = ['enabled', 'baseUrl', 'clientId', 'privateKey', 'ca', 'batchSize', 'maxBatchesInFlight', 'validityPollBatch', 'reconcileDelayMs'];
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.constantFrom(...fields), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(tmp.dir, '/nonexistent.pem', '-----BEGIN PRIVATE KEY-----'))), fc.constant({ ...config(), enabled: true })),
        (section) => {
          let problems: FieldProblem[] = [];
          try {
            readForwardingConfig(section, { env: {}, baseDir: tmp.dir });
          } catch (e) {
            expect(e).toBeInstanceOf(InvalidInputError);
            problems = (e as InvalidInputError).problems;
            expect(problems.length).toBeGreaterThan(0);
          }
          for (const p of problems) {
            expect(p.field.startsWith('onss')).toBe(true);
            expect(p.rule.length).toBeGreaterThan(0);
            expect(p.message).toContain(p.field.split(', ')[0]!);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads the key once, from the file named relative to the config folder or from CIAO_ONSS_PRIVATE_KEY', () => {
    writeFileSync(join(tmp.dir, 'onss-key.pem'), keys.privateKeyPem, { mode: 0o600 });
    const fromFile = readForwardingConfig({ ...config(), privateKey: 'onss-key.pem' }, { baseDir: tmp.dir, env: {} });
    expect(fromFile.enabled && fromFile.connection.signingKey.asymmetricKeyType).toBe('rsa');
    const fromEnv = readForwardingConfig({ baseUrl: emu.url, clientId: 'gw' }, { env: { CIAO_ONSS_PRIVATE_KEY: keys.privateKeyPem } });
    expect(fromEnv.enabled && fromEnv.connection.signingKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    // The environment wins over the file, so a bad key there is named as coming from it.
    const bad = problemsOf({ ...config() }, { env: { CIAO_ONSS_PRIVATE_KEY: 'nope.pem' }, baseDir: tmp.dir });
    expect(bad.map((p) => [p.field, p.rule])).toEqual([['onss.privateKey', 'readable']]);
    expect(bad[0]!.message).toContain('CIAO_ONSS_PRIVATE_KEY');
  });

  it('refuses a key that cannot sign RS256, naming the field and the rule', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const rule = (privateKey: string) => problemsOf(config({ privateKey })).map((p) => `${p.field} ${p.rule}`);
    expect(rule('-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n')).toEqual(['onss.privateKey pkcs8']);
    expect(rule(ec)).toEqual(['onss.privateKey rsa']);
    expect(rule(small)).toEqual(['onss.privateKey min-bits']);
    expect(rule(pkcs1)).toEqual(['onss.privateKey pkcs8']);
    expect(rule(join(tmp.dir, 'missing.pem'))).toEqual(['onss.privateKey readable']);
    await expect(startForwarder({ store, logger, config: config({ privateKey: join(tmp.dir, 'missing.pem') }) })).rejects.toThrow('onss.privateKey');
    await expect(startForwarder({ store, logger, config: config({ batchSize: 201 }) })).rejects.toThrow('onss.batchSize');
  });
});

describe('forwarder', () => {
  it('drains registrations in batches, stores ONSS ids, and tracks validity and remarks by polling', async () => {
    const taps = seedRegistrations(db, { count: 450, declaration: KNOWN_DUC, enterpriseNumber: KNOWN_COMPANY });
    // Two taps that carry the same registration: ONSS flags the second as a duplicate declaration.
    const twin = seedRegistrations(db, { count: 2, start: 10_000, atUtc: '2026-01-05T07:00:00Z', declaration: KNOWN_DUC, enterpriseNumber: KNOWN_COMPANY, mutate: (r) => { r.ssin = '85073003328'; r.type = 'IN'; } });
    const unknownDuc = seedRegistrations(db, { count: 1, start: 20_000, declaration: validDeclaration(77), enterpriseNumber: KNOWN_COMPANY });
    fwd = await startForwarder({ store, logger, config: config({ batchSize: 100, validityPollIntervalMs: 50 }) });
    await waitFor(done, 'drain');
    expect((await forwardingSummary(store)).created).toBe(453);
    const requests = emu.store.db.prepare('SELECT items FROM requests').all() as Array<{ items: number }>;
    expect(Math.max(...requests.map((r) => r.items))).toBe(100);
    for (const tap of [...taps.slice(0, 20), ...twin]) expect(countAtEmulator(clientReferenceFor(tap))).toBe(1);
    const st = (await forwardingStateOf(store, { tapId: taps[0]! }))!;
    expect(st.state).toBe('created');
    expect(st.onssId).toBeTruthy();
    await waitFor(async () => (await forwardingSummary(store)).pendingValidity === 0, 'validity polled');
    // Settled by period: a handful of searches for 453 registrations, not one GET each.
    expect(emu.requestCount()).toBeLessThan(453 / 4);
    expect((await forwardingStateOf(store, { tapId: taps[0]! }))!.validity).toBe('validated');
    const second = (await forwardingStateOf(store, { tapId: twin[1]! }))!;
    expect(second.validity).toBe('withRemarks');
    expect(second.remarks).toContain('SAME DECLARATION HAS ALREADY BEEN REGISTERED');
    expect((await forwardingStateOf(store, { tapId: unknownDuc[0]! }))!.remarks).toContain('DUC IS NOT EXISTING');
    expect((await onssRemarks(store)).map((r) => r.tapId).sort()).toEqual([twin[1]!, unknownDuc[0]!].sort());
    expect((await listForwardingStates(store, { limit: 10 }))).toHaveLength(10);
  });

  it('stores ONSS errors of refused registrations and never resends them', async () => {
    const taps = seedRegistrations(db, { count: 10, mutate: (r, i) => { if (i === 4) r.ssin = '85073003329'; } });
    fwd = await startForwarder({ store, logger, config: config() });
    await waitFor(done, 'drain');
    const refused = (await notCreatedRegistrations(store));
    expect(refused.map((r) => r.tapId)).toEqual([taps[4]]);
    expect(refused[0]!.errors[0]).toMatchObject({ rule: 'checksum' });
    // More work afterwards does not bring the refused one back.
    seedRegistrations(db, { count: 5, start: 100 });
    fwd.wake();
    await waitFor(done, 'second drain');
    expect((emu.store.db.prepare('SELECT COUNT(*) AS n FROM not_created').get() as { n: number }).n).toBe(1);
    expect((await forwardingStateOf(store, { tapId: taps[4]! }))!.attempts).toBe(1);
  });

  it('journals an outage (503 window) and links the registrations it delayed', async () => {
    emu.setFaults({ unavailableForMs: 600 });
    const taps = seedRegistrations(db, { count: 30 });
    fwd = await startForwarder({ store, logger, config: config() });
    await waitFor(done, 'drain after outage');
    const [outage] = (await outageJournal(store));
    expect(outage).toBeDefined();
    expect(outage!.cause).toContain('503');
    expect(outage!.endedAt).not.toBeNull();
    expect(outage!.failures).toBeGreaterThan(0);
    expect(outage!.registrationsDelayed).toBe(30);
    const late = (await lateRegistrations(store, { outageId: outage!.id }));
    expect(late.map((l) => l.tapId)).toEqual(taps);
    expect(late[0]!.outage.id).toBe(outage!.id);
    // After recovery, new registrations are not late.
    const fresh = seedRegistrations(db, { count: 3, start: 50 });
    fwd.wake();
    await waitFor(done, 'drain after recovery');
    expect((await forwardingStateOf(store, { tapId: fresh[0]! }))!.outageId).toBeNull();
    for (const t of taps) expect(countAtEmulator(clientReferenceFor(t))).toBe(1);
  });

  it('opens the circuit after repeated failures and stops calling ONSS for a while', async () => {
    seedRegistrations(db, { count: 5 });
    fwd = await startForwarder({ store, logger, config: config() });
    await waitFor(done, 'first drain');
    await fwd.stop();
    emu.setFaults({ unavailableForMs: 60_000 });
    const before = emu.requestCount();
    seedRegistrations(db, { count: 5, start: 10 });
    fwd = await startForwarder({ store, logger, config: config({ circuitFailureThreshold: 3, circuitOpenMs: 60_000 }) });
    await waitFor(async () => ((await outageJournal(store))[0]?.failures ?? 0) >= 3, 'three failures');
    // With the circuit open, a minute passes without a call; watch a good while for stray calls.
    await new Promise((r) => setTimeout(r, 500));
    // Three calls (the token endpoint is down too), each a failure in the journal, then silence.
    expect(emu.requestCount() - before).toBe(3);
    expect((await outageJournal(store))[0]!.failures).toBe(3);
    expect((await outageJournal(store))[0]!.endedAt).toBeNull();
    // Without a token nothing was marked in flight: the registrations simply wait.
    expect((await forwardingSummary(store))).toMatchObject({ waiting: 5, in_flight: 0, retry: 0 });
  });

  it('honours 429 Retry-After without journaling an outage', async () => {
    emu.setFaults({ rateLimitForMs: 300, retryAfterSeconds: 1 });
    seedRegistrations(db, { count: 5 });
    fwd = await startForwarder({ store, logger, config: config() });
    await waitFor(done, 'drain after rate limit');
    expect((await outageJournal(store))).toHaveLength(0);
    expect((await forwardingSummary(store)).created).toBe(5);
  });

  it('reconciles after hang-ups, resets, 5xx and timeouts: each tap exactly once at ONSS', async () => {
    const taps = seedRegistrations(db, { count: 400 });
    const slow: string[] = [];
    emu.setFaults({ hangUpAfterProcessingCount: 2, resetCount: 2, errorRate: 0.2 });
    fwd = await startForwarder({ store, logger, config: config({ batchSize: 50, requestTimeoutMs: 500, reconcileDelayMs: 400 }) });
    await waitFor(done, 'first drain through hang-ups, resets and 5xx', 45_000);
    // Slower than the gateway waits: the call times out, yet ONSS stores it afterwards.
    const timedOutBefore = emu.store.stats().requests;
    emu.setFaults({ latencyMs: 700, errorRate: 0 });
    slow.push(...seedRegistrations(db, { count: 100, start: 1000 }));
    await waitFor(async () => (await listForwardingStates(store, { state: 'in_flight', afterSeq: 400, limit: 1 }))[0]?.lastFailure === 'timeout', 'a timed-out call');
    await waitFor(() => emu.store.stats().requests > timedOutBefore, 'the late processing of the timed-out call');
    emu.setFaults({ latencyMs: 0, hangUpAfterProcessingCount: 1 });
    await waitFor(done, 'drain', 45_000);
    const stats = emu.store.stats();
    expect(stats.unanswered).toBeGreaterThanOrEqual(2);
    expect(stats.duplicateClientReferences).toBe(0);
    expect(stats.registrations).toBe(500);
    for (const t of [...taps, ...slow]) expect(countAtEmulator(clientReferenceFor(t))).toBe(1);
    expect((await outageJournal(store)).length).toBeGreaterThan(0);
  });

  it('resumes within seconds after ONSS hangs up on a call it processed, not after the reconcile delay', async () => {
    const taps = seedRegistrations(db, { count: 300 });
    emu.setFaults({ hangUpAfterProcessingCount: 1 });
    // As deployed: a call may take 30 s, and what ONSS does not show is asked about again a minute after it was sent.
    fwd = await startForwarder({ store, logger, config: config({ batchSize: 100, maxBatchesInFlight: 1, requestTimeoutMs: 30_000, reconcileDelayMs: 30_000 }) });
    // The first look finds the hung-up batch at ONSS: the drain goes on long before the minute is up.
    await waitFor(done, 'drain after a hang-up', 20_000);
    const stats = emu.store.stats();
    expect(stats.unanswered).toBe(1);
    expect(stats.duplicateClientReferences).toBe(0);
    expect(stats.registrations).toBe(300);
    for (const t of taps) expect(countAtEmulator(clientReferenceFor(t))).toBe(1);
    // Each registration went out once: the hung-up batch was settled by the search, not resent.
    expect((await listForwardingStates(store, { limit: 1000 })).every((s) => s.state === 'created' && s.attempts === 1)).toBe(true);
    const [outage] = (await outageJournal(store));
    expect(outage!.endedAt).not.toBeNull();
  });

  it('gets a new token when ONSS expires it', async () => {
    seedRegistrations(db, { count: 5 });
    fwd = await startForwarder({ store, logger, config: config() });
    await waitFor(done, 'first drain');
    emu.setFaults({ expireTokensNow: true });
    seedRegistrations(db, { count: 5, start: 10 });
    fwd.wake();
    await waitFor(done, 'second drain');
    expect((await forwardingSummary(store)).created).toBe(10);
    expect((await outageJournal(store))).toHaveLength(0);
  });
});
