import { createHash, randomInt } from 'node:crypto';
import type { SqlStore } from '../store/sql-store.ts';
import { CiaoError } from '../../shared/errors.ts';
import { generateSecret, hashSecret } from './secrets.ts';

/**
 * One-time pairing codes: "Add terminal" in the console makes one; `ciao terminal pair CODE --gateway URL`
 * on the device spends it over HTTPS to get the terminal's identity. A code is short-lived, single use and
 * stored only as a SHA-256 hash (it has 75 random bits and dies within minutes, so a fast hash is enough).
 *
 * What the device types or scans is the *pairing string* `CODE.FINGERPRINT`: the code and the SHA-256 of the
 * CA certificate that the gateway's HTTPS listener presents, so the device trusts the gateway on first
 * contact without any file copied beforehand (kubeadm's discovery-token-ca-cert-hash does the same).
 */
const DEFAULT_PAIRING_TTL_MS = 10 * 60_000;

/** Crockford's base32 without I, L, O, U: unambiguous when read off a screen. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function generatePairingCode(): string {
  const chars = Array.from({ length: 15 }, () => ALPHABET[randomInt(ALPHABET.length)]!);
  return `${chars.slice(0, 5).join('')}-${chars.slice(5, 10).join('')}-${chars.slice(10).join('')}`;
}

/** Upper-cases and maps look-alikes (O->0, I/L->1) so a code read aloud or typed still matches. */
function normalizePairingCode(code: string): string {
  return code.trim().toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1').replace(/[^0-9A-Z]/g, '');
}

function hashCode(code: string): string {
  return createHash('sha256').update(normalizePairingCode(code), 'utf8').digest('hex');
}

export interface PairingCode {
  code: string;
  terminalId: string;
  expiresAt: string;
}

/** Makes a code for a terminal (in the caller's transaction, with its audit entry). */
export async function createPairingCode(store: SqlStore, terminalId: string, createdBy: string, now = new Date(), ttlMs = DEFAULT_PAIRING_TTL_MS): Promise<PairingCode> {
  const code = generatePairingCode();
  const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
  // A new code replaces the terminal's unused ones: only the code on the screen works.
  await store.run('DELETE FROM terminal_pairings WHERE terminal_id = $1 AND used_at IS NULL', [terminalId]);
  await store.run('INSERT INTO terminal_pairings (code_hash, terminal_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
    hashCode(code), terminalId, createdBy, now.toISOString(), expiresAt,
  ]);
  return { code, terminalId, expiresAt };
}

/**
 * What a paired terminal receives: its identity. A secret, or (when the terminal sent a certificate signing
 * request and the gateway has MQTT over TLS) a client certificate signed by the gateway's terminal CA.
 */
export type PairingCredentials = { kind: 'secret'; secret: string } | { kind: 'certificate'; certificate: string };

/** Unknown, used, expired and disabled are one answer to the caller (`because` is for the log only). */
function refused(because: string): CiaoError & { because: string } {
  const err = new CiaoError('ERR_CIAO_UNAUTHENTICATED', [{ field: 'code', rule: 'valid-code', message: 'code: unknown, expired or already used; make a new one in the console (Terminals, Add terminal)' }]);
  return Object.assign(err, { because });
}

/** The terminal a code is for, if it may be spent now; refused like a claim otherwise. Spends nothing. */
export async function pairingCodeTerminal(store: SqlStore, code: string, now = new Date()): Promise<string> {
  const row = await store.one<{ terminal_id: string; expires_at: string; used_at: string | null }>('SELECT terminal_id, expires_at, used_at FROM terminal_pairings WHERE code_hash = $1', [hashCode(code)]);
  if (!row) throw refused('unknown');
  if (row.used_at) throw refused('used');
  if (row.expires_at <= now.toISOString()) throw refused('expired');
  const t = await store.one<{ disabled: number }>('SELECT disabled FROM terminals WHERE id = $1', [row.terminal_id]);
  if (!t || t.disabled) throw refused('terminal disabled');
  return row.terminal_id;
}

/**
 * Spends a code, in the caller's transaction (`tx`): answers the terminal id and a fresh secret (the old
 * one, if any, stops working). Unknown, expired and used codes are refused alike to the caller (the log
 * tells them apart, from `because`). `credentials`, when given, makes the identity instead of a secret
 * through the same `tx` (a certificate recorded there exists only if the code was spent).
 */
export async function claimPairingCode(tx: SqlStore, code: string, from: string, now = new Date(), credentials?: (tx: SqlStore, terminalId: string) => Promise<PairingCredentials>): Promise<{ terminalId: string; credentials: PairingCredentials }> {
  const terminalId = await pairingCodeTerminal(tx, code, now);
  await tx.run('UPDATE terminal_pairings SET used_at = $1, used_from = $2 WHERE code_hash = $3', [now.toISOString(), from.slice(0, 100), hashCode(code)]);
  if (credentials) return { terminalId, credentials: await credentials(tx, terminalId) };
  const secret = generateSecret();
  await tx.run('UPDATE terminals SET secret_hash = $1, secret_rotated_at = $2 WHERE id = $3', [hashSecret(secret), now.toISOString(), terminalId]);
  return { terminalId, credentials: { kind: 'secret' as const, secret } };
}

/** The SHA-256 fingerprint of a certificate (DER), as lowercase hex: what the pairing string carries. */
export function certificateFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}
