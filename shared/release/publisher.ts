import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import * as tar from 'tar';
import { InvalidInputError } from '../problems.ts';
import { hashFile, readBundlePackage } from './bundle.ts';
import { RELEASE_PRODUCT, readReleasePrivateKey, releaseVersionSchema, signManifest, type SignedManifest } from './manifest.ts';

/**
 * The publisher's side of a release (`ciao release keygen | pack | sign`), done on a build machine that holds
 * the signing key, never on the gateway: make a key pair once, pack each compiled release into a bundle,
 * sign its manifest. The gateway and the terminals get the public key only.
 */
function problem(field: string, rule: string, message: string): InvalidInputError {
  return new InvalidInputError([{ field, rule, message: `${field}: ${message}` }]);
}

/** Writes `<name>.key` (PKCS#8, mode 0600) and `<name>.pub` (SPKI) in `dir`; never replaces existing files. */
export function generateReleaseKeys(dir: string, name = 'release-signing'): { privateKey: string; publicKey: string } {
  const privatePath = resolve(dir, `${name}.key`);
  const publicPath = resolve(dir, `${name}.pub`);
  for (const p of [privatePath, publicPath]) if (existsSync(p)) throw problem('out', 'exists', `${p} exists already; a signing key is made once (keep it offline)`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  return { privateKey: privatePath, publicKey: publicPath };
}

/**
 * Packs the compiled release in `from` (a checkout after `npm run build`, or an installed package) into a
 * bundle. `version` stamps another version into the bundle's package.json (a build of the same code
 * released under its own number); by default the package's own version.
 */
export async function packRelease(o: { from: string; out: string; version?: string }): Promise<{ file: string; version: string }> {
  const from = resolve(o.from);
  for (const needed of ['package.json', 'bin/ciao.mjs', 'dist/bin/cli.js']) {
    if (!existsSync(join(from, needed))) throw problem('from', 'compiled-release', `${from} has no ${needed}: run npm run build there first`);
  }
  const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { version?: string };
  const version = o.version ?? pkg.version ?? '';
  const v = releaseVersionSchema.safeParse(version);
  if (!v.success) throw problem('version', 'format', `${JSON.stringify(version)} must be a version like 1.4.2 or 1.5.0-rc.1`);
  const stage = mkdtempSync(join(tmpdir(), 'ciao-release-pack-'));
  try {
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
    mkdirSync(join(stage, 'bin'));
    cpSync(join(from, 'bin/ciao.mjs'), join(stage, 'bin/ciao.mjs'));
    cpSync(join(from, 'dist'), join(stage, 'dist'), { recursive: true });
    const out = resolve(o.out);
    mkdirSync(dirname(out), { recursive: true });
    await tar.c({ gzip: true, file: out, cwd: stage, portable: true }, ['package.json', 'bin', 'dist']);
    return { file: out, version };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Signs a bundle: its version (from inside it), SHA-256 and size, with the publisher's private key. */
export async function signBundle(o: { bundle: string; key: string; out?: string; now?: Date }): Promise<{ file: string; signed: SignedManifest }> {
  let keyPem: Buffer;
  try {
    keyPem = readFileSync(o.key);
  } catch (err) {
    throw problem('key', 'readable-file', `cannot read ${o.key} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const privateKey = readReleasePrivateKey(keyPem, 'key');
  const { version } = await readBundlePackage(o.bundle);
  const { sha256, size } = await hashFile(o.bundle);
  const signed = signManifest({ v: 1, product: RELEASE_PRODUCT, version, sha256, size, createdAt: (o.now ?? new Date()).toISOString() }, privateKey);
  const file = resolve(o.out ?? join(dirname(o.bundle), `${basename(o.bundle)}.sig.json`));
  writeFileSync(file, `${JSON.stringify(signed, null, 2)}\n`);
  return { file, signed };
}
