import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { loadTerminalConfig, parseTerminalConfig, SECRET_ENV } from '../../terminal/config.ts';
import { demoBadges, loadBadgeList } from './badges.ts';
import { runInteractiveSim, type InteractiveSimResult, type SimReaderKind } from './interactive-sim.ts';

/**
 * The action behind interactive `ciao sim`: a terminal config file (`--config FILE`, as for
 * `ciao terminal`) or flags (`--url`, `--id`, `--secret`), a badge list (`--badges FILE`, default the demo
 * world's badges), and the reader kind (`--reader simulated|vpcd`).
 */
export interface InteractiveSimCommandOptions {
  config?: string;
  url?: string;
  id?: string;
  secret?: string;
  /** JSON file: [{"key": "1", "label": "Ana", "uid": "04A1B2C3D4E5F6"}, ...] */
  badges?: string;
  reader?: string;
  /** Outbox file when no --config is given (default: ciao-sim-<id>.db in the temp directory). */
  outbox?: string;
  /** Every terminal log line goes here (the screen shows only warnings). */
  logFile?: string;
}

const SIM_READERS: readonly SimReaderKind[] = ['simulated', 'vpcd'];

/** Takes commander's option object as it is (other modes' options are ignored). */
export async function interactiveSimCommandAction(raw: InteractiveSimCommandOptions | Record<string, unknown>): Promise<InteractiveSimResult> {
  const problems: FieldProblem[] = [];
  const text = (name: keyof InteractiveSimCommandOptions, flag: string): string | undefined => {
    const v = (raw as Record<string, unknown>)[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') {
      problems.push({ field: name, rule: 'type', message: `${flag}: must be a non-empty text` });
      return undefined;
    }
    return v;
  };
  const opts: InteractiveSimCommandOptions = {
    config: text('config', '--config'),
    url: text('url', '--url'),
    id: text('id', '--id'),
    secret: text('secret', '--secret'),
    badges: text('badges', '--badges'),
    reader: text('reader', '--reader'),
    outbox: text('outbox', '--outbox'),
    logFile: text('logFile', '--log-file'),
  };
  const reader = (opts.reader ?? 'simulated') as SimReaderKind;
  if (!SIM_READERS.includes(reader)) problems.push({ field: 'reader', rule: 'enum', message: `--reader: must be "simulated" or "vpcd", got ${JSON.stringify(opts.reader)}` });
  if (opts.config && (opts.url || opts.id)) problems.push({ field: 'config', rule: 'one-of', message: '--config: give either a config file or --url and --id, not both' });
  if (!opts.config) {
    if (!opts.url) problems.push({ field: 'url', rule: 'required', message: '--url: is required without --config (e.g. mqtt://127.0.0.1:1883)' });
    if (!opts.id) problems.push({ field: 'id', rule: 'required', message: '--id: is required without --config (the terminal id known to the gateway)' });
    if (!opts.secret && !process.env[SECRET_ENV]) problems.push({ field: 'secret', rule: 'required', message: `--secret: is required without --config (or set ${SECRET_ENV})` });
  }
  if (problems.length) throw new InvalidInputError(problems);

  const config = opts.config
    ? loadTerminalConfig(opts.config)
    : parseTerminalConfig({
        id: opts.id,
        secret: opts.secret,
        mqtt: { url: opts.url },
        reader: reader === 'vpcd' ? 'pcsc' : 'simulated',
        panel: 'console',
        outbox: opts.outbox ?? join(tmpdir(), `ciao-sim-${opts.id}.db`),
        // A person is watching: come back quickly after the network key restores the link.
        reconnectMinMs: 200,
        reconnectMaxMs: 3000,
        pcsc: { retrySeconds: 1 },
      });
  const badges = opts.badges ? loadBadgeList(opts.badges) : demoBadges();
  return runInteractiveSim({ config, badges, reader, logFile: opts.logFile });
}
