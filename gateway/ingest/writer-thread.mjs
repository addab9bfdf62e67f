// Entry of the commit writer thread. In the compiled release it runs the thread's bundle (dist/bundle/, see
// scripts/build.mjs), or writer-thread-main.js beside this file; from the sources, TypeScript runs through
// tsx's loader, as in bin/ciao.mjs.
import { existsSync } from 'node:fs';

const bundled = new URL('../../bundle/writer-thread-main.js', import.meta.url);
const compiled = existsSync(bundled) ? bundled : new URL('./writer-thread-main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./writer-thread-main.ts');
}
