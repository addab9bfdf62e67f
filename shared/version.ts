import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version of the code that is running: the `version` of the package.json of the release it belongs to
 * (found by walking up from this module: `<release>/dist/shared/version.js` or `<checkout>/shared/version.ts`).
 * Read from the file rather than from npm's environment, which a terminal started by its launcher or by
 * systemd does not have; an update is judged by it.
 */
let cached: string | undefined;

export function productVersion(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
      if (typeof version === 'string') return (cached = version);
    }
    dir = dirname(dir);
  }
  return (cached = '0.0.0');
}
