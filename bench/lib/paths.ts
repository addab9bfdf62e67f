import { resolve } from 'node:path';

/** The repository's root: benchmarks start `ciao` and their helper processes from here. */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
