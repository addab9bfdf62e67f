import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Db } from '../../shared/sqlite.ts';
import { toOnssUtc } from '../../shared/time.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { adminApiPlugin } from '../../gateway/http/admin-api.ts';
import { addUser } from '../../gateway/access/users.ts';
import { SiteDataService } from '../../gateway/site-data/service.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { getBadge } from '../../gateway/site-data/badges.ts';
import type { ReleaseResult } from '../../gateway/site-data/held-taps.ts';
import type { CardTransport } from '../../gateway/badge-security/apdu.ts';
import { BadgeDesk, type DeskReaderSettings } from '../../gateway/badge-security/desk-jobs.ts';
import { provisionAndEnrol, type DeskEnrolOptions, type EnrolledBadge } from '../../gateway/badge-security/enrol.ts';
import { deriveBadgeKeys } from '../../gateway/badge-security/diversify.ts';
import { createKeyFile, type BadgeKeyRing } from '../../gateway/badge-security/key-ring.ts';
import { blankState } from '../../simulator/vcard/ntag424/card-state.ts';
import { VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';
import { seedTestWorld, TEST_SEED } from '../gateway/helpers/seed.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import type { Json } from '../support/json.ts';

/**
 * What the site manager's console does with secure badges, through the HTTP API (real fastify servers on
 * ephemeral ports, a real SQLite file): a site's secure-badge rule (who may set it, the audit trail, the
 * UID-only badges it flags, enrolment refused while it is on), badge kinds in every answer that shows a
 * badge, and personalising a blank NTAG 424 DNA on the gateway's desk reader (refused with 503 naming what
 * is missing, one run at a time, its progress, an interrupted run finished by starting again, the user's
 * scope at enrolment). The desk reader here is the virtual NTAG 424 DNA answering the very provisioning
 * code in process; a stand-in socket plays pcscd's. Over real pcscd + vpcd, the console's browser walk
 * (test/console/site-manager-day.browser.test.ts) personalises a badge the same way.
 */
const S = TEST_SEED;
const SITE = S.sites.main;
const BADGE_UID = '04A7B7C7D7E7F7';
const READER = 'Virtual desk reader 00 00';

let dir: string;
let db: Db;
let ring: BadgeKeyRing;
let pcscd: NetServer;
let pcscdSocket: string;
const releases: ReleaseResult[] = [];
const tokens = {} as Record<'admin' | 'clean' | 'shine' | 'foreign' | 'bare' | 'payroll' | 'reader', string>;

interface Api {
  app: FastifyInstance;
  url: string;
  desk: BadgeDesk;
}
const apis: Api[] = [];

async function serve(desk: { settings?: DeskReaderSettings; keys?: BadgeKeyRing; run?: (o: DeskEnrolOptions) => Promise<EnrolledBadge> }): Promise<Api> {
  const app = Fastify({ logger: false });
  // The service tells the running gateway what a change released (here: recorded for the assertions).
  const siteData = new SiteDataService(SqliteStore.of(db), { onReleased: (r) => releases.push(r) });
  const badgeDesk = new BadgeDesk({ store: SqliteStore.of(db), keys: desk.keys, settings: desk.settings, ...(desk.run ? { run: desk.run } : {}), nfcPcscProblem: async () => null });
  await app.register(adminApiPlugin, { store: SqliteStore.of(db), siteData, badgeDesk });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const api = { app, url: `http://127.0.0.1:${port}`, desk: badgeDesk };
  apis.push(api);
  return api;
}

async function call(api: Api, path: string, init: { token: string; method?: string; body?: unknown }) {
  const r = await fetch(`${api.url}/api/v1${path}`, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers: { authorization: `Bearer ${init.token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type') ?? '', json: JSON.parse(text) as Json };
}

/** The site's form as the console sends it: every field, the rule among them. */
const siteForm = (requireSecureBadges: boolean) => ({ name: 'Tour A', language: 'fr', postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1', requireSecureBadges });

/** A tap held because its badge was unknown, with the SUN message it carried, as ingest stores it. */
function heldUnknownTap(badge: string, sun: boolean): string {
  const tapId = randomUUID();
  const at = new Date(Date.now() - 60_000).toISOString().replace('Z', '+00:00');
  db.prepare(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, enrichment_detail)
     VALUES (?, 'desk-door', ?, (SELECT COUNT(*) FROM taps), ?, 'IN', 'work', ?, ?, 'unknown-badge', 'badge not enrolled')`,
  ).run(tapId, SITE, badge, at, at);
  if (sun) db.prepare('INSERT INTO held_tap_sun (tap_id, picc, mac) VALUES (?, ?, ?)').run(tapId, 'AB'.repeat(16), 'CD'.repeat(8));
  return tapId;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-console-secure-'));
  db = openGatewayDatabase(join(dir, 'gateway.db'));
  await seedTestWorld(db);
  await addTerminal(SqliteStore.of(db), { id: 'desk-door', siteId: SITE });
  ring = createKeyFile(join(dir, 'badge-keys.json'));
  // A listener where pcscd's socket would be: the gateway asks it before it loads nfc-pcsc.
  pcscdSocket = join(dir, 'pcscd.comm');
  pcscd = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => pcscd.listen(pcscdSocket, resolve));
  tokens.admin = (await addUser(SqliteStore.of(db), { name: 'Ada Admin', role: 'administrator' })).token;
  // Clean is the main contractor on the site's declaration, Shine its subcontractor; the foreign company is on no chain.
  tokens.clean = (await addUser(SqliteStore.of(db), { name: 'Marie (Clean)', role: 'site-manager', company: S.companies.clean })).token;
  tokens.shine = (await addUser(SqliteStore.of(db), { name: 'Stef (Shine)', role: 'site-manager', company: S.companies.shine })).token;
  tokens.foreign = (await addUser(SqliteStore.of(db), { name: 'Pierre (Nord)', role: 'site-manager', company: S.companies.foreign })).token;
  tokens.bare = (await addUser(SqliteStore.of(db), { name: 'Kim (Kantoor)', role: 'site-manager', sites: [S.sites.bare] })).token;
  tokens.payroll = (await addUser(SqliteStore.of(db), { name: 'Paul Payroll', role: 'payroll' })).token;
  tokens.reader = (await addUser(SqliteStore.of(db), { name: 'Rita Reader', role: 'read-only' })).token;
});

