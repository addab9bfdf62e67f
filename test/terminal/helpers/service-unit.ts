import { readFileSync } from 'node:fs';

/**
 * How a systemd unit of deploy/ starts its process, read from the unit file itself so that a test runs the
 * command exactly as the unit does: ExecStart's arguments, Environment= assignments (split and unquoted as
 * systemd does), the working directory. stdin is systemd's default, /dev/null.
 */
export interface ServiceCommand {
  /** What ExecStart starts: node, or the terminal's launcher script (which starts node itself). */
  command: string;
  /** ExecStart's arguments after the command. */
  args: string[];
  env: Record<string, string>;
  workingDirectory: string | undefined;
}

/** systemd's word splitting for Environment= and ExecStart=: whitespace separates, double quotes group. */
function splitUnitWords(value: string): string[] {
  const words: string[] = [];
  for (const m of value.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return words;
}

export function readServiceCommand(unitPath: string, replace: Record<string, string>): ServiceCommand {
  const text = readFileSync(unitPath, 'utf8');
  const substitute = (s: string) => Object.entries(replace).reduce((acc, [from, to]) => acc.split(from).join(to), s);
  const env: Record<string, string> = {};
  let exec: string[] | undefined;
  let workingDirectory: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'Environment') {
      for (const word of splitUnitWords(value)) {
        const i = word.indexOf('=');
        // systemd ignores (with a warning) a word that is not an assignment. Paths are replaced as in ExecStart.
        if (i > 0) env[word.slice(0, i)] = substitute(word.slice(i + 1));
      }
    } else if (key === 'ExecStart') exec = splitUnitWords(value).map(substitute);
    else if (key === 'WorkingDirectory') workingDirectory = substitute(value);
  }
  if (!exec || !/\/node$|ciao-terminal-launcher$/.test(exec[0]!)) throw new Error(`${unitPath}: ExecStart starts neither node nor the terminal launcher`);
  return { command: exec[0]!, args: exec.slice(1), env, workingDirectory };
}
