import { randomBytes } from 'node:crypto';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { readCredentialsFile, type TerminalCredentials, type TerminalSource } from './credentials.ts';
import { gatewayTerminalFactory } from './gateway-terminals.ts';
import { formatLoadResult } from './report.ts';
import { runLoad, type RunLoadOptions, type LoadResult } from './run-load.ts';

/** `ciao sim --load` options as commander hands them over (strings). */
export interface LoadCommandOptions {
  terminals?: string;
  rate?: string;
  duration?: string;
  count?: string;
  window?: string;
  url?: string;
  credentials?: string;
  gatewayConfig?: string;
  site?: string;
  invalidEvery?: string;
  json?: boolean;
  progress?: boolean;
}

function numberOption(problems: FieldProblem[], name: string, text: string | undefined, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    problems.push({ field: `--${name}`, rule: 'min', message: `--${name}: must be a ${integer ? 'whole ' : ''}number above 0, got ${JSON.stringify(text)}` });
    return undefined;
  }
  return n;
}

/** Terminal ids for a broker without authentication (plain Aedes, Mosquitto): `load-001`, `load-002`, ... */
export function generatedTerminals(count: number): TerminalCredentials[] {
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => ({ id: `load-${String(i + 1).padStart(width, '0')}`, secret: randomBytes(12).toString('hex') }));
}

export async function loadOptionsFromCommand(opts: LoadCommandOptions): Promise<{ options: RunLoadOptions; note?: string; cleanup?: () => void }> {
  const problems: FieldProblem[] = [];
  const terminalCount = numberOption(problems, 'terminals', opts.terminals, true);
  const rate = numberOption(problems, 'rate', opts.rate, false);
  const duration = numberOption(problems, 'duration', opts.duration, false);
  const count = numberOption(problems, 'count', opts.count, true);
  const window = numberOption(problems, 'window', opts.window, true);
  const invalidEvery = numberOption(problems, 'invalid-every', opts.invalidEvery, true);
  if (problems.length) throw new InvalidInputError(problems);

  if (opts.credentials && opts.gatewayConfig) {
    throw new InvalidInputError([{ field: '--credentials', rule: 'exclusive', message: '--credentials and --gateway-config: choose one way to get terminals' }]);
  }
  if (opts.site && !opts.gatewayConfig) {
    throw new InvalidInputError([{ field: '--site', rule: 'requires', message: '--site: only applies with --gateway-config' }]);
  }
  let terminals: TerminalSource;
  let note: string | undefined;
  let url = opts.url;
  let cleanup: (() => void) | undefined;
  if (opts.gatewayConfig) {
    const factory = await gatewayTerminalFactory(opts.gatewayConfig, { siteId: opts.site });
    cleanup = () => factory.close();
    terminals = { count: terminalCount ?? 10, create: (i) => factory.create(i) };
    url ??= factory.url;
    if (!url) {
      factory.close();
      throw new InvalidInputError([{ field: '--url', rule: 'required', message: `--url: required, because ${opts.gatewayConfig} lets the gateway pick its MQTT port` }]);
    }
  } else if (opts.credentials) {
    const all = readCredentialsFile(opts.credentials);
    const wanted = terminalCount ?? all.length;
    if (wanted > all.length) {
      throw new InvalidInputError([{ field: '--terminals', rule: 'max', message: `--terminals: ${wanted} asked for, but ${opts.credentials} lists only ${all.length}` }]);
    }
    terminals = all.slice(0, wanted);
  } else {
    terminals = generatedTerminals(terminalCount ?? 10);
    note = 'no --credentials or --gateway-config given: terminals get generated ids and secrets, which only a broker without authentication accepts';
  }
  return {
    cleanup,
    options: {
      url: url ?? 'mqtt://127.0.0.1:1883',
      terminals,
      rate,
      count,
      // A run needs an end: ten seconds when neither a count nor a duration is given.
      duration: duration ?? (count === undefined ? 10 : undefined),
      window,
      invalidEvery,
      progress: opts.progress === false ? false : {},
    },
    note,
  };
}

export async function runLoadCommand(opts: LoadCommandOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<LoadResult> {
  const { options, note, cleanup } = await loadOptionsFromCommand(opts);
  if (note) err.write(`note: ${note}\n`);
  const controller = new AbortController();
  const onSignal = () => {
    err.write('\nstopping: waiting for the outstanding acks (Ctrl-C again to quit at once)\n');
    process.off('SIGINT', onSignal);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  try {
    const result = await runLoad({ ...options, signal: controller.signal });
    out.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatLoadResult(result)}\n`);
    if (result.sent === 0 || result.unacked > 0 || result.wrongAnswers > 0) process.exitCode = 2;
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    cleanup?.();
  }
}
