import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { InvalidInputError } from '../problems.ts';
import { RELEASE_VERSION_PATTERN } from './manifest.ts';

/**
 * A release bundle is a gzip'd tar of the compiled release as `npm run build` makes it: `package.json` (its
 * version is the release's), `bin/ciao.mjs` and `dist/`. It carries the product's code only: a terminal
 * installs it beside the running version and takes the npm dependencies from the package installed on the
 * box, so a release that needs other dependencies is refused at install (and installed as a package
 * instead). Only regular files and folders are taken from a bundle: no links, no device files, no paths
 * out of its folder.
 */

export interface BundlePackage {
  name: string;
  version: string;
  dependencies: Record<string, string>;
}

/** SHA-256 (hex) and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** The `package.json` inside a bundle, read without unpacking the rest. */
export async function readBundlePackage(file: string): Promise<BundlePackage> {
  let text: string | undefined;
  await tar.t({
    file,
    filter: (path) => path === 'package.json' || path === './package.json',
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => (text = Buffer.concat(chunks).toString('utf8')));
    },
  });
  if (text === undefined) throw new InvalidInputError([{ field: 'bundle', rule: 'package-json', message: `bundle: ${file} has no package.json at its top (is it a release bundle of ciao release pack?)` }]);
  return parsePackage(text, 'bundle');
}

function parsePackage(text: string, field: string): BundlePackage {
  let pkg: { name?: unknown; version?: unknown; dependencies?: unknown };
  try {
    pkg = JSON.parse(text) as typeof pkg;
  } catch {
    throw new InvalidInputError([{ field, rule: 'package-json', message: `${field}: its package.json is not JSON` }]);
  }
  if (typeof pkg.version !== 'string' || !RELEASE_VERSION_PATTERN.test(pkg.version)) {
    throw new InvalidInputError([{ field, rule: 'version', message: `${field}: its package.json version ${JSON.stringify(pkg.version)} must be a version like 1.4.2` }]);
  }
  return { name: String(pkg.name ?? ''), version: pkg.version, dependencies: (pkg.dependencies ?? {}) as Record<string, string> };
}

export function readPackageJson(dir: string, field = 'release'): BundlePackage {
  return parsePackage(readFileSync(join(dir, 'package.json'), 'utf8'), field);
}

/**
 * Unpacks a bundle into `dest` (emptied first), regular files and folders only, then checks that it is a
 * runnable release: package.json, bin/ciao.mjs and the compiled CLI.
 */
export async function extractBundle(file: string, dest: string): Promise<BundlePackage> {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  const refused: string[] = [];
  await tar.x({
    file,
    cwd: dest,
    strict: true,
    preservePaths: false,
    // Owner and mode bits from the archive are not trusted: files are the terminal user's, never set-id.
    preserveOwner: false,
    dmode: 0o755,
    fmode: 0o644,
    filter: (path, entry) => {
      const type = (entry as { type?: string }).type;
      const ok = type === 'File' || type === 'Directory' || type === 'OldFile' || type === 'ContiguousFile';
      if (!ok) refused.push(`${path} (${type})`);
      return ok;
    },
  });
  if (refused.length) throw new InvalidInputError([{ field: 'bundle', rule: 'regular-files', message: `bundle: holds what a release never holds: ${refused.slice(0, 3).join(', ')}` }]);
  for (const needed of ['package.json', 'bin/ciao.mjs', 'dist/bin/cli.js']) {
    if (!existsSync(join(dest, needed))) throw new InvalidInputError([{ field: 'bundle', rule: 'release-layout', message: `bundle: has no ${needed}; it is not a compiled release (npm run build, then ciao release pack)` }]);
  }
  return readPackageJson(dest, 'bundle');
}
