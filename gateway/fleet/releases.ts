import { createHash, type KeyObject } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { recordChange, type Actor } from '../site-data/audit.ts';
import { conflict, notFound } from '../../shared/errors.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { checkManifestSignature, parseSignedManifest, releaseVersionSchema, type SignedManifest } from '../../shared/release/manifest.ts';
import type { UpdateOffer, UpdateReport } from '../../shared/mqtt/payloads.ts';
import { bundleFileName, LocalBundles, writeBundleChunks } from './bundle-chunks.ts';

/**
 * Uploaded terminal releases and who is offered which. The gateway checks an upload's signature with the
 * publisher's public key (so a wrongly signed bundle is refused at once, not on every terminal) and its hash
 * and size, keeps the bundle under `releases.dir`, and offers a release to the terminals an operator chose,
 * through their retained config. It never holds the signing key: terminals check the same signature with the
 * key they were given at pairing, so what they install is what the publisher signed.
 *
 * Read and written through the storage port (docs/cluster.md, "The storage port"): an upload, a rollout and a
 * withdrawal each with its audit entry in one transaction. The bundles are files under `releases.dir`; on
 * PostgreSQL they are in the database too (gateway/fleet/bundle-chunks.ts), written with their `releases` row,
 * so that every instance of a cluster serves every bundle from a file of its own.
 */
export interface ReleaseInfo {
  version: string;
  sha256: string;
  size: number;
  keyId: string;
  uploadedAt: string;
  uploadedBy: string;
  signed: SignedManifest;
}

interface ReleaseRow {
  version: string;
  sha256: string;
  size: number;
  signed: string;
  key_id: string;
  file: string;
  uploaded_at: string;
  uploaded_by: string;
}

const toInfo = (r: ReleaseRow): ReleaseInfo => ({
  version: r.version, sha256: r.sha256, size: r.size, keyId: r.key_id, uploadedAt: r.uploaded_at, uploadedBy: r.uploaded_by,
  signed: JSON.parse(r.signed) as SignedManifest,
});

/** The path a terminal downloads a bundle from, on the gateway's HTTPS (pairing) listener. */
const bundlePath = (version: string) => `/fleet/v1/releases/${encodeURIComponent(version)}/bundle`;

interface OfferRow {
  terminal_id: string;
  version: string;
  rollout: number;
  signed: string;
}

const OFFERS = 'SELECT t.terminal_id, t.version, t.rollout, r.signed FROM release_targets t JOIN releases r ON r.version = t.version';

const toOffer = (row: OfferRow, signed = JSON.parse(row.signed) as SignedManifest): UpdateOffer => ({ version: row.version, rollout: row.rollout, bundle: bundlePath(row.version), signed });

/** What goes into a terminal's retained config: the release it is offered, when there is one. */
export async function updateOfferFor(store: SqlStore, terminalId: string): Promise<UpdateOffer | undefined> {
  const row = await store.one<OfferRow>(`${OFFERS} WHERE t.terminal_id = $1`, [terminalId]);
  return row ? toOffer(row) : undefined;
}

/**
 * Every terminal's offer, by terminal id, in one read: the terminals' publisher reads them once a round, with
 * the terminals and the sites, not once per terminal. The signed manifest of a release offered to many
 * terminals is parsed once and shared.
 */
export async function updateOffers(store: SqlStore): Promise<Map<string, UpdateOffer>> {
  const offers = new Map<string, UpdateOffer>();
  const signed = new Map<string, SignedManifest>();
  for (const row of await store.all<OfferRow>(OFFERS)) {
    let manifest = signed.get(row.version);
    if (!manifest) signed.set(row.version, (manifest = JSON.parse(row.signed) as SignedManifest));
    offers.set(row.terminal_id, toOffer(row, manifest));
  }
  return offers;
}

export interface FleetTerminal {
  id: string;
  siteId: string | null;
  disabled: boolean;
  state: 'online' | 'offline' | 'never-seen';
  /** The version the terminal last reported running. */
  version: string | null;
  /** The release it is offered, if any. */
  target: { version: string; rollout: number; assignedAt: string; assignedBy: string } | null;
  /** What it last said about an update. */
  update: { version: string; rollout: number | null; state: string; reason: string | null; at: string } | null;
  /** Its current client certificate, if it has one. */
  certificate: { serial: string; notAfter: string } | null;
}

/** Which terminals a rollout or a withdrawal is for. */
export type ReleaseTerminals = { terminals: string[] } | { all: true };

function invalid(field: string, rule: string, message: string): InvalidInputError {
  return new InvalidInputError([{ field, rule, message: `${field}: ${message}` }]);
}

