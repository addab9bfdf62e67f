#!/usr/bin/env node
// `npm run build`: compiles the TypeScript sources to plain JavaScript in dist/ (or --out-dir DIR), so a release
// starts without the tsx loader. Files the code reads or starts at run time next to itself (worker entries,
// the dashboard's static files, scenario days) are copied beside the compiled modules, at the same relative
// paths. Benchmarks and tests are not part of a release: they run from the sources.
//
// Then the compiled modules are bundled (esbuild) into dist/bundle/: the `ciao` command with what it imports,
// its commands' parts in chunks loaded when a command needs them, and the entries of the commit writer thread
// and of the forwarder thread. A process then reads and links a few files instead of some hundreds (a gateway
// loaded its modules in about 280 ms from dist/, 130 ms from the bundle, on the 2-core reference machine).
// bin/ciao.mjs and the threads' entries run the bundle when it is there; dist/ keeps every compiled module
// beside it, which is what the bundle's modules name as their own location (see placeOfOrigin below) and
// what the console serves.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

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

/**
 * Packages left out of the bundle, loaded from node_modules as they are: native addons (and the packages
 * that load them), packages that find their own files from `__dirname` (pino's transport workers,
 * @fastify/swagger's package.json, ioredis's, qlobber's worker), which inside a bundle would name the
 * bundle's folder, and packages a start does not run.
 */
const EXTERNAL = [
  'better-sqlite3', 'nfc-pcsc', '@pokusew/pcsclite', 'serialport', '@serialport/*', 'johnny-five',
  'pino', 'thread-stream', '@fastify/swagger', 'ioredis', 'qlobber',
  // Fastify's schema compilers (Ajv, fast-json-stringify) run at a route's first request, not at start
  // (gateway/http-server.ts): in the bundle, where every module is parsed when its chunk loads, they would
  // cost each start the parsing of about a megabyte.
  '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'ajv', 'ajv-formats', 'fast-json-stringify',
];
const bundleDir = join(outDir, 'bundle');

/**
 * A module's `import.meta.url` (and `import.meta.dirname`) stay its own file's in dist/, not the bundle's: the
 * code finds the files beside it that way (worker entries, the dashboard, the console's modules). The path
 * is written relative to dist/bundle/, so the release works wherever it is installed. A package that did the
 * same would need its own folder, which is not in dist/: the build refuses it, naming it.
 */
const placeOfOrigin = {
  name: 'place-of-origin',
  setup(b) {
    // `ciao bench` imports the benchmarks, which a release does not have (bin/ciao.mjs says so before).
    b.onResolve({ filter: /\/(bench|test)\// }, ({ path }) => ({ path, external: true }));
    b.onLoad({ filter: /\.m?js$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8');
      if (!/import\.meta\.(url|dirname|filename)/.test(source)) return undefined;
      if (!path.startsWith(outDir + sep)) {
        return { errors: [{ text: `${relative(root, path)} uses import.meta: add its package to EXTERNAL in scripts/build.mjs` }] };
      }
      const own = JSON.stringify(relative(bundleDir, path).split(sep).join('/'));
      const folder = JSON.stringify(relative(bundleDir, dirname(path)).split(sep).join('/'));
      const contents = source
        .replace(/import\.meta\.url/g, `new URL(${own}, import.meta.url).href`)
        .replace(/import\.meta\.dirname/g, `__ciaoFileURLToPath(new URL(${folder}, import.meta.url))`)
        .replace(/import\.meta\.filename/g, `__ciaoFileURLToPath(new URL(${own}, import.meta.url))`);
      return { contents, loader: 'js' };
    });
  },
};

const bundled = await build({
  // `ciao gateway` and `ciao terminal` load their run modules as files of these names (the rest of each
  // command's parts are chunks named by esbuild).
  entryPoints: {
    cli: join(outDir, 'bin/cli.js'),
    'writer-thread-main': join(outDir, 'gateway/ingest/writer-thread-main.js'),
    'forwarder-thread-main': join(outDir, 'gateway/forward/forwarder-thread-main.js'),
    'gateway-run': join(outDir, 'gateway/run.js'),
    'terminal-run': join(outDir, 'terminal/run.js'),
  },
  outdir: bundleDir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // The packages are the checkout's, wherever the release is built (--out-dir).
  nodePaths: [join(root, 'node_modules')],
  // CommonJS packages in an ES module bundle call require() for Node's modules and the external packages.
  banner: { js: "import { createRequire as __ciaoCreateRequire } from 'node:module'; import { fileURLToPath as __ciaoFileURLToPath } from 'node:url'; const require = __ciaoCreateRequire(import.meta.url);" },
  plugins: [placeOfOrigin],
  logLevel: 'warning',
  metafile: true,
});
// A bundled package that finds its files from __dirname would look in dist/bundle/: it must be in EXTERNAL.
// (Read in the output, each module there after a comment naming it; lines of comments are skipped.)
const dirnameUsers = new Set();
for (const output of Object.keys(bundled.metafile.outputs)) {
  let module = '?';
  for (const line of readFileSync(resolve(output), 'utf8').split('\n')) {
    const named = /^\/\/ (\S+)$/.exec(line);
    if (named) module = named[1];
    else if (!/^\s*(\*|\/\/|\/\*)/.test(line) && /\b__(dirname|filename)\b/.test(line)) dirnameUsers.add(module);
  }
}
if (dirnameUsers.size > 0) {
  process.stderr.write(`build: these bundled modules use __dirname or __filename (add their packages to EXTERNAL):\n  ${[...dirnameUsers].join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`build: bundled into ${relative(process.cwd(), bundleDir) || '.'} (${Object.keys(bundled.metafile.outputs).length} files)\n`);
