import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

/**
 * A compiled release of this checkout for the benchmarks that compare it with the loader: `npm run build`
 * (scripts/build.mjs) into a fresh folder laid out as an installed release (bin/ciao.mjs, package.json,
 * dist/, node_modules linked to the checkout's), so its `ciao` can only run the compiled JavaScript.
 */
export interface BuiltRelease {
  dir: string;
  /** bin/ciao.mjs of the release. */
  launcher: string;
  buildSeconds: number;
  remove(): void;
}

export function buildRelease(parent = REPO_ROOT): BuiltRelease {
  const dir = mkdtempSync(join(parent, '.bench-release-'));
  const started = performance.now();
  const build = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), '--out-dir', join(dir, 'dist')], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`npm run build failed: ${build.stderr || build.stdout}`);
  }
  const buildSeconds = (performance.now() - started) / 1000;
  mkdirSync(join(dir, 'bin'));
  cpSync(join(REPO_ROOT, 'bin/ciao.mjs'), join(dir, 'bin/ciao.mjs'));
  cpSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { dir, launcher: join(dir, 'bin/ciao.mjs'), buildSeconds, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** How `ciao` is started for each runtime: the release's launcher, or the checkout's on its sources. */
export type Runtime = 'compiled' | 'loader';

export function ciaoCommand(runtime: Runtime, release: BuiltRelease | undefined): { launcher: string; env: NodeJS.ProcessEnv } {
  if (runtime === 'compiled') {
    if (!release) throw new Error('the compiled runtime needs a built release');
    const env = { ...process.env };
    delete env.CIAO_FROM_SOURCE;
    return { launcher: release.launcher, env };
  }
  return { launcher: join(REPO_ROOT, 'bin/ciao.mjs'), env: { ...process.env, CIAO_FROM_SOURCE: '1' } };
}
