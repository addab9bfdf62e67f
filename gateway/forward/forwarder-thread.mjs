// Entry of the forwarder thread. In the compiled release it runs the thread's bundle (dist/bundle/, see
// scripts/build.mjs), or forwarder-thread-main.js beside this file; from the sources, TypeScript runs through
// tsx's loader, as in bin/ciao.mjs.
import { existsSync } from 'node:fs';

const bundled = new URL('../../bundle/forwarder-thread-main.js', import.meta.url);
const compiled = existsSync(bundled) ? bundled : new URL('./forwarder-thread-main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./forwarder-thread-main.ts');
}