afterAll(async () => {
  for (const a of apis) {
    await a.desk.stop();
    await a.app.close();
  }
  await new Promise((r) => pcscd?.close(r));
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a site's secure-badge rule", () => {
  let api: Api;
  beforeAll(async () => {
    api = await serve({});
  });

  it('lists the UID-only badges of the site\'s workers it would flag; workers outside the caller\'s companies are counted, not named', async () => {
    const all = await call(api, `/sites/${SITE}/badge-policy`, { token: tokens.admin });
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({ siteId: SITE, requireSecureBadges: false, otherUidOnlyBadges: 0 });
    // Not the revoked badge, nor the posted worker's (their employer is on no declaration of the site).
    expect(all.json.uidOnlyBadges.map((b) => [b.uid, b.workerName])).toEqual([[S.workers.solo.badge, S.workers.solo.name], [S.workers.duo.badge, S.workers.duo.name]]);
    // The subcontractor sees its own worker (Luc works for both) and only a count of the main contractor's.
    const sub = await call(api, `/sites/${SITE}/badge-policy`, { token: tokens.shine });
    expect(sub.json.uidOnlyBadges.map((b) => b.uid)).toEqual([S.workers.duo.badge]);
    expect(sub.json.otherUidOnlyBadges).toBe(1);
    // Another site's manager does not see this site at all.
    expect((await call(api, `/sites/${SITE}/badge-policy`, { token: tokens.bare })).status).toBe(404);
  });

  it('is refused to payroll, read-only, another site\'s manager and a company working elsewhere, naming the rule', async () => {
    for (const who of ['payroll', 'reader'] as const) {
      const r = await call(api, `/sites/${SITE}/secure-badges`, { token: tokens[who], body: { required: true } });
      expect(r.status, who).toBe(403);
      expect(r.type).toMatch(/problem\+json/);
      expect(r.json.problems[0]).toMatchObject({ field: 'role', rule: 'permission-change-site-data' });
      expect((await call(api, `/sites/${SITE}`, { token: tokens[who], method: 'PATCH', body: siteForm(true) })).status, who).toBe(403);
    }
    expect((await call(api, `/sites/${SITE}/secure-badges`, { token: tokens.bare, body: { required: true } })).json.problems[0]).toMatchObject({ rule: 'exists' });
    const foreign = await call(api, `/sites/${SITE}`, { token: tokens.foreign, method: 'PATCH', body: siteForm(true) });
    expect(foreign.status).toBe(403);
    expect(foreign.json.problems[0]).toMatchObject({ field: 'requireSecureBadges', rule: 'company-scope' });
    expect(foreign.json.problems[0].message).toContain(`your company ${S.companies.foreign} is on none of the declarations of site ${SITE}`);
    expect(db.prepare('SELECT require_secure_badges FROM sites WHERE id = ?').pluck().get(SITE)).toBe(0);
    // The same user changes the rest of a site as before: only the rule is theirs to leave alone.
    expect((await call(api, `/sites/${SITE}`, { token: tokens.foreign, method: 'PATCH', body: siteForm(false) })).status).toBe(200);
  });

  it('is set by the site manager of a company working there, from the site\'s form, and recorded in the audit trail', async () => {
    const r = await call(api, `/sites/${SITE}`, { token: tokens.clean, method: 'PATCH', body: siteForm(true) });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.requireSecureBadges).toBe(true);
    expect((await call(api, `/sites/${SITE}`, { token: tokens.reader })).json.requireSecureBadges).toBe(true);
    const entry = (await listAudit(SqliteStore.of(db), { entity: 'site', entityId: SITE })).items.find((e) => e.actor.name === 'Marie (Clean)');
    expect(entry).toMatchObject({ action: 'update', actor: { kind: 'user' }, siteId: SITE, before: { requireSecureBadges: false }, after: { requireSecureBadges: true } });
    const policy = await call(api, `/sites/${SITE}/badge-policy`, { token: tokens.clean });
    expect(policy.json).toMatchObject({ requireSecureBadges: true });
    expect(policy.json.uidOnlyBadges).toHaveLength(2);
  });

  it('then refuses a UID-only badge for the site\'s workers, at enrolment and from a held tap, naming the rule and what to do', async () => {
    const refused = await call(api, '/badges', { token: tokens.clean, body: { uid: 'AB12CD34', worker: 'w-solo' } });
    expect(refused.status).toBe(400);
    expect(refused.json.problems).toEqual([expect.objectContaining({ field: 'kind', rule: 'secure-badge-required' })]);
    expect(refused.json.problems[0].message).toMatch(/site site-main requires secure badges \(NTAG 424 DNA\); personalise one for them \(console: the worker's "Personalise a blank secure badge"/);
    const previewed = await call(api, '/badges/preview', { token: tokens.clean, body: { uid: 'AB12CD34', worker: 'w-solo' } });
    expect(previewed.json.problems[0]).toMatchObject({ rule: 'secure-badge-required' });
    expect(await getBadge(SqliteStore.of(db), 'AB12CD34')).toBeUndefined();

    const held = heldUnknownTap('AB12CD35', true);
    const fromTap = await call(api, '/enrolments/preview', { token: tokens.clean, body: { tapId: held, worker: 'w-duo' } });
    expect(fromTap.status).toBe(400);
    expect(fromTap.json.problems[0]).toMatchObject({ field: 'kind', rule: 'secure-badge-required' });
    // A worker of no company on the site's declarations gets a UID-only badge as before; the review says
    // its kind, and that the tap carried a secure message (an NTAG 424 DNA better personalised).
    const elsewhere = await call(api, '/enrolments/preview', { token: tokens.admin, body: { tapId: held, worker: 'w-posted' } });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.json).toMatchObject({ badge: { uid: 'AB12CD35', kind: 'uid-only', keyVersion: null }, tapCarriedSecureMessage: true });
    // Ending a UID-only badge the worker already holds is not an enrolment.
    const ended = await call(api, `/badges/${S.workers.solo.badge}`, { token: tokens.clean, method: 'PATCH', body: { validTo: '2030-12-31' } });
    expect(ended.status).toBe(200);
    expect(ended.json.badge).toMatchObject({ kind: 'uid-only', validTo: '2030-12-31' });
  });

  it('is turned off again with its own call, and UID-only badges are accepted again', async () => {
    const off = await call(api, `/sites/${SITE}/secure-badges`, { token: tokens.admin, body: { required: false } });
    expect(off.status).toBe(200);
    expect(off.json).toMatchObject({ siteId: SITE, requireSecureBadges: false });
    expect((await listAudit(SqliteStore.of(db), { entity: 'site', entityId: SITE })).items.find((e) => e.actor.name === 'Ada Admin')).toMatchObject({ before: { requireSecureBadges: true }, after: { requireSecureBadges: false } });
    const again = await call(api, '/badges', { token: tokens.clean, body: { uid: 'AB12CD36', worker: 'w-solo' } });
    expect(again.status).toBe(201);
    expect(again.json.badge).toMatchObject({ kind: 'uid-only', keyVersion: null });
  });
});

