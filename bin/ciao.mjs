#!/usr/bin/env node
// The `ciao` command. A release runs the compiled JavaScript in dist/ (`npm run build`): its bundle
// (dist/bundle/cli.js, a few files to load instead of some hundreds) when it is there, else the compiled modules;
// a checkout without a build runs the TypeScript sources through tsx's loader, so development needs no build step.
// CIAO_FROM_SOURCE=1 runs the sources even when dist/ exists (the tests do, so a stale build never answers
// for the code under test); `ciao bench` always runs from the sources, which it measures and builds itself.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bundle/cli.js', import.meta.url);
const compiled = existsSync(bundled) ? bundled : new URL('../dist/bin/cli.js', import.meta.url);
const fromSource = process.env.CIAO_FROM_SOURCE === '1' || process.argv[2] === 'bench';
if (!fromSource && existsSync(compiled)) {
  const { main } = await import(compiled.href);
  await main(process.argv);
} else {
  const sources = new URL('./cli.ts', import.meta.url);
  if (!existsSync(sources)) {
    process.stderr.write(`ciao: ${process.argv[2] === 'bench' ? '`ciao bench` runs from a source checkout' : 'no compiled release (dist/) and no sources next to this launcher'}\n`);
    process.exit(1);
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(sources.href);
  await main(process.argv);
}
