// Entry of the commit writer thread: TypeScript sources run through tsx's loader, as in bin/ciao.mjs.
import { register } from 'tsx/esm/api';

register();
await import('./writer-thread-main.ts');
