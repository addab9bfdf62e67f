import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../shared/logging.ts';
import { productVersion } from '../shared/version.ts';
import type { TapMessage } from '../shared/mqtt/payloads.ts';
import { gatewayUrls, type TerminalFileConfig } from './config.ts';
import { Outbox } from './core/outbox.ts';
import { TapPipeline } from './core/pipeline.ts';
import { systemClock, type BadgeReader, type Clock, type Panel } from './core/ports.ts';
import { TerminalState } from './core/state.ts';
import { GatewayLink } from './link/gateway-link.ts';
import { readIdentity } from './pairing/identity.ts';
import { CertificateRenewer } from './pairing/renew.ts';
import { readReleasePublicKey } from '../shared/release/manifest.ts';
import { UpdateAgent } from './update/agent.ts';
import { BASE_RELEASE, ReleaseState } from './update/release-state.ts';

/**
 * Wires one terminal: reader and panel adapters, the outbox, the tap pipeline and the gateway link.
 * The simulator, the benchmarks and `ciao terminal` all go through here, so they run the very same core.
 */
const TERMINAL_VERSION = productVersion();

export interface StartOptions {
  reader?: BadgeReader;
  panel?: Panel;
  clock?: Clock;
  logger?: Logger;
  /** Test seam: runs right after a tap is committed, before feedback and publish. */
  afterOutboxWrite?: (tap: TapMessage) => void;
  /**
   * Ends the terminal so that its launcher starts the release just installed (`ciao terminal` stops cleanly
   * and exits). Without it, updates are reported as impossible.
   */
  restart?: (version: string) => void;
  /**
   * Where releases live, which one runs and the installed package: by default what the launcher says
   * (CIAO_RELEASES, CIAO_RELEASE, CIAO_BASE_DIR).
   */
  releases?: { dir?: string; release?: string; baseDir?: string };
}

export interface TerminalHandle {
  readonly config: TerminalFileConfig;
  readonly reader: BadgeReader;
  readonly panel: Panel;
  readonly outbox: Outbox;
  readonly state: TerminalState;
  readonly pipeline: TapPipeline;
  readonly link: GatewayLink;
  /** Renews the terminal certificate before it expires (terminals paired with a certificate). */
  readonly renewer: CertificateRenewer | undefined;
  /** Applies signed updates offered by the gateway (terminals paired with a release key). */
  readonly updates: UpdateAgent | undefined;
  /** Before a restart: takes no more taps and waits (bounded) for the acks of those sent. */
  quiesce(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startTerminal(config: TerminalFileConfig, options: StartOptions = {}): Promise<TerminalHandle> {
  const logger = options.logger ?? createLogger('terminal', { base: { terminal: config.id } });
  const clock = options.clock ?? systemClock;
  // What can only be fixed by an operator fails the start, with the field and the file named: systemd then
  // reports a failed unit instead of a terminal that runs and can never connect.
  const ca = config.mqtt.ca ? readPinnedCa(config.mqtt.ca, 'mqtt.ca') : undefined;
  const gatewayCa = config.gatewayHttps ? readPinnedCa(config.gatewayHttps.ca, 'gatewayHttps.ca') : undefined;
  if (config.identity) readIdentity(config.identity.file);
  const releaseKey = config.updates ? readReleaseKey(config.updates.publicKey) : undefined;
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
    ...(config.identity ? { identity: identityReader(config.identity.file) } : {}),
    urls: gatewayUrls(config.mqtt),
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
    updateReport: () => agent?.report,
  });
  for (const url of gatewayUrls(config.mqtt)) {
    if (url.startsWith('mqtt://') || url.startsWith('tcp://')) logger.warn({ url }, 'the gateway link is not encrypted; use mqtts:// with a pinned CA in production');
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

  // Signed updates: offered in the retained config, applied between taps (terminal/update/agent.ts).
  let lastTapAt = Number.NEGATIVE_INFINITY;
  pipeline.on('tap', () => (lastTapAt = performance.now()));
  const releasesDir = options.releases?.dir ?? process.env.CIAO_RELEASES;
  const agent: UpdateAgent | undefined = config.updates && releaseKey && config.gatewayHttps && gatewayCa
    ? new UpdateAgent({
        running: { version: TERMINAL_VERSION, release: options.releases?.release ?? process.env.CIAO_RELEASE ?? BASE_RELEASE },
        state: releasesDir && options.restart ? new ReleaseState(releasesDir) : undefined,
        baseDir: options.releases?.baseDir ?? process.env.CIAO_BASE_DIR ?? installedPackageDir(),
        publicKey: releaseKey,
        gateway: { url: config.gatewayHttps.url, ca: gatewayCa },
        ...(config.identity ? { identity: identityReader(config.identity.file) } : {}),
        trialSeconds: config.updates.trialSeconds,
        // A worker choosing an employer is still at the door.
        quietSeconds: Math.max(config.updates.quietSeconds, config.choiceTimeoutSeconds + 1),
        logger: logger.child({ component: 'update' }),
        sinceLastTapMs: () => performance.now() - lastTapAt,
        restart: (version) => options.restart?.(version),
        onReport: () => link.publishStatus(),
      })
    : undefined;
  link.on('config', (c) => {
    if (!agent) return;
    // Heard from the gateway on a live connection: this version is online and healthy.
    agent.healthy();
    agent.offer(c.update);
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
  // A certificate is renewed before it expires, over the gateway's HTTPS listener; the link then reconnects with it.
  const renewer = config.identity && config.gatewayHttps && gatewayCa
    ? new CertificateRenewer({
        terminalId: config.id,
        identityFile: config.identity.file,
        renewWhenLeft: config.identity.renewWhenLeft,
        gateway: { url: config.gatewayHttps.url, ca: gatewayCa },
        clock,
        logger,
        onRenewed: () => link.reconnect(),
      })
    : undefined;
  renewer?.start();
  logger.info({ queued: outbox.queued, reader: config.reader, panel: config.panel, login: config.identity ? 'certificate' : 'secret' }, 'terminal started');

  let stopped = false;
  return {
    config,
    reader,
    panel,
    outbox,
    state,
    pipeline,
    link,
    renewer,
    updates: agent,
    async quiesce(timeoutMs = 10_000) {
      // No new taps; what was sent gets its ack, so the next version has nothing to send again.
      pipeline.stop();
      await reader.stop();
      const until = performance.now() + timeoutMs;
      while (link.isConnected && link.inflightCount > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      agent?.stop();
      renewer?.stop();
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

/** A pinned CA (`mqtt.ca`, `gatewayHttps.ca`): readable, and PEM certificates only (a wrong file would fail every connect). */
function readPinnedCa(path: string, field: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new Error(`${field}: cannot read ${path}: ${(err as Error).message}`);
  }
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${field}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`${field}: ${path} holds a certificate that cannot be read: ${(err as Error).message}`);
    }
  }
  return pem;
}

function readReleaseKey(path: string) {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new Error(`updates.publicKey: cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return readReleasePublicKey(pem, 'updates.publicKey');
  } catch (err) {
    throw new Error(`${(err as Error).message} (${path})`);
  }
}

/** The installed package: two folders up from this module, in the sources and in dist/ alike. */
function installedPackageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return basename(dirname(here)) === 'dist' ? dirname(dirname(here)) : dirname(here);
}

/** The identity file, read again at every connection attempt (a renewal replaces it). */
function identityReader(file: string): () => { key: string; cert: string } {
  return () => {
    const id = readIdentity(file);
    return { key: id.keyPem, cert: id.certPem };
  };
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
