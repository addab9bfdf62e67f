import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console's files, served as plain ES modules with no build step of our own:
 * - its own modules (gateway/http/console/*.js, *.css, index.html), read once at start;
 * - Preact and htm (`/console/vendor/*.mjs`) straight from their packages, mapped by an import map;
 * - the product's validators (shared/identifiers/*.ts and what they import), with their TypeScript types
 *   stripped by esbuild (already installed as tsx's engine) once at start, or as tsc compiled them in the
 *   release, so the browser checks a NISS, an enterprise number or a declaration number with the very code
 *   the server runs. Nothing is bundled or rewritten beyond the type stripping and the `.ts` -> `.js` of
 *   import paths.
 */
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const require = createRequire(import.meta.url);

export interface Asset {
  type: string;
  body: string;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };

function typeOf(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
}

/** The shared modules the browser may load: the validators and the problem shape they return. */
const SHARED_MODULES = ['identifiers/normalize.ts', 'identifiers/national-number.ts', 'identifiers/company.ts', 'identifiers/declaration.ts', 'identifiers/badge.ts', 'problems.ts', 'errors.ts'];

function stripTypes(path: string): string {
  // In the compiled release (`npm run build`) tsc has already written each module as plain JavaScript beside
  // the others, with `.js` import paths: serve that, and esbuild is never loaded.
  if (!existsSync(path)) return readFileSync(path.replace(/\.ts$/, '.js'), 'utf8');
  const { transformSync } = require('esbuild') as typeof import('esbuild');
  const source = readFileSync(path, 'utf8');
  const js = transformSync(source, { loader: 'ts', format: 'esm', target: 'es2022', sourcefile: path }).code;
  return js.replace(/(from\s+['"][^'"]+)\.ts(['"])/g, '$1.js$2');
}

const IMPORT_MAP = {
  imports: {
    preact: '/console/vendor/preact.mjs',
    'preact/hooks': '/console/vendor/hooks.mjs',
    htm: '/console/vendor/htm.mjs',
  },
};

export function loadConsoleAssets(): { assets: Map<string, Asset>; csp: string } {
  const assets = new Map<string, Asset>();
  const consoleDir = join(here, 'console');
  for (const f of readdirSync(consoleDir)) {
    if (f === 'index.html') continue;
    assets.set(f, { type: typeOf(f), body: readFileSync(join(consoleDir, f), 'utf8') });
  }
  // Each package's own ES module build, found from its main entry (their exports hide package.json).
  const preactDist = dirname(require.resolve('preact'));
  const htmDist = dirname(require.resolve('htm'));
  assets.set('vendor/preact.mjs', { type: typeOf('.mjs'), body: readFileSync(join(preactDist, 'preact.mjs'), 'utf8') });
  assets.set('vendor/hooks.mjs', { type: typeOf('.mjs'), body: readFileSync(join(preactDist, '..', 'hooks', 'dist', 'hooks.mjs'), 'utf8') });
  assets.set('vendor/htm.mjs', { type: typeOf('.mjs'), body: readFileSync(join(htmDist, 'htm.mjs'), 'utf8') });
  for (const m of SHARED_MODULES) assets.set(`shared/${m.replace(/\.ts$/, '.js')}`, { type: typeOf('.js'), body: stripTypes(join(repo, 'shared', m)) });

  // The import map is inline (browsers take no external one): the CSP allows exactly it, by its hash.
  const importMap = JSON.stringify(IMPORT_MAP);
  const hash = createHash('sha256').update(importMap, 'utf8').digest('base64');
  const html = readFileSync(join(consoleDir, 'index.html'), 'utf8').replace('<!--IMPORTMAP-->', `<script type="importmap">${importMap}</script>`);
  assets.set('index.html', { type: typeOf('.html'), body: html });
  const csp = `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'`;
  return { assets, csp };
}
