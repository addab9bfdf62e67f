import { existsSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { extractBundle, readPackageJson } from '../../shared/release/bundle.ts';
import type { ReleaseManifest } from '../../shared/release/manifest.ts';
import type { ReleaseState } from './release-state.ts';

/**
 * Installs a verified bundle beside the running version: unpacked into a folder of its own under the
 * releases folder (never over what runs), checked to be the signed version, its dependencies checked
 * against the package installed on the box (a release carries code only; it shares the package's
 * node_modules through a link), then moved into place under its version's name in one rename.
 */
class InstallError extends Error {
  override readonly name = 'InstallError';
}

export async function installRelease(o: { bundle: string; manifest: ReleaseManifest; state: ReleaseState; baseDir: string }): Promise<string> {
  const version = o.manifest.version;
  const staging = join(o.state.dir, `.install-${version}`);
  try {
    const pkg = await extractBundle(o.bundle, staging);
    if (pkg.version !== version) throw new InstallError(`the bundle's package.json says ${pkg.version}, its signed manifest ${version}`);
    const base = readPackageJson(o.baseDir, 'base');
    const differ = Object.entries(pkg.dependencies).filter(([name, range]) => base.dependencies[name] !== range || !existsSync(join(o.baseDir, 'node_modules', name)));
    if (differ.length) {
      throw new InstallError(`release ${version} needs other dependencies than the installed package (${differ.slice(0, 3).map(([n, r]) => `${n}@${r}`).join(', ')}): install it as a package instead`);
    }
    symlinkSync(join(o.baseDir, 'node_modules'), join(staging, 'node_modules'), 'dir');
    const target = o.state.versionDir(version);
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
    return target;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}
