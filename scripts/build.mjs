#!/usr/bin/env node
// `npm run build`: compiles the TypeScript sources to plain JavaScript in dist/ (or --out-dir DIR), so a release
// starts without the tsx loader. Files the code reads or starts at run time next to itself (worker entries,
// the dashboard's static files, scenario days) are copied beside the compiled modules, at the same relative
// paths. Benchmarks and tests are not part of a release: they run from the sources.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } } });
const outDir = resolve(values['out-dir'] ?? join(root, 'dist'));

/** The folders a release is made of (what tsconfig.build.json includes). */
const SOURCE_ROOTS = ['bin', 'shared', 'gateway', 'terminal', 'simulator'];
/** Compiled because something imports them, but not shipped: they need the sources to run. */
const NOT_SHIPPED = ['bench', 'test'];
/** The launcher stays outside dist/: it is what picks the compiled code or the loader. */
const LAUNCHER = join(root, 'bin', 'ciao.mjs');

rmSync(outDir, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write(`build: the TypeScript compiler failed (exit ${tsc.status ?? tsc.signal})\n`);
  process.exit(1);
}
for (const folder of NOT_SHIPPED) rmSync(join(outDir, folder), { recursive: true, force: true });

let assets = 0;
function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (!name.endsWith('.ts') && path !== LAUNCHER) {
      cpSync(path, join(outDir, relative(root, path)));
      assets += 1;
    }
  }
}
for (const folder of SOURCE_ROOTS) if (existsSync(join(root, folder))) copyAssets(join(root, folder));
process.stdout.write(`build: compiled to ${relative(process.cwd(), outDir) || '.'} (${assets} files copied beside the modules)\n`);
