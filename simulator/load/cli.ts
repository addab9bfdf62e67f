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
  profile?: string;
  workers?: string;
  hourSeconds?: string;
  emulatorDb?: string;
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

export async function loadOptionsFromCommand(opts: LoadCommandOptions): Promise<{ options: RunLoadOptions; note?: string; cleanup?: () => Promise<void> }> {
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
  let cleanup: (() => Promise<void>) | undefined;
  if (opts.gatewayConfig) {
    const factory = await gatewayTerminalFactory(opts.gatewayConfig, { siteId: opts.site });
    cleanup = () => factory.close();
    terminals = { count: terminalCount ?? 10, create: (i) => factory.create(i) };
    url ??= factory.url;
    if (!url) {
      await factory.close();
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
    await cleanup?.();
  }
}

export const PROFILES = ['national-morning'] as const;

/**
 * `ciao sim --load --profile national-morning`: lays the morning's site data into the gateway's database
 * (--gateway-config; companies, sites, declarations, workers with badges, terminals nm-0001...), plays the
 * morning against the gateway's MQTT port, and with --emulator-db waits for ONSS to have every registration.
 */
export async function runProfileCommand(opts: LoadCommandOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<void> {
  const problems: FieldProblem[] = [];
  if (!(PROFILES as readonly string[]).includes(String(opts.profile))) {
    problems.push({ field: '--profile', rule: 'enum', message: `--profile: must be one of ${PROFILES.join(', ')}, got ${JSON.stringify(opts.profile)}` });
  }
  if (!opts.gatewayConfig) problems.push({ field: '--gateway-config', rule: 'required', message: '--gateway-config: required by the national-morning profile (its site data goes into that gateway\'s database)' });
  const workers = numberOption(problems, 'workers', opts.workers, true) ?? 60_000;
  const terminalCount = numberOption(problems, 'terminals', opts.terminals, true) ?? 5000;
  const hourSeconds = numberOption(problems, 'hour-seconds', opts.hourSeconds, false) ?? 120;
  if (problems.length) throw new InvalidInputError(problems);
  const { loadGatewayConfig } = await import('../../gateway/config.ts');
  const { openGatewayStore, storeLocationOf } = await import('../../gateway/store/gateway-store.ts');
  const { seedNationalMorning } = await import('./national-morning-world.ts');
  const { runNationalMorning, tapToOnss } = await import('./national-morning.ts');
  const { clientReferenceFor } = await import('../../gateway/onss/client-reference.ts');
  const config = loadGatewayConfig(opts.gatewayConfig!);
  const host = config.mqtt.host === '0.0.0.0' || config.mqtt.host === '::' ? '127.0.0.1' : config.mqtt.host;
  const url = opts.url ?? (config.mqtt.port !== 0 ? `mqtt://${host}:${config.mqtt.port}` : undefined);
  if (!url) throw new InvalidInputError([{ field: '--url', rule: 'required', message: `--url: required, because ${opts.gatewayConfig} lets the gateway pick its MQTT port` }]);
  // The gateway's store, whichever its config names: its SQLite file or its PostgreSQL database.
  const where = storeLocationOf(config);
  const { redactedPostgresUrl } = await import('../../gateway/store/postgres/postgres-store.ts');
  err.write(`laying down ${workers} workers on ${terminalCount} terminals in ${where.kind === 'sqlite' ? where.file : redactedPostgresUrl(where.url)}\n`);
  const opened = await openGatewayStore(where, { migrate: true, maxConnections: 2, applicationName: 'ciao sim' });
  let world;
  try {
    world = await seedNationalMorning(opened.store, { workers, terminals: terminalCount });
  } finally {
    await opened.close();
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const result = await runNationalMorning({ url, terminals: world.terminals, badgesOf: world.badgesOf, hourSeconds, signal: controller.signal, progress: opts.progress === false ? false : {} });
    const { publishedAt, ...summary } = result;
    const onss = opts.emulatorDb ? await tapToOnss(opts.emulatorDb, publishedAt, { referenceFor: clientReferenceFor }) : undefined;
    const report = { profile: 'national-morning', sites: world.sites, companies: world.companies, ...summary, ...(onss ? { onss } : {}) };
    out.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatMorning(report)}\n`);
    if (result.unacked > 0 || result.rejected > 0 || (onss && (onss.missing > 0 || onss.duplicates > 0))) process.exitCode = 2;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

function formatMorning(r: { workers: number; terminals: number; sites: number; planned: number; sent: number; stored: number; rejected: number; unacked: number; peakAckedPerSecond: number; connectSeconds: number; morningSeconds: number; hourSeconds: number; ackLatencyMs?: { p50Ms: number; p99Ms: number }; onss?: { created: number; duplicates: number; missing: number; latencyMs?: { p50Ms: number; p99Ms: number } } }): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  return [
    `national morning: ${fmt(r.workers)} workers on ${fmt(r.terminals)} terminals (${fmt(r.sites)} sites), one simulated hour in ${r.hourSeconds} s; connected in ${r.connectSeconds} s`,
    `  taps: ${fmt(r.planned)} planned, ${fmt(r.sent)} sent, ${fmt(r.stored)} stored, ${fmt(r.rejected)} rejected, ${fmt(r.unacked)} unacked, over ${r.morningSeconds} s; peak ${fmt(r.peakAckedPerSecond)} taps/s acked`,
    r.ackLatencyMs ? `  ack latency: p50 ${r.ackLatencyMs.p50Ms} ms, p99 ${r.ackLatencyMs.p99Ms} ms` : '  ack latency: no acks',
    r.onss ? `  at ONSS: ${fmt(r.onss.created)} created, ${fmt(r.onss.duplicates)} duplicates, ${fmt(r.onss.missing)} missing; tap to created p50 ${r.onss.latencyMs?.p50Ms ?? '-'} ms, p99 ${r.onss.latencyMs?.p99Ms ?? '-'} ms` : '  at ONSS: not measured (no --emulator-db)',
  ].join('\n');
}
