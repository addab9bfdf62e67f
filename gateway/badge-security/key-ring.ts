import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { problemsFromZod } from '../../shared/schema.ts';
import { aesCmac } from './cmac.ts';
import type { BadgeMasterKeys } from './diversify.ts';

/**
 * The master keys every secure badge's keys are derived from, in numbered versions: the badge record says
 * which version personalised it, new badges get the current one, and taps of badges still on an older
 * version keep verifying as long as that version stays in the ring. The ring lives outside the database: in
 * a JSON file private to the gateway's user (mode 0600, refused otherwise), or in the environment.
 *
 *   {"current": 2, "versions": {"1": {"application": "<32 hex>", "sdmMetaRead": "<32 hex>", "sdmFileRead": "<32 hex>"},
 *                               "2": {...}}}
 */
const KEY_FILE_ENV = 'CIAO_GATEWAY_BADGE_KEYS';
const KEY_FILE_PATH_ENV = 'CIAO_GATEWAY_BADGE_KEY_FILE';

export interface BadgeKeyRing {
  /** The version new badges are personalised with. */
  current: number;
  versions: ReadonlyMap<number, BadgeMasterKeys>;
}

export const EMPTY_KEY_RING: BadgeKeyRing = { current: 0, versions: new Map() };

const key = z
  .string()
  .regex(/^[0-9A-Fa-f]{32}$/, 'must be a 16-byte AES key in hex (32 hex digits)')
  .refine((s) => !/^0+$/.test(s), { message: 'must not be all zero (that is the factory key of a blank badge)', params: { rule: 'not-factory-key' } });

const versionKeys = z.strictObject({ application: key, sdmMetaRead: key, sdmFileRead: key });

const keyFileSchema = z
  .strictObject({
    current: z.number().int('must be a whole number').min(1, 'must be 1 to 255').max(255, 'must be 1 to 255'),
    versions: z.record(z.string(), versionKeys),
  })
  .superRefine((f, ctx) => {
    for (const v of Object.keys(f.versions)) {
      // A version is the byte stored with each key on the badge (ChangeKey's KeyVer): 1 to 255, 0 being the factory's.
      if (!/^(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-5])$/.test(v)) ctx.addIssue({ code: 'custom', path: ['versions', v], message: 'must be a key version 1 to 255', params: { rule: 'key-version' } });
    }
    if (!(String(f.current) in f.versions)) ctx.addIssue({ code: 'custom', path: ['current'], message: `version ${f.current} is not in versions`, params: { rule: 'exists' } });
  });

export type KeyFile = z.input<typeof keyFileSchema>;

/** Parses the key file's content; every problem names its field (`versions.2.sdmFileRead`) and rule. */
export function parseKeyRing(input: unknown, where: string): BadgeKeyRing {
  const r = keyFileSchema.safeParse(input);
  if (!r.success) throw new InvalidInputError(problemsFromZod(r.error, input).map((p) => ({ ...p, message: `${where}: ${p.message}` })));
  const versions = new Map<number, BadgeMasterKeys>();
  for (const [v, k] of Object.entries(r.data.versions)) {
    versions.set(Number(v), { application: Buffer.from(k.application, 'hex'), sdmMetaRead: Buffer.from(k.sdmMetaRead, 'hex'), sdmFileRead: Buffer.from(k.sdmFileRead, 'hex') });
  }
  return { current: r.data.current, versions };
}

function problem(field: string, rule: string, message: string): InvalidInputError {
  return new InvalidInputError([{ field, rule, message: `${field}: ${message}` } satisfies FieldProblem]);
}

/**
 * Reads a key file, refusing one that the group or others may read or write: the keys sign every tap of
 * every badge. `field` names where the path came from (the config field, or a command-line option).
 */