describe('badge kinds wherever a badge is shown', () => {
  let api: Api;
  beforeAll(async () => {
    api = await serve({});
  });

  it("lists a worker's badges, each with its kind", async () => {
    db.prepare("UPDATE badges SET kind = 'secure', key_version = 1 WHERE uid = ?").run(S.workers.posted.badge);
    const posted = await call(api, '/badges?worker=w-posted&inactive=true', { token: tokens.admin });
    expect(posted.json.items.map((b) => [b.uid, b.kind, b.keyVersion])).toEqual([[S.workers.posted.badge, 'secure', 1]]);
    const solo = await call(api, '/badges?worker=w-solo', { token: tokens.clean });
    expect(solo.json.items.every((b) => b.workerId === 'w-solo' && b.kind === 'uid-only')).toBe(true);
    // A worker of another company's: not in the list of a site manager who does not see them.
    expect((await call(api, '/badges?worker=w-solo', { token: tokens.foreign })).json.items).toEqual([]);
  });

  it('says, for each registration, which badge was tapped and whether its secure message was verified; a remark about a badge says its kind', async () => {
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Brussels' }).format(new Date());
    const register = (badge: string, worker: 'w-posted' | 'w-duo', counter: number | null) => {
      const tapId = randomUUID();
      const at = new Date(Date.now() - 5 * 60_000).toISOString().replace('Z', '+00:00');
      db.prepare(
        `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, sun_counter)
         VALUES (?, 'desk-door', ?, (SELECT COUNT(*) FROM taps), ?, 'IN', 'work', ?, ?, 'enriched', ?)`,
      ).run(tapId, SITE, badge, at, at, counter);
      db.prepare(
        `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
         VALUES (?, 'desk-door', ?, ?, 'IN', 'work', ?, ?, ?, 'employee', 'enterprise', ?, ?, '{}', ?)`,
      ).run(tapId, SITE, worker, at, toOnssUtc(at), worker === 'w-posted' ? S.workers.posted.niss : S.workers.duo.niss, S.companies.clean, S.declaration, at);
      return tapId;
    };
    const secureTap = register(S.workers.posted.badge, 'w-posted', 7);
    const plainTap = register(S.workers.duo.badge, 'w-duo', null);
    // A UID-only badge's tap flagged by ingest on a site that requires secure badges.
    db.prepare("INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES (?, 'uid-only-on-secure-site', ?)").run(plainTap, JSON.stringify({ badge: S.workers.duo.badge, siteId: SITE }));
    const regs = await call(api, `/registrations?from=${day}&to=${day}`, { token: tokens.admin });
    const registration = (tapId: string) => regs.json.registrations.find((r) => r.tapId === tapId);
    expect(registration(secureTap)).toMatchObject({ badge: S.workers.posted.badge, badgeKind: 'secure', badgeKeyVersion: 1 });
    expect(registration(plainTap)).toMatchObject({ badge: S.workers.duo.badge, badgeKind: 'uid-only', badgeKeyVersion: null });
    const remarks = await call(api, `/remarks?from=${day}&to=${day}&kind=uid-only-badge`, { token: tokens.admin });
    const flagged = remarks.json.remarks.find((r) => r.tapId === plainTap);
    expect(flagged).toMatchObject({ kind: 'uid-only-badge', badge: { uid: S.workers.duo.badge, kind: 'uid-only', keyVersion: null } });
    db.prepare("UPDATE badges SET kind = 'uid-only', key_version = NULL WHERE uid = ?").run(S.workers.posted.badge);
  });
});

