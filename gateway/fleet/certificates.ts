import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import type { IssuedCertificate } from './terminal-ca.ts';

/**
 * The record of every terminal certificate the CA issued: the broker accepts a certificate only when its
 * serial is recorded here for the same terminal and is not revoked, so a certificate issued and never
 * recorded (a pairing that failed half-way) is worth nothing, and a revocation takes effect at the next
 * handshake without any list to distribute. Read and written through the storage port (docs/cluster.md,
 * "The storage port").
 */
export type IssuedFor = 'pairing' | 'renewal' | 'operator';

export interface CertificateRecord {
  serial: string;
  terminalId: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  issuedFor: IssuedFor;
  revokedAt: string | null;
  revokedReason: string | null;
}

interface Row {
  serial: string;
  terminal_id: string;
  fingerprint: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  issued_for: IssuedFor;
  revoked_at: string | null;
  revoked_reason: string | null;
}

const toRecord = (r: Row): CertificateRecord => ({
  serial: r.serial, terminalId: r.terminal_id, fingerprint: r.fingerprint, notBefore: r.not_before, notAfter: r.not_after,
  issuedAt: r.issued_at, issuedFor: r.issued_for, revokedAt: r.revoked_at, revokedReason: r.revoked_reason,
});

/** Serials are compared upper-case without leading zeros, however a tool printed them. */
export function normalizeSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+(?=.)/, '');
}

/** Through the storage port: in the pairing's transaction (the code spent), or alone for a renewal. */
export async function recordCertificate(store: SqlStore, terminalId: string, cert: IssuedCertificate, issuedFor: IssuedFor, now: Date): Promise<void> {
  await store.run(
    `INSERT INTO terminal_certificates (serial, terminal_id, fingerprint, not_before, not_after, issued_at, issued_for)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [normalizeSerial(cert.serial), terminalId, cert.fingerprint, cert.notBefore, cert.notAfter, now.toISOString(), issuedFor],
  );
}

async function certificateBySerial(store: SqlStore, serial: string): Promise<CertificateRecord | undefined> {
  const row = await store.one<Row>('SELECT * FROM terminal_certificates WHERE serial = $1', [normalizeSerial(serial)]);
  return row ? toRecord(row) : undefined;
}

/** A terminal's certificates, oldest first (same instant: by serial, by code point). */
export async function certificatesOf(store: SqlStore, terminalId: string): Promise<CertificateRecord[]> {
  const rows = await store.all<Row>('SELECT * FROM terminal_certificates WHERE terminal_id = $1', [terminalId]);
  return rows.sort((a, b) => byCodePoint(a.issued_at, b.issued_at) || byCodePoint(a.serial, b.serial)).map(toRecord);
}

/** Revokes every live certificate of a terminal (a new pairing, or an operator's decision). */
export async function revokeCertificates(store: SqlStore, terminalId: string, reason: string, now: Date, exceptSerial?: string): Promise<number> {
  const r = await store.run('UPDATE terminal_certificates SET revoked_at = $1, revoked_reason = $2 WHERE terminal_id = $3 AND revoked_at IS NULL AND serial <> $4', [
    now.toISOString(), reason, terminalId, exceptSerial ? normalizeSerial(exceptSerial) : '',
  ]);
  return r.changes;
}

/**
 * A terminal logged in with a renewed certificate: the ones issued before it are retired, so at most one
 * certificate per terminal stays usable once the terminal has moved on.
 */
export async function retireOlderCertificates(store: SqlStore, terminalId: string, serial: string, now: Date): Promise<number> {
  const current = await certificateBySerial(store, serial);
  if (!current) return 0;
  const r = await store.run(
    `UPDATE terminal_certificates SET revoked_at = $1, revoked_reason = 'superseded'
     WHERE terminal_id = $2 AND revoked_at IS NULL AND serial <> $3 AND (issued_at < $4 OR (issued_at = $4 AND serial < $3))`,
    [now.toISOString(), terminalId, current.serial, current.issuedAt],
  );
  return r.changes;
}

export type CertificateVerdict =
  | { ok: true; record: CertificateRecord }
  | { ok: false; reason: 'certificate-unknown' | 'certificate-revoked' | 'certificate-id-mismatch' | 'certificate-expired'; detail: string };

/** Is this certificate (already verified against the CA by TLS) still good for this terminal id? */
export async function judgeCertificate(store: SqlStore, terminalId: string, serial: string, now: Date): Promise<CertificateVerdict> {
  const record = await certificateBySerial(store, serial);
  if (!record) return { ok: false, reason: 'certificate-unknown', detail: `serial ${serial} was never issued by this gateway` };
  if (record.terminalId !== terminalId) return { ok: false, reason: 'certificate-id-mismatch', detail: `serial ${serial} belongs to ${record.terminalId}` };
  if (record.revokedAt) return { ok: false, reason: 'certificate-revoked', detail: `revoked ${record.revokedAt} (${record.revokedReason ?? 'no reason'})` };
  if (record.notAfter <= now.toISOString()) return { ok: false, reason: 'certificate-expired', detail: `expired ${record.notAfter}` };
  return { ok: true, record };
}
