// Entry of the commit writer thread. In the compiled release writer-thread-main.js sits beside this file;
// from the sources, TypeScript runs through tsx's loader, as in bin/ciao.mjs.
import { existsSync } from 'node:fs';

const compiled = new URL('./writer-thread-main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./writer-thread-main.ts');
}