export function readKeyFile(path: string, field: string): BadgeKeyRing {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw problem(field, 'readable-file', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let text: string;
  try {
    // The mode of the file actually opened, not of whatever the path names a moment later.
    const mode = fstatSync(fd).mode & 0o777;
    if (mode & 0o077) throw problem(field, 'private-file', `${path} is open to its group or others (mode ${mode.toString(8).padStart(4, '0')}): it holds the badge master keys, make it 0600 (chmod 600 ${path})`);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw problem(field, 'json', `${path} is not valid JSON (${(err as Error).message})`);
  }
  return parseKeyRing(json, path);
}

/**
 * The ring the gateway and `ciao admin` use: the content of CIAO_GATEWAY_BADGE_KEYS if set, else the file
 * `file` (from the config, or an option), else the file CIAO_GATEWAY_BADGE_KEY_FILE names, else none
 * (empty: secure badges cannot be verified, and their taps are held).
 */
export function loadKeyRing(o: { file?: string; field?: string; env?: NodeJS.ProcessEnv }): BadgeKeyRing {
  const env = o.env ?? process.env;
  const inline = env[KEY_FILE_ENV];
  if (inline !== undefined && inline.trim() !== '') {
    let json: unknown;
    try {
      json = JSON.parse(inline);
    } catch (err) {
      throw problem(KEY_FILE_ENV, 'json', `is not valid JSON (${(err as Error).message})`);
    }
    return parseKeyRing(json, KEY_FILE_ENV);
  }
  if (o.file) return readKeyFile(o.file, o.field ?? 'badgeSecurity.keyFile');
  const fromEnv = env[KEY_FILE_PATH_ENV];
  if (fromEnv) return readKeyFile(fromEnv, KEY_FILE_PATH_ENV);
  return EMPTY_KEY_RING;
}

/** Versions, the current one first, then the others newest first: the order verification tries them in. */
export function versionsByPreference(ring: BadgeKeyRing, preferred?: number | null): number[] {
  const rest = [...ring.versions.keys()].filter((v) => v !== preferred).sort((a, b) => b - a);
  return preferred !== undefined && preferred !== null && ring.versions.has(preferred) ? [preferred, ...rest] : rest;
}

/**
 * A key check value to tell versions apart in listings without showing a key: the first 3 bytes of the
 * AES-CMAC of an empty message (the GlobalPlatform-style KCV for AES).
 */
export function keyCheckValue(k: Buffer): string {
  return aesCmac(k, Buffer.alloc(0)).subarray(0, 3).toString('hex').toUpperCase();
}

/** The ring in the key file's form (hex strings): what is written to the file, or posted to another thread. */
export function keyRingToFile(ring: BadgeKeyRing): KeyFile {
  const versions: Record<string, Record<keyof BadgeMasterKeys, string>> = {};
  for (const [v, k] of [...ring.versions].sort((a, b) => a[0] - b[0])) {
    versions[String(v)] = { application: hex(k.application), sdmMetaRead: hex(k.sdmMetaRead), sdmFileRead: hex(k.sdmFileRead) };
  }
  return { current: ring.current, versions };
}

function serialise(ring: BadgeKeyRing): string {
  return `${JSON.stringify(keyRingToFile(ring), null, 2)}\n`;
}

const hex = (b: Buffer) => b.toString('hex').toUpperCase();

function freshVersion(random: (n: number) => Buffer): BadgeMasterKeys {
  return { application: random(16), sdmMetaRead: random(16), sdmFileRead: random(16) };
}

/**
 * Writes the ring atomically, mode 0600 from the first byte (a temporary file renamed over the old one). A
 * file replaced keeps its owner: root rotating the gateway's key file must not leave it unreadable to the
 * gateway's user.
 */
function writeKeyFile(path: string, ring: BadgeKeyRing): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, serialise(ring), { mode: 0o600, flag: 'wx' });
  try {
    if (existsSync(path)) {
      const { uid, gid } = statSync(path);
      if (uid !== process.getuid?.() || gid !== process.getgid?.()) chownSync(tmp, uid, gid);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Creates a key file with version 1 of fresh random keys; never overwrites one. */
export function createKeyFile(path: string, random: (n: number) => Buffer = randomBytes): BadgeKeyRing {
  if (existsSync(path)) throw problem('file', 'exists', `${path} exists already: a key file is never overwritten (badges personalised with it would no longer verify)`);
  const ring: BadgeKeyRing = { current: 1, versions: new Map([[1, freshVersion(random)]]) };
  writeKeyFile(path, ring);
  return ring;
}

/**
 * Rotation: adds the next version of fresh random keys and makes it current; earlier versions stay, so
 * badges personalised with them keep verifying until they are re-personalised.
 */
export function addKeyVersion(path: string, random: (n: number) => Buffer = randomBytes): BadgeKeyRing {
  const ring = readKeyFile(path, 'file');
  const next = Math.max(...ring.versions.keys()) + 1;
  if (next > 255) throw problem('file', 'max', `${path} already has version 255, the highest a badge can store; remove retired versions first`);
  const versions = new Map(ring.versions);
  versions.set(next, freshVersion(random));
  const rotated: BadgeKeyRing = { current: next, versions };
  writeKeyFile(path, rotated);
  return rotated;
}

/**
 * Removes a version (its keys leaked, or no badge uses it any more): taps of badges still on it are held
 * from then on. The current version cannot be removed.
 */
export function removeKeyVersion(path: string, version: number): BadgeKeyRing {
  const ring = readKeyFile(path, 'file');
  if (!ring.versions.has(version)) throw problem('version', 'exists', `${path} has no version ${version}`);
  if (version === ring.current) throw problem('version', 'not-current', `${version} is the current version: add a new one first (badge keys add-version)`);
  const versions = new Map(ring.versions);
  versions.delete(version);
  const trimmed: BadgeKeyRing = { current: ring.current, versions };
  writeKeyFile(path, trimmed);
  return trimmed;
}
