import { appendFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { VirtualClock } from '../../shared/clock.ts';
import { createLogger, type Logger } from '../../shared/logging.ts';
import { localParts } from '../../shared/time.ts';
import { gatewayUrls, type TerminalFileConfig } from '../../terminal/config.ts';
import { SimulatedPanel } from '../../terminal/adapters/simulated-panel.ts';
import { SimulatedReader } from '../../terminal/adapters/simulated-reader.ts';
import type { BadgeReader, PanelButton } from '../../terminal/core/ports.ts';
import { startTerminal, type TerminalHandle } from '../../terminal/main.ts';
import { startTcpProxy, type TcpProxy } from '../netproxy/tcp-proxy.ts';
import { demoBadges, type BadgeKey } from './badges.ts';
import { renderDevice, LOG_LINES, type DeviceView } from './render.ts';
import { VpcdBadgePresenter, type VpcdPresenterOptions } from './vpcd-presenter.ts';

/**
 * `ciao sim` (interactive): the terminal in a terminal window. It runs the very same core as the wall
 * device (startTerminal) with the simulated reader and panel, or with the real PC/SC adapter fed by a
 * virtual vpcd card, and draws the LCD, LEDs and status after every change. Keys press the panel buttons,
 * present badges, cut or stall the network between the terminal and the gateway, and move the clock.
 */
export type SimReaderKind = 'simulated' | 'vpcd';

/** What the network keys act on: a TcpProxy between the terminal and the gateway fits. */
export interface NetworkControl {
  readonly state: 'up' | 'cut' | 'stalled';
  cut(): void;
  restore(): void;
  stall?(): void;
}

type InputStream = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
type OutputStream = NodeJS.WritableStream & { isTTY?: boolean; on(event: 'resize', listener: () => void): unknown; off(event: 'resize', listener: () => void): unknown };

export interface InteractiveSimOptions {
  config: TerminalFileConfig;
  /** Badges offered on keys; default: the demo world's six workers (1..6) and an unknown badge (0). */
  badges?: BadgeKey[];
  reader?: SimReaderKind;
  input?: InputStream;
  output?: OutputStream;
  /**
   * The link to the gateway, to cut and restore (the config's MQTT URL must then lead through it). Without one, a TcpProxy is started in front of the MQTT
   * URL so the network key always works (except for a TLS URL naming a remote host: its certificate is for
   * that name, so the proxy cannot stand in for it).
   */
  network?: NetworkControl;
  /** The terminal's clock; the clock keys jump it. Default: a VirtualClock at the real time. */
  clock?: VirtualClock;
  /** How far one clock key moves the clock (default 5 minutes). */
  clockStepMs?: number;
  /** ANSI colours (default: when the output is a TTY and NO_COLOR is unset). */
  color?: boolean;
  /** The terminal's logger; by default warnings go to the log pane and everything to `logFile` when given. */
  logger?: Logger;
  logFile?: string;
  vpcd?: VpcdPresenterOptions;
  title?: string;
  /** Stop cleanly on SIGINT, SIGTERM and SIGHUP too (default true). */
  handleSignals?: boolean;
}

export interface InteractiveSimResult {
  /** Taps still in the outbox at quit (they go out on the next start). */
  queued: number;
}

const BUTTON_KEYS: Record<string, PanelButton> = { i: 'IN', o: 'OUT', b: 'BREAK' };
const CTRL_C = '\x03';
const CTRL_D = '\x04';
const CTRL_L = '\x0c';

export async function runInteractiveSim(options: InteractiveSimOptions): Promise<InteractiveSimResult> {
  const input: InputStream = options.input ?? process.stdin;
  const output: OutputStream = options.output ?? process.stdout;
  const tty = output.isTTY === true;
  const color = options.color ?? (tty && !process.env.NO_COLOR);
  const badges = options.badges ?? demoBadges();
  const readerKind = options.reader ?? 'simulated';
  const clock = options.clock ?? new VirtualClock(new Date());
  const clockStepMs = options.clockStepMs ?? 5 * 60_000;
  const log: string[] = [];
  // Declared before anything can log: the terminal logs while it starts, and each line asks for a redraw.
  let lastFrame = '';
  let drawTimer: NodeJS.Timeout | null = null;
  let stopping = false;
  let started = false;
  const stamp = () => hms(clock.now());
  const note = (line: string) => {
    log.push(`${stamp()}  ${line}`);
    if (log.length > LOG_LINES * 4) log.splice(0, log.length - LOG_LINES);
    schedule();
  };

  const logger = options.logger ?? paneLogger(options.config.id, note, options.logFile);

  // The network between this terminal and the gateway.
  let network: NetworkControl | null = options.network ?? null;
  let ownProxy: TcpProxy | null = null;
  let config = options.config;
  // A terminal given one gateway address gets a proxy of its own in front of it (network keys); one given a
  // list (a cluster) reaches its gateways directly.
  if (!network && typeof config.mqtt.url === 'string') {
    const proxied = await proxyInFront(config.mqtt.url);
    if (proxied) {
      ownProxy = proxied.proxy;
      network = proxied.proxy;
      config = { ...config, mqtt: { ...config.mqtt, url: proxied.url } };
    }
  }

  const panel = new SimulatedPanel();
  let reader: BadgeReader;
  let presenter: VpcdBadgePresenter | null = null;
  if (readerKind === 'vpcd') {
    const { PcscReader } = await import('../../terminal/adapters/pcsc-reader.ts');
    reader = new PcscReader(config.pcsc, logger.child({ adapter: 'pcsc' }));
    presenter = new VpcdBadgePresenter(options.vpcd);
    config = { ...config, reader: 'pcsc' };
  } else {
    reader = new SimulatedReader();
    config = { ...config, reader: 'simulated' };
  }

  let terminal: TerminalHandle;
  try {
    terminal = await startTerminal({ ...config, panel: 'console' }, { reader, panel, clock, logger });
  } catch (err) {
    await ownProxy?.close();
    throw err;
  }

  let lastBeep: string | null = null;
  const seqById = new Map<string, number>();
  const nameOf = (uid: string) => terminal.state.lookup(uid)?.name ?? badges.find((b) => b.uid === uid)?.label ?? uid;

  panel.on('output', (change) => {
    if (change.kind === 'beep') lastBeep = change.pattern;
    schedule();
  });
  terminal.state.on('changed', () => schedule());
  terminal.pipeline.on('tap', ({ tap, known, choosing }) => {
    seqById.set(tap.id, tap.seq);
    const what = tap.reason === 'break' ? `${tap.direction} (break)` : tap.direction;
    note(`tap #${tap.seq} ${known ? nameOf(tap.badge) : `unknown badge ${tap.badge}`} ${what} at ${tap.at.slice(11, 16)}${choosing ? ', choosing employer' : ''} -> outbox`);
  });
  terminal.pipeline.on('debounced', (uid) => note(`${nameOf(uid)} again: already recorded (debounce)`));
  terminal.pipeline.on('employerChosen', (tap, chosen) => note(`tap #${tap.seq} ${chosen ? `employer ${tap.employer ?? ''}` : 'without an employer'}`));
  terminal.link.on('connected', () => note('connected to the gateway'));
  // A lost connection is already told by the terminal's own warning.
  terminal.link.on('ack', (ack) => {
    const seq = seqById.get(ack.id);
    seqById.delete(ack.id);
    const which = seq !== undefined ? `#${seq}` : ack.id.slice(0, 8);
    note(ack.status === 'stored' ? `ack ${which} stored` : `ack ${which} rejected: ${ack.reason ?? ''}`);
  });
  reader.on('attached', (name) => note(`reader attached: ${name}`));
  reader.on('detached', (name) => note(`reader detached: ${name}`));

  // --- drawing ---------------------------------------------------------------------------------------

  const worldKeys: DeviceView['worldKeys'] = [
    { key: 'n', label: network ? 'network cut/restore' : 'network (not proxied)' },
    ...(network?.stall ? [{ key: 's', label: 'stall' }] : []),
    { key: '+', label: `clock +${clockStepMs / 60_000} min` },
    { key: '-', label: `-${clockStepMs / 60_000} min` },
    ...(reader instanceof SimulatedReader ? [{ key: 'r', label: 'reader' }] : []),
  ];
  const title = options.title ?? `ciao-badge terminal ${config.id} · ${readerKind === 'vpcd' ? 'PC/SC reader (vpcd virtual card)' : 'simulated reader'}`;

  function view(): DeviceView {
    const now = clock.now();
    return {
      title,
      lcd: panel.lines,
      led: panel.led,
      lastBeep,
      badges: badges.map((b) => ({ key: b.key, label: b.label })),
      worldKeys,
      status: {
        link: terminal.link.isConnected ? 'online' : terminal.link.stats.connects === 0 ? 'connecting' : 'offline',
        // Which gateway it is on, for a terminal given several.
        ...(Array.isArray(config.mqtt.url) && config.mqtt.url.length > 1 && terminal.link.gateway ? { gateway: terminal.link.gateway } : {}),
        network: network ? network.state : 'not proxied',
        queued: terminal.outbox.queued,
        inFlight: terminal.link.inflightCount,
        skewMs: terminal.state.clockSkewMs,
        clockOff: terminal.state.clockWrong,
        clock: hms(now),
        clockOffsetMs: now.getTime() - Date.now(),
        reader: terminal.state.readerAttached ? 'attached' : 'missing',
        cannotRegister: terminal.state.cannotRegister,
      },
      log,
    };
  }

  function draw(force = false): void {
    drawTimer = null;
    if (stopping) return;
    const frame = renderDevice(view(), { color });
    if (!force && frame === lastFrame) return;
    lastFrame = frame;
    if (tty) output.write(`\x1b[H${frame.split('\n').join('\x1b[K\n')}\x1b[K\x1b[J`);
    else output.write(`${frame}\n\n`);
  }

  function schedule(): void {
    // Coalesce bursts (a tap changes the LCD, LED and beep at once) and let acks reach the outbox first.
    if (drawTimer || stopping || !started) return;
    drawTimer = setTimeout(() => draw(), 15);
  }

  // The status line also shows the clock's seconds and counts that change without an event.
  const ticker = setInterval(() => draw(), 250);
  const onResize = () => draw(true);

  // --- keys ------------------------------------------------------------------------------------------
  let quit!: () => void;
  const quitting = new Promise<void>((resolve) => (quit = resolve));

  function present(badge: BadgeKey): void {
    if (presenter) {
      note(`${badge.label} (${badge.uid}) on the vpcd reader`);
      presenter.present(badge.uid).catch((err: Error) => note(`vpcd: ${err.message}`));
      return;
    }
    try {
      (reader as SimulatedReader).present(badge.uid);
    } catch (err) {
      note((err as Error).message);
    }
  }

  /** The idle screen shows the time: have it redrawn now rather than at its next periodic refresh. */
  function clockMoved(): void {
    terminal.state.emit('changed');
  }

  function onKey(key: string): void {
    if (key === 'q' || key === 'Q' || key === CTRL_C || key === CTRL_D) {
      quit();
      return;
    }
    const button = BUTTON_KEYS[key.toLowerCase()];
    if (button) {
      panel.press(button);
      return;
    }
    const badge = badges.find((b) => b.key === key);
    if (badge) {
      present(badge);
      return;
    }
    switch (key) {
      case 'n':
      case 'N':
        if (!network) note('the network key needs a proxy in front of the gateway (not possible for a remote TLS host)');
        else if (network.state === 'up') {
          network.cut();
          note('network CUT: taps stay in the outbox');
        } else {
          network.restore();
          note('network restored');
        }
        break;
      case 's':
      case 'S':
        if (network?.stall && network.state === 'up') {
          network.stall();
          note('network STALLED: connection open, nothing moves');
        } else if (network?.stall) {
          network.restore();
          note('network restored');
        }
        break;
      case '+':
      case '=':
        clock.jump(clockStepMs);
        note(`clock jumped +${clockStepMs / 60_000} min`);
        clockMoved();
        break;
      case '-':
      case '_':
        clock.jump(-clockStepMs);
        note(`clock jumped -${clockStepMs / 60_000} min`);
        clockMoved();
        break;
      case 'r':
      case 'R':
        if (reader instanceof SimulatedReader) {
          if (reader.attached) reader.detach();
          else reader.attach();
        }
        break;
      case CTRL_L:
        draw(true);
        break;
      default:
        break;
    }
  }

  const onData = (chunk: Buffer | string) => {
    // A paste or a fast typist delivers several keys in one chunk; escape sequences (arrows) are ignored.
    const text = String(chunk).replace(/\x1b\[[0-9;?]*[A-Za-z~]|\x1bO./g, '');
    for (const key of text) {
      try {
        onKey(key);
      } catch (err) {
        note(`key ${JSON.stringify(key)} failed: ${(err as Error).message}`);
      }
    }
  };

  const onSignal = () => quit();
  const signals: NodeJS.Signals[] = options.handleSignals === false ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  const rawBefore = input.isTTY && typeof input.setRawMode === 'function' ? (input as { isRaw?: boolean }).isRaw ?? false : null;
  if (rawBefore !== null) input.setRawMode!(true);
  // Should the process die before the clean stop, the user's terminal still gets its cursor and screen back.
  const restoreScreen = () => {
    if (tty) output.write('\x1b[?25h\x1b[?1049l');
  };
  process.once('exit', restoreScreen);
  input.on('data', onData);
  input.on('end', onSignal);
  input.resume();
  if (tty) output.write('\x1b[?1049h\x1b[?25l\x1b[2J');
  output.on('resize', onResize);
  note(`terminal ${config.id} started; gateway ${gatewayUrls(options.config.mqtt).join(', ')}${ownProxy ? ` through a local proxy on port ${ownProxy.port}` : ''}`);
  started = true;
  draw(true);

  await quitting;

  // --- clean stop ------------------------------------------------------------------------------------
  stopping = true;
  clearInterval(ticker);
  if (drawTimer) clearTimeout(drawTimer);
  for (const s of signals) process.off(s, onSignal);
  input.off('data', onData);
  input.off('end', onSignal);
  output.off('resize', onResize);
  if (rawBefore !== null) input.setRawMode!(rawBefore);
  input.pause();
  process.off('exit', restoreScreen);
  restoreScreen();
  await presenter?.close();
  await terminal.stop();
  // Read after the stop, which applies the acks that had already arrived (the count outlives the file).
  const queued = terminal.outbox.queued;
  await ownProxy?.close();
  output.write(`ciao sim: terminal ${config.id} stopped; ${queued} tap(s) still queued in ${config.outbox}\n`);
  return { queued };
}

function hms(date: Date): string {
  const p = localParts(date);
  return [p.hour, p.minute, p.second].map((n) => String(n).padStart(2, '0')).join(':');
}

/** Puts a TcpProxy in front of the gateway's MQTT URL; null when a proxy cannot stand in for the host. */
async function proxyInFront(url: string): Promise<{ proxy: TcpProxy; url: string } | null> {
  const u = new URL(url);
  const scheme = u.protocol.replace(/:$/, '');
  const tls = scheme === 'mqtts' || scheme === 'tls' || scheme === 'wss';
  const defaultPort = { mqtt: 1883, tcp: 1883, mqtts: 8883, tls: 8883, ws: 80, wss: 443 }[scheme] ?? 1883;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  // A TLS certificate names its host: the proxy (on loopback) can only stand in for a loopback name.
  if (tls && !loopback) return null;
  const listenHost = host === 'localhost' ? 'localhost' : isIP(host) === 6 && loopback ? '::1' : '127.0.0.1';
  const proxy = await startTcpProxy({ host, port: u.port ? Number(u.port) : defaultPort }, { host: listenHost });
  const proxiedUrl = new URL(url);
  if (!tls) proxiedUrl.hostname = listenHost === '::1' ? '[::1]' : listenHost;
  proxiedUrl.port = String(proxy.port);
  return { proxy, url: proxiedUrl.toString().replace(/\/$/, '') };
}

/**
 * The terminal's own log, kept off the screen it would scribble over: warnings and errors go to the
 * log pane, every line to `logFile` when one is given.
 */
function paneLogger(terminalId: string, note: (line: string) => void, logFile?: string): Logger {
  const destination = {
    write(line: string) {
      if (logFile) {
        try {
          appendFileSync(logFile, line);
        } catch {
          // A log file that cannot be written must not stop the simulator.
        }
      }
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: unknown };
        if ((entry.level ?? 0) >= 40) {
          const err = typeof entry.err === 'string' ? entry.err : (entry.err as { message?: string } | undefined)?.message;
          note(`${entry.level! >= 50 ? 'error' : 'warn'}: ${entry.msg ?? ''}${err ? ` (${err})` : ''}`);
        }
      } catch {
        // Not JSON: nothing to show.
      }
    },
  };
  return createLogger('terminal', { level: 'info', base: { terminal: terminalId } }, destination);
}
