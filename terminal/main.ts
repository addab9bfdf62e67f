import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLogger, type Logger } from '../shared/logging.ts';
import type { TapMessage } from '../shared/mqtt/payloads.ts';
import type { TerminalFileConfig } from './config.ts';
import { Outbox } from './core/outbox.ts';
import { TapPipeline } from './core/pipeline.ts';
import { systemClock, type BadgeReader, type Clock, type Panel } from './core/ports.ts';
import { TerminalState } from './core/state.ts';
import { GatewayLink } from './link/gateway-link.ts';

/**
 * Wires one terminal: reader and panel adapters, the outbox, the tap pipeline and the gateway link.
 * The simulator, the benchmarks and `ciao terminal` all go through here, so they run the very same core.
 */
export const TERMINAL_VERSION = process.env.npm_package_version ?? '0.1.0';

export interface StartOptions {
  reader?: BadgeReader;
  panel?: Panel;
  clock?: Clock;
  logger?: Logger;
  /** Test seam: runs right after a tap is committed, before feedback and publish. */
  afterOutboxWrite?: (tap: TapMessage) => void;
}

export interface TerminalHandle {
  readonly config: TerminalFileConfig & { secret: string };
  readonly reader: BadgeReader;
  readonly panel: Panel;
  readonly outbox: Outbox;
  readonly state: TerminalState;
  readonly pipeline: TapPipeline;
  readonly link: GatewayLink;
  stop(): Promise<void>;
}

export async function startTerminal(config: TerminalFileConfig & { secret: string }, options: StartOptions = {}): Promise<TerminalHandle> {
  const logger = options.logger ?? createLogger('terminal', { base: { terminal: config.id } });
  const clock = options.clock ?? systemClock;
  // What can only be fixed by an operator fails the start, with the field and the file named: systemd then
  // reports a failed unit instead of a terminal that runs and can never connect.
  const ca = config.mqtt.ca ? readPinnedCa(config.mqtt.ca) : undefined;
  const outbox = openOutbox(config.outbox);
  let reader: BadgeReader;
  let panel: Panel;
  try {
    reader = options.reader ?? (await createReader(config, logger));
    panel = options.panel ?? (await createPanel(config, logger));
  } catch (err) {
    outbox.close();
    throw err;
  }

  const state = new TerminalState({ ...config.defaults, choiceTimeoutSeconds: config.choiceTimeoutSeconds, feedbackSeconds: config.feedbackSeconds });
  const link = new GatewayLink({
    terminalId: config.id,
    secret: config.secret,
    url: config.mqtt.url,
    ca,
    outbox,
    state,
    clock,
    logger,
    version: TERMINAL_VERSION,
    window: config.replayWindow,
    statusIntervalMs: config.statusIntervalSeconds * 1000,
    ackTimeoutMs: config.ackTimeoutSeconds * 1000,
    reconnectMinMs: config.reconnectMinMs,
    reconnectMaxMs: config.reconnectMaxMs,
    keepaliveSeconds: config.mqtt.keepaliveSeconds,
  });
  if (config.mqtt.url.startsWith('mqtt://') || config.mqtt.url.startsWith('tcp://')) {
    logger.warn({ url: config.mqtt.url }, 'the gateway link is not encrypted; use mqtts:// with a pinned CA in production');
  }
  const pipeline = new TapPipeline({
    outbox,
    panel,
    state,
    clock,
    logger,
    onTapReady: () => link.kick(),
    clockCorrectionThresholdMs: config.clockCorrectionThresholdMs,
    afterOutboxWrite: options.afterOutboxWrite,
  });

  link.on('ack', (ack) => {
    if (ack.display) pipeline.showGatewayText(ack.id, ack.display);
  });
  // FAQ 31: a terminal that cannot register says so in its status at once (the gateway journals it) and in its log.
  let cannotRegister = state.cannotRegister.join(',');
  state.on('changed', () => {
    const now = state.cannotRegister.join(',');
    if (now === cannotRegister) return;
    cannotRegister = now;
    if (now) logger.warn({ cannotRegister: state.cannotRegister }, 'this terminal cannot register taps; its panel sends workers to the CIaO QR code');
    else logger.info('this terminal can register taps');
    link.publishStatus();
  });
  reader.on('badge', ({ uid, sun }) => {
    try {
      pipeline.handleBadge(uid, { sun });
    } catch (err) {
      logger.error({ err }, 'a tap failed');
    }
  });
  reader.on('misread', ({ readerName, reason }) => {
    logger.warn({ reader: readerName, reason }, 'badge not read in full; the worker is asked to tap again');
    pipeline.handleMisread();
  });
  reader.on('attached', (name) => {
    logger.info({ reader: name }, 'reader attached');
    state.setReaderAttached(true);
  });
  reader.on('detached', (name) => {
    logger.warn({ reader: name }, 'reader detached');
    state.setReaderAttached(false);
  });
  reader.on('error', (err) => logger.warn({ err: err.message }, 'reader error'));
  panel.on('error', (err) => logger.warn({ err: err.message }, 'panel error'));
  panel.on('disconnected', (reason) => logger.warn({ reason }, 'panel disconnected; taps go on without it'));
  panel.on('connected', () => logger.info('panel connected'));

  // Nothing here may wait on hardware or the network: adapters connect in the background.
  await panel.start();
  pipeline.start();
  await reader.start();
  link.start();
  logger.info({ queued: outbox.queued, reader: config.reader, panel: config.panel }, 'terminal started');

  let stopped = false;
  return {
    config,
    reader,
    panel,
    outbox,
    state,
    pipeline,
    link,
    async stop() {
      if (stopped) return;
      stopped = true;
      pipeline.stop();
      await Promise.allSettled([reader.stop(), panel.stop()]);
      await link.stop();
      outbox.close();
    },
  };
}

function openOutbox(path: string): Outbox {
  try {
    return new Outbox(path);
  } catch (err) {
    throw new Error(`outbox: cannot open ${path}: ${(err as Error).message}`);
  }
}

/** The gateway's CA from `mqtt.ca`: readable, and PEM certificates only (a wrong file would fail every connect). */
function readPinnedCa(path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new Error(`mqtt.ca: cannot read ${path}: ${(err as Error).message}`);
  }
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`mqtt.ca: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`mqtt.ca: ${path} holds a certificate that cannot be read: ${(err as Error).message}`);
    }
  }
  return pem;
}

async function createReader(config: TerminalFileConfig, logger: Logger): Promise<BadgeReader> {
  if (config.reader === 'simulated') {
    const { SimulatedReader } = await import('./adapters/simulated-reader.ts');
    return new SimulatedReader();
  }
  const { PcscReader } = await import('./adapters/pcsc-reader.ts');
  return new PcscReader(config.pcsc, logger.child({ adapter: 'pcsc' }));
}

async function createPanel(config: TerminalFileConfig, logger: Logger): Promise<Panel> {
  if (config.panel === 'console') {
    const { SimulatedPanel } = await import('./adapters/simulated-panel.ts');
    return new SimulatedPanel({ console: true });
  }
  const { JohnnyFivePanel } = await import('./adapters/johnny-five-panel.ts');
  return new JohnnyFivePanel(config.board!, logger.child({ adapter: 'johnny-five' }));
}