describe("personalising a blank secure badge on the gateway's desk reader", () => {
  /** A desk reader on which the test places the virtual badge: the real provisioning and enrolment run on it. */
  class VirtualDesk {
    private place: ((t: { chip: VirtualNtag424; transport: CardTransport }) => void) | null = null;
    readonly run = async (o: DeskEnrolOptions) => {
      o.onReady?.([READER]);
      const placed = await new Promise<{ chip: VirtualNtag424; transport: CardTransport }>((resolve, reject) => {
        this.place = resolve;
        o.signal?.addEventListener('abort', () => reject(new Error('the gateway stopped')), { once: true });
      });
      o.onPlaced?.({ readerName: READER, uid: placed.chip.state.uid });
      return provisionAndEnrol(placed.transport, o);
    };
    async present(chip: VirtualNtag424, transport: CardTransport = direct(chip)): Promise<void> {
      await waitUntil(() => this.place, { what: 'the desk waiting for a badge' });
      const place = this.place!;
      this.place = null;
      place({ chip, transport });
    }
  }
  const direct = (chip: VirtualNtag424): CardTransport => ({ transmit: async (apdu) => chip.respond(apdu) });
  /** Taken away the instant its first key change is applied: the desk never gets the badge's answer. */
  const takenAwayAtFirstKeyChange = (chip: VirtualNtag424): CardTransport => {
    let changes = 0;
    return {
      transmit: async (apdu) => {
        const answer = chip.respond(apdu);
        if (apdu[0] === 0x90 && apdu[1] === 0xc4 && ++changes === 1) throw new Error('the badge did not answer within 3000 ms (taken away?)');
        return answer;
      },
    };
  };

  it('is refused with 503 naming what is missing: no desk reader configured, no badge keys, pcscd not running', async () => {
    const none = await serve({ keys: ring });
    const status = await call(none, '/badge-desk', { token: tokens.clean });
    expect(status.json).toMatchObject({ configured: false, available: false, busy: false, job: null, problem: { field: 'deskReader', rule: 'desk-reader-not-configured' } });
    const refused = await call(none, '/badge-desk/jobs', { token: tokens.clean, body: { worker: 'w-solo' } });
    expect(refused.status).toBe(503);
    expect(refused.type).toMatch(/application\/problem\+json/);
    expect(refused.json).toMatchObject({ type: 'urn:problem-type:ciao:unavailable', status: 503, problems: [{ field: 'deskReader', rule: 'desk-reader-not-configured' }] });
    expect(refused.json.problems[0].message).toContain('badgeSecurity.deskReader');

    const noKeys = await serve({ settings: { socketPath: pcscdSocket } });
    expect((await call(noKeys, '/badge-desk/jobs', { token: tokens.clean, body: { worker: 'w-solo' } })).json.problems[0]).toMatchObject({ rule: 'badge-keys-missing' });
    const noPcscd = await serve({ keys: ring, settings: { socketPath: join(dir, 'no-pcscd.comm') } });
    const down = await call(noPcscd, '/badge-desk/jobs', { token: tokens.clean, body: { worker: 'w-solo' } });
    expect(down.status).toBe(503);
    expect(down.json.problems[0]).toMatchObject({ rule: 'pcscd-not-running' });
    expect(down.json.problems[0].message).toContain(join(dir, 'no-pcscd.comm'));
    expect((await call(noPcscd, '/badge-desk', { token: tokens.clean })).json).toMatchObject({ configured: true, available: false, problem: { rule: 'pcscd-not-running' } });
  });

  it('is for administrators and site managers who see the worker: payroll and read-only are refused, and so is a worker out of scope', async () => {
    const api = await serve({ keys: ring, settings: { socketPath: pcscdSocket } });
    for (const who of ['payroll', 'reader'] as const) {
      for (const [path, body] of [['/badge-desk', undefined], ['/badge-desk/jobs', { worker: 'w-solo' }]] as const) {
        const r = await call(api, path, { token: tokens[who], ...(body ? { body } : {}) });
        expect(r.status, `${who} ${path}`).toBe(403);
        expect(r.json.problems[0]).toMatchObject({ field: 'role', rule: 'permission-change-site-data' });
      }
    }
    expect((await call(api, '/badge-desk/jobs', { token: tokens.foreign, body: { worker: 'w-solo' } })).json.problems[0]).toMatchObject({ field: 'worker', rule: 'exists' });
    const bad = await call(api, '/badge-desk/jobs', { token: tokens.clean, body: { worker: 'w-solo', validFrom: '2026-02-30' } });
    expect(bad.status).toBe(400);
    expect(bad.json.problems[0]).toMatchObject({ field: 'validFrom', rule: 'date' });
    expect((await call(api, '/badge-desk', { token: tokens.clean })).json).toMatchObject({ available: true, busy: false, job: null });
  });

  it('runs one at a time, shows its progress, finishes an interrupted run when started again, and enrols the badge as secure for the worker', async () => {
    const desk = new VirtualDesk();
    const api = await serve({ keys: ring, settings: { socketPath: pcscdSocket, waitSeconds: 30 }, run: desk.run });
    // A tap of this badge made while it was unknown, with its secure message: the badge check decides, after enrolment.
    const heldTap = heldUnknownTap(BADGE_UID, true);
    const chip = new VirtualNtag424({ state: blankState(BADGE_UID) });

    // The worker named by their NISS, as on the command line.
    const first = await call(api, '/badge-desk/jobs', { token: tokens.clean, body: { worker: S.workers.solo.niss } });
    expect(first.status).toBe(202);
    expect(first.json.job).toMatchObject({ workerId: 'w-solo', workerName: S.workers.solo.name, by: { name: 'Marie (Clean)' } });
    await waitUntil(async () => (await call(api, '/badge-desk', { token: tokens.clean })).json.job?.state === 'waiting-for-badge', { what: 'the desk waiting for a badge' });
    const waiting = await call(api, '/badge-desk', { token: tokens.clean });
    expect(waiting.json).toMatchObject({ available: true, busy: true, waitSeconds: 30, job: { readerNames: [READER], progress: { placed: null } } });
    // One at a time.
    const second = await call(api, '/badge-desk/jobs', { token: tokens.admin, body: { worker: 'w-duo' } });
    expect(second.status).toBe(409);
    expect(second.json).toMatchObject({ type: 'urn:problem-type:ciao:conflict', problems: [{ field: 'deskReader', rule: 'desk-reader-busy' }] });
    expect(second.json.problems[0].message).toContain(`personalising a badge for ${S.workers.solo.name} (started by Marie (Clean)`);
    // Someone who does not see the worker learns only that the reader is busy.
    expect((await call(api, '/badge-desk', { token: tokens.foreign })).json).toMatchObject({ busy: true, job: null });

    // The badge is taken away the moment its first key is changed.
    await desk.present(chip, takenAwayAtFirstKeyChange(chip));
    await waitUntil(async () => (await call(api, '/badge-desk', { token: tokens.clean })).json.job?.state === 'failed', { what: 'the interrupted run' });
    const failed = (await call(api, '/badge-desk', { token: tokens.clean })).json;
    expect(failed).toMatchObject({ busy: false, job: { state: 'failed', progress: { placed: { uid: BADGE_UID }, authenticated: true, keysChanged: [], verifiedCounter: null, enrolled: false }, error: { next: 'present-again' } } });
    expect(failed.job.error.message).toContain('taken away');
    expect(await getBadge(SqliteStore.of(db), BADGE_UID)).toBeUndefined();

    // Started again with the badge back on the reader: it resumes, changing only what is not done yet.
    expect((await call(api, '/badge-desk/jobs', { token: tokens.clean, body: { worker: 'w-solo' } })).status).toBe(202);
    await desk.present(chip);
    await waitUntil(async () => (await call(api, '/badge-desk', { token: tokens.clean })).json.job?.state === 'done', { what: 'the run done' });
    const done = (await call(api, '/badge-desk', { token: tokens.clean })).json.job;
    expect(done.progress).toMatchObject({ placed: { readerName: READER, uid: BADGE_UID }, keysFound: ['factory', 'ours', 'factory', 'factory', 'factory'], authenticated: true, keysChanged: [2, 3, 4, 0], sunMirroring: true, verifiedCounter: 1, enrolled: true });
    expect(done.result).toMatchObject({ uid: BADGE_UID, kind: 'secure', keyVersion: ring.current, previousWorkerId: null });
    expect(done.steps).toContain('SUN message verified (read counter 1)');
    expect(chip.state.keys).toEqual(deriveBadgeKeys(ring.versions.get(ring.current)!, Buffer.from(BADGE_UID, 'hex')).map((k) => k.toString('hex').toUpperCase()));

    // Enrolled through the site-data service: secure, the user in the audit trail, the held tap handed to the badge check.
    const listed = await call(api, '/badges?worker=w-solo', { token: tokens.clean });
    expect(listed.json.items.find((b) => b.uid === BADGE_UID)).toMatchObject({ kind: 'secure', keyVersion: ring.current, workerId: 'w-solo' });
    const provision = (await listAudit(SqliteStore.of(db), { entity: 'badge', entityId: BADGE_UID })).items;
    expect(provision.map((e) => [e.action, e.actor.name])).toEqual([['provision', 'Marie (Clean)']]);
    expect(db.prepare('SELECT outcome FROM tap_releases WHERE tap_id = ?').pluck().get(heldTap)).toBe('badge-check');
    expect(releases.some((r) => r.badgeChecks > 0 && r.released.some((x) => x.tapId === heldTap))).toBe(true);
  });

  it("does not take a badge bound to a worker the user does not see, even once it is personalised: the run says to enrol it again", async () => {
    const desk = new VirtualDesk();
    const api = await serve({ keys: ring, settings: { socketPath: pcscdSocket }, run: desk.run });
    // The badge of the run above, bound to Ana (Clean's worker), presented by Shine's manager for Luc.
    const chip = new VirtualNtag424({ state: blankState(BADGE_UID) });
    await provisionAndEnrol(direct(chip), { store: SqliteStore.of(db), keys: ring, worker: 'w-solo' });
    expect((await call(api, '/badge-desk/jobs', { token: tokens.shine, body: { worker: 'w-duo' } })).status).toBe(202);
    await desk.present(chip);
    await waitUntil(async () => (await call(api, '/badge-desk', { token: tokens.shine })).json.job?.state === 'failed', { what: 'the refused enrolment' });
    const job = (await call(api, '/badge-desk', { token: tokens.shine })).json.job;
    expect(job.progress).toMatchObject({ verifiedCounter: expect.any(Number), enrolled: false });
    expect(job.error).toMatchObject({ next: 'enrol-again' });
    expect(job.error.message).toContain('bound to a worker outside your companies');
    expect(await getBadge(SqliteStore.of(db), BADGE_UID)).toMatchObject({ workerId: 'w-solo', kind: 'secure' });
  });

  it('stops waiting for a badge when the gateway stops', async () => {
    const desk = new VirtualDesk();
    const api = await serve({ keys: ring, settings: { socketPath: pcscdSocket }, run: desk.run });
    expect((await call(api, '/badge-desk/jobs', { token: tokens.admin, body: { worker: 'w-duo' } })).status).toBe(202);
    await api.desk.stop();
    const status = await api.desk.status();
    expect(status).toMatchObject({ busy: false, job: { state: 'failed', error: { message: 'the gateway stopped', next: 'start-again' } } });
  });
});