const UPSERT_TARGET = `INSERT INTO release_targets (terminal_id, version, rollout, assigned_at, assigned_by) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (terminal_id) DO UPDATE SET version = excluded.version, rollout = excluded.rollout, assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by`;

/** The same offer to every enabled terminal, in one statement (the parameters cast: they stand in a SELECT list). */
const UPSERT_TARGETS_OF_ALL = `INSERT INTO release_targets (terminal_id, version, rollout, assigned_at, assigned_by)
  SELECT id, CAST($1 AS text), CAST($2 AS bigint), CAST($3 AS text), CAST($4 AS text) FROM terminals WHERE disabled = 0
  ON CONFLICT (terminal_id) DO UPDATE SET version = excluded.version, rollout = excluded.rollout, assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by
  RETURNING terminal_id`;

export class ReleaseStore {
  /** Each terminal's update reports are kept one after the other, in the order they came. */
  private readonly reporting = new Map<string, Promise<unknown>>();
  /** This instance's files of the bundles in the database: on PostgreSQL only. */
  private readonly shared: LocalBundles | undefined;

  constructor(
    private readonly store: SqlStore,
    private readonly dir: string,
    private readonly publicKey: KeyObject | undefined,
    readonly maxBytes: number,
  ) {
    this.shared = store.dialect === 'postgres' ? new LocalBundles(store, dir) : undefined;
  }

  get enabled(): boolean {
    return this.publicKey !== undefined;
  }

