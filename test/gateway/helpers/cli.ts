import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../../..');

export interface CliResult {
  /** The exit code; -1 when the process did not exit by itself within the timeout and was killed. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/ciao.mjs ...args` as a real child process. */
export function ciao(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((done) => {
    execFile(process.execPath, [resolve(REPO, 'bin/ciao.mjs'), ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
      const code = !e ? 0 : e.killed ? -1 : typeof e.code === 'number' ? e.code : 1;
      done({ code, stdout, stderr });
    });
  });
}
