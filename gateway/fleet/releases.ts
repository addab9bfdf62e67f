import { createHash, type KeyObject } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../../shared/sqlite.ts';
import { conflict, notFound } from '../../shared/errors.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { checkManifestSignature, parseSignedManifest, releaseVersionSchema, type SignedManifest } from '../../shared/release/manifest.ts';
import type { UpdateOffer, UpdateReport } from '../../shared/mqtt/payloads.ts';

/**
 * Uploaded terminal releases and who is offered which. The gateway checks an upload's signature with the
 * publisher's public key (so a wrongly signed bundle is refused at once, not on every terminal) and its hash
 * and size, keeps the bundle under `releases.dir`, and offers a release to the terminals an operator chose,
 * through their retained config. It never holds the signing key: terminals check the same signature with the
 * key they were given at pairing, so what they install is what the publisher signed.
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

/** What goes into a terminal's retained config: the release it is offered, when there is one. */
export function updateOfferFor(db: Db, terminalId: string): UpdateOffer | undefined {
  const row = db.prepare('SELECT t.version, t.rollout, r.signed FROM release_targets t JOIN releases r ON r.version = t.version WHERE t.terminal_id = ?').get(terminalId) as
    | { version: string; rollout: number; signed: string }
    | undefined;
  if (!row) return undefined;
  return { version: row.version, rollout: row.rollout, bundle: bundlePath(row.version), signed: JSON.parse(row.signed) as SignedManifest };
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

function invalid(field: string, rule: string, message: string): InvalidInputError {
  return new InvalidInputError([{ field, rule, message: `${field}: ${message}` }]);
}

export class ReleaseStore {
  constructor(
    private readonly db: Db,
    private readonly dir: string,
    private readonly publicKey: KeyObject | undefined,
    readonly maxBytes: number,
  ) {}

  get enabled(): boolean {
    return this.publicKey !== undefined;
  }

  /**
   * Adds an uploaded release after checking its signature, size and hash. The same release again is
   * accepted as is; another bundle under a version that exists is refused (a version names one bundle).
   */
  add(signedInput: unknown, bundle: Buffer, by: string, now: Date): ReleaseInfo {
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
    const existing = this.get(m.version);
    if (existing) {
      if (existing.sha256 === m.sha256) return existing;
      throw conflict({ field: 'version', rule: 'unique', message: `version: ${m.version} was uploaded already with another bundle; give the new build a new version` });
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `ciao-badge-${m.version}.tar.gz`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, bundle, { mode: 0o600 });
    renameSync(tmp, file);
    this.db.prepare('INSERT INTO releases (version, sha256, size, signed, key_id, file, uploaded_at, uploaded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      m.version, m.sha256, m.size, JSON.stringify(signed), signed.keyId, file, now.toISOString(), by,
    );
    return this.get(m.version)!;
  }

  get(version: string): ReleaseInfo | undefined {
    const row = this.db.prepare('SELECT * FROM releases WHERE version = ?').get(version) as ReleaseRow | undefined;
    return row ? toInfo(row) : undefined;
  }

  /** The bundle's file, for the download route. */
  file(version: string): { path: string; size: number } | undefined {
    const row = this.db.prepare('SELECT file, size FROM releases WHERE version = ?').get(version) as { file: string; size: number } | undefined;
    return row ? { path: row.file, size: row.size } : undefined;
  }

  list(): Array<ReleaseInfo & { offeredTo: number; running: number }> {
    const rows = this.db.prepare('SELECT * FROM releases ORDER BY uploaded_at DESC, version DESC').all() as ReleaseRow[];
    const offered = this.db.prepare('SELECT COUNT(*) AS n FROM release_targets WHERE version = ?');
    const running = this.db.prepare('SELECT COUNT(*) AS n FROM terminal_status WHERE version = ?');
    return rows.map((r) => ({ ...toInfo(r), offeredTo: (offered.get(r.version) as { n: number }).n, running: (running.get(r.version) as { n: number }).n }));
  }

  /**
   * Offers `version` to the given terminals (or every enabled terminal), as one rollout: their configs are
   * republished with the offer, and each terminal updates on its own.
   */
  rollout(version: string, who: { terminals: string[] } | { all: true }, by: string, now: Date): { rollout: number; version: string; terminals: string[] } {
    const v = releaseVersionSchema.safeParse(version);
    if (!v.success || !this.get(version)) throw notFound('version', `version: no release ${version} was uploaded`);
    let ids: string[];
    if ('all' in who) {
      ids = (this.db.prepare('SELECT id FROM terminals WHERE disabled = 0 ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
    } else {
      if (who.terminals.length === 0) throw invalid('terminals', 'required', 'name at least one terminal, or roll out to all');
      const known = new Set((this.db.prepare('SELECT id FROM terminals').all() as Array<{ id: string }>).map((r) => r.id));
      const unknown = who.terminals.filter((t) => !known.has(t));
      if (unknown.length) throw invalid('terminals', 'exists', `no terminal ${unknown.join(', ')}`);
      ids = [...new Set(who.terminals)];
    }
    return this.db.transaction(() => {
      const rollout = Number(this.db.prepare('INSERT INTO release_rollouts (version, created_at, created_by) VALUES (?, ?, ?)').run(version, now.toISOString(), by).lastInsertRowid);
      const upsert = this.db.prepare(
        `INSERT INTO release_targets (terminal_id, version, rollout, assigned_at, assigned_by) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (terminal_id) DO UPDATE SET version = excluded.version, rollout = excluded.rollout, assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by`,
      );
      for (const id of ids) upsert.run(id, version, rollout, now.toISOString(), by);
      return { rollout, version, terminals: ids };
    }).immediate();
  }

  /** Withdraws the offers (terminals keep the version they run). */
  stopRollout(who: { terminals: string[] } | { all: true }): number {
    if ('all' in who) return this.db.prepare('DELETE FROM release_targets').run().changes;
    const del = this.db.prepare('DELETE FROM release_targets WHERE terminal_id = ?');
    return this.db.transaction(() => who.terminals.reduce((n, id) => n + del.run(id).changes, 0))();
  }

  offerFor(terminalId: string): UpdateOffer | undefined {
    return updateOfferFor(this.db, terminalId);
  }

  /** A terminal's status carried an update report: kept (the newest only), written only when it changed. */
  noteReport(terminalId: string, report: UpdateReport, now: Date): boolean {
    const before = this.db.prepare('SELECT version, rollout, state, reason FROM terminal_update_reports WHERE terminal_id = ?').get(terminalId) as
      | { version: string; rollout: number | null; state: string; reason: string | null }
      | undefined;
    if (before && before.version === report.version && before.rollout === (report.rollout ?? null) && before.state === report.state && before.reason === (report.reason ?? null)) return false;
    this.db.prepare(
      `INSERT INTO terminal_update_reports (terminal_id, version, rollout, state, reason, reported_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET version = excluded.version, rollout = excluded.rollout, state = excluded.state, reason = excluded.reason, reported_at = excluded.reported_at`,
    ).run(terminalId, report.version, report.rollout ?? null, report.state, report.reason ?? null, now.toISOString());
    return true;
  }

  /** Every terminal with the version it runs, the release it is offered, and its last update report. */
  fleet(): FleetTerminal[] {
    const rows = this.db.prepare(
      `SELECT t.id, t.site_id, t.disabled, s.state, s.version AS running,
              rt.version AS target_version, rt.rollout AS target_rollout, rt.assigned_at, rt.assigned_by,
              u.version AS update_version, u.rollout AS update_rollout, u.state AS update_state, u.reason AS update_reason, u.reported_at,
              (SELECT c.serial FROM terminal_certificates c WHERE c.terminal_id = t.id AND c.revoked_at IS NULL ORDER BY c.issued_at DESC LIMIT 1) AS cert_serial,
              (SELECT c.not_after FROM terminal_certificates c WHERE c.terminal_id = t.id AND c.revoked_at IS NULL ORDER BY c.issued_at DESC LIMIT 1) AS cert_not_after
       FROM terminals t
       LEFT JOIN terminal_status s ON s.terminal_id = t.id
       LEFT JOIN release_targets rt ON rt.terminal_id = t.id
       LEFT JOIN terminal_update_reports u ON u.terminal_id = t.id
       ORDER BY t.id`,
    ).all() as Array<{
      id: string; site_id: string | null; disabled: number; state: 'online' | 'offline' | null; running: string | null;
      target_version: string | null; target_rollout: number | null; assigned_at: string | null; assigned_by: string | null;
      update_version: string | null; update_rollout: number | null; update_state: string | null; update_reason: string | null; reported_at: string | null;
      cert_serial: string | null; cert_not_after: string | null;
    }>;
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