  /**
   * Adds an uploaded release after checking its signature, size and hash, with its audit entry (`upload`)
   * in the same transaction. The same release again is accepted as is (and audited again; on PostgreSQL its
   * bundle is written to the database again, which repairs chunks lost or damaged); another bundle under a
   * version that exists is refused (a version names one bundle). On PostgreSQL the bundle's chunks are written
   * in the transaction of its `releases` row.
   */
  async add(signedInput: unknown, bundle: Buffer, by: Actor, now: Date): Promise<ReleaseInfo> {
    if (!this.publicKey) throw conflict({ field: 'releases.publicKey', rule: 'configured', message: 'releases.publicKey: this gateway has no release public key in its config, so it cannot accept releases (docs/gateway.md, "Terminal releases")' });
    const signed = parseSignedManifest(signedInput);
    const m = signed.manifest;
    const problems: FieldProblem[] = [];
    const bad = checkManifestSignature(signed, this.publicKey);
    if (bad) problems.push(bad);
    if (bundle.length > this.maxBytes) problems.push({ field: 'bundle', rule: 'max-size', message: `bundle: ${bundle.length} bytes is over releases.maxBytes (${this.maxBytes})` });
    else if (bundle.length !== m.size) problems.push({ field: 'bundle', rule: 'size', message: `bundle: has ${bundle.length} bytes, the manifest says ${m.size} (truncated or not this release's bundle)` });
    else {
      const sha = createHash('sha256').update(bundle).digest('hex');
      if (sha !== m.sha256) problems.push({ field: 'bundle', rule: 'sha256', message: `bundle: SHA-256 ${sha.slice(0, 16)}… is not the manifest's ${m.sha256.slice(0, 16)}…` });
    }
    if (problems.length) throw new InvalidInputError(problems);
    const audit = (tx: SqlStore, info: ReleaseInfo) =>
      recordChange(tx, { actor: by, action: 'upload', entity: 'release', entityId: info.version, after: { sha256: info.sha256, size: info.size, keyId: info.keyId }, at: now });
    /** The release as stored, if this bundle is it; refused if the version names another bundle. */
    const same = (existing: ReleaseInfo): ReleaseInfo => {
      if (existing.sha256 === m.sha256) return existing;
      throw conflict({ field: 'version', rule: 'unique', message: `version: ${m.version} was uploaded already with another bundle; give the new build a new version` });
    };
    const existing = await this.get(m.version);
    if (existing) {
      const info = same(existing);
      await this.store.transaction(async (tx) => {
        if (this.shared) await writeBundleChunks(tx, info.version, bundle);
        await audit(tx, info);
      });
      return info;
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, bundleFileName(m.version));
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, bundle, { mode: 0o600 });
    renameSync(tmp, file);
    return this.store.transaction(async (tx) => {
      const row = await tx.one<ReleaseRow>(
        `INSERT INTO releases (version, sha256, size, signed, key_id, file, uploaded_at, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (version) DO NOTHING RETURNING *`,
        [m.version, m.sha256, m.size, JSON.stringify(signed), signed.keyId, file, now.toISOString(), by.name],
      );
      // Uploaded meanwhile by another request: the same release is accepted as is, another bundle refused.
      const info = row ? toInfo(row) : same((await releaseIn(tx, m.version))!);
      if (this.shared) await writeBundleChunks(tx, info.version, bundle);
      await audit(tx, info);
      return info;
    });
  }

  get(version: string): Promise<ReleaseInfo | undefined> {
    return releaseIn(this.store, version);
  }

  /**
   * The bundle's file, for the download route. On SQLite the file the upload wrote. On PostgreSQL this
   * instance's own file under its `releases.dir`, written from the database's chunks when it has none or one
   * that is not the release's bytes (SHA-256 checked before it is used); refused, naming the version, when the
   * database's bundle is missing or damaged.
   */
  async file(version: string): Promise<{ path: string; size: number } | undefined> {
    const row = await this.store.one<{ version: string; sha256: string; file: string; size: number }>('SELECT version, sha256, file, size FROM releases WHERE version = $1', [version]);
    if (!row) return undefined;
    if (!this.shared) return { path: row.file, size: row.size };
    return { path: await this.shared.fileOf(row), size: row.size };
  }

  /** Newest upload first (same instant: the greater version by code point), with how many terminals are offered and run each. */
  async list(): Promise<Array<ReleaseInfo & { offeredTo: number; running: number }>> {
    const rows = await this.store.all<ReleaseRow & { offered_to: number; running: number }>(
      `SELECT r.*, (SELECT COUNT(*) FROM release_targets t WHERE t.version = r.version) AS offered_to,
              (SELECT COUNT(*) FROM terminal_status s WHERE s.version = r.version) AS running
       FROM releases r`,
    );
    rows.sort((a, b) => byCodePoint(b.uploaded_at, a.uploaded_at) || byCodePoint(b.version, a.version));
    return rows.map((r) => ({ ...toInfo(r), offeredTo: Number(r.offered_to), running: Number(r.running) }));
  }

  /**
   * Offers `version` to the given terminals (or every enabled terminal), as one rollout: their configs are
   * republished with the offer, and each terminal updates on its own. The rollout, its offers and its audit
   * entry (`rollout`) are one transaction; a refusal writes nothing.
   */
  async rollout(version: string, who: ReleaseTerminals, by: Actor, now: Date): Promise<{ rollout: number; version: string; terminals: string[] }> {
    const missing = () => notFound('version', `version: no release ${version} was uploaded`);
    if (!releaseVersionSchema.safeParse(version).success) throw missing();
    const at = now.toISOString();
    return this.store.transaction(async (tx) => {
      if (!(await tx.one('SELECT 1 FROM releases WHERE version = $1', [version]))) throw missing();
      let ids: string[] | undefined;
      if (!('all' in who)) {
        if (who.terminals.length === 0) throw invalid('terminals', 'required', 'name at least one terminal, or roll out to all');
        const known = new Set((await tx.all<{ id: string }>('SELECT id FROM terminals')).map((r) => r.id));
        const unknown = who.terminals.filter((t) => !known.has(t));
        if (unknown.length) throw invalid('terminals', 'exists', `no terminal ${unknown.join(', ')}`);
        ids = [...new Set(who.terminals)];
      }
      const made = await tx.one<{ id: number }>('INSERT INTO release_rollouts (version, created_at, created_by) VALUES ($1, $2, $3) RETURNING id', [version, at, by.name]);
      const rollout = Number(made!.id);
      if (ids) {
        for (const id of ids) await tx.run(UPSERT_TARGET, [id, version, rollout, at, by.name]);
      } else {
        ids = (await tx.all<{ terminal_id: string }>(UPSERT_TARGETS_OF_ALL, [version, rollout, at, by.name])).map((r) => r.terminal_id).sort(byCodePoint);
      }
      await recordChange(tx, { actor: by, action: 'rollout', entity: 'release', entityId: version, after: { rollout, terminals: ids }, at: now });
      return { rollout, version, terminals: ids };
    });
  }

  /** Withdraws the offers (terminals keep the version they run), with the audit entry (`rollout-stop`) in the same transaction. */
  stopRollout(who: ReleaseTerminals, by: Actor, now: Date): Promise<number> {
    return this.store.transaction(async (tx) => {
      let withdrawn = 0;
      if ('all' in who) withdrawn = (await tx.run('DELETE FROM release_targets')).changes;
      else for (const id of who.terminals) withdrawn += (await tx.run('DELETE FROM release_targets WHERE terminal_id = $1', [id])).changes;
      await recordChange(tx, { actor: by, action: 'rollout-stop', entity: 'release', entityId: 'all' in who ? '*' : who.terminals.join(','), after: { withdrawn }, at: now });
      return withdrawn;
    });
  }

  offerFor(terminalId: string): Promise<UpdateOffer | undefined> {
    return updateOfferFor(this.store, terminalId);
  }

  /**
   * A terminal's status carried an update report: kept (the newest only), written only when it changed (a
   * read otherwise: terminals repeat their report in every status). A terminal's reports are kept one after
   * the other, in the order they came, whatever the pool does with concurrent statements.
   */
  noteReport(terminalId: string, report: UpdateReport, now: Date): Promise<boolean> {
    const before = this.reporting.get(terminalId) ?? Promise.resolve();
    const kept = before.then(() => this.keepReport(terminalId, report, now), () => this.keepReport(terminalId, report, now));
    this.reporting.set(terminalId, kept);
    const forget = () => {
      if (this.reporting.get(terminalId) === kept) this.reporting.delete(terminalId);
    };
    kept.then(forget, forget);
    return kept;
  }

  private async keepReport(terminalId: string, report: UpdateReport, now: Date): Promise<boolean> {
    const before = await this.store.one<{ version: string; rollout: number | null; state: string; reason: string | null }>(
      'SELECT version, rollout, state, reason FROM terminal_update_reports WHERE terminal_id = $1',
      [terminalId],
    );
    if (before && before.version === report.version && before.rollout === (report.rollout ?? null) && before.state === report.state && before.reason === (report.reason ?? null)) return false;
    await this.store.run(
      `INSERT INTO terminal_update_reports (terminal_id, version, rollout, state, reason, reported_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (terminal_id) DO UPDATE SET version = excluded.version, rollout = excluded.rollout, state = excluded.state, reason = excluded.reason, reported_at = excluded.reported_at`,
      [terminalId, report.version, report.rollout ?? null, report.state, report.reason ?? null, now.toISOString()],
    );
    return true;
  }

  /** Every terminal (by id, by code point) with the version it runs, the release it is offered, its last update report and its certificate. */
  async fleet(): Promise<FleetTerminal[]> {
    const rows = await this.store.all<{
      id: string; site_id: string | null; disabled: number; state: 'online' | 'offline' | null; running: string | null;
      target_version: string | null; target_rollout: number | null; assigned_at: string | null; assigned_by: string | null;
      update_version: string | null; update_rollout: number | null; update_state: string | null; update_reason: string | null; reported_at: string | null;
      cert_serial: string | null; cert_not_after: string | null;
    }>(
      `SELECT t.id, t.site_id, t.disabled, s.state, s.version AS running,
              rt.version AS target_version, rt.rollout AS target_rollout, rt.assigned_at, rt.assigned_by,
              u.version AS update_version, u.rollout AS update_rollout, u.state AS update_state, u.reason AS update_reason, u.reported_at,
              (SELECT c.serial FROM terminal_certificates c WHERE c.terminal_id = t.id AND c.revoked_at IS NULL ORDER BY c.issued_at DESC LIMIT 1) AS cert_serial,
              (SELECT c.not_after FROM terminal_certificates c WHERE c.terminal_id = t.id AND c.revoked_at IS NULL ORDER BY c.issued_at DESC LIMIT 1) AS cert_not_after
       FROM terminals t
       LEFT JOIN terminal_status s ON s.terminal_id = t.id
       LEFT JOIN release_targets rt ON rt.terminal_id = t.id
       LEFT JOIN terminal_update_reports u ON u.terminal_id = t.id`,
    );
    rows.sort((a, b) => byCodePoint(a.id, b.id));
    return rows.map((r) => ({
      id: r.id,
      siteId: r.site_id,
      disabled: r.disabled === 1,
      state: r.state ?? 'never-seen',
      version: r.running,
      target: r.target_version ? { version: r.target_version, rollout: r.target_rollout!, assignedAt: r.assigned_at!, assignedBy: r.assigned_by! } : null,
      update: r.update_version ? { version: r.update_version, rollout: r.update_rollout, state: r.update_state!, reason: r.update_reason, at: r.reported_at! } : null,
      certificate: r.cert_serial ? { serial: r.cert_serial, notAfter: r.cert_not_after! } : null,
    }));
  }
}

async function releaseIn(store: SqlStore, version: string): Promise<ReleaseInfo | undefined> {
  const row = await store.one<ReleaseRow>('SELECT * FROM releases WHERE version = $1', [version]);
  return row ? toInfo(row) : undefined;
}
