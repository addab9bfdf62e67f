import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { enterpriseCheckDigits, nationalCheckDigits } from '../../shared/identifiers/index.ts';
import type { Db } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';

export async function rsaKeyPair(): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { publicKeyPem: await exportSPKI(publicKey), privateKeyPem: await exportPKCS8(privateKey) };
}

export function tempDir(prefix = 'ciao-onss-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A valid NISS (1900s births) from a running number. */
export function validNiss(n: number): string {
  const yy = 50 + (n % 40);
  const mm = 1 + (Math.floor(n / 40) % 12);
  const dd = 1 + (Math.floor(n / 480) % 28);
  const sss = 1 + (Math.floor(n / 13440) % 997);
  const first9 = `${String(yy).padStart(2, '0')}${String(mm).padStart(2, '0')}${String(dd).padStart(2, '0')}${String(sss).padStart(3, '0')}`;
  return first9 + nationalCheckDigits(first9, 1900);
}

export function validEnterpriseNumber(n: number): string {
  const first8 = `0${String(4000000 + (n % 5000000)).padStart(7, '0')}`;
  return first8 + enterpriseCheckDigits(first8);
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
export function validDeclaration(n: number): string {
  let s = '';
  let x = n + 7919;
  for (let i = 0; i < 13; i++) {
    s += ALPHABET[(x + i * 31) % ALPHABET.length];
    x = Math.floor(x / 3) + 17 * i;
  }
  return s;
}

/** The gateway database as the gateway opens it: registrations are rows of their taps, `registrations` a view. */
export function openGatewayDb(path: string): Db {
  return openGatewayDatabase(path);
}

export interface SeedOptions {
  count: number;
  start?: number;
  /** Instant of the registrations; default: a minute ago. */
  atUtc?: string;
  declaration?: string;
  enterpriseNumber?: string;
  mutate?: (row: Record<string, unknown>, i: number) => void;
}

/** Appends valid registrations the way gateway ingest does (one transaction), returning their tap ids. */
export function seedRegistrations(db: Db, o: SeedOptions): string[] {
  const insert = db.prepare(`INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id,
    capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
    VALUES (@tap_id, @terminal_id, @site_id, @worker_id, @type, @reason, @at, @at_utc, @ssin, @limosa_id, @capacity, @employer_kind,
    @employer_id, @declaration, @place_of_work, @received_at)`);
  const taps: string[] = [];
  const base = Date.now() - 60_000;
  const place = JSON.stringify({ address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue de la Loi', houseNumber: '16' } });
  db.transaction(() => {
    for (let k = 0; k < o.count; k++) {
      const i = (o.start ?? 0) + k;
      const at = o.atUtc ?? `${new Date(base - (i % 3600) * 1000).toISOString().slice(0, 19)}Z`;
      const row: Record<string, unknown> = {
        tap_id: randomUUID(), terminal_id: 'T1', site_id: 'S1', worker_id: `W${i}`, type: i % 2 === 0 ? 'IN' : 'OUT', reason: 'work',
        at: at.replace('Z', '+00:00'), at_utc: at, ssin: validNiss(i), limosa_id: null, capacity: 'employee', employer_kind: 'enterprise',
        employer_id: o.enterpriseNumber ?? validEnterpriseNumber(i % 50), declaration: o.declaration ?? validDeclaration(i % 20),
        place_of_work: place, received_at: new Date().toISOString(),
      };
      o.mutate?.(row, i);
      insert.run(row);
      taps.push(row.tap_id as string);
    }
  })();
  return taps;
}

export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function writeJson(path: string, value: unknown): string {
  writeFileSync(path, JSON.stringify(value));
  return path;
}
