// Entry of the panel worker thread. In the compiled release worker.js sits beside this file; from the
// sources, the TypeScript loader is registered in this thread first (as bin/ciao.mjs does).
import { existsSync } from 'node:fs';

const compiled = new URL('./worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./worker.ts');
}
